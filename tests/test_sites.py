"""Site names and what they hold: the family tables checked against the residual-stream algebra."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_site_close, random_tokens

from mechint import FAMILIES, Model, UnknownSiteError, UnsupportedArchitectureError, load_model
from mechint.sites import expand_sites, site_names
from mechint.testing import FAMILY_NAMES, byte_tokenizer

BLOCK_KEYS = [
    "hook_resid_pre",
    "attn.hook_z",
    "hook_attn_out",
    "hook_resid_mid",
    "mlp.hook_post",
    "hook_mlp_out",
    "hook_resid_post",
]


# ---------------------------------------------------------------------------------- names


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_site_names(family, make_model):
    model = make_model(family)
    names = model.site_names
    top = FAMILIES[family].top_sites
    assert len(names) == len(top) + 7 * model.n_layers
    assert len(set(names)) == len(names)
    assert names[0] == "hook_embed" and names[-1] == "ln_final.hook_normalized"
    for layer in range(model.n_layers):
        assert [n for n in names if n.startswith(f"blocks.{layer}.")] == [f"blocks.{layer}.{k}" for k in BLOCK_KEYS]
    assert ("hook_pos_embed" in names) == (family == "gpt2")
    assert site_names(FAMILIES[family], 5)[-2] == "blocks.4.hook_resid_post"
    for name in names:  # every name resolves to a module of this model
        site = model.site(name)
        assert site.name == name and any(site.module is m for m in model.hf.modules())


def test_sites_are_in_forward_order(make_model):
    model = make_model("llama")
    orders = [model.site(n).order for n in model.site_names]
    assert orders == sorted(orders)


@pytest.mark.parametrize(
    "typo,suggestion",
    [
        ("blocks.1.hook_resid_psot", "blocks.1.hook_resid_post"),
        ("blocks.2.attn.hook_zz", "blocks.2.attn.hook_z"),
        ("blocks.0.mlp_out", "blocks.0.hook_mlp_out"),
        ("hook_embd", "hook_embed"),
        ("ln_final.hook_normalised", "ln_final.hook_normalized"),
    ],
)
def test_unknown_site_suggests_nearest_names(typo, suggestion, make_model):
    model = make_model("llama")
    with pytest.raises(UnknownSiteError) as info:
        model.site(typo)
    message = str(info.value)
    assert typo in message and suggestion in message
    assert isinstance(info.value, KeyError)  # ``except KeyError`` still catches it
    with pytest.raises(UnknownSiteError):
        model.run_with_cache("abc", [typo])


def test_out_of_range_layer_names_the_range(make_model):
    model = make_model("qwen2")
    with pytest.raises(UnknownSiteError, match=r"0\.\.2") as info:
        model.site("blocks.9.hook_resid_post")
    assert "layer 9" in str(info.value)
    with pytest.raises(UnknownSiteError, match=r"0\.\.2"):
        with model.hooks([("blocks.3.attn.hook_z", lambda x, ctx: None)]):
            pass


def test_site_names_must_be_strings(make_model):
    with pytest.raises(TypeError):
        make_model("llama").site(3)


def test_unsupported_architecture_names_the_supported_families():
    from transformers import AutoModelForCausalLM, GPTNeoXConfig

    cfg = GPTNeoXConfig(
        vocab_size=259, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4
    )
    hf = AutoModelForCausalLM.from_config(cfg)
    for make in (lambda: Model(hf, byte_tokenizer()), lambda: load_model(hf, tokenizer=byte_tokenizer())):
        with pytest.raises(UnsupportedArchitectureError) as info:
            make()
        message = str(info.value)
        assert "gpt_neox" in message
        for family in FAMILY_NAMES:
            assert family in message
        assert "families.py" in message


def test_bloom_with_post_layernorm_residual_is_rejected(make_hf_model):
    hf = make_hf_model("bloom", apply_residual_connection_post_layernorm=True)
    with pytest.raises(UnsupportedArchitectureError, match="apply_residual_connection_post_layernorm"):
        Model(hf, byte_tokenizer())


# ---------------------------------------------------------------------------------- shorthand


def test_shorthand_expands_to_every_layer(make_model):
    model = make_model("gpt2")
    assert [s.name for s in model.sites("hook_resid_post")] == [f"blocks.{l}.hook_resid_post" for l in range(3)]
    assert [s.name for s in model.sites("blocks.*.hook_mlp_out")] == [f"blocks.{l}.hook_mlp_out" for l in range(3)]
    assert [s.name for s in model.sites("attn.hook_z")] == [f"blocks.{l}.attn.hook_z" for l in range(3)]
    assert [s.name for s in model.sites("mlp.hook_post")] == [f"blocks.{l}.mlp.hook_post" for l in range(3)]
    mixed = model.sites(["hook_embed", "hook_resid_pre", "blocks.1.hook_resid_pre", "ln_final.hook_normalized"])
    assert [s.name for s in mixed] == ["hook_embed"] + [f"blocks.{l}.hook_resid_pre" for l in range(3)] + [
        "ln_final.hook_normalized"
    ]  # no duplicates
    assert expand_sites("blocks.2.hook_resid_mid", 3) == ["blocks.2.hook_resid_mid"]
    with pytest.raises(UnknownSiteError, match="blocks.0.hook_resid_post"):
        model.sites("hook_resid_psot")  # a typo in a shorthand still gets suggestions
    _, cache = model.run_with_cache("hi", "hook_resid_mid")
    assert list(cache) == [f"blocks.{l}.hook_resid_mid" for l in range(3)]


# ---------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_site_shapes(family, make_model):
    model = make_model(family)
    tokens = random_tokens(2, 7)
    logits, acts = model.run_with_cache(tokens, model.site_names)
    assert logits.shape == (2, 7, model.d_vocab)
    for name, value in acts.items():
        if name.endswith("attn.hook_z"):
            expected = (2, 7, model.n_heads, model.d_head)
        elif name.endswith("mlp.hook_post"):
            expected = (2, 7, model.d_mlp)
        else:
            expected = (2, 7, model.d_model)
        assert value.shape == expected, name
    if family == "gemma3":  # head_dim 32 with 4 heads: n_heads * d_head != d_model
        assert model.n_heads * model.d_head != model.d_model


# ---------------------------------------------------------------------------------- residual algebra


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_residual_stream_algebra(family, make_model):
    """The table's attn_out / mlp_out are exactly what is added to the residual stream."""
    model = make_model(family)
    tokens = random_tokens(2, 9)
    with torch.no_grad():
        _, a = model.run_with_cache(tokens, model.site_names)
    n = model.n_layers
    for l in range(n):
        b = f"blocks.{l}."
        assert_site_close(a[b + "hook_resid_mid"], a[b + "hook_resid_pre"] + a[b + "hook_attn_out"], name=f"{b}mid")
        assert_site_close(a[b + "hook_resid_post"], a[b + "hook_resid_mid"] + a[b + "hook_mlp_out"], name=f"{b}post")
        if l + 1 < n:
            assert torch.equal(a[b + "hook_resid_post"], a[f"blocks.{l + 1}.hook_resid_pre"])
    embed, pre0 = a["hook_embed"], a["blocks.0.hook_resid_pre"]
    if family == "gpt2":
        assert_site_close(pre0, embed + a["hook_pos_embed"], name="resid_pre[0] = embed + pos_embed")
    else:  # bloom's hook_embed is after its embedding layernorm, as in TransformerLens
        assert torch.equal(pre0, embed)
    if family == "gemma3":  # hook_embed is the scaled embedding
        raw = model.hf.model.embed_tokens.weight[tokens]
        assert_site_close(embed, raw * model.d_model**0.5, name="gemma embed scale")


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_head_and_neuron_sites_feed_their_projections(family, make_model):
    """z (per head, flattened) through the attention output projection, and mlp.hook_post through
    the MLP down projection, give the sublayer outputs (Gemma 3 adds its post-norms on top)."""
    model = make_model(family)
    tokens = random_tokens(2, 9)
    with torch.no_grad():
        _, a = model.run_with_cache(tokens, model.site_names)
        layers = model.hf.get_submodule(model.family.layers)
        for l in range(model.n_layers):
            b = f"blocks.{l}."
            layer = layers[l]
            o_proj = {"gpt2": "attn.c_proj", "bloom": "self_attention.dense"}.get(family, "self_attn.o_proj")
            attn = layer.get_submodule(o_proj)(a[b + "attn.hook_z"].flatten(-2))
            mlp = layer.get_submodule(model.family.mlp_out_proj)(a[b + "mlp.hook_post"])
            if family == "gemma3":
                attn, mlp = layer.post_attention_layernorm(attn), layer.post_feedforward_layernorm(mlp)
            assert_site_close(attn, a[b + "hook_attn_out"], name=f"{b}z -> attn_out")
            assert_site_close(mlp, a[b + "hook_mlp_out"], name=f"{b}post -> mlp_out")


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_final_norm_times_unembed_is_the_logits(family, make_model):
    model = make_model(family)
    tokens = random_tokens(2, 9)
    with torch.no_grad():
        logits, a = model.run_with_cache(tokens, ["ln_final.hook_normalized"])
        head = model.hf.get_submodule(model.family.lm_head)
        expected = a["ln_final.hook_normalized"] @ model.W_U
        if getattr(head, "bias", None) is not None:
            expected = expected + head.bias
    assert model.W_U.shape == (model.d_model, model.d_vocab)
    assert_site_close(logits, expected, name="ln_final @ W_U")


def test_skipping_the_unembedding_still_computes_every_site(make_model):
    model = make_model("llama")
    tokens = random_tokens(1, 6)
    full, a = model.run_with_cache(tokens, model.site_names)
    none, b = model.run_with_cache(tokens, model.site_names, logits=False)
    assert none is None
    for name in model.site_names:
        assert torch.equal(a[name], b[name]), name
