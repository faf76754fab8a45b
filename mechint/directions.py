"""Directions in activation space and how they compare across languages.

A harmfulness direction at one layer is the unit vector along the difference of class means
(harmful minus harmless), sign fixed so harmful scores high. Computed per language and per layer,
their cosine similarity says whether languages share one direction.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from jaxtyping import Float
from torch import Tensor


def _labels(labels, n: int) -> Tensor:
    y = torch.as_tensor(labels).reshape(-1)
    if y.numel() != n:
        raise ValueError(f"{y.numel()} labels for {n} rows of activations")
    classes = set(y.tolist())
    if not classes <= {0, 1}:
        raise ValueError(f"labels must be 0 (harmless) or 1 (harmful), got values {sorted(classes)}")
    if len(classes) < 2:
        raise ValueError(f"need examples of both classes, got only label {classes.pop() if classes else 'none'}")
    return y.bool()


def diff_in_means(
    acts: Float[Tensor, "... n d"], labels: Sequence[int] | Tensor, *, normalize: bool = True
) -> Float[Tensor, "... d"]:
    """Mean of the label-1 rows minus mean of the label-0 rows, along the row axis (``-2``).

    Works on ``[n, d]`` (one site) or ``[layer, n, d]`` (stacked sites). Unit length when
    ``normalize`` (the default); the sign makes label-1 rows project higher.
    """
    if acts.ndim < 2:
        raise ValueError(f"activations must be [..., n, d], got shape {tuple(acts.shape)}")
    if acts.shape[-2] == 0:
        raise ValueError("no rows of activations (empty data)")
    y = _labels(labels, acts.shape[-2]).to(acts.device)
    x = acts.to(torch.float64) if acts.dtype != torch.float64 else acts
    direction = x[..., y, :].mean(-2) - x[..., ~y, :].mean(-2)
    if normalize:
        direction = direction / direction.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    return direction.to(torch.float32)


def cosine(a: Float[Tensor, "... d"], b: Float[Tensor, "... d"]) -> Float[Tensor, "..."]:
    """Cosine similarity along the last axis (broadcasting)."""
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"directions of different widths: {a.shape[-1]} and {b.shape[-1]}")
    a, b = a.double(), b.double()
    return ((a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp(min=1e-12)).float()


def cosine_across(
    directions: Mapping[str, Float[Tensor, "layer d"]],
) -> tuple[Float[Tensor, "layer lang lang"], list[str]]:
    """Cosine similarity of every pair of per-language directions at every layer.

    Returns ``(sim[layer, lang, lang], languages)`` with languages in the mapping's order.
    """
    langs = list(directions)
    if not langs:
        raise ValueError("no directions given")
    stacked = torch.stack([directions[l] for l in langs], dim=1)  # [layer, lang, d]
    if stacked.ndim != 3:
        raise ValueError(f"each direction must be [layer, d], got {tuple(directions[langs[0]].shape)}")
    unit = stacked.double() / stacked.double().norm(dim=-1, keepdim=True).clamp(min=1e-12)
    return torch.einsum("lad,lbd->lab", unit, unit).float(), langs
