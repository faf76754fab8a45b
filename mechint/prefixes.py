"""Prefixes of texts, for early prediction: sentences in any script, and fractions of tokens.

- :func:`split_sentences` cuts a text into sentences whether or not its script puts spaces between
  them (Chinese and Japanese end sentences with 。！？ and no space; Thai, Lao and Khmer have no
  sentence punctuation and separate sentences with a space), keeping every character:
  ``"".join(split_sentences(t)) == t``.
- :func:`sentence_prefix` is the first ``k`` sentences of a text; collect its activations with
  :func:`mechint.collect` like any text.
- :func:`collect_prefixes` reads, in one forward pass per text, the activation at the last token of
  the prefix made of the first ``ceil(f * m)`` tokens of the text (``m`` tokens after the
  tokenizer's leading special tokens) for every fraction ``f``. A causal model's activation at
  position ``k`` depends only on tokens ``0..k``, so this equals running each token prefix on its
  own, at a fraction of the cost.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence, cast

import torch
from torch import Tensor

from . import _validate
from .model import Model

__all__ = [
    "split_sentences",
    "sentence_prefix",
    "token_prefix_lengths",
    "PrefixActivations",
    "collect_prefixes",
]

# Sentence-final marks that end a sentence with no space after them (CJK full-width, Ethiopic,
# Myanmar, Devanagari/Bengali danda, Arabic/Urdu full stop and question mark, ellipsis).
_FULLWIDTH_END = "。！？｡．︒﹒﹖﹗‼⁇⁈⁉።፧၊။।॥۔؟…"
# Marks that end a sentence when whitespace (or the end) follows.
_ASCII_END = ".!?"
# Closing quotes and brackets that belong to the sentence they end.
_CLOSERS = "\"'”’»)]}」』】》〉）］｝›"


def spaceless_script(ch: str) -> bool:
    """Scripts written without spaces between words: CJK, kana, Thai, Lao, Khmer, Myanmar."""
    if not ch:
        return False
    o = ord(ch)
    return (
        0x4E00 <= o <= 0x9FFF
        or 0x3400 <= o <= 0x4DBF
        or 0x20000 <= o <= 0x2FFFF  # CJK ideographs
        or 0x3040 <= o <= 0x30FF  # kana
        or 0xF900 <= o <= 0xFAFF
        or 0x0E00 <= o <= 0x0EFF  # Thai, Lao
        or 0x1780 <= o <= 0x17FF  # Khmer
        or 0x1000 <= o <= 0x109F  # Myanmar
    )


def _sentence_by_space(ch: str) -> bool:
    """Scripts with no sentence punctuation, whose sentences are separated by a space (Thai, Lao, Khmer)."""
    if not ch:
        return False
    o = ord(ch)
    return 0x0E00 <= o <= 0x0EFF or 0x1780 <= o <= 0x17FF


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, each keeping its end mark and the whitespace after it.

    Boundaries: after ``。！？`` and other full-width or non-Latin end marks (no space needed); after
    ``. ! ?`` followed by whitespace, the end of the text, or a character of a script written
    without spaces (a ``.`` followed by a lower-case letter, as in "e.g. this", or by a digit,
    as in "3.5", does not end a sentence); at a line break; and at a space between two Thai, Lao or
    Khmer characters (those scripts mark a sentence end with a space). Closing quotes and brackets
    after an end mark stay with its sentence. Concatenating the result gives ``text`` back.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    n = len(text)
    cuts: list[int] = []
    i = 0
    while i < n:
        ch = text[i]
        end = None
        if ch in _FULLWIDTH_END or ch in _ASCII_END:
            j = i + 1
            while j < n and (text[j] in _FULLWIDTH_END or text[j] in _ASCII_END):  # "?!", "。。", "..."
                j += 1
            while j < n and text[j] in _CLOSERS:
                j += 1
            nxt = text[j] if j < n else ""
            if ch in _FULLWIDTH_END:
                end = j
            elif not nxt or nxt.isspace():
                k = j
                while k < n and text[k].isspace():
                    k += 1
                after = text[k] if k < n else ""
                if ch == "." and after and (after.islower() or after.isdigit()):
                    end = None  # "e.g. this", "approx. 5"
                else:
                    end = j
            elif spaceless_script(nxt):
                end = j
            if end is not None:
                while end < n and text[end].isspace():
                    end += 1
                cuts.append(end)
                i = end
                continue
            i = j
            continue
        if ch == "\n":
            j = i
            while j < n and text[j].isspace():
                j += 1
            cuts.append(j)
            i = j
            continue
        if ch.isspace() and i > 0 and _sentence_by_space(text[i - 1]):
            j = i
            while j < n and text[j].isspace() and text[j] != "\n":
                j += 1
            if j < n and _sentence_by_space(text[j]):
                cuts.append(j)
                i = j
                continue
        i += 1
    parts, start = [], 0
    for c in cuts:
        if c > start:
            parts.append(text[start:c])
            start = c
    if start < n:
        parts.append(text[start:])
    # whitespace before the first sentence belongs to it
    if len(parts) > 1 and not parts[0].strip():
        parts[1] = parts[0] + parts[1]
        parts = parts[1:]
    return parts


def sentence_prefix(text: str, k: int) -> str:
    """The first ``k`` sentences of ``text`` (all of it when it has fewer), trailing space removed."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return "".join(split_sentences(text)[:k]).rstrip()


def token_prefix_lengths(
    n_tokens: Sequence[int] | Tensor, fractions: Sequence[float], n_special: Sequence[int] | Tensor | int = 0
) -> Tensor:
    """``[F, n]`` number of tokens in each prefix: the leading special tokens plus
    ``max(1, ceil(f * m))`` of the ``m`` other tokens (fraction 1 = the whole text)."""
    fr = check_fractions(fractions)
    n = torch.as_tensor(n_tokens, dtype=torch.long).reshape(-1)
    s = torch.broadcast_to(torch.as_tensor(n_special, dtype=torch.long), n.shape)
    m = (n - s).clamp(min=0)
    f = torch.tensor(fr, dtype=torch.float64).unsqueeze(-1)
    k = torch.ceil(f * m.double() - 1e-9).long().clamp(min=1)
    k = torch.minimum(k, m.clamp(min=1))
    return torch.minimum(s + k, n.clamp(min=1))


def check_fractions(fractions: Iterable[float]) -> list[float]:
    """``fractions`` as floats, each in ``(0, 1]``; raises on none or one out of range."""
    fr = [float(f) for f in fractions]
    if not fr:
        raise ValueError("no fractions given")
    bad = [f for f in fr if not (0.0 < f <= 1.0) or math.isnan(f)]
    if bad:
        raise ValueError(f"fractions must be in (0, 1], got {bad}")
    return fr


@dataclass
class PrefixActivations:
    """Activations at the last token of token prefixes of texts.

    Attributes:
        fractions: ``[F]``; tensors: ``{site: [F, n, ...site shape]}``.
        n_tokens: ``[n]`` tokens of each whole text (special tokens included).
        lengths: ``[F, n]`` tokens of each prefix (its last token is the one read).
    """

    fractions: list[float]
    tensors: dict[str, Tensor]
    n_tokens: Tensor
    lengths: Tensor

    def __getitem__(self, site: str) -> Tensor:
        return self.tensors[site]

    def stack(self, sites: Sequence[str] | None = None) -> Tensor:
        """``[F, n_sites, n, d]``."""
        names = list(sites) if sites is not None else list(self.tensors)
        return torch.stack([self.tensors[s] for s in names], dim=1)


def collect_prefixes(
    model: Model,
    texts,
    sites,
    fractions: Sequence[float],
    *,
    batch_size: int = 16,
    max_length: int | None = None,
    dtype: torch.dtype = torch.float32,
    store: bool | str | os.PathLike | None = None,
    progress: bool | str = True,
) -> PrefixActivations:
    """Activations at the last token of the first ``fraction`` of each text's tokens, all fractions
    from one forward pass per text (see the module docstring).

    Args:
        texts: strings, or a data set with ``.texts``.
        sites: site names (``"blocks.6.hook_resid_post"``; a bare key means every layer).
        fractions: each in (0, 1]; 1 is the whole text (its last token, as ``pool="last"``).
        batch_size: texts per forward; the forward stops after the last site asked for.
        store: ``True`` caches the result in the cache folder (keyed by model, texts, sites,
            fractions, dtype, max_length) and reuses it; a path caches it there; ``None`` keeps it
            in memory only.
    """
    from .activations import (
        Batch,
        iter_batches,
        model_fingerprint,
        refuse_hooks_with_shared_store,
        texts_fingerprint,
        token_ids_fingerprint,
    )

    texts = _validate.texts(texts)
    fr = check_fractions(fractions)
    _validate.integer("batch_size", batch_size, minimum=1)
    _validate.integer("max_length", max_length, minimum=1, optional=True)
    dtype = _validate.dtype("dtype", dtype, optional=False)
    chosen = model.sites(sites)
    if not chosen:
        raise ValueError("no sites given")
    names = [s.name for s in chosen]
    if store is True:
        refuse_hooks_with_shared_store(model, "collect_prefixes")
    ids = model.tokenizer(texts, truncation=max_length is not None, max_length=max_length)["input_ids"]
    path = None
    if store is not None and store is not False:
        key = {
            "model": model_fingerprint(model),
            "texts": texts_fingerprint(texts),
            "tokens": token_ids_fingerprint(ids),
            "n": len(texts),
            "sites": names,
            "fractions": fr,
            "dtype": str(dtype),
            "max_length": max_length,
        }
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        if store is True:
            from .disk import cache_root

            path = cache_root() / "prefixes" / f"{digest}.safetensors"
        else:
            path = Path(store)
            if path.suffix != ".safetensors":
                path = path / f"{digest}.safetensors"
        if path.exists():
            cached = _load(path, key)
            if cached is not None:
                return cached

    special = set(getattr(model.tokenizer, "all_special_ids", []) or [])
    n_tok = torch.tensor([len(t) for t in ids])
    lead = torch.tensor([_leading(t, special) for t in ids])
    lengths = token_prefix_lengths(n_tok, fr, lead)  # [F, n]
    out: dict[str, Tensor | None] = {name: None for name in names}

    ends: dict = {}  # the current batch's prefix-end positions, shared by every site it hooks

    def at_prefix_ends(x: Tensor, batch: Batch) -> Tensor:
        """``[b, F, ...]``: each row's activation at the last token of each prefix (left padding)."""
        if ends.get("batch") is not batch:
            mask = batch.attention_mask
            pad = mask.shape[1] - mask.sum(1)  # [b]
            pos = pad.unsqueeze(-1) + lengths[:, batch.indices].T.to(pad.device) - 1  # [b, F]
            rows = torch.arange(pos.shape[0], device=pos.device).unsqueeze(-1)
            ends.update(batch=batch, rows=rows, pos=pos)
        return x[ends["rows"].to(x.device), ends["pos"].to(x.device)]

    batches = iter_batches(
        model,
        texts,
        names,
        pool=at_prefix_ends,
        batch_size=batch_size,
        out_dtype=dtype,
        token_ids=ids,
        progress=progress if isinstance(progress, str) else ("prefixes" if progress else False),
    )
    for idx, got, _ in batches:
        for name in names:
            dst = out[name]
            if dst is None:
                dst = out[name] = torch.empty((len(fr), len(texts), *got[name].shape[2:]), dtype=dtype)
            dst[:, idx] = got[name].transpose(0, 1)
    result = PrefixActivations(fr, cast("dict[str, Tensor]", out), n_tok, lengths)  # the first batch fills every site
    if path is not None:
        _save(path, result, key)
    return result


def _leading(ids: Sequence[int], special: set[int]) -> int:
    k = 0
    while k < len(ids) - 1 and ids[k] in special:  # keep at least one token
        k += 1
    return k


def _payload_sha256(data: bytes) -> str:
    """SHA-256 of the tensor bytes of a safetensors file (what follows its header)."""
    return hashlib.sha256(data[8 + int.from_bytes(data[:8], "little") :]).hexdigest()


def _save(path: Path, result: PrefixActivations, key: dict) -> None:
    from safetensors.torch import save

    from .disk import atomic_write_bytes

    tensors = {f"site/{k}": v.contiguous() for k, v in result.tensors.items()}
    tensors["n_tokens"] = result.n_tokens
    tensors["lengths"] = result.lengths
    meta = {"key": key, "sites": list(result.tensors)}
    meta["payload_sha256"] = _payload_sha256(save(tensors, metadata={"mechint.prefixes": json.dumps(meta)}))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, save(tensors, metadata={"mechint.prefixes": json.dumps(meta)}))


def _load(path: Path, key: dict) -> PrefixActivations | None:
    """The cached result at ``path`` if it was made for ``key`` and its bytes are intact; ``None``
    (recompute and overwrite) otherwise, with a warning when the file was damaged."""
    import warnings

    from safetensors.torch import load

    try:
        data = path.read_bytes()
        header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
        meta = json.loads(header.get("__metadata__", {}).get("mechint.prefixes", "{}"))
        if meta.get("key") != key:
            return None
        if meta.get("payload_sha256") != _payload_sha256(data):
            raise ValueError("its tensor bytes do not match their checksum")
        stored = load(data)
        tensors = {s: stored[f"site/{s}"] for s in meta["sites"]}
        return PrefixActivations(list(key["fractions"]), tensors, stored["n_tokens"], stored["lengths"])
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as err:
        warnings.warn(f"the cached prefix activations {path} are damaged ({err}); collecting them again", stacklevel=3)
        return None
