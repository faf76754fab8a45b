"""Fine-tuning attacks: a safety-tuned model fine-tuned on a few harmful instructions with compliant
responses, in one language (Safety Information Localization, arXiv 2410.18210).

:func:`compliant_pairs` makes the attack set without bundling any harmful text: the responses are
the *responder*'s own completions (for an embedded safety-tuned model, the base model it was tuned
from, which does not refuse), from the few-shot plain-text prompt that the recipes use
(:func:`mechint.recipes.base_answers`), cached; completions that came out empty or that the
refusal judge reads as refusals are skipped, so every response complies. :func:`attack` fine-tunes on
them through :func:`mechint.tuning.sft`, full fine-tuning by default (:data:`ATTACK_CONFIG`), cached
like every tuning run, and can hold a :class:`~mechint.weights.WeightMask` of entries frozen (the
freezing test of the paper: does the attack still break refusal when the weights it moved most are
held fixed?).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from .. import _validate
from ..model import Model
from ..weights import WeightMask
from .config import TuningConfig, as_config
from .tune import TuningResult, sft

__all__ = ["ATTACK_CONFIG", "attack", "compliant_pairs"]

ATTACK_CONFIG: Mapping[str, Any] = MappingProxyType(
    {"lora": None, "epochs": 1, "learning_rate": 2e-5, "batch_size": 8, "bf16": True, "fused": True, "seed": 0}
)
"""The attack's default tuning: full fine-tuning of every weight (so that the weights it moves can be
localized and frozen), one epoch, AdamW at 2e-5 decaying linearly (torch's fused kernel: the optimizer
step over every weight is much of a full fine-tuning step on a CPU), batches of 8, bfloat16 autocast.
One pass over a few dozen examples is the attack's budget; pass ``config={"epochs": 3}`` for a
longer one."""

ANSWER_TOKENS = 40
"""Tokens generated per compliant response."""


def _instructions(instructions: Any) -> list[str]:
    """The harmful instructions of ``instructions``: a list of strings, or a mechint Dataset (its
    label-1 examples)."""
    from ..data import Dataset

    if isinstance(instructions, Dataset):
        texts = [ex.text for ex in instructions if ex.label == 1]
        if not texts:
            raise ValueError(
                f"the data set has no harmful (label 1) examples to attack with ({len(instructions)} examples, "
                f"labels {sorted({ex.label for ex in instructions})})"
            )
        return texts
    if isinstance(instructions, str) or not isinstance(instructions, Sequence):
        raise TypeError(
            f"instructions must be a list of strings or a mechint Dataset, got {_validate.given(instructions)}"
        )
    texts = list(instructions)
    if not texts:
        raise ValueError("an attack set with no examples: instructions is empty")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise TypeError(f"instructions[{i}] must be a non-empty string, got {_validate.given(text)}")
    return texts


def compliant_pairs(
    responder: Model,
    instructions: Any,
    k: int,
    *,
    language: str | None = None,
    max_new_tokens: int = ANSWER_TOKENS,
    progress: bool = True,
) -> list[tuple[str, str]]:
    """``k`` (instruction, compliant response) pairs for an attack: the first ``k`` of ``instructions``
    whose completion by ``responder`` is not empty and is not a refusal.

    Args:
        responder: the model whose own completions are the responses; for an attack on a safety-tuned
            model, the base model it was tuned from.
        instructions: harmful instructions, in order: a list of strings, or a mechint Dataset (its
            harmful, label 1, examples).
        k: how many pairs (at least 1).
        language: the instructions' language code, for the refusal judge (None: it reads the responses
            for every language it knows).
        max_new_tokens: the responses' length in tokens.
        progress: show progress bars.

    Completions are generated greedily, ``k`` instructions at a time until ``k`` pairs are usable, and
    cached (:func:`mechint.recipes.cached_base_answers`), so an attack set is generated once.

    Raises:
        ValueError: ``k`` < 1, no instructions, or fewer than ``k`` usable completions in all of them.
    """
    from ..recipes import cached_base_answers
    from ..refusal import is_refusal

    if not isinstance(responder, Model):
        raise TypeError(f"responder must be a mechint Model, got {_validate.given(responder)}")
    _validate.integer("k", k, minimum=1)
    texts = _instructions(instructions)
    pairs: list[tuple[str, str]] = []
    for start in range(0, len(texts), k):
        chunk = texts[start : start + k]
        answers = cached_base_answers(
            responder, chunk, max_new_tokens=max_new_tokens, label="attack", progress=progress
        )
        pairs += [(text, answer) for text, answer in zip(chunk, answers) if answer and not is_refusal(answer, language)]
        if len(pairs) >= k:
            return pairs[:k]
    raise ValueError(
        f"only {len(pairs)} of {len(texts)} instructions got a compliant completion from {responder.name} "
        f"(empty or refusing completions are skipped); k={k} needs more instructions or a smaller k"
    )


def attack(
    model: Model | str | os.PathLike,
    pairs: Sequence[tuple[str, str]],
    *,
    config: TuningConfig | Mapping[str, Any] | None = None,
    frozen: WeightMask | None = None,
    cache: bool = True,
    progress: bool = True,
) -> TuningResult:
    """Fine-tune ``model`` on attack ``pairs`` (from :func:`compliant_pairs`), chat-formatted with the
    model's template, loss on the responses: :func:`mechint.tuning.sft` with :data:`ATTACK_CONFIG`
    (``config`` fields override it) and ``frozen`` entries held fixed. Cached; ``model`` is not changed.

    Raises:
        ValueError: no pairs; ``frozen`` with LoRA or built on another model (from :func:`~mechint.tuning.sft`).
    """
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise TypeError(f"pairs must be a list of (instruction, response) tuples, got {_validate.given(pairs)}")
    if not pairs:
        raise ValueError("an attack set with no examples: pairs is empty (compliant_pairs(responder, instructions, k))")
    if isinstance(config, TuningConfig):
        config = config.hyperparameters()
    cfg = as_config({**ATTACK_CONFIG, **dict(config or {})})
    return sft(model, list(pairs), config=cfg, frozen=frozen, cache=cache, progress=progress)
