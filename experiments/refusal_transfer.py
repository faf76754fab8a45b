"""Study: does English-only safety tuning carry over to other languages?

The model under study answers harmful and harmless instructions in every PolyRefuse language (14:
ar de en es fr it ja ko nl pl ru th yo zh; its *test* split, the same items in every language) and
MultiJail's harmful prompts (10 languages), before and after safety tuning on **English only**: for
the embedded gemma-3-270m, "after" is ``gemma-3-270m-refusal-en`` (:mod:`mechint.recipes`), built on
first use. For another model with no recipe the study measures that model alone.

Both models get the same chat-formatted prompts (the tuned model's template; a base model without a
template reads them as text), and answer greedily. Each answer is judged by the multilingual refusal
judge (:mod:`mechint.refusal`, given the prompt's language; it also reads English). The refusal rate of
each (model, data set, class, language) comes with a 95% percentile bootstrap interval over items.
The model-side refusal score (log-odds of refusal-opening tokens at the first response position, no
generation) is reported beside it. Seed papers: 2406.16235 and 2410.18210 (cross-lingual safety).

The number of items per class and language is :data:`ITEMS` (``--n-per-class`` lowers it), and the
answers are :data:`NEW_TOKENS` tokens long: enough for the judge to read how an answer opens, which is
where a refusal is. Both keep the study inside the main command's time budget on two CPU cores.

Writes ``figures/refusal_transfer.{png,json,csv}`` (rates by language), ``refusal_transfer_multijail.png``,
and ``refusal_transfer_examples.{csv,md}`` (one harmful and one harmless example per language).
"""

from __future__ import annotations

from pathlib import Path

import torch

import mechint
from mechint import data
from mechint.plots import plot_refusal_rates, save_figure
from mechint.refusal import judge_refusals
from mechint.stats import bootstrap_mean

from ._common import (
    ANSWER_TOKENS,
    check_counts,
    generate_answers,
    markdown_table,
    study_main,
    tuned_version,
    write_json,
    write_table,
)

CHAT_PROMPTS = True  # the study formats every instruction with the chat template

ITEMS = 10
"""Items per class and language (the same items in every language; the first ones, which the other
refusal studies ask too, so their baseline answers are generated once)."""
NEW_TOKENS = ANSWER_TOKENS
BATCH = 48


def run(model: mechint.Model, out: Path, *, n_per_class: int | None = None) -> dict:
    n = min(ITEMS, n_per_class) if n_per_class is not None else ITEMS
    tuned = tuned_version(model)
    fmt = tuned if tuned is not None else model
    out.mkdir(parents=True, exist_ok=True)
    harmless_languages = [lang for lang in data.POLYREFUSE_LANGUAGES if lang != "zh"]
    multijail = data.load_multijail()
    ids = multijail.unique_item_ids()
    step = max(1, len(ids) // n)
    sets = {
        # harmful in all 14 languages, harmless in the 13 with a harmless test split (not zh)
        "polyrefuse": data.load_polyrefuse("test", kind="harmful", n_per_class=n)
        + data.load_polyrefuse("test", kind="harmless", languages=harmless_languages, n_per_class=n),
        "multijail": multijail.filter(item_ids=ids[::step][:n]),  # spread over the file, the same in every language
    }
    counts = {
        f"{name} {cls} {lang}": sum(1 for ex in ds if ex.language == lang and ex.label == label)
        for name, ds in sets.items()
        for lang in ds.languages
        for label, cls in ((1, "harmful"), (0, "harmless"))
        if any(ex.label == label and ex.language == lang for ex in ds)
    }
    check_counts("refusal_transfer", counts, minimum=10, what="a refusal rate with a bootstrap interval", required=2)
    models = {"base": model} if tuned is None else {"base": model, "tuned": tuned}
    prompts = {name: (fmt.chat_prompts(ds.texts) if fmt.is_chat else ds.texts) for name, ds in sets.items()}

    results: dict = {"items_per_class": n, "new_tokens": NEW_TOKENS, "models": {k: m.name for k, m in models.items()}}
    rates: dict[str, dict[str, tuple[float, float, float]]] = {}
    mj_rates: dict[str, dict[str, tuple[float, float, float]]] = {}
    rows, generations = [], {}
    for key, m in models.items():
        for name, ds in sets.items():
            texts, score, _ = generate_answers(
                m, prompts[name], new_tokens=NEW_TOKENS, batch=BATCH, desc=f"{key} {name}"
            )
            judged = judge_refusals(texts, ds.row_languages)
            generations[(key, name)] = (texts, judged)
            for label, cls in ((1, "harmful"), (0, "harmless")):
                for lang in ds.languages:
                    idx = [i for i, ex in enumerate(ds) if ex.language == lang and ex.label == label]
                    if not idx:
                        continue
                    rate = bootstrap_mean([float(judged[i]) for i in idx])
                    mean_score = float(score[torch.tensor(idx)].mean())
                    rows.append([key, name, cls, lang, len(idx), *rate, mean_score])
                    target = rates if name == "polyrefuse" else mj_rates
                    target.setdefault(f"{cls}, {key}", {})[lang] = rate
    results["rates"] = {
        f"{r[0]}/{r[1]}/{r[2]}/{r[3]}": {"n": r[4], "rate": r[5], "low": r[6], "high": r[7], "refusal_score": r[8]}
        for r in rows
    }
    header = ["model", "data", "class", "language", "n", "refusal_rate", "low", "high", "mean_refusal_score"]
    write_table(out / "refusal_transfer.csv", header, rows)
    languages = data.POLYREFUSE_LANGUAGES
    save_figure(
        plot_refusal_rates(
            rates, languages=languages, title="Refusal rate on PolyRefuse test, before and after English-only tuning"
        ),
        out / "refusal_transfer",
    )
    save_figure(
        plot_refusal_rates(mj_rates, title="Refusal rate on MultiJail (harmful), before and after English-only tuning"),
        out / "refusal_transfer_multijail",
    )
    examples = []
    ds = sets["polyrefuse"]
    for lang in ds.languages:
        for label in (1, 0):
            idx = [i for i, ex in enumerate(ds) if ex.language == lang and ex.label == label]
            if not idx:
                continue
            i = idx[0]
            row = [lang, "harmful" if label else "harmless", ds[i].text]
            for key in models:
                texts, judged = generations[(key, "polyrefuse")]
                row += [texts[i].strip(), "refusal" if judged[i] else "answer"]
            examples.append(row)
    ex_header = ["language", "class", "instruction"] + [f"{k}_{c}" for k in models for c in ("answer", "judged")]
    write_table(out / "refusal_transfer_examples.csv", ex_header, examples)
    (out / "refusal_transfer_examples.md").write_text(markdown_table(ex_header, examples), encoding="utf-8")
    write_json(out / "refusal_transfer.json", results)
    summary = {k: {lang: round(v[0], 3) for lang, v in by.items()} for k, by in rates.items()}
    return {"polyrefuse_refusal_rate": summary}


def main(argv=None) -> dict:
    return study_main(run, __doc__, argv)


if __name__ == "__main__":
    main()
