"""A real uvicorn server per model, on a free loopback port, for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from shipyard.card import LoadedModel
from shipyard.serve import create_app
from shipyard.serve.background import BackgroundServer

from .cases import MAX_BODY_BYTES, MAX_ROWS
from .models import binary_model, multiclass_model, regression_model


@dataclass
class Served:
    model: LoadedModel
    client: httpx.Client


@pytest.fixture(scope="session")
def served() -> Iterator[dict[str, Served]]:
    """One running server per model, by task; 'fragile' fails on unseen categories."""
    models = {
        "regression": regression_model(),
        "binary": binary_model(),
        "multiclass": multiclass_model(),
        "fragile": regression_model(handle_unknown="error"),
    }
    with serving(models) as clients:
        yield {task: Served(models[task], clients[task]) for task in models}


class serving:
    """Start a real server per model in background threads; stop them on exit."""

    def __init__(self, models: dict[str, LoadedModel]):
        self.models = models
        self.servers: list[BackgroundServer] = []
        self.clients: dict[str, httpx.Client] = {}

    def __enter__(self) -> dict[str, httpx.Client]:
        for task, model in self.models.items():
            app = create_app(model, max_rows=MAX_ROWS, max_body_bytes=MAX_BODY_BYTES)
            server = BackgroundServer(app).__enter__()
            self.servers.append(server)
            # trust_env=False: a proxy from the environment must not see loopback traffic
            self.clients[task] = httpx.Client(base_url=server.url, timeout=10, trust_env=False)
        return self.clients

    def __exit__(self, *exc) -> None:
        for client in self.clients.values():
            client.close()
        for server in self.servers:
            server.stop()
