"""``collect(..., store=, distributed=True)`` with several CPU processes against one process, side by
side in one run.

Task: the last-token residual ``blocks.{l}.hook_resid_post`` at every layer, for every text, written
to a fresh :class:`mechint.ActivationStore` (``--shard-size`` texts per shard) and read back, as
``collect(store=folder)`` does.

Rows (the machine's cores, ``--cores``, shared out between the processes):

- ``1 process x C threads``  plain ``collect(store=...)`` in one process using every core through
                             torch's intra-op threads: what a user runs without ``distributed``.
- ``1 process x 1 thread``   the same on one thread: the unit the processes below are made of.
- ``P processes x C/P threads``  ``collect(store=..., distributed=True)`` in the ``P`` ranks of a gloo
                             process group, each with ``C/P`` torch threads; timed on rank 0 from a
                             barrier before the call to a barrier after it (planning, every rank's
                             shards, the merge of the manifest and every rank's read of the store).

The ``P`` ranks are started once (``spawn``), load the model each, warm up, and then run the rows
round-robin, ``--repeats`` rounds: a one-process row runs on rank 0 while the other ranks wait in a
barrier (blocked in a socket read: their CPU time over the row is printed). Every row
writes a fresh store; the rows of the distributed store are compared with the one-thread store's
(bit for bit: the same shards, the same batches, one thread each) and with the C-thread store's.

Wall seconds on a machine shared with other jobs swing with their load, so the script also records
each process's CPU seconds per row: for one-thread processes they do not depend on the load, and
``1 x 1 thread`` over the busiest rank's CPU seconds is the speed-up the processes would have with a
core each; their sum over the one process's is what sharing the work costs (each rank tokenizes all
the texts and fingerprints the model; planning, rank files, the merge, every rank reading the store).

Run ``python benchmarks/bench_distributed.py --help``; see ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

log = _common.log


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--model",
        default="gemma-3-270m",
        help="an embedded name or folder for mechint.load_model (default gemma-3-270m, float32); "
        "'tiny:<family>' a tiny random model from mechint.testing (a smoke test)",
    )
    p.add_argument("--n-texts", type=int, default=128, help="texts (default 128)")
    p.add_argument("--batch-size", type=int, default=16, help="texts per forward (default 16)")
    p.add_argument("--shard-size", type=int, default=16, help="texts per shard (default 16: 8 shards of 128 texts)")
    p.add_argument("--processes", type=int, default=2, help="ranks of the distributed row (default 2)")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="cores to share out (default: all)")
    p.add_argument("--repeats", type=int, default=3, help="timed rounds after the warm-up (median reported)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds before the ranks are killed")
    p.add_argument("--out", default=None, help="JSON results (default benchmarks/results/distributed_cpu.json)")
    args = p.parse_args(argv)
    if args.processes < 2:
        p.error("--processes must be at least 2")
    if args.cores % args.processes:
        p.error(f"--cores {args.cores} does not share out evenly between {args.processes} processes")
    if args.out is None:
        suffix = "_" + args.model.replace(":", "-") if args.model != "gemma-3-270m" else ""
        args.out = _common.results_path("distributed", "cpu", suffix)
    return args


def _load(name: str):
    import mechint

    if name.startswith("tiny:"):
        from mechint.testing import tiny_model

        return tiny_model(name.split(":", 1)[1])
    return mechint.load_model(name, device="cpu", dtype=torch.float32)


def _cpu_seconds() -> float:
    return time.process_time()


def rank_main(rank: int, args: argparse.Namespace, rendezvous: str, work: str) -> None:
    """One rank: load, warm up, run the rows round-robin, write its timings to ``work``."""
    import torch.distributed as dist
    from bench_collect import load_texts

    import mechint

    per_process = args.cores // args.processes
    torch.set_num_threads(per_process)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{rendezvous}",
        rank=rank,
        world_size=args.processes,
        timeout=datetime.timedelta(seconds=args.timeout),
    )
    lead = rank == 0
    t0 = time.perf_counter()
    model = _load(args.model)
    texts = load_texts(args.n_texts, args.seed)
    load_s = time.perf_counter() - t0

    def run(store: str, distributed: bool) -> None:
        mechint.collect(
            model,
            texts,
            "hook_resid_post",
            pool="last",
            batch_size=args.batch_size,
            store=store,
            shard_size=args.shard_size,
            progress=False,
            distributed=distributed,
        )

    rows = {
        f"1 process x {args.cores} threads": ("one", args.cores),
        "1 process x 1 thread": ("one", 1),
        f"{args.processes} processes x {per_process} thread{'s' if per_process > 1 else ''}": ("all", per_process),
    }
    # warm-up: every rank runs a few batches of each kind once
    mechint.collect(model, texts[: 2 * args.batch_size], "hook_resid_post", pool="last", progress=False)
    dist.barrier()
    times: dict[str, list[float]] = {name: [] for name in rows}
    cpu: dict[str, list[float]] = {name: [] for name in rows}  # this process's CPU seconds in each row
    stores: dict[str, str] = {}
    for r in range(args.repeats + 1):  # round 0: a warm-up of each row, not reported
        for i, (name, (who, threads)) in enumerate(rows.items()):
            folder = os.path.join(work, f"store-{r}-{i}")  # the same on every rank
            dist.barrier()
            cpu0 = _cpu_seconds()
            t = time.perf_counter()
            if who == "all":
                run(folder, distributed=True)
            elif lead:
                torch.set_num_threads(threads)
                run(folder, distributed=False)
                torch.set_num_threads(per_process)
            dist.barrier()
            dt = time.perf_counter() - t
            if r > 0:
                times[name].append(dt)
                cpu[name].append(_cpu_seconds() - cpu0)
                if lead:
                    log(f"  round {r}/{args.repeats}  {name:<28s} {dt:8.3f} s")
            if lead and r == args.repeats:
                stores[name] = folder
    dist.barrier()
    result = {"rank": rank, "load_seconds": load_s, "times": times, "cpu_seconds": cpu, "stores": stores}
    if lead:
        result["model"] = {"name": str(model.name), "n_layers": model.n_layers, "d_model": model.d_model}
        ids = model.tokenizer(texts)["input_ids"]
        result["tokens"] = sum(len(i) for i in ids)
    Path(work, f"rank-{rank}.json").write_text(json.dumps(result))
    dist.destroy_process_group()


def _compare(a: str, b: str) -> dict:
    from mechint import ActivationStore

    x, y = ActivationStore(a).load(), ActivationStore(b).load()
    diff = max(float((x[s] - y[s]).abs().max()) for s in x)
    return {"equal": all(torch.equal(x[s], y[s]) for s in x), "max_abs_diff": diff}


def main(argv=None) -> dict:
    args = parse_args(argv)
    t_start = time.perf_counter()
    work = tempfile.mkdtemp(prefix="bench-distributed-")
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=rank_main, args=(r, args, os.path.join(work, "rendezvous"), work))
        for r in range(args.processes)
    ]
    log(
        f"{args.processes} ranks ({args.cores} cores shared out: {args.cores // args.processes} torch thread(s) each), "
        f"{args.model}, {args.n_texts} texts, batch {args.batch_size}, shard {args.shard_size}, {args.repeats} rounds"
    )
    load_before = os.getloadavg()
    for p in procs:
        p.start()
    deadline = time.monotonic() + args.timeout
    for p in procs:
        p.join(timeout=max(1.0, deadline - time.monotonic()))
    load_after = os.getloadavg()
    alive = [r for r, p in enumerate(procs) if p.is_alive()]
    for p in procs:
        if p.is_alive():
            p.kill()
    failed = [r for r, p in enumerate(procs) if p.exitcode != 0]
    if alive or failed:
        raise SystemExit(f"ranks {alive} timed out, ranks {failed} failed (exit codes {[p.exitcode for p in procs]})")
    ranks = [json.loads(Path(work, f"rank-{r}.json").read_text()) for r in range(args.processes)]
    lead = ranks[0]
    names = list(lead["times"])
    one_many, one_single, dist_row = names
    checks = {
        "distributed vs 1 process x 1 thread": _compare(lead["stores"][dist_row], lead["stores"][one_single]),
        f"distributed vs {one_many}": _compare(lead["stores"][dist_row], lead["stores"][one_many]),
    }
    shutil.rmtree(work, ignore_errors=True)

    med = {n: statistics.median(lead["times"][n]) for n in names}
    fast = {n: min(lead["times"][n]) for n in names}  # the least disturbed round on a shared machine
    rows = []
    for n in names:
        rows.append(
            {
                "row": n,
                "seconds": med[n],
                "seconds_all": lead["times"][n],
                "texts_per_s": args.n_texts / med[n],
                "speedup_vs_one_process_all_cores": med[one_many] / med[n],
                "speedup_vs_one_thread": med[one_single] / med[n],
                "seconds_min": fast[n],
                "speedup_min_vs_one_process_all_cores": fast[one_many] / fast[n],
                "speedup_min_vs_one_thread": fast[one_single] / fast[n],
            }
        )
    columns = [
        ("row", "row", ""),
        ("seconds", "s (median)", ".2f"),
        ("texts_per_s", "texts/s", ".1f"),
        ("speedup_vs_one_process_all_cores", f"x vs {one_many}", ".2f"),
        ("speedup_vs_one_thread", "x vs 1 x 1", ".2f"),
        ("seconds_min", "s (fastest)", ".2f"),
        ("speedup_min_vs_one_process_all_cores", f"x vs {one_many}", ".2f"),
        ("speedup_min_vs_one_thread", "x vs 1 x 1", ".2f"),
    ]
    table = _common.format_table(rows, columns)
    model = lead["model"]
    header = (
        f"distributed collect benchmark: {model['name']} ({model['n_layers']} layers, d={model['d_model']}, "
        f"float32) on the CPU; {args.n_texts} texts ({lead['tokens']} tokens), batch {args.batch_size}, "
        f"shards of {args.shard_size}; last-token hook_resid_post at every layer into a fresh store; "
        f"median of {args.repeats} rounds"
    )
    print()
    print(header)
    print(table)
    for what, c in checks.items():
        print(f"rows, {what}: " + ("equal bit for bit" if c["equal"] else f"max |diff| {c['max_abs_diff']:.3g}"))
    # CPU seconds: what the load of other jobs does not change (for one-thread processes; a process
    # with several threads also counts the time its threads spin at OpenMP barriers)
    cpu_one = statistics.median(lead["cpu_seconds"][one_single])
    cpu_ranks = [statistics.median(r["cpu_seconds"][dist_row]) for r in ranks]
    idle = [x for r in ranks[1:] for n in (one_many, one_single) for x in r["cpu_seconds"][n]]
    print(
        f"CPU seconds (median): 1 process x 1 thread {cpu_one:.2f}; {dist_row}: "
        + ", ".join(f"rank {r} {c:.2f}" for r, c in enumerate(cpu_ranks))
        + f" (sum {sum(cpu_ranks):.2f}, x{sum(cpu_ranks) / cpu_one:.2f} the one process's work; the busiest rank "
        f"{max(cpu_ranks):.2f}: x{cpu_one / max(cpu_ranks):.2f} faster with a core per process)"
    )
    print(f"CPU seconds of the waiting ranks during one-process rows: at most {max(idle):.3f}")
    busy = max(load_before[0], load_after[0]) > (os.cpu_count() or 1) + 1
    print(
        f"load average (1 min) before/after: {load_before[0]:.1f} / {load_after[0]:.1f} on {os.cpu_count()} cores"
        + ("  -- the machine was busy: timings are noisy, see seconds_all in the JSON" if busy else "")
    )
    data = {
        "benchmark": "distributed",
        "header": header,
        "table": table,
        "args": vars(args),
        "model": model,
        "tokens": lead["tokens"],
        "rows": rows,
        "checks": checks,
        "load_seconds_per_rank": [r["load_seconds"] for r in ranks],
        "cpu_seconds_per_rank": {n: [r["cpu_seconds"][n] for r in ranks] for n in names},
        "cpu_seconds_median": {"one_thread": cpu_one, "distributed_per_rank": cpu_ranks},
        "loadavg_before_after": [load_before, load_after],
        "environment": _common.environment("cpu"),
        "wall_seconds": time.perf_counter() - t_start,
    }
    path = _common.write_json(args.out, data)
    print(f"wrote {path}  (total {data['wall_seconds']:.0f} s)")
    return data


if __name__ == "__main__":
    main()
