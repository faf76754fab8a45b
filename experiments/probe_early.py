"""Study: early prediction. How much of a prompt must a probe see to tell harmful from harmless?

At one layer per held-out fold (the best by mean AUROC of the probes trained and tested in each
language, chosen by a cross-validation on that fold's training items only, ``probe_layers``'s nested
selection), the residual at the last token of every token prefix of each prompt: the first
10%, 20%, 25%, ... 100% of its tokens (after the BOS token), read in one forward pass per prompt
(``mechint.prefixes.collect_prefixes``; a causal model's activation at a position does not depend
on later tokens). Per language, with 5 folds by item id: a probe trained on whole prompts and tested
on each prefix, and a probe trained and tested on each prefix length (fitted from scratch). The figure plots held-out AUROC (positive class: harmful) against the fraction of the prompt
seen.

Also reported: how many prompts have more than one sentence in each language, by
``mechint.prefixes.split_sentences`` (which handles Chinese and Thai, written without spaces between
words).

Writes ``figures/probe_early.{png|html}``, ``probe_early.csv`` and ``probe_early.json``.

Run alone: ``python -m experiments.probe_early`` (or through ``python -m experiments``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import mechint
from mechint.plots import plot_early_prediction, save_figure
from mechint.prefixes import collect_prefixes, split_sentences
from mechint.probes import EarlyResult, early_prediction

from ._common import PROBE_C as C
from ._common import check_probe_folds, layer_selection, study_main, transfer_results

NAME = "probe_early"
FRACTIONS = (0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1.0)


def run(model: mechint.Model, out_dir: Path, *, n_per_class: int | None = None, batch_size: int = 16) -> dict:
    """Compute the early-prediction curves on ``model`` and write the figure and numbers."""
    out_dir = Path(out_dir)
    ds, _, folds, res = transfer_results(model, n_per_class=n_per_class, batch_size=batch_size, study=NAME)
    check_probe_folds(NAME, ds)
    # each held-out fold at the layer its training items choose (best mean AUROC of the probes trained
    # and tested in each language, by an inner cross-validation), so the layer choice sees no test item
    sel = layer_selection(model, n_per_class=n_per_class, batch_size=batch_size).choose(
        metric="auroc", by="same_language"
    )
    fold_layer = {f: res.layers[int(k)] for f, k in zip(sel.outer.folds, sel.chosen[:, 0, 0].tolist())}
    by_layer: dict = {}
    for f, layer in fold_layer.items():
        by_layer.setdefault(layer, []).append(f)
    sites = {layer: f"blocks.{layer}.hook_resid_post" for layer in sorted(by_layer)}
    pre = collect_prefixes(model, ds, list(sites.values()), FRACTIONS, batch_size=batch_size, store=True, progress=NAME)
    er = EarlyResult.join(
        [
            early_prediction(
                pre[sites[layer]],
                ds.labels,
                ds.row_languages,
                folds,
                FRACTIONS,
                item_ids=ds.item_ids,
                test_folds=fs,
                C=C,
                device=model.device,
            )
            for layer, fs in by_layer.items()
        ]
    )
    fig = plot_early_prediction(
        er,
        "auroc",
        title=f"Early prediction: AUROC against the share of the prompt seen ({model.name})<br><sup>each fold at "
        f"the layer its training items choose: {', '.join(map(str, sorted(by_layer)))}</sup>",
    )
    written = save_figure(fig, out_dir / NAME)

    with open(out_dir / f"{NAME}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["fraction", "language", "probe", "auroc", "accuracy", "f1", "pr_auc"])
        for j, fr in enumerate(FRACTIONS):
            for i, lang in enumerate(er.languages):
                for probe, m in (("per_fraction", er.per_fraction), ("whole", er.whole)):
                    w.writerow(
                        [
                            fr,
                            lang,
                            probe,
                            *(f"{float(getattr(m, key)[j, i]):.6f}" for key in ("auroc", "accuracy", "f1", "pr_auc")),
                        ]
                    )
    mean_tokens = {
        lang: round(float(pre.n_tokens[[i for i, l in enumerate(ds.row_languages) if l == lang]].float().mean()), 1)
        for lang in er.languages
    }
    sentences = {}
    for lang in er.languages:
        for label, cls in ((1, "harmful"), (0, "harmless")):
            texts = [ex.text for ex in ds if ex.language == lang and ex.label == label]
            counts = [len(split_sentences(t)) for t in texts]
            sentences.setdefault(lang, {})[cls] = {
                "mean_sentences": round(sum(counts) / len(counts), 3),
                "share_with_2_or_more": round(sum(c > 1 for c in counts) / len(counts), 3),
            }
    summary = {
        "model": str(model.name),
        "layer_per_fold": {str(f): layer for f, layer in sorted(fold_layer.items())},
        "layer_selection": "per held-out fold, the layer with the highest mean AUROC of the probes trained and tested "
        "in each language, by a 4-fold cross-validation on that fold's training items alone (mechint.probes."
        "select_layer); no test item takes part in choosing the layer it is scored at",
        "site": "blocks.{layer}.hook_resid_post, last token of each token prefix",
        "prefix": "the BOS token plus the first ceil(f * m) of the prompt's m other tokens",
        "fractions": list(FRACTIONS),
        "languages": er.languages,
        "positive_class": "1 (harmful)",
        "evaluation": "5 folds by item id, per language; metrics are means over the folds",
        "auroc_at": {str(f): er.at(f) for f in (0.25, 0.5, 1.0)},
        "per_fraction": er.per_fraction.to_dict(4),
        "whole_prompt_probe": er.whole.to_dict(4),
        "mean_tokens_per_prompt": mean_tokens,
        "sentences": sentences,
    }
    (out_dir / f"{NAME}.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    return {
        "figures": [str(p) for p in written],
        "layers": sorted(by_layer),
        "auroc_at": {
            f: {l: [round(v["per_fraction"], 4), round(v["whole"], 4)] for l, v in er.at(f).items()}
            for f in (0.25, 0.5)
        },
    }


if __name__ == "__main__":
    study_main(run, __doc__)
