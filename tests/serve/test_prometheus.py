"""``/metrics`` by the book: ``promtool check metrics`` finds nothing to say, every
route and status is counted (unknown paths under one label), and a real Prometheus
scrapes the server and answers ``rate()`` and ``histogram_quantile()`` over it."""

from __future__ import annotations

import math
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from shipyard.serve import create_app
from shipyard.serve.background import BackgroundServer

from .models import raw_rows, regression_model
from .prometheus import Prometheus, promtool_check
from .test_routes import _sample


def _traffic(client: httpx.Client) -> None:
    rows = raw_rows(8, seed=4)
    for row in rows:
        assert client.post("/predict", json=row).status_code == 200
    assert client.post("/invocations", json={"dataframe_records": rows}).status_code == 200
    assert client.post("/predict", json={"age": "old"}).status_code == 422
    assert client.get("/health").status_code == 200
    assert client.get("/predict").status_code == 405  # a known route, a wrong method
    for path in ("/nope", "/wp-admin/setup.php", "/a/b/c"):
        assert client.get(path).status_code == 404


def test_promtool_finds_nothing_and_every_route_is_counted(served):
    client = served["regression"].client
    _traffic(client)
    text = client.get("/metrics").text
    checked = promtool_check(text)
    assert checked.returncode == 0 and not (checked.stdout + checked.stderr).strip(), \
        checked.stdout + checked.stderr
    assert _sample(text, "shipyard_requests_total", route="health", status="200") >= 1
    assert _sample(text, "shipyard_requests_total", route="predict", status="405") >= 1
    assert _sample(text, "shipyard_requests_total", route="predict", status="422") >= 1
    assert _sample(text, "shipyard_requests_total", route="unmatched", status="404") >= 3
    routes = {s.labels["route"] for family in text_string_to_metric_families(text)
              if family.name == "shipyard_requests" for s in family.samples}
    assert not {"nope", "wp-admin/setup.php", "a/b/c"} & routes  # bounded: no client paths
    assert {"predict", "invocations", "health", "unmatched"} <= routes
    # the scrape before this one was counted too
    assert _sample(client.get("/metrics").text, "shipyard_requests_total", route="metrics",
                   status="200") >= 1


def test_a_real_prometheus_scrapes_the_server_and_answers_queries(tmp_path: Path):
    with BackgroundServer(create_app(regression_model())) as server, \
            httpx.Client(base_url=server.url, timeout=10, trust_env=False) as client, \
            Prometheus(tmp_path, server.url) as prometheus:
        prometheus.until(lambda: [r["value"][1] for r in prometheus.query("up")] == ["1"],
                         "the first scrape")
        for _ in range(3):  # traffic over a few scrapes, so rate() has two samples
            _traffic(client)
            time.sleep(1.2)
        rate = 'sum(rate(shipyard_requests_total{route="predict",status="200"}[10s]))'
        prometheus.until(lambda: _value(prometheus.query(rate)) > 0, "a positive rate()")
        p90 = ('histogram_quantile(0.9, sum by (le) '
               '(rate(shipyard_request_seconds_bucket{route="predict"}[10s])))')
        prometheus.until(lambda: 0 < _value(prometheus.query(p90)) < 10,
                         "a finite histogram_quantile()")
        missing = prometheus.query('shipyard_requests_total{route="unmatched",status="404"}')
        assert _value(missing) >= 3


def _value(result: list[dict]) -> float:
    """The one sample of an instant vector, NaN when there is none (yet)."""
    if len(result) != 1:
        return math.nan
    return float(result[0]["value"][1])
