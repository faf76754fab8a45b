"""Figure export: :func:`save_figure` writes a self-contained HTML file (works offline) and, when a
Chromium or Chrome is installed, static images through kaleido; without one it warns
(:class:`FigureExportWarning`) and writes the HTML only.

Static export needs a browser: ``apt-get install chromium`` (Debian) or
``bash scripts/install_chromium.sh``; ``BROWSER_PATH`` points at any other Chrome/Chromium
(:func:`find_browser`).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

__all__ = ["FigureExportWarning", "find_browser", "save_figure"]

_STATIC_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "webp")
_KNOWN_SUFFIXES = {"." + f for f in (*_STATIC_FORMATS, "html", "htm")}
_UNSUPPORTED_SUFFIXES = {".gif", ".bmp", ".tif", ".tiff", ".eps", ".ps", ".ico", ".emf", ".avif", ".heic"}
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


def _run_in_thread(coro_fn, *args, **kwargs) -> Any:
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


class _Renderer:
    """One kaleido browser kept open for a process's static exports.

    Launching Chromium costs seconds, rendering a figure in an open one a fraction of that, so a
    script that writes dozens of figures (the studies) launches it once. The browser lives in an
    event loop of its own thread (safe in Jupyter, whose loop is already running) and is closed at
    exit. A render that fails or outlasts its timeout closes the browser; the caller then renders
    that figure with a browser of its own (:func:`_render_once`) and the next figure opens a new one.
    """

    def __init__(self, browser: str, timeout: float) -> None:
        import kaleido

        self.key = (browser, timeout, os.getpid())
        self.timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mechint-kaleido", daemon=True)
        self._thread.start()
        # mathjax=False: the default loads MathJax from a CDN, and this must work offline.
        self._kaleido = kaleido.Kaleido(n=1, timeout=timeout, mathjax=False, path=browser)
        try:
            self._wait(self._kaleido.open(), timeout)
        except BaseException:
            self.close()
            raise

    def _wait(self, coro, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout + 30)

    def render(self, fig_dict: dict, opts: dict) -> bytes:
        # opts holds LayoutOpts' keys (width, height, scale, format); a plain dict to pyright
        return self._wait(self._kaleido.calc_fig(fig_dict, opts=opts), self.timeout)  # pyright: ignore[reportArgumentType]

    def close(self) -> None:
        """Close the browser (best effort: a browser that hangs is left to die with the process)."""
        try:
            if self._loop.is_running():
                self._wait(self._kaleido.close(), 10)
        except BaseException:  # noqa: BLE001, S110 - closing must not raise over the error that led here
            pass
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)


_renderer: _Renderer | None = None
_renderer_lock = threading.Lock()


def _close_renderer() -> None:
    global _renderer
    with _renderer_lock:
        renderer, _renderer = _renderer, None
    if renderer is not None and renderer.key[2] == os.getpid():
        renderer.close()


atexit.register(_close_renderer)


def _export_options(fig_dict: dict, *, width, height, scale) -> dict:
    layout = fig_dict.get("layout", {})
    return {
        "width": width or layout.get("width") or 900,
        "height": height or layout.get("height") or 550,
        "scale": scale,
    }


def _render_static(
    fig: go.Figure, formats: Sequence[str], browser: str, *, width, height, scale, timeout: float
) -> dict[str, bytes]:
    """Image bytes per format, from the process's open browser (:class:`_Renderer`); where that fails,
    from a browser launched for this figure alone, whose error is the one raised."""
    global _renderer
    fig_dict = fig.to_dict()
    opts = _export_options(fig_dict, width=width, height=height, scale=scale)
    with _renderer_lock:
        try:
            if _renderer is None or _renderer.key != (browser, timeout, os.getpid()):
                stale, _renderer = _renderer, None
                if stale is not None and stale.key[2] == os.getpid():
                    stale.close()  # another browser or timeout asked for (a forked child leaves its parent's)
                _renderer = _Renderer(browser, timeout)
            return {fmt: _renderer.render(fig_dict, {**opts, "format": fmt}) for fmt in formats}
        except Exception:  # noqa: BLE001 - retried below with a browser of its own
            if _renderer is not None:
                _renderer.close()
                _renderer = None
    return _render_once(fig_dict, opts, formats, browser, timeout=timeout)


def _render_once(
    fig_dict: dict, opts: dict, formats: Sequence[str], browser: str, *, timeout: float
) -> dict[str, bytes]:
    """Image bytes per format from a browser launched for this figure and closed after it."""
    import kaleido

    async def render() -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        async with kaleido.Kaleido(n=1, timeout=timeout, mathjax=False, path=browser) as k:
            for fmt in formats:
                out[fmt] = await k.calc_fig(fig_dict, opts={**opts, "format": fmt})  # pyright: ignore[reportArgumentType]
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
    if not isinstance(fig, go.Figure):
        raise TypeError(f"save_figure takes a plotly Figure, got {type(fig).__name__}")
    if not isinstance(path_stem, (str, os.PathLike)):
        raise TypeError(f"path_stem must be a file path (str or Path), got {type(path_stem).__name__}")
    if Path(path_stem).is_dir():
        raise IsADirectoryError(
            f"{path_stem} is a folder: give the figure's file name inside it, e.g. {Path(path_stem) / 'figure.png'}"
        )
    if formats is None:
        suffix = Path(path_stem).suffix.lower()
        if suffix in _UNSUPPORTED_SUFFIXES:  # an image format asked for by name: not "fig.gif.png"
            raise ValueError(
                f"unknown figure format {suffix[1:]!r} in {path_stem}; expected html or one of {_STATIC_FORMATS} "
                "(or pass formats=)"
            )
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
        assert browser is not None  # found, or problem says why not
        try:
            images = _render_static(fig, fmts, browser, width=width, height=height, scale=scale, timeout=timeout)
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
