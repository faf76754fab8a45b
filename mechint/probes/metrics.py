"""Binary classification metrics of probe scores: :func:`binary_metrics` (accuracy, F1, AUROC,
PR-AUC for a whole batch of problems at once) and the :class:`Metrics` it returns.

Class 1 (harmful, :data:`POSITIVE_CLASS`) is the positive class and logit 0 (probability 0.5) the
threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from .. import _validate, stats
from ._common import broadcast, check_label_values

POSITIVE_CLASS: int = 1
"""The positive class of every probe and metric here: label 1, harmful."""
POSITIVE_NAME: str = "harmful"


@dataclass
class Metrics:
    """Binary classification metrics of one or many problems (every field has the batch shape).

    ``positive_class`` (1, ``"harmful"``) is the class F1 and PR-AUC are computed for and the class
    a score above ``threshold`` predicts. AUROC does not depend on which class is positive;
    PR-AUC does (its chance level is the share of positives, ``n_positive / n``).
    """

    accuracy: Tensor
    f1: Tensor
    auroc: Tensor
    pr_auc: Tensor
    n: Tensor
    n_positive: Tensor
    threshold: float = 0.0
    positive_class: int = POSITIVE_CLASS
    positive_name: str = POSITIVE_NAME

    _RATES = ("accuracy", "f1", "auroc", "pr_auc")
    _FIELDS = (*_RATES, "n", "n_positive")

    @property
    def shape(self) -> torch.Size:
        return self.accuracy.shape

    def to_dataframe(self, axes: "dict[str, list] | None" = None):
        """The metrics in long form, a pandas DataFrame: one row per problem, a column per axis
        (``axes`` maps each batch axis, in order, to its labels; default ``axis0, axis1, ...`` with
        positions) and one per metric."""
        import itertools

        import pandas as pd

        shape = tuple(self.shape)
        if axes is None:
            axes = {f"axis{i}": list(range(n)) for i, n in enumerate(shape)}
        if tuple(len(v) for v in axes.values()) != shape:
            raise ValueError(f"axes label {tuple(len(v) for v in axes.values())} entries for metrics of shape {shape}")
        rows = list(itertools.product(*axes.values()))
        frame = pd.DataFrame(rows, columns=list(axes)) if axes else pd.DataFrame(index=range(1))
        for name in self._FIELDS:
            frame[name] = getattr(self, name).reshape(-1).tolist()
        return frame

    def __getitem__(self, index) -> "Metrics":
        return replace(self, **{k: getattr(self, k)[index] for k in self._FIELDS})

    def map(self, fn) -> "Metrics":
        """Apply ``fn`` to every field (e.g. ``lambda t: t.mean(0)`` to average over folds)."""
        return replace(self, **{k: fn(getattr(self, k)) for k in self._FIELDS})

    def to_dict(self, digits: int | None = 6) -> dict:
        """Plain lists (JSON-ready), with the positive class stated."""

        def conv(t: Tensor):
            t = t.detach().cpu()
            if t.dtype.is_floating_point and digits is not None:
                t = t.double()
                return _round_nested(t.tolist(), digits)
            return t.tolist()

        out = {k: conv(getattr(self, k)) for k in self._FIELDS}
        out["positive_class"] = f"{self.positive_class} ({self.positive_name})"
        out["threshold"] = f"logit {self.threshold:g} (probability {1 / (1 + math.exp(-self.threshold)):.3g})"
        return out


def _round_nested(x, digits: int):
    if isinstance(x, list):
        return [_round_nested(v, digits) for v in x]
    return None if x != x else round(x, digits)  # NaN -> null


def binary_metrics(
    scores: Float[Tensor, "*batch n"],
    labels: Tensor | Sequence[int],
    mask: Tensor | None = None,
    *,
    threshold: float = 0.0,
) -> Metrics:
    """Accuracy, F1, AUROC and PR-AUC of scores (logits) against 0/1 labels, for every problem.

    Args:
        scores: ``[*batch, n]`` scores where higher means more likely harmful (probe logits).
        labels: ``[n]`` or ``[*batch, n]`` labels, 1 = harmful (the positive class).
        mask: ``[n]`` or ``[*batch, n]`` booleans; rows where it is False are left out (lets problems
            of different sizes share one tensor).
        threshold: a score above it predicts class 1 (logit 0 = probability 0.5).

    AUROC averages the ranks of tied scores (the Mann-Whitney statistic, as
    ``sklearn.metrics.roc_auc_score``); PR-AUC is the average precision over the distinct score
    thresholds (``sklearn.metrics.average_precision_score``). A problem without both classes gets
    NaN AUROC (and NaN PR-AUC without positives); F1 is 0 when there is no positive and no
    predicted positive.

    Raises:
        ValueError: labels or mask whose shape does not broadcast to the scores'.
        ProbeDataError: labels other than 0 and 1 among the rows counted (-1/1 labels would make
            every row positive).
    """
    scores = torch.as_tensor(scores)
    if not scores.dtype.is_floating_point:
        scores = scores.float()
    y = _validate.labels(labels, device=scores.device)
    shape = scores.shape
    if scores.ndim == 0 or shape[-1] == 0:
        raise ValueError(f"scores must be [*batch, n] with n > 0, got shape {tuple(shape)}")
    y = _broadcast_rows(y, shape, "labels")
    m = (
        torch.ones(shape, dtype=torch.bool, device=scores.device)
        if mask is None
        else _broadcast_rows(torch.as_tensor(mask, device=scores.device).bool(), shape, "mask")
    )
    check_label_values(y if mask is None else y[m])
    y = y.bool()
    s = scores.double()
    if torch.isnan(s[m]).any():
        raise ValueError("scores contain NaN")
    yf, mf = (y & m).double(), m.double()
    n = mf.sum(-1)
    n_pos = yf.sum(-1)
    pred = (s > threshold) & m
    tp = (pred & y).double().sum(-1)
    fp = (pred & ~y).double().sum(-1)
    fn = n_pos - tp
    correct = ((pred == y) & m).double().sum(-1)
    accuracy = correct / n.clamp(min=1)
    f1 = torch.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn).clamp(min=1e-300), torch.zeros_like(tp))
    auroc = stats.auroc(s, y, m)  # the one AUROC; NaN where a problem lacks a class

    # Average precision: precision at the end of each tie group, weighted by the recall gained.
    big = torch.finfo(torch.float64).max
    key = torch.where(m, -s.clamp(-big, big), torch.full_like(s, math.inf))
    order = key.argsort(-1)
    v = key.gather(-1, order)
    start, end = stats.tie_bounds(v)
    pos_sorted = yf.gather(-1, order)
    seen = mf.gather(-1, order).cumsum(-1)
    ctp = pos_sorted.cumsum(-1)
    is_end = end == torch.arange(v.shape[-1], device=v.device)
    before = torch.where(start > 0, ctp.gather(-1, (start - 1).clamp(min=0)), torch.zeros_like(ctp))
    precision = ctp / seen.clamp(min=1)
    ap = torch.where(is_end, (ctp - before) * precision, torch.zeros_like(ctp)).sum(-1) / n_pos.clamp(min=1)
    ap = torch.where(n_pos > 0, ap, torch.full_like(ap, math.nan))
    return Metrics(
        accuracy=accuracy.float(),
        f1=f1.float(),
        auroc=auroc.float(),
        pr_auc=ap.float(),
        n=n.long(),
        n_positive=n_pos.long(),
        threshold=float(threshold),
    )


def _broadcast_rows(t: Tensor, shape: torch.Size, what: str) -> Tensor:
    """``t`` broadcast to the scores' ``shape`` (``[*batch, n]``), or a ValueError naming both shapes."""
    return broadcast(
        t,
        shape,
        ValueError,
        f"{what} of shape",
        f"do not match scores of shape {tuple(shape)} (expected "
        f"[{shape[-1]}] or a shape that broadcasts to [*batch, {shape[-1]}])",
    )
