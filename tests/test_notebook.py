"""The notebooks run top to bottom on the embedded models (slow tier): the quickstart on gemma-3-270m,
the refusal-direction tutorial on the safety-tuned gemma-3-270m-refusal-en (built on first use).

Needs the docs extra (nbclient, ipykernel); skipped without it. Outputs are not written back: the
notebook stays stripped in git.
"""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.parametrize("name", ["quickstart", "refusal_direction"])
def test_notebook_runs(name):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook stripped"
    # A cell's time limit covers building the safety-tuned model on first use: with an empty cache
    # that is the LoRA tuning of 66 steps, minutes on a CPU with bfloat16 instructions and about a
    # quarter of an hour on one without (bfloat16 products emulated), so the limit is generous.
    nbclient.NotebookClient(
        nb, timeout=2400, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
