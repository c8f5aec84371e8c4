"""The Python API as a script or notebook uses it, on a small CSV project: the same
stages as the CLI, the same errors with the same headlines."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import shipyard
from shipyard.cli import app
from shipyard.errors import DataError, SpecError
from tests.helpers import frame

PROJECT = """\
name: api
source:
  files: {{rows: rows.csv}}
  query: SELECT * FROM rows
target: y
task: regression
split: {{holdout: 0.25, folds: 3}}
models:
  - name: linear
gates:
  quality:
    - {{metric: r2, min: {r2_min}}}
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("api")
    frame().drop(columns=["eid", "t", "label", "kind"]).to_csv(folder / "rows.csv", index=False)
    (folder / "shipyard.yaml").write_text(PROJECT.format(r2_min=0.5))
    return folder


def test_every_public_name_is_exported_typed_and_documented():
    for name in shipyard.__all__:
        if name == "__version__":
            continue
        value = getattr(shipyard, name)
        assert inspect.getdoc(value), name
    assert "load" in dir(shipyard)
    assert inspect.signature(shipyard.load).return_annotation in ("Project", shipyard.Project)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        shipyard.nope  # noqa: B018


def test_run_profile_and_champion_through_the_api(folder: Path):
    project = shipyard.load(folder / "shipyard.yaml")
    assert project.name == "api" and project.validate()[:3] == ["a", "b", "c"]
    profile = project.profile(progress=False)
    assert profile.details.n_rows == 600 and profile.report.path.exists()
    assert "Data profile" in profile._repr_html_()
    run = project.run(progress=False)
    assert run.passed and run.version == "1" and run.estimator == "linear"
    assert run.metrics["r2"] > 0.8 > run.baseline["r2"]
    assert "registered as version 1" in run._repr_html_()
    shown = run.report._repr_html_()
    assert shown.startswith("<iframe") and "Holdout evaluation" in shown
    champion = project.champion()
    rows = frame(20, seed=9)
    answered = champion.predict(rows)  # its extra columns are ignored
    expected = champion.pipeline.predict(champion.card.schema.model_frame(rows))
    np.testing.assert_allclose(answered["prediction"], expected)
    assert list(answered.index) == list(rows.index)
    assert project.version(1).version == "1"
    with pytest.raises(DataError, match="lacks 1 column"):
        champion.predict(rows.drop(columns=["b"]))


def test_a_failed_gate_is_a_result_not_an_error(folder: Path):
    (folder / "strict.yaml").write_text(PROJECT.format(r2_min=0.999))
    run = shipyard.load(folder / "strict.yaml").run(progress=False)
    assert not run.passed and run.version is None
    assert [g.passed for g in run.gates if g.key == "quality.r2"] == [False]
    assert "not registered" in run._repr_html_()


def test_errors_are_the_clis_with_the_same_headline(folder: Path):
    (folder / "broken.yaml").write_text(PROJECT.format(r2_min=0.5).replace("regression",
                                                                           "regresion"))
    with pytest.raises(SpecError) as raised:
        shipyard.load(folder / "broken.yaml")
    assert isinstance(raised.value, shipyard.ShipyardError)
    said = CliRunner().invoke(app, ["validate", str(folder / "broken.yaml"), "--offline"])
    assert said.exit_code == 2 and raised.value.headline in said.stderr
    assert "did you mean 'regression'" in str(raised.value)
