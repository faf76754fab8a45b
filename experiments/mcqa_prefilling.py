"""Study: first-token multiple-choice scoring with and without a prefilled answer, against generation (arXiv 2505.15323)

First-token probability (FTP) scoring reads a chat model's probabilities of the option labels at the
first position of its response; where the model would not open its answer with a label, those
probabilities say little (misalignment). arXiv 2505.15323 prefills the response with "The correct
option is:" so that the next token is the label, and compares with generating an answer and parsing
it. This study asks the same on XCOPA (:func:`mechint.data.load_xcopa`, the test split), per
language, of the embedded chat models: the chat version of the model given (``gemma-3-270m-refusal-en``
for the embedded gemma-3-270m; the model itself if it is a chat model) and SmolLM2-135M-Instruct
(skipped with a warning where it is not installed).

Items: the first :data:`ITEMS` items of XCOPA's test split whose answer is option A and the first
:data:`ITEMS` whose answer is B (a model that always answers "A" scores 0.5), the same items in each
of :data:`LANGUAGES` (four scripts: XCOPA has no more). The prompt is :func:`mechint.eval.mcqa_prompt`
(the premise and options in the item's language, XCOPA's English question and the English
instruction) in the model's chat template. Three conditions:

- ``FTP``: the label probabilities where the response starts (:func:`mechint.eval.score_mcqa`);
- ``FTP + prefill``: the same after the response is prefilled with "The correct option is:" in the
  item's language (:data:`PREFILLS`);
- ``open-ended``: a greedy answer of :data:`NEW_TOKENS` tokens, the label parsed out of it
  (:func:`mechint.eval.open_ended_mcqa`), on the first :data:`OPEN_ITEMS` items of each answer only:
  generation is the expensive condition.

Per model, language and condition: accuracy with a bootstrap interval over items, ECE, Brier score
and misalignment rate (FTP conditions), the unparsed rate (open-ended), and the wall and CPU time
of the condition. Writes ``figures/mcqa_prefilling.{png,json,csv}`` (accuracy, and the share of answers
that are no label, per language by condition, one panel per model) and
``figures/mcqa_prefilling_reliability.png`` (the FTP conditions' reliability diagrams); the JSON holds
every item's scores, the reliability-diagram data and every generated answer.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from pathlib import Path

import mechint
from mechint import data
from mechint.eval import MCQAResult, mcqa_prompts, open_ended_mcqa, score_mcqa
from mechint.plots import plot_mcqa_conditions, plot_reliability, save_figure
from mechint.stats import bootstrap_mean

from ._common import (
    ENGLISH_MODEL,
    check_counts,
    english_chat_model,
    rounded,
    study_main,
    tuned_version,
    write_json,
    write_table,
)

CHAT_PROMPTS = True  # every item goes through the chat template

SPLIT = "test"
LANGUAGES = ("zh", "th", "ta", "it", "sw")
"""Item languages: Han, Thai, Tamil and Latin script (Italian, Swahili); XCOPA's other languages are
in Latin script too."""
ITEMS = 2
"""Items per language whose answer is option A, and as many whose answer is B (``--n-per-class``
lowers it)."""
OPEN_ITEMS = 1
"""Of those, the items per answer that are also answered by generation (the first of each)."""
NEW_TOKENS = 4
"""Tokens generated per open-ended answer: enough for "A. ..." or "The answer is B"."""
PREFILLS: dict[str, str] = {
    "zh": "正确的选项是：",
    "th": "ตัวเลือกที่ถูกต้องคือ",
    "ta": "சரியான விடை:",
    "it": "L'opzione corretta è:",
    "sw": "Jibu sahihi ni:",
}
""""The correct option is:" in each item language (the response's opening in ``FTP + prefill``);
written for this study, not checked by native speakers."""
CONDITIONS = ("FTP", "FTP + prefill", "open-ended")
FTP_CONDITIONS = CONDITIONS[:2]
N_BINS = 10
"""Confidence bins of the ECE and the reliability diagrams."""


def balanced_items(n: int) -> list[data.MCItem]:
    """The first ``n`` items of XCOPA's :data:`SPLIT` whose answer is A and the first ``n`` whose
    answer is B (XCOPA's order), in each of :data:`LANGUAGES`, language-major."""
    every = data.load_xcopa(SPLIT, languages=list(LANGUAGES))
    first = [it for it in every if it.language == LANGUAGES[0]]
    keep = {it.item_id for answer in (0, 1) for it in [x for x in first if x.answer == answer][:n]}
    return [it for it in every if it.item_id in keep]


def _none_for_nan(values) -> list:
    out = rounded(values)
    assert isinstance(out, list), "a sequence of values"
    return [None if v != v else v for v in out]


def ftp_cell(part: MCQAResult) -> dict:
    """A language's (or all languages') numbers of an FTP condition."""
    acc, low, high = part.accuracy_interval()
    bins = part.reliability(N_BINS)
    return {
        "n": len(part),
        "accuracy": acc,
        "accuracy_low": low,
        "accuracy_high": high,
        "ece": part.ece(N_BINS),
        "brier": part.brier,
        "misalignment_rate": part.misalignment_rate,
        "label_mass": float(part.label_mass.double().mean()),
        "chose_a": float((part.choice == 0).double().mean()),
        "top_tokens": dict(Counter(part.top_text).most_common()),
        "reliability": {
            "edges": rounded(bins["edges"]),
            "confidence": _none_for_nan(bins["confidence"]),
            "accuracy": _none_for_nan(bins["accuracy"]),
            "count": bins["count"].tolist(),
        },
    }


def open_cell(correct: list[bool], parsed: list[bool], chose_a: list[bool]) -> dict:
    """A language's (or all languages') numbers of the open-ended condition."""
    acc, low, high = bootstrap_mean([float(c) for c in correct])
    hits = [c for c, p in zip(correct, parsed) if p]
    return {
        "n": len(correct),
        "accuracy": acc,
        "accuracy_low": low,
        "accuracy_high": high,
        "accuracy_parsed": sum(hits) / len(hits) if hits else None,
        "unparsed_rate": 1.0 - sum(parsed) / len(parsed),
        "chose_a": sum(chose_a) / len(chose_a),
    }


def batch_size(m: mechint.Model, items: list[data.MCItem]) -> int:
    """Prompts per forward: all of them where ``m``'s tokenizer writes every prompt in about as many
    tokens (the longest at most half again the shortest), else as many as a language has items. Batches are sorted by length, so
    the prompts in a script that a tokenizer writes in many tokens (SmolLM2's Tamil and Thai) are then
    not padded together with short ones, and one batch saves the rest a generation's calls."""
    lengths = [len(ids) for ids in m.tokenizer(mcqa_prompts(m, items))["input_ids"]]
    return len(items) if max(lengths) <= 1.5 * min(lengths) else max(1, len(items) // len(LANGUAGES))


def study_model(m: mechint.Model, items: list[data.MCItem], open_items: list[data.MCItem]) -> dict:
    """The three conditions on ``m``, each timed (wall and process CPU seconds of the scoring call
    alone: the CPU time of all threads, which under contention is the steadier of the two)."""
    batch, open_batch = batch_size(m, items), batch_size(m, open_items)
    by_condition: dict = {}
    for condition in FTP_CONDITIONS:
        start, cpu = time.perf_counter(), time.process_time()
        result = score_mcqa(
            m,
            items,
            prefill=PREFILLS if condition == "FTP + prefill" else None,
            batch_size=batch,
            progress=False,
        )
        cost, cpu = time.perf_counter() - start, time.process_time() - cpu
        per_language = {lang: ftp_cell(part) for lang, part in result.by_language().items()}
        lengths = [len(ids) for ids in m.tokenizer(list(result.prompts))["input_ids"]]
        by_condition[condition] = {
            "cost_s": cost,
            "cost_per_item_s": cost / len(items),
            "cpu_s": cpu,
            "batch_size": batch,
            "prompt_tokens": {
                lang: sum(n for n, it in zip(lengths, result.items) if it.language == lang) / len(part)
                for lang, part in result.by_language().items()
            },
            "per_language": per_language,
            "all": ftp_cell(result),
            "items": [
                {
                    "item_id": it.item_id,
                    "language": it.language,
                    "answer": it.answer,
                    "probs": rounded(result.probs[i, : it.n_options]),
                    "label_mass": round(float(result.label_mass[i]), 6),
                    "top_token": result.top_text[i],
                }
                for i, it in enumerate(result.items)
            ],
        }
    start, cpu = time.perf_counter(), time.process_time()
    answers = open_ended_mcqa(m, open_items, max_new_tokens=NEW_TOKENS, batch_size=open_batch, progress=False)
    cost, cpu = time.perf_counter() - start, time.process_time() - cpu
    correct, parsed = answers.correct.tolist(), answers.parsed.tolist()
    chose_a = [c == 0 for c in answers.choice]
    langs = [it.language for it in answers.items]
    by_condition["open-ended"] = {
        "cost_s": cost,
        "cost_per_item_s": cost / len(open_items),
        "cpu_s": cpu,
        "batch_size": open_batch,
        "per_language": {
            lang: open_cell(*([x for x, l in zip(values, langs) if l == lang] for values in (correct, parsed, chose_a)))
            for lang in LANGUAGES
        },
        "all": open_cell(correct, parsed, chose_a),
        "answers": [
            {"item_id": it.item_id, "language": it.language, "answer": it.answer, "response": r, "choice": c}
            for it, r, c in zip(answers.items, answers.responses, answers.choice)
        ],
    }
    return by_condition


def figures(results: dict, out: Path) -> list[str]:
    accuracy = {
        name: {
            c: {
                lang: [cell[k] for k in ("accuracy", "accuracy_low", "accuracy_high")]
                for lang, cell in r[c]["per_language"].items()
            }
            for c in CONDITIONS
        }
        for name, r in results.items()
    }
    missed = {
        name: {
            **{
                c: {lang: cell["misalignment_rate"] for lang, cell in r[c]["per_language"].items()}
                for c in FTP_CONDITIONS
            },
            "open-ended": {lang: cell["unparsed_rate"] for lang, cell in r["open-ended"]["per_language"].items()},
        }
        for name, r in results.items()
    }
    fig = plot_mcqa_conditions(
        accuracy,
        missed,
        languages=list(LANGUAGES),
        chance=0.5,
        title="XCOPA: first-token scores without and with a prefilled answer, and generated answers",
        missed_title="not a label",
    )
    fig.update_layout(width=520 * len(results) + 120, height=620)
    paths = save_figure(fig, out / "mcqa_prefilling")
    bins = {(name, c): r[c]["all"]["reliability"] for name, r in results.items() for c in FTP_CONDITIONS}
    reliability = plot_reliability(bins, title="Reliability of the first-token scores (all languages together)")
    reliability.update_layout(width=460 * len(results) + 120, height=460)
    paths += save_figure(reliability, out / "mcqa_prefilling_reliability")
    return [str(p) for p in paths]


def run(model: mechint.Model, out: Path, *, n_per_class: int | None = None) -> dict:
    n = min(ITEMS, n_per_class) if n_per_class is not None else ITEMS
    n_open = min(OPEN_ITEMS, n)
    first = model if model.is_chat else tuned_version(model)
    models = [
        m
        for m in (first, None if first is not None and first.name == ENGLISH_MODEL else english_chat_model(model))
        if m
    ]
    if not models:
        warnings.warn(f"mcqa_prefilling: {model.name} is no chat model and has no chat version", stacklevel=2)
        return {"skipped": f"no chat model for {model.name}"}
    items = balanced_items(n)
    open_ids = {it.item_id for it in balanced_items(n_open)}
    open_items = [it for it in items if it.item_id in open_ids]
    counts = {
        f"{lang}/answer {'AB'[answer]}{suffix}": sum(1 for it in subset if it.language == lang and it.answer == answer)
        for suffix, subset in (("", items), (" (open-ended)", open_items))
        for lang in LANGUAGES
        for answer in (0, 1)
    }
    check_counts(
        "mcqa_prefilling",
        {k: v for k, v in counts.items() if "open-ended" not in k},
        minimum=ITEMS,
        what="a per-language accuracy with a bootstrap interval over items",
    )
    check_counts(
        "mcqa_prefilling",
        {k: v for k, v in counts.items() if "open-ended" in k},
        minimum=OPEN_ITEMS,
        what="the open-ended answers per language",
    )
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    for m in models:
        results[m.name] = study_model(m, items, open_items)
    rows = []
    for name, by_condition in results.items():
        for condition in CONDITIONS:
            entry = by_condition[condition]
            for lang, cell in [*entry["per_language"].items(), ("all", entry["all"])]:
                rows.append(
                    [
                        name,
                        condition,
                        lang,
                        cell["n"],
                        cell["accuracy"],
                        cell["accuracy_low"],
                        cell["accuracy_high"],
                        cell.get("ece", ""),
                        cell.get("brier", ""),
                        cell.get("misalignment_rate", ""),
                        cell.get("unparsed_rate", ""),
                        cell["chose_a"],
                        entry["cost_s"] if lang == "all" else "",
                    ]
                )
    write_table(
        out / "mcqa_prefilling.csv",
        [
            "model",
            "condition",
            "language",
            "n",
            "accuracy",
            "accuracy_low",
            "accuracy_high",
            "ece",
            "brier",
            "misalignment_rate",
            "unparsed_rate",
            "chose_a",
            "cost_s",
        ],
        rows,
    )
    summary = {
        "split": SPLIT,
        "languages": list(LANGUAGES),
        "conditions": list(CONDITIONS),
        "items_per_answer": n,
        "items_per_language": 2 * n,
        "open_items_per_language": 2 * n_open,
        "new_tokens": NEW_TOKENS,
        "n_bins": N_BINS,
        "prefill": {lang: PREFILLS[lang] for lang in LANGUAGES},
        "item_ids": sorted({it.item_id for it in items}),
        "open_item_ids": sorted(open_ids),
        "models": list(results),
        "results": results,
    }
    write_json(out / "mcqa_prefilling.json", summary)
    paths = figures(results, out)
    return {
        "accuracy": {name: {c: round(r[c]["all"]["accuracy"], 3) for c in CONDITIONS} for name, r in results.items()},
        "misalignment_rate": {
            name: {c: round(r[c]["all"]["misalignment_rate"], 3) for c in FTP_CONDITIONS} for name, r in results.items()
        },
        "cost_s": {name: {c: round(r[c]["cost_s"], 2) for c in CONDITIONS} for name, r in results.items()},
        "figures": paths,
    }


def main(argv=None) -> dict:
    return study_main(run, __doc__, argv)


if __name__ == "__main__":
    main()
