"""Per-tensor weight movement between two models of one architecture, and its aggregates."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from .._suggest import did_you_mean, nearest
from ..model import Model
from ._naming import KINDS, Weights, chunks, layer_of, matched, module_kind


def _relative(delta: float, base: float) -> float:
    """delta / base; a zero base gives 0.0 when nothing moved and inf when something did."""
    if base > 0:
        return delta / base
    return 0.0 if delta == 0 else math.inf


@dataclass(frozen=True)
class TensorDiff:
    """How one parameter moved: ``delta_norm`` = ||tuned - base||_F, ``base_norm`` = ||base||_F,
    ``relative`` = delta_norm / base_norm (0.0 for an unmoved zero tensor, inf for a moved one)."""

    name: str
    shape: tuple[int, ...]
    numel: int
    delta_norm: float
    base_norm: float
    relative: float
    layer: int | None
    kind: str


@dataclass(frozen=True)
class DiffSummary:
    """A group of tensors taken as one concatenated vector: ``delta_norm`` = sqrt(sum of squared delta
    norms), ``base_norm`` likewise, ``relative`` their ratio."""

    delta_norm: float
    base_norm: float
    relative: float
    numel: int
    n_tensors: int


class WeightDiff:
    """Per-parameter movement between two models of one architecture (:func:`weight_diff`)."""

    def __init__(self, tensors: dict[str, TensorDiff], *, base: str = "", tuned: str = ""):
        self.tensors = tensors
        self.base, self.tuned = base, tuned

    def __getitem__(self, name: str) -> TensorDiff:
        try:
            return self.tensors[name]
        except KeyError:
            raise KeyError(f"no parameter {name!r}{did_you_mean(nearest(name, self.tensors))}") from None

    def __iter__(self) -> Iterator[TensorDiff]:
        return iter(self.tensors.values())

    def __len__(self) -> int:
        return len(self.tensors)

    def __repr__(self) -> str:
        total = self.total()
        return f"WeightDiff({self.base!r} -> {self.tuned!r}, {len(self)} tensors, relative change {total.relative:.3g})"

    @staticmethod
    def _summary(diffs: list[TensorDiff]) -> DiffSummary:
        delta = math.sqrt(math.fsum(d.delta_norm**2 for d in diffs))
        base = math.sqrt(math.fsum(d.base_norm**2 for d in diffs))
        return DiffSummary(delta, base, _relative(delta, base), sum(d.numel for d in diffs), len(diffs))

    def _grouped(self, key) -> dict:
        groups: dict = {}
        for d in self.tensors.values():
            groups.setdefault(key(d), []).append(d)
        return {k: self._summary(v) for k, v in groups.items()}

    def by_layer(self) -> dict[int | None, DiffSummary]:
        """One :class:`DiffSummary` per layer index, ascending, then ``None`` (tensors outside the layers)."""
        groups = self._grouped(lambda d: d.layer)
        return {k: groups[k] for k in sorted(groups, key=lambda k: (k is None, k or 0))}

    def by_kind(self) -> dict[str, DiffSummary]:
        """One :class:`DiffSummary` per module kind present, in the order of :data:`KINDS`."""
        groups = self._grouped(lambda d: d.kind)
        return {k: groups[k] for k in KINDS if k in groups}

    def total(self) -> DiffSummary:
        """The whole model as one vector."""
        return self._summary(list(self.tensors.values()))

    def to_dataframe(self):
        """A pandas DataFrame, one row per tensor (columns: the fields of :class:`TensorDiff`)."""
        import pandas as pd

        rows = [vars(d) for d in self.tensors.values()]
        frame = pd.DataFrame(rows, columns=list(TensorDiff.__dataclass_fields__))
        frame["layer"] = frame["layer"].astype("Int64")  # None stays missing, not NaN-as-float
        return frame


@torch.no_grad()
def weight_diff(base: Model | nn.Module, tuned: Weights) -> WeightDiff:
    """How far each parameter of ``tuned`` moved from ``base`` (two models of one architecture).

    Norms are accumulated in float64, one chunk of one tensor at a time. Raises ValueError, naming the
    first differing tensors and their shapes, when the families, parameter names or shapes differ.
    """
    b, t, family, b_label, t_label = matched(base, tuned)
    out = {}
    for name, bp in b.items():
        delta_sq = base_sq = 0.0
        for _, bc, tc in chunks(bp, t[name]):
            bd = bc.double()
            delta_sq += float((tc.double() - bd).square().sum())
            base_sq += float(bd.square().sum())
        dn, bn = math.sqrt(delta_sq), math.sqrt(base_sq)
        out[name] = TensorDiff(
            name,
            tuple(bp.shape),
            bp.numel(),
            dn,
            bn,
            _relative(dn, bn),
            layer_of(name, family),
            module_kind(name, family),
        )
    return WeightDiff(out, base=b_label, tuned=t_label)
