"""Language identification of generated text (``mechint.eval.language``, lingua): what a detector
costs to load, and what each sentence costs after that.

Texts: the first harmless PolyRefuse *val* instruction of each of its 14 languages, the first
MultiJail prompt of each of its languages lingua supports, the first XCOPA premise and option of
each of its, and XQuAD's first question where none of those has the language: one text per
language of ``DEFAULT_LANGUAGES``.

Rows, each cold one in a fresh Python process (lingua keeps loaded models for the process):

- ``build``: building a detector for the languages; lingua loads nothing yet.
- ``first texts, N languages``: identifying every text once right after the build: the language models
  load on this first use (the load time of a study's first answer).
- ``build, preloaded``: the detector built with every model loaded up front (lingua's
  ``with_preloaded_language_models``), for comparison.
- ``per sentence``, ``per segment``, ``quote_and_think per text``: warm, median of ``--rounds`` rounds.

    .venv/bin/python benchmarks/bench_language.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, log, median  # noqa: E402

COLD = r"""
import json, sys, time
t0 = time.perf_counter()
from mechint.eval import language
from mechint.eval.language import DEFAULT_LANGUAGES, identify_languages, language_detector
codes = json.loads(sys.argv[1]) or list(DEFAULT_LANGUAGES)
texts = json.loads(sys.argv[2])
t_import = time.perf_counter() - t0
if sys.argv[3] == "preload":
    lingua = language._lingua()
    table = language._codes()
    t = time.perf_counter()
    lingua.LanguageDetectorBuilder.from_languages(*(table[c] for c in codes)).with_preloaded_language_models().build()
    print(json.dumps({"import": t_import, "build": time.perf_counter() - t}))
else:
    t = time.perf_counter()
    language_detector(codes)
    build = time.perf_counter() - t
    t = time.perf_counter()
    for text in texts:
        identify_languages(text, languages=codes)
    print(json.dumps({"import": t_import, "build": build, "first": time.perf_counter() - t}))
"""


def sample_texts() -> dict[str, str]:
    """One bundled text per language of ``DEFAULT_LANGUAGES``."""
    from mechint import data
    from mechint.eval import DEFAULT_LANGUAGES

    texts: dict[str, str] = {}
    for ex in data.load_polyrefuse("val", kind="harmless", n_per_class=1):
        texts.setdefault(ex.language, ex.text)
    mj = data.load_multijail()
    for ex in mj:
        if ex.language in DEFAULT_LANGUAGES:
            texts.setdefault(ex.language, ex.text)
    for item in data.load_xcopa("val"):
        if item.language in DEFAULT_LANGUAGES:
            texts.setdefault(item.language, f"{item.context} {item.options[0]}")
    for ex in data.load_xquad():
        texts.setdefault(ex.language, ex.text)
    missing = sorted(set(DEFAULT_LANGUAGES) - set(texts))
    if missing:
        raise SystemExit(f"no bundled text for {missing}")
    return {lang: texts[lang] for lang in DEFAULT_LANGUAGES}


def cold(codes: list[str], texts: list[str], mode: str) -> dict:
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-c", COLD, json.dumps(codes), json.dumps(texts), mode],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "language_cpu.json"))
    args = p.parse_args(argv)

    from mechint.eval import DEFAULT_LANGUAGES, identify_languages, quote_and_think, split_sentences

    by_lang = sample_texts()
    texts = list(by_lang.values())
    study = ["de", "en", "zh", "ar", "th", "ru"]
    rows: dict[str, float] = {}
    for name, codes, mode in [
        (f"all {len(DEFAULT_LANGUAGES)} languages", list(DEFAULT_LANGUAGES), "lazy"),
        (f"{len(study)} languages", study, "lazy"),
    ]:
        got = cold(codes, [by_lang[c] for c in codes], mode)
        rows[f"build, {name}"] = got["build"]
        rows[f"first texts, {name}"] = got["first"]
        log(f"{name}: build {got['build']:.4f} s, first pass over {len(codes)} texts {got['first']:.3f} s")
    pre = cold(list(DEFAULT_LANGUAGES), [], "preload")
    rows[f"build, preloaded, all {len(DEFAULT_LANGUAGES)} languages"] = pre["build"]
    log(f"preloaded build: {pre['build']:.3f} s")

    n_sentences = sum(len(split_sentences(t)) for t in texts)
    identify_languages(" ".join(texts))  # warm
    timings: dict[str, list[float]] = {"per sentence": [], "per segment": [], "quote_and_think per text": []}
    from mechint.eval import split_segments

    n_segments = sum(len(split_segments(t)) for t in texts)
    for _ in range(args.rounds):
        t = time.perf_counter()
        for text in texts:
            identify_languages(text, unit="sentences")
        timings["per sentence"].append((time.perf_counter() - t) / n_sentences)
        t = time.perf_counter()
        for text in texts:
            identify_languages(text, unit="segments")
        timings["per segment"].append((time.perf_counter() - t) / n_segments)
        t = time.perf_counter()
        for lang, text in by_lang.items():
            quote_and_think(
                "The question asks: " + text + " So I will answer it in English, step by step.", text, language=lang
            )
        timings["quote_and_think per text"].append((time.perf_counter() - t) / len(texts))
    for name, values in timings.items():
        rows[name] = median(values)
        log(f"{name}: {rows[name] * 1e3:.3f} ms (median of {args.rounds})")
    result = {
        "texts": len(texts),
        "sentences": n_sentences,
        "segments": n_segments,
        "seconds": {k: round(v, 6) for k, v in rows.items()},
        "environment": environment("cpu"),
    }
    Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False))
    log(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
