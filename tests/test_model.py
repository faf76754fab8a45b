"""Model loading and description: local folders, nn.Modules, hub ids offline, dtype, chat turns."""

import pytest
import torch

import mechint
from mechint.testing import FAMILY_NAMES, byte_tokenizer, tiny_hf_model, tiny_model


def test_load_from_module_requires_tokenizer():
    hf = tiny_hf_model("llama")
    with pytest.raises(ValueError, match="tokenizer"):
        mechint.load_model(hf)
    model = mechint.load_model(hf, tokenizer=byte_tokenizer())
    assert isinstance(model, mechint.Model)
    assert model.hf is hf  # wrapped in place, never copied or reimplemented


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_shapes_and_site_names(family):
    model = tiny_model(family)
    assert model.n_layers == 3 and model.d_model == 64 and model.n_heads == 4
    assert (
        model.d_head * model.n_heads
        == model.hf.get_submodule(model.family.layers)[0]
        .get_submodule(
            dict(
                llama="self_attn.o_proj",
                qwen2="self_attn.o_proj",
                gemma3="self_attn.o_proj",
                gpt2="attn.c_proj",
                bloom="self_attention.dense",
            )[family]
        )
        .weight.shape[1 if family != "gpt2" else 0]
    )
    _, cache = model.run_with_cache("abc", ["blocks.0.mlp.hook_post"])
    assert cache["blocks.0.mlp.hook_post"].shape[-1] == model.d_mlp
    assert model.W_U.shape == (model.d_model, model.d_vocab)
    assert model.site_names[-1] == "ln_final.hook_normalized"
    assert f"blocks.{model.n_layers - 1}.hook_resid_post" in model.site_names
    assert model.device == torch.device("cpu") and model.dtype == torch.float32


def test_load_local_folder_roundtrip(tmp_path):
    model = tiny_model("qwen2", seed=3)
    model.hf.save_pretrained(tmp_path / "m")
    model.tokenizer.save_pretrained(tmp_path / "m")
    loaded = mechint.load_model(str(tmp_path / "m"))
    assert loaded.family.name == "qwen2"
    text = ["héllo wörld", "x"]
    assert torch.allclose(loaded(text), model(text), atol=1e-6)


def test_load_dtype_and_device_strings(tmp_path):
    model = tiny_model("llama")
    model.hf.save_pretrained(tmp_path / "m")
    model.tokenizer.save_pretrained(tmp_path / "m")
    bf = mechint.load_model(tmp_path / "m", dtype="bfloat16", device="cpu")
    assert bf.dtype == torch.bfloat16
    logits = bf("hello")
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits.float()).all()
    with pytest.raises(ValueError, match="unknown dtype"):
        mechint.load_model(tmp_path / "m", dtype="float13")


def test_missing_path_and_offline_hub_errors(monkeypatch, tmp_path):
    with pytest.raises(FileNotFoundError, match="embedded name"):
        mechint.load_model(str(tmp_path / "nope.gguf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError) as err:
        mechint.load_model("someone/not-a-real-model-xyz")
    message = str(err.value)
    assert "gemma-3-270m" in message and "GGUF" in message and "nn.Module" in message


def test_offline_hub_error_suggests_embedded_name(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="gemma-3-270m"):
        mechint.load_model("gemma-3-270")


def test_unsupported_architecture_names_families():
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    cfg = GPTNeoXConfig(
        vocab_size=259, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4
    )
    with pytest.raises(mechint.UnsupportedArchitectureError) as err:
        mechint.load_model(GPTNeoXForCausalLM(cfg), tokenizer=byte_tokenizer())
    message = str(err.value)
    for family in FAMILY_NAMES:
        assert family in message
    assert "mechint/families.py" in message


def test_format_chat():
    model = tiny_model("llama")
    with pytest.raises(ValueError, match="not a chat model"):
        model.format_chat("hi")
    model.tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    assert model.is_chat
    text = model.format_chat("How do I bake bread?", system="Be brief.")
    assert text == "<|system|>Be brief.\n<|user|>How do I bake bread?\n<|assistant|>"


def test_inputs_accept_ids_and_check_mask_shape():
    model = tiny_model("gpt2")
    ids = model.to_tokens(["abc"])
    assert torch.equal(model(ids), model("abc"))
    with pytest.raises(ValueError, match="attention_mask shape"):
        model(ids, attention_mask=torch.ones(1, ids.shape[1] + 1, dtype=torch.long))
    assert model.to_str_tokens("ab")[1:] == ["a", "b"]


def test_left_padded_token_ids_without_a_mask_mask_their_padding():
    """``to_tokens`` left-pads; feeding its ids back without a mask must not read the pads as text."""
    model = tiny_model("llama")
    texts = ["hi", "hello there, how are you?"]
    ids = model.to_tokens(texts)
    assert ids[0, 0] == model.tokenizer.pad_token_id
    site = "blocks.1.hook_resid_post"
    _, from_ids = model.run_with_cache(ids, site)
    _, from_texts = model.run_with_cache(texts, site)
    torch.testing.assert_close(from_ids[site][:, -1], from_texts[site][:, -1])
    with pytest.raises(ValueError, match="no inputs given"):
        model([])
    with pytest.raises(ValueError, match="no inputs given"):
        model.generate([])


def test_format_chat_drops_a_bos_the_tokenizer_adds_again():
    model = tiny_model("llama")
    model.tokenizer.chat_template = (
        "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
    )
    text = model.format_chat("hi", add_generation_prompt=False)
    assert text == "<|user|>hi"
    ids = model.to_tokens(text)[0].tolist()
    assert ids.count(model.tokenizer.bos_token_id) == 1 and ids[0] == model.tokenizer.bos_token_id


def test_a_model_whose_modules_are_not_where_its_family_keeps_them_is_rejected():
    from mechint import UnsupportedArchitectureError

    hf = tiny_model("gemma3").hf

    class Wrapper(torch.nn.Module):  # a multimodal-style layout: the text model one level down
        def __init__(self):
            super().__init__()
            self.config = hf.config
            self.language_model = hf

    with pytest.raises(UnsupportedArchitectureError, match="no module at 'model'"):
        mechint.Model(Wrapper(), tiny_model("gemma3").tokenizer)


def test_the_callers_tokenizer_keeps_its_padding_side():
    """A Model pads on the left per call; the tokenizer passed in keeps its padding side (a training
    pipeline sharing it still pads on the right)."""
    tok = byte_tokenizer()
    tok.padding_side = "right"
    model = mechint.Model(tiny_hf_model("llama"), tok, name="tiny")
    assert model.tokenizer is tok and tok.padding_side == "right"
    enc = model.tokenize(["abcd", "a"])
    assert enc["attention_mask"].tolist()[1][:3] == [0, 0, 0] and enc["attention_mask"][:, -1].all()
    assert tok(["abcd", "a"], padding=True)["attention_mask"][1][-1] == 0  # the tokenizer itself: still right


def test_tail_logits_are_the_last_columns_of_the_full_logits(family):
    from mechint.testing import tiny_model

    model = tiny_model(family)
    enc = model.tokenize(["Hello there, a longer text", "x"])
    full = model(enc)
    torch.testing.assert_close(model.tail_logits(enc, n=3), full[:, -3:], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.last_logits(enc), full[:, -1], atol=1e-5, rtol=1e-5)


def test_continuation_logprobs_equal_a_forward_over_prompt_and_continuation(family, device):
    """The prompt pass with its KV cache, then each continuation set from a copy of the cache, in
    left-padded batches that mix lengths: oracle, one unbatched forward over prompt + continuation."""
    from mechint.testing import tiny_model

    model = tiny_model(family, device=device)
    prompts = ["Hello there, a longer text", "x", "medium one", "two"]
    texts = ["abc", "", "hello world!", "z"]
    ids = [[70, 71], [72], [73, 74, 75, 76], [77, 78, 79]]
    got_texts, got_ids = model.continuation_logprobs(prompts, texts, ids, batch_size=3)
    for i, prompt in enumerate(prompts):
        p_ids = model.tokenizer(prompt)["input_ids"]
        for cont, got in (
            (model.tokenizer(texts[i], add_special_tokens=False)["input_ids"], got_texts[i]),
            (ids[i], got_ids[i]),
        ):
            assert got.shape == (len(cont),) and got.device.type == "cpu"
            if not cont:
                continue
            logp = model(torch.tensor([p_ids + cont], device=model.device))[0].float().log_softmax(-1)
            want = logp[len(p_ids) - 1 : len(p_ids) + len(cont) - 1].gather(
                -1, torch.tensor(cont, device=model.device)[:, None]
            )
            torch.testing.assert_close(got, want.squeeze(-1).cpu(), atol=1e-4, rtol=1e-4)


def test_continuation_logprobs_bad_input():
    from mechint.testing import tiny_model

    model = tiny_model("llama")
    with pytest.raises(ValueError, match="at least one set"):
        model.continuation_logprobs(["a"])
    with pytest.raises(ValueError, match="set 0 has 1 rows for 2 prompts"):
        model.continuation_logprobs(["a", "b"], ["x"])
