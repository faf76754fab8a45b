"""Figures of attention and of the logit lens: a query x key attention pattern (one head, or a
slider over heads), and the lens's top token per layer and position."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ._common import ArrayLike, base_layout, to_numpy

__all__ = ["plot_attention", "plot_logit_lens"]


def _token_axis(tokens: Sequence[str], n: int, *, name: str, what: str) -> dict[str, Any]:
    """Integer cells labelled with the tokens (tokens repeat, so they cannot be category names)."""
    labels = [str(t) for t in tokens]
    if len(labels) != n:
        raise ValueError(f"{name} has {len(labels)} entries but {what} has {n}")
    return {"tickmode": "array", "tickvals": list(range(n)), "ticktext": [repr(t)[1:-1] or " " for t in labels]}


def plot_attention(
    pattern: ArrayLike,
    tokens: Sequence[str],
    *,
    key_tokens: Sequence[str] | None = None,
    heads: Sequence[Any] | None = None,
    title: str | None = None,
    active: int = 0,
    zmax: float | None = 1.0,
    show_values: bool | None = None,
) -> go.Figure:
    """An attention pattern as a query x key heatmap, with a slider over heads.

    Args:
        pattern: ``[head, query, key]`` or ``[query, key]`` weights, e.g. one row of
            ``blocks.{l}.attn.hook_pattern`` (``cache[name][i]``; under left padding, slice the
            text's own positions ``[:, -n:, -n:]``).
        tokens: ``[query]`` labels of the query positions (``model.to_str_tokens(text)``); they
            label the keys too unless ``key_tokens`` is given.
        key_tokens: ``[key]`` labels of the key positions.
        heads: slider labels ``[head]`` (default ``0 .. n_heads-1``).
        title: figure title; the shown head is appended.
        active: index of the head shown first and in static exports.
        zmax: top of the colour range (default 1, so heads compare; None: the data's maximum).
        show_values: write the weights in the cells (default: up to 16 positions).

    Returns:
        A figure with one heatmap trace per head (one visible at a time) and one slider step per head.
    """
    arr = to_numpy(pattern, name="pattern [head, query, key]", ndim=(2, 3))
    if arr.ndim == 2:
        arr = arr[None]
    n_heads, n_q, n_k = arr.shape
    if arr.size == 0:
        raise ValueError(f"nothing to plot: pattern has shape {arr.shape}")
    y_axis = _token_axis(tokens, n_q, name="tokens", what="pattern (queries)")
    x_axis = _token_axis(tokens if key_tokens is None else key_tokens, n_k, name="key_tokens", what="pattern (keys)")
    labels = [str(h) for h in (range(n_heads) if heads is None else heads)]
    if len(labels) != n_heads:
        raise ValueError(f"heads has {len(labels)} entries but pattern has {n_heads} heads")
    if not -n_heads <= active < n_heads:
        raise ValueError(f"active={active} is out of range for {n_heads} heads")
    active %= n_heads
    if show_values is None:
        show_values = max(n_q, n_k) <= 16
    q_text, k_text = y_axis["ticktext"], x_axis["ticktext"]
    hover = np.array([[f"{q_text[i]} → {k_text[j]}" for j in range(n_k)] for i in range(n_q)])

    fig = go.Figure()
    for h, (label, mat) in enumerate(zip(labels, arr)):
        fig.add_trace(
            go.Heatmap(
                z=mat,
                x=list(range(n_k)),
                y=list(range(n_q)),
                zmin=0.0,
                zmax=zmax,
                colorscale="Viridis",
                colorbar={"title": {"text": "attention", "side": "right"}},
                customdata=hover,
                hovertemplate=f"head {label}<br>%{{customdata}}: %{{z:.3f}}<extra></extra>",
                texttemplate="%{z:.2f}" if show_values else None,
                textfont={"size": 9},
                name=f"head {label}",
                visible=(h == active),
                xgap=1,
                ygap=1,
            )
        )
    shown = f"head {labels[active]}" if n_heads > 1 else None
    base_layout(fig, " — ".join(filter(None, [title, shown])) or None, "key", "query")
    if n_heads > 1:
        steps = [
            {
                "method": "update",
                "label": label,
                "args": [
                    {"visible": [j == h for j in range(n_heads)]},
                    {"title.text": f"{title} — head {label}" if title else f"head {label}"},
                ],
            }
            for h, label in enumerate(labels)
        ]
        fig.update_layout(
            sliders=[{"active": active, "steps": steps, "currentvalue": {"prefix": "head "}, "pad": {"t": 60}}]
        )
    side = max(420, 160 + 24 * max(n_q, n_k))
    fig.update_layout(height=side + (90 if n_heads > 1 else 0), width=side + 120)
    fig.update_xaxes(showgrid=False, tickangle=-60, **x_axis)
    fig.update_yaxes(showgrid=False, autorange="reversed", scaleanchor="x", **y_axis)
    return fig


def plot_logit_lens(
    lens: Any,
    text: int = 0,
    *,
    token: int | None = None,
    title: str | None = None,
    show_tokens: bool = True,
) -> go.Figure:
    """The logit lens of one text as a layer x position heatmap.

    Args:
        lens: a :class:`mechint.lens.LogitLens` (from :func:`mechint.logit_lens`).
        text: which of its texts.
        token: colour by the probability of this chosen token: its id (one of ``lens.token_ids``), or
            else its index among them; default: the top token's probability.
        title: figure title.
        show_tokens: write each cell's top token in it.

    Returns:
        A heatmap with the lens entries as rows (from the embeddings, top, to the output, bottom) and
        the positions read as columns (labelled with the input tokens); hover shows the top tokens.
    """
    n_texts = len(lens.top_ids)
    if not -n_texts <= text < n_texts:
        raise ValueError(f"text={text} is out of range: the lens has {n_texts} texts")
    top_probs = to_numpy(lens.top_probs[text], name="lens.top_probs", ndim=3)  # [layer, pos, k]
    n_layers, n_pos, k = top_probs.shape
    tops = lens.top_tokens[text]
    if token is None:
        z, bar = top_probs[..., 0], "top-1 probability"
    else:
        if lens.token_probs is None:
            raise ValueError("this lens has no chosen tokens: run logit_lens(..., tokens=[...]) to plot one")
        column = _token_column(lens, token)
        z = to_numpy(lens.token_probs[text], name="lens.token_probs", ndim=3)[..., column]
        bar = f"p(token {lens.token_ids[column]})"
    rows = [f"{l}" for l in lens.layers]
    x_axis = _token_axis(lens.input_tokens[text], n_pos, name="lens.input_tokens", what="the lens (positions)")
    top_text = [[repr(tops[i][j][0])[1:-1] for j in range(n_pos)] for i in range(n_layers)]
    hover = [
        ["<br>".join(f"{repr(t)[1:-1]}: {p:.3f}" for t, p in zip(tops[i][j], top_probs[i, j])) for j in range(n_pos)]
        for i in range(n_layers)
    ]
    heat = go.Heatmap(
        z=z,
        x=list(range(n_pos)),
        y=rows,
        zmin=0.0,
        zmax=1.0,
        colorscale="Viridis",
        colorbar={"title": {"text": bar, "side": "right"}},
        text=top_text if show_tokens else None,
        texttemplate="%{text}" if show_tokens else None,
        textfont={"size": 9},
        customdata=hover,
        hovertemplate="after %{y} blocks, position %{x}<br>%{customdata}<extra></extra>",
        xgap=1,
        ygap=1,
    )
    fig = go.Figure(heat)
    base_layout(fig, title, "position (input token)", "blocks run (0 = embeddings)")
    fig.update_xaxes(showgrid=False, tickangle=-60, **x_axis)
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False)
    fig.update_layout(height=max(380, 160 + 26 * n_layers), width=max(520, 200 + 60 * n_pos))
    return fig


def _token_column(lens: Any, token: int) -> int:
    ids = list(lens.token_ids)
    if isinstance(token, int) and not isinstance(token, bool) and token in ids:
        return ids.index(token)
    if isinstance(token, int) and not isinstance(token, bool) and -len(ids) <= token < len(ids):
        return token % len(ids)
    raise ValueError(f"token {token!r} is not among the lens's chosen tokens {ids} (pass an id or an index)")
