"""Plotly figures for the probe studies: probe quality per layer, the train x test language transfer
matrix, same- vs other-language transfer per layer, and early prediction from prompt prefixes.

Each helper takes the result object of one probe function and plots one of its metrics (accuracy,
AUROC, F1 or PR-AUC), so a notebook needs one call per figure:

- :func:`plot_probe_layers`, :func:`plot_transfer_matrix`, :func:`plot_transfer_gap`: a
  :class:`mechint.probes.TransferResult` (:func:`mechint.probes.transfer_matrix`);
- :func:`plot_early_prediction`: a :class:`mechint.probes.EarlyResult`
  (:func:`mechint.probes.early_prediction`).

The figures are the ones the studies ``experiments.probe_layers``, ``probe_transfer`` and
``probe_early`` write; lines go through :func:`mechint.plots.plot_layer_lines`, so a language keeps its
colour across figures. None takes a model. Export with :func:`mechint.plots.save_figure`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .._suggest import did_you_mean, nearest
from ..probes import EarlyResult, Metrics, TransferResult
from ._common import to_numpy
from .layers import plot_layer_heatmap, plot_layer_lines

__all__ = ["plot_early_prediction", "plot_probe_layers", "plot_transfer_gap", "plot_transfer_matrix"]

#: The plottable metrics of :class:`mechint.probes.Metrics` and their labels in titles.
METRIC_LABELS = {"accuracy": "accuracy", "auroc": "AUROC", "f1": "F1", "pr_auc": "PR-AUC"}

_DASHED: dict[str, Any] = {"line": {"dash": "dash"}, "marker": {"symbol": "circle-open"}}


# --------------------------------------------------------------------------------------------------
# inputs


def _check_result(result: Any, cls: type, func: str) -> None:
    if not isinstance(result, cls):
        maker = "transfer_matrix" if cls is TransferResult else "early_prediction"
        hint = ""
        if isinstance(result, EarlyResult):
            hint = "; for an EarlyResult use plot_early_prediction"
        elif isinstance(result, TransferResult):
            hint = "; for a TransferResult use plot_probe_layers, plot_transfer_matrix or plot_transfer_gap"
        raise TypeError(
            f"{func} needs a mechint.probes.{cls.__name__} (from {maker}), got {type(result).__name__}{hint}"
        )


def _metric_name(metric: str) -> str:
    """The canonical metric name; "AUROC" and "PR-AUC" are accepted too."""
    key = _metric_key(metric)
    if key in METRIC_LABELS:
        return key
    hint = did_you_mean(nearest(metric, METRIC_LABELS, n=2, cutoff=0.5, key=_metric_key))
    raise ValueError(f"unknown metric {metric!r}{hint}; valid metrics: {', '.join(METRIC_LABELS)}")


def _metric_key(metric: Any) -> str:
    return str(metric).strip().lower().replace("-", "_")


def _values(metrics: Metrics, metric: str, shape: tuple[int, ...], *, what: str) -> np.ndarray:
    """The ``metric`` field as a float64 array, checked against the result's axis labels."""
    arr = to_numpy(getattr(metrics, metric), name=f"metrics.{metric}", ndim=len(shape))
    if arr.shape != shape:
        raise ValueError(
            f"the result is inconsistent: metrics.{metric} has shape {arr.shape} but its labels give {shape} ({what})"
        )
    return arr


def _n_folds(fold_metrics: Metrics) -> int | None:
    try:
        return int(fold_metrics.accuracy.shape[0])
    except (AttributeError, IndexError, TypeError):
        return None


def _yaxis_title(label: str, fold_metrics: Metrics, metrics: Metrics) -> str:
    """``held-out AUROC (mean of 5 folds; positive class: harmful)``."""
    k = _n_folds(fold_metrics)
    folds = f"mean of {k} folds; " if k else ""
    return f"held-out {label} ({folds}positive class: {metrics.positive_name})"


def _chance(metrics: Metrics, metric: str) -> tuple[float, str] | None:
    """The level of an uninformed probe, drawn as a reference line: 0.5 for AUROC, the majority
    class's share for accuracy, the positives' share for PR-AUC (all rows of the result pooled); none
    for F1 (it depends on what the uninformed probe predicts)."""
    if metric == "auroc":
        return 0.5, "chance"
    if metric == "f1":
        return None
    n = float(to_numpy(metrics.n, name="metrics.n", ndim=(0, 1, 2, 3)).sum())
    pos = float(to_numpy(metrics.n_positive, name="metrics.n_positive", ndim=(0, 1, 2, 3)).sum())
    if not n > 0:
        return None
    p = pos / n
    if metric == "accuracy":
        return max(p, 1.0 - p), "chance"
    return p, "chance (share of positives)"


def _lines(lines: dict, metrics: Metrics, metric: str, *, dashed: Sequence[str] = (), **kwargs) -> go.Figure:
    """:func:`plot_layer_lines` with the chance level of ``metric`` as the reference line and the
    ``dashed`` traces drawn dashed with open markers."""
    chance = _chance(metrics, metric)
    fig = plot_layer_lines(
        lines, reference=chance[0] if chance else None, reference_label=chance[1] if chance else None, **kwargs
    )
    for name in dashed:
        fig.update_traces(selector={"name": name}, **_DASHED)
    return fig


def _nearest(value: Any, options: Sequence, k: int = 3) -> list:
    """Up to ``k`` entries of ``options`` nearest to ``value`` (by distance for numbers, by spelling
    otherwise)."""
    opts = list(options)
    try:
        v = float(value)
        nums = [float(o) for o in opts]
    except (TypeError, ValueError):
        return nearest(value, opts, n=k, cutoff=0.0)
    order = sorted(range(len(opts)), key=lambda i: (abs(nums[i] - v), i))
    return [opts[i] for i in sorted(order[:k])]


def _language_index(language: str, languages: list[str], *, name: str) -> int:
    if language in languages:
        return languages.index(language)
    near = _nearest(language, languages)
    hint = f"; {name}=None draws the own-language probes only" if name == "reference_language" else ""
    raise ValueError(
        f"{name}={language!r} is not a training language of this result; nearest: {near}; "
        f"training languages: {languages}{hint}"
    )


def _layer_index(result: TransferResult, values: np.ndarray, layer: Any, metric: str) -> int:
    """Index of ``layer`` (a label of ``result.layers``), or of the layer with the best mean."""
    layers = list(result.layers)
    if layer is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN layers: mean NaN, skipped below
            means = np.nanmean(values.reshape(values.shape[0], -1), axis=1)
        if not np.isfinite(means).any():
            raise ValueError(f"every layer's {metric} is NaN: no best layer; pass layer=")
        return int(np.nanargmax(means))
    if layer in layers:
        return layers.index(layer)
    raise ValueError(
        f"layer {layer!r} is not a layer of this result; nearest: {_nearest(layer, layers)}; layers: {_span(layers)}"
    )


def _span(layers: list) -> str:
    if len(layers) > 8 and all(isinstance(v, (int, np.integer)) for v in layers):
        return f"{layers[0]} .. {layers[-1]} ({len(layers)} layers)"
    return str(layers)


def _transfer_values(result: TransferResult, metric: str) -> tuple[np.ndarray, str, list[str], list[str]]:
    A, B = [str(a) for a in result.train_languages], [str(b) for b in result.test_languages]
    values = _values(
        result.metrics, metric, (len(result.layers), len(A), len(B)), what="[layer, train language, test language]"
    )
    return values, METRIC_LABELS[metric], A, B


# --------------------------------------------------------------------------------------------------
# TransferResult


def plot_probe_layers(
    result: TransferResult,
    metric: str = "accuracy",
    *,
    reference_language: str | None = "en",
    title: str | None = None,
) -> go.Figure:
    """Probe quality per layer, tested in each language: trained in that language (solid) and
    trained in ``reference_language`` (dashed).

    Shows where in the model a language's own probe works, and how much of it a probe trained in
    English (the usual training language of safety classifiers) recovers in that language.

    Args:
        result: a :class:`~mechint.probes.TransferResult` (from :func:`~mechint.probes.transfer_matrix`).
        metric: ``"accuracy"``, ``"auroc"``, ``"f1"`` or ``"pr_auc"``.
        reference_language: a training language of ``result``; its probe is drawn, dashed, in every
            other test language. None draws the own-language probes only.
        title: figure title (default: a description of the figure).

    Returns:
        A figure with, per test language, the trace ``"<lang> (trained in <lang>)"`` (when ``<lang>``
        is a training language) and the dashed trace ``"<lang> (trained on <reference>)"``; x is
        ``result.layers``, and a dashed horizontal line marks chance (0.5 for AUROC, the majority
        class's share for accuracy, the positives' share for PR-AUC; none for F1).
    """
    _check_result(result, TransferResult, "plot_probe_layers")
    metric = _metric_name(metric)
    values, label, A, B = _transfer_values(result, metric)
    ref = None if reference_language is None else _language_index(reference_language, A, name="reference_language")
    lines: dict[str, np.ndarray] = {}
    dashed: list[str] = []
    for b, lang in enumerate(B):
        if lang in A:
            lines[f"{lang} (trained in {lang})"] = values[:, A.index(lang), b]
        if ref is not None and lang != reference_language:
            name = f"{lang} (trained on {reference_language})"
            lines[name] = values[:, ref, b]
            dashed.append(name)
    if not lines:
        raise ValueError(
            f"nothing to draw: no test language ({B}) is a training language ({A}) and reference_language is None"
        )
    if title is None:
        title = f"Probe {label} per layer, tested in each language: trained in that language"
        title += f" (solid) or in {reference_language} (dashed)" if dashed else ""
    return _lines(
        lines,
        result.metrics,
        metric,
        dashed=dashed,
        title=title,
        layers=list(result.layers),
        yaxis_title=_yaxis_title(label, result.fold_metrics, result.metrics),
    )


def plot_transfer_matrix(
    result: TransferResult,
    metric: str = "accuracy",
    *,
    layer: Any = None,
    title: str | None = None,
) -> go.Figure:
    """Train language (rows) x test language (columns) heatmap of ``metric`` at one layer, values
    written in the cells.

    Off-diagonal cells show how far a probe trained in one language carries to another; the
    diagonal is training in the test language.

    Args:
        result: a :class:`~mechint.probes.TransferResult`.
        metric: ``"accuracy"``, ``"auroc"``, ``"f1"`` or ``"pr_auc"``.
        layer: a label of ``result.layers``; default: the layer with the highest mean ``metric``
            over all (train, test) pairs (NaN cells skipped; the first on ties). To show several
            metrics at one layer, pass it (e.g. the best layer by accuracy for the AUROC matrix too).
        title: figure title (default: names the metric and the layer).

    Returns:
        A figure with one heatmap: z ``[train, test]`` at the layer, y the training and x the test
        languages; colours run from chance (0.5 for AUROC and for accuracy on balanced classes, the
        positives' share for PR-AUC, 0 for F1) to 1.
    """
    _check_result(result, TransferResult, "plot_transfer_matrix")
    metric = _metric_name(metric)
    values, label, A, B = _transfer_values(result, metric)
    k = _layer_index(result, values, layer, metric)
    shown = result.layers[k]
    if title is None:
        best = " (best mean)" if layer is None else ""
        title = f"Probe {label} trained in one language (rows), tested in another (columns): layer {shown}{best}"
    chance = _chance(result.metrics, metric)
    fig = plot_layer_heatmap(
        values[k],
        row_labels=A,
        layers=B,
        title=title,
        colorbar_title=label,
        xaxis_title="test language",
        yaxis_title="train language",
        zmin=chance[0] if chance else 0.0,
        zmax=1.0,
        show_values=True,
    )
    fig.update_xaxes(type="category")  # language codes, even ones that look like numbers
    return fig


def plot_transfer_gap(
    result: TransferResult,
    metric: str = "accuracy",
    *,
    title: str | None = None,
) -> go.Figure:
    """Per layer, the mean ``metric`` of the probes trained in the test language (the diagonal of
    the transfer matrix) against the mean of those trained in another language (off the diagonal).

    The distance between the two lines is the cost of training in the wrong language, layer by layer.

    Args:
        result: a :class:`~mechint.probes.TransferResult` with at least one language among both the
            training and the test languages, and at least one pair of different languages.
        metric: ``"accuracy"``, ``"auroc"``, ``"f1"`` or ``"pr_auc"``.
        title: figure title.

    Returns:
        A figure with the traces ``"trained in the test language"`` and ``"trained in another
        language"`` over ``result.layers`` (a layer with a NaN cell is a gap), and the chance line.
    """
    _check_result(result, TransferResult, "plot_transfer_gap")
    metric = _metric_name(metric)
    _, label, _, _ = _transfer_values(result, metric)  # checks the shape
    same, other = result.same_vs_other(metric)
    lines = {
        "trained in the test language": same.detach().double().cpu().numpy(),
        "trained in another language": other.detach().double().cpu().numpy(),
    }
    return _lines(
        lines,
        result.metrics,
        metric,
        layers=list(result.layers),
        yaxis_title=f"held-out {label}",
        title=title or f"Probe {label}, mean over test languages: same vs other training language",
    )


# --------------------------------------------------------------------------------------------------
# EarlyResult


def plot_early_prediction(
    result: EarlyResult,
    metric: str = "auroc",
    *,
    title: str | None = None,
) -> go.Figure:
    """``metric`` against the fraction of the prompt seen, per language: the probes trained and
    tested on each prefix length (solid) and the probe trained on whole prompts (dashed).

    Shows how early in a prompt its harmfulness can be read, and whether a probe must be trained on
    prefixes for that or the whole-prompt probe already reads it.

    Args:
        result: an :class:`~mechint.probes.EarlyResult` (from :func:`~mechint.probes.early_prediction`).
        metric: ``"accuracy"``, ``"auroc"`` (default), ``"f1"`` or ``"pr_auc"``.
        title: figure title (the result does not know its layer: name it here).

    Returns:
        A figure with, per language, the traces ``"<lang> (probe per prefix length)"`` and, dashed,
        ``"<lang> (whole-prompt probe)"``; x is ``result.fractions``, ticked as percentages; a dashed
        horizontal line marks chance.
    """
    _check_result(result, EarlyResult, "plot_early_prediction")
    metric = _metric_name(metric)
    label = METRIC_LABELS[metric]
    langs = [str(a) for a in result.languages]
    fractions = [float(f) for f in result.fractions]
    shape = (len(fractions), len(langs))
    per = _values(result.per_fraction, metric, shape, what="per_fraction [fraction, language]")
    whole = _values(result.whole, metric, shape, what="whole [fraction, language]")
    lines: dict[str, np.ndarray] = {}
    dashed: list[str] = []
    for i, lang in enumerate(langs):
        lines[f"{lang} (probe per prefix length)"] = per[:, i]
        name = f"{lang} (whole-prompt probe)"
        lines[name] = whole[:, i]
        dashed.append(name)
    fig = _lines(
        lines,
        result.per_fraction,
        metric,
        dashed=dashed,
        layers=fractions,
        title=title or f"Early prediction: {label} against the share of the prompt seen",
        yaxis_title=_yaxis_title(label, result.fold_per_fraction, result.per_fraction),
        xaxis_title="fraction of the prompt's tokens seen",
    )
    for trace in fig.data:  # traces; pyright reads plotly's Figure.data as a Figure, iterating its keys
        trace.hovertemplate = f"{trace.name}: %{{y:.4f}} (%{{x:.0%}} of the prompt)<extra></extra>"  # pyright: ignore[reportAttributeAccessIssue]
    fig.update_xaxes(tickmode="array", tickvals=fractions, tickformat=".0%")
    return fig
