"""Each entity's recent readings, in a database every server worker shares.

SQLAlchemy Core over the same connections as the prediction log (SQLite in WAL
mode with ``synchronous=FULL`` by default, PostgreSQL by URL), so a reading is
on disk before its answer is sent and survives a worker killed right after.

A reading is keyed by (entity, time): the same reading sent twice is stored
once. A reading older than the entity's newest is placed in time order (two
workers may receive an entity's readings at once), unless it is older than
the history kept for that entity: then it is refused. Each row keeps ``pos``,
the number of the entity's readings before it (the series step's
``elapsed_rows``), which stays right when older rows are pruned.

Rows store their numeric values as one float64 blob and their text values as
JSON, in the column layout of the model that wrote them (``layouts``), so a new
champion with other columns reads what it can by name.
"""

from __future__ import annotations

import functools
import math
import re
import time
import zlib
from dataclasses import dataclass, field

import numpy as np
import orjson
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from shipyard.errors import ShipyardError
from shipyard.monitor.engines import TIMEOUT_S, connect, shown

metadata = sa.MetaData()
readings_table = sa.Table(
    "readings", metadata,
    sa.Column("entity", sa.String(200), primary_key=True),
    sa.Column("t", sa.Double, primary_key=True),  # numbers as sent; date-times in epoch µs
    sa.Column("pos", sa.BigInteger, nullable=False),
    sa.Column("layout", sa.Integer, nullable=False),
    sa.Column("numbers", sa.LargeBinary, nullable=False),
    sa.Column("texts", sa.Text),  # JSON list, or NULL when the layout has no text column
    # SQLite: the rows clustered by (entity, t), so an entity's newest readings are
    # neighbours on disk and a new reading writes one B-tree, not a table and an index.
    sqlite_with_rowid=False,
)
layouts_table = sa.Table(
    "layouts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("columns", sa.Text, nullable=False, unique=True),  # JSON [[numbers], [texts]]
)


class HistoryUnavailable(ShipyardError):
    """The history store cannot be read or written: nothing was stored."""


class HistoryConflict(ShipyardError):
    """A reading the store refuses (HTTP 409): it names the entity and the time."""


@dataclass(frozen=True)
class Layout:
    numbers: tuple[str, ...]
    texts: tuple[str, ...]


@dataclass(slots=True)
class Row:
    t: float
    pos: int
    layout: int
    numbers: bytes
    texts: str | None


@dataclass
class Recorded:
    """An entity's rows after a batch was stored, oldest first, and where each
    reading of the batch sits among them (``at``) and whether it was new."""

    rows: list[Row]
    at: dict[int, int] = field(default_factory=dict)  # batch index -> position in rows
    new: dict[int, bool] = field(default_factory=dict)


class HistoryStore:
    """The store at a SQLAlchemy URL (see the module's docstring)."""

    def __init__(self, url: str):
        self.url = url
        self._layouts: dict[int, Layout] = {}
        self._ids: dict[Layout, int] = {}
        try:
            # SQLite's own wait for a lock sleeps whole milliseconds, growing to
            # 100 ms: two workers writing at once made the tail latency. The store
            # waits itself, in steps of tens of microseconds (see _retrying).
            self.engine = connect(url, wait_s=0)
            _retrying(lambda: metadata.create_all(self.engine))  # workers start together
        except (sa_exc.SQLAlchemyError, ShipyardError) as exc:
            raise unavailable(url, exc) from exc

    def __repr__(self) -> str:
        return f"HistoryStore({shown(self.url)!r})"

    def close(self) -> None:
        self.engine.dispose()

    # ---------------------------------------------------------------- layouts
    def layout_id(self, layout: Layout) -> int:
        found = self._ids.get(layout)
        if found is not None:
            return found
        text = orjson.dumps([list(layout.numbers), list(layout.texts)]).decode()
        def work(conn):
            row = conn.execute(sa.select(layouts_table.c.id).where(
                layouts_table.c.columns == text)).first()
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(layouts_table.insert().values(columns=text))
                except sa_exc.IntegrityError:
                    pass  # another worker made it first
                row = conn.execute(sa.select(layouts_table.c.id).where(
                    layouts_table.c.columns == text)).first()
            return row

        row = self._transaction(work)
        self._ids[layout], self._layouts[row[0]] = row[0], layout
        return row[0]

    def layout(self, ident: int) -> Layout:
        found = self._layouts.get(ident)
        if found is None:
            query = sa.select(layouts_table.c.columns).where(layouts_table.c.id == ident)
            text = self._transaction(lambda conn: conn.execute(query).scalar_one())
            numbers, texts = orjson.loads(text)
            found = self._layouts[ident] = Layout(tuple(numbers), tuple(texts))
        return found

    # ---------------------------------------------------------------- readings
    def record(self, readings: list[tuple[str, float, int, bytes, str | None]], need: int,
               retention: int) -> dict[str, Recorded]:
        """Store ``readings`` ((entity, t, layout, numbers, texts), in batch order) in
        one transaction, and return each entity's rows: the ``need`` rows up to
        its oldest reading of the batch, and everything after.

        Raises :class:`HistoryConflict` (nothing stored) for a time already stored
        with other values, or older than the history kept; :class:`HistoryUnavailable`
        when the database fails."""
        by_entity: dict[str, list[int]] = {}
        for i, reading in enumerate(readings):
            by_entity.setdefault(reading[0], []).append(i)

        def work(conn) -> dict[str, Recorded]:
            out: dict[str, Recorded] = {}
            inserts: list[dict] = []
            for entity in sorted(by_entity):
                _lock(conn, entity)
                out[entity] = self._entity(conn, entity,
                                           [(i, readings[i]) for i in by_entity[entity]],
                                           need, retention, inserts)
            if inserts:
                _run(conn, INSERT, inserts, many=True)
            step = max(16, retention // 4)  # prune now and then, not on every reading
            for entity, recorded in out.items():
                added = sum(recorded.new.values())
                newest = recorded.rows[-1].pos if recorded.rows else 0
                if added and newest >= retention and newest // step > (newest - added) // step:
                    self._prune(conn, entity, retention)
            return out

        return self._transaction(work, immediate=True)

    def _entity(self, conn, entity: str, batch, need: int, retention: int,
                inserts: list[dict]) -> Recorded:
        """Place one entity's readings among its stored rows; the new ones are added
        to ``inserts``, rows whose position moved are updated here."""
        limit = need + len(batch)
        stored = _rows(conn, entity, limit=limit)
        times = [t for _, (_, t, *_rest) in batch]
        newer = not stored or min(times) > stored[-1].t
        if newer and len(set(times)) == len(times):  # the common case
            return _appended(entity, stored, batch, inserts)
        oldest_new = min(times)
        if len(stored) == limit and oldest_new < stored[0].t:
            # An old reading: everything from `need` rows before it to the newest.
            start = conn.execute(sa.select(readings_table.c.t).where(
                readings_table.c.entity == entity, readings_table.c.t <= oldest_new).order_by(
                readings_table.c.t.desc()).offset(need - 1).limit(1)).scalar()
            stored = _rows(conn, entity, since=start)
        rows = {r.t: r for r in stored}
        kept_from = stored[0] if stored else None
        recorded, fresh = Recorded([]), set()
        for i, (_, t, layout, numbers, texts) in batch:
            found = rows.get(t)
            if found is not None:
                if (found.layout, found.numbers, found.texts) != (layout, numbers, texts):
                    raise HistoryConflict(
                        f"entity {entity!r} already has a reading at time {_time(t)} with "
                        f"other values: a reading is stored once; send a new time")
                recorded.new[i] = False
                continue
            if kept_from is not None and t < kept_from.t and kept_from.pos > 0:
                raise HistoryConflict(
                    f"entity {entity!r}: the reading at time {_time(t)} is older than the "
                    f"history kept for it (from time {_time(kept_from.t)}, at most "
                    f"{retention} readings); it cannot be placed in order")
            rows[t] = Row(t, 0, layout, numbers, texts)
            fresh.add(id(rows[t]))
            recorded.new[i] = True
        ordered = sorted(rows.values(), key=lambda r: r.t)
        moved = []
        for n, row in enumerate(ordered):  # positions follow time order
            pos = ordered[n - 1].pos + 1 if n else (0 if id(row) in fresh else row.pos)
            if id(row) not in fresh and pos != row.pos:
                moved.append({"e": entity, "w": row.t, "p": pos})
            row.pos = pos
        if moved:  # readings after an out-of-order one count it
            table = readings_table
            conn.execute(table.update().where(table.c.entity == sa.bindparam("e"),
                                              table.c.t == sa.bindparam("w"))
                         .values(pos=sa.bindparam("p")), moved)
        inserts += [_values(entity, r) for r in ordered if id(r) in fresh]
        recorded.rows = ordered
        position = {id(r): n for n, r in enumerate(ordered)}
        for i, (_, t, *_rest) in batch:
            recorded.at[i] = position[id(rows[t])]
        return recorded

    def _prune(self, conn, entity: str, retention: int) -> None:
        table = readings_table
        cutoff = conn.execute(sa.select(table.c.t).where(table.c.entity == entity)
                              .order_by(table.c.t.desc()).offset(retention - 1).limit(1)).scalar()
        if cutoff is not None:
            conn.execute(table.delete().where(table.c.entity == entity, table.c.t < cutoff))

    def add(self, readings, need: int, retention: int) -> tuple[int, int]:
        """Backfill: store ``readings`` like :meth:`record`; (stored, already there)."""
        recorded = self.record(readings, need, retention)
        new = sum(v for r in recorded.values() for v in r.new.values())
        return new, len(readings) - new

    def fill(self, rows: list[dict]) -> int:
        """Warm start: insert rows (entity, t, pos, layout, numbers, texts) that are
        not stored yet, in one transaction; the number inserted."""
        if not rows:
            return 0
        name = self.engine.dialect.name

        def work(conn) -> int:
            if name in ("sqlite", "postgresql"):
                from sqlalchemy.dialects import postgresql, sqlite

                insert = (sqlite if name == "sqlite" else postgresql).insert(readings_table)
                statement = insert.on_conflict_do_nothing(index_elements=["entity", "t"])
                return max(conn.execute(statement, rows).rowcount, 0)
            have = {(e, t) for e, t in conn.execute(
                sa.select(readings_table.c.entity, readings_table.c.t))}
            fresh = [r for r in rows if (r["entity"], r["t"]) not in have]
            if fresh:
                conn.execute(readings_table.insert(), fresh)
            return len(fresh)

        return self._transaction(work)

    def count(self, entity: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(readings_table)
        if entity is not None:
            query = query.where(readings_table.c.entity == entity)
        return int(self._transaction(lambda conn: conn.execute(query).scalar_one()))

    def rows(self, entity: str) -> list[Row]:
        """Every stored row of ``entity``, oldest first."""
        return self._transaction(lambda conn: _rows(conn, entity))

    def _transaction(self, work, immediate: bool = False):
        """``work(conn)`` in one transaction (``immediate``: holding SQLite's write
        lock from its start), again while the database is locked; a database
        failure as :class:`HistoryUnavailable`."""
        def once():
            with self.engine.connect() as conn, \
                    conn.execution_options(immediate=immediate).begin():
                return work(conn)

        with self._guard():
            return _retrying(once)

    def _guard(self):
        return _Guard(self.url)


class _Guard:
    def __init__(self, url: str):
        self.url = url

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is not None and isinstance(exc, sa_exc.SQLAlchemyError):
            raise unavailable(self.url, exc) from exc
        return False


def _appended(entity: str, stored: list[Row], batch, inserts: list[dict]) -> Recorded:
    """Readings all newer than the stored rows, at distinct times: they go after them."""
    recorded = Recorded(list(stored))
    pos = stored[-1].pos + 1 if stored else 0
    for i, (_, t, layout, numbers, texts) in sorted(batch, key=lambda item: item[1][1]):
        row = Row(t, pos, layout, numbers, texts)
        pos += 1
        recorded.at[i], recorded.new[i] = len(recorded.rows), True
        recorded.rows.append(row)
        inserts.append(_values(entity, row))
    return recorded


def _values(entity: str, row: Row) -> dict:
    return {"entity": entity, "t": row.t, "pos": row.pos, "layout": row.layout,
            "numbers": row.numbers, "texts": row.texts}


# The statements every reading runs, written once in SQL with :name parameters and
# run on the DBAPI cursor: SQLAlchemy's own work per execution (cache keys,
# parameter processing, result wrapping) cost more than SQLite's.
NEWEST = ("SELECT t, pos, layout, numbers, texts FROM readings WHERE entity = :e "
          "ORDER BY t DESC LIMIT :n")
SINCE = ("SELECT t, pos, layout, numbers, texts FROM readings WHERE entity = :e "
         "AND t >= :since ORDER BY t DESC")
EVERY = "SELECT t, pos, layout, numbers, texts FROM readings WHERE entity = :e ORDER BY t DESC"
INSERT = ("INSERT INTO readings (entity, t, pos, layout, numbers, texts) "
          "VALUES (:entity, :t, :pos, :layout, :numbers, :texts)")
_NAME = re.compile(r":(\w+)")


@functools.cache
def _native(sql: str, paramstyle: str) -> str | None:
    """``sql`` in the driver's parameter style (None: a style not written here)."""
    if paramstyle == "named":
        return sql
    if paramstyle == "pyformat":
        return _NAME.sub(r"%(\1)s", sql)
    return None


def _run(conn, sql: str, values, many: bool = False) -> list[tuple]:
    """Run ``sql`` inside ``conn``'s transaction; the rows it returns. Driver errors
    come out as SQLAlchemy's, like everything else the store runs."""
    dialect = conn.dialect
    # sqlite3 takes :name as well as its default qmark style
    native = _native(sql, "named" if dialect.name == "sqlite" else dialect.paramstyle)
    if native is None:
        found = conn.execute(sa.text(sql), values)
        return [] if many else [tuple(r) for r in found]
    cursor = conn.connection.cursor()
    try:
        if many:
            cursor.executemany(native, values)
            return []
        cursor.execute(native, values)
        return cursor.fetchall()
    except dialect.loaded_dbapi.Error as exc:
        raise sa_exc.DBAPIError.instance(sql, values, exc, dialect.loaded_dbapi.Error,
                                         dialect=dialect) from exc
    finally:
        cursor.close()


def _rows(conn, entity: str, limit: int | None = None,
          since: float | None = None) -> list[Row]:
    """The entity's newest ``limit`` rows (or all from time ``since``), oldest first."""
    if since is not None:
        found = _run(conn, SINCE, {"e": entity, "since": since})
    elif limit is not None:
        found = _run(conn, NEWEST, {"e": entity, "n": limit})
    else:
        found = _run(conn, EVERY, {"e": entity})
    return [Row(t, pos, layout, bytes(numbers), texts)
            for t, pos, layout, numbers, texts in reversed(found)]


def _retrying(work):
    """``work()``, again while SQLite says the database is locked (another worker
    is committing), for up to TIMEOUT_S: short sleeps, doubling up to 2 ms."""
    deadline, pause = time.monotonic() + TIMEOUT_S, 20e-6
    while True:
        try:
            return work()
        except sa_exc.OperationalError as exc:
            if "locked" not in str(exc.orig) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 2e-3)


def _lock(conn, entity: str) -> None:
    """Serialise writers of one entity: SQLite's BEGIN IMMEDIATE already holds the
    database's write lock; PostgreSQL takes a transaction lock on the entity."""
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(entity.encode()) - 2**31
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _time(t: float) -> str:
    return str(int(t)) if math.isfinite(t) and t.is_integer() else repr(t)


def unavailable(url: str, exc: BaseException) -> HistoryUnavailable:
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return HistoryUnavailable(f"The history store at {shown(url)} is unavailable: nothing "
                              "was stored", details=reason[:4] or [type(exc).__name__],
                              hint="check that the database is running and writable "
                                   "(serve.history.store)")


def numbers_of(rows: list[Row], layout_of, names: list[str]) -> dict[str, np.ndarray]:
    """The named numeric columns of ``rows`` (NaN where a row's layout lacks one)."""
    out = {name: np.full(len(rows), np.nan) for name in names}
    if not rows:
        return out
    if len({r.layout for r in rows}) == 1:
        layout = layout_of(rows[0].layout)
        matrix = np.frombuffer(b"".join(r.numbers for r in rows), dtype=np.float64).reshape(
            len(rows), len(layout.numbers))
        for name in names:
            if name in layout.numbers:
                out[name] = matrix[:, layout.numbers.index(name)]
        return out
    for n, r in enumerate(rows):
        layout = layout_of(r.layout)
        values = np.frombuffer(r.numbers, dtype=np.float64)
        for name in names:
            if name in layout.numbers:
                out[name][n] = values[layout.numbers.index(name)]
    return out


def texts_of(rows: list[Row], layout_of, name: str) -> np.ndarray:
    out = np.empty(len(rows), dtype=object)
    for n, r in enumerate(rows):
        layout = layout_of(r.layout)
        out[n] = orjson.loads(r.texts)[layout.texts.index(name)] \
            if r.texts and name in layout.texts else ""
    return out
