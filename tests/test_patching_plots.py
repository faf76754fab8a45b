"""Plot helpers for patching results: structure of the figures, labels, shape errors."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from mechint.metrics import logit_diff
from mechint.patching import activation_patch, attribution_patch
from mechint.plots_patching import plot_attribution_scatter, plot_head_heatmap, plot_patching_heatmap
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
    assert "normalised" in heat.colorbar.title.text and "mean of 2 pairs" in heat.colorbar.title.text
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
