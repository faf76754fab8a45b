"""Linear probes: L2-regularised logistic regression for many problems at once, on any device.

A probe predicts the label (1 harmful, 0 harmless) of a text from one activation vector. Studies fit
one per layer, per training language, per fold, per prefix length: thousands of small problems.
:func:`fit_probes` fits all of them as one batched second-order optimisation on the activations'
device, each problem converging on its own (a converged problem leaves the batch) and optionally
starting from an earlier solution (``init=``: the neighbouring layer, fold or prefix fraction).

The objective is scikit-learn's ``LogisticRegression(C=C)`` (L2, ``lbfgs``/``newton-cholesky``)
after a ``StandardScaler`` fitted on the training rows, problem by problem::

    minimise over (w, b):  C * sum_i s_i * log(1 + exp(-(2 y_i - 1) (x_i . w + b)))  +  ||w||^2 / 2

``s_i`` is the sample weight times the class weight (``class_weight="balanced"``:
``n / (2 n_class)``, as scikit-learn computes it); the intercept ``b`` is not penalised. Features are
standardised with the training rows' mean and standard deviation (``ddof=0``; a constant feature
keeps scale 1), as ``StandardScaler`` does; ``standardize=False`` fits the raw features.

Three solvers (``solver="auto"``: L-BFGS on a CPU, Newton on a GPU):

- ``"lbfgs"``: limited-memory BFGS, ~25 iterations at ``tol=1e-4`` on the gemma probes, each two
  passes over a problem's rows (a gradient and a direction): on a CPU that costs less than forming a
  Hessian. On a CPU it runs compiled (:mod:`mechint._lbfgs_cpu`, numba): each problem start to
  finish in one call, its standardised rows in a core's cache, the problems shared out over
  ``torch.get_num_threads()`` threads (the first fit after installation compiles it: ~5 s on 2
  cores, then cached on disk; loading it takes ~0.6 s per process). On other devices every problem
  runs at once in one batch.
- ``"primal"`` Newton (more rows than features): the ``[d+1, d+1]`` Hessian of every problem is
  formed with one batched matrix product and solved with a batched Cholesky factorisation.
- ``"dual"`` Newton (fewer rows than features, e.g. 441 training rows of width 640): the weights lie
  in the span of the training rows, so the Newton step is solved in that ``n``-dimensional space from
  the rows' Gram matrix, computed once: the system is ``[n, n]`` instead of ``[d+1, d+1]``. On a GPU
  the 4-5 Newton steps of a batch of problems cost little more than their matrix products.

All three take steps of the length that minimises the objective along the step's direction (a
one-dimensional convex search that costs O(n) per problem, since the function values move linearly
along it; the best Newton step is often 1.2-2.3 times the full step early on, and taking it cut the
Newton iterations from ~9 to ~5 on the gemma probes), and stop a problem when the largest absolute
component of its gradient, divided by the sum of its sample weights, is at most ``tol``:
scikit-learn's ``lbfgs`` criterion (``gtol``) on the same averaged objective.

Metrics (:func:`binary_metrics`): accuracy, F1, AUROC and PR-AUC (average precision), with class 1
(harmful) as the positive class and logit 0 (probability 0.5) as the threshold.

Speed (``benchmarks/bench_probes.py``, the fits of the gemma-3-270m probe studies, against
scikit-learn's ``LogisticRegression`` fitted one problem at a time on one thread, same objective and
``tol``): on an H100 (Newton, synthetic data of the same shape, the copy from host memory included)
the 18 layer fits (2200 x 640) took 0.046 s (64x scikit-learn on that machine's CPU) and the 90 fits
of a transfer matrix (440 x 640) 0.042 s (41x; 35x against the fastest scikit-learn run seen there).
On 2 CPU cores the compiled L-BFGS took 0.089 s for the transfer matrix (scikit-learn 0.566 s: 6.4x;
one thread 0.140 s) and 0.135 s for the layers (scikit-learn 0.488 s). In a process that has also
run torch, scikit-learn with its default thread pools was up to 25x slower than with one thread
(11.4 s for the layers; cap them with ``threadpoolctl.threadpool_limits(1)``).
"""

from __future__ import annotations

import json
import math
import operator
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import torch
from jaxtyping import Float
from torch import Tensor

__all__ = [
    "POSITIVE_CLASS",
    "POSITIVE_NAME",
    "Probe",
    "Metrics",
    "ProbeDataError",
    "ProbeConvergenceWarning",
    "fit_probes",
    "binary_metrics",
    "fold_ids",
    "split_ids",
    "cross_validate",
    "CVResult",
    "transfer_matrix",
    "TransferResult",
    "early_prediction",
    "EarlyResult",
]

POSITIVE_CLASS: int = 1
"""The positive class of every probe and metric here: label 1, harmful."""
POSITIVE_NAME: str = "harmful"

Solver = Literal["auto", "primal", "dual", "lbfgs"]
ClassWeight = Literal["balanced"] | Mapping[int, float] | None


class ProbeDataError(ValueError):
    """Activations or labels a probe cannot be trained on (NaN, one class, mismatched rows)."""


class ProbeConvergenceWarning(UserWarning):
    """Some problems of a :func:`fit_probes` call stopped before reaching ``tol`` (``max_iter`` steps,
    or no decrease possible in the working precision): their probes are returned as they stood, and
    ``Probe.converged`` says which."""


# =================================================================================================
# Metrics
# =================================================================================================


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
    y = torch.as_tensor(labels, device=scores.device)
    shape = scores.shape
    if scores.ndim == 0 or shape[-1] == 0:
        raise ValueError(f"scores must be [*batch, n] with n > 0, got shape {tuple(shape)}")
    y = _broadcast_rows(y, shape, "labels")
    m = torch.ones(shape, dtype=torch.bool, device=scores.device) if mask is None else _broadcast_rows(
        torch.as_tensor(mask, device=scores.device).bool(), shape, "mask"
    )
    _check_label_values(y if mask is None else y[m])
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
    n_neg = n - n_pos

    # AUROC: mean rank of the positives (ties averaged); masked rows sort last.
    big = torch.finfo(torch.float64).max
    key = torch.where(m, s.clamp(-big, big), torch.full_like(s, math.inf))
    order = key.argsort(-1)
    v = key.gather(-1, order)
    start, end = _tie_bounds(v)
    ranks = (start + end).double() / 2 + 1
    pos_sorted = yf.gather(-1, order)
    rank_sum = (ranks * pos_sorted).sum(-1)
    auroc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    auroc = torch.where((n_pos > 0) & (n_neg > 0), auroc, torch.full_like(auroc, math.nan))

    # Average precision: precision at the end of each tie group, weighted by the recall gained.
    key = torch.where(m, -s.clamp(-big, big), torch.full_like(s, math.inf))
    order = key.argsort(-1)
    v = key.gather(-1, order)
    start, end = _tie_bounds(v)
    pos_sorted = yf.gather(-1, order)
    seen = mf.gather(-1, order).cumsum(-1)
    ctp = pos_sorted.cumsum(-1)
    is_end = end == torch.arange(v.shape[-1], device=v.device)
    before = torch.where(start > 0, ctp.gather(-1, (start - 1).clamp(min=0)), torch.zeros_like(ctp))
    precision = ctp / seen.clamp(min=1)
    ap = torch.where(is_end, (ctp - before) * precision, torch.zeros_like(ctp)).sum(-1) / n_pos.clamp(min=1)
    ap = torch.where(n_pos > 0, ap, torch.full_like(ap, math.nan))
    return Metrics(
        accuracy=accuracy.float(), f1=f1.float(), auroc=auroc.float(), pr_auc=ap.float(),
        n=n.long(), n_positive=n_pos.long(), threshold=float(threshold),
    )


def _broadcast(t: Tensor, shape, error: type[Exception], what: str, mismatch: str, *, of: Tensor | None = None) -> Tensor:
    """``t`` broadcast to ``shape``, or ``error``: "``what`` (``of``'s shape, default ``t``'s)
    ``mismatch``" (torch's own error names neither argument)."""
    try:
        return torch.broadcast_to(t, shape)
    except RuntimeError:
        raise error(f"{what} {tuple((t if of is None else of).shape)} {mismatch}") from None


def _broadcast_rows(t: Tensor, shape: torch.Size, what: str) -> Tensor:
    """``t`` broadcast to the scores' ``shape`` (``[*batch, n]``), or a ValueError naming both shapes."""
    return _broadcast(t, shape, ValueError, f"{what} of shape", f"do not match scores of shape {tuple(shape)} (expected "
                      f"[{shape[-1]}] or a shape that broadcasts to [*batch, {shape[-1]}])")


def _tie_bounds(v: Tensor) -> tuple[Tensor, Tensor]:
    """First and last index of the run of equal values each position of a sorted ``v`` is in."""
    n = v.shape[-1]
    idx = torch.arange(n, device=v.device).expand_as(v)
    new = torch.ones_like(v, dtype=torch.bool)
    new[..., 1:] = v[..., 1:] != v[..., :-1]
    last = torch.ones_like(v, dtype=torch.bool)
    last[..., :-1] = v[..., 1:] != v[..., :-1]
    start = torch.where(new, idx, torch.zeros_like(idx)).cummax(-1).values
    end = torch.where(last, idx, torch.full_like(idx, n)).flip(-1).cummin(-1).values.flip(-1)
    return start, end


# =================================================================================================
# The probe
# =================================================================================================


@dataclass
class Probe:
    """Fitted logistic-regression probes, one per problem of a batch (shape ``batch_shape``).

    Attributes:
        coef: ``[*batch, d]`` weights on standardised features (what scikit-learn's ``coef_`` is
            after a ``StandardScaler``).
        intercept: ``[*batch]`` intercepts on standardised features.
        mean, scale: ``[*batch, d]`` the standardisation (``(x - mean) / scale``); zeros and ones
            when fitted with ``standardize=False``.
        C: ``[*batch]`` inverse L2 strength of each problem.
        n_iter: ``[*batch]`` Newton iterations taken; converged: whether ``tol`` was reached.
        axes: names of the batch axes (e.g. ``("layer", "language")``); coords: labels along them.
        class_weight: as fitted (``None``, ``"balanced"`` or ``{label: weight}``).

    The positive class is 1 (harmful): a positive logit predicts harmful. :attr:`weight` and
    :attr:`bias` act on raw activations; :attr:`direction` is the unit vector along :attr:`weight`,
    the direction in activation space that raises the harmful logit fastest (add it with
    ``mechint.add_value(alpha * probe.direction[layer])``).
    """

    coef: Tensor
    intercept: Tensor
    mean: Tensor
    scale: Tensor
    C: Tensor
    n_iter: Tensor
    converged: Tensor
    axes: tuple[str, ...] = ()
    coords: dict[str, list] = field(default_factory=dict)
    class_weight: Any = None
    tol: float = 1e-4
    positive_class: int = POSITIVE_CLASS
    positive_name: str = POSITIVE_NAME

    _TENSORS = ("coef", "intercept", "mean", "scale", "C", "n_iter", "converged")

    def __post_init__(self) -> None:
        # plain Python labels (``layers=np.arange(L)`` gives numpy integers): :meth:`save` writes them as JSON
        self.axes = tuple(self.axes)
        self.coords = {str(k): _plain_list(v) for k, v in self.coords.items()}

    # ------------------------------------------------------------------ shape and indexing
    @property
    def batch_shape(self) -> torch.Size:
        return self.intercept.shape

    @property
    def d(self) -> int:
        return int(self.coef.shape[-1])

    @property
    def device(self) -> torch.device:
        return self.coef.device

    def __getitem__(self, index) -> "Probe":
        """Probes of a sub-batch, e.g. ``probe[6]`` (layer 6), ``probe[:, 0]``, ``probe[..., 2]``,
        ``probe[auroc.argmax()]`` or ``probe[mask]`` (a boolean mask along one axis).

        Each batch axis takes one index: an integer (numpy and 0-d tensor integers included) drops
        the axis; a slice, a 1-D list/array of integers or a 1-D boolean mask keeps it (with those
        labels in ``coords``). Index arrays on several axes select every combination (the sub-batch
        of those rows along each axis), not torch's pointwise pairs.
        """
        sels = _batch_index(index, self.batch_shape)
        sub = {}
        for k in self._TENSORS:
            t, dim = getattr(self, k), 0
            for sel in sels:
                t = t[(slice(None),) * dim + (sel,)]
                dim += not isinstance(sel, int)
            sub[k] = t
        # axes kept: those not indexed by an integer
        axes, coords = [], {}
        for name, sel in zip(self.axes, sels):
            if isinstance(sel, int):
                continue
            axes.append(name)
            if name in self.coords:
                vals = self.coords[name]
                coords[name] = vals[sel] if isinstance(sel, slice) else [vals[j] for j in sel.tolist()]
        return replace(self, **sub, axes=tuple(axes), coords=coords)

    def to(self, device: str | torch.device) -> "Probe":
        return replace(self, **{k: getattr(self, k).to(device) for k in self._TENSORS})

    def __repr__(self) -> str:
        return (
            f"Probe(batch_shape={tuple(self.batch_shape)}, axes={self.axes}, d={self.d}, "
            f"C={_short(self.C)}, class_weight={self.class_weight!r}, converged={int(self.converged.sum())}/"
            f"{self.converged.numel()}, positive_class={self.positive_class} ({self.positive_name}))"
        )

    # ------------------------------------------------------------------ raw-space view
    @property
    def weight(self) -> Float[Tensor, "*batch d"]:
        """Weights on raw activations: ``logit = x @ weight + bias``."""
        return self.coef / self.scale

    @property
    def bias(self) -> Float[Tensor, "*batch"]:
        return self.intercept - (self.mean * self.weight).sum(-1)

    @property
    def direction(self) -> Float[Tensor, "*batch d"]:
        """Unit-length :attr:`weight`: harmful rows project higher (usable for interventions)."""
        w = self.weight.double()
        return (w / w.norm(dim=-1, keepdim=True).clamp(min=1e-30)).to(self.coef.dtype)

    # ------------------------------------------------------------------ prediction
    def decision_function(self, acts: Float[Tensor, "*batch n d"] | Float[Tensor, "n d"]) -> Float[Tensor, "*batch n"]:
        """Logits (positive: harmful) of raw activations.

        ``acts`` is ``[n, d]`` (every probe scores the same rows: result ``[*batch, n]``) or
        ``[*batch, n, d]`` (problem ``i`` scores its own rows); an axis of size 1 on either side
        broadcasts (``[layer, 1, t, d]`` scores each layer's rows under every probe of a
        ``[layer, language]`` batch). The leading axes must match the batch axes one for one:
        torch's right-aligned broadcasting would silently pair a ``[L, A]`` probe with ``[L, n, d]``
        rows by the wrong axis.

        Scored as ``(x - mean) @ weight + intercept``: centring first keeps the logits exact for
        features with a large mean and a small spread (folding the mean into the bias, as
        :attr:`bias` does, cancels large terms: a logit error of ~0.04 in float32 at mean 1000,
        std 0.01).
        """
        x = torch.as_tensor(acts)
        if x.ndim < 2:
            raise ValueError(f"activations must be [n, d] or [*batch, n, d], got shape {tuple(x.shape)}")
        if x.shape[-1] != self.d:
            raise ValueError(f"activations have width {x.shape[-1]}, the probe was fitted on width {self.d}")
        batch, lead = tuple(self.batch_shape), tuple(x.shape[:-2])
        if lead and (len(lead) != len(batch) or any(a != b and 1 not in (a, b) for a, b in zip(lead, batch))):
            raise ValueError(
                f"activations of shape {tuple(x.shape)} do not fit probes of batch shape {batch}: expected "
                f"[n, {self.d}] (every probe scores the same rows) or [*{list(batch)}, n, {self.d}] (each probe "
                "its own rows; axes of size 1 broadcast)"
            )
        x = x.to(self.device)
        if not x.dtype.is_floating_point:
            x = x.float()
        dt = torch.promote_types(torch.promote_types(x.dtype, self.coef.dtype), torch.float32)
        n, d = x.shape[-2], self.d
        # centred a chunk of rows at a time (a few MB, in cache on a CPU): no full centred copy
        budget = (1 << 20) if x.device.type == "cpu" else (1 << 27)  # elements per chunk
        if not lead:
            # every probe scores the same rows: centre them once on the probes' mean of means, one
            # matrix product for all probes, and each probe's own centring as a correction, when
            # that correction is small enough to add without cancellation (probes fitted on data
            # with very different means, e.g. different layers: each centres its own copy below)
            P = math.prod(batch)
            w = self.weight.to(dt).reshape(P, d)
            means = self.mean.to(dt).reshape(P, d)
            centre = means.double().mean(0).to(dt)  # [d]
            correction = ((centre - means) * w).sum(-1)  # [P]
            if P == 0 or float(correction.abs().max()) * torch.finfo(dt).eps <= 1e-5:
                shift = correction + self.intercept.to(dt).reshape(P)
                step = max(1, budget // d)
                out = torch.cat([(x[i : i + step].to(dt) - centre) @ w.T for i in range(0, max(n, 1), step)])  # [n, P]
                return (out + shift).T.reshape(*batch, n)
            x, lead = x.expand(*batch, n, d), batch
        batch = torch.broadcast_shapes(lead, batch)
        P = math.prod(batch)
        w = self.weight.to(dt).expand(*batch, d).reshape(P, 1, d)
        mean = self.mean.to(dt).expand(*batch, d).unsqueeze(-2)  # [*batch, 1, d]
        # each problem's weights as a row vector times its rows: 5.5 ms for [18, 2200, 640] on one
        # core, where one batched matrix-vector product of the uncentred rows took 20 ms
        step = max(1, budget // max(P * d, 1))
        parts = []
        for i in range(0, max(n, 1), step):
            xc = x[..., i : i + step, :].to(dt) - mean  # [*batch, m, d]
            parts.append(torch.bmm(w, xc.reshape(P, xc.shape[-2], d).mT).squeeze(1))
        out = parts[0] if len(parts) == 1 else torch.cat(parts, -1)
        return (out + self.intercept.to(dt).expand(batch).reshape(P, 1)).reshape(*batch, n)

    def predict_proba(self, acts: Tensor) -> Tensor:
        """Probability of the positive class (harmful)."""
        return torch.sigmoid(self.decision_function(acts))

    def predict(self, acts: Tensor) -> Tensor:
        """Predicted labels (1 harmful, 0 harmless)."""
        return (self.decision_function(acts) > 0).long()

    def evaluate(self, acts: Tensor, labels: Tensor | Sequence[int], mask: Tensor | None = None) -> Metrics:
        """:func:`binary_metrics` of this probe's logits on ``acts`` against ``labels``."""
        x = torch.as_tensor(acts)
        if x.ndim < 2:
            raise ValueError(f"activations must be [..., n, d], got shape {tuple(x.shape)}")
        _check_finite_rows(x, None, "activations", mask)
        return binary_metrics(self.decision_function(x), torch.as_tensor(labels).to(self.device), mask)

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> Path:
        """Write the probes to a safetensors file (tensors + JSON metadata); returns the path."""
        from safetensors.torch import save

        from .cache import atomic_write_bytes

        path = Path(path)
        if path.suffix != ".safetensors":
            path = path.with_suffix(path.suffix + ".safetensors") if path.suffix else path.with_suffix(".safetensors")
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {k: getattr(self, k).detach().cpu().contiguous() for k in self._TENSORS}
        tensors["converged"] = tensors["converged"].to(torch.uint8)
        meta = {
            "format": "mechint.probe/v1",
            "axes": list(self.axes),
            "coords": self.coords,
            "class_weight": _cw_json(self.class_weight),
            "tol": self.tol,
            "positive_class": self.positive_class,
            "positive_name": self.positive_name,
            "objective": "C * sum_i s_i * logloss_i + ||coef||^2 / 2 on (x - mean) / scale; intercept unpenalised",
        }
        return atomic_write_bytes(path, save(tensors, metadata={"mechint.probe": json.dumps(meta)}))

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> "Probe":
        """Read probes written by :meth:`save`."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt", device=str(device)) as f:
            raw = (f.metadata() or {}).get("mechint.probe")
            if raw is None:
                raise ValueError(f"{path} is not a mechint probe file (no 'mechint.probe' metadata)")
            meta = json.loads(raw)
            tensors = {k: f.get_tensor(k) for k in cls._TENSORS}
        tensors["converged"] = tensors["converged"].bool()
        cw = meta.get("class_weight")
        if isinstance(cw, dict):
            cw = {int(k): float(v) for k, v in cw.items()}
        return cls(
            **tensors, axes=tuple(meta.get("axes", ())), coords=meta.get("coords", {}), class_weight=cw,
            tol=meta.get("tol", 1e-4), positive_class=meta.get("positive_class", POSITIVE_CLASS),
            positive_name=meta.get("positive_name", POSITIVE_NAME),
        )


def _plain(v):
    """A coordinate label as a plain Python value (numpy and 0-d tensor scalars via ``.item()``)."""
    if isinstance(v, Tensor) or type(v).__module__ == "numpy":
        return v.item() if getattr(v, "ndim", 0) == 0 else v.tolist()
    return v


def _plain_list(values) -> list:
    """Labels along one axis (a list, range, array or tensor) as a list of plain Python values."""
    if isinstance(values, Tensor) or type(values).__module__ == "numpy":
        return list(values.tolist()) if getattr(values, "ndim", 1) else [values.item()]
    return [_plain(v) for v in values]


def _batch_index(index, batch_shape: Sequence[int]) -> list:
    """One selector per batch axis: an ``int``, a ``slice`` or a 1-D long tensor of positions.

    Integer scalars of numpy or torch count as integers (``probe[auroc.argmax()]`` drops the axis),
    a 1-D boolean mask becomes the positions where it is True, and ``...`` stands for the axes not
    indexed otherwise."""
    idx = list(index) if isinstance(index, tuple) else [index]
    ellipses = [k for k, sel in enumerate(idx) if sel is Ellipsis]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if ellipses:
        idx[ellipses[0] : ellipses[0] + 1] = [slice(None)] * max(0, len(batch_shape) - len(idx) + 1)
    if len(idx) > len(batch_shape):
        raise IndexError(f"too many indices for probes of batch shape {tuple(batch_shape)}: {index!r}")
    out = []
    for axis, sel in enumerate(idx + [slice(None)] * (len(batch_shape) - len(idx))):
        if isinstance(sel, slice):
            out.append(sel)
        elif isinstance(sel, (Tensor, list, tuple, range)) or type(sel).__module__ == "numpy":
            t = torch.as_tensor(sel.tolist() if type(sel).__module__ == "numpy" else sel)
            if t.numel() == 0 and t.ndim == 1:
                t = t.long()
            if t.dtype == torch.bool and t.ndim == 1 and t.shape[0] == batch_shape[axis]:
                out.append(t.cpu().nonzero().reshape(-1))  # a mask: the positions it keeps
            elif t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool or t.ndim > 1:
                raise IndexError(
                    f"index {sel!r} along batch axis {axis} (size {batch_shape[axis]}): probes take integers, slices, "
                    "1-D integer arrays or 1-D boolean masks of the axis' length"
                )
            else:
                out.append(t.long().cpu() if t.ndim else int(t))  # a 0-d integer array drops the axis
        elif sel is None or isinstance(sel, bool):
            raise IndexError(f"probes are indexed along their batch axes: {sel!r} is not supported")
        else:
            out.append(operator.index(sel))  # int (or anything with __index__); else TypeError
    return out


def _short(t: Tensor):
    u = torch.unique(t.detach().cpu())
    return float(u[0]) if u.numel() == 1 else [float(v) for v in u[:4]]


def _cw_json(cw):
    if isinstance(cw, Mapping):
        return {str(int(k)): float(v) for k, v in cw.items()}
    return cw


# =================================================================================================
# Input checks
# =================================================================================================


def _describe_problem(flat: int, batch_shape: Sequence[int], axes: Sequence[str] | None) -> str:
    if not batch_shape:
        return "the problem"
    idx = []
    for size in reversed(batch_shape):
        idx.append(flat % size)
        flat //= size
    idx = idx[::-1]
    if not axes:
        return f"problem {tuple(idx)}"
    names = list(axes) + [f"axis {i}" for i in range(len(axes), len(idx))]
    return ", ".join(f"{n} {i}" for n, i in zip(names, idx))


def _check_finite_rows(
    x: Tensor, used: Tensor | None, what: str, mask=None, *, batch_shape=(), axes=None, rows: Tensor | None = None,
) -> None:
    """Raise naming the problem and rows whose activations are NaN/inf (among the rows used).

    ``x`` holds the problems of a batch of shape ``batch_shape``; with ``rows`` (``[*row_batch, m]``)
    problem ``(*b, *r)`` reads rows ``rows[r]`` of ``x[b]``."""
    if not x.dtype.is_floating_point:
        return
    if bool(torch.isfinite(x.sum())):  # one fast reduction: a NaN or inf anywhere makes it non-finite
        return
    # a row sum (float64: no overflow) is non-finite exactly when the row holds a NaN or an inf
    bad = ~torch.isfinite(x.sum(-1, dtype=torch.float64))  # [..., N]
    if rows is not None:
        bad = bad[..., rows.to(bad.device)]  # [..., *row_batch, m]
    if used is not None:
        bad = bad & used
    elif mask is not None:
        bad = bad & torch.broadcast_to(torch.as_tensor(mask, device=bad.device).bool(), bad.shape)
    if not bool(bad.any()):
        return
    flat = bad.reshape(-1, bad.shape[-1])
    p = int(flat.any(-1).nonzero()[0])
    at = flat[p].nonzero().reshape(-1).tolist()
    srcs = x.reshape(-1, *x.shape[-2:])
    R = 1 if rows is None else max(1, rows.reshape(-1, rows.shape[-1]).shape[0])
    src_rows = at if rows is None else rows.reshape(R, -1)[p % R][at].tolist()
    xs = srcs[p // R if srcs.shape[0] > 1 else 0]
    kind = "NaN" if bool(torch.isnan(xs[src_rows[0]]).any()) else "inf"
    n_problems = int(flat.any(-1).sum())
    where = _describe_problem(p, batch_shape, axes)
    more = f" (and {n_problems - 1} more problems)" if n_problems > 1 else ""
    of = "" if rows is None else f" (activation rows {src_rows[:10]}{' ...' if len(src_rows) > 10 else ''})"
    raise ProbeDataError(
        f"{what} contain {kind} at {where}{more}: rows {at[:10]}{' ...' if len(at) > 10 else ''} "
        f"({len(at)} rows){of}; a probe is not trained through non-finite values: drop those rows "
        "(sample_weight=0 or a mask) or fix the activations"
    )


def _check_label_values(y: Tensor) -> None:
    """Raise unless every label is 0 (harmless) or 1 (harmful)."""
    if y.dtype.is_floating_point and bool(torch.isnan(y).any()):
        raise ProbeDataError("labels contain NaN")
    values = torch.unique(y)
    if not set(values.tolist()) <= {0, 1}:
        raise ProbeDataError(f"labels must be 0 (harmless) or 1 (harmful), got values {sorted(values.tolist())[:10]}")


def _as_labels(labels, n: int, batch_shape, device) -> Tensor:
    y = torch.as_tensor(labels, device=device)
    if y.ndim == 0:
        raise ProbeDataError("labels must be a sequence, one per row of activations")
    if y.shape[-1] != n:
        raise ProbeDataError(f"{y.shape[-1]} labels for {n} rows of activations (mismatched rows and labels)")
    _check_label_values(y)
    return _broadcast(y, (*batch_shape, n), ProbeDataError, "labels of shape",
                      f"do not match activations of batch shape {tuple(batch_shape)} and {n} rows")


# =================================================================================================
# Fitting
# =================================================================================================


@torch.no_grad()  # a fit is not differentiable: no graph through the solvers (inputs may require grad)
def fit_probes(
    acts: Float[Tensor, "*batch n d"],
    labels: Tensor | Sequence[int],
    *,
    C: float | Tensor = 1.0,
    class_weight: ClassWeight = None,
    sample_weight: Tensor | None = None,
    standardize: bool = True,
    tol: float = 1e-4,
    max_iter: int | None = None,
    init: Probe | None = None,
    solver: Solver = "auto",
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    axes: Sequence[str] | None = None,
    coords: Mapping[str, Sequence] | None = None,
    max_batch_bytes: int = 1 << 30,
    rows: Tensor | None = None,
) -> Probe:
    """Fit one L2 logistic-regression probe per problem: every ``[n, d]`` slice of ``acts``.

    Args:
        acts: ``[*batch, n, d]`` activations (e.g. ``[layer, n, d]`` from
            ``Activations.stack()``): each leading index is an independent problem.
        labels: ``[n]`` (shared) or ``[*batch, n]`` labels, 1 = harmful, 0 = harmless.
        C: inverse regularisation strength as in scikit-learn (smaller: stronger L2 on the
            weights; the intercept is never penalised); a scalar or one per problem (``[*batch]``).
        class_weight: ``None``, ``"balanced"`` (weights ``n / (2 n_class)`` from the training rows of
            each problem) or ``{0: w0, 1: w1}`` (finite and positive).
        sample_weight: ``[n]`` or ``[*batch, n]`` non-negative weights; rows with weight 0 are left
            out of the fit (and of the standardisation), which lets problems with different
            training rows share one tensor.
        standardize: fit on ``(x - mean) / std`` of the training rows (``StandardScaler``).
        tol: stop a problem when ``max|gradient| / sum(weights) <= tol`` (scikit-learn's criterion).
        max_iter: iterations at most (default 50 Newton steps, or 1000 L-BFGS steps).
        init: a :class:`Probe` (broadcastable to the batch) to start from: the solution of a
            neighbouring layer, fold or prefix fraction cuts the number of Newton steps. Its
            ``coef``/``intercept`` are used as they are, in the new standardised space.
        solver: ``"primal"`` or ``"dual"`` (exact Newton), ``"lbfgs"``, or ``"auto"``: L-BFGS on a
            CPU (compiled, problem by problem on ``torch.get_num_threads()`` threads), Newton on a
            GPU (dual when there are fewer rows than features).
        device: where to fit (default: where ``acts`` is). The probe is returned there.
        dtype: dtype of the batched products (the line search and objective run in float64) and of
            the returned probe's tensors.
        axes, coords: names of the batch axes and their labels, kept on the probe.
        max_batch_bytes: the batched solvers (Newton; L-BFGS off the CPU) fit the problems in chunks
            whose working set stays under this size.
        rows: ``[*row_batch, m]`` row indices: fit on ``acts[..., rows, :]`` (problems
            ``[*batch, *row_batch]``, e.g. ``[layer, n, d]`` activations with one row set per
            language give ``[layer, language]``) without materialising that gather. ``labels`` and
            ``sample_weight`` then describe the gathered rows (``[m]`` or ``[*batch, *row_batch, m]``).

    Raises:
        ProbeDataError: mismatched rows and labels, labels not 0/1, a problem whose training rows
            hold only one class, NaN/inf activations in training rows (the problem and rows are
            named), or a fit that ended with non-finite weights (activations too large for ``dtype``).
        ValueError: ``C``, ``class_weight``, ``init`` or another argument of the wrong shape or value.

    Warns:
        ProbeConvergenceWarning: once per call when some problems stopped before reaching ``tol``
            (``max_iter`` steps, or no decrease possible in the working precision); they are
            returned as they stood, with ``converged`` False.
    """
    x = torch.as_tensor(acts)
    if x.ndim < 2:
        raise ProbeDataError(f"activations must be [*batch, n, d], got shape {tuple(x.shape)}")
    device = torch.device(device) if device is not None else x.device
    batch_shape, n, d = tuple(x.shape[:-2]), x.shape[-2], x.shape[-1]
    if rows is not None:
        rows = _check_rows(rows, n)
        batch_shape, n = batch_shape + tuple(rows.shape[:-1]), rows.shape[-1]
    if n == 0 or d == 0:
        raise ProbeDataError(f"no rows or no features: activations of shape {tuple(x.shape)}")
    if axes is not None and len(axes) != len(batch_shape):
        raise ValueError(f"axes {tuple(axes)} name {len(axes)} batch axes; activations have {len(batch_shape)}")
    y = _as_labels(labels, n, batch_shape, device)
    if sample_weight is None:
        sw = torch.ones((*batch_shape, n), device=device, dtype=torch.float64)
    else:
        sw = torch.as_tensor(sample_weight, device=device, dtype=torch.float64)
        if sw.shape[-1] != n:
            raise ProbeDataError(f"{sw.shape[-1]} sample weights for {n} rows of activations")
        if bool((sw < 0).any()) or not bool(torch.isfinite(sw).all()):
            raise ProbeDataError("sample weights must be non-negative finite numbers")
        sw = _broadcast(sw, (*batch_shape, n), ProbeDataError, "sample weights of shape", f"do not match activations of "
                        f"batch shape {tuple(batch_shape)} and {n} rows (expected [{n}] or [*batch, {n}])")
    used = sw > 0
    if solver == "auto":
        solver = "lbfgs" if device.type == "cpu" else ("dual" if n <= d else "primal")
    # activations already where the fit runs (or read whole by the compiled CPU solver) are checked
    # here; those copied there chunk by chunk are checked on arrival (below)
    copied = x.device != device and not (solver == "lbfgs" and device.type == "cpu")

    def check_finite() -> None:  # on the source activations: names the problem and the rows
        _check_finite_rows(x, used.to(x.device), "activations", batch_shape=batch_shape, axes=axes, rows=rows)

    if not copied:
        check_finite()
    # per-problem class checks and class weights
    yb = y.bool()
    n1 = (sw * yb).sum(-1)
    n0 = (sw * ~yb).sum(-1)
    for count, cls in ((n1, 1), (n0, 0)):
        if bool((count <= 0).any()):
            p = int((count <= 0).reshape(-1).nonzero()[0])
            raise ProbeDataError(
                f"{_describe_problem(p, batch_shape, axes)} has training rows of one class only "
                f"(no label {cls}); a probe needs both classes"
            )
    if class_weight is None:
        s = sw
    elif class_weight == "balanced":
        # scikit-learn: n_samples / (n_classes * bincount(y)), counted over the training rows
        total = n0 + n1
        w1, w0 = total / (2 * n1), total / (2 * n0)
        s = sw * torch.where(yb, w1.unsqueeze(-1), w0.unsqueeze(-1))
    elif isinstance(class_weight, Mapping):
        unknown = set(class_weight) - {0, 1}
        if unknown:
            raise ValueError(f"class_weight keys must be 0 and/or 1, got {sorted(unknown)}")
        for label, weight in class_weight.items():
            try:
                value = float(weight)
            except (TypeError, ValueError):
                value = math.nan
            if not 0 < value < math.inf:  # 0, negative, inf or NaN weights make the objective degenerate
                raise ValueError(f"class_weight of label {label} must be a finite number > 0, got {weight!r}")
        s = sw * torch.where(yb, float(class_weight.get(1, 1.0)), float(class_weight.get(0, 1.0)))
    else:
        raise ValueError(f"class_weight must be None, 'balanced' or a {{label: weight}} dict, got {class_weight!r}")
    Ct = torch.as_tensor(C, dtype=torch.float64, device=device)
    Cb = _broadcast(Ct, batch_shape, ValueError, "C of shape",
                    f"does not match the batch shape {tuple(batch_shape)}: give a scalar or one value per problem")
    if bool((Cb <= 0).any()) or not bool(torch.isfinite(Cb).all()):
        raise ValueError(f"C must be positive and finite, got {C!r}")
    if solver not in ("auto", "primal", "dual", "lbfgs"):
        raise ValueError(f"solver must be 'auto', 'primal', 'dual' or 'lbfgs', got {solver!r}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64 (the precision of the products), got {dtype}")

    P = math.prod(batch_shape) if batch_shape else 1
    # problem p reads rows ``row_sets[set_of[p]]`` of ``src[src_of[p]]``
    src = x.reshape(-1, x.shape[-2], d)
    row_sets = (torch.arange(n) if rows is None else rows).reshape(-1, n)
    src_of, set_of = torch.arange(P) // row_sets.shape[0], torch.arange(P) % row_sets.shape[0]
    yf = y.reshape(P, n)
    sf = s.reshape(P, n)
    usedf = used.reshape(P, n)
    lam = (1.0 / Cb).reshape(P)
    init_coef = init_b = None
    if init is not None:
        if init.d != d:
            raise ValueError(f"init probe has width {init.d}, activations have width {d}")
        mismatch = f"does not broadcast to the batch shape {tuple(batch_shape)} of the problems"
        init_coef = _broadcast(init.coef.to(device), (*batch_shape, d), ValueError, "init probe of batch shape", mismatch,
                               of=init.intercept).reshape(P, d)  # the intercept's shape is the batch shape
        init_b = _broadcast(init.intercept.to(device), batch_shape, ValueError, "init probe of batch shape", mismatch).reshape(P)
    if max_iter is None:
        max_iter = 1000 if solver == "lbfgs" else 50
    if solver == "lbfgs" and device.type == "cpu":
        outs = [_fit_lbfgs_cpu(src, src_of, row_sets, set_of, yf, sf, lam, init_coef, init_b, standardize=standardize,
                               tol=tol, max_iter=max_iter, dtype=dtype)]
    else:
        outs = []
        # chunk the problems so that the working set stays bounded
        elt = torch.finfo(dtype).bits // 8
        per_problem = elt * n * (d + 1) * 3 + {
            "dual": elt * n * n * 3,
            "primal": elt * (d + 1) ** 2 * 3,
            "lbfgs": 8 * (2 * _LBFGS_MEMORY + 4) * (d + 1),
        }[solver]
        chunk = max(1, min(P, max_batch_bytes // max(per_problem, 1)))
        problem_rows = None if rows is None else row_sets[set_of]  # [P, n]
        for start in range(0, P, chunk):
            sl = slice(start, min(P, start + chunk))
            xc = _gather_problems(src, sl, src_of, problem_rows, device).to(dtype)
            if copied and not bool(torch.isfinite(xc.sum())):  # one reduction where the rows now are
                check_finite()  # a NaN or inf somewhere: raises, or passes when only unweighted rows hold it
            outs.append(
                _fit_chunk(
                    xc, yf[sl], sf[sl], usedf[sl], lam[sl],
                    None if init_coef is None else init_coef[sl], None if init_b is None else init_b[sl],
                    standardize=standardize, tol=tol, max_iter=max_iter, solver=solver, device=device, dtype=dtype,
                )
            )
    coef, b, mean, scale, n_iter, conv = (torch.cat(parts) for parts in zip(*outs))
    axes = tuple(axes) if axes is not None else tuple(f"axis{i}" for i in range(len(batch_shape)))
    _check_fit(coef, b, conv, batch_shape, axes, max_iter=max_iter, tol=tol, dtype=dtype)
    return Probe(
        coef=coef.reshape(*batch_shape, d).to(dtype),
        intercept=b.reshape(batch_shape).to(dtype),
        mean=mean.reshape(*batch_shape, d).to(dtype),
        scale=scale.reshape(*batch_shape, d).to(dtype),
        C=Cb.to(dtype).clone(),
        n_iter=n_iter.reshape(batch_shape),
        converged=conv.reshape(batch_shape),
        axes=axes,
        coords=dict(coords or {}),
        class_weight=class_weight,
        tol=tol,
    )


def _check_fit(coef: Tensor, b: Tensor, conv: Tensor, batch_shape, axes, *, max_iter: int, tol: float, dtype) -> None:
    """Raise for non-finite weights; warn (once) naming the problems that did not converge.

    ``coef [P, d]``, ``b [P]`` and ``conv [P]`` are the flattened results of one :func:`fit_probes` call."""
    finite = torch.isfinite(coef).all(-1) & torch.isfinite(b)
    if not bool(finite.all()):
        bad = (~finite).nonzero().reshape(-1).tolist()
        where = "; ".join(_describe_problem(p, batch_shape, axes) for p in bad[:3])
        raise ProbeDataError(
            f"the fit gave non-finite weights for {len(bad)} of {finite.numel()} problems ({where}"
            f"{' ...' if len(bad) > 3 else ''}): activations too large for {dtype}? Rescale them or fit in float64"
        )
    if not bool(conv.all()):
        bad = (~conv).nonzero().reshape(-1).tolist()
        where = "; ".join(_describe_problem(p, batch_shape, axes) for p in bad[:3])
        warnings.warn(
            f"{len(bad)} of {conv.numel()} probe problems did not converge to tol={tol:g} ({where}"
            f"{' ...' if len(bad) > 3 else ''}): max_iter={max_iter} reached, or no decrease possible in the "
            "working precision; Probe.converged says which (raise max_iter, loosen tol, or use dtype=torch.float64)",
            ProbeConvergenceWarning,
            stacklevel=4,  # _check_fit, fit_probes, torch.no_grad's wrapper, the caller
        )


_GATHER_PART_BYTES = 16 << 20


def _gather_problems(
    src: Tensor, sl: slice, src_of: Tensor, row_sets: Tensor | None, device: torch.device, *, staged: bool | None = None
) -> Tensor:
    """``[m, n, d]`` on ``device``: the rows of problems ``sl``. Problem ``p`` reads rows
    ``row_sets[p]`` of ``src[src_of[p]]`` (``src [S, N, d]``); with ``row_sets=None`` problem ``p``
    is ``src[p]``, all rows.

    From host memory to a GPU the rows are gathered straight into page-locked memory, part by part,
    and each part's copy to the device (asynchronous from page-locked memory, several times faster
    than from pageable memory) runs while the next part is gathered: no second host copy for
    pinning, and the transfer mostly hidden behind the gather. ``staged`` forces (or refuses) that
    part-by-part path (page-locked only towards a GPU), which tests check on any device.
    """
    N, d = src.shape[-2], src.shape[-1]

    def gather(a: int, b: int, out: Tensor | None = None) -> Tensor:
        """Problems ``sl.start + a .. sl.start + b - 1``, into ``out`` where given."""
        lo, hi = sl.start + a, sl.start + b
        if row_sets is None:
            return src[lo:hi] if out is None else out.copy_(src[lo:hi])
        rs = row_sets[lo:hi].to(src.device)
        of = src_of[lo:hi].to(src.device)
        if not src.is_contiguous():
            got = src[of.unsqueeze(-1), rs]
            return got if out is None else out.copy_(got)
        idx = (of.unsqueeze(-1) * N + rs).reshape(-1)  # rows of the flattened [S * N, d] source
        if out is None:
            return src.view(-1, d).index_select(0, idx).view(b - a, rs.shape[-1], d)
        torch.index_select(src.view(-1, d), 0, idx, out=out.view(-1, d))
        return out

    m = len(range(sl.start, sl.stop))
    if staged is None:
        staged = src.device.type == "cpu" and device.type == "cuda"
    if not staged:
        return gather(0, m).to(device)
    n = N if row_sets is None else row_sets.shape[-1]
    host = torch.empty((m, n, d), dtype=src.dtype, device=src.device, pin_memory=src.device.type == "cpu" and device.type == "cuda")
    out = torch.empty((m, n, d), dtype=src.dtype, device=device)
    part = max(1, _GATHER_PART_BYTES // max(1, n * d * src.element_size()))
    for a in range(0, m, part):
        b = min(m, a + part)
        out[a:b].copy_(gather(a, b, host[a:b]), non_blocking=True)
    return out


def _fit_chunk(x, y, s, used, lam, init_coef, init_b, *, standardize, tol, max_iter, solver, device, dtype):
    """Standardise one chunk of problems on ``device`` and run the solver."""
    x = x.to(device=device, dtype=dtype)
    used = used.to(device)
    if not bool(used.all()):  # rows left out may hold anything (NaN included): zero them first
        x = torch.where(used.unsqueeze(-1), x, torch.zeros((), device=device, dtype=dtype))
    m = used.to(dtype)
    if standardize:
        cnt = m.sum(-1, keepdim=True).clamp(min=1)  # [P, 1]
        mean = (m.unsqueeze(1) @ x).squeeze(1) / cnt  # [P, d]
        xc = x - mean.unsqueeze(1)  # centred before squaring: residual streams have large means
        if not bool(used.all()):
            xc.mul_(m.unsqueeze(-1))
        scale = torch.linalg.vector_norm(xc, dim=1) / cnt.sqrt()  # ddof=0, as StandardScaler
        # StandardScaler: a (near-)constant feature keeps scale 1. The test is relative (the spread
        # within rounding of the mean), as _lbfgs_cpu._standardize's: features of tiny magnitude
        # (x * 1e-7) are standardised like any other
        tiny = 10 * torch.finfo(dtype).eps * mean.abs()
        scale = torch.where(scale <= tiny, torch.ones_like(scale), scale)
        xs = xc.div_(scale.unsqueeze(1))
    else:
        mean = torch.zeros(x.shape[0], x.shape[-1], device=device, dtype=dtype)
        scale = torch.ones_like(mean)
        xs = x
    yy = y.to(device=device, dtype=torch.float64)
    ss = s.to(device=device, dtype=torch.float64)
    lam = lam.to(device=device, dtype=torch.float64)
    if init_coef is not None:
        init_coef = init_coef.to(device=device, dtype=dtype)
        init_b = init_b.to(device=device, dtype=torch.float64)
    solve = {"dual": _newton_dual, "primal": _newton_primal, "lbfgs": _lbfgs}[solver]
    coef, b, n_iter, conv = solve(xs, yy, ss, lam, init_coef, init_b, tol=tol, max_iter=max_iter)
    return coef, b, mean, scale, n_iter, conv


def _check_rows(rows, n_src: int) -> Tensor:
    """``rows`` as a CPU int64 tensor of shape ``[*row_batch, m]``, every index in ``[0, n_src)``."""
    r = torch.as_tensor(rows)
    if r.dtype.is_floating_point or r.dtype == torch.bool or r.dtype.is_complex:
        raise ValueError(f"rows must be integer row indices, got dtype {r.dtype}")
    if r.ndim == 0:
        raise ValueError("rows must be [*row_batch, m] row indices, got a scalar")
    r = r.to("cpu", torch.long)
    if r.numel() and (int(r.min()) < 0 or int(r.max()) >= n_src):
        bad = r[(r < 0) | (r >= n_src)]
        raise ValueError(f"rows index {int(bad[0])}, outside the {n_src} rows of the activations")
    return r


def _fit_lbfgs_cpu(src, src_of, row_sets, set_of, y, s, lam, init_coef, init_b, *, standardize, tol, max_iter, dtype):
    """L-BFGS on the CPU: every problem with the compiled kernel of :mod:`mechint._lbfgs_cpu`,
    problems spread over ``torch.get_num_threads()`` threads. Problem ``p`` reads rows
    ``row_sets[set_of[p]]`` of ``src[src_of[p]]``."""
    from . import _lbfgs_cpu

    init = None
    if init_coef is not None:
        init = torch.cat([init_coef.double(), init_b.double().unsqueeze(-1)], -1).cpu().numpy()
    theta, mean, scale, n_iter, conv = _lbfgs_cpu.fit_many(
        src.detach().to("cpu", dtype).contiguous().numpy(), src_of.numpy(), row_sets.contiguous().numpy(),
        set_of.numpy(), y.detach().to("cpu", torch.float64).contiguous().numpy(),
        s.detach().to("cpu", torch.float64).contiguous().numpy(), lam.detach().cpu().double().numpy(), init,
        tol=tol, max_iter=max_iter, standardize=standardize, memory=_LBFGS_MEMORY, threads=torch.get_num_threads(),
    )
    d = src.shape[-1]
    theta = torch.from_numpy(theta)
    return (theta[:, :d].to(dtype), theta[:, d], torch.from_numpy(mean).to(dtype), torch.from_numpy(scale).to(dtype),
            torch.from_numpy(n_iter), torch.from_numpy(conv))


# ------------------------------------------------------------------------------------------------
# Shared pieces of the two Newton solvers (objective in float64; the batched products in `dtype`)
# ------------------------------------------------------------------------------------------------


def _bmv(a: Tensor, v: Tensor) -> Tensor:
    """Batched matrix-vector product ``[P, m, k] @ [P, k] -> [P, m]``."""
    return torch.bmm(a, v.unsqueeze(-1)).squeeze(-1)


def _loss(f: Tensor, y: Tensor, s: Tensor) -> Tensor:
    """Weighted logistic loss per problem: sum_i s_i (log(1 + e^f_i) - y_i f_i)."""
    return (s * (torch.nn.functional.softplus(f) - y * f)).sum(-1)


def _start_intercept(y: Tensor, s: Tensor) -> Tensor:
    """The optimal intercept of a probe with zero weights: the weighted log-odds."""
    p1 = (s * y).sum(-1) / s.sum(-1)
    p1 = p1.clamp(1e-12, 1 - 1e-12)
    return torch.log(p1 / (1 - p1))


def _step_length(f, df, y, s, pen0, pen_lin, pen_quad, slope, J0, *, iters: int = 12):
    """Step sizes along ``f + eta * df`` that minimise the objective per problem.

    The objective along a Newton direction, ``phi(eta) = loss(f + eta df) + pen0 + eta pen_lin +
    eta^2 pen_quad``, is convex and costs O(n) to evaluate, so it is minimised almost exactly
    (safeguarded one-dimensional Newton with a bracket) instead of merely backtracked: on probe
    problems the best step is often 1.2-2.3 times the Newton step, and taking it saves outer
    iterations. Where the result does not decrease the objective (rounding at the optimum), Armijo
    backtracking from 1 decides; ``eta = 0`` means no decrease was found. Each problem stops when its
    own step settles, so a batch gives every problem the step it gets alone.
    """
    P = f.shape[0]
    dev = f.device
    lo = torch.zeros(P, dtype=torch.float64, device=dev)
    hi = torch.full((P,), math.inf, dtype=torch.float64, device=dev)
    eta = torch.ones(P, dtype=torch.float64, device=dev)
    settled = torch.zeros(P, dtype=torch.bool, device=dev)
    # phi'(eta) = p . (s df) - y . (s df) + pen_lin + 2 eta pen_quad and phi''(eta) = p(1-p) . (s df^2)
    # + 2 pen_quad with p = sigmoid(f + eta df): both dot products from one batched product of the
    # rows [p, p - p^2] with the columns [s df, s df^2]. Each operation below is a kernel launch on a
    # GPU, where this loop's cost is their number, not their size.
    sdf = s * df
    cols = torch.stack([sdf, sdf * df], -1)  # [P, n, 2]
    c1 = pen_lin - (y * sdf).sum(-1)
    c2 = 2 * pen_quad
    rows = torch.empty(P, 2, f.shape[1], dtype=torch.float64, device=dev)
    for _ in range(iters):
        p = torch.sigmoid(torch.addcmul(f, eta.unsqueeze(-1), df), out=rows[:, 0])
        torch.addcmul(p, p, p, value=-1, out=rows[:, 1])
        dots = torch.bmm(rows, cols)  # [P, 2, 2]: [p . s df, q . s df^2] on the diagonal
        d1 = torch.addcmul(c1, eta, pen_quad, value=2).add_(dots[:, 0, 0])
        step = d1 / (dots[:, 1, 1] + c2).clamp(min=1e-300)
        neg = d1 < 0
        lo = torch.where(neg, eta, lo)
        hi = torch.where(neg, hi, eta)
        newton = eta - step  # NaN and inf fail every comparison below: they take the fallback
        # a negligible Newton step (eta > 0 throughout) means eta is the minimiser: that step is taken
        # and the problem is settled (it sits on the bracket's edge, which the bracket test refuses)
        negligible = step.abs() <= eta * 1e-6
        inside = (newton > lo) & (newton < hi) | negligible
        fallback = torch.where(torch.isinf(hi), lo.clamp(min=0.5) * 2, torch.lerp(lo, hi, 0.5))
        # each problem stops at its own convergence: the batch gives every problem the step it gets alone
        eta = torch.where(settled, eta, torch.where(inside, newton, fallback))
        settled = settled | negligible
        if bool(settled.all()):
            break
    J = _loss(f + eta.unsqueeze(-1) * df, y, s) + pen0 + eta * pen_lin + eta * eta * pen_quad
    slack = 1e-12 * J0.abs().clamp(min=1.0)
    bad = ~(J <= J0 + 1e-4 * torch.minimum(eta, torch.ones_like(eta)) * slope + slack)
    if bool(bad.any()):
        e2, J2 = _armijo(f[bad], df[bad], y[bad], s[bad], pen0[bad], pen_lin[bad], pen_quad[bad], slope[bad], J0[bad])
        eta[bad], J[bad] = e2, J2
    return eta, J


def _armijo(f, df, y, s, pen0, pen_lin, pen_quad, slope, J0, *, max_halvings: int = 40):
    """Backtracking (Armijo, c=1e-4) from a step of 1; ``eta = 0`` where no decrease was found."""
    P = f.shape[0]
    eta = torch.ones(P, dtype=torch.float64, device=f.device)
    J = J0.clone()
    todo = torch.ones(P, dtype=torch.bool, device=f.device)
    slack = 1e-12 * J0.abs().clamp(min=1.0)
    for _ in range(max_halvings):
        Jt = _loss(f + eta.unsqueeze(-1) * df, y, s) + pen0 + eta * pen_lin + eta * eta * pen_quad
        ok = Jt <= J0 + 1e-4 * eta * slope + slack
        J = torch.where(todo & ok, Jt, J)
        todo = todo & ~ok
        if not bool(todo.any()):
            break
        eta = torch.where(todo, eta / 2, eta)
    return torch.where(todo, torch.zeros_like(eta), eta), J


def _cholesky_solve(H: Tensor, rhs: Tensor) -> Tensor:
    """Solve SPD systems ``H x = rhs`` (rhs ``[P, m, k]``); problems whose factorisation fails in
    the working precision are redone in float64 with a tiny diagonal jitter."""
    L, info = torch.linalg.cholesky_ex(H)
    out = torch.cholesky_solve(rhs.to(L.dtype), L)
    bad = info != 0
    if bool(bad.any()):
        Hb = H[bad].double()
        jitter = 1e-10 * Hb.diagonal(dim1=-2, dim2=-1).abs().amax(-1).clamp(min=1.0)
        eye = torch.eye(H.shape[-1], device=H.device, dtype=torch.float64)
        Lb, _ = torch.linalg.cholesky_ex(Hb + jitter[:, None, None] * eye)
        out[bad] = torch.cholesky_solve(rhs[bad].double(), Lb).to(out.dtype)
    return out


def _finite_steps(*steps: Tensor) -> tuple[list[Tensor], Tensor]:
    """``(steps, finite)``: the parts of a Newton step (``[P, ...]`` each: weights, intercept, function
    values) set to 0 for the problems where any part is not finite (a solve that overflowed in the
    working precision: such a problem then stalls at its last finite iterate), and which were finite."""
    finite = torch.stack([torch.isfinite(t).reshape(t.shape[0], -1).all(-1) for t in steps]).all(0)
    if not bool(finite.all()):
        steps = tuple(torch.where(finite.reshape(-1, *[1] * (t.ndim - 1)), t, torch.zeros_like(t)) for t in steps)
    return list(steps), finite


def _no_step_unless(finite: Tensor, eta: Tensor) -> Tensor:
    """Step lengths, 0 (no step: the problem stalls at its last finite iterate, not converged) where
    the step or its length is not finite."""
    ok = finite & torch.isfinite(eta)
    return eta if bool(ok.all()) else torch.where(ok, eta, torch.zeros_like(eta))


class _Active:
    """Indices of the problems still being optimised; a converged problem leaves the batch, so the
    batch costs what its unconverged problems cost (not what its slowest one does)."""

    def __init__(self, P: int, device):
        self.idx = torch.arange(P, device=device)

    def keep(self, still: Tensor, *tensors: Tensor) -> list[Tensor]:
        if bool(still.all()):
            return list(tensors)
        self.idx = self.idx[still]
        return [t[still] for t in tensors]


def _newton_primal(X, y, s, lam, init_coef, init_b, *, tol, max_iter):
    """Newton with a ``[d+1, d+1]`` Hessian per problem (rows >= features)."""
    P, n, d = X.shape
    dt, dev = X.dtype, X.device
    Xa = torch.cat([X, torch.ones(P, n, 1, device=dev, dtype=dt)], dim=-1)  # intercept column last
    reg = torch.ones(d + 1, device=dev, dtype=torch.float64)
    reg[-1] = 0.0
    theta = torch.zeros(P, d + 1, device=dev, dtype=torch.float64)
    if init_coef is not None:
        theta[:, :d] = init_coef.double()
        theta[:, d] = init_b
    else:
        theta[:, d] = _start_intercept(y, s)
    S = s.sum(-1)
    out_theta = theta.clone()
    n_iter = torch.zeros(P, dtype=torch.long, device=dev)
    converged = torch.zeros(P, dtype=torch.bool, device=dev)
    act = _Active(P, dev)
    f = _bmv(Xa, theta.to(dt)).double()
    for it in range(max_iter + 1):
        p = torch.sigmoid(f)
        u = s * (p - y)
        g = _bmv(Xa.mT, u.to(dt)).double() + lam.unsqueeze(-1) * reg * theta
        done = g.abs().amax(-1) / S <= tol  # scikit-learn's criterion (lbfgs gtol)
        if bool(done.any()):
            converged[act.idx[done]] = True
            out_theta[act.idx[done]] = theta[done]
            Xa, y, s, lam, S, theta, f, g, p = act.keep(~done, Xa, y, s, lam, S, theta, f, g, p)
        if act.idx.numel() == 0 or it == max_iter:
            break
        sw = (s * p * (1 - p)).sqrt().to(dt).unsqueeze(-1)
        Xw = Xa * sw
        H = Xw.mT @ Xw
        del Xw
        H.diagonal(dim1=-2, dim2=-1).add_((lam.unsqueeze(-1) * reg).to(dt))
        delta = -_cholesky_solve(H, g.to(dt).unsqueeze(-1)).squeeze(-1).double()
        del H
        (delta, df), finite = _finite_steps(delta, _bmv(Xa, delta.to(dt)).double())
        w, dw = theta[:, :d], delta[:, :d]
        pen0 = 0.5 * lam * (w * w).sum(-1)
        J0 = _loss(f, y, s) + pen0
        eta, _ = _step_length(
            f, df, y, s, pen0, lam * (w * dw).sum(-1), 0.5 * lam * (dw * dw).sum(-1), (g * delta).sum(-1), J0
        )
        eta = _no_step_unless(finite, eta)
        theta = theta + eta.unsqueeze(-1) * delta
        f = f + eta.unsqueeze(-1) * df
        n_iter[act.idx] += 1
        stalled = eta == 0
        if bool(stalled.any()):  # no decrease possible: as good as the working precision allows
            out_theta[act.idx[stalled]] = theta[stalled]
            Xa, y, s, lam, S, theta, f = act.keep(~stalled, Xa, y, s, lam, S, theta, f)
            if act.idx.numel() == 0:
                break
    if act.idx.numel():
        out_theta[act.idx] = theta
    return out_theta[:, :d].to(dt), out_theta[:, d], n_iter, converged


def _newton_dual(Y, y, s, lam, init_coef, init_b, *, tol, max_iter):
    """Newton in the span of the training rows (rows < features): ``w = Y^T alpha``.

    With ``K = Y Y^T`` and function values ``f = K alpha + b``, the Newton step of the primal
    problem restricted to that span solves, per problem, ``lam alpha' + W (K alpha' + b') = z`` with
    ``sum(alpha') = 0``, ``z = W f - u``, ``u = s (p - y)``, ``W = s p (1 - p)``; with
    ``M = lam I + W^1/2 K W^1/2`` (SPD) that is two solves with one Cholesky factor of ``M``.
    The step only needs the current ``f``, so a start from other weights (``init``) is one such
    step from ``f = Y w0 + b0``, kept where it lowers the objective.
    """
    P, n, d = Y.shape
    dt, dev = Y.dtype, Y.device
    K = Y @ Y.mT
    S = s.sum(-1)
    alpha = torch.zeros(P, n, device=dev, dtype=torch.float64)
    b = _start_intercept(y, s)
    f = b.unsqueeze(-1).expand(P, n).clone()
    from_init = init_coef is not None
    if from_init:
        f_init = _bmv(Y, init_coef.to(dt)).double() + init_b.unsqueeze(-1)
        J_init = _loss(f_init, y, s) + 0.5 * lam * (init_coef.double() ** 2).sum(-1)
    out_alpha, out_b = alpha.clone(), b.clone()
    n_iter = torch.zeros(P, dtype=torch.long, device=dev)
    converged = torch.zeros(P, dtype=torch.bool, device=dev)
    act = _Active(P, dev)
    Ya = Y
    for it in range(max_iter + 1):
        f_cur = f_init if from_init else f
        p = torch.sigmoid(f_cur)
        u = s * (p - y)
        if not from_init:
            gw = u + lam.unsqueeze(-1) * alpha  # gradient in w is Y^T gw; in b, sum(u)
            g_inf = torch.maximum(_bmv(Ya.mT, gw.to(dt)).double().abs().amax(-1), u.sum(-1).abs())
            done = g_inf / S <= tol  # scikit-learn's criterion (lbfgs gtol)
            if bool(done.any()):
                converged[act.idx[done]] = True
                out_alpha[act.idx[done]], out_b[act.idx[done]] = alpha[done], b[done]
                K, Ya, y, s, lam, S, alpha, b, f, p, u, gw = act.keep(
                    ~done, K, Ya, y, s, lam, S, alpha, b, f, p, u, gw
                )
                f_cur = f
            if act.idx.numel() == 0 or it == max_iter:
                break
        W = s * p * (1 - p)
        z = W * f_cur - u
        sw = W.sqrt()
        sw_t = sw.to(dt)
        M = K * sw_t.unsqueeze(-1)
        M.mul_(sw_t.unsqueeze(-2))
        M.diagonal(dim1=-2, dim2=-1).add_(lam.to(dt).unsqueeze(-1))
        Kz = _bmv(K, z.to(dt)).double()
        sol = _cholesky_solve(M, torch.stack([sw * Kz, sw], -1).to(dt)).double()
        del M
        a_, c_ = sol[..., 0], sol[..., 1]
        b_new = (z.sum(-1) - (sw * a_).sum(-1)) / (lam * (sw * c_).sum(-1)).clamp(min=1e-300)
        v = a_ + (lam * b_new).unsqueeze(-1) * c_
        alpha_new = (z - sw * v) / lam.unsqueeze(-1)
        f_new = _bmv(K, alpha_new.to(dt)).double() + b_new.unsqueeze(-1)
        if from_init:
            from_init = False
            J_new = _loss(f_new, y, s) + 0.5 * lam * (alpha_new * (f_new - b_new.unsqueeze(-1))).sum(-1)
            take = (J_new <= J_init) | (J_new <= _loss(f, y, s))  # vs the start, and the cold start
            alpha = torch.where(take.unsqueeze(-1), alpha_new, alpha)
            b = torch.where(take, b_new, b)
            f = torch.where(take.unsqueeze(-1), f_new, f)
            n_iter[act.idx] += take.long()
            continue
        (dalpha, db, df), finite = _finite_steps(alpha_new - alpha, b_new - b, f_new - f)
        Ka, Kda = f - b.unsqueeze(-1), df - db.unsqueeze(-1)
        pen0 = 0.5 * lam * (alpha * Ka).sum(-1)
        J0 = _loss(f, y, s) + pen0
        slope = (gw * Kda).sum(-1) + db * u.sum(-1)
        eta, _ = _step_length(
            f, df, y, s, pen0, lam * (alpha * Kda).sum(-1), 0.5 * lam * (dalpha * Kda).sum(-1), slope, J0
        )
        eta = _no_step_unless(finite, eta)
        e = eta.unsqueeze(-1)
        alpha, b, f = alpha + e * dalpha, b + eta * db, f + e * df
        n_iter[act.idx] += 1
        stalled = eta == 0
        if bool(stalled.any()):
            out_alpha[act.idx[stalled]], out_b[act.idx[stalled]] = alpha[stalled], b[stalled]
            K, Ya, y, s, lam, S, alpha, b, f = act.keep(~stalled, K, Ya, y, s, lam, S, alpha, b, f)
            if act.idx.numel() == 0:
                break
    if act.idx.numel():
        out_alpha[act.idx], out_b[act.idx] = alpha, b
    coef = _bmv(Y.mT, out_alpha.to(dt))
    return coef, out_b, n_iter, converged


_LBFGS_MEMORY = 10  # curvature pairs kept (scipy's default ``maxcor``, which scikit-learn's lbfgs uses)


def _rowvec(v: Tensor, m: Tensor) -> Tensor:
    """``[P, k] x [P, k, j] -> [P, j]`` as a batch of row vectors times matrices: on a CPU this reads
    each problem's matrix once, in order (about 3x faster than ``bmm`` with a column vector)."""
    return torch.bmm(v.to(m.dtype).unsqueeze(1), m).squeeze(1).double()


def _lbfgs(X, y, s, lam, init_coef, init_b, *, tol, max_iter, memory: int = _LBFGS_MEMORY):
    """Limited-memory BFGS for every problem at once, with an exact line search (``solver="lbfgs"``
    off the CPU; on a CPU the same method runs compiled, problem by problem: :mod:`mechint._lbfgs_cpu`).

    Each iteration reads every problem's rows twice, as row vectors times ``X`` and ``X^T`` (the
    two products of a gradient and a direction). Along each direction ``p`` the function values
    move as ``f + eta X p``, so the step minimises the objective exactly (:func:`_step_length`, O(n)
    per problem) without more passes over ``X``; that took ~20% fewer iterations than
    scikit-learn's lbfgs on the gemma probes. A problem leaves the batch when it converges; the
    batch is compacted once half of it has left.
    """
    P, n, d = X.shape
    dt, dev, f64 = X.dtype, X.device, torch.float64
    X = X.contiguous()
    XT = X.mT.contiguous()
    S = s.sum(-1)
    if init_coef is not None:
        theta = torch.cat([init_coef.to(f64), init_b.to(f64).unsqueeze(-1)], -1)
        f = _rowvec(theta[:, :d], XT) + theta[:, d:]
    else:
        theta = torch.zeros(P, d + 1, device=dev, dtype=f64)
        theta[:, d] = _start_intercept(y, s)
        f = theta[:, d:].expand(P, n).clone()

    def gradient(theta, f, y, s, lam, X):
        u = s * (torch.sigmoid(f) - y)
        return torch.cat([_rowvec(u, X) + lam.unsqueeze(-1) * theta[:, :d], u.sum(-1, keepdim=True)], -1)

    g = gradient(theta, f, y, s, lam, X)
    hs = torch.zeros(P, memory, d + 1, device=dev, dtype=f64)  # steps
    hy = torch.zeros_like(hs)  # gradient changes
    rho = torch.zeros(P, memory, device=dev, dtype=f64)  # 0: an empty (or rejected) pair
    gamma = torch.ones(P, device=dev, dtype=f64)
    out = torch.zeros(P, d + 1, device=dev, dtype=f64)
    n_iter = torch.zeros(P, dtype=torch.long, device=dev)
    converged = torch.zeros(P, dtype=torch.bool, device=dev)
    ids = torch.arange(P, device=dev)  # the problem in each slot of the batch
    live = torch.ones(P, dtype=torch.bool, device=dev)
    stalled = torch.zeros(P, dtype=torch.bool, device=dev)
    for it in range(max_iter + 1):
        ok = g.abs().amax(-1) <= tol * S  # scikit-learn's criterion (lbfgs gtol)
        fin = live & (ok | stalled | (it == max_iter))
        if bool(fin.any()):
            out[ids[fin]] = theta[fin]
            converged[ids[fin]] = ok[fin]
            live = live & ~fin
            n_live = int(live.sum())
            if n_live == 0:
                break
            if 2 * n_live <= live.numel():  # compact: finished problems stop costing passes
                X, XT = X[live].contiguous(), XT[live].contiguous()
                ids, theta, f, g, y, s, lam, S, hs, hy, rho, gamma = (
                    t[live] for t in (ids, theta, f, g, y, s, lam, S, hs, hy, rho, gamma)
                )
                live = torch.ones(n_live, dtype=torch.bool, device=dev)
        # two-loop recursion: q = -H g, newest pair first
        q = -g
        alpha = []
        slots = [(it - 1 - j) % memory for j in range(min(it, memory))]
        for j in slots:
            a = rho[:, j] * (hs[:, j] * q).sum(-1)
            q = q - a.unsqueeze(-1) * hy[:, j]
            alpha.append(a)
        q = q * gamma.unsqueeze(-1)
        for j, a in zip(reversed(slots), reversed(alpha)):
            beta = rho[:, j] * (hy[:, j] * q).sum(-1)
            q = q + (a - beta).unsqueeze(-1) * hs[:, j]
        w, dw = theta[:, :d], q[:, :d]
        df = _rowvec(dw, XT) + q[:, d:]
        pen0 = 0.5 * lam * (w * w).sum(-1)
        eta, _ = _step_length(
            f, df, y, s, pen0, lam * (w * dw).sum(-1), 0.5 * lam * (dw * dw).sum(-1), (g * q).sum(-1),
            _loss(f, y, s) + pen0,
        )
        step = eta.unsqueeze(-1) * q
        theta = theta + step
        f = f + eta.unsqueeze(-1) * df
        g_new = gradient(theta, f, y, s, lam, X)
        yv = g_new - g
        sy, yy = (step * yv).sum(-1), (yv * yv).sum(-1)
        take = sy > 1e-10 * (yy * (step * step).sum(-1)).sqrt()  # curvature condition
        j = it % memory
        hs[:, j] = torch.where(take.unsqueeze(-1), step, 0.0)
        hy[:, j] = torch.where(take.unsqueeze(-1), yv, 0.0)
        rho[:, j] = torch.where(take, 1.0 / sy.clamp(min=1e-300), 0.0)
        gamma = torch.where(take, sy / yy.clamp(min=1e-300), gamma)
        g = g_new
        stalled = eta == 0  # no decrease: as good as the working precision allows
        n_iter[ids[live]] += 1
    return out[:, :d].to(dt), out[:, d], n_iter, converged


# =================================================================================================
# Splits by item id
# =================================================================================================


def fold_ids(dataset, k: int = 5, seed: int = 0, stratify: bool = True) -> Tensor:
    """The fold (``0..k-1``) of every row of ``dataset``, by item id (``data.k_fold_by_item``).

    All translations of an item share a fold, so a probe trained on folds != j in one language and
    tested on fold j in another never sees the test item in any language. ``stratify`` (passed to
    ``k_fold_by_item``) deals each label's items over the folds separately; ``False`` for data sets
    whose items carry both labels.
    """
    from .data import k_fold_by_item

    fold_of: dict[str, int] = {}
    for j, (_, test) in enumerate(k_fold_by_item(dataset, k=k, seed=seed, stratify=stratify)):
        for item in test.item_ids:
            fold_of[item] = j
    return torch.tensor([fold_of[i] for i in dataset.item_ids], dtype=torch.long)


def split_ids(dataset, test_fraction: float = 0.3, seed: int = 0, stratify: bool = True) -> Tensor:
    """``[n]`` long tensor, 1 for the test rows and 0 for the train rows of ``data.split_by_item``
    (usable as ``folds`` with ``test_folds=[1]``); ``stratify`` is passed to ``split_by_item``."""
    from .data import split_by_item

    _, test = split_by_item(dataset, test_fraction=test_fraction, seed=seed, stratify=stratify)
    test_items = set(test.item_ids)
    return torch.tensor([int(i in test_items) for i in dataset.item_ids], dtype=torch.long)


def _check_folds(folds, n: int, item_ids: Sequence[str] | None) -> Tensor:
    f = torch.as_tensor(folds).long().reshape(-1)
    if f.numel() != n:
        raise ProbeDataError(f"{f.numel()} fold ids for {n} rows of activations")
    if item_ids is not None:
        if len(item_ids) != n:  # zip would check only the first rows
            raise ProbeDataError(f"{len(item_ids)} item ids for {n} rows of activations")
        seen: dict[str, int] = {}
        for item, fold in zip(item_ids, f.tolist()):
            if seen.setdefault(item, fold) != fold:
                raise ProbeDataError(
                    f"item {item!r} is in folds {seen[item]} and {fold}: a split must keep every item on one side "
                    "(use fold_ids / split_ids)"
                )
    return f


def _rows_matrix(groups: list[Tensor], device) -> tuple[Tensor, Tensor]:
    """Row indices of several groups padded to one width, and the mask of real entries."""
    width = max(int(g.numel()) for g in groups)
    idx = torch.zeros(len(groups), width, dtype=torch.long)
    mask = torch.zeros(len(groups), width, dtype=torch.bool)
    for i, g in enumerate(groups):
        idx[i, : g.numel()] = g
        mask[i, : g.numel()] = True
    return idx.to(device), mask.to(device)


@dataclass
class _LanguageFolds:
    """The rows of a multilingual data set by language and fold, as the transfer and early-prediction
    studies split them: probes train on a language's rows outside the held-out fold and are tested
    on the held-out fold's rows of each test language."""

    y: Tensor  # [n] labels
    folds: Tensor  # [n] fold ids
    present: list[str]  # languages, in order of appearance
    lang: Tensor  # [n] index of each row's language in ``present``
    train: list[str]
    test: list[str]
    held_out: list[int]  # the folds held out in turn

    def train_rows(self, fold: int, device) -> tuple[Tensor, Tensor]:
        """``(row indices [A, m], mask [A, m])`` of each training language outside ``fold``."""
        groups = [((self.lang == self.present.index(a)) & (self.folds != fold)).nonzero().reshape(-1) for a in self.train]
        return _rows_matrix(groups, device)

    def test_rows(self, fold: int, languages: Sequence[str]) -> tuple[Tensor, Tensor]:
        """``(rows of fold [t], mask [len(languages), t] of each language's rows among them)``."""
        rows = (self.folds == fold).nonzero().reshape(-1)
        if rows.numel() == 0:
            raise ProbeDataError(f"fold {fold} holds no rows")
        return rows, torch.stack([self.lang[rows] == self.present.index(b) for b in languages])


def _language_folds(
    n: int, labels, languages: Sequence[str], folds, *, item_ids=None, train_languages=None, test_languages=None,
    test_folds=None,
) -> _LanguageFolds:
    """Check labels, languages and folds against ``n`` rows and resolve the languages and folds used."""
    y = torch.as_tensor(labels).reshape(-1)
    if y.numel() != n:
        raise ProbeDataError(f"{y.numel()} labels for {n} rows of activations (mismatched rows and labels)")
    langs = list(languages)
    if len(langs) != n:
        raise ProbeDataError(f"{len(langs)} languages for {n} rows of activations")
    f = _check_folds(folds, n, item_ids)
    present = list(dict.fromkeys(langs))
    train_l = list(train_languages) if train_languages is not None else present
    test_l = list(test_languages) if test_languages is not None else present
    for lang in dict.fromkeys(train_l + test_l):
        if lang not in present:
            raise ValueError(f"language {lang!r} has no rows; present: {present}")
    held_out = sorted(set(f.tolist())) if test_folds is None else list(test_folds)
    return _LanguageFolds(y, f, present, torch.tensor([present.index(l) for l in langs]), train_l, test_l, held_out)


# =================================================================================================
# Cross-validation over items
# =================================================================================================


@dataclass
class CVResult:
    """Cross-validated probes (folds by item id).

    Attributes:
        metrics: mean over test folds of each fold's metrics, shape ``[*batch]``.
        fold_metrics: ``[fold, *batch]``.
        scores: ``[*batch, n]`` out-of-fold logits (each row scored by the probe it was held out of;
            NaN for rows in no test fold).
        probes: ``[fold, *batch]`` the probes of every fold.
    """

    metrics: Metrics
    fold_metrics: Metrics
    scores: Tensor
    probes: list[Probe]


def cross_validate(
    acts: Float[Tensor, "*batch n d"],
    labels: Tensor | Sequence[int],
    folds: Tensor | Sequence[int],
    *,
    item_ids: Sequence[str] | None = None,
    test_folds: Sequence[int] | None = None,
    warm_start: bool = False,
    **fit_kwargs,
) -> CVResult:
    """Fit on all folds but one and test on that one, for each test fold; every problem at once.

    Args:
        acts: ``[*batch, n, d]`` (e.g. ``[layer, n, d]``).
        labels: ``[n]`` labels.
        folds: ``[n]`` fold of each row (:func:`fold_ids`; :func:`split_ids` with
            ``test_folds=[1]`` for one train/test split).
        item_ids: when given, checked: no item may be in two folds.
        test_folds: which folds to hold out in turn (default: every fold).
        warm_start: start each fold's fit from the previous fold's probes (measured on the
            gemma-3-270m probes: no fewer Newton steps than a cold start, so off by default).
        fit_kwargs: passed to :func:`fit_probes` (``C``, ``class_weight``, ``device`` ...).
    """
    x = torch.as_tensor(acts)
    n = x.shape[-2]
    f = _check_folds(folds, n, item_ids)
    y = torch.as_tensor(labels).reshape(-1)
    if y.numel() != n:
        raise ProbeDataError(f"{y.numel()} labels for {n} rows of activations (mismatched rows and labels)")
    which = sorted(set(f.tolist())) if test_folds is None else list(test_folds)
    batch = x.shape[:-2]
    scores = torch.full((*batch, n), math.nan)
    per_fold, probes, prev = [], [], None
    for j in which:
        train = (f != j).nonzero().reshape(-1)
        test = (f == j).nonzero().reshape(-1)
        if test.numel() == 0:
            raise ProbeDataError(f"fold {j} holds no rows")
        probe = fit_probes(x, y[train], rows=train, init=prev if warm_start else None, **fit_kwargs)
        s = probe.decision_function(x[..., test, :].to(probe.device)).float().cpu()
        scores[..., test] = s
        per_fold.append(binary_metrics(s, y[test]))
        probes.append(probe)
        prev = probe
    fold_metrics = _stack_metrics(per_fold)
    return CVResult(_fold_mean(fold_metrics), fold_metrics, scores, probes)


def _stack_metrics(ms: Sequence[Metrics]) -> Metrics:
    first = ms[0]
    return replace(first, **{k: torch.stack([getattr(m, k) for m in ms]) for k in Metrics._FIELDS})


def _fold_mean(fm: Metrics) -> Metrics:
    """Mean of the rates over folds (axis 0); row counts summed."""
    rates = {k: getattr(fm, k).float().nanmean(0) for k in Metrics._RATES}
    return replace(fm, **rates, n=fm.n.sum(0), n_positive=fm.n_positive.sum(0))


# =================================================================================================
# Cross-lingual transfer
# =================================================================================================


@dataclass
class TransferResult:
    """Probes trained in one language and tested in another, at every layer.

    Attributes:
        metrics: ``[layer, train language, test language]``, mean over test folds.
        fold_metrics: ``[fold, layer, train language, test language]``.
        train_languages, test_languages, layers: labels of the axes.
        probes: per test fold, a :class:`Probe` of batch shape ``[layer, train language]``.
        folds: the fold ids held out, in the order of the fold axis.
    """

    metrics: Metrics
    fold_metrics: Metrics
    train_languages: list[str]
    test_languages: list[str]
    layers: list
    probes: list[Probe]
    folds: list[int] = field(default_factory=list)

    def diagonal(self) -> Metrics:
        """``[layer, language]``: trained and tested in the same language (languages on both axes)."""
        idx = [self.test_languages.index(lang) for lang in self.train_languages]
        return self.metrics.map(lambda t: t[:, torch.arange(len(idx)), torch.tensor(idx)])

    def trained_on(self, language: str) -> Metrics:
        """``[layer, test language]`` of the probes trained in ``language``."""
        return self.metrics[:, self.train_languages.index(language)]

    def same_vs_other(self, metric: str = "accuracy") -> tuple[Tensor, Tensor]:
        """Per layer (``[layer]`` each), the mean ``metric`` of the probes trained in the test
        language (the diagonal of each matrix) and of those trained in another language."""
        A, B = [str(a) for a in self.train_languages], [str(b) for b in self.test_languages]
        same = torch.tensor([[a == b for b in B] for a in A], dtype=torch.bool).reshape(len(A), len(B))
        if not bool(same.any()):
            raise ValueError(f"no training language ({A}) is a test language ({B}): no same-language probes to compare")
        if bool(same.all()):
            raise ValueError(f"every (train, test) pair is one language ({A}): no other-language probes to compare")
        values = getattr(self.metrics, metric).double()  # [layer, A, B]
        return values[:, same].mean(1), values[:, ~same].mean(1)


def transfer_matrix(
    acts: Float[Tensor, "layer n d"],
    labels: Tensor | Sequence[int],
    languages: Sequence[str],
    folds: Tensor | Sequence[int],
    *,
    item_ids: Sequence[str] | None = None,
    train_languages: Sequence[str] | None = None,
    test_languages: Sequence[str] | None = None,
    test_folds: Sequence[int] | None = None,
    layers: Sequence | None = None,
    warm_start: bool = False,
    **fit_kwargs,
) -> TransferResult:
    """Train in language A, test in language B, for every pair and layer: ``[layer, A, B]``.

    For each held-out fold ``j`` one batched fit makes a probe per (layer, training language) from
    that language's rows outside fold ``j``; each is scored on fold ``j`` in every test language.
    Folds are by item (:func:`fold_ids`), so a probe never sees a test item in any language.

    Args:
        acts: ``[layer, n, d]`` activations (``Activations.stack()``).
        labels: ``[n]``; languages: ``[n]`` language code of each row; folds: ``[n]`` fold ids.
        item_ids: when given, checked: no item may be in two folds.
        train_languages, test_languages: default: every language present, in order of appearance.
        test_folds: folds to hold out in turn (default all; ``[1]`` with :func:`split_ids`).
        layers: axis labels (default ``0..L-1``).
        warm_start: start each fold's fits from the previous fold's (off by default; measured on
            the gemma probes, 5 folds: it saved no Newton steps, and a fifth of the L-BFGS
            iterations, 2.65 s instead of 3.03 s on 2 cores).
        fit_kwargs: passed to :func:`fit_probes`.
    """
    x = torch.as_tensor(acts)
    if x.ndim == 2:
        x = x.unsqueeze(0)
    if x.ndim != 3:
        raise ProbeDataError(f"activations must be [layer, n, d], got shape {tuple(x.shape)}")
    L, n, d = x.shape
    layers = _plain_list(layers) if layers is not None else list(range(L))
    lf = _language_folds(n, labels, languages, folds, item_ids=item_ids, train_languages=train_languages,
                         test_languages=test_languages, test_folds=test_folds)
    y, train_l, test_l = lf.y, lf.train, lf.test
    per_fold, probes, prev = [], [], None
    for j in lf.held_out:
        idx, mask = lf.train_rows(j, x.device)  # [A, m]
        yt = y.to(x.device)[idx]  # [A, m]
        probe = fit_probes(
            x, yt, rows=idx, sample_weight=mask.to(torch.float64), init=prev if warm_start else None,
            axes=("layer", "train_language"),
            coords={"layer": layers, "train_language": train_l},
            **fit_kwargs,
        )
        test, tmask = lf.test_rows(j, test_l)  # [t], [B, t]
        s = probe.decision_function(x[:, test].unsqueeze(1).to(probe.device)).float().cpu()  # [L, A, t]
        m = binary_metrics(s.unsqueeze(2).expand(L, len(train_l), len(test_l), test.numel()), y[test], tmask)
        per_fold.append(m)
        probes.append(probe)
        prev = probe
    fold_metrics = _stack_metrics(per_fold)
    return TransferResult(
        metrics=_fold_mean(fold_metrics),
        fold_metrics=fold_metrics,
        train_languages=train_l,
        test_languages=test_l,
        layers=layers,
        probes=probes,
        folds=list(lf.held_out),
    )


_SELECT_BY = ("pair", "mean", "same_language")


@dataclass
class LayerSelection:
    """A layer chosen on training items only, and its held-out score (nested cross-validation).

    Choosing the best layer on the folds it is then reported on overstates how well that layer does
    (the maximum of noisy scores is biased upwards). Here each outer fold's layer is chosen by an
    inner cross-validation on the outer training rows alone, and scored on the outer held-out rows;
    the mean of those scores estimates what "pick the best layer, then use it" achieves on new items.

    Attributes:
        chosen: ``[fold, train language, test language]`` index into ``layers`` chosen for each outer
            fold, from that fold's training rows only.
        fold_metrics: ``[fold, A, B]`` held-out metrics of each outer fold at its chosen layer.
        metrics: ``[A, B]`` mean over the outer folds: the unbiased estimate.
        layer: ``[A, B]`` index of the layer the plain cross-validation over all folds picks (the one
            to report and use).
        optimistic: ``[A, B]`` the plain cross-validated metrics at ``layer`` (chosen on the same folds
            they are reported on; ``optimistic - metrics`` is the selection bias).
        metric, by: what the layer was chosen by (see :func:`select_layer`).
        outer: the plain :class:`TransferResult` over all folds.
        inner: ``[fold, layer, A, B]`` the inner cross-validated metrics of each outer fold's training
            rows (what ``chosen`` was picked from; :meth:`choose` picks again by another rule).
    """

    chosen: Tensor
    fold_metrics: Metrics
    metrics: Metrics
    layer: Tensor
    optimistic: Metrics
    metric: str
    by: str
    layers: list
    train_languages: list[str]
    test_languages: list[str]
    outer: TransferResult
    inner: Metrics

    def chosen_layers(self) -> list[list[list]]:
        """``chosen`` as layer labels, ``[fold][A][B]``."""
        return [[[self.layers[k] for k in row] for row in fold] for fold in self.chosen.tolist()]

    def choose(self, metric: str | None = None, by: str | None = None) -> "LayerSelection":
        """The same nested selection by another ``metric`` or rule ``by``, from the stored inner and
        outer metrics (no refitting)."""
        return _selection(self.outer, self.inner, metric or self.metric, by or self.by)


def _selection(outer: TransferResult, inner: Metrics, metric: str, by: str) -> LayerSelection:
    """Pick each outer fold's layer from ``inner`` ``[fold, layer, A, B]`` and score it on ``outer``."""
    A, B = outer.train_languages, outer.test_languages
    _check_rule(metric, by, A, B)
    same = torch.tensor([[a == b for b in B] for a in A], dtype=torch.bool).reshape(len(A), len(B))
    ch = torch.stack([_choose(inner[j], metric, by, same) for j in range(inner.shape[0])])  # [fold, A, B]
    fm = outer.fold_metrics.map(lambda t: t.gather(1, ch.unsqueeze(1).to(t.device)).squeeze(1))
    best = _choose(outer.metrics, metric, by, same)  # [A, B]
    opt = outer.metrics.map(lambda t: t.gather(0, best.unsqueeze(0).to(t.device)).squeeze(0))
    return LayerSelection(ch, fm, _fold_mean(fm), best, opt, metric, by, outer.layers, A, B, outer, inner)


def _check_rule(metric: str, by: str, train: Sequence[str], test: Sequence[str]) -> None:
    if metric not in Metrics._RATES:
        raise ValueError(f"unknown metric {metric!r}; one of {', '.join(sorted(Metrics._RATES))}")
    if by not in _SELECT_BY:
        raise ValueError(f"unknown by={by!r}; one of {', '.join(_SELECT_BY)}")
    if by == "same_language" and not set(train) & set(test):
        raise ValueError(f"by='same_language': no training language ({list(train)}) is a test language ({list(test)})")


def _choose(metrics: Metrics, metric: str, by: str, same: Tensor) -> Tensor:
    """``[A, B]`` index of the best layer of ``[layer, A, B]`` metrics (first on ties; NaN never wins)."""
    v = getattr(metrics, metric).double()  # [L, A, B]
    if by == "mean":
        v = v.nanmean((1, 2), keepdim=True).expand_as(v)
    elif by == "same_language":
        v = v[:, same].nanmean(1)[:, None, None].expand_as(v)
    if bool(v.isnan().all(0).any()):
        raise ProbeDataError(f"{metric} is undefined at every layer for some (train, test) pair (a test language "
                             "with one class in a fold?); choose by another metric or use more rows")
    return v.nan_to_num(-math.inf).argmax(0)


def select_layer(
    acts: Float[Tensor, "layer n d"],
    labels: Tensor | Sequence[int],
    languages: Sequence[str],
    folds: Tensor | Sequence[int],
    *,
    metric: str = "accuracy",
    by: str = "pair",
    item_ids: Sequence[str] | None = None,
    train_languages: Sequence[str] | None = None,
    test_languages: Sequence[str] | None = None,
    layers: Sequence | None = None,
    outer: TransferResult | None = None,
    **fit_kwargs,
) -> LayerSelection:
    """Choose the probe layer on training items and score the choice on held-out items.

    For every outer fold ``j``, :func:`transfer_matrix` runs on the rows outside ``j`` with their own
    folds as the inner folds; the layer with the best inner mean ``metric`` is chosen and scored on
    fold ``j`` (from the outer probes, which were trained on the same rows). Costs ``k`` extra
    transfer matrices of ``k - 1`` folds each (gemma-3-270m probe study, ``[18, 3150, 640]``, 5 folds,
    2 cores: 2.1 s with the outer matrix given, which itself took 0.59 s).

    Args:
        acts, labels, languages, folds, item_ids, train_languages, test_languages, layers:
            as for :func:`transfer_matrix`; ``folds`` needs at least 3 folds (every fold is held out).
        metric: ``"accuracy"``, ``"auroc"``, ``"f1"`` or ``"pr_auc"``.
        by: ``"pair"`` (a layer per (train, test) language pair), ``"mean"`` (one layer, best mean
            over all pairs) or ``"same_language"`` (one layer, best mean of the probes trained and
            tested in the same language).
        outer: the :func:`transfer_matrix` of the same arguments, if already computed (its folds
            must be every fold).
        fit_kwargs: passed to :func:`fit_probes`.
    """
    x = torch.as_tensor(acts)
    if x.ndim != 3:
        raise ProbeDataError(f"activations must be [layer, n, d], got shape {tuple(x.shape)}")
    n = x.shape[1]
    lf = _language_folds(n, labels, languages, folds, item_ids=item_ids, train_languages=train_languages,
                         test_languages=test_languages)
    _check_rule(metric, by, lf.train, lf.test)  # before any fit
    if len(lf.held_out) < 3:
        raise ProbeDataError(f"nested layer selection needs at least 3 folds (an inner cross-validation on the "
                             f"others for each held-out fold); got {len(lf.held_out)}")
    langs = list(languages)
    common = dict(train_languages=lf.train, test_languages=lf.test, layers=layers, **fit_kwargs)
    if outer is None:
        outer = transfer_matrix(x, lf.y, langs, lf.folds, item_ids=item_ids, **common)
    elif outer.fold_metrics.shape != (len(lf.held_out), x.shape[0], len(lf.train), len(lf.test)) or \
            outer.train_languages != lf.train or outer.test_languages != lf.test or \
            (outer.folds and outer.folds != lf.held_out):
        raise ValueError(f"outer result of shape {tuple(outer.fold_metrics.shape)} [fold, layer, A, B] does not fit "
                         f"these activations, folds and languages")
    inner = []
    for j in lf.held_out:
        keep = (lf.folds != j).nonzero().reshape(-1)
        inner.append(transfer_matrix(
            x[:, keep.to(x.device)], lf.y[keep], [langs[i] for i in keep.tolist()], lf.folds[keep],
            item_ids=None if item_ids is None else [item_ids[i] for i in keep.tolist()], **common,
        ).metrics)
    return _selection(outer, _stack_metrics(inner), metric, by)


# =================================================================================================
# Early prediction from prefixes
# =================================================================================================


@dataclass
class EarlyResult:
    """How well the harmfulness of a text is predicted from a prefix of it, per language.

    Attributes:
        fractions: ``[F]`` share of each text's tokens seen.
        languages: ``[A]``.
        whole: ``[F, A]`` metrics of a probe trained on whole texts, tested on prefixes.
        per_fraction: ``[F, A]`` metrics of probes trained and tested at each fraction.
        fold_whole, fold_per_fraction: the same per test fold, ``[fold, F, A]``.
        probes: per test fold, ``(whole probe [A], per-fraction probes [F, A])``.
        folds: the fold ids held out, in the order of the fold axis.
    """

    fractions: list[float]
    languages: list[str]
    whole: Metrics
    per_fraction: Metrics
    fold_whole: Metrics
    fold_per_fraction: Metrics
    probes: list[tuple[Probe, Probe]]
    folds: list[int] = field(default_factory=list)

    @classmethod
    def join(cls, parts: Sequence["EarlyResult"]) -> "EarlyResult":
        """One result from results over disjoint held-out folds (``test_folds=``), e.g. each fold at
        its own layer; the means are over all their folds."""
        parts = list(parts)
        if not parts:
            raise ValueError("nothing to join")
        first = parts[0]
        for p in parts[1:]:
            if p.fractions != first.fractions or p.languages != first.languages:
                raise ValueError(f"cannot join results of other fractions or languages: {p.fractions} {p.languages} vs "
                                 f"{first.fractions} {first.languages}")
        entries = [(f, p, i) for p in parts for i, f in enumerate(p.folds)]
        ids = [f for f, _, _ in entries]
        if len(set(ids)) != len(ids):
            raise ValueError(f"the results hold out overlapping folds: {sorted(ids)}")
        entries.sort(key=lambda e: e[0])

        def stack(name: str) -> Metrics:
            return _stack_metrics([getattr(p, name)[i] for _, p, i in entries])

        fw, fe = stack("fold_whole"), stack("fold_per_fraction")
        return cls(first.fractions, first.languages, _fold_mean(fw), _fold_mean(fe), fw, fe,
                   [p.probes[i] for _, p, i in entries], [f for f, _, _ in entries])

    def at(self, fraction: float) -> dict[str, dict[str, float]]:
        """AUROC per language at one fraction, of both probes: ``{language: {"whole": .., "per_fraction": ..}}``."""
        i = min(range(len(self.fractions)), key=lambda k: abs(self.fractions[k] - fraction))
        if abs(self.fractions[i] - fraction) > 1e-9:
            raise KeyError(f"fraction {fraction} was not computed; fractions: {self.fractions}")
        return {
            a: {"whole": float(self.whole.auroc[i, k]), "per_fraction": float(self.per_fraction.auroc[i, k])}
            for k, a in enumerate(self.languages)
        }


def early_prediction(
    prefix_acts: Float[Tensor, "fraction n d"],
    labels: Tensor | Sequence[int],
    languages: Sequence[str],
    folds: Tensor | Sequence[int],
    fractions: Sequence[float],
    *,
    whole_acts: Float[Tensor, "n d"] | None = None,
    item_ids: Sequence[str] | None = None,
    train_languages: Sequence[str] | None = None,
    test_folds: Sequence[int] | None = None,
    warm_start: bool = False,
    **fit_kwargs,
) -> EarlyResult:
    """Probes on prefixes: one trained on whole texts tested at every fraction, and one per fraction.

    Each language gets its own probes (trained on its rows outside the test fold, tested on its rows
    in it). The per-fraction probes of a fold are fitted in one batch ``[fraction, language]``
    (``warm_start=True`` starts them from the whole-text probe).

    Args:
        prefix_acts: ``[F, n, d]`` activations at the last token of each prefix
            (:func:`mechint.prefixes.collect_prefixes`).
        labels, languages, folds: ``[n]`` each (see :func:`transfer_matrix`).
        fractions: ``[F]`` the fraction of tokens of each prefix.
        whole_acts: ``[n, d]`` whole-text activations; default: the prefix at fraction 1.
        fit_kwargs: passed to :func:`fit_probes`.
    """
    x = torch.as_tensor(prefix_acts)
    if x.ndim != 3:
        raise ProbeDataError(f"prefix activations must be [fraction, n, d], got shape {tuple(x.shape)}")
    F, n, d = x.shape
    fr = [float(v) for v in fractions]
    if len(fr) != F:
        raise ValueError(f"{len(fr)} fractions for {F} prefix activation sets")
    if whole_acts is None:
        if abs(fr[-1] - 1.0) > 1e-9:
            raise ValueError("give whole_acts, or end fractions with 1.0 (the whole text)")
        whole = x[-1]
    else:
        whole = torch.as_tensor(whole_acts)
        if whole.shape != (n, d):
            raise ProbeDataError(f"whole_acts must be [{n}, {d}], got {tuple(whole.shape)}")
    lf = _language_folds(n, labels, languages, folds, item_ids=item_ids, train_languages=train_languages,
                         test_folds=test_folds)
    y, train_l = lf.y, lf.train
    fold_whole, fold_each, probes = [], [], []
    for j in lf.held_out:
        idx, mask = lf.train_rows(j, x.device)
        yt = y.to(x.device)[idx]
        w = mask.to(torch.float64)
        p_whole = fit_probes(whole, yt, rows=idx, sample_weight=w, axes=("language",), coords={"language": train_l},
                             **fit_kwargs)
        p_each = fit_probes(
            x, yt, rows=idx, sample_weight=w, init=p_whole if warm_start else None,
            axes=("fraction", "language"), coords={"fraction": fr, "language": train_l}, **fit_kwargs,
        )
        test, tmask = lf.test_rows(j, train_l)  # [t], [A, t]
        xt = x[:, test].to(p_whole.device)  # [F, t, d]
        s_whole = p_whole.decision_function(xt.reshape(-1, d)).reshape(len(train_l), F, -1).transpose(0, 1)  # [F, A, t]
        fold_whole.append(binary_metrics(s_whole.float().cpu(), y[test], tmask))
        fold_each.append(binary_metrics(p_each.decision_function(xt.unsqueeze(1)).float().cpu(), y[test], tmask))
        probes.append((p_whole, p_each))
    fw, fe = _stack_metrics(fold_whole), _stack_metrics(fold_each)
    return EarlyResult(fr, train_l, _fold_mean(fw), _fold_mean(fe), fw, fe, probes, list(lf.held_out))
