"""Study: how well do a language's sentences align with their English translations through the
layers, and does that predict how well the English harmfulness direction transfers to the language?

Bilingual sentence retrieval (arXiv 2406.16235, Section 6) on ``N_ITEMS`` parallel XQuAD questions in
each of XQuAD's 12 languages: sentence embeddings are mean-pooled ``blocks.{l}.hook_resid_post``
over the real tokens but BOS (:func:`mechint.alignment.sentence_embeddings`); for every layer and
every language pair, top-1 cosine retrieval both ways and the mean cosine of the true pairs
(:func:`mechint.alignment.retrieval_matrix`). "Accuracy against English" is the mean of the two
directions (language -> English, English -> language); chance is ``1 / N_ITEMS``.

The transfer AUROC is the one of :mod:`experiments.direction_transfer`, recomputed here from the same
stored activations (English difference-of-means direction from English training items, AUROC on each
language's held-out items): the languages both data sets carry (zh, vi, ar, th) give the scatter of
retrieval accuracy (best layer) against transfer AUROC (best layer), with Pearson's and Spearman's
correlation. With four points, neither is significant at any usual level; the scatter shows the
ordering.

Writes ``figures/alignment_retrieval.png`` (accuracy against English per layer),
``alignment_retrieval_cosine.png``, ``alignment_retrieval_matrices.png`` (language x language, slider
over layers), ``alignment_retrieval_scatter.png``, and ``alignment_retrieval.json`` / ``.csv``.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import torch

import mechint
from mechint import data
from mechint.alignment import retrieval_matrix, sentence_embeddings
from mechint.plots import plot_labelled_scatter, plot_layer_lines, plot_similarity_matrices, save_figure
from mechint.stats import pearson, spearman

from ._common import (
    LANGUAGES,
    check_counts,
    class_counts,
    direction_auroc,
    rounded,
    safety_activations,
    study_main,
    write_json,
    write_table,
)

NAME = "alignment_retrieval"
N_ITEMS = 100


def english_transfer_auroc(model: mechint.Model, n_per_class: int | None = None) -> dict[str, list[float]]:
    """Per language, the AUROC per layer of the English difference-of-means direction on held-out
    items, exactly as :mod:`experiments.direction_transfer` computes it."""
    sa = safety_activations(model, n_per_class=n_per_class)
    check_counts(
        NAME,
        class_counts(sa.labels, sa.languages, sa.test),
        minimum=2,
        what="the transfer AUROC on each language's held-out items",
    )
    auc = direction_auroc(sa.acts, sa.labels, sa.languages, sa.train, sa.test)  # [layer, source, target]
    en = LANGUAGES.index("en")
    return {t: auc[:, en, j].tolist() for j, t in enumerate(LANGUAGES)}


def _correlations(x: list[float], y: list[float]) -> dict:
    """Pearson's and Spearman's correlation with exact permutation p-values (two-sided, over all
    orderings of ``y``: a t-approximation means nothing with a handful of languages)."""
    n = len(x)
    if n < 3:
        return {"pearson": None, "spearman": None, "n": n}
    r_pearson, r_spearman = pearson(x, y), spearman(x, y)
    out = {"pearson": round(r_pearson, 4), "spearman": round(r_spearman, 4), "n": n}
    if n <= 8:
        perms = list(itertools.permutations(y))
        out["pearson_p"] = round(sum(abs(pearson(x, p)) >= abs(r_pearson) - 1e-12 for p in perms) / len(perms), 4)
        out["spearman_p"] = round(sum(abs(spearman(x, p)) >= abs(r_spearman) - 1e-12 for p in perms) / len(perms), 4)
        out["p_values"] = f"exact permutation test over all {len(perms)} orderings, two-sided"
    return out


def run(
    model: mechint.Model,
    out_dir: Path,
    *,
    n_items: int = N_ITEMS,
    n_per_class: int | None = None,
    languages=data.XQUAD_LANGUAGES,
) -> dict:
    out_dir = Path(out_dir)
    langs = ["en"] + [l for l in languages if l != "en"]
    if n_per_class is not None:  # a quick run: as few parallel questions as safety items per class
        n_items = min(n_items, n_per_class)
    xq = data.load_xquad(langs, n=n_items)
    emb = sentence_embeddings(model, xq.texts, batch_size=16, progress="sentence embeddings")  # [layer, n, d]
    row_lang = xq.row_languages
    by_lang, first_ids = {}, None
    for lang in langs:
        rows = torch.tensor([i for i, l in enumerate(row_lang) if l == lang])
        ids = [xq[i].item_id for i in rows.tolist()]
        if first_ids is not None and ids != first_ids:
            raise AssertionError("XQuAD rows are not parallel across languages")
        first_ids = ids
        by_lang[lang] = emb[:, rows]
    matrix = retrieval_matrix(by_lang)
    centered = retrieval_matrix(by_lang, center=True)
    vs_en = matrix.against("en")
    vs_en_centered = centered.against("en")
    L = model.n_layers
    en_i = matrix.languages.index("en")
    cos_en = {l: matrix.mean_cosine[:, matrix.languages.index(l), en_i] for l in langs if l != "en"}
    best = {
        l: {
            "layer": int(acc.argmax()),
            "accuracy": round(float(acc.max()), 4),
            "to_en": round(float(matrix.accuracy[int(acc.argmax()), matrix.languages.index(l), en_i]), 4),
            "from_en": round(float(matrix.accuracy[int(acc.argmax()), en_i, matrix.languages.index(l)]), 4),
            "last_layer": round(float(acc[-1]), 4),
            "centered_best": round(float(vs_en_centered[l].max()), 4),
            "centered_best_layer": int(vs_en_centered[l].argmax()),
        }
        for l, acc in vs_en.items()
    }

    # transfer AUROC and the correlation ---------------------------------------------------------
    auroc = english_transfer_auroc(model, n_per_class=n_per_class)
    shared = [l for l in LANGUAGES if l != "en" and l in vs_en]
    x_best = [best[l]["accuracy"] for l in shared]
    y_best = [max(auroc[l]) for l in shared]
    corr = {
        "retrieval best layer vs AUROC best layer": _correlations(x_best, y_best),
        "retrieval last layer vs AUROC last layer": _correlations(
            [float(vs_en[l][-1]) for l in shared], [auroc[l][-1] for l in shared]
        ),
        "retrieval mean over layers vs AUROC mean over layers": _correlations(
            [float(vs_en[l].mean()) for l in shared], [sum(auroc[l]) / L for l in shared]
        ),
        "centered retrieval best layer vs AUROC best layer": _correlations(
            [best[l]["centered_best"] for l in shared], y_best
        ),
    }
    # figures ------------------------------------------------------------------------------------
    written = save_figure(
        plot_layer_lines(
            {l: v for l, v in vs_en.items()},
            title=f"Retrieval of English translations, {n_items} XQuAD questions ({model.name})",
            yaxis_title="top-1 accuracy (mean of both directions)",
            reference=1 / n_items,
            reference_label="chance",
        ),
        out_dir / NAME,
    )
    written += save_figure(
        plot_layer_lines(
            cos_en,
            title="Mean cosine of true translation pairs with English, per layer",
            yaxis_title="mean cosine (true pairs)",
        ),
        out_dir / f"{NAME}_cosine",
    )
    mean_acc = matrix.accuracy.mean((1, 2))
    written += save_figure(
        plot_similarity_matrices(
            matrix.accuracy,
            languages=matrix.languages,
            active=int(mean_acc.argmax()),
            title="Top-1 retrieval accuracy, row language -> column language",
            colorbar_title="accuracy",
        ),
        out_dir / f"{NAME}_matrices",
    )
    c = corr["retrieval best layer vs AUROC best layer"]
    if c["pearson"] is None:
        note = f"n = {c['n']}: too few languages for a correlation"
    else:
        note = f"Pearson r = {c['pearson']:.3f}, Spearman rho = {c['spearman']:.3f}, n = {c['n']}"
        if "pearson_p" in c:
            note += f"\npermutation p: {c['pearson_p']:.2f} (Pearson), {c['spearman_p']:.2f} (Spearman)"
    written += save_figure(
        plot_labelled_scatter(
            x_best,
            y_best,
            shared,
            title="Does alignment with English predict direction transfer?",
            xaxis_title="retrieval accuracy vs English (best layer)",
            yaxis_title="English-direction AUROC (best layer)",
            annotation=note,
        ),
        out_dir / f"{NAME}_scatter",
    )

    # numbers ------------------------------------------------------------------------------------
    table = [
        [l, layer, float(vs_en[l][layer]), float(vs_en_centered[l][layer]), float(cos_en[l][layer])]
        for l in vs_en
        for layer in range(L)
    ]
    write_table(
        out_dir / f"{NAME}.csv",
        ["language", "layer", "accuracy_vs_en", "accuracy_vs_en_centered", "mean_cosine_vs_en"],
        table,
    )
    summary = {
        "model": str(model.name),
        "items": n_items,
        "embedding": "mean of blocks.{l}.hook_resid_post over the real tokens, BOS excluded",
        "chance": 1 / n_items,
        "languages": matrix.languages,
        "best_layer_vs_en": best,
        "accuracy_vs_en[language][layer]": {l: rounded(v, 4) for l, v in vs_en.items()},
        "accuracy_vs_en_centered[language][layer]": {l: rounded(v, 4) for l, v in vs_en_centered.items()},
        "mean_cosine_vs_en[language][layer]": {l: rounded(v, 4) for l, v in cos_en.items()},
        "accuracy[layer][src][tgt]": rounded(matrix.accuracy, 4),
        "mean_cosine[layer][src][tgt]": rounded(matrix.mean_cosine, 4),
        "transfer_auroc_english_direction": {
            l: {
                "best": round(max(auroc[l]), 4),
                "best_layer": int(torch.tensor(auroc[l]).argmax()),
                "last_layer": round(auroc[l][-1], 4),
            }
            for l in shared
        },
        "correlation": corr,
        "scatter": {l: {"retrieval": x, "auroc": y} for l, x, y in zip(shared, x_best, y_best)},
    }
    write_json(out_dir / f"{NAME}.json", summary)
    return {
        "figures": [str(p) for p in written],
        "best_layer_vs_en": {l: f"{v['accuracy']:.3f} at layer {v['layer']}" for l, v in best.items()},
        "correlation_best_layers": corr["retrieval best layer vs AUROC best layer"],
    }


if __name__ == "__main__":
    study_main(run, __doc__)
