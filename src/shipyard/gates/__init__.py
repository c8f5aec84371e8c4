"""Gates: checks a model must pass before it may become the champion.

A gate is data: a named check of one measured value against a threshold that
yields a :class:`GateResult` record. The records are stored with the run and
the model version in the registry and shown in the report; one failed blocking
check stops registration unless the user overrides it with a reason.

- ``data`` and ``privacy`` judge the extracted rows, before anything is trained
  (:func:`before_training`);
- ``fairness`` judges the model's predictions per group of the sensitive columns;
- ``quality`` judges holdout metrics, against thresholds, the dummy baseline and
  the champion; ``overfitting`` judges training's findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from shipyard.gates import data_gate, privacy
from shipyard.gates.quality import check as check_quality
from shipyard.gates.record import (
    KINDS,
    GateResult,
    Override,
    apply,
    failures,
    judge,
    overrides,
    passed,
)
from shipyard.gates.section import section
from shipyard.spec import Project

__all__ = ["KINDS", "Early", "GateResult", "Override", "apply", "before_training",
           "check_quality", "declared", "failures", "judge", "overrides", "passed", "section"]


@dataclass(frozen=True)
class Early:
    """The data and privacy gates' verdicts on the extracted rows."""

    results: list[GateResult]
    refused: dict[str, str] = field(default_factory=dict)  # column -> why it is no feature
    unlogged: list[str] = field(default_factory=list)  # columns kept out of the prediction log
    found: list[privacy.Personal] = field(default_factory=list)


def before_training(project: Project, frame: pd.DataFrame, findings: list | None) -> Early:
    """Judge the extracted rows (with the label derived) and the profile's findings."""
    results = []
    if project.gates.data is not None:
        results += data_gate.check(project.gates.data, frame, findings)
    roles = {project.target, project.time} | ({project.label.event} if project.label and
                                               project.label.event else set())
    found = privacy.detect(frame, skip=[c for c in roles if c])
    candidates = [c for c in frame.columns if c not in roles | {project.entity}
                  and c not in project.features.exclude]
    verdict = privacy.check(project.gates.privacy, found, candidates=candidates,
                            included=project.features.include, entity=project.entity)
    results += verdict.results
    missing = [c for c in project.gates.privacy.allow if c not in frame.columns]
    results += [judge("privacy", f"{c}.allowed", 1.0, "<=", 0,
                      f"gates.privacy.allow names '{c}', which the query does not return",
                      project.gates.privacy.blocking) for c in missing]
    return Early(results, verdict.refused, verdict.unlogged, found)


def declared(project: Project) -> set[str]:
    """The gates the project file declares (privacy always runs)."""
    g = project.gates
    kinds = {"privacy"}
    if g.quality:
        kinds.add("quality")
    if g.overfitting != "off":
        kinds.add("overfitting")
    if g.fairness is not None:
        kinds.add("fairness")
    if g.data is not None:
        kinds.add("data")
    return kinds
