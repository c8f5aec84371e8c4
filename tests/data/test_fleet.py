"""The demo fleet simulator: determinism, table shapes, integrity, physics, the
DuckDB file and the demo's project file."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from importlib import resources

import duckdb
import numpy as np
import pandas as pd
import pytest

from shipyard import spec
from shipyard.data import fleet

SMALL = {"aircraft": 12, "seed": 7, "days": 60}


@pytest.fixture(scope="module")
def tables():
    return fleet.simulate(**SMALL)


@pytest.fixture(scope="module")
def flown(tables):
    """Readings with their flight and engine alongside."""
    return (tables["engine_readings"]
            .merge(tables["flights"], on="flight_id", how="left", validate="many_to_one")
            .merge(tables["engines"], on="engine_id", how="left", suffixes=("", "_engine"),
                   validate="many_to_one"))


def test_same_seed_gives_same_tables_and_another_seed_does_not(tables):
    again = fleet.simulate(**SMALL)
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(frame, again[name])
    other = fleet.simulate(**{**SMALL, "seed": 8})
    assert not other["engine_readings"].equals(tables["engine_readings"])
    assert not other["aircraft"]["tail_number"].equals(tables["aircraft"]["tail_number"])


def test_tables_have_the_documented_columns_and_keys(tables):
    assert list(tables) == list(fleet.TYPES)
    for name, frame in tables.items():
        assert list(frame.columns) == list(fleet.TYPES[name]), name
    planes, engines, flights = tables["aircraft"], tables["engines"], tables["flights"]
    assert planes["aircraft_id"].tolist() == list(range(1, SMALL["aircraft"] + 1))
    assert planes["tail_number"].is_unique
    assert planes["tail_number"].str.fullmatch(r"N[1-9]\d\dS[A-Z]").all()
    assert (planes["entered_service"] < pd.Timestamp("2026-01-01")).all()
    assert engines["engine_id"].is_unique and engines["serial"].is_unique
    assert set(engines["position"]) == {1, 2}
    assert flights["flight_id"].is_unique
    assert flights["departure"].is_monotonic_increasing
    assert flights["flight_id"].is_monotonic_increasing
    assert (flights["departure"].dt.normalize() == flights["flight_date"]).all()
    assert (flights["origin"] != flights["destination"]).all()
    assert flights["block_hours"].between(0.5, 8).all()
    variant = engines.merge(planes, on="aircraft_id").groupby("model")["variant"].unique()
    assert {m: list(v) for m, v in variant.items()} == {
        m: [fleet.MODELS[m][0]] for m in variant.index}


def test_every_reading_belongs_to_an_engine_on_that_flights_aircraft(tables, flown):
    readings, removals = tables["engine_readings"], tables["removals"]
    assert flown["departure"].notna().all() and flown["serial"].notna().all()
    assert (flown["aircraft_id"] == flown["aircraft_id_engine"]).all()
    assert (flown["flight_date"] >= flown["installed_on"]).all()
    # Exactly one reading per engine position on every flight.
    per_flight = readings.merge(tables["engines"][["engine_id", "position"]], on="engine_id")
    positions = per_flight.groupby("flight_id")["position"].agg(sorted)
    assert len(positions) == len(tables["flights"])
    assert all(p == [1, 2] for p in positions)
    # No engine flies after its removal flight, and it was flying on that flight.
    last = flown.groupby("engine_id")["flight_id"].max()
    removed = removals.set_index("engine_id")
    assert (last.reindex(removed.index) == removed["flight_id"]).all()
    when = tables["flights"].set_index("flight_id")["flight_date"]
    assert (when[removed["flight_id"]].to_numpy() == removed["removed_on"].to_numpy()).all()


def test_each_position_always_has_exactly_one_engine(tables):
    engines, removals = tables["engines"], tables["removals"]
    out = removals.set_index("engine_id")
    for (_, _), slot in engines.sort_values("engine_id").groupby(["aircraft_id", "position"]):
        first, *replacements = slot.itertuples()
        assert first.installed_on == pd.Timestamp("2026-01-01") and first.cycles_at_install > 0
        chain = [first, *replacements]
        for old, new in zip(chain, replacements, strict=False):
            assert old.engine_id in out.index
            assert new.installed_on == out.loc[old.engine_id, "removed_on"]
            assert new.cycles_at_install == 0
        assert chain[-1].engine_id not in out.index  # the one in service now


def test_removal_cycles_count_the_flights_flown(tables):
    engines = tables["engines"].set_index("engine_id")
    flights = tables["engine_readings"].groupby("engine_id").size()
    removals = tables["removals"].set_index("engine_id")
    expected = engines.loc[removals.index, "cycles_at_install"] + flights[removals.index]
    assert (removals["cycles_since_new"] == expected).all()


def test_engines_fail_and_wear_shows_in_the_sensors(tables, flown):
    removals = tables["removals"]
    failed = removals.loc[removals["reason"] == "failure", "engine_id"]
    assert len(failed) >= 10
    assert set(removals["reason"]) <= {"failure", "scheduled"}
    at_failure = removals.loc[removals["reason"] == "failure", "cycles_since_new"]
    assert at_failure.between(120, 450).all()
    ordered = flown.sort_values(["engine_id", "flight_id"])
    end = ordered[ordered["engine_id"].isin(failed)].groupby("engine_id").tail(20)
    new = ordered[ordered["cycles_at_install"] == 0].groupby("engine_id").head(20)
    assert len(new) >= 200
    assert end["egt_c"].mean() > new["egt_c"].mean() + 20
    assert end["fuel_flow_kgh"].mean() > new["fuel_flow_kgh"].mean() + 25
    assert end["hpc_pressure_psi"].mean() < new["hpc_pressure_psi"].mean() - 5
    assert end["core_speed_pct"].mean() > new["core_speed_pct"].mean() + 0.5
    assert end["vibration_ips"].median() > new["vibration_ips"].median() + 0.2


def test_turbulence_spikes_hit_both_engines_of_a_flight(tables):
    readings = tables["engine_readings"].sort_values(["engine_id", "flight_id"])
    typical = (readings.groupby("engine_id")["vibration_ips"]
               .transform(lambda s: s.rolling(9, center=True, min_periods=1).median()))
    readings = readings.assign(jump=readings["vibration_ips"] - typical)
    spiking = readings.groupby("flight_id")["jump"].agg(lambda s: (s > 0.6).sum())
    hit = (spiking > 0).sum()
    assert 0.015 < hit / len(tables["flights"]) < 0.05
    assert (spiking == 2).sum() >= 0.8 * hit


def test_some_sensor_readings_are_missing(tables):
    readings = tables["engine_readings"]
    share = readings.isna().mean()
    assert set(share[share > 0].index) == {"vibration_ips", "hpc_pressure_psi", "oil_temp_c"}
    assert share.max() < 0.02


def test_the_default_fleet_is_demo_sized():
    tables = fleet.simulate()
    assert 90_000 <= len(tables["engine_readings"]) <= 200_000
    engines, removals = tables["engines"], tables["removals"]
    failed = removals.loc[removals["reason"] == "failure", "engine_id"]
    assert engines.loc[engines["engine_id"].isin(failed), "aircraft_id"].nunique() > 0.8 * 200
    assert len(engines) - len(removals) == 400
    assert 0.04 < (removals["reason"] == "scheduled").mean() < 0.16


def test_write_duckdb_round_trips_types_and_rows(tables, tmp_path):
    path = tmp_path / "nested" / "fleet.duckdb"
    fleet.write_duckdb(tables, path)
    with duckdb.connect(str(path), read_only=True) as con:
        for name, frame in tables.items():
            types = dict(con.execute(f"SELECT column_name, column_type FROM "
                                     f"(DESCRIBE {name})").fetchall())
            assert types == fleet.TYPES[name]
            assert con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] == len(frame)
        nulls = con.execute("SELECT count(*) FILTER (vibration_ips IS NULL) "
                            "FROM engine_readings").fetchone()[0]
        first = con.execute("SELECT tail_number, entered_service FROM aircraft "
                            "ORDER BY aircraft_id LIMIT 1").fetchone()
    assert nulls == tables["engine_readings"]["vibration_ips"].isna().sum() > 0
    assert first == (tables["aircraft"]["tail_number"][0],
                     tables["aircraft"]["entered_service"][0].date())
    assert [p.name for p in path.parent.iterdir()] == ["fleet.duckdb"]


def test_write_duckdb_replaces_whole_files_only(tables, tmp_path):
    path = tmp_path / "fleet.duckdb"
    fleet.write_duckdb(tables, path)
    smaller = fleet.simulate(aircraft=2, seed=1, days=3)
    fleet.write_duckdb(smaller, path)
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM flights").fetchone()[0] == len(smaller["flights"])
    # The last table fails to convert, after the others were written.
    broken = {**tables, "removals": tables["removals"].assign(cycles_since_new="many")}
    with pytest.raises(duckdb.Error):
        fleet.write_duckdb(broken, path)
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM flights").fetchone()[0] == len(smaller["flights"])
    assert [p.name for p in tmp_path.iterdir()] == ["fleet.duckdb"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"aircraft": 0}, "aircraft must be between 1 and"),
    ({"aircraft": 2.5}, "aircraft must be an integer"),
    ({"days": 0}, "days must be between 1 and"),
    ({"days": True}, "days must be an integer"),
    ({"start": "2026-01-01"}, "start must be a datetime.date"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fleet.simulate(**kwargs)


def test_write_duckdb_refuses_unknown_tables_and_missing_columns(tables, tmp_path):
    with pytest.raises(ValueError, match="unknown fleet tables: pilots"):
        fleet.write_duckdb({"pilots": tables["aircraft"]}, tmp_path / "x.duckdb")
    with pytest.raises(ValueError, match="table removals lacks columns: reason"):
        fleet.write_duckdb({"removals": tables["removals"].drop(columns="reason")},
                           tmp_path / "x.duckdb")
    assert not list(tmp_path.iterdir())


def test_a_later_start_moves_the_dates():
    later = fleet.simulate(aircraft=2, seed=0, days=2, start=date(2030, 6, 1))
    assert later["flights"]["flight_date"].min() == pd.Timestamp("2030-06-01")
    assert later["flights"]["departure"].min() >= pd.Timestamp("2030-06-01 06:00")
    assert (later["engines"]["installed_on"] == pd.Timestamp("2030-06-01")).all()
    same = fleet.simulate(aircraft=2, seed=0, days=2, start=datetime(2030, 6, 1, 13, 45))
    pd.testing.assert_frame_equal(same["flights"], later["flights"])


def test_a_large_fleet_keeps_tail_numbers_unique():
    planes = fleet.simulate(aircraft=950, days=1)["aircraft"]
    assert planes["tail_number"].is_unique
    assert planes["tail_number"].str.endswith("SY").sum() == 900


def test_the_demo_project_file_runs_against_the_fleet(tables, tmp_path):
    shutil.copy(resources.files("shipyard.data") / "fleet.yaml", tmp_path / "shipyard.yaml")
    shutil.copy(resources.files("shipyard.data") / "fleet_anomaly.yaml",
                tmp_path / "anomaly.yaml")  # its serve.companions
    project = spec.load(tmp_path / "shipyard.yaml")
    assert project.name == "fleet-rul"
    assert project.source.url == "duckdb:///data/fleet.duckdb"
    fleet.write_duckdb(tables, tmp_path / "data" / "fleet.duckdb")
    with duckdb.connect(str(project.resolve("data/fleet.duckdb")), read_only=True) as con:
        rows = con.execute(project.source.query).df()
    named = [project.target, project.entity, project.time, *project.features.exclude]
    assert set(named) <= set(rows.columns)
    assert len(rows) == len(tables["engine_readings"])
    assert rows["engine_id"].is_monotonic_increasing
    assert rows.groupby("engine_id")["flight_id"].is_monotonic_increasing.all()

    removals = tables["removals"].set_index("engine_id")
    failed = removals.index[removals["reason"] == "failure"]
    labelled = rows["rul"].notna()
    assert (labelled == rows["engine_id"].isin(failed)).all()
    rul = rows.loc[labelled, "rul"]
    assert rul.between(0, 125).all() and (rul == 125).any() and (rul < 125).any()
    ends = rows[labelled].groupby("engine_id").tail(1).set_index("engine_id")
    assert (ends["rul"] == 0).all()
    assert (ends["cycles_since_new"] == removals.loc[ends.index, "cycles_since_new"]).all()
    expected = np.minimum(removals.loc[rows.loc[labelled, "engine_id"], "cycles_since_new"]
                          .to_numpy() - rows.loc[labelled, "cycles_since_new"].to_numpy(), 125)
    assert (rul.to_numpy() == expected).all()

    # Each reading carries its engine's cycle counter, one cycle per flight.
    steps = rows.groupby("engine_id")["cycles_since_new"].diff().dropna()
    assert (steps == 1).all()
