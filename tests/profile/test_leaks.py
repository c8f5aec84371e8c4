"""Leakage that no single column shows: flags that together make up the label
(sub-labels), a column known only after the outcome (dominant), and the quick
model's ablation that says what each suspect adds. On synthetic data, on the
shared datasets with planted leaks, and on the shared datasets as they are (no
false alarm)."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from shipyard import spec
from shipyard.errors import GateFailed
from shipyard.lifecycle import run_project
from shipyard.profile import DOMINANT, LEAKAGE, profile

DATA = Path(os.environ.get("SHIPYARD_DATA", Path(__file__).parents[3] / "shared" / "data"))
assert DATA.is_dir(), f"the shared datasets are not at {DATA}: set SHIPYARD_DATA"
FLAGS = ["TWF", "HDF", "PWF", "OSF", "RNF"]


def machines(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    """A machine fails when any of five failure modes occurs; the modes are kept as
    columns beside the label, each explaining about a fifth of the failures."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"temp": rng.normal(300, 2, n).round(2),
                          "torque": rng.normal(40, 10, n).round(2),
                          "wear": rng.integers(0, 250, n),
                          "kind": rng.choice(["L", "M", "H"], n)})
    for flag in FLAGS:
        frame[flag] = (rng.random(n) < 0.008).astype(int)
    frame["failed"] = np.where(frame[FLAGS].max(axis=1) == 1, "yes", "no")
    return frame


def marketing(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    """A call's duration is known once the call ended: 0 when the answer was no
    and the line dropped, long when it was yes; weak honest features beside it."""
    rng = np.random.default_rng(seed)
    said_yes = rng.random(n) < 0.12
    frame = pd.DataFrame({f"x{i}": rng.normal(0, 1, n) + 0.3 * said_yes for i in range(5)})
    frame["job"] = rng.choice(["admin", "technician", "services"], n)
    frame["duration"] = np.where(said_yes, rng.exponential(600, n),
                                 np.where(rng.random(n) < 0.1, 0, rng.exponential(200, n)))
    frame["y"] = np.where(said_yes, "yes", "no")
    return frame


def _leaks(found) -> dict[str, str]:
    return {f.column: f.message for f in found.findings if f.kind == LEAKAGE}


def test_flags_that_make_up_the_label_are_named_with_their_evidence():
    found = profile(machines(), target="failed", task="binary")
    flagged = _leaks(found)
    assert set(flagged) == set(FLAGS)  # no honest column is accused
    assert "with 'HDF', 'PWF', 'OSF', 'RNF' it reproduces 100% of them" in flagged["TWF"]
    assert max(found.column_scores[f] for f in FLAGS) < 0.7  # no flag alone stands out
    a = found.ablation
    assert a.full > 0.99 and a.without_suspects < 0.7
    assert set(a.without) == set(FLAGS) and all(s < a.full for s in a.without.values())
    assert f"{a.without['TWF']:.3f} without it" in flagged["TWF"]


def test_a_column_known_after_the_outcome_is_named_with_the_gap():
    found = profile(marketing(), target="y", task="binary")
    assert _leaks(found) == {}  # not dropped: a strong honest feature looks the same
    flagged = {f.column: f.message for f in found.findings if f.kind == DOMINANT}
    assert list(flagged) == ["duration"]
    assert "far better than any other column" in flagged["duration"]
    assert "(roc_auc 0.7" in flagged["duration"] and "kept as a feature" in flagged["duration"]
    a = found.ablation
    assert a.full - a.without["duration"] > 0.1


def _adult() -> pd.DataFrame:
    names = ["age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
             "occupation", "relationship", "race", "sex", "capital_gain", "capital_loss",
             "hours_per_week", "native_country", "income"]
    return duckdb.sql(f"SELECT * FROM read_csv('{DATA / 'adult' / 'adult.data'}', "
                      f"header=false, delim=', ', names={names})").df()


def _telco() -> pd.DataFrame:
    path = DATA / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
    return duckdb.sql(f"SELECT * EXCLUDE (customerID) FROM read_csv('{path}')").df()


@pytest.mark.parametrize("name, load, target", [("adult", _adult, "income"),
                                                ("telco", _telco, "Churn")])
def test_no_false_alarm_on_the_shared_datasets_and_planted_leaks_are_found(name, load, target):
    rows = load()
    assert _leaks(profile(rows, target=target, task="binary")) == {}
    positive = rows[target].value_counts().index[-1]  # the minority class
    rng = np.random.default_rng(1)
    reason = np.where(rows[target] == positive, rng.choice(["price", "service", "move"],
                                                           len(rows)), "none")
    for kind in ("price", "service", "move"):  # why it happened, recorded afterwards
        rows[f"reason_{kind}"] = (reason == kind).astype(int)
    planted = _leaks(profile(rows, target=target, task="binary"))
    assert set(planted) == {"reason_price", "reason_service", "reason_move"}, planted


def test_a_select_star_run_reports_the_suspects_and_the_gate_can_block(tmp_path: Path):
    machines().to_csv(tmp_path / "machines.csv", index=False)
    text = ("name: leaky\nsource:\n  files: {machines: machines.csv}\n"
            "  query: SELECT * FROM machines\ntarget: failed\ntask: binary\n"
            "positive_class: 'yes'\nsplit: {holdout: 0.25, folds: 3}\n"
            "models: [{name: linear}]\n")
    (tmp_path / "shipyard.yaml").write_text(text)
    outcome = run_project(spec.load(tmp_path / "shipyard.yaml"))
    assert not set(FLAGS) & set(outcome.card.schema.names)  # left out of the features
    page = outcome.report.read_text()
    assert "looks like a part of" in page and "without every suspect" in page
    (tmp_path / "blocked.yaml").write_text(text + "gates: {data: {leakage: block}}\n")
    with pytest.raises(GateFailed) as refused:  # before any training
        run_project(spec.load(tmp_path / "blocked.yaml"))
    assert "data.TWF.leakage: leakage suspect: 'TWF' looks like a part of" in str(refused.value)
    (tmp_path / "kept.yaml").write_text(text + "features: {include: [TWF]}\n")
    kept = run_project(spec.load(tmp_path / "kept.yaml"))
    assert "TWF" in kept.card.schema.names  # the user overrules the finding
