"""Collect activations over data sets: pooled or per token, in memory or streamed to disk.

:func:`collect` runs the model over texts in length-sorted batches with read hooks at the requested
sites, pools each batch inside the hook (so memory is bounded by one batch), and returns an
:class:`Activations` mapping. With ``store=...`` the rows go to an :class:`ActivationStore`
(safetensors shards and a JSON manifest) that resumes after an interruption without losing or
duplicating rows, and that later runs reuse; ``distributed=True`` shares the filling of one store
between the processes of a ``torch.distributed`` group. :func:`collect_stats` streams per-site mean
and variance without keeping any activation.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal, Sequence

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from . import _validate
from ._suggest import nearest
from .disk import atomic_write_bytes, file_lock
from .hooks import input_rows
from .model import Model
from .stats import RunningMoments

Pool = Literal["last", "mean", "all"]
POOLS = ("last", "mean", "all")


class Activations(Mapping):
    """Activations of ``n`` texts at some sites: a mapping ``site name -> tensor``.

    Pooled (``pool="last"``/``"mean"``): each tensor is ``[n, ...site shape]`` in the order of the
    texts. Per token (``pool="all"``): each tensor packs the texts' tokens one after another,
    ``[total_tokens, ...]``; ``lengths[i]`` tokens belong to text ``i`` and :meth:`row` returns them.
    """

    def __init__(self, tensors: dict[str, Tensor], pool: str, lengths: Tensor | None = None):
        self._tensors = tensors
        self.pool = pool
        self.lengths = lengths

    def __getitem__(self, site: str) -> Tensor:
        try:
            return self._tensors[site]
        except KeyError:
            near = nearest(site, self._tensors, n=3, cutoff=0.0)
            raise KeyError(f"{site!r} was not collected; collected sites nearest to it: {near}") from None

    def __iter__(self):
        return iter(self._tensors)

    def __len__(self) -> int:
        return len(self._tensors)

    @property
    def n(self) -> int:
        """Number of texts."""
        if self.lengths is not None:
            return int(self.lengths.numel())
        return int(next(iter(self._tensors.values())).shape[0]) if self._tensors else 0

    def row(self, site: str, i: int) -> Tensor:
        """The activations of text ``i`` at ``site`` (``[len_i, ...]`` for ``pool="all"``)."""
        if self.pool != "all":
            return self[site][i]
        offsets = self.offsets
        return self[site][offsets[i] : offsets[i + 1]]

    @property
    def offsets(self) -> Tensor:
        if self.lengths is None:
            raise ValueError("offsets exist only for pool='all'")
        return torch.cat([torch.zeros(1, dtype=torch.long), self.lengths.long().cumsum(0)])

    def stack(self, sites: Sequence[str] | None = None) -> Float[Tensor, "n_sites n d"]:
        """Pooled activations of several sites (default: all, in order) as one tensor."""
        names = [sites] if isinstance(sites, str) else list(sites) if sites is not None else list(self._tensors)
        shapes = {tuple(self[s].shape) for s in names}
        if len(shapes) > 1:
            listed = ", ".join(f"{s} {tuple(self[s].shape)}" for s in names[:6])
            raise ValueError(f"stack needs sites of one shape, these differ: {listed}; pass sites= of one kind")
        return torch.stack([self[s] for s in names])

    def __repr__(self) -> str:
        shapes = {k: tuple(v.shape) for k, v in list(self._tensors.items())[:4]}
        more = "" if len(self) <= 4 else f", ... {len(self)} sites"
        return f"Activations(pool={self.pool!r}, n={self.n}, {shapes}{more})"


# ---------------------------------------------------------------------------------------------
# The batch loop shared by collect, the store and the statistics
# ---------------------------------------------------------------------------------------------


def _texts(texts) -> list[str]:
    return _validate.texts(texts)


@dataclass
class Batch:
    """One batch of :func:`iter_batches`, as a custom pooling function sees it: which texts its rows
    are (``indices`` into the texts) and their left-padding ``attention_mask [batch, pos]``, on the
    device of the activation being pooled (a model placed over several devices runs its layers on
    several)."""

    indices: list[int]
    attention_mask: Tensor


PoolFn = Callable[[Tensor, Batch], Tensor]
"""``pool(activation [batch, pos, ...], batch) -> [batch, ...]``: a pooling of one's own."""


def _check_args(
    *, pool=None, batch_size=None, shard_size=None, max_length=None, dtype=None, custom_pool: bool = True
) -> torch.dtype | None:
    """Reject bad arguments before anything (a store folder, a forward) is made; return ``dtype`` as a
    ``torch.dtype`` (names such as ``"bfloat16"`` accepted)."""
    if not (custom_pool and callable(pool)):
        _validate.choice("pool", pool, POOLS)
    _validate.integer("batch_size", batch_size, minimum=1)
    _validate.integer("shard_size", shard_size, minimum=1, optional=True)
    _validate.integer("max_length", max_length, minimum=1, optional=True)
    resolved = _validate.dtype("dtype", dtype)
    if resolved is not None and not resolved.is_floating_point:
        raise ValueError(f"dtype must be a floating-point dtype (activations are real numbers), got {resolved}")
    return resolved


def refuse_hooks_with_shared_store(model: Model, caller: str) -> None:
    """The shared store (``store=True``) is keyed by model, texts, sites and pooling, not by the hooks
    active around the call: refuse rather than answer an intervention with plain activations."""
    if model.active_hooks:
        raise ValueError(
            f"{caller}(store=True) keys the shared store by model, texts, sites and pool, not by the "
            f"{model.active_hooks} hook(s) active around it, so it could return activations collected "
            "without them: pass store=None, or an explicit store folder that names the intervention"
        )


def _pool(x: Tensor, mask: Tensor, pool: str) -> Tensor:
    """Pool ``[batch, pos, ...]`` over positions under a left-padding ``mask [batch, pos]``."""
    if pool == "last":
        return x[:, -1].clone()  # a view would keep the whole [batch, pos, ...] activation alive
    m = mask.to(x.dtype).reshape(*mask.shape, *([1] * (x.ndim - 2)))
    if pool == "mean":
        return (x * m).sum(1) / m.sum(1).clamp(min=1)
    # "all": pack the real tokens of every row, in row order
    return x[mask.bool()]


def iter_batches(
    model: Model,
    texts: _validate.TextsLike,
    sites: Sequence[str],
    *,
    pool: Pool | PoolFn = "last",
    batch_size: int = 16,
    max_length: int | None = None,
    out_dtype: torch.dtype | None = torch.float32,
    out_device: str | torch.device | None = "cpu",
    progress: bool | str = True,
    token_ids: Sequence[Sequence[int]] | None = None,
) -> Iterator[tuple[list[int], dict[str, Tensor], Tensor]]:
    """Yield ``(indices, {site: pooled}, lengths)`` per batch; batches are sorted by token length.

    Each batch runs one forward that stops after the last requested site and never computes logits.
    ``indices`` are positions in ``texts``; rows of the tensors follow them. ``pool`` may be a
    function of the activation and its :class:`Batch` (e.g. the positions of several prefixes of
    each text). ``token_ids``: the texts already tokenized (``max_length`` is then not applied).
    """
    out_dtype = _check_args(pool=pool, batch_size=batch_size, max_length=max_length, dtype=out_dtype)
    texts = _texts(texts)  # one string is one text, a data set its .texts (list() would split or misread them)
    chosen = model.sites(sites)
    if not chosen:
        raise ValueError("no sites given")
    patterns = [s.name for s in chosen if s.pattern]
    if patterns:
        raise ValueError(
            f"{patterns[0]} is an attention map [batch, head, query, key], whose key axis is as wide as "
            "each batch: it is not collected or pooled per text. Read it with model.run_with_cache or a "
            "record hook in model.hooks"
        )
    # Tokenize once; batches are padded from these ids.
    if token_ids is None:
        all_ids = model.tokenizer(list(texts), truncation=max_length is not None, max_length=max_length)["input_ids"]
    else:
        all_ids = [list(t) for t in token_ids]
        if len(all_ids) != len(texts):
            raise ValueError(f"{len(all_ids)} token id lists for {len(texts)} texts")
    model.check_token_ids(all_ids)
    order = sorted(range(len(texts)), key=lambda i: -len(all_ids[i]))
    last_site = max(chosen, key=lambda s: s.order)
    state: dict[str, Any] = {}  # "mask": the batch's attention mask, "batch": its Batch
    out: dict[str, Tensor] = {}
    # On an asynchronous device the copy of batch i to the host is started without waiting and only
    # awaited after batch i+1 is queued, so the device never idles while Python prepares a batch.
    # (Not for a model placed over several devices: one event on the input device would not cover
    # the copies from the others.)
    asynchronous = (
        model.device.type == "cuda" and torch.device(out_device or model.device).type == "cpu" and model.placed is None
    )
    pending: list[tuple] = []
    batch_on: dict[torch.device, Batch] = {}  # the batch's mask on each device a layer runs on

    def reader(x: Tensor, ctx) -> None:
        # Stay on the activation's device inside the forward: a copy to the host here would wait for
        # the device at every site, stalling the kernel queue. Under a device map each layer's
        # activation is pooled where it is, with the mask copied there once per batch.
        batch = batch_on.get(x.device)
        if batch is None:
            batch = batch_on[x.device] = Batch(state["batch"].indices, state["mask"].to(x.device))
        pooled = pool(x.detach(), batch) if callable(pool) else _pool(x.detach(), batch.attention_mask, pool)
        out[ctx.site.name] = pooled.to(dtype=out_dtype or pooled.dtype)

    def finished(item: tuple) -> tuple[list[int], dict[str, Tensor], Tensor]:
        idx, rows, lens, event = item
        if event is not None:
            event.synchronize()
        return idx, rows, lens

    hooks = [(s, reader) for s in chosen]
    starts = range(0, len(order), batch_size)
    bar = tqdm(starts, desc=progress if isinstance(progress, str) else "collect", disable=not progress, unit="batch")
    with torch.inference_mode(), model.hooks(hooks, stop_after=last_site):
        for start in bar:
            idx = order[start : start + batch_size]
            enc = model.pad([all_ids[i] for i in idx])
            state["mask"] = enc["attention_mask"]
            state["batch"] = Batch(idx, enc["attention_mask"])
            batch_on.clear()
            batch_on[enc["attention_mask"].device] = state["batch"]
            out.clear()
            with input_rows(idx, len(texts)):  # rows= of hooks around collect mean text indices
                model.forward(enc, logits=False)
            lens = enc["attention_mask"].sum(1).to("cpu", non_blocking=asynchronous)
            rows = {s.name: out[s.name].to(out_device, non_blocking=asynchronous) for s in chosen}
            event = None
            if asynchronous:
                event = torch.cuda.Event()
                event.record()
            pending.append((idx, rows, lens, event))
            if len(pending) > 1 or not asynchronous:
                yield finished(pending.pop(0))
        while pending:
            yield finished(pending.pop(0))


# ---------------------------------------------------------------------------------------------
# collect
# ---------------------------------------------------------------------------------------------


def special_token_ids(model: Model) -> Tensor:
    """``[k]`` (long, CPU, sorted) the ids of the tokenizer's special tokens (BOS, EOS, pad and the
    others it lists)."""
    ids = set(getattr(model.tokenizer, "all_special_ids", []) or [])
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = getattr(model.tokenizer, name, None)
        if value is not None:
            ids.add(int(value))
    return torch.tensor(sorted(ids), dtype=torch.long)


def token_batches(
    model: Model,
    texts: _validate.TextsLike,
    batch_size: int,
    *,
    max_length: int | None = None,
    progress: bool | str = False,
    desc: str = "batches",
) -> Iterator[tuple[list[int], dict[str, Tensor], Tensor]]:
    """Tokenized, left-padded batches of ``texts`` sorted by length (longest first), for a method that
    runs its own forwards and reads only the texts' content tokens.

    Yields ``(indices, encoding, content)`` per batch: ``indices`` the batch's texts (positions in
    ``texts``; wrap the forward in :func:`mechint.hooks.input_rows` ``(indices, len(texts))`` so that
    ``rows=`` of the caller's hooks count texts), ``encoding`` the padded ``input_ids`` and
    ``attention_mask`` (``[batch, pos]``, on the model's device), and ``content`` ``[batch, pos]`` bool:
    True on real tokens that are not special tokens (BOS, EOS, pad), or, for a text that is nothing
    but special tokens, on all its real tokens. ``max_length`` truncates; texts the model cannot run
    (:meth:`Model.check_token_ids`) are refused before the first batch."""
    _validate.integer("batch_size", batch_size, minimum=1)
    _validate.integer("max_length", max_length, minimum=1, optional=True)
    texts = _validate.texts(texts)
    ids = model.tokenizer(texts, truncation=max_length is not None, max_length=max_length)["input_ids"]
    model.check_token_ids(ids)
    order = sorted(range(len(texts)), key=lambda i: -len(ids[i]))
    special = special_token_ids(model)
    starts = range(0, len(order), batch_size)
    bar = tqdm(starts, desc=progress if isinstance(progress, str) else desc, disable=not progress, unit="batch")
    for start in bar:
        idx = order[start : start + batch_size]
        enc = model.pad([ids[i] for i in idx])
        real = enc["attention_mask"].bool()
        content = real & ~torch.isin(enc["input_ids"], special.to(enc["input_ids"].device))
        empty = ~content.any(1)
        if bool(empty.any()):
            content[empty] = real[empty]
        yield idx, enc, content


def collect(
    model: Model,
    texts: _validate.TextsLike,
    sites: str | Iterable[str],
    *,
    pool: Pool = "last",
    batch_size: int = 16,
    max_length: int | None = None,
    dtype: torch.dtype | None = torch.float32,
    store: "ActivationStore | str | os.PathLike | bool | None" = None,
    shard_size: int = 256,
    progress: bool | str = True,
    distributed: bool = False,
) -> Activations:
    """Activations of ``model`` on ``texts`` at ``sites``.

    Args:
        texts: strings, or a data set with ``.texts``.
        sites: site names; a bare key (``"hook_resid_post"``) means that site at every layer.
        pool: ``"last"`` (last real token), ``"mean"`` (mean over real tokens) or ``"all"``
            (every real token, packed; see :class:`Activations`).
        batch_size: texts per forward pass; memory is bounded by one batch.
        dtype: dtype of the returned tensors (``None``: the model's).
        store: ``None`` keeps everything in memory. ``True`` uses the shared store in the cache
            folder keyed by model, texts, sites and pool (a second call reuses it). A path or an
            :class:`ActivationStore` streams shards there; an interrupted run resumes.
        shard_size: texts per shard when storing.
        distributed: share the work between the processes of the initialised ``torch.distributed``
            process group (``torchrun``): every process calls ``collect`` with the same model, texts
            and arguments and a ``store`` every process sees; each writes a share of the shards to
            that one store, and each returns all the rows, equal to a one-process run's. An
            interrupted run resumes with any number of processes, or with none.
    """
    distributed = _validate.boolean("distributed", distributed)
    ranks = None
    if distributed:
        from ._ranks import Ranks

        ranks = Ranks.current("collect(distributed=True)")

    def checked():
        texts_ = _texts(texts)
        if not (store is None or isinstance(store, (bool, str, os.PathLike, ActivationStore))):
            raise TypeError(
                f"store must be None, True, a folder path or an ActivationStore, got {_validate.given(store)}"
            )
        if distributed and (store is None or store is False):
            raise ValueError(
                "collect(distributed=True) has every process write its share of the rows to one store: pass "
                "store= a folder every process sees, or store=True (the cache folder, if it is shared)"
            )
        dtype_ = _check_args(
            pool=pool,
            batch_size=batch_size,
            shard_size=shard_size,
            max_length=max_length,
            dtype=dtype,
            custom_pool=False,
        )
        names_ = [s.name for s in model.sites(sites)]
        if store is True:
            refuse_hooks_with_shared_store(model, "collect")
        return texts_, dtype_, names_

    if ranks is None:
        texts, dtype, names = checked()
    else:
        texts, dtype, names = ranks.agree(checked, "checking the arguments")
    if store is None or store is False:
        return _gather(
            model, texts, names, pool=pool, batch_size=batch_size, max_length=max_length, dtype=dtype, progress=progress
        )
    if ranks is None:
        ids = _token_ids(model, texts, max_length)
        st = _open_store(store, model, texts, ids, names, pool, dtype, max_length)
    else:
        ids = ranks.agree(lambda: _token_ids(model, texts, max_length), "tokenizing the texts")
        _check_same_call(
            ranks,
            "collect(distributed=True)",
            model,
            texts,
            ids,
            sites=names,
            pool=pool,
            dtype=str(dtype),
            max_length=max_length,
            batch_size=batch_size,
            shard_size=shard_size,
        )

        def opened() -> ActivationStore:
            return _open_store(store, model, texts, ids, names, pool, dtype, max_length)

        # rank 0 first: it creates the folder and its manifest, which the others then open
        first = ranks.agree(lambda: opened() if ranks.rank == 0 else None, "opening the store")
        st = ranks.agree(lambda: first if first is not None else opened(), "opening the store")
    st.fill(
        model, texts, batch_size=batch_size, shard_size=shard_size, progress=progress, distributed=distributed, _ids=ids
    )
    return st.load(names)


def _token_ids(model: Model, texts: Sequence[str], max_length: int | None) -> list[list[int]]:
    """The token ids that :func:`iter_batches` runs for ``texts``: what a store's rows depend on."""
    return model.tokenizer(list(texts), truncation=max_length is not None, max_length=max_length)["input_ids"]


def _gather(
    model: Model,
    texts: Sequence[str],
    names: Sequence[str],
    *,
    pool: Pool,
    batch_size: int,
    max_length: int | None,
    dtype: torch.dtype | None,
    progress: bool | str,
    token_ids: Sequence[Sequence[int]] | None = None,
) -> Activations:
    """The rows of every text in text order, in memory."""
    parts: dict[str, list[Tensor]] = {n: [] for n in names}
    order: list[int] = []
    lengths = torch.zeros(len(texts), dtype=torch.long)
    for idx, batch, lens in iter_batches(
        model,
        texts,
        names,
        pool=pool,
        batch_size=batch_size,
        max_length=max_length,
        out_dtype=dtype,
        progress=progress,
        token_ids=token_ids,
    ):
        order += idx
        lengths[idx] = lens
        for n in names:
            parts[n].append(batch[n])
    return Activations(_restore_order(parts, order, lengths, pool), pool, lengths if pool == "all" else None)


def _padded_tokens(ids: Sequence[Sequence[int]], start: int, stop: int, batch_size: int) -> int:
    """Tokens, padding included, that the batches of texts ``[start, stop)`` run: a shard's cost."""
    lengths = sorted((len(ids[i]) for i in range(start, stop)), reverse=True)
    return sum(len(lengths[b : b + batch_size]) * lengths[b] for b in range(0, len(lengths), batch_size))


def _check_same_call(ranks, caller: str, model: Model, texts: Sequence[str], ids, **fields) -> None:
    """Every rank of a distributed collection passed the same model, texts and arguments (else a
    ``ValueError`` on every rank naming what differs)."""
    ranks.check_same(
        {
            "number of texts": len(texts),
            "texts": texts_fingerprint(texts),
            "token ids": token_ids_fingerprint(ids),
            "model (weights, config or dtype)": model_fingerprint(model),
            **fields,
        },
        caller,
        "every rank passes all the texts, and each collects its share",
    )


def _restore_order(parts: dict[str, list[Tensor]], order: list[int], lengths: Tensor, pool: str) -> dict[str, Tensor]:
    """Put rows gathered in batch order back into text order."""
    perm = torch.as_tensor(order)
    if pool != "all":
        inv = torch.empty_like(perm)
        inv[perm] = torch.arange(len(perm))
        return {n: torch.cat(p)[inv] for n, p in parts.items()}
    # packed tokens: split per text in batch order, then reorder the pieces
    sizes = lengths[perm].tolist()
    result = {}
    for n, p in parts.items():
        pieces = list(torch.cat(p).split(sizes))
        by_text = dict(zip(order, pieces))  # order is a permutation of the texts
        result[n] = torch.cat([by_text[i] for i in range(len(order))])
    return result


def collect_stats(
    model: Model,
    texts: _validate.TextsLike,
    sites: str | Iterable[str],
    *,
    pool: Pool = "all",
    batch_size: int = 16,
    max_length: int | None = None,
    progress: bool | str = True,
) -> dict[str, RunningMoments]:
    """Per-site mean and variance over texts without storing activations.

    ``pool="all"``: over every real token; ``"last"``/``"mean"``: over one pooled vector per text.
    """
    texts = _texts(texts)
    names = [s.name for s in model.sites(sites)]
    stats = {n: RunningMoments() for n in names}
    for _, batch, _ in iter_batches(
        model,
        texts,
        names,
        pool=pool,
        batch_size=batch_size,
        max_length=max_length,
        out_dtype=torch.float64,
        out_device=model.device,
        progress=progress,
    ):
        for n in names:
            stats[n].update(batch[n])
    return stats


# ---------------------------------------------------------------------------------------------
# The on-disk store
# ---------------------------------------------------------------------------------------------

_MANIFEST = "manifest.json"
_LENGTHS = "__lengths__"
_FORMAT = 2  # version 2: shard and manifest checksums, token identity
_SHARD_RE = re.compile(r"^shard-\d{5}\.safetensors$")
# the shards one rank of a distributed fill has written and not yet seen merged into the manifest
_RANK_FILE = "manifest-rank-{:05d}.json"
_RANK_RE = re.compile(r"^manifest-rank-\d{5}\.json$")
# temporary siblings (cache.temp_sibling) of the store's own files: the only files fill() may delete
_OWN_TEMP_RE = re.compile(
    r"^\.(shard-\d{5}\.safetensors|manifest\.json|manifest-rank-\d{5}\.json)\.tmp-\d+-[0-9a-f]{8}$"
)


class StoreError(ValueError):
    """An activation store that cannot be used as it is: a damaged or foreign manifest, or a shard
    whose bytes or rows differ from what the manifest recorded. The message names the file."""


class DamagedShardError(StoreError):
    """A listed shard is missing, or its bytes, row range or row count differ from the manifest.
    ``shards`` are the indices of the damaged shards; :meth:`ActivationStore.repair` recollects them."""

    def __init__(self, root: Path, problems: "list[tuple[int, str]]"):
        self.root, self.shards = root, [k for k, _ in problems]
        listed = "; ".join(why for _, why in problems[:5]) + (
            f"; ... ({len(problems)} in all)" if len(problems) > 5 else ""
        )
        super().__init__(
            f"the activation store at {root} has {len(problems)} damaged shard(s): {listed}. Recollect just "
            "those with mechint.ActivationStore(root).repair(model, texts), or delete the folder"
        )


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def _read_manifest(root: Path) -> dict:
    """The manifest of the store at ``root``, checked: valid JSON, its own checksum, this format, and
    shards that cover rows ``0..rows_done`` in order, once each."""
    path = root / _MANIFEST

    def damaged(why: str) -> StoreError:
        return StoreError(
            f"the activation store manifest {path} is {why}; its shards cannot be trusted "
            "without it: delete the folder and collect again"
        )

    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise damaged(f"not UTF-8 text (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise damaged(f"not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("meta"), dict):
        raise damaged("not an activation store manifest (no meta)")
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    # the checksum first: a damaged "version" key must read as damage, not as another format
    if "checksum" in manifest and manifest["checksum"] != _digest(body):
        raise damaged("damaged (its checksum does not match its contents)")
    if manifest.get("version") != _FORMAT:
        raise StoreError(
            f"the activation store at {root} has format version {manifest.get('version')!r} in its {_MANIFEST}; "
            f"this mechint reads version {_FORMAT} (with checksums): delete the folder and collect again"
        )
    if "checksum" not in manifest:
        raise damaged("damaged (it has no checksum)")
    try:
        n_rows = int(manifest["meta"]["n_texts"])
        previous = 0
        for shard in manifest["shards"]:
            if (
                not _SHARD_RE.match(shard["file"])
                or shard["start"] != previous
                or not shard["start"] < shard["stop"] <= n_rows
            ):
                raise ValueError(shard)
            previous = shard["stop"]
            _ = int(shard["bytes"]), str(shard["sha256"])  # present, and the size an integer
        if "plan" in manifest:  # shards planned by a distributed fill: the rows after the listed ones, in order
            listed = {shard["file"] for shard in manifest["shards"]}
            for shard in manifest["plan"]["shards"]:
                if (
                    not _SHARD_RE.match(shard["file"])
                    or shard["file"] in listed
                    or shard["start"] != previous
                    or not shard["start"] < shard["stop"] <= n_rows
                ):
                    raise ValueError(shard)
                listed.add(shard["file"])
                previous = shard["stop"]
                if "sha256" in shard:
                    _ = int(shard["bytes"]), str(shard["sha256"])
            if previous != n_rows:
                raise ValueError(f"plan ends at text {previous} of {n_rows}")
    except (KeyError, TypeError, ValueError) as err:
        raise damaged(f"inconsistent (shard entry {err})") from None
    return manifest


def _shard_index(name: str) -> int:
    """``k`` of the shard file name ``shard-{k:05d}.safetensors``."""
    return int(name.removeprefix("shard-").removesuffix(".safetensors"))


def _shard_header(data: bytes) -> dict:
    """The JSON header of safetensors bytes (tensor names, shapes, and ``__metadata__``)."""
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + n])


class ActivationStore:
    """Activations on disk: ``shard-XXXXX.safetensors`` files and a ``manifest.json``.

    Shard ``k`` holds texts ``[start, stop)`` in the order of the texts, one tensor per site (plus
    token lengths for ``pool="all"``). A shard is written to a temporary file and renamed into place,
    and only then listed in the manifest (itself replaced atomically), so a run killed at any moment
    leaves a store whose listed shards are complete; :meth:`fill` continues after the last listed
    shard, so no row is lost or written twice.

    The manifest records each shard's size and SHA-256 and carries a checksum of itself; every read
    verifies them and the row range inside each shard, so a damaged, truncated, swapped or missing
    shard raises :class:`DamagedShardError` (naming it) instead of serving wrong rows, and
    :meth:`repair` recollects only the damaged shards. The store's identity (``meta``) covers
    everything its rows depend on: the model's weights and config, the token ids of every text (so
    the tokenizer, its special tokens, a chat template and ``max_length``), the sites, the pooling
    and the dtype. The store only ever writes, and deletes, files of its own names.

    Filled by several processes (:func:`collect` ``(distributed=True)``), the store is the same: the
    shards are cut as one process cuts them, each written by one process, and listed in the manifest
    in row order once written. While such a fill runs, or after it was interrupted, the manifest also
    holds its ``plan`` (the shards after the listed rows, and which of them are written), and the
    ``manifest-rank-RRRRR.json`` files list what each process wrote since; reading uses the listed
    shards only, and the next :meth:`fill` merges the rest.
    """

    def __init__(self, root: str | os.PathLike, meta: dict | None = None):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"the activation store path {self.root} is a file, not a folder")
        path = self.root / _MANIFEST
        if path.exists():
            self.manifest = _read_manifest(self.root)
            if meta is not None:
                self._check_meta(meta)
        else:
            if meta is None:
                raise FileNotFoundError(f"no activation store at {self.root} (no {_MANIFEST})")
            foreign = sorted(p.name for p in self.root.glob("shard-*.safetensors")) if self.root.exists() else []
            if foreign:
                raise StoreError(
                    f"{self.root} has no {_MANIFEST} but holds shard files ({', '.join(foreign[:3])}) that a new "
                    "store would overwrite: use an empty folder, or delete them"
                )
            self.root.mkdir(parents=True, exist_ok=True)
            self.manifest = {"version": _FORMAT, "meta": meta, "shards": [], "complete": False}
            self._write_manifest()

    # -- description
    @property
    def meta(self) -> dict:
        return self.manifest["meta"]

    def _check_meta(self, meta: dict) -> None:
        """Raise unless this store holds the collection ``meta`` describes (model, token ids, sites,
        pool, dtype, max_length), so a call never reads or extends rows collected another way."""
        diff: list[str] = [k for k in set(meta) | set(self.meta) if self.meta.get(k) != meta.get(k)]
        if diff:
            why = {
                "tokens": "tokens (the texts tokenize differently: another tokenizer or special-token setting, "
                "a chat template, or max_length)",
                "model": "model (weights, config or dtype)",
            }
            raise StoreError(
                f"the store at {self.root} holds a different collection (differs in: "
                f"{', '.join(why.get(k, k) for k in sorted(diff))}); use another folder or delete this one"
            )

    @property
    def n_rows(self) -> int:
        return int(self.meta["n_texts"])

    @property
    def rows_done(self) -> int:
        shards = self.manifest["shards"]
        return shards[-1]["stop"] if shards else 0

    @property
    def complete(self) -> bool:
        return self.rows_done >= self.n_rows

    def _write_manifest(self) -> None:
        self.manifest["complete"] = self.rows_done >= int(self.meta["n_texts"])
        self.manifest.pop("checksum", None)
        self.manifest["checksum"] = _digest(self.manifest)
        atomic_write_bytes(self.root / _MANIFEST, json.dumps(self.manifest, indent=1).encode())

    # -- writing
    def _check_source(self, model: Model, texts: _validate.TextsLike, ids: Sequence[Sequence[int]] | None):
        """``(texts, token ids)`` after checking they and ``model`` are the ones this store was started with."""
        texts = _texts(texts)
        if len(texts) != self.n_rows:
            raise StoreError(f"the store at {self.root} expects {self.n_rows} texts, got {len(texts)}")
        if texts_fingerprint(texts) != self.meta["texts"]:
            raise StoreError(f"these texts differ from the ones the store at {self.root} was started with")
        if model_fingerprint(model) != self.meta["model"]:
            # resuming with another model (or the same one after its weights changed) would mix two
            # models' rows in one store
            raise StoreError(
                f"the store at {self.root} was started with another model ({self.meta.get('model_name')}, "
                f"fingerprint {self.meta['model']}); {model.name} (fingerprint {model_fingerprint(model)}) "
                "differs from it: use another folder or delete this one"
            )
        if ids is None:
            ids = _token_ids(model, texts, self.meta.get("max_length"))
        if token_ids_fingerprint(ids) != self.meta["tokens"]:
            raise StoreError(
                f"the texts tokenize differently from when the store at {self.root} was started (another "
                "tokenizer or special-token setting): use another folder or delete this one"
            )
        model.check_token_ids(ids)
        return texts, ids

    def fill(
        self,
        model: Model,
        texts: Sequence[str],
        *,
        batch_size: int = 16,
        shard_size: int = 256,
        progress: bool | str = True,
        distributed: bool = False,
        _ids: Sequence[Sequence[int]] | None = None,
    ) -> "ActivationStore":
        """Collect the rows not stored yet, one shard at a time.

        Holds a lock on the folder while writing, and re-reads the manifest under it, so two
        processes filling one store (studies sharing the cache) neither lose nor duplicate rows.

        ``distributed=True``: every process of the initialised ``torch.distributed`` process group
        calls this with the same arguments (all the texts), and each writes a share of the missing
        shards; see :func:`collect`. Shards that an interrupted distributed fill planned but did not
        write are written first, with the row ranges it planned (``shard_size`` applies to the rows
        after them), whatever the number of processes now.
        """
        if _validate.boolean("distributed", distributed):
            return self._fill_distributed(
                model, texts, batch_size=batch_size, shard_size=shard_size, progress=progress, ids=_ids
            )
        _check_args(pool=self.meta["pool"], batch_size=batch_size, shard_size=shard_size, custom_pool=False)
        texts, ids = self._check_source(model, texts, _ids)
        with file_lock(self.root / ".lock"):
            self._take_over()
            initial = self.n_rows - self._rows_to_do()
            bar = tqdm(total=self.n_rows, initial=initial, desc="store", disable=not progress, unit="text")
            for planned in self._pending():  # planned by an interrupted distributed fill, in row order
                start, stop = planned["start"], planned["stop"]
                entry = self._save_shard(
                    planned["file"], start, stop, self._rows(model, texts, ids, start, stop, batch_size)
                )
                planned.update(bytes=entry["bytes"], sha256=entry["sha256"])
                self._merge()
                self._write_manifest()
                bar.update(stop - start)
            start = self.rows_done
            while start < self.n_rows:
                stop = min(start + shard_size, self.n_rows)
                self._write_shard(
                    len(self.manifest["shards"]), start, stop, self._rows(model, texts, ids, start, stop, batch_size)
                )
                bar.update(stop - start)
                start = stop
            bar.close()
        return self

    def _fill_distributed(
        self,
        model: Model,
        texts: Sequence[str],
        *,
        batch_size: int,
        shard_size: int,
        progress: bool | str,
        ids: Sequence[Sequence[int]] | None,
    ) -> "ActivationStore":
        """:meth:`fill` shared by the ranks of the default process group.

        Rank 0 holds the folder's lock for the whole fill, re-reads the manifest, merges what an
        interrupted run left in rank files, and plans the missing rows as shards (recorded in the
        manifest's ``plan``), each given to one rank. Each rank writes its own shards (their names
        come from the plan, so no two ranks write one file) and lists them in its own rank file
        ``manifest-rank-RRRRR.json``. After every rank is done, rank 0 merges the rank files into the
        manifest. Every step where one rank can fail alone ends with every rank raising.
        """
        from ._ranks import Ranks

        ranks = Ranks.current("ActivationStore.fill(distributed=True)")

        def checked():
            _check_args(pool=self.meta["pool"], batch_size=batch_size, shard_size=shard_size, custom_pool=False)
            got = _texts(texts)
            return got, ids if ids is not None else _token_ids(model, got, self.meta.get("max_length"))

        texts, ids = ranks.agree(checked, "checking the arguments")
        _check_same_call(
            ranks,
            "ActivationStore.fill(distributed=True)",
            model,
            texts,
            ids,
            store=[self.meta[k] for k in sorted(self.meta)],
            batch_size=batch_size,
            shard_size=shard_size,
        )
        texts, ids = ranks.agree(lambda: self._check_source(model, texts, ids), "checking the texts against the store")
        lead = ranks.rank == 0
        with file_lock(self.root / ".lock") if lead else contextlib.nullcontext():
            plan = ranks.agree(
                lambda: self._plan(ids, shard_size, batch_size, ranks.world) if lead else None, "planning the shards"
            )
            table = ranks.broadcast(plan, 5)  # rows: shard index, start, stop, rank, run id
            if len(table):  # before anyone writes: every rank reads the plan rank 0 wrote in this folder
                run = int(table[0, 4])
                ranks.agree(lambda: None if lead else self._check_same_folder(run, ranks.rank), "reading the plan")

            def write() -> None:
                mine = [row for row in table.tolist() if row[3] == ranks.rank]
                bar = tqdm(
                    total=sum(stop - start for _, start, stop, _, _ in mine),
                    desc=f"store (rank 0 of {ranks.world})",
                    disable=not progress or not lead,
                    unit="text",
                )
                done: list[dict] = []
                for k, start, stop, _, _ in mine:
                    rows = self._rows(model, texts, ids, start, stop, batch_size)
                    done.append(self._save_shard(f"shard-{k:05d}.safetensors", start, stop, rows))
                    self._write_rank_file(ranks.rank, done)
                    bar.update(stop - start)
                bar.close()

            written = ranks.run(write, "writing its shards")
            # what the ranks wrote is merged even where one of them failed: a rerun goes on from it
            ranks.agree(lambda: self._settle() if lead else None, "merging the ranks' shards into the manifest")
        written.get()
        self.manifest = _read_manifest(self.root)
        return self

    # -- shards planned by a distributed fill, and the rank files that list the written ones
    def _pending(self) -> list[dict]:
        """The planned shards not written yet, in row order (the plan's own entries)."""
        return [s for s in self.manifest.get("plan", {}).get("shards", []) if "sha256" not in s]

    def _rows_to_do(self) -> int:
        if "plan" in self.manifest:
            return sum(s["stop"] - s["start"] for s in self._pending())
        return self.n_rows - self.rows_done

    def _take_over(self) -> None:
        """Under the lock: the manifest as on disk, no temporary files of a killed writer, and the
        rank files of an interrupted distributed fill merged."""
        self.manifest = _read_manifest(self.root)
        for stray in self.root.iterdir():  # temporary files of a run killed mid-write; only the store's own
            if _OWN_TEMP_RE.match(stray.name):
                stray.unlink(missing_ok=True)
        self._settle()

    def _settle(self) -> None:
        """Mark the planned shards that rank files list as written, list the written ones that follow
        the listed rows in the manifest, and delete the rank files (after the manifest is written)."""
        rank_files = sorted(p for p in self.root.iterdir() if _RANK_RE.match(p.name))
        planned = {s["file"]: s for s in self._pending()}
        marked = False
        for path in rank_files:
            for entry in self._read_rank_file(path):
                shard = planned.get(entry["file"])
                if shard is None or (shard["start"], shard["stop"]) != (entry["start"], entry["stop"]):
                    continue  # not of this plan (merged already, or a stale file)
                try:
                    size = (self.root / entry["file"]).stat().st_size
                except OSError:
                    continue  # listed, yet gone: written again
                if size == entry["bytes"]:  # its bytes are checked against the SHA-256 on every read
                    shard.update(bytes=entry["bytes"], sha256=entry["sha256"])
                    marked = True
        if self._merge() or marked:
            self._write_manifest()
        for path in rank_files:
            path.unlink(missing_ok=True)

    def _merge(self) -> bool:
        """Move the written planned shards that follow the listed rows into the manifest's list (the
        plan goes once empty); whether anything moved."""
        plan = self.manifest.get("plan")
        if plan is None:
            return False
        moved = False
        while plan["shards"] and "sha256" in plan["shards"][0]:
            self.manifest["shards"].append(plan["shards"].pop(0))
            moved = True
        if not plan["shards"]:
            del self.manifest["plan"]
            moved = True
        return moved

    def _plan(self, ids: Sequence[Sequence[int]], shard_size: int, batch_size: int, world: int) -> Tensor:
        """Rank 0, under the lock: plan the missing rows (unless an interrupted run planned them
        already) and give each planned shard not written yet to a rank. Returns the table
        ``[shards, 5]``: shard index, start, stop, rank, and this run's id (to check that every rank
        sees this manifest)."""
        self._take_over()
        if "plan" not in self.manifest and self.rows_done < self.n_rows:
            shards, start = [], self.rows_done
            while start < self.n_rows:
                stop = min(start + shard_size, self.n_rows)
                shards.append({"file": f"shard-{len(self.manifest['shards']) + len(shards):05d}.safetensors"})
                shards[-1].update(start=start, stop=stop)
                start = stop
            self.manifest["plan"] = {"shards": shards, "run": None, "world_size": None}
        pending = self._pending()
        if not pending:
            return torch.zeros((0, 5), dtype=torch.long)
        run = int.from_bytes(os.urandom(8), "little") >> 2
        self.manifest["plan"].update(run=run, world_size=world)
        self._write_manifest()
        # longest first to the least loaded rank; a shard costs its batches' padded tokens
        load = [0] * world
        owner = {}
        for s in sorted(pending, key=lambda s: (-_padded_tokens(ids, s["start"], s["stop"], batch_size), s["start"])):
            r = min(range(world), key=lambda r: (load[r], r))
            owner[s["file"]] = r
            load[r] += _padded_tokens(ids, s["start"], s["stop"], batch_size)
        return torch.tensor(
            [[_shard_index(s["file"]), s["start"], s["stop"], owner[s["file"]], run] for s in pending], dtype=torch.long
        )

    def _check_same_folder(self, run: int, rank: int) -> None:
        manifest = _read_manifest(self.root) if (self.root / _MANIFEST).exists() else {}
        if manifest.get("plan", {}).get("run") != run:
            raise StoreError(
                f"rank {rank} does not see the manifest rank 0 has just written to the store at {self.root}: "
                "every rank must see the same store folder (a file system shared by every process)"
            )

    def _write_rank_file(self, rank: int, shards: list[dict]) -> None:
        body = {"version": _FORMAT, "rank": rank, "shards": shards}
        body["checksum"] = _digest(body)
        atomic_write_bytes(self.root / _RANK_FILE.format(rank), json.dumps(body, indent=1).encode())

    def _read_rank_file(self, path: Path) -> list[dict]:
        """The shard entries a rank file lists; none (with a warning: its shards are written again)
        where it is damaged."""
        try:
            body = json.loads(path.read_bytes().decode("utf-8"))
            if body.pop("checksum") != _digest(body) or body["version"] != _FORMAT:
                raise ValueError("checksum or version")
            keys = {"file": str, "start": int, "stop": int, "bytes": int, "sha256": str}
            return [{key: kind(s[key]) for key, kind in keys.items()} for s in body["shards"]]
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as err:
            import warnings

            warnings.warn(
                f"ignored the damaged rank file {path} ({type(err).__name__}: {err}); the shards it listed "
                "are collected again",
                stacklevel=2,
            )
            return []

    def _rows(self, model: Model, texts, ids, start: int, stop: int, batch_size: int) -> dict[str, Tensor]:
        """The tensors of the shard holding texts ``[start, stop)``."""
        dtype = getattr(torch, self.meta["dtype"]) if self.meta["dtype"] else None
        sites, pool = self.meta["sites"], self.meta["pool"]
        # rows= of the caller's hooks count the store's texts, not the shard's
        with input_rows(range(start, stop), self.n_rows):
            part = _gather(
                model,
                texts[start:stop],
                sites,
                pool=pool,
                batch_size=batch_size,
                max_length=None,
                dtype=dtype,
                progress=False,
                token_ids=ids[start:stop],
            )
        tensors = {n: part[n].contiguous() for n in sites}
        if pool == "all":
            assert part.lengths is not None  # pool="all" records each text's length
            tensors[_LENGTHS] = part.lengths
        return tensors

    def _save_shard(self, name: str, start: int, stop: int, tensors: dict[str, Tensor]) -> dict:
        """Write the shard file ``name`` (texts ``[start, stop)``) and return its manifest entry."""
        from safetensors.torch import save

        data = save(tensors, metadata={"start": str(start), "stop": str(stop)})
        atomic_write_bytes(self.root / name, data)
        return {
            "file": name,
            "start": start,
            "stop": stop,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }

    def _write_shard(self, k: int, start: int, stop: int, tensors: dict[str, Tensor]) -> None:
        """Write shard ``k``, then list it (its size and checksum) in the manifest."""
        entry = self._save_shard(f"shard-{k:05d}.safetensors", start, stop, tensors)
        shards = self.manifest["shards"]
        if k < len(shards):
            shards[k] = entry
        else:
            shards.append(entry)
        self._write_manifest()

    # -- checking
    def _shard_problem(self, k: int, data: bytes | None) -> str | None:
        """Why shard ``k``'s bytes ``data`` (``None``: missing) are not what the manifest recorded."""
        shard = self.manifest["shards"][k]
        what = f"{shard['file']} (texts {shard['start']}..{shard['stop'] - 1})"
        if data is None:
            return f"{what} is missing"
        if len(data) != shard["bytes"]:
            return f"{what} has {len(data)} bytes, the manifest recorded {shard['bytes']}"
        if hashlib.sha256(data).hexdigest() != shard["sha256"]:
            return f"{what} has different contents than when it was written (SHA-256 mismatch)"
        try:
            header = _shard_header(data)
            inside = header.get("__metadata__", {})
            if (int(inside["start"]), int(inside["stop"])) != (shard["start"], shard["stop"]):
                return f"{what} holds texts {inside['start']}..{int(inside['stop']) - 1} by its own header"
            n = shard["stop"] - shard["start"]
            pooled = self.meta["pool"] != "all"
            rows = [header[s]["shape"][0] for s in self.meta["sites"]]
            if (pooled and any(r != n for r in rows)) or (not pooled and header[_LENGTHS]["shape"] != [n]):
                return f"{what} holds {rows[0]} rows for {n} texts"
        except (KeyError, TypeError, ValueError, IndexError) as err:
            return f"{what} has an unreadable header ({err})"
        return None

    def _read_shard(self, k: int) -> bytes | None:
        try:
            return (self.root / self.manifest["shards"][k]["file"]).read_bytes()
        except FileNotFoundError:
            return None

    def verify(self) -> list[int]:
        """Indices of the listed shards that are missing or damaged (reads every shard once)."""
        return [k for k in range(len(self.manifest["shards"])) if self._shard_problem(k, self._read_shard(k))]

    def repair(
        self, model: Model, texts: _validate.TextsLike, *, batch_size: int = 16, progress: bool | str = True
    ) -> list[int]:
        """Recollect the damaged or missing shards in place (their rows only) and return their indices."""
        _check_args(pool=self.meta["pool"], batch_size=batch_size, custom_pool=False)
        texts, ids = self._check_source(model, texts, None)
        with file_lock(self.root / ".lock"):
            self.manifest = _read_manifest(self.root)
            damaged = self.verify()
            for k in tqdm(damaged, desc="repair", disable=not progress or not damaged, unit="shard"):
                shard = self.manifest["shards"][k]
                self._write_shard(
                    k,
                    shard["start"],
                    shard["stop"],
                    self._rows(model, texts, ids, shard["start"], shard["stop"], batch_size),
                )
        return damaged

    # -- reading
    def iter_shards(self, sites: Sequence[str] | None = None) -> Iterator[tuple[int, int, dict[str, Tensor]]]:
        """Yield ``(start, stop, {site: tensor})`` shard by shard (memory: one shard), each verified
        against the manifest first (:class:`DamagedShardError` otherwise)."""
        from safetensors.torch import load

        names = [sites] if isinstance(sites, str) else list(sites) if sites is not None else list(self.meta["sites"])
        missing = [n for n in names if n not in self.meta["sites"]]
        if missing:
            raise KeyError(f"sites not in this store: {missing}; it holds {self.meta['sites']}")
        for k, shard in enumerate(self.manifest["shards"]):
            data = self._read_shard(k)
            problem = self._shard_problem(k, data)
            if problem:
                raise DamagedShardError(self.root, [(k, problem)])
            assert data is not None  # a missing shard is a problem, raised above
            stored = load(data)
            tensors = {n: stored[n] for n in names}
            if self.meta["pool"] == "all":
                tensors[_LENGTHS] = stored[_LENGTHS]
            yield shard["start"], shard["stop"], tensors

    def load(self, sites: Sequence[str] | None = None) -> Activations:
        """All stored rows of ``sites`` (one name or several; default all) in memory, in text order."""
        names = [sites] if isinstance(sites, str) else list(sites) if sites is not None else list(self.meta["sites"])
        parts: dict[str, list[Tensor]] = {n: [] for n in names}
        lengths: list[Tensor] = []
        if not self.manifest["shards"]:
            raise ValueError(f"the store at {self.root} holds no rows yet")
        for _, _, tensors in self.iter_shards(names):
            for n in names:
                parts[n].append(tensors[n])
            if _LENGTHS in tensors:
                lengths.append(tensors[_LENGTHS])
        pool = self.meta["pool"]
        return Activations({n: torch.cat(p) for n, p in parts.items()}, pool, torch.cat(lengths) if lengths else None)


def texts_fingerprint(texts: Sequence[str]) -> str:
    """Digest of texts in order (each one's UTF-8 length, then its bytes): part of a cache key."""
    h = hashlib.sha256()
    for t in texts:
        data = t.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


# Weights are checksummed in rows of this many values (the position weights 1.._CHECK_COLS keep a
# row's weighted sum of 32-bit integers below 2**63) and chunks of this many values (the temporary
# int64 copy of a chunk, 16 MiB, is small enough for the allocator to reuse instead of mapping fresh
# pages each time, which made larger chunks ~4x slower on the CPU).
_CHECK_COLS = 1 << 16
_CHECK_CHUNK = 1 << 21
# model.hf -> (key of every tensor's identity and version, digest of the weights)
_WEIGHT_DIGESTS: "weakref.WeakKeyDictionary[torch.nn.Module, tuple[tuple, str]]" = weakref.WeakKeyDictionary()


def _tensor_checksum(t: Tensor) -> bytes:
    """Exact checksum of every value of ``t``, computed on its own device.

    The values' bits, read as integers, are summed plainly and weighted by their position, per row of
    :data:`_CHECK_COLS` values. Integer sums are exact and do not depend on the reduction order, so
    the result is the same on any device and with any number of threads; any change of one or two
    values of a row changes it. Only the small vector of row sums goes to the host.
    """
    flat = t.detach().reshape(-1)
    if flat.numel() == 0:
        return b""
    size = flat.element_size()
    bits = flat.view(torch.uint8 if size == 1 else torch.int16 if size == 2 else torch.int32)
    weights = torch.arange(1, _CHECK_COLS + 1, dtype=torch.int64, device=bits.device)
    sums = []
    for start in range(0, bits.numel(), _CHECK_CHUNK):
        part = bits[start : start + _CHECK_CHUNK].long()  # a copy: weighted in place below
        full = part.numel() // _CHECK_COLS * _CHECK_COLS
        if full:
            rows = part[:full].view(-1, _CHECK_COLS)
            sums.append(rows.sum(1))
            sums.append(rows.mul_(weights).sum(1))
        if full < part.numel():
            tail = part[full:]
            sums.append(tail.sum().reshape(1))
            sums.append(tail.mul_(weights[: tail.numel()]).sum().reshape(1))
    return torch.cat(sums).cpu().numpy().tobytes()


def _weights_digest(hf: torch.nn.Module) -> str:
    """Digest of every parameter and buffer of ``hf`` (names, dtypes, shapes and all values).

    Memoised per module, keyed by each tensor's storage address and version counter: any in-place
    change (an optimizer step, ``load_state_dict``, ``p.add_`` under ``no_grad``) or replacement of a
    tensor recomputes it, and a repeated call on an unchanged model costs almost nothing. An in-place
    change through ``p.data`` bypasses the version counter; it is seen only once something else about
    the model changes.
    """
    tensors = [*hf.named_parameters(), *hf.named_buffers()]
    try:
        key = tuple((name, t.data_ptr(), t._version, t.dtype, tuple(t.shape), str(t.device)) for name, t in tensors)
    except RuntimeError:  # inference tensors track no version: do not memoise
        key = None
    memo = _WEIGHT_DIGESTS.get(hf)
    if key is not None and memo is not None and memo[0] == key:
        return memo[1]
    h = hashlib.sha256()
    with torch.no_grad():
        for name, t in tensors:
            h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
            h.update(_tensor_checksum(t))
    digest = h.hexdigest()
    if key is not None:
        _WEIGHT_DIGESTS[hf] = (key, digest)
    return digest


def model_fingerprint(model: Model) -> str:
    """Identity of a model for cache keys: name, config and every parameter and buffer in full.

    Changing any weight in place (a fine-tune, an edit of one neuron) changes it; see
    :func:`_weights_digest` for its cost.
    """
    h = hashlib.sha256()
    h.update(str(model.name).encode())
    h.update(model.hf.config.to_json_string(use_diff=False).encode())
    h.update(str(model.dtype).encode())
    h.update(_weights_digest(model.hf).encode())
    return h.hexdigest()[:16]


def token_ids_fingerprint(ids: Sequence[Sequence[int]]) -> str:
    """Digest of token id sequences (each one's length, then its ids as 64-bit integers)."""
    import numpy as np

    h = hashlib.sha256()
    for row in ids:
        h.update(len(row).to_bytes(8, "little"))
        h.update(np.asarray(row, dtype=np.int64).tobytes())
    return h.hexdigest()


def _open_store(store, model: Model, texts, ids, names, pool, dtype, max_length) -> ActivationStore:
    meta = {
        "model": model_fingerprint(model),
        "model_name": str(model.name),
        "texts": texts_fingerprint(texts),
        "tokens": token_ids_fingerprint(ids),
        "n_texts": len(texts),
        "sites": list(names),
        "pool": pool,
        "dtype": str(dtype).removeprefix("torch.") if dtype is not None else None,
        "max_length": max_length,
    }
    if isinstance(store, ActivationStore):
        store._check_meta(meta)  # as for a path: never answer with rows collected another way
        return store
    if store is True:
        from .disk import cache_root

        base = cache_root() / "activations"
        reuse = _find_superset(base, meta)
        if reuse is not None:
            return reuse
        key = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:20]
        return ActivationStore(base / key, meta)
    return ActivationStore(Path(store), meta)


def _find_superset(base: Path, meta: dict) -> ActivationStore | None:
    """A complete stored collection of the same model/tokens/pool/dtype that has every site asked for
    (stores of an older format or with a damaged manifest are passed over)."""
    if not base.exists():
        return None
    same = {k: v for k, v in meta.items() if k != "sites"}
    for manifest in sorted(base.glob(f"*/{_MANIFEST}")):
        try:
            st = ActivationStore(manifest.parent)
        except (OSError, StoreError):
            continue
        if (
            all(st.meta.get(k) == v for k, v in same.items())
            and set(meta["sites"]) <= set(st.meta["sites"])
            and st.complete
        ):
            return st
    return None
