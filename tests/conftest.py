"""Fixtures shared by the whole suite: the real services the tests run against,
each started once per session on loopback and stopped at the end. Without one,
the tests that need it fail; they are never skipped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import dask_cluster, pg
from tests import mlflow_server as mlflow_process


@pytest.fixture(scope="session")
def postgres() -> Iterator[pg.Cluster]:
    """A throwaway PostgreSQL cluster (see :mod:`tests.pg`)."""
    try:
        cluster = pg.Cluster().start()
    except pg.Unavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def dask() -> Iterator[dask_cluster.Cluster]:
    """A Dask scheduler and two workers, each its own process (see
    :mod:`tests.dask_cluster`). Tests that kill workers start their own cluster."""
    try:
        cluster = dask_cluster.Cluster(workers=2).start()
    except dask_cluster.Unavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def mlflow_server() -> Iterator[mlflow_process.Server]:
    """A real ``mlflow server`` on loopback with a SQLite backend, its artifacts
    served through it (see :mod:`tests.mlflow_server`)."""
    try:
        server = mlflow_process.Server().start()
    except mlflow_process.Unavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()
