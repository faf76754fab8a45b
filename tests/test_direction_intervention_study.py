"""The direction_intervention study leaves the BOS token alone.

Every prompt's BOS token is the same attention sink that all later tokens read, and its residual is
large and has a large projection on the harmfulness direction (gemma-3-270m, layer 7: norm ~69k,
projection ~35k); ablating or adding the direction there changes what every token reads, whatever
the prompt says. The study intervenes at every token but BOS, as neurons_editing does.
"""

import json

import torch

from mechint.testing import tiny_model


def test_direction_intervention_study_leaves_bos_untouched(tmp_path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))
    from experiments import direction_intervention as study

    model = tiny_model("llama", seed=2)
    sites = [f"blocks.{l}.hook_resid_post" for l in range(model.n_layers)]
    # BOS's residual depends on nothing after it: the same in every prompt, padded or not
    _, plain = model.run_with_cache(["a"], sites)
    bos = {s: plain[s][0, 0].float() for s in sites}
    checked: dict[str, int] = {}
    missed: list[str] = []
    real = study.intervene

    def spy(model_, *interventions):
        kinds = "+".join(type(i).__name__ for i in interventions)
        written = sorted({site.name for i in interventions for site, _ in i.hooks(model_)})

        def check(x, ctx):  # runs after the interventions' writes at the same site
            if ctx.offset:  # a generation step after the prompt: BOS is not in this call
                return
            # each row has a column equal to the plain BOS residual (wherever left padding put it)
            same = torch.isclose(x.float(), bos[ctx.site.name], rtol=1e-4, atol=1e-4).all(-1).any(-1)
            checked[kinds] = checked.get(kinds, 0) + 1
            if not bool(same.all()):
                missed.append(f"{kinds} at {ctx.site.name}: {int((~same).sum())} of {x.shape[0]} rows")

        return real(model_, *interventions, *[(s, check) for s in written])

    monkeypatch.setattr(study, "intervene", spy)
    study.run(model, tmp_path / "figs", n_per_class=8)
    assert not missed, missed[:5]
    assert checked.get("AblateDirection", 0) > 0 and checked.get("AddDirection", 0) > 0, checked
    summary = json.loads((tmp_path / "figs" / "direction_intervention.json").read_text())
    assert "BOS" in summary["ablation"]["where"] and "BOS" in summary["steering"]["where"]
    # the probe reading: shares in [0, 1] for the unsteered harmless and harmful prompts and each alpha
    called = summary["steering"]["probe_readout"]["called_harmful[language]"]
    assert set(called) == {"en", "zh", "vi", "ar", "th"}
    expected = {"harmless, unsteered", "harmful, unsteered", *[f"harmless, steered alpha {a}" for a in study.ALPHAS]}
    assert all(set(v) == expected and all(0.0 <= x <= 1.0 for x in v.values()) for v in called.values())
