"""The demo end to end on a small fleet: simulate -> SQL -> snapshot -> train ->
gates -> MLflow registry -> a served API answering real HTTP requests -> two
more weeks with a changed fleet -> drift -> retraining -> promotion -> the
server switches."""

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import numpy as np
import pytest
from playwright.sync_api import sync_playwright
from rich.console import Console
from sklearn.model_selection import GroupShuffleSplit

from shipyard import data, registry, spec
from shipyard.demo import crew, run_demo, traffic
from shipyard.metrics import anomaly_scores
from shipyard.registry import history
from shipyard.serve.alerts import AlertStore
from shipyard.serve.background import BackgroundServer, free_port
from tests.serve.prometheus import promtool_check
from tests.serve.test_dashboard import CHROMIUM


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo") / "fleet"
    printed = io.StringIO()
    result = run_demo(folder, aircraft=60, seed=3, port=free_port(), keep_serving=False,
                      console=Console(file=printed, width=200), progress_console=Console(
                          file=io.StringIO()))
    return result, printed.getvalue()


def test_demo_registers_a_champion_that_beats_a_constant(demo):
    result, _ = demo
    outcome = result.outcome
    assert outcome.passed and outcome.version == "1"
    # the first champion; the second act promoted a challenger over it
    first = registry.load(outcome.workspace, "fleet-rul", registry.PREVIOUS)
    assert first.card.version == "1"
    ev = outcome.evaluation
    # Remaining useful life on engines the model never saw: far better than the mean.
    assert ev.metrics["rmse"] < 0.6 * ev.baseline_metrics["rmse"]
    assert ev.metrics["r2"] > 0.6
    assert (outcome.workspace.root / "mlflow.db").is_file()
    assert outcome.report.is_file() and outcome.report.stat().st_size > 50_000
    # The profile shows why vibration is smoothed: an engine's turbulence spikes.
    page = outcome.report.read_text()
    assert 'id="smoothing"' in page and "vibration_ips of " in page
    assert re.search(r"[1-9]\d* spikes marked", page)


def test_demo_records_its_gates_in_the_report_and_the_registry(demo):
    result, _ = demo
    outcome = result.outcome
    kinds = {g.gate for g in outcome.gates}
    assert kinds == {"data", "privacy", "fairness", "quality", "overfitting"}
    assert all(g.ok for g in outcome.gates)
    keys = {g.key for g in outcome.gates}
    assert {"data.rows", "data.egt_c.range", "fairness.mae_difference",
            "quality.rmse.vs_baseline", "privacy.flight_id.identifier"} <= keys
    # flight_id only names a row: refused as a feature and kept out of the log
    assert "flight_id" in outcome.card.private
    assert "flight_id" not in outcome.card.schema.names
    page = outcome.report.read_text()
    assert ">Gates<" in page and ">Fairness<" in page and "engine_variant=" in page
    tags = registry.versions(outcome.workspace, "fleet-rul")
    first = next(v for v in tags if v["version"] == "1")
    assert first["gates"] == "passed"


def test_demo_scored_every_engine_on_wing_over_http(demo):
    result, printed = demo
    with duckdb.connect(str(result.project_file.parent / "data" / "fleet.duckdb"),
                        read_only=True) as con:
        # Installed and flown at least once (a replacement fitted on the last day has
        # no readings yet, so there is nothing to score it on).
        on_wing = con.execute("SELECT count(*) FROM engines WHERE engine_id NOT IN "
                              "(SELECT engine_id FROM removals) AND engine_id IN "
                              "(SELECT engine_id FROM engine_readings)").fetchone()[0]
    # after the second act the database holds the new days: the engines scored last
    assert len(result.predictions_after) == on_wing > 100
    assert len(result.predictions) > 100
    # What came over HTTP is what the first champion says about each engine's latest
    # flight, its windows computed by the server from the history it keeps.
    champion = registry.load_version(result.outcome.workspace, "fleet-rul", "1")
    frame = result.outcome.snapshot.frame().sort_values(["engine_id", "departure"])
    frame["expected"] = champion.pipeline.predict(champion.card.schema.model_frame(frame))
    latest = frame.groupby("engine_id").tail(1).set_index("engine_id")
    expected = latest.loc[result.predictions["engine_id"], "expected"].to_numpy()
    np.testing.assert_allclose(result.predictions["predicted_rul"], expected, rtol=1e-9)
    assert (result.predictions["inspect"] == (expected < 30)).all()
    flagged = result.predictions["inspect"].sum()
    assert f"Flagged       {flagged} of {len(result.predictions)} engines on wing" in printed
    for where in ("Run report", "MLflow store", "API", "Dashboard", "shipyard ui",
                  "shipyard serve", "shipyard monitor"):
        assert where in printed


def test_demo_closes_the_loop(demo):
    """The new days reach the API and the log; engine removals label them; the
    monitor sees the new engine type; a challenger beats the champion on recent
    engines, is promoted, and the running server switches to it."""
    result, printed = demo
    later = result.later
    ws = result.outcome.workspace
    assert later.rows_sent > 1000 and later.labelled > 0
    # Each landing was one raw reading in one request, every one answered.
    arrived = later.landings
    assert arrived.readings == later.rows_sent == arrived.answered == len(arrived.items)
    assert arrived.failed == [] and len(arrived.latency_ms) == arrived.readings
    assert f"p99 {arrived.p99_ms:.1f} ms" in printed
    # The server computed each landing's windows from the history it keeps: the answer
    # is the first champion's on the engine's whole history up to that reading.
    first = registry.load_version(ws, "fleet-rul", "1")
    whole = data.to_frame(data.extract(spec.load(result.project_file)))
    whole["expected"] = first.pipeline.predict(first.card.schema.model_frame(whole))
    landed = arrived.items.merge(whole, on=["engine_id", "departure"], validate="1:1")
    np.testing.assert_allclose(landed["prediction"], landed["expected"], rtol=1e-9)
    drift = later.check["drift"]
    assert drift["dataset_drift"] and "engine_variant" in drift["drifted"]
    problems = " ".join(later.check["quality"]["problems"])
    assert "PW1500G" in problems  # the unseen engine type is named
    # new engines get new ids: the entity is not watched as an input
    watched = [f["feature"] for f in drift["features"]]
    assert "engine_id" not in watched and "engine_id" not in problems and "egt_c" in watched
    # the RUL error estimated without labels (direct loss estimation), next to the live one
    estimated = later.check["estimated"]
    assert estimated["rmse"] > 0 and estimated["mae"] > 0
    rows = later.check["rows"]
    words = " ".join(printed.split())  # the table's caption is wrapped and centred
    assert f"estimated RMSE {estimated['rmse']:.4g} on all {rows:,} rows (no labels)" in words
    live = later.check["live"]
    assert live["metrics"]["rmse"] > later.check["reference"]["rmse"]  # worse on new days
    decision = later.decision
    assert decision["triggered"] and decision["outcome"] == "promoted", decision
    assert decision["challenger_score"] < decision["champion_score"]
    assert registry.champion_version(ws, "fleet-rul") == decision["challenger"] == "2"
    assert later.served_before == "1" and later.served_after == "2"
    # both versions were scored on the compiled fast path (exact trees), not the pipeline
    assert result.served_paths == {"1": "onnx", "2": "onnx"}
    assert printed.count("on the compiled fast path") == 2
    assert "version 1 -> version 2" in printed and "Retraining: promoted" in printed
    assert later.report.is_file() and "engine_variant" in later.report.read_text()
    # The engines on wing were scored again, by the new champion, over HTTP.
    champion = registry.load(ws, "fleet-rul")
    assert champion.card.version == "2"
    assert len(result.predictions_after) > 0


def test_demo_alerts_reach_the_ground_crew_with_explanations(demo):
    """Shipyard's alert rule posts each engine predicted under 30 flights to the
    ground crew's console, with the sensors behind that prediction; the crew
    acknowledges the most urgent; the console's page shows the rest."""
    result, printed = demo
    summary = result.crew
    with AlertStore(result.outcome.workspace.root / "alerts.db") as store:
        raised = store.list(limit=100_000)
    assert len(raised) == summary.received > 10
    assert {a["delivery"]["state"] for a in raised} == {"delivered"}
    # once per engine and rule in the demo's two weeks (repeat_after: 1d and 7d)
    assert len({(a["alert"], a["entity"]) for a in raised}) == len(raised) == len(summary.cases)
    assert {a["alert"] for a in raised} == {"inspect", "unusual"}
    for a in raised:
        if a["alert"] == "inspect":
            assert a["prediction"]["prediction"] < 30
        else:
            assert a["prediction"]["anomaly"]["score"] > 0.6
    inputs = set(registry.load(result.outcome.workspace, "fleet-rul").card.schema.names)
    for case in summary.cases:
        assert case["alerts"] == 1 and case["alert"] in ("inspect", "unusual")
        assert case["prediction"] < 30 or case["alert"] == "unusual"
        assert case["tail_number"].startswith("N") and case["position"] in (1, 2)
        top = case["explanation"]["top"]
        assert len(top) == 3 and {t["column"] for t in top} <= inputs
    assert len(summary.acknowledged) == 10
    urgent = sorted(summary.cases, key=lambda c: c["prediction"])[:10]
    assert sorted(summary.acknowledged) == sorted(c["id"] for c in urgent)
    assert f"{summary.received:,} alerts delivered to the console" in printed
    assert "10 acknowledged by line maintenance" in printed

    cases = crew.Cases(summary.store, lambda engine: None)
    try:
        with BackgroundServer(crew.app(cases)) as server, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM)
            page = browser.new_page()
            page.goto(server.url)
            shown = [int(page.locator("tr.case").nth(i).get_attribute("data-case"))
                     for i in range(page.locator("tr.case").count())]
            browser.close()
    finally:
        cases.close()
    assert shown == [c["id"] for c in summary.open] and len(shown) == len(raised) - 10


def test_demo_serves_the_anomaly_detector_beside_the_rul_model(demo):
    """The second project (anomaly.yaml extends shipyard.yaml) is trained, judged on
    the held-out engines, gated, registered, and answers every request with the RUL
    model: the scores served are the detector's own on each engine's history."""
    result, printed = demo
    run = result.detector
    assert run is not None and run.passed and run.version == "1"
    ws = run.workspace
    assert ws.root == result.outcome.workspace.root  # one MLflow store for both models
    detector = registry.load(ws, "fleet-anomaly")
    assert detector.card.task == "anomaly" and detector.card.estimator == "isolation_forest"
    assert "fails_soon" not in detector.card.schema.names
    assert not {"cycles_since_new", "aircraft_model"} & set(detector.card.schema.names)
    ev = run.evaluation
    assert ev.metrics["roc_auc"] >= 0.8 and ev.metrics["pr_auc"] > 2 * ev.baseline_metrics[
        "pr_auc"]
    assert f"holdout ROC-AUC {ev.metrics['roc_auc']:.3f}" in printed
    page = run.report.read_text()
    assert "ROC" in page and "Precision" in page
    assert [g.passed for g in run.gates if g.key == "quality.roc_auc"] == [True]

    frame = result.outcome.snapshot.frame().sort_values(["engine_id", "departure"])
    scores = anomaly_scores(detector.pipeline, detector.card.schema.model_frame(frame))
    # each engine's score on its newest reading, from its whole history
    newest = frame.assign(score=scores).groupby("engine_id")["score"].last()
    served = result.predictions  # the engines on wing at the first deployment
    assert len(served) > 50
    np.testing.assert_allclose(served["anomaly_score"], newest[served["engine_id"]], rtol=1e-6)
    # every landing of the two weeks got its anomaly score too; the engine type the
    # detector never saw scores far above the rest (a novelty detector's answer)
    landed = result.later.landings.items
    assert landed["anomaly_score"].notna().all()
    unusual = result.later.unusual
    assert unusual["PW1500G"] > unusual["the rest"] + 0.1
    assert f"mean anomaly score {unusual['PW1500G']:.2f} on the PW1500G engines" in printed


def test_mlflow_loads_both_demo_models_and_predicts_on_the_snapshot(demo):
    """MLflow's own loader, on the snapshot as extracted (integer columns included):
    the RUL champion (a retraining challenger by now) and the detector answer as
    their pipelines do on Shipyard's conversion of the same rows."""
    import mlflow

    result, _ = demo
    ws = result.outcome.workspace
    mlflow.set_tracking_uri(ws.tracking_uri)
    rows = result.outcome.snapshot.frame().sort_values(["engine_id", "departure"]).head(3000)
    assert rows["cycles_since_new"].dtype.kind == "i"
    rul = registry.load(ws, "fleet-rul")
    assert rul.card.version == "2"
    answers = mlflow.pyfunc.load_model("models:/fleet-rul@champion").predict(rows)
    np.testing.assert_allclose(answers, rul.pipeline.predict(rul.card.schema.model_frame(rows)),
                               rtol=1e-9)
    detector = registry.load(ws, "fleet-anomaly")
    flagged = mlflow.pyfunc.load_model("models:/fleet-anomaly@champion").predict(rows)
    scores = anomaly_scores(detector.pipeline, detector.card.schema.model_frame(rows))
    assert flagged == (scores >= detector.card.threshold).tolist()
    assert 0 < sum(flagged) < len(flagged)


def test_demo_business_table_recomputed_from_the_simulator_truth(demo):
    """The policies replayed by hand: the held-out engines (20% of the failed ones,
    by engine), their true flights left from the removals table, the first
    champion's predictions on their whole histories."""
    result, printed = demo
    project = spec.load(result.project_file)
    settings = project.evaluate.costs
    frame = result.outcome.snapshot.frame()
    frame = frame[frame["rul"].notna()].reset_index(drop=True)
    _, held = next(GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=project.seed)
                   .split(frame, groups=frame["engine_id"]))
    held = frame.iloc[held].sort_values(["engine_id", "departure"])
    first = registry.load_version(result.outcome.workspace, "fleet-rul", "1")
    held["predicted"] = first.pipeline.predict(first.card.schema.model_frame(held))
    with duckdb.connect(str(result.project_file.parent / "data" / "fleet.duckdb"),
                        read_only=True) as con:
        failed_at = dict(con.execute("SELECT engine_id, cycles_since_new FROM removals "
                                     "WHERE reason = 'failure'").fetchall())
    tally = {"interval": [0, 0], "model": [0, 0]}  # inspections, events in service
    engines = 0
    for engine, rows in held.groupby("engine_id"):
        engines += 1
        left = failed_at[engine] - rows["cycles_since_new"].to_numpy()  # the truth, uncapped
        for policy, wants in (("interval", np.arange(1, len(rows) + 1) % settings.interval
                               == 0), ("model", rows["predicted"].to_numpy()
                                       < settings.act_below)):
            last, found = -10**9, False
            for i in np.flatnonzero(wants):
                if i - last >= settings.recheck_after:
                    tally[policy][0] += 1
                    last = i
                    if left[i] < settings.finds_within:
                        found = True
                        break
            tally[policy][1] += not found
    table = result.outcome.evaluation.costs.set_index("policy")
    assert table.attrs["entities"] == table.attrs["failed"] == engines > 10
    assert table.iloc[0][["inspections", "events in service"]].tolist() == [0, engines]
    assert table.iloc[1][["inspections", "events in service"]].tolist() == tally["interval"]
    assert table.iloc[2][["inspections", "events in service"]].tolist() == tally["model"]
    model = table.iloc[2]
    assert model["cost"] == model["inspections"] * settings.action_cost + \
        model["events in service"] * settings.event_cost
    assert model["events in service"] < table.iloc[1]["events in service"] < engines
    assert "What the predictions are worth" in printed
    assert "What the predictions are worth" in result.outcome.report.read_text()


def test_the_serving_champion_is_reproduced_from_its_record(demo):
    """Version 2 is a retraining challenger: `shipyard reproduce champion` replays its
    cycle (rows, recent holdout, warm start from version 1) and every figure matches."""
    result, _ = demo
    ws = result.outcome.workspace
    assert registry.champion_version(ws, "fleet-rul") == "2"
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "shipyard", "reproduce", "champion",
                           str(result.project_file)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Reproduced: every metric and output matches exactly" in done.stdout
    assert " NO " not in done.stdout and "holdout_rmse" in done.stdout
    assert registry.champion_version(ws, "fleet-rul") == "2"  # nothing promoted
    found = history.lineage(ws, "fleet-rul", "champion")["reproductions"]
    assert [r["result"] for r in found] == ["matched"]


def test_shipyard_serve_answers_with_the_champion(demo):
    result, _ = demo
    port = free_port()
    env = {**os.environ, "NO_COLOR": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "shipyard", "serve", str(result.project_file), "--port",
         str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, trust_env=False)
    try:
        _wait(client, server)
        champion = registry.load(result.outcome.workspace, "fleet-rul")  # after the loop
        rows = result.outcome.snapshot.frame().head(25)
        sent = traffic.sent_columns(champion.card)  # the entity is required
        payload = [{c: (None if v != v else v.isoformat() if c == "departure" else v)
                    for c, v in r.items()} for r in rows[sent].to_dict("records")]
        answer = client.post("/predict", json=payload)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model"] == {"name": "fleet-rul", "version": champion.card.version}
        served = [p["prediction"] for p in body["predictions"]]
        expected = champion.pipeline.predict(champion.card.schema.model_frame(rows))
        np.testing.assert_allclose(served, expected, rtol=1e-9)

        bad = dict(payload[0], egt_c="hot")
        refused = client.post("/predict", json=bad)
        assert refused.status_code == 422 and "egt_c" in refused.json()["error"]
        assert client.post("/predict", json=payload[0]).status_code == 200  # still serving
        schema = client.get("/openapi.json").json()
        assert "egt_c" in str(schema)
        checked = promtool_check(client.get("/metrics").text)  # alerts, log and companions too
        assert checked.returncode == 0 and not (checked.stdout + checked.stderr).strip(), \
            checked.stdout + checked.stderr
        serving = client.get("/model").json()["serving"]
        assert serving["path"] == "onnx", serving
        runs = {s["step"]: s["runs"] for s in serving["steps"]}
        # The windows come from each engine's history, in Python with the fitted step's
        # own code; every step after them runs compiled.
        assert runs.pop("series") == "python", runs
        assert runs["model"] == "compiled" and set(runs.values()) == {"compiled"}
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=20)
        server.stdout.close()


def _wait(client: httpx.Client, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"shipyard serve exited: {server.stdout.read().decode()}")
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("shipyard serve did not answer /health")


def test_demo_refuses_a_gate_failure_without_serving(tmp_path: Path):
    """A model that fails its gate is not registered, so there is nothing to serve."""
    from shipyard import spec
    from shipyard.demo import init_project
    from shipyard.errors import GateFailed, RegistryError
    from shipyard.lifecycle import run_project

    path = init_project(tmp_path / "p", aircraft=8)
    # eight aircraft fly fewer rows than the data gate asks for: stopped before training
    with pytest.raises(GateFailed, match="nothing was trained") as info:
        run_project(spec.load(path))
    assert any(line.startswith("data.rows") for line in info.value.details)
    text = path.read_text().replace("min_rows: 10000", "min_rows: 100")
    path.write_text(text.replace("max: 30", "max: 0.5"))
    outcome = run_project(spec.load(path))
    assert not outcome.passed and registry.champion_version(outcome.workspace, "fleet-rul") is None
    with pytest.raises(RegistryError, match="No 'champion' model"):
        registry.load(outcome.workspace, "fleet-rul")
