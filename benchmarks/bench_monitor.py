"""The streaming probe monitor against plain generation, side by side in one run, same prompts and
batches: what scoring every new token with a probe costs during ``generate``.

Task: ``--n-prompts`` multilingual prompts (en, zh, ar, th, fr, de, vi, ...) in left-padded batches
of ``--batch-size`` (sorted by length, as mechint batches them), greedy, ``--new-tokens`` new tokens
(``min_new_tokens`` equal, so every row generates the same number in every method). The probe is
fitted (``mechint.fit_probes``) on the prompts' last-token activations at one mid layer's
``hook_resid_post`` (``--layer``, default ``n_layers // 2``) with alternating labels: its values
do not matter for the cost.

Rows:

- ``plain generate``: ``Model.generate`` on each batch: the reference.
- ``generate + ProbeMonitor``: the same calls inside ``model.hooks([(site, ProbeMonitor(probe,
  threshold=...))])`` with its ``stopping_criteria()``; the threshold is never reached, so the same
  tokens are generated: the hook's and the stopping check's cost.
- ``monitor_generation``: mechint end to end from strings (tokenizing, the monitor, the extra
  forward of the last token, token ids and character spans per row, the result in prompt order).

Columns: median seconds over ``--rounds`` rounds (round-robin, after a warm-up of each row), new
tokens per second, and the ratio to ``plain generate`` (the goal: at most 1.1x); the same for the
fastest round of each row, and the median CPU seconds of the process (``time.process_time``, all
its threads) with its ratio: on a shared machine, time spent waiting for a core is not counted there. The generated tokens
of the monitored rows are checked equal to plain generation's, and ``monitor_generation``'s scores
equal to the probe applied to the activations of the same tokens (``generate_with_activations``).

Models: ``--model`` an embedded name (default ``gemma-3-270m``, CPU), ``tiny:<family>`` (a tiny
random model from ``mechint.testing``), or ``random-llama-1b`` (the default on CUDA: the random
Llama-3.2-1B shape of ``benchmarks/_common.py``, byte tokenizer; ``--tiny`` makes it 2 layers).

    .venv/bin/python benchmarks/bench_monitor.py --model tiny:llama                # seconds
    .venv/bin/python benchmarks/bench_monitor.py --dtype bfloat16                  # gemma-3-270m, CPU
    python benchmarks/bench_monitor.py --device cuda --dtype bfloat16              # GPU machine
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, log, median, random_llama, results_path, time_rounds, write_json  # noqa: E402

import mechint  # noqa: E402
from mechint.activations import token_batches  # noqa: E402
from mechint.monitor import ProbeMonitor, generate_with_activations, monitor_generation  # noqa: E402

PROMPTS = [
    "Write a short story about a lighthouse keeper.",
    "今天天气很好，我们去公园散步吧。",
    "كيف يمكنني تعلم البرمجة بسرعة؟",
    "วันนี้อากาศดีมาก เราไปเที่ยวกันไหม",
    "Explique-moi comment fonctionne un moteur à combustion.",
    "Wie backe ich ein einfaches Brot zu Hause?",
    "Làm thế nào để học tiếng Anh hiệu quả?",
    "Tell me about the history of the printing press in Europe.",
    "请解释一下量子计算的基本原理。",
    "Scrivi una poesia breve sul mare d'inverno.",
    "Как приготовить борщ?",
    "List three ways to save energy at home.",
    "¿Cuál es la capital de Australia y por qué?",
    "Bana iyi bir kitap önerir misin?",
    "What is the difference between a virus and a bacterium?",
    "東京でおすすめの観光地を教えてください。",
]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="embedded name, tiny:<family> or random-llama-1b")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--tiny", action="store_true", help="random-llama-1b with 2 layers (smoke test)")
    p.add_argument("--n-prompts", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--layer", type=int, default=None, help="default: n_layers // 2")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = torch.device(args.device).type == "cuda"
    name = args.model or ("random-llama-1b" if cuda else "gemma-3-270m")
    dtype = getattr(torch, args.dtype)
    if name == "random-llama-1b":
        model = random_llama(args.device, dtype, tiny=args.tiny)
    elif name.startswith("tiny:"):
        from mechint.testing import tiny_model

        model = tiny_model(name.split(":", 1)[1], device=args.device, dtype=dtype)
    else:
        model = mechint.load_model(name, device=args.device, dtype=dtype)
    prompts = [PROMPTS[i % len(PROMPTS)] + ("" if i < len(PROMPTS) else f" ({i})") for i in range(args.n_prompts)]
    layer = model.n_layers // 2 if args.layer is None else args.layer
    site = f"blocks.{layer}.hook_resid_post"
    acts = mechint.collect(model, prompts, site, pool="last", progress=False)[site]
    probe = mechint.fit_probes(acts.to(args.device), torch.arange(len(prompts)) % 2)
    never = math.inf  # a threshold no score reaches: the same tokens as plain generation
    batches = list(token_batches(model, prompts, args.batch_size))
    gen_kwargs = dict(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens)

    def plain():
        return [model.generate(enc, return_tokens=True, **gen_kwargs) for _, enc, _ in batches]

    def hooked():
        out = []
        for _, enc, _ in batches:
            monitor = ProbeMonitor(probe, threshold=never)
            with model.hooks([(site, monitor)]):
                out.append(
                    model.generate(
                        enc, return_tokens=True, stopping_criteria=[monitor.stopping_criteria()], **gen_kwargs
                    )
                )
        return out

    def end_to_end():
        return monitor_generation(
            model, prompts, probe, site, threshold=never, batch_size=args.batch_size, **gen_kwargs
        )

    cpu_seconds: dict[str, list[float]] = {}

    def cpu_timed(name, fn):
        def run():
            t0 = time.process_time()
            out = fn()
            cpu_seconds.setdefault(name, []).append(time.process_time() - t0)
            return out

        return run

    methods = {
        name: cpu_timed(name, fn)
        for name, fn in {
            "plain generate": plain,
            "generate + ProbeMonitor": hooked,
            "monitor_generation": end_to_end,
        }.items()
    }
    log(
        f"{model.name} {args.dtype} on {args.device}: {len(prompts)} prompts, batch {args.batch_size}, "
        f"{args.new_tokens} new tokens, probe at {site}; load average {os.getloadavg()[0]:.2f}; warm-up"
    )
    reference, monitored, result = plain(), hooked(), end_to_end()
    cpu_seconds.clear()
    same_hooked = all(torch.equal(a, b) for a, b in zip(reference, monitored))
    collected = generate_with_activations(model, prompts, site, batch_size=args.batch_size, **gen_kwargs)
    same_tokens = all(torch.equal(a, b) for a, b in zip(collected.token_ids, result.token_ids))
    max_diff = max(
        float(
            (probe.decision_function(collected.activations.row(site, i).to(args.device)).float().cpu()
             - result.scores[i, : result.lengths[i]]).abs().max()
        )
        for i in range(len(prompts))
    )  # fmt: skip
    times, errors = time_rounds(methods, args.device, repeats=args.rounds, log=log)
    base = median(times["plain generate"])
    n_tokens = len(prompts) * args.new_tokens
    rows = {}
    for method, ts in times.items():
        if ts:
            s = median(ts)
            rows[method] = {
                "seconds": s,
                "all": ts,
                "tokens_per_s": n_tokens / s,
                "vs_plain": s / base,
                "min_seconds": min(ts),
                "min_vs_plain": min(ts) / min(times["plain generate"]),
                "cpu_seconds": median(cpu_seconds[method]),
                "cpu_all": cpu_seconds[method],
                "cpu_vs_plain": median(cpu_seconds[method]) / median(cpu_seconds["plain generate"]),
            }
    log("")
    log(
        f"{'method':<26s} {'s':>8s} {'new tokens/s':>13s} {'x plain':>8s} {'min s':>8s} {'x plain (min)':>14s} "
        f"{'CPU s':>8s} {'x plain (CPU)':>14s}"
    )
    for method, row in rows.items():
        log(
            f"{method:<26s} {row['seconds']:8.3f} {row['tokens_per_s']:13.1f} {row['vs_plain']:8.3f} "
            f"{row['min_seconds']:8.3f} {row['min_vs_plain']:14.3f} {row['cpu_seconds']:8.3f} {row['cpu_vs_plain']:14.3f}"
        )
    check = {
        "hooked_tokens_equal_plain": same_hooked,
        "monitor_generation_tokens_equal_collected": same_tokens,
        "max_abs_score_diff_vs_probe_on_collected": max_diff,
    }
    log(f"checks: {check}; load average after {os.getloadavg()[0]:.2f}")
    out = {
        "args": vars(args),
        "model": model.name,
        "site": site,
        "n_new_tokens": n_tokens,
        "rows": rows,
        "check": check,
        "errors": errors,
        "load_average_after": os.getloadavg(),
        "env": environment(args.device),
    }
    suffix = f"_{name.replace(':', '-')}_{args.dtype}" + ("_tiny" if args.tiny else "")
    path = write_json(args.out or results_path("monitor", args.device, suffix), out)
    log(f"wrote {path}")
    return out


if __name__ == "__main__":
    main()
