"""What a sweep is, as both kinds of patching read their arguments.

The prompt pairs (:class:`Prompts`: token ids, left-padded to a common width, and which positions
each pair has), the cells of the sweep (:class:`Plan`: the component, the layers, positions and heads
or neurons, in grid order), the positions and site the metric reads (:class:`Sweep`,
:func:`prepare_sweep`), and the hooks that read a baseline run (:func:`baseline_hooks`,
:func:`reader_hook`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Literal, Sequence, SupportsIndex, cast

import torch
from torch import Tensor

from ..model import Model, index_list, int_list
from ..sites import Site
from .metrics import Metric, as_metric
from .result import pos_from_end, pos_labels
from .runner import Unembed

__all__ = [
    "COMPONENTS",
    "Inputs",
    "Plan",
    "PromptLengthError",
    "Prompts",
    "Sweep",
    "axis_labels",
    "baseline_hooks",
    "cell_valid",
    "check_values",
    "prepare_sweep",
    "read_from_run",
    "reader_hook",
    "str_tokens",
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
# Inputs
# ============================================================================================


@dataclass
class Prompts:
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
        x = cast("dict[str, Any]", x)  # a dict or a mapping-like encoding (BatchEncoding)
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


def _prepare(model: Model, clean: Inputs, corrupted: Inputs, align: str) -> Prompts:
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
    return Prompts(c_ids, k_ids, width, c_enc, k_enc, valid)


def str_tokens(model: Model, ids: list[list[int]]) -> list[list[str]]:
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
# The sweep plan
# ============================================================================================


@dataclass
class Plan:
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
        sizes = {
            "layer": len(self.layers),
            "pos": len(self.positions),
            "head": len(self.units),
            "neuron": len(self.units),
        }
        return tuple(sizes[a] for a in self.axes)


def _plan(model: Model, component: str, width: int, *, layers, positions, heads, neurons, per_position) -> Plan:
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
            units = (
                list(range(model.n_heads))
                if heads is None
                else index_list(heads, model.n_heads, "head", negative=False)
            )
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
                    cl.append(l)
                    cp.append(p)
                    cu.append(u)
        else:
            for u in units:
                cl.append(l)
                cp.append(-1)
                cu.append(u)
    return Plan(component, key, axes, lay, pos, units, per_pos, cl, cp, cu)


def axis_labels(plan: Plan, tokens: list[list[str]], width: int) -> dict[str, list]:
    labels: dict[str, list] = {"layer": list(plan.layers)}
    if "pos" in plan.axes:
        labels["pos"] = pos_labels(plan.positions, tokens[0], width, pos_from_end(tokens))
    for axis in ("head", "neuron"):
        if axis in plan.axes:
            labels[axis] = list(plan.units)
    return labels


def cell_valid(plan: Plan, prompts: Prompts) -> Iterator[Tensor]:
    """Per cell, which pairs have it (``[pairs]`` bool)."""
    pos_set = torch.tensor(plan.positions)
    for p in plan.cell_pos:
        if p >= 0:
            yield prompts.valid[:, p]
        else:
            yield prompts.valid[:, pos_set].any(1)


# ============================================================================================
# Baseline runs
# ============================================================================================


def reader_hook(store: dict, key: str, cols: list[int], *, keep_graph: bool = False, rows: int | None = None):
    """A hook that keeps ``x[:rows, cols]`` (all rows by default)."""

    def fn(x: Tensor, ctx) -> None:
        v = x[:rows, cols] if rows is not None else x[:, cols]
        store[key] = v if keep_graph else v.detach().clone()

    return fn


def check_values(values, n: int, metric: Metric, run: str = "baseline") -> Tensor:
    """The metric of a baseline run must be one finite value per row, ``[n]``: a scalar (a batch mean,
    as TransformerLens metrics return) or ``[n, 1]`` would break the sweep later, less clearly, and a
    NaN baseline would make every cell NaN without a word."""
    shape = tuple(values.shape) if isinstance(values, Tensor) else None
    if shape != (n,):
        got = f"shape {shape}" if shape is not None else f"a {type(values).__name__}"
        hint = (
            (
                " A TransformerLens-style metric that averages over the batch (.mean()) must return the "
                "per-row values instead: remove its .mean()."
            )
            if shape == ()
            else ""
        )
        raise ValueError(
            f"metric {metric.name!r} returned {got} for {n} prompt(s): a metric must return one value per "
            f"row, shape [{n}] (rows are scored independently; the engine batches many patched runs).{hint}"
        )
    if values.is_floating_point():
        bad = (~torch.isfinite(values.detach())).nonzero().reshape(-1).tolist()
        if bad:
            raise ValueError(
                f"metric {metric.name!r} is NaN or infinite on the {run} run of pair(s) {bad[:10]}: no cell of "
                "those pairs could be compared with it; check what the metric reads (token ids, a direction)"
            )
    return values


def _metric_site(model: Model, metric: Metric) -> Site | None:
    return None if metric.site is None else model.site(metric.site)


def read_from_run(unembed: Unembed | None, metric_site: Site | None, store: dict) -> Tensor:
    """The metric's read ``[batch, n_read, width]`` from what a run's reader hook stored."""
    if metric_site is None:
        assert unembed is not None  # a metric of the final logits reads through the unembedding
        return unembed(store["__final__"])
    return store["__metric__"]


def baseline_hooks(model: Model, metric_site: Site | None, read_cols: list[int], store: dict, keep_graph=False):
    if metric_site is None:
        return [
            (model.site("ln_final.hook_normalized"), reader_hook(store, "__final__", read_cols, keep_graph=keep_graph))
        ]
    return [(metric_site, reader_hook(store, "__metric__", read_cols, keep_graph=keep_graph))]


# ============================================================================================
# The sweep's arguments, as both kinds of patching read them
# ============================================================================================


@dataclass
class Sweep:
    """What :func:`activation_patch` and :func:`attribution_patch` both derive from their arguments:
    the metric, the padded prompt pairs, the cells, the positions the metric reads, where it reads
    (``m_site``: a site, or None for the logits, then ``unembed`` computes them), and the component's
    site at every swept layer."""

    metric: Metric
    prompts: Prompts
    plan: Plan
    read_cols: list[int]
    m_site: Site | None
    unembed: Unembed | None
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


def prepare_sweep(
    model: Model,
    clean: Inputs,
    corrupted: Inputs,
    metric: Metric | Callable[[Tensor], Tensor],
    *,
    component: str,
    positions: SupportsIndex | Iterable[SupportsIndex] | None,
    layers: SupportsIndex | Iterable[SupportsIndex] | None,
    heads: int | Sequence[int] | None,
    neurons: int | Sequence[int] | None,
    per_position: bool | None,
    align: Literal["strict", "right"],
) -> Sweep:
    """Check and resolve the arguments shared by both kinds of patching (errors in this order: the
    prompts, the sweep, the metric's positions, its site and tokens)."""
    metric = as_metric(metric)
    prompts = _prepare(model, clean, corrupted, align)
    metric.check_pairs(prompts.n)  # per-pair answer sets / directions: one per pair, or one for all
    plan = _plan(
        model,
        component,
        prompts.width,
        layers=layers,
        positions=positions,
        heads=heads,
        neurons=neurons,
        per_position=per_position,
    )
    read_cols = _resolve_positions(metric.positions, prompts.width, "metric")
    m_site = _metric_site(model, metric)
    unembed = Unembed(model, metric.tokens) if m_site is None else None
    sites = {l: model.site(f"blocks.{l}.{plan.key}") for l in plan.layers}
    return Sweep(metric, prompts, plan, read_cols, m_site, unembed, sites)
