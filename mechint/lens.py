"""The logit lens: the residual stream after each block read through the model's own final norm and
unembedding, as if the model stopped there.

Entry ``l`` of the lens is the residual stream after ``l`` blocks: ``blocks.{l}.hook_resid_pre`` for
``l < n_layers`` (``0``: the embeddings) and ``blocks.{n_layers - 1}.hook_resid_post`` for
``l = n_layers``, the stream the model itself unembeds, so the last entry is the model's logits. This is
TransformerLens's ``cache.accumulated_resid(apply_ln=True)`` followed by the unembedding: each entry is
normalised with its own statistics by the final norm (gain and bias included), then multiplied by
the LM head (and, where the family has one, capped by the final logit softcapping, as the model's
forward does). With ``tuned=`` a :class:`mechint.tuned_lens.TunedLens` translates each entry before
that readout (the tuned lens of Belrose et al., arXiv 2303.08112).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, cast

import torch
from torch import Tensor

from . import _validate
from .model import Model, index_list, text_config
from .placement import execution_device

if TYPE_CHECKING:
    from .tuned_lens import TunedLens

__all__ = ["LogitLens", "logit_lens", "lens_labels", "readout"]


@dataclass
class LogitLens:
    """What :func:`logit_lens` read, one entry per text (texts differ in length).

    Attributes:
        layers: the lens entries read (``0 .. n_layers``; ``l`` = after ``l`` blocks).
        labels: the site each entry reads (``blocks.{l}.hook_resid_pre``, and
            ``blocks.{n-1}.hook_resid_post`` for ``l = n_layers``).
        positions: per text, the token indices read (into the text's own tokens, from 0).
        input_tokens: per text, the tokens at those positions, as strings.
        top_ids: per text, ``[layer, pos, top_k]`` the most probable next tokens of each entry.
        top_probs: per text, ``[layer, pos, top_k]`` their probabilities (float32).
        top_tokens: per text, ``[layer][pos][k]`` those tokens as strings.
        token_ids: the chosen tokens (``tokens=``), empty without them.
        token_probs: per text, ``[layer, pos, n_tokens]`` the probability of each chosen token, or
            ``None`` without chosen tokens.
        tuned: read through a tuned lens's translators (``logit_lens(..., tuned=...)``).
    """

    layers: list[int]
    labels: list[str]
    positions: list[list[int]]
    input_tokens: list[list[str]]
    top_ids: list[Tensor]
    top_probs: list[Tensor]
    top_tokens: list[list[list[list[str]]]]
    token_ids: list[int]
    token_probs: list[Tensor] | None
    tuned: bool = False


def lens_labels(model: Model, entries: Sequence[int]) -> list[str]:
    """The site each lens entry reads: ``blocks.{l}.hook_resid_pre`` (the stream after ``l`` blocks)
    for ``l < n_layers``, ``blocks.{n_layers - 1}.hook_resid_post`` (the stream the model unembeds) for
    ``l = n_layers``."""
    n = model.n_layers
    return [f"blocks.{l}.hook_resid_pre" if l < n else f"blocks.{n - 1}.hook_resid_post" for l in entries]


def readout(model: Model) -> tuple[Callable[[Tensor], Tensor], torch.device]:
    """The model's own way from a residual stream ``[..., d_model]`` to logits ``[..., d_vocab]`` (the
    final norm, the LM head, the final logit softcapping where the family has one), and the device it
    runs on (under a device map, the final norm's). The input is cast to the norm's dtype."""
    norm = model.site("ln_final.hook_normalized").module
    head = model.hf.get_submodule(model.family.lm_head)
    cap = getattr(text_config(model.hf.config), "final_logit_softcapping", None)
    weight = next(norm.parameters(), None)
    dtype = weight.dtype if weight is not None else cast(Tensor, head.weight).dtype

    def read(resid: Tensor) -> Tensor:
        logits = head(norm(resid.to(dtype)))
        return torch.tanh(logits / cap) * cap if cap else logits

    # under a device map each layer's residual is on its layer's device: read where the final norm runs
    return read, execution_device(norm) or model.device


def _chosen_tokens(model: Model, tokens) -> list[int]:
    if tokens is None:
        return []
    items = [tokens] if isinstance(tokens, (str, int)) else list(tokens)
    if not items:
        raise ValueError("tokens= is an empty list; pass None for no chosen tokens")
    out = []
    for t in items:
        if isinstance(t, str):
            ids = model.tokenizer(t, add_special_tokens=False)["input_ids"]
            if len(ids) != 1:
                raise ValueError(
                    f"chosen token {t!r} is {len(ids)} tokens for this tokenizer ({ids}); pass one token's text "
                    "or its id"
                )
            out.append(int(ids[0]))
        else:
            out += index_list(t, model.d_vocab, "token id", negative=False)
    return out


def _columns(positions, length: int) -> list[int]:
    if positions is None or (isinstance(positions, str) and positions == "all"):
        return list(range(length))
    if isinstance(positions, str):
        raise ValueError(f"positions must be token indices, None or 'all', got {positions!r}")
    return index_list(positions, length, "position")


@torch.no_grad()
def logit_lens(
    model: Model,
    texts: str | Sequence[str],
    *,
    layers: int | Iterable[int] | None = None,
    positions: int | Iterable[int] | str | None = -1,
    top_k: int = 5,
    tokens: str | int | Iterable[str | int] | None = None,
    batch_size: int = 8,
    tuned: TunedLens | None = None,
) -> LogitLens:
    """The logit lens of ``texts``: for each lens entry (the residual stream after ``l`` blocks,
    ``l = 0 .. n_layers``) and each position, the ``top_k`` next tokens and the probability of the
    chosen ``tokens``.

    Args:
        model: the model; its final norm and LM head read every entry.
        texts: one text or several (run left-padded in batches of ``batch_size``).
        layers: lens entries to read, in ``0 .. n_layers`` (negative counts from the end; default all).
            ``n_layers`` (or ``-1``) is the model's own output.
        positions: token indices into each text (``-1``: its last token, the default; a list; ``None``
            or ``"all"``: every token).
        top_k: how many top tokens to keep per entry and position.
        tokens: chosen tokens (a token's text, an id, or a list) whose probabilities are reported.
        batch_size: texts per forward.
        tuned: a :class:`mechint.tuned_lens.TunedLens` for this model: each entry before the last goes
            through its translator first (the tuned lens); ``None``: the plain logit lens.
    """
    texts = _validate.texts(texts)
    top_k = _validate.integer("top_k", top_k, minimum=1)
    batch_size = _validate.integer("batch_size", batch_size, minimum=1)
    n = model.n_layers
    entries = list(range(n + 1)) if layers is None else index_list(layers, n + 1, "lens layer")
    labels = lens_labels(model, entries)
    chosen = _chosen_tokens(model, tokens)
    top_k = min(top_k, model.d_vocab)
    if tuned is not None:
        tuned.check_model(model)
    read, where = readout(model)

    out = LogitLens(entries, labels, [], [], [], [], [], chosen, [] if chosen else None, tuned is not None)
    for start in range(0, len(texts), batch_size):
        enc = model.tokenize(texts[start : start + batch_size])
        _, cache = model.run_with_cache(enc, sorted(set(labels)), logits=False)
        lengths = enc["attention_mask"].sum(-1).tolist()
        width = enc["input_ids"].shape[1]
        for r, length in enumerate(lengths):
            cols = _columns(positions, int(length))
            idx = torch.tensor(cols) + (width - int(length))
            resid = torch.stack(
                [cache[name][r, idx.to(cache[name].device)].to(where) for name in labels]
            )  # [layer, pos, d_model]
            if tuned is not None:
                resid = tuned.translate(resid, entries)
            logits = read(resid)
            probs = logits.float().softmax(-1)
            top = probs.topk(top_k, dim=-1)
            top_ids = top.indices.cpu()
            out.positions.append(cols)
            out.input_tokens.append([model.tokenizer.decode([int(i)]) for i in enc["input_ids"][r, idx].tolist()])
            out.top_ids.append(top_ids)
            out.top_probs.append(top.values.cpu())
            out.top_tokens.append(
                [[[model.tokenizer.decode([i]) for i in pos] for pos in layer] for layer in top_ids.tolist()]
            )
            if out.token_probs is not None:  # a list exactly when tokens were chosen
                out.token_probs.append(probs[..., chosen].cpu())
    return out
