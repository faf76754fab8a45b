"""Loaders for the data sets shipped in ``mechint/data/bundled`` (see the README there).

- MultiJail: 315 harmful prompts, parallel in 10 languages (label 1).
- XQuAD: 1190 questions, parallel in 12 languages, used as harmless requests (label 0).
- Safety pairs: both together, balanced per class, in the languages both carry.

Every text has its surrounding whitespace stripped (a trailing space changes the last token a model
sees). The files are read once per process and cached.
"""

from __future__ import annotations

import csv
import operator
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources
from typing import SupportsIndex

from ._ordering import select as _select
from .dataset import HARMFUL, HARMLESS, Dataset, Example

__all__ = [
    "MULTIJAIL_LANGUAGES",
    "XQUAD_LANGUAGES",
    "SAFETY_PAIR_LANGUAGES",
    "load_multijail",
    "load_xquad",
    "load_safety_pairs",
]

MULTIJAIL_LANGUAGES: tuple[str, ...] = ("en", "zh", "it", "vi", "ar", "ko", "th", "bn", "sw", "jv")
"""Languages of MultiJail, in the file's column order."""
XQUAD_LANGUAGES: tuple[str, ...] = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
"""Languages of XQuAD (alphabetical, as upstream lists them)."""
SAFETY_PAIR_LANGUAGES: tuple[str, ...] = ("en", "zh", "vi", "ar", "th")
"""Languages carried by both MultiJail and XQuAD: the default of :func:`load_safety_pairs`."""

_BUNDLED = "bundled"


def _read_bundled_csv(*parts: str) -> list[dict[str, str]]:
    """Rows of a bundled CSV as dicts; ``utf-8-sig`` drops a leading byte-order mark from the header."""
    ref = resources.files(__package__).joinpath(_BUNDLED, *parts)
    with ref.open("r", encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@lru_cache(maxsize=None)
def _multijail_table() -> tuple[tuple[str, dict[str, str]], ...]:
    """(item id, {language: text}) per MultiJail prompt, in file order."""
    rows = _read_bundled_csv("multijail", "MultiJail.csv")
    return tuple(
        (f"multijail-{row['id'].strip()}", {lang: row[lang].strip() for lang in MULTIJAIL_LANGUAGES}) for row in rows
    )


@lru_cache(maxsize=None)
def _xquad_table() -> tuple[tuple[str, dict[str, str]], ...]:
    """(item id, {language: question}) per XQuAD question, in upstream file order."""
    rows = _read_bundled_csv("xquad", "xquad_questions.csv")
    return tuple((f"xquad-{row['id'].strip()}", {lang: row[lang].strip() for lang in XQUAD_LANGUAGES}) for row in rows)


def _resolve_languages(languages: str | Iterable[str] | None, available: Sequence[str], name: str) -> list[str]:
    """Requested languages in the caller's order (all of ``available`` for None), validated."""
    if languages is None:
        return list(available)
    if not isinstance(languages, (str, Iterable)):
        raise TypeError(
            f"languages must be a code such as 'en' or a list of codes, got {languages!r} "
            f"({type(languages).__name__}); available for {name}: {sorted(available)}"
        )
    requested = [languages] if isinstance(languages, str) else list(languages)
    bad = [lang for lang in requested if not isinstance(lang, str)]
    if bad:
        raise TypeError(
            f"language codes are strings such as 'en', got {bad[0]!r}; available for {name}: {sorted(available)}"
        )
    if not requested:
        raise ValueError(f"no languages requested for {name}; available: {sorted(available)}")
    unknown = [lang for lang in requested if lang not in available]
    if unknown:
        raise ValueError(f"unknown language(s) {unknown} for {name}; available: {sorted(available)}")
    return list(dict.fromkeys(requested))  # drop repeats, keep order


def _as_count(value: object) -> int | None:
    """``value`` as a plain int when it is an integer (Python, numpy or 0-d torch; not a bool), else None."""
    if hasattr(value, "tolist"):  # numpy / torch scalar -> Python scalar
        value = value.tolist()
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _build(
    table: Sequence[tuple[str, dict[str, str]]],
    item_ids: Sequence[str],
    languages: Sequence[str],
    label: int,
    source: str,
) -> list[Example]:
    """Language-major rows: every selected item in ``item_ids`` order, for each language in turn."""
    by_id = dict(table)
    return [
        Example(text=by_id[i][lang], label=label, language=lang, item_id=i, source=source)
        for lang in languages
        for i in item_ids
    ]


def load_multijail(languages: str | Iterable[str] | None = None) -> Dataset:
    """MultiJail's harmful prompts (label 1), parallel across languages.

    Args:
        languages: codes from :data:`MULTIJAIL_LANGUAGES` (one string or several); None = all ten.

    Returns:
        315 rows per language, language-major (all items in language 1, then language 2, ...), items in
        file order; item ids ``"multijail-<id>"`` are shared by the translations of one prompt.

    Raises:
        ValueError: on an unknown language (the message lists the available ones).
    """
    langs = _resolve_languages(languages, MULTIJAIL_LANGUAGES, "MultiJail")
    table = _multijail_table()
    return Dataset(_build(table, [i for i, _ in table], langs, HARMFUL, "multijail"))


def load_xquad(languages: str | Iterable[str] | None = None, n: SupportsIndex | None = None) -> Dataset:
    """XQuAD questions used as harmless requests (label 0), parallel across languages.

    Args:
        languages: codes from :data:`XQUAD_LANGUAGES` (one string or several); None = all twelve.
        n: keep only the first ``n`` items of a fixed pseudo-random order (the same items in every
            language, the same on every machine). Upstream file order groups questions by Wikipedia
            article, so a plain "first n" would be all about one topic; this order mixes the 48
            articles. None = all 1190. Any integer type (e.g. ``numpy.int64``) is accepted, bools are not.

    Returns:
        ``n`` (or 1190) rows per language, language-major, items in file order; item ids
        ``"xquad-<squad id>"``.

    Raises:
        ValueError: on an unknown language, or ``n`` not in 1..1190.
    """
    langs = _resolve_languages(languages, XQUAD_LANGUAGES, "XQuAD")
    table = _xquad_table()
    ids = [i for i, _ in table]
    if n is not None:
        count = _as_count(n)
        if count is None or not 1 <= count <= len(ids):
            raise ValueError(f"n must be an int between 1 and {len(ids)} (XQuAD has {len(ids)} items), got {n!r}")
        ids = _select(ids, count, "xquad")
    return Dataset(_build(table, ids, langs, HARMLESS, "xquad"))


def load_safety_pairs(
    languages: str | Iterable[str] | None = None, n_per_class: SupportsIndex | None = None, seed: int = 0
) -> Dataset:
    """Harmful (MultiJail) and harmless (XQuAD) requests, balanced, in languages both data sets carry.

    The same ``n_per_class`` items of each class are taken in every language, chosen by ``seed``, so
    per-language directions and probes are computed on translations of the same content and classes
    are balanced.

    Args:
        languages: codes from :data:`SAFETY_PAIR_LANGUAGES` (en, zh, vi, ar, th); None = all five.
        n_per_class: items per class (any integer type, not a bool); None = as many as the smaller class
            has (315, all of MultiJail).
        seed: selects which items are taken (deterministic for a seed).

    Returns:
        ``2 * n_per_class`` rows per language, language-major; within a language the harmful items
        come first, then the harmless ones, each in file order.

    Raises:
        ValueError: on an unknown language, or ``n_per_class`` not in 1..315.
    """
    langs = _resolve_languages(languages, SAFETY_PAIR_LANGUAGES, "safety pairs (MultiJail + XQuAD)")
    harmful, harmless = _multijail_table(), _xquad_table()
    limit = min(len(harmful), len(harmless))
    count = limit if n_per_class is None else _as_count(n_per_class)
    if count is None or not 1 <= count <= limit:
        raise ValueError(
            f"n_per_class must be an int between 1 and {limit} (MultiJail has {len(harmful)} harmful items, "
            f"XQuAD {len(harmless)} harmless ones), got {n_per_class!r}"
        )
    harmful_ids = _select([i for i, _ in harmful], count, seed)
    harmless_ids = _select([i for i, _ in harmless], count, seed)
    rows: list[Example] = []
    for lang in langs:
        rows += _build(harmful, harmful_ids, [lang], HARMFUL, "multijail")
        rows += _build(harmless, harmless_ids, [lang], HARMLESS, "xquad")
    return Dataset(rows)
