"""Prediction alerts: rules from the ``serve.alerts`` section, a SQLite store of
the alerts raised, a background sink that records them and posts them to
webhooks, and the HTTP routes to list and acknowledge them.

The prediction path only calls :meth:`AlertSink.submit`, which puts the batch on
a bounded queue and returns; matching, storing and delivery happen on the
sink's own thread, so a slow disk or a dead webhook never slows predictions.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import json
import logging
import math
import operator
import os
import queue
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.client import HTTPException
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard.card import ModelCard
from shipyard.errors import ShipyardError, did_you_mean
from shipyard.metrics import BINARY, CLASSIFICATION
from shipyard.serve import responses
from shipyard.serve.auth import Keys, headers_for
from shipyard.spec.serving import Alert, Comparison

log = logging.getLogger("shipyard.serve.alerts")

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}


class AlertConfigError(ShipyardError):
    """The alert rules name fields or values the served model does not have."""


# ----------------------------------------------------------------------------- rules

Test = Callable[[dict, dict], bool]  # (input row, prediction item) -> the comparison holds


@dataclass(frozen=True)
class Rule:
    """One compiled alert: ``any_of`` is the condition as an or of and-groups."""

    name: str
    when: str
    any_of: tuple[tuple[Test, ...], ...] = field(repr=False)
    webhook: str | None = field(default=None, repr=False)  # may hold a token
    retries: int = 5
    backoff_s: float = 0.5

    def matches(self, row: dict, item: dict) -> bool:
        return any(all(test(row, item) for test in group) for group in self.any_of)


class Rules:
    """The alert rules of one served model; build with :meth:`Rules.compile`."""

    def __init__(self, rules: tuple[Rule, ...] = ()):
        self.rules = rules
        self.by_name = {rule.name: rule for rule in rules}

    def __len__(self) -> int:
        return len(self.rules)

    @classmethod
    def compile(cls, alerts: list[Alert], card: ModelCard) -> Rules:
        """Check every field and value against ``card`` and compile the tests;
        raises :class:`AlertConfigError` listing every problem."""
        problems, rules = [], []
        for alert in alerts:
            groups = []
            for group in alert.condition.any_of:
                tests = []
                for comp in group:
                    problem = _problem(comp, card)
                    if problem:
                        problems.append(f"alert '{alert.name}' ({alert.when!r}): {problem}")
                    else:
                        tests.append(_test(comp))
                groups.append(tuple(tests))
            rules.append(Rule(alert.name, alert.when, tuple(groups), alert.webhook,
                              alert.retries, alert.backoff_s))
        if problems:
            raise AlertConfigError(
                f"the alerts in serve.alerts do not fit model '{card.name}'"
                f"{f' version {card.version}' if card.version else ''}",
                details=problems, hint="fix serve.alerts in the project file")
        return cls(tuple(rules))

    def match(self, rows: list[dict], items: list[dict]) -> list[tuple[int, str]]:
        """(row index, alert name) for every row that meets an alert's condition."""
        return [(i, rule.name) for i, (row, item) in enumerate(zip(rows, items, strict=True))
                for rule in self.rules if rule.matches(row, item)]


def fields(card: ModelCard) -> list[str]:
    """What a condition may name for this model."""
    names = ["prediction", *(["probability"] if card.task == BINARY else []),
             *card.schema.names]
    if card.entity and card.entity not in names:
        names.append(card.entity)
    return names


def _problem(comp: Comparison, card: ModelCard) -> str | None:
    """Why ``comp`` cannot work for ``card``, or None."""
    text = isinstance(comp.value, str)
    if comp.field == "prediction":
        if card.task not in CLASSIFICATION:
            return "a regression prediction is a number; compare it with a number" \
                if text else None
        labels = [c.item() if hasattr(c, "item") else c for c in card.classes]
        numeric = all(isinstance(c, int | float) for c in labels)
        if not text and not numeric:
            return (f"the classes are text ({', '.join(map(str, labels))}); write "
                    f"prediction == '{labels[-1]}'")
        if text and comp.value not in map(str, labels):
            return (f"{comp.value!r} is not a class{did_you_mean(comp.value, map(str, labels))}"
                    f"; classes: {', '.join(map(str, labels))}")
        return None
    if comp.field == "probability":
        if card.task != BINARY:
            return "'probability' is the positive class's probability; only binary models " \
                   f"have it, this one is {card.task}"
        return "a probability is a number; compare it with a number" if text else None
    kinds = {c.name: c.kind for c in card.schema.columns}
    if comp.field in kinds:
        numeric = kinds[comp.field] in ("number", "integer", "boolean")
        if numeric and text:
            return f"'{comp.field}' is a {kinds[comp.field]} column; compare it with a number"
        if not numeric and not text:
            return (f"'{comp.field}' is a {kinds[comp.field]} column; compare it with == or != "
                    f"and quoted text")
        return None
    if comp.field == card.entity:
        return None
    known = fields(card)
    return f"unknown field '{comp.field}'{did_you_mean(comp.field, known)}; " \
           f"known: {', '.join(known)}"


def _test(comp: Comparison) -> Test:
    compare, value, key = _COMPARE[comp.op], comp.value, comp.field
    in_item = key in ("prediction", "probability")

    if isinstance(value, str):
        def test(row: dict, item: dict) -> bool:
            actual = (item if in_item else row).get(key)
            # A missing value never matches, not even with !=.
            return actual is not None and compare(str(actual), value)
    else:
        def test(row: dict, item: dict) -> bool:
            actual = (item if in_item else row).get(key)
            return isinstance(actual, int | float) and compare(actual, value)
    return test


# ----------------------------------------------------------------------------- store

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
                (r.time, r.alert, r.model, r.version, _entity(r.entity), _json(r.prediction),
                 _json(r.input), r.delivery)).lastrowid for r in records]

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
                       (_now(), by, alert_id))
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


def _json(value: Any) -> str:
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
    return _json(value)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# ----------------------------------------------------------------------------- sink

_STOP = object()


@dataclass
class _Delivery:
    alert_id: int
    rule: Rule
    body: bytes
    attempts: int = 0
    last_error: str | None = None


class AlertSink:
    """Matches submitted batches on a background thread, stores the alerts and
    posts each to its rule's webhook, retrying connection errors, 5xx and 429
    with exponential backoff (capped at ``backoff_cap_s``).

    Counters, for the metrics endpoint: ``submitted`` / ``dropped`` batches
    (dropped when the queue of ``queue_size`` batches is full or the sink is
    closed), ``recorded`` alerts, ``delivered`` / ``failed`` webhook posts,
    ``errors`` (unexpected failures on the thread, logged).
    """

    def __init__(self, rules: Rules, store: AlertStore, card: ModelCard, *,
                 queue_size: int = 1000, timeout_s: float = 5.0, backoff_cap_s: float = 30.0):
        self.rules, self.store, self.card = rules, store, card
        self.timeout_s, self.backoff_cap_s = timeout_s, backoff_cap_s
        self.submitted = self.dropped = self.recorded = 0
        self.delivered = self.failed = self.errors = 0
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._closed = False
        self._deadline = math.inf
        self._pending: list[tuple[float, int, _Delivery]] = []  # a heap by due time
        self._order = itertools.count()
        self._thread = threading.Thread(target=self._run, name="shipyard-alerts", daemon=True)
        self._thread.start()

    def submit(self, rows: list[dict], items: list[dict]) -> None:
        """Hand over a scored batch; returns at once and never raises. The lists
        are kept, not copied: the caller must not change them afterwards."""
        if not self.rules.rules:
            return
        # The lock keeps a batch from slipping in behind close()'s stop marker.
        with self._lock:
            try:
                if self._closed:
                    raise queue.Full
                self._queue.put_nowait((rows, items))
            except queue.Full:
                self.dropped += 1
            else:
                self.submitted += 1

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking batches, record those queued, and keep delivering until
        every webhook call is done or ``timeout`` seconds have passed; what is
        still undelivered then is recorded as failed."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._deadline = time.monotonic() + timeout
        with suppress(queue.Full):  # a full queue means a stuck thread; the deadline ends it
            self._queue.put(_STOP, timeout=timeout)
        self._thread.join(timeout + self.timeout_s + 1)

    # The loop on the sink's thread: take batches, and make each webhook call when due.
    def _run(self) -> None:
        stopping = False
        while True:
            now = time.monotonic()
            if stopping and (not self._pending or now >= self._deadline):
                break
            wait = max(0.0, self._pending[0][0] - now) if self._pending else None
            if stopping:
                wait = max(0.0, min(wait, self._deadline - now))
            try:
                batch = self._queue.get(timeout=wait)
            except queue.Empty:
                batch = None
            if batch is _STOP:
                stopping = True
            elif batch is not None:
                self._guard(self._record, *batch)
            self._guard(self._deliver_due)
        self._guard(self._abandon)

    def _guard(self, work: Callable, *args) -> None:
        try:
            work(*args)
        except Exception:
            self.errors += 1
            log.exception("alert processing failed")

    def _record(self, rows: list[dict], items: list[dict]) -> None:
        hits = self.rules.match(rows, items)
        if not hits:
            return
        card, now = self.card, _now()
        rules = [self.rules.by_name[name] for _, name in hits]
        records = [Record(alert=name, time=now, model=card.name, version=card.version,
                          entity=rows[i].get(card.entity) if card.entity else None,
                          prediction=items[i], input=rows[i],
                          delivery="pending" if rule.webhook else None)
                   for (i, name), rule in zip(hits, rules, strict=True)]
        ids = self.store.add(records)
        self.recorded += len(ids)
        for alert_id, record, rule in zip(ids, records, rules, strict=True):
            if rule.webhook:
                body = _json(_payload(alert_id, record)).encode()
                self._schedule(time.monotonic(), _Delivery(alert_id, rule, body))

    def _schedule(self, due: float, delivery: _Delivery) -> None:
        heapq.heappush(self._pending, (due, next(self._order), delivery))

    def _deliver_due(self) -> None:
        while self._pending and self._pending[0][0] <= time.monotonic():
            _, _, delivery = heapq.heappop(self._pending)
            self._guard(self._attempt, delivery)

    def _attempt(self, d: _Delivery) -> None:
        d.attempts += 1
        d.last_error, retry = post(d.rule.webhook, d.body, d.alert_id, self.timeout_s)
        if d.last_error is None:
            self.delivered += 1
            state = "delivered"
        elif retry and d.attempts <= d.rule.retries:
            state = "pending"
            delay = min(d.rule.backoff_s * 2 ** (d.attempts - 1), self.backoff_cap_s)
            self._schedule(time.monotonic() + delay, d)
        else:
            self.failed += 1
            state = "failed"
            log.warning("alert %s (id %d): webhook delivery failed after %d attempt(s): %s",
                        d.rule.name, d.alert_id, d.attempts, d.last_error)
        self.store.set_delivery(d.alert_id, state, d.attempts, d.last_error)

    def _abandon(self) -> None:
        while self._pending:
            _, _, d = heapq.heappop(self._pending)
            self.failed += 1
            self.store.set_delivery(d.alert_id, "failed", d.attempts,
                                    d.last_error or "the server stopped before delivery")


def _payload(alert_id: int, r: Record) -> dict:
    return {"id": alert_id, "time": r.time, "alert": r.alert,
            "model": {"name": r.model, "version": r.version}, "entity": r.entity,
            "prediction": r.prediction, "input": r.input}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect would turn the POST into a GET without the alert: treat it as an error.
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)  # honours the *_proxy variables
_DIRECT = urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}))


def post(url: str, body: bytes, alert_id: int, timeout_s: float) -> tuple[str | None, bool]:
    """POST one alert; (None, _) on a 2xx answer, else (error, worth retrying).
    Errors never contain the URL, which may hold a token."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": responses.JSON, "User-Agent": "shipyard-alerts",
        "X-Shipyard-Alert-Id": str(alert_id)})  # lets the receiver drop a repeated delivery
    opener = _DIRECT if _loopback(url) else _OPENER  # a proxy cannot reach our loopback
    try:
        with opener.open(request, timeout=timeout_s) as answer:
            answer.read()
        return None, False
    except urllib.error.HTTPError as exc:
        exc.close()
        if 300 <= exc.code < 400:
            return f"HTTP {exc.code} (redirects are not followed)", False
        return f"HTTP {exc.code}", exc.code >= 500 or exc.code == 429
    except urllib.error.URLError as exc:
        return f"cannot connect: {exc.reason}", True
    except TimeoutError:
        return f"no answer within {timeout_s:g} s", True
    except (OSError, HTTPException) as exc:
        return f"connection failed: {type(exc).__name__}: {exc}", True


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ----------------------------------------------------------------------------- routes

MAX_LIMIT = 1000


def routes(store: AlertStore, keys: Keys) -> list[Route]:
    """``GET /alerts?limit=&unacknowledged=true`` (a caller allowed to predict may
    read) and ``POST /alerts/{id}/ack`` (admin key; optional JSON body ``{"by": name}``)."""

    async def list_alerts(request: Request) -> Response:
        if denied := keys.check(request.scope["headers"], admin=False):
            return _refuse(denied)
        params = request.query_params
        limit = params.get("limit", "100")
        if not _whole(limit) or not 1 <= int(limit) <= MAX_LIMIT:
            return responses.error_response(
                400, f"limit must be a whole number from 1 to {MAX_LIMIT}, got {limit!r}")
        flag = params.get("unacknowledged", "false").lower()
        if flag not in ("true", "false", "1", "0"):
            return responses.error_response(
                400, f"unacknowledged must be true or false, got {flag!r}")
        found = await run_in_threadpool(store.list, int(limit), flag in ("true", "1"))
        return responses.json_response({"alerts": found})

    async def acknowledge(request: Request) -> Response:
        if denied := keys.check(request.scope["headers"], admin=True):
            return _refuse(denied)
        raw = request.path_params["id"]
        if not _whole(raw) or int(raw) > MAX_ID:
            return responses.error_response(404, f"no alert with id {raw[:40]!r}")
        by = await _ack_by(request)
        if isinstance(by, Response):
            return by
        if not await run_in_threadpool(store.acknowledge, int(raw), by):
            return responses.error_response(404, f"no alert with id {raw}")
        alert = await run_in_threadpool(store.get, int(raw))
        return responses.json_response({"alert": alert})

    return [Route("/alerts", list_alerts, methods=["GET"]),
            Route("/alerts/{id}/ack", acknowledge, methods=["POST"])]


async def _ack_by(request: Request) -> str | Response:
    """Who acknowledges: ``by`` in an optional JSON body, else "admin"."""
    body = await request.body()
    if not body.strip():
        return "admin"
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return responses.error_response(400, "the body must be JSON such as {\"by\": \"ana\"}")
    by = data.get("by") if isinstance(data, dict) else None
    if not isinstance(by, str) or not 0 < len(by) <= 100:
        return responses.error_response(
            400, "expected {\"by\": \"<who, 1 to 100 characters>\"} or an empty body")
    return by


MAX_ID = 2**63 - 1  # SQLite's INTEGER


def _whole(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts '²', which ``int`` refuses."""
    return text.isascii() and text.isdigit() and len(text) <= 30


def _refuse(denied: tuple[int, str]) -> Response:
    status, message = denied
    return responses.error_response(status, message, headers=headers_for(status))
