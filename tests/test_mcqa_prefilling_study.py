"""experiments.mcqa_prefilling end to end on tiny random chat models (the main command runs it on
gemma-3-270m-refusal-en and SmolLM2-135M-Instruct), and its plot helpers."""

from __future__ import annotations

import csv
import json

import plotly.graph_objects as go
import pytest
import torch

from mechint.data import load_xcopa
from mechint.model import Model
from mechint.plots import plot_mcqa_conditions, plot_reliability
from mechint.stats import reliability_bins
from mechint.testing import CHAT_TEMPLATES, byte_tokenizer, tiny_hf_model, tiny_model


def chat_model(family: str, seed: int) -> Model:
    """A tiny random chat model of ``family`` whose byte-level tokenizer writes " A" and " B" as one
    token each, as real BPE tokenizers do (the byte tokenizer of ``tiny_model`` writes them as a space
    and a letter, so a label after a prefill such as "Jibu sahihi ni:" would be two tokens), and room
    for the prompts in bytes (a Tamil item is several hundred)."""
    fast = byte_tokenizer(merges=[("Ġ", "A"), ("Ġ", "B")])
    fast.chat_template = CHAT_TEMPLATES[family]
    vocab = fast.get_vocab()
    return Model(
        tiny_hf_model(family, seed=seed, vocab_size=len(vocab), max_position_embeddings=2048),
        fast,
        name=f"tiny-{family}-seed{seed}-chat",
    )


def _quick_save(saved: list):
    def save(fig, stem, **kwargs):  # the figure's structure is checked here; PNG export is tested in test_plots
        assert isinstance(fig, go.Figure)
        saved.append((stem.name, fig))
        path = stem.parent / (stem.name + ".figure.json")
        fig.write_json(path)
        return [path]

    return save


def test_mcqa_prefilling_study(tmp_path, monkeypatch):
    from experiments import mcqa_prefilling as study
    from experiments._common import TooFewItemsWarning

    tuned, english = chat_model("gemma3", seed=2), chat_model("llama", seed=3)
    saved: list = []
    monkeypatch.setattr(study, "tuned_version", lambda m: tuned)
    monkeypatch.setattr(study, "english_chat_model", lambda m: english)
    monkeypatch.setattr(study, "save_figure", _quick_save(saved))
    monkeypatch.setattr(study, "NEW_TOKENS", 3)
    monkeypatch.setattr(study, "ITEMS", 3)
    monkeypatch.setattr(study, "OPEN_ITEMS", 1)
    with pytest.warns(TooFewItemsWarning, match="3 per class"):  # --n-per-class 2 lowers ITEMS
        out = study.run(tiny_model("gemma3", seed=1), tmp_path, n_per_class=2)
    summary = json.loads((tmp_path / "mcqa_prefilling.json").read_text())
    langs = list(study.LANGUAGES)
    assert summary["models"] == [tuned.name, english.name] and summary["languages"] == langs
    assert summary["items_per_language"] == 4 and summary["open_items_per_language"] == 2
    assert summary["prefill"]["zh"] == "正确的选项是：" and set(summary["prefill"]) == set(langs)
    # balanced: two items with answer A and two with B, the same ids in every language
    assert len(summary["item_ids"]) == 4 and set(summary["open_item_ids"]) < set(summary["item_ids"])
    answers = {it.item_id: it.answer for it in load_xcopa("test", languages="zh")}
    assert sorted(answers[i] for i in summary["item_ids"]) == [0, 0, 1, 1]
    assert sorted(answers[i] for i in summary["open_item_ids"]) == [0, 1]
    for by_condition in summary["results"].values():
        assert list(by_condition) == list(study.CONDITIONS)
        for condition, entry in by_condition.items():
            assert entry["cost_s"] > 0 and entry["cost_per_item_s"] > 0
            assert set(entry["per_language"]) == set(langs)
            n = 4 if condition != "open-ended" else 2
            cells = [*entry["per_language"].values(), entry["all"]]
            for cell in cells:
                assert 0 <= cell["accuracy_low"] <= cell["accuracy"] <= cell["accuracy_high"] <= 1
                assert 0 <= cell["chose_a"] <= 1
            assert all(c["n"] == n for c in entry["per_language"].values()) and entry["all"]["n"] == n * len(langs)
            if condition == "open-ended":
                assert len(entry["answers"]) == 2 * len(langs)
                for a in entry["answers"]:
                    assert a["choice"] in (None, 0, 1) and a["item_id"] in summary["open_item_ids"]
                    assert isinstance(a["response"], str)
                mean = sum(a["choice"] == a["answer"] for a in entry["answers"]) / len(entry["answers"])
                assert entry["all"]["accuracy"] == pytest.approx(mean)
                unparsed = sum(a["choice"] is None for a in entry["answers"]) / len(entry["answers"])
                assert entry["all"]["unparsed_rate"] == pytest.approx(unparsed)
                continue
            assert len(entry["items"]) == 4 * len(langs)
            for row in entry["items"]:
                assert len(row["probs"]) == 2 and sum(row["probs"]) == pytest.approx(1.0, abs=1e-5)
                assert 0 < row["label_mass"] <= 1 + 1e-6
            correct = [max(range(2), key=lambda j: r["probs"][j]) == r["answer"] for r in entry["items"]]
            assert entry["all"]["accuracy"] == pytest.approx(sum(correct) / len(correct))
            for cell in cells:
                assert 0 <= cell["ece"] <= 1 and 0 <= cell["brier"] <= 2 and 0 <= cell["misalignment_rate"] <= 1
                bins = cell["reliability"]
                assert len(bins["edges"]) == study.N_BINS + 1 and sum(bins["count"]) == cell["n"]
                assert sum(bins["count"][: study.N_BINS // 2]) == 0  # two options: confidence is at least 0.5
            assert sum(entry["all"]["top_tokens"].values()) == 4 * len(langs)
            assert set(entry["prompt_tokens"]) == set(langs) and min(entry["prompt_tokens"].values()) > 0
    # the prefill goes after the template's opening of the response, in the item's language
    tiny_prompts = study.score_mcqa(
        tuned, load_xcopa("test", languages="th", n=1), prefill=study.PREFILLS, progress=False
    ).prompts
    assert tiny_prompts[0].endswith(study.PREFILLS["th"])
    with open(tmp_path / "mcqa_prefilling.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * len(study.CONDITIONS) * (len(langs) + 1)
    ftp = [r for r in rows if r["condition"] != "open-ended"]
    assert all(r["ece"] != "" and r["unparsed_rate"] == "" for r in ftp)
    assert all(r["ece"] == "" and r["unparsed_rate"] != "" for r in rows if r["condition"] == "open-ended")
    assert all((r["cost_s"] != "") == (r["language"] == "all") for r in rows)
    assert set(out["accuracy"]) == {tuned.name, english.name}
    assert set(out["cost_s"][tuned.name]) == set(study.CONDITIONS)
    assert [s for s, _ in saved] == ["mcqa_prefilling", "mcqa_prefilling_reliability"]
    main = saved[0][1]
    assert {t.name for t in main.data} == set(study.CONDITIONS)
    assert len(main.data) == 2 * 2 * len(study.CONDITIONS)  # accuracy and "not a label" panels per model


def test_a_chat_model_given_is_studied_itself_and_too_few_items_warn(tmp_path, monkeypatch):
    from experiments import mcqa_prefilling as study
    from experiments._common import TooFewItemsWarning

    chat = chat_model("qwen2", seed=4)
    monkeypatch.setattr(study, "english_chat_model", lambda m: None)
    monkeypatch.setattr(study, "save_figure", _quick_save([]))
    monkeypatch.setattr(study, "NEW_TOKENS", 2)
    monkeypatch.setattr(study, "LANGUAGES", ("zh", "it"))
    with pytest.warns(TooFewItemsWarning, match=r"mcqa_prefilling: too few items .*zh/answer A has 1"):
        study.run(chat, tmp_path, n_per_class=1)
    summary = json.loads((tmp_path / "mcqa_prefilling.json").read_text())
    assert summary["models"] == [chat.name] and summary["items_per_language"] == 2
    with pytest.raises(ValueError, match="needs at least 1 item"):
        study.run(chat, tmp_path, n_per_class=0)


def test_a_base_model_without_a_chat_version_is_skipped(tmp_path, monkeypatch):
    from experiments import mcqa_prefilling as study

    monkeypatch.setattr(study, "tuned_version", lambda m: None)
    monkeypatch.setattr(study, "english_chat_model", lambda m: None)
    with pytest.warns(UserWarning, match="no chat model"):
        assert "skipped" in study.run(tiny_model("llama", seed=1), tmp_path)


# --- plot helpers ------------------------------------------------------------------------------------


def test_plot_mcqa_conditions():
    accuracy = {
        "m1": {"FTP": {"zh": (0.5, 0.25, 0.75), "th": (1.0, 1.0, 1.0)}, "gen": {"zh": (0.25, 0.0, 0.5)}},
        "m2": {"FTP": {"th": (0.0, 0.0, 0.0)}},
    }
    missed = {"m1": {"FTP": {"zh": 0.1, "th": 0.9}, "gen": {"zh": 1.0}}}
    fig = plot_mcqa_conditions(accuracy, missed, chance=0.5, languages=["zh", "th"])
    bars = [t for t in fig.data if t.type == "bar"]
    assert [(t.name, t.xaxis) for t in bars] == [
        ("FTP", "x"),
        ("FTP", "x3"),
        ("gen", "x"),
        ("gen", "x3"),
        ("FTP", "x2"),
    ]
    assert [t.showlegend for t in bars] == [True, False, True, False, False]  # each condition once
    first = bars[0]
    assert list(first.x) == ["zh", "th"] and list(first.y) == [0.5, 1.0]
    assert list(first.error_y.array) == [0.25, 0.0] and list(first.error_y.arrayminus) == [0.25, 0.0]
    assert list(bars[1].y) == [0.1, 0.9]
    gen = bars[2]
    assert gen.y[0] == 0.25 and gen.y[1] != gen.y[1]  # a language a condition lacks is a gap (NaN)
    assert bars[0].marker.color == bars[4].marker.color  # a condition keeps its colour across panels
    assert [a.text for a in fig.layout.annotations][:2] == ["m1", "m2"]
    assert fig.layout.yaxis.title.text == "accuracy" and fig.layout.yaxis3.title.text == "no label"
    assert [s.y0 for s in fig.layout.shapes] == [0.5, 0.5]
    alone = plot_mcqa_conditions({"m": {"c": {"a": (0.5, 0.4, 0.6)}}})
    assert len(alone.data) == 1 and "yaxis2" not in alone.layout.to_plotly_json()  # one panel, no second row
    with pytest.raises(ValueError, match=r"rates lie in \[0, 1\]"):
        plot_mcqa_conditions({"m": {"c": {"a": (1.5, 0.4, 0.6)}}})
    with pytest.raises(ValueError, match=r"must be \(rate, low, high\)"):
        plot_mcqa_conditions({"m": {"c": {"a": (0.5, 0.4)}}})
    with pytest.raises(ValueError, match="languages leaves out"):
        plot_mcqa_conditions(accuracy, languages=["zh"])
    with pytest.raises(ValueError, match="panels"):
        plot_mcqa_conditions(accuracy, {"other": {"FTP": {"zh": 0.1}}})
    with pytest.raises(ValueError, match="chance"):
        plot_mcqa_conditions(accuracy, chance=2)
    with pytest.raises(ValueError, match="non-empty"):
        plot_mcqa_conditions({})


def test_plot_reliability():
    conf = torch.tensor([0.55, 0.58, 0.92, 0.97, 0.99])
    bins = reliability_bins(conf, torch.tensor([1, 0, 1, 1, 0]), 10)
    fig = plot_reliability(
        {"FTP": bins, "prefill": {"confidence": [None, 0.7], "accuracy": [None, 1.0], "count": [0, 2]}}
    )
    lines = [t for t in fig.data if t.name != "calibrated"]
    assert [t.name for t in lines] == ["FTP", "prefill"]
    assert list(lines[0].x) == pytest.approx([0.565, 0.96]) and list(lines[0].y) == pytest.approx([0.5, 2 / 3])
    assert list(lines[0].customdata) == [2, 3]  # the bins' counts; the empty bins are left out
    assert list(lines[1].x) == [0.7] and list(lines[1].y) == [1.0]
    diagonal = [t for t in fig.data if t.name == "calibrated"]
    assert len(diagonal) == 1 and list(diagonal[0].x) == [0, 1] and list(diagonal[0].y) == [0, 1]
    panels = plot_reliability({("m1", "FTP"): bins, ("m2", "FTP"): bins})
    lines = [t for t in panels.data if t.name == "FTP"]
    assert [t.xaxis for t in lines] == ["x", "x2"] and [t.showlegend for t in lines] == [True, False]
    assert [a.text for a in panels.layout.annotations] == ["m1", "m2"]
    with pytest.raises(ValueError, match="all series names or all"):
        plot_reliability({"a": bins, ("b", "c"): bins})
    with pytest.raises(ValueError, match="must have 'confidence'"):
        plot_reliability({"a": {"confidence": [0.5]}})
    with pytest.raises(ValueError, match="bins"):
        plot_reliability({"a": {"confidence": [0.5, 0.6], "accuracy": [1.0], "count": [1]}})
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        plot_reliability({"a": {"confidence": [1.5], "accuracy": [1.0], "count": [1]}})
