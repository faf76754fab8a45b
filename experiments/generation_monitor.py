"""Study: does a probe on a generation's activations predict its judged outcome before the generation ends? (arXiv 2507.12428)

arXiv 2507.12428 monitors a reasoning model's chain of thought: a linear probe on the activations of its
first tokens predicts whether the final response will be unsafe, better than a text-only monitor and
before the reasoning ends. This study asks the same question of the embedded models' answers:

- **Generations**: the safety-tuned model (``gemma-3-270m-refusal-en`` for the embedded gemma-3-270m)
  and the same model after the English fine-tuning attack (``experiments/attack_languages``'s,
  cached and shared) answer harmful PolyRefuse *test* instructions, :data:`ITEMS` per language in all
  14 languages, greedily, :data:`NEW_TOKENS` tokens, the residual stream of the middle layer
  (``blocks.{n_layers // 2}.hook_resid_post``, a fixed rule, not chosen on these data) kept at every
  generated token (:func:`mechint.generate_with_activations`).
- **Outcome**: the multilingual refusal judge reads each whole answer; the label is 1 where a harmful
  request was answered (not refused), 0 where it was refused.
- **Early prediction**: for each fraction q = 10%, 20%, ..., 100% of each generation's tokens, a
  logistic-regression probe on the activations averaged over its first q of the tokens, against the
  text-only baseline (a bag-of-words logistic classifier on the same partial text), both
  cross-validated over :data:`FOLDS` folds by item (every language and both models of an item in one
  fold): :func:`mechint.monitor.prefix_monitor_auroc`'s method, AUROC per fraction, mean over folds.

Two populations: the **safety-tuned model alone** (its answers are refusals and compliances: the clean
question, one model whose outcome varies), and **both models together** (both outcomes from both, as
the paper's attacked and unattacked runs; here a probe can also tell the attacked weights from the
tuned ones, which the text baseline cannot, so this curve says less about the outcome itself).

Writes ``figures/generation_monitor.{png,json,csv}`` (AUROC against the fraction of the generation read).
"""

from __future__ import annotations

from pathlib import Path

import torch

import mechint
from mechint import data
from mechint.monitor import DEFAULT_FRACTIONS, generate_with_activations, prefix_probe_auroc, text_prefix_auroc
from mechint.plots import plot_layer_lines, save_figure
from mechint.probes import fold_ids
from mechint.refusal import judge_refusals

from ._common import (
    ATTACK_K,
    PROBE_C,
    attacked_versions,
    not_attacked,
    rounded,
    study_main,
    tuned_version,
    write_json,
    write_table,
)

CHAT_PROMPTS = True  # every instruction is formatted with the chat template

ITEMS = 10
"""Harmful test items per language (the first ones, as in ``attack_languages``)."""
NEW_TOKENS = 24
"""Tokens generated per answer (greedy)."""
FOLDS = 5
"""Cross-validation folds, by item."""
BATCH = 48


def _auroc_rows(
    features: torch.Tensor, texts: list[list[str]], labels: torch.Tensor, folds: torch.Tensor, ids: list[str]
) -> dict[str, list[float]]:
    """Mean-over-folds AUROC per fraction of the activation probe and of the bag of words."""
    probe = prefix_probe_auroc(features, labels, folds, fractions=DEFAULT_FRACTIONS, item_ids=ids, C=PROBE_C)
    text = text_prefix_auroc(texts, labels, folds, fractions=DEFAULT_FRACTIONS, item_ids=ids, C=PROBE_C)
    return {"probe": [float(a) for a in probe.auroc], "bag of words": [float(a) for a in text.auroc]}


def run(model: mechint.Model, out: Path, *, n_per_class: int | None = None) -> dict:
    n = min(ITEMS, n_per_class) if n_per_class is not None else ITEMS
    attacks = attacked_versions(model)
    tuned = tuned_version(model)
    if attacks is None or tuned is None:
        return not_attacked("generation_monitor", model)
    ds = data.load_polyrefuse("test", kind="harmful", n_per_class=n)
    prompts = tuned.chat_prompts(ds.texts)
    site = f"blocks.{model.n_layers // 2}.hook_resid_post"
    models = {"tuned": tuned, "attacked en": attacks.load("en", model.dtype, model.device)}
    features, texts, labels, outcome = {}, {}, {}, {}
    for key, m in models.items():
        gen = generate_with_activations(m, prompts, site, max_new_tokens=NEW_TOKENS, batch_size=BATCH, progress=key)
        refused = judge_refusals(gen.texts, ds.row_languages)
        labels[key] = torch.tensor([0 if r else 1 for r in refused])
        features[key] = gen.prefix_activations(site, DEFAULT_FRACTIONS)  # [fraction, n, d]
        texts[key] = gen.prefix_texts(DEFAULT_FRACTIONS)  # [fraction][n]
        outcome[key] = {"answered": int(labels[key].sum()), "refused": int(len(refused) - labels[key].sum())}
    folds = fold_ids(ds, k=FOLDS)
    ids = list(ds.item_ids)
    curves = {"tuned": _auroc_rows(features["tuned"], texts["tuned"], labels["tuned"], folds, ids)}
    keys = list(models)
    curves["both models"] = _auroc_rows(
        torch.cat([features[k] for k in keys], 1),
        [sum((texts[k][q] for k in keys), []) for q in range(len(DEFAULT_FRACTIONS))],
        torch.cat([labels[k] for k in keys]),
        torch.cat([folds] * len(keys)),
        ids * len(keys),
    )

    out.mkdir(parents=True, exist_ok=True)
    lines = {f"{population}: {method}": v for population, c in curves.items() for method, v in c.items()}
    ticks = [f"{q:.0%}" for q in DEFAULT_FRACTIONS]
    fig = plot_layer_lines(
        lines,
        title="Predicting the judged outcome (answered vs refused) from the first q of a generation",
        yaxis_title="AUROC (mean over folds by item)",
        xaxis_title="share of the generated tokens read",
    )
    fig.update_xaxes(tickvals=list(range(len(ticks))), ticktext=ticks)
    save_figure(fig, out / "generation_monitor")
    write_table(
        out / "generation_monitor.csv",
        ["population", "method", "fraction", "auroc"],
        [[p, m, q, v[k]] for p, c in curves.items() for m, v in c.items() for k, q in enumerate(DEFAULT_FRACTIONS)],
    )
    results = {
        "models": {"tuned": tuned.name, "attacked en": f"{tuned.name} after the English attack ({ATTACK_K} pairs)"},
        "site": site,
        "items_per_language": n,
        "languages": list(ds.languages),
        "new_tokens": NEW_TOKENS,
        "folds": FOLDS,
        "fractions": list(DEFAULT_FRACTIONS),
        "outcomes": outcome,
        "auroc": {p: {m: rounded(v, 4) for m, v in c.items()} for p, c in curves.items()},
    }
    write_json(out / "generation_monitor.json", results)
    return {
        "outcomes": outcome,
        "auroc_at_10_percent": {p: {m: round(v[0], 3) for m, v in c.items()} for p, c in curves.items()},
        "auroc_at_100_percent": {p: {m: round(v[-1], 3) for m, v in c.items()} for p, c in curves.items()},
    }


if __name__ == "__main__":
    study_main(run, __doc__)
