"""The fitted probe: :class:`Probe`, a batch of logistic-regression probes (one per layer,
language, fold ...), with its indexing, raw-space weights and direction, prediction, evaluation and
its file format (safetensors tensors with a ``mechint.probe`` JSON metadata entry).
"""

from __future__ import annotations

import json
import math
import operator
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence, cast

import torch
from jaxtyping import Float
from torch import Tensor

from .. import _validate
from ._common import check_finite_rows, plain_list
from .metrics import POSITIVE_CLASS, POSITIVE_NAME, Metrics, binary_metrics


@dataclass
class Probe:
    """Fitted logistic-regression probes, one per problem of a batch (shape ``batch_shape``).

    Attributes:
        coef: ``[*batch, d]`` weights on standardised features (what scikit-learn's ``coef_`` is
            after a ``StandardScaler``).
        intercept: ``[*batch]`` intercepts on standardised features.
        mean, scale: ``[*batch, d]`` the standardisation (``(x - mean) / scale``); zeros and ones
            when fitted with ``standardize=False``.
        C: ``[*batch]`` inverse L2 strength of each problem.
        n_iter: ``[*batch]`` Newton iterations taken; converged: whether ``tol`` was reached.
        axes: names of the batch axes (e.g. ``("layer", "language")``); coords: labels along them.
        class_weight: as fitted (``None``, ``"balanced"`` or ``{label: weight}``).

    The positive class is 1 (harmful): a positive logit predicts harmful. :attr:`weight` and
    :attr:`bias` act on raw activations; :attr:`direction` is the unit vector along :attr:`weight`,
    the direction in activation space that raises the harmful logit fastest (add it with
    ``mechint.add_value(alpha * probe.direction[layer])``).
    """

    coef: Tensor
    intercept: Tensor
    mean: Tensor
    scale: Tensor
    C: Tensor
    n_iter: Tensor
    converged: Tensor
    axes: tuple[str, ...] = ()
    coords: dict[str, Any] = field(default_factory=dict)  # each axis's labels: a list, an array or a tensor
    class_weight: Any = None
    tol: float = 1e-4
    positive_class: int = POSITIVE_CLASS
    positive_name: str = POSITIVE_NAME

    _TENSORS = ("coef", "intercept", "mean", "scale", "C", "n_iter", "converged")

    def __post_init__(self) -> None:
        # plain Python labels (``layers=np.arange(L)`` gives numpy integers): :meth:`save` writes them as JSON
        self.axes = tuple(self.axes)
        self.coords = {str(k): plain_list(v) for k, v in self.coords.items()}

    # ------------------------------------------------------------------ shape and indexing
    @property
    def batch_shape(self) -> torch.Size:
        return self.intercept.shape

    @property
    def d(self) -> int:
        return int(self.coef.shape[-1])

    @property
    def device(self) -> torch.device:
        return self.coef.device

    def __getitem__(self, index) -> "Probe":
        """Probes of a sub-batch, e.g. ``probe[6]`` (layer 6), ``probe[:, 0]``, ``probe[..., 2]``,
        ``probe[auroc.argmax()]`` or ``probe[mask]`` (a boolean mask along one axis).

        Each batch axis takes one index: an integer (numpy and 0-d tensor integers included) drops
        the axis; a slice, a 1-D list/array of integers or a 1-D boolean mask keeps it (with those
        labels in ``coords``). Index arrays on several axes select every combination (the sub-batch
        of those rows along each axis), not torch's pointwise pairs.
        """
        sels = _batch_index(index, self.batch_shape)
        sub = {}
        for k in self._TENSORS:
            t, dim = getattr(self, k), 0
            for sel in sels:
                t = t[(slice(None),) * dim + (sel,)]
                dim += not isinstance(sel, int)
            sub[k] = t
        # axes kept: those not indexed by an integer
        axes, coords = [], {}
        for name, sel in zip(self.axes, sels):
            if isinstance(sel, int):
                continue
            axes.append(name)
            if name in self.coords:
                vals = self.coords[name]
                coords[name] = vals[sel] if isinstance(sel, slice) else [vals[j] for j in sel.tolist()]
        return replace(self, **sub, axes=tuple(axes), coords=coords)

    def to(self, device: str | torch.device) -> "Probe":
        return replace(self, **{k: getattr(self, k).to(device) for k in self._TENSORS})

    def __repr__(self) -> str:
        return (
            f"Probe(batch_shape={tuple(self.batch_shape)}, axes={self.axes}, d={self.d}, "
            f"C={_short(self.C)}, class_weight={self.class_weight!r}, converged={int(self.converged.sum())}/"
            f"{self.converged.numel()}, positive_class={self.positive_class} ({self.positive_name}))"
        )

    # ------------------------------------------------------------------ raw-space view
    @property
    def weight(self) -> Float[Tensor, "*batch d"]:
        """Weights on raw activations: ``logit = x @ weight + bias``."""
        return self.coef / self.scale

    @property
    def bias(self) -> Float[Tensor, "*batch"]:
        return self.intercept - (self.mean * self.weight).sum(-1)

    @property
    def direction(self) -> Float[Tensor, "*batch d"]:
        """Unit-length :attr:`weight`: harmful rows project higher (usable for interventions)."""
        w = self.weight.double()
        return (w / w.norm(dim=-1, keepdim=True).clamp(min=1e-30)).to(self.coef.dtype)

    # ------------------------------------------------------------------ prediction
    def decision_function(self, acts: Float[Tensor, "*batch n d"] | Float[Tensor, "n d"]) -> Float[Tensor, "... n"]:
        """Logits (positive: harmful) of raw activations.

        ``acts`` is ``[n, d]`` (every probe scores the same rows: result ``[*batch, n]``) or
        ``[*batch, n, d]`` (problem ``i`` scores its own rows); an axis of size 1 on either side
        broadcasts (``[layer, 1, t, d]`` scores each layer's rows under every probe of a
        ``[layer, language]`` batch). The leading axes must match the batch axes one for one:
        torch's right-aligned broadcasting would silently pair a ``[L, A]`` probe with ``[L, n, d]``
        rows by the wrong axis.

        Scored as ``(x - mean) @ weight + intercept``: centring first keeps the logits exact for
        features with a large mean and a small spread (folding the mean into the bias, as
        :attr:`bias` does, cancels large terms: visible logit errors in float32 for features of mean
        1000 and spread 0.01).
        """
        x = torch.as_tensor(acts)
        if x.ndim < 2:
            raise ValueError(f"activations must be [n, d] or [*batch, n, d], got shape {tuple(x.shape)}")
        if x.shape[-1] != self.d:
            raise ValueError(f"activations have width {x.shape[-1]}, the probe was fitted on width {self.d}")
        batch, lead = tuple(self.batch_shape), tuple(x.shape[:-2])
        if lead and (len(lead) != len(batch) or any(a != b and 1 not in (a, b) for a, b in zip(lead, batch))):
            raise ValueError(
                f"activations of shape {tuple(x.shape)} do not fit probes of batch shape {batch}: expected "
                f"[n, {self.d}] (every probe scores the same rows) or [*{list(batch)}, n, {self.d}] (each probe "
                "its own rows; axes of size 1 broadcast)"
            )
        x = x.to(self.device)
        if not x.dtype.is_floating_point:
            x = x.float()
        dt = torch.promote_types(torch.promote_types(x.dtype, self.coef.dtype), torch.float32)
        n, d = x.shape[-2], self.d
        # centred a chunk of rows at a time (a few MB, in cache on a CPU): no full centred copy
        budget = (1 << 20) if x.device.type == "cpu" else (1 << 27)  # elements per chunk
        if not lead:
            # every probe scores the same rows: centre them once on the probes' mean of means, one
            # matrix product for all probes, and each probe's own centring as a correction, when
            # that correction is small enough to add without cancellation (probes fitted on data
            # with very different means, e.g. different layers: each centres its own copy below)
            P = math.prod(batch)
            w = self.weight.to(dt).reshape(P, d)
            means = self.mean.to(dt).reshape(P, d)
            centre = means.double().mean(0).to(dt)  # [d]
            correction = ((centre - means) * w).sum(-1)  # [P]
            if P == 0 or float(correction.abs().max()) * torch.finfo(dt).eps <= 1e-5:
                shift = correction + self.intercept.to(dt).reshape(P)
                step = max(1, budget // d)
                out = torch.cat([(x[i : i + step].to(dt) - centre) @ w.T for i in range(0, max(n, 1), step)])  # [n, P]
                return (out + shift).T.reshape(*batch, n)
            x, lead = x.expand(*batch, n, d), batch
        batch = torch.broadcast_shapes(lead, batch)
        P = math.prod(batch)
        w = self.weight.to(dt).expand(*batch, d).reshape(P, 1, d)
        mean = self.mean.to(dt).expand(*batch, d).unsqueeze(-2)  # [*batch, 1, d]
        # each problem's weights as a row vector times its rows: 5.5 ms for [18, 2200, 640] on one
        # core, where one batched matrix-vector product of the uncentred rows took 20 ms
        step = max(1, budget // max(P * d, 1))
        parts = []
        for i in range(0, max(n, 1), step):
            xc = x[..., i : i + step, :].to(dt) - mean  # [*batch, m, d]
            parts.append(torch.bmm(w, xc.reshape(P, xc.shape[-2], d).mT).squeeze(1))
        out = parts[0] if len(parts) == 1 else torch.cat(parts, -1)
        return (out + self.intercept.to(dt).expand(batch).reshape(P, 1)).reshape(*batch, n)

    def predict_proba(self, acts: Tensor) -> Tensor:
        """Probability of the positive class (harmful)."""
        return torch.sigmoid(self.decision_function(acts))

    def predict(self, acts: Tensor) -> Tensor:
        """Predicted labels (1 harmful, 0 harmless)."""
        return (self.decision_function(acts) > 0).long()

    def evaluate(self, acts: Tensor, labels: Tensor | Sequence[int], mask: Tensor | None = None) -> Metrics:
        """:func:`binary_metrics` of this probe's logits on ``acts`` against ``labels``."""
        x = torch.as_tensor(acts)
        if x.ndim < 2:
            raise ValueError(f"activations must be [..., n, d], got shape {tuple(x.shape)}")
        check_finite_rows(x, None, "activations", mask)
        return binary_metrics(self.decision_function(x), _validate.labels(labels, device=self.device), mask)

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> Path:
        """Write the probes to a safetensors file (tensors + JSON metadata); returns the path."""
        from safetensors.torch import save

        from ..disk import atomic_write_bytes

        path = Path(path)
        if path.suffix != ".safetensors":
            path = path.with_suffix(path.suffix + ".safetensors") if path.suffix else path.with_suffix(".safetensors")
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {k: getattr(self, k).detach().cpu().contiguous() for k in self._TENSORS}
        tensors["converged"] = tensors["converged"].to(torch.uint8)
        meta = {
            "format": "mechint.probe/v1",
            "axes": list(self.axes),
            "coords": self.coords,
            "class_weight": _cw_json(self.class_weight),
            "tol": self.tol,
            "positive_class": self.positive_class,
            "positive_name": self.positive_name,
            "objective": "C * sum_i s_i * logloss_i + ||coef||^2 / 2 on (x - mean) / scale; intercept unpenalised",
        }
        return atomic_write_bytes(path, save(tensors, metadata={"mechint.probe": json.dumps(meta)}))

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> "Probe":
        """Read probes written by :meth:`save`."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt", device=str(device)) as f:
            raw = (f.metadata() or {}).get("mechint.probe")
            if raw is None:
                raise ValueError(f"{path} is not a mechint probe file (no 'mechint.probe' metadata)")
            meta = json.loads(raw)
            tensors = {k: f.get_tensor(k) for k in cls._TENSORS}
        tensors["converged"] = tensors["converged"].bool()
        cw = meta.get("class_weight")
        if isinstance(cw, dict):
            cw = {int(k): float(v) for k, v in cw.items()}
        return cls(
            **tensors,
            axes=tuple(meta.get("axes", ())),
            coords=meta.get("coords", {}),
            class_weight=cw,
            tol=meta.get("tol", 1e-4),
            positive_class=meta.get("positive_class", POSITIVE_CLASS),
            positive_name=meta.get("positive_name", POSITIVE_NAME),
        )


def _batch_index(index, batch_shape: Sequence[int]) -> list:
    """One selector per batch axis: an ``int``, a ``slice`` or a 1-D long tensor of positions.

    Integer scalars of numpy or torch count as integers (``probe[auroc.argmax()]`` drops the axis),
    a 1-D boolean mask becomes the positions where it is True, and ``...`` stands for the axes not
    indexed otherwise."""
    idx = list(index) if isinstance(index, tuple) else [index]
    ellipses = [k for k, sel in enumerate(idx) if sel is Ellipsis]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if ellipses:
        idx[ellipses[0] : ellipses[0] + 1] = [slice(None)] * max(0, len(batch_shape) - len(idx) + 1)
    if len(idx) > len(batch_shape):
        raise IndexError(f"too many indices for probes of batch shape {tuple(batch_shape)}: {index!r}")
    out = []
    for axis, sel in enumerate(idx + [slice(None)] * (len(batch_shape) - len(idx))):
        if isinstance(sel, slice):
            out.append(sel)
        elif isinstance(sel, (Tensor, list, tuple, range)) or type(sel).__module__ == "numpy":
            t = torch.as_tensor(cast(Any, sel).tolist() if type(sel).__module__ == "numpy" else sel)
            if t.numel() == 0 and t.ndim == 1:
                t = t.long()
            if t.dtype == torch.bool and t.ndim == 1 and t.shape[0] == batch_shape[axis]:
                out.append(t.cpu().nonzero().reshape(-1))  # a mask: the positions it keeps
            elif t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool or t.ndim > 1:
                raise IndexError(
                    f"index {sel!r} along batch axis {axis} (size {batch_shape[axis]}): probes take integers, slices, "
                    "1-D integer arrays or 1-D boolean masks of the axis' length"
                )
            else:
                out.append(t.long().cpu() if t.ndim else int(t))  # a 0-d integer array drops the axis
        elif sel is None or isinstance(sel, bool):
            raise IndexError(f"probes are indexed along their batch axes: {sel!r} is not supported")
        else:
            out.append(operator.index(sel))  # int (or anything with __index__); else TypeError
    return out


def _short(t: Tensor):
    u = torch.unique(t.detach().cpu())
    return float(u[0]) if u.numel() == 1 else [float(v) for v in u[:4]]


def _cw_json(cw):
    if isinstance(cw, Mapping):
        return {str(int(k)): float(v) for k, v in cw.items()}
    return cw
