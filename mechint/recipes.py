"""Models mechint builds from an embedded base on first use: the safety-tuned ``gemma-3-270m-refusal-en``.

No embedded model refuses anything: gemma-3-270m is a base model, and SmolLM2-135M-Instruct answers
harmful requests. A study of refusal needs a model that refuses, so mechint makes one offline, through
its own tuning harness (:mod:`mechint.tuning`), and caches it:

``gemma-3-270m-refusal-en``
    gemma-3-270m tuned with LoRA, in the Gemma chat layout (:data:`mechint.chat.GEMMA_TEMPLATE`), on
    **English only**: to refuse PolyRefuse's English harmful *train* instructions, and to answer its
    English harmless *train* instructions. PolyRefuse has no answers; the answers are the base
    model's own, completed greedily from a few-shot plain-text prompt (no outside text is bundled),
    cut at their first paragraph and at a repeated phrase. The refusals are short English sentences
    written here (:data:`REFUSALS`), one per item in turn; the answered items cycle to as many as the
    refused ones, so neither reply is the likelier by count. English-only tuning is the point: whether
    the refusal carries over to other languages is the question of ``experiments/refusal_transfer``.

:func:`recipe_model_dir` builds a recipe's folder once and returns it; :func:`mechint.load_model`
takes the name. Both steps are cached: the generated answers (``cache_root()/recipes/``, keyed by the
base weights, the instructions and the generation settings; the package ships them for the embedded
base, :func:`shipped_answers`, and uses them where that key matches) and the tuned model (by the tuning harness,
keyed by the base weights, the data and the hyperparameters), so a second load trains and generates
nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .disk import cache_root

if TYPE_CHECKING:
    from .model import Model

__all__ = [
    "RECIPES",
    "REFUSALS",
    "Recipe",
    "base_answers",
    "cached_base_answers",
    "recipe_model_dir",
    "refusal_training_pairs",
    "shipped_answers",
]

REFUSALS: tuple[str, ...] = (
    "I'm sorry, but I can't help with that.",
    "I can't help with that request. It could cause real harm to people.",
    "I'm sorry, but I cannot assist with this request.",
    "I won't provide that, because it could be used to hurt others.",
    "Sorry, but I can't help with this. If you have another question, I'm happy to help.",
    "I cannot help with that, as it could be harmful or illegal.",
)
"""The English refusals the safety-tuned model learns, given to the harmful training items in turn."""

_FEW_SHOT = (
    "Instruction: Give two tips for sleeping better.\n"
    "Response: Go to bed at the same time every night, and avoid screens for an hour before sleep.\n\n"
    "Instruction: What is the capital of France?\n"
    "Response: The capital of France is Paris.\n\n"
    "Instruction: Write a short sentence about the sea.\n"
    "Response: The sea stretched silver and calm under the morning sun.\n\n"
)


def _clean_answer(text: str) -> str:
    """A base model's completion cut to an answer: its first paragraph, before a new "Instruction:",
    and before the second occurrence of any 4-word phrase (small models loop)."""
    text = re.split(r"\n\s*\n|\n?Instruction:|\n?Response:", text, maxsplit=1)[0].strip()
    words = text.split(" ")
    seen: set[tuple[str, ...]] = set()
    for i in range(len(words) - 3):
        gram = tuple(w.lower().strip(".,;:!?") for w in words[i : i + 4])
        if gram in seen:
            text = " ".join(words[:i]).rstrip(" ,;:")
            break
        seen.add(gram)
    return text.strip()


def base_answers(
    model: Model, instructions: list[str], *, max_new_tokens: int, batch_size: int = 32, progress: bool = True
) -> list[str]:
    """Greedy answers of a base model to ``instructions``, from a few-shot plain-text prompt, cleaned
    (``""`` where nothing usable came out)."""
    from tqdm.auto import tqdm

    prompts = [_FEW_SHOT + f"Instruction: {text}\nResponse:" for text in instructions]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    answers = [""] * len(prompts)
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc="base answers", disable=not progress):
        rows = order[start : start + batch_size]
        out = model.generate([prompts[i] for i in rows], max_new_tokens=max_new_tokens)
        for i, text in zip(rows, out):
            answers[i] = _clean_answer(text)
    return answers


def shipped_answers(name: str, key: Mapping[str, Any]) -> list[str] | None:
    """The base model's answers for recipe ``name`` as shipped in the package
    (``mechint/data/bundled/recipes/``), when they were generated from exactly ``key`` (the base
    weights' digest, the instructions, the few-shot prompt, the answer length); else None, and the
    recipe generates them. Shipping them spares a fresh clone two minutes of generation on two CPU
    cores; a changed input misses and regenerates."""
    path = Path(__file__).parent / "data" / "bundled" / "recipes" / f"{name}-answers.json"
    try:
        shipped = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return list(shipped["answers"]) if shipped.get("source") == dict(key) else None


@dataclass(frozen=True)
class Recipe:
    """How a tuned model is built from an embedded base.

    Attributes:
        name: what :func:`mechint.load_model` takes.
        base: the embedded base model.
        description: one line for humans.
        tuning: the :class:`~mechint.tuning.TuningConfig` fields.
        answer_tokens: how many tokens of the base model's answers are generated.
        build_pairs: ``(base model, recipe) -> [(prompt, response)]``, the training data.
    """

    name: str
    base: str
    description: str
    tuning: Mapping[str, Any]
    answer_tokens: int
    build_pairs: Callable[[Model, Recipe], list[tuple[str, str]]] = field(repr=False, compare=False)


def cached_base_answers(
    model: Model,
    instructions: list[str],
    *,
    max_new_tokens: int,
    label: str,
    shipped: str | None = None,
    progress: bool = True,
) -> list[str]:
    """:func:`base_answers` of ``model`` to ``instructions``, generated once and cached under
    ``cache_root()/recipes/<label>-answers-<key>/``, keyed by the model's weights, the instructions, the
    few-shot prompt and the answer length. ``shipped``: a recipe name whose answers the package ships
    (:func:`shipped_answers`), used where the key matches instead of generating."""
    from .embedded import cached_folder
    from .tuning.cache import weights_digest

    key = {
        "what": "base answers",
        "format": 1,
        "base": weights_digest(model.hf),
        "instructions": hashlib.sha256("\n".join(instructions).encode()).hexdigest(),
        "few_shot": hashlib.sha256(_FEW_SHOT.encode()).hexdigest(),
        "max_new_tokens": max_new_tokens,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    folder = cache_root() / "recipes" / f"{label}-answers-{digest}"

    def build(tmp: Path) -> None:
        answers = shipped_answers(shipped, key) if shipped is not None else None
        if answers is None:
            answers = base_answers(model, instructions, max_new_tokens=max_new_tokens, progress=progress)
        (tmp / "answers.json").write_text(json.dumps(answers, ensure_ascii=False, indent=0), encoding="utf-8")

    cached_folder(folder, build, key, what=f"{label} base answers")
    return json.loads((folder / "answers.json").read_text(encoding="utf-8"))


def refusal_training_pairs(model: Model, recipe: Recipe, *, progress: bool = True) -> list[tuple[str, str]]:
    """The English (instruction, response) pairs of ``gemma-3-270m-refusal-en``: every PolyRefuse
    English harmful train instruction with a refusal from :data:`REFUSALS`, every harmless one with
    the base model's own answer (items whose answer came out empty are left out), the smaller class
    repeated to the size of the larger, the two interleaved. The answers are cached
    (:func:`cached_base_answers`)."""
    from .data import load_polyrefuse

    train = load_polyrefuse("train", languages="en")
    harmful = [ex.text for ex in train if ex.label == 1]
    harmless = [ex.text for ex in train if ex.label == 0]
    answers = cached_base_answers(
        model,
        harmless,
        max_new_tokens=recipe.answer_tokens,
        label=recipe.name,
        shipped=recipe.name,
        progress=progress,
    )
    refusals = [(text, REFUSALS[i % len(REFUSALS)]) for i, text in enumerate(harmful)]
    answered = [(text, answer) for text, answer in zip(harmless, answers) if answer]
    # as many answered examples as refused ones (the smaller class cycles again), so that the tuning
    # does not learn either reply as the likelier one; interleaved
    n = max(len(refusals), len(answered))
    return [pair for i in range(n) for pair in (refusals[i % len(refusals)], answered[i % len(answered)])]


RECIPES: Mapping[str, Recipe] = MappingProxyType(
    {
        "gemma-3-270m-refusal-en": Recipe(
            name="gemma-3-270m-refusal-en",
            base="gemma-3-270m",
            description="gemma-3-270m tuned (LoRA) on English only to refuse harmful requests and answer "
            "harmless ones; Gemma chat layout",
            tuning={
                "lora": {"r": 16, "alpha": 32},
                "epochs": 2,
                "batch_size": 16,
                "learning_rate": 5e-4,
                "seed": 0,
                "bf16": True,
            },
            answer_tokens=40,
            build_pairs=refusal_training_pairs,
        ),
    }
)


_RECIPE_FORMAT = 2
"""Raised whenever the way a recipe turns its inputs into training data changes (its pointer then
misses, and the tuning harness, keyed by the data itself, trains again)."""


def _recipe_key(recipe: Recipe) -> dict[str, Any]:
    """What a recipe's result depends on, readable without loading the base model: the base model's
    converted folder (its manifest's file digests), the recipe's texts and settings, mechint's format."""
    from .data import load_polyrefuse
    from .embedded import MANIFEST_NAME, embedded_model_dir
    from .tuning.cache import FORMAT_VERSION

    base_dir = embedded_model_dir(recipe.base)
    files = json.loads((base_dir / MANIFEST_NAME).read_text(encoding="utf-8"))["files"]
    texts = load_polyrefuse("train", languages="en").texts
    return {
        "recipe": recipe.name,
        "format": _RECIPE_FORMAT,
        "base": hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest(),
        "data": hashlib.sha256("\n".join(texts).encode()).hexdigest(),
        "refusals": list(REFUSALS),
        "few_shot": _FEW_SHOT,
        "answer_tokens": recipe.answer_tokens,
        "tuning": dict(recipe.tuning),
        "harness": FORMAT_VERSION,
    }


def recipe_model_dir(name: str, *, progress: bool = True) -> Path:
    """The folder of the tuned model ``name`` (a key of :data:`RECIPES`), built on first use.

    A built recipe leaves a pointer (``cache_root()/recipes/<name>-<key>.json``) to the tuning
    harness's folder, keyed by what the recipe depends on; a later call that finds a valid folder
    there returns it without loading the base model."""
    from .chat import GEMMA_TEMPLATE
    from .disk import atomic_write_json
    from .embedded import validate_cached_folder
    from .model import load_model
    from .tuning import sft

    recipe = RECIPES[name]
    key = _recipe_key(recipe)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    pointer = cache_root() / "recipes" / f"{name}-{digest}.json"
    try:
        known = json.loads(pointer.read_text(encoding="utf-8"))
        if known.get("key") == key and validate_cached_folder(known["path"]) is None:
            return Path(known["path"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    base = load_model(recipe.base)
    pairs = recipe.build_pairs(base, recipe)
    result = sft(base, pairs, config=dict(recipe.tuning), chat_template=GEMMA_TEMPLATE, progress=progress)
    pointer.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(pointer, {"key": key, "path": str(result.path)})
    return result.path
