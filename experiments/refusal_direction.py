"""Study: the refusal direction of the safety-tuned model, and what ablating or adding it does in
every language.

Arditi et al. (arXiv 2406.11717) found that a chat model's refusal is mediated by one direction: the
difference of mean activations of harmful and harmless instructions at the template tokens after the
instruction. The study runs their method (:func:`mechint.refusal.refusal_direction`) on the English
safety-tuned model (``gemma-3-270m-refusal-en`` for the embedded gemma-3-270m; another chat model is
studied as it is): candidates from PolyRefuse's English *train* split at every layer and
post-instruction position, selected on its English *val* split (lowest refusal score of harmful
prompts with the candidate ablated, among candidates whose addition makes harmless prompts score as
refusals, whose ablation moves harmless next-token distributions by KL < 0.1, below 80% of the depth).

Then, on the *test* split in all 14 PolyRefuse languages (harmless: 13, no Chinese), the model answers
greedily: harmful prompts as it is, with the direction ablated everywhere by hooks (embedding and every
attention and MLP output, every position), and with the ablation made permanent in the weights
(:func:`mechint.refusal.orthogonalize_weights`; on Gemma 3 the writes pass through post-norms, so the
weight edit removes the direction the norms map onto it, a different computation from the hooks:
both leave no projection on it); harmless prompts as it is and with the raw direction added at the
selected layer. Each answer is judged by the multilingual refusal judge; each refusal rate has a 95%
bootstrap interval over items. Beside it, each answer's mean negative log-likelihood per token under
the unedited model: a judge reads degenerate text as "not a refusal", the likelihood shows it. The
direction was chosen on English prompts only: the other languages test whether the same direction
carries refusal there (Wang et al., arXiv 2505.17306).

:data:`ITEMS` items per class and language (``--n-per-class`` lowers it), :data:`EN_ITEMS` for English
(the acceptance numbers), :data:`VAL_ITEMS` val prompts per class for the selection.

Writes ``figures/refusal_direction.{png,json,csv}`` (rates by language and condition),
``refusal_direction_scores.png`` (the candidates' scores by layer and position),
``refusal_direction_candidates.csv`` (the whole scored table) and ``refusal_direction_examples.md``
(English answers under each condition).
"""

from __future__ import annotations

from pathlib import Path

import torch

import mechint
from mechint import data
from mechint.plots import plot_layer_heatmap, plot_refusal_rates, save_figure
from mechint.refusal import judge_refusals, orthogonalize_weights
from mechint.stats import bootstrap_mean

from ._common import (
    ANSWER_TOKENS,
    answer_nll,
    check_counts,
    class_counts,
    english_refusal_direction,
    generate_answers,
    markdown_table,
    study_main,
    tuned_version,
    write_json,
    write_table,
)

CHAT_PROMPTS = True  # the study formats every instruction with the chat template

ITEMS = 10
"""Test items per class and language."""
EN_ITEMS = 32
"""Test items per class in English, the language the direction is selected in."""
VAL_ITEMS = 16
"""Val prompts per class for the selection."""
NEW_TOKENS = ANSWER_TOKENS
BATCH = 48
EXAMPLES = 3
"""English answers per class and condition written to the examples table."""


def studied_model(model: mechint.Model) -> mechint.Model:
    """The English safety-tuned version of ``model`` where a recipe builds one, else ``model``."""
    return tuned_version(model) or model


def test_items(n: int, n_en: int) -> data.Dataset:
    """Harmful test items in every language, harmless in every language with a harmless test split;
    ``n`` per class and language, ``n_en`` in English (the same items come first)."""
    harmless_languages = [lang for lang in data.POLYREFUSE_LANGUAGES if lang != "zh"]
    others = [lang for lang in data.POLYREFUSE_LANGUAGES if lang != "en"]
    return (
        data.load_polyrefuse("test", languages="en", n_per_class=n_en)
        + data.load_polyrefuse("test", kind="harmful", languages=others, n_per_class=n)
        + data.load_polyrefuse(
            "test", kind="harmless", languages=[lang for lang in harmless_languages if lang != "en"], n_per_class=n
        )
    )


def run(model: mechint.Model, out: Path, *, n_per_class: int | None = None) -> dict:
    n = min(ITEMS, n_per_class) if n_per_class is not None else ITEMS
    n_en = min(EN_ITEMS, n_per_class) if n_per_class is not None else EN_ITEMS
    n_val = min(VAL_ITEMS, n_per_class) if n_per_class is not None else VAL_ITEMS
    m = studied_model(model)
    out.mkdir(parents=True, exist_ok=True)

    found = english_refusal_direction(m, n_val=n_val)
    table = found.table()
    write_table(
        out / "refusal_direction_candidates.csv",
        list(table.columns),
        [[float(v) if isinstance(v, float) else v for v in row] for row in table.itertuples(index=False)],
    )
    fig = plot_layer_heatmap(
        found.bypass.numpy(),
        row_labels=[f"position {o}" for o in found.offsets],
        colorbar_title="refusal score, harmful, ablated",
        title=f"Refusal-direction candidates of {m.name}: harmful val prompts' refusal score with each ablated "
        f"(selected: layer {found.layer}, position {found.position})",
        yaxis_title="post-instruction position",
        zmid=0.0,
    )
    save_figure(fig, out / "refusal_direction_scores")

    ds = test_items(n, n_en)
    counts = class_counts(ds.labels, ds.row_languages, expected=())  # the classes the data has
    check_counts("refusal_direction", counts, minimum=10, what="a refusal rate with a bootstrap interval", required=2)
    edited = orthogonalize_weights(m, found.direction)
    # (model, interventions, classes answered): ablation is tested on harmful prompts, addition on harmless
    conditions = {
        "baseline": (m, (), (1, 0)),
        "ablated": (m, (found.ablation(),), (1,)),
        "orthogonalized": (edited, (), (1,)),
        "added": (m, (found.addition(),), (0,)),
    }
    answers = {}
    for cond, (runner, edits, labels) in conditions.items():
        idx_all = [i for i, ex in enumerate(ds) if ex.label in labels]
        prompts = m.chat_prompts([ds[i].text for i in idx_all])
        answers[cond] = (
            idx_all,
            prompts,
            generate_answers(runner, prompts, *edits, new_tokens=NEW_TOKENS, batch=BATCH, desc=cond),
        )
    # every answer's likelihood under the unedited model: per class, one pass over its prompts scores
    # the unedited model's own answers to them and the edited answers
    base_idx, _, base = answers["baseline"]
    at_base = {i: j for j, i in enumerate(base_idx)}
    nll = {"baseline": torch.full((len(base_idx),), float("nan"))}
    for labels in ((1,), (0,)):
        conds = [c for c, (_, _, ls) in conditions.items() if ls == labels]
        idx = answers[conds[0]][0]
        own = [base.tokens[at_base[i]] for i in idx]
        scored = answer_nll(m, answers[conds[0]][1], own, *[answers[c][2].tokens for c in conds])
        nll["baseline"][torch.tensor([at_base[i] for i in idx])] = scored[0]
        nll.update(zip(conds, scored[1:]))
    rows, rates, examples = [], {}, {}
    results = {"model": m.name, "selection": found.to_json(), "rates": {}}
    for cond, (_, _, labels) in conditions.items():
        idx_all, prompts, (texts, score, _) = answers[cond]
        judged = judge_refusals(texts, [ds[i].language for i in idx_all])
        at = {i: j for j, i in enumerate(idx_all)}
        for label in labels:
            cls = "harmful" if label == 1 else "harmless"
            for lang in ds.languages:
                idx = [at[i] for i, ex in enumerate(ds) if ex.language == lang and ex.label == label]
                if not idx:
                    continue
                rate = bootstrap_mean([float(judged[j]) for j in idx])
                mean_score = float(score[torch.tensor(idx)].mean())
                mean_nll_ = float(nll[cond][torch.tensor(idx)].nanmean())
                rows.append([cond, cls, lang, len(idx), *rate, mean_score, mean_nll_])
                rates.setdefault(f"{cls}, {cond}", {})[lang] = rate
                results["rates"][f"{cond}/{cls}/{lang}"] = {
                    "n": len(idx), "rate": rate[0], "low": rate[1], "high": rate[2], "refusal_score": mean_score,
                    "answer_nll": mean_nll_,
                }  # fmt: skip
                if lang == "en":
                    examples[(cond, cls)] = [texts[j].strip() for j in idx[:EXAMPLES]]
    write_table(
        out / "refusal_direction.csv",
        ["condition", "class", "language", "n", "refusal_rate", "low", "high", "mean_refusal_score", "answer_nll"],
        rows,
    )
    save_figure(
        plot_refusal_rates(
            rates,
            languages=data.POLYREFUSE_LANGUAGES,
            title=f"Refusal rate of {m.name} with its English refusal direction ablated or added",
        ),
        out / "refusal_direction",
    )
    en = [ex for ex in ds if ex.language == "en"]
    ex_rows = []
    for k in range(EXAMPLES):
        for (cond, cls), answers in examples.items():
            if k < len(answers):
                item = [ex.text for ex in en if ex.label == (1 if cls == "harmful" else 0)][k]
                ex_rows.append([cls, cond, item, answers[k]])
    (out / "refusal_direction_examples.md").write_text(
        markdown_table(["class", "condition", "instruction", "answer"], ex_rows), encoding="utf-8"
    )
    write_json(out / "refusal_direction.json", results)
    en = {k: round(v["en"][0], 3) for k, v in rates.items() if "en" in v}
    return {"layer": found.layer, "position": found.position, "english_refusal_rate": en}


def main(argv=None) -> dict:
    return study_main(run, __doc__, argv)


if __name__ == "__main__":
    main()
