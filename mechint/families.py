"""Architecture families: one small table per family maps TransformerLens site names to HF modules.

A site is read or written at the *input* (``"in"``) or the *output* (``"out"``) of one module of the
wrapped Hugging Face model; nothing of the model's forward is reimplemented. Adding an architecture
means adding one :class:`Family` to :data:`FAMILIES`.

Per-layer sites are given relative to the decoder layer module (``""`` is the layer itself). An
``"in"`` site whose tensor is also kept by the layer as its residual (``hook_resid_mid`` in pre-norm
blocks, read at the input of the second norm) is written in place, so that the write reaches both the
norm and the residual branch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Where = Literal["in", "out"]


@dataclass(frozen=True)
class ModuleSite:
    """Where a site lives: a module path relative to its anchor, and whether it is that module's
    input (first tensor argument) or output (first tensor of the output). ``inplace`` marks an input
    that the layer also keeps as its residual: a write must change the tensor itself, not the argument.

    Attention sites add:

    * ``heads``: the activation is viewed per head, ``[..., n, d_head]``, with ``n`` the config count
      named here (``"n_heads"`` for queries and ``attn.hook_z``, ``"n_kv_heads"`` for the keys and
      values of grouped-query attention).
    * ``index``: the element of a tuple output that carries the site (attention modules return
      ``(output, weights)``: the pattern is element 1).
    * ``fused``: the site is one part of a fused projection's output: ``(groups, parts, which)``,
      the last axis read as ``groups`` blocks of ``parts`` equal parts, part ``which`` of each
      (GPT-2's ``c_attn``: ``(1, 3, i)``, q | k | v; BLOOM's ``query_key_value``:
      ``("n_heads", 3, i)``, q k v of each head in turn). ``groups`` may name a config count.
    * ``pattern``: the attention weights after the softmax, ``[batch, head, query, key]``: read
      only, and reading it runs that forward with the eager attention implementation (the only one
      that returns the weights).
    * ``scores``: the attention scores before the softmax, ``[batch, head, query, key]``: the input
      of the one softmax the module at ``path`` computes in its forward (under the eager attention
      implementation), which is no module's input or output. Read only, as ``pattern``; ``where``
      and ``index`` do not apply.
    * ``order_as``: the block site whose module call this one fires in, where that is later than the
      default rank of its key (BLOOM's pattern comes out of the same call as ``hook_resid_mid``)."""

    path: str
    where: Where
    inplace: bool = False
    heads: str | None = None
    index: int = 0
    fused: tuple[int | str, int, int] | None = None
    pattern: bool = False
    scores: bool = False
    order_as: str | None = None


@dataclass(frozen=True)
class Family:
    """How one architecture family lays out its modules.

    Attributes:
        name: short family name, e.g. ``"llama"``.
        model_types: ``config.model_type`` values this table serves.
        base: path of the decoder stack without the LM head (e.g. ``"model"``); calling it skips the
            unembedding, which is most of the cost for large vocabularies.
        layers: path of the ``nn.ModuleList`` of decoder layers.
        lm_head: path of the unembedding.
        top_sites: model-level sites (``hook_embed``, ``ln_final.hook_normalized``, ...), in the order
            the forward computes them (a site's place here is its order before the first block).
        block_sites: per-layer sites, keyed by the part after ``blocks.{l}.``.
        mlp_out_proj: per-layer path of the MLP down projection (value vectors live in its weight).
        attn_out_proj: per-layer path of the attention output projection (``nn.Linear``, or GPT-2's
            ``Conv1D``), whose output is what attention writes into the residual stream (through
            :attr:`attn_post_norm` where there is one).
        embeddings: model-level paths of the embedding tables whose looked-up rows are added into the
            residual stream before the first block (GPT-2: token and learned position embeddings), through
            :attr:`embed_norm` where there is one.
        mlp_post_norm: per-layer path of the norm that normalises the MLP's output before it is added
            to the residual stream (Gemma 3: ``"post_feedforward_layernorm"``; there
            ``hook_mlp_out`` is that norm's output, not the down projection's), or None where the
            down projection's output is added as it is. A neuron's value vector reaches the residual
            stream through this norm's gain (:mod:`mechint.neurons`).
        attn_post_norm: per-layer path of the norm that normalises the attention output before it is
            added to the residual stream (Gemma 3: ``"post_attention_layernorm"``), or None.
        embed_norm: model-level path of a norm between the embeddings and the residual stream (BLOOM:
            ``"transformer.word_embeddings_layernorm"``), or None.
        norm_gain_offset: the RMSNorms scale by ``norm_gain_offset + weight`` (Gemma: ``1 + weight``).
        config_keys: names of ``n_layers``/``d_model``/``d_mlp``/``n_heads``/``n_kv_heads`` in the HF config.
        notes: anything a user should know about how a site maps on this family.
    """

    name: str
    model_types: tuple[str, ...]
    base: str
    layers: str
    lm_head: str
    top_sites: dict[str, ModuleSite]
    block_sites: dict[str, ModuleSite]
    mlp_out_proj: str
    attn_out_proj: str
    embeddings: tuple[str, ...]
    mlp_post_norm: str | None = None
    attn_post_norm: str | None = None
    embed_norm: str | None = None
    norm_gain_offset: float = 0.0
    config_keys: dict[str, str] = field(default_factory=dict)
    notes: str = ""

    @property
    def mlp(self) -> str:
        """Per-layer path of the MLP module (the parent of :attr:`mlp_out_proj`)."""
        return self.mlp_out_proj.rpartition(".")[0]


_LLAMA_CONFIG = {
    "n_layers": "num_hidden_layers",
    "d_model": "hidden_size",
    "d_mlp": "intermediate_size",
    "n_heads": "num_attention_heads",
    "n_kv_heads": "num_key_value_heads",
}

# Attention with separate q/k/v projections: hook_q/k/v are their outputs per head ([batch, pos,
# head, d_head], before RoPE, as TransformerLens's hook_q/k/v; keys and values have n_kv_heads heads
# under grouped-query attention), the scores are the input of the softmax of the attention function
# (after RoPE, Gemma's q/k norms, the scaling, any softcapping and the mask; one per query head), and
# the pattern is the weights the attention module returns.
_SEPARATE_QKV = {
    "attn.hook_q": ModuleSite("self_attn.q_proj", "out", heads="n_heads"),
    "attn.hook_k": ModuleSite("self_attn.k_proj", "out", heads="n_kv_heads"),
    "attn.hook_v": ModuleSite("self_attn.v_proj", "out", heads="n_kv_heads"),
    "attn.hook_attn_scores": ModuleSite("self_attn", "out", scores=True),
    "attn.hook_pattern": ModuleSite("self_attn", "out", index=1, pattern=True),
}

_LLAMA_BLOCK = {
    "hook_resid_pre": ModuleSite("", "in"),
    "hook_resid_mid": ModuleSite("post_attention_layernorm", "in", inplace=True),
    "hook_resid_post": ModuleSite("", "out"),
    "hook_attn_out": ModuleSite("self_attn", "out"),
    "attn.hook_z": ModuleSite("self_attn.o_proj", "in", heads="n_heads"),
    **_SEPARATE_QKV,
    "hook_mlp_out": ModuleSite("mlp", "out"),
    "mlp.hook_post": ModuleSite("mlp.down_proj", "in"),
}

_LLAMA_TOP = {
    "hook_embed": ModuleSite("model.embed_tokens", "out"),
    "ln_final.hook_normalized": ModuleSite("model.norm", "out"),
}

LLAMA = Family(
    name="llama",
    model_types=("llama", "mistral"),
    base="model",
    layers="model.layers",
    lm_head="lm_head",
    top_sites=_LLAMA_TOP,
    block_sites=_LLAMA_BLOCK,
    mlp_out_proj="mlp.down_proj",
    attn_out_proj="self_attn.o_proj",
    embeddings=("model.embed_tokens",),
    config_keys=_LLAMA_CONFIG,
)

QWEN2 = Family(
    name="qwen2",
    model_types=("qwen2",),
    base="model",
    layers="model.layers",
    lm_head="lm_head",
    top_sites=_LLAMA_TOP,
    block_sites=_LLAMA_BLOCK,
    mlp_out_proj="mlp.down_proj",
    attn_out_proj="self_attn.o_proj",
    embeddings=("model.embed_tokens",),
    config_keys=_LLAMA_CONFIG,
)

# Gemma 3's post-feedforward RMSNorm: its output is what the MLP adds to the residual stream.
_GEMMA3_MLP_POST_NORM = "post_feedforward_layernorm"

GEMMA3 = Family(
    name="gemma3",
    model_types=("gemma3_text",),
    base="model",
    layers="model.layers",
    lm_head="lm_head",
    top_sites={
        # Gemma scales the embedding by sqrt(d_model) inside embed_tokens: hook_embed is the scaled
        # embedding, which equals blocks.0.hook_resid_pre.
        "hook_embed": ModuleSite("model.embed_tokens", "out"),
        "ln_final.hook_normalized": ModuleSite("model.norm", "out"),
    },
    block_sites={
        "hook_resid_pre": ModuleSite("", "in"),
        "hook_resid_mid": ModuleSite("pre_feedforward_layernorm", "in", inplace=True),
        "hook_resid_post": ModuleSite("", "out"),
        # Gemma 3 normalises each sublayer's output before adding it to the residual stream:
        # hook_attn_out / hook_mlp_out are what is added (after the post-norms), as in TransformerLens.
        "hook_attn_out": ModuleSite("post_attention_layernorm", "out"),
        "attn.hook_z": ModuleSite("self_attn.o_proj", "in", heads="n_heads"),
        # hook_q / hook_k are the projections, before q_norm / k_norm and RoPE, as in TransformerLens
        **_SEPARATE_QKV,
        "hook_mlp_out": ModuleSite(_GEMMA3_MLP_POST_NORM, "out"),
        "mlp.hook_post": ModuleSite("mlp.down_proj", "in"),
    },
    mlp_out_proj="mlp.down_proj",
    attn_out_proj="self_attn.o_proj",
    embeddings=("model.embed_tokens",),
    mlp_post_norm=_GEMMA3_MLP_POST_NORM,
    attn_post_norm="post_attention_layernorm",
    norm_gain_offset=1.0,
    config_keys=_LLAMA_CONFIG,
)

GPT2 = Family(
    name="gpt2",
    model_types=("gpt2",),
    base="transformer",
    layers="transformer.h",
    lm_head="lm_head",
    top_sites={
        "hook_embed": ModuleSite("transformer.wte", "out"),
        "hook_pos_embed": ModuleSite("transformer.wpe", "out"),
        "ln_final.hook_normalized": ModuleSite("transformer.ln_f", "out"),
    },
    block_sites={
        "hook_resid_pre": ModuleSite("", "in"),
        "hook_resid_mid": ModuleSite("ln_2", "in", inplace=True),
        "hook_resid_post": ModuleSite("", "out"),
        "hook_attn_out": ModuleSite("attn", "out"),
        "attn.hook_z": ModuleSite("attn.c_proj", "in", heads="n_heads"),
        # c_attn computes q | k | v in one projection
        "attn.hook_q": ModuleSite("attn.c_attn", "out", heads="n_heads", fused=(1, 3, 0)),
        "attn.hook_k": ModuleSite("attn.c_attn", "out", heads="n_heads", fused=(1, 3, 1)),
        "attn.hook_v": ModuleSite("attn.c_attn", "out", heads="n_heads", fused=(1, 3, 2)),
        "attn.hook_attn_scores": ModuleSite("attn", "out", scores=True),
        "attn.hook_pattern": ModuleSite("attn", "out", index=1, pattern=True),
        "hook_mlp_out": ModuleSite("mlp", "out"),
        "mlp.hook_post": ModuleSite("mlp.c_proj", "in"),
    },
    mlp_out_proj="mlp.c_proj",
    attn_out_proj="attn.c_proj",
    embeddings=("transformer.wte", "transformer.wpe"),
    config_keys={
        "n_layers": "n_layer",
        "d_model": "n_embd",
        "d_mlp": "n_inner",
        "n_heads": "n_head",
    },
    notes="GPT-2 adds learned position embeddings: blocks.0.hook_resid_pre = hook_embed + hook_pos_embed.",
)

BLOOM = Family(
    name="bloom",
    model_types=("bloom",),
    base="transformer",
    layers="transformer.h",
    lm_head="lm_head",
    top_sites={
        # As in TransformerLens: BLOOM normalises its embeddings, and hook_embed is the normalised
        # embedding (= blocks.0.hook_resid_pre).
        "hook_embed": ModuleSite("transformer.word_embeddings_layernorm", "out"),
        "ln_final.hook_normalized": ModuleSite("transformer.ln_f", "out"),
    },
    block_sites={
        # BLOOM's attention and MLP modules add the residual themselves; the pure sublayer outputs
        # are the outputs of their output projections (dropout is off in eval mode).
        "hook_resid_pre": ModuleSite("", "in"),
        "hook_resid_mid": ModuleSite("self_attention", "out"),
        "hook_resid_post": ModuleSite("", "out"),
        "hook_attn_out": ModuleSite("self_attention.dense", "out"),
        "attn.hook_z": ModuleSite("self_attention.dense", "in", heads="n_heads"),
        # query_key_value computes q, k, v of each head in turn
        "attn.hook_q": ModuleSite("self_attention.query_key_value", "out", heads="n_heads", fused=("n_heads", 3, 0)),
        "attn.hook_k": ModuleSite("self_attention.query_key_value", "out", heads="n_heads", fused=("n_heads", 3, 1)),
        "attn.hook_v": ModuleSite("self_attention.query_key_value", "out", heads="n_heads", fused=("n_heads", 3, 2)),
        # BLOOM computes its attention weights itself, under every attention implementation; its
        # scores (the softmax's input) include the ALiBi bias, as TransformerLens's
        "attn.hook_attn_scores": ModuleSite("self_attention", "out", scores=True),
        "attn.hook_pattern": ModuleSite("self_attention", "out", index=1, pattern=True, order_as="hook_resid_mid"),
        "hook_mlp_out": ModuleSite("mlp.dense_4h_to_h", "out"),
        "mlp.hook_post": ModuleSite("mlp.dense_4h_to_h", "in"),
    },
    mlp_out_proj="mlp.dense_4h_to_h",
    attn_out_proj="self_attention.dense",
    embeddings=("transformer.word_embeddings",),
    embed_norm="transformer.word_embeddings_layernorm",
    config_keys={
        "n_layers": "n_layer",
        "d_model": "hidden_size",
        "n_heads": "n_head",
    },
    notes="BLOOM's hook_embed is after word_embeddings_layernorm, as in TransformerLens.",
)

FAMILIES: dict[str, Family] = {f.name: f for f in (LLAMA, GEMMA3, QWEN2, GPT2, BLOOM)}


class UnsupportedArchitectureError(ValueError):
    """The model's architecture has no table in :data:`FAMILIES`."""


def family_for_config(config) -> Family:
    """The family whose table serves ``config.model_type``.

    Raises :class:`UnsupportedArchitectureError` naming the supported families and the one table to add.
    """
    model_type = getattr(config, "model_type", None)
    for family in FAMILIES.values():
        if model_type in family.model_types:
            family_check_config(family, config)
            return family
    supported = ", ".join(f"{f.name} ({'/'.join(f.model_types)})" for f in FAMILIES.values())
    raise UnsupportedArchitectureError(
        f"architecture with model_type={model_type!r} is not supported. Supported families: "
        f"{supported}. To add it, add one Family table to mechint/families.py (FAMILIES) mapping "
        "its modules to the site names."
    )


def family_check_config(family: Family, config) -> None:
    """Reject configurations of a family whose modules do not carry the sites the table assumes."""
    if family.name == "bloom":
        if getattr(config, "apply_residual_connection_post_layernorm", False):
            raise UnsupportedArchitectureError(
                "BLOOM with apply_residual_connection_post_layernorm=True keeps a normalised residual "
                "stream; the residual sites of the bloom table do not describe it."
            )
        if getattr(config, "pretraining_tp", 1) > 1 and getattr(config, "slow_but_exact", False):
            raise UnsupportedArchitectureError(
                "BLOOM with slow_but_exact=True bypasses the dense projections that carry "
                "attn.hook_z / mlp.hook_post; load it with slow_but_exact=False."
            )
