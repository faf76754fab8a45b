"""Weight orthogonalization (``mechint.refusal.orthogonalize_weights``) against run-time oracles.

On every family: the edited model's logits equal the original's under raw ``register_forward_hook``
hooks that project the same per-module direction out of each edited module's output (the run-time
twin of each weight edit, built here from the derivation, not from the function's code); its
residual stream has no component along the direction anywhere, BOS included. On the families whose
writes are linear (Llama, Qwen2, GPT-2) it also equals ``AblateDirection`` at the embedding,
``hook_attn_out`` and ``hook_mlp_out``; on Gemma 3 and BLOOM, whose writes pass through a norm with a
gain, it documentedly differs from that hook ablation while both remove the direction.
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager

import pytest
import torch
from conftest import TEXTS
from torch import Tensor, nn

from mechint import AblateDirection, intervene
from mechint.refusal import orthogonalize_weights
from mechint.testing import FAMILY_NAMES, tiny_model

LINEAR_FAMILIES = ("llama", "qwen2", "gpt2")
POST_NORM_FAMILIES = ("gemma3", "bloom")  # a write passes through a norm with a per-dimension gain
RESID_SITES = ["hook_resid_pre", "hook_resid_mid", "hook_resid_post"]

# float32: each weight is rounded once after the float64 edit, the oracle rounds each projected
# activation once; the two runs differ by float32 rounding through 3 tiny layers.
ATOL, RTOL = 1e-5, 1e-4
# |x . u| / |x| left in the edited model's residual stream: float32 rounding leaves ~1e-7.
PROJ_TOL = 1e-4
# bfloat16: every edited weight entry is rounded to 8 significant bits (2**-8 ~ 0.004), and so is
# every residual sum; a random direction's share of a residual vector is ~0.1-0.4 before the edit.
BF16_PROJ_TOL = 1e-2


def _direction(model, seed: int = 3) -> Tensor:
    return torch.randn(model.d_model, generator=torch.Generator().manual_seed(seed))


def _unit(v: Tensor) -> Tensor:
    v = v.double()
    return v / v.norm()


def _rel_projection(x: Tensor, u: Tensor) -> float:
    """max over cells of |x . unit(u)| / |x| (float64; cells of zero norm, e.g. a zero pad embedding, count 0)."""
    x, u = x.double().cpu(), _unit(u).cpu()
    return ((x @ u).abs() / x.norm(dim=-1).clamp_min(1e-30)).max().item()


def _max_resid_projection(model, u: Tensor) -> float:
    """Largest relative projection on ``unit(u)`` over every residual site, layer, text and position."""
    with torch.no_grad():
        _, cache = model.run_with_cache(TEXTS, sites=RESID_SITES, logits=False)
    assert len(cache) == 3 * model.n_layers
    return max(_rel_projection(x, u) for x in cache.values())


def _logits(model) -> Tensor:
    with torch.no_grad():
        return model(TEXTS)


# ------------------------------------------------------------------------------ the raw oracle


def _project_out(v: Tensor):
    """A forward hook removing the component along the unit vector ``v`` from a module's output."""

    def hook(module, args, out):
        x = out.double()
        return (x - (x @ v)[..., None] * v).to(out.dtype)

    return hook


def _subtract(c: Tensor):
    """A forward hook subtracting the constant vector ``c`` from a module's output."""

    def hook(module, args, out):
        return (out.double() - c).to(out.dtype)

    return hook


def _oracle_hooks(model, u: Tensor) -> list[tuple[nn.Module, object]]:
    """The run-time twin of each weight edit, as (module, forward hook) pairs on the original model.

    A linear module's output with ``v`` projected out is what the module computes with ``v`` projected
    out of its weight's outputs and bias. Through an RMSNorm with gain ``g`` (Gemma 3's post-norms) the
    direction is ``unit(g * u)``; through a LayerNorm (BLOOM's embedding norm) it is
    ``unit(center(g * u))``, and the norm's bias loses its ``u`` component, which is the constant
    ``(b . u) u`` subtracted from the norm's output.
    """
    fam, hf, u = model.family, model.hf, _unit(u)
    pairs: list[tuple[nn.Module, object]] = []
    v_embed = u
    if fam.embed_norm is not None:
        ln = hf.get_submodule(fam.embed_norm)
        assert isinstance(ln, nn.LayerNorm)
        w = ln.weight.detach().double() * u
        v_embed = _unit(w - w.mean())
        pairs.append((ln, _subtract((ln.bias.detach().double() @ u) * u)))
    for path in fam.embeddings:
        pairs.append((hf.get_submodule(path), _project_out(v_embed)))
    for layer in hf.get_submodule(fam.layers):
        for proj, norm in ((fam.attn_out_proj, fam.attn_post_norm), (fam.mlp_out_proj, fam.mlp_post_norm)):
            v = u
            if norm is not None:
                v = _unit((layer.get_submodule(norm).weight.detach().double() + fam.norm_gain_offset) * u)
            pairs.append((layer.get_submodule(proj), _project_out(v)))
    return pairs


@contextmanager
def _oracle(model, u: Tensor):
    handles = [module.register_forward_hook(hook) for module, hook in _oracle_hooks(model, u)]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


def _hook_ablation(u: Tensor) -> list[AblateDirection]:
    return [
        AblateDirection(u, sites=("hook_attn_out", "hook_mlp_out"), positions="all"),
        AblateDirection(u, sites=["blocks.0.hook_resid_pre"], positions="all"),
    ]


# ------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_weights_equal_the_forward_hook_oracle(family):
    model = tiny_model(family)
    d = _direction(model)
    edited = orthogonalize_weights(model, 3.0 * d)  # the scale of the direction does not matter
    with _oracle(model, d):
        expected = _logits(model)
    got = _logits(edited)
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=RTOL)
    assert (got - _logits(model)).abs().max() > 1e-2  # the edit changes the model


@pytest.mark.parametrize("family", LINEAR_FAMILIES)
def test_linear_writes_equal_the_hook_ablation(family):
    model = tiny_model(family)
    d = _direction(model)
    edited = orthogonalize_weights(model, d)
    with intervene(model, *_hook_ablation(d)):
        expected = _logits(model)
    torch.testing.assert_close(_logits(edited), expected, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("family", POST_NORM_FAMILIES)
def test_post_norm_writes_differ_from_the_hook_ablation_but_both_remove_the_direction(family):
    # The hook ablation projects u out of the norm's output; the weights can only change the norm's
    # input, which the norm then rescales: both leave no u in the residual stream, by different edits.
    model = tiny_model(family)
    d = _direction(model)
    edited = orthogonalize_weights(model, d)
    with intervene(model, *_hook_ablation(d)):
        hooked = _logits(model)
        assert _max_resid_projection(model, d) < PROJ_TOL
    assert (_logits(edited) - hooked).abs().max() > 1e-3
    assert _max_resid_projection(edited, d) < PROJ_TOL


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_residual_stream_has_no_projection_anywhere(family):
    # every layer's resid_pre / resid_mid / resid_post, every text and position of a left-padded batch
    # (BOS included: the edit is in the weights, so no position is spared)
    model = tiny_model(family)
    d = _direction(model)
    assert _max_resid_projection(model, d) > 0.1  # the original has a component along d
    assert _max_resid_projection(orthogonalize_weights(model, d), d) < PROJ_TOL


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_bfloat16_runs_and_leaves_a_small_projection(family):
    model = tiny_model(family, dtype=torch.bfloat16)
    d = _direction(model)
    edited = orthogonalize_weights(model, d)
    assert edited.dtype == torch.bfloat16
    assert _max_resid_projection(edited, d) < BF16_PROJ_TOL


def _head(model) -> nn.Module:
    return model.hf.get_submodule(model.family.lm_head)


def _shares_storage(a: Tensor, b: Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_original_unchanged_and_unembedding_kept(family):
    model = tiny_model(family)
    before = {k: v.clone() for k, v in model.hf.state_dict().items()}
    embed = model.hf.get_submodule(model.family.embeddings[0]).weight
    tied = _shares_storage(_head(model).weight, embed)
    assert tied == (family in ("gemma3", "gpt2", "bloom"))  # the tiny configs tie where the real models do
    edited = orthogonalize_weights(model, _direction(model))

    after = model.hf.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())
    assert _shares_storage(_head(model).weight, embed) == tied  # the original stays tied
    assert edited.hf is not model.hf and edited.tokenizer is model.tokenizer
    assert edited.name == f"{model.name}+orthogonalized"

    head = _head(edited).weight
    new_embed = edited.hf.get_submodule(model.family.embeddings[0]).weight
    assert torch.equal(head, before[f"{model.family.lm_head}.weight"])  # the unembedding is the original's
    assert not _shares_storage(head, new_embed)
    assert not torch.equal(new_embed, embed)
    if tied:  # untied for good: re-tying from the config or transformers' record does nothing
        assert edited.hf.config.tie_word_embeddings is False
        edited.hf.tie_weights()  # from the config
        if "recompute_mapping" in inspect.signature(edited.hf.tie_weights).parameters:
            edited.hf.tie_weights(recompute_mapping=False)  # from the pairs recorded at init
        assert torch.equal(_head(edited).weight, before[f"{model.family.lm_head}.weight"])
        assert not _shares_storage(_head(edited).weight, new_embed)


def test_inplace_edits_the_model_itself():
    model = tiny_model("gemma3")  # tied embeddings
    d = _direction(model)
    expected = _logits(orthogonalize_weights(model, d))
    head = _head(model).weight.clone()
    hf = model.hf
    assert orthogonalize_weights(model, d, inplace=True) is model
    assert model.hf is hf and model.name == "tiny-gemma3-seed0"
    assert torch.equal(_head(model).weight, head)
    assert not _shares_storage(_head(model).weight, model.hf.get_submodule(model.family.embeddings[0]).weight)
    torch.testing.assert_close(_logits(model), expected, atol=0, rtol=0)
    assert _max_resid_projection(model, d) < PROJ_TOL


def test_untied_model_saves_and_loads_as_edited(tmp_path):
    from transformers import AutoModelForCausalLM

    model = tiny_model("gemma3")
    edited = orthogonalize_weights(model, _direction(model))
    edited.hf.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert torch.equal(loaded.lm_head.weight, model.hf.lm_head.weight)
    assert torch.equal(loaded.model.embed_tokens.weight, edited.hf.model.embed_tokens.weight)


@pytest.mark.bad_input
@pytest.mark.parametrize(
    "make, match",
    [
        (lambda d: torch.randn(d + 1), "d_model=64"),
        (lambda d: torch.randn(2, d), r"one vector \[d_model\]"),
        (lambda d: torch.zeros(d), "zero"),
        (lambda d: torch.full((d,), float("nan")), "non-finite"),
        (lambda d: torch.tensor([float("inf")] + [0.0] * (d - 1)), "non-finite"),
    ],
    ids=["width", "2d", "zero", "nan", "inf"],
)
def test_bad_directions_are_refused(make, match):
    model = tiny_model("llama")
    with pytest.raises(ValueError, match=match):
        orthogonalize_weights(model, make(model.d_model))


def test_a_copy_is_refused_while_hooks_are_installed():
    model = tiny_model("llama")
    d = _direction(model)
    with intervene(model, AblateDirection(d)):
        with pytest.raises(ValueError, match="hook"):
            orthogonalize_weights(model, d)
