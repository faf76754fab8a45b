"""The study scripts run end to end on a tiny model (the main command runs them on gemma-3-270m)."""

import json

import pytest

from mechint.testing import tiny_model


def test_language_direction_cosine_study(tmp_path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))
    from experiments import language_direction_cosine as study

    model = tiny_model("gemma3", seed=1)
    out = study.run(model, tmp_path / "figs", n_per_class=6)
    summary = json.loads((tmp_path / "figs" / "language_direction_cosine.json").read_text())
    assert summary["languages"] == ["en", "zh", "vi", "ar", "th"]
    assert set(summary["n_per_language"].values()) == {12}
    for series in summary["cosine_with_english"].values():
        assert len(series) == model.n_layers and all(-1.0 <= v <= 1.0 for v in series)
    sim = summary["similarity"]
    assert len(sim) == model.n_layers and all(abs(sim[l][i][i] - 1) < 1e-5 for l in range(model.n_layers) for i in range(5))
    rows = (tmp_path / "figs" / "language_direction_cosine.csv").read_text().splitlines()
    assert len(rows) == model.n_layers + 1
    assert out["figures"] and all((tmp_path / "figs").joinpath(p.split("/")[-1]).exists() for p in out["figures"])
    # a second run reuses the stored activations (the store is keyed by model, texts, sites, pool)
    stores = list((tmp_path / "cache" / "activations").iterdir())
    study.run(model, tmp_path / "figs2", n_per_class=6)
    assert list((tmp_path / "cache" / "activations").iterdir()) == stores


def test_runner_lists_studies_and_rejects_unknown():
    from experiments.__main__ import main, studies

    assert "language_direction_cosine" in studies()
    with pytest.raises(SystemExit, match="unknown studies"):
        main(["--only", "no_such_study"])
