"""Rebuild the bundled data copies from the upstream files.

Not part of the public API: this records *how* ``mechint/data/bundled`` was made, so the copies can be
checked against (or regenerated from) upstream. Run::

    python -m mechint.data._derive /path/to/shared/data

where the folder holds ``multijail/`` (MultiJail.csv, LICENSE, COMMIT), ``xquad/``
(xquad.{lang}.json, LICENSE, COMMIT), ``polyrefuse/`` (the JSON files of mainlp/Multilingual-Refusal,
LICENSE, COMMIT) and ``xcopa/`` ({split}.{lang}.jsonl, LICENSE.md, COMMIT).

MultiJail and XCOPA are copied byte for byte (XCOPA's ``LICENSE.md`` as ``LICENSE``; its question-type
defects are handled at load time, see :func:`mechint.data.load_xcopa`). XQuAD is *derived*: only the questions are kept (we use them as
harmless requests), one row per question id, one column per language, in upstream file order
(article, paragraph, question). PolyRefuse is *derived* too: its per-language JSON files become one
table per (kind, split), one row per upstream row, one column per language (see
:func:`derive_polyrefuse`). Texts are written exactly as upstream has them; whitespace is stripped at
load time, not here.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

XQUAD_LANGUAGES: tuple[str, ...] = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
POLYREFUSE_LANGUAGES: tuple[str, ...] = (
    "ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "ru", "th", "yo", "zh"
)  # fmt: skip
POLYREFUSE_SPLITS: tuple[str, ...] = ("train", "val", "test")
POLYREFUSE_KINDS: tuple[str, ...] = ("harmful", "harmless")
XCOPA_LANGUAGES: tuple[str, ...] = ("et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh")
XCOPA_SPLITS: tuple[str, ...] = ("val", "test")


def xcopa_file_names() -> list[str]:
    """The upstream XCOPA files bundled as they are: ``{split}.{lang}.jsonl`` for both splits."""
    return [f"{split}.{lang}.jsonl" for split in XCOPA_SPLITS for lang in XCOPA_LANGUAGES]


BUNDLED = Path(__file__).parent / "bundled"


def read_xquad_questions(path: Path) -> list[tuple[str, str]]:
    """(question id, question) pairs of one SQuAD-format XQuAD file, in file order."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    return [
        (qa["id"], qa["question"])
        for article in doc["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]


def derive_xquad(src_dir: Path, out_path: Path) -> int:
    """Write the parallel question table ``id,<lang>...`` and return the number of rows."""
    per_language = {lang: read_xquad_questions(src_dir / f"xquad.{lang}.json") for lang in XQUAD_LANGUAGES}
    ids = [qid for qid, _ in per_language["en"]]
    if len(set(ids)) != len(ids):
        raise ValueError("XQuAD question ids are not unique")
    for lang, pairs in per_language.items():
        if [qid for qid, _ in pairs] != ids:
            raise ValueError(f"XQuAD {lang} is not parallel to en (question ids differ)")
    with open(out_path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["id", *XQUAD_LANGUAGES])
        for row, qid in enumerate(ids):
            writer.writerow([qid, *(per_language[lang][row][1] for lang in XQUAD_LANGUAGES)])
    return len(ids)


# English rows of the train/val splits (the translations of the test splits carry their English in
# their own ``instruction`` field, which is what the test tables use; see derive_polyrefuse).
_POLYREFUSE_ENGLISH = {
    ("harmful", "train"): "en_harmful_train.json",
    ("harmful", "val"): "en_harmful_val.json",
    ("harmless", "train"): "en_harmless_train_200_sampled.json",
    ("harmless", "val"): "en_harmless_val_200_sampled.json",
}
# Chinese harmless train/val rows are a different Alpaca sample from the other languages' rows: stored
# in a table of their own, so that a row of a parallel table is always one item.
POLYREFUSE_OWN_SAMPLE: tuple[tuple[str, str, str], ...] = (("harmless", "train", "zh"), ("harmless", "val", "zh"))


def polyrefuse_table_name(kind: str, split: str, language: str | None = None) -> str:
    """File name of a bundled PolyRefuse table: ``harmful_train.csv``, or ``harmless_train_zh.csv`` for
    a language whose rows are items of their own."""
    return f"{kind}_{split}" + (f"_{language}" if language else "") + ".csv"


def _read_rows(path: Path, keys: set[str]) -> list[dict]:
    """The rows of one PolyRefuse JSON file, checked: a list of objects with exactly ``keys``, texts
    non-empty strings."""
    with open(path, encoding="utf-8") as f:
        rows = json.load(f)
    if not isinstance(rows, list):
        raise ValueError(f"{path.name}: expected a JSON list of rows, got {type(rows).__name__}")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or set(row) != keys:
            raise ValueError(f"{path.name} row {i}: expected the keys {sorted(keys)}, got {row!r:.200}")
        for key in keys - {"category"}:
            if not isinstance(row[key], str) or not row[key].strip():
                raise ValueError(f"{path.name} row {i}: {key} is not a non-empty string: {row[key]!r}")
    return rows


def _same(what: str, got: list, want: list) -> None:
    """Raise unless ``got`` equals ``want`` row for row (the row count first)."""
    if len(got) != len(want):
        raise ValueError(f"PolyRefuse {what}: {len(got)} rows, the English has {len(want)}")
    diff = [i for i, (a, b) in enumerate(zip(got, want)) if a != b]
    if diff:
        raise ValueError(f"PolyRefuse {what}: {len(diff)} rows differ from the English, first row {diff[0]}")


def read_polyrefuse(src_dir: Path) -> dict[str, dict[str, list]]:
    """Upstream PolyRefuse as columns per bundled table, checked for the layout the loader relies on.

    Returns ``{table file name: {column: values}}``: ``category`` (harmful tables only; None where
    upstream has none) and one column per language, in :data:`POLYREFUSE_LANGUAGES` order. Raises
    ValueError naming the file when a file is missing, a row count differs from the English, a test
    file's English ``instruction`` is not the English row, a translation's category differs from the
    English one, a harmless file carries a category, or a Chinese harmless test file has appeared (the
    loader documents it as absent).
    """
    tables: dict[str, dict[str, list]] = {}
    for kind in POLYREFUSE_KINDS:
        for split in POLYREFUSE_SPLITS:
            columns: dict[str, list] = {}
            if split == "test":
                english_file = src_dir / f"{kind}_test_translated_en.json"
                if kind == "harmful":  # no instruction_translated: the English file itself
                    english = _read_rows(english_file, {"instruction", "category"})
                    original = _read_rows(src_dir / "en_harmful_test.json", {"instruction", "category"})
                    _same(f"{english_file.name} (against en_harmful_test.json)", english, original)
                else:
                    english = _read_rows(english_file, {"instruction", "instruction_translated", "category"})
                    _same(
                        "harmless_test_translated_en.json (instruction_translated)",
                        [r["instruction_translated"] for r in english],
                        [r["instruction"] for r in english],
                    )
                english_texts = [r["instruction"] for r in english]
                for lang in POLYREFUSE_LANGUAGES:
                    path = src_dir / f"{kind}_test_translated_{lang}.json"
                    if lang == "en":
                        columns["en"] = english_texts
                        continue
                    if kind == "harmless" and lang == "zh":
                        if path.exists():
                            raise ValueError(f"{path.name} exists upstream now: update the derivation and the loader")
                        continue
                    rows = _read_rows(path, {"instruction", "instruction_translated", "category"})
                    _same(f"{path.name} (instruction)", [r["instruction"] for r in rows], english_texts)
                    _same(f"{path.name} (category)", [r["category"] for r in rows], [r["category"] for r in english])
                    columns[lang] = [r["instruction_translated"] for r in rows]
            else:
                english = _read_rows(src_dir / _POLYREFUSE_ENGLISH[(kind, split)], {"instruction", "category"})
                for lang in POLYREFUSE_LANGUAGES:
                    if lang == "en":
                        columns["en"] = [r["instruction"] for r in english]
                        continue
                    path = src_dir / f"{kind}_{split}_translated_{lang}.json"
                    rows = _read_rows(path, {"instruction", "category"})
                    _same(f"{path.name} (category)", [r["category"] for r in rows], [r["category"] for r in english])
                    texts = [r["instruction"] for r in rows]
                    if (kind, split, lang) in POLYREFUSE_OWN_SAMPLE:
                        tables[polyrefuse_table_name(kind, split, lang)] = {lang: texts}
                    else:
                        columns[lang] = texts
            categories = [r["category"] for r in english]
            if kind == "harmful":
                bad = [c for c in categories if c is not None and (not isinstance(c, str) or not c.strip())]
                if bad:
                    raise ValueError(f"PolyRefuse harmful {split}: category {bad[0]!r} is not a non-empty string")
                columns = {"category": categories, **columns}
            elif any(c is not None for c in categories):
                raise ValueError(f"PolyRefuse harmless {split} has categories now: keep them in the derivation")
            tables[polyrefuse_table_name(kind, split)] = columns
    return tables


def derive_polyrefuse(src_dir: Path, out_dir: Path) -> dict[str, int]:
    """Write the bundled PolyRefuse tables into ``out_dir``; return {file name: rows}.

    Each table is a CSV with a header ``row,[category,]<lang>...``: ``row`` is the 0-based upstream row
    index (the item number), ``category`` the English category of harmful rows (empty where upstream
    has none), and one column per language whose row ``row`` is the same item. Chinese harmless
    train/val, a different sample, get tables of their own (``harmless_{split}_zh.csv``). The English
    harmless test column is the ``instruction`` of the translated test files, which all carry the same
    one; upstream's ``en_harmless_test_500_sampled.json`` is a different sample and is not used.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, columns in read_polyrefuse(src_dir).items():
        header = list(columns)
        n = len(next(iter(columns.values())))
        with open(out_dir / name, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["row", *header])
            for row in range(n):
                writer.writerow([row, *("" if columns[c][row] is None else columns[c][row] for c in header)])
        written[name] = n
    return written


def main(src: str) -> None:
    root = Path(src)
    for name in ("MultiJail.csv", "LICENSE", "COMMIT"):
        shutil.copyfile(root / "multijail" / name, BUNDLED / "multijail" / name)
    for name in ("LICENSE", "COMMIT"):
        shutil.copyfile(root / "xquad" / name, BUNDLED / "xquad" / name)
    (BUNDLED / "polyrefuse").mkdir(exist_ok=True)
    n = derive_xquad(root / "xquad", BUNDLED / "xquad" / "xquad_questions.csv")
    for name in ("LICENSE", "COMMIT"):
        shutil.copyfile(root / "polyrefuse" / name, BUNDLED / "polyrefuse" / name)
    tables = derive_polyrefuse(root / "polyrefuse", BUNDLED / "polyrefuse")
    (BUNDLED / "xcopa").mkdir(exist_ok=True)
    for name in [*xcopa_file_names(), "COMMIT"]:
        shutil.copyfile(root / "xcopa" / name, BUNDLED / "xcopa" / name)
    shutil.copyfile(root / "xcopa" / "LICENSE.md", BUNDLED / "xcopa" / "LICENSE")
    print(
        f"wrote {n} XQuAD question rows, {len(tables)} PolyRefuse tables ({sum(tables.values())} rows) "
        f"and copied MultiJail and XCOPA into {BUNDLED}"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data")
