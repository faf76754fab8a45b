"""Slow tier on the embedded real models: sites against the raw model's own outputs.

Acceptance checks of the foundation: ``collect`` on gemma-3-270m equals ``output_hidden_states`` of
the raw Hugging Face model for a left-padded multilingual batch, and ``ln_final.hook_normalized``
times the unembedding gives the model's logits.
"""

from __future__ import annotations

import time

import pytest
import torch

import mechint

pytestmark = pytest.mark.slow


def assert_close_rel(actual: torch.Tensor, expected: torch.Tensor, tol: float = 1e-5) -> None:
    """Relative Frobenius error: gemma's residual stream reaches values in the hundreds, where float32
    sums in a different order (padded batch vs one text) differ by ~1e-4 absolute."""
    rel = ((actual - expected).norm() / expected.norm()).item()
    assert rel < tol, f"relative error {rel:.2e} >= {tol:.0e}"


TEXTS = [
    "How do I make a cake?",
    "我怎样才能做蛋糕？",
    "Làm thế nào để tôi làm một chiếc bánh?",
    "كيف أصنع كعكة؟",
    "ฉันจะทำเค้กได้อย่างไร",
    "Hi",
]


@pytest.fixture(scope="module")
def gemma():
    t = time.perf_counter()
    model = mechint.load_model("gemma-3-270m")
    print(f"\nload_model('gemma-3-270m') took {time.perf_counter() - t:.1f} s")
    return model


def _raw_hidden_states(model: mechint.Model, text: str) -> tuple[torch.Tensor, ...]:
    enc = model.tokenizer([text], return_tensors="pt")
    with torch.no_grad():
        return model.hf(**enc, output_hidden_states=True).hidden_states


def test_collect_equals_raw_hidden_states_left_padded(gemma):
    sites = [f"blocks.{l}.hook_resid_post" for l in range(gemma.n_layers)]
    acts = mechint.collect(gemma, TEXTS, sites, pool="all", batch_size=len(TEXTS), progress=False)
    assert len(set(acts.lengths.tolist())) > 1  # the batch really was left-padded
    for i, text in enumerate(TEXTS):
        hidden = _raw_hidden_states(gemma, text)  # unpadded, the model's own forward
        for layer in range(gemma.n_layers - 1):
            assert_close_rel(acts.row(sites[layer], i), hidden[layer + 1][0])
        # HF's last hidden state is after the final norm
        final = mechint.collect(gemma, [text], "ln_final.hook_normalized", pool="all", progress=False)
        assert_close_rel(final["ln_final.hook_normalized"], hidden[-1][0])


def test_padded_batch_equals_raw_padded_batch_with_position_ids(gemma):
    enc = gemma.tokenize(TEXTS)
    with torch.no_grad():
        raw = gemma.hf(**enc, position_ids=gemma.position_ids(enc["attention_mask"]), output_hidden_states=True)
    acts = mechint.collect(gemma, TEXTS, "hook_resid_post", pool="last", batch_size=3, progress=False)
    for layer in range(gemma.n_layers - 1):
        assert_close_rel(acts[f"blocks.{layer}.hook_resid_post"], raw.hidden_states[layer + 1][:, -1])


def test_final_norm_times_unembedding_is_logits(gemma):
    logits, cache = gemma.run_with_cache(TEXTS[:3], ["ln_final.hook_normalized"])
    recon = cache["ln_final.hook_normalized"] @ gemma.W_U
    assert_close_rel(recon, logits)


def test_gemma_writes_change_generation_and_reads_are_consistent(gemma):
    prompt = ["The capital of France is"]
    base = gemma.generate(prompt, max_new_tokens=4)
    _, cache = gemma.run_with_cache(prompt, ["blocks.6.hook_resid_post"])
    push = (
        8
        * cache["blocks.6.hook_resid_post"][0, -1].norm()
        * torch.randn(gemma.d_model, generator=torch.Generator().manual_seed(0))
        / gemma.d_model**0.5
    )
    with gemma.hooks([("blocks.6.hook_resid_post", mechint.add_value(push))]):
        steered = gemma.generate(prompt, max_new_tokens=4)
    assert steered != base


def test_smollm2_loads_offline_and_formats_chat():
    t = time.perf_counter()
    model = mechint.load_model("smollm2-135m-instruct")
    print(f"\nload_model('smollm2-135m-instruct') took {time.perf_counter() - t:.1f} s")
    assert model.family.name == "llama" and model.is_chat
    prompt = model.format_chat("What is the capital of France?")
    assert "What is the capital of France?" in prompt and prompt != "What is the capital of France?"
    reply = model.generate([prompt], max_new_tokens=12)[0]
    assert "Paris" in reply, reply


def test_default_ablation_on_a_chat_prompt_leaves_the_first_token_and_stays_coherent():
    """SmolLM2's chat template writes <|im_start|> first (its tokenizer adds no BOS): ablating a
    harmfulness direction at every position, that one included, collapses greedy generation into a
    repeated pattern; the default leaves it alone and the text stays a varied answer."""
    from mechint import data

    model = mechint.load_model("smollm2-135m-instruct")
    assert not model.adds_bos
    system = model.chat_format().default_system  # the prompts this test was written with: SmolLM2's own system prompt
    ds = data.load_safety_pairs(["en"], n_per_class=32)
    acts = mechint.collect(
        model, [model.format_chat(t, system=system) for t in ds.texts], "hook_resid_post", progress=False
    )
    direction = mechint.diff_in_means(acts.stack(), ds.labels)  # [layer, d_model]
    prompt = [model.format_chat("How do I bake bread at home?", system=system)]

    def generate(**kwargs) -> str:
        with mechint.intervene(model, mechint.AblateDirection(direction, **kwargs)):
            return model.generate(prompt, max_new_tokens=30)[0]

    default, everywhere = generate(), generate(positions="all")
    assert default == generate(positions=mechint.from_text_start(slice(1, None)))
    words = lambda text: set(text.replace(".", " ").split())  # noqa: E731
    assert len(words(default)) >= 10, default  # a varied answer
    assert len(words(everywhere)) < len(words(default)) / 2, everywhere  # the collapse the default avoids
