"""`shipyard run` with a failed gate exits 1; `--override GATE --reason` lets it
through and `shipyard lineage` shows the reason; bad overrides exit 2 and change
nothing."""

from pathlib import Path

from typer.testing import CliRunner

from shipyard.cli import app
from tests.gates.test_run_gates import FAIR, _project


def shipyard(*args: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    return done.exit_code, done.stdout, done.stderr


def test_a_failed_gate_exits_1_and_an_override_registers(tmp_path: Path):
    project = _project(tmp_path, FAIR)
    code, out, err = shipyard("run", str(project.file))
    assert code == 1, err
    assert "fairness.demographic_parity_difference" in err and "--override" in err
    assert "fairness.demographic_parity_difference" in out and "FAIL" in out

    code, out, err = shipyard("run", str(project.file), "--override", "fairness", "--reason",
                              "a pilot for group b only")
    assert code == 0, err
    assert "overridden" in out and "Registered loans version 1" in out
    code, out, err = shipyard("lineage", "1", str(project.file))
    assert code == 0, err
    assert "a pilot for group b only" in out


def test_bad_overrides_exit_2_before_anything_runs(tmp_path: Path):
    project = _project(tmp_path, FAIR)
    code, _, err = shipyard("run", str(project.file), "--override", "fairness")
    assert code == 2 and "needs a reason" in err
    file = str(project.file)
    code, _, err = shipyard("run", file, "--override", "looks", "--reason", "fine by me")
    assert code == 2 and "no such gate" in err
    code, _, err = shipyard("run", file, "--override", "data", "--reason", "fine by me")
    assert code == 2 and "declares no data gate" in err
    assert not (tmp_path / ".shipyard").exists()
