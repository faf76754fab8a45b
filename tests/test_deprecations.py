"""The moved modules: ``mechint.metrics`` (now ``mechint.patching.metrics``) and ``mechint.plots_patching``,
``plots_neurons``, ``plots_probes`` (now ``mechint.plots.patching``, ``.neurons``, ``.probes``) keep
working for one release with one DeprecationWarning when used, and ``import mechint`` does not warn."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import mechint
import mechint.patching
import mechint.plots

ROOT = Path(__file__).resolve().parents[1]

#: old module -> its new home
MOVED = {
    "mechint.metrics": "mechint.patching.metrics",
    "mechint.plots_patching": "mechint.plots.patching",
    "mechint.plots_neurons": "mechint.plots.neurons",
    "mechint.plots_probes": "mechint.plots.probes",
    "mechint.cache": "mechint.disk",
}


def test_import_mechint_emits_no_deprecation_warning():
    """In a fresh interpreter: importing the package and its new modules warns about nothing of
    mechint's, and does not import the deprecated modules."""
    script = f"""
import json, sys, warnings
sys.path.insert(0, {str(ROOT)!r})
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import mechint, mechint.patching, mechint.patching.metrics, mechint.plots
ours = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)
        and ("mechint" in str(w.message) or "mechint" in w.filename)]
print(json.dumps({{"warnings": ours, "loaded": sorted(m for m in {sorted(MOVED)!r} if m in sys.modules),
                   "file": mechint.__file__}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["file"] == str(ROOT / "mechint" / "__init__.py")
    assert got["warnings"] == []
    assert got["loaded"] == []


def test_warnings_at_a_prompt_or_python_c_are_shown_not_raised():
    """``python -c`` and the interactive prompt: the caller's frame is ``__main__`` with the built-in
    importer as loader, which raises ImportError when warn_explicit asks it for the source line.
    The warning must still be shown, and the call go on."""
    script = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from mechint.data import load_safety_pairs
print(load_safety_pairs("en", n_per_class=2).languages())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['en']"
    assert "<string>:5: DeprecationWarning: Dataset.languages is a property now" in done.stderr
    prompt = subprocess.run(
        [sys.executable, "-i", "-q"], input=script, capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert "['en']" in prompt.stdout and "ImportError" not in prompt.stderr, prompt.stderr
    assert "DeprecationWarning: Dataset.languages is a property now" in prompt.stderr


@pytest.fixture
def fresh_import():
    """Import a deprecated module as if for the first time (and put the previous module object back
    afterwards, for the other tests that hold it)."""
    saved: dict[str, tuple] = {}

    def forget(name: str) -> None:
        parent, _, child = name.rpartition(".")
        saved.setdefault(name, (sys.modules.get(name), vars(sys.modules[parent]).get(child)))
        sys.modules.pop(name, None)
        if child in vars(sys.modules[parent]):
            delattr(sys.modules[parent], child)

    yield forget
    for name, (module, attr) in saved.items():
        parent, _, child = name.rpartition(".")
        if module is not None:
            sys.modules[name] = module
        else:
            sys.modules.pop(name, None)
        if attr is not None:
            setattr(sys.modules[parent], child, attr)
        elif child in vars(sys.modules[parent]):
            delattr(sys.modules[parent], child)


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_module_warns_once_and_reexports_the_same_objects(old, fresh_import):
    new = importlib.import_module(MOVED[old])
    fresh_import(old)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
        again = importlib.import_module(old)
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(deprecations) == 1, [str(w.message) for w in caught]
    assert old in str(deprecations[0].message) and MOVED[old] in str(deprecations[0].message)
    assert again is module
    assert module.__all__ == new.__all__
    for name in new.__all__:  # the public names: private ones never were a promise
        assert getattr(module, name) is getattr(new, name), name
    assert deprecations[0].filename == __file__  # shown where the old module is imported


def test_from_mechint_import_metrics_warns_at_the_caller(fresh_import):
    fresh_import("mechint.metrics")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from mechint import metrics

        metrics.logit_diff  # noqa: B018 - used again: no second warning
        assert mechint.metrics is metrics
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(deprecations) == 1
    assert deprecations[0].filename == __file__  # shown where the old name is used
    assert metrics.logit_diff is mechint.patching.metrics.logit_diff
    assert metrics.Metric is mechint.patching.Metric


def test_plots_package_reexports_every_figure_helper():
    from mechint.plots import export, layers, neurons, patching, probes, style

    for module in (export, layers, neurons, patching, probes, style):
        for name in module.__all__:
            assert getattr(mechint.plots, name) is getattr(module, name), name
            assert name in mechint.plots.__all__, name
    for name in ("PatchResult", "activation_patch", "attribution_patch", "attribution_correlation"):
        assert getattr(mechint, name) is getattr(mechint.patching, name)


def test_save_is_the_deprecated_name_of_record():
    import torch

    import mechint
    from mechint.testing import tiny_model

    model = tiny_model("llama")
    with pytest.warns(DeprecationWarning, match="mechint.save is now mechint.record"):
        hook = mechint.save(store := {})
    with model.hooks([("blocks.0.hook_resid_post", hook)]):
        model(["hi"])
    recorded = {}
    with model.hooks([("blocks.0.hook_resid_post", mechint.record(recorded))]):
        model(["hi"])
    assert torch.equal(store["blocks.0.hook_resid_post"], recorded["blocks.0.hook_resid_post"])


def test_intervention_hooks_is_the_deprecated_name_of_hook_pairs():
    import torch

    import mechint
    from mechint.interventions import hook_pairs
    from mechint.testing import tiny_model

    model = tiny_model("llama")
    edit = mechint.AddDirection(torch.randn(64), 2.0, layers=[1])
    with pytest.warns(DeprecationWarning, match="use mechint.intervene"):
        old = mechint.intervention_hooks(model, edit)
    assert [(s.name, type(f)) for s, f in old] == [(s.name, type(f)) for s, f in hook_pairs(model, edit)]
