"""Attention sites (``attn.hook_q/k/v``, ``attn.hook_attn_scores``, ``attn.hook_pattern``), the logit
lens, and their plots.

TransformerLens is the oracle for the values (as in ``test_oracle_transformer_lens.py``: the bridge
wraps a deep copy of the same Hugging Face module). The rest checks what TransformerLens cannot:
left padding, grouped-query attention, that the attention implementation is switched to eager only
for forwards that read a pattern, and the refusals.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from conftest import TEXTS, assert_site_close, random_tokens

import mechint
from mechint import UnknownSiteError, logit_lens, record, set_value
from mechint.plots import plot_attention, plot_logit_lens
from mechint.testing import FAMILY_NAMES, TL_ARCHITECTURES

ATTENTION_KEYS = ["attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_attn_scores", "attn.hook_pattern"]


def _implementation(model) -> str | None:
    return model.hf.config._attn_implementation


def _masked(scores: torch.Tensor) -> torch.Tensor:
    """Where ``scores`` ``[batch, head, query, key]`` are masked: the model adds the most negative
    number of the dtype there (TransformerLens's bridge fills the same), so they are at or near it."""
    return scores <= torch.finfo(scores.dtype).min / 2


def assert_scores_close(actual: torch.Tensor, expected: torch.Tensor, *, dtype=torch.float32, name: str = ""):
    """Scores equal: the same entries masked, each masked entry the dtype's most negative number in
    both, the others within the tolerance of the dtype (the bf16 band is a norm, which the masked
    entries would overflow)."""
    assert actual.shape == expected.shape, f"{name}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    masked = _masked(expected)
    assert torch.equal(_masked(actual), masked), f"{name}: other entries masked"
    lowest = torch.finfo(expected.dtype).min
    assert torch.all(actual[masked] == lowest) and torch.all(expected[masked] == lowest), f"{name}: masked value"
    assert_site_close(actual.masked_fill(masked, 0), expected.masked_fill(masked, 0), dtype=dtype, name=name)


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
        assert acts[b + "hook_attn_scores"].shape == (2, model.n_heads, 7, 7)  # one per query head
        assert_site_close(pattern.sum(-1), torch.ones(2, model.n_heads, 7), name="rows sum to 1")
        assert torch.all(pattern.triu(1) == 0), "a query attends to a later key"


@pytest.mark.parametrize("key", ["attn.hook_pattern", "attn.hook_attn_scores"])
def test_shorthand_expands_attention_keys(key, make_model):
    model = make_model("llama")
    assert [s.name for s in model.sites(key)] == [f"blocks.{l}.{key}" for l in range(model.n_layers)]


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


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_softmax_of_scores_is_the_pattern(family, device, make_model):
    """The pattern is the softmax of the scores over the keys; the masked scores are the future keys
    (and, on Gemma 3's sliding layers, the keys out of the window)."""
    model = make_model(family, device=device)
    tokens = random_tokens(2, 11, seed=1).to(device)
    _, acts = model.run_with_cache(tokens, ["attn.hook_attn_scores", "attn.hook_pattern"])
    query, key = torch.arange(11, device=device)[:, None], torch.arange(11, device=device)
    layer_types = getattr(model.hf.config, "layer_types", None) or ["full_attention"] * model.n_layers
    for l in range(model.n_layers):
        scores, pattern = acts[f"blocks.{l}.attn.hook_attn_scores"], acts[f"blocks.{l}.attn.hook_pattern"]
        assert_site_close(scores.float().softmax(-1), pattern, name=f"{family} layer {l}")
        expected = key > query
        if layer_types[l] == "sliding_attention":
            expected = expected | (query - key >= model.hf.config.sliding_window)
        assert torch.equal(_masked(scores), expected.expand_as(scores)), f"{family} layer {l}: masked keys"
        assert torch.all(pattern[_masked(scores)] == 0)


@pytest.mark.parametrize("family", ["gpt2", "bloom"])
def test_scores_are_scaled_query_key_products(family, device, make_model):
    """Hand oracle where there is no RoPE: q . k / sqrt(d_head), plus BLOOM's ALiBi bias, slope times
    the key's position, with slopes 2 ** (-8 (h + 1) / n_heads) (ALiBi's geometric slopes)."""
    model = make_model(family, device=device)
    tokens = random_tokens(2, 9, seed=4).to(device)
    _, acts = model.run_with_cache(
        tokens, ["blocks.1.attn.hook_q", "blocks.1.attn.hook_k", "blocks.1.attn.hook_attn_scores"]
    )
    q, k = acts["blocks.1.attn.hook_q"], acts["blocks.1.attn.hook_k"]
    expected = torch.einsum("bqhd,bkhd->bhqk", q, k) / model.d_head**0.5
    if family == "bloom":
        slopes = 2.0 ** (-8.0 * torch.arange(1, model.n_heads + 1, device=device) / model.n_heads)
        expected = expected + slopes[:, None, None] * torch.arange(9, device=device)
    scores = acts["blocks.1.attn.hook_attn_scores"]
    past = torch.ones(9, 9, dtype=torch.bool, device=device).tril()
    assert_site_close(scores[..., past], expected[..., past], name=f"{family} scores")


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
        close = assert_scores_close if name.endswith("hook_attn_scores") else assert_site_close
        close(acts[name], cache[name], dtype=dtype, name=f"{family} {dtype} {name} vs TransformerLens")


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_gemma_scores_scaling_matches_transformer_lens(dtype, device, make_model):
    """Gemma scales its scores by query_pre_attn_scalar ** -0.5, not head_dim ** -0.5: with the
    scalar changed, the scores still match TransformerLens and are the default model's scores times
    sqrt(head_dim / scalar). (Gemma 3's attention applies no logit softcapping in this transformers:
    its attention function is not given attn_logit_softcapping, so a config value has no effect.)"""
    model = make_model("gemma3", device=device, dtype=dtype, query_pre_attn_scalar=20)
    default = make_model("gemma3", device=device, dtype=dtype)
    assert default.hf.config.query_pre_attn_scalar == default.hf.config.head_dim == 32
    bridge = _bridge(model, "gemma3")
    tokens = random_tokens(2, 12, seed=2).to(device)
    names = [f"blocks.{l}.attn.hook_attn_scores" for l in range(model.n_layers)]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, cache = bridge.run_with_cache(tokens)
        _, acts = model.run_with_cache(tokens, names)
        _, plain = default.run_with_cache(tokens, names[:1])  # layer 0: the same inputs in both models
    for name in names:
        assert_scores_close(acts[name], cache[name], dtype=dtype, name=f"gemma3 {dtype} {name} vs TransformerLens")
    scores, base = acts[names[0]], plain[names[0]]
    masked = _masked(base)
    rescaled = (base.float() * (32 / 20) ** 0.5).masked_fill(masked, 0)
    assert_site_close(scores.float().masked_fill(masked, 0), rescaled, dtype=dtype, name="query_pre_attn_scalar")


# ---------------------------------------------------------------------------------- left padding


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_left_padded_patterns_and_scores_equal_unpadded(family, device, make_model):
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
            elif name.endswith("hook_attn_scores"):
                padded = acts[name][i]
                assert_scores_close(padded[:, -n:, -n:], one[name][0], name=f"{family} row {i} {name}")
                assert torch.all(_masked(padded[:, -n:, :-n])), f"{name}: a padding key is not masked"
            else:
                assert_site_close(acts[name][i, -n:], one[name][0], name=f"{family} row {i} {name}")


# ---------------------------------------------------------------------------------- the eager switch


@pytest.mark.parametrize("family", ["llama", "gemma3", "gpt2"])
@pytest.mark.parametrize("key", ["attn.hook_pattern", "attn.hook_attn_scores"])
def test_eager_attention_only_when_a_pattern_is_read(family, key, make_model):
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
    with model.hooks([("blocks.0.hook_resid_pre", spy), (f"blocks.1.{key}", record({}))]):
        model(tokens)
    assert seen == [before, "eager"]
    assert _implementation(model) == before  # restored on exit
    with pytest.raises(RuntimeError, match="boom"):
        with model.hooks([(f"blocks.1.{key}", record({}))]):
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


@pytest.mark.parametrize("key", ["attn.hook_pattern", "attn.hook_attn_scores"])
def test_pattern_positions_pick_queries(key, device, make_model):
    model = make_model("qwen2", device=device)
    tokens = random_tokens(2, 6).to(device)
    name = f"blocks.1.{key}"
    full, last, some = {}, {}, {}
    with model.hooks(
        [(name, record(full)), (name, record(last, positions=[-1])), (name, record(some, positions=[1, 3]))]
    ):
        model(tokens)
    assert last[name].shape == (2, model.n_heads, 1, 6)
    assert torch.equal(last[name], full[name][:, :, -1:])
    assert torch.equal(some[name], full[name][:, :, [1, 3]])


def test_scores_need_one_softmax_and_stop_inside_the_attention(make_model):
    """A forward stopped after the scores has read them and not hook_z (the input of the output
    projection, later in the same attention call); the reader leaves no torch function mode behind."""
    model = make_model("llama")
    tokens = random_tokens(1, 5)
    store: dict = {}
    hooks = [(n, record(store)) for n in ("blocks.1.attn.hook_attn_scores", "blocks.1.attn.hook_z")]
    with model.hooks(hooks, stop_after="blocks.1.attn.hook_attn_scores"):
        assert model(tokens) is None
    assert sorted(store) == ["blocks.1.attn.hook_attn_scores"]
    assert not torch.overrides._get_current_function_mode_stack()
    _, again = model.run_with_cache(tokens, "blocks.1.attn.hook_attn_scores")
    assert torch.equal(again["blocks.1.attn.hook_attn_scores"], store["blocks.1.attn.hook_attn_scores"])


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


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_a_hook_functions_softmax_is_not_the_scores(family, make_model):
    """A hook at attn.hook_q runs inside the attention module's forward; a softmax it computes is not
    taken for the model's."""
    model = make_model(family)
    tokens = random_tokens(2, 6)
    _, clean = model.run_with_cache(tokens, "blocks.1.attn.hook_attn_scores")
    store: dict = {}
    with model.hooks(
        [
            ("blocks.1.attn.hook_q", lambda x, ctx: x.softmax(-1).sum() * 0 + x),
            ("blocks.1.attn.hook_attn_scores", record(store)),
        ]
    ):
        model(tokens)
    name = "blocks.1.attn.hook_attn_scores"
    assert torch.equal(store[name], clean[name])


@pytest.mark.parametrize("family", ["llama", "bloom"])
def test_scores_during_generation_are_the_new_queries_rows(family, device, make_model):
    """With a KV cache each step's scores are the new query's row over every key so far: the rows of
    one forward over the generated tokens (record refuses them, as patterns: a raw hook reads them)."""
    model = make_model(family, device=device)
    steps: list[torch.Tensor] = []

    def keep(x, ctx):
        steps.append(x.detach().clone())

    with torch.no_grad(), model.hooks([("blocks.1.attn.hook_attn_scores", keep)]):
        out = model.generate("hello", max_new_tokens=3, return_tokens=True)
    assert not torch.overrides._get_current_function_mode_stack()
    fed = out[:, :-1]
    _, acts = model.run_with_cache(fed, "blocks.1.attn.hook_attn_scores")
    full = acts["blocks.1.attn.hook_attn_scores"]
    assert [s.shape[-2] for s in steps] == [fed.shape[1] - 2, 1, 1]
    assert_scores_close(steps[0], full[..., : steps[0].shape[-2], : steps[0].shape[-1]], name="prompt")
    for i, step in enumerate(steps[1:], start=1):
        n = step.shape[-1]
        assert n == steps[0].shape[-1] + i
        assert_site_close(step, full[..., n - 1 : n, :n], name=f"{family} step {i}")


def test_nnsight_cannot_read_scores(make_model):
    model = make_model("gpt2")
    with pytest.raises(ValueError, match="run_with_cache"):
        mechint.nnsight_sites(model, "blocks.0.attn.hook_attn_scores")


@pytest.mark.parametrize("family", FAMILY_NAMES)
@pytest.mark.parametrize("key", ["attn.hook_pattern", "attn.hook_attn_scores"])
def test_pattern_writes_are_refused(family, key, make_model):
    model = make_model(family)
    before = _implementation(model)
    tokens = random_tokens(1, 5)
    for fn in (set_value(0.0), lambda x, ctx: x):
        with pytest.raises(NotImplementedError, match="read only"):
            with model.hooks([(f"blocks.0.{key}", fn)]):
                model(tokens)
    assert _implementation(model) == before
    assert not torch.overrides._get_current_function_mode_stack()


@pytest.mark.parametrize("key", ["attn.hook_pattern", "attn.hook_attn_scores"])
def test_collecting_patterns_is_refused(key, make_model):
    model = make_model("llama")
    with pytest.raises(ValueError, match="run_with_cache"):
        mechint.collect(model, ["a b", "c"], f"blocks.0.{key}", progress=False)


@pytest.mark.parametrize(
    "typo,suggestion",
    [
        ("blocks.1.attn.hook_patern", "blocks.1.attn.hook_pattern"),
        ("blocks.1.attn.hook_qq", "blocks.1.attn.hook_q"),
        ("blocks.0.hook_v", "blocks.0.attn.hook_v"),
        ("blocks.2.attn.hook_scores", "blocks.2.attn.hook_attn_scores"),
    ],
)
def test_unknown_attention_sites_suggest_nearest(typo, suggestion, make_model):
    model = make_model("gpt2")
    with pytest.raises(UnknownSiteError) as info:
        model.site(typo)
    assert suggestion in str(info.value)


def test_rotated_queries_and_keys_are_refused_with_the_reason(make_model):
    """The scores are a site now; TransformerLens's queries and keys after RoPE are not yet."""
    model = make_model("llama")
    site = model.site("blocks.0.attn.hook_attn_scores")
    assert site.pattern and site.scores
    for key, instead in (("attn.hook_rot_q", "attn.hook_q"), ("attn.hook_rot_k", "attn.hook_k")):
        with pytest.raises(UnknownSiteError, match=instead):
            model.site(f"blocks.0.{key}")


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
    token_probs = lens.token_probs
    assert token_probs is not None
    for i, n in enumerate(lengths):
        probs = logits[i, -n:].float().softmax(-1)
        top = probs.topk(3, dim=-1)
        assert lens.top_ids[i].shape == (model.n_layers + 1, n, 3)
        assert torch.equal(lens.top_ids[i][-1], top.indices)
        assert_site_close(lens.top_probs[i][-1], top.values, name=f"{family} text {i} top probs")
        assert_site_close(token_probs[i][-1], probs[:, [a_id, 98]], name=f"{family} text {i} chosen")
        assert len(lens.top_tokens[i][0][0]) == 3 and len(lens.input_tokens[i]) == n
    # an intermediate entry is the final norm and unembedding of that residual stream
    _, acts = model.run_with_cache(texts[0], ["blocks.1.hook_resid_pre"])
    norm = model.site("ln_final.hook_normalized").module
    with torch.no_grad():
        mid = model.hf.get_submodule(model.family.lm_head)(norm(acts["blocks.1.hook_resid_pre"][0]))
    assert_site_close(token_probs[0][1], mid.float().softmax(-1)[:, [a_id, 98]], name="entry 1")


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
    assert isinstance(fig, go.Figure)
    data: Any = fig.data  # plotly's figure attributes are untyped
    layout: Any = fig.layout
    assert len(data) == model.n_heads
    assert [t.visible for t in data] == [True] + [False] * (model.n_heads - 1)
    assert len(layout.sliders[0].steps) == model.n_heads
    one: Any = plot_attention(acts["blocks.0.attn.hook_pattern"][0, 2], tokens)
    assert len(one.data) == 1 and not one.layout.sliders
    with pytest.raises(ValueError, match="tokens"):
        plot_attention(acts["blocks.0.attn.hook_pattern"][0], tokens[:-1])

    lens = logit_lens(model, [text, "ab"], positions="all", tokens=[101])
    fig: Any = plot_logit_lens(lens, 1, title="lens")
    assert np.asarray(fig.data[0].z).shape == (model.n_layers + 1, 3)
    by_token: Any = plot_logit_lens(lens, 0, token=101)
    assert np.asarray(by_token.data[0].z).shape == (model.n_layers + 1, len(tokens))
    with pytest.raises(ValueError, match="chosen tokens"):
        plot_logit_lens(lens, 0, token=5)
