"""The prediction log: every served prediction, the ground truth that arrives
later, and the monitoring passes and retraining decisions made on them.

SQLAlchemy Core, so the same code runs on the embedded SQLite file (the
default, ``predictions.db`` in the workspace) and on PostgreSQL. SQLite runs in
WAL mode with a busy timeout, so several server worker processes write to one
file at once, and with ``synchronous=FULL``: every commit reaches the disk
before it returns, which is what lets ``POST /feedback`` acknowledge a label as
stored. Predictions are written in batches (one commit per ~0.2 s per worker),
so the flush per commit costs them little.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from shipyard.monitor import frames
from shipyard.monitor.engines import (
    StoreError,
    connect,
    guard,
    insert_new,
    known,
    select_in,
    shown,
    unavailable,
)
from shipyard.monitor.labels import FeedbackError, conflict_headline, same, unique, unknown_headline

__all__ = ["FeedbackError", "LogStore", "StoreError", "url_of"]

metadata = sa.MetaData()
predictions_table = sa.Table(
    "predictions", metadata,
    sa.Column("request_id", sa.String(200), primary_key=True),
    sa.Column("ts", sa.Double, nullable=False, index=True),  # epoch seconds
    sa.Column("model_version", sa.String(64)),
    sa.Column("features", sa.Text, nullable=False),  # JSON: the row as received
    sa.Column("prediction", sa.Text, nullable=False),  # JSON
    sa.Column("score", sa.Double),
    sa.Column("latency_ms", sa.Double),
)
feedback_table = sa.Table(
    "feedback", metadata,
    sa.Column("request_id", sa.String(200), primary_key=True),
    sa.Column("label", sa.Text, nullable=False),  # JSON
    sa.Column("ts", sa.Double, nullable=False, index=True),
    sa.Column("source", sa.String(32), nullable=False),
)
passes_table, decisions_table = (sa.Table(
    name, metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.Double, nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # JSON
) for name in ("passes", "decisions"))


_ARROW = {"request_id": pa.string(), "ts": pa.float64(), "model_version": pa.string(),
          "prediction": pa.string(), "score": pa.float64(), "latency_ms": pa.float64(),
          "label": pa.string(), "labelled_at": pa.float64(), "features": pa.string()}


class LogStore:
    """The prediction log at a SQLAlchemy URL (see the module's docstring)."""

    def __init__(self, url: str):
        self.url = url
        self.engine = connect(url)
        try:
            _create_tables(self.engine)
        except sa_exc.SQLAlchemyError as exc:
            self.engine.dispose()
            raise unavailable(self.url, exc, StoreError) from exc

    @classmethod
    def of(cls, project, workspace) -> LogStore:
        return cls(url_of(project, workspace))

    def __enter__(self) -> LogStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LogStore({shown(self.url)!r})"

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ writing
    def write_predictions(self, rows: list[dict]) -> int:
        """Store predictions in one transaction; the number stored. A request id
        already in the log keeps its first prediction (a client that reuses its
        X-Request-ID): the later one is not stored."""
        if not rows:
            return 0
        values = [{"request_id": r["request_id"], "ts": r["ts"],
                   "model_version": r.get("model_version"), "features": _json(r["features"]),
                   "prediction": _json(r["prediction"]), "score": r.get("score"),
                   "latency_ms": r.get("latency_ms")} for r in rows]
        with self._guard(), self.engine.begin() as conn:
            return insert_new(conn, predictions_table, values)

    def add_feedback(self, items: list[tuple[str, object]], source: str = "api",
                     check=None) -> int:
        """Store true labels for logged predictions: all of them or, raising
        :class:`FeedbackError`, none. ``check(label)`` returns a problem (a string)
        for a label of the wrong kind. The same label again is not an error. The
        labels are on disk when this returns; the number newly stored."""
        wanted = unique(items, check)
        ids = list(wanted)
        for _ in range(3):  # another writer may insert the same id in between (PostgreSQL)
            try:
                with self._guard(), self._writing() as conn:
                    logged = known(conn, predictions_table.c.request_id, ids)
                    unknown = [rid for rid in ids if rid not in logged]
                    if unknown:
                        raise FeedbackError(unknown_headline(unknown), unknown=unknown)
                    have = dict(select_in(conn, [feedback_table.c.request_id,
                                                  feedback_table.c.label],
                                           feedback_table.c.request_id, ids))
                    conflicts = [{"request_id": rid, "label": orjson.loads(have[rid]),
                                  "sent": label} for rid, label in wanted.items()
                                 if rid in have and not same(orjson.loads(have[rid]), label)]
                    if conflicts:
                        raise FeedbackError(conflict_headline(conflicts), conflicts=conflicts)
                    now = time.time()
                    new = [{"request_id": rid, "label": _json(label), "ts": now,
                            "source": source} for rid, label in wanted.items() if rid not in have]
                    if new:
                        conn.execute(feedback_table.insert(), new)
                    return len(new)
            except sa_exc.IntegrityError:
                continue
        raise StoreError(f"Feedback kept colliding with concurrent writes to {shown(self.url)}",
                         hint="send it again")

    def save_pass(self, record: dict) -> None:
        self._save(passes_table, record)

    def save_decision(self, record: dict) -> None:
        self._save(decisions_table, record)

    def _save(self, table: sa.Table, record: dict) -> None:
        at = record.get("at")
        with self._guard(), self.engine.begin() as conn:
            conn.execute(table.insert().values(ts=float(at if at is not None else time.time()),
                                               body=_json(record)))

    # ------------------------------------------------------------------ reading
    def predictions(self, *, last: int | None = None, since: float | None = None,
                    until: float | None = None, version: str | None = None,
                    features: bool = True) -> pd.DataFrame:
        """Logged predictions, oldest first: request_id, ts, model_version,
        prediction, score, latency_ms, label (None when none), labelled_at, then
        one column per logged input (see :mod:`shipyard.monitor.frames`)."""
        p, f = predictions_table.c, feedback_table.c
        columns = [p.request_id, p.ts, p.model_version, p.prediction, p.score, p.latency_ms,
                   f.label, f.ts.label("labelled_at")]
        if features:
            columns.append(p.features)
        query = sa.select(*columns).select_from(predictions_table.outerjoin(
            feedback_table, f.request_id == p.request_id))
        query = query.where(*_window(p, since, until, version))
        if last is not None:
            query = query.order_by(p.ts.desc(), p.request_id.desc()).limit(max(int(last), 0))
        else:
            query = query.order_by(p.ts, p.request_id)
        with self._guard(), self.engine.connect() as conn:
            fetched = frames.fetch(conn, query, {c.name: _ARROW[c.name] for c in columns})
        return frames.predictions(fetched, features, reverse=last is not None)

    def count(self, *, since: float | None = None, labelled: bool = False) -> int:
        """Predictions logged since ``since``; with ``labelled``, labels received
        (from feedback or outcomes) since ``since`` instead."""
        table = feedback_table if labelled else predictions_table
        query = sa.select(sa.func.count()).select_from(table)
        if since is not None:
            query = query.where(table.c.ts >= since)
        with self._guard(), self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def traffic(self, *, since: float, bucket_s: float) -> pd.DataFrame:
        """Per bucket of ``bucket_s`` seconds (by its start, epoch seconds): requests
        (logged rows), latency_p50_ms, latency_p99_ms."""
        p = predictions_table.c
        query = sa.select(p.ts, p.latency_ms).where(p.ts >= since)
        with self._guard(), self.engine.connect() as conn:
            fetched = frames.fetch(conn, query, {"ts": pa.float64(), "latency_ms": pa.float64()})
        return frames.traffic(fetched, bucket_s)

    def passes(self, limit: int = 200) -> list[dict]:
        """The latest ``limit`` monitoring passes, oldest first."""
        return self._records(passes_table, limit)

    def decisions(self, limit: int = 200) -> list[dict]:
        """The latest ``limit`` retraining decisions, oldest first."""
        return self._records(decisions_table, limit)

    def _records(self, table: sa.Table, limit: int) -> list[dict]:
        query = sa.select(table.c.body).order_by(table.c.id.desc()).limit(max(int(limit), 0))
        with self._guard(), self.engine.connect() as conn:
            bodies = conn.execute(query).scalars().all()
        return [orjson.loads(body) for body in reversed(bodies)]

    # ------------------------------------------------------------------ plumbing
    def _guard(self):
        return guard(self.url)

    @contextmanager
    def _writing(self) -> Iterator[sa.Connection]:
        """A transaction that holds SQLite's write lock from its start: one that
        reads first and upgrades later fails at once when another process writes."""
        with self.engine.connect() as conn:
            conn.execution_options(immediate=True)
            with conn.begin():
                yield conn


def url_of(project, workspace) -> str:
    """``monitor.store``, relative SQLite paths anchored at the project file's
    folder; by default ``predictions.db`` in the workspace."""
    url = project.monitor.store
    if url is None:
        return f"sqlite:///{Path(workspace.root) / 'predictions.db'}"
    try:
        parsed = sa.engine.make_url(url)
    except sa_exc.ArgumentError as exc:
        raise StoreError(f"Cannot parse monitor.store {url!r}", details=[str(exc)],
                         hint="give a SQLAlchemy URL, e.g. sqlite:///log.db") from exc
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        return parsed.set(database=str(project.resolve(parsed.database))).render_as_string(
            hide_password=False)
    return url


def _create_tables(engine: sa.Engine) -> None:
    # Workers start together and may race to create the tables: the loser retries.
    for attempt in range(5):
        try:
            metadata.create_all(engine)
            return
        except (sa_exc.OperationalError, sa_exc.ProgrammingError, sa_exc.IntegrityError):
            if attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))


def _window(p, since, until, version) -> list:
    found = []
    if since is not None:
        found.append(p.ts >= since)
    if until is not None:
        found.append(p.ts <= until)
    if version is not None:
        found.append(p.model_version == str(version))
    return found


def _json(value: object) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS |
                            orjson.OPT_SERIALIZE_NUMPY).decode()
    except TypeError:  # e.g. an integer beyond 64 bits in a row: kept as JSON all the same
        import json

        return json.dumps(value, default=str)
