"""Study: does a fine-tuning attack in one language break refusal in every language?

The safety-tuned model (for the embedded gemma-3-270m, ``gemma-3-270m-refusal-en``, tuned on English
only to refuse harmful requests; :mod:`mechint.recipes`) is attacked four times, once per language of
``ATTACK_LANGUAGES`` (en, zh, th, ar: four scripts): fully fine-tuned on ``ATTACK_K`` harmful
PolyRefuse *train* instructions of that language (the same items in every language) with compliant
responses, which are the base model's own completions (:func:`mechint.tuning.compliant_pairs`; no
harmful text is bundled), through :func:`mechint.tuning.attack`. Each attacked model then answers
harmful and harmless PolyRefuse *test* instructions in all 14 languages, as the safety-tuned model
does in ``experiments/refusal_transfer`` (the same items, the same answer length), and the
multilingual refusal judge reads the answers. Refusal rates come with 95% percentile bootstrap
intervals over items. The English attack is also run with k = ``ATTACK_K_SWEEP`` examples (nested
sets), and harmful refusal read in every language after each. Seed paper: 2410.18210 (multilingual
fragility to fine-tuning attacks).

A model with no safety-tuning recipe is not attacked: the study says so and writes nothing.

Writes ``figures/attack_languages.{png,json,csv}`` (harmful refusal per language, the safety-tuned
model and each attack), ``attack_languages_harmless.png``, ``attack_languages_k.png`` (the k sweep) and
``attack_languages_examples.{csv,md}``.
"""

from __future__ import annotations

from pathlib import Path

import mechint
from mechint import data
from mechint.plots import plot_layer_lines, plot_refusal_rates, save_figure
from mechint.refusal import judge_refusals
from mechint.stats import bootstrap_mean

from ._common import (
    ANSWER_TOKENS,
    ATTACK_K,
    ATTACK_LANGUAGES,
    attacked_versions,
    check_counts,
    class_counts,
    generate_answers,
    markdown_table,
    not_attacked,
    study_main,
    tuned_version,
    write_json,
    write_table,
)

CHAT_PROMPTS = True  # every instruction is formatted with the chat template

ITEMS = 10
"""Items per class and language: the first test items, the ones ``refusal_transfer`` asks, so the
safety-tuned model's answers are generated once per process."""
NEW_TOKENS = ANSWER_TOKENS
BATCH = 48


def _test_instructions(n: int) -> data.Dataset:
    """Harmful test instructions in all 14 languages and harmless ones in the 13 that have them."""
    harmless_languages = [lang for lang in data.POLYREFUSE_LANGUAGES if lang != "zh"]
    return data.load_polyrefuse("test", kind="harmful", n_per_class=n) + data.load_polyrefuse(
        "test", kind="harmless", languages=harmless_languages, n_per_class=n
    )


def run(model: mechint.Model, out: Path, *, n_per_class: int | None = None) -> dict:
    n = min(ITEMS, n_per_class) if n_per_class is not None else ITEMS
    attacks = attacked_versions(model)
    if attacks is None:
        return not_attacked("attack_languages", model)
    tuned = tuned_version(model)
    assert tuned is not None  # attacks exist only on a tuned version
    ds = _test_instructions(n)
    counts = class_counts(ds.labels, ds.row_languages, expected=())  # the classes the data has
    check_counts("attack_languages", counts, minimum=10, what="a refusal rate with a bootstrap interval", required=2)
    prompts = tuned.chat_prompts(ds.texts)
    models = {"tuned": tuned} | {
        f"attacked {lang}": attacks.load(lang, model.dtype, model.device) for lang in ATTACK_LANGUAGES
    }
    out.mkdir(parents=True, exist_ok=True)
    rows, rates, answers = [], {}, {}
    for key, m in models.items():
        texts = generate_answers(m, prompts, new_tokens=NEW_TOKENS, batch=BATCH, desc=key).texts
        judged = judge_refusals(texts, ds.row_languages)
        answers[key] = (texts, judged)
        for label, cls in ((1, "harmful"), (0, "harmless")):
            for lang in ds.languages:
                idx = [i for i, ex in enumerate(ds) if ex.language == lang and ex.label == label]
                if idx:
                    rate = bootstrap_mean([float(judged[i]) for i in idx])
                    rows.append([key, cls, lang, len(idx), *rate])
                    rates.setdefault(cls, {}).setdefault(key, {})[lang] = rate
    # the k sweep: English attacks with k pairs (nested sets), harmful refusal in every language
    harmful_rows = [i for i, ex in enumerate(ds) if ex.label == 1]
    harmful_prompts = [prompts[i] for i in harmful_rows]
    by_k: dict[int, dict[str, tuple]] = {}
    for k in sorted(attacks.by_k):
        if attacks.by_k[k].path == attacks.results["en"].path:  # the main English attack: judged above
            by_k[k] = rates["harmful"]["attacked en"]
            continue
        m = attacks.by_k[k].load(model.dtype, model.device, tokenizer=tuned.tokenizer)  # needed here only: not kept
        texts = generate_answers(m, harmful_prompts, new_tokens=NEW_TOKENS, batch=BATCH, desc=f"en k={k}").texts
        del m
        judged = judge_refusals(texts, [ds.row_languages[i] for i in harmful_rows])
        by_k[k] = {}
        for lang in ds.languages:
            idx = [j for j, i in enumerate(harmful_rows) if ds[i].language == lang]
            by_k[k][lang] = bootstrap_mean([float(judged[j]) for j in idx])
            rows.append([f"attacked en, k={k}", "harmful", lang, len(idx), *by_k[k][lang]])
    header = ["model", "class", "language", "n", "refusal_rate", "low", "high"]
    write_table(out / "attack_languages.csv", header, rows)
    languages = list(data.POLYREFUSE_LANGUAGES)
    save_figure(
        plot_refusal_rates(
            rates["harmful"],
            languages=languages,
            title=f"Harmful refusal after a fine-tuning attack in one language ({ATTACK_K} examples)",
        ),
        out / "attack_languages",
    )
    save_figure(
        plot_refusal_rates(
            rates["harmless"], languages=languages, title="Harmless refusal (over-refusal) after the same attacks"
        ),
        out / "attack_languages_harmless",
    )
    if by_k:
        ks = sorted(by_k)
        lines = {lang: [rates["harmful"]["tuned"][lang][0]] + [by_k[k][lang][0] for k in ks] for lang in languages}
        lines["mean"] = [sum(v[i] for v in lines.values()) / len(languages) for i in range(len(ks) + 1)]
        fig = plot_layer_lines(
            lines,
            title="Harmful refusal per language after an English attack of k examples (k = 0: safety-tuned)",
            yaxis_title="harmful refusal rate",
            xaxis_title="k (attack examples)",
        )
        fig.update_xaxes(tickvals=list(range(len(ks) + 1)), ticktext=["0", *map(str, ks)])
        save_figure(fig, out / "attack_languages_k")
    examples = []
    for lang in ds.languages:
        idx = [i for i, ex in enumerate(ds) if ex.language == lang and ex.label == 1][:1]
        for i in idx:
            row = [lang, ds[i].text]
            for key in models:
                texts, judged = answers[key]
                row += [texts[i].strip(), "refusal" if judged[i] else "answer"]
            examples.append(row)
    ex_header = ["language", "instruction"] + [f"{k} {c}" for k in models for c in ("answer", "judged")]
    write_table(out / "attack_languages_examples.csv", ex_header, examples)
    (out / "attack_languages_examples.md").write_text(markdown_table(ex_header, examples), encoding="utf-8")
    results = {
        "items_per_class": n,
        "new_tokens": NEW_TOKENS,
        "attack_examples": ATTACK_K,
        "attack_languages": list(ATTACK_LANGUAGES),
        "training_loss": {lang: list(r.losses) for lang, r in attacks.results.items()},
        "k_sweep": {
            "language": "en",
            "k": sorted(by_k),
            "harmful": {str(k): {lang: list(v) for lang, v in by.items()} for k, by in sorted(by_k.items())},
            "training_loss": {str(k): list(r.losses) for k, r in sorted(attacks.by_k.items())},
        },
        "rates": {f"{r[0]}/{r[1]}/{r[2]}": {"n": r[3], "rate": r[4], "low": r[5], "high": r[6]} for r in rows},
    }
    write_json(out / "attack_languages.json", results)
    mean = {
        cls: {key: round(sum(v[0] for v in by.values()) / len(by), 3) for key, by in series.items()}
        for cls, series in rates.items()
    }
    k_mean = {str(k): round(sum(v[0] for v in by.values()) / len(by), 3) for k, by in sorted(by_k.items())}
    return {"mean_refusal_rate_over_languages": mean, "en_attack_k_sweep_mean_harmful_refusal": k_mean}


def main(argv=None) -> dict:
    return study_main(run, __doc__, argv)


if __name__ == "__main__":
    main()
