"""``extends``: a second project over the same data takes the data sections of the
file it extends and writes its own model, gates and serving."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard import spec
from shipyard.errors import SpecError

PARENT = """\
name: rul
source:
  url: duckdb:///fleet.duckdb
  query: SELECT * FROM readings
target: rul
task: regression
entity: engine
time: t
split: {holdout: 0.3, folds: 4}
features:
  exclude: [flight, failing]
prepare:
  scale: robust
  series: {columns: [egt, vib], windows: [10, 30], stats: [mean, slope], regime: level}
models: [{name: lightgbm}]
gates:
  quality: [{metric: rmse, max: 30}]
serve:
  port: 8100
  alerts: [{name: low, when: prediction < 30}]
  companions: {anomaly: detector.yaml}
"""

CHILD = """\
name: detector
extends: shipyard.yaml
task: anomaly
target: failing
features:
  exclude: [flight, rul]
prepare:
  series: {stats: [mean], keep_raw: false}
models: [{name: isolation_forest}]
"""


def _files(folder: Path, parent: str = PARENT, child: str = CHILD) -> Path:
    (folder / "fleet.duckdb").write_bytes(b"")
    (folder / "shipyard.yaml").write_text(parent)
    (folder / "detector.yaml").write_text(child)
    return folder / "detector.yaml"


def test_the_child_takes_the_data_sections_and_keeps_its_own_model(tmp_path: Path):
    child = spec.load(_files(tmp_path))
    parent = spec.load(tmp_path / "shipyard.yaml")
    assert child.name == "detector" and child.task == "anomaly" and child.target == "failing"
    assert child.source == parent.source
    assert (child.entity, child.time) == ("engine", "t")
    assert child.split == parent.split
    # inside a shared section, the child's keys win and the rest is the parent's
    assert child.prepare.scale == "robust"
    series = child.prepare.series
    assert series.stats == ["mean"] and series.keep_raw is False
    assert series.windows == [10, 30] and series.regime == "level"
    assert series.columns == ["egt", "vib"]
    assert child.features.exclude == ["flight", "rul"]  # a list replaces the parent's
    # what is about the parent's own model is not inherited
    assert [m.name for m in child.models] == ["isolation_forest"]
    assert child.gates.quality == [] and child.serve.alerts == []
    assert child.serve.companions == {} and child.serve.port == 8000


def test_a_run_records_the_merged_project_which_stands_alone(tmp_path: Path):
    child = spec.load(_files(tmp_path))
    assert "extends" not in child.text and "isolation_forest" in child.text
    assert "SELECT * FROM readings" in child.text
    again = spec.parse(child.text, file=tmp_path / "detector.yaml")
    assert again.model_dump() == child.model_dump()
    assert again.digest == child.digest


def test_the_parent_file_changing_changes_the_childs_digest(tmp_path: Path):
    before = spec.load(_files(tmp_path)).digest
    (tmp_path / "shipyard.yaml").write_text(PARENT.replace("folds: 4", "folds: 5"))
    after = spec.load(tmp_path / "detector.yaml")
    assert after.split.folds == 5 and after.digest != before


def test_environment_values_are_kept_as_written_in_the_record(tmp_path: Path):
    parent = PARENT.replace("duckdb:///fleet.duckdb", "${FLEET_URL:-duckdb:///fleet.duckdb}")
    child = spec.load(_files(tmp_path, parent=parent),
                      environ={"FLEET_URL": "duckdb:///fleet.duckdb"})
    assert child.source.url == "duckdb:///fleet.duckdb"
    assert "${FLEET_URL:-duckdb:///fleet.duckdb}" in child.text


@pytest.mark.parametrize("child, fragment", [
    (CHILD.replace("extends: shipyard.yaml", "extends: nowhere.yaml"),
     "extends: no project file at"),
    (CHILD.replace("extends: shipyard.yaml", "extends: [a, b]"),
     "extends: expected the path of another project file"),
    (CHILD.replace("extends: shipyard.yaml", "extends: detector.yaml"),
     "extend each other in a loop (detector.yaml -> detector.yaml)"),
    (CHILD.replace("task: anomaly", "task: anomalous"), "task:"),
    (CHILD.replace("keep_raw: false", "keep_raw: false, windowz: [3]"), "windowz"),
])
def test_mistakes_are_reported_against_the_file_that_has_them(tmp_path, child, fragment):
    with pytest.raises(SpecError) as caught:
        spec.load(_files(tmp_path, child=child))
    assert fragment in str(caught.value), str(caught.value)
    assert "detector.yaml" in str(caught.value)


def test_a_loop_through_two_files_is_refused(tmp_path: Path):
    parent = "extends: detector.yaml\n" + PARENT
    with pytest.raises(SpecError) as caught:
        spec.load(_files(tmp_path, parent=parent))
    assert "detector.yaml -> shipyard.yaml -> detector.yaml" in str(caught.value)


def test_broken_yaml_in_the_parent_names_the_parent(tmp_path: Path):
    with pytest.raises(SpecError) as caught:
        spec.load(_files(tmp_path, parent=PARENT + "serve: [\n"))
    message = str(caught.value)
    assert "shipyard.yaml" in message and "not valid YAML" in message
    assert "detector.yaml extends)" in message


@pytest.mark.parametrize("companions, fragment", [
    ("{prediction: detector.yaml}", "the companion key 'prediction' is a key of the answer"),
    ("{'two words': detector.yaml}", "is not a plain name"),
    ("{anomaly: missing.yaml}", "serve.companions.anomaly: no project file at"),
])
def test_companions_are_checked_when_the_file_is_read(tmp_path, companions, fragment):
    parent = PARENT.replace("companions: {anomaly: detector.yaml}", f"companions: {companions}")
    _files(tmp_path, parent=parent)
    with pytest.raises(SpecError) as caught:
        spec.load(tmp_path / "shipyard.yaml")
    assert fragment in str(caught.value), str(caught.value)
