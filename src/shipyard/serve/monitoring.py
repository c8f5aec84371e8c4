"""Monitoring inside the server: a pass every ``monitor.interval`` seconds, and
its figures as Prometheus gauges.

With several workers, only the one that holds the workspace's monitor lock
runs the pass; every worker reads the latest saved pass for its gauges, so all
of them answer ``/metrics`` with the same drift scores.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

log = logging.getLogger("shipyard.serve")
CACHE_S = 5.0  # how long a worker trusts the latest pass it read


class LazyStore:
    """A LogStore opened on first use, and again after a failure: a log store that is
    down when the server starts must not keep it from starting."""

    def __init__(self, url: str):
        self.url = url
        self._store = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str):
        with self._lock:
            if self._store is None:
                from shipyard.monitor.store import LogStore

                self._store = LogStore(self.url)
            return getattr(self._store, name)

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


class Monitoring:
    """Runs passes on a thread (when ``interval`` > 0) and serves the latest one."""

    def __init__(self, project, workspace, store, state, interval: float):
        self.project, self.workspace, self.store = project, workspace, store
        self.state, self.interval = state, interval
        self.last_error: str | None = None
        self._latest: dict | None = None
        self._read_at = -CACHE_S
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_Collector(self))

    def start(self) -> None:
        if self.interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="shipyard-monitor",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.store.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_once()

    def run_once(self) -> dict | None:
        """A pass now, if no other worker is running one. Never raises."""
        lock = Path(self.workspace.root) / "monitor.lock"
        try:
            # the registry and the log may live elsewhere: the workspace folder may not exist
            lock.parent.mkdir(parents=True, exist_ok=True)
            with open(lock, "a+") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return None  # another worker is at it
                from shipyard import monitor

                result = monitor.check(self.project, self.workspace, store=self.store,
                                       model=self.state.engine.model)
        except Exception as exc:  # monitoring must never take the server down
            first = str(exc).splitlines()[0] if str(exc) else ""
            self.last_error = f"{type(exc).__name__}: {first}"
            log.warning("monitoring pass failed: %s", self.last_error)
            metrics = getattr(self.state, "metrics", None)
            if metrics is not None:
                metrics.count("monitor_failures")
            return None
        self.last_error = None
        self._latest, self._read_at = result.to_dict(), time.monotonic()
        return self._latest

    def latest(self) -> dict | None:
        if time.monotonic() - self._read_at >= CACHE_S:
            try:
                found = self.store.passes(limit=1)
            except Exception as exc:
                self.last_error = f"cannot read monitoring passes: {exc}"
                return self._latest
            self._latest = found[-1] if found else None
            self._read_at = time.monotonic()
        return self._latest

    def exposition(self) -> bytes:
        return generate_latest(self._registry)


class _Collector:
    def __init__(self, monitoring: Monitoring):
        self.monitoring = monitoring

    def collect(self):
        latest = self.monitoring.latest()
        if latest is None or latest.get("empty"):
            return
        drift = latest.get("drift") or {}
        version = str(latest.get("version"))
        dataset = GaugeMetricFamily("shipyard_dataset_drift",
                                    "1 when the latest monitoring pass found data set drift",
                                    labels=["version"])
        dataset.add_metric([version], float(bool(drift.get("dataset_drift"))))
        yield dataset
        share = GaugeMetricFamily("shipyard_drift_share", "Share of features that drifted",
                                  labels=["version"])
        share.add_metric([version], float(drift.get("share", 0.0)))
        yield share
        score = GaugeMetricFamily("shipyard_feature_drift",
                                  "Drift statistic per feature (p-value for tests, distance "
                                  "otherwise)", labels=["feature", "method"])
        psi = GaugeMetricFamily("shipyard_feature_psi", "Population stability index per feature",
                                labels=["feature"])
        drifted = GaugeMetricFamily("shipyard_feature_drifted", "1 when the feature drifted",
                                    labels=["feature"])
        for f in drift.get("features", []):
            score.add_metric([f["feature"], f["method"]], _number(f["statistic"]))
            psi.add_metric([f["feature"]], _number(f["psi"]))
            drifted.add_metric([f["feature"]], float(bool(f["drifted"])))
        yield from (score, psi, drifted)
        window = GaugeMetricFamily("shipyard_monitor_window_rows",
                                   "Logged rows in the latest monitoring pass")
        window.add_metric([], float(latest.get("rows", 0)))
        yield window
        live = GaugeMetricFamily("shipyard_live_metric",
                                 "Metric on the rows whose ground truth arrived",
                                 labels=["metric"])
        for name, value in ((latest.get("live") or {}).get("metrics") or {}).items():
            live.add_metric([name], float(value))
        yield live
        estimated = GaugeMetricFamily("shipyard_estimated_metric",
                                      "Metric estimated without labels (CBPE or DLE)",
                                      labels=["metric"])
        for name, value in (latest.get("estimated") or {}).items():
            estimated.add_metric([name], float(value))
        yield estimated
        yield from _outputs(latest.get("outputs") or {})
        prediction = latest.get("prediction_drift")
        if prediction:
            pd_gauge = GaugeMetricFamily("shipyard_prediction_drift",
                                         "Drift statistic of the model's outputs",
                                         labels=["method"])
            pd_gauge.add_metric([prediction["method"]], _number(prediction["statistic"]))
            yield pd_gauge


def _outputs(outputs: dict):
    """The distribution of the model's outputs in the latest window: a summary
    (quantiles, count and sum of the window's predicted values or scores), or the
    share of each predicted class."""
    if outputs.get("quantiles"):
        name = "shipyard_window_predictions"
        summary = Metric(name, "Predicted values (or scores) in the latest monitoring "
                               "window: quantiles, count and sum", "summary")
        for q, value in outputs["quantiles"].items():
            summary.add_sample(name, {"quantile": q}, float(value))
        if "count" in outputs:  # windows saved before count and sum were kept have neither
            summary.add_sample(f"{name}_count", {}, float(outputs["count"]))
            summary.add_sample(f"{name}_sum", {}, float(outputs["sum"]))
        yield summary
    share = GaugeMetricFamily("shipyard_prediction_class_share",
                              "Share of each predicted class in the latest monitoring window",
                              labels=["class"])
    for name, value in (outputs.get("shares") or {}).items():
        share.add_metric([name], float(value))
    yield share


def _number(value) -> float:
    """A figure of a saved pass; None (no values, or infinite) is NaN to Prometheus."""
    return float("nan") if value is None else float(value)
