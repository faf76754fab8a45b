"""Study: cross-lingual transfer of harmfulness probes, train language x test language.

The probes of ``probe_layers`` (one per layer and training language, 5 folds by item id), shown as
the matrix ``[train language, test language]`` at the best layer: the layer with the highest mean
held-out accuracy over all pairs (chosen on the folds the matrices report, so slightly optimistic;
the JSON's ``nested`` block gives the matrix when each fold's layer is chosen on its training items
only). Off-diagonal cells measure how far a probe trained in one language carries to another; the
diagonal is training in the test language.

Writes ``figures/probe_transfer_accuracy.{png|html}``, ``probe_transfer_auroc`` and
``probe_transfer.json`` (the matrices at every layer, the best layer, the mean transfer gap per
layer) and ``probe_transfer.csv`` (the matrices at the best layer).

Run alone: ``python -m experiments.probe_transfer`` (or through ``python -m experiments``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import mechint
from mechint.plots import plot_transfer_gap, plot_transfer_matrix, save_figure

from ._common import check_probe_folds, layer_selection, study_main, transfer_results

NAME = "probe_transfer"


def run(model: mechint.Model, out_dir: Path, *, n_per_class: int | None = None, batch_size: int = 16) -> dict:
    """Write the transfer matrices at the best layer (computing the probes if this process has not)."""
    out_dir = Path(out_dir)
    ds, _, _, res = transfer_results(model, n_per_class=n_per_class, batch_size=batch_size, study=NAME)
    check_probe_folds(NAME, ds)
    A, B = res.train_languages, res.test_languages
    sel = layer_selection(model, n_per_class=n_per_class, batch_size=batch_size).choose(by="mean")
    best = int(sel.layer[0, 0])  # the layer with the best mean accuracy over all (train, test) pairs
    layer = res.layers[best]
    written = []
    for metric, title in (("accuracy", "accuracy"), ("auroc", "AUROC")):
        fig = plot_transfer_matrix(
            res,
            metric,
            layer=layer,  # both matrices at the best layer by accuracy
            title=f"Probe {title} trained in one language, tested in another: layer {layer} ({model.name})",
        )
        written += save_figure(fig, out_dir / f"{NAME}_{metric}")
    # transfer gap per layer: training in the test language vs the other training languages (the two
    # means plot_transfer_gap draws)
    diag, off = res.same_vs_other("accuracy")
    fig = plot_transfer_gap(
        res,
        "accuracy",
        title=f"Probe accuracy, mean over test languages: same vs other training language ({model.name})",
    )
    written += save_figure(fig, out_dir / f"{NAME}_by_layer")

    with open(out_dir / f"{NAME}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["layer", "train_language", "test_language", "accuracy", "auroc", "f1", "pr_auc"])
        for i, a in enumerate(A):
            for j, b in enumerate(B):
                w.writerow(
                    [
                        layer,
                        a,
                        b,
                        *(
                            f"{float(getattr(res.metrics, m)[best, i, j]):.6f}"
                            for m in ("accuracy", "auroc", "f1", "pr_auc")
                        ),
                    ]
                )
    at_best = {
        m: [[round(float(v), 4) for v in row] for row in getattr(res.metrics, m)[best]]
        for m in ("accuracy", "auroc", "f1", "pr_auc")
    }
    summary = {
        "model": str(model.name),
        "best_layer": layer,
        "best_layer_selection": "highest mean held-out accuracy over all (train, test) pairs, chosen on the same "
        "folds the matrices are reported on (optimistic)",
        "nested": {
            "selection": "each outer fold's layer chosen by the same rule from a 4-fold cross-validation on that "
            "fold's training items alone, scored on the held-out fold (mechint.probes.select_layer)",
            "layer_per_fold": [res.layers[int(k)] for k in sel.chosen[:, 0, 0]],
            "mean_accuracy": round(float(sel.metrics.accuracy.mean()), 4),
            "mean_accuracy_at_best_layer": round(float(sel.optimistic.accuracy.mean()), 4),
            "accuracy": [[round(float(v), 4) for v in row] for row in sel.metrics.accuracy],
            "auroc": [[round(float(v), 4) for v in row] for row in sel.metrics.auroc],
        },
        "train_languages": A,
        "test_languages": B,
        "positive_class": "1 (harmful)",
        "at_best_layer": at_best,
        "mean_accuracy_same_language": [round(float(v), 4) for v in diag],
        "mean_accuracy_other_language": [round(float(v), 4) for v in off],
        "all_layers": res.metrics.to_dict(4),
    }
    (out_dir / f"{NAME}.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    return {
        "figures": [str(p) for p in written],
        "best_layer": layer,
        "accuracy": at_best["accuracy"],
        "auroc": at_best["auroc"],
    }


if __name__ == "__main__":
    study_main(run, __doc__)
