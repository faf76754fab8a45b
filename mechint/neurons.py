"""Neuron-level MLP analysis: value vectors, the neurons aligned with a direction, the tokens they
promote, their activations per language, and what editing them does.

The "dual multilinguality" analysis of cross-lingual detoxification (arXiv 2406.16235, after Geva et
al. 2022) reads an MLP as a memory: neuron ``i`` of layer ``l`` has an activation ``a_i`` (its *key*
side: the input of the down projection, site ``blocks.{l}.mlp.hook_post``, i.e. ``act(gate) * up`` in
gated MLPs) and a *value vector* ``v_i`` (the down projection's weights for that neuron), and the down
projection outputs ``sum_i a_i v_i`` (+ its bias). So switching neuron ``i`` on from zero to ``a_i``
changes the down projection's output by exactly ``a_i * v_i``.

Where that output goes differs by family:

- Llama, Qwen2, GPT-2, BLOOM: the down projection's output *is* ``blocks.{l}.hook_mlp_out``, the term
  added to the residual stream, so ``a_i * v_i`` is neuron ``i``'s contribution to the residual stream.
- Gemma 3: ``hook_mlp_out`` is the output of ``post_feedforward_layernorm``, an RMSNorm applied to the
  down projection's output ``o`` before it is added: the residual stream gets
  ``(1 + w_post) * o / rms(o)``. The value vector is still what the down projection adds (before
  that norm), but a neuron's contribution to the residual stream is not ``a_i * v_i``; to first order
  (ignoring the ``1 / rms(o)`` scale and the norm's projection term) it points along
  ``(1 + w_post) * v_i``. ``through_post_norm=True`` (:func:`neuron_cosines`) and
  ``through_norms=True`` (:func:`vocab_projection`) use that elementwise gain.

Functions here take a :class:`~mechint.model.Model` and tensors and return tensors or small records;
no plotting, no files. Weight layouts (``nn.Linear`` stores ``[d_model, d_mlp]``, GPT-2's ``Conv1D``
``[d_mlp, d_model]``) are handled by :func:`value_vectors`.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple, SupportsIndex, Union, cast, overload

import torch
from jaxtyping import Float
from torch import Tensor, nn

from . import _validate
from .activations import token_batches
from .hooks import input_rows
from .interventions import EditNeurons, Intervention, hook_pairs, intervene
from .model import Model, int_list
from .stats import Reservoir, RunningMoments

__all__ = [
    "EditEffect",
    "Neuron",
    "NeuronActivationStats",
    "NeuronStats",
    "TokenScore",
    "ValueVectors",
    "VocabProjection",
    "compare_generations",
    "direction_scores",
    "edit_effect",
    "neuron_activation_stats",
    "neuron_cosines",
    "neuron_edits",
    "promoted_tokens",
    "readable_token",
    "token_script",
    "top_neurons",
    "value_vectors",
    "vocab_projection",
]

# ---------------------------------------------------------------------------------------------
# Neurons and value vectors
# ---------------------------------------------------------------------------------------------


class Neuron(NamedTuple):
    """One MLP neuron: ``layer``, ``index`` (in ``0..d_mlp-1``) and, from :func:`top_neurons`, the
    ``cosine`` of its value vector with the direction it was ranked by (NaN otherwise).
    A plain ``(layer, index)`` tuple is accepted wherever a neuron is."""

    layer: int
    index: int
    cosine: float = float("nan")

    @property
    def label(self) -> str:
        """``"L15 N1226"``."""
        return f"L{self.layer} N{self.index}"

    def __str__(self) -> str:
        return self.label


NeuronLike = Union[Neuron, tuple[SupportsIndex, SupportsIndex]]
"""A neuron as the functions take it: a :class:`Neuron`, or ``(layer, index)`` of any integer type."""


def _neuron_pair(item) -> tuple[int, int]:
    """``(layer, index)`` of a :class:`Neuron` or a pair, each one integer (numpy and 0-d tensor
    integers accepted; floats such as 2.7 refused, as :func:`~mechint.model.int_list` does)."""
    try:
        layer, index = item[0], item[1]
    except (TypeError, IndexError, KeyError):
        raise TypeError(f"a neuron is a Neuron or a (layer, index) pair, got {item!r}") from None
    out = []
    for value, what in ((layer, "layer"), (index, "neuron")):
        items = int_list(value, what)
        if len(items) != 1:
            raise TypeError(f"neuron {item!r}: its {what} must be one integer, got {value!r}")
        out.append(items[0])
    return out[0], out[1]


def _is_int(value) -> bool:
    """An integer of any type :func:`~mechint.model.int_list` takes (int, numpy, 0-d tensor)."""
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def _as_neurons(model: Model, neurons) -> list[Neuron]:
    """``Neuron`` records from neurons / ``(layer, index)`` pairs, checked against the model."""
    if isinstance(neurons, Neuron) or (isinstance(neurons, tuple) and len(neurons) in (2, 3) and _is_int(neurons[0])):
        neurons = [neurons]  # one neuron: (layer, index), its layer any integer type int_list takes
    out = []
    for item in neurons:
        layer, index = _neuron_pair(item)
        if not -model.n_layers <= layer < model.n_layers:
            raise ValueError(f"neuron {tuple(item)[:2]}: layer {layer} out of range 0..{model.n_layers - 1}")
        if not -model.d_mlp <= index < model.d_mlp:
            raise ValueError(f"neuron {tuple(item)[:2]}: index {index} out of range 0..{model.d_mlp - 1}")
        cos = float(item[2]) if len(item) > 2 else float("nan")
        out.append(Neuron(layer % model.n_layers, index % model.d_mlp, cos))
    if not out:
        raise ValueError("no neurons given")
    return out


def _down_proj(model: Model, layer: int) -> nn.Module:
    layers = cast(nn.ModuleList, model.hf.get_submodule(model.family.layers))
    return layers[layer].get_submodule(model.family.mlp_out_proj)


def _value_view(model: Model, layer: int) -> Tensor:
    """``[d_mlp, d_model]`` view of layer ``layer``'s down-projection weight (no copy)."""
    proj = _down_proj(model, layer)
    w = cast(Tensor, proj.weight).detach()
    if isinstance(proj, nn.Linear):  # weight [out=d_model, in=d_mlp]: a column per neuron
        return w.T
    if type(proj).__name__ == "Conv1D":  # GPT-2: weight [in=d_mlp, out=d_model]: a row per neuron
        return w
    raise TypeError(
        f"cannot read value vectors from {type(proj).__name__} at {model.family.mlp_out_proj}: "
        "expected nn.Linear or a GPT-2 Conv1D"
    )


class ValueVectors(Sequence):
    """The value vectors of every MLP layer of a model.

    ``vv[l]`` is a ``[d_mlp, d_model]`` *view* of layer ``l``'s down-projection weight (no copy;
    detached from autograd; it follows later weight changes, and writing into it writes the
    weight). ``vv[l, i]`` is neuron ``i``'s ``[d_model]`` view. Each layer's weight is its own
    tensor, so a ``[layer, d_mlp, d_model]`` tensor cannot be a view: :meth:`stacked` makes that one
    copy on first use and keeps it until a down-projection weight changes (in place or replaced).
    """

    def __init__(self, model: Model):
        if not isinstance(model, Model):
            raise TypeError(
                f"value_vectors takes a mechint Model (wrap a Hugging Face model with "
                f"mechint.load_model(module, tokenizer=...)), got {type(model).__name__}"
            )
        self.model = model
        self._stacked: Tensor | None = None
        self._key: tuple | None = None

    def __len__(self) -> int:
        return self.model.n_layers

    @overload
    def __getitem__(self, key: slice) -> list[Tensor]: ...
    @overload
    def __getitem__(self, key: SupportsIndex | tuple) -> Tensor: ...
    def __getitem__(self, key):
        if isinstance(key, tuple):
            layer, index = key
            return _value_view(self.model, _layer(self.model, layer))[index]
        if isinstance(key, slice):
            return [self[l] for l in range(self.model.n_layers)[key]]
        return _value_view(self.model, _layer(self.model, key))

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.model.n_layers, self.model.d_mlp, self.model.d_model)

    def _version(self) -> tuple:
        out = []
        for l in range(self.model.n_layers):
            w = cast(Tensor, _down_proj(self.model, l).weight)
            out.append((id(w), w._version, w.data_ptr()))
        return tuple(out)

    def stacked(self) -> Float[Tensor, "layer d_mlp d_model"]:
        """All value vectors as one ``[layer, d_mlp, d_model]`` tensor: a copy (the layers' weights
        are separate tensors), made lazily and reused until a weight changes."""
        key = self._version()
        if self._stacked is None or key != self._key:
            self._stacked = torch.stack([self[l] for l in range(self.model.n_layers)])
            self._key = key
        return self._stacked

    def __repr__(self) -> str:
        return f"ValueVectors({self.model.name!r}, shape={self.shape}, per-layer views; stacked() copies)"


def value_vectors(model: Model) -> ValueVectors:
    """The value vectors of ``model``: ``value_vectors(model)[l]`` is a ``[d_mlp, d_model]`` view of
    layer ``l``'s down projection (row ``i`` = what neuron ``i`` adds to the down projection's
    output per unit of activation), whatever the weight layout; ``.stacked()`` gives
    ``[layer, d_mlp, d_model]`` as a lazily made copy. See :class:`ValueVectors`."""
    return ValueVectors(model)


def _layer(model: Model, layer: int) -> int:
    (index,) = model.layer_list(layer)
    return index


def _norm_gain(model: Model, module: nn.Module) -> tuple[Tensor | None, bool]:
    """``(elementwise gain or None, centres)`` of a norm module: RMSNorm scales by its weight (Gemma:
    ``1 + weight``); LayerNorm centres, then scales by its weight (its bias does not depend on the
    input, so it plays no part in a direction)."""
    weight = getattr(module, "weight", None)
    gain = None
    if isinstance(weight, Tensor):
        gain = weight.detach().float() + model.family.norm_gain_offset
    return gain, isinstance(module, nn.LayerNorm)


def _post_norm_gain(model: Model, layer: int) -> Tensor | None:
    """The elementwise gain of ``layer``'s post-MLP norm (:attr:`Family.mlp_post_norm`), or None
    where the family adds the MLP's output to the residual stream without one."""
    path = model.family.mlp_post_norm
    if path is None:
        return None
    module = cast(nn.ModuleList, model.hf.get_submodule(model.family.layers))[layer].get_submodule(path)
    return _norm_gain(model, module)[0]


def _as_directions(model: Model, direction: Tensor, layers: list[int]) -> Tensor:
    """``[len(layers), d_model]`` float32: one direction for every layer, or row ``l`` of a per-layer one."""
    d = torch.as_tensor(direction).detach().float()
    if d.shape[-1] != model.d_model:
        raise ValueError(f"the direction has width {d.shape[-1]}, the model's d_model is {model.d_model}")
    if d.ndim == 1:
        out = d.expand(len(layers), -1)
    elif d.ndim == 2 and d.shape[0] == model.n_layers:
        out = d[layers]
    else:
        raise ValueError(
            f"direction must be [d_model] or one per layer [n_layers={model.n_layers}, d_model], got {tuple(d.shape)}"
        )
    _validate.finite("the direction", out)
    zero = (out.norm(dim=-1) == 0).nonzero().reshape(-1)
    if zero.numel():
        raise ValueError(
            f"the direction is zero at layer(s) {[layers[i] for i in zero.tolist()]}: cosines are undefined"
        )
    return out


@torch.no_grad()
def neuron_cosines(
    model: Model,
    direction: Float[Tensor, " d_model"] | Float[Tensor, "layer d_model"],
    *,
    layers: SupportsIndex | Iterable[SupportsIndex] | None = None,
    through_post_norm: bool = False,
    scale: Float[Tensor, " d_model"] | None = None,
) -> Float[Tensor, "layer d_mlp"]:
    """Cosine similarity of every neuron's value vector with ``direction``, per layer.

    Args:
        direction: ``[d_model]`` (the same direction for every layer, as the paper's final-layer probe)
            or ``[n_layers, d_model]`` (row ``l`` for the neurons of layer ``l``, e.g. per-layer
            differences of means at ``hook_resid_post``).
        layers: which layers (rows of the result, in this order); default all.
        through_post_norm: ``False`` (default, as the paper): the raw value vectors (down-projection
            columns). ``True``: for families with a norm after the MLP (Gemma 3), multiply them by that
            norm's elementwise gain first, the direction a neuron's write takes in the residual stream
            to first order; other families are unchanged.
        scale: ``[d_model]`` per-feature scale (e.g. :func:`mechint.within_group_std` of the residual
            where the direction was measured): value vectors and direction are both divided by it
            first, so each feature counts in units of its own noise. A residual's few features of
            huge magnitude (massive activations) then no longer decide the ranking.

    Returns:
        ``[len(layers), d_mlp]`` float32 on the CPU.
    """
    chosen = model.layer_list(layers)
    dirs = _as_directions(model, direction, chosen)
    if scale is not None:
        scale = torch.as_tensor(scale, dtype=torch.float32).reshape(-1)
        if scale.numel() != model.d_model or not bool((scale > 0).all()):
            raise ValueError(
                f"scale must hold {model.d_model} positive values (one per residual feature), "
                f"got {scale.numel()}{'' if scale.numel() != model.d_model else ' with some <= 0'}"
            )
    vv = value_vectors(model)
    out = torch.empty(len(chosen), model.d_mlp)
    for row, l in enumerate(chosen):
        v = vv[l].float()
        if through_post_norm:
            gain = _post_norm_gain(model, l)
            if gain is not None:
                v = v * gain.to(v.device)
        d = dirs[row].to(v.device)
        if scale is not None:
            v, d = v / scale.to(v.device), d / scale.to(v.device)
        cos = (v @ d) / (v.norm(dim=-1) * d.norm()).clamp(min=1e-12)
        out[row] = cos.cpu()
    return out


def top_neurons(
    model: Model,
    direction: Float[Tensor, " d_model"] | Float[Tensor, "layer d_model"],
    k: int = 20,
    *,
    per_layer: bool = False,
    layers: SupportsIndex | Iterable[SupportsIndex] | None = None,
    sign: str = "positive",
    through_post_norm: bool = False,
    scale: Float[Tensor, " d_model"] | None = None,
) -> list[Neuron]:
    """The ``k`` neurons whose value vectors are most aligned with ``direction`` (by cosine).

    Args:
        k: how many over all chosen layers, or per layer with ``per_layer=True``.
        per_layer: ``k`` per layer (layer by layer, best first within each) instead of ``k`` overall.
        layers: restrict to these layers (default all).
        sign: ``"positive"`` (largest cosine: writing the direction when active), ``"negative"``
            (most negative: writing against it), or ``"abs"``.
        through_post_norm, scale: see :func:`neuron_cosines`.

    Returns:
        :class:`Neuron` records ``(layer, index, cosine)``, best first (signed cosine kept).
    """
    if sign not in ("positive", "negative", "abs"):
        raise ValueError(f"sign must be 'positive', 'negative' or 'abs', got {sign!r}")
    _validate.integer("k", k, minimum=1)
    chosen = model.layer_list(layers)
    cos = neuron_cosines(model, direction, layers=chosen, through_post_norm=through_post_norm, scale=scale)
    key = {"positive": cos, "negative": -cos, "abs": cos.abs()}[sign]
    if per_layer:
        out = []
        for row, l in enumerate(chosen):
            top = key[row].topk(min(k, model.d_mlp)).indices.tolist()
            out += [Neuron(l, i, float(cos[row, i])) for i in top]
        return out
    top = key.flatten().topk(min(k, key.numel())).indices.tolist()
    return [Neuron(chosen[j // model.d_mlp], j % model.d_mlp, float(cos.flatten()[j])) for j in top]


# ---------------------------------------------------------------------------------------------
# Tokens through the unembedding
# ---------------------------------------------------------------------------------------------


class TokenScore(NamedTuple):
    """A vocabulary entry: its id, a readable rendering (:func:`readable_token`), its score."""

    id: int
    text: str
    score: float


@dataclass
class VocabProjection:
    """The tokens a vector promotes (largest logit change) and suppresses (most negative)."""

    promoted: list[TokenScore]
    suppressed: list[TokenScore]

    def texts(self, which: str = "promoted") -> list[str]:
        return [t.text for t in getattr(self, which)]


@torch.no_grad()
def vocab_projection(
    model: Model,
    vector: Float[Tensor, "... d_model"],
    *,
    layer: int | None = None,
    through_norms: bool = False,
) -> Float[Tensor, "... vocab"]:
    """Logit change per token that ``vector`` makes through the unembedding: ``vector @ W_U``.

    Args:
        vector: ``[..., d_model]`` (e.g. value vectors, a direction).
        layer: with ``through_norms``, the layer whose post-MLP norm the vector passes (Gemma 3).
        through_norms: ``False`` (default, as Geva et al. and arXiv 2406.16235): the raw product.
            ``True``: first map the vector the way the norms between it and the unembedding do, to
            first order: the post-MLP norm's gain of ``layer`` where the family has one (Gemma 3), then
            the final norm's (LayerNorm also centres). The data-dependent positive scale ``1/rms`` is
            left out (it changes no ranking). On Gemma 3, whose final-norm gains span 6..280 over the
            residual dimensions, only this version ranks tokens as the logits would see them.

    Returns:
        ``[..., vocab]`` float32 on the LM head's device (the model's, unless a device map puts
        the head elsewhere).
    """
    W = model.W_U.detach()
    v = torch.as_tensor(vector).detach().to(W.device).float()  # where the LM head is (under a device map too)
    if v.shape[-1] != model.d_model:
        raise ValueError(f"vector has width {v.shape[-1]}, the model's d_model is {model.d_model}")
    if through_norms:
        if layer is not None:
            gain = _post_norm_gain(model, _layer(model, layer))
            if gain is not None:
                v = v * gain.to(v.device)
        final = model.site("ln_final.hook_normalized").module
        gain, centre = _norm_gain(model, final)
        if centre:
            v = v - v.mean(-1, keepdim=True)
        if gain is not None:
            v = v * gain.to(v.device)
    if W.dtype == torch.float32:
        return v @ W
    return (v.to(W.dtype) @ W).float()  # no float32 copy of a large half-precision unembedding


def promoted_tokens(
    model: Model,
    vector: Float[Tensor, " d_model"] | Neuron | tuple[int, int],
    k: int = 10,
    *,
    layer: int | None = None,
    through_norms: bool = False,
) -> VocabProjection:
    """The ``k`` tokens ``vector`` promotes most and the ``k`` it suppresses most through the
    unembedding (:func:`vocab_projection`), decoded readably (:func:`readable_token`).

    ``vector`` may be a neuron (``Neuron`` or ``(layer, index)``): its value vector, at its layer.
    """
    if isinstance(vector, Neuron) or (isinstance(vector, tuple) and not isinstance(vector, Tensor)):
        (neuron,) = _as_neurons(model, [vector])
        layer = neuron.layer
        vector = value_vectors(model)[neuron.layer, neuron.index]
    else:
        vector = _validate.numbers("vector", vector)
        _validate.finite("the vector given to promoted_tokens", vector)
    logits = vocab_projection(model, vector, layer=layer, through_norms=through_norms)
    if logits.ndim != 1:
        raise ValueError("promoted_tokens takes one vector [d_model]; use vocab_projection for batches")
    _validate.integer("k", k, minimum=1)
    k = min(k, logits.numel())
    tok = model.tokenizer

    def entries(values: Tensor, ids: Tensor) -> list[TokenScore]:
        return [
            TokenScore(int(i), readable_token(tok, int(i)), float(s)) for s, i in zip(values.tolist(), ids.tolist())
        ]

    top = logits.topk(k)
    bottom = (-logits).topk(k)
    return VocabProjection(entries(top.values, top.indices), entries(-bottom.values, bottom.indices))


_BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")
_BYTE_DECODER: dict[str, int] | None = None


def _byte_level_decoder() -> dict[str, int]:
    """GPT-2's byte-level BPE alphabet: the printable character standing for each byte."""
    global _BYTE_DECODER
    if _BYTE_DECODER is None:
        bs = (
            list(range(ord("!"), ord("~") + 1))
            + list(range(ord("¡"), ord("¬") + 1))
            + list(range(ord("®"), ord("ÿ") + 1))
        )
        cs = bs[:]
        n = 0
        for b in range(256):
            if b not in bs:
                bs.append(b)
                cs.append(256 + n)
                n += 1
        _BYTE_DECODER = {chr(c): b for b, c in zip(bs, cs)}
    return _BYTE_DECODER


def _token_bytes(tokenizer, token_id: int) -> bytes | None:
    """The raw bytes of a token that does not decode to whole characters: a SentencePiece byte-fallback
    piece (``<0xE4>``) or a byte-level BPE piece holding part of a UTF-8 sequence. ``None`` otherwise."""
    piece = tokenizer.convert_ids_to_tokens(int(token_id))
    if not isinstance(piece, str):
        return None
    m = _BYTE_PIECE.match(piece)
    if m:
        return bytes([int(m.group(1), 16)])
    table = _byte_level_decoder()
    if piece and all(ch in table for ch in piece):
        return bytes(table[ch] for ch in piece)
    return None


def _escape(text: str) -> str:
    """Make control and invisible characters visible; keep every script as it is."""
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif cat == "Cc":
            out.append(f"\\x{ord(ch):02x}")
        elif cat in ("Cf", "Co", "Cn", "Zl", "Zp") or (cat == "Zs" and ch != " "):
            out.append(f"<U+{ord(ch):04X}>")  # zero-width joiners, soft hyphens, direction marks, NBSP...
        elif ch == "\ufffd":
            out.append("<U+FFFD>")  # the replacement character itself, as a whole token
        else:
            out.append(ch)
    s = "".join(out)
    if s and not s.strip(" "):
        s = "␣" * len(s)  # a token of spaces only
    return s


def readable_token(tokenizer, token_id: int) -> str:
    """A token as readable text in any script.

    Whole characters are kept as they are (Chinese, Thai, Arabic...; a leading space stays a space).
    Control and invisible characters are escaped (``\\n``, ``<U+200C>`` for a zero-width non-joiner);
    a token of spaces only is shown as ``␣`` per space. A token that holds only part of a UTF-8
    sequence (Gemma's byte-fallback pieces such as ``<0xE4>``, which ``decode`` turns into ``"�"``; or
    a partial byte-level BPE piece) is shown as its bytes, e.g. ``\\xe4`` (with the whole characters
    it does hold kept).
    """
    token_id = _validate.integer("token_id", token_id, minimum=0)
    size = len(tokenizer) if hasattr(tokenizer, "__len__") else None
    if size is not None and token_id >= size:
        raise ValueError(f"token_id {token_id} is out of range: the tokenizer has ids 0..{size - 1}")
    text = tokenizer.decode([token_id])
    if "\ufffd" in text:
        raw = _token_bytes(tokenizer, token_id)
        if raw is not None:
            return _escape(raw.decode("utf-8", errors="backslashreplace"))
    return _escape(text)


_SCRIPT_ALIASES = {"CJK": "Han", "HIRAGANA": "Japanese", "KATAKANA": "Japanese", "HANGUL": "Hangul"}


def token_script(text: str) -> str:
    """The script of a token's first letter, from its Unicode name: ``"Latin"``, ``"Han"``,
    ``"Thai"``, ``"Arabic"``, ``"Cyrillic"``, ``"Hangul"``, ``"Japanese"``, ``"Devanagari"``...;
    ``"bytes"`` for raw bytes (``\\xe4``), ``"other"`` when it has no letter (punctuation, digits)."""
    if text.startswith("\\x"):
        return "bytes"
    for ch in text:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            if not name:
                return "other"
            words = name.split()
            if words[0] == "MATHEMATICAL":  # styled Latin / Greek letters
                return "Greek" if "GREEK" in words else "Latin"
            if words[0] in ("HALFWIDTH", "FULLWIDTH") and len(words) > 1:
                words = words[1:]
            first = words[0]
            return _SCRIPT_ALIASES.get(first, first.capitalize())
    return "other"


# ---------------------------------------------------------------------------------------------
# Activation statistics, streamed
# ---------------------------------------------------------------------------------------------


@dataclass
class NeuronStats:
    """Activation statistics of some neurons over a stream of tokens, without the activations.

    ``count`` tokens were seen; ``mean``, ``std``, ``min``, ``max``, ``frac_positive`` are ``[k]``
    (exact, streamed in float64); quantiles come from a uniform reservoir sample of at most
    ``capacity`` tokens per stream (exact while ``count <= capacity``; otherwise a sample quantile
    whose rank error is about ``1 / sqrt(capacity)``).
    """

    neurons: list[Neuron]
    count: int = 0
    capacity: int = 4096
    seed: int = 0
    _moments: RunningMoments = field(default_factory=RunningMoments, repr=False)
    # [k] float64 each, made with the reservoir on the first tokens (empty until then)
    _min: Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.float64), repr=False)
    _max: Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.float64), repr=False)
    _positive: Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.float64), repr=False)
    _abs_sum: Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.float64), repr=False)
    _sample: Reservoir | None = field(default=None, repr=False)

    def update(self, values: Float[Tensor, "tokens k"]) -> "NeuronStats":
        """Add the activations of some tokens (rows) of the ``k`` neurons (columns)."""
        x = values.detach().to("cpu", torch.float64)
        if x.ndim != 2 or x.shape[1] != len(self.neurons):
            raise ValueError(f"expected [tokens, {len(self.neurons)}] activations, got {tuple(x.shape)}")
        if x.shape[0] == 0:
            return self
        if self._sample is None:
            k = len(self.neurons)
            self._sample = Reservoir(self.capacity, k, self.seed)
            self._min = torch.full((k,), float("inf"), dtype=torch.float64)
            self._max = torch.full((k,), float("-inf"), dtype=torch.float64)
            self._positive = torch.zeros(k, dtype=torch.float64)
            self._abs_sum = torch.zeros(k, dtype=torch.float64)
        self._moments.update(x)
        self._min = torch.minimum(self._min, x.min(0).values)
        self._max = torch.maximum(self._max, x.max(0).values)
        self._positive += (x > 0).sum(0)
        self._abs_sum += x.abs().sum(0)
        self._sample.update(x)
        self.count += x.shape[0]
        return self

    def _need(self) -> Reservoir:
        """The reservoir sample; raises before any token was seen."""
        if self.count == 0 or self._sample is None:  # the sample exists from the first token on
            raise ValueError("no tokens seen (empty stream)")
        return self._sample

    @property
    def mean(self) -> Tensor:
        self._need()
        return self._moments.mean.float()

    @property
    def std(self) -> Tensor:
        self._need()
        return self._moments.std.float()

    @property
    def mean_abs(self) -> Tensor:
        """Mean absolute activation ``[k]``."""
        self._need()
        return (self._abs_sum / self.count).float()

    @property
    def min(self) -> Tensor:
        self._need()
        return self._min.float()

    @property
    def max(self) -> Tensor:
        self._need()
        return self._max.float()

    @property
    def frac_positive(self) -> Tensor:
        """Fraction of tokens with a positive activation ``[k]``."""
        self._need()
        return (self._positive / self.count).float()

    @property
    def exact_quantiles(self) -> bool:
        """Whether every token is in the sample (quantiles exact)."""
        return self.count <= self.capacity

    def quantile(self, q: float | Sequence[float]) -> Tensor:
        """``[k]`` for one ``q``, ``[len(q), k]`` for several (from the reservoir sample)."""
        sample = self._need()
        qs = torch.as_tensor(q, dtype=torch.float64)
        return torch.quantile(sample.rows, qs, dim=0).float()

    def abs_quantile(self, q: float | Sequence[float]) -> Tensor:
        """Quantiles of ``|activation|`` (from the reservoir sample): ``[k]`` or ``[len(q), k]``."""
        sample = self._need()
        qs = torch.as_tensor(q, dtype=torch.float64)
        return torch.quantile(sample.rows.abs(), qs, dim=0).float()

    def summary(self, quantiles: Sequence[float] = (0.1, 0.5, 0.9, 0.99)) -> list[dict]:
        """One dict per neuron (JSON-ready)."""
        self._need()
        qv = self.quantile(list(quantiles))
        rows = []
        for j, n in enumerate(self.neurons):
            rows.append(
                {
                    "neuron": n.label,
                    "layer": n.layer,
                    "index": n.index,
                    "count": self.count,
                    "mean": float(self.mean[j]),
                    "std": float(self.std[j]),
                    "mean_abs": float(self.mean_abs[j]),
                    "min": float(self.min[j]),
                    "max": float(self.max[j]),
                    "frac_positive": float(self.frac_positive[j]),
                    **{f"q{q:g}": float(qv[i, j]) for i, q in enumerate(quantiles)},
                    "median_abs": float(self.abs_quantile(0.5)[j]),
                }
            )
        return rows


@dataclass
class NeuronActivationStats:
    """What :func:`neuron_activation_stats` returns: per group (e.g. language), the statistics over
    the prompt tokens (``prompt``) and over the greedily generated tokens (``generated``, empty
    without generation)."""

    neurons: list[Neuron]
    prompt: dict[str, NeuronStats]
    generated: dict[str, NeuronStats]
    max_new_tokens: int = 0


def _eos_ids(model: Model) -> Tensor:
    ids = set()
    for source in (getattr(model.hf, "generation_config", None), model.hf.config, model.tokenizer):
        value = getattr(source, "eos_token_id", None)
        if value is None:
            continue
        ids.update([int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)])
    return torch.tensor(sorted(ids), dtype=torch.long)


def _by_layer(neurons: list[Neuron]) -> dict[int, tuple[list[int], Tensor]]:
    """``{layer: (positions in the neuron list, neuron indices)}``."""
    out: dict[int, tuple[list[int], list[int]]] = {}
    for j, n in enumerate(neurons):
        cols, idx = out.setdefault(n.layer, ([], []))
        cols.append(j)
        idx.append(n.index)
    return {l: (cols, torch.tensor(idx)) for l, (cols, idx) in out.items()}


@torch.no_grad()
def neuron_activation_stats(
    model: Model,
    texts: _validate.TextsLike,
    neurons: NeuronLike | Sequence[NeuronLike],
    *,
    groups: Sequence[str] | None = None,
    max_new_tokens: int = 0,
    batch_size: int = 16,
    capacity: int = 4096,
    seed: int = 0,
    interventions: Sequence[Intervention] = (),
    progress: bool | str = True,
) -> NeuronActivationStats:
    """Activation statistics of chosen neurons (at ``blocks.{l}.mlp.hook_post``) over texts, streamed.

    Only the chosen neurons' values of one batch are ever held; per group they feed
    :class:`NeuronStats` (exact mean / std / min / max / fraction positive; quantiles from a
    reservoir sample of ``capacity`` tokens).

    Args:
        texts: prompts (strings or a data set with ``.texts``).
        neurons: :class:`Neuron` records or ``(layer, index)`` pairs.
        groups: one label per text (e.g. its language, or ``"en/harmful"``); statistics are kept per
            group. ``None``: one group ``"all"``.
        max_new_tokens: ``0``: a forward over the prompts only (stopped after the last layer needed).
            ``> 0``: greedy generation of that many tokens (KV cache on); ``generated`` then holds the
            activations of the generation steps, i.e. at each position whose next token is generated:
            the last prompt token, then each generated token fed back, up to the row's EOS. Either
            way ``prompt`` covers every real prompt token except special tokens (BOS, padding).
        batch_size: texts per forward / per ``generate`` call.
        capacity, seed: reservoir size and seed for the quantiles.
        interventions: applied around every forward (e.g. :func:`neuron_edits`); the statistics then
            read the edited activations.
    """
    chosen = _as_neurons(model, neurons)
    texts = _validate.texts(texts)
    keys = list(groups) if groups is not None else ["all"] * len(texts)
    if len(keys) != len(texts):
        raise ValueError(f"{len(keys)} group labels for {len(texts)} texts")
    _validate.integer("max_new_tokens", max_new_tokens, minimum=0)
    _validate.integer("batch_size", batch_size, minimum=1)
    _validate.integer("capacity", capacity, minimum=1)
    order = list(dict.fromkeys(keys))

    def fresh() -> dict[str, NeuronStats]:
        return {g: NeuronStats(chosen, capacity=capacity, seed=seed + i) for i, g in enumerate(order)}

    prompt, generated = fresh(), (fresh() if max_new_tokens else {})
    layers = _by_layer(chosen)
    sites = {l: model.site(f"blocks.{l}.mlp.hook_post") for l in layers}
    k = len(chosen)
    state: dict = {}

    def reader(layer: int):
        cols, idx = layers[layer]

        def fn(x: Tensor, ctx) -> None:
            vals = x[..., idx.to(x.device)].float()  # [batch, pos, k_l]
            if layer not in state["seen"]:  # the first call of a batch: the whole prompt
                state["seen"].add(layer)
                buf = state["prompt"]
                buf[..., cols] = vals.to(buf.device)
            if max_new_tokens:
                # the newest position predicts the next generated token (with the KV cache a step
                # sees one new column; without it, the whole sequence again)
                state["steps"].setdefault(layer, []).append(vals[:, -1:].cpu())

        return fn

    hooks = [(sites[l], reader(l)) for l in layers]
    last_site = max(sites.values(), key=lambda s: s.order)
    eos = _eos_ids(model)
    pairs = hook_pairs(model, *interventions) + hooks
    with torch.inference_mode():
        for idx, enc, content in token_batches(model, texts, batch_size, progress=progress, desc="neuron stats"):
            state["prompt"] = torch.zeros(*enc["input_ids"].shape, k, device=model.device)
            state["steps"], state["seen"] = {}, set()
            if max_new_tokens:
                with model.hooks(pairs), input_rows(idx, len(texts)):
                    # the token tensor (a ModelOutput only with return_dict_in_generate, not passed)
                    out = cast(Tensor, model.generate(enc, max_new_tokens=max_new_tokens, return_tokens=True))
            else:
                with model.hooks(pairs, stop_after=last_site), input_rows(idx, len(texts)):
                    model.forward(enc, logits=False)
            mask = content.to(state["prompt"].device)
            for r, i in enumerate(idx):
                prompt[keys[i]].update(state["prompt"][r][mask[r]])
            if max_new_tokens:
                n_steps = min(len(v) for v in state["steps"].values())
                steps = torch.zeros(len(idx), n_steps, k)
                for l, (cols, _) in layers.items():
                    steps[..., cols] = torch.cat(state["steps"][l][:n_steps], dim=1)
                new = out[:, enc["input_ids"].shape[1] :].cpu()[:, :n_steps]
                ended = torch.isin(new, eos).long().cumsum(1)
                valid = torch.ones(len(idx), n_steps, dtype=torch.bool)
                valid[:, 1:] = ended[:, :-1] == 0  # the step after an EOS feeds a finished row
                for r, i in enumerate(idx):
                    generated[keys[i]].update(steps[r][valid[r]])
    return NeuronActivationStats(chosen, prompt, generated, max_new_tokens)


# ---------------------------------------------------------------------------------------------
# Editing neurons
# ---------------------------------------------------------------------------------------------


def neuron_edits(
    neurons: NeuronLike | Sequence[NeuronLike],
    *,
    mode: str = "set",
    value: float | Sequence[float] | Tensor = 0.0,
    positions=None,
    rows=None,
) -> list[EditNeurons]:
    """:class:`~mechint.interventions.EditNeurons` interventions for neurons spread over layers (one
    per layer): ``mode`` ``"set"`` / ``"add"`` / ``"scale"`` with one ``value`` for all, or one value per
    neuron ``[len(neurons)]`` in the order given. ``positions``, ``rows`` as in
    :class:`~mechint.interventions.EditNeurons` (by default every token but the BOS token, where the
    tokenizer adds one; ``"all"`` includes it). Use them with :func:`~mechint.interventions.intervene`."""
    items = [_neuron_pair(n) for n in neurons]
    if not items:
        raise ValueError("no neurons given")
    v = torch.as_tensor(value, dtype=torch.float64).detach()
    if v.ndim > 1 or (v.ndim == 1 and v.numel() != len(items)):
        raise ValueError(f"value must be a number or one per neuron [{len(items)}], got shape {tuple(v.shape)}")
    by_layer: dict[int, list[int]] = {}
    for j, (layer, _) in enumerate(items):
        by_layer.setdefault(layer, []).append(j)
    out = []
    for layer, js in by_layer.items():
        val = v if v.ndim == 0 else v[js]
        out.append(EditNeurons(layer, [items[j][1] for j in js], mode=mode, value=val, positions=positions, rows=rows))
    for edit in out:  # a layer written two ways (2 and -1) is only known to be the same with a model
        edit._siblings = out
    return out


@torch.no_grad()
def direction_scores(
    model: Model,
    texts: _validate.TextsLike,
    direction: Float[Tensor, " d_model"],
    *,
    layer: int = -1,
    interventions: Sequence[Intervention] = (),
    pool: str = "last",
    batch_size: int = 16,
    progress: bool | str = False,
) -> Float[Tensor, " n"]:
    """Projection of each text's pooled ``blocks.{layer}.hook_resid_post`` on the unit ``direction``
    (the direction's score), under ``interventions`` (none: the plain model). ``[n]`` float32, CPU."""
    from .activations import Pool, collect

    d = torch.as_tensor(direction).detach().float().cpu()
    if d.ndim != 1 or d.shape[0] != model.d_model:
        raise ValueError(f"direction must be [d_model={model.d_model}], got {tuple(d.shape)}")
    site = f"blocks.{_layer(model, layer)}.hook_resid_post"
    with intervene(model, *interventions):
        acts = collect(
            model, texts, site, pool=cast(Pool, pool), batch_size=batch_size, progress=progress
        )  # collect checks it
    return acts[site].float() @ (d / d.norm().clamp(min=1e-12))


@dataclass
class EditEffect:
    """Direction scores of texts before and after an edit, with their groups (e.g. languages)."""

    before: Tensor
    after: Tensor
    groups: list[str]

    @property
    def delta(self) -> Tensor:
        return self.after - self.before

    def shift(self) -> dict[str, float]:
        """Mean score change per group (in the order groups first appear)."""
        out = {}
        for g in dict.fromkeys(self.groups):
            rows = torch.tensor([i for i, x in enumerate(self.groups) if x == g])
            out[g] = float(self.delta[rows].mean())
        return out


def edit_effect(
    model: Model,
    texts: _validate.TextsLike,
    direction: Float[Tensor, " d_model"],
    neurons: NeuronLike | Sequence[NeuronLike] | None = None,
    *,
    mode: str = "set",
    value: float | Sequence[float] | Tensor = 0.0,
    layer: int = -1,
    groups: Sequence[str] | None = None,
    interventions: Sequence[Intervention] = (),
    before: Tensor | None = None,
    positions=None,
    batch_size: int = 16,
    progress: bool | str = False,
) -> EditEffect:
    """The effect of editing ``neurons`` (``mode``/``value`` as in :func:`neuron_edits`, at
    ``positions``: by default every token but each text's BOS token, where the tokenizer adds one;
    ``"all"`` includes it) on the direction's score at ``blocks.{layer}.hook_resid_post`` (last
    token), per group.

    Pass ``interventions`` instead of (or besides) ``neurons`` for any other edit; ``before`` reuses
    scores of the plain model already at hand (e.g. from stored activations). The default leaves the
    BOS token alone (an attention sink every later token reads: editing it moves every score) as
    ``positions=mechint.from_text_start(slice(1, None))`` does: counted from each text's first token,
    so it holds in the left-padded batches of any ``batch_size``.
    """
    texts = _validate.texts(texts)
    keys = list(groups) if groups is not None else ["all"] * len(texts)
    if len(keys) != len(texts):
        raise ValueError(f"{len(keys)} group labels for {len(texts)} texts")
    edits = list(interventions) + (
        neuron_edits(neurons, mode=mode, value=value, positions=positions) if neurons is not None else []
    )
    if not edits:
        raise ValueError("nothing to edit: give neurons or interventions")
    if before is None:
        before = direction_scores(model, texts, direction, layer=layer, batch_size=batch_size, progress=progress)
    after = direction_scores(
        model, texts, direction, layer=layer, interventions=edits, batch_size=batch_size, progress=progress
    )
    return EditEffect(torch.as_tensor(before).float().cpu(), after, keys)


def compare_generations(
    model: Model,
    prompts: Sequence[str],
    interventions: Sequence[Intervention],
    *,
    max_new_tokens: int = 24,
    batch_size: int = 8,
) -> list[tuple[str, str]]:
    """Greedy continuations of each prompt without and with ``interventions`` (e.g.
    :func:`neuron_edits`): ``[(plain, edited), ...]``."""
    prompts = _validate.texts(prompts)
    out = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        plain = model.generate(chunk, max_new_tokens=max_new_tokens)
        with intervene(model, *interventions), input_rows(range(start, start + len(chunk)), len(prompts)):
            edited = model.generate(chunk, max_new_tokens=max_new_tokens)
        out += list(zip(plain, edited))
    return out
