"""Bilingual sentence retrieval (``mechint.alignment``): accuracy 1 on identical sets, chance on
shuffled pairs, mean-pooled embeddings equal to one-by-one hand computations on every family."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import TEXTS, assert_site_close

from mechint.alignment import (
    RetrievalMatrix,
    bilingual_retrieval,
    retrieval,
    retrieval_matrix,
    sentence_embeddings,
)
from mechint.testing import FAMILY_NAMES, tiny_model


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_identical_sets_retrieve_perfectly():
    a = _randn(4, 50, 32)
    for center in (False, True):
        r = retrieval(a, a.clone(), center=center)
        assert torch.equal(r.a_to_b, torch.ones(4)) and torch.equal(r.b_to_a, torch.ones(4))
        torch.testing.assert_close(r.mean_cosine, torch.ones(4))
        assert r.chance == pytest.approx(1 / 50)
    one = retrieval(a[0], a[0])  # a single layer [n, d]
    assert one.accuracy.shape == (1,) and float(one.accuracy) == 1.0


def test_shuffled_pairs_retrieve_at_chance():
    n = 200
    a = _randn(3, n, 64, seed=1)
    b = a + 0.3 * _randn(3, n, 64, seed=2)  # translations: close to their pair
    assert retrieval(a, b).accuracy.min() == 1.0
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(3))
    shuffled = retrieval(a, b[:, perm])  # pairs broken: row i of b is no longer row i's translation
    # expected accuracy = (fixed points of the permutation) / n = 1 / n on average
    fixed = int((perm == torch.arange(n)).sum())
    assert shuffled.a_to_b.max() <= (fixed + 2) / n and shuffled.b_to_a.max() <= (fixed + 2) / n
    assert float(shuffled.accuracy.mean()) < 5 / n
    assert float(shuffled.mean_cosine.abs().max()) < 0.1  # unrelated random pairs: cosine near 0


@pytest.mark.bad_input
def test_retrieval_counts_each_direction_and_the_true_pair_cosine():
    # a: 3 sentences; b's sentence 2 sits closer to a's sentence 0 than b's sentence 0 does
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.2]])
    b = torch.tensor([[0.8, 0.6], [0.0, 1.0], [1.0, 0.05]])
    r = retrieval(a, b)
    # a->b: a0 -> b2 (miss), a1 -> b1, a2 -> b1 (miss: cos(a2, b) = [-0.68, 0.20, -0.96])
    assert float(r.a_to_b) == pytest.approx(1 / 3)
    # b->a: b0 -> a0, b1 -> a1, b2 -> a0 (miss)
    assert float(r.b_to_a) == pytest.approx(2 / 3)
    cos = torch.nn.functional.cosine_similarity(a, b, dim=-1).mean()
    assert float(r.mean_cosine) == pytest.approx(float(cos), abs=1e-6)
    with pytest.raises(ValueError, match="parallel"):
        retrieval(a, b[:2])


def test_retrieval_matrix_every_pair_both_ways():
    base = _randn(2, 40, 16, seed=4)
    emb = {"en": base, "zh": base + 0.1 * _randn(2, 40, 16, seed=5), "th": _randn(2, 40, 16, seed=6)}
    m = retrieval_matrix(emb)
    assert isinstance(m, RetrievalMatrix) and m.accuracy.shape == (2, 3, 3) and m.languages == ["en", "zh", "th"]
    assert torch.equal(m.accuracy.diagonal(dim1=1, dim2=2), torch.ones(2, 3))
    torch.testing.assert_close(m.mean_cosine, m.mean_cosine.transpose(1, 2))
    pair = retrieval(emb["zh"], emb["en"])
    torch.testing.assert_close(m.pair("zh", "en").a_to_b, pair.a_to_b)
    torch.testing.assert_close(m.pair("zh", "en").b_to_a, pair.b_to_a)
    torch.testing.assert_close(m.pair("zh", "en").mean_cosine, pair.mean_cosine)
    against = m.against("en")
    assert set(against) == {"zh", "th"} and float(against["zh"].min()) == 1.0 and float(against["th"].max()) < 0.2
    with pytest.raises(ValueError, match="two languages"):
        retrieval_matrix({"en": base})


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_sentence_embeddings_are_mean_residuals_without_bos(family, device):
    model = tiny_model(family, device=device)
    emb = sentence_embeddings(model, TEXTS, layers=[0, 2], batch_size=3)  # padded batches
    assert emb.shape == (2, len(TEXTS), model.d_model)
    bos = model.tokenizer.bos_token_id
    for i, text in enumerate(TEXTS):
        ids = model.to_tokens(text)
        _, cache = model.run_with_cache(ids, ["blocks.0.hook_resid_post", "blocks.2.hook_resid_post"])
        keep = ids[0] != bos
        for row, layer in enumerate((0, 2)):
            by_hand = cache[f"blocks.{layer}.hook_resid_post"][0][keep].float().mean(0).cpu()
            assert_site_close(emb[row, i], by_hand, name=f"{family} text {i} layer {layer}")
    assert sentence_embeddings(model, TEXTS[:1]).shape == (model.n_layers, 1, model.d_model)


def test_bilingual_retrieval_on_a_model():
    model = tiny_model("llama", seed=7)
    words = ["apple tree", "blue ocean wave", "quiet night", "red car", "snow on mountains", "old book shop"]
    same = bilingual_retrieval(model, {"a": words, "b": list(words)})
    assert torch.equal(same.accuracy, torch.ones(model.n_layers, 2, 2))
    shuffled = bilingual_retrieval(model, {"a": words, "b": words[1:] + words[:1]})  # every pair broken
    assert float(shuffled.accuracy[:, 0, 1].max()) < 1.0
    with pytest.raises(ValueError, match="same length"):
        bilingual_retrieval(model, {"a": words, "b": words[:3]})


def test_alignment_study_runs_on_a_tiny_model(tmp_path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))
    from test_neurons import html_only

    from experiments import alignment_retrieval as study

    html_only(monkeypatch, study)
    model = tiny_model("llama", seed=2)
    out = study.run(model, tmp_path / "figs", n_items=12, n_per_class=8, languages=("en", "zh", "vi", "ar", "th", "de"))
    summary = json.loads((tmp_path / "figs" / "alignment_retrieval.json").read_text())
    assert set(summary["best_layer_vs_en"]) == {"zh", "vi", "ar", "th", "de"}
    assert summary["correlation"]["retrieval best layer vs AUROC best layer"]["n"] == 4
    assert set(summary["scatter"]) == {"zh", "vi", "ar", "th"}
    acc = summary["accuracy[layer][src][tgt]"]
    assert len(acc) == model.n_layers and all(acc[l][i][i] == 1.0 for l in range(model.n_layers) for i in range(6))
    assert len(out["figures"]) == 4
    # the best AUROCs over layers it recomputes are direction_transfer's (the same data, split and direction)
    from experiments import direction_transfer

    html_only(monkeypatch, direction_transfer)
    direction_transfer.run(model, tmp_path / "figs", n_per_class=8)
    per = json.loads((tmp_path / "figs" / "direction_transfer.json").read_text())["methods"]["mean"]["per_language"]
    for lang, point in summary["scatter"].items():
        assert round(point["auroc"], 4) == per[lang]["english_direction"]["auroc_best_on_test"], lang


def test_study_correlations_with_exact_permutation_p_values():
    from experiments.alignment_retrieval import _correlations

    c = _correlations([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 5.0])
    assert c["spearman"] == pytest.approx(1.0) and c["pearson"] == pytest.approx(0.9827, abs=1e-4)
    assert c["spearman_p"] == pytest.approx(2 / 24, abs=1e-4)  # the ordering and its reverse, of 24
    assert _correlations([1.0, 2.0], [2.0, 1.0])["pearson"] is None


def test_sentence_embeddings_reject_layers_out_of_range_and_take_one_string():
    model = tiny_model("llama")
    with pytest.raises(ValueError, match="layer 5 is out of range"):
        sentence_embeddings(model, ["ab", "cd"], layers=[5])
    assert sentence_embeddings(model, "hello").shape == (model.n_layers, 1, model.d_model)
    torch.testing.assert_close(
        sentence_embeddings(model, ["ab", "cd"], layers=[-1]), sentence_embeddings(model, ["ab", "cd"], layers=[2])
    )
