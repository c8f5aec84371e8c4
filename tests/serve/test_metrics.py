"""Metrics of several workers add up, and survive a worker that is gone."""

from __future__ import annotations

from shipyard.serve.metrics import Metrics

from .test_routes import _sample


def test_workers_sharing_a_folder_are_summed(tmp_path):
    one, two = Metrics(share=str(tmp_path)), Metrics(share=str(tmp_path))
    for _ in range(3):
        one.answered("predict", 200, 0.002)
    two.answered("predict", 200, 0.2)
    two.answered("invocations", 422, 0.001)
    one.batch(8, 0.001)
    two.batch(2, 0.001)
    one.count("shed")
    two.set_version("7")
    one._publish()  # as its thread does every second
    # Snapshots are files named by process id; these two share one, so stand in for
    # a second process by renaming the first's.
    (tmp_path / next(p.name for p in tmp_path.glob("*.json"))).rename(tmp_path / "1.json")
    text = two.exposition().decode()
    assert _sample(text, "shipyard_requests_total", route="predict", status="200") == 4
    assert _sample(text, "shipyard_requests_total", route="invocations", status="422") == 1
    assert _sample(text, "shipyard_rows_scored_total") == 10
    assert _sample(text, "shipyard_shed_total") == 1
    assert _sample(text, "shipyard_request_seconds_bucket", le="0.005", route="predict") == 3
    assert _sample(text, "shipyard_request_seconds_bucket", le="+Inf", route="predict") == 4
    assert abs(_sample(text, "shipyard_request_seconds_sum", route="predict") - 0.206) < 1e-9
    assert _sample(text, "shipyard_batch_rows_count") == 2
    assert _sample(text, "shipyard_model_version") == 7


def test_one_worker_without_a_folder_reports_its_own_numbers():
    metrics = Metrics(share="")
    metrics.answered("predict", 503, 0.001)
    text = metrics.exposition().decode()
    assert _sample(text, "shipyard_requests_total", route="predict", status="503") == 1
    assert _sample(text, "shipyard_model_version") == 0
