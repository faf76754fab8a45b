"""Plotly figures for refusal behaviour: refusal rates per language, with confidence intervals.

:func:`plot_refusal_rates` draws one bar per (language, series), a series being e.g. "harmful, base"
or "harmless, tuned", with its interval as an error bar: the figure of
``experiments.refusal_transfer`` (does English-only safety tuning carry over to other languages?).
It takes numbers, never a model. Export with :func:`mechint.plots.save_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from ._common import base_layout
from .style import series_style

__all__ = ["plot_refusal_rates"]


def plot_refusal_rates(
    rates: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    languages: Sequence[str] | None = None,
    title: str | None = "Refusal rate by language",
    yaxis_title: str = "refusal rate",
) -> go.Figure:
    """Grouped bars: for each series (``rates`` key, e.g. ``"harmful, tuned"``) and language, the rate
    and its interval, given as ``rates[series][language] = (rate, low, high)`` with rates in [0, 1].

    A series that lacks a language leaves a gap there (PolyRefuse has no Chinese harmless test set).
    ``languages`` orders the x axis (default: in order of first appearance)."""
    if not isinstance(rates, Mapping) or not rates:
        raise ValueError("rates must be a non-empty mapping {series: {language: (rate, low, high)}}")
    order: list[str] = []
    for series, by_language in rates.items():
        if not isinstance(by_language, Mapping):
            raise TypeError(f"rates[{series!r}] must be a mapping {{language: (rate, low, high)}}")
        for lang, value in by_language.items():
            values = np.asarray(value, dtype=np.float64).reshape(-1)
            if values.shape != (3,):
                raise ValueError(f"rates[{series!r}][{lang!r}] must be (rate, low, high), got {value!r}")
            finite = values[np.isfinite(values)]
            if finite.size and (finite.min() < 0 or finite.max() > 1):
                raise ValueError(f"rates[{series!r}][{lang!r}] = {value!r}: rates lie in [0, 1]")
            if lang not in order:
                order.append(lang)
    if languages is not None:
        missing = [lang for lang in order if lang not in languages]
        if missing:
            raise ValueError(f"languages leaves out {missing}, which rates has")
        order = list(languages)
    fig = go.Figure()
    for series, by_language in rates.items():
        y, low, high = [], [], []
        for lang in order:
            rate, lo, hi = by_language.get(lang, (np.nan, np.nan, np.nan))
            y.append(rate)
            low.append(rate - lo)
            high.append(hi - rate)
        style = series_style(series)
        fig.add_bar(
            name=series,
            x=order,
            y=y,
            marker={"color": style["color"], "pattern": {"shape": "/" if "harmless" in series else ""}},
            error_y={"type": "data", "symmetric": False, "array": high, "arrayminus": low, "thickness": 1},
        )
    base_layout(fig, title, "language", yaxis_title)
    fig.update_layout(barmode="group", yaxis_range=[0, 1.05], legend={"orientation": "h", "y": -0.2})
    return fig
