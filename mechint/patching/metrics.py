"""Patching metrics: what a patched run is scored by, as plain callables.

A :class:`Metric` says what it reads (the logits, or the activation at a site) and at which
positions, and maps that to one number per prompt. Because it declares what it reads, activation
patching unembeds only those positions (or stops the forward at the site). A metric is also an
ordinary function of the full logits: ``logit_diff([5], [7])(model(tokens))`` is a ``[batch]``
tensor.

Builders: :func:`logit_diff` (between two answer token sets), :func:`answer_prob`,
:func:`kl_to_clean` (relative to the clean run), :func:`direction_score` (a direction or linear probe
at a site). :func:`normalize` maps any metric to 0 = corrupted, 1 = clean.

Per-pair data (answer tokens, directions) is indexed by the prompt-pair index that the patching
engine passes with every row, so one batch can mix cells and pairs in any order.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, replace
from typing import Callable, Iterable, SupportsIndex

import torch
from jaxtyping import Float
from torch import Tensor

from ..device_copies import DeviceCopies
from ..model import int_list

MetricFn = Callable[[Tensor, Tensor], Tensor]

__all__ = [
    "Metric",
    "as_metric",
    "logit_diff",
    "answer_prob",
    "kl_to_clean",
    "direction_score",
    "normalize",
]


@dataclass(frozen=True)
class Metric:
    """A score of a run, one value per prompt.

    Attributes:
        fn: ``fn(read, pair) -> [n]``. ``read`` is ``[n, n_read, width]``: the logits (``site=None``)
            or the activation at ``site``, at the positions in ``positions`` (in that order), as
            float32; ``pair`` (``[n]``, long) is the prompt-pair index of each row, for per-pair data.
            Rows are independent: the engine batches many patched copies of a pair together.
        positions: positions read (negative: from the end, ``-1`` = the last token); ``None``: all.
        site: ``None`` reads the logits; a site name (e.g. ``"blocks.17.hook_resid_post"``) reads
            that activation instead, and the patched forward stops there.
        name: a label for results and plots.
        bind: for metrics relative to the clean run (``kl_to_clean``): ``bind(clean_read)`` returns
            the ``fn`` to use, given the clean run's read ``[pairs, n_read, width]``.
        tokens: for logit metrics that look at a few vocabulary entries only (``logit_diff``): those
            token ids; ``read`` then holds the logits of these tokens, in this order, and the
            unembedding computes nothing else. ``None``: the whole vocabulary.
        n_pairs: for metrics with per-pair data (one answer set or direction per prompt pair): how
            many pairs that data is for; patching checks it against its number of pairs once,
            before the sweep. ``None``: the metric's data is shared by every pair.
    """

    fn: MetricFn
    positions: tuple[int, ...] | None = (-1,)
    site: str | None = None
    name: str = "metric"
    bind: Callable[[Tensor], MetricFn] | None = None
    tokens: tuple[int, ...] | None = None
    n_pairs: int | None = None

    def __post_init__(self) -> None:
        if self.positions is not None:
            object.__setattr__(self, "positions", _positions(self.positions))  # positions=None reads all
        if self.tokens is not None:
            if self.site is not None:
                raise ValueError("tokens= selects logits; a metric at a site reads the whole activation")
            object.__setattr__(self, "tokens", tuple(int(t) for t in self.tokens))
        if self.n_pairs is not None:
            object.__setattr__(self, "n_pairs", operator.index(self.n_pairs))
            if self.n_pairs < 1:
                raise ValueError(f"n_pairs must be >= 1, got {self.n_pairs}")

    def check_pairs(self, n: int) -> None:
        """Raise unless the metric's per-pair data fits ``n`` prompt pairs (one set for all, or one
        per pair)."""
        if self.n_pairs is not None and self.n_pairs not in (1, n):
            raise ValueError(
                f"metric {self.name!r} has per-pair data (answer tokens or directions) for {self.n_pairs} "
                f"pairs, but there are {n} prompt pair(s): give one set per pair, or one set shared by all"
            )

    def select(self, x: Tensor) -> Tensor:
        """What this metric reads from a full ``[batch, pos, width]`` tensor: its positions (and its
        tokens, for a logit metric that names them)."""
        if self.positions is not None:
            x = x[:, list(self.positions)]
        if self.tokens is not None:
            x = x[..., list(self.tokens)]
        return x

    def resolve(self, clean_read: Tensor | None) -> MetricFn:
        """The function to apply, bound to the clean run where the metric needs it."""
        if self.bind is None:
            return self.fn
        if clean_read is None:
            raise ValueError(f"metric {self.name!r} is relative to the clean run: pass clean=...")
        return self.bind(clean_read.float())

    def __call__(
        self, x: Float[Tensor, "batch pos width"], *, clean: Tensor | None = None, pair: Tensor | None = None
    ) -> Float[Tensor, " batch"]:
        """Score full logits (or full activations at ``site``) ``[batch, pos, width]``; ``clean`` is
        the clean run's tensor for metrics relative to it. Returns ``[batch]``."""
        if x.ndim != 3:
            raise ValueError(f"a metric takes [batch, pos, width], got shape {tuple(x.shape)}")
        if pair is None:
            self.check_pairs(x.shape[0])
            pair = torch.arange(x.shape[0], device=x.device)
        elif (
            self.n_pairs not in (None, 1)
            and pair.numel()
            and not 0 <= int(pair.min()) <= int(pair.max()) < self.n_pairs
        ):
            raise ValueError(
                f"metric {self.name!r} has per-pair data for {self.n_pairs} pairs; pair indices must be in 0..{self.n_pairs - 1}"
            )
        fn = self.resolve(None if clean is None else self.select(clean))
        return fn(self.select(x).float(), pair)

    def named(self, name: str) -> "Metric":
        return replace(self, name=name)


def as_metric(metric: Metric | Callable) -> Metric:
    """A :class:`Metric` from a Metric or a plain callable ``f(logits [n, pos, vocab]) -> [n]``.

    A plain callable reads the logits at every position (nothing can be skipped) and must treat
    rows independently and the same way (it does not know which pair a row belongs to).
    """
    if isinstance(metric, Metric):
        return metric
    if not callable(metric):
        raise TypeError(f"metric must be a mechint.patching.metrics.Metric or a callable, got {type(metric).__name__}")
    name = getattr(metric, "__name__", "metric")
    return Metric(lambda read, pair: metric(read), positions=None, name=name)


# ------------------------------------------------------------------------------------- helpers


def _token_id(t) -> int | None:
    """``t`` as a token id if it is one integer (Python, numpy or a 0-d tensor), else None."""
    if isinstance(t, (bool, float)) or (isinstance(t, Tensor) and t.ndim > 0):
        return None
    try:
        return operator.index(t)
    except TypeError:
        return None


def _token_sets(tokens, what: str) -> tuple[Tensor, Tensor]:
    """``(ids [P, k], mask [P, k])`` from an id, a set of ids (shared by all pairs, P=1), or one set
    per pair (a list of lists, possibly ragged, or a ``[pairs, k]`` tensor or array). A set counts
    each id once."""
    if not isinstance(tokens, Tensor) and hasattr(tokens, "__array__"):
        tokens = torch.as_tensor(tokens)
    if isinstance(tokens, Tensor):
        if tokens.is_floating_point() or tokens.dtype == torch.bool:
            raise TypeError(f"{what}: token ids must be integers, got dtype {tokens.dtype}")
        t = tokens.detach().long().cpu()
        if t.ndim > 2:
            raise ValueError(f"{what}: expected ids as [k] or [pairs, k], got shape {tuple(t.shape)}")
        if t.numel() == 0:
            raise ValueError(f"{what}: no token ids given")
        tokens = t.tolist()
    one = _token_id(tokens)
    if one is not None:
        return torch.tensor([[one]]), torch.ones(1, 1, dtype=torch.bool)
    if isinstance(tokens, (str, bytes)) or not hasattr(tokens, "__iter__"):
        raise TypeError(f"{what}: token ids must be integers or lists of them, got {tokens!r}")
    rows = list(tokens)
    if not rows:
        raise ValueError(f"{what}: no token ids given")

    def ids_of(r) -> list[int]:
        one = _token_id(r)
        items = [one] if one is not None else list(r)
        ids = [_token_id(i) for i in items]
        if any(i is None for i in ids):
            raise TypeError(f"{what}: token ids must be integers, got {items!r}")
        return list(dict.fromkeys(i for i in ids if i is not None))  # none is None, checked above

    if all(_token_id(r) is not None for r in rows):
        rows = [ids_of(rows)]
    else:
        rows = [ids_of(r) for r in rows]
    if any(not r for r in rows):
        raise ValueError(f"{what}: pair {next(i for i, r in enumerate(rows) if not r)} has an empty token set")
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
    mask = torch.tensor([[True] * len(r) + [False] * (width - len(r)) for r in rows])
    return ids, mask


def _rows(table: Tensor, pair: Tensor, what: str) -> Tensor:
    """Per-pair rows of ``table [P, ...]`` for each row's pair (P=1: shared by all)."""
    if table.shape[0] == 1:
        return table.expand(pair.shape[0], *table.shape[1:])
    return table[pair]


def _set_mean(values: Float[Tensor, "n vocab"], ids: Tensor, mask: Tensor) -> Tensor:
    got = values.gather(-1, ids) * mask
    return got.sum(-1) / mask.sum(-1)


def _positions(position: SupportsIndex | Iterable[SupportsIndex] | None) -> tuple[int, ...] | None:
    """Positions as a tuple of ints (a Python, numpy or 0-d tensor integer, or an iterable of them)."""
    return None if position is None else tuple(int_list(position, "metric position"))


def _per_pair_count(*tables: Tensor, what: str) -> int | None:
    """How many pairs per-pair tables ``[P, ...]`` are for (``None``: all shared, P = 1); tables of
    the same metric with different P > 1 raise."""
    counts = {int(t.shape[0]) for t in tables} - {1}
    if len(counts) > 1:
        raise ValueError(f"{what}: the per-pair sets are for different numbers of pairs: {sorted(counts)}")
    return counts.pop() if counts else None


# ------------------------------------------------------------------------------------- builders


def logit_diff(
    correct, incorrect, *, position: SupportsIndex | Iterable[SupportsIndex] = -1, name: str = "logit difference"
) -> Metric:
    """Mean logit of the ``correct`` tokens minus mean logit of the ``incorrect`` tokens.

    ``correct``/``incorrect``: a token id, a set of ids (shared by every pair), or one set per pair
    (list of lists or a ``[pairs, k]`` tensor). Several ``position`` values are averaged.
    """
    good, good_mask = _token_sets(correct, "correct")
    bad, bad_mask = _token_sets(incorrect, "incorrect")
    # Only these logits are needed: the metric reads them as columns 0..k-1.
    vocab = sorted(set(good[good_mask].tolist()) | set(bad[bad_mask].tolist()))
    column = {t: i for i, t in enumerate(vocab)}
    remap = lambda ids, mask: torch.tensor(
        [[column[t] if m else 0 for t, m in zip(r, mr)] for r, mr in zip(ids.tolist(), mask.tolist())]
    )
    good, bad = remap(good, good_mask), remap(bad, bad_mask)
    data = DeviceCopies(good, good_mask, bad, bad_mask)

    def fn(read: Tensor, pair: Tensor) -> Tensor:
        g, gm, b, bm = data.on(read.device)
        n, k = read.shape[0], read.shape[1]
        flat = read.reshape(n * k, -1)
        rep = pair.repeat_interleave(k)
        diff = _set_mean(flat, _rows(g, rep, "correct"), _rows(gm, rep, "correct")) - _set_mean(
            flat, _rows(b, rep, "incorrect"), _rows(bm, rep, "incorrect")
        )
        return diff.reshape(n, k).mean(-1)

    return Metric(
        fn,
        positions=_positions(position),
        name=name,
        tokens=tuple(vocab),
        n_pairs=_per_pair_count(good, bad, what="logit_diff correct/incorrect"),
    )


def answer_prob(
    answers, *, position: SupportsIndex | Iterable[SupportsIndex] = -1, name: str = "answer probability"
) -> Metric:
    """Total probability (softmax over the vocabulary) of the ``answers`` token set; a set shared by
    every pair or one per pair, as in :func:`logit_diff`."""
    ids, mask = _token_sets(answers, "answers")
    data = DeviceCopies(ids, mask)

    def fn(read: Tensor, pair: Tensor) -> Tensor:
        a, m = data.on(read.device)
        n, k = read.shape[0], read.shape[1]
        probs = read.reshape(n * k, -1).softmax(-1)
        rep = pair.repeat_interleave(k)
        got = (probs.gather(-1, _rows(a, rep, "answers")) * _rows(m, rep, "answers")).sum(-1)
        return got.reshape(n, k).mean(-1)

    return Metric(fn, positions=_positions(position), name=name, n_pairs=_per_pair_count(ids, what="answer_prob"))


def kl_to_clean(*, position: SupportsIndex | Iterable[SupportsIndex] = -1, name: str = "KL to clean") -> Metric:
    """KL(clean || patched) of the next-token distributions, in nats (0 at the clean run)."""

    def bind(clean_read: Tensor) -> MetricFn:
        clean_logp = clean_read.log_softmax(-1)

        def fn(read: Tensor, pair: Tensor) -> Tensor:
            ref = clean_logp.to(read.device)[pair]
            kl = (ref.exp() * (ref - read.log_softmax(-1))).sum(-1)
            return kl.mean(-1)

        return fn

    def unbound(read: Tensor, pair: Tensor) -> Tensor:
        raise ValueError("kl_to_clean needs the clean run: call it with clean=... or through activation_patch")

    return Metric(unbound, positions=_positions(position), name=name, bind=bind)


def direction_score(
    direction: Float[Tensor, " d"] | Float[Tensor, "pairs d"],
    site: str,
    *,
    position: SupportsIndex | Iterable[SupportsIndex] = -1,
    bias: float = 0.0,
    name: str = "direction score",
) -> Metric:
    """``activation @ direction + bias`` at ``site`` (e.g. a harmfulness direction, or a linear
    probe's weight and bias). ``direction`` is ``[d]`` (shared) or ``[pairs, d]``."""
    w = torch.as_tensor(direction).detach().float().cpu()
    if w.ndim == 1:
        w = w[None]
    if w.ndim != 2:
        raise ValueError(f"direction must be [d] or [pairs, d], got shape {tuple(w.shape)}")
    data = DeviceCopies(w)

    def fn(read: Tensor, pair: Tensor) -> Tensor:
        (vec,) = data.on(read.device)
        if read.shape[-1] != vec.shape[-1]:
            raise ValueError(f"direction has width {vec.shape[-1]} but {site} has width {read.shape[-1]}")
        rows = _rows(vec, pair, "direction")  # [n, d]
        return torch.einsum("nkd,nd->nk", read, rows).mean(-1) + bias

    return Metric(
        fn, positions=_positions(position), site=site, name=name, n_pairs=_per_pair_count(w, what="direction_score")
    )


def normalize(value: Tensor, clean: Tensor, corrupted: Tensor) -> Tensor:
    """``(value - corrupted) / (clean - corrupted)``: 0 = the corrupted run, 1 = the clean run.

    ``clean``/``corrupted`` broadcast against ``value`` from the left (``[pairs]`` against
    ``[pairs, ...]``). A pair whose clean and corrupted values coincide has no scale: NaN.
    """
    value = torch.as_tensor(value, dtype=torch.float32)
    clean = torch.as_tensor(clean, dtype=torch.float32)
    corrupted = torch.as_tensor(corrupted, dtype=torch.float32)
    extra = value.ndim - clean.ndim
    clean = clean.reshape(*clean.shape, *([1] * extra))
    corrupted = corrupted.reshape(*corrupted.shape, *([1] * extra))
    scale = clean - corrupted
    return torch.where(scale == 0, torch.full_like(value, float("nan")), (value - corrupted) / scale)
