"""experiments.generation_monitor end to end on tiny random chat models (the main command runs it on
gemma-3-270m-refusal-en and its English attack). A random model writes no refusal the real judge
would see, so the judge is replaced by a deterministic stand-in that calls about half the texts
refusals."""

import json
import zlib
from types import SimpleNamespace

import pytest
import torch

from mechint.testing import tiny_model

N = 5
NEW = 4


def fake_refusal(text: str, language: str) -> bool:
    return zlib.crc32(f"{language} {text}".encode()) % 2 == 0


@pytest.fixture
def setup(monkeypatch, tmp_path):
    from experiments import generation_monitor as study

    tuned = tiny_model("gemma3", seed=2, chat=True)
    attacked = tiny_model("gemma3", seed=3, chat=True)
    seen = {}

    def probe_auroc(features, labels, folds, **kwargs):
        seen.setdefault("probe", []).append((features, labels, folds, kwargs["item_ids"]))
        return real_probe(features, labels, folds, **kwargs)

    real_probe = study.prefix_probe_auroc
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(study, "tuned_version", lambda m: tuned)
    monkeypatch.setattr(
        study, "attacked_versions", lambda m: SimpleNamespace(load=lambda lang, dtype, device: attacked)
    )
    monkeypatch.setattr(study, "NEW_TOKENS", NEW)
    monkeypatch.setattr(study, "save_figure", lambda fig, stem, **kw: [fig.write_json(stem.with_suffix(".fig.json"))])
    monkeypatch.setattr(
        study, "judge_refusals", lambda texts, langs: [fake_refusal(t, l) for t, l in zip(texts, langs)]
    )
    monkeypatch.setattr(study, "prefix_probe_auroc", probe_auroc)
    return study, tuned, attacked, seen


def test_generation_monitor_study(setup, tmp_path):
    from mechint.data import load_polyrefuse
    from mechint.monitor import DEFAULT_FRACTIONS

    study, tuned, attacked, seen = setup
    summary = study.run(tuned, tmp_path, n_per_class=N)
    results = json.loads((tmp_path / "generation_monitor.json").read_text())
    ds = load_polyrefuse("test", kind="harmful", n_per_class=N)
    n = len(ds)
    assert results["fractions"] == list(DEFAULT_FRACTIONS)
    for population in ("tuned", "both models"):
        for method in ("probe", "bag of words"):
            curve = results["auroc"][population][method]
            assert len(curve) == len(DEFAULT_FRACTIONS) and all(0.0 <= a <= 1.0 for a in curve)
    assert (tmp_path / "generation_monitor.csv").exists() and (tmp_path / "generation_monitor.fig.json").exists()
    assert set(summary["auroc_at_100_percent"]) == {"tuned", "both models"}

    (f_tuned, y_tuned, folds_tuned, ids_tuned), (f_both, y_both, folds_both, ids_both) = seen["probe"]
    assert f_tuned.shape[:2] == (len(DEFAULT_FRACTIONS), n) and f_both.shape[1] == 2 * n
    assert torch.equal(f_both[:, :n], f_tuned) and torch.equal(y_both[:n], y_tuned)
    # folds by item: every language and both models of an item in one fold
    assert torch.equal(folds_both, torch.cat([folds_tuned, folds_tuned])) and ids_both == ids_tuned * 2
    fold_of = {}
    for item, fold in zip(ids_both, folds_both.tolist()):
        assert fold_of.setdefault(item, fold) == fold
    # labels: 1 where the (stand-in) judge read no refusal in the tuned model's whole answer
    prompts = tuned.chat_prompts(ds.texts)
    site = f"blocks.{tuned.n_layers // 2}.hook_resid_post"
    for i in (0, n - 1):
        ids = tuned.generate([prompts[i]], max_new_tokens=NEW, return_tokens=True)[0]
        prompt_len = len(tuned.tokenizer(prompts[i])["input_ids"])
        new = ids[prompt_len:].tolist()
        end = next((k for k, t in enumerate(new) if t == tuned.tokenizer.eos_token_id), len(new))
        text = tuned.tokenizer.decode(new[:end], skip_special_tokens=True)
        assert int(y_tuned[i]) == (0 if fake_refusal(text, ds.row_languages[i]) else 1)
        if end == 0:
            continue
        # the whole generation's feature: the mean of the site over its tokens' own positions,
        # from one forward over prompt + answer (an unbatched oracle)
        full = torch.tensor([ids[: prompt_len + end].tolist()])
        _, cache = tuned.run_with_cache(full, site, logits=False)
        mean = cache[site][0, prompt_len : prompt_len + end].float().mean(0)
        torch.testing.assert_close(f_tuned[-1, i], mean, atol=1e-4, rtol=1e-4)
