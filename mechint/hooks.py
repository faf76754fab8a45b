"""The hook engine: read and write named sites of a wrapped model with plain PyTorch hooks.

One context manager, :func:`hooked`, registers hooks only at the modules of the sites it is given,
runs the model in ``eval()`` mode, and removes every hook on exit, also when the body raises. A hook
function receives the site's activation (``[batch, pos, d]``, or ``[batch, pos, head, d_head]`` for
``attn.hook_z``) and a :class:`HookContext`; returning a tensor replaces the activation, returning
``None`` leaves it as it is. During ``generate`` with a KV cache each call sees only the new tokens;
``HookContext.offset`` says how many tokens came before them.

Helpers build the usual hook functions: :func:`save` (read, optionally at chosen positions / rows),
:func:`set_value` and :func:`add_value` (write at chosen positions / rows).
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

import torch
from torch import Tensor, nn

from .sites import Site

HookFn = Callable[[Tensor, "HookContext"], "Tensor | None"]
Index = int | Sequence[int] | slice | Tensor | None


class StopForward(Exception):
    """Raised by the engine after the last site a caller needs, to skip the rest of the forward."""


@dataclass
class HookContext:
    """What a hook function knows besides the activation.

    Attributes:
        site: the site being read or written.
        offset: number of tokens already in the KV cache before this call (0 outside generation);
            column ``j`` of the activation is absolute position ``offset + j``.
    """

    site: Site
    offset: int = 0


class _State:
    """Per-``hooked`` state shared by the hooks of one context: the current KV-cache offset."""

    def __init__(self) -> None:
        self.offset = 0


def _first_tensor_arg(args: tuple, kwargs: dict) -> tuple[Tensor, str | int]:
    if args and isinstance(args[0], Tensor):
        return args[0], 0
    for key in ("hidden_states", "input", "x"):
        if isinstance(kwargs.get(key), Tensor):
            return kwargs[key], key
    raise RuntimeError("the hooked module was called without a tensor as its first input")


def _as_site_view(x: Tensor, site: Site) -> Tensor:
    return x.unflatten(-1, site.heads) if site.heads is not None else x


def _from_site_view(y: Tensor, like: Tensor, site: Site) -> Tensor:
    if site.heads is not None:
        y = y.flatten(-2)
    if y.shape != like.shape:
        raise ValueError(
            f"a hook at {site.name} returned shape {tuple(y.shape)}, expected "
            f"{tuple(_as_site_view(like, site).shape)}"
        )
    return y.to(like.dtype)


def _run_fns(x: Tensor, entries: list[tuple[Site, HookFn, bool]], state: _State) -> Tensor | None:
    """Run hook functions in order on ``x``; return the final replacement or ``None`` if unchanged."""
    replaced = None
    current = x
    for site, fn, stop in entries:
        out = fn(_as_site_view(current, site), HookContext(site, state.offset))
        if out is not None:
            current = _from_site_view(out, x, site)
            replaced = current
        if stop:
            raise StopForward(site.name)
    return replaced


@contextmanager
def hooked(
    hf_model: nn.Module,
    hooks: Iterable[tuple[Site, HookFn]],
    *,
    stop_after: Site | None = None,
    offset_module: nn.Module | None = None,
) -> Iterator[None]:
    """Register ``hooks`` on ``hf_model`` for the duration of the ``with`` block.

    Args:
        hf_model: the wrapped Hugging Face model; it is put in ``eval()`` mode inside the block and
            its previous mode restored after.
        hooks: ``(site, fn)`` pairs; functions at the same site run in the order given.
        stop_after: raise :class:`StopForward` once this site's hooks have run (the caller catches it).
        offset_module: the decoder stack; a pre-hook there reads the KV-cache length so that hook
            functions know the absolute positions of the tokens they see during generation.
    """
    state = _State()
    groups: dict[tuple[int, str], list[tuple[Site, HookFn, bool]]] = defaultdict(list)
    modules: dict[int, nn.Module] = {}
    for site, fn in hooks:
        key = (id(site.module), site.where)
        groups[key].append((site, fn, False))
        modules[id(site.module)] = site.module
    if stop_after is not None:
        key = (id(stop_after.module), stop_after.where)
        groups[key].append((stop_after, lambda x, ctx: None, True))
        modules[id(stop_after.module)] = stop_after.module

    handles = []
    # Restore each module's own mode after (fine-tuning code freezes some submodules in eval()).
    modes = [(m, m.training) for m in hf_model.modules()]
    try:
        hf_model.eval()
        if offset_module is not None:
            handles.append(
                offset_module.register_forward_pre_hook(_offset_reader(state), with_kwargs=True)
            )
        for (module_id, where), entries in groups.items():
            module = modules[module_id]
            if where == "in":
                hook = _pre_hook(entries, state)
                handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
            else:
                handles.append(module.register_forward_hook(_post_hook(entries, state)))
        yield
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes:
            module.training = training


def _offset_reader(state: _State):
    def hook(module, args, kwargs):
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        length = 0
        if cache is not None and hasattr(cache, "get_seq_length"):
            length = int(cache.get_seq_length())
        state.offset = length

    return hook


def _pre_hook(entries: list[tuple[Site, HookFn, bool]], state: _State):
    inplace = any(site.inplace for site, _, _ in entries)

    def hook(module, args, kwargs):
        x, slot = _first_tensor_arg(args, kwargs)
        new = _run_fns(x, entries, state)
        if new is None:
            return None
        if inplace:
            # The layer keeps this tensor as its residual too: change the tensor itself.
            x.copy_(new)
            return None
        if slot == 0:
            return (new, *args[1:]), kwargs
        return args, {**kwargs, slot: new}

    return hook


def _post_hook(entries: list[tuple[Site, HookFn, bool]], state: _State):
    def hook(module, args, output):
        x = output[0] if isinstance(output, tuple) else output
        if not isinstance(x, Tensor):
            x = getattr(output, "last_hidden_state", None)
            if x is None:
                raise RuntimeError(f"cannot find the output tensor of {type(module).__name__}")
        new = _run_fns(x, entries, state)
        if new is None:
            return None
        if isinstance(output, tuple):
            return (new, *output[1:])
        return new

    return hook


# ----------------------------------------------------------------------------------------------
# Hook-function builders
# ----------------------------------------------------------------------------------------------


def _local_positions(positions: Index, seq_len: int, offset: int) -> Tensor | slice | None:
    """Map absolute positions to columns of the current call; ``None`` if none of them is here.

    Non-negative positions are absolute (counted from the start of the padded sequence); negative
    positions count from the end of the current call (``-1``: the newest token, also in generation).
    """
    if positions is None:
        return slice(None)
    if isinstance(positions, slice):
        if offset == 0:
            return positions
        idx = torch.arange(offset + seq_len)[positions]
        return _local_positions(idx, seq_len, offset)
    pos = torch.as_tensor(positions).reshape(-1)
    local = torch.where(pos < 0, pos + seq_len, pos - offset)
    keep = (local >= 0) & (local < seq_len)
    if not bool(keep.any()):
        return None
    return local[keep]


def _rows(rows: Index, batch: int) -> Tensor | slice:
    if rows is None:
        return slice(None)
    if isinstance(rows, slice):
        return rows
    return torch.as_tensor(rows).reshape(-1) % batch


def _index(x: Tensor, rows, cols):
    """Index ``x[rows][:, cols]`` for tensors and slices alike (outer product, not zip)."""
    if isinstance(rows, Tensor) and isinstance(cols, Tensor):
        return (rows.to(x.device)[:, None], cols.to(x.device)[None, :])
    r = rows.to(x.device) if isinstance(rows, Tensor) else rows
    c = cols.to(x.device) if isinstance(cols, Tensor) else cols
    return (r, c)


def save(
    store: dict,
    key: str | None = None,
    *,
    positions: Index = None,
    rows: Index = None,
    transform: Callable[[Tensor], Tensor] | None = None,
    to_cpu: bool = False,
) -> HookFn:
    """A read hook: stores a copy of the activation in ``store[key or site.name]``.

    ``positions``/``rows`` select columns and batch rows; ``transform`` maps the tensor before it is
    stored (e.g. pooling). Across generation steps the copies are concatenated along positions.
    """

    def fn(x: Tensor, ctx: HookContext) -> None:
        cols = _local_positions(positions, x.shape[1], ctx.offset)
        if cols is None:
            return None
        value = x[_index(x, _rows(rows, x.shape[0]), cols)]
        value = transform(value) if transform is not None else value
        value = value.detach()
        value = value.to("cpu") if to_cpu else value.clone()
        name = key or ctx.site.name
        if name in store and ctx.offset > 0:
            store[name] = torch.cat([store[name], value], dim=1)
        else:
            store[name] = value
        return None

    return fn


def _writer(value: Tensor | Callable, positions: Index, rows: Index, mode: str) -> HookFn:
    def fn(x: Tensor, ctx: HookContext) -> Tensor | None:
        cols = _local_positions(positions, x.shape[1], ctx.offset)
        if cols is None:
            return None
        idx = _index(x, _rows(rows, x.shape[0]), cols)
        v = value(x[idx], ctx) if callable(value) else value
        v = torch.as_tensor(v, device=x.device, dtype=x.dtype)
        out = x.clone()
        target = out[idx]
        try:
            if mode == "set":
                out[idx] = v.expand_as(target)
            elif mode == "add":
                out[idx] = target + v
            else:  # scale
                out[idx] = target * v
        except RuntimeError as err:
            raise ValueError(
                f"value of shape {tuple(v.shape)} does not fit {ctx.site.name} at the chosen "
                f"rows/positions, shape {tuple(target.shape)}"
            ) from err
        return out

    return fn


def set_value(value: Tensor | Callable, *, positions: Index = None, rows: Index = None) -> HookFn:
    """A write hook that sets the activation at ``rows`` x ``positions`` to ``value`` (broadcast)."""
    return _writer(value, positions, rows, "set")


def add_value(value: Tensor | Callable, *, positions: Index = None, rows: Index = None) -> HookFn:
    """A write hook that adds ``value`` (broadcast) to the activation at ``rows`` x ``positions``."""
    return _writer(value, positions, rows, "add")


def scale_value(value: Tensor | float, *, positions: Index = None, rows: Index = None) -> HookFn:
    """A write hook that multiplies the activation at ``rows`` x ``positions`` by ``value``."""
    return _writer(value, positions, rows, "scale")
