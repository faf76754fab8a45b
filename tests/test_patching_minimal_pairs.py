"""The bundled harmful/harmless minimal pairs: contents, the equal-length check (generic, and with
gemma-3-270m's own tokenizer in the slow tier)."""

from __future__ import annotations

import glob

import pytest

from mechint.data.minimal_pairs import (
    MINIMAL_PAIR_LANGUAGES,
    MinimalPair,
    MinimalPairLengthError,
    MinimalPairs,
    check_equal_length,
    load_minimal_pairs,
)
from mechint.testing import byte_tokenizer


def test_bundled_pairs_cover_eight_languages_with_one_frame_each():
    pairs = load_minimal_pairs()
    assert isinstance(pairs, MinimalPairs) and len(pairs) == 40 and len(MINIMAL_PAIR_LANGUAGES) >= 6
    assert pairs.languages == list(MINIMAL_PAIR_LANGUAGES)
    for lang in pairs.languages:
        lp = pairs.language(lang)
        assert len(lp) == 5 and len({p.template for p in lp}) == 1
        for p in lp:
            assert p.harmful != p.harmless and p.harmful == p.template.format(p.harmful_object)
            assert p.tokens_gemma3 > 5
    assert len({p.pair_id for p in pairs}) == 40
    assert load_minimal_pairs(["th", "en"]).languages == ["th", "en"]
    with pytest.raises(ValueError, match="no minimal pairs in"):
        load_minimal_pairs("xx")


@pytest.mark.bad_input
def test_equal_length_check_names_the_pair_and_both_lengths():
    tok = byte_tokenizer()  # one token per UTF-8 byte: "bombs"/"cakes" agree, "poison"/"soup" do not
    with pytest.raises(MinimalPairLengthError, match=r"pair en-2: harmful 31 tokens, harmless 29 tokens"):
        load_minimal_pairs("en", tokenizer=tok)
    kept = load_minimal_pairs("en", tokenizer=tok, on_mismatch="drop")
    assert [p.pair_id for p in kept] == ["en-1"] and kept.dropped == ["en-2", "en-3", "en-4", "en-5"]
    odd = MinimalPair("x-1", "en", 1, "{}", "ab", "abc", "ab", "abc", 3)
    assert check_equal_length([odd], tok) == [("x-1", 3, 4)]
    with pytest.raises(ValueError, match="on_mismatch"):
        load_minimal_pairs(tokenizer=tok, on_mismatch="ignore")


def _gemma_tokenizer():
    from mechint.disk import cache_root

    folders = sorted(glob.glob(str(cache_root() / "models" / "gemma-3-270m*")))
    if not folders:
        pytest.skip("gemma-3-270m is not converted in the cache yet (the slow tier converts it)")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folders[0])


@pytest.mark.slow
def test_every_pair_has_equal_length_under_gemma_tokenizer():
    tok = _gemma_tokenizer()
    pairs = load_minimal_pairs(tokenizer=tok)  # raises if any pair differs
    assert not pairs.dropped and len(pairs) == 40
    for p in pairs:
        assert len(tok(p.harmful)["input_ids"]) == len(tok(p.harmless)["input_ids"]) == p.tokens_gemma3
