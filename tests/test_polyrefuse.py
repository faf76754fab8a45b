"""PolyRefuse (mechint.data.load_polyrefuse): sizes, parallel ids, the Chinese gaps, errors, and the
bundled copy against upstream. Fast; no network, no models. Upstream checks skip without the folder."""

from __future__ import annotations

import json
import re
import statistics
import warnings
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from mechint import data
from mechint.data import (
    HARMFUL,
    HARMLESS,
    POLYREFUSE_LANGUAGES,
    POLYREFUSE_SPLITS,
    load_polyrefuse,
    polyrefuse_categories,
    split_by_item,
)

SHARED = Path("/work/shared/data/polyrefuse")
BUNDLED = resources.files("mechint.data").joinpath("bundled", "polyrefuse")
needs_upstream = pytest.mark.skipif(not SHARED.is_dir(), reason="upstream PolyRefuse copy not available")

# Items per (kind, split), as upstream's README and files have them (every language alike).
SIZES = {
    ("harmful", "train"): 260,
    ("harmful", "val"): 39,
    ("harmful", "test"): 572,
    ("harmless", "train"): 200,
    ("harmless", "val"): 200,
    ("harmless", "test"): 500,
}
LABEL = {"harmful": HARMFUL, "harmless": HARMLESS}
ID = re.compile(r"polyrefuse-(harmful|harmless)-(train|val|test)(-zh)?-\d{4}")


def load_quiet(split: str, **kwargs) -> data.Dataset:
    """load_polyrefuse without the warning about the Chinese harmless test gap (tested on its own)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PolyRefuse has no harmless test split in zh")
        return load_polyrefuse(split, **kwargs)


def per_language(ds: data.Dataset, lang: str, label: int) -> data.Dataset:
    return data.Dataset(ex for ex in ds if ex.language == lang and ex.label == label)


def own_sample(kind: str, split: str, lang: str) -> bool:
    """Rows that are not translations of the English rows: Chinese harmless train / val."""
    return (kind, split, lang) in {("harmless", "train", "zh"), ("harmless", "val", "zh")}


def upstream_texts(kind: str, split: str, lang: str) -> list[str] | None:
    """One language's texts of one (kind, split) as upstream's JSON has them; None where it has none."""
    if split == "test":
        path = SHARED / f"{kind}_test_translated_{lang}.json"
        field = "instruction" if (kind, lang) == ("harmful", "en") else "instruction_translated"
    elif lang == "en":
        path = SHARED / (f"en_harmful_{split}.json" if kind == "harmful" else f"en_harmless_{split}_200_sampled.json")
        field = "instruction"
    else:
        path, field = SHARED / f"{kind}_{split}_translated_{lang}.json", "instruction"
    if not path.exists():
        return None
    return [row[field] for row in json.loads(path.read_text(encoding="utf-8"))]


# --- the bundled files --------------------------------------------------------------------------------


def test_bundled_files_licence_and_datasheet():
    names = {f.name for f in BUNDLED.iterdir()}
    assert names == {
        "LICENSE",
        "COMMIT",
        *(f"{kind}_{split}.csv" for kind, split in SIZES),
        "harmless_train_zh.csv",
        "harmless_val_zh.csv",
    }
    assert "Apache License" in BUNDLED.joinpath("LICENSE").read_text(encoding="utf-8")
    assert re.fullmatch(r"[0-9a-f]{40}\n?", BUNDLED.joinpath("COMMIT").read_text(encoding="utf-8"))
    readme = resources.files("mechint.data").joinpath("bundled", "README.md").read_text(encoding="utf-8")
    assert "## polyrefuse/" in readme and "Apache-2.0" in readme and "2505.17306" in readme


@needs_upstream
def test_derivation_reproduces_the_bundled_copy(tmp_path):
    """The bundled tables are exactly what _derive writes from upstream (the check the other sets have)."""
    from mechint.data._derive import derive_polyrefuse

    written = derive_polyrefuse(SHARED, tmp_path)
    assert set(written) == {f.name for f in BUNDLED.iterdir()} - {"LICENSE", "COMMIT"}
    for name in written:
        assert (tmp_path / name).read_bytes() == BUNDLED.joinpath(name).read_bytes(), name
    for name in ("LICENSE", "COMMIT"):
        assert BUNDLED.joinpath(name).read_bytes() == (SHARED / name).read_bytes(), name


@needs_upstream
def test_derivation_refuses_a_changed_upstream(tmp_path):
    """A test file whose English no longer matches the English rows is refused, naming the file."""
    from mechint.data._derive import derive_polyrefuse

    src = tmp_path / "src"
    src.mkdir()
    for f in SHARED.iterdir():
        (src / f.name).write_bytes(f.read_bytes())
    rows = json.loads((src / "harmful_test_translated_de.json").read_text(encoding="utf-8"))
    rows[3]["instruction"] = "something else"
    (src / "harmful_test_translated_de.json").write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(ValueError, match=r"harmful_test_translated_de.json \(instruction\): 1 rows differ.*row 3"):
        derive_polyrefuse(src, tmp_path / "out")


# --- sizes and texts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("split", POLYREFUSE_SPLITS)
def test_sizes_per_split_kind_language(split):
    ds = load_quiet(split)
    counts = Counter((ex.language, ex.label) for ex in ds)
    for kind in LABEL:
        for lang in POLYREFUSE_LANGUAGES:
            want = 0 if (kind, split, lang) == ("harmless", "test", "zh") else SIZES[(kind, split)]
            assert counts[(lang, LABEL[kind])] == want, (kind, split, lang)
    assert set(ds.sources) == {"polyrefuse"} and ds.languages == sorted(POLYREFUSE_LANGUAGES)
    assert all(ID.fullmatch(i) for i in ds.item_ids)


@needs_upstream
@pytest.mark.parametrize("split", POLYREFUSE_SPLITS)
def test_texts_equal_upstream(split):
    """Every language's rows are upstream's, in upstream order, unchanged but for end whitespace."""
    ds = load_quiet(split)
    for kind in LABEL:
        for lang in POLYREFUSE_LANGUAGES:
            upstream = upstream_texts(kind, split, lang)
            got = per_language(ds, lang, LABEL[kind]).texts
            if upstream is None:
                assert (kind, split, lang) == ("harmless", "test", "zh") and got == []
                continue
            assert len(got) == len(upstream) == SIZES[(kind, split)], (kind, split, lang)
            assert got == [t.strip() for t in upstream], (kind, split, lang)


@needs_upstream
@pytest.mark.parametrize("kind", LABEL)
def test_test_files_english_instruction_is_the_english_row(kind):
    """In every test file, `instruction` (the English original) is the English row of the same item id."""
    en = load_polyrefuse("test", languages="en", kind=kind)
    english = dict(zip(en.item_ids, en.texts))
    for lang in POLYREFUSE_LANGUAGES:
        path = SHARED / f"{kind}_test_translated_{lang}.json"
        if not path.exists():
            continue
        rows = json.loads(path.read_text(encoding="utf-8"))
        translated = load_quiet("test", languages=lang, kind=kind)
        assert [english[i] for i in translated.item_ids] == [r["instruction"] for r in rows], lang


# --- parallel items and ids ---------------------------------------------------------------------------


@pytest.mark.parametrize("split", POLYREFUSE_SPLITS)
def test_parallel_rows_share_ids(split):
    ds = load_quiet(split)
    for kind, label in LABEL.items():
        en_ids = per_language(ds, "en", label).item_ids
        assert len(set(en_ids)) == len(en_ids) == SIZES[(kind, split)]
        assert en_ids == [f"polyrefuse-{kind}-{split}-{row:04d}" for row in range(len(en_ids))]
        for lang in POLYREFUSE_LANGUAGES:
            ids = per_language(ds, lang, label).item_ids
            if own_sample(kind, split, lang):
                assert not set(ids) & set(en_ids)
            elif ids:
                assert ids == en_ids, (kind, split, lang)


@pytest.mark.parametrize("split", ["train", "val"])
def test_chinese_harmless_rows_are_items_of_their_own(split):
    ds = load_polyrefuse(split, kind="harmless")
    zh = ds.filter(language="zh")
    assert zh.item_ids == [f"polyrefuse-harmless-{split}-zh-{row:04d}" for row in range(200)]
    others = set(ds.filter(language=[lang for lang in POLYREFUSE_LANGUAGES if lang != "zh"]).item_ids)
    assert not set(zh.item_ids) & others and len(others) == 200
    assert ds.n_items == 400


@pytest.mark.parametrize("kind, split", sorted(SIZES))
def test_lengths_follow_the_english_except_where_documented(kind, split):
    """A translation's length tracks its original's; the Chinese harmless train / val rows' do not,
    the evidence (besides reading them) that they are another sample, not translations of row i."""
    ds = load_quiet(split, kind=kind)
    en = [len(t) for t in ds.filter(language="en").texts]
    for lang in POLYREFUSE_LANGUAGES:
        if lang == "en" or lang not in ds.languages:
            continue
        r = statistics.correlation(en, [len(t) for t in ds.filter(language=lang).texts])
        if own_sample(kind, split, lang):
            assert abs(r) < 0.2, (kind, split, lang, r)
        else:
            assert r > 0.7, (kind, split, lang, r)


def test_split_by_item_keeps_translations_together():
    ds = load_polyrefuse("train")
    train, test = split_by_item(ds, test_fraction=0.25, seed=3)
    assert not set(train.item_ids) & set(test.item_ids)
    assert len(train) + len(test) == len(ds)
    for part in (train, test):
        assert set(part.labels) == {0, 1}
        by_item = Counter(part.item_ids)
        for item, n in by_item.items():  # all translations of an item on one side
            assert n == (1 if "-zh-" in item else 13 if "harmless" in item else 14), item


# --- the Chinese harmless test gap --------------------------------------------------------------------


def test_chinese_harmless_test_warns_when_other_languages_are_asked():
    with pytest.warns(UserWarning, match=r"no harmless test split in zh.*Leave zh out of languages") as caught:
        ds = load_polyrefuse("test", languages=["en", "zh"])
    assert caught[0].filename == __file__  # attributed to the caller's line
    assert Counter((ex.language, ex.label) for ex in ds) == {("en", 1): 572, ("en", 0): 500, ("zh", 1): 572}
    with pytest.warns(UserWarning, match="no harmless test split in zh"):
        load_polyrefuse("test")  # every language, zh included


def test_chinese_harmless_test_raises_when_chinese_is_all_that_is_asked():
    for kind in (("harmful", "harmless"), "harmless"):
        with pytest.raises(ValueError, match=r"no harmless test split in zh.*no harmless rows at all.*'yo'\]"):
            load_polyrefuse("test", languages="zh", kind=kind)


def test_no_warning_where_nothing_is_missing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_polyrefuse("test", languages="zh", kind="harmful")) == 572
        load_polyrefuse("test", languages=["en", "de"])
        load_polyrefuse("train")  # zh harmless train exists (as items of its own)


# --- selection ----------------------------------------------------------------------------------------


def test_kind_order_and_single_kind():
    ds = load_polyrefuse("val", languages=["th", "en"], kind=["harmless", "harmful"])
    assert ds.row_languages[0] == "th" and ds.row_languages[-1] == "en"
    th = ds.filter(language="th")
    assert th.labels == [0] * 200 + [1] * 39
    assert set(load_polyrefuse("val", kind="harmful").labels) == {1}
    assert load_polyrefuse("val", languages="en", kind="harmful") == load_polyrefuse(
        "val", languages=["en"], kind=["harmful", "harmful"]
    )


def test_n_per_class_same_items_every_language_and_seeded():
    ds = load_polyrefuse("train", languages=["en", "ar", "yo"], n_per_class=30, seed=1)
    assert Counter(ds.labels) == {1: 90, 0: 90}
    ids = [ds.filter(language=lang).item_ids for lang in ("en", "ar", "yo")]
    assert ids[0] == ids[1] == ids[2] and len(set(ids[0])) == 60
    assert load_polyrefuse("train", languages="de", n_per_class=30, seed=1).item_ids == ids[0]
    assert ds == load_polyrefuse("train", languages=["en", "ar", "yo"], n_per_class=30, seed=1)
    assert set(load_polyrefuse("train", languages="en", n_per_class=30, seed=2).item_ids) != set(ids[0])
    zh = load_polyrefuse("train", languages="zh", n_per_class=30, seed=1)
    assert Counter(zh.labels) == {1: 30, 0: 30}
    assert zh.filter(label=1).item_ids == ds.filter(language="en", label=1).item_ids
    assert load_polyrefuse("test", languages="en", kind="harmful", n_per_class=572) == load_polyrefuse(
        "test", languages="en", kind="harmful"
    )


def test_n_per_class_bounds_name_the_sizes():
    with pytest.raises(ValueError, match=r"between 1 and 39 \(PolyRefuse val has 39 harmful, 200 harmless items\)"):
        load_polyrefuse("val", n_per_class=40)
    assert len(load_polyrefuse("val", languages="en", kind="harmless", n_per_class=200)) == 200
    with pytest.raises(ValueError, match="n_per_class must be an int"):
        load_polyrefuse("val", n_per_class=0)


@pytest.mark.bad_input
def test_n_per_class_refuses_bools_and_floats():
    np = pytest.importorskip("numpy")
    assert load_polyrefuse("val", languages="en", n_per_class=np.int64(5)) == load_polyrefuse(
        "val", languages="en", n_per_class=5
    )
    for bad in (True, 2.0, "3"):
        with pytest.raises(ValueError, match="n_per_class must be an int"):
            load_polyrefuse("val", n_per_class=bad)


# --- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(split="tset"), r"split must be one of 'train', 'val', 'test', got 'tset'.*did you mean 'test'"),
        (dict(split="validation"), r"split must be one of 'train', 'val', 'test'"),
        (
            dict(languages=["en", "EN"]),
            r"unknown language\(s\) \['EN'\] for PolyRefuse; available: .*'yo'.*did you mean 'en'",
        ),
        (dict(languages="vi"), r"unknown language\(s\) \['vi'\] for PolyRefuse; available"),
        (dict(languages=[]), r"no languages requested for PolyRefuse"),
        (dict(kind="harmfull"), r"kind must be one of 'harmful', 'harmless', got 'harmfull'.*did you mean 'harmful'"),
        (dict(kind=["harmless", "safe"]), r"kind must be one of 'harmful', 'harmless', got 'safe'"),
        (dict(kind=[]), r"no kind requested for PolyRefuse; kinds: \['harmful', 'harmless'\]"),
    ],
)
def test_unknown_values_name_the_valid_ones(kwargs, message):
    split = kwargs.pop("split", "train")
    with pytest.raises(ValueError, match=message):
        load_polyrefuse(split, **kwargs)


@pytest.mark.bad_input
def test_wrong_types_are_refused_by_name():
    with pytest.raises(ValueError, match="split must be one of"):
        load_polyrefuse(0)
    with pytest.raises(TypeError, match="kind must be 'harmful', 'harmless' or a list of them, got 1"):
        load_polyrefuse("train", kind=1)
    with pytest.raises(TypeError, match="languages must be a code"):
        load_polyrefuse("train", languages=3)
    with pytest.raises(TypeError):
        load_polyrefuse("train", ["en"])  # languages is keyword-only: split comes first


# --- categories ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("split", ["val", "test"])
def test_categories_by_item_id(split):
    categories = polyrefuse_categories(split)
    ids = load_polyrefuse(split, languages="en", kind="harmful").item_ids
    assert list(categories) == ids and all(categories.values())
    if SHARED.is_dir():
        upstream = json.loads((SHARED / f"en_harmful_{split}.json").read_text(encoding="utf-8"))
        assert list(categories.values()) == [row["category"] for row in upstream]


def test_categories_of_train_and_bad_split_raise():
    with pytest.raises(
        ValueError, match=r"harmful train rows have no category upstream; splits with them: \['val', 'test'\]"
    ):
        polyrefuse_categories("train")
    with pytest.raises(ValueError, match="did you mean 'val'"):
        polyrefuse_categories("vall")


# --- the quirks the data sheet counts -----------------------------------------------------------------


def test_quirk_counts_of_the_data_sheet():
    """The counts of the data sheet's "known defects", measured on the bundled copy."""
    tables = {(kind, split): load_quiet(split, kind=kind) for kind, split in SIZES}
    en_test = tables[("harmful", "test")].filter(language="en").texts
    assert len(en_test) - len(set(en_test)) == 10  # the same English request under two ids
    rows = [t for ds in tables.values() for t in ds.texts]
    assert len(rows) == 3640 + 546 + 8008 + 2800 + 2800 + 6500
    assert sum("\u200b" in t for t in rows) == 111  # zero-width spaces, all inside a text
    assert all(t and t == t.strip() for t in rows)  # none empty, none with end whitespace
    for (kind, split), ds in tables.items():
        en = dict(zip(ds.filter(language="en").item_ids, ds.filter(language="en").texts))
        assert not [ex for ex in ds if ex.language != "en" and en.get(ex.item_id) == ex.text], (kind, split)


def test_exported():
    for name in ("POLYREFUSE_LANGUAGES", "POLYREFUSE_SPLITS", "load_polyrefuse", "polyrefuse_categories"):
        assert name in data.__all__ and hasattr(data, name)
    assert len(POLYREFUSE_LANGUAGES) == 14 and POLYREFUSE_SPLITS == ("train", "val", "test")
    from mechint.data import _derive  # the derivation keeps its own copy, as for XQuAD

    assert _derive.POLYREFUSE_LANGUAGES == POLYREFUSE_LANGUAGES and _derive.POLYREFUSE_SPLITS == POLYREFUSE_SPLITS
