"""Tests for mechint.data: bundled data sets, Dataset, splits, user files. Fast; no network, no models."""

from __future__ import annotations

import csv
import json
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from mechint.data import (
    HARMFUL,
    HARMLESS,
    MULTIJAIL_LANGUAGES,
    SAFETY_PAIR_LANGUAGES,
    XQUAD_LANGUAGES,
    Dataset,
    Example,
    k_fold_by_item,
    load_multijail,
    load_safety_pairs,
    load_texts,
    load_xquad,
    parse_label,
    split_by_item,
)

SHARED = Path("/work/shared/data")
BUNDLED = resources.files("mechint.data").joinpath("bundled")


def toy(n_harmful: int = 6, n_harmless: int = 6, languages: tuple[str, ...] = ("en", "zh", "ar")) -> Dataset:
    rows = []
    for lang in languages:
        for i in range(n_harmful):
            rows.append(Example(f"bad {i} {lang}", HARMFUL, lang, f"h-{i}", "toy"))
        for i in range(n_harmless):
            rows.append(Example(f"good {i} {lang}", HARMLESS, lang, f"s-{i}", "toy"))
    return Dataset(rows)


# --- bundled files ------------------------------------------------------------------------------------


def test_bundled_files_and_licences_present():
    for sub, names in {
        "multijail": ["MultiJail.csv", "LICENSE", "COMMIT"],
        "xquad": ["xquad_questions.csv", "LICENSE", "COMMIT"],
    }.items():
        for name in names:
            assert BUNDLED.joinpath(sub, name).is_file(), f"{sub}/{name} missing"
    readme = BUNDLED.joinpath("README.md").read_text(encoding="utf-8")
    assert "MIT" in readme and "CC BY-SA 4.0" in readme and "questions" in readme
    assert "Permission is hereby granted" in BUNDLED.joinpath("multijail", "LICENSE").read_text(encoding="utf-8")
    assert "ShareAlike" in BUNDLED.joinpath("xquad", "LICENSE").read_text(encoding="utf-8")


def test_multijail_bom_does_not_leak_into_first_column():
    raw = BUNDLED.joinpath("multijail", "MultiJail.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the copy is byte-exact, BOM included
    ds = load_multijail("en")
    assert ds.item_ids[:3] == ["multijail-0", "multijail-1", "multijail-2"]
    assert not any("\ufeff" in i for i in ds.item_ids)


@pytest.mark.skipif(not SHARED.is_dir(), reason="upstream copies not available")
def test_bundled_copies_match_upstream():
    from mechint.data._derive import read_xquad_questions

    assert (
        BUNDLED.joinpath("multijail", "MultiJail.csv").read_bytes() == (SHARED / "multijail/MultiJail.csv").read_bytes()
    )
    with BUNDLED.joinpath("xquad", "xquad_questions.csv").open(encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f))
    for lang in XQUAD_LANGUAGES:
        upstream = read_xquad_questions(SHARED / f"xquad/xquad.{lang}.json")
        assert [(r["id"], r[lang]) for r in table] == upstream, lang


# --- loaders ------------------------------------------------------------------------------------------


def test_multijail_counts_and_parallel_ids():
    ds = load_multijail()
    assert ds.languages == sorted(MULTIJAIL_LANGUAGES)
    assert len(ds) == 315 * 10
    assert set(ds.labels) == {1} and set(ds.sources) == {"multijail"}
    en_ids = load_multijail("en").item_ids
    assert len(en_ids) == 315 and len(set(en_ids)) == 315
    for lang in MULTIJAIL_LANGUAGES:
        assert ds.filter(language=lang).item_ids == en_ids, lang
    assert all(t == t.strip() and t for t in ds.texts)


def test_xquad_counts_and_parallel_ids():
    ds = load_xquad()
    assert ds.languages == sorted(XQUAD_LANGUAGES)
    assert len(ds) == 1190 * 12
    assert set(ds.labels) == {0} and set(ds.sources) == {"xquad"}
    en_ids = ds.filter(language="en").item_ids
    assert len(set(en_ids)) == 1190 and all(i.startswith("xquad-") for i in en_ids)
    for lang in XQUAD_LANGUAGES:
        assert ds.filter(language=lang).item_ids == en_ids, lang
    assert all(t == t.strip() and t for t in ds.texts)  # e.g. Thai questions ending in a space are stripped


def test_item_ids_unique_across_sources():
    assert not set(load_multijail("en").item_ids) & set(load_xquad("en").item_ids)


def test_xquad_n_same_items_every_language_and_deterministic():
    ds = load_xquad(["en", "th", "zh"], n=50)
    assert len(ds) == 150
    per_lang = [ds.filter(language=lang).item_ids for lang in ("en", "th", "zh")]
    assert per_lang[0] == per_lang[1] == per_lang[2] and len(set(per_lang[0])) == 50
    assert load_xquad("de", n=50).item_ids == per_lang[0]  # same items whatever the languages
    assert load_xquad(["en", "th", "zh"], n=50) == ds
    assert set(load_xquad("en", n=10).item_ids) <= set(per_lang[0])  # prefixes of one fixed order
    assert load_xquad("en", n=1190) == load_xquad("en")


def test_language_order_and_single_string():
    ds = load_multijail(["zh", "en"])
    assert ds.row_languages[0] == "zh" and ds.row_languages[-1] == "en"
    assert load_multijail("en") == load_multijail(["en"])


@pytest.mark.parametrize(
    "call",
    [lambda: load_multijail(["en", "fr"]), lambda: load_xquad("jv"), lambda: load_safety_pairs(["de"])],
)
def test_unknown_language_names_available(call):
    with pytest.raises(ValueError, match=r"unknown language.*available") as err:
        call()
    assert "'en'" in str(err.value)


def test_safety_pairs_default_and_balance():
    ds = load_safety_pairs()
    assert ds.languages == sorted(SAFETY_PAIR_LANGUAGES) == ["ar", "en", "th", "vi", "zh"]
    assert len(ds) == 2 * 315 * 5
    for lang in SAFETY_PAIR_LANGUAGES:
        sub = ds.filter(language=lang)
        assert Counter(sub.labels) == {1: 315, 0: 315}
        assert sub.item_ids == ds.filter(language="en").item_ids
        assert set(sub.filter(label=1).sources) == {"multijail"} and set(sub.filter(label=0).sources) == {"xquad"}


def test_safety_pairs_n_per_class_seed():
    a = load_safety_pairs(["en", "zh"], n_per_class=40, seed=1)
    assert len(a) == 160 and Counter(a.labels) == {0: 80, 1: 80}
    assert a.filter(language="en").item_ids == a.filter(language="zh").item_ids
    assert a == load_safety_pairs(["en", "zh"], n_per_class=40, seed=1)
    b = load_safety_pairs(["en", "zh"], n_per_class=40, seed=2)
    assert set(a.item_ids) != set(b.item_ids)
    with pytest.raises(ValueError, match="n_per_class must be.*between 1 and 315"):
        load_safety_pairs(n_per_class=316)
    with pytest.raises(ValueError, match="n_per_class"):
        load_safety_pairs(n_per_class=0)
    with pytest.raises(ValueError, match="n must be"):
        load_xquad(n=0)


# --- Dataset ------------------------------------------------------------------------------------------


def test_dataset_views_indexing_and_concat():
    ds = toy(2, 3, ("en", "zh"))
    assert len(ds) == 10 and len(ds.texts) == len(ds.labels) == len(ds.row_languages) == len(ds.item_ids) == 10
    assert ds.languages == ["en", "zh"] and ds.n_items == 5
    assert isinstance(ds[0], Example) and ds[0].text == "bad 0 en"
    assert isinstance(ds[1:3], Dataset) and len(ds[1:3]) == 2
    assert ds[[0, 9]].texts == [ds[0].text, ds[9].text]
    np = pytest.importorskip("numpy")
    assert ds[np.array([0, 9])] == ds[[0, 9]] and ds[np.int64(9)] == ds[9]
    assert ds.label_tensor()[ds.label_tensor() == 1].numel() == 4
    assert [ex.text for ex in ds] == ds.texts
    both = ds.filter(language="en") + ds.filter(language="zh")
    assert both == ds and sum([ds.filter(language="en"), ds.filter(language="zh")]) == ds
    assert ds.label_tensor().tolist() == ds.labels
    assert ds.filter(language="en", label=1).texts == ["bad 0 en", "bad 1 en"]
    assert ds.filter(item_ids=["s-0"]).row_languages == ["en", "zh"]
    assert "harmful=4" in repr(ds)


def test_filter_unknown_language_and_bad_label():
    ds = toy()
    with pytest.raises(ValueError, match=r"\['fr'\] not in this dataset; languages present: \['ar', 'en', 'zh'\]"):
        ds.filter(language="fr")
    with pytest.raises(ValueError, match="label must be 0"):
        ds.filter(label=2)


def test_example_validation():
    with pytest.raises(ValueError, match="label must be 0"):
        Example("x", 2, "en", "a", "s")
    with pytest.raises(ValueError, match="text must be a non-empty"):
        Example("   ", 1, "en", "a", "s")
    assert Example("x", True, "en", "a", "s").label == 1 and type(Example("x", True, "en", "a", "s").label) is int


def test_fingerprint_stable_and_sensitive():
    a, b = toy(), toy()
    assert a.fingerprint() == b.fingerprint() and len(a.fingerprint()) == 64
    assert load_safety_pairs(n_per_class=20).fingerprint() == load_safety_pairs(n_per_class=20).fingerprint()
    rows = list(a)
    rows[3] = Example(rows[3].text + "!", rows[3].label, rows[3].language, rows[3].item_id, rows[3].source)
    assert Dataset(rows).fingerprint() != a.fingerprint()
    rows = list(a)
    rows[3] = Example(rows[3].text, 1 - rows[3].label, rows[3].language, rows[3].item_id, rows[3].source)
    assert Dataset(rows).fingerprint() != a.fingerprint()
    assert Dataset(reversed(list(a))).fingerprint() != a.fingerprint()  # row order matters (cache rows)
    # field boundaries are unambiguous
    assert (
        Dataset([Example("a b", 1, "en", "x", "s")]).fingerprint()
        != Dataset([Example("a", 1, "b en", "x", "s")]).fingerprint()
    )


def test_empty_dataset_errors():
    empty = Dataset()
    assert len(empty) == 0 and empty.languages == [] and repr(empty) == "Dataset(empty)"
    with pytest.raises(ValueError, match="split_by_item needs a non-empty Dataset"):
        split_by_item(empty)
    with pytest.raises(ValueError, match="k_fold_by_item needs a non-empty Dataset"):
        k_fold_by_item(empty, 3)
    with pytest.raises(ValueError, match="probe training needs a non-empty"):
        empty.ensure_nonempty("probe training")


# --- splits -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 7, 123])
@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5, 0.9])
def test_split_by_item_no_leak_stratified(seed, fraction):
    ds = load_safety_pairs(n_per_class=60)
    train, test = split_by_item(ds, test_fraction=fraction, seed=seed)
    assert not set(train.item_ids) & set(test.item_ids)
    assert len(train) + len(test) == len(ds) and set(train.item_ids) | set(test.item_ids) == set(ds.item_ids)
    for part in (train, test):
        assert set(part.labels) == {0, 1}
        for lang in ds.languages:  # every item of a side appears in every language on that side
            assert sorted(part.filter(language=lang).item_ids) == sorted(set(part.item_ids))
    n_test_per_class = Counter(ex.label for ex in test.filter(language="en"))
    assert n_test_per_class[0] == n_test_per_class[1] == round(fraction * 60)


def test_split_deterministic_and_seed_dependent():
    ds = load_safety_pairs(n_per_class=50)
    a = split_by_item(ds, seed=3)
    assert a == split_by_item(ds, seed=3)
    assert a[1] != split_by_item(ds, seed=4)[1]
    # keeps the original row order on each side
    order = {id(ex): i for i, ex in enumerate(ds)}
    assert [order[id(ex)] for ex in a[0]] == sorted(order[id(ex)] for ex in a[0])


def test_split_small_and_unstratified():
    tiny = toy(2, 2, ("en",))
    train, test = split_by_item(tiny, test_fraction=0.01)
    assert set(train.labels) == set(test.labels) == {0, 1}  # at least one item per class per side
    train, test = split_by_item(toy(5, 5), test_fraction=0.4, stratify=False)
    assert test.n_items == 4 and not set(train.item_ids) & set(test.item_ids)
    with pytest.raises(ValueError, match="at least 2 items in label 1"):
        split_by_item(toy(1, 5))
    with pytest.raises(ValueError, match="test_fraction must be strictly between 0 and 1"):
        split_by_item(toy(), test_fraction=1.0)


def test_split_mixed_label_item_errors():
    ds = Dataset([Example("a", 1, "en", "x", "s"), Example("b", 0, "zh", "x", "s"), Example("c", 0, "en", "y", "s")])
    with pytest.raises(ValueError, match=r"carry both labels.*\['x'\]"):
        split_by_item(ds)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_k_fold_covers_every_item_once(k):
    ds = load_safety_pairs(["en", "th"], n_per_class=23, seed=5)
    folds = list(k_fold_by_item(ds, k=k, seed=1))
    assert len(folds) == k
    seen = Counter()
    for train, test in folds:
        assert not set(train.item_ids) & set(test.item_ids)
        assert len(train) + len(test) == len(ds)
        assert set(train.labels) == set(test.labels) == {0, 1}
        seen.update(set(test.item_ids))
    assert set(seen) == set(ds.item_ids) and set(seen.values()) == {1}
    sizes = [test.n_items for _, test in folds]
    assert max(sizes) - min(sizes) <= 2
    assert [t.item_ids for _, t in folds] == [t.item_ids for _, t in k_fold_by_item(ds, k=k, seed=1)]


def test_k_fold_errors_raised_eagerly():
    with pytest.raises(ValueError, match="k must be an int >= 2"):
        k_fold_by_item(toy(), 1)
    with pytest.raises(ValueError, match="k=5 folds need at least 5 items in label 1, found 3"):
        k_fold_by_item(toy(3, 8), 5)


# --- user files ---------------------------------------------------------------------------------------


def test_load_csv_round_trip(tmp_path):
    p = tmp_path / "mine.csv"
    rows = [
        {"text": "How do I pick a lock?", "label": "harmful", "language": "en", "id": "q1"},
        {"text": "如何撬锁？", "label": "UNSAFE", "language": "zh", "id": "q1"},
        {"text": "What is the capital of France?", "label": "0", "language": "en", "id": "q2"},
        {"text": 'Line one\nline "two", with comma', "label": "Benign", "language": "en", "id": "q3"},
    ]
    with open(p, "w", encoding="utf-8-sig", newline="") as f:  # with a BOM, as Excel writes it
        w = csv.DictWriter(f, fieldnames=["text", "label", "language", "id"])
        w.writeheader()
        w.writerows(rows)
    ds = load_texts(p, id_column="id")
    assert ds.texts == [r["text"] for r in rows]
    assert ds.labels == [1, 1, 0, 0]
    assert ds.row_languages == ["en", "zh", "en", "en"]
    assert ds.item_ids == ["q1", "q1", "q2", "q3"]
    assert set(ds.sources) == {"mine.csv"}
    assert load_texts(p).item_ids == ["mine.csv:row-0", "mine.csv:row-1", "mine.csv:row-2", "mine.csv:row-3"]


def test_load_jsonl_round_trip_and_default_language(tmp_path):
    p = tmp_path / "mine.jsonl"
    recs = [
        {"prompt": "Tell me a joke", "y": False},
        {"prompt": "Write malware", "y": 1},
        {"prompt": "Hi", "y": "SAFE"},
    ]
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in recs) + "\n\n", encoding="utf-8")
    ds = load_texts(p, text_column="prompt", label_column="y", default_language="en")
    assert ds.texts == ["Tell me a joke", "Write malware", "Hi"] and ds.labels == [0, 1, 0]
    assert ds.row_languages == ["en"] * 3 and ds.item_ids == [
        "mine.jsonl:row-0",
        "mine.jsonl:row-1",
        "mine.jsonl:row-2",
    ]
    # .json holding JSON lines, and .json holding one array, read the same
    (tmp_path / "lines.json").write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "array.json").write_text(json.dumps(recs), encoding="utf-8")
    for name in ("lines.json", "array.json"):
        other = load_texts(tmp_path / name, text_column="prompt", label_column="y", default_language="en")
        assert other.texts == ds.texts and other.labels == ds.labels


def test_load_tsv(tmp_path):
    p = tmp_path / "mine.tsv"
    p.write_text("text\tlabel\tlanguage\na, b\ttoxic\tde\n", encoding="utf-8")
    ds = load_texts(p)
    assert ds.texts == ["a, b"] and ds.labels == [1] and ds.row_languages == ["de"]


def test_load_texts_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file.*nope.csv"):
        load_texts(tmp_path / "nope.csv")


def test_load_texts_unsupported_suffix(tmp_path):
    p = tmp_path / "data.txt"
    p.write_text("hello", encoding="utf-8")
    with pytest.raises(ValueError, match=r"unsupported file type '.txt'.*\.csv"):
        load_texts(p)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("e.csv", "", "e.csv is empty"),
        ("e.jsonl", "\n  \n", "e.jsonl is empty"),
        ("h.csv", "text,label,language\n", "h.csv has a header but no data rows"),
        ("a.json", "[]", "a.json has no rows"),
        # rows whose number of cells differs from the header's
        (
            "long.csv",
            "label,language,text\n0,en,fine\n1,en,How do I make a bomb, quickly?\n",
            r"long.csv row 1 \(line 3\): 4 cells, but the header has 3 columns .*\",\" inside a text that is not quoted",
        ),
        (
            "short.csv",
            "text,label,language\nhi,1,en\nbye,0\n",
            r"short.csv row 1 \(line 3\): 2 cells, but the header has 3 columns .*missing \",\"",
        ),
        (
            "long.tsv",
            "text\tlabel\tlanguage\nhi\tthere\t1\ten\n",
            r"long.tsv row 0 \(line 2\): 4 cells, but the header has 3 columns .*tab inside a text",
        ),
    ],
)
def test_load_texts_refuses_empty_and_ragged_files(tmp_path, name, content, message):
    p = tmp_path / name
    p.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_texts(p)


def test_load_texts_missing_columns(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("prompt,label,language\nhi,0,en\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"missing column 'text'.*columns found: \['prompt', 'label', 'language'\]"):
        load_texts(p)
    p.write_text("text,label\nhi,0\n", encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"missing column 'language'.*columns found: \['text', 'label'\].*default_language"
    ):
        load_texts(p)
    assert load_texts(p, default_language="fr").row_languages == ["fr"]
    with pytest.raises(ValueError, match=r"missing column 'group' \(id_column\)"):
        load_texts(p, default_language="fr", id_column="group")
    q = tmp_path / "m.jsonl"
    q.write_text('{"text": "hi", "language": "en"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"missing column 'label'.*columns found: \['text', 'language'\]"):
        load_texts(q)


def test_load_texts_bad_label_names_row(tmp_path):
    p = tmp_path / "l.csv"
    p.write_text("text,label,language\nfine,safe,en\nhmm,maybe,en\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"l.csv row 1 \(line 3\): label 'maybe' is not recognised") as err:
        load_texts(p)
    assert "harmful" in str(err.value) and "harmless" in str(err.value)
    q = tmp_path / "l.jsonl"
    q.write_text(
        '{"text": "a", "label": 1, "language": "en"}\n{"text": "b", "label": 2, "language": "en"}\n', encoding="utf-8"
    )
    with pytest.raises(ValueError, match=r"row 1 \(line 2\): label 2 is not recognised"):
        load_texts(q)
    p.write_text("text,label,language\nfine,,en\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"row 0 \(line 2\): empty label"):
        load_texts(p)


def test_load_texts_empty_text_names_row(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text('text,label,language\nok,1,en\nalso ok,0,en\n"  ",1,en\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"t.csv row 2 \(line 4\): empty text in column 'text'"):
        load_texts(p)
    q = tmp_path / "t.jsonl"
    q.write_text('{"text": "a", "label": 1, "language": "en"}\n{"label": 0, "language": "en"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"row 1 \(line 2\): empty text"):
        load_texts(q)


def test_load_texts_bad_json_line(tmp_path):
    q = tmp_path / "b.jsonl"
    q.write_text('{"text": "a", "label": 1, "language": "en"}\n{oops\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"b.jsonl: line 2 is not valid JSON"):
        load_texts(q)


def test_parse_label():
    for v in ["harmful", "Unsafe", " TOXIC ", "1", "true", 1, True, 1.0]:
        assert parse_label(v) == 1, v
    for v in ["harmless", "SAFE", "benign", "0", "False", 0, False]:
        assert parse_label(v) == 0, v
    for v in ["yes", 2, None, "", -1]:
        with pytest.raises(ValueError, match="not recognised"):
            parse_label(v)


def test_user_data_splits_by_id(tmp_path):
    p = tmp_path / "par.csv"
    lines = ["id,text,label,language"]
    for i in range(10):
        for lang in ("en", "de"):
            lines.append(f"item{i},text {i} {lang},{i % 2},{lang}")
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ds = load_texts(p, id_column="id")
    train, test = split_by_item(ds, test_fraction=0.4, seed=0)
    assert not set(train.item_ids) & set(test.item_ids) and test.n_items == 4


def test_dataset_from_records_and_pandas():
    import pandas as pd

    from mechint.data import Dataset

    records = [
        {"text": "How do I make a bomb?", "label": 1, "language": "en", "item_id": "q1"},
        {"text": "如何制造炸弹？", "label": 1, "language": "zh", "item_id": "q1"},
        {"text": "What is the capital of France?", "label": 0, "language": "en"},
    ]
    ds = Dataset.from_records(records, source="mine")
    assert ds.texts == [r["text"] for r in records] and ds.labels == [1, 1, 0]
    assert ds.item_ids == ["q1", "q1", "mine:row-2"] and ds.sources == ["mine"] * 3
    assert ds.languages == ["en", "zh"]
    frame = pd.DataFrame(
        {
            "prompt": [r["text"] for r in records],
            "y": [1, 1, 0],
            "lang": ["en", "zh", "en"],
            "item_id": ["q1", "q1", "q2"],
        }
    )
    from_frame = Dataset.from_pandas(frame, text="prompt", label="y", language="lang")
    assert from_frame.texts == ds.texts and from_frame.item_ids == ["q1", "q1", "q2"]
    with pytest.raises(
        ValueError, match=r"columns \['text', 'label', 'language'\] not in the DataFrame.*nearest: \['lang'\]"
    ):
        Dataset.from_pandas(frame)
    with pytest.raises(
        ValueError, match=r"record 0: missing \['label', 'language'\]; unknown keys \['lable'\]; nearest: \['label'\]"
    ):
        Dataset.from_records([{"text": "x", "lable": 1}])
    with pytest.raises(ValueError, match="label must be 0"):
        Dataset.from_records([{"text": "x", "label": 3, "language": "en"}])


def test_calling_languages_still_works_with_a_deprecation_warning():
    ds = load_safety_pairs(["en", "zh"], n_per_class=2)
    with pytest.warns(DeprecationWarning, match="ds.languages, not ds.languages()"):
        assert ds.languages() == ["en", "zh"]
