"""The quality gate: holdout metrics against thresholds, against the dummy baseline
and the current champion on the same rows; and training's overfitting finding."""

from __future__ import annotations

from shipyard.gates.record import GateResult, judge
from shipyard.metrics import METRICS
from shipyard.spec import Project


def check(project: Project, metrics: dict[str, float], *,
          baseline: dict[str, float] | None = None, champion: dict[str, float] | None = None,
          champion_version: str | None = None,
          findings: list[dict] | None = None) -> list[GateResult]:
    """Every quality check the project declares, on the holdout ``metrics``; the
    baseline's and the champion's figures are on the same holdout rows. A check
    against a champion passes (and says so) while there is none."""
    results = []
    for gate in project.gates.quality:
        metric = METRICS[gate.metric]
        actual = metrics[gate.metric]
        if gate.vs is None:
            for op, threshold in ((">=", gate.min), ("<=", gate.max)):
                if threshold is not None:
                    results.append(judge(
                        "quality", gate.metric, actual, op, threshold,
                        f"holdout {metric.title} is {actual:.4g}; the project requires "
                        f"{op} {threshold:g}", gate.blocking))
            continue
        reference = (baseline or {}).get(gate.metric) if gate.vs == "baseline" else \
            (champion or {}).get(gate.metric)
        op = ">=" if metric.greater_is_better else "<="
        if reference is None:
            why = ("there is no champion yet" if gate.vs == "champion" else
                   "the baseline was not scored")
            results.append(judge("quality", f"{gate.metric}.vs_{gate.vs}", actual, op, actual,
                                 f"nothing to compare with: {why}", gate.blocking, gate.vs))
            continue
        # better by at least `margin` of the reference's own size
        step = gate.margin * abs(reference)
        threshold = reference + step if metric.greater_is_better else reference - step
        who = f"the champion (version {champion_version})" if gate.vs == "champion" and \
            champion_version else f"the {gate.vs}"
        need = f"better by {gate.margin:.0%}" if gate.margin else "at least as good"
        results.append(judge(
            "quality", f"{gate.metric}.vs_{gate.vs}", actual, op, threshold,
            f"holdout {metric.title} is {actual:.4g} against {reference:.4g} for {who} on "
            f"the same rows; the project requires {need}", gate.blocking, gate.vs))
    return results + _overfitting(project, findings or [])


def _overfitting(project: Project, findings: list[dict]) -> list[GateResult]:
    mode = project.gates.overfitting
    if mode == "off":
        return []
    found = [f for f in findings if f.get("kind") == "overfitting"]
    details = "; ".join(f["message"] for f in found) or \
        "training found no overfitting (train/validation gap and validation curves)"
    return [judge("overfitting", "findings", float(len(found)), "<=", 0, details,
                  blocking=mode == "block")]
