"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import pg


@pytest.fixture(scope="session")
def postgres() -> Iterator[pg.Cluster]:
    """A throwaway PostgreSQL cluster for the session (see :mod:`tests.pg`). Without
    PostgreSQL the tests that need it fail: the suite promises to test on it."""
    try:
        cluster = pg.Cluster().start()
    except pg.Unavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield cluster
    cluster.stop()
