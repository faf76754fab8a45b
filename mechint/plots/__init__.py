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
- :mod:`~mechint.plots.attention`: attention patterns (query x key, a slider over heads) and the
  logit lens (layer x position, top tokens);
- :mod:`~mechint.plots.patching`: patching results (layer x position and layer x head heatmaps, the
  attribution-versus-exact scatter);
- :mod:`~mechint.plots.neurons`: the neuron and alignment studies' figures;
- :mod:`~mechint.plots.probes`: the probe studies' figures;
- :mod:`~mechint.plots.refusal`: refusal rates per language with their intervals;
- :mod:`~mechint.plots.language`: the language mix of generated text, stacked per bar;
- :mod:`~mechint.plots.mcqa`: multiple-choice accuracy per language by scoring condition, and
  reliability diagrams;
- :mod:`~mechint.plots.style`: the palette and the fixed style of each series;
- :mod:`~mechint.plots.export`: :func:`save_figure`, :func:`find_browser`.

The former modules ``mechint.plots_patching``, ``plots_neurons`` and ``plots_probes`` are deprecated
aliases of the last three figure modules, kept for one release.
"""

from __future__ import annotations

from ._common import ArrayLike
from .attention import plot_attention, plot_logit_lens
from .export import FigureExportWarning, find_browser, save_figure
from .language import plot_language_shares
from .layers import plot_layer_heatmap, plot_layer_lines, plot_similarity_matrices
from .mcqa import plot_mcqa_conditions, plot_reliability
from .neurons import plot_edit_effect, plot_labelled_scatter, plot_neuron_heatmap, plot_top_neurons
from .patching import plot_attribution_scatter, plot_head_heatmap, plot_patching_heatmap
from .probes import plot_early_prediction, plot_probe_layers, plot_transfer_gap, plot_transfer_matrix
from .refusal import plot_refusal_rates
from .style import PALETTE, TEMPLATE, series_color, series_style

__all__ = [
    "plot_refusal_rates",
    "plot_language_shares",
    "plot_mcqa_conditions",
    "plot_reliability",
    "ArrayLike",
    "TEMPLATE",
    "PALETTE",
    "FigureExportWarning",
    "find_browser",
    "save_figure",
    "series_color",
    "series_style",
    "plot_attention",
    "plot_logit_lens",
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
