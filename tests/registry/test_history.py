"""Reading runs back: the list of runs and a version's lineage, on a real MLflow
store, from runs recorded the way the life cycle records them."""

import pyarrow as pa
import pytest

from shipyard import registry
from shipyard.data.snapshot import save
from shipyard.errors import RegistryError
from shipyard.registry import history
from tests.helpers import frame

PASS = {"gate": "quality", "metric": "rmse", "actual": 0.3, "op": "<=", "threshold": 0.5,
        "passed": True, "details": "", "blocking": True, "reference": "absolute",
        "overridden": None, "name": "quality: rmse <= 0.5", "key": "quality.rmse"}
FAIL = PASS | {"metric": "sex.demographic_parity_difference", "gate": "fairness",
               "actual": 0.2, "threshold": 0.1, "passed": False, "details": "too far apart",
               "key": "fairness.sex.demographic_parity_difference"}


@pytest.fixture
def record(ws, fitted):
    """Record a run as `shipyard run` would (tags, metrics, gates, a nested candidate
    run, the model), and register it when ``register``."""
    pipe, card, ds = fitted

    def record(kind="run", gates=(PASS,), rmse=0.3, register=True, promote=True,
               tags=None) -> tuple[str, str | None]:
        with registry.open_run(ws, "t") as run:
            run.set_tags({"shipyard.kind": kind, "shipyard.project": "t",
                          "shipyard.project_digest": "ab" * 32, "shipyard.seed": "0",
                          "shipyard.versions.scikit-learn": "1.0", "shipyard.git.commit": "c0ffee",
                          "shipyard.git.dirty": "true", **(tags or {})})
            run.log_params({"model": "linear", "model.alpha": 1.0, "rows.train": 450,
                            "rows.holdout": 150, "task": "regression", "target": "y"})
            run.log_metrics({"holdout_rmse": rmse, "cv_rmse_mean": rmse + 0.01})
            run.log_json("gates.json", list(gates))
            run.log_json("model.json", {"name": "linear", "params": {"alpha": 1.0}})
            run.log_child("linear", {"alpha": 1.0}, {"cv_rmse_mean": rmse})
            run.log_model(pipe, card, ds.X.head(3), registry.requirements())
            version = registry.register(ws, "t", run, promote=promote) if register else None
            run.set_tags({"shipyard.registered_version": version or "none"})
        return run.id, version

    return record


def test_runs_lists_the_life_cycle_runs_newest_first(ws, record):
    first, _ = record()
    failed, _ = record(gates=(PASS, FAIL), rmse=0.4, register=False)
    forced, _ = record(gates=(PASS, FAIL | {"overridden": "audited by legal"}))
    again, _ = record(kind="reproduce", register=False,
                      tags={"shipyard.reproduces": first, "shipyard.reproduced": "matched"})

    found = history.runs(ws, "t", metric="rmse")
    assert [r["run_id"] for r in found] == [again, forced, failed, first]  # no nested runs
    by_id = {r["run_id"]: r for r in found}
    assert by_id[first]["kind"] == "run" and by_id[first]["version"] == "1"
    assert by_id[first]["metric"] == pytest.approx(0.3) and by_id[first]["model"] == "linear"
    assert by_id[first]["gates"] == {"passed": 1, "failed": 0, "overridden": 0}
    assert by_id[failed]["gates"] == {"passed": 1, "failed": 1, "overridden": 0}
    assert by_id[failed]["version"] is None
    assert by_id[forced]["gates"] == {"passed": 1, "failed": 0, "overridden": 1}
    assert by_id[again]["reproduces"] == first and by_id[again]["reproduced"] == "matched"
    assert [r["run_id"] for r in history.runs(ws, "t", limit=2)] == [again, forced]
    assert history.runs(ws, "no-such-experiment") == []


def test_lineage_says_where_a_version_came_from(ws, record):
    snap = save(pa.Table.from_pandas(frame(20), preserve_index=False),
                ws.snapshots, {"kind": "files", "files": {"rows": "rows.csv"},
                               "query": "SELECT * FROM rows"})
    first, _ = record(tags={"shipyard.snapshot": snap.digest,
                            "shipyard.snapshot.remote": f"file:///srv/{snap.digest}"})
    challenger, version = record(kind="challenger", promote=False,
                                 tags={"shipyard.parent": "1", "shipyard.parent_run": first})
    registry.promote(ws, "t", version, reason="better on the last week", by="ann")
    registry.rollback(ws, "t", reason="alerts on engine 3", by="bob")

    got = history.lineage(ws, "t", "2")
    assert got["run"]["run_id"] == challenger and got["run"]["kind"] == "challenger"
    assert got["run"]["metrics"] == {"rmse": pytest.approx(0.3)}
    assert got["parent"] == {"version": "1", "run_id": first}
    assert got["promotion"]["promotion"]["by"] == "ann"
    assert got["promotion"]["promotion"]["reason"] == "better on the last week"
    assert got["promotion"]["rollback"]["reason"] == "alerts on engine 3"
    assert got["parameters"] == {"model": "linear", "params": {"alpha": 1.0}, "seed": "0",
                                 "task": "regression", "target": "y"}
    assert got["code"]["git_commit"] == "c0ffee" and got["code"]["git_dirty"] is True
    assert got["code"]["versions"] == {"scikit-learn": "1.0"}
    assert [g["key"] for g in got["gates"]] == ["quality.rmse"]

    one = history.lineage(ws, "t", "1")
    assert one["data"]["snapshot"] == snap.digest and one["data"]["rows"] == 20
    assert one["data"]["source"]["files"] == {"rows": "rows.csv"}
    assert one["data"]["remote"] == f"file:///srv/{snap.digest}"
    assert one["data"]["rows_train"] == 450 and one["data"]["local"] is True
    assert one["aliases"] == ["champion"] and one["parent"] is None
    assert got["data"]["snapshot"] is None and got["data"]["rows"] is None


def test_lineage_of_an_alias_or_an_unknown_version(ws, record):
    with pytest.raises(RegistryError, match="nothing has run in"):
        history.lineage(ws, "t", "1")
    assert not (ws.root / "mlflow.db").exists()  # reading made no store
    run_id, _ = record()
    assert history.lineage(ws, "t", "champion")["run"]["run_id"] == run_id
    with pytest.raises(RegistryError, match="No version 7 of 't'"):
        history.lineage(ws, "t", "7")
    with pytest.raises(RegistryError, match="'t' has no challenger"):
        history.lineage(ws, "t", "challenger")


def test_find_run_takes_a_prefix_and_names_an_unknown_id(ws, record):
    run_id, _ = record(register=False)
    assert history.find_run(ws, run_id[:10], "t").info.run_id == run_id
    with pytest.raises(RegistryError, match="No run 'deadbeef00'") as caught:
        history.find_run(ws, "deadbeef00", "t")
    assert "shipyard runs" in caught.value.hint
