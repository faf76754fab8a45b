"""Directions in activation space and how they compare across languages.

A harmfulness direction at one layer is a unit vector, sign fixed so harmful (label 1) rows score
high: the difference of class means, the first principal component of paired differences, or a
linear probe's weights. Computed per language and per layer, their cosine similarity says whether
languages share one direction, and the AUROC of one language's direction on another language's rows
says whether it transfers.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from . import _validate
from .stats import auroc


def _labels(labels, n: int) -> Tensor:
    y = _validate.labels(labels).reshape(-1)
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
    acts = _validate.numbers("activations", acts)
    if acts.ndim < 2:
        raise ValueError(f"activations must be [..., n, d], got shape {tuple(acts.shape)}")
    if acts.shape[-2] == 0:
        raise ValueError("no rows of activations (empty data)")
    _validate.finite_rows("the activations given to diff_in_means", acts)
    y = _labels(labels, acts.shape[-2]).to(acts.device)
    x = acts.to(torch.float64) if acts.dtype != torch.float64 else acts
    direction = x[..., y, :].mean(-2) - x[..., ~y, :].mean(-2)
    zero = (direction == 0).all(-1)
    if bool(zero.any()):
        import warnings

        where = "" if direction.ndim == 1 else f" at {int(zero.sum())} of {zero.numel()} sites/layers"
        warnings.warn(
            f"diff_in_means: the two classes have the same mean{where}; the direction there is zero, "
            "not a unit vector (the activations do not tell the classes apart)",
            stacklevel=2,
        )
    if normalize:
        direction = direction / direction.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    return direction.to(torch.float32)


def within_group_std(acts: Float[Tensor, "... n d"], *groups: Sequence | Tensor) -> Float[Tensor, "... d"]:
    """Per feature, the standard deviation of the rows around their group's mean, pooled over the
    groups (``sum (x - mean_g)^2 / (n - G)``); a row's group is its tuple of ``groups`` labels (e.g.
    class and language).

    Dividing activations by it before computing and comparing directions measures each feature in
    units of its own noise. A residual stream has a few features of huge magnitude and variance
    ("massive activations"); in raw units a direction's cosine with another is then largely the
    agreement of those few features' mean differences, whatever the rest of the direction does.
    A feature constant within every group keeps scale 1.
    """
    acts = _validate.numbers("activations", acts)
    if acts.ndim < 2:
        raise ValueError(f"activations must be [..., n, d], got shape {tuple(acts.shape)}")
    n = acts.shape[-2]
    if not groups:
        raise ValueError("within_group_std needs at least one grouping (e.g. labels, languages)")
    for g in groups:
        if len(g) != n:
            raise ValueError(f"{len(g)} group labels for {n} rows of activations")
    gid = torch.zeros(n, dtype=torch.long)
    for g in groups:  # each grouping as codes 0..k-1, combined into one code per distinct tuple
        if isinstance(g, Tensor):
            _, codes = torch.unique(g.reshape(-1).cpu(), return_inverse=True)
        else:
            index: dict = {}
            codes = torch.tensor([index.setdefault(v, len(index)) for v in g], dtype=torch.long)
        gid = gid * (int(codes.max()) + 1 if n else 1) + codes
    _, gid = torch.unique(gid, return_inverse=True)
    k = int(gid.max()) + 1 if n else 0
    if k >= n:
        raise ValueError(f"{k} groups for {n} rows: no row left to measure the spread within a group")
    gid = gid.to(acts.device)
    x = acts.to(torch.float64)
    sums = torch.zeros(*x.shape[:-2], k, x.shape[-1], dtype=torch.float64, device=x.device)
    sums.index_add_(-2, gid, x)
    counts = torch.bincount(gid, minlength=k).to(torch.float64).unsqueeze(-1)
    resid = x - (sums / counts).index_select(-2, gid)
    sd = (resid.square().sum(-2) / (n - k)).sqrt()
    return torch.where(sd > 0, sd, torch.ones_like(sd)).to(acts.dtype if acts.is_floating_point() else torch.float32)


def cosine(a: Float[Tensor, "... d"], b: Float[Tensor, "... d"]) -> Float[Tensor, "..."]:
    """Cosine similarity along the last axis (broadcasting). NaN where either vector is zero (it has
    no direction)."""
    a, b = _validate.numbers("a", a), _validate.numbers("b", b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"cosine takes vectors [..., d], got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"directions of different widths: {a.shape[-1]} and {b.shape[-1]}")
    try:
        torch.broadcast_shapes(a.shape[:-1], b.shape[:-1])
    except RuntimeError:
        raise ValueError(f"cosine: shapes {tuple(a.shape)} and {tuple(b.shape)} do not broadcast") from None
    a, b = a.double(), b.double()
    norms = a.norm(dim=-1) * b.norm(dim=-1)
    out = (a * b).sum(-1) / norms.clamp(min=1e-300)
    return out.masked_fill(norms == 0, float("nan")).float()


def cosine_across(
    directions: Mapping[str, Float[Tensor, "layer d"]],
) -> tuple[Float[Tensor, "layer lang lang"], list[str]]:
    """Cosine similarity of every pair of per-language directions at every layer.

    Returns ``(sim[layer, lang, lang], languages)`` with languages in the mapping's order.
    """
    if not isinstance(directions, Mapping):
        raise TypeError(f"cosine_across takes {{language: direction [layer, d]}}, got {type(directions).__name__}")
    langs = list(directions)
    if not langs:
        raise ValueError("no directions given")
    given = {l: _validate.numbers(f"directions[{l!r}]", directions[l]) for l in langs}
    shapes = {l: tuple(d.shape) for l, d in given.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"the directions must share one shape [layer, d]; got {shapes}")
    stacked = torch.stack([given[l] for l in langs], dim=1)  # [layer, lang, d]
    if stacked.ndim != 3:
        raise ValueError(f"each direction must be [layer, d], got {shapes[langs[0]]}")
    unit = stacked.double() / stacked.double().norm(dim=-1, keepdim=True).clamp(min=1e-12)
    return torch.einsum("lad,lbd->lab", unit, unit).float(), langs


def _orient(direction: Tensor, acts: Tensor, y: Tensor) -> Tensor:
    """Flip ``direction [..., d]`` where label-1 rows of ``acts [..., n, d]`` project lower on average."""
    proj = torch.einsum("...nd,...d->...n", acts, direction)
    sign = torch.where(proj[..., y].mean(-1) >= proj[..., ~y].mean(-1), 1.0, -1.0)
    return direction * sign.unsqueeze(-1).to(direction.dtype)


def pca_direction(
    acts: Float[Tensor, "... n d"], labels: Sequence[int] | Tensor, *, seed: int = 0
) -> Float[Tensor, "... d"]:
    """First principal component of paired differences (harmful row minus harmless row), unit length,
    oriented so label-1 rows score higher.

    Rows of the two classes are paired at random (``seed``) up to the size of the smaller class; the
    component is taken without centring, so it captures the mean shift as well as its main axis of
    variation (the convention of the difference-of-pairs PCA in the refusal-direction literature).
    """
    acts = _validate.numbers("activations", acts)
    if acts.ndim < 2 or acts.shape[-2] == 0:
        raise ValueError(f"activations must be [..., n, d] with n > 0, got shape {tuple(acts.shape)}")
    _validate.finite_rows("the activations given to pca_direction", acts)
    y = _labels(labels, acts.shape[-2]).to(acts.device)
    pos, neg = torch.nonzero(y).reshape(-1), torch.nonzero(~y).reshape(-1)
    g = torch.Generator().manual_seed(seed)
    k = min(len(pos), len(neg))
    pos = pos[torch.randperm(len(pos), generator=g)[:k].to(pos.device)]
    neg = neg[torch.randperm(len(neg), generator=g)[:k].to(neg.device)]
    x = acts.double()
    diffs = x[..., pos, :] - x[..., neg, :]  # [..., k, d]
    # top right-singular vector of the (uncentred) difference matrix
    _, _, vh = torch.linalg.svd(diffs, full_matrices=False)
    direction = vh[..., 0, :]
    return _orient(direction, x, y).float()


def standardised_direction(acts: Float[Tensor, "... n d"], labels: Sequence[int] | Tensor) -> Float[Tensor, "... d"]:
    """The difference of means in units of each feature's within-class spread, read back in the
    activations' own units: ``(mu_1 - mu_0) / s^2`` per feature (``s``: :func:`within_group_std` over
    the two classes), unit length, label-1 rows scoring higher.

    A row's score ``x . w`` is the projection of the standardised row ``x / s`` on the standardised
    difference ``(mu_1 - mu_0) / s``: the diagonal form of Fisher's discriminant. The plain difference
    of means weighs a feature by the size of its mean shift, so a feature of huge magnitude and spread
    (massive activations) can dominate it while separating little; here each feature weighs by its
    shift against its own noise.
    """
    acts = _validate.numbers("activations", acts)
    if acts.ndim < 2 or acts.shape[-2] == 0:
        raise ValueError(f"activations must be [..., n, d] with n > 0, got shape {tuple(acts.shape)}")
    _validate.finite_rows("the activations given to standardised_direction", acts)
    y = _labels(labels, acts.shape[-2])
    x = acts.double()
    s = within_group_std(x, y.tolist())
    yd = y.to(x.device)
    w = (x[..., yd, :].mean(-2) - x[..., ~yd, :].mean(-2)) / s.square()
    return (w / w.norm(dim=-1, keepdim=True).clamp(min=1e-300)).float()


def direction_by(
    method: str, acts: Float[Tensor, "... n d"], labels: Sequence[int] | Tensor, **kwargs
) -> Float[Tensor, "... d"]:
    """A unit harmfulness direction by ``method``: ``"mean"`` (difference of means), ``"pca"``
    (first principal component of paired differences), ``"standardised"`` (the difference of means
    in units of each feature's within-class spread, :func:`standardised_direction`) or ``"probe"``
    (logistic-regression weights, see :mod:`mechint.probes`)."""
    if method == "mean":
        return diff_in_means(acts, labels, **kwargs)
    if method == "standardised":
        return standardised_direction(acts, labels, **kwargs)
    if method == "pca":
        return pca_direction(acts, labels, **kwargs)
    if method == "probe":
        from .probes import fit_probes

        probe = fit_probes(acts, _validate.labels(labels), **kwargs)
        return probe.direction.to(torch.float32).cpu()
    raise ValueError(f"unknown direction method {method!r}; use 'mean', 'standardised', 'pca' or 'probe'")


def per_language_directions(
    acts: Float[Tensor, "layer n d"],
    labels: Sequence[int] | Tensor,
    languages: Sequence[str],
    *,
    method: str = "mean",
    order: Sequence[str] | None = None,
    **kwargs,
) -> dict[str, Float[Tensor, "layer d"]]:
    """One direction per language (and layer) from the rows of that language.

    A language without examples of both classes raises, naming it.
    """
    acts = _validate.numbers("activations", acts)
    if isinstance(languages, str):
        raise TypeError(f"languages must be one code per row (a list), got the string {languages!r}")
    if acts.ndim < 2 or len(languages) != acts.shape[-2]:
        raise ValueError(f"{len(languages)} languages for activations of shape {tuple(acts.shape)} (rows on axis -2)")
    y = _validate.labels(labels).reshape(-1)
    if y.numel() != acts.shape[-2]:
        raise ValueError(f"{y.numel()} labels for {acts.shape[-2]} rows of activations")
    out = {}
    for lang in order or sorted(set(languages)):
        rows = _language_rows(languages, lang, y, "language")
        out[lang] = direction_by(method, acts[..., rows.to(acts.device), :], y[rows], **kwargs)
    return out


def _language_rows(languages: Sequence[str], lang: str, y: Tensor, what: str) -> Tensor:
    """The rows of ``lang``; raises, naming it, when it has none or its labels are not both classes."""
    rows = torch.tensor([i for i, l in enumerate(languages) if l == lang], dtype=torch.long)
    if len(rows) == 0:
        raise ValueError(f"no rows in {what} {lang!r}")
    try:
        _labels(y[rows], len(rows))
    except ValueError as err:
        raise ValueError(f"{what} {lang!r}: {err}") from None
    return rows


def transfer_auroc(
    directions: Mapping[str, Float[Tensor, "layer d"]],
    acts: Float[Tensor, "layer n d"],
    labels: Sequence[int] | Tensor,
    languages: Sequence[str],
    *,
    targets: Sequence[str] | None = None,
) -> tuple[Float[Tensor, "layer source target"], list[str], list[str]]:
    """How well each language's direction separates the classes in each language, per layer.

    Returns ``(auc[layer, source, target], sources, targets)``: the AUROC of the projections of the
    target language's rows on the source language's direction. One site's ``[n, d]`` activations
    with ``[d]`` directions give ``auc[source, target]``. Pass held-out rows (split by item id) so
    that no translation of a training item is scored.
    """
    sources = list(directions)
    if not sources:
        raise ValueError("no directions given")
    acts = _validate.numbers("activations", acts)
    if isinstance(languages, str):
        raise TypeError(f"languages must be one code per row (a list), got the string {languages!r}")
    given = tuple(acts.shape)
    one_site = acts.ndim == 2
    if one_site:
        acts = acts.unsqueeze(0)
    if acts.ndim != 3:
        raise ValueError(f"activations must be [layer, n, d] or [n, d], got shape {given}")
    n_layers, n, width = acts.shape
    y = _validate.labels(labels).reshape(-1)
    if len(languages) != n or y.numel() != n:
        raise ValueError(f"{len(languages)} languages and {y.numel()} labels for {n} rows of activations")
    dirs = {}
    for name, d in directions.items():
        d = _validate.numbers(f"the direction of {name!r}", d)
        _validate.finite(f"the direction of {name!r}", d)
        want = (width,) if one_site else (n_layers, width)
        if tuple(d.shape) != want:
            raise ValueError(
                f"direction of {name!r} has shape {tuple(d.shape)} (width {d.shape[-1]}); activations of shape {given} need "
                f"directions of shape {want}"
            )
        dirs[name] = d.reshape(n_layers, width)
    targets = list(targets) if targets is not None else sorted(set(languages))
    out = torch.empty(n_layers, len(sources), len(targets))
    for j, lang in enumerate(targets):
        rows = _language_rows(languages, lang, y, "target language")
        x = acts[:, rows.to(acts.device)].double()  # [layer, m, d]
        for i, src in enumerate(sources):
            scores = torch.einsum("lmd,ld->lm", x, dirs[src].to(x))
            out[:, i, j] = auroc(scores, y[rows])
    return (out[0] if one_site else out), sources, targets
