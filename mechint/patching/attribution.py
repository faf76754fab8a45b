"""Attribution patching: :func:`attribution_patch`, the gradient approximation of every cell of an
activation-patching sweep (one forward and one backward pass on the corrupted run), and
:func:`attribution_correlation`, how well it tracks exact patching on the same sweep.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Literal, Sequence, SupportsIndex

import torch
from torch import Tensor

from .. import _validate
from ..model import Model
from ..stats import pearson, spearman
from .metrics import Metric
from .plan import (
    Inputs,
    axis_labels,
    baseline_hooks,
    cell_valid,
    check_values,
    prepare_sweep,
    read_from_run,
    reader_hook,
    str_tokens,
)
from .result import PatchResult, check_same_sweep, nanmean, pos_from_end
from .sweep import activation_patch

__all__ = ["attribution_patch", "attribution_correlation"]


def attribution_patch(
    model: Model,
    clean: Inputs,
    corrupted: Inputs,
    metric: Metric | Callable[[Tensor], Tensor],
    *,
    component: str = "resid_pre",
    positions: SupportsIndex | Iterable[SupportsIndex] | None = None,
    layers: SupportsIndex | Iterable[SupportsIndex] | None = None,
    heads: int | Sequence[int] | None = None,
    neurons: int | Sequence[int] | None = None,
    per_position: bool | None = None,
    align: Literal["strict", "right"] = "strict",
    exact: "PatchResult | bool | None" = None,
    batch_size: int | None = None,
) -> PatchResult:
    """Attribution patching: the first-order estimate of every cell of :func:`activation_patch`.

    For each cell, ``corrupted + (a_clean - a_corrupted) . d metric / d a`` with the gradient taken
    on the corrupted run: one forward and one backward pass for the whole sweep (plus the clean run
    for ``a_clean``). The model runs in ``eval()`` mode, so dropout is off and the gradient is
    deterministic. Same arguments and result layout as :func:`activation_patch`.

    ``exact``: a :class:`PatchResult` of the same sweep, or ``True`` to compute it; then
    ``info["correlation"]`` holds :func:`attribution_correlation` of the two.

    Under hooks or interventions active around it, both runs are done under them and the gradient
    is taken at the activation as they leave it (the linearisation of :func:`activation_patch`
    under the same interventions).
    """
    _validate.integer("batch_size", batch_size, minimum=1, optional=True)
    if not (exact is None or isinstance(exact, (bool, PatchResult))):
        raise TypeError(
            f"exact must be a PatchResult of the same sweep, True, False or None, got {_validate.given(exact)}"
        )
    t_start = time.perf_counter()
    cells: dict[str, Any] = dict(  # the sweep, as activation_patch takes it too (exact=True)
        component=component, positions=positions, layers=layers, heads=heads, neurons=neurons,
        per_position=per_position, align=align,
    )  # fmt: skip
    sweep = prepare_sweep(model, clean, corrupted, metric, **cells)
    metric, prompts, plan, read_cols = sweep.metric, sweep.prompts, sweep.plan, sweep.read_cols
    m_site, unembed, sites = sweep.m_site, sweep.unembed, sweep.sites
    width, n_pairs = sweep.width, sweep.n_pairs

    # no_grad, not inference_mode: the caller's interventions may keep tensors made in this run for
    # the corrupted run, under autograd, where inference tensors cannot be saved for backward
    with torch.no_grad():
        store: dict = {}
        hooks = baseline_hooks(model, m_site, read_cols, store)
        hooks += [(sites[l], reader_hook(store, f"clean{l}", list(range(width)))) for l in plan.layers]
        with model.hooks(hooks):
            model.forward(prompts.clean, logits=False)
        clean_read = read_from_run(unembed, m_site, store).float()
        clean_site = {l: store[f"clean{l}"] for l in plan.layers}
    fn = metric.resolve(clean_read)
    pair_ids = torch.arange(n_pairs, device=clean_read.device)  # where the metric is read
    clean_val = check_values(fn(clean_read, pair_ids), n_pairs, metric, "clean").detach()

    acts: dict[int, Tensor] = {}

    def keep(l: int):
        def hook(x: Tensor, ctx):
            if ctx.site.heads is not None:  # a view: give the layer a tensor that is in the graph
                y = x.clone()
                acts[l] = y
                return y
            acts[l] = x
            return None

        return hook

    def embed_leaf(x: Tensor, ctx):
        return x.detach().requires_grad_(True)

    store = {}
    hooks = [(model.site("hook_embed"), embed_leaf)]
    hooks += [(sites[l], keep(l)) for l in plan.layers]
    hooks += baseline_hooks(model, m_site, read_cols, store, keep_graph=True)
    with torch.enable_grad(), model.hooks(hooks):
        model.forward(prompts.corrupted, logits=False)
        corrupted_vals = check_values(
            fn(read_from_run(unembed, m_site, store).float(), pair_ids), n_pairs, metric, "corrupted"
        )
        if not corrupted_vals.requires_grad:
            raise ValueError(
                f"metric {metric.name!r} is not differentiable (its output carries no gradient: argmax, a "
                "comparison or .detach() inside it): attribution patching needs the metric's gradient"
            )
        wanted = [l for l in plan.layers if acts[l].requires_grad]
        grads = torch.autograd.grad(corrupted_vals.sum(), [acts[l] for l in wanted], allow_unused=True)
    grad = {l: (g if g is not None else torch.zeros_like(acts[l])) for l, g in zip(wanted, grads)}
    corrupted_val = corrupted_vals.detach().float().cpu()

    n_cells = len(plan.cell_layer)
    attr = torch.zeros(n_pairs, n_cells)
    mask = prompts.valid.clone()
    pos_set = torch.zeros(width, dtype=torch.bool)
    pos_set[plan.positions] = True
    mask &= pos_set[None]
    per_layer: dict[int, Tensor | None] = {}  # None: no gradient reached the layer
    for l in plan.layers:
        g = grad.get(l)
        if g is None:
            per_layer[l] = None
            continue
        delta = (clean_site[l].float() - acts[l].detach().float()) * g.float()  # [B, T, ...]
        if plan.component == "z":
            delta = delta.unflatten(-1, (model.n_heads, model.d_head)).sum(-1) if delta.ndim == 3 else delta.sum(-1)
        elif plan.component != "mlp_post":
            delta = delta.sum(-1)
        per_layer[l] = delta.cpu()  # [B, T] or [B, T, units]
    for i, (l, p, u) in enumerate(zip(plan.cell_layer, plan.cell_pos, plan.cell_unit)):
        d = per_layer[l]
        if d is None:
            continue
        if p >= 0:
            attr[:, i] = d[:, p] if u < 0 else d[:, p, u]
        else:
            attr[:, i] = (d[:, :, u] * mask).sum(1)
    values = corrupted_val[:, None] + attr
    for i, ok in enumerate(cell_valid(plan, prompts)):
        values[~ok, i] = float("nan")
    toks_c, toks_k = str_tokens(model, prompts.clean_ids), str_tokens(model, prompts.corrupted_ids)
    result = PatchResult(
        values.reshape(n_pairs, *plan.grid),
        clean_val.float().cpu(),
        corrupted_val,
        component,
        plan.axes,
        axis_labels(plan, toks_k, width),
        list(plan.positions),
        toks_c,
        toks_k,
        metric.name,
        "attribution",
        {"width": width, "pos_from_end": pos_from_end(toks_k), "seconds": time.perf_counter() - t_start},
    )
    if exact is True:
        exact = activation_patch(model, clean, corrupted, metric, **cells, batch_size=batch_size)
    if isinstance(exact, PatchResult):
        result.info["correlation"] = attribution_correlation(result, exact)
    return result


def attribution_correlation(attribution: PatchResult, exact: PatchResult) -> dict:
    """How well attribution patching tracks exact patching on the same sweep.

    Returns ``pearson`` and ``spearman`` (average ranks for ties, as ``scipy.stats.spearmanr``) of
    the per-cell effects (``values - corrupted``), over every (pair, cell) both have, and
    ``pearson_mean`` over the cells of the pair-averaged effects (NaN-aware means); ``n`` cells.
    A correlation is NaN where either side is constant. The two results must be the same sweep
    (component, axes, layers, positions, heads or neurons, prompts): a difference raises.
    """
    check_same_sweep(attribution, exact)
    a, e = attribution.effect().reshape(-1), exact.effect().reshape(-1)
    ok = torch.isfinite(a) & torch.isfinite(e)
    a, e = a[ok], e[ok]
    am, em = nanmean(attribution.effect()).reshape(-1), nanmean(exact.effect()).reshape(-1)
    okm = torch.isfinite(am) & torch.isfinite(em)
    return {
        "pearson": pearson(a, e),
        "spearman": spearman(a, e),
        "pearson_mean": pearson(am[okm], em[okm]),
        "n": int(a.numel()),
    }
