"""Reading the project's SQL from a real PostgreSQL (the session's throwaway
cluster): streamed in chunks through a server-side cursor, typed from the
database's types, clear errors, and connections dropped mid-extraction for real
(``pg_terminate_backend``): retried from the start, then a clear error."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pytest

from shipyard.data import database, sources
from shipyard.errors import SourceError
from shipyard.spec import Source
from tests.pg import PASSWORD, USER

ROWS = 300_000  # between four and five chunks of database._BATCH
TYPED = {"id": pa.int64(), "x": pa.float64(), "n": pa.float64(), "small": pa.int32(),
         "ts": pa.timestamp("us", tz="UTC"), "day": pa.date32(), "s": pa.string(),
         "flag": pa.bool_(), "late": pa.int32(), "u": pa.string(), "j": pa.string()}


@pytest.fixture(scope="module")
def db(postgres) -> str:
    """A database with ``big`` (ROWS rows; ``late`` is NULL in the whole first chunk),
    ``typed`` (a view over it with a column of each common type) and two small tables
    to join."""
    name = postgres.create_database()
    for statement in (
        f"""CREATE TABLE big AS SELECT g::bigint AS id, g * 0.25 AS x, 'row ' || g AS s,
            CASE WHEN g > 70000 THEN g END::int AS late FROM generate_series(1, {ROWS}) g""",
        """CREATE VIEW typed AS SELECT id, x, (id % 1000)::numeric / 8 AS n,
            (id % 7)::int AS small, timestamptz '2026-01-01 00:00+00' + id * interval '1 minute'
            AS ts, date '2026-01-01' + (id % 365)::int AS day, s, id % 3 = 0 AS flag, late,
            md5(id::text)::uuid AS u, jsonb_build_object('k', id) AS j FROM big""",
        "CREATE TABLE a (id int PRIMARY KEY, kind text)",
        "INSERT INTO a VALUES (1, 'x'), (2, 'y'), (3, 'z')",
        "CREATE TABLE b (id int REFERENCES a, amount numeric(8, 2), at date)",
        "INSERT INTO b VALUES (1, 10.50, '2026-02-01'), (1, 2.25, NULL), (3, NULL, '2026-03-01')",
    ):
        postgres.sql(statement, database=name, user=USER)
    return name


def read(url: str, query: str, progress=None) -> pa.Table:
    return sources.read(Source(url=url, query=query), Path("/nowhere"), progress)


def test_a_large_extraction_streams_through_a_server_side_cursor(postgres, db):
    seen, statements = [], []

    def progress(rows: int) -> None:  # runs between two fetches: what is the server doing?
        seen.append(rows)
        statements.extend(postgres.sql("SELECT query FROM pg_stat_activity WHERE "
                                       "application_name = 'stream-probe'"))

    table = read(postgres.url(db, application_name="stream-probe"),
                 "SELECT id, s FROM big ORDER BY id", progress)
    assert table.num_rows == ROWS and seen[-1] == ROWS
    assert len(seen) == 5 and seen == sorted(seen)  # chunk by chunk
    # the server keeps the result and hands it out a FETCH at a time (a named cursor)
    assert len(statements) == 5
    assert all(q.startswith("FETCH FORWARD") for (q,) in statements), statements
    assert table.column("id").to_pylist()[:3] == [1, 2, 3]


def test_columns_have_the_databases_types_even_when_null_in_the_first_chunk(postgres, db):
    # two chunks; ``late`` is NULL in the whole first one
    table = read(postgres.url(db), f"SELECT * FROM typed WHERE id <= {database._BATCH + 10_000} "
                 "ORDER BY id")
    assert dict(zip(table.column_names, table.schema.types, strict=True)) == TYPED
    late = table.column("late")
    assert late.null_count == 70_000 and late[70_000].as_py() == 70_001
    assert table.column("n")[1].as_py() == 0.25  # NUMERIC as a number, not a Decimal
    assert table.column("ts")[0].as_py().isoformat() == "2026-01-01T00:01:00+00:00"
    assert table.column("j")[0].as_py() == '{"k": 1}'
    assert len(table.column("u")[0].as_py()) == 36
    empty = read(postgres.url(db), "SELECT * FROM typed WHERE false")
    assert empty.num_rows == 0 and dict(zip(empty.column_names, empty.schema.types,
                                            strict=True)) == TYPED


def test_memory_holds_one_chunk_not_the_whole_result(postgres, db):
    """Python memory at its peak while reading three chunks is about that of reading
    one: the rows never pile up as Python objects (three chunks' rows at once would
    take about three times the one-chunk peak). That the database driver does not
    hold the whole result either (tracemalloc cannot see libpq's memory) is what the
    FETCH test above shows: the server hands the rows out a chunk at a time."""
    peaks = []
    for rows in (database._BATCH, 3 * database._BATCH):
        tracemalloc.start()
        try:
            table = read(postgres.url(db), f"SELECT id FROM big WHERE id <= {rows}")
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert table.num_rows == rows
    assert peaks[1] < 1.5 * peaks[0], peaks


def test_a_join_runs_on_the_server(postgres, db):
    table = read(postgres.url(db), "SELECT a.id, a.kind, b.amount, b.at FROM a "
                 "LEFT JOIN b ON a.id = b.id ORDER BY a.id, b.amount NULLS LAST")
    assert table.to_pydict()["kind"] == ["x", "x", "y", "z"]
    assert table.column("amount").to_pylist() == [2.25, 10.5, None, None]
    assert table.schema.field("at").type == pa.date32()


@pytest.mark.parametrize("case, headline, said, hint", [
    ("port", "Cannot connect to", "Connection refused", "host and port"),
    ("password", "Cannot connect to", 'password authentication failed for user "shipyard"',
     "user name and password"),
    ("database", "Cannot connect to", 'database "no_such_db" does not exist',
     "database name"),
    ("syntax", "The query failed on", 'syntax error at or near "SELEC"', "source.query"),
    ("table", "The query failed on", 'relation "nope" does not exist', "source.query"),
    ("twice", "The query failed on", "more than one column named 'id'", "source.query"),
])
def test_errors_say_what_went_wrong(postgres, db, case, headline, said, hint):
    url = {"port": postgres.url(db, port=9), "password": postgres.url(db, password="wrong"),
           "database": postgres.url("no_such_db")}.get(case, postgres.url(db))
    query = {"syntax": "SELEC id FROM big", "table": "SELECT a.id FROM a JOIN nope USING (id)",
             "twice": "SELECT * FROM a JOIN b ON a.id = b.id"}.get(case, "SELECT 1")
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        read(url, query)
    error = caught.value
    assert error.headline.startswith(headline) and "127.0.0.1" in error.headline, str(error)
    assert said in str(error) and hint in error.hint
    if headline.startswith("The query"):
        assert query in error.details  # the query, as written
    assert PASSWORD not in str(error) and "wrong" not in str(error)
    assert time.monotonic() - started < 2  # no retries for errors that would not go away


def test_a_connection_dropped_once_is_retried_and_the_result_is_whole(postgres, db):
    seen, killed = [], []

    def progress(rows: int) -> None:
        seen.append(rows)
        if not killed:  # mid-extraction: one chunk read, the rest still on the server
            killed.append(postgres.terminate("drop-once"))

    table = read(postgres.url(db, application_name="drop-once"),
                 "SELECT id FROM big ORDER BY id", progress)
    assert killed == [1]
    assert seen[0] == database._BATCH and seen.count(database._BATCH) == 2  # started again
    ids = table.column("id").to_pylist()
    assert len(ids) == ROWS and ids == list(range(1, ROWS + 1))  # each row once


def test_a_connection_that_keeps_dropping_gives_up_with_a_clear_error(postgres, db):
    kills = []
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        read(postgres.url(db, application_name="drop-always"), "SELECT id FROM big",
             lambda rows: kills.append(postgres.terminate("drop-always")))
    error = caught.value
    attempts = 1 + len(database.RETRY_DELAYS_S)
    assert kills == [1] * attempts
    assert error.headline.startswith("The connection to postgresql+psycopg://shipyard:***@")
    assert "kept dropping during the extraction" in error.headline
    assert [d.split(":")[0] for d in error.details[:-1]] == [
        f"attempt {i}" for i in range(1, attempts + 1)]
    assert "terminating connection due to administrator command" in error.details[0]
    assert error.details[-1] == f"gave up after {attempts} attempts; no rows were kept"
    assert time.monotonic() - started >= sum(database.RETRY_DELAYS_S)  # backed off


def test_a_database_that_stops_accepting_connections_after_a_drop(postgres):
    name = postgres.create_database()
    postgres.sql("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 100000) g",
                 database=name, user=USER)

    def progress(rows: int) -> None:
        postgres.sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        postgres.terminate("refusing")

    with pytest.raises(SourceError, match="kept dropping") as caught:
        read(postgres.url(name, application_name="refusing"), "SELECT id FROM t", progress)
    reconnects = caught.value.details[1:-1]
    assert len(reconnects) == len(database.RETRY_DELAYS_S)
    assert all("could not reconnect" in d and "not currently accepting connections" in d
               for d in reconnects), reconnects
