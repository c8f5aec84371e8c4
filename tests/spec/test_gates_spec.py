"""The gates section of the project file: good sections load; mistakes are
reported with their key path and what would fit."""

import pytest

from shipyard.errors import SpecError
from tests.helpers import project


def _problems(task: str, gates: str, extra: str = "") -> str:
    with pytest.raises(SpecError) as info:
        project(task=task, extra="gates:\n" + gates + extra)
    return "\n".join(info.value.details)


def test_a_full_gates_section_loads():
    p = project(task="binary", extra="""\
gates:
  quality:
    - {metric: roc_auc, min: 0.8}
    - {metric: roc_auc, vs: champion, margin: 0.01}
  overfitting: block
  fairness:
    sensitive: [sex]
    checks:
      - {metric: demographic_parity_difference, max: 0.1}
      - {metric: equalized_odds_ratio, min: 0.8}
    mitigation: {method: exponentiated_gradient}
  privacy:
    allow: {zip: "coarse area codes, agreed with the privacy office"}
  data:
    min_rows: 100
    max_missing: 0.3
    columns:
      age: {type: integer, min: 0, max: 120}
      sex: {categories: [Female, Male]}
    leakage: block
""")
    g = p.gates
    assert g.quality[1].vs == "champion" and g.overfitting == "block"
    assert g.fairness.mitigation.constraint == "demographic_parity"
    assert g.privacy.allow["zip"].startswith("coarse")
    assert g.data.columns["age"].max == 120


@pytest.mark.parametrize("task, gates, expected", [
    ("regression", "  fairness:\n    sensitive: [s]\n    checks: [{metric: "
     "demographic_parity_difference, max: 0.1}]\n",
     "gates.fairness.checks[0].metric: 'demographic_parity_difference' does not fit a "
     "regression task; use one of mae_difference, rmse_difference"),
    ("binary", "  fairness:\n    sensitive: [s]\n    checks: [{metric: "
     "demographic_parity_ratio, max: 0.1}]\n", "is a ratio (1 is equal treatment): give 'min'"),
    ("binary", "  fairness:\n    sensitive: [y]\n", "the target 'y' cannot be a sensitive"),
    ("regression", "  fairness:\n    sensitive: [s]\n    mitigation: {method: "
     "exponentiated_gradient}\n", "mitigation is for binary classifiers"),
    ("binary", "  fairness:\n    sensitive: []\n", "gates.fairness.sensitive"),
    ("binary", "  quality:\n    - {metric: roc_auc, vs: champion, min: 0.8}\n",
     "compares with a reference"),
    ("binary", "  quality:\n    - {metric: roc_auc}\n", "give 'min' and/or 'max'"),
    ("binary", "  privacy:\n    allow: {ssn: ''}\n", "gates.privacy.allow.ssn"),
    ("binary", "  data:\n    columns: {age: {min: 5, max: 1}}\n", "expected min <= max"),
    ("binary", "  overfitting: sometimes\n", "gates.overfitting"),
])
def test_mistakes_name_their_key(task, gates, expected):
    assert expected in _problems(task, gates)


def test_threshold_optimizer_needs_the_sensitive_column_as_an_input():
    gates = ("  fairness:\n    sensitive: [s]\n    mitigation: {method: threshold_optimizer}\n")
    found = _problems("binary", gates, "features:\n  exclude: [s]\n")
    assert "needs s among the model's inputs" in found
    project(task="binary", extra="gates:\n" + gates)  # s is a feature: fine
