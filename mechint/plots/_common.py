"""Helpers shared by the figure modules of :mod:`mechint.plots`: the common layout, the heatmap
trace, and checks of array and label inputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union, cast

import numpy as np
import plotly.graph_objects as go

from .style import TEMPLATE

__all__ = ["ArrayLike", "base_layout", "heatmap_trace", "layer_ticks", "layers_axis", "to_numpy", "unique_labels"]

ArrayLike = Union[np.ndarray, Sequence, Any]  # numpy array, nested lists, or a torch tensor


def base_layout(fig: go.Figure, title: str | None, xaxis_title: str, yaxis_title: str) -> None:
    """The house layout; ``title=None`` leaves the figure untitled (and its top margin small)."""
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title or "", "x": 0.02, "xanchor": "left"},
        xaxis_title=xaxis_title,
        yaxis_title=yaxis_title,
        font={"size": 13},
        margin={"l": 70, "r": 30, "t": 70 if title else 30, "b": 60},
    )


def to_numpy(x: ArrayLike, *, name: str, ndim: int | tuple[int, ...]) -> np.ndarray:
    """A float64 array with ``ndim`` dimensions (or one of several) from a tensor, array or lists."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch tensor (bf16 included), no torch import
        x = cast(Any, x).detach().cpu().float().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a numeric array (ragged rows?): {e}") from None
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in allowed:
        want = " or ".join(str(n) for n in allowed)
        raise ValueError(f"{name} must have {want} dimensions, got shape {tuple(arr.shape)}")
    return arr


def layers_axis(layers: ArrayLike | None, n_layers: int, *, what: str) -> list:
    if layers is None:
        return list(range(n_layers))
    layers = list(np.asarray(layers).tolist()) if not isinstance(layers, (list, tuple)) else list(layers)
    if len(layers) != n_layers:
        raise ValueError(f"layers has {len(layers)} entries but {what} has {n_layers} layers")
    return layers


def unique_labels(labels: Sequence[str], n: int, *, name: str, what: str) -> list[str]:
    labels = [str(s) for s in labels]
    if len(labels) != n:
        raise ValueError(f"{name} has {len(labels)} entries but {what} has {n}")
    if len(set(labels)) != len(labels):
        dup = sorted({s for s in labels if labels.count(s) > 1})
        raise ValueError(f"{name} must be unique; repeated: {dup}")
    return labels


def layer_ticks(layers: list) -> dict[str, Any]:
    """A tick at every layer up to 32 integer layers; integer tick labels beyond."""
    if not layers or not all(isinstance(v, (int, np.integer)) for v in layers):
        return {}
    if len(layers) <= 32:
        return {"tickmode": "array", "tickvals": list(layers)}
    return {"tickformat": "d"}


def heatmap_trace(
    z: np.ndarray,
    x: list,
    y: list,
    *,
    zmid: float | None,
    zmin: float | None,
    zmax: float | None,
    colorbar_title: str,
    hovertemplate: str,
    show_values: bool,
    text_size: int,
) -> go.Heatmap:
    """The heatmap every helper draws: a diverging scale around ``zmid`` (sequential without one),
    gaps between cells, values written in the cells on request."""
    heat = go.Heatmap(
        z=z,
        x=x,
        y=y,
        zmid=zmid,
        zmin=zmin,
        zmax=zmax,
        colorscale="RdBu_r" if zmid is not None else "Viridis",
        colorbar={"title": {"text": colorbar_title, "side": "right"}},
        hovertemplate=hovertemplate,
        xgap=1,
        ygap=1,
    )
    if show_values:
        heat.update(texttemplate="%{z:.2f}", textfont={"size": text_size})
    return heat
