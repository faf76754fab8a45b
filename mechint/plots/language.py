"""Plotly figures for the language of generated text: the shares of a generation's letters in each
language (or class of language: English, the prompt's language, another), stacked per bar.

:func:`plot_language_shares` is the figure of ``experiments.reasoning_language`` (which language does
a chat model reason in, and does a prefilled reasoning prefix change it?). It takes numbers, never a
model. Export with :func:`mechint.plots.save_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ._common import base_layout
from .style import series_color

__all__ = ["plot_language_shares"]


def plot_language_shares(
    shares: Mapping[str, Mapping[str, float]] | Mapping[tuple[str, str], Mapping[str, float]],
    *,
    parts: Sequence[str] | None = None,
    colors: Mapping[str, str] | None = None,
    title: str | None = "Language of the generated text",
    xaxis_title: str = "",
    yaxis_title: str = "share of generated letters",
) -> go.Figure:
    """Stacked bars: for each bar (a key of ``shares``), the share of each part (e.g. ``"English"``,
    ``"prompt's language"``, ``"other"``), given as ``shares[bar][part]`` in [0, 1], summing to at most
    1 per bar. Keys that are ``(group, label)`` pairs, e.g. ``("zh", "English prefix")``, are drawn on a
    two-level axis, the labels grouped under each group.

    ``parts`` orders the stack from the bottom (default: in order of first appearance); ``colors``
    gives a part its colour (default: its fixed series colour)."""
    if not isinstance(shares, Mapping) or not shares:
        raise ValueError("shares must be a non-empty mapping {bar: {part: share}}")
    bars: dict[Any, Mapping[str, float]] = dict(shares)
    keys = list(bars)
    paired = [isinstance(k, tuple) for k in keys]
    if any(paired) and not all(paired):
        raise ValueError("the bars' keys must be all labels or all (group, label) pairs")
    if all(paired) and not all(len(k) == 2 for k in keys):
        raise ValueError(f"a bar's key pair must be (group, label), got {[k for k in keys if len(k) != 2][:3]}")
    order: list[str] = []
    for bar, by_part in bars.items():
        if not isinstance(by_part, Mapping):
            raise TypeError(f"shares[{bar!r}] must be a mapping {{part: share}}")
        values = np.asarray(list(by_part.values()), dtype=np.float64)
        if values.size and (not np.isfinite(values).all() or values.min() < 0 or values.max() > 1):
            raise ValueError(f"shares[{bar!r}] = {dict(by_part)!r}: shares lie in [0, 1]")
        if values.sum() > 1 + 1e-6:
            raise ValueError(f"shares[{bar!r}] sum to {values.sum():.4f}, more than 1")
        order += [p for p in by_part if p not in order]
    if parts is not None:
        missing = [p for p in order if p not in parts]
        if missing:
            raise ValueError(f"parts leaves out {missing}, which shares has")
        order = list(parts)
    x = [[k[0] for k in keys], [k[1] for k in keys]] if all(paired) else [str(k) for k in keys]
    fig = go.Figure()
    for part in order:
        color = (colors or {}).get(part, series_color(part))
        fig.add_bar(name=part, x=x, y=[bars[k].get(part, 0.0) for k in keys], marker={"color": color})
    base_layout(fig, title, xaxis_title, yaxis_title)
    fig.update_layout(barmode="stack", yaxis_range=[0, 1.0], legend={"traceorder": "reversed"})  # as stacked
    return fig
