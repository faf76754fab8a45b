"""Parameters by name: layer index and module kind, layouts (names and shapes) and their mismatches,
and the chunked walk over two models' tensors that every pass of :mod:`mechint.weights` streams through."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Union

from torch import Tensor, nn

from .. import _validate
from .._suggest import did_you_mean, nearest
from ..families import Family, UnsupportedArchitectureError, family_for_config
from ..model import Model

Weights = Union[Model, nn.Module, Mapping[str, Tensor]]
"""A :class:`Model`, a bare ``nn.Module``, or a mapping of parameter name -> tensor (for ``tuned`` only)."""

KINDS: tuple[str, ...] = (
    "attn_q", "attn_k", "attn_v", "attn_qkv", "attn_o", "mlp_gate", "mlp_up", "mlp_down", "norm", "embed",
    "lm_head", "other",
)  # fmt: skip
"""Module kinds :func:`module_kind` gives a parameter (``attn_qkv``: GPT-2's ``c_attn``, BLOOM's ``query_key_value``)."""

SCOPES: tuple[str, ...] = ("global", "tensor", "layer")

_CHUNK = 1 << 22  # entries per streamed chunk: bounds the temporaries of one tensor's delta

# module name (the last path component) -> kind, across the families of mechint.families
_LEAF_KINDS = {
    "q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_o",
    "c_attn": "attn_qkv", "query_key_value": "attn_qkv",
    "gate_proj": "mlp_gate", "up_proj": "mlp_up", "down_proj": "mlp_down",
    "c_fc": "mlp_up", "dense_h_to_4h": "mlp_up", "dense_4h_to_h": "mlp_down",
    "embed_tokens": "embed", "wte": "embed", "wpe": "embed", "word_embeddings": "embed", "lm_head": "lm_head",
}  # fmt: skip
# names that mean different things under different parents (GPT-2's c_proj, BLOOM's dense)
_PARENT_LEAF_KINDS = {
    ("attn", "c_proj"): "attn_o",
    ("mlp", "c_proj"): "mlp_down",
    ("self_attention", "dense"): "attn_o",
}
_GENERIC_LAYER = re.compile(r"(?:^|\.)(?:layers|h|blocks)\.(\d+)\.")


def module_kind(name: str, family: Family | None = None) -> str:
    """The kind (one of :data:`KINDS`) of the parameter ``name`` (``"model.layers.3.mlp.up_proj.weight"``
    -> ``"mlp_up"``): from the family's module paths where ``family`` is given, else from the module
    names every supported family uses. Biases take their module's kind."""
    module = name.rpartition(".")[0]
    parts = module.split(".")
    leaf, parent = parts[-1], (parts[-2] if len(parts) > 1 else "")
    if family is not None:
        if module == family.lm_head:
            return "lm_head"
        if module in family.embeddings:
            return "embed"
        layer = layer_of(name, family)
        if layer is not None:
            inner = module[len(f"{family.layers}.{layer}.") :]
            if inner == family.attn_out_proj:
                return "attn_o"
            if inner == family.mlp_out_proj:
                return "mlp_down"
    if (parent, leaf) in _PARENT_LEAF_KINDS:
        return _PARENT_LEAF_KINDS[(parent, leaf)]
    if leaf in _LEAF_KINDS:
        return _LEAF_KINDS[leaf]
    if "norm" in leaf or leaf.startswith("ln_"):
        return "norm"
    return "other"


def layer_of(name: str, family: Family | None) -> int | None:
    """The decoder layer index of parameter ``name``, or None outside the layers (embeddings, final norm, head)."""
    if family is not None:
        prefix = family.layers + "."
        if name.startswith(prefix):
            return int(name[len(prefix) :].split(".", 1)[0])
        return None
    found = _GENERIC_LAYER.search(name)
    return int(found.group(1)) if found else None


def weights_of(value, what: str, *, mapping: bool = True) -> tuple[dict[str, Tensor], Family | None, str]:
    """``(name -> tensor, family or None, label)`` of a Model, an nn.Module or (where allowed) a mapping."""
    if isinstance(value, Model):
        return dict(value.hf.named_parameters()), value.family, value.name
    if isinstance(value, nn.Module):
        family = None
        config = getattr(value, "config", None)
        if config is not None:
            try:
                family = family_for_config(config)
            except UnsupportedArchitectureError:
                pass
        return dict(value.named_parameters()), family, type(value).__name__
    if mapping and isinstance(value, Mapping):
        bad = [k for k, v in value.items() if not isinstance(v, Tensor)]
        if bad:
            raise TypeError(f"{what} maps parameter names to tensors; {bad[0]!r} is {_validate.given(value[bad[0]])}")
        return dict(value), None, "state dict"
    allowed = "a mechint Model or an nn.Module" + (" or a mapping name -> tensor" if mapping else "")
    raise TypeError(f"{what} must be {allowed}, got {_validate.given(value)}")


def layout_mismatch(a: Mapping[str, tuple], b: Mapping[str, tuple], a_label: str, b_label: str) -> str | None:
    """Why two layouts (name -> shape) differ, naming the first differing tensors and their shapes; None if equal."""
    only_a = [n for n in a if n not in b]
    only_b = [n for n in b if n not in a]
    if only_a or only_b:
        lines = []
        for names, has, lacks, other in ((only_a, a_label, b_label, b), (only_b, b_label, a_label, a)):
            if names:
                shown = ", ".join(f"{n!r} {tuple(a[n] if n in a else b[n])}" for n in names[:3])
                more = f" and {len(names) - 3} more" if len(names) > 3 else ""
                near = did_you_mean(nearest(names[0], [n for n in other if n not in a or n not in b], n=1))
                lines.append(f"{has} has {shown}{more} that {lacks} lacks{near}")
        return "parameter names differ: " + "; ".join(lines)
    differ = [n for n in a if tuple(a[n]) != tuple(b[n])]
    if differ:
        shown = ", ".join(f"{n!r} is {tuple(a[n])} in {a_label} but {tuple(b[n])} in {b_label}" for n in differ[:3])
        return f"parameter shapes differ ({len(differ)} tensors): {shown}"
    return None


def matched(base, tuned) -> tuple[dict[str, Tensor], dict[str, Tensor], Family | None, str, str]:
    """Both models' parameters, after checking they are one architecture (families, names, shapes)."""
    b, b_family, b_label = weights_of(base, "base", mapping=False)
    t, t_family, t_label = weights_of(tuned, "tuned")
    problems = []
    if b_family is not None and t_family is not None and b_family.name != t_family.name:
        problems.append(f"base is a {b_family.name} model and tuned a {t_family.name} model")
    why = layout_mismatch(shapes_of(b), shapes_of(t), "base", "tuned")
    if why:
        problems.append(why)
    if problems:
        raise ValueError(f"base ({b_label}) and tuned ({t_label}) are not one architecture: " + "; ".join(problems))
    return b, t, b_family or t_family, b_label, t_label


def shapes_of(params: Mapping[str, Tensor]) -> dict[str, tuple[int, ...]]:
    return {n: tuple(p.shape) for n, p in params.items()}


def chunks(base: Tensor, tuned: Tensor) -> Iterator[tuple[int, Tensor, Tensor]]:
    """``(offset, base chunk, tuned chunk)`` over the flattened tensors, tuned moved to base's device."""
    b, t = base.detach().reshape(-1), tuned.detach().reshape(-1)
    for start in range(0, b.numel(), _CHUNK):
        yield start, b[start : start + _CHUNK], t[start : start + _CHUNK].to(b.device)
