"""Study: is the refusal direction the same in every language? (Wang et al., arXiv 2505.17306)

For each of :data:`LANGUAGES`, the refusal direction of the safety-tuned model (``gemma-3-270m-refusal-en``
for the embedded gemma-3-270m) is extracted from that language's PolyRefuse *train* instructions: the
difference of mean activations of harmful and harmless instructions at every layer, at the
post-instruction position that the English selection chose (:mod:`experiments.refusal_direction`'s
method, the selection cached and shared). Then:

- the cosine similarity of the languages' directions, per layer (a slider over layers; shown at the
  selected layer);
- Wang et al.'s experiment: the direction of language X, taken at the selected layer, is ablated
  everywhere (embedding and every attention and MLP output, every position) while the model answers
  the harmful *test* instructions of language Y; each answer is judged by the multilingual refusal
  judge. The refusal rate of every (X, Y) pair comes with a 95% bootstrap interval over items, beside
  the rate with nothing ablated, and the answers' mean negative log-likelihood per token under the
  unedited model (degenerate text, which the judge reads as "not a refusal", scores high). A
  universal direction lowers refusal in every Y whichever X it came from.

:data:`TRAIN_ITEMS` train instructions per class and language, :data:`ITEMS` test items per language
(``--n-per-class`` lowers both).

Writes ``figures/refusal_universality.{png,json,csv}`` (the ablation matrix),
``refusal_universality_cosine.png`` (per-layer cosine matrices) and
``refusal_universality_cosine_layers.png`` (cosine with the English direction by layer).
"""

from __future__ import annotations

from pathlib import Path

import torch

import mechint
from mechint import data
from mechint.directions import cosine
from mechint.plots import plot_layer_heatmap, plot_layer_lines, plot_similarity_matrices, save_figure
from mechint.refusal import candidate_directions, directional_ablation, judge_refusals
from mechint.stats import bootstrap_mean

from ._common import (
    ANSWER_TOKENS,
    answer_nll,
    check_counts,
    english_refusal_direction,
    generate_answers,
    rounded,
    study_main,
    tuned_version,
    write_json,
    write_table,
)

CHAT_PROMPTS = True  # the study formats every instruction with the chat template

LANGUAGES = ("en", "zh", "ar", "th", "ja", "yo", "de", "ru")
"""The languages whose directions are extracted and whose harmful prompts are tested."""
TRAIN_ITEMS = 64
"""Train instructions per class and language for each language's direction."""
ITEMS = 10
"""Harmful test items per language."""
VAL_ITEMS = 16
"""Val prompts per class for the English selection (as in ``refusal_direction``, whose cache it shares)."""
NEW_TOKENS = ANSWER_TOKENS
BATCH = 48


def run(model: mechint.Model, out: Path, *, n_per_class: int | None = None) -> dict:
    n = min(ITEMS, n_per_class) if n_per_class is not None else ITEMS
    n_train = min(TRAIN_ITEMS, n_per_class) if n_per_class is not None else TRAIN_ITEMS
    n_val = min(VAL_ITEMS, n_per_class) if n_per_class is not None else VAL_ITEMS
    m = tuned_version(model) or model
    out.mkdir(parents=True, exist_ok=True)
    english = english_refusal_direction(m, n_val=n_val)
    p = english.offsets.index(english.position)

    # each language's direction at the selected position, at every layer: [language, layer, d]
    directions = []
    for lang in LANGUAGES:
        train = data.load_polyrefuse("train", languages=lang, n_per_class=n_train)
        harmful = [ex.text for ex in train if ex.label == 1]
        harmless = [ex.text for ex in train if ex.label == 0]
        cands, _ = candidate_directions(m, harmful, harmless, progress=f"directions {lang}")
        directions.append(cands[p])
    directions = torch.stack(directions)
    by_layer = directions.transpose(0, 1)  # [layer, language, d]
    sim = cosine(by_layer[:, :, None], by_layer[:, None, :])  # [layer, X, Y]; NaN where a direction is zero

    test = data.load_polyrefuse("test", kind="harmful", languages=list(LANGUAGES), n_per_class=n)
    counts = {lang: sum(1 for ex in test if ex.language == lang) for lang in LANGUAGES}
    check_counts("refusal_universality", counts, minimum=10, what="a refusal rate with a bootstrap interval")
    prompts = m.chat_prompts(test.texts)
    langs = test.row_languages

    def by_language(values: torch.Tensor) -> dict[str, float]:
        return {y: float(values[[i for i in range(len(langs)) if langs[i] == y]].nanmean()) for y in LANGUAGES}

    def rates(texts: list[str]) -> dict[str, tuple[float, float, float]]:
        judged = judge_refusals(texts, langs)
        return {y: bootstrap_mean([float(judged[i]) for i in range(len(langs)) if langs[i] == y]) for y in LANGUAGES}

    plain = generate_answers(m, prompts, new_tokens=NEW_TOKENS, batch=BATCH, desc="none")
    ablated = {
        x: generate_answers(
            m, prompts, directional_ablation(directions[i, english.layer]), new_tokens=NEW_TOKENS, batch=BATCH, desc=x
        )
        for i, x in enumerate(LANGUAGES)
    }
    # the answers' likelihood under the unedited model (its own and the ablated ones), after one
    # pass over the prompts for all of them
    scored = answer_nll(m, prompts, plain.tokens, *[a.tokens for a in ablated.values()])
    nll = {x: by_language(v) for x, v in zip(("none", *LANGUAGES), scored)}
    baseline = rates(plain.texts)
    matrix = {x: rates(a.texts) for x, a in ablated.items()}

    rows = [["none", y, counts[y], *baseline[y]] for y in LANGUAGES]
    rows += [[x, y, counts[y], *matrix[x][y]] for x in LANGUAGES for y in LANGUAGES]
    write_table(out / "refusal_universality.csv", ["ablated", "tested", "n", "refusal_rate", "low", "high"], rows)
    grid = [[matrix[x][y][0] for y in LANGUAGES] for x in LANGUAGES]
    save_figure(
        plot_layer_heatmap(
            [[baseline[y][0] for y in LANGUAGES], *grid],
            row_labels=["none", *LANGUAGES],
            layers=list(LANGUAGES),
            colorbar_title="refusal rate",
            title=f"Refusal rate on harmful prompts of {m.name}, the direction of one language ablated "
            f"(layer {english.layer})",
            xaxis_title="language tested",
            yaxis_title="direction ablated",
            zmin=0.0,
            zmax=1.0,
            show_values=True,
        ),
        out / "refusal_universality",
    )
    save_figure(
        plot_similarity_matrices(
            sim.numpy(),
            languages=list(LANGUAGES),
            title=f"Cosine of the languages' refusal directions ({m.name})",
            active=english.layer,
        ),
        out / "refusal_universality_cosine",
    )
    save_figure(
        plot_layer_lines(
            {x: sim[:, 0, i].numpy() for i, x in enumerate(LANGUAGES) if x != "en"},
            title="Cosine of each language's refusal direction with the English one",
            yaxis_title="cosine with en",
        ),
        out / "refusal_universality_cosine_layers",
    )
    results = {
        "model": m.name,
        "languages": list(LANGUAGES),
        "layer": english.layer,
        "position": english.position,
        "train_items_per_class": n_train,
        "test_items": counts,
        "baseline": {y: list(v) for y, v in baseline.items()},
        "ablated[x][y]": {x: {y: list(v) for y, v in row.items()} for x, row in matrix.items()},
        "cosine[layer][x][y]": rounded(sim),
        "answer_nll[ablated][y]": nll,
    }
    write_json(out / "refusal_universality.json", results)
    off = [matrix[x][y][0] for x in LANGUAGES for y in LANGUAGES if x != y]
    return {
        "layer": english.layer,
        "baseline_refusal": {y: round(v[0], 3) for y, v in baseline.items()},
        "ablated_refusal_mean_off_diagonal": round(sum(off) / len(off), 3),
        "cosine_with_en_at_layer": {x: round(float(sim[english.layer, 0, i]), 3) for i, x in enumerate(LANGUAGES)},
    }


def main(argv=None) -> dict:
    return study_main(run, __doc__, argv)


if __name__ == "__main__":
    main()
