"""Models whose layers sit on several devices (accelerate's ``device_map``, CPU and disk offload).

:func:`mechint.load_model` ``(..., device_map=...)`` places a model's modules on several devices
through `accelerate <https://huggingface.co/docs/accelerate>`_: a folder, embedded or hub model is
loaded with ``from_pretrained(device_map=...)``, an ``nn.Module`` already built is dispatched with
``accelerate.dispatch_model``. accelerate wraps each placed module's ``forward`` so that its inputs
are moved to its execution device, and loads offloaded weights (kept on the CPU or on disk, the
parameters themselves on ``meta``) just for the call.

mechint's hooks run at module boundaries, so a hook function sees an activation on the device the
model produced it on; everything mechint writes into an activation (directions, values, patched
clean activations, index tensors) is moved to that activation's device, and what it reads out is
gathered in one place (:func:`mechint.collect`: the CPU).

This module holds the pieces: the device-map check, the dispatch of an ``nn.Module``, the
execution device of a module (where its inputs go), and the refusal of a model left with weights
on ``meta``.
"""

from __future__ import annotations

import operator
import os
from typing import Any, Mapping

import torch
from torch import nn

__all__ = [
    "DEVICE_MAP_STRATEGIES",
    "DeviceMapError",
    "check_resident",
    "execution_device",
    "is_offloaded",
    "resolve_device_map",
]

DEVICE_MAP_STRATEGIES = ("auto", "balanced", "balanced_low_0", "sequential")
"""The strings ``device_map`` takes (accelerate's strategies): ``"auto"`` and ``"balanced"`` spread
the layers evenly over the GPUs, then the CPU, then the disk; ``"sequential"`` fills each GPU in turn."""


class DeviceMapError(ValueError):
    """A device map that cannot be used: an unknown module name or device, a device map that leaves
    weights on ``meta``, or one that misses some of the model's weights."""


def _device_value(key, value) -> str | int:
    """One device of a device map, checked: an int (a GPU index), ``"disk"``, or a torch device
    other than ``meta`` that this machine has; as accelerate takes it."""
    from . import _validate

    if value == "disk":
        return "disk"
    if isinstance(value, (str, torch.device)) and _parses(value) and torch.device(value).type == "meta":
        raise DeviceMapError(
            f"device_map[{key!r}] = 'meta' would leave those weights without values (meta tensors hold no data); "
            "put them on a GPU, 'cpu', or 'disk' (with offload_folder=)"
        )
    try:
        device = _validate.device(f"device_map[{key!r}]", value)
    except (TypeError, ValueError) as err:
        raise DeviceMapError(
            f"{err}; a device map's devices are GPU indices, 'cpu', 'cuda:0', 'mps' or 'disk'"
        ) from None
    if isinstance(value, int):
        return value
    return str(device)


def _parses(value) -> bool:
    try:
        torch.device(value)
        return True
    except (RuntimeError, TypeError, ValueError):
        return False


def normalize_device_map(
    device_map: Mapping, module_names: set[str], parameter_names: list[str], layers_path: str, n_layers: int
) -> dict[str, str | int]:
    """A device map with Hugging Face module names as keys, checked against the model.

    Keys are module names of the Hugging Face model (``"model.layers.3"``, ``"lm_head"``, ``""`` for
    the whole model) or, mechint-style, layer indices (``3``, ``-1``: the decoder layer
    ``{layers_path}.3``). Raises :class:`DeviceMapError` on an unknown module, a layer out of range,
    a device that is not one (or ``meta``), and on weights that no key places."""
    if not isinstance(device_map, Mapping):
        raise DeviceMapError(f"device_map must be {' / '.join(map(repr, DEVICE_MAP_STRATEGIES))} or a dict")
    out: dict[str, str | int] = {}
    for key, value in device_map.items():
        if isinstance(key, bool) or not isinstance(key, (str, int)):
            raise DeviceMapError(f"device_map keys are module names or layer indices, got {key!r}")
        if isinstance(key, int):
            i = operator.index(key)
            if not -n_layers <= i < n_layers:
                raise DeviceMapError(f"device_map names layer {i}, but the model has layers 0..{n_layers - 1}")
            name = f"{layers_path}.{i % n_layers}"
        else:
            name = key
            if name and name not in module_names:
                from ._suggest import nearest

                near = nearest(name, sorted(module_names), n=1)
                raise DeviceMapError(
                    f"device_map names {name!r}, which is no module of this model"
                    + (f" (did you mean {near[0]!r}?)" if near else "")
                    + f"; keys are Hugging Face module names such as {layers_path + '.0'!r}, or layer indices"
                )
        if name in out:
            raise DeviceMapError(f"device_map places {name!r} twice")
        out[name] = _device_value(key, value)
    if "" not in out:
        missing = [p for p in parameter_names if not any(p.startswith(k + ".") for k in out)]
        if missing:
            shown = ", ".join(missing[:4]) + (f", ... ({len(missing)} in all)" if len(missing) > 4 else "")
            raise DeviceMapError(
                f"device_map places no device for {shown}: they would stay on 'meta', without values. "
                "Name their modules in the map (or give '' a default device)"
            )
    return out


def flatten_device_map(device_map: dict[str, str | int], model: nn.Module) -> dict[str, str | int]:
    """The same placement with no key inside another (accelerate places each key's module whole,
    so ``{"": "cpu", "model.layers.1": "disk"}`` must become the children of each enclosing module,
    each on its device). A module named with modules inside it named too is split into its
    children and its own parameters and buffers."""

    def inside(key: str, name: str) -> bool:
        return key != name and (name == "" or key.startswith(name + "."))

    def join(a: str, b: str) -> str:
        return f"{a}.{b}" if a else b

    out: dict[str, str | int] = {}

    def place(name: str, module: nn.Module, device) -> None:
        if not any(inside(k, name) for k in device_map):
            out[name] = device
            return
        for own, _ in (*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)):
            out[join(name, own)] = device
        for child_name, child in module.named_children():
            full = join(name, child_name)
            place(full, child, device_map.get(full, device))

    for key, device in device_map.items():
        if not any(inside(key, other) for other in device_map):  # an outermost key
            place(key, model if key == "" else model.get_submodule(key), device)
    return out


def module_names(model: nn.Module) -> tuple[set[str], list[str]]:
    """``(module names, parameter names)`` of ``model`` (tied parameters listed once)."""
    return {n for n, _ in model.named_modules()}, [n for n, _ in model.named_parameters()]


def _empty_model(folder_or_id: str | os.PathLike, local_files_only: bool) -> nn.Module:
    """The model of a Hugging Face folder or hub id built on ``meta`` (no memory), for its module names."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(folder_or_id, local_files_only=local_files_only)
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config)
    model.tie_weights()  # as from_pretrained will (an LM head sharing the embedding's matrix)
    return model


def checked_map_for_folder(device_map, folder_or_id, local_files_only: bool = True):
    """``device_map`` checked against the model saved in a folder (or a hub id): a strategy string
    passes as it is; a dict is normalized (:func:`normalize_device_map`)."""
    if isinstance(device_map, str):
        return _strategy(device_map)
    from .families import family_for_config
    from .model import text_config

    empty = _empty_model(folder_or_id, local_files_only)
    placed = _normalized_for(empty, device_map, family_for_config(text_config(empty.config)))
    _check_tied(empty, placed)
    return placed


def _device_of(name: str, placed: Mapping) -> Any:
    """The device a flat map gives parameter ``name`` (its longest enclosing key)."""
    keys = [k for k in placed if k == "" or name == k or name.startswith(k + ".")]
    return placed[max(keys, key=len)] if keys else None


def _check_tied(model: nn.Module, placed: Mapping) -> None:
    """Refuse a map that puts the parts of one tied weight (an LM head sharing the input embedding's
    matrix) on different devices: ``from_pretrained`` loads such a weight once, and the part placed
    elsewhere finds no value (a KeyError at the first forward)."""
    from accelerate.utils import find_tied_parameters

    for group in find_tied_parameters(model):
        devices = {name: _device_of(name, placed) for name in group}
        if len({str(d) for d in devices.values()}) > 1:
            shown = ", ".join(f"{n} on {d!r}" for n, d in devices.items())
            raise DeviceMapError(
                f"device_map splits one tied weight: {shown} (the LM head shares the input embedding's "
                "matrix); put them on the same device"
            )


def _strategy(device_map: str) -> str:
    if device_map not in DEVICE_MAP_STRATEGIES:
        raise DeviceMapError(
            f"device_map={device_map!r}: the strategies are {', '.join(map(repr, DEVICE_MAP_STRATEGIES))}; "
            "or pass a dict of module names (or layer indices) to devices"
        )
    return device_map


def resolve_device_map(model: nn.Module, device_map: Mapping) -> dict[str, str | int]:
    """``device_map`` (module names or layer indices, nested keys allowed) as the flat map of
    Hugging Face module names that accelerate takes, checked against ``model`` (a Hugging Face
    causal LM, on any device or ``meta``): for calling ``accelerate.dispatch_model`` oneself, e.g.
    with ``main_device="cpu"`` so that modules mapped to the CPU compute there rather than being
    offloaded to a GPU."""
    from .families import family_for_config
    from .model import text_config

    return _normalized_for(model, device_map, family_for_config(text_config(model.config)))


def _normalized_for(model: nn.Module, device_map: Mapping, family) -> dict[str, str | int]:
    from .model import text_config

    n_layers = int(getattr(text_config(model.config), family.config_keys["n_layers"]))
    names, params = module_names(model)
    return flatten_device_map(normalize_device_map(device_map, names, params, family.layers, n_layers), model)


def dispatch(module: nn.Module, device_map, *, offload_folder: str | os.PathLike | None = None) -> nn.Module:
    """Place an ``nn.Module`` already built on several devices (``accelerate.dispatch_model``).

    ``device_map``: a strategy (:data:`DEVICE_MAP_STRATEGIES`, computed by
    ``accelerate.infer_auto_device_map`` from the memory free on each device) or a dict as for
    :func:`normalize_device_map`. Modules mapped to ``"disk"`` are written to ``offload_folder``
    and loaded from there for each call."""
    from accelerate import dispatch_model, infer_auto_device_map
    from accelerate.utils import get_balanced_memory

    from .families import family_for_config
    from .model import text_config

    if isinstance(device_map, str):
        strategy = _strategy(device_map)
        no_split = list(getattr(module, "_no_split_modules", None) or [])
        max_memory = None
        if strategy != "sequential":
            max_memory = get_balanced_memory(
                module, no_split_module_classes=no_split, low_zero=strategy == "balanced_low_0"
            )
        inferred = infer_auto_device_map(module, max_memory=max_memory, no_split_module_classes=no_split)
        placed: dict[str, str | int | torch.device] = dict(inferred)
    else:
        placed = dict(_normalized_for(module, device_map, family_for_config(text_config(module.config))))
    if "disk" in placed.values() and offload_folder is None:
        raise DeviceMapError("device_map offloads modules to 'disk': pass offload_folder= (a folder to write them to)")
    if getattr(module, "hf_device_map", None) is not None or any(hasattr(m, "_hf_hook") for m in module.modules()):
        raise DeviceMapError(
            "this module is placed by accelerate already (it has a device map or offload hooks): pass it "
            "without device_map=, or load it again"
        )
    modules = dict(module.named_modules())
    for name, value in placed.items():  # dispatch_model moves only where it attaches hooks
        if value != "disk" and name in modules:  # (a parameter's own key is placed by dispatch_model)
            modules[name].to(f"cuda:{value}" if isinstance(value, int) else value)
    out = dispatch_model(module, placed, offload_dir=offload_folder)
    # recorded as from_pretrained(device_map=...) records it (nn.Module.__setattr__ is typed for tensors and modules)
    out.hf_device_map = dict(placed)  # pyright: ignore[reportArgumentType]
    return out


def _hooks(module: nn.Module) -> list[Any]:
    hook = getattr(module, "_hf_hook", None)
    if hook is None:
        return []
    return list(getattr(hook, "hooks", None) or [hook])  # a SequentialHook holds several


def execution_device(module: nn.Module) -> torch.device | None:
    """Where ``module`` computes: the execution device accelerate's hook on it moves its inputs to,
    else the device of its first parameter (or buffer) that holds data; ``None`` where none does."""
    for hook in _hooks(module):
        device = getattr(hook, "execution_device", None)
        if device is not None:
            return torch.device(f"cuda:{device}" if isinstance(device, int) else device)
    for t in (*module.parameters(), *module.buffers()):
        if t.device.type != "meta":
            return t.device
    return None


def is_offloaded(module: nn.Module) -> bool:
    """Whether an accelerate hook loads ``module``'s weights only for its forward (CPU or disk offload:
    outside a forward its parameters are on ``meta``)."""
    return any(getattr(h, "offload", False) for h in _hooks(module))


def check_resident(model: nn.Module) -> None:
    """Refuse a model with parameters on ``meta`` that no accelerate offload hook loads: a forward
    would fail deep inside (or, for some ops, give values from no weights). Raises
    :class:`DeviceMapError` naming them."""
    covered = [name for name, m in model.named_modules() if is_offloaded(m)]
    missing = [
        name
        for name, p in model.named_parameters()
        if p.device.type == "meta" and not any(c == "" or name.startswith(c + ".") for c in covered)
    ]
    if missing:
        shown = ", ".join(missing[:4]) + (f", ... ({len(missing)} in all)" if len(missing) > 4 else "")
        raise DeviceMapError(
            f"{shown} {'are' if len(missing) > 1 else 'is'} on the 'meta' device, holding no values, and no "
            "offload hook loads them: place every module on a real device (device_map values: a GPU index, "
            "'cpu', or 'disk' with offload_folder=), or load the weights into the model"
        )
