"""Activation patching and attribution patching, batched.

Activation patching runs a corrupted prompt, puts back one activation from the clean prompt, and
measures how much of the clean behaviour returns, for every layer x position (or head, or neuron) of
one component. :func:`activation_patch` does every cell of the sweep for many prompt pairs at once:

- **Batched.** Each patched run is one row of a batch: the corrupted run is tiled into rows, one
  per (cell, pair), chunked to fit the device's memory (:func:`auto_batch_size`, or ``batch_size``).
  Nothing waits on the device between cells: every index is built on the host up front and uploaded
  once, and the metric values leave the device once, at the end.
- **Starts at the patched layer.** The corrupted run is done once and its per-layer inputs are
  kept, with the keyword arguments the model passed each decoder layer (attention mask, rotary
  position embeddings, ALiBi, ...), captured by a forward pre-hook. A row whose cell is at layer
  ``l`` joins the batch at layer ``l`` from the cached corrupted input; the model's own decoder-layer
  modules are called in order. No layer's math is reimplemented.
- **Reuses the unchanged prefix.** In a causal model, patching position ``p`` cannot change
  positions before ``p``: those keys and values are the corrupted run's, recorded once (the layer's
  own KV-cache ``update`` call) and prepended, so only positions from ``min(p, first position the
  metric reads)`` on are computed.
- **Unembeds only what the metric reads.** The final norm and the LM head run on the metric's
  positions only (a :class:`~mechint.metrics.Metric` declares them); a metric at a site stops the
  forward there and never unembeds.
- **Skips cells that patch nothing.** Where a pair's clean activation equals its corrupted one bit
  for bit (compared in the corrupted run, which holds both prompts), the patched run would be the
  corrupted run: the cell gets the corrupted metric without running. In a minimal pair that is
  every position before the first token that differs, at every layer, and at the embedding every
  position whose token agrees (the gemma IOI pair: 184 of 270 cells).

How this generalises across families: each decoder layer is called with exactly the arguments the
model itself gave it in the corrupted run (so Gemma 3's sliding/full layers each get their own mask
and rotary tables, BLOOM its ALiBi tensor, GPT-2 its positional mask argument). Tensors among them
with a batch axis (``[pairs, ...]``, or ``[pairs * heads, ...]`` for ALiBi) are gathered per row;
query-length axes of the known arguments (``attention_mask``, ``position_embeddings``,
``position_ids``, ``cache_position``) are cut to the computed positions. Prefix reuse needs the layer
to take a KV cache argument (``cache`` / ``past_key_values`` / ``layer_past``) and eager or SDPA
attention; otherwise every row computes all positions, with the same results.

:func:`attribution_patch` is the gradient approximation (one forward and one backward pass on the
corrupted run), and :func:`attribution_correlation` compares it with exact patching.
"""

from __future__ import annotations

import inspect
import time
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal, Sequence

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .hooks import StopForward, input_rows
from .metrics import Metric, as_metric, normalize
from .model import Model, index_list, int_list
from .sites import Site, get_submodule

__all__ = [
    "COMPONENTS",
    "PatchResult",
    "PromptLengthError",
    "activation_patch",
    "attribution_patch",
    "attribution_correlation",
    "auto_batch_size",
]

#: Patchable components and their per-layer site keys.
COMPONENTS: dict[str, str] = {
    "resid_pre": "hook_resid_pre",
    "resid_mid": "hook_resid_mid",
    "resid_post": "hook_resid_post",
    "attn_out": "hook_attn_out",
    "mlp_out": "hook_mlp_out",
    "z": "attn.hook_z",
    "mlp_post": "mlp.hook_post",
}
_UNIT_AXIS = {"z": "head", "mlp_post": "neuron"}

Inputs = str | Sequence[str] | Tensor | Sequence[Sequence[int]]


class PromptLengthError(ValueError):
    """A clean prompt and its corrupted prompt differ in token length."""


# ============================================================================================
# Results
# ============================================================================================


@dataclass
class PatchResult:
    """A patching sweep: the metric of every patched run, per prompt pair and cell.

    Attributes:
        values: ``[pairs, *grid]`` metric of the patched run; NaN where a cell does not exist for a
            pair (a position that is padding in one of its prompts, with ``align="right"``).
        clean, corrupted: ``[pairs]`` metric of the unpatched clean and corrupted runs.
        component: what was patched (``"resid_pre"``, ``"z"``, ...).
        axes: names of the grid axes, e.g. ``("layer", "pos")`` or ``("layer", "head")``.
        labels: per axis, the labels of its entries: layer numbers, ``"token (position)"`` strings for
            ``pos`` (the token of pair 0's corrupted prompt; the position as swept, or counted from
            the end, ``-1`` = last, when the prompts differ in length), head or neuron numbers.
            :meth:`pair` relabels ``pos`` with that pair's tokens.
        positions: the swept positions (indices into the padded prompt), for the ``pos`` axis.
        clean_tokens, corrupted_tokens: each pair's prompts as token strings (unpadded).
        metric: the metric's name.
        method: ``"exact"`` (activation patching) or ``"attribution"`` (gradient approximation).
        info: how it ran (batch size, chunks, seconds) and, for attribution, its correlation with
            exact patching when that was asked for.
    """

    values: Tensor
    clean: Tensor
    corrupted: Tensor
    component: str
    axes: tuple[str, ...]
    labels: dict[str, list]
    positions: list[int]
    clean_tokens: list[list[str]]
    corrupted_tokens: list[list[str]]
    metric: str
    method: str = "exact"
    info: dict = field(default_factory=dict)

    @property
    def n_pairs(self) -> int:
        return int(self.values.shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        """The grid shape (without the pair axis)."""
        return tuple(self.values.shape[1:])

    def effect(self) -> Tensor:
        """``values - corrupted`` per pair: what each patch changes."""
        return self.values - self.corrupted.reshape(-1, *([1] * len(self.axes)))

    def normalized(self) -> Tensor:
        """``(values - corrupted) / (clean - corrupted)`` per pair: 0 = corrupted, 1 = clean."""
        return normalize(self.values, self.clean, self.corrupted)

    def mean(self, *, normalized: bool = False) -> Tensor:
        """Mean over pairs per cell (NaN cells are left out); of the normalised values if asked."""
        return _nanmean(self.normalized() if normalized else self.values)

    def pair(self, i: int) -> "PatchResult":
        """The result of pair ``i`` alone, its ``pos`` labels from that pair's tokens (numbered as in
        this result: counted from the end when the prompts differ in length, or when the pair's
        prompt is shorter than the padded width; ``"(-9)"`` alone where it has no token)."""
        if not -self.n_pairs <= i < self.n_pairs:
            raise IndexError(f"pair {i} out of range: {self.n_pairs} pairs")
        i = i % self.n_pairs
        sl = slice(i, i + 1)
        labels = dict(self.labels)
        if "pos" in labels:
            tokens = self.corrupted_tokens[i]
            from_end = self.info.get("pos_from_end", _from_end(self.corrupted_tokens) or len(tokens) != self._width)
            labels["pos"] = _pos_labels(self.positions, tokens, self._width, from_end)
        return PatchResult(
            self.values[sl], self.clean[sl], self.corrupted[sl], self.component, self.axes, labels,
            self.positions, self.clean_tokens[sl], self.corrupted_tokens[sl], self.metric, self.method,
            dict(self.info),
        )

    def to_dataframe(self, *, mean: bool = False):
        """Long form, one row per (pair, cell): the axis labels, for ``pos`` the position (index into
        the padded prompts) and ``token``, the corrupted prompt's token there (``""`` where the
        pair's prompt has none), and ``value``, ``effect``, ``normalized``. ``mean=True``: one row
        per cell, averaged over pairs (``pair`` is ``"mean"``); ``token`` is then pair 0's token, the
        one :attr:`labels` show."""
        import pandas as pd

        idx = torch.cartesian_prod(*[torch.arange(n) for n in self.shape]) if len(self.shape) > 1 else (
            torch.arange(self.shape[0])[:, None]
        )
        if mean:
            blocks = {"value": self.mean(), "effect": _nanmean(self.effect()), "normalized": self.mean(normalized=True)}
            flat = {k: v.reshape(-1) for k, v in blocks.items()}
            rows = {"pair": ["mean"] * idx.shape[0]}
            pair_of_row = None
        else:
            blocks = {"value": self.values, "effect": self.effect(), "normalized": self.normalized()}
            flat = {k: v.reshape(-1) for k, v in blocks.items()}
            n_cells = idx.shape[0]
            pair_of_row = torch.arange(self.n_pairs).repeat_interleave(n_cells)
            idx = idx.repeat(self.n_pairs, 1)
            rows = {"pair": pair_of_row.tolist()}
        for a, axis in enumerate(self.axes):
            col = idx[:, a].tolist()
            if axis == "pos":
                rows["pos"] = [self.positions[i] for i in col]
                rows["token"] = [_token_at(self.corrupted_tokens[0], self.positions[i], self._width) for i in col] if pair_of_row is None else [
                    _token_at(self.corrupted_tokens[p], self.positions[i], self._width) for p, i in zip(pair_of_row.tolist(), col)
                ]
            else:
                rows[axis] = [self.labels[axis][i] for i in col]
        for k, v in flat.items():
            rows[k] = v.tolist()
        df = pd.DataFrame(rows)
        df.attrs.update({"component": self.component, "metric": self.metric, "method": self.method})
        return df

    @property
    def _width(self) -> int:
        return int(self.info.get("width", max(len(t) for t in self.corrupted_tokens)))

    def __repr__(self) -> str:
        grid = " x ".join(f"{a} {n}" for a, n in zip(self.axes, self.shape))
        return (
            f"PatchResult({self.method}, component={self.component!r}, metric={self.metric!r}, "
            f"{self.n_pairs} pair(s), {grid}, clean={_fmt(self.clean)}, corrupted={_fmt(self.corrupted)})"
        )


def _fmt(t: Tensor) -> str:
    return f"{t.float().mean().item():.4g}" if t.numel() > 1 else f"{t.item():.4g}"


def _nanmean(x: Tensor) -> Tensor:
    return torch.nanmean(x.float(), dim=0)


def _token_at(tokens: list[str], position: int, width: int) -> str:
    j = position - (width - len(tokens))
    return tokens[j] if 0 <= j < len(tokens) else ""


# ============================================================================================
# Inputs
# ============================================================================================


@dataclass
class _Prompts:
    clean_ids: list[list[int]]
    corrupted_ids: list[list[int]]
    width: int
    clean: dict[str, Tensor]  # input_ids, attention_mask on the device, left-padded to width
    corrupted: dict[str, Tensor]
    valid: Tensor  # [pairs, width] bool, CPU: both prompts have a real token there

    @property
    def n(self) -> int:
        return len(self.clean_ids)


def _ids(model: Model, x, what: str) -> list[list[int]]:
    if isinstance(x, str):
        x = [x]
    if isinstance(x, Tensor):
        t = x.detach().cpu()
        if t.ndim == 1:
            t = t[None]
        if t.ndim != 2:
            raise ValueError(f"{what} tokens must be [batch, pos], got shape {tuple(t.shape)}")
        return [list(map(int, row)) for row in t]
    if isinstance(x, dict) or hasattr(x, "keys"):
        ids = torch.as_tensor(x["input_ids"]).cpu()
        mask = torch.as_tensor(x.get("attention_mask", torch.ones_like(ids))).cpu().bool()
        ids, mask = (ids[None], mask[None]) if ids.ndim == 1 else (ids, mask)
        return [row[m].tolist() for row, m in zip(ids, mask)]
    items = list(x)
    if not items:
        raise ValueError(f"no {what} prompts given")
    if all(isinstance(i, str) for i in items):
        return [list(r) for r in model.tokenizer(items)["input_ids"]]
    if all(isinstance(i, (list, tuple, Tensor)) for i in items):
        return [list(map(int, r)) for r in items]
    raise TypeError(f"{what} prompts must be strings, token-id lists or a [batch, pos] tensor")


def _prepare(model: Model, clean: Inputs, corrupted: Inputs, align: str) -> _Prompts:
    if align not in ("strict", "right"):
        raise ValueError(f"align must be 'strict' or 'right', got {align!r}")
    c_ids, k_ids = _ids(model, clean, "clean"), _ids(model, corrupted, "corrupted")
    if len(c_ids) != len(k_ids):
        raise ValueError(
            f"{len(c_ids)} clean prompt(s) but {len(k_ids)} corrupted prompt(s): pass one corrupted prompt per clean prompt"
        )
    for i, (a, b) in enumerate(zip(c_ids, k_ids)):
        if not a or not b:
            raise ValueError(f"pair {i}: an empty prompt")
        if len(a) != len(b) and align == "strict":
            raise PromptLengthError(
                f"pair {i}: the clean prompt has {len(a)} tokens and the corrupted prompt has {len(b)} tokens. "
                "Patching puts a clean position into the same corrupted position, so the two prompts of a pair "
                "must have the same token length; make them equal, or pass align='right' to align them at "
                "their last token (cells where either prompt has no token are left out, NaN)."
            )
    padded = model.pad(c_ids + k_ids)
    n = len(c_ids)
    width = padded["input_ids"].shape[1]
    half = lambda enc, sl: {k: v[sl] for k, v in enc.items()}
    c_enc, k_enc = half(padded, slice(0, n)), half(padded, slice(n, 2 * n))
    lens_c = torch.tensor([len(r) for r in c_ids])
    lens_k = torch.tensor([len(r) for r in k_ids])
    cols = torch.arange(width)
    valid = (cols[None] >= width - lens_c[:, None]) & (cols[None] >= width - lens_k[:, None])
    return _Prompts(c_ids, k_ids, width, c_enc, k_enc, valid)


def _str_tokens(model: Model, ids: list[list[int]]) -> list[list[str]]:
    return [[model.tokenizer.decode([t]) for t in row] for row in ids]


def _resolve_positions(positions, width: int, what: str) -> list[int]:
    """Positions (as :func:`~mechint.model.index_list` takes them; negative counts from the end) as
    indices into ``width``; ``None``: all of them. Raises on a repeat too."""
    if positions is None:
        return list(range(width))
    items = int_list(positions, f"{what} position")  # once: positions may be a generator
    out = index_list(items, width, f"{what} position")
    if len(set(out)) != len(out):
        raise ValueError(f"{what} positions repeat: {items}")
    return out


# ============================================================================================
# The model's pieces: layers, their arguments, the head
# ============================================================================================

_CACHE_PARAMS = ("cache", "past_key_values", "past_key_value", "layer_past")
_QUERY_SLICED = {"attention_mask", "position_embeddings", "position_ids", "cache_position"}
_KNOWN_TENSOR_KWARGS = _QUERY_SLICED | {"alibi"}


class _LayerSignature:
    """How to call one decoder layer with keyword arguments (positional ones bound to names)."""

    def __init__(self, layer: nn.Module):
        sig = inspect.signature(layer.forward)
        self.sig = sig
        params = list(sig.parameters.values())
        self.hidden = params[0].name
        self.var_kw = next((p.name for p in params if p.kind is p.VAR_KEYWORD), None)
        self.cache = next((n for n in _CACHE_PARAMS if n in sig.parameters), None)

    def bind(self, args: tuple, kwargs: dict) -> dict:
        bound = self.sig.bind_partial(*args, **kwargs).arguments
        out = {k: v for k, v in bound.items() if k != self.var_kw}
        if self.var_kw and self.var_kw in bound:
            out.update(bound[self.var_kw])
        return out


class _KVRecorder:
    """A stand-in for a KV cache during the corrupted run: keeps each layer's keys and values
    (as the attention computed them, after rotary embeddings) and returns them unchanged."""

    def __init__(self) -> None:
        self.keys: dict[int, Tensor] = {}
        self.values: dict[int, Tensor] = {}

    def update(self, key_states: Tensor, value_states: Tensor, layer_idx: int, *args, **kwargs):
        self.keys[layer_idx], self.values[layer_idx] = key_states, value_states
        return key_states, value_states


class _PrefixKV:
    """A stand-in for a KV cache during a patched chunk: prepends the corrupted run's keys and values
    of the positions before the computed ones."""

    def __init__(self) -> None:
        self.keys: dict[int, Tensor | None] = {}
        self.values: dict[int, Tensor | None] = {}

    def update(self, key_states: Tensor, value_states: Tensor, layer_idx: int, *args, **kwargs):
        pk = self.keys.get(layer_idx)
        if pk is None:
            return key_states, value_states
        return torch.cat([pk, key_states], dim=-2), torch.cat([self.values[layer_idx], value_states], dim=-2)


@dataclass
class _Captured:
    """The corrupted run, layer by layer: each layer's input and the other arguments it was given."""

    hidden: dict[int, Tensor]
    kwargs: dict[int, dict[str, Any]]
    kv: _KVRecorder | None


def _layers(model: Model) -> nn.ModuleList:
    return get_submodule(model.hf, model.family.layers)


@contextmanager
def _capture_layers(model: Model, layers: Sequence[int], record_kv: bool) -> Iterator[_Captured]:
    mods = _layers(model)
    cap = _Captured({}, {}, _KVRecorder() if record_kv else None)
    handles = []

    def pre(index: int, sig: _LayerSignature):
        def hook(module, args, kwargs):
            bound = sig.bind(args, kwargs)
            cap.hidden[index] = bound.pop(sig.hidden)
            if cap.kv is not None and sig.cache is not None:
                bound[sig.cache] = cap.kv
                cap.kwargs[index] = bound
                return (cap.hidden[index],), dict(bound)
            cap.kwargs[index] = bound
            return None

        return hook

    try:
        for l in layers:
            sig = _LayerSignature(mods[l])
            # prepend: the layer's input as the previous layer gave it, before any hook of the
            # caller's at this layer (a row that joins here runs the layer, and those hooks, once)
            handles.append(mods[l].register_forward_pre_hook(pre(l, sig), with_kwargs=True, prepend=True))
        yield cap
    finally:
        for h in handles:
            h.remove()


def _prefix_reuse_possible(model: Model, sig: _LayerSignature, kwargs: dict) -> bool:
    """Whether a layer can compute a suffix of positions against recorded prefix keys/values."""
    if sig.cache is None:
        return False
    impl = getattr(model.hf.config, "_attn_implementation", None) or "eager"
    if impl not in ("eager", "sdpa"):
        return False
    for name, value in kwargs.items():
        if isinstance(value, Tensor) and name not in _KNOWN_TENSOR_KWARGS:
            return False
        if isinstance(value, (tuple, list)) and any(isinstance(v, Tensor) for v in value) and name not in _KNOWN_TENSOR_KWARGS:
            return False
    mask = kwargs.get("attention_mask")
    return mask is None or (isinstance(mask, Tensor) and mask.ndim == 4)


def _take_rows(t: Tensor, src: Tensor, batch: int, single: int | None) -> Tensor:
    """Rows of a tensor captured in the baseline run (``batch`` rows, or ``batch * k`` such as
    BLOOM's ALiBi ``[batch * heads, 1, keys]``) for each patched row; ``src`` holds each patched row's
    source row. ``single``: the one source row every patched row has (known on the host: a view, no
    copy). Tensors shared by the whole batch (leading 1) broadcast as they are."""
    n = src.shape[0]
    if t.ndim < 2 or t.shape[0] == 1 or t.shape[0] % batch:
        return t
    k = t.shape[0] // batch
    grouped = t.reshape(batch, k, *t.shape[1:])
    if single is not None:
        grouped = grouped.narrow(0, single, 1).expand(n, *grouped.shape[1:])
    else:
        grouped = grouped.index_select(0, src)
    return grouped.reshape(n * k, *t.shape[1:])


def _query_cut(name: str, t: Tensor, start: int) -> Tensor:
    if start == 0 or name not in _QUERY_SLICED:
        return t
    if name == "attention_mask":
        return t[:, :, start:]
    if name == "cache_position":
        return t[start:]
    return t[:, start:]  # position_embeddings (cos/sin) and position_ids: [batch, pos, ...]


def _causal_suffix_mask(width: int, start: int, device) -> Tensor:
    q = torch.arange(start, width, device=device)[:, None]
    k = torch.arange(width, device=device)[None, :]
    return (k <= q)[None, None]  # [1, 1, width - start, width], True = attend


def _gather_kwargs(
    kwargs: dict, src: Tensor, batch: int, single: int | None, start: int, width: int, memo: dict
) -> dict:
    out = {}
    for name, value in kwargs.items():
        if name == "attention_mask" and value is None and start > 0:
            key = ("causal", start)
            if key not in memo:
                memo[key] = _causal_suffix_mask(width, start, src.device)
            out[name] = memo[key]
            continue
        out[name] = _gather_value(name, value, src, batch, single, start, memo)
    return out


def _gather_value(name: str, value, src: Tensor, batch: int, single: int | None, start: int, memo: dict):
    if isinstance(value, Tensor):
        key = (id(value), src.shape[0], start)
        got = memo.get(key)
        if got is None:
            got = _query_cut(name, _take_rows(value, src, batch, single), start)
            memo[key] = got
        return got
    if isinstance(value, tuple):
        return tuple(_gather_value(name, v, src, batch, single, start, memo) for v in value)
    if isinstance(value, list):
        return [_gather_value(name, v, src, batch, single, start, memo) for v in value]
    return value


def _text_config(model: Model):
    cfg = model.hf.config
    return cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg


class _Unembed:
    """Logits from final-norm outputs: the LM head, and the final soft-capping where the model has it.
    With ``tokens``, only those vocabulary rows of the LM head are used."""

    def __init__(self, model: Model, tokens: Sequence[int] | None = None):
        self.head = get_submodule(model.hf, model.family.lm_head)
        self.cap = getattr(_text_config(model), "final_logit_softcapping", None)
        self.weight = self.bias = None
        if tokens is not None:
            if not isinstance(self.head, nn.Linear):
                raise TypeError(f"the LM head is a {type(self.head).__name__}, not a Linear: cannot unembed chosen tokens")
            ids = torch.tensor(list(tokens), device=self.head.weight.device)
            if int(ids.max()) >= self.head.weight.shape[0] or int(ids.min()) < 0:
                raise ValueError(f"metric token ids must be in 0..{self.head.weight.shape[0] - 1}")
            self.weight = self.head.weight.index_select(0, ids)
            self.bias = None if self.head.bias is None else self.head.bias.index_select(0, ids)

    def __call__(self, normed: Tensor) -> Tensor:
        logits = self.head(normed) if self.weight is None else nn.functional.linear(normed, self.weight, self.bias)
        if self.cap:
            logits = torch.tanh(logits / self.cap) * self.cap
        return logits


def _final_norm(model: Model) -> nn.Module:
    return model.site("ln_final.hook_normalized").module


# ============================================================================================
# Auto batch size
# ============================================================================================


def _free_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        reserved_unused = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + reserved_unused)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 1024**3


def _row_bytes(model: Model, width: int, suffix: int, n_read: int) -> int:
    """Memory of one patched run that computes ``suffix`` positions of a ``width``-token prompt: its
    activations at one layer (residual, attention and MLP intermediates, scores against all keys),
    the prefix keys/values it attends to, and ``n_read`` positions of logits."""
    item = torch.finfo(model.dtype).bits // 8
    d, d_mlp = model.d_model, model.d_mlp
    attn = model.n_heads * model.d_head
    per_token = (8 * d + 4 * d_mlp + 3 * attn) * item + model.n_heads * width * 4 + width
    return suffix * per_token + n_read * model.d_vocab * 4 * 3 + 2 * width * model.n_kv_heads * model.d_head * item


def _default_tokens(device: torch.device) -> int:
    return 16384 if device.type == "cuda" else 1024


def auto_batch_size(
    model: Model, seq_len: int, n_read: int = 1, *, fraction: float = 0.4, tokens_per_batch: int | None = None
) -> int:
    """Patched runs (rows) per forward pass for prompts of ``seq_len`` tokens, all computed.

    Memory: a row holds its activations at one layer at a time (residual, attention and MLP
    intermediates, attention scores) and ``n_read`` positions of logits; ``fraction`` of the free
    memory (CUDA: free + cached; CPU: MemAvailable) is used. Speed: every batch costs one call per
    layer of fixed overhead (about 1 ms on a GPU, where it dominates small batches), while a batch
    holds patched runs that start at nearby positions and all compute from the earliest of them.
    ``tokens_per_batch`` caps rows x computed positions (default 16384 on CUDA, 1024 on CPU, where
    compute dominates). :func:`activation_patch` applies this per batch to the positions it
    computes: a batch of runs that start late (a short suffix) holds more of them.
    """
    return _auto_limit(model, seq_len, n_read, fraction=fraction, tokens_per_batch=tokens_per_batch)(0)


def _auto_limit(model: Model, width: int, n_read: int, *, fraction: float = 0.4, tokens_per_batch: int | None = None):
    """``limit(start) -> rows``: how many patched runs that compute positions ``start..width-1``
    fit one forward pass (by memory and by ``tokens_per_batch``)."""
    free = _free_bytes(model.device) * fraction
    tokens = tokens_per_batch if tokens_per_batch is not None else _default_tokens(model.device)

    def limit(start: int) -> int:
        suffix = max(width - start, 1)
        by_memory = int(free // max(_row_bytes(model, width, suffix, n_read), 1))
        return max(1, min(by_memory, tokens // suffix))

    return limit


# ============================================================================================
# The sweep plan
# ============================================================================================


@dataclass
class _Plan:
    component: str
    key: str
    axes: tuple[str, ...]
    layers: list[int]
    positions: list[int]  # swept positions (pos axis), or the positions patched together
    units: list[int]  # heads / neurons (z, mlp_post), else [-1]
    per_position: bool
    # one entry per cell, in grid order
    cell_layer: list[int]
    cell_pos: list[int]  # -1: all of ``positions`` at once
    cell_unit: list[int]

    @property
    def grid(self) -> tuple[int, ...]:
        sizes = {"layer": len(self.layers), "pos": len(self.positions), "head": len(self.units), "neuron": len(self.units)}
        return tuple(sizes[a] for a in self.axes)


def _plan(model: Model, component: str, width: int, *, layers, positions, heads, neurons, per_position) -> _Plan:
    if component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r}; choose from {', '.join(COMPONENTS)}")
    key = COMPONENTS[component]
    if key not in model.family.block_sites:
        raise ValueError(f"the {model.family.name} family has no {key} site")
    lay = model.layer_list(layers)
    pos = _resolve_positions(positions, width, "patched")
    unit_axis = _UNIT_AXIS.get(component)
    if unit_axis is None:
        if heads is not None or neurons is not None:
            raise ValueError(f"heads= and neurons= apply to z and mlp_post, not {component}")
        if per_position is False:
            raise ValueError(f"{component} is patched per position; per_position=False applies to z and mlp_post")
        units, per_pos, axes = [-1], True, ("layer", "pos")
    else:
        if component == "z":
            if neurons is not None:
                raise ValueError("neurons= applies to mlp_post; for z choose heads=")
            units = list(range(model.n_heads)) if heads is None else index_list(heads, model.n_heads, "head", negative=False)
        else:
            if heads is not None:
                raise ValueError("heads= applies to z; for mlp_post choose neurons=")
            if neurons is None:
                raise ValueError("mlp_post patches chosen neurons: pass neurons=[...] (indices into d_mlp)")
            units = index_list(neurons, model.d_mlp, "neuron", negative=False)
        per_pos = bool(per_position)
        axes = ("layer", "pos", unit_axis) if per_pos else ("layer", unit_axis)
    cl, cp, cu = [], [], []
    for l in lay:
        if per_pos:
            for p in pos:
                for u in units:
                    cl.append(l), cp.append(p), cu.append(u)
        else:
            for u in units:
                cl.append(l), cp.append(-1), cu.append(u)
    return _Plan(component, key, axes, lay, pos, units, per_pos, cl, cp, cu)


def _from_end(tokens: list[list[str]]) -> bool:
    """Whether ``pos`` labels count positions from the end: the prompts differ in length."""
    return len({len(t) for t in tokens}) != 1


def _pos_labels(positions: list[int], tokens: list[str], width: int, from_end: bool) -> list[str]:
    """``"token (position)"`` for each swept position, with one prompt's tokens; the position as an
    index into the padded width, or counted from the end (``-1`` = last) with ``from_end``."""
    out = []
    for p in positions:
        tok = _token_at(tokens, p, width)
        n = p - width if from_end else p
        out.append(f"{tok} ({n})" if tok else f"({n})")
    return out


def _labels(plan: _Plan, tokens: list[list[str]], width: int) -> dict[str, list]:
    labels: dict[str, list] = {"layer": list(plan.layers)}
    if "pos" in plan.axes:
        labels["pos"] = _pos_labels(plan.positions, tokens[0], width, _from_end(tokens))
    for axis in ("head", "neuron"):
        if axis in plan.axes:
            labels[axis] = list(plan.units)
    return labels


# ============================================================================================
# Baseline runs
# ============================================================================================


def _reader(store: dict, key: str, cols: list[int], *, keep_graph: bool = False, rows: int | None = None):
    """A hook that keeps ``x[:rows, cols]`` (all rows by default)."""

    def fn(x: Tensor, ctx) -> None:
        v = x[:rows, cols] if rows is not None else x[:, cols]
        store[key] = v if keep_graph else v.detach().clone()

    return fn


def _unchanged_reader(store: dict, key: str, n_pairs: int, plan: "_Plan"):
    """A hook on the baseline run (clean rows, then corrupted rows) that keeps where each pair's
    clean activation equals its corrupted one bit for bit: ``[pairs, pos]`` (a whole vector per
    position), ``[pairs, pos, head]`` for ``z``, ``[pairs, pos, i]`` for ``mlp_post`` (the plan's
    ``i``-th neuron)."""
    neurons = plan.units if plan.component == "mlp_post" else None

    def fn(x: Tensor, ctx) -> None:
        if neurons is not None:
            x = x[..., neurons]
        eq = x[:n_pairs] == x[n_pairs : 2 * n_pairs]
        store[key] = eq if neurons is not None else eq.all(-1)

    return fn


def _check_values(values, n: int, metric: Metric) -> Tensor:
    """The metric of a baseline run must be one value per row, ``[n]``: a scalar (a batch mean, as
    TransformerLens metrics return) or ``[n, 1]`` would break the sweep later, less clearly."""
    shape = tuple(values.shape) if isinstance(values, Tensor) else None
    if shape != (n,):
        got = f"shape {shape}" if shape is not None else f"a {type(values).__name__}"
        hint = (" A TransformerLens-style metric that averages over the batch (.mean()) must return the "
                "per-row values instead: remove its .mean().") if shape == () else ""
        raise ValueError(
            f"metric {metric.name!r} returned {got} for {n} prompt(s): a metric must return one value per "
            f"row, shape [{n}] (rows are scored independently; the engine batches many patched runs).{hint}"
        )
    return values


def _metric_site(model: Model, metric: Metric) -> Site | None:
    return None if metric.site is None else model.site(metric.site)


def _read_from_run(unembed: _Unembed, metric_site: Site | None, store: dict) -> Tensor:
    """The metric's read ``[batch, n_read, width]`` from what a run's reader hook stored."""
    if metric_site is None:
        return unembed(store["__final__"])
    return store["__metric__"]


def _baseline_hooks(model: Model, metric_site: Site | None, read_cols: list[int], store: dict, keep_graph=False):
    if metric_site is None:
        return [(model.site("ln_final.hook_normalized"), _reader(store, "__final__", read_cols, keep_graph=keep_graph))]
    return [(metric_site, _reader(store, "__metric__", read_cols, keep_graph=keep_graph))]


# ============================================================================================
# The sweep's arguments, as both kinds of patching read them
# ============================================================================================


@dataclass
class _Sweep:
    """What :func:`activation_patch` and :func:`attribution_patch` both derive from their arguments:
    the metric, the padded prompt pairs, the cells, the positions the metric reads, where it reads
    (``m_site``: a site, or None for the logits, then ``unembed`` computes them), and the component's
    site at every swept layer."""

    metric: Metric
    prompts: _Prompts
    plan: _Plan
    read_cols: list[int]
    m_site: Site | None
    unembed: _Unembed | None
    sites: dict[int, Site]

    @property
    def width(self) -> int:
        return self.prompts.width

    @property
    def n_pairs(self) -> int:
        return self.prompts.n

    def reaches_metric(self, layer: int) -> bool:
        """Whether patching the component at ``layer`` can change the metric: its site comes no later
        than the metric's site (always, for a metric on the logits)."""
        return self.m_site is None or self.sites[layer].order <= self.m_site.order


def _prepare_sweep(
    model: Model,
    clean: Inputs,
    corrupted: Inputs,
    metric: Metric | Callable[[Tensor], Tensor],
    *,
    component: str,
    positions: int | Sequence[int] | None,
    layers: int | Sequence[int] | None,
    heads: int | Sequence[int] | None,
    neurons: int | Sequence[int] | None,
    per_position: bool | None,
    align: Literal["strict", "right"],
) -> _Sweep:
    """Check and resolve the arguments shared by both kinds of patching (errors in this order: the
    prompts, the sweep, the metric's positions, its site and tokens)."""
    metric = as_metric(metric)
    prompts = _prepare(model, clean, corrupted, align)
    metric.check_pairs(prompts.n)  # per-pair answer sets / directions: one per pair, or one for all
    plan = _plan(model, component, prompts.width, layers=layers, positions=positions, heads=heads, neurons=neurons,
                 per_position=per_position)
    read_cols = _resolve_positions(metric.positions, prompts.width, "metric")
    m_site = _metric_site(model, metric)
    unembed = _Unembed(model, metric.tokens) if m_site is None else None
    sites = {l: model.site(f"blocks.{l}.{plan.key}") for l in plan.layers}
    return _Sweep(metric, prompts, plan, read_cols, m_site, unembed, sites)


# ============================================================================================
# activation_patch
# ============================================================================================


def activation_patch(
    model: Model,
    clean: Inputs,
    corrupted: Inputs,
    metric: Metric | Callable[[Tensor], Tensor],
    *,
    component: str = "resid_pre",
    positions: int | Sequence[int] | None = None,
    layers: int | Sequence[int] | None = None,
    heads: int | Sequence[int] | None = None,
    neurons: int | Sequence[int] | None = None,
    per_position: bool | None = None,
    batch_size: int | None = None,
    tokens_per_batch: int | None = None,
    align: Literal["strict", "right"] = "strict",
    prefix_reuse: bool = True,
    skip_unchanged: bool = True,
    progress: bool | str = False,
) -> PatchResult:
    """Patch clean activations into the corrupted run, one cell at a time, for every cell of a sweep.

    Args:
        model: the model.
        clean, corrupted: one prompt each, or one per pair (strings, token-id lists, or ``[pairs, pos]``
            tensors without padding). Each pair's two prompts must have the same token length
            (:class:`PromptLengthError` names the pair and both lengths) unless ``align="right"``.
            Pairs may differ in length from each other: prompts are left-padded to a common width
            and positions are indices into that width (``-1`` is every prompt's last token).
        metric: a :class:`~mechint.metrics.Metric` (it declares the positions or site it reads, so only
            those are computed), or a callable ``f(logits [n, pos, vocab]) -> [n]``.
        component: ``resid_pre``, ``resid_mid``, ``resid_post``, ``attn_out``, ``mlp_out`` (grid
            layer x position), ``z`` (layer x head, each head at all ``positions`` at once; or layer x
            position x head with ``per_position=True``), ``mlp_post`` (the chosen ``neurons``: layer x
            neuron, or layer x position x neuron).
        positions: the positions swept (default all); for ``z``/``mlp_post`` without
            ``per_position``, the positions patched together.
        layers: the layers swept (default all).
        heads, neurons: the heads (``z``, default all) or MLP neurons (``mlp_post``, required) swept.
        batch_size: patched runs per forward pass (default: per chunk, by free memory and a budget
            of computed positions, see :func:`auto_batch_size`). Results do not depend on it beyond
            float rounding.
        tokens_per_batch: with the automatic batch size, the budget of patched runs x computed
            positions per forward (default 16384 on CUDA, 1024 on CPU).
        align: ``"strict"`` (default) or ``"right"``: a pair's prompts are aligned at their last token;
            cells where either prompt has no token are NaN for that pair.
        prefix_reuse: compute only the positions a patch can change (default); ``False`` computes
            every position of every row (same results; for benchmarking).
        skip_unchanged: a cell whose clean activation equals the corrupted run's bit for bit (a
            position before the prompts' first difference, or any position whose token is the same
            at the embedding) would rerun the corrupted run; it gets the corrupted metric without
            running (default). ``False`` runs it (same results up to float rounding).
        progress: show a progress bar over chunks (a string sets its label).

    Hooks and interventions active around the sweep (``with intervene(model, ...)``) act in every run
    as in one plain forward per cell: the clean and corrupted runs and the clean activations are
    read under them, the patch is written after them at its site, their positions are absolute
    positions of the prompts, and their ``rows=`` (and per-row values) count prompt pairs.

    Returns:
        a :class:`PatchResult` with ``values [pairs, *grid]``, the clean and corrupted metrics, and
        token labels; ``.mean()``, ``.normalized()``, ``.to_dataframe()``.
    """
    t_start = time.perf_counter()
    sweep = _prepare_sweep(model, clean, corrupted, metric, component=component, positions=positions, layers=layers,
                           heads=heads, neurons=neurons, per_position=per_position, align=align)
    for name, value in (("batch_size", batch_size), ("tokens_per_batch", tokens_per_batch)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    metric, prompts, plan, read_cols = sweep.metric, sweep.prompts, sweep.plan, sweep.read_cols
    m_site, unembed, comp_sites = sweep.m_site, sweep.unembed, sweep.sites
    width, n_pairs = sweep.width, sweep.n_pairs
    device = model.device

    # Only cells that can change the metric are computed; the others keep the corrupted value.
    live_layers = [l for l in plan.layers if sweep.reaches_metric(l)]
    first = min(live_layers) if live_layers else None
    last_layer = model.n_layers - 1 if m_site is None or m_site.layer is None else m_site.layer

    with torch.inference_mode():
        # -- one forward over both prompts of every pair (rows 0..B-1 clean, B..2B-1 corrupted): the
        #    clean component at the swept layers, the metric of both, and each layer's input and
        #    arguments (and keys/values) for the corrupted rows to start from
        store: dict = {}
        hooks = _baseline_hooks(model, m_site, read_cols, store)
        hooks += [(comp_sites[l], _reader(store, f"clean{l}", list(range(width)), rows=n_pairs)) for l in live_layers]
        if skip_unchanged:
            hooks += [(comp_sites[l], _unchanged_reader(store, f"same{l}", n_pairs, plan)) for l in live_layers]
        capture = list(range(first, last_layer + 1)) if first is not None else []
        both = {k: torch.cat([prompts.clean[k], prompts.corrupted[k]]) for k in prompts.clean}
        # rows= of the caller's hooks and interventions count prompt pairs: both rows of pair i are input i
        pair_of_row = torch.arange(n_pairs).repeat(2)
        with _capture_layers(model, capture, record_kv=prefix_reuse) as cap, model.hooks(hooks), \
                input_rows(pair_of_row, n_pairs):
            model.forward(both, logits=False)
        read = _read_from_run(unembed, m_site, store).float()
        clean_read, corrupted_read = read[:n_pairs], read[n_pairs:]
        clean_site = {l: store[f"clean{l}"] for l in live_layers}
        fn = metric.resolve(clean_read)
        pair_ids = torch.arange(n_pairs, device=device)
        clean_val = _check_values(fn(clean_read, pair_ids), n_pairs, metric)
        corrupted_val = _check_values(fn(corrupted_read, pair_ids), n_pairs, metric)

        reuse = prefix_reuse and first is not None and all(
            _prefix_reuse_possible(model, _LayerSignature(_layers(model)[l]), cap.kwargs[l]) for l in capture
        )
        unchanged = {l: store[f"same{l}"].cpu().numpy() for l in live_layers} if skip_unchanged else None
        rows = _rows_plan(plan, prompts, read_cols, sweep.reaches_metric, reuse, unchanged)
        n_rows = len(rows["pair"])
        if batch_size is None:
            limit = _auto_limit(model, width, len(read_cols), tokens_per_batch=tokens_per_batch)
        else:
            limit = lambda start: batch_size  # noqa: E731
        values_dev = torch.empty(n_rows, dtype=torch.float32, device=device)
        chunks = _chunks(rows, limit)
        order = torch.tensor([i for c in chunks for i in c["rows"]], dtype=torch.long)
        dev = _upload(rows, order, device)
        engine = _ChunkRunner(model, plan, prompts, cap, clean_site, m_site, read_cols, fn, last_layer, unembed)
        bar = tqdm(chunks, desc=progress if isinstance(progress, str) else "patch", disable=not progress, unit="chunk")
        offset = 0
        with warnings.catch_warnings():
            # a caller's hook at positions before a chunk's first computed one does nothing in that
            # chunk (those positions are the corrupted run's, where it did act): not worth a warning
            warnings.filterwarnings("ignore", message=r"positions .* are outside the", category=UserWarning)
            for chunk in bar:
                size = len(chunk["rows"])
                values_dev[offset : offset + size] = engine.run(chunk, {k: v[offset : offset + size] for k, v in dev.items()})
                offset += size

        values_rows = values_dev.cpu()
        clean_val, corrupted_val = clean_val.float().cpu(), corrupted_val.float().cpu()

    n_cells = len(plan.cell_layer)
    values = corrupted_val[:, None].repeat(1, n_cells)
    # cells that do not exist for a pair
    for i, ok in enumerate(_cell_valid(plan, prompts)):
        values[~ok, i] = float("nan")
    cell_of = torch.as_tensor(rows["cell"], dtype=torch.long)[order]
    pair_of = torch.as_tensor(rows["pair"], dtype=torch.long)[order]
    values[pair_of, cell_of] = values_rows
    toks_c, toks_k = _str_tokens(model, prompts.clean_ids), _str_tokens(model, prompts.corrupted_ids)
    info = {
        "batch_size": max((len(c["rows"]) for c in chunks), default=0),
        "chunks": len(chunks),
        "rows": n_rows,
        "unchanged_skipped": rows["skipped"],
        "prefix_reuse": reuse,
        "last_mlp_at_read_positions": engine.trim_mlp,
        "width": width,
        "pos_from_end": _from_end(toks_k),
        "read_positions": read_cols,
        "seconds": time.perf_counter() - t_start,
    }
    return PatchResult(
        values.reshape(n_pairs, *plan.grid), clean_val, corrupted_val, component, plan.axes,
        _labels(plan, toks_k, width), list(plan.positions), toks_c, toks_k, metric.name, "exact", info,
    )


def _cell_valid(plan: _Plan, prompts: _Prompts) -> Iterator[Tensor]:
    """Per cell, which pairs have it (``[pairs]`` bool)."""
    pos_set = torch.tensor(plan.positions)
    for p in plan.cell_pos:
        if p >= 0:
            yield prompts.valid[:, p]
        else:
            yield prompts.valid[:, pos_set].any(1)


def _rows_plan(
    plan: _Plan, prompts: _Prompts, read_cols: list[int], reaches, reuse: bool, unchanged: dict | None = None
) -> dict[str, list[int]]:
    """One row per (cell, pair) that must be computed, with the layer it joins at and the first
    position it computes. ``unchanged[layer]``: where the clean activation equals the corrupted
    one (:func:`_unchanged_reader`); those rows are left out (``rows["skipped"]`` counts them)."""
    read_min = min(read_cols)
    all_start = min(min(plan.positions), read_min)
    rows: dict = {"cell": [], "pair": [], "layer": [], "start": [], "pos": [], "unit": [], "skipped": 0}
    valid = prompts.valid.cpu().numpy()
    # the unit axis of ``unchanged``: heads by index; mlp_post keeps the plan's neurons only
    unit_at = {u: k for k, u in enumerate(plan.units)} if plan.component == "mlp_post" else None
    patched = [[q for q in plan.positions if valid[b, q]] for b in range(prompts.n)]  # all-positions cells
    for i, (l, p, u) in enumerate(zip(plan.cell_layer, plan.cell_pos, plan.cell_unit)):
        if not reaches(l):
            continue
        start = (min(p, read_min) if p >= 0 else all_start) if reuse else 0
        for b in range(prompts.n):
            if not (valid[b, p] if p >= 0 else patched[b]):
                continue  # a cell the pair does not have (NaN, as :func:`_cell_valid` says)
            if unchanged is not None:
                same = unchanged[l][b, p] if p >= 0 else unchanged[l][b, patched[b]]
                if u >= 0:
                    same = same[..., u if unit_at is None else unit_at[u]]
                if same.all():
                    rows["skipped"] += 1
                    continue
            rows["cell"].append(i)
            rows["pair"].append(b)
            rows["layer"].append(l)
            rows["start"].append(start)
            rows["pos"].append(p)
            rows["unit"].append(u)
    return rows


def _chunks(rows: dict[str, list[int]], limit: Callable[[int], int]) -> list[dict]:
    """Rows sorted by first computed position, then layer; cut into chunks of at most
    ``limit(chunk's first position)`` rows; within a chunk, rows are ordered by the layer they join
    at, so the rows active at a layer are a prefix of the chunk."""
    n = len(rows["pair"])
    order = sorted(range(n), key=lambda i: (rows["start"][i], rows["layer"][i], rows["cell"][i], rows["pair"][i]))
    groups: list[list[int]] = []
    cap = 0  # the open group's limit, from its first (earliest-starting) row
    for i in order:
        if groups and len(groups[-1]) < cap:
            groups[-1].append(i)
        else:
            groups.append([i])
            cap = limit(rows["start"][i])
    chunks = []
    for ids in groups:
        ids.sort(key=lambda i: rows["layer"][i])  # stable
        layers = [rows["layer"][i] for i in ids]
        joins: dict[int, tuple[int, int]] = {}
        for j, l in enumerate(layers):
            lo, _ = joins.get(l, (j, j))
            joins[l] = (lo, j + 1)
        chunks.append({"rows": ids, "start": min(rows["start"][i] for i in ids), "joins": joins,
                       "first": layers[0], "count_upto": _cumulative(layers),
                       "pairs_cpu": torch.tensor([rows["pair"][i] for i in ids], dtype=torch.long)})
    return chunks


def _cumulative(layers: list[int]) -> dict[int, int]:
    """For each layer in the chunk, how many rows are active once it has joined."""
    out: dict[int, int] = {}
    for j, l in enumerate(layers):
        out[l] = j + 1
    return out


def _upload(rows: dict[str, list[int]], order: Tensor, device: torch.device) -> dict[str, Tensor]:
    """The per-row indices, in processing order, on the device in one copy."""
    packed = torch.tensor([rows["pair"], rows["pos"], rows["unit"]], dtype=torch.long)[:, order]
    if device.type == "cuda":
        packed = packed.pin_memory().to(device, non_blocking=True)
    else:
        packed = packed.to(device)
    return {"pair": packed[0], "pos": packed[1], "unit": packed[2]}


@contextmanager
def _only_columns(module: nn.Module, cols: list[int], width: int) -> Iterator[None]:
    """Run ``module`` at positions ``cols`` only: every tensor argument ``[rows, width, ...]`` is cut
    to those columns, and the output is scattered into zeros of the full shape (the other positions'
    values are not used by the caller)."""
    forward = module.forward
    idx = torch.tensor(cols, dtype=torch.long)

    def cut(a):
        return a[:, idx.to(a.device)] if isinstance(a, Tensor) and a.ndim >= 2 and a.shape[1] == width else a

    def partial(*args, **kwargs):
        out = forward(*(cut(a) for a in args), **{k: cut(v) for k, v in kwargs.items()})
        full = out.new_zeros(out.shape[0], width, *out.shape[2:])
        full[:, idx.to(out.device)] = out
        return full

    own = module.__dict__.get("forward")  # an instance-level forward (e.g. set by a wrapper) is kept
    module.forward = partial
    try:
        yield
    finally:
        if own is None:
            del module.forward
        else:
            module.forward = own


class _ChunkRunner:
    """Runs one chunk: rows join at their layer from the corrupted run's cached input, the model's
    decoder layers are called in order with the arguments the model gave them, the patch is written
    at the component's site, and the metric is read where it reads."""

    def __init__(self, model, plan, prompts, cap, clean_site, m_site, read_cols, fn, last_layer, unembed):
        self.unembed = unembed
        self.model, self.plan, self.prompts, self.cap = model, plan, prompts, cap
        self.clean_site, self.m_site, self.read_cols, self.fn = clean_site, m_site, read_cols, fn
        self.last_layer = last_layer
        self.layers = _layers(model)
        self.sigs = {l: _LayerSignature(self.layers[l]) for l in cap.kwargs}
        self.n_pairs = prompts.n
        self.batch = 2 * prompts.n  # the baseline run held clean rows, then corrupted rows
        self.single = prompts.n if prompts.n == 1 else None  # one pair: every row starts from row 1
        self.width = prompts.width
        self.final_norm = _final_norm(model)
        pos_set = torch.zeros(prompts.width, dtype=torch.bool)
        pos_set[plan.positions] = True
        self.patch_mask = (prompts.valid & pos_set[None]).to(model.device)  # [pairs, width]
        # The caller's hooks and interventions (active around the sweep) run in every patched forward
        # as in a plain one: rows= counts prompt pairs and positions are absolute (input_rows), the
        # patch is written and the metric read after them, at their site, through the hook engine.
        self.user_hooks = model.active_hooks > 0
        # each pair's left padding in the corrupted prompts, for hooks with from_text_start positions
        self.pad = (prompts.corrupted["attention_mask"].cpu() != 0).long().cumsum(-1).eq(0).sum(-1)
        self.direct = plan.key in ("hook_resid_pre", "hook_resid_post") and not self.user_hooks
        mkey = m_site.key if m_site is not None and m_site.layer is not None else None
        self.metric_direct = mkey in ("hook_resid_pre", "hook_resid_post") and not self.user_hooks
        self.metric_final = m_site is not None and m_site.layer is None and m_site.name == "ln_final.hook_normalized"
        # At the last layer computed, only the positions the metric reads are used: its MLP (most of a
        # layer's cost) runs at those positions only, when nothing else hooks into that MLP (no other
        # hooks active, no patch or metric read inside the layer's MLP, the metric read after it).
        self.by_hook = m_site is not None and not self.metric_direct and not self.metric_final  # read by a hook
        mlp_path = model.family.mlp
        comp_in_mlp = model.family.block_sites[plan.key].path.startswith(mlp_path)
        self.trim_mlp = (
            not self.by_hook and not comp_in_mlp and model.active_hooks == 0
            and not (self.metric_direct and m_site.key == "hook_resid_pre")
        )
        self.last_mlp = self.layers[last_layer].get_submodule(mlp_path) if self.trim_mlp else None

    # ---- the write at the component's site, for the rows that joined at this layer
    def _write(self, x: Tensor, local: Tensor, pairs: Tensor, pos: Tensor, units: Tensor, clean: Tensor, start: int) -> Tensor:
        plan = self.plan
        if plan.per_position:
            cols = pos - start
            if plan.component in ("z", "mlp_post"):
                return x.index_put((local, cols, units), clean[pairs, pos, units])
            return x.index_put((local, cols), clean[pairs, pos])
        # z / mlp_post at all chosen positions at once
        mask = self.patch_mask[pairs][:, start:]  # [n, cols]
        out = x.clone()
        cur = out[local, :, units]  # [n, cols(, d_head)]
        new = clean[pairs, start:, units]
        if cur.ndim == 3:
            mask = mask[..., None]
        out[local, :, units] = torch.where(mask, new, cur)
        return out

    def run(self, chunk: dict, dev: dict[str, Tensor]) -> Tensor:
        model, plan, cap = self.model, self.plan, self.cap
        start, joins = chunk["start"], chunk["joins"]
        count = chunk["count_upto"]
        first = chunk["first"]
        pairs_all, pos_all, unit_all = dev["pair"], dev["pos"], dev["unit"]
        pairs_cpu = chunk["pairs_cpu"]  # the same pair indices on the host, for the caller's hooks
        memo: dict = {}
        prefix = _PrefixKV()
        reads: dict[str, Tensor] = {}
        hooks = []
        n_active = 0
        # the component's write, through the hook engine, at sites inside a layer
        if not self.direct:
            for l, (lo, hi) in joins.items():
                def write(x, ctx, lo=lo, hi=hi, l=l):
                    local = torch.arange(lo, hi, device=x.device)
                    return self._write(x, local, pairs_all[lo:hi], pos_all[lo:hi], unit_all[lo:hi], self.clean_site[l], start)

                hooks.append((self.plan_site(l), write))
        cols = [c - start for c in self.read_cols]  # the metric's positions among the computed ones
        if self.by_hook:

            def read(x, ctx):
                reads["m"] = x[:, cols]
                return None

            hooks.append((self.m_site, read))
        h: Tensor | None = None
        stopped = False
        with model.hooks(hooks, stop_after=self.m_site if self.by_hook else None):
            for k in range(first, self.last_layer + 1):
                if k in joins:
                    lo, hi = joins[k]
                    pairs = pairs_all[lo:hi]
                    h_new = _take_rows(cap.hidden[k][:, start:], pairs + self.n_pairs, self.batch, self.single).contiguous()
                    if self.direct and plan.key == "hook_resid_pre":
                        h_new = self._write(h_new, torch.arange(hi - lo, device=h_new.device), pairs,
                                            pos_all[lo:hi], unit_all[lo:hi], self.clean_site[k], start)
                    h = h_new if h is None else torch.cat([h, h_new])
                    n_active = count[k]
                if self.metric_direct and self.m_site.layer == k and self.m_site.key == "hook_resid_pre":
                    reads["m"] = h[:, cols]
                    stopped = True
                    break
                src = pairs_all[:n_active] + self.n_pairs  # the corrupted rows of the baseline run
                kw = _gather_kwargs(cap.kwargs[k], src, self.batch, self.single, start, self.width, memo)
                sig = self.sigs[k]
                if cap.kv is not None and sig.cache is not None and sig.cache in kw:
                    if start > 0:
                        prefix.keys[k] = _take_rows(cap.kv.keys[k][:, :, :start], src, self.batch, self.single)
                        prefix.values[k] = _take_rows(cap.kv.values[k][:, :, :start], src, self.batch, self.single)
                    else:
                        prefix.keys[k] = None
                    kw[sig.cache] = prefix
                try:
                    with input_rows(pairs_cpu[:n_active], self.n_pairs, offset=start, pad=self.pad) if self.user_hooks \
                            else nullcontext():
                        if k == self.last_layer and self.trim_mlp:
                            with _only_columns(self.last_mlp, cols, h.shape[1]):
                                out = self.layers[k](h, **kw)
                        else:
                            out = self.layers[k](h, **kw)
                except StopForward:
                    stopped = True
                    break
                h = out[0] if isinstance(out, tuple) else out
                if self.direct and plan.key == "hook_resid_post" and k in joins:
                    lo, hi = joins[k]
                    local = torch.arange(lo, hi, device=h.device)
                    h = self._write(h, local, pairs_all[lo:hi], pos_all[lo:hi], unit_all[lo:hi], self.clean_site[k], start)
                if self.metric_direct and self.m_site.layer == k:
                    reads["m"] = h[:, cols]
                    stopped = True
                    break
        if "m" in reads:
            read = reads["m"]
        else:
            if stopped:
                raise RuntimeError("the patched forward stopped before the metric's site")
            if self.user_hooks:
                # the final norm is a site (ln_final.hook_normalized): the caller's hooks there see
                # every computed position, at its absolute position, as in a plain forward
                with input_rows(pairs_cpu, self.n_pairs, offset=start, pad=self.pad):
                    read = self.final_norm(h)[:, cols]
            else:
                read = self.final_norm(h[:, cols])
            if not self.metric_final:
                read = self.unembed(read)
        return self.fn(read.float(), pairs_all)

    def plan_site(self, l: int) -> Site:
        return self.model.site(f"blocks.{l}.{self.plan.key}")


# ============================================================================================
# Attribution patching
# ============================================================================================


def attribution_patch(
    model: Model,
    clean: Inputs,
    corrupted: Inputs,
    metric: Metric | Callable[[Tensor], Tensor],
    *,
    component: str = "resid_pre",
    positions: int | Sequence[int] | None = None,
    layers: int | Sequence[int] | None = None,
    heads: int | Sequence[int] | None = None,
    neurons: int | Sequence[int] | None = None,
    per_position: bool | None = None,
    align: Literal["strict", "right"] = "strict",
    exact: "PatchResult | bool | None" = None,
    batch_size: int | None = None,
) -> PatchResult:
    """Attribution patching: the first-order estimate of every cell of :func:`activation_patch`.

    For each cell, ``corrupted + (a_clean - a_corrupted) . d metric / d a`` with the gradient taken
    on the corrupted run: one forward and one backward pass for the whole sweep (plus the clean run
    for ``a_clean``). The model runs in ``eval()`` mode, so dropout is off and the gradient is
    deterministic. Same arguments and result layout as :func:`activation_patch`.

    ``exact``: a :class:`PatchResult` of the same sweep, or ``True`` to compute it; then
    ``info["correlation"]`` holds :func:`attribution_correlation` of the two.

    Under hooks or interventions active around it, both runs are done under them and the gradient
    is taken at the activation as they leave it (the linearisation of :func:`activation_patch`
    under the same interventions).
    """
    t_start = time.perf_counter()
    sweep = _prepare_sweep(model, clean, corrupted, metric, component=component, positions=positions, layers=layers,
                           heads=heads, neurons=neurons, per_position=per_position, align=align)
    metric, prompts, plan, read_cols = sweep.metric, sweep.prompts, sweep.plan, sweep.read_cols
    m_site, unembed, sites = sweep.m_site, sweep.unembed, sweep.sites
    width, n_pairs = sweep.width, sweep.n_pairs
    device = model.device

    # no_grad, not inference_mode: the caller's interventions may keep tensors made in this run for
    # the corrupted run, under autograd, where inference tensors cannot be saved for backward
    with torch.no_grad():
        store: dict = {}
        hooks = _baseline_hooks(model, m_site, read_cols, store)
        hooks += [(sites[l], _reader(store, f"clean{l}", list(range(width)))) for l in plan.layers]
        with model.hooks(hooks):
            model.forward(prompts.clean, logits=False)
        clean_read = _read_from_run(unembed, m_site, store).float()
        clean_site = {l: store[f"clean{l}"] for l in plan.layers}
    fn = metric.resolve(clean_read)
    pair_ids = torch.arange(n_pairs, device=device)
    clean_val = _check_values(fn(clean_read, pair_ids), n_pairs, metric).detach()

    acts: dict[int, Tensor] = {}

    def keep(l: int):
        def hook(x: Tensor, ctx):
            if ctx.site.heads is not None:  # a view: give the layer a tensor that is in the graph
                y = x.clone()
                acts[l] = y
                return y
            acts[l] = x
            return None

        return hook

    def embed_leaf(x: Tensor, ctx):
        return x.detach().requires_grad_(True)

    store = {}
    hooks = [(model.site("hook_embed"), embed_leaf)]
    hooks += [(sites[l], keep(l)) for l in plan.layers]
    hooks += _baseline_hooks(model, m_site, read_cols, store, keep_graph=True)
    with torch.enable_grad(), model.hooks(hooks):
        model.forward(prompts.corrupted, logits=False)
        corrupted_vals = _check_values(fn(_read_from_run(unembed, m_site, store).float(), pair_ids), n_pairs, metric)
        wanted = [l for l in plan.layers if acts[l].requires_grad]
        grads = torch.autograd.grad(corrupted_vals.sum(), [acts[l] for l in wanted], allow_unused=True)
    grad = {l: (g if g is not None else torch.zeros_like(acts[l])) for l, g in zip(wanted, grads)}
    corrupted_val = corrupted_vals.detach().float().cpu()

    n_cells = len(plan.cell_layer)
    attr = torch.zeros(n_pairs, n_cells)
    mask = prompts.valid.clone()
    pos_set = torch.zeros(width, dtype=torch.bool)
    pos_set[plan.positions] = True
    mask &= pos_set[None]
    per_layer: dict[int, Tensor] = {}
    for l in plan.layers:
        g = grad.get(l)
        if g is None:
            per_layer[l] = None
            continue
        delta = (clean_site[l].float() - acts[l].detach().float()) * g.float()  # [B, T, ...]
        if plan.component == "z":
            delta = delta.unflatten(-1, (model.n_heads, model.d_head)).sum(-1) if delta.ndim == 3 else delta.sum(-1)
        elif plan.component != "mlp_post":
            delta = delta.sum(-1)
        per_layer[l] = delta.cpu()  # [B, T] or [B, T, units]
    for i, (l, p, u) in enumerate(zip(plan.cell_layer, plan.cell_pos, plan.cell_unit)):
        d = per_layer[l]
        if d is None:
            continue
        if p >= 0:
            attr[:, i] = d[:, p] if u < 0 else d[:, p, u]
        else:
            attr[:, i] = (d[:, :, u] * mask).sum(1)
    values = corrupted_val[:, None] + attr
    for i, ok in enumerate(_cell_valid(plan, prompts)):
        values[~ok, i] = float("nan")
    toks_c, toks_k = _str_tokens(model, prompts.clean_ids), _str_tokens(model, prompts.corrupted_ids)
    result = PatchResult(
        values.reshape(n_pairs, *plan.grid), clean_val.float().cpu(), corrupted_val, component, plan.axes,
        _labels(plan, toks_k, width), list(plan.positions), toks_c, toks_k, metric.name, "attribution",
        {"width": width, "pos_from_end": _from_end(toks_k), "seconds": time.perf_counter() - t_start},
    )
    if exact is True:
        exact = activation_patch(
            model, clean, corrupted, metric, component=component, positions=positions, layers=layers, heads=heads,
            neurons=neurons, per_position=per_position, align=align, batch_size=batch_size,
        )
    if isinstance(exact, PatchResult):
        result.info["correlation"] = attribution_correlation(result, exact)
    return result


def _ranks(x: Tensor) -> Tensor:
    """Ranks 1..n of a 1-D tensor, ties getting the average of their ranks (as
    ``scipy.stats.rankdata``): float64."""
    x = x.reshape(-1)
    _, inverse, counts = torch.unique(x, sorted=True, return_inverse=True, return_counts=True)
    last = counts.cumsum(0).double()  # the highest rank of each distinct value
    avg = last - (counts.double() - 1) / 2
    return avg[inverse]


def _spearman(a: Tensor, b: Tensor) -> float:
    """Spearman's rank correlation with average ranks for ties; NaN when either side is constant
    (or has fewer than 2 values)."""
    if a.numel() < 2:
        return float("nan")
    return _pearson(_ranks(a), _ranks(b))


def _pearson(a: Tensor, b: Tensor) -> float:
    """Pearson's correlation; NaN when either side is constant (or has fewer than 2 values)."""
    a, b = a.reshape(-1).double(), b.reshape(-1).double()
    if a.numel() < 2 or bool((a == a[0]).all()) or bool((b == b[0]).all()):
        return float("nan")  # a constant side: no correlation is defined
    a, b = a - a.mean(), b - b.mean()
    den = (a.norm() * b.norm()).item()
    return float("nan") if den == 0 else float((a @ b).item() / den)


def _check_same_sweep(attribution: PatchResult, exact: PatchResult) -> None:
    """Raise unless the two results are the same sweep, naming the first difference."""
    def differ(what: str, a, b) -> None:
        if a != b:
            raise ValueError(f"the two results are not the same sweep: they differ in {what} "
                             f"(attribution {a!r}, exact {b!r})")

    differ("component", attribution.component, exact.component)
    differ("axes", tuple(attribution.axes), tuple(exact.axes))
    differ("shape", tuple(attribution.values.shape), tuple(exact.values.shape))
    for axis in attribution.axes:
        if axis != "pos":
            differ(f"{axis}s", list(attribution.labels.get(axis, [])), list(exact.labels.get(axis, [])))
    differ("positions", list(attribution.positions), list(exact.positions))
    for i, (a, b) in enumerate(zip(attribution.corrupted_tokens, exact.corrupted_tokens)):
        differ(f"the corrupted prompt of pair {i}", a, b)
    for i, (a, b) in enumerate(zip(attribution.clean_tokens, exact.clean_tokens)):
        differ(f"the clean prompt of pair {i}", a, b)


def attribution_correlation(attribution: PatchResult, exact: PatchResult) -> dict:
    """How well attribution patching tracks exact patching on the same sweep.

    Returns ``pearson`` and ``spearman`` (average ranks for ties, as ``scipy.stats.spearmanr``) of
    the per-cell effects (``values - corrupted``), over every (pair, cell) both have, and
    ``pearson_mean`` over the cells of the pair-averaged effects (NaN-aware means); ``n`` cells.
    A correlation is NaN where either side is constant. The two results must be the same sweep
    (component, axes, layers, positions, heads or neurons, prompts): a difference raises.
    """
    _check_same_sweep(attribution, exact)
    a, e = attribution.effect().reshape(-1), exact.effect().reshape(-1)
    ok = torch.isfinite(a) & torch.isfinite(e)
    a, e = a[ok], e[ok]
    am, em = _nanmean(attribution.effect()).reshape(-1), _nanmean(exact.effect()).reshape(-1)
    okm = torch.isfinite(am) & torch.isfinite(em)
    return {
        "pearson": _pearson(a, e),
        "spearman": _spearman(a, e),
        "pearson_mean": _pearson(am[okm], em[okm]),
        "n": int(a.numel()),
    }
