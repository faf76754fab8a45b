"""Compiled L-BFGS for logistic-regression probes on a CPU: one problem per call, problems spread over threads.

:func:`mechint.probes.fit_probes` uses this on a CPU (``solver="lbfgs"``, the CPU default). A probe
problem (a few hundred to a few thousand rows of width ~1000) fits in a core's cache, and each
L-BFGS iteration is two passes over its rows: so little work that a batched torch loop would cost
its per-operation overhead (about a hundred small operations per iteration), not its arithmetic.
Compiled with numba, one problem runs start to finish in one call with its standardised rows in
cache, and threads take problems in turn (the calls release the GIL).

The method is the batched torch solver's (:func:`mechint.probes._solvers._lbfgs`, used on other
devices): scikit-learn's objective and stopping rule (largest gradient component <= ``tol`` times
the sum of the sample weights), ``memory`` curvature pairs, and steps that minimise the objective
along each direction (a safeguarded one-dimensional Newton search, O(rows) per trial since the
function values move linearly along the direction) with an Armijo backtracking fallback.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import no_type_check

import numpy as np
from numba import njit

# Dot products may be summed in any order (so that they vectorise); inf and NaN keep their meaning.
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
LS_TOL = 1e-3  # the step search stops when |phi'(eta)| <= LS_TOL |phi'(0)|


@no_type_check  # numba kernels: a run-time type checker's wrapper would hide them from each other
@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _matvec(X, v, out):
    """``out = X @ v[:d]`` for ``X [n, d]``, ``v [>= d]``, summed in ``X``'s precision (float32:
    twice the products per vector instruction of float64)."""
    n, d = X.shape
    for i in range(n):
        acc = X.dtype.type(0)
        for j in range(d):
            acc += X[i, j] * v[j]
        out[i] = acc


@no_type_check  # numba kernels: a run-time type checker's wrapper would hide them from each other
@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _rmatvec(X, u, out):
    """``out[:d] = X^T @ u`` for ``X [n, d]``, reading ``X`` row by row (``out`` in ``X``'s dtype)."""
    n, d = X.shape
    for j in range(d):
        out[j] = 0.0
    for i in range(n):
        ui = u[i]
        if ui != 0.0:
            for j in range(d):
                out[j] += ui * X[i, j]


@no_type_check  # numba kernels: a run-time type checker's wrapper would hide them from each other
@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _dot(a, b):
    acc = 0.0
    for j in range(a.shape[0]):
        acc += a[j] * b[j]
    return acc


@no_type_check  # numba kernels: a run-time type checker's wrapper would hide them from each other
@njit(cache=True, nogil=True)
def _standardize(src, rows, s, standardize, eps, X, mean, scale):
    """Gather ``src[rows]`` into ``X`` as ``(x - mean) / scale`` over the rows with ``s > 0``
    (``StandardScaler``: ddof 0, a (near-)constant feature keeps scale 1); other rows become 0."""
    n = rows.shape[0]
    d = src.shape[1]
    cnt = 0.0
    mean[:] = 0.0
    var = np.zeros(d)
    for i in range(n):
        if s[i] > 0:
            cnt += 1.0
            r = src[rows[i]]
            for j in range(d):
                mean[j] += r[j]
    for j in range(d):
        mean[j] /= cnt
    for i in range(n):
        if s[i] > 0:
            r = src[rows[i]]
            for j in range(d):
                v = r[j] - mean[j]
                var[j] += v * v
    for j in range(d):
        sc = math.sqrt(var[j] / cnt)
        # constant within rounding of the mean: relative, as fit._fit_chunk's test (an absolute
        # floor would leave features of tiny magnitude, x * 1e-7, unstandardised)
        scale[j] = sc if (standardize and sc > 10.0 * eps * abs(mean[j])) else 1.0
        if not standardize:
            mean[j] = 0.0
    for i in range(n):
        if s[i] > 0:
            r = src[rows[i]]
            for j in range(d):
                X[i, j] = (r[j] - mean[j]) / scale[j]
        else:
            for j in range(d):
                X[i, j] = 0.0


@no_type_check  # numba kernels: a run-time type checker's wrapper would hide them from each other
@njit(cache=True, nogil=True)
def _softplus(z):
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


@no_type_check  # numba kernels: a run-time type checker's wrapper would hide them from each other
@njit(cache=True, nogil=True)
def _sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@no_type_check  # numba kernels: a run-time type checker's wrapper would hide them from each other
@njit(cache=True, nogil=True)
def _gradient(X, u, theta, lam, ux, gx, out):
    """The objective's gradient from the residuals ``u = s (sigmoid(f) - y)``: ``X^T u + lam w`` for
    the weights, ``sum(u)`` for the intercept (``ux``, ``gx``: work arrays in ``X``'s precision)."""
    d = X.shape[1]
    usum = 0.0
    for i in range(u.shape[0]):
        ux[i] = u[i]
        usum += u[i]
    _rmatvec(X, ux, gx)
    for j in range(d):
        out[j] = gx[j] + lam * theta[j]
    out[d] = usum


@no_type_check  # numba kernels: a run-time type checker's wrapper would hide them from each other
@njit(cache=True, nogil=True)
def fit_one(src, rows, y, s, lam, tol, max_iter, memory, standardize, eps, theta, use_init, mean, scale):
    """Fit one probe on ``src[rows]``; returns ``(iterations, converged)``.

    ``theta [d+1]`` (weights in the standardised space, then the intercept) is the start when
    ``use_init`` and receives the solution; ``mean`` and ``scale`` receive the standardisation.
    """
    n = rows.shape[0]
    d = src.shape[1]
    D = d + 1
    X = np.empty((n, d), dtype=src.dtype)
    _standardize(src, rows, s, standardize, eps, X, mean, scale)
    S = 0.0
    sy1 = 0.0
    for i in range(n):
        S += s[i]
        sy1 += s[i] * y[i]
    f = np.empty(n)
    if use_init:
        _matvec(X, theta.astype(X.dtype), f)
        for i in range(n):
            f[i] += theta[d]
    else:
        theta[:] = 0.0
        p1 = min(max(sy1 / S, 1e-12), 1.0 - 1e-12)
        theta[d] = math.log(p1 / (1.0 - p1))  # the best intercept for zero weights
        f[:] = theta[d]
    u = np.empty(n)
    L = 0.0  # the loss part of the objective at f
    for i in range(n):
        L += s[i] * (_softplus(f[i]) - y[i] * f[i])
        u[i] = s[i] * (_sigmoid(f[i]) - y[i])
    ux = np.empty(n, dtype=X.dtype)  # the passes' inputs and output in X's precision
    vx = np.empty(D, dtype=X.dtype)
    gx = np.empty(d, dtype=X.dtype)
    g = np.empty(D)
    _gradient(X, u, theta, lam, ux, gx, g)
    hs = np.zeros((memory, D))  # steps
    hy = np.zeros((memory, D))  # gradient changes
    rho = np.zeros(memory)
    alpha = np.zeros(memory)
    gamma = 1.0
    q = np.empty(D)
    df = np.empty(n)
    g_new = np.empty(D)
    pairs = 0
    it = 0
    while True:
        gmax = 0.0
        for j in range(D):
            gmax = max(gmax, abs(g[j]))
        if gmax <= tol * S:  # scikit-learn's criterion (lbfgs gtol)
            return it, True
        if it >= max_iter:
            return it, False
        # two-loop recursion: q = -H g, newest pair first
        for j in range(D):
            q[j] = -g[j]
        k = min(pairs, memory)
        for t in range(k):
            c = (pairs - 1 - t) % memory
            a = rho[c] * _dot(hs[c], q)
            alpha[c] = a
            for j in range(D):
                q[j] -= a * hy[c, j]
        for j in range(D):
            q[j] *= gamma
        for t in range(k - 1, -1, -1):
            c = (pairs - 1 - t) % memory
            b = alpha[c] - rho[c] * _dot(hy[c], q)
            for j in range(D):
                q[j] += b * hs[c, j]
        for j in range(D):
            vx[j] = q[j]
        _matvec(X, vx, df)
        for i in range(n):
            df[i] += q[d]
        slope = _dot(g, q)
        if not slope < 0.0:  # no descent direction left at this precision
            return it, False
        pl = 0.0  # the penalty along the step: lam/2 |w + eta dw|^2 = pen0 + eta pl + eta^2 pq / 2
        pq = 0.0
        ww = 0.0
        for j in range(d):
            pl += theta[j] * q[j]
            pq += q[j] * q[j]
            ww += theta[j] * theta[j]
        pl *= lam
        pq *= lam
        # step length: safeguarded Newton on phi'(eta) = 0 (phi is convex along the direction)
        if pairs == 0:  # no curvature yet: the Newton step from eta = 0
            h = pq
            for i in range(n):
                p = _sigmoid(f[i])
                h += s[i] * p * (1.0 - p) * df[i] * df[i]
            eta = -slope / h
        else:
            eta = 1.0
        lo = 0.0
        hi = math.inf
        pen0 = 0.5 * lam * ww
        slack = 1e-12 * max(abs(L + pen0), 1.0)
        searching = True
        accepted = False
        for trial in range(80):
            # one pass at eta: the objective's slope and curvature, the loss, and the new residuals
            d1 = pl + eta * pq
            d2 = pq
            L1 = 0.0
            for i in range(n):
                z = f[i] + eta * df[i]
                e = math.exp(-abs(z))
                p = 1.0 / (1.0 + e) if z >= 0 else e / (1.0 + e)
                L1 += s[i] * (max(z, 0.0) + math.log1p(e) - y[i] * z)
                r = s[i] * (p - y[i])
                u[i] = r
                d1 += r * df[i]
                d2 += s[i] * p * (1.0 - p) * df[i] * df[i]
            armijo = L1 - L + eta * pl + 0.5 * eta * eta * pq <= 1e-4 * min(eta, 1.0) * slope + slack
            if searching and abs(d1) > LS_TOL * -slope and trial < 30:
                if d1 < 0:
                    lo = eta
                else:
                    hi = eta
                nxt = eta - d1 / d2 if d2 > 0 else -1.0
                if not (lo < nxt < hi):
                    nxt = 2.0 * eta if hi == math.inf else 0.5 * (lo + hi)
                eta = nxt
                continue
            if armijo:
                accepted = True
                break
            searching = False  # the search did not give a decrease: backtrack (Armijo)
            eta *= 0.5
        if not accepted:
            return it, False  # no decrease found: as good as the precision allows
        L = L1
        for i in range(n):
            f[i] += eta * df[i]
        for j in range(D):
            theta[j] += eta * q[j]
        _gradient(X, u, theta, lam, ux, gx, g_new)
        sy = 0.0
        yy = 0.0
        ss = 0.0
        for j in range(D):
            dy = g_new[j] - g[j]
            st = eta * q[j]
            sy += st * dy
            yy += dy * dy
            ss += st * st
        if sy > 1e-10 * math.sqrt(yy * ss):  # curvature condition
            c = pairs % memory
            for j in range(D):
                hs[c, j] = eta * q[j]
                hy[c, j] = g_new[j] - g[j]
            rho[c] = 1.0 / sy
            gamma = sy / yy
            pairs += 1
        g[:] = g_new
        it += 1


def fit_many(
    src: np.ndarray,
    src_index: np.ndarray,
    rows: np.ndarray,
    rows_index: np.ndarray,
    y: np.ndarray,
    s: np.ndarray,
    lam: np.ndarray,
    init: np.ndarray | None,
    *,
    tol: float,
    max_iter: int,
    standardize: bool,
    memory: int = 10,
    threads: int | None = None,
):
    """Fit problem ``p`` on rows ``rows[rows_index[p]]`` of ``src[src_index[p]]`` for every ``p``.

    Args:
        src: ``[B, N, d]`` float32 or float64 activations (C-contiguous).
        src_index, rows_index: ``[P]`` which source matrix and which row set each problem uses.
        rows: ``[R, n]`` int64 row sets; y, s: ``[P, n]`` float64 labels (0/1) and weights (0: row
            left out); lam: ``[P]`` L2 strength; init: ``[P, d+1]`` starting weights and intercept.
        threads: worker threads (default ``os.cpu_count()``).

    Returns:
        ``theta [P, d+1]``, ``mean [P, d]``, ``scale [P, d]`` (float64), ``n_iter [P]``, ``converged [P]``.
    """
    P = src_index.shape[0]
    d = src.shape[-1]
    eps = float(np.finfo(src.dtype).eps)
    theta = np.zeros((P, d + 1)) if init is None else np.array(init, dtype=np.float64, order="C")
    mean = np.empty((P, d))
    scale = np.empty((P, d))
    n_iter = np.zeros(P, dtype=np.int64)
    converged = np.zeros(P, dtype=bool)

    def one(p: int) -> None:
        n_iter[p], converged[p] = fit_one(
            src[src_index[p]],
            rows[rows_index[p]],
            y[p],
            s[p],
            float(lam[p]),
            float(tol),
            int(max_iter),
            int(memory),
            bool(standardize),
            eps,
            theta[p],
            init is not None,
            mean[p],
            scale[p],
        )

    threads = max(1, min(threads or os.cpu_count() or 1, P))
    if threads == 1:
        for p in range(P):
            one(p)
    else:
        with ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(one, range(P)):
                pass
    return theta, mean, scale, n_iter, converged


def compile_ahead() -> None:
    """Compile every kernel for both activation dtypes (float32, float64) now, into numba's on-disk
    cache (``cache=True``: beside this file, or under ``NUMBA_CACHE_DIR``), by fitting two tiny
    problems. Compiling takes seconds, which a fresh installation's first :func:`fit_probes` would
    otherwise pay; ``scripts/setup.sh`` calls this so that no call does."""
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        src = rng.standard_normal((1, 8, 3)).astype(dtype)
        y = np.array([[0.0, 1.0] * 4])
        fit_many(
            src,
            np.zeros(1, dtype=np.int64),
            np.arange(8, dtype=np.int64)[None],
            np.zeros(1, dtype=np.int64),
            y,
            np.ones_like(y),
            np.ones(1),
            None,
            tol=1e-4,
            max_iter=5,
            standardize=True,
            threads=1,
        )
