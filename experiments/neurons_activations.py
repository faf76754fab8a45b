"""Study: do the neurons aligned with the English harmfulness direction fire on harmful prompts in
every language (the "key side" of dual multilinguality, arXiv 2406.16235)?

The top ``K`` neurons of :mod:`experiments.neurons_top` are read at ``blocks.{l}.mlp.hook_post`` (the
input of the down projection, ``gelu(gate) * up`` in Gemma: signed) on held-out harmful (MultiJail)
and harmless (XQuAD) prompts of each language (items split by id, as the directions studies), over
every prompt token but BOS, and over greedily generated continuations of a few prompts. Statistics
are streamed (:func:`mechint.neurons.neuron_activation_stats`: exact mean / std, quantiles from a
reservoir sample).

Per neuron and language:

- ``ratio``: mean |activation| on harmful prompts / on harmless ones (a magnitude ratio: the signed
  means of gated neurons sit near zero and change sign, so their ratio is not a usable number); the
  same with the median |activation| as a robust check (a neuron silent on harmless prompts and
  firing on a few harmful tokens has a huge mean ratio);
- ``effect size``: (mean harmful - mean harmless) / pooled standard deviation, signed;
- ``write``: what the K neurons together write along the direction, sum_i mean(a_i) (v_i . d) with the
  raw value vectors v_i (before Gemma's post-feedforward norm), harmful vs harmless.

Writes ``figures/neurons_activations.png`` (neuron x language heatmap of the log2 ratio, prompt
tokens), ``neurons_activations_effect.png`` (effect sizes), ``neurons_activations_generated.png``
(log2 ratio over generated tokens), ``neurons_activations.json`` / ``.csv``.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

import mechint
from mechint.neurons import neuron_activation_stats, value_vectors
from mechint.plots import plot_neuron_heatmap, save_figure

from ._common import K_NEURONS as K
from ._common import LANGUAGES, aligned_neurons, check_counts, safety_activations, study_main, write_json, write_table

NAME = "neurons_activations"
N_PROMPTS = 50  # held-out prompts per class and language (prompt tokens)
N_GENERATE = 8  # prompts per class and language that are continued greedily
MAX_NEW_TOKENS = 16
CLASSES = {1: "harmful", 0: "harmless"}


def held_out(sa, n: int) -> dict[tuple[str, int], list[int]]:
    """The first ``n`` held-out rows of each language and class."""
    out = {}
    for lang in LANGUAGES:
        rows = sa.rows(sa.test, lang)
        for label in CLASSES:
            out[(lang, label)] = rows[sa.labels[rows] == label][:n].tolist()
    return out


def _stats_table(stats):
    """``{(lang, class): NeuronStats}`` from groups named ``"lang/class"``."""
    return {tuple(g.split("/")): s for g, s in stats.items()}


def _ratio(a: torch.Tensor, b: torch.Tensor, tiny: float = 1e-12) -> torch.Tensor:
    """a / b, NaN where either is ~0 (a neuron silent in one class has no finite ratio)."""
    ok = (a > tiny) & (b > tiny)
    return torch.where(ok, a / b.clamp(min=tiny), torch.full_like(a, float("nan")))


def _compare(by_group, neurons, coeff):
    """ratio / effect size / write per neuron and language."""
    ratio = torch.full((len(neurons), len(LANGUAGES)), float("nan"))
    robust = torch.full_like(ratio, float("nan"))
    effect = torch.full_like(ratio, float("nan"))
    write = {}
    for j, lang in enumerate(LANGUAGES):
        h, s = by_group.get((lang, "harmful")), by_group.get((lang, "harmless"))
        if h is None or s is None or h.count == 0 or s.count == 0:
            continue
        ratio[:, j] = _ratio(h.mean_abs, s.mean_abs)
        robust[:, j] = _ratio(h.abs_quantile(0.5), s.abs_quantile(0.5))
        pooled = ((h.std**2 + s.std**2) / 2).sqrt().clamp(min=1e-12)
        effect[:, j] = (h.mean - s.mean) / pooled
        write[lang] = {"harmful": float(h.mean @ coeff), "harmless": float(s.mean @ coeff)}
    return ratio, robust, effect, write


def run(
    model: mechint.Model,
    out_dir: Path,
    *,
    n_per_class: int | None = None,
    k: int = K,
    n_prompts: int = N_PROMPTS,
    n_generate: int = N_GENERATE,
    max_new_tokens: int = MAX_NEW_TOKENS,
) -> dict:
    out_dir = Path(out_dir)
    sa = safety_activations(model, n_per_class=n_per_class)
    neurons, d, _ = aligned_neurons(model, sa, k)
    vv = value_vectors(model)
    coeff = torch.stack([vv[n.layer, n.index].float().cpu() @ d for n in neurons])  # v_i . d (unit d)

    picks = held_out(sa, n_prompts)
    check_counts(
        NAME,
        {f"{lang}/{CLASSES[label]}": len(idx) for (lang, label), idx in picks.items()},
        minimum=2,
        required=0,
        what="the per-language comparison of activations on held-out harmful and harmless prompts",
    )
    rows = [(i, f"{lang}/{CLASSES[label]}") for (lang, label), idx in picks.items() for i in idx]
    texts = [sa.dataset[i].text for i, _ in rows]
    prompt = neuron_activation_stats(
        model, texts, neurons, groups=[g for _, g in rows], progress="neuron stats (prompts)"
    )
    gen_rows = [(i, f"{lang}/{CLASSES[label]}") for (lang, label), idx in held_out(sa, n_generate).items() for i in idx]
    generated = neuron_activation_stats(
        model,
        [sa.dataset[i].text for i, _ in gen_rows],
        neurons,
        groups=[g for _, g in gen_rows],
        max_new_tokens=max_new_tokens,
        batch_size=20,
        progress="neuron stats (generation)",
    )
    on_prompt = _stats_table(prompt.prompt)
    on_generated = _stats_table(generated.generated)
    ratio_p, robust_p, effect_p, write_p = _compare(on_prompt, neurons, coeff)
    ratio_g, robust_g, effect_g, write_g = _compare(on_generated, neurons, coeff)

    labels = [n.label for n in neurons]

    def ratio_heatmap(ratio: torch.Tensor, title: str, stem: str) -> list:
        """Harmful / harmless mean |activation| per neuron and language, drawn on a log2 scale."""
        figure = plot_neuron_heatmap(
            torch.log2(ratio),
            row_labels=labels,
            column_labels=list(LANGUAGES),
            text=[[f"{v:.2f}" for v in row] for row in ratio.tolist()],
            colorbar_title="log2 ratio",
            max_abs=2.0,
            title=title,
        )
        return save_figure(figure, out_dir / stem)

    written = ratio_heatmap(
        ratio_p,
        f"Top {k} aligned neurons ({model.name}): mean |activation|,<br>"
        "harmful / harmless prompts, prompt tokens (cell = ratio)",
        NAME,
    )
    written += save_figure(
        plot_neuron_heatmap(
            effect_p,
            row_labels=labels,
            column_labels=list(LANGUAGES),
            colorbar_title="effect size",
            max_abs=1.0,
            title="Activation on harmful minus harmless prompts,<br>in pooled standard deviations (prompt tokens)",
        ),
        out_dir / f"{NAME}_effect",
    )
    written += ratio_heatmap(
        ratio_g,
        f"Mean |activation|, harmful / harmless, over {max_new_tokens} greedily<br>"
        f"generated tokens ({n_generate} prompts per class; cell = ratio)",
        f"{NAME}_generated",
    )

    table = []
    for where, groups in (("prompt", on_prompt), ("generated", on_generated)):
        for (lang, cls), st in sorted(groups.items()):
            for row in st.summary():
                table.append(
                    [
                        where,
                        lang,
                        cls,
                        row["neuron"],
                        row["count"],
                        row["mean"],
                        row["std"],
                        row["mean_abs"],
                        row["median_abs"],
                        row["q0.1"],
                        row["q0.5"],
                        row["q0.9"],
                        row["q0.99"],
                        row["max"],
                        row["frac_positive"],
                    ]
                )
    write_table(
        out_dir / f"{NAME}.csv",
        [
            "tokens",
            "language",
            "class",
            "neuron",
            "count",
            "mean",
            "std",
            "mean_abs",
            "median_abs",
            "q10",
            "q50",
            "q90",
            "q99",
            "max",
            "frac_positive",
        ],
        table,
    )

    def per_lang(m: torch.Tensor) -> dict:
        return {
            lang: {
                labels[i]: (round(float(m[i, j]), 4) if math.isfinite(float(m[i, j])) else None)
                for i in range(len(labels))
            }
            for j, lang in enumerate(LANGUAGES)
        }

    def median(m: torch.Tensor) -> dict:
        return {lang: round(float(m[:, j].nanmedian()), 4) for j, lang in enumerate(LANGUAGES)}

    def geo(m: torch.Tensor) -> dict:
        """Geometric mean over the neurons with a finite ratio in that language."""
        return {lang: round(float(torch.log(m[:, j]).nanmean().exp()), 4) for j, lang in enumerate(LANGUAGES)}

    summary = {
        "model": str(model.name),
        "neurons": labels,
        "site": "blocks.{l}.mlp.hook_post (input of the down projection)",
        "prompt_tokens": {
            "prompts_per_class_and_language": n_prompts,
            "tokens": "every prompt token except BOS",
            "tokens_seen": {f"{l}/{c}": s.count for (l, c), s in on_prompt.items()},
        },
        "generated_tokens": {
            "prompts_per_class_and_language": n_generate,
            "max_new_tokens": max_new_tokens,
            "tokens": "greedy generation steps, up to EOS",
            "tokens_seen": {f"{l}/{c}": s.count for (l, c), s in on_generated.items()},
        },
        "quantiles": "from a uniform reservoir sample of 4096 tokens per group (exact below that)",
        "ratio_mean_abs_harmful_over_harmless": {"prompt": per_lang(ratio_p), "generated": per_lang(ratio_g)},
        "ratio_geometric_mean_over_neurons": {"prompt": geo(ratio_p), "generated": geo(ratio_g)},
        "ratio_median_abs_harmful_over_harmless": {"prompt": per_lang(robust_p), "generated": per_lang(robust_g)},
        "ratio_median_abs_geometric_mean_over_neurons": {"prompt": geo(robust_p), "generated": geo(robust_g)},
        "effect_size": {"prompt": per_lang(effect_p), "generated": per_lang(effect_g)},
        "effect_size_median_over_neurons": {"prompt": median(effect_p), "generated": median(effect_g)},
        "write_along_direction_sum_mean_a_times_v_dot_d": {"prompt": write_p, "generated": write_g},
        "neurons_without_a_finite_median_ratio": {
            "prompt": {
                lang: [labels[i] for i in range(len(labels)) if not math.isfinite(float(robust_p[i, j]))]
                for j, lang in enumerate(LANGUAGES)
            }
        },
        "neurons_with_ratio_above_1_in_every_language": {
            "prompt": [labels[i] for i in range(len(labels)) if bool((ratio_p[i] > 1).all())],
            "generated": [labels[i] for i in range(len(labels)) if bool((ratio_g[i] > 1).all())],
        },
    }
    write_json(out_dir / f"{NAME}.json", summary)
    return {
        "figures": [str(p) for p in written],
        "ratio_geomean_prompt": summary["ratio_geometric_mean_over_neurons"]["prompt"],
        "ratio_geomean_generated": summary["ratio_geometric_mean_over_neurons"]["generated"],
        "effect_median_prompt": summary["effect_size_median_over_neurons"]["prompt"],
    }


if __name__ == "__main__":
    study_main(run, __doc__)
