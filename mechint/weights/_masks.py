"""Masks of the entries that moved most, found with an exact count and without sorting, and their overlap."""

from __future__ import annotations

import hashlib
import math
import numbers
from collections.abc import Iterator, Mapping

import torch
from jaxtyping import Bool
from torch import Tensor, nn

from .. import _validate
from .._suggest import did_you_mean, nearest
from ..model import Model
from ._naming import SCOPES, Weights, _chunks, _layer_of, _layout_mismatch, _matched, _shapes, _weights


def _percent(p) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"p must be a percentage, a number in [0, 100], got {_validate.given(p)}")
    value = float(p)
    if not 0.0 <= value <= 100.0:  # NaN fails this too
        raise ValueError(f"p must be a percentage in [0, 100], got {p!r}")
    return value


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
        for _, bc, tc in _chunks(bp, tp):
            high += torch.bincount((_score_bits(bc, tc, name) >> 16).long(), minlength=1 << 15).cpu()
    top, above = _kth_bin(high, k)
    low = torch.zeros(1 << 16, dtype=torch.int64)
    for name, bp, tp in items:
        for _, bc, tc in _chunks(bp, tp):
            bits = _score_bits(bc, tc, name)
            low += torch.bincount((bits[(bits >> 16) == top] & 0xFFFF).long(), minlength=1 << 16).cpu()
    bottom, above_low = _kth_bin(low, k - above)
    threshold = (top << 16) | bottom
    ties = k - above - above_low  # entries equal to the threshold still to keep, >= 1
    masks = {}
    for name, bp, tp in items:
        mask = torch.empty(bp.numel(), dtype=torch.bool, device=bp.device)
        for start, bc, tc in _chunks(bp, tp):
            bits = _score_bits(bc, tc, name)
            keep, equal = bits > threshold, bits == threshold
            if ties > 0:
                take = equal & (equal.cumsum(0) <= ties)
                ties -= int(take.sum())
                keep |= take
            mask[start : start + bits.numel()] = keep
        masks[name] = mask.view(bp.shape)
    return masks


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
        self.shapes: dict[str, tuple[int, ...]] = _shapes(self.masks)
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
        return sum(int(m.sum()) for m in self.masks.values())

    @property
    def fraction(self) -> float:
        """count / n (0.0 for a model without entries)."""
        return self.count / self.n if self.n else 0.0

    def counts(self) -> dict[str, int]:
        """Entries set, per parameter."""
        return {n: int(m.sum()) for n, m in self.masks.items()}

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
        params, _, label = _weights(model, what)
        why = _layout_mismatch(self.shapes, _shapes(params), "the mask", what)
        if why:
            raise ValueError(f"a mask built for {self.model or 'another model'} does not fit {what} ({label}): {why}")

    def __repr__(self) -> str:
        how = f"p={self.p}, scope={self.scope!r}, " if self.p is not None else ""
        return f"WeightMask({how}{self.count}/{self.n} entries, {len(self)} tensors, fingerprint {self.fingerprint})"


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
    b, t, family, b_label, _ = _matched(base, tuned)
    groups: dict = {}
    for name in b:
        key = {"global": None, "tensor": name, "layer": _layer_of(name, family)}[scope]
        groups.setdefault(key, []).append((name, b[name], t[name]))
    masks = {}
    for items in groups.values():
        masks.update(_select(items, round(p * sum(bp.numel() for _, bp, _ in items) / 100)))
    return WeightMask({name: masks[name] for name in b}, p=p, scope=scope, model=b_label)


def overlap(a: WeightMask, b: WeightMask) -> dict[str, float]:
    """How much two masks of one layout agree, against chance.

    Returns ``intersection``, ``size_a``, ``size_b``, ``n`` (entries in all), ``jaccard`` = |A and B| /
    |A or B|, ``expected_intersection`` = |A| |B| / n (the mean intersection of two independent uniformly
    random masks of those sizes over the n entries: each of A's entries is in B with probability
    |B|/n), and ``expected_jaccard`` = E|A and B| / (|A| + |B| - E|A and B|), the ratio of the expected
    intersection and the expected union, which approximates (is not exactly) the expected Jaccard.
    Two empty masks have Jaccard 1.0 (equal sets), and so does chance.
    """
    why = _layout_mismatch(a.shapes, b.shapes, "mask a", "mask b")
    if why:
        raise ValueError(f"the masks are of different models: {why}")
    inter = sum(int((ma & b.masks[n].to(ma.device)).sum()) for n, ma in a.items())
    size_a, size_b, n = a.count, b.count, a.n
    union = size_a + size_b - inter
    expected = size_a * size_b / n if n else 0.0
    expected_union = size_a + size_b - expected
    return {
        "jaccard": inter / union if union else 1.0,
        "intersection": inter,
        "size_a": size_a,
        "size_b": size_b,
        "n": n,
        "expected_intersection": expected,
        "expected_jaccard": expected / expected_union if expected_union > 0 else 1.0,
    }
