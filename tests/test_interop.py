"""mechint.interop: nnsight / TransformerLens bridge / pipeline models in, TransformerLens caches and
nnsight site paths out.

In: ``load_model`` of an nnsight ``LanguageModel``, a TransformerLens ``TransformerBridge`` or a
transformers ``pipeline`` gives the same widths, tokens, logits, activations and generations as
``load_model(hf_module, tokenizer=...)`` on every family. Out: a mechint cache as a TransformerLens
``ActivationCache`` gives TransformerLens's own ``accumulated_resid`` / ``decompose_resid``; mechint
site names read through an nnsight trace give ``Model.run_with_cache``'s tensors. The remote (NDIF)
path cannot run offline; only the site lookup on an undispatched (meta) model is tested.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from conftest import assert_site_close, random_tokens

import mechint
from mechint import Model, load_model
from mechint.interop import InteropError, activation_cache_sites, nnsight_read, nnsight_sites, to_activation_cache
from mechint.testing import FAMILY_NAMES, TL_ARCHITECTURES, byte_tokenizer, tiny_hf_model

nnsight = pytest.importorskip("nnsight", reason="nnsight is not installed (dev extra)")
tl_sources = pytest.importorskip(
    "transformer_lens.model_bridge.sources", reason="transformer-lens is not installed (dev extra)"
)


TEXTS = ["Hello world", "Grüß Gott, wie geht's?", "ok"]  # different lengths: left padding


def language_model(hf, tokenizer):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LanguageModel is deprecated in nnsight 0.8 (still the common name)
        return nnsight.LanguageModel(hf, tokenizer=tokenizer)


def saved_tokenizer(folder, *, bos: bool = True):
    """The byte tokenizer saved to ``folder`` and read back (so it has a name_or_path that TransformerLens
    can reload it from); with ``bos=False`` it adds no BOS token, as GPT-2's and Qwen2's."""
    from transformers import AutoTokenizer

    tok = byte_tokenizer()
    if not bos:
        from tokenizers import processors

        tok.backend_tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)


def make_bridge(hf, family: str, tokenizer=None):
    """A TransformerBridge around ``hf`` (which it edits in place: give it a copy)."""
    arch = TL_ARCHITECTURES[family]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bridge = tl_sources.build_bridge_from_module(hf, arch, hf_config=hf.config, tokenizer=tokenizer)
    return bridge.eval()


def assert_same_model(adapted: Model, reference: Model, *, generate: bool = True):
    """Same widths, tokens, logits, every site, and greedy generations."""
    for attr in ("n_layers", "d_model", "d_mlp", "n_heads", "n_kv_heads", "d_head", "d_vocab"):
        assert getattr(adapted, attr) == getattr(reference, attr), attr
    enc, ref_enc = adapted.tokenize(TEXTS), reference.tokenize(TEXTS)
    assert torch.equal(enc["input_ids"], ref_enc["input_ids"])
    assert torch.equal(enc["attention_mask"], ref_enc["attention_mask"])
    with torch.no_grad():
        logits, acts = adapted.run_with_cache(TEXTS, adapted.site_names)
        ref_logits, ref_acts = reference.run_with_cache(TEXTS, reference.site_names)
    real = ref_enc["attention_mask"].bool()  # pad positions are free to differ (eager vs sdpa attention)
    assert_site_close(logits[real], ref_logits[real], name="logits")
    for site in reference.site_names:
        assert_site_close(acts[site][real], ref_acts[site][real], name=site)
    assert acts["blocks.0.mlp.hook_post"].shape[-1] == adapted.d_mlp
    if generate:
        assert adapted.generate(TEXTS[:2], max_new_tokens=4) == reference.generate(TEXTS[:2], max_new_tokens=4)


# ---------------------------------------------------------------------------------------------- in


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_nnsight_input_equals_the_hugging_face_input(family):
    hf = tiny_hf_model(family)
    reference = load_model(copy.deepcopy(hf), tokenizer=byte_tokenizer())
    lm = language_model(hf, byte_tokenizer())
    model = load_model(lm)
    assert model.hf is hf and model.tokenizer is lm.tokenizer  # the same module, not a copy
    assert_same_model(model, reference)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_bridge_input_equals_the_hugging_face_input(family, tmp_path):
    hf = tiny_hf_model(family)
    reference = load_model(copy.deepcopy(hf), tokenizer=byte_tokenizer())
    bridge = make_bridge(copy.deepcopy(hf), family, saved_tokenizer(tmp_path))
    model = load_model(bridge)
    assert model.d_mlp == hf.config.to_dict().get("intermediate_size", model.d_mlp)
    assert "Bridge" not in " ".join(type(m).__name__ for m in model.hf.modules())
    # the unwrapped tree shares the bridge's parameters: nothing copied
    bridge_params = {p.data_ptr() for p in bridge.original_model.parameters()}
    assert {p.data_ptr() for p in model.hf.parameters()} <= bridge_params
    assert_same_model(model, reference)
    # the module the bridge edited, passed on its own, is unwrapped the same way
    assert_same_model(load_model(bridge.original_model, tokenizer=byte_tokenizer()), reference, generate=False)
    # ... and the bridge still runs as before, without mechint's hooks
    tokens = random_tokens(2, 7)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zero = [
            (site, lambda x, ctx: x * 0)
            for site in ("hook_embed", "blocks.0.mlp.hook_post", "blocks.1.hook_resid_post")
        ]
        with model.hooks(zero):
            assert_site_close(bridge(tokens), reference(tokens), name="bridge logits under mechint hooks")


def test_bridge_tokenizer_that_adds_a_bos_is_undone(tmp_path):
    """TransformerLens reloads a tokenizer without BOS with add_bos_token=True; mechint tokenizes as the
    model's own tokenizer does."""
    plain = saved_tokenizer(tmp_path, bos=False)
    hf = tiny_hf_model("gpt2")
    bridge = make_bridge(copy.deepcopy(hf), "gpt2", plain)
    assert len(bridge.tokenizer("ab")["input_ids"]) == len(plain("ab")["input_ids"]) + 1  # the bridge's extra BOS
    model = load_model(bridge)
    assert model.tokenizer("ab")["input_ids"] == plain("ab")["input_ids"]
    assert_same_model(model, load_model(copy.deepcopy(hf), tokenizer=saved_tokenizer(tmp_path / "b", bos=False)))
    own = byte_tokenizer()
    assert load_model(bridge, tokenizer=own).tokenizer is own  # tokenizer= wins


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_pipeline_input_equals_the_hugging_face_input(family):
    from transformers import pipeline

    hf = tiny_hf_model(family)
    reference = load_model(copy.deepcopy(hf), tokenizer=byte_tokenizer())
    pipe = pipeline("text-generation", model=hf, tokenizer=byte_tokenizer())
    model = load_model(pipe)
    assert model.hf is hf and model.tokenizer is pipe.tokenizer
    assert_same_model(model, reference, generate=False)


def test_load_model_moves_an_nnsight_model_as_asked():
    hf = tiny_hf_model("llama")
    model = load_model(language_model(hf, byte_tokenizer()), dtype="bfloat16")
    assert model.dtype == torch.bfloat16 and model.hf is hf


# ---------------------------------------------------------------------------------------------- bad input


def _meta_language_model(tmp_path, monkeypatch):
    """An nnsight LanguageModel that is not dispatched (weights on meta, as for remote NDIF runs),
    read from a local folder."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tiny_hf_model("llama").save_pretrained(tmp_path)
    byte_tokenizer().save_pretrained(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nnsight.LanguageModel(str(tmp_path), tokenizer=byte_tokenizer())


@pytest.mark.bad_input
def test_undispatched_nnsight_model_is_refused_but_its_sites_resolve(tmp_path, monkeypatch):
    lm = _meta_language_model(tmp_path, monkeypatch)
    assert not lm.dispatched
    with pytest.raises(InteropError, match=r"not dispatched.*dispatch=True.*nnsight_sites"):
        load_model(lm)
    # the site lookup for remote traces needs only the module tree and config
    sites = nnsight_sites(lm, ["blocks.1.attn.hook_z", "blocks.1.hook_resid_post"])
    assert [(s.path, s.io) for s in sites] == [
        ("model.layers.1.self_attn.o_proj", "input"),
        ("model.layers.1", "output"),
    ]
    assert sites[0].heads == (4, 16)


@pytest.mark.bad_input
def test_transformer_lens_models_without_a_hugging_face_module_are_refused():
    class HookedTransformer(torch.nn.Module):  # stands for TransformerLens 3's class (removed in 4.0)
        pass

    HookedTransformer.__module__ = "transformer_lens.HookedTransformer"
    with pytest.raises(InteropError, match=r"HookedTransformer is TransformerLens's own reimplementation.*load_model"):
        load_model(HookedTransformer(), tokenizer=byte_tokenizer())


@pytest.mark.bad_input
def test_processed_bridge_is_refused(tmp_path):
    bridge = make_bridge(tiny_hf_model("llama"), "llama", saved_tokenizer(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bridge.process_weights()  # what enable_compatibility_mode() runs: folds and centres the HF weights
    with pytest.raises(InteropError, match=r"weights were processed.*no_processing=True"):
        load_model(bridge)


@pytest.mark.bad_input
def test_nnsight_submodule_and_plain_objects_are_refused():
    lm = language_model(tiny_hf_model("llama"), byte_tokenizer())
    with pytest.raises(InteropError, match="pass the root model"):
        load_model(lm.model)
    with pytest.raises(TypeError, match="nnsight LanguageModel, a TransformerLens TransformerBridge"):
        load_model(object())
    with pytest.raises(TypeError, match="mechint Model or an nnsight LanguageModel"):
        nnsight_sites(object(), "hook_resid_post")


@pytest.mark.bad_input
def test_to_activation_cache_refuses_bad_input():
    model = mechint.testing.tiny_model("llama")
    _, acts = model.run_with_cache("hi", "hook_resid_pre")
    with pytest.raises(TypeError, match="TransformerBridge / HookedTransformer or a mechint Model"):
        to_activation_cache(acts, object())
    with pytest.raises(TypeError, match="dict of activations"):
        to_activation_cache([1, 2], model)
    small = mechint.testing.tiny_model("llama", n_layers=2)
    with pytest.raises(ValueError, match="another model's cache"):
        to_activation_cache(acts, small)


# ---------------------------------------------------------------------------------------------- out


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_activation_cache_matches_transformer_lens(family, make_model):
    model = make_model(family)
    bridge = make_bridge(copy.deepcopy(model.hf), family)
    tokens = random_tokens(2, 9, seed=1)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, tl_cache = bridge.run_with_cache(tokens)
        _, acts = model.run_with_cache(tokens, activation_cache_sites(model))
        cache = to_activation_cache(acts, bridge)
        shim = to_activation_cache(acts, model)  # no TransformerLens model at hand
        accumulated = ({}, {"incl_mid": True}, {"layer": 1, "mlp_input": True}, {"apply_ln": True})
        accumulated += ({"layer": 2, "apply_ln": True}, {"layer": 1, "mlp_input": True, "apply_ln": True})
        for kwargs in accumulated:
            expected = tl_cache.accumulated_resid(**kwargs)
            assert_site_close(cache.accumulated_resid(**kwargs), expected, name=f"accumulated_resid {kwargs}")
            assert_site_close(shim.accumulated_resid(**kwargs), expected, name=f"shim accumulated_resid {kwargs}")
        decomposed = ({}, {"layer": 2, "mlp_input": True}, {"mode": "mlp"}, {"layer": 1, "apply_ln": True})
        for kwargs in decomposed + ({"apply_ln": True}, {"layer": 2, "mlp_input": True, "apply_ln": True}):
            expected, labels = tl_cache.decompose_resid(return_labels=True, **kwargs)
            for converted in (cache, shim):
                got, got_labels = converted.decompose_resid(return_labels=True, **kwargs)
                assert got_labels == labels
                assert_site_close(got, expected, name=f"decompose_resid {kwargs}")
    # the decomposition sums to the residual stream
    assert_site_close(cache.decompose_resid().sum(0), acts[f"blocks.{model.n_layers - 1}.hook_resid_post"])
    assert_site_close(cache["ln_final.hook_out"], tl_cache["ln_final.hook_out"], name="ln_final.hook_out")


NNSIGHT_KEYS = [
    "hook_resid_pre",
    "attn.hook_q",
    "attn.hook_k",
    "attn.hook_v",
    "attn.hook_z",
    "hook_attn_out",
    "hook_resid_mid",
    "mlp.hook_post",
    "hook_mlp_out",
    "hook_resid_post",
]


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_nnsight_trace_reads_the_mechint_sites(family, make_model):
    model = make_model(family)
    lm = language_model(model.hf, byte_tokenizer())
    names = ["hook_embed", *(f"blocks.{l}.{k}" for l in range(model.n_layers) for k in NNSIGHT_KEYS)]
    names.append("ln_final.hook_normalized")
    if "hook_pos_embed" in model.family.top_sites:
        names.insert(1, "hook_pos_embed")
    sites = nnsight_sites(lm, names)
    assert sorted(s.name for s in sites) == sorted(names)
    tokens = random_tokens(2, 8, seed=2)
    with torch.no_grad():
        with lm.trace(tokens):
            acts = nnsight.save(nnsight_read(lm, sites))
        _, expected = model.run_with_cache(tokens, names)
    for name in names:
        # GPT-2's position embedding comes out [1, pos, d] where the forward is given no position_ids
        got = acts[name].expand_as(expected[name]) if name == "hook_pos_embed" else acts[name]
        assert_site_close(got, expected[name], name=f"{family} {name} via nnsight")


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_nnsight_remote_recipe_runs_locally(family, make_model):
    """The recipe of nnsight_sites' docstring (raw values in the trace, views outside), run locally."""
    model = make_model(family)
    lm = language_model(model.hf, byte_tokenizer())
    names = ["blocks.1.attn.hook_q", "blocks.1.attn.hook_z", "blocks.1.hook_attn_out", "blocks.2.hook_resid_post"]
    sites = nnsight_sites(lm, names)
    tokens = random_tokens(2, 8, seed=3)
    with lm.trace(tokens):
        raw = nnsight.save([lm.get(site.accessor) for site in sites])
    acts = {site.name: site.view(value) for site, value in zip(sites, raw)}
    _, expected = model.run_with_cache(tokens, names)
    for name in names:
        assert_site_close(acts[name], expected[name], name=f"{family} {name} via raw nnsight values")


def test_nnsight_site_fields():
    model = mechint.testing.tiny_model("gpt2")
    (q,) = nnsight_sites(model, ["blocks.2.attn.hook_q"])
    assert (q.path, q.io, q.accessor, q.fused, q.heads) == (
        "transformer.h.2.attn.c_attn",
        "output",
        "transformer.h.2.attn.c_attn.output",
        (1, 3, 0),
        (4, 16),
    )
    (pattern,) = nnsight_sites(model, "blocks.0.attn.hook_pattern")
    assert (pattern.path, pattern.io, pattern.index, pattern.pattern) == ("transformer.h.0.attn", "output", 1, True)
    assert [s.name for s in nnsight_sites(model, "hook_resid_post")] == [
        f"blocks.{l}.hook_resid_post" for l in range(3)
    ]


def test_plain_nnsight_wrapper_takes_a_tokenizer():
    """``nnsight.NNsight(module)`` has no tokenizer: load_model asks for one, then wraps its module."""
    hf = tiny_hf_model("qwen2")
    wrapped = nnsight.NNsight(hf)
    with pytest.raises(InteropError, match="has no tokenizer: pass tokenizer="):
        load_model(wrapped)
    model = load_model(wrapped, tokenizer=byte_tokenizer())
    assert model.hf is hf
    assert_same_model(model, load_model(copy.deepcopy(hf), tokenizer=byte_tokenizer()), generate=False)
