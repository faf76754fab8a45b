"""Study: what did safety tuning change in the activations, did the attack undo it, and is it the same
in every language? (Activation diffing; the dual-multilinguality test of Hua et al., arXiv 2406.16235:
English-only preference tuning changes MLP neuron activations the same way in every language.)

The same chat-formatted prompts (the safety-tuned model's template) run through three checkpoints:
the base model, its English safety-tuned version (``tuned_version``) and that version after the
English fine-tuning attack of ``experiments/attack_languages`` (``attacked_versions(...).load("en")``).
The prompts are the first ``ITEMS`` harmful and harmless PolyRefuse *val* instructions per class
(the same items, chosen by seed, in all 14 languages; ``--n-per-class`` lowers it): neither
fine-tuning trained on that split (both trained on *train* instructions), so no prompt is a training
item or its translation. Activations are read at the last token of the prompt (the
template's last token) at ``hook_resid_pre`` and ``mlp.hook_post`` of every layer
(:func:`mechint.collect`, ``pool="last"``), once per checkpoint, and diffed twice
(:class:`mechint.diffing.ActivationShift`): **tuning** (base -> tuned) and **attack** (tuned ->
attacked). Per language and class:

- **Along the refusal direction.** The shift of the mean activation along the English refusal
  direction of the safety-tuned model (``english_refusal_direction``, shared with
  ``refusal_universality``; at unit length, one direction for every layer as Arditi et al. use it),
  per layer: does tuning push harmful prompts towards refusal in every language, and does the attack
  pull them back?
- **Neurons.** The standardized shift of every MLP neuron of every layer on the harmful prompts
  (shift over the spread of the earlier checkpoint's activations over all prompts); the top
  ``TOP_FRACTION`` of neurons by its size per language; the Jaccard index of every pair of languages'
  sets against the exact chance value (:func:`mechint.diffing.unit_overlap`).
- **Dual multilinguality.** The neurons chosen on English: the share whose shift has the same sign in
  another language, and the correlation of the two languages' shifts over them, each against
  ``N_RANDOM`` random neuron sets of the same size (:func:`mechint.diffing.sign_agreement`).
- **Reversal.** On the tuning's English top neurons, the correlation (and sign agreement) of the
  attack's shift with minus the tuning's shift, per language, against the same control.

Nothing is chosen on the data: the direction is the shared English selection, the neuron sets a fixed
fraction.

Writes ``figures/safety_tuning_diff.{json,csv}`` (the CSV: the ``TOP_CSV`` neurons of largest mean
|standardized shift| over languages, per diff), ``safety_tuning_diff_direction.png`` and
``_direction_attack.png`` (shift along the refusal direction, languages x layers),
``_overlap.png`` and ``_overlap_attack.png`` (Jaccard of the languages' top neurons),
``_dual.png`` and ``_dual_attack.png`` (agreement with English, with the control band) and
``_reversal.png``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import torch

import mechint
from mechint import data
from mechint.diffing import ActivationShift, sign_agreement, top_units, unit_overlap
from mechint.plots import plot_layer_heatmap, plot_layer_lines, save_figure
from mechint.plots.style import series_color

from ._common import (
    attacked_versions,
    check_counts,
    english_refusal_direction,
    not_attacked,
    rounded,
    study_main,
    tuned_version,
    write_json,
    write_table,
)

CHAT_PROMPTS = True  # every instruction is formatted with the safety-tuned model's chat template

ITEMS = 12
"""PolyRefuse val instructions per class and language."""
VAL_ITEMS = 16
"""Val prompts per class for the English refusal direction (as in ``refusal_universality``, whose cache it shares)."""
TOP_FRACTION = 0.01
"""Share of all MLP neurons (every layer) taken as a language's top neurons."""
N_RANDOM = 200
"""Random neuron sets of the control."""
TOP_CSV = 20
"""Neurons per diff in the CSV."""
BATCH = 16
DIFFS = ("tuning", "attack")
CLASSES = ("harmful", "harmless")


def run(model: mechint.Model, out: Path, *, n_per_class: int | None = None) -> dict:
    n = min(ITEMS, n_per_class) if n_per_class is not None else ITEMS
    n_val = min(VAL_ITEMS, n_per_class) if n_per_class is not None else VAL_ITEMS
    tuned = tuned_version(model)
    if tuned is None:
        return not_attacked("safety_tuning_diff", model)
    attacks = attacked_versions(model)
    if attacks is None:
        return not_attacked("safety_tuning_diff", model)
    attacked = attacks.load("en", model.dtype, model.device)
    refusal = english_refusal_direction(tuned, n_val=n_val)

    ds = data.load_polyrefuse("val", n_per_class=n)
    languages = list(ds.languages)
    kinds = [CLASSES[0] if label == 1 else CLASSES[1] for label in ds.labels]
    groups = [f"{lang}/{kind}" for lang, kind in zip(ds.row_languages, kinds)]
    counts = {g: groups.count(g) for g in dict.fromkeys(groups)}
    check_counts("safety_tuning_diff", counts, minimum=ITEMS, required=1, what="a mean activation shift per class")
    prompts = tuned.chat_prompts(ds.texts)
    resid = [f"blocks.{l}.hook_resid_pre" for l in range(model.n_layers)]
    mlp = [f"blocks.{l}.mlp.hook_post" for l in range(model.n_layers)]
    acts = {
        name: mechint.collect(m, prompts, resid + mlp, pool="last", batch_size=BATCH, progress=f"collect {name}")
        for name, m in (("base", model), ("tuned", tuned), ("attacked", attacked))
    }
    pairs = {"tuning": ("base", "tuned"), "attack": ("tuned", "attacked")}
    shifts = {
        diff: {
            kind: ActivationShift.from_activations(acts[b], acts[a], sites, groups=groups)
            for kind, sites in (("resid", resid), ("mlp", mlp))
        }
        for diff, (b, a) in pairs.items()
    }
    del acts

    # (a) the shift of the mean along the refusal direction, per layer: [group, layer]
    unit = refusal.unit.float()
    along = {diff: shifts[diff]["resid"].project(unit) for diff in DIFFS}

    def by_class(diff: str, kind: str) -> dict[str, list[float]]:
        s = shifts[diff]["resid"]
        return {lang: along[diff][s.groups.index(f"{lang}/{kind}")].tolist() for lang in languages}

    direction_shift = {diff: {kind: by_class(diff, kind) for kind in CLASSES} for diff in DIFFS}

    # (b) neurons: standardized shifts on harmful prompts, [layer, d_mlp] per language
    z = {diff: {lang: shifts[diff]["mlp"].standardized(f"{lang}/harmful") for lang in languages} for diff in DIFFS}
    n_units = model.n_layers * model.d_mlp
    k = max(1, round(TOP_FRACTION * n_units))
    top = {diff: {lang: top_units(z[diff][lang], k) for lang in languages} for diff in DIFFS}
    overlaps = {}
    for diff in DIFFS:
        jac = np.eye(len(languages))
        for i, x in enumerate(languages):
            for j, y in enumerate(languages[i + 1 :], start=i + 1):
                jac[i, j] = jac[j, i] = unit_overlap(top[diff][x], top[diff][y], n_units)["jaccard"]
        chance = unit_overlap(range(k), range(k), n_units)  # two random sets of k among all neurons
        overlaps[diff] = {
            "jaccard[x][y]": jac.tolist(),
            "chance": {key: chance[key] for key in ("expected_jaccard", "expected_intersection")},
        }
    dual = {
        diff: {
            lang: sign_agreement(z[diff]["en"], z[diff][lang], top[diff]["en"], n_random=N_RANDOM, seed=0)
            for lang in languages
            if lang != "en"
        }
        for diff in DIFFS
    }
    reversal = {
        lang: sign_agreement(
            -shifts["tuning"]["mlp"].shift(f"{lang}/harmful"),
            shifts["attack"]["mlp"].shift(f"{lang}/harmful"),
            top["tuning"]["en"],
            n_random=N_RANDOM,
            seed=0,
        )
        for lang in languages
    }

    # (c) the neurons of largest mean |standardized shift| over languages
    table, top_neurons = [], {}
    for diff in DIFFS:
        stacked = torch.stack([z[diff][lang] for lang in languages])  # [language, layer, d_mlp]
        mean_abs = stacked.abs().nanmean(0)
        top_neurons[diff] = []
        for rank, (layer, index) in enumerate(top_units(mean_abs, min(TOP_CSV, n_units)), start=1):
            values = {lang: float(z[diff][lang][layer, index]) for lang in languages}
            top_neurons[diff].append(
                {"layer": layer, "index": index, "mean_abs": float(mean_abs[layer, index]), "standardized": values}
            )
            table.append([diff, rank, layer, index, float(mean_abs[layer, index]), *values.values()])

    out.mkdir(parents=True, exist_ok=True)
    write_table(
        out / "safety_tuning_diff.csv",
        ["diff", "rank", "layer", "index", "mean_abs_standardized_shift", *languages],
        table,
    )
    _figures(out, model, refusal, languages, direction_shift, overlaps, dual, reversal, k)
    results = {
        "split": "val",
        "items_per_class_per_language": n,
        "languages": languages,
        "checkpoints": {"base": model.name, "tuned": tuned.name, "attacked": f"{tuned.name} attacked (en)"},
        "pool": "last",
        "direction": {
            "of": tuned.name,
            "layer": refusal.layer,
            "selected_position": refusal.position,
            "read_at": "the prompt's last token, every layer's hook_resid_pre",
        },
        "direction_shift[diff][class][language][layer]": {
            diff: {kind: {lang: rounded(v) for lang, v in by.items()} for kind, by in per.items()}
            for diff, per in direction_shift.items()
        },
        "top_fraction": TOP_FRACTION,
        "top_k": k,
        "n_neurons": n_units,
        "n_random": N_RANDOM,
        "overlap": {
            diff: {"jaccard[x][y]": rounded(o["jaccard[x][y]"]), "chance": o["chance"]} for diff, o in overlaps.items()
        },
        "dual[diff][language]": dual,
        "reversal[language]": reversal,
        "top_units[diff][language]": {
            diff: {lang: [list(u) for u in units] for lang, units in by.items()} for diff, by in top.items()
        },
        "top_neurons[diff]": top_neurons,
    }
    write_json(out / "safety_tuning_diff.json", results)

    def offdiag_mean(matrix: list[list[float]]) -> float:
        m = np.asarray(matrix)
        return float(m[~np.eye(len(m), dtype=bool)].mean()) if len(m) > 1 else float("nan")

    return {
        "direction_layer": refusal.layer,
        "harmful_shift_along_direction_at_its_layer": {
            diff: round(float(np.mean([v[refusal.layer] for v in direction_shift[diff]["harmful"].values()])), 4)
            for diff in DIFFS
        },
        "top_neuron_jaccard_mean": {diff: round(offdiag_mean(overlaps[diff]["jaccard[x][y]"]), 4) for diff in DIFFS},
        "jaccard_chance": round(overlaps["tuning"]["chance"]["expected_jaccard"], 4),
        "dual_agreement_mean": {
            diff: round(float(np.mean([r["agreement"] for r in dual[diff].values()])), 3) for diff in DIFFS
        },
        "dual_control_agreement_mean": {
            diff: round(float(np.mean([r["control_agreement_mean"] for r in dual[diff].values()])), 3) for diff in DIFFS
        },
        "reversal_en_correlation": round(reversal["en"]["correlation"], 3),
    }


def _band(fig: go.Figure, x: list[str], low: list[float], high: list[float], name: str, line: str) -> None:
    """A shaded band named ``name`` from ``low`` to ``high`` over the categories ``x``, in the colour of
    the series ``line``."""
    color = series_color(line)
    fig.add_trace(
        go.Scatter(
            x=[*x, *x[::-1]],
            y=[*high, *low[::-1]],
            fill="toself",
            fillcolor=color,
            opacity=0.2,
            line={"width": 0},
            hoverinfo="skip",
            name=name,
        )
    )


def _figures(out, model, refusal, languages, direction_shift, overlaps, dual, reversal, k) -> None:
    names = {"tuning": "safety tuning (base -> tuned)", "attack": "English attack (tuned -> attacked)"}
    suffix = {"tuning": "", "attack": "_attack"}
    for diff in DIFFS:
        rows = [direction_shift[diff][kind][lang] for kind in CLASSES for lang in languages]
        save_figure(
            plot_layer_heatmap(
                rows,
                row_labels=[f"{lang} {kind}" for kind in CLASSES for lang in languages],
                title=f"Shift of the mean last-token activation along the refusal direction (layer {refusal.layer}), "
                f"{names[diff]}",
                colorbar_title="shift",
                zmid=0.0,
                yaxis_title="language, class",
            ),
            out / f"safety_tuning_diff_direction{suffix[diff]}",
        )
        chance = overlaps[diff]["chance"]["expected_jaccard"]
        save_figure(
            plot_layer_heatmap(
                overlaps[diff]["jaccard[x][y]"],
                row_labels=languages,
                layers=languages,
                title=f"Jaccard of the languages' top {k} MLP neurons by standardized shift on harmful prompts, "
                f"{names[diff]} (chance: {chance:.4f})",
                colorbar_title="Jaccard",
                xaxis_title="language",
                zmin=0,
                zmax=1,
                show_values=True,
            ),
            out / f"safety_tuning_diff_overlap{suffix[diff]}",
        )
        others = list(dual[diff])
        save_figure(
            _agreement_figure(
                dual[diff],
                others,
                title=f"Do the English top {k} neurons move the same way in each language? {names[diff]}",
                xaxis_title="language (neurons chosen on English)",
            ),
            out / f"safety_tuning_diff_dual{suffix[diff]}",
        )
    save_figure(
        _agreement_figure(
            reversal,
            languages,
            title=f"Does the English attack undo the tuning on the tuning's English top {k} neurons? "
            "(attack shift against minus the tuning shift)",
            xaxis_title="language",
        ),
        out / "safety_tuning_diff_reversal",
    )


def _agreement_figure(results: dict, languages: list[str], *, title: str, xaxis_title: str) -> go.Figure:
    """Sign agreement and correlation per language, each with its random-unit control's 95% band."""
    fig = plot_layer_lines(
        {
            "sign agreement": [results[lang]["agreement"] for lang in languages],
            "correlation": [results[lang]["correlation"] for lang in languages],
        },
        layers=languages,
        title=title,
        yaxis_title="over the chosen neurons",
        xaxis_title=xaxis_title,
        reference=0.0,
    )
    for stat, name in (("agreement", "sign agreement"), ("correlation", "correlation")):
        _band(
            fig,
            languages,
            [results[lang][f"control_{stat}_low"] for lang in languages],
            [results[lang][f"control_{stat}_high"] for lang in languages],
            f"{name}: random neurons, 95%",
            name,
        )
    return fig


def main(argv=None) -> dict:
    return study_main(run, __doc__, argv)


if __name__ == "__main__":
    main()
