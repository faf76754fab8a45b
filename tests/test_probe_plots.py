"""Plot helpers for the probe studies: every trace holds the numbers of the result it plots, the
dashed series are the reference-language and whole-prompt probes, bad arguments fail clearly, and
the figures export."""

from __future__ import annotations

import warnings

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from mechint.plots import FigureExportWarning, save_figure
from mechint.plots import probes as plots_probes
from mechint.plots.probes import (
    plot_early_prediction,
    plot_probe_layers,
    plot_transfer_gap,
    plot_transfer_matrix,
)
from mechint.probes import (
    EarlyResult,
    Metrics,
    TransferResult,
    early_prediction,
    transfer_matrix,
)

LANGS = ["en", "zh", "th"]
LAYERS = [4, 8, 12]  # labels that are not the indices 0..2
FRACTIONS = [0.25, 0.5, 1.0]
N_ITEMS, D, FOLDS = 24, 6, 4


def _planted(n_sets: int, strength: list[float], seed: int):
    """``[n_sets, n, D]`` activations of N_ITEMS items in each language, the label planted along a
    direction that is shared across languages in part (so transfer is imperfect), with ``strength[s]``
    of it in set ``s``; and the labels, languages, folds and item ids of the rows."""
    g = torch.Generator().manual_seed(seed)
    shared = torch.randn(D, generator=g)
    own = {lang: torch.randn(D, generator=g) for lang in LANGS}
    labels = torch.tensor([i % 2 for i in range(N_ITEMS)] * len(LANGS))
    languages = [lang for lang in LANGS for _ in range(N_ITEMS)]
    item_ids = [f"item{i}" for i in range(N_ITEMS)] * len(LANGS)
    folds = torch.tensor([(i // 2) % FOLDS for i in range(N_ITEMS)] * len(LANGS))  # both classes in each fold
    direction = torch.stack([0.6 * shared + 0.8 * own[lang] for lang in languages])  # [n, D]
    sign = labels.float().mul(2).sub(1).unsqueeze(1)  # +-1
    acts = torch.stack([torch.randn(len(labels), D, generator=g) + s * sign * direction for s in strength])
    return acts, labels, languages, folds, item_ids


@pytest.fixture(scope="module")
def transfer() -> TransferResult:
    acts, labels, languages, folds, item_ids = _planted(len(LAYERS), [0.15, 0.6, 0.35], seed=0)
    return transfer_matrix(acts, labels, languages, folds, item_ids=item_ids, layers=LAYERS)


@pytest.fixture(scope="module")
def early() -> EarlyResult:
    acts, labels, languages, folds, item_ids = _planted(len(FRACTIONS), [0.1, 0.3, 0.6], seed=1)
    return early_prediction(acts, labels, languages, folds, FRACTIONS, item_ids=item_ids)


def _metrics(values: np.ndarray, *, positives: float = 0.5) -> Metrics:
    """Metrics with every rate equal to ``values`` and ``positives`` of 100 rows positive."""
    t = torch.as_tensor(values, dtype=torch.float32)
    n = torch.full(t.shape, 100)
    return Metrics(accuracy=t, f1=t, auroc=t, pr_auc=t, n=n, n_positive=(n * positives).long())


def _constructed(values: np.ndarray, layers, train, test, **kw) -> TransferResult:
    m = _metrics(values, **kw)
    return TransferResult(m, m.map(lambda t: t.unsqueeze(0).repeat(2, *[1] * t.ndim)), train, test, layers, [])


def _y(fig: go.Figure, name: str) -> np.ndarray:
    (trace,) = [t for t in fig.data if t.name == name]
    return np.asarray(trace.y, dtype=float)


def _trace(fig: go.Figure, name: str):
    (trace,) = [t for t in fig.data if t.name == name]
    return trace


def test_module_exports():
    assert sorted(plots_probes.__all__) == [
        "plot_early_prediction",
        "plot_probe_layers",
        "plot_transfer_gap",
        "plot_transfer_matrix",
    ]


# -- plot_probe_layers ------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["accuracy", "auroc", "f1", "pr_auc"])
def test_probe_layers_traces_hold_the_result(transfer, metric):
    fig = plot_probe_layers(transfer, metric)
    values = getattr(transfer.metrics, metric).numpy()
    en = transfer.train_languages.index("en")
    names = [t.name for t in fig.data]
    assert names == [
        "en (trained in en)",
        "zh (trained in zh)",
        "zh (trained on en)",
        "th (trained in th)",
        "th (trained on en)",
    ]
    for lang in LANGS:
        i, b = transfer.train_languages.index(lang), transfer.test_languages.index(lang)
        own = _trace(fig, f"{lang} (trained in {lang})")
        np.testing.assert_array_equal(np.asarray(own.y, dtype=float), values[:, i, b].astype(float))
        assert list(own.x) == LAYERS and own.line.dash == "solid"
        if lang != "en":
            ref = _trace(fig, f"{lang} (trained on en)")
            np.testing.assert_array_equal(np.asarray(ref.y, dtype=float), values[:, en, b].astype(float))
            assert ref.line.dash == "dash" and ref.marker.symbol == "circle-open"
            assert ref.line.color == own.line.color  # one colour per language
    assert fig.layout.xaxis.title.text == "layer"
    assert "mean of 4 folds" in fig.layout.yaxis.title.text and "positive class: harmful" in fig.layout.yaxis.title.text
    chance = [s for s in fig.layout.shapes if s.type == "line"]
    if metric == "f1":
        assert not chance  # no single chance level for F1
    else:
        assert len(chance) == 1 and chance[0].y0 == pytest.approx(0.5)  # balanced classes


def test_probe_layers_other_reference_and_none(transfer):
    fig = plot_probe_layers(transfer, "AUROC", reference_language="zh", title="my title")
    zh = transfer.train_languages.index("zh")
    assert fig.layout.title.text == "my title"
    dashed = [t.name for t in fig.data if t.line.dash == "dash"]
    assert dashed == ["en (trained on zh)", "th (trained on zh)"]
    np.testing.assert_array_equal(_y(fig, "th (trained on zh)"), transfer.metrics.auroc[:, zh, 2].numpy().astype(float))
    solo = plot_probe_layers(transfer, reference_language=None)
    assert [t.name for t in solo.data] == [f"{l} (trained in {l})" for l in LANGS]


def test_probe_layers_test_language_without_own_probe():
    # trained in en and zh, tested in en, zh, th: th has only the en-trained (dashed) line
    vals = np.arange(3 * 2 * 3, dtype=float).reshape(3, 2, 3) / 20
    res = _constructed(vals, [0, 1, 2], ["en", "zh"], ["en", "zh", "th"])
    fig = plot_probe_layers(res)
    assert [t.name for t in fig.data] == [
        "en (trained in en)",
        "zh (trained in zh)",
        "zh (trained on en)",
        "th (trained on en)",
    ]
    np.testing.assert_allclose(_y(fig, "th (trained on en)"), vals[:, 0, 2], rtol=1e-6)


# -- plot_transfer_matrix ---------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["accuracy", "auroc"])
def test_transfer_matrix_default_is_the_best_mean_layer(transfer, metric):
    values = getattr(transfer.metrics, metric).numpy()
    best = int(np.argmax(values.mean((1, 2))))
    fig = plot_transfer_matrix(transfer, metric)
    (heat,) = fig.data
    assert isinstance(heat, go.Heatmap)
    np.testing.assert_array_equal(np.asarray(heat.z, dtype=float), values[best].astype(float))
    assert list(heat.y) == transfer.train_languages and list(heat.x) == transfer.test_languages
    assert heat.texttemplate == "%{z:.2f}"  # values shown in the cells
    assert heat.zmin == pytest.approx(0.5) and heat.zmax == 1.0
    assert f"layer {LAYERS[best]} (best mean)" in fig.layout.title.text
    assert fig.layout.xaxis.title.text == "test language" and fig.layout.yaxis.title.text == "train language"


def test_transfer_matrix_at_a_given_layer_label(transfer):
    fig = plot_transfer_matrix(transfer, "auroc", layer=12, title="t")
    np.testing.assert_array_equal(
        np.asarray(fig.data[0].z, dtype=float), transfer.metrics.auroc[2].numpy().astype(float)
    )
    assert fig.layout.title.text == "t"


def test_transfer_matrix_best_layer_is_planted_and_skips_nan():
    vals = np.full((3, 2, 2), 0.6)
    vals[1] = 0.9  # best mean at layer label 20
    vals[1, 0, 1] = np.nan  # a NaN cell does not disqualify the layer
    res = _constructed(vals, [10, 20, 30], ["en", "zh"], ["en", "zh"])
    fig = plot_transfer_matrix(res)
    np.testing.assert_allclose(np.asarray(fig.data[0].z, dtype=float), vals[1].astype(np.float32), equal_nan=True)
    assert "layer 20" in fig.layout.title.text
    with pytest.raises(ValueError, match="every layer's accuracy is NaN"):
        plot_transfer_matrix(_constructed(np.full((2, 2, 2), np.nan), [0, 1], ["en", "zh"], ["en", "zh"]))


# -- plot_transfer_gap ------------------------------------------------------------------------------


def test_transfer_gap_is_diagonal_vs_off_diagonal_mean(transfer):
    fig = plot_transfer_gap(transfer)
    acc = transfer.metrics.accuracy.numpy().astype(float)
    same = np.eye(3, dtype=bool)
    assert [t.name for t in fig.data] == ["trained in the test language", "trained in another language"]
    np.testing.assert_allclose(_y(fig, "trained in the test language"), acc[:, same].mean(1), rtol=1e-12)
    np.testing.assert_allclose(_y(fig, "trained in another language"), acc[:, ~same].mean(1), rtol=1e-12)
    assert list(fig.data[0].x) == LAYERS
    # the study's own formula (its JSON) gives the same numbers
    t = transfer.metrics.accuracy
    study = (t * torch.tensor(same)).sum((1, 2)) / same.sum()
    np.testing.assert_allclose(_y(fig, "trained in the test language"), study.numpy(), rtol=1e-6)


def test_transfer_gap_needs_both_kinds_of_pair():
    with pytest.raises(ValueError, match="no training language"):
        plot_transfer_gap(_constructed(np.ones((1, 1, 1)), [0], ["en"], ["zh"]))
    with pytest.raises(ValueError, match="no other-language probes"):
        plot_transfer_gap(_constructed(np.ones((1, 1, 1)), [0], ["en"], ["en"]))


# -- plot_early_prediction --------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["auroc", "accuracy"])
def test_early_prediction_traces_hold_the_result(early, metric):
    fig = plot_early_prediction(early, metric)
    per, whole = getattr(early.per_fraction, metric).numpy(), getattr(early.whole, metric).numpy()
    assert len(fig.data) == 2 * len(LANGS)
    for i, lang in enumerate(early.languages):
        p, w = _trace(fig, f"{lang} (probe per prefix length)"), _trace(fig, f"{lang} (whole-prompt probe)")
        np.testing.assert_array_equal(np.asarray(p.y, dtype=float), per[:, i].astype(float))
        np.testing.assert_array_equal(np.asarray(w.y, dtype=float), whole[:, i].astype(float))
        assert list(p.x) == FRACTIONS and list(w.x) == FRACTIONS
        assert p.line.dash == "solid" and w.line.dash == "dash" and w.marker.symbol == "circle-open"
        assert "of the prompt" in p.hovertemplate and "layer" not in p.hovertemplate
    assert fig.layout.xaxis.tickformat == ".0%" and list(fig.layout.xaxis.tickvals) == FRACTIONS
    assert fig.layout.xaxis.title.text == "fraction of the prompt's tokens seen"
    assert fig.layout.shapes[0].y0 == pytest.approx(0.5)


def test_early_prediction_title(early):
    assert plot_early_prediction(early, title="at layer 7").layout.title.text == "at layer 7"
    assert "AUROC" in plot_early_prediction(early).layout.title.text


# -- chance levels ----------------------------------------------------------------------------------


def test_chance_line_follows_the_class_balance():
    res = _constructed(np.full((2, 2, 2), 0.7), [0, 1], ["en", "zh"], ["en", "zh"], positives=0.2)
    assert plot_probe_layers(res, "pr_auc").layout.shapes[0].y0 == pytest.approx(0.2)
    assert plot_probe_layers(res, "accuracy").layout.shapes[0].y0 == pytest.approx(0.8)  # majority class
    assert plot_probe_layers(res, "auroc").layout.shapes[0].y0 == pytest.approx(0.5)
    assert plot_transfer_matrix(res, "pr_auc").data[0].zmin == pytest.approx(0.2)
    assert plot_transfer_matrix(res, "f1").data[0].zmin == 0.0


# -- errors ----------------------------------------------------------------------------------------


def test_unknown_metric_names_the_valid_ones(transfer, early):
    for call in (
        lambda: plot_probe_layers(transfer, "acc"),
        lambda: plot_transfer_matrix(transfer, "precision"),
        lambda: plot_transfer_gap(transfer, "n"),
        lambda: plot_early_prediction(early, "roc"),
    ):
        with pytest.raises(ValueError, match=r"unknown metric .*valid metrics: accuracy, auroc, f1, pr_auc"):
            call()
    with pytest.raises(ValueError, match=r"did you mean 'accuracy'"):
        plot_probe_layers(transfer, "acuracy")


def test_unknown_reference_language_lists_the_nearest(transfer):
    with pytest.raises(
        ValueError,
        match=r"reference_language='eng' is not a training language.*nearest: \['en'.*"
        r"reference_language=None draws the own-language probes only",
    ):
        plot_probe_layers(transfer, reference_language="eng")
    with pytest.raises(ValueError, match=r"training languages: \['en', 'zh', 'th'\]"):
        plot_probe_layers(transfer, reference_language="fr")


def test_unknown_layer_lists_the_nearest(transfer):
    with pytest.raises(ValueError, match=r"layer 9 is not a layer of this result; nearest: \[4, 8, 12\]"):
        plot_transfer_matrix(transfer, layer=9)
    with pytest.raises(ValueError, match=r"layer 0 is not a layer.*nearest: \[4, 8, 12\]"):
        plot_transfer_matrix(transfer, layer=0)  # an index is not a layer label
    many = _constructed(np.full((20, 1, 1), 0.5), list(range(20)), ["en"], ["en"])
    with pytest.raises(ValueError, match=r"nearest: \[17, 18, 19\]; layers: 0 \.\. 19 \(20 layers\)"):
        plot_transfer_matrix(many, layer=25)


@pytest.mark.bad_input
def test_wrong_result_type(transfer, early):
    with pytest.raises(TypeError, match="needs a mechint.probes.TransferResult.*use plot_early_prediction"):
        plot_probe_layers(early)
    with pytest.raises(TypeError, match="needs a mechint.probes.EarlyResult.*use plot_probe_layers"):
        plot_early_prediction(transfer)
    with pytest.raises(TypeError, match="got dict"):
        plot_transfer_matrix({"accuracy": [[0.5]]})


def test_inconsistent_result_is_reported():
    res = _constructed(np.full((2, 2, 2), 0.5), [0, 1, 2], ["en", "zh"], ["en", "zh"])  # 3 labels, 2 layers
    with pytest.raises(
        ValueError, match=r"inconsistent: metrics.accuracy has shape \(2, 2, 2\) but its labels give \(3, 2, 2\)"
    ):
        plot_probe_layers(res)


# -- export ----------------------------------------------------------------------------------------


def test_save_figure_writes_html_and_png(tmp_path, transfer, early):
    figs = {
        "layers": plot_probe_layers(transfer),
        "matrix": plot_transfer_matrix(transfer),
        "early": plot_early_prediction(early),
    }
    for name, fig in figs.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FigureExportWarning)
            out = save_figure(fig, tmp_path / name, html=True)
        assert out[0] == tmp_path / f"{name}.html"
        assert "<html" in out[0].read_text(encoding="utf-8")
        if (tmp_path / f"{name}.png").exists():  # a browser was found
            assert out == [tmp_path / f"{name}.html", tmp_path / f"{name}.png"]
            assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        else:  # no browser: HTML only, with a warning that says so
            assert out == [tmp_path / f"{name}.html"]
            assert any(issubclass(w.category, FigureExportWarning) for w in caught)
