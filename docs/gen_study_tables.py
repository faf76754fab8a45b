"""Study numbers on the docs pages, rendered from ``figures/NAME.json`` at build time.

A plain MkDocs hook (``hooks:`` in ``mkdocs.yml``), no plugin needed. It does two things:

* ``on_files``: serves the repository's ``figures/`` folder as ``docs/figures/`` (PNG, CSV, JSON and the
  generated Markdown tables), so a study page embeds ``../figures/NAME.png`` and the strict build
  checks that the file exists. Nothing is copied into ``docs/``.
* ``on_page_markdown``: replaces two kinds of markers with numbers read from the studies' JSON:

  - ``<!-- table: NAME.KEY -->``: the output of ``TABLES[NAME][KEY](json)``, a Markdown table (or a
    short phrase) computed from ``figures/NAME.json``;
  - ``<!-- value: NAME / key / key / ... / FMT -->``: one value of ``figures/NAME.json`` reached by the
    keys (list indices as integers; negative ones count from the end), formatted by ``FMT``
    (``3``: three decimals, ``2``, ``1``, ``0``; ``pct``: a percentage; ``comma``: a rounded integer
    with thousands separators; ``int``; ``raw``).

A study page therefore never holds a measured number the JSON has: rerunning a study and rebuilding
the docs updates the page. A marker whose file, key or table does not exist fails the build.

Run alone to print a page with its markers rendered (what the number check in
``docs/check_readme_numbers.py`` reads)::

    python docs/gen_study_tables.py docs/studies/probe_layers.md
"""

from __future__ import annotations

import json
import re
import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "figures"
LANGS = ["en", "zh", "vi", "ar", "th"]

MARKER = re.compile(r"<!--\s*(table|value):\s*(.*?)\s*-->")


# ---------------------------------------------------------------- formatting


def rnd(x, places: int = 3) -> str:
    """Python's own rounding of the float (``f"{x:.3f}"``), as the studies print; no "-0.000"."""
    if x is None or (isinstance(x, float) and x != x):
        return "n/a"
    s = f"{x:.{places}f}"
    return s.lstrip("-") if float(s) == 0 else s


def signed(x, places: int = 2) -> str:
    s = rnd(x, places)
    return s if s.startswith("-") or float(s) == 0 else "+" + s


def pct(x, places: int = 0) -> str:
    return rnd(x * 100, places) + "%"


def fmt(x, spec: str) -> str:
    if spec == "raw":
        return str(x)
    if spec == "int":
        return str(int(x))
    if spec == "pct":
        return pct(x)
    if spec == "pct1":
        return pct(x, 1)
    if spec == "comma":
        return f"{x:,.0f}"
    if spec == "list":
        return ", ".join(str(v) for v in x)
    if spec.isdigit():
        return rnd(x, int(spec))
    raise ValueError(f"unknown format {spec!r}")


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def span(values, places: int = 3) -> str:
    values = [v for v in values if v == v]
    return f"{rnd(min(values), places)}-{rnd(max(values), places)}"


@lru_cache(maxsize=None)
def load(name: str) -> dict:
    path = FIGURES / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} (run: python -m experiments --only {name})")
    return json.loads(path.read_text(encoding="utf-8"))


def lookup(data, keys: list[str]):
    for key in keys:
        if isinstance(data, list):
            data = data[int(key)]
        else:
            if key not in data:
                raise KeyError(f"{key!r} not among {list(data)[:20]}")
            data = data[key]
    return data


def key_like(d: dict, prefix: str):
    """The value of the one key of ``d`` that starts with ``prefix`` (JSON keys carry their axes)."""
    hits = [k for k in d if k.startswith(prefix)]
    if len(hits) != 1:
        raise KeyError(f"{prefix!r}: {hits or list(d)}")
    return d[hits[0]]


# ---------------------------------------------------------------- tables, one function per marker


def ldc_raw(d):
    rows = []
    last = len(d["cosine_with_english"]["zh"]) - 1
    for lang in LANGS[1:]:
        b = d["best_layer"][lang]
        rows.append([lang, b["layer"], rnd(b["cosine"]), rnd(d["cosine_with_english"][lang][last])])
    ceil = d["english_ceiling[layer]"]["ceiling (full n)"]
    rows.append(["en ceiling at full n", "-", f"{span(ceil)} at every layer", rnd(ceil[last])])
    return table(["language", "best layer", "cosine with English there", f"at the last layer ({last})"], rows)


def ldc_standardised(d):
    s = d["standardised"]
    cos, raw = s["cosine_with_english"], d["cosine_with_english"]
    last = len(cos["zh"]) - 1
    rows = []
    for lang in LANGS[1:]:
        best = max(range(len(cos[lang])), key=lambda i: cos[lang][i])
        rows.append(
            [
                lang,
                best,
                rnd(cos[lang][best]),
                f"{rnd(cos[lang][1])} / {rnd(raw[lang][1])}",
                f"{rnd(cos[lang][2])} / {rnd(raw[lang][2])}",
                rnd(cos[lang][last]),
            ]
        )
    ceil = key_like(cos, "en, ceiling")
    rows.append(["en ceiling at full n", "-", f"{span(ceil)} at every layer", "", "", rnd(ceil[last])])
    return table(
        [
            "language",
            "best layer (standardised)",
            "cosine there",
            "layer 1: standardised / raw",
            "layer 2: standardised / raw",
            "last layer",
        ],
        rows,
    )


def ldc_per_layer(d):
    raw, std = d["cosine_with_english"], d["standardised"]["cosine_with_english"]
    ec = d["english_ceiling[layer]"]
    check = ec["spearman_brown_check"]["observed_minus_predicted[layer]"]
    rows = []
    for layer in range(len(raw["zh"])):
        rows.append(
            [layer]
            + [f"{rnd(raw[l][layer])} / {rnd(std[l][layer])}" for l in LANGS[1:]]
            + [
                rnd(ec["ceiling (full n)"][layer]),
                rnd(ec["split_half_mean (n/2, uncorrected)"][layer]),
                rnd(check[layer]),
            ]
        )
    return table(
        ["layer"]
        + [f"{l}: raw / standardised" for l in LANGS[1:]]
        + ["en ceiling (full n)", "en split-half mean (n/2)", "quarters check: observed - predicted"],
        rows,
    )


def ldc_pairwise_ceiling(d):
    c = d["ceiling_per_language[language][layer]"]
    last = [c[l][-1] for l in LANGS[1:]]
    return span(last)


def ldc_quarters_max(d):
    check = d["english_ceiling[layer]"]["spearman_brown_check"]["observed_minus_predicted[layer]"]
    return rnd(max(abs(x) for x in check))


def ldc_massive(d):
    m = d["massive_feature"]
    share = m["share_of_direction[language][layer]"]
    rows = []
    for layer, (feat, mag) in enumerate(zip(m["feature[layer]"], m["mean_abs[layer]"])):
        rows.append([layer, feat, fmt(mag, "comma")] + [pct(share[l][layer]) for l in LANGS])
    return table(["layer", "largest feature", "its mean abs value"] + [f"share of {l} direction" for l in LANGS], rows)


def dt_mean(d):
    m = d["methods"]["mean"]["per_language"]
    p = d["methods"]["pca"]["per_language"]
    rows = []
    for lang in LANGS:
        e, o = m[lang]["english_direction"], m[lang]["own_direction"]
        rows.append(
            [
                lang,
                e["layer_chosen_on_training"],
                rnd(e["auroc"]),
                f"{rnd(e['auroc_best_on_test'])} ({e['best_layer_on_test']})",
                rnd(e["last_layer"]),
                f"{rnd(o['auroc'])} ({o['layer_chosen_on_training']})",
                rnd(p[lang]["english_direction"]["auroc"]),
            ]
        )
    return table(
        [
            "language",
            "layer chosen on training items",
            "AUROC there",
            "max over layers (layer)",
            "last layer",
            "own direction, AUROC (layer chosen on training)",
            "PCA English direction, AUROC",
        ],
        rows,
    )


def dt_standardised(d):
    s = d["methods"]["standardised"]["per_language"]
    m = d["methods"]["mean"]["per_language"]
    rows = [
        [
            lang,
            f"{s[lang]['english_direction']['layer_chosen_on_training']}, {rnd(s[lang]['english_direction']['auroc'])}",
            rnd(m[lang]["english_direction"]["auroc"]),
        ]
        for lang in LANGS
    ]
    return table(["language", "standardised: layer, AUROC", "difference of means (table above)"], rows)


def dt_per_layer(d):
    mean, std = d["methods"]["mean"], d["methods"]["standardised"]
    src = mean["sources"].index("en")
    rows = []
    for layer in range(len(mean["auroc[layer][source][target]"])):
        a, b = mean["auroc[layer][source][target]"][layer][src], std["auroc[layer][source][target]"][layer][src]
        rows.append([layer] + [f"{rnd(a[i])} → {rnd(b[i])}" for i in range(len(mean["targets"]))])
    return table(["layer"] + [f"{t}: mean → standardised" for t in mean["targets"]], rows)


def di_ablation(d):
    a = d["ablation"]
    rows = [
        [
            l,
            rnd(a["best_layer_before_vs_after"][l]["before"]),
            rnd(a["best_layer_before_vs_after"][l]["after"]),
            rnd(a["last_layer"][l]["before"]),
            rnd(a["last_layer"][l]["after"]),
        ]
        for l in LANGS
    ]
    return table(
        ["language", "own direction, best layer: before", "after ablation", "last layer: before", "after"], rows
    )


def di_steering(d):
    s = d["steering"]
    rows = []
    for lang in LANGS:
        for i, alpha in enumerate(s["alphas"]):
            rows.append(
                [
                    lang,
                    alpha,
                    rnd(s["shift_toward_harmful"][lang][i], 2),
                    rnd(s["of_which_the_added_vector_itself"][lang][i], 2),
                    rnd(s["response_of_later_layers"][lang][i], 2),
                ]
            )
    return table(
        [
            "language",
            "alpha",
            "shift toward harmful (language's gap)",
            "of which the added vector itself",
            "response of later layers",
        ],
        rows,
    )


def di_probe(d):
    r = d["steering"]["probe_readout"]["called_harmful[language]"]
    cols = list(r["en"])
    return table(["language"] + cols, [[l] + [pct(r[l][c]) for c in cols] for l in LANGS])


def pl_best(d):
    b = d["best_layer"]
    rows = []
    for lang in LANGS:
        own, en = b[lang]["trained_in_language"], b[lang]["trained_on_en"]
        rows.append(
            [
                lang,
                own["layer"],
                rnd(own["accuracy"]),
                rnd(own["auroc"]),
                rnd(own["nested"]["accuracy"]),
                ", ".join(map(str, own["nested"]["layer_per_fold"])),
                en["layer"],
                rnd(en["accuracy"]),
                rnd(en["nested"]["accuracy"]),
            ]
        )
    return table(
        [
            "test language",
            "own-language probe: best layer",
            "accuracy",
            "AUROC",
            "nested accuracy",
            "nested: layer per fold",
            "English-trained probe: best layer",
            "accuracy",
            "nested accuracy",
        ],
        rows,
    )


def pl_per_layer(d):
    acc = d["metrics"]["accuracy"]
    rows = [
        [layer]
        + [rnd(acc[layer][i][i]) for i in range(len(LANGS))]
        + [rnd(acc[layer][0][j]) for j in range(1, len(LANGS))]
        for layer in range(len(acc))
    ]
    return table(["layer"] + [f"{l} → {l}" for l in LANGS] + [f"en → {l}" for l in LANGS[1:]], rows)


def pt_matrix(metric):
    def render(d):
        m = d["at_best_layer"][metric]
        return table(
            [f"train \\ test (layer {d['best_layer']})"] + d["test_languages"],
            [[t] + [rnd(x) for x in row] for t, row in zip(d["train_languages"], m)],
        )

    return render


def pt_by_layer(d):
    same, other = d["mean_accuracy_same_language"], d["mean_accuracy_other_language"]
    return table(
        ["layer", "mean accuracy, same language", "mean accuracy, other languages"],
        [[i, rnd(a), rnd(b)] for i, (a, b) in enumerate(zip(same, other))],
    )


def pe_auroc(d):
    at = d["auroc_at"]
    fr = [k for k in at]
    rows = [
        [lang] + [f"{rnd(at[f][lang]['per_fraction'])} / {rnd(at[f][lang]['whole'])}" for f in fr] for lang in LANGS
    ]
    return table(
        ["language"] + [f"{float(f):.0%} of the prompt: per-prefix probe / whole-prompt probe" for f in fr], rows
    )


def pe_layers(d):
    return ", ".join(str(d["layer_per_fold"][k]) for k in sorted(d["layer_per_fold"], key=int))


def pe_fractions(d):
    fr = d["fractions"]
    auc, whole = d["per_fraction"]["auroc"], d["whole_prompt_probe"]["auroc"]
    rows = [
        [f"{f:.0%}"] + [f"{rnd(auc[i][j])} / {rnd(whole[i][j])}" for j in range(len(LANGS))] for i, f in enumerate(fr)
    ]
    return table(["fraction seen"] + [f"{l}: per-prefix / whole-prompt" for l in d["languages"]], rows)


def nt_top(d):
    rows = []
    for i, n in enumerate(d["neurons"], 1):
        rows.append(
            [
                i,
                n["neuron"],
                rnd(n["cosine"]),
                pct(n["massive_feature_share_of_alignment"]),
                " ".join(f"`{t.strip() or repr(t)}`" for t in n["promoted_through_norms"][:5]),
            ]
        )
    return table(
        [
            "rank",
            "neuron",
            "cosine with the direction",
            "share of the alignment from the massive feature",
            "promoted tokens (through the norms, first 5)",
        ],
        rows,
    )


def nt_massive_majority(d):
    n = sum(1 for x in d["neurons"] if x["massive_feature_share_of_alignment"] > 0.5)
    return f"{n} of the top {len(d['neurons'])}"


def nt_layers(d):
    per = d["per_layer_max_cosine"]
    rnd_dir = d["random_direction_max_cosine_per_layer"]
    rows = [
        [
            l,
            rnd(per[l]),
            rnd(d["per_layer_q999_cosine"][l]),
            rnd(rnd_dir["mean"][l]),
            rnd(rnd_dir["q95"][l]),
            d["neurons_above_random_q95_per_layer"][str(l)],
        ]
        for l in range(len(per))
    ]
    return table(
        [
            "layer",
            "best cosine",
            "99.9th percentile",
            "random direction's best (mean)",
            "(95th percentile)",
            "neurons above that",
        ],
        rows,
    )


def nt_standardised(d):
    s = d["top_k_standardised"]
    rows = [[i, n["neuron"], rnd(n["cosine_standardised"])] for i, n in enumerate(s["neurons"], 1)]
    return table(["rank", "neuron", "cosine, standardised units"], rows)


def na_summary(d):
    g = d["ratio_geometric_mean_over_neurons"]
    gm = d["ratio_median_abs_geometric_mean_over_neurons"]
    e = d["effect_size_median_over_neurons"]
    rows = [
        [
            l,
            rnd(g["prompt"][l]),
            rnd(gm["prompt"][l]),
            rnd(e["prompt"][l]),
            rnd(g["generated"][l]),
            rnd(gm["generated"][l]),
            rnd(e["generated"][l]),
        ]
        for l in LANGS
    ]
    return table(
        [
            "language",
            "prompt tokens: mean-abs ratio (geometric mean)",
            "median-abs ratio",
            "median effect size",
            "generated tokens: mean-abs ratio",
            "median-abs ratio",
            "median effect size",
        ],
        rows,
    )


def ne_shifts(d):
    s = d["shift_in_gap_units"]
    return table(["condition"] + LANGS, [[c] + [signed(s[c][l]) for l in LANGS] for c in s])


def ne_gaps(d):
    g = d["gap_harmful_minus_harmless"]
    return table(["language"] + LANGS, [["harmful - harmless mean score"] + [rnd(g[l], 0) for l in LANGS]])


def ar_best(d):
    b = d["best_layer_vs_en"]
    order = sorted(b, key=lambda l: -b[l]["accuracy"])
    rows = [
        [
            l,
            b[l]["layer"],
            rnd(b[l]["accuracy"]),
            rnd(b[l]["to_en"]),
            rnd(b[l]["from_en"]),
            rnd(b[l]["last_layer"]),
            f"{rnd(b[l]['centered_best'])} ({b[l]['centered_best_layer']})",
        ]
        for l in order
    ]
    return table(
        [
            "language",
            "best layer",
            "accuracy against English (mean of both ways)",
            "to English",
            "from English",
            "last layer",
            "mean-centred: best (layer)",
        ],
        rows,
    )


def ar_correlation(d):
    c = d["correlation"]
    rows = [
        [k, rnd(v["pearson"]), rnd(v["pearson_p"]), rnd(v["spearman"]), rnd(v["spearman_p"]), v["n"]]
        for k, v in c.items()
    ]
    return table(["retrieval vs transfer AUROC", "Pearson", "p", "Spearman", "p", "n"], rows)


def ar_scatter(d):
    s = d["scatter"]
    return table(
        ["language", "retrieval accuracy (best layer)", "English-direction AUROC (best layer)"],
        [[l, rnd(v["retrieval"]), rnd(v["auroc"])] for l, v in s.items()],
    )


def pmp_languages(d):
    rows = []
    for lang, v in d["languages"].items():
        big = v["largest_mean_effect"]
        a = v["attribution_vs_exact"]
        rows.append(
            [
                lang,
                f"{v['pairs_where_harmful_scores_higher']} of {len(v['pairs'])}",
                rnd(key_like(v, "harmful_minus_harmless_score_mean"), 2),
                f"{rnd(big['value'], 3)} (layer {big['layer']}, {big['role']})",
                rnd(a["pearson"], 2),
                rnd(a["spearman"], 2),
            ]
        )
    return table(
        [
            "language",
            "pairs where the harmful version scores higher",
            "mean harmful - harmless score (class gaps)",
            "largest mean patching effect (class gaps)",
            "attribution vs exact: Pearson",
            "Spearman",
        ],
        rows,
    )


def pmp_total(d):
    langs = d["languages"].values()
    return f"{sum(v['pairs_where_harmful_scores_higher'] for v in langs)} of {sum(len(v['pairs']) for v in langs)}"


def pmp_roles(d):
    m = key_like(d, "mean_over_languages_by_role")
    return table(["layer"] + d["roles"], [[i] + [rnd(x) for x in row] for i, row in enumerate(m)])


def _rate(cell):
    if cell is None:
        return "-"
    return f"{rnd(cell['rate'], 2)} [{rnd(cell['low'], 2)}, {rnd(cell['high'], 2)}]"


def rt_rates(data_set):
    def render(d):
        rates, models = d["rates"], list(d["models"])
        langs = sorted({k.split("/")[3] for k in rates if k.split("/")[1] == data_set}, key=lambda l: (l != "en", l))
        classes = [
            c
            for c in ("harmful", "harmless")
            if any(k.split("/")[2] == c and k.split("/")[1] == data_set for k in rates)
        ]
        header = ["language"] + [f"{c}, {m}" for c in classes for m in models]
        rows = [
            [lang] + [_rate(rates.get(f"{m}/{data_set}/{c}/{lang}")) for c in classes for m in models] for lang in langs
        ]
        return table(header, rows)

    return render


def rt_scores(d):
    rates, models = d["rates"], list(d["models"])
    langs = sorted({k.split("/")[3] for k in rates if "/polyrefuse/" in k}, key=lambda l: (l != "en", l))
    header = ["language"] + [f"{c}, {m}" for c in ("harmful", "harmless") for m in models]
    rows = []
    for lang in langs:
        row = [lang]
        for c in ("harmful", "harmless"):
            for m in models:
                cell = rates.get(f"{m}/polyrefuse/{c}/{lang}")
                row.append(rnd(cell["refusal_score"], 2) if cell else "-")
        rows.append(row)
    return table(header, rows)


def rd_rates(d):
    """refusal_direction: refusal rate per language and condition, harmful then harmless."""
    rates = d["rates"]
    conds = list(dict.fromkeys(k.split("/")[0] for k in rates))
    langs = sorted({k.split("/")[2] for k in rates}, key=lambda l: (l != "en", l))
    cols = [
        (c, cond) for c in ("harmful", "harmless") for cond in conds if any(k.startswith(f"{cond}/{c}/") for k in rates)
    ]
    header = ["language"] + [f"{c}, {cond}" for c, cond in cols]
    rows = [[lang] + [_rate(rates.get(f"{cond}/{c}/{lang}")) for c, cond in cols] for lang in langs]
    return table(header, rows)


def rd_nll(d):
    """refusal_direction: the answers' mean NLL per token under the unedited model, per condition."""
    rates = d["rates"]
    conds = list(dict.fromkeys(k.split("/")[0] for k in rates))
    langs = sorted({k.split("/")[2] for k in rates}, key=lambda l: (l != "en", l))
    cols = [(c, cond) for c in ("harmful", "harmless") for cond in conds if f"{cond}/{c}/en" in rates]
    header = ["language"] + [f"{c}, {cond}" for c, cond in cols]
    rows = [
        [lang]
        + [
            rnd(rates[f"{cond}/{c}/{lang}"]["answer_nll"], 2) if f"{cond}/{c}/{lang}" in rates else "-"
            for c, cond in cols
        ]
        for lang in langs
    ]
    return table(header, rows)


def rd_selection(d):
    """refusal_direction: the 8 lowest-bypass candidates below the layer limit, with why each was excluded."""
    sel = d["selection"]
    below = [r for r in sel["table"] if r["layer"] < sel["settings"]["max_layer"] and r["bypass"] == r["bypass"]]
    best = sorted(below, key=lambda r: r["bypass"])[:8]
    rows = [
        [
            r["layer"],
            r["position"],
            rnd(r["bypass"], 2),
            rnd(r["induce"], 2),
            rnd(r["kl"], 2),
            r["excluded"] or "-",
            "yes" if r["selected"] else "",
        ]
        for r in best
    ]
    return table(["layer", "position", "bypass", "induce", "KL", "excluded by", "selected"], rows)


def ru_matrix(d):
    """refusal_universality: refusal rate with the direction of X ablated (rows), tested in Y (columns)."""
    langs = d["languages"]
    rows = [["none"] + [_rate_list(d["baseline"][y]) for y in langs]]
    rows += [[x] + [_rate_list(d["ablated[x][y]"][x][y]) for y in langs] for x in langs]
    return table(["ablated \\ tested"] + langs, rows)


def ru_nll(d):
    """refusal_universality: the answers' mean NLL per token, direction ablated (rows) x tested (columns)."""
    langs, nll = d["languages"], d["answer_nll[ablated][y]"]
    return table(["ablated \\ tested"] + langs, [[x] + [rnd(nll[x][y], 2) for y in langs] for x in nll])


def ru_cosine(d):
    """refusal_universality: cosine of each language's direction with the others at the selected layer."""
    langs, layer = d["languages"], d["layer"]
    sim = d["cosine[layer][x][y]"][layer]
    return table([""] + langs, [[x] + [rnd(v, 2) for v in sim[i]] for i, x in enumerate(langs)])


def _rate_list(v):
    return _rate({"rate": v[0], "low": v[1], "high": v[2]})


def cc_cosine(d):
    """contrast_check: the cosines of the directions at a few layers."""
    out = []
    for key, by in d["cosine"].items():
        n = len(next(iter(by.values())))
        picks = sorted({0, n // 4, n // 2, (3 * n) // 4, n - 1})
        out += [[key, name] + [rnd(v[l], 2) for l in picks] for name, v in by.items()]
    return table(["model", "directions"] + [f"layer {l}" for l in picks], out)


def cc_pairs(d):
    """contrast_check: share of minimal pairs ordered right, at a few layers."""
    out = []
    for key, by in d["pairs"].items():
        n = len(next(iter(by.values())))
        picks = sorted({0, n // 4, n // 2, (3 * n) // 4, n - 1})
        out += [[key, name] + [rnd(v[l], 2) for l in picks] for name, v in by.items()]
    return table(["model", "direction"] + [f"layer {l}" for l in picks], out)


def cc_probes(d):
    """contrast_check: probe transfer, same vs other language, old vs PolyRefuse."""
    rows = [
        [name, p["best_layer"], rnd(p["mean_same_language"], 3), rnd(p["mean_other_language"], 3)]
        for name, p in d["probes"].items()
    ]
    return table(["data", "best layer", "accuracy, same language", "accuracy, other language"], rows)


def al_rates(cls):
    """attack_languages: refusal rate per language, the safety-tuned model and each attack."""

    def render(d):
        rates = d["rates"]
        models = list(dict.fromkeys(k.split("/")[0] for k in rates if ", k=" not in k))  # the k sweep: al_k
        langs = sorted({k.split("/")[2] for k in rates if k.split("/")[1] == cls}, key=lambda l: (l != "en", l))
        rows = [[lang] + [_rate(rates.get(f"{m}/{cls}/{lang}")) for m in models] for lang in langs]
        return table(["language"] + models, rows)

    return render


def al_k(d):
    """attack_languages: harmful refusal per language after the English attack of each size k."""
    sweep = d["k_sweep"]
    tuned = {k.split("/")[2]: v for k, v in d["rates"].items() if k.startswith("tuned/harmful/")}
    langs = sorted(tuned, key=lambda l: (l != "en", l))
    ks = [str(k) for k in sweep["k"]]
    rows = [[lang, _rate(tuned[lang])] + [_rate_list(sweep["harmful"][k][lang]) for k in ks] for lang in langs]
    means = [sum(tuned[l]["rate"] for l in langs) / len(langs)] + [
        sum(sweep["harmful"][k][l][0] for l in langs) / len(langs) for k in ks
    ]
    rows.append(["**mean**"] + [f"**{rnd(m, 3)}**" for m in means])
    return table(["language", "k = 0 (safety-tuned)"] + [f"k = {k}" for k in ks], rows)


def std_direction(d):
    """safety_tuning_diff: shift along the refusal direction at its layer, per language and class."""
    layer = d["direction"]["layer"]
    shifts = d["direction_shift[diff][class][language][layer]"]
    langs = sorted(d["languages"], key=lambda l: (l != "en", l))
    cols = [(diff, cls) for diff in ("tuning", "attack") for cls in ("harmful", "harmless")]
    rows = [[lang] + [rnd(shifts[diff][cls][lang][layer], 0) for diff, cls in cols] for lang in langs]
    return table(["language"] + [f"{diff}: {cls}" for diff, cls in cols], rows)


def std_dual(d):
    """safety_tuning_diff: dual multilinguality (English top neurons) and reversal, against the control."""

    def cell(v, stat):
        return f"{rnd(v[stat], 2)} ({rnd(v[f'control_{stat}_mean'], 2)}, {rnd(v[f'control_{stat}_high'], 2)})"

    langs = sorted(d["languages"], key=lambda l: (l != "en", l))
    dual, rev = d["dual[diff][language]"], d["reversal[language]"]
    rows = []
    for lang in langs:
        row = [lang]
        for diff in ("tuning", "attack"):
            row += (
                ["-", "-"]
                if lang == "en"
                else [cell(dual[diff][lang], "agreement"), cell(dual[diff][lang], "correlation")]
            )
        row += [cell(rev[lang], "agreement"), cell(rev[lang], "correlation")]
        rows.append(row)
    header = ["language", "tuning: same sign", "tuning: correlation", "attack: same sign", "attack: correlation"]
    return table(header + ["reversal: same sign", "reversal: correlation"], rows)


def std_overlap(d):
    """safety_tuning_diff: Jaccard of the languages' top neurons, min / mean / max over pairs, vs chance."""
    rows = []
    for diff, o in d["overlap"].items():
        j = o["jaccard[x][y]"]
        off = [j[a][b] for a in range(len(j)) for b in range(len(j)) if a != b]
        rows.append(
            [
                diff,
                rnd(min(off), 2),
                rnd(sum(off) / len(off), 2),
                rnd(max(off), 2),
                rnd(o["chance"]["expected_jaccard"], 4),
            ]
        )
    return table(["diff", "min", "mean", "max", "chance"], rows)


def sl_mean(d):
    """safety_localization: mean harmful refusal over the languages, per attack and p ("-": not grafted)."""
    ps = [f"{p:g}" for p in d["p_grid"]]
    rows = []
    for attack, by_p in d["sweep"].items():
        rows.append([attack] + [rnd(sum(by_p[p].values()) / len(by_p[p]), 2) if p in by_p else "-" for p in ps])
    return table(["attack"] + [f"p = {p}%" for p in ps], rows)


def sl_sweep(d):
    """safety_localization: harmful refusal per language and p, one column group per attack ("-": not grafted)."""
    ps = [f"{p:g}" for p in d["p_grid"]]
    attacks = list(d["sweep"])
    langs = sorted(next(iter(d["sweep"].values()))["0"], key=lambda l: (l != "en", l))
    header = ["language"] + [f"{a}: " + "/".join(ps) for a in attacks]
    rows = [
        [lang]
        + [" / ".join(rnd(d["sweep"][a][p][lang], 1) if p in d["sweep"][a] else "-" for p in ps) for a in attacks]
        for lang in langs
    ]
    return table(header, rows)


def sl_halfway(d):
    """safety_localization: the smallest p that brings refusal half-way to the attacked model's."""
    attacks = list(d["half_way_p"])
    langs = sorted(next(iter(d["half_way_p"].values())), key=lambda l: (l != "en", l))
    rows = [
        [lang] + [("-" if d["half_way_p"][a][lang] is None else f"{d['half_way_p'][a][lang]:g}") for a in attacks]
        for lang in langs
    ]
    return table(["language"] + [f"attack {a}" for a in attacks], rows)


def sl_overlap(d):
    """safety_localization: Jaccard of two attacks' masks against chance."""
    rows = [
        [
            pair.replace("/", " & "),
            rnd(o["jaccard"], 3),
            rnd(o["expected_jaccard"], 3),
            rnd(o["jaccard"] / o["expected_jaccard"], 2),
        ]
        for pair, o in d["overlap"].items()
    ]
    return table(["attacks", "Jaccard", "chance", "ratio"], rows)


def sl_swap(d):
    """safety_localization: mean harmful refusal (the attack languages) with mask A and values B."""
    cells = d["swap_mean_refusal"]
    masks = list(dict.fromkeys(k.split(" / ")[0] for k in cells))
    values = list(dict.fromkeys(k.split(" / ")[1] for k in cells))
    rows = [[m] + [rnd(cells[f"{m} / {v}"], 2) for v in values] for m in masks]
    return table(["mask \\ values"] + values, rows)


def sl_freeze(d):
    """safety_localization: harmful refusal per language, tuned / attacked / attacked with the mask frozen."""
    ends = d["end_points"]
    keys = ["tuned", "attacked en"] + [k for k in ends if "frozen" in k]
    langs = sorted(ends["tuned"], key=lambda l: (l != "en", l))
    rows = [[lang] + [_rate_list(ends[k][lang]) for k in keys] for lang in langs]
    return table(["language"] + keys, rows)


def _rl_cells(d):
    for name, by_condition in d["results"].items():
        for condition in d["conditions"]:
            for lang in d["languages"]:
                yield name, condition, lang, by_condition[condition]["per_language"][lang]


def rl_mean(d):
    """reasoning_language: per model and condition, the shares of the answers' letters averaged over
    the prompt languages, and the answers with quote-and-think spans."""
    rows = []
    for name, by_condition in d["results"].items():
        for condition in d["conditions"]:
            cells = [by_condition[condition]["per_language"][lang] for lang in d["languages"]]
            mean = {p: sum(c["shares"][p] for c in cells) / len(cells) for p in cells[0]["shares"]}
            quoted = sum(c["answers_with_quotes"] for c in cells)
            total = sum(c["n"] for c in cells)
            rows.append([name, condition] + [rnd(v, 2) for v in mean.values()] + [f"{quoted} / {total}"])
    parts = list(next(_rl_cells(d))[3]["shares"])
    return table(["model", "condition"] + parts + ["answers with quotes"], rows)


def rl_languages(d):
    """reasoning_language: the same per prompt language."""
    rows = []
    for name, condition, lang, c in _rl_cells(d):
        rows.append(
            [name, condition, lang]
            + [rnd(v, 2) for v in c["shares"].values()]
            + [f"{c['answers_with_quotes']} / {c['n']}"]
        )
    parts = list(next(_rl_cells(d))[3]["shares"])
    return table(["model", "condition", "language"] + parts + ["answers with quotes"], rows)


def rl_examples(d):
    """reasoning_language: the first answer to the first language's first prompt, per model and condition."""
    rows = []
    lang = d["languages"][0]
    for name, by_condition in d["results"].items():
        for condition in d["conditions"]:
            answer = next(a for a in by_condition[condition]["answers"] if a["language"] == lang)
            text = " ".join(answer["text"].split())
            rows.append([name, condition, (text[:140] + " ...") if len(text) > 140 else (text or "(empty)")])
    return table(["model", "condition", f"answer ({lang} prompt, after the prefix)"], rows)


def _mp_rows(d):
    """mcqa_prefilling: (model, condition, language, entry, cell) for every language and "all"."""
    for name, by_condition in d["results"].items():
        for condition in d["conditions"]:
            entry = by_condition[condition]
            for lang in [*d["languages"], "all"]:
                yield name, condition, lang, entry, entry["all"] if lang == "all" else entry["per_language"][lang]


def _mp_cells(cell) -> list:
    acc = f"{rnd(cell['accuracy'], 2)} [{rnd(cell['accuracy_low'], 2)}, {rnd(cell['accuracy_high'], 2)}]"
    missed = cell.get("misalignment_rate", cell.get("unparsed_rate"))
    return [cell["n"], acc, rnd(cell["chose_a"], 2), rnd(cell.get("ece"), 2), rnd(cell.get("brier"), 2), rnd(missed, 2)]


_MP_HEADER = ["n", "accuracy [95% interval]", "chose A", "ECE", "Brier", "not a label"]


def mp_all(d):
    """mcqa_prefilling: per model and condition, all languages together, with the condition's cost."""
    rows = []
    for name, condition, lang, entry, cell in _mp_rows(d):
        if lang == "all":
            cost = f"{rnd(entry['cost_s'], 1)} / {rnd(entry['cpu_s'], 1)}"
            rows.append([name, condition] + _mp_cells(cell) + [cost])
    return table(["model", "condition"] + _MP_HEADER + ["cost: wall / CPU s"], rows)


def mp_languages(d):
    """mcqa_prefilling: per model, language and condition."""
    rows = [
        [name, lang, condition] + _mp_cells(cell) for name, condition, lang, _, cell in _mp_rows(d) if lang != "all"
    ]
    rows.sort(key=lambda r: (list(d["results"]).index(r[0]), d["languages"].index(r[1])))
    return table(["model", "language", "condition"] + _MP_HEADER, rows)


def mp_top_tokens(d):
    """mcqa_prefilling: per model and first-token condition, the most likely next tokens (all items)
    and the mean probability of the two labels together under the full distribution."""
    rows = []
    for name, by_condition in d["results"].items():
        for condition in d["conditions"]:
            cell = by_condition[condition]["all"]
            if "top_tokens" in cell:
                tops = ", ".join(f"`{t!r}` {n}" for t, n in cell["top_tokens"].items())
                rows.append([name, condition, tops, rnd(cell["label_mass"], 2)])
    return table(["model", "condition", "top token (count)", "label mass"], rows)


def mp_prompt_tokens(d):
    """mcqa_prefilling: mean prompt length in tokens per model and language (the FTP prompts)."""
    rows = [
        [name] + [rnd(r["FTP"]["prompt_tokens"][lang], 0) for lang in d["languages"]]
        for name, r in d["results"].items()
    ]
    return table(["model"] + d["languages"], rows)


def mp_answers(d):
    """mcqa_prefilling: every generated answer, with the option parsed out of it."""
    rows = []
    for name, by_condition in d["results"].items():
        for a in by_condition["open-ended"]["answers"]:
            choice = "-" if a["choice"] is None else "AB"[a["choice"]]
            text = " ".join(a["response"].split()).replace("|", "\\|")
            rows.append([name, a["language"], "AB"[a["answer"]], f"`{text}`" if text else "(empty)", choice])
    return table(["model", "language", "answer", f"generated ({d['new_tokens']} tokens)", "parsed"], rows)


def pa_rates(d):
    """prefill_attack: refusal rate [95% interval] per language and condition, and pooled."""
    conds = d["conditions"]
    rows = [[lang] + [_rate(d["rates"][f"{c}/{lang}"]) for c in conds] for lang in d["languages"]]
    rows.append(["**all languages**"] + [f"**{_rate(d['pooled'][c])}**" for c in conds])
    return table(["language"] + conds, rows)


def pa_recovery(d):
    """prefill_attack: per condition, the refusals, those refused without a prefill too, and the token
    by which each refusal is recognisable."""
    rows = []
    for c in d["conditions"]:
        r = d["recovery"][c]
        firsts = sorted(f for f in r["first_refusal_token"] if f is not None)
        still = f"{r['still_refused']} of {r['refused_without_prefill']}" if "still_refused" in r else "-"
        rows.append([c, f"{r['refusals']} / {r['n']}", still, ", ".join(map(str, firsts)) or "-", d["merges"][c]])
    header = ["condition", "refusals", "refused without a prefill, still refused", "first refusal token(s)"]
    return table(header + ["continuations merged with the prefill"], rows)


def _window_mean(values, start, stop):
    got = [v for v in values[start:stop] if v == v]
    return sum(got) / len(got) if got else float("nan")


def pa_projection(d):
    """prefill_attack: the projection along the generated tokens, at the first token and averaged over
    tokens 1-3 and 4-15, whole and without the massive feature."""
    p, n = d["projection"], d["new_tokens"]
    windows = [(0, 1, "token 0"), (1, 4, "tokens 1-3"), (4, n, f"tokens 4-{n - 1}")]
    series = [(c, "all", c) for c in d["conditions"]]
    series += [("no prefill", "refused", "no prefill, refusals"), ("no prefill", "not_refused", "no prefill, others")]
    rows = []
    for c, part, name in series:
        row = [name]
        for key in ("raw", "without_feature"):
            row += [rnd(_window_mean(p[key][c][part], a, b), 0) for a, b, _ in windows]
        rows.append(row)
    f = p["feature"]
    header = ["answers"] + [f"{w}" for _, _, w in windows] + [f"{w}, without {f}" for _, _, w in windows]
    return table(header, rows)


def pa_examples(d):
    """prefill_attack: the continuations to the first item in a few languages, per condition."""
    rows = []
    for lang in ("en", "de", "zh", "th"):
        first = next(a["item_id"] for a in d["answers"] if a["language"] == lang)
        for a in d["answers"]:
            if a["language"] == lang and a["item_id"] == first:
                text = " ".join(a["text"].split()) or "(empty)"
                verdict = "refusal" if a["refusal"] else "no refusal"
                rows.append([lang, a["condition"], a["prefill"] or "", text.replace("|", "\\|"), verdict])
    return table(["language", "condition", "prefill", "continuation", "judged"], rows)


def gm_auroc(d):
    """generation_monitor: AUROC per share of the generation read, per population and method."""
    fr = d["fractions"]
    rows = [
        [population, method] + [rnd(v) for v in curve]
        for population, methods in d["auroc"].items()
        for method, curve in methods.items()
    ]
    return table(["population", "method"] + [f"{q:.0%}" for q in fr], rows)


def gm_outcomes(d):
    """generation_monitor: answered and refused harmful requests per model."""
    rows = [[key, d["models"][key], o["answered"], o["refused"]] for key, o in d["outcomes"].items()]
    return table(["model", "name", "answered (label 1)", "refused (label 0)"], rows)


TABLES = {
    "refusal_direction": {"rates": rd_rates, "nll": rd_nll, "selection": rd_selection},
    "refusal_universality": {"matrix": ru_matrix, "nll": ru_nll, "cosine": ru_cosine},
    "reasoning_language": {"mean": rl_mean, "languages": rl_languages, "examples": rl_examples},
    "mcqa_prefilling": {
        "all": mp_all,
        "languages": mp_languages,
        "top_tokens": mp_top_tokens,
        "prompt_tokens": mp_prompt_tokens,
        "answers": mp_answers,
    },
    "generation_monitor": {"auroc": gm_auroc, "outcomes": gm_outcomes},
    "prefill_attack": {
        "rates": pa_rates,
        "recovery": pa_recovery,
        "projection": pa_projection,
        "examples": pa_examples,
    },
    "contrast_check": {"cosine": cc_cosine, "pairs": cc_pairs, "probes": cc_probes},
    "language_direction_cosine": {
        "raw": ldc_raw,
        "standardised": ldc_standardised,
        "per_layer": ldc_per_layer,
        "pairwise_ceiling_last": ldc_pairwise_ceiling,
        "quarters_max": ldc_quarters_max,
        "massive": ldc_massive,
    },
    "direction_transfer": {"mean": dt_mean, "standardised": dt_standardised, "per_layer": dt_per_layer},
    "direction_intervention": {"ablation": di_ablation, "steering": di_steering, "probe_readout": di_probe},
    "probe_layers": {"best_layer": pl_best, "per_layer": pl_per_layer},
    "probe_transfer": {"accuracy": pt_matrix("accuracy"), "auroc": pt_matrix("auroc"), "by_layer": pt_by_layer},
    "probe_early": {"auroc_at": pe_auroc, "layers": pe_layers, "fractions": pe_fractions},
    "neurons_top": {
        "top": nt_top,
        "massive_majority": nt_massive_majority,
        "layers": nt_layers,
        "standardised": nt_standardised,
    },
    "neurons_activations": {"summary": na_summary},
    "neurons_editing": {"shifts": ne_shifts, "gaps": ne_gaps},
    "alignment_retrieval": {"best": ar_best, "correlation": ar_correlation, "scatter": ar_scatter},
    "refusal_transfer": {"polyrefuse": rt_rates("polyrefuse"), "multijail": rt_rates("multijail"), "scores": rt_scores},
    "patching_minimal_pairs": {"languages": pmp_languages, "total": pmp_total, "roles": pmp_roles},
    "attack_languages": {"harmful": al_rates("harmful"), "harmless": al_rates("harmless"), "k": al_k},
    "safety_tuning_diff": {"direction": std_direction, "dual": std_dual, "overlap": std_overlap},
    "safety_localization": {
        "mean": sl_mean,
        "sweep": sl_sweep,
        "half_way": sl_halfway,
        "overlap": sl_overlap,
        "swap": sl_swap,
        "freeze": sl_freeze,
    },
}


# ---------------------------------------------------------------- rendering


def _render_marker(kind: str, body: str) -> str:
    if kind == "table":
        name, _, key = body.partition(".")
        if name not in TABLES or key not in TABLES[name]:
            raise KeyError(f"no table {body!r}; known: {[f'{n}.{k}' for n in TABLES for k in TABLES[n]]}")
        return TABLES[name][key](load(name))
    parts = [p.strip() for p in body.split(" / ")]
    if len(parts) < 3:
        raise ValueError(f"value marker needs NAME / key ... / FMT: {body!r}")
    return fmt(lookup(load(parts[0]), parts[1:-1]), parts[-1])


def render(markdown: str, where: str = "") -> str:
    def sub(m: re.Match) -> str:
        try:
            return _render_marker(m.group(1), m.group(2))
        except Exception as exc:  # name the page and marker: a bare KeyError says little
            raise RuntimeError(f"{where}: marker {m.group(0)!r}: {type(exc).__name__}: {exc}") from exc

    return MARKER.sub(sub, markdown)


# ---------------------------------------------------------------- MkDocs hook entry points


def on_files(files, config):
    from mkdocs.structure.files import File

    for path in sorted(FIGURES.iterdir()):
        if path.is_file() and path.suffix in {".png", ".csv", ".json", ".md", ".html"}:
            files.append(File.generated(config, f"figures/{path.name}", abs_src_path=str(path)))
    return files


def on_page_markdown(markdown, page, config, files):
    return render(markdown, page.file.src_uri)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(render(Path(arg).read_text(encoding="utf-8"), arg))
