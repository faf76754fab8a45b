"""Train/test splits by item, so translations of one item never straddle the split.

Items are parallel across languages: splitting by row would put "How do I make a bomb?" in train and its
Chinese translation in test, and a cross-lingual probe would look better than it is. Every function here
assigns whole item ids to one side, stratified by label, deterministically for a seed (sha256-based
ordering: the same split on every machine and library version).
"""

from __future__ import annotations

from collections.abc import Iterator

from ._ordering import seeded_order
from .dataset import Dataset

__all__ = ["split_by_item", "k_fold_by_item"]


def _item_groups(dataset: Dataset, stratify: bool) -> dict[int | None, list[str]]:
    """Item ids grouped by label (or one group under None), in order of first appearance."""
    labels: dict[str, set[int]] = {}
    for ex in dataset:
        labels.setdefault(ex.item_id, set()).add(ex.label)
    if not stratify:
        return {None: list(labels)}
    mixed = [item for item, seen in labels.items() if len(seen) > 1]
    if mixed:
        raise ValueError(
            f"cannot stratify by label: {len(mixed)} item id(s) carry both labels, e.g. {mixed[:3]}; "
            "give each item one label or pass stratify=False"
        )
    groups: dict[int | None, list[str]] = {}
    for item, seen in labels.items():
        groups.setdefault(next(iter(seen)), []).append(item)
    return dict(sorted(groups.items()))


def _describe(group: int | None) -> str:
    return "the dataset" if group is None else f"label {group}"


def _split_rows(dataset: Dataset, test_items: set[str]) -> tuple[Dataset, Dataset]:
    train = Dataset(ex for ex in dataset if ex.item_id not in test_items)
    test = Dataset(ex for ex in dataset if ex.item_id in test_items)
    return train, test


def split_by_item(
    dataset: Dataset, test_fraction: float = 0.3, seed: int = 0, stratify: bool = True
) -> tuple[Dataset, Dataset]:
    """Split into (train, test) by item id: all translations of an item land on the same side.

    Args:
        dataset: rows to split; must be non-empty.
        test_fraction: share of *items* (not rows) sent to test, in (0, 1). Per class it is rounded and
            kept within [1, n_items - 1], so both sides always hold every class.
        seed: fixes which items go to test.
        stratify: split each label's items separately so both sides keep the class balance. Needs
            every item id to carry a single label and at least 2 items per label.

    Returns:
        (train, test), each keeping the rows' original order.

    Raises:
        ValueError: on an empty dataset, a fraction outside (0, 1), too few items, or an item with both
            labels under ``stratify=True``.
    """
    dataset.ensure_nonempty("split_by_item")
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}")
    test_items: set[str] = set()
    for group, items in _item_groups(dataset, stratify).items():
        n = len(items)
        if n < 2:
            raise ValueError(
                f"split_by_item needs at least 2 items in {_describe(group)} to put one on each side, found {n}"
            )
        n_test = min(max(int(test_fraction * n + 0.5), 1), n - 1)
        test_items.update(seeded_order(items, seed)[:n_test])
    return _split_rows(dataset, test_items)


def k_fold_by_item(
    dataset: Dataset, k: int = 5, seed: int = 0, stratify: bool = True
) -> Iterator[tuple[Dataset, Dataset]]:
    """K (train, test) pairs by item id; every item is in exactly one test fold.

    All translations of an item are always on the same side. With ``stratify`` each label's items are
    dealt round-robin over the folds, so every fold has every class and fold sizes differ by at most one
    item per class. Arguments are checked when called, before the first fold is produced.

    Args:
        dataset: rows to split; must be non-empty.
        k: number of folds, at least 2 and at most the number of items (per label with ``stratify``).
        seed: fixes the assignment of items to folds.
        stratify: deal each label's items separately.

    Returns:
        An iterator over k (train, test) pairs, each keeping the rows' original order.

    Raises:
        ValueError: on an empty dataset, a bad ``k``, or an item with both labels under ``stratify``.
    """
    dataset.ensure_nonempty("k_fold_by_item")
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(f"k must be an int >= 2, got {k!r}")
    groups = _item_groups(dataset, stratify)
    fold_of: dict[str, int] = {}
    dealt = 0
    for group, items in groups.items():
        if len(items) < k:
            raise ValueError(f"k={k} folds need at least {k} items in {_describe(group)}, found {len(items)}")
        for item in seeded_order(items, seed):
            fold_of[item] = dealt % k
            dealt += 1

    def folds() -> Iterator[tuple[Dataset, Dataset]]:
        for fold in range(k):
            yield _split_rows(dataset, {item for item, f in fold_of.items() if f == fold})

    return folds()
