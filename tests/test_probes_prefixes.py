"""Prefixes for early prediction: the sentence splitter in many scripts, token fractions, and
prefix activations equal to running each prefix on its own."""

from __future__ import annotations

import pytest
import torch

import mechint
from mechint.prefixes import collect_prefixes, sentence_prefix, split_sentences, token_prefix_lengths
from mechint.testing import tiny_model

CASES = [
    # (text, sentences)
    (
        "How do I bake bread? I want a soft crust. Thanks!",
        ["How do I bake bread? ", "I want a soft crust. ", "Thanks!"],
    ),
    ("e.g. this weighs 3.5 kg. Next one.", ["e.g. this weighs 3.5 kg. ", "Next one."]),
    ('He said "stop." Then he left.', ['He said "stop." ', "Then he left."]),
    ("Wait... what?! Ok.", ["Wait... what?! ", "Ok."]),
    ("Line one\nLine two", ["Line one\n", "Line two"]),
    ("Tôi khỏe. Còn bạn?", ["Tôi khỏe. ", "Còn bạn?"]),
    # Chinese and Japanese: no space after the end marks
    ("今天天气很好。我们去公园吧！你呢？", ["今天天气很好。", "我们去公园吧！", "你呢？"]),
    ("你好!我是小明。", ["你好!", "我是小明。"]),
    ("東京は大きい。大阪も大きい。", ["東京は大きい。", "大阪も大きい。"]),
    # Chinese with spaces after the marks
    ("你好。 我是小明。", ["你好。 ", "我是小明。"]),
    # Thai: no sentence punctuation, a space between sentences
    ("วันนี้อากาศดี ฉันจะไปเดินเล่น คุณล่ะ", ["วันนี้อากาศดี ", "ฉันจะไปเดินเล่น ", "คุณล่ะ"]),
    ("ฉันชอบ iPhone มาก", ["ฉันชอบ iPhone มาก"]),  # a space next to Latin text is not a boundary
    # Arabic question mark, Hindi danda
    ("كيف حالك؟ أنا بخير.", ["كيف حالك؟ ", "أنا بخير."]),
    ("मैं ठीक हूँ। आप कैसे हैं?", ["मैं ठीक हूँ। ", "आप कैसे हैं?"]),
    ("no end mark", ["no end mark"]),
    ("", []),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_split_sentences(text, expected):
    got = split_sentences(text)
    assert got == expected
    assert "".join(got) == text  # nothing is lost


def test_sentence_prefix():
    text = "今天天气很好。我们去公园吧！你呢？"
    assert sentence_prefix(text, 1) == "今天天气很好。"
    assert sentence_prefix(text, 2) == "今天天气很好。我们去公园吧！"
    assert sentence_prefix(text, 9) == text
    assert sentence_prefix("One. Two.", 1) == "One."
    with pytest.raises(ValueError):
        sentence_prefix(text, 0)
    with pytest.raises(TypeError):
        split_sentences(None)


def test_token_prefix_lengths():
    # 1 BOS + 10 content tokens, 1 BOS + 3, and a text of only its BOS
    got = token_prefix_lengths([11, 4, 1], [0.1, 0.25, 0.5, 1.0], n_special=[1, 1, 1])
    assert got.tolist() == [[2, 2, 1], [4, 2, 1], [6, 3, 1], [11, 4, 1]]
    assert token_prefix_lengths([8], [0.5]).tolist() == [[4]]
    with pytest.raises(ValueError, match=r"fractions must be in \(0, 1\]"):
        token_prefix_lengths([8], [0.0, 0.5])
    with pytest.raises(ValueError):
        token_prefix_lengths([8], [1.5])


def test_prefix_activations_equal_running_each_prefix_alone(make_model, device, tmp_path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path))
    model = make_model("gemma3", device=device)
    texts = ["Short.", "A somewhat longer text, with commas.", "今天天气很好。我们去公园吧！", "วันนี้อากาศดี"]
    fractions = [0.2, 0.5, 1.0]
    sites = ["blocks.0.hook_resid_post", "blocks.2.hook_resid_post", "blocks.1.attn.hook_z"]
    got = collect_prefixes(model, texts, sites, fractions, batch_size=3, store=True, progress=False)
    assert got["blocks.0.hook_resid_post"].shape == (3, 4, model.d_model)
    assert got["blocks.1.attn.hook_z"].shape == (3, 4, model.n_heads, model.d_head)
    ids = model.tokenizer(texts)["input_ids"]
    for i, row in enumerate(ids):
        for k, f in enumerate(fractions):
            length = int(got.lengths[k, i])
            assert length == 1 + max(1, -(-int(f * (len(row) - 1) * 1000) // 1000))  # BOS + ceil(f * m)
            _, cache = model.run_with_cache(torch.tensor([row[:length]]), sites, logits=False)
            for s in sites:
                torch.testing.assert_close(got[s][k, i].cpu(), cache[s][0, -1].float().cpu(), rtol=1e-4, atol=1e-4)
    # fraction 1 is the last token, as collect(pool="last") gives
    last = mechint.collect(model, texts, "blocks.2.hook_resid_post", pool="last", progress=False)
    torch.testing.assert_close(
        got["blocks.2.hook_resid_post"][-1], last["blocks.2.hook_resid_post"], rtol=1e-4, atol=1e-4
    )
    # stored: a second call reads the file back
    files = list((tmp_path / "prefixes").glob("*.safetensors"))
    assert len(files) == 1
    again = collect_prefixes(model, texts, sites, fractions, batch_size=3, store=True, progress=False)
    for s in sites:
        assert torch.equal(again[s], got[s])
    assert again.stack(sites[:2]).shape == (3, 2, 4, model.d_model)
    collect_prefixes(model, texts, sites[:1], [0.5], store=True, progress=False)
    assert len(list((tmp_path / "prefixes").glob("*.safetensors"))) == 2  # another key


def test_prefixes_shared_store_refuses_active_hooks(tmp_path, monkeypatch):
    """Like collect: the shared prefix store is not keyed by the hooks active around the call."""
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path))
    model = tiny_model("llama", seed=5)
    texts, site = ["ab cd", "efg"], "blocks.1.hook_resid_post"
    plain = collect_prefixes(model, texts, site, [0.5, 1.0], store=True, progress=False)
    push = mechint.add_value(torch.ones(model.d_model))
    with model.hooks([("blocks.0.hook_resid_post", push)]):
        with pytest.raises(ValueError, match="collect_prefixes.*hook"):
            collect_prefixes(model, texts, site, [0.5, 1.0], store=True, progress=False)
        steered = collect_prefixes(model, texts, site, [0.5, 1.0], progress=False)
    assert not torch.allclose(steered[site], plain[site])


def test_prefixes_of_texts_without_tokens_are_refused():
    """With a tokenizer that adds no BOS, an empty text has no token and so no prefix."""
    from tokenizers import processors

    model = tiny_model("gpt2", seed=0)
    model.tokenizer.backend_tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    site = "blocks.0.hook_resid_post"
    with pytest.raises(ValueError, match=r"text 1 has no tokens"):
        collect_prefixes(model, ["ab", "", "cd"], site, [0.5, 1.0], progress=False)
    with pytest.raises(ValueError, match=r"texts 0, 1 have no tokens"):
        collect_prefixes(model, ["", ""], site, [1.0], progress=False)
    got = collect_prefixes(model, ["ab", "cde"], site, [1.0], progress=False)
    last = mechint.collect(model, ["ab", "cde"], site, pool="last", progress=False)
    torch.testing.assert_close(got[site][0], last[site], rtol=1e-5, atol=1e-5)
