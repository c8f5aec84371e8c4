"""The alerts raised, in SQLite (WAL mode, so several worker processes can write)."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,                 -- UTC, ISO 8601
    alert TEXT NOT NULL,
    model TEXT NOT NULL,
    version TEXT,
    entity,                             -- no type: numbers stay numbers, text stays text
    prediction TEXT NOT NULL,           -- JSON
    input TEXT NOT NULL,                -- JSON
    delivery TEXT,                      -- NULL (no webhook), pending, delivered, failed
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    acknowledged INTEGER NOT NULL DEFAULT 0,
    acknowledged_at TEXT,
    acknowledged_by TEXT
);
CREATE INDEX IF NOT EXISTS alerts_open ON alerts (acknowledged, id);
CREATE INDEX IF NOT EXISTS alerts_entity ON alerts (alert, entity, time);
"""


@dataclass(frozen=True)
class Record:
    """One alert raised on one row, as stored."""

    alert: str
    time: str
    model: str
    version: str | None
    entity: Any
    prediction: dict
    input: dict
    delivery: str | None = None  # "pending" when a webhook will be called


class AlertStore:
    """Alerts in a SQLite file in WAL mode, shared by every worker process.

    Each process (and each store object) has its own connection; writes take the
    write lock up front and wait up to ``timeout_s`` for it (busy_timeout).
    """

    def __init__(self, path: Path, timeout_s: float = 10.0):
        self.path = Path(path)
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pid = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._write() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    def __enter__(self) -> AlertStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
            self._db = None

    def add(self, records: list[Record]) -> list[int]:
        """Store ``records`` in one transaction; their ids, in order."""
        with self._write() as db:
            return [db.execute(
                "INSERT INTO alerts (time, alert, model, version, entity, prediction, input, "
                "delivery) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (r.time, r.alert, r.model, r.version, _entity(r.entity), to_json(r.prediction),
                 to_json(r.input), r.delivery)).lastrowid for r in records]

    def raised_since(self, alert: str, entities: list, since: str) -> set:
        """Which of ``entities`` raised ``alert`` at or after ``since`` (UTC, ISO)."""
        keys = [_entity(e) for e in entities]
        found = set()
        with self._read() as db:
            for start in range(0, len(keys), 500):
                part = keys[start:start + 500]
                found.update(row[0] for row in db.execute(
                    f"SELECT DISTINCT entity FROM alerts WHERE alert = ? AND time >= ? AND "
                    f"entity IN ({', '.join('?' * len(part))})", (alert, since, *part)))
        return found

    def list(self, limit: int = 100, unacknowledged_only: bool = False) -> list[dict]:
        """The newest ``limit`` alerts, newest first."""
        where = "WHERE acknowledged = 0 " if unacknowledged_only else ""
        with self._read() as db:
            rows = db.execute(f"SELECT * FROM alerts {where}ORDER BY id DESC LIMIT ?",
                              (limit,)).fetchall()
        return [_alert_dict(row) for row in rows]

    def get(self, alert_id: int) -> dict | None:
        with self._read() as db:
            row = db.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return _alert_dict(row) if row else None

    def acknowledge(self, alert_id: int, by: str | None = None) -> bool:
        """Mark an alert seen; False when there is no such alert. Acknowledging
        twice keeps the first time and name."""
        with self._write() as db:
            db.execute("UPDATE alerts SET acknowledged = 1, acknowledged_at = ?, "
                       "acknowledged_by = ? WHERE id = ? AND acknowledged = 0",
                       (utc_now(), by, alert_id))
            return db.execute("SELECT 1 FROM alerts WHERE id = ?",
                              (alert_id,)).fetchone() is not None

    def set_delivery(self, alert_id: int, state: str, attempts: int,
                     last_error: str | None) -> None:
        with self._write() as db:
            db.execute("UPDATE alerts SET delivery = ?, attempts = ?, last_error = ? "
                       "WHERE id = ?", (state, attempts, last_error, alert_id))

    def _connect(self) -> sqlite3.Connection:
        # A connection inherited through fork() must not be used: open a new one.
        if self._db is None or self._pid != os.getpid():
            db = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None,
                                 check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            _wal(db, self.timeout_s)
            db.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; fsync at checkpoints
            self._db, self._pid = db, os.getpid()
        return self._db

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._connect()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock now, waiting for it; a deferred
        # transaction that later upgrades fails at once when another process writes.
        with self._lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")


def _wal(db: sqlite3.Connection, timeout_s: float) -> None:
    # Switching to WAL needs a moment alone with the file; several processes
    # starting together may each have to wait for the others.
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _alert_dict(row: sqlite3.Row) -> dict:
    return {
        "id": row["id"], "time": row["time"], "alert": row["alert"],
        "model": {"name": row["model"], "version": row["version"]},
        "entity": row["entity"], "prediction": json.loads(row["prediction"]),
        "input": json.loads(row["input"]),
        "delivery": None if row["delivery"] is None else {
            "state": row["delivery"], "attempts": row["attempts"],
            "last_error": row["last_error"]},
        "acknowledged": bool(row["acknowledged"]), "acknowledged_at": row["acknowledged_at"],
        "acknowledged_by": row["acknowledged_by"],
    }


def to_json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
    except ValueError:  # NaN or infinity: not JSON; stored as null
        return json.dumps(_finite(value), ensure_ascii=False, default=str)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _entity(value: Any) -> Any:
    if value is None or isinstance(value, int | float | str):
        return value
    return to_json(value)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


