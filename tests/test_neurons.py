"""Neuron-level MLP analysis (``mechint.neurons``) against hand computations on tiny models of every
family: value vectors are what the down projection really adds, rankings, planted tokens, readable
decoding, streamed statistics (prompt and generated tokens), edits and their effect on a score.
"""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
import torch
from conftest import FP32_TOL, TEXTS, assert_site_close
from torch import nn

from mechint import record
from mechint.interventions import EditNeurons, intervene
from mechint.neurons import (
    Neuron,
    NeuronStats,
    ValueVectors,
    compare_generations,
    direction_scores,
    edit_effect,
    neuron_activation_stats,
    neuron_cosines,
    neuron_edits,
    promoted_tokens,
    readable_token,
    token_script,
    top_neurons,
    value_vectors,
    vocab_projection,
)
from mechint.testing import FAMILY_NAMES, tiny_model


def _down_proj(model, layer):
    return model.hf.get_submodule(model.family.layers)[layer].get_submodule(model.family.mlp_out_proj)


def _capture_mlp(model, layer: int, call, *edits) -> dict:
    """Run ``call()`` under ``edits`` and keep layer ``layer``'s neuron activations (``act``), its
    ``hook_mlp_out`` and the raw output of its down projection (``down``, by a plain forward hook)."""
    store: dict = {}
    handle = _down_proj(model, layer).register_forward_hook(
        lambda m, a, out: store.__setitem__("down", out.detach().clone())
    )
    try:
        with intervene(
            model,
            *edits,
            (f"blocks.{layer}.mlp.hook_post", record(store, "act")),
            (f"blocks.{layer}.hook_mlp_out", record(store, "mlp_out")),
        ):
            call()
    finally:
        handle.remove()
    return store


def _mlp_out_module(model, layer):
    """The module whose output is ``blocks.{layer}.hook_mlp_out``."""
    return model.site(f"blocks.{layer}.hook_mlp_out").module


# ------------------------------------------------------------------------------------ value vectors


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_value_vectors_are_views_of_the_down_projection_in_its_layout(family):
    model = tiny_model(family)
    vv = value_vectors(model)
    assert isinstance(vv, ValueVectors) and len(vv) == model.n_layers
    assert vv.shape == (model.n_layers, model.d_mlp, model.d_model)
    for layer in range(model.n_layers):
        proj = _down_proj(model, layer)
        v = vv[layer]
        assert v.shape == (model.d_mlp, model.d_model)
        # the same memory: no copy
        assert v.untyped_storage().data_ptr() == proj.weight.untyped_storage().data_ptr()
        expected = proj.weight.T if isinstance(proj, nn.Linear) else proj.weight  # Conv1D stores [in, out]
        assert torch.equal(v, expected.detach())
        assert not v.requires_grad
    # Conv1D for GPT-2, nn.Linear elsewhere: both layouts are covered by the families
    kinds = type(_down_proj(model, 0)).__name__
    assert kinds == ("Conv1D" if family == "gpt2" else "Linear")
    # a view follows the weight; stacked() is a copy that is refreshed after an in-place change
    stacked = vv.stacked()
    assert stacked.shape == vv.shape and torch.equal(stacked[1], vv[1])
    assert vv.stacked() is stacked  # cached
    assert stacked.untyped_storage().data_ptr() != _down_proj(model, 1).weight.untyped_storage().data_ptr()
    with torch.no_grad():
        _down_proj(model, 1).weight.mul_(2.0)
    assert torch.equal(vv[1, 3], vv[1][3]) and torch.equal(vv[1, 3], 2 * stacked[1, 3])
    assert torch.equal(vv.stacked()[1], vv[1])
    assert vv[-1].shape == (model.d_mlp, model.d_model) and len(vv[0:2]) == 2


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_activation_times_value_vector_is_what_switching_the_neuron_on_adds(family, device):
    """Switching one neuron on from 0 to its activation a changes the down projection's output by
    exactly a * v. That output is hook_mlp_out on every family but Gemma 3, whose hook_mlp_out is
    after the post-feedforward RMSNorm: there the change of hook_mlp_out is the norm's, not a * v."""
    model = tiny_model(family, device=device)
    layer = 1
    tokens = torch.tensor([[256, 72, 101, 108, 108, 111, 32, 228, 189, 160]], device=device)

    def run(*edits):
        return _capture_mlp(model, layer, lambda: model(tokens), *edits)

    on = run()
    neuron = int(on["act"][0].abs().mean(0).argmax())  # a busy neuron, so the change is well above rounding
    off = run(EditNeurons(layer, [neuron], mode="set", value=0.0, positions="all"))
    a = on["act"][0, :, neuron]  # [pos]
    v = value_vectors(model)[layer, neuron]
    expected = a[:, None] * v[None, :]
    assert expected.abs().max() > 1e-3
    assert_site_close(on["down"][0] - off["down"][0], expected, name=f"{family}: down projection change")
    if family == "gemma3":
        norm = _mlp_out_module(model, layer)
        assert type(norm).__name__ == "Gemma3RMSNorm"
        by_hand = norm(on["down"]) - norm(off["down"])
        assert_site_close(on["mlp_out"] - off["mlp_out"], by_hand, name="gemma3: hook_mlp_out is the post-norm")
        assert not torch.allclose(on["mlp_out"][0] - off["mlp_out"][0], expected, atol=1e-3, rtol=1e-2)
    else:
        assert torch.equal(on["mlp_out"], on["down"])
        assert_site_close(on["mlp_out"][0] - off["mlp_out"][0], expected, name=f"{family}: hook_mlp_out change")


# ------------------------------------------------------------------------------------ alignment with a direction


def test_top_neurons_find_a_planted_value_vector_and_rank_by_cosine():
    model = tiny_model("llama", seed=3)
    g = torch.Generator().manual_seed(0)
    d = torch.randn(model.d_model, generator=g)
    vv = value_vectors(model)
    with torch.no_grad():
        vv[2, 17].copy_(3.0 * d)  # writing into the view writes the weight
        vv[0, 5].copy_(-2.0 * d)
    assert torch.equal(_down_proj(model, 2).weight[:, 17], 3.0 * d)
    cos = neuron_cosines(model, d)
    assert cos.shape == (model.n_layers, model.d_mlp)
    assert torch.allclose(cos[2, 17], torch.tensor(1.0), atol=1e-6) and torch.allclose(
        cos[0, 5], torch.tensor(-1.0), atol=1e-6
    )
    v = vv[1, 9].float()
    assert torch.allclose(cos[1, 9], (v @ d) / (v.norm() * d.norm()), atol=1e-6)

    top = top_neurons(model, d, k=5)
    assert top[0][:2] == (2, 17) and top[0].cosine == pytest.approx(1.0, abs=1e-6)
    assert [n.cosine for n in top] == sorted([n.cosine for n in top], reverse=True)
    assert top_neurons(model, d, k=1, sign="negative")[0][:2] == (0, 5)
    assert {n[:2] for n in top_neurons(model, d, k=2, sign="abs")} == {(2, 17), (0, 5)}
    per = top_neurons(model, d, k=3, per_layer=True)
    assert [n.layer for n in per] == [0, 0, 0, 1, 1, 1, 2, 2, 2] and per[6][:2] == (2, 17)
    only = top_neurons(model, d, k=4, layers=[1])
    assert all(n.layer == 1 for n in only)
    # one direction per layer: row l scores the neurons of layer l
    per_layer_dir = torch.randn(model.n_layers, model.d_model, generator=g)
    per_layer_dir[2] = d
    assert top_neurons(model, per_layer_dir, k=1)[0][:2] == (2, 17)
    with pytest.raises(ValueError, match="d_model"):
        neuron_cosines(model, torch.randn(model.d_model + 1))
    with pytest.raises(ValueError, match="sign"):
        top_neurons(model, d, sign="up")
    assert Neuron(3, 7).label == "L3 N7" and str(Neuron(3, 7)) == "L3 N7"


@pytest.mark.bad_input
def test_scaled_cosines_count_each_feature_in_units_of_its_scale():
    """With ``scale``, value vectors and direction are divided by it before the cosine (by hand); a
    neuron writing mostly one feature of huge scale is ranked first unscaled, not once that feature
    is measured in its own units."""
    model = tiny_model("llama", seed=4)
    g = torch.Generator().manual_seed(2)
    d = torch.randn(model.d_model, generator=g)
    d[0] = 40.0  # the direction leans on feature 0, which is huge and noisy (scale 100)
    scale = torch.ones(model.d_model)
    scale[0] = 100.0
    vv = value_vectors(model)
    with torch.no_grad():
        along = torch.zeros(model.d_model)
        along[0] = 1.0
        vv[1, 3].copy_(along)  # writes only the huge feature
        rest = d.clone()
        rest[0] = 0.0
        vv[2, 8].copy_(rest)  # writes the rest of the direction
    cos = neuron_cosines(model, d, scale=scale)
    v = vv[0, 4].float() / scale
    torch.testing.assert_close(cos[0, 4], (v @ (d / scale)) / (v.norm() * (d / scale).norm()), rtol=1e-5, atol=1e-6)
    assert top_neurons(model, d, k=1)[0][:2] == (1, 3)
    assert top_neurons(model, d, k=1, scale=scale)[0][:2] == (2, 8)
    with pytest.raises(ValueError, match="positive values"):
        neuron_cosines(model, d, scale=torch.zeros(model.d_model))
    with pytest.raises(ValueError, match=f"{model.d_model} positive values"):
        neuron_cosines(model, d, scale=torch.ones(3))


def test_through_post_norm_uses_gemma_post_feedforward_gain_only_on_gemma():
    d = torch.randn(64, generator=torch.Generator().manual_seed(1))
    llama = tiny_model("llama")
    assert torch.equal(neuron_cosines(llama, d), neuron_cosines(llama, d, through_post_norm=True))
    gemma = tiny_model("gemma3")
    layer = 1
    gain = 1.0 + gemma.hf.model.layers[layer].post_feedforward_layernorm.weight.detach()
    v = value_vectors(gemma)[layer].float() * gain
    expected = (v @ d) / (v.norm(dim=-1) * d.norm())
    assert torch.allclose(neuron_cosines(gemma, d, through_post_norm=True)[layer], expected, atol=1e-6)


# ------------------------------------------------------------------------------------ tokens


@pytest.mark.parametrize("family", FAMILY_NAMES)
@pytest.mark.parametrize("through_norms", [False, True])
def test_planted_value_vector_promotes_the_planted_token_first(family, through_norms):
    model = tiny_model(family, seed=4)
    tok = model.tokenizer
    token = tok("ä")["input_ids"][1]  # "ä" is bytes c3 a4: its first byte token decodes to "�"
    j = 7  # a residual dimension that only the planted token reads
    lm_head = model.hf.get_submodule(model.family.lm_head)
    layer, neuron = 2, 11
    with torch.no_grad():
        lm_head.weight[token].zero_()
        lm_head.weight[token, j] = 50.0
        value_vectors(model)[layer, neuron].zero_()
        value_vectors(model)[layer, neuron][j] = 1.0
    proj = promoted_tokens(model, (layer, neuron), k=5, through_norms=through_norms)
    assert proj.promoted[0].id == token
    assert proj.promoted[0].text == "\\xc3"  # readable: the raw byte, not "�"
    assert proj.promoted[0].score > proj.promoted[1].score
    down = promoted_tokens(model, -value_vectors(model)[layer, neuron], k=3, layer=layer, through_norms=through_norms)
    assert down.suppressed[0].id == token and down.promoted[0].id != token
    logits = vocab_projection(model, value_vectors(model)[layer], layer=layer, through_norms=through_norms)
    assert logits.shape == (model.d_mlp, model.d_vocab) and int(logits[neuron].argmax()) == token


def test_vocab_projection_through_norms_applies_the_gains():
    gemma = tiny_model("gemma3")
    v = torch.randn(gemma.d_model, generator=torch.Generator().manual_seed(2))
    layer = 0
    post = 1.0 + gemma.hf.model.layers[layer].post_feedforward_layernorm.weight.detach()
    final = 1.0 + gemma.hf.model.norm.weight.detach()
    expected = (v * post * final) @ gemma.W_U.detach()
    got = vocab_projection(gemma, v, layer=layer, through_norms=True)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(vocab_projection(gemma, v), v @ gemma.W_U.detach(), rtol=1e-5, atol=1e-5)
    gpt2 = tiny_model("gpt2")
    ln = gpt2.hf.transformer.ln_f
    expected = ((v - v.mean()) * ln.weight.detach()) @ gpt2.W_U.detach()
    torch.testing.assert_close(vocab_projection(gpt2, v, layer=1, through_norms=True), expected, rtol=1e-5, atol=1e-5)


class _FakeSentencePiece:
    """The two calls readable_token makes, answered as Gemma's tokenizer does for byte-fallback pieces."""

    pieces: ClassVar[dict[int, str]] = {
        0: "<0xE4>",
        1: "▁world",
        2: "<0x0A>",
        3: "你好",
        4: "\u200c",
        5: "▁▁",
        6: "\ufffd",
        7: "สวัสดี",
        8: "مرحبا",
    }

    def convert_ids_to_tokens(self, i):
        return self.pieces[i]

    def decode(self, ids):
        p = self.pieces[ids[0]]
        if p.startswith("<0x"):
            b = bytes([int(p[3:5], 16)])
            return b.decode("utf-8", errors="replace")
        return p.replace("▁", " ")


def test_readable_token_shows_bytes_and_invisible_characters_and_keeps_scripts():
    tok = _FakeSentencePiece()
    assert readable_token(tok, 0) == "\\xe4"  # byte fallback: partial UTF-8, shown as its byte
    assert readable_token(tok, 1) == " world"
    assert readable_token(tok, 2) == "\\n"
    assert readable_token(tok, 3) == "你好"
    assert readable_token(tok, 4) == "<U+200C>"  # zero-width non-joiner
    assert readable_token(tok, 5) == "␣␣"
    assert readable_token(tok, 6) == "<U+FFFD>"  # the replacement character as a token of its own
    assert readable_token(tok, 7) == "สวัสดี" and readable_token(tok, 8) == "مرحبا"
    # byte-level BPE (the tiny models' tokenizer): a piece holding part of a character
    byte_tok = tiny_model("llama").tokenizer
    ids = byte_tok("中")["input_ids"][1:]  # e4 b8 ad
    assert [readable_token(byte_tok, i) for i in ids] == ["\\xe4", "\\xb8", "\\xad"]
    assert readable_token(byte_tok, byte_tok("a")["input_ids"][1]) == "a"
    assert [token_script(t) for t in ["你好", " world", "สวัสดี", "مرحبا", "\\xe4", "),", "Привет", "안녕", "です"]] == [
        "Han",
        "Latin",
        "Thai",
        "Arabic",
        "bytes",
        "other",
        "Cyrillic",
        "Hangul",
        "Japanese",
    ]


# ------------------------------------------------------------------------------------ streamed statistics


def test_neuron_stats_streams_exact_moments_and_reservoir_quantiles():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5000, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2.0, 0.5]) + torch.tensor(
        [0.0, 1.0, -1.0]
    )
    neurons = [Neuron(0, i) for i in range(3)]
    exact = NeuronStats(neurons, capacity=10_000)
    sampled = NeuronStats(neurons, capacity=1000, seed=1)
    for chunk in x.split(333):
        exact.update(chunk)
        sampled.update(chunk)
    for st in (exact, sampled):
        assert st.count == 5000
        torch.testing.assert_close(st.mean, x.mean(0).float())
        torch.testing.assert_close(st.std, x.std(0).float())
        torch.testing.assert_close(st.mean_abs, x.abs().mean(0).float())
        assert torch.equal(st.min, x.min(0).values.float()) and torch.equal(st.max, x.max(0).values.float())
        torch.testing.assert_close(st.frac_positive, (x > 0).double().mean(0).float())
    q = [0.1, 0.5, 0.9]
    assert exact.exact_quantiles and not sampled.exact_quantiles
    torch.testing.assert_close(
        exact.quantile(q), torch.quantile(x, torch.tensor(q, dtype=torch.float64), dim=0).float()
    )
    # a uniform sample of 1000: the rank of each sample quantile within the full stream is near q
    for qi in q:
        for j in range(3):
            rank = float((x[:, j] <= sampled.quantile(qi)[j]).double().mean())
            assert abs(rank - qi) < 0.05, (qi, j, rank)
    rows = sampled.summary()
    assert len(rows) == 3 and rows[1]["neuron"] == "L0 N1" and set(rows[0]) >= {"mean", "q0.5", "median_abs", "max"}
    json.dumps(rows)
    with pytest.raises(ValueError, match="no tokens"):
        _ = NeuronStats(neurons).mean


def test_reservoir_sample_is_uniform_over_the_stream():
    st = NeuronStats([Neuron(0, 0)], capacity=200, seed=3)
    for chunk in torch.arange(20_000, dtype=torch.float64).split(97):
        st.update(chunk[:, None])
    sample = st._sample.rows[:, 0]
    assert sample.numel() == 200 and sample.unique().numel() == 200
    # the sample mean of a uniform draw from 0..19999: 9999.5 +- 5773/sqrt(200) = +-408
    assert abs(float(sample.mean()) - 9999.5) < 4 * 408
    assert float((sample >= 10_000).double().mean()) == pytest.approx(0.5, abs=0.15)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_activation_stats_on_prompts_and_generated_tokens_match_one_by_one_runs(family, device):
    model = tiny_model(family, device=device)
    neurons = [(0, 3), (2, 5), (2, 0), (1, 7)]
    texts = list(TEXTS)
    groups = ["x", "y", "x", "y"]
    n_new = 5
    st = neuron_activation_stats(
        model, texts, neurons, groups=groups, max_new_tokens=n_new, batch_size=3, progress=False
    )
    assert list(st.prompt) == ["x", "y"] and list(st.generated) == ["x", "y"]
    bos, eos = model.tokenizer.bos_token_id, model.tokenizer.eos_token_id
    expected_prompt = {"x": [], "y": []}
    expected_gen = {"x": [], "y": []}
    sites = [f"blocks.{l}.mlp.hook_post" for l in range(model.n_layers)]
    for text, group in zip(texts, groups):
        ids = model.to_tokens(text)  # one text: no padding
        out = model.generate(ids, max_new_tokens=n_new, return_tokens=True)
        new = out[0, ids.shape[1] :].tolist()
        steps = n_new
        if eos in new:
            steps = new.index(eos) + 1  # the step that produced EOS counts; later steps do not
        _, cache = model.run_with_cache(out, sites)  # the whole sequence, no KV cache
        acts = torch.stack([cache[f"blocks.{l}.mlp.hook_post"][0, :, i] for l, i in neurons], dim=-1)  # [pos, k]
        keep = ids[0] != bos
        expected_prompt[group].append(acts[: ids.shape[1]][keep])
        start = ids.shape[1] - 1
        expected_gen[group].append(acts[start : start + steps])
    for group in ("x", "y"):
        p = torch.cat(expected_prompt[group]).double().cpu()
        got = st.prompt[group]
        assert got.count == p.shape[0]
        torch.testing.assert_close(got.mean.double(), p.mean(0), rtol=1e-4, atol=FP32_TOL)
        torch.testing.assert_close(got.max.double(), p.max(0).values, rtol=1e-4, atol=FP32_TOL)
        torch.testing.assert_close(got.quantile(0.5).double(), p.quantile(0.5, dim=0), rtol=1e-4, atol=FP32_TOL)
        gen = torch.cat(expected_gen[group]).double().cpu()
        assert st.generated[group].count == gen.shape[0]
        torch.testing.assert_close(st.generated[group].mean.double(), gen.mean(0), rtol=1e-4, atol=1e-4)
    # without generation: prompt statistics only, the same numbers
    plain = neuron_activation_stats(model, texts, neurons, groups=groups, progress=False)
    assert plain.generated == {} and plain.prompt["x"].count == st.prompt["x"].count
    torch.testing.assert_close(plain.prompt["y"].mean, st.prompt["y"].mean, rtol=1e-4, atol=FP32_TOL)
    # edits around the statistics are read back: a neuron set to 2.5 has mean 2.5 everywhere
    edited = neuron_activation_stats(
        model, texts, neurons, interventions=neuron_edits([(2, 5)], value=2.5), progress=False
    )
    assert torch.allclose(edited.prompt["all"].mean[1], torch.tensor(2.5)) and edited.prompt["all"].std[1] < 1e-6
    # one neuron given alone, its layer a numpy or 0-d tensor integer, is that neuron (not two neurons)
    import numpy as np

    four = neuron_activation_stats(model, texts, neurons, progress=False).prompt["all"]
    for one in ((np.int64(2), 5), (torch.tensor(2), np.int64(5)), (2, 5)):
        alone = neuron_activation_stats(model, texts, one, progress=False)
        assert [(n.layer, n.index) for n in alone.neurons] == [(2, 5)], one
        torch.testing.assert_close(alone.prompt["all"].mean, four.mean[1:2], rtol=1e-4, atol=FP32_TOL)


def test_activation_stats_reject_bad_input():
    model = tiny_model("llama")
    with pytest.raises(ValueError, match="out of range"):
        neuron_activation_stats(model, ["a"], [(0, model.d_mlp)], progress=False)
    with pytest.raises(ValueError, match="group labels"):
        neuron_activation_stats(model, ["a", "b"], [(0, 1)], groups=["x"], progress=False)
    with pytest.raises(ValueError, match="no neurons"):
        neuron_activation_stats(model, ["a"], [], progress=False)


# ------------------------------------------------------------------------------------ edits


def test_neuron_edits_group_by_layer_with_per_neuron_values():
    edits = neuron_edits([(2, 5), (0, 1), (2, 7)], mode="set", value=[1.0, 2.0, 3.0])
    assert [(e.layer, e.neurons.tolist(), e.value.tolist()) for e in edits] == [
        (2, [5, 7], [1.0, 3.0]),
        (0, [1], [2.0]),
    ]
    assert all(isinstance(e, EditNeurons) and e.mode == "set" for e in edits)
    with pytest.raises(ValueError, match="one per neuron"):
        neuron_edits([(0, 1), (0, 2)], value=[1.0, 2.0, 3.0])


@pytest.mark.parametrize("family", ["llama", "gemma3", "gpt2"])
def test_edit_effect_and_direction_scores_match_a_hand_run(family, device):
    model = tiny_model(family, device=device)
    d = torch.randn(model.d_model, generator=torch.Generator().manual_seed(5))
    texts = list(TEXTS)
    groups = ["en", "zh", "ar", "th"]
    neurons = [(1, 3), (1, 9), (0, 4)]
    effect = edit_effect(model, texts, d, neurons, mode="set", value=4.0, layer=2, groups=groups)
    unit = d / d.norm()
    _, plain = model.run_with_cache(texts, ["blocks.2.hook_resid_post"])
    with intervene(model, EditNeurons(1, [3, 9], value=4.0), EditNeurons(0, [4], value=4.0)):
        _, edited = model.run_with_cache(texts, ["blocks.2.hook_resid_post"])
    before = plain["blocks.2.hook_resid_post"][:, -1].float().cpu() @ unit
    after = edited["blocks.2.hook_resid_post"][:, -1].float().cpu() @ unit
    torch.testing.assert_close(effect.before, before, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(effect.after, after, rtol=1e-4, atol=1e-4)
    assert effect.shift() == pytest.approx({g: float(after[i] - before[i]) for i, g in enumerate(groups)}, abs=1e-4)
    assert effect.delta.abs().max() > 1e-3  # the edit did something
    # scaling by 1 changes nothing; an edit after the scored layer changes nothing
    assert edit_effect(model, texts, d, neurons, mode="scale", value=1.0, layer=2).delta.abs().max() < 1e-5
    assert edit_effect(model, texts, d, [(2, 3)], mode="set", value=9.0, layer=1).delta.abs().max() < 1e-5
    torch.testing.assert_close(direction_scores(model, texts, d, layer=2), before, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="nothing to edit"):
        edit_effect(model, texts, d)


def test_compare_generations_plain_then_edited():
    model = tiny_model("llama", seed=6)
    prompts = ["hello", "今天"]
    edits = neuron_edits([(n, i) for n in range(model.n_layers) for i in range(0, model.d_mlp, 2)], value=30.0)
    pairs = compare_generations(model, prompts, edits, max_new_tokens=4, batch_size=1)
    assert [p for p, _ in pairs] == model.generate(prompts, max_new_tokens=4)
    with intervene(model, *edits):
        assert [e for _, e in pairs] == model.generate(prompts, max_new_tokens=4)
    assert any(p != e for p, e in pairs)


# ------------------------------------------------------------------------------------ studies


def html_only(monkeypatch, *modules):
    """Studies in tests write HTML figures (no browser start per figure: seconds each)."""
    from mechint import plots

    for module in modules:
        monkeypatch.setattr(
            module,
            "save_figure",
            lambda fig, stem, **kw: plots.save_figure(fig, stem, formats=(), include_plotlyjs="cdn"),
        )


def test_neuron_studies_run_on_a_tiny_model(tmp_path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))
    from experiments import neurons_activations, neurons_editing, neurons_top

    html_only(monkeypatch, neurons_activations, neurons_editing, neurons_top)

    model = tiny_model("gemma3", seed=1)
    figs = tmp_path / "figs"
    out = neurons_top.run(model, figs, n_per_class=8, k=4)
    top = json.loads((figs / "neurons_top.json").read_text())
    assert len(top["neurons"]) == 4 and all(len(n["promoted_through_norms"]) == 10 for n in top["neurons"])
    assert (figs / "neurons_top.md").read_text().count("\n| ") == 1 + 4  # header + one row per neuron
    # each top neuron's alignment split off for the residual's largest feature, checked by hand
    from experiments._common import english_direction, safety_activations
    from mechint.neurons import value_vectors

    sa = safety_activations(model, n_per_class=8)
    big = top["massive_feature"]["feature"]
    assert big == int(sa.acts[-1].abs().mean(0).argmax())
    d, _ = english_direction(model, sa)
    for n in top["neurons"]:
        v = value_vectors(model)[n["layer"]][n["index"]].double()
        want = float(v[big] * d.double()[big] / (v @ d.double()))
        assert abs(n["massive_feature_share_of_alignment"] - round(want, 4)) < 1e-4
        assert 0.0 <= n["massive_feature_share_of_value_vector"] <= 1.0
    std = top["top_k_standardised"]
    assert len(std["neurons"]) == 4 and 0 <= std["overlap_with_plain_ranking"] <= 4
    assert out["figures"] and all(p.endswith(".html") and (figs / p.split("/")[-1]).exists() for p in out["figures"])

    neurons_activations.run(model, figs, n_per_class=8, k=4, n_prompts=2, n_generate=1, max_new_tokens=3)
    acts = json.loads((figs / "neurons_activations.json").read_text())
    assert set(acts["ratio_mean_abs_harmful_over_harmless"]["prompt"]) == {"en", "zh", "vi", "ar", "th"}
    assert set(acts["generated_tokens"]["tokens_seen"].values()) <= {1, 2, 3}

    neurons_editing.run(model, figs, n_per_class=8, k=4, n_prompts=2, max_new_tokens=3)
    edits = json.loads((figs / "neurons_editing.json").read_text())
    assert len(edits["shift_in_gap_units"]) == 6
    random_ablation = edits["shift_in_gap_units"]["random 4: ablate (set 0), harmful prompts"]
    assert set(random_ablation) == {"en", "zh", "vi", "ar", "th"}
    rows = (figs / "neurons_editing_generations.csv").read_text().splitlines()
    assert len(rows) >= 1 + 10


# ------------------------------------------------------------------------------------ slow tier: gemma-3-270m


@pytest.fixture(scope="module")
def gemma():
    import mechint

    return mechint.load_model("gemma-3-270m")


@pytest.mark.slow
def test_gemma_byte_fallback_and_invisible_tokens_are_readable(gemma):
    tok = gemma.tokenizer
    byte = tok.convert_tokens_to_ids("<0xE4>")
    assert tok.decode([byte]) == "\ufffd" and readable_token(tok, byte) == "\\xe4"
    assert readable_token(tok, tok.convert_tokens_to_ids("<0x0A>")) == "\\n"
    zwnj = tok("\u200c", add_special_tokens=False)["input_ids"]
    assert [readable_token(tok, i) for i in zwnj] == ["<U+200C>"]
    for text in ["你好", "สวัสดี", "مرحبا", "Привет"]:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert "".join(readable_token(tok, i) for i in ids) == text


@pytest.mark.slow
def test_gemma_value_vectors_and_the_post_feedforward_norm(gemma):
    """On the real model: a * v is the change of the down projection's output, and hook_mlp_out (after
    the post-feedforward RMSNorm) changes by something else."""
    layer, text = 6, "How do I bake bread? 我怎样才能烤面包？"

    def run(*edits):
        return _capture_mlp(gemma, layer, lambda: gemma(text, logits=False), *edits)

    on = run()
    neuron = int(on["act"][0].abs().mean(0).argmax())
    off = run(EditNeurons(layer, [neuron], value=0.0))
    expected = on["act"][0, :, neuron, None] * value_vectors(gemma)[layer, neuron]
    change = on["down"][0] - off["down"][0]
    assert ((change - expected).norm() / expected.norm()).item() < 1e-4
    out_change = on["mlp_out"][0] - off["mlp_out"][0]
    assert ((out_change - expected).norm() / expected.norm()).item() > 0.5


@pytest.mark.slow
def test_gemma_through_norms_projection_predicts_the_logit_change(gemma):
    """Adding a small vector to the last residual changes the logits by about its projection through
    the final norm's gain; the raw projection (v @ W_U) ranks tokens far worse on Gemma."""
    _, cache = gemma.run_with_cache("The weather today is", [f"blocks.{gemma.n_layers - 1}.hook_resid_post"])
    x = cache[f"blocks.{gemma.n_layers - 1}.hook_resid_post"][0, -1]
    v = value_vectors(gemma)[gemma.n_layers - 1, 100].float()
    v = v / v.norm() * x.norm() * 1e-3
    with torch.no_grad():
        head = lambda r: gemma.hf.lm_head(gemma.hf.model.norm(r)).float()
        true = head(x + v) - head(x)

    def corr(a, b):
        a, b = a - a.mean(), b - b.mean()
        return float((a @ b) / (a.norm() * b.norm()))

    through = corr(vocab_projection(gemma, v, through_norms=True), true)
    raw = corr(vocab_projection(gemma, v), true)
    assert through > 0.8 and through > raw + 0.2, (through, raw)


def test_zero_or_non_finite_directions_and_single_texts():
    from mechint.neurons import neuron_activation_stats

    model = tiny_model("llama")
    bad = torch.randn(model.d_model)
    bad[5] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        top_neurons(model, bad, k=3)
    with pytest.raises(ValueError, match="zero at layer"):
        neuron_cosines(model, torch.zeros(model.d_model))
    # one string is one text, not a list of characters
    one = neuron_activation_stats(model, "hello", [(1, 3)], groups=["en"], progress=False)
    assert (
        one.prompt["en"].count
        == neuron_activation_stats(model, ["hello"], [(1, 3)], progress=False).prompt["all"].count
    )


def test_edit_effect_can_leave_the_bos_token_alone():
    """Unpadded (batch_size=1) with positions=slice(1, None): each text's own edit, BOS untouched,
    as a hand run of one text at a time with the edit from position 1 on."""
    model = tiny_model("llama")
    d = torch.randn(model.d_model, generator=torch.Generator().manual_seed(5))
    texts = list(TEXTS)
    effect = edit_effect(
        model, texts, d, [(1, 3), (0, 4)], mode="set", value=4.0, layer=2, positions=slice(1, None), batch_size=1
    )
    unit = d / d.norm()
    after = []
    for t in texts:
        with intervene(
            model,
            EditNeurons(1, [3], value=4.0, positions=slice(1, None)),
            EditNeurons(0, [4], value=4.0, positions=slice(1, None)),
        ):
            _, edited = model.run_with_cache([t], ["blocks.2.hook_resid_post"])
        after.append(edited["blocks.2.hook_resid_post"][0, -1].float() @ unit)
    torch.testing.assert_close(effect.after, torch.stack(after), rtol=1e-4, atol=1e-4)
    every = edit_effect(
        model, texts, d, [(1, 3), (0, 4)], mode="set", value=4.0, layer=2, batch_size=1, positions="all"
    )
    assert (every.after - effect.after).abs().max() > 1e-4  # the BOS edit mattered, and was left out
