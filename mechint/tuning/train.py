"""The training loops of :mod:`mechint.tuning`: supervised fine-tuning and DPO, full or LoRA (PEFT).

The loops are written here rather than run through TRL's ``SFTTrainer`` / ``DPOTrainer`` because of
the LM head: a causal LM's last layer projects every position onto the whole vocabulary (262,144
tokens for Gemma 3), while only the response positions carry loss. These loops run the decoder
stack alone and apply the LM head to the response positions only; TRL's fused head scores every
position on devices without Triton (CPUs), and recomputes the projection in its backward. Same data order, same
initialisation, same AdamW, linear schedule and gradient clipping as the Hugging Face ``Trainer``
defaults: ``benchmarks/bench_tuning.py`` checks that the losses agree with TRL's step by step and
measures the time of both.

DPO (Rafailov et al., arXiv 2305.18290) uses the same response-only head for the summed response
log-probabilities. The reference model is the starting model (for LoRA: the base with the adapters
off), frozen, so its log-probabilities are computed once before the first step rather than at every
step, and no frozen copy of the weights is kept.

Runs are deterministic on the CPU: the seed fixes the adapters' initialisation, the data order and
any dropout, without touching the caller's global random state.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..families import Family
from ..weights import WeightMask, freeze
from .config import LoraSpec, TuningConfig
from .data import TokenizedPair, TokenizedTriple

__all__ = ["TrainedModel", "Batch", "run_sft", "run_dpo", "lora_model", "merged", "response_logits", "pad_batch"]

StepCallback = Callable[[int, float], None]
"""Called after every optimizer step with the step number (from 1) and its loss."""


@dataclass
class TrainedModel:
    """What a training loop returns: the trained Hugging Face module (LoRA merged into its weights,
    in ``eval()`` mode), the loss of every step, and the seconds the loop took."""

    hf: nn.Module
    losses: list[float]
    seconds: float


@dataclass
class Batch:
    """Right-padded sequences: ``input_ids`` and ``attention_mask`` ``[batch, pos]``, and ``targets``
    ``[batch, pos - 1]``: the next token where it carries loss (a response token), ``-100`` elsewhere."""

    input_ids: Tensor
    attention_mask: Tensor
    targets: Tensor


def pad_batch(sequences: Sequence[tuple[Sequence[int], Sequence[int]]], pad_id: int, device: torch.device) -> Batch:
    """A :class:`Batch` of ``(prompt ids, response ids)`` sequences: loss on the response tokens only."""
    width = max(len(p) + len(r) for p, r in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    labels = torch.full((len(sequences), width), -100, dtype=torch.long)
    for i, (prompt, response) in enumerate(sequences):
        n = len(prompt) + len(response)
        ids[i, :n] = torch.tensor(list(prompt) + list(response))
        mask[i, :n] = 1
        labels[i, len(prompt) : n] = torch.tensor(list(response))
    return Batch(ids.to(device), mask.to(device), labels[:, 1:].to(device))


def lora_model(hf: nn.Module, config: TuningConfig) -> nn.Module:
    """``hf`` with LoRA adapters (a PEFT model, changed in place), or ``hf`` itself for full fine-tuning.
    Raises where the configured target modules are not in the model, naming the ones that are."""
    if config.lora is None:
        hf.requires_grad_(True)
        return hf
    from peft import LoraConfig, get_peft_model

    spec = cast(LoraSpec, config.lora)  # TuningConfig.__post_init__ made a dict a LoraSpec
    targets = list(spec.target_modules) if spec.target_modules is not None else "all-linear"
    conv1d = any(type(module).__name__ == "Conv1D" for module in hf.modules())  # GPT-2 stores weights [in, out]
    lora = LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,  # pyright: ignore[reportArgumentType]  # peft annotates int; a float scales alike
        lora_dropout=spec.dropout,
        target_modules=targets,
        bias="none",
        fan_in_fan_out=conv1d,
    )
    try:
        # PEFT asks transformers a question it deprecated (is_gradient_checkpointing): not the caller's business
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            return get_peft_model(hf, lora)
    except ValueError as err:
        if "not found" not in str(err) and "Target modules" not in str(err):
            raise
        linear = sorted(
            {
                name.rpartition(".")[2]
                for name, module in hf.named_modules()
                if isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"
            }
        )
        raise ValueError(
            f"LoRA target modules {targets} are not layers of this {type(hf).__name__}; its linear layers are named "
            f"{', '.join(linear)}. Name some of those in LoraSpec(target_modules=...), or leave it None for every "
            "linear layer of the decoder blocks."
        ) from None


class _Forward:
    """The decoder stack and the LM head of a (possibly PEFT-wrapped) causal LM, apart."""

    def __init__(self, trained: nn.Module, family: Family):
        # duck-typed: a PEFT wrapper or the Hugging Face model itself (nn.Module types attributes Tensor | Module)
        inner: Any = cast(Any, trained).get_base_model() if hasattr(trained, "get_base_model") else trained
        self.base = inner.get_submodule(family.base)
        self.head = inner.get_submodule(family.lm_head)
        text = inner.config.get_text_config() if hasattr(inner.config, "get_text_config") else inner.config
        self.softcap = getattr(text, "final_logit_softcapping", None)
        self.position_ids = "position_ids" in inspect.signature(self.base.forward).parameters

    def hidden(self, batch: Batch) -> Tensor:
        kwargs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask, "use_cache": False}
        if self.position_ids:
            kwargs["position_ids"] = (batch.attention_mask.cumsum(-1) - 1).clamp(min=0)
        out = self.base(**kwargs)
        return out[0] if isinstance(out, tuple) else out.last_hidden_state

    def logits(self, hidden: Tensor) -> Tensor:
        logits = self.head(hidden)
        if self.softcap is not None:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits


def response_logits(trained: nn.Module, family: Family, batch: Batch) -> tuple[Tensor, Tensor]:
    """``(logits [n, vocab], targets [n])`` at the positions that predict a response token only: the
    model's own logits there (LM head and any final soft-capping), without projecting the prompt."""
    forward = _Forward(trained, family)
    select = batch.targets != -100
    hidden = forward.hidden(batch)[:, :-1][select]
    return forward.logits(hidden), batch.targets[select]


def _batches(n: int, config: TuningConfig, generator: torch.Generator) -> Iterator[list[int]]:
    """Example indices of every step: each epoch a fresh permutation, cut into ``batch_size`` chunks
    (the last one smaller when ``batch_size`` does not divide ``n``)."""
    for _ in range(config.epochs):
        order = torch.randperm(n, generator=generator).tolist()
        for start in range(0, n, config.batch_size):
            yield order[start : start + config.batch_size]


def _optimizer(trained: nn.Module, config: TuningConfig, total_steps: int):
    from transformers import get_linear_schedule_with_warmup

    params = [p for p in trained.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=config.lr, fused=config.fused or None)
    warmup = math.ceil(config.warmup_ratio * total_steps)
    return params, optimizer, get_linear_schedule_with_warmup(optimizer, warmup, total_steps)


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """The global torch random state seeded for the run, and restored afterwards."""
    devices = (
        [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    )
    with torch.random.fork_rng(devices=devices, device_type="cuda"):
        torch.manual_seed(seed)
        yield


def _autocast(config: TuningConfig, device: torch.device):
    if config.bf16:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def merged(trained: nn.Module) -> nn.Module:
    """The plain Hugging Face module of a trained model, LoRA adapters merged into its weights, in
    ``eval()`` mode (a full fine-tuning's module as it is)."""
    hf = cast(Any, trained).merge_and_unload() if hasattr(trained, "merge_and_unload") else trained  # PEFT's
    return hf.eval()


def _loop(
    trained: nn.Module,
    config: TuningConfig,
    n_examples: int,
    loss_of: Callable[[list[int]], Tensor],
    *,
    desc: str,
    progress: bool,
    on_step: StepCallback | None,
    device: torch.device,
    frozen: WeightMask | None = None,
) -> list[float]:
    from tqdm.auto import tqdm

    steps_per_epoch = math.ceil(n_examples / config.batch_size)
    total = steps_per_epoch * config.epochs
    params, optimizer, schedule = _optimizer(trained, config, total)
    generator = torch.Generator().manual_seed(config.seed)
    losses: list[float] = []
    trained.train()
    # masked entries: zero gradients, and their values written back after every optimizer step
    held = freeze(trained, frozen, optimizer=optimizer) if frozen is not None else contextlib.nullcontext()
    with held, tqdm(total=total, desc=desc, unit="step", disable=not progress) as bar:
        for indices in _batches(n_examples, config, generator):
            with _autocast(config, device):
                loss = loss_of(indices)
            loss.backward()
            if config.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
            if on_step is not None:
                on_step(len(losses), losses[-1])
    return losses


def run_sft(
    hf: nn.Module,
    family: Family,
    examples: Sequence[TokenizedPair],
    config: TuningConfig,
    *,
    pad_id: int,
    progress: bool = True,
    on_step: StepCallback | None = None,
    frozen: WeightMask | None = None,
) -> TrainedModel:
    """Supervised fine-tuning of ``hf`` (changed in place; pass a copy) on tokenized pairs: the mean
    cross-entropy of the response tokens of each batch. ``frozen``: entries of ``hf`` held at their
    starting values (full fine-tuning only; :func:`mechint.weights.freeze`)."""
    device = next(hf.parameters()).device
    start = time.perf_counter()
    with _seeded(config.seed, device):
        trained = lora_model(hf, config)
        forward = _Forward(trained, family)

        def loss_of(indices: list[int]) -> Tensor:
            batch = pad_batch([(examples[i].prompt, examples[i].response) for i in indices], pad_id, device)
            select = batch.targets != -100
            logits = forward.logits(forward.hidden(batch)[:, :-1][select])
            return F.cross_entropy(logits.float(), batch.targets[select])

        losses = _loop(
            trained,
            config,
            len(examples),
            loss_of,
            desc="sft",
            progress=progress,
            on_step=on_step,
            device=device,
            frozen=frozen,
        )
    return TrainedModel(merged(trained), losses, time.perf_counter() - start)


def _sequence_logps(forward: _Forward, batch: Batch) -> Tensor:
    """Summed log-probability of each row's response tokens ``[batch]``."""
    select = batch.targets != -100
    logits = forward.logits(forward.hidden(batch)[:, :-1][select])
    token_logps = -F.cross_entropy(logits.float(), batch.targets[select], reduction="none")
    rows = select.nonzero()[:, 0]
    return torch.zeros(select.shape[0], device=token_logps.device).index_add(0, rows, token_logps)


def _triples_batch(examples: Sequence[TokenizedTriple], indices: list[int], pad_id: int, device) -> Batch:
    """The chosen responses of ``indices``, then their rejected ones, in one batch."""
    chosen = [(examples[i].prompt, examples[i].chosen) for i in indices]
    rejected = [(examples[i].prompt, examples[i].rejected) for i in indices]
    return pad_batch(chosen + rejected, pad_id, device)


def run_dpo(
    hf: nn.Module,
    family: Family,
    examples: Sequence[TokenizedTriple],
    config: TuningConfig,
    *,
    pad_id: int,
    progress: bool = True,
    on_step: StepCallback | None = None,
    frozen: WeightMask | None = None,
) -> TrainedModel:
    """DPO of ``hf`` (changed in place; pass a copy) on tokenized triples, sigmoid loss with
    ``config.beta``, against the starting model as the frozen reference. ``frozen`` as in :func:`run_sft`."""
    from tqdm.auto import tqdm

    device = next(hf.parameters()).device
    start = time.perf_counter()
    with _seeded(config.seed, device):
        trained = lora_model(hf, config)
        forward = _Forward(trained, family)
        reference = torch.empty(len(examples), 2, device=device)
        trained.eval()
        adapters_off = (
            cast(Any, trained).disable_adapter() if hasattr(trained, "disable_adapter") else contextlib.nullcontext()
        )  # PEFT's
        chunks = range(0, len(examples), config.batch_size)
        with torch.no_grad(), adapters_off, _autocast(config, device):
            for s in tqdm(chunks, desc="dpo reference", unit="batch", disable=not progress):
                indices = list(range(s, min(s + config.batch_size, len(examples))))
                logps = _sequence_logps(forward, _triples_batch(examples, indices, pad_id, device))
                reference[indices] = torch.stack(logps.chunk(2), dim=1).float()

        def loss_of(indices: list[int]) -> Tensor:
            logps = _sequence_logps(forward, _triples_batch(examples, indices, pad_id, device))
            chosen, rejected = logps.chunk(2)
            ref = reference[indices]
            margin = (chosen - ref[:, 0]) - (rejected - ref[:, 1])
            return -F.logsigmoid(config.beta * margin).mean()

        losses = _loop(
            trained,
            config,
            len(examples),
            loss_of,
            desc="dpo",
            progress=progress,
            on_step=on_step,
            device=device,
            frozen=frozen,
        )
    return TrainedModel(merged(trained), losses, time.perf_counter() - start)
