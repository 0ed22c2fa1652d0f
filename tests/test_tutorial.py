"""The tutorial runs end to end as a notebook: docs/tutorials/first-run.py, read by jupytext and
executed cell by cell by nbclient on an IPython kernel, in a temporary folder."""

import re
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext", reason="the docs extra is not installed")
nbclient = pytest.importorskip("nbclient", reason="the docs extra is not installed")

from limprob.io import load_trace  # noqa: E402

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorials" / "first-run.py"


def outputs(cell) -> str:
    """Everything a code cell printed or displayed, as text."""
    texts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            texts.append(output["text"])
        elif "data" in output:
            texts.append(output["data"].get("text/plain", ""))
    return "\n".join(texts)


def test_the_tutorial_runs_end_to_end_and_reports_what_its_own_run_measured(tmp_path):
    # one test, so that pytest-xdist runs the notebook once, not once per worker
    notebook = jupytext.read(TUTORIAL)
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.get("execution_count") for cell in code)
    errors = [
        output
        for cell in code
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert errors == []

    text = "\n".join(outputs(cell) for cell in code)
    runs = tmp_path / "runs"
    tree = load_trace(runs / "tutorial.nc")
    # the printed figures are the saved run's, not numbers written into the tutorial
    assert f"{tree.attrs['training_chip_queries']} chip queries for training" in text
    assert f"predictive average {tree.attrs['test_accuracy_predictive']:.3f}" in text
    assert tree.attrs["convergence_verdict"] in text
    assert "W_out[" in text  # the ArviZ summary's rows, labelled by the named dims
    for name in ("tutorial.nir", "tutorial_rank.png", "tutorial_training.png"):
        assert (runs / name).stat().st_size > 0
    # the NIR graph read back scores as the trace's W* does on the ideal chip
    found = re.search(r"W\* on the ideal chip: (\S+) from the trace, (\S+) from the graph", text)
    assert found and found[1] == found[2]
