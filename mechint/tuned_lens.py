"""The tuned lens (Belrose et al., arXiv 2303.08112): per-layer affine translators, trained so that the
residual stream after ``l`` blocks, translated and read through the model's final norm and
unembedding, predicts what the model finally predicts.

The logit lens (:func:`mechint.logit_lens`) reads each layer's residual stream as if it were the last
one; early layers use other coordinates, so it reads them badly. A tuned lens gives each layer ``l <
n_layers`` a translator ``h -> h + A_l h + b_l`` (``A_l``, ``b_l`` start at zero, so an untrained lens
*is* the logit lens, and weight decay pulls towards it) trained to minimise ``KL(p_model || p_lens)``
at the same position. The model's output entry (``l = n_layers``) needs no translator.

Conventions follow the ``tuned-lens`` package: one translator per layer, entry ``l`` reads the stream
after ``l`` blocks (Hugging Face's ``hidden_states[l]``), SGD with Nesterov momentum (learning rate
scaled by ``1 - momentum``, so 1.0 is the usual choice) or Adam (AMSGrad, learning rate 1e-3, a
linear warm-up over the first fifth of the steps), weight decay, a learning rate decaying linearly
to zero, gradient norm clipped at 1. :meth:`TunedLens.save` writes its file layout
(``params.pt`` with keys ``"0.weight"``, ``"0.bias"``, ... and ``config.json``), so a lens trained by
either tool loads in the other.

Training runs on collected activations (:func:`mechint.collect` ``(pool="all")``, in memory or from an
:class:`mechint.ActivationStore`), every real token of the texts; the model itself is not run while
training, only its final norm and LM head. With ``checkpoint=`` an interrupted run resumes where it
stopped and ends with the bits of an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import torch
from jaxtyping import Float
from torch import Tensor, nn
from tqdm.auto import tqdm

from . import _validate
from .activations import Activations, ActivationStore, collect
from .disk import atomic_write_bytes, atomic_write_text
from .lens import lens_labels, readout
from .model import Model, index_list

__all__ = ["TunedLens", "TunedLensFit", "LensDivergence", "train_tuned_lens", "lens_divergence", "lens_sites"]

_PARAMS = "params.pt"
_CONFIG = "config.json"
_STATE = "train_state.pt"

# Rows of ``[rows, d_vocab]`` float32 logits a training chunk may hold (256 MiB per such tensor):
# the log-softmax, its gradient and the target each hold one.
_CHUNK_ELEMENTS = 2**26


class TunedLens(nn.Module):
    """One affine translator per layer: entry ``l < n_layers`` (the residual stream after ``l``
    blocks) is read as ``h + layer_translators[l](h)``; float32 whatever the model's dtype.

    Args:
        d_model: the model's residual width.
        n_layers: the model's number of blocks (one translator each).
        bias: translators with a bias (the ``tuned-lens`` default).
        base_model: the model's name, kept in the saved config.
    """

    def __init__(self, d_model: int, n_layers: int, *, bias: bool = True, base_model: str = ""):
        super().__init__()
        self.d_model = _validate.integer("d_model", d_model, minimum=1)
        self.n_layers = _validate.integer("n_layers", n_layers, minimum=1)
        self.bias = _validate.boolean("bias", bias)
        self.base_model = str(base_model)
        translators = [nn.Linear(self.d_model, self.d_model, bias=self.bias) for _ in range(self.n_layers)]
        with torch.no_grad():
            for t in translators:
                t.weight.zero_()
                if t.bias is not None:
                    t.bias.zero_()
        self.layer_translators = nn.ModuleList(translators)

    def translator(self, layer: int) -> nn.Linear:
        """The translator of entry ``layer`` (``0 .. n_layers - 1``)."""
        return cast(nn.Linear, self.layer_translators[layer])

    @classmethod
    def for_model(cls, model: Model, *, bias: bool = True) -> TunedLens:
        """An untrained lens for ``model`` (it reads what the logit lens reads), on the device where
        the model's final norm runs."""
        lens = cls(model.d_model, model.n_layers, bias=bias, base_model=model.name)
        return lens.to(readout(model)[1])

    def check_model(self, model: Model) -> None:
        """Raise unless this lens has ``model``'s widths (a lens of another model reads nonsense)."""
        if (self.d_model, self.n_layers) != (model.d_model, model.n_layers):
            raise ValueError(
                f"this tuned lens is for a model of d_model={self.d_model} and {self.n_layers} layers"
                f"{f' ({self.base_model})' if self.base_model else ''}; {model.name} has d_model={model.d_model} and "
                f"{model.n_layers} layers"
            )

    def translate(
        self, resid: Float[Tensor, "entry *rest d_model"], entries: Sequence[int]
    ) -> Float[Tensor, "entry *rest d_model"]:
        """``resid[i]`` (the stream after ``entries[i]`` blocks) through that layer's translator, in
        float32; entry ``n_layers`` (the model's output) passes unchanged."""
        if resid.shape[0] != len(entries) or resid.shape[-1] != self.d_model:
            raise ValueError(
                f"resid must be [entries, ..., {self.d_model}] with {len(entries)} entries, got {tuple(resid.shape)}"
            )
        h = resid.float()
        out = []
        for i, l in enumerate(entries):
            if not 0 <= l <= self.n_layers:
                raise ValueError(f"lens entry {l} is out of range 0..{self.n_layers}")
            if l == self.n_layers:
                out.append(h[i])
            else:
                t = self.translator(l)
                out.append(h[i] + t(h[i].to(t.weight.device)).to(h.device))
        return torch.stack(out)

    def forward(self, h: Float[Tensor, "*batch d_model"], layer: int) -> Float[Tensor, "*batch d_model"]:
        """The stream after ``layer`` blocks, translated (float32)."""
        return self.translate(h.unsqueeze(0), [layer])[0]

    # -- files, in the tuned-lens package's layout

    def config(self) -> dict:
        """The ``config.json`` the ``tuned-lens`` package writes and reads."""
        return {
            "base_model_name_or_path": self.base_model,
            "d_model": self.d_model,
            "num_hidden_layers": self.n_layers,
            "bias": self.bias,
            "base_model_revision": None,
            "unembed_hash": None,
            "lens_type": "linear_tuned_lens",
        }

    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``params.pt`` (the translators' state, keys ``"{l}.weight"``, ``"{l}.bias"``) and
        ``config.json`` to ``folder``, each replaced atomically."""
        folder = Path(folder)
        buf = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in self.layer_translators.state_dict().items()}, buf)
        atomic_write_bytes(folder / _PARAMS, buf.getvalue())
        atomic_write_text(folder / _CONFIG, json.dumps(self.config(), indent=1))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike, model: Model | None = None) -> TunedLens:
        """A lens saved by :meth:`save` or by the ``tuned-lens`` package; with ``model``, checked
        against its widths and put where its final norm runs."""
        folder = Path(folder)
        missing = [n for n in (_PARAMS, _CONFIG) if not (folder / n).is_file()]
        if missing:
            raise FileNotFoundError(f"no tuned lens at {folder}: {', '.join(missing)} missing")
        config = json.loads((folder / _CONFIG).read_text())
        kind = config.get("lens_type", "linear_tuned_lens")
        if kind != "linear_tuned_lens":
            raise ValueError(f"{folder} holds a {kind!r} lens; only 'linear_tuned_lens' is read")
        lens = cls(
            int(config["d_model"]),
            int(config["num_hidden_layers"]),
            bias=bool(config.get("bias", True)),
            base_model=config.get("base_model_name_or_path") or "",
        )
        state = torch.load(folder / _PARAMS, map_location="cpu", weights_only=True)
        lens.layer_translators.load_state_dict({k: v.float() for k, v in state.items()})
        if model is not None:
            lens.check_model(model)
            lens = lens.to(readout(model)[1])
        return lens


@dataclass
class TunedLensFit:
    """What :func:`train_tuned_lens` returns.

    Attributes:
        lens: the trained lens.
        layers: the entries whose translators were trained.
        losses: ``[step, layer]`` each trained translator's KL (nats per token) on the step's tokens,
            before that step's update (row 0, for a new lens: the logit lens's).
        n_tokens: tokens trained on (every real token of the texts).
        seconds: time of the steps run in this call (a resumed run counts only its own).
    """

    lens: TunedLens
    layers: list[int]
    losses: Tensor
    n_tokens: int
    seconds: float


def _target(logits: Tensor) -> tuple[Tensor, Tensor]:
    """The model's distribution ``p`` per row (float32) and ``sum p log p``, the KL's constant term."""
    logp = logits.float().log_softmax(-1)
    p = logp.exp()
    return p, (p * logp).sum(-1)


def _kl_rows(target: tuple[Tensor, Tensor], logits: Tensor) -> Tensor:
    """``KL(p || q)`` per row: ``sum p log p`` minus the cross-entropy of the lens's logits against
    ``p`` (one fused log-softmax, computed in float32)."""
    p, neg_entropy = target
    return neg_entropy + torch.nn.functional.cross_entropy(logits.float(), p, reduction="none")


def _training_rows(model: Model, data, sites: list[str], *, batch_size: int, max_length: int | None, store, progress):
    """``{site: [tokens, d_model]}`` float32, every real token: from texts (collected) or activations."""
    if isinstance(data, ActivationStore):
        data = data.load(sites)
    if isinstance(data, Activations):
        if data.pool != "all":
            raise ValueError(
                f"a tuned lens trains on every token: pass activations collected with pool='all', not {data.pool!r}"
            )
        missing = [s for s in sites if s not in data]
        if missing:
            raise KeyError(
                f"the activations lack {len(missing)} of the lens's sites (first: {missing[0]}); collect "
                f"{sites[0]} .. {sites[-1]} (mechint.tuned_lens.lens_sites(model))"
            )
        return {s: data[s] for s in sites}
    acts = collect(
        model,
        data,
        sites,
        pool="all",
        batch_size=batch_size,
        max_length=max_length,
        dtype=torch.float32,
        store=store,
        progress="collecting for the tuned lens" if progress else False,
    )
    return {s: acts[s] for s in sites}


def lens_sites(model: Model) -> list[str]:
    """The sites a tuned lens of ``model`` trains on: every lens entry, ``0 .. n_layers``."""
    return lens_labels(model, range(model.n_layers + 1))


def _fingerprint(rows: dict[str, Tensor], settings: dict) -> str:
    """What a checkpoint's run depends on: the training rows (shape and a sample of values) and the
    settings, so a checkpoint is never resumed on other data or with other settings."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for name, t in rows.items():
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        step = max(1, t.shape[0] // 64)
        h.update(t[::step].float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@contextlib.contextmanager
def _no_model_grads(model: Model):
    """The model's weights out of autograd while the lens trains through its final norm and head
    (no ``.grad`` is filled on them); their flags are restored after."""
    params = list(model.hf.parameters())
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)


def train_tuned_lens(
    model: Model,
    data: _validate.TextsLike | Activations | ActivationStore,
    *,
    steps: int = 250,
    tokens_per_step: int = 4096,
    optimizer: Literal["sgd", "adam"] = "sgd",
    lr: float | None = None,
    momentum: float = 0.9,
    weight_decay: float = 1e-3,
    layers: int | Iterable[int] | None = None,
    lens: TunedLens | None = None,
    seed: int = 0,
    batch_size: int = 16,
    max_length: int | None = None,
    store: ActivationStore | str | os.PathLike | bool | None = None,
    checkpoint: str | os.PathLike | None = None,
    save_every: int = 10,
    progress: bool = True,
) -> TunedLensFit:
    """Train a tuned lens of ``model`` on every real token of ``data``.

    Each step draws ``tokens_per_step`` tokens (without replacement, from ``seed`` and the step
    number) and, for each trained layer, lowers the mean ``KL(p_model || p_lens)`` over them: the
    model's own next-token distribution there against the lens's reading of the stream after that
    many blocks. The model is not run while training; only its final norm and LM head are, in
    chunks of rows that keep each ``[rows, d_vocab]`` tensor near 256 MiB.

    Args:
        model: the model whose lens this is.
        data: texts (or a data set) to collect from, or activations collected with ``pool="all"``
            at :func:`lens_sites` (an :class:`Activations` or an :class:`ActivationStore`). The
            rows are held in memory: ``(n_layers + 1) x tokens x d_model`` float32 values.
        steps: optimizer steps.
        tokens_per_step: tokens per step (all of them when there are fewer).
        optimizer: ``"sgd"`` (Nesterov momentum: the ``tuned-lens`` package's default) or ``"adam"``
            (AMSGrad, with a linear warm-up over the first fifth of the steps). Which goes further in
            a short run depends on the model: Adam's steps do not scale with the gradient, SGD's
            (clipped over all translators together) follow the layers of largest KL. The
            performance page compares them on the embedded model.
        lr: learning rate (default 1.0 for SGD, scaled by ``1 - momentum`` as the ``tuned-lens``
            package does; 1e-3 for Adam); decays linearly to zero over ``steps``.
        momentum: Nesterov momentum of the SGD, or Adam's first beta.
        weight_decay: pulls each translator towards the identity (the logit lens).
        layers: entries to train, in ``0 .. n_layers - 1`` (default: all); the others keep the
            translators they have (zero for a new lens).
        lens: a lens to continue training (default: a new, untrained one).
        seed: the order of the tokens.
        batch_size, max_length, store: how texts are collected (as :func:`mechint.collect`).
        checkpoint: a folder: the run's state is saved there every ``save_every`` steps, at the end
            and when interrupted (Ctrl-C), and a later call with the same data and settings resumes
            from it (the result equals an uninterrupted run's). The folder also holds the lens in
            the layout of :meth:`TunedLens.save`.
        save_every: steps between checkpoints.
        progress: a progress bar.
    """
    steps = _validate.integer("steps", steps, minimum=1)
    tokens_per_step = _validate.integer("tokens_per_step", tokens_per_step, minimum=1)
    save_every = _validate.integer("save_every", save_every, minimum=1)
    seed = _validate.integer("seed", seed)
    progress = _validate.boolean("progress", progress)
    optimizer = _validate.choice("optimizer", optimizer, ("sgd", "adam"))
    lr = (1.0 if optimizer == "sgd" else 1e-3) if lr is None else lr
    for name, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
        _validate.number(name, value, low=0.0)
    if momentum >= 1:
        raise ValueError(f"momentum must be below 1, got {momentum}")
    n = model.n_layers
    trained = list(range(n)) if layers is None else index_list(layers, n, "lens layer", negative=False)
    if not trained:
        raise ValueError("layers= is empty: name at least one lens entry to train")
    lens = TunedLens.for_model(model) if lens is None else lens
    lens.check_model(model)
    sites = lens_sites(model)
    rows = _training_rows(
        model, data, sites, batch_size=batch_size, max_length=max_length, store=store, progress=progress
    )
    n_tokens = rows[sites[0]].shape[0]
    if n_tokens == 0:
        raise ValueError("no tokens to train on: the texts are empty")
    read, where = readout(model)
    params = [p for l in trained for p in lens.translator(l).parameters()]
    opt: torch.optim.Optimizer
    warmup = 0
    if optimizer == "sgd":
        opt = torch.optim.SGD(
            params, lr=lr * (1 - momentum), momentum=momentum, nesterov=True, weight_decay=weight_decay
        )
    else:
        opt = torch.optim.Adam(params, lr=lr, betas=(momentum, 0.999), amsgrad=True, weight_decay=weight_decay)
        warmup = min(1000, steps // 5)

    def factor(k: int) -> float:
        if k < warmup:
            return (k + 1) / warmup
        return max(0.0, 1.0 - (k - warmup) / max(1, steps - warmup))

    schedule = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    per_step = min(tokens_per_step, n_tokens)
    chunk = max(1, _CHUNK_ELEMENTS // model.d_vocab)
    settings = dict(
        steps=steps, tokens_per_step=per_step, optimizer=optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay,
        layers=trained, seed=seed, bias=lens.bias,
    )  # fmt: skip
    used = {s: rows[s] for s in [sites[l] for l in trained] + [sites[n]]}
    fingerprint = _fingerprint(used, settings)
    losses: list[Tensor] = []
    start = 0
    folder = Path(checkpoint) if checkpoint is not None else None
    if folder is not None and (folder / _STATE).is_file():
        state = torch.load(folder / _STATE, map_location="cpu", weights_only=True)
        if state["fingerprint"] != fingerprint:
            raise ValueError(
                f"the checkpoint at {folder} is of another run (other data, model or settings than "
                f"{settings}); use another folder, or delete {folder / _STATE} to start again"
            )
        lens.layer_translators.load_state_dict(state["lens"])
        opt.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        losses = list(state["losses"])
        start = int(state["step"])

    def save(done: int) -> None:
        assert folder is not None
        buf = io.BytesIO()
        torch.save(
            {
                "fingerprint": fingerprint,
                "step": done,
                "lens": {k: v.detach().cpu() for k, v in lens.layer_translators.state_dict().items()},
                "optimizer": opt.state_dict(),
                "schedule": schedule.state_dict(),
                "losses": losses,
            },
            buf,
        )
        atomic_write_bytes(folder / _STATE, buf.getvalue())
        lens.save(folder)

    final = rows[sites[n]]
    done, saved, updating = start, start, False
    began = time.perf_counter()
    bar = tqdm(range(start, steps), desc="tuned lens", disable=not progress, initial=start, total=steps)
    try:
        with _no_model_grads(model):
            for step in bar:
                order = torch.randperm(n_tokens, generator=torch.Generator().manual_seed(seed * 1_000_003 + step))
                picked = order[:per_step]
                opt.zero_grad(set_to_none=True)
                step_loss = torch.zeros(len(trained), dtype=torch.float64)
                for c in range(0, per_step, chunk):
                    sel = picked[c : c + chunk]
                    with torch.no_grad():
                        target = _target(read(final[sel].to(where)))
                    for i, l in enumerate(trained):
                        h = rows[sites[l]][sel].to(where)
                        kl = _kl_rows(target, read(lens(h, l))).sum() / per_step
                        kl.backward()
                        step_loss[i] += kl.detach().double().cpu()
                updating = True
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                schedule.step()
                losses.append(step_loss.float())
                done, updating = step + 1, False
                if folder is not None and (done % save_every == 0 or done == steps):
                    save(done)
                    saved = done
                bar.set_postfix(kl=f"{step_loss.mean().item():.3f}")
    except KeyboardInterrupt:
        # a step cut between its update and its bookkeeping is not saved: the last checkpoint stands
        if folder is not None and done > saved and not updating:
            save(done)
        raise
    finally:
        bar.close()
    return TunedLensFit(lens, trained, torch.stack(losses), n_tokens, time.perf_counter() - began)


@dataclass
class LensDivergence:
    """How far a lens is from the model's output: per entry, the mean ``KL(p_model || p_lens)`` over
    every real token of the texts (nats per token).

    Attributes:
        layers: the lens entries (``l`` = after ``l`` blocks; ``n_layers`` is the model's output, 0).
        kl: ``[layer]`` the mean KL of each entry.
        n_tokens: tokens averaged over.
        lens: ``"logit"`` or ``"tuned"``.
    """

    layers: list[int]
    kl: Tensor
    n_tokens: int
    lens: str

    def to_dict(self) -> dict:
        return {"layers": self.layers, "kl": self.kl.tolist(), "n_tokens": self.n_tokens, "lens": self.lens}


@torch.no_grad()
def lens_divergence(
    model: Model,
    texts: _validate.TextsLike,
    *,
    tuned: TunedLens | None = None,
    layers: int | Iterable[int] | None = None,
    batch_size: int = 8,
    max_length: int | None = None,
) -> LensDivergence:
    """The mean ``KL(p_model || p_lens)`` of each lens entry over every real token of ``texts``: the
    logit lens's, or with ``tuned=`` the tuned lens's (the curve of Belrose et al.'s figures). The
    loss a :func:`train_tuned_lens` step reports is this quantity on that step's tokens."""
    texts = _validate.texts(texts)
    batch_size = _validate.integer("batch_size", batch_size, minimum=1)
    n = model.n_layers
    entries = list(range(n + 1)) if layers is None else index_list(layers, n + 1, "lens layer")
    if tuned is not None:
        tuned.check_model(model)
    labels = lens_labels(model, entries)
    final_site = lens_labels(model, [n])[0]
    read, where = readout(model)
    chunk = max(1, _CHUNK_ELEMENTS // model.d_vocab)
    total = torch.zeros(len(entries), dtype=torch.float64)
    count = 0
    for start in range(0, len(texts), batch_size):
        enc = model.tokenize(texts[start : start + batch_size], max_length=max_length)
        _, cache = model.run_with_cache(enc, sorted(set(labels) | {final_site}), logits=False)
        real = enc["attention_mask"].bool()
        # every real token of the batch, packed: [tokens, d_model] per site, where the readout runs
        flat = {s: cache[s][real.to(cache[s].device)].to(where) for s in set(labels) | {final_site}}
        tokens = int(real.sum())
        for c in range(0, tokens, chunk):
            target = _target(read(flat[final_site][c : c + chunk]))
            resid = torch.stack([flat[s][c : c + chunk] for s in labels])
            if tuned is not None:
                resid = tuned.translate(resid, entries)
            for i in range(len(entries)):
                total[i] += _kl_rows(target, read(resid[i])).double().sum().cpu()
        count += tokens
    return LensDivergence(entries, (total / count).float(), count, "logit" if tuned is None else "tuned")
