"""Study: where does the model carry the difference between a harmful and a harmless request?

Minimal pairs (``mechint.data.minimal_pairs``): the same sentence with a harmful or a harmless object
("How can I make bombs / cakes at home?"), equal token length, in eight languages. The harmful prompt
is the clean run, the harmless one the corrupted run; the residual stream ``blocks.{l}.hook_resid_pre``
at every layer and position is patched from harmful into harmless, and the metric is the
harmfulness-direction score at the last position of the last layer: the projection of
``blocks.{L-1}.hook_resid_post`` on the difference of mean last-token residuals of MultiJail
(harmful) and XQuAD (harmless) prompts, all five of their languages pooled.

Effects are reported in *class gaps*: (patched - harmless score) / (mean MultiJail score - mean XQuAD
score along the same direction). 1 moves the harmless prompt by the whole distance between the two
data sets' means. (A per-pair normalisation, dividing by the pair's own harmful - harmless gap, is
unstable when that gap is near zero, which it often is here; ``PatchResult.normalized`` still gives it.)

Positions are right-aligned (prompts of one language can differ in length from pair to pair); the
object is where the two prompts of a pair differ. Beside the per-position maps, every pair's effect
is summarised per position *role* (first token, frame before the object, the object's tokens, its last
token, the frame after it, the last token), which lines up across languages and is averaged over them.
Attribution patching of the same sweep is compared with the exact sweep. As context for the metric,
the minimal pairs' harmful - harmless score difference along each layer's own direction, in that
layer's class gaps, is also written (``_separation``; in the JSON ``separation[language][layer]``, the
mean over each language's pairs).

Writes ``figures/patching_minimal_pairs_<lang>.{png|html}`` (one per language),
``patching_minimal_pairs_average`` (layer x role, mean over languages),
``patching_minimal_pairs_attribution`` (attribution vs exact), ``patching_minimal_pairs_separation``
and ``.json`` / ``.csv`` numbers.

Run alone: ``python -m experiments.patching_minimal_pairs`` (or through ``python -m experiments``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch

import mechint
from mechint.data.minimal_pairs import MinimalPairs, load_minimal_pairs
from mechint.directions import diff_in_means
from mechint.patching import activation_patch, attribution_patch
from mechint.patching.metrics import direction_score
from mechint.plots import plot_attribution_scatter, plot_layer_lines, plot_patching_heatmap, save_figure

from ._common import safety_pairs, study_main

NAME = "patching_minimal_pairs"
ROLES = ("first token", "before object", "object", "object, last token", "after object", "last token")
SEPARATION_KEY = (
    "separation[language][layer] (mean over the language's pairs of the harmful - harmless last-token score "
    "along each layer's own direction, in that layer's class gaps)"
)


def harmfulness_directions(model: mechint.Model, *, n_per_class: int | None = None, batch_size: int = 16):
    """Per layer, the unit difference of mean last-token residuals, harmful minus harmless, over
    MultiJail and XQuAD in their five shared languages (reuses the shared activation store), and the
    class gap along it (mean harmful score - mean harmless score). Returns ``([layer, d], [layer])``."""
    ds = safety_pairs(n_per_class=n_per_class)
    acts = mechint.collect(model, ds, "hook_resid_post", pool="last", batch_size=batch_size, store=True, progress=NAME)
    x = acts.stack([f"blocks.{l}.hook_resid_post" for l in range(model.n_layers)]).double()  # [layer, n, d]
    y = torch.as_tensor(ds.labels).bool()
    directions = diff_in_means(x, ds.labels)
    gap = ((x[:, y].mean(1) - x[:, ~y].mean(1)) * directions.double()).sum(-1)
    return directions, gap.float()


def pair_separation(model: mechint.Model, pairs, directions: torch.Tensor, gap: torch.Tensor) -> torch.Tensor:
    """``[layer, pairs]``: harmful - harmless last-token score of each minimal pair along each layer's
    direction, in class gaps."""
    sites = [f"blocks.{l}.hook_resid_post" for l in range(model.n_layers)]
    a = mechint.collect(model, pairs.harmful, sites, pool="last", progress=False).stack(sites)
    b = mechint.collect(model, pairs.harmless, sites, pool="last", progress=False).stack(sites)
    return ((a - b) * directions[:, None]).sum(-1) / gap[:, None]


def _object_positions(result, i: int, width: int) -> list[int]:
    """Padded positions where pair ``i``'s two prompts differ (the object's tokens)."""
    a, b = result.clean_tokens[i], result.corrupted_tokens[i]
    off = width - len(b)
    return [off + j for j, (x, y) in enumerate(zip(a, b)) if x != y]


def _roles(result, width: int, scale: float) -> torch.Tensor:
    """``[pairs, layer, role]`` mean effect (in units of ``scale``) per position role (NaN where a
    pair has none)."""
    norm = result.effect() / scale  # [pairs, layer, pos]
    out = torch.full((result.n_pairs, norm.shape[1], len(ROLES)), float("nan"))
    for i in range(result.n_pairs):
        n = len(result.corrupted_tokens[i])
        first, last = width - n, width - 1
        obj = _object_positions(result, i, width)
        if not obj:
            continue
        groups = {
            "first token": [first],
            "before object": list(range(first + 1, obj[0])),
            "object": obj,
            "object, last token": [obj[-1]],
            "after object": list(range(obj[-1] + 1, last)),
            "last token": [last],
        }
        for r, role in enumerate(ROLES):
            cols = [result.positions.index(p) for p in groups[role] if p in result.positions]
            if cols:
                out[i, :, r] = norm[i][:, cols].mean(-1)
    return out


def _position_labels(result, width: int) -> list[str]:
    """Column labels for a language's mean: the token where all its pairs agree, else ``[object]``
    where some pair's object is, else ``*``."""
    objects = {p for i in range(result.n_pairs) for p in _object_positions(result, i, width)}
    labels = []
    for p in result.positions:
        toks = {t[p - (width - len(t))] for t in result.corrupted_tokens if p >= width - len(t)}
        if p in objects:
            tok = "[object]"
        elif len(toks) == 1:
            tok = toks.pop()
        else:
            tok = "*"
        labels.append(f"{tok} ({p - width})")
    return labels


def run(
    model: mechint.Model,
    out_dir: Path,
    *,
    languages=None,
    n_per_class: int | None = None,
    batch_size: int | None = None,
) -> dict:
    """Patch harmful into harmless minimal pairs on ``model`` and write the figures and numbers."""
    out_dir = Path(out_dir)
    directions, gaps = harmfulness_directions(model, n_per_class=n_per_class)
    last = model.n_layers - 1
    site = f"blocks.{last}.hook_resid_post"
    gap = float(gaps[last])
    metric = direction_score(directions[last], site, position=-1, name="harmfulness-direction score")
    pairs = load_minimal_pairs(languages, tokenizer=model.tokenizer, on_mismatch="drop")
    if n_per_class is not None:  # a quick run: at most n_per_class pairs of each language
        kept = [p for lang in pairs.languages for p in pairs.language(lang)[:n_per_class]]
        pairs = MinimalPairs(kept, dropped=pairs.dropped)
    if pairs.dropped:
        print(
            f"[{NAME}] left out {len(pairs.dropped)} pair(s) whose token lengths differ under this tokenizer: {pairs.dropped}"
        )
    written, per_language, role_means = [], {}, {}
    exact_all, attr_all = [], []
    for lang in pairs.languages:
        lp = pairs.language(lang)
        result = activation_patch(
            model,
            lp.harmful,
            lp.harmless,
            metric,
            component="resid_pre",
            batch_size=batch_size,
            progress=f"{NAME} {lang}",
        )
        attr = attribution_patch(model, lp.harmful, lp.harmless, metric, component="resid_pre", exact=result)
        width = result.info["width"]
        labels = _position_labels(result, width)
        roles = _roles(result, width, gap)  # [pairs, layer, role]
        role_means[lang] = torch.nanmean(roles, 0)  # [layer, role]
        exact_all.append(result.effect().reshape(-1) / gap)
        attr_all.append(attr.effect().reshape(-1) / gap)
        mean_map = torch.nanmean(result.effect() / gap, 0)  # [layer, pos]
        fig = plot_patching_heatmap(
            mean_map,
            tokens=labels,
            layers=result.labels["layer"],
            title=f"{lang}: residual stream (resid_pre) patched from harmful into harmless<br>"
            f"<sup>mean of {len(lp)} minimal pairs, harmfulness-direction score at the last layer, {model.name}</sup>",
            colorbar_title="effect on the score (class gaps)",
        )
        written += save_figure(fig, out_dir / f"{NAME}_{lang}")
        rm = role_means[lang]
        total = (result.clean - result.corrupted) / gap
        peak = int(rm.abs().nan_to_num(0).argmax())
        per_language[lang] = {
            "pairs": [p.pair_id for p in lp],
            "harmful_minus_harmless_score_per_pair (class gaps)": [round(v, 4) for v in total.tolist()],
            "harmful_minus_harmless_score_mean (class gaps)": round(total.mean().item(), 4),
            "pairs_where_harmful_scores_higher": int((total > 0).sum()),
            "effect_by_role[layer][role] (class gaps)": [[round(v, 4) for v in row] for row in rm.tolist()],
            "largest_mean_effect": {
                "layer": peak // len(ROLES),
                "role": ROLES[peak % len(ROLES)],
                "value": round(rm.reshape(-1)[peak].item(), 4),
            },
            "attribution_vs_exact": {
                k: (round(v, 4) if isinstance(v, float) else v) for k, v in attr.info["correlation"].items()
            },
            "seconds": round(result.info["seconds"], 2),
        }
    # average over languages, per role (each language weighs the same)
    stacked = torch.stack([role_means[l] for l in role_means])  # [lang, layer, role]
    mean_roles = torch.nanmean(stacked, 0)
    fig = plot_patching_heatmap(
        mean_roles,
        tokens=list(ROLES),
        title=f"Mean over {len(role_means)} languages: resid_pre patched from harmful into harmless<br>"
        f"<sup>by position role, harmfulness-direction score at the last layer, {model.name}</sup>",
        colorbar_title="effect on the score (class gaps)",
    )
    fig.update_xaxes(title_text="position role")
    written += save_figure(fig, out_dir / f"{NAME}_average")
    exact_cat, attr_cat = torch.cat(exact_all), torch.cat(attr_all)
    fig = plot_attribution_scatter(
        exact_cat,
        attr_cat,
        title=f"Attribution vs exact patching (resid_pre)<br><sup>every cell of every pair, {len(role_means)} languages, "
        f"in class gaps, {model.name}</sup>",
        color_by_layer=False,
    )
    written += save_figure(fig, out_dir / f"{NAME}_attribution")
    ok = torch.isfinite(exact_cat) & torch.isfinite(attr_cat)
    pooled_r = torch.corrcoef(torch.stack([exact_cat[ok], attr_cat[ok]]))[0, 1].item()
    separation = pair_separation(model, pairs, directions, gaps)  # [layer, pairs]
    lines = {
        lang: separation[:, [i for i, p in enumerate(pairs) if p.language == lang]].mean(1).tolist()
        for lang in pairs.languages
    }
    written += save_figure(
        plot_layer_lines(
            lines,
            title=f"Minimal pairs: harmful - harmless last-token score<br><sup>along each layer's harmfulness "
            f"direction, {model.name}</sup>",
            yaxis_title="score difference (class gaps)",
            reference=0.0,
        ),
        out_dir / f"{NAME}_separation",
    )

    with open(out_dir / f"{NAME}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["language", "layer", *ROLES])
        for lang, rm in [*role_means.items(), ("mean", mean_roles)]:
            for layer in range(model.n_layers):
                w.writerow([lang, layer, *[f"{v:.6f}" for v in rm[layer].tolist()]])
    summary = {
        "model": str(model.name),
        "component": "resid_pre at every layer and position, harmful (clean) into harmless (corrupted)",
        "metric": f"harmfulness direction score at {site}, last position; direction = unit diff-in-means of "
        "MultiJail minus XQuAD last-token residuals (en, zh, vi, ar, th pooled)",
        "class_gap": round(gap, 4),
        "effects_in": "class gaps: (patched - harmless score) / class_gap",
        "roles": list(ROLES),
        "languages": per_language,
        "mean_over_languages_by_role[layer][role] (class gaps)": [
            [round(v, 4) for v in row] for row in mean_roles.tolist()
        ],
        # keyed by language first, like "languages" (each holding [layer][role]); its last layer is each
        # language's harmful_minus_harmless_score_mean
        SEPARATION_KEY: {lang: [round(v, 4) for v in vals] for lang, vals in lines.items()},
        "attribution_vs_exact_pooled_pearson": round(pooled_r, 4),
        "dropped_pairs": pairs.dropped,
    }
    (out_dir / f"{NAME}.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    return {
        "figures": [str(p) for p in written],
        "harmful_minus_harmless": {
            l: v["harmful_minus_harmless_score_mean (class gaps)"] for l, v in per_language.items()
        },
        "attribution_pearson": round(pooled_r, 3),
    }


OPTIONS = [
    (
        ("--languages",),
        {
            "nargs": "*",
            "default": None,
            "metavar": "LANG",
            "help": "minimal-pair languages to patch (default: all eight)",
        },
    )
]


def main(argv=None) -> dict:
    return study_main(run, __doc__, argv, options=OPTIONS)


if __name__ == "__main__":
    main()
