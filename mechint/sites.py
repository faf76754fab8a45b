"""Site names: TransformerLens vocabulary resolved to a module of the wrapped model.

``blocks.3.hook_resid_post`` names the residual stream after block 3; :func:`resolve_sites` turns
names into :class:`Site` objects that the hook engine uses, and rejects unknown names with the nearest
valid ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, cast

from torch import nn

from ._suggest import nearest
from .families import Family, ModuleSite

_BLOCK_RE = re.compile(r"^blocks\.(\d+)\.(.+)$")


class UnknownSiteError(KeyError):
    """A site name that the model does not have; the message lists the nearest valid names."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


@dataclass(frozen=True)
class Site:
    """One named activation of one model.

    Attributes:
        name: the TransformerLens name, e.g. ``blocks.3.attn.hook_z``.
        layer: block index, or ``None`` for model-level sites.
        key: the name without ``blocks.{l}.`` (``attn.hook_z``).
        module: the module whose input or output carries the activation.
        where: ``"in"`` or ``"out"``.
        inplace: writes go into the tensor itself (it is also the layer's residual).
        heads: ``(n_heads, d_head)`` when the activation is viewed per head, else ``None``
            (``(n_kv_heads, d_head)`` for the keys and values of grouped-query attention).
        order: position in the forward pass, for sorting sites and stopping early.
        index: which element of the module's tuple output carries the activation (``"out"`` sites).
        fused: ``(groups, parts, which)``: the activation is part ``which`` of each of ``groups``
            blocks of ``parts`` equal parts of the module output's last axis (a fused q/k/v
            projection), else ``None``.
        pattern: an attention map ``[batch, head, query, key]`` (the pattern, or with ``scores`` the
            scores before the softmax): read only, ``positions`` pick queries, and hooking it runs
            the forward with the eager attention implementation.
        scores: the attention scores before the softmax: the input of the softmax that ``module``
            computes inside its forward, read there (``where`` and ``index`` do not apply).
    """

    name: str
    layer: int | None
    key: str
    module: nn.Module
    where: str
    inplace: bool
    heads: tuple[int, int] | None
    order: tuple[int, int]
    index: int = 0
    fused: tuple[int, int, int] | None = None
    pattern: bool = False
    scores: bool = False


# Rank of each block site inside a block, in forward order (the order in which the hooks fire); used
# to stop a forward after the last site a caller needs. A family whose module fires a site later
# names the site it fires with (ModuleSite.order_as).
_BLOCK_ORDER = {
    "hook_resid_pre": 0,
    "attn.hook_q": 1,
    "attn.hook_k": 2,
    "attn.hook_v": 3,
    "attn.hook_attn_scores": 4,
    "attn.hook_z": 5,
    "attn.hook_pattern": 6,
    "hook_attn_out": 7,
    "hook_resid_mid": 8,
    "mlp.hook_post": 9,
    "hook_mlp_out": 10,
    "hook_resid_post": 11,
}

# Block sites that are part of the attention computation: listed by site_names(attention=True)
# (Model.attention_site_names), not among the residual-stream and sublayer sites of Model.site_names.
ATTENTION_KEYS = ("attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_attn_scores", "attn.hook_pattern")


# TransformerLens sites that the hook engine cannot read: why, and what to read instead.
_NOT_YET = {
    "attn.hook_rot_q": "queries after RoPE exist only inside the attention forward; read attn.hook_q (before RoPE)",
    "attn.hook_rot_k": "keys after RoPE exist only inside the attention forward; read attn.hook_k (before RoPE)",
}


def _rank(family: Family, key: str) -> int:
    spec = family.block_sites[key]
    return _BLOCK_ORDER.get(spec.order_as or key, 99)


def get_submodule(root: nn.Module, path: str) -> nn.Module:
    return root.get_submodule(path) if path else root


def site_names(family: Family, n_layers: int, *, attention: bool = False) -> list[str]:
    """Every site name of a model of this family, in forward order: the residual-stream, sublayer
    and head-output sites, and with ``attention`` also the attention sites (``attn.hook_q``,
    ``hook_k``, ``hook_v``, ``hook_attn_scores``, ``hook_pattern``) wherever they fire."""
    names = [k for k in family.top_sites if k != "ln_final.hook_normalized"]
    keys = [k for k in family.block_sites if attention or k not in ATTENTION_KEYS]
    for layer in range(n_layers):
        for key in sorted(keys, key=lambda k: _rank(family, k)):
            names.append(f"blocks.{layer}.{key}")
    names += [k for k in family.top_sites if k == "ln_final.hook_normalized"]
    return names


def _unknown(name: str, valid: list[str]) -> UnknownSiteError:
    # Suggest among names of the same shape first (keep the layer the user typed, if any).
    match = _BLOCK_RE.match(name)
    pool = valid
    if match:
        same_layer = [v for v in valid if v.startswith(f"blocks.{match.group(1)}.")]
        pool = same_layer or valid
    near = nearest(name, pool, n=5, cutoff=0.4) or nearest(name, valid, n=5, cutoff=0.0)
    return UnknownSiteError(
        f"unknown site {name!r}; nearest valid names: {', '.join(near)}. See Model.site_names and "
        "Model.attention_site_names for all of them."
    )


def resolve_site(
    name: str,
    *,
    hf_model: nn.Module,
    family: Family,
    n_layers: int,
    n_heads: int,
    d_head: int,
    n_kv_heads: int | None = None,
) -> Site:
    """Turn one site name into a :class:`Site` bound to ``hf_model``'s modules (``n_kv_heads``: the
    key/value heads of grouped-query attention, default ``n_heads``)."""
    _check_name(name)
    match = _BLOCK_RE.match(name)
    if match:
        if match.group(1) != str(int(match.group(1))):  # one spelling per site: no leading zeros
            raise UnknownSiteError(
                f"unknown site {name!r}: layer numbers are written without leading zeros "
                f"(did you mean {f'blocks.{int(match.group(1))}.{match.group(2)}'!r}?)"
            )
        layer, key = int(match.group(1)), match.group(2)
        spec: ModuleSite | None = family.block_sites.get(key)
        if spec is None or not 0 <= layer < n_layers:
            if spec is not None:
                raise _unknown_layer(name, layer, n_layers)
            if key in _NOT_YET:
                raise UnknownSiteError(f"{name!r} is not a mechint site yet: {_NOT_YET[key]}")
            raise _unknown(name, site_names(family, n_layers, attention=True))
        layer_module = cast(nn.ModuleList, get_submodule(hf_model, family.layers))[layer]
        module = get_submodule(layer_module, spec.path)
        order = (layer + 1, _rank(family, key))
    else:
        spec = family.top_sites.get(name)
        if spec is None:
            raise _unknown(name, site_names(family, n_layers, attention=True))
        layer, key = None, name
        module = get_submodule(hf_model, spec.path)
        # Model-level sites before the blocks run in the order the family lists them (GPT-2: wte,
        # then wpe), so a forward stopped after the last requested one has run every earlier one.
        order = (n_layers + 1, 0) if name.startswith("ln_final") else (0, list(family.top_sites).index(name))
    counts = {"n_heads": n_heads, "n_kv_heads": n_heads if n_kv_heads is None else n_kv_heads}
    heads = (counts[spec.heads], d_head) if spec.heads is not None else None
    fused = None
    if spec.fused is not None:
        groups, parts, which = spec.fused
        fused = (counts[groups] if isinstance(groups, str) else groups, parts, which)
    pattern = spec.pattern or spec.scores  # both are attention maps [batch, head, query, key]
    return Site(
        name, layer, key, module, spec.where, spec.inplace, heads, order, spec.index, fused, pattern, spec.scores
    )


def _check_name(name) -> None:
    if not isinstance(name, str):
        raise TypeError(
            f"site names are strings such as 'blocks.3.hook_resid_post', got {name!r} ({type(name).__name__})"
        )


def _unknown_layer(name: str, layer: int, n_layers: int) -> UnknownSiteError:
    return UnknownSiteError(
        f"unknown site {name!r}: layer {layer} is out of range, the model has layers 0..{n_layers - 1}"
    )


def expand_sites(names: str | Iterable[str], n_layers: int) -> list[str]:
    """Expand shorthand: a key without ``blocks.`` such as ``"hook_resid_post"`` means that key at
    every layer; ``"blocks.*.hook_mlp_out"`` likewise. Full names pass through unchanged."""
    if isinstance(names, (str, Site)) or not isinstance(names, Iterable):
        names = [names]
    out: list[str] = []
    for name in names:
        if isinstance(name, Site):
            name = name.name
        _check_name(name)
        if name.startswith("blocks.*."):
            out += [f"blocks.{l}.{name[len('blocks.*.') :]}" for l in range(n_layers)]
        elif name.startswith(("hook_resid", "hook_attn_out", "hook_mlp_out", "attn.", "mlp.")):
            out += [f"blocks.{l}.{name}" for l in range(n_layers)]
        else:
            out.append(name)
    seen: set[str] = set()
    return [n for n in out if not (n in seen or seen.add(n))]
