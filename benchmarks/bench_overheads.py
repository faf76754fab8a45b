"""Three costs against their references, side by side in one run: attribution patching in units of one
plain forward, steering during ``generate`` against plain ``generate``, and the patching sweep against
its work floor.

- **Attribution patching** (``mechint.attribution_patch``, resid_pre, every layer x position, one
  prompt pair): its seconds divided by those of one plain forward of one prompt with all logits (the
  unit in which the published Hugging Face figure, about 3.4x, is given; the goal is at most 3x). The
  method needs the clean run's activations and a forward and backward pass of the corrupted run.
- **Steering during generation**: ``Model.generate`` of ``--n-prompts`` prompts in one left-padded
  batch, ``--new-tokens`` greedy tokens (``min_new_tokens`` equal, so both rows of the table generate
  as many), plain against the same call inside ``intervene(model, AddDirection(...))`` at the middle
  layer's ``hook_resid_post`` at every position (published figure about 1.05x; the goal at most 1.05x).
- **The patching sweep against its work floor** (``mechint.activation_patch``, resid_pre, every layer
  x position, ``skip_unchanged=False`` so every cell runs): a cell patched at layer ``l``, position
  ``p`` must recompute layers ``l..L-1`` at positions ``p..T-1``, so the sweep's floor is
  ``sum over cells of (L - l)(T - p)`` token-layers at the per-token-layer cost of a plain batched
  forward (``--rows`` rows of ``T`` tokens, the last position unembedded, as in the sweep: its
  seconds / (rows x T x L)). The ratio is the sweep's seconds over that floor (the goal: within 1.2x
  at 32 and 128 positions).

Prompts: random token ids (the corrupted prompt differs from the clean one at its second token, so
every later position differs at every layer), metric the logit difference of two token ids at the last
position. Timing: every method once per round, round-robin after a warm-up, median over ``--rounds``.

Models: CPU default gemma-3-270m (embedded) in float32; CUDA default the random Llama-3.2-1B shape of
``_common.random_llama`` in bfloat16; ``--tiny`` a tiny random Llama (smoke test).

    .venv/bin/python benchmarks/bench_overheads.py --tiny                 # seconds: the code path
    .venv/bin/python benchmarks/bench_overheads.py                        # CPU, gemma-3-270m
    python benchmarks/bench_overheads.py --device cuda                    # GPU machine
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

log = _common.log


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--model", default=None, help="embedded name (cpu default gemma-3-270m) or random-llama-1b")
    p.add_argument("--dtype", default=None, help="float32 (cpu default) or bfloat16 (cuda default)")
    p.add_argument("--positions", default=None, help="prompt lengths, comma list (default 32,128; --tiny 8,12)")
    p.add_argument("--rows", type=int, default=None, help="rows of the plain batched forward (cpu 16, cuda 64)")
    p.add_argument("--n-prompts", type=int, default=16, help="prompts generated in one batch")
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.device = str(torch.device(args.device))
    args.is_cuda = torch.device(args.device).type == "cuda"
    if args.model is None:
        args.model = "random-llama-1b" if (args.is_cuda or args.tiny) else "gemma-3-270m"
    args.dtype = args.dtype or ("bfloat16" if args.is_cuda else "float32")
    args.torch_dtype = getattr(torch, args.dtype)
    args.positions = [int(x) for x in (args.positions or ("8,12" if args.tiny else "32,128")).split(",")]
    args.rows = args.rows or (64 if args.is_cuda else 16)
    if args.tiny:
        args.n_prompts, args.new_tokens = min(args.n_prompts, 4), min(args.new_tokens, 8)
    if args.out is None:
        args.out = _common.results_path("overheads", args.device, "_tiny" if args.tiny else "")
    return args


def pair(model, T: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """Clean and corrupted ids ``[1, T]`` (different from the second token on) and two answer ids."""
    g = torch.Generator().manual_seed(seed)
    vocab = min(int(model.hf.config.vocab_size), 32000)
    clean = torch.randint(10, vocab, (1, T), generator=g)
    corrupted = clean.clone()
    corrupted[0, 1] = (clean[0, 1] + 1) % vocab
    return clean.to(model.device), corrupted.to(model.device), 11, 12


def floor_units(L: int, T: int) -> int:
    """Token-layers a full resid_pre sweep must recompute: sum over layers l and positions p of (L-l)(T-p)."""
    return (L * (L + 1) // 2) * (T * (T + 1) // 2)


def sweep_grid(model, args, T: int) -> dict:
    """The attribution and sweep rows at ``T`` positions: medians, the attribution's ratio to one plain
    forward and the sweep's to its work floor."""
    import mechint
    from mechint.patching.metrics import logit_diff

    L = model.n_layers
    clean, corrupted, good, bad = pair(model, T, args.seed + T)
    metric = logit_diff(good, bad)
    batch = corrupted.repeat(args.rows, 1)

    @torch.no_grad()
    def forward(ids=corrupted, **kwargs):
        return model.hf(input_ids=ids, **kwargs).logits

    # the floor's forward unembeds the last position only, as the sweep does (with a 262k-word
    # vocabulary, all positions' logits cost more than the layers)
    last_only = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.hf.forward).parameters else {}

    batched = f"plain batched forward ({args.rows} rows, last position unembedded)"
    methods: dict[str, Callable[[], object]] = {
        "plain forward (1 prompt)": forward,
        batched: lambda: forward(batch, **last_only),
        "attribution_patch": lambda: mechint.attribution_patch(model, clean, corrupted, metric),
        "activation_patch (every cell)": lambda: mechint.activation_patch(
            model, clean, corrupted, metric, skip_unchanged=False
        ),
    }
    for fn in methods.values():  # warm-up
        _common.time_call(fn, args.device)
    times, errors = _common.time_rounds(methods, args.device, repeats=args.rounds, log=log)
    med = {k: _common.median(v) for k, v in times.items() if v}
    floor = med[batched] / (args.rows * T * L) * floor_units(L, T)
    return {
        "seconds": med,
        "errors": errors,
        "attribution_in_plain_forwards": med["attribution_patch"] / med["plain forward (1 prompt)"],
        "sweep_floor_s": floor,
        "sweep_over_floor": med["activation_patch (every cell)"] / floor,
        "cells": L * T,
        "floor_token_layers": floor_units(L, T),
    }


def main(argv=None) -> dict:
    from mechint import data
    from mechint.interventions import AddDirection, intervene

    args = parse_args(argv)
    model = _common.load_model(args)
    L = model.n_layers
    log(f"{model.name}: {L} layers, d {model.d_model}, {args.dtype} on {args.device}")
    results: dict = {"environment": _common.environment(args.device), "model": model.name, "grids": {}}

    for T in args.positions:
        grid = sweep_grid(model, args, T)
        results["grids"][str(T)] = grid
        med = grid["seconds"]
        log(
            f"T={T}: attribution {grid['attribution_in_plain_forwards']:.2f} plain forwards (goal <= 3); "
            f"sweep {med['activation_patch (every cell)']:.3f} s vs floor {grid['sweep_floor_s']:.3f} s = "
            f"{grid['sweep_over_floor']:.2f}x (goal <= 1.2)"
        )

    texts = list(data.load_polyrefuse("test", kind="harmless", languages="en").texts)[: args.n_prompts]
    direction = torch.randn(model.d_model, generator=torch.Generator().manual_seed(args.seed))
    site = f"blocks.{L // 2}.hook_resid_post"
    steer = AddDirection(direction.to(args.device), 1.0, sites=site)
    kw = dict(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens)

    def steered():
        with intervene(model, steer):
            return model.generate(texts, **kw)

    methods: dict[str, Callable[[], object]] = {
        "plain generate": lambda: model.generate(texts, **kw),
        "generate + AddDirection": steered,
    }
    for fn in methods.values():
        _common.time_call(fn, args.device)
    times, errors = _common.time_rounds(methods, args.device, repeats=args.rounds, log=log)
    med = {k: _common.median(v) for k, v in times.items() if v}
    results["steering"] = {
        "seconds": med,
        "errors": errors,
        "prompts": len(texts),
        "new_tokens": args.new_tokens,
        "site": site,
        "steered_over_plain": med["generate + AddDirection"] / med["plain generate"],
    }
    log(f"steering: {results['steering']['steered_over_plain']:.3f}x plain generate (goal <= 1.05)")
    path = _common.write_json(args.out, results)
    log(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
