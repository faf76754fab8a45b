"""Language of generated text: which language each sentence is in, the language mix of a
generation, spans of the input's language quoted inside a text in another language
("quote-and-think"), and control of the reasoning language by a prefilled reasoning prefix
(arXiv 2505.05408: English-centric reasoning models reason in English about non-English input,
quote the input's words as they go, and a prefilled prefix steers the language they reason in).

The languages themselves are identified by ``lingua-language-detector`` (offline, its models ship in
the wheel); this module only cuts text into spans and counts. A detector is built once per set of
languages (:func:`language_detector`); restricting it to the languages a study can meet is both
faster and more accurate than asking among all 75.

Codes are ISO 639-1 (``"en"``, ``"zh"``), as everywhere in mechint. Three languages of the bundled
data sets have no lingua model: Haitian Creole (``ht``, XCOPA), Javanese (``jv``, MultiJail) and
Quechua (``qu``, XCOPA) (:data:`UNDETECTABLE`). Asking for them raises
:class:`UnsupportedLanguageError`; text written in them is labelled with whichever of the detector's
languages is nearest (Javanese mostly as Indonesian), so do not read a language mix of such text as
measured.

How text is cut (simple rules, not a language detector):

- **Sentences** (:func:`split_sentences`) end at a line break; after ``. ! ? …`` (and any closing
  quotes or brackets) followed by white space and a character that is not a lowercase letter (so
  ``e.g. this`` and ``3.5`` stay whole); after the full-width ``。！？`` with or without a space; after
  the danda ``। ॥``, the Arabic ``؟ ۔``, the Khmer ``។`` and the Burmese ``။``. Thai and Lao write no
  sentence punctuation and put a space between sentences (or clauses) instead, so a run of spaces
  between two Thai or Lao characters ends a sentence too: Thai comes out in clauses, each of which
  is long enough to identify.
- **Segments** (:func:`split_segments`) cut sentences further where the script of the letters changes
  (Latin, Han/kana/Hangul, Arabic, Thai, Cyrillic, Devanagari, ...; digits, punctuation and spaces
  belong to no script) and around text in quotation marks (``“…”``, ``„…“``, ``«…»``, ``「…」``,
  ``『…』``, ``"…"``): an English sentence that quotes a Chinese question or a German phrase in
  quotation marks gives the quote a segment of its own. A quote in the same script without quotation
  marks stays inside its sentence; :func:`quote_and_think` finds those by verbatim overlap with the
  input instead.

Spans carry character offsets into the text they came from: ``text[span.start:span.end] == span.text``,
with no white space at either end.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

from .. import _validate
from .._suggest import did_you_mean, nearest
from ..data import MULTIJAIL_LANGUAGES, POLYREFUSE_LANGUAGES, XCOPA_LANGUAGES, XQUAD_LANGUAGES

if TYPE_CHECKING:
    from ..model import Model

__all__ = [
    "DEFAULT_LANGUAGES",
    "REASONING_PREFIXES",
    "UNDETECTABLE",
    "LanguageSpan",
    "QuoteSpan",
    "ReasoningResult",
    "UnsupportedLanguageError",
    "identify_languages",
    "language_detector",
    "language_mix",
    "main_language",
    "quote_and_think",
    "reasoning_language",
    "reasoning_prefix",
    "reasoning_prompts",
    "split_segments",
    "split_sentences",
    "supported_languages",
]

UNDETECTABLE: tuple[str, ...] = ("ht", "jv", "qu")
"""Languages of the bundled data sets that lingua has no model for (Haitian Creole, Javanese,
Quechua): :class:`UnsupportedLanguageError` where they are asked for."""

DEFAULT_LANGUAGES: tuple[str, ...] = tuple(
    sorted(
        (set(POLYREFUSE_LANGUAGES) | set(MULTIJAIL_LANGUAGES) | set(XCOPA_LANGUAGES) | set(XQUAD_LANGUAGES) | {"en"})
        - set(UNDETECTABLE)
    )
)
"""The languages a detector chooses among by default: every language of the bundled data sets
(PolyRefuse, MultiJail, XQuAD, XCOPA) that lingua supports."""

REASONING_PREFIXES: Mapping[str, str] = MappingProxyType(
    {
        "en": "Let me think step by step. First,",
        "ar": "دعني أفكر خطوة بخطوة. أولاً،",
        "de": "Lass mich Schritt für Schritt nachdenken. Zuerst",
        "es": "Déjame pensar paso a paso. Primero,",
        "fr": "Je vais réfléchir étape par étape. D'abord,",
        "it": "Fammi pensare passo dopo passo. Innanzitutto,",
        "ja": "一歩ずつ考えてみます。まず、",
        "ko": "단계별로 생각해 보겠습니다. 먼저,",
        "ru": "Дай мне подумать шаг за шагом. Во-первых,",
        "th": "ให้ฉันคิดทีละขั้นตอน ก่อนอื่น",
        "zh": "让我一步一步地思考。首先，",
    }
)
"""A reasoning prefix per language, "Let me think step by step. First," (:func:`reasoning_prefix`):
prefilled as the start of the response, it asks the model to go on reasoning in that language. Each
ends mid-sentence, so the response has to continue it: after a prefix that ends in a full stop, a
small chat model may close its turn at once."""


class UnsupportedLanguageError(ValueError):
    """A language code that lingua has no model for (or that is no ISO 639-1 code); the message names
    the codes at fault and the supported ones."""


# ------------------------------------------------------------------ the detector


@functools.lru_cache(maxsize=1)
def _lingua() -> Any:
    try:
        import lingua
    except ImportError as e:  # pragma: no cover - a dependency of mechint
        raise ImportError(
            "mechint.eval.language needs the lingua-language-detector package: "
            "pip install 'lingua-language-detector>=2.1'"
        ) from e
    return lingua


@functools.lru_cache(maxsize=1)
def _codes() -> dict[str, Any]:
    """``{iso 639-1 code: lingua.Language}`` of every language lingua supports."""
    lingua = _lingua()
    return {lang.iso_code_639_1.name.lower(): lang for lang in lingua.Language.all()}


def supported_languages() -> tuple[str, ...]:
    """The ISO 639-1 codes of every language lingua can identify, sorted."""
    return tuple(sorted(_codes()))


def _check_codes(languages: Iterable[Any], what: str = "languages") -> tuple[str, ...]:
    """The codes as a sorted tuple without repeats; :class:`UnsupportedLanguageError` naming each code
    lingua lacks (with near-miss suggestions) and the supported ones."""
    if isinstance(languages, str):
        languages = [languages]
    got = list(languages)
    if not all(isinstance(c, str) for c in got):
        raise TypeError(f"{what} must be ISO 639-1 codes (strings), got {_validate.given(got)}")
    codes = _codes()
    bad = [c for c in got if c not in codes]
    if bad:
        names = {lang.name.lower(): code for code, lang in codes.items()}
        hints = []
        for c in bad:
            if c.lower() in codes:
                hints.append(f"{c!r}{did_you_mean([c.lower()])}")
            elif c.lower() in names:
                hints.append(f"{c!r}{did_you_mean([names[c.lower()]])}")
            elif c in UNDETECTABLE:
                hints.append(f"{c!r} (in the bundled data, but lingua has no model for it)")
            else:
                hints.append(f"{c!r}{did_you_mean(nearest(c, codes))}")
        raise UnsupportedLanguageError(
            f"lingua cannot identify {', '.join(hints)}; supported codes: {', '.join(sorted(codes))}"
        )
    return tuple(sorted(set(got)))


def language_detector(languages: Iterable[str] | None = None) -> Any:
    """A lingua ``LanguageDetector`` that chooses among ``languages`` (ISO 639-1 codes; default
    :data:`DEFAULT_LANGUAGES`), built once per set of languages and kept for the process. Its language
    models load lazily, on the first text that needs them.

    Raises :class:`UnsupportedLanguageError` for a code lingua lacks (:data:`UNDETECTABLE`, or none at
    all) and ``ValueError`` for fewer than two languages (a detector with one choice decides nothing)."""
    codes = _check_codes(DEFAULT_LANGUAGES if languages is None else languages)
    if len(codes) < 2:
        raise ValueError(f"a language detector needs at least two languages to choose among, got {list(codes)}")
    return _detector(codes)


@functools.lru_cache(maxsize=16)
def _detector(codes: tuple[str, ...]) -> Any:
    lingua = _lingua()
    table = _codes()
    return lingua.LanguageDetectorBuilder.from_languages(*(table[c] for c in codes)).build()


def _identify(detector: Any, text: str) -> tuple[str | None, float]:
    """lingua's most likely language of ``text`` and its confidence; ``(None, 0.0)`` where lingua has
    no evidence for any language (no letters it knows)."""
    values = detector.compute_language_confidence_values(text)
    if not values or values[0].value <= 0:
        return None, 0.0
    return values[0].language.iso_code_639_1.name.lower(), float(values[0].value)


# ------------------------------------------------------------------ cutting text


_CLOSERS = "\"'”’»›)]}）」』】"
_LATIN_END = re.compile(rf"[.!?…]+[{re.escape(_CLOSERS)}]*(?=\s)")
_WIDE_END = re.compile(rf"[。！？｡]+[{re.escape(_CLOSERS)}]*")
_OTHER_END = re.compile(rf"[।॥؟۔។။]+[{re.escape(_CLOSERS)}]*(?=\s|$)")
_NO_SPACE_SCRIPT = "\u0e00-\u0e7f\u0e80-\u0eff"  # Thai, Lao: a space between sentences
_THAI_GAP = re.compile(rf"(?<=[{_NO_SPACE_SCRIPT}])[^\S\n]+(?=[{_NO_SPACE_SCRIPT}])")
_QUOTED = re.compile(r"“[^”\n]*”|„[^“”\n]*[“”]|«[^»\n]*»|「[^」\n]*」|『[^』\n]*』|\"[^\"\n]*\"")


def _trimmed(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


def _pieces(text: str, cuts: Iterable[int], start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """The pieces of ``text[start:end]`` between the ``cuts``, trimmed of white space, blank ones dropped."""
    end = len(text) if end is None else end
    bounds = [start, *sorted(c for c in set(cuts) if start < c < end), end]
    return [p for a, b in zip(bounds, bounds[1:]) if (p := _trimmed(text, a, b)) is not None]


def split_sentences(text: str) -> list[tuple[int, int]]:
    """``[(start, end)]`` character offsets of the sentences of ``text`` (rules in the module's
    docstring), trimmed of white space; ``[]`` for empty or blank text."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {_validate.given(text)}")
    cuts = [m.start() for m in re.finditer(r"\n", text)]
    for m in _LATIN_END.finditer(text):
        rest = text[m.end() :].lstrip()
        if not (rest and rest[0].islower()):  # "e.g. this" stays one sentence
            cuts.append(m.end())
    cuts += [m.end() for m in _WIDE_END.finditer(text)]
    cuts += [m.end() for m in _OTHER_END.finditer(text)]
    cuts += [m.start() for m in _THAI_GAP.finditer(text)]
    return _pieces(text, cuts)


_EAST_ASIAN = {"CJK", "HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA", "HANGUL", "BOPOMOFO", "IDEOGRAPHIC", "KANGXI"}


@functools.lru_cache(maxsize=8192)
def _script(ch: str) -> str | None:
    """The script of a letter (the first word of its Unicode name; Han, kana and Hangul as one East
    Asian group), None for anything else (digits, punctuation, spaces, combining marks)."""
    if not ch.isalpha():
        return None
    first = unicodedata.name(ch, "").split(" ", 1)[0]
    if first in _EAST_ASIAN:
        return "CJK"
    if first in ("", "MODIFIER"):
        return None
    if first in ("FULLWIDTH", "HALFWIDTH"):
        return "CJK" if "KATAKANA" in unicodedata.name(ch) or "HANGUL" in unicodedata.name(ch) else "LATIN"
    return first


def _script_cuts(text: str, start: int, end: int) -> list[int]:
    """Where the script of the letters changes inside ``text[start:end]``: at the last white space
    between the two letters, else just before the new letter."""
    cuts, last_script, gap = [], None, None
    for i in range(start, end):
        ch = text[i]
        s = _script(ch)
        if s is None:
            if ch.isspace() and last_script is not None:
                gap = i  # the last white space since the last letter
            continue
        if last_script is not None and s != last_script:
            cuts.append(gap if gap is not None else i)
        last_script, gap = s, None
    return cuts


def split_segments(text: str) -> list[tuple[int, int]]:
    """``[(start, end)]`` of the segments of ``text``: its sentences (:func:`split_sentences`) cut
    further where the script changes and around text in quotation marks (the marks stay with the
    quote), trimmed of white space."""
    out = []
    for s0, s1 in split_sentences(text):
        cuts = []
        for m in _QUOTED.finditer(text, s0, s1):
            cuts += [m.start(), m.end()]
        bounds = sorted({s0, *cuts, s1})
        for a, b in zip(bounds, bounds[1:]):
            inner = _script_cuts(text, a, b) if not (text[a : a + 1] and _QUOTED.fullmatch(text, a, b)) else []
            out += _pieces(text, inner, a, b)
    return out


# ------------------------------------------------------------------ identifying


@dataclass(frozen=True)
class LanguageSpan:
    """A piece of text and its language.

    Attributes:
        start, end: character offsets into the text it came from (``text[start:end] == self.text``).
        text: the piece.
        language: ISO 639-1 code lingua chose among the detector's languages; None where the piece has
            no letters, or none that lingua knows.
        confidence: lingua's confidence of ``language`` (0..1, relative to the detector's other
            languages); 0 where ``language`` is None.
    """

    start: int
    end: int
    text: str
    language: str | None
    confidence: float

    @property
    def letters(self) -> int:
        """How many letters the piece holds (what :func:`language_mix` weighs it by)."""
        return sum(ch.isalpha() for ch in self.text)


_UNITS = ("sentences", "segments")


def identify_languages(
    text: str,
    *,
    languages: Iterable[str] | None = None,
    unit: str = "sentences",
    source: str | None = None,
    min_letters: int = 4,
) -> list[LanguageSpan]:
    """The language of each sentence (``unit="sentences"``) or segment (``"segments"``: sentences cut
    at script changes and quotation marks) of ``text``, among ``languages`` (ISO 639-1 codes; default
    :data:`DEFAULT_LANGUAGES`). Empty or blank text gives ``[]``.

    With ``source`` (the input a generation answers), runs copied verbatim from it (``min_letters``
    characters or more in a row, cut back to whole words in spaced scripts) are cut out as spans of
    their own: a German question quoted without quotation marks inside an English sentence is then
    German, and the sentence around it English."""
    _validate.choice("unit", unit, _UNITS)
    _validate.integer("min_letters", min_letters, minimum=1)
    if source is not None and not isinstance(source, str):
        raise TypeError(f"source must be a string or None, got {_validate.given(source)}")
    detector = language_detector(languages)
    spans = split_sentences(text) if unit == "sentences" else split_segments(text)
    if source:
        runs = _verbatim_runs(text, source, min_letters)
        spans = [p for a, b in spans for p in _pieces(text, [c for r in runs for c in r if a < c < b], a, b)]
    out = []
    for a, b in spans:
        piece = text[a:b]
        lang, conf = _identify(detector, piece) if any(ch.isalpha() for ch in piece) else (None, 0.0)
        out.append(LanguageSpan(a, b, piece, lang, conf))
    return out


def language_mix(
    text: str | Sequence[LanguageSpan],
    *,
    languages: Iterable[str] | None = None,
    unit: str = "segments",
    source: str | None = None,
) -> dict[str, float]:
    """``{language: share}``: the share of the letters of ``text`` in each language (the spans of
    :func:`identify_languages` with ``unit`` and ``source``, weighed by their letters; digits,
    punctuation, spaces and spans with no identified language count for nothing), largest first; the
    shares sum to 1. ``{}`` where no letter has a language (empty text). Spans already identified
    may be passed instead of the text."""
    if isinstance(text, str):
        spans = identify_languages(text, languages=languages, unit=unit, source=source)
    else:
        spans = list(text)
        if not all(isinstance(s, LanguageSpan) for s in spans):
            raise TypeError(f"text must be a string or LanguageSpans, got {_validate.given(text)}")
    counts: dict[str, int] = {}
    for s in spans:
        if s.language is not None and s.letters:
            counts[s.language] = counts.get(s.language, 0) + s.letters
    total = sum(counts.values())
    return {k: v / total for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))} if total else {}


def main_language(mix: Mapping[str, float]) -> str | None:
    """The language with the largest share of a :func:`language_mix` (None for an empty mix)."""
    return next(iter(sorted(mix, key=lambda k: (-mix[k], k))), None)


# ------------------------------------------------------------------ quote-and-think


@dataclass(frozen=True)
class QuoteSpan:
    """A span of the input's language inside a generation mostly in another language.

    Attributes:
        start, end: character offsets into the generation (``generation[start:end] == self.text``).
        text: the span.
        language: lingua's language of the span alone.
        verbatim: whether the span holds text copied from the input (``min_letters`` letters or more
            in a row, as written there), rather than only written in the input's language.
    """

    start: int
    end: int
    text: str
    language: str | None
    verbatim: bool


_UNSPACED = {"CJK", "THAI", "LAO", "KHMER", "MYANMAR"}


def _verbatim_runs(generation: str, source: str, min_letters: int) -> list[tuple[int, int]]:
    """Maximal runs of ``generation`` covered by pieces of ``min_letters`` or more characters that
    occur verbatim in ``source``; in spaced scripts cut back to whole words; kept where at least
    ``min_letters`` letters remain."""
    k = max(min_letters, 1)
    grams = {source[i : i + k] for i in range(len(source) - k + 1)}
    covered = [False] * len(generation)
    for i in range(len(generation) - k + 1):
        if generation[i : i + k] in grams:
            covered[i : i + k] = [True] * k
    runs, i = [], 0
    while i < len(generation):
        if not covered[i]:
            i += 1
            continue
        j = i
        while j < len(generation) and covered[j]:
            j += 1
        a, b = i, j
        # a run that starts or ends inside a word of a spaced script drops the partial word
        if a > 0 and generation[a - 1].isalpha() and _script(generation[a]) not in _UNSPACED:
            while a < b and generation[a].isalpha():
                a += 1
        if b < len(generation) and generation[b].isalpha() and _script(generation[b - 1]) not in _UNSPACED:
            while b > a and generation[b - 1].isalpha():
                b -= 1
        while a < b and not generation[a].isalnum():
            a += 1
        while b > a and not (generation[b - 1].isalnum() or generation[b - 1] in _CLOSERS + "?!.。？！؟।"):
            b -= 1
        if sum(ch.isalpha() for ch in generation[a:b]) >= min_letters:
            runs.append((a, b))
        i = j
    return runs


def quote_and_think(
    generation: str,
    source: str = "",
    *,
    language: str | None = None,
    languages: Iterable[str] | None = None,
    min_letters: int = 4,
) -> list[QuoteSpan]:
    """Spans of the input's language quoted inside a generation written mostly in another language:
    the "quote-and-think" of reasoning models that reason in English about, say, a Chinese question
    and quote its words as they go.

    A span is a segment of the generation (:func:`split_segments`, with the runs copied verbatim from
    ``source`` cut out as segments of their own: :func:`identify_languages`) that lingua identifies as
    the input's ``language``; spans with nothing but spaces and punctuation between them are merged.
    Spans with fewer than ``min_letters`` letters are dropped (too short to identify). Where the
    generation is mostly in the input's language itself, or has no letters, there is nothing quoted
    *into another language*: ``[]``.

    Args:
        generation: the generated text.
        source: the input (the user's instruction), for verbatim quotes; ``""`` finds spans by
            language alone.
        language: the input's ISO 639-1 code; default: the main language of ``source``.
        languages: the detector's languages (default :data:`DEFAULT_LANGUAGES`); ``language`` is added.
        min_letters: the least letters of a span, and the length of a verbatim match.

    Raises :class:`UnsupportedLanguageError` for a language lingua lacks, ``ValueError`` where
    ``language`` is not given and ``source`` has no identifiable language.
    """
    if not isinstance(generation, str) or not isinstance(source, str):
        raise TypeError(f"generation and source must be strings, got {_validate.given((generation, source))}")
    _validate.integer("min_letters", min_letters, minimum=1)
    codes = set(_check_codes(DEFAULT_LANGUAGES if languages is None else languages))
    if language is None:
        language = main_language(language_mix(source, languages=codes))
        if language is None:
            raise ValueError("quote_and_think: no language given and the source has no identifiable language")
    codes |= set(_check_codes([language], "language"))
    detector = language_detector(codes)
    spans = identify_languages(generation, languages=codes, unit="segments", source=source, min_letters=min_letters)
    if main_language(language_mix(spans)) in (None, language):
        return []
    runs = _verbatim_runs(generation, source, min_letters) if source else []
    found = [
        (s.start, s.end, any(a < s.end and s.start < b for a, b in runs))
        for s in spans
        if s.language == language and s.letters >= min_letters
    ]
    merged: list[list] = []
    for a, b, verbatim in sorted(found):
        if merged and not any(ch.isalpha() for ch in generation[merged[-1][1] : a]):  # only spaces between
            merged[-1][1] = max(merged[-1][1], b)
            merged[-1][2] = merged[-1][2] or verbatim
        else:
            merged.append([a, b, verbatim])
    return [
        QuoteSpan(a, b, generation[a:b], _identify(detector, generation[a:b])[0], verbatim) for a, b, verbatim in merged
    ]


# ------------------------------------------------------------------ reasoning-language control


def reasoning_prefix(language: str) -> str:
    """The reasoning prefix of ``language``, "Let me think step by step. First," in it
    (:data:`REASONING_PREFIXES`); ``KeyError`` naming the languages the table has."""
    if language not in REASONING_PREFIXES:
        raise KeyError(
            f"no reasoning prefix for {language!r}{did_you_mean(nearest(language, REASONING_PREFIXES))}; "
            f"the table has {', '.join(sorted(REASONING_PREFIXES))} (or pass your own text as prefix=)"
        )
    return REASONING_PREFIXES[language]


def _prefixes(prefix: str | None | Sequence[str | None], n: int) -> list[str | None]:
    if prefix is None or isinstance(prefix, str):
        return [prefix] * n
    got = list(prefix)
    if len(got) != n or not all(p is None or isinstance(p, str) for p in got):
        raise ValueError(f"prefix must be a string, None, or one string or None per instruction ({n}); got {got!r}")
    return got


def reasoning_prompts(
    model: Model, instructions: Sequence[str], *, prefix: str | None | Sequence[str | None] = None
) -> list[str]:
    """Each instruction as a user turn in ``model``'s chat template, the response prefilled with
    ``prefix`` (one text for all, one per instruction, or None for no prefill): a reasoning prefix in
    the language the reasoning should be in (:func:`reasoning_prefix`). The prefix goes where the
    template starts the response, after the generation prompt."""
    texts = _validate.texts(instructions, "instructions")
    return [model.format_chat(t, prefill=p) for t, p in zip(texts, _prefixes(prefix, len(texts)))]


@dataclass
class ReasoningResult:
    """One instruction's reasoning: the ``text`` generated after the prefix (the prefix itself is not
    part of it), its ``mix`` (:func:`language_mix`), ``main`` language, and the ``quotes`` of the
    instruction's ``language`` inside it (:func:`quote_and_think`)."""

    instruction: str
    language: str
    prefix: str | None
    text: str
    mix: dict[str, float] = field(default_factory=dict)
    main: str | None = None
    quotes: list[QuoteSpan] = field(default_factory=list)

    def share(self, language: str) -> float:
        """The share of the generated letters in ``language`` (0 where there are none)."""
        return self.mix.get(language, 0.0)


def reasoning_language(
    model: Model,
    instructions: Sequence[str],
    instruction_languages: str | Sequence[str],
    *,
    prefix: str | None | Sequence[str | None] = None,
    max_new_tokens: int = 64,
    batch_size: int = 16,
    languages: Iterable[str] | None = None,
) -> list[ReasoningResult]:
    """Greedy answers of ``model`` to chat prompts with a prefilled reasoning ``prefix``
    (:func:`reasoning_prompts`), and the language of each: its language mix, main language and the
    spans quoting the instruction's language (:func:`quote_and_think`, against the instruction).

    Args:
        instructions: the user messages (e.g. with "Think step by step." in their language).
        instruction_languages: each instruction's ISO 639-1 code (or one code for all).
        prefix: the response's first words, one for all or one per instruction; None for none.
        max_new_tokens: tokens generated after the prefix.
        batch_size: prompts per left-padded generation batch.
        languages: the detector's languages (default :data:`DEFAULT_LANGUAGES`; the instructions'
            languages are added).
    """
    texts = _validate.texts(instructions, "instructions")
    langs = (
        [instruction_languages] * len(texts) if isinstance(instruction_languages, str) else list(instruction_languages)
    )
    if len(langs) != len(texts):
        raise ValueError(f"{len(texts)} instructions but {len(langs)} instruction languages")
    _validate.integer("batch_size", batch_size, minimum=1)
    codes = set(_check_codes(DEFAULT_LANGUAGES if languages is None else languages)) | set(
        _check_codes(langs, "instruction_languages")
    )
    prefixes = _prefixes(prefix, len(texts))
    prompts = reasoning_prompts(model, texts, prefix=prefixes)
    answers: list[str] = []
    for start in range(0, len(prompts), batch_size):
        out = model.generate(prompts[start : start + batch_size], max_new_tokens=max_new_tokens)
        answers += cast(list[str], out)  # the decoded texts (no return_tokens)
    out = []
    for text, lang, p, answer in zip(texts, langs, prefixes, answers):
        mix = language_mix(answer, languages=codes, source=text)
        quotes = quote_and_think(answer, text, language=lang, languages=codes)
        out.append(ReasoningResult(text, lang, p, answer, mix, main_language(mix), quotes))
    return out
