"""Activation patching, batched: :func:`activation_patch` and :func:`auto_batch_size`.

Activation patching runs a corrupted prompt, puts back one activation from the clean prompt, and
measures how much of the clean behaviour returns, for every layer x position (or head, or neuron) of
one component. :func:`activation_patch` does every cell of the sweep for many prompt pairs at once:

- **Batched.** Each patched run is one row of a batch: the corrupted run is tiled into rows, one
  per (cell, pair), chunked to fit the device's memory (:func:`auto_batch_size`, or ``batch_size``).
  Nothing waits on the device between cells: every index is built on the host up front and uploaded
  once, and the metric values leave the device once, at the end.
- **Starts at the patched layer.** The corrupted run is done once and its per-layer inputs are
  kept, with the keyword arguments the model passed each decoder layer (attention mask, rotary
  position embeddings, ALiBi, ...), captured by a forward pre-hook. A row whose cell is at layer
  ``l`` joins the batch at layer ``l`` from the cached corrupted input; the model's own decoder-layer
  modules are called in order. No layer's math is reimplemented.
- **Reuses the unchanged prefix.** In a causal model, patching position ``p`` cannot change
  positions before ``p``: those keys and values are the corrupted run's, recorded once (the layer's
  own KV-cache ``update`` call) and prepended, so only positions from ``min(p, first position the
  metric reads)`` on are computed.
- **Unembeds only what the metric reads.** The final norm and the LM head run on the metric's
  positions only (a :class:`~mechint.patching.metrics.Metric` declares them); a metric at a site
  stops the forward there and never unembeds.
- **Skips cells that patch nothing.** Where a pair's clean activation equals its corrupted one bit
  for bit (compared in the corrupted run, which holds both prompts), the patched run would be the
  corrupted run: the cell gets the corrupted metric without running. In a minimal pair that is
  every position before the first token that differs, at every layer, and at the embedding every
  position whose token agrees.

The layer runner (capturing the corrupted run, running a chunk of patched rows) is in
:mod:`mechint.patching.runner`; the sweep's arguments are resolved in :mod:`mechint.patching.plan`.
"""

from __future__ import annotations

import time
import warnings
from typing import Callable, Iterable, Literal, Sequence, SupportsIndex

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .. import _validate
from ..hooks import input_rows
from ..model import Model
from .metrics import Metric
from .plan import (
    Inputs,
    Plan,
    Prompts,
    axis_labels,
    baseline_hooks,
    cell_valid,
    check_values,
    prepare_sweep,
    read_from_run,
    reader_hook,
    str_tokens,
)
from .result import PatchResult, pos_from_end
from .runner import ChunkRunner, LayerSignature, capture_layers, decoder_layers, prefix_reuse_possible

__all__ = ["activation_patch", "auto_batch_size"]


# ============================================================================================
# Auto batch size
# ============================================================================================


def _free_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        reserved_unused = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + reserved_unused)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 1024**3


def _row_bytes(model: Model, width: int, suffix: int, n_read: int) -> int:
    """Memory of one patched run that computes ``suffix`` positions of a ``width``-token prompt: its
    activations at one layer (residual, attention and MLP intermediates, scores against all keys),
    the prefix keys/values it attends to, and ``n_read`` positions of logits."""
    item = torch.finfo(model.dtype).bits // 8
    d, d_mlp = model.d_model, model.d_mlp
    attn = model.n_heads * model.d_head
    per_token = (8 * d + 4 * d_mlp + 3 * attn) * item + model.n_heads * width * 4 + width
    return suffix * per_token + n_read * model.d_vocab * 4 * 3 + 2 * width * model.n_kv_heads * model.d_head * item


def _default_tokens(device: torch.device) -> int:
    return 16384 if device.type == "cuda" else 1024


def auto_batch_size(
    model: Model, seq_len: int, n_read: int = 1, *, fraction: float = 0.4, tokens_per_batch: int | None = None
) -> int:
    """Patched runs (rows) per forward pass for prompts of ``seq_len`` tokens, all computed.

    Memory: a row holds its activations at one layer at a time (residual, attention and MLP
    intermediates, attention scores) and ``n_read`` positions of logits; ``fraction`` of the free
    memory (CUDA: free + cached; CPU: MemAvailable) is used. Speed: every batch costs one call per
    layer of fixed overhead (on a GPU it dominates small batches), while a batch
    holds patched runs that start at nearby positions and all compute from the earliest of them.
    ``tokens_per_batch`` caps rows x computed positions (default 16384 on CUDA, 1024 on CPU, where
    compute dominates). :func:`activation_patch` applies this per batch to the positions it
    computes: a batch of runs that start late (a short suffix) holds more of them.
    """
    return _auto_limit(model, seq_len, n_read, fraction=fraction, tokens_per_batch=tokens_per_batch)(0)


def _compute_devices(model: Model) -> list[torch.device]:
    """The devices the model's input embedding and decoder layers compute on (one, unless a device
    map spreads them)."""
    from ..placement import execution_device

    found = {model.device}
    for layer in decoder_layers(model):
        device = execution_device(layer)
        if device is not None:
            found.add(device)
    return sorted(found, key=str)


def _auto_limit(model: Model, width: int, n_read: int, *, fraction: float = 0.4, tokens_per_batch: int | None = None):
    """``limit(start) -> rows``: how many patched runs that compute positions ``start..width-1``
    fit one forward pass (by memory and by ``tokens_per_batch``)."""
    # under a device map every device a layer computes on holds one batch's activations: the
    # smallest free memory among them bounds the batch
    devices = _compute_devices(model)
    free = min(_free_bytes(d) for d in devices) * fraction
    main = next((d for d in devices if d.type == "cuda"), model.device)
    tokens = tokens_per_batch if tokens_per_batch is not None else _default_tokens(main)

    def limit(start: int) -> int:
        suffix = max(width - start, 1)
        by_memory = int(free // max(_row_bytes(model, width, suffix, n_read), 1))
        return max(1, min(by_memory, tokens // suffix))

    return limit


# ============================================================================================
# activation_patch
# ============================================================================================


def activation_patch(
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
    batch_size: int | None = None,
    tokens_per_batch: int | None = None,
    align: Literal["strict", "right"] = "strict",
    prefix_reuse: bool = True,
    skip_unchanged: bool = True,
    progress: bool | str = False,
) -> PatchResult:
    """Patch clean activations into the corrupted run, one cell at a time, for every cell of a sweep.

    Args:
        model: the model.
        clean, corrupted: one prompt each, or one per pair (strings, token-id lists, or ``[pairs, pos]``
            tensors without padding). Each pair's two prompts must have the same token length
            (:class:`PromptLengthError` names the pair and both lengths) unless ``align="right"``.
            Pairs may differ in length from each other: prompts are left-padded to a common width
            and positions are indices into that width (``-1`` is every prompt's last token).
        metric: a :class:`~mechint.patching.metrics.Metric` (it declares the positions or site it
            reads, so only those are computed), or a callable ``f(logits [n, pos, vocab]) -> [n]``.
        component: ``resid_pre``, ``resid_mid``, ``resid_post``, ``attn_out``, ``mlp_out`` (grid
            layer x position), ``z`` (layer x head, each head at all ``positions`` at once; or layer x
            position x head with ``per_position=True``), ``mlp_post`` (the chosen ``neurons``: layer x
            neuron, or layer x position x neuron).
        positions: the positions swept (default all); for ``z``/``mlp_post`` without
            ``per_position``, the positions patched together.
        layers: the layers swept (default all).
        heads, neurons: the heads (``z``, default all) or MLP neurons (``mlp_post``, required) swept.
        batch_size: patched runs per forward pass (default: per chunk, by free memory and a budget
            of computed positions, see :func:`auto_batch_size`). Results do not depend on it beyond
            float rounding.
        tokens_per_batch: with the automatic batch size, the budget of patched runs x computed
            positions per forward (default 16384 on CUDA, 1024 on CPU).
        align: ``"strict"`` (default) or ``"right"``: a pair's prompts are aligned at their last token;
            cells where either prompt has no token are NaN for that pair.
        prefix_reuse: compute only the positions a patch can change (default); ``False`` computes
            every position of every row (same results; for benchmarking).
        skip_unchanged: a cell whose clean activation equals the corrupted run's bit for bit (a
            position before the prompts' first difference, or any position whose token is the same
            at the embedding) would rerun the corrupted run; it gets the corrupted metric without
            running (default). ``False`` runs it (same results up to float rounding).
        progress: show a progress bar over chunks (a string sets its label).

    Hooks and interventions active around the sweep (``with intervene(model, ...)``) act in every run
    as in one plain forward per cell: the clean and corrupted runs and the clean activations are
    read under them, the patch is written after them at its site, their positions are absolute
    positions of the prompts, and their ``rows=`` (and per-row values) count prompt pairs.

    Returns:
        a :class:`PatchResult` with ``values [pairs, *grid]``, the clean and corrupted metrics, and
        token labels; ``.mean()``, ``.normalized()``, ``.to_dataframe()``.
    """
    t_start = time.perf_counter()
    sweep = prepare_sweep(
        model,
        clean,
        corrupted,
        metric,
        component=component,
        positions=positions,
        layers=layers,
        heads=heads,
        neurons=neurons,
        per_position=per_position,
        align=align,
    )
    for name, value in (("batch_size", batch_size), ("tokens_per_batch", tokens_per_batch)):
        _validate.integer(name, value, minimum=1, optional=True)
    metric, prompts, plan, read_cols = sweep.metric, sweep.prompts, sweep.plan, sweep.read_cols
    m_site, unembed, comp_sites = sweep.m_site, sweep.unembed, sweep.sites
    width, n_pairs = sweep.width, sweep.n_pairs
    device = model.device

    # Only cells that can change the metric are computed; the others keep the corrupted value.
    live_layers = [l for l in plan.layers if sweep.reaches_metric(l)]
    first = min(live_layers) if live_layers else None
    last_layer = model.n_layers - 1 if m_site is None or m_site.layer is None else m_site.layer

    with torch.inference_mode():
        # -- one forward over both prompts of every pair (rows 0..B-1 clean, B..2B-1 corrupted): the
        #    clean component at the swept layers, the metric of both, and each layer's input and
        #    arguments (and keys/values) for the corrupted rows to start from
        store: dict = {}
        hooks = baseline_hooks(model, m_site, read_cols, store)
        hooks += [
            (comp_sites[l], reader_hook(store, f"clean{l}", list(range(width)), rows=n_pairs)) for l in live_layers
        ]
        if skip_unchanged:
            hooks += [(comp_sites[l], _unchanged_reader(store, f"same{l}", n_pairs, plan)) for l in live_layers]
        capture = list(range(first, last_layer + 1)) if first is not None else []
        both = {k: torch.cat([prompts.clean[k], prompts.corrupted[k]]) for k in prompts.clean}
        # rows= of the caller's hooks and interventions count prompt pairs: both rows of pair i are input i
        pair_of_row = torch.arange(n_pairs).repeat(2)
        with (
            capture_layers(model, capture, record_kv=prefix_reuse) as cap,
            model.hooks(hooks),
            input_rows(pair_of_row, n_pairs),
        ):
            model.forward(both, logits=False)
        read = read_from_run(unembed, m_site, store).float()
        clean_read, corrupted_read = read[:n_pairs], read[n_pairs:]
        clean_site = {l: store[f"clean{l}"] for l in live_layers}
        fn = metric.resolve(clean_read)
        pair_ids = torch.arange(n_pairs, device=read.device)  # where the metric is read (the last layers)
        clean_val = check_values(fn(clean_read, pair_ids), n_pairs, metric, "clean")
        corrupted_val = check_values(fn(corrupted_read, pair_ids), n_pairs, metric, "corrupted")

        reuse = (
            prefix_reuse
            and first is not None
            and all(
                prefix_reuse_possible(model, LayerSignature(decoder_layers(model)[l]), cap.kwargs[l]) for l in capture
            )
        )
        unchanged = {l: store[f"same{l}"].cpu().numpy() for l in live_layers} if skip_unchanged else None
        rows = _rows_plan(plan, prompts, read_cols, sweep.reaches_metric, reuse, unchanged)
        n_rows = len(rows["pair"])
        if batch_size is None:
            limit = _auto_limit(model, width, len(read_cols), tokens_per_batch=tokens_per_batch)
        else:
            limit = lambda start: batch_size  # noqa: E731
        values_dev = torch.empty(n_rows, dtype=torch.float32, device=device)
        chunks = _chunks(rows, limit)
        order = torch.tensor([i for c in chunks for i in c["rows"]], dtype=torch.long)
        dev = _upload(rows, order, device)
        engine = ChunkRunner(model, plan, prompts, cap, clean_site, m_site, read_cols, fn, last_layer, unembed)
        bar = tqdm(chunks, desc=progress if isinstance(progress, str) else "patch", disable=not progress, unit="chunk")
        offset = 0
        with warnings.catch_warnings():
            # a caller's hook at positions before a chunk's first computed one does nothing in that
            # chunk (those positions are the corrupted run's, where it did act): not worth a warning
            warnings.filterwarnings("ignore", message=r"positions .* are outside the", category=UserWarning)
            for chunk in bar:
                size = len(chunk["rows"])
                values_dev[offset : offset + size] = engine.run(
                    chunk, {k: v[offset : offset + size] for k, v in dev.items()}
                )
                offset += size

        values_rows = values_dev.cpu()
        clean_val, corrupted_val = clean_val.float().cpu(), corrupted_val.float().cpu()

    n_cells = len(plan.cell_layer)
    values = corrupted_val[:, None].repeat(1, n_cells)
    # cells that do not exist for a pair
    for i, ok in enumerate(cell_valid(plan, prompts)):
        values[~ok, i] = float("nan")
    cell_of = torch.as_tensor(rows["cell"], dtype=torch.long)[order]
    pair_of = torch.as_tensor(rows["pair"], dtype=torch.long)[order]
    values[pair_of, cell_of] = values_rows
    toks_c, toks_k = str_tokens(model, prompts.clean_ids), str_tokens(model, prompts.corrupted_ids)
    info = {
        "batch_size": max((len(c["rows"]) for c in chunks), default=0),
        "chunks": len(chunks),
        "rows": n_rows,
        "unchanged_skipped": rows["skipped"],
        "prefix_reuse": reuse,
        "last_mlp_at_read_positions": engine.trim_mlp,
        "width": width,
        "pos_from_end": pos_from_end(toks_k),
        "read_positions": read_cols,
        "seconds": time.perf_counter() - t_start,
    }
    return PatchResult(
        values.reshape(n_pairs, *plan.grid),
        clean_val,
        corrupted_val,
        component,
        plan.axes,
        axis_labels(plan, toks_k, width),
        list(plan.positions),
        toks_c,
        toks_k,
        metric.name,
        "exact",
        info,
    )


def _unchanged_reader(store: dict, key: str, n_pairs: int, plan: "Plan"):
    """A hook on the baseline run (clean rows, then corrupted rows) that keeps where each pair's
    clean activation equals its corrupted one bit for bit: ``[pairs, pos]`` (a whole vector per
    position), ``[pairs, pos, head]`` for ``z``, ``[pairs, pos, i]`` for ``mlp_post`` (the plan's
    ``i``-th neuron)."""
    neurons = plan.units if plan.component == "mlp_post" else None

    def fn(x: Tensor, ctx) -> None:
        if neurons is not None:
            x = x[..., neurons]
        eq = x[:n_pairs] == x[n_pairs : 2 * n_pairs]
        store[key] = eq if neurons is not None else eq.all(-1)

    return fn


def _rows_plan(
    plan: Plan, prompts: Prompts, read_cols: list[int], reaches, reuse: bool, unchanged: dict | None = None
) -> dict[str, list[int]]:
    """One row per (cell, pair) that must be computed, with the layer it joins at and the first
    position it computes. ``unchanged[layer]``: where the clean activation equals the corrupted
    one (:func:`_unchanged_reader`); those rows are left out (``rows["skipped"]`` counts them)."""
    read_min = min(read_cols)
    all_start = min(min(plan.positions), read_min)
    rows: dict = {"cell": [], "pair": [], "layer": [], "start": [], "pos": [], "unit": [], "skipped": 0}
    valid = prompts.valid.cpu().numpy()
    # the unit axis of ``unchanged``: heads by index; mlp_post keeps the plan's neurons only
    unit_at = {u: k for k, u in enumerate(plan.units)} if plan.component == "mlp_post" else None
    patched = [[q for q in plan.positions if valid[b, q]] for b in range(prompts.n)]  # all-positions cells
    for i, (l, p, u) in enumerate(zip(plan.cell_layer, plan.cell_pos, plan.cell_unit)):
        if not reaches(l):
            continue
        start = (min(p, read_min) if p >= 0 else all_start) if reuse else 0
        for b in range(prompts.n):
            if not (valid[b, p] if p >= 0 else patched[b]):
                continue  # a cell the pair does not have (NaN, as :func:`cell_valid` says)
            if unchanged is not None:
                same = unchanged[l][b, p] if p >= 0 else unchanged[l][b, patched[b]]
                if u >= 0:
                    same = same[..., u if unit_at is None else unit_at[u]]
                if same.all():
                    rows["skipped"] += 1
                    continue
            rows["cell"].append(i)
            rows["pair"].append(b)
            rows["layer"].append(l)
            rows["start"].append(start)
            rows["pos"].append(p)
            rows["unit"].append(u)
    return rows


def _chunks(rows: dict[str, list[int]], limit: Callable[[int], int]) -> list[dict]:
    """Rows sorted by first computed position, then layer; cut into chunks of at most
    ``limit(chunk's first position)`` rows; within a chunk, rows are ordered by the layer they join
    at, so the rows active at a layer are a prefix of the chunk."""
    n = len(rows["pair"])
    order = sorted(range(n), key=lambda i: (rows["start"][i], rows["layer"][i], rows["cell"][i], rows["pair"][i]))
    groups: list[list[int]] = []
    cap = 0  # the open group's limit, from its first (earliest-starting) row
    for i in order:
        if groups and len(groups[-1]) < cap:
            groups[-1].append(i)
        else:
            groups.append([i])
            cap = limit(rows["start"][i])
    chunks = []
    for ids in groups:
        ids.sort(key=lambda i: rows["layer"][i])  # stable
        layers = [rows["layer"][i] for i in ids]
        joins: dict[int, tuple[int, int]] = {}
        for j, l in enumerate(layers):
            lo, _ = joins.get(l, (j, j))
            joins[l] = (lo, j + 1)
        chunks.append(
            {
                "rows": ids,
                "start": min(rows["start"][i] for i in ids),
                "joins": joins,
                "first": layers[0],
                "count_upto": _cumulative(layers),
                "pairs_cpu": torch.tensor([rows["pair"][i] for i in ids], dtype=torch.long),
            }
        )
    return chunks


def _cumulative(layers: list[int]) -> dict[int, int]:
    """For each layer in the chunk, how many rows are active once it has joined."""
    out: dict[int, int] = {}
    for j, l in enumerate(layers):
        out[l] = j + 1
    return out


def _upload(rows: dict[str, list[int]], order: Tensor, device: torch.device) -> dict[str, Tensor]:
    """The per-row indices, in processing order, on the device in one copy."""
    packed = torch.tensor([rows["pair"], rows["pos"], rows["unit"]], dtype=torch.long)[:, order]
    if device.type == "cuda":
        packed = packed.pin_memory().to(device, non_blocking=True)
    else:
        packed = packed.to(device)
    return {"pair": packed[0], "pos": packed[1], "unit": packed[2]}
