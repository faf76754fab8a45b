"""A graft sweep in weight space: the top p% of a safety tuning's weight changes grafted into the base
model for 20 values of p, with a refusal score at every point; reloading the model per point against
mechint's in-place grafts, side by side in one run, same points and prompts.

Task: ``tuned`` (default ``gemma-3-270m-refusal-en``: gemma-3-270m LoRA-safety-tuned on English, then
merged) and its ``base`` (``gemma-3-270m``). At each p of ``--ps`` (default: 0, 0.5, 1, 2, 3, 5, 7.5, 10,
15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 95, 100: dense at small p, where a safety tuning's largest
changes are), global scope: the base weights with the top p% of all entries by float32
``|tuned - base|`` set to their tuned values (``torch.where(mask, tuned, base)``: p = 0 is the base,
p = 100 the tuned model bit for bit), then ``mechint.refusal.refusal_score`` of ``--n`` harmful
English PolyRefuse *test* prompts formatted with the tuned model's chat template (the base has
none), one forward of ``--batch-size``, refusal tokens of English. The grafted module is evaluated
through a ``mechint.Model`` that wraps it with the tuned model's tokenizer.

Rows:

- ``naive``: what one writes by hand: per point, reload the base from disk (``mechint.load_model``),
  concatenate ``|tuned - base|`` of every parameter into one float32 vector, take the k-th largest
  with ``torch.kthvalue`` (k = round(p n / 100)), keep the entries above it and, of the entries equal
  to it, the lowest flat indices up to k (mechint's tie rule, so the masks are the same), write
  ``torch.where(mask, tuned, base)`` into every parameter, measure.
- ``mechint per point``: one loaded base; per point ``top_p_mask`` + ``graft``, measure, revert.
- ``mechint sweep``: one loaded base; ``graft_sweep`` (the masks of every p from shared passes, as
  ``top_p_masks`` finds them, kept as one byte per entry; each step writes only the entries its mask
  adds), measure at each step; the model restored at the end. The mask a step yields is computed when
  first read; the loop does not need it, so only the (untimed) equality check reads it.

Each row's time includes its loads (20 for ``naive``, one for the others); the refusal measurement is
timed on its own, and ``s w/o measure`` is the row's time without it. Every row's refusal scores are
compared with ``naive``'s (largest absolute difference over all points and prompts: 0 when the weights
are the same bit for bit), and every mask with ``naive``'s by a hash of its bits (outside the timed
time). Also timed alone: ``top_p_masks`` for all the points at once against ``top_p_mask`` per point
(masks only). One round per row after a warm-up (one load, one measurement); every point's times are
in the JSON.

    .venv/bin/python benchmarks/bench_weights.py                      # CPU, float32, gemma-3-270m
    .venv/bin/python benchmarks/bench_weights.py --dtype bfloat16
    .venv/bin/python benchmarks/bench_weights.py --tiny               # smoke test on a tiny random Llama
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, format_table, log, random_llama, results_path, sync, write_json  # noqa: E402

import mechint  # noqa: E402
from mechint.refusal import refusal_score, refusal_token_ids  # noqa: E402
from mechint.weights import graft, graft_sweep, top_p_mask, top_p_masks  # noqa: E402

DEFAULT_PS = "0,0.5,1,2,3,5,7.5,10,15,20,25,30,40,50,60,70,80,90,95,100"
ROWS = ("naive", "per_point", "sweep")
LABELS = {"naive": "naive (reload per point)", "per_point": "mechint per point", "sweep": "mechint sweep"}
TINY_TEMPLATE = (
    "{% for m in messages %}<u>{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}\n<a>\n{% endif %}"
)


class Clock:
    """Seconds per named segment of one point, synchronised on CUDA."""

    def __init__(self, device):
        self.device, self.seconds = device, {}

    def __call__(self, name: str):
        clock = self

        class Segment:
            def __enter__(self):
                sync(clock.device)
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                sync(clock.device)
                clock.seconds[name] = clock.seconds.get(name, 0.0) + time.perf_counter() - self.t0

        return Segment()


def digest(mask: dict[str, torch.Tensor]) -> str:
    """A hash of a mask's bits, parameter by parameter in order (for comparing rows, untimed)."""
    h = hashlib.sha256()
    for name, m in mask.items():
        h.update(name.encode())
        h.update(m.reshape(-1).cpu().numpy().tobytes())
    return h.hexdigest()[:16]


@torch.no_grad()
def naive_mask(base_hf, tuned_params: dict[str, torch.Tensor], p: float) -> dict[str, torch.Tensor]:
    """The top p% of entries by hand: one concatenated score vector, its k-th largest value by
    torch.kthvalue, ties at it to the lowest flat indices."""
    names = [n for n, _ in base_hf.named_parameters()]
    params = dict(base_hf.named_parameters())
    scores = torch.cat([(tuned_params[n].float() - params[n].float()).abs().reshape(-1) for n in names])
    n = scores.numel()
    k = round(p * n / 100)
    if k == 0 or k == n:
        keep = torch.full((n,), k == n, dtype=torch.bool, device=scores.device)
    else:
        threshold = torch.kthvalue(scores.cpu(), n - k + 1).values.to(scores.device)  # the k-th largest
        keep = scores > threshold
        equal = (scores == threshold).nonzero().reshape(-1)
        keep[equal[: k - int(keep.sum())]] = True
    del scores
    out, start = {}, 0
    for name in names:
        size = params[name].numel()
        out[name] = keep[start : start + size].view(params[name].shape)
        start += size
    return out


def load_pair(a, dtype):
    """``(load_base, tuned, cleanup)``: ``load_base()`` loads the base from disk."""
    if not a.tiny:
        tuned = mechint.load_model(a.tuned, device=a.device, dtype=dtype)
        return (lambda: mechint.load_model(a.base, device=a.device, dtype=dtype)), tuned, lambda: None
    # a tiny random Llama saved to a folder, and a copy with low-rank changes to its linear layers only
    # (a merged LoRA: the embeddings and norms unchanged, a block of ties at zero)
    base = random_llama(a.device, dtype, tiny=True, tiny_layers=4)
    base.tokenizer.chat_template = TINY_TEMPLATE
    folder = tempfile.TemporaryDirectory(prefix="bench_weights_")
    base.hf.save_pretrained(folder.name)
    base.tokenizer.save_pretrained(folder.name)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in base.hf.named_parameters():
            if param.dim() == 2 and "embed" not in name:
                delta = torch.randn(param.shape[0], 4, generator=gen) @ torch.randn(4, param.shape[1], generator=gen)
                param.add_((0.01 * delta).to(param.device, param.dtype))
    tuned = mechint.Model(base.hf, base.tokenizer, name="random-llama-1b-tiny-tuned")
    return (lambda: mechint.load_model(folder.name, device=a.device, dtype=dtype)), tuned, folder.cleanup


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--base", default="gemma-3-270m")
    p.add_argument("--tuned", default="gemma-3-270m-refusal-en")
    p.add_argument("--tiny", action="store_true", help="a tiny random Llama and a low-rank change of it")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--ps", default=DEFAULT_PS, help="comma list of percentages")
    p.add_argument("--n", type=int, default=16, help="harmful English PolyRefuse test prompts")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--rows", default=",".join(ROWS), help=f"comma list, any of {', '.join(ROWS)}")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's; 1 with --tiny)")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a "Loading weights" bar per reload
    rows = [r.strip() for r in a.rows.split(",") if r.strip()]
    if [r for r in rows if r not in ROWS]:
        p.error(f"unknown rows in {a.rows!r}; choose from {', '.join(ROWS)}")
    ps = [float(x) for x in a.ps.split(",")]
    if a.threads or a.tiny:  # a tiny model's ops are too small for two threads to pay
        torch.set_num_threads(a.threads or 1)
    dtype = getattr(torch, a.dtype)
    load_base, tuned, cleanup = load_pair(a, dtype)
    tuned_params = {n: q.detach() for n, q in tuned.hf.named_parameters()}
    data = mechint.data.load_polyrefuse("test", kind="harmful", languages="en", n_per_class=a.n, seed=0)
    prompts = tuned.chat_prompts([ex.text for ex in data])
    ids = refusal_token_ids(tuned, languages="en")

    def wrap(base) -> mechint.Model:  # the base module, read through the tuned model's chat tokenizer
        return mechint.Model(base.hf, tuned.tokenizer, name=f"{base.name} grafted")

    def measure(model, clock) -> torch.Tensor:
        with clock("measure"):
            return refusal_score(model, prompts, token_ids=ids, batch_size=a.batch_size)

    n_entries = sum(q.numel() for q in tuned_params.values())
    load_before = os.getloadavg()
    log(
        f"{tuned.name} vs {a.base if not a.tiny else 'its base'} on {a.device} {a.dtype}: {n_entries:,} entries, "
        f"{len(ps)} points, {len(prompts)} prompts; load average {load_before[0]:.2f}"
    )
    warm = load_base()  # warm-up: the page cache holds the base's file, one forward run
    refusal_score(wrap(warm), prompts, token_ids=ids, batch_size=a.batch_size)
    del warm
    gc.collect()

    results: dict[str, dict] = {}
    for row in rows:
        points, scores, digests = [], [], []
        sync(a.device)
        t_row = time.perf_counter()
        check = 0.0  # untimed: mask hashes
        if row == "naive":
            for pct in ps:
                clock = Clock(a.device)
                with clock("load"):
                    base = load_base()
                with clock("mask"):
                    mask = naive_mask(base.hf, tuned_params, pct)
                with clock("write"), torch.no_grad():
                    for name, param in base.hf.named_parameters():
                        param.copy_(torch.where(mask[name], tuned_params[name], param))
                scores.append(measure(wrap(base), clock))
                t0 = time.perf_counter()
                digests.append(digest(mask))
                check += time.perf_counter() - t0
                del base, mask
                points.append(clock.seconds)
        elif row == "per_point":
            clock = Clock(a.device)
            with clock("load"):
                base = load_base()
            model = wrap(base)
            points.append(clock.seconds)
            for pct in ps:
                clock = Clock(a.device)
                with clock("mask"):
                    mask = top_p_mask(base, tuned, pct)
                with clock("write"):
                    g = graft(base, tuned, mask)
                scores.append(measure(model, clock))
                with clock("write"):
                    g.revert()
                t0 = time.perf_counter()
                digests.append(digest(mask.masks))
                check += time.perf_counter() - t0
                del mask
                points.append(clock.seconds)
            del base, model
        else:
            clock = Clock(a.device)
            with clock("load"):
                base = load_base()
            model = wrap(base)
            with clock("mask"):
                sweep = graft_sweep(base, tuned, ps)
            points.append(clock.seconds)
            clock = Clock(a.device)
            t_step = time.perf_counter()
            with sweep:
                for _, mask in sweep:
                    clock.seconds["write"] = time.perf_counter() - t_step  # this step's writes and mask
                    scores.append(measure(model, clock))
                    t0 = time.perf_counter()
                    digests.append(digest(mask.masks))
                    check += time.perf_counter() - t0
                    del mask
                    points.append(clock.seconds)
                    clock = Clock(a.device)
                    t_step = time.perf_counter()
            clock.seconds["write"] = time.perf_counter() - t_step  # the revert at the end
            points.append(clock.seconds)
            del base, model, sweep
        sync(a.device)
        total = time.perf_counter() - t_row - check
        gc.collect()
        segments = {s: sum(pt.get(s, 0.0) for pt in points) for s in ("load", "mask", "write", "measure")}
        results[row] = {
            "seconds": total,
            "seconds_without_measure": total - segments["measure"],
            "segments": segments,
            "points": points,
            "scores": torch.stack(scores),
            "digests": digests,
        }
        log(
            f"  {LABELS[row]:<26s} {total:8.2f} s, {total - segments['measure']:8.2f} s without the measurement "
            f"({', '.join(f'{s} {v:.2f}' for s, v in segments.items())})"
        )

    # the masks alone: top_p_masks for every point against top_p_mask per point
    masks_alone = {}
    if "per_point" in results or "sweep" in results:
        base = load_base()
        sync(a.device)
        t0 = time.perf_counter()
        many = top_p_masks(base, tuned, ps)
        sync(a.device)
        masks_alone["top_p_masks_seconds"] = time.perf_counter() - t0
        masks_alone["top_p_masks_digests"] = [digest(m.masks) for m in many]
        del many, base
        gc.collect()
        if "per_point" in results:
            masks_alone["top_p_mask_per_point_seconds"] = results["per_point"]["segments"]["mask"]
        log(f"  top_p_masks, {len(ps)} masks at once: {masks_alone['top_p_masks_seconds']:.2f} s")

    reference = rows[0]
    ref = results[reference]
    table = []
    for row in rows:
        r = results[row]
        table.append(
            {
                "row": LABELS[row],
                "seconds": r["seconds"],
                "seconds_without_measure": r["seconds_without_measure"],
                "measure_seconds": r["segments"]["measure"],
                "speedup": ref["seconds"] / r["seconds"],
                "speedup_without_measure": ref["seconds_without_measure"] / r["seconds_without_measure"],
                "max_abs_score_diff": float((r["scores"] - ref["scores"]).abs().max()),
                "masks_identical": r["digests"] == ref["digests"],
            }
        )
    if "top_p_masks_digests" in masks_alone:
        masks_alone["top_p_masks_identical"] = masks_alone["top_p_masks_digests"] == ref["digests"]
    load_after = os.getloadavg()
    print(f"\nx {LABELS[reference]}: time of the first row over the row's; scores and masks compared with it\n")
    print(
        format_table(
            table,
            [
                ("row", "row", ""),
                ("seconds", "s", ".2f"),
                ("seconds_without_measure", "s w/o measure", ".2f"),
                ("measure_seconds", "measure s", ".2f"),
                ("speedup", "x", ".2f"),
                ("speedup_without_measure", "x w/o measure", ".2f"),
                ("max_abs_score_diff", "max |score diff|", ".3g"),
                ("masks_identical", "masks equal", ""),
            ],
        )
    )
    if masks_alone:
        print(
            f"\nmasks alone: top_p_masks {masks_alone['top_p_masks_seconds']:.2f} s for {len(ps)} points"
            + (
                f", top_p_mask per point {masks_alone['top_p_mask_per_point_seconds']:.2f} s"
                if "top_p_mask_per_point_seconds" in masks_alone
                else ""
            )
            + f"; equal to {LABELS[reference]}'s: {masks_alone.get('top_p_masks_identical')}"
        )
    ref_scores = ref["scores"]
    print("\nmean refusal score per p: " + ", ".join(f"{pct:g}: {s:.3f}" for pct, s in zip(ps, ref_scores.mean(1))))
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")

    info = {
        "base": a.base if not a.tiny else "random-llama-1b-tiny",
        "tuned": tuned.name,
        "device": a.device,
        "dtype": a.dtype,
        "entries": n_entries,
        "ps": ps,
        "n_prompts": len(prompts),
        "batch_size": a.batch_size,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "environment": environment(a.device),
    }
    out = a.out or results_path("weights", a.device, f"_{a.dtype}" + ("_tiny" if a.tiny else ""))
    payload = {
        "info": info,
        "rows": table,
        "masks_alone": {k: v for k, v in masks_alone.items() if not k.endswith("digests")},
        "per_row": {
            LABELS[row]: {
                "seconds": r["seconds"],
                "segments": r["segments"],
                "points": r["points"],
                "mean_score_per_p": r["scores"].mean(1).tolist(),
                "scores": r["scores"].tolist(),
            }
            for row, r in results.items()
        },
    }
    path = write_json(out, payload)
    log(f"wrote {path}")
    cleanup()
    return payload


if __name__ == "__main__":
    main()
