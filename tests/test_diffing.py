"""mechint.diffing against oracles: each model's own mechint.collect, hand computations, set
arithmetic, and a Monte Carlo estimate of the chance overlap."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import TEXTS, VARIED_TEXTS

import mechint
from mechint.diffing import ActivationShift, activation_shift, sign_agreement, top_units, unit_overlap
from mechint.sites import UnknownSiteError
from mechint.testing import FAMILY_NAMES, tiny_model

TEXTS_8 = TEXTS + VARIED_TEXTS[:4]
GROUPS_8 = ["a", "b", "a", "c", "b", "a", "c", "a"]  # uneven groups, not contiguous


def test_public_names():
    for name in ("ActivationShift", "activation_shift", "sign_agreement", "top_units", "unit_overlap"):
        assert name in mechint.__all__ and getattr(mechint, name) is getattr(mechint.diffing, name)
    assert "diffing" in mechint.__all__


def test_identical_models_shift_exactly_zero(device):
    model = tiny_model("llama", seed=0, device=device)
    twin = tiny_model("llama", seed=0, device=device)
    shift = activation_shift(model, twin, TEXTS_8, "hook_resid_pre", groups=GROUPS_8, progress=False)
    assert shift.groups == ["a", "b", "c"] and shift.counts == [4, 2, 2]
    assert shift.sites == [f"blocks.{l}.hook_resid_pre" for l in range(model.n_layers)]
    for g in [*shift.groups, None]:
        assert torch.equal(shift.shift(g), torch.zeros(model.n_layers, model.d_model, dtype=torch.float64))
        assert bool((shift.standardized(g) == 0).all())
    assert bool((shift.project(torch.randn(model.d_model)) == 0).all())


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_shift_is_the_difference_of_each_models_own_collect(family, device):
    before = tiny_model(family, seed=0, device=device)
    after = tiny_model(family, seed=1, device=device)
    sites = [f"blocks.{l}.mlp.hook_post" for l in range(before.n_layers)]
    shift = activation_shift(before, after, TEXTS_8, "mlp.hook_post", groups=GROUPS_8, batch_size=3, progress=False)
    b = mechint.collect(before, TEXTS_8, sites, progress=False).stack(sites).double()  # [site, n, d]
    a = mechint.collect(after, TEXTS_8, sites, progress=False).stack(sites).double()
    assert shift.sites == sites and shift.mean_before.shape == (3, before.n_layers, before.d_mlp)
    for g, label in enumerate(shift.groups):
        rows = [i for i, x in enumerate(GROUPS_8) if x == label]
        expected = (a[:, rows] - b[:, rows]).mean(1)
        torch.testing.assert_close(shift.shift(label), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(shift.mean_before[g], b[:, rows].mean(1), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(shift.mean_after[g], a[:, rows].mean(1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(shift.shift(None), (a - b).mean(1), rtol=1e-5, atol=1e-5)
    # the scale: the standard deviation of before's activations over all texts, n - 1 in the denominator
    n = len(TEXTS_8)
    std = ((b - b.mean(1, keepdim=True)) ** 2).sum(1).div(n - 1).sqrt()
    torch.testing.assert_close(shift.scale, std, rtol=1e-5, atol=1e-6)
    # standardized = shift / std by hand, where the std is not 0
    z = shift.standardized("a")
    ok = std > 0
    torch.testing.assert_close(z[ok], shift.shift("a")[ok] / std[ok], rtol=1e-5, atol=1e-5)
    # the projection is the shift of the mean along the unit direction: one for all sites, or one per site
    direction = torch.randn(before.d_mlp, generator=torch.Generator().manual_seed(3))
    unit = direction.double() / direction.double().norm()
    proj = shift.project(direction * 7.0)
    assert proj.shape == (3, before.n_layers)
    for g, label in enumerate(shift.groups):
        torch.testing.assert_close(proj[g], shift.shift(label) @ unit)
    per_site = torch.randn(before.n_layers, before.d_mlp, generator=torch.Generator().manual_seed(4))
    proj = shift.project(per_site)
    units = per_site.double() / per_site.double().norm(dim=1, keepdim=True)
    torch.testing.assert_close(proj[1], (shift.shift("b") * units).sum(1))


def test_from_activations_matches_and_refuses_mixed_widths():
    before, after = tiny_model("gemma3", seed=0), tiny_model("gemma3", seed=1)
    sites = ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre", "blocks.0.mlp.hook_post"]
    b = mechint.collect(before, TEXTS, sites, progress=False)
    a = mechint.collect(after, TEXTS, sites, progress=False)
    resid = ActivationShift.from_activations(b, a, sites[:2])
    direct = activation_shift(before, after, TEXTS, sites[:2], progress=False)
    assert resid.groups == ["all"] and resid.pool == "last"
    torch.testing.assert_close(resid.shift("all"), direct.shift("all"))
    with pytest.raises(ValueError, match="different numbers of units"):
        ActivationShift.from_activations(b, a, sites)
    with pytest.raises(KeyError, match="blocks.0.hook_resid_pre"):
        ActivationShift.from_activations(b, a, ["blocks.0.hook_resid_prex"])


def test_standardized_units_of_zero_scale():
    """A unit constant over before's texts: 0 where it did not move, NaN where it did; NaN is
    never ranked."""
    before = {"s": torch.tensor([[1.0, 2.0, 5.0], [1.0, 4.0, 5.0], [1.0, 6.0, 5.0]])}
    after = {"s": torch.tensor([[1.0, 3.0, 6.0], [1.0, 4.0, 6.0], [1.0, 8.0, 6.0]])}
    shift = ActivationShift.from_activations(before, after)
    torch.testing.assert_close(shift.shift(), torch.tensor([[0.0, 1.0, 1.0]], dtype=torch.float64))
    torch.testing.assert_close(shift.scale, torch.tensor([[0.0, 2.0, 0.0]], dtype=torch.float64))
    z = shift.standardized()
    assert z[0, 0] == 0 and z[0, 1] == 0.5 and math.isnan(z[0, 2])
    assert top_units(z, 2) == [(0, 1), (0, 0)]
    with pytest.raises(ValueError, match="non-NaN"):
        top_units(z, 3)


def test_top_units_against_a_sort():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(4, 9, generator=gen)
    expected = sorted(((s, u) for s in range(4) for u in range(9)), key=lambda p: -abs(float(scores[p])))
    assert top_units(scores, 7) == expected[:7]
    # ties: by position (site, then unit), whatever the sign
    tied = torch.tensor([[1.0, -2.0, 2.0], [-2.0, 0.5, 1.0]])
    assert top_units(tied, 5) == [(0, 1), (0, 2), (1, 0), (0, 0), (1, 2)]


def test_unit_overlap_against_sets_and_monte_carlo():
    a = {(0, 1), (0, 2), (1, 3), (2, 0)}
    b = [(0, 2), (2, 0), (2, 1)]
    o = unit_overlap(a, b, 30)
    assert o["intersection"] == len(a & set(b)) == 2
    assert o["jaccard"] == 2 / len(a | set(b))
    assert o["expected_intersection"] == 4 * 3 / 30
    # the exact chance Jaccard against the mean over random pairs of sets of those sizes
    gen = torch.Generator().manual_seed(0)
    n, size_a, size_b, draws = 40, 9, 13, 20000
    total = 0.0
    for _ in range(draws):
        x = set(torch.randperm(n, generator=gen)[:size_a].tolist())
        y = set(torch.randperm(n, generator=gen)[:size_b].tolist())
        total += len(x & y) / len(x | y)
    exact = unit_overlap(range(size_a), range(size_b), n)["expected_jaccard"]
    assert abs(exact - total / draws) < 0.003
    ratio = (size_a * size_b / n) / (size_a + size_b - size_a * size_b / n)
    assert exact != pytest.approx(ratio, abs=1e-4)  # the exact value, not the ratio approximation
    assert unit_overlap([], [], 5) == pytest.approx(
        {"jaccard": 1.0, "intersection": 0, "size_a": 0, "size_b": 0, "n": 5, "expected_intersection": 0.0,
         "expected_jaccard": 1.0}
    )  # fmt: skip
    with pytest.raises(ValueError, match="n_total"):
        unit_overlap(range(6), range(2), 5)


def test_sign_agreement_on_constructed_shifts():
    gen = torch.Generator().manual_seed(1)
    ref = torch.randn(3, 50, generator=gen)
    units = top_units(ref, 10)
    same = sign_agreement(ref, ref, units, n_random=200)
    assert same["agreement"] == 1.0 and same["correlation"] == pytest.approx(1.0)
    assert same["n_units"] == 10 and same["control_agreement_mean"] == 1.0
    flipped = sign_agreement(ref, -ref, units, n_random=200)
    assert flipped["agreement"] == 0.0 and flipped["correlation"] == pytest.approx(-1.0)
    other = torch.randn(3, 50, generator=gen)
    r = sign_agreement(ref, other, units, n_random=300, seed=5)
    assert r == sign_agreement(ref, other, units, n_random=300, seed=5)  # reproducible with a seed
    assert r != sign_agreement(ref, other, units, n_random=300, seed=6)
    for key in ("agreement", "control_agreement_mean", "control_agreement_low", "control_agreement_high"):
        assert 0.0 <= r[key] <= 1.0
    assert r["control_agreement_low"] <= r["control_agreement_mean"] <= r["control_agreement_high"]
    assert -1 <= r["control_correlation_low"] <= r["control_correlation_mean"] <= r["control_correlation_high"] <= 1
    assert 0 < r["p_agreement"] <= 1 and 0 < r["p_correlation"] <= 1
    # by hand on the chosen units
    idx = torch.tensor([s * 50 + u for s, u in units])
    a, b = ref.reshape(-1)[idx], other.reshape(-1)[idx]
    assert r["agreement"] == float((a.sign() == b.sign()).float().mean())
    assert r["correlation"] == pytest.approx(float(torch.corrcoef(torch.stack([a, b]))[0, 1]), abs=1e-6)
    # NaN units are left out of the chosen set and of the draws
    holed = other.clone()
    holed[units[0]] = math.nan
    assert sign_agreement(ref, holed, units, n_random=50)["n_units"] == 9
    with pytest.raises(ValueError, match="more than once"):
        sign_agreement(ref, other, [units[0], units[0]])
    with pytest.raises(ValueError, match="outside"):
        sign_agreement(ref, other, [(3, 0)])


@pytest.mark.bad_input
def test_errors_name_the_problem():
    narrow = tiny_model("llama", seed=0, d_model=32)
    wide = tiny_model("llama", seed=1)
    with pytest.raises(ValueError, match="d_model 32 vs 64"):
        activation_shift(narrow, wide, TEXTS, "hook_resid_pre", progress=False)
    with pytest.raises(ValueError, match="family llama vs qwen2"):
        activation_shift(wide, tiny_model("qwen2", seed=1), TEXTS, "hook_resid_pre", progress=False)
    other = tiny_model("llama", seed=2)
    with pytest.raises(ValueError, match="no texts"):
        activation_shift(wide, other, [], "hook_resid_pre", progress=False)
    with pytest.raises(ValueError, match="groups has 3 labels for 4 texts"):
        activation_shift(wide, other, TEXTS, "hook_resid_pre", groups=["en", "zh", "ar"], progress=False)
    with pytest.raises(UnknownSiteError, match="blocks.1.hook_resid_pre"):
        activation_shift(wide, other, TEXTS, ["blocks.1.hook_resid_prx"], progress=False)
    with pytest.raises(ValueError, match="pool"):
        activation_shift(wide, other, TEXTS, "hook_resid_pre", pool="all", progress=False)
    shift = activation_shift(wide, other, TEXTS, "hook_resid_pre", groups=["en", "zh", "ar", "th"], progress=False)
    with pytest.raises(KeyError, match="'en'"):
        shift.shift("eng")
    with pytest.raises(ValueError, match="zero length"):
        shift.project(torch.zeros(wide.d_model))
    with pytest.raises(ValueError, match="direction must be"):
        shift.project(torch.ones(wide.d_model + 1))
