"""Tests for the on-disk activation store: equality with in-memory collection, reuse without
recomputing, cache keys, meta checks, shard layout, and resuming after a real SIGKILL."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import VARIED_TEXTS
from torch.testing import assert_close

from mechint import Model
from mechint.activations import ActivationStore, collect
from mechint.testing import tiny_model

TOL = dict(atol=1e-5, rtol=1e-5)
ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("_store_worker.py")

TEXTS = VARIED_TEXTS  # ten texts: the shard ranges below count on them
SITES = ["blocks.0.hook_resid_post", "blocks.2.hook_resid_post", "blocks.1.attn.hook_z"]


def _load_worker():
    spec = importlib.util.spec_from_file_location("_store_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model() -> Model:
    return tiny_model("llama", seed=0)


class ForwardCounter:
    """Counts forward passes of the decoder stack (a pre-hook on Model.base)."""

    def __init__(self, model: Model):
        self.n = 0
        self._handle = model.base.register_forward_pre_hook(self._hook)

    def _hook(self, module, args):
        self.n += 1

    def close(self):
        self._handle.remove()


@pytest.fixture
def forwards(model: Model):
    counter = ForwardCounter(model)
    yield counter
    counter.close()


def _assert_same(a, b, tol=TOL):
    assert list(a) == list(b)
    assert a.pool == b.pool
    for name in a:
        assert a[name].dtype == b[name].dtype
        assert_close(a[name], b[name], **tol)
    if a.pool == "all":
        assert torch.equal(a.lengths.long(), b.lengths.long())
    else:
        assert a.lengths is None and b.lengths is None


def _manifest(root: Path) -> dict | None:
    try:
        return json.loads((root / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _assert_contiguous(shards: list[dict], n: int | None = None):
    stop = 0
    for shard in shards:
        assert shard["start"] == stop, f"shards are not contiguous: {shards}"
        assert shard["stop"] > shard["start"]
        stop = shard["stop"]
    if n is not None:
        assert stop == n, f"shards cover [0, {stop}), expected [0, {n})"


# ---------------------------------------------------------------------------------------------
# Equality with in-memory collection, and reuse
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pool", ["last", "mean", "all"])
def test_store_equals_in_memory(model: Model, tmp_path: Path, pool: str, forwards: ForwardCounter):
    mem = collect(model, TEXTS, SITES, pool=pool, batch_size=3, progress=False)
    path = tmp_path / "store"
    stored = collect(model, TEXTS, SITES, pool=pool, batch_size=3, store=path, shard_size=4, progress=False)
    _assert_same(stored, mem)
    assert stored.n == len(TEXTS)
    if pool == "all":
        for i in range(len(TEXTS)):
            assert_close(stored.row(SITES[1], i), mem.row(SITES[1], i), **TOL)

    manifest = _manifest(path)
    assert manifest["complete"] is True
    assert [(s["start"], s["stop"]) for s in manifest["shards"]] == [(0, 4), (4, 8), (8, 10)]
    assert sorted(p.name for p in path.glob("*.safetensors")) == [s["file"] for s in manifest["shards"]]
    assert not [p.name for p in path.iterdir() if p.name.endswith(".tmp")]

    # a second run reads the store and computes nothing
    forwards.n = 0
    again = collect(model, TEXTS, SITES, pool=pool, batch_size=3, store=path, shard_size=4, progress=False)
    assert forwards.n == 0
    _assert_same(again, stored, dict(atol=0, rtol=0))
    # reopening by path alone gives the same rows
    _assert_same(ActivationStore(path).load(), stored, dict(atol=0, rtol=0))


def test_store_false_is_in_memory(model: Model, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path))
    collect(model, TEXTS[:3], SITES, store=False, progress=False)
    assert not (tmp_path / "activations").exists()


def test_store_keeps_dtype_none_as_model_dtype(tmp_path: Path):
    bf16 = tiny_model("llama", seed=2, dtype=torch.bfloat16)
    mem = collect(bf16, TEXTS, SITES[:1], dtype=None, batch_size=4, progress=False)
    stored = collect(
        bf16, TEXTS, SITES[:1], dtype=None, batch_size=4, store=tmp_path / "s", shard_size=3, progress=False
    )
    assert stored[SITES[0]].dtype == torch.bfloat16
    assert_close(stored[SITES[0]].float(), mem[SITES[0]].float(), atol=2e-2, rtol=2e-2)
    assert _manifest(tmp_path / "s")["meta"]["dtype"] is None


def test_pool_all_stores_and_reloads_lengths(model: Model, tmp_path: Path):
    mem = collect(model, TEXTS, SITES, pool="all", progress=False)
    path = tmp_path / "all"
    collect(model, TEXTS, SITES, pool="all", store=path, shard_size=3, progress=False)
    st = ActivationStore(path)
    loaded = st.load([SITES[2]])
    assert list(loaded) == [SITES[2]]
    assert loaded.lengths.tolist() == [len(t.encode("utf-8")) + 1 for t in TEXTS]
    assert torch.equal(loaded.lengths.long(), mem.lengths)
    assert loaded[SITES[2]].shape == (int(mem.lengths.sum()), model.n_heads, model.d_head)
    for i in range(len(TEXTS)):
        assert_close(loaded.row(SITES[2], i), mem.row(SITES[2], i), **TOL)
    # per shard, the lengths count the shard's texts and sum to its token rows
    for start, stop, tensors in st.iter_shards():
        lengths = tensors["__lengths__"]
        assert lengths.numel() == stop - start
        for name in SITES:
            assert tensors[name].shape[0] == int(lengths.sum())


def test_iter_shards_are_contiguous_and_cover_every_row_once(model: Model, tmp_path: Path):
    path = tmp_path / "s"
    mem = collect(model, TEXTS, SITES, pool="last", progress=False)
    collect(model, TEXTS, SITES, pool="last", store=path, shard_size=3, progress=False)
    st = ActivationStore(path)
    assert st.complete and st.rows_done == st.n_rows == len(TEXTS)
    ranges = []
    for start, stop, tensors in st.iter_shards([SITES[0]]):
        ranges.append((start, stop))
        assert list(tensors) == [SITES[0]]
        assert tensors[SITES[0]].shape[0] == stop - start
        assert_close(tensors[SITES[0]], mem[SITES[0]][start:stop], **TOL)
    assert ranges == [(0, 3), (3, 6), (6, 9), (9, 10)]
    covered = [i for a, b in ranges for i in range(a, b)]
    assert covered == list(range(len(TEXTS)))
    with pytest.raises(KeyError, match="not in this store"):
        next(st.iter_shards(["blocks.1.hook_resid_post"]))


# ---------------------------------------------------------------------------------------------
# store=True: the shared store in the cache folder, keyed by model / texts / sites / pool
# ---------------------------------------------------------------------------------------------


def _stores(cache: Path) -> list[Path]:
    base = cache / "activations"
    return sorted(p for p in base.iterdir() if p.is_dir()) if base.exists() else []


def test_store_true_keys_by_model_texts_sites_pool(model: Model, tmp_path: Path, monkeypatch, forwards):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path))
    first = collect(model, TEXTS, "hook_resid_post", store=True, shard_size=4, progress=False)
    assert forwards.n > 0
    assert len(_stores(tmp_path)) == 1
    _assert_same(first, collect(model, TEXTS, "hook_resid_post", progress=False))

    # the same call: no forward, no new store
    forwards.n = 0
    again = collect(model, TEXTS, "hook_resid_post", store=True, shard_size=4, progress=False)
    assert forwards.n == 0
    _assert_same(again, first, dict(atol=0, rtol=0))
    assert len(_stores(tmp_path)) == 1

    # a subset of the sites reuses the complete superset store: no forward, no new store
    subset = collect(model, TEXTS, ["blocks.2.hook_resid_post", "blocks.0.hook_resid_post"], store=True, progress=False)
    assert forwards.n == 0
    assert list(subset) == ["blocks.2.hook_resid_post", "blocks.0.hook_resid_post"]
    for name in subset:
        assert torch.equal(subset[name], first[name])
    assert len(_stores(tmp_path)) == 1

    # different texts, a different pool, a different model: each its own store, computed
    other_texts = TEXTS[:-1] + ["another text"]
    changed = collect(model, other_texts, "hook_resid_post", store=True, progress=False)
    assert forwards.n > 0
    assert len(_stores(tmp_path)) == 2
    assert_close(changed["blocks.1.hook_resid_post"][:-1], first["blocks.1.hook_resid_post"][:-1], **TOL)

    forwards.n = 0
    mean = collect(model, TEXTS, "hook_resid_post", pool="mean", store=True, progress=False)
    assert forwards.n > 0
    assert len(_stores(tmp_path)) == 3
    assert not torch.allclose(mean["blocks.1.hook_resid_post"], first["blocks.1.hook_resid_post"])

    other_model = tiny_model("llama", seed=1)
    theirs = collect(other_model, TEXTS, "hook_resid_post", store=True, progress=False)
    assert len(_stores(tmp_path)) == 4
    assert not torch.allclose(theirs["blocks.1.hook_resid_post"], first["blocks.1.hook_resid_post"])

    # a site outside every stored collection: a new store
    forwards.n = 0
    collect(model, TEXTS, "blocks.1.hook_mlp_out", store=True, progress=False)
    assert forwards.n > 0
    assert len(_stores(tmp_path)) == 5


def test_store_true_does_not_reuse_an_incomplete_superset(model: Model, tmp_path: Path, monkeypatch, forwards):
    from mechint.activations import _open_store, _token_ids

    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path))
    names = [s.name for s in model.sites("hook_resid_post")]
    started = _open_store(
        True, model, TEXTS, _token_ids(model, TEXTS, None), names, "last", torch.float32, None
    )  # opened, never filled
    assert not started.complete
    sub = collect(model, TEXTS, "blocks.0.hook_resid_post", store=True, progress=False)
    assert forwards.n > 0
    assert len(_stores(tmp_path)) == 2
    _assert_same(sub, collect(model, TEXTS, "blocks.0.hook_resid_post", progress=False))


# ---------------------------------------------------------------------------------------------
# Meta checks and errors
# ---------------------------------------------------------------------------------------------


def test_store_with_different_meta_raises(model: Model, tmp_path: Path):
    path = tmp_path / "s"
    collect(model, TEXTS, SITES, pool="last", store=path, progress=False)
    with pytest.raises(ValueError, match=r"different collection \(differs in: sites\)"):
        collect(model, TEXTS, SITES[:1], pool="last", store=path, progress=False)
    with pytest.raises(ValueError, match=r"differs in: pool"):
        collect(model, TEXTS, SITES, pool="mean", store=path, progress=False)
    with pytest.raises(ValueError, match=r"differs in: .*texts"):
        collect(model, TEXTS[::-1], SITES, pool="last", store=path, progress=False)
    with pytest.raises(ValueError, match=r"differs in: model"):
        collect(tiny_model("llama", seed=3), TEXTS, SITES, pool="last", store=path, progress=False)
    with pytest.raises(ValueError, match=r"differs in: dtype"):
        collect(model, TEXTS, SITES, pool="last", dtype=torch.float64, store=path, progress=False)
    with pytest.raises(ValueError, match=str(path)):
        collect(model, TEXTS, SITES, pool="mean", store=path, progress=False)
    # the store itself is untouched by the refused calls
    assert _manifest(path)["meta"]["pool"] == "last"
    assert ActivationStore(path).complete


def test_fill_with_different_texts_raises(model: Model, tmp_path: Path):
    path = tmp_path / "s"
    collect(model, TEXTS, SITES, store=path, shard_size=4, progress=False)
    st = ActivationStore(path)
    with pytest.raises(ValueError, match="differ"):
        st.fill(model, TEXTS[::-1], progress=False)
    with pytest.raises(ValueError, match=f"expects {len(TEXTS)} texts"):
        st.fill(model, TEXTS[:-1], progress=False)
    st.fill(model, TEXTS, progress=False)  # the right texts: nothing to do, no error


def test_open_missing_and_empty_stores(tmp_path: Path, model: Model):
    with pytest.raises(FileNotFoundError, match="no activation store"):
        ActivationStore(tmp_path / "nothing")
    from mechint.activations import _open_store, _token_ids

    st = _open_store(
        tmp_path / "empty", model, TEXTS, _token_ids(model, TEXTS, None), SITES, "last", torch.float32, None
    )
    assert st.rows_done == 0 and not st.complete
    assert _manifest(tmp_path / "empty")["complete"] is False
    with pytest.raises(ValueError, match="no rows"):
        st.load()


@pytest.mark.bad_input
def test_invalid_arguments_do_not_poison_the_store_folder(model: Model, tmp_path: Path):
    """A typo (unknown pool) is refused before the store is created, so the same folder works with
    the corrected call."""
    path = tmp_path / "s"
    with pytest.raises(ValueError, match="pool"):
        collect(model, TEXTS, SITES, pool="max", store=path, progress=False)
    acts = collect(model, TEXTS, SITES, pool="last", store=path, progress=False)
    assert acts.n == len(TEXTS)


def test_store_argument_errors(model: Model, tmp_path: Path):
    with pytest.raises(ValueError, match="batch_size"):
        collect(model, TEXTS, SITES, batch_size=0, store=tmp_path / "b", progress=False)
    with pytest.raises(ValueError, match="shard_size"):
        collect(model, TEXTS, SITES, shard_size=0, store=tmp_path / "c", progress=False)


class _Interrupt(Exception):
    pass


def _fill_and_interrupt(store: ActivationStore, model: Model, texts, *, shard_size: int, after: int) -> None:
    """Run ``store.fill`` and interrupt it right after its ``after``-th shard is written and listed."""
    original = ActivationStore._write_shard
    written = {"n": 0}

    def write_then_stop(self, k, start, stop, tensors):
        original(self, k, start, stop, tensors)
        written["n"] += 1
        if written["n"] == after:
            raise _Interrupt

    ActivationStore._write_shard = write_then_stop
    try:
        with pytest.raises(_Interrupt):
            store.fill(model, texts, shard_size=shard_size, progress=False)
    finally:
        ActivationStore._write_shard = original


def test_resume_with_another_shard_size(model: Model, tmp_path: Path, forwards):
    """A partly filled store continues after its last listed row, whatever the new shard size."""
    from mechint.activations import _open_store, _token_ids

    path = tmp_path / "s"
    st = _open_store(path, model, TEXTS, _token_ids(model, TEXTS, None), SITES, "mean", torch.float32, None)
    _fill_and_interrupt(st, model, TEXTS, shard_size=3, after=2)
    assert [(s["start"], s["stop"]) for s in _manifest(path)["shards"]] == [(0, 3), (3, 6)]
    forwards.n = 0
    acts = collect(model, TEXTS, SITES, pool="mean", store=path, shard_size=7, batch_size=16, progress=False)
    assert forwards.n == 1  # only the 4 missing texts, in one batch
    shards = _manifest(path)["shards"]
    assert [(s["start"], s["stop"]) for s in shards] == [(0, 3), (3, 6), (6, 10)]
    _assert_same(acts, collect(model, TEXTS, SITES, pool="mean", progress=False))


def test_two_writers_on_one_store_keep_it_consistent(model: Model, tmp_path: Path):
    """Two processes sharing the cache (two notebooks) open the same store before either has
    filled it, with different shard sizes. Whatever the interleaving, the store must end up with
    contiguous shards holding every row once. Simulated in one process: A writes one shard and
    pauses, B fills everything, A goes on."""
    from mechint.activations import _open_store, _token_ids

    path = tmp_path / "s"
    a = _open_store(path, model, TEXTS, _token_ids(model, TEXTS, None), SITES, "last", torch.float32, None)
    b = _open_store(path, model, TEXTS, _token_ids(model, TEXTS, None), SITES, "last", torch.float32, None)
    _fill_and_interrupt(a, model, TEXTS, shard_size=4, after=1)
    b.fill(model, TEXTS, shard_size=3, progress=False)
    a.fill(model, TEXTS, shard_size=4, progress=False)

    final = ActivationStore(path)
    _assert_contiguous(final.manifest["shards"], len(TEXTS))
    rows = 0
    for start, stop, tensors in final.iter_shards():
        assert tensors[SITES[0]].shape[0] == stop - start, f"shard [{start}, {stop}) holds another range's rows"
        rows += stop - start
    assert rows == len(TEXTS)
    _assert_same(final.load(), collect(model, TEXTS, SITES, pool="last", progress=False))


# ---------------------------------------------------------------------------------------------
# A real kill: SIGKILL a worker process mid-way, damage the folder like a kill mid-write, resume
# ---------------------------------------------------------------------------------------------


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def _start(path: Path, sleep: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(path), str(sleep)],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _kill_after(path: Path, n_shards: int, extra_delay: float, sleep: float, timeout: float = 180.0) -> dict:
    """Start the worker, wait until the manifest lists ``n_shards`` shards (plus ``extra_delay``),
    SIGKILL it, and return the manifest it left."""
    proc = _start(path, sleep)
    deadline = time.monotonic() + timeout
    try:
        while True:
            manifest = _manifest(path)
            if manifest is not None and len(manifest["shards"]) >= n_shards:
                break
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"worker ended (rc={proc.returncode}) before {n_shards} shards:\n{err.decode()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"worker did not write {n_shards} shards within {timeout} s")
            time.sleep(0.005)
        time.sleep(extra_delay)
        proc.kill()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, f"worker was not killed (rc={proc.returncode})"
    manifest = _manifest(path)
    assert manifest is not None, "the manifest must stay readable after a kill"
    return manifest


def test_kill_and_resume(tmp_path: Path):
    worker = _load_worker()
    n, shard_size = worker.N_TEXTS, worker.SHARD_SIZE
    n_shards = n // shard_size
    path = tmp_path / "store"
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    sleep = 0.08  # seconds per batch: ~0.16 s per shard, 20 shards

    # first kill: after at least 3 shards are listed
    first = _kill_after(path, 3, 0.0, sleep)
    done = len(first["shards"])
    assert first["complete"] is False and 3 <= done < n_shards, (seed, first["shards"])
    _assert_contiguous(first["shards"])

    # the listed shards are complete and loadable on their own; their rows are the right texts'
    m = worker.model()
    expected = collect(m, worker.texts(), worker.SITES, pool=worker.POOL, batch_size=worker.BATCH_SIZE, progress=False)
    partial = ActivationStore(path)
    assert partial.rows_done == first["shards"][-1]["stop"] and not partial.complete
    part = partial.load()
    assert part.n == partial.rows_done
    for name in worker.SITES:
        assert_close(part[name], expected[name][: int(expected.offsets[part.n])], **TOL)

    # mimic a kill in the middle of writing: a half-written temporary shard, a shard file that was
    # renamed into place but never listed (garbage), and a half-written temporary manifest
    nxt = f"shard-{done:05d}.safetensors"
    (path / f".{nxt}.99999.tmp").write_bytes(b"\x00" * 100)
    (path / nxt).write_bytes(b"not a safetensors file")
    (path / ".manifest.json.99999.tmp").write_text('{"version": 1, "shards": [')

    # second kill at a random point: a random number of further shards and a random delay, so the
    # signal may land in the middle of a forward or of a write
    target = done + rng.randint(1, 6)
    second = _kill_after(path, target, rng.uniform(0.0, 0.25), sleep)
    assert second["complete"] is False, (seed, second["shards"])
    assert len(second["shards"]) >= target
    assert second["shards"][: len(first["shards"])] == first["shards"]
    _assert_contiguous(second["shards"])

    # resume to completion (no slowdown); in this process, to spare a third interpreter start-up:
    # everything the resumed run knows comes from the folder
    assert worker.main(["_store_worker.py", str(path), "0"]) == 0

    final = _manifest(path)
    assert final["complete"] is True
    shards = final["shards"]
    _assert_contiguous(shards, n)
    assert shards[: len(second["shards"])] == second["shards"]
    assert len({s["file"] for s in shards}) == len(shards)
    rows = [i for s in shards for i in range(s["start"], s["stop"])]
    assert rows == list(range(n)), "every row exactly once"

    st = ActivationStore(path)
    loaded = st.load()
    assert loaded.n == n == len(worker.texts())
    assert loaded.lengths.numel() == n
    _assert_same(loaded, expected)
    for start, stop, tensors in st.iter_shards():
        assert tensors["__lengths__"].numel() == stop - start


def test_shared_store_refuses_active_hooks(tmp_path, monkeypatch):
    """An intervention around collect must not be answered from the shared store of the plain model."""
    import mechint
    from mechint.testing import tiny_model

    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path))
    model = tiny_model("llama", seed=5)
    plain = mechint.collect(model, ["ab", "cde"], "blocks.1.hook_resid_post", store=True, progress=False)
    push = mechint.add_value(torch.ones(model.d_model))
    with model.hooks([("blocks.0.hook_resid_post", push)]):
        assert model.active_hooks == 1
        with pytest.raises(ValueError, match="hook"):
            mechint.collect(model, ["ab", "cde"], "blocks.1.hook_resid_post", store=True, progress=False)
        steered = mechint.collect(model, ["ab", "cde"], "blocks.1.hook_resid_post", progress=False)
    assert model.active_hooks == 0
    assert not torch.allclose(steered["blocks.1.hook_resid_post"], plain["blocks.1.hook_resid_post"])


# ---------------------------------------------------------------------------------------------
# The model fingerprint covers every weight; stores refuse another model, pool or dtype
# ---------------------------------------------------------------------------------------------


def test_model_fingerprint_sees_any_weight_changed_in_place():
    """A fine-tune that touches weights the old sampled fingerprint never read (beyond the first 4096
    values, or tensors it skipped) must change the key, or store=True returns stale activations."""
    from mechint.activations import model_fingerprint

    m = tiny_model("llama", seed=7)
    base = model_fingerprint(m)
    assert model_fingerprint(m) == base  # memoised, unchanged
    assert model_fingerprint(tiny_model("llama", seed=7)) == base  # deterministic: same weights, same key
    seen = {base}
    for name, p in m.hf.named_parameters():
        with torch.no_grad():
            p.view(-1)[-1] += 1e-3  # the last value: far past any sample of the first values
        now = model_fingerprint(m)
        assert now not in seen, f"changing {name} in place did not change the fingerprint"
        seen.add(now)
    # swapping two values of one tensor (their sum unchanged) changes it too
    w = m.hf.model.layers[1].mlp.down_proj.weight
    with torch.no_grad():
        w[0, 5], w[3, 9] = w[3, 9].clone(), w[0, 5].clone()
    assert model_fingerprint(m) not in seen
    # a replaced tensor (a new data pointer) is seen as well
    before = model_fingerprint(m)
    m.hf.model.norm.weight = torch.nn.Parameter(m.hf.model.norm.weight.detach() * 2)
    assert model_fingerprint(m) != before


def test_store_true_recomputes_after_a_weight_changes_in_place(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path))
    m = tiny_model("llama", seed=8)
    site = "blocks.2.hook_resid_post"
    first = collect(m, TEXTS, site, store=True, progress=False)
    with torch.no_grad():
        m.hf.model.layers[2].mlp.down_proj.weight[:, -1] += 1.0  # a late column of a late layer
    fresh = collect(m, TEXTS, site, progress=False)
    assert not torch.allclose(fresh[site], first[site])
    again = collect(m, TEXTS, site, store=True, progress=False)
    assert_close(again[site], fresh[site], **TOL)
    assert len(_stores(tmp_path)) == 2


def test_store_object_with_different_meta_raises(model: Model, tmp_path: Path):
    """An ActivationStore passed as store= is checked like a path: another pool, dtype, site list,
    max_length or model is refused instead of answered with the stored rows."""
    path = tmp_path / "s"
    collect(model, TEXTS, SITES, pool="last", store=path, progress=False)
    st = ActivationStore(path)
    with pytest.raises(ValueError, match=r"differs in: pool"):
        collect(model, TEXTS, SITES, pool="mean", store=st, progress=False)
    with pytest.raises(ValueError, match=r"differs in: dtype"):
        collect(model, TEXTS, SITES, dtype=torch.float64, store=st, progress=False)
    with pytest.raises(ValueError, match=r"differs in: sites"):
        collect(model, TEXTS, SITES[:1], store=st, progress=False)
    with pytest.raises(ValueError, match=r"differs in: max_length"):
        collect(model, TEXTS, SITES, max_length=4, store=st, progress=False)
    with pytest.raises(ValueError, match=r"differs in: model"):
        collect(tiny_model("llama", seed=3), TEXTS, SITES, store=st, progress=False)
    # the same collection through the object: the stored rows
    _assert_same(collect(model, TEXTS, SITES, store=st, progress=False), st.load(), dict(atol=0, rtol=0))


def test_resume_with_another_model_raises(model: Model, tmp_path: Path):
    """Filling the rest of an interrupted store with another model would mix two models' rows."""
    from mechint.activations import _open_store, _token_ids

    path = tmp_path / "s"
    st = _open_store(path, model, TEXTS, _token_ids(model, TEXTS, None), SITES, "last", torch.float32, None)
    _fill_and_interrupt(st, model, TEXTS, shard_size=3, after=1)
    other = tiny_model("llama", seed=4)
    with pytest.raises(ValueError, match="another model"):
        ActivationStore(path).fill(other, TEXTS, progress=False)
    assert [(s["start"], s["stop"]) for s in _manifest(path)["shards"]] == [(0, 3)]  # nothing added
    ActivationStore(path).fill(model, TEXTS, shard_size=3, progress=False)  # the right model resumes
    _assert_same(ActivationStore(path).load(), collect(model, TEXTS, SITES, progress=False))


def test_rows_of_an_intervention_count_the_stores_texts_across_shards(tmp_path):
    import mechint
    from mechint.testing import tiny_model

    model = tiny_model("llama")
    texts = ["a", "bbbbb", "cc", "dddddddd", "eee"]
    site = "blocks.0.hook_resid_post"
    d = torch.zeros(model.d_model)
    d[0] = 1.0
    base = mechint.collect(model, texts, site, progress=False)[site]
    with mechint.intervene(model, mechint.AddDirection(d, 100.0, layers=[0], rows=[0, 3])):
        got = mechint.collect(model, texts, site, store=tmp_path / "a", shard_size=2, progress=False)[site]
    assert ((got - base)[:, 0] > 50).tolist() == [True, False, False, True, False]
    with mechint.intervene(model, mechint.AddDirection(d, torch.arange(5.0), layers=[0])):
        got = mechint.collect(model, texts, site, store=tmp_path / "b", shard_size=2, progress=False)[site]
    torch.testing.assert_close((got - base)[:, 0], torch.arange(5.0), atol=1e-4, rtol=0)
