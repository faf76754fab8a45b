"""mechint.patching against a golden loop (one plain forward per cell through the hook engine), on
tiny random models of every family: every component, metrics at sites, padding, chunk sizes, errors,
attribution patching, and the result object."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import BF16_REL_TOL, FP32_TOL, random_tokens

from mechint.patching import (
    PatchResult,
    PromptLengthError,
    activation_patch,
    attribution_correlation,
    attribution_patch,
    auto_batch_size,
    metrics,
)
from mechint.patching.metrics import Metric, answer_prob, direction_score, kl_to_clean, logit_diff, normalize
from mechint.testing import FAMILY_NAMES

GEMMA_MIXED = {"layer_types": ["sliding_attention", "full_attention", "sliding_attention"]}


def sensitize(model, family):
    """Tiny random GPT-2 and BLOOM barely react to other positions (most cells move the metric by
    ~1e-6, too close to float32 rounding to test anything): scale their non-embedding matrices so
    attention matters (median effect ~1e-4)."""
    if family in ("gpt2", "bloom"):
        with torch.no_grad():
            for name, p in model.hf.named_parameters():
                if p.ndim == 2 and not any(k in name for k in ("wte", "wpe", "word_embeddings")):
                    p.mul_(4.0)
    return model


def make(make_model, family, **kw):
    extra = dict(GEMMA_MIXED) if family == "gemma3" else {}
    extra.update(kw)
    return sensitize(make_model(family, **extra), family)


def pairs(n: int = 2, length: int = 10, *, seed: int = 0, changed=(3, 6)):
    clean = random_tokens(n, length, seed=seed)
    corrupted = clean.clone()
    gen = torch.Generator().manual_seed(seed + 100)
    for p in changed:
        corrupted[:, p] = torch.randint(0, 256, (n,), generator=gen)
    return clean, corrupted


METRIC = logit_diff([5, 9], [7])


# ------------------------------------------------------------------------------------ the golden loop


def _enc(model, ids):
    return model.pad([list(map(int, r)) for r in ids]) if not isinstance(ids, dict) else ids


def golden(model, clean, corrupted, metric, component, *, positions=None, heads=None, neurons=None, per_position=False):
    """One full forward per cell with a write hook at the site: the definition of activation patching."""
    key = {
        "resid_pre": "hook_resid_pre",
        "resid_mid": "hook_resid_mid",
        "resid_post": "hook_resid_post",
        "attn_out": "hook_attn_out",
        "mlp_out": "hook_mlp_out",
        "z": "attn.hook_z",
        "mlp_post": "mlp.hook_post",
    }[component]
    metric = metrics.as_metric(metric)
    enc_c, enc_k = model.pad([r.tolist() for r in clean] + [r.tolist() for r in corrupted]), None
    n = len(clean)
    enc_k = {k: v[n:] for k, v in enc_c.items()}
    enc_c = {k: v[:n] for k, v in enc_c.items()}
    width = enc_c["input_ids"].shape[1]
    pos = list(range(width)) if positions is None else [p % width for p in positions]

    def score(enc, hooks=()):
        with torch.no_grad():
            if metric.site is None:
                with model.hooks(hooks):
                    out = model(enc)
                return out
            with model.hooks(hooks):
                _, cache = model.run_with_cache(enc, [metric.site], logits=False)
            return cache[metric.site]

    clean_full = score(enc_c)
    fn = lambda x: metric(x.float(), clean=clean_full.float())
    sites = [f"blocks.{l}.{key}" for l in range(model.n_layers)]
    with torch.no_grad():
        _, cache = model.run_with_cache(enc_c, sites, logits=False)
    cells = []
    for l in range(model.n_layers):
        c = cache[sites[l]]
        if component in ("z", "mlp_post"):
            units = heads if component == "z" else neurons
            units = list(range(model.n_heads)) if units is None else units
            if per_position:
                cells += [(l, (p, u)) for p in pos for u in units]
            else:
                cells += [(l, (None, u)) for u in units]
        else:
            cells += [(l, (p, None)) for p in pos]
    out = []
    for l, (p, u) in cells:
        c = cache[sites[l]]

        def hook(x, ctx, p=p, u=u, c=c):
            x = x.clone()
            if u is None:
                x[:, p] = c[:, p]
            elif p is None:
                x[:, pos, u] = c[:, pos, u]
            else:
                x[:, p, u] = c[:, p, u]
            return x

        out.append(fn(score(enc_k, [(sites[l], hook)])))
    return torch.stack(out, 1), fn(clean_full), fn(score(enc_k))  # [pairs, cells], [pairs], [pairs]


def assert_close(a, b, *, tol=FP32_TOL, name=""):
    a, b = torch.as_tensor(a).float().cpu(), torch.as_tensor(b).float().cpu()
    torch.testing.assert_close(a, b, rtol=tol, atol=tol, msg=lambda m: f"{name}: {m}")


# ------------------------------------------------------------------------------------ exactness


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_every_component_matches_the_golden_loop(family, make_model):
    model = make(make_model, family)
    clean, corrupted = pairs(2, 10, seed=1)
    cases = [
        ("resid_pre", {}),
        ("resid_mid", {}),
        ("resid_post", {}),
        ("attn_out", {}),
        ("mlp_out", {}),
        ("z", {}),
        ("z", {"positions": [2, 3, 9], "per_position": True, "heads": [0, 3]}),
        ("mlp_post", {"neurons": [0, 5, 17]}),
        ("mlp_post", {"neurons": [1, 2], "per_position": True, "positions": [3, 6, -1]}),
    ]
    for component, kw in cases:
        ours = activation_patch(model, clean, corrupted, METRIC, component=component, **kw)
        ref, clean_v, corr_v = golden(model, clean, corrupted, METRIC, component, **kw)
        name = f"{family} {component} {kw}"
        assert_close(ours.values.reshape(2, -1), ref, name=name)
        assert_close(ours.clean, clean_v, name=name + " clean")
        assert_close(ours.corrupted, corr_v, name=name + " corrupted")
        # the patches do something (a write that silently does nothing would pass the rest)
        assert (ours.values - ours.corrupted.reshape(-1, *[1] * len(ours.axes))).abs().max() > 1e-5, name
        # the last layer's MLP ran at the metric's positions only, unless the patch is inside it
        # (mlp_out is the MLP's output on most families, Gemma's post-MLP norm's)
        if component != "mlp_out":
            assert ours.info["last_mlp_at_read_positions"] == (component != "mlp_post"), name


@pytest.mark.parametrize("family", ["llama", "gemma3", "bloom"])
def test_metrics_at_sites_match_the_golden_loop(family, make_model):
    """A metric that reads a site stops the forward there (mid-layer, residual, final norm)."""
    model = make(make_model, family)
    clean, corrupted = pairs(2, 9, seed=2)
    gen = torch.Generator().manual_seed(0)
    for site in (
        "blocks.1.hook_attn_out",
        "blocks.1.hook_resid_pre",
        "blocks.2.hook_resid_post",
        "ln_final.hook_normalized",
    ):
        metric = direction_score(torch.randn(model.d_model, generator=gen), site, position=[-1, 4])
        for component in ("resid_pre", "attn_out", "mlp_out"):
            ours = activation_patch(model, clean, corrupted, metric, component=component)
            ref, _, corr = golden(model, clean, corrupted, metric, component)
            assert_close(ours.values.reshape(2, -1), ref, tol=1e-4, name=f"{family} {site} {component}")
            # cells after the metric's site cannot change it
            layer = int(site.split(".")[1]) if site.startswith("blocks") else model.n_layers
            assert_close(
                ours.values[:, layer + 1 :], corr[:, None, None].expand_as(ours.values[:, layer + 1 :]), tol=1e-4
            )


def test_metrics_relative_to_clean_and_probabilities(make_model):
    model = make(make_model, "qwen2")
    clean, corrupted = pairs(2, 8, seed=3)
    for metric in (kl_to_clean(), answer_prob([5, 6]), kl_to_clean(position=[-1, -2])):
        ours = activation_patch(model, clean, corrupted, metric)
        ref, clean_v, _ = golden(model, clean, corrupted, metric, "resid_pre")
        assert_close(ours.values.reshape(2, -1), ref, tol=1e-5, name=metric.name)
        assert_close(ours.clean, clean_v)
    assert_close(activation_patch(model, clean, corrupted, kl_to_clean()).clean, torch.zeros(2))


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_clean_into_clean_gives_the_clean_metric_everywhere(family, make_model):
    model = make(make_model, family)
    clean, _ = pairs(2, 9, seed=4)
    for component, kw in [
        ("resid_pre", {}),
        ("attn_out", {}),
        ("mlp_out", {}),
        ("resid_mid", {}),
        ("z", {}),
        ("mlp_post", {"neurons": [3]}),
    ]:
        # run every cell (by default none runs: every clean activation equals the corrupted one)
        r = activation_patch(model, clean, clean, METRIC, component=component, skip_unchanged=False, **kw)
        assert r.info["rows"] == r.values.numel() and r.info["unchanged_skipped"] == 0
        assert_close(
            r.values, r.clean.reshape(-1, *[1] * len(r.axes)).expand_as(r.values), name=f"{family} {component}"
        )
        skipped = activation_patch(model, clean, clean, METRIC, component=component, **kw)
        assert skipped.info["rows"] == 0 and skipped.info["unchanged_skipped"] == r.values.numel()
        torch.testing.assert_close(skipped.values, r.values, rtol=FP32_TOL, atol=FP32_TOL)


@pytest.mark.parametrize("family", ["llama", "gemma3", "gpt2"])
def test_cells_whose_activation_is_unchanged_are_not_run(family, make_model):
    """A cell whose clean activation equals the corrupted one bit for bit gets the corrupted metric
    without a run: same values as running it, on every component, with pairs of different lengths;
    at least the embedding-layer positions whose tokens agree are skipped."""
    model = make(make_model, family)
    a, a2 = pairs(1, 10, seed=11, changed=(3, 6))
    b, b2 = pairs(1, 8, seed=12, changed=(5,))
    clean, corrupted = [a[0].tolist(), b[0].tolist()], [a2[0].tolist(), b2[0].tolist()]
    cases = [
        ("resid_pre", {}),
        ("attn_out", {}),
        ("resid_post", {}),
        ("z", {}),
        ("z", {"per_position": True}),
        ("mlp_post", {"neurons": [0, 5]}),
        ("mlp_post", {"neurons": [1], "per_position": True}),
    ]
    for component, kw in cases:
        ran = activation_patch(model, clean, corrupted, METRIC, component=component, skip_unchanged=False, **kw)
        fast = activation_patch(model, clean, corrupted, METRIC, component=component, **kw)
        name = f"{family} {component} {kw}"
        torch.testing.assert_close(fast.values, ran.values, rtol=FP32_TOL, atol=FP32_TOL, equal_nan=True, msg=name)
        assert fast.info["rows"] + fast.info["unchanged_skipped"] == ran.info["rows"], name
        # per position, the positions before the first difference are skipped; a head or neuron patched
        # at all positions at once differs wherever the prompts do
        assert (fast.info["unchanged_skipped"] > 0) == ("pos" in fast.axes), name
    # a head patched at positions the shorter pair does not have (left padding): NaN for that pair,
    # with and without skipping
    for skip in (True, False):
        r = activation_patch(model, clean, corrupted, METRIC, component="z", positions=[0, 1], skip_unchanged=skip)
        assert torch.isnan(r.values[1]).all() and not torch.isnan(r.values[0]).any(), (family, skip)
    # resid_pre at layer 0 is the embedding: 8 + 7 positions hold the same token in both prompts,
    # and every layer's positions before a pair's first difference (3 and 5 here) are the same too
    r = activation_patch(model, clean, corrupted, METRIC)
    assert r.info["unchanged_skipped"] >= 8 + 7 + (3 + 5) * (model.n_layers - 1)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_a_cell_after_the_metric_position_gives_the_corrupted_metric(family, make_model):
    model = make(make_model, family)
    clean, corrupted = pairs(2, 10, seed=5, changed=(2, 7, 8))
    metric = logit_diff([5], [7], position=5)
    for component in ("resid_pre", "attn_out", "mlp_out"):
        r = activation_patch(model, clean, corrupted, metric, component=component, prefix_reuse=False)
        after = r.values[:, :, 6:]
        assert_close(after, r.corrupted[:, None, None].expand_as(after), name=f"{family} {component}")
        assert (r.values[:, :, 2] - r.corrupted[:, None]).abs().max() > 1e-5  # an earlier cell does matter


@pytest.mark.parametrize("family", ["llama", "gemma3", "gpt2", "bloom"])
def test_results_do_not_depend_on_the_chunk_size(family, make_model):
    model = make(make_model, family)
    # three pairs of different lengths (left-padded to a common width)
    a, a2 = pairs(1, 12, seed=6)
    b, b2 = pairs(1, 9, seed=7)
    c, c2 = pairs(1, 11, seed=8)
    clean, corrupted = [a[0].tolist(), b[0].tolist(), c[0].tolist()], [a2[0].tolist(), b2[0].tolist(), c2[0].tolist()]
    for component, kw in [("resid_pre", {}), ("z", {}), ("mlp_out", {})]:
        ref = activation_patch(model, clean, corrupted, METRIC, component=component, batch_size=1, **kw)
        for bs in (4, 23, None):
            r = activation_patch(model, clean, corrupted, METRIC, component=component, batch_size=bs, **kw)
            assert r.info["chunks"] >= 1
            torch.testing.assert_close(r.values, ref.values, rtol=FP32_TOL, atol=FP32_TOL, equal_nan=True)
        full = activation_patch(model, clean, corrupted, METRIC, component=component, prefix_reuse=False, **kw)
        torch.testing.assert_close(full.values, ref.values, rtol=FP32_TOL, atol=FP32_TOL, equal_nan=True)
        assert ref.info["prefix_reuse"] and not full.info["prefix_reuse"]


@pytest.mark.parametrize("family", ["llama", "gpt2", "bloom"])
def test_pairs_of_different_lengths_equal_each_pair_alone(family, make_model):
    """Left padding with position ids: a pair patched in a padded batch gives what it gives alone."""
    model = make(make_model, family)
    a, a2 = pairs(1, 12, seed=9)
    b, b2 = pairs(1, 8, seed=10)
    batch = activation_patch(model, [a[0].tolist(), b[0].tolist()], [a2[0].tolist(), b2[0].tolist()], METRIC)
    alone_b = activation_patch(model, b, b2, METRIC)
    assert batch.values.shape == (2, model.n_layers, 12)
    assert torch.isnan(batch.values[1, :, :4]).all() and not torch.isnan(batch.values[1, :, 4:]).any()
    assert_close(batch.values[1, :, 4:], alone_b.values[0], name=family)
    assert_close(batch.mean()[:, :4], batch.values[0, :, :4])  # the mean leaves the missing cells out


def test_align_right_and_length_errors(make_model):
    model = make(make_model, "llama")
    clean, corrupted = random_tokens(2, 9, seed=11), random_tokens(2, 11, seed=12)
    with pytest.raises(
        PromptLengthError, match=r"pair 0: the clean prompt has 9 tokens and the corrupted prompt has 11"
    ):
        activation_patch(model, clean, corrupted, METRIC)
    mixed_c = [clean[0].tolist(), clean[1].tolist()]
    mixed_k = [clean[0].tolist(), corrupted[1].tolist()]
    with pytest.raises(PromptLengthError, match=r"pair 1: .* 9 tokens .* 11 tokens"):
        activation_patch(model, mixed_c, mixed_k, METRIC)
    r = activation_patch(model, mixed_c, mixed_k, METRIC, align="right")
    assert r.values.shape == (2, model.n_layers, 11)
    assert torch.isnan(r.values[:, :, :2]).all() and torch.isfinite(r.values[:, :, 2:]).all()
    alone = activation_patch(model, clean[:1], clean[:1], METRIC)
    assert_close(r.values[0, :, 2:], alone.values[0])


@pytest.mark.bad_input
def test_argument_errors(make_model):
    model = make(make_model, "llama")
    clean, corrupted = pairs(2, 8)
    with pytest.raises(ValueError, match="2 clean prompt.*1 corrupted"):
        activation_patch(model, clean, corrupted[:1], METRIC)
    with pytest.raises(ValueError, match="unknown component 'resid'"):
        activation_patch(model, clean, corrupted, METRIC, component="resid")
    with pytest.raises(ValueError, match="neurons="):
        activation_patch(model, clean, corrupted, METRIC, component="mlp_post")
    with pytest.raises(ValueError, match="apply to z and mlp_post"):
        activation_patch(model, clean, corrupted, METRIC, heads=[0])
    with pytest.raises(ValueError, match="position 8 is out of range"):
        activation_patch(model, clean, corrupted, METRIC, positions=[8])
    with pytest.raises(ValueError, match="layer 3 is out of range"):
        activation_patch(model, clean, corrupted, METRIC, layers=[3])
    with pytest.raises(ValueError, match="head 4 is out of range"):
        activation_patch(model, clean, corrupted, METRIC, component="z", heads=[4])
    with pytest.raises(ValueError, match="batch_size"):
        activation_patch(model, clean, corrupted, METRIC, batch_size=0)
    with pytest.raises(ValueError, match="align"):
        activation_patch(model, clean, corrupted, METRIC, align="left")


def test_strings_layers_and_positions_subsets(make_model):
    model = make(make_model, "gemma3")
    r = activation_patch(
        model, "How to bake bread?", "How to bake cakes?", METRIC, layers=[2, 0], positions=[-1, 0, 15]
    )
    assert r.shape == (2, 3) and r.labels["layer"] == [2, 0] and r.positions == [18, 0, 15]
    full = activation_patch(model, "How to bake bread?", "How to bake cakes?", METRIC)
    assert_close(r.values[0], full.values[0][[2, 0]][:, [18, 0, 15]])


# ------------------------------------------------------------------------------------ devices, dtypes


def test_bf16_on_every_device_is_within_the_band_of_float32(device, make_model):
    model32 = make(make_model, "llama", device=device)
    model16 = make(make_model, "llama", device=device, dtype=torch.bfloat16)
    clean, corrupted = pairs(2, 10, seed=13, changed=(2, 5, 9))
    r32 = activation_patch(model32, clean.to(device), corrupted.to(device), METRIC)
    r16 = activation_patch(model16, clean.to(device), corrupted.to(device), METRIC)
    ref, _, _ = golden(model16, clean.to(device), corrupted.to(device), METRIC, "resid_pre")
    for name, got in (("vs bf16 golden loop", ref.reshape(r16.values.shape)), ("vs float32", r32.values)):
        rel = ((r16.values - got.cpu()).norm() / got.cpu().norm()).item()
        assert rel < BF16_REL_TOL, f"{name}: relative error {rel:.4f}"
    assert r16.values.dtype == torch.float32


def test_auto_batch_size_is_bounded(make_model):
    model = make(make_model, "llama")
    assert 1 <= auto_batch_size(model, 10) <= 1024 // 10
    assert auto_batch_size(model, 10, tokens_per_batch=50) == 5
    assert auto_batch_size(model, 10**6) == 1


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_hooks_around_a_sweep_run_the_whole_last_layer(family, make_model):
    """With a user's hook active the last layer's MLP runs at every position (the hook may read any);
    the values equal the sweep that runs it at the metric's positions only."""
    model = make(make_model, family)
    clean, corrupted = pairs(2, 9, seed=4, changed=(2, 8))
    trimmed = activation_patch(model, clean, corrupted, METRIC)
    seen = []
    with model.hooks([(f"blocks.{model.n_layers - 1}.hook_mlp_out", lambda x, ctx: seen.append(x.shape[1]))]):
        whole = activation_patch(model, clean, corrupted, METRIC)
    assert trimmed.info["last_mlp_at_read_positions"] and not whole.info["last_mlp_at_read_positions"]
    assert seen and set(seen) != {1}  # the hook saw more than the one read position
    assert_close(trimmed.values, whole.values, name=family)


STEERED_CASES = [
    ("resid_pre", {}),
    ("resid_post", {}),
    ("attn_out", {}),
    ("mlp_out", {}),
    ("z", {}),
    ("mlp_post", {"neurons": [0, 3, 5]}),
]


def steering(model):
    """Interventions of every kind a caller may have active around a sweep: at a fixed absolute
    position, at one prompt pair only (rows=), with one value per pair, on MLP neurons, and a hook
    whose value is a function of the cells; at the residual stream (before and after a block), at
    attn_out, mlp_out and the final norm."""
    from mechint import add_value
    from mechint.interventions import AddDirection, EditNeurons

    g = torch.Generator().manual_seed(7)
    vec = lambda: torch.randn(model.d_model, generator=g)  # noqa: E731
    return [
        AddDirection(vec(), 8.0, layers=[1], positions=[2]),
        AddDirection(vec(), 6.0, sites="hook_resid_pre", layers=[2], positions=[7], rows=[1]),
        AddDirection(vec(), torch.tensor([3.0, -2.0]), sites="hook_attn_out", layers=[0]),
        EditNeurons(1, [0, 3], mode="scale", value=3.0, positions=[5, 8], rows=[0]),
        AddDirection(vec(), 2.0, sites="ln_final.hook_normalized", positions=[9], rows=[1]),
        ("blocks.1.hook_mlp_out", add_value(lambda cells, ctx: -0.5 * cells)),  # a value computed from the cells
    ]


@pytest.mark.parametrize("family", ["llama", "gpt2", "gemma3", "bloom"])
def test_interventions_around_a_sweep_act_as_in_one_forward_per_cell(family, make_model):
    """With interventions active around activation_patch, every cell equals one full forward with
    the patch under the same interventions (the clean activation also read under them): positions
    stay absolute in the suffix a chunk computes, rows= counts prompt pairs, and a row that joins at
    a layer runs that layer's hooks once; with and without prefix reuse and skipping."""
    from mechint.interventions import intervene

    model = make(make_model, family)
    clean, corrupted = pairs(2, 10, seed=3, changed=(1, 4, 8))
    steer = steering(model)
    vec = torch.randn(model.d_model, generator=torch.Generator().manual_seed(8))
    cases = STEERED_CASES + [
        ("resid_pre", {"metric": direction_score(vec, "blocks.2.hook_resid_pre", position=[-1, 6])}),
        ("attn_out", {"metric": direction_score(vec, "blocks.1.hook_resid_post", position=-1)}),
        ("resid_pre", {"metric": direction_score(vec, "ln_final.hook_normalized", position=-1)}),
    ]
    for component, kw in cases:
        kw = dict(kw)
        metric = kw.pop("metric", METRIC)
        with intervene(model, *steer):
            ref, ref_clean, ref_corrupted = golden(model, clean, corrupted, metric, component, **kw)
        plain, _, _ = golden(model, clean, corrupted, metric, component, **kw)
        assert (ref - plain).abs().max() > 1e-3, f"{family} {component}: the interventions change nothing here"
        for reuse in (True, False):
            for skip in (True, False):
                with intervene(model, *steer):
                    r = activation_patch(
                        model,
                        clean,
                        corrupted,
                        metric,
                        component=component,
                        prefix_reuse=reuse,
                        skip_unchanged=skip,
                        batch_size=7,
                        **kw,
                    )
                name = f"{family} {component} {metric.name} reuse={reuse} skip={skip}"
                assert r.info["prefix_reuse"] == reuse, name
                assert_close(r.values.reshape(2, -1), ref, name=name)
                assert_close(r.clean, ref_clean, name=name)
                assert_close(r.corrupted, ref_corrupted, name=name)


@pytest.mark.parametrize("family", ["llama", "gemma3", "gpt2"])
def test_text_positions_around_a_sweep_of_pairs_of_other_lengths(family, make_model):
    """Interventions at positions counted from each text's start (from_text_start) act in the padded
    sweep of pairs of different lengths as in each pair's sweep alone: the patched runs, which call
    the decoder layers themselves, pass each pair's padding to the hooks."""
    from mechint import from_text_start
    from mechint.interventions import AddDirection, EditNeurons, intervene

    model = make(make_model, family)
    long_c, long_k = pairs(1, 10, seed=3, changed=(2, 8))
    short_c, short_k = pairs(1, 7, seed=5, changed=(1, 5))
    g = torch.Generator().manual_seed(11)
    steer = [
        AddDirection(
            torch.randn(model.d_model, generator=g), 8.0, layers=[1], positions=from_text_start(slice(1, None))
        ),
        AddDirection(
            torch.randn(model.d_model, generator=g),
            6.0,
            sites="hook_resid_pre",
            layers=[2],
            positions=from_text_start([3]),
        ),
        EditNeurons(1, [0, 3], mode="scale", value=3.0, positions=from_text_start([-2])),
    ]
    both_c, both_k = [long_c[0].tolist(), short_c[0].tolist()], [long_k[0].tolist(), short_k[0].tolist()]
    for component, kw in (("resid_pre", {}), ("attn_out", {}), ("z", {}), ("mlp_post", {"neurons": [0, 3, 5]})):
        plain = activation_patch(model, short_c, short_k, METRIC, component=component, **kw)
        with intervene(model, *steer):
            alone = [
                activation_patch(model, c, k, METRIC, component=component, **kw)
                for c, k in ((long_c, long_k), (short_c, short_k))
            ]
            for reuse in (True, False):
                both = activation_patch(
                    model, both_c, both_k, METRIC, component=component, prefix_reuse=reuse, batch_size=7, **kw
                )
                name = f"{family} {component} reuse={reuse}"
                assert_close(both.pair(0).values, alone[0].values, name=name)
                short = both.pair(1).values
                if component in ("resid_pre", "attn_out"):  # a position axis: 3 pad columns come first
                    assert torch.isnan(short[..., :3]).all(), name
                    short = short[..., 3:]
                assert_close(short, alone[1].values, name=name)
        assert (alone[1].values - plain.values).abs().max() > 1e-3, (
            f"{family} {component}: the interventions change nothing"
        )


def test_a_steered_position_before_the_patched_one_is_not_moved(make_model):
    """The reviewer's case: steering at position 2 after block 1 while patching from position 5 on
    (prefix reuse computes 5..): the steer must stay at position 2, not land on 2 + 5."""
    from mechint.interventions import AddDirection, intervene

    model = make(make_model, "llama")
    clean, corrupted = pairs(1, 8, seed=0, changed=(5,))
    steer = AddDirection(
        torch.randn(model.d_model, generator=torch.Generator().manual_seed(0)), 8.0, layers=[1], positions=[2]
    )
    with intervene(model, steer):
        ref, _, _ = golden(model, clean, corrupted, METRIC, "resid_pre", positions=[5, 6, 7])
        r = activation_patch(model, clean, corrupted, METRIC, positions=[5, 6, 7])
    assert r.info["prefix_reuse"]
    assert_close(r.values.reshape(1, -1), ref)


def test_a_hook_at_a_layers_input_runs_once_for_rows_that_join_there(make_model):
    """A hook that scales the residual entering layer 1: cells where clean == corrupted give the
    corrupted metric (the cached layer input is the one before the hook; the hook runs once)."""
    from mechint import scale_value

    model = make(make_model, "llama")
    clean, corrupted = pairs(1, 8, seed=0, changed=(4,))
    with model.hooks([("blocks.1.hook_resid_pre", scale_value(2.0))]):
        with torch.no_grad():
            under = METRIC(model(corrupted))
        r = activation_patch(model, clean, corrupted, METRIC, layers=[1], skip_unchanged=False)
    assert_close(r.corrupted, under)
    assert_close(r.values[0, 0, :4], under.expand(4))


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_attribution_under_interventions_matches_autograd_by_hand(family, make_model):
    """Attribution patching under interventions: the gradient at the (intervened) activation of the
    corrupted run, times the clean-minus-corrupted difference, both read under the interventions."""
    from mechint.interventions import intervene

    model = make(make_model, family)
    clean, corrupted = pairs(2, 10, seed=3, changed=(1, 4, 8))
    enc = model.pad([r.tolist() for r in clean] + [r.tolist() for r in corrupted])
    enc_c, enc_k = ({k: v[sl] for k, v in enc.items()} for sl in (slice(0, 2), slice(2, 4)))
    for component, key in (("resid_pre", "hook_resid_pre"), ("attn_out", "hook_attn_out")):
        with intervene(model, *steering(model)):
            got = attribution_patch(model, clean, corrupted, METRIC, component=component)
            expected = []
            for layer in range(model.n_layers):
                site = f"blocks.{layer}.{key}"
                with torch.no_grad():
                    _, cache = model.run_with_cache(enc_c, [site], logits=False)
                box = {}

                def leaf(x, ctx, box=box):
                    box["a"] = x.detach().clone().requires_grad_(True)
                    return box["a"]

                with torch.enable_grad(), model.hooks([(site, leaf)]):
                    value = METRIC(model(enc_k))
                    (grad,) = torch.autograd.grad(value.sum(), box["a"])
                expected.append(value.detach()[:, None] + ((cache[site] - box["a"].detach()) * grad).sum(-1))
        plain = attribution_patch(model, clean, corrupted, METRIC, component=component)
        expected = torch.stack(expected, 1)
        assert (plain.values - expected).abs().max() > 1e-3
        assert_close(got.values, expected, tol=1e-5, name=f"{family} {component}")


def test_automatic_chunks_hold_more_runs_when_they_start_late(make_model):
    """Runs that start late compute a short suffix: a chunk of them holds more runs, within the budget
    of computed positions, and the sweep equals one run per chunk."""
    from mechint.patching.sweep import _auto_limit

    model = make(make_model, "llama")
    limit = _auto_limit(model, 10, 1, tokens_per_batch=40)
    assert [limit(s) for s in (0, 5, 8, 9)] == [4, 8, 20, 40]
    clean, corrupted = pairs(2, 10, seed=5, changed=(1, 4, 9))
    auto = activation_patch(model, clean, corrupted, METRIC)
    small = activation_patch(model, clean, corrupted, METRIC, tokens_per_batch=40)
    one = activation_patch(model, clean, corrupted, METRIC, batch_size=1)
    for r in (auto, small):
        torch.testing.assert_close(r.values, one.values, atol=FP32_TOL, rtol=FP32_TOL)
    assert auto.info["chunks"] < small.info["chunks"] < one.info["chunks"]
    with pytest.raises(ValueError, match="tokens_per_batch must be an integer >= 1"):
        activation_patch(model, clean, corrupted, METRIC, tokens_per_batch=0)


# ------------------------------------------------------------------------------------ attribution


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_attribution_is_exact_where_the_metric_is_linear_in_the_patched_activation(family, make_model):
    """Patching the last layer's output and reading a direction there is linear: attribution = exact."""
    model = make(make_model, family)
    clean, corrupted = pairs(2, 9, seed=14)
    last = model.n_layers - 1
    metric = direction_score(
        torch.randn(model.d_model, generator=torch.Generator().manual_seed(2)),
        f"blocks.{last}.hook_resid_post",
        position=[-1, 6],
    )
    exact = activation_patch(model, clean, corrupted, metric, component="resid_post")
    attr = attribution_patch(model, clean, corrupted, metric, component="resid_post", exact=exact)
    assert attr.method == "attribution" and attr.values.shape == exact.values.shape
    assert_close(attr.values[:, last], exact.values[:, last], tol=1e-4, name=family)
    assert attr.info["correlation"]["n"] == exact.values.numel()
    assert_close(attr.clean, exact.clean) and assert_close(attr.corrupted, exact.corrupted)


def test_attribution_of_heads_and_neurons_is_exact_where_linear(make_model):
    """Llama's attn_out is o_proj(z) and mlp_out is down_proj(mlp_post): linear, so exact."""
    model = make(make_model, "llama")
    clean, corrupted = pairs(2, 9, seed=15)
    vec = torch.randn(model.d_model, generator=torch.Generator().manual_seed(3))
    for component, site, kw in [
        ("z", "blocks.1.hook_attn_out", {}),
        ("z", "blocks.1.hook_attn_out", {"per_position": True}),
        ("mlp_post", "blocks.2.hook_mlp_out", {"neurons": [0, 7, 9]}),
    ]:
        metric = direction_score(vec, site, position=-1)
        layer = int(site.split(".")[1])
        exact = activation_patch(model, clean, corrupted, metric, component=component, layers=[layer], **kw)
        attr = attribution_patch(model, clean, corrupted, metric, component=component, layers=[layer], **kw)
        assert_close(attr.values, exact.values, tol=1e-4, name=f"{component} {kw}")


def test_attribution_runs_with_dropout_off_and_correlates(make_model):
    model = make(make_model, "llama", attention_dropout=0.5)
    model.hf.train()  # the engine runs eval(): dropout must not make the gradient random
    clean, corrupted = pairs(2, 10, seed=16)
    a = attribution_patch(model, clean, corrupted, METRIC, exact=True)
    b = attribution_patch(model, clean, corrupted, METRIC)
    torch.testing.assert_close(a.values, b.values)
    assert model.hf.training  # the previous mode is restored
    corr = a.info["correlation"]
    assert set(corr) == {"pearson", "spearman", "pearson_mean", "n"} and -1 <= corr["pearson"] <= 1
    # the exact sweep of attribution_patch(exact=True) is the plain one
    exact = activation_patch(model, clean, corrupted, METRIC)
    assert attribution_correlation(a, exact) == corr
    with pytest.raises(ValueError, match="differ in shape"):
        attribution_correlation(a, activation_patch(model, clean, corrupted, METRIC, positions=[1]))


def test_frozen_parameters_still_give_gradients(make_model):
    model = make(make_model, "gpt2")
    for p in model.hf.parameters():
        p.requires_grad_(False)
    clean, corrupted = pairs(1, 8, seed=17)
    attr = attribution_patch(model, clean, corrupted, METRIC, component="attn_out")
    assert attr.effect().abs().max() > 0


# ------------------------------------------------------------------------------------ metrics and results


def test_metrics_are_plain_functions_of_the_logits(make_model):
    model = make(make_model, "llama")
    tokens = random_tokens(3, 7, seed=18)
    with torch.no_grad():
        logits = model(tokens)
    last = logits[:, -1]
    torch.testing.assert_close(logit_diff([5, 9], [7])(logits), (last[:, [5, 9]].mean(-1) - last[:, 7]))
    per_pair = logit_diff([[1], [2, 3], [4]], [[7], [8], [9, 10]])
    expected = torch.stack(
        [last[0, 1] - last[0, 7], last[1, [2, 3]].mean() - last[1, 8], last[2, 4] - last[2, [9, 10]].mean()]
    )
    torch.testing.assert_close(per_pair(logits), expected)
    torch.testing.assert_close(answer_prob([5, 6])(logits), last.softmax(-1)[:, [5, 6]].sum(-1))
    assert kl_to_clean()(logits, clean=logits).abs().max() < 1e-6
    with pytest.raises(ValueError, match="clean run"):
        kl_to_clean()(logits)
    plain = metrics.as_metric(lambda lg: lg[:, -1, 3])
    assert plain.positions is None and torch.equal(plain(logits), last[:, 3])
    torch.testing.assert_close(
        normalize(torch.tensor([[1.0, 3.0]]), torch.tensor([3.0]), torch.tensor([1.0])), torch.tensor([[0.0, 1.0]])
    )
    assert math.isnan(normalize(torch.tensor([2.0]), torch.tensor([1.0]), torch.tensor([1.0]))[0].item())
    with pytest.raises(ValueError, match="tokens="):
        Metric(lambda r, p: r, site="blocks.0.hook_resid_pre", tokens=(1,))


def test_per_pair_answers_follow_their_pair_through_chunks(make_model):
    model = make(make_model, "qwen2")
    clean, corrupted = pairs(3, 8, seed=19)
    metric = logit_diff([[1], [2], [3]], [[4], [5], [6]])
    ref, _, _ = golden(model, clean, corrupted, metric, "resid_pre")
    for bs in (1, 5, None):
        assert_close(activation_patch(model, clean, corrupted, metric, batch_size=bs).values.reshape(3, -1), ref)


def test_result_labels_dataframe_and_pairs(make_model):
    model = make(make_model, "llama")
    r = activation_patch(model, ["ab cd", "ab ce"], ["ab xd", "ab xe"], METRIC, component="z")
    assert isinstance(r, PatchResult) and r.axes == ("layer", "head") and r.shape == (3, 4)
    assert r.labels["head"] == [0, 1, 2, 3] and r.clean_tokens[0][0] == "<bos>"
    df = r.to_dataframe()
    assert len(df) == 2 * 3 * 4 and {"pair", "layer", "head", "value", "effect", "normalized"} <= set(df.columns)
    assert df.attrs["component"] == "z"
    s = activation_patch(model, ["ab cd", "ab ce"], ["ab xd", "ab xe"], METRIC)
    assert s.labels["pos"][1] == "a (1)" and len(s.labels["pos"]) == 6
    df = s.to_dataframe()
    assert len(df) == 2 * 3 * 6 and df.loc[1, "token"] == "a" and df.loc[1, "pos"] == 1
    mean = s.to_dataframe(mean=True)
    assert len(mean) == 18 and (mean["pair"] == "mean").all()
    torch.testing.assert_close(torch.tensor(mean["value"].tolist()), s.mean().reshape(-1))
    one = s.pair(1)
    assert one.n_pairs == 1 and torch.equal(one.values[0], s.values[1]) and "PatchResult(exact" in repr(one)
