"""The refusal direction (Arditi et al., arXiv 2406.11717): extract, select, ablate, add.

A chat model's refusal is mediated by one direction in its residual stream: the difference of the
mean activations of harmful and harmless instructions, read at the template tokens after the
instruction (Gemma's ``<end_of_turn>\\n<start_of_turn>model\\n``). Ablating it everywhere makes the
model answer harmful requests; adding it makes it refuse harmless ones. Wang et al. (arXiv 2505.17306)
found the direction shared across languages.

The method, as in the paper:

1. **Candidates** (:func:`candidate_directions`): one difference of means per layer (at
   ``hook_resid_pre``, the layer's input) and per post-instruction position, on *train* prompts.
2. **Scores** (:func:`score_candidates`), on *val* prompts, each read from the next-token logits at
   the first response position (:func:`~mechint.refusal.refusal_log_odds`, no generation):
   ``bypass``, the mean refusal score of harmful prompts with the candidate ablated everywhere;
   ``induce``, the mean refusal score of harmless prompts with the candidate added at its layer;
   ``kl``, the KL divergence of harmless prompts' next-token distribution, clean to ablated.
3. **Selection** (:func:`select_refusal_direction`): the lowest ``bypass`` among candidates with
   ``induce > 0``, ``kl < 0.1`` and a layer below 80% of the depth (later layers write the output
   more than they decide it). The whole scored table is kept (:meth:`RefusalDirection.table`).

Scoring is a sweep like patching: ``layers x positions`` candidates, each scored by two interventions
on the val prompts. It is batched: ``candidates_per_forward`` copies of each prompt batch run in one
forward, each copy with its own direction (``per_row`` interventions), and the LM head runs at the
last position only. ``candidates_per_forward=1`` is the one-candidate-per-forward loop with the same
arithmetic, which the batched sweep equals.

Ablation (:func:`directional_ablation`) removes the unit direction from the embedding and from every
attention and MLP output at every position (the first token included: the permanent edit,
:func:`~mechint.refusal.orthogonalize_weights`, cannot leave it out); addition
(:meth:`RefusalDirection.addition`) adds the raw difference of means at the selected layer's input,
at every token but each text's first.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from jaxtyping import Float
from torch import Tensor

from .. import _validate
from .score import refusal_log_odds, refusal_token_ids

if TYPE_CHECKING:
    import pandas

    from ..data import Dataset
    from ..interventions import AblateDirection, AddDirection
    from ..model import Model

__all__ = [
    "MIN_PROMPTS_PER_CLASS",
    "RefusalDirection",
    "candidate_directions",
    "directional_ablation",
    "refusal_direction",
    "score_candidates",
    "select_refusal_direction",
]

MIN_PROMPTS_PER_CLASS = 4
"""Fewest prompts per class (harmful, harmless) in train and in val: a mean over fewer says little."""

ABLATION_SITES = ("blocks.0.hook_resid_pre", "hook_attn_out", "hook_mlp_out")
"""Where :func:`directional_ablation` acts: the embedding (the first layer's input) and every write
of attention and MLP into the residual stream, so that the stream has no component along the
direction anywhere."""


def directional_ablation(
    direction: Float[Tensor, " d_model"] | Float[Tensor, "rows d_model"], **kwargs
) -> AblateDirection:
    """An :class:`~mechint.AblateDirection` that removes ``direction`` from the residual stream
    everywhere: at :data:`ABLATION_SITES`, at every position, the first token included (as the
    weight edit :func:`~mechint.refusal.orthogonalize_weights` does). ``kwargs`` go to
    :class:`~mechint.AblateDirection` (``per_row=True``: one direction per batch row)."""
    from ..interventions import AblateDirection

    kwargs.setdefault("positions", "all")
    return AblateDirection(direction, sites=ABLATION_SITES, **kwargs)


# ---------------------------------------------------------------------------------------------
# Prompts
# ---------------------------------------------------------------------------------------------


def _chat_prompts(model: Model, texts: _validate.TextsLike, what: str) -> list[str]:
    """``texts`` as chat prompts: instructions are formatted with the model's template, prompts that
    already are chat-formatted are kept. Raises where the model has no chat template."""
    texts = _validate.texts(texts, what)
    if not model.is_chat:
        from ..chat import no_template_error

        raise no_template_error(model.name, f"the refusal direction ({what})")
    todo = [i for i, t in enumerate(texts) if not model.is_chat_formatted(t)]
    formatted = model.chat_prompts([texts[i] for i in todo]) if todo else []
    out = list(texts)
    for i, t in zip(todo, formatted):
        out[i] = t
    return out


def _classes(data, what: str) -> tuple[list[str], list[str]]:
    """(harmful, harmless) texts from a labelled Dataset (label 1 harmful) or a pair of text lists."""
    if isinstance(data, tuple) and len(data) == 2:
        harmful, harmless = data
        harmful = _validate.texts(harmful, f"{what} harmful prompts")
        harmless = _validate.texts(harmless, f"{what} harmless prompts")
    elif hasattr(data, "texts") and hasattr(data, "labels"):
        ds = cast(Any, data)  # a Dataset, or anything with .texts and .labels
        labels = [int(v) for v in ds.labels]
        harmful = [t for t, y in zip(ds.texts, labels) if y == 1]
        harmless = [t for t, y in zip(ds.texts, labels) if y == 0]
    else:
        raise TypeError(
            f"{what} must be a labelled Dataset (label 1: harmful, 0: harmless; e.g. load_polyrefuse('{what}')) "
            f"or a pair (harmful_texts, harmless_texts), got {_validate.given(data)}"
        )
    for name, texts in (("harmful", harmful), ("harmless", harmless)):
        if len(texts) < MIN_PROMPTS_PER_CLASS:
            raise ValueError(
                f"{what} has {len(texts)} {name} prompt(s); the refusal direction needs at least "
                f"{MIN_PROMPTS_PER_CLASS} per class in train and in val (e.g. load_polyrefuse('{what}', "
                "n_per_class=32))"
            )
    return harmful, harmless


def _check_token_ids(model: Model, token_ids: Sequence[int] | None) -> list[int]:
    if token_ids is None:
        return refusal_token_ids(model)
    ids = [int(i) for i in token_ids]
    if not ids:
        raise ValueError("token_ids is empty: give the first tokens of the model's refusals, or None for the default")
    return ids


# ---------------------------------------------------------------------------------------------
# Candidates
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def candidate_directions(
    model: Model,
    harmful: _validate.TextsLike,
    harmless: _validate.TextsLike,
    *,
    batch_size: int = 16,
    progress: bool | str = True,
) -> tuple[Float[Tensor, "pos layer d_model"], list[int]]:
    """Difference-of-means candidates: mean harmful minus mean harmless activation at each layer's
    ``hook_resid_pre`` and each post-instruction position (:meth:`Model.post_instruction_positions`).

    ``harmful`` / ``harmless`` are instructions (formatted with the model's chat template here) or
    chat prompts. Returns ``(candidates [pos, layer, d_model] float32 on the CPU, offsets)``:
    ``offsets[i]`` is the position of ``candidates[i]`` counted from the prompt's end (``-1``: the
    last template token). Means are accumulated in float64."""
    from ..activations import token_batches
    from ..hooks import record

    _validate.integer("batch_size", batch_size, minimum=1)
    texts = {
        "harmful": _chat_prompts(model, harmful, "harmful prompts"),
        "harmless": _chat_prompts(model, harmless, "harmless prompts"),
    }
    positions = model.post_instruction_positions()
    offsets = positions.offsets
    sites = [model.site(f"blocks.{layer}.hook_resid_pre") for layer in range(model.n_layers)]
    sums = {}
    for cls, prompts in texts.items():
        total = torch.zeros(len(offsets), model.n_layers, model.d_model, dtype=torch.float64)
        desc = progress if isinstance(progress, str) else f"candidates ({cls})"
        for _, enc, _ in token_batches(model, prompts, batch_size, progress=progress, desc=desc):
            store: dict[str, Tensor] = {}
            hooks = [(s, record(store, positions=positions)) for s in sites]
            with model.hooks(hooks, stop_after=sites[-1]):
                model.forward(enc, logits=False)
            for layer, s in enumerate(sites):
                total[:, layer] += store[s.name].to(device="cpu", dtype=torch.float64).sum(0)
        sums[cls] = total / len(prompts)
    return (sums["harmful"] - sums["harmless"]).to(torch.float32), offsets


# ---------------------------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------------------------


@dataclass
class CandidateScores:
    """Scores of candidate directions on val prompts, each ``[n_candidates]`` float64 (means over
    prompts), with the per-prompt values kept in ``per_prompt`` (``[n_candidates, n_prompts]``)."""

    bypass: Tensor
    induce: Tensor
    kl: Tensor
    baseline_harmful: float
    baseline_harmless: float
    per_prompt: dict[str, Tensor] = field(default_factory=dict, repr=False)


def _encode(model: Model, prompts: list[str], batch_size: int) -> list[tuple[list[int], dict[str, Tensor]]]:
    """Left-padded batches of prompts of similar length (longest first), with their indices."""
    from ..activations import token_batches

    return [(rows, enc) for rows, enc, _ in token_batches(model, prompts, batch_size)]


def _repeat(enc: dict[str, Tensor], k: int) -> dict[str, Tensor]:
    """``k`` copies of a batch, copy-major: row ``j * g + i`` is prompt ``i`` for candidate ``j``."""
    return {name: t.repeat(k, 1) for name, t in enc.items()}


@torch.no_grad()
def score_candidates(
    model: Model,
    candidates: Float[Tensor, "n d_model"],
    layers: Sequence[int],
    harmful: _validate.TextsLike,
    harmless: _validate.TextsLike,
    *,
    token_ids: Sequence[int] | None = None,
    candidates_per_forward: int = 16,
    prompts_per_group: int = 4,
    progress: bool | str = True,
) -> CandidateScores:
    """Score candidate directions (``candidates[i]`` taken at layer ``layers[i]``) on val prompts.

    For each candidate: ``bypass``, the mean refusal score (:func:`~mechint.refusal.refusal_log_odds`
    of ``token_ids``, default :func:`~mechint.refusal.refusal_token_ids`) of the ``harmful`` prompts
    with the unit candidate ablated everywhere (:func:`directional_ablation`); ``induce``, that of the
    ``harmless`` prompts with the raw candidate added at ``blocks.{layer}.hook_resid_pre`` (every
    token but each text's first); ``kl``, the mean KL divergence from the harmless prompts' clean
    next-token distribution to the ablated one. The scores are read at the last position only.

    ``candidates_per_forward`` copies of a group of ``prompts_per_group`` prompts of similar length
    run in one forward, each copy with its own candidate: many rows per forward with little padding.
    ``candidates_per_forward=1`` runs one candidate per forward, with the same scores. The addition
    rows start at their candidate's layer from the clean run's input there
    (:func:`mechint.patching.runner.run_from_layers`): the layers before it are the clean run's and
    are not recomputed. Under the caller's own hooks every row runs the whole model instead (the
    hooks see every layer), with the same scores."""
    from contextlib import nullcontext

    from tqdm.auto import tqdm

    from ..interventions import AddDirection, intervene
    from ..patching.runner import capture_layers

    cand = _validate.numbers("candidates", candidates).detach().to("cpu", torch.float32)
    if cand.ndim != 2 or cand.shape[0] == 0:
        raise ValueError(f"candidates must be [n, d_model] with n >= 1, got shape {tuple(cand.shape)}")
    if cand.shape[1] != model.d_model:
        raise ValueError(f"candidates have width {cand.shape[1]} but the model has d_model={model.d_model}")
    _validate.finite("candidates", cand)
    if (cand.norm(dim=-1) == 0).any():
        bad = torch.nonzero(cand.norm(dim=-1) == 0).reshape(-1).tolist()
        raise ValueError(f"candidates {bad[:5]} are zero: they have no direction")
    layers = [int(l) for l in layers]
    if len(layers) != cand.shape[0]:
        raise ValueError(f"{len(layers)} layers for {cand.shape[0]} candidates (one layer per candidate)")
    bad = [l for l in layers if not 0 <= l < model.n_layers]
    if bad:
        raise ValueError(f"layers {bad[:5]} are outside 0..{model.n_layers - 1}")
    k = _validate.integer("candidates_per_forward", candidates_per_forward, minimum=1)
    _validate.integer("prompts_per_group", prompts_per_group, minimum=1)
    ids = _check_token_ids(model, token_ids)
    harmful = _chat_prompts(model, harmful, "harmful val prompts")
    harmless = _chat_prompts(model, harmless, "harmless val prompts")
    unit = cand / cand.norm(dim=-1, keepdim=True)
    n = cand.shape[0]
    batches = {
        "harmful": _encode(model, harmful, prompts_per_group),
        "harmless": _encode(model, harmless, prompts_per_group),
    }

    # clean runs: the baselines, the harmless prompts' next-token log-probabilities for KL, and each
    # harmless batch's layer inputs, from which the addition rows start at their own layer
    clean_logp: dict[int, Tensor] = {}
    captured: dict[int, Any] = {}
    from_layer = model.active_hooks == 0  # the caller's hooks would miss the layers skipped
    baseline = {}
    for cls, bs in batches.items():
        scores = []
        for b, (_, enc) in enumerate(bs):
            capturing = cls == "harmless" and from_layer
            with capture_layers(model, range(model.n_layers), False) if capturing else nullcontext() as cap:
                logits = model.last_logits(enc).float()
            scores.append(refusal_log_odds(logits, ids).cpu())
            if cls == "harmless":
                clean_logp[b] = torch.log_softmax(logits, -1)
                captured[b] = cap
        baseline[cls] = float(torch.cat(scores).double().mean())

    per = {
        "bypass": torch.empty(n, len(harmful), dtype=torch.float64),
        "induce": torch.empty(n, len(harmless), dtype=torch.float64),
        "kl": torch.empty(n, len(harmless), dtype=torch.float64),
    }
    chunks = [list(range(s, min(s + k, n))) for s in range(0, n, k)]
    total = len(chunks) * (len(batches["harmful"]) + 2 * len(batches["harmless"]))
    bar = tqdm(
        total=total,
        desc=progress if isinstance(progress, str) else "refusal direction scores",
        disable=not progress,
        unit="forward",
    )
    for cls, bs in batches.items():
        for b, (rows, enc) in enumerate(bs):
            g = len(rows)
            cols = torch.tensor(rows)
            for chunk in chunks:
                m = len(chunk)
                big = _repeat(enc, m)
                dirs = unit[chunk].repeat_interleave(g, 0)  # [m * g, d], copy-major
                with intervene(model, directional_ablation(dirs, per_row=True)):
                    logits = model.last_logits(big).float()
                bar.update()
                at = (torch.tensor(chunk)[:, None], cols[None, :])
                if cls == "harmful":
                    per["bypass"][at] = refusal_log_odds(logits, ids).cpu().double().view(m, g)
                    continue
                logp = torch.log_softmax(logits, -1).view(m, g, -1)
                ref = clean_logp[b]
                kl = (ref.exp() * (ref - logp)).sum(-1)  # [m, g]
                per["kl"][at] = kl.cpu().double()
                if from_layer:
                    logits = _added_last_logits(model, captured[b], enc, cand, [(c, layers[c]) for c in chunk])
                else:
                    adds = []
                    for layer in sorted({layers[c] for c in chunk}):
                        which = [j for j, c in enumerate(chunk) if layers[c] == layer]
                        row_ids = [j * g + i for j in which for i in range(g)]
                        adds.append(
                            AddDirection(
                                cand[[chunk[j] for j in which]].repeat_interleave(g, 0),
                                1.0,
                                sites=("hook_resid_pre",),
                                layers=[layer],
                                rows=row_ids,
                                normalize=False,
                                per_row=True,
                            )
                        )
                    with intervene(model, *adds):
                        logits = model.last_logits(big).float()
                bar.update()
                per["induce"][at] = refusal_log_odds(logits, ids).cpu().double().view(m, g)
    bar.close()
    return CandidateScores(
        bypass=per["bypass"].mean(1),
        induce=per["induce"].mean(1),
        kl=per["kl"].mean(1),
        baseline_harmful=baseline["harmful"],
        baseline_harmless=baseline["harmless"],
        per_prompt=per,
    )


def _added_last_logits(
    model: Model, cap: Any, enc: dict[str, Tensor], cand: Tensor, chunk: list[tuple[int, int]]
) -> Float[Tensor, "rows vocab"]:
    """Last-position logits of a batch of ``g`` prompts with each candidate ``(index, layer)`` of
    ``chunk`` added at ``blocks.{layer}.hook_resid_pre`` (every token but each text's first), rows
    candidate-major as in :func:`_repeat`: each candidate's rows start at its layer from the clean
    run's input there (``cap``), instead of recomputing the layers before it. The same values as the
    hooked forward with :class:`~mechint.interventions.AddDirection` (the tests compare them)."""
    from ..patching.runner import Unembed, run_from_layers

    mask = enc["attention_mask"]
    g = mask.shape[0]
    content = (mask.long().cumsum(-1) > 1).unsqueeze(-1)  # [g, pos, 1]: real tokens but each text's first
    rows = torch.arange(g, device=mask.device)
    joins: dict[int, tuple[list[Tensor], list[Tensor]]] = {}
    order = []
    for j, (c, layer) in enumerate(chunk):
        h = cap.hidden[layer]
        vec = cand[c].to(device=h.device, dtype=h.dtype)
        src, hs = joins.setdefault(layer, ([], []))
        src.append(rows)
        hs.append(h + content.to(h.dtype) * vec)
        order.append((layer, len(src) - 1, j))
    stacked = {l: (torch.cat(src), torch.cat(hs)) for l, (src, hs) in joins.items()}
    out = run_from_layers(model, cap, g, stacked)  # rows by layer, then by candidate within it
    # back to candidate-major order
    starts, at = {}, 0
    for l in sorted(stacked):
        starts[l] = at
        at += stacked[l][0].shape[0]
    index = torch.empty(len(chunk) * g, dtype=torch.long)
    for layer, k, j in order:
        index[j * g : (j + 1) * g] = torch.arange(starts[layer] + k * g, starts[layer] + (k + 1) * g)
    last = out[index.to(out.device), -1]
    normed = model.site("ln_final.hook_normalized").module(last)
    return Unembed(model)(normed).float()


# ---------------------------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------------------------


@dataclass
class RefusalDirection:
    """A selected refusal direction and the scored table it was chosen from.

    Attributes:
        direction: ``[d_model]`` float32, the raw difference of means of the selected candidate (its
            length is what :meth:`addition` adds).
        layer: its layer (read at ``blocks.{layer}.hook_resid_pre``).
        position: its position, counted from the prompt's end (``-1``: the last template token).
        candidates: ``[pos, layer, d_model]``, every candidate.
        offsets: the positions of ``candidates``' first axis, counted from the prompt's end.
        bypass, induce, kl: ``[pos, layer]`` float64 scores (:func:`score_candidates`).
        excluded: ``[pos][layer]`` why a candidate could not be selected (``""``: it could).
        baseline_harmful, baseline_harmless: mean refusal scores of the val prompts, no intervention.
        settings: the selection's criteria and sizes.
    """

    direction: Tensor
    layer: int
    position: int
    candidates: Tensor
    offsets: list[int]
    bypass: Tensor
    induce: Tensor
    kl: Tensor
    excluded: list[list[str]]
    baseline_harmful: float
    baseline_harmless: float
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def unit(self) -> Float[Tensor, " d_model"]:
        """The direction at unit length."""
        return self.direction / self.direction.norm()

    def ablation(self) -> AblateDirection:
        """The direction removed from the residual stream everywhere (:func:`directional_ablation`)."""
        return directional_ablation(self.direction)

    def addition(self, alpha: float = 1.0) -> AddDirection:
        """``alpha`` times the raw direction added at the selected layer's input, at every token but
        each text's first (``alpha=1``: the paper's activation addition)."""
        from ..interventions import AddDirection

        return AddDirection(self.direction, alpha, sites=("hook_resid_pre",), layers=[self.layer], normalize=False)

    def table(self) -> pandas.DataFrame:
        """Every candidate: ``position, layer, bypass, induce, kl, excluded, selected``."""
        import pandas as pd

        rows = []
        for p, off in enumerate(self.offsets):
            for layer in range(self.bypass.shape[1]):
                rows.append(
                    {
                        "position": off,
                        "layer": layer,
                        "bypass": float(self.bypass[p, layer]),
                        "induce": float(self.induce[p, layer]),
                        "kl": float(self.kl[p, layer]),
                        "excluded": self.excluded[p][layer],
                        "selected": off == self.position and layer == self.layer,
                    }
                )
        return pd.DataFrame(rows)

    def save(self, path: str | os.PathLike) -> None:
        """Write the selection (vectors and tables) to ``path`` (one ``torch.save`` file, written
        atomically), for :meth:`load`."""
        from ..disk import atomic_write_bytes

        buf = io.BytesIO()
        torch.save({k: getattr(self, k) for k in self.__dataclass_fields__}, buf)
        atomic_write_bytes(Path(path), buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike) -> RefusalDirection:
        """A selection written by :meth:`save`."""
        fields = torch.load(Path(path), map_location="cpu", weights_only=True)
        return cls(**fields)

    def to_json(self) -> dict[str, Any]:
        """The selection as plain data (no candidate vectors): for a study's JSON."""
        return {
            "layer": self.layer,
            "position": self.position,
            "baseline_harmful": self.baseline_harmful,
            "baseline_harmless": self.baseline_harmless,
            "settings": self.settings,
            "table": self.table().to_dict(orient="records"),
        }


def _excluded(
    bypass: Tensor, induce: Tensor, kl: Tensor, max_layer: int, kl_max: float, induce_min: float
) -> list[list[str]]:
    out = []
    for p in range(bypass.shape[0]):
        row = []
        for layer in range(bypass.shape[1]):
            why = []
            if math.isnan(float(bypass[p, layer])):
                row.append("zero candidate (not scored)")
                continue
            if layer >= max_layer:
                why.append(f"layer >= {max_layer}")
            if not kl[p, layer] < kl_max:
                why.append(f"kl >= {kl_max:g}")
            if not induce[p, layer] > induce_min:
                why.append(f"induce <= {induce_min:g}")
            row.append("; ".join(why))
        out.append(row)
    return out


def select_refusal_direction(
    model: Model,
    candidates: Float[Tensor, "pos layer d_model"],
    offsets: Sequence[int],
    val: Dataset | tuple[Sequence[str], Sequence[str]],
    *,
    kl_max: float = 0.1,
    max_layer_fraction: float = 0.8,
    induce_min: float = 0.0,
    token_ids: Sequence[int] | None = None,
    candidates_per_forward: int = 16,
    prompts_per_group: int = 4,
    progress: bool | str = True,
) -> RefusalDirection:
    """Score every candidate on ``val`` (:func:`score_candidates`) and select the refusal direction:
    the lowest ``bypass`` among candidates with ``induce > induce_min``, ``kl < kl_max`` and a layer
    below ``max_layer_fraction`` of the depth (Arditi et al.'s criteria and defaults). Where no
    candidate passes, the KL filter is given up first (a guard against side effects), then
    ``induce`` (whether adding the direction makes refusals at all), with a warning;
    ``settings["selected_by"]`` says which.

    ``val``: a labelled Dataset (label 1 harmful, e.g. ``load_polyrefuse("val", languages="en")``) or
    ``(harmful, harmless)`` texts; instructions are chat-formatted here."""
    cand = _validate.numbers("candidates", candidates).detach().to("cpu", torch.float32)
    if cand.ndim != 3:
        raise ValueError(f"candidates must be [pos, layer, d_model], got shape {tuple(cand.shape)}")
    n_pos, n_layers, _ = cand.shape
    if n_layers != model.n_layers:
        raise ValueError(f"candidates have {n_layers} layers, the model has {model.n_layers}")
    offsets = [int(o) for o in offsets]
    if len(offsets) != n_pos:
        raise ValueError(f"{len(offsets)} offsets for {n_pos} candidate positions")
    if not 0 < float(max_layer_fraction) <= 1:
        raise ValueError(f"max_layer_fraction must be in (0, 1], got {max_layer_fraction}")
    harmful, harmless = _classes(val, "val")
    flat = cand.reshape(n_pos * n_layers, -1)
    # a zero candidate (the same template token at layer 0, whose input is its embedding) has no
    # direction: it is not scored
    live = torch.nonzero(flat.norm(dim=-1) > 0).reshape(-1)
    if live.numel() == 0:
        raise ValueError("every candidate is zero: harmful and harmless prompts have the same mean activations")
    scores = score_candidates(
        model,
        flat[live],
        [int(i) % n_layers for i in live],
        harmful,
        harmless,
        token_ids=token_ids,
        candidates_per_forward=candidates_per_forward,
        prompts_per_group=prompts_per_group,
        progress=progress,
    )
    tables = []
    for t in (scores.bypass, scores.induce, scores.kl):
        full = torch.full((n_pos * n_layers,), math.nan, dtype=torch.float64)
        full[live] = t
        tables.append(full.view(n_pos, n_layers))
    bypass, induce, kl = tables
    max_layer = max(1, int(max_layer_fraction * n_layers))
    excluded = _excluded(bypass, induce, kl, max_layer, kl_max, induce_min)
    ok = torch.tensor([[not why for why in row] for row in excluded])
    scored = ~torch.isnan(bypass)
    layer_ok = scored & (torch.arange(n_layers) < max_layer)[None, :]
    tiers = (
        ("every criterion", ok),
        (f"induce > {induce_min:g} below the layer limit, kl given up", layer_ok & (induce > induce_min)),
        ("the layer limit only, kl and induce given up", layer_ok),
    )
    selected_by, ok = next((name, mask) for name, mask in tiers if mask.any())
    if selected_by != "every criterion":
        # the KL filter guards against side effects; induce says the direction carries refusal at
        # all: it is given up last
        warnings.warn(
            f"no refusal-direction candidate passes every criterion: selected by {selected_by}; "
            "see .table() for each candidate's scores",
            stacklevel=2,
        )
    masked = torch.where(ok, bypass, torch.full_like(bypass, math.inf))
    best = int(torch.argmin(masked))
    p, layer = divmod(best, n_layers)
    return RefusalDirection(
        direction=cand[p, layer].clone(),
        layer=layer,
        position=offsets[p],
        candidates=cand,
        offsets=offsets,
        bypass=bypass,
        induce=induce,
        kl=kl,
        excluded=excluded,
        baseline_harmful=scores.baseline_harmful,
        baseline_harmless=scores.baseline_harmless,
        settings={
            "kl_max": kl_max,
            "max_layer": max_layer,
            "induce_min": induce_min,
            "selected_by": selected_by,
            "n_val_harmful": len(harmful),
            "n_val_harmless": len(harmless),
        },
    )


def refusal_direction(
    model: Model,
    train: Dataset | tuple[Sequence[str], Sequence[str]],
    val: Dataset | tuple[Sequence[str], Sequence[str]],
    *,
    batch_size: int = 16,
    progress: bool | str = True,
    **selection,
) -> RefusalDirection:
    """Extract candidates on ``train`` (:func:`candidate_directions`, ``batch_size`` prompts per
    forward) and select on ``val`` (:func:`select_refusal_direction`, which takes ``selection``: the
    criteria, ``token_ids``, ``candidates_per_forward``, ``prompts_per_group``): the whole method in one call.

    ``train`` / ``val``: labelled Datasets (label 1 harmful; e.g. ``load_polyrefuse("train",
    languages="en")``) or ``(harmful, harmless)`` text pairs, instructions or chat prompts."""
    harmful, harmless = _classes(train, "train")
    candidates, offsets = candidate_directions(model, harmful, harmless, batch_size=batch_size, progress=progress)
    result = select_refusal_direction(model, candidates, offsets, val, progress=progress, **selection)
    result.settings.update({"n_train_harmful": len(harmful), "n_train_harmless": len(harmless)})
    return result
