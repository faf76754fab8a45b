"""Statistics mechint computes in more than one place, written once.

- :func:`auroc`: the area under the ROC curve (Mann-Whitney, ties count one half), batched, with an
  optional row mask; its one NaN rule: a slice whose counted scores hold NaN, or that lacks one of
  the two classes, has no AUROC (NaN).
- :func:`ranks`, :func:`pearson`, :func:`spearman`: average ranks for ties and the two correlations,
  NaN when a side is constant.
- :func:`bootstrap_mean`: the mean of per-item values with a percentile bootstrap interval over
  items (refusal rates per language).
- :func:`reliability_bins`, :func:`expected_calibration_error`, :func:`brier_score`: how well
  predicted probabilities match outcomes (multiple-choice answers in :mod:`mechint.eval`; any
  classifier's probabilities).
- :class:`RunningMoments`: streaming mean and variance; :class:`Reservoir`: a uniform sample of a
  stream of rows, for quantiles without keeping the stream.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from . import _validate

__all__ = [
    "auroc",
    "bootstrap_mean",
    "ranks",
    "pearson",
    "spearman",
    "set_overlap",
    "reliability_bins",
    "expected_calibration_error",
    "brier_score",
    "RunningMoments",
    "Reservoir",
]


def auroc(
    scores: Float[Tensor, "... n"], labels: Sequence[int] | Tensor, mask: Tensor | None = None
) -> Float[Tensor, "..."]:
    """Area under the ROC curve of ``scores`` for label 1 (harmful) against label 0, along the last
    axis: the mean rank of the positives with ties averaged (the Mann-Whitney U statistic over
    ``n1 * n0``, as ``sklearn.metrics.roc_auc_score``). ``labels`` and ``mask`` (rows to count)
    broadcast to the scores. NaN where a slice's counted scores contain NaN (they cannot be ranked)
    or where it lacks one of the classes."""
    s = _validate.numbers("scores", scores)
    if s.ndim == 0 or s.shape[-1] == 0:
        raise ValueError(f"auroc takes scores [..., n], one per labelled row; got shape {tuple(s.shape)}")
    s = s.double()
    y = _validate.labels(labels, device=s.device)
    bad = set(torch.unique(y).tolist()) - {0, 1}
    if bad:
        raise ValueError(
            f"labels must be 0 (harmless) or 1 (harmful), got values {sorted(bad | set(torch.unique(y).tolist()))}"
        )
    try:
        y = torch.broadcast_to(y.bool(), s.shape)
        m = (
            torch.ones_like(s, dtype=torch.bool)
            if mask is None
            else torch.broadcast_to(torch.as_tensor(mask, device=s.device).bool(), s.shape)
        )
    except RuntimeError:
        raise ValueError(f"labels/mask do not match scores of shape {tuple(s.shape)}") from None
    unrankable = (torch.isnan(s) & m).any(-1)
    yf = (y & m).double()
    n_pos = yf.sum(-1)
    n_neg = m.double().sum(-1) - n_pos
    big = torch.finfo(torch.float64).max
    key = torch.where(m & ~torch.isnan(s), s.clamp(-big, big), torch.full_like(s, math.inf))  # uncounted rows sort last
    order = key.argsort(-1)
    v = key.gather(-1, order)
    start, end = tie_bounds(v)
    rank = (start + end).double() / 2 + 1
    rank_sum = (rank * yf.gather(-1, order)).sum(-1)
    area = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    undefined = unrankable | (n_pos == 0) | (n_neg == 0)
    return area.masked_fill(undefined, math.nan).float()


def tie_bounds(v: Tensor) -> tuple[Tensor, Tensor]:
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


class RunningMoments:
    """Streaming mean and variance (Chan et al.'s parallel update, in float64) of a site.

    ``update(x)`` takes ``[n, ...]`` rows; ``mean``, ``var`` (unbiased) and ``std`` have the
    site's shape. Two instances merge with ``+``.
    """

    def __init__(self) -> None:
        self.count = 0
        self._mean: Tensor | None = None
        self._m2: Tensor | None = None

    def update(self, x: Tensor) -> "RunningMoments":
        x = x.detach().to(torch.float64)
        n = x.shape[0]
        if n == 0:
            return self
        mean = x.mean(0)
        m2 = ((x - mean) ** 2).sum(0)
        self._merge(n, mean, m2)
        return self

    def _merge(self, n: int, mean: Tensor, m2: Tensor) -> None:
        if self._mean is not None and mean.shape != self._mean.shape:
            raise ValueError(
                f"RunningMoments holds statistics of shape {tuple(self._mean.shape)}; rows of shape "
                f"{tuple(mean.shape)} cannot join them"
            )
        if self._mean is None or self._m2 is None:  # set together, by the first merge
            self.count, self._mean, self._m2 = n, mean.clone(), m2.clone()
            return
        total = self.count + n
        delta = mean - self._mean
        self._mean = self._mean + delta * (n / total)
        self._m2 = self._m2 + m2 + delta**2 * (self.count * n / total)
        self.count = total

    def __add__(self, other: "RunningMoments") -> "RunningMoments":
        out = RunningMoments()
        for part in (self, other):
            if part._mean is not None and part._m2 is not None:  # set together
                out._merge(part.count, part._mean, part._m2)
        return out

    @property
    def mean(self) -> Tensor:
        if self._mean is None:
            raise ValueError("no data seen yet")
        return self._mean

    @property
    def var(self) -> Tensor:
        if self._m2 is None:
            raise ValueError("no data seen yet")
        return self._m2 / max(self.count - 1, 1)

    @property
    def std(self) -> Tensor:
        return self.var.sqrt()

    def __repr__(self) -> str:
        shape = None if self._mean is None else tuple(self._mean.shape)
        return f"RunningMoments(count={self.count}, shape={shape})"


class Reservoir:
    """A uniform random sample of at most ``capacity`` rows of a stream (Vitter's algorithm R,
    vectorised per batch): exact when the stream is shorter than ``capacity``."""

    def __init__(self, capacity: int, width: int, seed: int):
        self.capacity = capacity
        self.rows = torch.empty(0, width, dtype=torch.float64)
        self.seen = 0
        self.gen = torch.Generator().manual_seed(seed)

    def update(self, x: Tensor) -> None:
        x = x.detach().to("cpu", torch.float64)
        fill = min(max(self.capacity - self.rows.shape[0], 0), x.shape[0])
        if fill:
            self.rows = torch.cat([self.rows, x[:fill]])
        rest = x[fill:]
        if rest.shape[0]:
            # item with 0-based stream index g replaces slot j ~ U{0..g} when j < capacity; a later item
            # of the same batch that draws the same slot wins, as in the sequential algorithm
            g = torch.arange(self.seen + fill, self.seen + x.shape[0], dtype=torch.float64)
            j = (torch.rand(rest.shape[0], generator=self.gen, dtype=torch.float64) * (g + 1)).long()
            keep = j < self.capacity
            if bool(keep.any()):
                slots, items = j[keep], torch.nonzero(keep).reshape(-1)
                last = torch.full((self.capacity,), -1, dtype=torch.long)
                last.scatter_reduce_(0, slots, items, reduce="amax")
                hit = last >= 0
                self.rows[hit] = rest[last[hit]]
        self.seen += x.shape[0]


def _float64(x) -> Tensor:
    """A float64 tensor of ``x`` (a tensor, or numbers: read in float64, not torch's default float32)."""
    return x.double() if isinstance(x, Tensor) else torch.tensor(x, dtype=torch.float64)


def ranks(x: Tensor | Sequence[float]) -> Tensor:
    """Ranks 1..n of a 1-D tensor, ties getting the average of their ranks (as
    ``scipy.stats.rankdata``): float64."""
    x = _float64(x).reshape(-1)
    _, inverse, counts = torch.unique(x, sorted=True, return_inverse=True, return_counts=True)
    last = counts.cumsum(0).double()  # the highest rank of each distinct value
    avg = last - (counts.double() - 1) / 2
    return avg[inverse]


def spearman(a: Tensor | Sequence[float], b: Tensor | Sequence[float]) -> float:
    """Spearman's rank correlation with average ranks for ties; NaN when either side is constant
    (or has fewer than 2 values)."""
    a, b = _float64(a), _float64(b)
    if a.numel() < 2:
        return float("nan")
    return pearson(ranks(a), ranks(b))


def pearson(a: Tensor | Sequence[float], b: Tensor | Sequence[float]) -> float:
    """Pearson's correlation; NaN when either side is constant (or has fewer than 2 values)."""
    a, b = _float64(a).reshape(-1), _float64(b).reshape(-1)
    if a.numel() < 2 or bool((a == a[0]).all()) or bool((b == b[0]).all()):
        return float("nan")  # a constant side: no correlation is defined
    a, b = a - a.mean(), b - b.mean()
    den = (a.norm() * b.norm()).item()
    return float("nan") if den == 0 else float((a @ b).item() / den)


def bootstrap_mean(
    values: Tensor | Sequence[float], *, level: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of per-item ``values`` (e.g. 1.0 for a refused prompt, 0.0 for
    an answered one) and its percentile bootstrap interval at ``level``: the items are resampled with
    replacement ``n_resamples`` times (seeded, so a rerun gives the same interval). An interval over
    items, not over tokens or generations: items are what a study samples. NaN for no values."""
    _validate.integer("n_resamples", n_resamples, minimum=1)
    _validate.integer("seed", seed, minimum=0)
    if not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level must be a number in (0, 1), got {level!r}")
    x = _float64(values).reshape(-1)
    if x.numel() == 0:
        return (math.nan, math.nan, math.nan)
    _validate.finite("values", x)
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, x.numel(), (n_resamples, x.numel()), generator=gen)
    means = x[idx].mean(-1)
    q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)
    low, high = torch.quantile(means, q).tolist()
    return (float(x.mean()), float(low), float(high))


def set_overlap(intersection: int, size_a: int, size_b: int, n: int, *, exact: bool = True) -> dict[str, float]:
    """The overlap of two sets of ``size_a`` and ``size_b`` items among ``n`` that share
    ``intersection``: their Jaccard index and what two uniformly random sets of those sizes give.

    ``expected_intersection`` is ``size_a * size_b / n``. ``expected_jaccard`` is, with ``exact``, the
    expectation of the Jaccard index itself (the intersection of two random sets is hypergeometric:
    a sum over its ``min(size_a, size_b) + 1`` values, for sets of thousands); without, the ratio of
    the expected intersection and the expected union, which approximates it and costs nothing for
    sets of millions (weight masks). Two empty sets have Jaccard 1.0 (equal sets), and so does chance.
    """
    if not 0 <= intersection <= min(size_a, size_b) or max(size_a, size_b) > n:
        raise ValueError(f"no two sets of {size_a} and {size_b} among {n} share {intersection}")
    union = size_a + size_b - intersection
    expected = size_a * size_b / n if n else 0.0
    if exact:
        chance = _expected_jaccard(size_a, size_b, n)
    else:
        expected_union = size_a + size_b - expected
        chance = expected / expected_union if expected_union > 0 else 1.0
    return {
        "jaccard": intersection / union if union else 1.0,
        "intersection": intersection,
        "size_a": size_a,
        "size_b": size_b,
        "n": n,
        "expected_intersection": expected,
        "expected_jaccard": chance,
    }


def _confidence_outcomes(confidence, correct) -> tuple[Tensor, Tensor]:
    """``(confidence, correct)`` as float64 vectors of one length, checked: confidences in [0, 1],
    outcomes 0/1 (or booleans)."""
    conf = _validate.numbers("confidence", confidence).double().reshape(-1)
    if isinstance(correct, Tensor) and correct.dtype == torch.bool:
        hit = correct.double().reshape(-1)
    else:
        hit = _validate.labels(correct, "correct").double().reshape(-1)
    if conf.shape != hit.shape:
        raise ValueError(
            f"confidence has {conf.numel()} values but correct has {hit.numel()}: give one of each per prediction"
        )
    _validate.finite("confidence", conf)
    if conf.numel() and (bool((conf < 0).any()) or bool((conf > 1).any())):
        raise ValueError(
            f"confidence must be probabilities in [0, 1], got values from {float(conf.min())} to {float(conf.max())}"
        )
    if bool(((hit != 0) & (hit != 1)).any()):
        raise ValueError("correct must be 0/1 or booleans (1 = the prediction was right)")
    return conf, hit


def reliability_bins(
    confidence: Float[Tensor, " n"] | Sequence[float], correct: Tensor | Sequence[int], n_bins: int = 10
) -> dict[str, Tensor]:
    """The data of a reliability diagram: predictions grouped into ``n_bins`` equal-width bins of
    their confidence over [0, 1] (bin ``b`` holds ``b / n_bins <= c < (b + 1) / n_bins``, the last
    bin also ``c = 1``), and per bin the mean confidence against the share that was correct.

    Args:
        confidence: ``[n]`` the probability each prediction gave its own answer (a multiple-choice
            model's probability of the option it chose).
        correct: ``[n]`` 1 (or True) where the prediction was right.
        n_bins: how many bins.

    Returns:
        ``{"edges": [n_bins + 1], "confidence": [n_bins], "accuracy": [n_bins], "count": [n_bins]}``,
        float64 (``count`` int64) on the CPU; ``confidence`` and ``accuracy`` are NaN in empty bins.
        Plot ``accuracy`` against ``confidence`` (or against the bin centres) beside the diagonal.
    """
    n_bins = _validate.integer("n_bins", n_bins, minimum=1)
    conf, hit = _confidence_outcomes(confidence, correct)
    conf, hit = conf.cpu(), hit.cpu()
    index = (conf * n_bins).floor().long().clamp(max=n_bins - 1)
    count = torch.bincount(index, minlength=n_bins)
    sum_conf = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, index, conf)
    sum_hit = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, index, hit)
    denominator = count.double()
    return {
        "edges": torch.linspace(0, 1, n_bins + 1, dtype=torch.float64),
        "confidence": torch.where(count > 0, sum_conf / denominator, math.nan),
        "accuracy": torch.where(count > 0, sum_hit / denominator, math.nan),
        "count": count,
    }


def expected_calibration_error(
    confidence: Float[Tensor, " n"] | Sequence[float], correct: Tensor | Sequence[int], n_bins: int = 10
) -> float:
    """The expected calibration error (Naeini et al. 2015; Guo et al. 2017): ``sum_b (n_b / n) |accuracy_b - confidence_b|``
    over the equal-width confidence bins of :func:`reliability_bins` (empty bins count nothing).
    0 for a calibrated predictor; NaN for no predictions. It depends on ``n_bins`` and, with few
    predictions per bin, is biased upwards: compare values computed with the same bins and sizes."""
    bins = reliability_bins(confidence, correct, n_bins)
    count = bins["count"]
    n = int(count.sum())
    if n == 0:
        return math.nan
    full = count > 0
    gap = (bins["accuracy"][full] - bins["confidence"][full]).abs()
    return float((count[full].double() / n * gap).sum())


def brier_score(probs: Float[Tensor, "n k"] | Sequence[Sequence[float]], targets: Tensor | Sequence[int]) -> float:
    """The multi-class Brier score (Brier 1950): the mean over predictions of
    ``sum_j (probs[i, j] - [j == targets[i]])**2``, from 0 (all mass on the right class) to 2 (all
    on one wrong class). ``probs`` ``[n, k]`` rows are probability distributions over ``k`` classes
    (a row may end in zeros for classes an item lacks); ``targets`` ``[n]`` the right class of each.
    NaN for no predictions."""
    p = _validate.numbers("probs", probs).double()
    if p.ndim != 2:
        raise ValueError(f"probs must be [n, k], one distribution per prediction; got shape {tuple(p.shape)}")
    y = _validate.labels(targets, "targets").reshape(-1).long().cpu()
    if y.numel() != p.shape[0]:
        raise ValueError(f"probs has {p.shape[0]} rows but targets has {y.numel()} values")
    if p.shape[0] == 0:
        return math.nan
    _validate.finite("probs", p)
    if bool((y < 0).any()) or bool((y >= p.shape[1]).any()):
        raise ValueError(f"targets must be class indices in 0..{p.shape[1] - 1}, got {y.tolist()[:10]}")
    p = p.cpu()
    onehot = torch.zeros_like(p).scatter_(1, y[:, None], 1.0)
    return float((p - onehot).square().sum(-1).mean())


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _expected_jaccard(a: int, b: int, n: int) -> float:
    """E[|A and B| / |A or B|] for uniformly random A, B of sizes a, b among n: the intersection is
    hypergeometric, P(k) = C(a, k) C(n - a, b - k) / C(n, b)."""
    if a + b == 0:
        return 1.0
    total = 0.0
    for k in range(max(0, a + b - n), min(a, b) + 1):
        p = math.exp(_log_comb(a, k) + _log_comb(n - a, b - k) - _log_comb(n, b))
        total += p * k / (a + b - k)
    return total
