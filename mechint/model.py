"""`Model`: a Hugging Face causal LM wrapped in place, with named sites and the hook engine.

:func:`load_model` accepts an embedded model name, a local Hugging Face folder, a GGUF file, an
``nn.Module`` with its tokenizer, a hub id, or an nnsight / TransformerLens bridge / pipeline model
(:mod:`mechint.interop`); the forward pass is always the model's own.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Literal, Sequence, SupportsIndex, cast, overload

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn
from transformers.utils.generic import ModelOutput

from . import _validate
from ._validate import HasTexts, TextsLike
from .chat import ChatFormat, ChatTemplateError, Turn, check_turns, no_template_error
from .data import Dataset
from .families import Family, UnsupportedArchitectureError, family_for_config
from .hooks import HookFn, StopForward, hooked
from .positions import PromptEndPositions, from_prompt_end
from .sites import Site, expand_sites, resolve_site, site_names

if TYPE_CHECKING:  # annotations only: importing modeling_utils is slow
    from transformers import PreTrainedModel

TextInput = str | Sequence[str]


def text_config(config):
    """The text part of a Hugging Face config (multimodal configs nest it; a text config is its own)."""
    getter = getattr(config, "get_text_config", None)
    return getter() if getter is not None else config


def _dtype(dtype: torch.dtype | str | None) -> torch.dtype | None:
    return _validate.dtype("dtype", dtype)


class TokenError(ValueError):
    """Texts that cannot be run as tokenized (no tokens, or more than a learned position table holds).
    ``indices`` are positions in the texts checked, so a caller that checked a slice (a store shard)
    can report them in its own texts (:meth:`shifted`)."""

    def __init__(self, indices: list[int], problem: str, hint: str):
        self.indices, self.problem, self.hint = list(indices), problem, hint
        shown = ", ".join(map(str, indices[:5])) + (f", ... ({len(indices)} in all)" if len(indices) > 5 else "")
        verb = "have" if len(indices) > 1 else "has"
        super().__init__(f"text{'s' if len(indices) > 1 else ''} {shown} {verb} {problem}; {hint}")

    def shifted(self, offset: int) -> "TokenError":
        return TokenError([i + offset for i in self.indices], self.problem, self.hint)


def int_list(value, what: str) -> list[int]:
    """``value`` (an int, a numpy or 0-d tensor integer, or an iterable of them) as a non-empty list
    of Python ints; raises on a non-integer (bools and floats included) or an empty list, naming
    ``what`` ("layer", "head", "patched position", ...)."""
    import operator

    def one(v) -> int:
        if isinstance(v, bool) or (isinstance(v, Tensor) and v.dtype == torch.bool):
            raise TypeError(f"{what}s must be integers, got {v!r}")
        return operator.index(v)

    try:
        items = [one(value)]
    except TypeError:
        if (
            isinstance(value, (str, bytes, bool))
            or not isinstance(value, Iterable)
            or (isinstance(value, Tensor) and value.ndim == 0)
        ):
            raise TypeError(f"{what}s must be integers or a list of them, got {value!r}") from None
        try:
            items = [one(v) for v in value]
        except TypeError:
            raise TypeError(f"{what}s must be integers, got {list(value)!r}") from None
    if not items:
        raise ValueError(f"no {what}s given (an empty list)")
    return items


def index_list(value, bound: int, what: str, *, negative: bool = True) -> list[int]:
    """:func:`int_list` of indices in ``0..bound-1``; with ``negative``, ``-1`` counts from the end.
    Raises on an index out of range, naming ``what``."""
    items = int_list(value, what)
    low = -bound if negative else 0
    bad = [i for i in items if not low <= i < bound]
    if bad:
        raise ValueError(
            f"{what} {bad[0]} is out of range: there are {what}s 0..{bound - 1}"
            + (" (negative ones count from the end)" if negative else "")
        )
    return [i % bound for i in items]


def _hook_pair(pair) -> tuple:
    """``(site, fn)`` from one entry of :meth:`Model.hooks`' list, checked: a pair, and a function that
    can be called as ``fn(activation, ctx)``."""
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise TypeError(f"each hook is a (site, fn) pair, got {_validate.given(pair)}")
    site, fn = pair
    if not callable(fn):
        raise TypeError(f"the hook function for {site!r} is not callable: {_validate.given(fn)}")
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError:
        raise TypeError(
            f"the hook function for {site!r} cannot be called as fn(activation, ctx): hook functions take the "
            "activation and a HookContext, and return a replacement or None"
        ) from None
    except ValueError:  # builtins without a signature: let the call say
        pass
    return site, fn


class _Encoding(dict):
    """``{"input_ids", "attention_mask"}`` made by :meth:`Model.tokenize` or :meth:`Model.pad`: its ids
    come from the tokenizer, so :meth:`Model.forward` skips the range checks (a device sync) that it
    runs on ids a caller built."""


class Model:
    """A causal LM with TransformerLens-named sites.

    Attributes:
        hf: the wrapped Hugging Face model (``...ForCausalLM``), in ``eval()`` mode.
        tokenizer: its tokenizer, the object passed in (not a copy). Its padding side is left as
            it is (:meth:`tokenize` pads on the left per call); a tokenizer without a pad token is
            given its EOS token as one.
        family: the architecture table that maps sites to modules.
        name: where the model came from (embedded name, folder, hub id).
        n_layers, d_model, d_mlp, n_heads, d_head, d_vocab: shapes.

    ``check_weights=False`` accepts a module whose weights are on the ``meta`` device with no offload
    hook to load them (the module tree of a model that runs remotely): for site lookups only
    (:func:`mechint.nnsight_sites`), its forwards fail. By default such a module is refused here.
    """

    def __init__(self, hf_model: nn.Module, tokenizer, *, name: str | None = None, check_weights: bool = True):
        if tokenizer is None:
            raise ValueError("a Model needs its tokenizer: pass tokenizer=...")
        if not isinstance(hf_model, nn.Module) or not hasattr(hf_model, "config"):
            raise TypeError(
                f"a Model wraps a Hugging Face causal LM (an nn.Module with a .config), got {type(hf_model).__name__}"
            )
        if (
            isinstance(tokenizer, (str, os.PathLike))
            or not callable(tokenizer)
            or not hasattr(tokenizer, "pad_token_id")
        ):
            raise TypeError(
                f"tokenizer must be a Hugging Face tokenizer object, got {_validate.given(tokenizer)}"
                + (
                    ": load it first, e.g. AutoTokenizer.from_pretrained(...)"
                    if isinstance(tokenizer, (str, os.PathLike))
                    else ""
                )
            )
        from .placement import check_resident

        if check_weights:
            check_resident(hf_model)  # weights left on meta: refused here, not deep inside a forward
        # the checks above are duck-typed; the static types name what a Model is meant to wrap
        self.hf = cast("PreTrainedModel", hf_model.eval())
        self.tokenizer: Any = tokenizer  # any Hugging Face tokenizer (callable, with pad_token_id)
        self.name = name or getattr(hf_model.config, "_name_or_path", None) or type(hf_model).__name__
        config = text_config(self.hf.config)
        self.family: Family = family_for_config(config)
        for what in ("base", "layers", "lm_head"):
            path = getattr(self.family, what)
            try:
                hf_model.get_submodule(path)
            except AttributeError:
                raise UnsupportedArchitectureError(
                    f"{type(hf_model).__name__} has config model_type={config.model_type!r} (the {self.family.name} "
                    f"family) but no module at {path!r}, where that family keeps its {what.replace('_', ' ')}. "
                    "Wrap the text-only causal LM (e.g. Gemma3ForCausalLM rather than a multimodal "
                    "...ForConditionalGeneration), or add a Family table for this layout in mechint/families.py."
                ) from None
        keys = self.family.config_keys
        self.n_layers: int = int(getattr(config, keys["n_layers"]))
        self.d_model: int = int(getattr(config, keys["d_model"]))
        self.n_heads: int = int(getattr(config, keys["n_heads"]))
        n_kv = getattr(config, keys.get("n_kv_heads", ""), None) if "n_kv_heads" in keys else None
        self.n_kv_heads: int = int(n_kv or self.n_heads)
        self.d_head: int = int(getattr(config, "head_dim", None) or self.d_model // self.n_heads)
        self.base: nn.Module = self.hf.get_submodule(self.family.base)
        self.d_mlp: int = self._mlp_width()
        self.d_vocab: int = int(cast(Tensor, self.hf.get_submodule(self.family.lm_head).weight).shape[0])
        self._sites: dict[str, Site] = {}
        self._active_hooks = 0
        params = inspect.signature(self.base.forward).parameters
        self._takes_position_ids = "position_ids" in params
        if self.tokenizer.pad_token_id is None:
            # GPT-2-style tokenizers have no pad token; any token works under the attention mask.
            self.tokenizer.pad_token = self.tokenizer.eos_token

    # ------------------------------------------------------------------ description
    def _mlp_width(self) -> int:
        layers = cast(nn.ModuleList, self.hf.get_submodule(self.family.layers))
        proj = layers[0].get_submodule(self.family.mlp_out_proj)
        if isinstance(proj, nn.Linear):
            return proj.in_features
        return int(cast(Tensor, proj.weight).shape[0])  # GPT-2 Conv1D stores [in, out]

    def layer_list(self, layers: SupportsIndex | Iterable[SupportsIndex] | None) -> list[int]:
        """Layer indices in ``0..n_layers-1`` (``None``: every layer; negative counts from the end);
        raises on an empty list or a layer out of range."""
        if layers is None:
            return list(range(self.n_layers))
        return index_list(layers, self.n_layers, "layer")

    @property
    def device(self) -> torch.device:
        """Where inputs go: the device the input embedding runs on. On a model placed on one device
        that is where every weight is; on one placed over several (``load_model(...,
        device_map=...)``) it is the embedding's execution device, the first layer's input, while
        later layers may run elsewhere (:mod:`mechint.placement`): each hook function sees its
        activation on that activation's own device."""
        from .placement import execution_device

        try:
            embedding = self.hf.get_input_embeddings()
        except (AttributeError, NotImplementedError):
            embedding = None
        found = execution_device(embedding) if isinstance(embedding, nn.Module) else None
        return found or execution_device(self.hf) or next(self.hf.parameters()).device

    @property
    def placed(self) -> dict[str, str | int] | None:
        """The device map this model was placed by (Hugging Face module name to device, as
        accelerate keeps it in ``hf_device_map``), or ``None`` for a model on one device (also one
        that a device map put wholly on one device)."""
        found = dict(getattr(self.hf, "hf_device_map", None) or {})
        if len(set(map(str, found.values()))) > 1 or "disk" in found.values():
            return found
        return None

    @property
    def dtype(self) -> torch.dtype:
        return next(self.hf.parameters()).dtype

    @property
    def site_names(self) -> list[str]:
        """Every residual-stream, sublayer and head-output site this model has, in forward order
        (one vector, or one per head, per token: ``[batch, pos, ...]``). The attention sites are
        listed by :attr:`attention_site_names`."""
        return site_names(self.family, self.n_layers)

    @property
    def attention_site_names(self) -> list[str]:
        """The attention sites of every layer, in forward order: ``attn.hook_q`` (``[batch, pos,
        n_heads, d_head]``), ``attn.hook_k`` / ``attn.hook_v`` (``[batch, pos, n_kv_heads, d_head]``:
        fewer heads than queries under grouped-query attention), before RoPE,
        ``attn.hook_attn_scores`` (``[batch, n_heads, query, key]``, before the softmax: scaled, with
        the mask added, as the model's softmax takes them; read only) and ``attn.hook_pattern``
        (``[batch, n_heads, query, key]``, after the softmax, read only)."""
        every = site_names(self.family, self.n_layers, attention=True)
        plain = set(self.site_names)
        return [n for n in every if n not in plain]

    @property
    def is_chat(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def __repr__(self) -> str:
        return (
            f"Model({self.name!r}, family={self.family.name}, n_layers={self.n_layers}, "
            f"d_model={self.d_model}, d_mlp={self.d_mlp}, n_heads={self.n_heads}, "
            f"device={self.device}, dtype={self.dtype})"
        )

    # ------------------------------------------------------------------ sites and hooks
    def site(self, name: str | Site) -> Site:
        """The :class:`Site` for a name; unknown names raise with the nearest valid ones."""
        if isinstance(name, Site):
            return name
        site = self._sites.get(name)
        if site is None:
            site = resolve_site(
                name,
                hf_model=self.hf,
                family=self.family,
                n_layers=self.n_layers,
                n_heads=self.n_heads,
                d_head=self.d_head,
                n_kv_heads=self.n_kv_heads,
            )
            self._sites[name] = site
        return site

    def sites(self, names: str | Iterable[str]) -> list[Site]:
        """Sites for names, with shorthand: ``"hook_resid_post"`` means that site at every layer."""
        return [self.site(n) for n in expand_sites(names, self.n_layers)]

    @contextmanager
    def hooks(
        self,
        hooks: Iterable[tuple[str | Site, HookFn]] = (),
        *,
        stop_after: str | Site | None = None,
    ) -> Iterator["Model"]:
        """Context manager that runs ``hooks`` (``(site, fn)`` pairs) on every forward inside it,
        including each step of :meth:`generate`. Hooks are removed on exit, also on error."""
        if isinstance(hooks, tuple) and len(hooks) == 2 and isinstance(hooks[0], (str, Site)) and callable(hooks[1]):
            raise TypeError("hooks takes a list of (site, fn) pairs; wrap a single pair in a list: [(site, fn)]")
        pairs = [(self.site(s), fn) for s, fn in map(_hook_pair, hooks)]
        stop = self.site(stop_after) if stop_after is not None else None
        self._active_hooks += len(pairs)
        try:
            with hooked(self.hf, pairs, stop_after=stop, offset_module=self.base):
                yield self
        finally:
            self._active_hooks -= len(pairs)

    @property
    def active_hooks(self) -> int:
        """How many hook functions enclosing :meth:`hooks` contexts have registered right now (an
        intervention around :func:`mechint.collect` changes what it collects)."""
        return self._active_hooks

    # ------------------------------------------------------------------ inputs
    def tokenize(
        self, texts: TextInput, *, max_length: int | None = None, add_special_tokens: bool = True
    ) -> dict[str, Tensor]:
        """Left-padded ``input_ids`` and ``attention_mask`` on the model's device."""
        texts = _validate.texts(texts)
        _validate.integer("max_length", max_length, minimum=1, optional=True)
        enc = self.tokenizer(
            texts,
            return_tensors="pt",
            padding=True,
            padding_side="left",
            truncation=max_length is not None,
            max_length=max_length,
            add_special_tokens=add_special_tokens,
        )
        return _Encoding(
            input_ids=enc["input_ids"].to(self.device), attention_mask=enc["attention_mask"].to(self.device)
        )

    def pad(self, ids: Sequence[Sequence[int]]) -> dict[str, Tensor]:
        """Left-pad lists of token ids into ``input_ids`` and ``attention_mask`` on the model's device."""
        if not ids:
            raise ValueError("no token sequences to pad")
        width = max(len(row) for row in ids)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(row)) + list(row) for row in ids])
        mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in ids])
        if self.device.type == "cuda":  # pinned + non_blocking: the upload does not wait for queued work
            return _Encoding(
                input_ids=input_ids.pin_memory().to(self.device, non_blocking=True),
                attention_mask=mask.pin_memory().to(self.device, non_blocking=True),
            )
        return _Encoding(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device))

    def to_tokens(self, texts: TextInput, **kwargs) -> Int[Tensor, "batch pos"]:
        return self.tokenize(texts, **kwargs)["input_ids"]

    def to_str_tokens(self, text: str | Tensor) -> list[str]:
        """The tokens of one text as strings (for axis labels)."""
        if isinstance(text, str):
            ids = self.to_tokens(text)[0]
        else:
            ids = torch.as_tensor(text)
            if ids.ndim > 1 and ids.shape[0] != 1 or ids.ndim > 2:
                raise ValueError(f"to_str_tokens takes one text or one row of token ids, got shape {tuple(ids.shape)}")
            ids = ids.reshape(-1)
        return [self.tokenizer.decode([int(i)]) for i in ids]

    def _inputs(self, inputs, attention_mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """``(input_ids, attention_mask)`` from texts, token ids or an encoding. Token ids without a
        mask: leading pad tokens (the left padding of :meth:`to_tokens`) are masked, as
        TransformerLens does, unless the pad token is also the BOS token."""
        if isinstance(inputs, (list, tuple)) and len(inputs) == 0:
            raise ValueError("no inputs given (an empty list)")
        if isinstance(inputs, str) or (isinstance(inputs, (list, tuple)) and any(isinstance(t, str) for t in inputs)):
            enc = self.tokenize(inputs)
            return enc["input_ids"], enc["attention_mask"]
        trusted = isinstance(inputs, _Encoding)  # made by tokenize/pad: ids in range, every row non-empty
        if isinstance(inputs, dict) or hasattr(inputs, "keys"):
            inputs = cast("dict[str, Any]", inputs)  # a dict or a mapping-like encoding (BatchEncoding)
            if "input_ids" not in inputs:
                raise ValueError(
                    f"an encoding needs 'input_ids' (and optionally 'attention_mask'); got keys {list(inputs.keys())}"
                )
            ids, mask = inputs["input_ids"], inputs.get("attention_mask")
        else:
            ids, mask = inputs, attention_mask
        if ids is None or isinstance(ids, (int, float, bool)) or (isinstance(ids, Tensor) and ids.ndim == 0):
            raise TypeError(
                f"inputs must be a text, a list of texts, token ids [batch, pos] or an encoding dict, got {_validate.given(ids)}"
            )
        try:
            ids = torch.as_tensor(ids, device=self.device)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"input ids must be integers [batch, pos]: {err}") from None
        if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
            raise TypeError(f"input ids must be integer token ids, got a {ids.dtype} tensor")
        if ids.ndim == 1:
            ids = ids[None]
        if ids.ndim != 2:
            raise ValueError(f"input ids must be [batch, pos], got shape {tuple(ids.shape)}")
        if ids.numel() == 0:
            raise ValueError(f"no tokens given (input_ids of shape {tuple(ids.shape)})")
        if not trusted:
            low, high = int(ids.min()), int(ids.max())
            if low < 0 or high >= self.d_vocab:
                raise ValueError(
                    f"token ids must be in 0..{self.d_vocab - 1} (the vocabulary), got ids from {low} to {high}"
                )
        if mask is None:
            pad, bos = self.tokenizer.pad_token_id, self.tokenizer.bos_token_id
            if pad is not None and pad != bos and ids.ndim == 2:
                mask = ((ids != pad).long().cumsum(-1) > 0).long()
            else:
                mask = torch.ones_like(ids)
        mask = torch.as_tensor(mask, device=self.device)
        if mask.ndim == 1 and ids.shape[0] == 1:
            mask = mask[None]
        if mask.shape != ids.shape:
            raise ValueError(f"attention_mask shape {tuple(mask.shape)} != input_ids shape {tuple(ids.shape)}")
        if not trusted:
            empty = (mask.sum(-1) == 0).nonzero().reshape(-1).tolist()
            if empty:
                raise ValueError(f"rows {empty} of attention_mask attend to no token: there is nothing to run for them")
        return ids, mask

    def _checked_inputs(self, inputs, attention_mask: Tensor | None, *, new_tokens: int = 0) -> tuple[Tensor, Tensor]:
        """:meth:`_inputs`, refusing rows longer than a learned position table (with ``new_tokens``
        still to be generated) by name instead of an IndexError inside the embedding."""
        ids, mask = self._inputs(inputs, attention_mask)
        limit = self.position_limit  # the batch's width bounds every row's length: no device sync
        if limit is not None and ids.shape[-1] + new_tokens > limit:
            self.check_token_ids([int(n) for n in mask.sum(-1).reshape(-1).tolist()], new_tokens=new_tokens)
        return ids, mask

    @staticmethod
    def position_ids(attention_mask: Int[Tensor, "batch pos"]) -> Int[Tensor, "batch pos"]:
        """Positions counted over real tokens only, so a left-padded row sees the same positions as
        the unpadded text (pads get 0; they are masked anyway)."""
        return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)

    # ------------------------------------------------------------------ running
    def forward(
        self,
        inputs: TextInput | Tensor | dict,
        attention_mask: Tensor | None = None,
        *,
        logits: bool = True,
    ) -> Float[Tensor, "batch pos vocab"] | None:
        """One forward pass with correct position ids under left padding.

        With ``logits=False`` the LM head is skipped (the decoder stack still runs, so every site
        but the logits is computed) and ``None`` is returned. If a hook context stops the forward
        early (``stop_after``) the result is ``None`` too.
        """
        ids, mask = self._checked_inputs(inputs, attention_mask)
        kwargs = {"input_ids": ids, "attention_mask": mask, "use_cache": False}
        if self._takes_position_ids:
            kwargs["position_ids"] = self.position_ids(mask)
        try:
            if logits:
                return self.hf(**kwargs).logits
            self.base(**kwargs)
        except StopForward:
            pass
        return None

    __call__ = forward

    def last_logits(
        self, inputs: TextInput | Tensor | dict, attention_mask: Tensor | None = None
    ) -> Float[Tensor, "batch vocab"]:
        """The logits at each row's last token (the next-token prediction of a prompt), computing
        the LM head at that position only where the model allows it (``logits_to_keep``): for a
        large vocabulary the head over every position costs more than the decoder stack."""
        return self.tail_logits(inputs, attention_mask, n=1)[:, -1]

    def tail_logits(
        self, inputs: TextInput | Tensor | dict, attention_mask: Tensor | None = None, *, n: int
    ) -> Float[Tensor, "batch n vocab"]:
        """The logits at the last ``n`` positions of each row (the end of every text under left
        padding, e.g. a response after its prompt), with the LM head computed there only where the
        model allows it (``logits_to_keep``)."""
        n = _validate.integer("n", n, minimum=1)
        ids, mask = self._checked_inputs(inputs, attention_mask)
        kwargs = {"input_ids": ids, "attention_mask": mask, "use_cache": False}
        if self._takes_position_ids:
            kwargs["position_ids"] = self.position_ids(mask)
        if "logits_to_keep" in inspect.signature(self.hf.forward).parameters:
            kwargs["logits_to_keep"] = n
        return self.hf(**kwargs).logits[:, -n:]

    @torch.no_grad()
    def continuation_logprobs(
        self,
        prompts: Sequence[str],
        *continuations: Sequence[str | Sequence[int]],
        batch_size: int = 8,
    ) -> list[list[Float[Tensor, " tokens"]]]:
        """Log-probabilities of continuation tokens after their prompts: ``out[s][i]`` is ``[n_tokens]``
        float32 on the CPU, the log-probability of each token of ``continuations[s][i]`` after
        ``prompts[i]`` (text is encoded without special tokens; token ids are taken as they are, e.g.
        a generation's new tokens).

        Each batch of prompts runs once with the KV cache on; every continuation set then runs only its
        own tokens from a copy of that cache. Scoring ``k`` sets of answers to the same prompts (the
        answers of several interventions, the options of a multiple-choice item) costs one pass over
        the prompts instead of ``k``; the values equal those of a forward over prompt + continuation
        within float tolerance. Hooks active around the call act on both passes with the positions of
        each pass, so use it on an unedited model or with edits that act at every position alike."""
        import copy

        prompts = _validate.texts(prompts, "prompts")
        if not continuations:
            raise ValueError("give at least one set of continuations (one per prompt)")
        for s, conts in enumerate(continuations):
            if len(conts) != len(prompts):
                raise ValueError(f"continuation set {s} has {len(conts)} rows for {len(prompts)} prompts")
        _validate.integer("batch_size", batch_size, minimum=1)
        tok = self.tokenizer
        sets = [
            [
                tok(c, add_special_tokens=False)["input_ids"] if isinstance(c, str) else [int(t) for t in c]
                for c in conts
            ]
            for conts in continuations
        ]
        prompt_ids = [tok(p)["input_ids"] for p in prompts]
        params = inspect.signature(self.hf.forward).parameters
        out: list[list[Tensor]] = [[torch.empty(0)] * len(prompts) for _ in sets]
        order = sorted(range(len(prompts)), key=lambda i: len(prompt_ids[i]))
        pad = tok.pad_token_id
        cache_arg = "cache" if "cache" in params else "past_key_values"  # the name changed in transformers 5
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            enc = self.pad([prompt_ids[i] for i in rows])
            ids, mask = self._checked_inputs(enc, None, new_tokens=max(len(s[i]) for s in sets for i in rows))
            kwargs = {"input_ids": ids, "attention_mask": mask, "use_cache": True}
            if self._takes_position_ids:
                kwargs["position_ids"] = self.position_ids(mask)
            if "logits_to_keep" in params:
                kwargs["logits_to_keep"] = 1
            first = self.hf(**kwargs)
            first_logp = torch.log_softmax(first.logits[:, -1].float(), -1)  # predicts each continuation's token 0
            lengths = mask.sum(-1)
            width = ids.shape[1]
            for s, conts in enumerate(sets):
                cont = [conts[i] for i in rows]
                n_max = max(len(c) for c in cont)
                if n_max == 0:
                    continue
                target = torch.tensor([c + [pad] * (n_max - len(c)) for c in cont], device=ids.device)
                logp = first_logp[:, None]
                if n_max > 1:  # the tokens before each row's last one predict the rest
                    step = target[:, :-1]
                    real = torch.tensor([[1] * len(c) + [0] * (n_max - len(c)) for c in cont], device=ids.device)
                    more = {
                        "input_ids": step,
                        "attention_mask": torch.cat([mask, real[:, :-1].to(mask.dtype)], 1),
                        cache_arg: copy.deepcopy(first[cache_arg]),
                        "use_cache": True,
                    }
                    if self._takes_position_ids:
                        more["position_ids"] = lengths[:, None] + torch.arange(n_max - 1, device=ids.device)
                    if "cache_position" in params:
                        more["cache_position"] = torch.arange(width, width + n_max - 1, device=ids.device)
                    logp = torch.cat([logp, torch.log_softmax(self.hf(**more).logits.float(), -1)], 1)
                picked = logp.gather(-1, target[:, :, None]).squeeze(-1).cpu()
                for j, i in enumerate(rows):
                    out[s][i] = picked[j, : len(cont[j])].clone()
        return out

    def run_with_cache(
        self,
        inputs: TextInput | Tensor | dict,
        sites: str | Iterable[str],
        *,
        attention_mask: Tensor | None = None,
        logits: bool = True,
    ) -> tuple[Tensor | None, dict[str, Tensor]]:
        """Logits and a dict of full activations (``[batch, pos, ...]``) at ``sites``."""
        from .hooks import record

        cache: dict[str, Tensor] = {}
        chosen = self.sites(sites)
        with self.hooks([(s, record(cache)) for s in chosen]):
            out = self.forward(inputs, attention_mask, logits=logits)
        return out, {s.name: cache[s.name] for s in chosen}

    @torch.no_grad()
    @overload
    def generate(
        self,
        inputs: TextInput | Tensor | dict,
        *,
        max_new_tokens: int = 32,
        do_sample: bool = False,
        return_tokens: Literal[False] = False,
        **generate_kwargs,
    ) -> list[str]: ...
    @overload
    def generate(
        self,
        inputs: TextInput | Tensor | dict,
        *,
        max_new_tokens: int = 32,
        do_sample: bool = False,
        return_tokens: bool,
        **generate_kwargs,
    ) -> list[str] | Tensor | ModelOutput: ...
    def generate(
        self,
        inputs: TextInput | Tensor | dict,
        *,
        max_new_tokens: int = 32,
        do_sample: bool = False,
        return_tokens: bool = False,
        **generate_kwargs,
    ) -> list[str] | Tensor | ModelOutput:
        """Continue each prompt (left-padded batch, KV cache on). Hooks active in a surrounding
        :meth:`hooks` context act on every step. Returns the new text of each row, or with
        ``return_tokens=True`` the full token tensor ``[batch, prompt + new]``."""
        _validate.integer("max_new_tokens", max_new_tokens, minimum=1)
        _validate.boolean("do_sample", do_sample)
        _validate.boolean("return_tokens", return_tokens)
        ids, mask = self._checked_inputs(inputs, None, new_tokens=max_new_tokens)
        # generate comes from GenerationMixin, which every ...ForCausalLM mixes in and PreTrainedModel does not
        out = self.hf.generate(  # pyright: ignore[reportCallIssue]
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            pad_token_id=self.tokenizer.pad_token_id,
            **({"top_p": None, "top_k": None, "temperature": None} if not do_sample else {}),
            **generate_kwargs,
        )
        if return_tokens:
            return out
        return self.tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True)

    def format_chat(
        self,
        turns: str | Sequence[Turn],
        *,
        system: str | None = None,
        prefill: str | None = None,
        add_generation_prompt: bool = True,
    ) -> str:
        """A conversation in the model's chat template, ready for the assistant's reply.

        Args:
            turns: one user message (a string), or the turns ``[{"role": "user", "content": ...},
                {"role": "assistant", ...}, ...]`` (a ``"system"`` turn may come first).
            system: a system prompt. Without one, none is written, also where the template would
                write its own default (SmolLM2's, Qwen2.5's): see :mod:`mechint.chat`.
            prefill: text the assistant's response starts with (``"Sure, here is"``); generation
                continues it. Needs ``add_generation_prompt``.
            add_generation_prompt: end with the template's opening of the assistant's turn.

        Raises :class:`~mechint.chat.ChatTemplateError` where the tokenizer has no chat template.
        """
        checked = check_turns(turns)
        if system is not None and not isinstance(system, str):
            raise TypeError(f"system must be a string or None, got {_validate.given(system)}")
        if prefill is not None and not isinstance(prefill, str):
            raise TypeError(f"prefill must be a string or None, got {_validate.given(prefill)}")
        _validate.boolean("add_generation_prompt", add_generation_prompt)
        text = self.chat_format("a prefill" if prefill is not None else "format_chat").render(
            self.tokenizer, checked, system=system, prefill=prefill, add_generation_prompt=add_generation_prompt
        )
        # Templates that write the BOS token would get a second one when the text is tokenized
        # (mechint tokenizes with the tokenizer's special tokens).
        bos = self.tokenizer.bos_token
        if bos and text.startswith(bos) and self.adds_bos:
            text = text[len(bos) :]
        return text

    def chat_format(self, what: str = "chat formatting") -> ChatFormat:
        """What the chat template writes around the turns (read once per template)."""
        template = getattr(self.tokenizer, "chat_template", None)
        if not template:
            raise no_template_error(self.name, what)
        cached = self.__dict__.get("_chat_format")
        if cached is None or cached[0] != template:
            cached = (template, ChatFormat.read(self.tokenizer))
            self.__dict__["_chat_format"] = cached
        return cached[1]

    @overload
    def chat_prompts(self, texts: Dataset, *, system: str | None = None, prefill: str | None = None) -> Dataset: ...
    @overload
    def chat_prompts(
        self, texts: str | Sequence[str] | HasTexts, *, system: str | None = None, prefill: str | None = None
    ) -> list[str]: ...
    def chat_prompts(
        self, texts: TextsLike, *, system: str | None = None, prefill: str | None = None
    ) -> list[str] | Dataset:
        """Each text as a user turn in the chat template (:meth:`format_chat`), ready for the reply.

        A :class:`~mechint.data.Dataset` gives a Dataset with the same labels, languages and ids whose
        examples say they are chat-formatted (:attr:`Example.chat <mechint.data.Example.chat>`);
        anything else gives a list of strings. Texts already chat-formatted are refused."""
        # cast: pyright reads a Dataset narrowed from Sequence[str] as iterating str | Example
        dataset = cast(Dataset, texts) if isinstance(texts, Dataset) else None
        plain = _validate.texts(texts)
        if dataset is not None and any(ex.chat for ex in dataset):
            raise ValueError("this data set is chat-formatted already; format the plain instructions once")
        already = [i for i, t in enumerate(plain) if self.is_chat_formatted(t)]
        if already:
            raise ValueError(f"texts {already[:5]} are chat-formatted already; format the plain instructions once")
        prompts = [self.format_chat(t, system=system, prefill=prefill) for t in plain]
        if dataset is None:
            return prompts
        return Dataset(dataclasses.replace(ex, text=p, chat=True) for ex, p in zip(dataset, prompts))

    def is_chat_formatted(self, text: str) -> bool:
        """Whether ``text`` carries this model's chat template: it contains the user turn's header
        and the template tokens that close it (False for a model without a template)."""
        if not self.is_chat:
            return False
        fmt = self.chat_format()
        return fmt.user_header.strip() in text and fmt.post_instruction.strip() in text

    def post_instruction_positions(self, prefill: str | None = None) -> PromptEndPositions:
        """The chat template's tokens after the (last) user instruction, before the response:
        Gemma's ``<end_of_turn>\\n<start_of_turn>model\\n``, where Arditi et al. read the refusal
        direction. As :func:`~mechint.from_prompt_end` positions they name the same tokens of every
        prompt made by :meth:`format_chat` / :meth:`chat_prompts` (with the same ``prefill``), in any
        left-padded batch, and in generation only in the prompt's forward.

        Counted by tokenizing sample prompts; raises :class:`~mechint.chat.ChatTemplateError` where
        the count depends on the instruction (a template whose tokens merge with the user's text)."""
        counts = set()
        for sample in ("Hello there", "What is 2+2?", "\u65e5\u672c\u8a9e\u3067\u3059\u3002 ok."):
            text = self.format_chat(sample, prefill=prefill)
            end = text.rindex(sample) + len(sample)
            start_prefill = len(text) - len(prefill or "")
            enc = self.tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
            spans = [(a, b) for (a, b), i in zip(enc["offset_mapping"], enc["input_ids"]) if b > a or a > 0]
            after = [a for a, _ in spans if a >= end]
            n_post = sum(1 for a in after if a < start_prefill)
            n_prefill = sum(1 for a in after if a >= start_prefill)
            counts.add((n_post, n_prefill))
        if len(counts) != 1 or next(iter(counts))[0] == 0:
            raise ChatTemplateError(
                f"the template tokens after the instruction could not be counted reliably for {self.name} "
                f"(counts {sorted(counts)} over sample prompts): its template tokens merge with the text"
            )
        n_post, n_prefill = counts.pop()
        return from_prompt_end(slice(-(n_post + n_prefill), -n_prefill if n_prefill else None))

    @property
    def adds_bos(self) -> bool:
        """Whether tokenizing a text puts the BOS token in front of it (Llama, Gemma: yes; GPT-2,
        Qwen2: no). Where it does, the interventions leave that first token alone by default."""
        bos = self.tokenizer.bos_token_id
        ids = self.tokenizer("a")["input_ids"]
        return bos is not None and len(ids) > 0 and ids[0] == bos

    @property
    def position_limit(self) -> int | None:
        """How many positions the model's learned absolute position table holds (GPT-2's ``wpe``:
        ``n_positions``), or ``None`` where positions are rotary or ALiBi and have no hard limit."""
        if "hook_pos_embed" not in self.family.top_sites:
            return None
        table = self.site("hook_pos_embed").module
        config = self.hf.config
        limit = (
            getattr(table, "num_embeddings", None)
            or getattr(config, "n_positions", None)
            or getattr(config, "max_position_embeddings", None)
        )
        return int(limit) if limit else None

    def check_token_ids(self, lengths: Sequence[int] | Sequence[Sequence[int]], *, new_tokens: int = 0) -> None:
        """Refuse token sequences (or their lengths) that would give wrong activations or a cryptic
        error deep in the forward: a text with no token (an empty text under a tokenizer that adds no
        BOS, as GPT-2's and Qwen2's: its "last token" would be a pad), and one longer, with
        ``new_tokens`` generated after it, than a learned position table (an IndexError in the
        embedding). Raises :class:`TokenError` naming the texts."""
        sizes = [n if isinstance(n, int) else len(n) for n in lengths]
        empty = [i for i, n in enumerate(sizes) if n == 0]
        if empty:
            raise TokenError(
                empty,
                "no tokens (this tokenizer adds no BOS token, so an empty text has none)",
                "no activation exists for them: drop these texts or give them some content",
            )
        limit = self.position_limit
        if limit is None:
            return
        long = [i for i, n in enumerate(sizes) if n + new_tokens > limit]
        if long:
            longest = max(sizes[i] for i in long)
            if new_tokens:
                raise TokenError(
                    long,
                    f"up to {longest} tokens, which with max_new_tokens={new_tokens} run past the {limit} "
                    "positions of this model's learned position embeddings",
                    f"shorten the prompts or generate at most {max(limit - longest, 0)} new tokens",
                )
            raise TokenError(
                long,
                f"more tokens (up to {longest}) than the {limit} positions of this model's learned position embeddings",
                f"pass max_length={limit} (or less) to truncate them",
            )

    @property
    def W_U(self) -> Float[Tensor, "d_model vocab"]:
        """The unembedding matrix, TransformerLens orientation (a view, not a copy). Refused for an
        LM head offloaded by a device map (its weights exist only during its forward)."""
        weight = cast(Tensor, self.hf.get_submodule(self.family.lm_head).weight)
        if weight.device.type == "meta":
            raise RuntimeError(
                "the LM head's weights are offloaded (device_map put it on 'disk' or the CPU with offload "
                "hooks): they are loaded only for its forward, so W_U has no values here. Keep the head on "
                "a device (device_map={'lm_head': 'cpu', ...}) to read its weights"
            )
        return weight.T


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

_OFFLINE_WAYS = (
    "Offline, load a model one of these ways: an embedded name ('gemma-3-270m', "
    "'smollm2-135m-instruct', or 'gemma-3-270m-refusal-en', built from gemma-3-270m on first use), a local Hugging Face folder (config.json + weights + tokenizer), a "
    "GGUF file, or an nn.Module with tokenizer=..."
)


def load_model(
    spec: str | os.PathLike | nn.Module | Model | Any = "gemma-3-270m",
    *,
    tokenizer=None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
    device_map: str | dict | None = None,
    offload_folder: str | os.PathLike | None = None,
) -> Model:
    """Load a causal LM and wrap it as a :class:`Model`.

    Args:
        spec: an embedded name (``"gemma-3-270m"``, multilingual base model, the default;
            ``"smollm2-135m-instruct"``, English chat model; ``"gemma-3-270m-refusal-en"``, gemma-3-270m
            safety-tuned on English, built on first use, see :mod:`mechint.recipes`), a local Hugging Face folder, a ``.gguf``
            file (converted once to safetensors in the cache, see ``MECHINT_CACHE``), an
            ``nn.Module`` (pass its ``tokenizer``), a hub id (needs the hub to be reachable), or a model
            another library holds (:mod:`mechint.interop`): an nnsight ``LanguageModel`` (dispatched), a
            TransformerLens ``TransformerBridge`` (its Hugging Face module with the bridge's components
            taken out, and the plain tokenizer), or a transformers ``pipeline``. These run on their
            own weights, shared, not copied (``device`` / ``dtype`` move them for that object too, as
            ``nn.Module.to`` does); a TransformerLens ``HookedTransformer`` (no Hugging Face
            module) or an undispatched nnsight model (meta weights, as for remote runs) is refused
            with what to pass instead.
        tokenizer: the tokenizer, required with an ``nn.Module``; optional override otherwise.
        device: where to put the model (default: CPU).
        dtype: e.g. ``torch.bfloat16`` or ``"bfloat16"`` (default: the dtype the weights are saved
            in, float32 for the embedded models; the module's own dtype for an ``nn.Module``).
        device_map: place the model's modules on several devices through accelerate, instead of
            ``device``: a strategy (``"auto"``, ``"balanced"``, ``"balanced_low_0"``,
            ``"sequential"``: the GPUs first, then the CPU, then the disk) or a dict from Hugging
            Face module names (``"model.layers.3"``, ``"lm_head"``, ``""`` for the rest) or
            mechint layer indices (``3``: that decoder layer) to devices (a GPU index, ``"cpu"``,
            ``"cuda:1"``, or ``"disk"``). Every weight must be placed; ``"meta"``, an unknown
            device or a module the model does not have is refused
            (:class:`~mechint.placement.DeviceMapError`). A folder, embedded or hub model is loaded
            with ``from_pretrained(device_map=...)``; an ``nn.Module`` (or a :class:`Model`, or
            another library's model) is dispatched in place with ``accelerate.dispatch_model``.
            :attr:`Model.device` is then where the input embedding runs (inputs go there).
        offload_folder: where modules mapped to ``"disk"`` are written (needed with ``"disk"``).
    """
    dtype = _dtype(dtype)
    device = _validate.device("device", device)
    if device_map is not None:
        if device is not None:
            raise ValueError("pass device= (one device) or device_map= (several), not both")
        if not isinstance(device_map, (str, dict)):
            raise TypeError(
                f"device_map must be a strategy such as 'auto' or a dict, got {_validate.given(device_map)}"
            )
    elif offload_folder is not None:
        raise ValueError("offload_folder= is for a device_map with 'disk' in it; pass device_map= too")
    placement = {"device_map": device_map, "offload_folder": offload_folder} if device_map is not None else None
    if isinstance(spec, Model):  # moved in place, as nn.Module.to does; a new tokenizer gives a new wrapper
        if device is not None or dtype is not None:
            # PreTrainedModel.to is @wraps(nn.Module.to), which pyright reads as unbound (self missing)
            spec.hf.to(device=device, dtype=dtype)  # pyright: ignore[reportCallIssue]
        if placement is not None:
            _dispatch(spec.hf, placement)
        return Model(spec.hf, tokenizer, name=spec.name) if tokenizer is not None else spec
    from . import interop

    adapted = interop.adapt(spec, tokenizer)  # an nnsight model, a TransformerLens bridge, a pipeline
    if adapted is not None:
        if device is not None or dtype is not None:
            adapted.module.to(device=device, dtype=dtype)
        if placement is not None:
            _dispatch(adapted.module, placement)
        return Model(adapted.module, adapted.tokenizer, name=adapted.name)
    if isinstance(spec, nn.Module):
        if tokenizer is None:
            raise ValueError("load_model(module) needs the module's tokenizer: tokenizer=...")
        if device is not None or dtype is not None:
            spec = spec.to(device=device, dtype=dtype)
        if placement is not None:
            spec = _dispatch(spec, placement)
        return Model(spec, tokenizer)
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(
            f"load_model takes an embedded model name, a folder or .gguf path, a hub id, an nn.Module (with "
            f"tokenizer=), a Model, an nnsight LanguageModel, a TransformerLens TransformerBridge or a transformers "
            f"pipeline; got {_validate.given(spec)}"
        )

    from . import embedded, recipes

    name = str(spec)
    path = Path(os.path.expanduser(name))
    if name in embedded.EMBEDDED_MODELS:
        folder = embedded.embedded_model_dir(name)
    elif name in recipes.RECIPES:
        folder = recipes.recipe_model_dir(name)
    elif path.is_file() and path.suffix == ".gguf":
        folder = embedded.converted_model_dir(path)
    elif path.is_dir():
        ggufs = sorted(path.glob("*.gguf"))
        if not (path / "config.json").exists() and not ggufs:
            raise FileNotFoundError(
                f"the folder {name} holds neither a Hugging Face model (config.json) nor a .gguf file. {_OFFLINE_WAYS}"
            )
        folder = path if (path / "config.json").exists() else embedded.converted_model_dir(ggufs[0])
    elif path.is_file():
        raise ValueError(
            f"{name} is a file but not a .gguf model file; pass its folder (config.json + weights) instead. {_OFFLINE_WAYS}"
        )
    elif path.suffix == ".gguf" or name.startswith((".", "/", "~")):
        raise FileNotFoundError(f"no such model file or folder: {name}. {_OFFLINE_WAYS}")
    else:
        return _load_hub(name, tokenizer, device, dtype, placement)
    model, tok = embedded.load_hf_folder(folder, dtype, device, placement=placement, tokenizer=tokenizer)
    return Model(model, tok, name=name)


def _dispatch(module: nn.Module, placement: dict) -> nn.Module:
    from .placement import dispatch

    return dispatch(module, placement["device_map"], offload_folder=placement["offload_folder"])


def _hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """Whether the hub host resolves and accepts a connection (fails fast on machines without network,
    where huggingface_hub would otherwise retry for half a minute)."""
    import socket

    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "")
    if endpoint:
        from urllib.parse import urlparse

        host = urlparse(endpoint).hostname or host
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _load_hub(name: str, tokenizer, device, dtype, placement: dict | None = None) -> Model:
    from . import embedded
    from .placement import DeviceMapError

    errors = []
    for local_only in (True, False):
        if not local_only and not _hub_reachable():
            errors.append("the hub is not reachable from this machine")
            break
        try:
            model, tok = embedded.load_hf_folder(
                name, dtype, device, local_files_only=local_only, placement=placement, tokenizer=tokenizer
            )
            return Model(model, tok, name=name)
        except DeviceMapError:
            raise
        except (OSError, ValueError) as err:
            errors.append(f"{type(err).__name__}: {err}".splitlines()[0])
    near = embedded.nearest_embedded(name)
    suggestion = f" Did you mean the embedded model {near!r}?" if near else ""
    raise OSError(
        f"could not load {name!r} as a Hugging Face hub id ({'; '.join(errors)}).{suggestion} {_OFFLINE_WAYS}"
    )
