"""`shipyard score`: a registered champion scores Parquet and SQL input partition by
partition, in this process and on a real Dask cluster, into Parquet or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from distributed import Client

from shipyard.compute import batch
from shipyard.compute.writers import ParquetOutput, TableOutput
from shipyard.errors import ComputeError, DataError, SourceError
from tests.compute.score_project import (
    assert_each_row_once,
    champion,
    cli,
    expected,
    fresh_rows,
    scored,
    to_parquet,
)
from tests.pg import free_port
from tests.serve.models import SCHEMA, raw_rows, regression_model


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("score")
    project, model = champion(folder)
    return folder, project, model


@pytest.fixture(scope="module")
def table(trained) -> tuple[pd.DataFrame, Path]:
    """1,000 new rows in three Parquet files of 400, 350 and 250 rows."""
    folder = trained[0]
    frame = fresh_rows(1000)
    (folder / "in").mkdir()
    for i, (a, b) in enumerate([(0, 400), (400, 750), (750, 1000)]):
        to_parquet(frame.iloc[a:b], folder / "in" / f"rows-{i}.parquet")
    return frame, folder / "in" / "rows-*.parquet"


def test_parquet_in_process_matches_the_pipeline_row_by_row(trained, table, tmp_path):
    _, project, model = trained
    frame, pattern = table
    calls = []
    result = batch.score(model, [pattern], ParquetOutput(str(tmp_path / "out")),
                         keys=["eid", "t"], partition_rows=150,
                         progress=lambda *a: calls.append(a))
    out = scored(tmp_path / "out")
    assert_each_row_once(out, 1000)
    assert (result.rows, result.where) == (1000, "in-process")
    # 400, 350 and 250 rows in slices of at most 150: 3 + 3 + 2 partitions
    assert result.partitions == 8 == len(list((tmp_path / "out").glob("part-*.parquet")))
    np.testing.assert_allclose(out["prediction"], expected(model, frame), rtol=1e-12)
    assert out["eid"].tolist() == frame["eid"].tolist()
    assert list(out.columns) == ["eid", "t", "_row", "prediction"]
    assert calls[0] == ("Scoring partitions", 0, 8) and calls[-1] == ("Scoring partitions", 8, 8)


def test_dask_scores_exactly_what_the_process_scores(trained, table, tmp_path, dask):
    _, _, model = trained
    frame, pattern = table
    with Client(dask.address, timeout=10) as client:
        result = batch.score(model, [pattern], ParquetOutput(str(tmp_path / "d")), client=client,
                             keys=["eid"], partition_rows=100)
    assert result.where == "Dask, 2 workers" and result.partitions == 11
    batch.score(model, [pattern], ParquetOutput(str(tmp_path / "p")), keys=["eid"],
                partition_rows=100)
    on_dask, here = scored(tmp_path / "d"), scored(tmp_path / "p")
    assert_each_row_once(on_dask, 1000)
    pd.testing.assert_frame_equal(on_dask, here)
    np.testing.assert_allclose(on_dask["prediction"], expected(model, frame), rtol=1e-12)


def test_cli_scores_the_projects_query_and_refuses_to_overwrite(trained, tmp_path):
    folder, project, model = trained
    out = tmp_path / "scores"
    args = ["score", folder / "shipyard.yaml", "--query", "SELECT * FROM rows WHERE eid < 20",
            "--output", out, "--partition-rows", "64"]
    done = cli(*args)
    assert done.exit_code == 0, done.output
    assert "Scored 200 rows in 4 partition(s) (in-process)" in done.output
    with duckdb.connect(str(folder / "data.duckdb"), read_only=True) as con:
        source = con.sql("SELECT * FROM rows WHERE eid < 20").df()
    got = scored(out)
    assert_each_row_once(got, 200)
    np.testing.assert_allclose(got["prediction"], expected(model, source), rtol=1e-12)
    again = cli(*args)
    assert again.exit_code == 2 and "is not empty" in again.output
    assert "--overwrite" in again.output
    assert cli(*args, "--overwrite").exit_code == 0
    assert_each_row_once(scored(out), 200)


def test_cli_on_the_projects_dask_cluster(trained, table, tmp_path, dask):
    folder, _, model = trained
    frame, pattern = table
    text = (folder / "shipyard.yaml").read_text()
    (folder / "dask.yaml").write_text(text + f"compute: {{backend: dask, address: "
                                             f"'{dask.address}'}}\n")
    done = cli("score", folder / "dask.yaml", "--input", pattern, "--output", tmp_path / "o",
               "--partition-rows", "300", "--version", "1")
    assert done.exit_code == 0, done.output
    assert "Scored 1,000 rows in 5 partition(s) (Dask, 2 workers)" in done.output
    got = scored(tmp_path / "o")
    np.testing.assert_allclose(got["prediction"], expected(model, frame), rtol=1e-12)


def test_postgres_query_into_a_postgres_table(trained, postgres, tmp_path, dask):
    _, _, model = trained
    database = postgres.create_database()
    frame = fresh_rows(900, seed=11)
    engine = postgres.engine(database)
    frame.to_sql("readings", engine, index=False)
    url = postgres.url(database)
    with Client(dask.address, timeout=10) as client:
        result = batch.score(model, batch.Query(url, "SELECT * FROM readings ORDER BY t"),
                             TableOutput(url, "scores"), client=client, keys=["eid", "t"],
                             partition_rows=250)
    assert (result.rows, result.partitions) == (900, 4)
    out = pd.read_sql("SELECT * FROM scores ORDER BY _row", engine)
    engine.dispose()
    assert_each_row_once(out, 900)
    assert sorted(out["_partition"].unique()) == [0, 1, 2, 3]
    ordered = frame.sort_values("t").reset_index(drop=True)
    np.testing.assert_allclose(out["prediction"], expected(model, ordered), rtol=1e-12)
    assert (out["eid"] == ordered["eid"]).all()
    with pytest.raises(SourceError, match="The table scores already exists"):
        batch.score(model, batch.Query(url, "SELECT * FROM readings"),
                    TableOutput(url, "scores"))


def test_a_query_that_fails_is_a_source_error(trained, tmp_path):
    _, project, model = trained
    url = f"duckdb:///{trained[0] / 'data.duckdb'}"
    with pytest.raises(SourceError, match="The query failed") as err:
        batch.score(model, batch.Query(url, "SELECT * FROM nowhere"),
                    ParquetOutput(str(tmp_path / "o")))
    assert "nowhere" in str(err.value)
    assert not (tmp_path / "o").exists()


def test_a_column_the_model_needs_is_named(trained, table, tmp_path):
    _, _, model = trained
    frame, _ = table
    path = to_parquet(frame.drop(columns=["b"]).rename(columns={"c": "cc"}), tmp_path / "x.pq")
    with pytest.raises(DataError, match="lacks 2 column") as err:
        batch.score(model, [path], ParquetOutput(str(tmp_path / "o")))
    assert "'b' is missing" in str(err.value) and "'c' is missing (did you mean 'cc'?)" \
        in str(err.value)
    assert not (tmp_path / "o").exists()
    url = f"duckdb:///{trained[0] / 'data.duckdb'}"
    with pytest.raises(DataError, match="does not return 1 column"):
        batch.score(model, batch.Query(url, "SELECT a, c FROM rows"),
                    ParquetOutput(str(tmp_path / "o")))


def test_a_missing_input_file_is_named(trained, tmp_path):
    with pytest.raises(SourceError, match="No input file at .*nothing-here"):
        batch.score(trained[2], [tmp_path / "nothing-here*.parquet"],
                    ParquetOutput(str(tmp_path / "o")))


def test_a_scheduler_that_is_not_there_stops_before_any_output(trained, table, tmp_path):
    folder = trained[0]
    address = f"tcp://127.0.0.1:{free_port()}"
    (folder / "gone.yaml").write_text((folder / "shipyard.yaml").read_text() + (
        f"compute: {{backend: dask, address: '{address}', timeout: 1}}\n"))
    done = cli("score", folder / "gone.yaml", "--input", table[1], "--output", tmp_path / "o")
    assert done.exit_code == 2
    assert f"No Dask scheduler answered at {address}" in done.output
    assert not (tmp_path / "o").exists()


def test_an_unknown_version_is_a_registry_error(trained, table, tmp_path):
    done = cli("score", trained[0] / "shipyard.yaml", "--input", table[1], "--output",
               tmp_path / "o", "--version", "9")
    assert done.exit_code == 2 and "No version 9" in done.output
    assert not (tmp_path / "o").exists()


def test_a_partition_that_keeps_failing_is_named_and_the_others_are_written(tmp_path, dask):
    """A model that refuses unseen categories fails on the one partition holding one,
    on every retry; the error names that partition and nothing is duplicated."""
    model = regression_model(handle_unknown="error")
    frame = pd.DataFrame(raw_rows(500, seed=3))
    frame.loc[260, "city"] = "Atlantis"  # rows 250..374: the third partition
    path = to_parquet(frame, tmp_path / "in.parquet")
    with Client(dask.address, timeout=10) as client, \
            pytest.raises(ComputeError, match="1 of 4 partition") as err:
        batch.score(model, [path], ParquetOutput(str(tmp_path / "o")), client=client,
                    partition_rows=125)
    assert "part-00002" in str(err.value) and "Atlantis" in str(err.value)
    written = sorted(p.name for p in (tmp_path / "o").glob("part-*.parquet"))
    assert written == ["part-00000.parquet", "part-00001.parquet", "part-00003.parquet"]
    assert SCHEMA.names == model.card.schema.names
