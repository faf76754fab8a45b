"""Site names: TransformerLens vocabulary resolved to a module of the wrapped model.

``blocks.3.hook_resid_post`` names the residual stream after block 3; :func:`resolve_sites` turns
names into :class:`Site` objects that the hook engine uses, and rejects unknown names with the nearest
valid ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

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
        heads: ``(n_heads, d_head)`` when the activation is viewed per head, else ``None``.
        order: position in the forward pass, for sorting sites and stopping early.
    """

    name: str
    layer: int | None
    key: str
    module: nn.Module
    where: str
    inplace: bool
    heads: tuple[int, int] | None
    order: tuple[int, int]


# Rank of each block site inside a block, in forward order; used to stop a forward after the last
# site a caller needs.
_BLOCK_ORDER = {
    "hook_resid_pre": 0,
    "attn.hook_z": 1,
    "hook_attn_out": 2,
    "hook_resid_mid": 3,
    "mlp.hook_post": 4,
    "hook_mlp_out": 5,
    "hook_resid_post": 6,
}


def get_submodule(root: nn.Module, path: str) -> nn.Module:
    return root.get_submodule(path) if path else root


def site_names(family: Family, n_layers: int) -> list[str]:
    """Every site name of a model of this family, in forward order."""
    names = [k for k in family.top_sites if k != "ln_final.hook_normalized"]
    for layer in range(n_layers):
        for key in sorted(family.block_sites, key=lambda k: _BLOCK_ORDER.get(k, 99)):
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
        f"unknown site {name!r}; nearest valid names: {', '.join(near)}. See Model.site_names for all of them."
    )


def resolve_site(
    name: str,
    *,
    hf_model: nn.Module,
    family: Family,
    n_layers: int,
    n_heads: int,
    d_head: int,
) -> Site:
    """Turn one site name into a :class:`Site` bound to ``hf_model``'s modules."""
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
            raise _unknown(name, site_names(family, n_layers))
        layer_module = get_submodule(hf_model, family.layers)[layer]
        module = get_submodule(layer_module, spec.path)
        order = (layer + 1, _BLOCK_ORDER.get(key, 99))
    else:
        spec = family.top_sites.get(name)
        if spec is None:
            raise _unknown(name, site_names(family, n_layers))
        layer, key = None, name
        module = get_submodule(hf_model, spec.path)
        # Model-level sites before the blocks run in the order the family lists them (GPT-2: wte,
        # then wpe), so a forward stopped after the last requested one has run every earlier one.
        order = (n_layers + 1, 0) if name.startswith("ln_final") else (0, list(family.top_sites).index(name))
    heads = (n_heads, d_head) if key == "attn.hook_z" else None
    return Site(name, layer, key, module, spec.where, spec.inplace, heads, order)


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
