"""Ground truth from SQL: an outcomes query on a real DuckDB file, joined to
logged predictions on the entity, labels them once and reports clashes."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from shipyard.card import ModelCard
from shipyard.errors import SourceError
from shipyard.monitor import outcomes
from shipyard.monitor.outcomes import OutcomesError
from shipyard.monitor.store import LogStore
from shipyard.schema import Column, Schema
from tests.helpers import project

DAY = 86400.0
T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
LABEL = ("CASE WHEN o.removed_at IS NULL THEN NULL "
         "WHEN o.removed_at <= to_timestamp(p.ts) + INTERVAL 30 DAY THEN 'Yes' ELSE 'No' END")
CARD = ModelCard(name="t", task="binary", target="removed", entity="eid",
                 schema=Schema((Column("a", "number"),)), classes=("No", "Yes"))


def source(folder: Path) -> str:
    """Removals: engine 1 within 30 days, 2 after 40, 3 not yet (NULL), 4 twice."""
    path = folder / "fleet.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE removals (eid BIGINT, removed_at TIMESTAMP)")
        con.execute("INSERT INTO removals VALUES (1, TIMESTAMP '2026-01-11'), "
                    "(2, TIMESTAMP '2026-02-10'), (3, NULL), (4, TIMESTAMP '2026-01-05'), "
                    "(4, TIMESTAMP '2026-06-01')")
    return f"duckdb:///{path}"


def configured(folder: Path, query: str = "SELECT eid, removed_at FROM removals",
               on: str = "[eid]", label: str = LABEL):
    extra = (f"monitor:\n  outcomes:\n    query: \"{query}\"\n    on: {on}\n"
             f"    label: \"{label}\"\n")
    return project(task="binary", target="removed", url=source(folder), extra=extra)


@pytest.fixture
def store(tmp_path: Path):
    with LogStore(f"sqlite:///{tmp_path / 'p.db'}") as s:
        s.write_predictions([
            {"request_id": f"r{eid}", "ts": T0, "model_version": "1",
             "features": {"a": 0.5, "eid": eid}, "prediction": "No", "score": 0.2,
             "latency_ms": 1.0} for eid in (1, 2, 3, 4, 5)])
        yield s


def labels_of(store: LogStore) -> dict:
    got = store.predictions(features=False)
    return {rid: label for rid, label, at in zip(got["request_id"], got["label"],
                                                  got["labelled_at"], strict=True) if at == at}


def test_outcomes_label_matched_predictions_once(tmp_path, store):
    p = configured(tmp_path)
    joined = outcomes.join(p, store, card=CARD)
    assert joined.outcomes == 5 and joined.matched == 4  # engine 5 has no outcome row
    assert joined.labelled == 2 and joined.unresolved == 1  # engine 3: not removed yet
    assert joined.ambiguous == ["r4"] and joined.conflicts == []
    assert labels_of(store) == {"r1": "Yes", "r2": "No"}
    with store.engine.connect() as conn:
        assert set(conn.execute(sa.text("SELECT source FROM feedback")).scalars()) == \
            {"outcomes"}
    again = outcomes.join(p, store, card=CARD)
    assert (again.labelled, again.unchanged) == (0, 2)  # idempotent
    assert labels_of(store) == {"r1": "Yes", "r2": "No"}


def test_a_pass_joins_only_the_latest_predictions(tmp_path, store):
    store.write_predictions([{"request_id": "late1", "ts": T0 + DAY, "model_version": "1",
                              "features": {"a": 0.1, "eid": 1}, "prediction": "No",
                              "score": 0.1, "latency_ms": 1.0}])
    joined = outcomes.join(configured(tmp_path), store, card=CARD, last=1)
    assert (joined.matched, joined.labelled) == (1, 1)
    assert labels_of(store) == {"late1": "Yes"}  # r1 (older, same engine) waits


def test_a_prediction_labelled_otherwise_keeps_its_label(tmp_path, store):
    store.add_feedback([("r1", "No")])  # the API said otherwise first
    joined = outcomes.join(configured(tmp_path), store, card=CARD)
    assert joined.conflicts == [{"request_id": "r1", "label": "No", "sent": "Yes"}]
    assert joined.labelled == 1 and labels_of(store) == {"r1": "No", "r2": "No"}


def test_an_empty_log_has_nothing_to_label(tmp_path):
    with LogStore(f"sqlite:///{tmp_path / 'empty.db'}") as empty:
        joined = outcomes.join(configured(tmp_path), empty, card=CARD)
    assert (joined.outcomes, joined.matched, joined.labelled) == (5, 0, 0)


@pytest.mark.parametrize(("changes", "error", "message"), [
    ({"query": "SELECT eid, removed_at FROM nowhere"}, SourceError, "nowhere"),
    ({"query": "SELECT removed_at FROM removals"}, OutcomesError,
     "names 'eid', which the outcomes query does not return"),
    ({"query": "SELECT 1 AS b, removed_at FROM removals", "on": "[b]"}, OutcomesError,
     "names 'b', which the logged predictions do not have"),
    ({"label": "o.removed_at + 'x'"}, OutcomesError, "label expression failed"),
    ({"label": "'maybe'"}, OutcomesError, "label(s) that do not fit the model"),
])
def test_a_broken_outcomes_setting_says_what_is_wrong(tmp_path, store, changes, error, message):
    with pytest.raises(error, match=re.escape(message)):
        outcomes.join(configured(tmp_path, **changes), store, card=CARD)
    assert labels_of(store) == {}  # nothing stored


def test_without_outcomes_settings_the_join_is_refused(store):
    with pytest.raises(OutcomesError, match="no monitor.outcomes"):
        outcomes.join(project(), store)
