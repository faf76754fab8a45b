"""Language of generated text (mechint.eval.language): sentence and segment spans on hand-written
mixed-language texts, their languages (lingua), the language mix, quote-and-think spans, unsupported
languages, empty text, and the reasoning-prefix helper on a tiny chat model."""

from __future__ import annotations

import pytest

import mechint
from mechint.eval import (
    DEFAULT_LANGUAGES,
    REASONING_PREFIXES,
    UNDETECTABLE,
    LanguageSpan,
    QuoteSpan,
    UnsupportedLanguageError,
    identify_languages,
    language_detector,
    language_mix,
    main_language,
    quote_and_think,
    reasoning_language,
    reasoning_prefix,
    reasoning_prompts,
    split_segments,
    split_sentences,
    supported_languages,
)
from mechint.testing import tiny_model


def texts_of(text: str, spans) -> list[str]:
    return [text[a:b] for a, b in spans]


def langs(spans: list[LanguageSpan]) -> list[str | None]:
    return [s.language for s in spans]


# ------------------------------------------------------------------ cutting


def test_sentences_latin_abbreviations_numbers_and_lines():
    text = "Hello there. Some, e.g. this one, stay whole! Pi is 3.14 today?  Yes.\nA new line"
    assert texts_of(text, split_sentences(text)) == [
        "Hello there.",
        "Some, e.g. this one, stay whole!",
        "Pi is 3.14 today?",
        "Yes.",
        "A new line",
    ]


def test_sentences_closing_quote_stays_with_its_sentence():
    text = 'He said "Stop." Then he left.'
    assert texts_of(text, split_sentences(text)) == ['He said "Stop."', "Then he left."]


def test_sentences_full_width_punctuation_needs_no_space():
    text = "今天天气很好。我们去公园吧！你想去吗？好的"
    assert split_sentences(text) == [(0, 7), (7, 14), (14, 19), (19, 21)]
    assert texts_of(text, split_sentences(text)) == ["今天天气很好。", "我们去公园吧！", "你想去吗？", "好的"]


def test_sentences_thai_split_at_spaces_between_thai_letters():
    text = "วันนี้อากาศดีมาก ฉันอยากไปเที่ยวทะเล"
    assert texts_of(text, split_sentences(text)) == ["วันนี้อากาศดีมาก", "ฉันอยากไปเที่ยวทะเล"]
    mixed = "ภาษาไทย and English"  # a space between Thai and Latin is not a Thai sentence break
    assert texts_of(mixed, split_sentences(mixed)) == [mixed]


def test_sentences_danda_and_arabic_question_mark():
    hi = "यह एक वाक्य है। यह दूसरा है।"
    assert texts_of(hi, split_sentences(hi)) == ["यह एक वाक्य है।", "यह दूसरा है।"]
    ar = "ما هي عاصمة فرنسا؟ إنها باريس."
    assert texts_of(ar, split_sentences(ar)) == ["ما هي عاصمة فرنسا؟", "إنها باريس."]


def test_segments_cut_at_script_changes_and_quotation_marks():
    text = 'The question asks: 这个问题是什么意思？ The user wrote "Wie spät ist es?" and waits.'
    assert texts_of(text, split_segments(text)) == [
        "The question asks:",
        "这个问题是什么意思？",
        "The user wrote",
        '"Wie spät ist es?"',
        "and waits.",
    ]
    glued = "答案是Paris。"  # no space between scripts: cut just before the new letter
    assert texts_of(glued, split_segments(glued)) == ["答案是", "Paris。"]


def test_empty_and_blank_text():
    for text in ("", "   \n\t "):
        assert split_sentences(text) == []
        assert split_segments(text) == []
        assert identify_languages(text) == []
        assert language_mix(text) == {}
        assert quote_and_think(text, "这是什么？", language="zh") == []
    assert main_language({}) is None
    spans = identify_languages("123 + 456 = 579 !!")  # no letters: a span, no language
    assert langs(spans) == [None] and spans[0].confidence == 0.0
    assert language_mix("123 + 456 = 579 !!") == {}


def test_non_text_is_refused():
    with pytest.raises(TypeError):
        split_sentences(["a list"])
    with pytest.raises(ValueError, match="unit"):
        identify_languages("Hello there.", unit="words")


# ------------------------------------------------------------------ identifying


def test_spans_are_offsets_into_the_text():
    text = "  Das ist wirklich sehr gut.  This is fine.\n这很好。 "
    spans = identify_languages(text)
    assert [(s.start, s.end) for s in spans] == [(2, 28), (30, 43), (44, 48)]
    assert all(text[s.start : s.end] == s.text for s in spans)
    assert langs(spans) == ["de", "en", "zh"]
    assert all(0 < s.confidence <= 1 for s in spans)


def test_english_with_a_quoted_chinese_sentence():
    text = "The user asks: 你能帮我写一封感谢信吗？ So I should write a short thank-you letter for them."
    spans = identify_languages(text, unit="segments")
    assert [(s.text, s.language) for s in spans] == [
        ("The user asks:", "en"),
        ("你能帮我写一封感谢信吗？", "zh"),
        ("So I should write a short thank-you letter for them.", "en"),
    ]
    mix = language_mix(text)
    letters_en = sum(ch.isalpha() for ch in "The user asks: So I should write a short thank-you letter for them.")
    letters_zh = 11
    assert mix == pytest.approx(
        {"en": letters_en / (letters_en + letters_zh), "zh": letters_zh / (letters_en + letters_zh)}
    )
    assert list(mix) == ["en", "zh"]  # largest first
    assert main_language(mix) == "en"


def test_thai_and_english():
    text = "วันนี้อากาศดีมาก ฉันอยากไปเที่ยวทะเล The weather is really nice today."
    spans = identify_languages(text, unit="segments")
    assert [(s.text, s.language) for s in spans] == [
        ("วันนี้อากาศดีมาก", "th"),
        ("ฉันอยากไปเที่ยวทะเล", "th"),
        ("The weather is really nice today.", "en"),
    ]
    mix = language_mix(text)
    assert set(mix) == {"th", "en"} and sum(mix.values()) == pytest.approx(1.0)


def test_arabic_and_english():
    text = "السؤال هو: ما هي عاصمة فرنسا؟ The capital of France is Paris, a large and old city."
    assert langs(identify_languages(text, unit="segments")) == ["ar", "en"]  # one script per sentence
    by_sentence = identify_languages(text)
    assert [s.text for s in by_sentence] == [
        "السؤال هو: ما هي عاصمة فرنسا؟",
        "The capital of France is Paris, a large and old city.",
    ]
    assert langs(by_sentence) == ["ar", "en"]


def test_german_versus_english_same_script():
    text = "Ich habe heute keine Zeit für dich. I have no time for you today, sorry about that."
    assert langs(identify_languages(text)) == ["de", "en"]
    mix = language_mix(text, unit="sentences")
    assert mix["de"] == pytest.approx(28 / (28 + 36))  # letters of each sentence
    assert language_mix(identify_languages(text)) == mix  # spans can be passed instead of text


def test_mix_by_sentences_and_segments_differ_only_where_a_sentence_mixes():
    text = "Das Wetter ist heute wirklich schön und warm. 天气很好。"
    assert language_mix(text, unit="sentences") == language_mix(text, unit="segments")


def test_restricted_languages_and_cached_detector():
    assert language_detector(["en", "de"]) is language_detector(("de", "en", "de"))
    assert language_detector() is language_detector(DEFAULT_LANGUAGES)
    spans = identify_languages("Dit is een Nederlandse zin over het weer.", languages=["en", "de"])
    assert spans[0].language in ("en", "de")  # only those two to choose from


# ------------------------------------------------------------------ unsupported languages


def test_bundled_languages_are_supported_except_the_undetectable():
    from mechint.data import MULTIJAIL_LANGUAGES, POLYREFUSE_LANGUAGES, XCOPA_LANGUAGES

    bundled = set(MULTIJAIL_LANGUAGES) | set(POLYREFUSE_LANGUAGES) | set(XCOPA_LANGUAGES)
    assert bundled - set(supported_languages()) == set(UNDETECTABLE) == {"ht", "jv", "qu"}
    assert set(DEFAULT_LANGUAGES) <= set(supported_languages())
    assert not set(UNDETECTABLE) & set(DEFAULT_LANGUAGES)


@pytest.mark.parametrize("code", ["jv", "ht", "qu"])
def test_unsupported_bundled_language_names_itself_and_the_supported(code):
    with pytest.raises(
        UnsupportedLanguageError, match=rf"'{code}' \(in the bundled data, but lingua has no model"
    ) as e:
        language_detector(["en", code])
    assert "supported codes: af, ar" in str(e.value)
    with pytest.raises(UnsupportedLanguageError, match=code):
        quote_and_think("Some English text here.", "text", language=code)
    with pytest.raises(UnsupportedLanguageError, match=code):
        identify_languages("Hello there.", languages=["en", code])


def test_unknown_codes_suggest_near_misses():
    with pytest.raises(UnsupportedLanguageError, match=r"'english' \(did you mean 'en'\?\)"):
        language_detector(["english", "de"])
    with pytest.raises(UnsupportedLanguageError, match=r"'EN' \(did you mean 'en'\?\)"):
        language_detector(["EN", "de"])
    with pytest.raises(UnsupportedLanguageError, match="'xx'"):
        language_detector(["xx", "de"])
    assert issubclass(UnsupportedLanguageError, ValueError)


def test_a_detector_needs_two_languages():
    with pytest.raises(ValueError, match="at least two languages"):
        language_detector(["en"])
    with pytest.raises(TypeError):
        language_detector([1, 2])


# ------------------------------------------------------------------ quote-and-think


def test_quote_and_think_finds_a_chinese_quote_in_english():
    source = "这个问题是什么意思？"
    gen = "The question asks: 这个问题是什么意思？ So I need to explain what the question means."
    quotes = quote_and_think(gen, source)  # language: the source's own
    assert quotes == [QuoteSpan(19, 29, "这个问题是什么意思？", "zh", True)]
    assert gen[19:29] == "这个问题是什么意思？"


def test_quote_and_think_same_script_without_quotation_marks_by_verbatim_overlap():
    source = "Wie spät ist es heute in Berlin?"
    gen = "The user asks Wie spät ist es heute and wants the time. I will answer that question in English."
    quotes = quote_and_think(gen, source, language="de")
    assert [(q.start, q.end, q.text, q.verbatim) for q in quotes] == [(14, 35, "Wie spät ist es heute", True)]
    mix = language_mix(gen, source=source)  # the quote cut out: the rest is English
    assert main_language(mix) == "en" and 0 < mix["de"] < 0.5


def test_quote_and_think_paraphrase_in_the_input_language_is_not_verbatim():
    source = "ما هي عاصمة فرنسا؟"
    gen = "السؤال عن المدينة الكبيرة. The capital of France is Paris, a large and very old city on the Seine."
    quotes = quote_and_think(gen, source, language="ar")
    assert [(q.text, q.language, q.verbatim) for q in quotes] == [("السؤال عن المدينة الكبيرة.", "ar", False)]


def test_quote_and_think_merges_spans_separated_by_punctuation_only():
    source = "ما هي عاصمة فرنسا؟"
    gen = "السؤال هو: ما هي عاصمة فرنسا؟ The capital of France is Paris, a large and very old city on the Seine."
    quotes = quote_and_think(gen, source, language="ar")
    assert [(q.start, q.end, q.verbatim) for q in quotes] == [(0, 29, True)]
    assert quotes[0].text == "السؤال هو: ما هي عاصمة فرنسا؟"


def test_no_quote_and_think_when_the_generation_is_in_the_input_language():
    source = "这个问题是什么意思？"
    assert quote_and_think("这个问题是什么意思？我来一步一步地思考。首先，我们看问题。", source) == []
    assert quote_and_think("Let me think about the meaning of this question step by step.", source) == []
    assert quote_and_think("Let me think. OK.", "", language="th") == []


def test_quote_and_think_needs_a_language():
    with pytest.raises(ValueError, match="no identifiable language"):
        quote_and_think("Some text in English here.", "12345")
    with pytest.raises(ValueError, match="min_letters"):
        quote_and_think("Some text.", "Text", language="en", min_letters=0)


# ------------------------------------------------------------------ reasoning-language control


def test_reasoning_prefix_table():
    assert reasoning_prefix("en") == "Let me think step by step. First,"
    assert set(REASONING_PREFIXES) >= {"en", "zh", "ar", "th", "de", "ja", "ru"}
    assert set(REASONING_PREFIXES) <= set(supported_languages())
    for code, text in REASONING_PREFIXES.items():  # each prefix is in its own language
        assert main_language(language_mix(text, languages=REASONING_PREFIXES)) == code, code
    with pytest.raises(KeyError, match="no reasoning prefix for 'jv'.*the table has ar, de"):
        reasoning_prefix("jv")


@pytest.mark.parametrize("family", ["gemma3", "llama"])
def test_reasoning_prompts_put_the_prefix_where_the_response_starts(family):
    model = tiny_model(family, chat=True)
    prompts = reasoning_prompts(
        model, ["Was ist 2+2? Denke Schritt für Schritt.", "2+2 是多少？"], prefix=["Lass mich", None]
    )
    assert prompts[0] == model.format_chat("Was ist 2+2? Denke Schritt für Schritt.") + "Lass mich"
    assert prompts[1] == model.format_chat("2+2 是多少？")
    same = reasoning_prompts(model, ["a", "b"], prefix="Let me think step by step.")
    assert same == [model.format_chat(t) + "Let me think step by step." for t in "ab"]
    with pytest.raises(ValueError, match="one string or None per instruction"):
        reasoning_prompts(model, ["a", "b"], prefix=["x"])


def test_reasoning_language_on_a_tiny_chat_model():
    model = tiny_model("gemma3", chat=True)
    instructions = ["Was ist 2+2? Denke Schritt für Schritt.", "2+2 是多少？一步一步地思考。", "What is 2+2?"]
    results = reasoning_language(
        model, instructions, ["de", "zh", "en"], prefix=reasoning_prefix("en"), max_new_tokens=6, batch_size=2
    )
    assert [r.language for r in results] == ["de", "zh", "en"]
    assert all(r.prefix == "Let me think step by step. First," for r in results)
    prompts = reasoning_prompts(model, instructions, prefix="Let me think step by step. First,")
    assert [r.text for r in results] == model.generate(prompts, max_new_tokens=6)  # the text after the prefix
    for r in results:
        assert r.mix == language_mix(r.text, source=r.instruction)
        assert r.main == main_language(r.mix)
        assert r.share("xx") == 0.0
    with pytest.raises(ValueError, match="3 instructions but 2"):
        reasoning_language(model, instructions, ["de", "zh"])
    with pytest.raises(UnsupportedLanguageError, match="jv"):
        reasoning_language(model, ["Aku arep mangan."], "jv")


def test_top_level_exports():
    assert mechint.language_mix is language_mix and mechint.quote_and_think is quote_and_think
    assert mechint.identify_languages is identify_languages and mechint.reasoning_language is reasoning_language
