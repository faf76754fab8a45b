"""Shared helpers for the benchmarks: timing, peak memory, tables, environment.

Timing: ``time_rounds`` runs every method once per round, round-robin (so slow drift of a shared
machine hits every method alike), after a warm-up, and reports the median over rounds. On CUDA each
measurement is bracketed by ``torch.cuda.synchronize()``.

Memory:
- CPU: peak resident set size (RSS) of the process above its RSS just before the measured call.
  Linux lets a process reset its own high-water mark (``echo 5 > /proc/self/clear_refs``); after the
  reset ``VmHWM`` in ``/proc/self/status`` is the peak RSS of the measured call alone. It counts every
  byte the process touched (tensors, Python objects, allocator slack), not only tensors. Where the
  reset is not allowed we fall back to ``resource.getrusage`` (lifetime peak), which only shows an
  increase when the measured call peaks above everything before it; the result says which was used.
- CUDA: ``torch.cuda.max_memory_allocated()`` after ``reset_peak_memory_stats()``, minus the memory
  allocated before the call (tensors only, not the caching allocator's reserve).

Models: ``random_llama`` builds the random-initialised Llama-3.2-1B-shaped model the CUDA benchmarks
default to (and its tiny variant for smoke tests).
"""

from __future__ import annotations

import gc
import json
import os
import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Callable, Sequence

import torch

MiB = 1024 * 1024


# ------------------------------------------------------------------------------------------ timing


def sync(device: str | torch.device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_call(fn: Callable[[], object], device: str | torch.device) -> float:
    """Wall seconds of one call, synchronised on CUDA."""
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def time_rounds(
    methods: dict[str, Callable[[], object]],
    device: str | torch.device,
    *,
    repeats: int = 3,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Seconds of each method in each of ``repeats`` rounds, round-robin (warm up before calling).

    A method that raises is dropped from the later rounds; returns ``(times, errors)``.
    """
    times: dict[str, list[float]] = {name: [] for name in methods}
    errors: dict[str, str] = {}
    for r in range(repeats):
        for name, fn in methods.items():
            if name in errors:
                continue
            gc.collect()
            try:
                dt = time_call(fn, device)
            except Exception as err:  # noqa: BLE001 - one failing method must not sink the others
                errors[name] = f"failed in round {r + 1}: {type(err).__name__}: {err}"
                log(f"  round {r + 1}/{repeats}  {name:<28s} FAILED: {errors[name]}")
                continue
            times[name].append(dt)
            log(f"  round {r + 1}/{repeats}  {name:<28s} {dt:8.3f} s")
    return times, errors


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def profile_table(fn: Callable[[], object], device: str | torch.device, *, rows: int = 40) -> str:
    """torch.profiler's operator table of one call of ``fn`` after a warm-up call, sorted by GPU
    time on CUDA (CPU time otherwise): where a call's time goes (kernels, copies, launches, syncs)."""
    from torch.profiler import ProfilerActivity, profile

    cuda = torch.device(device).type == "cuda"
    fn()
    sync(device)
    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
        fn()
        sync(device)
    sort = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=sort, row_limit=rows)


# ------------------------------------------------------------------------------------------ memory


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mib() -> float | None:
    """Current resident set size of this process (MiB), or None off Linux."""
    kb = _status_kb("VmRSS")
    return kb / 1024 if kb is not None else None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _maxrss_mib() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 / 1024 if platform.system() == "Darwin" else r / 1024


def peak_memory(fn: Callable[[], object], device: str | torch.device) -> dict:
    """Peak memory of one call of ``fn`` above what was in use just before it.

    Returns ``{"peak_mib": float, "measure": str}`` (see the module docstring for what each measure
    counts).
    """
    device = torch.device(device)
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        return {"peak_mib": (peak - before) / MiB, "measure": "cuda max_memory_allocated - allocated before"}
    before = rss_mib()
    if before is not None and _reset_peak_rss():
        fn()
        hwm = _status_kb("VmHWM")
        if hwm is not None:
            return {"peak_mib": hwm / 1024 - before, "measure": "peak RSS increase (VmHWM after clear_refs reset)"}
    lifetime_before = _maxrss_mib()
    fn()
    return {
        "peak_mib": max(0.0, _maxrss_mib() - lifetime_before),
        "measure": "ru_maxrss increase (lifetime peak; 0 if the call stayed below an earlier peak)",
    }


# ------------------------------------------------------------------------------------------ models


def random_llama(
    device: str | torch.device,
    dtype: torch.dtype,
    *,
    tiny: bool = False,
    tiny_layers: int = 2,
    seed: int = 0,
):
    """A random-initialised Llama-3.2-1B-shaped model (16 layers, d 2048, GQA 32/8, vocab 128256) with
    mechint's byte tokenizer, named ``random-llama-1b``; ``tiny``: a ``tiny_layers``-layer 64-wide one
    (vocab 512), named ``random-llama-1b-tiny``, to smoke-test a benchmark's code path.

    The weights are drawn after ``torch.manual_seed(seed)`` and initialised on ``device`` (fast on a
    GPU, no host copy).
    """
    from transformers import AutoModelForCausalLM, LlamaConfig

    from mechint import Model
    from mechint.testing import byte_tokenizer

    tok = byte_tokenizer()
    if tiny:
        shape = dict(
            hidden_size=64,
            intermediate_size=256,
            num_hidden_layers=tiny_layers,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=512,
        )
    else:
        shape = dict(
            hidden_size=2048,
            intermediate_size=8192,
            num_hidden_layers=16,
            num_attention_heads=32,
            num_key_value_heads=8,
            vocab_size=128256,
        )
    cfg = LlamaConfig(
        **shape,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        rope_theta=500000.0,  # pyright: ignore[reportCallIssue]  # by name in transformers 4; 5 folds it into rope_parameters
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    with torch.device(device):
        hf = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    return Model(hf.eval(), tok, name="random-llama-1b" + ("-tiny" if tiny else ""))


def load_model(args, *, tiny_layers: int = 2):
    """The model a benchmark's command line names: ``random-llama-1b`` (:func:`random_llama`, with
    ``args.tiny`` a ``tiny_layers``-layer one), ``tiny:FAMILY`` (mechint's tiny random model of that
    family) or any name :func:`mechint.load_model` takes, on ``args.device`` in ``args.torch_dtype``."""
    import mechint

    if args.model == "random-llama-1b":
        return random_llama(args.device, args.torch_dtype, tiny=args.tiny, tiny_layers=tiny_layers, seed=args.seed)
    if args.model.startswith("tiny:"):
        from mechint.testing import tiny_model

        return tiny_model(args.model.split(":", 1)[1], device=args.device, dtype=args.torch_dtype)
    return mechint.load_model(args.model, device=args.device, dtype=args.torch_dtype)


# ------------------------------------------------------------------------------------------ output


def log(msg: str) -> None:
    """A progress line, flushed at once (the scripts run under ``tee`` and timeouts)."""
    print(msg, flush=True)


def parse_methods(parser, text: str, allowed) -> list[str]:
    """The comma list ``--methods``, each checked against ``allowed`` (an error through ``parser``)."""
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in allowed]
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {', '.join(allowed)}")
    return methods


def results_path(name: str, device: str | torch.device, suffix: str = "") -> str:
    """``benchmarks/results/<name>_<cpu|cuda><suffix>.json``: where a script writes by default."""
    return str(Path(__file__).resolve().parent / "results" / f"{name}_{torch.device(device).type}{suffix}.json")


def environment(device: str | torch.device) -> dict:
    """Versions and hardware, for the JSON next to the numbers."""
    import importlib.metadata as md

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    for pkg in ("transformers", "transformer-lens", "nnsight", "mechint"):
        try:
            info[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            info[pkg] = None
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    else:
        info["cpu"] = platform.processor() or platform.machine()
    return info


def format_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """A plain-text table. ``columns``: ``(key, header, format)``; missing values print as ``-``."""
    cells = [[h for _, h, _ in columns]]
    for row in rows:
        line = []
        for key, _, fmt in columns:
            v = row.get(key)
            line.append("-" if v is None else (format(v, fmt) if fmt else str(v)))
        cells.append(line)
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    out = []
    for k, r in enumerate(cells):
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def write_json(path: str | os.PathLike, data: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str))
    return path
