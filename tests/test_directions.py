"""Directions: difference of means recovers a planted direction; cosines across languages."""

import pytest
import torch

from mechint.directions import (
    auroc,
    cosine,
    cosine_across,
    diff_in_means,
    direction_by,
    pca_direction,
    per_language_directions,
    standardised_direction,
    transfer_auroc,
    within_group_std,
)


def _planted(n=400, d=32, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    direction = torch.randn(d, generator=g)
    direction /= direction.norm()
    labels = torch.arange(n) % 2
    acts = torch.randn(n, d, generator=g) + scale * labels[:, None] * direction
    return acts, labels, direction


def test_diff_in_means_recovers_planted_direction_with_sign():
    acts, labels, direction = _planted()
    found = diff_in_means(acts, labels)
    assert found.shape == (32,)
    assert torch.isclose(found.norm(), torch.tensor(1.0))
    assert cosine(found, direction) > 0.95
    # harmful (label 1) rows project higher
    scores = acts @ found
    assert scores[labels == 1].mean() > scores[labels == 0].mean()
    # swapping labels flips the sign
    assert torch.allclose(diff_in_means(acts, 1 - labels), -found, atol=1e-6)


def test_diff_in_means_hand_computed_and_stacked_layers():
    acts = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 4.0]])
    labels = [1, 1, 0, 0]
    raw = diff_in_means(acts, labels, normalize=False)
    assert torch.allclose(raw, torch.tensor([2.0, -3.0]))
    stacked = torch.stack([acts, 2 * acts])  # [layer, n, d]
    both = diff_in_means(stacked, labels, normalize=False)
    assert torch.allclose(both, torch.stack([raw, 2 * raw]))


def test_diff_in_means_errors():
    acts = torch.randn(4, 8)
    with pytest.raises(ValueError, match="3 labels for 4 rows"):
        diff_in_means(acts, [0, 1, 0])
    with pytest.raises(ValueError, match="both classes"):
        diff_in_means(acts, [1, 1, 1, 1])
    with pytest.raises(ValueError, match="empty"):
        diff_in_means(torch.zeros(0, 8), [])
    with pytest.raises(ValueError, match="must be 0"):
        diff_in_means(acts, [0, 1, 2, 0])


@pytest.mark.bad_input
def test_cosine_across_languages():
    g = torch.Generator().manual_seed(1)
    base = torch.randn(3, 16, generator=g)  # [layer, d]
    dirs = {"en": base, "zh": 2 * base, "ar": -base, "th": torch.randn(3, 16, generator=g)}
    sim, langs = cosine_across(dirs)
    assert langs == ["en", "zh", "ar", "th"] and sim.shape == (3, 4, 4)
    assert torch.allclose(sim[:, 0, 1], torch.ones(3), atol=1e-6)
    assert torch.allclose(sim[:, 0, 2], -torch.ones(3), atol=1e-6)
    assert torch.allclose(sim, sim.transpose(1, 2))
    assert torch.allclose(sim.diagonal(dim1=1, dim2=2), torch.ones(3, 4), atol=1e-6)
    with pytest.raises(ValueError, match="different widths"):
        cosine(torch.ones(3), torch.ones(4))
    with pytest.raises(ValueError, match="no directions"):
        cosine_across({})


def test_auroc_matches_sklearn_with_ties_and_batches():
    from sklearn.metrics import roc_auc_score

    g = torch.Generator().manual_seed(0)
    labels = (torch.rand(200, generator=g) > 0.4).long()
    scores = torch.randn(3, 200, generator=g).round(decimals=1)  # many ties
    ours = auroc(scores, labels)
    for layer in range(3):
        assert abs(ours[layer].item() - roc_auc_score(labels.numpy(), scores[layer].numpy())) < 1e-6
    assert auroc(labels.float(), labels).item() == 1.0
    assert auroc(-labels.float(), labels).item() == 0.0
    assert auroc(torch.zeros(10), torch.arange(10) % 2).item() == 0.5


def test_pca_direction_recovers_planted_direction_with_sign():
    acts, labels, direction = _planted(scale=4.0)
    found = pca_direction(acts, labels)
    assert abs(cosine(found, direction).item()) > 0.9
    assert cosine(found, direction) > 0  # oriented: harmful scores high
    stacked = pca_direction(torch.stack([acts, -acts]), labels)
    assert cosine(stacked[0], direction) > 0.9 and cosine(stacked[1], -direction) > 0.9


@pytest.mark.bad_input
def test_per_language_directions_and_transfer():
    g = torch.Generator().manual_seed(2)
    d, n = 16, 120
    shared = torch.randn(d, generator=g)
    shared /= shared.norm()
    own = torch.randn(d, generator=g)
    own /= own.norm()
    langs = ["en"] * n + ["xx"] * n + ["yy"] * n
    labels = torch.cat([torch.arange(n) % 2] * 3)
    acts = torch.randn(3 * n, d, generator=g)
    acts[: 2 * n] += 3 * labels[: 2 * n, None] * shared  # en and xx share the direction
    acts[2 * n :] += 3 * labels[2 * n :, None] * own  # yy uses another one
    dirs = per_language_directions(acts[None], labels, langs, order=["en", "xx", "yy"])
    auc, sources, targets = transfer_auroc({"en": dirs["en"]}, acts[None], labels, langs)
    assert sources == ["en"] and targets == ["en", "xx", "yy"]
    assert auc[0, 0, 0] > 0.95 and auc[0, 0, 1] > 0.95
    assert 0.3 < auc[0, 0, 2] < 0.7  # does not transfer to the language with its own direction
    with pytest.raises(ValueError, match="language .*: need examples of both classes"):
        per_language_directions(acts[None], torch.ones(3 * n), langs)
    with pytest.raises(ValueError, match="width"):
        transfer_auroc({"en": torch.ones(1, d + 1)}, acts[None], labels, langs)
    with pytest.raises(ValueError, match="unknown direction method"):
        per_language_directions(acts[None], labels, langs, method="median")


def test_probe_direction_recovers_planted_direction_with_sign():
    from mechint.directions import direction_by

    acts, labels, direction = _planted(scale=3.0)
    found = direction_by("probe", acts, labels)
    assert found.shape == (32,) and torch.isclose(found.norm(), torch.tensor(1.0), atol=1e-5)
    assert cosine(found, direction) > 0.8
    per_layer = direction_by("probe", torch.stack([acts, acts]), labels)
    assert per_layer.shape == (2, 32) and torch.allclose(per_layer[0], per_layer[1], atol=1e-5)


def test_auroc_is_nan_where_scores_are_nan():
    scores = torch.tensor([[0.1, 0.2, float("nan"), 0.9], [0.1, 0.2, 0.3, 0.9]])
    got = auroc(scores, torch.tensor([0, 0, 1, 1]))
    assert torch.isnan(got[0]) and got[1] == 1.0


def test_direction_method_mean_passes_its_options_on():
    from mechint.directions import direction_by

    acts = torch.randn(3, 40, 8)
    labels = torch.arange(40) % 2
    raw = direction_by("mean", acts, labels, normalize=False)
    torch.testing.assert_close(raw, diff_in_means(acts, labels, normalize=False))
    assert not torch.allclose(raw.norm(dim=-1), torch.ones(3))


@pytest.mark.bad_input
def test_transfer_auroc_checks_shapes_and_takes_one_site():
    g = torch.Generator().manual_seed(0)
    n, d = 40, 8
    acts = torch.randn(3, n, d, generator=g)
    labels = torch.arange(n) % 2
    langs = ["en"] * 20 + ["zh"] * 20
    acts[:, labels.bool(), 0] += 3.0
    dirs = per_language_directions(acts, labels, langs)
    auc, _, _ = transfer_auroc(dirs, acts, labels, langs)
    one, _, _ = transfer_auroc({k: v[1] for k, v in dirs.items()}, acts[1], labels, langs)  # one site, [d]
    torch.testing.assert_close(one, auc[1])
    with pytest.raises(ValueError, match=r"has shape \(8,\).*need directions of shape \(3, 8\)"):
        transfer_auroc({"en": dirs["en"][0]}, acts, labels, langs)
    with pytest.raises(ValueError, match="39 languages and 40 labels for 40 rows"):
        transfer_auroc(dirs, acts, labels, langs[:-1])
    with pytest.raises(ValueError, match="40 languages and 30 labels"):
        transfer_auroc(dirs, acts, labels[:30], langs)
    with pytest.raises(ValueError, match="target language .zh.: need examples of both classes"):
        transfer_auroc(dirs, acts, torch.cat([labels[:20], torch.ones(20, dtype=torch.long)]), langs)


def test_within_group_std_hand_computed_pooled_over_groups():
    """The pooled within-group spread, per feature, against numpy; stacked layers; a feature that is
    constant inside every group keeps scale 1; bad input is named."""
    import numpy as np

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 40, 5, generator=g, dtype=torch.float64) * torch.tensor([1.0, 10.0, 0.1, 3.0, 1.0])
    y = torch.tensor([0, 1] * 20)
    lang = ["en"] * 10 + ["zh"] * 30
    x[..., 4] = torch.tensor(lang_codes := [float(i % 2) + (5.0 if l == "zh" else 0.0) for i, l in enumerate(lang)])
    got = within_group_std(x, y, lang)
    keys = [(int(a), b) for a, b in zip(y, lang)]
    for layer in range(2):
        xs = x[layer].numpy()
        resid = np.concatenate(
            [xs[[k == key for k in keys]] - xs[[k == key for k in keys]].mean(0) for key in dict.fromkeys(keys)]
        )
        want = np.sqrt((resid**2).sum(0) / (40 - 4))
        want[4] = 1.0  # constant within each (class, language) group
        np.testing.assert_allclose(got[layer].numpy(), want, rtol=1e-12)
    assert len(set(lang_codes)) == 4
    with pytest.raises(ValueError, match="39 group labels for 40 rows"):
        within_group_std(x, y[:39])
    with pytest.raises(ValueError, match="no row left"):
        within_group_std(x[:, :4], y[:4], ["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="at least one grouping"):
        within_group_std(x)


def test_standardised_directions_ignore_one_feature_of_huge_scale():
    """Two groups share a direction except in one feature of huge magnitude, whose mean difference
    (small against its own spread, large against every other feature) they disagree on: in raw units
    the cosine is that feature's (near -1); divided by the within-group spread it is the shared
    rest's (near 1). Rescaling any feature leaves the standardised cosine as it is."""
    g = torch.Generator().manual_seed(1)
    n, d = 400, 30
    shared = torch.randn(d, generator=g)
    shared[0] = 0.0
    y = torch.tensor([0, 1] * (n // 2))
    lang = ["a"] * (n // 2) + ["b"] * (n // 2)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    x += y.unsqueeze(-1) * shared
    x[:, 0] *= 1000.0  # a massive feature: huge values and spread
    sign = torch.tensor([1.0 if l == "a" else -1.0 for l in lang])
    x[:, 0] += 1000.0 * 0.3 * y * sign  # its mean difference, 0.3 of its spread, opposite in the two groups
    rows_a, rows_b = torch.arange(n // 2), torch.arange(n // 2, n)
    raw = cosine(diff_in_means(x[rows_a], y[rows_a]), diff_in_means(x[rows_b], y[rows_b]))
    z = x / within_group_std(x, y, lang)
    std = cosine(diff_in_means(z[rows_a], y[rows_a]), diff_in_means(z[rows_b], y[rows_b]))
    assert raw < -0.9 and std > 0.9, (raw, std)
    scaled = x * torch.linspace(0.01, 100.0, d, dtype=torch.float64)
    z2 = scaled / within_group_std(scaled, y, lang)
    again = cosine(diff_in_means(z2[rows_a], y[rows_a]), diff_in_means(z2[rows_b], y[rows_b]))
    torch.testing.assert_close(again, std, rtol=1e-5, atol=1e-6)


def test_standardised_direction_is_diagonal_fisher_and_outscores_the_mean_on_a_massive_feature():
    """(mu_1 - mu_0) / s^2 by hand (s: pooled within-class spread), unit length, stacked layers; on
    data whose one huge feature shifts a little against its own spread, its AUROC beats the plain
    difference of means, which that feature dominates."""
    g = torch.Generator().manual_seed(2)
    n, d = 600, 20
    y = torch.tensor([0, 1] * (n // 2))
    signal = torch.randn(d, generator=g) * 0.6
    x = torch.randn(2, n, d, generator=g, dtype=torch.float64) + y.unsqueeze(-1) * signal
    x[..., 0] = x[..., 0] * 1000.0 + 300.0 * y  # massive: shift 0.3 of its spread, 300 in raw units
    got = standardised_direction(x, y)
    yb = y.bool()
    for layer in range(2):
        xs = x[layer]
        resid = torch.cat([xs[yb] - xs[yb].mean(0), xs[~yb] - xs[~yb].mean(0)])
        s2 = resid.square().sum(0) / (n - 2)
        w = (xs[yb].mean(0) - xs[~yb].mean(0)) / s2
        torch.testing.assert_close(got[layer].double(), w / w.norm(), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(direction_by("standardised", x, y), got)
    held = torch.randn(n, d, generator=g, dtype=torch.float64) + y.unsqueeze(-1) * signal
    held[:, 0] = held[:, 0] * 1000.0 + 300.0 * y
    plain = auroc(held @ diff_in_means(x[0], y).double(), y)
    std = auroc(held @ got[0].double(), y)
    assert std > plain + 0.1 and std > 0.9, (plain, std)
    with pytest.raises(ValueError, match="unknown direction method 'lda'.*'standardised'"):
        direction_by("lda", x, y)
    with pytest.raises(ValueError, match="both classes"):
        standardised_direction(x, torch.zeros(n, dtype=torch.long))
