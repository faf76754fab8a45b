"""Tests of mechint.plots: figure structure from small inputs, shape errors, and export."""

from __future__ import annotations

import os
import re
import shutil
import warnings

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from mechint.plots import (
    FigureExportWarning,
    find_browser,
    plot_layer_heatmap,
    plot_layer_lines,
    plot_similarity_matrices,
    save_figure,
    series_color,
    series_style,
)
from mechint.plots import export as plots  # save_figure looks find_browser up there

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LANGS = ["en", "zh", "th"]

# 3 series x 4 layers, in the three accepted container kinds
_ROWS = [[0.1, 0.2, 0.3, 0.4], [0.0, -0.1, 0.5, 0.9], [1.0, 0.8, 0.6, 0.4]]
ARRAY_INPUTS = {
    "list": _ROWS,
    "numpy": np.array(_ROWS),
    "torch": torch.tensor(_ROWS),
    "torch-bf16": torch.tensor(_ROWS, dtype=torch.bfloat16),
}


def _browser_or_skip() -> str:
    browser = find_browser()
    if browser is None:
        pytest.skip(
            "no Chrome/Chromium found (apt-get install chromium, or bash scripts/install_chromium.sh); "
            "PNG export is untested here"
        )
    return browser


# -- plot_layer_lines -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(ARRAY_INPUTS))
def test_layer_lines_from_arrays(kind):
    fig = plot_layer_lines(ARRAY_INPUTS[kind], series_names=LANGS, title="t", yaxis_title="cosine similarity")
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 3
    assert [tr.name for tr in fig.data] == LANGS
    assert fig.layout.title.text == "t"
    assert fig.layout.xaxis.title.text == "layer"
    assert fig.layout.yaxis.title.text == "cosine similarity"
    assert list(fig.data[0].x) == [0, 1, 2, 3]
    np.testing.assert_allclose(fig.data[1].y, _ROWS[1], atol=1e-2)  # bf16 rounds
    assert all(tr.mode == "lines+markers" for tr in fig.data)
    assert "layer" in fig.data[0].hovertemplate and "%{y" in fig.data[0].hovertemplate


def test_layer_lines_from_mapping_with_layers_and_reference():
    values = {"zh": np.array([0.5, 0.6]), "ar": torch.tensor([0.1, 0.2]), "sw": [0.0, 0.3]}
    fig = plot_layer_lines(
        values, title="Cosine to English", yaxis_title="cos", layers=[4, 8], reference=0.0,
        reference_label="orthogonal",
    )  # fmt: skip
    assert [tr.name for tr in fig.data] == ["zh", "ar", "sw"]
    assert list(fig.data[2].x) == [4, 8]
    # the reference line is a layout shape, not a trace
    assert len(fig.data) == 3
    assert len(fig.layout.shapes) == 1 and fig.layout.shapes[0].y0 == 0.0
    assert fig.layout.template.layout.paper_bgcolor is not None  # a template is set
    assert fig.layout.annotations[0].text == "orthogonal"


def test_layer_lines_single_series_and_default_names():
    fig = plot_layer_lines(np.arange(5.0), title="t", yaxis_title="y")
    assert len(fig.data) == 1 and fig.data[0].name == "0"
    fig = plot_layer_lines(np.zeros((2, 3)), title="t", yaxis_title="y")
    assert [tr.name for tr in fig.data] == ["0", "1"]


def test_layer_lines_shape_errors_name_both_sizes():
    with pytest.raises(ValueError, match=r"series_names has 2 .* has 3"):
        plot_layer_lines(_ROWS, series_names=["en", "zh"], title="t", yaxis_title="y")
    with pytest.raises(ValueError, match=r"layers has 3 .* has 4"):
        plot_layer_lines(_ROWS, layers=[0, 1, 2], title="t", yaxis_title="y")
    with pytest.raises(ValueError, match=r"zh: 2, ar: 3"):
        plot_layer_lines({"zh": [1, 2], "ar": [1, 2, 3]}, title="t", yaxis_title="y")
    with pytest.raises(ValueError, match=r"shape \(1, 2, 3\)"):
        plot_layer_lines(np.zeros((1, 2, 3)), title="t", yaxis_title="y")
    with pytest.raises(ValueError, match="unique"):
        plot_layer_lines(_ROWS, series_names=["en", "en", "zh"], title="t", yaxis_title="y")


def test_series_keep_their_style_across_figures():
    a = plot_layer_lines({"zh": [0, 1], "th": [1, 0]}, title="a", yaxis_title="y")
    b = plot_layer_lines({"th": [0, 1], "bn": [1, 0], "zh": [1, 1]}, title="b", yaxis_title="y")
    color = {fig_tr.name: fig_tr.line.color for fig_tr in [*a.data, *b.data]}
    assert a.data[0].line.color == b.data[2].line.color == color["zh"]
    assert a.data[1].line.color == b.data[0].line.color
    # the study languages get distinct colour/marker/dash combinations
    study = ["en", "zh", "it", "vi", "ar", "ko", "th", "bn", "sw", "jv",
             "de", "el", "es", "hi", "ro", "ru", "tr"]  # fmt: skip
    combos = {tuple(series_style(lang).values()) for lang in study}
    assert len(combos) == len(study)
    assert len({series_color(lang) for lang in study}) == len(study)
    # region tags map to the base language; unknown names are stable (not Python's salted hash)
    assert series_color("zh-CN") == series_color("zh") and series_color("EN") == series_color("en")
    assert series_style("my-custom-series") == series_style("my-custom-series")


# -- plot_layer_heatmap -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(ARRAY_INPUTS))
def test_layer_heatmap(kind):
    fig = plot_layer_heatmap(ARRAY_INPUTS[kind], row_labels=LANGS, title="Probe accuracy", colorbar_title="accuracy")
    assert len(fig.data) == 1 and isinstance(fig.data[0], go.Heatmap)
    heat = fig.data[0]
    assert np.asarray(heat.z).shape == (3, 4)
    assert list(heat.y) == LANGS and list(heat.x) == [0, 1, 2, 3]
    assert heat.colorbar.title.text == "accuracy"
    assert fig.layout.title.text == "Probe accuracy"
    assert fig.layout.xaxis.title.text == "layer" and fig.layout.yaxis.title.text == "language"
    assert fig.layout.yaxis.autorange == "reversed"  # first row on top
    assert heat.zmid is None


def test_layer_heatmap_diverging_and_errors():
    fig = plot_layer_heatmap(
        np.zeros((2, 3)), row_labels=["a", "b"], title="t", colorbar_title="effect", zmid=0.0,
        layers=[10, 11, 12], show_values=True,
    )  # fmt: skip
    assert fig.data[0].zmid == 0.0 and list(fig.data[0].x) == [10, 11, 12]
    assert fig.data[0].texttemplate
    with pytest.raises(ValueError, match=r"row_labels has 2 .* has 3"):
        plot_layer_heatmap(_ROWS, row_labels=["a", "b"], title="t", colorbar_title="c")
    with pytest.raises(ValueError, match=r"layers has 5 .* has 4"):
        plot_layer_heatmap(_ROWS, row_labels=LANGS, layers=range(5), title="t", colorbar_title="c")
    with pytest.raises(ValueError, match="2 dimensions"):
        plot_layer_heatmap([1.0, 2.0], row_labels=["a"], title="t", colorbar_title="c")


# -- plot_similarity_matrices -----------------------------------------------------------------------


def _sims(n_layers=5, n_lang=3):
    rng = np.random.default_rng(0)
    d = rng.standard_normal((n_layers, n_lang, 8))
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    return np.einsum("lad,lbd->lab", d, d)


@pytest.mark.parametrize("convert", [np.asarray, torch.tensor, lambda a: a.tolist()])
def test_similarity_matrices_slider(convert):
    sim = _sims(5, 3)
    fig = plot_similarity_matrices(convert(sim), languages=LANGS, title="Direction cosine")
    assert len(fig.data) == 5
    steps = fig.layout.sliders[0].steps
    assert len(steps) == 5
    assert [s.label for s in steps] == ["0", "1", "2", "3", "4"]
    assert [tr.visible for tr in fig.data] == [True, False, False, False, False]
    assert steps[3].args[0]["visible"] == [False, False, False, True, False]
    for tr in fig.data:
        assert (tr.zmin, tr.zmax) == (-1.0, 1.0)
        assert list(tr.x) == LANGS and list(tr.y) == LANGS
    np.testing.assert_allclose(fig.data[2].z, sim[2], atol=1e-6)
    assert fig.layout.xaxis.title.text == "language" and fig.layout.yaxis.title.text == "language"
    assert fig.layout.title.text.startswith("Direction cosine")


def test_similarity_matrices_layers_active_and_errors():
    fig = plot_similarity_matrices(_sims(3), languages=LANGS, layers=[2, 5, 9], title="t", active=-1)
    assert [s.label for s in fig.layout.sliders[0].steps] == ["2", "5", "9"]
    assert fig.layout.sliders[0].active == 2 and fig.data[2].visible is True
    assert "layer 9" in fig.layout.title.text
    with pytest.raises(ValueError, match=r"languages has 2 .* has 3"):
        plot_similarity_matrices(_sims(3), languages=["en", "zh"], title="t")
    with pytest.raises(ValueError, match=r"layers has 2 .* has 3"):
        plot_similarity_matrices(_sims(3), languages=LANGS, layers=[0, 1], title="t")
    with pytest.raises(ValueError, match=r"3 x 4"):
        plot_similarity_matrices(np.zeros((2, 3, 4)), languages=LANGS, title="t")
    with pytest.raises(ValueError, match="3 dimensions"):
        plot_similarity_matrices(np.zeros((3, 3)), languages=LANGS, title="t")


# -- save_figure ------------------------------------------------------------------------------------


def _small_fig():
    return plot_layer_lines({"en": [0.1, 0.5], "zh": [0.2, 0.4]}, title="small", yaxis_title="y")


def test_save_figure_html_only(tmp_path):
    out = save_figure(_small_fig(), tmp_path / "sub" / "dir" / "fig", formats=(), html=True)
    assert out == [tmp_path / "sub" / "dir" / "fig.html"]
    text = out[0].read_text(encoding="utf-8")
    assert "<html" in text and "small" in text
    assert not re.search(r"<script[^>]*\ssrc=", text)  # plotly.js inline: opens offline
    assert len(text) > 1_000_000


def test_save_figure_png(tmp_path):
    browser = _browser_or_skip()
    with warnings.catch_warnings():
        warnings.simplefilter("error", FigureExportWarning)
        out = save_figure(_small_fig(), tmp_path / "figs" / "fig.v2")
    # html="fallback" (default): the PNG was made, so no HTML
    assert out == [tmp_path / "figs" / "fig.v2.png"], browser
    assert out[0].read_bytes()[:8] == PNG_SIGNATURE
    both = save_figure(_small_fig(), tmp_path / "figs" / "both", html=True)
    assert both == [tmp_path / "figs" / "both.html", tmp_path / "figs" / "both.png"]


def test_save_figure_keeps_one_browser_open(tmp_path, monkeypatch):
    """Many figures, one browser launch: the second figure reuses the open browser and its image is
    the one a browser launched for it alone makes."""
    from mechint.plots import export

    _browser_or_skip()
    export._close_renderer()
    launches = []
    real = export._Renderer.__init__

    def counted(self, *args, **kwargs):
        launches.append(args)
        real(self, *args, **kwargs)

    monkeypatch.setattr(export._Renderer, "__init__", counted)
    save_figure(_small_fig(), tmp_path / "a")
    save_figure(_small_fig(), tmp_path / "b")
    assert len(launches) == 1
    fig = _small_fig().to_dict()
    alone = export._render_once(
        fig, export._export_options(fig, width=None, height=None, scale=2.0), ["png"], launches[0][0], timeout=90.0
    )
    assert (tmp_path / "b.png").read_bytes() == alone["png"]


def test_save_figure_recovers_from_a_failed_render(tmp_path, monkeypatch):
    """A render that fails in the open browser closes it; the figure is made by a browser of its own
    and the next figure opens a fresh one."""
    from mechint.plots import export

    _browser_or_skip()

    def broken(self, fig_dict, opts):
        raise RuntimeError("the page crashed")

    monkeypatch.setattr(export._Renderer, "render", broken)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FigureExportWarning)
        out = save_figure(_small_fig(), tmp_path / "fig")
    assert out == [tmp_path / "fig.png"] and out[0].read_bytes()[:8] == PNG_SIGNATURE
    assert export._renderer is None


def test_save_figure_without_browser_warns_and_writes_html(tmp_path, monkeypatch):
    monkeypatch.setattr(plots, "find_browser", lambda: None)
    with pytest.warns(FigureExportWarning, match=r"apt-get install chromium") as record:
        out = save_figure(_small_fig(), tmp_path / "fig.png")  # a known suffix is dropped
    assert len(record) == 1
    assert out == [tmp_path / "fig.html"]
    assert (tmp_path / "fig.html").is_file() and not (tmp_path / "fig.png").exists()
    # html=False and no browser: nothing written, still a warning, never an exception
    with pytest.warns(FigureExportWarning):
        assert save_figure(_small_fig(), tmp_path / "none", html=False) == []


def test_save_figure_survives_a_broken_browser(tmp_path, monkeypatch):
    pytest.importorskip("kaleido", reason="without kaleido no browser is launched at all")
    fake = tmp_path / "fake-chromium"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("BROWSER_PATH", str(fake))
    assert find_browser() == str(fake)
    with pytest.warns(FigureExportWarning, match="failed"):
        out = save_figure(_small_fig(), tmp_path / "fig", timeout=20)
    assert out == [tmp_path / "fig.html"]


def test_find_browser_honours_browser_path(tmp_path, monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "missing"))
    assert find_browser() is None  # an explicit but wrong path is reported, not silently replaced
    monkeypatch.delenv("BROWSER_PATH")
    if shutil.which("chromium") or shutil.which("google-chrome"):
        assert find_browser() is not None


def test_save_figure_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="gif"):
        save_figure(_small_fig(), tmp_path / "fig", formats=("gif",))
    assert not os.listdir(tmp_path)


def test_reference_line_without_label_has_no_text():
    fig = plot_layer_lines({"en": [0.1, 0.2]}, title="t", yaxis_title="y", reference=0.0)
    assert len(fig.layout.shapes) == 1
    assert not fig.layout.annotations  # plotly would write "new text" on an empty annotation
