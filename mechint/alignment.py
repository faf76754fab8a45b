"""Representation alignment across languages: bilingual sentence retrieval through the layers.

Cross-lingual detoxification (arXiv 2406.16235) measures how well a language's sentences line up
with their English translations inside the model, and finds that it predicts how far an English-only
intervention transfers to that language. For each layer: embed parallel sentences of two languages,
retrieve for every sentence of one language its nearest sentence (cosine) of the other, and count how
often that is its translation (top-1 accuracy, both ways); the mean cosine of the true pairs says how
close translations are.

Sentence embeddings here are **mean-pooled residuals**: ``blocks.{l}.hook_resid_post`` averaged over
the sentence's real tokens *excluding special tokens* (BOS, padding). The BOS residual is the same
vector for every sentence (and often a large-norm attention sink), so averaging it in would pull every
embedding toward one point and inflate all cosines alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from . import _validate
from .activations import token_batches
from .hooks import input_rows
from .model import Model

__all__ = [
    "RetrievalMatrix",
    "RetrievalResult",
    "bilingual_retrieval",
    "retrieval",
    "retrieval_matrix",
    "sentence_embeddings",
]


@torch.no_grad()
def sentence_embeddings(
    model: Model,
    texts: _validate.TextsLike,
    *,
    layers: Sequence[int] | None = None,
    site: str = "hook_resid_post",
    batch_size: int = 16,
    max_length: int | None = None,
    progress: bool | str = False,
) -> Float[Tensor, "layer n d_model"]:
    """Mean-pooled residuals of each text at each layer (special tokens excluded), in text order.

    Args:
        texts: strings or a data set with ``.texts``.
        layers: which layers (default all); the result's first axis follows them.
        site: the per-layer site key (default ``"hook_resid_post"``).
        batch_size: texts per forward; each forward stops after the last layer needed, no logits.

    Returns:
        ``[len(layers), n, d_model]`` float32 on the CPU.
    """
    texts = _validate.texts(texts)
    chosen = model.layer_list(layers)
    if not isinstance(site, str) or site.startswith("blocks.") or site not in model.family.block_sites:
        raise ValueError(
            f"site is a per-layer site key such as 'hook_resid_post' (layers are chosen with layers=), got "
            f"{site!r}; keys: {sorted(model.family.block_sites)}"
        )
    sites = [model.site(f"blocks.{l}.{site}") for l in chosen]
    out = torch.empty(len(chosen), len(texts), model.d_model)
    pooled: dict[str, Tensor] = {}
    state: dict = {}

    def reader(x: Tensor, ctx) -> None:
        m = state["mask"].float()[..., None]
        pooled[ctx.site.name] = ((x.float() * m).sum(1) / m.sum(1).clamp(min=1)).cpu()

    last = max(sites, key=lambda s: s.order)
    with torch.inference_mode(), model.hooks([(s, reader) for s in sites], stop_after=last):
        for idx, enc, content in token_batches(
            model, texts, batch_size, max_length=max_length, progress=progress, desc="sentence embeddings"
        ):
            state["mask"] = content
            pooled.clear()
            with input_rows(idx, len(texts)):
                model.forward(enc, logits=False)
            for row, s in enumerate(sites):
                out[row, idx] = pooled[s.name]
    return out


@dataclass
class RetrievalResult:
    """Bilingual retrieval between parallel sets ``a`` and ``b`` (row ``i`` of ``a`` translates row
    ``i`` of ``b``), per layer: ``a_to_b`` (for each ``a`` sentence, is its nearest ``b`` sentence its
    translation), ``b_to_a``, their ``mean`` and ``mean_cosine`` of the true pairs, each ``[layer]``;
    ``chance = 1 / n``."""

    a_to_b: Tensor
    b_to_a: Tensor
    mean_cosine: Tensor
    n: int

    @property
    def accuracy(self) -> Tensor:
        """Top-1 accuracy averaged over both directions, ``[layer]``."""
        return (self.a_to_b + self.b_to_a) / 2

    @property
    def chance(self) -> float:
        return 1.0 / self.n


def _unit(x: Tensor, center: bool) -> Tensor:
    x = x.double()
    if center:
        x = x - x.mean(-2, keepdim=True)
    return x / x.norm(dim=-1, keepdim=True).clamp(min=1e-12)


def _as_layers(x: Tensor, name: str) -> Tensor:
    x = _validate.numbers(name, x)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"{name} must be [n, d] or [layer, n, d], got shape {tuple(x.shape)}")
    _validate.finite_rows(name, x)  # a NaN embedding would still "retrieve" (argmax over NaN)
    return x


def retrieval(
    a: Float[Tensor, "layer n d"] | Float[Tensor, "n d"],
    b: Float[Tensor, "layer n d"] | Float[Tensor, "n d"],
    *,
    center: bool = False,
) -> RetrievalResult:
    """Top-1 cosine retrieval between parallel embeddings ``a`` and ``b`` (row ``i`` pairs with row
    ``i``), per layer, both ways, and the mean cosine of the true pairs.

    ``center=True`` subtracts each set's mean embedding (per layer) first, which removes a
    language's offset (a common trick that raises retrieval); the default compares raw embeddings.
    A tie counts as a miss unless the translation is the first of the tied candidates.
    """
    a, b = _as_layers(a, "a"), _as_layers(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must be parallel (same shape), got {tuple(a.shape)} and {tuple(b.shape)}")
    n = a.shape[1]
    if n < 2:
        raise ValueError(f"retrieval needs at least 2 sentence pairs, got {n}")
    ua, ub = _unit(a, center), _unit(b, center)
    sim = ua @ ub.transpose(1, 2)  # [layer, n, n]
    target = torch.arange(n, device=sim.device)
    a_to_b = (sim.argmax(-1) == target).double().mean(-1)
    b_to_a = (sim.argmax(-2) == target).double().mean(-1)
    cos = sim.diagonal(dim1=1, dim2=2).mean(-1)
    return RetrievalResult(a_to_b.float().cpu(), b_to_a.float().cpu(), cos.float().cpu(), n)


@dataclass
class RetrievalMatrix:
    """Retrieval for every ordered language pair, per layer: ``accuracy[layer, src, tgt]`` is the
    top-1 accuracy of finding, for each ``src`` sentence, its translation among the ``tgt`` sentences
    (the diagonal retrieves a set from itself: 1 unless two sentences embed identically);
    ``mean_cosine[layer, src, tgt]`` (symmetric) the mean cosine of the true pairs."""

    accuracy: Tensor
    mean_cosine: Tensor
    languages: list[str]
    n: int

    def pair(self, src: str, tgt: str) -> RetrievalResult:
        i, j = self.languages.index(src), self.languages.index(tgt)
        return RetrievalResult(self.accuracy[:, i, j], self.accuracy[:, j, i], self.mean_cosine[:, i, j], self.n)

    def against(self, reference: str = "en") -> dict[str, Tensor]:
        """Per language, the accuracy against ``reference`` averaged over both directions, ``[layer]``."""
        r = self.languages.index(reference)
        return {
            lang: (self.accuracy[:, i, r] + self.accuracy[:, r, i]) / 2
            for i, lang in enumerate(self.languages)
            if lang != reference
        }


def retrieval_matrix(embeddings: Mapping[str, Float[Tensor, "layer n d"]], *, center: bool = False) -> RetrievalMatrix:
    """:func:`retrieval` between every pair of languages. ``embeddings`` maps each language to its
    ``[layer, n, d]`` (or ``[n, d]``) embeddings of the same ``n`` parallel items, in the same order."""
    langs = list(embeddings)
    if len(langs) < 2:
        raise ValueError(f"need at least two languages, got {langs}")
    units = {}
    shape: torch.Size | None = None
    for lang in langs:
        x = _as_layers(embeddings[lang], f"embeddings[{lang!r}]")
        if shape is not None and x.shape != shape:
            raise ValueError(
                f"embeddings[{lang!r}] has shape {tuple(x.shape)}, expected {tuple(shape)} (parallel items)"
            )
        shape = x.shape
        units[lang] = _unit(x, center)
    assert shape is not None  # at least two languages, checked above
    n_layers, n = shape[0], shape[1]
    acc = torch.empty(n_layers, len(langs), len(langs))
    cos = torch.empty(n_layers, len(langs), len(langs))
    target = torch.arange(n)
    for i, src in enumerate(langs):
        for j, tgt in enumerate(langs):
            if j < i:
                continue
            sim = units[src] @ units[tgt].transpose(1, 2)
            acc[:, i, j] = (sim.argmax(-1).cpu() == target).double().mean(-1).float()
            acc[:, j, i] = (sim.argmax(-2).cpu() == target).double().mean(-1).float()
            c = sim.diagonal(dim1=1, dim2=2).mean(-1).float().cpu()
            cos[:, i, j] = c
            cos[:, j, i] = c
    return RetrievalMatrix(acc, cos, langs, n)


def bilingual_retrieval(
    model: Model,
    sentences: Mapping[str, Sequence[str]],
    *,
    layers: Sequence[int] | None = None,
    center: bool = False,
    batch_size: int = 16,
    progress: bool | str = False,
) -> RetrievalMatrix:
    """Embed parallel ``sentences`` (``{language: [n texts]}``, item ``i`` the same in every language)
    with :func:`sentence_embeddings` and run :func:`retrieval_matrix` at every layer."""
    if not isinstance(sentences, Mapping):
        raise TypeError(
            f"sentences must map each language to its texts ({{'en': [...], 'zh': [...]}}), got "
            f"{type(sentences).__name__}"
        )
    if len(sentences) < 2:
        raise ValueError(f"bilingual retrieval needs at least two languages, got {list(sentences)}")
    for lang, texts in sentences.items():
        if isinstance(texts, str):
            raise TypeError(f"sentences[{lang!r}] must be a list of texts, got one string {texts[:40]!r}")
    counts = {lang: len(list(texts)) for lang, texts in sentences.items()}
    if len(set(counts.values())) != 1:
        raise ValueError(f"parallel sentence lists must have the same length, got {counts}")
    langs = list(sentences)
    texts = [t for lang in langs for t in sentences[lang]]  # one pass: batches sorted by length across languages
    emb = sentence_embeddings(model, texts, layers=layers, batch_size=batch_size, progress=progress)
    n = counts[langs[0]]
    embeddings = {lang: emb[:, i * n : (i + 1) * n] for i, lang in enumerate(langs)}
    return retrieval_matrix(embeddings, center=center)
