"""Models placed over several devices (``load_model(..., device_map=...)``, accelerate's offload).

On the CPU the tiny models are saved to a folder and loaded again with some layers offloaded to
disk (accelerate's disk offload: their weights live on ``meta`` and are read from the offload
folder for each call) or with accelerate's CPU offload hooks on every module, so accelerate's
hooks path (inputs moved to each module's execution device, weights loaded per call) runs under
mechint's hooks. Each method must give what it gives on the plain model. Where CUDA is present the
layers are also split between the GPU and the CPU.
"""

from __future__ import annotations

import pytest
import torch
from conftest import FP32_TOL, TEXTS, random_tokens

from mechint import AddDirection, collect, load_model
from mechint.patching import activation_patch
from mechint.patching.metrics import logit_diff
from mechint.placement import DeviceMapError
from mechint.probes import fit_probes
from mechint.testing import tiny_model

accelerate = pytest.importorskip("accelerate")

FAMILIES = ["llama", "gpt2", "gemma3"]  # rotary + RMSNorm, learned positions + Conv1D, sandwich norms


def close(a, b, tol=FP32_TOL):
    torch.testing.assert_close(a.detach().cpu(), b.detach().cpu(), atol=tol, rtol=tol)


@pytest.fixture
def saved(tmp_path):
    """``(plain model, folder)``: a tiny model and the folder it is saved in."""

    def make(family: str):
        model = tiny_model(family)
        folder = tmp_path / f"tiny-{family}"
        model.hf.save_pretrained(folder)
        model.tokenizer.save_pretrained(folder)
        return model, folder

    return make


def disk_offloaded(saved, tmp_path, family):
    plain, folder = saved(family)
    layers = plain.family.layers
    placed = load_model(
        folder,
        device_map={"": "cpu", 1: "disk", f"{layers}.2": "disk"},
        offload_folder=tmp_path / "offload",
    )
    return plain, placed


def cpu_offloaded(family):
    """The same tiny model with accelerate's CPU offload hooks on every module (execution device
    the CPU: every weight is on meta outside its module's forward, loaded per call)."""
    plain = tiny_model(family)
    hf = tiny_model(family).hf
    accelerate.cpu_offload(hf, execution_device=torch.device("cpu"))
    return plain, load_model(hf, tokenizer=plain.tokenizer)


def both_ways(saved, tmp_path, family, how):
    return disk_offloaded(saved, tmp_path, family) if how == "disk" else cpu_offloaded(family)


HOWS = ["disk", "cpu_offload"]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("family", FAMILIES)
def test_offloaded_weights_are_on_meta_and_loaded_per_call(saved, tmp_path, family, how):
    plain, placed = both_ways(saved, tmp_path, family, how)
    meta = [n for n, p in placed.hf.named_parameters() if p.device.type == "meta"]
    assert meta, "the offloaded model should keep some weights on meta between calls"
    assert placed.device == torch.device("cpu")
    if how == "disk":
        assert placed.placed[f"{plain.family.layers}.1"] == "disk"
        assert placed.placed[f"{plain.family.layers}.0"] == "cpu"
    assert "device=cpu" in repr(placed)


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("family", FAMILIES)
def test_run_with_cache_equals_the_plain_model(saved, tmp_path, family, how):
    plain, placed = both_ways(saved, tmp_path, family, how)
    sites = ["hook_resid_pre", "hook_resid_post", "mlp.hook_post", "attn.hook_z", "ln_final.hook_normalized"]
    expected_logits, expected = plain.run_with_cache(TEXTS, sites)
    logits, cache = placed.run_with_cache(TEXTS, sites)
    close(logits, expected_logits)
    assert cache.keys() == expected.keys()
    for name in expected:
        close(cache[name], expected[name])


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("pool", ["last", "mean", "all"])
def test_collect_equals_the_plain_model(saved, tmp_path, how, pool):
    plain, placed = both_ways(saved, tmp_path, "llama", how)
    expected = collect(plain, TEXTS, "hook_resid_post", pool=pool, batch_size=3, progress=False)
    got = collect(placed, TEXTS, "hook_resid_post", pool=pool, batch_size=3, progress=False)
    for name in (s.name for s in plain.sites("hook_resid_post")):
        assert got[name].device == torch.device("cpu")
        close(got[name], expected[name])


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_generate_with_an_intervention_equals_the_plain_model(saved, tmp_path, family, how):
    plain, placed = both_ways(saved, tmp_path, family, how)
    direction = torch.randn(plain.d_model, generator=torch.Generator().manual_seed(1))
    steer = AddDirection(direction, 4.0, layers=[1, 2])
    outs = []
    for model in (plain, placed):
        with model.hooks(steer.hooks(model)):
            outs.append(model.generate(TEXTS[:2], max_new_tokens=6, return_tokens=True))
        with model.hooks(steer.hooks(model)):
            outs.append(model.forward(TEXTS[:2]))
    assert torch.equal(outs[0].cpu(), outs[2].cpu())
    close(outs[3], outs[1])
    # the steering changed something (the test would pass vacuously otherwise)
    assert not torch.allclose(outs[1], plain.forward(TEXTS[:2]))


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("component", ["resid_pre", "resid_post", "attn_out", "z", "mlp_post"])
def test_activation_patching_equals_the_plain_model(saved, tmp_path, how, component):
    plain, placed = both_ways(saved, tmp_path, "llama", how)
    clean = random_tokens(2, 8, seed=0)
    corrupted = clean.clone()
    corrupted[:, 3] = (corrupted[:, 3] + 17) % 256
    metric = logit_diff([5, 9], [7])
    kw = {"neurons": [0, 3]} if component == "mlp_post" else {}
    expected = activation_patch(plain, clean, corrupted, metric, component=component, **kw)
    got = activation_patch(placed, clean, corrupted, metric, component=component, **kw)
    close(got.values, expected.values, tol=1e-4)
    close(got.clean, expected.clean, tol=1e-4)
    close(got.corrupted, expected.corrupted, tol=1e-4)


@pytest.mark.parametrize("how", HOWS)
def test_activation_patching_with_the_whole_vocabulary(saved, tmp_path, how):
    """A metric over every logit runs the (maybe offloaded) LM head whole."""
    plain, placed = both_ways(saved, tmp_path, "gpt2", how)
    clean = random_tokens(1, 6, seed=2)
    corrupted = clean.clone()
    corrupted[:, 2] = (corrupted[:, 2] + 5) % 256

    def metric(logits):
        return logits[:, -1].logsumexp(-1)

    expected = activation_patch(plain, clean, corrupted, metric)
    got = activation_patch(placed, clean, corrupted, metric)
    close(got.values, expected.values, tol=1e-4)


@pytest.mark.parametrize("how", HOWS)
def test_probe_on_collected_activations_equals_the_plain_model(saved, tmp_path, how):
    plain, placed = both_ways(saved, tmp_path, "llama", how)
    texts = [f"{w} {i}" for i in range(6) for w in ("good", "awful")]
    labels = torch.tensor([0, 1] * 6)
    probes = []
    for model in (plain, placed):
        acts = collect(model, texts, "blocks.1.hook_resid_post", pool="mean", batch_size=5, progress=False)
        probes.append(fit_probes(acts["blocks.1.hook_resid_post"], labels, tol=1e-8))
    close(probes[1].coef, probes[0].coef, tol=1e-4)
    close(probes[1].intercept, probes[0].intercept, tol=1e-4)


def test_a_dispatched_module_and_layer_indices(tmp_path):
    """An nn.Module already built, dispatched by load_model with a map keyed by layer indices."""
    plain = tiny_model("llama")
    hf = tiny_model("llama").hf
    placed = load_model(
        hf, tokenizer=plain.tokenizer, device_map={"": "cpu", -1: "disk"}, offload_folder=tmp_path / "off"
    )
    assert placed.placed["model.layers.2"] == "disk"
    assert any(p.device.type == "meta" for p in hf.model.layers[2].parameters())
    close(placed.forward(TEXTS), plain.forward(TEXTS))


def test_an_offloaded_lm_head_refuses_W_U(saved, tmp_path):
    plain, folder = saved("llama")
    placed = load_model(folder, device_map={"": "cpu", "lm_head": "disk"}, offload_folder=tmp_path / "off")
    close(placed.forward(TEXTS), plain.forward(TEXTS))
    with pytest.raises(RuntimeError, match="offloaded"):
        _ = placed.W_U


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.bad_input
@pytest.mark.parametrize(
    "device_map, match",
    [
        ({"": "cpu", "model.layers.1": "meta"}, "'meta' would leave"),
        ({"": "cpu", 1: "tpu9"}, "is not a device|must be a device"),
        ({"": "cpu", "model.layer.1": "cpu"}, "no module of this model.*model.layers.1"),
        ({"": "cpu", 7: "cpu"}, "layers 0..2"),
        ({"model.layers": "cpu", "lm_head": "cpu"}, "places no device for model.embed_tokens.weight"),
        ({"": "cpu", 1: "disk"}, "offload_folder"),
        ("everywhere", "strategies are"),
    ],
)
def test_bad_device_maps_are_refused_clearly(saved, tmp_path, device_map, match):
    _, folder = saved("llama")
    with pytest.raises(DeviceMapError, match=match):
        load_model(folder, device_map=device_map)
    with pytest.raises(DeviceMapError, match=match):
        load_model(tiny_model("llama").hf, tokenizer=tiny_model("llama").tokenizer, device_map=device_map)


@pytest.mark.bad_input
def test_device_and_device_map_together_are_refused(saved):
    _, folder = saved("llama")
    with pytest.raises(ValueError, match="not both"):
        load_model(folder, device="cpu", device_map="auto")
    with pytest.raises(ValueError, match="offload_folder"):
        load_model(folder, offload_folder="/tmp/x")


@pytest.mark.bad_input
def test_a_module_with_weights_left_on_meta_is_refused():
    plain = tiny_model("llama")
    with accelerate.init_empty_weights():
        from transformers import AutoModelForCausalLM

        empty = AutoModelForCausalLM.from_config(plain.hf.config)
    with pytest.raises(DeviceMapError, match="on the 'meta' device.*no offload hook"):
        load_model(empty, tokenizer=plain.tokenizer)


@pytest.mark.bad_input
def test_a_hook_returning_a_tensor_on_another_device_is_refused():
    """No silent device mismatch: a hook's replacement must be on its activation's device."""
    model = tiny_model("llama")
    with pytest.raises(ValueError, match="on meta for an activation on cpu"):
        with model.hooks([("blocks.0.hook_resid_post", lambda x, ctx: torch.zeros_like(x, device="meta"))]):
            model.forward(TEXTS[:1])


# ------------------------------------------------------------------------------------------ GPU + CPU


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: layers split between the GPU and the CPU")


def same_results(placed, plain, tol=1e-4):
    """run_with_cache, collect, steered generate and activation patching of ``placed`` equal ``plain``'s."""
    logits, cache = placed.run_with_cache(TEXTS, ["hook_resid_post", "attn.hook_z", "mlp.hook_post"])
    expected_logits, expected = plain.run_with_cache(TEXTS, ["hook_resid_post", "attn.hook_z", "mlp.hook_post"])
    close(logits, expected_logits, tol)
    for name in expected:
        close(cache[name], expected[name], tol)
    for pool in ("last", "mean", "all"):
        got = collect(placed, TEXTS, "hook_resid_post", pool=pool, batch_size=3, progress=False)
        want = collect(plain, TEXTS, "hook_resid_post", pool=pool, batch_size=3, progress=False)
        for s in plain.sites("hook_resid_post"):
            assert got[s.name].device.type == "cpu"
            close(got[s.name], want[s.name], tol)
    direction = torch.randn(plain.d_model, generator=torch.Generator().manual_seed(1))
    steer = AddDirection(direction, 4.0, layers=[0, 1, 2])
    with placed.hooks(steer.hooks(placed)):
        a = placed.generate(TEXTS[:2], max_new_tokens=5, return_tokens=True)
    with plain.hooks(steer.hooks(plain)):
        b = plain.generate(TEXTS[:2], max_new_tokens=5, return_tokens=True)
    assert torch.equal(a.cpu(), b.cpu())
    clean = random_tokens(2, 8, seed=0)
    corrupted = clean.clone()
    corrupted[:, 3] = (corrupted[:, 3] + 17) % 256
    for component in ("resid_pre", "resid_post", "z", "mlp_out"):
        got = activation_patch(placed, clean, corrupted, logit_diff([5, 9], [7]), component=component)
        want = activation_patch(plain, clean, corrupted, logit_diff([5, 9], [7]), component=component)
        close(got.values, want.values, tol * 10)


@cuda
@pytest.mark.parametrize("family", FAMILIES)
def test_gpu_with_layers_offloaded_to_the_cpu_and_the_disk(saved, tmp_path, family):
    """accelerate's usual big-model map: the GPU computes, some layers' weights wait on the CPU or disk."""
    plain, folder = saved(family)
    layers = plain.family.layers
    placed = load_model(
        folder, device_map={"": 0, f"{layers}.1": "cpu", f"{layers}.2": "disk"}, offload_folder=tmp_path / "off"
    )
    assert placed.device == torch.device("cuda:0")
    same_results(placed, plain)


@cuda
@pytest.mark.parametrize("family", FAMILIES)
def test_layers_computed_on_the_gpu_and_on_the_cpu(family):
    """A real split: the embedding, layer 1 and the LM head compute on the CPU, layers 0 and 2 on the
    GPU (dispatch_model with main_device="cpu"), so activations of consecutive layers sit on
    different devices and every method must move what it combines."""
    from mechint.placement import resolve_device_map

    plain = tiny_model(family)
    hf = tiny_model(family).hf
    device_map = resolve_device_map(hf, {"": "cpu", 0: 0, 2: 0})
    accelerate.dispatch_model(hf, device_map, main_device="cpu")
    placed = load_model(hf, tokenizer=plain.tokenizer)
    assert placed.device == torch.device("cpu")
    _, cache = placed.run_with_cache(TEXTS[:1], "hook_resid_post")
    assert [cache[f"blocks.{i}.hook_resid_post"].device.type for i in range(3)] == ["cuda", "cpu", "cuda"]
    same_results(placed, plain)


def test_logit_lens_on_a_disk_offloaded_model(saved, tmp_path):
    """The logit lens stacks every layer's residual (each on its layer's device) where the final norm runs."""
    from mechint import logit_lens

    plain, placed = disk_offloaded(saved, tmp_path, "llama")
    expected = logit_lens(plain, TEXTS[:2], positions=[-1])
    got = logit_lens(placed, TEXTS[:2], positions=[-1])
    assert got.top_ids[0].tolist() == expected.top_ids[0].tolist()
    for a, b in zip(got.top_probs, expected.top_probs):
        close(a, b)


@pytest.mark.parametrize("how", HOWS)
def test_attribution_patching_equals_the_plain_model(saved, tmp_path, how):
    """Gradients flow through offloaded layers (their weights loaded for the call) as through plain ones."""
    from mechint.patching import attribution_patch

    plain, placed = both_ways(saved, tmp_path, "llama", how)
    clean = random_tokens(2, 8, seed=0)
    corrupted = clean.clone()
    corrupted[:, 3] = (corrupted[:, 3] + 17) % 256
    metric = logit_diff([5, 9], [7])
    for component in ("resid_pre", "attn_out"):
        expected = attribution_patch(plain, clean, corrupted, metric, component=component)
        got = attribution_patch(placed, clean, corrupted, metric, component=component)
        close(got.values, expected.values, tol=1e-4)


@pytest.mark.bad_input
def test_a_tied_lm_head_placed_apart_from_the_embedding_is_refused(saved, tmp_path):
    """GPT-2's LM head is the input embedding's matrix: from a folder it cannot be offloaded alone."""
    _, folder = saved("gpt2")
    with pytest.raises(DeviceMapError, match="splits one tied weight.*lm_head.weight on 'disk'"):
        load_model(folder, device_map={"": "cpu", "lm_head": "disk"}, offload_folder=tmp_path / "off")
