"""The fits of a probe study: ``mechint.probes.fit_probes`` against scikit-learn, side by side in one run.

Tasks (the fits the probe studies make on gemma-3-270m's 18 layers, width 640, MultiJail against
XQuAD in en zh vi ar th, 3150 texts, train/test split by item id, 30% of the items held out):

- ``layers``    one probe per layer on the training rows of all languages: 18 fits of ~2200 x 640.
- ``transfer``  one probe per layer and training language (the transfer matrix): 18 x 5 = 90 fits of
                ~441 x 640; each is then scored on the held-out rows of every language.
- ``transfer_cv``  the transfer matrix with 5 folds by item: 450 fits of ~504 x 640 (mechint with and
                without warm starts from the previous fold).

Methods (rows): scikit-learn ``StandardScaler`` + ``LogisticRegression(C, tol=1e-4, max_iter=1000)``
fitted one problem at a time (``lbfgs``, its default solver, and ``newton-cholesky``), with its BLAS
and OpenMP thread pools capped at one thread (threadpoolctl): in a process that has also run torch,
scikit-learn's default thread pools fight torch's and each other (measured here: lbfgs on
2200 x 640 took 2.0 s with 2 threads and 0.085 s with 1, same iterations and result; the
``sklearn_lbfgs_mt`` row shows the default), so one thread is its fastest setting.
``sklearn_lbfgs_joblib`` is how one would use every core with scikit-learn: the same fits (one
``StandardScaler`` + ``LogisticRegression`` per problem, lbfgs) spread over ``--sklearn-jobs``
processes (default: the machine's cores) with joblib's ``loky`` backend and default auto-batching,
each worker's BLAS and OpenMP pools at one thread (``inner_max_num_threads=1``: joblib sets the
thread variables before the workers start; ``threadpoolctl.threadpool_info()`` inside the workers
checks it, in the JSON as ``worker_threadpools``; a ``threadpool_limits`` per fit would cost ~4 ms,
about a transfer fit's own time); each problem's rows go to the workers as a copy, pickled
(``max_nbytes=None``: joblib's default memmaps arrays above 1 MB, hashing each in the parent, which
was 10-15% slower here on ``layers`` and ``transfer``). Its probes must equal ``sklearn_lbfgs``'s
(checked: the JSON's ``identical_to_sklearn_lbfgs`` and ``coef_max_abs_diff``). Against
``fit_probes`` (standardisation included) on ``--device``. Same objective for all: L2 on the weights
(strength ``1/C``), intercept unpenalised, features standardised with the training rows' mean and
std; scikit-learn stops when the largest component of the averaged gradient is <= tol, and so does
mechint. ``mechint`` uses ``fit_probes``'s default solver (on a CPU L-BFGS, compiled, each problem
start to finish on one of ``torch.get_num_threads()`` threads; exact Newton on a GPU);
``mechint_1thread`` is the CPU solver on one thread; ``mechint_newton`` forces exact Newton (dual for
fewer rows than features, else primal). Every method's inputs start as float32 arrays in host
memory; the GPU rows include the copy to the device. Timings: median of ``--repeats`` round-robin
rounds after a warm-up (scikit-learn's first run, which has nothing to warm up, counts as one of its
rounds; ``sklearn_lbfgs_joblib``'s does not: its workers are stopped before it, so its first call
starts them, imports scikit-learn in them and fits, what a researcher's one-off call pays. The
median is the pool running, as in a session that fits more than once; both are reported, the first
call as ``1st call s`` / ``seconds_first_call``, which for mechint includes compiling in the first
task). Accuracy: each probe's accuracy on its held-out rows (all languages for ``layers``, its
training language's for the transfer tasks) against scikit-learn lbfgs's probe for the same
problem: mean and largest absolute difference in points (one row of ~190 is 0.5 point), and the
smallest cosine between the weights.

Data: ``--data gemma`` reads gemma-3-270m's last-token residuals from mechint's activation store
(collects them once, ~70 s on 2 cores); ``--data synthetic`` makes arrays of the same shape,
items, labels and languages (no model: the GPU machine's mode).

    .venv/bin/python benchmarks/bench_probes.py                    # CPU, gemma activations (~3 min on 2 cores)
    python benchmarks/bench_probes.py --device cuda                # GPU machine: synthetic data, no model needed
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import _common  # noqa: E402

if TYPE_CHECKING:  # mechint is imported where it runs
    from mechint.probes import Solver

LANGUAGES = ("en", "zh", "vi", "ar", "th")
LABELS = {
    "sklearn_lbfgs": "scikit-learn lbfgs, one fit at a time, 1 thread",
    "sklearn_newton": "scikit-learn newton-cholesky, one fit at a time, 1 thread",
    "sklearn_lbfgs_mt": "scikit-learn lbfgs, one fit at a time, default threads",
    "sklearn_lbfgs_joblib": "scikit-learn lbfgs, problems spread over {n} processes (joblib loky), 1 thread each",
    "mechint": "mechint fit_probes, batched (default solver)",
    "mechint_newton": "mechint fit_probes, batched, exact Newton",
    "mechint_warm": "mechint fit_probes, batched, warm start from the previous fold",
    "mechint_cpu": "mechint fit_probes, batched, on this machine's CPU",
    "mechint_1thread": "mechint fit_probes on one CPU thread",
    "mechint_resident": "mechint fit_probes, batched, activations already on the device",
}


log = _common.log


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="where mechint fits: cpu (default) or cuda")
    p.add_argument(
        "--data", default=None, choices=["gemma", "synthetic"], help="default: gemma on cpu, synthetic on cuda"
    )
    p.add_argument("--tasks", default="layers,transfer,transfer_cv")
    p.add_argument(
        "--methods",
        default=None,
        help="comma list from " + ",".join(LABELS) + " (default cpu: sklearn_lbfgs,sklearn_lbfgs_joblib,"
        "sklearn_lbfgs_mt,sklearn_newton,mechint,mechint_1thread,mechint_newton,mechint_warm; cuda: sklearn_lbfgs,sklearn_newton,"
        "mechint,mechint_resident,mechint_cpu)",
    )
    p.add_argument("--C", type=float, default=1.0)
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument(
        "--sklearn-jobs",
        type=int,
        default=None,
        help="processes of the sklearn_lbfgs_joblib row (default: os.cpu_count())",
    )
    p.add_argument("--small", action="store_true", help="few layers and rows: smoke-test the code path")
    p.add_argument("--out", default=None)
    p.add_argument(
        "--profile",
        default=None,
        help="after each task's timings, run each mechint method once under torch.profiler and write "
        "its operator table (by GPU time on cuda) to this file",
    )
    args = p.parse_args(argv)
    args.data = args.data or ("synthetic" if args.device.startswith("cuda") else "gemma")
    args.tasks = [t for t in args.tasks.split(",") if t]
    if args.methods is None:
        args.methods = (
            "sklearn_lbfgs,sklearn_newton,mechint,mechint_resident,mechint_cpu"
            if args.device.startswith("cuda")
            else "sklearn_lbfgs,sklearn_lbfgs_joblib,sklearn_lbfgs_mt,sklearn_newton,mechint,mechint_1thread,"
            "mechint_newton,mechint_warm"
        )
    args.methods = _common.parse_methods(p, args.methods, LABELS)
    args.sklearn_jobs = args.sklearn_jobs or os.cpu_count() or 1
    return args


# ------------------------------------------------------------------------------------------ data


def load_data(args):
    """``acts [L, n, d]`` float32 (host), the Dataset (labels, languages, item ids), and its source."""
    from mechint import data

    ds = data.load_safety_pairs(list(LANGUAGES), n_per_class=40 if args.small else None)
    if args.data == "gemma":
        import mechint

        model = mechint.load_model("gemma-3-270m")
        acts = mechint.collect(model, ds, "hook_resid_post", pool="last", store=True, progress="activations")
        x = acts.stack([f"blocks.{l}.hook_resid_post" for l in range(model.n_layers)]).float()
        if args.small:
            x = x[:3]
        return x.contiguous(), ds, f"gemma-3-270m last-token hook_resid_post ({model.n_layers} layers)"
    L, d = (3, 64) if args.small else (18, 640)
    return synthetic(ds, L, d), ds, f"synthetic, {L} layers x width {d}, the data set's items/labels/languages"


def synthetic(ds, n_layers: int, d: int, seed: int = 0) -> torch.Tensor:
    """Residual-stream-like rows: a large mean, a decaying spectrum, an item component shared by the
    translations of an item, a language component, and a class signal that grows with depth and is
    partly shared across languages.

    Calibrated to the gemma-3-270m activations it stands in for (18 x 640): scikit-learn's lbfgs,
    one thread, 2 cores, summed over the fits, is
    - ``layers``: 1255 iterations and 0.398 s here, against 1186 and 0.370 s on the real activations;
    - ``transfer``: 2957 and 0.482 s, against 2908 and 0.472 s.
    Held-out accuracy is 0.940 / 0.944 here, 0.927 / 0.939 on the real activations. The uncalibrated
    version before took 2.4x / 1.9x scikit-learn's time."""
    g = torch.Generator().manual_seed(seed)
    n = len(ds)
    items = {i: k for k, i in enumerate(dict.fromkeys(ds.item_ids))}
    item = torch.tensor([items[i] for i in ds.item_ids])
    lang = torch.tensor([LANGUAGES.index(l) for l in ds.row_languages])
    y = torch.tensor(ds.labels, dtype=torch.float32) * 2 - 1
    r = 48
    basis = torch.randn(r, d, generator=g) / math.sqrt(d)
    spectrum = torch.logspace(1.1, -0.5, r)
    item_z = torch.randn(len(items), r, generator=g)
    lang_mu = torch.randn(len(LANGUAGES), d, generator=g) * 1.5
    shared = torch.randn(d, generator=g)
    shared /= shared.norm()
    out = torch.empty(n_layers, n, d)
    for l in range(n_layers):
        mix = torch.randn(r, d, generator=g) / math.sqrt(d) * 0.3
        z = (item_z[item] + 0.6 * torch.randn(n, r, generator=g)) * spectrum
        own = torch.randn(len(LANGUAGES), d, generator=g)
        own /= own.norm(dim=-1, keepdim=True)
        direction = 0.7 * shared + 0.5 * own[lang]
        strength = 1.5 + 2.5 * l / max(1, n_layers - 1)
        x = z @ (basis + mix) + lang_mu[lang] + strength * y[:, None] * direction + 0.9 * torch.randn(n, d, generator=g)
        scale = torch.exp(0.8 * torch.randn(d, generator=g))  # unequal feature scales
        out[l] = 50 + (x * scale) * (1 + l)  # offset and growth with depth, as residual streams
    return out


# ------------------------------------------------------------------------------------------ problems


def problems(task: str, ds, split: torch.Tensor, folds: torch.Tensor):
    """The fits of a task as row-index sets: a list of folds, each ``(train [A, m], test [A, t])``
    (A = 1 for ``layers``, else one row set per training language; every layer is a problem for
    every row set). A probe's test rows: the held-out rows of its training language (of all
    languages for ``layers``)."""
    lang = np.array(ds.row_languages)
    if task == "layers":
        return [(torch.nonzero(split == 0).reshape(1, -1), torch.nonzero(split == 1).reshape(1, -1))]
    if task in ("transfer", "transfer_cv"):
        f = split.numpy() if task == "transfer" else folds.numpy()
        test_folds = [1] if task == "transfer" else range(int(f.max()) + 1)
        out = []
        for j in test_folds:
            tr = [torch.from_numpy(np.nonzero((f != j) & (lang == a))[0]) for a in LANGUAGES]
            te = [torch.from_numpy(np.nonzero((f == j) & (lang == a))[0]) for a in LANGUAGES]
            out.append((torch.stack(tr), torch.stack(te)))
        return out
    raise ValueError(f"unknown task {task!r}")


def run_sklearn(x_np, y_np, task_folds, *, solver, C, tol, threads=None):
    """One StandardScaler + LogisticRegression per problem (what is timed); returns the fitted
    ``(scaler, model)`` per ``[fold][layer][row set]``. ``threads``: cap on scikit-learn's BLAS and
    OpenMP thread pools (threadpoolctl); None leaves the libraries' defaults."""
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    fitted = []
    with warnings.catch_warnings(), threadpool_limits(threads):
        warnings.simplefilter("ignore", ConvergenceWarning)
        for train, _ in task_folds:
            fitted.append(
                [
                    [_fit_one(x_np[l, rows], y_np[rows], solver, C, tol) for rows in train.numpy()]
                    for l in range(x_np.shape[0])
                ]
            )
    return fitted


def _fit_one(x, y, solver, C, tol):
    """One problem: ``(scaler, model)`` fitted on standardised rows (every scikit-learn row fits this)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler()
    return scaler, LogisticRegression(C=C, tol=tol, max_iter=1000, solver=solver).fit(scaler.fit_transform(x), y)


def _fit_problem(x, y, solver, C, tol):
    """One problem as ``run_sklearn`` fits it, in a joblib worker (whose thread pools joblib set)."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _fit_one(x, y, solver, C, tol)


def _loky(n_jobs):
    """joblib's process pool as the joblib row runs it: one BLAS/OpenMP thread per worker, rows pickled."""
    from joblib import parallel_config

    return parallel_config(backend="loky", n_jobs=n_jobs, inner_max_num_threads=1, max_nbytes=None)


def _worker_threadpools():
    """A worker's pid and its thread pools (to check that joblib capped them)."""
    import sklearn.linear_model  # noqa: F401 - load its OpenMP and scipy's BLAS, as a fit does
    from threadpoolctl import threadpool_info

    return os.getpid(), sorted({(i["internal_api"], i["num_threads"]) for i in threadpool_info()})


def run_sklearn_joblib(x_np, y_np, task_folds, *, solver, C, tol, n_jobs):
    """``run_sklearn``'s fits, one joblib task per problem, over ``n_jobs`` loky worker processes
    with one BLAS/OpenMP thread each (what is timed); the same ``[fold][layer][row set]`` nesting."""
    from joblib import Parallel, delayed

    keys = [
        (f, l, a)
        for f, (train, _) in enumerate(task_folds)
        for l in range(x_np.shape[0])
        for a in range(train.shape[0])
    ]
    trains = [train.numpy() for train, _ in task_folds]
    with _loky(n_jobs):
        out = Parallel()(
            delayed(_fit_problem)(x_np[l, trains[f][a]], y_np[trains[f][a]], solver, C, tol) for f, l, a in keys
        )
    fitted = [[[None] * train.shape[0] for _ in range(x_np.shape[0])] for train, _ in task_folds]
    for (f, l, a), r in zip(keys, out):
        fitted[f][l][a] = r
    return fitted


def joblib_worker_threadpools(n_jobs) -> list:
    from joblib import Parallel, delayed

    with _loky(n_jobs):
        return sorted(
            {
                (pid, tuple(map(tuple, pools)))
                # joblib types a call's result Optional (a generator return_as); this one is a list
                for pid, pools in Parallel()(delayed(_worker_threadpools)() for _ in range(4 * n_jobs))  # pyright: ignore[reportGeneralTypeIssues]
            }
        )


def stop_loky_workers() -> None:
    """Stop joblib's reusable loky workers, so that the next Parallel call starts them (a cold call)."""
    from joblib.externals.loky import reusable_executor

    ex = reusable_executor._executor
    if ex is not None:
        ex.shutdown(wait=True, kill_workers=True)


def score_sklearn(fitted, x_np, y_np, task_folds) -> dict:
    coef, acc, iters = [], [], []
    for (_, test), per_layer in zip(task_folds, fitted):
        coef.append([[m.coef_[0] for _, m in rows] for rows in per_layer])
        iters.append([[int(m.n_iter_[0]) for _, m in rows] for rows in per_layer])
        acc.append(
            [
                [m.score(sc.transform(x_np[l, te]), y_np[te]) for (sc, m), te in zip(rows, test.numpy())]
                for l, rows in enumerate(per_layer)
            ]
        )
    return {"coef": np.array(coef), "acc": np.array(acc), "iters": np.array(iters)}


def run_mechint(x, y, task_folds, *, device, C, tol, warm, solver: Solver = "auto", one_thread=False):
    """``fit_probes`` per fold, all layers and row sets in one call (what is timed). ``x`` in host
    memory is gathered there and copied to ``device`` by ``fit_probes``; ``x`` on ``device`` (the
    ``mechint_resident`` row) is gathered there."""
    from mechint.probes import fit_probes

    if one_thread:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return run_mechint(x, y, task_folds, device=device, C=C, tol=tol, warm=warm, solver=solver)
        finally:
            torch.set_num_threads(threads)
    probes, prev = [], None
    for train, _ in task_folds:
        # [L, A] problems: layer l, row set a reads rows train[a] of x[l] (gathered problem by problem)
        probe = fit_probes(
            x, y[train], rows=train, C=C, tol=tol, device=device, init=prev if warm else None, solver=solver
        )
        probes.append(probe)
        prev = probe if warm else None
    return probes


def score_mechint(probes, x, y, task_folds) -> dict:
    coef, acc, iters = [], [], []
    for probe, (_, test) in zip(probes, task_folds):
        s = probe.decision_function(x[:, test].to(probe.device))  # [L, A, t]: each probe on its own test rows
        acc.append(((s > 0).long().cpu() == y[test]).float().mean(-1))
        coef.append(probe.coef.cpu())
        iters.append(probe.n_iter.cpu())
    return {"coef": torch.stack(coef).numpy(), "acc": torch.stack(acc).numpy(), "iters": torch.stack(iters).numpy()}


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from mechint.probes import fold_ids, holdout_folds

    t0 = time.perf_counter()
    x, ds, source = load_data(args)
    y = torch.tensor(ds.labels)
    split, folds = holdout_folds(ds, 0.3, seed=0), fold_ids(ds, 5, seed=0)
    x_np, y_np = x.numpy(), y.numpy()
    log(f"data: {source}: {tuple(x.shape)} [{time.perf_counter() - t0:.1f} s]")
    try:
        import sklearn

        have_sklearn = sklearn.__version__
    except ImportError:
        have_sklearn = None
        log("scikit-learn is not installed: its rows are skipped")
    device = args.device
    report = {
        "args": {k: v for k, v in vars(args).items()},
        "data": source,
        "shape": list(x.shape),
        "environment": _common.environment(device),
        "sklearn": have_sklearn,
        "tasks": {},
    }
    report["environment"]["loadavg_before"] = os.getloadavg()
    cols = [
        ("label", "method", ""),
        ("seconds", "s (median)", ".3f"),
        ("speedup_vs_sklearn_lbfgs", "x vs sklearn lbfgs", ".1f"),
        ("speedup_vs_sklearn_newton", "x vs sklearn newton", ".1f"),
        ("speedup_vs_sklearn_lbfgs_joblib", "x vs sklearn joblib", ".1f"),
        ("seconds_first_call", "1st call s", ".3f"),
        ("iters_mean", "iters (mean)", ".1f"),
        ("acc_mean", "held-out acc", ".4f"),
        ("acc_mean_diff_points", "mean |dacc| pts", ".2f"),
        ("acc_max_diff_points", "max |dacc| pts", ".2f"),
        ("coef_cos_min", "min cos(w)", ".4f"),
    ]
    out = Path(args.out or _common.results_path("probes", device, "_small" if args.small else ""))
    x_dev = x.to(device) if "mechint_resident" in args.methods and device != "cpu" else None
    tables = []
    for task in args.tasks:
        tf = problems(task, ds, split, folds)
        n_fits = sum(x.shape[0] * t[0].shape[0] for t in tf)
        rows_per_fit = int(np.mean([t[0].shape[1] for t in tf]))
        methods, scorers = {}, {}
        for m in args.methods:
            if m.startswith("sklearn") and not have_sklearn:
                continue
            if m == "mechint_warm" and len(tf) == 1:
                continue
            if m in ("mechint_cpu", "mechint_resident") and device == "cpu":
                continue
            if m == "sklearn_newton" and task == "transfer_cv":
                continue  # ~60 s a round on 2 cores; the transfer task shows the same
            if m == "sklearn_lbfgs_joblib":
                methods[m] = lambda tf=tf: run_sklearn_joblib(
                    x_np, y_np, tf, solver="lbfgs", C=args.C, tol=args.tol, n_jobs=args.sklearn_jobs
                )
                scorers[m] = lambda r, tf=tf: score_sklearn(r, x_np, y_np, tf)
            elif m.startswith("sklearn"):
                solver = "newton-cholesky" if m == "sklearn_newton" else "lbfgs"
                threads = None if m == "sklearn_lbfgs_mt" else 1
                methods[m] = lambda s=solver, tf=tf, th=threads: run_sklearn(
                    x_np, y_np, tf, solver=s, C=args.C, tol=args.tol, threads=th
                )
                scorers[m] = lambda r, tf=tf: score_sklearn(r, x_np, y_np, tf)
            else:
                where = "cpu" if m in ("mechint_cpu", "mechint_1thread") else device
                xs = x_dev if m == "mechint_resident" else x
                if m == "mechint_newton":
                    solver = "dual" if tf[0][0].shape[-1] <= x.shape[-1] else "primal"
                else:
                    solver = "auto"
                methods[m] = (
                    lambda w=(m == "mechint_warm"), dev=where, tf=tf, xs=xs, sv=solver, one=(m == "mechint_1thread"): (
                        run_mechint(
                            xs,
                            y,
                            tf,
                            device=dev,
                            C=args.C,
                            tol=args.tol,
                            warm=w,
                            solver=cast("Solver", sv),
                            one_thread=one,
                        )
                    )
                )
                scorers[m] = lambda r, tf=tf: score_mechint(r, x, y, tf)
        log(f"\n[{task}] {n_fits} fits of ~{rows_per_fit} x {x.shape[-1]}; warm-up ...")
        results, first = {}, {}
        for name, fn in methods.items():  # warm-up, and the probes whose accuracy is checked
            if name == "sklearn_lbfgs_joblib":
                stop_loky_workers()  # its first call starts the worker processes, as a one-off call does
            first[name] = _common.time_call(lambda n=name, f=fn, r=results: r.__setitem__(n, f()), device)
            log(f"  warm-up {name:<16s} {first[name]:.3f} s")
            results[name] = scorers[name](results[name])
        # scikit-learn has nothing to warm up (no device, no compilation): its first run counts as
        # one of its rounds, which saves a minute per task on the layers task. The joblib row's
        # first call starts its workers: it is a warm-up, as mechint's (which compiles).
        sk = {k: v for k, v in methods.items() if k.startswith("sklearn") and k != "sklearn_lbfgs_joblib"}
        times, errors = _common.time_rounds(
            {k: v for k, v in methods.items() if k not in sk}, device, repeats=args.repeats, log=log
        )
        sk_times, sk_errors = _common.time_rounds(sk, device, repeats=args.repeats - 1, log=log)
        for k in sk:
            times[k] = [first[k]] + sk_times.get(k, [])
        errors.update(sk_errors)
        if "sklearn_lbfgs_joblib" in methods and "worker_threadpools" not in report:
            report["worker_threadpools"] = joblib_worker_threadpools(args.sklearn_jobs)
            log(f"  joblib workers' thread pools (pid, (api, threads)): {report['worker_threadpools']}")
        ref = results.get("sklearn_lbfgs")
        rows = []
        for name in methods:
            if name in errors:
                rows.append({"method": name, "error": errors[name]})
                continue
            r = results[name]
            row = {
                "task": task,
                "method": name,
                "label": LABELS[name].format(n=args.sklearn_jobs),
                "seconds": _common.median(times[name]),
                "seconds_all": times[name],
                "seconds_first_call": first[name],
                "fits": n_fits,
                "iters_mean": float(np.mean(r["iters"])),
                "iters_max": int(np.max(r["iters"])),
                "acc_mean": float(np.mean(r["acc"])),
            }
            if ref is not None:
                row["acc_max_diff_points"] = float(np.max(np.abs(r["acc"] - ref["acc"])) * 100)
                row["acc_mean_diff_points"] = float(np.mean(np.abs(r["acc"] - ref["acc"])) * 100)
                a, b = r["coef"].reshape(-1, r["coef"].shape[-1]), ref["coef"].reshape(-1, ref["coef"].shape[-1])
                c = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
                row["coef_cos_min"] = float(c.min())
                row["coef_max_abs_diff"] = float(np.max(np.abs(a - b)))
                row["identical_to_sklearn_lbfgs"] = bool(
                    np.array_equal(r["coef"], ref["coef"])
                    and np.array_equal(r["iters"], ref["iters"])
                    and np.array_equal(r["acc"], ref["acc"])
                )
                if name == "sklearn_lbfgs_joblib":
                    log(
                        f"  sklearn_lbfgs_joblib vs sklearn_lbfgs: identical probes "
                        f"{row['identical_to_sklearn_lbfgs']}, max |coef diff| {row['coef_max_abs_diff']:.3g}"
                    )
            rows.append(row)
        if ref is not None:
            base = _common.median(times["sklearn_lbfgs"])
            for row in rows:
                if "seconds" in row:
                    row["speedup_vs_sklearn_lbfgs"] = base / row["seconds"]
        if "sklearn_newton" in times:
            base = _common.median(times["sklearn_newton"])
            for row in rows:
                if "seconds" in row:
                    row["speedup_vs_sklearn_newton"] = base / row["seconds"]
        if times.get("sklearn_lbfgs_joblib"):
            base = _common.median(times["sklearn_lbfgs_joblib"])
            for row in rows:
                if "seconds" in row:
                    row["speedup_vs_sklearn_lbfgs_joblib"] = base / row["seconds"]
        report["tasks"][task] = {"fits": n_fits, "rows_per_fit": rows_per_fit, "rows": rows}
        tables.append((task, n_fits, rows_per_fit, rows))
        _common.write_json(out, report)  # after every task: a run cut short keeps what it measured
        print(_common.format_table([r for r in rows if "seconds" in r], cols), flush=True)
        if args.profile:
            with open(args.profile, "a" if tables[:-1] else "w") as fh:
                for name in (m for m in methods if m.startswith("mechint")):
                    fh.write(
                        f"# [{task}] {LABELS[name]} on {device}: {n_fits} fits of ~{rows_per_fit} x {x.shape[-1]}\n"
                    )
                    fh.write(_common.profile_table(methods[name], device) + "\n\n")
            log(f"  profile appended to {args.profile}")
    report["environment"]["loadavg_after"] = os.getloadavg()

    gpu = report["environment"].get("gpu")
    where = f"{device} ({gpu})" if gpu else f"{device}, {torch.get_num_threads()} torch threads, {os.cpu_count()} cores"
    print(
        f"\nprobe fits: {source}; C={args.C}, tol={args.tol}; mechint on {where}; scikit-learn {have_sklearn} on the CPU; "
        f"median of {args.repeats} rounds"
    )
    for task, n_fits, m, rows in tables:
        print(f"\n[{task}] {n_fits} fits of ~{m} rows x {x.shape[-1]}")
        print(_common.format_table([r for r in rows if "seconds" in r], cols))
    print(
        f"\nload average before/after: {report['environment']['loadavg_before']} / {report['environment']['loadavg_after']}"
    )
    _common.write_json(out, report)
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
