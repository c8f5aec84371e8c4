"""Prometheus metrics of one server: requests, latency, batches, shed load, the
model version. With several worker processes, ``PROMETHEUS_MULTIPROC_DIR`` is
set before the workers start and ``/metrics`` sums over all of them."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """The server's instruments, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("shipyard_requests", "HTTP requests answered",
                                ["route", "status"], registry=r)
        self.latency = Histogram("shipyard_request_seconds", "Time to answer a request",
                                 ["route"], buckets=LATENCY, registry=r)
        self.batch_rows = Histogram("shipyard_batch_rows", "Rows scored per model call",
                                    buckets=ROWS, registry=r)
        self.batch_seconds = Histogram("shipyard_batch_seconds", "Time per model call",
                                       buckets=LATENCY, registry=r)
        self.rows = Counter("shipyard_rows_scored", "Rows scored", registry=r)
        self.shed = Counter("shipyard_shed", "Requests refused with 503 (over queue or budget)",
                            registry=r)
        self.version = Gauge("shipyard_model_version", "Version of the model being served",
                             registry=r, multiprocess_mode="mostrecent")
        self.reload_failures = Counter("shipyard_reload_failures",
                                       "Champion versions that failed to load", registry=r)
        self.alerts = Gauge("shipyard_alerts", "Alert sink counters of this process",
                            ["counter"], registry=r, multiprocess_mode="livesum")
        self._children: dict[tuple[str, int], tuple] = {}

    def answered(self, route: str, status: int, seconds: float) -> None:
        key = (route, status)
        children = self._children.get(key)
        if children is None:  # label lookups cost microseconds; keep the children
            children = (self.requests.labels(route, str(status)), self.latency.labels(route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def batch(self, rows: int, seconds: float) -> None:
        self.batch_rows.observe(rows)
        self.batch_seconds.observe(seconds)
        self.rows.inc(rows)

    def alert_counters(self, sink) -> None:
        for name in ("submitted", "dropped", "recorded", "delivered", "failed", "errors"):
            self.alerts.labels(name).set(getattr(sink, name))

    def exposition(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
