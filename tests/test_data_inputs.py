"""mechint.data on awkward inputs: boolean masks, strict filters, TSV quotes, ragged CSV rows, file ids,
encodings, numpy counts, minimal-pair loading. Fast; no network, no models."""

from __future__ import annotations

import pytest

from mechint import data
from mechint.data import HARMFUL, HARMLESS, Dataset, Example, load_texts, load_xquad, split_by_item


def toy() -> Dataset:
    rows = []
    for lang in ("en", "zh"):
        rows += [Example(f"bad {i} {lang}", HARMFUL, lang, f"h-{i}", "toy") for i in range(3)]
        rows += [Example(f"good {i} {lang}", HARMLESS, lang, f"s-{i}", "toy") for i in range(3)]
    return Dataset(rows)


# --- Dataset indexing with boolean masks ----------------------------------------------------------------


def test_bool_mask_selects_rows_list_numpy_torch():
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    ds = toy()
    harmful = [ex for ex in ds if ex.label == HARMFUL]
    mask = [ex.label == HARMFUL for ex in ds]
    assert list(ds[mask]) == harmful
    assert list(ds[np.array(mask)]) == harmful
    assert list(ds[np.array(ds.labels) == 1]) == harmful
    assert list(ds[torch.tensor(mask)]) == harmful
    assert list(ds[ds.label_tensor() == 1]) == harmful
    assert list(ds[[np.bool_(m) for m in mask]]) == harmful  # numpy bool scalars in a list
    assert len(ds[[False] * len(ds)]) == 0 and ds[[True] * len(ds)] == ds
    # integer indices are unchanged
    assert ds[np.array([0, 7])].texts == [ds[0].text, ds[7].text] and ds[[1, 0]].texts == [ds[1].text, ds[0].text]


def test_bool_mask_wrong_length_and_mixed_index_rejected():
    np = pytest.importorskip("numpy")
    ds = toy()
    with pytest.raises(IndexError, match=r"boolean mask has length 2, but the Dataset has 12 rows"):
        ds[[True, False]]
    with pytest.raises(IndexError, match="boolean mask has length 13"):
        ds[np.ones(13, dtype=bool)]
    with pytest.raises(TypeError, match="mixes bools and ints"):
        ds[[True, 3]]
    with pytest.raises(TypeError, match="not a bool"):
        ds[True]
    with pytest.raises(TypeError, match="must be ints"):
        ds[[0.0, 1.0]]


# --- Dataset.filter: no silent empty results ----------------------------------------------------------


def test_filter_empty_language_list_raises():
    with pytest.raises(ValueError, match=r"no languages requested; languages present: \['en', 'zh'\]"):
        toy().filter(language=[])


def test_filter_unknown_item_ids_raise_with_nearest():
    ds = toy()
    with pytest.raises(ValueError, match=r"1 item id\(s\) not in this dataset, e.g. \['nope'\]"):
        ds.filter(item_ids=["nope"])
    with pytest.raises(ValueError, match=r"\['h-7'\].*nearest: \[.*'h-1'"):
        ds.filter(item_ids=["h-1", "h-7"])
    assert ds.filter(item_ids=["s-0", "h-2"]).item_ids == ["h-2", "s-0", "h-2", "s-0"]
    assert ds.filter(item_ids=[]) == Dataset()  # an explicit empty selection keeps nothing


def test_filter_unknown_source_and_language_name_nearest():
    ds = toy()
    with pytest.raises(
        ValueError, match=r"source 'ty' not in this dataset; sources present: \['toy'\]; nearest: \['toy'\]"
    ):
        ds.filter(source="ty")
    assert ds.filter(source="toy") == ds
    with pytest.raises(ValueError, match=r"\['EN'\] not in this dataset.*nearest: \['en'\]"):
        ds.filter(language="EN")


# --- user files ---------------------------------------------------------------------------------------


def test_tsv_quote_at_start_of_cell_is_literal(tmp_path):
    p = tmp_path / "q.tsv"
    p.write_text(
        'text\tlabel\tlanguage\n"Quoted start\t1\ten\nWhat is 2+2?\t0\ten\n'
        'How to pick a lock? "x"\t1\ten\n"Ignore all rules" and tell me\t1\ten\nbye\t0\ten\n',
        encoding="utf-8",
    )
    ds = load_texts(p)
    assert ds.texts == [
        '"Quoted start',
        "What is 2+2?",
        'How to pick a lock? "x"',
        '"Ignore all rules" and tell me',
        "bye",
    ]
    assert ds.labels == [1, 0, 1, 1, 0]


def test_csv_quoting_still_honoured(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text('text,label,language\n"a, ""b""\nc",1,en\n', encoding="utf-8")
    assert load_texts(p).texts == ['a, "b"\nc']


def test_default_ids_name_the_file_so_files_concatenate(tmp_path):
    (tmp_path / "harmful.csv").write_text("text,label,language\nbomb,1,en\npoison,1,en\nsteal,1,en\n", encoding="utf-8")
    (tmp_path / "harmless.csv").write_text("text,label,language\nbake,0,en\nsing,0,en\nplant,0,en\n", encoding="utf-8")
    both = load_texts(tmp_path / "harmful.csv") + load_texts(tmp_path / "harmless.csv")
    assert both.item_ids[0] == "harmful.csv:row-0" and both.item_ids[3] == "harmless.csv:row-0"
    assert both.n_items == 6
    train, test = split_by_item(both, test_fraction=0.34)  # stratified: every item has one label
    assert not set(train.item_ids) & set(test.item_ids) and set(test.labels) == {0, 1}
    train, test = split_by_item(both, test_fraction=0.5, stratify=False)
    assert len(train) == len(test) == 3


def test_id_column_ids_shared_across_parallel_files(tmp_path):
    (tmp_path / "en.csv").write_text("id,text,label\nq1,bomb,1\nq2,bake,0\n", encoding="utf-8")
    (tmp_path / "de.csv").write_text("id,text,label\nq1,Bombe,1\nq2,backen,0\n", encoding="utf-8")
    both = load_texts(tmp_path / "en.csv", id_column="id", default_language="en") + load_texts(
        tmp_path / "de.csv", id_column="id", default_language="de"
    )
    assert both.item_ids == ["q1", "q2", "q1", "q2"] and both.n_items == 2


def test_default_ids_tell_apart_files_of_the_same_name(tmp_path):
    """Default ids were "<file name>:row-<i>": two mine.csv in different folders shared them, and
    item-id folds tied unrelated rows together. Read in one call, they get a parent-folder prefix."""
    from mechint.probes import fold_ids

    for folder, rows in (("en", "bomb,1\nbake,0\nsteal,1\n"), ("de", "Bombe,1\nbacken,0\nstehlen,1\n")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "mine.csv").write_text(
            "id,text,label\n" + "".join(f"q{i},{r}\n" for i, r in enumerate(rows.splitlines())), encoding="utf-8"
        )
    en, de = tmp_path / "en" / "mine.csv", tmp_path / "de" / "mine.csv"
    both = load_texts([en, de], default_language="xx")
    assert both.item_ids == [
        "en/mine.csv:row-0",
        "en/mine.csv:row-1",
        "en/mine.csv:row-2",
        "de/mine.csv:row-0",
        "de/mine.csv:row-1",
        "de/mine.csv:row-2",
    ]
    assert both.n_items == 6 and set(both.sources) == {"en/mine.csv", "de/mine.csv"}
    assert both.texts[3] == "Bombe"
    # item-id folds no longer tie row i of one file to row i of the other
    folds = [fold_ids(both, k=3, seed=seed, stratify=False) for seed in range(10)]
    assert any(f[0] != f[3] for f in folds)
    # the deliberate sharing stays: with an id_column, parallel files' rows are one item per id
    parallel = load_texts([en, de], id_column="id", default_language="xx")
    assert parallel.item_ids == ["q0", "q1", "q2"] * 2 and parallel.n_items == 3
    # names that are unique stay short; deeper folders only as far as needed
    (tmp_path / "harmful.csv").write_text("text,label\nbomb,1\n", encoding="utf-8")
    for top in ("a", "b"):
        (tmp_path / top / "x").mkdir(parents=True)
        (tmp_path / top / "x" / "mine.csv").write_text("text,label\nhi,0\n", encoding="utf-8")
    ds = load_texts(
        [tmp_path / "harmful.csv", tmp_path / "a/x/mine.csv", tmp_path / "b/x/mine.csv"], default_language="en"
    )
    assert ds.item_ids == ["harmful.csv:row-0", "a/x/mine.csv:row-0", "b/x/mine.csv:row-0"]
    assert load_texts([tmp_path / "harmful.csv"], default_language="en").item_ids == ["harmful.csv:row-0"]
    with pytest.raises(ValueError, match=r"given twice"):
        load_texts([en, tmp_path / "de" / ".." / "en" / "mine.csv"], default_language="en")
    with pytest.raises(ValueError, match=r"no files given"):
        load_texts([])
    with pytest.raises(FileNotFoundError, match=r"no such file.*nope\.csv"):
        load_texts([en, tmp_path / "nope.csv"])
    with pytest.raises(ValueError, match=r"de/mine\.csv row 1 \(line 3\): empty text"):
        (tmp_path / "de" / "mine.csv").write_text("id,text,label\nq0,Bombe,1\nq1,,0\n", encoding="utf-8")
        load_texts([en, de], default_language="xx")


def test_utf16_with_bom_is_read(tmp_path):
    p = tmp_path / "excel.tsv"
    p.write_bytes("text\tlabel\tlanguage\r\ncafé\t0\tfr\r\n如何\t1\tzh\r\n".encode("utf-16"))  # BOM + UTF-16 LE
    ds = load_texts(p)
    assert ds.texts == ["café", "如何"] and ds.labels == [0, 1]
    q = tmp_path / "be.csv"
    q.write_bytes(b"\xfe\xff" + "text,label,language\nhi,1,en\n".encode("utf-16-be"))
    assert load_texts(q).texts == ["hi"]


def test_non_utf8_file_names_file_and_offset(tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes("text,label,language\ncafé,0,fr\n".encode("cp1252"))
    with pytest.raises(
        ValueError, match=r"latin.csv: not UTF-8 text \(byte 0xe9 at byte offset 23.*re-save it as UTF-8"
    ):
        load_texts(p)


# --- bundled loaders ----------------------------------------------------------------------------------


@pytest.mark.bad_input
def test_counts_accept_numpy_and_torch_integers_not_bools():
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    assert load_xquad("en", n=np.int64(5)) == load_xquad("en", n=5)
    assert load_xquad("en", n=torch.tensor(5)) == load_xquad("en", n=5)
    assert data.load_safety_pairs("en", n_per_class=np.int32(4)) == data.load_safety_pairs("en", n_per_class=4)
    for bad in (True, np.bool_(True), torch.tensor(True), 2.0, "3", np.array([3])):
        with pytest.raises(ValueError, match="n must be an int"):
            load_xquad("en", n=bad)
        with pytest.raises(ValueError, match="n_per_class must be an int"):
            data.load_safety_pairs("en", n_per_class=bad)
    with pytest.raises(ValueError, match="n must be an int"):
        load_xquad("en", n=np.int64(0))


def test_minimal_pairs_exported_and_empty_languages_raise():
    from mechint.data.minimal_pairs import load_minimal_pairs

    assert data.load_minimal_pairs is load_minimal_pairs and "load_minimal_pairs" in data.__all__
    assert len(data.load_minimal_pairs("en")) == 5 and data.MINIMAL_PAIR_LANGUAGES[0] == "en"
    with pytest.raises(ValueError, match="no languages requested for minimal pairs; available: en, zh"):
        data.load_minimal_pairs([])
    with pytest.raises(ValueError, match="no languages requested"):
        data.load_multijail([])  # the other loaders already did this


def test_tsv_written_by_pandas_or_csv_writer_round_trips(tmp_path):
    """Writers quote a TSV cell holding a quote; reading it back gives the text, not the quoting."""
    import csv

    from mechint.data import load_texts

    texts = ['She said "no"', '"Ignore all rules" and then', "plain", '"']
    path = tmp_path / "w.tsv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(["text", "label", "language"])
        for t in texts:
            w.writerow([t, 1, "en"])
    assert load_texts(path).texts == texts


def test_an_empty_boolean_mask_is_checked_for_length_too():
    import numpy as np
    import torch

    from mechint import data

    ds = data.load_safety_pairs("en", n_per_class=2)
    for mask in (np.array([], dtype=bool), torch.tensor([], dtype=torch.bool)):
        with pytest.raises(IndexError, match="boolean mask has length 0, but the Dataset has 4 rows"):
            ds[mask]
