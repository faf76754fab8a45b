"""Study: does the earlier "harmfulness" contrast measure refusal? MultiJail-vs-XQuAD against PolyRefuse.

The earlier studies (direction_transfer, probe_*, neurons_*, patching_minimal_pairs) contrast
MultiJail's harmful prompts with XQuAD's questions: two sources that differ in style, length and topic
as well as in harm. PolyRefuse contrasts harmful and harmless *instructions* written alike. This study
puts the two contrasts side by side, on the base model and on the English safety-tuned one:

- **Directions per layer** (difference of means of English last-token ``hook_resid_post``):
  ``old`` from MultiJail vs XQuAD (raw text, as the earlier studies read it); ``polyrefuse`` from
  PolyRefuse's English train instructions (raw text: the data changes, the format does not);
  ``polyrefuse chat`` from the same instructions chat-formatted, at the last template token (the
  format changes too: where the refusal direction is read). Their cosines per layer, and, on the tuned
  model, the cosine of ``old`` with the selected refusal direction (:mod:`experiments.refusal_direction`'s
  selection, shared through the cache) at its layer.
- **Minimal pairs** (the same sentence with a harmful or a harmless object, 8 languages): the share of
  pairs whose harmful side projects higher, on ``old`` and on ``polyrefuse chat`` read on the raw
  sentences, per layer.
- **Probe transfer** rerun on PolyRefuse (raw text, base model, the probe studies' protocol: 5 folds
  by item, L2 logistic probes): train language x test language accuracy at the best layer, in the
  languages both data sets have (en zh ar th), beside the MultiJail-vs-XQuAD matrix of the same
  languages.

:data:`ITEMS` PolyRefuse train instructions per class and language (``--n-per-class`` lowers it).

Writes ``figures/contrast_check.{png,json,csv}`` (cosines per layer), ``contrast_check_pairs.png``
and ``contrast_check_probes.png``.
"""

from __future__ import annotations

from pathlib import Path

import torch

import mechint
from mechint import data
from mechint.directions import cosine, diff_in_means
from mechint.plots import plot_layer_heatmap, plot_layer_lines, save_figure
from mechint.probes import fold_ids, transfer_matrix

from ._common import (
    PROBE_C,
    PROBE_FOLDS,
    english_refusal_direction,
    rounded,
    safety_pairs,
    study_main,
    transfer_results,
    tuned_version,
    write_json,
    write_table,
)

CHAT_PROMPTS = True  # the study formats PolyRefuse instructions with the chat template itself

ITEMS = 64
"""PolyRefuse train instructions per class and language."""
SHARED_LANGUAGES = ("en", "zh", "ar", "th")
"""Languages of both MultiJail-vs-XQuAD (the earlier studies') and PolyRefuse."""
VAL_ITEMS = 16
"""Val prompts per class of the shared English refusal-direction selection."""


def _last_token(model: mechint.Model, texts: list[str], progress: str) -> torch.Tensor:
    """``[layer, n, d]`` last-token ``hook_resid_post`` (the shared activation store)."""
    sites = [f"blocks.{l}.hook_resid_post" for l in range(model.n_layers)]
    return mechint.collect(model, texts, sites, pool="last", store=True, progress=progress).stack(sites)


def run(model: mechint.Model, out: Path, *, n_per_class: int | None = None) -> dict:
    n = min(ITEMS, n_per_class) if n_per_class is not None else ITEMS
    n_val = min(VAL_ITEMS, n_per_class) if n_per_class is not None else VAL_ITEMS
    tuned = tuned_version(model)
    fmt = tuned if tuned is not None else model
    models = {"base": model} if tuned is None else {"base": model, "tuned": tuned}
    out.mkdir(parents=True, exist_ok=True)

    old_ds = safety_pairs(["en"], n_per_class=n_per_class)  # the earlier studies' data, English
    pr = data.load_polyrefuse("train", languages=list(SHARED_LANGUAGES), n_per_class=n)
    pr_en = pr.filter(language="en")
    pairs = data.load_minimal_pairs()
    results: dict = {"models": {k: m.name for k, m in models.items()}, "items_per_class": n, "cosine": {}, "pairs": {}}
    lines, rows = {}, []
    for key, m in models.items():
        old = _last_token(m, old_ds.texts, f"{key} MultiJail/XQuAD")
        d_old = diff_in_means(old, old_ds.labels)  # [layer, d]
        raw = _last_token(m, pr_en.texts, f"{key} PolyRefuse")
        d_raw = diff_in_means(raw, pr_en.labels)
        chat = _last_token(m, fmt.chat_prompts(pr_en.texts) if fmt.is_chat else pr_en.texts, f"{key} PolyRefuse chat")
        d_chat = diff_in_means(chat, pr_en.labels)
        cos = {
            "old vs polyrefuse": cosine(d_old, d_raw),
            "old vs polyrefuse chat": cosine(d_old, d_chat),
            "polyrefuse vs polyrefuse chat": cosine(d_raw, d_chat),
        }
        results["cosine"][key] = {name: rounded(v) for name, v in cos.items()}
        for name, v in cos.items():
            lines[f"{name}, {key}"] = v.numpy()
            rows += [[key, name, layer, float(v[layer])] for layer in range(m.n_layers)]

        harmful = _last_token(m, [p.harmful for p in pairs], f"{key} minimal pairs")
        harmless = _last_token(m, [p.harmless for p in pairs], f"{key} minimal pairs")
        gap = harmful - harmless  # [layer, pairs, d]
        results["pairs"][key] = {
            name: rounded((torch.einsum("lpd,ld->lp", gap.double(), d.double()) > 0).double().mean(1), 4)
            for name, d in (("old", d_old), ("polyrefuse chat", d_chat))
        }
        if key == "tuned":
            found = english_refusal_direction(m, n_val=n_val)
            layer = found.layer - 1  # its hook_resid_pre is the previous layer's hook_resid_post
            results["refusal_direction"] = {
                "layer": found.layer,
                "position": found.position,
                "cosine_with_old_at_previous_resid_post": round(float(cosine(d_old[layer], found.direction)), 4)
                if layer >= 0
                else None,
                "cosine_with_polyrefuse_chat": round(float(cosine(d_chat[layer], found.direction)), 4)
                if layer >= 0
                else None,
            }
    write_table(out / "contrast_check.csv", ["model", "pair", "layer", "cosine"], rows)
    save_figure(
        plot_layer_lines(lines, title="Cosine of the harmfulness directions of the two contrasts", yaxis_title="cosine",
                         reference=0.0),
        out / "contrast_check",
    )  # fmt: skip
    save_figure(
        plot_layer_lines(
            {f"{name}, {key}": v for key, by in results["pairs"].items() for name, v in by.items()},
            title="Minimal pairs whose harmful side projects higher on each direction",
            yaxis_title="share of pairs",
            reference=0.5,
        ),
        out / "contrast_check_pairs",
    )

    # probe transfer: PolyRefuse (raw text, base model) beside the earlier MultiJail-vs-XQuAD matrix
    pr_acts = _last_token(model, pr.texts, "base PolyRefuse (probes)")
    pr_res = transfer_matrix(
        pr_acts, pr.labels, pr.row_languages, fold_ids(pr, k=PROBE_FOLDS, seed=0), item_ids=pr.item_ids,
        C=PROBE_C, device=model.device,
    )  # fmt: skip
    _, _, _, old_res = transfer_results(model, n_per_class=n_per_class, study="contrast_check")
    probes = {}
    for name, res in (("polyrefuse", pr_res), ("old", old_res)):
        acc = res.metrics.accuracy  # [layer, train, test]
        idx = [res.train_languages.index(lang) for lang in SHARED_LANGUAGES]
        jdx = [res.test_languages.index(lang) for lang in SHARED_LANGUAGES]
        sub = acc[:, idx][:, :, jdx]
        best = int(sub.mean((1, 2)).argmax())
        off = ~torch.eye(len(SHARED_LANGUAGES), dtype=torch.bool)
        probes[name] = {
            "best_layer": best,
            "accuracy[train][test]": rounded(sub[best], 4),
            "mean_same_language": round(float(sub[best].diagonal().mean()), 4),
            "mean_other_language": round(float(sub[best][off].mean()), 4),
        }
    results["probes"] = probes
    grid = [row for name in ("old", "polyrefuse") for row in probes[name]["accuracy[train][test]"]]
    save_figure(
        plot_layer_heatmap(
            grid,
            row_labels=[f"{name}: train {lang}" for name in ("old", "polyrefuse") for lang in SHARED_LANGUAGES],
            layers=list(SHARED_LANGUAGES),
            colorbar_title="accuracy",
            title="Probe accuracy, train x test language, at each data set's best layer (base model)",
            xaxis_title="test language",
            yaxis_title="data set, training language",
            zmin=0.5,
            zmax=1.0,
            show_values=True,
        ),
        out / "contrast_check_probes",
    )
    write_json(out / "contrast_check.json", results)
    return {
        "cosine_old_vs_polyrefuse_chat_last_layer": {
            key: round(float(lines[f"old vs polyrefuse chat, {key}"][-1]), 3) for key in models
        },
        "probes_other_language_accuracy": {k: v["mean_other_language"] for k, v in probes.items()},
    }


def main(argv=None) -> dict:
    return study_main(run, __doc__, argv)


if __name__ == "__main__":
    main()
