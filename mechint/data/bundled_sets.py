"""Loaders for the data sets shipped in ``mechint/data/bundled`` (see the README there).

- MultiJail: 315 harmful prompts, parallel in 10 languages (label 1).
- XQuAD: 1190 questions, parallel in 12 languages, used as harmless requests (label 0).
- Safety pairs: both together, balanced per class, in the languages both carry.
- PolyRefuse: harmful (label 1) and harmless (label 0) instructions in 14 languages, in train / val /
  test splits, parallel across languages except where the data sheet says otherwise.
- XCOPA: 600 two-option causal-reasoning items (val 100, test 500), parallel in 11 languages, as
  multiple-choice items (:class:`MCItem`) rather than labelled texts.

Every text has its surrounding whitespace stripped (a trailing space changes the last token a model
sees). The files are read once per process and cached.
"""

from __future__ import annotations

import csv
import json
import operator
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any, SupportsIndex

from .._suggest import did_you_mean, nearest
from ._ordering import select as _select
from .dataset import HARMFUL, HARMLESS, Dataset, Example
from .multiple_choice import MCItem

__all__ = [
    "MULTIJAIL_LANGUAGES",
    "XQUAD_LANGUAGES",
    "SAFETY_PAIR_LANGUAGES",
    "POLYREFUSE_LANGUAGES",
    "POLYREFUSE_SPLITS",
    "load_multijail",
    "load_xquad",
    "load_safety_pairs",
    "load_polyrefuse",
    "polyrefuse_categories",
    "XCOPA_LANGUAGES",
    "XCOPA_SPLITS",
    "XCOPA_QUESTIONS",
    "load_xcopa",
]

MULTIJAIL_LANGUAGES: tuple[str, ...] = ("en", "zh", "it", "vi", "ar", "ko", "th", "bn", "sw", "jv")
"""Languages of MultiJail, in the file's column order."""
XQUAD_LANGUAGES: tuple[str, ...] = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
"""Languages of XQuAD (alphabetical, as upstream lists them)."""
SAFETY_PAIR_LANGUAGES: tuple[str, ...] = ("en", "zh", "vi", "ar", "th")
"""Languages carried by both MultiJail and XQuAD: the default of :func:`load_safety_pairs`."""
POLYREFUSE_LANGUAGES: tuple[str, ...] = (
    "ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "ru", "th", "yo", "zh"
)  # fmt: skip
"""Languages of PolyRefuse (alphabetical, as upstream lists them). Chinese has no harmless test split,
and its harmless train / val rows are items of their own (see :func:`load_polyrefuse`)."""
POLYREFUSE_SPLITS: tuple[str, ...] = ("train", "val", "test")
"""Splits of PolyRefuse, as upstream made them (Arditi et al.'s refusal-direction splits, translated)."""
_POLYREFUSE_KINDS: dict[str, int] = {"harmful": HARMFUL, "harmless": HARMLESS}
XCOPA_LANGUAGES: tuple[str, ...] = ("et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh")
"""Languages of XCOPA (alphabetical, as upstream lists them). English is not among them: XCOPA is the
translation of the English COPA, which is not bundled."""
XCOPA_SPLITS: tuple[str, ...] = ("val", "test")
"""Splits of XCOPA: 100 validation and 500 test items (upstream has no training split)."""
XCOPA_QUESTIONS: Mapping[str, str] = MappingProxyType(
    {"cause": "What was the cause of this?", "effect": "What happened as a result?"}
)
"""The question :func:`load_xcopa` asks for each of XCOPA's two question types, in English in every
language (COPA's own wording, "What was the CAUSE of this?" / "What happened as a RESULT?", in
sentence case); the premise and the options are in the item's language."""

_BUNDLED = "bundled"


def _bundled(*parts: str):
    """The bundled file at ``parts`` (one ``/`` per part: Python 3.10's ``Traversable.joinpath`` takes one)."""
    ref = resources.files(__name__.rpartition(".")[0]) / _BUNDLED
    for part in parts:
        ref = ref / part
    return ref


def _read_bundled_csv(*parts: str) -> list[dict[str, str]]:
    """Rows of a bundled CSV as dicts; ``utf-8-sig`` drops a leading byte-order mark from the header."""
    ref = _bundled(*parts)
    # typeshed's Traversable.open lacks newline=, which Path.open and zipfile.Path.open take
    with ref.open("r", encoding="utf-8-sig", newline="") as f:  # pyright: ignore[reportCallIssue]
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
        near = nearest(unknown[0], available, n=1, key=lambda s: str(s).lower())
        raise ValueError(
            f"unknown language(s) {unknown} for {name}; available: {sorted(available)}{did_you_mean(near)}"
        )
    return list(dict.fromkeys(requested))  # drop repeats, keep order


def _as_count(value: Any) -> int | None:
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


@lru_cache(maxsize=None)
def _polyrefuse_table(kind: str, split: str) -> tuple[dict[str, tuple[tuple[str, str], ...]], dict[str, str]]:
    """({language: ((item id, text), ...)}, {item id: English category}) of one (kind, split).

    The parallel table's rows are items shared by its languages (``polyrefuse-<kind>-<split>-<row>``);
    a language stored in a table of its own (``<kind>_<split>_<lang>.csv``: Chinese harmless train /
    val, a different sample) gets ids of its own (``polyrefuse-<kind>-<split>-<lang>-<row>``). A
    language in neither (Chinese harmless test) is absent from the dict.
    """
    rows = _read_bundled_csv("polyrefuse", f"{kind}_{split}.csv")
    per_language: dict[str, tuple[tuple[str, str], ...]] = {}
    ids = [f"polyrefuse-{kind}-{split}-{int(row['row']):04d}" for row in rows]
    for lang in POLYREFUSE_LANGUAGES:
        if lang in rows[0]:
            per_language[lang] = tuple((i, row[lang].strip()) for i, row in zip(ids, rows))
        elif _bundled("polyrefuse", f"{kind}_{split}_{lang}.csv").is_file():
            own = _read_bundled_csv("polyrefuse", f"{kind}_{split}_{lang}.csv")
            per_language[lang] = tuple(
                (f"polyrefuse-{kind}-{split}-{lang}-{int(row['row']):04d}", row[lang].strip()) for row in own
            )
    categories = {i: row["category"] for i, row in zip(ids, rows) if row.get("category")}
    return per_language, categories


def _polyrefuse_kinds(kind: object) -> list[str]:
    """Requested kinds in the caller's order, validated, repeats dropped."""
    from .._validate import choice

    if not isinstance(kind, (str, Iterable)):
        raise TypeError(f"kind must be 'harmful', 'harmless' or a list of them, got {kind!r} ({type(kind).__name__})")
    requested = [kind] if isinstance(kind, str) else list(kind)
    if not requested:
        raise ValueError(f"no kind requested for PolyRefuse; kinds: {list(_POLYREFUSE_KINDS)}")
    return list(dict.fromkeys(choice("kind", k, _POLYREFUSE_KINDS) for k in requested))


def load_polyrefuse(
    split: str = "train",
    *,
    languages: str | Iterable[str] | None = None,
    kind: str | Sequence[str] = ("harmful", "harmless"),
    n_per_class: SupportsIndex | None = None,
    seed: int = 0,
) -> Dataset:
    """PolyRefuse: harmful (label 1) and harmless (label 0) instructions, in one of its splits.

    Both classes are requests in the imperative or as questions, so a harmful-minus-harmless contrast
    is one of harm rather than of form (unlike MultiJail against XQuAD's questions). Texts are machine
    translations of English data sets; see the data sheet (``mechint/data/bundled/README.md``) for
    their sources, sizes and known defects.

    Item ids are ``"polyrefuse-<kind>-<split>-<row>"`` (e.g. ``polyrefuse-harmful-train-0042``),
    shared by the translations of upstream row ``row``, so :func:`split_by_item` keeps a translation
    with its original. Two upstream gaps:

    - Chinese harmless train / val rows are a different sample of instructions from the other
      languages' rows, so they are items of their own, ``"polyrefuse-harmless-<split>-zh-<row>"``:
      never the id of another language's (different) item.
    - There is no Chinese harmless test split. Asking for the test split with Chinese and the harmless
      kind warns that the Chinese rows are harmful only; asking for that with Chinese as the only
      language raises, since the result would lack the harmless class altogether.

    The English category of harmful val / test items is kept: :func:`polyrefuse_categories`.

    Args:
        split: one of :data:`POLYREFUSE_SPLITS` (``"train"``, ``"val"``, ``"test"``).
        languages: codes from :data:`POLYREFUSE_LANGUAGES` (one string or several); None = all.
        kind: ``"harmful"``, ``"harmless"``, or both (the default), in the order wanted within a language.
        n_per_class: items per kind, the same items in every language, chosen by ``seed`` (any integer
            type, not a bool); None = every item of the split, whose two kinds may differ in size.
        seed: selects which items ``n_per_class`` takes (deterministic for a seed).

    Returns:
        Language-major rows (every row of language 1, then language 2, ...); within a language the
        kinds in ``kind`` order, each in upstream row order. ``source`` is ``"polyrefuse"``.

    Raises:
        ValueError: on an unknown split, language or kind (the message lists the valid ones and the
            nearest spelling), ``n_per_class`` out of range for the kinds asked, or the Chinese-only
            harmless test request described above.
    """
    from .._validate import choice, warn_at_caller

    split = choice("split", split, POLYREFUSE_SPLITS)
    langs = _resolve_languages(languages, POLYREFUSE_LANGUAGES, "PolyRefuse")
    kinds = _polyrefuse_kinds(kind)
    tables = {k: _polyrefuse_table(k, split)[0] for k in kinds}
    for k in kinds:
        lacking = [lang for lang in langs if lang not in tables[k]]
        if not lacking:
            continue
        having = [lang for lang in POLYREFUSE_LANGUAGES if lang in tables[k]]
        gap = f"PolyRefuse has no {k} {split} split in {', '.join(lacking)} (upstream never translated it)"
        if len(lacking) == len(langs):
            raise ValueError(
                f"{gap}, so this request would have no {k} rows at all; languages with {k} {split}: {having}"
            )
        warn_at_caller(
            f"{gap}: those rows are missing from this data set. Leave {', '.join(lacking)} out of languages, "
            f"or leave {k!r} out of kind, to silence this."
        )
    sizes = {k: len(next(iter(tables[k].values()))) for k in kinds}
    limit = min(sizes.values())
    count = None if n_per_class is None else _as_count(n_per_class)
    if n_per_class is not None and (count is None or not 1 <= count <= limit):
        have = ", ".join(f"{n} {k}" for k, n in sizes.items())
        raise ValueError(
            f"n_per_class must be an int between 1 and {limit} (PolyRefuse {split} has {have} items), "
            f"got {n_per_class!r}"
        )
    rows: list[Example] = []
    for lang in langs:
        for k in kinds:
            items = tables[k].get(lang, ())
            if count is not None:
                chosen = set(_select([i for i, _ in items], count, seed))
                items = tuple(item for item in items if item[0] in chosen)
            rows += [Example(text, _POLYREFUSE_KINDS[k], lang, i, "polyrefuse") for i, text in items]
    return Dataset(rows)


def polyrefuse_categories(split: str = "test") -> dict[str, str]:
    """The English category of each harmful PolyRefuse item of ``split``: {item id: category}.

    :class:`Example` has no field for it, so it is looked up by item id, e.g.
    ``[cats[i] for i in ds.filter(label=1).item_ids]``. Upstream names categories in the scheme of the
    set an item came from (JailbreakBench's ``"Malware/Hacking"``, HarmBench's ``"cybercrime_intrusion"``
    ...), not in one shared scheme.

    Raises:
        ValueError: on an unknown split, or ``"train"``, whose harmful rows upstream has no category for.
    """
    from .._validate import choice

    split = choice("split", split, POLYREFUSE_SPLITS)
    categories = _polyrefuse_table("harmful", split)[1]
    if not categories:
        with_them = [s for s in POLYREFUSE_SPLITS if _polyrefuse_table("harmful", s)[1]]
        raise ValueError(f"PolyRefuse's harmful {split} rows have no category upstream; splits with them: {with_them}")
    return dict(categories)


@lru_cache(maxsize=None)
def _xcopa_rows(split: str, language: str) -> tuple[dict, ...]:
    """The rows of one bundled XCOPA file (``{split}.{language}.jsonl``, upstream's bytes), checked for
    the fields the loader reads."""
    ref = _bundled("xcopa", f"{split}.{language}.jsonl")
    rows = []
    with ref.open("r", encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            missing = {"premise", "choice1", "choice2", "question", "label", "idx"} - set(row)
            if missing or row["question"] not in XCOPA_QUESTIONS or row["label"] not in (0, 1):
                raise ValueError(f"xcopa/{split}.{language}.jsonl line {line_no} is not an XCOPA row: {line[:200]!r}")
            rows.append(row)
    return tuple(rows)


@lru_cache(maxsize=None)
def _xcopa_question_types(split: str) -> tuple[str, ...]:
    """The question type of each item of ``split``: the one most of the 11 languages give it.

    Upstream's ``question`` field differs between the translations of one item in five languages
    (th, tr, sw, id, it: always ``effect`` where the others say ``cause``; all of Thai is ``effect``);
    the data sheet has the counts. Where we read the disagreeing items (Italian, Turkish), their
    options are causes, as the majority says; every item has a majority of six or more."""
    per_language = [_xcopa_rows(split, lang) for lang in XCOPA_LANGUAGES]
    types = []
    for rows in zip(*per_language):
        if len({row["idx"] for row in rows}) != 1 or len({row["label"] for row in rows}) != 1:
            raise ValueError(f"XCOPA {split}: row {rows[0]['idx']} is not the same item in every language")
        (top, count), *rest = Counter(row["question"] for row in rows).most_common()
        if rest and rest[0][1] == count:
            raise ValueError(f"XCOPA {split} item {rows[0]['idx']}: no majority question type across languages")
        types.append(top)
    return tuple(types)


def load_xcopa(
    split: str = "test", *, languages: str | Iterable[str] | None = None, n: SupportsIndex | None = None
) -> list[MCItem]:
    """XCOPA's causal-reasoning items as two-option multiple-choice items, parallel across languages.

    Each item is a premise (``context``), a question that asks for its cause or its effect
    (:data:`XCOPA_QUESTIONS`, in English: the instruction text of the prompt is English too), and two
    options in the item's language, one of which is the more plausible cause or effect. The question
    type is the one most languages give the item: upstream's field is wrong for some items in five
    languages (all of Thai), see the data sheet (``mechint/data/bundled/README.md``).

    Args:
        split: ``"test"`` (500 items) or ``"val"`` (100 items); :data:`XCOPA_SPLITS`.
        languages: codes from :data:`XCOPA_LANGUAGES` (one string or several); None = all eleven.
        n: keep only the first ``n`` items of a fixed pseudo-random order (the same items in every
            language, the same on every machine); None = all of the split.

    Returns:
        ``n`` (or all) items per language, language-major, items in upstream order; item ids
        ``"xcopa-<split>-<idx>"`` (``xcopa-test-007``), shared by the translations of one item;
        ``source`` is ``"xcopa"``. Texts have their surrounding whitespace stripped.

    Raises:
        ValueError: on an unknown split or language, or ``n`` out of range.
    """
    from .._validate import choice

    split = choice("split", split, XCOPA_SPLITS)
    langs = _resolve_languages(languages, XCOPA_LANGUAGES, "XCOPA")
    types = _xcopa_question_types(split)
    ids = [f"xcopa-{split}-{int(row['idx']):03d}" for row in _xcopa_rows(split, XCOPA_LANGUAGES[0])]
    keep = set(ids)
    if n is not None:
        count = _as_count(n)
        if count is None or not 1 <= count <= len(ids):
            raise ValueError(
                f"n must be an int between 1 and {len(ids)} (XCOPA {split} has {len(ids)} items), got {n!r}"
            )
        keep = set(_select(ids, count, "xcopa"))
    items = []
    for lang in langs:
        for item_id, kind, row in zip(ids, types, _xcopa_rows(split, lang)):
            if item_id in keep:
                items.append(
                    MCItem(
                        question=XCOPA_QUESTIONS[kind],
                        options=(row["choice1"].strip(), row["choice2"].strip()),
                        answer=int(row["label"]),
                        language=lang,
                        item_id=item_id,
                        context=row["premise"].strip(),
                        source="xcopa",
                    )
                )
    return items
