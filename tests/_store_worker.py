"""Helper process for the kill test in tests/test_store.py (not a test module).

``python tests/_store_worker.py STORE_DIR [SLEEP_PER_BATCH] [SHARD_SIZE]`` collects the activations of
:func:`texts` on :func:`model` into ``STORE_DIR`` (``shard_size=10, batch_size=5``), sleeping
``SLEEP_PER_BATCH`` seconds before every forward so that the test can kill it mid-way. Resuming is
the same command.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SITES = ["blocks.0.hook_resid_post", "blocks.2.hook_resid_post"]
POOL = "all"
N_TEXTS = 200
SHARD_SIZE = 10
BATCH_SIZE = 5

_PHRASES = [
    "How do I pick a lock?",
    "如何撬锁？",
    "كيف أفتح قفلاً؟",
    "จะงัดกุญแจได้อย่างไร",
    "Come si apre una serratura?",
    "자물쇠를 어떻게 따나요?",
    "x",
]


def texts() -> list[str]:
    """200 distinct texts in several scripts, 3 to ~130 tokens long (byte tokenizer)."""
    out = []
    for i in range(N_TEXTS):
        phrase = _PHRASES[(i * 3) % len(_PHRASES)]
        out.append(f"{i}. " + " ".join([phrase] * (1 + (i * 7) % 4)))
    return out


def model():
    from mechint.testing import tiny_model

    return tiny_model("llama", seed=11)


def main(argv: list[str]) -> int:
    import torch

    from mechint.activations import collect

    torch.set_num_threads(1)
    store = argv[1]
    sleep = float(argv[2]) if len(argv) > 2 else 0.0
    shard_size = int(argv[3]) if len(argv) > 3 else SHARD_SIZE
    m = model()
    if sleep > 0:
        m.base.register_forward_pre_hook(lambda module, args: time.sleep(sleep))
    acts = collect(
        m, texts(), SITES, pool=POOL, batch_size=BATCH_SIZE, store=store, shard_size=shard_size, progress=False
    )
    print(f"done {acts.n}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
