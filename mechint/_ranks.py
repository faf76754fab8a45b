"""The few collectives an activation store filled by several processes needs (``torch.distributed``).

:meth:`mechint.ActivationStore.fill` ``(distributed=True)`` runs in every process of an initialised
process group (``torchrun``). The processes must make the same collective calls in the same order,
or the ones that went ahead wait for the others until the group's timeout. So every step where one
rank could fail alone (a bad argument, a damaged manifest seen by rank 0, an error in one rank's
forward) runs through :meth:`Ranks.run`: each rank catches its own error, the ranks exchange whether
they failed, and then every rank raises, the failing one its own error and the others an error that
quotes it. Only plain integer tensors travel (no pickled objects).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

import torch

T = TypeVar("T")

_MESSAGE_BYTES = 1000  # of a failing rank's error, quoted by the others


@dataclass
class Outcome(Generic[T]):
    """What one step gave on this rank, and which ranks failed it (``failures``: rank -> message)."""

    value: T | None
    error: Exception | None
    failures: dict[int, str]
    world: int
    what: str

    def get(self) -> T:
        """The value, or this rank's own error, or an error quoting the first rank that failed."""
        if self.error is not None:
            raise self.error
        if self.failures:
            first = min(self.failures)
            others = sorted(r for r in self.failures if r != first)
            also = f" (ranks {others} failed too)" if others else ""
            raise RuntimeError(
                f"rank {first} of {self.world} failed while {self.what}: {self.failures[first]}{also}; "
                "every rank stops here"
            )
        return self.value  # type: ignore[return-value]  # no error: the step returned


class Ranks:
    """This process's place in the default process group: ``rank`` of ``world``, and the device
    collective tensors go on (the current GPU under NCCL, else the CPU)."""

    def __init__(self, rank: int, world: int, device: torch.device):
        self.rank, self.world, self.device = rank, world, device

    @classmethod
    def current(cls, caller: str) -> "Ranks":
        """The default process group's ranks; a clear error where there is none."""
        import torch.distributed as dist

        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError(
                f"{caller} needs an initialised torch.distributed process group: start the script with "
                "torchrun and call torch.distributed.init_process_group('gloo') (or 'nccl' on GPUs) before it"
                + ("" if dist.is_available() else " (this torch build has no torch.distributed)")
            )
        backend = str(dist.get_backend())
        device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
        return cls(dist.get_rank(), dist.get_world_size(), device)

    # -- collectives
    def gather(self, row: torch.Tensor) -> torch.Tensor:
        """``[world, *row.shape]``: every rank's ``row`` (same shape and dtype on every rank)."""
        import torch.distributed as dist

        row = row.to(self.device)
        out = [torch.empty_like(row) for _ in range(self.world)]
        dist.all_gather(out, row)
        return torch.stack(out).cpu()

    def broadcast(self, table: torch.Tensor | None, columns: int) -> torch.Tensor:
        """Rank 0's int64 ``table [rows, columns]`` on every rank (``None`` on the others)."""
        import torch.distributed as dist

        size = torch.tensor([0 if table is None else table.shape[0]], dtype=torch.long, device=self.device)
        dist.broadcast(size, 0)
        n = int(size.item())
        if self.rank == 0:
            assert table is not None and table.shape == (n, columns)
            buf = table.to(device=self.device, dtype=torch.long).contiguous()
        else:
            buf = torch.empty((n, columns), dtype=torch.long, device=self.device)
        if n:
            dist.broadcast(buf, 0)
        return buf.cpu()

    def run(self, fn: Callable[[], T], what: str) -> Outcome[T]:
        """Run ``fn`` on this rank, catching its error, and learn which ranks failed (a collective:
        every rank calls it for the same step)."""
        value, error = None, None
        try:
            value = fn()
        except Exception as err:  # noqa: BLE001 - reported to every rank, re-raised by Outcome.get
            error = err
        message = b"" if error is None else f"{type(error).__name__}: {error}".encode()[:_MESSAGE_BYTES]
        row = torch.zeros(_MESSAGE_BYTES + 3, dtype=torch.uint8)
        row[0] = error is not None
        row[1:3] = torch.tensor(list(len(message).to_bytes(2, "little")), dtype=torch.uint8)
        row[3 : 3 + len(message)] = torch.tensor(list(message), dtype=torch.uint8)
        rows = self.gather(row)
        failures = {}
        for r in range(self.world):
            if rows[r, 0]:
                n = int.from_bytes(bytes(rows[r, 1:3].tolist()), "little")
                failures[r] = bytes(rows[r, 3 : 3 + n].tolist()).decode("utf-8", errors="replace")
        return Outcome(value, error, failures, self.world, what)

    def agree(self, fn: Callable[[], T], what: str) -> T:
        """:meth:`run`, then its value on every rank or an error on every rank."""
        return self.run(fn, what).get()

    def check_same(self, fields: dict[str, Any], caller: str, hint: str) -> None:
        """Raise ``ValueError`` on every rank unless every rank passed equal ``fields``.

        Integers are compared as they are (and quoted in the message); anything else by a digest of
        its JSON form.
        """
        values = []
        for v in fields.values():
            if isinstance(v, int) and not isinstance(v, bool):
                values.append(v)
            else:
                digest = hashlib.sha256(json.dumps(v, sort_keys=True, default=str).encode()).digest()
                values.append(int.from_bytes(digest[:8], "little", signed=True))
        table = self.gather(torch.tensor(values, dtype=torch.long))
        problems = []
        for i, (name, v) in enumerate(fields.items()):
            ranks = [r for r in range(1, self.world) if table[r, i] != table[0, i]]
            if not ranks:
                continue
            if isinstance(v, int) and not isinstance(v, bool):
                quoted = ", ".join(f"{int(table[r, i])} on rank {r}" for r in [0, *ranks[:3]])
                problems.append(f"{name} ({quoted})")
            else:
                problems.append(f"{name} (ranks {ranks[:8]}{' ...' if len(ranks) > 8 else ''})")
        if problems:
            raise ValueError(
                f"{caller} needs the same call on every rank ({hint}); these differ from rank 0's: "
                + "; ".join(problems)
            )
