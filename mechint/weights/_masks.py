"""Masks of the entries that moved most, found with an exact count and without sorting, and their overlap."""

from __future__ import annotations

import hashlib
import math
import numbers
from collections.abc import Iterable, Iterator, Mapping
from typing import cast

import torch
from jaxtyping import Bool
from torch import Tensor, nn

from .. import _validate
from .._suggest import did_you_mean, nearest
from ..model import Model
from ..stats import set_overlap
from ._naming import SCOPES, Weights, chunks, layer_of, layout_mismatch, matched, shapes_of, weights_of


def _percent(p, what: str = "p") -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"{what} must be a percentage, a number in [0, 100], got {_validate.given(p)}")
    value = float(p)
    if not 0.0 <= value <= 100.0:  # NaN fails this too
        raise ValueError(f"{what} must be a percentage in [0, 100], got {p!r}")
    return value


def percents(ps) -> list[float]:
    """``ps`` as a list of floats, each checked as :func:`_percent` checks one (errors name its index)."""
    if isinstance(ps, (str, bytes, numbers.Number)) or not isinstance(ps, Iterable):
        raise TypeError(
            f"ps must be a sequence of percentages (numbers in [0, 100]), got {_validate.given(ps)}; "
            "for one percentage use top_p_mask or graft"
        )
    return [_percent(p, f"ps[{i}]") for i, p in enumerate(ps)]


def _score_bits(bc: Tensor, tc: Tensor, name: str) -> Tensor:
    """The float32 ``|tuned - base|`` of one chunk, as its int32 bit patterns: for non-negative floats
    the bit patterns order like the values, so the k-th largest is found by counting bit prefixes."""
    bits = (tc.float() - bc.float()).abs().view(torch.int32)
    if bool((bits > 0x7F800000).any()):
        raise ValueError(f"|tuned - base| of {name!r} has NaN entries: no ranking of its changes exists")
    return bits


def _kth_bin(hist: Tensor, k: int) -> tuple[int, int]:
    """The bin holding the k-th largest entry (k >= 1) of a histogram over ascending bins, and the
    number of entries in the bins above it."""
    from_top = hist.flip(0).cumsum(0)
    i = int(torch.searchsorted(from_top, torch.tensor([k], dtype=from_top.dtype)))
    b = hist.numel() - 1 - i
    return b, int(from_top[i]) - int(hist[b])


def _select(items: list[tuple[str, Tensor, Tensor]], k: int) -> dict[str, Tensor]:
    """Bool masks keeping exactly ``k`` entries of largest ``|tuned - base|`` over the tensors of
    ``items`` taken as one flat vector (tensor order, then row-major); ties at the threshold go to the
    lowest flat indices. Three streamed passes, no sort: a histogram of the top 16 bits of the scores'
    float32 bit patterns finds the bin of the k-th value, a histogram of the low 16 bits within that
    bin finds the value itself, and a last pass writes the masks."""
    n = sum(bp.numel() for _, bp, _ in items)
    if k in (0, n):
        return {name: torch.full_like(bp, k > 0, dtype=torch.bool) for name, bp, _ in items}
    high = torch.zeros(1 << 15, dtype=torch.int64)
    for name, bp, tp in items:
        for _, bc, tc in chunks(bp, tp):
            high += torch.bincount((_score_bits(bc, tc, name) >> 16).long(), minlength=1 << 15).cpu()
    top, above = _kth_bin(high, k)
    low = torch.zeros(1 << 16, dtype=torch.int64)
    for name, bp, tp in items:
        for _, bc, tc in chunks(bp, tp):
            bits = _score_bits(bc, tc, name)
            low += torch.bincount((bits[(bits >> 16) == top] & 0xFFFF).long(), minlength=1 << 16).cpu()
    bottom, above_low = _kth_bin(low, k - above)
    threshold = (top << 16) | bottom
    ties = k - above - above_low  # entries equal to the threshold still to keep, >= 1
    masks = {}
    for name, bp, tp in items:
        mask = torch.empty(bp.numel(), dtype=torch.bool, device=bp.device)
        for start, bc, tc in chunks(bp, tp):
            bits = _score_bits(bc, tc, name)
            keep, equal = bits > threshold, bits == threshold
            if ties > 0:
                take = equal & (equal.cumsum(0) <= ties)
                ties -= int(take.sum())
                keep |= take
            mask[start : start + bits.numel()] = keep
        masks[name] = mask.view(bp.shape)
    return masks


def _groups(b: dict[str, Tensor], t: dict[str, Tensor], family, scope: str) -> list[list[tuple[str, Tensor, Tensor]]]:
    """The parameters as ``(name, base, tuned)`` in groups of ``scope``, in ``named_parameters()`` order."""
    groups: dict = {}
    for name in b:
        key = {"global": None, "tensor": name, "layer": layer_of(name, family)}[scope]
        groups.setdefault(key, []).append((name, b[name], t[name]))
    return list(groups.values())


def _count(p: float, items: list[tuple[str, Tensor, Tensor]]) -> int:
    """Entries a group keeps at ``p`` percent: ``round(p * n / 100)``."""
    return round(p * sum(bp.numel() for _, bp, _ in items) / 100)


_NONE_KEPT = 0x7FFFFFFF  # a threshold above every score's bit pattern (+inf is 0x7F800000): k = 0 keeps nothing
_ALL_KEPT = -1  # below every bit pattern: k = n keeps everything
_BINS_PER_PASS = 32  # top bins whose low-bits histograms one pass fills (32 x 2**16 int64 counts: 16 MiB)


def _on(cache: dict, key: str, table: Tensor, device: torch.device) -> Tensor:
    """``table`` (known as ``key``) on ``device``, copied there once."""
    if (key, device) not in cache:
        cache[key, device] = table.to(device)
    return cache[key, device]


def _scored(items: list[tuple[str, Tensor, Tensor]]) -> Iterator[tuple[str, int, Tensor, int, int]]:
    """``(name, offset, bits, lowest, highest)`` for every chunk of a group: the scores' bit patterns
    (:func:`_score_bits`, NaN refused) and their range, which says when a chunk holds one score only
    (an untouched tensor's chunk is all zeros)."""
    for name, bp, tp in items:
        for start, bc, tc in chunks(bp, tp):
            bits = (tc.float() - bc.float()).abs().view(torch.int32)
            lo, hi = (int(x) for x in torch.aminmax(bits))
            if hi > 0x7F800000:
                raise ValueError(f"|tuned - base| of {name!r} has NaN entries: no ranking of its changes exists")
            yield name, start, bits, lo, hi


def _levels(items: list[tuple[str, Tensor, Tensor]], ks: list[int]) -> Iterator[tuple[str, int, Tensor]]:
    """The masks keeping the top ``ks[0] <= ks[1] <= ...`` entries of one group (as :func:`_select`
    keeps one ``k``), all at once, as one level per entry: ``(name, offset, levels)`` for every chunk,
    in order, where an entry's level is the index of the first mask that keeps it (``len(ks)`` if
    none). The top-k sets of one strict total order (score descending, flat index ascending) are
    nested, so mask ``j`` is ``levels <= j``.

    Shared streamed passes: one histogram of the scores' high 16 bits serves every k; one histogram
    of the low 16 bits per distinct top bin the thresholds fall in (filled together, up to
    ``_BINS_PER_PASS`` bins a pass) finds every threshold; the generator itself is the last pass. It
    reads an entry's level from a table indexed by its high bits, and, for the few bins that hold a
    threshold, from a second table indexed by the bin and the low bits; entries equal to a threshold
    take their level from their rank among the group's equal entries (flat order), run by run. A
    chunk of one score only (an untouched tensor) is counted and levelled as a whole.
    """
    n = sum(bp.numel() for _, bp, _ in items)
    m = len(ks)
    thresholds = [_NONE_KEPT if k == 0 else _ALL_KEPT if k >= n else None for k in ks]
    ties = [0] * m
    active = [j for j, k in enumerate(ks) if 0 < k < n]
    cache: dict = {}
    if active:
        high = torch.zeros(1 << 15, dtype=torch.int64)
        for _, _, bits, lo, hi in _scored(items):
            if lo == hi:
                high[lo >> 16] += bits.numel()
            else:
                high += torch.bincount((bits >> 16).long(), minlength=1 << 15).cpu()
        tops = {j: _kth_bin(high, ks[j]) for j in active}  # j -> (top bin, entries in the bins above)
        bins = sorted({top for top, _ in tops.values()})
        low: dict[int, Tensor] = {}
        for first in range(0, len(bins), _BINS_PER_PASS):
            batch = bins[first : first + _BINS_PER_PASS]
            slots = torch.full((1 << 15,), len(batch), dtype=torch.int64)  # bin -> its slot in the batch
            slots[batch] = torch.arange(len(batch))
            hist = torch.zeros(len(batch) << 16, dtype=torch.int64)
            for _, _, bits, lo, hi in _scored(items):
                if lo == hi:
                    if slots[lo >> 16] < len(batch):
                        hist[(int(slots[lo >> 16]) << 16) | (lo & 0xFFFF)] += bits.numel()
                    continue
                slot = _on(cache, f"slots{first}", slots, bits.device)[bits >> 16]
                hit = (slot < len(batch)).nonzero().squeeze(1)
                if hit.numel():
                    index = (slot[hit] << 16) | (bits[hit] & 0xFFFF).long()
                    hist += torch.bincount(index, minlength=len(batch) << 16).cpu()
            for i, top in enumerate(batch):
                low[top] = hist[i << 16 : (i + 1) << 16]
        for j in active:
            top, above = tops[j]
            bottom, above_low = _kth_bin(low[top], ks[j] - above)
            thresholds[j] = (top << 16) | bottom
            ties[j] = ks[j] - above - above_low  # entries equal to the threshold to keep, >= 1
    thresholds = cast("list[int]", thresholds)  # all set: k = 0 or k >= n above, every active k here
    assert all(a >= b for a, b in zip(thresholds, thresholds[1:])), "ks must be non-decreasing"
    # An entry's level is the number of masks that leave it out: #{j: threshold_j >= score} where its
    # score equals no threshold. Each real threshold value v keeps its ties by rank: the masks with
    # threshold v are a run j0..j1 (thresholds do not increase), and an entry of rank r among the
    # group's entries equal to v is in mask j of the run once ties_j >= r (ties_j grows along the run).
    values = sorted({thresholds[j] for j in active})
    runs = [[j for j in active if thresholds[j] == v] for v in values]
    dtype = _level_dtype(m)
    unknown = 255 if dtype == torch.uint8 else -1  # table entry: look at the low bits
    tops_all = torch.tensor(sorted(t >> 16 for t in thresholds), dtype=torch.int64)  # _ALL_KEPT >> 16 is -1
    by_bin = (m - torch.searchsorted(tops_all, torch.arange(1 << 15))).to(dtype)  # bin -> level
    threshold_bins = sorted({v >> 16 for v in values})
    by_bin[threshold_bins] = unknown
    rows = torch.zeros(1 << 15, dtype=torch.int64)  # threshold bin -> its row of by_low
    rows[threshold_bins] = torch.arange(len(threshold_bins))
    # by_low[row, low bits] = the level of a score in that bin, or -1 - (index of v) for a score equal to v
    by_low = torch.empty(len(threshold_bins), 1 << 16, dtype=torch.int32)
    low_bits = torch.arange(1 << 16)
    for row, top in enumerate(threshold_bins):
        by_low[row] = sum(1 for t in thresholds if (t >> 16) > top)
        for t in thresholds:
            if t >> 16 == top:
                by_low[row] += (low_bits <= (t & 0xFFFF)).int()
        for i, v in enumerate(values):
            if v >> 16 == top:
                by_low[row, v & 0xFFFF] = -1 - i
    seen = [0] * len(values)  # entries equal to each value in the group's chunks so far

    def rank(level: Tensor, positions: Tensor | None, count: int, i: int) -> None:
        _rank_levels(level, positions, count, seen[i], [ties[j] for j in runs[i]], runs[i][0])
        seen[i] += count

    for name, start, bits, lo, hi in _scored(items):
        dev = bits.device
        if lo == hi:  # one score: one level, or ranks over the whole chunk
            code = int(by_bin[lo >> 16])
            if code == unknown:
                code = int(by_low[rows[lo >> 16], lo & 0xFFFF])
            level = torch.empty(bits.shape, dtype=dtype, device=dev)
            if code >= 0:
                level.fill_(code)
            else:
                rank(level, None, bits.numel(), -1 - code)
            yield name, start, level
            continue
        level = _on(cache, "by_bin", by_bin, dev)[bits >> 16]
        look = (level == unknown).nonzero().squeeze(1) if threshold_bins else None
        if look is not None and look.numel():
            near = bits[look]
            code = _on(cache, "by_low", by_low, dev)[_on(cache, "rows", rows, dev)[near >> 16], (near & 0xFFFF).long()]
            level[look] = code.clamp(min=0).to(dtype)
            tied = (code < 0).nonzero().squeeze(1)
            if tied.numel():
                which = -1 - code[tied]
                positions = look[tied]
                present = torch.bincount(which, minlength=len(values)).nonzero().squeeze(1).tolist()
                for i in present:
                    chosen = positions if len(present) == 1 else positions[which == i]
                    rank(level, chosen, chosen.numel(), i)
        yield name, start, level


def _rank_levels(
    level: Tensor, positions: Tensor | None, count: int, before: int, counts: list[int], first: int
) -> None:
    """Levels of ``count`` entries equal to one threshold value, at ``positions`` of ``level``
    (ascending; None: all of ``level``), of ranks ``before + 1, before + 2, ...``: the i-th mask of
    the value's run (mask ``first + i``) keeps the ranks up to ``counts[i]``; ranks past every count
    are left out by the whole run (level ``first + len(counts)``). Written run by run of equal level,
    as slices where the positions are contiguous."""
    offset = 0 if positions is None else int(positions[0])
    contiguous = positions is None or int(positions[-1]) - offset + 1 == count
    done = 0
    for i, limit in enumerate([*counts, before + count]):
        upto = min(max(limit - before, 0), count)
        if upto > done:
            if contiguous or positions is None:  # positions None is contiguous
                level[offset + done : offset + upto] = first + i
            else:
                level[positions[done:upto]] = first + i
            done = upto


Segment = tuple[int | None, int | None, int, int]
"""``(start, end, lowest level, highest level)`` of a flat chunk of a parameter; start and end ``None``: the whole
tensor (a non-contiguous one, which has no flat view)."""


def sweep_levels(
    b: dict[str, Tensor], t: dict[str, Tensor], family, scope: str, ps: list[float]
) -> tuple[dict[str, Tensor], dict[str, list[Segment]]]:
    """The levels of :func:`_levels` for ascending ``ps``, per parameter (its shape, on its device),
    and each parameter's segments ``(start, end, lowest level, highest level)`` in flat order (one
    per streamed chunk)."""
    levels: dict[str, Tensor] = {}
    segments: dict[str, list[Segment]] = {}
    for items in _groups(b, t, family, scope):
        for name, bp, _ in items:
            levels[name] = torch.empty(bp.numel(), dtype=_level_dtype(len(ps)), device=bp.device)
            segments[name] = []
        for name, start, level in _levels(items, [_count(p, items) for p in ps]):
            end = start + level.numel()
            levels[name][start:end] = level
            lo, hi = torch.aminmax(level)
            segments[name].append((start, end, int(lo), int(hi)))
    return {name: levels[name].view(bp.shape) for name, bp in b.items()}, segments


def _level_dtype(m: int) -> torch.dtype:
    """Levels 0..m, and one more value for :func:`_levels`' table: a byte up to 254 masks."""
    return torch.uint8 if m <= 254 else torch.int32


class WeightMask:
    """A boolean mask over every parameter of one architecture: parameter name -> bool tensor of the
    parameter's shape, on its device (one byte per entry).

    It remembers the layout it was built for (``shapes``: name -> shape, and its ``fingerprint``, a hash
    of them) and refuses, by :meth:`check`, a model of another layout.
    """

    def __init__(
        self, masks: Mapping[str, Tensor], *, p: float | None = None, scope: str | None = None, model: str = ""
    ):
        bad = [n for n, m in masks.items() if not isinstance(m, Tensor) or m.dtype != torch.bool]
        if bad:
            raise TypeError(f"a WeightMask maps names to bool tensors; {bad[0]!r} is {_validate.given(masks[bad[0]])}")
        self.masks: dict[str, Tensor] = dict(masks)
        self.shapes: dict[str, tuple[int, ...]] = shapes_of(self.masks)
        self.p, self.scope, self.model = p, scope, model

    @property
    def fingerprint(self) -> str:
        """A short hash of the parameter names and shapes, in order: equal for masks of one layout."""
        text = "".join(f"{n}\t{s}\n" for n, s in self.shapes.items())
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def n(self) -> int:
        """Entries in all the tensors."""
        return sum(math.prod(s) for s in self.shapes.values())

    @property
    def count(self) -> int:
        """Entries set."""
        return sum(int(torch.count_nonzero(m)) for m in self.masks.values())  # 20x a bool sum()

    @property
    def fraction(self) -> float:
        """count / n (0.0 for a model without entries)."""
        return self.count / self.n if self.n else 0.0

    def counts(self) -> dict[str, int]:
        """Entries set, per parameter."""
        return {n: int(torch.count_nonzero(m)) for n, m in self.masks.items()}

    def __getitem__(self, name: str) -> Bool[Tensor, "..."]:
        try:
            return self.masks[name]
        except KeyError:
            raise KeyError(f"no parameter {name!r} in the mask{did_you_mean(nearest(name, self.masks))}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.masks)

    def __len__(self) -> int:
        return len(self.masks)

    def items(self):
        return self.masks.items()

    def check(self, model: Weights, what: str = "model") -> None:
        """Raise ValueError, naming the first differing tensors and shapes, unless ``model`` has exactly
        the parameter names and shapes this mask was built for."""
        params, _, label = weights_of(model, what)
        why = layout_mismatch(self.shapes, shapes_of(params), "the mask", what)
        if why:
            raise ValueError(f"a mask built for {self.model or 'another model'} does not fit {what} ({label}): {why}")

    def __repr__(self) -> str:
        how = f"p={self.p}, scope={self.scope!r}, " if self.p is not None else ""
        return f"WeightMask({how}{self.count}/{self.n} entries, {len(self)} tensors, fingerprint {self.fingerprint})"


class LevelMask(WeightMask):
    """Mask ``j`` of a sweep, ``levels <= j``, computed on first use (the levels never change, so it
    is the same whenever it is computed)."""

    def __init__(self, levels: dict[str, Tensor], j: int, *, p: float, scope: str, model: str):
        self._levels, self._j, self._masks = levels, j, None
        self.shapes = shapes_of(levels)
        self.p, self.scope, self.model = p, scope, model

    @property
    def masks(self) -> dict[str, Tensor]:  # type: ignore[override]
        if self._masks is None:
            self._masks = {name: level <= self._j for name, level in self._levels.items()}
        return self._masks


@torch.no_grad()
def top_p_mask(base: Model | nn.Module, tuned: Weights, p: float, *, scope: str = "global") -> WeightMask:
    """The ``p`` percent of entries that moved most, by float32 ``|tuned - base|``.

    Args:
        base, tuned: two models of one architecture (checked as in :func:`weight_diff`).
        p: percentage in [0, 100] of the entries of each group to keep.
        scope: the groups: ``"global"`` (all parameters together), ``"tensor"`` (each parameter), or
            ``"layer"`` (each decoder layer; the tensors outside the layers form one more group).

    Each group of n entries keeps exactly ``round(p * n / 100)`` of them (Python's ``round``, halves to
    even), the largest changes; of entries tied at the threshold, those with the lowest flat index (in
    ``named_parameters()`` order, then row-major) are kept. The threshold is found by histograms of the
    scores' bits, three streamed passes per group; nothing is sorted.
    """
    p = _percent(p)
    scope = _validate.choice("scope", scope, SCOPES)
    b, t, family, b_label, _ = matched(base, tuned)
    masks = {}
    for items in _groups(b, t, family, scope):
        masks.update(_select(items, _count(p, items)))
    return WeightMask({name: masks[name] for name in b}, p=p, scope=scope, model=b_label)


@torch.no_grad()
def top_p_masks(
    base: Model | nn.Module, tuned: Weights, ps: Iterable[float], *, scope: str = "global"
) -> list[WeightMask]:
    """The masks of :func:`top_p_mask` for several percentages at once, in the order of ``ps``.

    Equal entry for entry to ``[top_p_mask(base, tuned, p, scope=scope) for p in ps]``, computed by
    shared passes per group: one histogram of the scores' high bits for every ``p``, low-bits
    histograms for the distinct bins the thresholds fall in only, and one pass that gives every entry
    its level, the index of the smallest ``p`` whose mask holds it (one byte per entry); each mask is
    then ``levels <= j``. The top-k sets of one strict total order (``|tuned - base|`` descending,
    flat index ascending) are nested, so the mask of a larger ``p`` holds every entry of a smaller
    one's. Each mask takes one byte per entry: for a long sweep on a large model, :func:`graft_sweep`
    keeps the levels instead (one byte per entry for all the masks). Duplicates in ``ps`` give equal
    masks; an empty ``ps`` gives ``[]``.
    """
    values = percents(ps)
    scope = _validate.choice("scope", scope, SCOPES)
    b, t, family, b_label, _ = matched(base, tuned)
    if not values:
        return []
    order = sorted(range(len(values)), key=values.__getitem__)
    levels, _ = sweep_levels(b, t, family, scope, [values[i] for i in order])
    masks: dict[int, WeightMask] = {}
    for j, i in enumerate(order):
        chosen = {name: level <= j for name, level in levels.items()}
        masks[i] = WeightMask(chosen, p=values[i], scope=scope, model=b_label)
    return [masks[i] for i in range(len(values))]  # order is a permutation: every index is there


def overlap(a: WeightMask, b: WeightMask) -> dict[str, float]:
    """How much two masks of one layout agree, against chance.

    Returns ``intersection``, ``size_a``, ``size_b``, ``n`` (entries in all), ``jaccard`` = |A and B| /
    |A or B|, ``expected_intersection`` = |A| |B| / n (the mean intersection of two independent uniformly
    random masks of those sizes over the n entries: each of A's entries is in B with probability
    |B|/n), and ``expected_jaccard`` = E|A and B| / (|A| + |B| - E|A and B|), the ratio of the expected
    intersection and the expected union, which approximates (is not exactly) the expected Jaccard.
    Two empty masks have Jaccard 1.0 (equal sets), and so does chance.
    """
    why = layout_mismatch(a.shapes, b.shapes, "mask a", "mask b")
    if why:
        raise ValueError(f"the masks are of different models: {why}")
    inter = sum(int(torch.count_nonzero(ma & b.masks[n].to(ma.device))) for n, ma in a.items())
    return set_overlap(inter, a.count, b.count, a.n, exact=False)
