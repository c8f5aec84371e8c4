"""The prediction log's writer in a server: predictions off the hot path.

The hot path calls :meth:`PredictionLog.submit`, which appends the request to a
bounded in-memory queue and returns (no lock, no I/O, no encoding). A thread
wakes every ``interval_s``, turns the queued requests into rows and writes them
to the :class:`~shipyard.monitor.store.LogStore` in one transaction per batch.
When the store is down the server keeps serving: the thread keeps the batch,
retries with exponential backoff, and says so in :meth:`status` (``/health``)
and the metrics; once the queue is full, new predictions are dropped, counted.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from shipyard.monitor.store import LogStore, StoreError

log = logging.getLogger("shipyard.serve")


@dataclass
class _Flush:
    """A marker in the queue: set once everything queued before it is written."""

    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False


class PredictionLog:
    """Writes served predictions to the store at ``url`` on its own thread.

    Counters, in rows: ``written``, ``duplicate`` (an id already logged: a client
    that reused its X-Request-ID), ``dropped`` (the queue was full or the log
    closed), ``failed`` (given up: still unwritten when the log closed).
    ``submit`` must be called from one thread (the event loop's): its counters
    are not locked.
    """

    def __init__(self, url: str, *, interval_s: float = 0.2, batch_rows: int = 5000,
                 max_queued_rows: int = 100_000, backoff_cap_s: float = 10.0, opener=LogStore):
        self.url = url
        self.interval_s, self.batch_rows = interval_s, batch_rows
        self.max_queued_rows, self.backoff_cap_s = max_queued_rows, backoff_cap_s
        self.written = self.duplicate = self.dropped = self.failed = 0
        self.ok = True
        self.error: str | None = None
        self._opener = opener
        self._store: LogStore | None = None
        self._store_lock = threading.Lock()
        self._queue: deque = deque()
        self._queued_in = 0  # rows put on the queue: only submit() adds
        self._queued_out = 0  # rows taken off it: only the thread adds
        self._wake = threading.Event()
        self._closed = False
        self._deadline = math.inf  # when closing: stop retrying then
        self._thread = threading.Thread(target=self._run, name="shipyard-prediction-log",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ hot path
    def submit(self, base: str, ts: float, version: str | None, rows: list,
               items: list[dict], latency_s: float, private: tuple[str, ...] = ()) -> None:
        """Hand over one answered request (ids ``base-0``, ``base-1``...); returns at
        once and never raises. The lists are kept, not copied. The ``private`` inputs
        (personal data) are left out of what is written."""
        n = len(rows)
        if self._closed or self._queued_in - self._queued_out + n > self.max_queued_rows:
            self.dropped += n
            return
        self._queued_in += n
        self._queue.append((base, ts, version, rows, items, latency_s, private))

    # ------------------------------------------------------------------ the rest
    def flush(self, timeout: float = 5.0) -> bool:
        """Write everything submitted so far; True once it is in the store, False
        if the store failed or ``timeout`` passed first."""
        if self._closed:
            return not self._queue
        marker = _Flush()
        self._queue.append(marker)
        self._wake.set()
        return marker.done.wait(timeout) and marker.ok

    def store(self) -> LogStore:
        """The store, opened if need be (raises :class:`StoreError` if it cannot be)."""
        with self._store_lock:
            if self._store is None:
                self._store = self._opener(self.url)
            return self._store

    def status(self) -> dict:
        return {"ok": self.ok, "error": self.error, "written": self.written,
                "duplicate": self.duplicate, "dropped": self.dropped, "failed": self.failed,
                "queued": self._queued_in - self._queued_out}

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking predictions and write those queued (for up to ``timeout``
        seconds); what is still unwritten then counts as failed."""
        if self._closed:
            return
        self._deadline = time.monotonic() + timeout
        self._closed = True
        self._wake.set()
        self._thread.join(timeout + 1)
        with self._store_lock:
            if self._store is not None:
                self._store.close()

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        pending: list[dict] = []  # rows taken off the queue, not yet written
        markers: list[_Flush] = []
        failures = 0
        self._try(self.store)  # early, so /health tells at once if it is down
        while True:
            wait = self.interval_s if failures == 0 else \
                min(self.interval_s * 2 ** failures, self.backoff_cap_s)
            self._wake.wait(max(0.0, min(wait, self._deadline - time.monotonic())))
            self._wake.clear()
            while True:  # write batches until the queue is empty or the store fails
                self._take(pending, markers)
                if pending:
                    if not self._try(self._write, pending):
                        failures += 1
                        _release(markers, False)
                        break
                    failures = 0
                    pending = []
                _release(markers, True)
                if not self._queue:
                    break
            # Closing: done when all is written, or at once when the store fails (one
            # more try while it is down would only delay the server's exit).
            if self._closed and (not self._queue and not pending or failures
                                 or time.monotonic() >= self._deadline):
                break
        self._abandon(pending, markers)

    def _take(self, pending: list[dict], markers: list[_Flush]) -> None:
        queue = self._queue
        while queue and len(pending) < self.batch_rows:
            entry = queue.popleft()
            if isinstance(entry, _Flush):
                markers.append(entry)
                continue
            base, ts, version, rows, items, latency_s, private = entry
            latency_ms = latency_s * 1000.0
            if private:
                rows = [{k: v for k, v in row.items() if k not in private} for row in rows]
            for i, (row, item) in enumerate(zip(rows, items, strict=True)):
                score = item.get("probability", item.get("score"))
                pending.append({"request_id": f"{base}-{i}", "ts": ts, "model_version": version,
                                "features": row, "prediction": item["prediction"],
                                "score": score, "latency_ms": latency_ms})
            self._queued_out += len(rows)

    def _write(self, pending: list[dict]) -> None:
        written = self.store().write_predictions(pending)
        self.written += written
        self.duplicate += len(pending) - written

    def _try(self, work, *args) -> bool:
        try:
            work(*args)
        except StoreError as exc:
            self._failed(exc.headline + (f": {exc.details[0]}" if exc.details else ""))
            return False
        except Exception as exc:  # a bug must not stop the thread: logged, retried
            log.exception("the prediction log failed")
            self._failed(f"{type(exc).__name__}: {exc}")
            return False
        if not self.ok:
            log.warning("the prediction log at %s works again", self.url_shown)
        self.ok, self.error = True, None
        return True

    def _failed(self, error: str) -> None:
        if self.ok or error != self.error:
            log.warning("the prediction log cannot be written (predictions are still served): "
                        "%s", error)
        self.ok, self.error = False, error
        with self._store_lock:  # reopen next time: the connection may be what broke
            if self._store is not None:
                self._store.close()
                self._store = None

    def _abandon(self, pending: list[dict], markers: list[_Flush]) -> None:
        left = len(pending)
        while self._queue:
            entry = self._queue.popleft()
            if isinstance(entry, _Flush):
                markers.append(entry)
            else:
                left += len(entry[3])
        if left:
            log.warning("the prediction log stopped with %d rows unwritten", left)
        self.failed += left
        _release(markers, left == 0)

    @property
    def url_shown(self) -> str:
        from shipyard.monitor.engines import shown

        return shown(self.url)


def _release(markers: list[_Flush], ok: bool) -> None:
    for marker in markers:
        marker.ok = ok
        marker.done.set()
    markers.clear()
