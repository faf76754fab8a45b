"""experiments.reasoning_language end to end on tiny random chat models (the main command runs it on
gemma-3-270m-refusal-en and SmolLM2-135M-Instruct)."""

import csv
import json

import pytest

from mechint.plots import plot_language_shares
from mechint.testing import tiny_model


def test_reasoning_language_study(tmp_path, monkeypatch):
    from experiments import reasoning_language as study

    tuned, english = tiny_model("gemma3", seed=2, chat=True), tiny_model("llama", seed=3, chat=True)
    monkeypatch.setattr(study, "tuned_version", lambda m: tuned)
    monkeypatch.setattr(study, "english_chat_model", lambda m: english)
    monkeypatch.setattr(study, "NEW_TOKENS", 4)
    out = study.run(tiny_model("gemma3", seed=1), tmp_path, n_per_class=2)
    summary = json.loads((tmp_path / "reasoning_language.json").read_text())
    assert summary["models"] == [tuned.name, english.name] and summary["items_per_language"] == 2
    for by_condition in summary["results"].values():
        assert list(by_condition) == list(study.CONDITIONS)
        for condition in by_condition.values():
            assert len(condition["answers"]) == 2 * len(study.LANGUAGES)
            for cell in condition["per_language"].values():
                assert cell["n"] == 2 and sum(cell["shares"].values()) == pytest.approx(1.0)
    prefix = {c: summary["results"][tuned.name][c]["prefix"]["zh"] for c in study.CONDITIONS}
    assert prefix == {
        "no prefix": None,
        "English prefix": "Let me think step by step. First,",
        "own-language prefix": "让我一步一步地思考。首先，",
    }
    with open(tmp_path / "reasoning_language.csv") as f:
        assert len(list(csv.reader(f))) == 1 + 2 * len(study.CONDITIONS) * len(study.LANGUAGES)
    assert set(out["english_share"]) == {tuned.name, english.name}
    assert any("reasoning_language_tiny" in p for p in out["figures"])


def test_a_chat_model_given_is_studied_itself(tmp_path, monkeypatch):
    from experiments import reasoning_language as study

    chat = tiny_model("qwen2", seed=4, chat=True)
    monkeypatch.setattr(study, "english_chat_model", lambda m: None)
    monkeypatch.setattr(study, "NEW_TOKENS", 2)
    monkeypatch.setattr(study, "LANGUAGES", ("zh", "de"))
    study.run(chat, tmp_path, n_per_class=1)
    assert json.loads((tmp_path / "reasoning_language.json").read_text())["models"] == [chat.name]


def test_plot_language_shares():
    fig = plot_language_shares(
        {("zh", "none"): {"English": 0.5, "own": 0.5}, ("zh", "en"): {"English": 1.0}}, parts=["English", "own"]
    )
    assert [t.name for t in fig.data] == ["English", "own"]
    assert list(fig.data[1].y) == [0.5, 0.0] and fig.layout.barmode == "stack"
    flat = plot_language_shares({"a": {"x": 0.2}})
    assert list(flat.data[0].x) == ["a"]
    with pytest.raises(ValueError, match="sum to"):
        plot_language_shares({"a": {"x": 0.7, "y": 0.7}})
    with pytest.raises(ValueError, match="shares lie in"):
        plot_language_shares({"a": {"x": -0.1}})
    with pytest.raises(ValueError, match="parts leaves out"):
        plot_language_shares({"a": {"x": 0.1, "y": 0.2}}, parts=["x"])
    with pytest.raises(ValueError, match="all labels or all"):
        plot_language_shares({"a": {"x": 0.1}, ("b", "c"): {"x": 0.1}})
