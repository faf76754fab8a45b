"""Weight-space model diffing (``mechint.weights``) against hand computations and brute force.

On tiny models of every family: norms of chosen edits (``tuned`` = a copy of ``base`` with a few known
entries moved) per tensor, per layer and per kind; module kinds of known parameter names; top-p masks
equal to a full stable sort of the scores (exact counts, ties to the lowest flat index, every scope,
chunk boundaries inside tie blocks); overlap equal to a set computation; grafts bit-exact at p = 0,
p = 100 and in between, reverted bit for bit; frozen entries bit-identical through AdamW steps with
weight decay; and the errors for mismatched models, masks and percentages.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

import mechint
from mechint.weights import (
    KINDS,
    Freeze,
    WeightMask,
    freeze,
    graft,
    module_kind,
    overlap,
    top_p_mask,
    weight_diff,
)
from mechint.weights import _naming as naming

# Kinds of parameter names as each family's Hugging Face modules spell them (layer 1 of 3).
KNOWN_KINDS = {
    "llama": {
        "model.layers.1.self_attn.q_proj.weight": "attn_q",
        "model.layers.1.self_attn.k_proj.weight": "attn_k",
        "model.layers.1.self_attn.v_proj.weight": "attn_v",
        "model.layers.1.self_attn.o_proj.weight": "attn_o",
        "model.layers.1.mlp.gate_proj.weight": "mlp_gate",
        "model.layers.1.mlp.up_proj.weight": "mlp_up",
        "model.layers.1.mlp.down_proj.weight": "mlp_down",
        "model.layers.1.input_layernorm.weight": "norm",
        "model.embed_tokens.weight": "embed",
        "model.norm.weight": "norm",
        "lm_head.weight": "lm_head",
    },
    "qwen2": {
        "model.layers.1.self_attn.q_proj.bias": "attn_q",
        "model.layers.1.self_attn.k_proj.bias": "attn_k",
        "model.layers.1.mlp.down_proj.weight": "mlp_down",
        "lm_head.weight": "lm_head",
    },
    "gemma3": {
        "model.layers.1.self_attn.q_norm.weight": "norm",
        "model.layers.1.pre_feedforward_layernorm.weight": "norm",
        "model.layers.1.mlp.gate_proj.weight": "mlp_gate",
        "model.layers.1.self_attn.o_proj.weight": "attn_o",
        "model.embed_tokens.weight": "embed",
    },
    "gpt2": {
        "transformer.h.1.attn.c_attn.weight": "attn_qkv",
        "transformer.h.1.attn.c_attn.bias": "attn_qkv",
        "transformer.h.1.attn.c_proj.weight": "attn_o",
        "transformer.h.1.mlp.c_fc.weight": "mlp_up",
        "transformer.h.1.mlp.c_proj.weight": "mlp_down",
        "transformer.h.1.ln_1.bias": "norm",
        "transformer.wte.weight": "embed",
        "transformer.wpe.weight": "embed",
        "transformer.ln_f.weight": "norm",
    },
    "bloom": {
        "transformer.h.1.self_attention.query_key_value.weight": "attn_qkv",
        "transformer.h.1.self_attention.dense.weight": "attn_o",
        "transformer.h.1.mlp.dense_h_to_4h.weight": "mlp_up",
        "transformer.h.1.mlp.dense_4h_to_h.bias": "mlp_down",
        "transformer.h.1.post_attention_layernorm.weight": "norm",
        "transformer.word_embeddings.weight": "embed",
        "transformer.word_embeddings_layernorm.weight": "norm",
    },
}
TIED = {"gemma3", "gpt2", "bloom"}  # tiny configs that tie the LM head to the embedding


def _layer(name: str, family: str) -> int | None:
    """The layer index, parsed here from the layer prefix of each family (not by the module)."""
    prefix = "transformer.h." if family in ("gpt2", "bloom") else "model.layers."
    return int(name[len(prefix) :].split(".")[0]) if name.startswith(prefix) else None


def _perturbed(model, seed: int = 1, scale: float = 0.01) -> nn.Module:
    """A copy of ``model.hf`` with every parameter moved by small noise."""
    tuned = copy.deepcopy(model.hf)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in tuned.parameters():
            p.add_((scale * torch.randn(p.shape, generator=gen)).to(p.device, p.dtype))
    return tuned


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def test_is_exported():
    assert "weights" in mechint.__all__ and mechint.weights.top_p_mask is top_p_mask


def test_module_kinds_and_layers(model, family):
    diff = weight_diff(model, model)
    for name, kind in KNOWN_KINDS[family].items():
        assert diff[name].kind == kind, name
        assert module_kind(name) == kind, f"{name} without the family table"
    for d in diff:
        assert d.kind in KINDS and d.kind != "other", d.name
        assert d.layer == _layer(d.name, family), d.name
    assert ("lm_head.weight" in diff.tensors) == (family not in TIED)  # a tied head counts once, as the embedding


def test_diff_against_hand_computation(family, device, make_model):
    base = make_model(family, device=device)
    fam = base.family
    tuned = copy.deepcopy(base.hf)
    down = f"{fam.layers}.1.{fam.mlp_out_proj}.weight"
    embed = f"{fam.embeddings[0]}.weight"
    params = dict(tuned.named_parameters())
    with torch.no_grad():
        params[down][0, 0] += 1.0
        params[down][2, 5] += 1.0
        params[down][-1, -1] += 1.0
        params[embed][7, 3] += 2.0  # also the LM head's entry where tied: counted once
    diff = weight_diff(base, tuned)
    base_params = dict(base.hf.named_parameters())
    assert list(diff.tensors) == list(base_params)
    for name, p in base_params.items():
        d = diff[name]
        assert d.numel == p.numel() and d.shape == tuple(p.shape)
        expected = {down: math.sqrt(3), embed: 2.0}.get(name, 0.0)
        assert d.delta_norm == pytest.approx(expected, rel=1e-6, abs=0), name
        base_norm = math.sqrt(sum(v * v for v in p.detach().double().reshape(-1).tolist()))
        assert d.base_norm == pytest.approx(base_norm, rel=1e-12), name
        assert d.relative == pytest.approx(expected / base_norm, rel=1e-6, abs=0)
    by_layer = diff.by_layer()
    assert list(by_layer) == [0, 1, 2, None]
    for layer, summary in by_layer.items():
        names = [n for n in base_params if _layer(n, family) == layer]
        sq = sum(diff[n].base_norm ** 2 for n in names)
        assert summary.n_tensors == len(names) and summary.numel == sum(base_params[n].numel() for n in names)
        assert summary.base_norm == pytest.approx(math.sqrt(sq), rel=1e-12)
        assert summary.delta_norm == pytest.approx({1: math.sqrt(3), None: 2.0}.get(layer, 0.0), rel=1e-6, abs=0)
        assert summary.relative == pytest.approx(summary.delta_norm / summary.base_norm, rel=1e-12)
    by_kind = diff.by_kind()
    assert by_kind["mlp_down"].delta_norm == pytest.approx(math.sqrt(3), rel=1e-6)
    assert by_kind["embed"].delta_norm == pytest.approx(2.0, rel=1e-6)
    assert ("lm_head" in by_kind) == (family not in TIED)
    assert all(s.delta_norm == 0.0 for k, s in by_kind.items() if k not in ("mlp_down", "embed"))
    assert diff.total().delta_norm == pytest.approx(math.sqrt(7), rel=1e-6)
    frame = diff.to_dataframe()
    assert len(frame) == len(base_params) and list(frame["name"]) == list(base_params)
    assert frame.set_index("name").loc[down, "delta_norm"] == pytest.approx(math.sqrt(3), rel=1e-6)
    assert frame["layer"].isna().sum() == sum(_layer(n, family) is None for n in base_params)


def test_relative_change_of_a_zero_base():
    base, tuned = nn.Linear(3, 2), nn.Linear(3, 2)
    with torch.no_grad():
        for m in (base, tuned):
            m.weight.zero_()
            m.bias.zero_()
        tuned.bias[0] = 3.0
    diff = weight_diff(base, tuned)
    assert diff["weight"].relative == 0.0 and diff["weight"].delta_norm == 0.0
    assert diff["bias"].relative == math.inf and diff["bias"].delta_norm == 3.0
    assert diff["bias"].layer is None and diff["bias"].kind == "other"


# ------------------------------------------------------------------------------ top-p masks


def _brute_force(base: nn.Module, tuned: nn.Module, p: float, scope: str, family: str) -> dict[str, torch.Tensor]:
    """The oracle: per group, a full stable descending sort of float32 |tuned - base| over the group's
    flattened tensors in order; the first round(p n / 100) indices are kept."""
    b, t = dict(base.named_parameters()), dict(tuned.named_parameters())
    groups: dict = {}
    for name in b:
        key = {"global": 0, "tensor": name, "layer": _layer(name, family)}[scope]
        groups.setdefault(key, []).append(name)
    out = {}
    for names in groups.values():
        scores = torch.cat([(t[n].detach().float() - b[n].detach().float()).abs().reshape(-1).cpu() for n in names])
        k = round(p * scores.numel() / 100)
        keep = torch.zeros(scores.numel(), dtype=torch.bool)
        keep[torch.sort(scores, descending=True, stable=True).indices[:k]] = True
        start = 0
        for n in names:
            out[n] = keep[start : start + b[n].numel()].view(b[n].shape)
            start += b[n].numel()
    return out


def _tied_scores(model, seed: int = 2) -> nn.Module:
    """A tuned copy where 30% of entries moved by noise, the rest not at all (a block of ties at zero),
    and 200 entries of the MLP down projections moved by exactly 0.25 (base 0.25, tuned 0.5: ties at a
    non-zero score)."""
    tuned = _perturbed(model, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for (name, b), t in zip(model.hf.named_parameters(), tuned.parameters()):
            still = (torch.rand(b.shape, generator=gen) > 0.3).to(b.device)
            t[still] = b[still]
            if name.endswith(f"{model.family.mlp_out_proj}.weight"):
                idx = torch.randperm(b.numel(), generator=gen)[:200].to(b.device)
                b.view(-1)[idx] = 0.25
                t.view(-1)[idx] = 0.5
    return tuned


@pytest.mark.parametrize("scope", ["global", "tensor", "layer"])
def test_top_p_mask_equals_a_full_sort(family, device, make_model, scope, monkeypatch):
    monkeypatch.setattr(naming, "_CHUNK", 1000)  # many chunks per tensor: ties are cut across chunk boundaries
    base = make_model(family, device=device)
    tuned = _tied_scores(base)
    n = sum(p.numel() for p in base.hf.parameters())
    # global scope: a p whose threshold falls inside the block of 0.25-ties
    over = sum(
        int(((t.float() - b.float()).abs() > 0.25).sum()) for b, t in zip(base.hf.parameters(), tuned.parameters())
    )
    inside = 100 * (over + 3 * 200 // 2) / n
    for p in (0, 0.5, 7.3, inside, 50, 100):
        mask = top_p_mask(base, tuned, p, scope=scope)
        expected = _brute_force(base.hf, tuned, p, scope, family)
        assert list(mask) == [n for n, _ in base.hf.named_parameters()] and set(expected) == set(mask)
        for name, m in expected.items():
            assert mask[name].device == base.hf.get_parameter(name).device
            assert torch.equal(mask[name].cpu(), m), f"p={p} {scope}: {name}"
        assert mask.count == sum(int(m.sum()) for m in expected.values())
        assert mask.n == n and mask.fraction == mask.count / n
    assert top_p_mask(base, tuned, 100).count == n and top_p_mask(base, tuned, 0).count == 0


def test_exact_count_per_group(make_model):
    base = make_model("llama")
    tuned = _tied_scores(base)
    for scope in ("tensor", "layer"):
        mask = top_p_mask(base, tuned, 12.5, scope=scope)
        if scope == "tensor":
            assert mask.counts() == {n: round(12.5 * p.numel() / 100) for n, p in base.hf.named_parameters()}
        else:
            per_layer: dict = {}
            for n, p in base.hf.named_parameters():
                got, size = per_layer.get(_layer(n, "llama"), (0, 0))
                per_layer[_layer(n, "llama")] = (got + int(mask[n].sum()), size + p.numel())
            assert all(got == round(12.5 * size / 100) for got, size in per_layer.values())


def test_overlap_equals_set_computation(make_model):
    base = make_model("gpt2")
    a = top_p_mask(base, _perturbed(base, seed=1), 10)
    b = top_p_mask(base, _perturbed(base, seed=2), 25, scope="tensor")

    def as_set(mask: WeightMask) -> set:
        return {(n, i) for n, m in mask.items() for i in m.reshape(-1).nonzero().reshape(-1).tolist()}

    sa, sb = as_set(a), as_set(b)
    n = a.n
    got = overlap(a, b)
    assert got["intersection"] == len(sa & sb) > 0
    assert got["jaccard"] == len(sa & sb) / len(sa | sb)
    assert (got["size_a"], got["size_b"], got["n"]) == (len(sa), len(sb), n)
    e = len(sa) * len(sb) / n
    assert got["expected_intersection"] == pytest.approx(e) and got["expected_jaccard"] == pytest.approx(
        e / (len(sa) + len(sb) - e)
    )
    assert overlap(a, a)["jaccard"] == 1.0
    empty = top_p_mask(base, base.hf, 0)
    assert overlap(empty, empty)["jaccard"] == 1.0 and overlap(a, empty)["jaccard"] == 0.0


# ------------------------------------------------------------------------------ grafting


def test_graft_bit_exact_and_reverted(family, device, dtype, make_model):
    base = make_model(family, device=device, dtype=dtype)
    tuned = _perturbed(base)
    original, tuned_values = _snapshot(base.hf), _snapshot(tuned)
    tokens = torch.tensor([[256, 72, 105, 33, 10]], device=device)
    with torch.no_grad():
        tuned_logits = tuned(input_ids=tokens).logits

    def params():
        return dict(base.hf.named_parameters())

    with graft(base, tuned, top_p_mask(base, tuned, 0)) as g:
        assert g.active and all(torch.equal(p, original[n]) for n, p in params().items())
    with graft(base, tuned, top_p_mask(base, tuned, 100)):
        assert all(torch.equal(p, tuned_values[n]) for n, p in params().items())
        with torch.no_grad():
            assert torch.equal(base.hf(input_ids=tokens).logits, tuned_logits)
    assert all(torch.equal(p, original[n]) for n, p in params().items())
    # a sweep on one loaded model: each graft reverts the one before
    masks = [top_p_mask(base, tuned, p, scope="layer") for p in (5, 40)]
    first = graft(base, tuned, masks[0])
    second = graft(base, tuned, masks[1])
    assert not first.active and second.active
    for n, p in params().items():
        assert torch.equal(p, torch.where(masks[1][n], tuned_values[n], original[n])), n
    changed = sum(int((p != original[n]).sum()) for n, p in params().items())
    assert 0 < changed <= masks[1].count
    second.revert()
    second.revert()  # twice: nothing more
    first.revert()  # already reverted by the second graft: must not write its old values back
    assert all(torch.equal(p, original[n]) for n, p in params().items())


def test_graft_from_a_state_dict(make_model):
    base = make_model("qwen2")
    tuned = _perturbed(base)
    mask = top_p_mask(base, tuned, 30)
    state = {n: p.detach() for n, p in tuned.named_parameters()}
    original = _snapshot(base.hf)
    with graft(base.hf, state, mask):
        for n, p in base.hf.named_parameters():
            assert torch.equal(p, torch.where(mask[n], state[n], original[n]))


# ------------------------------------------------------------------------------ freezing


def _adamw_steps(model, optimizer, mask: WeightMask, steps: int = 3) -> None:
    tokens = torch.randint(0, 256, (2, 12), generator=torch.Generator().manual_seed(0)).to(model.device)
    for _ in range(steps):
        logits = model.hf(input_ids=tokens).logits
        loss = nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), tokens[:, 1:].flatten())
        optimizer.zero_grad()
        loss.backward()
        for n, p in model.hf.named_parameters():  # the gradient hooks zeroed the masked entries
            assert p.grad is None or not bool(p.grad[mask[n]].any()), n
        optimizer.step()


def test_freeze_holds_entries_through_adamw(family, device, make_model):
    model = make_model(family, device=device)
    mask = top_p_mask(model, _perturbed(model), 20)
    before = _snapshot(model.hf)
    optimizer = torch.optim.AdamW(model.hf.parameters(), lr=1e-2, weight_decay=0.1)
    with freeze(model, mask, optimizer=optimizer) as handle:
        assert isinstance(handle, Freeze)
        _adamw_steps(model, optimizer, mask)
    moved = total = 0
    for n, p in model.hf.named_parameters():
        m = mask[n]
        assert torch.equal(p[m], before[n][m]), f"frozen entries of {n} moved"
        moved += int((p[~m] != before[n][~m]).sum())
        total += int((~m).sum())
    assert moved > 0.9 * total  # the unmasked entries trained


def test_zero_gradients_alone_do_not_hold_entries_under_adamw(make_model):
    """Without the optimizer hook, AdamW's decoupled weight decay moves entries whose gradient is zero:
    the reason :func:`freeze` rewrites them after each step."""
    model = make_model("llama")
    mask = top_p_mask(model, _perturbed(model), 20)
    before = _snapshot(model.hf)
    optimizer = torch.optim.AdamW(model.hf.parameters(), lr=1e-2, weight_decay=0.1)
    handle = freeze(model, mask)
    _adamw_steps(model, optimizer, mask)
    moved = sum(int((p[mask[n]] != before[n][mask[n]]).sum()) for n, p in model.hf.named_parameters())
    assert moved > 0.9 * mask.count
    handle.restore()
    assert all(torch.equal(p[mask[n]], before[n][mask[n]]) for n, p in model.hf.named_parameters())
    handle.remove()
    model.hf(input_ids=torch.tensor([[256, 65, 66]])).logits.sum().backward()
    assert any(bool(p.grad[mask[n]].any()) for n, p in model.hf.named_parameters())  # hooks gone


# ------------------------------------------------------------------------------ bad input


@pytest.mark.bad_input
def test_mismatched_models_are_refused(make_model):
    llama, gpt2 = make_model("llama"), make_model("gpt2")
    with pytest.raises(ValueError, match=r"llama model and tuned a gpt2.*'model.embed_tokens.weight' \(259, 64\)"):
        weight_diff(llama, gpt2)
    with pytest.raises(ValueError, match=r"'transformer.wte.weight'"):
        weight_diff(llama.hf, gpt2.hf)
    narrow = make_model("llama", d_model=32)
    with pytest.raises(
        ValueError, match=r"'model.embed_tokens.weight' is \(259, 64\) in base but \(259, 32\) in tuned"
    ):
        top_p_mask(llama, narrow, 10)
    with pytest.raises(TypeError, match="base must be"):
        weight_diff("llama", llama)


@pytest.mark.bad_input
@pytest.mark.parametrize("p", [-1, 101, -0.001, 100.5, float("nan")])
def test_percent_out_of_range(make_model, p):
    model = make_model("llama")
    with pytest.raises(ValueError, match=r"p must be a percentage in \[0, 100\]"):
        top_p_mask(model, model, p)


@pytest.mark.bad_input
def test_bad_p_type_and_scope(make_model):
    model = make_model("llama")
    with pytest.raises(TypeError, match="p must be a percentage"):
        top_p_mask(model, model, "10")
    with pytest.raises(ValueError, match="did you mean 'global'"):
        top_p_mask(model, model, 10, scope="globl")


@pytest.mark.bad_input
def test_mask_of_another_model_is_refused(make_model):
    llama, narrow, gpt2 = make_model("llama"), make_model("llama", d_model=32), make_model("gpt2")
    mask = top_p_mask(llama, _perturbed(llama), 10)
    narrow_tuned = _perturbed(narrow)
    with pytest.raises(ValueError, match=r"does not fit base_model.*'model.embed_tokens.weight' is \(259, 64\)"):
        graft(narrow, narrow_tuned, mask)
    with pytest.raises(
        ValueError, match=r"names differ: the mask has 'model.embed_tokens.weight'.*model has 'transformer.wte.weight'"
    ):
        freeze(gpt2, mask)
    with pytest.raises(ValueError, match="masks are of different models"):
        overlap(mask, top_p_mask(narrow, narrow_tuned, 10))
    before = _snapshot(narrow.hf)
    assert all(torch.equal(p, before[n]) for n, p in narrow.hf.named_parameters())  # nothing written


@pytest.mark.bad_input
def test_graft_refuses_other_dtypes(make_model):
    base = make_model("llama")
    tuned = _perturbed(base).to(torch.bfloat16)
    with pytest.raises(ValueError, match="dtypes differ"):
        graft(base, tuned, top_p_mask(base, tuned, 10))
