"""Multiple-choice scoring (mechint.eval): first-token probabilities against a hand computation from
the model's own full logits, batching, where the prefill goes, calibration against hand computations,
misalignment, permutation consistency, open-ended parsing, the bundled XCOPA, and bad input."""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import pytest
import torch

import mechint
from mechint.chat import ChatTemplateError
from mechint.data import XCOPA_LANGUAGES, XCOPA_QUESTIONS, MCItem, load_xcopa
from mechint.eval import (
    ANSWER_PREFILL,
    LabelTokenError,
    MCQAResult,
    label_token_ids,
    mcqa,
    mcqa_prompt,
    mcqa_prompts,
    open_ended_mcqa,
    option_labels,
    parse_choice,
    permutation_consistency,
    score_mcqa,
)
from mechint.model import Model
from mechint.stats import brier_score, expected_calibration_error, reliability_bins
from mechint.testing import CHAT_TEMPLATES, FAMILY_NAMES, byte_tokenizer, tiny_hf_model, tiny_model

SHARED = Path("/work/shared/data/xcopa")
BUNDLED = resources.files("mechint.data").joinpath("bundled", "xcopa")

ITEMS = [
    MCItem(
        "What was the cause of this?", ("It was fragile.", "It was small."), 0, "en", "t-0", context="The vase broke."
    ),
    MCItem("Which is a colour?", ("red", "seven", "fast"), 2, "de", "t-1"),
    MCItem("哪一个是动物？", ("猫", "桌子", "石头", "雨"), 0, "zh", "t-2"),
    MCItem("Pick one.", ("yes", "no"), 1, "en", "t-3", context="Il pleut."),
]


def byte_id(model: Model, text: str) -> int:
    (token,) = model.tokenizer(text, add_special_tokens=False)["input_ids"]
    return token


def hand_scores(model: Model, prompt: str, label_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Option probabilities (softmax over the label logits), raw masses and the top token, from the
    full logits of one unpadded forward."""
    with torch.no_grad():
        logits = model([prompt])[0, -1].double().cpu()
    probs = torch.softmax(logits[label_ids], -1)
    mass = torch.softmax(logits, -1)[label_ids]
    return probs, mass, int(logits.argmax())


def merging_model() -> Model:
    """A tiny Llama whose byte-level BPE tokenizer merges a space with a following "A" or "B" into one
    token (" A", " B"), as real BPE tokenizers do, with the Llama chat template."""
    fast = byte_tokenizer(merges=[("Ġ", "A"), ("Ġ", "B")])
    fast.chat_template = CHAT_TEMPLATES["llama"]
    vocab = fast.get_vocab()
    return Model(tiny_hf_model("llama", vocab_size=len(vocab)), fast, name="tiny-llama-merging")


# --- first-token probabilities ---------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_ftp_equals_a_hand_computation_from_full_logits(family, device):
    model = tiny_model(family, chat=True, device=device)
    result = score_mcqa(model, ITEMS, batch_size=3, progress=False)
    assert result.probs.shape == (4, 4) and result.labels == ("A", "B", "C", "D")
    for i, item in enumerate(ITEMS):
        ids = [byte_id(model, x) for x in "ABCD"[: item.n_options]]  # the label opens the response: "A"
        probs, mass, top = hand_scores(model, result.prompts[i], ids)
        k = item.n_options
        torch.testing.assert_close(result.probs[i, :k].double(), probs, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(result.mass[i, :k].double(), mass, atol=1e-6, rtol=1e-4)
        assert (result.probs[i, k:] == 0).all() and (result.label_ids[i, k:] == -1).all()
        assert result.label_ids[i, :k].tolist() == ids
        assert int(result.top_token[i]) == top
        assert bool(result.misaligned[i]) == (top not in ids)
        assert int(result.choice[i]) == int(probs.argmax())
    assert result.accuracy == pytest.approx(sum(int(result.choice[i]) == it.answer for i, it in enumerate(ITEMS)) / 4)
    assert torch.allclose(result.probs.sum(-1), torch.ones(4))


@pytest.mark.parametrize("family", ["llama", "gemma3", "gpt2"])
def test_batched_equals_one_at_a_time(family, device):
    model = tiny_model(family, chat=True, device=device)
    together = score_mcqa(model, ITEMS, prefill="Answer: ", batch_size=4, progress=False)
    for i, item in enumerate(ITEMS):
        alone = score_mcqa(model, [item], prefill="Answer: ", progress=False)
        k = item.n_options
        torch.testing.assert_close(together.probs[i : i + 1, :k], alone.probs, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(together.mass[i : i + 1, :k], alone.mass, atol=1e-6, rtol=1e-4)
        assert together.top_token[i] == alone.top_token[0]


def test_prefilled_label_is_read_after_a_space_with_a_merging_tokenizer(device):
    model = merging_model()
    model.hf.to(device)
    items = ITEMS[:1] + ITEMS[3:]
    result = score_mcqa(model, items, prefill=ANSWER_PREFILL, progress=False)
    ids = [model.tokenizer.convert_tokens_to_ids("ĠA"), model.tokenizer.convert_tokens_to_ids("ĠB")]
    assert result.label_ids.tolist() == [ids, ids]
    for i in range(2):
        assert result.prompts[i].endswith("<|end_header_id|>\n\n" + ANSWER_PREFILL)
        probs, mass, _ = hand_scores(model, result.prompts[i], ids)
        torch.testing.assert_close(result.probs[i].double(), probs, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(result.mass[i].double(), mass, atol=1e-6, rtol=1e-4)
    # no space asked for: the bare "A" byte after the colon, also one token here
    bare = score_mcqa(model, items, prefill=ANSWER_PREFILL, label_space=False, progress=False)
    assert bare.label_ids[0].tolist() == [byte_id(model, "A"), byte_id(model, "B")]
    # a prefill ending in a space: the tokenizer writes that space with the label, so no boundary
    with pytest.raises(LabelTokenError, match="tokenized together.*drop the trailing space"):
        score_mcqa(model, items, prefill=ANSWER_PREFILL + " ", progress=False)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_prefill_goes_exactly_where_the_template_puts_the_response(family):
    model = tiny_model(family, chat=True)
    prefill = {"en": "Answer: ", "de": "Antwort: ", "zh": "答案："}
    items = ITEMS[:3]
    prompts = mcqa_prompts(model, items, prefill=prefill)
    sentinel = "QQQ-REST-OF-RESPONSE"
    for item, prompt in zip(items, prompts):
        message = mcqa_prompt(item)
        start = prefill[item.language]
        assert prompt == model.format_chat(message, prefill=start) == model.format_chat(message) + start
        # the template's own rendering of a conversation whose response starts with the prefill
        raw = model.tokenizer.apply_chat_template(
            [{"role": "user", "content": message}, {"role": "assistant", "content": start + sentinel}], tokenize=False
        )
        template_tail = raw[raw.rindex(message) + len(message) : raw.index(sentinel)]
        assert prompt[prompt.rindex(message) + len(message) :] == template_tail
        ids = model.tokenizer(prompt)["input_ids"]
        start_ids = model.tokenizer(start, add_special_tokens=False)["input_ids"]
        assert ids == model.tokenizer(model.format_chat(message))["input_ids"] + start_ids
    # the scored prompts are these, and the label follows the prefill with no space (it ends in one)
    result = score_mcqa(model, items, prefill=prefill, progress=False)
    assert list(result.prompts) == prompts
    assert result.label_ids[0, :2].tolist() == [byte_id(model, "A"), byte_id(model, "B")]


def test_plain_prompts_and_label_sets():
    model = tiny_model("gpt2")  # no chat template
    prompt = mcqa_prompts(model, ITEMS[0], chat=False)[0]
    assert prompt == (
        "The vase broke.\nWhat was the cause of this?\n\nA. It was fragile.\nB. It was small.\n\n"
        "Answer with the letter of the correct option (A or B).\nAnswer:"
    )
    assert mcqa_prompt(ITEMS[2], "1").splitlines()[-1] == "Answer with the number of the correct option (1, 2, 3 or 4)."
    assert mcqa_prompt(ITEMS[1], ["x", "y", "z"], instruction="Reply {labels}.").endswith("z. fast\n\nReply x, y or z.")
    assert option_labels("a", 3) == ["a", "b", "c"] and option_labels("1", 2) == ["1", "2"]
    # "Answer:" ends in a colon: the label token is the one after a space, two bytes here
    with pytest.raises(LabelTokenError, match="2 tokens.*label_space=False"):
        score_mcqa(model, ITEMS[:1], chat=False, progress=False)
    result = score_mcqa(model, ITEMS[:2], chat=False, label_space=False, labels="1", progress=False)
    assert result.label_ids[1].tolist() == [byte_id(model, x) for x in "123"]
    assert result.prompts[1].endswith("(1, 2 or 3).\nAnswer:")


# --- calibration and misalignment -------------------------------------------------------------------


def constructed_result() -> MCQAResult:
    items = (
        MCItem("q", ("a", "b"), 0, "en", "c-0"),
        MCItem("q", ("a", "b"), 0, "en", "c-1"),
        MCItem("q", ("a", "b", "c"), 2, "fr", "c-2"),
        MCItem("q", ("a", "b"), 1, "fr", "c-3"),
    )
    probs = torch.tensor([[0.7, 0.3, 0.0], [0.2, 0.8, 0.0], [0.5, 0.3, 0.2], [0.45, 0.55, 0.0]])
    ids = torch.tensor([[65, 66, -1], [65, 66, -1], [65, 66, 67], [65, 66, -1]])
    return MCQAResult(
        items=items,
        prompts=("p",) * 4,
        labels=("A", "B", "C"),
        probs=probs,
        mass=probs * torch.tensor([[0.5], [0.1], [1.0], [0.9]]),
        label_ids=ids,
        top_token=torch.tensor([65, 10, 67, 66]),
        top_text=("A", "x", "C", "B"),
    )


def test_calibration_against_hand_computations():
    result = constructed_result()
    assert result.choice.tolist() == [0, 1, 0, 1]
    assert result.correct.tolist() == [True, False, False, True]
    assert result.accuracy == 0.5
    brier = ((0.3**2 + 0.3**2) + (0.8**2 + 0.8**2) + (0.5**2 + 0.3**2 + 0.8**2) + (0.45**2 + 0.45**2)) / 4
    assert result.brier == pytest.approx(brier)
    # confidences 0.7, 0.8, 0.5, 0.55 in 5 bins: [0.4, 0.6) holds 0.5 (wrong) and 0.55 (right),
    # [0.6, 0.8) holds 0.7 (right), [0.8, 1] holds 0.8 (wrong)
    ece = (2 * abs(0.5 - 0.525) + abs(1 - 0.7) + abs(0 - 0.8)) / 4
    assert result.ece(5) == pytest.approx(ece)
    bins = result.reliability(5)
    assert bins["count"].tolist() == [0, 0, 2, 1, 1]
    torch.testing.assert_close(bins["edges"], torch.linspace(0, 1, 6, dtype=torch.float64))
    assert math.isnan(bins["confidence"][0]) and math.isnan(bins["accuracy"][1])
    assert bins["confidence"][2:].tolist() == pytest.approx([0.525, 0.7, 0.8])
    assert bins["accuracy"][2:].tolist() == [0.5, 1.0, 0.0]
    # misalignment: row 1's top token (10) is no label; row 2's (67) is its third label
    assert result.misaligned.tolist() == [False, True, False, False]
    assert result.misalignment_rate == 0.25
    assert result.label_mass.tolist() == pytest.approx([0.5, 0.1, 1.0, 0.9])
    summary = result.summary(n_bins=5)
    assert summary["language"].tolist() == ["en", "fr", "all"] and summary["n"].tolist() == [2, 2, 4]
    assert summary["accuracy"].tolist() == [0.5, 0.5, 0.5]
    assert summary["misalignment_rate"].tolist() == [0.5, 0.0, 0.25]
    frame = result.to_dataframe()
    assert list(frame["p_C"]) == pytest.approx([0.0, 0.0, 0.2, 0.0]) and frame["top_token"].tolist()[1] == "x"
    assert {k: len(v) for k, v in result.by_language().items()} == {"en": 2, "fr": 2}


def test_calibration_statistics_directly():
    conf = [0.55, 0.65, 0.92, 0.97, 0.58, 0.81]
    hit = [1, 0, 1, 1, 0, 1]
    n_bins = 5
    hand = 0.0
    for b in range(n_bins):
        members = [i for i, c in enumerate(conf) if b / n_bins <= c < (b + 1) / n_bins or (b == n_bins - 1 and c == 1)]
        if members:
            mean_conf = sum(conf[i] for i in members) / len(members)
            mean_hit = sum(hit[i] for i in members) / len(members)
            hand += len(members) / len(conf) * abs(mean_hit - mean_conf)
    assert expected_calibration_error(conf, hit, n_bins) == pytest.approx(hand)
    assert hand == pytest.approx(0.18)
    assert expected_calibration_error([1.0, 1.0], [True, True], 10) == 0.0  # c = 1 falls in the last bin
    assert reliability_bins([1.0, 0.0], [1, 0], 4)["count"].tolist() == [1, 0, 0, 1]
    assert math.isnan(expected_calibration_error([], [], 10))
    assert brier_score([[1.0, 0.0], [0.0, 1.0]], [0, 0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        expected_calibration_error([1.5], [1])
    with pytest.raises(ValueError, match="class indices"):
        brier_score([[0.5, 0.5]], [2])


# --- permutation consistency -------------------------------------------------------------------------


def fake_scorer(rule):
    """A stand-in for score_mcqa that chooses by ``rule(item) -> position``: one-hot probabilities."""

    def fake(model, versions, **kwargs):
        k = max(it.n_options for it in versions)
        probs = torch.zeros(len(versions), k)
        for i, it in enumerate(versions):
            probs[i, rule(it)] = 1.0
        ids = torch.tensor([[j if j < it.n_options else -1 for j in range(k)] for it in versions])
        return MCQAResult(
            tuple(versions), ("p",) * len(versions), tuple("ABCD"[:k]), probs, probs.clone(), ids,
            probs.argmax(-1), ("",) * len(versions),
        )  # fmt: skip

    return fake


def test_permutation_consistency_on_constructed_choosers(monkeypatch):
    model = tiny_model("llama", chat=True)
    items = [ITEMS[0], ITEMS[2]]  # 2 and 4 options, answers 0 and 0
    monkeypatch.setattr(mcqa, "score_mcqa", fake_scorer(lambda it: it.options.index(min(it.options))))
    by_content = permutation_consistency(model, items)
    assert by_content.orders[0] == ((0, 1), (1, 0))
    assert by_content.orders[1] == ((0, 1, 2, 3), (1, 2, 3, 0), (2, 3, 0, 1), (3, 0, 1, 2))
    first = [min(range(it.n_options), key=lambda j: it.options[j]) for it in items]
    assert by_content.chosen.tolist() == [[first[0]] * 2 + [-1, -1], [first[1]] * 4]
    assert by_content.consistency == 1.0
    assert by_content.circular_accuracy == float(sum(f == it.answer for f, it in zip(first, items)) / 2)

    monkeypatch.setattr(mcqa, "score_mcqa", fake_scorer(lambda it: 0))  # always the first position
    by_position = permutation_consistency(model, items)
    assert by_position.chosen.tolist() == [[0, 1, -1, -1], [0, 1, 2, 3]]
    assert by_position.consistent.tolist() == [False, False] and by_position.circular_accuracy == 0.0
    assert by_position.position_rates().tolist() == [1.0, 0.0, 0.0, 0.0]
    assert by_position.summary()["consistency"].tolist() == [0.0, 0.0, 0.0]

    every = permutation_consistency(model, items[:1] + [ITEMS[1]], permutations="all")
    assert len(every.orders[1]) == 6 and len(set(every.orders[1])) == 6
    some = permutation_consistency(model, [ITEMS[2]], permutations=3, seed=1)
    again = permutation_consistency(model, [ITEMS[2]], permutations=3, seed=1)
    assert some.orders == again.orders and len(set(some.orders[0])) == 4 and some.orders[0][0] == (0, 1, 2, 3)


def test_permutation_consistency_on_a_model_matches_scoring_the_permuted_items():
    model = tiny_model("qwen2", chat=True)
    items = ITEMS[:2]
    result = permutation_consistency(model, items, progress=False)
    assert len(result.scores) == len(items) + 1 + 2
    swapped = score_mcqa(model, [items[0].permuted([1, 0])], progress=False)
    torch.testing.assert_close(result.scores.probs[2, :2], swapped.probs[0], atol=1e-5, rtol=1e-4)
    own = int(result.original.choice[0])
    other = [1, 0][int(swapped.choice[0])]
    assert result.chosen[0, :2].tolist() == [own, other]
    assert bool(result.consistent[0]) == (own == other)


# --- open-ended baseline -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "response, labels, expected",
    [
        ("B", "AB", 1),
        (" B.", "AB", 1),
        ("The correct option is (B).", "AB", 1),
        ("Answer: **2**", "123", 1),
        ("answer is C", "ABC", 2),
        ("A bird flew away, so B is right.", "AB", 1),
        ("A. It was fragile.", "AB", 0),
        ("A is correct", "AB", 0),
        ("I think it is B", "AB", 1),
        ("Both are plausible.", "AB", None),
        ("Apples", "AB", None),
        ("", "AB", None),
        ("10", [str(i) for i in range(1, 11)], 9),
        ("a) it broke", "ab", 0),
        ("a dog barked", "ab", None),
        ("Option 3 fits; option 1 does not.", "123", 2),
    ],
)
def test_parse_choice(response, labels, expected):
    assert parse_choice(response, list(labels)) == expected


def test_open_ended_mcqa_generates_from_the_same_prompts_and_parses(device):
    model = tiny_model("llama", chat=True, device=device)
    result = open_ended_mcqa(model, ITEMS, prefill="Answer: ", max_new_tokens=4, batch_size=3, progress=False)
    prompts = mcqa_prompts(model, ITEMS, prefill="Answer: ")
    assert list(result.prompts) == prompts
    assert result.responses[1] == model.generate([prompts[1]], max_new_tokens=4)[0]
    for i, item in enumerate(ITEMS):
        assert result.choice[i] == parse_choice(result.responses[i], option_labels("A", item.n_options))
    assert result.unparsed_rate == pytest.approx(sum(c is None for c in result.choice) / 4)
    correct = [c == it.answer for c, it in zip(result.choice, ITEMS)]
    assert result.accuracy == pytest.approx(sum(correct) / 4)
    assert result.summary()["n"].tolist() == [1, 2, 1, 4]
    assert result.to_dataframe()["response"].tolist() == list(result.responses)


# --- XCOPA -------------------------------------------------------------------------------------------


def test_xcopa_counts_ids_and_question_types():
    for split, size, causes in (("val", 100, 52), ("test", 500, 250)):
        items = load_xcopa(split)
        assert len(items) == size * 11
        assert [it.language for it in items[::size]] == list(XCOPA_LANGUAGES)
        ids = [it.item_id for it in items[:size]]
        assert ids[:2] == [f"xcopa-{split}-000", f"xcopa-{split}-001"] and len(set(ids)) == size
        for lang in XCOPA_LANGUAGES:
            part = [it for it in items if it.language == lang]
            assert [it.item_id for it in part] == ids
            # one question type and one answer per item in every language (upstream's Thai says "effect" for all)
            assert [it.question for it in part] == [it.question for it in items[:size]]
            assert [it.answer for it in part] == [it.answer for it in items[:size]]
        assert sum(it.question == XCOPA_QUESTIONS["cause"] for it in items[:size]) == causes
        assert all(it.n_options == 2 and it.source == "xcopa" and it.context for it in items)
        assert all(t == t.strip() and t for it in items for t in (it.context, *it.options))
    first = load_xcopa("test", languages="it")[84]
    assert first.question == XCOPA_QUESTIONS["cause"]  # upstream's Italian row says "effect"
    assert first.options[first.answer] == "Avevo rovesciato dell'acqua sul poster."
    zh = load_xcopa("test", languages="zh")[0]
    assert (zh.context, zh.options, zh.answer) == ("该物品用气泡包装纸包着。", ("它很易碎。", "它很小。"), 0)


def test_xcopa_selection_and_errors():
    some = load_xcopa("test", languages=["zh", "et"], n=20)
    assert len(some) == 40 and [it.language for it in some[::20]] == ["zh", "et"]
    assert [it.item_id for it in some[:20]] == [it.item_id for it in some[20:]]
    assert [it.item_id for it in load_xcopa("test", languages="th", n=20)] == [it.item_id for it in some[:20]]
    with pytest.raises(ValueError, match="did you mean 'it'"):
        load_xcopa("test", languages="itt")
    with pytest.raises(ValueError, match="between 1 and 100"):
        load_xcopa("val", n=101)
    with pytest.raises(ValueError, match="split must be one of"):
        load_xcopa("train")


def test_xcopa_licence_datasheet_and_upstream_copy():
    assert "Attribution 4.0 International" in BUNDLED.joinpath("LICENSE").read_text(encoding="utf-8")
    assert len(BUNDLED.joinpath("COMMIT").read_text().strip()) == 40
    readme = resources.files("mechint.data").joinpath("bundled", "README.md").read_text(encoding="utf-8")
    section = readme.split("## xcopa/")[1].split("\n## ")[0]
    for needed in ("CC BY 4.0", "cambridgeltl/xcopa", "val 100", "test 500", "Wrong question types", "changed"):
        assert needed in section, needed
    if SHARED.is_dir():
        from mechint.data._derive import xcopa_file_names

        for name in xcopa_file_names():
            assert BUNDLED.joinpath(name).read_bytes() == (SHARED / name).read_bytes(), name
        assert BUNDLED.joinpath("LICENSE").read_bytes() == (SHARED / "LICENSE.md").read_bytes()


def test_public_names():
    for name in ("MCItem", "MCQAResult", "score_mcqa", "permutation_consistency", "open_ended_mcqa"):
        assert name in mechint.__all__ and getattr(mechint, name) is getattr(mechint.eval, name)
    assert mechint.data.MCItem is MCItem and "load_xcopa" in mechint.data.__all__


# --- bad input ---------------------------------------------------------------------------------------


def test_items_refused_when_made():
    with pytest.raises(ValueError, match="1 option: a multiple-choice item needs at least two"):
        MCItem("q", ("only",), 0, "en", "x")
    with pytest.raises(ValueError, match="answer 2 is not an option index"):
        MCItem("q", ("a", "b"), 2, "en", "x")
    with pytest.raises(ValueError, match="option 1 is not a non-empty string"):
        MCItem("q", ("a", " "), 0, "en", "x")
    with pytest.raises(ValueError, match="permutation of 0..1"):
        ITEMS[0].permuted([0, 0])


def test_label_tokens_that_cannot_be_read():
    model = tiny_model("llama", chat=True)
    with pytest.raises(LabelTokenError, match=r"'yes' is 3 tokens"):
        score_mcqa(model, ITEMS[:1], labels=["yes", "no"], progress=False)
    # byte tokenizer: " A" after the English prefill is a space and a letter
    with pytest.raises(LabelTokenError, match="2 tokens.*label_space=False"):
        score_mcqa(model, ITEMS[:1], prefill=ANSWER_PREFILL, progress=False)
    # a tokenizer that lowercases makes "A" and "a" one token
    from tokenizers import normalizers

    model.tokenizer.backend_tokenizer.normalizer = normalizers.Lowercase()
    with pytest.raises(LabelTokenError, match="'A' and 'a' are the same token"):
        label_token_ids(model, mcqa_prompts(model, ITEMS[:1]), ["A", "a"])


@pytest.mark.bad_input
def test_bad_arguments_name_the_fix():
    model = tiny_model("llama", chat=True)
    with pytest.raises(ValueError, match="no items"):
        score_mcqa(model, [], progress=False)
    with pytest.raises(TypeError, match="MCItems"):
        score_mcqa(model, ["a question"], progress=False)
    with pytest.raises(ValueError, match="pass them as a list"):
        score_mcqa(model, ITEMS[:1], labels="AB", progress=False)
    with pytest.raises(ValueError, match="labels repeat"):
        option_labels(["A", "A"], 2)
    with pytest.raises(ValueError, match="whitespace"):
        option_labels([" A", "B"], 2)
    with pytest.raises(ValueError, match="2 labels"):
        score_mcqa(model, ITEMS[1:2], labels=["x", "y"], progress=False)
    with pytest.raises(KeyError, match="no text for language 'de'"):
        score_mcqa(model, ITEMS[:2], prefill={"en": "Answer: "}, progress=False)
    with pytest.raises(ValueError, match="needs chat=True"):
        mcqa_prompts(model, ITEMS, chat=False, system="Be brief.")
    with pytest.raises(ChatTemplateError, match="chat=False"):
        score_mcqa(tiny_model("llama"), ITEMS[:1], progress=False)
    with pytest.raises(ValueError, match="permutations must be one of"):
        permutation_consistency(model, ITEMS[:1], permutations="some")
    with pytest.raises(ValueError, match="5039 versions"):
        mcqa._orders(7, "all", torch.Generator())
