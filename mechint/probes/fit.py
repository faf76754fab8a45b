"""Fitting: :func:`fit_probes`, its argument checks, and how the problems reach a solver.

The problems of a call are checked (rows, labels, weights, ``C``, ``init``), then either handed
whole to the compiled CPU L-BFGS (:mod:`mechint.probes._lbfgs_cpu`) or gathered onto the fitting
device in chunks of bounded size, standardised there and solved by a batched solver
(:mod:`mechint.probes._solvers`).
"""

from __future__ import annotations

import math
from typing import Literal, Mapping, Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from .. import _validate
from ._common import ProbeDataError, broadcast, check_finite_rows, check_label_values, describe_problem
from ._solvers import LBFGS_MEMORY, lbfgs, newton_dual, newton_primal
from .probe import Probe

Solver = Literal["auto", "primal", "dual", "lbfgs"]
ClassWeight = Literal["balanced"] | Mapping[int, float] | None


class ProbeConvergenceWarning(UserWarning):
    """Some problems of a :func:`fit_probes` call stopped before reaching ``tol`` (``max_iter`` steps,
    or no decrease possible in the working precision): their probes are returned as they stood, and
    ``Probe.converged`` says which."""


def _as_labels(labels, n: int, batch_shape, device) -> Tensor:
    y = _validate.labels(labels, device=device)
    if y.ndim == 0:
        raise ProbeDataError("labels must be a sequence, one per row of activations")
    if y.shape[-1] != n:
        raise ProbeDataError(f"{y.shape[-1]} labels for {n} rows of activations (mismatched rows and labels)")
    check_label_values(y)
    return broadcast(
        y,
        (*batch_shape, n),
        ProbeDataError,
        "labels of shape",
        f"do not match activations of batch shape {tuple(batch_shape)} and {n} rows",
    )


@torch.no_grad()  # a fit is not differentiable: no graph through the solvers (inputs may require grad)
def fit_probes(
    acts: Float[Tensor, "*batch n d"],
    labels: Tensor | Sequence[int],
    *,
    C: float | Tensor = 1.0,
    class_weight: ClassWeight = None,
    sample_weight: Tensor | None = None,
    standardize: bool = True,
    tol: float = 1e-4,
    max_iter: int | None = None,
    init: Probe | None = None,
    solver: Solver = "auto",
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    axes: Sequence[str] | None = None,
    coords: Mapping[str, Sequence | Tensor] | None = None,
    max_batch_bytes: int = 1 << 30,
    rows: Tensor | None = None,
) -> Probe:
    """Fit one L2 logistic-regression probe per problem: every ``[n, d]`` slice of ``acts``.

    Args:
        acts: ``[*batch, n, d]`` activations (e.g. ``[layer, n, d]`` from
            ``Activations.stack()``): each leading index is an independent problem.
        labels: ``[n]`` (shared) or ``[*batch, n]`` labels, 1 = harmful, 0 = harmless.
        C: inverse regularisation strength as in scikit-learn (smaller: stronger L2 on the
            weights; the intercept is never penalised); a scalar or one per problem (``[*batch]``).
        class_weight: ``None``, ``"balanced"`` (weights ``n / (2 n_class)`` from the training rows of
            each problem) or ``{0: w0, 1: w1}`` (finite and positive).
        sample_weight: ``[n]`` or ``[*batch, n]`` non-negative weights; rows with weight 0 are left
            out of the fit (and of the standardisation), which lets problems with different
            training rows share one tensor.
        standardize: fit on ``(x - mean) / std`` of the training rows (``StandardScaler``).
        tol: stop a problem when ``max|gradient| / sum(weights) <= tol`` (scikit-learn's criterion).
        max_iter: iterations at most (default 50 Newton steps, or 1000 L-BFGS steps).
        init: a :class:`Probe` (broadcastable to the batch) to start from: the solution of a
            neighbouring layer, fold or prefix fraction cuts the number of Newton steps. Its
            ``coef``/``intercept`` are used as they are, in the new standardised space.
        solver: ``"primal"`` or ``"dual"`` (exact Newton), ``"lbfgs"``, or ``"auto"``: L-BFGS on a
            CPU (compiled, problem by problem on ``torch.get_num_threads()`` threads), Newton on a
            GPU (dual when there are fewer rows than features).
        device: where to fit (default: where ``acts`` is). The probe is returned there.
        dtype: dtype of the batched products (the line search and objective run in float64) and of
            the returned probe's tensors.
        axes, coords: names of the batch axes and their labels, kept on the probe.
        max_batch_bytes: the batched solvers (Newton; L-BFGS off the CPU) fit the problems in chunks
            whose working set stays under this size.
        rows: ``[*row_batch, m]`` row indices: fit on ``acts[..., rows, :]`` (problems
            ``[*batch, *row_batch]``, e.g. ``[layer, n, d]`` activations with one row set per
            language give ``[layer, language]``) without materialising that gather. ``labels`` and
            ``sample_weight`` then describe the gathered rows (``[m]`` or ``[*batch, *row_batch, m]``).

    Raises:
        ProbeDataError: mismatched rows and labels, labels not 0/1, a problem whose training rows
            hold only one class, NaN/inf activations in training rows (the problem and rows are
            named), or a fit that ended with non-finite weights (activations too large for ``dtype``).
        ValueError: ``C``, ``class_weight``, ``init`` or another argument of the wrong shape or value.

    Warns:
        ProbeConvergenceWarning: once per call when some problems stopped before reaching ``tol``
            (``max_iter`` steps, or no decrease possible in the working precision); they are
            returned as they stood, with ``converged`` False.
    """
    x = _validate.numbers("activations", acts)
    if x.ndim < 2:
        raise ProbeDataError(f"activations must be [*batch, n, d], got shape {tuple(x.shape)}")
    device = _validate.device("device", device) or x.device
    tol = float(_validate.numbers("tol", tol))
    if not 0 < tol < math.inf:
        raise ValueError(f"tol must be a positive finite number, got {tol}")
    _validate.integer("max_iter", max_iter, minimum=1, optional=True)
    _validate.boolean("standardize", standardize)
    batch_shape, n, d = tuple(x.shape[:-2]), x.shape[-2], x.shape[-1]
    if rows is not None:
        rows = _check_rows(rows, n)
        batch_shape, n = batch_shape + tuple(rows.shape[:-1]), rows.shape[-1]
    if n == 0 or d == 0:
        raise ProbeDataError(f"no rows or no features: activations of shape {tuple(x.shape)}")
    if axes is not None and len(axes) != len(batch_shape):
        raise ValueError(f"axes {tuple(axes)} name {len(axes)} batch axes; activations have {len(batch_shape)}")
    for axis, labels_of in (coords or {}).items():
        if axes is None or axis not in axes:
            raise ValueError(f"coords names axis {axis!r}, which axes={axes!r} does not")
        size = batch_shape[list(axes).index(axis)]
        if len(labels_of) != size:
            raise ValueError(f"coords[{axis!r}] has {len(labels_of)} labels for a batch axis of {size}")
    y = _as_labels(labels, n, batch_shape, device)
    if sample_weight is None:
        sw = torch.ones((*batch_shape, n), device=device, dtype=torch.float64)
    else:
        sw = torch.as_tensor(sample_weight, device=device, dtype=torch.float64)
        if sw.shape[-1] != n:
            raise ProbeDataError(f"{sw.shape[-1]} sample weights for {n} rows of activations")
        if bool((sw < 0).any()) or not bool(torch.isfinite(sw).all()):
            raise ProbeDataError("sample weights must be non-negative finite numbers")
        if bool((sw.sum(-1) == 0).any()):
            raise ProbeDataError("sample weights are all zero for some problem: it has no training rows")
        sw = broadcast(
            sw,
            (*batch_shape, n),
            ProbeDataError,
            "sample weights of shape",
            f"do not match activations of "
            f"batch shape {tuple(batch_shape)} and {n} rows (expected [{n}] or [*batch, {n}])",
        )
    used = sw > 0
    if solver == "auto":
        solver = "lbfgs" if device.type == "cpu" else ("dual" if n <= d else "primal")
    # activations already where the fit runs (or read whole by the compiled CPU solver) are checked
    # here; those copied there chunk by chunk are checked on arrival (below)
    copied = x.device != device and not (solver == "lbfgs" and device.type == "cpu")

    def check_finite() -> None:  # on the source activations: names the problem and the rows
        check_finite_rows(x, used.to(x.device), "activations", batch_shape=batch_shape, axes=axes, rows=rows)

    if not copied:
        check_finite()
    # per-problem class checks and class weights
    yb = y.bool()
    n1 = (sw * yb).sum(-1)
    n0 = (sw * ~yb).sum(-1)
    for count, cls in ((n1, 1), (n0, 0)):
        if bool((count <= 0).any()):
            p = int((count <= 0).reshape(-1).nonzero()[0])
            raise ProbeDataError(
                f"{describe_problem(p, batch_shape, axes)} has training rows of one class only "
                f"(no label {cls}); a probe needs both classes"
            )
    if class_weight is None:
        s = sw
    elif class_weight == "balanced":
        # scikit-learn: n_samples / (n_classes * bincount(y)), counted over the training rows
        total = n0 + n1
        w1, w0 = total / (2 * n1), total / (2 * n0)
        s = sw * torch.where(yb, w1.unsqueeze(-1), w0.unsqueeze(-1))
    elif isinstance(class_weight, Mapping):
        unknown = set(class_weight) - {0, 1}
        if unknown:
            raise ValueError(f"class_weight keys must be 0 and/or 1, got {sorted(unknown)}")
        for label, weight in class_weight.items():
            try:
                value = float(weight)
            except (TypeError, ValueError):
                value = math.nan
            if not 0 < value < math.inf:  # 0, negative, inf or NaN weights make the objective degenerate
                raise ValueError(f"class_weight of label {label} must be a finite number > 0, got {weight!r}")
        s = sw * torch.where(yb, float(class_weight.get(1, 1.0)), float(class_weight.get(0, 1.0)))
    else:
        raise ValueError(f"class_weight must be None, 'balanced' or a {{label: weight}} dict, got {class_weight!r}")
    Ct = _validate.numbers("C", C).to(dtype=torch.float64, device=device)
    Cb = broadcast(
        Ct,
        batch_shape,
        ValueError,
        "C of shape",
        f"does not match the batch shape {tuple(batch_shape)}: give a scalar or one value per problem",
    )
    if bool((Cb <= 0).any()) or not bool(torch.isfinite(Cb).all()):
        raise ValueError(f"C must be positive and finite, got {C!r}")
    if solver not in ("auto", "primal", "dual", "lbfgs"):
        raise ValueError(f"solver must be 'auto', 'primal', 'dual' or 'lbfgs', got {solver!r}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64 (the precision of the products), got {dtype}")

    P = math.prod(batch_shape) if batch_shape else 1
    # problem p reads rows ``row_sets[set_of[p]]`` of ``src[src_of[p]]``
    src = x.reshape(-1, x.shape[-2], d)
    row_sets = (torch.arange(n) if rows is None else rows).reshape(-1, n)
    src_of, set_of = torch.arange(P) // row_sets.shape[0], torch.arange(P) % row_sets.shape[0]
    yf = y.reshape(P, n)
    sf = s.reshape(P, n)
    usedf = used.reshape(P, n)
    lam = (1.0 / Cb).reshape(P)
    init_coef = init_b = None
    if init is not None:
        if init.d != d:
            raise ValueError(f"init probe has width {init.d}, activations have width {d}")
        mismatch = f"does not broadcast to the batch shape {tuple(batch_shape)} of the problems"
        init_coef = broadcast(
            init.coef.to(device),
            (*batch_shape, d),
            ValueError,
            "init probe of batch shape",
            mismatch,
            of=init.intercept,
        ).reshape(P, d)  # the intercept's shape is the batch shape
        init_b = broadcast(
            init.intercept.to(device), batch_shape, ValueError, "init probe of batch shape", mismatch
        ).reshape(P)
    if max_iter is None:
        max_iter = 1000 if solver == "lbfgs" else 50
    if solver == "lbfgs" and device.type == "cpu":
        outs = [
            _fit_lbfgs_cpu(
                src,
                src_of,
                row_sets,
                set_of,
                yf,
                sf,
                lam,
                init_coef,
                init_b,
                standardize=standardize,
                tol=tol,
                max_iter=max_iter,
                dtype=dtype,
            )
        ]
    else:
        outs = []
        # chunk the problems so that the working set stays bounded
        elt = torch.finfo(dtype).bits // 8
        per_problem = (
            elt * n * (d + 1) * 3
            + {
                "dual": elt * n * n * 3,
                "primal": elt * (d + 1) ** 2 * 3,
                "lbfgs": 8 * (2 * LBFGS_MEMORY + 4) * (d + 1),
            }[solver]
        )
        chunk = max(1, min(P, max_batch_bytes // max(per_problem, 1)))
        problem_rows = None if rows is None else row_sets[set_of]  # [P, n]
        for start in range(0, P, chunk):
            sl = slice(start, min(P, start + chunk))
            xc = _gather_problems(src, sl, src_of, problem_rows, device).to(dtype)
            if copied and not bool(torch.isfinite(xc.sum())):  # one reduction where the rows now are
                check_finite()  # a NaN or inf somewhere: raises, or passes when only unweighted rows hold it
            outs.append(
                _fit_chunk(
                    xc,
                    yf[sl],
                    sf[sl],
                    usedf[sl],
                    lam[sl],
                    None if init_coef is None else init_coef[sl],
                    None if init_b is None else init_b[sl],
                    standardize=standardize,
                    tol=tol,
                    max_iter=max_iter,
                    solver=solver,
                    device=device,
                    dtype=dtype,
                )
            )
    coef, b, mean, scale, n_iter, conv = (torch.cat(parts) for parts in zip(*outs))
    axes = tuple(axes) if axes is not None else tuple(f"axis{i}" for i in range(len(batch_shape)))
    _check_fit(coef, b, conv, batch_shape, axes, max_iter=max_iter, tol=tol, dtype=dtype)
    return Probe(
        coef=coef.reshape(*batch_shape, d).to(dtype),
        intercept=b.reshape(batch_shape).to(dtype),
        mean=mean.reshape(*batch_shape, d).to(dtype),
        scale=scale.reshape(*batch_shape, d).to(dtype),
        C=Cb.to(dtype).clone(),
        n_iter=n_iter.reshape(batch_shape),
        converged=conv.reshape(batch_shape),
        axes=axes,
        coords=dict(coords or {}),
        class_weight=class_weight,
        tol=tol,
    )


def _check_fit(coef: Tensor, b: Tensor, conv: Tensor, batch_shape, axes, *, max_iter: int, tol: float, dtype) -> None:
    """Raise for non-finite weights; warn (once) naming the problems that did not converge.

    ``coef [P, d]``, ``b [P]`` and ``conv [P]`` are the flattened results of one :func:`fit_probes` call."""
    finite = torch.isfinite(coef).all(-1) & torch.isfinite(b)
    if not bool(finite.all()):
        bad = (~finite).nonzero().reshape(-1).tolist()
        where = "; ".join(describe_problem(p, batch_shape, axes) for p in bad[:3])
        raise ProbeDataError(
            f"the fit gave non-finite weights for {len(bad)} of {finite.numel()} problems ({where}"
            f"{' ...' if len(bad) > 3 else ''}): activations too large for {dtype}? Rescale them or fit in float64"
        )
    if not bool(conv.all()):
        bad = (~conv).nonzero().reshape(-1).tolist()
        where = "; ".join(describe_problem(p, batch_shape, axes) for p in bad[:3])
        _validate.warn_at_caller(
            f"{len(bad)} of {conv.numel()} probe problems did not converge to tol={tol:g} ({where}"
            f"{' ...' if len(bad) > 3 else ''}): max_iter={max_iter} reached, or no decrease possible in the "
            "working precision; Probe.converged says which (raise max_iter, loosen tol, or use dtype=torch.float64)",
            ProbeConvergenceWarning,
        )


_GATHER_PART_BYTES = 16 << 20


def _gather_problems(
    src: Tensor, sl: slice, src_of: Tensor, row_sets: Tensor | None, device: torch.device, *, staged: bool | None = None
) -> Tensor:
    """``[m, n, d]`` on ``device``: the rows of problems ``sl``. Problem ``p`` reads rows
    ``row_sets[p]`` of ``src[src_of[p]]`` (``src [S, N, d]``); with ``row_sets=None`` problem ``p``
    is ``src[p]``, all rows.

    From host memory to a GPU the rows are gathered straight into page-locked memory, part by part,
    and each part's copy to the device (asynchronous from page-locked memory, several times faster
    than from pageable memory) runs while the next part is gathered: no second host copy for
    pinning, and the transfer mostly hidden behind the gather. ``staged`` forces (or refuses) that
    part-by-part path (page-locked only towards a GPU), which tests check on any device.
    """
    N, d = src.shape[-2], src.shape[-1]

    def gather(a: int, b: int, out: Tensor | None = None) -> Tensor:
        """Problems ``sl.start + a .. sl.start + b - 1``, into ``out`` where given."""
        lo, hi = sl.start + a, sl.start + b
        if row_sets is None:
            return src[lo:hi] if out is None else out.copy_(src[lo:hi])
        rs = row_sets[lo:hi].to(src.device)
        of = src_of[lo:hi].to(src.device)
        if not src.is_contiguous():
            got = src[of.unsqueeze(-1), rs]
            return got if out is None else out.copy_(got)
        idx = (of.unsqueeze(-1) * N + rs).reshape(-1)  # rows of the flattened [S * N, d] source
        if out is None:
            return src.view(-1, d).index_select(0, idx).view(b - a, rs.shape[-1], d)
        torch.index_select(src.view(-1, d), 0, idx, out=out.view(-1, d))
        return out

    m = len(range(sl.start, sl.stop))
    if staged is None:
        staged = src.device.type == "cpu" and device.type == "cuda"
    if not staged:
        return gather(0, m).to(device)
    n = N if row_sets is None else row_sets.shape[-1]
    host = torch.empty(
        (m, n, d), dtype=src.dtype, device=src.device, pin_memory=src.device.type == "cpu" and device.type == "cuda"
    )
    out = torch.empty((m, n, d), dtype=src.dtype, device=device)
    part = max(1, _GATHER_PART_BYTES // max(1, n * d * src.element_size()))
    for a in range(0, m, part):
        b = min(m, a + part)
        out[a:b].copy_(gather(a, b, host[a:b]), non_blocking=True)
    return out


def _fit_chunk(x, y, s, used, lam, init_coef, init_b, *, standardize, tol, max_iter, solver, device, dtype):
    """Standardise one chunk of problems on ``device`` and run the solver."""
    x = x.to(device=device, dtype=dtype)
    used = used.to(device)
    if not bool(used.all()):  # rows left out may hold anything (NaN included): zero them first
        x = torch.where(used.unsqueeze(-1), x, torch.zeros((), device=device, dtype=dtype))
    m = used.to(dtype)
    if standardize:
        cnt = m.sum(-1, keepdim=True).clamp(min=1)  # [P, 1]
        mean = (m.unsqueeze(1) @ x).squeeze(1) / cnt  # [P, d]
        xc = x - mean.unsqueeze(1)  # centred before squaring: residual streams have large means
        if not bool(used.all()):
            xc.mul_(m.unsqueeze(-1))
        scale = torch.linalg.vector_norm(xc, dim=1) / cnt.sqrt()  # ddof=0, as StandardScaler
        # StandardScaler: a (near-)constant feature keeps scale 1. The test is relative (the spread
        # within rounding of the mean), as _lbfgs_cpu._standardize's: features of tiny magnitude
        # (x * 1e-7) are standardised like any other
        tiny = 10 * torch.finfo(dtype).eps * mean.abs()
        scale = torch.where(scale <= tiny, torch.ones_like(scale), scale)
        xs = xc.div_(scale.unsqueeze(1))
    else:
        mean = torch.zeros(x.shape[0], x.shape[-1], device=device, dtype=dtype)
        scale = torch.ones_like(mean)
        xs = x
    yy = y.to(device=device, dtype=torch.float64)
    ss = s.to(device=device, dtype=torch.float64)
    lam = lam.to(device=device, dtype=torch.float64)
    if init_coef is not None:
        init_coef = init_coef.to(device=device, dtype=dtype)
        init_b = init_b.to(device=device, dtype=torch.float64)
    solve = {"dual": newton_dual, "primal": newton_primal, "lbfgs": lbfgs}[solver]
    coef, b, n_iter, conv = solve(xs, yy, ss, lam, init_coef, init_b, tol=tol, max_iter=max_iter)
    return coef, b, mean, scale, n_iter, conv


def _check_rows(rows, n_src: int) -> Tensor:
    """``rows`` as a CPU int64 tensor of shape ``[*row_batch, m]``, every index in ``[0, n_src)``."""
    r = torch.as_tensor(rows)
    if r.dtype.is_floating_point or r.dtype == torch.bool or r.dtype.is_complex:
        raise ValueError(f"rows must be integer row indices, got dtype {r.dtype}")
    if r.ndim == 0:
        raise ValueError("rows must be [*row_batch, m] row indices, got a scalar")
    r = r.to("cpu", torch.long)
    if r.numel() and (int(r.min()) < 0 or int(r.max()) >= n_src):
        bad = r[(r < 0) | (r >= n_src)]
        raise ValueError(f"rows index {int(bad[0])}, outside the {n_src} rows of the activations")
    return r


def _fit_lbfgs_cpu(src, src_of, row_sets, set_of, y, s, lam, init_coef, init_b, *, standardize, tol, max_iter, dtype):
    """L-BFGS on the CPU: every problem with the compiled kernel of :mod:`mechint.probes._lbfgs_cpu`,
    problems spread over ``torch.get_num_threads()`` threads. Problem ``p`` reads rows
    ``row_sets[set_of[p]]`` of ``src[src_of[p]]``."""
    from . import _lbfgs_cpu

    init = None
    if init_coef is not None:
        init = torch.cat([init_coef.double(), init_b.double().unsqueeze(-1)], -1).cpu().numpy()
    theta, mean, scale, n_iter, conv = _lbfgs_cpu.fit_many(
        src.detach().to("cpu", dtype).contiguous().numpy(),
        src_of.numpy(),
        row_sets.contiguous().numpy(),
        set_of.numpy(),
        y.detach().to("cpu", torch.float64).contiguous().numpy(),
        s.detach().to("cpu", torch.float64).contiguous().numpy(),
        lam.detach().cpu().double().numpy(),
        init,
        tol=tol,
        max_iter=max_iter,
        standardize=standardize,
        memory=LBFGS_MEMORY,
        threads=torch.get_num_threads(),
    )
    d = src.shape[-1]
    theta = torch.from_numpy(theta)
    return (
        theta[:, :d].to(dtype),
        theta[:, d],
        torch.from_numpy(mean).to(dtype),
        torch.from_numpy(scale).to(dtype),
        torch.from_numpy(n_iter),
        torch.from_numpy(conv),
    )
