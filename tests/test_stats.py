"""mechint.stats: the statistics written once (AUROC, ranks, correlations), against scikit-learn and
scipy, and the one NaN rule every AUROC in mechint follows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import mechint
from mechint import stats


def test_auroc_matches_sklearn_with_ties_masks_and_batches():
    from sklearn.metrics import roc_auc_score

    g = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 5, (3, 40), generator=g).double()  # many ties
    labels = torch.randint(0, 2, (3, 40), generator=g)
    mask = torch.rand(3, 40, generator=g) > 0.3
    got = stats.auroc(scores, labels, mask)
    for b in range(3):
        m = mask[b].numpy()
        want = roc_auc_score(labels[b].numpy()[m], scores[b].numpy()[m])
        assert math.isclose(float(got[b]), want, rel_tol=1e-6)


def test_one_nan_rule_for_every_auroc():
    scores, labels = torch.tensor([[0.1, 0.9, 0.3, 0.8], [0.1, float("nan"), 0.3, 0.8]]), [0, 1, 0, 1]
    got = stats.auroc(scores, labels)
    assert float(got[0]) == 1.0 and math.isnan(float(got[1]))  # NaN scores cannot be ranked
    assert math.isnan(float(stats.auroc(torch.tensor([0.1, 0.9]), [1, 1])))  # one class: undefined
    masked = stats.auroc(scores, labels, torch.tensor([True, False, True, True]))  # the NaN row not counted
    assert float(masked[1]) == 1.0
    assert mechint.auroc is stats.auroc  # directions re-exports the one implementation
    metrics = mechint.probes.binary_metrics(scores[0], labels)
    assert float(metrics.auroc) == float(stats.auroc(scores[0], labels))
    assert math.isnan(float(mechint.probes.binary_metrics(scores[0], [1, 1, 1, 1]).auroc))


def test_ranks_and_correlations_match_scipy():
    from scipy.stats import pearsonr, rankdata, spearmanr

    x = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    y = [2.0, 7.0, 1.0, 8.0, 2.0, 8.0, 1.0, 8.0]
    assert np.allclose(stats.ranks(x).numpy(), rankdata(x))
    assert math.isclose(stats.pearson(x, y), pearsonr(x, y)[0], rel_tol=1e-12)
    assert math.isclose(stats.spearman(x, y), spearmanr(x, y)[0], rel_tol=1e-12)
    assert math.isnan(stats.pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))  # a constant side
    assert math.isnan(stats.spearman([1.0], [2.0]))


def test_reservoir_keeps_a_short_stream_whole_and_samples_a_long_one_uniformly():
    short = stats.Reservoir(capacity=10, width=1, seed=0)
    short.update(torch.arange(6.0)[:, None])
    assert short.rows[:, 0].tolist() == [0, 1, 2, 3, 4, 5] and short.seen == 6
    counts = torch.zeros(100)
    for seed in range(300):
        r = stats.Reservoir(capacity=10, width=1, seed=seed)
        for start in range(0, 100, 7):  # batches of 7
            r.update(torch.arange(start, min(start + 7, 100), dtype=torch.float64)[:, None])
        counts[r.rows[:, 0].long()] += 1
    # each item is kept with probability 10/100: 30 of 300 times on average
    assert counts.min() >= 12 and counts.max() <= 52, (counts.min(), counts.max())


def test_bootstrap_mean_against_the_exact_bootstrap_and_the_normal_width():
    from mechint.stats import bootstrap_mean

    # two items 0 and 1: resampled means are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4
    mean, low, high = bootstrap_mean([0.0, 1.0], level=0.9, n_resamples=20000)
    assert mean == 0.5 and low == 0.0 and high == 1.0
    mean, low, high = bootstrap_mean([0.0, 1.0], level=0.4, n_resamples=20000)
    assert low == high == 0.5
    # a proportion of 0.3 over 400 items: width close to the normal approximation's 2 * 1.96 * sd
    x = torch.zeros(400)
    x[:120] = 1
    mean, low, high = bootstrap_mean(x, n_resamples=4000)
    normal = 2 * 1.96 * (0.3 * 0.7 / 400) ** 0.5
    assert mean == pytest.approx(0.3) and low < 0.3 < high
    assert high - low == pytest.approx(normal, rel=0.1)
    assert bootstrap_mean(x, seed=3) == bootstrap_mean(x, seed=3) != bootstrap_mean(x, seed=4)
    assert bootstrap_mean([1.0] * 5) == (1.0, 1.0, 1.0)
    assert all(math.isnan(v) for v in bootstrap_mean([]))
    with pytest.raises(ValueError, match="level"):
        bootstrap_mean([1.0], level=1.0)
    with pytest.raises(ValueError, match="non-finite"):
        bootstrap_mean([1.0, float("nan")])


def test_set_overlap_exact_and_approximate_chance():
    """The exact expected Jaccard of two random sets (hypergeometric) against a brute-force
    enumeration of a tiny case, and the ratio approximation close to it for large sets."""
    import itertools

    from mechint.stats import set_overlap

    n, a, b = 6, 2, 3
    universe = range(n)
    brute = [
        len(set(x) & set(y)) / len(set(x) | set(y))
        for x in itertools.combinations(universe, a)
        for y in itertools.combinations(universe, b)
    ]
    got = set_overlap(1, a, b, n)
    assert got["jaccard"] == 1 / 4 and got["expected_intersection"] == a * b / n
    assert got["expected_jaccard"] == pytest.approx(sum(brute) / len(brute), rel=1e-12)
    exact = set_overlap(300, 3000, 3000, 30000)["expected_jaccard"]
    approx = set_overlap(300, 3000, 3000, 30000, exact=False)["expected_jaccard"]
    assert approx == pytest.approx(exact, rel=1e-2) and approx != exact
    assert set_overlap(0, 0, 0, 5)["jaccard"] == set_overlap(0, 0, 0, 5)["expected_jaccard"] == 1.0
    with pytest.raises(ValueError, match="share"):
        set_overlap(4, 3, 5, 10)
