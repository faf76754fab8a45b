"""The study protocols built on :func:`mechint.probes.fit_probes`: splits by item, cross-validation,
the cross-lingual transfer matrix, nested layer selection and early prediction from prefixes.

Every split is by item id (all translations of an item on one side), so a probe is never tested on
an item it saw in any language.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from .. import _validate
from ._common import ProbeDataError, plain_list
from .fit import fit_probes
from .metrics import Metrics, binary_metrics
from .probe import Probe

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
    from ..data import k_fold_by_item

    fold_of: dict[str, int] = {}
    for j, (_, test) in enumerate(k_fold_by_item(dataset, k=k, seed=seed, stratify=stratify)):
        for item in test.item_ids:
            fold_of[item] = j
    return torch.tensor([fold_of[i] for i in dataset.item_ids], dtype=torch.long)


def holdout_folds(dataset, test_fraction: float = 0.3, seed: int = 0, stratify: bool = True) -> Tensor:
    """``[n]`` fold ids of one train/test split by item: 1 for the test rows, 0 for the train rows of
    ``data.split_by_item`` (pass as ``folds`` with ``test_folds=[1]``); ``stratify`` is passed to
    ``split_by_item``. Items keep all their languages on one side."""
    from ..data import split_by_item

    _, test = split_by_item(dataset, test_fraction=test_fraction, seed=seed, stratify=stratify)
    test_items = set(test.item_ids)
    return torch.tensor([int(i in test_items) for i in dataset.item_ids], dtype=torch.long)


def split_ids(dataset, test_fraction: float = 0.3, seed: int = 0, stratify: bool = True) -> Tensor:
    """Deprecated name of :func:`holdout_folds` (it returns fold ids, not item ids); kept for one release."""
    _validate.warn_at_caller(
        "mechint.probes.split_ids is now holdout_folds (it returns 0/1 fold ids, not item ids)", DeprecationWarning
    )
    return holdout_folds(dataset, test_fraction=test_fraction, seed=seed, stratify=stratify)


def check_folds(folds, n: int, item_ids: Sequence[str] | None) -> Tensor:
    """``[n]`` integer fold ids, checked: one per row, and (with ``item_ids``) no item in two folds.
    Shared with the cross-validations of other modules (:mod:`mechint.monitor`)."""
    if folds is None or isinstance(folds, (str, bytes)):
        raise TypeError(f"folds must be one integer fold id per row (see fold_ids / holdout_folds), got {folds!r}")
    f = _validate.numbers("folds", folds)
    if f.is_floating_point() and not bool((f == f.round()).all()):
        raise TypeError("folds must be integer fold ids, got fractional numbers")
    f = f.long().reshape(-1)
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
        groups = [
            ((self.lang == self.present.index(a)) & (self.folds != fold)).nonzero().reshape(-1) for a in self.train
        ]
        return _rows_matrix(groups, device)

    def test_rows(self, fold: int, languages: Sequence[str]) -> tuple[Tensor, Tensor]:
        """``(rows of fold [t], mask [len(languages), t] of each language's rows among them)``."""
        rows = (self.folds == fold).nonzero().reshape(-1)
        if rows.numel() == 0:
            raise ProbeDataError(f"fold {fold} holds no rows")
        return rows, torch.stack([self.lang[rows] == self.present.index(b) for b in languages])


def _language_folds(
    n: int,
    labels,
    languages: Sequence[str],
    folds,
    *,
    item_ids=None,
    train_languages=None,
    test_languages=None,
    test_folds=None,
) -> _LanguageFolds:
    """Check labels, languages and folds against ``n`` rows and resolve the languages and folds used."""
    y = _validate.labels(labels).reshape(-1)
    if y.numel() != n:
        raise ProbeDataError(f"{y.numel()} labels for {n} rows of activations (mismatched rows and labels)")
    langs = list(languages)
    if len(langs) != n:
        raise ProbeDataError(f"{len(langs)} languages for {n} rows of activations")
    f = check_folds(folds, n, item_ids)
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
    f = check_folds(folds, n, item_ids)
    y = _validate.labels(labels).reshape(-1)
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
        if train.numel() == 0:
            raise ProbeDataError(
                f"holding out fold {j} leaves no training rows: every row is in that fold (folds need "
                "at least two distinct ids; see fold_ids / holdout_folds)"
            )
        probe = fit_probes(x, y[train], rows=train, init=prev if warm_start else None, **fit_kwargs)
        s = probe.decision_function(x[..., test, :].to(probe.device)).float().cpu()
        scores[..., test] = s
        per_fold.append(binary_metrics(s, y[test]))
        probes.append(probe)
        prev = probe
    fold_metrics = stack_metrics(per_fold)
    return CVResult(fold_mean(fold_metrics), fold_metrics, scores, probes)


def stack_metrics(ms: Sequence[Metrics]) -> Metrics:
    """Per-fold metrics stacked along a new first (fold) axis."""
    first = ms[0]
    return replace(first, **{k: torch.stack([getattr(m, k) for m in ms]) for k in Metrics._FIELDS})


def fold_mean(fm: Metrics) -> Metrics:
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

    def to_dataframe(self):
        """The mean metrics in long form (pandas): one row per (layer, train language, test language)."""
        return self.metrics.to_dataframe(
            {
                "layer": list(self.layers),
                "train_language": list(self.train_languages),
                "test_language": list(self.test_languages),
            }
        )

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
    layers: Iterable | None = None,
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
        warm_start: start each fold's fits from the previous fold's (off by default: on the gemma
            probes it saved no Newton steps and few L-BFGS iterations).
        fit_kwargs: passed to :func:`fit_probes`.
    """
    x = torch.as_tensor(acts)
    if x.ndim == 2:
        x = x.unsqueeze(0)
    if x.ndim != 3:
        raise ProbeDataError(f"activations must be [layer, n, d], got shape {tuple(x.shape)}")
    L, n, d = x.shape
    layers = plain_list(layers) if layers is not None else list(range(L))
    if len(layers) != L:
        raise ValueError(f"layers has {len(layers)} labels for activations of {L} layers")
    lf = _language_folds(
        n,
        labels,
        languages,
        folds,
        item_ids=item_ids,
        train_languages=train_languages,
        test_languages=test_languages,
        test_folds=test_folds,
    )
    y, train_l, test_l = lf.y, lf.train, lf.test
    per_fold, probes, prev = [], [], None
    for j in lf.held_out:
        idx, mask = lf.train_rows(j, x.device)  # [A, m]
        yt = y.to(x.device)[idx]  # [A, m]
        probe = fit_probes(
            x,
            yt,
            rows=idx,
            sample_weight=mask.to(torch.float64),
            init=prev if warm_start else None,
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
    fold_metrics = stack_metrics(per_fold)
    return TransferResult(
        metrics=fold_mean(fold_metrics),
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
    return LayerSelection(ch, fm, fold_mean(fm), best, opt, metric, by, outer.layers, A, B, outer, inner)


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
        raise ProbeDataError(
            f"{metric} is undefined at every layer for some (train, test) pair (a test language "
            "with one class in a fold?); choose by another metric or use more rows"
        )
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
    layers: Iterable | None = None,
    outer: TransferResult | None = None,
    **fit_kwargs,
) -> LayerSelection:
    """Choose the probe layer on training items and score the choice on held-out items.

    For every outer fold ``j``, :func:`transfer_matrix` runs on the rows outside ``j`` with their own
    folds as the inner folds; the layer with the best inner mean ``metric`` is chosen and scored on
    fold ``j`` (from the outer probes, which were trained on the same rows). Costs ``k`` extra
    transfer matrices of ``k - 1`` folds each.

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
    lf = _language_folds(
        n, labels, languages, folds, item_ids=item_ids, train_languages=train_languages, test_languages=test_languages
    )
    _check_rule(metric, by, lf.train, lf.test)  # before any fit
    if len(lf.held_out) < 3:
        raise ProbeDataError(
            f"nested layer selection needs at least 3 folds (an inner cross-validation on the "
            f"others for each held-out fold); got {len(lf.held_out)}"
        )
    langs = list(languages)
    common: dict[str, Any] = dict(train_languages=lf.train, test_languages=lf.test, layers=layers, **fit_kwargs)
    if outer is None:
        outer = transfer_matrix(x, lf.y, langs, lf.folds, item_ids=item_ids, **common)
    elif (
        outer.fold_metrics.shape != (len(lf.held_out), x.shape[0], len(lf.train), len(lf.test))
        or outer.train_languages != lf.train
        or outer.test_languages != lf.test
        or (outer.folds and outer.folds != lf.held_out)
    ):
        raise ValueError(
            f"outer result of shape {tuple(outer.fold_metrics.shape)} [fold, layer, A, B] does not fit "
            f"these activations, folds and languages"
        )
    inner = []
    for j in lf.held_out:
        keep = (lf.folds != j).nonzero().reshape(-1)
        inner.append(
            transfer_matrix(
                x[:, keep.to(x.device)],
                lf.y[keep],
                [langs[i] for i in keep.tolist()],
                lf.folds[keep],
                item_ids=None if item_ids is None else [item_ids[int(i)] for i in keep.tolist()],
                **common,
            ).metrics
        )
    return _selection(outer, stack_metrics(inner), metric, by)


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
                raise ValueError(
                    f"cannot join results of other fractions or languages: {p.fractions} {p.languages} vs "
                    f"{first.fractions} {first.languages}"
                )
        entries = [(f, p, i) for p in parts for i, f in enumerate(p.folds)]
        ids = [f for f, _, _ in entries]
        if len(set(ids)) != len(ids):
            raise ValueError(f"the results hold out overlapping folds: {sorted(ids)}")
        entries.sort(key=lambda e: e[0])

        def stack(name: str) -> Metrics:
            return stack_metrics([getattr(p, name)[i] for _, p, i in entries])

        fw, fe = stack("fold_whole"), stack("fold_per_fraction")
        return cls(
            first.fractions,
            first.languages,
            fold_mean(fw),
            fold_mean(fe),
            fw,
            fe,
            [p.probes[i] for _, p, i in entries],
            [f for f, _, _ in entries],
        )

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
    fr = [float(v) for v in _validate.numbers("fractions", fractions).reshape(-1).tolist()]
    if any(not 0 < v <= 1 for v in fr):
        raise ValueError(f"fractions must be in (0, 1] (shares of each text's tokens), got {fr}")
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
    lf = _language_folds(
        n, labels, languages, folds, item_ids=item_ids, train_languages=train_languages, test_folds=test_folds
    )
    y, train_l = lf.y, lf.train
    fold_whole, fold_each, probes = [], [], []
    for j in lf.held_out:
        idx, mask = lf.train_rows(j, x.device)
        yt = y.to(x.device)[idx]
        w = mask.to(torch.float64)
        p_whole = fit_probes(
            whole, yt, rows=idx, sample_weight=w, axes=("language",), coords={"language": train_l}, **fit_kwargs
        )
        p_each = fit_probes(
            x,
            yt,
            rows=idx,
            sample_weight=w,
            init=p_whole if warm_start else None,
            axes=("fraction", "language"),
            coords={"fraction": fr, "language": train_l},
            **fit_kwargs,
        )
        test, tmask = lf.test_rows(j, train_l)  # [t], [A, t]
        xt = x[:, test].to(p_whole.device)  # [F, t, d]
        s_whole = p_whole.decision_function(xt.reshape(-1, d)).reshape(len(train_l), F, -1).transpose(0, 1)  # [F, A, t]
        fold_whole.append(binary_metrics(s_whole.float().cpu(), y[test], tmask))
        fold_each.append(binary_metrics(p_each.decision_function(xt.unsqueeze(1)).float().cpu(), y[test], tmask))
        probes.append((p_whole, p_each))
    fw, fe = stack_metrics(fold_whole), stack_metrics(fold_each)
    return EarlyResult(fr, train_l, fold_mean(fw), fold_mean(fe), fw, fe, probes, list(lf.held_out))
