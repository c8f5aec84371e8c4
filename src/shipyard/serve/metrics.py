"""Prometheus metrics of a server: requests, latency, batches, shed load, reloads,
the model version, the alert sink's counters and the prediction log's.

Counting is plain Python arithmetic on the hot path: prometheus_client's
multi-process values write to a memory-mapped file on every update, which cost
more than scoring a row here. With several workers, each one writes a snapshot
of its numbers to a shared folder every second (and before answering
``/metrics``), and ``/metrics`` sums the snapshots of every worker that ever ran,
so counters never go backwards when a worker is replaced.
"""

from __future__ import annotations

import json
import os
import threading
import time
from bisect import bisect_left
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

LATENCY = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)
CONTENT_TYPE = CONTENT_TYPE_LATEST
SHARE_ENV = "SHIPYARD_METRICS_DIR"
ALERT_COUNTERS = ("submitted", "dropped", "recorded", "delivered", "failed", "errors")
LOG_OUTCOMES = ("written", "duplicate", "dropped", "failed")
LOG_FRESH_S = 5.0  # a worker's snapshot older than this (than the newest) says nothing of "up"

_COUNTERS = {
    "requests": ("HTTP requests answered", ["route", "status"]),
    "rows_scored": ("Rows scored", []),
    "shed": ("Requests refused with 503 (over queue or latency budget)", []),
    "reload_failures": ("Champion versions that failed to load", []),
    "history_failures": ("Readings refused with 503 because the history store failed", []),
    "monitor_failures": ("Monitoring passes that failed", []),
}
_HISTOGRAMS = {
    "request_seconds": ("Time to answer a request", ["route"], LATENCY),
    "batch_rows": ("Rows scored per model call", [], ROWS),
    "batch_seconds": ("Time per model call", [], LATENCY),
}


class Metrics:
    """One worker's numbers; ``exposition()`` gives every worker's, summed."""

    def __init__(self, share: str | None = None) -> None:
        self.counters: dict[str, dict[tuple, float]] = {name: {} for name in _COUNTERS}
        # name -> labels -> [bucket counts..., +Inf count, sum]
        self.histograms: dict[str, dict[tuple, list]] = {name: {} for name in _HISTOGRAMS}
        self.version = 0.0
        self.alerts = dict.fromkeys(ALERT_COUNTERS, 0)
        self.log = None  # the PredictionLog, read at each snapshot
        self._lock = threading.Lock()  # the scoring thread counts batches too
        share = share if share is not None else os.environ.get(SHARE_ENV)
        self._share = Path(share) if share else None
        if self._share is not None:
            threading.Thread(target=self._publish_forever, name="shipyard-metrics",
                             daemon=True).start()

    # ------------------------------------------------------------------ counting
    def answered(self, route: str, status: int, seconds: float) -> None:
        with self._lock:
            requests = self.counters["requests"]
            key = (route, str(status))
            requests[key] = requests.get(key, 0) + 1
            self._observe("request_seconds", (route,), seconds)

    def batch(self, rows: int, seconds: float) -> None:
        with self._lock:
            self._observe("batch_rows", (), rows)
            self._observe("batch_seconds", (), seconds)
            scored = self.counters["rows_scored"]
            scored[()] = scored.get((), 0) + rows

    def count(self, name: str) -> None:
        """One more of a label-less counter: ``shed`` or ``reload_failures``."""
        with self._lock:
            counter = self.counters[name]
            counter[()] = counter.get((), 0) + 1

    def set_version(self, version: str | None) -> None:
        try:
            self.version = float(version)
        except (TypeError, ValueError):
            self.version = 0.0

    def alert_counters(self, sink) -> None:
        self.alerts = {name: getattr(sink, name) for name in ALERT_COUNTERS}

    def _observe(self, name: str, labels: tuple, value: float) -> None:
        series = self.histograms[name]
        cells = series.get(labels)
        if cells is None:
            cells = series[labels] = [0] * (len(_HISTOGRAMS[name][2]) + 2)
        cells[bisect_left(_HISTOGRAMS[name][2], value)] += 1
        cells[-1] += value

    # ------------------------------------------------------------------ exposing
    def snapshot(self) -> dict:
        with self._lock:
            return {
                "counters": {n: [[list(k), v] for k, v in s.items()]
                             for n, s in self.counters.items()},
                "histograms": {n: [[list(k), list(v)] for k, v in s.items()]
                               for n, s in self.histograms.items()},
                "version": self.version, "alerts": dict(self.alerts), "time": time.time(),
                **({"log": _log_numbers(self.log)} if self.log is not None else {}),
            }

    def exposition(self) -> bytes:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self._all_snapshots()))
        return generate_latest(registry)

    def _all_snapshots(self) -> list[dict]:
        if self._share is None:
            return [self.snapshot()]
        self._publish()
        found = []
        for path in self._share.glob("*.json"):
            try:
                found.append(json.loads(path.read_text()))
            except (OSError, ValueError):  # a worker is replacing its file right now
                continue
        return found or [self.snapshot()]

    def _publish(self) -> None:
        self._share.mkdir(parents=True, exist_ok=True)
        mine = self._share / f"{os.getpid()}.json"
        partial = mine.with_suffix(".tmp")
        partial.write_text(json.dumps(self.snapshot()))
        partial.replace(mine)  # atomic: a reader sees the old file or the new one

    def _publish_forever(self) -> None:
        while True:
            time.sleep(1.0)
            try:
                self._publish()
            except OSError:
                continue


class _Collector:
    """Sums snapshots into Prometheus metric families."""

    def __init__(self, snapshots: list[dict]):
        self.snapshots = snapshots

    def collect(self):
        for name, (doc, labels) in _COUNTERS.items():
            family = CounterMetricFamily(f"shipyard_{name}", doc, labels=labels)
            for key, value in _summed(s["counters"].get(name, []) for s in self.snapshots):
                family.add_metric(list(key), value)
            yield family
        for name, (doc, labels, bounds) in _HISTOGRAMS.items():
            family = HistogramMetricFamily(f"shipyard_{name}", doc, labels=labels)
            for key, cells in _summed(s["histograms"].get(name, []) for s in self.snapshots):
                running, buckets = 0, []
                for bound, count in zip([*map(str, bounds), "+Inf"], cells[:-1], strict=True):
                    running += count
                    buckets.append((bound, running))
                family.add_metric(list(key), buckets, cells[-1])
            yield family
        newest = max(self.snapshots, key=lambda s: s["time"])
        yield GaugeMetricFamily("shipyard_model_version", "Version of the model being served",
                                value=newest["version"])
        alerts = GaugeMetricFamily("shipyard_alerts", "Alert sink counters, all workers",
                                   labels=["counter"])
        for counter in ALERT_COUNTERS:
            alerts.add_metric([counter], sum(s["alerts"].get(counter, 0) for s in self.snapshots))
        yield alerts
        yield from _log_families(self.snapshots)


def _log_numbers(log) -> dict:
    status = log.status()
    return {**{outcome: status[outcome] for outcome in LOG_OUTCOMES}, "up": int(status["ok"])}


def _log_families(snapshots: list[dict]):
    """Rows by outcome, summed over every worker that ever ran; up: 0 when the
    store fails for any worker that is still publishing."""
    logged = [s for s in snapshots if "log" in s]
    if not logged:
        return
    rows = CounterMetricFamily("shipyard_prediction_log_rows", "Prediction log rows, by outcome: "
                               "written, duplicate (id reused), dropped (queue full), "
                               "failed (never written)",
                               labels=["outcome"])
    for outcome in LOG_OUTCOMES:
        rows.add_metric([outcome], sum(s["log"][outcome] for s in logged))
    yield rows
    newest = max(s["time"] for s in logged)
    up = min(s["log"]["up"] for s in logged if s["time"] >= newest - LOG_FRESH_S)
    yield GaugeMetricFamily("shipyard_prediction_log_up",
                            "1 when the prediction log's store takes writes, else 0", value=up)


def _summed(per_snapshot) -> list[tuple[tuple, object]]:
    total: dict[tuple, object] = {}
    for pairs in per_snapshot:
        for key, value in pairs:
            key = tuple(key)
            if isinstance(value, list):
                have = total.get(key)
                total[key] = value if have is None else [a + b for a, b in
                                                         zip(have, value, strict=True)]
            else:
                total[key] = total.get(key, 0) + value
    return sorted(total.items())
