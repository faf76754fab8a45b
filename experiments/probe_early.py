"""Study: early prediction. How much of a prompt must a probe see to tell harmful from harmless?

At one layer (the best by mean held-out AUROC of the probes trained and tested in each language,
from ``probe_layers``), the residual at the last token of every token prefix of each prompt: the first
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
from mechint.plots import save_figure
from mechint.plots_probes import plot_early_prediction
from mechint.prefixes import collect_prefixes, split_sentences
from mechint.probes import early_prediction

from .probe_layers import C, transfer_results

NAME = "probe_early"
FRACTIONS = (0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1.0)


def run(model: mechint.Model, out_dir: Path, *, n_per_class: int | None = None, batch_size: int = 16) -> dict:
    """Compute the early-prediction curves on ``model`` and write the figure and numbers."""
    out_dir = Path(out_dir)
    ds, _, folds, res = transfer_results(model, n_per_class=n_per_class, batch_size=batch_size)
    diag = res.diagonal()  # [L, A]
    k = int(diag.auroc.mean(1).argmax())
    layer = res.layers[k]
    site = f"blocks.{layer}.hook_resid_post"
    pre = collect_prefixes(model, ds, [site], FRACTIONS, batch_size=batch_size, store=True, progress=NAME)
    er = early_prediction(
        pre[site], ds.labels, ds.row_languages, folds, FRACTIONS, item_ids=ds.item_ids, C=C, device=model.device,
    )
    fig = plot_early_prediction(
        er, "auroc",
        title=f"Early prediction at layer {layer}: AUROC against the share of the prompt seen ({model.name})",
    )
    written = save_figure(fig, out_dir / NAME)

    with open(out_dir / f"{NAME}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["fraction", "language", "probe", "auroc", "accuracy", "f1", "pr_auc"])
        for j, fr in enumerate(FRACTIONS):
            for i, lang in enumerate(er.languages):
                for probe, m in (("per_fraction", er.per_fraction), ("whole", er.whole)):
                    w.writerow([fr, lang, probe, *(f"{float(getattr(m, key)[j, i]):.6f}" for key in ("auroc", "accuracy", "f1", "pr_auc"))])
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
        "layer": layer,
        "layer_selection": "highest mean held-out AUROC of the probes trained and tested in each language (probe_layers)",
        "site": f"{site}, last token of each token prefix",
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
    return {"figures": [str(p) for p in written], "layer": layer,
            "auroc_at": {f: {l: [round(v["per_fraction"], 4), round(v["whole"], 4)] for l, v in er.at(f).items()} for f in (0.25, 0.5)}}


if __name__ == "__main__":
    from ._common import study_main

    study_main(run, __doc__)
