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
from mechint import data
from mechint.plots import save_figure
from mechint.plots_probes import plot_probe_layers
from mechint.probes import LayerSelection, fold_ids, select_layer, transfer_matrix

NAME = "probe_layers"
LANGUAGES = ("en", "zh", "vi", "ar", "th")
FOLDS = 5
C = 1.0

_CACHE: dict = {}


def probe_data(model: mechint.Model, *, n_per_class: int | None = None, batch_size: int = 16):
    """The data set, its stacked last-token residuals ``[layer, n, d]`` (shared activation store) and
    the fold of each row (5 folds by item)."""
    ds = data.load_safety_pairs(list(LANGUAGES), n_per_class=n_per_class)
    sites = [f"blocks.{l}.hook_resid_post" for l in range(model.n_layers)]
    acts = mechint.collect(model, ds, sites, pool="last", batch_size=batch_size, store=True, progress="probes")
    return ds, acts.stack(sites), fold_ids(ds, k=FOLDS, seed=0)


def transfer_results(model: mechint.Model, *, n_per_class: int | None = None, batch_size: int = 16):
    """``(dataset, acts, folds, TransferResult)``, computed once per process and model (the three probe
    studies share it)."""
    key = (id(model), model.name, n_per_class)
    if key not in _CACHE:
        ds, acts, folds = probe_data(model, n_per_class=n_per_class, batch_size=batch_size)
        res = transfer_matrix(
            acts, ds.labels, ds.row_languages, folds, item_ids=ds.item_ids, C=C, device=model.device,
        )
        _CACHE.clear()
        _CACHE[key] = (ds, acts, folds, res)
    return _CACHE[key]


def layer_selection(model: mechint.Model, *, n_per_class: int | None = None, batch_size: int = 16) -> LayerSelection:
    """The nested layer selection over the shared transfer result (a layer per (train, test) pair by
    accuracy; ``.choose(metric, by)`` picks by another rule without refitting), once per process."""
    ds, acts, folds, res = transfer_results(model, n_per_class=n_per_class, batch_size=batch_size)
    key = ("selection", id(res))
    if key not in _CACHE:
        _CACHE[key] = select_layer(acts, ds.labels, ds.row_languages, folds, item_ids=ds.item_ids, outer=res,
                                   metric="accuracy", by="pair", C=C, device=model.device)
    return _CACHE[key]


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
    ds, acts, folds, res = transfer_results(model, n_per_class=n_per_class, batch_size=batch_size)
    langs = res.train_languages
    written = []
    for metric, title in (("accuracy", "accuracy"), ("auroc", "AUROC")):
        fig = plot_probe_layers(
            res, metric, reference_language="en",
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
                    w.writerow([layer, lang, train, *(f"{float(getattr(res.metrics, m)[k, a, b]):.6f}" for m in ("accuracy", "auroc", "f1", "pr_auc"))])
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
    return {"figures": [str(p) for p in written], "best_layer": {
        l: {k: [v[key]["layer"], v[key]["accuracy"], v[key]["nested"]["accuracy"]]
            for k, key in (("own", "trained_in_language"), ("en", "trained_on_en"))}
        for l, v in best.items()}}


if __name__ == "__main__":
    from ._common import study_main

    study_main(run, __doc__)
