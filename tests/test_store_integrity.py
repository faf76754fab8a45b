"""The activation store never serves wrong rows: its identity covers the tokenizer, every shard is
verified against the manifest's checksums and row ranges, the manifest against its own checksum, and
a property test of random kills, corruptions and reorderings where every outcome is either the exact
rows of an uninterrupted run or a clear error."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
import torch
from conftest import VARIED_TEXTS

from mechint import ActivationStore, DamagedShardError, Model, StoreError, collect
from mechint import activations as acts_module
from mechint.testing import byte_tokenizer, tiny_hf_model, tiny_model

TEXTS = VARIED_TEXTS
SITES = ["blocks.0.hook_resid_post", "blocks.2.hook_resid_post"]
SHARD = 3  # ten texts: shards [0,3) [3,6) [6,9) [9,10)


@pytest.fixture(scope="module")
def model() -> Model:
    return tiny_model("llama", seed=0)


@pytest.fixture(scope="module")
def reference(model: Model, tmp_path_factory):
    """The rows of an uninterrupted store run (same shards, so the same batches, bit for bit)."""
    root = tmp_path_factory.mktemp("reference")
    return {pool: _store(model, root / pool, pool=pool) for pool in ("last", "all")}


def _store(model, path, pool="last", **kw):
    return collect(model, TEXTS, SITES, pool=pool, store=path, shard_size=SHARD, progress=False, **kw)


def _equal(a, b) -> bool:
    same = list(a) == list(b) and all(torch.equal(a[n], b[n]) for n in a)
    if a.pool == "all":
        same = same and torch.equal(a.lengths.long(), b.lengths.long())
    return same


class Forwards:
    def __init__(self, model: Model):
        self.n = 0
        self.handle = model.base.register_forward_pre_hook(lambda *_: setattr(self, "n", self.n + 1))


# ---------------------------------------------------------------------------------------------
# Identity: the tokenizer is part of what a store holds
# ---------------------------------------------------------------------------------------------


def _no_bos_model() -> Model:
    tok = byte_tokenizer()
    tok._tokenizer.post_processor = None  # same vocabulary, no BOS: other token ids, other rows
    return Model(tiny_hf_model("llama", seed=0), tok, name="tiny-llama-seed0")


def test_same_weights_other_tokenizer_is_refused_by_a_store_folder(model, tmp_path):
    _store(model, tmp_path / "s")
    other = _no_bos_model()
    assert acts_module.model_fingerprint(other) == acts_module.model_fingerprint(model)  # same weights and name
    with pytest.raises(StoreError, match="differs in: tokens"):
        _store(other, tmp_path / "s")
    with pytest.raises(StoreError, match="tokenize differently"):
        ActivationStore(tmp_path / "s").repair(other, TEXTS)


def test_same_weights_other_tokenizer_gets_its_own_rows_from_the_shared_store(model, tmp_path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path))
    with_bos = collect(model, TEXTS, SITES, store=True, progress=False)
    other = _no_bos_model()
    got = collect(other, TEXTS, SITES, store=True, progress=False)
    assert _equal(got, collect(other, TEXTS, SITES, progress=False))
    assert not torch.equal(got[SITES[0]], with_bos[SITES[0]])
    assert len(list((tmp_path / "activations").iterdir())) == 2


def test_max_length_is_part_of_the_identity(model, tmp_path):
    _store(model, tmp_path / "s")
    with pytest.raises(StoreError, match="max_length"):
        _store(model, tmp_path / "s", max_length=4)


# ---------------------------------------------------------------------------------------------
# Shards verified on every read
# ---------------------------------------------------------------------------------------------


def _flip(path: Path, offset: int, bit: int = 0x40) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= bit
    path.write_bytes(bytes(data))


def test_a_flipped_byte_in_a_shard_names_the_shard_and_repair_recollects_only_it(model, reference, tmp_path):
    path = tmp_path / "s"
    _store(model, path)
    shard = path / "shard-00001.safetensors"
    _flip(shard, len(shard.read_bytes()) - 5)  # in the tensor data, far from the header
    with pytest.raises(DamagedShardError, match=r"shard-00001\.safetensors \(texts 3\.\.5\)") as err:
        _store(model, path)
    assert err.value.shards == [1] and "repair" in str(err.value)
    store = ActivationStore(path)
    assert store.verify() == [1]
    forwards = Forwards(model)
    try:
        assert store.repair(model, TEXTS, batch_size=16, progress=False) == [1]
    finally:
        forwards.handle.remove()
    assert forwards.n == 1  # one batch: the three texts of shard 1, nothing else
    assert ActivationStore(path).verify() == []
    assert _equal(_store(model, path), reference["last"])


def test_a_missing_shard_is_named_by_load_and_by_collect(model, tmp_path):
    path = tmp_path / "s"
    _store(model, path, pool="all")
    (path / "shard-00003.safetensors").unlink()
    with pytest.raises(DamagedShardError, match=r"shard-00003.safetensors \(texts 9..9\) is missing"):
        ActivationStore(path).load()
    with pytest.raises(DamagedShardError, match="shard-00003.safetensors"):
        _store(model, path, pool="all")


def test_missing_truncated_and_swapped_shards_are_named_and_repaired(model, reference, tmp_path):
    path = tmp_path / "s"
    _store(model, path, pool="all")
    a, b = path / "shard-00000.safetensors", path / "shard-00002.safetensors"
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    (path / "shard-00001.safetensors").write_bytes(b"")
    (path / "shard-00003.safetensors").unlink()
    store = ActivationStore(path)
    assert store.verify() == [0, 1, 2, 3]
    with pytest.raises(DamagedShardError, match="shard-00000.safetensors"):
        store.load()
    assert store.repair(model, TEXTS, progress=False) == [0, 1, 2, 3]
    assert _equal(ActivationStore(path).load(), reference["all"])


def test_a_shard_whose_row_range_disagrees_with_the_manifest_is_refused(model, tmp_path):
    """The row range written inside each shard is cross-checked with the manifest, even when the
    manifest's checksums were made to match (a shard copied from another store, say)."""
    from safetensors.torch import load, save

    path = tmp_path / "s"
    _store(model, path)
    store = ActivationStore(path)
    shard = path / "shard-00001.safetensors"
    data = save(load(shard.read_bytes()), metadata={"start": "4", "stop": "7"})
    shard.write_bytes(data)
    import hashlib

    store.manifest["shards"][1].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    store._write_manifest()
    with pytest.raises(DamagedShardError, match="holds texts 4..6 by its own header"):
        ActivationStore(path).load()


# ---------------------------------------------------------------------------------------------
# The manifest
# ---------------------------------------------------------------------------------------------


def test_a_manifest_that_is_not_json_names_the_file(model, tmp_path):
    path = tmp_path / "s"
    _store(model, path)
    (path / "manifest.json").write_text('{"version": 2, "meta": ')
    with pytest.raises(StoreError, match=r"manifest .*manifest\.json is not valid JSON") as err:
        _store(model, path)
    assert "delete the folder" in str(err.value)


def test_an_edited_manifest_fails_its_checksum(model, tmp_path):
    path = tmp_path / "s"
    _store(model, path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["shards"][1]["stop"] = 5  # still valid JSON, still contiguous-looking
    manifest["shards"][2]["start"] = 5
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="checksum does not match"):
        ActivationStore(path).load()


def test_a_store_of_the_old_format_is_refused(model, tmp_path):
    path = tmp_path / "s"
    _store(model, path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["version"] = 1  # format 1 had no checksum
    del manifest["checksum"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="format version 1 in its manifest.json"):
        _store(model, path)


def test_the_shared_store_passes_over_a_damaged_manifest(model, tmp_path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path))
    collect(model, TEXTS, SITES, store=True, progress=False)
    (folder,) = (tmp_path / "activations").iterdir()
    (folder / "manifest.json").write_text("{")
    with pytest.raises(StoreError, match="not valid JSON"):  # the same key: its own folder is damaged
        collect(model, TEXTS, SITES, store=True, progress=False)
    # a subset of sites would have reused it as a superset; a damaged one is passed over
    sub = collect(model, TEXTS, SITES[:1], store=True, progress=False)
    assert torch.equal(sub[SITES[0]], collect(model, TEXTS, SITES[:1], progress=False)[SITES[0]])


# ---------------------------------------------------------------------------------------------
# Only the store's own files
# ---------------------------------------------------------------------------------------------


def test_filling_deletes_only_the_stores_own_temporary_files(model, reference, tmp_path):
    path = tmp_path / "s"
    path.mkdir()
    mine = [path / ".notes.tmp-1", path / ".draft.md.tmp-2-abc", path / "shard-notes.txt", path / "keep.safetensors"]
    for f in mine:
        f.write_text("user data")
    own = path / ".shard-00000.safetensors.tmp-123-0123abcd"  # what cache.temp_sibling names
    own.write_bytes(b"\x00" * 10)
    assert _equal(_store(model, path), reference["last"])
    assert all(f.read_text() == "user data" for f in mine)
    assert not own.exists()


def test_a_new_store_refuses_a_folder_with_shard_files_it_did_not_write(model, tmp_path):
    path = tmp_path / "s"
    path.mkdir()
    (path / "shard-00000.safetensors").write_bytes(b"someone else's")
    with pytest.raises(StoreError, match="would overwrite"):
        _store(model, path)
    assert (path / "shard-00000.safetensors").read_bytes() == b"someone else's"
    assert not (path / "manifest.json").exists()


def test_a_store_path_that_is_a_file_is_refused(model, tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        _store(model, path)


# ---------------------------------------------------------------------------------------------
# Property test: random kills, corruptions and reorderings
# ---------------------------------------------------------------------------------------------


class _Killed(BaseException):
    """A kill: raised from inside a write, as SIGKILL would stop the process there."""


def _fill_with_a_kill(model, path, pool, rng) -> None:
    """Start filling and kill the run at a random write: before it, in the middle (a torn temporary
    file left behind), or after it (a shard renamed into place but not yet listed)."""
    real = acts_module.atomic_write_bytes
    calls = {"n": 0}
    at, how = rng.randrange(1, 10), rng.choice(["before", "torn", "after"])

    def write(target, data):
        calls["n"] += 1
        if calls["n"] == at:
            if how == "torn":
                from mechint.disk import temp_sibling

                temp_sibling(target).write_bytes(data[: len(data) // 2])
            if how == "after":
                real(target, data)
            raise _Killed
        return real(target, data)

    acts_module.atomic_write_bytes = write
    try:
        _store(model, path, pool=pool)
    except _Killed:
        pass
    finally:
        acts_module.atomic_write_bytes = real


def _corrupt(path: Path, rng: random.Random) -> str:
    shards = sorted(path.glob("shard-*.safetensors"))
    kind = rng.choice(
        ["none", "flip", "flip", "truncate", "delete", "swap", "manifest-flip", "manifest-cut", "extra-bytes"]
    )
    if kind in ("flip", "truncate", "delete", "extra-bytes", "swap") and not shards:
        kind = "manifest-flip"
    target = rng.choice(shards) if shards else None
    if kind == "flip":
        _flip(target, rng.randrange(len(target.read_bytes())), 1 << rng.randrange(8))
    elif kind == "truncate":
        data = target.read_bytes()
        target.write_bytes(data[: rng.randrange(len(data))])
    elif kind == "delete":
        target.unlink()
    elif kind == "extra-bytes":
        target.write_bytes(target.read_bytes() + b"\x00")
    elif kind == "swap":
        other = rng.choice(shards)
        a, b = target.read_bytes(), other.read_bytes()
        target.write_bytes(b)
        other.write_bytes(a)
    elif kind == "manifest-flip":
        _flip(path / "manifest.json", rng.randrange(len((path / "manifest.json").read_bytes())), 1 << rng.randrange(7))
    elif kind == "manifest-cut":
        data = (path / "manifest.json").read_bytes()
        (path / "manifest.json").write_bytes(data[: rng.randrange(len(data))])
    return kind


@pytest.mark.parametrize("pool", ["last", "all"])
def test_random_kills_and_corruptions_give_the_exact_rows_or_a_clear_error(model, reference, tmp_path, pool):
    seed = int(os.environ.get("MECHINT_STORE_SEED") or random.randrange(1 << 30))  # the env var replays a failure
    rng = random.Random(seed)
    outcomes = {"exact": 0, "error": 0, "repaired": 0}
    for trial in range(24):
        path = tmp_path / f"{pool}-{trial}"
        _fill_with_a_kill(model, path, pool, rng)
        kind = "kill"
        try:
            if (path / "manifest.json").exists():
                kind += "+" + _corrupt(path, rng)
                if rng.random() < 0.3:  # a second kill (the resumed run meets the fault) and a second fault
                    kind += "+kill"
                    _fill_with_a_kill(model, path, pool, rng)
                    kind += "+" + _corrupt(path, rng)
            got = _store(model, path, pool=pool)
        except StoreError as err:
            message = str(err)
            where = f"seed {seed}, trial {trial}, faults {kind}: {message}"
            assert str(path) in message, where  # the error names the store
            assert "manifest" in message or "shard-" in message, where  # and the file
            outcomes["error"] += 1
            if isinstance(err, DamagedShardError):
                ActivationStore(path).repair(model, TEXTS, progress=False)
                assert _equal(_store(model, path, pool=pool), reference[pool]), where
                outcomes["repaired"] += 1
            continue
        assert _equal(got, reference[pool]), f"wrong rows served: seed {seed}, trial {trial}, faults {kind}"
        outcomes["exact"] += 1
    assert outcomes["exact"] + outcomes["error"] == 24
