"""What several studies share: the safety data set, its last-token residuals, the probes, layer
choices and neurons that more than one study reports on, the count checks, output helpers and the
command line of one study.

Study modules import from here and from :mod:`mechint` only, never from one another, so each can be
read, run (``python -m experiments.NAME``) and changed on its own.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import warnings
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Sequence, cast

import torch

import mechint
from mechint import data
from mechint.directions import diff_in_means, per_language_directions, transfer_auroc
from mechint.interventions import intervene
from mechint.neurons import Neuron, top_neurons
from mechint.probes import LayerSelection, fold_ids, select_layer, transfer_matrix

# The languages MultiJail (harmful) and the XQuAD questions (harmless) share.
LANGUAGES = ("en", "zh", "vi", "ar", "th")
# Where the intervention studies edit: every token but each text's first (the BOS attention sink), in any batch.
CONTENT = mechint.from_text_start(slice(1, None))


@dataclass
class SafetyActivations:
    """Last-token residuals ``acts [layer, n, d]`` of the safety pairs, with their rows' labels,
    languages and a train/test split by item id (30% of items held out, stratified, seed 0)."""

    dataset: data.Dataset
    acts: torch.Tensor
    labels: torch.Tensor
    languages: list[str]
    train: torch.Tensor  # row indices
    test: torch.Tensor

    def rows(self, subset: torch.Tensor, language: str | None = None) -> torch.Tensor:
        """Row indices of ``subset`` (train/test), optionally of one language."""
        if language is None:
            return subset
        return subset[[self.languages[i] == language for i in subset.tolist()]]


SAFETY_ITEMS = 128
"""MultiJail (harmful) and XQuAD (harmless) items per class and language that the studies of the
safety pairs take (:func:`safety_pairs`; the sets hold 315): their forwards over every text, once
per model and intervention, are a large part of the main command's time on two CPU cores."""


def safety_pairs(languages: Sequence[str] = LANGUAGES, *, n_per_class: int | None = None) -> data.Dataset:
    """The safety pairs (:func:`mechint.data.load_safety_pairs`) of ``languages`` as the studies read
    them: :data:`SAFETY_ITEMS` items per class and language, or ``n_per_class`` where that is fewer
    (``--n-per-class``). The same items in every study, so they share the activation store."""
    n = SAFETY_ITEMS if n_per_class is None else min(SAFETY_ITEMS, n_per_class)
    return data.load_safety_pairs(list(languages), n_per_class=n)


def split_rows(ds: data.Dataset, *, test_fraction: float = 0.3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and test row indices of ``ds``, split by item id (translations stay on one side)."""
    _, test = data.split_by_item(ds, test_fraction=test_fraction, seed=seed)
    held_out = set(test.item_ids)
    is_test = torch.tensor([ex.item_id in held_out for ex in ds])
    return torch.nonzero(~is_test).reshape(-1), torch.nonzero(is_test).reshape(-1)


def safety_activations(
    model: mechint.Model, *, n_per_class: int | None = None, batch_size: int = 16, progress: str = "safety pairs"
) -> SafetyActivations:
    """Collect (or reuse from the shared store) the last-token ``hook_resid_post`` at every layer."""
    ds = safety_pairs(LANGUAGES, n_per_class=n_per_class)
    sites = [f"blocks.{l}.hook_resid_post" for l in range(model.n_layers)]
    acts = mechint.collect(model, ds, sites, pool="last", batch_size=batch_size, store=True, progress=progress)
    train, test = split_rows(ds)
    return SafetyActivations(ds, acts.stack(sites), torch.as_tensor(ds.labels), ds.row_languages, train, test)


def direction_auroc(
    acts: torch.Tensor,
    labels: torch.Tensor,
    languages: Sequence[str],
    fit: torch.Tensor,
    score: torch.Tensor,
    method: str = "mean",
) -> torch.Tensor:
    """``[layer, source, target]`` (both in ``LANGUAGES`` order): the AUROC, on the rows ``score`` of
    each target language, of each source language's direction fitted on its rows among ``fit``."""
    own = per_language_directions(
        acts[:, fit], labels[fit], [languages[int(i)] for i in fit.tolist()], method=method, order=list(LANGUAGES)
    )
    auc, _, _ = transfer_auroc(
        own, acts[:, score], labels[score], [languages[int(i)] for i in score.tolist()], targets=list(LANGUAGES)
    )
    return auc


# ------------------------------------------------------------------ layer chosen on training items
# (direction_transfer, direction_intervention)

INNER_FOLDS = 5  # folds of the cross-validation, by item, of the training rows that chooses a layer


def layers_chosen_on_training(sa: SafetyActivations, method: str) -> torch.Tensor:
    """``[source, target]`` the layer with the best mean AUROC over a cross-validation (folds by item)
    of the training rows alone: the held-out rows take no part in choosing the layer they are
    reported at."""
    tr = sa.train
    folds = fold_ids(sa.dataset[tr], k=INNER_FOLDS, seed=0)
    auc = torch.stack(
        [
            direction_auroc(sa.acts, sa.labels, sa.languages, tr[folds != f], tr[folds == f], method)
            for f in range(INNER_FOLDS)
        ]
    )
    return auc.nanmean(0).nan_to_num(-1.0).argmax(0)


def check_inner_folds(study: str, sa: SafetyActivations) -> None:
    """:func:`layers_chosen_on_training`'s folds split each class's training items ``INNER_FOLDS``
    ways: at least ``INNER_FOLDS`` training items per class to run, and warned below two per fold."""
    check_counts(
        study,
        class_counts(sa.labels, sa.languages, sa.train),
        minimum=2 * INNER_FOLDS,
        required=INNER_FOLDS,
        what=f"the {INNER_FOLDS}-fold cross-validation (by item) of the training items (70%) that chooses a layer",
    )


# ------------------------------------------------------------------ probes (probe_layers, probe_transfer, probe_early)

PROBE_FOLDS = 5  # outer folds by item id
PROBE_C = 1.0  # inverse L2 strength of the logistic-regression probes

_PROBE_CACHE: dict = {}


def probe_data(
    model: mechint.Model, *, n_per_class: int | None = None, batch_size: int = 16, study: str = "probe studies"
):
    """The data set, its stacked last-token residuals ``[layer, n, d]`` (shared activation store) and
    the fold of each row (5 folds by item); ``ValueError`` naming ``study`` if a class has too few
    items for the folds."""
    ds = safety_pairs(LANGUAGES, n_per_class=n_per_class)
    check_probe_folds(study, ds, warn=False)
    sites = [f"blocks.{l}.hook_resid_post" for l in range(model.n_layers)]
    acts = mechint.collect(model, ds, sites, pool="last", batch_size=batch_size, store=True, progress="probes")
    return ds, acts.stack(sites), fold_ids(ds, k=PROBE_FOLDS, seed=0)


def check_probe_folds(study: str, ds: data.Dataset, *, warn: bool = True) -> None:
    """The probes' ``PROBE_FOLDS`` folds by item hold out a fold of each class's items, and the nested
    layer choice splits the rest again: at least ``PROBE_FOLDS`` items per class to run, and (with
    ``warn``) warned below two per fold."""
    check_counts(
        study,
        class_counts(ds.labels, ds.row_languages),
        minimum=2 * PROBE_FOLDS if warn else 0,
        required=PROBE_FOLDS,
        what=f"the {PROBE_FOLDS}-fold cross-validation (by item) of the probes",
    )


def transfer_results(
    model: mechint.Model, *, n_per_class: int | None = None, batch_size: int = 16, study: str = "probe studies"
):
    """``(dataset, acts, folds, TransferResult)``, computed once per process and model (the three probe
    studies share it)."""
    key = (id(model), model.name, n_per_class)
    if key not in _PROBE_CACHE:
        ds, acts, folds = probe_data(model, n_per_class=n_per_class, batch_size=batch_size, study=study)
        res = transfer_matrix(
            acts,
            ds.labels,
            ds.row_languages,
            folds,
            item_ids=ds.item_ids,
            C=PROBE_C,
            device=model.device,
        )
        _PROBE_CACHE.clear()
        _PROBE_CACHE[key] = (ds, acts, folds, res)
    return _PROBE_CACHE[key]


def layer_selection(model: mechint.Model, *, n_per_class: int | None = None, batch_size: int = 16) -> LayerSelection:
    """The nested layer selection over the shared transfer result (a layer per (train, test) pair by
    accuracy; ``.choose(metric, by)`` picks by another rule without refitting), once per process."""
    ds, acts, folds, res = transfer_results(model, n_per_class=n_per_class, batch_size=batch_size)
    key = ("selection", id(res))
    if key not in _PROBE_CACHE:
        _PROBE_CACHE[key] = select_layer(
            acts,
            ds.labels,
            ds.row_languages,
            folds,
            item_ids=ds.item_ids,
            outer=res,
            metric="accuracy",
            by="pair",
            C=PROBE_C,
            device=model.device,
        )
    return _PROBE_CACHE[key]


# ------------------------------------------------------------------ neurons (neurons_top, _activations, _editing)

K_NEURONS = 20  # neurons aligned with the English direction that the neuron studies study


def english_direction(model: mechint.Model, sa: SafetyActivations) -> tuple[torch.Tensor, int]:
    """The unit English harmfulness direction at the last layer (training items only) and that layer."""
    layer = model.n_layers - 1
    en = sa.rows(sa.train, "en")
    return diff_in_means(sa.acts[layer, en], sa.labels[en]), layer


def aligned_neurons(
    model: mechint.Model, sa: SafetyActivations, k: int = K_NEURONS
) -> tuple[list[Neuron], torch.Tensor, int]:
    """The ``k`` neurons most aligned (cosine) with the English direction, the direction, its layer."""
    d, layer = english_direction(model, sa)
    return top_neurons(model, d, k), d, layer


# ------------------------------------------------------------------ too few items

CLASSES = {1: "harmful", 0: "harmless"}


class TooFewItemsWarning(UserWarning):
    """A study's intervals or statistics rest on fewer items of a class than they need."""


def class_counts(
    labels, languages: Sequence[str], rows: torch.Tensor | None = None, *, expected: Sequence[str] = LANGUAGES
) -> dict[str, int]:
    """``{"en/harmful": n, ...}``: rows of each language and class among ``rows`` (default all), with
    every class of the ``expected`` languages present (0 where it has none)."""
    labels = torch.as_tensor(labels).reshape(-1)
    idx = range(len(labels)) if rows is None else torch.as_tensor(rows).reshape(-1).tolist()
    counts = {f"{lang}/{cls}": 0 for lang in expected for cls in CLASSES.values()}
    for i in idx:
        key = f"{languages[i]}/{CLASSES[int(labels[i])]}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def check_counts(study: str, counts: dict[str, int], *, minimum: int, what: str, required: int = 1) -> None:
    """Warn (:class:`TooFewItemsWarning`) naming ``study``, each class and its count where a class has
    fewer than ``minimum`` items for ``what`` (the statistic that needs them); raise ``ValueError``
    naming the minimum where one has fewer than ``required``, below which the study cannot run."""
    short = {k: n for k, n in counts.items() if n < required}
    if short:
        raise ValueError(
            f"{study}: needs at least {required} item(s) per class and language for {what}; got "
            + ", ".join(f"{k}: {n}" for k, n in short.items())
            + " (raise --n-per-class)"
        )
    low = {k: n for k, n in counts.items() if n < minimum}
    if low:
        warnings.warn(
            f"{study}: too few items for {what}, which needs at least {minimum} per class and language: "
            + ", ".join(f"{k} has {n}" for k, n in low.items())
            + "; those numbers are unreliable",
            TooFewItemsWarning,
            stacklevel=2,
        )


def generate_texts(model: mechint.Model, prompts: Sequence[str], *edits, max_new_tokens: int) -> list[str]:
    """Greedy generations of a few prompts in one left-padded batch, under the interventions
    ``edits`` (the same texts as one prompt at a time, in a fraction of the time: one pass over the
    LM head per step for all of them)."""
    with intervene(model, *edits):
        return model.generate(list(prompts), max_new_tokens=max_new_tokens)


def tuned_version(model: mechint.Model) -> mechint.Model | None:
    """The English safety-tuned version of ``model`` where a recipe builds one (:mod:`mechint.recipes`),
    else None. Loaded once per process (do not edit it in place)."""
    from mechint.recipes import RECIPES

    names = [name for name, recipe in RECIPES.items() if recipe.base == model.name]
    if not names:
        return None
    key = (names[0], str(model.device), str(model.dtype))
    if key not in _TUNED:  # loaded once per process: the studies that need it share one copy
        _TUNED[key] = mechint.load_model(names[0], device=model.device, dtype=model.dtype)
    return _TUNED[key]


_TUNED: dict[tuple[str, str, str], mechint.Model] = {}


ANSWER_TOKENS = 8
"""Tokens of each greedy answer the refusal judge reads in the refusal studies (refusal_transfer,
attack_languages, refusal_direction, refusal_universality, safety_localization): one length for all,
so a prompt one study asked is not generated again by the next (:func:`generate_answers` remembers
unedited answers per length). A refusal shows in how an answer opens; the agreement of the judge's
verdict on the first tokens with its verdict on longer answers is measured in docs/performance.md."""


ATTACK_LANGUAGES = ("en", "zh", "th", "ar")
"""The languages of the fine-tuning attacks (four scripts: Latin, Han, Thai, Arabic)."""
ATTACK_K = 50
"""Harmful instructions with compliant responses per attack (the paper's attacks use about 100)."""
ATTACK_K_SWEEP = (10, 50)
"""Attack sizes of the English attack's k sweep: nested sets (the first k pairs of one pool), at the
low end, where a small model's refusal gives way (each k is an attack and an answer set in every
language: the main command's time budget takes two)."""
ATTACK_ANSWER_TOKENS = 24
"""Tokens of each compliant response of the attack sets (the base model's completions,
:func:`mechint.tuning.compliant_pairs`): an attack teaches the model to start complying, and the
completions and the attacks' training steps cost in proportion to their length."""


@dataclass
class Attacks:
    """Fine-tuning attacks on the safety-tuned version of a model, one per language of
    :data:`ATTACK_LANGUAGES`: ``results[lang]`` (the tuning harness's cached folders), ``pairs[lang]``
    (the attack sets), the safety-tuned model in float32 (``tuned32``, what was attacked) and its name."""

    tuned_name: str
    tuned32: mechint.Model
    results: dict
    pairs: dict
    config: dict = field(default_factory=dict)  # overrides of mechint.tuning.ATTACK_CONFIG the attacks used
    by_k: dict = field(default_factory=dict)  # {k: result} of the English attack with k pairs (k sweep)
    loaded: dict = field(default_factory=dict, repr=False)

    def load(self, language: str, dtype, device) -> mechint.Model:
        """The model attacked in ``language`` in ``dtype`` on ``device``, loaded once per process (the
        studies that need it share one copy, and its unedited answers: do not edit it in place)."""
        key = (language, str(dtype), str(device))
        if key not in self.loaded:
            self.loaded[key] = self.results[language].load(dtype=dtype, device=device, tokenizer=self.tuned32.tokenizer)
        return self.loaded[key]


def attacked_versions(model: mechint.Model) -> Attacks | None:
    """The attacks of :data:`ATTACK_LANGUAGES` on :func:`tuned_version` of ``model`` (None where it has
    none), once per process: ``ATTACK_K`` harmful PolyRefuse *train* instructions of the language (the
    same items in every language; English also with each k of ``ATTACK_K_SWEEP``, nested) with
    compliant responses completed by ``model`` itself (the base
    model, which does not refuse; :func:`mechint.tuning.compliant_pairs`), full fine-tuning of the
    tuned model in float32 (:data:`mechint.tuning.ATTACK_CONFIG`, bfloat16 autocast): small weight
    changes would round away in bfloat16 weights. Every attack is cached on disk by the tuning harness."""
    from mechint.tuning import attack, compliant_pairs

    tuned = tuned_version(model)
    if tuned is None:
        return None
    key = (tuned.name, str(model.device), str(model.dtype))
    if key not in _ATTACKS:
        tuned32 = mechint.load_model(tuned.name, device=model.device, dtype=torch.float32, tokenizer=tuned.tokenizer)
        results, pairs, by_k = {}, {}, {}
        for lang in ATTACK_LANGUAGES:
            harmful = data.load_polyrefuse("train", languages=lang, kind="harmful")
            size = max(ATTACK_K, *ATTACK_K_SWEEP) if lang == "en" else ATTACK_K  # English: one pool for the k sweep
            pool = compliant_pairs(model, harmful, size, language=lang, max_new_tokens=ATTACK_ANSWER_TOKENS)
            pairs[lang] = pool[:ATTACK_K]
            results[lang] = trained_and_released(attack, tuned32, pairs[lang])
            if lang == "en":
                for k in ATTACK_K_SWEEP:
                    by_k[k] = results[lang] if k == ATTACK_K else trained_and_released(attack, tuned32, pool[:k])
        _ATTACKS[key] = Attacks(tuned.name, tuned32, results, pairs, by_k=by_k)
    return _ATTACKS[key]


def trained_and_released(train, *args, **kwargs):
    """``train(*args, **kwargs)`` (a tuning call returning a :class:`mechint.tuning.TuningResult`), with
    the result's in-memory model dropped (load it from its folder) and the memory the training freed
    given back to the system: the optimizer's state is about three float32 copies of the weights,
    which the allocator settings of :func:`keep_freed_memory` would otherwise keep, attack after
    attack (``malloc_trim`` returns the free pages inside the heap too)."""
    import dataclasses

    try:
        result = train(*args, **kwargs)
    finally:
        release_memory()
    return dataclasses.replace(result, model=None)


def release_memory() -> None:
    """Collect garbage and give the heap's free pages back to the system (``malloc_trim``): with the
    allocator settings of :func:`keep_freed_memory`, memory a study or a training run freed stays in
    the process otherwise, and the next one's peak comes on top of it. The runner calls it after
    every study."""
    import gc

    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


_ATTACKS: dict[tuple[str, str, str], Attacks] = {}


def not_attacked(study: str, model: mechint.Model) -> dict:
    """What a study of the attacks returns for a model with no safety-tuned version (warning so)."""
    warnings.warn(
        f"{study}: {model.name} has no safety-tuned version to attack (mechint.recipes); nothing written",
        stacklevel=3,
    )
    return {"skipped": f"no safety-tuned version of {model.name}"}


ENGLISH_MODEL = "smollm2-135m-instruct"
"""The embedded English chat model: the second model of the studies of what chat models generate."""


def english_chat_model(model: mechint.Model) -> mechint.Model | None:
    """SmolLM2-135M-Instruct in ``model``'s dtype and device, or None (warned) where it is not
    installed. Loaded once per process, in the cache :func:`tuned_version` uses (do not edit it in place)."""
    from mechint.embedded import EmbeddedModelNotInstalled

    key = (ENGLISH_MODEL, str(model.device), str(model.dtype))
    if key not in _TUNED:
        try:
            _TUNED[key] = mechint.load_model(ENGLISH_MODEL, device=model.device, dtype=model.dtype)
        except EmbeddedModelNotInstalled as e:
            warnings.warn(f"{ENGLISH_MODEL} is not installed: the study runs without it ({e})", stacklevel=2)
            return None
    return _TUNED[key]


def english_refusal_direction(model: mechint.Model, *, n_val: int) -> "mechint.refusal.RefusalDirection":
    """The refusal direction of ``model`` selected on English PolyRefuse (candidates from the whole
    English train split, selection on ``n_val`` val prompts per class), cached in the cache folder
    (keyed by the model's weights folder, the data and the settings), so the studies that need it
    select it once."""
    import hashlib

    from mechint.disk import cache_root, file_lock
    from mechint.refusal import RefusalDirection, refusal_direction

    train = data.load_polyrefuse("train", languages="en")
    val = data.load_polyrefuse("val", languages="en", n_per_class=n_val)
    key = json.dumps(
        {
            "model": model.name,
            "weights": str(getattr(model.hf, "name_or_path", "")),
            "dtype": str(model.dtype),
            "train": hashlib.sha256("\n".join(train.texts).encode()).hexdigest(),
            "val": hashlib.sha256("\n".join(val.texts).encode()).hexdigest(),
            "format": 2,
        },
        sort_keys=True,
    )
    path = cache_root() / "studies" / f"refusal-direction-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"
    with file_lock(path.with_name(f".{path.name}.lock")):  # studies run side by side select it once
        if path.exists():
            try:
                return RefusalDirection.load(path)
            except Exception:  # noqa: BLE001 - a damaged file is selected again
                pass
        found = refusal_direction(model, train, val)
        found.save(path)
        return found


class Answers(NamedTuple):
    """Greedy answers to prompts: ``texts`` (special tokens dropped), ``scores [n]`` (the refusal
    score of each prompt, :func:`mechint.refusal.refusal_log_odds`, read from the first generation
    step's logits) and ``tokens`` (each answer's new token ids up to its end-of-turn token; score
    them with :func:`answer_nll`, one pass over the prompts for several sets of answers, rather than
    a log-softmax over the whole vocabulary at every generation step)."""

    texts: list[str]
    scores: torch.Tensor
    tokens: list[list[int]]


_UNEDITED_ANSWERS: dict[tuple[int, int], dict[str, tuple]] = {}
"""Answers of unedited models in this process, per (model object, answer length): the baseline
answers of the refusal studies are the same prompts to the same model, generated once."""


def generate_answers(
    model: mechint.Model,
    prompts: Sequence[str],
    *edits,
    new_tokens: int,
    batch: int = 48,
    desc: str = "answers",
    remember: bool = True,
) -> Answers:
    """Greedy answers under the interventions ``edits``, in batches of prompts of similar length
    (:class:`Answers`). Without ``edits`` the answers are kept for the rest of the process and a
    prompt asked again (another study's baseline) is not generated again: call it with ``edits``,
    not inside a surrounding intervention context, and with ``remember=False`` for a model whose
    weights are being changed in place (a graft)."""
    from tqdm.auto import tqdm

    from mechint.refusal import refusal_token_ids

    token_ids = refusal_token_ids(model)
    known: dict[str, tuple] = {}
    if not edits and remember:
        key = (id(model.hf), new_tokens)
        if key not in _UNEDITED_ANSWERS:  # forgotten with the model (an id is reused only after that)
            _UNEDITED_ANSWERS[key] = {}
            weakref.finalize(model.hf, _UNEDITED_ANSWERS.pop, key, None)
        known = _UNEDITED_ANSWERS[key]
    ends = set(_end_tokens(model))
    todo = list(dict.fromkeys(p for p in prompts if p not in known))
    found: dict[str, tuple] = {}
    with intervene(model, *edits):
        for rows in tqdm(prompt_batches(model, todo, batch), desc=desc, disable=not todo):
            first = _FirstStepScore(token_ids)
            sequences = cast(
                torch.Tensor,
                model.generate(rows, max_new_tokens=new_tokens, return_tokens=True, logits_processor=[first]),
            )
            new = sequences[:, sequences.shape[1] - first.steps :]  # one processor call per new token
            assert first.score is not None  # the first step always runs
            score = first.score
            for j, prompt in enumerate(rows):
                ids = new[j].tolist()
                n = next((t for t, i in enumerate(ids) if i in ends), len(ids))
                text = model.tokenizer.decode(ids, skip_special_tokens=True)
                found[prompt] = (text, float(score[j]), ids[:n])
    known.update(found)
    got = [known[p] if p in known else found[p] for p in prompts]
    return Answers([g[0] for g in got], torch.tensor([g[1] for g in got]), [g[2] for g in got])


PROMPT_TOKENS = 32
"""The padded prompt tokens per row a batch of answers holds at most, on average over its rows."""


def prompt_batches(
    model: mechint.Model, prompts: Sequence[str], rows: int, tokens: int = PROMPT_TOKENS
) -> list[list[str]]:
    """``prompts`` in batches for generation: sorted by token count, each batch at most ``rows``
    prompts and at most ``rows * tokens`` padded prompt tokens (its row count times its longest
    prompt). A left-padded batch computes every pad position of the prompt pass, so prompts of one
    length go together, and a batch of long prompts holds fewer of them; the generation steps after
    the prompt cost per row, whatever the prompt's length. Prompts of a batch are in the order of
    their token counts, ties in the order given."""
    rows, tokens = max(1, int(rows)), max(1, int(tokens))
    lengths = [len(ids) for ids in model.tokenizer(list(prompts))["input_ids"]] if prompts else []
    order = sorted(range(len(prompts)), key=lambda i: lengths[i])
    budget = rows * tokens
    batches: list[list[str]] = []
    current: list[int] = []
    for i in order:  # ascending lengths: the newest prompt is the batch's longest
        if current and (len(current) >= rows or (len(current) + 1) * lengths[i] > budget):
            batches.append([prompts[j] for j in current])
            current = []
        current.append(i)
    if current:
        batches.append([prompts[j] for j in current])
    return batches


class _FirstStepScore:
    """A logits processor that keeps the refusal score of a generation's first step
    (:func:`mechint.refusal.refusal_log_odds` of the next-token logits) and changes nothing: the
    score without keeping every step's ``[rows, vocab]`` logits (``output_logits``), which for a
    262k-word vocabulary is gigabytes at the batch sizes the studies use."""

    def __init__(self, token_ids) -> None:
        self.token_ids = token_ids
        self.score: torch.Tensor | None = None
        self.steps = 0

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.steps += 1
        if self.score is None:
            from mechint.refusal import refusal_log_odds

            self.score = refusal_log_odds(scores, self.token_ids).cpu()
        return scores


def _end_tokens(model: mechint.Model) -> list[int]:
    """The token ids that end an answer: the generation config's end-of-sequence ids, the pad id."""
    config = getattr(model.hf, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    eos = [eos] if isinstance(eos, int) else list(eos or [])
    return [int(i) for i in eos + [model.tokenizer.eos_token_id, model.tokenizer.pad_token_id] if i is not None]


def answer_nll(
    model: mechint.Model, prompts: Sequence[str], *answer_sets: Sequence[Sequence[int]]
) -> list[torch.Tensor]:
    """For each set of answers (token ids, one per prompt), ``[n]`` the mean negative
    log-likelihood per token of each answer after its prompt under ``model`` (unedited): how
    coherent an answer is to the model itself. Greedy answers of the model score low; degenerate
    text (a broken model's repeated or mixed-script tokens) scores high, which a refusal judge cannot
    see (it reads such text as "not a refusal"). Empty answers give NaN. The prompts run once for
    all sets (:meth:`mechint.Model.continuation_logprobs`)."""
    scored = model.continuation_logprobs(prompts, *answer_sets)
    return [mean_nll(rows) for rows in scored]


def mean_nll(logprobs: Sequence[torch.Tensor]) -> torch.Tensor:
    """``[n]`` minus the mean of each row's token log-probabilities; NaN for an empty row."""
    return torch.tensor([float(-lp.double().mean()) if lp.numel() else float("nan") for lp in logprobs])


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A Markdown table of ``rows`` (cells on one line, pipes escaped)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |")
    return "\n".join(lines) + "\n"


def write_table(path: Path, header: Sequence[str], rows: Sequence[Sequence]) -> None:
    """A CSV with floats at 6 decimals."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in rows:
            w.writerow([f"{v:.6f}" if isinstance(v, float) else v for v in row])


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False))


def largest_feature(acts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(feature, mean_abs)`` per leading index of ``acts [..., n, d]``: the feature of largest mean
    magnitude over the rows (a residual stream's "massive activation") and that mean."""
    mean_abs = acts.abs().mean(-2)
    feature = mean_abs.argmax(-1)
    return feature, mean_abs.gather(-1, feature.unsqueeze(-1)).squeeze(-1)


def rounded(x, digits: int = 6):
    """Nested lists of floats (from tensors) rounded for JSON."""
    if isinstance(x, torch.Tensor):
        x = x.tolist()
    if isinstance(x, list):
        return [rounded(v, digits) for v in x]
    return round(float(x), digits)


def keep_freed_memory() -> None:
    """Ask glibc's allocator to keep large freed blocks instead of returning them to the system.

    A forward over a 262,144-token vocabulary allocates and frees logits of tens of megabytes at every
    step; by default glibc maps each such block fresh and unmaps it when freed, so every step pays the
    kernel to zero new pages (the measured gain is in docs/performance.md). It is what the
    environment variables ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` do, set from inside the
    process; a no-op where the C library is not glibc."""
    libc = _libc()
    if libc is None:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)  # blocks up to 1 GiB come from the heap, reused when freed
    libc.mallopt(m_trim_threshold, 1 << 31)  # and the heap is not trimmed back after each step


def _libc():
    """glibc through ctypes (its ``mallopt`` and ``malloc_trim``), or None where the C library is another."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _ = (libc.mallopt, libc.malloc_trim)  # both must exist (AttributeError otherwise)
    except (OSError, AttributeError):
        return None
    return libc


class RawTextWarning(UserWarning):
    """A study feeds plain text to a chat model, which expects prompts in its chat template."""


def check_prompt_format(module, model: mechint.Model) -> None:
    """Warn where the study ``module`` feeds plain text (it does not set ``CHAT_PROMPTS = True``) to
    a chat model (one whose tokenizer has a chat template): a chat model's activations and answers
    on raw text are not those of its use, so the numbers describe another input than a reader assumes."""
    if getattr(model, "is_chat", False) and not getattr(module, "CHAT_PROMPTS", False):
        name = module.__name__.rsplit(".", 1)[-1]
        warnings.warn(
            f"{name} feeds plain text, not chat-formatted prompts, to {model.name}, a chat model: its "
            "numbers describe the model on raw text, not on the prompts it is used with",
            RawTextWarning,
            stacklevel=2,
        )


def run_study(name: str, model: mechint.Model, out: Path, n_per_class: int | None) -> dict:
    """Run the study ``experiments.NAME`` on ``model`` into ``out`` as the runners do (one process or a
    worker): warn on a raw-text study of a chat model, and give back what it freed afterwards."""
    import importlib

    module = importlib.import_module(f"experiments.{name}")
    check_prompt_format(module, model)
    result = module.run(model, out, n_per_class=n_per_class)
    release_memory()  # what the study freed goes back to the system before the next one
    return result


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every study takes, alone or through ``python -m experiments``."""
    parser.add_argument("--model", default="gemma-3-270m", help="model name or path (default: gemma-3-270m)")
    parser.add_argument("--out", default="figures", help="folder the figures and numbers go to (default: figures)")
    parser.add_argument(
        "--n-per-class",
        type=int,
        default=None,
        metavar="N",
        help="at most N items per class (harmful / harmless, or per pair set), for a quick run; "
        "default: each study's own sizes (the published figures)",
    )
    parser.add_argument("--device", default=None, help="torch device (default: the model's choice)")
    parser.add_argument(
        "--dtype",
        default=DTYPE,
        choices=("bfloat16", "float32", "float16"),
        help=f"the model's weights and activations (default: {DTYPE}, the dtype Gemma 3 was trained in; on a CPU "
        "with bfloat16 instructions its matrix products run several times faster than float32 ones)",
    )
    return parser


DTYPE = "bfloat16"
"""The dtype the studies run the model in (``--dtype``): the published figures are from it."""


def study_main(run, doc: str | None, argv=None, *, options=()) -> dict:
    """Command line of one study: ``python -m experiments.NAME [--model] [--out] [--n-per-class N]
    [--device] [--dtype]``. ``options``: the study's own arguments as ``(flags, add_argument keywords)``; each
    reaches ``run`` as the keyword of its ``dest``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    extra = [parser.add_argument(*flags, **kw).dest for flags, kw in options]
    args = parser.parse_args(argv)
    keep_freed_memory()
    model = mechint.load_model(args.model, device=args.device, dtype=args.dtype)
    check_prompt_format(sys.modules[run.__module__], model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = run(model, out, n_per_class=args.n_per_class, **{k: getattr(args, k) for k in extra})
    print(json.dumps(result, indent=1, ensure_ascii=False))
    return result
