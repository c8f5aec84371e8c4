"""The example notebook, executed by a real Jupyter kernel (nbclient) in a fresh
folder, as a data scientist would run it: every cell runs, and its outputs hold
the run's report, the champion's predictions, the drift found and the decision."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parents[1] / "examples" / "notebook" / "machines.ipynb"


def _outputs(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        for kind in ("text/plain", "text/html"):
            parts.append(str(output.get("data", {}).get(kind, "")))
    return "\n".join(parts)


def test_the_example_notebook_runs_the_life_cycle(tmp_path: Path):
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    notebook = nbformat.read(tmp_path / NOTEBOOK.name, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    by_source = {cell.source.splitlines()[0]: _outputs(cell) for cell in code}

    assert "broken.yaml:6: task: expected one of regression, binary, multiclass, anomaly, " \
           "got 'binry' (did you mean 'binary'?)" in by_source["with open(\"broken.yaml\", " \
                                                          "\"w\") as f:"]
    assert "machine_id" in by_source["profile = project.profile(progress=False)"]  # an id
    assert "registered as version 1" in by_source["run = project.run(progress=False)"]
    report = by_source["run.report"]
    assert "<iframe" in report and "srcdoc=" in report and "Holdout evaluation" in report
    predicted = by_source["champion = project.champion()"]
    assert "prediction" in predicted and "probability" in predicted
    assert by_source["hotter = machines.drop(columns=[\"machine_id\", \"failed\"]).sample("
                     "400, random_state=1)"].startswith("(200,")
    assert "'temperature'" in by_source["monitoring = project.monitor()"]
    assert "Drift by feature" in by_source["monitoring.report"]
    assert "'1', '2')" in by_source["decision = project.retrain(force=True, progress=False)"]
    assert (tmp_path / ".shipyard" / "mlflow.db").exists()
    assert not (NOTEBOOK.parent / ".shipyard").exists()  # it ran where it was told
