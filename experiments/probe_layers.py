"""Study: linear probes through the layers, trained in English or in each language.

At every layer of the model, a logistic-regression probe on the last-token residual
(``blocks.{l}.hook_resid_post``) separates MultiJail's harmful prompts from XQuAD's harmless
questions, in en, zh, vi, ar and th. Probes are trained in one language and tested in every
language, with 5 folds by item id (a probe never sees a test item in any language), all layers,
training languages and folds in one batched fit per fold (``mechint.probes.transfer_matrix``).
The figures compare, for each language, the probe trained in English (dashed) with the probe
trained in that language (solid): accuracy and AUROC per layer (positive class: harmful).

Writes ``figures/probe_layers_accuracy.{png|html}``, ``probe_layers_auroc``, ``probe_layers.csv``
(layer x language x training) and ``probe_layers.json`` (every metric at every
[layer, train language, test language], and the best layer per language with its metrics there, and
the nested estimate: each fold's layer chosen on its training items only).

Run alone: ``python -m experiments.probe_layers`` (or through ``python -m experiments``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import mechint
from mechint.plots import plot_probe_layers, save_figure
from mechint.probes import LayerSelection

from ._common import PROBE_C as C
from ._common import PROBE_FOLDS as FOLDS
from ._common import check_probe_folds, layer_selection, study_main, transfer_results

NAME = "probe_layers"


def best_layers(sel: LayerSelection) -> dict[str, dict]:
    """Per language: the layer where the probe trained and tested in it scores best, and the layer
    where the English-trained probe does, with the metrics there (chosen on the folds they are
    reported on, so optimistic) and the nested estimate (each fold's layer chosen on its training
    items only)."""
    langs, tests = sel.train_languages, sel.test_languages
    en = langs.index("en")
    out = {}
    for i, lang in enumerate(langs):
        b = tests.index(lang)
        out[lang] = {key: _cell(sel, a, b) for key, a in (("trained_in_language", i), ("trained_on_en", en))}
    return out


def _cell(sel: LayerSelection, a: int, b: int) -> dict:
    m, nested = sel.optimistic, sel.metrics
    return {
        "layer": sel.layers[int(sel.layer[a, b])],
        **{k: _r(getattr(m, k)[a, b]) for k in ("accuracy", "auroc", "f1", "pr_auc")},
        "nested": {
            "layer_per_fold": [sel.layers[int(k)] for k in sel.chosen[:, a, b]],
            **{k: _r(getattr(nested, k)[a, b]) for k in ("accuracy", "auroc", "f1", "pr_auc")},
        },
    }


def _r(x) -> float:
    return round(float(x), 4)


def run(model: mechint.Model, out_dir: Path, *, n_per_class: int | None = None, batch_size: int = 16) -> dict:
    """Fit the probes on ``model`` and write the figures and numbers."""
    out_dir = Path(out_dir)
    ds, acts, folds, res = transfer_results(model, n_per_class=n_per_class, batch_size=batch_size, study=NAME)
    check_probe_folds(NAME, ds)
    langs = res.train_languages
    written = []
    for metric, title in (("accuracy", "accuracy"), ("auroc", "AUROC")):
        fig = plot_probe_layers(
            res,
            metric,
            reference_language="en",
            title=f"Harmful vs harmless probe {title} per layer, tested in each language ({model.name})",
        )
        written += save_figure(fig, out_dir / f"{NAME}_{metric}")

    with open(out_dir / f"{NAME}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["layer", "test_language", "trained_on", "accuracy", "auroc", "f1", "pr_auc"])
        for k, layer in enumerate(res.layers):
            for lang in langs:
                b = res.test_languages.index(lang)
                for train in dict.fromkeys([lang, "en"]):
                    a = langs.index(train)
                    w.writerow(
                        [
                            layer,
                            lang,
                            train,
                            *(
                                f"{float(getattr(res.metrics, m)[k, a, b]):.6f}"
                                for m in ("accuracy", "auroc", "f1", "pr_auc")
                            ),
                        ]
                    )
    best = best_layers(layer_selection(model, n_per_class=n_per_class, batch_size=batch_size))
    summary = {
        "model": str(model.name),
        "site": "blocks.{l}.hook_resid_post, last token",
        "probe": f"logistic regression, StandardScaler on the training rows, L2 with C={C} (intercept unpenalised), "
        "class weights none (classes are balanced)",
        "positive_class": "1 (harmful: MultiJail); negative: 0 (harmless: XQuAD questions)",
        "evaluation": f"{FOLDS} folds by item id; each metric is the mean over the folds of the held-out rows in the test language",
        "languages": langs,
        "n_per_language": {l: sum(1 for x in ds.row_languages if x == l) for l in langs},
        "layers": res.layers,
        "axes": ["layer", "train_language", "test_language"],
        "metrics": res.metrics.to_dict(4),
        "best_layer": best,
        "best_layer_selection": "layer with the highest mean held-out accuracy for that (train, test) pair, "
        "chosen on the same folds its metrics are reported on (optimistic); 'nested': each outer fold's layer "
        "chosen by a 4-fold cross-validation on that fold's training items alone, scored on the held-out fold "
        "(mechint.probes.select_layer), the unbiased estimate of choosing a layer and using it",
    }
    (out_dir / f"{NAME}.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    return {
        "figures": [str(p) for p in written],
        "best_layer": {
            l: {
                k: [v[key]["layer"], v[key]["accuracy"], v[key]["nested"]["accuracy"]]
                for k, key in (("own", "trained_in_language"), ("en", "trained_on_en"))
            }
            for l, v in best.items()
        },
    }


if __name__ == "__main__":
    study_main(run, __doc__)
