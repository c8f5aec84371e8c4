"""Running one stage's pieces of work on the cluster: inputs every task needs are
copied to each worker once, each task runs on one thread, and results are taken in
the order the tasks were given, so what the caller sees never depends on which
worker finished first."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import uuid4


@dataclass(frozen=True)
class Shared:
    """A value every worker holds a copy of; tasks take this handle and read the
    value on the worker. Not a task dependency (scattered data): Dask's memory manager
    keeps a single copy of data no waiting task needs, and tasks then crowd onto the
    worker holding it. Here every worker has its own, so tasks go wherever a core is
    free."""

    key: str

    def value(self) -> Any:
        return _COPIES[self.key]


class _Copy:
    """A worker plugin: the scheduler hands it to every worker, those that join later
    too (a lost worker's replacement), and each keeps the value until it is removed."""

    def __init__(self, key: str, value: Any) -> None:
        self.key, self.value = key, value

    def setup(self, worker) -> None:
        _COPIES[self.key] = self.value

    def teardown(self, worker) -> None:
        _COPIES.pop(self.key, None)


_COPIES: dict[str, Any] = {}  # on a worker: the values of the Shared handles


@contextmanager
def share(client, values: dict[str, Any]) -> Iterator[dict[str, Shared]]:
    """``values`` copied to every worker for the duration of the block, by name."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class Copy(_Copy, WorkerPlugin):
        pass

    tag = uuid4().hex[:8]
    handles = {name: Shared(f"shipyard-{name}-{tag}") for name in values}
    for name, handle in handles.items():
        client.register_plugin(Copy(handle.key, values[name]), name=handle.key)
    try:
        yield handles
    finally:
        for handle in handles.values():
            client.unregister_worker_plugin(handle.key)


def in_order(client, label: str, fn: Callable, items: Iterable, *args: Any) -> Iterator:
    """``fn(item, *args)`` for every item, all submitted at once, yielded in the
    items' order. An exception a task raised is raised here, as the item's. When the
    caller stops early (a pruned trial), the tasks not yet taken are cancelled.

    A worker lost mid-task is not an error: the scheduler runs its tasks again on
    another worker (up to ``distributed.scheduler.allowed-failures`` times)."""
    tag = uuid4().hex[:8]
    # Keys name the work ("shipyard-fold-<run>-<i>") in the scheduler and its task
    # stream; unique per call, so nothing is taken from an earlier call's results.
    futures = [client.submit(_one_thread, fn, item, *args, key=f"shipyard-{label}-{tag}-{i}",
                             pure=False)
               for i, item in enumerate(items)]
    try:
        for future in futures:
            yield future.result()
    finally:
        left = [f for f in futures if not f.done()]
        if left:
            client.cancel(left)


def _one_thread(fn: Callable, *args: Any) -> Any:
    """A worker runs one task per thread; native thread pools (BLAS, OpenMP) inside a
    task are held to one thread too, so tasks do not fight for the worker's cores."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return fn(*args)
