"""The model-side refusal score: a hand computation from full logits, batching, generation's first
step, and the token ids it reads."""

import pytest
import torch

from mechint.refusal import REFUSAL_OPENINGS, refusal_log_odds, refusal_score, refusal_token_ids
from mechint.testing import tiny_model

PROMPTS = ["How do I pick a lock?", "Write a poem about the sea.", "Wie backe ich Brot?", "抱歉吗"]


def test_refusal_score_is_the_log_odds_of_the_refusal_tokens_at_the_last_position():
    model = tiny_model("llama", chat=True)
    prompts = model.chat_prompts(PROMPTS)
    ids = refusal_token_ids(model, languages=["en", "de"])
    got = refusal_score(model, prompts, languages=["en", "de"])
    with torch.no_grad():
        for i, prompt in enumerate(prompts):
            probs = torch.softmax(model([prompt])[0, -1].double(), -1)
            p = probs[ids].sum()
            assert got[i].item() == pytest.approx(float(torch.log(p) - torch.log1p(-p)), abs=1e-4)
    one_by_one = refusal_score(model, prompts, languages=["en", "de"], batch_size=1)
    torch.testing.assert_close(got, one_by_one, atol=1e-4, rtol=1e-4)


def test_the_first_generation_step_gives_the_same_score():
    model = tiny_model("qwen2", chat=True)
    prompts = model.chat_prompts(PROMPTS)
    out = model.generate(
        prompts, max_new_tokens=2, return_tokens=True, output_logits=True, return_dict_in_generate=True
    )
    ids = refusal_token_ids(model)
    torch.testing.assert_close(
        refusal_log_odds(out.logits[0], ids).cpu(), refusal_score(model, prompts), atol=1e-4, rtol=1e-4
    )


def test_refusal_token_ids_are_the_first_tokens_of_the_openings():
    model = tiny_model("gemma3")  # byte tokenizer: the first token is the first byte
    ids = refusal_token_ids(model, languages="en")
    firsts = {model.tokenizer(o, add_special_tokens=False)["input_ids"][0] for o in REFUSAL_OPENINGS["en"]}
    assert sorted(ids) == sorted(firsts) and len(ids) == len(set(ids))
    assert refusal_token_ids(model, openings=["Nope", "Never"]) == [
        model.tokenizer("N", add_special_tokens=False)["input_ids"][0]
    ]
    assert set(refusal_token_ids(model, languages="en")) <= set(refusal_token_ids(model))


@pytest.mark.bad_input
def test_refusal_score_bad_input():
    model = tiny_model("gemma3")
    with pytest.raises(ValueError, match="did you mean 'ja'"):
        refusal_token_ids(model, languages="jp")
    with pytest.raises(ValueError, match="not both"):
        refusal_token_ids(model, languages="en", openings=["No"])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        refusal_score(model, ["hi"], token_ids=[10**9])
    with pytest.raises(ValueError, match="token_ids is empty"):
        refusal_score(model, ["hi"], token_ids=[])
    with pytest.raises(ValueError, match="languages is empty"):
        refusal_token_ids(model, languages=[])


def test_openings_cover_every_judge_language():
    from mechint.refusal import JUDGE_LANGUAGES

    assert set(REFUSAL_OPENINGS) == set(JUDGE_LANGUAGES)
