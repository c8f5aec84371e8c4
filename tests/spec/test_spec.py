"""The project file: good files load, and every mistake is reported with its
file, line, key path, what was expected and what was found."""

from pathlib import Path

import pytest

from shipyard import spec
from shipyard.errors import SpecError
from tests import helpers

GOOD = """\
name: fleet-rul
source:
  url: duckdb:///data/fleet.duckdb
  query: SELECT * FROM readings
target: rul
task: regression
entity: engine_id
models:
  - name: linear
  - name: random_forest
    params: {n_estimators: 50}
  - name: lightgbm
    search:
      num_leaves: {low: 8, high: 64}
      learning_rate: {low: 0.01, high: 0.3, log: true}
      boosting_type: [gbdt, dart]
gates:
  quality:
    - {metric: rmse, max: 40}
"""


def test_good_file_loads_with_defaults(tmp_path: Path):
    path = tmp_path / "shipyard.yaml"
    path.write_text(GOOD)
    project = spec.load(path)
    assert project.file == path.resolve()
    assert project.root == tmp_path.resolve()
    assert project.split_strategy == "group"  # an entity makes grouped splits the default
    assert project.primary_metric == "rmse"
    assert project.models[2].search["num_leaves"].is_int
    assert not project.models[2].search["learning_rate"].is_int
    assert project.models[2].search["boosting_type"] == ["gbdt", "dart"]
    assert len(project.digest) == 64


def test_digest_changes_with_content(tmp_path: Path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(GOOD)
    b.write_text(GOOD.replace("max: 40", "max: 41"))
    assert spec.load(a).digest != spec.load(b).digest


def test_yes_stays_text():
    # YAML 1.1 would read Yes as true; the project file follows YAML 1.2.
    text = GOOD.replace("task: regression", "task: binary\npositive_class: Yes").replace(
        "max: 40", "min: 0.5").replace("metric: rmse", "metric: roc_auc")
    assert spec.parse(text).positive_class == "Yes"


def _edit(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


BAD = [
    # (project text, expected line, expected message fragment)
    (_edit("target: rul", "target: rul\ntargett: x"), 6,
     "targett: unknown key (did you mean 'target'?)"),
    (_edit("task: regression", "task: regresion"), 6,
     "task: expected one of regression, binary, multiclass, anomaly, got 'regresion' "
     "(did you mean 'regression'?)"),
    (_edit("params: {n_estimators: 50}", "params: {max_depth: deep}"), 11,
     "models[1].params.max_depth: expected an int in the range [1, inf) or None, got 'deep'"),
    (_edit("params: {n_estimators: 50}", "params: {n_estimator: 50}"), 11,
     "models[1].params.n_estimator: unknown parameter for RandomForestRegressor "
     "(did you mean 'n_estimators'?)"),
    (_edit("- name: linear", "- name: lineer"), 9,
     "models[0].name: unknown model 'lineer' (did you mean 'linear'?)"),
    (_edit("- name: linear", "- name: no.such.Model"), 9, "cannot import 'no.such.Model'"),
    (_edit("num_leaves: {low: 8, high: 64}", "num_leaves: {low: 64, high: 8}"), 14,
     "models[2].search.num_leaves: expected low < high, got low=64, high=8"),
    (_edit("learning_rate: {low: 0.01, high: 0.3, log: true}",
           "learning_rate: {low: 0, high: 0.3, log: true}"), 15, "a log range needs low > 0"),
    (_edit("num_leaves:", "num_leafs:"), 14,
     "models[2].search.num_leafs: unknown parameter for LGBMRegressor "
     "(did you mean 'num_leaves'?)"),
    (_edit("{metric: rmse, max: 40}", "{metric: rsme, max: 40}"), 19,
     "gates.quality[0].metric: unknown metric 'rsme' (did you mean 'rmse'?)"),
    (_edit("{metric: rmse, max: 40}", "{metric: f1, max: 40}"), 19,
     "'f1' does not fit a regression task"),
    (_edit("{metric: rmse, max: 40}", "{metric: rmse}"), 19, "give 'min' and/or 'max'"),
    (_edit("entity: engine_id", "split: {strategy: group}"), 7,
     "split.strategy: 'group' keeps each entity on one side"),
    (_edit("entity: engine_id", "split: {strategy: stratified}"), 7,
     "'stratified' needs classes"),
    (_edit("entity: engine_id", "split: {holdout: 1.5}"), 7,
     "split.holdout: expected a number < 1.0, got 1.5"),
    (_edit("entity: engine_id", "split: {folds: five}"), 7,
     "split.folds: expected an integer, got 'five'"),
    (_edit("entity: engine_id", "serve: {port: 99999}"), 7,
     "serve.port: expected a number <= 65535, got 99999"),
    (_edit("  url: duckdb:///data/fleet.duckdb\n", ""), 2,
     "source: give exactly one of 'url' (a database) or 'files'"),
    (_edit("url: duckdb:///data/fleet.duckdb", "url: fleet.duckdb"), 3,
     "source.url: expected a URL"),
    (_edit("target: rul\n", ""), 1, "target: a regression task learns a target"),
    (_edit("models:\n", "models: 3\nx:\n"), 8, "models: expected a list, got 3"),
    (_edit("entity: engine_id", "entity: engine_id\nentity: x"), 8, "entity: key appears twice"),
    (_edit("entity: engine_id", "positive_class: 1"), 7,
     "only a binary task has a positive class"),
    (_edit("entity: engine_id", "features: {include: [rul]}"), 7,
     "the target 'rul' cannot be a feature"),
    ("name: [unclosed", 1, "not valid YAML"),
    ("- a\n- b\n", None, "expected a mapping of keys"),
]


@pytest.mark.parametrize("text, line, message", BAD)
def test_bad_file_is_reported_with_location(text: str, line: int | None, message: str):
    with pytest.raises(SpecError) as caught:
        spec.parse(text, name="proj.yaml")
    report = str(caught.value)
    assert message in report
    if line is not None:
        located = [d for d in caught.value.details or [caught.value.headline] if message in d]
        assert located and located[0].startswith(f"proj.yaml:{line}:"), report


def test_every_problem_is_reported_in_one_pass():
    text = _edit("task: regression", "task: regresion").replace("- name: linear", "- name: x")
    text = text.replace("target: rul", "target: rul\nmodle: 1")
    with pytest.raises(SpecError) as caught:
        spec.parse(text)
    assert len(caught.value.details) == 2  # the model name needs a valid task to be checked
    text = GOOD.replace("- name: linear", "- name: lineer").replace("folds", "x") + \
        "split: {holdout: 2}\n"
    with pytest.raises(SpecError) as caught:
        spec.parse(text)
    joined = "\n".join(caught.value.details)
    assert "split.holdout" in joined and "unknown model 'lineer'" in joined


def test_missing_file_says_what_to_do(tmp_path: Path):
    with pytest.raises(SpecError) as caught:
        spec.load(tmp_path / "nope.yaml")
    assert "No project file" in caught.value.headline and "shipyard init" in caught.value.hint


def test_source_files_must_exist(tmp_path: Path):
    (tmp_path / "a.csv").write_text("x,y\n1,2\n")
    text = GOOD.replace("  url: duckdb:///data/fleet.duckdb",
                        "  files: {a: a.csv, b: missing/*.parquet}")
    path = tmp_path / "shipyard.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        spec.load(path)
    assert len(caught.value.details) == 1
    assert "source.files.b: no file matches" in caught.value.details[0]


def test_environment_variables_expand(monkeypatch):
    monkeypatch.setenv("FLEET_DB", "/srv/fleet.duckdb")
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    text = GOOD.replace("duckdb:///data/fleet.duckdb", "duckdb:///${FLEET_DB}")
    assert spec.parse(text).source.url == "duckdb:////srv/fleet.duckdb"
    text = GOOD.replace("data/fleet.duckdb", "${NOT_SET_ANYWHERE:-data}/fleet.duckdb")
    assert spec.parse(text).source.url == "duckdb:///data/fleet.duckdb"
    text = GOOD.replace("data/fleet.duckdb", "${NOT_SET_ANYWHERE}/fleet.duckdb")
    with pytest.raises(SpecError) as caught:
        spec.parse(text, name="p.yaml")
    assert caught.value.details[0].startswith(
        "p.yaml:3: source.url: the environment variable NOT_SET_ANYWHERE is not set")


@pytest.mark.parametrize("name", ["logistic", "logistic_regression"])
def test_logistic_is_the_linear_classifier(name):
    binary = helpers.project(task="binary", target="label",
                             models=f"[{{name: {name}, search: auto}}]",
                             extra="positive_class: 'Yes'")
    assert [m.name for m in binary.models] == ["linear"]
    with pytest.raises(SpecError) as caught:
        helpers.project(task="regression", models=f"[{{name: {name}}}]")
    assert (f"models[0].name: '{name}' is the linear classifier (LogisticRegression), for "
            "binary and multiclass tasks; this task is regression: use 'linear' (Ridge)"
            ) in str(caught.value)
