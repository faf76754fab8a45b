"""What several studies share: the safety data set, its last-token residuals, and output helpers."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

import mechint
from mechint import data
from mechint.directions import per_language_directions, transfer_auroc
from mechint.interventions import intervene

# The languages MultiJail (harmful) and the XQuAD questions (harmless) share.
LANGUAGES = ("en", "zh", "vi", "ar", "th")
# Where the intervention studies edit: every token but each text's first (the BOS attention sink), in any batch.
CONTENT = mechint.from_text_start(slice(1, None))


@dataclass
class SafetyActivations:
    """Last-token residuals ``acts [layer, n, d]`` of the safety pairs, with their rows' labels,
    languages and a train/test split by item id (30% of items held out, stratified, seed 0)."""

    dataset: data.Dataset
    acts: torch.Tensor
    labels: torch.Tensor
    languages: list[str]
    train: torch.Tensor  # row indices
    test: torch.Tensor

    def rows(self, subset: torch.Tensor, language: str | None = None) -> torch.Tensor:
        """Row indices of ``subset`` (train/test), optionally of one language."""
        if language is None:
            return subset
        return subset[[self.languages[i] == language for i in subset.tolist()]]


def split_rows(ds: data.Dataset, *, test_fraction: float = 0.3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and test row indices of ``ds``, split by item id (translations stay on one side)."""
    _, test = data.split_by_item(ds, test_fraction=test_fraction, seed=seed)
    held_out = set(test.item_ids)
    is_test = torch.tensor([ex.item_id in held_out for ex in ds])
    return torch.nonzero(~is_test).reshape(-1), torch.nonzero(is_test).reshape(-1)


def safety_activations(
    model: mechint.Model, *, n_per_class: int | None = None, batch_size: int = 16, progress: str = "safety pairs"
) -> SafetyActivations:
    """Collect (or reuse from the shared store) the last-token ``hook_resid_post`` at every layer."""
    ds = data.load_safety_pairs(list(LANGUAGES), n_per_class=n_per_class)
    sites = [f"blocks.{l}.hook_resid_post" for l in range(model.n_layers)]
    acts = mechint.collect(model, ds, sites, pool="last", batch_size=batch_size, store=True, progress=progress)
    train, test = split_rows(ds)
    return SafetyActivations(ds, acts.stack(sites), torch.as_tensor(ds.labels), ds.row_languages, train, test)


def direction_auroc(
    acts: torch.Tensor, labels: torch.Tensor, languages: Sequence[str], fit: torch.Tensor, score: torch.Tensor,
    method: str = "mean",
) -> torch.Tensor:
    """``[layer, source, target]`` (both in ``LANGUAGES`` order): the AUROC, on the rows ``score`` of
    each target language, of each source language's direction fitted on its rows among ``fit``."""
    own = per_language_directions(acts[:, fit], labels[fit], [languages[i] for i in fit.tolist()],
                                  method=method, order=list(LANGUAGES))
    auc, _, _ = transfer_auroc(own, acts[:, score], labels[score], [languages[i] for i in score.tolist()],
                               targets=list(LANGUAGES))
    return auc


def generate_each(model: mechint.Model, prompts: Sequence[str], *edits, max_new_tokens: int) -> list[str]:
    """Greedy generations, one prompt at a time (as a user would run them), under the interventions ``edits``."""
    with intervene(model, *edits):
        return [model.generate([p], max_new_tokens=max_new_tokens)[0] for p in prompts]


def write_table(path: Path, header: Sequence[str], rows: Sequence[Sequence]) -> None:
    """A CSV with floats at 6 decimals."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in rows:
            w.writerow([f"{v:.6f}" if isinstance(v, float) else v for v in row])


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False))


def largest_feature(acts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(feature, mean_abs)`` per leading index of ``acts [..., n, d]``: the feature of largest mean
    magnitude over the rows (a residual stream's "massive activation") and that mean."""
    mean_abs = acts.abs().mean(-2)
    feature = mean_abs.argmax(-1)
    return feature, mean_abs.gather(-1, feature.unsqueeze(-1)).squeeze(-1)


def rounded(x, digits: int = 6):
    """Nested lists of floats (from tensors) rounded for JSON."""
    if isinstance(x, torch.Tensor):
        x = x.tolist()
    if isinstance(x, list):
        return [rounded(v, digits) for v in x]
    return round(float(x), digits)


def study_main(run, doc: str, argv=None) -> None:
    """Command line of one study: ``python -m experiments.NAME [--model ...] [--out ...]``."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--model", default="gemma-3-270m")
    parser.add_argument("--out", default="figures")
    parser.add_argument("--n-per-class", type=int, default=None)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    model = mechint.load_model(args.model, device=args.device)
    print(json.dumps(run(model, Path(args.out), n_per_class=args.n_per_class), indent=1, ensure_ascii=False))
