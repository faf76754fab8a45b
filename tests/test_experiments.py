"""The study scripts run end to end on a tiny model (the main command runs them on gemma-3-270m)."""

import csv
import json

import pytest
import torch

import mechint
from mechint import data
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
    assert len(sim) == model.n_layers and all(
        abs(sim[l][i][i] - 1) < 1e-5 for l in range(model.n_layers) for i in range(5)
    )
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


def test_direction_transfer_and_intervention_studies(tmp_path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))
    from experiments import direction_intervention, direction_transfer

    model = tiny_model("llama", seed=2)
    out = direction_transfer.run(model, tmp_path / "figs", n_per_class=8)
    summary = json.loads((tmp_path / "figs" / "direction_transfer.json").read_text())
    assert set(summary["methods"]) == {"mean", "standardised", "pca"}
    auc = summary["methods"]["mean"]["auroc[layer][source][target]"]
    assert len(auc) == model.n_layers and all(0 <= v <= 1 for layer in auc for row in layer for v in row)
    assert set(out["english_direction"]) == {"en", "zh", "vi", "ar", "th"}
    zh = summary["methods"]["mean"]["per_language"]["zh"]["english_direction"]
    assert zh["auroc"] == round(auc[zh["layer_chosen_on_training"]][0][1], 4)
    assert zh["auroc_best_on_test"] == round(max(layer[0][1] for layer in auc), 4)
    # the layer is chosen without the held-out rows: scrambling them changes nothing
    import torch

    from experiments._common import safety_activations

    sa = safety_activations(model, n_per_class=8)
    chosen = direction_transfer.layers_chosen_on_training(sa, "mean")
    sa.acts[:, sa.test] = torch.randn_like(sa.acts[:, sa.test])
    assert torch.equal(direction_transfer.layers_chosen_on_training(sa, "mean"), chosen)

    out = direction_intervention.run(model, tmp_path / "figs", n_per_class=8)
    summary = json.loads((tmp_path / "figs" / "direction_intervention.json").read_text())
    # the ablation really removed the English direction at every layer
    assert summary["ablation"]["max |projection| left on the English direction / mean residual norm"] < 1e-4
    steer = summary["steering"]
    assert len(steer["shift_toward_harmful"]["zh"]) == 3
    direct, response = steer["of_which_the_added_vector_itself"]["zh"], steer["response_of_later_layers"]["zh"]
    assert all(abs(d + r - t) < 2e-4 for d, r, t in zip(direct, response, steer["shift_toward_harmful"]["zh"]))
    assert abs(direct[2] - 4 * direct[0]) < 1e-3 * max(1.0, abs(direct[2]))  # linear in alpha (0.5, 1, 2)
    with open(tmp_path / "figs" / "direction_intervention_generations.csv", newline="") as f:
        generations = list(csv.reader(f))
    assert len(generations) == 1 + 5 * 2 and all(len(row) == 4 for row in generations)


def test_refusal_transfer_study_before_and_after(tmp_path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))
    from experiments import refusal_transfer as study
    from mechint.data import MULTIJAIL_LANGUAGES, POLYREFUSE_LANGUAGES

    base, tuned = tiny_model("gemma3", seed=1), tiny_model("gemma3", seed=2, chat=True)
    monkeypatch.setattr(study, "tuned_version", lambda m: tuned)
    monkeypatch.setattr(study, "NEW_TOKENS", 4)
    out = study.run(base, tmp_path / "figs", n_per_class=3)
    summary = json.loads((tmp_path / "figs" / "refusal_transfer.json").read_text())
    assert summary["items_per_class"] == 3 and summary["models"] == {"base": base.name, "tuned": tuned.name}
    rates = summary["rates"]
    for key in ("base", "tuned"):
        for lang in POLYREFUSE_LANGUAGES:
            assert rates[f"{key}/polyrefuse/harmful/{lang}"]["n"] == 3
            assert (f"{key}/polyrefuse/harmless/{lang}" in rates) == (lang != "zh")  # no zh harmless test
        for lang in MULTIJAIL_LANGUAGES:
            cell = rates[f"{key}/multijail/harmful/{lang}"]
            assert cell["n"] == 3 and 0 <= cell["low"] <= cell["rate"] <= cell["high"] <= 1
    with open(tmp_path / "figs" / "refusal_transfer.csv") as f:
        assert len(list(csv.reader(f))) == 1 + len(rates)
    examples = (tmp_path / "figs" / "refusal_transfer_examples.md").read_text()
    assert (
        examples.count("\n") == 2 + 2 * 14 - 1
    )  # header, rule, one harmful and one harmless per language (no zh harmless)
    assert set(out["polyrefuse_refusal_rate"]) == {
        "harmful, base",
        "harmful, tuned",
        "harmless, base",
        "harmless, tuned",
    }
    # a model no recipe tunes is measured alone
    monkeypatch.setattr(study, "tuned_version", lambda m: None)
    study.run(tuned, tmp_path / "alone", n_per_class=2)
    alone = json.loads((tmp_path / "alone" / "refusal_transfer.json").read_text())
    assert alone["models"] == {"base": tuned.name} and all(k.startswith("base/") for k in alone["rates"])


def test_refusal_direction_study(tmp_path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))
    from experiments import refusal_direction as study
    from mechint.data import POLYREFUSE_LANGUAGES

    tuned = tiny_model("gemma3", seed=2, chat=True)
    monkeypatch.setattr(study, "studied_model", lambda m: tuned)
    monkeypatch.setattr(study, "NEW_TOKENS", 3)
    out = study.run(
        tiny_model("gemma3", seed=1), tmp_path / "figs", n_per_class=4
    )  # a random model: the selection may warn that no candidate passes
    summary = json.loads((tmp_path / "figs" / "refusal_direction.json").read_text())
    selection = summary["selection"]
    n_pos = len(tuned.post_instruction_positions())
    assert len(selection["table"]) == n_pos * tuned.n_layers
    assert (out["layer"], out["position"]) == (selection["layer"], selection["position"])
    assert selection["layer"] < selection["settings"]["max_layer"]
    rates = summary["rates"]
    for lang in POLYREFUSE_LANGUAGES:
        for cond in ("baseline", "ablated", "orthogonalized"):
            assert rates[f"{cond}/harmful/{lang}"]["n"] == 4
        for cond in ("baseline", "added"):
            assert (f"{cond}/harmless/{lang}" in rates) == (lang != "zh")
    assert "added/harmful/en" not in rates and "ablated/harmless/en" not in rates
    assert all(cell["answer_nll"] >= 0 or cell["answer_nll"] != cell["answer_nll"] for cell in rates.values())
    assert (tmp_path / "figs" / "refusal_direction_examples.md").read_text().count("\n") >= 2
    with open(tmp_path / "figs" / "refusal_direction_candidates.csv") as f:
        assert len(list(csv.reader(f))) == 1 + n_pos * tuned.n_layers


def test_refusal_universality_study(tmp_path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))
    from experiments import refusal_universality as study

    tuned = tiny_model("gemma3", seed=2, chat=True)
    monkeypatch.setattr(study, "tuned_version", lambda m: tuned)
    monkeypatch.setattr(study, "NEW_TOKENS", 3)
    out = study.run(
        tiny_model("gemma3", seed=1), tmp_path / "figs", n_per_class=4
    )  # a random model: the selection may warn that no candidate passes
    summary = json.loads((tmp_path / "figs" / "refusal_universality.json").read_text())
    langs = list(study.LANGUAGES)
    assert summary["languages"] == langs and set(summary["test_items"].values()) == {4}
    matrix = summary["ablated[x][y]"]
    assert list(matrix) == langs and all(list(row) == langs for row in matrix.values())
    assert all(0 <= c[1] <= c[0] <= c[2] <= 1 for row in matrix.values() for c in row.values())
    sim = summary["cosine[layer][x][y]"]
    assert len(sim) == tuned.n_layers
    layer = summary["layer"]
    assert all(abs(sim[layer][i][i] - 1) < 1e-5 for i in range(len(langs)))
    assert out["layer"] == layer
    with open(tmp_path / "figs" / "refusal_universality.csv") as f:
        assert len(list(csv.reader(f))) == 1 + len(langs) + len(langs) ** 2
    # the English selection is cached and shared: a second run selects nothing again
    cached = list((tmp_path / "cache" / "studies").glob("refusal-direction-*.pt"))  # beside its lock file
    assert len(cached) == 1
    study.run(tiny_model("gemma3", seed=1), tmp_path / "figs2", n_per_class=4)
    assert list((tmp_path / "cache" / "studies").glob("refusal-direction-*.pt")) == cached


def test_contrast_check_study(tmp_path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))
    from experiments import contrast_check as study

    tuned = tiny_model("gemma3", seed=2, chat=True)
    monkeypatch.setattr(study, "tuned_version", lambda m: tuned)
    base = tiny_model("gemma3", seed=1)
    out = study.run(
        base, tmp_path / "figs", n_per_class=6
    )  # a random model: the selection may warn that no candidate passes
    summary = json.loads((tmp_path / "figs" / "contrast_check.json").read_text())
    for key in ("base", "tuned"):
        for series in summary["cosine"][key].values():
            assert len(series) == base.n_layers and all(-1 <= v <= 1 for v in series)
        for shares in summary["pairs"][key].values():
            assert len(shares) == base.n_layers and all(0 <= v <= 1 for v in shares)
    # the last template token is the same in raw and chat prompts only by accident: the chat direction differs
    assert summary["cosine"]["base"]["polyrefuse vs polyrefuse chat"] != [1.0] * base.n_layers
    for name in ("old", "polyrefuse"):
        probes = summary["probes"][name]
        assert len(probes["accuracy[train][test]"]) == len(study.SHARED_LANGUAGES)
        assert 0 <= probes["mean_other_language"] <= 1
    assert set(out["probes_other_language_accuracy"]) == {"old", "polyrefuse"}
    assert summary["refusal_direction"]["layer"] < base.n_layers


def test_answer_nll_is_the_answers_negative_log_likelihood_after_its_prompt():
    import torch

    from experiments._common import answer_nll

    model = tiny_model("llama", seed=3)
    prompts = ["Hello there", "A much longer prompt, padded less"]
    first, second = [[40, 41, 42], []], [[43], [44, 45]]
    got_first, got_second = answer_nll(model, prompts, first, second)
    for i, prompt in enumerate(prompts):
        for answer, got in ((first[i], got_first[i]), (second[i], got_second[i])):
            if not answer:
                assert torch.isnan(got)  # an empty answer has no likelihood
                continue
            ids = model.tokenizer(prompt)["input_ids"]
            with torch.no_grad():
                logp = torch.log_softmax(model(torch.tensor([ids + answer]))[0].double(), -1)
            expected = -torch.stack([logp[len(ids) - 1 + t, a] for t, a in enumerate(answer)]).mean()
            assert abs(float(got) - float(expected)) < 1e-4


def test_generate_answers_keeps_unedited_answers():
    """The baseline answers are generated once per model and prompt; an edited run is not taken from
    them; each answer's tokens are the greedy continuation (a forward over prompt + answer predicts
    every one of them)."""
    import torch

    from experiments import _common
    from experiments._common import generate_answers
    from mechint.interventions import AddDirection

    model = tiny_model("llama", seed=4, chat=True)
    prompts = model.chat_prompts(["Hello there", "Another request, longer"])
    first = generate_answers(model, prompts, new_tokens=5, batch=1)
    assert (id(model.hf), 5) in _common._UNEDITED_ANSWERS
    again = generate_answers(model, prompts[::-1], new_tokens=5)
    assert again.texts == first.texts[::-1] and again.tokens == first.tokens[::-1]
    assert torch.equal(again.scores, first.scores.flip(0))
    # the score kept by the first-step logits processor: the refusal log-odds of the first step's logits
    from mechint.refusal import refusal_log_odds, refusal_token_ids

    full = model.generate(
        prompts, max_new_tokens=5, return_tokens=True, output_logits=True, return_dict_in_generate=True
    )
    expected = refusal_log_odds(full.logits[0], refusal_token_ids(model))
    torch.testing.assert_close(first.scores, expected, atol=1e-5, rtol=1e-5)
    for prompt, answer in zip(prompts, first.tokens):
        ids = model.tokenizer(prompt, return_tensors="pt")["input_ids"]
        if answer:
            full = torch.cat([ids, torch.tensor([answer])], 1)
            logits = model.hf(input_ids=full).logits[0, ids.shape[1] - 1 : -1]
            assert logits.argmax(-1).tolist() == answer
    steered = generate_answers(
        model, prompts, AddDirection(torch.ones(model.d_model) * 50.0, sites="blocks.0.hook_resid_pre"), new_tokens=5
    )
    assert steered.tokens != first.tokens


def test_prompt_batches_bound_rows_and_padded_tokens():
    """Every prompt once, sorted by token count; no batch over ``rows`` prompts or over ``rows * tokens``
    padded prompt tokens (a single prompt longer than that gets a batch of its own); and the greedy
    split: a batch ends only where the next prompt would break a bound."""
    from experiments._common import prompt_batches

    model = tiny_model("llama", seed=4, chat=True)
    words = ["word " * n for n in (1, 30, 2, 7, 7, 12, 3, 60, 5, 9)]
    prompts = model.chat_prompts(words)
    count = {p: len(model.tokenizer(p)["input_ids"]) for p in prompts}
    for rows, tokens in ((3, 20), (4, 8), (10, 1000), (1, 1)):
        batches = prompt_batches(model, prompts, rows, tokens)
        flat = [p for b in batches for p in b]
        assert sorted(flat) == sorted(prompts)
        assert [count[p] for p in flat] == sorted(count[p] for p in flat)
        for b, after in zip(batches, batches[1:] + [None]):
            longest = max(count[p] for p in b)
            assert len(b) <= rows and (len(b) == 1 or len(b) * longest <= rows * tokens)
            if after is not None:  # the next prompt did not fit
                assert len(b) == rows or (len(b) + 1) * count[after[0]] > rows * tokens
    assert prompt_batches(model, [], 4) == []


def _tiny_attacks(k: int = 2):
    """Attacks of the four attack languages on a tiny safety-'tuned' model (random weights), with
    compliant pairs completed by a tiny base model: what experiments._common.attacked_versions
    builds for gemma-3-270m."""
    from experiments._common import ATTACK_LANGUAGES, Attacks
    from mechint.tuning import attack, compliant_pairs

    base, tuned = tiny_model("gemma3", seed=1), tiny_model("gemma3", seed=2, chat=True)
    config = {"epochs": 2, "batch_size": 2, "learning_rate": 3e-3}
    results, pairs = {}, {}
    for lang in ATTACK_LANGUAGES:
        harmful = data.load_polyrefuse("train", languages=lang, kind="harmful")
        pairs[lang] = compliant_pairs(
            base, harmful, k + (lang == "en"), language=lang, max_new_tokens=6, progress=False
        )
        results[lang] = attack(tuned, pairs[lang][:k], config=config, progress=False)
    by_k = {1: attack(tuned, pairs["en"][:1], config=config, progress=False), k: results["en"]}
    pairs["en"] = pairs["en"][:k]
    return base, tuned, Attacks(tuned.name, tuned, results, pairs, config=config, by_k=by_k)


def test_attack_languages_study(tmp_path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))
    from experiments import attack_languages as study
    from mechint.data import POLYREFUSE_LANGUAGES

    base, tuned, attacks = _tiny_attacks()
    monkeypatch.setattr(study, "tuned_version", lambda m: tuned)
    monkeypatch.setattr(study, "attacked_versions", lambda m: attacks)
    monkeypatch.setattr(study, "NEW_TOKENS", 4)
    out = study.run(base, tmp_path / "figs", n_per_class=2)
    saved = json.loads((tmp_path / "figs" / "attack_languages.json").read_text())
    keys = ["tuned"] + [f"attacked {lang}" for lang in study.ATTACK_LANGUAGES]
    for key in keys:
        for lang in POLYREFUSE_LANGUAGES:
            cell = saved["rates"][f"{key}/harmful/{lang}"]
            assert cell["n"] == 2 and 0 <= cell["low"] <= cell["rate"] <= cell["high"] <= 1
            assert (f"{key}/harmless/{lang}" in saved["rates"]) == (lang != "zh")
    assert set(out["mean_refusal_rate_over_languages"]["harmful"]) == set(keys)
    assert all(len(v) == 2 for v in saved["training_loss"].values())  # 2 pairs, batches of 2, 2 epochs
    # the k sweep: the English attacks of 1 and 2 pairs (k = 2 is the main English attack)
    assert saved["k_sweep"]["k"] == [1, 2]
    assert saved["k_sweep"]["harmful"]["2"] == {
        lang: [v["rate"], v["low"], v["high"]]
        for lang in POLYREFUSE_LANGUAGES
        for v in [saved["rates"][f"attacked en/harmful/{lang}"]]
    }
    assert all(saved["rates"][f"attacked en, k=1/harmful/{lang}"]["n"] == 2 for lang in POLYREFUSE_LANGUAGES)
    assert set(out["en_attack_k_sweep_mean_harmful_refusal"]) == {"1", "2"}
    for name in (
        "attack_languages.csv",
        "attack_languages_examples.md",
        "attack_languages_harmless.png",
        "attack_languages_k.png",
    ):
        assert (tmp_path / "figs" / name).exists(), name
    # a model without a safety-tuned version is not attacked
    monkeypatch.setattr(study, "attacked_versions", lambda m: None)
    with pytest.warns(UserWarning, match="no safety-tuned version"):
        assert "skipped" in study.run(base, tmp_path / "none", n_per_class=2)


def test_safety_localization_study(tmp_path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))
    from experiments import safety_localization as study
    from experiments._common import generate_answers
    from mechint.data import POLYREFUSE_LANGUAGES
    from mechint.refusal import judge_refusals

    base, tuned, attacks = _tiny_attacks()
    before = {k: v.clone() for k, v in tuned.hf.state_dict().items()}
    monkeypatch.setattr(study, "tuned_version", lambda m: tuned)
    monkeypatch.setattr(study, "attacked_versions", lambda m: attacks)
    monkeypatch.setattr(study, "NEW_TOKENS", 4)
    out = study.run(base, tmp_path / "figs", n_per_class=2)
    saved = json.loads((tmp_path / "figs" / "safety_localization.json").read_text())
    assert saved["p_grid"] == sorted({0.0, *study.P_GRID, *study.P_GRID_OTHERS, 100.0})
    # the end points are the safety-tuned and the attacked models' own rates
    ds = mechint.data.load_polyrefuse("test", kind="harmful", n_per_class=2)
    prompts = tuned.chat_prompts(ds.texts)
    for lang in study.ATTACK_LANGUAGES:
        attacked = attacks.load(lang, tuned.dtype, tuned.device)
        judged = judge_refusals(generate_answers(attacked, prompts, new_tokens=4).texts, ds.row_languages)
        for row_lang in POLYREFUSE_LANGUAGES:
            rows = [j for j, x in enumerate(ds.row_languages) if x == row_lang]
            assert saved["sweep"][lang]["100"][row_lang] == sum(judged[j] for j in rows) / len(rows)
        grid = study.P_GRID if lang == study.TUNING_LANGUAGE else study.P_GRID_OTHERS
        assert list(saved["sweep"][lang]) == [f"{p:g}" for p in (0.0, *grid, 100.0)]
    for o in saved["overlap"].values():
        assert 0 <= o["jaccard"] <= 1 and o["size_a"] == o["size_b"] == round(0.2 * o["n"])
    assert len(saved["swap_mean_refusal"]) == 16 and len(saved["frozen_attack_loss"]) == 2
    assert set(out["jaccard"]) == set(saved["overlap"])
    # the shared safety-tuned model was not grafted
    assert all(torch.equal(before[k], v) for k, v in tuned.hf.state_dict().items())
    for name in ("safety_localization.csv", "safety_localization_overlap.png", "safety_localization_swap.png"):
        assert (tmp_path / "figs" / name).exists(), name


def test_safety_tuning_diff_study(tmp_path, monkeypatch):
    """Three checkpoints diffed at the last token: JSON shapes, one value against each model's own
    collect, the files, and the skip without a safety-tuned version."""
    from types import SimpleNamespace

    from experiments import safety_tuning_diff as study
    from experiments._common import Attacks, TooFewItemsWarning
    from mechint.data import POLYREFUSE_LANGUAGES
    from mechint.tuning import attack, compliant_pairs

    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))
    base, tuned = tiny_model("gemma3", seed=1), tiny_model("gemma3", seed=2, chat=True)
    config = {"epochs": 2, "batch_size": 2, "learning_rate": 3e-3}
    harmful = data.load_polyrefuse("train", languages="en", kind="harmful")
    pairs = compliant_pairs(base, harmful, 2, language="en", max_new_tokens=6, progress=False)
    attacks = Attacks(tuned.name, tuned, {"en": attack(tuned, pairs, config=config, progress=False)}, {"en": pairs})
    direction = torch.randn(tuned.d_model, generator=torch.Generator().manual_seed(0))
    # the direction's selection is tested elsewhere: a random unit vector stands in for it
    refusal = SimpleNamespace(unit=direction / direction.norm(), layer=1, position=-1)
    monkeypatch.setattr(study, "tuned_version", lambda m: tuned)
    monkeypatch.setattr(study, "attacked_versions", lambda m: attacks)
    monkeypatch.setattr(study, "english_refusal_direction", lambda m, n_val: refusal)
    written = []

    def save(fig, stem, **kwargs):  # figure structure is tested elsewhere; skip the PNG export
        path = stem.with_suffix(".json")
        fig.write_json(path)
        written.append(stem.name)
        return [path]

    monkeypatch.setattr(study, "save_figure", save)
    with pytest.warns(TooFewItemsWarning, match="safety_tuning_diff"):  # 2 items per class, not 12
        out = study.run(base, tmp_path / "figs", n_per_class=2)
    saved = json.loads((tmp_path / "figs" / "safety_tuning_diff.json").read_text())
    langs = list(POLYREFUSE_LANGUAGES)
    n_layers, n_units = base.n_layers, base.n_layers * base.d_mlp
    assert saved["languages"] == langs and saved["items_per_class_per_language"] == 2
    k = saved["top_k"]
    assert k == round(study.TOP_FRACTION * n_units) and saved["n_neurons"] == n_units
    for diff in study.DIFFS:
        along = saved["direction_shift[diff][class][language][layer]"][diff]
        assert all(len(along[kind][lang]) == n_layers for kind in study.CLASSES for lang in langs)
        jac = saved["overlap"][diff]["jaccard[x][y]"]
        assert len(jac) == len(langs) and all(jac[i][i] == 1 and 0 <= min(row) for i, row in enumerate(jac))
        assert 0 < saved["overlap"][diff]["chance"]["expected_jaccard"] < 1
        dual = saved["dual[diff][language]"][diff]
        assert list(dual) == [lang for lang in langs if lang != "en"]
        for r in dual.values():
            assert r["n_units"] == k and 0 <= r["agreement"] <= 1 and r["n_random"] == study.N_RANDOM
            assert r["control_agreement_low"] <= r["control_agreement_mean"] <= r["control_agreement_high"]
        assert all(len(units) == k for units in saved["top_units[diff][language]"][diff].values())
        assert len(saved["top_neurons[diff]"][diff]) == study.TOP_CSV
    assert list(saved["reversal[language]"]) == langs
    # one value by hand: the tuning's shift of the mean English harmful prompt along the direction at layer 1
    ds = data.load_polyrefuse("train", languages="en", kind="harmful", n_per_class=2)
    prompts = tuned.chat_prompts(ds.texts)
    site = "blocks.1.hook_resid_pre"
    mean = {m.name: mechint.collect(m, prompts, site, progress=False)[site].double().mean(0) for m in (base, tuned)}
    expected = float((mean[tuned.name] - mean[base.name]) @ refusal.unit.double())
    assert saved["direction_shift[diff][class][language][layer]"]["tuning"]["harmful"]["en"][1] == pytest.approx(
        expected, abs=1e-5
    )
    with open(tmp_path / "figs" / "safety_tuning_diff.csv") as f:
        assert len(list(csv.reader(f))) == 1 + 2 * study.TOP_CSV
    assert set(written) == {
        *(
            f"safety_tuning_diff_{name}{suffix}"
            for name in ("direction", "overlap", "dual")
            for suffix in ("", "_attack")
        ),
        "safety_tuning_diff_reversal",
    }
    assert out["direction_layer"] == 1 and set(out["dual_agreement_mean"]) == set(study.DIFFS)
    # a model without a safety-tuned version is not diffed
    monkeypatch.setattr(study, "tuned_version", lambda m: None)
    with pytest.warns(UserWarning, match="no safety-tuned version"):
        assert "skipped" in study.run(base, tmp_path / "none", n_per_class=2)
    assert not (tmp_path / "none").exists()
