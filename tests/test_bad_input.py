"""Bad input gets a clear error and changes nothing: a project with a champion
meets each mistake in turn, and afterwards its registry, snapshots and reports
are exactly as they were."""

from pathlib import Path

import pytest

from shipyard import registry, spec
from shipyard.errors import DataError, SourceError, SpecError
from shipyard.lifecycle import run_project
from tests.test_lifecycle import _project

QUERY = "SELECT * FROM rows ORDER BY eid, t"

CASES = [
    # (name, (old, new) edit of the project file, error type, message fragment)
    ("typo'd key", ("target: y", "target: y\ntraget: y"), SpecError,
     "traget: unknown key (did you mean 'target'?)"),
    ("wrong type", ("folds: 3", "folds: three"), SpecError,
     "split.folds: expected an integer, got 'three'"),
    ("unknown model", ("- name: linear", "- name: linaer"), SpecError,
     "models[0].name: unknown model 'linaer' (did you mean 'linear'?)"),
    ("target not returned", (QUERY, "SELECT * EXCLUDE (y) FROM rows"), DataError,
     "target: 'y' is not in the result"),
    ("SQL syntax error", (QUERY, "SELEC * FROM rows"), SourceError,
     'syntax error at or near "SELEC"'),
    ("unreachable database", ("files: {rows: rows.csv}",
                              "url: postgresql+psycopg://shipyard@127.0.0.1:9/fleet"),
     SourceError, "Cannot connect to postgresql+psycopg://shipyard@127.0.0.1:9/fleet"),
    ("empty result", (QUERY, "SELECT * FROM rows WHERE a > 1000"), DataError,
     "The query returned no rows"),
    ("single-class target", (QUERY, "SELECT *, 'yes' AS one FROM rows"), DataError,
     "The target 'one' has a single class ('yes')"),
    ("SMOTE on a regression", ("models:", "prepare: {imbalance: {method: smote}}\nmodels:"),
     SpecError, "prepare.imbalance.method: 'smote' balances classes; a regression task has none"),
    ("window features without entity", ("entity: eid\ntime: t\n", "prepare: {series: {}}\n"),
     SpecError, "prepare.series: window features follow each entity through time"),
    ("invalid search range", ("- name: linear", "- name: linear\n    search: {alpha: "
                                                "{low: 5, high: 1}}"),
     SpecError, "models[0].search.alpha: expected low < high, got low=5, high=1"),
    ("unknown model path", ("- name: linear", "- name: mypackage.models.Nope"), SpecError,
     "models[0].name: cannot import 'mypackage.models.Nope'"),
    ("imputation that does not fit the column",
     ("models:", "prepare: {impute: {columns: {b: median}}}\nmodels:"), DataError,
     "prepare.impute.columns.b: 'b' is a text column"),
]


def _state(folder: Path) -> dict:
    ws = folder / ".shipyard"
    return {
        "champion": registry.champion_version(project_ws(folder), "small"),
        "snapshots": sorted(p.name for p in (ws / "snapshots").iterdir()),
        "reports": sorted(p.name for p in (ws / "reports").iterdir()),
    }


def project_ws(folder: Path):
    from shipyard.workspace import Workspace

    return Workspace.of(spec.load(folder / "shipyard.yaml"))


@pytest.fixture(scope="module")
def champion_project(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad-input")
    run_project(_project(folder))
    return folder


@pytest.mark.parametrize("name, edit, error, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_reported_and_changes_nothing(champion_project: Path, name, edit, error,
                                                   message):
    path = champion_project / "shipyard.yaml"
    good = path.read_text()
    before = _state(champion_project)
    text = good.replace(*edit)
    if name == "single-class target":
        text = text.replace("target: y", "target: one").replace("task: regression",
                                                                "task: binary")
        text = text.replace("{metric: r2, min: 0.5}", "{metric: roc_auc, min: 0.5}")
    assert text != good
    try:
        path.write_text(text)
        with pytest.raises(error) as caught:
            run_project(spec.load(path))
        assert message in str(caught.value)
    finally:
        path.write_text(good)
    assert _state(champion_project) == before
