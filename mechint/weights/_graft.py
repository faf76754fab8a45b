"""Grafting masked tuned values into a base model in place (bit-exact revert), and freezing masked entries
during fine-tuning."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator

import torch
from torch import Tensor, nn

from .. import _validate
from ..model import Model
from ._masks import LevelMask, WeightMask, percents, sweep_levels
from ._naming import SCOPES, Weights, matched


def _module(model, what: str) -> nn.Module:
    if isinstance(model, Model):
        return model.hf
    if isinstance(model, nn.Module):
        return model
    raise TypeError(f"{what} must be a mechint Model or an nn.Module, got {_validate.given(model)}")


_ACTIVE_GRAFTS: weakref.WeakKeyDictionary[nn.Module, Graft] = weakref.WeakKeyDictionary()


class Graft:
    """Tuned values written into the masked entries of a base model, in place (made by :func:`graft`).

    It holds a copy of each parameter the mask touches, as it was before the graft, so :meth:`revert`
    restores every masked entry bit for bit; as a context manager it reverts on exit. Entries outside
    the mask keep their current values through the graft and the revert, so changes made to them
    meanwhile survive a revert. (A whole copy rather than the masked entries alone: selecting entries by
    a boolean mask costs several passes over a tensor, a copy and ``torch.where`` one each.)
    """

    def __init__(self, module: nn.Module, mask: WeightMask):
        self.module, self.mask = module, mask
        self._saved: dict[str, tuple[Tensor, Tensor]] = {}  # name -> (mask on the device, the parameter before)

    @property
    def active(self) -> bool:
        """Whether the graft is in the model (not yet reverted)."""
        return _ACTIVE_GRAFTS.get(self.module) is self

    @torch.no_grad()
    def revert(self) -> None:
        """Write the base's original values back; a second call does nothing."""
        params = dict(self.module.named_parameters())
        for name, (where, before) in self._saved.items():
            param = params[name].detach()
            torch.where(where, before, param, out=param)
        self._saved.clear()
        if self.active:
            del _ACTIVE_GRAFTS[self.module]

    def __enter__(self) -> Graft:
        return self

    def __exit__(self, *exc) -> None:
        self.revert()

    def __repr__(self) -> str:
        return f"Graft({self.mask.count}/{self.mask.n} entries, {'active' if self.active else 'reverted'})"


def _check_dtypes(b: dict[str, Tensor], t: dict[str, Tensor]) -> None:
    dtypes = [n for n in b if b[n].dtype != t[n].dtype]
    if dtypes:
        n = dtypes[0]
        raise ValueError(
            f"tuned's dtypes differ from base's ({len(dtypes)} tensors, e.g. {n!r}: {t[n].dtype} vs {b[n].dtype}): "
            "cast tuned to the base's dtype first, so that grafting writes the values it will be compared to"
        )


@torch.no_grad()
def graft(base_model: Model | nn.Module, tuned: Weights, mask: WeightMask) -> Graft:
    """Write ``tuned``'s values into ``base_model`` where ``mask`` is set, in place: the model computes
    ``base + mask * (tuned - base)``, with the tuned values themselves written (``torch.where(mask,
    tuned, base)``), so a full mask gives the tuned model bit for bit and an empty one the base.

    ``tuned`` is a model of the same architecture and dtypes, or a mapping name -> tuned tensor (a
    WeightDiff keeps norms only and cannot be grafted). A graft still active on the same model is
    reverted first, so a sweep over ``p`` calls ``graft`` once per mask on one loaded model. Returns the
    :class:`Graft`, already applied; use it as a context manager or call :meth:`Graft.revert`.
    """
    module = _module(base_model, "base_model")
    b, t, *_ = matched(base_model, tuned)
    if not isinstance(mask, WeightMask):
        raise TypeError(f"mask must be a WeightMask (from top_p_mask), got {_validate.given(mask)}")
    mask.check(base_model, "base_model")
    _check_dtypes(b, t)
    previous = _ACTIVE_GRAFTS.get(module)
    if previous is not None:
        previous.revert()
    result = Graft(module, mask)
    _ACTIVE_GRAFTS[module] = result
    try:
        for name, param in b.items():
            where = mask.masks[name].to(param.device)
            if not bool(where.any()):
                continue
            param = param.detach()
            result._saved[name] = (where, param.clone())
            torch.where(where, t[name].detach().to(param.device), param, out=param)
    except BaseException:
        result.revert()
        raise
    return result


def _part(tensor: Tensor, start: int | None, end: int | None) -> Tensor:
    """Entries ``[start, end)`` of ``tensor`` in flat order, a view that writes through to it (the
    whole tensor, in its shape, where ``start`` is None)."""
    return tensor.detach() if start is None else tensor.detach().view(-1)[start:end]


class _SweepGraft(Graft):
    """The entries one pass of a :class:`GraftSweep` has written so far, and the base's values of
    exactly those entries (one copy): step ``j`` wrote the entries of level ``j``."""

    def __init__(self, module: nn.Module, levels: dict[str, Tensor], segments: dict[str, list[tuple]]):
        super().__init__(module, WeightMask({}))
        self.levels, self.segments = levels, segments
        self.steps: list[list[tuple[str, int | None, int | None, Tensor]]] = []  # (name, start, end, values)

    @torch.no_grad()
    def add(self, j: int, params: dict[str, Tensor], tuned: dict[str, Tensor]) -> None:
        """Write the tuned values of the entries of level ``j`` (the entries mask ``j`` adds), visiting
        only the segments whose levels include ``j``."""
        step: list[tuple[str, int | None, int | None, Tensor]] = []
        self.steps.append(step)  # before writing: a failure midway is reverted like the rest
        for name, param in params.items():
            for start, end, lo, hi in self.segments[name]:
                if not lo <= j <= hi:
                    continue
                target = _part(param, start, end)
                where = _part(self.levels[name], start, end) == j
                if start is not None:  # a flat segment: find its entries once, index by position
                    where = where.nonzero().squeeze(1)
                    if where.numel() == 0:
                        continue
                source = tuned[name].detach()
                source = source if start is None else source.reshape(-1)[start:end]
                step.append((name, start, end, target[where]))  # advanced indexing copies
                target[where] = source[where.to(source.device)].to(target.device)

    @torch.no_grad()
    def revert(self) -> None:
        params = dict(self.module.named_parameters())
        for j in reversed(range(len(self.steps))):
            for name, start, end, values in self.steps[j]:
                target = _part(params[name], start, end)
                target[_part(self.levels[name], start, end) == j] = values
        self.steps.clear()
        if self.active:
            del _ACTIVE_GRAFTS[self.module]

    def __repr__(self) -> str:
        return f"_SweepGraft({len(self.steps)} steps, {'active' if self.active else 'reverted'})"


class GraftSweep:
    """An in-place sweep of grafts over increasing percentages (made by :func:`graft_sweep`).

    Iterating yields ``(p, mask)`` for each ``p`` of :attr:`ps` (ascending), with the model grafted to
    ``mask`` (the :func:`top_p_mask` of that ``p``) while the loop body runs. The masks are nested, so
    each step writes only the entries its mask adds to the one before. When the loop ends, breaks or
    raises, every entry written is restored bit for bit; so does leaving a ``with`` block, and
    :meth:`revert`. Each iteration starts from the base again.

    Memory: one byte per entry for all the masks together (:attr:`levels`: the index of the first
    ``p`` whose mask holds the entry, ``len(ps)`` for none; four bytes beyond 254 percentages), and
    the base's values of the entries written so far (one copy, as a :class:`Graft`). A yielded mask
    is computed from the levels when first read (one byte per entry then), so a loop that never reads
    it never pays for it.
    """

    def __init__(
        self,
        module: nn.Module,
        params: dict[str, Tensor],
        tuned: dict[str, Tensor],
        ps: tuple[float, ...],
        levels: dict[str, Tensor],
        segments: dict[str, list[tuple]],
        *,
        scope: str,
        model: str,
    ):
        self.module, self.ps, self.levels, self.scope, self.model = module, ps, levels, scope, model
        self._params, self._tuned, self._segments = params, tuned, segments
        self._graft: _SweepGraft | None = None

    def __len__(self) -> int:
        return len(self.ps)

    @property
    def active(self) -> bool:
        """Whether a pass of the sweep has entries written in the model (not yet reverted)."""
        return self._graft is not None and self._graft.active

    def mask(self, p: float) -> WeightMask:
        """The mask of ``p``, one of :attr:`ps` (equal to ``top_p_mask``'s)."""
        try:
            j = self.ps.index(float(p))
        except (ValueError, TypeError):
            raise ValueError(f"{p!r} is not one of the sweep's percentages {list(self.ps)}") from None
        return self._mask(j)

    def _mask(self, j: int) -> WeightMask:
        return LevelMask(self.levels, j, p=self.ps[j], scope=self.scope, model=self.model)

    def __iter__(self) -> Iterator[tuple[float, WeightMask]]:
        self.revert()
        previous = _ACTIVE_GRAFTS.get(self.module)
        if previous is not None:
            previous.revert()
        state = self._graft = _SweepGraft(self.module, self.levels, self._segments)
        _ACTIVE_GRAFTS[self.module] = state
        try:
            for j, p in enumerate(self.ps):
                if not state.active:
                    raise RuntimeError(
                        "the sweep's graft was reverted or replaced during the loop (by revert(), another graft "
                        "or sweep of the same model, or a second iteration): the model no longer holds its steps"
                    )
                state.add(j, self._params, self._tuned)
                yield p, self._mask(j)
        finally:
            state.revert()

    def revert(self) -> None:
        """Restore the entries written so far, bit for bit; nothing to do if none are."""
        if self._graft is not None:
            self._graft.revert()

    def __enter__(self) -> GraftSweep:
        return self

    def __exit__(self, *exc) -> None:
        self.revert()

    def __repr__(self) -> str:
        return f"GraftSweep({len(self.ps)} percentages from {self.ps[0]} to {self.ps[-1]}, scope={self.scope!r})"


@torch.no_grad()
def graft_sweep(model: Model | nn.Module, tuned: Weights, ps: Iterable[float], *, scope: str = "global") -> GraftSweep:
    """Graft ``tuned`` into ``model`` in place for each percentage of ``ps`` in turn, without reloading.

    ``for p, mask in graft_sweep(model, tuned, ps):`` runs its body once per ``p``, ascending, with
    ``model`` holding ``graft(model, tuned, top_p_mask(model, tuned, p, scope=scope))``'s weights bit for
    bit (p = 0: the base; p = 100: ``tuned``). The masks are found all at once by the shared passes of
    :func:`top_p_masks` (from the model's weights when ``graft_sweep`` is called, any graft still active
    on it reverted first) and are nested, so each step writes only the entries newly added since the
    previous ``p``. The model is restored bit for bit when the loop ends, breaks or raises, and on
    leaving ``with graft_sweep(...) as sweep:`` (the safe form where the loop's iterator may outlive the
    loop). Entries outside the last mask are never written.

    ``ps`` are sorted; a duplicate is refused (each ``p`` is one point of the sweep), and so is an empty
    ``ps``. Checks, before anything is written, as :func:`graft` and :func:`top_p_mask` do: every ``p``
    in [0, 100], one architecture, equal dtypes. Another graft of the same model during the loop reverts
    the sweep's entries, and the sweep's next step raises RuntimeError.
    """
    module = _module(model, "model")
    values = percents(ps)
    scope = _validate.choice("scope", scope, SCOPES)
    b, t, family, b_label, _ = matched(model, tuned)
    _check_dtypes(b, t)
    if not values:
        raise ValueError("ps is empty: give the percentages of the sweep, e.g. [0, 1, 5, 10, 50, 100]")
    ordered = tuple(sorted(values))
    repeated = sorted({p for p, q in zip(ordered, ordered[1:]) if p == q})
    if repeated:
        raise ValueError(
            f"ps holds {', '.join(map(repr, repeated))} more than once: each percentage is one point of the sweep"
        )
    previous = _ACTIVE_GRAFTS.get(module)
    if previous is not None:  # the masks rank the base's own values
        previous.revert()
    levels, segments = sweep_levels(b, t, family, scope, list(ordered))
    for name, param in b.items():
        if not param.is_contiguous() and segments[name]:  # no flat view: one segment, the whole tensor
            segments[name] = [(None, None, min(s[2] for s in segments[name]), max(s[3] for s in segments[name]))]
    return GraftSweep(module, b, t, ordered, levels, segments, scope=scope, model=b_label)


class Freeze:
    """Masked entries of a model held fixed during fine-tuning (made by :func:`freeze`).

    Two mechanisms, both on: gradient hooks zero the masked entries' gradients, and the masked entries'
    values at freezing time are kept and written back by :meth:`restore`, which runs after every step of
    the optimizer given to :func:`freeze`. A zero gradient alone does not hold an entry: AdamW's
    decoupled weight decay shrinks every entry, and momentum from earlier steps keeps moving it.
    """

    def __init__(self, params: dict[str, Tensor], mask: WeightMask):
        self._params = params
        self._saved: dict[str, tuple[Tensor, Tensor]] = {}
        self._handles: list = []
        for name, param in params.items():
            where = mask.masks[name].to(param.device)
            if not bool(where.any()):
                continue
            self._saved[name] = (where, param.detach()[where].clone())
            if param.requires_grad:
                self._handles.append(param.register_hook(lambda grad, where=where: grad.masked_fill(where, 0)))

    @torch.no_grad()
    def restore(self) -> None:
        """Write the frozen entries' kept values back (bit for bit)."""
        for name, (where, values) in self._saved.items():
            # the kept values in the mask's row-major order, as param[where] read them: the same bits
            # as indexing, without building the index list of every set entry at every step
            self._params[name].masked_scatter_(where, values)

    def remove(self) -> None:
        """Unregister the gradient and optimizer hooks; the entries are free again."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __enter__(self) -> Freeze:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def freeze(model: Model | nn.Module, mask: WeightMask, *, optimizer: torch.optim.Optimizer | None = None) -> Freeze:
    """Hold the entries of ``model`` where ``mask`` is set fixed while it is fine-tuned.

    Registers a gradient hook per masked parameter (``param.register_hook``) that zeroes the masked
    entries' gradient; with ``optimizer``, also a step post-hook (``optimizer.register_step_post_hook``)
    that writes the masked entries' values at freezing time back after every step, which is what keeps
    them bit-identical under weight decay or momentum (AdamW moves an entry whose gradient is zero).
    Without ``optimizer`` only gradients are zeroed: enough for plain SGD, and :meth:`Freeze.restore`
    can be called by hand. Returns a :class:`Freeze`; ``.remove()`` (or leaving its ``with`` block)
    unregisters every hook.
    """
    module = _module(model, "model")
    if not isinstance(mask, WeightMask):
        raise TypeError(f"mask must be a WeightMask (from top_p_mask), got {_validate.given(mask)}")
    mask.check(model)
    handle = Freeze(dict(module.named_parameters()), mask)
    if optimizer is not None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {_validate.given(optimizer)}")
        handle._handles.append(optimizer.register_step_post_hook(lambda *_: handle.restore()))
    return handle
