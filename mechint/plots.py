"""Plotly figures for the studies, and figure export.

The helpers take results (lists, NumPy arrays, torch tensors, dicts), never models, and return a
:class:`plotly.graph_objects.Figure` with a title and labelled axes. A series keeps its colour,
marker and dash across figures (:func:`series_style`), so "zh" is the same line in every plot of a
paper. :func:`save_figure` writes a self-contained HTML file (works offline) and, when a Chromium or
Chrome is installed, static images through kaleido; without one it warns and writes the HTML only.

Static export needs a browser: ``apt-get install chromium`` (Debian) or
``bash scripts/install_chromium.sh``; ``BROWSER_PATH`` points at any other Chrome/Chromium.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import threading
import warnings
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np
import plotly.graph_objects as go

__all__ = [
    "TEMPLATE",
    "PALETTE",
    "FigureExportWarning",
    "find_browser",
    "save_figure",
    "series_color",
    "series_style",
    "plot_layer_lines",
    "plot_layer_heatmap",
    "plot_similarity_matrices",
]

ArrayLike = Union[np.ndarray, Sequence, Any]  # numpy array, nested lists, or a torch tensor

TEMPLATE = "plotly_white"

#: Fixed colour sequence: D3's ten, then darker colours that stay readable on white.
PALETTE: tuple[str, ...] = (
    "#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD",
    "#8C564B", "#E377C2", "#7F7F7F", "#BCBD22", "#17BECF",
    "#222A2A", "#750D86", "#B68100", "#00A08B", "#862A16",
    "#1616A7", "#FB00D1", "#6C7C32", "#AF0038", "#511CFB",
    "#778AAE", "#6C4516",
)  # fmt: skip
_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star", "triangle-down", "cross", "pentagon")
_DASHES = ("solid", "dash", "dot", "dashdot")

#: Languages of the studies' data sets (MultiJail, XQuAD) and other common ones, each with a fixed
#: slot, so the same language has the same colour + marker in every figure. Other names hash to a slot.
_KNOWN_SERIES = (
    "en", "zh", "it", "vi", "ar", "ko", "th", "bn", "sw", "jv",
    "de", "el", "es", "hi", "ro", "ru", "tr", "fr", "ja", "pt",
    "id", "nl",
)  # fmt: skip
_SLOT = {name: i for i, name in enumerate(_KNOWN_SERIES)}

_STATIC_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "webp")
_KNOWN_SUFFIXES = {"." + f for f in (*_STATIC_FORMATS, "html", "htm")}
_BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
_BROWSER_PATHS = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome-stable",
    "/usr/bin/google-chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)
_HOW_TO_GET_PNG = (
    "To get PNGs, install a Chromium: `apt-get install chromium` (Debian) or "
    "`bash scripts/install_chromium.sh`, or set BROWSER_PATH to a Chrome/Chromium executable."
)


class FigureExportWarning(UserWarning):
    """A static image could not be written; the HTML figure was still saved."""


# --------------------------------------------------------------------------------------------------
# styling


def _slot(name: str) -> int:
    key = str(name).strip().lower()
    if key in _SLOT:
        return _SLOT[key]
    base = re.split(r"[-_ ]", key, maxsplit=1)[0]  # "zh-CN" -> "zh", "en_US" -> "en"
    if base in _SLOT:
        return _SLOT[base]
    return zlib.crc32(key.encode("utf-8"))  # deterministic across processes (unlike hash())


def series_color(name: str) -> str:
    """The fixed colour of a series (e.g. a language code) in every figure."""
    return PALETTE[_slot(name) % len(PALETTE)]


def series_style(name: str) -> dict[str, str]:
    """Colour, marker symbol and line dash of a series; fixed per name, so figures agree.

    Markers and dashes cycle with other periods than colours, so lines stay distinguishable when
    there are more series than colours.
    """
    slot = _slot(name)
    return {
        "color": PALETTE[slot % len(PALETTE)],
        "symbol": _SYMBOLS[slot % len(_SYMBOLS)],
        "dash": _DASHES[(slot // len(PALETTE)) % len(_DASHES)],
    }


def _base_layout(fig: go.Figure, title: str, xaxis_title: str, yaxis_title: str) -> None:
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title, "x": 0.02, "xanchor": "left"},
        xaxis_title=xaxis_title,
        yaxis_title=yaxis_title,
        font={"size": 13},
        margin={"l": 70, "r": 30, "t": 70, "b": 60},
    )


# --------------------------------------------------------------------------------------------------
# inputs


def _to_numpy(x: ArrayLike, *, name: str, ndim: int | tuple[int, ...]) -> np.ndarray:
    """A float64 array with ``ndim`` dimensions (or one of several) from a tensor, array or lists."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch tensor (bf16 included), no torch import
        x = x.detach().cpu().float().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a numeric array (ragged rows?): {e}") from None
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in allowed:
        want = " or ".join(str(n) for n in allowed)
        raise ValueError(f"{name} must have {want} dimensions, got shape {tuple(arr.shape)}")
    return arr


def _layers_axis(layers: ArrayLike | None, n_layers: int, *, what: str) -> list:
    if layers is None:
        return list(range(n_layers))
    layers = list(np.asarray(layers).tolist()) if not isinstance(layers, (list, tuple)) else list(layers)
    if len(layers) != n_layers:
        raise ValueError(f"layers has {len(layers)} entries but {what} has {n_layers} layers")
    return layers


def _labels(labels: Sequence[str], n: int, *, name: str, what: str) -> list[str]:
    labels = [str(s) for s in labels]
    if len(labels) != n:
        raise ValueError(f"{name} has {len(labels)} entries but {what} has {n}")
    if len(set(labels)) != len(labels):
        dup = sorted({s for s in labels if labels.count(s) > 1})
        raise ValueError(f"{name} must be unique; repeated: {dup}")
    return labels


def _layer_ticks(layers: list) -> dict[str, Any]:
    """A tick at every layer up to 32 integer layers; integer tick labels beyond."""
    if not layers or not all(isinstance(v, (int, np.integer)) for v in layers):
        return {}
    if len(layers) <= 32:
        return {"tickmode": "array", "tickvals": list(layers)}
    return {"tickformat": "d"}


# --------------------------------------------------------------------------------------------------
# figures


def plot_layer_lines(
    values: Mapping[str, ArrayLike] | ArrayLike,
    *,
    series_names: Sequence[str] | None = None,
    title: str,
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
        rows = [_to_numpy(v, name=f"values[{k!r}]", ndim=1) for k, v in values.items()]
        lengths = {len(r) for r in rows}
        if len(lengths) > 1:
            detail = ", ".join(f"{k}: {len(r)}" for k, r in zip(keys, rows))
            raise ValueError(f"all series must have the same number of layers; got {detail}")
        arr = np.stack(rows) if rows else np.zeros((0, 0))
        if series_names is None:
            series_names = keys
    else:
        arr = _to_numpy(values, name="values [n_series, n_layers]", ndim=(1, 2))
        if arr.ndim == 1:
            arr = arr[None, :]
        if series_names is None:
            series_names = [str(i) for i in range(arr.shape[0])]
    n_series, n_layers = arr.shape
    names = _labels(series_names, n_series, name="series_names", what="values (series)")
    xs = _layers_axis(layers, n_layers, what="values")

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
        label = {"annotation_text": reference_label, "annotation_position": "top left"} if reference_label else {}
        fig.add_hline(y=float(reference), line={"color": "#444444", "dash": "dash", "width": 1.5}, **label)
    _base_layout(fig, title, xaxis_title, yaxis_title)
    fig.update_layout(
        hovermode="x unified",
        legend={"title": {"text": ""}, "itemclick": "toggle", "itemdoubleclick": "toggleothers"},
    )
    fig.update_xaxes(**_layer_ticks(xs))
    return fig


def _heatmap_trace(
    z: np.ndarray, x: list, y: list, *, zmid: float | None, zmin: float | None, zmax: float | None,
    colorbar_title: str, hovertemplate: str, show_values: bool, text_size: int,
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


def plot_layer_heatmap(
    matrix: ArrayLike,
    *,
    row_labels: Sequence[str],
    title: str,
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
        show_values: write each cell's value in it (readable up to ~20 x 30 cells).
    """
    arr = _to_numpy(matrix, name="matrix", ndim=2)
    n_rows, n_layers = arr.shape
    labels = _labels(row_labels, n_rows, name="row_labels", what="matrix (rows)")
    xs = _layers_axis(layers, n_layers, what="matrix")
    heat = _heatmap_trace(
        arr, xs, labels, zmid=zmid, zmin=zmin, zmax=zmax, colorbar_title=colorbar_title,
        hovertemplate=f"%{{y}}, {xaxis_title} %{{x}}<br>{colorbar_title}: %{{z:.4f}}<extra></extra>",
        show_values=show_values, text_size=10,
    )
    fig = go.Figure(heat)
    _base_layout(fig, title, xaxis_title, yaxis_title)
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False)
    fig.update_xaxes(showgrid=False, **_layer_ticks(xs))
    fig.update_layout(height=max(380, 160 + 26 * n_rows))
    return fig


def plot_similarity_matrices(
    sim: ArrayLike,
    *,
    languages: Sequence[str],
    layers: ArrayLike | None = None,
    title: str,
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
    arr = _to_numpy(sim, name="sim", ndim=3)
    n_layers, n_a, n_b = arr.shape
    if n_a != n_b:
        raise ValueError(f"sim must be [n_layers, n_lang, n_lang]; got {n_a} x {n_b} matrices")
    langs = _labels(languages, n_a, name="languages", what="sim (languages)")
    xs = _layers_axis(layers, n_layers, what="sim")
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
                    {"title.text": f"{title} — layer {layer}"},
                ],
            }
        )
    _base_layout(fig, f"{title} — layer {xs[active]}" if n_layers else title, "language", "language")
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


# --------------------------------------------------------------------------------------------------
# export


def _is_executable(path: str | os.PathLike) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_browser() -> str | None:
    """Path of a Chrome/Chromium that kaleido can drive, or None. Quick; never downloads.

    Order: ``$BROWSER_PATH`` (when set, it is the only candidate, as in choreographer), then
    choreographer's own search (a browser fetched earlier with ``kaleido_get_chrome``, then
    chromium/chrome names on ``PATH`` and their usual install paths), then our fallback list
    (``/usr/bin/chromium`` for Debian's package, ...).
    """
    env = os.environ.get("BROWSER_PATH")
    if env:
        return env if _is_executable(env) else None
    try:
        from choreographer.browsers import Chromium  # comes with kaleido

        found = Chromium.find_browser(skip_local=False)  # only checks paths; never downloads
        if found and _is_executable(found):
            return str(found)
    except Exception:  # noqa: BLE001 - kaleido missing or a different choreographer: fall back
        pass
    for name in _BROWSER_NAMES:
        found = shutil.which(name)
        if found and _is_executable(found):
            return found
    for candidate in _BROWSER_PATHS:
        if _is_executable(candidate):
            return candidate
    return None


def _stem(path_stem: str | os.PathLike) -> Path:
    p = Path(path_stem)
    return p.with_suffix("") if p.suffix.lower() in _KNOWN_SUFFIXES else p


def _with_ext(stem: Path, ext: str) -> Path:
    return stem.with_name(f"{stem.name}.{ext}")  # keeps dots in stems ("fig.v2" -> "fig.v2.png")


def _run_in_thread(coro_fn, *args, **kwargs):
    """Run an async function to completion in its own thread and event loop (safe in Jupyter)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro_fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = e

    thread = threading.Thread(target=target, name="mechint-kaleido", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("result")


def _render_static(
    fig: go.Figure, formats: Sequence[str], browser: str, *, width, height, scale, timeout: float
) -> dict[str, bytes]:
    """Image bytes per format, rendering all formats with one browser launch."""
    import kaleido

    fig_dict = fig.to_dict()
    layout = fig_dict.get("layout", {})
    opts = {
        "width": width or layout.get("width") or 900,
        "height": height or layout.get("height") or 550,
        "scale": scale,
    }

    async def render() -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        # mathjax=False: the default loads MathJax from a CDN, and this must work offline.
        async with kaleido.Kaleido(n=1, timeout=timeout, mathjax=False, path=browser) as k:
            for fmt in formats:
                out[fmt] = await k.calc_fig(fig_dict, opts={**opts, "format": fmt})
        return out

    return _run_in_thread(render)


def save_figure(
    fig: go.Figure,
    path_stem: str | os.PathLike,
    *,
    formats: Sequence[str] | None = None,
    html: bool | str = "fallback",
    width: int | None = None,
    height: int | None = None,
    scale: float = 2.0,
    include_plotlyjs: bool | str = True,
    timeout: float = 90.0,
) -> list[Path]:
    """Write a figure as ``<stem>.html`` and static images ``<stem>.<fmt>``; return the paths written.

    The HTML embeds plotly.js (``include_plotlyjs=True``), so it opens offline. Static images go
    through kaleido and a Chrome/Chromium (:func:`find_browser`); if none is found, or the export
    fails, one :class:`FigureExportWarning` says why and how to get PNGs, and only the HTML is
    written. Parent folders are created.

    Args:
        fig: the figure.
        path_stem: e.g. ``figures/direction_similarity``; a known suffix (``.png``, ``.html``...) is
            dropped, and names the format when ``formats`` is not given (``"fig.html"``: the HTML).
        formats: static formats among png, svg, pdf, jpg, jpeg, webp (``"html"`` is accepted and
            means ``html=True``); default: the suffix of ``path_stem``, else png.
        html: ``True`` always writes the interactive HTML file; ``"fallback"`` (the default) writes
            it only when no static image could be made (no browser found, or the export failed);
            ``False`` never.
        width, height: image size in layout pixels (default: the figure's own, else 900 x 550).
        scale: pixel density of raster images (2 = sharp on high-DPI screens and in papers).
        include_plotlyjs: passed to :meth:`plotly.graph_objects.Figure.write_html`.
        timeout: seconds kaleido may take per image.
    """
    if formats is None:
        suffix = Path(path_stem).suffix.lower()
        formats = (suffix,) if suffix in _KNOWN_SUFFIXES else ("png",)
    if isinstance(formats, str):
        formats = (formats,)
    fmts: list[str] = []
    for f in formats:
        f = str(f).lower().lstrip(".")
        if f in ("html", "htm"):
            html = True
        elif f in _STATIC_FORMATS:
            if f not in fmts:
                fmts.append(f)
        else:
            raise ValueError(f"unknown figure format {f!r}; expected html or one of {_STATIC_FORMATS}")
    stem = _stem(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)

    written: list[Path] = []

    def write_html() -> None:
        out = _with_ext(stem, "html")
        fig.write_html(
            out,
            include_plotlyjs=include_plotlyjs,
            full_html=True,
            config={"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}},
        )
        written.append(out)

    if html is True or (html == "fallback" and not fmts):
        write_html()
    if not fmts:
        return written

    problem: str | None = None
    browser = None
    try:
        import kaleido  # noqa: F401
    except ImportError:
        problem = "kaleido is not installed (pip install 'kaleido>=1')."
    else:
        browser = find_browser()
        if browser is None:
            env = os.environ.get("BROWSER_PATH")
            problem = (
                f"BROWSER_PATH={env!r} is not an executable file."
                if env
                else "no Chrome/Chromium was found (looked on PATH and in /usr/bin)."
            )
    if problem is None:
        try:
            images = _render_static(
                fig, fmts, browser, width=width, height=height, scale=scale, timeout=timeout
            )
        except Exception as e:  # noqa: BLE001 - a broken browser must not lose the figure
            reason = e.args[0] if e.args and isinstance(e.args[0], str) else e
            problem = f"static export with {browser} failed ({type(e).__name__}: {reason})."
        else:
            for fmt in fmts:
                out = _with_ext(stem, fmt)
                out.write_bytes(images[fmt])
                written.append(out)
    if problem is not None:
        if html == "fallback":
            write_html()
        kept = f"Wrote {_with_ext(stem, 'html')} only." if html else "Wrote nothing (html=False)."
        warnings.warn(
            f"save_figure: no {'/'.join(fmts).upper()} for {stem}: {problem} {kept} {_HOW_TO_GET_PNG}",
            FigureExportWarning,
            stacklevel=2,
        )
    return written
