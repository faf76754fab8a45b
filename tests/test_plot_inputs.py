"""Plot helpers refuse inputs that would draw something other than what was meant."""

from __future__ import annotations

import numpy as np
import pytest

from mechint.plots import plot_layer_lines, save_figure
from mechint.plots.neurons import plot_edit_effect, plot_neuron_heatmap


def test_save_figure_takes_the_format_from_the_suffix_when_none_is_given(tmp_path):
    fig = plot_layer_lines({"en": [0.1, 0.5]}, title="t", yaxis_title="y")
    assert save_figure(fig, tmp_path / "wanted.html") == [tmp_path / "wanted.html"]
    assert (tmp_path / "wanted.html").is_file() and not (tmp_path / "wanted.png").exists()


def test_neuron_heatmap_text_must_cover_every_cell():
    m = np.arange(6.0).reshape(2, 3)
    with pytest.raises(ValueError, match=r"one string per cell, 2 rows of 3"):
        plot_neuron_heatmap(
            m, row_labels=["a", "b"], column_labels=["x", "y", "z"], title="t", colorbar_title="c", text=[["x"]]
        )
    fig = plot_neuron_heatmap(
        m,
        row_labels=["a", "b"],
        column_labels=["x", "y", "z"],
        title="t",
        colorbar_title="c",
        text=[["1", "2", "3"], ["4", "5", "6"]],
    )
    assert [list(r) for r in fig.data[0].text] == [["1", "2", "3"], ["4", "5", "6"]]


def test_edit_effect_needs_the_same_languages_and_every_error_bar():
    with pytest.raises(ValueError, match=r"condition 'b' has languages \['ar'\]"):
        plot_edit_effect(
            {"a": {"en": 1.0, "zh": 2.0}, "b": {"en": 1.0, "zh": 2.0, "ar": 3.0}}, title="t", yaxis_title="y"
        )
    with pytest.raises(ValueError, match=r"errors\['a'\] has no value for \['zh'\]"):
        plot_edit_effect({"a": {"en": 1.0, "zh": 2.0}}, title="t", yaxis_title="y", errors={"a": {"en": 0.1}})
    fig = plot_edit_effect(
        {"a": {"en": 1.0, "zh": 2.0}}, title="t", yaxis_title="y", errors={"a": {"en": 0.1, "zh": 0.2}}
    )
    assert list(fig.data[0].error_y.array) == [0.1, 0.2]
