"""Interoperation with nnsight, TransformerLens and transformers pipelines: models in, activations out.

**In** (:func:`adapt`, called by :func:`~mechint.load_model`): a model another library holds is
taken apart into the Hugging Face module it runs and that module's own tokenizer, so mechint runs the
same weights with its own hook engine and the plain Hugging Face forward:

* an nnsight ``LanguageModel`` / ``TransformersModel`` / ``NNsight`` (dispatched: with real weights);
* a TransformerLens ``TransformerBridge``: its module with the bridge's components taken out again
  (the bridge replaces submodules in place; mechint sees the original modules, sharing their
  parameters), and the plain tokenizer (the bridge reloads the tokenizer with
  ``add_bos_token=True``, which adds a BOS token where the model's own tokenizer adds none);
* a transformers ``pipeline`` (its ``.model`` and ``.tokenizer``).

What cannot be taken is refused with what to pass instead: a TransformerLens ``HookedTransformer``
(TransformerLens's own reimplementation, no Hugging Face module), a bridge whose weights were
processed (folded / centred), a remote TransformerLens bridge, an nnsight model that is not dispatched
(weights on the meta device, as for remote NDIF runs).

**Out**:

* :func:`to_activation_cache`: a mechint activation cache (``Model.run_with_cache``'s dict) as a
  TransformerLens ``ActivationCache``, so ``accumulated_resid`` / ``decompose_resid`` / ``logit_lens``
  style code runs on mechint activations (:func:`activation_cache_sites` names the sites they read).
* :func:`nnsight_sites` / :func:`nnsight_read`: where each mechint site lives for nnsight (module path,
  ``.input`` or ``.output``, which element of a tuple output, the per-head view), so the same site names
  drive an nnsight trace, also a remote one on NDIF (see :func:`nnsight_sites`).

nnsight and TransformerLens are optional: nothing here imports them unless such an object is passed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from torch import Tensor, nn

from . import _validate
from .families import Family
from .model import Model
from .sites import Site, expand_sites


class InteropError(TypeError):
    """A model object from another library that mechint cannot wrap; the message says what to pass
    instead."""


def _library(obj: Any) -> str | None:
    """The top-level package of the first class in ``obj``'s MRO that belongs to nnsight,
    transformer_lens or transformers (``None`` for anything else)."""
    for cls in type(obj).__mro__:
        top = (cls.__module__ or "").split(".")[0]
        if top in ("nnsight", "transformer_lens", "transformers"):
            return top
    return None


def _class_names(obj: Any) -> set[str]:
    return {cls.__name__ for cls in type(obj).__mro__}


# ---------------------------------------------------------------------------------------------
# In
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Adapted:
    """What :func:`adapt` takes out of a foreign model object: the Hugging Face module to wrap, its
    tokenizer, and a name for :attr:`Model.name <mechint.Model.name>`."""

    module: nn.Module
    tokenizer: Any
    name: str | None


def adapt(spec: Any, tokenizer: Any = None) -> Adapted | None:
    """The Hugging Face module and tokenizer inside an nnsight model, a TransformerLens bridge (or the
    module a bridge edited, its ``original_model``) or a transformers pipeline; ``None`` where ``spec``
    is none of them (then :func:`~mechint.load_model` goes on as before). A ``tokenizer`` given wins
    over the one found.

    Raises :class:`InteropError` for such objects that hold no Hugging Face module mechint can run
    (see the module docstring), saying what to pass instead."""
    library = _library(spec)
    if library == "nnsight":
        return _from_nnsight(spec, tokenizer)
    if library == "transformer_lens":
        return _from_transformer_lens(spec, tokenizer)
    if library == "transformers" and "Pipeline" in _class_names(spec):
        return _from_pipeline(spec, tokenizer)
    if isinstance(spec, nn.Module) and _holds_bridge_components(spec):  # a bridge's original_model
        return Adapted(
            unwrap_bridge_module(spec), tokenizer, getattr(getattr(spec, "config", None), "_name_or_path", None)
        )
    return None


def _from_pipeline(pipe: Any, tokenizer: Any) -> Adapted:
    module = getattr(pipe, "model", None)
    if not isinstance(module, nn.Module):
        raise InteropError(
            f"this {type(pipe).__name__} holds no PyTorch model (got {_validate.given(module)}); mechint wraps "
            "a PyTorch causal LM: pass the model and its tokenizer"
        )
    tok = tokenizer if tokenizer is not None else getattr(pipe, "tokenizer", None)
    if tok is None:
        raise InteropError(f"this {type(pipe).__name__} has no tokenizer: pass tokenizer=... to load_model")
    return Adapted(module, tok, getattr(module.config, "_name_or_path", None) or None)


def _from_nnsight(envoy: Any, tokenizer: Any) -> Adapted:
    module = getattr(envoy, "_module", None)
    what = type(envoy).__name__
    if not isinstance(module, nn.Module) or not hasattr(module, "config"):
        raise InteropError(
            f"this nnsight {what} does not wrap a Hugging Face module (it wraps {_validate.given(module)}); "
            "mechint runs Hugging Face causal LMs: use nnsight's LanguageModel / TransformersModel, or pass the "
            "Hugging Face model and its tokenizer"
        )
    if getattr(envoy, "dispatched", True) is False or any(p.is_meta for p in module.parameters()):
        raise InteropError(
            f"this nnsight {what} is not dispatched: its weights are on the meta device (as for remote NDIF runs, "
            "where the weights stay on the server). mechint runs the model here: create it with dispatch=True "
            "or call .dispatch() first. To use mechint site names in a remote trace instead, see "
            "mechint.nnsight_sites."
        )
    if getattr(envoy, "parent", None) is not None:
        raise InteropError(
            f"this is the nnsight envoy of a submodule ({getattr(envoy, 'path', '?')}); pass the root model"
        )
    tok = tokenizer if tokenizer is not None else getattr(envoy, "tokenizer", None)
    if tok is None:
        raise InteropError(f"this nnsight {what} has no tokenizer: pass tokenizer=... to load_model")
    name = getattr(envoy, "repo_id", None)
    return Adapted(module, tok, name if isinstance(name, str) else None)


def _from_transformer_lens(obj: Any, tokenizer: Any) -> Adapted:
    names = _class_names(obj)
    what = type(obj).__name__
    if "TransformerBridge" not in names:
        if "RemoteBridge" in names:
            raise InteropError(
                f"a TransformerLens {what} runs on a remote backend (vLLM, Inspect) and holds no local module; "
                "load the Hugging Face model itself with load_model"
            )
        raise InteropError(
            f"a TransformerLens {what} is TransformerLens's own reimplementation of the model (weights converted "
            "into its modules, no Hugging Face module), which mechint's site tables do not describe. Load the "
            "Hugging Face model itself (load_model(name or folder), or load_model(module, tokenizer=...)), or a "
            "TransformerBridge around it (TransformerBridge.boot_transformers(...))"
        )
    if getattr(obj, "_weights_processed", False):
        raise InteropError(
            f"this {what}'s weights were processed (enable_compatibility_mode / process_weights folded the "
            "norms and centred the weights in its Hugging Face module), so that module no longer computes the "
            "model's own activations. Boot a bridge without processing "
            "(enable_compatibility_mode(no_processing=True)), or load the Hugging Face model itself"
        )
    try:
        wrapped = obj.original_model
    except AttributeError as err:
        raise InteropError(f"this {what} exposes no local module ({err}); load the Hugging Face model itself") from None
    module = unwrap_bridge_module(wrapped)
    tok = tokenizer if tokenizer is not None else plain_tokenizer(getattr(obj, "tokenizer", None))
    cfg = getattr(obj, "cfg", None)
    name = getattr(cfg, "model_name", None)
    if not isinstance(name, str) or name == "external":
        name = getattr(module.config, "_name_or_path", None) or None
    return Adapted(module, tok, name)


def _is_bridge_component(module: nn.Module) -> bool:
    return "_original_component" in module._modules and any(
        (cls.__module__ or "").startswith("transformer_lens.") for cls in type(module).__mro__
    )


# nn.Module's per-instance hook registries: a module copied for the unwrapped tree gets its own, so
# hooks registered on the copy (mechint's) and on the bridge's module never reach the other.
_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
)


def unwrap_bridge_module(module: nn.Module) -> nn.Module:
    """The Hugging Face module tree inside a TransformerLens bridge, with every bridge component
    replaced by the original module it wraps.

    The bridge edits the module it is given in place (its submodules become ``...Bridge`` components
    holding the originals, which give mechint wrong widths and a second set of hooks). The tree
    returned here is made of shallow copies of the original modules: each has its own child list and
    hook registries (so mechint's hooks never fire in the bridge's runs, nor the bridge's in mechint's)
    and shares its parameters and buffers, so nothing is copied in memory and the bridge keeps working.
    Raises :class:`InteropError` where the bridge replaced a module's ``forward`` or left a module of its
    own in the tree (then the Hugging Face code is no longer what runs)."""
    memo: dict[int, nn.Module] = {}

    def unwrap(mod: nn.Module) -> nn.Module:
        while _is_bridge_component(mod):
            inner = mod._modules["_original_component"]
            if inner is None:
                raise InteropError(f"a TransformerLens {type(mod).__name__} in this bridge wraps no module")
            mod = inner
        if id(mod) in memo:  # a module registered under two names stays one module
            return memo[id(mod)]
        if _library(mod) == "transformer_lens":
            raise InteropError(
                f"this bridge's module holds a TransformerLens {type(mod).__name__} that wraps no Hugging Face "
                "module, so mechint cannot run the Hugging Face model alone; load the Hugging Face model itself "
                "with load_model"
            )
        if "forward" in mod.__dict__:
            raise InteropError(
                f"TransformerLens patched the forward of a {type(mod).__name__} in this bridge's module, so it no "
                "longer runs the Hugging Face code; load the Hugging Face model itself with load_model"
            )
        clone = copy.copy(mod)
        memo[id(mod)] = clone
        for key in _HOOK_DICTS:
            if key in mod.__dict__:
                clone.__dict__[key] = type(mod.__dict__[key])(mod.__dict__[key])
        clone.__dict__["_modules"] = {
            name: (None if child is None else unwrap(child)) for name, child in mod._modules.items()
        }
        return clone

    return unwrap(module)


def _holds_bridge_components(module: nn.Module) -> bool:
    return any(_is_bridge_component(m) for m in module.modules())


def plain_tokenizer(tokenizer: Any) -> Any:
    """The tokenizer a TransformerLens bridge was given, from the one it holds.

    TransformerLens reloads a tokenizer that does not add a BOS token with ``add_bos_token=True``
    (``get_tokenizer_with_bos``), so the bridge's tokenizer prepends a token the model's own does not
    (GPT-2, Qwen2). This reloads the same tokenizer files, from the local cache only, without that
    override; a tokenizer that was not reloaded is returned as it is. Raises :class:`InteropError`
    where the files cannot be read again (then pass ``tokenizer=`` to :func:`~mechint.load_model`)."""
    if tokenizer is None:
        raise InteropError("this TransformerBridge has no tokenizer: pass tokenizer=... to load_model")
    init = dict(getattr(tokenizer, "init_kwargs", {}) or {})
    if init.get("add_bos_token") is not True:
        return tokenizer
    source = init.pop("name_or_path", None) or getattr(tokenizer, "name_or_path", None)
    init.pop("add_bos_token")
    init.pop("local_files_only", None)
    from transformers import AutoTokenizer

    try:
        if not source:
            raise OSError("the bridge's tokenizer records no name_or_path")
        return AutoTokenizer.from_pretrained(source, local_files_only=True, **init)
    except (OSError, ValueError) as err:
        raise InteropError(
            "this TransformerBridge's tokenizer was reloaded by TransformerLens with add_bos_token=True (it may add "
            f"a BOS token the model's own tokenizer does not), and the original could not be read again ({err}). "
            "Pass the model's own tokenizer: load_model(bridge, tokenizer=AutoTokenizer.from_pretrained(...))"
        ) from None


# ---------------------------------------------------------------------------------------------
# Out: TransformerLens ActivationCache
# ---------------------------------------------------------------------------------------------


def activation_cache_sites(model: Model) -> list[str]:
    """The sites that TransformerLens's ``ActivationCache.accumulated_resid`` and ``decompose_resid``
    read, as mechint names of ``model``: ``hook_embed`` (and GPT-2's ``hook_pos_embed``), every
    layer's ``hook_resid_pre`` / ``hook_resid_mid`` / ``hook_resid_post`` / ``hook_attn_out`` /
    ``hook_mlp_out``, and ``ln_final.hook_normalized``. Collect them with
    ``model.run_with_cache(inputs, activation_cache_sites(model))``."""
    keys = ("hook_resid_pre", "hook_attn_out", "hook_resid_mid", "hook_mlp_out", "hook_resid_post")
    wanted = set(model.family.top_sites) | {f"blocks.{l}.{k}" for l in range(model.n_layers) for k in keys}
    return [n for n in model.site_names + ["ln_final.hook_normalized"] if n in wanted]


@dataclass
class _Config:
    n_layers: int
    n_heads: int
    d_model: int
    d_head: int
    d_mlp: int
    d_vocab: int
    normalization_type: str
    eps: float
    attn_only: bool = False


_RMS_FAMILIES = ("llama", "qwen2", "gemma3")


class _CacheModel:
    """What TransformerLens's ``ActivationCache`` reads of its model, for a mechint :class:`Model`: the
    shapes and norm type in ``cfg``, and ``ln_final`` (the model's own final norm, for
    ``apply_ln`` at the unembedding). Methods that need TransformerLens's weight views (``logit_attrs``,
    head results, neuron results) are not available on it."""

    def __init__(self, model: Model):
        self.mechint_model = model
        config = model.hf.config
        eps = next(
            (
                getattr(config, k)
                for k in ("rms_norm_eps", "layer_norm_epsilon", "layer_norm_eps")
                if hasattr(config, k)
            ),
            1e-5,
        )
        self.cfg = _Config(
            n_layers=model.n_layers,
            n_heads=model.n_heads,
            d_model=model.d_model,
            d_head=model.d_head,
            d_mlp=model.d_mlp,
            d_vocab=model.d_vocab,
            normalization_type="RMS" if model.family.name in _RMS_FAMILIES else "LN",
            eps=float(eps),
        )
        self.ln_final = model.site("ln_final.hook_normalized").module


def _norm_scales(cache: dict[str, Tensor], cfg: Any) -> None:
    """Add the norm scales that ``apply_ln`` divides by (``blocks.{l}.ln1.hook_scale`` from
    ``hook_resid_pre``, ``ln2`` from ``hook_resid_mid``, ``ln_final`` from the last ``hook_resid_post``),
    where the cache has those residuals and not the scales: ``sqrt(mean(x^2) + eps)``, ``x`` centred
    first under LayerNorm, as TransformerLens computes them."""
    kind = getattr(cfg, "normalization_type", None)
    eps = getattr(cfg, "eps", None)
    if kind not in ("LN", "LNPre", "RMS", "RMSPre") or not isinstance(eps, (int, float)):
        return
    sources = {f"blocks.{l}.ln1.hook_scale": f"blocks.{l}.hook_resid_pre" for l in range(cfg.n_layers)}
    sources |= {f"blocks.{l}.ln2.hook_scale": f"blocks.{l}.hook_resid_mid" for l in range(cfg.n_layers)}
    sources["ln_final.hook_scale"] = f"blocks.{cfg.n_layers - 1}.hook_resid_post"
    for key, source in sources.items():
        if key in cache or source not in cache:
            continue
        x = cache[source].float()
        if kind.startswith("LN"):
            x = x - x.mean(-1, keepdim=True)
        cache[key] = (x.pow(2).mean(-1, keepdim=True) + eps).sqrt().to(cache[source].dtype)


def to_activation_cache(cache: Mapping[str, Tensor], model: Any):
    """A mechint activation cache (the dict of :meth:`Model.run_with_cache <mechint.Model.run_with_cache>`,
    ``[batch, pos, ...]`` tensors under mechint site names) as a TransformerLens ``ActivationCache``.

    ``model`` is what the cache's methods consult: a TransformerLens ``TransformerBridge`` (or
    ``HookedTransformer``) of the same model, or the mechint :class:`Model` itself, which is enough for
    ``accumulated_resid``, ``decompose_resid`` (with ``apply_ln``) and ``stack_activation``, not for
    methods that need TransformerLens's weight views (``logit_attrs``, head or neuron results).
    mechint's names are TransformerLens's, except ``ln_final.hook_normalized``: mechint's is the final
    norm's output (what the unembedding reads), which a ``TransformerBridge`` calls ``ln_final.hook_out``
    (its ``hook_normalized`` is before the gain), so it is renamed for a bridge. The norm scales that
    ``apply_ln`` divides by (``blocks.{l}.ln1/ln2.hook_scale``, ``ln_final.hook_scale``), which no
    module of the Hugging Face model outputs, are computed from the residual sites the cache holds.

    ``accumulated_resid`` reads every ``blocks.{l}.hook_resid_pre`` and the last
    ``hook_resid_post`` (``incl_mid``: ``hook_resid_mid``); ``decompose_resid`` reads ``hook_embed`` (and
    ``hook_pos_embed`` on GPT-2) and every ``hook_attn_out`` / ``hook_mlp_out``. mechint's ``hook_embed``
    is what enters the residual stream (Gemma's scaled embedding, BLOOM's normalised one), as in
    TransformerLens, so the decomposition sums to the residual stream. :func:`activation_cache_sites`
    lists them all. Requires transformer-lens (the ``dev`` extra)."""
    try:
        from transformer_lens import ActivationCache
    except ImportError as err:  # pragma: no cover - transformer-lens is a dev extra
        raise ImportError("to_activation_cache needs transformer-lens: pip install transformer-lens") from err
    if not isinstance(cache, Mapping):
        raise TypeError(
            f"cache must be a dict of activations by site name (Model.run_with_cache's), got {_validate.given(cache)}"
        )
    bad = [k for k, v in cache.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        raise TypeError(f"cache entries must be site name -> tensor; {bad[0]!r} is not")
    if isinstance(model, Model):
        model = _CacheModel(model)
    cfg = getattr(model, "cfg", None)
    n_layers = getattr(cfg, "n_layers", None)
    if not isinstance(n_layers, int):
        raise TypeError(
            "model must be a TransformerLens TransformerBridge / HookedTransformer or a mechint Model, got "
            f"{_validate.given(model)}"
        )
    layers = {int(k.split(".")[1]) for k in cache if k.startswith("blocks.") and k.split(".")[1].isdigit()}
    if layers and max(layers) >= n_layers:
        raise ValueError(
            f"the cache has layer {max(layers)} but the model has {n_layers} layers: another model's cache?"
        )
    bridge = "TransformerBridge" in _class_names(model)
    renamed = {("ln_final.hook_out" if bridge and k == "ln_final.hook_normalized" else k): v for k, v in cache.items()}
    _norm_scales(renamed, cfg)
    return ActivationCache(renamed, model, has_batch_dim=True)


# ---------------------------------------------------------------------------------------------
# Out: nnsight
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NNsightSite:
    """Where one mechint site lives for nnsight.

    Attributes:
        name: the mechint site name (``blocks.3.attn.hook_z``).
        path: the module's path from the Hugging Face root module, which is also its path from the nnsight
            model (``model.layers.3.self_attn.o_proj``).
        io: ``"input"`` (read ``.input``: the module's first input) or ``"output"`` (read ``.output``).
        index: the element of a tuple output that carries the site (attention modules return
            ``(output, weights)``); an output that is a tensor is the site itself.
        heads: ``(n, d_head)``: the site is viewed per head, ``[..., n, d_head]`` (``attn.hook_z/q/k/v``).
        fused: ``(groups, parts, which)``: the site is one part of a fused q/k/v projection's output.
        pattern: an attention pattern: the module returns it only under the eager attention implementation
            (load the model with ``attn_implementation="eager"``).
        order: the site's place in the forward pass; nnsight must be asked for values in this order.
    """

    name: str
    path: str
    io: Literal["input", "output"]
    index: int = 0
    heads: tuple[int, int] | None = None
    fused: tuple[int, int, int] | None = None
    pattern: bool = False
    order: tuple[int, int] = (0, 0)

    @property
    def accessor(self) -> str:
        """``path`` + ``".input"`` / ``".output"``, for nnsight's ``model.get(...)`` inside a trace."""
        return f"{self.path}.{self.io}"

    def view(self, value: Any) -> Tensor:
        """The site's tensor from the value nnsight gives at :attr:`accessor` (a tensor, a tuple, or a
        model output): element :attr:`index` of a tuple, the q/k/v part of a fused projection, the
        per-head view. The same tensor as :meth:`Model.run_with_cache <mechint.Model.run_with_cache>`."""
        x = value
        if isinstance(x, (tuple, list)):
            x = x[self.index]
        elif not isinstance(x, Tensor):
            x = getattr(x, "last_hidden_state", x)
        if not isinstance(x, Tensor):
            raise TypeError(f"no tensor for {self.name} in the value read at {self.accessor}: {_validate.given(value)}")
        if self.fused is not None:
            groups, parts, which = self.fused
            x = x.unflatten(-1, (groups, parts, -1))[..., which, :].flatten(-2)
        return x.unflatten(-1, self.heads) if self.heads is not None else x


def _site_path(family: Family, site: Site) -> str:
    if site.layer is None:
        return family.top_sites[site.key].path
    inner = family.block_sites[site.key].path
    return f"{family.layers}.{site.layer}" + (f".{inner}" if inner else "")


def _as_model(model: Any) -> Model:
    """A mechint :class:`Model` for site lookups: itself, or one around an nnsight model's module
    (dispatched or not: the meta module of a model for remote runs has the tree and config)."""
    if isinstance(model, Model):
        return model
    if _library(model) == "nnsight":
        module, tok = getattr(model, "_module", None), getattr(model, "tokenizer", None)
        if isinstance(module, nn.Module) and hasattr(module, "config") and tok is not None:
            # site lookups only: an undispatched model's weights are on meta (its forwards run remotely)
            return Model(module, tok, name=getattr(model, "repo_id", None), check_weights=False)
    raise TypeError(
        f"give a mechint Model or an nnsight LanguageModel (with its tokenizer), got {_validate.given(model)}"
    )


def nnsight_sites(model: Any, names: str | Iterable[str]) -> list[NNsightSite]:
    """Where mechint sites live for nnsight, in forward order (the order nnsight must read them in).

    ``model`` is a mechint :class:`Model` or an nnsight ``LanguageModel`` of the same Hugging Face model;
    one that is not dispatched works too (only its module tree and config are read), which is the case
    for remote runs. ``names`` take the shorthand of :meth:`Model.sites <mechint.Model.sites>`
    (``"hook_resid_post"``: every layer).

    Locally, :func:`nnsight_read` reads them inside a trace. Remotely (NDIF), the server runs the trace
    body and has no mechint, so read the raw values there and take the views here::

        lm = nnsight.LanguageModel("meta-llama/Llama-3.1-8B")  # not dispatched: weights stay on NDIF
        sites = mechint.nnsight_sites(lm, ["blocks.3.hook_resid_post", "blocks.3.attn.hook_z"])
        with lm.trace("The Eiffel Tower is in", remote=True):
            raw = nnsight.save([lm.get(s.accessor) for s in sites])
        acts = {s.name: s.view(r) for s, r in zip(sites, raw)}

    The remote run cannot be tested offline; the same recipe run locally, and :func:`nnsight_read`, are
    tested against ``Model.run_with_cache`` (tests/test_interop.py). ``attn.hook_pattern`` is returned
    only under the eager attention implementation; ``attn.hook_attn_scores`` is refused (it is no
    module's value); GPT-2's ``hook_pos_embed`` comes out ``[1, pos,
    d_model]`` where the forward is given no position ids."""
    mm = _as_model(model)
    sites = sorted(mm.sites(expand_sites(names, mm.n_layers)), key=lambda s: s.order)
    for s in sites:
        if s.scores:
            raise ValueError(
                f"{s.name} is the input of the softmax inside the attention's forward, no module's input or "
                "output, so nnsight cannot read it as a module value; read it with Model.run_with_cache, or "
                "read attn.hook_pattern (after the softmax) through nnsight"
            )
    return [
        NNsightSite(
            name=s.name,
            path=_site_path(mm.family, s),
            io="input" if s.where == "in" else "output",
            index=s.index,
            heads=s.heads,
            fused=s.fused,
            pattern=s.pattern,
            order=s.order,
        )
        for s in sites
    ]


def nnsight_read(nn_model: Any, sites: Iterable[NNsightSite] | str | Iterable[str]) -> dict[str, Tensor]:
    """Inside a local ``with nn_model.trace(...)``: the tensors at ``sites`` (:func:`nnsight_sites`, or
    names), each as :meth:`Model.run_with_cache <mechint.Model.run_with_cache>` gives it, by site name.
    Reads in forward order and each module value once. Save the result to keep it after the trace::

        with lm.trace(tokens):
            acts = nnsight.save(mechint.nnsight_read(lm, ["blocks.1.hook_resid_post"]))

    Not for remote traces (the server has no mechint): see :func:`nnsight_sites`."""
    given: list[NNsightSite | str] = [sites] if isinstance(sites, str) else list(sites)
    resolved = [s for s in given if isinstance(s, NNsightSite)]
    if len(resolved) < len(given):
        resolved = nnsight_sites(nn_model, [s.name if isinstance(s, NNsightSite) else s for s in given])
    raw: dict[str, Any] = {}
    out: dict[str, Tensor] = {}
    for site in sorted(resolved, key=lambda s: s.order):
        if site.accessor not in raw:
            raw[site.accessor] = nn_model.get(site.accessor)
        out[site.name] = site.view(raw[site.accessor])
    return out
