"""Training data for :mod:`mechint.tuning`: (prompt, response) pairs and (prompt, chosen, rejected)
triples, checked, chat-formatted and tokenized.

The prompt is written exactly as :meth:`mechint.Model.format_chat` writes it for generation (so the
model is trained on the context it will later see), and tokenized on its own, with the tokenizer's
special tokens (BOS); the response is what the chat template writes for the assistant's turn after
that prompt, its closing tokens included (Gemma's ``<end_of_turn>``), tokenized without special
tokens. Where those closing tokens do not begin with a single special token the model could stop on,
the EOS token is appended: the model learns to stop either way (:class:`Stop`). Without chat
formatting (``chat=False``, plain-text tuning of a base model) prompt and response are concatenated
and EOS appended.

Only response tokens carry loss; :func:`tokenize_pairs` and :func:`tokenize_triples` keep the prompt
and the response tokens apart for that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import _validate
from ..chat import ChatTemplateError, check_turns
from ..model import Model

__all__ = ["Stop", "TokenizedPair", "TokenizedTriple", "tokenize_pairs", "tokenize_triples", "data_digest", "stop_of"]

# A response no template writes, to find what the template writes after an assistant turn.
_SENTINEL = "\u2063RESPONSE\u2063mechint\u2063"


@dataclass(frozen=True)
class Stop:
    """How a tuned model ends its response.

    Attributes:
        turn_end: what the chat template writes after an assistant turn (``"<end_of_turn>\\n"``;
            ``""`` without chat formatting).
        token_id: the special token that turn end begins with, where there is one (Gemma's
            ``<end_of_turn>``): generation stops on it (it joins the saved generation config's
            ``eos_token_id``) and no EOS is appended; ``None`` otherwise.
        append_eos: the tokenizer's EOS token id, appended to every response, where ``token_id`` is
            ``None`` (so generation stops on EOS); ``None`` where nothing is appended.
    """

    turn_end: str
    token_id: int | None
    append_eos: int | None


@dataclass(frozen=True)
class TokenizedPair:
    """One supervised example: ``prompt`` token ids (no loss) then ``response`` token ids (loss)."""

    prompt: tuple[int, ...]
    response: tuple[int, ...]


@dataclass(frozen=True)
class TokenizedTriple:
    """One preference example: ``prompt`` token ids, then the ``chosen`` or the ``rejected`` response."""

    prompt: tuple[int, ...]
    chosen: tuple[int, ...]
    rejected: tuple[int, ...]


def _items(data: Any, what: str, fields: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """``data`` as a list of tuples of ``fields``: each item a tuple/list of that length or a mapping
    with those keys (a ``datasets.Dataset`` row, say)."""
    shape = "(" + ", ".join(fields) + ")"
    if isinstance(data, (str, bytes, Mapping)) or not isinstance(data, Iterable):
        raise TypeError(
            f"{what} must be a list of {shape} tuples or of dicts with keys {', '.join(map(repr, fields))}, "
            f"got {_validate.given(data)}"
        )
    items = list(data)
    if not items:
        raise ValueError(f"the training set is empty: give at least one {shape} example")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, Mapping):
            missing = [f for f in fields if f not in item]
            if missing:
                raise ValueError(f"{what} item {i} has no {', '.join(map(repr, missing))} (keys: {sorted(item)})")
            out.append(tuple(item[f] for f in fields))
        elif isinstance(item, (tuple, list)) and len(item) == len(fields):
            out.append(tuple(item))
        else:
            raise TypeError(
                f"{what} item {i} must be a {shape} tuple or a dict with those keys, got {_validate.given(item)}"
            )
    return out


def _check_text(value: Any, field: str, index: int, *, turns_ok: bool = False) -> None:
    if turns_ok and not isinstance(value, str):
        try:
            check_turns(value)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"item {index}: the {field} must be a string or a list of chat turns "
                f'{{"role": ..., "content": ...}} ({err})'
            ) from None
        return
    if not isinstance(value, str):
        raise TypeError(f"item {index}: the {field} must be a string, got {_validate.given(value)}")
    if not value.strip():
        raise ValueError(f"item {index}: the {field} is empty; drop the item or give it some text")


def stop_of(model: Model, *, chat: bool) -> Stop:
    """How responses end for ``model``'s tokenizer and chat template (see :class:`Stop`)."""
    tokenizer = model.tokenizer
    eos = tokenizer.eos_token_id
    if not chat:
        return Stop("", None, eos)
    text = model.format_chat(
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": _SENTINEL}], add_generation_prompt=False
    )
    if _SENTINEL not in text:
        raise ChatTemplateError(
            f"the chat template of {model.name} does not write the assistant's turn: cannot tune on it"
        )
    turn_end = text.split(_SENTINEL, 1)[1]
    ids = tokenizer(turn_end, add_special_tokens=False)["input_ids"] if turn_end else []
    special = set(tokenizer.all_special_ids) | set(getattr(tokenizer, "added_tokens_decoder", {}) or {})
    if ids and ids[0] in special:
        return Stop(turn_end, int(ids[0]), None)
    return Stop(turn_end, None, eos)


def _format(model: Model, prompt: Any, response: str, *, chat: bool, system: str | None, index: int) -> tuple[str, str]:
    """``(prompt text, response text)`` of one example, the response text as the template writes it."""
    if not chat:
        return prompt, response
    turns = check_turns(prompt)
    if turns[-1]["role"] != "user":
        raise ValueError(f"item {index}: the prompt's turns must end with a user turn, not a {turns[-1]['role']!r} one")
    prompt_text = model.format_chat(turns, system=system)
    full = model.format_chat(
        turns + [{"role": "assistant", "content": response}], system=system, add_generation_prompt=False
    )
    if not full.startswith(prompt_text):
        raise ChatTemplateError(
            f"item {index}: the chat template writes the conversation with a response differently from the prompt it "
            "writes for generation, so the model could not be trained on the context it is prompted with. Use a "
            "template whose generation prompt is the start of the assistant's turn."
        )
    return prompt_text, full[len(prompt_text) :]


def _encode(model: Model, prompt_text: str, response_text: str, stop: Stop) -> tuple[tuple[int, ...], tuple[int, ...]]:
    tokenizer = model.tokenizer
    prompt_ids = tuple(tokenizer(prompt_text, add_special_tokens=True)["input_ids"])
    response_ids = list(tokenizer(response_text, add_special_tokens=False)["input_ids"])
    if stop.append_eos is not None:
        response_ids.append(stop.append_eos)
    return prompt_ids, tuple(response_ids)


def _check_lengths(lengths: Sequence[int], max_length: int, limit: int | None, what: str) -> None:
    """Refuse examples longer than ``max_length`` (or a learned position table), naming the first."""
    cap = min(max_length, limit) if limit is not None else max_length
    for i, n in enumerate(lengths):
        if n > cap:
            longer = sum(1 for m in lengths if m > cap)
            others = f" ({longer} examples in all, the longest {max(lengths)} tokens)" if longer > 1 else ""
            if limit is not None and n > limit and limit <= max_length:
                fix = f"shorten it: the model's learned position table holds {limit} positions"
            else:
                fit = max(lengths) if limit is None else min(max(lengths), limit)
                fix = f"raise max_length in the config (TuningConfig(max_length={fit})) or shorten it"
            raise ValueError(
                f"item {i} has {n} tokens once formatted ({what}), more than max_length={cap}{others}: {fix}"
            )


def _prompt_checker(chat: bool, system: str | None):
    if not chat and system is not None:
        raise ValueError("system= needs chat formatting: drop it, or tune with chat=True")

    def check(prompt: Any, index: int) -> None:
        _check_text(prompt, "prompt", index, turns_ok=chat)

    return check


def tokenize_pairs(
    model: Model, pairs: Any, *, chat: bool, system: str | None, max_length: int, stop: Stop
) -> list[TokenizedPair]:
    """Check and tokenize (prompt, response) pairs (see the module docstring for the layout).

    Raises on an empty set, a non-string field, an empty text, or an example longer than
    ``max_length`` tokens (naming the item, its token count and the fix)."""
    items = _items(pairs, "pairs", ("prompt", "response"))
    check_prompt = _prompt_checker(chat, system)
    out = []
    for i, (prompt, response) in enumerate(items):
        check_prompt(prompt, i)
        _check_text(response, "response", i)
        prompt_ids, response_ids = _encode(
            model, *_format(model, prompt, response, chat=chat, system=system, index=i), stop
        )
        out.append(TokenizedPair(prompt_ids, response_ids))
    _check_lengths(
        [len(p.prompt) + len(p.response) for p in out], max_length, model.position_limit, "prompt + response"
    )
    return out


def tokenize_triples(
    model: Model, triples: Any, *, chat: bool, system: str | None, max_length: int, stop: Stop
) -> list[TokenizedTriple]:
    """Check and tokenize (prompt, chosen, rejected) triples; as :func:`tokenize_pairs`, and a triple
    whose two responses are the same is refused (it teaches nothing)."""
    items = _items(triples, "triples", ("prompt", "chosen", "rejected"))
    check_prompt = _prompt_checker(chat, system)
    out = []
    for i, (prompt, chosen, rejected) in enumerate(items):
        check_prompt(prompt, i)
        _check_text(chosen, "chosen response", i)
        _check_text(rejected, "rejected response", i)
        if chosen == rejected:
            raise ValueError(f"item {i}: the chosen and the rejected response are the same; a preference needs two")
        prompt_text, chosen_text = _format(model, prompt, chosen, chat=chat, system=system, index=i)
        _, rejected_text = _format(model, prompt, rejected, chat=chat, system=system, index=i)
        prompt_ids, chosen_ids = _encode(model, prompt_text, chosen_text, stop)
        _, rejected_ids = _encode(model, prompt_text, rejected_text, stop)
        out.append(TokenizedTriple(prompt_ids, chosen_ids, rejected_ids))
    lengths = [len(t.prompt) + max(len(t.chosen), len(t.rejected)) for t in out]
    _check_lengths(lengths, max_length, model.position_limit, "prompt + the longer response")
    return out


def data_digest(examples: Sequence[TokenizedPair] | Sequence[TokenizedTriple]) -> str:
    """sha256 of the tokenized examples, in order: it changes with any text, the system prompt, the
    chat template, the tokenizer's encoding and the order of the examples."""
    digest = hashlib.sha256()
    for example in examples:
        parts = [list(getattr(example, f)) for f in example.__dataclass_fields__]
        digest.update(json.dumps(parts, separators=(",", ":")).encode())
        digest.update(b"\n")
    return digest.hexdigest()
