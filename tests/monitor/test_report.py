"""The HTML monitoring report, rendered from pass dicts whose drift and quality
parts are computed by the real drift and quality checks on a real shift."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from shipyard import report as blocks
from shipyard.monitor import drift, quality, reference
from shipyard.monitor.report import render
from shipyard.schema import Column, Schema
from shipyard.spec.monitoring import Drift

SCHEMA = Schema((Column("age", "integer"), Column("income", "number"),
                 Column("city", "string"), Column("member", "boolean")))
T0 = 1_764_000_000.0


def rows(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Inputs; ``shift`` moves age and income and the city mix (0: the reference's)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(18, 60, n) + int(20 * shift),
        "income": rng.normal(50 + 30 * shift, 10, n),
        "city": rng.choice(["Paris", "Lyon", "Nice"], n,
                           p=[0.5 - 0.4 * shift, 0.3, 0.2 + 0.4 * shift]),
        "member": rng.random(n) < 0.4,
    })


@pytest.fixture(scope="module")
def ref() -> reference.Reference:
    train, holdout = rows(2000, 0), rows(500, 1)
    predictions = holdout["income"] * 2
    return reference.build(train, holdout, predictions, None, predictions + 1.0)


def a_pass(ref: reference.Reference, at: float, shift: float, live_rmse: float | None,
           n: int = 400) -> tuple[dict, pd.DataFrame]:
    current = rows(n, int(at) % 1000, shift)
    current["prediction"] = current["income"] * 2
    result = drift.compare(ref.train, current, SCHEMA, Drift())
    pred = drift.prediction_drift(ref.predictions.to_numpy(float),
                                  current["prediction"].to_numpy(float), False, Drift())
    record = {
        "at": at, "version": "3", "rows": n, "since": at - 600, "until": at,
        "drift": result.to_dict(), "prediction_drift": pred.to_dict(),
        "quality": quality.check(current, ref.train, SCHEMA).to_dict(),
        "live": None if live_rmse is None else {"rows": 120, "metrics": {"rmse": live_rmse}},
        "estimated": None, "reference": {"rmse": 12.0, "mae": 9.5}, "task": "regression",
        "metric": "rmse", "empty": False, "notes": [],
    }
    return record, current


DECISIONS = [
    {"at": T0 + 1800, "triggered": False, "reasons": [], "champion": "3", "challenger": None,
     "metric": "rmse", "champion_score": None, "challenger_score": None, "margin": 0.0,
     "gates": [], "promoted": False, "outcome": "not triggered", "run_id": None},
    {"at": T0 + 3700, "triggered": True, "reasons": ["dataset drift: 4 of 4 <b>features</b>"],
     "champion": "3", "challenger": "4", "metric": "rmse", "champion_score": 18.1,
     "challenger_score": 12.3, "margin": 0.0, "gates": [], "promoted": True,
     "outcome": "promoted", "run_id": "abc"},
]
VERSIONS = [  # as registry.versions gives them
    {"version": "3", "run_id": "r3", "created": T0 - 86400, "aliases": ["previous"],
     "metrics": {"rmse": 12.0}, "parent": None, "promotion": None,
     "replaced": {"by": "4", "at": T0 + 3700}, "rollback": None, "restored_at": None},
    {"version": "4", "run_id": "r4", "created": T0 + 3600, "aliases": ["champion"],
     "metrics": {"rmse": 11.2}, "parent": "3",
     "promotion": {"at": T0 + 3700, "by": "loop", "reason": "challenger better by 32%",
                   "replaced": "3"},
     "replaced": None, "rollback": None, "restored_at": None},
]


def _section(html: str, title: str) -> str:
    start = html.index(f"<h2>{title}</h2>")
    return html[start:html.index("</section>", start)]


def _plots(html: str) -> list[str]:
    return re.findall(r'<img class="plot" src="data:image/png;base64,[A-Za-z0-9+/=]{200,}" '
                      r'alt="([^"]*)">', html)


def test_report_shows_the_latest_pass_its_history_and_the_loop(ref):
    passes, current = [], None
    for i, (shift, rmse) in enumerate([(0.0, 12.4), (0.5, 15.0), (1.0, 18.1)]):
        record, current = a_pass(ref, T0 + 1200 * i, shift, rmse)
        passes.append(record)
    latest = passes[-1]
    html = render("fleet", passes, DECISIONS, VERSIONS, ref, current, latest, drift_share=0.5)

    for title in ("Summary", "Drift by feature", "Distributions: reference vs current",
                  "Drift over time", "Performance", "Data quality", "Retraining decisions",
                  "Model versions"):
        assert f"<h2>{title}</h2>" in html, title
    summary = _section(html, "Summary")
    drifted = latest["drift"]["drifted"]
    assert len(drifted) >= 3  # a strong shift: the real checks flag it
    assert ">yes</div>" in summary  # dataset drift
    assert f">{len(drifted)} of 4</div>" in summary
    assert f">{blocks.share(latest['drift']['share'])}</div>" in summary
    assert ">18.1</div>" in summary and ">12</div>" in summary  # live vs reference RMSE
    for name in drifted:
        assert name in summary

    table = _section(html, "Drift by feature")
    assert table.count("<tr>") == 1 + 4 + 1  # header, 4 features, the prediction
    top = max(latest["drift"]["features"], key=lambda f: (f["drifted"], f["psi"]))
    assert f">{blocks.number(top['psi'])}</td>" in table
    assert f">{blocks.number(top['statistic'])}</td>" in table
    assert table.index(top["feature"]) < table.index("(prediction)")

    alts = _plots(html)
    distributions = [a for a in alts if a.startswith("Distribution of ")]
    assert len(distributions) == 5  # four features and the predictions
    assert distributions[0] == f"Distribution of {top['feature']}, reference vs current"
    assert "Share of drifted features per pass" in alts
    assert any(a.startswith("PSI per pass") for a in alts)
    assert "RMSE over time" in alts
    assert "Champion vs challenger on the same recent holdout" in alts

    decisions = _section(html, "Retraining decisions")
    assert decisions.index("promoted") < decisions.index("not triggered")  # newest first
    assert "&lt;b&gt;features&lt;/b&gt;" in decisions and "<b>features" not in html
    assert ">18.1</td>" in decisions and ">12.3</td>" in decisions
    versions = _section(html, "Model versions")
    assert versions.index(">4</td>") < versions.index(">3</td>")
    assert ("promoted 2025-11-24 17:01 UTC, replacing version 3: challenger better by 32%"
            in versions)
    assert "replaced by version 4 2025-11-24 17:01 UTC" in versions
    assert "2025-11-23 16:00 UTC" in versions  # version 3's creation


def test_no_pass_yet_gives_a_page_that_says_so():
    html = render("fleet", [], [], [], None, None)
    assert "<h2>No monitoring pass yet</h2>" in html
    assert "shipyard monitor" in html
    assert "No retraining decision has been recorded yet." in html
    assert _plots(html) == []


def test_a_window_without_data_says_so_and_keeps_the_history(ref):
    earlier, _ = a_pass(ref, T0, 0.8, 14.0)
    empty = {"at": T0 + 600, "version": "3", "rows": 0, "since": None, "until": None,
             "drift": None, "prediction_drift": None, "quality": None, "live": None,
             "estimated": None, "reference": {"rmse": 12.0}, "task": "regression",
             "metric": "rmse", "empty": True,
             "notes": ["no predictions were logged in the window"]}
    html = render("fleet", [earlier], [], [], ref, pd.DataFrame(), empty)
    assert "The window had no data." in html
    assert "no predictions were logged in the window" in html
    assert "Drift by feature" not in html and "Distributions" not in html
    assert "Share of drifted features per pass" in _plots(html)  # the earlier pass
    assert ">–</div>" in _section(html, "Summary")  # no drift figures for this window


def test_estimated_performance_is_plotted_before_labels_arrive(ref):
    record, current = a_pass(ref, T0, 0.0, None)
    record.update(task="binary", metric="roc_auc", reference={"roc_auc": 0.91},
                  estimated={"roc_auc": 0.874, "f1": 0.66})
    html = render("churn", [record], [], [], ref, current)
    performance = _section(html, "Performance")
    assert ">0.874</td>" in performance and ">0.91</td>" in performance
    assert "ROC-AUC over time" in _plots(html)
    assert "no labels yet" in _section(html, "Summary")
