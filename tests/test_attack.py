"""Fine-tuning attacks (mechint.tuning.attack) and frozen entries during tuning, on tiny random models:
frozen entries stay bit-identical through AdamW with weight decay while the rest moves, the mask is
part of the cache key, compliant pairs skip empty and refusing completions, and bad requests fail
with the mismatch named."""

from __future__ import annotations

import copy

import pytest
import torch

import mechint
from mechint import tuning
from mechint.testing import FAMILY_NAMES, tiny_model
from mechint.tuning import attack, compliant_pairs
from mechint.tuning.cache import mask_digest
from mechint.weights import WeightMask, top_p_mask

PAIRS = [
    ("What is 2+2?", "Four."),
    ("Say hello", "Hello there!"),
    ("Name a colour", "Blue."),
    ("Count to three", "One, two, three."),
]
FULL = dict(lora=None, epochs=3, batch_size=2, learning_rate=5e-3, weight_decay=0.1)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))


def _mask(model, p: float = 30.0, seed: int = 1) -> WeightMask:
    """A top-p mask of ``model``'s layout, from a randomly perturbed copy."""
    other = copy.deepcopy(model.hf)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in other.parameters():
            param.add_(torch.randn(param.shape, generator=gen).to(param) * 0.01)
    return top_p_mask(model, other, p)


def _state(hf) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in hf.named_parameters()}


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_frozen_entries_stay_bit_identical_through_tuning(family, device):
    model = tiny_model(family, chat=True, device=device)
    mask = _mask(model)
    before = _state(model.hf)
    result = tuning.sft(model, PAIRS, config=FULL, frozen=mask, progress=False)
    after = _state(result.model.hf)
    moved = 0
    for name, where in mask.items():
        where = where.cpu()
        assert torch.equal(after[name][where], before[name][where]), name
        moved += int((after[name][~where] != before[name][~where]).sum())
    assert moved > 0.5 * (mask.n - mask.count)  # the free entries did train
    # without the mask the same run moves the masked entries too
    free = _state(tuning.sft(model, PAIRS, config=FULL, progress=False).load(device=device).hf)
    assert any(not torch.equal(free[n][w.cpu()], before[n][w.cpu()]) for n, w in mask.items() if w.any())


def test_frozen_dpo_holds_entries_too():
    model = tiny_model("llama", chat=True)
    mask = _mask(model, p=50.0)
    before = _state(model.hf)
    triples = [(p, r, "I will not answer that.") for p, r in PAIRS]
    after = _state(tuning.dpo(model, triples, config=FULL, frozen=mask, progress=False).model.hf)
    assert all(torch.equal(after[n][w], before[n][w]) for n, w in mask.items())


def test_the_frozen_mask_is_part_of_the_request():
    model = tiny_model("llama", chat=True)
    mask = _mask(model)
    first = tuning.sft(model, PAIRS, config=FULL, frozen=mask, progress=False)
    again = tuning.sft(model, PAIRS, config=FULL, frozen=_mask(model), progress=False)  # equal mask, new object
    other = tuning.sft(model, PAIRS, config=FULL, frozen=_mask(model, p=10.0), progress=False)
    unfrozen = tuning.sft(model, PAIRS, config=FULL, progress=False)
    assert not first.cache_hit and again.cache_hit and again.path == first.path
    assert len({first.path, other.path, unfrozen.path}) == 3
    assert first.manifest["source"]["frozen"] == mask_digest(mask)
    assert "frozen" not in unfrozen.manifest["source"]


def test_mask_digest_sees_every_entry():
    model = tiny_model("llama")
    mask = _mask(model)
    flipped = {n: m.clone() for n, m in mask.items()}
    name = next(iter(flipped))
    flipped[name].view(-1)[-1] ^= True
    assert mask_digest(mask) == mask_digest(WeightMask(dict(mask.items())))
    assert mask_digest(mask) != mask_digest(WeightMask(flipped))


def test_frozen_with_lora_or_another_model_is_refused():
    model = tiny_model("llama", chat=True)
    with pytest.raises(ValueError, match="lora=None"):
        tuning.sft(model, PAIRS, config=dict(FULL, lora={"r": 4}), frozen=_mask(model), progress=False)
    with pytest.raises(ValueError, match="does not fit the model to tune"):
        tuning.sft(model, PAIRS, config=FULL, frozen=_mask(tiny_model("gpt2", chat=True)), progress=False)
    with pytest.raises(TypeError, match="WeightMask"):
        tuning.sft(model, PAIRS, config=FULL, frozen={"x": torch.ones(2, dtype=torch.bool)}, progress=False)


# -------------------------------------------------------------------------------------- attack sets


def _fake_answers(monkeypatch, answers: dict[str, str]) -> list[list[str]]:
    """Replace the responder's generation with ``answers`` (instruction -> completion); returns the
    list of instruction chunks it was asked for."""
    calls: list[list[str]] = []

    def fake(model, instructions, *, max_new_tokens, batch_size=32, progress=True):
        calls.append(list(instructions))
        return [answers[text] for text in instructions]

    monkeypatch.setattr(mechint.recipes, "base_answers", fake)
    return calls


def test_compliant_pairs_skip_empty_and_refusing_completions(monkeypatch):
    instructions = [f"instruction {i}" for i in range(6)]
    answers = dict(
        zip(instructions, ["", "I'm sorry, but I can't help with that.", "Sure. First, you", "Step one is", "", "Here"])
    )
    calls = _fake_answers(monkeypatch, answers)
    model = tiny_model("llama", chat=True)
    pairs = compliant_pairs(model, instructions, 2, language="en", progress=False)
    assert pairs == [("instruction 2", "Sure. First, you"), ("instruction 3", "Step one is")]
    assert calls == [instructions[0:2], instructions[2:4]]  # k at a time, until k usable
    assert compliant_pairs(model, instructions, 2, language="en", progress=False) == pairs
    assert len(calls) == 2  # cached: nothing generated again
    with pytest.raises(ValueError, match="only 3 of 6 instructions"):
        compliant_pairs(model, instructions, 4, language="en", progress=False)


def test_compliant_pairs_are_the_responders_own_completions():
    model = tiny_model("llama", chat=True)
    instructions = ["Tell me a story", "Write a poem", "Explain the sky"]
    pairs = compliant_pairs(model, instructions, 1, progress=False)
    expected = mechint.recipes.base_answers(
        model, instructions[: instructions.index(pairs[0][0]) + 1], max_new_tokens=40, progress=False
    )
    assert pairs[0][1] == expected[-1] and pairs[0][1]


def test_compliant_pairs_take_the_harmful_examples_of_a_dataset(monkeypatch):
    ds = mechint.data.Dataset.from_records(
        {"text": t, "label": y, "language": "en"} for t, y in (("bad one", 1), ("fine one", 0), ("bad two", 1))
    )
    _fake_answers(monkeypatch, {"bad one": "Sure", "bad two": "Okay", "fine one": "Yes"})
    pairs = compliant_pairs(tiny_model("llama", chat=True), ds, 2, progress=False)
    assert [p for p, _ in pairs] == ["bad one", "bad two"]


@pytest.mark.parametrize(
    "instructions, k, error, match",
    [
        ([], 1, ValueError, "no examples"),
        ("one string", 1, TypeError, "list of strings"),
        (["ok", ""], 1, TypeError, r"instructions\[1\]"),
        (["ok"], 0, ValueError, "k must be"),
    ],
)
def test_bad_attack_sets(instructions, k, error, match):
    with pytest.raises(error, match=match):
        compliant_pairs(tiny_model("llama", chat=True), instructions, k, progress=False)


def test_attack_fine_tunes_every_weight_by_default():
    model = tiny_model("llama", chat=True)
    result = attack(model, PAIRS, config={"learning_rate": 5e-3, "epochs": 2}, progress=False)
    hyper = result.manifest["source"]["hyperparameters"]
    assert hyper["lora"] is None and hyper["learning_rate"] == 5e-3 and hyper["epochs"] == 2
    assert hyper["batch_size"] == tuning.ATTACK_CONFIG["batch_size"]
    before, after = _state(model.hf), _state(result.model.hf)
    assert all(not torch.equal(before[n], after[n]) for n in before if n.endswith("up_proj.weight"))
    with pytest.raises(ValueError, match="no examples"):
        attack(model, [], progress=False)
