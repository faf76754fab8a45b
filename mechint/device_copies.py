"""Per-device copies of small constant tensors (directions, answer token ids, neuron indices).

Methods keep such data on the CPU and use it on whatever device a forward runs on; copying it at
every call (every generation step, every patching chunk) would put a host-to-device transfer in the
hot path. :class:`DeviceCopies` copies once per device and dtype and keeps the copies.
"""

from __future__ import annotations

import torch
from torch import Tensor


class DeviceCopies:
    """CPU tensors, copied once to each ``(device, dtype)`` they are asked for."""

    def __init__(self, *tensors: Tensor):
        self.cpu = tensors
        self._copies: dict[tuple[torch.device, torch.dtype | None], tuple[Tensor, ...]] = {}

    def on(self, device: torch.device, dtype: torch.dtype | None = None) -> tuple[Tensor, ...]:
        """The tensors on ``device``, cast to ``dtype`` (cast on the CPU first: MPS has no float64)."""
        key = (torch.device(device), dtype)
        got = self._copies.get(key)
        if got is None:
            # never inference tensors, even when first asked for inside torch.inference_mode()
            # (patching runs there): a later gradient run could not save them for backward
            with torch.inference_mode(False):
                got = tuple((t if dtype is None else t.to(dtype)).to(device) for t in self.cpu)
            self._copies[key] = got
        return got
