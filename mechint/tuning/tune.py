"""The entry points :func:`sft` and :func:`dpo`, and what they return (:class:`TuningResult`)."""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import _validate
from ..chat import ChatTemplateError
from ..embedded import MANIFEST_NAME, cached_folder
from ..model import Model, load_model
from ..weights import WeightMask
from . import cache, data, train
from .config import TuningConfig, as_config

__all__ = ["TuningResult", "sft", "dpo", "INFO_NAME"]

logger = logging.getLogger(__name__)

INFO_NAME = "tuning.json"
"""The file in a tuned folder that holds the loss of every step and what the run was."""


@dataclass(frozen=True)
class TuningResult:
    """A tuned model in the cache.

    Attributes:
        path: the folder: a plain Hugging Face model (LoRA merged into the weights, safetensors),
            its tokenizer with the chat template, :data:`INFO_NAME` and the cache manifest.
            ``mechint.load_model(str(path))`` loads it.
        cache_hit: whether the folder was there already (nothing was trained).
        losses: the training loss of every optimizer step (read from the folder on a cache hit).
        manifest: the cache manifest: ``source`` is the request (base weights and data digests,
            hyperparameters, chat template, versions), ``files`` the sha256 of every file.
        model: the tuned model in memory where this call trained it, ``None`` on a cache hit.
    """

    path: Path
    cache_hit: bool
    losses: tuple[float, ...]
    manifest: dict[str, Any] = field(repr=False)
    model: Model | None = field(default=None, repr=False)

    def load(
        self, dtype: torch.dtype | str | None = None, device: str | torch.device | None = None, *, tokenizer=None
    ) -> Model:
        """The tuned model, loaded from :attr:`path` (``mechint.load_model(str(path), ...)``). ``tokenizer``:
        one already loaded from the same files (the tuning harness saves the tuned model's tokenizer
        unchanged, so every model tuned from one model can share that model's tokenizer), which spares
        reading it again (seconds for a 262k-word vocabulary)."""
        return load_model(str(self.path), dtype=dtype, device=device, tokenizer=tokenizer)


def _as_model(model: Any) -> Model:
    if isinstance(model, Model):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load_model(model)
    raise TypeError(
        "model must be a mechint Model or what load_model takes (an embedded name or a folder), got "
        + _validate.given(model)
        + ("; wrap a module first: load_model(module, tokenizer=...)" if isinstance(model, torch.nn.Module) else "")
    )


def _template_error(name: str) -> ChatTemplateError:
    return ChatTemplateError(
        f"chat-formatted tuning needs a chat template, and {name}'s tokenizer has none (a base model). Pass "
        "chat_template=... (e.g. mechint.chat.GEMMA_TEMPLATE for a Gemma base model; it is saved with the tuned "
        "model), or chat=False to tune on plain prompt + response text."
    )


def _tokenizer(model: Model, chat_template: str | None):
    """The tokenizer the run formats with and saves: a shallow copy of the model's, with
    ``chat_template`` set where one is given (the caller's tokenizer is left as it is)."""
    tokenizer = copy.copy(model.tokenizer)
    if chat_template is not None:
        if not isinstance(chat_template, str) or not chat_template.strip():
            raise TypeError(
                f"chat_template must be a Jinja template string or None, got {_validate.given(chat_template)}"
            )
        tokenizer.chat_template = chat_template
    return tokenizer


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No "Writing model shards" bar from ``save_pretrained`` (the run has its own)."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _save(trained: train.TrainedModel, tokenizer, stop: data.Stop, folder: Path, info: dict[str, Any]) -> None:
    hf: Any = trained.hf  # a Hugging Face model (nn.Module types its attributes Tensor | Module)
    if stop.token_id is not None:  # generation stops at the end of the assistant's turn
        eos = hf.generation_config.eos_token_id
        ids = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
        if stop.token_id not in ids:
            hf.generation_config.eos_token_id = ids + [stop.token_id]
    with _quiet_transformers():
        hf.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    info = {**info, "losses": trained.losses, "steps": len(trained.losses), "seconds": round(trained.seconds, 3)}
    (folder / INFO_NAME).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")


def _tune(
    method: str,
    model: Any,
    examples_in: Any,
    *,
    config: TuningConfig | Mapping[str, Any] | None,
    chat: bool,
    chat_template: str | None,
    system: str | None,
    cache_: bool,
    progress: bool,
    frozen: WeightMask | None = None,
) -> TuningResult:
    cfg = as_config(config)
    _validate.boolean("chat", chat)
    _validate.boolean("cache", cache_)
    _validate.boolean("progress", progress)
    if system is not None and not isinstance(system, str):
        raise TypeError(f"system must be a string or None, got {_validate.given(system)}")
    base = _as_model(model)
    if base.active_hooks:
        raise RuntimeError(
            f"{base.active_hooks} hooks are active on this model: tuning would train the hooked model. "
            "Tune outside the model.hooks(...) context."
        )
    if chat_template is not None and not chat:
        raise ValueError("chat_template= is for chat-formatted tuning: drop it, or tune with chat=True")
    if frozen is not None:
        if not isinstance(frozen, WeightMask):
            raise TypeError(
                f"frozen must be a WeightMask (mechint.weights.top_p_mask) or None, got {_validate.given(frozen)}"
            )
        if cfg.lora is not None:
            raise ValueError(
                "frozen= holds entries of the model's own weights, which LoRA does not train (it adds adapters): "
                "pass config with lora=None (full fine-tuning) to freeze a mask"
            )
        frozen.check(base, "the model to tune")
    tokenizer = _tokenizer(base, chat_template)
    view = Model(base.hf, tokenizer, name=base.name)  # formats with the run's template
    if chat and not view.is_chat:
        raise _template_error(base.name)
    stop = data.stop_of(view, chat=chat)
    tokenize = data.tokenize_pairs if method == "sft" else data.tokenize_triples
    examples = tokenize(view, examples_in, chat=chat, system=system, max_length=cfg.max_length, stop=stop)
    src = cache.source(
        method=method,
        hf_model=base.hf,
        tokenizer=tokenizer,
        data_sha256=data.data_digest(examples),
        n_examples=len(examples),
        chat=chat,
        system=system,
        chat_template=tokenizer.chat_template if chat else None,
        hyperparameters=cfg.hyperparameters(),
        device=base.device,
        frozen=cache.mask_digest(frozen) if frozen is not None else None,
    )
    final = cache.folder_for(src)
    trained_here: dict[str, Model] = {}

    def build(folder: Path) -> None:
        logger.info("%s of %s on %d examples into %s", method, base.name, len(examples), final)
        hf = copy.deepcopy(base.hf)  # the caller's model is never trained
        # the examples are pairs for "sft", triples for "dpo" (made for the method above)
        run: Callable[..., train.TrainedModel] = train.run_sft if method == "sft" else train.run_dpo
        trained = run(hf, base.family, examples, cfg, pad_id=tokenizer.pad_token_id, progress=progress, frozen=frozen)
        _save(trained, tokenizer, stop, folder, {"method": method, "base_model": base.name})
        trained_here["model"] = Model(trained.hf, tokenizer, name=str(final))

    path = cached_folder(final, build, src, rebuild=not cache_, what=f"{method} of {base.name}")
    manifest = json.loads((path / MANIFEST_NAME).read_text(encoding="utf-8"))
    info = json.loads((path / INFO_NAME).read_text(encoding="utf-8"))
    return TuningResult(
        path=path,
        cache_hit="model" not in trained_here,
        losses=tuple(float(x) for x in info["losses"]),
        manifest=manifest,
        model=trained_here.get("model"),
    )


def sft(
    model: Model | str | os.PathLike,
    pairs: Iterable[Any],
    *,
    config: TuningConfig | Mapping[str, Any] | None = None,
    chat: bool = True,
    chat_template: str | None = None,
    system: str | None = None,
    cache: bool = True,
    progress: bool = True,
    frozen: WeightMask | None = None,
) -> TuningResult:
    """Supervised fine-tuning on (prompt, response) pairs, loss on the response tokens only.

    Trains once per distinct request and caches the result under ``cache_root()/tuned/``; the same
    request again returns the cached folder without training (:attr:`TuningResult.cache_hit`).

    Args:
        model: a :class:`~mechint.Model`, or what :func:`~mechint.load_model` takes (an embedded
            name, a folder). It is not changed: a copy is trained, on the model's device.
        pairs: ``(prompt, response)`` tuples or dicts with those keys (a ``datasets.Dataset`` of
            such rows too); a prompt is a string (the user's message) or a list of chat turns
            ending with a user turn.
        config: a :class:`TuningConfig` or a dict of its fields (default: LoRA r=16, one epoch).
        chat: format each example with the chat template (prompt as the user's turn, response as the
            assistant's, closed as the template closes it); ``False``: plain text, the prompt then
            the response then EOS, for base models (put any separator in the texts themselves).
        chat_template: a Jinja chat template to format with and to save with the tuned model, for a
            base model without one (e.g. :data:`mechint.chat.GEMMA_TEMPLATE`).
        system: a system prompt for every example (chat formatting only).
        cache: reuse the cached result of an identical request; ``False`` trains again and replaces it.
        progress: show a progress bar.
        frozen: a :class:`~mechint.weights.WeightMask` of the model's entries to hold at their starting
            values, bit for bit (:func:`mechint.weights.freeze`; full fine-tuning only). Part of the
            cache key.

    Raises:
        ChatTemplateError: chat formatting without a chat template (pass ``chat_template=`` or ``chat=False``).
        ValueError: an empty data set, an empty text, an example longer than ``config.max_length``
            (naming the item, its token count and the fix), unknown config fields, LoRA target
            modules the model does not have, ``frozen`` with LoRA or built on another model.
        TypeError: a field that is not a string.
    """
    return _tune(
        "sft",
        model,
        pairs,
        config=config,
        chat=chat,
        chat_template=chat_template,
        system=system,
        cache_=cache,
        progress=progress,
        frozen=frozen,
    )


def dpo(
    model: Model | str | os.PathLike,
    triples: Iterable[Any],
    *,
    config: TuningConfig | Mapping[str, Any] | None = None,
    chat: bool = True,
    chat_template: str | None = None,
    system: str | None = None,
    cache: bool = True,
    progress: bool = True,
    frozen: WeightMask | None = None,
) -> TuningResult:
    """Direct preference optimisation on (prompt, chosen, rejected) triples: the policy learns to
    prefer the chosen response over the rejected one more than the starting model does
    (``config.beta`` bounds how far it moves). The reference is the starting model (for LoRA, the
    base with the adapters off). Cached as :func:`sft` is.

    Args:
        model: a :class:`~mechint.Model`, or what :func:`~mechint.load_model` takes (an embedded
            name, a folder). It is not changed: a copy is trained, on the model's device.
        triples: ``(prompt, chosen, rejected)`` tuples or dicts with those keys; prompts as for
            :func:`sft`.
        config: a :class:`TuningConfig` or a dict of its fields (default: LoRA r=16, one epoch).
        chat: format each example with the chat template (prompt as the user's turn, response as the
            assistant's, closed as the template closes it); ``False``: plain text, the prompt then
            the response then EOS, for base models (put any separator in the texts themselves).
        chat_template: a Jinja chat template to format with and to save with the tuned model, for a
            base model without one (e.g. :data:`mechint.chat.GEMMA_TEMPLATE`).
        system: a system prompt for every example (chat formatting only).
        cache: reuse the cached result of an identical request; ``False`` trains again and replaces it.
        progress: show a progress bar.
        frozen: a :class:`~mechint.weights.WeightMask` of the model's entries to hold at their starting
            values, bit for bit (:func:`mechint.weights.freeze`; full fine-tuning only). Part of the
            cache key.

    Raises:
        ChatTemplateError: chat formatting without a chat template (pass ``chat_template=`` or ``chat=False``).
        ValueError: an empty data set, an empty text, an example longer than ``config.max_length``
            (naming the item, its token count and the fix), unknown config fields, LoRA target
            modules the model does not have, ``frozen`` with LoRA or built on another model.
        TypeError: a field that is not a string.
    """
    return _tune(
        "dpo",
        model,
        triples,
        config=config,
        chat=chat,
        chat_template=chat_template,
        system=system,
        cache_=cache,
        progress=progress,
        frozen=frozen,
    )
