"""First-token multiple-choice scoring (FTP), with a prefilled response, calibration, permutation
consistency, and an open-ended baseline.

A multiple-choice item (:class:`~mechint.data.MCItem`) is shown as its question and labelled options
("A. ...", "B. ...") with an instruction to answer with a label, in the model's chat template. Its
*first-token probabilities* are the next-token probabilities of the option labels at the position
where the answer's first token goes: one forward per batch, no generation, the LM head computed at
that position only (:meth:`mechint.Model.last_logits`). The model's choice is the label with the
highest probability.

FTP is fragile where the model would not start its answer with a label (it opens with "The", "**" or
"Sure"): the label probabilities are then a sliver of the distribution and say little. arXiv
2505.15323 prefills the response with a structured phrase ("The correct option is:") so that the
next token is the label; ``prefill=`` does that, in the item's language if given per language. :attr:`MCQAResult.misalignment_rate` measures the problem: the share of items
whose unrestricted most likely next token is not an option label.

- :func:`score_mcqa` scores items: option probabilities (renormalised over the labels, and their raw
  mass under the full distribution), choice, accuracy, calibration (:meth:`MCQAResult.ece`,
  :attr:`MCQAResult.brier`, :meth:`MCQAResult.reliability`), misalignment.
- :func:`permutation_consistency` scores each item again with its options reordered and reports how
  often the chosen *option* (not label) stays the same.
- :func:`open_ended_mcqa` generates an answer and parses the label out of it (:func:`parse_choice`):
  the baseline FTP is compared against.

Label tokens: a label is read as the one token the tokenizer writes for it at the answer position,
found by tokenizing the prompt with and without the label (:func:`label_token_ids`). Whether the label
follows a space is decided by what precedes it (``label_space``): after the chat template's opening of
the response, none ("A"); after a prefill that ends in a word or punctuation ("... is:"), one (" A"),
except after Chinese or Japanese text or full-width punctuation ("答案：A").
A label the tokenizer writes as several tokens, two labels that are one token, or a prompt whose end
the tokenizer merges with the label (a prefill ending in a space, under a tokenizer that writes the
space with the next word) raise :class:`LabelTokenError` naming the fix. An item with fewer than two
options is refused when it is made (:class:`~mechint.data.MCItem`); an empty list of items, a label
set shorter than an item's options, and a per-language prefill or instruction without an item's
language raise before anything runs.
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union, cast

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from .. import _validate
from ..chat import ChatTemplateError
from ..data.multiple_choice import MCItem

if TYPE_CHECKING:
    import pandas

    from ..model import Model

__all__ = [
    "ANSWER_PREFILL",
    "LabelTokenError",
    "MCQAResult",
    "ConsistencyResult",
    "OpenEndedResult",
    "option_labels",
    "mcqa_prompt",
    "mcqa_prompts",
    "label_token_ids",
    "score_mcqa",
    "permutation_consistency",
    "open_ended_mcqa",
    "parse_choice",
]

ANSWER_PREFILL = "The correct option is:"
"""An English prefill that makes the response's next token the label (after arXiv 2505.15323). Pass
it as ``prefill=``, or a per-language mapping ``{"et": "Õige vastus on:", ...}`` written by a speaker."""

LabelSpec = Union[str, Sequence[str]]
"""Option labels: ``"A"`` (A, B, C, ...), ``"a"`` (a, b, c, ...), ``"1"`` (1, 2, 3, ...), or the labels
themselves, one per option (``["yes", "no"]``)."""

PerLanguage = Union[str, Mapping[str, str], None]
"""One text for every item, a text per item language (``{"en": ..., "et": ...}``), or None."""

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# what a label directly follows without a space: the end of a line or a space, an opening bracket or quote
_OPENERS = "([{<\"'“‘«„「『（【"


class LabelTokenError(ValueError):
    """The option labels cannot be read as one token each at the answer position: a label is several
    tokens there, two labels are the same token, or the prompt's last token merges with the label."""


# ---------------------------------------------------------------------------------------------
# Prompts
# ---------------------------------------------------------------------------------------------


def option_labels(labels: LabelSpec, k: int) -> list[str]:
    """The labels of ``k`` options: the first ``k`` of the label set ``labels`` (see :data:`LabelSpec`).
    Raises where the set has fewer than ``k``, or labels repeat, are empty or carry surrounding spaces
    (the space before a label is the prompt's business: ``label_space``)."""
    k = _validate.integer("k", k, minimum=1)
    if isinstance(labels, str):
        if labels == "A":
            if k > len(_LETTERS):
                raise ValueError(f"labels='A' has 26 letters; an item has {k} options: use labels='1'")
            return list(_LETTERS[:k])
        if labels == "a":
            if k > len(_LETTERS):
                raise ValueError(f"labels='a' has 26 letters; an item has {k} options: use labels='1'")
            return list(_LETTERS.lower()[:k])
        if labels == "1":
            return [str(i) for i in range(1, k + 1)]
        raise ValueError(
            f"labels must be 'A' (A, B, C...), 'a' (a, b, c...), '1' (1, 2, 3...) or a list of labels, got {labels!r}"
            + (f"; for the labels {list(labels)} pass them as a list" if len(labels) > 1 else "")
        )
    if not isinstance(labels, Sequence):
        raise TypeError(f"labels must be 'A', 'a', '1' or a list of label strings, got {_validate.given(labels)}")
    chosen = list(labels)
    bad = [x for x in chosen if not isinstance(x, str) or not x.strip()]
    if bad:
        raise ValueError(f"labels must be non-empty strings, got {bad[0]!r}")
    spaced = [x for x in chosen if x != x.strip()]
    if spaced:
        raise ValueError(
            f"label {spaced[0]!r} has surrounding whitespace: give labels without it (whether a space precedes "
            "the label at the answer position is set by label_space)"
        )
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"labels repeat: {chosen}; each option needs a label of its own")
    if len(chosen) < k:
        raise ValueError(f"{len(chosen)} labels {chosen} for an item with {k} options: give one label per option")
    return chosen[:k]


def _spoken_list(names: Sequence[str]) -> str:
    """``"A or B"``, ``"A, B, C or D"``."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _default_instruction(labels: LabelSpec) -> str:
    kind = {"A": "letter", "a": "letter", "1": "number"}.get(labels, "label") if isinstance(labels, str) else "label"
    return f"Answer with the {kind} of the correct option ({{labels}})."


def _per_language(value: PerLanguage, item: MCItem, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    text = value.get(item.language)
    if text is None:
        raise KeyError(
            f"{name} has no text for language {item.language!r} (item {item.item_id!r}); it has {sorted(value)}"
        )
    if not isinstance(text, str):
        raise TypeError(f"{name}[{item.language!r}] must be a string, got {_validate.given(text)}")
    return text


def mcqa_prompt(item: MCItem, labels: LabelSpec = "A", *, instruction: PerLanguage = None) -> str:
    """The user message of ``item``: its context, question, the labelled options one per line, and an
    instruction to answer with a label::

        The item was wrapped in bubble wrap.
        What was the cause of this?

        A. It was fragile.
        B. It was small.

        Answer with the letter of the correct option (A or B).

    ``instruction`` replaces the last line (a string, or one per item language); ``{labels}`` in it
    becomes the item's labels ("A or B"). The default instruction is English for every item: a mixed
    prompt for items in other languages, as XCOPA's English questions are; pass per-language
    instructions written by speakers to avoid that."""
    if not isinstance(item, MCItem):
        raise TypeError(f"mcqa_prompt takes an MCItem, got {_validate.given(item)}")
    names = option_labels(labels, item.n_options)
    text = _per_language(instruction, item, "instruction")
    if text is None:
        text = _default_instruction(labels)
    head = f"{item.context}\n{item.question}" if item.context else item.question
    options = "\n".join(f"{name}. {option}" for name, option in zip(names, item.options))
    return f"{head}\n\n{options}\n\n{text.replace('{labels}', _spoken_list(names))}"


def _item_list(items: MCItem | Sequence[MCItem]) -> list[MCItem]:
    if isinstance(items, MCItem):
        return [items]
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise TypeError(f"items must be MCItems (a list of them, or one), got {_validate.given(items)}")
    out = list(items)
    if not out:
        raise ValueError("no items given (an empty list)")
    bad = [i for i, it in enumerate(out) if not isinstance(it, MCItem)]
    if bad:
        raise TypeError(f"items must be MCItems; item {bad[0]} is {_validate.given(out[bad[0]])}")
    return out


def _answer_cues(items: list[MCItem], prefill: PerLanguage, chat: bool) -> list[str | None]:
    """What each prompt ends with before the answer: the prefill, ``"Answer:"`` for a plain prompt
    without one, None for a chat prompt without one (the answer opens the response)."""
    cues = [_per_language(prefill, it, "prefill") for it in items]
    return [("Answer:" if cue is None and not chat else cue) for cue in cues]


def mcqa_prompts(
    model: Model,
    items: MCItem | Sequence[MCItem],
    *,
    labels: LabelSpec = "A",
    prefill: PerLanguage = None,
    chat: bool = True,
    system: str | None = None,
    instruction: PerLanguage = None,
) -> list[str]:
    """The texts :func:`score_mcqa` runs, one per item, each ending where the answer's first token goes.

    With ``chat`` (the default), :func:`mcqa_prompt` as the user turn of the model's chat template
    (:meth:`mechint.Model.format_chat`, with ``system``), and the ``prefill`` right after the
    template's opening of the response, exactly where the response's text goes. Without ``chat``,
    the plain user message, a new line, and the prefill (``"Answer:"`` when None).

    Args:
        prefill: text the response starts with (:data:`ANSWER_PREFILL`), or one per item language
            (``{"et": ..., "zh": ...}``; a language missing from it raises).
        instruction: see :func:`mcqa_prompt`.
    """
    items = _item_list(items)
    _validate.boolean("chat", chat)
    if system is not None and not chat:
        raise ValueError("system= is a chat turn: it needs chat=True")
    cues = _answer_cues(items, prefill, chat)
    messages = [mcqa_prompt(it, labels, instruction=instruction) for it in items]
    if not chat:
        return [f"{m}\n{cue}" for m, cue in zip(messages, cues)]
    if not model.is_chat:
        raise ChatTemplateError(
            f"{model.name}'s tokenizer has no chat template: pass chat=False to score the plain prompt (a base "
            "model), or set model.tokenizer.chat_template"
        )
    return [model.format_chat(m, system=system, prefill=cue) for m, cue in zip(messages, cues)]


def _space_before_label(cue: str | None, label_space: bool | None) -> bool:
    """Whether the label follows a space after ``cue`` (the prefill): not after whitespace, an opening
    bracket or quote, or a wide character (Chinese, Japanese, full-width punctuation such as "："),
    whose scripts put no space before the next word; Korean, which does, gets one."""
    if label_space is not None:
        return label_space
    if not cue:
        return False
    last = cue[-1]
    if last.isspace() or last in _OPENERS:
        return False
    korean = "\uac00" <= last <= "\ud7af" or "\u1100" <= last <= "\u11ff" or "\u3130" <= last <= "\u318f"
    return korean or unicodedata.east_asian_width(last) not in ("W", "F")


def label_token_ids(
    model: Model,
    prompts: str | Sequence[str],
    labels: Sequence[str] | Sequence[Sequence[str]],
    *,
    space: bool | Sequence[bool] = False,
) -> Int[Tensor, "n k"]:
    """The token of each label at the end of each prompt: ``out[i, j]`` is the one token the tokenizer
    writes for ``labels[j]`` (preceded by a space where ``space``) right after ``prompts[i]``; ``-1``
    pads rows with fewer labels.

    Found by tokenizing ``prompt`` and ``prompt + label`` (with the tokenizer's special tokens, as
    the prompts are run): the second must be the first plus exactly one token. So the check holds for
    the tokenizer's real behaviour at that position, not for the label alone.

    Args:
        prompts: one text or several.
        labels: the labels of every prompt (``["A", "B"]``), or one list per prompt.
        space: whether a space precedes the label (" A" rather than "A"), for all prompts or per prompt.

    Raises:
        LabelTokenError: a label is several tokens after a prompt; two labels of a prompt are one token;
            or the prompt's last tokens change when the label follows (the answer position is not a
            token boundary: e.g. a prompt ending in a space, which the tokenizer writes with the next
            word). The message names the prompt, the label and the fix.
    """
    prompts = _validate.texts(prompts, "prompts")
    if isinstance(labels, str):
        raise TypeError("labels must be a list of label strings (or one list per prompt), not one string")
    labels = list(labels)
    nested = bool(labels) and not isinstance(labels[0], str)
    per_prompt: list[list[str]] = [list(x) for x in labels] if nested else [cast("list[str]", labels)] * len(prompts)
    if len(per_prompt) != len(prompts):
        raise ValueError(f"{len(per_prompt)} label lists for {len(prompts)} prompts")
    spaces = [space] * len(prompts) if isinstance(space, bool) else [bool(s) for s in space]
    if len(spaces) != len(prompts):
        raise ValueError(f"{len(spaces)} space flags for {len(prompts)} prompts")
    tok = model.tokenizer
    base = tok(prompts)["input_ids"]
    width = max(len(names) for names in per_prompt)
    out = torch.full((len(prompts), width), -1, dtype=torch.long)
    for j in range(width):
        rows = [i for i, names in enumerate(per_prompt) if j < len(names)]
        texts = [prompts[i] + (" " if spaces[i] else "") + per_prompt[i][j] for i in rows]
        for i, ids in zip(rows, tok(texts)["input_ids"]):
            head = base[i]
            written = (" " if spaces[i] else "") + per_prompt[i][j]
            if ids[: len(head)] != head:
                k = next((t for t, (a, b) in enumerate(zip(ids, head)) if a != b), min(len(ids), len(head)))
                raise LabelTokenError(
                    f"prompt {i} and the label {written!r} after it are tokenized together: the prompt ends in tokens "
                    f"{tok.convert_ids_to_tokens(head[k:])} but with the label they become "
                    f"{tok.convert_ids_to_tokens(ids[k:])}, so the answer position is not a token boundary. "
                    f"The prompt ends with {prompts[i][-20:]!r}: a prefill that ends in a space (a tokenizer "
                    "writes the space with the next word) is the usual cause: drop the trailing space (the label "
                    "is then read with a space before it), or set label_space"
                )
            new = ids[len(head) :]
            if len(new) != 1:
                raise LabelTokenError(
                    f"the label {written!r} is {len(new)} tokens {tok.convert_ids_to_tokens(new)} after prompt {i}: "
                    "first-token scoring needs every label to be one token at the answer position. Use labels "
                    "that are (labels='A' or '1'), "
                    + ("label_space=False, " if spaces[i] else "label_space=True, ")
                    + "or compare by generation (open_ended_mcqa)"
                )
            out[i, j] = new[0]
    for i, names in enumerate(per_prompt):
        row = out[i, : len(names)].tolist()
        if len(set(row)) != len(row):
            a, b = [j for j, t in enumerate(row) if row.count(t) > 1][:2]
            raise LabelTokenError(
                f"the labels {names[a]!r} and {names[b]!r} are the same token {row[a]} "
                f"({tok.convert_ids_to_tokens([row[a]])[0]!r}) after prompt {i}: their probabilities cannot be told "
                "apart; use labels that differ in their first token"
            )
    return out


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


def _language_groups(items: Sequence[MCItem]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(it.language, []).append(i)
    return dict(sorted(groups.items()))


@dataclass(frozen=True, eq=False)
class MCQAResult:
    """First-token scores of multiple-choice items (:func:`score_mcqa`), one row per item.

    Items with fewer options than the widest have their rows padded: probability 0, label id -1.

    Attributes:
        items: the items as shown (options in the order scored).
        prompts: the texts run, one per item.
        labels: the label of each option position (the widest item's; an item with ``k`` options
            uses the first ``k``).
        probs: ``[n, k]`` the option probabilities renormalised over the item's labels (each row sums
            to 1): the model's answer distribution under first-token scoring.
        mass: ``[n, k]`` each label's probability under the full next-token distribution.
        label_ids: ``[n, k]`` the token read for each label.
        top_token: ``[n]`` the unrestricted most likely next token.
        top_text: that token as text.
        settings: the arguments the items were scored with.
    """

    items: tuple[MCItem, ...]
    prompts: tuple[str, ...]
    labels: tuple[str, ...]
    probs: Float[Tensor, "n k"]
    mass: Float[Tensor, "n k"]
    label_ids: Int[Tensor, "n k"]
    top_token: Int[Tensor, " n"]
    top_text: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return (
            f"MCQAResult({len(self)} items, {len(self.languages)} languages, accuracy={self.accuracy:.3f}, "
            f"misalignment_rate={self.misalignment_rate:.3f})"
        )

    @property
    def n_options(self) -> Int[Tensor, " n"]:
        return torch.tensor([it.n_options for it in self.items], dtype=torch.long)

    @property
    def answers(self) -> Int[Tensor, " n"]:
        """The correct option's position in each item."""
        return torch.tensor([it.answer for it in self.items], dtype=torch.long)

    @property
    def choice(self) -> Int[Tensor, " n"]:
        """The option the model chose: the highest label probability (the first of a tie)."""
        return self.probs.argmax(-1)

    @property
    def correct(self) -> Bool[Tensor, " n"]:
        return self.choice == self.answers

    @property
    def confidence(self) -> Float[Tensor, " n"]:
        """The probability of the chosen option (renormalised): what calibration is measured on."""
        return self.probs.max(-1).values

    @property
    def accuracy(self) -> float:
        return float(self.correct.double().mean())

    def accuracy_interval(self, level: float = 0.95, *, seed: int = 0) -> tuple[float, float, float]:
        """``(accuracy, low, high)``: a percentile bootstrap interval over items (:func:`mechint.stats.bootstrap_mean`)."""
        from ..stats import bootstrap_mean

        return bootstrap_mean(self.correct.double(), level=level, seed=seed)

    @property
    def misaligned(self) -> Bool[Tensor, " n"]:
        """Where the unrestricted most likely next token is none of the item's label tokens: the model
        would not have answered with a label, so its label probabilities are a side channel."""
        return ~(self.label_ids == self.top_token[:, None]).any(-1)

    @property
    def misalignment_rate(self) -> float:
        return float(self.misaligned.double().mean())

    @property
    def label_mass(self) -> Float[Tensor, " n"]:
        """The probability of all the item's labels together under the full distribution."""
        return self.mass.sum(-1)

    def ece(self, n_bins: int = 10) -> float:
        """Expected calibration error of the choices' confidences (:func:`mechint.stats.expected_calibration_error`)."""
        from ..stats import expected_calibration_error

        return expected_calibration_error(self.confidence, self.correct, n_bins)

    @property
    def brier(self) -> float:
        """The multi-class Brier score of the option probabilities (:func:`mechint.stats.brier_score`)."""
        from ..stats import brier_score

        return brier_score(self.probs, self.answers)

    def reliability(self, n_bins: int = 10) -> dict[str, Tensor]:
        """Reliability-diagram data: bin edges, mean confidence, accuracy and count per confidence bin
        (:func:`mechint.stats.reliability_bins`)."""
        from ..stats import reliability_bins

        return reliability_bins(self.confidence, self.correct, n_bins)

    @property
    def languages(self) -> list[str]:
        return sorted({it.language for it in self.items})

    def subset(self, rows: Sequence[int] | Tensor) -> MCQAResult:
        """The result of the items at ``rows`` (indices, or a boolean mask of length ``len(self)``)."""
        index = torch.as_tensor(rows)
        if index.dtype == torch.bool:
            if index.numel() != len(self):
                raise IndexError(f"boolean mask has length {index.numel()}, the result has {len(self)} items")
            index = index.nonzero().reshape(-1)
        picked = index.long().reshape(-1).tolist()
        return MCQAResult(
            tuple(self.items[i] for i in picked),
            tuple(self.prompts[i] for i in picked),
            self.labels,
            self.probs[picked],
            self.mass[picked],
            self.label_ids[picked],
            self.top_token[picked],
            tuple(self.top_text[i] for i in picked),
            dict(self.settings),
        )

    def by_language(self) -> dict[str, MCQAResult]:
        """One result per item language, in alphabetical order."""
        return {lang: self.subset(rows) for lang, rows in _language_groups(self.items).items()}

    def summary(self, n_bins: int = 10, level: float = 0.95) -> pandas.DataFrame:
        """One row per language and a last row ``"all"``: ``n``, ``accuracy`` with its bootstrap
        interval (``accuracy_low``, ``accuracy_high``), ``ece``, ``brier``, ``misalignment_rate``,
        ``label_mass`` (mean)."""
        import pandas as pd

        groups = {**self.by_language(), "all": self}
        rows = []
        for lang, part in groups.items():
            acc, low, high = part.accuracy_interval(level)
            rows.append(
                {
                    "language": lang,
                    "n": len(part),
                    "accuracy": acc,
                    "accuracy_low": low,
                    "accuracy_high": high,
                    "ece": part.ece(n_bins),
                    "brier": part.brier,
                    "misalignment_rate": part.misalignment_rate,
                    "label_mass": float(part.label_mass.double().mean()),
                }
            )
        return pd.DataFrame(rows)

    def to_dataframe(self) -> pandas.DataFrame:
        """One row per item: ``item_id, language, n_options, answer, choice, correct, confidence,
        misaligned, label_mass, top_token`` (as text), then ``p_<label>`` (renormalised) and
        ``mass_<label>`` (raw) per option position (0 where an item has no such option)."""
        import pandas as pd

        frame = pd.DataFrame(
            {
                "item_id": [it.item_id for it in self.items],
                "language": [it.language for it in self.items],
                "n_options": self.n_options.tolist(),
                "answer": self.answers.tolist(),
                "choice": self.choice.tolist(),
                "correct": self.correct.tolist(),
                "confidence": self.confidence.tolist(),
                "misaligned": self.misaligned.tolist(),
                "label_mass": self.label_mass.tolist(),
                "top_token": list(self.top_text),
            }
        )
        for j, name in enumerate(self.labels):
            frame[f"p_{name}"] = self.probs[:, j].tolist()
        for j, name in enumerate(self.labels):
            frame[f"mass_{name}"] = self.mass[:, j].tolist()
        return frame


# ---------------------------------------------------------------------------------------------
# First-token scoring
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def score_mcqa(
    model: Model,
    items: MCItem | Sequence[MCItem],
    *,
    labels: LabelSpec = "A",
    prefill: PerLanguage = None,
    chat: bool = True,
    system: str | None = None,
    instruction: PerLanguage = None,
    label_space: bool | None = None,
    batch_size: int = 16,
    progress: bool | str = True,
) -> MCQAResult:
    """First-token probability (FTP) scores of multiple-choice ``items``.

    Each item becomes a prompt (:func:`mcqa_prompts`: labelled options, an instruction, the chat
    template, the ``prefill``) that ends where the answer's first token goes. One forward per batch
    reads the next-token logits there, with the LM head computed at that position only; the option
    probabilities are the softmax over the label tokens (:func:`label_token_ids`), and their raw mass
    under the full distribution is kept too. No generation.

    Interventions active around the call (:func:`mechint.intervene`) act on the forward, so a
    direction's effect on multiple-choice answers is scored the same way.

    Args:
        items: :class:`~mechint.data.MCItem` s (e.g. :func:`mechint.data.load_xcopa`); any number of
            options each, at least two.
        labels: the label set (:data:`LabelSpec`): ``"A"``, ``"a"``, ``"1"`` or a list.
        prefill: the response's opening (:data:`ANSWER_PREFILL`), one string or one per item language.
        chat: format with the model's chat template; ``False`` for a base model (the prompt then ends
            with the prefill, ``"Answer:"`` by default, on a line of its own).
        system: a system prompt (chat only).
        instruction: replaces the instruction line (:func:`mcqa_prompt`).
        label_space: whether the label token is the one written after a space (``" A"``). Default
            (None): a space after a prefill (or ``"Answer:"``) that ends in a character other than
            whitespace, an opening bracket or quote, or a Chinese / Japanese / full-width character;
            none where the label opens the response.
        batch_size: prompts per forward.
        progress: a progress bar (a string names it).

    Returns:
        an :class:`MCQAResult`, rows in item order; tensors float32 / int64 on the CPU.

    Raises:
        LabelTokenError: labels that are not one distinct token each at the answer position, or a
            prompt end that merges with the label (see :func:`label_token_ids`).
        ValueError / KeyError / TypeError: no items, a bad label set, a prefill or instruction mapping
            without the language of some item.
    """
    from ..activations import token_batches

    items = _item_list(items)
    _validate.integer("batch_size", batch_size, minimum=1)
    if label_space is not None:
        _validate.boolean("label_space", label_space)
    prompts = mcqa_prompts(
        model, items, labels=labels, prefill=prefill, chat=chat, system=system, instruction=instruction
    )
    names = [option_labels(labels, it.n_options) for it in items]
    spaces = [_space_before_label(cue, label_space) for cue in _answer_cues(items, prefill, chat)]
    ids = label_token_ids(model, prompts, names, space=spaces)
    n, k = ids.shape
    probs = torch.zeros(n, k)
    mass = torch.zeros(n, k)
    top = torch.zeros(n, dtype=torch.long)
    desc = progress if isinstance(progress, str) else "mcqa"
    for rows, enc, _ in token_batches(model, prompts, batch_size, progress=progress, desc=desc):
        logp = torch.log_softmax(model.last_logits(enc).float(), -1)  # [b, vocab]
        index = ids[rows].to(logp.device)
        valid = index >= 0
        picked = logp.gather(-1, index.clamp(min=0)).masked_fill(~valid, -math.inf)  # [b, k]
        where = torch.tensor(rows)
        probs[where] = torch.softmax(picked, -1).cpu()
        mass[where] = picked.exp().cpu()
        top[where] = logp.argmax(-1).cpu()
    widest = max(names, key=len)
    return MCQAResult(
        items=tuple(items),
        prompts=tuple(prompts),
        labels=tuple(widest),
        probs=probs,
        mass=mass,
        label_ids=ids,
        top_token=top,
        top_text=tuple(model.tokenizer.batch_decode([[t] for t in top.tolist()])),
        settings={
            "model": model.name,
            "labels": labels if isinstance(labels, str) else list(labels),
            "prefill": prefill if not isinstance(prefill, Mapping) else dict(prefill),
            "chat": chat,
            "system": system,
            "instruction": instruction if not isinstance(instruction, Mapping) else dict(instruction),
            "label_space": label_space,
        },
    )


# ---------------------------------------------------------------------------------------------
# Permutation consistency
# ---------------------------------------------------------------------------------------------


def _orders(k: int, permutations: str | int, rng: torch.Generator) -> list[tuple[int, ...]]:
    """The non-identity option orders of an item with ``k`` options."""
    identity = tuple(range(k))
    if permutations == "cyclic":
        return [tuple((j + s) % k for j in range(k)) for s in range(1, k)]
    if permutations == "all":
        if k > 6:
            raise ValueError(
                f"permutations='all' for an item with {k} options is {math.factorial(k) - 1} versions; use 'cyclic' or a number"
            )
        return [p for p in itertools.permutations(range(k)) if p != identity]
    assert isinstance(permutations, int)  # the strings are "cyclic" and "all", handled above
    n_all = math.factorial(k) - 1
    if permutations >= n_all:
        return [p for p in itertools.permutations(range(k)) if p != identity]
    chosen: list[tuple[int, ...]] = []
    while len(chosen) < permutations:
        p = tuple(torch.randperm(k, generator=rng).tolist())
        if p != identity and p not in chosen:
            chosen.append(p)
    return chosen


@dataclass(frozen=True, eq=False)
class ConsistencyResult:
    """Choices of each item under several orders of its options (:func:`permutation_consistency`).

    Attributes:
        scores: the first-token scores of every version, the items in their own order first (rows
            ``0..n-1``), then the reordered versions.
        orders: per item, the order of each version (``orders[i][0]`` the identity): version ``v``
            shows ``options[orders[i][v][j]]`` at position ``j``.
        chosen: ``[n, v]`` the chosen option of each version, as an index into the item's *own*
            options (so equal values are the same option content); ``-1`` pads items with fewer
            versions.
    """

    scores: MCQAResult
    orders: tuple[tuple[tuple[int, ...], ...], ...]
    chosen: Int[Tensor, "n v"]

    def __len__(self) -> int:
        return len(self.orders)

    def __repr__(self) -> str:
        return f"ConsistencyResult({len(self)} items, consistency={self.consistency:.3f}, circular_accuracy={self.circular_accuracy:.3f})"

    @property
    def items(self) -> tuple[MCItem, ...]:
        return self.scores.items[: len(self)]

    @property
    def original(self) -> MCQAResult:
        """The scores of the items in their own option order."""
        return self.scores.subset(list(range(len(self))))

    @property
    def consistent(self) -> Bool[Tensor, " n"]:
        """Whether every version of the item chose the same option."""
        valid = self.chosen >= 0
        return ((self.chosen == self.chosen[:, :1]) | ~valid).all(-1)

    @property
    def consistency(self) -> float:
        """The share of items whose chosen option is the same in every order."""
        return float(self.consistent.double().mean())

    @property
    def all_correct(self) -> Bool[Tensor, " n"]:
        """Whether every version of the item chose the correct option."""
        answers = torch.tensor([it.answer for it in self.items])
        return ((self.chosen == answers[:, None]) | (self.chosen < 0)).all(-1)

    @property
    def circular_accuracy(self) -> float:
        """The share of items answered correctly in every order (MMBench's CircularEval, Liu et al. 2023)."""
        return float(self.all_correct.double().mean())

    def position_rates(self) -> Float[Tensor, " k"]:
        """How often each option *position* was chosen, over all versions of all items: a model
        without position bias on balanced items spreads its choices evenly."""
        choice = self.scores.choice
        counts = torch.bincount(choice, minlength=len(self.scores.labels)).double()
        return counts / counts.sum()

    def summary(self) -> pandas.DataFrame:
        """One row per language and a last row ``"all"``: ``n``, ``accuracy`` (own order),
        ``consistency``, ``circular_accuracy``."""
        import pandas as pd

        groups = {**_language_groups(self.items), "all": list(range(len(self)))}
        original = self.original
        rows = []
        for lang, members in groups.items():
            rows.append(
                {
                    "language": lang,
                    "n": len(members),
                    "accuracy": float(original.correct[members].double().mean()),
                    "consistency": float(self.consistent[members].double().mean()),
                    "circular_accuracy": float(self.all_correct[members].double().mean()),
                }
            )
        return pd.DataFrame(rows)


def permutation_consistency(
    model: Model,
    items: MCItem | Sequence[MCItem],
    *,
    permutations: str | int = "cyclic",
    seed: int = 0,
    labels: LabelSpec = "A",
    prefill: PerLanguage = None,
    chat: bool = True,
    system: str | None = None,
    instruction: PerLanguage = None,
    label_space: bool | None = None,
    batch_size: int = 16,
    progress: bool | str = True,
) -> ConsistencyResult:
    """Score each item in its own option order and in reordered versions, and measure how often the
    chosen option (its content, not its label) stays the same.

    Args:
        permutations: which reorderings: ``"cyclic"`` (the ``k - 1`` rotations of ``k`` options, so
            every option is shown at every position once; for two options, the swap), ``"all"``
            (every order, ``k! - 1`` versions; up to 6 options), or a number of distinct random
            orders per item (seeded by ``seed``; all of them where there are fewer).
        seed: for random orders.
        the rest: as :func:`score_mcqa`, which scores all versions in one call.

    Returns:
        a :class:`ConsistencyResult`: ``consistency`` (share of items with one chosen option in every
        order), ``circular_accuracy`` (correct in every order), per-language ``summary()``.
    """
    items = _item_list(items)
    if isinstance(permutations, str):
        _validate.choice("permutations", permutations, ("cyclic", "all"))
    else:
        permutations = _validate.integer("permutations", permutations, minimum=1)
    seed = _validate.integer("seed", seed, minimum=0)
    rng = torch.Generator().manual_seed(seed)
    orders = [[tuple(range(it.n_options))] + _orders(it.n_options, permutations, rng) for it in items]
    versions = list(items) + [it.permuted(o) for it, its in zip(items, orders) for o in its[1:]]
    scores = score_mcqa(
        model,
        versions,
        labels=labels,
        prefill=prefill,
        chat=chat,
        system=system,
        instruction=instruction,
        label_space=label_space,
        batch_size=batch_size,
        progress=progress,
    )
    choice = scores.choice.tolist()
    width = max(len(o) for o in orders)
    chosen = torch.full((len(items), width), -1, dtype=torch.long)
    row = len(items)
    for i, its in enumerate(orders):
        chosen[i, 0] = choice[i]
        for v, order in enumerate(its[1:], 1):
            chosen[i, v] = order[choice[row]]  # the position chosen, mapped back to the item's own option
            row += 1
    return ConsistencyResult(scores, tuple(tuple(o) for o in orders), chosen)


# ---------------------------------------------------------------------------------------------
# Open-ended baseline
# ---------------------------------------------------------------------------------------------

_KEYWORDS = r"(?:option|answer|choice)"
# an "A" / "I" followed by a lowercase word reads as the English word, unless that word says it is the answer
_WORD_LABELS = {"A", "a", "I"}


def parse_choice(response: str, labels: Sequence[str]) -> int | None:
    """The option a free-text ``response`` chose: the index into ``labels`` of the label it names, or
    None where it names none.

    Rules, in order (labels are matched case-sensitively, as whole words: "A" in "Apple" is no label):

    1. a label after "option", "answer" or "choice" (any case), optionally with "is", a colon and
       brackets or bold marks: "The correct option is (B)", "Answer: **2**";
    2. the first label standing alone: "B", "B.", "(B) ...", "B is right". The one-letter English
       words "A", "a" and "I" count only where they are not followed by a lowercase word ("A bird
       flew" is an article; "A. It was fragile" and "A is correct" are answers).
    """
    if not isinstance(response, str):
        raise TypeError(f"response must be a string, got {_validate.given(response)}")
    names = list(labels)
    if not names:
        raise ValueError("no labels given")
    alternatives = "|".join(re.escape(x) for x in sorted(names, key=len, reverse=True))
    label = rf"(?<!\w)({alternatives})(?!\w)"
    explicit = re.search(rf"(?i:{_KEYWORDS})\s*(?:(?i:is)\s*)?[:：]?\s*[\(\[\*\"'“]*\s*{label}", response)
    if explicit:
        return names.index(explicit.group(1))
    for match in re.finditer(label, response):
        after = response[match.end() :]
        if match.group(1) in _WORD_LABELS:
            word = re.match(r"\s+([a-z]\w*)", after)
            if word and word.group(1) not in ("is", "was"):
                continue
        return names.index(match.group(1))
    return None


@dataclass(frozen=True, eq=False)
class OpenEndedResult:
    """Generated answers to multiple-choice items and the options parsed out of them
    (:func:`open_ended_mcqa`).

    Attributes:
        items: the items.
        prompts: the texts generated from.
        responses: the generated text of each (after the prefill, if any).
        choice: the parsed option of each (:func:`parse_choice`), None where no label was found.
        settings: the arguments used.
    """

    items: tuple[MCItem, ...]
    prompts: tuple[str, ...]
    responses: tuple[str, ...]
    choice: tuple[int | None, ...]
    settings: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return (
            f"OpenEndedResult({len(self)} items, accuracy={self.accuracy:.3f}, unparsed_rate={self.unparsed_rate:.3f})"
        )

    @property
    def parsed(self) -> Bool[Tensor, " n"]:
        return torch.tensor([c is not None for c in self.choice], dtype=torch.bool)

    @property
    def correct(self) -> Bool[Tensor, " n"]:
        """Whether the parsed option is the answer (an unparsed response is not correct)."""
        return torch.tensor([c is not None and c == it.answer for c, it in zip(self.choice, self.items)])

    @property
    def accuracy(self) -> float:
        """Correct answers over all items, unparsed ones counted wrong."""
        return float(self.correct.double().mean())

    @property
    def accuracy_parsed(self) -> float:
        """Correct answers over the items whose response named an option (NaN if none did)."""
        parsed = self.parsed
        return float(self.correct[parsed].double().mean()) if bool(parsed.any()) else math.nan

    @property
    def unparsed_rate(self) -> float:
        return 1.0 - float(self.parsed.double().mean())

    def summary(self) -> pandas.DataFrame:
        """One row per language and a last row ``"all"``: ``n``, ``accuracy``, ``accuracy_parsed``,
        ``unparsed_rate``."""
        import pandas as pd

        groups = {**_language_groups(self.items), "all": list(range(len(self)))}
        correct, parsed = self.correct.double(), self.parsed
        rows = []
        for lang, members in groups.items():
            m = torch.tensor(members)
            p = parsed[m]
            rows.append(
                {
                    "language": lang,
                    "n": len(members),
                    "accuracy": float(correct[m].mean()),
                    "accuracy_parsed": float(correct[m][p].mean()) if bool(p.any()) else math.nan,
                    "unparsed_rate": 1.0 - float(p.double().mean()),
                }
            )
        return pd.DataFrame(rows)

    def to_dataframe(self) -> pandas.DataFrame:
        """One row per item: ``item_id, language, answer, choice`` (None: unparsed), ``correct, response``."""
        import pandas as pd

        return pd.DataFrame(
            {
                "item_id": [it.item_id for it in self.items],
                "language": [it.language for it in self.items],
                "answer": [it.answer for it in self.items],
                "choice": list(self.choice),
                "correct": self.correct.tolist(),
                "response": list(self.responses),
            }
        )


@torch.no_grad()
def open_ended_mcqa(
    model: Model,
    items: MCItem | Sequence[MCItem],
    *,
    labels: LabelSpec = "A",
    prefill: PerLanguage = None,
    chat: bool = True,
    system: str | None = None,
    instruction: PerLanguage = None,
    max_new_tokens: int = 16,
    batch_size: int = 16,
    progress: bool | str = True,
) -> OpenEndedResult:
    """The open-ended baseline: generate each item's answer (greedy, ``max_new_tokens``) from the same
    prompt as :func:`score_mcqa` and parse the option it names (:func:`parse_choice`). Responses that
    name no label count as unparsed (``unparsed_rate``) and as wrong in ``accuracy``.

    Arguments as :func:`score_mcqa`; labels need not be single tokens here."""
    from ..activations import token_batches

    items = _item_list(items)
    _validate.integer("max_new_tokens", max_new_tokens, minimum=1)
    _validate.integer("batch_size", batch_size, minimum=1)
    prompts = mcqa_prompts(
        model, items, labels=labels, prefill=prefill, chat=chat, system=system, instruction=instruction
    )
    responses: list[str] = [""] * len(items)
    desc = progress if isinstance(progress, str) else "mcqa generation"
    for rows, enc, _ in token_batches(model, prompts, batch_size, progress=progress, desc=desc):
        for i, text in zip(rows, model.generate(enc, max_new_tokens=max_new_tokens)):
            responses[i] = text
    choice = tuple(parse_choice(r, option_labels(labels, it.n_options)) for r, it in zip(responses, items))
    return OpenEndedResult(
        tuple(items),
        tuple(prompts),
        tuple(responses),
        choice,
        {"model": model.name, "labels": labels, "prefill": prefill, "chat": chat, "max_new_tokens": max_new_tokens},
    )
