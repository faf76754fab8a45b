"""Attention sites (``attn.hook_q/k/v``, ``attn.hook_pattern``), the logit lens, and their plots.

TransformerLens is the oracle for the values (as in ``test_oracle_transformer_lens.py``: the bridge
wraps a deep copy of the same Hugging Face module). The rest checks what TransformerLens cannot:
left padding, grouped-query attention, that the attention implementation is switched to eager only
for forwards that read a pattern, and the refusals.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from conftest import TEXTS, assert_site_close, random_tokens

import mechint
from mechint import UnknownSiteError, logit_lens, record, set_value
from mechint.plots import plot_attention, plot_logit_lens
from mechint.testing import FAMILY_NAMES, TL_ARCHITECTURES

ATTENTION_KEYS = ["attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_pattern"]


def _implementation(model) -> str | None:
    return model.hf.config._attn_implementation


def _repeat_kv(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """``[batch, pos, n_kv, d]`` -> ``[batch, pos, n_heads, d]``, each key/value head shared by its group."""
    return x.repeat_interleave(n_heads // x.shape[2], dim=2)


# ---------------------------------------------------------------------------------- names and shapes


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_attention_site_names_and_shapes(family, make_model):
    model = make_model(family)
    names = model.attention_site_names
    assert names == [f"blocks.{l}.{k}" for l in range(model.n_layers) for k in ATTENTION_KEYS]
    assert not set(names) & set(model.site_names)
    tokens = random_tokens(2, 7)
    _, acts = model.run_with_cache(tokens, names)
    gqa = {"llama": 2, "qwen2": 2, "gemma3": 1}.get(family, model.n_heads)
    assert model.n_kv_heads == gqa
    for l in range(model.n_layers):
        b = f"blocks.{l}.attn."
        assert acts[b + "hook_q"].shape == (2, 7, model.n_heads, model.d_head)
        assert acts[b + "hook_k"].shape == (2, 7, model.n_kv_heads, model.d_head)
        assert acts[b + "hook_v"].shape == (2, 7, model.n_kv_heads, model.d_head)
        pattern = acts[b + "hook_pattern"]
        assert pattern.shape == (2, model.n_heads, 7, 7)
        assert_site_close(pattern.sum(-1), torch.ones(2, model.n_heads, 7), name="rows sum to 1")
        assert torch.all(pattern.triu(1) == 0), "a query attends to a later key"


def test_shorthand_expands_attention_keys(make_model):
    model = make_model("llama")
    assert [s.name for s in model.sites("attn.hook_pattern")] == [
        f"blocks.{l}.attn.hook_pattern" for l in range(model.n_layers)
    ]


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_pattern_times_values_is_z(family, make_model):
    """z of each head = its pattern times the values of its key/value head (GQA: shared by a group)."""
    model = make_model(family)
    tokens = random_tokens(2, 11, seed=1)  # longer than Gemma 3's sliding window of 8
    _, acts = model.run_with_cache(tokens, ["attn.hook_v", "attn.hook_pattern", "attn.hook_z"])
    for l in range(model.n_layers):
        b = f"blocks.{l}.attn."
        v = _repeat_kv(acts[b + "hook_v"], model.n_heads)
        z = torch.einsum("bhqk,bkhd->bqhd", acts[b + "hook_pattern"], v)
        assert_site_close(z, acts[b + "hook_z"], name=f"{family} {b} pattern @ v")
    if family == "gemma3":  # layer 0 slides: the first key is out of the window of the last query
        assert acts["blocks.0.attn.hook_pattern"][:, :, -1, 0].abs().max() == 0


# ---------------------------------------------------------------------------------- TransformerLens oracle


def _bridge(model, family: str):
    sources = pytest.importorskip("transformer_lens.model_bridge.sources", reason="transformer-lens not installed")
    from transformer_lens.factories.architecture_adapter_factory import SUPPORTED_ARCHITECTURES

    arch = TL_ARCHITECTURES[family]
    if arch not in SUPPORTED_ARCHITECTURES:
        pytest.skip(f"this TransformerLens has no architecture adapter for {family}")
    hf_copy = copy.deepcopy(model.hf)  # the bridge edits the module it wraps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bridge = sources.build_bridge_from_module(hf_copy, arch, hf_config=hf_copy.config)
    return bridge.eval()


@pytest.mark.parametrize("family", FAMILY_NAMES)
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_attention_sites_match_transformer_lens(family, dtype, device, make_model):
    model = make_model(family, device=device, dtype=dtype)
    bridge = _bridge(model, family)
    tokens = random_tokens(2, 12, seed=2).to(device)  # past Gemma 3's sliding window
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, cache = bridge.run_with_cache(tokens)
        _, acts = model.run_with_cache(tokens, model.attention_site_names)
    for name in model.attention_site_names:
        assert name in cache, f"TransformerLens has no {name}"
        assert_site_close(acts[name], cache[name], dtype=dtype, name=f"{family} {dtype} {name} vs TransformerLens")


# ---------------------------------------------------------------------------------- left padding


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_left_padded_patterns_equal_unpadded(family, device, make_model):
    model = make_model(family, device=device)
    enc = model.tokenize(TEXTS)
    lengths = enc["attention_mask"].sum(1).tolist()
    assert len(set(lengths)) > 1, "the batch must be left-padded"
    sites = model.attention_site_names
    _, acts = model.run_with_cache(enc, sites)
    for i, text in enumerate(TEXTS):
        n = lengths[i]
        _, one = model.run_with_cache(text, sites)
        for name in sites:
            if name.endswith("hook_pattern"):
                padded = acts[name][i]
                assert_site_close(padded[:, -n:, -n:], one[name][0], name=f"{family} row {i} {name}")
                assert torch.all(padded[:, -n:, :-n] == 0), f"{name}: a real token attends to padding"
            else:
                assert_site_close(acts[name][i, -n:], one[name][0], name=f"{family} row {i} {name}")


# ---------------------------------------------------------------------------------- the eager switch


@pytest.mark.parametrize("family", ["llama", "gemma3", "gpt2"])
def test_eager_attention_only_when_a_pattern_is_read(family, make_model):
    model = make_model(family)
    before = _implementation(model)
    assert before != "eager", "the tiny model already runs eager attention: the test would prove nothing"
    tokens = random_tokens(1, 6)
    seen = []

    def spy(x, ctx):
        seen.append(_implementation(model))

    others = ["blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "blocks.0.attn.hook_v", "blocks.0.attn.hook_z"]
    with model.hooks([("blocks.0.hook_resid_pre", spy), *[(s, record({})) for s in others]]):
        model(tokens)
    _, acts = model.run_with_cache(tokens, model.site_names)
    assert seen == [before] and _implementation(model) == before
    with model.hooks([("blocks.0.hook_resid_pre", spy), ("blocks.1.attn.hook_pattern", record({}))]):
        model(tokens)
    assert seen == [before, "eager"]
    assert _implementation(model) == before  # restored on exit
    with pytest.raises(RuntimeError, match="boom"):
        with model.hooks([("blocks.1.attn.hook_pattern", record({}))]):
            raise RuntimeError("boom")
    assert _implementation(model) == before  # and after an error


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_stopping_after_any_site_has_run_every_earlier_one(family, make_model):
    """The forward order of the sites (Site.order) is the order in which their hooks fire."""
    model = make_model(family)
    names = [n for n in model.site_names + model.attention_site_names if n.startswith("blocks.1.")]
    tokens = random_tokens(1, 5)
    for last in names:
        stop = model.site(last)
        wanted = [n for n in names if model.site(n).order <= stop.order]
        store: dict = {}
        with model.hooks([(n, record(store)) for n in wanted], stop_after=last):
            assert model(tokens) is None
        assert sorted(store) == sorted(wanted), f"stopping after {last}"


# ---------------------------------------------------------------------------------- reads and writes


def test_pattern_positions_pick_queries(make_model):
    model = make_model("qwen2")
    tokens = random_tokens(2, 6)
    full, last = {}, {}
    with model.hooks(
        [("blocks.1.attn.hook_pattern", record(full)), ("blocks.1.attn.hook_pattern", record(last, positions=[-1]))]
    ):
        model(tokens)
    name = "blocks.1.attn.hook_pattern"
    assert last[name].shape == (2, model.n_heads, 1, 6)
    assert torch.equal(last[name], full[name][:, :, -1:])


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_value_writes_reach_z_and_leave_q_k(family, make_model):
    """A write at hook_v (a part of GPT-2's and BLOOM's fused projection) changes only the values."""
    model = make_model(family)
    tokens = random_tokens(2, 6)
    sites = ["blocks.1.attn.hook_q", "blocks.1.attn.hook_k", "blocks.1.attn.hook_z"]
    _, clean = model.run_with_cache(tokens, sites)
    store: dict = {}
    with model.hooks([("blocks.1.attn.hook_v", set_value(0.0)), *[(s, record(store)) for s in sites]]):
        model(tokens)
    assert torch.all(store["blocks.1.attn.hook_z"] == 0)
    assert clean["blocks.1.attn.hook_z"].abs().max() > 0
    for s in sites[:2]:
        assert torch.equal(store[s], clean[s]), s


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_pattern_writes_are_refused(family, make_model):
    model = make_model(family)
    before = _implementation(model)
    tokens = random_tokens(1, 5)
    for fn in (set_value(0.0), lambda x, ctx: x):
        with pytest.raises(NotImplementedError, match="read only"):
            with model.hooks([("blocks.0.attn.hook_pattern", fn)]):
                model(tokens)
    assert _implementation(model) == before


def test_collecting_patterns_is_refused(make_model):
    model = make_model("llama")
    with pytest.raises(ValueError, match="run_with_cache"):
        mechint.collect(model, ["a b", "c"], "blocks.0.attn.hook_pattern", progress=False)


@pytest.mark.parametrize(
    "typo,suggestion",
    [
        ("blocks.1.attn.hook_patern", "blocks.1.attn.hook_pattern"),
        ("blocks.1.attn.hook_qq", "blocks.1.attn.hook_q"),
        ("blocks.0.hook_v", "blocks.0.attn.hook_v"),
    ],
)
def test_unknown_attention_sites_suggest_nearest(typo, suggestion, make_model):
    model = make_model("gpt2")
    with pytest.raises(UnknownSiteError) as info:
        model.site(typo)
    assert suggestion in str(info.value)


def test_attention_scores_are_refused_with_the_reason(make_model):
    model = make_model("llama")
    with pytest.raises(UnknownSiteError, match="hook_pattern"):
        model.site("blocks.0.attn.hook_attn_scores")


# ---------------------------------------------------------------------------------- logit lens


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_logit_lens_last_entry_is_the_models_output(family, make_model):
    model = make_model(family)
    texts = TEXTS[:3]
    lens = logit_lens(model, texts, positions="all", top_k=3, tokens=["a", 98])
    assert lens.layers == list(range(model.n_layers + 1))
    assert lens.labels[0] == "blocks.0.hook_resid_pre"
    assert lens.labels[-1] == f"blocks.{model.n_layers - 1}.hook_resid_post"
    a_id = model.tokenizer("a", add_special_tokens=False)["input_ids"][0]
    assert lens.token_ids == [a_id, 98]
    enc = model.tokenize(texts)
    with torch.no_grad():
        logits = model(enc)
    lengths = enc["attention_mask"].sum(1).tolist()
    for i, n in enumerate(lengths):
        probs = logits[i, -n:].float().softmax(-1)
        top = probs.topk(3, dim=-1)
        assert lens.top_ids[i].shape == (model.n_layers + 1, n, 3)
        assert torch.equal(lens.top_ids[i][-1], top.indices)
        assert_site_close(lens.top_probs[i][-1], top.values, name=f"{family} text {i} top probs")
        assert_site_close(lens.token_probs[i][-1], probs[:, [a_id, 98]], name=f"{family} text {i} chosen")
        assert len(lens.top_tokens[i][0][0]) == 3 and len(lens.input_tokens[i]) == n
    # an intermediate entry is the final norm and unembedding of that residual stream
    _, acts = model.run_with_cache(texts[0], ["blocks.1.hook_resid_pre"])
    norm = model.site("ln_final.hook_normalized").module
    with torch.no_grad():
        mid = model.hf.get_submodule(model.family.lm_head)(norm(acts["blocks.1.hook_resid_pre"][0]))
    assert_site_close(lens.token_probs[0][1], mid.float().softmax(-1)[:, [a_id, 98]], name="entry 1")


def test_logit_lens_applies_the_final_softcapping(make_model):
    """Gemma's final logit softcapping (off in Gemma 3's default config) is part of the lens."""
    model = make_model("gemma3", final_logit_softcapping=0.5)
    lens = logit_lens(model, "hello", top_k=4)
    with torch.no_grad():
        logits = model("hello")[0, -1]
    assert logits.abs().max() <= 0.5
    top = logits.float().softmax(-1).topk(4)
    assert torch.equal(lens.top_ids[0][-1, 0], top.indices)
    assert_site_close(lens.top_probs[0][-1, 0], top.values, name="capped lens")


def test_logit_lens_positions_layers_and_errors(make_model):
    model = make_model("llama")
    lens = logit_lens(model, ["hello", "hi"], layers=[0, -1], positions=-1, top_k=2)
    assert lens.layers == [0, model.n_layers] and lens.token_probs is None
    assert [t.shape for t in lens.top_ids] == [(2, 1, 2), (2, 1, 2)]
    assert lens.positions == [[5], [2]]  # BOS + bytes
    with pytest.raises(ValueError, match="tokens"):
        logit_lens(model, "hello", tokens="ab")
    with pytest.raises(ValueError, match="position"):
        logit_lens(model, "hi", positions=10)


# ---------------------------------------------------------------------------------- plots


def test_plot_attention_and_logit_lens(make_model):
    model = make_model("llama")
    text = "hello"
    _, acts = model.run_with_cache(text, "blocks.0.attn.hook_pattern")
    tokens = model.to_str_tokens(text)
    fig = plot_attention(acts["blocks.0.attn.hook_pattern"][0], tokens, title="layer 0")
    assert isinstance(fig, go.Figure) and len(fig.data) == model.n_heads
    assert [t.visible for t in fig.data] == [True] + [False] * (model.n_heads - 1)
    assert len(fig.layout.sliders[0].steps) == model.n_heads
    one = plot_attention(acts["blocks.0.attn.hook_pattern"][0, 2], tokens)
    assert len(one.data) == 1 and not one.layout.sliders
    with pytest.raises(ValueError, match="tokens"):
        plot_attention(acts["blocks.0.attn.hook_pattern"][0], tokens[:-1])

    lens = logit_lens(model, [text, "ab"], positions="all", tokens=[101])
    fig = plot_logit_lens(lens, 1, title="lens")
    assert np.asarray(fig.data[0].z).shape == (model.n_layers + 1, 3)
    by_token = plot_logit_lens(lens, 0, token=101)
    assert np.asarray(by_token.data[0].z).shape == (model.n_layers + 1, len(tokens))
    with pytest.raises(ValueError, match="chosen tokens"):
        plot_logit_lens(lens, 0, token=5)
