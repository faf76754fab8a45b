"""The interventions' default positions leave the BOS token (the attention sink) alone.

``AddDirection``, ``AblateDirection`` and ``EditNeurons`` with no ``positions=`` act on every token
but each text's first where the tokenizer puts a BOS token first, and on every token where it puts
none; ``positions="all"`` acts on BOS too. The oracles: an unhooked run (the BOS cells must equal it
bit for bit, every other real token must differ from it), the explicit ``from_text_start(slice(1,
None))`` spelling (the default must equal it bit for bit), and raw hooks written by hand.
"""

from __future__ import annotations

import pytest
import torch
from conftest import TEXTS, assert_site_close

import mechint
from mechint import add_value, from_text_start, record
from mechint.interventions import AblateDirection, AddDirection, EditNeurons, intervene
from mechint.neurons import neuron_edits
from mechint.testing import FAMILY_NAMES, byte_tokenizer, tiny_hf_model

BUT_FIRST = from_text_start(slice(1, None))
N_NEW = 5


def _randn(*shape, seed=0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _edit(kind: str, model, **kw):
    """One intervention of each kind, acting at every layer it can (so BOS would move everywhere)."""
    if kind == "add":
        return AddDirection(_randn(model.n_layers, model.d_model, seed=1), 6.0, **kw)
    if kind == "ablate":
        return AblateDirection(_randn(model.d_model, seed=2), sites=("hook_resid_pre", "hook_resid_post"), **kw)
    return EditNeurons(1, [0, 3, 5, 9], mode="set", value=4.0, **kw)


SITES = ("blocks.1.mlp.hook_post", "blocks.2.hook_resid_post", "ln_final.hook_normalized")


def _read(model, inputs, *interventions) -> dict[str, torch.Tensor]:
    """The activations at SITES (read after the interventions) in one forward of ``inputs``."""
    store: dict = {}
    with intervene(model, *interventions, *[(s, record(store)) for s in SITES]):
        model(inputs)
    return {s: store[s].float().cpu() for s in SITES}


def _no_bos_model(family: str = "gpt2"):
    """A tiny model whose tokenizer has a BOS token but does not put it in front (GPT-2's way)."""
    from tokenizers import processors

    tok = byte_tokenizer()
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(single="$A", pair="$A $B", special_tokens=[])
    return mechint.Model(tiny_hf_model(family), tok, name=f"tiny-{family}-no-bos")


# --------------------------------------------------------------------------- plain forwards


@pytest.mark.parametrize("kind", ["add", "ablate", "edit"])
@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_default_leaves_bos_alone_in_a_left_padded_batch(family, kind, make_model):
    model = make_model(family)
    assert model.adds_bos
    enc = model.tokenize(TEXTS)
    real = enc["attention_mask"].bool().cpu()
    pad = (~real).sum(1)
    assert len(set(pad.tolist())) > 2, "texts of different lengths, left-padded"
    bos = torch.zeros_like(real)
    bos[torch.arange(len(TEXTS)), pad] = True
    assert bool((enc["input_ids"].cpu()[bos] == model.tokenizer.bos_token_id).all())

    plain = _read(model, enc)
    edited = _read(model, enc, _edit(kind, model))
    explicit = _read(model, enc, _edit(kind, model, positions=BUT_FIRST))
    for site in SITES:
        name = f"{family} {kind} {site}"
        assert torch.equal(edited[site], explicit[site]), f"{name}: default != from_text_start(slice(1, None))"
        assert torch.equal(edited[site][bos], plain[site][bos]), f"{name}: the BOS cells moved"
        rest = real & ~bos
        moved = (edited[site] - plain[site]).abs().amax(-1)  # [batch, pos]
        assert bool((moved[rest] > 0).all()), f"{name}: a token after BOS was not changed"


@pytest.mark.parametrize("kind", ["add", "ablate", "edit"])
def test_all_acts_on_bos_as_the_raw_engine_does(kind, make_model):
    model = make_model("llama")
    enc = model.tokenize(TEXTS[:3])
    real = enc["attention_mask"].bool().cpu()
    pad = (~real).sum(1)
    rows = torch.arange(3)
    plain = _read(model, enc)
    everywhere = _read(model, enc, _edit(kind, model, positions="all"))
    constant = _read(model, enc, _edit(kind, model, positions=mechint.ALL_POSITIONS))
    for site in SITES:
        assert torch.equal(everywhere[site], constant[site])
        moved = (everywhere[site] - plain[site]).abs().amax(-1)
        assert bool((moved[rows, pad] > 1e-3).all()), f"{kind} {site}: 'all' left BOS alone"
        assert bool((moved[real] > 0).all())
    if kind == "add":  # the old default, as a raw hook on every position of every layer
        units = _randn(model.n_layers, model.d_model, seed=1)
        units = units / units.norm(dim=-1, keepdim=True)
        hand = [(f"blocks.{l}.hook_resid_post", add_value(6.0 * units[l])) for l in range(model.n_layers)]
        by_hand = _read(model, enc, hand)
        for site in SITES:
            assert_site_close(everywhere[site], by_hand[site], name=f"'all' vs add_value at {site}")


def test_raw_writers_keep_every_position(make_model):
    """add_value / set_value / scale_value with positions=None write BOS too (the raw engine)."""
    model = make_model("llama")
    enc = model.tokenize(TEXTS[:2])
    site = "blocks.0.hook_resid_post"
    store: dict = {}
    with model.hooks([(site, mechint.set_value(torch.full((model.d_model,), 3.0))), (site, record(store))]):
        model(enc)
    assert bool((store[site] == 3.0).all())


def test_neuron_edits_and_edit_effect_get_the_default(make_model):
    model = make_model("llama")
    enc = model.tokenize(TEXTS[:3])
    by_default = _read(model, enc, *neuron_edits([(1, 3), (2, 7)], mode="set", value=4.0))
    explicit = _read(model, enc, *neuron_edits([(1, 3), (2, 7)], mode="set", value=4.0, positions=BUT_FIRST))
    for site in SITES:
        assert torch.equal(by_default[site], explicit[site])
    d = _randn(model.d_model, seed=3)
    kw = dict(neurons=[(0, 4), (1, 3)], mode="set", value=4.0, layer=2, batch_size=2)
    default = mechint.neurons.edit_effect(model, TEXTS[:4], d, **kw)
    but_first = mechint.neurons.edit_effect(model, TEXTS[:4], d, positions=BUT_FIRST, **kw)
    everything = mechint.neurons.edit_effect(model, TEXTS[:4], d, positions="all", **kw)
    assert torch.equal(default.after, but_first.after)
    assert (everything.after - default.after).abs().max() > 1e-4


@pytest.mark.bad_input
def test_other_words_are_refused():
    u = _randn(64)
    for make in (
        lambda p: AddDirection(u, positions=p),
        lambda p: AblateDirection(u, positions=p),
        lambda p: EditNeurons(0, [1], positions=p),
    ):
        with pytest.raises(ValueError, match=r"positions='ALL'.*'all'"):
            make("ALL")
        with pytest.raises(ValueError, match=r"positions='bos'"):
            make("bos")


# --------------------------------------------------------------------------- generation


def _generate(model, prompts, *interventions, sites=SITES):
    """Greedy tokens, step logits, and each step's activations at ``sites`` (concatenated)."""
    store: dict = {}
    with intervene(model, *interventions, *[(s, record(store)) for s in sites]):
        out = model.generate(
            prompts,
            max_new_tokens=N_NEW,
            min_new_tokens=N_NEW,
            return_tokens=True,
            return_dict_in_generate=True,
            output_logits=True,
        )
    return out.sequences, torch.stack(out.logits, 1), {s: store[s].float().cpu() for s in sites}


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_default_leaves_bos_alone_during_generation(family, make_model):
    """Greedy generate under the default: the BOS cells equal an unhooked generation's bit for bit,
    the run equals the explicit spelling's bit for bit, each step equals a forward over the
    generated tokens under the same edit, and every new token's activations are changed."""
    model = make_model(family)
    prompts = ["Hi", "Hello there", "今天"]
    edits = lambda **kw: [_edit("add", model, **kw), _edit("ablate", model, **kw), _edit("edit", model, **kw)]  # noqa: E731
    seq, logits, acts = _generate(model, prompts, *edits())
    seq_x, logits_x, acts_x = _generate(model, prompts, *edits(positions=BUT_FIRST))
    assert torch.equal(seq, seq_x) and torch.equal(logits, logits_x)
    _, _, plain = _generate(model, prompts)
    enc = model.tokenize(prompts)
    width = enc["input_ids"].shape[1]
    pad = (enc["attention_mask"] == 0).sum(1).cpu()
    rows = torch.arange(len(prompts))
    mask = torch.cat([enc["attention_mask"], torch.ones_like(seq[:, width:])], 1)
    fed, fed_mask = seq[:, :-1], mask[:, :-1]
    forward = _read(model, {"input_ids": fed, "attention_mask": fed_mask}, *edits())
    unedited = _read(model, {"input_ids": fed, "attention_mask": fed_mask})
    for site in SITES:
        name = f"{family} {site}"
        assert torch.equal(acts[site], acts_x[site]), name
        assert torch.equal(acts[site][rows, pad], plain[site][rows, pad]), f"{name}: BOS moved during generation"
        live = fed_mask.bool().cpu()  # the padding's activations are no one's: left out
        assert_site_close(acts[site][live], forward[site][live], name=f"{name}: steps vs forward")
        new = (forward[site][:, width:] - unedited[site][:, width:]).abs().amax(-1)
        assert bool((new > 1e-3).all()), f"{name}: a generated token was not changed"


# --------------------------------------------------------------------------- tokenizers without BOS


@pytest.mark.parametrize("kind", ["add", "ablate", "edit"])
def test_without_a_bos_token_the_default_still_leaves_the_first_token_alone(kind):
    """The attention sink is the first position whatever token stands there (a chat template's
    <|im_start|>, or a text's first word under a tokenizer that adds no BOS)."""
    model = _no_bos_model()
    assert not model.adds_bos
    texts = ["Hello there", "hi"]
    enc = model.tokenize(texts)
    assert not bool((enc["input_ids"] == model.tokenizer.bos_token_id).any())
    real = enc["attention_mask"].bool().cpu()
    plain = _read(model, enc)
    edited = _read(model, enc, _edit(kind, model))
    everywhere = _read(model, enc, _edit(kind, model, positions="all"))
    but_first = _read(model, enc, _edit(kind, model, positions=BUT_FIRST))
    pad = (~real).sum(1)
    for site in SITES:
        assert torch.equal(edited[site], but_first[site]), f"{kind} {site}: default != every token but the first"
        first = (edited[site] - plain[site]).abs().amax(-1)[torch.arange(2), pad]
        assert bool((first == 0).all()), f"{kind} {site}: the first token was edited"
        assert not torch.equal(edited[site], everywhere[site])
