"""mechint.tuning on tiny random models: losses fall, prompt tokens carry no loss, LoRA merges
exactly, runs are deterministic and cached, bad requests fail with the fix in the message, and an
interrupted run leaves nothing in the cache."""

from __future__ import annotations

import copy
import math

import pytest
import torch

import mechint
from mechint import tuning
from mechint.chat import GEMMA_TEMPLATE, ChatTemplateError
from mechint.testing import CHAT_TEMPLATES, FAMILY_NAMES, byte_tokenizer, tiny_hf_model, tiny_model
from mechint.tuning import LoraSpec, TuningConfig, cache, data, train

PAIRS = [
    ("What is 2+2?", "Four."),
    ("Say hello", "Hello there!"),
    ("Name a colour", "Blue."),
    ("Count to three", "One, two, three."),
    ("Capital of France?", "Paris."),
    ("Opposite of hot?", "Cold."),
]
TRIPLES = [(p, r, "I will not answer that.") for p, r in PAIRS]
FAST = dict(epochs=2, batch_size=3, learning_rate=1e-2)
# one batch of the whole set per step, so each step's loss is the training-set loss
WHOLE = dict(epochs=8, batch_size=len(PAIRS), learning_rate=1e-2)


def assert_falls(losses) -> None:
    assert losses[-1] < 0.97 * losses[0] and losses[-1] < min(losses[:2]), losses


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """Every test tunes into its own empty cache."""
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))


def tuned_folders() -> list:
    root = mechint.disk.cache_root() / "tuned"
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) if root.is_dir() else []


def state(hf) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in hf.state_dict().items()}


# ------------------------------------------------------------------------------------------ training


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_sft_loss_falls_with_lora(family, device):
    model = tiny_model(family, chat=True, device=device)
    result = tuning.sft(model, PAIRS, config=WHOLE, progress=False)
    assert not result.cache_hit and len(result.losses) == 8
    assert_falls(result.losses)
    assert result.model is not None and result.model.device.type == device.type


def test_full_fine_tuning_loss_falls_and_moves_every_weight(device):
    model = tiny_model("llama", chat=True, device=device)
    before = state(model.hf)
    result = tuning.sft(model, PAIRS, config=dict(WHOLE, lora=None, learning_rate=2e-3), progress=False)
    assert_falls(result.losses)
    after = state(result.model.hf)
    assert all(not torch.equal(before[k], after[k]) for k in ("model.layers.0.mlp.up_proj.weight", "lm_head.weight"))
    assert all(torch.equal(before[k], v) for k, v in state(model.hf).items())  # the caller's model is untouched


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_dpo_starts_at_log2_and_its_loss_falls(family, device):
    """At the first step the policy is the reference, so every margin is 0 and the loss is ln 2 (in
    families without dropout: GPT-2's is on during training, and off for the reference)."""
    model = tiny_model(family, chat=True, device=device)
    for lora in (LoraSpec(), None):
        config = dict(FAST, epochs=4, lora=lora, learning_rate=1e-2 if lora else 2e-3)
        result = tuning.dpo(model, TRIPLES, config=config, progress=False)
        assert result.losses[0] == pytest.approx(math.log(2), abs=1e-5)
        assert result.losses[-1] < 0.5 * result.losses[0], result.losses


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_only_response_tokens_carry_loss(family):
    """The targets are -100 at every position that predicts a prompt token or padding; the loss on the
    response positions through the LM head alone equals the model's own logits' cross-entropy there."""
    model = tiny_model(family, chat=True)
    stop = data.stop_of(model, chat=True)
    examples = data.tokenize_pairs(model, PAIRS[:3], chat=True, system=None, max_length=512, stop=stop)
    batch = train.pad_batch([(e.prompt, e.response) for e in examples], model.tokenizer.pad_token_id, model.device)
    for row, example in enumerate(examples):
        expect = [-100] * (len(example.prompt) - 1) + list(example.response)
        expect += [-100] * (batch.targets.shape[1] - len(expect))
        assert batch.targets[row].tolist() == expect
    logits, targets = train.response_logits(model.hf, model.family, batch)
    labels = batch.input_ids.masked_fill(torch.nn.functional.pad(batch.targets, (1, 0), value=-100) == -100, -100)
    with torch.no_grad():
        out = model.hf(input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=labels)
    select = batch.targets != -100
    torch.testing.assert_close(logits, out.logits[:, :-1][select], rtol=1e-5, atol=1e-5)
    loss = torch.nn.functional.cross_entropy(logits, targets)
    torch.testing.assert_close(loss, out.loss, rtol=1e-5, atol=1e-6)
    # a different prompt token in the target row changes nothing the loss sees
    assert int(select.sum()) == sum(len(e.response) for e in examples)


def test_prompt_is_the_generation_prompt_and_the_response_ends_the_turn():
    model = tiny_model("gemma3", chat=True)
    stop = data.stop_of(model, chat=True)
    assert stop.turn_end == "<end_of_turn>\n" and stop.token_id is None  # bytes here: EOS is appended
    assert stop.append_eos == model.tokenizer.eos_token_id
    (example,) = data.tokenize_pairs(
        model, [("What is 2+2?", "Four.")], chat=True, system="Be brief.", max_length=512, stop=stop
    )
    assert example.prompt == tuple(model.tokenizer(model.format_chat("What is 2+2?", system="Be brief."))["input_ids"])
    assert model.tokenizer.decode(example.response) == "Four.<end_of_turn>\n<eos>"


def test_a_turn_end_special_token_stops_generation_and_gets_no_eos():
    """Where the template's turn end starts with one special token (Gemma's <end_of_turn>), generation
    stops on it (it joins the saved generation config's eos ids) and no EOS is appended."""
    tokenizer = byte_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]})
    end_id = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    hf = tiny_hf_model("gemma3", vocab_size=len(tokenizer))
    hf.generation_config.eos_token_id = tokenizer.eos_token_id
    model = mechint.Model(hf, tokenizer, name="tiny-gemma-specials")
    result = tuning.sft(model, PAIRS, chat_template=GEMMA_TEMPLATE, config=FAST, progress=False)
    stop = data.stop_of(result.model, chat=True)
    assert stop.token_id == end_id and stop.append_eos is None
    loaded = result.load()
    assert loaded.hf.generation_config.eos_token_id == [tokenizer.eos_token_id, end_id]
    assert loaded.tokenizer.chat_template == GEMMA_TEMPLATE and tokenizer.chat_template is None


def test_plain_text_tuning_of_a_base_model():
    model = tiny_model("qwen2")  # no chat template
    stop = data.stop_of(model, chat=False)
    (example,) = data.tokenize_pairs(model, [("Q: 2+2? A:", " 4")], chat=False, system=None, max_length=64, stop=stop)
    assert model.tokenizer.decode(example.prompt + example.response) == "<bos>Q: 2+2? A: 4<eos>"
    result = tuning.sft(model, PAIRS, chat=False, config=FAST, progress=False)
    assert result.losses[-1] < result.losses[0]
    assert result.manifest["source"]["chat_template"] is None


def test_multi_turn_prompts():
    model = tiny_model("llama", chat=True)
    turns = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Bye"},
    ]
    stop = data.stop_of(model, chat=True)
    (example,) = data.tokenize_pairs(model, [(turns, "Goodbye.")], chat=True, system=None, max_length=512, stop=stop)
    assert model.tokenizer.decode(example.prompt).endswith(
        "Bye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )


# ------------------------------------------------------------------------------------------ LoRA, saving, determinism


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_lora_merged_equals_lora_unmerged(family, device):
    model = tiny_model(family, device=device)
    peft_model = train.lora_model(copy.deepcopy(model.hf), TuningConfig(lora=LoraSpec(r=4)))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.2)  # trained adapters are not zero
    ids = torch.randint(0, 256, (2, 12), device=device)
    with torch.no_grad():
        unmerged = peft_model(input_ids=ids).logits
        plain = model.hf(input_ids=ids).logits
        merged_logits = train.merged(peft_model)(input_ids=ids).logits
    assert (unmerged - plain).abs().max() > 1e-2  # the adapters change the output
    torch.testing.assert_close(merged_logits, unmerged, rtol=1e-4, atol=1e-4)


def test_loaded_result_equals_the_trained_model(device):
    model = tiny_model("gemma3", chat=True, device=device)
    result = tuning.sft(model, PAIRS, config=FAST, progress=False)
    loaded = result.load(device=device)
    texts = [result.model.format_chat("What is 2+2?"), "plain text"]
    torch.testing.assert_close(loaded(texts), result.model(texts), rtol=0, atol=1e-6)
    assert loaded.tokenizer.chat_template == model.tokenizer.chat_template
    assert list(result.losses) == list(tuning.sft(model, PAIRS, config=FAST, progress=False).losses)


def test_same_seed_gives_identical_weights_and_another_seed_does_not():
    model = tiny_model("llama", chat=True)
    config = dict(FAST, lora=LoraSpec(dropout=0.1))
    first = tuning.sft(model, PAIRS, config=config, progress=False)
    again = tuning.sft(model, PAIRS, config=config, cache=False, progress=False)
    assert not again.cache_hit and again.path == first.path
    a, b = state(first.model.hf), state(again.model.hf)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert first.losses == again.losses
    other = tuning.sft(model, PAIRS, config=dict(config, seed=1), progress=False)
    assert other.path != first.path
    assert any(not torch.equal(a[k], v) for k, v in state(other.model.hf).items())


def test_global_random_state_is_left_alone():
    model = tiny_model("llama", chat=True)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tuning.sft(model, PAIRS, config=FAST, progress=False)
    assert torch.equal(torch.rand(3), expected)


# ------------------------------------------------------------------------------------------ the cache


def test_second_identical_request_is_a_cache_hit_that_trains_nothing(monkeypatch):
    model = tiny_model("gemma3", chat=True)
    first = tuning.sft(model, PAIRS, config=FAST, progress=False)

    def fail(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(train, "run_sft", fail)
    second = tuning.sft(model, list(PAIRS), config=TuningConfig(**FAST), progress=False)
    assert second.cache_hit and second.model is None
    assert second.path == first.path and second.losses == first.losses
    assert second.manifest == first.manifest
    assert tuned_folders() == [first.path.name]


def test_default_learning_rate_named_or_not_is_the_same_request(monkeypatch):
    model = tiny_model("llama", chat=True)
    first = tuning.sft(model, PAIRS, config=dict(epochs=1), progress=False)
    monkeypatch.setattr(train, "run_sft", lambda *a, **k: pytest.fail("trained again"))
    named = tuning.sft(
        model, PAIRS, config=dict(epochs=1, learning_rate=tuning.config.DEFAULT_LORA_LEARNING_RATE), progress=False
    )
    assert named.cache_hit and named.path == first.path


def test_fused_adamw_is_the_same_update_up_to_rounding_and_its_own_request(device):
    """``fused=True`` (torch's fused AdamW kernel) trains to the same weights within float rounding, is
    cached apart from the default run, and leaves the default run's key as it was (no ``fused``)."""
    model = tiny_model("llama", chat=True, device=device)
    config = dict(FAST, lora=None, learning_rate=1e-3, weight_decay=0.01)
    plain = tuning.sft(model, PAIRS, config=config, progress=False)
    fused = tuning.sft(model, PAIRS, config=dict(config, fused=True), progress=False)
    assert fused.path != plain.path and not fused.cache_hit
    assert "fused" not in plain.manifest["source"]["hyperparameters"]
    assert fused.manifest["source"]["hyperparameters"]["fused"] is True
    a, b = state(plain.model.hf), state(fused.model.hf)
    moved = max(float((a[k].float() - state(model.hf)[k].float()).abs().max()) for k in a)
    assert moved > 1e-4  # the runs changed the weights, so agreeing says something
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.tensor(fused.losses), torch.tensor(plain.losses), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "change",
    ["data", "order", "hyperparameter", "lora", "system", "template", "weights", "method"],
)
def test_a_changed_request_retrains(change):
    model = tiny_model("gemma3", chat=True)
    first = tuning.sft(model, PAIRS, config=FAST, progress=False)
    kwargs = dict(config=FAST, progress=False)
    pairs, fn = PAIRS, tuning.sft
    if change == "data":
        pairs = PAIRS[:-1] + [("Opposite of hot?", "Freezing.")]
    elif change == "order":
        pairs = PAIRS[::-1]
    elif change == "hyperparameter":
        kwargs["config"] = dict(FAST, learning_rate=1e-3)
    elif change == "lora":
        kwargs["config"] = dict(FAST, lora=dict(r=8))
    elif change == "system":
        kwargs["system"] = "You are terse."
    elif change == "template":
        model.tokenizer.chat_template = None
        kwargs["chat_template"] = CHAT_TEMPLATES["llama"]
    elif change == "weights":
        with torch.no_grad():
            model.hf.lm_head.weight[0, 0] += 1e-3
    elif change == "method":
        pairs, fn = TRIPLES, tuning.dpo
    second = fn(model, pairs, **kwargs)
    assert not second.cache_hit and second.path != first.path
    assert len(tuned_folders()) == 2


def test_manifest_records_the_request():
    model = tiny_model("gemma3", chat=True)
    result = tuning.sft(model, PAIRS, config=FAST, system="Be brief.", progress=False)
    source = result.manifest["source"]
    assert source["method"] == "sft" and source["device"] == "cpu"
    assert source["base"]["weights_sha256"] == cache.weights_digest(model.hf)
    assert source["data"]["examples"] == len(PAIRS) and source["data"]["system"] == "Be brief."
    assert source["chat_template"] == GEMMA_TEMPLATE
    assert source["hyperparameters"]["learning_rate"] == FAST["learning_rate"]
    assert {"torch", "transformers", "peft"} <= set(source["versions"])
    assert set(result.manifest["files"]) >= {"config.json", "model.safetensors", "tuning.json", "tokenizer.json"}


def test_weights_digest_counts_tied_weights_once_and_sees_every_value():
    hf = tiny_hf_model("gemma3")  # tied embeddings
    digest = cache.weights_digest(hf)
    assert digest == cache.weights_digest(copy.deepcopy(hf))
    with torch.no_grad():
        hf.model.norm.weight[3] += 1e-6
    assert cache.weights_digest(hf) != digest


def test_an_interrupted_run_leaves_nothing_in_the_cache(monkeypatch):
    model = tiny_model("llama", chat=True)
    real = train.run_sft

    def interrupt_at_step_2(step: int, loss: float) -> None:
        if step == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(train, "run_sft", lambda *a, **k: real(*a, **k, on_step=interrupt_at_step_2))
    with pytest.raises(KeyboardInterrupt):
        tuning.sft(model, PAIRS, config=FAST, progress=False)
    root = mechint.disk.cache_root() / "tuned"
    assert [p.name for p in root.iterdir() if not p.name.endswith(".lock")] == []  # no folder, no temporary sibling
    monkeypatch.setattr(train, "run_sft", real)
    result = tuning.sft(model, PAIRS, config=FAST, progress=False)
    assert not result.cache_hit and result.load() is not None


def test_model_given_by_folder(tmp_path):
    model = tiny_model("llama", chat=True)
    model.hf.save_pretrained(tmp_path / "base")
    model.tokenizer.save_pretrained(tmp_path / "base")
    by_path = tuning.sft(str(tmp_path / "base"), PAIRS, config=FAST, progress=False)
    by_model = tuning.sft(model, PAIRS, config=FAST, progress=False)
    assert by_model.cache_hit and by_model.path == by_path.path  # the weights decide, not where they came from


# ------------------------------------------------------------------------------------------ bad requests


def test_a_template_whose_generation_prompt_does_not_start_the_reply_is_refused():
    template = GEMMA_TEMPLATE.replace(
        "{% if add_generation_prompt %}<start_of_turn>model", "{% if add_generation_prompt %}<start_of_turn>bot"
    )
    with pytest.raises(
        ChatTemplateError, match="item 0: the chat template writes the conversation with a response differently"
    ):
        tuning.sft(tiny_model("gemma3"), PAIRS, chat_template=template, progress=False)


def test_no_chat_template_names_the_fix():
    model = tiny_model("gemma3")  # a base model: no template
    with pytest.raises(ChatTemplateError, match=r"chat_template=.*GEMMA_TEMPLATE.*chat=False"):
        tuning.sft(model, PAIRS, progress=False)
    assert not tuned_folders()


def test_empty_training_set():
    with pytest.raises(ValueError, match="training set is empty"):
        tuning.sft(tiny_model("llama", chat=True), [], progress=False)
    with pytest.raises(ValueError, match="training set is empty"):
        tuning.dpo(tiny_model("llama", chat=True), [], progress=False)


def test_response_longer_than_max_length_names_item_tokens_and_fix():
    model = tiny_model("llama", chat=True)
    pairs = PAIRS + [("Write a lot", "word " * 40)]  # one token per byte: 200 response tokens
    with pytest.raises(
        ValueError, match=r"item 6 has 322 tokens .*max_length=200: raise max_length.*TuningConfig\(max_length=322\)"
    ):
        tuning.sft(model, pairs, config=dict(max_length=200), progress=False)
    assert not tuned_folders()


def test_past_a_learned_position_table():
    model = tiny_model("gpt2", chat=True)  # 256 positions
    with pytest.raises(ValueError, match="item 0 has .* learned position table holds 256"):
        tuning.sft(model, [("Write a lot", "word " * 60)], config=dict(max_length=1024), progress=False)


@pytest.mark.bad_input
@pytest.mark.parametrize(
    "pairs, error, match",
    [
        ([("What?", 42)], TypeError, "item 0: the response must be a string"),
        ([("ok", "fine"), (None, "fine")], TypeError, "item 1: the prompt must be a string or a list of chat turns"),
        ([("What?", "  ")], ValueError, "item 0: the response is empty"),
        ([("What?",)], TypeError, r"item 0 must be a \(prompt, response\) tuple"),
        ([{"prompt": "What?", "answer": "x"}], ValueError, "item 0 has no 'response'"),
        ("What?", TypeError, "pairs must be a list"),
    ],
)
def test_malformed_pairs(pairs, error, match):
    with pytest.raises(error, match=match):
        tuning.sft(tiny_model("llama", chat=True), pairs, progress=False)


def test_triples_with_the_same_two_responses():
    with pytest.raises(ValueError, match="item 0: the chosen and the rejected response are the same"):
        tuning.dpo(tiny_model("llama", chat=True), [("Hi", "Hello.", "Hello.")], progress=False)


def test_unknown_config_fields_are_named_with_the_nearest():
    with pytest.raises(ValueError, match=r"unknown TuningConfig field 'learning_rte'.*'learning_rate'"):
        tuning.sft(tiny_model("llama", chat=True), PAIRS, config=dict(learning_rte=1e-3), progress=False)
    with pytest.raises(ValueError, match=r"unknown LoraSpec field 'rank'"):
        TuningConfig(lora=dict(rank=4))


@pytest.mark.bad_input
def test_config_values_are_checked():
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        TuningConfig(epochs=0)
    with pytest.raises(TypeError, match="learning_rate must be a number"):
        TuningConfig(learning_rate="1e-3")
    with pytest.raises(ValueError, match="dropout must be in"):
        LoraSpec(dropout=1.5)


def test_lora_targets_the_model_lacks_name_the_ones_it_has():
    model = tiny_model("gpt2", chat=True)
    with pytest.raises(ValueError, match=r"\['q_proj'\] are not layers of this GPT2LMHeadModel.*c_attn"):
        tuning.sft(model, PAIRS, config=dict(lora=LoraSpec(target_modules=("q_proj",))), progress=False)
    assert not tuned_folders()


def test_system_prompt_and_template_need_chat():
    model = tiny_model("llama", chat=True)
    with pytest.raises(ValueError, match="system= needs chat formatting"):
        tuning.sft(model, PAIRS, chat=False, system="x", progress=False)
    with pytest.raises(ValueError, match="chat_template= is for chat-formatted tuning"):
        tuning.sft(model, PAIRS, chat=False, chat_template=GEMMA_TEMPLATE, progress=False)


def test_tuning_inside_a_hooks_context_is_refused():
    model = tiny_model("llama", chat=True)
    with model.hooks([("blocks.0.hook_resid_post", lambda act, ctx: None)]):
        with pytest.raises(RuntimeError, match="hooks are active"):
            tuning.sft(model, PAIRS, progress=False)


@pytest.mark.bad_input
def test_a_bare_module_is_refused_with_the_way_to_wrap_it():
    with pytest.raises(TypeError, match=r"load_model\(module, tokenizer=...\)"):
        tuning.sft(tiny_hf_model("llama"), PAIRS, progress=False)
