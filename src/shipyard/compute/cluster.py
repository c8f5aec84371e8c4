"""Reaching the Dask cluster a project's ``compute`` section names, or starting
one on this machine."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from shipyard.errors import ComputeError
from shipyard.spec import Compute

# Tasks are whole trials, folds or partitions: seconds each, so one thread per worker
# process keeps the GIL out of the way and the results independent of scheduling.
THREADS_PER_WORKER = 1


@contextmanager
def connect(compute: Compute | None) -> Iterator[object | None]:
    """A ``distributed.Client`` for ``compute`` for the duration of the block, or None
    when the work is to stay in this process. A ``local`` cluster is started (bound to
    127.0.0.1, no dashboard) and shut down at the end; a ``dask`` cluster is joined."""
    if compute is None:
        yield None
        return
    from distributed import Client, LocalCluster

    _quiet()
    if compute.backend == "local":
        workers = compute.workers or os.cpu_count() or 1
        # The scheduler always serves HTTP (health, metrics); on a free loopback port it
        # cannot collide with another cluster's 8787. The dashboard itself stays off.
        cluster = LocalCluster(n_workers=workers, threads_per_worker=THREADS_PER_WORKER,
                               processes=True, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0",
                               scheduler_kwargs={"dashboard": False})
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = Client(compute.address, timeout=compute.timeout)
    except (OSError, TimeoutError) as exc:
        raise ComputeError(f"No Dask scheduler answered at {compute.address} within "
                           f"{compute.timeout:g} s", details=[str(exc)[:300]],
                           hint="start one (`dask scheduler` and `dask worker ADDRESS`), fix "
                                "compute.address in the project file, or use backend: local"
                           ) from None
    with client:
        if not client.scheduler_info().get("workers"):
            raise ComputeError(f"The Dask scheduler at {compute.address} has no workers",
                               hint="start at least one: `dask worker ADDRESS`")
        yield client


def workers(client) -> int:
    """How many worker processes the cluster has now."""
    return len(client.scheduler_info().get("workers", {}))


def _quiet() -> None:
    # distributed logs every worker start and stop at INFO; a run's output is its bars.
    for name in ("distributed", "distributed.nanny", "distributed.scheduler",
                 "distributed.worker", "distributed.core", "distributed.http.proxy"):
        logging.getLogger(name).setLevel(logging.WARNING)
