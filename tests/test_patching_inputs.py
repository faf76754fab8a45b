"""mechint.patching: checks of what the caller passes (metrics that do not return one value per row,
empty or numpy-typed positions, per-pair answer sets that do not fit the pairs), the rank
correlation of attribution_correlation and the comparison of two sweeps, and per-pair labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_patching import METRIC, assert_close, make, pairs

from mechint.patching import activation_patch, attribution_correlation, attribution_patch
from mechint.patching.metrics import answer_prob, direction_score, logit_diff
from mechint.stats import ranks as _ranks

# ------------------------------------------------------------------------------------ metric shape


@pytest.mark.parametrize("patch", [activation_patch, attribution_patch])
def test_a_metric_must_return_one_value_per_row(patch, make_model):
    model = make(make_model, "llama")
    clean, corrupted = pairs(2, 8)
    per_row = lambda logits: logits[:, -1, 5] - logits[:, -1, 7]  # noqa: E731
    tl_style = lambda logits: per_row(logits).mean()  # noqa: E731  (TransformerLens metrics average the batch)
    column = lambda logits: per_row(logits)[:, None]  # noqa: E731
    with pytest.raises(ValueError, match=r"returned shape \(\) for 2 prompt.*one value per row.*remove its \.mean\(\)"):
        patch(model, clean, corrupted, tl_style, layers=[1])
    with pytest.raises(ValueError, match=r"returned shape \(2, 1\) for 2 prompt.*one value per row[^.]*\)\.$"):
        patch(model, clean, corrupted, column, layers=[1])  # no .mean() to remove: no advice about it
    assert patch(model, clean, corrupted, per_row, layers=[1]).values.shape == (2, 1, 8)


# ------------------------------------------------------------------------------------ positions, layers


@pytest.mark.bad_input
def test_empty_positions_and_layers_are_refused(make_model):
    model = make(make_model, "llama")
    clean, corrupted = pairs(2, 8)
    for patch in (activation_patch, attribution_patch):
        with pytest.raises(ValueError, match="no patched positions given"):
            patch(model, clean, corrupted, METRIC, positions=[])
        with pytest.raises(ValueError, match="no layers given"):
            patch(model, clean, corrupted, METRIC, layers=[])
        with pytest.raises(TypeError, match="positions must be integers"):
            patch(model, clean, corrupted, METRIC, positions=[1.5])
        with pytest.raises(ValueError, match="positions repeat"):
            patch(model, clean, corrupted, METRIC, positions=[1, -7])


def test_numpy_and_tensor_integers_as_positions(make_model):
    model = make(make_model, "llama")
    clean, corrupted = pairs(2, 8)
    ref = activation_patch(model, clean, corrupted, METRIC, positions=[3, 7], layers=[0, 2])
    for positions in (np.array([3, -1]), [np.int64(3), torch.tensor(7)], torch.tensor([3, 7])):
        r = activation_patch(model, clean, corrupted, METRIC, positions=positions, layers=np.array([0, 2]))
        assert r.positions == [3, 7]
        torch.testing.assert_close(r.values, ref.values)
    assert activation_patch(model, clean, corrupted, METRIC, positions=np.int64(5)).positions == [5]
    assert attribution_patch(model, clean, corrupted, METRIC, positions=torch.tensor(5)).positions == [5]
    # a metric's positions too
    m = logit_diff([5], [7], position=np.int64(-1))
    assert m.positions == (-1,) and logit_diff([5], [7], position=torch.tensor([6, 7])).positions == (6, 7)


# ------------------------------------------------------------------------------------ per-pair metric data


def test_per_pair_answer_sets_must_fit_the_pairs(make_model):
    model = make(make_model, "llama")
    clean, corrupted = pairs(3, 8)
    for n in (4, 2):
        m = logit_diff([[5]] * n, [7])
        assert m.n_pairs == n
        for patch in (activation_patch, attribution_patch):
            with pytest.raises(ValueError, match=rf"per-pair data .* for {n} pairs, but there are 3 prompt pair"):
                patch(model, clean, corrupted, m)
    with pytest.raises(ValueError, match="for 2 pairs, but there are 3"):
        activation_patch(model, clean, corrupted, answer_prob([[5], [6]]))
    with pytest.raises(ValueError, match="for 2 pairs, but there are 3"):
        activation_patch(
            model, clean, corrupted, direction_score(torch.ones(2, model.d_model), "blocks.1.hook_resid_pre")
        )
    with pytest.raises(ValueError, match=r"different numbers of pairs: \[2, 3\]"):
        logit_diff([[5]] * 3, [[7]] * 2)
    # one set per pair, or one shared set: fine
    ok = activation_patch(model, clean, corrupted, logit_diff([[5], [6], [9]], [7]), layers=[0])
    assert logit_diff([5, 6], [7]).n_pairs is None and ok.values.shape == (3, 1, 8)
    # the metric as a plain function checks its batch too
    logits = torch.randn(3, 8, model.d_vocab)
    with pytest.raises(ValueError, match="for 4 pairs, but there are 3"):
        logit_diff([[5]] * 4, [7])(logits)
    with pytest.raises(ValueError, match=r"pair indices must be in 0\.\.1"):
        logit_diff([[5]] * 2, [7])(logits, pair=torch.tensor([0, 1, 2]))


# ------------------------------------------------------------------------------------ correlation


def test_ranks_average_ties():
    x = torch.tensor([3.0, 1.0, 3.0, 0.0, 0.0, 0.0, 2.0, -1.0])
    assert _ranks(x).tolist() == [7.5, 5.0, 7.5, 3.0, 3.0, 3.0, 6.0, 1.0]


def test_spearman_handles_ties_and_constant_sweeps(make_model):
    """Sweeps have many cells with an effect of exactly 0 (before the first differing token): ranks
    of ties are averaged, as scipy.stats.spearmanr does; a constant side gives NaN, not 1."""
    model = make(make_model, "llama")
    clean, corrupted = pairs(2, 12, seed=9, changed=(8,))
    exact = activation_patch(model, clean, corrupted, METRIC)
    attr = attribution_patch(model, clean, corrupted, METRIC)
    a, e = attr.effect().reshape(-1), exact.effect().reshape(-1)
    assert (e == 0).sum() > e.numel() // 2  # many ties
    corr = attribution_correlation(attr, exact)
    stats = pytest.importorskip("scipy.stats", reason="scipy is not installed")
    assert corr["spearman"] == pytest.approx(stats.spearmanr(a.numpy(), e.numpy()).statistic, abs=1e-12)
    assert corr["pearson"] == pytest.approx(stats.pearsonr(a.numpy(), e.numpy()).statistic, abs=1e-6)
    # before the only differing token every effect is 0 in both: no correlation, not 1.0
    flat = dict(positions=[0, 1, 2])
    c = attribution_correlation(
        attribution_patch(model, clean, corrupted, METRIC, **flat),
        activation_patch(model, clean, corrupted, METRIC, **flat),
    )
    assert math.isnan(c["spearman"]) and math.isnan(c["pearson"]) and math.isnan(c["pearson_mean"]) and c["n"] == 18


def test_correlation_needs_the_same_sweep(make_model):
    model = make(make_model, "llama")
    clean, corrupted = pairs(1, 8)
    attr = attribution_patch(model, clean, corrupted, METRIC, positions=[0, 1, 2])
    cases = [
        (activation_patch(model, clean, corrupted, METRIC, positions=[0, 1, 2], component="mlp_out"), "component"),
        (activation_patch(model, clean, corrupted, METRIC, positions=[5, 6, 7]), "positions"),
        (activation_patch(model, clean, corrupted, METRIC, positions=[0, 1, 2], layers=[2, 1, 0]), "layers"),
        (
            activation_patch(model, clean, corrupted.flip(1), METRIC, positions=[0, 1, 2]),
            "the corrupted prompt of pair 0",
        ),
        (activation_patch(model, clean, corrupted, METRIC, positions=[0, 1]), "shape"),
    ]
    for exact, what in cases:
        with pytest.raises(ValueError, match=f"not the same sweep: they differ in {what}"):
            attribution_correlation(attr, exact)
    heads = attribution_patch(model, clean, corrupted, METRIC, component="z", heads=[0, 1])
    with pytest.raises(ValueError, match="differ in heads"):
        attribution_correlation(heads, activation_patch(model, clean, corrupted, METRIC, component="z", heads=[2, 3]))


# ------------------------------------------------------------------------------------ labels


def test_a_pair_alone_is_labelled_with_its_own_tokens(make_model):
    model = make(make_model, "llama")
    r = activation_patch(model, ["abcdefgh", "xyz"], ["abcdefgx", "xyw"], METRIC)
    assert r.labels["pos"][-2:] == ["g (-2)", "x (-1)"]  # pair 0's tokens, counted from the end
    one = r.pair(1)
    assert one.labels["pos"] == ["(-9)", "(-8)", "(-7)", "(-6)", "(-5)", "<bos> (-4)", "x (-3)", "y (-2)", "w (-1)"]
    assert r.pair(-1).labels == one.labels and r.labels["pos"][-1] == "x (-1)"  # the parent is unchanged
    assert r.pair(0).labels == r.labels  # pair 0's tokens, numbered as in the whole result
    assert one.pair(0).labels == one.labels
    assert r.pair(0).pair(0).labels == r.pair(0).labels  # the numbering is the sweep's, kept through slicing
    # same-length pairs: positions as swept
    s = activation_patch(model, ["ab cd", "xy ce"], ["ab xd", "xy xe"], METRIC)
    assert s.pair(1).labels["pos"] == [f"{t} ({p})" for p, t in enumerate(s.corrupted_tokens[1])]


def test_dataframe_token_column_is_the_bare_token_with_and_without_mean(make_model):
    model = make(make_model, "llama")
    r = activation_patch(model, ["abcdefgh", "xyz"], ["abcdefgx", "xyw"], METRIC)
    per_pair, mean = r.to_dataframe(), r.to_dataframe(mean=True)
    # mean=True: pair 0's token (the one the labels show), bare, as in the per-pair rows of pair 0
    first = per_pair[per_pair["pair"] == 0].reset_index(drop=True)
    assert mean["token"].tolist() == first["token"].tolist()
    assert mean["token"].tolist()[:9] == ["<bos>", "a", "b", "c", "d", "e", "f", "g", "x"]
    second = per_pair[per_pair["pair"] == 1]["token"].tolist()[:9]
    assert second == ["", "", "", "", "", "<bos>", "x", "y", "w"]
    assert_close(torch.tensor(mean["value"].tolist()), r.mean().reshape(-1))


def test_positions_from_a_generator_are_read_once(make_model):
    model = make(make_model, "llama")
    clean, corrupted = pairs(2, 8)
    with pytest.raises(ValueError, match=r"patched positions repeat: \[1, 1\]"):
        activation_patch(model, clean, corrupted, METRIC, positions=(p for p in [1, 1]))
    r = activation_patch(model, clean, corrupted, METRIC, positions=(p for p in [1, 2]), layers=[0])
    assert r.positions == [1, 2]
