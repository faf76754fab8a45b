"""Behavioural evaluation of a model's answers: multiple-choice questions scored from the first
token (FTP), with a prefilled response, calibration, permutation consistency and an open-ended
baseline (:mod:`mechint.eval.mcqa`); and the language of generated text: per-sentence language
identification, the language mix of a generation, quote-and-think spans and reasoning-language
control by a prefilled prefix (:mod:`mechint.eval.language`); and prefilling attacks: an affirmative
opening ("Sure, here is") in each PolyRefuse language and the checks that a prefill's tokens sit
where the template starts the response (:mod:`mechint.eval.prefill`).

Typical use, on the bundled XCOPA (:func:`mechint.data.load_xcopa`)::

    from mechint.data import load_xcopa
    from mechint.eval import ANSWER_PREFILL, score_mcqa

    items = load_xcopa("val", languages=["it", "zh"])
    plain = score_mcqa(model, items)                                  # the label opens the response
    prefilled = score_mcqa(model, items, prefill=ANSWER_PREFILL)      # "The correct option is: A"
    print(prefilled.summary())    # accuracy (bootstrap interval), ECE, Brier, misalignment per language

and on generated text::

    from mechint.eval import language_mix, quote_and_think, reasoning_language, reasoning_prefix

    language_mix("Die Frage lautet: 这是什么？ So the user asks what this is.")   # {"en": ..., "de": ..., "zh": ...}
    runs = reasoning_language(model, ["这是什么？一步一步地思考。"], "zh", prefix=reasoning_prefix("en"))
    runs[0].mix, runs[0].quotes

and a prefilling attack::

    from mechint.eval import affirmative_prefill, check_prefill

    check_prefill(model, instructions, affirmative_prefill("de"))    # token ids, or PrefillTokenError
    prompts = model.chat_prompts(instructions, prefill=affirmative_prefill("de"))   # "Natürlich, hier ist"
"""

from ..data.multiple_choice import MCItem
from .language import (
    DEFAULT_LANGUAGES,
    REASONING_PREFIXES,
    UNDETECTABLE,
    LanguageSpan,
    QuoteSpan,
    ReasoningResult,
    UnsupportedLanguageError,
    identify_languages,
    language_detector,
    language_mix,
    main_language,
    quote_and_think,
    reasoning_language,
    reasoning_prefix,
    reasoning_prompts,
    split_segments,
    split_sentences,
    supported_languages,
)
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
from .prefill import AFFIRMATIVE_PREFILLS, PrefillTokenError, affirmative_prefill, check_prefill, prefill_merges

__all__ = [
    "ANSWER_PREFILL",
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
    "AFFIRMATIVE_PREFILLS",
    "PrefillTokenError",
    "affirmative_prefill",
    "check_prefill",
    "prefill_merges",
]
