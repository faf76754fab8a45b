"""Study: is the harmfulness direction shared across languages?

For each language that MultiJail (harmful) and XQuAD (harmless) share, and at every layer, the
harmfulness direction is the difference of mean last-token residuals (``blocks.{l}.hook_resid_post``),
harmful minus harmless, on the same items translated. The figure shows, per layer, the cosine
similarity between the English direction and each other language's; as a ceiling, the cosine between
English directions computed on two disjoint halves of the items (split by item id).

Writes ``figures/language_direction_cosine.{png|html}``, ``.csv`` (layer x language) and ``.json``.

Run alone: ``python -m experiments.language_direction_cosine`` (or through ``python -m experiments``).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

import mechint
from mechint import data
from mechint.directions import cosine, cosine_across, diff_in_means, per_language_directions
from mechint.plots import plot_layer_heatmap, plot_layer_lines, plot_similarity_matrices, save_figure

from ._common import LANGUAGES, safety_activations, write_table

NAME = "language_direction_cosine"


def run(model: mechint.Model, out_dir: Path, *, n_per_class: int | None = None, batch_size: int = 16) -> dict:
    """Compute the per-layer cross-language cosines on ``model`` and write the figure and numbers."""
    out_dir = Path(out_dir)
    sa = safety_activations(model, n_per_class=n_per_class, batch_size=batch_size)
    ds, stacked, labels, languages = sa.dataset, sa.acts, sa.labels, sa.languages

    directions = per_language_directions(stacked, labels, languages, order=list(LANGUAGES))
    sim, langs = cosine_across(directions)  # [layer, lang, lang]
    en = langs.index("en")

    # Ceiling: English directions from two disjoint halves of the items.
    en_ds = ds.filter(language="en")
    half_a, half_b = data.split_by_item(en_ds, test_fraction=0.5, seed=0)
    en_rows = {ex.item_id: i for i, (ex, l) in enumerate(zip(ds, languages)) if l == "en"}
    def half_direction(half):
        rows = torch.tensor([en_rows[ex.item_id] for ex in half])
        return diff_in_means(stacked[:, rows], labels[rows])
    split_half = cosine(half_direction(half_a), half_direction(half_b))  # [layer]

    # Series are named by language so that each keeps its colour across figures.
    lines = {l: sim[:, en, i].tolist() for i, l in enumerate(langs) if l != "en"}
    lines["en (two halves of the items)"] = split_half.tolist()
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
            sim, languages=langs, active=shown,
            title="Harmfulness directions: cosine between languages",
        ),
        out_dir / f"{NAME}_matrices",
    )

    rows = [l for l in lines if not l.startswith("en (")]
    written += save_figure(
        plot_layer_heatmap(torch.tensor([lines[l] for l in rows]), row_labels=rows, zmid=0.0,
                           title="Cosine with the English harmfulness direction", colorbar_title="cosine"),
        out_dir / f"{NAME}_heatmap",
    )
    write_table(out_dir / f"{NAME}.csv", ["layer", *lines],
                [[layer, *[float(v[layer]) for v in lines.values()]] for layer in range(model.n_layers)])
    best = {l: max(range(model.n_layers), key=lambda k: sim[k, en, i].item()) for i, l in enumerate(langs) if l != "en"}
    summary = {
        "model": str(model.name),
        "site": "blocks.{l}.hook_resid_post, last token",
        "direction": "difference of means, harmful (MultiJail) minus harmless (XQuAD), unit length",
        "languages": langs,
        "n_per_language": {l: int(sum(1 for x in languages if x == l)) for l in langs},
        "cosine_with_english": {k: [round(x, 6) for x in v] for k, v in lines.items()},
        "similarity": [[[round(x, 6) for x in row] for row in layer] for layer in sim.tolist()],
        "best_layer": {l: {"layer": k, "cosine": round(sim[k, en, langs.index(l)].item(), 6)} for l, k in best.items()},
    }
    (out_dir / f"{NAME}.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    return {"figures": [str(p) for p in written], "best_layer": summary["best_layer"]}


if __name__ == "__main__":
    from ._common import study_main

    study_main(run, __doc__)
