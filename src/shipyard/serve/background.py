"""Serve an app from a background thread: for the demo, which keeps working
while its API answers, and for tests, which talk to a real server."""

from __future__ import annotations

import signal
import socket
import threading
import time
import urllib.error
import urllib.request

import uvicorn
from starlette.applications import Starlette


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class BackgroundServer:
    """A real uvicorn server on ``host:port`` (0 picks a free port), started on
    ``__enter__`` once ``/health`` answers, stopped on ``__exit__``."""

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0,
                 startup_timeout: float = 30.0):
        self.app, self.host, self.port = app, host, port
        self.startup_timeout = startup_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> BackgroundServer:
        # A socket bound here avoids a race for the port. IPPROTO_TCP must be explicit:
        # asyncio sets TCP_NODELAY only then; without it each answer waits ~40 ms for a
        # delayed ACK.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((self.host, self.port))
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="auto", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        self._wait_until_up()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()

    def wait(self) -> None:
        """Block until the server stops, the user presses Ctrl-C or SIGTERM arrives."""
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server at {self.url} did not start")
            time.sleep(0.02)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
