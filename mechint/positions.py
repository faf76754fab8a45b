"""Which cells of an activation a hook reads or writes: positions x rows.

Every read and write of the hook engine (:func:`mechint.record`, :func:`mechint.set_value` and the
other writers, the interventions of :mod:`mechint.interventions`, and any hook function or custom
:class:`~mechint.interventions.Intervention` a user writes) names its cells the same way, with two
arguments:

``positions`` (an :data:`Index`): which token positions (columns of ``[batch, pos, ...]``).
    A non-negative position is a column of the left-padded batch (so in a batch of texts of
    different lengths, position 0 is padding for the shorter ones, and the same text's tokens sit at
    other positions than when it runs alone); a negative position counts from the end of the current
    call (``-1``: every row's last token, the newest one during generation); a list, a 1-D integer
    tensor, a boolean mask over positions or a slice name several; ``None`` or ``"all"``
    (:data:`ALL_POSITIONS`) every position, padding included. :func:`from_text_start` counts
    positions from each row's first real (non-pad) token instead, so that they name the same tokens
    of a text whatever batch it lands in: ``from_text_start(slice(1, None))`` is every token but the
    first (the BOS token, where the tokenizer adds one), in a padded batch, under
    :func:`mechint.collect` and at every step of generation. (The interventions read ``None`` as
    their own default, which leaves BOS alone: see :mod:`mechint.interventions`.)

``rows`` (an :data:`Index` without :func:`from_text_start`): which inputs. The rows of the forward,
    or, inside a method that batches its inputs itself (:func:`mechint.collect`, patching), the
    caller's texts or prompt pairs (:func:`mechint.hooks.input_rows`); ``None``: all of them.

:func:`cells` turns the two, for one hook call, into :class:`Block` s of cells: the rows picked
(:class:`Picked`, which also says which per-row value each row takes) times the columns they share;
:meth:`Block.index` indexes the activation with them and :func:`per_row` picks a per-row value's
entries for a block's rows. A hook function that writes chosen cells is then::

    def fn(x, ctx):                          # x: [batch, pos, d], ctx: HookContext
        blocks = cells(positions, rows, x, ctx)
        if not blocks:
            return None                      # no cell of this call is chosen: leave x
        out = x.clone()
        for block in blocks:                 # one block, or one per group of rows with equal padding
            idx = block.index(x)             # x[idx]: [picked rows, columns, d]
            out[idx] = x[idx] * per_row(scale, block.picked, x.ndim)  # scale: [1 or n rows, 1, 1]
        return out
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Sequence, cast, overload

import torch
from torch import Tensor

from . import _validate

if TYPE_CHECKING:
    from .hooks import HookContext

__all__ = [
    "ALL_POSITIONS",
    "Block",
    "Index",
    "Picked",
    "PromptEndPositions",
    "TextPositions",
    "cells",
    "from_prompt_end",
    "from_text_start",
    "per_row",
    "select_rows",
]

ALL_POSITIONS = "all"
"""``positions="all"``: every position of every call, padding and the BOS token included. For the
hook helpers it is the same as ``None``; for the interventions, whose ``None`` default leaves the
BOS token alone, it is the spelling that acts on BOS too."""


class TextPositions:
    """Positions counted from each row's first real (non-pad) token: made by :func:`from_text_start`."""

    __slots__ = ("positions", "_index")

    def __init__(self, positions: "int | Sequence[int] | slice | Tensor | None"):
        if isinstance(positions, TextPositions):
            raise TypeError(f"{positions!r} already counts from the text start: pass it as it is")
        if isinstance(positions, str):
            raise TypeError(f"from_text_start takes integer positions, a slice, a mask or None, got {positions!r}")
        self.positions = positions
        if positions is None:
            self._index: Tensor | slice = slice(None)
        elif isinstance(positions, slice):
            try:
                bounds = [
                    None if b is None else operator.index(b) for b in (positions.start, positions.stop, positions.step)
                ]
            except TypeError:
                raise TypeError(f"slice bounds must be integers, got {positions!r}") from None
            if bounds[2] == 0:
                raise ValueError("slice step cannot be zero")
            self._index = slice(*bounds)
        else:
            self._index = _position_index(positions).cpu()

    def __repr__(self) -> str:
        return f"from_text_start({self.positions!r})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, TextPositions):
            return NotImplemented
        a, b = self._index, other._index
        if isinstance(a, slice) or isinstance(b, slice):
            return isinstance(a, slice) and isinstance(b, slice) and a == b  # a slice never equals a tensor
        return a.shape == b.shape and bool((a == b).all())

    __hash__ = None  # type: ignore[assignment]

    def columns(self, pad: int, seq_len: int, offset: int) -> Tensor | None:
        """The columns of a call (``seq_len`` columns from absolute position ``offset``) that these
        positions name in a row with ``pad`` leading pad tokens; ``None`` if none is here."""
        length = offset + seq_len - pad  # the row's text so far
        if length <= 0:
            return None
        if isinstance(self._index, slice):
            text = torch.arange(length)[self._index]
        else:
            text = torch.where(self._index < 0, self._index + length, self._index)
            text = text[(text >= 0) & (text < length)]  # before the text start: names no token
        return _local_positions(text + pad, seq_len, offset)  # absolute positions, as the engine maps them


def from_text_start(positions: "int | Sequence[int] | slice | Tensor | None") -> TextPositions:
    """Positions counted from each row's first real (non-pad) token, for any ``positions=`` of the
    hook helpers and interventions: ``0`` is the text's first token (the BOS token, where the
    tokenizer adds one), ``1`` the next; negative positions count from the end, as always, but never
    reach into the padding; a slice or boolean mask is taken over the row's text (``None``: every real
    token, no padding).

    A text's tokens are then named the same way whether it runs alone or in a left-padded batch,
    under :func:`mechint.collect` (which sorts and batches texts) and at every step of
    :meth:`Model.generate` (where the text grows). ``from_text_start(slice(1, None))`` is every token
    but the first: what an edit that must leave the BOS attention sink alone needs (the default of
    the interventions, where the tokenizer adds a BOS).

    The padding is read from the attention mask of each forward (:attr:`HookContext.pad`); where it
    is unknown (a mask that is not ``[batch, keys]``, or a decoder layer called on its own) the
    hook raises rather than guess; methods that run the layers themselves, as
    :func:`mechint.activation_patch` does, pass each row's padding (:func:`mechint.hooks.input_rows`).
    Rows with the same padding are written together, and every other cell is left bit for bit as it
    was.
    """
    return TextPositions(positions)


class PromptEndPositions:
    """Positions counted back from the end of the prompt: made by :func:`from_prompt_end`."""

    __slots__ = ("positions", "_index")

    def __init__(self, positions: "int | Sequence[int] | slice"):
        if isinstance(positions, slice):
            stop = positions.stop if positions.stop is not None else 0
            if positions.start is None or positions.step not in (None, 1):
                raise ValueError(f"from_prompt_end takes a slice with a negative start and step 1, got {positions!r}")
            index = torch.arange(operator.index(positions.start), operator.index(stop))
        elif isinstance(positions, (str, TextPositions, PromptEndPositions)) or (
            isinstance(positions, Tensor) and positions.dtype == torch.bool
        ):
            raise TypeError(f"from_prompt_end takes negative integers or a slice of them, got {positions!r}")
        elif isinstance(positions, Sequence) and len(positions) == 0:
            index = torch.zeros(0, dtype=torch.long)
        else:
            index = _position_index(positions).cpu()
        if index.numel() == 0:
            raise ValueError(f"from_prompt_end({positions!r}) names no position")
        if bool((index >= 0).any()):
            raise ValueError(
                f"from_prompt_end counts back from the prompt's end: positions must be negative (-1 is the "
                f"prompt's last token), got {positions!r}"
            )
        self.positions = positions
        self._index = index

    def __repr__(self) -> str:
        return f"from_prompt_end({self.positions!r})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, PromptEndPositions):
            return NotImplemented
        return self._index.shape == other._index.shape and bool((self._index == other._index).all())

    __hash__ = None  # type: ignore[assignment]

    def __len__(self) -> int:
        return self._index.numel()

    @property
    def offsets(self) -> list[int]:
        """The positions as negative integers, in order (``-1``: the prompt's last token)."""
        return self._index.tolist()

    def columns(self, seq_len: int, offset: int) -> Tensor | None:
        """The columns of a call that these positions name: in the prompt's forward (``offset`` 0)
        the last columns, every row alike under left padding; none in later generation steps."""
        if offset != 0:
            return None
        return _local_positions(self._index, seq_len, 0)


def from_prompt_end(positions: "int | Sequence[int] | slice") -> PromptEndPositions:
    """Positions counted back from the end of each prompt: ``-1`` is the prompt's last token.

    In a plain forward these are the same columns as the negative positions themselves (mechint
    pads on the left, so every row's text ends in the last column). The difference is in
    :meth:`Model.generate`: there a plain ``-1`` is the newest token of each step, while
    ``from_prompt_end(-1)`` stays the prompt's last token, written in the prompt's forward and in no
    later step (the KV cache keeps what was written there). The chat template tokens after a user's
    instruction are such positions: :meth:`Model.post_instruction_positions` gives them.
    """
    return PromptEndPositions(positions)


Index = int | Sequence[int] | slice | Tensor | TextPositions | PromptEndPositions | Literal["all"] | None
"""What ``positions=`` and ``rows=`` take (see the module docstring); ``rows`` takes neither
:func:`from_text_start` nor ``"all"``."""


# ----------------------------------------------------------------------------------------------
# Positions
# ----------------------------------------------------------------------------------------------


def _position_index(positions) -> Tensor:
    """``[k]`` integer positions from a list, a tensor or a boolean mask over positions (one list
    shared by every row)."""
    if isinstance(positions, str):
        raise TypeError(
            f"positions must be integers, a slice, a mask, from_text_start(...), None or 'all'; got {positions!r}"
        )
    pos = torch.as_tensor(positions).detach()
    if pos.dtype == torch.bool:
        if pos.ndim != 1:
            raise ValueError(f"a boolean position mask must be 1-D, got shape {tuple(pos.shape)}")
        pos = pos.nonzero().reshape(-1)
    elif pos.is_floating_point() or pos.is_complex():
        raise TypeError(f"positions must be integers, got dtype {pos.dtype}")
    if pos.ndim > 1:
        raise ValueError(
            f"positions must be one list shared by every row, got shape {tuple(pos.shape)}; for positions "
            "that differ by row, use one hook per row with rows="
        )
    return pos.reshape(-1).long()


@overload
def _local_positions(positions: Tensor, seq_len: int, offset: int) -> Tensor | None: ...
@overload
def _local_positions(positions: object, seq_len: int, offset: int) -> Tensor | slice | None: ...
def _local_positions(positions, seq_len: int, offset: int) -> Tensor | slice | None:
    """Map absolute positions to columns of the current call; ``None`` if none of them is here.

    Non-negative positions are absolute (counted from the start of the padded sequence); negative
    positions count from the end of the current call (``-1``: the newest token, also in generation).
    A boolean mask over positions selects where it is True.
    """
    if positions is None or (isinstance(positions, str) and positions == ALL_POSITIONS):
        return slice(None)
    if isinstance(positions, slice):
        if offset == 0:
            return positions
        idx = torch.arange(offset + seq_len)[positions]
        return _local_positions(idx, seq_len, offset)
    pos = _position_index(positions)
    local = torch.where(pos < 0, pos + seq_len, pos - offset)
    keep = (local >= 0) & (local < seq_len)
    if not bool(keep.any()):
        return None
    return local[keep]


# ----------------------------------------------------------------------------------------------
# Rows
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Picked:
    """The rows of one hook call that ``rows=`` picks.

    Attributes:
        local: those rows of the activation: a ``[k]`` long tensor of row indices, or ``slice(None)``
            for all of them.
        which: ``[k]`` for each of them, its index into per-row values (``None``: the picked rows in
            order are values ``0..n-1``); a per-row value's entry for row ``local[i]`` is
            ``value[which[i]]`` (:func:`per_row`).
        n: how many per-row values the hook needs: one per picked row (``rows`` given), else one per
            row of the forward, or per input under :func:`mechint.hooks.input_rows` (where a batch
            holds some of the caller's inputs, in its own order).
    """

    local: Tensor | slice
    which: Tensor | None
    n: int


def select_rows(rows: Index, batch: int, ctx: "HookContext") -> Picked | None:
    """The rows of a ``batch``-row activation that ``rows`` picks; ``None`` when no row of this call
    is picked.

    ``rows`` counts the caller's inputs: the rows of the forward, or, under
    :func:`mechint.hooks.input_rows` (a method that reorders or repeats its inputs), the inputs
    themselves; per-row values then have one entry per input (``rows=None``) or per picked row (in
    ``rows``' order). Raises ``IndexError`` for rows out of range.
    """
    if isinstance(rows, (TextPositions, str)):
        raise TypeError(f"rows must be integers, a slice, a boolean mask or None, got {rows!r}")
    src = ctx.inputs
    total = batch if src is None else cast(int, ctx.n_inputs)  # set with inputs (input_rows)
    if rows is None:
        return Picked(slice(None), src, total)
    if isinstance(rows, slice):
        want = torch.arange(total)[rows]
    else:
        want = torch.as_tensor(rows).cpu()
        if want.dtype == torch.bool:
            if want.numel() != total:
                raise ValueError(f"a boolean rows mask needs {total} entries, got {want.numel()}")
            want = want.nonzero()
        elif want.is_floating_point():
            raise TypeError(f"rows must be integers, got dtype {want.dtype}")
        want = want.reshape(-1).long()
        bad = want[(want < -total) | (want >= total)]
        if bad.numel():
            what = "inputs" if src is not None else "rows in this batch"
            raise IndexError(f"rows {bad.tolist()} out of range: there are {total} {what}")
        want = want % total
    if src is None:
        return Picked(want, None, want.numel())
    hit = src[:, None] == want[None, :]  # [batch, picked]
    local = hit.any(1).nonzero().reshape(-1)
    if local.numel() == 0:
        return None
    return Picked(local, hit[local].float().argmax(1), want.numel())


def per_row(value: Tensor, picked: Picked, ndim: int) -> Tensor:
    """A fixed value restricted to the picked rows' entries, when it has one entry per row: rank
    ``ndim`` (the rank of the cells it is combined with, e.g. 3 for ``[rows, pos, d]``) and a first
    axis of ``picked.n`` (one per input, or per picked row). Other values (shared, broadcast: a first
    axis of 1, or a lower rank) come back as they are. Raises ``ValueError`` for a first axis of
    another length.

    Example: ``alpha`` ``[n, 1, 1]`` (one scale per text under :func:`mechint.collect`) becomes
    ``[k, 1, 1]`` for the ``k`` rows of a block, whichever texts the batch holds."""
    if value.ndim != ndim or value.shape[0] == 1 or picked.which is None:
        return value
    if value.shape[0] != picked.n:
        raise ValueError(f"a value with {value.shape[0]} rows for {picked.n} rows (one per row, or one row for all)")
    return value[picked.which.to(value.device)]


# ----------------------------------------------------------------------------------------------
# Cells
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """Cells of one hook call that a hook reads or writes: the ``picked`` rows x the ``cols`` columns
    (the same columns for all those rows).

    Attributes:
        picked: the rows (:class:`Picked`), with their per-row value indices.
        cols: columns of the call: a ``[c]`` long tensor or a slice.
        order: ``[k]`` where these rows come among all the ``of`` rows picked in the call (``None``:
            the block is all of them): :func:`from_text_start` positions give one block per group of
            rows with equal left padding, and a read that stacks the blocks puts each row back in its
            place with it.
        of: how many rows the call picks in all (with ``order``).
    """

    picked: Picked
    cols: Tensor | slice
    order: Tensor | None = None
    of: int = 0

    def index(self, x: Tensor) -> tuple:
        """The index of these cells in ``x`` (``[batch, pos, ...]``): ``x[block.index(x)]`` is
        ``[rows, cols, ...]`` (every picked row at every column, an outer product), and
        ``out[block.index(x)] = new`` writes them; index tensors are moved to ``x``'s device."""
        rows, cols = self.picked.local, self.cols
        if isinstance(rows, Tensor) and isinstance(cols, Tensor):
            return (rows.to(x.device)[:, None], cols.to(x.device)[None, :])
        r = rows.to(x.device) if isinstance(rows, Tensor) else rows
        c = cols.to(x.device) if isinstance(cols, Tensor) else cols
        return (r, c)


def cells(positions: Index, rows: Index, x: Tensor, ctx: "HookContext", *, warn: bool = True) -> list[Block]:
    """The cells of ``x`` (the activation a hook function gets, ``[batch, pos, ...]``) that
    ``positions`` x ``rows`` name in this call, as blocks of rows that share their columns: one block
    for absolute positions, one per group of rows with equal left padding for
    :func:`from_text_start` positions; ``[]`` when no cell is here (rows not in this batch, positions
    not reached yet).

    With ``warn``, a plain forward in which the positions name no column warns, attributed to the
    caller's line (a write that does nothing is a silent bug; during generation later steps may reach
    them). Raises where :func:`from_text_start` positions meet a call whose padding is unknown
    (:meth:`HookContext.pad_or_raise`)."""
    batch, seq_len = x.shape[0], x.shape[1]
    if isinstance(positions, PromptEndPositions):
        cols = positions.columns(seq_len, ctx.offset)
        picked = select_rows(rows, batch, ctx)
        blocks = [] if cols is None or picked is None else [Block(picked, cols)]
        outside = cols is None
    elif isinstance(positions, TextPositions):
        pad = ctx.pad_or_raise(positions, batch)  # raises where the padding is unknown, in any batch
        picked = select_rows(rows, batch, ctx)
        if picked is None:
            return []
        local = torch.arange(batch)[picked.local]
        row_pad = pad[local]
        groups = row_pad.unique().tolist()
        blocks = []
        for p in groups:
            cols = positions.columns(int(p), seq_len, ctx.offset)
            if cols is None:
                continue
            if len(groups) == 1:
                blocks.append(Block(picked, cols))
                continue
            order = (row_pad == p).nonzero().reshape(-1)
            which = picked.which if picked.which is not None else torch.arange(local.numel())
            blocks.append(Block(Picked(local[order], which[order], picked.n), cols, order, local.numel()))
        outside = not blocks
    else:
        cols = _local_positions(positions, seq_len, ctx.offset)
        picked = select_rows(rows, batch, ctx)
        blocks = [] if cols is None or picked is None else [Block(picked, cols)]
        outside = cols is None
    if warn and outside and not ctx.generating:
        _validate.warn_at_caller(
            f"positions {positions!r} are outside the {seq_len} positions (from {ctx.offset}) of this "
            f"forward at {ctx.site.name}: the hook did nothing there"
        )
    return blocks
