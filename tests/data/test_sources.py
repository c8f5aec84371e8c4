"""Reading the project's query from DuckDB files, CSV/Parquet files and
SQLAlchemy databases, and the errors each gives when something is wrong."""

import sqlite3
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from shipyard.data import sources
from shipyard.errors import SourceError
from shipyard.spec import Source

ROWS = pd.DataFrame({"id": [1, 2, 3], "name": ["a", "b", None], "x": [0.5, None, 2.0]})


@pytest.fixture
def duck(tmp_path: Path) -> Path:
    path = tmp_path / "db" / "t.duckdb"
    path.parent.mkdir()
    with duckdb.connect(str(path)) as con:
        con.register("rows_df", ROWS)
        con.execute("CREATE TABLE t AS SELECT * FROM rows_df")
        con.execute("CREATE TABLE u (id BIGINT, label VARCHAR)")
        con.execute("INSERT INTO u VALUES (1, 'one'), (3, 'three')")
    return path


def test_duckdb_relative_to_project_folder(duck: Path, tmp_path: Path):
    src = Source(url="duckdb:///db/t.duckdb",
                 query="SELECT t.id, t.x, u.label FROM t JOIN u USING (id) ORDER BY id")
    table = sources.read(src, tmp_path)
    assert table.to_pydict() == {"id": [1, 3], "x": [0.5, 2.0], "label": ["one", "three"]}


def test_duckdb_absolute_url_and_progress(duck: Path):
    seen = []
    src = Source(url=f"duckdb:///{duck}", query="SELECT * FROM range(200000) r(i)")
    table = sources.read(src, Path("/nowhere"), progress=seen.append)
    assert table.num_rows == 200_000
    assert seen[-1] == 200_000 and len(seen) > 1  # reported batch by batch


def test_files_are_views_for_duckdb_sql(tmp_path: Path):
    ROWS.to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"id": [1, 2], "w": [10, 20]}).to_parquet(tmp_path / "b.parquet")
    src = Source(files={"a": "a.csv", "b": "*.parquet"},
                 query="SELECT a.id, a.name, b.w FROM a JOIN b ON a.id = b.id ORDER BY a.id")
    assert sources.read(src, tmp_path).to_pydict() == {"id": [1, 2], "name": ["a", "b"],
                                                       "w": [10, 20]}


def test_sqlalchemy_sqlite_relative_path(tmp_path: Path):
    with sqlite3.connect(tmp_path / "t.sqlite") as con:
        con.execute("CREATE TABLE t (id INTEGER, name TEXT, x REAL)")
        con.executemany("INSERT INTO t VALUES (?, ?, ?)",
                        [(1, None, None), (2, "b", 1.5), (3, "c", None)])
    src = Source(url="sqlite:///t.sqlite", query="SELECT * FROM t ORDER BY id")
    table = sources.read(src, tmp_path)
    assert table.to_pydict() == {"id": [1, 2, 3], "name": [None, "b", "c"],
                                 "x": [None, 1.5, None]}
    assert pa.types.is_string(table.schema.field("name").type)


BAD = [
    ("duckdb:///db/t.duckdb", "SELEC * FROM t", "The query failed", "syntax error"),
    ("duckdb:///db/t.duckdb", "SELECT nope FROM t", "The query failed", '"nope" not found'),
    ("duckdb:///db/missing.duckdb", "SELECT 1", "No DuckDB database at", None),
    ("duckdb://db/t.duckdb", "SELECT 1", "Cannot read the DuckDB URL", None),
    ("sqlite:///missing.sqlite", "SELECT 1", "No SQLite database at", None),
    ("sqlite:///db/t.duckdb", "SELECT * FROM t", "The query failed", "file is not a database"),
    ("duckdb:///db/t.duckdb", "CREATE TABLE v (x INT)", "The query failed", "read-only mode"),
    ("postgresql+psycopg://shipyard:secret@127.0.0.1:9/none", "SELECT 1", "Cannot connect to",
     None),
    ("nosuchdialect://host/db", "SELECT 1", "No database driver for", None),
]


@pytest.mark.parametrize("url, query, headline, detail", BAD)
def test_source_errors_name_the_problem(duck: Path, tmp_path: Path, url, query, headline, detail):
    with pytest.raises(SourceError) as caught:
        sources.read(Source(url=url, query=query), tmp_path)
    assert caught.value.headline.startswith(headline), str(caught.value)
    text = str(caught.value)
    if detail:
        assert detail in text and query in text  # the database's message and the query
    assert "secret" not in text


def test_unreadable_file_kind(tmp_path: Path):
    (tmp_path / "a.xlsx").write_text("x")
    with pytest.raises(SourceError, match="cannot read '.xlsx' files"):
        sources.read(Source(files={"a": "a.xlsx"}, query="SELECT 1"), tmp_path)


def test_describe_hides_passwords():
    src = Source(url="postgresql+psycopg://app:hunter2@db:5432/fleet", query="SELECT 1")
    assert "hunter2" not in str(sources.describe(src))
    assert sources.describe(src)["kind"] == "sqlalchemy"
