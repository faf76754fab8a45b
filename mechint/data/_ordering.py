"""Seeded orderings that are identical on every platform and library version (sha256, not an RNG)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence


def seeded_order(item_ids: Iterable[str], seed: int | str) -> list[str]:
    """Item ids in a pseudo-random order fixed by ``seed``."""
    return sorted(item_ids, key=lambda i: hashlib.sha256(f"{seed}\x00{i}".encode()).digest())


def select(item_ids: Sequence[str], n: int, seed: int | str) -> list[str]:
    """The first ``n`` ids of the ``seed`` order, returned in their original order."""
    chosen = set(seeded_order(item_ids, seed)[:n])
    return [i for i in item_ids if i in chosen]
