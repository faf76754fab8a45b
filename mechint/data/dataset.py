"""The record and container types every other layer consumes.

An :class:`Example` is one text in one language with a harmful/harmless label and an *item id* that is
shared by all translations of the same underlying prompt. A :class:`Dataset` is an immutable, ordered
sequence of Examples with column views (``texts``, ``labels``, ...), filtering, concatenation and a
content fingerprint used as a cache key for activations computed over it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, overload

from .._suggest import nearest

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

__all__ = ["HARMFUL", "HARMLESS", "Example", "Dataset"]

HARMFUL: int = 1
"""Label of harmful / unsafe / toxic texts."""
HARMLESS: int = 0
"""Label of harmless / safe / benign texts."""


def _nearest_hint(unknown: Iterable[str], present: Sequence[str]) -> str:
    """``"; nearest: ..."`` listing the present names closest to the unknown ones (case-insensitive), or ``""``."""
    near: dict[str, None] = {}
    for name in unknown:
        near.update(dict.fromkeys(nearest(name, present, n=3, cutoff=0.6, key=lambda s: str(s).lower())))
    return f"; nearest: {list(near)}" if near else ""


@dataclass(frozen=True)
class Example:
    """One text with its label, language and item id.

    Attributes:
        text: the prompt or sentence, as fed to a model.
        label: 1 = harmful (:data:`HARMFUL`), 0 = harmless (:data:`HARMLESS`).
        language: language code, e.g. ``"en"``, ``"zh"``.
        item_id: identifies the underlying item; translations of one item share it, and no two
            distinct items share one (e.g. ``"multijail-0"``, ``"xquad-56beb4343aeaaa14008c925b"``).
            Splits are made over item ids so that a sentence never leaks into the test set in
            another language.
        source: where the example comes from (``"multijail"``, ``"xquad"``, a file name).
        chat: the text is a chat-formatted prompt (made by :meth:`mechint.Model.chat_prompts`), not a
            plain instruction; a study that feeds plain text to a chat model warns.
    """

    text: str
    label: int
    language: str
    item_id: str
    source: str
    chat: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError(f"Example {self.item_id!r} ({self.language}): text must be a non-empty string")
        # Accept ints equal to 0/1 (incl. numpy ints and bools) and store a plain int, so that equality
        # and fingerprints do not depend on the integer type the caller used.
        if not hasattr(self.label, "__index__") or self.label.__index__() not in (HARMLESS, HARMFUL):
            raise ValueError(f"Example {self.item_id!r}: label must be 0 (harmless) or 1 (harmful), got {self.label!r}")
        object.__setattr__(self, "label", int(self.label.__index__()))
        for name in ("language", "item_id", "source"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"Example: {name} must be a non-empty string, got {value!r}")
        if not isinstance(self.chat, bool):
            raise TypeError(f"Example: chat must be True or False, got {self.chat!r}")


class _Languages(list):
    """The list :attr:`Dataset.languages` returns; calling it is the old method spelling."""

    def __call__(self) -> list[str]:
        from .._validate import warn_at_caller

        warn_at_caller(
            "Dataset.languages is a property now: write ds.languages, not ds.languages()", DeprecationWarning
        )
        return list(self)


_RECORD_FIELDS = ("text", "label", "language", "item_id", "source")


class Dataset(Sequence[Example]):
    """An immutable, ordered sequence of :class:`Example` records.

    Row order is kept everywhere (filtering, splitting), so activations collected over a Dataset can be
    matched back to it row by row. Column views return fresh lists; ``+`` concatenates.

    Args:
        examples: the records, in order.
    """

    __slots__ = ("_examples", "_fingerprint")

    def __init__(self, examples: Iterable[Example] = ()) -> None:
        items = tuple(examples)
        for i, ex in enumerate(items):
            if not isinstance(ex, Example):
                raise TypeError(f"Dataset row {i} is a {type(ex).__name__}, expected an Example")
        self._examples: tuple[Example, ...] = items
        self._fingerprint: str | None = None

    @classmethod
    def from_records(cls, records: Iterable[dict], *, source: str = "records") -> Dataset:
        """A Dataset from mappings with keys ``text``, ``label`` (0/1), ``language``, and optionally
        ``item_id`` (default ``"<source>:row-<i>"``: each row its own item, so splits cannot pair
        translations; give ids to keep them together) and ``source``. Other keys are refused by name."""
        examples = []
        for i, record in enumerate(records):
            if not hasattr(record, "keys"):
                raise TypeError(
                    f"record {i} is a {type(record).__name__}, expected a mapping with keys {_RECORD_FIELDS}"
                )
            extra = sorted(set(record) - set(_RECORD_FIELDS), key=str)
            missing = [k for k in ("text", "label", "language") if k not in record]
            if extra or missing:
                raise ValueError(
                    f"record {i}: "
                    + "; ".join(
                        filter(
                            None,
                            [
                                f"missing {missing}" if missing else "",
                                f"unknown keys {extra}{_nearest_hint(map(str, extra), _RECORD_FIELDS)}"
                                if extra
                                else "",
                            ],
                        )
                    )
                    + f" (keys: {', '.join(_RECORD_FIELDS)}; item_id and source are optional)"
                )
            src = record.get("source", source)
            examples.append(
                Example(
                    record["text"], record["label"], record["language"], record.get("item_id", f"{src}:row-{i}"), src
                )
            )
        return cls(examples)

    @classmethod
    def from_pandas(
        cls,
        frame,
        *,
        text: str = "text",
        label: str = "label",
        language: str = "language",
        item_id: str | None = "item_id",
        source: str = "pandas",
    ) -> Dataset:
        """A Dataset from a pandas DataFrame, one row per text; the arguments name its columns
        (``item_id=None`` or a missing ``item_id`` column: each row its own item)."""
        columns = {"text": text, "label": label, "language": language}
        if item_id is not None and item_id in frame.columns:
            columns["item_id"] = item_id
        absent = [c for c in columns.values() if c not in frame.columns]
        if absent:
            raise ValueError(
                f"columns {absent} not in the DataFrame; its columns: {list(frame.columns)}"
                f"{_nearest_hint(map(str, absent), [str(c) for c in frame.columns])}"
            )
        picked = frame[list(columns.values())].rename(columns={v: k for k, v in columns.items()})
        if "item_id" in picked:
            picked["item_id"] = picked["item_id"].astype(str)
        return cls.from_records(picked.to_dict("records"), source=source)

    # --- sequence protocol -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._examples)

    @overload
    def __getitem__(self, index: int) -> Example: ...
    @overload
    def __getitem__(self, index: slice | Sequence[int] | Sequence[bool] | torch.Tensor | np.ndarray) -> Dataset: ...

    def __getitem__(self, index):  # type: ignore[override]
        """An Example for an int; a Dataset for a slice, a sequence of int indices (e.g. a numpy array) or
        a boolean mask of length ``len(self)`` (a list of bools, a numpy / torch bool array)."""
        if isinstance(index, slice):
            return Dataset(self._examples[index])
        if str(getattr(index, "dtype", "")) in ("bool", "torch.bool") and getattr(index, "ndim", 0) == 1:
            if len(index) != len(self._examples):  # a boolean mask, also an empty one
                raise IndexError(
                    f"boolean mask has length {len(index)}, but the Dataset has {len(self._examples)} rows"
                )
            return Dataset(ex for ex, keep in zip(self._examples, index.tolist()) if keep)
        if hasattr(index, "tolist"):  # numpy / torch scalar or array of indices
            index = index.tolist()
        if isinstance(index, bool):
            raise TypeError("Dataset index must be an int, a slice, a sequence of ints or a boolean mask, not a bool")
        if hasattr(index, "__index__"):
            return self._examples[self._row(index.__index__())]
        if isinstance(index, (str, bytes)) or not isinstance(index, Iterable):
            raise TypeError(f"Dataset indices must be int, slice or a sequence of ints, not {type(index).__name__}")
        items = [i.tolist() if hasattr(i, "tolist") else i for i in index]  # numpy / torch elements
        is_bool = [isinstance(i, bool) for i in items]
        if items and all(is_bool):  # a boolean mask, as in numpy: keep the rows where it is True
            if len(items) != len(self._examples):
                raise IndexError(
                    f"boolean mask has length {len(items)}, but the Dataset has {len(self._examples)} rows"
                )
            return Dataset(ex for ex, keep in zip(self._examples, items) if keep)
        if any(is_bool):
            raise TypeError(
                "Dataset index mixes bools and ints; pass either integer indices or a boolean mask of length "
                f"{len(self._examples)}"
            )
        rows = []
        for i in items:
            if not hasattr(i, "__index__"):
                raise TypeError(f"Dataset indices must be ints, got {i!r} ({type(i).__name__})")
            rows.append(self._examples[self._row(i.__index__())])
        return Dataset(rows)

    def _row(self, i: int) -> int:
        n = len(self._examples)
        if not -n <= i < n:
            raise IndexError(
                f"row {i} is out of range: the Dataset has {n} rows"
                + (f" (0..{n - 1}, or negative from the end)" if n else "")
            )
        return i

    def __iter__(self) -> Iterator[Example]:
        return iter(self._examples)

    def __add__(self, other: object) -> Dataset:
        if not isinstance(other, Dataset):
            return NotImplemented
        return Dataset(self._examples + other._examples)

    def __radd__(self, other: object) -> Dataset:
        # Lets ``sum(datasets, Dataset())`` and ``sum(datasets)`` (start value 0) work.
        if isinstance(other, int) and other == 0:
            return self
        if isinstance(other, Dataset):
            return Dataset(other._examples + self._examples)
        return NotImplemented

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dataset):
            return NotImplemented
        return self._examples == other._examples

    __hash__ = None  # type: ignore[assignment]  # equality is by content; key caches with fingerprint()

    def __repr__(self) -> str:
        if not self._examples:
            return "Dataset(empty)"
        labels = self.labels
        return (
            f"Dataset(n={len(self)}, items={self.n_items}, languages={self.languages}, "
            f"harmful={sum(labels)}, harmless={len(labels) - sum(labels)})"
        )

    # --- column views ------------------------------------------------------------------------------
    @property
    def examples(self) -> tuple[Example, ...]:
        """The records as a tuple."""
        return self._examples

    @property
    def texts(self) -> list[str]:
        """Texts, one per row."""
        return [ex.text for ex in self._examples]

    @property
    def labels(self) -> list[int]:
        """Labels (1 harmful, 0 harmless), one per row."""
        return [ex.label for ex in self._examples]

    @property
    def row_languages(self) -> list[str]:
        """Language codes, one per row (``languages`` gives the sorted unique codes instead)."""
        return [ex.language for ex in self._examples]

    @property
    def item_ids(self) -> list[str]:
        """Item ids, one per row."""
        return [ex.item_id for ex in self._examples]

    @property
    def sources(self) -> list[str]:
        """Sources, one per row."""
        return [ex.source for ex in self._examples]

    @property
    def chat(self) -> bool:
        """Whether every text is a chat-formatted prompt (:meth:`mechint.Model.chat_prompts`)."""
        return bool(self._examples) and all(ex.chat for ex in self._examples)

    @property
    def n_items(self) -> int:
        """Number of distinct item ids (an item counts once however many languages it appears in)."""
        return len({ex.item_id for ex in self._examples})

    def label_tensor(self) -> torch.Tensor:
        """Labels as a ``torch.long`` tensor of shape ``(len(self),)``, for probes and metrics."""
        import torch

        return torch.tensor(self.labels, dtype=torch.long)

    @property
    def languages(self) -> list[str]:
        """Sorted unique language codes present. (Calling it, ``ds.languages()``, still works for one
        release, with a DeprecationWarning: it was a method beside the column properties.)"""
        return _Languages(sorted({ex.language for ex in self._examples}))

    def unique_item_ids(self) -> list[str]:
        """Distinct item ids in order of first appearance."""
        return list(dict.fromkeys(ex.item_id for ex in self._examples))

    # --- selection ---------------------------------------------------------------------------------
    def filter(
        self,
        language: str | Iterable[str] | None = None,
        label: int | None = None,
        item_ids: Iterable[str] | None = None,
        source: str | None = None,
    ) -> Dataset:
        """Rows matching every given criterion, in their original order.

        Args:
            language: one code or several (at least one); each must be present (a typo otherwise silently
                yields nothing), else ValueError naming the languages present.
            label: 0 or 1.
            item_ids: keep only these items (all their languages); each must be present, else
                ValueError naming the unknown ids and the nearest present ones. An empty collection
                keeps nothing.
            source: keep only this source; it must be present, else ValueError listing the sources.
        """
        rows: Iterable[Example] = self._examples
        if language is not None:
            wanted = {language} if isinstance(language, str) else set(language)
            if not wanted:
                raise ValueError(f"no languages requested; languages present: {self.languages}")
            missing = sorted(wanted - set(self.languages))
            if missing:
                raise ValueError(
                    f"language(s) {missing} not in this dataset; languages present: {self.languages}"
                    f"{_nearest_hint(missing, self.languages)}"
                )
            rows = [ex for ex in rows if ex.language in wanted]
        if label is not None:
            if isinstance(label, bool) or label not in (HARMLESS, HARMFUL):
                raise ValueError(f"label must be 0 (harmless) or 1 (harmful), got {label!r}")
            rows = [ex for ex in rows if ex.label == label]
        if item_ids is not None:
            keep = {item_ids} if isinstance(item_ids, str) else set(item_ids)
            present = self.unique_item_ids()
            unknown = sorted(keep - set(present), key=str)
            if unknown:
                raise ValueError(
                    f"{len(unknown)} item id(s) not in this dataset, e.g. {unknown[:5]}"
                    f"{_nearest_hint(unknown[:5], present)}"
                )
            rows = [ex for ex in rows if ex.item_id in keep]
        if source is not None:
            sources = sorted(set(self.sources))
            if source not in sources:
                raise ValueError(
                    f"source {source!r} not in this dataset; sources present: {sources}"
                    f"{_nearest_hint([source], sources)}"
                )
            rows = [ex for ex in rows if ex.source == source]
        return Dataset(rows)

    def ensure_nonempty(self, what: str = "this operation") -> Dataset:
        """Return self, or raise ValueError saying that ``what`` needs data, if there are no rows."""
        if not self._examples:
            raise ValueError(f"{what} needs a non-empty Dataset, got an empty one (0 rows)")
        return self

    # --- identity ----------------------------------------------------------------------------------
    def fingerprint(self) -> str:
        """Stable sha256 hex digest of the rows' (text, label, language, item_id), in order.

        Identical content in the same order gives the same digest across processes and machines, so it
        can key a cache of activations; any change to a text, label, language, id or the row order
        changes it. ``source`` is not included.
        """
        if self._fingerprint is None:
            h = hashlib.sha256(b"mechint.Dataset/v1\n")
            for ex in self._examples:
                row = json.dumps([ex.text, ex.label, ex.language, ex.item_id], ensure_ascii=False)
                h.update(row.encode("utf-8"))
                h.update(b"\n")
            self._fingerprint = h.hexdigest()
        return self._fingerprint
