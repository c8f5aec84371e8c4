"""Adaptive micro-batching: requests that arrive together are scored together.

A request's rows join a queue and a flush is scheduled on the event loop. Every
request parsed before the flush runs joins the same batch, so under light load
a request is scored at once, alone, and under heavy load batches grow by
themselves (up to ``max_rows``) while the previous one is scored. With
``max_wait_ms`` > 0 the first request of a batch waits that long for company.

The queue is bounded: a request that would push it over ``queue_rows``, or
that has waited longer than ``budget_ms`` when its batch starts, is shed with
:class:`Overloaded` (503 with Retry-After), never left hanging.

Small batches on the ONNX path are scored on the event loop itself: a thread
hand-off costs more than scoring a few rows. Everything else is scored in one
worker thread, so the loop keeps answering while a slow pipeline works.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from shipyard.serve.engine import ONNX, Engine, finite
from shipyard.serve.inputs import Checked, to_batch
from shipyard.serve.predict import Scores
from shipyard.spec import Batching

INLINE_ROWS = 64  # ONNX batches up to this size are scored on the event loop


class Overloaded(Exception):
    """The server is over its queue or latency budget; the client should retry."""

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class _Job:
    engine: Engine
    batch: Checked
    future: asyncio.Future
    since: float = field(default_factory=time.perf_counter)


class Batcher:
    """Scores batches for the requests of one event loop (one worker process)."""

    def __init__(self, settings: Batching,
                 on_batch: Callable[[int, float], None] | None = None):
        self.max_rows = settings.max_rows
        self.max_wait = settings.max_wait_ms / 1000
        self.queue_rows = settings.queue_rows
        self.budget = settings.budget_ms / 1000
        self.on_batch = on_batch
        self._pending: list[_Job] = []
        self._pending_rows = 0
        self._busy = False  # a batch is being scored in the worker thread
        self._scheduled = False
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="shipyard-score")

    @property
    def queued_rows(self) -> int:
        return self._pending_rows

    async def score(self, engine: Engine, batch: Checked) -> Scores:
        """The scores of ``batch`` (a request's checked rows) by ``engine``, once its
        turn comes."""
        if self._pending_rows + batch.n_rows > self.queue_rows:
            raise Overloaded(f"server busy: {self._pending_rows} rows are waiting, "
                             f"at most {self.queue_rows}; retry shortly")
        loop = asyncio.get_running_loop()
        job = _Job(engine, batch, loop.create_future())
        self._pending.append(job)
        self._pending_rows += batch.n_rows
        self._schedule(loop)
        return await job.future

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._busy or self._scheduled or not self._pending:
            return
        self._scheduled = True
        if self.max_wait > 0:
            loop.call_later(self.max_wait, self._flush, loop)
        else:
            loop.call_soon(self._flush, loop)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        jobs = self._take()
        if not jobs:
            self._schedule(loop)
            return
        rows = sum(job.batch.n_rows for job in jobs)
        if jobs[0].engine.path == ONNX and not jobs[0].engine.stateful and rows <= INLINE_ROWS:
            _deliver(jobs, _run(jobs, self.on_batch))
            self._schedule(loop)
            return
        self._busy = True
        done = loop.run_in_executor(self._thread, _run, jobs, self.on_batch)
        done.add_done_callback(lambda f: self._finished(loop, jobs, f))

    def _finished(self, loop, jobs: list[_Job], done: asyncio.Future) -> None:
        self._busy = False
        if done.cancelled():
            for job in jobs:
                _settle(job, exc=Overloaded("server shutting down"))
        elif done.exception() is not None:
            for job in jobs:
                _settle(job, exc=done.exception())
        else:
            _deliver(jobs, done.result())
        self._schedule(loop)

    def _take(self) -> list[_Job]:
        """The next batch: queued jobs of one engine, oldest first, up to ``max_rows``
        rows (a larger single request goes alone). Jobs over budget are shed."""
        now = time.perf_counter()
        taken, rows, kept = [], 0, []
        engine = None
        for job in self._pending:
            if job.future.done():  # the client went away
                self._pending_rows -= job.batch.n_rows
                continue
            if now - job.since > self.budget:
                self._pending_rows -= job.batch.n_rows
                waited = (now - job.since) * 1000
                _settle(job, exc=Overloaded(
                    f"server busy: the request waited {waited:.0f} ms, over the "
                    f"{self.budget * 1000:.0f} ms budget; retry shortly"))
                continue
            fits = not taken or rows + job.batch.n_rows <= self.max_rows
            if fits and (engine is None or job.engine is engine):
                engine = job.engine
                taken.append(job)
                rows += job.batch.n_rows
                self._pending_rows -= job.batch.n_rows
            else:
                kept.append(job)
        self._pending = kept
        return taken


def _run(jobs: list[_Job], on_batch) -> list[Scores | BaseException]:
    """Score the jobs as one batch; if that fails, each alone, so that one bad
    request cannot fail the others."""
    started = time.perf_counter()
    engine = jobs[0].engine
    try:
        scores = engine.score(to_batch([job.batch for job in jobs], engine.card.schema))
        finite(scores)
        out: list[Scores | BaseException] = _split(scores, [j.batch.n_rows for j in jobs])
    except Exception as exc:
        out = [exc] if len(jobs) == 1 else [_alone(engine, job.batch) for job in jobs]
    if on_batch is not None:
        on_batch(sum(j.batch.n_rows for j in jobs), time.perf_counter() - started)
    return out


def _alone(engine: Engine, batch: Checked) -> Scores | BaseException:
    try:
        scores = engine.score(to_batch([batch], engine.card.schema))
        finite(scores)
        return scores
    except Exception as exc:
        return exc


def _split(scores: Scores, sizes: list[int]) -> list[Scores]:
    if len(sizes) == 1:
        return [scores]
    out, start = [], 0
    for n in sizes:
        part = slice(start, start + n)
        out.append(Scores(values=None if scores.values is None else scores.values[part],
                          proba=None if scores.proba is None else scores.proba[part],
                          extra=None if scores.extra is None else scores.extra[part],
                          features=None if scores.features is None else
                          {k: v[part] for k, v in scores.features.items()}))
        start += n
    return out


def _deliver(jobs: list[_Job], results: list) -> None:
    for job, result in zip(jobs, results, strict=True):
        if isinstance(result, BaseException):
            _settle(job, exc=result)
        else:
            _settle(job, result=result)


def _settle(job: _Job, result=None, exc: BaseException | None = None) -> None:
    if job.future.done():
        return
    if exc is not None:
        job.future.set_exception(exc)
    else:
        job.future.set_result(result)
