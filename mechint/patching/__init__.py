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
"""

from __future__ import annotations

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
