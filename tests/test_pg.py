"""The throwaway PostgreSQL the suite starts (tests/pg.py): on loopback, password
needed over TCP, each database fresh; and without PostgreSQL a clear failure."""

from __future__ import annotations

import psycopg
import pytest

from tests import pg


def test_the_cluster_listens_on_loopback_and_wants_a_password(postgres):
    assert postgres.sql("SHOW listen_addresses") == [("127.0.0.1",)]
    name = postgres.create_database()
    assert postgres.sql("SELECT current_user, current_database()", database=name,
                        user=pg.USER) == [(pg.USER, name)]
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host="127.0.0.1", port=postgres.port, user=pg.USER, password="no",
                        dbname=name).close()


def test_without_postgresql_the_fixture_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(pg, "INSTALLED", "/nonexistent/postgresql/*/bin/initdb")
    with pytest.raises(pg.Unavailable, match=r"not installed.*apt-get install postgresql"):
        pg.Cluster()
