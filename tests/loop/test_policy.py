"""The retraining policy on monitoring passes shaped as `Pass.to_dict()` makes them."""

import math

import pytest

from shipyard.loop import reasons
from shipyard.loop.policy import relative_loss
from shipyard.spec.monitoring import Retrain

NOW = 1_800_000_000.0


def _pass(*, drifted: int = 0, features: int = 4, live=None, estimated=None,
          reference=None, empty: bool = False, at: float = NOW) -> dict:
    return {"at": at, "version": "3", "rows": 0 if empty else 800, "empty": empty,
            "drift": {"dataset_drift": drifted * 2 >= features and drifted > 0,
                      "share": drifted / features,
                      "features": [{"feature": f"f{i}", "drifted": i < drifted}
                                   for i in range(features)]},
            "live": live, "estimated": estimated, "reference": reference or {},
            "task": "binary", "metric": "roc_auc"}


def _policy(**settings) -> Retrain:
    return Retrain.model_validate(settings)


def test_nothing_wrong_triggers_nothing():
    assert reasons(_policy(), _pass(drifted=1), 0, now=NOW) == []
    assert reasons(_policy(), None, 10_000, now=NOW) == []  # no new_labels rule
    assert reasons(_policy(), _pass(drifted=4, empty=True), 0, now=NOW) == []


def test_dataset_drift_names_the_drifted_features():
    got = reasons(_policy(), _pass(drifted=3), 0, now=NOW)
    assert got == ["dataset drift: 3 of 4 features drifted (f0, f1, f2)"]
    assert reasons(_policy(on_drift=False), _pass(drifted=3), 0, now=NOW) == []


def test_an_old_pass_says_how_old_it_is():
    got = reasons(_policy(), _pass(drifted=4, at=NOW - 3 * 3600), 0, now=NOW)
    assert got[0].endswith("[monitoring pass of 3 h ago]")


def test_metric_bounds_on_live_metrics():
    live = {"rows": 120, "metrics": {"roc_auc": 0.61, "f1": 0.7}}
    policy = _policy(metrics=[{"metric": "roc_auc", "min": 0.7}, {"metric": "f1", "max": 0.9}])
    assert reasons(policy, _pass(live=live), 0, now=NOW) == [
        "live (120 labelled rows) ROC-AUC 0.61 is below 0.7 (retrain.metrics: min)"]


@pytest.mark.parametrize("metric, live, reference, fires", [
    ("roc_auc", 0.70, 0.90, True),   # 22% lower, higher is better: worse
    ("roc_auc", 0.80, 0.90, False),  # 11% lower: within 20%
    ("rmse", 13.0, 10.0, True),      # 30% higher, lower is better: worse
    ("rmse", 7.0, 10.0, False),      # lower rmse is better, not worse
])
def test_worse_by_follows_the_metrics_direction(metric, live, reference, fires):
    policy = _policy(metrics=[{"metric": metric, "worse_by": 0.2}])
    got = reasons(policy, _pass(live={"rows": 50, "metrics": {metric: live}},
                                reference={metric: reference}), 0, now=NOW)
    assert bool(got) is fires
    if fires:
        assert "worse than the champion's holdout" in got[0] and "worse_by 20%" in got[0]


def test_an_estimate_stands_in_for_labels_that_have_not_arrived():
    policy = _policy(metrics=[{"metric": "roc_auc", "worse_by": 0.1}])
    got = reasons(policy, _pass(estimated={"roc_auc": 0.6}, reference={"roc_auc": 0.9}), 0,
                  now=NOW)
    assert got and got[0].startswith("estimated ROC-AUC 0.6 is 33% worse")


def test_new_labels_and_force():
    policy = _policy(new_labels=500)
    assert reasons(policy, None, 499, now=NOW) == []
    assert reasons(policy, None, 500, now=NOW) == [
        "500 new labelled rows since the champion was promoted (retrain.new_labels: 500)"]
    assert reasons(_policy(), None, 0, force=True, now=NOW) == ["forced (--force)"]


def test_every_trigger_that_fires_is_a_reason():
    policy = _policy(new_labels=10, metrics=[{"metric": "roc_auc", "min": 0.8}])
    got = reasons(policy, _pass(drifted=2, live={"rows": 30, "metrics": {"roc_auc": 0.5}}),
                  25, force=True, now=NOW)
    assert [r.split(" ")[0] for r in got] == ["forced", "dataset", "live", "25"]


def test_relative_loss():
    assert relative_loss(0.8, 1.0, True) == pytest.approx(0.2)
    assert relative_loss(12.0, 10.0, False) == pytest.approx(0.2)
    assert relative_loss(1.0, 0.0, False) == math.inf
    assert relative_loss(0.0, 0.0, False) == 0.0
    assert math.isnan(relative_loss(float("nan"), 1.0, True))
