"""Weight orthogonalization: directional ablation made permanent in the weights.

Arditi et al. (arXiv 2406.11717) remove a refusal direction ``u`` from a chat model in two equivalent
ways: at run time, by projecting ``u`` out of every write into the residual stream (directional
ablation, :class:`mechint.AblateDirection` at ``hook_attn_out`` / ``hook_mlp_out`` and at the
embedding), or once, by editing every weight matrix that writes into the residual stream so that its
outputs have no component along ``u``. :func:`orthogonalize_weights` does the second. The residual
stream is the embedding plus the sum of every sublayer's write; when each term is orthogonal to ``u``,
so is the residual stream at every layer and position (BOS included), with no hook left to install:
the edited model can be saved, generated from or fine-tuned like any other.

A write of a linear map ``y = W x + b`` loses its component along a unit vector ``v`` when
``W <- W - v (v^T W)`` and ``b <- b - (b . v) v`` (for an embedding table, each row ``e <- e - (e . v) v``).
What ``v`` is depends on what lies between the map and the residual stream, per family (the paths
come from the family table, :class:`mechint.families.Family`):

- Llama, Qwen2: ``embed_tokens``, ``self_attn.o_proj`` and ``mlp.down_proj`` write directly, so
  ``v = u``. GPT-2 likewise, with the learned position embeddings ``wpe`` as a second embedding and
  ``Conv1D`` projections, whose weight is stored ``[in, out]``. On these families the edited model
  computes what the original computes under ``AblateDirection(u, sites=("hook_attn_out",
  "hook_mlp_out"), positions="all")`` plus ``AblateDirection(u, sites="blocks.0.hook_resid_pre",
  positions="all")``, up to float rounding.
- Gemma 3: the embedding is scaled by a scalar (still linear: ``v = u``), but ``o_proj`` and
  ``down_proj`` write through the RMSNorms ``post_attention_layernorm`` / ``post_feedforward_layernorm``,
  whose output is ``g * n`` with ``n = x / rms(x)`` and a per-layer diagonal gain ``g = 1 + weight``.
  Projecting ``u`` out of ``x`` does not make ``g * n`` orthogonal to ``u``; projecting out
  ``v = unit(g * u)`` does, since ``(g * n) . u = n . (g * u)``, which is zero when ``x`` (hence ``n``)
  is orthogonal to ``g * u``. This is *not* the hook ablation at ``hook_attn_out`` / ``hook_mlp_out``:
  the hook removes ``u`` from the norm's output after normalising, while the weight edit changes the
  norm's input, which the norm then rescales by a different ``rms``. Both leave the residual stream
  orthogonal to ``u``; the activations differ.
- BLOOM: the attention ``dense`` and ``mlp.dense_4h_to_h`` projections (with biases) write directly
  (``v = u``; their outputs are the family's ``hook_attn_out`` / ``hook_mlp_out``, before BLOOM adds the
  residual), but the word embeddings pass through ``word_embeddings_layernorm``, a LayerNorm
  ``y = g * (x - mean(x)) / std(x) + b``. Then ``y . u = (x - mean(x)) . (g * u) / std(x) + b . u``, and
  ``(x - mean(x) 1) . w = x . (w - mean(w) 1)`` for any ``w``; so ``y . u = 0`` for every token exactly
  when ``b . u = 0`` and each embedding row ``x`` is orthogonal to ``center(g * u)``. The bias is
  orthogonalized against ``u`` and the embedding rows against ``v = unit(center(g * u))`` (left as they
  are where ``center(g * u)`` is zero: the centred input then never reaches ``u``). As for Gemma 3 this
  differs from the hook ablation at ``blocks.0.hook_resid_pre``, which projects the LayerNorm's output.

Where the LM head shares its weight with an embedding table (tied embeddings: gemma-3-270m, GPT-2,
BLOOM), the head first gets its own copy of the original weight and the config says
``tie_word_embeddings=False``, so the unembedding is unchanged and stays so when the model is saved and
loaded again. Each weight is edited in float64 and rounded back to its dtype once, so a bfloat16 model
gets one rounding per entry (its writes are then orthogonal to ``u`` up to that rounding).
"""

from __future__ import annotations

import copy
from typing import Any, cast

import torch
from jaxtyping import Float
from torch import Tensor, nn

from .. import _validate
from ..families import Family
from ..model import Model, text_config

__all__ = ["orthogonalize_weights"]

# Rows per float64 block when editing a weight: bounds the temporary memory (a 262k-token embedding
# would need gigabytes in float64 at once) at about 32 MB.
_BLOCK_ELEMENTS = 1 << 22

# A centred gain-weighted direction smaller than this fraction of the uncentred one is rounding noise
# of a constant vector (which the centring removes exactly): there is nothing to project out.
_CENTRED_ZERO = 1e-12


def orthogonalize_weights(model: Model, direction: Float[Tensor, " d_model"], *, inplace: bool = False) -> Model:
    """A model whose weights that write into the residual stream have ``unit(direction)`` projected out.

    The permanent version of directional ablation (Arditi et al., arXiv 2406.11717): the residual stream
    of the returned model has zero projection on ``u = unit(direction)`` at every layer and position,
    BOS included, with no hooks. On Llama, Qwen2 and GPT-2 it computes what the original computes under
    the hook ablation at the embedding, ``hook_attn_out`` and ``hook_mlp_out`` (``positions="all"``); on
    Gemma 3 and BLOOM, whose writes pass through a norm with a per-dimension gain, it projects out the
    direction that makes the norm's output orthogonal to ``u``, which differs from projecting the
    norm's output (the module docstring derives each case).

    Args:
        model: the model to edit; left unchanged unless ``inplace``.
        direction: one vector ``[d_model]`` (any scale; it is normalised in float64), the same for every
            layer.
        inplace: edit ``model``'s own weights and return ``model``. By default the Hugging Face model
            is deep-copied (on its device: memory for a second model) and wrapped in a new
            :class:`~mechint.Model` with the same tokenizer, named ``"<name>+orthogonalized"``.

    A tied LM head is untied first and keeps the original unembedding. Weights are edited in float64
    and rounded back to their dtype once.

    Raises:
        ValueError: a direction that is not ``[d_model]``, is zero, or has NaN or infinite entries; a
            copy asked for while hooks are installed on ``model`` (inside :func:`mechint.intervene` or
            :meth:`Model.hooks`), which the copy would keep.
        TypeError: a projection or embedding whose weight is not a plain floating-point matrix (e.g.
            quantized), or a projection module other than ``nn.Linear`` / GPT-2's ``Conv1D``.
    """
    if not isinstance(model, Model):
        raise TypeError(f"orthogonalize_weights takes a mechint Model, got {_validate.given(model)}")
    _validate.boolean("inplace", inplace)
    u = _unit_direction(direction, model.d_model)
    if not inplace and model.active_hooks:
        raise ValueError(
            f"{model.active_hooks} hook function(s) are installed on the model (an intervene() or model.hooks() "
            "context is open): a copy of the model would keep them. Orthogonalize outside that context, or "
            "pass inplace=True."
        )
    hf = model.hf if inplace else copy.deepcopy(model.hf)
    edits = _residual_writes(hf, model.family, u)
    _untie_lm_head(hf, model.family, [param for _, param, _, _ in edits])
    done: set[int] = set()
    for _, param, axis, v in edits:
        if id(param) not in done:  # a weight shared by two writes is edited once
            done.add(id(param))
            _project_out_(param, v, axis)
    if inplace:
        return model
    return Model(hf, model.tokenizer, name=f"{model.name}+orthogonalized")


def _unit_direction(direction, d_model: int) -> Tensor:
    """``unit(direction)`` as float64 on the CPU, checked: one vector of width ``d_model``, finite, nonzero."""
    d = _validate.numbers("the direction", direction).detach()
    if d.ndim != 1 or d.shape[0] != d_model:
        raise ValueError(
            f"the direction must be one vector [d_model] with d_model={d_model} (the same direction for every "
            f"layer), got shape {tuple(d.shape)}"
        )
    d = d.to(device="cpu", dtype=torch.float64)
    _validate.finite("the direction", d)
    norm = d.norm()
    if norm == 0:
        raise ValueError("the direction is zero: it has no unit vector to project out")
    return d / norm


def _through_norm(norm: nn.Module, u: Tensor, gain_offset: float) -> Tensor | None:
    """The unit vector ``v`` such that a norm's output ``g * c(x) / s(x)`` (``c`` centres for a
    LayerNorm, is the identity for an RMSNorm) is orthogonal to ``u`` for every ``x`` orthogonal to
    ``v``: ``unit(c(g * u))``. None where ``c(g * u)`` is zero (no input reaches ``u``). The norm's bias,
    if any, is edited separately."""
    weight = getattr(norm, "weight", None)
    gain = torch.ones_like(u) if weight is None else weight.detach().to("cpu", torch.float64) + gain_offset
    scaled = gain * u
    if isinstance(norm, nn.LayerNorm):
        centred = scaled - scaled.mean()
        if centred.norm() <= _CENTRED_ZERO * scaled.norm():
            return None
        scaled = centred
    size = scaled.norm()
    return None if size == 0 else scaled / size


def _output_axis(module: nn.Module, what: str) -> int:
    """The axis of a projection's weight that indexes its outputs (``nn.Linear``: 0, ``[out, in]``;
    GPT-2's ``Conv1D``: 1, ``[in, out]``)."""
    from transformers.pytorch_utils import Conv1D

    if isinstance(module, nn.Linear):
        return 0
    if isinstance(module, Conv1D):
        return 1
    raise TypeError(
        f"{what} is a {type(module).__name__}; orthogonalize_weights edits nn.Linear and Conv1D projections"
    )


Edit = tuple[str, Tensor, int, Tensor]  # (what, parameter, its d_model axis, unit vector to remove)


def _residual_writes(hf: nn.Module, family: Family, u: Tensor) -> list[Edit]:
    """Every parameter whose output is written into the residual stream, with the direction to project
    out of it (module docstring). Norm gains are read here, before anything is edited."""
    edits: list[Edit] = []
    offset = family.norm_gain_offset

    def add(what: str, param, axis: int, v: Tensor | None) -> None:
        if param is None or v is None:
            return
        if not isinstance(param, Tensor) or not param.is_floating_point() or param.ndim not in (1, 2):
            raise TypeError(
                f"{what} is not a floating-point vector or matrix ({_validate.given(param)}); orthogonalize_weights "
                "edits unquantized weights only"
            )
        if param.shape[axis] != u.shape[0]:
            raise ValueError(f"{what} has {param.shape[axis]} outputs, not d_model={u.shape[0]}")
        edits.append((what, param, axis, v))

    def norm_direction(path: str | None, root: nn.Module, what: str) -> Tensor | None:  # None: nothing reaches u
        if path is None:
            return u
        norm = root.get_submodule(path)
        add(f"{what}.bias", getattr(norm, "bias", None), 0, u)
        return _through_norm(norm, u, offset)

    v_embed = norm_direction(family.embed_norm, hf, family.embed_norm or "")
    for path in family.embeddings:
        add(f"{path}.weight", hf.get_submodule(path).weight, 1, v_embed)
    for i, layer in enumerate(cast(nn.ModuleList, hf.get_submodule(family.layers))):
        prefix = f"{family.layers}.{i}"
        for proj_path, norm_path in (
            (family.attn_out_proj, family.attn_post_norm),
            (family.mlp_out_proj, family.mlp_post_norm),
        ):
            v = norm_direction(norm_path, layer, f"{prefix}.{norm_path}")
            proj = layer.get_submodule(proj_path)
            axis = _output_axis(proj, f"{prefix}.{proj_path}")
            add(f"{prefix}.{proj_path}.weight", proj.weight, axis, v)
            add(f"{prefix}.{proj_path}.bias", getattr(proj, "bias", None), 0, v)
    return edits


def _storage(t: Tensor) -> int:
    return t.untyped_storage().data_ptr()


def _untie_lm_head(hf: nn.Module, family: Family, edited: list[Tensor]) -> None:
    """Give the LM head its own copy of its weight where it shares storage with a weight about to be
    edited (tied embeddings), and record in the config that the weights are no longer tied."""
    head = hf.get_submodule(family.lm_head)
    weight = cast(Tensor, head.weight)
    if not any(_storage(p) == _storage(weight) for p in edited):
        return
    head.weight = nn.Parameter(weight.detach().clone(), requires_grad=weight.requires_grad)
    hf_config: Any = hf.config  # a PretrainedConfig (nn.Module's __getattr__ types it Tensor | Module)
    for config in {id(c): c for c in (hf_config, text_config(hf_config))}.values():
        if hasattr(config, "tie_word_embeddings"):
            config.tie_word_embeddings = False
    # transformers records tied pairs at init and re-ties them from this record (tie_weights())
    key = f"{family.lm_head}.weight"
    for module in hf.modules():
        tied = getattr(module, "all_tied_weights_keys", None)
        if isinstance(tied, dict):
            # a plain attribute: nn.Module.__setattr__ is typed for tensors and modules only
            module.all_tied_weights_keys = {k: v for k, v in tied.items() if not (k.endswith(key) or v.endswith(key))}  # pyright: ignore[reportArgumentType]


@torch.no_grad()
def _project_out_(param: Tensor, v: Tensor, axis: int) -> None:
    """Remove the component along the unit vector ``v`` from every vector of ``param`` along ``axis``
    (its d_model axis), in float64 blocks, rounding back to ``param``'s dtype once."""
    data = param.data
    rows = data[None] if data.ndim == 1 else data.movedim(axis, -1)  # a view [n, d_model]
    device = data.device if data.device.type in ("cpu", "cuda") else torch.device("cpu")
    v = v.to(device)
    step = max(1, _BLOCK_ELEMENTS // rows.shape[-1])
    for start in range(0, rows.shape[0], step):
        block = rows[start : start + step]
        x = block.to(device=device, dtype=torch.float64)
        x -= (x @ v)[:, None] * v
        block.copy_(x)
