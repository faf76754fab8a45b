"""Weight-space model diffing (``mechint.weights``) against hand computations and brute force.

On tiny models of every family: norms of chosen edits (``tuned`` = a copy of ``base`` with a few known
entries moved) per tensor, per layer and per kind; module kinds of known parameter names; top-p masks
equal to a full stable sort of the scores (exact counts, ties to the lowest flat index, every scope,
chunk boundaries inside tie blocks); the masks of many percentages at once (``top_p_masks``) equal to
one ``top_p_mask`` per percentage and nested; overlap equal to a set computation; grafts bit-exact at
p = 0, p = 100 and in between, reverted bit for bit; in-place sweeps (``graft_sweep``) equal to one
``graft`` per percentage at every step and restored bit for bit however the loop ends; frozen entries
bit-identical through AdamW steps with weight decay; and the errors for mismatched models, masks and
percentages.
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
    GraftSweep,
    WeightMask,
    freeze,
    graft,
    graft_sweep,
    module_kind,
    overlap,
    top_p_mask,
    top_p_masks,
    weight_diff,
)
from mechint.weights import _graft as graft_module
from mechint.weights import _masks as masks_module
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
    assert mechint.weights.top_p_masks is top_p_masks and mechint.weights.graft_sweep is graft_sweep
    assert {"top_p_masks", "graft_sweep", "GraftSweep"} <= set(mechint.weights.__all__)


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


def _lora_scores(model) -> nn.Module:
    """A tuned copy as a merged LoRA leaves it: a rank-2 change of every matrix but the embeddings,
    which stay untouched with the biases and norms (whole tensors of zero scores), except the norms
    of layer 1, moved from 0.25 to 0.5 in base and tuned alike (whole tensors of 0.25-ties)."""
    tuned = copy.deepcopy(model.hf)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for (name, b), t in zip(model.hf.named_parameters(), tuned.parameters()):
            kind = module_kind(name, model.family)
            if b.dim() == 2 and kind != "embed":
                delta = torch.randn(b.shape[0], 2, generator=gen) @ torch.randn(2, b.shape[1], generator=gen)
                t.add_((0.01 * delta).to(t.device, t.dtype))
            elif kind == "norm" and _layer(name, model.family.name) == 1:
                b.fill_(0.25)
                t.fill_(0.5)
    return tuned


TUNINGS = {"ties": _tied_scores, "lora": _lora_scores}


def _tie_percentages(base, tuned) -> list[float]:
    """Percentages whose global threshold falls inside the block of 0.25-ties (three of them: one
    threshold, different tie counts), inside the block of zero scores (three), and elsewhere."""
    n = sum(p.numel() for p in base.hf.parameters())
    scores = [(t.detach().float() - b.detach().float()).abs() for b, t in zip(base.hf.parameters(), tuned.parameters())]
    over = sum(int((s > 0.25).sum()) for s in scores)
    quarter = sum(int((s == 0.25).sum()) for s in scores)
    moved = sum(int((s > 0).sum()) for s in scores)
    assert quarter >= 64 and n - moved >= 1000, "the tuned copy must have both blocks of ties"
    in_quarter = [100 * (over + c * quarter // 4) / n for c in (1, 2, 3)]
    in_zeros = [100 * (moved + c * (n - moved) // 4) / n for c in (1, 2, 3)]
    return [0, 0.5, 7.3, *in_quarter, 25, *in_zeros, 100]


@pytest.mark.parametrize("tuning", list(TUNINGS))
@pytest.mark.parametrize("scope", ["global", "tensor", "layer"])
def test_top_p_masks_equal_one_mask_per_p(family, device, make_model, scope, tuning, monkeypatch):
    monkeypatch.setattr(naming, "_CHUNK", 1000)  # ties cut across chunk boundaries; untouched tensors in whole chunks
    monkeypatch.setattr(masks_module, "_BINS_PER_PASS", 2)  # several passes over the low-bits histograms
    base = make_model(family, device=device)
    tuned = TUNINGS[tuning](base)
    ps = _tie_percentages(base, tuned)
    shuffled = [ps[i] for i in torch.randperm(len(ps), generator=torch.Generator().manual_seed(0)).tolist()]
    shuffled.insert(3, shuffled[5])  # a duplicate: an equal mask
    many = top_p_masks(base, tuned, shuffled, scope=scope)
    assert len(many) == len(shuffled)
    names = [n for n, _ in base.hf.named_parameters()]
    for p, mask in zip(shuffled, many):
        one = top_p_mask(base, tuned, p, scope=scope)
        assert isinstance(mask, WeightMask) and list(mask) == names
        assert (mask.p, mask.scope, mask.model) == (one.p, one.scope, one.model)
        for name in names:
            assert mask[name].device == base.hf.get_parameter(name).device and mask[name].dtype == torch.bool
            assert torch.equal(mask[name], one[name]), f"p={p} {scope}: {name}"
    for p in (shuffled[0], ps[4], ps[8]):  # and against the full sort itself
        expected = _brute_force(base.hf, tuned, p, scope, family)
        mask = many[shuffled.index(p)]
        assert all(torch.equal(mask[n].cpu(), m) for n, m in expected.items()), p
    assert top_p_masks(base, tuned, [], scope=scope) == []


@pytest.mark.parametrize(("scope", "tuning"), [("global", "ties"), ("global", "lora"), ("layer", "lora")])
def test_top_p_masks_are_nested(family, make_model, scope, tuning):
    """Top-k sets of one strict total order (score descending, flat index ascending) are nested."""
    base = make_model(family)
    tuned = TUNINGS[tuning](base)
    ps = sorted(_tie_percentages(base, tuned) + [60, 99.9])
    masks = top_p_masks(base, tuned, ps, scope=scope)
    for smaller, larger in zip(masks, masks[1:]):
        for name in smaller:
            assert not bool((smaller[name] & ~larger[name]).any()), f"{smaller.p} -> {larger.p}: {name}"
        assert smaller.count <= larger.count
    assert masks[0].count == 0 and masks[-1].count == masks[-1].n


def test_top_p_masks_of_many_percentages(make_model):
    """More than 255 percentages: the levels no longer fit a byte."""
    base = make_model("llama")
    tuned = _tied_scores(base)
    ps = [100 * i / 299 for i in range(300)]
    masks = top_p_masks(base, tuned, ps)
    for i in (0, 1, 150, 254, 255, 256, 298, 299):
        one = top_p_mask(base, tuned, ps[i])
        assert all(torch.equal(masks[i][n], one[n]) for n in one), ps[i]
    counts = [m.count for m in masks]
    assert counts == sorted(counts) and counts[-1] == masks[0].n


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


# ------------------------------------------------------------------------------ graft sweeps


def _equal_params(module: nn.Module, expected: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(p, expected[n]) for n, p in module.named_parameters())


@pytest.mark.parametrize(("scope", "tuning"), [("global", "ties"), ("layer", "lora")])
def test_graft_sweep_equals_one_graft_per_p(family, device, dtype, make_model, scope, tuning, monkeypatch):
    monkeypatch.setattr(naming, "_CHUNK", 1000)  # many segments per tensor, most without a given step's entries
    base = make_model(family, device=device, dtype=dtype)
    tuned = TUNINGS[tuning](base)
    reference = make_model(family, device=device, dtype=dtype)  # the same weights, grafted one p at a time
    with torch.no_grad():
        for r, b in zip(reference.hf.parameters(), base.hf.parameters()):
            r.copy_(b)
    original, tuned_values = _snapshot(base.hf), _snapshot(tuned)
    ps = _tie_percentages(base, tuned)
    sweep = graft_sweep(base, tuned, list(reversed(ps)), scope=scope)
    assert isinstance(sweep, GraftSweep) and sweep.ps == tuple(sorted(ps)) and len(sweep) == len(ps)
    assert _equal_params(base.hf, original)  # nothing written before the loop
    seen = []
    for p, mask in sweep:
        seen.append(p)
        one = top_p_mask(reference, tuned, p, scope=scope)
        assert all(torch.equal(mask[n], one[n]) for n in one), p
        assert (mask.p, mask.scope) == (p, scope) and sweep.active
        with graft(reference, tuned, one):
            assert _equal_params(base.hf, _snapshot(reference.hf)), f"p={p}"
        if p == 0:
            assert _equal_params(base.hf, original)
        if p == 100:
            assert _equal_params(base.hf, tuned_values)
    assert seen == sorted(ps)
    assert _equal_params(base.hf, original) and not sweep.active
    kept = dict(sweep)  # masks read after their step (and after the loop) are still their p's
    for p in (ps[1], ps[4], ps[-2]):
        one = top_p_mask(reference, tuned, p, scope=scope)
        assert all(torch.equal(kept[p][n], one[n]) for n in one), p
        assert kept[p].count == one.count and kept[p].shapes == one.shapes
    # a second pass starts from the base again
    assert [p for p, _ in sweep] == sorted(ps) and _equal_params(base.hf, original)


def test_graft_sweep_writes_only_the_new_entries(make_model, monkeypatch):
    base = make_model("qwen2")
    tuned = _perturbed(base)
    ps = [0, 10, 30, 100]
    writes = []
    original_add = graft_module._SweepGraft.add

    def counting_add(self, j, params, tuned_params):
        original_add(self, j, params, tuned_params)
        writes.append(sum(values.numel() for *_, values in self.steps[-1]))

    monkeypatch.setattr(graft_module._SweepGraft, "add", counting_add)
    masks = top_p_masks(base, tuned, ps)
    for _ in graft_sweep(base, tuned, ps):
        pass
    counts = [m.count for m in masks]
    assert writes == [b - a for a, b in zip([0] + counts, counts)]  # each step: its mask minus the one before
    assert sum(writes) == masks[-1].n


@pytest.mark.parametrize("family", ["llama", "gemma3"])  # untied and tied embeddings
@pytest.mark.parametrize("how", ["end", "break", "raise", "with-break", "with-raise", "with-next"])
def test_graft_sweep_restores_the_model(family, device, make_model, how):
    base = make_model(family, device=device)
    tuned = _perturbed(base)
    original = _snapshot(base.hf)
    ps = [0, 5, 50, 100]

    class Stop(Exception):
        pass

    if how == "end":
        for _ in graft_sweep(base, tuned, ps):
            pass
    elif how == "break":
        for p, _ in graft_sweep(base, tuned, ps):
            if p == 50:
                assert not _equal_params(base.hf, original)
                break
    elif how == "raise":
        with pytest.raises(Stop):
            for p, _ in graft_sweep(base, tuned, ps):
                if p == 50:
                    raise Stop
    elif how == "with-break":
        with graft_sweep(base, tuned, ps) as sweep:
            for p, _ in sweep:
                if p == 5:
                    break
    elif how == "with-raise":
        with pytest.raises(Stop), graft_sweep(base, tuned, ps) as sweep:
            for p, _ in sweep:
                if p == 100:
                    raise Stop
    else:  # an iterator kept alive past the loop: leaving the with block restores the model
        with graft_sweep(base, tuned, ps) as sweep:
            steps = iter(sweep)
            next(steps), next(steps), next(steps)
            assert sweep.active and not _equal_params(base.hf, original)
        assert not sweep.active
    assert _equal_params(base.hf, original), how


def test_graft_sweep_with_other_grafts(make_model):
    base = make_model("llama")
    tuned = _perturbed(base)
    original = _snapshot(base.hf)
    mask = top_p_mask(base, tuned, 20)
    earlier = graft(base, tuned, mask)
    sweep = graft_sweep(base, tuned, [10, 40])  # reverts the active graft: the masks rank the base's values
    assert not earlier.active and _equal_params(base.hf, original)
    steps = iter(sweep)
    next(steps)
    later = graft(base, tuned, mask)  # replaces the sweep's entries
    with pytest.raises(RuntimeError, match="reverted or replaced during the loop"):
        next(steps)
    assert later.active
    later.revert()
    assert _equal_params(base.hf, original)
    # a second iteration reverts the first one's steps; the first one's next step refuses
    first = iter(sweep)
    next(first)
    second = iter(sweep)
    assert next(second)[0] == 10
    with pytest.raises(RuntimeError, match="reverted or replaced"):
        next(first)
    second.close()
    assert _equal_params(base.hf, original)
    assert torch.equal(
        sweep.mask(40)["model.embed_tokens.weight"], top_p_mask(base, tuned, 40)["model.embed_tokens.weight"]
    )


def test_graft_sweep_of_a_non_contiguous_parameter():
    torch.manual_seed(0)
    base = nn.Sequential(nn.Linear(6, 5), nn.Linear(5, 4))
    base[0].weight = nn.Parameter(torch.randn(6, 5).t())  # a transposed view: no flat view of it
    assert not base[0].weight.is_contiguous()
    tuned = copy.deepcopy(base)
    with torch.no_grad():
        for q in tuned.parameters():
            q.add_(torch.randn(q.shape))
    original = _snapshot(base)
    reference = copy.deepcopy(base)
    assert not reference[0].weight.is_contiguous()  # graft() writes into the transposed view too
    for p, mask in graft_sweep(base, tuned, [0, 20, 55, 100]):
        one = top_p_mask(reference, tuned, p)
        assert all(torch.equal(mask[n], one[n]) for n in one)
        with graft(reference, tuned, one):
            assert _equal_params(base, _snapshot(reference)), p
    assert _equal_params(base, original)
    assert _equal_params(reference, original)


def test_graft_sweep_from_a_state_dict(make_model):
    base = make_model("gpt2")
    tuned = _perturbed(base)
    state = {n: p.detach() for n, p in tuned.named_parameters()}
    original = _snapshot(base.hf)
    for p, mask in graft_sweep(base.hf, state, [0, 33, 100]):
        for n, param in base.hf.named_parameters():
            assert torch.equal(param, torch.where(mask[n], state[n], original[n])), (p, n)
    assert _equal_params(base.hf, original)


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


@pytest.mark.bad_input
def test_bad_sweeps_are_refused(make_model):
    base = make_model("llama")
    tuned = _perturbed(base)
    original = _snapshot(base.hf)
    with pytest.raises(ValueError, match=r"ps\[1\] must be a percentage in \[0, 100\], got 101"):
        graft_sweep(base, tuned, [5, 101])
    with pytest.raises(ValueError, match=r"ps\[2\] must be a percentage in \[0, 100\], got -0.5"):
        top_p_masks(base, tuned, [5, 10, -0.5])
    with pytest.raises(ValueError, match=r"ps\[0\] must be a percentage in \[0, 100\], got nan"):
        graft_sweep(base, tuned, [float("nan")])
    with pytest.raises(TypeError, match="ps must be a sequence of percentages.*use top_p_mask or graft"):
        graft_sweep(base, tuned, 10)
    with pytest.raises(TypeError, match="ps must be a sequence"):
        top_p_masks(base, tuned, "10")
    with pytest.raises(TypeError, match=r"ps\[1\] must be a percentage, a number"):
        graft_sweep(base, tuned, [1, "2"])
    with pytest.raises(ValueError, match="ps holds 5.0 more than once"):
        graft_sweep(base, tuned, [5, 10, 5.0])
    with pytest.raises(ValueError, match="ps is empty"):
        graft_sweep(base, tuned, [])
    with pytest.raises(ValueError, match="did you mean 'layer'"):
        graft_sweep(base, tuned, [5], scope="layr")
    with pytest.raises(ValueError, match="dtypes differ"):
        graft_sweep(base, _perturbed(base).to(torch.bfloat16), [5])
    narrow = make_model("llama", d_model=32)
    with pytest.raises(
        ValueError, match=r"'model.embed_tokens.weight' is \(259, 64\) in base but \(259, 32\) in tuned"
    ):
        graft_sweep(base, narrow, [5])
    with pytest.raises(ValueError, match=r"llama model and tuned a gpt2"):
        top_p_masks(base, make_model("gpt2"), [5])
    with pytest.raises(TypeError, match="model must be"):
        graft_sweep("llama", tuned, [5])
    sweep = graft_sweep(base, tuned, [5, 10])
    with pytest.raises(ValueError, match="7 is not one of the sweep's percentages"):
        sweep.mask(7)
    assert _equal_params(base.hf, original)  # nothing written


@pytest.mark.bad_input
def test_nan_changes_are_refused(make_model, monkeypatch):
    monkeypatch.setattr(naming, "_CHUNK", 1000)
    base = make_model("llama")
    tuned = _perturbed(base)
    original = _snapshot(base.hf)
    with torch.no_grad():
        tuned.get_parameter("model.layers.1.mlp.up_proj.weight")[3, 4] = float("nan")
    for call in (lambda: top_p_masks(base, tuned, [5, 50]), lambda: graft_sweep(base, tuned, [5, 50])):
        with pytest.raises(ValueError, match="'model.layers.1.mlp.up_proj.weight' has NaN entries"):
            call()
    with torch.no_grad():  # a chunk of NaN only
        tuned.get_parameter("model.layers.2.input_layernorm.weight").fill_(float("nan"))
        tuned.get_parameter("model.layers.1.mlp.up_proj.weight")[3, 4] = 0.0
    with pytest.raises(ValueError, match="'model.layers.2.input_layernorm.weight' has NaN entries"):
        graft_sweep(base, tuned, [5])
    assert _equal_params(base.hf, original)
