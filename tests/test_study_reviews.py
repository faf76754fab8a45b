"""Findings of a review of the studies, each pinned by a test: the English ceiling of
``language_direction_cosine`` is at the full sample size of the directions it is compared with, and
the ``separation`` numbers of ``patching_minimal_pairs`` are labelled in the axis order they have."""

from __future__ import annotations

import json

import pytest
import torch

from mechint.directions import cosine
from mechint.testing import tiny_model


def _quick_save(tmp_path):
    def save(fig, stem, **kwargs):  # figure structure is tested elsewhere; skip the PNG export
        path = tmp_path / "figs" / (stem.name + ".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.write_json(path)
        return [path]

    return save


def _two_classes(n: int, signal: torch.Tensor, scales: torch.Tensor, gen: torch.Generator, laplace: bool):
    """``[layer, 2n, d]`` rows (n harmful, then n harmless) whose class means differ by ``signal[l]`` squared
    length along the first axis, with independent noise of per-axis scale ``scales`` (Gaussian or
    Laplace), and their labels."""
    layers, d = signal.numel(), scales.numel()

    def noise():
        z = torch.randn(layers, n, d, generator=gen, dtype=torch.float64)
        if laplace:  # unit-variance Laplace, from two exponentials
            e = -torch.rand(2, layers, n, d, generator=gen, dtype=torch.float64).log()
            z = (e[0] - e[1]) / 2**0.5
        return z * scales

    harmful = noise()
    harmful[:, :, 0] += signal.sqrt()[:, None]
    return torch.cat([harmful, noise()], 1).float(), torch.tensor([1] * n + [0] * n)


@pytest.mark.parametrize("noise", ["isotropic", "anisotropic", "laplace"])
def test_english_ceiling_is_the_cosine_of_two_full_n_directions(noise):
    """The ceiling estimated from one sample of n items per class is the cosine expected between two
    directions each from n items (measured on fresh samples); the raw split-half cosine, from n/2
    items per direction, is well below it. Holds for isotropic, anisotropic and heavy-tailed noise."""
    from experiments.language_direction_cosine import full_n_ceiling

    gen = torch.Generator().manual_seed(0)
    n, d = 40, 32
    scales = (
        torch.ones(d, dtype=torch.float64)
        if noise != "anisotropic"
        else torch.logspace(-1, 0.5, d, dtype=torch.float64)
    )
    scales = scales / scales.pow(2).mean().sqrt()  # summed variance d per class
    v = 2 * d / n  # noise of a difference of means from n items per class
    signal = torch.tensor([1.0, 4.0]) * v  # first-order cosines at n: 0.5 and 0.8; at n/2: 0.33 and 0.67
    laplace = noise == "laplace"

    def direction(x, y):
        x = x.double()
        return x[:, y == 1].mean(1) - x[:, y == 0].mean(1)

    pairs = [
        (_two_classes(n, signal, scales, gen, laplace), _two_classes(n, signal, scales, gen, laplace))
        for _ in range(200)
    ]
    truth = torch.stack([cosine(direction(*a), direction(*b)) for a, b in pairs]).mean(0)  # [layer]
    estimates = [full_n_ceiling(*_two_classes(n, signal, scales, gen, laplace), n_splits=20) for _ in range(100)]
    ceiling = torch.stack([e["ceiling"] for e in estimates]).mean(0)
    split_half = torch.stack([e["split_half"] for e in estimates]).mean(0)
    # measured over 200 samples: within 0.02 of the truth at 0.5, 0.01 at 0.8 (a small second-order bias)
    assert (ceiling - truth).abs().max() < 0.04, (ceiling, truth)
    assert (truth - split_half).min() > 0.1, (split_half, truth)  # what the ceiling used to be: biased low


def test_spearman_brown_and_split_halves():
    from experiments.language_direction_cosine import _noise_ratio, spearman_brown, split_half_cosines

    r = torch.tensor([-0.3, 0.0, 0.5, 0.9, 1.0])
    torch.testing.assert_close(spearman_brown(r), torch.tensor([0.0, 0.0, 2 / 3, 1.8 / 1.9, 1.0]))
    torch.testing.assert_close(spearman_brown(torch.tensor(0.5), 3.0), torch.tensor(0.75))
    # halves of 157 of 315 items per class have 315/157 times the noise of all 315
    assert _noise_ratio([1] * 315 + [0] * 315, 0.5, 1.0) == pytest.approx(315 / 157)
    assert _noise_ratio([1] * 6 + [0] * 8, 0.5, 1.0) == pytest.approx(2.0)
    assert _noise_ratio([1] * 8 + [0] * 8, 0.25, 0.5) == pytest.approx(2.0)
    # identical rows within each class: every half has the same direction
    x = torch.cat([torch.ones(2, 6, 5), torch.zeros(2, 7, 5)], 1)
    x[1, :6, 1] = 3.0
    y = torch.tensor([1] * 6 + [0] * 7)
    torch.testing.assert_close(split_half_cosines(x, y, n_splits=4), torch.ones(4, 2))
    with pytest.raises(ValueError, match="too few rows"):
        split_half_cosines(x[:, 5:], y[5:], fraction=0.5)  # one harmful row cannot make two halves
    with pytest.raises(ValueError, match="fraction"):
        split_half_cosines(x, y, fraction=0.6)


def test_language_direction_cosine_writes_the_full_n_ceiling(tmp_path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))
    from experiments import language_direction_cosine as study

    monkeypatch.setattr(study, "save_figure", _quick_save(tmp_path))
    model = tiny_model("gemma3", seed=1)
    out = study.run(model, tmp_path / "figs", n_per_class=6)
    summary = json.loads((tmp_path / "figs" / "language_direction_cosine.json").read_text())
    block = summary["english_ceiling[layer]"]
    ceiling = torch.tensor(block["ceiling (full n)"])
    half = torch.tensor(block["split_half_mean (n/2, uncorrected)"])
    assert len(ceiling) == model.n_layers and "Spearman-Brown" in block["method"]
    assert block["k"] == 2.0  # 3 of 6 items per class in each half
    torch.testing.assert_close(ceiling, study.spearman_brown(half), atol=2e-6, rtol=0)
    assert (ceiling >= half - 1e-6).all()
    assert summary["cosine_with_english"][study.CEILING] == block["ceiling (full n)"]
    assert "en (two halves of the items)" not in summary["cosine_with_english"]
    rel = summary["reliability_at_full_n[language][layer]"]
    assert set(rel) == {"en", "zh", "vi", "ar", "th"} and rel["en"] == block["ceiling (full n)"]
    pairwise = summary["ceiling_per_language[language][layer]"]
    assert set(pairwise) == {"what", "zh", "vi", "ar", "th"}
    for lang in ("zh", "vi", "ar", "th"):
        expected = (torch.tensor(rel["en"]) * torch.tensor(rel[lang])).sqrt()
        torch.testing.assert_close(torch.tensor(pairwise[lang]), expected, atol=2e-6, rtol=0)
    assert out["english_ceiling_last_layer"] == round(block["ceiling (full n)"][-1], 4)
    header = (tmp_path / "figs" / "language_direction_cosine.csv").read_text().splitlines()[0]
    assert study.CEILING in header
    # the standardised comparison: the directions of activations divided by the pooled within-group
    # spread, recomputed here by hand for one language
    from experiments._common import safety_activations
    from mechint.directions import cosine, diff_in_means, within_group_std

    std = summary["standardised"]
    assert set(std["cosine_with_english"]) == {"zh", "vi", "ar", "th", study.CEILING}
    sa = safety_activations(model, n_per_class=6)
    z = sa.acts / within_group_std(sa.acts, sa.labels, sa.languages).unsqueeze(-2)
    en = torch.tensor([l == "en" for l in sa.languages])
    vi = torch.tensor([l == "vi" for l in sa.languages])
    by_hand = cosine(diff_in_means(z[:, en], sa.labels[en]), diff_in_means(z[:, vi], sa.labels[vi]))
    torch.testing.assert_close(torch.tensor(std["cosine_with_english"]["vi"]), by_hand, atol=2e-6, rtol=0)
    big = summary["massive_feature"]
    assert len(big["feature[layer]"]) == model.n_layers
    assert all(0 <= v <= 1 for v in big["share_of_direction[language][layer]"]["zh"])
    assert (tmp_path / "figs" / "language_direction_cosine_standardised.csv").exists()


def test_patching_separation_is_labelled_language_then_layer(tmp_path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))
    from experiments import patching_minimal_pairs as study

    monkeypatch.setattr(study, "save_figure", _quick_save(tmp_path))
    model = tiny_model("gemma3", seed=1)
    study.run(model, tmp_path / "figs", languages=["en", "zh", "de"], n_per_class=4)
    summary = json.loads((tmp_path / "figs" / "patching_minimal_pairs.json").read_text())
    keys = [k for k in summary if k.startswith("separation")]
    assert len(keys) == 1 and keys[0].startswith("separation[language][layer]") and keys[0] == study.SEPARATION_KEY
    separation = summary[study.SEPARATION_KEY]
    assert list(separation) == list(summary["languages"])
    for lang, info in summary["languages"].items():
        assert len(separation[lang]) == model.n_layers
        # the last layer along the last layer's direction is the patching metric's own harmful - harmless
        expected = info["harmful_minus_harmless_score_mean (class gaps)"]
        assert separation[lang][-1] == pytest.approx(expected, abs=2e-4 + 1e-3 * abs(expected))
