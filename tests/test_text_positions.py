"""Positions counted from each row's first real token (``mechint.from_text_start``).

The oracle throughout: a text in a left-padded batch, edited at ``from_text_start(p)``, must give
what the text gives alone (unpadded) edited at the absolute positions ``p``: in a plain forward,
under ``collect`` (which sorts texts by length and batches them), and at every step of ``generate``
(KV cache on). Each test also checks that absolute positions in the same padded batch do *not* give
that (so the oracle can tell the two apart), and that the cells outside the chosen positions (the
BOS token, the padding) are left bit for bit as they were.
"""

from __future__ import annotations

import pytest
import torch
from conftest import FP32_TOL, TEXTS, VARIED_TEXTS, assert_site_close

import mechint
from mechint import add_value, collect, from_text_start, record, set_value
from mechint.hooks import TextPositions, input_rows
from mechint.interventions import AblateDirection, AddDirection, EditNeurons, intervene
from mechint.neurons import edit_effect
from mechint.patching.metrics import logit_diff
from mechint.testing import FAMILY_NAMES

BUT_FIRST = from_text_start(slice(1, None))  # every token but each text's first (BOS)
N_NEW = 6


def _randn(*shape, seed=0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _edit(kind: str, model, positions, **kw):
    """One intervention of each kind, strong enough to change the logits of a tiny model."""
    if kind == "add":
        return AddDirection(_randn(model.n_layers, model.d_model, seed=1), 6.0, positions=positions, **kw)
    if kind == "ablate":
        return AblateDirection(_randn(model.d_model, seed=2), layers=[0, 1], positions=positions, **kw)
    return EditNeurons(1, [0, 3, 5, 9], mode="set", value=4.0, positions=positions, **kw)


def _site(kind: str) -> str:
    return "blocks.1.mlp.hook_post" if kind == "edit" else "blocks.1.hook_resid_post"


def _real(model, texts) -> torch.Tensor:
    return model.tokenize(texts)["attention_mask"].bool().cpu()


# --------------------------------------------------------------------------- plain forwards


@pytest.mark.parametrize("kind", ["add", "ablate", "edit"])
@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_padded_batch_equals_each_text_alone(family, kind, device, make_model):
    model = make_model(family, device=device)
    texts = TEXTS
    real = _real(model, texts)
    assert not real.all(), "the batch must be left-padded"
    with intervene(model, _edit(kind, model, BUT_FIRST)):
        batched = model(texts).cpu()
    with intervene(model, _edit(kind, model, slice(1, None))):
        absolute = model(texts).cpu()  # the old way, wrong in a padded batch
    plain = model(texts).cpu()
    differs_from_absolute = False
    for i, text in enumerate(texts):
        with intervene(model, _edit(kind, model, slice(1, None))):
            alone = model([text])[0].cpu()
        assert_site_close(batched[i][real[i]], alone, name=f"{family} {kind} row {i}")
        assert not torch.allclose(alone, plain[i][real[i]], atol=1e-3), "the edit must change the logits"
        differs_from_absolute |= not torch.allclose(absolute[i][real[i]], alone, atol=1e-3)
    assert differs_from_absolute, "absolute positions in a padded batch should not match"


@pytest.mark.parametrize("kind", ["add", "ablate", "edit"])
def test_bos_and_padding_are_left_bit_for_bit(kind, device, make_model):
    model = make_model("llama", device=device)
    texts = TEXTS
    real = _real(model, texts)
    first = real.float().argmax(1)  # each row's BOS column
    site = _site(kind)
    plain, edited = {}, {}
    with model.hooks([(site, record(plain))]):
        model(texts)
    with intervene(model, _edit(kind, model, BUT_FIRST), (site, record(edited))):
        model(texts)
    before, after = plain[site].cpu(), edited[site].cpu()
    untouched = ~real.clone()
    untouched[torch.arange(len(texts)), first] = True  # BOS and padding
    assert torch.equal(after[untouched], before[untouched])
    changed = (after != before).any(-1)
    assert changed[~untouched].all(), "every real token after BOS is edited"
    # the BOS token's own residual stream is untouched at every later layer too
    last = f"blocks.{model.n_layers - 1}.hook_resid_post"
    p2, e2 = {}, {}
    with model.hooks([(last, record(p2))]):
        model(texts)
    with intervene(model, _edit(kind, model, BUT_FIRST), (last, record(e2))):
        model(texts)
    rows = torch.arange(len(texts))
    assert torch.equal(e2[last].cpu()[rows, first], p2[last].cpu()[rows, first])


def test_hook_helpers_and_rows_with_per_row_values(device, make_model):
    """add_value / set_value with text positions, rows= and one value per picked row."""
    model = make_model("qwen2", device=device)
    texts = TEXTS
    real = _real(model, texts)
    site = "blocks.0.hook_resid_post"
    v = _randn(2, 1, model.d_model, seed=3).to(device) * 5  # one value per picked row, rows [3, 0]
    w = _randn(model.d_model, seed=4).to(device)
    hooks = [
        (site, add_value(v, positions=from_text_start([1, 3, -1]), rows=[3, 0])),
        (site, set_value(w, positions=from_text_start(0), rows=[1])),
    ]
    with model.hooks(hooks):
        batched = model(texts).cpu()
    for i, text in enumerate(texts):
        alone_hooks = []
        if i in (3, 0):
            alone_hooks.append((site, add_value(v[[3, 0].index(i)], positions=[1, 3, -1])))
        if i == 1:
            alone_hooks.append((site, set_value(w, positions=[0])))
        with model.hooks(alone_hooks):
            alone = model([text])[0].cpu()
        assert_site_close(batched[i][real[i]], alone, name=f"row {i}")


def test_save_reads_each_rows_own_tokens(device, make_model):
    model = make_model("gemma3", device=device)
    texts = TEXTS
    site = "blocks.1.hook_resid_post"
    store = {}
    with model.hooks(
        [
            (site, record(store, "bos", positions=from_text_start(0))),
            (site, record(store, "two", positions=from_text_start([2, 1]), rows=[2, 0])),
        ]
    ):
        model(texts)
    for key, rows, cols in (("bos", [0, 1, 2, 3], [0]), ("two", [2, 0], [2, 1])):
        assert store[key].shape[:2] == (len(rows), len(cols))
        for j, i in enumerate(rows):
            _, cache = model.run_with_cache([texts[i]], site)
            assert_site_close(store[key][j], cache[site][0, cols], name=f"{key} row {i}")
    with pytest.raises(ValueError, match="do not stack"), model.hooks([(site, record({}, positions=BUT_FIRST))]):
        model(texts)  # rows of different lengths: different numbers of columns


def test_positions_before_the_text_start_name_no_token(make_model):
    """A negative position past a short row's first token is not in its padding."""
    model = make_model("llama")
    texts = ["ab", "a much longer text than the first"]
    site = "blocks.0.hook_resid_post"
    plain, edited = {}, {}
    with model.hooks([(site, record(plain))]):
        model(texts)
    with model.hooks(
        [(site, add_value(_randn(model.d_model), positions=from_text_start(slice(-5, None)))), (site, record(edited))]
    ):
        model(texts)
    real = _real(model, texts)
    diff = (edited[site] != plain[site]).any(-1)
    assert not diff[~real].any(), "the padding is untouched"
    assert diff[0][real[0]].all() and diff[1].sum() == 5


def test_hook_context_pad(make_model):
    model = make_model("bloom")
    texts = TEXTS[:3]
    seen = []
    with model.hooks([("blocks.0.hook_resid_pre", lambda x, ctx: seen.append((ctx.offset, ctx.pad.tolist())))]):
        model(texts)
        model.generate(texts, max_new_tokens=3)
    pad = (~_real(model, texts)).sum(1).tolist()
    assert seen[0] == (0, pad)
    assert [s[1] for s in seen[1:]] == [pad] * (len(seen) - 1) and seen[-1][0] > 0  # the prompt's padding


# --------------------------------------------------------------------------- collect


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_collect_equals_each_text_alone(family, device, make_model):
    model = make_model(family, device=device)
    texts = VARIED_TEXTS[:7]
    site = f"blocks.{model.n_layers - 1}.hook_resid_post"
    alpha = torch.tensor([3.0, -5.0, 8.0])
    rows = [4, 0, 2]  # collect counts texts; alpha has one value per picked text
    edits = lambda positions, **kw: [
        AddDirection(_randn(model.d_model, seed=5), alpha if kw else 4.0, layers=[0], positions=positions, **kw),
        EditNeurons(1, [1, 2], mode="scale", value=3.0, positions=positions),
    ]
    with intervene(model, edits(BUT_FIRST, rows=rows)):
        got = collect(model, texts, site, pool="all", batch_size=3, progress=False)
    with intervene(model, edits(slice(1, None), rows=rows)):
        wrong = collect(model, texts, site, pool="all", batch_size=3, progress=False)
    differs = False
    for i, text in enumerate(texts):
        one = (
            [
                AddDirection(
                    _randn(model.d_model, seed=5), float(alpha[rows.index(i)]), layers=[0], positions=slice(1, None)
                )
            ]
            if i in rows
            else []
        )
        one.append(EditNeurons(1, [1, 2], mode="scale", value=3.0, positions=slice(1, None)))
        with intervene(model, one):
            _, cache = model.run_with_cache([text], site)
        alone = cache[site][0].cpu().float()
        assert_site_close(got.row(site, i), alone, name=f"text {i}")
        differs |= not torch.allclose(wrong.row(site, i), alone, atol=1e-3)
    assert differs, "absolute positions under collect should not match"


def test_edit_effect_batched_equals_one_at_a_time(make_model):
    model = make_model("llama")
    texts = VARIED_TEXTS[:6]
    d = _randn(model.d_model, seed=6)
    kw = dict(neurons=[(1, 3), (2, 7)], mode="set", value=5.0, layer=-1)
    batched = edit_effect(model, texts, d, positions=BUT_FIRST, batch_size=4, **kw)
    alone = edit_effect(model, texts, d, positions=slice(1, None), batch_size=1, **kw)
    wrong = edit_effect(model, texts, d, positions=slice(1, None), batch_size=4, **kw)
    torch.testing.assert_close(batched.after, alone.after, rtol=FP32_TOL, atol=FP32_TOL)
    assert not torch.allclose(wrong.after, alone.after, atol=1e-3)


# --------------------------------------------------------------------------- generation


def _generate(model, inputs):
    out = model.generate(
        inputs,
        max_new_tokens=N_NEW,
        min_new_tokens=N_NEW,
        return_tokens=True,
        return_dict_in_generate=True,
        output_logits=True,
    )
    return out.sequences, torch.stack(out.logits, 1)  # [batch, prompt + new], [batch, new, vocab]


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_generation_padded_equals_each_prompt_alone(family, device, make_model):
    model = make_model(family, device=device)
    prompts = ["Hi", "Hello there", "今天"]  # short: the BOS token weighs more in each attention
    edits = lambda positions: [
        AddDirection(_randn(model.d_model, seed=7), 30.0, layers=[0], positions=positions),
        AblateDirection(_randn(model.d_model, seed=8), layers=[2], positions=positions),
    ]
    with intervene(model, edits(BUT_FIRST)):
        seq, logits = _generate(model, prompts)
    with intervene(model, edits(slice(1, None))):
        _, wrong = _generate(model, prompts)
    differs = False
    for i, prompt in enumerate(prompts):
        with intervene(model, edits(slice(1, None))):
            seq1, logits1 = _generate(model, [prompt])
        assert torch.equal(seq[i, -N_NEW:].cpu(), seq1[0, -N_NEW:].cpu()), f"{family} prompt {i}"
        assert_site_close(logits[i], logits1[0], name=f"{family} prompt {i} step logits")
        differs |= (wrong[i] - logits1[0]).abs().max().item() > 10 * FP32_TOL
    assert differs, "absolute positions in a padded batch should not match"


def test_generation_text_position_reached_at_a_later_step(make_model):
    """A text position past the prompt is written at the step that feeds it, in each row."""
    model = make_model("llama")
    prompts = ["ab", "abcdef"]
    edit = lambda p: AddDirection(_randn(model.d_model, seed=9), 10.0, layers=[0], positions=p)
    with intervene(model, edit(from_text_start(5))):  # row 0 reaches its text position 5 while generating
        seq, logits = _generate(model, prompts)
    for i, prompt in enumerate(prompts):
        with intervene(model, edit([5])):
            seq1, logits1 = _generate(model, [prompt])
        assert_site_close(logits[i], logits1[0], name=f"prompt {i}")


# --------------------------------------------------------------------------- where the padding is unknown


def test_unknown_padding_raises(make_model):
    model = make_model("llama")
    u = _randn(model.d_model)
    edit = AddDirection(u, 3.0, positions=BUT_FIRST)
    # a method that runs the decoder layers itself without telling the padding
    with pytest.raises(RuntimeError, match="left padding .* unknown.*decoder layers itself"), intervene(model, edit):
        with input_rows([0], 1, offset=2):
            model.hf.model.layers[0](
                _randn(1, 2, model.d_model),
                position_embeddings=model.hf.model.rotary_emb(_randn(1, 2, model.d_model), torch.arange(2, 4)[None]),
                attention_mask=None,
            )
    # a decoder layer called on its own, outside a forward of the model
    h = _randn(1, 4, model.d_model)
    rotary = model.hf.model.rotary_emb(h, torch.arange(4)[None])
    with pytest.raises(RuntimeError, match="outside a forward"), intervene(model, edit):
        model(["ab"])  # a forward before does not leave its padding behind
        model.hf.model.layers[0](h, position_embeddings=rotary, attention_mask=None)
    # a 4-D mask says nothing simple about where each row starts
    ids = torch.tensor([[256, 5, 6, 7]])
    with pytest.raises(RuntimeError, match=r"attention mask of shape \(1, 1, 4, 4\)"), intervene(model, edit):
        model.hf(input_ids=ids, attention_mask=torch.ones(1, 1, 4, 4, dtype=torch.bool).tril())
    # absolute positions and attribution patching (plain forwards) still work
    with intervene(model, AddDirection(u, 3.0, positions=slice(1, None))):
        mechint.activation_patch(model, ["abcd", "xyz"], ["abce", "xyw"], logit_diff(5, 6))
    with intervene(model, edit):
        mechint.attribution_patch(model, ["abcd", "xyz"], ["abce", "xyw"], logit_diff(5, 6))


def test_no_mask_means_no_padding(make_model):
    """A raw forward of the Hugging Face module without a mask attends to every token: no padding."""
    model = make_model("llama")
    ids = torch.tensor([[256, 5, 6, 7, 8], [256, 9, 9, 9, 9]])
    u = _randn(model.d_model)
    with intervene(model, AddDirection(u, 3.0, positions=BUT_FIRST)):
        a = model.hf(ids).logits
    with intervene(model, AddDirection(u, 3.0, positions=slice(1, None))):
        b = model.hf(ids).logits
    assert torch.equal(a, b)


@pytest.mark.bad_input
def test_from_text_start_checks_its_argument():
    assert repr(BUT_FIRST) == "from_text_start(slice(1, None, None))"
    assert from_text_start([1, 2]) == from_text_start(torch.tensor([1, 2]))
    assert from_text_start(torch.tensor([False, True, True])) == from_text_start([1, 2])
    assert isinstance(from_text_start(None), TextPositions)
    with pytest.raises(TypeError, match="integers"):
        from_text_start([0.5])
    with pytest.raises(TypeError, match="integers"):
        from_text_start(slice(0.5, None))
    with pytest.raises(ValueError, match="one list shared by every row"):
        from_text_start([[1, 2], [3, 4]])
    with pytest.raises(TypeError, match="already counts"):
        from_text_start(BUT_FIRST)
    assert "from_text_start" in repr(AddDirection(torch.ones(4), positions=BUT_FIRST))


def test_positions_outside_every_row_warn(make_model):
    model = make_model("llama")
    with (
        pytest.warns(UserWarning, match="outside"),
        intervene(model, AddDirection(_randn(model.d_model), positions=from_text_start(500))),
    ):
        model(TEXTS)
