"""Model diffing in weight space: where did fine-tuning change the weights, and what do those changes do?

A fine-tuning attack (or a safety fine-tune) moves some weights more than others. This package measures
and uses that movement without reimplementing any forward pass (cf. Safety Information Localization,
arXiv 2410.18210):

* :func:`weight_diff` measures, tensor by tensor, how far ``tuned`` moved from ``base`` (Frobenius
  norms, relative change), labelled with layer index and module kind, aggregated per layer and per kind.
* :func:`top_p_mask` marks the top ``p`` percent of entries by ``|tuned - base|``, over the whole model,
  per tensor or per layer, with an exact count; :func:`top_p_masks` finds the masks of many ``p`` by
  shared passes; :func:`overlap` compares two masks against chance.
* :func:`graft` writes the tuned values of the masked entries into the base model in place, and
  reverts them bit for bit: a sweep over ``p`` never reloads the model. :func:`graft_sweep` runs such
  a sweep incrementally (the masks of increasing ``p`` are nested: each step writes only the entries
  it adds) and restores the model when the loop ends, breaks or raises.
* :func:`freeze` keeps masked entries of a model fixed while it is fine-tuned.

Every pass streams tensor by tensor (and large tensors chunk by chunk): no full copy of the model's
deltas exists at any time. Tied weights (an LM head sharing the embedding's storage) are one parameter
of ``named_parameters()`` and count once, under the embedding's name and kind.
"""

from __future__ import annotations

from ._diff import DiffSummary, TensorDiff, WeightDiff, weight_diff
from ._graft import Freeze, Graft, GraftSweep, freeze, graft, graft_sweep
from ._masks import WeightMask, overlap, top_p_mask, top_p_masks
from ._naming import KINDS, SCOPES, Weights, module_kind

__all__ = [
    "KINDS",
    "SCOPES",
    "DiffSummary",
    "Freeze",
    "Graft",
    "GraftSweep",
    "TensorDiff",
    "WeightDiff",
    "WeightMask",
    "Weights",
    "freeze",
    "graft",
    "graft_sweep",
    "module_kind",
    "overlap",
    "top_p_mask",
    "top_p_masks",
    "weight_diff",
]
