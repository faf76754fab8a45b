"""The batched torch solvers of :func:`mechint.probes.fit_probes`: every problem of a chunk at once,
on any device (on a CPU, L-BFGS runs compiled instead: :mod:`mechint.probes._lbfgs_cpu`).

- :func:`newton_primal` (more rows than features): the ``[d+1, d+1]`` Hessian of every problem is
  formed with one batched matrix product and solved with a batched Cholesky factorisation.
- :func:`newton_dual` (fewer rows than features): the weights lie in the span of the training rows,
  so the Newton step is solved in that ``n``-dimensional space from the rows' Gram matrix, computed
  once: the system is ``[n, n]`` instead of ``[d+1, d+1]``.
- :func:`lbfgs`: limited-memory BFGS, two passes over a problem's rows per iteration.

All three take steps of the length that minimises the objective along the step's direction
(:func:`_step_length`), and a problem leaves the batch when it converges. Each takes the
standardised rows, labels, sample weights, ``lam = 1 / C`` and an optional start, and returns
``(coef, intercept, n_iter, converged)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

# ------------------------------------------------------------------------------------------------
# Shared pieces of the two Newton solvers (objective in float64; the batched products in `dtype`)
# ------------------------------------------------------------------------------------------------


def _bmv(a: Tensor, v: Tensor) -> Tensor:
    """Batched matrix-vector product ``[P, m, k] @ [P, k] -> [P, m]``."""
    return torch.bmm(a, v.unsqueeze(-1)).squeeze(-1)


def _loss(f: Tensor, y: Tensor, s: Tensor) -> Tensor:
    """Weighted logistic loss per problem: sum_i s_i (log(1 + e^f_i) - y_i f_i)."""
    return (s * (torch.nn.functional.softplus(f) - y * f)).sum(-1)


def _start_intercept(y: Tensor, s: Tensor) -> Tensor:
    """The optimal intercept of a probe with zero weights: the weighted log-odds."""
    p1 = (s * y).sum(-1) / s.sum(-1)
    p1 = p1.clamp(1e-12, 1 - 1e-12)
    return torch.log(p1 / (1 - p1))


def _step_length(f, df, y, s, pen0, pen_lin, pen_quad, slope, J0, *, iters: int = 12):
    """Step sizes along ``f + eta * df`` that minimise the objective per problem.

    The objective along a Newton direction, ``phi(eta) = loss(f + eta df) + pen0 + eta pen_lin +
    eta^2 pen_quad``, is convex and costs O(n) to evaluate, so it is minimised almost exactly
    (safeguarded one-dimensional Newton with a bracket) instead of merely backtracked: on probe
    problems the best step is often well beyond the Newton step, and taking it saves outer
    iterations. Where the result does not decrease the objective (rounding at the optimum), Armijo
    backtracking from 1 decides; ``eta = 0`` means no decrease was found. Each problem stops when its
    own step settles, so a batch gives every problem the step it gets alone.
    """
    P = f.shape[0]
    dev = f.device
    lo = torch.zeros(P, dtype=torch.float64, device=dev)
    hi = torch.full((P,), math.inf, dtype=torch.float64, device=dev)
    eta = torch.ones(P, dtype=torch.float64, device=dev)
    settled = torch.zeros(P, dtype=torch.bool, device=dev)
    # phi'(eta) = p . (s df) - y . (s df) + pen_lin + 2 eta pen_quad and phi''(eta) = p(1-p) . (s df^2)
    # + 2 pen_quad with p = sigmoid(f + eta df): both dot products from one batched product of the
    # rows [p, p - p^2] with the columns [s df, s df^2]. Each operation below is a kernel launch on a
    # GPU, where this loop's cost is their number, not their size.
    sdf = s * df
    cols = torch.stack([sdf, sdf * df], -1)  # [P, n, 2]
    c1 = pen_lin - (y * sdf).sum(-1)
    c2 = 2 * pen_quad
    rows = torch.empty(P, 2, f.shape[1], dtype=torch.float64, device=dev)
    for _ in range(iters):
        p = torch.sigmoid(torch.addcmul(f, eta.unsqueeze(-1), df), out=rows[:, 0])
        torch.addcmul(p, p, p, value=-1, out=rows[:, 1])
        dots = torch.bmm(rows, cols)  # [P, 2, 2]: [p . s df, q . s df^2] on the diagonal
        d1 = torch.addcmul(c1, eta, pen_quad, value=2).add_(dots[:, 0, 0])
        step = d1 / (dots[:, 1, 1] + c2).clamp(min=1e-300)
        neg = d1 < 0
        lo = torch.where(neg, eta, lo)
        hi = torch.where(neg, hi, eta)
        newton = eta - step  # NaN and inf fail every comparison below: they take the fallback
        # a negligible Newton step (eta > 0 throughout) means eta is the minimiser: that step is taken
        # and the problem is settled (it sits on the bracket's edge, which the bracket test refuses)
        negligible = step.abs() <= eta * 1e-6
        inside = (newton > lo) & (newton < hi) | negligible
        fallback = torch.where(torch.isinf(hi), lo.clamp(min=0.5) * 2, torch.lerp(lo, hi, 0.5))
        # each problem stops at its own convergence: the batch gives every problem the step it gets alone
        eta = torch.where(settled, eta, torch.where(inside, newton, fallback))
        settled = settled | negligible
        if bool(settled.all()):
            break
    J = _loss(f + eta.unsqueeze(-1) * df, y, s) + pen0 + eta * pen_lin + eta * eta * pen_quad
    slack = 1e-12 * J0.abs().clamp(min=1.0)
    bad = ~(J <= J0 + 1e-4 * torch.minimum(eta, torch.ones_like(eta)) * slope + slack)
    if bool(bad.any()):
        e2, J2 = _armijo(f[bad], df[bad], y[bad], s[bad], pen0[bad], pen_lin[bad], pen_quad[bad], slope[bad], J0[bad])
        eta[bad], J[bad] = e2, J2
    return eta, J


def _armijo(f, df, y, s, pen0, pen_lin, pen_quad, slope, J0, *, max_halvings: int = 40):
    """Backtracking (Armijo, c=1e-4) from a step of 1; ``eta = 0`` where no decrease was found."""
    P = f.shape[0]
    eta = torch.ones(P, dtype=torch.float64, device=f.device)
    J = J0.clone()
    todo = torch.ones(P, dtype=torch.bool, device=f.device)
    slack = 1e-12 * J0.abs().clamp(min=1.0)
    for _ in range(max_halvings):
        Jt = _loss(f + eta.unsqueeze(-1) * df, y, s) + pen0 + eta * pen_lin + eta * eta * pen_quad
        ok = Jt <= J0 + 1e-4 * eta * slope + slack
        J = torch.where(todo & ok, Jt, J)
        todo = todo & ~ok
        if not bool(todo.any()):
            break
        eta = torch.where(todo, eta / 2, eta)
    return torch.where(todo, torch.zeros_like(eta), eta), J


def _cholesky_solve(H: Tensor, rhs: Tensor) -> Tensor:
    """Solve SPD systems ``H x = rhs`` (rhs ``[P, m, k]``); problems whose factorisation fails in
    the working precision are redone in float64 with a tiny diagonal jitter."""
    L, info = torch.linalg.cholesky_ex(H)
    out = torch.cholesky_solve(rhs.to(L.dtype), L)
    bad = info != 0
    if bool(bad.any()):
        Hb = H[bad].double()
        jitter = 1e-10 * Hb.diagonal(dim1=-2, dim2=-1).abs().amax(-1).clamp(min=1.0)
        eye = torch.eye(H.shape[-1], device=H.device, dtype=torch.float64)
        Lb, _ = torch.linalg.cholesky_ex(Hb + jitter[:, None, None] * eye)
        out[bad] = torch.cholesky_solve(rhs[bad].double(), Lb).to(out.dtype)
    return out


def _finite_steps(*steps: Tensor) -> tuple[list[Tensor], Tensor]:
    """``(steps, finite)``: the parts of a Newton step (``[P, ...]`` each: weights, intercept, function
    values) set to 0 for the problems where any part is not finite (a solve that overflowed in the
    working precision: such a problem then stalls at its last finite iterate), and which were finite."""
    finite = torch.stack([torch.isfinite(t).reshape(t.shape[0], -1).all(-1) for t in steps]).all(0)
    if not bool(finite.all()):
        steps = tuple(torch.where(finite.reshape(-1, *[1] * (t.ndim - 1)), t, torch.zeros_like(t)) for t in steps)
    return list(steps), finite


def _no_step_unless(finite: Tensor, eta: Tensor) -> Tensor:
    """Step lengths, 0 (no step: the problem stalls at its last finite iterate, not converged) where
    the step or its length is not finite."""
    ok = finite & torch.isfinite(eta)
    return eta if bool(ok.all()) else torch.where(ok, eta, torch.zeros_like(eta))


class _Active:
    """Indices of the problems still being optimised; a converged problem leaves the batch, so the
    batch costs what its unconverged problems cost (not what its slowest one does)."""

    def __init__(self, P: int, device):
        self.idx = torch.arange(P, device=device)

    def keep(self, still: Tensor, *tensors: Tensor) -> list[Tensor]:
        if bool(still.all()):
            return list(tensors)
        self.idx = self.idx[still]
        return [t[still] for t in tensors]


def newton_primal(X, y, s, lam, init_coef, init_b, *, tol, max_iter):
    """Newton with a ``[d+1, d+1]`` Hessian per problem (rows >= features)."""
    P, n, d = X.shape
    dt, dev = X.dtype, X.device
    Xa = torch.cat([X, torch.ones(P, n, 1, device=dev, dtype=dt)], dim=-1)  # intercept column last
    reg = torch.ones(d + 1, device=dev, dtype=torch.float64)
    reg[-1] = 0.0
    theta = torch.zeros(P, d + 1, device=dev, dtype=torch.float64)
    if init_coef is not None:
        theta[:, :d] = init_coef.double()
        theta[:, d] = init_b
    else:
        theta[:, d] = _start_intercept(y, s)
    S = s.sum(-1)
    out_theta = theta.clone()
    n_iter = torch.zeros(P, dtype=torch.long, device=dev)
    converged = torch.zeros(P, dtype=torch.bool, device=dev)
    act = _Active(P, dev)
    f = _bmv(Xa, theta.to(dt)).double()
    for it in range(max_iter + 1):
        p = torch.sigmoid(f)
        u = s * (p - y)
        g = _bmv(Xa.mT, u.to(dt)).double() + lam.unsqueeze(-1) * reg * theta
        done = g.abs().amax(-1) / S <= tol  # scikit-learn's criterion (lbfgs gtol)
        if bool(done.any()):
            converged[act.idx[done]] = True
            out_theta[act.idx[done]] = theta[done]
            Xa, y, s, lam, S, theta, f, g, p = act.keep(~done, Xa, y, s, lam, S, theta, f, g, p)
        if act.idx.numel() == 0 or it == max_iter:
            break
        sw = (s * p * (1 - p)).sqrt().to(dt).unsqueeze(-1)
        Xw = Xa * sw
        H = Xw.mT @ Xw
        del Xw
        H.diagonal(dim1=-2, dim2=-1).add_((lam.unsqueeze(-1) * reg).to(dt))
        delta = -_cholesky_solve(H, g.to(dt).unsqueeze(-1)).squeeze(-1).double()
        del H
        (delta, df), finite = _finite_steps(delta, _bmv(Xa, delta.to(dt)).double())
        w, dw = theta[:, :d], delta[:, :d]
        pen0 = 0.5 * lam * (w * w).sum(-1)
        J0 = _loss(f, y, s) + pen0
        eta, _ = _step_length(
            f, df, y, s, pen0, lam * (w * dw).sum(-1), 0.5 * lam * (dw * dw).sum(-1), (g * delta).sum(-1), J0
        )
        eta = _no_step_unless(finite, eta)
        theta = theta + eta.unsqueeze(-1) * delta
        f = f + eta.unsqueeze(-1) * df
        n_iter[act.idx] += 1
        stalled = eta == 0
        if bool(stalled.any()):  # no decrease possible: as good as the working precision allows
            out_theta[act.idx[stalled]] = theta[stalled]
            Xa, y, s, lam, S, theta, f = act.keep(~stalled, Xa, y, s, lam, S, theta, f)
            if act.idx.numel() == 0:
                break
    if act.idx.numel():
        out_theta[act.idx] = theta
    return out_theta[:, :d].to(dt), out_theta[:, d], n_iter, converged


def newton_dual(Y, y, s, lam, init_coef, init_b, *, tol, max_iter):
    """Newton in the span of the training rows (rows < features): ``w = Y^T alpha``.

    With ``K = Y Y^T`` and function values ``f = K alpha + b``, the Newton step of the primal
    problem restricted to that span solves, per problem, ``lam alpha' + W (K alpha' + b') = z`` with
    ``sum(alpha') = 0``, ``z = W f - u``, ``u = s (p - y)``, ``W = s p (1 - p)``; with
    ``M = lam I + W^1/2 K W^1/2`` (SPD) that is two solves with one Cholesky factor of ``M``.
    The step only needs the current ``f``, so a start from other weights (``init``) is one such
    step from ``f = Y w0 + b0``, kept where it lowers the objective.
    """
    P, n, d = Y.shape
    dt, dev = Y.dtype, Y.device
    K = Y @ Y.mT
    S = s.sum(-1)
    alpha = torch.zeros(P, n, device=dev, dtype=torch.float64)
    b = _start_intercept(y, s)
    f = b.unsqueeze(-1).expand(P, n).clone()
    from_init = init_coef is not None
    if from_init:
        f_init = _bmv(Y, init_coef.to(dt)).double() + init_b.unsqueeze(-1)
        J_init = _loss(f_init, y, s) + 0.5 * lam * (init_coef.double() ** 2).sum(-1)
    out_alpha, out_b = alpha.clone(), b.clone()
    n_iter = torch.zeros(P, dtype=torch.long, device=dev)
    converged = torch.zeros(P, dtype=torch.bool, device=dev)
    act = _Active(P, dev)
    Ya = Y
    for it in range(max_iter + 1):
        f_cur = f_init if from_init else f
        p = torch.sigmoid(f_cur)
        u = s * (p - y)
        if not from_init:
            gw = u + lam.unsqueeze(-1) * alpha  # gradient in w is Y^T gw; in b, sum(u)
            g_inf = torch.maximum(_bmv(Ya.mT, gw.to(dt)).double().abs().amax(-1), u.sum(-1).abs())
            done = g_inf / S <= tol  # scikit-learn's criterion (lbfgs gtol)
            if bool(done.any()):
                converged[act.idx[done]] = True
                out_alpha[act.idx[done]], out_b[act.idx[done]] = alpha[done], b[done]
                K, Ya, y, s, lam, S, alpha, b, f, p, u, gw = act.keep(~done, K, Ya, y, s, lam, S, alpha, b, f, p, u, gw)
                f_cur = f
            if act.idx.numel() == 0 or it == max_iter:
                break
        W = s * p * (1 - p)
        z = W * f_cur - u
        sw = W.sqrt()
        sw_t = sw.to(dt)
        M = K * sw_t.unsqueeze(-1)
        M.mul_(sw_t.unsqueeze(-2))
        M.diagonal(dim1=-2, dim2=-1).add_(lam.to(dt).unsqueeze(-1))
        Kz = _bmv(K, z.to(dt)).double()
        sol = _cholesky_solve(M, torch.stack([sw * Kz, sw], -1).to(dt)).double()
        del M
        a_, c_ = sol[..., 0], sol[..., 1]
        b_new = (z.sum(-1) - (sw * a_).sum(-1)) / (lam * (sw * c_).sum(-1)).clamp(min=1e-300)
        v = a_ + (lam * b_new).unsqueeze(-1) * c_
        alpha_new = (z - sw * v) / lam.unsqueeze(-1)
        f_new = _bmv(K, alpha_new.to(dt)).double() + b_new.unsqueeze(-1)
        if from_init:
            from_init = False
            J_new = _loss(f_new, y, s) + 0.5 * lam * (alpha_new * (f_new - b_new.unsqueeze(-1))).sum(-1)
            take = (J_new <= J_init) | (J_new <= _loss(f, y, s))  # vs the start, and the cold start
            alpha = torch.where(take.unsqueeze(-1), alpha_new, alpha)
            b = torch.where(take, b_new, b)
            f = torch.where(take.unsqueeze(-1), f_new, f)
            n_iter[act.idx] += take.long()
            continue
        (dalpha, db, df), finite = _finite_steps(alpha_new - alpha, b_new - b, f_new - f)
        Ka, Kda = f - b.unsqueeze(-1), df - db.unsqueeze(-1)
        pen0 = 0.5 * lam * (alpha * Ka).sum(-1)
        J0 = _loss(f, y, s) + pen0
        slope = (gw * Kda).sum(-1) + db * u.sum(-1)
        eta, _ = _step_length(
            f, df, y, s, pen0, lam * (alpha * Kda).sum(-1), 0.5 * lam * (dalpha * Kda).sum(-1), slope, J0
        )
        eta = _no_step_unless(finite, eta)
        e = eta.unsqueeze(-1)
        alpha, b, f = alpha + e * dalpha, b + eta * db, f + e * df
        n_iter[act.idx] += 1
        stalled = eta == 0
        if bool(stalled.any()):
            out_alpha[act.idx[stalled]], out_b[act.idx[stalled]] = alpha[stalled], b[stalled]
            K, Ya, y, s, lam, S, alpha, b, f = act.keep(~stalled, K, Ya, y, s, lam, S, alpha, b, f)
            if act.idx.numel() == 0:
                break
    if act.idx.numel():
        out_alpha[act.idx], out_b[act.idx] = alpha, b
    coef = _bmv(Y.mT, out_alpha.to(dt))
    return coef, out_b, n_iter, converged


LBFGS_MEMORY = 10  # curvature pairs kept (scipy's default ``maxcor``, which scikit-learn's lbfgs uses)


def _rowvec(v: Tensor, m: Tensor) -> Tensor:
    """``[P, k] x [P, k, j] -> [P, j]`` as a batch of row vectors times matrices: on a CPU this reads
    each problem's matrix once, in order (faster than ``bmm`` with a column vector)."""
    return torch.bmm(v.to(m.dtype).unsqueeze(1), m).squeeze(1).double()


def lbfgs(X, y, s, lam, init_coef, init_b, *, tol, max_iter, memory: int = LBFGS_MEMORY):
    """Limited-memory BFGS for every problem at once, with an exact line search (``solver="lbfgs"``
    off the CPU; on a CPU the same method runs compiled, problem by problem: :mod:`mechint.probes._lbfgs_cpu`).

    Each iteration reads every problem's rows twice, as row vectors times ``X`` and ``X^T`` (the
    two products of a gradient and a direction). Along each direction ``p`` the function values
    move as ``f + eta X p``, so the step minimises the objective exactly (:func:`_step_length`, O(n)
    per problem) without more passes over ``X``; that takes fewer iterations than scikit-learn's
    lbfgs. A problem leaves the batch when it converges; the
    batch is compacted once half of it has left.
    """
    P, n, d = X.shape
    dt, dev, f64 = X.dtype, X.device, torch.float64
    X = X.contiguous()
    XT = X.mT.contiguous()
    S = s.sum(-1)
    if init_coef is not None:
        theta = torch.cat([init_coef.to(f64), init_b.to(f64).unsqueeze(-1)], -1)
        f = _rowvec(theta[:, :d], XT) + theta[:, d:]
    else:
        theta = torch.zeros(P, d + 1, device=dev, dtype=f64)
        theta[:, d] = _start_intercept(y, s)
        f = theta[:, d:].expand(P, n).clone()

    def gradient(theta, f, y, s, lam, X):
        u = s * (torch.sigmoid(f) - y)
        return torch.cat([_rowvec(u, X) + lam.unsqueeze(-1) * theta[:, :d], u.sum(-1, keepdim=True)], -1)

    g = gradient(theta, f, y, s, lam, X)
    hs = torch.zeros(P, memory, d + 1, device=dev, dtype=f64)  # steps
    hy = torch.zeros_like(hs)  # gradient changes
    rho = torch.zeros(P, memory, device=dev, dtype=f64)  # 0: an empty (or rejected) pair
    gamma = torch.ones(P, device=dev, dtype=f64)
    out = torch.zeros(P, d + 1, device=dev, dtype=f64)
    n_iter = torch.zeros(P, dtype=torch.long, device=dev)
    converged = torch.zeros(P, dtype=torch.bool, device=dev)
    ids = torch.arange(P, device=dev)  # the problem in each slot of the batch
    live = torch.ones(P, dtype=torch.bool, device=dev)
    stalled = torch.zeros(P, dtype=torch.bool, device=dev)
    for it in range(max_iter + 1):
        ok = g.abs().amax(-1) <= tol * S  # scikit-learn's criterion (lbfgs gtol)
        fin = live & (ok | stalled | (it == max_iter))
        if bool(fin.any()):
            out[ids[fin]] = theta[fin]
            converged[ids[fin]] = ok[fin]
            live = live & ~fin
            n_live = int(live.sum())
            if n_live == 0:
                break
            if 2 * n_live <= live.numel():  # compact: finished problems stop costing passes
                X, XT = X[live].contiguous(), XT[live].contiguous()
                ids, theta, f, g, y, s, lam, S, hs, hy, rho, gamma = (
                    t[live] for t in (ids, theta, f, g, y, s, lam, S, hs, hy, rho, gamma)
                )
                live = torch.ones(n_live, dtype=torch.bool, device=dev)
        # two-loop recursion: q = -H g, newest pair first
        q = -g
        alpha = []
        slots = [(it - 1 - j) % memory for j in range(min(it, memory))]
        for j in slots:
            a = rho[:, j] * (hs[:, j] * q).sum(-1)
            q = q - a.unsqueeze(-1) * hy[:, j]
            alpha.append(a)
        q = q * gamma.unsqueeze(-1)
        for j, a in zip(reversed(slots), reversed(alpha)):
            beta = rho[:, j] * (hy[:, j] * q).sum(-1)
            q = q + (a - beta).unsqueeze(-1) * hs[:, j]
        w, dw = theta[:, :d], q[:, :d]
        df = _rowvec(dw, XT) + q[:, d:]
        pen0 = 0.5 * lam * (w * w).sum(-1)
        eta, _ = _step_length(
            f,
            df,
            y,
            s,
            pen0,
            lam * (w * dw).sum(-1),
            0.5 * lam * (dw * dw).sum(-1),
            (g * q).sum(-1),
            _loss(f, y, s) + pen0,
        )
        step = eta.unsqueeze(-1) * q
        theta = theta + step
        f = f + eta.unsqueeze(-1) * df
        g_new = gradient(theta, f, y, s, lam, X)
        yv = g_new - g
        sy, yy = (step * yv).sum(-1), (yv * yv).sum(-1)
        take = sy > 1e-10 * (yy * (step * step).sum(-1)).sqrt()  # curvature condition
        j = it % memory
        hs[:, j] = torch.where(take.unsqueeze(-1), step, 0.0)
        hy[:, j] = torch.where(take.unsqueeze(-1), yv, 0.0)
        rho[:, j] = torch.where(take, 1.0 / sy.clamp(min=1e-300), 0.0)
        gamma = torch.where(take, sy / yy.clamp(min=1e-300), gamma)
        g = g_new
        stalled = eta == 0  # no decrease: as good as the working precision allows
        n_iter[ids[live]] += 1
    return out[:, :d].to(dt), out[:, d], n_iter, converged
