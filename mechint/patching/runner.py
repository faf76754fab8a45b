"""The layer runner: the corrupted run captured layer by layer, and batches of patched runs that join
at their layer and go on through the model's own decoder layers.

:func:`capture_layers` records, during one forward, each decoder layer's input and the arguments
the model gave it (and, with a KV-cache argument, its keys and values). :class:`ChunkRunner` runs
one chunk of patched rows from there: rows join at the layer they patch, each layer is called with
the captured arguments gathered per row, the patch is written at the component's site, and the
metric is read where it reads (:class:`Unembed` computes only the logits it needs).

How this generalises across families: each decoder layer is called with exactly the arguments the
model itself gave it in the corrupted run (so Gemma 3's sliding/full layers each get their own mask
and rotary tables, BLOOM its ALiBi tensor, GPT-2 its positional mask argument). Tensors among them
with a batch axis (``[pairs, ...]``, or ``[pairs * heads, ...]`` for ALiBi) are gathered per row;
query-length axes of the known arguments (``attention_mask``, ``position_embeddings``,
``position_ids``, ``cache_position``) are cut to the computed positions. Prefix reuse needs the layer
to take a KV cache argument (``cache`` / ``past_key_values`` / ``layer_past``) and eager or SDPA
attention; otherwise every row computes all positions, with the same results.
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Iterator, Sequence, cast

import torch
from torch import Tensor, nn

from ..device_copies import DeviceCopies
from ..hooks import StopForward, input_rows
from ..model import Model, text_config
from ..sites import Site, get_submodule

__all__ = [
    "ChunkRunner",
    "LayerSignature",
    "Unembed",
    "capture_layers",
    "decoder_layers",
    "prefix_reuse_possible",
    "run_from_layers",
]

_CACHE_PARAMS = ("cache", "past_key_values", "past_key_value", "layer_past")
_QUERY_SLICED = {"attention_mask", "position_embeddings", "position_ids", "cache_position"}
_KNOWN_TENSOR_KWARGS = _QUERY_SLICED | {"alibi"}


class LayerSignature:
    """How to call one decoder layer with keyword arguments (positional ones bound to names)."""

    def __init__(self, layer: nn.Module):
        sig = inspect.signature(layer.forward)
        self.sig = sig
        params = list(sig.parameters.values())
        self.hidden = params[0].name
        self.var_kw = next((p.name for p in params if p.kind is p.VAR_KEYWORD), None)
        self.cache = next((n for n in _CACHE_PARAMS if n in sig.parameters), None)

    def bind(self, args: tuple, kwargs: dict) -> dict:
        bound = self.sig.bind_partial(*args, **kwargs).arguments
        out = {k: v for k, v in bound.items() if k != self.var_kw}
        if self.var_kw and self.var_kw in bound:
            out.update(bound[self.var_kw])
        return out


class _KVRecorder:
    """A stand-in for a KV cache during the corrupted run: keeps each layer's keys and values
    (as the attention computed them, after rotary embeddings) and returns them unchanged."""

    def __init__(self) -> None:
        self.keys: dict[int, Tensor] = {}
        self.values: dict[int, Tensor] = {}

    def update(self, key_states: Tensor, value_states: Tensor, layer_idx: int, *args, **kwargs):
        self.keys[layer_idx], self.values[layer_idx] = key_states, value_states
        return key_states, value_states


class _PrefixKV:
    """A stand-in for a KV cache during a patched chunk: prepends the corrupted run's keys and values
    of the positions before the computed ones."""

    def __init__(self) -> None:
        self.keys: dict[int, Tensor | None] = {}
        self.values: dict[int, Tensor | None] = {}

    def update(self, key_states: Tensor, value_states: Tensor, layer_idx: int, *args, **kwargs):
        pk, pv = self.keys.get(layer_idx), self.values.get(layer_idx)
        if pk is None or pv is None:  # set together; keys alone are reset to None
            return key_states, value_states
        return torch.cat([pk, key_states], dim=-2), torch.cat([pv, value_states], dim=-2)


@dataclass
class _Captured:
    """The corrupted run, layer by layer: each layer's input and the other arguments it was given."""

    hidden: dict[int, Tensor]
    kwargs: dict[int, dict[str, Any]]
    kv: _KVRecorder | None


def decoder_layers(model: Model) -> nn.ModuleList:
    return cast(nn.ModuleList, get_submodule(model.hf, model.family.layers))


@contextmanager
def capture_layers(model: Model, layers: Sequence[int], record_kv: bool) -> Iterator[_Captured]:
    mods = decoder_layers(model)
    cap = _Captured({}, {}, _KVRecorder() if record_kv else None)
    handles = []

    def pre(index: int, sig: LayerSignature):
        def hook(module, args, kwargs):
            bound = sig.bind(args, kwargs)
            cap.hidden[index] = bound.pop(sig.hidden)
            if cap.kv is not None and sig.cache is not None:
                bound[sig.cache] = cap.kv
                cap.kwargs[index] = bound
                return (cap.hidden[index],), dict(bound)
            cap.kwargs[index] = bound
            return None

        return hook

    try:
        for l in layers:
            sig = LayerSignature(mods[l])
            # prepend: the layer's input as the previous layer gave it, before any hook of the
            # caller's at this layer (a row that joins here runs the layer, and those hooks, once)
            handles.append(mods[l].register_forward_pre_hook(pre(l, sig), with_kwargs=True, prepend=True))
        yield cap
    finally:
        for h in handles:
            h.remove()


def prefix_reuse_possible(model: Model, sig: LayerSignature, kwargs: dict) -> bool:
    """Whether a layer can compute a suffix of positions against recorded prefix keys/values."""
    if sig.cache is None:
        return False
    impl = getattr(model.hf.config, "_attn_implementation", None) or "eager"
    if impl not in ("eager", "sdpa"):
        return False
    for name, value in kwargs.items():
        if isinstance(value, Tensor) and name not in _KNOWN_TENSOR_KWARGS:
            return False
        if (
            isinstance(value, (tuple, list))
            and any(isinstance(v, Tensor) for v in value)
            and name not in _KNOWN_TENSOR_KWARGS
        ):
            return False
    mask = kwargs.get("attention_mask")
    return mask is None or (isinstance(mask, Tensor) and mask.ndim == 4)


def _take_rows(t: Tensor, src: Tensor, batch: int, single: int | None) -> Tensor:
    """Rows of a tensor captured in the baseline run (``batch`` rows, or ``batch * k`` such as
    BLOOM's ALiBi ``[batch * heads, 1, keys]``) for each patched row; ``src`` holds each patched row's
    source row. ``single``: the one source row every patched row has (known on the host: a view, no
    copy). Tensors shared by the whole batch (leading 1) broadcast as they are."""
    n = src.shape[0]
    if t.ndim < 2 or t.shape[0] == 1 or t.shape[0] % batch:
        return t
    if single is None and src.device != t.device:  # a layer on another device than the row indices
        src = src.to(t.device)
    k = t.shape[0] // batch
    grouped = t.reshape(batch, k, *t.shape[1:])
    if single is not None:
        grouped = grouped.narrow(0, single, 1).expand(n, *grouped.shape[1:])
    else:
        grouped = grouped.index_select(0, src)
    return grouped.reshape(n * k, *t.shape[1:])


def _query_cut(name: str, t: Tensor, start: int) -> Tensor:
    if start == 0 or name not in _QUERY_SLICED:
        return t
    if name == "attention_mask":
        return t[:, :, start:]
    if name == "cache_position":
        return t[start:]
    return t[:, start:]  # position_embeddings (cos/sin) and position_ids: [batch, pos, ...]


def _causal_suffix_mask(width: int, start: int, device) -> Tensor:
    q = torch.arange(start, width, device=device)[:, None]
    k = torch.arange(width, device=device)[None, :]
    return (k <= q)[None, None]  # [1, 1, width - start, width], True = attend


def _gather_kwargs(
    kwargs: dict, src: Tensor, batch: int, single: int | None, start: int, width: int, memo: dict
) -> dict:
    out = {}
    for name, value in kwargs.items():
        if name == "attention_mask" and value is None and start > 0:
            key = ("causal", start)
            if key not in memo:
                memo[key] = _causal_suffix_mask(width, start, src.device)
            out[name] = memo[key]
            continue
        out[name] = _gather_value(name, value, src, batch, single, start, memo)
    return out


def _gather_value(name: str, value, src: Tensor, batch: int, single: int | None, start: int, memo: dict):
    if isinstance(value, Tensor):
        key = (id(value), src.shape[0], start)
        got = memo.get(key)
        if got is None:
            got = _query_cut(name, _take_rows(value, src, batch, single), start)
            memo[key] = got
        return got
    if isinstance(value, tuple):
        return tuple(_gather_value(name, v, src, batch, single, start, memo) for v in value)
    if isinstance(value, list):
        return [_gather_value(name, v, src, batch, single, start, memo) for v in value]
    return value


class Unembed:
    """Logits from final-norm outputs: the LM head, and the final soft-capping where the model has it.
    With ``tokens``, only those vocabulary rows of the LM head are used."""

    def __init__(self, model: Model, tokens: Sequence[int] | None = None):
        self.head = get_submodule(model.hf, model.family.lm_head)
        self.cap = getattr(text_config(model.hf.config), "final_logit_softcapping", None)
        self.weight = self.bias = self.columns = None
        if tokens is not None:
            if not isinstance(self.head, nn.Linear):
                raise TypeError(
                    f"the LM head is a {type(self.head).__name__}, not a Linear: cannot unembed chosen tokens"
                )
            ids = torch.tensor(list(tokens))
            if int(ids.max()) >= self.head.weight.shape[0] or int(ids.min()) < 0:
                raise ValueError(f"metric token ids must be in 0..{self.head.weight.shape[0] - 1}")
            if self.head.weight.device.type == "meta":
                # an offloaded head (accelerate) has its weights only during its own forward: run it
                # whole and keep the chosen columns
                self.columns = DeviceCopies(ids)
            else:
                ids = ids.to(self.head.weight.device)
                self.weight = self.head.weight.index_select(0, ids)
                self.bias = None if self.head.bias is None else self.head.bias.index_select(0, ids)

    def __call__(self, normed: Tensor) -> Tensor:
        if self.weight is not None:
            # called directly, not through the module: the input goes where the head's weights are
            logits = nn.functional.linear(normed.to(self.weight.device), self.weight, self.bias)
        else:
            logits = self.head(normed)
            if self.columns is not None:
                logits = logits[..., self.columns.on(logits.device)[0]]
        if self.cap:
            logits = torch.tanh(logits / self.cap) * self.cap
        return logits


def _final_norm(model: Model) -> nn.Module:
    return model.site("ln_final.hook_normalized").module


@contextmanager
def _only_columns(module: nn.Module, cols: list[int], width: int) -> Iterator[None]:
    """Run ``module`` at positions ``cols`` only: every tensor argument ``[rows, width, ...]`` is cut
    to those columns, and the output is scattered into zeros of the full shape (the other positions'
    values are not used by the caller)."""
    forward = module.forward
    idx = torch.tensor(cols, dtype=torch.long)

    def cut(a):
        return a[:, idx.to(a.device)] if isinstance(a, Tensor) and a.ndim >= 2 and a.shape[1] == width else a

    def partial(*args, **kwargs):
        out = forward(*(cut(a) for a in args), **{k: cut(v) for k, v in kwargs.items()})
        full = out.new_zeros(out.shape[0], width, *out.shape[2:])
        full[:, idx.to(out.device)] = out
        return full

    own = module.__dict__.get("forward")  # an instance-level forward (e.g. set by a wrapper) is kept
    module.forward = partial
    try:
        yield
    finally:
        if own is None:
            del module.forward
        else:
            module.forward = own


def run_from_layers(model: Model, cap: _Captured, batch: int, joins: dict[int, tuple[Tensor, Tensor]]) -> Tensor:
    """Rows that join the model at a decoder layer and run from there through the last one, each
    layer called with the arguments the captured run (``cap``, ``batch`` rows) gave it, gathered per
    row; every position is computed. ``joins[l] = (src [n_l], h [n_l, pos, d])``: the captured row
    whose arguments (mask, positions) each new row takes, and the rows' input to layer ``l`` (e.g.
    the captured input with an edit). Rows stay in join order (by layer, then as given). Returns the
    last layer's output ``[rows, pos, d]`` (before the final norm). Layers before the first join are
    not run: a sweep of edits at many layers costs each row only the layers after its own."""
    layers = decoder_layers(model)
    width = next(iter(joins.values()))[1].shape[1]
    memo: dict = {}
    h: Tensor | None = None
    src: Tensor | None = None
    for k in range(min(joins), len(layers)):
        if k in joins:
            s_new, h_new = joins[k]
            h = h_new if h is None else torch.cat([h, h_new])
            src = s_new if src is None else torch.cat([src, s_new])
        assert h is not None and src is not None  # the first layer, min(joins), is a join
        kw = _gather_kwargs(cap.kwargs[k], src, batch, None, 0, width, memo)
        out = layers[k](h, **kw)
        h = out[0] if isinstance(out, tuple) else out
    assert h is not None  # at least the first layer ran
    return h


class ChunkRunner:
    """Runs one chunk: rows join at their layer from the corrupted run's cached input, the model's
    decoder layers are called in order with the arguments the model gave them, the patch is written
    at the component's site, and the metric is read where it reads."""

    def __init__(self, model, plan, prompts, cap, clean_site, m_site, read_cols, fn, last_layer, unembed):
        self.unembed = unembed
        self.model, self.plan, self.prompts, self.cap = model, plan, prompts, cap
        self.clean_site, self.m_site, self.read_cols, self.fn = clean_site, m_site, read_cols, fn
        self.last_layer = last_layer
        self.layers = decoder_layers(model)
        self.sigs = {l: LayerSignature(self.layers[l]) for l in cap.kwargs}
        self.n_pairs = prompts.n
        self.batch = 2 * prompts.n  # the baseline run held clean rows, then corrupted rows
        self.single = prompts.n if prompts.n == 1 else None  # one pair: every row starts from row 1
        self.width = prompts.width
        self.final_norm = _final_norm(model)
        pos_set = torch.zeros(prompts.width, dtype=torch.bool)
        pos_set[plan.positions] = True
        self.patch_mask = DeviceCopies(prompts.valid.cpu() & pos_set[None])  # [pairs, width], on each layer's device
        # The caller's hooks and interventions (active around the sweep) run in every patched forward
        # as in a plain one: rows= counts prompt pairs and positions are absolute (input_rows), the
        # patch is written and the metric read after them, at their site, through the hook engine.
        self.user_hooks = model.active_hooks > 0
        # each pair's left padding in the corrupted prompts, for hooks with from_text_start positions
        self.pad = (prompts.corrupted["attention_mask"].cpu() != 0).long().cumsum(-1).eq(0).sum(-1)
        self.direct = plan.key in ("hook_resid_pre", "hook_resid_post") and not self.user_hooks
        mkey = m_site.key if m_site is not None and m_site.layer is not None else None
        self.metric_direct = mkey in ("hook_resid_pre", "hook_resid_post") and not self.user_hooks
        self.metric_final = m_site is not None and m_site.layer is None and m_site.name == "ln_final.hook_normalized"
        # At the last layer computed, only the positions the metric reads are used: its MLP (most of a
        # layer's cost) runs at those positions only, when nothing else hooks into that MLP (no other
        # hooks active, no patch or metric read inside the layer's MLP, the metric read after it).
        self.by_hook = m_site is not None and not self.metric_direct and not self.metric_final  # read by a hook
        mlp_path = model.family.mlp
        comp_in_mlp = model.family.block_sites[plan.key].path.startswith(mlp_path)
        self.trim_mlp = (
            not self.by_hook
            and not comp_in_mlp
            and model.active_hooks == 0
            and not (m_site is not None and self.metric_direct and m_site.key == "hook_resid_pre")
        )
        self.last_mlp = self.layers[last_layer].get_submodule(mlp_path) if self.trim_mlp else None

    # ---- the write at the component's site, for the rows that joined at this layer
    def _write(
        self, x: Tensor, local: Tensor, pairs: Tensor, pos: Tensor, units: Tensor, clean: Tensor, start: int
    ) -> Tensor:
        plan = self.plan
        # the row indices live on the model's input device, the activation (and the clean one, read
        # at the same site) on its layer's, which may differ under a device map
        if pairs.device != x.device:
            pairs, pos, units = pairs.to(x.device), pos.to(x.device), units.to(x.device)
        if clean.device != x.device:
            clean = clean.to(x.device)
        if plan.per_position:
            cols = pos - start
            if plan.component in ("z", "mlp_post"):
                return x.index_put((local, cols, units), clean[pairs, pos, units])
            return x.index_put((local, cols), clean[pairs, pos])
        # z / mlp_post at all chosen positions at once
        (mask,) = self.patch_mask.on(x.device)
        mask = mask[pairs][:, start:]  # [n, cols]
        out = x.clone()
        cur = out[local, :, units]  # [n, cols(, d_head)]
        new = clean[pairs, start:, units]
        if cur.ndim == 3:
            mask = mask[..., None]
        out[local, :, units] = torch.where(mask, new, cur)
        return out

    def run(self, chunk: dict, dev: dict[str, Tensor]) -> Tensor:
        model, plan, cap = self.model, self.plan, self.cap
        start, joins = chunk["start"], chunk["joins"]
        count = chunk["count_upto"]
        first = chunk["first"]
        pairs_all, pos_all, unit_all = dev["pair"], dev["pos"], dev["unit"]
        pairs_cpu = chunk["pairs_cpu"]  # the same pair indices on the host, for the caller's hooks
        memo: dict = {}
        prefix = _PrefixKV()
        reads: dict[str, Tensor] = {}
        hooks = []
        n_active = 0
        # the component's write, through the hook engine, at sites inside a layer
        if not self.direct:
            for l, (lo, hi) in joins.items():

                def write(x, ctx, lo=lo, hi=hi, l=l):
                    local = torch.arange(lo, hi, device=x.device)
                    return self._write(
                        x, local, pairs_all[lo:hi], pos_all[lo:hi], unit_all[lo:hi], self.clean_site[l], start
                    )

                hooks.append((self.plan_site(l), write))
        cols = [c - start for c in self.read_cols]  # the metric's positions among the computed ones
        if self.by_hook:

            def read_metric(x, ctx):
                reads["m"] = x[:, cols]
                return None

            hooks.append((self.m_site, read_metric))
        h: Tensor | None = None
        stopped = False
        with model.hooks(hooks, stop_after=self.m_site if self.by_hook else None):
            for k in range(first, self.last_layer + 1):
                if k in joins:
                    lo, hi = joins[k]
                    pairs = pairs_all[lo:hi]
                    h_new = _take_rows(
                        cap.hidden[k][:, start:], pairs + self.n_pairs, self.batch, self.single
                    ).contiguous()
                    if self.direct and plan.key == "hook_resid_pre":
                        h_new = self._write(
                            h_new,
                            torch.arange(hi - lo, device=h_new.device),
                            pairs,
                            pos_all[lo:hi],
                            unit_all[lo:hi],
                            self.clean_site[k],
                            start,
                        )
                    h = h_new if h is None else torch.cat([h, h_new])
                    n_active = count[k]
                assert h is not None  # the first layer, chunk["first"], is a join
                if self.metric_direct and self.m_site.layer == k and self.m_site.key == "hook_resid_pre":
                    reads["m"] = h[:, cols]
                    stopped = True
                    break
                src = pairs_all[:n_active] + self.n_pairs  # the corrupted rows of the baseline run
                kw = _gather_kwargs(cap.kwargs[k], src, self.batch, self.single, start, self.width, memo)
                sig = self.sigs[k]
                if cap.kv is not None and sig.cache is not None and sig.cache in kw:
                    if start > 0:
                        prefix.keys[k] = _take_rows(cap.kv.keys[k][:, :, :start], src, self.batch, self.single)
                        prefix.values[k] = _take_rows(cap.kv.values[k][:, :, :start], src, self.batch, self.single)
                    else:
                        prefix.keys[k] = None
                    kw[sig.cache] = prefix
                try:
                    with (
                        input_rows(pairs_cpu[:n_active], self.n_pairs, offset=start, pad=self.pad)
                        if self.user_hooks
                        else nullcontext()
                    ):
                        if k == self.last_layer and self.last_mlp is not None:  # set exactly when trim_mlp
                            with _only_columns(self.last_mlp, cols, h.shape[1]):
                                out = self.layers[k](h, **kw)
                        else:
                            out = self.layers[k](h, **kw)
                except StopForward:
                    stopped = True
                    break
                h = cast(Tensor, out[0] if isinstance(out, tuple) else out)  # a decoder layer's hidden states
                if self.direct and plan.key == "hook_resid_post" and k in joins:
                    lo, hi = joins[k]
                    local = torch.arange(lo, hi, device=h.device)
                    h = self._write(
                        h, local, pairs_all[lo:hi], pos_all[lo:hi], unit_all[lo:hi], self.clean_site[k], start
                    )
                if self.metric_direct and self.m_site.layer == k:
                    reads["m"] = h[:, cols]
                    stopped = True
                    break
        if "m" in reads:
            read = reads["m"]
        else:
            if stopped:
                raise RuntimeError("the patched forward stopped before the metric's site")
            assert h is not None  # the layers from chunk["first"] on ran
            if self.user_hooks:
                # the final norm is a site (ln_final.hook_normalized): the caller's hooks there see
                # every computed position, at its absolute position, as in a plain forward
                with input_rows(pairs_cpu, self.n_pairs, offset=start, pad=self.pad):
                    read = self.final_norm(h)[:, cols]
            else:
                read = self.final_norm(h[:, cols])
            if not self.metric_final:
                read = self.unembed(read)
        return self.fn(read.float(), pairs_all.to(read.device))

    def plan_site(self, l: int) -> Site:
        return self.model.site(f"blocks.{l}.{self.plan.key}")
