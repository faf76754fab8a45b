"""Grafting masked tuned values into a base model in place (bit-exact revert), and freezing masked entries
during fine-tuning."""

from __future__ import annotations

import weakref

import torch
from torch import Tensor, nn

from .. import _validate
from ..model import Model
from ._masks import WeightMask
from ._naming import Weights, _matched


def _module(model, what: str) -> nn.Module:
    if isinstance(model, Model):
        return model.hf
    if isinstance(model, nn.Module):
        return model
    raise TypeError(f"{what} must be a mechint Model or an nn.Module, got {_validate.given(model)}")


_ACTIVE_GRAFTS: weakref.WeakKeyDictionary[nn.Module, Graft] = weakref.WeakKeyDictionary()


class Graft:
    """Tuned values written into the masked entries of a base model, in place (made by :func:`graft`).

    It holds the base's original values of the masked entries (one copy of those entries only), so
    :meth:`revert` restores every parameter bit for bit; as a context manager it reverts on exit.
    Entries outside the mask are never written, so changes made to them meanwhile survive a revert.
    """

    def __init__(self, module: nn.Module, mask: WeightMask):
        self.module, self.mask = module, mask
        self._saved: dict[str, tuple[Tensor, Tensor]] = {}  # name -> (mask on the device, original values)

    @property
    def active(self) -> bool:
        """Whether the graft is in the model (not yet reverted)."""
        return _ACTIVE_GRAFTS.get(self.module) is self

    @torch.no_grad()
    def revert(self) -> None:
        """Write the base's original values back; a second call does nothing."""
        params = dict(self.module.named_parameters())
        for name, (where, values) in self._saved.items():
            params[name][where] = values
        self._saved.clear()
        if self.active:
            del _ACTIVE_GRAFTS[self.module]

    def __enter__(self) -> Graft:
        return self

    def __exit__(self, *exc) -> None:
        self.revert()

    def __repr__(self) -> str:
        return f"Graft({self.mask.count}/{self.mask.n} entries, {'active' if self.active else 'reverted'})"


@torch.no_grad()
def graft(base_model: Model | nn.Module, tuned: Weights, mask: WeightMask) -> Graft:
    """Write ``tuned``'s values into ``base_model`` where ``mask`` is set, in place: the model computes
    ``base + mask * (tuned - base)``, with the tuned values themselves written (``torch.where(mask,
    tuned, base)``), so a full mask gives the tuned model bit for bit and an empty one the base.

    ``tuned`` is a model of the same architecture and dtypes, or a mapping name -> tuned tensor (a
    WeightDiff keeps norms only and cannot be grafted). A graft still active on the same model is
    reverted first, so a sweep over ``p`` calls ``graft`` once per mask on one loaded model. Returns the
    :class:`Graft`, already applied; use it as a context manager or call :meth:`Graft.revert`.
    """
    module = _module(base_model, "base_model")
    b, t, *_ = _matched(base_model, tuned)
    if not isinstance(mask, WeightMask):
        raise TypeError(f"mask must be a WeightMask (from top_p_mask), got {_validate.given(mask)}")
    mask.check(base_model, "base_model")
    dtypes = [n for n in b if b[n].dtype != t[n].dtype]
    if dtypes:
        n = dtypes[0]
        raise ValueError(
            f"tuned's dtypes differ from base's ({len(dtypes)} tensors, e.g. {n!r}: {t[n].dtype} vs {b[n].dtype}): "
            "cast tuned to the base's dtype first, so that grafting writes the values it will be compared to"
        )
    previous = _ACTIVE_GRAFTS.get(module)
    if previous is not None:
        previous.revert()
    result = Graft(module, mask)
    _ACTIVE_GRAFTS[module] = result
    try:
        for name, param in b.items():
            where = mask.masks[name].to(param.device)
            if not bool(where.any()):
                continue
            result._saved[name] = (where, param[where].clone())
            param[where] = t[name].detach().to(param.device)[where]
    except BaseException:
        result.revert()
        raise
    return result


class Freeze:
    """Masked entries of a model held fixed during fine-tuning (made by :func:`freeze`).

    Two mechanisms, both on: gradient hooks zero the masked entries' gradients, and the masked entries'
    values at freezing time are kept and written back by :meth:`restore`, which runs after every step of
    the optimizer given to :func:`freeze`. A zero gradient alone does not hold an entry: AdamW's
    decoupled weight decay shrinks every entry, and momentum from earlier steps keeps moving it.
    """

    def __init__(self, params: dict[str, Tensor], mask: WeightMask):
        self._params = params
        self._saved: dict[str, tuple[Tensor, Tensor]] = {}
        self._handles: list = []
        for name, param in params.items():
            where = mask.masks[name].to(param.device)
            if not bool(where.any()):
                continue
            self._saved[name] = (where, param.detach()[where].clone())
            if param.requires_grad:
                self._handles.append(param.register_hook(lambda grad, where=where: grad.masked_fill(where, 0)))

    @torch.no_grad()
    def restore(self) -> None:
        """Write the frozen entries' kept values back (bit for bit)."""
        for name, (where, values) in self._saved.items():
            self._params[name][where] = values

    def remove(self) -> None:
        """Unregister the gradient and optimizer hooks; the entries are free again."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __enter__(self) -> Freeze:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def freeze(model: Model | nn.Module, mask: WeightMask, *, optimizer: torch.optim.Optimizer | None = None) -> Freeze:
    """Hold the entries of ``model`` where ``mask`` is set fixed while it is fine-tuned.

    Registers a gradient hook per masked parameter (``param.register_hook``) that zeroes the masked
    entries' gradient; with ``optimizer``, also a step post-hook (``optimizer.register_step_post_hook``)
    that writes the masked entries' values at freezing time back after every step, which is what keeps
    them bit-identical under weight decay or momentum (AdamW moves an entry whose gradient is zero).
    Without ``optimizer`` only gradients are zeroed: enough for plain SGD, and :meth:`Freeze.restore`
    can be called by hand. Returns a :class:`Freeze`; ``.remove()`` (or leaving its ``with`` block)
    unregisters every hook.
    """
    module = _module(model, "model")
    if not isinstance(mask, WeightMask):
        raise TypeError(f"mask must be a WeightMask (from top_p_mask), got {_validate.given(mask)}")
    mask.check(model)
    handle = Freeze(dict(module.named_parameters()), mask)
    if optimizer is not None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {_validate.given(optimizer)}")
        handle._handles.append(optimizer.register_step_post_hook(lambda *_: handle.restore()))
    return handle
