"""The demo fleet's new days: they continue the first days (same engines, ids and
dates that follow on), the fleet change is in them and not before, and appending
them to the DuckDB file is all or nothing."""

from __future__ import annotations

from datetime import date
from importlib import resources

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from shipyard.data import fleet
from shipyard.data.fleet_change import ACQUIRED_MODEL, ACQUIRED_VARIANT

SMALL = {"aircraft": 20, "seed": 3, "days": 60}
NEW_DAYS = 14


@pytest.fixture(scope="module")
def parts():
    return fleet.simulate_new_days(**SMALL, new_days=NEW_DAYS)


@pytest.fixture(scope="module")
def whole(parts):
    history, new = parts
    return {name: pd.concat([history[name], new[name]], ignore_index=True) for name in history}


def _rows(path):
    query = yaml.safe_load((resources.files("shipyard.data") / "fleet.yaml").read_text())
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(query["source"]["query"]).df()


def test_the_first_days_are_what_simulate_gives(parts):
    history, _ = parts
    alone = fleet.simulate(**SMALL)
    for name, frame in alone.items():
        pd.testing.assert_frame_equal(history[name], frame, check_exact=True)
    again = fleet.simulate_new_days(**SMALL, new_days=NEW_DAYS)[1]
    for name, frame in parts[1].items():
        pd.testing.assert_frame_equal(again[name], frame, check_exact=True)


def test_new_days_follow_on_in_ids_and_dates(parts, whole):
    history, new = parts
    assert list(new) == list(fleet.TYPES)
    for name, frame in new.items():
        assert list(frame.columns) == list(fleet.TYPES[name]), name
        assert len(frame) > 0, name
    for name, (key, *_) in fleet.KEYS.items():
        if name in ("aircraft", "engines", "flights"):
            ids = new[name][key].to_numpy()
            assert ids.min() == history[name][key].max() + 1, name
            assert (np.diff(np.sort(ids)) == 1).all(), name
        assert not whole[name].duplicated(fleet.KEYS[name]).any(), name
    first_new = pd.Timestamp(date(2026, 1, 1)) + pd.Timedelta(days=SMALL["days"])
    assert new["flights"]["flight_date"].min() == first_new
    assert new["flights"]["flight_date"].max() == first_new + pd.Timedelta(days=NEW_DAYS - 1)
    assert whole["flights"]["departure"].is_monotonic_increasing
    assert whole["flights"]["flight_id"].is_monotonic_increasing
    assert (new["removals"]["removed_on"] >= first_new).all()
    assert (new["engines"]["installed_on"] >= first_new).all()
    assert whole["aircraft"]["tail_number"].is_unique and whole["engines"]["serial"].is_unique


def test_the_same_engines_fly_on_until_they_are_removed(parts, whole):
    history, new = parts
    removed_before = set(history["removals"]["engine_id"])
    on_wing = set(history["engines"]["engine_id"]) - removed_before
    flying = set(new["engine_readings"]["engine_id"])
    assert on_wing <= flying  # every aircraft flies again within two weeks
    assert not flying & removed_before
    assert flying - on_wing == set(new["engines"]["engine_id"])
    # Engines on wing at the end of the first days fail in the new days as well.
    failed = new["removals"].loc[new["removals"]["reason"] == "failure", "engine_id"]
    assert len(set(failed) & on_wing) >= 3
    # Every reading's engine is on that flight's aircraft, one per position.
    flown = whole["engine_readings"].merge(whole["flights"], on="flight_id").merge(
        whole["engines"], on="engine_id", suffixes=("", "_engine"))
    assert len(flown) == len(whole["engine_readings"])
    assert (flown["aircraft_id"] == flown["aircraft_id_engine"]).all()
    assert (flown["flight_date"] >= flown["installed_on"]).all()
    assert (flown.groupby("flight_id")["position"].agg(sorted).map(tuple) == (1, 2)).all()
    # Each engine's cycles at removal count all its flights, before and after the split.
    flights = whole["engine_readings"].groupby("engine_id").size()
    engines = whole["engines"].set_index("engine_id")
    removals = whole["removals"].set_index("engine_id")
    expected = engines.loc[removals.index, "cycles_at_install"] + flights[removals.index]
    assert (removals["cycles_since_new"] == expected).all()
    last = flown.groupby("engine_id")["flight_id"].max()
    assert (last[removals.index] == removals["flight_id"]).all()


def test_each_position_has_one_engine_at_a_time_across_the_split(whole):
    out = whole["removals"].set_index("engine_id")
    for _, slot in whole["engines"].sort_values("engine_id").groupby(["aircraft_id", "position"]):
        first, *replacements = slot.itertuples()
        assert first.cycles_at_install > 0  # on wing at the start, or acquired used
        for old, new in zip([first, *replacements], replacements, strict=False):
            assert new.installed_on == out.loc[old.engine_id, "removed_on"]
            assert new.cycles_at_install == 0
        assert slot["engine_id"].iloc[-1] not in out.index


def test_the_fleet_change_is_in_the_new_days_and_not_before(parts):
    history, new = parts
    assert ACQUIRED_MODEL not in set(history["aircraft"]["model"])
    assert ACQUIRED_VARIANT not in set(history["engines"]["variant"])
    assert set(new["aircraft"]["model"]) == {ACQUIRED_MODEL}
    assert (new["aircraft"]["aircraft_id"] > SMALL["aircraft"]).all()
    joined = new["engines"]["aircraft_id"] > SMALL["aircraft"]
    assert (new["engines"].loc[joined, "variant"] == ACQUIRED_VARIANT).all()
    assert (new["engines"].loc[~joined, "variant"] != ACQUIRED_VARIANT).all()
    readings = new["engine_readings"].merge(new["engines"][["engine_id", "variant"]],
                                            on="engine_id", how="left")
    acquired = readings["variant"] == ACQUIRED_VARIANT
    assert 0.1 < acquired.mean() < 0.3
    # The new type's sensors read differently: cooler, thriftier, faster fan.
    theirs, ours = readings[acquired], readings[readings["variant"].isna()]
    assert theirs["fuel_flow_kgh"].mean() < ours["fuel_flow_kgh"].mean() - 150
    assert theirs["egt_c"].mean() < ours["egt_c"].mean() - 15
    assert theirs["hpc_pressure_psi"].mean() < ours["hpc_pressure_psi"].mean() - 10
    assert theirs["fan_speed_pct"].mean() > ours["fan_speed_pct"].mean() + 1.5
    # Its engines are late in life, so some fail within the new days: labels arrive.
    failed = new["removals"][new["removals"]["reason"] == "failure"]
    assert failed["engine_id"].isin(new["engines"].loc[joined, "engine_id"]).sum() >= 2


def test_without_the_change_the_new_days_bring_no_new_type(parts):
    history, new = fleet.simulate_new_days(**SMALL, new_days=NEW_DAYS, change_fleet=False)
    assert new["aircraft"].empty and list(new["aircraft"].columns) == list(fleet.TYPES["aircraft"])
    assert set(new["engines"]["variant"]) <= set(history["engines"]["variant"])
    assert set(new["engine_readings"]["engine_id"]) - set(new["engines"]["engine_id"]) <= set(
        history["engines"]["engine_id"])
    ours = parts[1]["flights"]
    mainline = ours[ours["aircraft_id"] <= SMALL["aircraft"]]
    assert len(new["flights"]) == len(mainline)  # the fleet's own timetable is the same


def test_appending_gives_the_file_of_the_whole_span(parts, whole, tmp_path):
    history, new = parts
    path = tmp_path / "fleet.duckdb"
    fleet.write_duckdb(history, path)
    before = _rows(path)
    added = fleet.append_duckdb(new, path)
    assert added == {name: len(frame) for name, frame in new.items()}
    fleet.write_duckdb(whole, tmp_path / "whole.duckdb")
    after, expected = _rows(path), _rows(tmp_path / "whole.duckdb")
    pd.testing.assert_frame_equal(after, expected)
    assert len(after) == len(whole["engine_readings"])
    # The features of the first days do not change; their labels can only arrive.
    old = after[after["flight_id"] <= history["flights"]["flight_id"].max()]
    old = old.reset_index(drop=True)
    labels = ["rul", "fails_soon"]  # the RUL's and the anomaly detector's
    pd.testing.assert_frame_equal(old.drop(columns=labels), before.drop(columns=labels))
    assert (old["rul"][before["rul"].notna()] == before["rul"].dropna()).all()
    assert (old["fails_soon"] | ~before["fails_soon"]).all()  # true once, true after
    assert old["rul"].notna().sum() > before["rul"].notna().sum()
    # An engine's cycle counter runs on across the split, one cycle per flight.
    first_new = after[after["flight_id"] > history["flights"]["flight_id"].max()]
    engine = first_new["engine_id"].iloc[0]
    series = after[after["engine_id"] == engine].reset_index(drop=True)
    at = int(series.index[series["flight_id"] == first_new["flight_id"].iloc[0]][0])
    assert at >= 1
    assert (np.diff(series["cycles_since_new"].to_numpy()) == 1).all()


def _counts(path):
    with duckdb.connect(str(path), read_only=True) as con:
        return {name: con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                for name in fleet.TYPES}


def test_a_failing_append_leaves_the_file_as_it_was(parts, tmp_path):
    history, new = parts
    path = tmp_path / "fleet.duckdb"
    fleet.write_duckdb(history, path)
    counts = _counts(path)
    # The last table fails to convert, after the others were inserted.
    broken = {**new, "removals": new["removals"].assign(cycles_since_new="many")}
    with pytest.raises(duckdb.ConversionException):
        fleet.append_duckdb(broken, path)
    assert _counts(path) == counts
    with pytest.raises(ValueError, match="unknown fleet tables: pilots"):
        fleet.append_duckdb({**new, "pilots": new["aircraft"]}, path)
    with pytest.raises(ValueError, match="table flights lacks columns: origin"):
        fleet.append_duckdb({**new, "flights": new["flights"].drop(columns="origin")}, path)
    assert _counts(path) == counts
    fleet.append_duckdb(new, path)
    grown = _counts(path)
    assert grown == {name: counts[name] + len(new[name]) for name in counts}
    # The same days again would repeat flights: refused, nothing added.
    with pytest.raises(ValueError, match=r"table \w+ already has rows with these"):
        fleet.append_duckdb(new, path)
    only_readings = {"engine_readings": new["engine_readings"].tail(5)}
    with pytest.raises(ValueError, match='table engine_readings already has rows with these '
                                         '"flight_id", "engine_id"'):
        fleet.append_duckdb(only_readings, path)
    assert _counts(path) == grown
    assert [p.name for p in tmp_path.iterdir()] == ["fleet.duckdb"]
    with pytest.raises(FileNotFoundError, match="no fleet file at"):
        fleet.append_duckdb(new, tmp_path / "missing.duckdb")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"new_days": 0}, "new_days must be between 1 and"),
    ({"new_days": 1.5}, "new_days must be an integer"),
    ({"days": 0}, "days must be between 1 and"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fleet.simulate_new_days(aircraft=2, **kwargs)
