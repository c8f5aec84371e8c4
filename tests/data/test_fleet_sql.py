"""The demo fleet in a real PostgreSQL (the session's throwaway cluster): loaded
with COPY with the right types, replaced and appended all or nothing, and the
demo's project file gives the same rows there as on DuckDB."""

from __future__ import annotations

import re
from importlib import resources

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from shipyard import data, spec
from shipyard.data import fleet, fleet_sql
from shipyard.errors import SourceError
from shipyard.prepare.series import SeriesFeatures
from tests.pg import PASSWORD, USER

SMALL = {"aircraft": 12, "seed": 7, "days": 60}
PG_TYPES = {"BIGINT": "bigint", "INTEGER": "integer", "SMALLINT": "smallint",
            "DOUBLE": "double precision", "VARCHAR": "text", "DATE": "date",
            "TIMESTAMP": "timestamp without time zone"}


@pytest.fixture(scope="module")
def parts():
    return fleet.simulate_new_days(**SMALL, new_days=14)


@pytest.fixture
def engine(postgres):
    engine = fleet_sql.connect(postgres.url(postgres.create_database()))
    yield engine
    engine.dispose()


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {name: conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one()
                for name in fleet.TYPES}


def _project_file(tmp_path, url: str):
    """The demo's project file with its source at ``url``, beside its anomaly detector's."""
    text = (resources.files("shipyard.data") / "fleet.yaml").read_text()
    path = tmp_path / f"p{abs(hash(url))}.yaml"
    path.write_text(text.replace("url: duckdb:///data/fleet.duckdb", f"url: '{url}'"))
    (tmp_path / "anomaly.yaml").write_text(  # the file serve.companions names
        (resources.files("shipyard.data") / "fleet_anomaly.yaml").read_text())
    return path


def _rows(tmp_path, url: str) -> pd.DataFrame:
    """The demo project's query on ``url``, as a run reads it."""
    return data.to_frame(data.extract(spec.load(_project_file(tmp_path, url))))


def test_the_fleet_loads_with_its_types_keys_and_exact_values(parts, engine):
    history, _ = parts
    steps = []
    fleet_sql.write(history, engine, progress=lambda *a: steps.append(a))
    assert _counts(engine) == {name: len(frame) for name, frame in history.items()}
    total = sum(len(frame) for frame in history.values())
    assert steps[0] == (fleet_sql.STEP, 0, total) and steps[-1] == (fleet_sql.STEP, total, total)
    with engine.connect() as conn:
        for name, types in fleet.TYPES.items():
            found = dict(conn.execute(sa.text(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = :t ORDER BY ordinal_position"), {"t": name}).all())
            assert found == {c: PG_TYPES[t] for c, t in types.items()}, name
            keys = conn.execute(sa.text(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = CAST(:t AS regclass) "
                "AND i.indisprimary"), {"t": name}).scalars().all()
            assert sorted(keys) == sorted(fleet.KEYS[name]), name
        readings = pd.read_sql("SELECT * FROM engine_readings ORDER BY flight_id, engine_id",
                               conn)
        planes = pd.read_sql("SELECT * FROM aircraft ORDER BY aircraft_id", conn)
    expected = history["engine_readings"].sort_values(["flight_id", "engine_id"],
                                                      ignore_index=True)
    # every float as written (NaN as NULL), not rounded on the way through CSV
    pd.testing.assert_frame_equal(readings, expected, check_exact=True, check_dtype=False)
    assert readings["vibration_ips"].isna().sum() > 0
    assert planes["tail_number"].tolist() == history["aircraft"]["tail_number"].tolist()
    assert (pd.to_datetime(planes["entered_service"]) == history["aircraft"]["entered_service"]
            ).all()


def test_writing_replaces_the_tables_whole_or_not_at_all(parts, engine):
    history, _ = parts
    fleet_sql.write(history, engine)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE predictions (x int)"))
    smaller = fleet.simulate(aircraft=2, seed=1, days=3)
    fleet_sql.write(smaller, engine, drop=["predictions"])
    assert _counts(engine) == {name: len(frame) for name, frame in smaller.items()}
    assert not sa.inspect(engine).has_table("predictions")
    # The last table fails to convert, after the others were loaded: none is kept.
    broken = {**history, "removals": history["removals"].assign(cycles_since_new="many")}
    with pytest.raises(Exception, match="invalid input syntax for type integer"):
        fleet_sql.write(broken, engine)
    assert _counts(engine) == {name: len(frame) for name, frame in smaller.items()}
    with pytest.raises(ValueError, match="unknown fleet tables: pilots"):
        fleet_sql.write({"pilots": history["aircraft"]}, engine)


def test_appending_adds_the_new_days_once(parts, engine):
    history, new = parts
    fleet_sql.write(history, engine)
    added = fleet_sql.append(new, engine)
    whole = {name: len(history[name]) + len(new[name]) for name in history}
    assert added == {name: len(frame) for name, frame in new.items()}
    assert _counts(engine) == whole
    # the same rows again: every key is taken, nothing is added to any table
    with pytest.raises(ValueError, match="already has a row with the key"):
        fleet_sql.append(new, engine)
    only_removals = {"removals": new["removals"]}
    with pytest.raises(ValueError, match="table removals already has a row"):
        fleet_sql.append(only_removals, engine)
    assert _counts(engine) == whole


def test_the_project_query_gives_the_same_rows_on_duckdb_and_postgresql(parts, engine,
                                                                         tmp_path):
    history, new = parts
    whole = {name: pd.concat([history[name], new[name]], ignore_index=True) for name in history}
    fleet.write_duckdb(whole, tmp_path / "data" / "fleet.duckdb")
    fleet_sql.write(history, engine)
    fleet_sql.append(new, engine)
    on_duckdb = _rows(tmp_path, "duckdb:///data/fleet.duckdb")
    on_postgres = _rows(tmp_path, engine.url.render_as_string(hide_password=False))
    assert len(on_duckdb) == len(whole["engine_readings"])
    assert list(on_postgres.columns) == list(on_duckdb.columns)
    assert on_postgres.dtypes.to_dict() == on_duckdb.dtypes.to_dict()
    assert on_duckdb["vibration_ips"].dtype == np.float64
    assert on_duckdb["cycles_since_new"].dtype == on_duckdb["flight_level"].dtype == np.int32
    pd.testing.assert_frame_equal(on_postgres, on_duckdb, check_exact=False, rtol=1e-9,
                                  atol=1e-9)
    assert on_duckdb["rul"].notna().sum() > 1000


def test_the_project_smooths_turbulence_spikes_itself_not_in_sql(parts, tmp_path):
    history, _ = parts
    fleet.write_duckdb(history, tmp_path / "data" / "fleet.duckdb")
    rows = _rows(tmp_path, "duckdb:///data/fleet.duckdb")
    project = spec.load(_project_file(tmp_path, "duckdb:///data/fleet.duckdb"))
    # Raw readings only: no window over an engine's history is written in the SQL.
    assert " over" not in project.source.query.lower()
    settings = project.prepare.series
    assert settings.smooth.method == "median" and settings.smooth.columns == ["vibration_ips"]
    smoother = SeriesFeatures("engine_id", "departure", columns=["vibration_ips"],
                              smooth={"method": "median", "window": settings.smooth.window},
                              windows=(10,), stats=("mean",), elapsed=False)
    smooth = smoother.fit_transform(rows)["vibration_ips_smooth"]
    raw = smoother.transform(rows)["vibration_ips"]
    # A turbulence spike stands far above the engine's smoothed vibration, which
    # it barely moves: the median of five flights ignores one wild one.
    spikes = raw > smooth + 3 * raw.std()
    assert spikes.sum() > 10
    before = smooth.groupby(rows["engine_id"]).shift(1)
    assert ((smooth - before)[spikes].abs().median()) < 0.1 * (raw - before)[spikes].median()


@pytest.mark.parametrize(("url", "message", "hint"), [
    (f"postgresql+psycopg://{USER}:wrong@127.0.0.1:{{port}}/{USER}", "Cannot connect",
     "user name and password"),
    (f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{{port}}/nowhere", "Cannot connect",
     "the database must exist already"),
    (f"postgresql://{USER}:{PASSWORD}@127.0.0.1:1/{USER}", "Cannot connect", "host and port"),
    ("sqlite:///fleet.db", "PostgreSQL only, not sqlite", "postgresql+psycopg://"),
    ("postgresql+psycopg2://u@h/db", "PostgreSQL only, not postgresql+psycopg2", None),
    ("not a url", "Cannot parse the database URL", None),
])
def test_a_bad_database_is_a_clear_error(postgres, url, message, hint):
    with pytest.raises(SourceError, match=re.escape(message)) as info:
        fleet_sql.connect(url.replace("{port}", str(postgres.port)))
    assert "wrong" not in info.value.render() and PASSWORD not in info.value.render()
    if hint:
        assert hint in info.value.hint
