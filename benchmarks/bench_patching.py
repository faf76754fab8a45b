"""Activation patching sweeps: mechint against TransformerLens, an nnsight loop, and plain forwards.

Task: patch the clean run's residual stream ``blocks.{l}.hook_resid_pre`` into the corrupted run at
every layer x position (one prompt pair) and score each patched run with a logit difference at the
last position. Every method computes the same ``[n_layers, n_positions]`` grid.

Methods (rows of the table):

- ``mechint``        ``mechint.patching.activation_patch(model, clean, corrupted, logit_diff(...))``:
                     batched rows, each starting at its patched layer from the cached corrupted run,
                     computing only positions from the patched one on (prefix keys/values reused),
                     unembedding only the last position and the two answer tokens.
                     Cells whose clean activation equals the corrupted one bit for bit (positions
                     before the prompts' first difference; at the embedding, every position whose
                     token agrees) get the corrupted metric without a run.
- ``mechint_all``    the same with ``skip_unchanged=False``: every cell runs.
- ``batched``        batching alone: the corrupted prompt tiled into rows, one write hook per layer
                     (mechint's engine) putting each row's clean position in, full forward with all
                     logits; the same chunk of rows per forward as ``plain``.
- ``plain``          the same number of plain forward passes of the corrupted prompt (one per cell),
                     batched the same way, logits computed, nothing patched: the cost floor of any
                     sweep that runs whole forwards.
- ``tl``             TransformerLens 4.3 ``transformer_lens.patching.get_act_patch_resid_pre`` on a
                     ``TransformerBridge`` around a deep copy of the module: one forward per cell.
                     Timed once (``--tl-repeats``). Where its estimated time exceeds ``--tl-budget-s``
                     it runs the first layers' cells only (``generic_activation_patch`` with an
                     ``index_df``) and the full-grid time is extrapolated from them (marked in the
                     table and the JSON).
- ``nnsight``        nnsight 0.8 ``LanguageModel`` on a deep copy: one ``trace`` per cell that sets
                     ``layers[l].input[:, p]`` to the clean value and saves the logits; timed and
                     capped like ``tl``.

CPU default: gemma-3-270m (embedded, float32), the 15-token IOI pair "When Mary and John went to the
store, John/Mary gave a drink to", metric logit(" Mary") - logit(" John"): 18 layers x 15 positions.
CUDA default: random-initialised Llama-3.2-1B shape (16 layers, d 2048, GQA 32/8, vocab 128256) in
bfloat16, byte tokenizer, random prompts of 32 and 128 tokens with the corrupted prompt differing at
a quarter of the positions (the last included), metric = logit difference between the clean and the
corrupted run's top tokens.

Timing: a warm-up of each method first (one cell for tl/nnsight), then ``--repeats`` rounds (median);
on CUDA every measurement is bracketed by ``torch.cuda.synchronize()``. Peak memory: CUDA,
``max_memory_allocated`` minus the memory allocated before, on the first timed round; CPU, the peak
RSS increase (VmHWM after a ``clear_refs`` reset, glibc's mmap threshold fixed at 64 KiB so freed
blocks leave the RSS) of one call in a fresh process per method, after one plain forward paged the
weights in (in the shared process, memory freed by an earlier method is reused and the mark does not
move). Results are compared with mechint's grid cell by cell.

Run ``python benchmarks/bench_patching.py --help``; see ``benchmarks/README.md`` for the commands.
"""

from __future__ import annotations

import argparse
import copy
import functools
import gc
import json
import os
import statistics
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

ALL_METHODS = ("mechint", "mechint_all", "batched", "plain", "tl", "nnsight")
LABELS = {
    "mechint": "mechint.activation_patch",
    "mechint_all": "mechint, every cell run (skip_unchanged=False)",
    "batched": "batched sweep, no other trick",
    "plain": "plain batched forwards (1 per cell)",
    "tl": "TransformerLens get_act_patch_resid_pre",
    "nnsight": "nnsight, one trace per cell",
}
IOI = (
    "When Mary and John went to the store, John gave a drink to",
    "When Mary and John went to the store, Mary gave a drink to",
)


log = _common.log


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument(
        "--model",
        default=None,
        help="embedded name or folder (cpu default gemma-3-270m); 'random-llama-1b' (cuda default)",
    )
    p.add_argument("--dtype", default=None, help="float32 (cpu default) or bfloat16 (cuda default)")
    p.add_argument(
        "--positions",
        default=None,
        help="prompt lengths for random-llama-1b, comma list (default 32,128; --tiny 8,12); the embedded model uses the IOI pair (15)",
    )
    p.add_argument("--repeats", type=int, default=3, help="timed rounds of mechint/batched/plain (median)")
    p.add_argument("--tl-repeats", type=int, default=1, help="timed rounds of tl and nnsight")
    p.add_argument(
        "--tl-budget-s",
        type=float,
        default=None,
        help="seconds tl (and nnsight) may take per grid before they run a subset of layers (default cpu 600, cuda 25)",
    )
    p.add_argument(
        "--rows",
        type=int,
        default=None,
        help="rows per forward for batched/plain (default: 8192 // positions on cuda, 32 on cpu)",
    )
    p.add_argument(
        "--mechint-rows",
        type=int,
        default=None,
        help="activation_patch batch_size (patched runs per forward; default: its automatic choice)",
    )
    p.add_argument(
        "--mechint-tokens",
        type=int,
        default=None,
        help="activation_patch tokens_per_batch (runs x computed positions per forward; default: its own)",
    )
    p.add_argument("--methods", default=",".join(ALL_METHODS), help=f"comma list from {','.join(ALL_METHODS)}")
    p.add_argument("--tiny", action="store_true", help="tiny random shapes: smoke-test a mode's code path in seconds")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="JSON results (default benchmarks/results/patching_<device>.json)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements")
    p.add_argument(
        "--profile",
        default=None,
        help="after the timings, run mechint once per grid under torch.profiler and write its table of "
        "operators (by device time on cuda) to this text file",
    )
    p.add_argument("--_probe", default=None, help=argparse.SUPPRESS)  # internal: CPU peak memory of one method
    p.add_argument("--_probe-T", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads is None and args.tiny:
        args.threads = 1  # tiny shapes: more threads only add contention
    if args.threads:
        torch.set_num_threads(args.threads)
    args.device = str(torch.device(args.device))
    args.is_cuda = torch.device(args.device).type == "cuda"
    if args.is_cuda and not torch.cuda.is_available():
        p.error("--device cuda but torch.cuda.is_available() is False")
    if args.model is None:
        args.model = "random-llama-1b" if (args.is_cuda or args.tiny) else "gemma-3-270m"
    if args.dtype is None:
        args.dtype = "bfloat16" if args.is_cuda else "float32"
    args.torch_dtype = getattr(torch, args.dtype)
    if args.positions is None:
        args.positions = "8,12" if args.tiny else "32,128"
    args.positions = [int(x) for x in str(args.positions).split(",") if x.strip()]
    if args.tl_budget_s is None:
        args.tl_budget_s = 25.0 if args.is_cuda else (30.0 if args.tiny else 600.0)
    args.methods = _common.parse_methods(p, args.methods, ALL_METHODS)
    if args.out is None:
        args.out = _common.results_path("patching", args.device, "_tiny" if args.tiny else "")
    return args


# ------------------------------------------------------------------------------------------ setup


def prompt_pairs(model, args) -> list[dict]:
    """One task per grid: clean/corrupted ids ``[1, T]`` and the two answer tokens."""
    from mechint.patching.metrics import logit_diff

    tasks = []
    if args.model != "random-llama-1b":
        clean, corrupted = (model.to_tokens(t) for t in IOI)
        good = model.tokenizer(" Mary", add_special_tokens=False)["input_ids"]
        bad = model.tokenizer(" John", add_special_tokens=False)["input_ids"]
        tasks.append(
            {
                "T": clean.shape[1],
                "clean": clean,
                "corrupted": corrupted,
                "metric": logit_diff(good, bad),
                "answers": (good, bad),
                "what": "IOI pair, logit(' Mary') - logit(' John')",
            }
        )
        return tasks
    gen = torch.Generator().manual_seed(args.seed)
    for T in args.positions:
        body = torch.randint(0, 256, (1, T - 1), generator=gen)
        clean = torch.cat([torch.full((1, 1), model.tokenizer.bos_token_id), body], 1)
        corrupted = clean.clone()
        changed = torch.randperm(T - 2, generator=gen)[: max(1, T // 4) - 1] + 1
        changed = torch.cat([changed, torch.tensor([T - 1])])
        corrupted[0, changed] = (
            corrupted[0, changed] + 1 + torch.randint(0, 254, (len(changed),), generator=gen)
        ) % 256
        clean, corrupted = clean.to(args.device), corrupted.to(args.device)
        with torch.inference_mode():
            top_c = int(model(clean)[0, -1].float().argmax())
            lc = model(corrupted)[0, -1].float()
            lc[top_c] = -float("inf")
            top_k = int(lc.argmax())
        tasks.append(
            {
                "T": T,
                "clean": clean,
                "corrupted": corrupted,
                "metric": logit_diff([top_c], [top_k]),
                "answers": ([top_c], [top_k]),
                "what": f"random tokens, {len(changed)} positions changed (last included), logit diff of the two runs' top tokens",
            }
        )
    return tasks


# ------------------------------------------------------------------------------------------ methods


def mechint_method(model, task, args, name: str = "mechint"):
    """``activation_patch`` with the command line's batch settings; ``mechint_all`` runs every cell."""
    from mechint.patching import activation_patch

    def run():
        r = activation_patch(
            model,
            task["clean"],
            task["corrupted"],
            task["metric"],
            batch_size=args.mechint_rows,
            tokens_per_batch=args.mechint_tokens,
            skip_unchanged=name != "mechint_all",
        )
        run.info = r.info
        return r.mean()

    return run


def _tiled_forwards(model, task, rows: int, patch: bool):
    """Batched full forwards of the corrupted prompt, ``rows`` per forward, one row per cell; with
    ``patch`` each row gets its cell's clean resid_pre position written by the hook engine."""
    L, T = model.n_layers, task["T"]
    cells = [(l, p) for l in range(L) for p in range(T)]
    metric = task["metric"]
    device = model.device
    sites = [f"blocks.{l}.hook_resid_pre" for l in range(L)]

    def run():
        out = torch.empty(len(cells), device=device)
        with torch.inference_mode():
            clean = None
            if patch:
                _, cache = model.run_with_cache(task["clean"], sites, logits=False)
                clean = [cache[s][0] for s in sites]  # [T, d] each
            for a in range(0, len(cells), rows):
                chunk = cells[a : a + rows]
                ids = task["corrupted"].expand(len(chunk), T)
                hooks = []
                if patch:
                    assert clean is not None  # read above when patching
                    by_layer: dict[int, list[tuple[int, int]]] = {}
                    for r, (l, p) in enumerate(chunk):
                        by_layer.setdefault(l, []).append((r, p))
                    for l, items in by_layer.items():
                        rr = torch.tensor([r for r, _ in items], device=device)
                        pp = torch.tensor([p for _, p in items], device=device)

                        def write(x, ctx, rr=rr, pp=pp, c=clean[l]):
                            return x.index_put((rr, pp), c[pp])

                        hooks.append((sites[l], write))
                with model.hooks(hooks):
                    logits = model.hf(input_ids=ids, use_cache=False).logits
                out[a : a + len(chunk)] = metric(logits)
        return out.reshape(L, T)

    return run


def _tl_tokenizer(tok):
    """A tokenizer copy TransformerLens's bridge accepts offline (it re-loads tokenizers whose
    ``init_kwargs`` lack ``add_bos_token``); ours prepend BOS already."""
    tok = copy.deepcopy(tok)
    ids = tok("a")["input_ids"]
    if tok.bos_token_id is not None and ids and ids[0] == tok.bos_token_id:
        tok.init_kwargs["add_bos_token"] = True
    tok.init_kwargs.setdefault("name_or_path", getattr(tok, "name_or_path", "") or "")
    return tok


def tl_setup(model):
    from transformer_lens.model_bridge.sources import build_bridge_from_module

    hf_copy = copy.deepcopy(model.hf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bridge = build_bridge_from_module(
            hf_copy, type(model.hf).__name__, hf_config=hf_copy.config, tokenizer=_tl_tokenizer(model.tokenizer)
        )
    return bridge.eval()


def tl_method(bridge, model, task, layers: list[int]):
    import pandas as pd
    from transformer_lens import patching as tlp

    L, T = model.n_layers, task["T"]
    metric = task["metric"]

    def scalar(logits):
        return metric(logits).mean()

    def run():
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, cache = bridge.run_with_cache(task["clean"])
            if len(layers) == L:
                grid = tlp.get_act_patch_resid_pre(bridge, task["corrupted"], cache, scalar)
            else:
                df = pd.DataFrame([(l, p) for l in layers for p in range(T)], columns=["layer", "pos"])
                flat = tlp.generic_activation_patch(
                    bridge,
                    task["corrupted"],
                    cache,
                    scalar,
                    patch_setter=tlp.layer_pos_patch_setter,
                    activation_name="resid_pre",
                    index_df=df,
                )
                grid = torch.full((L, T), float("nan"), device=flat.device)
                grid[layers] = flat.reshape(len(layers), T).to(grid.dtype)
        return grid

    return run


def tl_warm(bridge, task):
    def warm():
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bridge.run_with_hooks(task["corrupted"], fwd_hooks=[("blocks.0.hook_resid_pre", lambda x, hook: x)])

    return warm


def nnsight_setup(model):
    import nnsight

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nnsight.LanguageModel(copy.deepcopy(model.hf), tokenizer=copy.deepcopy(model.tokenizer))


def nnsight_method(lm, model, task, layers: list[int]):
    L, T = model.n_layers, task["T"]
    metric = task["metric"]
    mods = functools.reduce(getattr, model.family.layers.split("."), lm)
    head = functools.reduce(getattr, model.family.lm_head.split("."), lm)
    enc = lambda ids: {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    def run():
        grid = torch.full((L, T), float("nan"), device=model.device)
        with torch.inference_mode():
            saved = []
            with lm.trace(enc(task["clean"])):
                for l in layers:
                    saved.append(mods[l].input.save())
            for i, l in enumerate(layers):
                for p in range(T):
                    got = []
                    with lm.trace(enc(task["corrupted"])):
                        x = mods[l].input
                        x[:, p] = saved[i][:, p]
                        got.append(head.output.save())
                    grid[l, p] = metric(got[0])[0]
        return grid

    return run


def nnsight_warm(lm, model, task):
    mods = functools.reduce(getattr, model.family.layers.split("."), lm)
    head = functools.reduce(getattr, model.family.lm_head.split("."), lm)

    def warm():
        got = []
        with (
            torch.inference_mode(),
            lm.trace({"input_ids": task["corrupted"], "attention_mask": torch.ones_like(task["corrupted"])}),
        ):
            x = mods[0].input
            x[:, 0] = x[:, 0]
            got.append(head.output.save())

    return warm


# ------------------------------------------------------------------------------------------ timing


def timed(fn: Callable, device: str, *, memory: bool) -> tuple[float, object, dict | None]:
    """Seconds of one call (synchronised on CUDA), its result, and, on CUDA, its peak memory if asked
    (CPU peaks are measured in a fresh process per method: :func:`cpu_peak_in_subprocess`)."""
    gc.collect()
    mem = None
    cuda = torch.device(device).type == "cuda"
    if memory and cuda:
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    _common.sync(device)
    t0 = time.perf_counter()
    out = fn()
    _common.sync(device)
    dt = time.perf_counter() - t0
    if memory and cuda:
        mem = {
            "peak_mib": (torch.cuda.max_memory_allocated() - before) / _common.MiB,
            "measure": "cuda max_memory_allocated - allocated before",
        }
    return dt, out, mem


def cpu_peak(fn: Callable) -> dict | None:
    """Peak RSS increase of one call (VmHWM after a clear_refs reset), in this process. Free heap
    memory is handed back to the OS first (``malloc_trim``): glibc serves even large requests from
    free heap chunks before it maps new memory, so without the trim a call that fits into memory an
    earlier step freed (the TransformerLens bridge's setup leaves hundreds of MiB) shows no peak."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    before = _common.rss_mib()
    if before is None or not _common._reset_peak_rss():
        return None
    fn()
    hwm = _common._status_kb("VmHWM")
    return (
        None
        if hwm is None
        else {
            "peak_mib": hwm / 1024 - before,
            "measure": "peak RSS increase (VmHWM after clear_refs reset), fresh process",
        }
    )


def cpu_peak_in_subprocess(name: str, T: int, args) -> dict | None:
    """Run this script as a probe that sets up only ``name``, pages the weights in with one plain
    forward, and measures one call: what the method allocates, with nothing left over from other
    methods (a shared process under-reports: freed heap is reused without raising the RSS mark)."""
    import subprocess

    cmd = [
        sys.executable,
        __file__,
        "--device",
        args.device,
        "--model",
        args.model,
        "--dtype",
        args.dtype,
        "--positions",
        str(T),
        "--_probe",
        name,
        "--_probe-T",
        str(T),
    ]
    if args.mechint_rows:
        cmd += ["--mechint-rows", str(args.mechint_rows)]
    if args.mechint_tokens:
        cmd += ["--mechint-tokens", str(args.mechint_tokens)]
    if args.tiny:
        cmd.append("--tiny")
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True).stdout
        line = [l for l in out.splitlines() if l.startswith("PROBE ")][-1]
        return json.loads(line[len("PROBE ") :])
    except Exception as err:  # noqa: BLE001 - a failed probe only loses the memory column
        log(f"  memory probe for {name} failed: {type(err).__name__}: {err}")
        return None


def probe_main(args) -> None:
    """Internal: the CPU peak memory of one method (loops: over the first layer's cells, which is their
    peak, each cell being its own forward)."""
    _exact_cpu_peaks()
    model = _common.load_model(args, tiny_layers=3)
    task = next(t for t in prompt_pairs(model, args) if t["T"] == args._probe_T)
    estimate_cell_seconds(model, task, args.device)  # pages the weights in
    name = args._probe
    rows = args.rows or 32
    if name in ("mechint", "mechint_all"):
        fn = mechint_method(model, task, args, name)
    elif name in ("batched", "plain"):
        fn = _tiled_forwards(model, task, rows, patch=name == "batched")
    elif name == "tl":
        bridge = tl_setup(model)
        tl_warm(bridge, task)()
        fn = tl_method(bridge, model, task, [0])
    else:
        lm = nnsight_setup(model)
        nnsight_warm(lm, model, task)()
        fn = nnsight_method(lm, model, task, [0])
    print("PROBE " + json.dumps(cpu_peak(fn)), flush=True)


def compare(grid: torch.Tensor, ref: torch.Tensor, dtype: torch.dtype) -> dict:
    g, r = grid.detach().float().cpu(), ref.detach().float().cpu()
    ok = torch.isfinite(g) & torch.isfinite(r)
    if not ok.any():
        return {"cells": 0}
    d = (g[ok] - r[ok]).abs()
    rel = ((g[ok] - r[ok]).norm() / r[ok].norm().clamp_min(1e-12)).item()
    eff = (r[ok] - r[ok].median()).abs().max().item()  # the sweep's own range
    if dtype == torch.float32:
        good = d.max().item() <= 1e-4 * max(1.0, r[ok].abs().max().item())
        rule = "max|diff| <= 1e-4 x max(1, max|value|)"
    else:
        good = rel <= 0.04 and d.max().item() <= 0.04 * max(eff, r[ok].abs().max().item())
        rule = "relative Frobenius error <= 0.04 and max|diff| <= 0.04 x max|value|"
    return {
        "cells": int(ok.sum()),
        "max_abs_diff": d.max().item(),
        "rel_frobenius": rel,
        "ok": bool(good),
        "rule": rule,
    }


def estimate_cell_seconds(model, task, device) -> float:
    """Seconds of one plain forward of the corrupted prompt (what one-forward-per-cell loops pay at least)."""
    with torch.inference_mode():
        model.hf(input_ids=task["corrupted"], use_cache=False)
        _common.sync(device)
        t0 = time.perf_counter()
        for _ in range(3):
            model.hf(input_ids=task["corrupted"], use_cache=False)
        _common.sync(device)
    return (time.perf_counter() - t0) / 3


# ------------------------------------------------------------------------------------------ main


def run_grid(model, task, args, tl_bridge, lm, results: dict) -> dict:
    L, T = model.n_layers, task["T"]
    n_cells = L * T
    rows = args.rows or (max(1, 8192 // T) if args.is_cuda else 32)
    per_cell = estimate_cell_seconds(model, task, args.device)
    grid_info = {
        "positions": T,
        "layers": L,
        "cells": n_cells,
        "task": task["what"],
        "rows_per_forward_batched_plain": rows,
        "one_plain_forward_s": per_cell,
        "loop_layers": {},
    }
    log(f"\n=== grid {L} layers x {T} positions = {n_cells} cells; one plain forward {per_cell * 1e3:.1f} ms")
    log(
        f"    plan: mechint/batched/plain: warm-up + {args.repeats} rounds (plain about {n_cells * per_cell / max(rows, 1) * 4:.0f} s "
        f"or less in all); tl/nnsight: {args.tl_repeats} round(s), one cell timed first, capped at {args.tl_budget_s:.0f} s "
        "by running the first layers only (full grid extrapolated)"
    )
    methods: dict[str, Callable] = {}
    loop_layers: dict[str, list[int]] = {}
    for name in args.methods:
        try:
            if name in ("mechint", "mechint_all"):
                methods[name] = mechint_method(model, task, args, name)
            elif name == "batched":
                methods[name] = _tiled_forwards(model, task, rows, patch=True)
            elif name == "plain":
                methods[name] = _tiled_forwards(model, task, rows, patch=False)
            elif name in ("tl", "nnsight") and (tl_bridge if name == "tl" else lm) is not None:
                warm = tl_warm(tl_bridge, task) if name == "tl" else nnsight_warm(lm, model, task)
                warm()
                one = min(timed(warm, args.device, memory=False)[0] for _ in range(2))
                est = one * n_cells
                keep = L if est <= args.tl_budget_s else max(1, int(L * args.tl_budget_s / est))
                loop_layers[name] = list(range(keep))
                log(
                    f"    {name}: one cell {one * 1e3:.1f} ms, full grid estimated {est:.0f} s -> running {keep}/{L} layers"
                )
                grid_info["loop_layers"][name] = {"layers_run": keep, "one_cell_s": one, "estimated_full_s": est}
                make = tl_method if name == "tl" else nnsight_method
                methods[name] = make(tl_bridge if name == "tl" else lm, model, task, loop_layers[name])
        except Exception as err:
            traceback.print_exc()
            results["skipped"][f"{name}@{T}"] = f"{type(err).__name__}: {err}"
    rowsout, grids = {}, {}
    for name, fn in methods.items():
        loop = name in ("tl", "nnsight")
        repeats = args.tl_repeats if loop else args.repeats
        try:
            if not loop:  # loops were warmed up by their one-cell calibration
                fn()
            times, mem = [], None
            for r in range(repeats):
                dt, out, m = timed(fn, args.device, memory=(r == 0 and not args.no_memory))
                times.append(dt)
                mem = mem or m
                grids[name] = out
                log(
                    f"  {name:<8s} round {r + 1}/{repeats}: {dt:8.3f} s"
                    + (f"  peak {m['peak_mib']:.0f} MiB" if m else "")
                )
            if mem is None and not args.is_cuda and not args.no_memory:
                mem = cpu_peak_in_subprocess(name, T, args)
                if mem:
                    log(f"  {name:<8s} peak {mem['peak_mib']:.0f} MiB (fresh process)")
            scale = (L / len(loop_layers[name])) if loop and len(loop_layers[name]) < L else 1.0
            rowsout[name] = {
                "s": statistics.median(times) * scale,
                "seconds_all": times,
                "extrapolated_x": scale if scale != 1 else None,
                "peak_mib": mem["peak_mib"] if mem else None,
                "memory_measure": mem["measure"] if mem else None,
            }
            if name.startswith("mechint"):
                rowsout[name]["info"] = {k: v for k, v in getattr(fn, "info", {}).items() if k != "read_positions"}
        except Exception as err:
            traceback.print_exc()
            results["skipped"][f"{name}@{T}"] = f"{type(err).__name__}: {err}"
        _common.write_json(args.out, results)  # partial results survive a timeout
    ref = grids.get("mechint")
    for name, row in rowsout.items():
        if ref is not None and name in grids and name != "plain":
            row["vs_mechint"] = compare(grids[name], ref, args.torch_dtype)
    tl_s = rowsout.get("tl", {}).get("s")
    plain_s = rowsout.get("plain", {}).get("s")
    for row in rowsout.values():
        row["tl_over_this"] = tl_s / row["s"] if tl_s else None
        row["this_over_plain"] = row["s"] / plain_s if plain_s else None
    grid_info["methods"] = rowsout
    if ref is not None:
        grid_info["mechint_grid"] = [[round(v, 5) for v in row] for row in ref.float().cpu().tolist()]
    return grid_info


def table(grid: dict) -> str:
    rows = []
    for name, r in grid["methods"].items():
        cmp = r.get("vs_mechint") or {}
        rows.append(
            {
                "method": LABELS[name]
                + (f" (x{r['extrapolated_x']:.0f} extrapolated)" if r.get("extrapolated_x") else ""),
                "s": r["s"],
                "speedup": r.get("tl_over_this"),
                "plain": r.get("this_over_plain"),
                "mem": r.get("peak_mib"),
                "diff": cmp.get("max_abs_diff"),
                "ok": ("ok" if cmp.get("ok") else "MISMATCH") if cmp else "-",
            }
        )
    return _common.format_table(
        rows,
        [
            ("method", "method", ""),
            ("s", "s (median)", ".3f"),
            ("speedup", "TL s / this s", ".1f"),
            ("plain", "this / plain forwards", ".2f"),
            ("mem", "peak MiB", ".0f"),
            ("diff", "max|diff| vs mechint", ".2e"),
            ("ok", "equal", ""),
        ],
    )


def _exact_cpu_peaks() -> bool:
    """Make glibc return every freed block of 64 KiB or more to the OS at once (a fixed mmap
    threshold), so that the RSS high-water mark of a call measures what that call allocated, not
    what an earlier call left in the heap. Linux/glibc only; returns whether it took effect."""
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").mallopt(-3, 64 * 1024))  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


def profile_mechint(model, tasks, args) -> None:
    """One mechint sweep per grid under torch.profiler (after a warm-up run); the operator table goes
    to ``args.profile``: where a sweep's time goes (matmuls, attention, gathers, copies, launches)."""
    with open(args.profile, "w") as fh:
        for task in tasks:
            run = mechint_method(model, task, args)
            table = _common.profile_table(run, args.device)
            fh.write(f"# {model} {args.dtype}, {model.n_layers} layers x {task['T']} positions; info {run.info}\n")
            fh.write(table + "\n\n")
    log(f"wrote the profile to {args.profile}")


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args._probe:
        probe_main(args)
        return {}
    exact_peaks = not args.is_cuda and _exact_cpu_peaks()
    t_start = time.perf_counter()
    log(
        f"bench_patching: device={args.device} model={args.model} dtype={args.dtype} methods={args.methods} "
        f"threads={torch.get_num_threads()} load={os.getloadavg()}"
    )
    n_grids = 1 if args.model != "random-llama-1b" else len(args.positions)
    loops = sum(m in args.methods for m in ("tl", "nnsight"))
    log(
        f"plan: {n_grids} grid(s) ({'IOI pair' if args.model != 'random-llama-1b' else 'positions ' + str(args.positions)}); "
        f"each: mechint/batched/plain warm-up + {args.repeats} rounds, tl/nnsight {args.tl_repeats} round(s) capped at "
        f"{args.tl_budget_s:.0f} s each; estimated at most ~{n_grids * (loops * args.tl_budget_s * args.tl_repeats + 30):.0f} s "
        "after loading (CPU: plus a fresh process per method for peak memory)"
    )
    model = _common.load_model(args, tiny_layers=3)
    log(f"loaded {model} in {time.perf_counter() - t_start:.1f} s")
    tasks = prompt_pairs(model, args)
    results = {
        "environment": _common.environment(args.device),
        "args": {k: str(v) for k, v in vars(args).items()},
        "model": str(model),
        "grids": {},
        "skipped": {},
        "load_before": os.getloadavg(),
        "cpu_peak_rss_with_fixed_mmap_threshold": exact_peaks,
        "memory": "CUDA: max_memory_allocated minus allocated before, first timed round. CPU: peak RSS increase "
        "of one call in a fresh process per method after one plain forward paged the weights in "
        "(tl/nnsight: over the first layer's cells, each cell being a separate forward)",
    }
    wrapped = {}  # the TransformerLens bridge and the nnsight model, where their packages work here
    for name, setup, label in (("tl", tl_setup, "TransformerLens"), ("nnsight", nnsight_setup, "nnsight")):
        if name in args.methods:
            try:
                wrapped[name] = setup(model)
            except Exception as err:
                results["skipped"][name] = f"{type(err).__name__}: {err}"
                log(f"{label} skipped: {results['skipped'][name]}")
    tl_bridge, lm = wrapped.get("tl"), wrapped.get("nnsight")
    for task in tasks:
        results["grids"][str(task["T"])] = run_grid(model, task, args, tl_bridge, lm, results)
        _common.write_json(args.out, results)
    if args.profile:
        profile_mechint(model, tasks, args)
    results["load_after"] = os.getloadavg()
    results["total_s"] = time.perf_counter() - t_start
    for T, grid in results["grids"].items():
        log(
            f"\n{args.model} {args.dtype} on {results['environment'].get('gpu') or 'CPU'}: "
            f"{grid['layers']} layers x {T} positions ({grid['task']})"
        )
        log(table(grid))
    if results["skipped"]:
        log(f"skipped: {json.dumps(results['skipped'], indent=1)}")
    path = _common.write_json(args.out, results)
    log(f"\nwrote {path} (total {results['total_s']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
