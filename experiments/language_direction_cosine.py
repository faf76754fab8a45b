"""Study: is the harmfulness direction shared across languages?

For each language that MultiJail (harmful) and XQuAD (harmless) share, and at every layer, the
harmfulness direction is the difference of mean last-token residuals (``blocks.{l}.hook_resid_post``),
harmful minus harmless, on the same items translated. The figure shows, per layer, the cosine
similarity between the English direction and each other language's, against a ceiling: the cosine two
English directions would have if each were computed, like every language's, from all ``n`` items.

The ceiling, at full ``n``. Two disjoint halves of the English items (``n/2`` per class each) give
two independent directions, but each from half the data: the cosine of two difference-of-means
estimates falls with their sampling noise, so the raw split-half cosine is biased low against
cosines between full-``n`` directions. A difference of means is ``d + e`` with noise ``e`` of
summed variance ``V/n`` (``V = tr Cov(harmful) + tr Cov(harmless)``, items independent); to first
order the cosine of two independent estimates from ``m`` items is ``D / (D + V/m)`` (``D = |d|^2``;
the cross terms ``d.e`` and ``e.e'`` average to zero), for any noise distribution and covariance.
Halving ``m`` doubles the noise term, so from the split-half cosine ``r`` the cosine at full ``n`` is
``2r / (1 + r)``, the Spearman-Brown formula (``r < 0``, no reliable direction, is taken as 0; with
odd or unequal class counts ``k r / (1 + (k - 1) r)``, ``k = (1/m_1 + 1/m_0) / (1/n_1 + 1/n_0)``,
2.006 for 157 of 315 items per class). ``r`` is the mean over ``N_SPLITS`` random halvings (each
class's items shuffled, two disjoint halves of ``floor(n_c/2)`` items each), not one split, whose own
noise is large at some layers. The JSON also holds the raw split-half mean, and a check of the
formula on the data: the same correction from disjoint quarters predicts the observed halves
(``spearman_brown_check``). On synthetic data (tests/test_study_reviews.py: Gaussian, anisotropic,
Laplace noise) it recovers the cosine of two independent full-``n`` directions within 0.02.

Each language's directions have their own noise, so the JSON also gives each language's corrected
split-half cosine (its reliability ``rel``) and, per language, ``sqrt(rel_en * rel_lang)``: the
cosine its full-``n`` direction would have with English's if the two true directions were equal and
the noise independent. One caveat neither ceiling carries: the languages' directions come from
translations of the same items, so their item-sampling noise is shared in part (independent halves
have none in common), which can bring a cross-language cosine nearer the ceiling than independent
data would.

Massive activations. A residual stream carries a few features far larger than the rest, in magnitude
and in spread; in raw units a direction's length, and so its cosine with another, can be mostly one
such feature's mean difference (on gemma-3-270m: up to 70% of the squared length). The study
therefore repeats the comparison, ceilings included, with every feature divided by its standard
deviation within (language, class) groups, pooled (:func:`mechint.within_group_std`): each feature
in units of its own noise. The JSON's ``massive_feature`` block names the largest feature per layer
and its share of each language's raw direction.

Writes ``figures/language_direction_cosine.{png|html}``, ``.csv`` (layer x language) and ``.json``,
and the standardised comparison as ``language_direction_cosine_standardised.{png|html}`` and ``.csv``.

Run alone: ``python -m experiments.language_direction_cosine`` (or through ``python -m experiments``).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

import mechint
from mechint.directions import cosine, cosine_across, per_language_directions, within_group_std
from mechint.plots import plot_layer_heatmap, plot_layer_lines, plot_similarity_matrices, save_figure

from ._common import (
    LANGUAGES,
    check_counts,
    class_counts,
    largest_feature,
    rounded,
    safety_activations,
    study_main,
    write_table,
)

NAME = "language_direction_cosine"
N_SPLITS = 200  # random halvings averaged for the split-half cosine
CEILING = "en, ceiling at full n (split halves, Spearman-Brown)"


def split_half_cosines(
    acts: torch.Tensor, labels, *, fraction: float = 0.5, n_splits: int = N_SPLITS, seed: int = 0
) -> torch.Tensor:
    """``[n_splits, layer]``: cosine between the difference-of-means directions (harmful minus
    harmless) of two disjoint random subsets of the rows of ``acts [layer, n, d]``, each holding
    ``floor(fraction * n_c)`` rows of each class ``c`` (``fraction <= 0.5``). The rows must be one per
    item (one language), so splitting rows splits items."""
    y = torch.as_tensor(labels).bool().reshape(-1)
    if not 0.0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction}")
    gen = torch.Generator().manual_seed(seed)
    x = acts.double()
    weights = torch.zeros(2, n_splits, y.numel(), dtype=torch.float64)  # [half, split, row]
    for cls, sign in ((True, 1.0), (False, -1.0)):
        rows = torch.nonzero(y == cls).reshape(-1)
        m = int(fraction * len(rows))
        if m < 1:
            raise ValueError(f"too few rows of class {int(cls)} ({len(rows)}) for subsets of {fraction} of them")
        for s in range(n_splits):
            perm = rows[torch.randperm(len(rows), generator=gen)]
            weights[0, s, perm[:m]] = sign / m
            weights[1, s, perm[m : 2 * m]] = sign / m
    dirs = torch.einsum("hsn,lnd->hsld", weights.to(x.device), x)  # [half, split, layer, d]
    return cosine(dirs[0], dirs[1]).cpu()


def spearman_brown(r: torch.Tensor, k: float = 2.0) -> torch.Tensor:
    """The cosine of two directions from ``k`` times the data, from ``r`` (two directions from
    disjoint subsets): ``k r / (1 + (k - 1) r)``, with ``r`` clamped at 0 (see the module docstring)."""
    r = r.clamp(min=0.0)
    return k * r / (1 + (k - 1) * r)


def _noise_ratio(labels, small: float, large: float) -> float:
    """How many times the noise of a difference of means from ``floor(small * n_c)`` rows per class
    is that from ``floor(large * n_c)`` (``large = 1``: all rows), at equal variance in both classes."""
    y = torch.as_tensor(labels).bool().reshape(-1)
    counts = [int((y == c).sum()) for c in (True, False)]
    return sum(1 / int(small * n) for n in counts) / sum(1 / int(large * n) for n in counts)


def full_n_ceiling(acts: torch.Tensor, labels, *, n_splits: int = N_SPLITS, seed: int = 0) -> dict[str, torch.Tensor]:
    """Per layer: the mean split-half cosine of ``acts [layer, n, d]`` (one language, one row per
    item) and its Spearman-Brown correction to full ``n``, with the 5th and 95th percentiles of
    the corrected value over single splits; and, as a check, the correction applied to disjoint
    quarters (a prediction of the observed halves). ``k``: the correction's noise ratio."""
    halves = split_half_cosines(acts, labels, n_splits=n_splits, seed=seed)
    quarters = split_half_cosines(acts, labels, fraction=0.25, n_splits=n_splits, seed=seed + 1)
    k = _noise_ratio(labels, 0.5, 1.0)
    per_split = spearman_brown(halves, k)
    return {
        "split_half": halves.mean(0),
        "ceiling": spearman_brown(halves.mean(0), k),
        "ceiling_p05": per_split.quantile(0.05, dim=0),
        "ceiling_p95": per_split.quantile(0.95, dim=0),
        "quarters_predict_halves": spearman_brown(quarters.mean(0), _noise_ratio(labels, 0.25, 0.5)),
        "k": torch.tensor(k),
    }


def _compare(acts: torch.Tensor, labels, languages, rows_of: dict[str, torch.Tensor]):
    """``(sim [layer, lang, lang], langs, reliability)``: the cosines between the languages'
    difference-of-means directions, and each language's split-half ceiling at full n."""
    sim, langs = cosine_across(per_language_directions(acts, labels, languages, order=list(LANGUAGES)))
    reliability = {l: full_n_ceiling(acts[:, rows_of[l]], labels[rows_of[l]]) for l in langs}
    return sim, langs, reliability


def _massive_feature(acts: torch.Tensor, labels, languages) -> dict:
    """Per layer, the feature of largest mean magnitude and its share of the squared length of each
    language's raw (unnormalised) difference of means."""
    big, mean_abs = largest_feature(acts)  # [layer]
    out = {
        "feature[layer]": big.tolist(),
        "mean_abs[layer]": rounded(mean_abs, 2),
        "share_of_direction[language][layer]": {},
    }
    y = torch.as_tensor(labels).bool()
    for l in LANGUAGES:
        sel = torch.tensor([x == l for x in languages])
        diff = acts[:, sel & y].double().mean(-2) - acts[:, sel & ~y].double().mean(-2)  # [layer, d]
        share = diff.gather(-1, big.unsqueeze(-1)).squeeze(-1).square() / diff.square().sum(-1)
        out["share_of_direction[language][layer]"][l] = rounded(share)
    return out


def run(model: mechint.Model, out_dir: Path, *, n_per_class: int | None = None, batch_size: int = 16) -> dict:
    """Compute the per-layer cross-language cosines on ``model`` and write the figure and numbers."""
    out_dir = Path(out_dir)
    sa = safety_activations(model, n_per_class=n_per_class, batch_size=batch_size)
    ds, stacked, labels, languages = sa.dataset, sa.acts, sa.labels, sa.languages
    # the Spearman-Brown check compares disjoint quarters of each class's items: one item per quarter
    # to run at all, two to have any spread within one
    check_counts(
        NAME,
        class_counts(labels, languages),
        minimum=8,
        required=4,
        what="the split-half ceilings and their check from disjoint quarters of each class",
    )

    rows_of = {}
    for l in LANGUAGES:
        rows_of[l] = torch.tensor([i for i, x in enumerate(languages) if x == l])
        ids = [ds[i].item_id for i in rows_of[l].tolist()]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{l}: an item id on several rows; split halves need one row per item")
    sim, langs, reliability = _compare(stacked, labels, languages, rows_of)
    en = langs.index("en")
    ceiling = reliability["en"]["ceiling"]  # [layer]
    # the same in units of each feature's spread within (language, class) groups
    scale = within_group_std(stacked, labels, languages)  # [layer, d]
    sim_std, _, reliability_std = _compare(stacked / scale.unsqueeze(-2), labels, languages, rows_of)

    # Series are named by language so that each keeps its colour across figures.
    lines = {l: sim[:, en, i].tolist() for i, l in enumerate(langs) if l != "en"}
    lines[CEILING] = ceiling.tolist()
    fig = plot_layer_lines(
        lines,
        title=f"Harmfulness direction: cosine of each language's with English's ({model.name})",
        yaxis_title="cosine similarity",
        reference=0.0,
    )
    written = save_figure(fig, out_dir / NAME)
    mean_cross = (sim.sum((1, 2)) - sim.diagonal(dim1=1, dim2=2).sum(1)) / (len(langs) * (len(langs) - 1))
    shown = int(mean_cross.argmax())
    written += save_figure(
        plot_similarity_matrices(
            sim,
            languages=langs,
            active=shown,
            title="Harmfulness directions: cosine between languages",
        ),
        out_dir / f"{NAME}_matrices",
    )

    rows = [l for l in lines if l != CEILING]
    written += save_figure(
        plot_layer_heatmap(
            torch.tensor([lines[l] for l in rows]),
            row_labels=rows,
            zmid=0.0,
            title="Cosine with the English harmfulness direction",
            colorbar_title="cosine",
        ),
        out_dir / f"{NAME}_heatmap",
    )
    write_table(
        out_dir / f"{NAME}.csv",
        ["layer", *lines],
        [[layer, *[float(v[layer]) for v in lines.values()]] for layer in range(model.n_layers)],
    )
    best = {l: max(range(model.n_layers), key=lambda k: sim[k, en, i].item()) for i, l in enumerate(langs) if l != "en"}
    lines_std = {l: sim_std[:, en, i].tolist() for i, l in enumerate(langs) if l != "en"}
    lines_std[CEILING] = reliability_std["en"]["ceiling"].tolist()
    written += save_figure(
        plot_layer_lines(
            lines_std,
            title=f"Harmfulness direction, each feature in units of its within-group spread: cosine with English's "
            f"({model.name})",
            yaxis_title="cosine similarity",
            reference=0.0,
        ),
        out_dir / f"{NAME}_standardised",
    )
    write_table(
        out_dir / f"{NAME}_standardised.csv",
        ["layer", *lines_std],
        [[layer, *[float(v[layer]) for v in lines_std.values()]] for layer in range(model.n_layers)],
    )
    summary = {
        "model": str(model.name),
        "site": "blocks.{l}.hook_resid_post, last token",
        "direction": "difference of means, harmful (MultiJail) minus harmless (XQuAD), unit length",
        "languages": langs,
        "n_per_language": {l: int(sum(1 for x in languages if x == l)) for l in langs},
        "cosine_with_english": {k: [round(x, 6) for x in v] for k, v in lines.items()},
        "similarity": [[[round(x, 6) for x in row] for row in layer] for layer in sim.tolist()],
        "best_layer": {l: {"layer": k, "cosine": round(sim[k, en, langs.index(l)].item(), 6)} for l, k in best.items()},
        "english_ceiling[layer]": {
            "method": (
                "cosine expected between two English directions each from all n items, from split halves: "
                f"the mean over {N_SPLITS} random halvings (floor(n_c/2) items of each class per half, disjoint) "
                "of the cosine r between the halves' directions, corrected to full n by Spearman-Brown, "
                "k r / (1 + (k - 1) r), k = (1/m_1 + 1/m_0) / (1/n_1 + 1/n_0) (m_c items of class c per half, "
                "n_c in all; 2 for even counts; r < 0 taken as 0). The raw split-half cosine is from n/2 items "
                "per direction and biased low: "
                "to first order the cosine of two independent difference-of-means estimates from m items is "
                "D/(D + V/m) (D = |true difference|^2, V = summed variance of both classes), so halving m "
                "doubles the noise term"
            ),
            "n_splits": N_SPLITS,
            "k": round(float(reliability["en"]["k"]), 6),
            "ceiling (full n)": rounded(ceiling),
            "ceiling_p05 (single splits, corrected)": rounded(reliability["en"]["ceiling_p05"]),
            "ceiling_p95 (single splits, corrected)": rounded(reliability["en"]["ceiling_p95"]),
            "split_half_mean (n/2, uncorrected)": rounded(reliability["en"]["split_half"]),
            "spearman_brown_check": {
                "what": "the same correction from two disjoint quarters (n/4 per class) predicts the halves' "
                "mean cosine; observed minus predicted, per layer",
                "observed_minus_predicted[layer]": rounded(
                    reliability["en"]["split_half"] - reliability["en"]["quarters_predict_halves"]
                ),
            },
        },
        "reliability_at_full_n[language][layer]": {l: rounded(r["ceiling"]) for l, r in reliability.items()},
        "ceiling_per_language[language][layer]": {
            "what": "sqrt(reliability en * reliability of the language): the cosine of its full-n direction "
            "with English's if the true directions were equal and the sampling noise independent",
            **{
                l: rounded((reliability["en"]["ceiling"] * r["ceiling"]).sqrt())
                for l, r in reliability.items()
                if l != "en"
            },
        },
    }
    summary["standardised"] = {
        "what": "the same comparison after dividing every feature, per layer, by its standard deviation within "
        "(language, class) groups, pooled (mechint.within_group_std): each feature in units of its own noise, so "
        "that a few features of huge magnitude and spread (massive activations) do not decide the cosine",
        "cosine_with_english": {k: [round(x, 6) for x in v] for k, v in lines_std.items()},
        "reliability_at_full_n[language][layer]": {l: rounded(r["ceiling"]) for l, r in reliability_std.items()},
    }
    summary["massive_feature"] = _massive_feature(stacked, labels, languages)
    (out_dir / f"{NAME}.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    return {
        "figures": [str(p) for p in written],
        "best_layer": summary["best_layer"],
        "english_ceiling_last_layer": round(float(ceiling[-1]), 4),
    }


if __name__ == "__main__":
    study_main(run, __doc__)
