"""Checks of the ``gates:`` section that need the rest of the project file."""

from __future__ import annotations

from shipyard.metrics import ANOMALY, BINARY, MULTICLASS, REGRESSION
from shipyard.spec.models import Project

Problem = tuple[tuple, str]

# Which fairness metrics each task can compute.
FAIRNESS_FOR = {
    BINARY: ("demographic_parity_difference", "demographic_parity_ratio",
             "equalized_odds_difference", "equalized_odds_ratio", "accuracy_difference"),
    MULTICLASS: ("accuracy_difference",),
    REGRESSION: ("mae_difference", "rmse_difference"),
    ANOMALY: (),
}


def check(p: Project) -> list[Problem]:
    return [*_quality(p), *_fairness(p), *_privacy(p)]


def _quality(p: Project) -> list[Problem]:
    out = []
    for i, gate in enumerate(p.gates.quality):
        if gate.vs == "baseline" and not p.labelled:
            out.append((("gates", "quality", i, "vs"), "the dummy baseline is scored against "
                        "labels, and without a 'target' there are none"))
    return out


def _fairness(p: Project) -> list[Problem]:
    fair = p.gates.fairness
    if fair is None:
        return []
    where = ("gates", "fairness")
    if not p.labelled:
        return [(where, "group metrics compare predictions with labels, and without a "
                        "'target' there are none")]
    out = []
    fitting = FAIRNESS_FOR[p.task]
    for i, c in enumerate(fair.checks):
        if c.metric not in fitting:
            out.append(((*where, "checks", i, "metric"),
                        f"'{c.metric}' does not fit a {p.task} task; use one of "
                        f"{', '.join(fitting) or '(none: use a classification task)'}"))
    for i, col in enumerate(fair.sensitive):
        if col == p.target:
            out.append(((*where, "sensitive", i), f"the target '{col}' cannot be a sensitive "
                                                   "column"))
    m = fair.mitigation
    if m is not None and p.task != BINARY:
        out.append(((*where, "mitigation"), f"mitigation is for binary classifiers; this task "
                                            f"is {p.task}"))
    elif m is not None and m.method == "threshold_optimizer":
        out_of_features = [c for c in fair.sensitive if c in p.features.exclude or
                           (p.features.include is not None and c not in p.features.include)]
        if out_of_features:
            out.append(((*where, "mitigation", "method"),
                        "threshold_optimizer picks a threshold per group at prediction time, "
                        f"so it needs {', '.join(out_of_features)} among the model's inputs; "
                        "keep it in the features, or use exponentiated_gradient"))
        if m.constraint == "error_rate_parity":
            out.append(((*where, "mitigation", "constraint"), "threshold_optimizer does not "
                        "take error_rate_parity; use demographic_parity, equalized_odds, "
                        "true_positive_rate_parity or false_positive_rate_parity"))
    return out


def _privacy(p: Project) -> list[Problem]:
    out = []
    for col in p.gates.privacy.allow:
        if col == p.target:
            out.append((("gates", "privacy", "allow", col), "the target is never a feature; "
                        "there is nothing to allow"))
    return out
