"""The live dashboard in a real browser: a registered binary classifier served by
a real uvicorn server that logs its predictions to a real SQLite prediction log,
real monitoring passes over them, and headless Chromium (Debian's, driven by
Playwright) reading the page. The charts must show the numbers /dashboard/data
gives, and those must be the predictions that were sent."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import sync_playwright
from sklearn.metrics import roc_auc_score

from shipyard import monitor, registry
from shipyard.card import LoadedModel
from shipyard.monitor import reference
from shipyard.monitor.store import LogStore
from shipyard.serve import create_app
from shipyard.serve.auth import Keys
from shipyard.serve.background import BackgroundServer
from shipyard.serve.dashboard import routes
from shipyard.serve.log import PredictionLog
from shipyard.spec.serving import Auth
from shipyard.workspace import Workspace
from tests.helpers import project

from .models import SCHEMA, TRAIN_ROWS, binary_model, raw_rows, score

NAME = "churn"
SENT = (60, 60)  # predictions before the first pass, then shifted ones before the second
LABELLED = 40
KEY = "dashboard-test-key-0123456789"
SCREENSHOT = Path(tempfile.gettempdir()) / "shipyard-dashboard" / "dashboard.png"
CHARTS = ("traffic", "latency", "drift", "features", "performance")
CHROMIUM = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]


def labels(rows: list[dict]) -> np.ndarray:
    return np.where(score(rows) > np.median(score(TRAIN_ROWS)), "Yes", "No")


def shifted(rows: list[dict]) -> list[dict]:
    """Older, richer customers, all in Nice: a real shift of three inputs."""
    return [{**r, "age": None if r["age"] is None else r["age"] + 25,
             "income": None if r["income"] is None else r["income"] + 40, "city": "Nice"}
            for r in rows]


def register(ws: Workspace) -> LoadedModel:
    """The binary model with its holdout metrics and monitoring reference, registered
    twice (so there is a history), and loaded back as the champion."""
    model = binary_model()
    holdout_rows = raw_rows(300, seed=7)
    X = SCHEMA.model_frame(pd.DataFrame(holdout_rows))
    truth = labels(holdout_rows)
    predictions, scores = reference.outputs(model.pipeline, X, model.card)
    auc = float(roc_auc_score(truth == "Yes", scores))
    card = dataclasses.replace(model.card, metrics={"roc_auc": auc})
    ref = reference.build(SCHEMA.model_frame(pd.DataFrame(TRAIN_ROWS)), X, predictions, scores,
                          truth)
    for _ in range(2):
        with registry.open_run(ws, NAME) as run:
            run.log_metrics({"holdout_roc_auc": auc})
            run.log_model(model.pipeline, card, X.head(3), registry.requirements())
            run.log_reference(ref.to_files())
        registry.register(ws, NAME, run)
    return registry.load(ws, NAME)


def saved_pass(spec, store: LogStore, model: LoadedModel, ws) -> None:
    """A real monitoring pass over the log's latest window, saved."""
    monitor.check(spec, ws, store=store, model=model)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("dashboard")
    ws = Workspace(root / ".shipyard", f"sqlite:///{root / '.shipyard' / 'mlflow.db'}").create()
    model = register(ws)
    url = f"sqlite:///{ws.root / 'predictions.db'}"
    store = LogStore(url)
    log = PredictionLog(url)
    app = create_app(model, log=log,
                     extra_routes=routes(store, ws, NAME, drift_share=0.5))
    spec = project(task="binary", target="outcome", name=NAME)
    with BackgroundServer(app) as server, \
            httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        answers = []
        for batch in (raw_rows(SENT[0], seed=11), shifted(raw_rows(SENT[1], seed=12))):
            for row in batch:  # one request per row: the log counts rows, traffic requests
                response = client.post("/predict", json=row)
                assert response.status_code == 200, response.text
                answers.append((row, response.json()["predictions"][0]))
            assert log.flush(timeout=10)
            saved_pass(spec, store, model, ws)
        truth = labels([row for row, _ in answers[:LABELLED]])  # both classes among them
        store.add_feedback([(item["request_id"], str(label)) for (_, item), label
                            in zip(answers[:LABELLED], truth, strict=True)])
        saved_pass(spec, store, model, ws)  # now with live metrics
        store.save_decision({
            "at": store.passes()[-1]["at"], "triggered": True,
            "reasons": ["dataset drift: 3 of 5 features"], "champion": model.card.version,
            "challenger": None, "metric": "roc_auc", "champion_score": None,
            "challenger_score": None, "margin": 0.0, "gates": [], "promoted": False,
            "outcome": "failed: the extraction returned no rows", "run_id": None})
        yield server, client, store, model
    store.close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM)
        yield chromium
        chromium.close()


def test_the_dashboard_draws_the_logged_traffic_drift_and_performance(setup, browser):
    server, client, store, model = setup
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems, requested = [], []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    page.on("request", lambda r: requested.append(r.url))
    page.goto(f"{server.url}/dashboard")
    page.wait_for_selector("body[data-state=ready]", timeout=15_000)
    shown = {name: page.locator(f'[data-chart="{name}"]') for name in CHARTS}
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    print(f"dashboard screenshot: {SCREENSHOT}")

    data = client.get("/dashboard/data").json()
    charts = data["charts"]
    sent = sum(SENT)
    traffic = charts["traffic"]
    assert traffic["total"] == sent == sum(v for _, v in traffic["series"][0]["points"])
    assert int(shown["traffic"].get_attribute("data-total")) == sent
    assert f"{sent} in all" in shown["traffic"].locator(".last").inner_text()
    assert shown["traffic"].locator("svg rect").count() == traffic["points"] >= 1
    for name in CHARTS:
        assert int(shown[name].get_attribute("data-points")) == charts[name]["points"], name
        assert float(shown[name].get_attribute("data-last")) == pytest.approx(
            charts[name]["last"]), name
        assert shown[name].locator("svg path, svg rect").count() >= 1, name

    passes = store.passes()
    assert charts["drift"]["points"] == len(passes) == 3
    assert charts["drift"]["last"] == passes[-1]["drift"]["share"]
    assert passes[-1]["drift"]["dataset_drift"]  # the shift was found...
    assert data["summary"]["dataset_drift"] is True  # ...and the page says so
    assert page.locator('[data-card="dataset-drift"] .card-value').inner_text() == "yes"
    performance = charts["performance"]
    assert performance["metric"] == "roc_auc"
    assert performance["last"] == passes[-1]["live"]["metrics"]["roc_auc"]
    assert performance["reference"] == pytest.approx(model.card.metrics["roc_auc"])
    assert performance["series"][1]["points"]  # estimated from the scores on every pass
    assert page.locator('[data-card="requests"] .card-value').inner_text() == str(sent)
    assert page.locator('[data-card="live"] .card-note').inner_text() == f"{LABELLED} labelled rows"

    drifted = page.locator("#features-table tbody tr")
    assert drifted.count() == len(SCHEMA.columns)
    assert page.locator("#versions-table tbody tr").count() == 2
    assert "replaced by version 2" in page.locator("#versions-table").inner_text()
    assert "failed: the extraction returned no rows" in page.locator(
        "#decisions-table").inner_text()
    assert model.card.version in page.locator("#champion-line").inner_text()

    assert problems == []
    assert all(url.startswith(server.url) for url in requested), requested  # no network
    page.close()


def test_the_data_is_cached_between_polls(setup):
    _, client, _, _ = setup
    first, second = (client.get("/dashboard/data") for _ in range(2))
    assert first.status_code == second.status_code == 200
    assert first.json()["generated"] == second.json()["generated"]
    assert first.headers["cache-control"] == "no-store"


def test_with_keys_the_data_needs_a_key_and_an_empty_log_says_so(setup, browser, tmp_path):
    _, _, _, model = setup
    keys = Keys.load(Auth(predict="keyed"), tmp_path, environ={"SHIPYARD_API_KEYS": KEY})
    empty = LogStore(f"sqlite:///{tmp_path / 'empty.db'}")
    app = create_app(model, keys=keys, extra_routes=routes(empty, None, NAME))
    with BackgroundServer(app) as server:
        with httpx.Client(base_url=server.url, timeout=10, trust_env=False) as client:
            assert client.get("/dashboard/data").status_code == 401
            assert client.get("/dashboard/data", headers={"X-API-Key": "x" * 20}).status_code \
                == 403
            assert client.get("/dashboard").status_code == 200  # the shell holds no data
            data = client.get("/dashboard/data", headers={"X-API-Key": KEY}).json()
        assert data["charts"]["traffic"]["points"] == 0 and data["summary"]["passes"] == 0
        page = browser.new_page()
        page.goto(f"{server.url}/dashboard")
        page.wait_for_selector("body[data-state=key]", timeout=15_000)
        page.fill("#key-input", KEY)
        page.click("#key-form button")
        page.wait_for_selector("body[data-state=ready]", timeout=15_000)
        traffic = page.locator('[data-chart="traffic"]')
        assert traffic.get_attribute("data-points") == "0"
        assert "no data yet" in traffic.inner_text()
        assert "No monitoring pass yet." in page.locator("#findings").inner_text()
        page.close()
    empty.close()

