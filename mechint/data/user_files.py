"""Load a user's own labelled texts (CSV, TSV or JSON lines) into a :class:`Dataset`.

So that one's own prompts can go through the same directions / probes / patching code as the bundled
sets. Errors name the file, the row and the problem, because a bad label or an empty text found deep in
an activation run is expensive to trace back.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .dataset import HARMFUL, HARMLESS, Dataset, Example

__all__ = ["HARMFUL_LABEL_NAMES", "HARMLESS_LABEL_NAMES", "parse_label", "load_texts"]

HARMFUL_LABEL_NAMES: frozenset[str] = frozenset({"harmful", "unsafe", "toxic", "1", "true"})
"""Label strings read as 1 (case-insensitive, surrounding whitespace ignored)."""
HARMLESS_LABEL_NAMES: frozenset[str] = frozenset({"harmless", "safe", "benign", "0", "false"})
"""Label strings read as 0 (case-insensitive, surrounding whitespace ignored)."""

_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}


def parse_label(value: Any) -> int:
    """Map a label value to 1 (harmful) or 0 (harmless).

    Accepts the ints 0/1, booleans, and (case-insensitive) ``harmful``/``unsafe``/``toxic``/``1``/``true``
    -> 1 and ``harmless``/``safe``/``benign``/``0``/``false`` -> 0.

    Raises:
        ValueError: for anything else, naming the value and the accepted ones.
    """
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value in (HARMLESS, HARMFUL):
        return value
    if isinstance(value, float) and value in (0.0, 1.0):
        return int(value)
    if isinstance(value, str):
        key = value.strip().lower()
        if key in HARMFUL_LABEL_NAMES:
            return HARMFUL
        if key in HARMLESS_LABEL_NAMES:
            return HARMLESS
    raise ValueError(
        f"label {value!r} is not recognised; use 0/1 or one of "
        f"{sorted(HARMFUL_LABEL_NAMES - {'1'})} (-> 1) / {sorted(HARMLESS_LABEL_NAMES - {'0'})} (-> 0)"
    )


_QUOTED = re.compile(r'"((?:[^"]|"")*)"')


def _unquote(cell: str) -> str:
    """A TSV cell that is one whole quoted field (a text with quotes, as writers quote it) as its text;
    others as they are."""
    m = _QUOTED.fullmatch(cell)
    return m.group(1).replace('""', '"') if m else cell


def _csv_rows(text: str, delimiter: str, name: str) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    """Header (stripped names) and (line number, row) pairs of a delimited file.

    CSV follows the usual quoting (``"a, b"``; a quoted cell may span lines). TSV is read line by
    line: a ``"`` is an ordinary character, so a text starting with a quote does not swallow the
    lines after it (a TSV cell cannot hold a tab or a line break); a cell that is one whole quoted
    field, as pandas and Python's csv module write a text containing quotes (doubled inside), is
    unquoted.
    A data row whose number of cells differs from the header's raises ValueError naming the row.
    """
    tsv = delimiter == "\t"
    quoting = csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    header: list[str] | None = None
    for raw in reader:
        if any(cell.strip() for cell in raw):
            header = [cell.strip() for cell in raw]
            break
    if header is None:
        return [], iter(())

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        i = 0  # data rows, counted from 0 as in load_texts' messages
        for raw in reader:
            if not any(cell.strip() for cell in raw):
                continue  # blank line
            if len(raw) != len(header):
                if len(raw) > len(header):
                    cause = (
                        "probably a tab inside a text"
                        if tsv
                        else 'probably a "," inside a text that is not quoted; quote such texts ("a, b") or use TSV'
                    )
                else:
                    cause = (
                        "probably a missing tab, or a line break inside a text"
                        if tsv
                        else 'probably a missing ",", or a line break inside a text that is not quoted'
                    )
                raise ValueError(
                    f"{name} row {i} (line {reader.line_num}): {len(raw)} cells, but the header has "
                    f"{len(header)} columns {header}; {cause}"
                )
            yield reader.line_num, dict(zip(header, map(_unquote, raw) if tsv else raw))
            i += 1

    return header, rows()


def _decode(raw: bytes, name: str) -> str:
    """The file's text: UTF-16 / UTF-32 when a byte-order mark says so, else UTF-8 (a BOM dropped)."""
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE, whose BOM it starts with
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if raw.startswith(bom):
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError as err:
                raise ValueError(
                    f"{name}: starts with a {encoding.upper()} byte-order mark but is not valid {encoding.upper()} "
                    f"(byte offset {err.start}); re-save it as UTF-8"
                ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{name}: not UTF-8 text (byte 0x{raw[err.start]:02x} at byte offset {err.start} cannot be decoded; "
            "the file is probably in a legacy encoding such as Windows-1252 or GBK); re-save it as UTF-8 "
            "(in Excel: 'CSV UTF-8')"
        ) from None


def _json_rows(text: str, name: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """Columns (union of keys, first-seen order) and (line number, object) pairs of JSON lines.

    A ``.json`` file holding one JSON array of objects is accepted too (line numbers then count objects).
    """
    stripped = text.lstrip()
    records: list[tuple[int, Any]] = []
    if stripped.startswith("["):
        try:
            array = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{name}: not valid JSON ({err})") from None
        records = [(i + 1, obj) for i, obj in enumerate(array)]
    else:
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append((line_no, json.loads(line)))
            except json.JSONDecodeError as err:
                raise ValueError(f"{name}: line {line_no} is not valid JSON ({err.msg})") from None
    columns: dict[str, None] = {}
    for line_no, obj in records:
        if not isinstance(obj, dict):
            raise ValueError(f"{name}: line {line_no} holds a {type(obj).__name__}, expected a JSON object")
        columns.update(dict.fromkeys(obj))
    return list(columns), records


def _file_labels(paths: list[Path]) -> list[str]:
    """A short label per file, distinct among ``paths``: its name where no other file has that name,
    else as many trailing folders as tell it apart (``"en/mine.csv"``, ``"de/mine.csv"``)."""
    seen: dict[Path, Path] = {}
    for given in paths:
        resolved = given.resolve()
        if resolved in seen:
            raise ValueError(f"{given} is given twice (as {seen[resolved]} and {given}): give each file once")
        seen[resolved] = given
    full = [Path(os.path.abspath(p)) for p in paths]  # folders as the user names them (links kept)
    labels = [p.name for p in paths]
    for name in {n for n in labels if labels.count(n) > 1}:
        same = [i for i, n in enumerate(labels) if n == name]
        for depth in range(2, max(len(full[i].parts) for i in same) + 1):
            tails = [Path(*full[i].parts[-depth:]).as_posix() for i in same]
            if len(set(tails)) == len(tails):
                break
        for i, tail in zip(same, tails):
            labels[i] = tail
    return labels


def load_texts(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    text_column: str = "text",
    label_column: str = "label",
    language_column: str = "language",
    id_column: str | None = None,
    default_language: str | None = None,
) -> Dataset:
    """Read a user's labelled texts from ``.csv``, ``.tsv``, ``.jsonl`` or ``.json`` (JSON lines) files.

    Args:
        path: a file, or a list of files read in that order into one Dataset (the same options apply
            to all). The suffix picks each file's format. CSV/TSV need a header row, and every data row
            needs as many cells as the header. CSV texts holding a comma or a line break must be quoted
            (``"a, b"``); TSV is read line by line (a ``"`` is kept as written, except that a cell which is
            one whole quoted field, as pandas writes texts with quotes, is unquoted). ``.json`` may also
            hold a single JSON array of objects. The file must be UTF-8 (a byte-order mark is ignored)
            or UTF-16 with a byte-order mark (Excel's "Unicode text").
        text_column: column with the texts (kept as written; blank texts are an error).
        label_column: column with labels, read by :func:`parse_label` (0/1, harmful/harmless, ...).
        language_column: column with language codes.
        id_column: column with item ids shared by translations of one item. Its ids are kept as
            written, so rows of parallel files (one per language, e.g. ``en.csv`` and ``de.csv``, read in
            one call or in several and concatenated) that give the same id are one item, and splits by
            item keep them together. ``None``: every row is its own item, with the id
            ``"<file>:row-<i>"`` (``i`` counts the file's data rows from 0), where ``<file>`` is the file
            name (``"mine.csv:row-0"``) or, for files of the same name read in one call, the name with as
            many parent folders as tell them apart (``"en/mine.csv:row-0"``, ``"de/mine.csv:row-0"``),
            so rows of different files never share an id. Files of the same name read in *separate*
            calls cannot see each other and get the same ids: read them in one call (or give an
            ``id_column``).
        default_language: language for every row when the file has no ``language_column`` (and for
            rows where that column is blank).

    Returns:
        One Example per data row, in file order, with ``source`` = the ``<file>`` of its item ids
        (the file name, unless files of the same name were read together).

    Raises:
        FileNotFoundError: a file does not exist.
        ValueError: no files, or a file given twice; unsupported suffix; a file that is not UTF-8 /
            UTF-16 (the message gives the byte offset); empty file or no data rows; a missing column
            (the message names it and lists the columns found); in a row (named by file, index and
            line): more or fewer cells than the header, a blank text, an unrecognised or blank label, a
            blank id or language.
    """
    if isinstance(path, (str, os.PathLike)):
        paths = [Path(path)]
    elif isinstance(path, bytes) or not isinstance(path, Iterable):
        raise TypeError(f"path must be a file path or a list of them, got {path!r}")
    else:
        paths = [Path(p) for p in path]
        if not paths:
            raise ValueError("no files given (an empty list)")
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(f"no such file: {p}")
        if p.is_dir():
            raise IsADirectoryError(f"expected a file, got a directory: {p}")
        if p.suffix.lower() not in _SUFFIXES:
            raise ValueError(f"{p.name}: unsupported file type {p.suffix!r}; use one of {sorted(_SUFFIXES)}")
    examples: list[Example] = []
    for p, label in zip(paths, _file_labels(paths)):
        examples += _load_file(
            p,
            label,
            text_column=text_column,
            label_column=label_column,
            language_column=language_column,
            id_column=id_column,
            default_language=default_language,
        )
    return Dataset(examples)


def _load_file(
    path: Path,
    name: str,
    *,
    text_column: str,
    label_column: str,
    language_column: str,
    id_column: str | None,
    default_language: str | None,
) -> list[Example]:
    """The Examples of one file; ``name`` labels it in messages, default ids and ``source``."""
    kind = _SUFFIXES[path.suffix.lower()]
    text = _decode(path.read_bytes(), name)
    if not text.strip():
        raise ValueError(f"{name} is empty")

    if kind == "jsonl":
        columns, rows = _json_rows(text, name)
        if not rows:
            raise ValueError(f"{name} has no rows")
    else:
        columns, rows = _csv_rows(text, "," if kind == "csv" else "\t", name)

    use_default_language = language_column not in columns and default_language is not None
    required = [("text_column", text_column), ("label_column", label_column)]
    if not use_default_language:
        required.append(("language_column", language_column))
    if id_column is not None:
        required.append(("id_column", id_column))
    for arg, column in required:
        if column not in columns:
            hint = (
                "; or pass default_language=... if every row has the same language" if arg == "language_column" else ""
            )
            raise ValueError(
                f"{name}: missing column {column!r} ({arg}); columns found: {columns}. "
                f"Pass {arg}=<name> to use another column{hint}"
            )

    def cell(row: dict[str, Any], column: str) -> Any:
        value = row.get(column)
        return value.strip() if isinstance(value, str) else value

    def blank(value: Any) -> bool:
        return value is None or (isinstance(value, str) and not value.strip())

    examples: list[Example] = []
    for i, (line_no, row) in enumerate(rows):
        where = f"{name} row {i} (line {line_no})"
        raw_text = row.get(text_column)
        if blank(raw_text):
            raise ValueError(f"{where}: empty text in column {text_column!r}")
        if not isinstance(raw_text, str):
            raise ValueError(f"{where}: text in column {text_column!r} must be a string, got {raw_text!r}")
        raw_label = cell(row, label_column)
        if blank(raw_label):
            raise ValueError(f"{where}: empty label in column {label_column!r}")
        try:
            label = parse_label(raw_label)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        if use_default_language:
            language = default_language
        else:
            language = cell(row, language_column)
            if blank(language):
                if default_language is None:
                    raise ValueError(
                        f"{where}: empty language in column {language_column!r} (or pass default_language=...)"
                    )
                language = default_language
        if id_column is None:
            item_id = f"{name}:row-{i}"
        else:
            raw_id = cell(row, id_column)
            if blank(raw_id):
                raise ValueError(f"{where}: empty item id in column {id_column!r}")
            item_id = str(raw_id)
        examples.append(Example(text=raw_text, label=label, language=str(language), item_id=item_id, source=name))

    if not examples:
        raise ValueError(f"{name} has a header but no data rows")
    return examples
