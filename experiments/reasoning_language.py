"""Study: which language does a chat model reason in, and does a prefilled reasoning prefix change it? (arXiv 2505.05408)

Yong et al. found that English-centric reasoning models, asked in another language, reason in English,
quote the question's words as they go ("quote-and-think"), and that a reasoning prefix prefilled in a
language steers the reasoning into it. This study asks the same of the embedded chat models: the chat
version of the model given (``gemma-3-270m-refusal-en`` for the embedded gemma-3-270m; the model itself
if it is a chat model) and SmolLM2-135M-Instruct, an English chat model (skipped with a warning where it
is not installed).

Prompts: :data:`ITEMS` harmless PolyRefuse *val* instructions in each of :data:`LANGUAGES` (five
scripts), each followed by "Think step by step." in its own language (:data:`THINK`). Three conditions:
no prefix; the English reasoning prefix ("Let me think step by step. First,"); the prefix in the
prompt's language (:data:`mechint.eval.REASONING_PREFIXES`). Greedy answers of :data:`NEW_TOKENS`
tokens after the prefix; each answer's letters are split by language
(:func:`mechint.eval.language_mix`: lingua, choosing among the 24 languages of
:data:`mechint.eval.DEFAULT_LANGUAGES`, with the words copied from the prompt cut out as spans of
their own) into English / the prompt's language / another language, and its quote-and-think spans are
counted (:func:`mechint.eval.quote_and_think`).

Writes ``figures/reasoning_language.{png,json,csv}`` (the first model) and
``figures/reasoning_language_smollm2.png`` (the English chat model); the JSON holds every answer.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import mechint
from mechint import data
from mechint.eval import reasoning_language, reasoning_prefix
from mechint.plots import plot_language_shares, save_figure

from ._common import ENGLISH_MODEL, english_chat_model, study_main, tuned_version, write_json, write_table

CHAT_PROMPTS = True  # every instruction goes through the chat template

LANGUAGES = ("zh", "ar", "th", "ru", "de")
"""Prompt languages: Han, Arabic, Thai, Cyrillic and Latin script."""
ITEMS = 2
"""Harmless instructions per language (``--n-per-class`` lowers it)."""
NEW_TOKENS = 32
"""Tokens generated after the prefix."""
THINK: dict[str, str] = {
    "zh": "请一步一步地思考。",
    "ar": "فكّر خطوة بخطوة.",
    "th": "กรุณาคิดทีละขั้นตอน",
    "ru": "Рассуждай шаг за шагом.",
    "de": "Denke Schritt für Schritt nach.",
    "en": "Think step by step.",
}
""""Think step by step." in each prompt language, appended to the instruction."""
CONDITIONS = ("no prefix", "English prefix", "own-language prefix")
SHORT = {"no prefix": "none", "English prefix": "English", "own-language prefix": "own"}  # the figure's ticks
PARTS = ("English", "prompt's language", "other language", "no text")
COLORS = {"English": "#1F77B4", "prompt's language": "#FF7F0E", "other language": "#7F7F7F", "no text": "#DDDDDD"}


def prompts(n: int) -> tuple[list[str], list[str], list[str]]:
    """``(instructions with "Think step by step.", their languages, item ids)`` of ``n`` harmless val items
    per language."""
    ds = data.load_polyrefuse("val", kind="harmless", languages=list(LANGUAGES), n_per_class=n)
    texts = [f"{ex.text.strip()} {THINK[ex.language]}" for ex in ds]
    return texts, ds.row_languages, ds.item_ids


def shares(result, language: str) -> dict[str, float]:
    """One answer's letters: English / the prompt's language / another language, or all "no text"."""
    if not result.mix:
        return {"English": 0.0, "prompt's language": 0.0, "other language": 0.0, "no text": 1.0}
    en, own = result.share("en"), result.share(language)
    return {"English": en, "prompt's language": own, "other language": max(0.0, 1.0 - en - own), "no text": 0.0}


def study_model(m: mechint.Model, texts: list[str], langs: list[str]) -> dict:
    """Every condition's answers on ``m`` and their language, per prompt language. The three conditions'
    prompts go through one generation (one pass over the layers per step for all of them)."""
    prefixes = {
        "no prefix": [None] * len(texts),
        "English prefix": [reasoning_prefix("en")] * len(texts),
        "own-language prefix": [reasoning_prefix(lang) for lang in langs],
    }
    every = reasoning_language(
        m,
        texts * len(prefixes),
        langs * len(prefixes),
        prefix=[p for ps in prefixes.values() for p in ps],
        max_new_tokens=NEW_TOKENS,
        batch_size=len(texts) * len(prefixes),
    )
    by_condition = {}
    for c, condition in enumerate(prefixes):
        results = every[c * len(texts) : (c + 1) * len(texts)]
        summary = {}
        for lang in LANGUAGES:
            rows = [r for r in results if r.language == lang]
            parts = [shares(r, lang) for r in rows]
            summary[lang] = {
                "n": len(rows),
                "shares": {p: sum(s[p] for s in parts) / len(rows) for p in PARTS},
                "main_language": dict(sorted(Counter(str(r.main) for r in rows).items())),
                "answers_with_quotes": sum(bool(r.quotes) for r in rows),
                "quote_spans": sum(len(r.quotes) for r in rows),
                "verbatim_quote_spans": sum(q.verbatim for r in rows for q in r.quotes),
            }
        by_condition[condition] = {
            "prefix": {lang: p for lang, p in zip(langs, prefixes[condition])},
            "per_language": summary,
            "answers": [
                {
                    "language": r.language,
                    "instruction": r.instruction,
                    "text": r.text,
                    "mix": {k: round(v, 4) for k, v in r.mix.items()},
                    "quotes": [q.text for q in r.quotes],
                }
                for r in results
            ],
        }
    return by_condition


def figure(name: str, by_condition: dict, path: Path) -> list[str]:
    bars = {
        (lang, SHORT[condition]): by_condition[condition]["per_language"][lang]["shares"]
        for lang in LANGUAGES
        for condition in CONDITIONS
    }
    fig = plot_language_shares(
        bars,
        parts=PARTS,
        colors=COLORS,
        title=f"Language of {name}'s answers to 'think step by step' prompts",
        xaxis_title="prompt language / prefilled reasoning prefix (none, English, the prompt's own language)",
    )
    fig.update_layout(width=1000, height=520)
    return [str(p) for p in save_figure(fig, path)]


def run(model: mechint.Model, out: Path, *, n_per_class: int | None = None) -> dict:
    n = min(ITEMS, n_per_class) if n_per_class is not None else ITEMS
    out.mkdir(parents=True, exist_ok=True)
    first = model if model.is_chat else tuned_version(model)
    models = [
        m
        for m in (first, None if first is not None and first.name == ENGLISH_MODEL else english_chat_model(model))
        if m
    ]
    if not models:
        warnings.warn(f"reasoning_language: {model.name} is no chat model and has no chat version", stacklevel=2)
        return {"skipped": f"no chat model for {model.name}"}
    texts, langs, ids = prompts(n)
    results, figures, rows = {}, [], []
    for i, m in enumerate(models):
        by_condition = study_model(m, texts, langs)
        results[m.name] = by_condition
        stem = "reasoning_language" if i == 0 else f"reasoning_language_{m.name.split('-')[0]}"
        figures += figure(m.name, by_condition, out / stem)
        for condition in CONDITIONS:
            for lang in LANGUAGES:
                cell = by_condition[condition]["per_language"][lang]
                rows.append(
                    [
                        m.name,
                        condition,
                        lang,
                        cell["n"],
                        *(cell["shares"][p] for p in PARTS),
                        cell["answers_with_quotes"],
                    ]
                )
    write_table(
        out / "reasoning_language.csv",
        ["model", "condition", "language", "n", "english", "own", "other", "no_text", "answers_with_quotes"],
        rows,
    )
    summary = {
        "languages": list(LANGUAGES),
        "conditions": list(CONDITIONS),
        "items_per_language": n,
        "item_ids": sorted(set(ids)),
        "new_tokens": NEW_TOKENS,
        "think": {lang: THINK[lang] for lang in LANGUAGES},
        "models": list(results),
        "results": results,
    }
    write_json(out / "reasoning_language.json", summary)
    english = {
        name: {
            c: round(sum(r[c]["per_language"][lang]["shares"]["English"] for lang in LANGUAGES) / len(LANGUAGES), 3)
            for c in CONDITIONS
        }
        for name, r in results.items()
    }
    return {"english_share": english, "figures": figures}


def main(argv=None) -> dict:
    return study_main(run, __doc__, argv)


if __name__ == "__main__":
    main()
