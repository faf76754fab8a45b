"""Study: does a safety-tuned model recover from a prefilled affirmative opening, in every language? (prefilling attacks)

The safety-tuned model (``gemma-3-270m-refusal-en`` for the embedded gemma-3-270m, tuned on English
only; :mod:`mechint.recipes`) answers harmful PolyRefuse *test* instructions, :data:`ITEMS` per
language in all 14 languages (the same items in every language), under three conditions:

- **no prefill**: its own answer (:func:`generate_answers`, as long as the prefilled continuations:
  longer than the answers of the other refusal studies, so generated here);
- **English prefill**: the response prefilled with "Sure, here is";
- **own-language prefill**: the same opening in the instruction's language
  (:data:`mechint.eval.AFFIRMATIVE_PREFILLS`).

The prefill goes where the chat template starts the response (:meth:`mechint.Model.format_chat`);
:func:`mechint.eval.check_prefill` checks, before anything is generated, that its tokens sit there
and do not merge with the template or end in white space (it raises
:class:`mechint.eval.PrefillTokenError` otherwise: the study stops rather than attack from a token
boundary the model never saw), and :func:`mechint.eval.prefill_merges` counts the answers whose first
characters a tokenizer would join with the prefill's last token (reported, not dropped: the study
never tokenizes a continuation again; it judges the text decoded from the model's own tokens and
reads the activations along those tokens).

Greedy continuations of :data:`NEW_TOKENS` tokens. The multilingual refusal judge reads the
*continuation alone*, in the instruction's language: the prefill is not the model's words, and the
judge reads an answer that opens with "Sure, here is" as complying and stops looking for soft
refusals after it. Refusal rates per language and condition, and pooled over languages, come with 95%
bootstrap intervals over items. Where a refusal is recognisable: for each continuation judged a
refusal, the first token by which the judge, reading growing prefixes of it, calls it one.

Along the generated tokens: the residual stream at the input of the English refusal direction's layer
(``blocks.{layer}.hook_resid_pre``; the direction selected on English PolyRefuse, cached and shared
with ``refusal_direction``) projected on the unit direction, at each generated token's own position,
averaged over the prompts per condition, over its refusals and its other answers, and per language
(the JSON): collected during generation (:func:`mechint.generate_with_activations`) for the prefilled
conditions, and by one forward over prompt + answer for the unprefilled answers (the same
values at the same positions). gemma-3-270m's residual stream has one feature far larger than the
rest (a "massive activation"), and the direction has a component along it: the projection is also
reported without that feature's term (the feature of largest mean magnitude on the generated tokens).

Writes ``figures/prefill_attack.{png,json,csv}`` (refusal rate by language and condition),
``prefill_attack_projection.{png,csv}`` and ``prefill_attack_projection_rest.png`` (the projection
along the generated tokens, whole and without the massive feature) and
``prefill_attack_examples.{csv,md}``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

import mechint
from mechint import data
from mechint.eval import affirmative_prefill, check_prefill, prefill_merges
from mechint.monitor import generate_with_activations, token_spans
from mechint.plots import plot_layer_lines, plot_refusal_rates, save_figure
from mechint.refusal import is_refusal, judge_refusals
from mechint.stats import bootstrap_mean

from ._common import (
    check_counts,
    english_refusal_direction,
    generate_answers,
    largest_feature,
    markdown_table,
    rounded,
    study_main,
    tuned_version,
    write_json,
    write_table,
)

CHAT_PROMPTS = True  # every instruction goes through the chat template

ITEMS = 5
"""Harmful test items per language (the first ones, which ``refusal_transfer`` and
``attack_languages`` ask too)."""
NEW_TOKENS = 16
"""Tokens generated after the prefill, and of the unprefilled answers: enough to see whether a
continuation turns back to a refusal after the opening it was given."""
VAL_ITEMS = 16
"""Val prompts per class for the English direction's selection (``refusal_direction``'s, cached)."""
BATCH = 48
CONDITIONS = ("no prefill", "English prefill", "own-language prefill")
PARTS = ("all", "refused", "not_refused")
"""The answers a projection curve averages over: all of a condition's, those judged refusals, the others."""
EXAMPLE_LANGUAGES = ("en", "de", "zh", "ar", "th", "yo")
"""Languages whose first item's answers, in every condition, go to the examples table."""


def prefills(condition: str, languages: list[str]) -> list[str | None]:
    """The prefill of each prompt (by its language) in ``condition``."""
    if condition == "no prefill":
        return [None] * len(languages)
    if condition == "English prefill":
        return [affirmative_prefill("en")] * len(languages)
    return [affirmative_prefill(lang) for lang in languages]


def first_refusal_token(text: str, spans: torch.Tensor, language: str) -> int | None:
    """The index of the first generated token by which the judge, reading the continuation up to and
    including it, calls it a refusal (None where no prefix is judged one). ``spans`` are the tokens'
    characters (:func:`mechint.monitor.token_spans`); the last token reads the whole text."""
    seen = -1
    for k in range(spans.shape[0]):
        end = len(text) if k == spans.shape[0] - 1 else int(spans[k, 1])
        if end == seen:  # the token adds no character (a byte of one the next token completes)
            continue
        seen = end
        if is_refusal(text[:end], language):
            return k
    return None


def projection_terms(acts: torch.Tensor, unit: torch.Tensor, feature: int) -> torch.Tensor:
    """``[..., 2]``: the projection of ``acts [..., d]`` on ``unit``, and the part of it from one
    ``feature`` (``acts[..., feature] * unit[feature]``)."""
    acts = acts.float()
    return torch.stack([acts @ unit, acts[..., feature] * unit[feature]], -1)


def unprefilled_terms(
    m: mechint.Model, prompts: list[str], tokens: list[list[int]], site: str, unit: torch.Tensor, feature: int
) -> list[torch.Tensor]:
    """``[n_i, 2]`` :func:`projection_terms` of ``site`` at each answer token's own position, from one
    forward over prompt + answer tokens (left-padded batches of :data:`BATCH`, stopped after
    ``site``): what :func:`mechint.generate_with_activations` reads during generation, for answers
    generated elsewhere."""
    ids = [m.tokenizer(p)["input_ids"] + list(t) for p, t in zip(prompts, tokens)]
    out: list[torch.Tensor] = [torch.zeros(0, 2)] * len(prompts)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    unit = unit.float().to(m.device)
    for start in range(0, len(order), BATCH):
        rows = order[start : start + BATCH]
        cache: dict[str, torch.Tensor] = {}
        reader = mechint.record(cache, transform=lambda x: projection_terms(x, unit, feature))  # [batch, pos, 2]
        with torch.inference_mode(), m.hooks([(site, reader)], stop_after=site):
            m.forward(m.pad([ids[i] for i in rows]), logits=False)
        terms = cache[site].cpu()
        for j, i in enumerate(rows):
            n = len(tokens[i])
            out[i] = terms[j, terms.shape[1] - n :].clone() if n else torch.zeros(0, 2)
    return out


def curve(rows: list[torch.Tensor], length: int) -> tuple[list[float], list[int]]:
    """The mean over ``rows`` (``[n_i]`` each) at each token index below ``length`` (NaN where no row
    is that long), and how many rows each mean is over."""
    means, counts = [], []
    for t in range(length):
        here = [float(r[t]) for r in rows if r.numel() > t]
        means.append(sum(here) / len(here) if here else float("nan"))
        counts.append(len(here))
    return means, counts


def curves(values: list[torch.Tensor], judged: list[bool], langs: list[str], languages: list[str]) -> dict:
    """Mean curves of per-answer values along the generated tokens: over all answers, the refusals,
    the others, and per language."""
    return {
        "all": rounded(curve(values, NEW_TOKENS)[0]),
        "refused": rounded(curve([v for v, j in zip(values, judged) if j], NEW_TOKENS)[0]),
        "not_refused": rounded(curve([v for v, j in zip(values, judged) if not j], NEW_TOKENS)[0]),
        "per_language": {
            lang: rounded(curve([v for v, l in zip(values, langs) if l == lang], NEW_TOKENS)[0]) for lang in languages
        },
    }


def generate(tuned: mechint.Model, prompts: dict[str, list[str]], site: str, unit: torch.Tensor) -> tuple[dict, int]:
    """``({condition: (continuations, token ids, [n_i, 2] projection terms)}, feature)``: the prefilled
    conditions generated together (a prompt two conditions share, English's, asked once) with their
    activations, the unprefilled answers from ``generate_answers`` with theirs from one forward;
    ``feature`` is the residual feature of largest mean magnitude on the generated tokens, whose part
    of the projection is kept apart."""
    unique = list(dict.fromkeys(p for c in CONDITIONS[1:] for p in prompts[c]))
    gen = generate_with_activations(tuned, unique, site, max_new_tokens=NEW_TOKENS, batch_size=BATCH)
    acts = gen.activations[site]  # [tokens, d], every row's generated tokens
    feature = int(largest_feature(acts)[0]) if acts.shape[0] else 0
    at = {p: i for i, p in enumerate(unique)}
    out = {}
    for c in CONDITIONS[1:]:
        rows = [at[p] for p in prompts[c]]
        out[c] = (
            [gen.texts[i] for i in rows],
            [gen.token_ids[i].tolist() for i in rows],
            [projection_terms(gen.activations.row(site, i), unit, feature) for i in rows],
        )
    plain = generate_answers(tuned, prompts["no prefill"], new_tokens=NEW_TOKENS, batch=BATCH, desc="no prefill")
    tokens = [list(t) for t in plain.tokens]
    out["no prefill"] = (
        plain.texts,
        tokens,
        unprefilled_terms(tuned, prompts["no prefill"], tokens, site, unit, feature),
    )
    return {c: out[c] for c in CONDITIONS}, feature


def run(model: mechint.Model, out: Path, *, n_per_class: int | None = None) -> dict:
    n = min(ITEMS, n_per_class) if n_per_class is not None else ITEMS
    n_val = min(VAL_ITEMS, n_per_class) if n_per_class is not None else VAL_ITEMS
    tuned = tuned_version(model)
    if tuned is None:
        warnings.warn(
            f"prefill_attack: {model.name} has no safety-tuned version (mechint.recipes); nothing written",
            stacklevel=2,
        )
        return {"skipped": f"no safety-tuned version of {model.name}"}
    out.mkdir(parents=True, exist_ok=True)
    ds = data.load_polyrefuse("test", kind="harmful", n_per_class=n)
    texts, langs = ds.texts, ds.row_languages
    languages = list(ds.languages)
    counts = {lang: langs.count(lang) for lang in languages}
    check_counts("prefill_attack", counts, minimum=ITEMS, what="a refusal rate with a bootstrap interval", required=2)

    found = english_refusal_direction(tuned, n_val=n_val)
    site = f"blocks.{found.layer}.hook_resid_pre"
    unit = found.unit.float().cpu()
    by_condition = {c: prefills(c, langs) for c in CONDITIONS}
    for c in CONDITIONS[1:]:  # PrefillTokenError before anything is generated where a prefill is misplaced
        check_prefill(tuned, texts, [p or "" for p in by_condition[c]])
    prompts = {c: [tuned.format_chat(t, prefill=p) for t, p in zip(texts, ps)] for c, ps in by_condition.items()}
    generated, feature = generate(tuned, prompts, site, unit)

    rates: dict[str, dict[str, tuple[float, float, float]]] = {}
    results: dict = {
        "model": tuned.name,
        "items_per_language": n,
        "new_tokens": NEW_TOKENS,
        "languages": languages,
        "conditions": list(CONDITIONS),
        "prefills": {c: {lang: p for lang, p in zip(langs, ps)} for c, ps in by_condition.items()},
        "direction": {"layer": found.layer, "position": found.position, "site": site},
        "rates": {},
        "pooled": {},
        "recovery": {},
        "merges": {},
        "projection": {
            "tokens": list(range(NEW_TOKENS)),
            "feature": feature,
            "n": {},
            "raw": {},
            "without_feature": {},
        },
    }
    rows_csv, answers, judged_by = [], [], {}
    for c in CONDITIONS:
        conts, ids, terms = generated[c]
        judged = judge_refusals(conts, langs)  # the continuation: the model's own words, not the prefill
        judged_by[c] = judged
        merged = prefill_merges(tuned, prompts[c], ids)
        firsts = [
            first_refusal_token(*token_spans(tuned.tokenizer, toks), lang) if j else None
            for toks, lang, j in zip(ids, langs, judged)
        ]
        for i in range(len(langs)):
            answers.append(
                {
                    "condition": c,
                    "language": langs[i],
                    "item_id": ds[i].item_id,
                    "instruction": texts[i],
                    "prefill": by_condition[c][i],
                    "text": conts[i],
                    "refusal": judged[i],
                    "first_refusal_token": firsts[i],
                    "merged_with_prefill": merged[i],
                }
            )
        raw = [t[:, 0] for t in terms]
        rest = [t[:, 0] - t[:, 1] for t in terms]
        for lang in languages:
            idx = [i for i in range(len(langs)) if langs[i] == lang]
            rate = bootstrap_mean([float(judged[i]) for i in idx])
            rates.setdefault(c, {})[lang] = rate
            means = [(float(raw[i].mean()), float(rest[i].mean())) for i in idx if raw[i].numel()]
            mean_raw, mean_rest = (sum(v) / len(v) for v in zip(*means)) if means else (float("nan"),) * 2
            rows_csv.append([c, lang, len(idx), *rate, mean_raw, mean_rest])
            results["rates"][f"{c}/{lang}"] = {"n": len(idx), "rate": rate[0], "low": rate[1], "high": rate[2]}
        pooled = bootstrap_mean([float(j) for j in judged])
        results["pooled"][c] = {"n": len(judged), "rate": pooled[0], "low": pooled[1], "high": pooled[2]}
        at_refusal = [f for f in firsts if f is not None]
        results["recovery"][c] = {
            "refusals": int(sum(judged)),
            "n": len(judged),
            "first_refusal_token": firsts,
            "mean_first_refusal_token": sum(at_refusal) / len(at_refusal) if at_refusal else None,
        }
        results["merges"][c] = int(sum(merged))
        results["projection"]["n"][c] = curve(raw, NEW_TOKENS)[1]
        results["projection"]["raw"][c] = curves(raw, judged, langs, languages)
        results["projection"]["without_feature"][c] = curves(rest, judged, langs, languages)
    base = judged_by["no prefill"]  # of the items refused without a prefill, how many still are with one
    for c in CONDITIONS[1:]:
        results["recovery"][c]["refused_without_prefill"] = int(sum(base))
        results["recovery"][c]["still_refused"] = int(sum(b and j for b, j in zip(base, judged_by[c])))
    results["answers"] = answers

    figures = write_outputs(out, tuned.name, results, rates, rows_csv)
    write_json(out / "prefill_attack.json", results)
    proj = results["projection"]
    return {
        "refusal_rate": {c: round(results["pooled"][c]["rate"], 3) for c in CONDITIONS},
        "mean_projection": {c: round(float(torch.tensor(proj["raw"][c]["all"]).nanmean()), 1) for c in CONDITIONS},
        "mean_projection_without_feature": {
            c: round(float(torch.tensor(proj["without_feature"][c]["all"]).nanmean()), 1) for c in CONDITIONS
        },
        "figures": figures,
    }


def write_outputs(out: Path, name: str, results: dict, rates: dict, rows_csv: list) -> list[str]:
    """The CSVs, the figures and the examples table (the JSON is ``results``)."""
    proj = results["projection"]
    write_table(
        out / "prefill_attack.csv",
        ["condition", "language", "n", "refusal_rate", "low", "high", "mean_projection", "mean_without_feature"],
        rows_csv,
    )
    write_table(
        out / "prefill_attack_projection.csv",
        ["condition", "token", "n"] + [f"{k}_{part}" for k in ("raw", "without_feature") for part in PARTS],
        [
            [c, t, proj["n"][c][t]] + [proj[k][c][part][t] for k in ("raw", "without_feature") for part in PARTS]
            for c in CONDITIONS
            for t in range(NEW_TOKENS)
        ],
    )
    figures = save_figure(
        plot_refusal_rates(
            rates, languages=results["languages"], title=f"Refusal rate of {name} after an affirmative prefill"
        ),
        out / "prefill_attack",
    )
    layer, feature = results["direction"]["layer"], proj["feature"]
    for key, stem, what in (
        ("raw", "prefill_attack_projection", "projection on the unit refusal direction"),
        ("without_feature", "prefill_attack_projection_rest", f"projection without feature {feature}"),
    ):
        # every condition's answers; dashed, the unprefilled answers the judge calls refusals and the others
        anchors = {
            "no prefill, refusals": proj[key]["no prefill"]["refused"],
            "no prefill, non-refusals": proj[key]["no prefill"]["not_refused"],
        }
        fig = plot_layer_lines(
            {c: proj[key][c]["all"] for c in CONDITIONS} | anchors,
            title=f"Refusal direction (layer {layer} input) along the generated tokens"
            + ("" if key == "raw" else f", feature {feature} left out"),
            yaxis_title=what,
            xaxis_title="generated token (after the prefill)",
        )
        fig.update_traces(line_dash="solid", selector=lambda t: t.name in CONDITIONS)
        fig.update_traces(line_dash="dash", marker_size=4, selector=lambda t, a=anchors: t.name in a)
        figures += save_figure(fig, out / stem)

    header = ["language", "condition", "instruction", "prefill", "continuation", "judged"]
    examples = []
    for lang in [x for x in EXAMPLE_LANGUAGES if x in results["languages"]]:
        first = next(a["item_id"] for a in results["answers"] if a["language"] == lang)
        for a in results["answers"]:
            if a["language"] == lang and a["item_id"] == first:
                examples.append(
                    [lang, a["condition"], a["instruction"], a["prefill"] or "", a["text"].strip()]
                    + ["refusal" if a["refusal"] else "no refusal"]
                )
    write_table(out / "prefill_attack_examples.csv", header, examples)
    (out / "prefill_attack_examples.md").write_text(markdown_table(header, examples), encoding="utf-8")
    return [str(p) for p in figures]


def main(argv=None) -> dict:
    return study_main(run, __doc__, argv)


if __name__ == "__main__":
    main()
