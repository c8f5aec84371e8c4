"""The ground crew's console: a small HTTP service that receives Shipyard's alert
webhooks and shows the engines to inspect, by aircraft, on a web page where a
mechanic acknowledges them.

It stands for the airline's own maintenance system: it knows aircraft by tail
number and engines by position, which the model never sees, so it looks each
alerted engine up. Alerts for an engine that already has an open case update
that case (its latest prediction, and how many landings raised it); an
acknowledged case is closed, and a later alert opens a new one. Deliveries are
idempotent: Shipyard's ``X-Shipyard-Alert-Id`` is recorded, and a repeated one
is answered 200 and not counted twice.

Routes: ``POST /alerts`` (the webhook), ``GET /health``, ``GET /api/cases`` (``?state=open|all``),
``POST /api/cases/{id}/ack`` (JSON ``{"by": name}``, or the page's form), ``GET /``.
"""

from __future__ import annotations

import html
import json
import sqlite3
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from shipyard.serve.background import BackgroundServer

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    engine_id, aircraft_id, tail_number TEXT, position,
    alert TEXT NOT NULL,
    opened TEXT NOT NULL, last TEXT NOT NULL,
    alerts INTEGER NOT NULL DEFAULT 1,
    prediction REAL, explanation TEXT, model_version TEXT,
    acknowledged_at TEXT, acknowledged_by TEXT,
    anomaly REAL
);
CREATE TABLE IF NOT EXISTS received (alert_id INTEGER PRIMARY KEY, case_id INTEGER);
"""

Lookup = Callable[[object], dict | None]  # engine id -> {aircraft_id, tail_number, position}


class Cases:
    """The console's store: one SQLite file, used from the server's threads."""

    def __init__(self, path: Path, lookup: Lookup):
        self.path, self.lookup = Path(path), lookup
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.executescript(_SCHEMA)
        known = {row[1] for row in self._db.execute("PRAGMA table_info(cases)")}
        if "anomaly" not in known:  # a console file from before the anomaly detector
            self._db.execute("ALTER TABLE cases ADD COLUMN anomaly REAL")

    def receive(self, alert: dict, alert_id: int | None) -> int:
        """Record one delivered alert; the id of the case it opened or updated."""
        engine = alert.get("entity")
        item = alert.get("prediction") or {}
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            if alert_id is not None:
                seen = self._db.execute("SELECT case_id FROM received WHERE alert_id = ?",
                                        (alert_id,)).fetchone()
                if seen:
                    return seen[0]
            self._db.execute("BEGIN IMMEDIATE")
            try:
                case = self._db.execute(
                    "SELECT id FROM cases WHERE engine_id = ? AND alert = ? AND "
                    "acknowledged_at IS NULL", (engine, alert["alert"])).fetchone()
                detector = item.get("anomaly")  # the anomaly detector's answer, if served
                values = (item.get("prediction"), json.dumps(item.get("explanation")),
                          str((alert.get("model") or {}).get("version")),
                          detector.get("score") if isinstance(detector, dict) else None)
                if case:
                    case_id = case[0]
                    self._db.execute(
                        "UPDATE cases SET last = ?, alerts = alerts + 1, prediction = ?, "
                        "explanation = ?, model_version = ?, anomaly = ? WHERE id = ?",
                        (now, *values, case_id))
                else:
                    where = self.lookup(engine) or {}
                    case_id = self._db.execute(
                        "INSERT INTO cases (engine_id, aircraft_id, tail_number, position, "
                        "alert, opened, last, prediction, explanation, model_version, anomaly) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (engine, where.get("aircraft_id"), where.get("tail_number"),
                         where.get("position"), alert["alert"], now, now, *values)).lastrowid
                if alert_id is not None:
                    self._db.execute("INSERT INTO received VALUES (?, ?)", (alert_id, case_id))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return case_id

    def list(self, state: str = "open") -> list[dict]:
        where = "WHERE acknowledged_at IS NULL " if state == "open" else ""
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM cases {where}ORDER BY tail_number, "
                                    "position, engine_id, id").fetchall()
        return [{**dict(r), "explanation": json.loads(r["explanation"] or "null")}
                for r in rows]

    def acknowledge(self, case_id: int, by: str) -> bool:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            self._db.execute("UPDATE cases SET acknowledged_at = ?, acknowledged_by = ? "
                             "WHERE id = ? AND acknowledged_at IS NULL", (now, by, case_id))
            return self._db.execute("SELECT 1 FROM cases WHERE id = ?",
                                    (case_id,)).fetchone() is not None

    def received(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM received").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def app(cases: Cases) -> Starlette:
    """The console's HTTP app over ``cases``."""

    async def webhook(request: Request) -> Response:
        try:
            alert = json.loads(await request.body())
            if not isinstance(alert, dict) or "alert" not in alert:
                raise ValueError("expected a Shipyard alert object")
        except ValueError as exc:
            return JSONResponse({"error": f"not an alert: {exc}"}, status_code=400)
        header = request.headers.get("x-shipyard-alert-id")
        alert_id = int(header) if header and header.isdigit() else None
        return JSONResponse({"case": cases.receive(alert, alert_id)})

    async def listing(request: Request) -> Response:
        state = request.query_params.get("state", "open")
        if state not in ("open", "all"):
            return JSONResponse({"error": "state: expected open or all"}, status_code=400)
        return JSONResponse(cases.list(state))

    async def ack(request: Request) -> Response:
        case_id = int(request.path_params["case_id"])
        body = (await request.body()).decode(errors="replace")
        form = request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded")
        if form:
            by = (parse_qs(body).get("by") or ["ground crew"])[0]
        else:
            try:
                by = (json.loads(body) if body else {}).get("by") or "ground crew"
            except (ValueError, AttributeError):
                return JSONResponse({"error": "expected JSON {\"by\": name}"}, status_code=400)
        if not cases.acknowledge(case_id, str(by)[:100]):
            return JSONResponse({"error": f"no case {case_id}"}, status_code=404)
        if form:
            return RedirectResponse("/", status_code=303)
        return JSONResponse({"case": case_id, "acknowledged": True})

    async def page(request: Request) -> Response:
        return HTMLResponse(render(cases.list("open"), cases.list("all")))

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "received": cases.received()})

    return Starlette(routes=[
        Route("/health", health, methods=["GET"]),
        Route("/alerts", webhook, methods=["POST"]),
        Route("/api/cases", listing, methods=["GET"]),
        Route("/api/cases/{case_id:int}/ack", ack, methods=["POST"]),
        Route("/", page, methods=["GET"]),
    ])


def render(open_cases: list[dict], every: list[dict]) -> str:
    """The console's page: open cases by aircraft, the sensors behind each."""
    closed = len(every) - len(open_cases)
    rows = "".join(_row(c) for c in open_cases) or \
        '<tr><td colspan="8" class="none">No engine needs inspection.</td></tr>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ground crew: engines to inspect</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1b2733; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: .45rem .6rem; border-bottom: 1px solid #d6dde4; }}
th {{ background: #eef2f6; }} td.rul {{ font-weight: 600; color: #b3261e; }}
ul.why {{ margin: 0; padding-left: 1rem; }} .none {{ color: #5b6b7a; }}
button {{ padding: .3rem .8rem; }}
</style></head><body>
<h1>Engines to inspect</h1>
<p id="summary"><span id="open-count">{len(open_cases)}</span> open,
<span id="closed-count">{closed}</span> acknowledged. Each row is an engine that
Shipyard flagged when its aircraft landed: a short predicted life, or readings the
anomaly detector finds far from normal; with the sensors that weighed most in the
life prediction.</p>
<table id="cases"><thead><tr><th>Aircraft</th><th>Engine</th><th>Alert</th>
<th>Predicted RUL (flights)</th><th>Anomaly score</th><th>Where to look</th>
<th>Landings flagged</th><th></th>
</tr></thead><tbody>{rows}</tbody></table>
</body></html>"""


def _row(case: dict) -> str:
    e = html.escape
    why = case.get("explanation") or {}
    items = "".join(
        f'<li><b>{e(str(t["column"]))}</b> {t["contribution"]:+.1f} '
        f'<small>({e(str(t["feature"]))} = {t["value"]})</small></li>'
        for t in why.get("top", []))
    rul = "" if case["prediction"] is None else f"{case['prediction']:.0f}"
    odd = "" if case.get("anomaly") is None else f"{case['anomaly']:.2f}"
    return (f'<tr class="case" data-case="{case["id"]}" data-engine="{e(str(case["engine_id"]))}">'
            f'<td class="tail">{e(str(case["tail_number"] or "?"))}</td>'
            f'<td class="engine">#{case["position"] or "?"} · engine {e(str(case["engine_id"]))}'
            f'</td><td>{e(case["alert"])}</td><td class="rul">{rul}</td>'
            f'<td class="anomaly">{odd}</td>'
            f'<td><ul class="why">{items}</ul></td><td class="count">{case["alerts"]}</td>'
            f'<td><form method="post" action="/api/cases/{case["id"]}/ack">'
            f'<input type="hidden" name="by" value="mechanic">'
            f'<button type="submit">Acknowledge</button></form></td></tr>')


ENV = "SHIPYARD_GROUND_CREW"  # the demo project's alert webhook reads the console's URL here


@dataclass(frozen=True)
class Summary:
    url: str
    received: int  # alert deliveries
    cases: list[dict]  # every case, open or acknowledged
    acknowledged: list[int]  # case ids the demo's crew acknowledged through the API
    store: Path  # the console's SQLite file

    @property
    def open(self) -> list[dict]:
        return [c for c in self.cases if c["acknowledged_at"] is None]


class Ground:
    """The running console, as the demo uses it."""

    def __init__(self, server: BackgroundServer, cases: Cases):
        self.server, self.cases = server, cases
        self.acknowledged: list[int] = []

    @property
    def url(self) -> str:
        return self.server.url

    def inspect_most_urgent(self, n: int) -> list[int]:
        """Acknowledge the ``n`` open cases with the least predicted life, over the
        console's own API, as a mechanic's tablet would."""
        urgent = sorted(self.cases.list("open"), key=lambda c: c["prediction"])[:n]
        for case in urgent:
            request = urllib.request.Request(
                f"{self.url}/api/cases/{case['id']}/ack", method="POST",
                data=json.dumps({"by": "line maintenance"}).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as answer:
                answer.read()
            self.acknowledged.append(case["id"])
        return [c["id"] for c in urgent]

    def summary(self) -> Summary:
        return Summary(self.url, self.cases.received(), self.cases.list("all"),
                       list(self.acknowledged), self.cases.path)


@contextmanager
def console_for(project, workspace, port: int = 0) -> Iterator[Ground]:
    """Start the console (its store beside the workspace's) for the demo's fleet."""
    from shipyard.demo import traffic

    known: dict = {}

    def lookup(engine) -> dict | None:
        if engine not in known:  # a new engine (a new aircraft): read the fleet again
            known.update({r["engine_id"]: r for r in
                          traffic.directory(project).to_dict("records")})
        return known.get(engine)

    path = workspace.root / "ground_crew.db"
    path.unlink(missing_ok=True)  # each demo run starts with an empty console
    cases = Cases(path, lookup)
    try:
        with BackgroundServer(app(cases), project.serve.host, port) as server:
            yield Ground(server, cases)
    finally:
        cases.close()
