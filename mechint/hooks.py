"""The hook engine: read and write named sites of a wrapped model with plain PyTorch hooks.

One context manager, :func:`hooked`, registers hooks only at the modules of the sites it is given,
runs the model in ``eval()`` mode, and removes every hook on exit, also when the body raises. A hook
function receives the site's activation (``[batch, pos, d]``, ``[batch, pos, head, d_head]`` for
``attn.hook_z`` and ``attn.hook_q/k/v``, ``[batch, head, query, key]`` for the read-only
``attn.hook_attn_scores`` and ``attn.hook_pattern``) and a :class:`HookContext`; returning a tensor
replaces the activation, returning ``None`` leaves it as it is. During ``generate`` with a KV cache
each call sees only the new tokens; ``HookContext.offset`` says how many tokens came before them.

On a model placed over several devices (``load_model(..., device_map=...)``, :mod:`mechint.placement`)
a hook function sees each activation on the device its module produced it on (a module's input
before accelerate moves it to that module's device); a replacement must be on the activation's
device, and one on another device is refused rather than moved silently. The builders here move
their index tensors and values to the activation's device.

Helpers build the usual hook functions: :func:`save` (read, optionally at chosen positions / rows),
:func:`set_value`, :func:`add_value` and :func:`scale_value` (write at chosen positions / rows).

Which cells a read or write touches (``positions=``, ``rows=``, :func:`from_text_start`) is the
business of :mod:`mechint.positions`; its names used here (:func:`from_text_start`,
:class:`TextPositions`, :data:`Index`, :data:`ALL_POSITIONS`) are importable from this module too. In
short: a non-negative position is a column of the left-padded batch, a negative one counts from the
end (``-1``: every row's last token, the newest one during generation), ``None`` or ``"all"`` is
every position, and ``from_text_start(slice(1, None))`` is every token but each text's first (the
BOS token, where the tokenizer adds one) in any batch and at every generation step. A write whose
positions are all outside a plain forward warns. ``rows`` picks inputs: the rows of the forward, or,
inside a method that batches its inputs itself (:func:`mechint.collect`, patching), the caller's
texts or prompt pairs (:func:`input_rows`).

The write helpers here are the raw engine: ``positions=None`` writes every position, the BOS token
included, as they say. The interventions of :mod:`mechint.interventions` know the model, so their
default leaves the BOS attention sink alone.
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from collections.abc import MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence, cast

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils.hooks import RemovableHandle

from . import _validate
from .positions import ALL_POSITIONS, Index, TextPositions, cells, from_text_start, per_row
from .sites import Site

__all__ = [
    "ALL_POSITIONS",
    "HookContext",
    "HookFn",
    "Index",
    "StopForward",
    "TextPositions",
    "add_value",
    "from_text_start",
    "hooked",
    "input_rows",
    "save",
    "scale_value",
    "set_value",
]

HookFn = Callable[[Tensor, "HookContext"], "Tensor | None"]


class StopForward(Exception):
    """Raised by the engine after the last site a caller needs, to skip the rest of the forward."""


@dataclass
class HookContext:
    """What a hook function knows besides the activation.

    Attributes:
        site: the site being read or written.
        offset: number of tokens before this call's first column (the KV-cache length during
            generation, 0 in a plain forward); column ``j`` of the activation is absolute position
            ``offset + j``.
        inputs: ``[batch]`` for each row of the activation, which of the caller's inputs it belongs
            to, when a batched method runs its inputs in another order or several times (
            :func:`mechint.collect` sorts texts by length; patching runs many copies of each prompt
            pair); ``None``: row ``i`` is input ``i``.
        n_inputs: how many inputs the caller has (with ``inputs``), else None.
        generating: the call is a step of generation with a KV cache (later calls see later positions).
        pad: ``[batch]`` (long, CPU) how many left-pad tokens come before each row's first real
            token (see the property).
    """

    site: Site
    offset: int = 0
    inputs: Tensor | None = None
    n_inputs: int | None = None
    generating: bool = False
    _padding: "_Padding | None" = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The site's name (TransformerLens hook functions read ``hook.name``)."""
        return self.site.name

    @property
    def pad(self) -> Tensor | None:
        """``[batch]`` the number of leading pad tokens of each row of the activation (long, CPU), so
        row ``i``'s text starts at absolute position ``pad[i]`` (its columns start at ``offset``).

        Read from the attention mask the model's decoder stack was called with (the whole mask, also
        at each generation step, so it stays the prompt's left padding); a forward without a mask
        has no padding (the model attends to every token: zeros). ``None`` where it is unknown: a
        mask that is not ``[batch, keys]``, or a hook run outside a forward of the decoder stack
        (a layer called on its own), unless the method that runs the layers passes the padding
        (:func:`input_rows` ``pad=``, as :func:`mechint.activation_patch` does). Computed on first
        use (one copy to the host per forward)."""
        return None if self._padding is None else self._padding.counts

    def pad_or_raise(self, positions: TextPositions, batch: int) -> Tensor:
        """:attr:`pad` for the ``batch`` rows of this call, where ``positions`` (counted from each
        row's text start) need it; raises ``RuntimeError`` saying why where it is unknown, or known
        for another number of rows."""
        pad = self.pad
        if pad is None:
            why = self._padding.reason if self._padding is not None else "this hook context knows no padding"
            raise RuntimeError(
                f"positions={positions!r} count from each row's first real token, but the left padding of "
                f"the rows at {self.site.name} is unknown here: {why}. Use absolute positions (e.g. run "
                "the texts unpadded) where the padding is unknown."
            )
        if pad.numel() != batch:
            raise RuntimeError(
                f"the padding is known for {pad.numel()} rows but the activation at {self.site.name} has "
                f"{batch} rows: cannot place positions={positions!r}"
            )
        return pad


class _Padding:
    """Each row's left padding in one forward: from a ``[batch, keys]`` attention mask (computed on
    first use), zeros when there is no mask, or unknown with the ``reason``."""

    __slots__ = ("_mask", "_counts", "reason")

    def __init__(self, mask: Tensor | None = None, counts: Tensor | None = None, reason: str | None = None):
        self._mask, self._counts, self.reason = mask, counts, reason

    @classmethod
    def unknown(cls, reason: str) -> "_Padding":
        return cls(reason=reason)

    @property
    def counts(self) -> Tensor | None:
        if self._counts is None and self._mask is not None:
            real = (self._mask != 0).long()
            self._counts = (real.cumsum(-1) == 0).sum(-1).cpu()  # leading zeros of each row
            self._mask = None
        return self._counts


_NOT_IN_FORWARD = _Padding.unknown(
    "the hook ran outside a forward of the model's decoder stack (a decoder layer or other submodule called on its own)"
)
_LAYERS_RUN_DIRECTLY = _Padding.unknown(
    "a method runs the decoder layers itself here (input_rows with offset= and no pad=), without the attention mask"
)


@dataclass(frozen=True)
class _Rows:
    inputs: Tensor  # [batch] long, CPU
    n_inputs: int
    offset: int | None
    pad: Tensor | None = None  # [batch] long, CPU: each row's left padding, where the method knows it


_ROWS: ContextVar[_Rows | None] = ContextVar("mechint_input_rows", default=None)


@contextmanager
def input_rows(
    inputs: Sequence[int] | Tensor,
    n_inputs: int,
    *,
    offset: int | None = None,
    pad: Sequence[int] | Tensor | None = None,
) -> Iterator[None]:
    """Tell the hooks of every forward inside the block which caller input each batch row is
    (``inputs [batch]``, of ``n_inputs``), so that ``rows=`` and per-row values of hook functions
    and interventions refer to the caller's inputs, not to positions in a reordered batch.
    ``offset``: the absolute position of the first column, for methods that run the layers on a
    suffix of the positions themselves; ``pad``: then, ``[n_inputs]`` each input's left padding
    (:attr:`HookContext.pad`, for :func:`from_text_start` positions), which such a method knows and
    the engine cannot read from a mask.

    Nested blocks compose: inside ``input_rows(range(200, 300), 1000)`` (a method passing inputs
    200..299 of its 1000 to another one), an inner ``input_rows(idx, 100)`` maps its rows through
    the outer block, to inputs of the 1000."""
    idx = torch.as_tensor(inputs, dtype=torch.long).reshape(-1).cpu()
    n_inputs = int(n_inputs)
    row_pad = None
    if pad is not None:
        p = torch.as_tensor(pad, dtype=torch.long).reshape(-1).cpu()
        if p.numel() != n_inputs:
            raise ValueError(f"input_rows: {p.numel()} padding counts for {n_inputs} inputs")
        row_pad = p[idx]
    outer = _ROWS.get()
    if outer is not None:
        if outer.inputs.numel() != n_inputs:
            raise RuntimeError(
                f"nested input_rows: the inner block numbers {n_inputs} inputs, the outer one maps "
                f"{outer.inputs.numel()}"
            )
        idx, n_inputs = outer.inputs[idx], outer.n_inputs
        offset = outer.offset if offset is None else offset
    token = _ROWS.set(_Rows(idx, n_inputs, offset, row_pad))
    try:
        yield
    finally:
        _ROWS.reset(token)


class _State:
    """Per-``hooked`` state shared by the hooks of one context: the current KV-cache offset and
    whether the current forward is a generation step."""

    def __init__(self) -> None:
        self.offset = 0
        self.generating = False
        self.padding = _NOT_IN_FORWARD

    def context(self, site: Site) -> HookContext:
        rows = _ROWS.get()
        if rows is None:
            return HookContext(site, self.offset, generating=self.generating, _padding=self.padding)
        if rows.offset is None:
            offset, padding = self.offset, self.padding
        else:
            offset = rows.offset
            padding = _LAYERS_RUN_DIRECTLY if rows.pad is None else _Padding(counts=rows.pad)
        return HookContext(site, offset, rows.inputs, rows.n_inputs, self.generating, _padding=padding)


def _first_tensor_arg(args: tuple, kwargs: dict) -> tuple[Tensor, str | int]:
    if args and isinstance(args[0], Tensor):
        return args[0], 0
    for key in ("hidden_states", "input", "x"):
        if isinstance(kwargs.get(key), Tensor):
            return kwargs[key], key
    raise RuntimeError("the hooked module was called without a tensor as its first input")


def _as_site_view(x: Tensor, site: Site) -> Tensor:
    if site.fused is not None:  # one part of a fused projection's output (q, k or v)
        groups, parts, which = site.fused
        x = x.unflatten(-1, (groups, parts, -1))[..., which, :].flatten(-2)
    return x.unflatten(-1, site.heads) if site.heads is not None else x


def _pattern_write_error(site: Site) -> NotImplementedError:
    what = "attention scores" if site.scores else "attention patterns"
    return NotImplementedError(
        f"a hook writes {site.name}, but {what} are read only: patching them is not supported yet. "
        "Return None to read it; to change attention, write attn.hook_q / attn.hook_k / attn.hook_v or "
        "attn.hook_z."
    )


def _from_site_view(y: Tensor, like: Tensor, site: Site) -> Tensor:
    if not isinstance(y, Tensor):
        raise TypeError(
            f"a hook at {site.name} returned a {type(y).__name__}; return a tensor to replace the "
            "activation, or None to leave it"
        )
    if site.pattern:
        raise _pattern_write_error(site)
    expected = tuple(_as_site_view(like, site).shape)
    if tuple(y.shape) != expected:
        raise ValueError(f"a hook at {site.name} returned shape {tuple(y.shape)}, expected {expected}")
    if y.is_floating_point() != like.is_floating_point() or y.is_complex() != like.is_complex():
        # an integer or boolean result cast into a float activation is almost always a bug (a mask
        # or an index returned by mistake), and the cast would hide it
        raise TypeError(
            f"a hook at {site.name} returned a {y.dtype} tensor for a {like.dtype} activation; return a "
            f"floating-point tensor (it is cast to {like.dtype})"
        )
    if y.device != like.device:
        raise ValueError(
            f"a hook at {site.name} returned a tensor on {y.device} for an activation on {like.device}; "
            "move it with .to(x.device)"
        )
    if site.heads is not None:
        y = y.flatten(-2)
    y = y.to(like.dtype)
    if site.fused is not None:  # put the part back among the others
        groups, parts, which = site.fused
        out = like.clone()
        out.unflatten(-1, (groups, parts, -1))[..., which, :] = y.unflatten(-1, (groups, -1))
        return out
    return y


# Set while hook functions run: a softmax a hook function computes (a hook at attn.hook_q runs inside
# the attention module's forward) is not the model's, and a _ScoresReader lets it pass.
_IN_HOOK_FN: ContextVar[bool] = ContextVar("mechint_in_hook_fn", default=False)


def _run_fns(x: Tensor, entries: list[tuple[Site, HookFn]], state: _State) -> Tensor | None:
    """Run hook functions in order on ``x``; return the final replacement or ``None`` if unchanged."""
    replaced = None
    current = x
    for site, fn in entries:
        token = _IN_HOOK_FN.set(True)
        try:
            out = fn(_as_site_view(current, site), state.context(site))
        finally:
            _IN_HOOK_FN.reset(token)
        if out is not None:
            current = _from_site_view(out, current, site)
            replaced = current
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
            functions know the absolute positions of the tokens they see during generation, and the
            attention mask, for each row's left padding (:attr:`HookContext.pad`).

    Where a hooked site is an attention pattern or the scores before the softmax
    (:attr:`Site.pattern`), the model runs with the eager attention implementation inside the block
    (the only one that returns the attention weights and computes an explicit softmax; the mask and
    the softmax are the model's own) and its previous implementation is restored after; otherwise
    the implementation is left as it is. The scores are read as the input of that softmax, while
    the attention module runs (:class:`_ScoresReader`).
    """
    state = _State()
    hooks = list(hooks)
    # one group per module input / output element / fused part: functions of a group share a view
    groups: dict[tuple, list[tuple[Site, HookFn]]] = defaultdict(list)
    modules: dict[int, nn.Module] = {}
    for site, fn in hooks:
        key = (id(site.module), site.where, site.index, site.fused, site.scores)
        groups[key].append((site, fn))
        modules[id(site.module)] = site.module
    if stop_after is not None and stop_after.scores:  # stopped inside the module: its reader raises
        modules[id(stop_after.module)] = stop_after.module
        groups[(id(stop_after.module), stop_after.where, stop_after.index, stop_after.fused, True)] += []
    eager = any(site.pattern for site, _ in hooks) or (stop_after is not None and stop_after.pattern)

    handles = []
    # Restore each module's own mode after (fine-tuning code freezes some submodules in eval()).
    modes = [(m, m.training) for m in hf_model.modules()]
    implementations = _attention_implementations(hf_model) if eager else []
    try:
        hf_model.eval()
        for config, attr, _ in implementations:
            setattr(config, attr, "eager")
        if offset_module is not None:
            handles.append(
                offset_module.register_forward_pre_hook(_offset_reader(state, offset_module), with_kwargs=True)
            )
            # the padding belongs to this forward only (also when it raises, e.g. StopForward)
            handles.append(offset_module.register_forward_hook(_forward_end(state), always_call=True))
        for (module_id, where, _, _, scores), entries in groups.items():
            module = modules[module_id]
            if scores:
                stop = (
                    stop_after if stop_after is not None and stop_after.module is module and stop_after.scores else None
                )
                handles += _read_scores(module, entries, state, stop)
            elif where == "in":
                hook = _pre_hook(entries, state)
                handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
            else:
                handles.append(module.register_forward_hook(_post_hook(entries, state)))
        if stop_after is not None and not stop_after.scores:  # registered last: the call's other hooks run first
            if stop_after.where == "in":
                handles.append(stop_after.module.register_forward_pre_hook(_stop(stop_after)))
            else:
                handles.append(stop_after.module.register_forward_hook(_stop(stop_after)))
        yield
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes:
            module.training = training
        for config, attr, value in implementations:
            setattr(config, attr, value)


# The functions by which an attention module computes its softmax (nn.functional.softmax calls
# Tensor.softmax inside, which a TorchFunctionMode does not see again).
_SOFTMAX = (torch.nn.functional.softmax, torch.softmax, torch.Tensor.softmax, torch.special.softmax)


class _ScoresReader(TorchFunctionMode):
    """Active while one attention module's forward runs: hands the input of the softmax it computes,
    the scores before the softmax ``[batch, head, query, key]``, to the hook functions of its scores
    site, then lets the softmax run on it unchanged.

    Every supported family's eager attention (and BLOOM's, under any implementation) computes
    exactly one softmax, of the scaled scores (capped where the family's attention applies a logit
    softcapping) plus the additive mask (and BLOOM's ALiBi bias), so reading its input reads the
    scores as the model computes them, with nothing of the attention reimplemented. A forward that
    computes no softmax or more than one is refused; softmaxes of hook functions (at other sites of
    the same module call) are not the model's and pass unseen."""

    def __init__(self, module: nn.Module, on_scores: Callable[[Tensor], None]):
        super().__init__()
        self.module, self.on_scores, self.seen = module, on_scores, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _SOFTMAX and not _IN_HOOK_FN.get():
            self.seen += 1
            if self.seen > 1:
                raise RuntimeError(
                    f"{type(self.module).__name__} computes more than one softmax in its forward: which one "
                    "takes the attention scores is not known, so attn.hook_attn_scores cannot be read on it"
                )
            self.on_scores(args[0] if args else kwargs["input"])
        return func(*args, **kwargs)


def _read_scores(
    module: nn.Module, entries: list[tuple[Site, HookFn]], state: _State, stop: Site | None
) -> list[RemovableHandle]:
    """Hooks that put a :class:`_ScoresReader` around each call of the attention ``module``: the
    ``entries`` of its scores site run on the softmax's input, and ``stop`` raises
    :class:`StopForward` right after them."""
    readers: list[_ScoresReader] = []
    name = entries[0][0].name if entries else stop.name if stop is not None else "the attention scores"

    def on_scores(x: Tensor) -> None:
        _run_fns(x, entries, state)  # a replacement is refused there: the scores are read only
        if stop is not None:
            raise StopForward(stop.name)

    def enter(module, args):
        reader = _ScoresReader(module, on_scores)
        reader.__enter__()
        readers.append(reader)

    def leave(module, args, output):
        if not readers:  # a pre-hook before enter raised
            return
        reader = readers.pop()
        reader.__exit__(None, None, None)
        if output is not None and not reader.seen:  # output None: the forward raised
            raise RuntimeError(
                f"{type(module).__name__} computed no softmax, so {name} (its input) was not read, although "
                "the model ran with the eager attention implementation"
            )

    return [
        module.register_forward_pre_hook(enter),
        module.register_forward_hook(leave, always_call=True),
    ]


def _stop(site: Site):
    def hook(module, *args):
        raise StopForward(site.name)

    return hook


def _attention_implementations(hf_model: nn.Module) -> list[tuple[object, str, object]]:
    """``(config, attribute, value)`` for each distinct config among ``hf_model``'s modules that
    names an attention implementation (the attention modules read it at every call)."""
    found: dict[int, tuple[object, str, object]] = {}
    for module in (hf_model, *hf_model.modules()):
        config = getattr(module, "config", None)
        if config is None or id(config) in found:
            continue
        # transformers 5 keeps the value in _attn_implementation_internal behind a property whose
        # setter also rewrites sub-configs; set and restore the plain attribute of each config
        for attr in ("_attn_implementation_internal", "_attn_implementation"):
            if hasattr(config, attr):
                found[id(config)] = (config, attr, getattr(config, attr))
                break
    return list(found.values())


def _offset_reader(state: _State, module: nn.Module):
    params = list(inspect.signature(module.forward).parameters.values())
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]

    def argument(name: str, args: tuple, kwargs: dict):
        """(found, value) of a named argument of the decoder stack's forward."""
        if name in kwargs:
            return True, kwargs[name]
        if name in names:
            i = names.index(name)
            return True, args[i] if i < len(args) else None  # a parameter not passed: its default, None
        return False, None

    def hook(module, args, kwargs):
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        length = 0
        if cache is not None and hasattr(cache, "get_seq_length"):
            length = int(cache.get_seq_length())
        state.offset = length
        state.generating = cache is not None
        state.padding = _call_padding(argument, args, kwargs)

    return hook


def _call_padding(argument, args: tuple, kwargs: dict) -> _Padding:
    """Each row's left padding in a forward of the decoder stack, from its attention mask."""
    found, mask = argument("attention_mask", args, kwargs)
    if not found:
        return _Padding.unknown("the decoder stack's forward takes no argument named attention_mask")
    if isinstance(mask, Tensor) and mask.ndim == 2:
        return _Padding(mask=mask)
    if mask is not None:
        shape = f"of shape {tuple(mask.shape)}" if isinstance(mask, Tensor) else f"of type {type(mask).__name__}"
        return _Padding.unknown(
            f"the decoder stack was given an attention mask {shape}, not [batch, keys] (0 at padding), "
            "so where each row's text starts is not known"
        )
    # no mask: the model attends to every token, so no row has padding
    for name in ("input_ids", "inputs_embeds"):
        _, x = argument(name, args, kwargs)
        if isinstance(x, Tensor):
            return _Padding(counts=torch.zeros(x.shape[0] if x.ndim > 1 else 1, dtype=torch.long))
    return _Padding.unknown("the decoder stack was called without input_ids or inputs_embeds")


def _forward_end(state: _State):
    def hook(module, args, output):
        state.padding = _NOT_IN_FORWARD

    return hook


def _pre_hook(entries: list[tuple[Site, HookFn]], state: _State):
    inplace = any(site.inplace for site, _ in entries)

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


def _post_hook(entries: list[tuple[Site, HookFn]], state: _State):
    site = entries[0][0]
    index = site.index

    def hook(module, args, output):
        if index:
            if not isinstance(output, tuple) or len(output) <= index:
                raise RuntimeError(
                    f"{type(module).__name__} returned no element {index} in its output, where {site.name} lives"
                )
            x = output[index]
            if x is None and site.pattern:
                raise RuntimeError(
                    f"{type(module).__name__} returned no attention weights for {site.name}, although the model "
                    "ran with the eager attention implementation"
                )
        else:
            x = output[0] if isinstance(output, tuple) else output
            if not isinstance(x, Tensor):
                x = getattr(output, "last_hidden_state", None)
        if not isinstance(x, Tensor):
            raise RuntimeError(f"cannot find the output tensor of {type(module).__name__}")
        new = _run_fns(x, entries, state)
        if new is None:
            return None
        if isinstance(output, tuple):
            return (*output[:index], new, *output[index + 1 :])
        return new

    return hook


# ----------------------------------------------------------------------------------------------
# Hook-function builders
# ----------------------------------------------------------------------------------------------


def record(
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
    :func:`from_text_start` positions must give every picked row of a call the same number of
    columns (e.g. ``from_text_start([0, 1])``): the rows are stacked, each at its own columns.
    At an attention pattern or the scores before the softmax (``[batch, head, query, key]``)
    ``positions`` pick queries (every key is kept), and generation steps are refused (each step has
    more keys than the last).
    """
    if not isinstance(store, MutableMapping):
        raise TypeError(f"record stores into a dict (site name -> tensor), got {_validate.given(store)}")
    if transform is not None and not callable(transform):
        raise TypeError(f"transform must be a function of the tensor, got {_validate.given(transform)}")

    def fn(x: Tensor, ctx: HookContext) -> None:
        pattern = ctx.site.pattern
        if pattern:
            if ctx.offset > 0:
                raise NotImplementedError(
                    f"record at {ctx.site.name}: the attention map of a generation step with a KV cache "
                    "has more keys than the last step's; read it in one forward over the generated text"
                )
            x = x.transpose(1, 2)  # queries where positions are: [batch, query, head, key]
        blocks = cells(positions, rows, x, ctx)  # a read that misses a plain forward warns, as a write does
        if not blocks:
            return None
        if len(blocks) == 1 and blocks[0].order is None:
            value = x[blocks[0].index(x)]
        else:  # rows of different padding (TextPositions): each block has tensor columns and an order
            orders = [cast(Tensor, b.order) for b in blocks]
            widths = sorted({cast(Tensor, b.cols).numel() for b in blocks})
            if sum(o.numel() for o in orders) < blocks[0].of:
                widths = [0, *widths]  # some picked rows have none of the positions here
            if len(widths) > 1:
                raise ValueError(
                    f"record at {ctx.site.name}: positions={positions!r} name {widths} columns in rows of "
                    "different padding, which do not stack; save whole rows (positions=None) and select "
                    "by the attention mask, or name positions every row has"
                )
            parts = torch.cat([x[b.index(x)] for b in blocks])
            order = torch.cat(orders)
            value = parts[torch.argsort(order).to(x.device)]
        if pattern:
            value = value.transpose(1, 2)  # back to [rows, head, query, key]
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


def save(*args, **kwargs) -> HookFn:
    """Deprecated name of :func:`record` (it records an activation into a dict; it saves no file);
    kept for one release."""
    _validate.warn_at_caller(
        "mechint.save is now mechint.record (a read hook that records into a dict; it saves no file)",
        DeprecationWarning,
    )
    return record(*args, **kwargs)


def _writer(value: Tensor | float | Callable, positions: Index, rows: Index, mode: str) -> HookFn:
    if not callable(value):  # checked now, not at the first forward
        if isinstance(value, (str, bytes)) or value is None:
            raise TypeError(
                f"the value to {mode} must be a tensor, a number or a function (cells, ctx) -> tensor, "
                f"got {_validate.given(value)}"
            )
        try:
            checked = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"the value to {mode} must be a tensor, a number or a function (cells, ctx) -> tensor: {err}"
            ) from None
        _validate.finite(f"the value to {mode}", checked)

    def fn(x: Tensor, ctx: HookContext) -> Tensor | None:
        if ctx.site.pattern:
            raise _pattern_write_error(ctx.site)
        blocks = cells(positions, rows, x, ctx)
        if not blocks:
            return None
        out = x.clone()
        for block in blocks:  # one block, or one per group of rows with equal padding
            idx = block.index(x)
            if callable(value):  # computed from the picked cells: already one row per picked row
                got = value(x[idx], ctx)
                if not isinstance(got, (Tensor, int, float)) or isinstance(got, bool):
                    raise TypeError(
                        f"the value function given to {mode} at {ctx.site.name} returned "
                        f"{_validate.given(got)}; it must return a tensor (or a number) for the cells"
                    )
                v = torch.as_tensor(got, device=x.device, dtype=x.dtype)
            else:
                v = per_row(torch.as_tensor(value, device=x.device, dtype=x.dtype), block.picked, x.ndim)
            target = x[idx]
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


def set_value(value: Tensor | float | Callable, *, positions: Index = None, rows: Index = None) -> HookFn:
    """A write hook that sets the activation at ``rows`` x ``positions`` to ``value``: a tensor
    broadcast to the chosen cells ``[rows, pos, d]`` (a first axis with one entry per row, or per
    input under :func:`input_rows`, gives each row its own), or a function ``value(cells, ctx)`` of
    the chosen cells.

    The write helpers are the raw engine and do what they say: ``positions=None`` (or ``"all"``) is
    every position, the BOS token and the padding included. A hook function is built before it meets
    a model, so it cannot know whether the model's tokenizer puts a BOS token first; to leave BOS
    alone pass ``positions=from_text_start(slice(1, None))``, or use an intervention
    (:class:`mechint.AddDirection`, ...), whose default does that where the tokenizer adds a BOS.
    """
    return _writer(value, positions, rows, "set")


def add_value(value: Tensor | float | Callable, *, positions: Index = None, rows: Index = None) -> HookFn:
    """A write hook that adds ``value`` to the activation at ``rows`` x ``positions`` (``value`` as
    in :func:`set_value`). ``positions=None`` is every position, BOS included, as for
    :func:`set_value`."""
    return _writer(value, positions, rows, "add")


def scale_value(value: Tensor | float | Callable, *, positions: Index = None, rows: Index = None) -> HookFn:
    """A write hook that multiplies the activation at ``rows`` x ``positions`` by ``value`` (a number
    or a tensor broadcast to the chosen cells, per row as in :func:`set_value`). ``positions=None``
    is every position, BOS included, as for :func:`set_value`."""
    return _writer(value, positions, rows, "scale")
