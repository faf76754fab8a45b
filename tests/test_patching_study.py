"""The patching study runs end to end on a tiny model (the main command runs it on gemma-3-270m)."""

from __future__ import annotations

import json

from mechint.testing import tiny_model


def test_patching_minimal_pairs_study(tmp_path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))
    from experiments import patching_minimal_pairs as study

    def quick_save(fig, stem, **kwargs):  # figure structure is tested elsewhere; skip the PNG export
        path = tmp_path / "figs" / (stem.name + ".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.write_json(path)
        return [path]

    monkeypatch.setattr(study, "save_figure", quick_save)
    model = tiny_model("gemma3", seed=1)
    out = study.run(model, tmp_path / "figs", languages=["en", "zh", "de"], n_per_class=4)
    summary = json.loads((tmp_path / "figs" / "patching_minimal_pairs.json").read_text())
    # the byte tokenizer keeps only pairs whose two sentences have the same number of bytes
    assert set(summary["languages"]) == {"en", "zh", "de"} and summary["dropped_pairs"]
    for info in summary["languages"].values():
        assert len(info["effect_by_role[layer][role] (class gaps)"]) == model.n_layers
        assert -1 <= info["attribution_vs_exact"]["pearson"] <= 1
    names = {p.split("/")[-1] for p in out["figures"]}
    assert {f"patching_minimal_pairs_{l}.json" for l in ("en", "zh", "de")} <= names
    assert {
        "patching_minimal_pairs_average.json",
        "patching_minimal_pairs_attribution.json",
        "patching_minimal_pairs_separation.json",
    } <= names
    rows = (tmp_path / "figs" / "patching_minimal_pairs.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 * model.n_layers  # three languages and the mean
