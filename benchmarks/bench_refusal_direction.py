"""Scoring refusal-direction candidates (Arditi et al.'s selection sweep): mechint's batched
``score_candidates`` against the plain loop, side by side in one run, same candidates and prompts.

Task: every candidate direction (difference of means at a layer's ``hook_resid_pre`` and a
post-instruction position, from ``--n`` harmful and harmless PolyRefuse English *train*
instructions) is scored on ``--n`` harmful and ``--n`` harmless English *val* instructions, chat
formatted: ``bypass`` (refusal score of the harmful prompts with the candidate ablated at the
embedding and every attention and MLP output, every position), ``induce`` (refusal score of the
harmless prompts with the raw candidate added at its layer) and ``kl`` (harmless next-token
distribution, clean to ablated). ``--max-candidates`` spreads the scored candidates evenly over the
table (every candidate: 0).

Rows:

- ``plain loop``: what one writes by hand: for each candidate and each prompt batch, one forward
  under a single-direction ``AblateDirection`` / ``AddDirection`` (``mechint.intervene``), the full
  logits computed and the last position's row read; three forwards per candidate and batch.
- ``mechint k=1``: ``score_candidates(..., candidates_per_forward=1)``: one candidate per forward,
  the LM head at the last position only.
- ``mechint k=K``: ``candidates_per_forward=K``: K copies of each prompt batch in one forward, each
  with its own direction.

The plain loop runs ``--batch-size`` prompts per forward (sorted by length, as mechint sorts them);
the mechint rows run groups of ``--mechint-batch-size`` prompts of similar length, ``k`` copies of
each in one forward: many rows per forward with little padding, which one-candidate forwards cannot
have at once. Scores are compared with the plain loop's (largest absolute difference over all
candidates). One timed round per row after a warm-up call on two candidates.

Models: ``--model`` (default ``gemma-3-270m-refusal-en``, built on first use) on the CPU, or
``--random-llama``: a random-initialised Llama-3.2-1B-shaped model (byte tokenizer, a chat template
with five post-instruction tokens) in ``--dtype`` (bfloat16 on a GPU).

    .venv/bin/python benchmarks/bench_refusal_direction.py                          # CPU, gemma-3-270m-refusal-en
    .venv/bin/python benchmarks/bench_refusal_direction.py --random-llama --device cuda --dtype bfloat16
    .venv/bin/python benchmarks/bench_refusal_direction.py --random-llama --tiny    # smoke test
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import log, random_llama, sync  # noqa: E402

import mechint  # noqa: E402
from mechint import AddDirection, intervene  # noqa: E402
from mechint.refusal import (  # noqa: E402
    candidate_directions,
    directional_ablation,
    refusal_log_odds,
    refusal_token_ids,
    score_candidates,  # noqa: E402
)

FIVE_TOKEN_TEMPLATE = (
    "{% for m in messages %}<u>{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}\n<a>\n{% endif %}"
)


def plain_loop(model, cands, layers, harmful, harmless, ids, batch_size):
    """Three forwards per candidate and prompt batch, full logits, one direction at a time."""
    from mechint.activations import token_batches

    batches = {
        "harmful": [(rows, enc) for rows, enc, _ in token_batches(model, harmful, batch_size)],
        "harmless": [(rows, enc) for rows, enc, _ in token_batches(model, harmless, batch_size)],
    }
    clean = {}
    with torch.no_grad():
        for b, (_, enc) in enumerate(batches["harmless"]):
            clean[b] = torch.log_softmax(model(enc)[:, -1].float(), -1)
        out = {k: torch.empty(len(cands), dtype=torch.float64) for k in ("bypass", "induce", "kl")}
        for c, (direction, layer) in enumerate(zip(cands, layers)):
            unit = direction / direction.norm()
            bypass, induce, kl = [], [], []
            for _, enc in batches["harmful"]:
                with intervene(model, directional_ablation(unit)):
                    bypass.append(refusal_log_odds(model(enc)[:, -1], ids).double())
            for b, (_, enc) in enumerate(batches["harmless"]):
                with intervene(model, directional_ablation(unit)):
                    logp = torch.log_softmax(model(enc)[:, -1].float(), -1)
                kl.append((clean[b].exp() * (clean[b] - logp)).sum(-1).double())
                with intervene(
                    model, AddDirection(direction, 1.0, layers=[layer], sites="hook_resid_pre", normalize=False)
                ):
                    induce.append(refusal_log_odds(model(enc)[:, -1], ids).double())
            out["bypass"][c] = torch.cat(bypass).mean().cpu()
            out["induce"][c] = torch.cat(induce).mean().cpu()
            out["kl"][c] = torch.cat(kl).mean().cpu()
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--model", default="gemma-3-270m-refusal-en")
    p.add_argument("--random-llama", action="store_true")
    p.add_argument("--tiny", action="store_true", help="with --random-llama: a 2-layer 64-wide model")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--n", type=int, default=16, help="prompts per class (train and val)")
    p.add_argument("--batch-size", type=int, default=16, help="prompts per forward of the plain loop")
    p.add_argument("--mechint-batch-size", type=int, default=4, help="prompts per group of the mechint rows")
    p.add_argument("--k", type=int, default=16, help="candidates per forward of the batched row")
    p.add_argument("--max-candidates", type=int, default=24)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    dtype = getattr(torch, a.dtype)
    if a.random_llama:
        model = random_llama(a.device, dtype, tiny=a.tiny)
        model.tokenizer.chat_template = FIVE_TOKEN_TEMPLATE
    else:
        model = mechint.load_model(a.model, device=a.device, dtype=dtype)
    train = mechint.data.load_polyrefuse("train", languages="en", n_per_class=a.n, seed=0)
    val = mechint.data.load_polyrefuse("val", languages="en", n_per_class=a.n, seed=0)
    split = lambda ds, y: [ex.text for ex in ds if ex.label == y]  # noqa: E731
    harmful, harmless = model.chat_prompts(split(val, 1)), model.chat_prompts(split(val, 0))
    log(f"{model.name} on {a.device} {a.dtype}: candidates from {a.n}+{a.n} train prompts")
    cand, offsets = candidate_directions(model, split(train, 1), split(train, 0), progress=False)
    flat = cand.reshape(-1, cand.shape[-1])
    live = [i for i in range(flat.shape[0]) if flat[i].norm() > 0]
    if a.max_candidates and len(live) > a.max_candidates:
        step = len(live) / a.max_candidates
        live = [live[int(j * step)] for j in range(a.max_candidates)]
    cands, layers = flat[live], [i % model.n_layers for i in live]
    ids = refusal_token_ids(model)
    log(
        f"{len(live)} candidates ({len(offsets)} positions x {model.n_layers} layers in all), "
        f"{len(harmful)}+{len(harmless)} val prompts, batch {a.batch_size}"
    )

    def mechint_rows(k):
        return lambda: score_candidates(
            model,
            cands,
            layers,
            harmful,
            harmless,
            token_ids=ids,
            candidates_per_forward=k,
            prompts_per_group=a.mechint_batch_size,
            progress=False,
        )

    rows = {
        "plain loop": lambda: plain_loop(model, cands, layers, harmful, harmless, ids, a.batch_size),
        "mechint k=1": mechint_rows(1),
        f"mechint k={a.k}": mechint_rows(a.k),
    }
    # warm-up on two candidates
    plain_loop(model, cands[:2], layers[:2], harmful[:2], harmless[:2], ids, a.batch_size)
    score_candidates(model, cands[:2], layers[:2], harmful[:4], harmless[:4], token_ids=ids, progress=False)
    results, seconds = {}, {}
    for name, fn in rows.items():
        sync(a.device)
        t0 = time.perf_counter()
        got = fn()
        sync(a.device)
        seconds[name] = time.perf_counter() - t0
        results[name] = got if isinstance(got, dict) else {"bypass": got.bypass, "induce": got.induce, "kl": got.kl}
        log(f"  {name:<14s} {seconds[name]:8.2f} s")
    ref = results["plain loop"]
    table = []
    for name in rows:
        diff = max(float((results[name][k] - ref[k]).abs().max()) for k in ("bypass", "induce", "kl"))
        table.append(
            {
                "row": name,
                "seconds": seconds[name],
                "speedup_vs_plain": seconds["plain loop"] / seconds[name],
                "max_abs_score_diff_vs_plain": diff,
            }
        )
    print(f"\n{'row':<16s} {'seconds':>9s} {'x plain':>8s} {'max |score diff|':>17s}")
    for r in table:
        print(
            f"{r['row']:<16s} {r['seconds']:9.2f} {r['speedup_vs_plain']:8.2f} {r['max_abs_score_diff_vs_plain']:17.2e}"
        )
    info = {
        "model": model.name,
        "device": a.device,
        "dtype": a.dtype,
        "n_candidates": len(live),
        "n_val_per_class": a.n,
        "batch_size": a.batch_size,
        "mechint_batch_size": a.mechint_batch_size,
        "k": a.k,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.platform(),
        "gpu": torch.cuda.get_device_name() if torch.device(a.device).type == "cuda" else None,
    }
    out = (
        Path(a.out)
        if a.out
        else Path(__file__).parent
        / "results"
        / (f"refusal_direction_{'random-llama' if a.random_llama else a.model}_{a.device}_{a.dtype}.json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"info": info, "rows": table}, indent=1))
    return {"info": info, "rows": table}


if __name__ == "__main__":
    main()
