"""Study: does the English harmfulness direction separate harmful from harmless in other languages?

The English direction (difference of means; the same in units of each feature's within-class spread,
``standardised``; and the first principal component of paired differences) is computed from English
*training* items at every layer; its AUROC is measured on the *held-out* items of every language
(split by item id, so no translation of a training item is scored). Each language's own direction,
from its own training items, gives the in-language reference. The layer each is reported at is
chosen by a cross-validation of the training items alone (the maximum over layers of the held-out
AUROC is written too, marked as chosen on the test items).

The standardised direction (:func:`mechint.standardised_direction`, the diagonal form of Fisher's
discriminant) weighs each feature by its mean shift against its own noise. The plain difference of
means weighs by the size of the shift, which lets the residual stream's few features of huge
magnitude and spread (massive activations, see ``language_direction_cosine``) dominate it.

Writes ``figures/direction_transfer.png`` (AUROC of the English direction per language and layer),
``direction_transfer_standardised.png`` (the same for the standardised direction),
``direction_transfer_heatmap.png``, and the numbers as ``.csv``/``.json``.
"""

from __future__ import annotations

from pathlib import Path

import torch

import mechint
from mechint.plots import plot_layer_heatmap, plot_layer_lines, save_figure

from ._common import (
    INNER_FOLDS,
    LANGUAGES,
    check_inner_folds,
    direction_auroc,
    layers_chosen_on_training,
    rounded,
    safety_activations,
    study_main,
    write_json,
    write_table,
)

NAME = "direction_transfer"
METHODS = ("mean", "standardised", "pca")


def run(model: mechint.Model, out_dir: Path, *, n_per_class: int | None = None) -> dict:
    out_dir = Path(out_dir)
    sa = safety_activations(model, n_per_class=n_per_class)
    check_inner_folds(NAME, sa)
    tr, te = sa.train, sa.test
    test_langs = [sa.languages[i] for i in te.tolist()]
    langs = list(LANGUAGES)  # the sources and targets of every AUROC matrix
    en = langs.index("en")
    results = {m: direction_auroc(sa.acts, sa.labels, sa.languages, tr, te, m) for m in METHODS}  # [layer, src, tgt]
    chosen = {m: layers_chosen_on_training(sa, m) for m in METHODS}

    written = []
    for method, name, title in (
        ("mean", NAME, "AUROC of the English harmfulness direction on held-out items"),
        (
            "standardised",
            f"{NAME}_standardised",
            "AUROC of the English direction in units of each feature's within-class spread",
        ),
    ):
        written += save_figure(
            plot_layer_lines(
                {t: results[method][:, en, j].tolist() for j, t in enumerate(langs)},
                title=f"{title} ({model.name})",
                yaxis_title="AUROC (harmful vs harmless)",
                reference=0.5,
            ),
            out_dir / name,
        )
    rows = [f"{t} ({m})" for m in METHODS for t in langs]
    matrix = torch.stack([results[m][:, en, j] for m in METHODS for j in range(len(langs))])
    written += save_figure(
        plot_layer_heatmap(
            matrix,
            row_labels=rows,
            title="English direction, AUROC per language and layer",
            colorbar_title="AUROC",
            zmid=0.5,
            show_values=False,
        ),
        out_dir / f"{NAME}_heatmap",
    )

    table = []
    summary = {
        "model": str(model.name),
        "site": "blocks.{l}.hook_resid_post, last token",
        "split": "by item id, 30% of items held out, stratified, seed 0",
        "layer_selection": f"'layer_chosen_on_training': best mean AUROC over a {INNER_FOLDS}-fold cross-validation "
        "(by item) of the training rows alone, reported on the held-out rows; 'best_layer_on_test': the maximum "
        "over layers of the held-out AUROC itself (optimistic)",
        "n_test_rows_per_language": {t: test_langs.count(t) for t in langs},
        "methods": {},
    }
    for method, auc_m in results.items():
        per_lang = {}
        for j, t in enumerate(langs):
            best = int(auc_m[:, en, j].argmax())
            own_best = int(auc_m[:, j, j].argmax())
            k, k_own = int(chosen[method][en, j]), int(chosen[method][j, j])
            per_lang[t] = {
                "english_direction": {
                    "layer_chosen_on_training": k,
                    "auroc": round(auc_m[k, en, j].item(), 4),
                    "best_layer_on_test": best,
                    "auroc_best_on_test": round(auc_m[best, en, j].item(), 4),
                    "last_layer": round(auc_m[-1, en, j].item(), 4),
                },
                "own_direction": {
                    "layer_chosen_on_training": k_own,
                    "auroc": round(auc_m[k_own, j, j].item(), 4),
                    "best_layer_on_test": own_best,
                    "auroc_best_on_test": round(auc_m[own_best, j, j].item(), 4),
                },
            }
            for layer in range(auc_m.shape[0]):
                table.append([method, t, layer, float(auc_m[layer, en, j]), float(auc_m[layer, j, j])])
        summary["methods"][method] = {
            "per_language": per_lang,
            "auroc[layer][source][target]": rounded(auc_m, 4),
            "sources": langs,
            "targets": langs,
        }
    write_table(
        out_dir / f"{NAME}.csv",
        ["method", "language", "layer", "auroc_english_direction", "auroc_own_direction"],
        table,
    )
    write_json(out_dir / f"{NAME}.json", summary)
    return {
        "figures": [str(p) for p in written],
        "english_direction": {t: v["english_direction"] for t, v in summary["methods"]["mean"]["per_language"].items()},
    }


if __name__ == "__main__":
    study_main(run, __doc__)
