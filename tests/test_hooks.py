"""Behaviour of the hook engine (``Model.hooks``, ``save``, ``set_value``, ``add_value``).

Known traps this file guards against: left padding without position ids silently changes results;
dropout left on; a write hook that silently does nothing; hooks left behind after an error;
hooks that miss the KV-cache steps of generation.
"""

from __future__ import annotations

import pytest
import torch
from conftest import TEXTS, assert_site_close, random_tokens

from mechint import add_value, record, scale_value, set_value
from mechint.testing import FAMILY_NAMES


def _hook_count(module: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in module.modules())


def _hooked_modules(module: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in module.modules() if m._forward_hooks or m._forward_pre_hooks]


def _vector_shape(model, site: str) -> tuple[int, ...]:
    if site.endswith("attn.hook_z"):
        return (model.n_heads, model.d_head)
    if site.endswith("mlp.hook_post"):
        return (model.d_mlp,)
    return (model.d_model,)


def _layer1_and_top(model) -> list[str]:
    """One site of every kind: the top sites and layer 1's block sites."""
    return [n for n in model.site_names if n.startswith("blocks.1.") or not n.startswith("blocks.")]


# ---------------------------------------------------------------------------------- left padding


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_left_padded_batch_equals_one_by_one(family, device, make_model):
    model = make_model(family, device=device)
    enc = model.tokenize(TEXTS)
    lengths = enc["attention_mask"].sum(1).tolist()
    assert len(set(lengths)) == len(TEXTS), "the texts must have different token lengths"
    assert enc["attention_mask"][:, 0].eq(0).any(), "the batch must be left-padded"

    logits, acts = model.run_with_cache(TEXTS, model.site_names)
    for i, text in enumerate(TEXTS):
        n = lengths[i]
        one_logits, one = model.run_with_cache(text, model.site_names)
        assert one_logits.shape[1] == n
        for site in model.site_names:
            assert_site_close(acts[site][i, -n:], one[site][0], name=f"{family} row {i} {site}")
        assert_site_close(logits[i, -n:], one_logits[0], name=f"{family} row {i} logits")


def test_left_padding_without_position_ids_would_differ(make_model):
    """The trap the padding test guards against is real: the same padded batch run through the HF
    module without position ids gives different activations for a model with learned absolute
    positions (rotary models are shift-invariant, so a uniform shift does not show there)."""
    model = make_model("gpt2")
    enc = model.tokenize(TEXTS)
    ours = model(enc)
    theirs = model.hf(**enc).logits
    n = int(enc["attention_mask"][1].sum())
    assert (ours[1, -n:] - theirs[1, -n:]).abs().max() > 1e-3


# ---------------------------------------------------------------------------------- writes


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_every_write_changes_the_output(family, make_model):
    model = make_model(family)
    tokens = random_tokens(2, 10)
    clean = model(tokens)
    gen = torch.Generator().manual_seed(0)
    for site in _layer1_and_top(model):
        vec = torch.randn(_vector_shape(model, site), generator=gen)
        for hook in (add_value(vec), set_value(vec)):
            with model.hooks([(site, hook)]):
                out = model(tokens)
            assert (out - clean).abs().max() > 1e-3, f"a write at {site} did not change the logits"


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_writing_the_value_already_there_is_bit_identical(family, device, make_model):
    model = make_model(family, device=device)
    tokens = random_tokens(2, 9).to(device)
    with torch.no_grad():
        clean, acts = model.run_with_cache(tokens, model.site_names)
        assert torch.equal(model(tokens), clean), "the forward pass itself is not deterministic"
        for site in model.site_names:
            with model.hooks([(site, set_value(acts[site]))]):
                out = model(tokens)
            assert torch.equal(out, clean), f"set_value of the saved tensor at {site} changed the logits"
        # An identity hook that returns its input is a write too, and so is scaling by one.
        with model.hooks([(s, lambda x, ctx: x) for s in model.site_names]):
            assert torch.equal(model(tokens), clean)
        with model.hooks([(s, scale_value(1.0)) for s in model.site_names]):
            assert torch.equal(model(tokens), clean)


def test_resid_mid_write_reaches_the_residual_stream(make_model):
    """hook_resid_mid is written in place: the write reaches the MLP's norm *and* the residual."""
    model = make_model("llama")
    tokens = random_tokens(2, 9)
    vec = torch.randn(model.d_model, generator=torch.Generator().manual_seed(0))
    store: dict = {}
    with model.hooks([("blocks.1.hook_resid_mid", add_value(vec)), ("blocks.1.hook_resid_mid", record(store))]):
        _, acts = model.run_with_cache(tokens, ["blocks.1.hook_mlp_out", "blocks.1.hook_resid_post"])
    mid = store["blocks.1.hook_resid_mid"]
    assert_site_close(acts["blocks.1.hook_resid_post"], mid + acts["blocks.1.hook_mlp_out"], name="post = mid' + mlp")
    with model.hooks([("blocks.1.hook_attn_out", add_value(vec))]):
        same = model(tokens)
    with model.hooks([("blocks.1.hook_resid_mid", add_value(vec))]):
        assert_site_close(model(tokens), same, name="resid_mid write vs attn_out write")


@pytest.mark.parametrize(
    "site", ["blocks.1.hook_resid_post", "blocks.1.hook_resid_mid", "blocks.1.mlp.hook_post", "blocks.0.attn.hook_z"]
)
@pytest.mark.parametrize("mode", ["set", "add"])
def test_writes_at_chosen_rows_and_positions_change_exactly_those_cells(site, mode, make_model):
    model = make_model("qwen2")
    tokens = random_tokens(3, 8)
    _, clean = model.run_with_cache(tokens, [site])
    clean = clean[site]
    vec = torch.randn(clean.shape[2:], generator=torch.Generator().manual_seed(0))
    rows, positions = [0, 2], [1, -1]
    writer = (set_value if mode == "set" else add_value)(vec, rows=rows, positions=positions)
    store: dict = {}
    with model.hooks([(site, writer), (site, record(store))]):
        model(tokens)
    after = store[site]
    expected = clean.clone()
    for r in rows:
        for p in (1, tokens.shape[1] - 1):
            expected[r, p] = vec if mode == "set" else clean[r, p] + vec
    changed = torch.zeros(clean.shape[:2], dtype=torch.bool)
    changed[[0, 0, 2, 2], [1, 7, 1, 7]] = True
    assert torch.equal(after[~changed], clean[~changed]), "cells outside rows x positions changed"
    torch.testing.assert_close(after[changed], expected[changed], rtol=0, atol=1e-6)
    assert not torch.equal(after[changed], clean[changed])


def test_slice_positions_and_negative_rows(make_model):
    model = make_model("gpt2")
    tokens = random_tokens(2, 8)
    site = "blocks.2.hook_resid_pre"
    _, clean = model.run_with_cache(tokens, [site])
    vec = torch.randn(model.d_model, generator=torch.Generator().manual_seed(1))
    store: dict = {}
    with model.hooks([(site, set_value(vec, rows=-1, positions=slice(2, 5))), (site, record(store))]):
        model(tokens)
    expected = clean[site].clone()
    expected[1, 2:5] = vec
    assert torch.equal(store[site], expected)


def test_per_head_write_with_a_callable(make_model):
    """A callable value sees the selected cells (``[rows, pos, head, d_head]`` for z) and may write a
    single head: here head 2 is zero-ablated at the last position of every row."""
    model = make_model("gemma3")
    tokens = random_tokens(2, 8)
    site = "blocks.1.attn.hook_z"
    _, clean = model.run_with_cache(tokens, [site])
    clean = clean[site]

    def ablate_head_2(x, ctx):
        assert x.shape[-2:] == (model.n_heads, model.d_head)
        y = x.clone()
        y[..., 2, :] = 0
        return y

    store: dict = {}
    with model.hooks([(site, set_value(ablate_head_2, positions=[-1])), (site, record(store))]):
        model(tokens)
    expected = clean.clone()
    expected[:, -1, 2] = 0
    assert torch.equal(store[site], expected)


def test_save_at_positions_and_rows(make_model):
    model = make_model("llama")
    tokens = random_tokens(3, 7)
    site = "blocks.0.hook_mlp_out"
    _, full = model.run_with_cache(tokens, [site])
    store: dict = {}
    with model.hooks([(site, record(store, "x", rows=[2, 0], positions=[-1, 3]))]):
        model(tokens)
    assert torch.equal(store["x"], full[site][[2, 0]][:, [6, 3]])


def test_a_hook_returning_the_wrong_shape_raises_and_cleans_up(make_model):
    model = make_model("llama")
    tokens = random_tokens(1, 5)
    with pytest.raises(ValueError, match="blocks.0.hook_resid_post"):
        with model.hooks([("blocks.0.hook_resid_post", lambda x, ctx: x[..., :3])]):
            model(tokens)
    assert _hook_count(model.hf) == 0


# ---------------------------------------------------------------------------------- lifecycle


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_hooks_are_removed_after_an_exception(family, make_model):
    model = make_model(family)
    tokens = random_tokens(2, 7)
    assert _hook_count(model.hf) == 0
    clean = model(tokens)
    vec = torch.randn(model.d_model, generator=torch.Generator().manual_seed(0))
    writes = [(s, add_value(vec)) for s in model.site_names if s.endswith(("resid_post", "resid_mid", "attn_out"))]

    # An exception raised by the body of the ``with`` block ...
    with pytest.raises(RuntimeError, match="boom"):
        with model.hooks(writes):
            assert _hook_count(model.hf) > 0
            model(tokens)
            raise RuntimeError("boom")
    assert _hook_count(model.hf) == 0
    assert torch.equal(model(tokens), clean)

    # ... and one raised by a hook function in the middle of the forward.
    def fail(x, ctx):
        raise KeyError("hook failed")

    with pytest.raises(KeyError, match="hook failed"):
        with model.hooks(writes + [("blocks.1.hook_mlp_out", fail)]):
            model(tokens)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.hf.modules())
    assert torch.equal(model(tokens), clean)


@pytest.mark.parametrize("family", FAMILY_NAMES)
@pytest.mark.parametrize("was_training", [True, False])
def test_eval_mode_inside_and_previous_mode_restored(family, was_training, make_model):
    dropout = {
        "llama": {"attention_dropout": 0.5},
        "qwen2": {"attention_dropout": 0.5},
        "gemma3": {"attention_dropout": 0.5},
        "gpt2": {"resid_pdrop": 0.5, "embd_pdrop": 0.5, "attn_pdrop": 0.5},
        "bloom": {"hidden_dropout": 0.5, "attention_dropout": 0.5},
    }[family]
    model = make_model(family, **dropout)
    model.hf.train(was_training)
    tokens = random_tokens(2, 8)
    seen = []
    with model.hooks([("blocks.1.hook_resid_post", lambda x, ctx: seen.append(ctx.site.module.training))]):
        assert not any(m.training for m in model.hf.modules())
        first, second = model(tokens), model(tokens)
    assert torch.equal(first, second), "dropout is on inside the hook context"
    assert seen == [False, False]
    assert all(m.training == was_training for m in model.hf.modules())
    if was_training and family == "gpt2":  # the dropout really is there outside the context
        assert not torch.equal(model(tokens), model(tokens))


def test_per_module_training_modes_are_restored(make_model):
    """A model in train() with some submodules frozen in eval() (a common fine-tuning set-up) comes
    back from a hook context exactly as it went in, module by module."""
    model = make_model("gpt2", resid_pdrop=0.5)
    model.hf.train()
    model.hf.transformer.drop.eval()
    model.hf.transformer.h[1].eval()
    before = {name: m.training for name, m in model.hf.named_modules()}
    with model.hooks([("blocks.0.hook_resid_post", record({}))]):
        model(random_tokens(1, 4))
    after = {name: m.training for name, m in model.hf.named_modules()}
    assert after == before, sorted(n for n in before if before[n] != after[n])


def test_nested_contexts_compose(make_model):
    model = make_model("llama")
    tokens = random_tokens(2, 6)
    site = "blocks.0.hook_resid_post"
    vec = torch.randn(model.d_model, generator=torch.Generator().manual_seed(0))
    outer, inner = {}, {}
    with model.hooks([(site, record(outer))]):
        with model.hooks([(site, add_value(vec)), (site, record(inner))]):
            steered = model(tokens)
        assert_site_close(inner[site], outer[site] + vec, name="inner sees the outer's value plus its write")
        plain = model(tokens)  # the inner write is gone, the outer save still acts
        assert (steered - plain).abs().max() > 1e-3
    assert _hook_count(model.hf) == 0
    assert torch.equal(model(tokens), plain)


def test_hooks_are_lazy(make_model):
    model = make_model("llama")
    tokens = random_tokens(1, 5)
    assert _hooked_modules(model.hf) == []
    site = model.site("blocks.1.hook_mlp_out")
    with model.hooks([(site.name, record({})), (site.name, record({}, "again"))]):
        hooked = _hooked_modules(model.hf)
        # the site's module (one hook for both functions), plus the decoder stack's KV-offset reader
        assert any(m is site.module for m in hooked)
        assert all(m is site.module or m is model.base for m in hooked), [type(m).__name__ for m in hooked]
        assert len(site.module._forward_hooks) + len(site.module._forward_pre_hooks) == 1
        model(tokens)
    sites = model.sites(["blocks.0.hook_resid_pre", "blocks.0.hook_resid_post", "blocks.2.attn.hook_z"])
    with model.hooks([(s, record({})) for s in sites]):
        hooked = _hooked_modules(model.hf)
        assert {id(m) for m in hooked} <= {id(s.module) for s in sites} | {id(model.base)}
        layer0 = sites[0].module
        assert len(layer0._forward_pre_hooks) == 1 and len(layer0._forward_hooks) == 1
    assert _hooked_modules(model.hf) == []


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_stop_after_stops_the_forward(family, make_model):
    model = make_model(family)
    tokens = random_tokens(2, 6)
    calls: list[str] = []
    head_calls: list[int] = []
    head = model.hf.get_submodule(model.family.lm_head)
    handle = head.register_forward_hook(lambda *a: head_calls.append(1))
    try:
        store: dict = {}
        later = lambda x, ctx: calls.append(ctx.site.name)  # noqa: E731
        hooks = [
            ("blocks.0.hook_resid_post", record(store)),
            ("blocks.2.hook_resid_pre", later),
            ("ln_final.hook_normalized", later),
        ]
        with model.hooks(hooks, stop_after="blocks.0.hook_resid_post"):
            out = model(tokens)
        assert out is None
        assert calls == [] and head_calls == []
        _, ref = model.run_with_cache(tokens, ["blocks.0.hook_resid_post"])
        assert torch.equal(store["blocks.0.hook_resid_post"], ref["blocks.0.hook_resid_post"])
    finally:
        handle.remove()
    assert _hook_count(model.hf) == 0


# ---------------------------------------------------------------------------------- generation

N_NEW = 6


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_save_during_generation_equals_a_forward_over_the_generated_tokens(family, device, make_model):
    model = make_model(family, device=device)
    site = "blocks.1.hook_resid_post"
    offsets: list[int] = []
    store: dict = {}
    with model.hooks([(site, record(store)), (site, lambda x, ctx: offsets.append(ctx.offset))]):
        out = model.generate(TEXTS[0], max_new_tokens=N_NEW, return_tokens=True)
    prompt_len = model.to_tokens(TEXTS[0]).shape[1]
    steps = out.shape[1] - prompt_len
    assert 1 <= steps <= N_NEW
    # KV cache on: the prompt at offset 0, then one new token per step.
    assert offsets == [0] + list(range(prompt_len, prompt_len + steps - 1))
    fed = out[:, :-1]  # the last generated token is never fed back
    _, ref = model.run_with_cache(fed, [site])
    assert store[site].shape == ref[site].shape
    assert_site_close(store[site], ref[site], name=f"{family} generation save")


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_save_during_left_padded_generation(family, make_model):
    model = make_model(family)
    site = "blocks.1.hook_resid_post"
    store: dict = {}
    enc = model.tokenize(TEXTS[:3])
    with model.hooks([(site, record(store))]):
        out = model.generate(enc, max_new_tokens=4, return_tokens=True)
    mask = torch.cat([enc["attention_mask"], torch.ones_like(out[:, enc["input_ids"].shape[1] :])], 1)
    _, ref = model.run_with_cache(out[:, :-1], [site], attention_mask=mask[:, :-1])
    real = mask[:, :-1].bool()
    assert_site_close(store[site][real], ref[site][real], name=f"{family} padded generation save")


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_steering_during_generation_equals_steering_a_forward(family, device, make_model):
    model = make_model(family, device=device)
    gen = torch.Generator().manual_seed(0)
    vec = (3.0 * torch.randn(model.d_model, generator=gen)).to(device)
    site = "blocks.1.hook_resid_post"
    prompt_len = model.to_tokens(TEXTS[2]).shape[1]
    during: dict = {}
    with model.hooks([(site, add_value(vec)), ("ln_final.hook_normalized", record(during))]):
        steered = model.generate(TEXTS[2], max_new_tokens=N_NEW, return_tokens=True)
    with model.hooks([(site, add_value(vec))]):
        logits, after = model.run_with_cache(steered[:, :-1], ["ln_final.hook_normalized"])
    picked = logits[0, prompt_len - 1 :].argmax(-1)
    assert torch.equal(picked, steered[0, prompt_len:]), "steered generation != steered forward"
    assert_site_close(during["ln_final.hook_normalized"], after["ln_final.hook_normalized"], name="final norm")
    plain = model(steered[:, :-1])
    assert (plain - logits).abs().max() > 1e-2, "the steering vector did nothing"


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_left_padded_generation_equals_one_by_one(family, device, make_model):
    model = make_model(family, device=device)
    enc = model.tokenize(TEXTS)
    batch = model.generate(enc, max_new_tokens=N_NEW, return_tokens=True)
    new = batch[:, enc["input_ids"].shape[1] :]
    eos = model.tokenizer.eos_token_id
    for i, text in enumerate(TEXTS):
        one = model.generate(text, max_new_tokens=N_NEW, return_tokens=True)
        one_new = one[0, model.to_tokens(text).shape[1] :]
        assert torch.equal(new[i, : len(one_new)], one_new), (
            f"{family} row {i}: {new[i].tolist()} != {one_new.tolist()}"
        )
        if len(one_new) < N_NEW:  # stopped at EOS
            assert one_new[-1] == eos


def test_generate_returns_text(make_model):
    model = make_model("llama")
    out = model.generate(TEXTS[:2], max_new_tokens=3)
    assert isinstance(out, list) and len(out) == 2 and all(isinstance(t, str) for t in out)


# ------------------------------------------------------------------ rows, positions, bad returns


def test_rows_out_of_range_raise_instead_of_wrapping():
    from mechint.testing import tiny_model

    model = tiny_model("llama")
    v = torch.ones(model.d_model)
    with pytest.raises(IndexError, match=r"rows \[5\] out of range: there are 2 rows"):
        with model.hooks([("blocks.0.hook_resid_post", add_value(v, rows=[5]))]):
            model(["hello world", "hi"])
    with pytest.raises(IndexError, match="out of range"):
        with model.hooks([("blocks.0.hook_resid_post", record({}, rows=[-3]))]):
            model(["hello world", "hi"])
    # in range, negative and boolean rows pick the same row
    base = model(["hello world", "hi"])
    for rows in ([-1], torch.tensor([False, True])):
        with model.hooks([("blocks.0.hook_resid_post", add_value(v, rows=rows))]):
            got = model(["hello world", "hi"])
        assert torch.equal(got[0], base[0]) and not torch.equal(got[1], base[1])


@pytest.mark.bad_input
def test_positions_checks_and_the_warning_for_a_write_that_does_nothing():
    from mechint.testing import tiny_model

    model = tiny_model("llama")
    v = torch.ones(model.d_model)
    site = "blocks.0.hook_resid_post"
    with pytest.raises(ValueError, match="one list shared by every row"):
        with model.hooks([(site, add_value(v, positions=[[1], [2]]))]):
            model(["hello", "hi"])
    with pytest.warns(UserWarning, match=r"positions \[100\] are outside the 6 positions") as warned:
        with model.hooks([(site, add_value(v, positions=[100]))]):
            out = model(["hello"])
    assert warned[0].filename == __file__  # the caller's line, not the hook's
    assert torch.equal(out, model(["hello"]))
    # a boolean mask over positions selects where it is True
    mask = torch.tensor([False, False, True, False, False, True])
    with model.hooks([(site, add_value(v, positions=mask))]):
        a = model(["hello"])
    with model.hooks([(site, add_value(v, positions=[2, 5]))]):
        b = model(["hello"])
    assert torch.equal(a, b)
    # generation: later steps reach positions past the prompt, so no warning there
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with model.hooks([(site, add_value(v, positions=[7]))]):
            model.generate(["hello"], max_new_tokens=3)


@pytest.mark.bad_input
def test_hook_return_errors_name_the_site_view_shape():
    from mechint.testing import tiny_model

    model = tiny_model("llama")
    site = "blocks.0.attn.hook_z"
    with pytest.raises(ValueError, match=r"returned shape \(1, 6, 64\), expected \(1, 6, 4, 16\)"):
        with model.hooks([(site, lambda x, ctx: x.flatten(-2))]):
            model(["hello"])
    with pytest.raises(TypeError, match="returned a tuple"):
        with model.hooks([(site, lambda x, ctx: (x,))]):
            model(["hello"])
    with pytest.raises(TypeError, match="list of"):
        model.hooks((site, lambda x, ctx: None)).__enter__()
    names = []
    with model.hooks([("blocks.1.hook_resid_pre", lambda x, hook: names.append(hook.name))]):  # TransformerLens style
        model(["hello"])
    assert names == ["blocks.1.hook_resid_pre"]


def test_input_rows_map_rows_and_per_row_values_to_the_callers_inputs():
    """Under ``input_rows`` (a method that reorders its inputs, as collect does), ``rows=`` and
    per-row values refer to the inputs, whatever batch row they land in."""
    from mechint.hooks import input_rows
    from mechint.testing import tiny_model

    model = tiny_model("llama")
    site = "blocks.0.hook_resid_post"
    texts = ["aaaa", "bb", "cccccc"]
    base = model.run_with_cache(texts, site)[1][site]
    value = torch.arange(3.0)[:, None, None] * torch.ones(1, 1, model.d_model)  # one per input
    order = [2, 0, 1]  # the batch holds inputs 2, 0, 1 in this order
    enc = model.tokenize([texts[i] for i in order])
    store = {}
    with model.hooks([(site, add_value(value)), (site, record(store))]), input_rows(order, 3):
        model.forward(enc, logits=False)
    assert torch.allclose(store[site] - base[order], value[order].expand_as(store[site]))
    # rows= names inputs: input 0 sits in batch row 1
    with (
        model.hooks([(site, add_value(torch.ones(model.d_model), rows=[0])), (site, record(store))]),
        input_rows(order, 3),
    ):
        model.forward(enc, logits=False)
    changed = (store[site] - base[order]).abs().amax(dim=(1, 2)) > 0
    assert changed.tolist() == [False, True, False]
    with pytest.raises(IndexError, match="there are 3 inputs"):
        with model.hooks([(site, add_value(torch.ones(model.d_model), rows=[3]))]), input_rows(order, 3):
            model.forward(enc, logits=False)


def test_a_function_value_is_not_reordered_by_input_rows():
    """A value computed from the cells it replaces already has one row per picked row: collect's
    length-sorted batches must not shuffle it (a regression of the first input_rows version)."""
    import mechint
    from mechint.testing import tiny_model

    model = tiny_model("llama")
    texts = ["a", "bbbbb", "cc", "dddddddd", "eee"]
    site, out = "blocks.1.hook_resid_post", "blocks.2.hook_resid_post"
    halve = add_value(lambda cells, ctx: -0.5 * cells)
    alone = []
    for t in texts:
        with model.hooks([(site, halve)]):
            alone.append(model.run_with_cache([t], out)[1][out][0, -1])
    for batch_size in (5, 2):
        with model.hooks([(site, halve)]):
            got = mechint.collect(model, texts, out, batch_size=batch_size, progress=False)[out]
        torch.testing.assert_close(got, torch.stack(alone), atol=1e-5, rtol=1e-5)
