"""Figures over a model's layers: one line per series across layers, a rows x layers heatmap, and
language x language similarity matrices with a slider over layers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ._common import ArrayLike, base_layout, heatmap_trace, layer_ticks, layers_axis, to_numpy, unique_labels
from .style import series_style

__all__ = ["plot_layer_heatmap", "plot_layer_lines", "plot_similarity_matrices"]


def plot_layer_lines(
    values: Mapping[str, ArrayLike] | ArrayLike,
    *,
    series_names: Sequence[str] | None = None,
    title: str | None = None,
    yaxis_title: str,
    layers: ArrayLike | None = None,
    reference: float | None = None,
    reference_label: str | None = None,
    xaxis_title: str = "layer",
) -> go.Figure:
    """One line per series (e.g. per language) across layers.

    The figure of the language-agnostic-direction study: per layer, the cosine similarity between
    the English harmfulness direction and each other language's.

    Args:
        values: ``{name: [n_layers]}``, or an array / tensor / nested list ``[n_series, n_layers]``
            (a 1-D input is one series). NaN leaves a gap.
        series_names: names of the rows of an array input (default ``"0", "1", ...``); with a
            mapping they replace the keys, in order.
        title, yaxis_title, xaxis_title: figure and axis titles.
        layers: x values, ``[n_layers]`` (default ``0 .. n_layers-1``).
        reference: draws a dashed horizontal line at this y (e.g. 0, or a baseline accuracy).
        reference_label: text next to the reference line.

    Returns:
        A figure with one scatter trace per series (markers + lines); hover shows layer and value.
    """
    if isinstance(values, Mapping):
        keys = [str(k) for k in values.keys()]
        rows = [to_numpy(v, name=f"values[{k!r}]", ndim=1) for k, v in values.items()]
        lengths = {len(r) for r in rows}
        if len(lengths) > 1:
            detail = ", ".join(f"{k}: {len(r)}" for k, r in zip(keys, rows))
            raise ValueError(f"all series must have the same number of layers; got {detail}")
        arr = np.stack(rows) if rows else np.zeros((0, 0))
        if series_names is None:
            series_names = keys
    else:
        arr = to_numpy(values, name="values [n_series, n_layers]", ndim=(1, 2))
        if arr.ndim == 1:
            arr = arr[None, :]
        if series_names is None:
            series_names = [str(i) for i in range(arr.shape[0])]
    n_series, n_layers = arr.shape
    if n_series == 0 or n_layers == 0:
        raise ValueError(f"nothing to plot: values hold {n_series} series of {n_layers} layers")
    names = unique_labels(series_names, n_series, name="series_names", what="values (series)")
    xs = layers_axis(layers, n_layers, what="values")

    fig = go.Figure()
    for name, row in zip(names, arr):
        style = series_style(name)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=row,
                name=name,
                mode="lines+markers",
                line={"color": style["color"], "dash": style["dash"], "width": 2},
                marker={"symbol": style["symbol"], "size": 7, "color": style["color"]},
                hovertemplate=f"{name}: %{{y:.4f}} (layer %{{x}})<extra></extra>",
            )
        )
    if reference is not None:
        # Plotly labels an hline "new text" when annotation args are given without text.
        label: dict[str, Any] = (
            {"annotation_text": reference_label, "annotation_position": "top left"} if reference_label else {}
        )
        fig.add_hline(y=float(reference), line={"color": "#444444", "dash": "dash", "width": 1.5}, **label)
    base_layout(fig, title, xaxis_title, yaxis_title)
    fig.update_layout(
        hovermode="x unified",
        legend={"title": {"text": ""}, "itemclick": "toggle", "itemdoubleclick": "toggleothers"},
    )
    fig.update_xaxes(**layer_ticks(xs))
    return fig


def plot_layer_heatmap(
    matrix: ArrayLike,
    *,
    row_labels: Sequence[str],
    title: str | None = None,
    colorbar_title: str,
    zmid: float | None = None,
    layers: ArrayLike | None = None,
    xaxis_title: str = "layer",
    yaxis_title: str = "language",
    zmin: float | None = None,
    zmax: float | None = None,
    show_values: bool = False,
) -> go.Figure:
    """Rows x layers heatmap, e.g. probe accuracy per language and layer.

    Args:
        matrix: ``[n_rows, n_layers]`` array, tensor or nested list. NaN cells stay blank.
        row_labels: ``[n_rows]`` names, drawn top to bottom in this order.
        title, colorbar_title, xaxis_title, yaxis_title: figure, colour bar and axis titles.
        zmid: centre of a diverging colour scale (e.g. 0 for signed effects); None uses a
            sequential scale.
        layers: x values ``[n_layers]`` (default ``0 .. n_layers-1``).
        zmin, zmax: fixed colour range (default: the data's range).
        show_values: write each cell's value in it (readable on small matrices).
    """
    arr = to_numpy(matrix, name="matrix", ndim=2)
    n_rows, n_layers = arr.shape
    if arr.size == 0:
        raise ValueError(f"nothing to plot: matrix has shape {arr.shape}")
    labels = unique_labels(row_labels, n_rows, name="row_labels", what="matrix (rows)")
    xs = layers_axis(layers, n_layers, what="matrix")
    heat = heatmap_trace(
        arr,
        xs,
        labels,
        zmid=zmid,
        zmin=zmin,
        zmax=zmax,
        colorbar_title=colorbar_title,
        hovertemplate=f"%{{y}}, {xaxis_title} %{{x}}<br>{colorbar_title}: %{{z:.4f}}<extra></extra>",
        show_values=show_values,
        text_size=10,
    )
    fig = go.Figure(heat)
    base_layout(fig, title, xaxis_title, yaxis_title)
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False)
    fig.update_xaxes(showgrid=False, **layer_ticks(xs))
    fig.update_layout(height=max(380, 160 + 26 * n_rows))
    return fig


def plot_similarity_matrices(
    sim: ArrayLike,
    *,
    languages: Sequence[str],
    layers: ArrayLike | None = None,
    title: str | None = None,
    active: int = 0,
    show_values: bool | None = None,
    colorbar_title: str = "cosine",
) -> go.Figure:
    """Language x language similarity heatmap with a slider over layers.

    Args:
        sim: ``[n_layers, n_lang, n_lang]`` similarities in [-1, 1] (e.g. cosine between
            per-language directions, or mean cosine of parallel sentences).
        languages: ``[n_lang]`` names for both axes.
        layers: slider labels ``[n_layers]`` (default ``0 .. n_layers-1``).
        title: figure title; the shown layer is appended.
        active: index (into ``layers``) of the layer shown first and in static exports.
        show_values: write values in cells (default: when there are at most 12 languages).
        colorbar_title: colour bar title.

    Returns:
        A figure with one heatmap trace per layer (one visible at a time) and one slider step per
        layer; the colour range is fixed to [-1, 1] so layers compare.
    """
    arr = to_numpy(sim, name="sim", ndim=3)
    n_layers, n_a, n_b = arr.shape
    if n_a != n_b:
        raise ValueError(f"sim must be [n_layers, n_lang, n_lang]; got {n_a} x {n_b} matrices")
    langs = unique_labels(languages, n_a, name="languages", what="sim (languages)")
    xs = layers_axis(layers, n_layers, what="sim")
    if not -n_layers <= active < n_layers:
        raise ValueError(f"active={active} is out of range for {n_layers} layers")
    active %= max(n_layers, 1)
    if show_values is None:
        show_values = n_a <= 12

    fig = go.Figure()
    for i, (layer, mat) in enumerate(zip(xs, arr)):
        fig.add_trace(
            go.Heatmap(
                z=mat,
                x=langs,
                y=langs,
                zmin=-1.0,
                zmax=1.0,
                zmid=0.0,
                colorscale="RdBu_r",
                colorbar={"title": {"text": colorbar_title, "side": "right"}},
                hovertemplate=f"layer {layer}<br>%{{y}} vs %{{x}}: %{{z:.3f}}<extra></extra>",
                texttemplate="%{z:.2f}" if show_values else None,
                textfont={"size": 10},
                name=f"layer {layer}",
                visible=(i == active),
                xgap=1,
                ygap=1,
            )
        )
    steps = []
    for i, layer in enumerate(xs):
        steps.append(
            {
                "method": "update",
                "label": str(layer),
                "args": [
                    {"visible": [j == i for j in range(n_layers)]},
                    {"title.text": f"{title} — layer {layer}" if title else f"layer {layer}"},
                ],
            }
        )
    shown = f"layer {xs[active]}" if n_layers else None
    base_layout(fig, " — ".join(filter(None, [title, shown])) or None, "language", "language")
    side = max(420, 200 + 32 * n_a)
    fig.update_layout(
        height=side + 90,
        width=side + 120,
        sliders=[
            {
                "active": active,
                "steps": steps,
                "currentvalue": {"prefix": "layer "},
                "pad": {"t": 50},
            }
        ],
    )
    fig.update_xaxes(type="category", showgrid=False, tickangle=0, side="bottom")
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False, scaleanchor="x")
    return fig
