"""The result of a patching sweep and its statistics.

:class:`PatchResult` holds the metric of every patched run per prompt pair and cell, with the clean
and corrupted runs' metrics and the labels of the grid; it computes the effects, the normalised
values and the NaN-aware means over pairs, and writes the long form (a pandas DataFrame).
:func:`check_same_sweep` says whether two results (attribution and exact patching) are the same
sweep; :func:`nanmean` is the mean over pairs of a ``[pairs, ...]`` tensor that leaves NaN cells out.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .metrics import normalize

__all__ = ["PatchResult", "check_same_sweep", "nanmean", "pos_from_end", "pos_labels"]


@dataclass
class PatchResult:
    """A patching sweep: the metric of every patched run, per prompt pair and cell.

    Attributes:
        values: ``[pairs, *grid]`` metric of the patched run; NaN where a cell does not exist for a
            pair (a position that is padding in one of its prompts, with ``align="right"``).
        clean, corrupted: ``[pairs]`` metric of the unpatched clean and corrupted runs.
        component: what was patched (``"resid_pre"``, ``"z"``, ...).
        axes: names of the grid axes, e.g. ``("layer", "pos")`` or ``("layer", "head")``.
        labels: per axis, the labels of its entries: layer numbers, ``"token (position)"`` strings for
            ``pos`` (the token of pair 0's corrupted prompt; the position as swept, or counted from
            the end, ``-1`` = last, when the prompts differ in length), head or neuron numbers.
            :meth:`pair` relabels ``pos`` with that pair's tokens.
        positions: the swept positions (indices into the padded prompt), for the ``pos`` axis.
        clean_tokens, corrupted_tokens: each pair's prompts as token strings (unpadded).
        metric: the metric's name.
        method: ``"exact"`` (activation patching) or ``"attribution"`` (gradient approximation).
        info: how it ran (batch size, chunks, seconds) and, for attribution, its correlation with
            exact patching when that was asked for.
    """

    values: Tensor
    clean: Tensor
    corrupted: Tensor
    component: str
    axes: tuple[str, ...]
    labels: dict[str, list]
    positions: list[int]
    clean_tokens: list[list[str]]
    corrupted_tokens: list[list[str]]
    metric: str
    method: str = "exact"
    info: dict = field(default_factory=dict)

    @property
    def n_pairs(self) -> int:
        return int(self.values.shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        """The grid shape (without the pair axis)."""
        return tuple(self.values.shape[1:])

    def effect(self) -> Tensor:
        """``values - corrupted`` per pair: what each patch changes."""
        return self.values - self.corrupted.reshape(-1, *([1] * len(self.axes)))

    def normalized(self) -> Tensor:
        """``(values - corrupted) / (clean - corrupted)`` per pair: 0 = corrupted, 1 = clean. A pair
        whose clean and corrupted metrics are equal has no scale: its cells are NaN, with a warning
        naming the pairs."""
        same = (self.clean == self.corrupted).reshape(-1).nonzero().reshape(-1).tolist()
        if same:
            warnings.warn(
                f"normalized(): the clean and corrupted metrics are equal for pair(s) {same[:10]} "
                f"({len(same)} of {self.n_pairs}), so their cells have no scale and are NaN; the metric does not "
                "tell the two prompts apart there (compare .values instead)",
                stacklevel=2,
            )
        return normalize(self.values, self.clean, self.corrupted)

    def mean(self, *, normalized: bool = False) -> Tensor:
        """Mean over pairs per cell (NaN cells are left out); of the normalised values if asked."""
        return nanmean(self.normalized() if normalized else self.values)

    def pair(self, i: int) -> "PatchResult":
        """The result of pair ``i`` alone, its ``pos`` labels from that pair's tokens (numbered as in
        this result: counted from the end when the prompts differ in length, or when the pair's
        prompt is shorter than the padded width; ``"(-9)"`` alone where it has no token)."""
        if not -self.n_pairs <= i < self.n_pairs:
            raise IndexError(f"pair {i} out of range: {self.n_pairs} pairs")
        i = i % self.n_pairs
        sl = slice(i, i + 1)
        labels = dict(self.labels)
        if "pos" in labels:
            tokens = self.corrupted_tokens[i]
            from_end = self.info.get("pos_from_end", pos_from_end(self.corrupted_tokens) or len(tokens) != self._width)
            labels["pos"] = pos_labels(self.positions, tokens, self._width, from_end)
        return PatchResult(
            self.values[sl],
            self.clean[sl],
            self.corrupted[sl],
            self.component,
            self.axes,
            labels,
            self.positions,
            self.clean_tokens[sl],
            self.corrupted_tokens[sl],
            self.metric,
            self.method,
            dict(self.info),
        )

    def to_dataframe(self, *, mean: bool = False):
        """Long form, one row per (pair, cell): the axis labels, for ``pos`` the position (index into
        the padded prompts) and ``token``, the corrupted prompt's token there (``""`` where the
        pair's prompt has none), and ``value``, ``effect``, ``normalized``. ``mean=True``: one row
        per cell, averaged over pairs (``pair`` is ``"mean"``); ``token`` is then pair 0's token, the
        one :attr:`labels` show."""
        import pandas as pd

        idx = (
            torch.cartesian_prod(*[torch.arange(n) for n in self.shape])
            if len(self.shape) > 1
            else (torch.arange(self.values.shape[1])[:, None])  # self.shape[0], which pyright narrows to ()
        )
        if mean:
            blocks = {"value": self.mean(), "effect": nanmean(self.effect()), "normalized": self.mean(normalized=True)}
            flat = {k: v.reshape(-1) for k, v in blocks.items()}
            rows = {"pair": ["mean"] * idx.shape[0]}
            pair_of_row = None
        else:
            blocks = {"value": self.values, "effect": self.effect(), "normalized": self.normalized()}
            flat = {k: v.reshape(-1) for k, v in blocks.items()}
            n_cells = idx.shape[0]
            pair_of_row = torch.arange(self.n_pairs).repeat_interleave(n_cells)
            idx = idx.repeat(self.n_pairs, 1)
            rows = {"pair": pair_of_row.tolist()}
        for a, axis in enumerate(self.axes):
            col = idx[:, a].tolist()
            if axis == "pos":
                rows["pos"] = [self.positions[i] for i in col]
                rows["token"] = (
                    [_token_at(self.corrupted_tokens[0], self.positions[i], self._width) for i in col]
                    if pair_of_row is None
                    else [
                        _token_at(self.corrupted_tokens[p], self.positions[i], self._width)
                        for p, i in zip(pair_of_row.tolist(), col)
                    ]
                )
            else:
                rows[axis] = [self.labels[axis][i] for i in col]
        for k, v in flat.items():
            rows[k] = v.tolist()
        df = pd.DataFrame(rows)
        df.attrs.update({"component": self.component, "metric": self.metric, "method": self.method})
        return df

    @property
    def _width(self) -> int:
        return int(self.info.get("width", max(len(t) for t in self.corrupted_tokens)))

    def __repr__(self) -> str:
        grid = " x ".join(f"{a} {n}" for a, n in zip(self.axes, self.shape))
        return (
            f"PatchResult({self.method}, component={self.component!r}, metric={self.metric!r}, "
            f"{self.n_pairs} pair(s), {grid}, clean={_fmt(self.clean)}, corrupted={_fmt(self.corrupted)})"
        )


def _fmt(t: Tensor) -> str:
    return f"{t.float().mean().item():.4g}" if t.numel() > 1 else f"{t.item():.4g}"


def nanmean(x: Tensor) -> Tensor:
    """The mean over pairs (the first axis) of ``x``, in float32, leaving NaN cells out."""
    return torch.nanmean(x.float(), dim=0)


def _token_at(tokens: list[str], position: int, width: int) -> str:
    j = position - (width - len(tokens))
    return tokens[j] if 0 <= j < len(tokens) else ""


def pos_from_end(tokens: list[list[str]]) -> bool:
    """Whether ``pos`` labels count positions from the end: the prompts differ in length."""
    return len({len(t) for t in tokens}) != 1


def pos_labels(positions: list[int], tokens: list[str], width: int, from_end: bool) -> list[str]:
    """``"token (position)"`` for each swept position, with one prompt's tokens; the position as an
    index into the padded width, or counted from the end (``-1`` = last) with ``from_end``."""
    out = []
    for p in positions:
        tok = _token_at(tokens, p, width)
        n = p - width if from_end else p
        out.append(f"{tok} ({n})" if tok else f"({n})")
    return out


def check_same_sweep(attribution: PatchResult, exact: PatchResult) -> None:
    """Raise unless the two results are the same sweep, naming the first difference."""

    def differ(what: str, a, b) -> None:
        if a != b:
            raise ValueError(
                f"the two results are not the same sweep: they differ in {what} (attribution {a!r}, exact {b!r})"
            )

    differ("component", attribution.component, exact.component)
    differ("axes", tuple(attribution.axes), tuple(exact.axes))
    differ("shape", tuple(attribution.values.shape), tuple(exact.values.shape))
    for axis in attribution.axes:
        if axis != "pos":
            differ(f"{axis}s", list(attribution.labels.get(axis, [])), list(exact.labels.get(axis, [])))
    differ("positions", list(attribution.positions), list(exact.positions))
    for i, (a, b) in enumerate(zip(attribution.corrupted_tokens, exact.corrupted_tokens)):
        differ(f"the corrupted prompt of pair {i}", a, b)
    for i, (a, b) in enumerate(zip(attribution.clean_tokens, exact.clean_tokens)):
        differ(f"the clean prompt of pair {i}", a, b)
