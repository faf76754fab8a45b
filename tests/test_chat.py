"""Chat prompts: format_chat (turns, system, prefill, no injected default), chat_prompts, and the
post-instruction positions in padded and unpadded batches, for every family's chat layout."""

import pytest
import torch

import mechint
from mechint import ChatTemplateError, from_prompt_end
from mechint.data import Dataset, Example
from mechint.eval import AFFIRMATIVE_PREFILLS, check_prefill
from mechint.testing import CHAT_TEMPLATES, FAMILY_NAMES, tiny_model

INSTRUCTIONS = ["Hi", "How do I bake bread at home?", "Écris un poème sur la mer, s'il te plaît."]


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_every_family_has_a_chat_layout(family):
    assert family in CHAT_TEMPLATES


def test_format_chat_turns_system_and_prefill():
    model = tiny_model("gemma3", chat=True)
    assert model.format_chat("Hi") == "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"
    assert model.format_chat("Hi", system="Be brief.").startswith("<start_of_turn>user\nBe brief.\n\nHi")
    assert model.format_chat("Hi", prefill="Sure, here").endswith("<start_of_turn>model\nSure, here")
    turns = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Tell me a joke."},
    ]
    text = model.format_chat(turns)
    assert text.count("<start_of_turn>") == 4 and text.endswith("Tell me a joke.<end_of_turn>\n<start_of_turn>model\n")


def test_no_default_system_prompt_unless_given():
    """Qwen2.5-style ChatML writes 'You are a helpful assistant.' when no system turn is given."""
    model = tiny_model("qwen2", chat=True)
    raw = model.tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False)
    assert "You are a helpful assistant." in raw
    text = model.format_chat("Hi")
    assert text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert model.format_chat("Hi", system="Be brief.").startswith("<|im_start|>system\nBe brief.<|im_end|>\n")
    two = model.format_chat(
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}, {"role": "user", "content": "Hi"}]
    )
    assert "helpful assistant" not in two and two.count("<|im_start|>user\nHi") == 2


def test_a_bos_written_by_the_template_is_not_doubled():
    model = tiny_model("llama", chat=True)
    text = model.format_chat("Hi")
    assert not text.startswith("<bos>")
    ids = model.to_tokens(text)[0].tolist()
    assert ids.count(model.tokenizer.bos_token_id) == 1


@pytest.mark.parametrize("family", FAMILY_NAMES)
@pytest.mark.parametrize("prefill", [None, "Sure, here"])
def test_post_instruction_positions_are_the_template_tokens(family, prefill):
    model = tiny_model(family, chat=True)
    fmt = model.chat_format()
    positions = model.post_instruction_positions(prefill=prefill)
    idx = positions._index
    prompts = model.chat_prompts(INSTRUCTIONS, prefill=prefill)
    batch = model.to_tokens(prompts)  # left-padded
    for row, prompt in enumerate(prompts):
        alone = model.to_tokens(prompt)[0]
        for ids in (batch[row], alone):
            text = model.tokenizer.decode(ids[idx])
            assert text == fmt.post_instruction, (family, row, text)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_prefill_tokens_are_placed_where_the_template_puts_the_response(family):
    """The prompt with a prefill is, token for token, the template's generation prompt followed by
    the prefill's own tokens, alone and at the end of every row of a left-padded batch; and
    check_prefill returns exactly those tokens."""
    model = tiny_model(family, chat=True)
    tok = model.tokenizer
    for prefill in ("Sure, here is", AFFIRMATIVE_PREFILLS["zh"], AFFIRMATIVE_PREFILLS["th"]):
        own = tok(prefill, add_special_tokens=False)["input_ids"]
        prompts = model.chat_prompts(INSTRUCTIONS, prefill=prefill)
        batch = model.to_tokens(prompts)  # left-padded
        assert check_prefill(model, INSTRUCTIONS, prefill) == [own] * len(INSTRUCTIONS)
        for row, (text, prompt) in enumerate(zip(INSTRUCTIONS, prompts)):
            head = tok(model.format_chat(text))["input_ids"]
            ids = tok(prompt)["input_ids"]
            assert ids == head + own, (family, prefill, text)
            assert tok.decode(ids[len(head) :]) == prefill
            assert batch[row, -len(own) :].tolist() == own
            # the template's tokens come right before it: the generation prompt is the prompt's end
            assert tok.decode(head).endswith(model.chat_format().post_instruction)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_post_instruction_reads_equal_padded_and_unpadded(family):
    model = tiny_model(family, chat=True)
    positions = model.post_instruction_positions()
    site = "blocks.1.hook_resid_post"
    prompts = model.chat_prompts(INSTRUCTIONS)
    batched: dict = {}
    with model.hooks([(site, mechint.record(batched, positions=positions))]):
        model(prompts)
    for row, prompt in enumerate(prompts):
        alone: dict = {}
        with model.hooks([(site, mechint.record(alone, positions=positions))]):
            model([prompt])
        torch.testing.assert_close(batched[site][row], alone[site][0], atol=1e-5, rtol=1e-5)


def test_prompt_end_positions_act_only_in_the_prompt_forward_of_generation():
    model = tiny_model("llama", chat=True)
    prompts = model.chat_prompts(INSTRUCTIONS[:2])
    positions = model.post_instruction_positions()
    calls = []

    def spy(x, ctx):
        blocks = mechint.positions.cells(positions, None, x, ctx)
        calls.append((ctx.offset, sum(int(torch.arange(x.shape[1])[b.cols].numel()) for b in blocks)))

    with model.hooks([("blocks.0.hook_resid_post", spy)]):
        model.generate(prompts, max_new_tokens=3)
    assert calls[0] == (0, len(positions))  # the prompt's forward: every post-instruction column
    assert [n for _, n in calls[1:]] == [0, 0]  # later steps: none (a plain -1 would be the new token)
    # a write there changes the generation, as the same edit with positions in the whole prompt does
    direction = torch.randn(model.d_model)
    base = model.generate(prompts, max_new_tokens=4, return_tokens=True)
    with mechint.intervene(model, mechint.AddDirection(direction * 50, layers=[0], positions=positions)):
        edited = model.generate(prompts, max_new_tokens=4, return_tokens=True)
    assert not torch.equal(base, edited)


def test_chat_prompts_of_a_dataset_keep_its_records():
    model = tiny_model("gemma3", chat=True)
    ds = Dataset([Example(t, i % 2, "en", f"item-{i}", "test") for i, t in enumerate(INSTRUCTIONS)])
    chat = model.chat_prompts(ds)
    assert isinstance(chat, Dataset) and chat.chat and not ds.chat
    assert chat.item_ids == ds.item_ids and chat.labels == ds.labels
    assert all(model.is_chat_formatted(t) for t in chat.texts)
    assert not any(model.is_chat_formatted(t) for t in ds.texts)
    with pytest.raises(ValueError, match="chat-formatted already"):
        model.chat_prompts(chat)
    with pytest.raises(ValueError, match="chat-formatted already"):
        model.chat_prompts(chat.texts)


@pytest.mark.bad_input
def test_chat_bad_input_names_the_fix():
    base = tiny_model("gemma3")
    with pytest.raises(ChatTemplateError, match="chat_template"):
        base.format_chat("Hi")
    with pytest.raises(ChatTemplateError, match="a prefill needs a chat template"):
        base.format_chat("Hi", prefill="Sure")
    with pytest.raises(ChatTemplateError):
        base.post_instruction_positions()
    assert not base.is_chat_formatted("Hi")
    model = tiny_model("qwen2", chat=True)
    with pytest.raises(ValueError, match="assistent.*did you mean 'assistant'"):
        model.format_chat([{"role": "assistent", "content": "x"}])
    with pytest.raises(ValueError, match="once"):
        model.format_chat([{"role": "system", "content": "a"}, {"role": "user", "content": "b"}], system="c")
    with pytest.raises(ValueError, match="add_generation_prompt=True"):
        model.format_chat("Hi", prefill="Sure", add_generation_prompt=False)
    with pytest.raises(ValueError, match="only come first"):
        model.format_chat([{"role": "user", "content": "b"}, {"role": "system", "content": "a"}])
    with pytest.raises(TypeError, match="turn 0"):
        model.format_chat([("user", "b")])
    with pytest.raises(TypeError, match="non-empty list of turns"):
        model.format_chat([])
    with pytest.raises(TypeError, match="prefill must be a string"):
        model.format_chat("Hi", prefill=3)
    with pytest.raises(ValueError, match="must be negative"):
        from_prompt_end([0, -1])
    with pytest.raises(ValueError, match="names no position"):
        from_prompt_end([])
    with pytest.raises(TypeError, match="negative integers"):
        from_prompt_end("all")


def test_collect_and_run_with_cache_read_chat_prompts_at_the_post_instruction_tokens():
    """A chat Dataset goes through collect as any Dataset: pool='last' is the last post-instruction
    token, and the last n tokens of each text (pool='all') are its post-instruction tokens, equal to
    run_with_cache on the text alone."""
    model = tiny_model("qwen2", chat=True)
    ds = model.chat_prompts(Dataset([Example(t, i % 2, "en", f"i{i}", "t") for i, t in enumerate(INSTRUCTIONS)]))
    site = "blocks.1.hook_resid_post"
    n = len(model.post_instruction_positions())
    last = mechint.collect(model, ds, site, pool="last", progress=False)[site]
    every = mechint.collect(model, ds, site, pool="all", progress=False)
    for i, text in enumerate(ds.texts):
        post = every.row(site, i)[-n:]
        torch.testing.assert_close(post[-1], last[i])
        _, cache = model.run_with_cache([text], site)
        torch.testing.assert_close(cache[site][0, -n:], post, atol=1e-5, rtol=1e-5)
