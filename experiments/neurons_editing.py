"""Study: what editing the neurons aligned with the English harmfulness direction does to the
direction's score and to generations, per language.

The top ``K`` neurons of :mod:`experiments.neurons_top` are edited at ``blocks.{l}.mlp.hook_post``
(:class:`mechint.EditNeurons`) at every token but the BOS token, on held-out prompts of each
language (items split by id). The BOS token is left alone: every prompt's first token is the same
attention sink that all later tokens read, so editing it moves every score whatever the neurons
carry (it made most of the effect of setting the top neurons to 0: ``docs/studies/neurons_editing.md``),
and the boost values are peaks over content tokens, outside BOS's range.
``from_text_start(slice(1, None))`` skips each prompt's first token in left-padded batches. The
score is the projection of the last-token ``blocks.{L-1}.hook_resid_post`` on the English
direction (the one the neurons were ranked by); its change is reported in units of each language's
own harmful-minus-harmless gap of mean scores (-1: a harmful prompt moved all the way to the harmless
mean; +1 the other way). Conditions:

- ``ablate``: the K neurons set to 0, on harmful prompts;
- ``boost``: the K neurons set to the largest activation each showed on English training prompts
  (harmful and harmless), on harmless prompts;
- ``scale x4``: the K neurons' own activations multiplied by 4, on harmful prompts;
- each again on K random neurons of the same layers (the control: how much any K neurons there move
  the score).

Greedy generations (plain, ablated, boosted) for one harmful and one harmless prompt per language go
to ``neurons_editing_generations.{csv,md}``. Figures: ``neurons_editing.png`` (shift per language and
condition); numbers in ``neurons_editing.json``.
"""

from __future__ import annotations

from pathlib import Path

import torch

import mechint
from mechint.neurons import Neuron, edit_effect, neuron_activation_stats, neuron_edits
from mechint.plots import plot_edit_effect, save_figure

from ._common import (
    CONTENT,
    LANGUAGES,
    aligned_neurons,
    check_counts,
    class_counts,
    generate_texts,
    safety_activations,
    study_main,
    write_json,
    write_table,
)
from ._common import K_NEURONS as K

NAME = "neurons_editing"
N_PROMPTS = 40  # held-out prompts per class and language
N_REFERENCE = 40  # English training prompts per class that set the "boost" values
SCALE = 4.0
MAX_NEW_TOKENS = 24


def random_neurons(model: mechint.Model, neurons: list[Neuron], seed: int = 0) -> list[Neuron]:
    """As many random neurons as ``neurons``, in the same layers, none of them."""
    g = torch.Generator().manual_seed(seed)
    taken = {(n.layer, n.index) for n in neurons}
    out = []
    for n in neurons:
        while True:
            i = int(torch.randint(model.d_mlp, (1,), generator=g))
            if (n.layer, i) not in taken:
                taken.add((n.layer, i))
                out.append(Neuron(n.layer, i))
                break
    return out


def run(
    model: mechint.Model,
    out_dir: Path,
    *,
    n_per_class: int | None = None,
    k: int = K,
    n_prompts: int = N_PROMPTS,
    max_new_tokens: int = MAX_NEW_TOKENS,
    batch_size: int = 16,
) -> dict:
    out_dir = Path(out_dir)
    sa = safety_activations(model, n_per_class=n_per_class)
    check_counts(
        NAME,
        class_counts(sa.labels, sa.languages, sa.test),
        minimum=2,
        what="each language's harmful-harmless gap and edits on held-out prompts",
    )
    top, d, d_layer = aligned_neurons(model, sa, k)
    control = random_neurons(model, top)
    base = sa.acts[d_layer] @ d  # [n] stored scores of the plain model (last token, same site)

    # each language's own gap, over all its held-out items
    gap = {}
    for lang in LANGUAGES:
        rows = sa.rows(sa.test, lang)
        y = sa.labels[rows].bool()
        gap[lang] = float(base[rows][y].mean() - base[rows][~y].mean())

    # boost values: each neuron's largest activation on English training prompts
    en_train = sa.rows(sa.train, "en")
    ref = [i for label in (1, 0) for i in en_train[sa.labels[en_train] == label][:N_REFERENCE].tolist()]
    ref_texts = [sa.dataset[i].text for i in ref]
    peak_top = neuron_activation_stats(model, ref_texts, top, progress=False).prompt["all"].max
    peak_control = neuron_activation_stats(model, ref_texts, control, progress=False).prompt["all"].max

    def rows_of(label: int) -> tuple[list[int], list[str]]:
        idx, langs = [], []
        for lang in LANGUAGES:
            rows = sa.rows(sa.test, lang)
            picked = rows[sa.labels[rows] == label][:n_prompts].tolist()
            idx += picked
            langs += [lang] * len(picked)
        return idx, langs

    harmful, harmful_langs = rows_of(1)
    harmless, harmless_langs = rows_of(0)
    conditions = {
        "ablate (set 0), harmful prompts": (
            harmful,
            harmful_langs,
            {"mode": "set", "value": 0.0},
            {"mode": "set", "value": 0.0},
        ),
        "boost (set to English peak), harmless prompts": (
            harmless,
            harmless_langs,
            {"mode": "set", "value": peak_top},
            {"mode": "set", "value": peak_control},
        ),
        f"scale x{SCALE:g}, harmful prompts": (
            harmful,
            harmful_langs,
            {"mode": "scale", "value": SCALE},
            {"mode": "scale", "value": SCALE},
        ),
    }
    shifts: dict[str, dict[str, float]] = {}
    raw: dict[str, dict] = {}
    for name, (idx, langs, edit_top, edit_control) in conditions.items():
        texts = [sa.dataset[i].text for i in idx]
        for which, neurons, edit in (("top", top, edit_top), ("random", control, edit_control)):
            effect = edit_effect(
                model,
                texts,
                d,
                neurons,
                layer=d_layer,
                groups=langs,
                before=base[idx],
                positions=CONTENT,
                batch_size=batch_size,
                progress=f"{which}: {name}",
                **edit,
            )
            mean = effect.shift()
            label = f"{which} {k}: {name}"
            shifts[label] = {lang: mean[lang] / gap[lang] for lang in LANGUAGES}
            raw[label] = {lang: round(mean[lang], 4) for lang in LANGUAGES}

    # generations --------------------------------------------------------------------------------
    picks = []
    for lang in LANGUAGES:
        picks += [harmful[harmful_langs.index(lang)], harmless[harmless_langs.index(lang)]]
    prompts = [sa.dataset[i].text for i in picks]

    plain = generate_texts(model, prompts, max_new_tokens=max_new_tokens)
    ablated = generate_texts(
        model, prompts, *neuron_edits(top, mode="set", value=0.0, positions=CONTENT), max_new_tokens=max_new_tokens
    )
    boosted = generate_texts(
        model, prompts, *neuron_edits(top, mode="set", value=peak_top, positions=CONTENT), max_new_tokens=max_new_tokens
    )
    gens = [
        [
            sa.languages[i],
            "harmful" if int(sa.labels[i]) == 1 else "harmless",
            prompts[j],
            plain[j],
            ablated[j],
            boosted[j],
        ]
        for j, i in enumerate(picks)
    ]
    header = [
        "language",
        "class",
        "prompt",
        "plain",
        f"top {k} ablated (set 0)",
        f"top {k} boosted (set to English peak)",
    ]
    write_table(out_dir / f"{NAME}_generations.csv", header, gens)
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |" for row in gens]
    (out_dir / f"{NAME}_generations.md").write_text("\n".join(md) + "\n")

    written = save_figure(
        plot_edit_effect(
            shifts,
            title=f"Editing the top {k} aligned neurons vs {k} random ones (same layers), {model.name}:<br>"
            f"change of the English-direction score at layer {d_layer}",
            yaxis_title="score change / language's harmful-harmless gap",
        ),
        out_dir / NAME,
    )
    table = [[cond, lang, shifts[cond][lang], raw[cond][lang]] for cond in shifts for lang in LANGUAGES]
    write_table(out_dir / f"{NAME}.csv", ["condition", "language", "shift_in_gap_units", "shift_raw"], table)
    summary = {
        "model": str(model.name),
        "neurons": [n.label for n in top],
        "control_neurons": [n.label for n in control],
        "score": f"projection of last-token blocks.{d_layer}.hook_resid_post on the English direction (unit)",
        "edits_at": "blocks.{l}.mlp.hook_post, every token but BOS (from_text_start(slice(1, None)))",
        "prompts_per_class_and_language": n_prompts,
        "gap_harmful_minus_harmless": {lang: round(v, 4) for lang, v in gap.items()},
        "boost_values_top": [round(float(v), 4) for v in peak_top],
        "boost_values_control": [round(float(v), 4) for v in peak_control],
        "shift_in_gap_units": {c: {l: round(v, 4) for l, v in per.items()} for c, per in shifts.items()},
        "shift_raw": raw,
    }
    write_json(out_dir / f"{NAME}.json", summary)
    return {
        "figures": [str(p) for p in written],
        "shift_in_gap_units": {c.split(",")[0]: {l: round(v, 3) for l, v in per.items()} for c, per in shifts.items()},
    }


if __name__ == "__main__":
    study_main(run, __doc__)
