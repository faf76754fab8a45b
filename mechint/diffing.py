"""Model diffing in activation space: how did fine-tuning move a model's activations, and where?

Weight diffing (:mod:`mechint.weights`) says which parameters moved; this module says what that did
to the activations on given inputs. The same texts run through two checkpoints of one architecture
(``before``, e.g. a base model, and ``after``, e.g. its safety-tuned or attacked version), and per
group of texts (a language, a class) the pooled activations are compared unit by unit:

* :func:`activation_shift` collects both models' pooled activations (:func:`mechint.collect`) and
  returns an :class:`ActivationShift`: per group the mean of each model's activations and their
  paired difference ``after - before`` per site and unit, per site and unit the spread of
  ``before``'s activations over all texts (the scale a shift is measured against), and the shift of
  the mean along a direction (:meth:`ActivationShift.project`: along the refusal direction, per layer).
* :func:`top_units` ranks units (MLP neurons, residual features) by the size of a score such as the
  standardized shift; :func:`unit_overlap` compares two such sets against chance (the exact
  expected Jaccard index of two random sets of those sizes).
* :func:`sign_agreement` asks whether units chosen on one group move the same way in another: the
  share of them whose shift has the same sign, and the correlation of the two shifts over them,
  each against a control of random unit sets of the same size. With units chosen on English and
  measured in each other language this is the dual-multilinguality test of Hua et al. (arXiv
  2406.16235): English-only preference tuning changes MLP neurons' activations the same way in
  every language.

Everything is computed in float64 on the CPU from the pooled vectors: memory is ``[n, d]`` per
site and model, as for :func:`mechint.collect`.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import torch
from jaxtyping import Float
from torch import Tensor

from . import _validate
from ._suggest import did_you_mean, nearest
from .activations import Activations, Pool, collect
from .model import Model
from .stats import pearson, set_overlap

__all__ = ["ActivationShift", "activation_shift", "sign_agreement", "top_units", "unit_overlap"]

POOLS = ("last", "mean")
"""Poolings :func:`activation_shift` accepts: one vector per text (per-token rows have no pairing)."""
ALL = "all"
"""The one group's label when :func:`activation_shift` is given no ``groups``."""


@dataclass(eq=False)
class ActivationShift:
    """How the pooled activations of some texts moved from one checkpoint (``before``) to another
    (``after``), per group of texts, site and unit (what :func:`activation_shift` returns).

    Every site has the same number of units ``d`` (the residual stream's ``d_model``, or the MLP's
    ``d_mlp``); a site whose activation has more axes (``attn.hook_z``'s heads) is flattened.

    Attributes:
        sites: the site names, in the order of the ``site`` axis.
        groups: the group labels, in order of first appearance among the texts.
        counts: texts per group.
        mean_before, mean_after: ``[group, site, d]`` float64, each model's mean activation over
            the group's texts.
        scale: ``[site, d]`` float64, the standard deviation (``n - 1`` in the denominator) of
            ``before``'s activations over all texts: the spread a shift is measured against. NaN
            for a single text, which has no spread.
        pool: how each text's activation was pooled (``"last"``, ``"mean"``; ``None`` when built
            from plain tensors, whose pooling is not known).
    """

    sites: list[str]
    groups: list
    counts: list[int]
    mean_before: Float[Tensor, "group site d"]
    mean_after: Float[Tensor, "group site d"]
    scale: Float[Tensor, "site d"]
    pool: str | None = None

    @classmethod
    def from_activations(
        cls,
        before: Mapping[str, Tensor],
        after: Mapping[str, Tensor],
        sites: str | Sequence[str] | None = None,
        *,
        groups: Sequence[Hashable] | None = None,
    ) -> "ActivationShift":
        """The shift between two collections of the same texts' pooled activations (e.g. two
        :func:`mechint.collect` results of two checkpoints), at ``sites`` (default: all of
        ``before``'s). Use it to collect each checkpoint once for several diffs, or sites of
        different widths (one :class:`ActivationShift` per width)."""
        for name, acts in (("before", before), ("after", after)):
            if not isinstance(acts, Mapping):
                raise TypeError(f"{name} must be a mapping site -> [n, d] tensor (mechint.collect's result)")
            if isinstance(acts, Activations) and acts.pool == "all":
                raise ValueError(
                    f"{name} holds per-token rows (pool='all'): a shift pairs one vector per text; "
                    "collect with pool='last' or 'mean'"
                )
        names = list(before) if sites is None else [sites] if isinstance(sites, str) else list(sites)
        if not names:
            raise ValueError("no sites given")
        for name, acts in (("before", before), ("after", after)):
            missing = [s for s in names if s not in acts]
            if missing:
                near = nearest(missing[0], list(acts), n=3, cutoff=0.0)
                raise KeyError(f"site {missing[0]!r} is not in {name}'s activations{did_you_mean(near)}")
        n = int(before[names[0]].shape[0])
        if n == 0:
            raise ValueError("no texts: the activations have no rows")
        labels, rows = _groups(groups, n)
        widths: dict[str, int] = {}
        mean_b, mean_a, scale = [], [], []
        for site in names:
            b, a = before[site], after[site]
            if tuple(b.shape) != tuple(a.shape):
                raise ValueError(
                    f"site {site!r}: before's activations are {tuple(b.shape)}, after's {tuple(a.shape)}; "
                    "the two must be the same texts through two checkpoints of one architecture"
                )
            if b.ndim < 2 or b.shape[0] != n:
                raise ValueError(f"site {site!r}: expected [n={n}, ...] rows, one per text, got {tuple(b.shape)}")
            b = b.detach().to("cpu", torch.float64).reshape(n, -1)
            a = a.detach().to("cpu", torch.float64).reshape(n, -1)
            _validate.finite_rows(f"before's activations at {site}", b)
            _validate.finite_rows(f"after's activations at {site}", a)
            widths[site] = b.shape[1]
            mean_b.append(torch.stack([b[r].mean(0) for r in rows]))
            mean_a.append(torch.stack([a[r].mean(0) for r in rows]))
            scale.append(b.std(0) if n > 1 else torch.full((b.shape[1],), math.nan, dtype=torch.float64))
        if len(set(widths.values())) > 1:
            listed = ", ".join(f"{s}: {w}" for s, w in list(widths.items())[:6])
            raise ValueError(
                f"the sites have different numbers of units ({listed}); one ActivationShift holds sites of "
                "one width: diff each kind of site on its own (e.g. hook_resid_pre and mlp.hook_post apart)"
            )
        return cls(
            sites=names,
            groups=labels,
            counts=[len(r) for r in rows],
            mean_before=torch.stack(mean_b, 1),
            mean_after=torch.stack(mean_a, 1),
            scale=torch.stack(scale),
            pool=before.pool if isinstance(before, Activations) else None,
        )

    def _index(self, group) -> int | None:
        if group is None:
            return None
        try:
            return self.groups.index(group)
        except ValueError:
            near = nearest(str(group), [str(g) for g in self.groups], n=3, cutoff=0.0)
            raise KeyError(f"no group {group!r}; groups nearest to it: {near}") from None

    def shift(self, group: Hashable | None = None) -> Float[Tensor, "site d"]:
        """``[site, d]`` float64: the mean paired difference ``after - before`` over the texts of
        ``group`` (the difference of the two models' means), or over all texts (``None``)."""
        g = self._index(group)
        if g is not None:
            return self.mean_after[g] - self.mean_before[g]
        w = torch.tensor(self.counts, dtype=torch.float64)[:, None, None]
        return ((self.mean_after - self.mean_before) * w).sum(0) / w.sum()

    def standardized(self, group: Hashable | None = None) -> Float[Tensor, "site d"]:
        """``[site, d]`` float64: :meth:`shift` in units of :attr:`scale`, so that units of very
        different spread (a massive residual feature beside ordinary ones) compare.

        A unit whose scale is 0 (constant over ``before``'s texts, e.g. a dead neuron) or undefined
        (one text) has no unit to measure a shift in: it gets 0 where its shift is exactly 0 and
        NaN where it moved. NaN is never ranked by :func:`top_units` and is left out by
        :func:`sign_agreement`, so such units drop out of both rather than dominate them."""
        shift = self.shift(group)
        ok = self.scale > 0
        safe = torch.where(ok, self.scale, torch.ones_like(self.scale))
        undefined = torch.where(shift == 0, torch.zeros_like(shift), torch.full_like(shift, math.nan))
        return torch.where(ok, shift / safe, undefined)

    def project(self, direction: Float[Tensor, " d"] | Float[Tensor, "site d"]) -> Float[Tensor, "group site"]:
        """``[group, site]`` float64: the shift of each group's mean activation along ``direction``
        scaled to unit length, per site: ``shift(group)[site] @ u`` (e.g. how far tuning moved the
        mean harmful prompt along the refusal direction, per layer). ``direction`` is one ``[d]``
        vector for every site, or ``[site, d]``, one per site (each scaled to unit length)."""
        d = _validate.numbers("direction", direction).detach().to("cpu", torch.float64)
        width = self.mean_before.shape[-1]
        if d.shape not in ((width,), (len(self.sites), width)):
            raise ValueError(
                f"direction must be [d={width}] or [sites={len(self.sites)}, d={width}], got {tuple(d.shape)}"
            )
        _validate.finite("direction", d)
        norms = d.norm(dim=-1, keepdim=True)
        if bool((norms == 0).any()):
            raise ValueError("direction has zero length: it points nowhere")
        u = (d / norms).expand(len(self.sites), width)
        return ((self.mean_after - self.mean_before) * u).sum(-1)

    def __repr__(self) -> str:
        return (
            f"ActivationShift(pool={self.pool!r}, sites={len(self.sites)} ({self.sites[0]} ...), "
            f"d={self.mean_before.shape[-1]}, groups={dict(zip(self.groups, self.counts))})"
        )


def _groups(groups: Sequence[Hashable] | None, n: int) -> tuple[list, list[Tensor]]:
    """The ordered group labels and each one's row indices."""
    if groups is None:
        return [ALL], [torch.arange(n)]
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Iterable):
        raise TypeError(f"groups must be a sequence of labels, one per text, got {_validate.given(groups)}")
    groups = list(groups)
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} labels for {n} texts: give one label per text")
    labels: dict = {}
    for i, g in enumerate(groups):
        labels.setdefault(g, []).append(i)
    return list(labels), [torch.tensor(r) for r in labels.values()]


def _architecture_mismatch(before: Model, after: Model) -> str:
    """How two models' architectures differ ('' when they do not)."""
    checks = {
        "family": (before.family.name, after.family.name),
        "n_layers": (before.n_layers, after.n_layers),
        "d_model": (before.d_model, after.d_model),
        "d_mlp": (before.d_mlp, after.d_mlp),
        "d_vocab (vocabulary)": (before.d_vocab, after.d_vocab),
    }
    return ", ".join(f"{k} {b} vs {a}" for k, (b, a) in checks.items() if b != a)


def activation_shift(
    before: Model,
    after: Model,
    texts: _validate.TextsLike,
    sites: str | Sequence[str],
    *,
    groups: Sequence[Hashable] | None = None,
    pool: str = "last",
    batch_size: int = 16,
    progress: bool | str = True,
) -> ActivationShift:
    """How the same ``texts`` are represented by two checkpoints of one architecture: their pooled
    activations at ``sites`` collected from ``before`` and from ``after`` (:func:`mechint.collect`),
    compared per group of texts (:class:`ActivationShift`).

    Args:
        before, after: the two checkpoints (e.g. a base model and its safety-tuned version); they
            must share the family, layer count, widths and vocabulary, and tokenize ``texts`` alike
            (so that the two activations of a text are of the same tokens).
        texts: strings, or a data set with ``.texts``; chat prompts already formatted.
        sites: site names of one width (a bare key such as ``"mlp.hook_post"`` means every layer).
        groups: one label per text (e.g. its language); ``None``: all texts are one group, ``"all"``.
        pool: ``"last"`` (the last token, e.g. the chat template's last token) or ``"mean"``.
        batch_size: texts per forward pass.
        progress: progress bars (a string prefixes their labels).

    Only the pooled vectors are kept (``[n, d]`` per site and model), never a whole forward's
    activations. To diff one checkpoint against several, or sites of several widths, collect each
    checkpoint once and use :meth:`ActivationShift.from_activations`.
    """
    why = _architecture_mismatch(before, after)
    if why:
        raise ValueError(f"before and after must be two checkpoints of one architecture; they differ: {why}")
    texts = _validate.texts(texts)
    _validate.choice("pool", pool, POOLS)
    _validate.integer("batch_size", batch_size, minimum=1)
    names = [s.name for s in before.sites(sites)]  # unknown names raise here, with the nearest ones
    if not names:
        raise ValueError("no sites given")
    _groups(groups, len(texts))  # a wrong length fails before any forward
    ids_b = before.tokenizer(texts)["input_ids"]
    ids_a = after.tokenizer(texts)["input_ids"]
    differ = [i for i, (x, y) in enumerate(zip(ids_b, ids_a)) if list(x) != list(y)]
    if differ:
        raise ValueError(
            f"before and after tokenize {len(differ)} of the texts differently (first: text {differ[0]}, "
            f"{texts[differ[0]][:60]!r}): the two activations of a text would be of different tokens"
        )
    label = (progress + " ") if isinstance(progress, str) else ""
    acts = {}
    for name, model in (("before", before), ("after", after)):
        acts[name] = collect(
            model,
            texts,
            names,
            pool=cast(Pool, pool),  # one of POOLS, checked above
            batch_size=batch_size,
            progress=f"{label}{name}" if progress else False,
        )
    return ActivationShift.from_activations(acts["before"], acts["after"], names, groups=groups)


def top_units(scores: Float[Tensor, "site d"], k: int) -> list[tuple[int, int]]:
    """The ``k`` units of largest ``|scores|`` as ``(site index, unit index)`` pairs, largest first.

    Ties are broken by position (site, then unit, ascending), so the choice is deterministic; NaN
    scores are never chosen (a ``k`` larger than the number of finite scores raises)."""
    s = _validate.numbers("scores", scores)
    if s.ndim != 2:
        raise ValueError(f"scores must be [sites, d], got shape {tuple(s.shape)}")
    k = _validate.integer("k", k, minimum=1)
    key = s.detach().to("cpu", torch.float64).abs().reshape(-1)
    finite = int((~torch.isnan(key)).sum())
    if k > finite:
        raise ValueError(f"k={k} units asked for, but scores has {finite} non-NaN values (of {key.numel()})")
    key = torch.nan_to_num(key, nan=-1.0)  # below every |score|
    order = torch.sort(key, descending=True, stable=True).indices[:k]  # stable: ties keep position order
    d = s.shape[1]
    return [(int(i) // d, int(i) % d) for i in order]


def unit_overlap(a: Iterable[Hashable], b: Iterable[Hashable], n_total: int) -> dict[str, float]:
    """How much two sets of units (e.g. :func:`top_units` of two languages) overlap, against chance.

    Returns ``jaccard`` = |A and B| / |A or B|, ``intersection``, ``size_a``, ``size_b``, ``n``
    (= ``n_total``, the units both were chosen from), ``expected_intersection`` = |A| |B| / n, and
    ``expected_jaccard``: the **exact** expectation of the Jaccard index of two independent
    uniformly random sets of sizes |A| and |B| among the n units, summed over the hypergeometric
    distribution of their intersection (not the ratio of expected intersection and union that
    :func:`mechint.weights.overlap` gives, which approximates it). Two empty sets have Jaccard 1.0
    (equal sets), and so does chance."""
    n = _validate.integer("n_total", n_total, minimum=1)
    sa, sb = set(a), set(b)
    size_a, size_b = len(sa), len(sb)
    if max(size_a, size_b) > n:
        raise ValueError(f"sets of {size_a} and {size_b} units cannot come from n_total={n} units")
    return set_overlap(len(sa & sb), size_a, size_b, n, exact=True)


def _batched_pearson(x: Tensor, y: Tensor) -> Tensor:
    """Pearson's correlation of each row pair of ``x, y [r, k]``; NaN where a side is constant (as
    :func:`mechint.stats.pearson`)."""
    constant = (x == x[:, :1]).all(1) | (y == y[:, :1]).all(1)
    xc, yc = x - x.mean(1, keepdim=True), y - y.mean(1, keepdim=True)
    den = xc.norm(dim=1) * yc.norm(dim=1)
    r = (xc * yc).sum(1) / den
    return r.masked_fill(constant | (den == 0), math.nan)


def sign_agreement(
    reference: Float[Tensor, "site d"],
    other: Float[Tensor, "site d"],
    units: Sequence[tuple[int, int]],
    *,
    n_random: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Do the chosen ``units`` move the same way in ``other`` as in ``reference``, more than
    arbitrary units do? (With units chosen on English shifts and ``other`` another language's: the
    dual-multilinguality test.)

    Over the chosen units (``(site, unit)`` pairs, e.g. from :func:`top_units`) it measures
    ``agreement``, the share whose sign in ``other`` equals their sign in ``reference`` (two zeros
    agree), and ``correlation``, Pearson's correlation of the two over them (NaN when a side is
    constant). Units where either tensor is NaN are left out (``n_units`` counts those kept).

    The control: ``n_random`` sets of ``n_units`` units drawn uniformly without replacement among
    all units where both tensors are finite (a seeded ``torch.Generator``), scored the same way;
    ``control_agreement_mean`` / ``_low`` / ``_high`` are their mean and 2.5 / 97.5 percentiles,
    likewise ``control_correlation_*`` (NaN correlations of constant sets are left out), and
    ``p_agreement`` / ``p_correlation`` the share of random sets scoring at least as high as the
    chosen units, ``(1 + count) / (1 + sets scored)`` (one-sided).

    Arbitrary units agree too where a shift is common to every unit or every group (e.g. the same
    template token ends every prompt), which is what the control measures.
    """
    ref = _validate.numbers("reference", reference).detach().to("cpu", torch.float64)
    oth = _validate.numbers("other", other).detach().to("cpu", torch.float64)
    if ref.ndim != 2 or ref.shape != oth.shape:
        raise ValueError(
            f"reference and other must be [sites, d] of one shape, got {tuple(ref.shape)} and {tuple(oth.shape)}"
        )
    n_random = _validate.integer("n_random", n_random, minimum=1)
    seed = _validate.integer("seed", seed, minimum=0)
    chosen = _unit_indices(units, ref.shape)
    a, b = ref.reshape(-1), oth.reshape(-1)
    valid = ~(torch.isnan(a) | torch.isnan(b))
    chosen = chosen[valid[chosen]]
    k = int(chosen.numel())
    if k == 0:
        raise ValueError("every chosen unit is NaN in reference or other: nothing to compare")
    pool = torch.nonzero(valid).reshape(-1)
    gen = torch.Generator().manual_seed(seed)
    draws = torch.stack([pool[torch.randperm(pool.numel(), generator=gen)[:k]] for _ in range(n_random)])
    agree = (torch.sign(a[draws]) == torch.sign(b[draws])).double().mean(1)
    corr = _batched_pearson(a[draws], b[draws])
    observed_agree = float((torch.sign(a[chosen]) == torch.sign(b[chosen])).double().mean())
    observed_corr = pearson(a[chosen], b[chosen])
    out: dict[str, float] = {
        "n_units": k,
        "n_random": n_random,
        "agreement": observed_agree,
        "correlation": observed_corr,
    }
    for name, values, observed in (("agreement", agree, observed_agree), ("correlation", corr, observed_corr)):
        finite = values[~torch.isnan(values)]
        if finite.numel():
            low, high = torch.quantile(finite, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
            mean = float(finite.mean())
        else:
            low = high = mean = math.nan
        out[f"control_{name}_mean"] = mean
        out[f"control_{name}_low"] = low
        out[f"control_{name}_high"] = high
        above = int((finite >= observed).sum())
        out[f"p_{name}"] = math.nan if math.isnan(observed) else (1 + above) / (1 + finite.numel())
    return out


def _unit_indices(units: Sequence[tuple[int, int]], shape: torch.Size) -> Tensor:
    """Flat indices of ``(site, unit)`` pairs into a ``[sites, d]`` tensor, checked."""
    pairs = list(units)
    if not pairs:
        raise ValueError("no units given")
    sites, d = shape
    flat = []
    for i, pair in enumerate(pairs):
        if len(pair) != 2:
            raise ValueError(f"units[{i}] must be a (site index, unit index) pair, got {pair!r}")
        s, u = (_validate.integer(f"units[{i}]", v) for v in pair)
        if not (0 <= s < sites and 0 <= u < d):
            raise ValueError(f"units[{i}] = {(s, u)} is outside [sites={sites}, d={d}]")
        flat.append(s * d + u)
    if len(set(flat)) != len(flat):
        raise ValueError("units holds the same unit more than once")
    return torch.tensor(flat, dtype=torch.long)
