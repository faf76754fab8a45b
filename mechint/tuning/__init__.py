"""Tuning: supervised fine-tuning and DPO of any model :func:`mechint.load_model` loads, full or
LoRA, cached.

:func:`sft` trains on (prompt, response) pairs and :func:`dpo` on (prompt, chosen, rejected)
triples, chat-formatted with the model's template (or one given for a base model, saved with the
result), loss on the response tokens only. A copy is trained, seeded and deterministic on the CPU;
the result is a plain Hugging Face folder (LoRA merged into the weights) that
``mechint.load_model(str(result.path))`` reads, cached under ``cache_root()/tuned/`` with a manifest
of what it was built from (base weights and data digests, hyperparameters, chat template, library
versions), so an identical request is built once and then reused, and an interrupted run leaves
nothing half-written behind (:func:`mechint.embedded.cached_folder`).

:func:`attack` is a fine-tuning attack (:func:`sft` on a few harmful instructions with compliant
responses from :func:`compliant_pairs`, full fine-tuning, optionally with entries frozen).

LoRA comes from PEFT; the training loops are mechint's own, because they project only the response
positions through the LM head (see :mod:`mechint.tuning.train` and ``benchmarks/bench_tuning.py``).
"""

from __future__ import annotations

from . import cache, config, data, train
from .attack import ATTACK_CONFIG, attack, compliant_pairs
from .config import LoraSpec, TuningConfig
from .tune import TuningResult, dpo, sft

__all__ = [
    "ATTACK_CONFIG",
    "LoraSpec",
    "TuningConfig",
    "TuningResult",
    "attack",
    "cache",
    "compliant_pairs",
    "config",
    "data",
    "dpo",
    "sft",
    "train",
]
