"""The tuned lens: an untrained lens is the logit lens, a translator's reading is its hand computation,
training lowers held-out KL, an interrupted run resumes to the bits of an uninterrupted one, and the
files are the ``tuned-lens`` package's layout."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import TEXTS, VARIED_TEXTS, assert_site_close

import mechint
from mechint import TunedLens, collect, lens_divergence, logit_lens, train_tuned_lens
from mechint.testing import FAMILY_NAMES
from mechint.tuned_lens import lens_sites

TRAIN = VARIED_TEXTS + [t[::-1] for t in VARIED_TEXTS] + [f"{a} {b}" for a, b in zip(VARIED_TEXTS, TEXTS * 3)]
HELD_OUT = TEXTS


def _kl(target_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    p = target_logits.double().log_softmax(-1)
    q = logits.double().log_softmax(-1)
    return (p.exp() * (p - q)).sum(-1)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_untrained_tuned_lens_is_the_logit_lens(family, make_model):
    model = make_model(family)
    tuned = TunedLens.for_model(model)
    plain = logit_lens(model, TEXTS, positions="all", top_k=4, tokens=[97, 98])
    read = logit_lens(model, TEXTS, positions="all", top_k=4, tokens=[97, 98], tuned=tuned)
    assert read.tuned and not plain.tuned
    for i in range(len(TEXTS)):
        assert torch.equal(read.top_ids[i], plain.top_ids[i])
        assert_site_close(read.top_probs[i], plain.top_probs[i], name=f"{family} text {i}")
    plain_kl = lens_divergence(model, TEXTS)
    tuned_kl = lens_divergence(model, TEXTS, tuned=tuned)
    assert tuned_kl.lens == "tuned" and plain_kl.lens == "logit"
    torch.testing.assert_close(tuned_kl.kl, plain_kl.kl, rtol=1e-5, atol=1e-6)
    assert plain_kl.kl[-1].abs() < 1e-5  # the last entry is the model's output
    assert (plain_kl.kl[:-1] > 0).all()


def test_translator_reading_is_its_hand_computation(make_model):
    model = make_model("llama")
    tuned = TunedLens.for_model(model)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for t in tuned.layer_translators:
            t.weight.copy_(torch.randn(t.weight.shape, generator=g) * 0.1)
            t.bias.copy_(torch.randn(t.bias.shape, generator=g))
    text = TEXTS[2]
    read = logit_lens(model, text, positions="all", tokens=[97], tuned=tuned)
    _, acts = model.run_with_cache(text, lens_sites(model))
    norm = model.site("ln_final.hook_normalized").module
    head = model.hf.get_submodule(model.family.lm_head)
    for l in range(model.n_layers + 1):
        h = acts[lens_sites(model)[l]][0]
        if l < model.n_layers:
            w, b = tuned.layer_translators[l].weight, tuned.layer_translators[l].bias
            h = h + h @ w.T + b
        with torch.no_grad():
            probs = head(norm(h)).softmax(-1)
        assert read.token_probs is not None
        assert_site_close(read.token_probs[0][l], probs[:, [97]], name=f"entry {l}")
    # lens_divergence reads the same translators: its KL is the hand KL of these readings
    div = lens_divergence(model, text, tuned=tuned, layers=[1])
    h = acts["blocks.1.hook_resid_pre"][0]
    h = h + h @ tuned.layer_translators[1].weight.T + tuned.layer_translators[1].bias
    with torch.no_grad():
        final = head(norm(acts[lens_sites(model)[-1]][0]))
        hand = _kl(final, head(norm(h))).mean()
    assert div.layers == [1] and div.n_tokens == h.shape[0]
    assert abs(div.kl[0].item() - hand.item()) < 1e-5


def test_lens_divergence_batched_equals_one_by_one(make_model):
    model = make_model("gemma3")
    tuned = TunedLens.for_model(model)
    with torch.no_grad():
        tuned.layer_translators[0].bias.fill_(0.3)
    together = lens_divergence(model, VARIED_TEXTS, tuned=tuned, batch_size=5)
    alone = [lens_divergence(model, t, tuned=tuned) for t in VARIED_TEXTS]
    weights = torch.tensor([a.n_tokens for a in alone], dtype=torch.float64)
    mean = (torch.stack([a.kl.double() for a in alone]) * weights[:, None]).sum(0) / weights.sum()
    assert together.n_tokens == int(weights.sum())
    torch.testing.assert_close(together.kl.double(), mean, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("family", "optimizer"), [("llama", "sgd"), ("gemma3", "sgd"), ("qwen2", "adam"), ("gemma3", "adam")]
)
def test_training_lowers_held_out_kl_below_the_logit_lens(family, optimizer, make_model):
    # weights 10x the default scale: the tiny model's predictions are then peaked enough for its
    # logit lens to be far from them (KL about 0.3-2.5 nats; about 0.01 at the default scale)
    model = make_model(family, initializer_range=0.2)
    # Adam's steps do not grow with the gradient: 1e-2 (not its default 1e-3) for 60 steps of a tiny model
    lr = 1e-2 if optimizer == "adam" else None
    fit = train_tuned_lens(model, TRAIN, steps=60, tokens_per_step=256, optimizer=optimizer, lr=lr, progress=False)
    assert fit.losses.shape == (60, model.n_layers) and fit.layers == list(range(model.n_layers))
    # row 0 is the logit lens's KL on the first step's tokens; the training KL falls
    assert (fit.losses[-10:].mean(0) < 0.75 * fit.losses[0]).all(), fit.losses[[0, -1]]
    plain = lens_divergence(model, HELD_OUT)
    tuned = lens_divergence(model, HELD_OUT, tuned=fit.lens)
    assert (tuned.kl[:-1] < 0.8 * plain.kl[:-1]).all(), (tuned.kl, plain.kl)
    assert tuned.kl[-1].abs() < 1e-5


def test_first_step_loss_is_the_logit_lens_divergence_of_its_tokens(make_model):
    """With every token in the step, the loss before the first update is lens_divergence of the texts."""
    model = make_model("qwen2")
    fit = train_tuned_lens(model, TRAIN[:6], steps=1, tokens_per_step=10**6, progress=False)
    plain = lens_divergence(model, TRAIN[:6])
    assert fit.n_tokens == plain.n_tokens
    torch.testing.assert_close(fit.losses[0], plain.kl[:-1], rtol=1e-4, atol=1e-6)


def test_training_on_collected_activations_equals_training_on_texts(make_model, tmp_path):
    model = make_model("llama")
    acts = collect(model, TRAIN, lens_sites(model), pool="all", progress=False)
    from_texts = train_tuned_lens(model, TRAIN, steps=4, tokens_per_step=64, progress=False)
    from_acts = train_tuned_lens(model, acts, steps=4, tokens_per_step=64, progress=False)
    stored = collect(model, TRAIN, lens_sites(model), pool="all", store=tmp_path / "store", progress=False)
    assert stored.pool == "all"
    from_store = train_tuned_lens(
        model, mechint.ActivationStore(tmp_path / "store"), steps=4, tokens_per_step=64, progress=False
    )
    for other in (from_acts, from_store):
        assert torch.equal(other.losses, from_texts.losses)
        for a, b in zip(other.lens.parameters(), from_texts.lens.parameters()):
            assert torch.equal(a, b)


def test_only_the_named_layers_train_and_the_model_is_untouched(make_model):
    model = make_model("llama")
    before = {k: v.clone() for k, v in model.hf.state_dict().items()}
    flags = [p.requires_grad for p in model.hf.parameters()]
    fit = train_tuned_lens(model, TRAIN, steps=3, tokens_per_step=64, layers=[1], progress=False)
    assert fit.layers == [1] and fit.losses.shape == (3, 1)
    assert fit.lens.layer_translators[1].weight.abs().sum() > 0
    for l in (0, 2):
        assert fit.lens.layer_translators[l].weight.abs().sum() == 0
    assert all(p.grad is None for p in model.hf.parameters())
    assert [p.requires_grad for p in model.hf.parameters()] == flags
    for k, v in model.hf.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_interrupted_training_resumes_to_the_uninterrupted_result(make_model, tmp_path, monkeypatch):
    model = make_model("llama")
    whole = train_tuned_lens(model, TRAIN, steps=7, tokens_per_step=96, progress=False)

    # a Ctrl-C in the middle of step 5 (its forward): steps 1-4 are saved, step 5 is redone
    import mechint.tuned_lens as tl

    real_kl, calls = tl._kl_rows, {"n": 0}

    def interrupting(target, logits):
        calls["n"] += 1
        if calls["n"] == 4 * model.n_layers + 2:
            raise KeyboardInterrupt
        return real_kl(target, logits)

    monkeypatch.setattr(tl, "_kl_rows", interrupting)
    with pytest.raises(KeyboardInterrupt):
        train_tuned_lens(model, TRAIN, steps=7, tokens_per_step=96, checkpoint=tmp_path, save_every=3, progress=False)
    monkeypatch.setattr(tl, "_kl_rows", real_kl)
    state = torch.load(tmp_path / "train_state.pt", weights_only=True)
    assert state["step"] == 4
    resumed = train_tuned_lens(
        model, TRAIN, steps=7, tokens_per_step=96, checkpoint=tmp_path, save_every=3, progress=False
    )
    assert torch.equal(resumed.losses, whole.losses)
    for a, b in zip(resumed.lens.parameters(), whole.lens.parameters()):
        assert torch.equal(a, b)
    # the finished run's lens is in the folder too; a call with other settings is refused
    loaded = TunedLens.load(tmp_path, model)
    for a, b in zip(loaded.parameters(), whole.lens.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="another run"):
        train_tuned_lens(model, TRAIN, steps=7, tokens_per_step=96, lr=0.5, checkpoint=tmp_path, progress=False)


def test_saved_lens_is_the_tuned_lens_package_layout(make_model, tmp_path):
    model = make_model("gemma3")
    fit = train_tuned_lens(model, TRAIN[:5], steps=2, tokens_per_step=32, progress=False)
    fit.lens.save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["d_model"] == model.d_model and config["num_hidden_layers"] == model.n_layers
    assert config["bias"] is True and config["lens_type"] == "linear_tuned_lens"
    state = torch.load(tmp_path / "params.pt", weights_only=True)
    assert sorted(state) == sorted(f"{l}.{p}" for l in range(model.n_layers) for p in ("weight", "bias"))
    assert state["0.weight"].shape == (model.d_model, model.d_model)
    # a file as the package writes it (its base model named, no bias key defaults to a bias) loads
    config["base_model_name_or_path"] = "someone/some-model"
    (tmp_path / "config.json").write_text(json.dumps(config))
    loaded = TunedLens.load(tmp_path, model)
    assert loaded.base_model == "someone/some-model"
    a = logit_lens(model, TEXTS[0], positions="all", tuned=loaded)
    b = logit_lens(model, TEXTS[0], positions="all", tuned=fit.lens)
    assert torch.equal(a.top_probs[0], b.top_probs[0])


def test_bfloat16_model(make_model, device):
    model = make_model("llama", device=device, dtype=torch.bfloat16, initializer_range=0.2)
    fit = train_tuned_lens(model, TRAIN, steps=20, tokens_per_step=128, progress=False)
    assert all(p.dtype == torch.float32 and p.device.type == device.type for p in fit.lens.parameters())
    plain = lens_divergence(model, HELD_OUT)
    tuned = lens_divergence(model, HELD_OUT, tuned=fit.lens)
    assert torch.isfinite(tuned.kl).all()
    assert tuned.kl[:-1].mean() < plain.kl[:-1].mean()
    read = logit_lens(model, HELD_OUT[0], tuned=fit.lens)
    assert read.top_probs[0].dtype == torch.float32


@pytest.mark.bad_input
def test_bad_input(make_model, tmp_path):
    model = make_model("llama")
    other = make_model("llama", num_hidden_layers=2)
    lens = TunedLens.for_model(other)
    with pytest.raises(ValueError, match="2 layers"):
        logit_lens(model, "hi", tuned=lens)
    with pytest.raises(ValueError, match="2 layers"):
        lens_divergence(model, "hi", tuned=lens)
    with pytest.raises(ValueError, match="2 layers"):
        train_tuned_lens(model, TRAIN, steps=1, lens=lens, progress=False)
    with pytest.raises(ValueError, match="steps"):
        train_tuned_lens(model, TRAIN, steps=0, progress=False)
    with pytest.raises(ValueError, match="lr"):
        train_tuned_lens(model, TRAIN, lr=float("nan"), progress=False)
    with pytest.raises(ValueError, match="adam"):
        train_tuned_lens(model, TRAIN, optimizer="adamw", progress=False)
    with pytest.raises(ValueError, match="momentum"):
        train_tuned_lens(model, TRAIN, momentum=1.0, progress=False)
    with pytest.raises(ValueError, match="lens layer"):
        train_tuned_lens(model, TRAIN, layers=[model.n_layers], progress=False)
    with pytest.raises(ValueError, match="texts"):
        train_tuned_lens(model, [], progress=False)
    pooled = collect(model, TRAIN[:3], lens_sites(model), pool="last", progress=False)
    with pytest.raises(ValueError, match="pool='all'"):
        train_tuned_lens(model, pooled, progress=False)
    partial = collect(model, TRAIN[:3], lens_sites(model)[:2], pool="all", progress=False)
    with pytest.raises(KeyError, match="lens_sites"):
        train_tuned_lens(model, partial, progress=False)
    with pytest.raises(FileNotFoundError, match="params.pt"):
        TunedLens.load(tmp_path)
