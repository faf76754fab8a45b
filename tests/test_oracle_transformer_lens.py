"""TransformerLens as an oracle: every mechint site equals the TransformerLens cache at the same name.

TransformerLens 4.3 wraps an existing Hugging Face module in a ``TransformerBridge``
(``build_bridge_from_module``). The bridge changes the module it is given in place (replaces
submodules, may switch attention to eager), so it always gets a deep copy and mechint runs on the
original.

Two names differ by convention, on purpose, and are checked as such (see the ``convention`` tests):

* ``ln_final.hook_normalized``: the TransformerLens 4.3 bridge fires ``hook_normalized`` *before*
  the norm's gain (and bias): ``x / rms`` (RMSNorm) or ``(x - mean) / std`` (LayerNorm). mechint's
  site is the norm's output, what the unembedding reads (``ln_final.hook_normalized @ W_U = logits``),
  which is the bridge's ``ln_final.hook_out`` and the classic ``HookedTransformer`` LayerNorm
  convention (``hook_normalized(x * w + b)``).
* BLOOM ``hook_embed``: the bridge aliases ``hook_embed`` to ``embed_ln.hook_out`` (after
  ``word_embeddings_layernorm``), so it equals ``blocks.0.hook_resid_pre``; mechint's bloom table
  follows that convention.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from conftest import BF16_REL_TOL, assert_site_close, random_tokens

from mechint import add_value
from mechint.testing import FAMILY_NAMES, TL_ARCHITECTURES

tl_sources = pytest.importorskip(
    "transformer_lens.model_bridge.sources", reason="transformer-lens is not installed (dev extra)"
)


def _tl_supported() -> set[str]:
    try:
        from transformer_lens.factories.architecture_adapter_factory import SUPPORTED_ARCHITECTURES
    except ImportError:  # pragma: no cover - layout of another TransformerLens version
        return set(TL_ARCHITECTURES.values())
    return set(SUPPORTED_ARCHITECTURES)


_SUPPORTED = _tl_supported()


def tl_name(family: str, site: str) -> str:
    """The TransformerLens cache name holding the same tensor as mechint's ``site``."""
    if site == "ln_final.hook_normalized":
        return "ln_final.hook_out"
    return site


def _skip_unsupported(family: str) -> str:
    arch = TL_ARCHITECTURES.get(family)
    if arch is None or arch not in _SUPPORTED:
        pytest.skip(f"this TransformerLens has no architecture adapter for {family} ({arch})")
    return arch


def make_bridge(model, family: str):
    """A TransformerBridge around a deep copy of ``model.hf`` (the bridge edits its module)."""
    arch = _skip_unsupported(family)
    hf_copy = copy.deepcopy(model.hf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bridge = tl_sources.build_bridge_from_module(hf_copy, arch, hf_config=hf_copy.config)
    return bridge.eval()


def tl_run(bridge, tokens):
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bridge.run_with_cache(tokens)


def test_every_family_has_a_tl_architecture():
    assert set(TL_ARCHITECTURES) == set(FAMILY_NAMES)


# On every device: float32 for one batch of two equal-length sequences and for one sequence, within
# 1e-5; bfloat16 for the batch of two, within the bf16 band (conftest.BF16_REL_TOL).
_GRID = [("float32", (2, 12)), ("float32", (1, 9)), ("bfloat16", (2, 12))]


@pytest.mark.parametrize("family", FAMILY_NAMES)
@pytest.mark.parametrize("dtype_name,shape", _GRID, ids=lambda v: "x".join(map(str, v)) if isinstance(v, tuple) else v)
def test_sites_and_logits_match_transformer_lens(family, device, dtype_name, shape, make_model):
    dtype = getattr(torch, dtype_name)
    model = make_model(family, device=device, dtype=dtype)
    bridge = make_bridge(model, family)
    tokens = random_tokens(*shape, seed=shape[0]).to(device)

    tl_logits, cache = tl_run(bridge, tokens)
    with torch.no_grad():
        logits, acts = model.run_with_cache(tokens, model.site_names)

    assert set(acts) == set(model.site_names)
    for site in model.site_names:
        name = tl_name(family, site)
        assert name in cache, f"TransformerLens has no {name} (for mechint {site})"
        assert_site_close(acts[site], cache[name], dtype=dtype, name=f"{family} {site} vs TL {name}")
    assert_site_close(logits, tl_logits, dtype=dtype, name=f"{family} logits")


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_z_is_per_head_like_transformer_lens(family, make_model):
    model = make_model(family)
    bridge = make_bridge(model, family)
    tokens = random_tokens(2, 10)
    _, cache = tl_run(bridge, tokens)
    _, acts = model.run_with_cache(tokens, "attn.hook_z")
    for layer in range(model.n_layers):
        z = acts[f"blocks.{layer}.attn.hook_z"]
        assert z.shape == (2, 10, model.n_heads, model.d_head)
        assert cache[f"blocks.{layer}.attn.hook_z"].shape == z.shape


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_writes_match_transformer_lens(family, make_model):
    """Adding the same random vector at a site through mechint and through the bridge's own hook
    gives the same logits: a write lands where TransformerLens's write lands (for resid_mid, in
    both the norm input and the residual branch)."""
    model = make_model(family)
    bridge = make_bridge(model, family)
    tokens = random_tokens(2, 10, seed=3)
    gen = torch.Generator().manual_seed(7)
    # The bridge's hook_resid_mid is an alias of ln2.hook_in: a write there reaches only the second
    # norm, not the residual stream (see test_resid_mid_write_is_a_residual_write below).
    sites = [
        n
        for n in model.site_names
        if (n.startswith("blocks.1.") or not n.startswith("blocks.")) and not n.endswith("hook_resid_mid")
    ]
    with torch.no_grad():
        clean = model(tokens)
    for site in sites:
        shape = (
            (model.n_heads, model.d_head)
            if site.endswith("hook_z")
            else (model.d_mlp if site.endswith("mlp.hook_post") else model.d_model,)
        )
        vec = torch.randn(shape, generator=gen)

        def tl_hook(x, hook, vec=vec):
            return x + vec.to(x.dtype)

        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tl_logits = bridge.run_with_hooks(tokens, fwd_hooks=[(tl_name(family, site), tl_hook)])
        with torch.no_grad(), model.hooks([(site, add_value(vec))]):
            logits = model(tokens)
        assert (tl_logits - clean).abs().max() > 1e-3, f"the TransformerLens write at {site} did nothing"
        assert_site_close(logits, tl_logits, name=f"{family} write at {site}")


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_resid_mid_write_is_a_residual_write(family, make_model):
    """mechint writes ``hook_resid_mid`` into the residual stream itself (both the second norm and
    the residual branch see it), as the classic HookedTransformer does: adding ``v`` there equals
    adding ``v`` to ``hook_attn_out``, which equals the bridge's own ``hook_attn_out`` write. The
    4.3 bridge's ``hook_resid_mid`` is an alias of ``ln2.hook_in`` (``block.py``), so its write
    only reaches the norm; that is a limitation of the bridge, not the convention we follow."""
    model = make_model(family)
    bridge = make_bridge(model, family)
    tokens = random_tokens(2, 10, seed=3)
    vec = torch.randn(model.d_model, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        with model.hooks([("blocks.1.hook_resid_mid", add_value(vec))]):
            mid = model(tokens)
        with model.hooks([("blocks.1.hook_attn_out", add_value(vec))]):
            attn = model(tokens)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tl_attn = bridge.run_with_hooks(tokens, fwd_hooks=[("blocks.1.hook_attn_out", lambda x, hook: x + vec)])
            tl_mid = bridge.run_with_hooks(tokens, fwd_hooks=[("blocks.1.hook_resid_mid", lambda x, hook: x + vec)])
    assert_site_close(mid, attn, name="resid_mid write vs attn_out write")
    assert_site_close(mid, tl_attn, name="resid_mid write vs TL attn_out write")
    assert (tl_mid - tl_attn).abs().max() > 1e-2  # the bridge's resid_mid write misses the residual


# ---------------------------------------------------------------------------------- conventions


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_convention_ln_final_normalized_is_after_the_gain(family, make_model):
    """The bridge's ``ln_final.hook_normalized`` is before the gain; mechint's is the norm output."""
    model = make_model(family)
    bridge = make_bridge(model, family)
    tokens = random_tokens(2, 8)
    _, cache = tl_run(bridge, tokens)
    _, acts = model.run_with_cache(tokens, ["ln_final.hook_normalized"])
    norm = model.hf.get_submodule({"gpt2": "transformer.ln_f", "bloom": "transformer.ln_f"}.get(family, "model.norm"))
    gain = norm.weight.detach() + (1.0 if family == "gemma3" else 0.0)  # Gemma stores 1 + w
    bias = norm.bias.detach() if getattr(norm, "bias", None) is not None else 0.0
    ours = acts["ln_final.hook_normalized"]
    assert_site_close(ours, cache["ln_final.hook_out"], name="vs TL ln_final.hook_out")
    assert_site_close(ours, cache["ln_final.hook_normalized"] * gain + bias, name="vs TL normalized*w+b")
    assert (ours - cache["ln_final.hook_normalized"]).abs().max() > 1e-2  # truly a different tensor


def test_convention_bloom_hook_embed_is_after_the_embedding_layernorm(make_model):
    model = make_model("bloom")
    bridge = make_bridge(model, "bloom")
    tokens = random_tokens(2, 8)
    _, cache = tl_run(bridge, tokens)
    _, acts = model.run_with_cache(tokens, ["hook_embed", "blocks.0.hook_resid_pre"])
    assert_site_close(acts["hook_embed"], cache["hook_embed"], name="mechint hook_embed vs TL hook_embed")
    assert torch.equal(acts["blocks.0.hook_resid_pre"], acts["hook_embed"])
    assert (acts["hook_embed"] - cache["embed.hook_out"]).abs().max() > 1e-2  # not the raw embedding


def test_bf16_band_is_meaningful(make_model):
    """The bf16 band separates rounding from a real mismatch: a neighbouring site is far outside it."""
    model = make_model("llama")
    _, acts = model.run_with_cache(random_tokens(2, 10), ["blocks.1.hook_resid_pre", "blocks.1.hook_resid_mid"])
    a, b = acts["blocks.1.hook_resid_mid"], acts["blocks.1.hook_resid_pre"]
    assert ((a - b).norm() / b.norm()).item() > 5 * BF16_REL_TOL
