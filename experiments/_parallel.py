"""The studies in several worker processes: ``python -m experiments --jobs N``.

On a CPU the studies are matrix products, and two threads on one product do not make it twice as
fast, while the Python, tokenisation and sampling around the products run on one thread. Two
processes of one thread each finish two studies in less time than one process of two threads runs
them one after the other (the gain on the reference machine is in docs/performance.md), at the cost
of a second copy of the model in memory.

Each worker loads the model once and runs *groups* of studies that the runner hands it, one group at a
time, in the order of :data:`SCHEDULE`: the group that builds the safety-tuned model and the attacks
first, the studies that need neither while it does, those that read the attacks last. Studies of one
group run in one process, in order, because they share what a process keeps in memory (the attacked
models, the probes' fits). What several processes build is built once: every cached build holds an
inter-process lock (:func:`mechint.disk.file_lock`), and a process that waited for it reads the result.

Each study's output (progress bars, warnings) goes to ``<out>/logs/<study>.log``; the console shows
when each study starts and ends, as the one-process runner does. A study that fails is reported with
its log and the others go on; the runner exits with status 1 at the end if any failed. The answers
a study shares with another in the same process (a model's unedited answers, generated once) may be
generated in other batches than in a one-process run, which in bfloat16 can change a greedy token:
the figures of ``--jobs 2`` and ``--jobs 1`` agree within that noise, not bit for bit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import traceback
from collections.abc import Sequence
from multiprocessing import connection, get_context
from pathlib import Path

SCHEDULE: tuple[tuple[str, ...], ...] = (
    # builds the safety-tuned model and the fine-tuning attacks, then grafts the attacks (the longest lane)
    ("attack_languages", "safety_localization"),
    # need neither the tuned model nor the attacks: they run while the first group builds them
    ("alignment_retrieval",),
    ("direction_intervention",),
    ("neurons_editing", "neurons_activations", "neurons_top"),
    ("probe_early", "probe_layers", "probe_transfer"),  # one transfer fit, shared in memory
    ("patching_minimal_pairs",),
    ("direction_transfer",),
    ("language_direction_cosine",),
    # the safety-tuned model (built by then)
    ("contrast_check",),
    ("refusal_universality",),
    ("refusal_direction",),
    # the attacks (built by then)
    ("generation_monitor",),
    ("safety_tuning_diff",),
    # short ones last: the workers finish close together
    ("refusal_transfer",),
    ("prefill_attack",),
    ("mcqa_prefilling", "reasoning_language"),  # the English chat model, loaded once
)
"""The groups of studies in the order the workers take them (longest first within each kind, by the
main command's times); a study missing here runs after them, alone."""


def groups(names: Sequence[str]) -> list[tuple[str, ...]]:
    """``names`` as the groups of :data:`SCHEDULE` (only the named studies of each, in its order),
    then each study the schedule does not name as a group of its own."""
    wanted = set(names)
    out = [tuple(n for n in group if n in wanted) for group in SCHEDULE]
    listed = {n for group in SCHEDULE for n in group}
    out += [(n,) for n in names if n not in listed]
    return [g for g in out if g]


def threads_per_worker(jobs: int) -> int:
    """The torch threads each of ``jobs`` workers uses: this process's torch threads shared out."""
    return max(1, _torch_threads() // jobs)


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def run_parallel(args: argparse.Namespace, names: Sequence[str], jobs: int, t0: float) -> None:
    """Run the studies ``names`` in ``jobs`` worker processes (see the module's docstring); exits
    with status 1 after the others finish if a study failed or a worker died."""
    out = Path(args.out)
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    todo = groups(names)
    threads = threads_per_worker(jobs)
    total = _torch_threads()  # what a worker left alone may take
    ctx = get_context("spawn")  # a forked copy of a process whose torch threads have run is not safe
    options = {k: getattr(args, k) for k in ("model", "device", "dtype", "n_per_class", "out")}
    workers: dict[int, tuple] = {}
    for i in range(min(jobs, len(todo))):
        ours, theirs = ctx.Pipe()
        proc = ctx.Process(
            target=_worker,
            args=(theirs, i + 1, options, threads, total, str(logs)),
            name=f"mechint-worker-{i + 1}",
        )
        proc.start()
        theirs.close()
        workers[i] = (proc, ours)
    print(
        f"{len(names)} studies in {len(todo)} groups on {len(workers)} workers of {threads} torch thread(s); logs in {logs}/"
    )
    running: dict[int, str | None] = dict.fromkeys(workers)
    loaded: set[int] = set()
    failed: list[str] = []
    try:
        while workers:
            ready = connection.wait([c for _, c in workers.values()] + [p.sentinel for p, _ in workers.values()])
            for i, (proc, conn) in list(workers.items()):
                if conn in ready:
                    try:
                        message = conn.recv()
                    except EOFError:
                        message = None
                    if message is not None and message[0] == "load_failed":
                        for other, _ in workers.values():
                            other.terminate()
                        raise SystemExit(f"worker {i + 1} could not load the model: {message[1]} (log: {message[2]})")
                    if message is not None:
                        running[i] = _report(i + 1, message, running[i], failed, t0)
                        if message[0] == "loaded":
                            loaded.add(i)  # its signal handler is in place
                        if message[0] in ("loaded", "idle"):
                            if todo:
                                conn.send(("run", todo.pop(0)))
                            else:
                                conn.send(("stop",))
                        continue
                if proc.sentinel in ready or not proc.is_alive():
                    proc.join()
                    if not todo:  # the others will take no new group: share out the threads this one had
                        _more_threads([p for j, (p, _) in workers.items() if j != i and j in loaded])
                    if running[i] is not None or proc.exitcode != 0:
                        what = f"[{running[i]}]" if running[i] else f"worker {i + 1}"
                        print(
                            f"{what} worker {i + 1} died (exit code {proc.exitcode}; a negative code is the signal "
                            "that ended it: -9 is often the system's out-of-memory killer)",
                            flush=True,
                        )
                        failed.append(running[i] or f"worker {i + 1}")
                    del workers[i]
    except KeyboardInterrupt:
        for proc, _ in workers.values():
            proc.terminate()
        raise
    if todo:  # every worker died with groups left
        left = [n for group in todo for n in group]
        print(f"not run (no worker left): {left}")
        failed += left
    print(f"all studies done in {time.perf_counter() - t0:.1f} s; figures in {out}/")
    if failed:
        raise SystemExit(f"{len(failed)} failed: {failed} (their logs are in {logs}/)")


def _more_threads(procs: list) -> None:
    """Tell the workers ``procs`` (still running, past their start) that a worker ended, so each may
    take another share of threads (``SIGUSR1``, handled at its next Python instruction): the last
    studies of a run do not finish on one core while another is idle. A no-op where the platform has
    no ``SIGUSR1``."""
    import signal

    if not hasattr(signal, "SIGUSR1"):
        return
    for proc in procs:
        if proc.is_alive() and proc.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGUSR1)


def _report(worker: int, message: tuple, current: str | None, failed: list[str], t0: float) -> str | None:
    """Print a worker's message; the study it now runs (or None)."""
    kind = message[0]
    if kind == "loaded":
        print(f"worker {worker}: loaded {message[1]} in {message[2]:.1f} s", flush=True)
        return None
    if kind == "start":
        print(f"[{message[1]}] started on worker {worker} at {time.perf_counter() - t0:.1f} s", flush=True)
        return message[1]
    if kind == "done":
        _, name, seconds, peak, threads, result = message
        print(
            f"[{name}] done in {seconds:.1f} s (worker {worker}, {threads} thread(s) at the end, its peak so far "
            f"{peak:.1f} GiB): {result}",
            flush=True,
        )
        return None
    if kind == "failed":
        _, name, seconds, log, error = message
        print(f"[{name}] FAILED after {seconds:.1f} s on worker {worker}: {error} (log: {log})", flush=True)
        failed.append(name)
        return None
    return current  # "idle"


def _worker(conn, number: int, options: dict, threads: int, total: int, logs: str) -> None:
    """A worker process: load the model, then run the groups the runner sends until told to stop."""
    import torch

    torch.set_num_threads(threads)
    _take_threads_on_signal(threads, total)
    import mechint

    from ._common import keep_freed_memory, run_study

    keep_freed_memory()
    t = time.perf_counter()
    log = Path(logs) / f"load-worker-{number}.log"
    try:
        with _output_to(log):
            model = mechint.load_model(options["model"], device=options["device"], dtype=options["dtype"])
    except Exception as e:  # noqa: BLE001 - the runner stops every worker and says why
        conn.send(("load_failed", f"{type(e).__name__}: {e}", str(log)))
        return
    conn.send(("loaded", repr(model), time.perf_counter() - t))
    out = Path(options["out"])
    while True:
        message = conn.recv()
        if message[0] == "stop":
            _ignore_thread_signals()  # the interpreter's exit restores the default action: ending the process
            return
        for name in message[1]:
            conn.send(("start", name))
            t = time.perf_counter()
            log = Path(logs) / f"{name}.log"
            try:
                with _output_to(log):
                    result = run_study(name, model, out, options["n_per_class"])
            except Exception as e:  # noqa: BLE001 - reported to the runner, the next study runs
                with open(log, "a", encoding="utf-8") as f:
                    traceback.print_exc(file=f)
                conn.send(("failed", name, time.perf_counter() - t, str(log), f"{type(e).__name__}: {e}"))
                continue
            result = json.dumps(result, ensure_ascii=False)
            conn.send(("done", name, time.perf_counter() - t, _peak_gib(), torch.get_num_threads(), result))
        conn.send(("idle",))


def _take_threads_on_signal(share: int, total: int) -> None:
    """On ``SIGUSR1`` (:func:`_more_threads`), add ``share`` threads to this process's, up to
    ``total``: the handler runs in the main thread between Python instructions, so no torch operation
    is half-way through when the count changes."""
    import signal

    if not hasattr(signal, "SIGUSR1"):
        return
    import torch

    def more(signum, frame) -> None:
        torch.set_num_threads(min(total, torch.get_num_threads() + share))

    signal.signal(signal.SIGUSR1, more)


def _ignore_thread_signals() -> None:
    """Ignore ``SIGUSR1`` from now on: a signal sent while this process exits would otherwise end it
    with the default action (Python restores it for the signals it handled), and the runner would
    report a worker that finished as dead."""
    import signal

    if hasattr(signal, "SIGUSR1"):
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)


def _peak_gib() -> float:
    """This process's peak resident memory so far in GiB (0 where the platform does not report it)."""
    try:
        import resource
    except ImportError:
        return 0.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


@contextlib.contextmanager
def _output_to(path: Path):
    """Send this process's stdout and stderr (Python's and the C library's) to ``path`` inside the block."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "w", encoding="utf-8") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
