"""What the modules of :mod:`mechint.probes` share: the error for data a probe cannot be trained on,
and the checks and conversions of its inputs.

Every name here is imported by more than one sibling module. No other private name crosses a
module boundary of the package, except the solvers that :mod:`mechint.probes.fit` imports from the
private module :mod:`mechint.probes._solvers`.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


class ProbeDataError(ValueError):
    """Activations or labels a probe cannot be trained on (NaN, one class, mismatched rows)."""


def broadcast(
    t: Tensor, shape, error: type[Exception], what: str, mismatch: str, *, of: Tensor | None = None
) -> Tensor:
    """``t`` broadcast to ``shape``, or ``error``: "``what`` (``of``'s shape, default ``t``'s)
    ``mismatch``" (torch's own error names neither argument)."""
    try:
        return torch.broadcast_to(t, shape)
    except RuntimeError:
        raise error(f"{what} {tuple((t if of is None else of).shape)} {mismatch}") from None


def describe_problem(flat: int, batch_shape: Sequence[int], axes: Sequence[str] | None) -> str:
    if not batch_shape:
        return "the problem"
    idx = []
    for size in reversed(batch_shape):
        idx.append(flat % size)
        flat //= size
    idx = idx[::-1]
    if not axes:
        return f"problem {tuple(idx)}"
    names = list(axes) + [f"axis {i}" for i in range(len(axes), len(idx))]
    return ", ".join(f"{n} {i}" for n, i in zip(names, idx))


def check_finite_rows(
    x: Tensor,
    used: Tensor | None,
    what: str,
    mask=None,
    *,
    batch_shape=(),
    axes=None,
    rows: Tensor | None = None,
) -> None:
    """Raise naming the problem and rows whose activations are NaN/inf (among the rows used).

    ``x`` holds the problems of a batch of shape ``batch_shape``; with ``rows`` (``[*row_batch, m]``)
    problem ``(*b, *r)`` reads rows ``rows[r]`` of ``x[b]``."""
    if not x.dtype.is_floating_point:
        return
    if bool(torch.isfinite(x.sum())):  # one fast reduction: a NaN or inf anywhere makes it non-finite
        return
    # a row sum (float64: no overflow) is non-finite exactly when the row holds a NaN or an inf
    bad = ~torch.isfinite(x.sum(-1, dtype=torch.float64))  # [..., N]
    if rows is not None:
        bad = bad[..., rows.to(bad.device)]  # [..., *row_batch, m]
    if used is not None:
        bad = bad & used
    elif mask is not None:
        bad = bad & torch.broadcast_to(torch.as_tensor(mask, device=bad.device).bool(), bad.shape)
    if not bool(bad.any()):
        return
    flat = bad.reshape(-1, bad.shape[-1])
    p = int(flat.any(-1).nonzero()[0])
    at = flat[p].nonzero().reshape(-1).tolist()
    srcs = x.reshape(-1, *x.shape[-2:])
    R = 1 if rows is None else max(1, rows.reshape(-1, rows.shape[-1]).shape[0])
    src_rows = at if rows is None else rows.reshape(R, -1)[p % R][at].tolist()
    xs = srcs[p // R if srcs.shape[0] > 1 else 0]
    kind = "NaN" if bool(torch.isnan(xs[src_rows[0]]).any()) else "inf"
    n_problems = int(flat.any(-1).sum())
    where = describe_problem(p, batch_shape, axes)
    more = f" (and {n_problems - 1} more problems)" if n_problems > 1 else ""
    of = "" if rows is None else f" (activation rows {src_rows[:10]}{' ...' if len(src_rows) > 10 else ''})"
    raise ProbeDataError(
        f"{what} contain {kind} at {where}{more}: rows {at[:10]}{' ...' if len(at) > 10 else ''} "
        f"({len(at)} rows){of}; a probe is not trained through non-finite values: drop those rows "
        "(sample_weight=0 or a mask) or fix the activations"
    )


def check_label_values(y: Tensor) -> None:
    """Raise unless every label is 0 (harmless) or 1 (harmful)."""
    if y.dtype.is_floating_point and bool(torch.isnan(y).any()):
        raise ProbeDataError("labels contain NaN")
    values = torch.unique(y)
    if not set(values.tolist()) <= {0, 1}:
        raise ProbeDataError(f"labels must be 0 (harmless) or 1 (harmful), got values {sorted(values.tolist())[:10]}")


def plain(v):
    """A coordinate label as a plain Python value (numpy and 0-d tensor scalars via ``.item()``)."""
    if isinstance(v, Tensor) or type(v).__module__ == "numpy":
        return v.item() if getattr(v, "ndim", 0) == 0 else v.tolist()
    return v


def plain_list(values) -> list:
    """Labels along one axis (a list, range, array or tensor) as a list of plain Python values."""
    if isinstance(values, Tensor) or type(values).__module__ == "numpy":
        return list(values.tolist()) if getattr(values, "ndim", 1) else [values.item()]
    return [plain(v) for v in values]
