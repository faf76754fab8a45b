"""Plotly figures for the studies, and figure export.

The helpers take results (lists, NumPy arrays, torch tensors, dicts), never models, and return a
:class:`plotly.graph_objects.Figure` with a title and labelled axes. A series keeps its colour,
marker and dash across figures (:func:`series_style`), so "zh" is the same line in every plot of a
paper. :func:`save_figure` writes a self-contained HTML file (works offline) and, when a Chromium or
Chrome is installed, static images through kaleido; without one it warns and writes the HTML only.

Static export needs a browser: ``apt-get install chromium`` (Debian) or
``bash scripts/install_chromium.sh``; ``BROWSER_PATH`` points at any other Chrome/Chromium.

Modules (every public helper is importable from here):

- :mod:`~mechint.plots.layers`: per-layer lines, rows x layers heatmaps, similarity matrices;
- :mod:`~mechint.plots.patching`: patching results (layer x position and layer x head heatmaps, the
  attribution-versus-exact scatter);
- :mod:`~mechint.plots.neurons`: the neuron and alignment studies' figures;
- :mod:`~mechint.plots.probes`: the probe studies' figures;
- :mod:`~mechint.plots.style`: the palette and the fixed style of each series;
- :mod:`~mechint.plots.export`: :func:`save_figure`, :func:`find_browser`.

The former modules ``mechint.plots_patching``, ``plots_neurons`` and ``plots_probes`` are deprecated
aliases of the last three figure modules; the private names of the former ``mechint/plots.py`` stay
importable from here for one release (``_FORMER_NAMES``).
"""

from __future__ import annotations

import importlib

from ._common import ArrayLike
from .export import FigureExportWarning, find_browser, save_figure
from .layers import plot_layer_heatmap, plot_layer_lines, plot_similarity_matrices
from .neurons import plot_edit_effect, plot_labelled_scatter, plot_neuron_heatmap, plot_top_neurons
from .patching import plot_attribution_scatter, plot_head_heatmap, plot_patching_heatmap
from .probes import plot_early_prediction, plot_probe_layers, plot_transfer_gap, plot_transfer_matrix
from .style import PALETTE, TEMPLATE, series_color, series_style

__all__ = [
    "ArrayLike",
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
    "plot_patching_heatmap",
    "plot_head_heatmap",
    "plot_attribution_scatter",
    "plot_edit_effect",
    "plot_labelled_scatter",
    "plot_neuron_heatmap",
    "plot_top_neurons",
    "plot_early_prediction",
    "plot_probe_layers",
    "plot_transfer_gap",
    "plot_transfer_matrix",
]

#: Private names of the former module ``mechint/plots.py``, now in the package's modules:
#: ``old name -> (module, name there)``.
_FORMER_NAMES: dict[str, tuple[str, str]] = {
    "_base_layout": ("._common", "base_layout"),
    "_heatmap_trace": ("._common", "heatmap_trace"),
    "_to_numpy": ("._common", "to_numpy"),
    "_labels": ("._common", "unique_labels"),
    "_layers_axis": ("._common", "layers_axis"),
    "_layer_ticks": ("._common", "layer_ticks"),
    "_SYMBOLS": (".style", "_SYMBOLS"),
    "_DASHES": (".style", "_DASHES"),
    "_KNOWN_SERIES": (".style", "_KNOWN_SERIES"),
    "_SLOT": (".style", "_SLOT"),
    "_slot": (".style", "_slot"),
    "_STATIC_FORMATS": (".export", "_STATIC_FORMATS"),
    "_KNOWN_SUFFIXES": (".export", "_KNOWN_SUFFIXES"),
    "_BROWSER_NAMES": (".export", "_BROWSER_NAMES"),
    "_BROWSER_PATHS": (".export", "_BROWSER_PATHS"),
    "_HOW_TO_GET_PNG": (".export", "_HOW_TO_GET_PNG"),
    "_is_executable": (".export", "_is_executable"),
    "_stem": (".export", "_stem"),
    "_with_ext": (".export", "_with_ext"),
    "_run_in_thread": (".export", "_run_in_thread"),
    "_render_static": (".export", "_render_static"),
}


def __getattr__(name: str):
    if name in _FORMER_NAMES:
        module, attr = _FORMER_NAMES[name]
        return getattr(importlib.import_module(module, __name__), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FORMER_NAMES))
