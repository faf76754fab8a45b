"""Tiny random models of every supported family, and a byte-level tokenizer, built offline.

Used by the test suite and the benchmarks (``benchmarks/_common.random_llama`` builds realistic shapes, e.g.
Llama-3.2-1B's, with random weights: no download is ever needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .chat import GEMMA_TEMPLATE
from .families import FAMILIES
from .model import Model

FAMILY_NAMES: tuple[str, ...] = tuple(FAMILIES)
"""Every supported family: a family added to :data:`~mechint.families.FAMILIES` is tested at once (and
fails :func:`tiny_config` until it has a tiny configuration here)."""

TL_ARCHITECTURES: dict[str, str] = {
    "llama": "LlamaForCausalLM",
    "gemma3": "Gemma3ForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
    "gpt2": "GPT2LMHeadModel",
    "bloom": "BloomForCausalLM",
}
"""Family -> the Hugging Face architecture name TransformerLens's adapter factory takes: the tests
that build a TransformerLens bridge of a tiny model (oracles, interop, attention sites) share it."""


def byte_tokenizer(merges: Sequence[tuple[str, str]] = ()):
    """A byte-level BPE tokenizer (256 byte tokens + bos/eos/pad): any text in any script tokenizes,
    one token per UTF-8 byte, with a BOS token prepended. ``merges``: pairs of byte-level symbols
    written as one token, as a real BPE tokenizer writes some (``("Ġ", "A")``: a space and "A" are
    the one token " A"; ``("Ċ", "Ċ")``: two line breaks are one), for tests of token boundaries;
    their tokens come after the special ones in the vocabulary."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    byte_chars = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(byte_chars))}
    specials = ["<bos>", "<eos>", "<pad>"]
    for tok in [*specials, *("".join(pair) for pair in merges)]:
        vocab[tok] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[(a, b) for a, b in merges]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", padding_side="left"
    )


def tiny_config(family: str, *, vocab_size: int = 259, n_layers: int = 3, d_model: int = 64, **overrides):
    """A small Hugging Face config of ``family`` (4 heads, GQA where the family has it)."""
    import transformers as tf

    # the decoder layout Llama, Qwen2 and Gemma 3 share; each family adds its own keys
    decoder: dict[str, Any] = dict(
        vocab_size=vocab_size, hidden_size=d_model, intermediate_size=2 * d_model, num_hidden_layers=n_layers,
        num_attention_heads=4, max_position_embeddings=256,
    )  # fmt: skip
    if family == "llama":
        cfg = tf.LlamaConfig(**decoder, num_key_value_heads=2, tie_word_embeddings=False)
    elif family == "qwen2":
        cfg = tf.Qwen2Config(**decoder, num_key_value_heads=2, tie_word_embeddings=False, use_sliding_window=False)
    elif family == "gemma3":
        cfg = tf.Gemma3TextConfig(
            **decoder, num_key_value_heads=1, head_dim=32, sliding_window=8, query_pre_attn_scalar=32
        )
    elif family == "gpt2":
        cfg = tf.GPT2Config(
            vocab_size=vocab_size,
            n_embd=d_model,
            n_layer=n_layers,
            n_head=4,
            n_positions=256,
            bos_token_id=vocab_size - 3,
            eos_token_id=vocab_size - 2,
        )
    elif family == "bloom":
        cfg = tf.BloomConfig(vocab_size=vocab_size, hidden_size=d_model, n_layer=n_layers, n_head=4)
    else:
        raise ValueError(
            f"no tiny configuration for family {family!r}"
            + (
                "; add one to mechint.testing.tiny_config so the test suite covers it"
                if family in FAMILIES
                else f"; families: {', '.join(FAMILY_NAMES)}"
            )
        )
    # Match the byte tokenizer's special tokens (bos=256, eos=257, pad=258 when vocab_size is 259).
    cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id = vocab_size - 3, vocab_size - 2, vocab_size - 1
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


def tiny_hf_model(family: str, *, seed: int = 0, dtype: torch.dtype = torch.float32, **config):
    """A randomly initialised ``...ForCausalLM`` of ``family`` in eval mode."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    cfg = tiny_config(family, **config)
    model = AutoModelForCausalLM.from_config(cfg)
    # Random init leaves norms at 1 and biases at 0; perturb them so tests see every parameter.
    with torch.no_grad():
        for _, param in model.named_parameters():
            if param.ndim == 1:
                param.add_(0.1 * torch.randn_like(param))
    return model.to(dtype).eval()


# Chat templates in the layout of each family's instruction-tuned models (written for the tests):
# Llama 3's headers and BOS, Gemma's turns with the system prompt folded into the first user turn,
# ChatML with a default system prompt (Qwen2.5), a plain role-tag layout for the others.
_GEN = "{% if add_generation_prompt %}"
CHAT_TEMPLATES: dict[str, str] = {
    "llama": "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}" + _GEN + "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}",
    "gemma3": GEMMA_TEMPLATE,
    "qwen2": "{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    + _GEN
    + "<|im_start|>assistant\n{% endif %}",
    "gpt2": "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    + _GEN
    + "<|assistant|>{% endif %}",
    "bloom": "{% for m in messages %}### {{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    + _GEN
    + "### assistant: {% endif %}",
}
"""A chat template per family, for tests of chat formatting on tiny models (:func:`tiny_model` ``chat=True``)."""


def tiny_model(
    family: str, *, seed: int = 0, device=None, dtype: torch.dtype = torch.float32, chat: bool = False, **config
) -> Model:
    """A tiny random :class:`Model` of ``family`` with the byte tokenizer (and with ``chat``, the
    family's template from :data:`CHAT_TEMPLATES`)."""
    hf = tiny_hf_model(family, seed=seed, dtype=dtype, **config)
    if device is not None:
        hf = hf.to(device)
    tokenizer = byte_tokenizer()
    if chat:
        tokenizer.chat_template = CHAT_TEMPLATES[family]
    return Model(hf, tokenizer, name=f"tiny-{family}-seed{seed}" + ("-chat" if chat else ""))


PLANTED_TEMPLATE = (
    "{% for m in messages %}U: {{ m['content'] }}{% endfor %}{% if add_generation_prompt %}\nA:{% endif %}"
)
"""The short chat layout of :func:`planted_refusal_model` (two post-instruction tokens)."""


def planted_refusal_model(
    *, seed: int = 0, layer: int = 2, n_layers: int = 6, write: float = 1.0, read: float = 3.0, trigger: str = "X"
) -> tuple[Model, Tensor, int]:
    """A tiny Llama whose refusal is one planted direction, for tests of refusal-direction methods.

    The ``trigger`` byte's embedding carries a private direction ``e`` that no weight reads except
    one attention head at ``layer``; that head writes ``write * u`` to the residual stream, at every
    position that attends to a trigger token; no other weight writes along ``u`` or ``e``; the LM head's
    row of the token ``"I"`` is ``read * u``. So prompts with the trigger "refuse" (the log-odds of
    ``"I"`` is high), ``u`` exists from ``blocks.{layer + 1}.hook_resid_pre`` on, and ablating ``u``
    removes the refusal. Returns ``(model, u [d_model] unit, id of "I")``; chat layout
    :data:`PLANTED_TEMPLATE`."""
    model = tiny_model("llama", seed=seed, n_layers=n_layers)
    model.tokenizer.chat_template = PLANTED_TEMPLATE
    hf = model.hf
    gen = torch.Generator().manual_seed(seed + 123)
    u = torch.randn(model.d_model, generator=gen)
    u /= u.norm()
    e = torch.randn(model.d_model, generator=gen)
    e -= (e @ u) * u
    e /= e.norm()
    (trig,) = model.tokenizer(trigger, add_special_tokens=False)["input_ids"]
    (refuse,) = model.tokenizer("I", add_special_tokens=False)["input_ids"]

    def blind(linear: torch.nn.Linear, v: Tensor) -> None:  # rows orthogonal to v: reads nothing along it
        v = v / v.norm()
        linear.weight -= torch.outer(linear.weight @ v, v)

    with torch.no_grad():
        emb = hf.model.embed_tokens.weight
        emb -= torch.outer(emb @ e, e)
        emb[trig] += 0.5 * e
        for block in hf.model.layers:
            attn, mlp = block.self_attn, block.mlp
            for out in (attn.o_proj, mlp.down_proj):
                out.weight -= torch.outer(e, e @ out.weight) + torch.outer(u, u @ out.weight)
            for lin in (attn.q_proj, attn.k_proj, attn.v_proj):
                blind(lin, block.input_layernorm.weight * e)
            for lin in (mlp.gate_proj, mlp.up_proj):
                blind(lin, block.post_attention_layernorm.weight * e)
        block = hf.model.layers[layer]
        block.self_attn.v_proj.weight[0] = e / block.input_layernorm.weight  # head 0 reads e ...
        block.self_attn.o_proj.weight[:, 0] = write * u  # ... and writes u
        hf.lm_head.weight[refuse] = read * u
    return model, u, refuse
