"""The figures' fixed styling: the template, the colour palette, and the colour, marker and dash of
each series (e.g. a language), the same in every figure."""

from __future__ import annotations

import re
import zlib

__all__ = ["PALETTE", "TEMPLATE", "series_color", "series_style"]

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
