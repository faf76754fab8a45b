"""``python -m experiments --jobs N``: the studies in worker processes (experiments/_parallel.py),
checked against the one-process runner on a tiny random model saved to a folder."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mechint.testing import byte_tokenizer, tiny_hf_model

ROOT = Path(__file__).resolve().parents[1]


def test_the_schedule_names_every_study_once():
    from experiments.__main__ import studies
    from experiments._parallel import SCHEDULE, groups

    listed = [n for group in SCHEDULE for n in group]
    assert sorted(listed) == studies(), "a study missing from SCHEDULE runs last and alone, after the long groups"
    assert groups(["probe_transfer", "zz_new", "probe_early", "attack_languages"]) == [
        ("attack_languages",),
        ("probe_early", "probe_transfer"),
        ("zz_new",),
    ]


def test_jobs_below_one_is_refused():
    from experiments.__main__ import main

    with pytest.raises(SystemExit, match="--jobs must be at least 1, got 0"):
        main(["--jobs", "0", "--only", "probe_layers"])


def _runner(folder: Path, out: Path, cache: Path, *options: str) -> subprocess.CompletedProcess:
    only = ["language_direction_cosine", "neurons_top", "probe_layers"]
    cmd = [sys.executable, "-m", "experiments", "--model", str(folder), "--out", str(out), "--dtype", "float32"]
    env = {"MECHINT_CACHE": str(cache), "PATH": "/usr/bin:/bin", "HOME": str(cache)}
    return subprocess.run(
        [*cmd, "--only", *only, *options], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_workers_write_what_one_process_writes_and_report_a_failed_study(tmp_path):
    folder = tmp_path / "tiny"
    tiny_hf_model("llama", seed=3).save_pretrained(folder)
    byte_tokenizer().save_pretrained(folder)
    one = _runner(folder, tmp_path / "one", tmp_path / "cache1", "--n-per-class", "6")
    assert one.returncode == 0, one.stderr[-2000:]

    # 4 items per class: too few for the probes' 5 folds, so probe_layers fails; the other two run
    two = _runner(folder, tmp_path / "two", tmp_path / "cache2", "--n-per-class", "4", "--jobs", "2")
    assert two.returncode == 1
    assert "1 failed: ['probe_layers']" in two.stderr
    assert "[probe_layers] FAILED" in two.stdout and "ValueError" in two.stdout
    assert "Traceback" in (tmp_path / "two" / "logs" / "probe_layers.log").read_text()
    for name in ("language_direction_cosine", "neurons_top"):
        assert f"[{name}] done in" in two.stdout
        assert (tmp_path / "two" / "logs" / f"{name}.log").exists()

    two = _runner(folder, tmp_path / "two", tmp_path / "cache2", "--n-per-class", "6", "--jobs", "2")
    assert two.returncode == 0, two.stdout[-2000:] + two.stderr[-2000:]
    assert "on 2 workers of" in two.stdout
    for name in ("language_direction_cosine", "neurons_top", "probe_layers"):
        assert f"[{name}] done in" in two.stdout
    # the same numbers as one process (float32; only the thread count differs)
    for name in ("language_direction_cosine", "neurons_top"):
        a = json.loads((tmp_path / "one" / f"{name}.json").read_text())
        b = json.loads((tmp_path / "two" / f"{name}.json").read_text())
        _close(a, b, name)


def _close(a, b, where: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            _close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, abs=1e-5), where
    elif not (isinstance(a, str) and ("/" in a)):  # paths differ by the out folder
        assert a == b, where


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGUSR1"), reason="no SIGUSR1 on this platform")
def test_a_worker_takes_the_threads_of_one_that_ended():
    import os
    import signal

    import torch

    from experiments._parallel import _take_threads_on_signal

    threads, handler = torch.get_num_threads(), signal.getsignal(signal.SIGUSR1)
    try:
        torch.set_num_threads(1)
        _take_threads_on_signal(1, 3)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert torch.get_num_threads() == 2  # one share more
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert torch.get_num_threads() == 3  # never more than the total
    finally:
        signal.signal(signal.SIGUSR1, handler)
        torch.set_num_threads(threads)
