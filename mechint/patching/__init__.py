"""Activation patching and attribution patching, batched.

Activation patching runs a corrupted prompt, puts back one activation from the clean prompt, and
measures how much of the clean behaviour returns, for every layer x position (or head, or neuron) of
one component. Attribution patching estimates the same sweep from one gradient.

Modules:

- :mod:`~mechint.patching.sweep`: :func:`activation_patch`, every cell of a sweep for many prompt
  pairs at once, and :func:`auto_batch_size`;
- :mod:`~mechint.patching.attribution`: :func:`attribution_patch` (the gradient approximation) and
  :func:`attribution_correlation` (how well it tracks exact patching);
- :mod:`~mechint.patching.result`: :class:`PatchResult` and its statistics;
- :mod:`~mechint.patching.metrics`: what a patched run is scored by (:func:`logit_diff`,
  :func:`answer_prob`, :func:`kl_to_clean`, :func:`direction_score`, :func:`normalize`);
- :mod:`~mechint.patching.plan`: the sweep's arguments resolved (prompt pairs, cells, the metric's
  positions and site) and the hooks that read a baseline run;
- :mod:`~mechint.patching.runner`: the layer runner (the corrupted run captured layer by layer,
  patched rows run from their layer on through the model's own decoder layers).

The names of the former single module ``mechint.patching`` (``_check_same_sweep``, ``_nanmean``,
``_auto_limit``, ...) stay importable from here for one release: see ``_FORMER_NAMES``.
"""

from __future__ import annotations

import importlib

from . import metrics
from .attribution import attribution_correlation, attribution_patch
from .metrics import Metric, as_metric, normalize
from .plan import COMPONENTS, Inputs, PromptLengthError
from .result import PatchResult
from .sweep import activation_patch, auto_batch_size

__all__ = [
    "metrics",
    "Metric",
    "as_metric",
    "normalize",
    "Inputs",
    "COMPONENTS",
    "PatchResult",
    "PromptLengthError",
    "activation_patch",
    "attribution_patch",
    "attribution_correlation",
    "auto_batch_size",
]

#: Names of the former module ``mechint/patching.py`` that now live elsewhere, under their old
#: names: ``old name -> (module, name there)``, the module relative to this package.
_FORMER_NAMES: dict[str, tuple[str, str]] = {
    # result
    "_check_same_sweep": (".result", "check_same_sweep"),
    "_nanmean": (".result", "nanmean"),
    "_from_end": (".result", "pos_from_end"),
    "_pos_labels": (".result", "pos_labels"),
    "_fmt": (".result", "_fmt"),
    "_token_at": (".result", "_token_at"),
    # plan
    "_UNIT_AXIS": (".plan", "_UNIT_AXIS"),
    "_Prompts": (".plan", "Prompts"),
    "_ids": (".plan", "_ids"),
    "_prepare": (".plan", "_prepare"),
    "_str_tokens": (".plan", "str_tokens"),
    "_resolve_positions": (".plan", "_resolve_positions"),
    "_Plan": (".plan", "Plan"),
    "_plan": (".plan", "_plan"),
    "_labels": (".plan", "axis_labels"),
    "_cell_valid": (".plan", "cell_valid"),
    "_reader": (".plan", "reader_hook"),
    "_check_values": (".plan", "check_values"),
    "_metric_site": (".plan", "_metric_site"),
    "_read_from_run": (".plan", "read_from_run"),
    "_baseline_hooks": (".plan", "baseline_hooks"),
    "_Sweep": (".plan", "Sweep"),
    "_prepare_sweep": (".plan", "prepare_sweep"),
    # runner
    "_CACHE_PARAMS": (".runner", "_CACHE_PARAMS"),
    "_QUERY_SLICED": (".runner", "_QUERY_SLICED"),
    "_KNOWN_TENSOR_KWARGS": (".runner", "_KNOWN_TENSOR_KWARGS"),
    "_LayerSignature": (".runner", "LayerSignature"),
    "_KVRecorder": (".runner", "_KVRecorder"),
    "_PrefixKV": (".runner", "_PrefixKV"),
    "_Captured": (".runner", "_Captured"),
    "_layers": (".runner", "decoder_layers"),
    "_capture_layers": (".runner", "capture_layers"),
    "_prefix_reuse_possible": (".runner", "prefix_reuse_possible"),
    "_take_rows": (".runner", "_take_rows"),
    "_query_cut": (".runner", "_query_cut"),
    "_causal_suffix_mask": (".runner", "_causal_suffix_mask"),
    "_gather_kwargs": (".runner", "_gather_kwargs"),
    "_gather_value": (".runner", "_gather_value"),
    "_text_config": (".runner", "_text_config"),
    "_Unembed": (".runner", "Unembed"),
    "_final_norm": (".runner", "_final_norm"),
    "_only_columns": (".runner", "_only_columns"),
    "_ChunkRunner": (".runner", "ChunkRunner"),
    # sweep
    "_free_bytes": (".sweep", "_free_bytes"),
    "_row_bytes": (".sweep", "_row_bytes"),
    "_default_tokens": (".sweep", "_default_tokens"),
    "_auto_limit": (".sweep", "_auto_limit"),
    "_unchanged_reader": (".sweep", "_unchanged_reader"),
    "_rows_plan": (".sweep", "_rows_plan"),
    "_chunks": (".sweep", "_chunks"),
    "_cumulative": (".sweep", "_cumulative"),
    "_upload": (".sweep", "_upload"),
    # attribution
    "_ranks": ("..stats", "ranks"),
    "_spearman": ("..stats", "spearman"),
    "_pearson": ("..stats", "pearson"),
    # the other mechint names the former module imported
    "Model": ("..model", "Model"),
    "index_list": ("..model", "index_list"),
    "int_list": ("..model", "int_list"),
    "Site": ("..sites", "Site"),
    "get_submodule": ("..sites", "get_submodule"),
    "StopForward": ("..hooks", "StopForward"),
    "input_rows": ("..hooks", "input_rows"),
}


def __getattr__(name: str):
    if name in _FORMER_NAMES:
        module, attr = _FORMER_NAMES[name]
        return getattr(importlib.import_module(module, __name__), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FORMER_NAMES))
