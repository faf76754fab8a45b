"""The three probe studies run end to end on a tiny model (the main command runs them on gemma-3-270m)."""

import json

from mechint.testing import tiny_model


def test_probe_studies_write_figures_and_numbers(tmp_path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))
    from experiments import probe_early, probe_layers, probe_transfer
    from mechint import plots

    def html_only(fig, stem, **kw):  # PNG export (a browser per figure) is tested in test_plots
        return plots.save_figure(fig, stem, formats=(), html=True)

    for study in (probe_early, probe_layers, probe_transfer):
        monkeypatch.setattr(study, "save_figure", html_only)
    model = tiny_model("gemma3", seed=1)
    figs = tmp_path / "figs"
    out1 = probe_layers.run(model, figs, n_per_class=10)
    layers = json.loads((figs / "probe_layers.json").read_text())
    assert layers["languages"] == ["en", "zh", "vi", "ar", "th"]
    acc = layers["metrics"]["accuracy"]
    assert len(acc) == model.n_layers and len(acc[0]) == 5 and len(acc[0][0]) == 5
    assert all(0.0 <= v <= 1.0 for layer in acc for row in layer for v in row)
    assert layers["metrics"]["positive_class"] == "1 (harmful)"
    assert set(layers["best_layer"]) == set(layers["languages"])
    nested = layers["best_layer"]["zh"]["trained_on_en"]["nested"]
    assert len(nested["layer_per_fold"]) == 5 and all(k in range(model.n_layers) for k in nested["layer_per_fold"])
    assert 0.0 <= nested["accuracy"] <= 1.0
    rows = (figs / "probe_layers.csv").read_text().splitlines()
    assert len(rows) == 1 + model.n_layers * (1 + 2 * 4)  # en once, every other language twice

    out2 = probe_transfer.run(model, figs, n_per_class=10)
    transfer = json.loads((figs / "probe_transfer.json").read_text())
    assert transfer["best_layer"] in range(model.n_layers)
    assert len(transfer["at_best_layer"]["accuracy"]) == 5
    assert len(transfer["nested"]["layer_per_fold"]) == 5 and len(transfer["nested"]["accuracy"]) == 5

    out3 = probe_early.run(model, figs, n_per_class=10)
    early = json.loads((figs / "probe_early.json").read_text())
    assert early["fractions"][-1] == 1.0 and set(early["auroc_at"]) == {"0.25", "0.5", "1.0"}
    assert set(early["auroc_at"]["0.5"]) == {"en", "zh", "vi", "ar", "th"}
    assert early["sentences"]["zh"]["harmful"]["mean_sentences"] >= 1
    assert set(early["layer_per_fold"]) == {"0", "1", "2", "3", "4"}
    assert sorted(set(early["layer_per_fold"].values())) == out3["layers"]
    for out in (out1, out2, out3):
        assert out["figures"] and all((figs / p.split("/")[-1]).exists() for p in out["figures"])
    # the studies share one activation collection (the store of the direction study: same sites, pool, texts)
    assert len(list((tmp_path / "cache" / "activations").iterdir())) == 1
