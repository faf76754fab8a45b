"""Monitoring a generation (mechint.monitor): activations on generated tokens against a forward over
prompt + generation, the streaming monitor's scores against the probe on those activations, stopping
per row in left-padded batches, token -> character spans, prediction from the first q% of a
generation (probe and bag of words), and clear errors for bad input."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import assert_site_close

import mechint
from mechint.monitor import (
    ProbeMonitor,
    bag_of_words,
    generate_with_activations,
    monitor_generation,
    prefix_probe_auroc,
    text_prefix_auroc,
    token_spans,
    words,
)
from mechint.probes import fit_probes
from mechint.stats import auroc

# prompts of different lengths (byte tokenizer: one token per UTF-8 byte), so batches are left-padded
PROMPTS = ["Hello there, how are you", "如何", "x", "Bonjour à tous"]
SITE = "blocks.1.hook_resid_post"
FAMILIES = ["llama", "gemma3", "gpt2", "bloom", "qwen2"]


def _probe(d: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(60, d, generator=gen)
    return fit_probes(x, (x[:, 0] + 0.5 * x[:, 1] > 0).long())


@pytest.mark.parametrize("family", FAMILIES)
def test_generated_activations_equal_forward_over_prompt_and_generation(family, device, make_model):
    model = make_model(family, device=device)
    sites = [SITE, "blocks.2.hook_mlp_out"]
    # gemma3's tiny config has a sliding window of 8: 12 new tokens after these prompts run past it
    gen = generate_with_activations(model, PROMPTS, sites, max_new_tokens=12, batch_size=3)
    assert gen.prompts == PROMPTS
    for i, prompt in enumerate(PROMPTS):
        new = gen.token_ids[i]
        assert new.numel() == gen.lengths[i] > 0
        prompt_ids = model.tokenizer(prompt)["input_ids"]
        full = torch.tensor([prompt_ids + new.tolist()])
        _, cache = model.run_with_cache(full, sites)
        for s in sites:
            got = gen.activations.row(s, i)
            assert_site_close(got, cache[s][0, len(prompt_ids) :], name=f"{family} {s} row {i}")
    # the generation is what plain generate gives (greedy): the hooks change nothing
    plain = model.generate(PROMPTS, max_new_tokens=12)
    for i in range(len(PROMPTS)):
        assert plain[i].startswith(gen.texts[i])


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_monitor_scores_equal_probe_on_collected_activations(family, device, make_model):
    model = make_model(family, device=device)
    probe = _probe(model.d_model).to(device)
    seen = []
    gen = monitor_generation(
        model, PROMPTS, probe, SITE, record=SITE, max_new_tokens=10, on_step=lambda t, s: seen.append(t)
    )
    assert gen.scores.shape == (len(PROMPTS), 10)
    for i in range(len(PROMPTS)):
        n = int(gen.lengths[i])
        expected = probe.decision_function(gen.activations.row(SITE, i).to(device)).float().cpu()
        torch.testing.assert_close(gen.scores[i, :n], expected, rtol=1e-5, atol=1e-5)
        assert torch.isnan(gen.scores[i, n:]).all()
    assert seen == list(range(10))  # one report per generated token (one batch)
    # and against a separate collection of the same (greedy) generation
    other = generate_with_activations(model, PROMPTS, SITE, max_new_tokens=10)
    for i in range(len(PROMPTS)):
        assert torch.equal(other.token_ids[i], gen.token_ids[i])
        expected = probe.decision_function(other.activations.row(SITE, i).to(device)).float().cpu()
        torch.testing.assert_close(gen.scores[i, : gen.lengths[i]], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_stopping_stops_each_row_at_its_crossing(family, make_model):
    model = make_model(family)
    probe = _probe(model.d_model, seed=1)
    free = monitor_generation(model, PROMPTS, probe, SITE, max_new_tokens=10)
    # a threshold some rows reach at different tokens and some never
    threshold = float(free.scores[:, :10].nan_to_num(-math.inf).max(1).values.median())
    crossed = free.scores >= threshold
    expected = [int(c.long().argmax()) + 1 if bool(c.any()) else int(free.lengths[i]) for i, c in enumerate(crossed)]
    assert len(set(expected)) > 1 and any(not bool(c.any()) for c in crossed)
    stopped = monitor_generation(model, PROMPTS, probe, SITE, threshold=threshold, max_new_tokens=10)
    assert stopped.lengths.tolist() == expected
    assert stopped.stopped.tolist() == [bool(c.any()) for c in crossed]
    for i in range(len(PROMPTS)):
        n = expected[i]
        assert torch.equal(stopped.token_ids[i], free.token_ids[i][:n])  # other rows unaffected
        torch.testing.assert_close(stopped.scores[i, :n], free.scores[i, :n], rtol=1e-5, atol=1e-5)
        if stopped.stopped[i]:
            assert stopped.scores[i, n - 1] >= threshold and (stopped.scores[i, : n - 1] < threshold).all()


def test_monitor_hook_with_plain_generate_ends_generation(make_model):
    model = make_model("llama")
    monitor = ProbeMonitor(_probe(model.d_model), threshold=-math.inf)  # every row crosses at token 0
    with model.hooks([(SITE, monitor)]):
        out = model.generate(
            PROMPTS, max_new_tokens=10, return_tokens=True, stopping_criteria=[monitor.stopping_criteria()]
        )
    width = model.tokenize(PROMPTS)["input_ids"].shape[1]
    assert out.shape[1] == width + 2  # token 0 scored in the step that generated token 1: stopped there
    assert monitor.scores.shape == (len(PROMPTS), 1)
    gen = monitor_generation(model, PROMPTS, monitor.probe, SITE, threshold=-math.inf, max_new_tokens=10)
    assert gen.lengths.tolist() == [1] * len(PROMPTS) and gen.stopped.all()


def test_eos_ends_a_row(make_model):
    model = make_model("llama")
    eos = model.tokenizer.eos_token_id
    # declare the third generated token an EOS token: the row ends before it
    free = generate_with_activations(model, PROMPTS[:1], SITE, max_new_tokens=6)
    stop = int(free.token_ids[0][2])
    n = free.token_ids[0].tolist().index(stop)  # the first time that token comes
    gen = generate_with_activations(model, PROMPTS[:1], SITE, max_new_tokens=6, eos_token_id=[eos, stop])
    assert gen.lengths.tolist() == [n] and gen.eos.tolist() == [True]
    assert torch.equal(gen.token_ids[0], free.token_ids[0][:n])
    assert torch.equal(gen.activations[SITE], free.activations[SITE][:n])


def test_token_spans_match_decoded_text(tokenizer):
    text = "Hi 如何 à!"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    decoded, spans = token_spans(tokenizer, ids + [tokenizer.eos_token_id])
    assert decoded == text
    assert spans[-1].tolist() == [len(text), len(text)]  # a special token adds no text
    pieces = []
    for k, (a, b) in enumerate(spans[:-1].tolist()):
        piece = tokenizer.decode([ids[k]])
        if "\ufffd" not in piece:
            assert text[a:b] == piece
        else:  # a byte of a multi-byte character: the character's span
            assert b - a == 1 and len(text[a:b].encode()) > 1
        if not pieces or pieces[-1] != (a, b):
            pieces.append((a, b))
    assert "".join(text[a:b] for a, b in pieces) == text
    assert spans[3].tolist() == spans[4].tolist() == spans[5].tolist() == [3, 4]  # 如: three bytes


def test_generation_spans_and_prefixes(make_model):
    model = make_model("gpt2")
    gen = generate_with_activations(model, PROMPTS, SITE, max_new_tokens=8)
    fractions = [0.25, 0.5, 1.0]
    k = gen.prefix_lengths(fractions)
    texts = gen.prefix_texts(fractions)
    acts = gen.prefix_activations(SITE, fractions)
    last = gen.prefix_activations(SITE, fractions, pool="last")
    for i in range(len(gen)):
        assert gen.texts[i] == model.tokenizer.decode(gen.token_ids[i], skip_special_tokens=True)
        assert int(gen.spans[i][-1, 1]) == len(gen.texts[i])
        for q in range(len(fractions)):
            n = int(k[q, i])
            assert n == max(1, math.ceil(fractions[q] * int(gen.lengths[i])))
            row = gen.activations.row(SITE, i)
            torch.testing.assert_close(acts[q, i], row[:n].mean(0), rtol=1e-5, atol=1e-5)
            assert torch.equal(last[q, i], row[n - 1])
            assert gen.texts[i].startswith(texts[q][i])
    assert [t[i] for t in texts[-1:] for i in range(len(gen))] == gen.texts
    sub = gen.select([2, 0])
    assert sub.texts == [gen.texts[2], gen.texts[0]]
    assert torch.equal(sub.activations.row(SITE, 1), gen.activations.row(SITE, 0))


def test_words_and_bag_of_words():
    assert words("Hello, WORLD 42! 如何制作 ok") == ["hello", "world", "42", "如", "何", "制", "作", "ok"]
    x, vocab = bag_of_words(["a b a", "b c", "c c c"], min_df=2)
    assert vocab == ["b", "c"]
    assert x.tolist() == [[1, 0], [1, 1], [0, 3]]
    y, _ = bag_of_words(["c d"], vocab)
    assert y.tolist() == [[0, 1]]


def test_prefix_aurocs():
    gen = torch.Generator().manual_seed(0)
    n, fractions = 40, [0.5, 1.0]
    labels = torch.arange(n) % 2
    folds = (torch.arange(n) // 2) % 4  # both labels in every fold
    # the label shows in the features only in whole generations; at half of them it is noise
    feats = torch.randn(2, n, 8, generator=gen)
    feats[1, :, 0] += 4 * (2 * labels - 1)
    res = prefix_probe_auroc(feats, labels, folds, fractions=fractions)
    assert res.fold_auroc.shape == (4, 2) and res.scores.shape == (2, n)
    assert res.auroc[1] == 1.0 and res.auroc[0] < 0.9
    torch.testing.assert_close(res.pooled_auroc, auroc(res.scores, labels))
    # the text baseline: "bomb" appears in the second half of the harmful texts only
    half = ["step one of the recipe" if i % 3 else "first do this" for i in range(n)]
    whole = [h + (" then the bomb" if labels[i] else " then the cake") for i, h in enumerate(half)]
    text = text_prefix_auroc([half, whole], labels, folds, fractions=fractions)
    assert text.auroc[1] == 1.0 and text.auroc[0] < 0.9
    assert text.method == "bag of words"
    torch.testing.assert_close(text.pooled_auroc, auroc(text.scores, labels))


def test_prefix_monitor_auroc_on_a_generation(make_model):
    model = make_model("llama")
    prompts = [f"prompt {i} " + "ab"[i % 2] * (i % 5 + 1) for i in range(12)]
    gen = generate_with_activations(model, prompts, SITE, max_new_tokens=5)
    labels = torch.tensor([i % 2 for i in range(12)])
    curves = mechint.monitor.prefix_monitor_auroc(gen, labels, torch.arange(12) % 3, SITE, fractions=[0.4, 1.0])
    table = curves.table()
    assert [r["fraction"] for r in table] == [0.4, 1.0]
    assert all(0 <= r["probe_auroc"] <= 1 and 0 <= r["text_auroc"] <= 1 for r in table)


@pytest.mark.bad_input
def test_bad_input_is_refused_clearly(make_model):
    model = make_model("gpt2")
    probe = _probe(model.d_model)
    with pytest.raises(mechint.UnknownSiteError, match="hook_resid_post"):
        generate_with_activations(model, PROMPTS, "blocks.1.hook_resid_pots")
    with pytest.raises(mechint.UnknownSiteError, match="did you mean|nearest"):
        monitor_generation(model, PROMPTS, probe, "blocks.1.hook_resid_pots")
    with pytest.raises(ValueError, match=f"width {model.d_model}.* width {model.d_mlp}"):
        monitor_generation(model, PROMPTS, probe, "blocks.1.mlp.hook_post")
    with pytest.raises(ValueError, match="width"):
        monitor = ProbeMonitor(_probe(32))
        with model.hooks([(SITE, monitor)]):
            model.generate(PROMPTS, max_new_tokens=2)
    with pytest.raises(ValueError, match="empty"):
        monitor_generation(model, ["fine", ""], probe, SITE)
    with pytest.raises(ValueError, match="no prompts"):
        generate_with_activations(model, [], SITE)
    with pytest.raises(ValueError, match="one probe"):
        ProbeMonitor(fit_probes(torch.randn(2, 20, 64), torch.arange(20) % 2))
    with pytest.raises(TypeError, match="Probe"):
        ProbeMonitor(torch.zeros(64))
    with pytest.raises(ValueError, match="stopping_criteria"):
        generate_with_activations(model, PROMPTS, SITE, stopping_criteria=[])
    gen = generate_with_activations(model, PROMPTS[:1], SITE, max_new_tokens=2, eos_token_id=list(range(259)))
    with pytest.raises(ValueError, match="no tokens"):
        gen.prefix_activations(SITE)
