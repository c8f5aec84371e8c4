"""The server end to end: real pipelines, a real uvicorn, httpx as the client."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from shipyard.serve import create_app

from .cases import BAD_REQUESTS, GOOD, MAX_ROWS, Case, row
from .models import SCHEMA, raw_rows, regression_model


def direct(model, rows: list[dict]):
    """The pipeline and its input as training builds it, to call without the server."""
    return model.pipeline, SCHEMA.model_frame(pd.DataFrame(rows))


def test_health_names_the_model(served):
    response = served["binary"].client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "model": {"name": "churn", "version": "3"}}


@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_one_row_and_many_rows_match_the_pipeline(served, task):
    model, client = served[task].model, served[task].client
    rows = raw_rows(MAX_ROWS, seed=1)  # with a null in every column somewhere
    pipeline, frame = direct(model, rows)

    many = client.post("/predict", json=rows)
    one = client.post("/predict", json=rows[5])

    assert many.status_code == 200, many.text
    assert one.status_code == 200, one.text
    body = many.json()
    assert body["model"] == {"name": model.card.name, "version": "3"}
    items = body["predictions"]
    assert len(items) == len(rows)
    assert one.json()["predictions"] == [items[5]]
    if task == "regression":
        got = np.array([item["prediction"] for item in items])
        np.testing.assert_allclose(got, pipeline.predict(frame), rtol=1e-12)
        assert all(set(item) == {"prediction"} for item in items)
        return
    proba = pipeline.predict_proba(frame)
    classes = [c.item() for c in pipeline.classes_]
    got = np.array([[item["probabilities"][str(c)] for c in classes] for item in items])
    np.testing.assert_allclose(got, proba, rtol=1e-12)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-9)
    assert [item["prediction"] for item in items] == pipeline.predict(frame).tolist()


def test_concurrent_requests_each_get_their_own_answer(served):
    model, client = served["binary"].model, served["binary"].client
    batches = [raw_rows(5, seed=seed) for seed in range(10, 26)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda rows: client.post("/predict", json=rows), batches))
    for rows, response in zip(batches, answers, strict=True):
        pipeline, frame = direct(model, rows)
        got = [item["probability"] for item in response.json()["predictions"]]
        np.testing.assert_allclose(got, pipeline.predict_proba(frame)[:, 1], rtol=1e-12)


def test_binary_items_report_the_positive_class(served):
    model, client = served["binary"].model, served["binary"].client
    rows = raw_rows(10, seed=2)
    items = client.post("/predict", json=rows).json()["predictions"]
    pipeline, frame = direct(model, rows)
    positive = list(pipeline.classes_).index("Yes")
    for item, p in zip(items, pipeline.predict_proba(frame)[:, positive], strict=True):
        assert set(item) == {"prediction", "probability", "probabilities"}
        assert item["prediction"] in ("Yes", "No")
        assert item["probability"] == pytest.approx(p, rel=1e-12)
        assert item["probability"] == item["probabilities"]["Yes"]


def test_multiclass_labels_are_json_integers(served):
    response = served["multiclass"].client.post("/predict", json=GOOD)
    item = response.json()["predictions"][0]
    assert type(item["prediction"]) is int
    assert set(item["probabilities"]) == {"0", "1", "2"}


def test_nulls_mean_missing(served):
    model, client = served["regression"].model, served["regression"].client
    rows = [dict.fromkeys(SCHEMA.names), row(city=None, income=None), row(plan="")]
    response = client.post("/predict", json=rows)
    assert response.status_code == 200, response.text
    got = [item["prediction"] for item in response.json()["predictions"]]
    pipeline, frame = direct(model, rows)
    np.testing.assert_allclose(got, pipeline.predict(frame), rtol=1e-12)


def test_integral_floats_are_integers_and_charset_utf8_is_json(served):
    client = served["regression"].client
    plain = client.post("/predict", json=GOOD).json()
    text = '{"age": 30.0, "income": 42.5, "member": true, "city": "Paris", "plan": "basic"}'
    written = client.post("/predict", content=text,
                          headers={"Content-Type": "Application/JSON; charset=UTF-8"})
    assert written.status_code == 200, written.text
    assert written.json() == plain


def send(client, case: Case):
    return client.request(**case.request())


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=[c.id for c in BAD_REQUESTS])
def test_bad_request_is_refused_with_a_clear_message(served, case):
    response = send(served["regression"].client, case)
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "details"}
    assert case.message in body["error"]
    assert "\n" not in body["error"]


def test_value_errors_name_row_column_and_value(served):
    rows = [GOOD, row(income="abc"), row(age=2.5, city=7)]
    body = served["regression"].client.post("/predict", json=rows).json()
    assert body["error"].startswith("3 invalid values; first: row 1, column 'income'")
    assert body["details"] == [
        {"message": "row 1, column 'income': expected a number or null, got string \"abc\"",
         "row": 1, "column": "income", "value": "abc"},
        {"message": "row 2, column 'age': expected an integer or null, got 2.5",
         "row": 2, "column": "age", "value": 2.5},
        {"message": "row 2, column 'city': expected a string or null, got 7",
         "row": 2, "column": "city", "value": 7},
    ]


def test_column_errors_list_missing_and_unknown_names(served):
    rows = [GOOD, {"age": 1, "colour": "red"}]
    body = served["regression"].client.post("/predict", json=rows).json()
    (detail,) = body["details"]
    assert detail["row"] == 1
    assert detail["missing"] == ["income", "member", "city", "plan"]
    assert detail["unknown"] == ["colour"]


def test_malformed_json_says_where(served):
    body = served["regression"].client.post(
        "/predict", content='[\n  {"age" 1}\n]', headers={"Content-Type": "application/json"}
    ).json()
    assert body["details"] == [
        {"message": "Expecting ':' delimiter", "line": 2, "char": 10}
    ]


def test_still_serves_after_every_bad_request(served):
    client = served["regression"].client
    for case in BAD_REQUESTS:
        assert send(client, case).status_code == case.status
    assert client.post("/predict", json=GOOD).status_code == 200


def test_model_failure_is_a_logged_500_and_serving_goes_on(served, caplog):
    # This pipeline's encoder was fitted with handle_unknown="error": a real model failure.
    client = served["fragile"].client
    with caplog.at_level(logging.ERROR, logger="shipyard.serve"):
        response = client.post("/predict", json=row(city="Atlantis"))
    assert response.status_code == 500
    assert response.json()["error"].startswith("internal error")
    assert "Atlantis" not in response.text  # the traceback stays in the log
    failures = [r for r in caplog.records if r.name == "shipyard.serve"]
    assert failures and failures[0].exc_info is not None
    assert "prediction failed (model spend version 3)" in failures[0].getMessage()
    assert client.post("/predict", json=GOOD).status_code == 200


def test_create_app_serves_the_model_with_the_default_settings():
    model = regression_model()
    app = create_app(model)
    assert app.state.model is model
    settings = app.state.settings
    assert (settings.max_rows, settings.max_body_bytes) == (10_000, 8 * 1024 * 1024)
    assert app.state.watcher is None  # no registry to follow


@pytest.mark.parametrize("limits", [{"max_rows": 0}, {"max_body_bytes": -1}])
def test_create_app_refuses_impossible_limits(limits):
    with pytest.raises(ValueError, match="must be >= 1"):
        create_app(regression_model(), **limits)


def test_a_settled_worker_frees_the_version_it_stops_serving():
    """A worker freezes its heap after start-up (full collections stall requests);
    a new version must still let the old one be collected."""
    import gc
    import weakref

    from shipyard.serve.app import settle_memory
    from shipyard.serve.engine import engine_for

    def first_app():
        model = regression_model()
        # a reference cycle, as fitted models often hold: only a collection frees it
        model.pipeline.shipyard_cycle = [model.pipeline]
        return create_app(model), weakref.ref(model.pipeline)

    app, old = first_app()
    settle_memory()
    try:
        assert gc.get_freeze_count() > 0 and old() is not None
        app.state.swap(engine_for(regression_model()))
        assert old() is None  # unfrozen, collected, and the heap frozen again
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        app.state.batcher.close()
