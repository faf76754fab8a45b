"""The tuned lens against the logit lens on held-out text, side by side in one run, and what training
it costs.

Task: XQuAD questions in all twelve of its languages (``mechint.data.load_xquad``), shuffled with a
fixed seed; the first ``--train-texts`` train a :class:`mechint.TunedLens` (``--steps`` steps of
``--tokens-per-step`` tokens, the ``tuned-lens`` package's defaults for ``--optimizer``), the next
``--eval-texts`` (other questions) evaluate it.

Rows: per lens entry (the residual stream after ``l`` blocks), the mean ``KL(p_model || p_lens)``
over every real token of the held-out texts for the logit lens and for the tuned lens, and their
ratio; then the seconds of collecting the training activations, of training (and per step), and of
each evaluation.

Models: ``--model`` an embedded name (default ``gemma-3-270m``) or ``tiny:<family>`` (a tiny random
model from ``mechint.testing``, weights at 10x the default scale so that its lens has something to
learn).

    .venv/bin/python benchmarks/bench_tuned_lens.py --model tiny:llama --steps 30     # seconds
    .venv/bin/python benchmarks/bench_tuned_lens.py                                  # gemma-3-270m, CPU
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, format_table, log, results_path, write_json  # noqa: E402

import mechint  # noqa: E402
from mechint.data import load_xquad  # noqa: E402
from mechint.tuned_lens import lens_sites  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--model", default="gemma-3-270m", help="embedded name or tiny:<family>")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--train-texts", type=int, default=480)
    p.add_argument("--eval-texts", type=int, default=96)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--tokens-per-step", type=int, default=256)
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"])
    p.add_argument("--lr", type=float, default=None, help="default: 1.0 for SGD, 1e-3 for Adam")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    if args.model.startswith("tiny:"):
        from mechint.testing import tiny_model

        model = tiny_model(args.model.split(":", 1)[1], device=args.device, dtype=dtype, initializer_range=0.2)
    else:
        model = mechint.load_model(args.model, device=args.device, dtype=dtype)
    texts = list(load_xquad().texts)
    random.Random(0).shuffle(texts)
    if args.train_texts + args.eval_texts > len(texts):
        raise SystemExit(f"XQuAD has {len(texts)} questions; asked for {args.train_texts} + {args.eval_texts}")
    train, held_out = texts[: args.train_texts], texts[args.train_texts : args.train_texts + args.eval_texts]
    log(f"{args.model} ({args.dtype}, {args.device}): {len(train)} training and {len(held_out)} held-out questions")

    t0 = time.perf_counter()
    acts = mechint.collect(model, train, lens_sites(model), pool="all", progress=False)
    collect_s = time.perf_counter() - t0
    fit = mechint.train_tuned_lens(
        model, acts, steps=args.steps, tokens_per_step=args.tokens_per_step, optimizer=args.optimizer, lr=args.lr
    )
    log(f"collected {fit.n_tokens} tokens in {collect_s:.1f} s; trained {args.steps} steps in {fit.seconds:.1f} s")
    t0 = time.perf_counter()
    plain = mechint.lens_divergence(model, held_out)
    plain_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    tuned = mechint.lens_divergence(model, held_out, tuned=fit.lens)
    tuned_s = time.perf_counter() - t0

    rows = [
        {
            "entry": l,
            "logit": float(a),
            "tuned": float(b),
            "ratio": float(b / a) if a > 0 else None,
            "train_first": float(fit.losses[0, i]) if i < len(fit.layers) else None,
            "train_last": float(fit.losses[-1, i]) if i < len(fit.layers) else None,
        }
        for i, (l, a, b) in enumerate(zip(plain.layers, plain.kl.tolist(), tuned.kl.tolist()))
    ]
    print(
        format_table(
            rows,
            [
                ("entry", "blocks run", ""),
                ("logit", "logit lens KL", ".3f"),
                ("tuned", "tuned lens KL", ".3f"),
                ("ratio", "tuned / logit", ".3f"),
                ("train_first", "train KL, step 1", ".3f"),
                ("train_last", "train KL, last step", ".3f"),
            ],
        )
    )
    inner = slice(0, -1)
    summary = {
        "mean_logit_kl": float(plain.kl[inner].mean()),
        "mean_tuned_kl": float(tuned.kl[inner].mean()),
        "collect_s": collect_s,
        "train_s": fit.seconds,
        "train_s_per_step": fit.seconds / args.steps,
        "eval_logit_s": plain_s,
        "eval_tuned_s": tuned_s,
        "train_tokens": fit.n_tokens,
        "eval_tokens": plain.n_tokens,
    }
    log(
        f"mean KL over entries 0..{model.n_layers - 1}: logit {summary['mean_logit_kl']:.3f}, tuned "
        f"{summary['mean_tuned_kl']:.3f} nats/token ({summary['mean_tuned_kl'] / summary['mean_logit_kl']:.3f}x); "
        f"{summary['train_s_per_step']:.2f} s per step; evaluation {plain_s:.1f} s (logit) / {tuned_s:.1f} s (tuned)"
    )
    result = {"args": vars(args), "environment": environment(args.device), "rows": rows, "summary": summary}
    suffix = f"_{args.model.replace(':', '-')}_{args.dtype}_{args.optimizer}"
    out = args.out or results_path("tuned_lens", args.device, suffix)
    log(f"wrote {write_json(out, result)}")
    return result


if __name__ == "__main__":
    main()
