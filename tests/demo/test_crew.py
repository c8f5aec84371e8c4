"""The ground crew's console: Shipyard's real alert sink posts to it over HTTP,
with the explanation of each prediction; a mechanic sees the engines by aircraft
in a real browser and acknowledges one there."""

from __future__ import annotations

import sqlite3

import httpx
import lightgbm
import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import sync_playwright
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from shipyard.card import LoadedModel, ModelCard
from shipyard.demo import crew
from shipyard.schema import Column, Schema
from shipyard.serve.alerts import AlertSink, AlertStore, Rules
from shipyard.serve.background import BackgroundServer
from shipyard.spec.serving import Alert
from tests.serve.test_dashboard import CHROMIUM

SCHEMA = Schema((Column("egt_c", "number"), Column("vibration_ips", "number")))
CARD = ModelCard(name="fleet-rul", task="regression", target="rul", schema=SCHEMA,
                 entity="engine_id").with_version("3")
FLEET = {11: {"aircraft_id": 1, "tail_number": "N101SY", "position": 1},
         12: {"aircraft_id": 1, "tail_number": "N101SY", "position": 2},
         21: {"aircraft_id": 2, "tail_number": "N202SY", "position": 1}}


def _model() -> LoadedModel:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"egt_c": rng.normal(650, 30, 400),
                          "vibration_ips": rng.gamma(2, .5, 400)})
    y = 150 - 1.5 * (frame["egt_c"] - 650) - 10 * frame["vibration_ips"]
    pipeline = Pipeline([("scale", StandardScaler()),
                         ("model", lightgbm.LGBMRegressor(n_estimators=40, verbose=-1))])
    return LoadedModel(pipeline.fit(frame, y), CARD)


@pytest.fixture
def console(tmp_path):
    cases = crew.Cases(tmp_path / "crew.db", FLEET.get)
    with BackgroundServer(crew.app(cases)) as server:
        yield server, cases
    cases.close()


def _alerts(tmp_path, url: str, model: LoadedModel):
    """Four landings scored by ``model``, through Shipyard's alert sink to ``url``."""
    rows = [{"engine_id": 11, "egt_c": 760.0, "vibration_ips": 1.0},
            {"engine_id": 12, "egt_c": 640.0, "vibration_ips": 0.5},
            {"engine_id": 21, "egt_c": 700.0, "vibration_ips": 4.0},
            {"engine_id": 11, "egt_c": 770.0, "vibration_ips": 1.1}]
    predicted = model.pipeline.predict(pd.DataFrame(rows)[SCHEMA.names])
    scores = [0.71, 0.32, 0.66, 0.58]  # the anomaly detector served beside it
    items = [{"prediction": float(p), "anomaly": {"prediction": s > 0.6, "score": s}}
             for p, s in zip(predicted, scores, strict=True)]
    rules = Rules.compile([Alert(name="inspect", when="prediction < 60", webhook=url,
                                 backoff_s=0.05)], CARD)
    store = AlertStore(tmp_path / "alerts.db")
    sink = AlertSink(rules, store, CARD, timeout_s=5)
    sink.submit(rows[:3], items[:3], model)
    sink.submit(rows[3:], items[3:], model)  # engine 11 lands again
    assert sink.drain(timeout=20)
    sink.close()
    return rows, predicted, store


def test_alerts_reach_the_console_with_their_explanations(tmp_path, console):
    server, cases = console
    model = _model()
    rows, predicted, store = _alerts(tmp_path, f"{server.url}/alerts", model)
    flagged = [r["engine_id"] for r, p in zip(rows, predicted, strict=True) if p < 60]
    assert 11 in flagged and 12 not in flagged
    raised = store.list(limit=100)
    assert all(a["delivery"]["state"] == "delivered" for a in raised)
    assert cases.received() == len(raised) == len(flagged)
    with httpx.Client(base_url=server.url, trust_env=False) as client:
        open_cases = client.get("/api/cases").json()
        assert sorted(c["engine_id"] for c in open_cases) == sorted(set(flagged))
        eleven = next(c for c in open_cases if c["engine_id"] == 11)
        # one case per engine: the second landing updated it with its newer prediction
        assert eleven["alerts"] == 2 and eleven["prediction"] == pytest.approx(predicted[3])
        assert eleven["anomaly"] == pytest.approx(0.58)
        assert (eleven["tail_number"], eleven["position"]) == ("N101SY", 1)
        top = eleven["explanation"]["top"]
        assert top[0]["column"] == "egt_c" and top[0]["contribution"] < 0
        stored = next(a for a in raised if a["entity"] == 11)
        assert stored["prediction"]["explanation"]["top"][0]["column"] == "egt_c"
        # a delivery repeated (same alert id) is not counted twice
        again = client.post("/alerts", json={"alert": "inspect", "entity": 11,
                                             "prediction": {"prediction": 1.0}},
                            headers={"X-Shipyard-Alert-Id": str(stored["id"])})
        assert again.status_code == 200
        assert client.get("/api/cases").json() == open_cases
        assert client.post("/alerts", content=b"[1, 2]").status_code == 400
        assert client.post("/api/cases/999/ack", json={"by": "x"}).status_code == 404
        assert client.get("/api/cases?state=shut").status_code == 400
    store.close()


def test_the_page_lists_open_cases_by_aircraft_and_acknowledges_one(tmp_path, console):
    server, cases = console
    _rows, _predicted, store = _alerts(tmp_path, f"{server.url}/alerts", _model())
    store.close()
    expected = cases.list("open")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM)
        try:
            page = browser.new_page()
            problems = []
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(server.url)
            shown = page.locator("tr.case")
            assert shown.count() == len(expected) >= 2
            for i, case in enumerate(expected):  # by aircraft, then engine position
                line = shown.nth(i)
                assert line.get_attribute("data-case") == str(case["id"])
                assert line.locator(".tail").inner_text() == case["tail_number"]
                assert line.locator(".rul").inner_text() == f"{case['prediction']:.0f}"
                assert line.locator(".anomaly").inner_text() == f"{case['anomaly']:.2f}"
                why = line.locator("ul.why li")
                assert why.count() == len(case["explanation"]["top"])
                assert why.first.locator("b").inner_text() == \
                    case["explanation"]["top"][0]["column"]
            assert page.locator("#open-count").inner_text() == str(len(expected))
            first = expected[0]["id"]
            page.locator(f'tr[data-case="{first}"] button').click()
            page.wait_for_load_state()
            assert page.locator("tr.case").count() == len(expected) - 1
            assert page.locator("#closed-count").inner_text() == "1"
            assert problems == []
        finally:
            browser.close()
    after = {c["id"]: c for c in cases.list("all")}
    assert after[first]["acknowledged_at"] is not None
    assert after[first]["acknowledged_by"] == "mechanic"
    assert [c["id"] for c in cases.list("open")] == [c["id"] for c in expected[1:]]


def test_a_console_file_from_before_the_anomaly_column_is_upgraded(tmp_path):
    old = sqlite3.connect(tmp_path / "crew.db")
    old.executescript(crew._SCHEMA.replace(",\n    anomaly REAL", ""))
    old.execute("INSERT INTO cases (engine_id, alert, opened, last, prediction) "
                "VALUES (11, 'inspect', '2026-01-01', '2026-01-01', 12.5)")
    old.commit()
    old.close()
    cases = crew.Cases(tmp_path / "crew.db", FLEET.get)
    try:
        assert [(c["engine_id"], c["anomaly"]) for c in cases.list("all")] == [(11, None)]
        cases.receive({"alert": "inspect", "entity": 11,
                       "prediction": {"prediction": 9.0, "anomaly": {"score": 0.7}}}, 1)
        assert [(c["prediction"], c["anomaly"]) for c in cases.list("all")] == [(9.0, 0.7)]
    finally:
        cases.close()
