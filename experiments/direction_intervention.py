"""Study: acting on the English harmfulness direction, in every language.

1. Ablation: the English direction of each layer (difference of means on English training items) is
   projected out of ``blocks.{l}.hook_resid_post`` at every layer and every token but BOS. How much
   separability is left in each language: the AUROC, on held-out items, of that language's own
   direction refitted on the ablated activations of its training items, against the same without
   ablation.
2. Steering: ``alpha`` times the English direction is added at one layer, at every token but BOS, to
   the held-out harmless prompts of every language. The layer is chosen by rule, on English training
   items only: the layer where the English direction separates them best in a cross-validation. The
   unit of ``alpha`` is the gap between the English harmful and harmless means along the direction at
   that layer. The score is the projection on the English direction of the last layer; the shift is
   reported as a fraction of that language's harmful-harmless gap (0: unchanged, 1: harmful mean).
   Part of it is the added vector itself, carried to the last layer by the skip connections and read
   there (``alpha * gap * cos(d_layer, d_last)``); the JSON splits the shift into that part and the
   later layers' response. A second reading does not project on the steered direction at all: the
   share of prompts that a logistic-regression probe of the last layer, fitted on the unsteered
   training items of every language, calls harmful.
3. Generations before and after steering, greedy, a few prompts per language, saved as a table.

The BOS token is left alone, as in :mod:`experiments.neurons_editing`: every prompt's first token is
the same attention sink that all later tokens read, with a large residual that projects strongly on
the direction, so writing there changes what every token reads whatever the prompt says, and the
direction at BOS carries nothing about the prompt (what ablating and steering at BOS alone did is on
the study page, ``docs/studies/direction_intervention.md``). ``positions=CONTENT``
(``from_text_start(slice(1, None))``) skips each prompt's first token in the left-padded batches too.

Writes ``figures/direction_intervention_*.png`` and ``direction_intervention.{json,csv}``,
``direction_intervention_generations.{csv,md}``.
"""

from __future__ import annotations

from pathlib import Path

import torch

import mechint
from mechint.directions import auroc, diff_in_means
from mechint.interventions import AblateDirection, AddDirection, intervene
from mechint.plots import plot_layer_heatmap, plot_layer_lines, save_figure
from mechint.probes import fit_probes

from ._common import (
    CONTENT,
    LANGUAGES,
    check_inner_folds,
    direction_auroc,
    generate_texts,
    layers_chosen_on_training,
    rounded,
    safety_activations,
    study_main,
    write_json,
    write_table,
)

NAME = "direction_intervention"
ALPHAS = (0.5, 1.0, 2.0)
N_GENERATIONS = 2  # prompts per language
MAX_NEW_TOKENS = 24


def run(model: mechint.Model, out_dir: Path, *, n_per_class: int | None = None, batch_size: int = 16) -> dict:
    out_dir = Path(out_dir)
    sa = safety_activations(model, n_per_class=n_per_class, batch_size=batch_size)
    check_inner_folds(NAME, sa)
    L, last = model.n_layers, model.n_layers - 1
    en_train = sa.rows(sa.train, "en")
    en_test = sa.rows(sa.test, "en")
    d_en = diff_in_means(sa.acts[:, en_train], sa.labels[en_train])  # [layer, d]
    sites = [f"blocks.{l}.hook_resid_post" for l in range(L)]

    # 1. ablation ------------------------------------------------------------------------------
    # AUROC [layer, language] of each language's own direction (fitted on its training rows) on its test rows
    before = direction_auroc(sa.acts, sa.labels, sa.languages, sa.train, sa.test).diagonal(dim1=1, dim2=2)
    with intervene(model, AblateDirection(d_en, positions=CONTENT)):
        ablated = mechint.collect(model, sa.dataset, sites, pool="last", batch_size=batch_size, progress="ablated")
    ablated_acts = ablated.stack(sites)
    after = direction_auroc(ablated_acts, sa.labels, sa.languages, sa.train, sa.test).diagonal(dim1=1, dim2=2)
    en_scores_after = torch.einsum("lnd,ld->ln", ablated_acts.double(), d_en.double())
    max_residual_projection = float(en_scores_after.abs().max() / sa.acts.double().norm(dim=-1).mean())

    # 2. steering ------------------------------------------------------------------------------
    en_auc = auroc(torch.einsum("lnd,ld->ln", sa.acts[:, en_test], d_en), sa.labels[en_test])  # [layer]
    en = LANGUAGES.index("en")
    layer = int(layers_chosen_on_training(sa, "mean")[en, en])  # chosen without the held-out items
    proj = sa.acts[layer, en_train] @ d_en[layer]
    y = sa.labels[en_train].bool()
    gap = float(proj[y].mean() - proj[~y].mean())
    final_dir = d_en[last]
    shift: dict[str, list[float]] = {lang: [] for lang in LANGUAGES}
    # the added vector itself reaches the last layer's residual through the skip connections: read
    # by the last-layer direction it alone moves the score by alpha * gap * cos(d_layer, d_last); the
    # rest of the shift is what the later layers do in response
    carried = gap * float(d_en[layer].double() @ final_dir.double())  # score moved per unit of alpha
    direct: dict[str, list[float]] = {lang: [] for lang in LANGUAGES}
    harmless_test = sa.test[sa.labels[sa.test] == 0]
    texts = [sa.dataset[i].text for i in harmless_test.tolist()]
    test_langs = [sa.languages[i] for i in harmless_test.tolist()]
    base_scores = sa.acts[last] @ final_dir  # [n]
    # a second reading, independent of the steered direction: a logistic-regression probe of the last
    # layer fitted on the unsteered training items of every language, and the share of prompts it
    # calls harmful
    probe = fit_probes(sa.acts[last], sa.labels[sa.train], rows=sa.train)
    called = {lang: {} for lang in LANGUAGES}
    for lang in LANGUAGES:
        rows = sa.rows(sa.test, lang)
        for label, name in ((0, "harmless, unsteered"), (1, "harmful, unsteered")):
            picked = rows[sa.labels[rows] == label]
            called[lang][name] = round(float(probe.predict(sa.acts[last, picked]).float().mean()), 4)
    for alpha in ALPHAS:
        with intervene(model, AddDirection(d_en[layer], alpha * gap, sites=sites[layer], positions=CONTENT)):
            steered = mechint.collect(
                model, texts, sites[last], pool="last", batch_size=batch_size, progress=f"steer {alpha}"
            )
        scores = steered[sites[last]] @ final_dir
        harmful_call = probe.predict(steered[sites[last]]).float()
        for lang in LANGUAGES:
            rows = sa.rows(sa.test, lang)
            harm = base_scores[rows][sa.labels[rows] == 1].mean()
            safe = base_scores[rows][sa.labels[rows] == 0].mean()
            mine = torch.tensor([i for i, l in enumerate(test_langs) if l == lang])
            shift[lang].append(float((scores[mine].mean() - safe) / (harm - safe)))
            direct[lang].append(float(alpha * carried / (harm - safe)))
            called[lang][f"harmless, steered alpha {alpha}"] = round(float(harmful_call[mine].mean()), 4)

    # 3. generations ---------------------------------------------------------------------------
    picks = [
        (lang, t) for lang in LANGUAGES for t in [t for t, l in zip(texts, test_langs) if l == lang][:N_GENERATIONS]
    ]
    prompts = [t for _, t in picks]
    plain = generate_texts(model, prompts, max_new_tokens=MAX_NEW_TOKENS)
    pushed = generate_texts(
        model,
        prompts,
        AddDirection(d_en[layer], 2.0 * gap, sites=sites[layer], positions=CONTENT),
        max_new_tokens=MAX_NEW_TOKENS,
    )
    generations = [[lang, p, a, b] for (lang, p), a, b in zip(picks, plain, pushed)]

    # figures and numbers ----------------------------------------------------------------------
    written = save_figure(
        plot_layer_lines(
            {lang: after[:, j].tolist() for j, lang in enumerate(LANGUAGES)},
            title=f"Separability left after ablating the English direction at every layer ({model.name})",
            yaxis_title="AUROC of the language's own direction",
            reference=0.5,
        ),
        out_dir / f"{NAME}_ablation",
    )
    rows = [f"{lang} {when}" for lang in LANGUAGES for when in ("before", "after")]
    matrix = torch.stack([m[:, j] for j in range(len(LANGUAGES)) for m in (before, after)])
    written += save_figure(
        plot_layer_heatmap(
            matrix,
            row_labels=rows,
            zmid=0.5,
            colorbar_title="AUROC",
            title="Own-direction AUROC before and after ablating the English direction",
        ),
        out_dir / f"{NAME}_ablation_heatmap",
    )
    written += save_figure(
        plot_layer_lines(
            shift,
            layers=list(ALPHAS),
            xaxis_title=f"alpha (x English harmful-harmless gap, added at layer {layer})",
            title="Steering harmless prompts with the English direction",
            yaxis_title="shift toward harmful (fraction of the gap)",
            reference=0.0,
        ),
        out_dir / f"{NAME}_steering",
    )
    write_table(
        out_dir / f"{NAME}.csv",
        ["language", "layer", "auroc_before", "auroc_after_ablation"],
        [[lang, l, float(before[l, j]), float(after[l, j])] for j, lang in enumerate(LANGUAGES) for l in range(L)],
    )
    write_table(
        out_dir / f"{NAME}_generations.csv",
        ["language", "prompt", "plain", f"steered (alpha=2, layer {layer})"],
        generations,
    )
    md = ["| language | prompt | plain | steered |", "|---|---|---|---|"]
    md += ["| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |" for row in generations]
    (out_dir / f"{NAME}_generations.md").write_text("\n".join(md) + "\n")
    summary = {
        "model": str(model.name),
        "direction": "difference of means on English training items, per layer, blocks.{l}.hook_resid_post, last token",
        "ablation": {
            "where": "every layer, every token but BOS (from_text_start(slice(1, None))), blocks.{l}.hook_resid_post",
            "max |projection| left on the English direction / mean residual norm": max_residual_projection,
            "auroc_before[layer][language]": rounded(before, 4),
            "auroc_after[layer][language]": rounded(after, 4),
            "languages": list(LANGUAGES),
            "last_layer": {
                lang: {"before": round(float(before[-1, j]), 4), "after": round(float(after[-1, j]), 4)}
                for j, lang in enumerate(LANGUAGES)
            },
            "best_layer_before_vs_after": {
                lang: {"before": round(float(before[:, j].max()), 4), "after": round(float(after[:, j].max()), 4)}
                for j, lang in enumerate(LANGUAGES)
            },
        },
        "steering": {
            "layer": layer,
            "layer_rule": "best mean AUROC of the English direction over a 5-fold cross-validation of the "
            "English training items (direction_transfer.layers_chosen_on_training)",
            "where": f"blocks.{layer}.hook_resid_post, every token but BOS (from_text_start(slice(1, None)))",
            "english_auroc_at_layer": round(float(en_auc[layer]), 4),
            "gap": gap,
            "alphas": list(ALPHAS),
            "shift_toward_harmful": {k: rounded(v, 4) for k, v in shift.items()},
            "of_which_the_added_vector_itself": {
                "what": "alpha * gap * cos(direction at the steered layer, last-layer direction) in each "
                "language's gap: the added vector carried unchanged by the skip connections to the last "
                "layer and read there; the rest of the shift is the later layers' response",
                "cos": round(float(d_en[layer].double() @ final_dir.double()), 4),
                **{k: rounded(v, 4) for k, v in direct.items()},
            },
            "response_of_later_layers": {
                k: rounded([a - b for a, b in zip(shift[k], direct[k])], 4) for k in LANGUAGES
            },
            "probe_readout": {
                "what": "share of held-out prompts called harmful by a logistic-regression probe of the last "
                "layer (fit_probes, C=1, standardised features) fitted on the unsteered training items of all "
                "languages: a reading of the steering that does not project on the steered direction",
                "called_harmful[language]": called,
            },
        },
    }
    write_json(out_dir / f"{NAME}.json", summary)
    return {
        "figures": [str(p) for p in written],
        "ablation_last_layer": summary["ablation"]["last_layer"],
        "steering_layer": layer,
        "shift_at_alpha_1": {k: round(v[1], 3) for k, v in shift.items()},
        "of_which_added_vector_at_alpha_1": {k: round(v[1], 3) for k, v in direct.items()},
    }


if __name__ == "__main__":
    study_main(run, __doc__)
