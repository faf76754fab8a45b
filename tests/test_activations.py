"""Tests for mechint.activations: collect (pooling, order, batching, errors, early stop) and the
streaming statistics. Tiny random models of every family; no network."""

from __future__ import annotations

import pytest
import torch
from conftest import VARIED_TEXTS
from torch.testing import assert_close

from mechint import Model, UnknownSiteError
from mechint.activations import (
    Activations,
    RunningMoments,
    collect,
    collect_stats,
    iter_batches,
)
from mechint.testing import tiny_model

TOL = dict(atol=1e-5, rtol=1e-5)

# Very different lengths, several scripts, and a one-character text; the longest is not first and the
# shortest not last, so length-sorted batching has to be undone. Seven texts: batch_size=3 gives three
# batches, the last one short.
TEXTS = VARIED_TEXTS[:7]

FAMILIES = ("llama", "gpt2", "gemma3", "qwen2", "bloom")
SITES = ["hook_resid_post", "blocks.1.attn.hook_z", "blocks.0.hook_mlp_out", "blocks.1.mlp.hook_post"]


@pytest.fixture(scope="module", params=FAMILIES)
def model(request) -> Model:
    return tiny_model(request.param, seed=0)


@pytest.fixture(scope="module")
def llama() -> Model:
    return tiny_model("llama", seed=0)


def _by_hand(model: Model, texts: list[str], sites, pool: str) -> tuple[dict[str, list[torch.Tensor]], list[int]]:
    """Per text, unpadded: the pooled activation at each site, from Model.run_with_cache alone."""
    names = [s.name for s in model.sites(sites)]
    rows: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    lengths = []
    with torch.inference_mode():
        for text in texts:
            _, cache = model.run_with_cache(text, names, logits=False)
            for n in names:
                x = cache[n][0].float()  # [pos, ...]
                rows[n].append({"last": x[-1], "mean": x.mean(0), "all": x}[pool])
            lengths.append(cache[names[0]].shape[1])
    return rows, lengths


# ---------------------------------------------------------------------------------------------
# Golden values
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pool", ["last", "mean", "all"])
def test_collect_equals_unpadded_run_with_cache(model: Model, pool: str):
    acts = collect(model, TEXTS, SITES, pool=pool, batch_size=3, progress=False)
    expected, lengths = _by_hand(model, TEXTS, SITES, pool)
    assert list(acts) == list(expected)
    assert acts.pool == pool and acts.n == len(TEXTS)
    for name, rows in expected.items():
        if pool == "all":
            assert_close(acts[name], torch.cat(rows), **TOL)
            for i, row in enumerate(rows):
                assert_close(acts.row(name, i), row, **TOL)
        else:
            assert_close(acts[name], torch.stack(rows), **TOL)
            for i, row in enumerate(rows):
                assert_close(acts.row(name, i), row, **TOL)
    if pool == "all":
        assert acts.lengths.tolist() == lengths
    else:
        assert acts.lengths is None


@pytest.mark.parametrize("pool", ["last", "mean", "all"])
def test_collect_equals_hf_hidden_states_left_padded(model: Model, pool: str):
    """hidden_states[l + 1] of the raw HF model on one left-padded batch (with the mask and the
    real-token position ids) is blocks.{l}.hook_resid_post; the last entry of hidden_states is after
    the final norm in HF, so it is ln_final.hook_normalized."""
    enc = model.tokenize(TEXTS)
    mask = enc["attention_mask"]
    assert (mask[:, 0] == 0).any(), "the batch should be left-padded"
    kwargs = dict(enc, output_hidden_states=True, use_cache=False)
    if model._takes_position_ids:
        kwargs["position_ids"] = Model.position_ids(mask)
    with torch.inference_mode():
        hidden = model.hf(**kwargs).hidden_states
    sites = ["hook_resid_post", "ln_final.hook_normalized"]
    acts = collect(model, TEXTS, sites, pool=pool, batch_size=len(TEXTS), progress=False)

    def pooled(h: torch.Tensor) -> torch.Tensor:
        rows = [h[i][mask[i].bool()] for i in range(len(TEXTS))]
        if pool == "all":
            return torch.cat(rows)
        return torch.stack([r[-1] if pool == "last" else r.mean(0) for r in rows])

    L = model.n_layers
    for layer in range(L - 1):
        assert_close(acts[f"blocks.{layer}.hook_resid_post"], pooled(hidden[layer + 1]), **TOL)
    assert_close(acts["ln_final.hook_normalized"], pooled(hidden[L]), **TOL)


def test_collect_empty_text_is_bos_only(llama: Model):
    acts = collect(llama, ["", "some text"], "blocks.1.hook_resid_post", pool="all", progress=False)
    assert acts.lengths.tolist() == [1, 10]
    _, cache = llama.run_with_cache("", "blocks.1.hook_resid_post", logits=False)
    assert_close(acts.row("blocks.1.hook_resid_post", 0), cache["blocks.1.hook_resid_post"][0], **TOL)


def _no_bos_model(family: str = "gpt2") -> Model:
    """A tiny model whose tokenizer adds no BOS token (as GPT-2's and Qwen2's): an empty text has no
    token at all."""
    from tokenizers import processors

    m = tiny_model(family, seed=0)
    m.tokenizer.backend_tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    assert m.tokenizer("")["input_ids"] == [] and len(m.tokenizer("ab")["input_ids"]) == 2
    return m


@pytest.mark.parametrize("pool", ["last", "mean", "all"])
def test_texts_without_tokens_are_refused(pool: str, tmp_path):
    """A text that tokenizes to nothing has no activation: pool="last" would read a pad position and
    "mean" give zeros, and texts that are all empty failed with a reshape error. Refused by index."""
    m = _no_bos_model()
    site = "blocks.1.hook_resid_post"
    with pytest.raises(ValueError, match=r"texts 1, 3 have no tokens"):
        collect(m, ["ab", "", "cd", ""], site, pool=pool, progress=False)
    with pytest.raises(ValueError, match=r"text 0 has no tokens"):
        collect(m, [""], site, pool=pool, progress=False)
    with pytest.raises(ValueError, match=r"no tokens"):
        collect_stats(m, ["", "xy"], site, pool=pool, progress=False)
    # through a store, filled shard by shard: the index is the text's in the whole list
    texts = TEXTS[:5] + [""] + TEXTS[5:]
    with pytest.raises(ValueError, match=r"text 5 has no tokens"):
        collect(m, texts, site, pool=pool, store=tmp_path / "s", shard_size=4, progress=False)
    # texts with tokens are unaffected
    acts = collect(m, ["ab", "cde"], site, pool=pool, progress=False)
    expected, _ = _by_hand(m, ["ab", "cde"], site, pool)
    for i, row in enumerate(expected[site]):
        assert_close(acts.row(site, i), row, **TOL)


def test_text_longer_than_learned_positions_is_refused():
    """GPT-2's learned position table has n_positions rows (256 here): a longer text raised an
    IndexError deep in the embedding. Refused up front, suggesting max_length=, which then works."""
    gpt2 = tiny_model("gpt2", seed=0)
    long_text = "a" * 300  # 301 tokens with the BOS
    site = "blocks.0.hook_resid_post"
    too_long = r"texts 1, 2 have more tokens \(up to 401\) than the 256 positions.*max_length=256"
    with pytest.raises(ValueError, match=too_long):
        collect(gpt2, ["ok", long_text, "b" * 400], site, progress=False)
    with pytest.raises(ValueError, match="max_length=256"):
        collect_stats(gpt2, [long_text], site, progress=False)
    cut = collect(gpt2, ["ok", long_text], site, max_length=256, progress=False)
    exact = collect(gpt2, [long_text[:255]], site, progress=False)  # 256 tokens: the whole table, allowed
    assert_close(cut[site][1], exact[site][0], **TOL)
    # rotary and ALiBi positions have no hard limit: a text past max_position_embeddings runs
    for family in ("llama", "bloom"):
        m = tiny_model(family, seed=0)
        assert collect(m, [long_text], site, progress=False)[site].shape == (1, m.d_model)


def test_gpt2_embedding_sites_in_any_order():
    """hook_embed (wte) and hook_pos_embed (wpe) had the same order, so the forward could stop after
    wte, before wpe ran: KeyError 'hook_pos_embed' depending on the order of the arguments."""
    gpt2 = tiny_model("gpt2", seed=0)
    names = ["hook_embed", "hook_pos_embed"]
    order = [gpt2.site(n).order for n in [*names, "blocks.0.hook_resid_pre", "ln_final.hook_normalized"]]
    assert order == sorted(order) and len(set(order)) == len(order)
    _, cache = gpt2.run_with_cache(TEXTS[:1], names, logits=False)
    for sites in (names, names[::-1], ["hook_pos_embed"], ["hook_embed"]):
        acts = collect(gpt2, TEXTS, sites, pool="all", batch_size=3, progress=False)
        assert list(acts) == sites
        for n in sites:
            assert_close(acts.row(n, 0), cache[n][0], **TOL)


# ---------------------------------------------------------------------------------------------
# Order, batching, shorthand, shapes, dtype
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pool", ["last", "mean", "all"])
def test_rows_follow_input_order_and_batch_size_does_not_matter(llama: Model, pool: str):
    runs = {bs: collect(llama, TEXTS, SITES, pool=pool, batch_size=bs, progress=False) for bs in (1, 3, 16)}
    for bs in (3, 16):
        assert list(runs[bs]) == list(runs[1])
        for name in runs[1]:
            assert_close(runs[bs][name], runs[1][name], **TOL)
        if pool == "all":
            assert torch.equal(runs[bs].lengths, runs[1].lengths)
    # reversing the texts reverses the rows
    rev = collect(llama, TEXTS[::-1], SITES, pool=pool, batch_size=3, progress=False)
    for name in rev:
        for i in range(len(TEXTS)):
            assert_close(rev.row(name, len(TEXTS) - 1 - i), runs[1].row(name, i), **TOL)


def test_shorthand_expands_to_every_layer(llama: Model):
    acts = collect(llama, TEXTS[:2], "hook_resid_post", progress=False)
    assert list(acts) == [f"blocks.{l}.hook_resid_post" for l in range(llama.n_layers)]
    star = collect(llama, TEXTS[:2], ["blocks.*.hook_mlp_out"], progress=False)
    assert list(star) == [f"blocks.{l}.hook_mlp_out" for l in range(llama.n_layers)]
    for t in acts.values():
        assert t.shape == (2, llama.d_model)
    assert acts.stack().shape == (llama.n_layers, 2, llama.d_model)


@pytest.mark.parametrize("pool", ["last", "mean", "all"])
def test_attn_hook_z_pools_per_head(model: Model, pool: str):
    acts = collect(model, TEXTS, "blocks.0.attn.hook_z", pool=pool, batch_size=4, progress=False)
    z = acts["blocks.0.attn.hook_z"]
    n = int(acts.lengths.sum()) if pool == "all" else len(TEXTS)
    assert z.shape == (n, model.n_heads, model.d_head)


def test_row_slices_for_pool_all(llama: Model):
    acts = collect(llama, TEXTS, "blocks.2.hook_resid_post", pool="all", progress=False)
    expected_lengths = [len(t.encode("utf-8")) + 1 for t in TEXTS]  # bytes + BOS
    assert acts.lengths.tolist() == expected_lengths
    assert acts.offsets.tolist() == [0] + torch.tensor(expected_lengths).cumsum(0).tolist()
    total = acts["blocks.2.hook_resid_post"]
    assert total.shape == (sum(expected_lengths), llama.d_model)
    pieces = [acts.row("blocks.2.hook_resid_post", i) for i in range(len(TEXTS))]
    assert [p.shape[0] for p in pieces] == expected_lengths
    assert torch.equal(torch.cat(pieces), total)
    # pooled Activations have no offsets
    with pytest.raises(ValueError):
        _ = collect(llama, TEXTS[:2], "blocks.0.hook_resid_post", pool="last", progress=False).offsets


def test_dtype_none_keeps_model_dtype():
    bf16 = tiny_model("llama", seed=1, dtype=torch.bfloat16)
    kept = collect(bf16, TEXTS[:3], "blocks.0.hook_resid_post", dtype=None, progress=False)
    assert kept["blocks.0.hook_resid_post"].dtype == torch.bfloat16
    default = collect(bf16, TEXTS[:3], "blocks.0.hook_resid_post", progress=False)
    assert default["blocks.0.hook_resid_post"].dtype == torch.float32
    assert torch.equal(default["blocks.0.hook_resid_post"], kept["blocks.0.hook_resid_post"].float())
    f64 = collect(bf16, TEXTS[:3], "blocks.0.hook_resid_post", dtype=torch.float64, progress=False)
    assert f64["blocks.0.hook_resid_post"].dtype == torch.float64


def test_collect_accepts_a_dataset_with_texts_and_a_single_string(llama: Model):
    class Data:
        texts = TEXTS[:3]

    a = collect(llama, Data(), "blocks.0.hook_resid_post", progress=False)
    b = collect(llama, TEXTS[:3], "blocks.0.hook_resid_post", progress=False)
    assert torch.equal(a["blocks.0.hook_resid_post"], b["blocks.0.hook_resid_post"])
    one = collect(llama, TEXTS[1], "blocks.0.hook_resid_post", progress=False)
    assert_close(one["blocks.0.hook_resid_post"][0], b["blocks.0.hook_resid_post"][1], **TOL)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.bad_input
def test_errors(llama: Model):
    with pytest.raises(ValueError, match="no texts"):
        collect(llama, [], "blocks.0.hook_resid_post", progress=False)
    with pytest.raises(ValueError, match="pool"):
        collect(llama, TEXTS, "blocks.0.hook_resid_post", pool="max", progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        collect(llama, TEXTS, "blocks.0.hook_resid_post", batch_size=0, progress=False)
    with pytest.raises(TypeError, match="strings"):
        collect(llama, ["ok", 3], "blocks.0.hook_resid_post", progress=False)
    with pytest.raises(UnknownSiteError) as err:
        collect(llama, TEXTS, "blocks.0.hook_resid_pots", progress=False)
    assert "blocks.0.hook_resid_post" in str(err.value)
    assert isinstance(err.value, KeyError)
    with pytest.raises(UnknownSiteError, match="out of range"):
        collect(llama, TEXTS, "blocks.7.hook_resid_post", progress=False)

    acts = collect(llama, TEXTS[:2], ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"], progress=False)
    with pytest.raises(KeyError) as err:
        acts["blocks.2.hook_resid_post"]
    assert "was not collected" in str(err.value) and "blocks.1.hook_resid_post" in str(err.value)


def test_errors_leave_no_hooks_behind(llama: Model):
    def count_hooks() -> int:
        return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in llama.hf.modules())

    before = count_hooks()
    with pytest.raises(UnknownSiteError):
        collect(llama, TEXTS, ["blocks.0.hook_resid_post", "blocks.0.nope"], progress=False)
    gen = iter_batches(llama, TEXTS, "blocks.0.hook_resid_post", batch_size=2, progress=False)
    next(gen)
    gen.close()  # abandoning the generator midway removes its hooks
    collect(llama, TEXTS, "hook_resid_post", progress=False)
    assert count_hooks() == before


def test_iter_batches_takes_one_text_or_a_data_set(llama: Model):
    """One string is one text (not one per character); a data set runs its .texts."""
    from mechint.data import Dataset, Example

    rows = [idx for idx, _, _ in iter_batches(llama, "héllo", "hook_resid_post", progress=False)]
    assert rows == [[0]]
    data = Dataset(Example(t, 0, "en", f"i{i}", "test") for i, t in enumerate(TEXTS[:2]))
    rows = [i for idx, _, _ in iter_batches(llama, data, "hook_resid_post", progress=False) for i in idx]
    assert sorted(rows) == [0, 1]


# ---------------------------------------------------------------------------------------------
# Memory: the forward stops after the last requested site; the LM head never runs; a pooled row does
# not keep its batch's full activation alive
# ---------------------------------------------------------------------------------------------


def _spy(module: torch.nn.Module, calls: list):
    return module.register_forward_pre_hook(lambda mod, args: calls.append(type(mod).__name__))


@pytest.mark.parametrize("pool", ["last", "all"])
def test_forward_stops_after_last_site_and_never_runs_the_lm_head(model: Model, pool: str):
    layers = model.hf.get_submodule(model.family.layers)
    final_norm = model.site("ln_final.hook_normalized").module
    head = model.hf.get_submodule(model.family.lm_head)
    later: list = []
    lm_head: list = []
    first: list = []
    handles = [_spy(layers[1], later), _spy(final_norm, later), _spy(head, lm_head), _spy(layers[0], first)]
    try:
        acts = collect(model, TEXTS, "blocks.0.hook_resid_post", pool=pool, batch_size=3, progress=False)
        assert len(first) == 3  # three batches did run layer 0
        assert later == [] and lm_head == []
        # stopping early changes nothing: compare with a full forward
        _, cache = model.run_with_cache(TEXTS[1], "blocks.0.hook_resid_post", logits=True)
        assert_close(acts.row("blocks.0.hook_resid_post", 1), _pool1(cache["blocks.0.hook_resid_post"][0], pool), **TOL)
        lm_head.clear()
        later.clear()
        # every layer, and the final norm: still no LM head
        collect(model, TEXTS, ["hook_resid_post", "ln_final.hook_normalized"], pool=pool, progress=False)
        assert lm_head == []
        assert later  # the later modules did run this time
        collect_stats(model, TEXTS, "blocks.0.hook_resid_post", pool=pool, progress=False)
        assert lm_head == []
    finally:
        for h in handles:
            h.remove()


def _pool1(x: torch.Tensor, pool: str) -> torch.Tensor:
    return x[-1] if pool == "last" else x


@pytest.mark.parametrize("pool", ["last", "mean", "all"])
def test_pooled_rows_do_not_keep_the_batch_activation_alive(llama: Model, pool: str):
    """Memory is bounded by one batch only if what a batch yields owns its storage: a view such as
    x[:, -1] of the [batch, pos, d] activation keeps the whole batch alive until the end of collect."""
    long_texts = [t * 4 for t in TEXTS]
    for _, batch, _ in iter_batches(llama, long_texts, "hook_resid_post", pool=pool, batch_size=3, progress=False):
        for name, t in batch.items():
            owned = t.numel() * t.element_size()
            held = int(t.untyped_storage().nbytes())
            assert held == owned, (
                f"{name} (pool={pool!r}, shape {tuple(t.shape)}) keeps {held} bytes of storage alive for "
                f"{owned} bytes of data: a view of the whole batch activation"
            )


# ---------------------------------------------------------------------------------------------
# Streaming statistics
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pool", ["all", "last", "mean"])
def test_collect_stats_equal_torch(llama: Model, pool: str):
    sites = ["blocks.0.hook_resid_post", "blocks.2.hook_resid_post", "blocks.1.attn.hook_z"]
    stats = collect_stats(llama, TEXTS, sites, pool=pool, batch_size=3, progress=False)
    acts = collect(llama, TEXTS, sites, pool=pool, batch_size=3, dtype=torch.float64, progress=False)
    assert list(stats) == sites
    for name in sites:
        x = acts[name]
        st = stats[name]
        assert st.count == x.shape[0]
        assert st.mean.shape == x.shape[1:]
        assert_close(st.mean, x.mean(0), atol=1e-9, rtol=1e-9)
        assert_close(st.var, x.var(0), atol=1e-9, rtol=1e-9)
        assert_close(st.std, x.std(0), atol=1e-9, rtol=1e-9)


def test_running_moments_merge_equals_one_pass():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(97, 5, 3, generator=gen) * 3 + 7
    one = RunningMoments().update(x)
    assert one.count == 97
    assert_close(one.mean, x.double().mean(0))
    assert_close(one.var, x.double().var(0))
    a, b = RunningMoments(), RunningMoments()
    for chunk in x[:40].split(7):
        a.update(chunk)
    for chunk in x[40:].split(1):  # single rows too
        b.update(chunk)
    for merged in (a + b, b + a):
        assert merged.count == 97
        assert_close(merged.mean, one.mean)
        assert_close(merged.var, one.var)
    # merging does not change the operands
    assert a.count == 40 and b.count == 57
    # merging with an empty one is the identity
    for merged in (a + RunningMoments(), RunningMoments() + a):
        assert merged.count == a.count
        assert_close(merged.mean, a.mean)
        assert_close(merged.var, a.var)


def test_running_moments_empty_updates_are_no_ops():
    rm = RunningMoments()
    rm.update(torch.empty(0, 4))
    assert rm.count == 0
    with pytest.raises(ValueError):
        _ = rm.mean
    with pytest.raises(ValueError):
        _ = rm.var
    x = torch.randn(6, 4)
    rm.update(x)
    mean, var = rm.mean.clone(), rm.var.clone()
    rm.update(torch.empty(0, 4))
    assert rm.count == 6
    assert torch.equal(rm.mean, mean) and torch.equal(rm.var, var)
    # one row: variance 0, not nan
    single = RunningMoments().update(x[:1])
    assert torch.equal(single.var, torch.zeros(4, dtype=torch.float64))
    assert "count=6" in repr(rm)


def test_activations_mapping_basics():
    t = {"a": torch.zeros(3, 2), "b": torch.ones(3, 2)}
    acts = Activations(t, "last")
    assert len(acts) == 2 and list(acts) == ["a", "b"] and acts.n == 3
    assert acts.stack(["b"]).shape == (1, 3, 2)
    assert "Activations(pool='last', n=3" in repr(acts)
    packed = Activations({"a": torch.arange(6.0)[:, None]}, "all", torch.tensor([1, 0, 5]))
    assert acts.row("b", 1).tolist() == [1.0, 1.0]
    assert packed.n == 3
    assert packed.row("a", 1).shape == (0, 1)
    assert packed.row("a", 2)[:, 0].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
