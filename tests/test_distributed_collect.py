"""collect(distributed=True): several processes (torch.distributed, gloo on the CPU) fill one
activation store. The store equals a one-process run's row for row (bit for bit in float32), an
interrupted run (a rank raising, a rank killed) resumes with the same or another number of processes,
and a call the ranks disagree on fails on every rank with a message, never a hang.

The ranks are forked from the test process (so they share its imported modules and the tiny model,
and start in well under a second), meet through a rendezvous file, and are joined with a deadline.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import multiprocessing as mp
import os
import re
import signal
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from conftest import VARIED_TEXTS

from mechint import ActivationStore, Model, StoreError, collect
from mechint.activations import ActivationStore as _Store
from mechint.activations import Pool
from mechint.testing import tiny_model

TEXTS = [f"{i}: {t}" for i, t in enumerate(VARIED_TEXTS * 2)]  # 20 texts, 2 to ~90 tokens
SITES = ["blocks.0.hook_resid_post", "blocks.2.hook_resid_post"]
SHARD, BATCH = 3, 2  # 7 shards ([18, 20) the short last one), batches of 2 inside each
JOIN_S = 90.0  # every launch is joined within this; a rank still alive then is killed and the test fails
GROUP_TIMEOUT_S = 30  # the process group's own timeout: a collective missed by a peer errors out

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(), reason="no gloo backend"
)


@pytest.fixture(scope="module")
def model() -> Model:
    return tiny_model("llama", seed=0)


@pytest.fixture(scope="module")
def reference(model: Model, tmp_path_factory) -> dict[str, Path]:
    """One-process stores of the same collection (one torch thread, as in the ranks)."""
    root = tmp_path_factory.mktemp("reference")
    pools: tuple[Pool, ...] = ("last", "all")
    for pool in pools:
        _collect(model, root / pool, pool=pool)
    return {pool: root / pool for pool in pools}


def _collect(model: Model, store, *, pool: Pool = "last", texts=TEXTS, **kw):
    kw = {"sites": SITES, "batch_size": BATCH, "shard_size": SHARD, **kw}
    sites = kw.pop("sites")
    return collect(model, texts, sites, pool=pool, store=store, progress=False, **kw)


# ---------------------------------------------------------------------------------------------
# Launching ranks
# ---------------------------------------------------------------------------------------------


def _rank_main(rank: int, world: int, rendezvous: str, body: Callable[[int], Any], queue) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    try:
        dist.init_process_group(
            "gloo",
            init_method=f"file://{rendezvous}",
            rank=rank,
            world_size=world,
            timeout=datetime.timedelta(seconds=GROUP_TIMEOUT_S),
        )
        try:
            queue.put((rank, "ok", body(rank)))
        finally:
            dist.destroy_process_group()
    except BaseException as err:  # noqa: BLE001 - reported to the test
        queue.put((rank, type(err).__name__, str(err)))


def _launch(tmp_path: Path, world: int, body: Callable[[int], Any]) -> dict[int, tuple[str, Any]]:
    """Run ``body(rank)`` in ``world`` forked processes of one gloo process group; returns
    ``{rank: ("ok", value) or (exception type name, message)}``; a rank killed reports nothing."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    rendezvous = tmp_path / f"rendezvous-{uuid.uuid4().hex[:8]}"
    procs = [ctx.Process(target=_rank_main, args=(r, world, str(rendezvous), body, queue)) for r in range(world)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + JOIN_S
    results: dict[int, tuple[str, Any]] = {}
    try:
        while len(results) < world and any(p.is_alive() for p in procs) and time.monotonic() < deadline:
            try:
                rank, kind, value = queue.get(timeout=0.2)
                results[rank] = (kind, value)
            except Exception:  # noqa: BLE001 - queue.Empty: poll again
                pass
        for p in procs:
            p.join(timeout=max(0.1, deadline - time.monotonic()))
        hung = [r for r, p in enumerate(procs) if p.is_alive()]
        assert not hung, f"ranks {hung} still running after {JOIN_S} s (results so far: {results})"
        while len(results) < world:  # a report put just before its process ended
            try:
                rank, kind, value = queue.get(timeout=0.5)
                results[rank] = (kind, value)
            except Exception:  # noqa: BLE001 - none left
                break
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(timeout=10)
        queue.close()
    return results


def _all_ok(results: dict[int, tuple[str, Any]], world: int) -> list[Any]:
    assert sorted(results) == list(range(world)), results
    assert all(kind == "ok" for kind, _ in results.values()), results
    return [results[r][1] for r in range(world)]


class _TextCounter:
    """Texts run through the decoder stack in this process while it is open (a pre-hook on
    ``Model.base``)."""

    def __init__(self, model: Model):
        self.n = 0
        self._handle = model.base.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module, args, kwargs):
        ids = args[0] if args else kwargs.get("input_ids")
        self.n += int(ids.shape[0])

    def __enter__(self) -> "_TextCounter":
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()


def _texts_run(model: Model, **kw) -> Callable[[int], int]:
    """A rank's body: ``collect(distributed=True)`` into ``kw["store"]``; returns the texts it ran."""

    def body(rank: int) -> int:
        with _TextCounter(model) as counter:
            _collect(model, distributed=True, **kw)
        return counter.n

    return body


def _digest(acts) -> list:
    """What a rank returned, exactly: its rows' bytes, hashed (the tensors stay in the rank)."""
    tensors = [acts[s] for s in acts] + ([acts.lengths.long()] if acts.lengths is not None else [])
    return [acts.n, acts.pool, *(hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest() for t in tensors)]


def _same_rows(a, b) -> bool:
    same = list(a) == list(b) and all(torch.equal(a[n], b[n]) for n in a)
    if a.pool == "all":
        same = same and torch.equal(a.lengths.long(), b.lengths.long())
    return same


def _manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def _assert_store_is_the_reference(path: Path, reference: Path) -> None:
    """The store reads back as the one-process store: the same shard files, bit for bit the same
    rows, nothing of the distributed run left over."""
    got, ref = _manifest(path), _manifest(reference)
    assert got["complete"] and "plan" not in got
    # the same files with the same ranges and sizes (not always the same SHA-256: safetensors writes
    # the header's metadata in the order of a hash map, which differs between processes)
    same = ("file", "start", "stop", "bytes")
    assert [[s[k] for k in same] for s in got["shards"]] == [[s[k] for k in same] for s in ref["shards"]]
    assert not list(path.glob("manifest-rank-*")) and not list(path.glob(".*.tmp-*"))
    assert _same_rows(ActivationStore(path).load(), ActivationStore(reference).load())


# ---------------------------------------------------------------------------------------------
# Two processes equal one
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pool", ["last", "all"])
def test_two_processes_write_the_store_one_process_writes(model, reference, tmp_path, pool):
    path = tmp_path / "store"

    def body(rank):
        with _TextCounter(model) as counter:
            acts = _collect(model, path, pool=pool, distributed=True)
        return counter.n, _digest(acts)

    (n0, d0), (n1, d1) = _all_ok(_launch(tmp_path, 2, body), 2)
    assert n0 > 0 and n1 > 0 and n0 + n1 == len(TEXTS)  # disjoint shares covering every text once
    _assert_store_is_the_reference(path, reference[pool])
    assert d0 == d1 == _digest(ActivationStore(reference[pool]).load())  # every rank returns all rows
    # a second call reuses the store: nothing collected again
    again = _all_ok(_launch(tmp_path, 2, body), 2)
    assert [n for n, _ in again] == [0, 0]


def test_three_processes_and_the_shared_store(model, reference, tmp_path, monkeypatch):
    """store=True (the cache folder, shared by the ranks here) with three ranks: the same rows."""
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))

    def body(rank):
        return _digest(_collect(model, True, distributed=True))

    digests = _all_ok(_launch(tmp_path, 3, body), 3)
    assert digests[0] == digests[1] == digests[2] == _digest(ActivationStore(reference["last"]).load())
    (folder,) = (tmp_path / "cache" / "activations").iterdir()
    _assert_store_is_the_reference(folder, reference["last"])


# ---------------------------------------------------------------------------------------------
# Interrupted runs resume
# ---------------------------------------------------------------------------------------------


class _Stop(Exception):
    pass


def _fail_after_one_shard(model, path):
    """A rank's body: rank 1 raises in its second shard (after its forward), rank 0 goes on."""

    def body(rank):
        real = _Store._save_shard
        calls = {"n": 0}

        def save_then_stop(self, *args):
            calls["n"] += 1
            if calls["n"] == 2:
                raise _Stop("rank 1 stops here")
            return real(self, *args)

        with pytest.MonkeyPatch.context() as patch:
            if rank == 1:
                patch.setattr(_Store, "_save_shard", save_then_stop)
            _collect(model, path, distributed=True)

    return body


def _missing_rows(path: Path) -> int:
    return sum(s["stop"] - s["start"] for s in _manifest(path)["plan"]["shards"] if "sha256" not in s)


def test_a_rank_that_raises_stops_every_rank_and_the_written_shards_are_kept(model, reference, tmp_path):
    path = tmp_path / "store"
    results = _launch(tmp_path, 2, _fail_after_one_shard(model, path))
    assert results[1][0] == "_Stop"
    kind, message = results[0]
    assert kind == "RuntimeError" and "rank 1 of 2 failed while writing its shards: _Stop: rank 1 stops here" in message
    manifest = _manifest(path)
    assert not manifest["complete"] and manifest["plan"]["world_size"] == 2
    listed = [(s["start"], s["stop"]) for s in manifest["shards"]]
    planned = [(s["start"], s["stop"]) for s in manifest["plan"]["shards"]]
    assert listed + planned == [(a, min(a + SHARD, len(TEXTS))) for a in range(0, len(TEXTS), SHARD)]
    assert 0 < _missing_rows(path) < len(TEXTS) - SHARD  # rank 0's shards and one of rank 1's were kept
    assert not list(path.glob("manifest-rank-*"))  # merged by rank 0 before it raised
    # the partial store reads as a store of its listed rows, knowing nothing of the plan
    part = ActivationStore(path)
    if part.rows_done:
        rows, ref = part.load(), ActivationStore(reference["last"]).load()
        assert all(torch.equal(rows[s], ref[s][: part.rows_done]) for s in SITES)

    missing = _missing_rows(path)
    ran = _all_ok(_launch(tmp_path, 2, _texts_run(model, store=path)), 2)
    assert sum(ran) == missing  # only the rows not written before: none twice
    _assert_store_is_the_reference(path, reference["last"])


@pytest.mark.parametrize("damage", [False, True])
def test_a_killed_rank_and_a_rerun_with_as_many_processes(model, reference, tmp_path, damage):
    """Rank 1 is killed (SIGKILL) right after listing its first shard in its rank file; rank 0 finds
    out at the end (the group reports the lost peer). A rerun merges the rank file and collects the
    rest; with the rank file damaged, it warns and collects that rank's shards again."""
    path = tmp_path / "store"

    real = _Store._write_rank_file

    def write_then_die(self, r, shards):
        real(self, r, shards)
        os.kill(os.getpid(), signal.SIGKILL)

    def body(rank):
        with pytest.MonkeyPatch.context() as patch:
            if rank == 1:
                patch.setattr(_Store, "_write_rank_file", write_then_die)
            _collect(model, path, distributed=True)

    results = _launch(tmp_path, 2, body)
    assert 1 not in results  # killed: no report
    assert results[0][0] != "ok"  # the group's error about the lost peer
    (rank_file,) = path.glob("manifest-rank-00001.json")
    (lost,) = json.loads(rank_file.read_text())["shards"]  # rank 1's one shard
    listed = [s for f in path.glob("manifest-rank-*.json") for s in json.loads(f.read_text())["shards"]]
    missing = len(TEXTS) - sum(s["stop"] - s["start"] for s in listed)
    if damage:
        rank_file.write_text(rank_file.read_text().replace('"start"', '"begin"', 1))

    def rerun(rank):
        with warnings.catch_warnings(record=True) as caught, _TextCounter(model) as counter:
            warnings.simplefilter("always")
            _collect(model, path, distributed=True)
        return counter.n, [str(w.message) for w in caught if "rank file" in str(w.message)]

    (n0, warned), (n1, _) = _all_ok(_launch(tmp_path, 2, rerun), 2)
    if damage:  # the shard that rank file listed is collected again
        assert n0 + n1 == missing + lost["stop"] - lost["start"]
        assert any("ignored the damaged rank file" in w for w in warned)
    else:
        assert n0 + n1 == missing and not warned
    _assert_store_is_the_reference(path, reference["last"])


@pytest.mark.parametrize("resume_with", [1, 3, "plain"])
def test_resume_with_another_number_of_processes(model, reference, tmp_path, resume_with):
    """A two-process run interrupted, finished by one or three processes, or by a plain collect."""
    path = tmp_path / "store"
    _launch(tmp_path, 2, _fail_after_one_shard(model, path))
    missing = _missing_rows(path)
    if resume_with == "plain":
        with _TextCounter(model) as counter:
            _collect(model, path)
        assert counter.n == missing
    else:
        assert sum(_all_ok(_launch(tmp_path, resume_with, _texts_run(model, store=path)), resume_with)) == missing
    _assert_store_is_the_reference(path, reference["last"])


def test_a_one_process_run_interrupted_and_finished_by_two(model, reference, tmp_path, monkeypatch):
    path = tmp_path / "store"
    real = _Store._write_shard
    calls = {"n": 0}

    def write_then_stop(self, *args):
        real(self, *args)
        calls["n"] += 1
        if calls["n"] == 2:
            raise _Stop

    with monkeypatch.context() as patch:
        patch.setattr(_Store, "_write_shard", write_then_stop)
        with pytest.raises(_Stop):
            _collect(model, path)

    ran = _all_ok(_launch(tmp_path, 2, _texts_run(model, store=path)), 2)
    assert sum(ran) == len(TEXTS) - 2 * SHARD
    _assert_store_is_the_reference(path, reference["last"])


# ---------------------------------------------------------------------------------------------
# Bad input: an error on every rank, naming what is wrong
# ---------------------------------------------------------------------------------------------


@pytest.mark.bad_input
def test_without_a_process_group(model, tmp_path):
    with pytest.raises(RuntimeError, match=r"collect\(distributed=True\) needs an initialised torch.distributed"):
        _collect(model, tmp_path / "s", distributed=True)
    _collect(model, tmp_path / "t")
    with pytest.raises(RuntimeError, match="init_process_group"):
        ActivationStore(tmp_path / "t").fill(model, TEXTS, distributed=True)
    with pytest.raises(TypeError, match="distributed must be True or False"):
        _collect(model, tmp_path / "s", distributed="yes")
    assert not (tmp_path / "s").exists()


def _launch_each(tmp_path, model, per_rank: Callable[[int], dict], world: int = 2):
    """Every rank calls collect(distributed=True) with its own keyword arguments."""

    def body(rank):
        kw = {"store": tmp_path / "store", **per_rank(rank)}
        return _digest(_collect(model, kw.pop("store"), distributed=True, **kw))

    return _launch(tmp_path, world, body)


@pytest.mark.bad_input
@pytest.mark.parametrize(
    "case, rank1, expected",
    [
        (
            "fewer texts",
            {"texts": TEXTS[:10]},
            r"number of texts \(20 on rank 0, 10 on rank 1\); texts \(ranks \[1\]\)",
        ),
        ("other texts", {"texts": TEXTS[::-1]}, r"texts \(ranks \[1\]\)"),
        ("other sites", {"sites": SITES[:1]}, r"sites \(ranks \[1\]\)"),
        ("other batch size", {"batch_size": 4}, r"batch_size \(2 on rank 0, 4 on rank 1\)"),
        ("other pool", {"pool": "mean"}, r"pool \(ranks \[1\]\)"),
    ],
)
def test_ranks_that_disagree_are_refused_on_every_rank(model, tmp_path, case, rank1, expected):
    results = _launch_each(tmp_path, model, lambda rank: rank1 if rank == 1 else {})
    for rank in (0, 1):
        kind, message = results[rank]
        assert kind == "ValueError", (case, results)
        assert "needs the same call on every rank (every rank passes all the texts" in message
        assert re.search(expected, message), (case, message)
    assert not (tmp_path / "store").exists()  # refused before the store was made


@pytest.mark.bad_input
def test_ranks_with_different_models_are_refused(tmp_path):
    models = {0: tiny_model("llama", seed=0), 1: tiny_model("llama", seed=1)}

    def body(rank):
        return _collect(models[rank], tmp_path / "store", distributed=True).n

    results = _launch(tmp_path, 2, body)
    assert all(
        kind == "ValueError" and "model (weights, config or dtype) (ranks [1])" in m for kind, m in results.values()
    )


@pytest.mark.bad_input
def test_a_bad_argument_on_one_rank_fails_every_rank(model, tmp_path):
    results = _launch_each(tmp_path, model, lambda rank: {"pool": "max"} if rank == 1 else {})
    assert results[1][0] == "ValueError" and "pool" in results[1][1]
    kind, message = results[0]
    assert kind == "RuntimeError" and "rank 1 of 2 failed while checking the arguments: ValueError:" in message


@pytest.mark.bad_input
def test_no_store_and_a_store_only_one_rank_sees(model, tmp_path):
    results = _launch_each(tmp_path, model, lambda rank: {"store": None})
    assert all(kind == "ValueError" and "pass store=" in m for kind, m in results.values()), results
    # rank 1 writes elsewhere (a folder not shared with rank 0): refused before any shard is written
    results = _launch_each(tmp_path, model, lambda rank: {"store": tmp_path / "elsewhere"} if rank == 1 else {})
    assert results[1][0] == "StoreError" and "rank 1 does not see the manifest rank 0 has just written" in results[1][1]
    assert results[0][0] == "RuntimeError" and "rank 1 of 2 failed while reading the plan" in results[0][1]
    assert not list((tmp_path / "store").glob("shard-*")) and not list((tmp_path / "elsewhere").glob("shard-*"))


@pytest.mark.bad_input
def test_a_damaged_manifest_fails_every_rank(model, tmp_path):
    path = tmp_path / "store"
    _collect(model, path)
    (path / "manifest.json").write_text("{")
    results = _launch_each(tmp_path, model, lambda rank: {})
    assert results[0][0] == "StoreError" and "not valid JSON" in results[0][1]
    assert results[1][0] == "RuntimeError" and "rank 0 of 2 failed while opening the store: StoreError" in results[1][1]


@pytest.mark.parametrize(
    "plan, why",
    [
        ([{"file": "shard-00001.safetensors", "start": 4, "stop": 20}], "a gap after the listed rows"),
        ([{"file": "shard-00001.safetensors", "start": 3, "stop": 12}], "rows left unplanned"),
        ([{"file": "shard-00000.safetensors", "start": 3, "stop": 20}], "the name of a listed shard"),
        ([{"file": "../shard-00001.safetensors", "start": 3, "stop": 20}], "a name not the store's"),
    ],
)
def test_a_manifest_whose_plan_does_not_follow_its_shards_is_refused(model, tmp_path, plan, why):
    """A plan is checked as the listed shards are (a manifest with a matching checksum, as a bug
    would write it): it must continue the listed rows to the last text, in shards of new names."""
    path = tmp_path / "store"
    _collect(model, path)
    store = ActivationStore(path)
    store.manifest["shards"] = store.manifest["shards"][:1]
    store.manifest["plan"] = {"shards": plan, "run": 1, "world_size": 2}
    store._write_manifest()
    with pytest.raises(StoreError, match="manifest .* is inconsistent"):
        ActivationStore(path)
