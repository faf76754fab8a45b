"""The record of a multiple-choice item: what :mod:`mechint.eval` scores and :func:`load_xcopa` loads.

An :class:`MCItem` holds the text a question is asked about (``context``), the question, its options
in the order shown, the index of the correct one, its language and an item id shared by its
translations (as :class:`~mechint.data.Example`'s is). It holds no labels ("A", "B") and no
instruction: those belong to the prompt format (:func:`mechint.eval.mcqa_prompt`), so one item can be
shown with letters, with digits, or with its options permuted.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, replace

__all__ = ["MCItem"]


@dataclass(frozen=True)
class MCItem:
    """One multiple-choice item.

    Attributes:
        question: what is asked (``"What was the cause of this?"``), a non-empty string.
        options: the options' texts in the order they are shown; two or more non-empty strings
            (a list is stored as a tuple).
        answer: the index of the correct option in ``options`` (``0 <= answer < len(options)``).
        language: language code of the item's text, e.g. ``"et"``.
        item_id: identifies the item; translations of one item share it (``"xcopa-test-007"``).
        context: text shown before the question (XCOPA's premise); ``""`` for none.
        source: where the item comes from (``"xcopa"``, a file name); ``""`` for unsaid.
    """

    question: str
    options: Sequence[str]
    answer: int
    language: str
    item_id: str
    context: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        where = f"MCItem {self.item_id!r}" if isinstance(self.item_id, str) and self.item_id else "MCItem"
        if not isinstance(self.question, str) or not self.question.strip():
            raise ValueError(f"{where}: question must be a non-empty string, got {self.question!r}")
        if isinstance(self.options, (str, bytes)) or not isinstance(self.options, Sequence):
            raise TypeError(f"{where}: options must be a list of strings, got {self.options!r}")
        options = tuple(self.options)
        bad = [i for i, o in enumerate(options) if not isinstance(o, str) or not o.strip()]
        if bad:
            raise ValueError(f"{where}: option {bad[0]} is not a non-empty string: {options[bad[0]]!r}")
        if len(options) < 2:
            raise ValueError(
                f"{where} has {len(options)} option{'' if len(options) == 1 else 's'}: a multiple-choice item needs "
                "at least two (with one, every scoring method picks it with probability 1)"
            )
        object.__setattr__(self, "options", options)
        if isinstance(self.answer, bool):
            raise TypeError(f"{where}: answer must be an option index (an int), got {self.answer!r}")
        try:
            answer = operator.index(self.answer)
        except TypeError:
            raise TypeError(f"{where}: answer must be an option index (an int), got {self.answer!r}") from None
        if not 0 <= answer < len(options):
            raise ValueError(
                f"{where}: answer {answer} is not an option index: there are options 0..{len(options) - 1}"
            )
        object.__setattr__(self, "answer", answer)
        for name in ("language", "item_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"MCItem: {name} must be a non-empty string, got {value!r}")
        for name in ("context", "source"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{where}: {name} must be a string, got {getattr(self, name)!r}")

    @property
    def n_options(self) -> int:
        return len(self.options)

    def permuted(self, order: Sequence[int]) -> MCItem:
        """The item with its options shown in ``order``: position ``j`` shows ``options[order[j]]``
        (``order`` a permutation of ``range(n_options)``); the answer index follows its option."""
        order = [operator.index(i) for i in order]
        if sorted(order) != list(range(len(self.options))):
            raise ValueError(
                f"order must be a permutation of 0..{len(self.options) - 1} for item {self.item_id!r}, got {order}"
            )
        return replace(self, options=tuple(self.options[i] for i in order), answer=order.index(self.answer))
