"""Plot helpers of experiments.mcqa_prefilling: accuracy per language by condition beside the share
of answers that are not a label, and reliability diagrams."""

from __future__ import annotations

import pytest
import torch

from mechint.plots import plot_mcqa_conditions, plot_reliability
from mechint.stats import reliability_bins

# --- plot helpers ------------------------------------------------------------------------------------


def test_plot_mcqa_conditions():
    accuracy = {
        "m1": {"FTP": {"zh": (0.5, 0.25, 0.75), "th": (1.0, 1.0, 1.0)}, "gen": {"zh": (0.25, 0.0, 0.5)}},
        "m2": {"FTP": {"th": (0.0, 0.0, 0.0)}},
    }
    missed = {"m1": {"FTP": {"zh": 0.1, "th": 0.9}, "gen": {"zh": 1.0}}}
    fig = plot_mcqa_conditions(accuracy, missed, chance=0.5, languages=["zh", "th"])
    bars = [t for t in fig.data if t.type == "bar"]
    assert [(t.name, t.xaxis) for t in bars] == [
        ("FTP", "x"),
        ("FTP", "x3"),
        ("gen", "x"),
        ("gen", "x3"),
        ("FTP", "x2"),
    ]
    assert [t.showlegend for t in bars] == [True, False, True, False, False]  # each condition once
    first = bars[0]
    assert list(first.x) == ["zh", "th"] and list(first.y) == [0.5, 1.0]
    assert list(first.error_y.array) == [0.25, 0.0] and list(first.error_y.arrayminus) == [0.25, 0.0]
    assert list(bars[1].y) == [0.1, 0.9]
    gen = bars[2]
    assert gen.y[0] == 0.25 and gen.y[1] != gen.y[1]  # a language a condition lacks is a gap (NaN)
    assert bars[0].marker.color == bars[4].marker.color  # a condition keeps its colour across panels
    assert [a.text for a in fig.layout.annotations][:2] == ["m1", "m2"]
    assert fig.layout.yaxis.title.text == "accuracy" and fig.layout.yaxis3.title.text == "no label"
    assert [s.y0 for s in fig.layout.shapes] == [0.5, 0.5]
    alone = plot_mcqa_conditions({"m": {"c": {"a": (0.5, 0.4, 0.6)}}})
    assert len(alone.data) == 1 and "yaxis2" not in alone.layout.to_plotly_json()  # one panel, no second row
    with pytest.raises(ValueError, match=r"rates lie in \[0, 1\]"):
        plot_mcqa_conditions({"m": {"c": {"a": (1.5, 0.4, 0.6)}}})
    with pytest.raises(ValueError, match=r"must be \(rate, low, high\)"):
        plot_mcqa_conditions({"m": {"c": {"a": (0.5, 0.4)}}})
    with pytest.raises(ValueError, match="languages leaves out"):
        plot_mcqa_conditions(accuracy, languages=["zh"])
    with pytest.raises(ValueError, match="panels"):
        plot_mcqa_conditions(accuracy, {"other": {"FTP": {"zh": 0.1}}})
    with pytest.raises(ValueError, match="chance"):
        plot_mcqa_conditions(accuracy, chance=2)
    with pytest.raises(ValueError, match="non-empty"):
        plot_mcqa_conditions({})


def test_plot_reliability():
    conf = torch.tensor([0.55, 0.58, 0.92, 0.97, 0.99])
    bins = reliability_bins(conf, torch.tensor([1, 0, 1, 1, 0]), 10)
    fig = plot_reliability(
        {"FTP": bins, "prefill": {"confidence": [None, 0.7], "accuracy": [None, 1.0], "count": [0, 2]}}
    )
    lines = [t for t in fig.data if t.name != "calibrated"]
    assert [t.name for t in lines] == ["FTP", "prefill"]
    assert list(lines[0].x) == pytest.approx([0.565, 0.96]) and list(lines[0].y) == pytest.approx([0.5, 2 / 3])
    assert list(lines[0].customdata) == [2, 3]  # the bins' counts; the empty bins are left out
    assert list(lines[1].x) == [0.7] and list(lines[1].y) == [1.0]
    diagonal = [t for t in fig.data if t.name == "calibrated"]
    assert len(diagonal) == 1 and list(diagonal[0].x) == [0, 1] and list(diagonal[0].y) == [0, 1]
    panels = plot_reliability({("m1", "FTP"): bins, ("m2", "FTP"): bins})
    lines = [t for t in panels.data if t.name == "FTP"]
    assert [t.xaxis for t in lines] == ["x", "x2"] and [t.showlegend for t in lines] == [True, False]
    assert [a.text for a in panels.layout.annotations] == ["m1", "m2"]
    with pytest.raises(ValueError, match="all series names or all"):
        plot_reliability({"a": bins, ("b", "c"): bins})
    with pytest.raises(ValueError, match="must have 'confidence'"):
        plot_reliability({"a": {"confidence": [0.5]}})
    with pytest.raises(ValueError, match="bins"):
        plot_reliability({"a": {"confidence": [0.5, 0.6], "accuracy": [1.0], "count": [1]}})
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        plot_reliability({"a": {"confidence": [1.5], "accuracy": [1.0], "count": [1]}})
