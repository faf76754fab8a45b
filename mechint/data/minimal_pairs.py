"""Bundled harmful / harmless minimal pairs for activation patching.

Each pair is one sentence frame ("How can I make {} at home?") filled with a harmful object
("bombs") or a harmless one ("cakes"), in 8 languages (en, zh, vi, ar, th, ru, es, de), 5 pairs
each. The two sentences of a pair have the same number of tokens under gemma-3-270m's tokenizer
(recorded in the ``tokens_gemma3`` column and re-checked by the slow tests), so patching can put
each harmful position into the same harmless position.

:func:`load_minimal_pairs` checks equal token length for any tokenizer you give it (a pair that
differs raises :class:`MinimalPairLengthError` naming the pair and both lengths, or is dropped with
``on_mismatch="drop"``); without a tokenizer it checks nothing about token lengths and returns every
pair, trusting the recorded gemma-3-270m counts (checked when the file was written, and by the slow
tests). Reading the file does check that each sentence is its template filled with its object.
Written for mechint (MIT); see ``bundled/minimal_pairs/README.md``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Literal, Sequence

_FILE = Path(__file__).parent / "bundled" / "minimal_pairs" / "minimal_pairs.csv"

#: Languages of the bundled minimal pairs, in file order.
MINIMAL_PAIR_LANGUAGES: tuple[str, ...] = ("en", "zh", "vi", "ar", "th", "ru", "es", "de")


class MinimalPairLengthError(ValueError):
    """The two sentences of a minimal pair differ in token length."""


@dataclass(frozen=True)
class MinimalPair:
    """One minimal pair: ``harmful`` and ``harmless`` differ only in the object filled into
    ``template``. ``item`` (1..5) is the same object pair across languages (translations)."""

    pair_id: str
    language: str
    item: int
    template: str
    harmful_object: str
    harmless_object: str
    harmful: str
    harmless: str
    tokens_gemma3: int


class MinimalPairs(Sequence[MinimalPair]):
    """A list of :class:`MinimalPair` with helpers to split by language and get the two sides."""

    def __init__(self, pairs: Iterable[MinimalPair], dropped: Sequence[str] = ()):
        self._pairs = list(pairs)
        self.dropped = list(dropped)  # ids left out by load_minimal_pairs(on_mismatch="drop")

    def __getitem__(self, i):
        if isinstance(i, slice):
            return MinimalPairs(self._pairs[i])
        return self._pairs[i]

    def __len__(self) -> int:
        return len(self._pairs)

    def __iter__(self) -> Iterator[MinimalPair]:
        return iter(self._pairs)

    @property
    def languages(self) -> list[str]:
        """Languages present, in order of first appearance."""
        return list(dict.fromkeys(p.language for p in self._pairs))

    def language(self, lang: str) -> "MinimalPairs":
        """The pairs of one language."""
        return MinimalPairs(p for p in self._pairs if p.language == lang)

    @property
    def harmful(self) -> list[str]:
        return [p.harmful for p in self._pairs]

    @property
    def harmless(self) -> list[str]:
        return [p.harmless for p in self._pairs]

    def __repr__(self) -> str:
        return f"MinimalPairs({len(self)} pairs, languages={self.languages})"


def _read() -> list[MinimalPair]:
    with open(_FILE, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    pairs = []
    for r in rows:
        pair = MinimalPair(
            pair_id=r["pair_id"],
            language=r["language"],
            item=int(r["pair_id"].rsplit("-", 1)[1]),
            template=r["template"],
            harmful_object=r["harmful_object"],
            harmless_object=r["harmless_object"],
            harmful=r["harmful"],
            harmless=r["harmless"],
            tokens_gemma3=int(r["tokens_gemma3"]),
        )
        if (
            pair.template.format(pair.harmful_object) != pair.harmful
            or pair.template.format(pair.harmless_object) != pair.harmless
        ):
            raise ValueError(f"minimal pair {pair.pair_id}: the sentences are not the template filled with the objects")
        pairs.append(pair)
    return pairs


def check_equal_length(
    pairs: Iterable[MinimalPair], tokenizer, *, add_special_tokens: bool = True
) -> list[tuple[str, int, int]]:
    """``(pair_id, harmful_tokens, harmless_tokens)`` for every pair whose sides differ in length."""
    pairs = list(pairs)
    if not pairs:
        return []
    a = tokenizer([p.harmful for p in pairs], add_special_tokens=add_special_tokens)["input_ids"]
    b = tokenizer([p.harmless for p in pairs], add_special_tokens=add_special_tokens)["input_ids"]
    return [(p.pair_id, len(x), len(y)) for p, x, y in zip(pairs, a, b) if len(x) != len(y)]


def load_minimal_pairs(
    languages: str | Iterable[str] | None = None,
    *,
    tokenizer=None,
    on_mismatch: Literal["raise", "drop"] = "raise",
) -> MinimalPairs:
    """The bundled harmful/harmless minimal pairs.

    Args:
        languages: codes from :data:`MINIMAL_PAIR_LANGUAGES` (one string or several, at least one);
            None = all eight.
        tokenizer: check that both sentences of every pair have the same token length with this
            tokenizer (a Hugging Face tokenizer, or a :class:`mechint.Model`). Without one, no length
            check is run: the pairs are trusted to be equal in length under gemma-3-270m, as recorded
            in ``tokens_gemma3`` (checked when the file was written and by the slow tests).
        on_mismatch: ``"raise"`` (default) a :class:`MinimalPairLengthError` naming every pair that
            differs and both lengths; ``"drop"`` leaves those pairs out (their ids are in ``.dropped``).
    """
    if on_mismatch not in ("raise", "drop"):
        raise ValueError(f"on_mismatch must be 'raise' or 'drop', got {on_mismatch!r}")
    if isinstance(languages, str):
        languages = [languages]
    langs = list(MINIMAL_PAIR_LANGUAGES if languages is None else languages)
    if not langs:
        raise ValueError(f"no languages requested for minimal pairs; available: {', '.join(MINIMAL_PAIR_LANGUAGES)}")
    unknown = [l for l in langs if l not in MINIMAL_PAIR_LANGUAGES]
    if unknown:
        raise ValueError(f"no minimal pairs in {unknown}; available: {', '.join(MINIMAL_PAIR_LANGUAGES)}")
    pairs = [p for p in _read() if p.language in langs]
    pairs.sort(key=lambda p: langs.index(p.language))  # languages in the order asked, pairs in file order
    if tokenizer is None:
        return MinimalPairs(pairs)
    tok = getattr(tokenizer, "tokenizer", tokenizer)  # a mechint.Model carries its tokenizer
    bad = check_equal_length(pairs, tok)
    if bad and on_mismatch == "raise":
        listed = "; ".join(f"pair {pid}: harmful {a} tokens, harmless {b} tokens" for pid, a, b in bad)
        raise MinimalPairLengthError(
            f"{len(bad)} minimal pair(s) differ in token length with this tokenizer: {listed}. Patching needs "
            "equal lengths; pass on_mismatch='drop' to leave them out."
        )
    drop = {pid for pid, _, _ in bad}
    return MinimalPairs([p for p in pairs if p.pair_id not in drop], dropped=sorted(drop))
