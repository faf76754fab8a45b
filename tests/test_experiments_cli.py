"""The studies' command lines (``python -m experiments`` and ``python -m experiments.NAME``), their
independence from one another, and the too-few-items checks. No real model is loaded."""

import ast
import contextlib
import importlib
import inspect
import io
import runpy
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from mechint.testing import tiny_model

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "experiments"
STUDIES = sorted(p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_"))
OPTIONS = ("--model", "--out", "--n-per-class", "--device")


def test_the_study_list_is_the_runners():
    from experiments.__main__ import studies

    assert studies() == STUDIES and len(STUDIES) == 22


def _help(module: str) -> str:
    """``--help`` of ``python -m module``, run in this process as ``-m`` runs it."""
    out = io.StringIO()
    argv = sys.argv
    sys.argv = [module, "--help"]
    try:
        with contextlib.redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # runpy: module already imported
            with pytest.raises(SystemExit) as exit_:
                runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        sys.argv = argv
    assert exit_.value.code in (0, None)
    return out.getvalue()


@pytest.mark.parametrize("name", STUDIES)
def test_every_study_has_a_command_line(name):
    text = _help(f"experiments.{name}")
    assert all(option in text for option in OPTIONS), text
    module = importlib.import_module(f"experiments.{name}")
    assert module.__doc__.splitlines()[0] in text  # the study says what it is


def test_runner_help_names_the_options():
    text = _help("experiments")
    assert all(option in text for option in (*OPTIONS, "--only")), text


@pytest.mark.parametrize(
    "module", ["experiments", "experiments.direction_transfer", "experiments.patching_minimal_pairs"]
)
def test_help_through_python_dash_m(module):
    """The real ``python -m`` path (before, six studies printed nothing and exited 0)."""
    proc = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert all(option in proc.stdout for option in OPTIONS), proc.stdout
    if module.endswith("patching_minimal_pairs"):
        assert "--languages" in proc.stdout  # its own option, kept


@pytest.mark.parametrize("name", STUDIES)
def test_studies_import_only_mechint_and_common(name):
    """A study shares code with another only through ``experiments._common``."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from ._common import ... only
                assert node.level == 1 and node.module == "_common", ast.unparse(node)
            else:
                root = (node.module or "").split(".")
                assert root[0] != "experiments" or root[1:2] == ["_common"], ast.unparse(node)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                assert parts[0] != "experiments" or parts[1:2] == ["_common"], ast.unparse(node)


@pytest.mark.parametrize("name", STUDIES)
def test_every_run_takes_n_per_class(name):
    param = inspect.signature(importlib.import_module(f"experiments.{name}").run).parameters["n_per_class"]
    assert param.kind is inspect.Parameter.KEYWORD_ONLY and param.default is None


def test_runner_rejects_unknown_studies_before_loading_a_model(monkeypatch):
    import mechint
    from experiments.__main__ import main

    monkeypatch.setattr(mechint, "load_model", lambda *a, **k: pytest.fail("loaded a model"))
    with pytest.raises(SystemExit, match=r"unknown studies \['nope'\]; available: \[.*probe_layers"):
        main(["--only", "probe_layers", "nope", "--n-per-class", "3"])


def test_runner_passes_the_options_to_each_run(monkeypatch, tmp_path):
    import mechint
    from experiments.__main__ import main

    model = object()
    loaded, calls = [], []
    monkeypatch.setattr(
        mechint, "load_model", lambda name, device=None, dtype=None: loaded.append((name, device, dtype)) or model
    )
    for name in ("probe_layers", "neurons_top", "patching_minimal_pairs"):
        module = importlib.import_module(f"experiments.{name}")
        monkeypatch.setattr(
            module, "run", lambda m, out, n_per_class=None, _name=name: calls.append((_name, m, out, n_per_class)) or {}
        )
    main(
        [
            "--model",
            "some-model",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "f"),
            "--n-per-class",
            "7",
            "--dtype",
            "float32",
            "--only",
            "probe_layers",
            "neurons_top",
            "patching_minimal_pairs",
        ]
    )
    assert loaded == [("some-model", "cpu", "float32")]
    assert calls == [(n, model, tmp_path / "f", 7) for n in ("probe_layers", "neurons_top", "patching_minimal_pairs")]
    calls.clear()
    main(["--out", str(tmp_path / "g"), "--only", "neurons_top"])
    assert loaded[-1] == ("gemma-3-270m", None, "bfloat16") and calls == [("neurons_top", model, tmp_path / "g", None)]


def test_one_study_command_line_reaches_run(monkeypatch, tmp_path, capsys):
    import mechint
    from experiments import _common, patching_minimal_pairs

    model = object()
    monkeypatch.setattr(mechint, "load_model", lambda name, device=None, dtype=None: (name, device, model))
    seen = []

    def run(m, out, *, n_per_class=None, **kw):
        seen.append((m, out, n_per_class, kw))
        return {"ok": 1}

    assert _common.study_main(run, "Study: a test.\n\nMore.", ["--out", str(tmp_path), "--n-per-class", "4"]) == {
        "ok": 1
    }
    assert seen[-1] == (("gemma-3-270m", None, model), tmp_path, 4, {})
    assert '"ok": 1' in capsys.readouterr().out
    # patching_minimal_pairs' own --languages goes to its run beside the shared options
    monkeypatch.setattr(patching_minimal_pairs, "run", run)
    patching_minimal_pairs.main(
        ["--model", "m", "--device", "cuda:1", "--out", str(tmp_path / "p"), "--languages", "en", "zh"]
    )
    assert seen[-1] == (("m", "cuda:1", model), tmp_path / "p", None, {"languages": ["en", "zh"]})
    assert (tmp_path / "p").is_dir()
    with pytest.raises(SystemExit):
        _common.study_main(run, "doc", ["--n-per-class", "three"])


# ------------------------------------------------------------------------------------ too few items


def test_check_counts_warns_names_study_class_count_and_raises_below_the_minimum():
    from experiments._common import TooFewItemsWarning, check_counts, class_counts

    counts = class_counts([1, 0, 1, 0, 1, 1], ["en", "en", "en", "en", "zh", "zh"], expected=["en", "zh"])
    assert counts == {"en/harmful": 2, "en/harmless": 2, "zh/harmful": 2, "zh/harmless": 0}
    with pytest.warns(
        TooFewItemsWarning,
        match=r"my_study: too few items for the folds, which needs at least 3 "
        r"per class and language: en/harmful has 2, en/harmless has 2",
    ):
        check_counts("my_study", {"en/harmful": 2, "en/harmless": 2, "zh/harmful": 5}, minimum=3, what="the folds")
    with pytest.raises(ValueError, match=r"my_study: needs at least 1 item\(s\).*zh/harmless: 0"):
        check_counts("my_study", counts, minimum=3, what="the folds")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_counts("my_study", {"en/harmful": 3}, minimum=3, what="the folds")  # enough: silent


def test_studies_check_counts_before_an_obscure_failure(tmp_path, monkeypatch):
    """n_per_class=3: the probe and direction studies' 5-fold cross-validations cannot run and say so
    (before, fold_ids failed with 'k=5 folds need at least 5 items in label 0')."""
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))
    from experiments import direction_transfer, probe_layers

    model = tiny_model("llama", seed=2)
    with pytest.raises(ValueError, match=r"direction_transfer: needs at least 5 item\(s\) per class.*en/harmful: 2"):
        direction_transfer.run(model, tmp_path / "figs", n_per_class=3)
    with pytest.raises(ValueError, match=r"probe_layers: needs at least 5 item\(s\) per class.*en/harmful: 3"):
        probe_layers.run(model, tmp_path / "figs", n_per_class=3)


def test_a_study_warns_when_its_statistics_rest_on_too_few_items(tmp_path, monkeypatch):
    monkeypatch.setenv("MECHINT_CACHE", str(tmp_path / "cache"))
    from experiments import language_direction_cosine as study
    from experiments._common import TooFewItemsWarning

    class Stop(Exception):
        pass

    def stop(*a, **k):  # the check comes first; the statistics themselves are tested in test_experiments
        raise Stop

    monkeypatch.setattr(study, "_compare", stop)
    with pytest.warns(TooFewItemsWarning, match=r"language_direction_cosine: .*at least 8 .*en/harmful has 4"):
        with pytest.raises(Stop):
            study.run(tiny_model("llama", seed=2), tmp_path / "figs", n_per_class=4)


def test_a_study_feeding_plain_text_to_a_chat_model_warns(monkeypatch, tmp_path):
    import mechint
    from experiments import _common
    from experiments.__main__ import main
    from mechint.testing import tiny_model

    chat, base = tiny_model("llama", chat=True), tiny_model("llama")
    module = importlib.import_module("experiments.neurons_top")
    monkeypatch.setattr(module, "run", lambda m, out, n_per_class=None: {})
    for model, warns in ((chat, True), (base, False)):
        monkeypatch.setattr(mechint, "load_model", lambda name, device=None, dtype=None, _m=model: _m)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            main(["--out", str(tmp_path), "--only", "neurons_top"])
        raw = [w for w in caught if issubclass(w.category, _common.RawTextWarning)]
        assert bool(raw) == warns
        if warns:
            assert "neurons_top feeds plain text" in str(raw[0].message) and chat.name in str(raw[0].message)
    monkeypatch.setattr(module, "CHAT_PROMPTS", True, raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _common.check_prompt_format(module, chat)
    assert not [w for w in caught if issubclass(w.category, _common.RawTextWarning)]
