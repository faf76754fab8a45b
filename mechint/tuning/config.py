"""The hyperparameters of a tuning run: :class:`TuningConfig` and its LoRA part, :class:`LoraSpec`.

Both are frozen dataclasses: a request is a value, and the cache key of a tuned model is built from
it (:mod:`mechint.tuning.cache`), so two equal configurations always name the same cached folder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from .. import _validate
from .._suggest import did_you_mean, nearest

__all__ = ["LoraSpec", "TuningConfig", "as_config", "DEFAULT_LORA_LEARNING_RATE", "DEFAULT_FULL_LEARNING_RATE"]

DEFAULT_LORA_LEARNING_RATE = 2e-4
"""The learning rate of a LoRA run that names none: adapters start at zero and need large steps."""

DEFAULT_FULL_LEARNING_RATE = 1e-5
"""The learning rate of a full fine-tuning run that names none: every weight moves, so small steps."""


def _unknown_fields(cls: type, given: Mapping[str, Any]) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    for key in given:
        if key not in names:
            hint = did_you_mean(nearest(str(key), names, n=1))
            raise ValueError(f"unknown {cls.__name__} field {key!r}{hint}; its fields: {', '.join(names)}")


@dataclass(frozen=True)
class LoraSpec:
    """LoRA adapters (trained through PEFT, merged into the weights when saved).

    Attributes:
        r: rank of each adapter.
        alpha: scale numerator: an adapter adds ``(alpha / r) * B @ A`` to its weight.
        dropout: dropout on the adapters' input during training (0: the run is deterministic
            without any random draw after initialisation).
        target_modules: names of the layers that get adapters (``("q_proj", "v_proj")``: the last
            part of a module's name); ``None``: every linear layer of the decoder blocks (attention
            and MLP, PEFT's ``"all-linear"``), which works for every family.
    """

    r: int = 16
    alpha: float = 32.0
    dropout: float = 0.0
    target_modules: Sequence[str] | None = None

    def __post_init__(self) -> None:
        _validate.integer("LoraSpec.r", self.r, minimum=1)
        object.__setattr__(self, "alpha", _validate.number("LoraSpec.alpha", self.alpha, low=0, low_open=True))
        dropout = _validate.number("LoraSpec.dropout", self.dropout, low=0)
        if dropout is not None and dropout >= 1:
            raise ValueError(f"LoraSpec.dropout must be in [0, 1), got {self.dropout!r}")
        object.__setattr__(self, "dropout", dropout)
        targets = self.target_modules
        if targets is not None:
            if isinstance(targets, str):
                targets = (targets,)
            if (
                not isinstance(targets, (list, tuple))
                or not targets
                or not all(isinstance(t, str) and t for t in targets)
            ):
                raise TypeError(
                    "LoraSpec.target_modules must be None (every linear layer) or a non-empty list of module "
                    f"names such as ('q_proj', 'v_proj'), got {_validate.given(self.target_modules)}"
                )
            object.__setattr__(self, "target_modules", tuple(targets))

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> LoraSpec:
        """A :class:`LoraSpec` from a mapping of its fields; unknown names are refused."""
        _unknown_fields(cls, spec)
        return cls(**spec)


@dataclass(frozen=True)
class TuningConfig:
    """Hyperparameters of a supervised fine-tuning (:func:`~mechint.tuning.sft`) or DPO
    (:func:`~mechint.tuning.dpo`) run.

    Attributes:
        lora: LoRA adapters (:class:`LoraSpec`), or ``None`` for full fine-tuning of every weight.
        epochs: passes over the training set.
        learning_rate: AdamW's peak learning rate, decayed linearly to 0 over the run; ``None``:
            :data:`DEFAULT_LORA_LEARNING_RATE` with LoRA, :data:`DEFAULT_FULL_LEARNING_RATE` without.
        batch_size: examples per optimizer step (a DPO example is a chosen and a rejected response).
        max_length: the most tokens one example may have, prompt and response together. Longer
            examples are refused, never truncated (a cut response would teach the model to stop
            mid-sentence, or not at all).
        seed: seeds the adapters' initialisation, the data order and any dropout.
        weight_decay: AdamW's decoupled weight decay, on matrices only (not on norms or biases).
        warmup_ratio: fraction of the steps over which the learning rate rises linearly from 0.
        max_grad_norm: clip the gradient's global norm to this; ``None``: no clipping.
        beta: DPO's inverse temperature: how far the policy may move from the reference (ignored by SFT).
        bf16: run the forward and backward under bfloat16 autocast (weights and optimizer state stay
            in their dtype). Faster on GPUs and on CPUs with bfloat16 instructions; results differ from
            a float32 run within bfloat16 rounding.
        fused: torch's fused AdamW kernel (``torch.optim.AdamW(fused=True)``): the same update up to
            float rounding, in one pass over each parameter instead of a dozen. Worth it for full
            fine-tuning, where the optimizer step over every weight is a large part of a step on a CPU;
            with LoRA the step is small either way. Part of the cache key only when set.
    """

    lora: LoraSpec | Mapping[str, Any] | None = field(default_factory=LoraSpec)
    epochs: int = 1
    learning_rate: float | None = None
    batch_size: int = 8
    max_length: int = 512
    seed: int = 0
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    max_grad_norm: float | None = 1.0
    beta: float = 0.1
    bf16: bool = False
    fused: bool = False

    def __post_init__(self) -> None:
        lora = self.lora
        if isinstance(lora, Mapping):
            lora = LoraSpec.from_dict(lora)
        if lora is not None and not isinstance(lora, LoraSpec):
            raise TypeError(
                "TuningConfig.lora must be a LoraSpec, a dict of its fields, or None (full fine-tuning), got "
                + _validate.given(lora)
            )
        object.__setattr__(self, "lora", lora)
        _validate.integer("TuningConfig.epochs", self.epochs, minimum=1)
        object.__setattr__(
            self,
            "learning_rate",
            _validate.number("TuningConfig.learning_rate", self.learning_rate, low=0, low_open=True, optional=True),
        )
        _validate.integer("TuningConfig.batch_size", self.batch_size, minimum=1)
        _validate.integer("TuningConfig.max_length", self.max_length, minimum=2)
        _validate.integer("TuningConfig.seed", self.seed, minimum=0)
        object.__setattr__(
            self, "weight_decay", _validate.number("TuningConfig.weight_decay", self.weight_decay, low=0)
        )
        warmup = _validate.number("TuningConfig.warmup_ratio", self.warmup_ratio, low=0)
        if warmup is not None and warmup >= 1:
            raise ValueError(f"TuningConfig.warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        object.__setattr__(self, "warmup_ratio", warmup)
        object.__setattr__(
            self,
            "max_grad_norm",
            _validate.number("TuningConfig.max_grad_norm", self.max_grad_norm, low=0, low_open=True, optional=True),
        )
        object.__setattr__(self, "beta", _validate.number("TuningConfig.beta", self.beta, low=0, low_open=True))
        _validate.boolean("TuningConfig.bf16", self.bf16)
        _validate.boolean("TuningConfig.fused", self.fused)

    @property
    def lr(self) -> float:
        """The learning rate this run uses (:attr:`learning_rate`, or its default for LoRA / full)."""
        if self.learning_rate is not None:
            return self.learning_rate
        return DEFAULT_LORA_LEARNING_RATE if self.lora is not None else DEFAULT_FULL_LEARNING_RATE

    def hyperparameters(self) -> dict[str, Any]:
        """Every field as JSON-able values, the learning rate resolved: what the cache key holds, so a
        run that names the default learning rate and one that leaves it out share a folder."""
        out = dataclasses.asdict(self)
        out["learning_rate"] = self.lr
        lora = cast("LoraSpec | None", self.lora)  # __post_init__ made a dict a LoraSpec
        if lora is not None and lora.target_modules is not None:
            out["lora"]["target_modules"] = list(lora.target_modules)
        if not self.fused:  # runs cached before the field existed keep their key
            del out["fused"]
        return out


def as_config(config: TuningConfig | Mapping[str, Any] | None) -> TuningConfig:
    """``config`` as a :class:`TuningConfig`: one given, one built from a dict of its fields (unknown
    names refused, with the nearest valid one), or the defaults for ``None``."""
    if config is None:
        return TuningConfig()
    if isinstance(config, TuningConfig):
        return config
    if isinstance(config, Mapping):
        _unknown_fields(TuningConfig, config)
        return TuningConfig(**config)
    raise TypeError(f"config must be a TuningConfig, a dict of its fields or None, got {_validate.given(config)}")
