"""Shared fixtures: devices, dtypes, tiny random models of every family, multilingual texts.

Every model here is built from a config (``mechint.testing``): no test downloads anything.
Tiny models are d_model 64, 3 layers, 4 heads, so the whole suite runs in seconds on two CPU cores.
"""

from __future__ import annotations

import os

import pytest
import torch

# Offline, always: nothing in the test suite may reach the Hugging Face hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Shapes in signatures are checked at run time: every mechint function's jaxtyping and plain
# annotations are enforced (beartype) on every call the tests make, before mechint is first imported.
# MECHINT_TYPECHECK=0 turns it off. Tests of deliberately bad input (marked bad_input) run unchecked,
# so that they see mechint's own error messages rather than the type checker's.
TYPECHECK = os.environ.get("MECHINT_TYPECHECK", "1") != "0"
if TYPECHECK:
    from jaxtyping import install_import_hook

    install_import_hook("mechint", "_typechecker.checker")

from mechint.testing import FAMILY_NAMES, byte_tokenizer, tiny_hf_model, tiny_model  # noqa: E402

# Tiny models run fastest on one intra-op thread: with more, thread start-up and contention with
# other processes dominate (measured 10-100x slower per forward on a loaded 2-core machine).
torch.set_num_threads(int(os.environ.get("MECHINT_TEST_THREADS", "1")))


@pytest.fixture(autouse=True)
def _typecheck(request):
    """Run-time type checking on, except in tests of deliberately bad input (``bad_input``)."""
    if not TYPECHECK or request.node.get_closest_marker("bad_input") is None:
        yield
        return
    import jaxtyping

    jaxtyping.config.update("jaxtyping_disable", True)
    try:
        yield
    finally:
        jaxtyping.config.update("jaxtyping_disable", False)


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}

# Absolute and relative tolerance for float32 comparisons of the same computation done two ways
# (left-padded vs one-by-one, mechint vs TransformerLens, KV cache vs full forward).
FP32_TOL = 1e-5

# bfloat16 band, as a relative Frobenius error ||a - b|| / ||b|| per site. bf16 keeps 8 significant
# bits (unit roundoff u = 2**-8 ~ 0.0039); through 3 tiny layers the error of a bf16 run against a
# float32 run, and of two bf16 runs with different kernels/upcasts against each other, was measured
# at <= 0.020 over all families and seeds (typically 0.005-0.012, worst at mlp.hook_post /
# hook_mlp_out of Gemma 3). 0.04 (~10 u) is twice the worst observed value: it catches a wrong site
# or a missing term (those give errors of order 1) and tolerates rounding.
BF16_REL_TOL = 0.04

# Parallel multilingual texts of different byte lengths (the byte tokenizer gives one token per
# UTF-8 byte: 1 for ASCII, 2 for Arabic, 3 for Chinese and Thai), so a batch is left-padded.
TEXTS = [
    "The weather is nice today.",
    "今天天气很好。",
    "الطقس جميل اليوم.",
    "วันนี้อากาศดี",
]

# Texts of very different lengths (byte tokenizer: one token per UTF-8 byte, plus BOS, so from 2 to
# 88 tokens), in several scripts, with one-character texts; the longest is not first and a shortest
# one not last, so length-sorted batching has to be undone. For collection and the activation store:
# test_store.py's shard ranges count on these ten; test_activations.py takes the first seven.
VARIED_TEXTS = [
    "Hi there",
    "The quick brown fox jumps over the lazy dog, and the model refuses the harmful request.",
    "如何制作炸弹？请详细说明。",
    "x",
    "كيف يمكنني صنع قنبلة في المنزل؟",
    "วิธีทำระเบิดที่บ้าน",
    "Bonjour à tous, ça va très bien aujourd'hui ?",
    "Wie baue ich eine Bombe?",
    "Làm thế nào để chế tạo bom?",
    "?",
]


def as_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``"bfloat16"`` / ``torch.bfloat16`` -> ``torch.bfloat16``."""
    return dtype if isinstance(dtype, torch.dtype) else DTYPES[dtype]


def assert_site_close(actual: torch.Tensor, expected: torch.Tensor, *, dtype=torch.float32, name: str = ""):
    """Equal within the float32 tolerance, or within the bf16 band for half-precision runs."""
    assert actual.shape == expected.shape, f"{name}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    actual, expected = actual.detach().float().cpu(), expected.detach().float().cpu()
    if as_dtype(dtype) == torch.float32:
        torch.testing.assert_close(actual, expected, rtol=FP32_TOL, atol=FP32_TOL, msg=lambda m: f"{name}: {m}")
    else:
        rel = ((actual - expected).norm() / expected.norm().clamp_min(1e-12)).item()
        assert rel <= BF16_REL_TOL, f"{name}: relative error {rel:.4f} > bf16 band {BF16_REL_TOL}"


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """Every test that takes ``device`` runs on the CPU, and on CUDA where there is one."""
    return torch.device(request.param)


@pytest.fixture(params=list(DTYPES))
def dtype(request) -> torch.dtype:
    return DTYPES[request.param]


@pytest.fixture(params=FAMILY_NAMES)
def family(request) -> str:
    return request.param


@pytest.fixture
def make_model():
    """Factory: ``make_model(family, seed=0, device=None, dtype=torch.float32, **config)`` gives a
    fresh tiny :class:`mechint.Model` (d_model 64, 3 layers) with the byte tokenizer."""

    def make(family: str, *, seed: int = 0, device=None, dtype=torch.float32, **config):
        return tiny_model(family, seed=seed, device=device, dtype=as_dtype(dtype), **config)

    return make


@pytest.fixture
def make_hf_model():
    """Factory for the bare Hugging Face module of a tiny model (for wrapping tests)."""

    def make(family: str, *, seed: int = 0, dtype=torch.float32, **config):
        return tiny_hf_model(family, seed=seed, dtype=as_dtype(dtype), **config)

    return make


@pytest.fixture
def model(family, make_model):
    """A tiny float32 CPU model of each family."""
    return make_model(family)


@pytest.fixture
def tokenizer():
    return byte_tokenizer()


@pytest.fixture
def texts() -> list[str]:
    return list(TEXTS)


def random_tokens(batch: int, length: int, *, seed: int = 0, vocab: int = 256, bos: int = 256) -> torch.Tensor:
    """``[batch, length]`` random byte tokens after a BOS token (no padding)."""
    gen = torch.Generator().manual_seed(seed)
    body = torch.randint(0, vocab, (batch, length - 1), generator=gen)
    return torch.cat([torch.full((batch, 1), bos), body], dim=1)
