"""The model-side refusal score: how much a model leans towards refusing, read from one forward.

Arditi et al. (arXiv 2406.11717) select the refusal direction without generating: at the first
response position of a chat prompt, the probability mass the model puts on the tokens its refusals
start with ("I" of "I cannot", for Gemma) says whether it is about to refuse. The score is that mass
as log-odds, ``log p - log(1 - p)``: positive where a refusal opening is more likely than anything
else. Here the opening tokens are the first tokens of refusal openings in every language the judge
knows (:data:`REFUSAL_OPENINGS`), so the score reads refusals in the prompt's language too; pass your
own ``openings`` (or token ids) for a model that opens its refusals otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, cast

import torch
from jaxtyping import Float
from torch import Tensor

from .. import _validate
from .judge import language_code

if TYPE_CHECKING:
    from ..model import Model

__all__ = ["REFUSAL_OPENINGS", "refusal_log_odds", "refusal_score", "refusal_token_ids"]

REFUSAL_OPENINGS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "en": ("I'm sorry", "I am sorry", "I apologize", "I cannot", "I can't", "Sorry", "As an AI", "Unfortunately"),
        "de": ("Es tut mir leid", "Tut mir leid", "Entschuldigung", "Ich kann", "Leider"),
        "es": ("Lo siento", "Lo lamento", "No puedo", "Disculpa", "Lamentablemente"),
        "fr": ("Je suis désolé", "Désolé", "Je ne peux pas", "Malheureusement", "Je regrette"),
        "it": ("Mi dispiace", "Non posso", "Purtroppo", "Spiacente", "Scusa"),
        "nl": ("Het spijt me", "Sorry", "Ik kan", "Helaas"),
        "pl": ("Przepraszam", "Przykro mi", "Nie mogę", "Niestety"),
        "ru": ("Извините", "Простите", "Мне жаль", "Я не могу", "К сожалению"),
        "ar": ("عذراً", "عذرا", "آسف", "أنا آسف", "لا أستطيع", "لا يمكنني", "للأسف"),
        "ja": (
            "申し訳ありません",
            "申し訳ございません",
            "すみません",
            "ごめんなさい",
            "残念ながら",
            "お答えできません",
        ),
        "ko": ("죄송합니다", "죄송하지만", "미안합니다", "안타깝게도", "저는 도와드릴 수 없습니다"),
        "zh": ("抱歉", "很抱歉", "对不起", "對不起", "我不能", "我无法", "我無法"),
        "th": ("ขออภัย", "ขอโทษ", "ฉันไม่สามารถ", "ผมไม่สามารถ", "น่าเสียดาย"),
        "yo": ("Ma binu", "Mà bínú", "E ma binu", "Ẹ má bínú", "Emi ko le", "Mi ò lè"),
        "bn": ("দুঃখিত", "আমি দুঃখিত", "দুর্ভাগ্যবশত", "আমি এটি করতে পারব না"),
        "jv": ("Nyuwun sewu", "Ngapunten", "Nuwun sewu", "Sepurane", "Aku ora bisa"),
        "sw": ("Samahani", "Siwezi", "Kwa bahati mbaya", "Pole"),
        "vi": ("Xin lỗi", "Tôi xin lỗi", "Tôi không thể", "Rất tiếc", "Thật không may"),
    }
)
"""Typical first words of a chat model's refusal, per language (ISO 639-1): what :func:`refusal_score`
reads the first token of. The judge (:mod:`mechint.refusal`) decides refusals of whole responses."""


def refusal_token_ids(
    model: Model, *, languages: str | Sequence[str] | None = None, openings: Sequence[str] | None = None
) -> list[int]:
    """The distinct first tokens of refusal openings as the model's tokenizer writes them at the
    start of a response: of :data:`REFUSAL_OPENINGS` in ``languages`` (default: all), or of
    ``openings`` given instead."""
    if openings is None:
        if languages is None:
            chosen = list(REFUSAL_OPENINGS)
        else:
            chosen = [languages] if isinstance(languages, str) else list(languages)
            if not chosen:
                raise ValueError("languages is empty: give at least one, or None for all")
            chosen = [language_code(lang) for lang in chosen]
        openings = [o for lang in chosen for o in REFUSAL_OPENINGS[lang]]
    else:
        if languages is not None:
            raise ValueError("give languages= or openings=, not both")
        openings = _validate.texts(openings, "openings")
    ids: dict[int, None] = {}
    unknown = model.tokenizer.unk_token_id
    for text in openings:
        tokens = model.tokenizer(text, add_special_tokens=False)["input_ids"]
        if not tokens:
            raise ValueError(f"the opening {text!r} has no token")
        if unknown is None or int(tokens[0]) != unknown:  # an unknown token is not a refusal's start
            ids[int(tokens[0])] = None
    if not ids:
        raise ValueError(
            f"no refusal token found for {model.name}'s tokenizer: every opening starts with its unknown token, "
            "so the refusal score is undefined; pass openings= in words it knows, or token_ids="
        )
    return list(ids)


@torch.no_grad()
def refusal_score(
    model: Model,
    prompts: _validate.TextsLike,
    *,
    languages: str | Sequence[str] | None = None,
    openings: Sequence[str] | None = None,
    token_ids: Sequence[int] | None = None,
    batch_size: int = 16,
    progress: bool | str = False,
) -> Float[Tensor, " n"]:
    """Log-odds that each prompt's response opens as a refusal: ``log p - log(1 - p)`` with ``p`` the
    next-token probability of the refusal tokens (:func:`refusal_token_ids`, or ``token_ids``) at
    the prompt's last position. One forward per batch, no generation.

    ``prompts`` are read as given: for a chat model pass chat-formatted prompts
    (:meth:`mechint.Model.chat_prompts`), so that the last position is the first response position.
    Interventions active around the call (:func:`mechint.intervene`) act on the forward, which is how
    a direction's effect on refusal is scored. Returns ``[n]`` float32 on the CPU, in prompt order."""
    from ..activations import token_batches

    if token_ids is not None:
        if languages is not None or openings is not None:
            raise ValueError("give token_ids= alone, or languages= / openings=, not both")
        ids = [int(i) for i in token_ids]
        if not ids:
            raise ValueError("token_ids is empty")
        head = model.hf.get_output_embeddings()
        assert head is not None  # a causal LM has its LM head
        vocab = cast(Tensor, head.weight).shape[0]
        bad = [i for i in ids if not 0 <= i < vocab]
        if bad:
            raise ValueError(f"token ids {bad[:5]} are outside the vocabulary (0..{vocab - 1})")
    else:
        ids = refusal_token_ids(model, languages=languages, openings=openings)
    texts = _validate.texts(prompts, "prompts")
    index = torch.tensor(ids, device=model.device)
    out = torch.empty(len(texts), dtype=torch.float32)
    desc = progress if isinstance(progress, str) else "refusal score"
    for rows, enc, _ in token_batches(model, texts, batch_size, progress=progress, desc=desc):
        out[torch.tensor(rows)] = refusal_log_odds(model.last_logits(enc), index).cpu()
    return out


def refusal_log_odds(
    logits: Float[Tensor, "batch vocab"], token_ids: Tensor | Sequence[int]
) -> Float[Tensor, " batch"]:
    """``log p - log(1 - p)`` for next-token ``logits`` with ``p`` the probability of ``token_ids``:
    the refusal score of logits a caller already has (e.g. the first step of a generation, read with
    ``output_logits=True``). Float32; exact also where ``p`` is near 1."""
    logits = logits.float()
    is_refusal = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
    is_refusal[torch.as_tensor(token_ids, device=logits.device)] = True
    refuse = torch.logsumexp(logits[:, is_refusal], dim=-1)  # log p + log Z
    rest = torch.logsumexp(logits[:, ~is_refusal], dim=-1)  # log(1 - p) + log Z
    return refuse - rest
