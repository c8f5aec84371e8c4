"""The fairness gate in a run: group metrics of the chosen model on the holdout
and, when the project asks for it, a mitigated model that replaces it, with what
mitigation gained and cost."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shipyard import evaluate
from shipyard.gates import GateResult
from shipyard.gates import fairness as fairness_gate
from shipyard.gates.fairness_section import section as fairness_section
from shipyard.metrics import BINARY
from shipyard.progress import Report
from shipyard.report import Section
from shipyard.spec import Project


@dataclass(frozen=True)
class Fairness:
    model: object  # the model to register: the mitigated one when there is one
    evaluation: evaluate.Evaluation  # of that model
    threshold: float | None  # that model's decision threshold (binary)
    results: list[GateResult]
    before: fairness_gate.Audit
    after: fairness_gate.Audit | None
    cost: dict[str, tuple[float, float]] | None  # model metric -> (before, after)
    method: str = ""  # the mitigation, if any

    def section(self) -> Section:
        return fairness_section(self.before, self.results, self.after, self.cost,
                                method=self.method)

    def to_dict(self) -> dict:
        return {"before": self.before.to_dict(),
                "after": None if self.after is None else self.after.to_dict(),
                "cost": {k: list(v) for k, v in (self.cost or {}).items()},
                "gates": [r.to_dict() for r in self.results]}


def assess(project: Project, got, model, ev: evaluate.Evaluation, threshold: float | None,
           progress: Report) -> Fairness:
    spec = project.gates.fairness
    held = got.held
    sensitive = _scored(held.sensitive, held.scored)
    before = fairness_gate.audit(project.task, *_labels(ev, project.task), sensitive)
    after = cost = None
    if spec.mitigation is not None:
        from shipyard.gates.mitigation import mitigate

        progress(f"Mitigating ({spec.mitigation.method})", 0, 1)
        model = mitigate(spec.mitigation, model, got.fit.X, got.fit.y, got.fit.sensitive,
                         seed=project.seed, positive=got.ds.positive)
        # the mitigated model decides by its own rule: positive at probability >= 0.5
        threshold = 0.5 if project.task == BINARY else threshold
        mitigated = evaluate.evaluate(model, held.X, held.y, task=project.task,
                                      baseline=None, positive=got.ds.positive,
                                      threshold=threshold, seed=project.seed,
                                      scored=held.scored)
        mitigated = _with_baseline(mitigated, ev)
        after = fairness_gate.audit(project.task, *_labels(mitigated, project.task), sensitive)
        cost = {name: (ev.metrics[name], mitigated.metrics[name]) for name in ev.metrics
                if name in mitigated.metrics}
        ev = mitigated
        progress(f"Mitigating ({spec.mitigation.method})", 1, 1)
    results = fairness_gate.check(spec, after or before)
    return Fairness(model, ev, threshold, results, before, after, cost,
                    spec.mitigation.method if spec.mitigation else "")


def _with_baseline(ev: evaluate.Evaluation, original: evaluate.Evaluation):
    from dataclasses import replace

    return replace(ev, baseline_metrics=original.baseline_metrics)


def _scored(sensitive: pd.DataFrame, scored: np.ndarray | None) -> pd.DataFrame:
    if scored is None:
        return sensitive
    return sensitive.loc[np.asarray(scored, dtype=bool)].reset_index(drop=True)


def _labels(ev: evaluate.Evaluation, task: str) -> tuple[np.ndarray, np.ndarray]:
    """True and predicted labels as the audit takes them: 1 for the positive class."""
    p = ev.prediction
    if task != BINARY:
        return np.asarray(p.y_true), np.asarray(p.y_pred)
    positive = p.positive_class
    return ((np.asarray(p.y_true) == positive).astype(int),
            (np.asarray(p.y_pred) == positive).astype(int))
