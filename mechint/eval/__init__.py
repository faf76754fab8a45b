"""Behavioural evaluation of a model's answers: multiple-choice questions scored from the first
token (FTP), with a prefilled response, calibration, permutation consistency and an open-ended
baseline (:mod:`mechint.eval.mcqa`).

Typical use, on the bundled XCOPA (:func:`mechint.data.load_xcopa`)::

    from mechint.data import load_xcopa
    from mechint.eval import ANSWER_PREFILL, score_mcqa

    items = load_xcopa("val", languages=["it", "zh"])
    plain = score_mcqa(model, items)                                  # the label opens the response
    prefilled = score_mcqa(model, items, prefill=ANSWER_PREFILL)      # "The correct option is: A"
    print(prefilled.summary())    # accuracy (bootstrap interval), ECE, Brier, misalignment per language
"""

from ..data.multiple_choice import MCItem
from .mcqa import (
    ANSWER_PREFILL,
    ConsistencyResult,
    LabelTokenError,
    MCQAResult,
    OpenEndedResult,
    label_token_ids,
    mcqa_prompt,
    mcqa_prompts,
    open_ended_mcqa,
    option_labels,
    parse_choice,
    permutation_consistency,
    score_mcqa,
)

__all__ = [
    "ANSWER_PREFILL",
    "ConsistencyResult",
    "LabelTokenError",
    "MCItem",
    "MCQAResult",
    "OpenEndedResult",
    "label_token_ids",
    "mcqa_prompt",
    "mcqa_prompts",
    "open_ended_mcqa",
    "option_labels",
    "parse_choice",
    "permutation_consistency",
    "score_mcqa",
]
