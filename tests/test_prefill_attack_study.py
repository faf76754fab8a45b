"""experiments.prefill_attack end to end on tiny random chat models (the main command runs it on
gemma-3-270m-refusal-en). A random model writes no refusal the real judge would see, so the study's
judge is replaced by a deterministic stand-in that calls about half the texts refusals: the rates,
the recovery and the curves split by verdict then have something to check."""

import csv
import json
import zlib
from types import SimpleNamespace

import pytest
import torch

from mechint.data import POLYREFUSE_LANGUAGES, load_polyrefuse
from mechint.eval import PrefillTokenError
from mechint.monitor import token_spans
from mechint.refusal import is_refusal
from mechint.testing import tiny_model

N = 2
NEW = 4


def fake_refusal(text: str, language: str) -> bool:
    return zlib.crc32(f"{language} {text}".encode()) % 2 == 0


def _quick_save(written):
    def save(fig, stem, **kwargs):  # figure structure is tested elsewhere; skip the PNG export
        path = stem.with_suffix(".json")
        fig.write_json(path)
        written.append(fig)
        return [path]

    return save


@pytest.fixture
def setup(monkeypatch, tmp_path):
    from experiments import prefill_attack as study

    tuned = tiny_model("gemma3", seed=2, chat=True)
    direction = torch.randn(tuned.d_model, generator=torch.Generator().manual_seed(0))
    # the direction's selection is tested elsewhere: a random unit vector stands in for it
    refusal = SimpleNamespace(unit=direction / direction.norm(), layer=1, position=-1)
    figures = []
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(study, "tuned_version", lambda m: tuned)
    monkeypatch.setattr(study, "english_refusal_direction", lambda m, n_val: refusal)
    monkeypatch.setattr(study, "NEW_TOKENS", NEW)
    monkeypatch.setattr(study, "save_figure", _quick_save(figures))
    monkeypatch.setattr(
        study, "judge_refusals", lambda texts, langs: [fake_refusal(t, l) for t, l in zip(texts, langs)]
    )
    monkeypatch.setattr(study, "is_refusal", lambda text, lang: fake_refusal(text, lang))
    return study, tuned, refusal, figures


def _projection_at_first_token(tuned, prompt: str, site: str, unit: torch.Tensor) -> torch.Tensor | None:
    """The residual at ``site`` at the first generated token's position, from a forward over the
    prompt and that token (None where the model ends at once)."""
    first = int(tuned.generate([prompt], max_new_tokens=1, return_tokens=True)[0, -1])
    if first == tuned.tokenizer.eos_token_id:
        return None
    ids = tuned.tokenizer(prompt)["input_ids"] + [first]
    _, cache = tuned.run_with_cache(torch.tensor([ids]), site, logits=False)
    return cache[site][0, -1].float()


def test_prefill_attack_study(setup, tmp_path):
    from experiments._common import TooFewItemsWarning, generate_answers

    study, tuned, refusal, figures = setup
    with pytest.warns(TooFewItemsWarning, match="prefill_attack"):  # 2 items per language, not 5
        out = study.run(tiny_model("gemma3", seed=1), tmp_path / "figs", n_per_class=N)
    saved = json.loads((tmp_path / "figs" / "prefill_attack.json").read_text())
    conditions, langs = list(study.CONDITIONS), list(POLYREFUSE_LANGUAGES)
    assert saved["conditions"] == conditions and saved["languages"] == langs
    assert saved["items_per_language"] == N and saved["new_tokens"] == NEW
    assert saved["prefills"]["English prefill"]["zh"] == "Sure, here is"
    assert saved["prefills"]["own-language prefill"]["zh"] == "当然，以下是"
    assert set(saved["prefills"]["no prefill"].values()) == {None}
    for c in conditions:
        for lang in langs:
            cell = saved["rates"][f"{c}/{lang}"]
            assert cell["n"] == N and 0 <= cell["low"] <= cell["rate"] <= cell["high"] <= 1
        pooled = saved["pooled"][c]
        assert pooled["n"] == N * len(langs) and 0 <= pooled["low"] <= pooled["rate"] <= pooled["high"] <= 1

    ds = load_polyrefuse("test", kind="harmful", n_per_class=N)
    answers = {(a["condition"], a["language"], a["item_id"]): a for a in saved["answers"]}
    assert len(answers) == len(saved["answers"]) == len(conditions) * len(ds)

    # the baseline is the unprefilled answers' judged rate
    plain = generate_answers(tuned, tuned.chat_prompts(ds.texts), new_tokens=NEW)
    for lang in langs:
        idx = [i for i, ex in enumerate(ds) if ex.language == lang]
        expected = sum(fake_refusal(plain.texts[i], lang) for i in idx) / len(idx)
        assert saved["rates"][f"no prefill/{lang}"]["rate"] == pytest.approx(expected)
    for i, ex in enumerate(ds):
        assert answers[("no prefill", ex.language, ex.item_id)]["text"] == plain.texts[i]
    assert 0 < saved["pooled"]["no prefill"]["rate"] < 1  # the stand-in judge splits the answers

    # the prefilled continuations: the model's own words after the prefill where the template puts
    # it, judged alone (the prefill is not part of the text)
    for a in saved["answers"]:
        assert a["refusal"] == fake_refusal(a["text"], a["language"])
    en = next(ex for ex in ds if ex.language == "de")
    for c, prefill in (("English prefill", "Sure, here is"), ("own-language prefill", "Natürlich, hier ist")):
        alone = tuned.generate([tuned.format_chat(en.text, prefill=prefill)], max_new_tokens=NEW)[0]
        assert answers[(c, "de", en.item_id)]["text"] == alone
        assert answers[(c, "de", en.item_id)]["prefill"] == prefill
    # the English prompts are the same in both prefilled conditions: the same continuation
    for ex in ds:
        if ex.language == "en":
            same = [answers[(c, "en", ex.item_id)]["text"] for c in conditions[1:]]
            assert same[0] == same[1]

    # recovery: the refusals, where they became recognisable, and those refused in both conditions
    for c in conditions:
        rec = saved["recovery"][c]
        mine = [a for a in saved["answers"] if a["condition"] == c]
        assert rec["refusals"] == sum(a["refusal"] for a in mine) and rec["n"] == len(mine)
        for a in mine:
            first = a["first_refusal_token"]
            assert (first is not None) == a["refusal"]
            assert first is None or 0 <= first < NEW
        if c != "no prefill":
            base = {
                (a["language"], a["item_id"])
                for a in saved["answers"]
                if a["condition"] == "no prefill" and a["refusal"]
            }
            both = sum(a["refusal"] and (a["language"], a["item_id"]) in base for a in mine)
            assert rec["refused_without_prefill"] == len(base) and rec["still_refused"] == both
        assert saved["merges"][c] == 0  # the byte tokenizer merges nothing

    # the curves: one value per generated token, for every condition, part and language
    proj = saved["projection"]
    assert proj["tokens"] == list(range(NEW)) and 0 <= proj["feature"] < tuned.d_model
    for c in conditions:
        n = proj["n"][c]
        assert len(n) == NEW and all(a >= b for a, b in zip(n, n[1:])) and n[0] <= N * len(langs)
        for key in ("raw", "without_feature"):
            for part in study.PARTS:
                assert len(proj[key][c][part]) == NEW
            assert set(proj[key][c]["per_language"]) == set(langs)
            assert all(len(v) == NEW for v in proj[key][c]["per_language"].values())
    # checked against a forward of its own, at the first generated token: the unprefilled answers'
    # values (one forward over prompt + answer) and the prefilled ones' (read during generation)
    site, unit, f = "blocks.1.hook_resid_pre", refusal.unit, proj["feature"]
    for c, prefill in (("no prefill", None), ("English prefill", "Sure, here is")):
        acts = [
            _projection_at_first_token(tuned, tuned.format_chat(ex.text, prefill=prefill), site, unit)
            for ex in ds
            if ex.language == "en"
        ]
        acts = [a for a in acts if a is not None]
        raw = sum(float(a @ unit) for a in acts) / len(acts)
        rest = sum(float(a @ unit - a[f] * unit[f]) for a in acts) / len(acts)
        assert proj["raw"][c]["per_language"]["en"][0] == pytest.approx(raw, rel=1e-3, abs=1e-3)
        assert proj["without_feature"][c]["per_language"]["en"][0] == pytest.approx(rest, rel=1e-3, abs=1e-3)

    # files
    with open(tmp_path / "figs" / "prefill_attack.csv") as fh:
        assert len(list(csv.reader(fh))) == 1 + len(conditions) * len(langs)
    with open(tmp_path / "figs" / "prefill_attack_projection.csv") as fh:
        assert len(list(csv.reader(fh))) == 1 + len(conditions) * NEW
    examples = (tmp_path / "figs" / "prefill_attack_examples.md").read_text()
    assert examples.count("\n") == 2 + len(study.EXAMPLE_LANGUAGES) * len(conditions)
    assert len(figures) == 3 and [t.name for t in figures[1].data][:3] == conditions
    assert set(out["refusal_rate"]) == set(conditions) and len(out["figures"]) == 3


def test_a_misplaced_prefill_stops_the_study_before_generating(setup, tmp_path, monkeypatch):
    study, *_ = setup
    monkeypatch.setattr(study, "affirmative_prefill", lambda lang: "Sure, here is ")
    monkeypatch.setattr(study, "generate_with_activations", lambda *a, **k: pytest.fail("generated"))
    with pytest.raises(PrefillTokenError, match="ends in white space"), pytest.warns(UserWarning):
        study.run(tiny_model("gemma3", seed=1), tmp_path / "figs", n_per_class=N)


def test_no_safety_tuned_version_is_skipped(tmp_path, monkeypatch):
    from experiments import prefill_attack as study

    monkeypatch.setattr(study, "tuned_version", lambda m: None)
    with pytest.warns(UserWarning, match="no safety-tuned version"):
        assert "skipped" in study.run(tiny_model("gemma3", seed=1), tmp_path / "none", n_per_class=N)
    assert not (tmp_path / "none").exists()


def test_first_refusal_token_is_where_the_judge_first_reads_a_refusal():
    from experiments.prefill_attack import first_refusal_token

    tok = tiny_model("gemma3").tokenizer
    text = "a plan. I'm sorry, but I can't help with that."
    ids = tok(text, add_special_tokens=False)["input_ids"]
    decoded, spans = token_spans(tok, ids)
    k = first_refusal_token(decoded, spans, "en")
    assert k is not None and is_refusal(text[: int(spans[k, 1])], "en")
    assert not is_refusal(text[: int(spans[k - 1, 1])], "en")
    assert k > len("a plan. ")  # the refusal starts after the opening words
    assert (
        first_refusal_token("a plan.", token_spans(tok, tok("a plan.", add_special_tokens=False)["input_ids"])[1], "en")
        is None
    )
