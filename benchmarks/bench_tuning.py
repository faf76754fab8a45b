"""LoRA tuning of gemma-3-270m on a CPU: ``mechint.tuning``'s loops against TRL's ``SFTTrainer`` and
``DPOTrainer``, side by side in one run, same data, order, initialisation and optimizer.

Task (the first real use of ``mechint.tuning``): LoRA r=16 (alpha 32, every linear layer of the
decoder blocks) on gemma-3-270m in float32, ``--n`` synthetic English chat examples in the Gemma chat
layout (``mechint.chat.GEMMA_TEMPLATE``: prompts of ~20-30 tokens formatted, responses of 10-40
tokens, ~50-70 tokens in all), batch 8, AdamW at 2e-4 decayed linearly, gradients clipped at norm 1,
torch on ``--threads`` threads (2 by default: the 2-core machine). Each method trains ``--steps``
steps from the same starting adapters (seeded) on the same batches (mechint's first-epoch order; TRL
is given the examples in that order with ``train_sampling_strategy="sequential"``).

Methods (rows):

- ``trl``: ``trl.SFTTrainer`` on the PEFT model, pre-tokenized examples (``input_ids``, ``labels``
  with -100 on the prompt), ``optim="adamw_torch"``, ``gradient_checkpointing=False``, ``bf16=False``
  (TRL's defaults are ``True`` for both; checkpointing would recompute the forward, bf16 would change
  the numbers), no logging, no saving. Its fused LM head scores every position off the GPU (it
  compacts to the response positions only on Triton devices) and recomputes the projection in its
  backward.
- ``trl_defaults``: the same with TRL's defaults for ``bf16`` (True: bfloat16 autocast) and
  ``gradient_checkpointing`` (True), what ``SFTConfig()`` gives a user.
- ``mechint``: ``mechint.tuning.train.run_sft``, what ``mechint.sft`` runs: the decoder stack, then
  the LM head at the response positions only.
- ``mechint_bf16``: the same under bfloat16 autocast (``TuningConfig(bf16=True)``).
- ``all_positions``: mechint's loop with the LM head applied at every position and the loss masked
  (what a plain ``model(..., labels=...)`` forward costs).
- ``decoder_only``: the decoder stack's forward and backward with no LM head (a stand-in loss, the
  hidden states at the response positions dotted with a fixed random vector): the time the LM head
  adds is ``mechint`` minus this row (``all_positions`` minus it for every position).

For DPO (``--tasks dpo``) the rows are ``trl_dpo`` (``trl.DPOTrainer``, sigmoid loss, beta 0.1, the
reference by disabling the adapters at every step, pre-tokenized triples passed through) and
``mechint_dpo`` (``run_dpo``: response-only head, the reference log-probabilities computed once
before the first step; that pass is included in its time). The rejected response is another
example's response.

``--tasks api`` times ``mechint.sft`` itself over a whole epoch of the ``--n`` examples (the pairs
as text, ``chat_template=GEMMA_TEMPLATE``), once in float32 (``sft_api``) and once with ``bf16=True``
(``sft_api_bf16``), each into an empty cache folder: checking and tokenizing, hashing the base
weights, copying the model, training, merging, saving and hashing the folder; then the same request
again (a cache hit: the data tokenized and the weights hashed again, the folder validated).

Timing: seconds of every optimizer step (the trainer's own loop, data collation included), the
first step of each run left out as warm-up. Rounds are round-robin over the methods (``--repeats``);
every round trains the same batches, so each batch's least-disturbed time is its minimum over the
rounds (the machine is shared: other processes slow single steps several-fold), and ``s/step`` is
the mean of those minima over the batches; ``s/epoch`` is that times the steps of one epoch over
``--n`` examples (the measured batches are a random sample of the epoch's), plus, for
``mechint_dpo``, its reference pass scaled to the epoch. The JSON also has the median over rounds of
each round's mean. Equal results: the loss of every step and the trained adapters of each method
against ``mechint`` (``trl``, ``trl_defaults``, ``mechint_bf16``) or ``mechint_dpo`` (``trl_dpo``):
the largest absolute differences, and the adapters' relative difference ``||a - b|| / ||b||``. The
adapters start at B = 0, so A's first updates follow gradients near zero, whose sign AdamW's
normalisation turns into full steps: a float-rounding difference moves single entries by up to
about two learning rates while the losses agree to 1e-5.

    .venv/bin/python benchmarks/bench_tuning.py                       # SFT rows, ~25 min on 2 busy cores
    .venv/bin/python benchmarks/bench_tuning.py --tasks dpo --steps 4 # DPO rows
    .venv/bin/python benchmarks/bench_tuning.py --tasks api           # mechint.sft end to end, one epoch
    .venv/bin/python benchmarks/bench_tuning.py --tiny                # tiny model: smoke-test the code path
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import _common  # noqa: E402

LABELS = {
    "trl": "TRL SFTTrainer on PEFT, float32, no gradient checkpointing",
    "trl_defaults": "TRL SFTTrainer on PEFT, TRL defaults (bf16 autocast, gradient checkpointing)",
    "mechint": "mechint run_sft: LM head at response positions only",
    "mechint_bf16": "mechint run_sft under bfloat16 autocast",
    "all_positions": "mechint loop, LM head at every position (loss masked)",
    "decoder_only": "decoder stack forward + backward, no LM head",
    "trl_dpo": "TRL DPOTrainer on PEFT, float32, reference by disabling the adapters each step",
    "mechint_dpo": "mechint run_dpo: response-only head, reference log-probs once before training",
}
TASKS = {"sft": ["trl", "trl_defaults", "mechint", "mechint_bf16", "all_positions", "decoder_only"]}
TASKS["dpo"] = ["trl_dpo", "mechint_dpo"]
TASKS["api"] = ["sft_api", "sft_api_bf16"]
LABELS["sft_api"] = "mechint.sft end to end: one epoch, float32, saved and cached, then the same request again"
LABELS["sft_api_bf16"] = "mechint.sft end to end, bf16=True"

WORDS = (
    "the a of to and in is it you that he was for on are with as his they be at one have this from or had by "
    "word but what some we can out other were all there when up use your how said an each she which do their "
    "time if will way about many then them write would like so these her long make thing see him two has look "
    "more day could go come did number sound no most people my over know water than call first who may down "
    "side been now find any new work part take get place made live where after back little only round man year "
    "came show every good me give our under name very through just form sentence great think say help low line "
    "differ turn cause much mean before move right boy old too same tell does set three want air well also play "
    "small end put home read hand port large spell add even land here must big high such follow act why ask men "
    "change went light kind off need house picture try us again animal point mother world near build self earth"
).split()

log = _common.log


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--tasks", default="sft", help="comma list of sft, dpo; or api alone")
    p.add_argument(
        "--methods", default=None, help="comma list from " + ",".join(LABELS) + " (default: every row of the tasks)"
    )
    p.add_argument("--n", type=int, default=460, help="examples in an epoch (default 460)")
    p.add_argument("--steps", type=int, default=6, help="optimizer steps timed per method and round (default 6)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2, help="round-robin rounds (default 2)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tiny", action="store_true", help="a tiny random Gemma 3 instead of gemma-3-270m")
    p.add_argument("--out", default=None, help="JSON results (default benchmarks/results/tuning_cpu[_TASK].json)")
    args = p.parse_args(argv)
    args.tasks = [t for t in args.tasks.split(",") if t]
    allowed = [m for t in args.tasks for m in TASKS[t]]
    args.methods = _common.parse_methods(p, args.methods or ",".join(allowed), allowed)
    return args


# ------------------------------------------------------------------------------------------ data


def synthetic_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """English-like (prompt, response) pairs: 14-22 word prompts (a question), 8-36 word responses."""
    rng = random.Random(seed)

    def text(lo: int, hi: int, end: str) -> str:
        words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
        return " ".join(words).capitalize() + end

    return [(text(14, 22, "?"), text(8, 36, ".")) for _ in range(n)]


def load(args):
    import mechint
    from mechint.chat import GEMMA_TEMPLATE
    from mechint.testing import tiny_model

    if args.tiny:
        model = tiny_model("gemma3", chat=True)
    else:
        model = mechint.load_model("gemma-3-270m")
        model.tokenizer.chat_template = GEMMA_TEMPLATE  # this process's copy: the base model has none
    return model


def tokenized(model, args):
    from mechint.tuning import data

    pairs = synthetic_pairs(args.n, args.seed)
    stop = data.stop_of(model, chat=True)
    examples = data.tokenize_pairs(model, pairs, chat=True, system=None, max_length=512, stop=stop)
    rng = random.Random(args.seed + 1)
    triples = []
    for i, e in enumerate(examples):
        j = (i + rng.randint(1, len(examples) - 1)) % len(examples)
        triples.append(data.TokenizedTriple(e.prompt, e.response, examples[j].response))
    return examples, triples


def epoch_order(n: int, seed: int) -> list[int]:
    """The first-epoch order of mechint's loop (a permutation from a generator seeded with ``seed``)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()


# ------------------------------------------------------------------------------------------ runs


def config_for(args, **overrides):
    from mechint.tuning import TuningConfig

    return TuningConfig(batch_size=args.batch_size, seed=args.seed, epochs=1, **overrides)


def adapter_state(trained) -> dict[str, torch.Tensor]:
    """The trained adapters (PEFT's ``default`` adapter; TRL's DPO keeps a frozen ``ref`` copy beside it)."""
    return {k: v.detach().clone() for k, v in trained.named_parameters() if "lora_" in k and ".default." in k}


class StepClock:
    """Wall time at the end of every optimizer step."""

    def __init__(self):
        self.start = time.perf_counter()
        self.ends: list[float] = []

    def __call__(self, *_):
        self.ends.append(time.perf_counter())

    def step_seconds(self) -> list[float]:
        marks = [self.start] + self.ends
        return [b - a for a, b in zip(marks, marks[1:])]


class KeepAdapters:
    """Stands in for ``train.merged`` for one run: keeps the trained adapters, merges nothing."""

    def __init__(self):
        from mechint.tuning import train

        self.train: Any = train  # the module whose merged this replaces for the run
        self.real, self.adapters = train.merged, None

    def __enter__(self):
        self.train.merged = self
        return self

    def __exit__(self, *_):
        self.train.merged = self.real

    def __call__(self, trained):
        self.adapters = adapter_state(trained)
        return trained


def run_mechint(model, subset, args, *, bf16=False):
    from mechint.tuning import train

    with KeepAdapters() as kept:
        clock = StepClock()
        out = train.run_sft(
            copy.deepcopy(model.hf),
            model.family,
            subset,
            config_for(args, bf16=bf16),
            pad_id=model.tokenizer.pad_token_id,
            progress=False,
            on_step=clock,
        )
    return {"losses": out.losses, "steps": clock.step_seconds(), "adapters": kept.adapters}


def run_variant(model, subset, args, *, head: str):
    """mechint's loop with the LM head at every position (``head="all"``) or none (``"none"``)."""
    from mechint.tuning import train

    config = config_for(args)
    device = model.device
    torch.manual_seed(config.seed)
    trained = train.lora_model(copy.deepcopy(model.hf), config)
    inner = cast(Any, trained).get_base_model()  # a PeftModel's
    base, lm_head = inner.get_submodule(model.family.base), inner.get_submodule(model.family.lm_head)
    params = [p for p in trained.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr)
    steps = math.ceil(len(subset) / config.batch_size)
    from transformers import get_linear_schedule_with_warmup

    schedule = get_linear_schedule_with_warmup(optimizer, 0, steps)
    probe = torch.randn(model.d_model, generator=torch.Generator().manual_seed(1)) / model.d_model**0.5
    order = epoch_order(len(subset), config.seed)
    trained.train()
    clock, losses = StepClock(), []
    for s in range(steps):
        idx = order[s * config.batch_size : (s + 1) * config.batch_size]
        batch = train.pad_batch(
            [(subset[i].prompt, subset[i].response) for i in idx], model.tokenizer.pad_token_id, device
        )
        position_ids = (batch.attention_mask.cumsum(-1) - 1).clamp(min=0)
        hidden = base(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=position_ids, use_cache=False
        ).last_hidden_state[:, :-1]
        select = batch.targets != -100
        if head == "all":
            logits = lm_head(hidden)
            loss = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).float(), batch.targets.reshape(-1), ignore_index=-100
            )
        else:
            loss = (hidden[select] @ probe).square().mean()
        loss.backward()
        if config.max_grad_norm is not None:  # None: no clipping, as in mechint's loop
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        clock()
    return {"losses": losses, "steps": clock.step_seconds(), "adapters": adapter_state(trained)}


def _trl_common(args, tmp: str, defaults: bool) -> dict:
    common = dict(
        output_dir=tmp,
        per_device_train_batch_size=args.batch_size,
        num_train_epochs=1,
        learning_rate=2e-4,
        lr_scheduler_type="linear",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        optim="adamw_torch",
        train_sampling_strategy="sequential",
        report_to="none",
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        seed=args.seed,
        data_seed=args.seed,
        use_cpu=True,
        dataloader_drop_last=False,
    )
    if not defaults:
        common.update(bf16=False, gradient_checkpointing=False)
    return common


def _trl_model(model, args) -> Any:  # a PeftModel
    from mechint.tuning import train

    config = config_for(args)
    torch.manual_seed(config.seed)
    return train.lora_model(copy.deepcopy(model.hf), config)


def run_trl(model, subset, args, *, defaults: bool = False):
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer  # pyright: ignore[reportPrivateImportUsage]  # trl's lazy module exports them

    order = epoch_order(len(subset), args.seed)
    rows = {"input_ids": [], "labels": []}
    for i in order:
        e = subset[i]
        rows["input_ids"].append(list(e.prompt) + list(e.response))
        rows["labels"].append([-100] * len(e.prompt) + list(e.response))
    losses, clock = [], StepClock()

    class Recording(SFTTrainer):
        def compute_loss(self, *a, **k):
            loss = super().compute_loss(*a, **k)
            if self.model is not None and self.model.training:  # the Trainer's model, set
                losses.append(float(loss.detach()))
            return loss

    class Clock(TrainerCallback):
        def on_step_end(self, *_, **__):
            clock()

    peft_model = _trl_model(model, args)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = Recording(
            model=peft_model,
            args=SFTConfig(**_trl_common(args, tmp, defaults), max_length=None),
            train_dataset=Dataset.from_dict(rows),
            processing_class=model.tokenizer,
            callbacks=[Clock()],
        )
        clock.start = time.perf_counter()
        trainer.train()
    return {"losses": losses, "steps": clock.step_seconds(), "adapters": adapter_state(peft_model)}


def run_mechint_dpo(model, subset, args):
    from mechint.tuning import train

    with KeepAdapters() as kept:
        clock = StepClock()
        out = train.run_dpo(
            copy.deepcopy(model.hf),
            model.family,
            subset,
            config_for(args),
            pad_id=model.tokenizer.pad_token_id,
            progress=False,
            on_step=clock,
        )
    steps = clock.step_seconds()
    reference = steps[0] - (statistics.mean(steps[1:]) if len(steps) > 1 else 0.0)
    return {"losses": out.losses, "steps": steps, "adapters": kept.adapters, "reference_s": reference}


def run_trl_dpo(model, subset, args):
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import DPOConfig, DPOTrainer  # pyright: ignore[reportPrivateImportUsage]  # trl's lazy module exports them

    order = epoch_order(len(subset), args.seed)
    rows = {
        "prompt_ids": [list(subset[i].prompt) for i in order],
        "chosen_ids": [list(subset[i].chosen) for i in order],
        "rejected_ids": [list(subset[i].rejected) for i in order],
    }
    losses, clock = [], StepClock()

    class Recording(DPOTrainer):
        def _prepare_dataset(self, dataset, *a, **k):  # the triples are tokenized already
            return dataset

        def compute_loss(self, *a, **k):
            loss = super().compute_loss(*a, **k)
            if self.model is not None and self.model.training:  # the Trainer's model, set
                losses.append(float(loss.detach()))
            return loss

    class Clock(TrainerCallback):
        def on_step_end(self, *_, **__):
            clock()

    peft_model = _trl_model(model, args)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = Recording(
            model=peft_model,
            args=DPOConfig(**_trl_common(args, tmp, False), beta=0.1, max_length=None),
            train_dataset=Dataset.from_dict(rows),
            processing_class=model.tokenizer,
            callbacks=[Clock()],
        )
        clock.start = time.perf_counter()
        trainer.train()
    return {"losses": losses, "steps": clock.step_seconds(), "adapters": adapter_state(peft_model)}


def runner(method, model, sft_subset, dpo_subset, args):
    return {
        "trl": lambda: run_trl(model, sft_subset, args),
        "trl_defaults": lambda: run_trl(model, sft_subset, args, defaults=True),
        "mechint": lambda: run_mechint(model, sft_subset, args),
        "mechint_bf16": lambda: run_mechint(model, sft_subset, args, bf16=True),
        "all_positions": lambda: run_variant(model, sft_subset, args, head="all"),
        "decoder_only": lambda: run_variant(model, sft_subset, args, head="none"),
        "trl_dpo": lambda: run_trl_dpo(model, dpo_subset, args),
        "mechint_dpo": lambda: run_mechint_dpo(model, dpo_subset, args),
    }[method]


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((v - b[k]).abs().max()) for k, v in a.items())


def rel_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """||a - b|| / ||b|| over every adapter weight together (Frobenius)."""
    num = sum(float((v - b[k]).square().sum()) for k, v in a.items())
    den = sum(float(v.square().sum()) for v in b.values())
    return (num / den) ** 0.5


def run_api(model, args, *, bf16: bool) -> dict:
    """``mechint.sft`` end to end over one epoch into an empty cache, then the same request again."""
    import mechint
    from mechint.chat import GEMMA_TEMPLATE

    pairs = synthetic_pairs(args.n, args.seed)
    config = dict(batch_size=args.batch_size, seed=args.seed, epochs=1, bf16=bf16)
    base = mechint.Model(model.hf, copy.copy(model.tokenizer), name=model.name)
    base.tokenizer.chat_template = None  # as loaded: a base model; the template comes with the request
    with tempfile.TemporaryDirectory() as cache:
        old = os.environ.get("MECHINT_CACHE")
        os.environ["MECHINT_CACHE"] = cache
        try:
            start = time.perf_counter()
            first = mechint.sft(base, pairs, chat_template=GEMMA_TEMPLATE, config=config, progress=True)
            train_s = time.perf_counter() - start
            start = time.perf_counter()
            again = mechint.sft(base, pairs, chat_template=GEMMA_TEMPLATE, config=config, progress=True)
            hit_s = time.perf_counter() - start
        finally:
            if old is None:
                os.environ.pop("MECHINT_CACHE", None)
            else:
                os.environ["MECHINT_CACHE"] = old
        info = json.loads((first.path / "tuning.json").read_text())
    assert again.cache_hit and not first.cache_hit
    return {
        "losses": list(first.losses),
        "end_to_end_s": train_s,
        "loop_s": info["seconds"],
        "cache_hit_s": hit_s,
        "first_epoch_mean_loss": statistics.mean(first.losses),
    }


def main_api(args, model) -> dict:
    rows = []
    for method in args.methods:
        out = run_api(model, args, bf16=method == "sft_api_bf16")
        log(
            f"  {method:<13s} end to end {out['end_to_end_s']:.1f} s (training loop {out['loop_s']:.1f} s), "
            f"cache hit {out['cache_hit_s']:.1f} s; loss {out['losses'][0]:.3f} -> {out['losses'][-1]:.3f}"
        )
        rows.append({"method": method, "label": LABELS[method], **out})
    cols = [
        ("method", "method", ""),
        ("end_to_end_s", "s end to end (1 epoch)", ".1f"),
        ("loop_s", "s training loop", ".1f"),
        ("cache_hit_s", "s same request again", ".1f"),
        ("first_epoch_mean_loss", "mean loss", ".3f"),
    ]
    return {"rows": rows, "table": _common.format_table(rows, cols)}


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = load(args)
    log(f"model {model.name}: loaded in {time.perf_counter() - t0:.1f} s; torch threads {torch.get_num_threads()}")
    if args.tasks == ["api"]:
        load_before = os.getloadavg()
        out = main_api(args, model)
        log("\n" + out["table"])
        out.update(args=vars(args), model=model.name, environment=_common.environment("cpu"))
        out["load_average"] = {"before": load_before, "after": os.getloadavg()}
        path = args.out or _common.results_path("tuning_api", "cpu", "_tiny" if args.tiny else "")
        _common.write_json(path, out)
        log(f"wrote {path}")
        return out
    examples, triples = tokenized(model, args)
    lengths = [len(e.prompt) + len(e.response) for e in examples]
    log(
        f"{len(examples)} examples: prompt {statistics.mean(len(e.prompt) for e in examples):.1f} tokens, response "
        f"{statistics.mean(len(e.response) for e in examples):.1f}, total {statistics.mean(lengths):.1f} "
        f"(min {min(lengths)}, max {max(lengths)})"
    )
    # The measured steps: the first --steps batches of mechint's first-epoch order over the n examples.
    order = epoch_order(len(examples), args.seed)
    take = order[: args.steps * args.batch_size]
    # Both loops shuffle their subset with the same seed; re-order it so that the shuffle gives `take`.
    inverse = epoch_order(len(take), args.seed)
    sft_subset: list[Any] = [None] * len(take)
    dpo_subset: list[Any] = [None] * len(take)
    for position, i in zip(inverse, take):
        sft_subset[position], dpo_subset[position] = examples[i], triples[i]
    steps_per_epoch = math.ceil(args.n / args.batch_size)

    load_before = os.getloadavg()
    log(f"load average before timing: {', '.join(f'{x:.2f}' for x in load_before)} (1, 5, 15 min)")
    results: dict[str, dict] = {m: {"rounds": []} for m in args.methods}
    for r in range(args.repeats):
        for method in args.methods:
            start = time.perf_counter()
            out = runner(method, model, sft_subset, dpo_subset, args)()
            out["wall_s"] = time.perf_counter() - start
            results[method]["rounds"].append(out)
            timed = out["steps"][1:] or out["steps"]
            log(
                f"  round {r + 1}/{args.repeats}  {method:<14s} {statistics.mean(timed):7.2f} s/step "
                f"(steps {', '.join(f'{s:.1f}' for s in out['steps'])}); losses "
                f"{', '.join(f'{x:.4f}' for x in out['losses'])}"
            )

    load_after = os.getloadavg()
    log(f"load average after timing: {', '.join(f'{x:.2f}' for x in load_after)} (1, 5, 15 min)")
    rows = []
    reference_rows = {"trl": "mechint", "trl_defaults": "mechint", "mechint_bf16": "mechint", "trl_dpo": "mechint_dpo"}
    for method in args.methods:
        rounds = results[method]["rounds"]
        per_round = [statistics.mean(o["steps"][1:] or o["steps"]) for o in rounds]
        # the same batch in every round: its least-disturbed time, then the mean over the batches
        timed = [o["steps"][1:] or o["steps"] for o in rounds]
        s_step = statistics.mean(min(ts) for ts in zip(*timed))
        s_epoch = s_step * steps_per_epoch
        if method == "mechint_dpo":
            s_epoch += min(o["reference_s"] for o in rounds) * args.n / len(take)
        row = {
            "method": method,
            "label": LABELS[method],
            "s_step": s_step,
            "s_epoch": s_epoch,
            "s_step_median_of_round_means": statistics.median(per_round),
            "s_step_rounds": per_round,
        }
        ref = reference_rows.get(method)
        if ref in results:
            a, b = rounds[0], results[ref]["rounds"][0]
            row["loss_max_abs_diff"] = max(abs(x - y) for x, y in zip(a["losses"], b["losses"]))
            row["adapter_max_abs_diff"] = max_diff(a["adapters"], b["adapters"])
            row["adapter_rel_diff"] = rel_diff(a["adapters"], b["adapters"])
        rows.append(row)
    by = {row["method"]: row for row in rows}
    for row in rows:
        base = "mechint_dpo" if row["method"] in TASKS["dpo"] else "mechint"
        if row["method"] != base and base in by:
            row["vs_mechint"] = row["s_step"] / by[base]["s_step"]
    if "decoder_only" in by:
        body = by["decoder_only"]["s_step"]
        for name in ("mechint", "all_positions"):
            if name in by:
                by[name]["lm_head_share"] = (by[name]["s_step"] - body) / by[name]["s_step"]

    cols = [
        ("method", "method", ""),
        ("s_step", "s/step", ".2f"),
        ("s_epoch", f"s/epoch ({args.n} ex.)", ".0f"),
        ("vs_mechint", "x mechint", ".2f"),
        ("lm_head_share", "LM head share", ".0%"),
        ("loss_max_abs_diff", "max |loss diff|", ".2e"),
        ("adapter_max_abs_diff", "max |adapter diff|", ".2e"),
        ("adapter_rel_diff", "adapter rel. diff", ".2e"),
    ]
    table = _common.format_table(rows, cols)
    log("\n" + table)
    out = {
        "args": vars(args),
        "model": model.name,
        "examples": {
            "n": len(examples),
            "mean_prompt_tokens": statistics.mean(len(e.prompt) for e in examples),
            "mean_response_tokens": statistics.mean(len(e.response) for e in examples),
            "mean_tokens": statistics.mean(lengths),
            "steps_per_epoch": steps_per_epoch,
        },
        "rows": rows,
        "losses": {m: [o["losses"] for o in results[m]["rounds"]] for m in args.methods},
        "step_seconds": {m: [o["steps"] for o in results[m]["rounds"]] for m in args.methods},
        "environment": _common.environment("cpu"),
        "load_average": {"before": load_before, "after": load_after},
        "table": table,
    }
    for pkg in ("peft", "trl", "accelerate"):
        try:
            import importlib.metadata as md

            out["environment"][pkg] = md.version(pkg)
        except Exception:  # noqa: BLE001
            out["environment"][pkg] = None
    suffix = "_tiny" if args.tiny else ""
    path = args.out or _common.results_path(
        "tuning" + ("" if args.tasks == ["sft"] else "_" + "_".join(args.tasks)), "cpu", suffix
    )
    _common.write_json(path, out)
    log(f"wrote {path}")
    return out


if __name__ == "__main__":
    main()
