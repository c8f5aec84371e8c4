"""Gates in real runs: a failed gate keeps the model out of the registry, an
override lets it in with its reason recorded, the data and privacy gates stop a
run before training, and fairness mitigation replaces a biased model."""

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from shipyard import gates, registry, spec
from shipyard.errors import DataError, GateFailed, RegistryError, SpecError
from shipyard.lifecycle import run_project

PROJECT = """\
name: loans
source:
  files: {{people: people.csv}}
  query: SELECT * FROM people ORDER BY row_no
target: approved
task: binary
positive_class: 1
split: {{holdout: 0.3, folds: 3}}
features:
  exclude: [row_no{exclude}]
models:
  - name: lightgbm
    params: {{n_estimators: 60, num_leaves: 8}}
{extra}
"""


def _people(n: int = 1600, seed: int = 0) -> pd.DataFrame:
    """Approval depends on income, and income on group: a model that never sees the
    group still approves one group far more often than the other."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b"], n)
    income = rng.normal(size=n) + np.where(group == "a", 1.0, -0.2)
    debt = rng.normal(size=n)
    approved = (income - 0.5 * debt + rng.normal(scale=0.5, size=n) > 0.4).astype(int)
    return pd.DataFrame({
        "row_no": np.arange(n), "group": group, "income": income.round(4),
        "debt": debt.round(4), "email": [f"person{i}@example.org" for i in range(n)],
        "approved": approved})


def _project(folder: Path, extra: str = "", exclude: str = ", group",
             rows: pd.DataFrame | None = None) -> spec.Project:
    folder.mkdir(exist_ok=True)
    (_people() if rows is None else rows).to_csv(folder / "people.csv", index=False)
    (folder / "shipyard.yaml").write_text(PROJECT.format(extra=extra, exclude=exclude))
    return spec.load(folder / "shipyard.yaml")


FAIR = """\
gates:
  fairness:
    sensitive: [group]
    checks:
      - {metric: demographic_parity_difference, max: 0.1}
"""


def _version_tags(outcome) -> dict:
    client = mlflow.MlflowClient(outcome.workspace.tracking_uri)
    return client.get_model_version("loans", outcome.version).tags


def test_a_biased_model_is_blocked_then_mitigation_passes(tmp_path: Path):
    blocked = run_project(_project(tmp_path / "plain", FAIR))
    fair = [g for g in blocked.gates if g.gate == "fairness"]
    assert len(fair) == 1 and not fair[0].passed and fair[0].actual > 0.2
    assert blocked.version is None and not blocked.passed
    assert "group" in fair[0].details
    with pytest.raises(RegistryError, match="No .champion. model"):
        registry.load(blocked.workspace, "loans")

    mitigated = run_project(_project(tmp_path / "fair", FAIR + "    mitigation: "
                                     "{method: exponentiated_gradient, max_iter: 20}\n"))
    fair = [g for g in mitigated.gates if g.gate == "fairness"]
    assert fair[0].passed and fair[0].actual <= 0.1, fair[0].details
    assert mitigated.version == "1"
    f = mitigated.fairness
    assert f.before.summary["demographic_parity_difference"] > 0.2
    assert f.cost["accuracy"][0] != f.cost["accuracy"][1]  # the cost is measured, not assumed
    page = mitigated.report.read_text()
    assert ">Fairness<" in page and "Mitigation: exponentiated gradient" in page
    served = registry.load(mitigated.workspace, "loans")
    assert "exponentiated_gradient" in served.card.estimator
    X = served.card.schema.model_frame(_people().head(50))
    assert np.array_equal(served.pipeline.predict(X), f.model.predict(X))
    assert _version_tags(mitigated)["shipyard.gates"] == "passed"
    logged = mlflow.MlflowClient(mitigated.workspace.tracking_uri).download_artifacts(
        mitigated.run_id, "fairness.json", str(tmp_path))
    assert json.loads(Path(logged).read_text())["after"]["summary"][
        "demographic_parity_difference"] <= 0.1


def test_an_override_registers_with_its_reason(tmp_path: Path):
    project = _project(tmp_path, FAIR)
    given = gates.overrides(["fairness"], "pilot limited to group b, agreed with legal",
                            by="ana")
    outcome = run_project(project, overrides=given)
    assert outcome.version == "1" and outcome.passed
    fair = [g for g in outcome.gates if g.gate == "fairness"][0]
    assert not fair.passed and fair.overridden.startswith("pilot limited")
    tags = _version_tags(outcome)
    assert tags["shipyard.gates"] == "overridden"
    record = json.loads(tags["shipyard.overrides"])
    assert record[0]["check"] == "fairness.demographic_parity_difference"
    assert record[0]["by"] == "ana" and record[0]["reason"].startswith("pilot")
    shown = registry.versions(outcome.workspace, "loans")[0]
    assert shown["gates"] == "overridden" and shown["overrides"][0]["by"] == "ana"


def test_a_sensitive_column_the_query_lacks_is_named(tmp_path: Path):
    project = _project(tmp_path, FAIR.replace("[group]", "[gender]"))
    with pytest.raises(DataError, match="does not return 1 column") as info:
        run_project(project)
    assert any("gates.fairness.sensitive[0]: 'gender'" in d for d in info.value.details)
    assert list((tmp_path / ".shipyard" / "snapshots").iterdir()) == []


def test_an_override_of_an_undeclared_gate_changes_nothing(tmp_path: Path):
    project = _project(tmp_path)
    with pytest.raises(SpecError, match="declares no fairness gate"):
        run_project(project, overrides=gates.overrides(["fairness"], "because"))
    assert not (tmp_path / ".shipyard").exists()


def test_personal_data_is_refused_as_a_feature_and_kept_out_of_the_log(tmp_path: Path):
    outcome = run_project(_project(tmp_path))
    assert "email" not in outcome.card.schema.names
    assert "email" in outcome.card.private
    privacy = {g.key: g for g in outcome.gates if g.gate == "privacy"}
    assert any(k.startswith("privacy.email") and g.passed for k, g in privacy.items())
    assert registry.load(outcome.workspace, "loans").card.private == outcome.card.private


def test_personal_data_asked_for_by_name_stops_the_run_before_training(tmp_path: Path):
    extra = "features:\n  include: [income, debt, email]\n"
    project = _project(tmp_path, exclude="")
    text = (tmp_path / "shipyard.yaml").read_text().replace(
        "features:\n  exclude: [row_no]\n", extra)
    (tmp_path / "shipyard.yaml").write_text(text)
    project = spec.load(tmp_path / "shipyard.yaml")
    with pytest.raises(GateFailed, match="nothing was trained") as info:
        run_project(project)
    assert any("email" in line for line in info.value.details)
    assert list((tmp_path / ".shipyard" / "snapshots").iterdir()) == []
    allowed = text + "gates:\n  privacy:\n    allow: {email: 'the address domain is the " \
                     "signal; approved by the privacy office'}\n"
    (tmp_path / "shipyard.yaml").write_text(allowed)
    outcome = run_project(spec.load(tmp_path / "shipyard.yaml"))
    assert "email" in outcome.card.schema.names and "email" not in outcome.card.private


def test_the_data_gate_names_the_rows_that_fail(tmp_path: Path):
    rows = _people()
    rows.loc[[7, 99], "income"] = 1e6
    project = _project(tmp_path, "gates:\n  data:\n    min_rows: 100\n    columns:\n"
                                 "      income: {type: number, min: -10, max: 10}\n", rows=rows)
    with pytest.raises(GateFailed) as info:
        run_project(project)
    text = "\n".join(info.value.details)
    assert "income" in text and "7" in text and "99" in text
    assert list((tmp_path / ".shipyard" / "snapshots").iterdir()) == []
    outcome = run_project(project, overrides=gates.overrides(
        ["data.income.range"], "two test records, known and harmless"))
    assert outcome.version == "1"
