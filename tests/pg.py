"""A throwaway PostgreSQL cluster for the tests, on loopback, gone at the end.

It comes from Debian's ``postgresql`` package (``make test`` installs it): the
newest ``/usr/lib/postgresql/<version>/bin``. initdb refuses to run as root, so
as root the cluster belongs to the ``postgres`` user (``runuser``); as anyone
else it belongs to the current user. Local-socket connections are trusted (the
tests' superuser, for setup and for killing backends); TCP needs a password
(scram-sha-256), so the tests can use real credentials and wrong ones.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
import sqlalchemy as sa

USER, PASSWORD = "shipyard", "shipyard-test-pw"
SUPERUSER = "postgres"
INSTALLED = "/usr/lib/postgresql/*/bin/initdb"
# Durability buys nothing in a cluster deleted at the end; skipping it keeps start-up
# and the tests' writes fast on a shared 2-core machine.
SERVER_OPTIONS = ("-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                  "-c full_page_writes=off -c shared_buffers=32MB -c max_connections=60")


class Unavailable(RuntimeError):
    """PostgreSQL is not installed or its cluster would not start."""


def binaries() -> Path:
    """The newest installed PostgreSQL's bin folder."""
    found = glob.glob(INSTALLED)
    if not found:
        raise Unavailable(f"PostgreSQL is not installed: nothing matches {INSTALLED}. "
                          "`make test` installs it (apt-get install postgresql).")
    return Path(max(found, key=lambda p: [int(n) for n in re.findall(r"\d+", p)])).parent


class Cluster:
    """One initdb'd cluster in a temporary folder; ``start()``, then ``stop()``."""

    def __init__(self) -> None:
        self.bin = binaries()
        self.root = Path(tempfile.mkdtemp(prefix="shipyard-pg-"))  # also the socket folder
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self.owner = SUPERUSER if os.geteuid() == 0 else None

    def start(self) -> Cluster:
        try:
            os.chmod(self.root, 0o755)
            if self.owner:
                shutil.chown(self.root, self.owner, self.owner)
            self._run("initdb", "-D", self.data, "-U", SUPERUSER, "--auth-local=trust",
                      "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
                      "--no-sync", "--no-instructions")
            self._listen()
            self.sql(f"CREATE ROLE {USER} LOGIN CREATEDB PASSWORD '{PASSWORD}'")
            self.create_database(USER)
        except BaseException:
            self.stop()
            raise
        return self

    def _listen(self) -> None:
        # A free port can be taken between finding it and binding it: try another.
        for attempt in range(3):
            self.port = free_port()
            try:
                self._run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "30", "-o",
                          f"-p {self.port} -k {self.root} {SERVER_OPTIONS}", "start")
                return
            except Unavailable:
                if attempt == 2:
                    raise

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    # ---------------------------------------------------------------- for the tests
    def url(self, database: str = USER, *, user: str = USER, password: str = PASSWORD,
            port: int | None = None, **query: str) -> str:
        """A ``postgresql+psycopg://`` URL over TCP, as a project file would give it."""
        extra = "&".join(f"{k}={v}" for k, v in query.items())
        return (f"postgresql+psycopg://{user}:{password}@127.0.0.1:{port or self.port}/"
                f"{database}" + (f"?{extra}" if extra else ""))

    def create_database(self, name: str | None = None) -> str:
        """A new, empty database owned by the tests' user; its name."""
        name = name or f"db_{uuid.uuid4().hex[:12]}"
        self.sql(f'CREATE DATABASE "{name}" OWNER {USER}')
        return name

    def sql(self, statement: str, params=None, database: str = "postgres",
            user: str = SUPERUSER) -> list[tuple]:
        """Run one statement over the socket (trusted: no password), by default as
        the superuser; its rows, if any."""
        with psycopg.connect(host=str(self.root), port=self.port, user=user,
                             dbname=database, autocommit=True) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def engine(self, database: str = USER) -> sa.Engine:
        """A SQLAlchemy engine as the tests' user; dispose of it when done."""
        return sa.create_engine(self.url(database))

    def terminate(self, application_name: str) -> int:
        """Kill the backends of one application (a dropped connection, for real)."""
        return len(self.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = %s AND pid <> pg_backend_pid()",
                            [application_name]))

    def _run(self, tool: str, *args, check: bool = True) -> None:
        command = [str(self.bin / tool), *map(str, args)]
        if self.owner:
            command = ["runuser", "-u", self.owner, "--", *command]
        # cwd: the postgres user may not be allowed into the caller's folder
        done = subprocess.run(command, cwd=self.root, capture_output=True, text=True,
                              timeout=90, check=False)
        if check and done.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise Unavailable(f"{tool} failed ({done.returncode}): {done.stderr.strip()}\n"
                              f"{done.stdout.strip()}\n{log}".strip())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
