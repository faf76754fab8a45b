"""Data sets for multilingual safety research: bundled harmful/harmless prompts, user files, splits.

Everything downstream (activations, directions, probes, patching) consumes a :class:`Dataset` of
:class:`Example` records: text, label (1 harmful / 0 harmless), language, and an item id shared by the
translations of one item. Because items are parallel across languages, split with
:func:`split_by_item` / :func:`k_fold_by_item`, never by row.

Bundled (copied into the package with their licences; see ``mechint/data/bundled/README.md``):

- :func:`load_multijail` — 315 harmful prompts x 10 languages (MultiJail, MIT).
- :func:`load_xquad` — 1190 questions x 12 languages, used as harmless requests (XQuAD, CC BY-SA 4.0).
- :func:`load_safety_pairs` — both, balanced per class, in en, zh, vi, ar, th.
- :func:`load_polyrefuse` — harmful and harmless *instructions* (both requests, so the contrast is harm,
  not form) in 14 languages, in train / val / test splits (PolyRefuse, Apache-2.0, machine-translated);
  :func:`polyrefuse_categories` gives the English category of its harmful items.
- :func:`load_xcopa` — 600 two-option causal-reasoning items (val 100, test 500) x 11 languages, as
  multiple-choice items (:class:`MCItem`) for :mod:`mechint.eval` (XCOPA, CC BY 4.0).
- :func:`load_minimal_pairs` — harmful / harmless sentence pairs of equal token length, 5 in each of 8
  languages, for activation patching (written for mechint, MIT).

Your own data: :func:`load_texts` reads CSV / TSV / JSON lines.
"""

from .bundled_sets import (
    MULTIJAIL_LANGUAGES,
    POLYREFUSE_LANGUAGES,
    POLYREFUSE_SPLITS,
    SAFETY_PAIR_LANGUAGES,
    XCOPA_LANGUAGES,
    XCOPA_QUESTIONS,
    XCOPA_SPLITS,
    XQUAD_LANGUAGES,
    load_multijail,
    load_polyrefuse,
    load_safety_pairs,
    load_xcopa,
    load_xquad,
    polyrefuse_categories,
)
from .dataset import HARMFUL, HARMLESS, Dataset, Example
from .minimal_pairs import (
    MINIMAL_PAIR_LANGUAGES,
    MinimalPair,
    MinimalPairLengthError,
    MinimalPairs,
    load_minimal_pairs,
)
from .multiple_choice import MCItem
from .splits import k_fold_by_item, split_by_item
from .user_files import HARMFUL_LABEL_NAMES, HARMLESS_LABEL_NAMES, load_texts, parse_label

__all__ = [
    "HARMFUL",
    "HARMLESS",
    "Example",
    "Dataset",
    "MULTIJAIL_LANGUAGES",
    "XQUAD_LANGUAGES",
    "SAFETY_PAIR_LANGUAGES",
    "load_multijail",
    "load_xquad",
    "load_safety_pairs",
    "POLYREFUSE_LANGUAGES",
    "POLYREFUSE_SPLITS",
    "load_polyrefuse",
    "polyrefuse_categories",
    "XCOPA_LANGUAGES",
    "XCOPA_SPLITS",
    "XCOPA_QUESTIONS",
    "MCItem",
    "load_xcopa",
    "MINIMAL_PAIR_LANGUAGES",
    "MinimalPair",
    "MinimalPairs",
    "MinimalPairLengthError",
    "load_minimal_pairs",
    "split_by_item",
    "k_fold_by_item",
    "HARMFUL_LABEL_NAMES",
    "HARMLESS_LABEL_NAMES",
    "parse_label",
    "load_texts",
]
