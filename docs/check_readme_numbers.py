"""Check that every number of an older README appears somewhere in the docs after the move.

    python docs/check_readme_numbers.py [REV]      # REV: the commit whose README to check (default 5e6bed4)

Reads ``git show REV:README.md``, extracts every number (``0.976``, ``34,640``, ``-0.166``, ``627``),
and looks for each in the current README, ``benchmarks/README.md`` and every ``docs/**/*.md`` page
*rendered* (markers replaced by the numbers from ``figures/*.json``, as the MkDocs hook does). Prints
the numbers found nowhere, with their context in the old README; exit status 1 if any.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))
from gen_study_tables import render  # noqa: E402

NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?")


def haystack() -> str:
    parts = [
        (ROOT / "README.md").read_text(encoding="utf-8"),
        (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8"),
    ]
    for page in sorted((ROOT / "docs").rglob("*.md")):
        parts.append(render(page.read_text(encoding="utf-8"), str(page)))
    return "\n".join(parts)


def main(rev: str = "5e6bed4") -> int:
    old = subprocess.run(
        ["git", "show", f"{rev}:README.md"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    text = haystack()
    missing, seen = [], set()
    for m in NUMBER.finditer(old):
        num = m.group(0)
        if num in seen:
            continue
        seen.add(num)
        bare = num.lstrip("-")
        # found as a whole number (not a prefix of 0.9765 or a digit run of 12345); a leading minus may be
        # written as a unicode minus or dropped in a range ("-0.03 to -0.05" -> "-0.03 ... -0.05")
        if not re.search(rf"(?<![\d.]){re.escape(bare)}(?![\d]|\.\d)", text):
            ctx = old[max(0, m.start() - 50) : m.end() + 30].replace("\n", " ")
            missing.append((num, ctx))
    print(f"{len(seen)} distinct numbers in {rev}:README.md; {len(missing)} not found in the docs")
    for num, ctx in missing:
        print(f"  {num:>10}  ...{ctx}...")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
