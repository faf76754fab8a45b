"""Causal interventions: add or ablate a direction, set / add to / scale chosen MLP neurons.

An intervention is a small object that turns into ``(site, fn)`` pairs for the one hook engine
(:meth:`Model.hooks`); :func:`intervene` applies any number of them as a context manager. Inside it,
every forward pass of the model is intervened on: a plain forward, :func:`mechint.collect` (its reads
see the written values), and every step of :meth:`Model.generate` with the KV cache on::

    # direction, refusal: [d_model] or [n_layers, d_model], e.g. from mechint.diff_in_means
    steer = AddDirection(direction, 300.0, layers=[6])    # alpha * unit(direction): alpha in residual units
    with intervene(model, steer, AblateDirection(refusal, layers=[6])):
        model.generate(["Tell me about"], max_new_tokens=20)

``alpha`` is a length in the residual stream, whose norm is large: scale it by the class gap along
the direction (as ``experiments/direction_intervention.py`` does), not by 1.

:func:`intervene` is the one way to apply interventions; it also takes raw ``(site, fn)`` pairs of
the hook engine (:func:`mechint.set_value`, :func:`mechint.add_value`, :func:`mechint.scale_value`, a
function of your own), so an effect no class covers joins the others in one context.

Interventions apply in the order given (at one site, the first given acts first; across sites the
forward order decides). Directions are kept on the CPU and moved to a device once (not once per
generation step); the arithmetic runs in float32 (or the activation's dtype if wider) and the result
is rounded back once, so a bfloat16 model sees one rounding instead of several. Cells outside the
chosen rows and positions are left bit for bit as they were.

Positions and rows follow the engine (:mod:`mechint.positions`): non-negative positions are
absolute (counted from the start of the padded sequence; during generation, from the start of the
prompt), negative ones count from the end of the current call (``-1``: the last token of a forward,
the newest token of each generation step), and :func:`mechint.from_text_start` counts them from each
row's first real (non-pad) token instead, so that they name the same tokens of a text in any batch.

The default leaves each text's first token alone: the BOS token, or whatever token a chat template
writes first (SmolLM2's ``<|im_start|>``), is the attention sink every later token reads; an edit
there moves every later position, and a chat model can then generate garbage. So ``positions=None``
(the default) means ``from_text_start(slice(1, None))``: every token but each text's first, in
left-padded batches, under :func:`mechint.collect` and at every generation step, with the first
token's cells left bit for bit as they were (on a text without a BOS, as GPT-2 tokenizes it, its
first word is left alone too). ``positions="all"`` (:data:`mechint.ALL_POSITIONS`) acts on every
position, the first included; any other ``positions=`` acts where it says. (The raw write helpers
:func:`mechint.set_value` ... take ``None`` literally: see there.)

Writing a custom intervention takes public names only: subclass :class:`Intervention`, resolve its
sites with :meth:`Model.site` / :meth:`Model.sites`, its positions with :func:`resolve_positions`
(the default above), and build each hook function with :func:`cell_writer`, which hands the chosen
cells to an update function and leaves every other cell as it was (or write the hook function with
:func:`mechint.positions.cells` directly)::

    from mechint.interventions import Intervention, cell_writer, resolve_positions
    from mechint.positions import per_row

    class ScaleResidual(Intervention):  # the residual after `layer` times `factor` (one, or one per row)

        def __init__(self, layer, factor, *, positions=None, rows=None):
            self.layer, self.factor = layer, torch.as_tensor(factor, dtype=torch.float32)
            self.positions, self.rows = positions, rows

        def hooks(self, model):
            site = model.site(f"blocks.{self.layer}.hook_resid_post")

            def update(cells, ctx, picked):  # cells: [rows, pos, d_model] (float32 or wider)
                f = self.factor.to(cells.device, cells.dtype).reshape(-1, 1, 1)
                return cells * per_row(f, picked, cells.ndim)  # one factor per chosen row

            return [(site, cell_writer(update, resolve_positions(model, self.positions), self.rows))]

    with intervene(model, ScaleResidual(1, 0.5)):   # every token but BOS, where the tokenizer adds one
        model.generate(["Tell me about"], max_new_tokens=20)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import SupportsIndex, cast

import torch
from jaxtyping import Float
from torch import Tensor

from . import _validate
from .device_copies import DeviceCopies
from .hooks import HookContext, HookFn
from .model import Model, int_list
from .positions import ALL_POSITIONS, Index, Picked, cells, from_text_start, per_row
from .sites import Site

__all__ = [
    "AblateDirection",
    "AddDirection",
    "EditNeurons",
    "Intervention",
    "cell_writer",
    "intervene",
    "hook_pairs",
    "intervention_hooks",
    "resolve_positions",
]

_FULL_NAME = re.compile(r"^blocks\.\d+\.")
_EDIT_MODES = ("set", "add", "scale")


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------


def _site_width(model: Model, site: Site) -> int:
    """Width of a site's vectors: ``d_mlp`` for ``mlp.hook_post``, ``n_heads * d_head`` for
    ``attn.hook_z`` (the heads concatenated, as the output projection reads them), else ``d_model``."""
    if site.key == "mlp.hook_post":
        return model.d_mlp
    if site.heads is not None:
        return site.heads[0] * site.heads[1]
    return model.d_model


def _width_name(site: Site) -> str:
    if site.key == "mlp.hook_post":
        return "d_mlp"
    if site.heads is not None:
        return "n_heads * d_head"
    return "d_model"


def _resolve_sites(
    model: Model, sites: str | Iterable[str], layers: SupportsIndex | Iterable[SupportsIndex] | None
) -> list[Site]:
    """Sites from names; ``layers`` picks the layers of bare keys (``"hook_resid_post"``)."""
    names = [sites] if isinstance(sites, str) else list(sites)
    if not names:
        raise ValueError("no sites given")
    if layers is None:
        return model.sites(names)
    chosen = model.layer_list(layers)
    out: list[Site] = []
    for name in names:
        key = name.removeprefix("blocks.*.")
        if _FULL_NAME.match(key):
            raise ValueError(
                f"layers={chosen} picks the layers of bare site keys such as 'hook_resid_post'; "
                f"{name!r} already names its layer: drop layers= or give the key alone"
            )
        if key in model.family.top_sites:
            raise ValueError(f"{name!r} is a model-level site with no layers; drop layers= to use it")
        out += [model.site(f"blocks.{l}.{key}") for l in chosen]  # unknown keys: nearest names
    seen: set[str] = set()
    return [s for s in out if not (s.name in seen or seen.add(s.name))]


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


def _amount(name: str, value, per: str | None = None) -> Tensor:
    """A finite number (or, with ``per``, one number per row or layer: ``[k]``) as float64 on the CPU."""
    v = _validate.numbers(name, value).detach()
    if per is not None and v.ndim > 1:
        raise ValueError(f"{name} must be a number or one {per}, got shape {tuple(v.shape)}")
    _validate.finite(name, v)
    return v.to(device="cpu", dtype=torch.float64)


def resolve_positions(model: Model, positions: Index) -> Index:
    """The positions an intervention given ``positions=`` acts at on ``model``, for the engine:
    ``None`` (the interventions' default) is ``from_text_start(slice(1, None))``, every token but each
    text's first (the attention sink, whether the tokenizer or a chat template put it there); ``"all"``
    stays ``"all"`` (every position, the first included); anything else is returned as given. Raises
    ``ValueError`` for another string. ``model`` is taken so that a rule depending on it can join."""
    _check_positions(positions)
    if positions is None:
        return from_text_start(slice(1, None))
    return positions


def _check_positions(positions: Index) -> None:
    if isinstance(positions, str) and positions != ALL_POSITIONS:
        raise ValueError(
            f"positions={positions!r}: the one word positions= takes is {ALL_POSITIONS!r} (every position, BOS "
            "included); otherwise give integers, a slice, a mask, from_text_start(...) or None (the default)"
        )


def cell_writer(update: Callable[[Tensor, HookContext, Picked], Tensor], positions: Index, rows: Index) -> HookFn:
    """A hook function that replaces the cells at ``rows`` x ``positions`` by ``update(cells, ctx, picked)``.

    ``update`` receives the selected cells as ``[rows, pos, width]`` in the compute dtype (float32,
    or the activation's dtype where wider; heads are concatenated for ``attn.hook_z``, so ``width`` is
    ``n_heads * d_head`` there), the hook context, and which rows they are
    (:class:`mechint.positions.Picked`: pass it to :func:`mechint.positions.per_row` to pick a
    per-row value's entries). It returns new cells of the same shape, without changing its input in
    place; they are rounded back to the activation's dtype once. Every other cell is left bit for bit
    as it was. :func:`from_text_start` positions in a left-padded batch call ``update`` once per group
    of rows with equal padding.

    ``positions`` are the engine's (``None`` or ``"all"``: every position): resolve an
    intervention's ``positions=`` with :func:`resolve_positions` first, for the default that leaves
    BOS alone.
    """
    _check_positions(positions)
    everything = (positions is None or isinstance(positions, str)) and rows is None

    def fn(x: Tensor, ctx: HookContext) -> Tensor | None:
        blocks = cells(positions, rows, x, ctx)
        if not blocks:
            return None
        flat = x.flatten(-2) if ctx.site.heads is not None else x
        cdtype = _compute_dtype(flat.dtype)
        if everything:
            out = update(flat.to(cdtype), ctx, blocks[0].picked).to(flat.dtype)
        else:
            out = flat.clone()
            for block in blocks:  # one block, or one per group of rows with equal padding
                idx = block.index(flat)
                out[idx] = update(flat[idx].to(cdtype), ctx, block.picked).to(flat.dtype)
        return out.unflatten(-1, ctx.site.heads) if ctx.site.heads is not None else out

    return fn


def _check_width(site: Site, got: int, width: int, what: str) -> None:
    if got != width:
        raise ValueError(f"{what} has width {got} but the site {site.name} has width {width} ({_width_name(site)})")


class _Directional:
    """Holds a unit direction ``[d]`` or one per layer ``[n_layers, d]``, normalised in float64;
    ``self.direction`` is its float32 copy."""

    def _set_direction(self, direction, *, normalize: bool = True, per_row: bool = False) -> None:
        d = _validate.numbers("the direction", direction).detach()
        self.per_row = _validate.boolean("per_row", per_row)
        if self.per_row and (d.ndim != 2 or d.shape[0] == 0 or d.shape[1] == 0):
            raise ValueError(f"per_row=True takes one direction per chosen row [rows, d], got shape {tuple(d.shape)}")
        if d.ndim not in (1, 2) or d.shape[-1] == 0 or (d.ndim == 2 and d.shape[0] == 0):
            raise ValueError(f"a direction must be [d] or one per layer [n_layers, d], got shape {tuple(d.shape)}")
        d = d.to(device="cpu", dtype=torch.float64)
        _validate.finite("the direction", d)
        norms = d.norm(dim=-1)
        if (norms == 0).any():
            where = "" if d.ndim == 1 else f" at row(s) {torch.nonzero(norms == 0).reshape(-1).tolist()}"
            raise ValueError(f"the direction is zero{where}: it has no unit vector")
        self.per_layer = d.ndim == 2 and not self.per_row
        self.width = int(d.shape[-1])
        unit = d / norms[..., None] if normalize else d
        self.direction = unit.to(torch.float32)  # what users read back
        self._dir = DeviceCopies(unit)

    def _check_site(self, model: Model, site: Site) -> None:
        _check_width(site, self.width, _site_width(model, site), f"the direction of {type(self).__name__}")
        if self.per_layer:
            if self.direction.shape[0] != model.n_layers:
                raise ValueError(
                    f"a per-layer direction needs one row per layer: got {self.direction.shape[0]} rows, "
                    f"the model has n_layers={model.n_layers}"
                )
            if site.layer is None:
                raise ValueError(f"a per-layer direction [n_layers, d] cannot act at the model-level site {site.name}")

    def _unit_at(self, site: Site, x: Tensor, picked: Picked) -> Tensor:
        """The direction for ``site`` on ``x``'s device, in the compute dtype: ``[d]``, or with
        ``per_row`` ``[rows, 1, d]`` (the picked rows' directions, in the order of ``x``'s rows)."""
        _check_width(site, x.shape[-1], self.width, "the activation")
        (d,) = self._dir.on(x.device, x.dtype)
        if self.per_row:
            if d.shape[0] != 1 and d.shape[0] != picked.n:
                raise ValueError(
                    f"per_row=True: {d.shape[0]} directions for {picked.n} rows at {site.name} (one direction "
                    "per chosen row, or per input of a batched method such as collect)"
                )
            return per_row(d[:, None, :], picked, 3)
        return d[site.layer] if self.per_layer else d


# ---------------------------------------------------------------------------------------------
# Interventions
# ---------------------------------------------------------------------------------------------


class Intervention:
    """Base class: something that becomes ``(site, fn)`` pairs for :meth:`Model.hooks`. A subclass
    implements :meth:`hooks` (see the module docstring for one written from public names)."""

    def hooks(self, model: Model) -> list[tuple[Site, HookFn]]:
        """The hook pairs of this intervention on ``model``, in the order they apply; raises if the
        intervention does not fit the model (unknown sites, widths, neuron indices)."""
        raise NotImplementedError


class AddDirection(_Directional, Intervention):
    """Add ``alpha * unit(direction)`` at chosen sites, rows and positions (steering).

    Args:
        direction: ``[d]``, or ``[n_layers, d]`` for one direction per layer (row ``l`` acts at
            layer ``l``'s sites). ``d`` is the site's width (``d_model`` for residual sites).
        alpha: the length added: a float, or a tensor with one value per chosen row (``[batch]``
            when ``rows`` is None), e.g. to steer some prompts of a batch harder than others.
        sites: site names; a bare key (``"hook_resid_post"``, the default) means that site at every
            layer, or at the layers in ``layers``. Full names (``"blocks.6.hook_resid_post"``,
            ``"ln_final.hook_normalized"``) act where they say.
        layers: restrict bare keys to these layers (int or list; negative counts from the end).
        positions: which token positions (see the module docstring). ``None`` (the default): every
            token but each text's first (the BOS attention sink, left bit for bit as it was) where the
            model's tokenizer adds a BOS token, in any batch and at every new token during
            generation; every token where it adds none. ``"all"`` (:data:`mechint.ALL_POSITIONS`):
            every position, BOS included. Anything else acts where it says.
        rows: which batch rows; ``None``: all.
        normalize: ``False`` adds ``alpha * direction`` as given (e.g. a raw difference of means).
        per_row: ``direction`` is ``[rows, d]``, one direction per chosen row (per batch row when
            ``rows`` is None): many directions scored in one forward, one per copy of a prompt.
    """

    def __init__(
        self,
        direction: Float[Tensor, " d"] | Float[Tensor, "layer d"],
        alpha: float | Float[Tensor, " rows"] = 1.0,
        *,
        sites: str | Sequence[str] = ("hook_resid_post",),
        layers: SupportsIndex | Iterable[SupportsIndex] | None = None,
        positions: Index = None,
        rows: Index = None,
        normalize: bool = True,
        per_row: bool = False,
    ):
        self._set_direction(direction, normalize=_validate.boolean("normalize", normalize), per_row=per_row)
        self.alpha = _amount("alpha", alpha, "value per row [rows]")
        self._alpha = DeviceCopies(self.alpha)
        _check_positions(positions)
        self.sites, self.layers = sites, layers
        self.positions: Index = positions  # declared: a tuple assignment widens Literal["all"] to str
        self.rows: Index = rows

    def hooks(self, model: Model) -> list[tuple[Site, HookFn]]:
        chosen = _resolve_sites(model, self.sites, self.layers)
        for site in chosen:
            self._check_site(model, site)
        return [(site, cell_writer(self._add, resolve_positions(model, self.positions), self.rows)) for site in chosen]

    def _add(self, cells: Tensor, ctx: HookContext, picked: Picked) -> Tensor:
        u = self._unit_at(ctx.site, cells, picked)
        (a,) = self._alpha.on(cells.device, cells.dtype)
        if a.ndim == 1:
            if a.numel() != picked.n:
                raise ValueError(
                    f"alpha has {a.numel()} values but {picked.n} rows are steered at {ctx.site.name} "
                    "(one alpha per chosen row, or per input of a batched method such as collect)"
                )
            a = per_row(a, picked, 1)[:, None, None]
        return cells + a * u

    def __repr__(self) -> str:
        alpha = float(self.alpha) if self.alpha.ndim == 0 else f"tensor{tuple(self.alpha.shape)}"
        return (
            f"AddDirection(direction={tuple(self.direction.shape)}, alpha={alpha}, sites={self.sites!r}, "
            f"layers={self.layers!r}, positions={self.positions!r}, rows={self.rows!r})"
        )


class AblateDirection(_Directional, Intervention):
    """Project a direction out at chosen sites: ``x - (x . u - value) u`` with ``u = unit(direction)``,
    so the projection on ``u`` is ``value`` there (``0`` by default; a mean projection gives mean
    ablation). The orthogonal complement is untouched.

    Args:
        direction: ``[d]`` or ``[n_layers, d]`` (one per layer).
        sites: site names or bare keys, as in :class:`AddDirection` (default: ``hook_resid_post`` at
            every layer). ``("hook_resid_pre", "hook_attn_out", "hook_mlp_out")`` removes the
            direction from the embedding and from every write into the residual stream.
        layers: restrict bare keys to these layers; ``None``: every layer.
        positions: which token positions, as in :class:`AddDirection`: by default every token but the
            BOS token (where the tokenizer adds one); ``"all"`` includes BOS.
        rows: which batch rows; ``None``: all.
        value: the projection left at the site: a float, or one per layer ``[n_layers]``.
        per_row: ``direction`` is ``[rows, d]``, one direction per chosen row (per batch row when
            ``rows`` is None), as in :class:`AddDirection`.
    """

    def __init__(
        self,
        direction: Float[Tensor, " d"] | Float[Tensor, "layer d"],
        *,
        sites: str | Sequence[str] = ("hook_resid_post",),
        layers: SupportsIndex | Iterable[SupportsIndex] | None = None,
        positions: Index = None,
        rows: Index = None,
        value: float | Float[Tensor, " layer"] = 0.0,
        per_row: bool = False,
    ):
        self._set_direction(direction, per_row=per_row)
        self.value = _amount("value", value, "per layer [n_layers]")
        self._value = DeviceCopies(self.value)
        _check_positions(positions)
        self.sites, self.layers = sites, layers
        self.positions: Index = positions  # declared: a tuple assignment widens Literal["all"] to str
        self.rows: Index = rows

    def hooks(self, model: Model) -> list[tuple[Site, HookFn]]:
        chosen = _resolve_sites(model, self.sites, self.layers)
        for site in chosen:
            self._check_site(model, site)
            if self.value.ndim == 1:
                if self.value.numel() != model.n_layers:
                    raise ValueError(
                        f"a per-layer value needs n_layers={model.n_layers} entries, got {self.value.numel()}"
                    )
                if site.layer is None:
                    raise ValueError(f"a per-layer value cannot act at the model-level site {site.name}")
        return [
            (site, cell_writer(self._ablate, resolve_positions(model, self.positions), self.rows)) for site in chosen
        ]

    def _ablate(self, cells: Tensor, ctx: HookContext, picked: Picked) -> Tensor:
        u = self._unit_at(ctx.site, cells, picked)
        proj = cells @ u if u.ndim == 1 else (cells @ u.mT)[..., 0]  # [rows, pos]
        (v,) = self._value.on(cells.device, cells.dtype)
        if v.ndim == 1:
            v = v[ctx.site.layer]
        return cells - (proj - v)[..., None] * u

    def __repr__(self) -> str:
        return (
            f"AblateDirection(direction={tuple(self.direction.shape)}, sites={self.sites!r}, "
            f"layers={self.layers!r}, positions={self.positions!r}, rows={self.rows!r})"
        )


class EditNeurons(Intervention):
    """Set, add to or scale chosen MLP neurons at ``blocks.{layer}.mlp.hook_post`` (the input of the
    down projection, so neuron ``i`` writes ``activation_i * value_vector_i`` into the residual).

    Args:
        layer: the block: one integer (a Python, numpy or 0-d tensor integer; negative counts from
            the end, resolved when the intervention is applied to a model).
        neurons: neuron indices in ``0..d_mlp-1`` (negative count from the end), no repeats.
        mode: ``"set"`` (activation := value), ``"add"`` (+= value) or ``"scale"`` (*= value).
        value: a float, or a tensor broadcastable to ``[rows, pos, len(neurons)]`` (e.g. one value per
            neuron ``[len(neurons)]``).
        positions: which token positions, as in :class:`AddDirection`: by default every token but the
            BOS token (where the tokenizer adds one); ``"all"`` includes BOS.
        rows: which batch rows; ``None``: all.
    """

    def __init__(
        self,
        layer: SupportsIndex,
        neurons: int | Sequence[int] | Tensor,
        *,
        mode: str = "set",
        value: float | Tensor = 0.0,
        positions: Index = None,
        rows: Index = None,
    ):
        if mode not in _EDIT_MODES:
            raise ValueError(f"mode must be one of {_EDIT_MODES}, got {mode!r}")
        idx = torch.as_tensor(neurons).reshape(-1)
        if idx.numel() == 0:
            raise ValueError("no neurons given")
        if idx.is_floating_point() or idx.dtype == torch.bool:
            raise TypeError(f"neurons must be integer indices, got dtype {idx.dtype}")
        layers = int_list(layer, "layer")  # as everywhere: refuses 2.7, takes numpy / 0-d tensor ints
        if len(layers) != 1:
            raise ValueError(
                f"EditNeurons edits one layer, got {layers}; use neuron_edits for neurons in several layers"
            )
        # kept as given (negative counts from the end): resolved against the model in hooks()
        self.layer, self.neurons, self.mode = layers[0], idx.long().cpu(), mode
        self.value = _amount("value", value)
        self._value = DeviceCopies(self.value)
        _check_positions(positions)
        self.positions: Index = positions  # declared: a tuple assignment widens Literal["all"] to str
        self.rows: Index = rows
        self._siblings: list[EditNeurons] = []  # edits made together (neuron_edits): checked for repeats

    def hooks(self, model: Model) -> list[tuple[Site, HookFn]]:
        (layer,) = model.layer_list(self.layer)
        site = model.site(f"blocks.{layer}.mlp.hook_post")
        d_mlp = _site_width(model, site)
        bad = self.neurons[(self.neurons < -d_mlp) | (self.neurons >= d_mlp)]
        if bad.numel():
            raise ValueError(
                f"neuron index {bad.tolist()} out of range for {site.name}: d_mlp={d_mlp} (indices 0..{d_mlp - 1})"
            )
        neurons = self.neurons % d_mlp
        if neurons.unique().numel() != neurons.numel():
            raise ValueError(f"repeated neuron indices {self.neurons.tolist()}: give each neuron once")
        for other in self._siblings:
            if other is not self and model.layer_list(other.layer) == [layer]:
                twice = sorted(set(neurons.tolist()) & set((other.neurons % d_mlp).tolist()))
                if twice:
                    raise ValueError(
                        f"neurons {twice} of layer {layer} are given twice (as layer {self.layer} and as layer "
                        f"{other.layer}): give each neuron once"
                    )
        try:
            torch.broadcast_shapes(self.value.shape, (1, 1, neurons.numel()))
        except RuntimeError:
            raise ValueError(
                f"value of shape {tuple(self.value.shape)} does not broadcast to "
                f"[rows, pos, {neurons.numel()}] (one entry per chosen neuron)"
            ) from None
        on_device = DeviceCopies(neurons)

        def edit(cells: Tensor, ctx: HookContext, picked: Picked) -> Tensor:
            _check_width(ctx.site, cells.shape[-1], d_mlp, "the activation")
            (n,) = on_device.on(cells.device, torch.long)
            v = per_row(self._value.on(cells.device, cells.dtype)[0], picked, cells.ndim)
            out = cells.clone()
            old = cells[..., n]
            try:
                if self.mode == "set":
                    new = v.expand_as(old)
                elif self.mode == "add":
                    new = old + v
                else:
                    new = old * v
                out[..., n] = new
            except RuntimeError as err:
                raise ValueError(
                    f"value of shape {tuple(v.shape)} does not fit the chosen cells of {ctx.site.name}, "
                    f"shape {tuple(old.shape)}"
                ) from err
            return out

        return [(site, cell_writer(edit, resolve_positions(model, self.positions), self.rows))]

    def __repr__(self) -> str:
        value = float(self.value) if self.value.ndim == 0 else f"tensor{tuple(self.value.shape)}"
        return (
            f"EditNeurons(layer={self.layer}, neurons={self.neurons.tolist()}, mode={self.mode!r}, "
            f"value={value}, positions={self.positions!r}, rows={self.rows!r})"
        )


# ---------------------------------------------------------------------------------------------
# Composition
# ---------------------------------------------------------------------------------------------

InterventionLike = Intervention | tuple | Iterable


def hook_pairs(model: Model, *interventions: InterventionLike) -> list[tuple[Site, HookFn]]:
    """The ``(site, fn)`` pairs that :func:`intervene` installs for ``interventions``, in order (lists
    are flattened; raw ``(site, fn)`` pairs of the hook engine pass through, e.g. a
    :func:`mechint.record` after them), checked against ``model``."""
    pairs: list[tuple[Site, HookFn]] = []
    for item in interventions:
        if isinstance(item, Intervention):
            pairs += item.hooks(model)
        elif isinstance(item, tuple) and len(item) == 2 and callable(item[1]) and isinstance(item[0], (str, Site)):
            pairs.append((model.site(item[0]), cast(HookFn, item[1])))  # a caller's hook function, as given
        elif isinstance(item, Iterable) and not isinstance(item, (str, bytes, Tensor)):
            pairs += hook_pairs(model, *item)
        else:
            raise TypeError(
                f"not an intervention: {item!r}; give AddDirection / AblateDirection / EditNeurons objects, "
                "lists of them, or (site, fn) hook pairs"
            )
    return pairs


def intervene(model: Model, *interventions: InterventionLike):
    """Context manager applying ``interventions`` to every forward pass of ``model`` inside it (plain
    forwards, :func:`mechint.collect`, each step of :meth:`Model.generate`). They apply in the order
    given; an empty list is the identity. Everything is checked against the model here, before any
    forward runs; the hooks are removed on exit, also on error. ``with intervene(...) as m`` gives the
    model."""
    return model.hooks(hook_pairs(model, *interventions))


def intervention_hooks(model: Model, *interventions: InterventionLike) -> list[tuple[Site, HookFn]]:
    """Deprecated name of :func:`hook_pairs`; kept for one release. :func:`intervene` is the one way to
    apply interventions (it takes raw ``(site, fn)`` pairs too)."""
    _validate.warn_at_caller(
        "intervention_hooks is now mechint.interventions.hook_pairs; to apply interventions use "
        "mechint.intervene(model, ...), which also takes (site, fn) pairs",
        DeprecationWarning,
    )
    return hook_pairs(model, *interventions)
