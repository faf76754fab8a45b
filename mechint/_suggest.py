"""Nearest-name suggestions for error messages ("unknown site ...; nearest valid names: ...").

The one place that ranks names by spelling (``difflib``), so every "did you mean" in mechint reads
alike. It imports nothing from mechint, so any module (``mechint.data`` included) can use it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

__all__ = ["did_you_mean", "nearest"]

T = TypeVar("T")


def nearest(
    name: Any,
    candidates: Iterable[T],
    *,
    n: int = 3,
    cutoff: float = 0.6,
    key: Callable[[Any], str] = str,
) -> list[T]:
    """Up to ``n`` of ``candidates`` spelled most like ``name``, best first.

    Args:
        name: what the user gave.
        candidates: the valid names (any objects; compared through ``key``, returned as given).
        n: how many at most.
        cutoff: the least similarity (``difflib`` ratio, 0..1) a suggestion needs; ``0`` always gives
            the ``n`` nearest (when there are candidates), however far.
        key: the spelling compared, applied to ``name`` and to every candidate, e.g.
            ``lambda s: str(s).lower()`` to ignore case. Of candidates with the same key, the first
            is returned.
    """
    by_key: dict[str, T] = {}
    for candidate in candidates:
        by_key.setdefault(key(candidate), candidate)
    return [by_key[k] for k in difflib.get_close_matches(key(name), list(by_key), n=n, cutoff=cutoff)]


def did_you_mean(near: Sequence[Any], *, sentence: bool = False) -> str:
    """The "did you mean" part of an error message, with a leading space, or ``""`` when ``near`` is
    empty: ``" (did you mean 'a' or 'b'?)"`` to follow a clause, ``" Did you mean 'a' or 'b'?"``
    (``sentence=True``) to follow a full stop."""
    if not near:
        return ""
    names = " or ".join(map(repr, near))
    return f" Did you mean {names}?" if sentence else f" (did you mean {names}?)"
