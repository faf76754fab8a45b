"""The identity of a tuning request, and where its result is cached.

A tuned model is stored once under ``cache_root()/tuned/<method>-<hash>/`` and reused by every later
request with the same identity (the manifest's ``source``, see :func:`source`): the base model's
weights and configuration, the tokenized training data, the chat template, the hyperparameters, the
device kind, and the versions of the libraries that compute the result. Any change there names
another folder, and so trains again.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..disk import cache_root

__all__ = ["FORMAT_VERSION", "weights_digest", "config_digest", "mask_digest", "source", "folder_for"]

FORMAT_VERSION = 1
"""Bumped when mechint.tuning changes what it trains or writes for the same request."""

# Config entries that say where a model came from or which library wrote it, not what it computes.
_CONFIG_NOISE = ("_name_or_path", "_model_name_or_path", "transformers_version", "_commit_hash", "architectures")


def _tensor_digest(tensor: torch.Tensor) -> str:
    data = tensor.detach()
    if data.device.type != "cpu":
        data = data.cpu()
    data = data.contiguous().reshape(-1).view(torch.uint8)
    # an ndarray is a buffer; typeshed's Buffer protocol matches numpy's stubs only from Python 3.12
    return hashlib.sha256(data.numpy()).hexdigest()  # pyright: ignore[reportArgumentType]  # hashlib releases the GIL: threads hash in parallel


def weights_digest(module: nn.Module) -> str:
    """sha256 over every tensor of ``module``'s state dict: names in order, dtypes, shapes and bytes.

    Tensors are hashed in parallel threads, each tied (shared) tensor once; the result depends only on
    the values, not on where the model was loaded from."""
    state = module.state_dict()
    unique: dict[tuple, torch.Tensor] = {}
    keys = {}
    for name, tensor in state.items():
        key = (
            tensor.untyped_storage().data_ptr(),
            tensor.storage_offset(),
            tensor.dtype,
            tuple(tensor.shape),
            tuple(tensor.stride()),
        )
        keys[name] = key
        unique.setdefault(key, tensor)
    with ThreadPoolExecutor(max_workers=min(8, max(1, torch.get_num_threads()))) as pool:
        digests = dict(zip(unique, pool.map(_tensor_digest, unique.values())))
    total = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name]
        total.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|{digests[keys[name]]}\n".encode())
    return total.hexdigest()


def config_digest(config: Any) -> str:
    """sha256 of a Hugging Face config's JSON, without the entries that only say where it came from."""
    data = config.to_dict()
    for key in _CONFIG_NOISE:
        data.pop(key, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def mask_digest(mask: Any) -> str:
    """sha256 of a :class:`~mechint.weights.WeightMask`: every parameter's name, shape and set entries
    (as packed bits), in order."""
    import numpy as np

    total = hashlib.sha256()
    for name, where in mask.items():
        bits = np.packbits(where.detach().reshape(-1).cpu().numpy())
        digest = hashlib.sha256(bits).hexdigest()  # pyright: ignore[reportArgumentType]  # an ndarray is a buffer (as above)
        total.update(f"{name}|{tuple(where.shape)}|{digest}\n".encode())
    return total.hexdigest()


def _versions() -> dict[str, str]:
    import peft
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}


def source(
    *,
    method: str,
    hf_model: nn.Module,
    tokenizer: Any,
    data_sha256: str,
    n_examples: int,
    chat: bool,
    system: str | None,
    chat_template: str | None,
    hyperparameters: dict[str, Any],
    device: torch.device,
    frozen: str | None = None,
) -> dict[str, Any]:
    """The JSON identity of a tuning request (the cache manifest's ``source``); ``frozen``: the
    :func:`mask_digest` of the entries held fixed, present only when some are."""
    out = {
        "kind": "mechint-tuning",
        "format_version": FORMAT_VERSION,
        "method": method,
        "base": {
            "weights_sha256": weights_digest(hf_model),
            "config_sha256": config_digest(hf_model.config),
            "model_type": getattr(hf_model.config, "model_type", None),
            "dtype": str(next(hf_model.parameters()).dtype).removeprefix("torch."),
        },
        "tokenizer": {
            "class": type(tokenizer).__name__,
            "vocab_size": len(tokenizer),
            "special_tokens": {k: str(v) for k, v in sorted(tokenizer.special_tokens_map.items())},
        },
        "data": {"sha256": data_sha256, "examples": n_examples, "chat": chat, "system": system},
        "chat_template": chat_template,
        "hyperparameters": hyperparameters,
        "device": device.type,
        "versions": _versions(),
    }
    if frozen is not None:
        out["frozen"] = frozen
    return out


def folder_for(src: dict[str, Any]) -> Path:
    """``cache_root()/tuned/<method>-<first 16 hex of the source's sha256>``."""
    key = hashlib.sha256(json.dumps(src, sort_keys=True).encode()).hexdigest()[:16]
    return cache_root() / "tuned" / f"{src['method']}-{key}"
