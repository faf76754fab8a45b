"""The compiled probe kernels are compiled ahead (``scripts/setup.sh``), not at a fresh installation's
first ``fit_probes`` call: after ``compile_ahead`` a new process loads them from numba's cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_FIT = """
import json, torch
from mechint.probes import _lbfgs_cpu, fit_probes
x = torch.randn(2, 60, 8); y = (torch.arange(60) % 2).long()
fit_probes(x, y)
fit_probes(x.double(), y)
stats = _lbfgs_cpu.fit_one.stats
print(json.dumps({"hits": sum(stats.cache_hits.values()), "misses": sum(stats.cache_misses.values())}))
"""


def _run(code: str, cache: Path) -> str:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_fit_probes_after_compile_ahead_compiles_nothing(tmp_path):
    ahead, empty = tmp_path / "ahead", tmp_path / "empty"
    _run("from mechint.probes import _lbfgs_cpu; _lbfgs_cpu.compile_ahead(); print('ok')", ahead)
    assert any(ahead.rglob("*.nbi")), "compile_ahead wrote no cache index"
    warm = json.loads(_run(_FIT, ahead))
    assert warm["misses"] == 0 and warm["hits"] >= 1, warm
    cold = json.loads(_run(_FIT, empty))  # the control: without the cache the first fit compiles
    assert cold["misses"] >= 1 and cold["hits"] == 0, cold
