"""Gates: checks a model must pass before it may become the champion.

A gate is data: a named check of one metric against a threshold that yields a
:class:`GateResult` record. The records are stored with the run in the
registry and shown in the report; one failed blocking gate stops registration.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from shipyard.metrics import METRICS
from shipyard.report import Section, badge, table
from shipyard.spec import Project


@dataclass(frozen=True)
class GateResult:
    gate: str  # the kind of gate: "quality"
    metric: str
    actual: float
    op: str  # ">=" or "<="
    threshold: float
    passed: bool
    details: str = ""

    @property
    def name(self) -> str:
        return f"{self.gate}: {self.metric} {self.op} {self.threshold:g}"

    def to_dict(self) -> dict:
        return {**asdict(self), "name": self.name}


def check(project: Project, metrics: dict[str, float]) -> list[GateResult]:
    """Every gate the project declares, judged on the holdout ``metrics``."""
    results = []
    for gate in project.gates.quality:
        actual = metrics[gate.metric]
        for op, threshold in ((">=", gate.min), ("<=", gate.max)):
            if threshold is None:
                continue
            ok = not math.isnan(actual) and (actual >= threshold if op == ">=" else
                                             actual <= threshold)
            title = METRICS[gate.metric].title
            results.append(GateResult(
                "quality", gate.metric, actual, op, threshold, ok,
                f"holdout {title} is {actual:.4g}; the project requires {op} {threshold:g}"))
    return results


def passed(results: list[GateResult]) -> bool:
    return all(r.passed for r in results)


def section(results: list[GateResult]) -> Section:
    if not results:
        return Section("Gates", "<p>The project file declares no gates.</p>")
    rows = [{"gate": r.gate, "check": f"{r.metric} {r.op} {r.threshold:g}",
             "actual": r.actual,
             "verdict": badge("pass", "good") if r.passed else badge("FAIL", "bad")}
            for r in results]
    verdict = ("<p class='verdict pass'>All gates passed: the model may become the champion.</p>"
               if passed(results) else
               "<p class='verdict fail'>A gate failed: the model was not registered.</p>")
    return Section("Gates", verdict + table(rows))
