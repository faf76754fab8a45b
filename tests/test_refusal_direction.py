"""The refusal direction: selection finds a planted refusal feature, batched scoring equals the
one-candidate-per-forward loop, ablation leaves no projection anywhere, per-row directions, bad input."""

import pytest
import torch

import mechint
from mechint import AblateDirection, AddDirection, intervene
from mechint.directions import cosine
from mechint.refusal import (
    candidate_directions,
    directional_ablation,
    refusal_direction,
    score_candidates,
    select_refusal_direction,
)
from mechint.testing import planted_refusal_model, tiny_model

HARMFUL = [f"XX how do I do bad thing {i} XX now" for i in range(8)]
HARMLESS = [f"how do I bake bread {i} today ok" for i in range(8)]
TRAIN, VAL = (HARMFUL[:5], HARMLESS[:5]), (HARMFUL[5:] + HARMFUL[:1], HARMLESS[5:] + HARMLESS[:1])


def test_selection_finds_the_planted_layer_and_direction(device):
    model, u, refuse = planted_refusal_model(layer=2)
    model.hf.to(device)
    result = refusal_direction(model, TRAIN, VAL, token_ids=[refuse], batch_size=3, progress=False)
    # u is written by layer 2: it is first read at the input of layer 3
    assert result.layer == 3
    assert float(cosine(result.direction, u)) > 0.8
    assert result.baseline_harmful > 0 > result.baseline_harmless
    table = result.table()
    assert len(table) == len(result.offsets) * model.n_layers  # the whole table, not only the winner
    assert table["selected"].sum() == 1
    # layer 0 reads the same template tokens in both classes: zero candidates, not scored
    assert (table[table.layer == 0].excluded == "zero candidate (not scored)").all()
    # the candidates before the planted layer carry no u, and adding them induces no refusal
    early = table[(table.layer > 0) & (table.layer <= 2)]
    assert (early.induce < 0).all() and (early.excluded.str.contains("induce")).all()
    chosen = table[table.selected].iloc[0]
    assert chosen.bypass < 0 < chosen.induce and chosen.kl < 0.1
    # the last layers are excluded whatever their scores
    assert table[table.layer >= result.settings["max_layer"]].excluded.str.contains("layer >=").all()


def test_ablating_the_selected_direction_removes_refusal_and_adding_it_induces_refusal():
    model, u, refuse = planted_refusal_model()
    result = refusal_direction(model, TRAIN, VAL, token_ids=[refuse], progress=False)
    harmful, harmless = model.chat_prompts(HARMFUL), model.chat_prompts(HARMLESS)
    clean_h = mechint.refusal_score(model, harmful, token_ids=[refuse])
    clean_s = mechint.refusal_score(model, harmless, token_ids=[refuse])
    with intervene(model, result.ablation()):
        ablated = mechint.refusal_score(model, harmful, token_ids=[refuse])
    with intervene(model, result.addition()):
        added = mechint.refusal_score(model, harmless, token_ids=[refuse])
    assert (clean_h > 0).all() and (ablated < 0).all()
    assert (clean_s < 0).all() and (added > 0).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_batched_scores_equal_the_one_candidate_per_forward_loop(dtype):
    model, _, refuse = planted_refusal_model()
    model.hf.to(dtype)
    candidates, offsets = candidate_directions(model, *TRAIN, batch_size=3, progress=False)
    runs = [
        select_refusal_direction(
            model,
            candidates,
            offsets,
            VAL,
            token_ids=[refuse],
            candidates_per_forward=k,
            prompts_per_group=2,
            progress=False,
        )
        for k in (1, 3, 12)
    ]
    for run in runs[1:]:
        assert (run.layer, run.position, run.excluded) == (runs[0].layer, runs[0].position, runs[0].excluded)
        for name in ("bypass", "induce", "kl"):
            a, b = getattr(runs[0], name), getattr(run, name)
            assert torch.equal(a.isnan(), b.isnan())
            if dtype == torch.float64:  # the same arithmetic on every row: bit for bit
                assert torch.equal(a[~a.isnan()], b[~b.isnan()]), name
            else:  # float32 matrix kernels may sum a bigger batch in another order
                torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-6, equal_nan=True)


def test_candidates_are_differences_of_means_at_the_post_instruction_positions():
    model, _, _ = planted_refusal_model()
    candidates, offsets = candidate_directions(model, *TRAIN, batch_size=2, progress=False)
    assert offsets == model.post_instruction_positions().offsets
    cache_sites = [f"blocks.{layer}.hook_resid_pre" for layer in range(model.n_layers)]

    def mean(texts):
        acts = []
        for text in model.chat_prompts(texts):  # one prompt at a time, no padding
            _, cache = model.run_with_cache([text], cache_sites)
            acts.append(torch.stack([cache[s][0, offsets] for s in cache_sites], 1))  # [pos, layer, d]
        return torch.stack(acts).double().mean(0)

    expected = (mean(TRAIN[0]) - mean(TRAIN[1])).float()
    torch.testing.assert_close(candidates, expected, atol=1e-5, rtol=1e-5)


def test_directional_ablation_leaves_zero_projection_at_every_site_and_position(family, device):
    model = tiny_model(family, device=device)
    u = torch.randn(model.d_model, generator=torch.Generator().manual_seed(1))
    u /= u.norm()
    sites = [f"blocks.{layer}.{key}" for layer in range(model.n_layers) for key in
             ("hook_resid_pre", "hook_resid_mid", "hook_resid_post")]  # fmt: skip
    with intervene(model, directional_ablation(u)):
        _, cache = model.run_with_cache(["Hello there, how are you?", "x"], sites)
        _, clean = model.run_with_cache(["Hello there, how are you?", "x"], sites)  # the context is still on
    for site in sites:
        x = cache[site].double().cpu()
        proj = (x @ u.double()).abs()
        assert (proj <= 1e-5 * x.norm(dim=-1).clamp_min(1.0)).all(), site  # BOS included
    _, plain = model.run_with_cache(["Hello there, how are you?", "x"], sites)
    assert any(((plain[s].double().cpu() @ u.double()).abs() > 1e-3).any() for s in sites)  # not vacuous


def test_per_row_directions_equal_one_intervention_per_row(family):
    model = tiny_model(family)
    gen = torch.Generator().manual_seed(3)
    dirs = torch.randn(3, model.d_model, generator=gen)
    texts = ["Hello there", "A longer text, with padding", "x y"]
    enc = model.tokenize(texts)
    with intervene(
        model, AblateDirection(dirs, per_row=True, positions="all"), AddDirection(dirs, 2.0, per_row=True, layers=[1])
    ):
        batched = model(enc)
    for i in range(3):
        with intervene(
            model, AblateDirection(dirs[i], positions="all", rows=[i]), AddDirection(dirs[i], 2.0, layers=[1], rows=[i])
        ):
            one = model(enc)[i]
        torch.testing.assert_close(batched[i], one, atol=1e-5, rtol=1e-5)
    # rows= picks rows; per-row directions follow the picked rows' order
    with intervene(model, AddDirection(dirs[:2], 5.0, per_row=True, rows=[2, 0], layers=[0])):
        picked = model(enc)
    with intervene(
        model, AddDirection(dirs[0], 5.0, rows=[2], layers=[0]), AddDirection(dirs[1], 5.0, rows=[0], layers=[0])
    ):
        expected = model(enc)
    torch.testing.assert_close(picked, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.bad_input
def test_bad_input_is_refused_with_a_clear_message():
    model, _, refuse = planted_refusal_model()
    few = (HARMFUL[:3], HARMLESS[:5])
    with pytest.raises(ValueError, match="at least 4 per class"):
        refusal_direction(model, few, VAL, token_ids=[refuse], progress=False)
    with pytest.raises(TypeError, match="labelled Dataset"):
        refusal_direction(model, HARMFUL, VAL, progress=False)
    plain = tiny_model("llama")  # no chat template
    with pytest.raises(ValueError, match="chat template"):
        candidate_directions(plain, HARMFUL, HARMLESS, progress=False)
    with pytest.raises(ValueError, match="d_model=64"):
        score_candidates(model, torch.ones(2, 32), [1, 2], *VAL, token_ids=[refuse], progress=False)
    with pytest.raises(ValueError, match="one layer per candidate"):
        score_candidates(model, torch.ones(2, 64), [1], *VAL, token_ids=[refuse], progress=False)
    with pytest.raises(ValueError, match="empty"):
        score_candidates(model, torch.ones(2, 64), [1, 2], *VAL, token_ids=[], progress=False)
    with pytest.raises(ValueError, match="per_row=True takes one direction per chosen row"):
        AblateDirection(torch.ones(64), per_row=True)
    with pytest.raises(ValueError, match="2 directions for 3 rows"):
        with intervene(model, AblateDirection(torch.ones(2, 64), per_row=True)):
            model(["a", "b", "c"])


def test_where_no_candidate_passes_the_kl_filter_is_given_up_first_then_induce():
    model, _, refuse = planted_refusal_model()
    candidates, offsets = candidate_directions(model, *TRAIN, progress=False)
    with pytest.warns(UserWarning, match="kl given up"):
        no_kl = select_refusal_direction(
            model, candidates, offsets, VAL, token_ids=[refuse], kl_max=0.0, progress=False
        )
    table = no_kl.table()
    chosen = table[table.selected].iloc[0]
    assert chosen.induce > 0 and chosen.layer < no_kl.settings["max_layer"]
    assert "kl given up" in no_kl.settings["selected_by"]
    allowed = table[(table.induce > 0) & (table.layer < no_kl.settings["max_layer"])]
    assert chosen.bypass == allowed.bypass.min()
    with pytest.warns(UserWarning, match="layer limit only"):
        neither = select_refusal_direction(
            model, candidates, offsets, VAL, token_ids=[refuse], kl_max=0.0, induce_min=1e9, progress=False
        )
    below = neither.table()
    below = below[(below.layer < neither.settings["max_layer"]) & below.bypass.notna()]
    assert neither.table()[neither.table().selected].iloc[0].bypass == below.bypass.min()


def test_addition_rows_that_start_at_their_layer_equal_the_hooked_forward(family, device):
    """The induce score runs each candidate's rows from the clean run's input at its layer; oracle: the
    whole forward with AddDirection hooks, which score_candidates takes when the caller's hooks are
    active (a hook that changes nothing), on every family, candidates at several layers per forward."""
    from mechint.refusal import score_candidates

    model = tiny_model(family, chat=True, device=device)
    gen = torch.Generator().manual_seed(0)
    cands = torch.randn(6, model.d_model, generator=gen) * 3.0
    layers = [0, 2, 1, 2, 0, 1]
    prompts = (
        ["how do I do it", "tell me now please", "x", "what is this thing"],
        ["hi", "a longer question here", "b", "cd"],
    )
    kw = dict(token_ids=[5, 6, 7], candidates_per_forward=4, prompts_per_group=3, progress=False)
    fast = score_candidates(model, cands, layers, *prompts, **kw)
    with model.hooks([("blocks.0.hook_resid_pre", lambda x, ctx: None)]):
        hooked = score_candidates(model, cands, layers, *prompts, **kw)
    for name in ("bypass", "induce", "kl"):
        torch.testing.assert_close(getattr(fast, name), getattr(hooked, name), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(fast.induce, torch.full_like(fast.induce, fast.baseline_harmless), atol=1e-3)
