"""Rebuild the bundled data copies from the upstream files.

Not part of the public API: this records *how* ``mechint/data/bundled`` was made, so the copies can be
checked against (or regenerated from) upstream. Run::

    python -m mechint.data._derive /path/to/shared/data

where the folder holds ``multijail/`` (MultiJail.csv, LICENSE, COMMIT) and ``xquad/``
(xquad.{lang}.json, LICENSE, COMMIT).

MultiJail is copied byte for byte. XQuAD is *derived*: only the questions are kept (we use them as
harmless requests), one row per question id, one column per language, in upstream file order
(article, paragraph, question). Texts are written exactly as upstream has them; whitespace is
stripped at load time, not here.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

XQUAD_LANGUAGES: tuple[str, ...] = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
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


def main(src: str) -> None:
    root = Path(src)
    for name in ("MultiJail.csv", "LICENSE", "COMMIT"):
        shutil.copyfile(root / "multijail" / name, BUNDLED / "multijail" / name)
    for name in ("LICENSE", "COMMIT"):
        shutil.copyfile(root / "xquad" / name, BUNDLED / "xquad" / name)
    n = derive_xquad(root / "xquad", BUNDLED / "xquad" / "xquad_questions.csv")
    print(f"wrote {n} XQuAD question rows and copied MultiJail into {BUNDLED}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data")
