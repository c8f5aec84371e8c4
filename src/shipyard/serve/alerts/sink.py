"""The background sink: match scored batches, store alerts, post them to webhooks."""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import logging
import math
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.client import HTTPException
from urllib.parse import urlsplit

import pandas as pd

from shipyard.card import ModelCard
from shipyard.serve import responses
from shipyard.serve.alerts.rules import Rule, Rules
from shipyard.serve.alerts.store import AlertStore, Record, to_json, utc_now
from shipyard.serve.explain import explainer_for

log = logging.getLogger("shipyard.serve.alerts")


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
        self._explainers: dict = {}
        self._scheduled = 0  # webhook deliveries begun; each ends delivered or failed
        self._thread = threading.Thread(target=self._run, name="shipyard-alerts", daemon=True)
        self._thread.start()

    def submit(self, rows: list[dict], items: list[dict], model=None,
               features: dict | None = None) -> None:
        """Hand over a scored batch; returns at once and never raises. The lists
        are kept, not copied: the caller must not change them afterwards. With the
        ``model`` that scored it (and the series ``features`` stateful serving
        computed), each alert carries the explanation of its prediction."""
        if not self.rules.rules:
            return
        # The lock keeps a batch from slipping in behind close()'s stop marker.
        with self._lock:
            try:
                if self._closed:
                    raise queue.Full
                self._queue.put_nowait((rows, items, model, features))
            except queue.Full:
                self.dropped += 1
            else:
                self.submitted += 1

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every submitted batch is recorded and every webhook call made
        (delivered, or failed after its retries); False if ``timeout`` ran out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._queue.unfinished_tasks and \
                    self.delivered + self.failed >= self._scheduled:
                return True
            time.sleep(0.02)
        return False

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
            if batch is not None:
                self._queue.task_done()
            self._guard(self._deliver_due)
        self._guard(self._abandon)

    def _guard(self, work: Callable, *args) -> None:
        try:
            work(*args)
        except Exception:
            self.errors += 1
            log.exception("alert processing failed")

    def _record(self, rows: list[dict], items: list[dict], model=None,
                features: dict | None = None) -> None:
        hits = self._repeats_dropped(self.rules.match(rows, items), rows, model)
        if not hits:
            return
        card, now = (model.card if model is not None else self.card), utc_now()
        said = self._explained(model, rows, items, features, sorted({i for i, _ in hits}))
        rules = [self.rules.by_name[name] for _, name in hits]
        records = [Record(alert=name, time=now, model=card.name, version=card.version,
                          entity=rows[i].get(card.entity) if card.entity else None,
                          prediction=said.get(i, items[i]), input=rows[i],
                          delivery="pending" if rule.webhook else None)
                   for (i, name), rule in zip(hits, rules, strict=True)]
        ids = self.store.add(records)
        self.recorded += len(ids)
        for alert_id, record, rule in zip(ids, records, rules, strict=True):
            if rule.webhook:
                body = to_json(_payload(alert_id, record)).encode()
                self._scheduled += 1
                self._schedule(time.monotonic(), _Delivery(alert_id, rule, body))

    def _repeats_dropped(self, hits: list[tuple[int, str]], rows: list[dict],
                         model) -> list[tuple[int, str]]:
        """``hits`` without the entities that raised the same alert within its
        ``repeat_after`` (in the store, or earlier in this batch)."""
        entity = (model.card if model is not None else self.card).entity
        quiet = {name for _, name in hits if self.rules.by_name[name].repeat_after_s}
        if not quiet or not entity:
            return hits
        now = datetime.now(UTC)
        recent = {name: self.store.raised_since(
            name, list({rows[i].get(entity) for i, n in hits if n == name}),
            (now - timedelta(seconds=self.rules.by_name[name].repeat_after_s)).isoformat(
                timespec="milliseconds")) for name in quiet}
        kept = []
        for i, name in hits:
            if name in quiet:
                key = _key(rows[i].get(entity))
                if key in recent[name]:
                    continue
                recent[name].add(key)
            kept.append((i, name))
        return kept

    def _explained(self, model, rows, items, features, hit: list[int]) -> dict[int, dict]:
        """Row index -> its answer item with an ``explanation``, for the rows that
        raised alerts (none when the model gives no exact contributions)."""
        explainer = self._explainer(model)
        if explainer is None:
            return {}
        try:
            if features is not None:
                frame = pd.DataFrame({k: v[hit] for k, v in features.items()})
                said = explainer.explain(frame, after_series=True)
            else:
                said = explainer.explain(model.card.schema.model_frame(
                    pd.DataFrame([rows[i] for i in hit])))
        except Exception:  # an alert without its explanation beats no alert
            self.errors += 1
            log.exception("explaining %d alerted row(s) failed", len(hit))
            return {}
        return {i: {**items[i], "explanation": e} for i, e in zip(hit, said, strict=True)}

    def _explainer(self, model):
        if model is None:
            return None
        if self._explainers.get("model") is not model:  # one version at a time
            self._explainers = {"model": model, "explainer": explainer_for(model)}
        return self._explainers["explainer"]

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


def _key(entity):
    """An entity as the store gives it back (JSON text for anything but a plain value)."""
    return entity if entity is None or isinstance(entity, int | float | str) else to_json(entity)


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


