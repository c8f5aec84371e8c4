"""Landings: as each aircraft lands, its ground system sends one raw reading per
engine to the stateful API, one request each.

The days are replayed in order. Within a day many clients send at once, as an
airline's stations would; each client looks after its own aircraft, so every
engine's readings still arrive in the order they were taken.
"""

from __future__ import annotations

import http.client
import math
import multiprocessing
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
import orjson
import pandas as pd

from shipyard.progress import Report

CLIENTS = 16  # ground systems sending at the same time


@dataclass(frozen=True)
class Landings:
    readings: int  # requests sent, one reading each
    answered: int  # 200s
    failed: list[str]  # what went wrong with the others (status and body, or the error)
    latency_ms: np.ndarray  # per request, as its client saw it
    items: pd.DataFrame  # each answered reading: engine, time, prediction, anomaly score

    @property
    def p50_ms(self) -> float:
        return _quantile(self.latency_ms, 0.5)

    @property
    def p99_ms(self) -> float:
        return _quantile(self.latency_ms, 0.99)


def land(url: str, rows: pd.DataFrame, columns: list[str], *, entity: str, time_column: str,
         aircraft: pd.Series, progress: Report, clients: int = CLIENTS) -> Landings:
    """Send every row of ``rows`` (raw readings, any order) to ``url``/predict, one per
    request, day by day; ``aircraft`` gives each row's aircraft, which decides the
    client that sends it.

    The clients run in a process of their own, as a ground system would: in the
    server's process they would take the interpreter's lock from it."""
    rows = rows.sort_values([time_column, entity], kind="stable").reset_index(drop=True)
    days = pd.to_datetime(rows[time_column]).dt.normalize()
    lane = aircraft.reindex(rows.index).to_numpy().astype(np.int64) % clients \
        if len(rows) else np.empty(0, dtype=np.int64)
    _, day_of = np.unique(days.to_numpy(), return_inverse=True)
    plan = [[np.flatnonzero((day_of == d) & (lane == k)) for k in range(clients)]
            for d in range(int(day_of.max()) + 1 if len(rows) else 0)]
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    said = context.Queue()
    child = context.Process(target=_fly, args=(url, _bodies(rows, columns), plan, said),
                            name="shipyard-landings", daemon=True)
    child.start()
    try:
        for n in range(len(plan)):
            _expect(said.get(timeout=600), "day", child)
            progress("Aircraft landing: one request per engine", n + 1, len(plan))
        latency, answers, failed = _expect(said.get(timeout=600), "done", child)
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
    done = [i for i, a in enumerate(answers) if a is not None]
    items = pd.DataFrame({entity: rows[entity].to_numpy()[done],
                          time_column: rows[time_column].to_numpy()[done],
                          "prediction": [answers[i][0] for i in done],
                          # the anomaly detector's, when one answers beside (serve.companions)
                          "anomaly_score": [answers[i][1] for i in done]})
    return Landings(len(rows), len(done), failed, latency[~np.isnan(latency)], items)


def _expect(message: tuple, kind: str, child) -> object:
    """The payload of the clients' next ``kind`` message; their failure raised here."""
    if message[0] != kind:
        why = message[1] if message[0] == "failed" else f"said {message[0]!r}, not {kind!r}"
        raise RuntimeError(f"the landing clients ({child.name}) failed: {why}")
    return message[1]


def _fly(url: str, bodies: list[bytes], plan: list[list[np.ndarray]], said) -> None:
    """The clients: each day, one thread per client sends its readings in order;
    ``said`` gets ("day", failures so far) after each day, then ("done", results)."""
    try:
        said.put(("done", _days(url, bodies, plan, said)))
    except BaseException as exc:
        said.put(("failed", f"{type(exc).__name__}: {exc}"))
        raise


def _days(url: str, bodies: list[bytes], plan: list[list[np.ndarray]], said
          ) -> tuple[np.ndarray, list, list[str]]:
    latency = np.full(len(bodies), math.nan)
    answers: list[tuple[float, float] | None] = [None] * len(bodies)
    failed: list[str] = []
    lock = threading.Lock()
    target = urlsplit(url)

    def send(indices: np.ndarray, conn_box: list) -> None:
        for i in indices:
            started = time.perf_counter()
            try:
                status, body = _post(conn_box, target, bodies[i])
            except (OSError, http.client.HTTPException) as exc:
                conn_box[0] = None
                with lock:
                    failed.append(f"reading {i}: {type(exc).__name__}: {exc}")
                continue
            latency[i] = (time.perf_counter() - started) * 1000
            if status == 200:
                item = orjson.loads(body)["predictions"][0]
                answers[i] = (item["prediction"],
                              item["anomaly"]["score"] if "anomaly" in item else math.nan)
            else:
                with lock:
                    failed.append(f"reading {i}: HTTP {status}: {body[:200].decode()}")

    connections = [[None] for _ in range(len(plan[0]) if plan else 0)]
    try:
        for lanes in plan:
            threads = [threading.Thread(target=send, args=(today, connections[k]))
                       for k, today in enumerate(lanes)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            said.put(("day", len(failed)))
    finally:
        for box in connections:
            if box[0] is not None:
                box[0].close()
    return latency, answers, failed


def _bodies(rows: pd.DataFrame, columns: list[str]) -> list[bytes]:
    """Each row as the JSON object a ground system sends: missing readings as null,
    times as ISO text, numbers exact (orjson writes floats round-trip)."""
    frame = rows[columns]
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [orjson.dumps(r, option=orjson.OPT_SERIALIZE_NUMPY, default=_plain)
            for r in records]


def _plain(value):
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot send {type(value).__name__}")


def _post(box: list, target, body: bytes) -> tuple[int, bytes]:
    """POST one body on the client's kept-alive connection (a new one when it broke)."""
    for attempt in (0, 1):
        if box[0] is None:
            box[0] = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        try:
            box[0].request("POST", "/predict", body=body,
                           headers={"Content-Type": "application/json"})
            answer = box[0].getresponse()
            return answer.status, answer.read()
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
            # A kept-alive connection the server had closed: reconnect once; the
            # reading was not taken (nothing was answered), so sending it again is safe.
            box[0].close()
            box[0] = None
            if attempt:
                raise
    raise AssertionError("unreachable")


def _quantile(values: np.ndarray, q: float) -> float:
    return float(np.quantile(values, q)) if len(values) else math.nan
