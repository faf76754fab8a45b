"""Run every study in ``experiments/`` on one model (default: the embedded gemma-3-270m).

    python -m experiments [--model gemma-3-270m] [--out figures] [--n-per-class N] [--device DEV] [--dtype DT]
                          [--only NAME ...] [--jobs N]

Each study module exposes ``run(model, out_dir, n_per_class=None) -> dict`` and runs alone as
``python -m experiments.NAME`` with the same options; activations are shared through the activation
store in the cache folder, so a second run reuses them. ``--n-per-class N`` takes at most N items
per class (a quick run; studies warn where that is too few for what they report). ``--jobs N`` runs
the studies in N worker processes, each on its share of torch's threads (:mod:`experiments._parallel`):
on a CPU, two processes of one thread finish sooner than one of two.
"""

from __future__ import annotations

import argparse
import json
import pkgutil
import time
from pathlib import Path

import mechint

from ._common import add_arguments, keep_freed_memory, run_study


def studies() -> list[str]:
    pkg = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(pkg)]) if not m.name.startswith("_"))


def _peak_memory() -> str:
    """`` (process peak so far N GiB)`` where the platform reports it (Linux: ru_maxrss in KiB)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return ""
    return f" (process peak so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB)"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Run every mechint study and write figures/.")
    add_arguments(parser)
    parser.add_argument("--only", nargs="*", default=None, help=f"studies to run (default all: {', '.join(studies())})")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="worker processes (default 1: the studies one after the other in this process); with N > 1 each "
        "worker loads the model and runs studies on its share of torch's threads, and each study's output goes "
        "to OUT/logs/STUDY.log",
    )
    args = parser.parse_args(argv)
    names = args.only or studies()
    unknown = sorted(set(names) - set(studies()))
    if unknown:
        raise SystemExit(f"unknown studies {unknown}; available: {studies()}")
    if args.jobs < 1:
        raise SystemExit(f"--jobs must be at least 1, got {args.jobs}")
    t0 = time.perf_counter()
    if args.jobs > 1:
        from ._parallel import run_parallel

        return run_parallel(args, names, args.jobs, t0)
    keep_freed_memory()
    model = mechint.load_model(args.model, device=args.device, dtype=args.dtype)
    print(f"loaded {model} in {time.perf_counter() - t0:.1f} s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in names:
        t = time.perf_counter()
        results[name] = run_study(name, model, out, args.n_per_class)
        print(
            f"[{name}] done in {time.perf_counter() - t:.1f} s{_peak_memory()}: "
            f"{json.dumps(results[name], ensure_ascii=False)}"
        )
    print(f"all studies done in {time.perf_counter() - t0:.1f} s; figures in {out}/")


if __name__ == "__main__":
    main()
