"""Interventions (``mechint.interventions``) against hand computations and the raw hook engine.

Each intervention is checked where it writes (read back by a ``save`` hook registered after it), in
the logits, around ``collect`` and inside ``generate`` (KV cache on), on every family, on the CPU and
on CUDA where there is one, in float32 and in bfloat16 (within the band of ``conftest.py``).
"""

from __future__ import annotations

import pytest
import torch
from conftest import BF16_REL_TOL, TEXTS, as_dtype, assert_site_close, random_tokens
from torch import nn

from mechint import add_value, collect, record, set_value
from mechint.interventions import (
    AblateDirection,
    AddDirection,
    EditNeurons,
    hook_pairs,
    intervene,
)
from mechint.sites import UnknownSiteError
from mechint.testing import FAMILY_NAMES, tiny_model

N_NEW = 6


def _randn(*shape, seed=0, device="cpu") -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).to(device)


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True)


def _hook_count(module: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())


def _rel_projection(x: torch.Tensor, u: torch.Tensor) -> float:
    """max over cells of |x . u| / |x| (float64)."""
    x, u = x.double().cpu(), u.double().cpu()
    return ((x @ u).abs() / x.norm(dim=-1).clamp_min(1e-30)).max().item()


def _proj_tol(dtype) -> float:
    # float32: one rounding of x - (x.u)u leaves ~1e-7 |x|; bf16: each entry is rounded to 8 bits.
    return 1e-5 if as_dtype(dtype) == torch.float32 else BF16_REL_TOL


# ------------------------------------------------------------------------------------ ablation


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_ablation_leaves_zero_projection_and_keeps_the_rest(family, device, dtype, make_model):
    model = make_model(family, device=device, dtype=dtype)
    tokens = random_tokens(3, 9).to(device)
    dirs = _randn(model.n_layers, model.d_model, seed=1)  # one direction per layer
    units = _unit(dirs.double())
    before, after = {}, {}
    pairs = []
    for layer in range(model.n_layers):
        site = f"blocks.{layer}.hook_resid_post"
        pairs += [(site, record(before)), AblateDirection(dirs, layers=[layer], positions="all"), (site, record(after))]
    with intervene(model, pairs):
        ablated = model(tokens)
    for layer in range(model.n_layers):
        site = f"blocks.{layer}.hook_resid_post"
        x, y, u = before[site].double(), after[site], units[layer].to(device)
        assert _rel_projection(y, u) <= _proj_tol(dtype), f"{family} {site}: projection left"
        expected = x - (x @ u)[..., None] * u  # the orthogonal complement is untouched
        assert_site_close(y, expected, dtype=dtype, name=f"{family} {site} ablated")
    assert (ablated.float() - model(tokens).float()).abs().max() > 1e-3, "the ablation did nothing"
    assert _hook_count(model.hf) == 0


# ------------------------------------------------------------------------------------ adding


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_adding_zero_times_a_direction_is_bit_identical(family, device, dtype, make_model):
    model = make_model(family, device=device, dtype=dtype)
    tokens = random_tokens(2, 9).to(device)
    with torch.no_grad():
        clean = model(tokens)
        u = _randn(model.d_model, seed=2)
        zero = [
            AddDirection(u, 0.0, sites=("hook_resid_pre", "hook_resid_mid", "hook_resid_post", "hook_attn_out")),
            AddDirection(_randn(model.n_layers, model.d_model, seed=3), torch.zeros(2), sites="hook_mlp_out"),
            AddDirection(u, 0.0, sites=["hook_embed", "ln_final.hook_normalized"], rows=[1], positions=[0, -1]),
            AddDirection(_randn(model.d_mlp, seed=4), -0.0, sites="mlp.hook_post", positions=slice(2, 5)),
            AddDirection(_randn(model.n_heads * model.d_head, seed=5), 0.0, sites="attn.hook_z"),
        ]
        with intervene(model, zero):
            assert torch.equal(model(tokens), clean)
        with intervene(model, AddDirection(u, 0.5, layers=[1])):
            assert not torch.equal(model(tokens), clean), "a non-zero alpha must change the logits"


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_adding_at_layer_l_changes_resid_post_there_by_alpha_u(family, device, dtype, make_model):
    model = make_model(family, device=device, dtype=dtype)
    tokens = random_tokens(3, 8).to(device)
    sites = [f"blocks.{l}.hook_resid_post" for l in range(model.n_layers)]
    _, clean = model.run_with_cache(tokens, sites)
    u = _randn(model.d_model, seed=6)
    alpha, layer = 6.0, 1
    with intervene(model, AddDirection(u, alpha, layers=layer, positions="all")):
        _, steered = model.run_with_cache(tokens, sites)  # run_with_cache's reads nest inside
    for l in range(layer):
        assert torch.equal(steered[sites[l]], clean[sites[l]]), f"{family}: layer {l} before the write changed"
    delta = steered[sites[layer]].float() - clean[sites[layer]].float()
    unit = _unit(u.double()).float().to(device)
    assert_site_close(delta, (alpha * unit).expand_as(delta), dtype=dtype, name=f"{family} resid_post {layer} change")
    # computed in float32 and rounded once to the model's dtype: bit for bit
    once = (clean[sites[layer]].float() + torch.tensor(alpha, device=device) * unit).to(model.dtype)
    assert torch.equal(steered[sites[layer]], once), "not float32 arithmetic rounded once"
    assert (steered[sites[-1]].float() - clean[sites[-1]].float()).abs().max() > 1e-3


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_per_layer_direction_per_row_alpha_rows_and_positions(family, device, dtype, make_model):
    """Row l of a [n_layers, d] direction acts at layer l; alpha has one value per chosen row; cells
    outside rows x positions stay bit for bit."""
    model = make_model(family, device=device, dtype=dtype)
    tokens = random_tokens(4, 8).to(device)
    dirs = _randn(model.n_layers, model.d_model, seed=7)
    alpha = torch.tensor([5.0, -3.0, 0.0])
    rows, positions = [0, 1, 3], [2, -1]
    before, after, pairs = {}, {}, []
    for l in range(model.n_layers):
        site = f"blocks.{l}.hook_resid_post"
        pairs += [(site, record(before))]
        pairs += [AddDirection(dirs, alpha, sites=site, rows=rows, positions=positions)]
        pairs += [(site, record(after))]
    with intervene(model, pairs):
        model(tokens)
    chosen = torch.zeros(4, 8, dtype=torch.bool)
    chosen[[0, 1], 2] = chosen[[0, 1], 7] = True  # row 3 has alpha 0: unchanged as well
    for l in range(model.n_layers):
        site = f"blocks.{l}.hook_resid_post"
        x, y = before[site], after[site]
        assert torch.equal(y[~chosen.to(device)], x[~chosen.to(device)]), f"{site}: cells outside the choice changed"
        expected = x.float().clone()
        for r, a in zip(rows, alpha.tolist()):
            expected[r, [2, 7]] += a * _unit(dirs[l].double()).float().to(device)
        assert_site_close(y.float(), expected, dtype=dtype, name=f"{family} {site}")


def test_raw_difference_of_means_with_normalize_false(make_model):
    model = make_model("qwen2")
    tokens = random_tokens(2, 6)
    v = _randn(model.d_model, seed=8) * 3.0
    store: dict = {}
    site = "blocks.0.hook_resid_post"
    with intervene(
        model,
        (site, record(store, "x")),
        AddDirection(v, 2.0, sites=site, normalize=False, positions="all"),
        (site, record(store, "y")),
    ):
        model(tokens)
    assert_site_close(store["y"] - store["x"], (2.0 * v).expand_as(store["x"]), name="alpha * raw vector")


# ------------------------------------------------------------------------------------ every kind of site

_KEYS = [
    "hook_embed",
    "hook_resid_pre",
    "attn.hook_z",
    "hook_attn_out",
    "hook_resid_mid",
    "mlp.hook_post",
    "hook_mlp_out",
    "hook_resid_post",
    "ln_final.hook_normalized",
]


@pytest.mark.parametrize("family", ["gemma3", "gpt2", "bloom"])
def test_add_and_ablate_at_every_kind_of_site(family, make_model):
    """The width of each site (d_model, d_mlp, n_heads * d_head) is honoured; every write changes the
    logits (no write silently does nothing); ablation leaves zero projection wherever it acts."""
    model = make_model(family)
    tokens = random_tokens(2, 8)
    clean = model(tokens)
    for i, key in enumerate(_KEYS):
        site = key if key in model.family.top_sites else f"blocks.1.{key}"
        width = {"mlp.hook_post": model.d_mlp, "attn.hook_z": model.n_heads * model.d_head}.get(key, model.d_model)
        u = _randn(width, seed=10 + i)
        store: dict = {}
        with intervene(model, AddDirection(u, 8.0, sites=site, positions="all")):
            assert (model(tokens) - clean).abs().max() > 1e-3, f"adding at {site} did nothing"
        with intervene(model, AblateDirection(u, sites=site, positions="all"), (site, record(store))):
            ablated = model(tokens)
        x = store[site].flatten(-2) if key == "attn.hook_z" else store[site]
        assert _rel_projection(x, _unit(u)) <= 1e-5, f"{family} {site}: projection left"
        assert (ablated - clean).abs().max() > 1e-5, f"ablating at {site} did nothing"


def test_ablation_to_a_value_sets_the_projection(make_model):
    """value= sets the projection instead of removing it (mean ablation); per layer as [n_layers]."""
    model = make_model("llama")
    tokens = random_tokens(2, 7)
    dirs = _randn(model.n_layers, model.d_model, seed=20)
    values = torch.tensor([0.5, -1.5, 2.0])
    store: dict = {}
    with intervene(
        model,
        AblateDirection(dirs, value=values, positions="all"),
        [(f"blocks.{l}.hook_resid_post", record(store)) for l in range(3)],
    ):
        model(tokens)
    for l in range(3):
        proj = store[f"blocks.{l}.hook_resid_post"] @ _unit(dirs[l])
        torch.testing.assert_close(proj, torch.full_like(proj, values[l].item()), rtol=0, atol=1e-5)


# ------------------------------------------------------------------------------------ composition


def test_interventions_apply_in_the_order_given(make_model):
    model = make_model("gemma3")
    tokens = random_tokens(2, 7)
    u = _randn(model.d_model, seed=21)
    site = "blocks.1.hook_resid_post"
    add, ablate = AddDirection(u, 4.0, sites=site, positions="all"), AblateDirection(u, sites=site, positions="all")
    for order, expected in (([add, ablate], 0.0), ([ablate, add], 4.0)):
        store: dict = {}
        with intervene(model, order, (site, record(store))):
            model(tokens)
        proj = store[site] @ _unit(u)
        torch.testing.assert_close(proj, torch.full_like(proj, expected), rtol=0, atol=1e-5)


def test_nested_contexts_equal_one_context_and_an_empty_list_is_the_identity(make_model):
    model = make_model("qwen2")
    tokens = random_tokens(3, 8)
    clean = model(tokens)
    a = AddDirection(_randn(model.d_model, seed=22), 3.0, layers=[0, 2])
    b = EditNeurons(1, [4, 9], mode="scale", value=-2.0)
    c = AblateDirection(_randn(model.d_model, seed=23), layers=1)
    with intervene(model, a, [b, c]):
        together = model(tokens)
    with intervene(model, a), intervene(model, b), intervene(model, c) as m:
        assert m is model
        nested = model(tokens)
    assert torch.equal(nested, together)
    assert not torch.equal(together, clean)
    for empty in ((), ([],), ([[]],)):
        with intervene(model, *empty):
            assert torch.equal(model(tokens), clean)
    assert _hook_count(model.hf) == 0 and torch.equal(model(tokens), clean)


def test_hook_pairs_are_plain_engine_pairs(make_model):
    """The pairs feed Model.hooks directly, next to hand-written hooks."""
    model = make_model("llama")
    tokens = random_tokens(2, 6)
    u = _randn(model.d_model, seed=24)
    pairs = hook_pairs(model, AddDirection(u, 2.0, layers=[0, 1], positions="all"))
    assert [s.name for s, _ in pairs] == ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]
    with model.hooks(pairs):
        ours = model(tokens)
    with model.hooks([(f"blocks.{l}.hook_resid_post", add_value(2.0 * _unit(u))) for l in (0, 1)]):
        hand = model(tokens)
    assert_site_close(ours, hand, name="intervention vs add_value")


# ------------------------------------------------------------------------------------ neurons


def _value_vectors(model, layer: int) -> torch.Tensor:
    """``[d_mlp, d_model]``: row ``i`` is what neuron ``i`` writes per unit of activation. nn.Linear
    stores the down projection as ``[d_model, d_mlp]`` (a column per neuron), GPT-2's Conv1D as
    ``[d_mlp, d_model]`` (a row per neuron)."""
    proj = model.hf.get_submodule(model.family.layers)[layer].get_submodule(model.family.mlp_out_proj)
    if isinstance(proj, nn.Linear):
        return proj.weight.T
    assert type(proj).__name__ == "Conv1D" and proj.weight.shape == (model.d_mlp, model.d_model)
    return proj.weight


@pytest.mark.parametrize("family", FAMILY_NAMES)
@pytest.mark.parametrize("mode", ["set", "add", "scale"])
def test_edit_neurons_changes_exactly_those_neurons_and_writes_their_value_vectors(
    family, mode, device, dtype, make_model
):
    model = make_model(family, device=device, dtype=dtype)
    layer, rows, positions = 1, [0, 2], [1, -1]
    tokens = random_tokens(3, 8).to(device)
    site = f"blocks.{layer}.mlp.hook_post"
    # the last neuron (an edge of the index range) and the three most active ones, so that in bf16 the
    # change stands well above the rounding of the MLP's output
    _, acts = model.run_with_cache(tokens, [site])
    busiest = acts[site][:, [1, 7], :-1].float().abs().mean((0, 1)).topk(3).indices.tolist()
    neurons = busiest + [model.d_mlp - 1]
    value = {"set": 6.0, "add": torch.tensor([5.0, -4.0, 6.0, 3.0]), "scale": 8.0}[mode]
    # What the MLP writes into the residual: hook_mlp_out, except Gemma 3, whose hook_mlp_out is after
    # a post-norm; there the down projection's own output.
    proj = model.hf.get_submodule(model.family.layers)[layer].get_submodule(model.family.mlp_out_proj)

    def run(*interventions):
        store: dict = {}
        pairs = [(site, record(store, "before")), *interventions, (site, record(store, "after"))]
        if family != "gemma3":
            pairs.append((f"blocks.{layer}.hook_mlp_out", record(store, "written")))
        handle = proj.register_forward_hook(lambda m, a, out: store.__setitem__("down", out.detach().clone()))
        try:
            with intervene(model, pairs):
                model(tokens)
        finally:
            handle.remove()
        return store

    clean = run()
    edited = run(EditNeurons(layer, neurons, mode=mode, value=value, rows=rows, positions=positions))
    x, y = edited["before"], edited["after"]
    assert torch.equal(x, clean["before"]), "the input of the edited layer changed"
    cells = torch.zeros(x.shape, dtype=torch.bool)
    for r in rows:
        for p in (1, 7):
            cells[r, p, neurons] = True
    cells = cells.to(device)
    assert torch.equal(y[~cells], x[~cells]), "activations outside the chosen neurons/rows/positions changed"
    pick = lambda t: t[rows][:, [1, 7]][..., neurons]
    old = pick(x).float()
    v = torch.as_tensor(value).float().to(device)
    new = {"set": v.expand_as(old), "add": old + v, "scale": old * v}[mode]
    assert torch.equal(pick(y), new.to(x.dtype)), f"{mode} wrote the wrong values"

    written = clean["down"] if family == "gemma3" else clean["written"]
    written_edit = edited["down"] if family == "gemma3" else edited["written"]
    change = (y.float() - x.float()) @ _value_vectors(model, layer).float()
    assert_site_close(
        written_edit.float() - written.float(), change, dtype=dtype, name=f"{family} {mode} mlp out change"
    )
    if family != "gemma3":  # the down projection is what hook_mlp_out carries
        assert torch.equal(edited["down"], edited["written"])


# ------------------------------------------------------------------------------------ collect


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_collect_inside_an_intervention_sees_it(family, device, dtype, make_model):
    model = make_model(family, device=device, dtype=dtype)
    u = _randn(model.d_model, seed=30)
    kwargs = {"batch_size": 2, "progress": False}
    clean = collect(model, TEXTS, "hook_resid_post", pool="all", **kwargs)
    with intervene(model, AddDirection(u, 5.0, layers=[1], positions="all")):
        steered = collect(model, TEXTS, "hook_resid_post", pool="all", **kwargs)
    assert torch.equal(steered["blocks.0.hook_resid_post"], clean["blocks.0.hook_resid_post"])
    delta = steered["blocks.1.hook_resid_post"] - clean["blocks.1.hook_resid_post"]
    assert_site_close(delta, (5.0 * _unit(u)).expand_as(delta), dtype=dtype, name=f"{family} collected change")

    with intervene(model, AblateDirection(u, positions="all")):  # every layer
        last = collect(model, TEXTS, ["blocks.0.hook_resid_post", "blocks.2.hook_resid_post"], pool="last", **kwargs)
    for site in last:
        assert _rel_projection(last[site], _unit(u)) <= _proj_tol(dtype), f"{family} {site}: projection left"
    assert _hook_count(model.hf) == 0


def test_collect_to_the_shared_store_refuses_inside_an_intervention(make_model, tmp_path, monkeypatch):
    """The shared store is keyed without the intervention: answering from it would mix steered and
    clean activations, so collect(store=True) refuses while an intervention is active."""
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path))
    model = make_model("llama")
    with intervene(model, AddDirection(_randn(model.d_model), 5.0, layers=[0])):
        with pytest.raises(ValueError, match="store=True"):
            collect(model, TEXTS[:2], "blocks.0.hook_resid_post", store=True, progress=False)
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------------------------ generation


def _generate(model, inputs, n: int):
    out = model.generate(inputs, max_new_tokens=n, return_tokens=True, return_dict_in_generate=True, output_logits=True)
    return out.sequences, torch.stack(out.logits, 1)  # [batch, prompt + steps], [batch, steps, vocab]


def _still_running(new: torch.Tensor, eos: int) -> torch.Tensor:
    """Steps at which a row had not finished yet (its EOS step included)."""
    ended = (new == eos).long().cumsum(1)
    return (ended == 0) | ((ended == 1) & (new == eos))


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_interventions_during_generation_equal_a_forward_over_the_generated_tokens(family, device, dtype, make_model):
    model = make_model(family, device=device, dtype=dtype)
    enc = model.tokenize(TEXTS[:3])  # left-padded
    width = enc["input_ids"].shape[1]
    dirs = _randn(model.n_layers, model.d_model, seed=40)
    u, w = _randn(model.d_model, seed=41), _randn(model.d_model, seed=42)
    alpha = torch.tensor([4.0, -3.0, 2.0])
    interventions = [
        AddDirection(dirs, alpha, layers=[0, 2], positions="all"),  # per layer, per row
        AblateDirection(u, layers=1, positions="all"),
        EditNeurons(1, [0, 5, 7], mode="scale", value=3.0, positions="all"),
        # absolute positions: one in the prompt, one generated (fed at the second step)
        AddDirection(w, 6.0, sites="blocks.1.hook_attn_out", rows=[1], positions=[width - 2, width + 1]),
    ]
    with intervene(model, interventions):
        seq, step_logits = _generate(model, enc, N_NEW)
    steps = seq.shape[1] - width
    assert steps == step_logits.shape[1] >= 3
    mask = torch.cat([enc["attention_mask"], torch.ones_like(seq[:, width:])], 1)
    fed, fed_mask = seq[:, :-1], mask[:, :-1]  # the last token is never fed back
    with intervene(model, interventions):
        logits = model(fed, attention_mask=fed_mask)
    forward = logits[:, width - 1 :]
    assert_site_close(step_logits, forward, dtype=dtype, name=f"{family} step logits vs forward")

    # the greedy tokens are the forward's argmax (in bf16: within the band of its maximum)
    new = seq[:, width:]
    live = _still_running(new, model.tokenizer.eos_token_id)
    chosen = forward.gather(-1, new[..., None])[..., 0].float()
    top = forward.float().max(-1).values
    if as_dtype(dtype) == torch.float32:
        assert torch.equal(new[live], forward.argmax(-1)[live]), f"{family}: generated != forward argmax"
    else:
        slack = BF16_REL_TOL * forward.float().abs().amax(-1)
        assert bool((chosen >= top - slack)[live].all()), f"{family}: a generated token is far from the forward's best"

    # the same hooks written by hand with the raw engine
    units, uu, ww = _unit(dirs).to(device), _unit(u).to(device), _unit(w).to(device)

    def scale_neurons(x, ctx):
        y = x.clone()
        y[..., [0, 5, 7]] *= 3.0
        return y

    hand = [
        ("blocks.0.hook_resid_post", add_value(alpha.to(device)[:, None, None] * units[0])),
        ("blocks.2.hook_resid_post", add_value(alpha.to(device)[:, None, None] * units[2])),
        ("blocks.1.hook_resid_post", lambda x, ctx: x - (x @ uu.to(x.dtype))[..., None] * uu.to(x.dtype)),
        ("blocks.1.mlp.hook_post", set_value(scale_neurons)),
        ("blocks.1.hook_attn_out", add_value(6.0 * ww, rows=[1], positions=[width - 2, width + 1])),
    ]
    with model.hooks(hand):
        by_hand = model(fed, attention_mask=fed_mask)
    assert_site_close(logits, by_hand, dtype=dtype, name=f"{family} interventions vs hand-written hooks")
    plain = model(fed, attention_mask=fed_mask)
    assert (plain.float() - logits.float()).abs().max() > 1e-2, "the interventions did nothing"


def test_generation_positions_minus_one_acts_on_every_new_token(make_model):
    """positions=[-1] steers the last prompt token and each new token as it is generated: the same as
    steering every position from the last prompt token on in a forward pass."""
    model = make_model("llama")
    u = _randn(model.d_model, seed=43)
    prompt = model.to_tokens(TEXTS[0])
    n = prompt.shape[1]
    with intervene(model, AddDirection(u, 8.0, layers=1, positions=[-1])):
        seq, step_logits = _generate(model, prompt, N_NEW)
    fed = seq[:, :-1]
    positions = list(range(n - 1, fed.shape[1]))
    with intervene(model, AddDirection(u, 8.0, layers=1, positions=positions)):
        logits = model(fed)
    assert_site_close(step_logits, logits[:, n - 1 :], name="positions=-1 during generation")
    assert torch.equal(seq[0, n:], logits[0, n - 1 :].argmax(-1))


# ------------------------------------------------------------------------------------ errors


@pytest.mark.bad_input
def test_errors_name_what_is_wrong_and_leave_no_hooks(make_model):
    model = make_model("llama")  # d_model 64, d_mlp 128, 3 layers
    tokens = random_tokens(2, 5)
    clean = model(tokens)
    u = _randn(model.d_model)
    cases = [
        (
            ValueError,
            r"width 65.*blocks\.0\.hook_resid_post has width 64 \(d_model\)",
            AddDirection(_randn(65), 1.0, layers=0),
        ),
        (
            ValueError,
            r"width 64.*blocks\.2\.mlp\.hook_post has width 128 \(d_mlp\)",
            AblateDirection(u, sites="blocks.2.mlp.hook_post"),
        ),
        (
            ValueError,
            r"width 100.*blocks\.0\.attn\.hook_z has width 64 \(n_heads \* d_head\)",
            AblateDirection(_randn(100), sites="attn.hook_z"),
        ),
        (
            UnknownSiteError,
            r"'blocks\.1\.hook_resid_pots'.*blocks\.1\.hook_resid_post",
            AddDirection(u, 1.0, sites="blocks.1.hook_resid_pots"),
        ),
        (
            UnknownSiteError,
            r"hook_resid_pots.*hook_resid_post",
            AddDirection(u, 1.0, sites="hook_resid_pots", layers=[1]),
        ),
        (UnknownSiteError, r"layer 5 is out of range", AddDirection(u, 1.0, sites="blocks.5.hook_resid_post")),
        (ValueError, r"layer 3 is out of range.*0\.\.2", AblateDirection(u, layers=[0, 3])),
        (ValueError, r"already names its layer", AddDirection(u, 1.0, sites="blocks.1.hook_resid_post", layers=[1])),
        (ValueError, r"n_layers=3", AddDirection(_randn(2, model.d_model), 1.0)),
        (
            ValueError,
            r"model-level site ln_final",
            AblateDirection(_randn(3, model.d_model), sites="ln_final.hook_normalized"),
        ),
        (ValueError, r"neuron index \[128\].*d_mlp=128", EditNeurons(0, [3, 128])),
        (ValueError, r"neuron index \[-129\].*d_mlp=128", EditNeurons(0, [-129], mode="add", value=1.0)),
        (ValueError, r"layer 7 is out of range", EditNeurons(7, [0])),
        (ValueError, r"repeated neuron", EditNeurons(0, [3, 3], mode="add", value=1.0)),
        (ValueError, r"does not broadcast", EditNeurons(0, [1, 2, 3], value=torch.ones(2))),
        (TypeError, r"not an intervention", "hook_resid_post"),
    ]
    for error, pattern, bad in cases:
        with pytest.raises(error, match=pattern):
            with intervene(model, AddDirection(u, 1.0, layers=0), bad):
                pytest.fail("the body ran")  # checked before any forward
        assert _hook_count(model.hf) == 0
    for kwargs in (
        {"direction": torch.zeros(64)},
        {"direction": torch.ones(3, 64, 1)},
        {"direction": torch.full((64,), float("nan"))},
    ):
        with pytest.raises(ValueError, match="direction"):
            AddDirection(alpha=1.0, **kwargs)
    with pytest.raises(ValueError, match=r"mode must be one of"):
        EditNeurons(0, [1], mode="zero")
    # alpha per row must match the rows steered; raised in the forward, hooks still removed
    with pytest.raises(ValueError, match=r"alpha has 3 values but 2 rows"):
        with intervene(model, AddDirection(u, torch.ones(3), layers=0)):
            model(tokens)
    assert _hook_count(model.hf) == 0 and torch.equal(model(tokens), clean)


def test_rows_and_per_row_alpha_around_collect_mean_text_indices():
    """collect sorts texts by length into batches; rows= and a per-row alpha still name texts."""
    import numpy as np

    import mechint

    model = tiny_model("llama")
    texts = ["hi", "a much longer text here", "mid length"]
    site = "blocks.0.hook_resid_post"
    d = torch.zeros(model.d_model)
    d[0] = 1.0
    base = mechint.collect(model, texts, site, batch_size=2, progress=False)[site]

    def added(*args, **kwargs) -> list[float]:
        with intervene(model, AddDirection(d, *args, layers=[0], **kwargs)):
            got = mechint.collect(model, texts, site, batch_size=2, progress=False)[site]
        return [round(v, 4) for v in (got - base)[:, 0].tolist()]

    assert added(torch.tensor([100.0, 0.0, 5.0])) == [100.0, 0.0, 5.0]
    assert added(100.0, rows=[0]) == [100.0, 0.0, 0.0]
    assert added(torch.tensor([7.0, 100.0]), rows=[2, 0]) == [100.0, 0.0, 7.0]
    with pytest.raises(ValueError, match="alpha has 2 values but 3 rows"):
        added(torch.tensor([1.0, 2.0]))
    # layers= takes numpy and 0-d tensor integers (e.g. an argmax)
    assert [s.name for s, _ in AddDirection(d, layers=np.int64(1)).hooks(model)] == ["blocks.1.hook_resid_post"]
    assert [s.name for s, _ in AddDirection(d, layers=torch.tensor(2)).hooks(model)] == ["blocks.2.hook_resid_post"]


def test_non_finite_alpha_or_value_and_neurons_given_twice_are_rejected():
    from mechint import neuron_edits

    model = tiny_model("llama")
    u = torch.ones(model.d_model)
    with pytest.raises(ValueError, match="alpha has non-finite"):
        AddDirection(u, float("nan"))
    with pytest.raises(ValueError, match="value has non-finite"):
        AblateDirection(u, value=float("inf"))
    with pytest.raises(ValueError, match="value has non-finite"):
        EditNeurons(0, [1], value=float("nan"))
    # layer 2 and layer -1 are the same layer of a 3-layer model
    with pytest.raises(ValueError, match=r"neurons \[5\] of layer 2 are given twice"):
        with intervene(model, *neuron_edits([(2, 5), (-1, 5)], mode="add", value=1.0)):
            pass
    with intervene(model, *neuron_edits([(2, 5), (-1, 6)], mode="add", value=1.0)):
        model(["hi"])


@pytest.mark.bad_input
def test_edit_neurons_layer_is_parsed_as_every_layer_is(device, make_model):
    """EditNeurons reads its layer through mechint.model.int_list, as layers= everywhere else: a
    non-integral layer (2.7 was read as 2) is refused, numpy / 0-d tensor integers are taken, and a
    negative layer counts from the end when applied to a model (as AddDirection's layers= does)."""
    import numpy as np

    from mechint import neuron_edits

    model = make_model("llama", device=device)
    for bad in (2.7, np.float64(2.0), torch.tensor(1.0), True, "1"):
        with pytest.raises(TypeError, match=r"layers must be integers"):
            EditNeurons(bad, [0])
    with pytest.raises(TypeError, match=r"layers must be integers"):
        neuron_edits([(1.5, 3)])
    with pytest.raises(TypeError, match=r"neurons must be integers"):
        neuron_edits([(1, 3.2)])
    with pytest.raises(ValueError, match=r"edits one layer.*neuron_edits"):
        EditNeurons([0, 1], [0])
    with pytest.raises(ValueError, match=r"layer -4 is out of range: there are layers 0\.\.2"):
        EditNeurons(-4, [0]).hooks(model)

    site = "blocks.2.mlp.hook_post"
    texts = ["hello there", "hi"]

    def post(*interventions):
        store: dict = {}
        with intervene(model, *interventions, (site, record(store, "x"))):
            model(texts)
        return store["x"][..., :2]

    want = post(EditNeurons(2, [0, 1], value=7.0, positions="all"))
    assert bool((want == 7.0).all())
    for layer in (np.int64(2), torch.tensor(2), -1, torch.tensor(-1), np.array(-1)):
        edit = EditNeurons(layer, [0, 1], value=7.0, positions="all")
        assert type(edit.layer) is int and edit.layer in (2, -1)
        assert [s.name for s, _ in edit.hooks(model)] == [site]
        assert torch.equal(post(edit), want)
    edits = neuron_edits([(np.int64(-1), torch.tensor(0)), (torch.tensor(2), np.int64(1))], value=7.0, positions="all")
    assert [e.layer for e in edits] == [-1, 2] and torch.equal(post(*edits), want)
