"""Throughput of ``mechint.collect`` against the alternatives, side by side in one run.

Task: the last-token residual ``blocks.{l}.hook_resid_post`` at every layer, for every text.
Every method sees the same texts in the same batches: ``collect``'s own batching (texts sorted by
token length, longest first, cut into ``--batch-size`` chunks, left-padded by the model's tokenizer,
position ids counted over real tokens), so the rows compare one to one.

Methods (rows of the table):

- ``hf_logits``      plain forward of the Hugging Face model, logits returned: the reference.
- ``hf_base``        plain forward of the decoder stack only (``model.base``), no LM head: what the
                     task needs at the least; the ratio column is against this row too.
- ``mechint``        ``mechint.collect(model, texts, "hook_resid_post", pool="last", ...)``, end to
                     end: it tokenizes the texts itself (twice: lengths, then batches).
- ``mechint_hooks``  mechint's hook engine on the pre-tokenized batches (``model.hooks`` read hooks at
                     every layer, ``stop_after`` the last, ``model.forward(logits=False)``): the
                     hook cost without tokenization.
- ``tl``             TransformerLens ``TransformerBridge`` on a deepcopy of the HF module,
                     ``run_with_cache(ids, attention_mask=, position_ids=, names_filter=...)`` per
                     batch, last position kept.
- ``nnsight``        nnsight ``LanguageModel`` on a deepcopy of the HF module, one ``trace`` per
                     batch saving ``layers[i].output[:, -1]`` for every layer.
- ``nnsight_stop``   the same, with ``tracer.stop()`` after the last save (skips the final norm and
                     LM head, as mechint does).

Every method runs with ``use_cache=False`` and under ``torch.inference_mode()``, and returns float32
CPU rows, as ``collect`` does. TransformerLens and nnsight wrap deep copies, not the module itself:
the bridge replaces submodules of the module it is given (and may switch it to eager attention), and
nnsight replaces every submodule's ``forward`` with its own dispatcher, which would tax every later
plain forward of the shared module.

Run ``python benchmarks/bench_collect.py --help``; see ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

ALL_METHODS = ("hf_logits", "hf_base", "mechint", "mechint_hooks", "tl", "nnsight", "nnsight_stop")
LABELS = {
    "hf_logits": "HF forward (logits)",
    "hf_base": "HF decoder only (no LM head)",
    "mechint": "mechint.collect",
    "mechint_hooks": "mechint hooks, pre-tokenized",
    "tl": "TransformerLens bridge",
    "nnsight": "nnsight trace",
    "nnsight_stop": "nnsight trace + stop()",
}


log = _common.log


# ------------------------------------------------------------------------------------------ setup


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument(
        "--model",
        default=None,
        help="an embedded name or folder for mechint.load_model (default on cpu: gemma-3-270m); "
        "'random-llama-1b' (default on cuda): random-initialised Llama-3.2-1B-shaped model with the "
        "byte tokenizer; 'tiny:<family>' a tiny random model from mechint.testing",
    )
    p.add_argument("--dtype", default=None, help="float32 (cpu default) or bfloat16 (cuda default)")
    p.add_argument("--n-texts", type=int, default=None, help="texts (default: 64 cpu, 512 cuda, 24 --tiny)")
    p.add_argument(
        "--batch-size", type=int, default=None, help="texts per forward (default: 16 cpu, 32 cuda, 8 --tiny)"
    )
    p.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="truncate texts to this many tokens (default: none; 256 for random-llama-1b, whose byte "
        "tokenizer makes long sequences)",
    )
    p.add_argument("--repeats", type=int, default=3, help="timed rounds after the warm-up (median reported)")
    p.add_argument("--methods", default=",".join(ALL_METHODS), help=f"comma list from {','.join(ALL_METHODS)}")
    p.add_argument("--tiny", action="store_true", help="tiny shapes and few texts: smoke-test a mode's code path")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice); 1 is steadier on a busy shared machine",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="JSON results (default benchmarks/results/collect_<device>.json)")
    p.add_argument("--_probe", default=None, help=argparse.SUPPRESS)  # internal: memory of one method
    p.add_argument("--_probe-out", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    args.device = str(torch.device(args.device))
    is_cuda = torch.device(args.device).type == "cuda"
    if is_cuda and not torch.cuda.is_available():
        p.error("--device cuda but torch.cuda.is_available() is False")
    if args.model is None:
        args.model = "random-llama-1b" if is_cuda else "gemma-3-270m"
    if args.dtype is None:
        args.dtype = "bfloat16" if is_cuda else "float32"
    args.torch_dtype = getattr(torch, args.dtype)
    if args.n_texts is None:
        args.n_texts = 24 if args.tiny else (512 if is_cuda else 64)
    if args.batch_size is None:
        args.batch_size = 8 if args.tiny else (32 if is_cuda else 16)
    if args.max_length is None and args.model == "random-llama-1b":
        args.max_length = 256
    args.methods = _common.parse_methods(p, args.methods, ALL_METHODS)
    if args.out is None:
        args.out = _common.results_path("collect", args.device, "_tiny" if args.tiny else "")
    return args


def load_texts(n: int, seed: int) -> list[str]:
    """``n`` texts drawn (seeded) from the multilingual safety pairs: harmful and harmless, five
    languages mixed."""
    from mechint.data import SAFETY_PAIR_LANGUAGES, load_safety_pairs

    per_class = min(315, max(1, math.ceil(n / (2 * len(SAFETY_PAIR_LANGUAGES)))))
    ds = load_safety_pairs(n_per_class=per_class, seed=seed)
    texts = [ex.text for ex in ds]
    if n > len(texts):
        raise SystemExit(f"--n-texts {n}: the safety pairs hold at most {len(texts)} texts")
    return [texts[i] for i in sorted(random.Random(seed).sample(range(len(texts)), n))]


@dataclass
class Batch:
    idx: list[int]  # positions in the text list
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor


def make_batches(model, texts: list[str], batch_size: int, max_length: int | None) -> list[Batch]:
    """The batches ``mechint.collect`` forms (same sort, same chunks, same tokenizer call)."""
    lengths = [
        len(ids)
        for ids in model.tokenizer(list(texts), truncation=max_length is not None, max_length=max_length)["input_ids"]
    ]
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    batches = []
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        enc = model.tokenize([texts[i] for i in idx], max_length=max_length)
        mask = enc["attention_mask"]
        batches.append(Batch(idx, enc["input_ids"], mask, model.position_ids(mask)))
    return batches


# ------------------------------------------------------------------------------------------ methods


class Unavailable(Exception):
    """A method that cannot run here (package missing or incompatible): the row is skipped."""


def _place(out: torch.Tensor, rows: torch.Tensor, idx: list[int]) -> None:
    out[idx] = rows.to(device="cpu", dtype=torch.float32)


def _tl_tokenizer(tok):
    """A copy of ``tok`` that TransformerLens' tokenizer setup accepts.

    The bridge re-loads any tokenizer whose ``init_kwargs`` lack ``add_bos_token`` from
    ``init_kwargs["name_or_path"]`` (KeyError for a tokenizer built in memory, such as the byte
    tokenizer, and a hub download for a hub name). Our tokenizers prepend BOS already, so say so.
    """
    tok = copy.deepcopy(tok)
    ids = tok("a")["input_ids"]
    if tok.bos_token_id is not None and ids and ids[0] == tok.bos_token_id:
        tok.init_kwargs["add_bos_token"] = True
    tok.init_kwargs.setdefault("name_or_path", getattr(tok, "name_or_path", "") or "")
    return tok


def build_methods(model, texts, batches, args, names) -> tuple[dict, dict, dict, dict]:
    """Runner functions ``fn(batches) -> Tensor [n, n_layers, d] | None`` and notes.

    Returns ``(runners, skipped, notes, info)``; ``skipped[name]`` is the reason a method cannot run.
    """
    import mechint

    hf, n, L, d = model.hf, len(texts), model.n_layers, model.d_model
    site_names = [f"blocks.{l}.hook_resid_post" for l in range(L)]
    runners: dict[str, Callable] = {}
    skipped: dict[str, str] = {}
    notes: dict[str, str] = {}
    info: dict[str, Any] = {"attn_implementation": {"hf": getattr(hf.config, "_attn_implementation", None)}}

    def new_out():
        return torch.full((n, L, d), float("nan"))

    # -- plain forwards ------------------------------------------------------------------------
    def hf_logits(bs):
        with torch.inference_mode():
            for b in bs:
                _ = hf(
                    input_ids=b.input_ids, attention_mask=b.attention_mask, position_ids=b.position_ids, use_cache=False
                ).logits
        return None

    def hf_base(bs):
        with torch.inference_mode():
            for b in bs:
                model.base(
                    input_ids=b.input_ids, attention_mask=b.attention_mask, position_ids=b.position_ids, use_cache=False
                )
        return None

    runners["hf_logits"], runners["hf_base"] = hf_logits, hf_base

    # -- mechint -------------------------------------------------------------------------------
    def mechint_collect(bs):
        sub = [texts[i] for b in bs for i in b.idx] if len(bs) != len(batches) else texts
        acts = mechint.collect(
            model,
            sub,
            "hook_resid_post",
            pool="last",
            batch_size=args.batch_size,
            max_length=args.max_length,
            progress=False,
        )
        return acts

    runners["mechint"] = mechint_collect
    notes["mechint"] = "end to end from strings: includes tokenizing (once, then padding per batch)"

    sites = model.sites("hook_resid_post")

    def mechint_hooks(bs):
        out, got = new_out(), {}

        def reader(x, ctx):
            got[ctx.site.layer] = x[:, -1]

        with torch.inference_mode(), model.hooks([(s, reader) for s in sites], stop_after=sites[-1]):
            for b in bs:
                got.clear()
                model.forward({"input_ids": b.input_ids, "attention_mask": b.attention_mask}, logits=False)
                _place(out, torch.stack([got[l] for l in range(L)], 1), b.idx)
        return out

    runners["mechint_hooks"] = mechint_hooks

    # -- TransformerLens -----------------------------------------------------------------------
    if "tl" in names:
        try:
            try:
                from transformer_lens.model_bridge.sources import build_bridge_from_module
            except Exception as err:  # noqa: BLE001 - any import failure skips the row
                raise Unavailable(f"transformer_lens does not import: {type(err).__name__}: {err}") from err
            hf_copy = copy.deepcopy(hf)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                bridge = build_bridge_from_module(
                    hf_copy, type(hf).__name__, hf_config=hf_copy.config, tokenizer=_tl_tokenizer(model.tokenizer)
                )
            bridge.eval()
            info["attn_implementation"]["tl"] = getattr(hf_copy.config, "_attn_implementation", None)
            resid = lambda name: name.endswith("hook_resid_post")  # noqa: E731

            def tl(bs):
                out = new_out()
                with torch.inference_mode(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    for b in bs:
                        _, cache = bridge.run_with_cache(
                            b.input_ids,
                            attention_mask=b.attention_mask,
                            position_ids=b.position_ids,
                            use_cache=False,
                            names_filter=resid,
                        )
                        _place(out, torch.stack([cache[s][:, -1] for s in site_names], 1), b.idx)
                        del cache
                return out

            runners["tl"] = tl
            notes["tl"] = (
                "takes the same left-padded batch (attention_mask + position_ids) as is; run_with_cache "
                "keeps full [batch,pos,d] per layer, passes output_attentions=True to HF and computes "
                f"logits; attention implementation after bridging: {info['attn_implementation']['tl']}"
            )
        except Unavailable as err:
            skipped["tl"] = str(err)
        except Exception as err:  # noqa: BLE001 - report, don't crash the other rows
            skipped["tl"] = f"bridge setup failed: {type(err).__name__}: {err}"
            traceback.print_exc()

    # -- nnsight -------------------------------------------------------------------------------
    if "nnsight" in names or "nnsight_stop" in names:
        try:
            try:
                import nnsight
            except Exception as err:  # noqa: BLE001
                raise Unavailable(f"nnsight does not import: {type(err).__name__}: {err}") from err
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # LanguageModel is a deprecated alias of TransformersModel
                lm = nnsight.LanguageModel(copy.deepcopy(hf), tokenizer=copy.deepcopy(model.tokenizer))
            layers = functools.reduce(getattr, model.family.layers.split("."), lm)
            info["attn_implementation"]["nnsight"] = getattr(lm._module.config, "_attn_implementation", None)

            def nn_runner(stop: bool):
                def run(bs):
                    out = new_out()
                    with torch.inference_mode():
                        for b in bs:
                            saved = _nnsight_trace(lm, layers, L, b, stop)
                            _place(out, torch.stack(saved, 1), b.idx)
                    return out

                return run

            runners["nnsight"], runners["nnsight_stop"] = nn_runner(False), nn_runner(True)
            notes["nnsight"] = "input dict (ids, mask, position_ids) is split into rows and re-collated by nnsight"
        except Unavailable as err:
            skipped["nnsight"] = skipped["nnsight_stop"] = str(err)
        except Exception as err:  # noqa: BLE001
            skipped["nnsight"] = skipped["nnsight_stop"] = f"setup failed: {type(err).__name__}: {err}"
            traceback.print_exc()

    return {k: v for k, v in runners.items() if k in names}, skipped, notes, info


def _nnsight_trace(lm, layers, n_layers: int, b: Batch, stop: bool) -> list[torch.Tensor]:
    """One nnsight trace: every layer's output at the last position (nnsight 0.8 syntax; the body of
    the ``with`` runs against real values, so a plain loop and ``isinstance`` work)."""
    saved = []
    inputs = {"input_ids": b.input_ids, "attention_mask": b.attention_mask, "position_ids": b.position_ids}
    with lm.trace(inputs, use_cache=False) as tracer:
        for i in range(n_layers):
            h = layers[i].output
            h = h[0] if isinstance(h, tuple) else h
            saved.append(h[:, -1].save())
        if stop:
            tracer.stop()
    return saved


def as_rows(result, model) -> torch.Tensor | None:
    """A method's result as ``[n, n_layers, d]`` float32."""
    if result is None:
        return None
    if isinstance(result, torch.Tensor):
        return result
    return torch.stack([result[f"blocks.{l}.hook_resid_post"] for l in range(model.n_layers)], 1).float()


# ------------------------------------------------------------------------------------------ memory


def probe_main(args) -> None:
    """Child process: set up, then measure the peak memory of one full pass of ``args._probe``."""
    torch.manual_seed(args.seed)
    model = _common.load_model(args)  # --tiny: 2 layers
    texts = load_texts(args.n_texts, args.seed)
    batches = make_batches(model, texts, args.batch_size, args.max_length)
    runners, skipped, _, _ = build_methods(model, texts, batches, args, [args._probe])
    # Weights loaded from safetensors may be memory-mapped and only become resident when first
    # read; read them all now so that the peak below counts what the method allocates, not the
    # weights it happens to page in (the deep copies made for TL and nnsight are resident already).
    with torch.no_grad():
        for t in [*model.hf.parameters(), *model.hf.buffers()]:
            t.sum()
    if args._probe in skipped:
        result = {"skipped": skipped[args._probe]}
    else:
        result = _common.peak_memory(lambda: runners[args._probe](batches), args.device)
    Path(args._probe_out).write_text(json.dumps(result))


def memory_in_subprocess(name: str, argv: list[str], timeout: float = 900) -> dict:
    """Peak memory of one method measured in a fresh interpreter (so nothing another method
    allocated, freed or cached can hide or inflate it)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "probe.json"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            *argv,
            "--_probe",
            name,
            "--_probe-out",
            str(out),
            "--no-memory",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return {"error": f"probe exited {proc.returncode}: {' | '.join(tail)}"}
        return json.loads(out.read_text())


# ------------------------------------------------------------------------------------------ main


def compare(rows: torch.Tensor, ref: torch.Tensor, dtype: torch.dtype) -> dict:
    """Max abs difference to mechint's rows and whether it is within tolerance.

    Residual streams are not O(1) (Gemma's reach ~4e4), so the tolerance scales with each layer's
    largest value: float32: max|a-b| <= 1e-4 * max(1, max|b|) in every layer; bfloat16/float16:
    ||a-b|| / ||b|| <= 2e-2 in every layer (different attention kernels round differently).
    """
    diff = (rows - ref).abs()
    scale = ref.abs().amax(dim=(0, 2)).clamp(min=1.0)  # per layer
    rel_max = diff.amax(dim=(0, 2)) / scale
    rel_fro = (rows - ref).norm(dim=(0, 2)) / ref.norm(dim=(0, 2)).clamp(min=1e-12)
    out: dict[str, Any] = {
        "max_abs_diff": float(diff.max()),
        "max_abs_ref": float(ref.abs().max()),
        "max_rel_diff": float(rel_max.max()),
        "max_rel_fro": float(rel_fro.max()),
    }
    if dtype == torch.float32:
        out["tolerance"] = "float32: max|diff| <= 1e-4 * max(1, max|ref|) per layer"
        out["match"] = bool(out["max_rel_diff"] <= 1e-4)
    else:
        out["tolerance"] = "half precision: ||diff|| / ||ref|| <= 2e-2 per layer"
        out["match"] = bool(out["max_rel_fro"] <= 2e-2)
    return out


def main(argv=None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args._probe:
        probe_main(args)
        return {}
    t_start = time.perf_counter()
    torch.manual_seed(args.seed)
    log(f"loading {args.model} on {args.device} ({args.dtype}) ...")
    t0 = time.perf_counter()
    model = _common.load_model(args)  # --tiny: 2 layers
    log(f"  {model}  [{time.perf_counter() - t0:.1f} s]")
    texts = load_texts(args.n_texts, args.seed)
    t0 = time.perf_counter()
    batches = make_batches(model, texts, args.batch_size, args.max_length)
    t_tok = time.perf_counter() - t0
    n_tokens = sum(int(b.attention_mask.sum()) for b in batches)
    n_padded = sum(b.input_ids.numel() for b in batches)
    log(
        f"{len(texts)} texts, {len(batches)} batches of {args.batch_size}, {n_tokens} tokens "
        f"({n_padded} with padding, longest {max(b.input_ids.shape[1] for b in batches)}); "
        f"tokenizing into batches took {t_tok:.3f} s"
    )

    runners, skipped, notes, info = build_methods(model, texts, batches, args, args.methods)
    for name, why in skipped.items():
        log(f"  SKIP {name}: {why}")

    # Warm-up on the first (longest) batch, then round-robin timed passes over all batches.
    results: dict[str, object] = {}

    def timed(name):
        def fn():
            results[name] = runners[name](batches)

        return fn

    log(f"timing ({args.repeats} rounds after a one-batch warm-up) ...")
    for name in list(runners):  # warm-up on the first (longest) batch; a method that fails is skipped
        log(f"  warm-up  {name}")
        try:
            _common.time_call(functools.partial(runners[name], batches[:1]), args.device)
        except Exception as err:  # noqa: BLE001
            traceback.print_exc()
            skipped[name] = f"failed: {type(err).__name__}: {err}"
            del runners[name]
            if torch.device(args.device).type == "cuda":
                torch.cuda.empty_cache()
    load_before = os.getloadavg()
    times, errors = _common.time_rounds(
        {name: timed(name) for name in runners}, args.device, repeats=args.repeats, log=log
    )
    load_after = os.getloadavg()
    for name, why in errors.items():
        skipped[name] = why
        runners.pop(name)
        results.pop(name, None)

    # Values: every method against mechint.collect.
    ref = as_rows(results.get("mechint"), model)
    checks = {}
    for name, res in results.items():
        rows = as_rows(res, model)
        if rows is None or ref is None or name == "mechint":
            continue
        checks[name] = compare(rows, ref, args.torch_dtype)
        if torch.isnan(rows).any():
            checks[name]["match"] = False
            checks[name]["note"] = "some rows were not filled"

    # Memory.
    memory = {}
    if not args.no_memory:
        log(
            "peak memory, one full pass per method"
            + (" in a fresh process each ..." if args.device == "cpu" else " ...")
        )
        for name in runners:
            if torch.device(args.device).type == "cuda":
                try:
                    memory[name] = _common.peak_memory(lambda name=name: runners[name](batches), args.device)
                except Exception as err:  # noqa: BLE001
                    memory[name] = {"error": f"{type(err).__name__}: {err}"}
                    torch.cuda.empty_cache()
            else:
                memory[name] = memory_in_subprocess(name, argv)
            log(f"  {name:<16s} {memory[name]}")

    # Table.
    base_t = _common.median(times["hf_logits"]) if "hf_logits" in times else None
    dec_t = _common.median(times["hf_base"]) if "hf_base" in times else None
    rows = []
    for name in ALL_METHODS:
        if name not in args.methods:
            continue
        row: dict[str, Any] = {"method": name, "label": LABELS[name]}
        if name in skipped:
            row["skipped"] = skipped[name]
            rows.append(row)
            continue
        t = _common.median(times[name])
        row.update(
            seconds=t,
            seconds_all=times[name],
            seconds_min=min(times[name]),
            texts_per_s=len(texts) / t,
            vs_logits=t / base_t if base_t else None,
            vs_base=t / dec_t if dec_t else None,
        )
        row["overhead_vs_logits_pct"] = (row["vs_logits"] - 1) * 100 if row["vs_logits"] else None
        row["overhead_vs_base_pct"] = (row["vs_base"] - 1) * 100 if row["vs_base"] else None
        m = memory.get(name, {})
        row["peak_mib"] = m.get("peak_mib")
        row["memory_measure"] = m.get("measure") or m.get("error") or m.get("skipped")
        if name in checks:
            row.update({k: v for k, v in checks[name].items()})
        if name in notes:
            row["note"] = notes[name]
        rows.append(row)

    for row in rows:
        if "match" in row:
            row["values"] = f"{row['max_abs_diff']:.1e} (rel {row['max_rel_diff']:.0e}) " + (
                "ok" if row["match"] else "DIFFER"
            )
        elif row["method"] == "mechint":
            row["values"] = "reference"
    columns = [
        ("label", "method", ""),
        ("seconds", "s (median)", ".3f"),
        ("texts_per_s", "texts/s", ".1f"),
        ("overhead_vs_logits_pct", "vs HF logits", "+.1f"),
        ("overhead_vs_base_pct", "vs HF no-head", "+.1f"),
        ("peak_mib", "peak MiB", ".0f"),
        ("values", "max|diff| vs mechint", ""),
    ]
    table = _common.format_table([r for r in rows if "skipped" not in r], columns)
    header = (
        f"collect benchmark: {model.name} ({model.n_layers} layers, d={model.d_model}, {args.dtype}) on "
        f"{args.device}; {len(texts)} texts, batch {args.batch_size}, {n_tokens} tokens; last-token "
        f"hook_resid_post at all {model.n_layers} layers; median of {args.repeats} rounds"
    )
    mem_note = next((r["memory_measure"] for r in rows if r.get("peak_mib") is not None), None)
    print()
    print(header)
    print(table)
    print("overhead columns: % time over that plain forward (negative = faster).")
    tol = next((r["tolerance"] for r in rows if "tolerance" in r), None)
    if tol:
        print(
            f"max|diff| vs mechint: absolute; rel = divided by the layer's largest |value| "
            f"(max |value| {max(r['max_abs_ref'] for r in rows if 'max_abs_ref' in r):.3g}); ok = {tol}"
        )
    if mem_note:
        print(
            f"peak MiB: {mem_note}, one full pass" + (" in a fresh process per method" if args.device == "cpu" else "")
        )
    for r in rows:
        if "skipped" in r:
            print(f"skipped {r['label']}: {r['skipped']}")
        elif r.get("note"):
            print(f"note, {r['label']}: {r['note']}")
    for r in rows:
        if r.get("match") is False:
            print(f"VALUES DIFFER {r['label']}: {r['max_abs_diff']:.3g} (tolerance {r['tolerance']})")
    print(f"tokenizing the texts into these batches alone: {t_tok:.3f} s")
    busy = max(load_before[0], load_after[0]) > (os.cpu_count() or 1) + 1
    print(
        f"load average (1 min) before/after timing: {load_before[0]:.1f} / {load_after[0]:.1f} on "
        f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}"
        + ("  -- the machine was busy: timings are noisy, see seconds_all in the JSON" if busy else "")
    )

    data = {
        "benchmark": "collect",
        "header": header,
        "table": table,
        "args": {k: v for k, v in vars(args).items() if not k.startswith("_") and k != "torch_dtype"},
        "model": {
            "name": str(model.name),
            "family": model.family.name,
            "n_layers": model.n_layers,
            "d_model": model.d_model,
            "dtype": str(model.dtype),
        },
        "data": {
            "n_texts": len(texts),
            "n_batches": len(batches),
            "tokens": n_tokens,
            "padded_tokens": n_padded,
            "tokenize_seconds": t_tok,
        },
        "info": info,
        "loadavg_before_after_timing": [load_before, load_after],
        "environment": _common.environment(args.device),
        "rows": rows,
        "wall_seconds": time.perf_counter() - t_start,
    }
    path = _common.write_json(args.out, data)
    print(f"wrote {path}  (total {data['wall_seconds']:.0f} s)")
    return data


if __name__ == "__main__":
    main()
