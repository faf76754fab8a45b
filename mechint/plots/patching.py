"""Plotly figures for patching results: layer x position and layer x head heatmaps, and the
attribution-versus-exact scatter.

Each helper takes a :class:`mechint.patching.PatchResult` (the pair mean is shown, normalised by
default: 0 = corrupted, 1 = clean) or a plain array with its labels; none takes a model. Export with
:func:`mechint.plots.save_figure`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go

from ..patching.result import check_same_sweep, nanmean
from ._common import base_layout, heatmap_trace, to_numpy

__all__ = ["plot_patching_heatmap", "plot_head_heatmap", "plot_attribution_scatter"]


def _grid_of(result, normalized: bool, axes: tuple[str, ...]) -> tuple[np.ndarray, dict, str, str]:
    """``(matrix, labels, colorbar title, subtitle)`` from a PatchResult with these axes. The colorbar
    title is short (a long one is clipped along the bar); the subtitle under the figure's title says
    the metric, the scale and how many pairs are averaged."""
    if tuple(result.axes) != axes:
        raise ValueError(
            f"this plot needs a result with axes {axes}, got {tuple(result.axes)} (component {result.component!r})"
        )
    values = result.mean(normalized=normalized)
    colorbar = "normalised (0 = corr., 1 = clean)" if normalized else result.metric
    note = f"{result.metric}, normalised: 0 = corrupted run, 1 = clean run" if normalized else result.metric
    if result.n_pairs > 1:
        note += f"; mean of {result.n_pairs} pairs"
    return to_numpy(values, name="values", ndim=2), result.labels, colorbar, note


def _relabel(own: list, given, name: str, what: str) -> list:
    """A result's own axis labels, or ``given`` in their place when it labels every entry."""
    if given is None:
        return own
    given = list(given)
    if len(given) != len(own):
        raise ValueError(f"{name} has {len(given)} labels, the result has {len(own)} {what}")
    return given


def _with_note(title: str | None, note: str | None) -> str | None:
    if not note:
        return title
    return f"{title}<br><sup>{note}</sup>" if title else f"<sup>{note}</sup>"


def _heatmap(matrix, x_labels, y_labels, *, title, colorbar_title, xaxis_title, yaxis_title, zmid, show_values):
    finite = matrix[np.isfinite(matrix)]
    bound = float(np.abs(finite).max()) if finite.size else 1.0
    heat = heatmap_trace(
        matrix,
        list(x_labels),
        list(y_labels),
        zmid=zmid,
        zmin=None if zmid is None else zmid - bound,
        zmax=None if zmid is None else zmid + bound,
        colorbar_title=colorbar_title,
        hovertemplate=f"{yaxis_title} %{{y}}, {xaxis_title} %{{x}}<br>%{{z:.4f}}<extra></extra>",
        show_values=show_values,
        text_size=9,
    )
    fig = go.Figure(heat)
    base_layout(fig, title, xaxis_title, yaxis_title)
    fig.update_xaxes(type="category", showgrid=False, tickangle=-45)
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False)
    n_rows, n_cols = matrix.shape
    fig.update_layout(height=max(380, 140 + 24 * n_rows), width=max(600, 220 + 38 * n_cols))
    return fig


def plot_patching_heatmap(
    result: Any,
    *,
    title: str | None = None,
    tokens: Sequence[str] | None = None,
    layers: Sequence[int] | None = None,
    normalized: bool = True,
    colorbar_title: str | None = None,
    zmid: float | None = 0.0,
    show_values: bool = False,
) -> go.Figure:
    """Layer (rows, top = first layer) x position (columns, labelled with the tokens) heatmap.

    Args:
        result: a :class:`~mechint.patching.PatchResult` with axes ``(layer, pos)``, or an array
            ``[n_layers, n_positions]`` (then ``tokens`` labels the columns).
        tokens: column labels for an array (must be unique: add the position, e.g. ``"cake (4)"``).
        layers: row labels for an array (default 0..n-1).
        normalized: for a result, show the normalised pair mean (default) or the raw metric.
        zmid: centre of the diverging colour scale (None: sequential).
        show_values: write each cell's value in it.
    """
    if hasattr(result, "axes"):
        matrix, labels, cb, note = _grid_of(result, normalized, ("layer", "pos"))
        x = _relabel(labels["pos"], tokens, "tokens", "positions")
        y = _relabel(labels["layer"], layers, "layers", "layers")
    else:
        note = None
        matrix = to_numpy(result, name="values", ndim=2)
        x = list(tokens) if tokens is not None else [str(i) for i in range(matrix.shape[1])]
        y = list(layers) if layers is not None else list(range(matrix.shape[0]))
        cb = "value"
        if len(x) != matrix.shape[1] or len(y) != matrix.shape[0]:
            raise ValueError(f"labels ({len(y)} layers, {len(x)} tokens) do not fit values of shape {matrix.shape}")
        if len(set(map(str, x))) != len(x):
            raise ValueError("token labels must be unique (add the position to each, e.g. 'the (3)')")
    return _heatmap(
        matrix,
        [str(v) for v in x],
        y,
        title=_with_note(title, note),
        colorbar_title=colorbar_title or cb,
        xaxis_title="position (token)",
        yaxis_title="layer",
        zmid=zmid,
        show_values=show_values,
    )


def plot_head_heatmap(
    result: Any,
    *,
    title: str | None = None,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    normalized: bool = True,
    colorbar_title: str | None = None,
    zmid: float | None = 0.0,
    show_values: bool = False,
) -> go.Figure:
    """Layer (rows) x attention head (columns) heatmap of a ``z`` sweep over all positions.

    ``result``: a :class:`~mechint.patching.PatchResult` with axes ``(layer, head)`` or an array
    ``[n_layers, n_heads]``.
    """
    if hasattr(result, "axes"):
        matrix, labels, cb, note = _grid_of(result, normalized, ("layer", "head"))
        x = _relabel(labels["head"], heads, "heads", "heads")
        y = _relabel(labels["layer"], layers, "layers", "layers")
    else:
        note = None
        matrix = to_numpy(result, name="values", ndim=2)
        x = list(heads) if heads is not None else list(range(matrix.shape[1]))
        y = list(layers) if layers is not None else list(range(matrix.shape[0]))
        cb = "value"
        if len(x) != matrix.shape[1] or len(y) != matrix.shape[0]:
            raise ValueError(f"labels ({len(y)} layers, {len(x)} heads) do not fit values of shape {matrix.shape}")
    return _heatmap(
        matrix,
        [str(v) for v in x],
        y,
        title=_with_note(title, note),
        colorbar_title=colorbar_title or cb,
        xaxis_title="head",
        yaxis_title="layer",
        zmid=zmid,
        show_values=show_values,
    )


def plot_attribution_scatter(
    exact: Any,
    attribution: Any,
    *,
    title: str | None = None,
    normalized: bool = True,
    color_by_layer: bool = True,
) -> go.Figure:
    """Attribution patching (y) against exact patching (x), one point per cell of the sweep (pair
    mean), with the diagonal and the Pearson correlation in the legend.

    ``exact``/``attribution``: two :class:`~mechint.patching.PatchResult` of the same sweep, or two
    arrays of the same shape (effects or values). For results each point is the mean over the pairs
    that have the cell of the normalised effect (``normalized``) or of the effect ``values -
    corrupted`` (as :func:`~mechint.patching.attribution_correlation` averages).
    """
    if hasattr(exact, "axes") and hasattr(attribution, "axes"):
        check_same_sweep(attribution, exact)
        x = to_numpy(
            exact.mean(normalized=True) if normalized else nanmean(exact.effect()), name="exact", ndim=(1, 2, 3)
        )
        y = to_numpy(
            attribution.mean(normalized=True) if normalized else nanmean(attribution.effect()),
            name="attribution",
            ndim=(1, 2, 3),
        )
        layer_of = np.broadcast_to(
            np.asarray(exact.labels["layer"]).reshape(-1, *([1] * (x.ndim - 1))), x.shape
        ).reshape(-1)
        what = "normalised effect" if normalized else f"effect on {exact.metric}"
    else:
        x = to_numpy(exact, name="exact", ndim=(1, 2, 3))
        y = to_numpy(attribution, name="attribution", ndim=(1, 2, 3))
        if x.shape != y.shape:
            raise ValueError(f"exact {x.shape} and attribution {y.shape} differ in shape")
        layer_of = (
            np.broadcast_to(np.arange(x.shape[0]).reshape(-1, *([1] * (x.ndim - 1))), x.shape).reshape(-1)
            if x.ndim > 1
            else None
        )
        what = "effect"
    x, y = x.reshape(-1), y.reshape(-1)
    ok = np.isfinite(x) & np.isfinite(y)
    r = float(np.corrcoef(x[ok], y[ok])[0, 1]) if ok.sum() > 1 and x[ok].std() > 0 and y[ok].std() > 0 else float("nan")
    marker: dict[str, Any] = {"size": 7, "opacity": 0.8}
    if color_by_layer and layer_of is not None:
        marker.update(color=layer_of[ok], colorscale="Viridis", colorbar={"title": {"text": "layer"}}, showscale=True)
    fig = go.Figure(
        go.Scatter(
            x=x[ok],
            y=y[ok],
            mode="markers",
            marker=marker,
            name=f"cells (Pearson r = {r:.3f})",
            hovertemplate="exact %{x:.4f}<br>attribution %{y:.4f}<extra></extra>",
        )
    )
    lo = float(min(x[ok].min(), y[ok].min())) if ok.any() else 0.0
    hi = float(max(x[ok].max(), y[ok].max())) if ok.any() else 1.0
    fig.add_trace(
        go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"dash": "dash", "color": "#7F7F7F"}, name="y = x")
    )
    base_layout(fig, title, f"exact patching ({what})", f"attribution patching ({what})")
    fig.update_layout(legend={"x": 0.02, "y": 0.98}, height=520, width=620)
    return fig
