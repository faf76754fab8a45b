"""Plotly figures for the neuron and alignment studies: top aligned neurons with the tokens they
promote, neuron x language heatmaps, edit effects per language, and a labelled scatter with its
correlation.

The helpers take results (lists, arrays, tensors, dicts), never models. Per-layer curves (cosine or
retrieval accuracy through the layers) use :func:`mechint.plots.plot_layer_lines`; export with
:func:`mechint.plots.save_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ._common import base_layout, heatmap_trace, to_numpy, unique_labels
from .style import PALETTE, series_style

__all__ = ["plot_edit_effect", "plot_labelled_scatter", "plot_neuron_heatmap", "plot_top_neurons"]


def _html(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plot_top_neurons(
    labels: Sequence[str],
    scores: Any,
    *,
    layers: Sequence[int],
    tokens: Sequence[Sequence[str]] | None = None,
    title: str | None = None,
    xaxis_title: str = "cosine(value vector, direction)",
    n_tokens: int = 5,
) -> go.Figure:
    """Horizontal bars, one per neuron (best on top), coloured by layer, each labelled with the first
    ``n_tokens`` tokens it promotes.

    Args:
        labels: ``[k]`` neuron names, e.g. ``"L15 N1226"`` (unique).
        scores: ``[k]`` bar lengths (e.g. cosines).
        layers: ``[k]`` layer of each neuron (sets the colour; the legend lists layers).
        tokens: ``[k]`` lists of readable tokens (see :func:`mechint.neurons.readable_token`).
    """
    vals = to_numpy(scores, name="scores", ndim=1)
    if len(vals) == 0:
        raise ValueError("no neurons to plot (scores is empty)")
    names = unique_labels(labels, len(vals), name="labels", what="scores")
    layers = [int(l) for l in layers]
    if len(layers) != len(vals):
        raise ValueError(f"layers has {len(layers)} entries but scores has {len(vals)}")
    if tokens is not None and len(tokens) != len(vals):
        raise ValueError(f"tokens has {len(tokens)} entries but scores has {len(vals)}")
    fig = go.Figure()
    shown: set[int] = set()
    for i, (name, v, layer) in enumerate(zip(names, vals, layers)):
        toks = " · ".join(_html(t) for t in tokens[i][:n_tokens]) if tokens is not None else ""
        fig.add_trace(
            go.Bar(
                x=[v],
                y=[name],
                orientation="h",
                name=f"layer {layer}",
                legendgroup=str(layer),
                showlegend=layer not in shown,
                marker_color=PALETTE[layer % len(PALETTE)],
                text=[toks],
                textposition="outside",
                cliponaxis=False,
                textfont={"size": 11},
                hovertemplate=f"{name}: %{{x:.4f}}<br>{toks}<extra></extra>",
            )
        )
        shown.add(layer)
    base_layout(fig, title, xaxis_title, "neuron")
    finite = vals[np.isfinite(vals)]
    top = float(finite.max()) if finite.size else 1.0
    low = min(0.0, float(finite.min()) if finite.size else 0.0)
    fig.update_xaxes(range=[low, top * 2.1 if top > 0 else 1.0])  # room for the token labels
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=list(names), autorange="reversed")
    fig.update_layout(
        height=max(420, 120 + 26 * len(vals)),
        width=1100,
        barmode="overlay",
        legend={"title": {"text": "layer"}, "traceorder": "normal"},
    )
    return fig


def plot_neuron_heatmap(
    matrix: Any,
    *,
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    title: str | None = None,
    colorbar_title: str,
    zmid: float | None = 0.0,
    xaxis_title: str = "language",
    yaxis_title: str = "neuron",
    show_values: bool = True,
    text: Sequence[Sequence[str]] | None = None,
    max_abs: float | None = None,
) -> go.Figure:
    """Neuron (rows) x language (columns) heatmap, e.g. the harmful/harmless activation ratio.

    Args:
        matrix: ``[n_neurons, n_languages]``; NaN cells stay blank.
        zmid: centre of a diverging scale (0 for log ratios or differences); None: sequential.
        show_values: write each cell's value (``text`` replaces it with your own strings).
        max_abs: cap the colour scale at ``zmid +- max_abs`` (outliers saturate; hover and text keep
            the values), so that one extreme cell does not wash out the rest.
    """
    arr = to_numpy(matrix, name="matrix", ndim=2)
    rows = unique_labels(row_labels, arr.shape[0], name="row_labels", what="matrix (rows)")
    cols = unique_labels(column_labels, arr.shape[1], name="column_labels", what="matrix (columns)")
    finite = arr[np.isfinite(arr)]
    bound = float(np.abs(finite - (zmid or 0.0)).max()) if finite.size and zmid is not None else None
    if bound is not None and max_abs is not None:
        bound = min(bound, float(max_abs))
    heat = heatmap_trace(
        arr,
        cols,
        rows,
        zmid=zmid,
        zmin=None if bound is None or zmid is None else zmid - bound,  # a bound comes with zmid
        zmax=None if bound is None or zmid is None else zmid + bound,
        colorbar_title=colorbar_title,
        hovertemplate=f"%{{y}}, %{{x}}<br>{colorbar_title}: %{{z:.4f}}<extra></extra>",
        show_values=show_values and text is None,
        text_size=10,
    )
    if text is not None:
        cells = [list(r) for r in text]
        if len(cells) != arr.shape[0] or any(len(r) != arr.shape[1] for r in cells):
            raise ValueError(
                f"text must have one string per cell, {arr.shape[0]} rows of {arr.shape[1]}; got "
                f"{len(cells)} rows of {sorted({len(r) for r in cells})} entries"
            )
        heat.update(text=cells, texttemplate="%{text}", textfont={"size": 10})
    fig = go.Figure(heat)
    base_layout(fig, title, xaxis_title, yaxis_title)
    fig.update_xaxes(type="category", showgrid=False, side="top", title_standoff=4)
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False)
    fig.update_layout(
        height=max(420, 210 + 26 * len(rows)),
        width=max(720, 260 + 90 * len(cols)),
        margin={"l": 90, "r": 30, "t": 150, "b": 30},
    )
    return fig


def plot_edit_effect(
    effects: Mapping[str, Mapping[str, float]],
    *,
    title: str | None = None,
    yaxis_title: str,
    reference: float | None = 0.0,
    xaxis_title: str = "language",
    errors: Mapping[str, Mapping[str, float]] | None = None,
) -> go.Figure:
    """Grouped bars: one group per language (x), one bar per condition (e.g. "ablate top neurons",
    "same number of random neurons").

    Args:
        effects: ``{condition: {language: value}}``; languages in the order of the first condition.
        errors: optional ``{condition: {language: half-width}}`` error bars (e.g. standard errors).
    """
    if not effects:
        raise ValueError("no effects to plot")
    unknown = sorted(set(errors or {}) - set(effects), key=str)
    if unknown:
        raise ValueError(f"errors has conditions {unknown} that effects lacks; conditions: {list(effects)}")
    langs = list(next(iter(effects.values())).keys())
    fig = go.Figure()
    for i, (cond, per_lang) in enumerate(effects.items()):
        missing = [l for l in langs if l not in per_lang]
        extra = [l for l in per_lang if l not in langs]
        if missing or extra:
            raise ValueError(
                f"condition {cond!r} "
                + (f"has no value for {missing}" if missing else f"has languages {extra}")
                + f"; every condition needs the languages of the first: {langs}"
            )
        err = None
        if errors is not None and cond in errors:
            no_error = [l for l in langs if l not in errors[cond]]
            if no_error:
                raise ValueError(f"errors[{cond!r}] has no value for {no_error} (give every language, or none)")
            err = {"type": "data", "array": [errors[cond][l] for l in langs], "visible": True}
        fig.add_trace(
            go.Bar(
                x=langs,
                y=[per_lang[l] for l in langs],
                name=cond,
                marker_color=PALETTE[i % len(PALETTE)],
                error_y=err,
                hovertemplate=f"{_html(cond)}, %{{x}}: %{{y:.4f}}<extra></extra>",
            )
        )
    if reference is not None:
        fig.add_hline(y=float(reference), line={"color": "#444444", "dash": "dash", "width": 1.2})
    base_layout(fig, title, xaxis_title, yaxis_title)
    fig.update_layout(
        barmode="group",
        width=1000,
        height=620,
        legend={"title": {"text": ""}, "orientation": "h", "yanchor": "top", "y": -0.15, "x": 0},
    )
    return fig


def plot_labelled_scatter(
    x: Sequence[float],
    y: Sequence[float],
    labels: Sequence[str],
    *,
    title: str | None = None,
    xaxis_title: str,
    yaxis_title: str,
    fit: bool = True,
    annotation: str | None = None,
) -> go.Figure:
    """One labelled point per series (e.g. language, coloured as in every other figure), with a
    least-squares line and an annotation (e.g. the correlation)."""
    xs = to_numpy(x, name="x", ndim=1)
    ys = to_numpy(y, name="y", ndim=1)
    names = unique_labels(labels, len(xs), name="labels", what="x")
    if len(ys) != len(xs):
        raise ValueError(f"x has {len(xs)} values but y has {len(ys)}")
    fig = go.Figure()
    for name, a, b in zip(names, xs, ys):
        style = series_style(name)
        fig.add_trace(
            go.Scatter(
                x=[a],
                y=[b],
                mode="markers+text",
                name=name,
                text=[name],
                textposition="top center",
                marker={"size": 13, "color": style["color"], "symbol": style["symbol"]},
                hovertemplate=f"{name}: ({xaxis_title} %{{x:.4f}}, {yaxis_title} %{{y:.4f}})<extra></extra>",
            )
        )
    ok = np.isfinite(xs) & np.isfinite(ys)
    if fit and ok.sum() >= 2 and np.ptp(xs[ok]) > 0:
        slope, intercept = np.polyfit(xs[ok], ys[ok], 1)
        grid = np.linspace(xs[ok].min(), xs[ok].max(), 20)
        fig.add_trace(
            go.Scatter(
                x=grid,
                y=slope * grid + intercept,
                mode="lines",
                name="least squares",
                line={"color": "#444444", "dash": "dash", "width": 1.5},
                hoverinfo="skip",
            )
        )
    if annotation:
        fig.add_annotation(
            text=_html(annotation).replace("\n", "<br>"),
            xref="paper",
            yref="paper",
            x=0.02,
            y=0.98,
            showarrow=False,
            align="left",
            bgcolor="rgba(255,255,255,0.8)",
        )
    base_layout(fig, title, xaxis_title, yaxis_title)
    fig.update_layout(showlegend=False, width=760, height=560)
    pad_x = 0.08 * (np.ptp(xs[ok]) if ok.sum() > 1 else 1.0) or 0.05
    pad_y = 0.12 * (np.ptp(ys[ok]) if ok.sum() > 1 else 1.0) or 0.05
    if ok.any():
        fig.update_xaxes(range=[xs[ok].min() - pad_x, xs[ok].max() + pad_x])
        fig.update_yaxes(range=[ys[ok].min() - pad_y, ys[ok].max() + pad_y])
    return fig
