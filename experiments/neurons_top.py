"""Study: the MLP neurons whose value vectors align with the English harmfulness direction, their
layers, and the tokens they promote and suppress.

The direction is the difference of means (harmful minus harmless) of the last-token residual
``blocks.{L-1}.hook_resid_post`` of the *last* layer on English training items (the paper, arXiv
2406.16235, uses a final-layer probe the same way). Every neuron of every layer is ranked by the
cosine of its value vector (its down-projection column, as in the paper) with that direction; the
top ``K`` are kept. For each, the tokens it promotes / suppresses through the unembedding, two ways:
``raw`` (``v @ W_U``, as the paper) and ``through norms`` (the elementwise gains of Gemma's
post-feedforward norm and of the final norm applied first: what the logits see, to first order).

Massive activations: the direction's layer has one residual feature far larger than the rest, and
several top neurons align with the direction mostly through it (their value vectors point along that
feature). The JSON and the table give, per neuron, the share of its alignment that comes from that
feature alone; the ranking itself is the plain cosine, as the paper's. A second ranking, with value
vectors and direction in units of each residual feature's within-class spread, is written beside it.

Writes ``figures/neurons_top.png`` (the top neurons with their promoted tokens),
``neurons_top_layers.png`` (alignment per layer), ``neurons_top.md`` (table, readable tokens),
``neurons_top.json`` / ``.csv``. The other neuron studies take the neurons from the same
:func:`experiments._common.aligned_neurons`, so all of them study the same neurons.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

import mechint
from mechint.directions import within_group_std
from mechint.neurons import neuron_cosines, promoted_tokens, token_script, top_neurons, value_vectors
from mechint.plots import plot_layer_lines, plot_top_neurons, save_figure

from ._common import K_NEURONS as K  # neurons studied
from ._common import (
    aligned_neurons,
    check_counts,
    class_counts,
    largest_feature,
    safety_activations,
    study_main,
    write_json,
    write_table,
)

NAME = "neurons_top"
N_TOKENS = 10  # tokens shown per neuron
N_RANDOM = 20  # random directions for the per-layer baseline


def md_tokens(tokens) -> str:
    """Tokens for a markdown cell: each in a code span, separated by spaces."""

    def span(t: str) -> str:
        t = t.replace("|", "\\|")
        return f"`` {t} ``" if "`" in t else f"`{t}`"

    return " ".join(span(t) for t in tokens)


def run(model: mechint.Model, out_dir: Path, *, n_per_class: int | None = None, k: int = K) -> dict:
    out_dir = Path(out_dir)
    sa = safety_activations(model, n_per_class=n_per_class)
    check_counts(
        NAME,
        class_counts(sa.labels, sa.languages, sa.rows(sa.train, "en"), expected=["en"]),
        minimum=2,
        what="the English direction (difference of class means) and each feature's within-class spread "
        "(English training items)",
    )
    top, d, d_layer = aligned_neurons(model, sa, k)
    cos = neuron_cosines(model, d)  # [layer, d_mlp]
    L = model.n_layers

    # The residual stream's largest feature at the direction's layer (massive activations, see
    # language_direction_cosine): how much of each top neuron's alignment is that one feature
    feature, big_mean_abs = largest_feature(sa.acts[d_layer])
    big = int(feature)
    vv = value_vectors(model)
    dd = d.double()

    neurons = []
    script_counts: Counter = Counter()
    for n in top:
        v = vv[n.layer][n.index].double()
        raw = promoted_tokens(model, n, N_TOKENS)
        eff = promoted_tokens(model, n, N_TOKENS, through_norms=True)
        script_counts.update(token_script(t) for t in eff.texts())
        neurons.append(
            {
                "neuron": n.label,
                "layer": n.layer,
                "index": n.index,
                "cosine": round(n.cosine, 4),
                "promoted_through_norms": eff.texts(),
                "suppressed_through_norms": eff.texts("suppressed"),
                "promoted_raw": raw.texts(),
                "suppressed_raw": raw.texts("suppressed"),
                "promoted_scripts": dict(Counter(token_script(t) for t in eff.texts())),
                "massive_feature_share_of_value_vector": round(float(v[big].abs() / v.norm()), 4),
                "massive_feature_share_of_alignment": round(float(v[big] * dd[big] / (v @ dd)), 4),
            }
        )
    direction_tokens = {
        "raw": promoted_tokens(model, d, N_TOKENS).texts(),
        "through_final_norm": promoted_tokens(model, d, N_TOKENS, through_norms=True).texts(),
        "suppressed_through_final_norm": promoted_tokens(model, d, N_TOKENS, through_norms=True).texts("suppressed"),
    }
    # Alignment per layer, against what random directions give with the same (anisotropic) value
    # vectors: the per-layer maximum cosine with N_RANDOM random unit directions, averaged.
    g = torch.Generator().manual_seed(0)
    random_dirs = torch.randn(N_RANDOM, model.d_model, generator=g)
    null_max = torch.stack([neuron_cosines(model, r).max(1).values for r in random_dirs])  # [N_RANDOM, layer]
    null_mean, null_q95 = null_max.mean(0), torch.quantile(null_max, 0.95, dim=0)
    above_null = {l: int((cos[l] > null_q95[l]).sum()) for l in range(L)}
    per_layer_max = cos.max(1).values
    per_layer_q999 = torch.quantile(cos, 0.999, dim=1)
    in_top = Counter(n.layer for n in top)
    post_norm = top_neurons(model, d, k, through_post_norm=True)
    overlap = len({(n.layer, n.index) for n in top} & {(n.layer, n.index) for n in post_norm})
    # the same ranking with every residual feature in units of its within-class spread (English
    # training rows at the direction's layer): the massive feature no longer decides it
    en = sa.rows(sa.train, "en")
    scale = within_group_std(sa.acts[d_layer, en], sa.labels[en])
    standardised = top_neurons(model, d, k, scale=scale)
    overlap_std = len({(n.layer, n.index) for n in top} & {(n.layer, n.index) for n in standardised})
    # its baseline: the best cosine over all neurons with random directions drawn in those units
    null_std = torch.stack([neuron_cosines(model, r * scale, scale=scale).max() for r in random_dirs])

    # figures ----------------------------------------------------------------------------------
    written = save_figure(
        plot_top_neurons(
            [n["neuron"] for n in neurons],
            [n["cosine"] for n in neurons],
            layers=[n["layer"] for n in neurons],
            tokens=[n["promoted_through_norms"] for n in neurons],
            title=f"Top {k} value vectors aligned with the English harmfulness direction (layer {d_layer}) "
            f"and the tokens they promote ({model.name})",
        ),
        out_dir / NAME,
    )
    written += save_figure(
        plot_layer_lines(
            {
                "max cosine": per_layer_max,
                "99.9th percentile": per_layer_q999,
                f"max cosine with a random direction (mean of {N_RANDOM})": null_mean,
                "... its 95th percentile": null_q95,
            },
            title=f"Alignment of value vectors with the English direction, per layer ({model.name})",
            yaxis_title="cosine(value vector, direction)",
        ),
        out_dir / f"{NAME}_layers",
    )

    # numbers ----------------------------------------------------------------------------------
    header = [
        "rank",
        "neuron",
        "layer",
        "index",
        "cosine",
        "promoted_through_norms",
        "suppressed_through_norms",
        "promoted_raw",
        "suppressed_raw",
    ]
    write_table(
        out_dir / f"{NAME}.csv",
        header,
        [
            [
                i + 1,
                n["neuron"],
                n["layer"],
                n["index"],
                n["cosine"],
                " | ".join(n["promoted_through_norms"]),
                " | ".join(n["suppressed_through_norms"]),
                " | ".join(n["promoted_raw"]),
                " | ".join(n["suppressed_raw"]),
            ]
            for i, n in enumerate(neurons)
        ],
    )
    md = [
        f"# Top {k} neurons aligned with the English harmfulness direction ({model.name})",
        "",
        f"Direction: difference of means, English training items, last-token `blocks.{d_layer}.hook_resid_post`. "
        "Value vectors: down-projection columns. Tokens: readable (`\\xe4` = a raw byte, `<U+200C>` = an invisible "
        "character, `␣` = a space). *Through norms*: Gemma's post-feedforward and final norm gains applied before "
        "the unembedding (what the logits see); *raw*: `v @ W_U`.",
        "",
        f"*Feature {big}*: the residual's largest feature at that layer (massive activations); the share of the "
        "neuron's value . direction product that comes from it alone.",
        "",
        f"| rank | neuron | cosine | feature {big} | promoted (through norms) | suppressed (through norms) | promoted (raw) |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, n in enumerate(neurons):
        md.append(
            f"| {i + 1} | {n['neuron']} | {n['cosine']:.3f} | {n['massive_feature_share_of_alignment']:.2f} | "
            f"{md_tokens(n['promoted_through_norms'])} | {md_tokens(n['suppressed_through_norms'])} | "
            f"{md_tokens(n['promoted_raw'])} |"
        )
    md += [
        "",
        f"The direction itself promotes (through the final norm): {md_tokens(direction_tokens['through_final_norm'])}; "
        f"raw: {md_tokens(direction_tokens['raw'])}.",
    ]
    md += [
        "",
        f"Ranked with every residual feature in units of its within-class spread (English training rows, "
        f"layer {d_layer}), the top {k} are: "
        + ", ".join(f"{n.label} ({n.cosine:.3f})" for n in standardised)
        + f"; {overlap_std} of them are in the table above. In those units a random direction's best neuron has "
        f"cosine {float(null_std.mean()):.3f} on average ({N_RANDOM} directions, max {float(null_std.max()):.3f}).",
    ]
    (out_dir / f"{NAME}.md").write_text("\n".join(md) + "\n")
    summary = {
        "model": str(model.name),
        "direction": f"difference of means, English training items, last token, blocks.{d_layer}.hook_resid_post",
        "value_vectors": "down-projection columns (mlp.down_proj / c_proj / dense_4h_to_h), as the paper",
        "k": k,
        "neurons": neurons,
        "layers_of_top_k": {str(l): in_top[l] for l in sorted(in_top)},
        "per_layer_max_cosine": [round(float(v), 4) for v in per_layer_max],
        "per_layer_q999_cosine": [round(float(v), 4) for v in per_layer_q999],
        "random_direction_max_cosine_per_layer": {
            "mean": [round(float(v), 4) for v in null_mean],
            "q95": [round(float(v), 4) for v in null_q95],
            "n_directions": N_RANDOM,
        },
        "neurons_above_random_q95_per_layer": {str(l): n for l, n in above_null.items()},
        "promoted_token_scripts_through_norms": dict(script_counts.most_common()),
        "direction_tokens": direction_tokens,
        "top_k_through_post_norm": [n.label for n in post_norm],
        "overlap_with_through_post_norm_ranking": overlap,
        "top_k_standardised": {
            "what": "the ranking with value vectors and direction divided by the within-class standard deviation of "
            "each residual feature (English training rows at the direction's layer; neuron_cosines(scale=...))",
            "neurons": [{"neuron": n.label, "cosine_standardised": round(n.cosine, 4)} for n in standardised],
            "overlap_with_plain_ranking": overlap_std,
            "best_cosine_with_a_random_direction": {
                "what": f"over all neurons, for {N_RANDOM} random unit directions drawn in the same standardised units",
                "mean": round(float(null_std.mean()), 4),
                "max": round(float(null_std.max()), 4),
            },
        },
        "massive_feature": {
            "feature": big,
            "mean_abs": round(float(big_mean_abs), 2),
            "share_of_direction": round(float(dd[big] ** 2), 4),
            "what": "the largest feature of the residual at the direction's layer; per neuron, "
            "'massive_feature_share_of_value_vector' = |v_f| / |v| and 'massive_feature_share_of_alignment' = "
            "v_f d_f / (v . d): how much of the neuron's alignment with the direction is that one feature",
        },
    }
    write_json(out_dir / f"{NAME}.json", summary)
    return {
        "figures": [str(p) for p in written],
        "top": [
            f"{n['neuron']} cos {n['cosine']:.3f}: {' '.join(n['promoted_through_norms'][:5])}" for n in neurons[:5]
        ],
        "layers_of_top_k": summary["layers_of_top_k"],
    }


if __name__ == "__main__":
    study_main(run, __doc__)
