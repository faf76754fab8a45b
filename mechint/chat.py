"""Chat templates: a conversation as the text a chat model reads, and where its template tokens are.

A chat model's tokenizer carries a Jinja *chat template* that turns a list of turns
(``{"role": "system" | "user" | "assistant", "content": ...}``) into one string with the model's
role markers. :class:`ChatFormat` reads such a template once and keeps what the studies need:

- **No hidden system prompt.** Some templates write a default system prompt when the conversation
  has none (SmolLM2: "You are a helpful AI assistant named SmolLM...", Qwen2.5: "You are Qwen...").
  A study of what a model does with an instruction should not silently add one, so
  :meth:`ChatFormat.render` drops a system block the caller did not ask for.
- **Prefill.** Text the assistant's response starts with ("Sure, here is"), appended after the
  generation prompt: the model continues it.
- **Post-instruction tokens.** The template tokens after the user's text and before the response
  (Gemma: ``<end_of_turn>\\n<start_of_turn>model\\n``), where Arditi et al. (arXiv 2406.11717) read
  the refusal direction. Their number is a property of the template, so in a left-padded batch they
  are the same last columns of every row (:func:`mechint.from_prompt_end`).

Used through :meth:`mechint.Model.format_chat`, :meth:`~mechint.Model.chat_prompts` and
:meth:`~mechint.Model.post_instruction_positions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import _validate

__all__ = ["ChatFormat", "ChatTemplateError", "GEMMA_TEMPLATE", "Turn", "ROLES"]

ROLES = ("system", "user", "assistant")
Turn = Mapping[str, str]
"""One turn of a conversation: ``{"role": "system" | "user" | "assistant", "content": text}``."""

# Sentinels: texts no template writes, to find where a turn's content lands in a rendering.
_SYSTEM = "\u2063SYS\u2063mechint\u2063"
_USER = "\u2063USR\u2063mechint\u2063"
_ASSISTANT = "\u2063AST\u2063mechint\u2063"
_USER_2 = "\u2063US2\u2063mechint\u2063"


GEMMA_TEMPLATE = (
    "{{ bos_token }}{% set sys = '' %}{% if messages[0]['role'] == 'system' %}"
    "{% set sys = messages[0]['content'] + '\n\n' %}{% set messages = messages[1:] %}{% endif %}"
    "{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n"
    "{{ (sys if loop.first else '') + m['content'] | trim }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
"""The Gemma chat layout (``<start_of_turn>user\\n...<end_of_turn>\\n<start_of_turn>model\\n``, a system
prompt folded into the first user turn), for a Gemma base model tuned into a chat model by
:mod:`mechint.tuning` (the base model's tokenizer has no template)."""


class ChatTemplateError(ValueError):
    """A chat-format request the tokenizer cannot serve (no chat template, an unusable template)."""


def no_template_error(name: str, what: str) -> ChatTemplateError:
    return ChatTemplateError(
        f"{what} needs a chat template, and {name}'s tokenizer has none (it is a base model, not a chat "
        "model). Use an instruction-tuned model (e.g. load_model('gemma-3-270m-refusal-en') or "
        "'smollm2-135m-instruct'), set model.tokenizer.chat_template to a Jinja template, or pass the "
        "plain text without chat formatting."
    )


def check_turns(turns: str | Sequence[Turn]) -> list[dict[str, str]]:
    """``turns`` as a list of ``{"role", "content"}`` dicts: a string is one user turn."""
    if isinstance(turns, str):
        return [{"role": "user", "content": turns}]
    if isinstance(turns, Mapping) or not isinstance(turns, Sequence) or not turns:
        raise TypeError(
            "format_chat takes one user message (a string) or a non-empty list of turns "
            f'{{"role": ..., "content": ...}}; got {_validate.given(turns)}'
        )
    out = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, Mapping) or set(turn) - {"role", "content"} or "role" not in turn:
            raise TypeError(f'turn {i} must be a mapping {{"role": ..., "content": ...}}, got {_validate.given(turn)}')
        role = _validate.choice(f"turn {i} role", turn["role"], ROLES)
        content = turn.get("content")
        if not isinstance(content, str):
            raise TypeError(f"turn {i} content must be a string, got {_validate.given(content)}")
        out.append({"role": role, "content": content})
    if any(t["role"] == "system" for t in out[1:]):
        raise ValueError("a system turn may only come first")
    return out


@dataclass(frozen=True)
class ChatFormat:
    """What a tokenizer's chat template writes around the turns, read once from sentinel renderings.

    Attributes:
        default_system: the system prompt the template writes when the conversation has none
            (``""``: it writes none).
        lead: what the template writes before the first turn when there is no system block (a BOS
            text, or ``""``).
        user_header: what comes right before a user turn's text (``<start_of_turn>user\\n``).
        post_instruction: what comes after the last user turn's text up to where the response begins,
            with the generation prompt (``<end_of_turn>\\n<start_of_turn>model\\n``).
    """

    default_system: str
    lead: str
    user_header: str
    post_instruction: str
    bos: str | None

    @classmethod
    def read(cls, tokenizer: Any) -> ChatFormat:
        def render(turns, generation=True):
            return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=generation)

        user = [{"role": "user", "content": _USER}]
        plain = render(user)
        if _USER not in plain:
            raise ChatTemplateError("the chat template does not write the user's message: cannot use it")
        before_user, post = plain.split(_USER, 1)
        # The user header: what follows an assistant turn's end, minus that end (as in a second turn).
        two = render(
            [
                {"role": "user", "content": _USER},
                {"role": "assistant", "content": _ASSISTANT},
                {"role": "user", "content": _USER_2},
            ]
        )
        one = render([{"role": "user", "content": _USER}, {"role": "assistant", "content": _ASSISTANT}], False)
        between = two.split(_ASSISTANT, 1)[1].split(_USER_2, 1)[0] if _ASSISTANT in two else ""
        end = one.split(_ASSISTANT, 1)[1] if _ASSISTANT in one else ""
        header = between[len(end) :] if end and between.startswith(end) else ""
        if not header or not before_user.endswith(header):
            header = before_user  # a template without assistant turns: all before the text is header
        default_system = ""
        try:
            with_system = render([{"role": "system", "content": _SYSTEM}] + user)
        except Exception:  # templates that refuse system turns (Gemma 2) write no default either
            with_system = ""
        if _SYSTEM in with_system:
            sys_before, sys_after = with_system.split(_SYSTEM, 1)
            sys_after = sys_after.split(_USER, 1)[0]
            if (
                before_user.startswith(sys_before)
                and before_user.endswith(sys_after)
                and len(before_user) > len(sys_before) + len(sys_after)
            ):
                default_system = before_user[len(sys_before) : len(before_user) - len(sys_after)]
        bos = getattr(tokenizer, "bos_token", None)
        # Before a dropped system block, keep a BOS text the template writes first (Llama 3), but not
        # a BOS that is the role marker itself (SmolLM2's is <|im_start|>).
        lead = bos if bos and before_user.startswith(bos) and not header.startswith(bos) else ""
        if not default_system:
            lead = before_user[: len(before_user) - len(header)]
        return cls(default_system, lead, header, post, bos)

    def render(
        self,
        tokenizer: Any,
        turns: list[dict[str, str]],
        *,
        system: str | None,
        prefill: str | None,
        add_generation_prompt: bool,
    ) -> str:
        """The conversation as text: ``system`` first if given, no default system prompt otherwise,
        then the generation prompt and the ``prefill`` (which needs the generation prompt)."""
        if system is not None:
            if turns[0]["role"] == "system":
                raise ValueError("give the system prompt once: as system= or as the first turn, not both")
            turns = [{"role": "system", "content": system}] + turns
        if prefill is not None and not add_generation_prompt:
            raise ValueError("a prefill starts the assistant's response: it needs add_generation_prompt=True")
        if prefill is not None and turns[-1]["role"] == "assistant":
            raise ValueError("the conversation ends with an assistant turn: a prefill would start a second one")
        text = tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=add_generation_prompt)
        if self.default_system and turns[0]["role"] != "system":
            # drop the system block the template wrote on its own: keep the lead, start at the first user turn
            first = next((t["content"] for t in turns if t["role"] == "user"), None)
            start = -1 if first is None else text.find(self.user_header + first)
            if start < 0:
                raise ChatTemplateError("could not find the first user turn in the template's output")
            text = self.lead + text[start:]
        return text + (prefill or "")
