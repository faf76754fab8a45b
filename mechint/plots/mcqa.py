"""Plotly figures for multiple-choice evaluation: accuracy per language by scoring condition (with
intervals) beside the share of answers that are not a label, and reliability diagrams.

:func:`plot_mcqa_conditions` and :func:`plot_reliability` are the figures of
``experiments.mcqa_prefilling`` (first-token scoring with and without a prefilled response against
open-ended generation, arXiv 2505.15323). They take numbers (e.g. :meth:`mechint.eval.MCQAResult.summary`
and :meth:`mechint.eval.MCQAResult.reliability`), never a model. Export with
:func:`mechint.plots.save_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._common import ArrayLike, base_layout, to_numpy
from .style import series_style

__all__ = ["plot_mcqa_conditions", "plot_reliability"]


def _rate(value: Any, where: str, width: int) -> np.ndarray:
    values = np.asarray(value, dtype=np.float64).reshape(-1)
    if values.shape != (width,):
        want = "(rate, low, high)" if width == 3 else "one rate"
        raise ValueError(f"{where} must be {want}, got {value!r}")
    finite = values[np.isfinite(values)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise ValueError(f"{where} = {value!r}: rates lie in [0, 1]")
    return values


def _panels(
    data: Mapping[str, Mapping[str, Mapping[str, Any]]], name: str, width: int
) -> tuple[list[str], list[str], list[str]]:
    """The panels, conditions and languages of ``{panel: {condition: {language: value}}}``, in order of
    first appearance, each value checked."""
    if not isinstance(data, Mapping) or not data:
        raise ValueError(f"{name} must be a non-empty mapping {{panel: {{condition: {{language: value}}}}}}")
    conditions: list[str] = []
    languages: list[str] = []
    for panel, by_condition in data.items():
        if not isinstance(by_condition, Mapping):
            raise TypeError(f"{name}[{panel!r}] must be a mapping {{condition: {{language: value}}}}")
        for condition, by_language in by_condition.items():
            if not isinstance(by_language, Mapping):
                raise TypeError(f"{name}[{panel!r}][{condition!r}] must be a mapping {{language: value}}")
            for lang, value in by_language.items():
                _rate(value, f"{name}[{panel!r}][{condition!r}][{lang!r}]", width)
                if lang not in languages:
                    languages.append(lang)
            if condition not in conditions:
                conditions.append(condition)
    return list(data), conditions, languages


def plot_mcqa_conditions(
    accuracy: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]],
    missed: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
    *,
    languages: Sequence[str] | None = None,
    chance: float | None = None,
    title: str | None = "Multiple-choice accuracy by language and condition",
    missed_title: str = "no label",
) -> go.Figure:
    """Grouped bars per language, one bar per condition: ``accuracy[panel][condition][language] =
    (accuracy, low, high)`` with its interval as an error bar, one column of panels per ``panel``
    (e.g. a model); below, where given, ``missed[panel][condition][language]``, a rate in [0, 1] (e.g.
    the misalignment rate of first-token scoring, or the share of generated answers that name no
    label), titled ``missed_title``.

    A condition keeps its colour in every panel and appears once in the legend; a condition or
    language that a panel lacks leaves a gap. ``languages`` orders the x axis (default: first
    appearance); ``chance`` draws a dotted line at the accuracy of guessing (0.5 for two options)."""
    panels, conditions, order = _panels(accuracy, "accuracy", 3)
    if missed is not None:
        m_panels, m_conditions, m_order = _panels(missed, "missed", 1)
        extra = [p for p in m_panels if p not in panels]
        if extra:
            raise ValueError(f"missed has panels {extra} that accuracy does not have ({panels})")
        conditions += [c for c in m_conditions if c not in conditions]
        order += [lang for lang in m_order if lang not in order]
    if languages is not None:
        left_out = [lang for lang in order if lang not in languages]
        if left_out:
            raise ValueError(f"languages leaves out {left_out}, which the rates have")
        order = list(languages)
    if chance is not None and not (isinstance(chance, (int, float)) and 0 <= chance <= 1):
        raise ValueError(f"chance must be a rate in [0, 1], got {chance!r}")
    rows = 1 if missed is None else 2
    fig = make_subplots(
        rows=rows,
        cols=len(panels),
        shared_yaxes=True,
        shared_xaxes=True,
        subplot_titles=[str(p) for p in panels],
        vertical_spacing=0.08,
        horizontal_spacing=0.04,
    )
    nan3 = (np.nan, np.nan, np.nan)
    for col, panel in enumerate(panels, 1):
        for condition in conditions:
            color = series_style(condition)["color"]
            shown = col == 1
            by_language = accuracy[panel].get(condition)
            if by_language is not None:
                values = np.array([_rate(by_language.get(lang, nan3), "", 3) for lang in order])
                fig.add_bar(
                    name=condition,
                    legendgroup=condition,
                    showlegend=shown,
                    x=order,
                    y=values[:, 0],
                    marker={"color": color},
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": values[:, 2] - values[:, 0],
                        "arrayminus": values[:, 0] - values[:, 1],
                        "thickness": 1,
                    },
                    row=1,
                    col=col,
                )
                shown = False
            if missed is not None and condition in missed.get(panel, {}):
                rates = [float(missed[panel][condition].get(lang, np.nan)) for lang in order]
                fig.add_bar(
                    name=condition,
                    legendgroup=condition,
                    showlegend=shown,
                    x=order,
                    y=rates,
                    marker={"color": color, "pattern": {"shape": "/"}},
                    row=2,
                    col=col,
                )
        if chance is not None:
            # plotly's stubs type row / col as str ("all"); a subplot's index is what it takes too
            line = {"dash": "dot", "color": "#7F7F7F", "width": 1}
            fig.add_hline(y=chance, line=line, row=1, col=col)  # pyright: ignore[reportArgumentType]
    base_layout(fig, title, "", "")
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": -0.12})
    fig.update_yaxes(range=[0, 1.05])
    fig.update_yaxes(title_text="accuracy", row=1, col=1)
    if missed is not None:
        fig.update_yaxes(title_text=missed_title, row=2, col=1)
    return fig


def _bin_values(values: ArrayLike, name: str) -> np.ndarray:
    """One value per bin as float64, None (a NaN written to JSON) read as NaN."""
    if isinstance(values, (list, tuple)):
        values = [np.nan if v is None else v for v in values]
    return to_numpy(values, name=name, ndim=1)


def plot_reliability(
    bins: Mapping[str, Mapping[str, ArrayLike]] | Mapping[tuple[str, str], Mapping[str, ArrayLike]],
    *,
    title: str | None = "Reliability",
    xaxis_title: str = "confidence (probability of the chosen option)",
    yaxis_title: str = "accuracy",
) -> go.Figure:
    """Reliability diagrams: per series, the accuracy of each confidence bin against its mean
    confidence, beside the diagonal of a calibrated predictor; marker area grows with the bin's
    count (shown on hover). Empty bins (count 0, or NaN) are left out.

    ``bins[series]`` is a mapping with ``"confidence"``, ``"accuracy"`` and ``"count"`` per bin, as
    :func:`mechint.stats.reliability_bins` returns (tensors, arrays or lists; None for NaN). Keys that
    are ``(panel, series)`` pairs, e.g. ``("gemma", "FTP + prefill")``, draw one panel per ``panel``,
    a series keeping its colour across panels."""
    if not isinstance(bins, Mapping) or not bins:
        raise ValueError("bins must be a non-empty mapping {series: {'confidence', 'accuracy', 'count'}}")
    keys = list(bins)
    paired = [isinstance(k, tuple) for k in keys]
    if any(paired) and not all(paired):
        raise ValueError("the keys of bins must be all series names or all (panel, series) pairs")
    if all(paired) and not all(len(k) == 2 for k in keys):
        raise ValueError(f"a key pair must be (panel, series), got {[k for k in keys if len(k) != 2][:3]}")
    pairs = [(k[0], k[1]) if isinstance(k, tuple) else ("", k) for k in keys]
    panels = list(dict.fromkeys(p for p, _ in pairs))
    fig = make_subplots(
        rows=1,
        cols=len(panels),
        shared_yaxes=True,
        subplot_titles=panels if all(paired) else None,
        horizontal_spacing=0.05,
    )
    seen: set[str] = set()
    for key, (panel, series) in zip(keys, pairs):
        entry = bins[key]  # type: ignore[index]
        if not isinstance(entry, Mapping) or not {"confidence", "accuracy", "count"} <= set(entry):
            raise ValueError(f"bins[{key!r}] must have 'confidence', 'accuracy' and 'count'")
        conf, acc, count = (
            _bin_values(entry[name], f"bins[{key!r}]['{name}']") for name in ("confidence", "accuracy", "count")
        )
        if not conf.shape == acc.shape == count.shape:
            raise ValueError(
                f"bins[{key!r}]: confidence, accuracy and count have {conf.size}, {acc.size} and {count.size} bins"
            )
        full = np.isfinite(conf) & np.isfinite(acc) & (np.nan_to_num(count) > 0)
        for name, values in (("confidence", conf), ("accuracy", acc)):
            if full.any() and (values[full].min() < 0 or values[full].max() > 1):
                raise ValueError(f"bins[{key!r}]['{name}'] must lie in [0, 1]")
        style = series_style(series)
        col = panels.index(panel) + 1
        fig.add_scatter(
            name=series,
            legendgroup=series,
            showlegend=series not in seen,
            x=conf[full],
            y=acc[full],
            mode="lines+markers",
            line={"color": style["color"], "dash": style["dash"]},
            marker={
                "color": style["color"],
                "symbol": style["symbol"],
                "size": 6 + 4 * np.sqrt(count[full]),
                "line": {"width": 0},
            },
            customdata=count[full],
            hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<br>%{customdata:.0f} items",
            row=1,
            col=col,
        )
        seen.add(series)
    for col in range(1, len(panels) + 1):
        fig.add_scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            line={"dash": "dot", "color": "#7F7F7F", "width": 1},
            name="calibrated",
            legendgroup="calibrated",
            showlegend=col == 1,
            hoverinfo="skip",
            row=1,
            col=col,
        )
    base_layout(fig, title, "", yaxis_title)
    fig.update_xaxes(range=[0, 1.02], title_text=xaxis_title)
    fig.update_yaxes(range=[0, 1.02])
    fig.update_layout(legend={"orientation": "h", "y": -0.2})
    return fig
