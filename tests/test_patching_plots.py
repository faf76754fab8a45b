"""Plot helpers for patching results: structure of the figures, labels, shape errors."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from mechint.patching import activation_patch, attribution_patch
from mechint.patching.metrics import logit_diff
from mechint.plots.patching import plot_attribution_scatter, plot_head_heatmap, plot_patching_heatmap
from mechint.testing import tiny_model


@pytest.fixture(scope="module")
def results():
    model = tiny_model("llama")
    metric = logit_diff([5], [7])
    clean, corrupted = ["How to bake bread?", "How to bake cakes?"], ["How to bake toast?", "How to bake pies!?"]
    return {
        "pos": activation_patch(model, clean, corrupted, metric),
        "head": activation_patch(model, clean, corrupted, metric, component="z"),
        "attr": attribution_patch(model, clean, corrupted, metric),
    }


def test_layer_position_heatmap_has_token_labels(results):
    r = results["pos"]
    fig = plot_patching_heatmap(r, title="t")
    heat = fig.data[0]
    assert isinstance(fig, go.Figure) and isinstance(heat, go.Heatmap)
    assert list(heat.x) == r.labels["pos"] and list(heat.y) == r.labels["layer"]
    np.testing.assert_allclose(np.asarray(heat.z, dtype=float), r.mean(normalized=True).numpy(), equal_nan=True)
    # the colorbar title is short enough not to be clipped along the bar; the rest goes under the title
    assert heat.colorbar.title.text == "normalised (0 = corr., 1 = clean)"
    assert fig.layout.title.text.startswith("t<br>") and "mean of 2 pairs" in fig.layout.title.text
    assert "0 = corrupted run, 1 = clean run" in fig.layout.title.text
    raw = plot_patching_heatmap(r, title="t", normalized=False, zmid=None)
    np.testing.assert_allclose(np.asarray(raw.data[0].z, dtype=float), r.mean().numpy())
    arr = plot_patching_heatmap(torch.ones(3, 2), tokens=["a (0)", "b (1)"], title="t")
    assert list(arr.data[0].x) == ["a (0)", "b (1)"]


def test_head_heatmap_and_axis_checks(results):
    fig = plot_head_heatmap(results["head"], title="heads")
    assert list(fig.data[0].x) == ["0", "1", "2", "3"] and fig.layout.xaxis.title.text == "head"
    with pytest.raises(ValueError, match=r"axes \('layer', 'head'\)"):
        plot_head_heatmap(results["pos"], title="x")
    with pytest.raises(ValueError, match=r"axes \('layer', 'pos'\)"):
        plot_patching_heatmap(results["head"], title="x")
    with pytest.raises(ValueError, match="unique"):
        plot_patching_heatmap(torch.ones(2, 2), tokens=["a", "a"], title="x")
    with pytest.raises(ValueError, match="do not fit"):
        plot_patching_heatmap(torch.ones(2, 3), tokens=["a", "b"], title="x")


def test_attribution_scatter(results):
    fig = plot_attribution_scatter(results["pos"], results["attr"], title="attr")
    points, diagonal = fig.data
    n = np.isfinite(results["pos"].mean(normalized=True).numpy()).sum()
    assert len(points.x) == n and "Pearson r" in points.name and diagonal.name == "y = x"
    fig = plot_attribution_scatter(torch.tensor([0.0, 1.0, 2.0]), torch.tensor([0.1, 0.9, 2.2]), title="a")
    assert "0.99" in fig.data[0].name
    with pytest.raises(ValueError, match="differ in shape"):
        plot_attribution_scatter(torch.zeros(3), torch.zeros(4), title="a")


def test_colorbar_titles_fit_along_the_bar(results):
    """The colorbar title runs along a bar as tall as the plot area: longer than ~35 characters it was
    clipped ("...normalised (0 = corrupted, 1 = clea")."""
    for fig in (
        plot_patching_heatmap(results["pos"], title="t"),
        plot_head_heatmap(results["head"], title="t"),
        plot_patching_heatmap(results["pos"].pair(0), title="t"),
    ):
        assert len(fig.data[0].colorbar.title.text) <= 35
    raw = plot_patching_heatmap(results["pos"], title="t", normalized=False, zmid=None)
    assert raw.data[0].colorbar.title.text == results["pos"].metric
    assert "mean of 2 pairs" in raw.layout.title.text
    one = plot_patching_heatmap(results["pos"].pair(1), title="t")
    assert "mean of" not in one.layout.title.text


def test_unnormalised_scatter_uses_the_nan_aware_mean_effect():
    """Cells only some pairs have (align="right"): the raw scatter shows each cell's mean effect over
    the pairs that have it, not mean(values) - mean(corrupted over all pairs)."""
    from mechint.patching.result import nanmean as _nanmean

    model = tiny_model("llama")
    metric = logit_diff([5], [7])
    clean, corrupted = ["abcdefgh", "xyz"], ["abcdefgx", "xyw"]
    exact, attr = activation_patch(model, clean, corrupted, metric), attribution_patch(model, clean, corrupted, metric)
    assert torch.isnan(exact.values[1, :, 0]).all()  # pair 1 has no token at position 0
    fig = plot_attribution_scatter(exact, attr, title="t", normalized=False)
    ex, at = _nanmean(exact.effect()).reshape(-1).numpy(), _nanmean(attr.effect()).reshape(-1).numpy()
    ok = np.isfinite(ex) & np.isfinite(at)
    np.testing.assert_allclose(np.asarray(fig.data[0].x, dtype=float), ex[ok], atol=1e-6)
    np.testing.assert_allclose(np.asarray(fig.data[0].y, dtype=float), at[ok], atol=1e-6)
    # before a patched position every pair's effect is exactly 0
    assert (np.asarray(fig.data[0].x, dtype=float)[:3] == 0).all()
    with pytest.raises(ValueError, match="differ in component"):
        plot_attribution_scatter(
            activation_patch(model, clean, corrupted, metric, component="mlp_out"), attr, title="t"
        )


def test_per_pair_heatmap_is_labelled_with_that_pairs_tokens():
    model = tiny_model("llama")
    r = activation_patch(model, ["abcdefgh", "xyz"], ["abcdefgx", "xyw"], logit_diff([5], [7]))
    fig = plot_patching_heatmap(r.pair(1), title="pair 1")
    assert list(fig.data[0].x) == ["(-9)", "(-8)", "(-7)", "(-6)", "(-5)", "<bos> (-4)", "x (-3)", "y (-2)", "w (-1)"]
