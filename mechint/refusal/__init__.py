"""Refusal judging: whether a chat model's response refuses the request, in 18 languages.

:func:`is_refusal`, :func:`judge_refusals` and :func:`explain_refusal` read a response's opening for
refusal phrases of its language and of English, and check whether an answer follows them
(:mod:`mechint.refusal.judge` documents the rules; the phrases are in
:mod:`mechint.refusal._lexicon`).

:func:`refusal_score` is the model-side reading that needs no generation: the log-odds of
refusal-opening tokens at the first response position (:mod:`mechint.refusal.score`).

:func:`refusal_direction` extracts and selects the refusal direction of a chat model (Arditi et al.),
with the whole scored table of candidates; :func:`directional_ablation` removes a direction from the
residual stream everywhere (:mod:`mechint.refusal.direction`).
"""

from .direction import (
    RefusalDirection,
    candidate_directions,
    directional_ablation,
    refusal_direction,
    score_candidates,
    select_refusal_direction,
)
from .judge import JUDGE_LANGUAGES, RefusalVerdict, explain_refusal, is_refusal, judge_refusals
from .orthogonalize import orthogonalize_weights
from .score import REFUSAL_OPENINGS, refusal_log_odds, refusal_score, refusal_token_ids

__all__ = [
    "RefusalDirection",
    "candidate_directions",
    "directional_ablation",
    "refusal_direction",
    "score_candidates",
    "select_refusal_direction",
    "JUDGE_LANGUAGES",
    "RefusalVerdict",
    "explain_refusal",
    "is_refusal",
    "judge_refusals",
    "REFUSAL_OPENINGS",
    "refusal_log_odds",
    "refusal_score",
    "refusal_token_ids",
    "orthogonalize_weights",
]
