"""Monitoring a generation: activations on generated tokens, probes on the first q% of a generation,
and a streaming probe monitor that can stop generation (the CoT-monitoring study, arXiv 2507.12428).

- :func:`generate_with_activations` generates from prompts (through :meth:`Model.generate`, under
  the one hook engine) and keeps, for every generated token, its activation at the requested sites
  (the activation *at the token's own position*, as a forward over prompt + generation gives it),
  the token ids and each token's character span in the decoded text. It returns a
  :class:`Generation`.
- :class:`ProbeMonitor` is a read hook that scores each new token's activation with a
  :class:`~mechint.probes.Probe` while :meth:`Model.generate` runs, reports each step's scores
  (``on_step``) and, through :meth:`ProbeMonitor.stopping_criteria`, ends a row once its score
  reaches a threshold. :func:`monitor_generation` runs it over prompts in batches and returns a
  :class:`Generation` with the scores.
- :func:`prefix_probe_auroc` and :func:`text_prefix_auroc` measure how well the judged label of the
  final response is predicted from the first q% of the generated tokens: a probe on pooled
  activations, and a bag-of-words logistic classifier (:func:`bag_of_words`) on the same partial
  text, both fitted with :func:`~mechint.probes.fit_probes` and cross-validated over the same folds.
  :func:`prefix_monitor_auroc` runs both on a :class:`Generation`.

Which tokens a row's generation holds: the new tokens up to its first EOS token (the EOS token and
what follows are not part of it), or, where a monitor stopped the row, up to and including the token
whose score reached the threshold. The activation of the last generated token is computed by one
extra forward of that token (through the KV cache, stopped after the last site needed), since
``generate`` never feeds its last token back; it runs only when some row needs it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Sequence, cast

import torch
from jaxtyping import Float
from torch import Tensor

from . import _validate
from .activations import Activations, token_batches
from .hooks import HookContext, StopForward
from .model import Model
from .prefixes import check_fractions, spaceless_script, token_prefix_lengths
from .probes import Probe, ProbeDataError
from .probes.evaluation import check_folds, cross_validate, fold_mean, stack_metrics
from .probes.fit import fit_probes
from .probes.metrics import Metrics, binary_metrics
from .sites import Site

__all__ = [
    "DEFAULT_FRACTIONS",
    "Generation",
    "ProbeMonitor",
    "PrefixAUROC",
    "MonitorCurves",
    "generate_with_activations",
    "monitor_generation",
    "token_spans",
    "words",
    "bag_of_words",
    "prefix_probe_auroc",
    "text_prefix_auroc",
    "prefix_monitor_auroc",
]

DEFAULT_FRACTIONS: tuple[float, ...] = tuple(round(0.1 * k, 1) for k in range(1, 11))
"""q = 10%, 20%, ..., 100% of each generation's tokens."""


# =================================================================================================
# Token -> character spans
# =================================================================================================


def token_spans(tokenizer, ids: Sequence[int] | Tensor) -> tuple[str, Tensor]:
    """The decoded text of ``ids`` (special tokens skipped, as :meth:`Model.generate` decodes) and
    ``[n, 2]`` (long) the character span ``[start, end)`` of each token in it.

    Spans come from decoding growing prefixes, so they hold for any tokenizer: token ``k``'s span
    is the text its prefix adds. A token that ends inside a character (one byte of a multi-byte
    character under a byte-level tokenizer) shares the span of the token that completes the
    character; a token that adds no text (a special token) has an empty span at its place."""
    ids = [int(i) for i in (ids.tolist() if isinstance(ids, Tensor) else ids)]
    text = tokenizer.decode(ids, skip_special_tokens=True)
    spans = torch.zeros(len(ids), 2, dtype=torch.long)
    done, pending = 0, []
    for k in range(len(ids)):
        prefix = tokenizer.decode(ids[: k + 1], skip_special_tokens=True)
        common = _common_prefix(prefix, text)
        if prefix.endswith("\ufffd") and not text[: len(prefix)].endswith("\ufffd"):
            common = min(common, len(prefix) - 1)  # an incomplete character: not part of the text yet
        end = max(done, common)
        if end > done or prefix == text[: len(prefix)]:
            for j in (*pending, k):
                spans[j, 0], spans[j, 1] = done, end
            pending, done = [], end
        else:
            pending.append(k)
    for j in pending:  # bytes never completed into a character (a generation cut inside one)
        spans[j, 0] = spans[j, 1] = done
    return text, spans


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # binary search for the first difference
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


# =================================================================================================
# The generation and its activations
# =================================================================================================


@dataclass
class Generation:
    """Generated continuations of prompts, token by token, with their activations.

    Attributes:
        prompts: ``[n]`` the prompts, in the caller's order.
        texts: ``[n]`` each generation decoded (special tokens skipped).
        token_ids: ``[n]`` each ``[n_i]`` (long): the generated tokens (up to the first EOS, which is
            left out, or to the token where a monitor stopped the row).
        spans: ``[n]`` each ``[n_i, 2]`` (long): token ``k``'s characters ``texts[i][start:end]``
            (:func:`token_spans`).
        activations: per generated token at each recorded site, packed as :class:`Activations`
            with ``pool="all"`` (``activations.row(site, i)`` is ``[n_i, ...site shape]``); empty
            when no site was recorded.
        scores: ``[n, max_new_tokens]`` the monitor's logit for each generated token (NaN past
            each row's end), or ``None`` without a monitor.
        stopped: ``[n]`` bool: the monitor's score reached the threshold and ended the row.
        eos: ``[n]`` bool: the row ended with an EOS token.
        threshold: the monitor's threshold (``None``: scores only).
    """

    prompts: list[str]
    texts: list[str]
    token_ids: list[Tensor]
    spans: list[Tensor]
    activations: Activations
    scores: Tensor | None = None
    stopped: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.bool))
    eos: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.bool))
    threshold: float | None = None

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def lengths(self) -> Tensor:
        """``[n]`` (long) generated tokens per row."""
        return torch.tensor([int(t.numel()) for t in self.token_ids], dtype=torch.long)

    def select(self, rows: Sequence[int] | Tensor) -> "Generation":
        """The generations of ``rows`` (indices, or a ``[n]`` boolean mask), e.g. those with tokens:
        ``gen.select(gen.lengths > 0)``."""
        r = torch.as_tensor(rows)
        if r.dtype == torch.bool:
            if r.numel() != len(self):
                raise ValueError(f"a mask of {r.numel()} rows for {len(self)} generations")
            r = r.nonzero().reshape(-1)
        idx = [int(i) for i in r.reshape(-1).tolist()]
        acts = self.activations
        tensors = {s: torch.cat([acts.row(s, i) for i in idx]) if idx else acts[s][:0] for s in acts}
        lengths = self.lengths[idx] if idx else torch.zeros(0, dtype=torch.long)
        return replace(
            self,
            prompts=[self.prompts[i] for i in idx],
            texts=[self.texts[i] for i in idx],
            token_ids=[self.token_ids[i] for i in idx],
            spans=[self.spans[i] for i in idx],
            activations=Activations(tensors, "all", lengths),
            scores=None if self.scores is None else self.scores[idx],
            stopped=self.stopped[idx],
            eos=self.eos[idx],
        )

    def _check_tokens(self) -> Tensor:
        lengths = self.lengths
        empty = (lengths == 0).nonzero().reshape(-1).tolist()
        if empty:
            shown = ", ".join(map(str, empty[:5])) + (f", ... ({len(empty)} in all)" if len(empty) > 5 else "")
            raise ValueError(
                f"generations {shown} have no tokens (EOS first): they have no prefix; drop them with "
                "gen.select(gen.lengths > 0)"
            )
        return lengths

    def prefix_lengths(self, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> Tensor:
        """``[Q, n]`` (long) tokens in the first ``q`` of each generation: ``max(1, ceil(q * n_i))``."""
        return token_prefix_lengths(self._check_tokens(), fractions)

    def prefix_texts(self, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> list[list[str]]:
        """``[Q][n]`` the text of the first ``q`` of each generation's tokens (the decoded text up to
        the end of the last token's span): what a text-only monitor sees at that point."""
        k = self.prefix_lengths(fractions)
        return [
            [self.texts[i][: int(self.spans[i][int(k[f, i]) - 1, 1])] for i in range(len(self))]
            for f in range(k.shape[0])
        ]

    def prefix_activations(
        self, site: str, fractions: Sequence[float] = DEFAULT_FRACTIONS, *, pool: str = "mean"
    ) -> Float[Tensor, "fraction n d"]:
        """``[Q, n, d]`` each generation's activations at ``site`` pooled over its first ``q`` of
        tokens: ``"mean"`` (mean over those tokens) or ``"last"`` (the last of them), float32.
        Sites with heads are flattened to one vector per token."""
        _validate.choice("pool", pool, ("mean", "last"))
        k = self.prefix_lengths(fractions)  # [Q, n]
        acts = self.activations[site]
        x = acts.reshape(acts.shape[0], -1)
        offsets = self.activations.offsets[:-1]  # [n]
        if pool == "last":
            return x[offsets + k - 1].float()
        cs = torch.cat([torch.zeros(1, x.shape[1], dtype=torch.float64), x.double().cumsum(0)])
        return ((cs[offsets + k] - cs[offsets]) / k.unsqueeze(-1).double()).float()


# =================================================================================================
# The streaming monitor
# =================================================================================================


class ProbeMonitor:
    """A read hook that scores each new token's activation with a probe during :meth:`Model.generate`.

    Use it at the site the probe was fitted on; with a threshold, pass :meth:`stopping_criteria` to
    ``generate`` so that a row ends once its score reaches the threshold (other rows go on)::

        monitor = ProbeMonitor(probe, threshold=2.0)
        with model.hooks([("blocks.6.hook_resid_post", monitor)]):
            model.generate(prompts, stopping_criteria=[monitor.stopping_criteria()])
        monitor.scores  # [batch, steps]

    The score of generated token ``t`` is the probe's logit (``probe.decision_function``) of the
    activation at that token's position, computed in the step that feeds the token to the model
    (the step that generates token ``t + 1``). So a row stopped at token ``t`` has generated token
    ``t + 1`` in the same step; :func:`monitor_generation` cuts it off. Each generation is recognised
    by its first forward (KV-cache offset 0), which resets the monitor.

    Args:
        probe: one probe (``probe.batch_shape == ()``; index a batch of probes first: ``probe[layer]``).
        threshold: a logit (a probability ``p`` is the logit ``log(p / (1 - p))``); a score at or
            above it stops the row. ``None``: score only.
        on_step: called as ``on_step(t, scores)`` for each generated token ``t`` with its ``[batch]``
            scores (on the model's device: copying them to the host waits for the device).
    """

    def __init__(
        self,
        probe: Probe,
        *,
        threshold: float | None = None,
        on_step: Callable[[int, Tensor], None] | None = None,
    ):
        if not isinstance(probe, Probe):
            raise TypeError(f"probe must be a mechint Probe, got {_validate.given(probe)}")
        if tuple(probe.batch_shape) != ():
            raise ValueError(
                f"the monitor takes one probe; this one is a batch of shape {tuple(probe.batch_shape)} "
                f"(axes {probe.axes}): index it first, e.g. probe[layer]"
            )
        if threshold is not None:
            threshold = float(threshold)
            if math.isnan(threshold):
                raise ValueError("threshold is NaN")
        if on_step is not None and not callable(on_step):
            raise TypeError(f"on_step must be a function (t, scores), got {_validate.given(on_step)}")
        self.probe, self.threshold, self.on_step = probe, threshold, on_step
        self._weight = probe.weight.detach().float()
        self._mean = probe.mean.detach().float()
        self._intercept = probe.intercept.detach().float()
        self._parts: list[Tensor] = []
        self._crossed: Tensor | None = None
        self._width = 0
        self._ready: tuple[torch.device, str] | None = None

    @property
    def d(self) -> int:
        return self.probe.d

    def reset(self) -> None:
        """Forget the scores (a new generation starts)."""
        self._parts, self._crossed, self._width = [], None, 0

    def _check_width(self, x: Tensor, ctx: HookContext) -> None:
        width = math.prod(x.shape[2:])
        if width != self.d:
            raise ValueError(
                f"the probe was fitted on width {self.d}, but {ctx.site.name} has width {width} "
                f"(shape {tuple(x.shape[2:])} per token): monitor the site the probe was fitted on"
            )
        if ctx.site.pattern:
            raise ValueError(
                f"{ctx.site.name} is an attention map [batch, head, query, key], not one vector per token: it "
                "cannot be monitored"
            )

    def __call__(self, x: Tensor, ctx: HookContext) -> None:
        if ctx.offset == 0:  # the prompt's forward: a new generation
            self.reset()
            self._width = x.shape[1]
            self._crossed = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        if self._ready != (x.device, ctx.site.name):
            self._check_width(x, ctx)
            self._weight, self._mean, self._intercept = (
                t.to(x.device) for t in (self._weight, self._mean, self._intercept)
            )
            self._ready = (x.device, ctx.site.name)
        first = self._width - ctx.offset  # the first column holding a generated token
        if first >= x.shape[1]:
            return None
        v = x[:, max(first, 0) :].flatten(2).float()
        scores = (v - self._mean) @ self._weight + self._intercept  # [batch, columns]
        self._parts.append(scores)
        if self.threshold is not None and self._crossed is not None:
            self._crossed |= (scores >= self.threshold).any(1)
        if self.on_step is not None:
            t0 = ctx.offset + max(first, 0) - self._width
            for k in range(scores.shape[1]):
                self.on_step(t0 + k, scores[:, k])
        return None

    @property
    def scores(self) -> Tensor:
        """``[batch, tokens]`` the scores of the generated tokens scored so far (float32, on the
        model's device)."""
        if not self._parts:
            return torch.zeros(0, 0)
        return torch.cat(self._parts, 1)

    def stopping_criteria(self):
        """A transformers ``StoppingCriteria`` that ends the rows whose score reached the threshold
        (pass it to ``generate(stopping_criteria=[...])``)."""
        from transformers import StoppingCriteria

        monitor = self

        class _ThresholdReached(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                crossed = monitor._crossed
                if crossed is None or crossed.shape[0] != input_ids.shape[0]:
                    return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
                # the monitored layer may compute on another device than the tokens (a device map)
                return crossed.to(input_ids.device, copy=True)

        return _ThresholdReached()


# =================================================================================================
# Generating in batches
# =================================================================================================


def _eos_ids(model: Model, generate_kwargs: dict) -> list[int]:
    config = generate_kwargs.get("generation_config") or model.hf.generation_config
    eos = generate_kwargs.get("eos_token_id", getattr(config, "eos_token_id", None))
    if eos is None:
        eos = model.tokenizer.eos_token_id
    if eos is None:
        return []
    return [
        int(e) for e in (eos.tolist() if isinstance(eos, Tensor) else eos if isinstance(eos, (list, tuple)) else [eos])
    ]


def _check_prompts(prompts) -> list[str]:
    prompts = _validate.texts(prompts, "prompts")
    empty = [i for i, p in enumerate(prompts) if not p]
    if empty:
        raise ValueError(
            f"prompts {empty[:5]} are empty strings: a generation to monitor continues a prompt; give every "
            "prompt some text (the BOS token's text, e.g. tokenizer.bos_token, to generate unconditionally)"
        )
    return prompts


def _final_forward(model: Model, seqs: Tensor, prompt_mask: Tensor, cache, last: Site) -> None:
    """Feed each row's last generated token through the decoder stack (with the generation's KV
    cache), stopped after ``last``: the hooks around it see that token's activations."""
    import inspect

    n_new = seqs.shape[1] - prompt_mask.shape[1]
    mask = torch.cat([prompt_mask, prompt_mask.new_ones(prompt_mask.shape[0], n_new)], 1)
    params = inspect.signature(model.base.forward).parameters
    kwargs = {"input_ids": seqs[:, -1:], "attention_mask": mask, "use_cache": True}
    kwargs["cache" if "cache" in params else "past_key_values"] = cache
    if model._takes_position_ids:
        kwargs["position_ids"] = model.position_ids(mask)[:, -1:]
    with model.hooks([], stop_after=last):
        try:
            model.base(**kwargs)
        except StopForward:
            pass


def _generated_reader(width: int, parts: dict[str, list[Tensor]], dtype: torch.dtype | None):
    """A read hook keeping the columns of generated tokens (absolute position >= ``width``, the
    padded prompts' width) of each forward in ``parts[site]``, on the model's device."""

    def reader(x: Tensor, ctx: HookContext) -> None:
        first = min(max(width - ctx.offset, 0), x.shape[1])  # the prompt's forward: none (kept for the shape)
        parts[ctx.site.name].append(x[:, first:].detach().to(dtype or x.dtype))

    return reader


def _generate(
    model: Model,
    prompts,
    sites,
    monitor: tuple[Site, ProbeMonitor] | None,
    *,
    max_new_tokens: int,
    batch_size: int,
    dtype: torch.dtype | None,
    do_sample: bool,
    progress: bool | str,
    generate_kwargs: dict,
) -> Generation:
    prompts = _check_prompts(prompts)
    _validate.integer("max_new_tokens", max_new_tokens, minimum=1)
    _validate.integer("batch_size", batch_size, minimum=1)
    dtype = _validate.dtype("dtype", dtype)
    for key in ("return_dict_in_generate", "stopping_criteria", "num_return_sequences", "num_beams"):
        if key in generate_kwargs:
            raise ValueError(f"{key}= is set by this function (or not supported with it); leave it out")
    chosen = model.sites(sites) if sites else []
    patterns = [s.name for s in chosen if s.pattern]
    if patterns:
        raise ValueError(f"{patterns[0]} is an attention map: record it with one forward over the generated text")
    eos = torch.tensor(_eos_ids(model, generate_kwargs), dtype=torch.long)
    n = len(prompts)
    texts, ids_out, spans = [""] * n, [torch.zeros(0, dtype=torch.long)] * n, [torch.zeros(0, 2, dtype=torch.long)] * n
    acts: dict[str, list] = {s.name: [None] * n for s in chosen}
    scores = torch.full((n, max_new_tokens), math.nan) if monitor is not None else None
    stopped = torch.zeros(n, dtype=torch.bool)
    ended = torch.zeros(n, dtype=torch.bool)
    needed = chosen + ([monitor[0]] if monitor is not None else [])
    last = max(needed, key=lambda s: s.order) if needed else None

    for idx, enc, _ in token_batches(model, prompts, batch_size, progress=progress, desc="generate"):
        width = enc["input_ids"].shape[1]
        parts: dict[str, list[Tensor]] = {s.name: [] for s in chosen}

        reader = _generated_reader(width, parts, dtype)
        hooks = [(s, reader) for s in chosen]
        extra = {}
        if monitor is not None:
            site, mon = monitor
            hooks.append((site, mon))
            if mon.threshold is not None:
                extra["stopping_criteria"] = [mon.stopping_criteria()]
        with torch.inference_mode(), model.hooks(hooks):
            out = cast(Any, model.generate)(  # a ModelOutput with return_dict_in_generate
                enc,
                max_new_tokens=max_new_tokens,
                do_sample=do_sample,
                return_tokens=True,
                return_dict_in_generate=True,
                **extra,
                **generate_kwargs,
            )
            seqs = out["sequences"]
            new = seqs[:, width:].cpu()
            steps = new.shape[1]
            is_eos = torch.isin(new, eos) if eos.numel() else torch.zeros_like(new, dtype=torch.bool)
            length = torch.where(is_eos.any(1), is_eos.long().argmax(1), torch.full((len(idx),), steps))
            row_eos = is_eos.any(1)
            row_stop = torch.zeros(len(idx), dtype=torch.bool)
            if monitor is not None and monitor[1].threshold is not None and steps > 1:
                crossed = (monitor[1].scores[:, : steps - 1].cpu() >= monitor[1].threshold) & (
                    torch.arange(steps - 1) < length[:, None]
                )
                hit = crossed.any(1)
                length = torch.where(hit, crossed.long().argmax(1) + 1, length)
                row_stop = row_stop | hit
            if last is not None and bool((length == steps).any()) and steps > 0:
                _final_forward(model, seqs, enc["attention_mask"], out["cache"], last)
        if monitor is not None:
            got_scores = monitor[1].scores.float().cpu()  # [b, scored tokens]
            if monitor[1].threshold is not None and got_scores.shape[1] >= steps > 0:
                at_end = (length == steps) & ~row_stop
                row_stop = row_stop | at_end & (got_scores[:, steps - 1] >= monitor[1].threshold)
        merged = {name: torch.cat(p, 1) for name, p in parts.items() if p}
        for j, i in enumerate(idx):
            k = int(length[j])
            ids_out[i] = new[j, :k].clone()
            texts[i], spans[i] = token_spans(model.tokenizer, ids_out[i])
            for s in chosen:
                got = merged.get(s.name)
                acts[s.name][i] = got[j, :k].cpu() if got is not None else None
            if scores is not None:
                scores[i, :k] = got_scores[j, :k]
        stopped[idx] = row_stop
        ended[idx] = row_eos & ~row_stop
    lengths = torch.tensor([t.numel() for t in ids_out], dtype=torch.long)
    tensors = {name: torch.cat(rows) for name, rows in acts.items()}
    return Generation(
        prompts=prompts,
        texts=texts,
        token_ids=ids_out,
        spans=spans,
        activations=Activations(tensors, "all", lengths),
        scores=scores,
        stopped=stopped,
        eos=ended,
        threshold=monitor[1].threshold if monitor is not None else None,
    )


def generate_with_activations(
    model: Model,
    prompts: _validate.TextsLike,
    sites: str | Iterable[str],
    *,
    max_new_tokens: int = 32,
    batch_size: int = 16,
    dtype: torch.dtype | None = torch.float32,
    do_sample: bool = False,
    progress: bool | str = False,
    **generate_kwargs,
) -> Generation:
    """Generate from ``prompts`` and keep each generated token's activations at ``sites``.

    The activation of generated token ``t`` is the one at its own position: equal to a forward over
    prompt + generation there. Prompts run in left-padded batches of ``batch_size`` (sorted by
    length; the result is in the caller's order), greedy unless ``do_sample``; other keyword
    arguments go to ``generate`` (``temperature``, ``repetition_penalty`` ...). Hooks active around
    the call (an intervention) act on every step.

    Args:
        sites: site names (a bare key such as ``"hook_resid_post"`` is that site at every layer);
            unknown names raise with the nearest valid ones.
        dtype: dtype of the kept activations (``None``: the model's).
    """
    if isinstance(sites, str):
        sites = [sites]
    sites = list(sites)
    if not sites:
        raise ValueError("no sites given")
    return _generate(
        model,
        prompts,
        sites,
        None,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        dtype=dtype,
        do_sample=do_sample,
        progress=progress,
        generate_kwargs=generate_kwargs,
    )


def monitor_generation(
    model: Model,
    prompts: _validate.TextsLike,
    probe: Probe,
    site: str,
    *,
    threshold: float | None = None,
    record: str | Iterable[str] = (),
    max_new_tokens: int = 32,
    batch_size: int = 16,
    do_sample: bool = False,
    on_step: Callable[[int, Tensor], None] | None = None,
    progress: bool | str = False,
    **generate_kwargs,
) -> Generation:
    """Generate from ``prompts`` while :class:`ProbeMonitor` scores every new token at ``site``.

    With a ``threshold``, a row ends at the first token whose score reaches it: its generation is
    cut after that token (``Generation.stopped``); the other rows of the batch go on until they
    reach the threshold, an EOS token or ``max_new_tokens`` (a finished row is padded while they
    run, as ``generate`` does after EOS). Without one, the scores are only reported.

    Args:
        probe: one probe fitted on activations of ``site`` (its width must match the site's).
        record: sites whose activations to keep as well (in ``Generation.activations``).
        on_step: see :class:`ProbeMonitor` (``t`` counts the tokens of the current batch).
        other arguments: as :func:`generate_with_activations`.
    """
    if isinstance(site, (list, tuple)):
        raise TypeError("monitor_generation watches one site; pass its name as a string")
    chosen = model.site(site)
    mon = ProbeMonitor(probe, threshold=threshold, on_step=on_step)
    width = {
        "hook_resid": model.d_model,
        "hook_attn_out": model.d_model,
        "hook_mlp_out": model.d_model,
        "mlp.hook_post": model.d_mlp,
    }
    expected = next((w for key, w in width.items() if chosen.key.startswith(key)), None)
    if chosen.key == "attn.hook_z" or chosen.key == "attn.hook_q":
        expected = model.n_heads * model.d_head
    if expected is not None and expected != probe.d:
        raise ValueError(
            f"the probe was fitted on width {probe.d}, but {chosen.name} has width {expected}: monitor the "
            "site the probe was fitted on"
        )
    record = [record] if isinstance(record, str) else list(record)
    return _generate(
        model,
        prompts,
        record,
        (chosen, mon),
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        dtype=torch.float32,
        do_sample=do_sample,
        progress=progress,
        generate_kwargs=generate_kwargs,
    )


# =================================================================================================
# Bag of words (the text-only baseline)
# =================================================================================================

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The words of ``text`` for the bag-of-words baseline: runs of letters and digits, case-folded;
    in scripts written without spaces (Chinese, Japanese, Thai ...) every character is a word."""
    out: list[str] = []
    for match in _WORD.findall(text.casefold()):
        run = []
        for ch in match:
            if spaceless_script(ch):
                if run:
                    out.append("".join(run))
                    run = []
                out.append(ch)
            else:
                run.append(ch)
        if run:
            out.append("".join(run))
    return out


def bag_of_words(
    texts: Sequence[str],
    vocabulary: Sequence[str] | None = None,
    *,
    max_features: int | None = 2000,
    min_df: int = 1,
) -> tuple[Float[Tensor, "n vocab"], list[str]]:
    """Word counts of ``texts`` (:func:`words`): ``([n, V] float32, vocabulary)``.

    Without a ``vocabulary`` one is built from ``texts``: the words in at least ``min_df`` texts, the
    ``max_features`` in most texts (ties by first appearance), in that order. Pass the training
    texts' vocabulary when counting test texts; words outside it are not counted."""
    texts = _validate.texts(texts)
    tokenized = [words(t) for t in texts]
    if vocabulary is None:
        _validate.integer("min_df", min_df, minimum=1)
        _validate.integer("max_features", max_features, minimum=1, optional=True)
        df: dict[str, int] = {}
        for ws in tokenized:
            for w in dict.fromkeys(ws):
                df[w] = df.get(w, 0) + 1
        kept = [w for w, c in df.items() if c >= min_df]
        kept.sort(key=lambda w: -df[w])  # stable: ties keep first appearance
        vocabulary = kept[:max_features] if max_features is not None else kept
    vocabulary = list(vocabulary)
    index = {w: j for j, w in enumerate(vocabulary)}
    x = torch.zeros(len(texts), len(vocabulary))
    for i, ws in enumerate(tokenized):
        for w in ws:
            j = index.get(w)
            if j is not None:
                x[i, j] += 1
    return x, vocabulary


# =================================================================================================
# Prediction from the first q% of a generation
# =================================================================================================


@dataclass
class PrefixAUROC:
    """How well the label is predicted from the first ``q`` of each generation, cross-validated.

    Attributes:
        fractions: ``[Q]``.
        auroc: ``[Q]`` mean over the test folds of each fold's AUROC.
        pooled_auroc: ``[Q]`` AUROC of the out-of-fold scores of all rows together.
        fold_auroc: ``[fold, Q]``.
        scores: ``[Q, n]`` out-of-fold logits (NaN for rows in no test fold).
        metrics: mean over folds of every :class:`~mechint.probes.Metrics` rate, ``[Q]``.
        folds: the held-out folds, in order.
        method: ``"probe"`` or ``"bag of words"``.
    """

    fractions: list[float]
    auroc: Tensor
    pooled_auroc: Tensor
    fold_auroc: Tensor
    scores: Tensor
    metrics: Metrics
    folds: list[int]
    method: str


def _pooled(scores: Tensor, y: Tensor) -> Tensor:
    from .stats import auroc

    seen = ~torch.isnan(scores)
    return auroc(torch.nan_to_num(scores), y, seen)


def prefix_probe_auroc(
    features: Float[Tensor, "fraction n d"],
    labels: Tensor | Sequence[int],
    folds: Tensor | Sequence[int],
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    item_ids: Sequence[str] | None = None,
    **fit_kwargs,
) -> PrefixAUROC:
    """Probes fitted and tested on the features of the first ``q`` of each generation
    (:meth:`Generation.prefix_activations`), one per fraction, cross-validated over ``folds``
    (:func:`~mechint.probes.cross_validate`; ``fit_kwargs`` go to :func:`~mechint.probes.fit_probes`)."""
    x = torch.as_tensor(features)
    fr = check_fractions(fractions)
    if x.ndim != 3 or x.shape[0] != len(fr):
        raise ProbeDataError(f"features must be [fraction ({len(fr)}), n, d], got shape {tuple(x.shape)}")
    cv = cross_validate(x, labels, folds, item_ids=item_ids, **fit_kwargs)
    y = _validate.labels(labels).reshape(-1)
    f = check_folds(folds, x.shape[1], item_ids)
    return PrefixAUROC(
        fr, cv.metrics.auroc, _pooled(cv.scores, y), cv.fold_metrics.auroc, cv.scores, cv.metrics,
        sorted(set(f.tolist())), "probe",
    )  # fmt: skip


def text_prefix_auroc(
    prefix_texts: Sequence[Sequence[str]],
    labels: Tensor | Sequence[int],
    folds: Tensor | Sequence[int],
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    item_ids: Sequence[str] | None = None,
    max_features: int | None = 2000,
    min_df: int = 1,
    **fit_kwargs,
) -> PrefixAUROC:
    """The text-only baseline: a bag-of-words logistic classifier on the same partial texts
    (:meth:`Generation.prefix_texts`, ``[Q][n]``), cross-validated over the same folds as
    :func:`prefix_probe_auroc`. For each held-out fold the vocabulary comes from the training rows'
    texts only (all fractions), and the ``Q`` classifiers are fitted in one
    :func:`~mechint.probes.fit_probes` call (``fit_kwargs``; ``C`` etc.)."""
    fr = check_fractions(fractions)
    texts = [list(_validate.texts(t, "prefix texts")) for t in prefix_texts]
    if len(texts) != len(fr) or len({len(t) for t in texts}) != 1:
        raise ProbeDataError(
            f"prefix texts must be [fraction ({len(fr)})][n], got {len(texts)} lists of sizes {sorted({len(t) for t in texts})}"
        )
    n = len(texts[0])
    y = _validate.labels(labels).reshape(-1)
    if y.numel() != n:
        raise ProbeDataError(f"{y.numel()} labels for {n} texts")
    f = check_folds(folds, n, item_ids)
    held = sorted(set(f.tolist()))
    scores = torch.full((len(fr), n), math.nan)
    per_fold = []
    for j in held:
        train = (f != j).nonzero().reshape(-1)
        test = (f == j).nonzero().reshape(-1)
        if train.numel() == 0:
            raise ProbeDataError(f"holding out fold {j} leaves no training rows")
        _, vocab = bag_of_words(
            [texts[q][i] for q in range(len(fr)) for i in train.tolist()], max_features=max_features, min_df=min_df
        )
        if not vocab:
            raise ProbeDataError(f"the training texts of fold {j} hold no words: nothing to fit a bag of words on")
        x = torch.stack([bag_of_words(texts[q], vocab)[0] for q in range(len(fr))])  # [Q, n, V]
        probe = fit_probes(x, y[train], rows=train, **fit_kwargs)
        s = probe.decision_function(x[:, test].to(probe.device)).float().cpu()  # [Q, t]
        scores[:, test] = s
        per_fold.append(binary_metrics(s, y[test]))
    fm = stack_metrics(per_fold)
    mean = fold_mean(fm)
    return PrefixAUROC(fr, mean.auroc, _pooled(scores, y), fm.auroc, scores, mean, held, "bag of words")


@dataclass
class MonitorCurves:
    """:func:`prefix_monitor_auroc`'s two curves over the same fractions and folds."""

    probe: PrefixAUROC
    text: PrefixAUROC

    def table(self) -> list[dict[str, float]]:
        """One row per fraction: ``{"fraction", "probe_auroc", "text_auroc"}`` (means over folds)."""
        return [
            {"fraction": q, "probe_auroc": float(self.probe.auroc[k]), "text_auroc": float(self.text.auroc[k])}
            for k, q in enumerate(self.probe.fractions)
        ]


def prefix_monitor_auroc(
    generation: Generation,
    labels: Tensor | Sequence[int],
    folds: Tensor | Sequence[int],
    site: str,
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    pool: str = "mean",
    item_ids: Sequence[str] | None = None,
    max_features: int | None = 2000,
    **fit_kwargs,
) -> MonitorCurves:
    """Predict the judged label of each final response from the first ``q`` of its generation: a
    probe on the activations at ``site`` pooled over the first ``q`` of the generated tokens, and
    the bag-of-words baseline on the same partial text, with the same folds (by item id)."""
    acts = generation.prefix_activations(site, fractions, pool=pool)
    probe = prefix_probe_auroc(acts, labels, folds, fractions=fractions, item_ids=item_ids, **fit_kwargs)
    text = text_prefix_auroc(
        generation.prefix_texts(fractions), labels, folds, fractions=fractions, item_ids=item_ids,
        max_features=max_features, **fit_kwargs,
    )  # fmt: skip
    return MonitorCurves(probe, text)
