"""Hyperparameter search with Optuna's TPE sampler, seeded, under a budget of
trials and/or seconds. Each trial is a full cross-validation of one setting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import optuna

from shipyard.errors import ShipyardError, TrainError
from shipyard.metrics import Metric
from shipyard.progress import Report
from shipyard.spec import Model, Range, Tuning


def tune(spec: Model, score: Callable[[dict[str, Any]], Any], metric: Metric, budget: Tuning,
         seed: int, progress: Report):
    """The best candidate found for ``spec``; ``score(params)`` cross-validates one setting
    and returns a Candidate."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if metric.greater_is_better else "minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    found: dict[int, Any] = {}
    step = f"Tuning {spec.name}"

    def objective(trial: optuna.Trial) -> float:
        params = {**spec.params, **{k: _suggest(trial, k, space) for k, space in
                                    spec.search.items()}}
        candidate = score(params)
        found[trial.number] = candidate
        return candidate.mean(metric.name)

    def tick(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        progress(step, len(study.trials), budget.trials)

    progress(step, 0, budget.trials)
    study.optimize(objective, n_trials=budget.trials, timeout=budget.timeout, callbacks=[tick],
                   catch=(TrainError, ValueError, TypeError))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        reasons = {str(t.user_attrs.get("error", t.system_attrs.get("fail_reason", "")))[:200]
                   for t in study.trials}
        raise ShipyardError(f"Every tuning trial of '{spec.name}' failed",
                            details=sorted(r for r in reasons if r),
                            hint="check the search space of this model in the project file")
    best = found[study.best_trial.number]
    history = [t.value if t.value is not None else float("nan") for t in study.trials]
    return replace(best, trials=len(study.trials), history=history)


def _suggest(trial: optuna.Trial, name: str, space: Range | list) -> Any:
    if isinstance(space, list):
        return trial.suggest_categorical(name, space)
    if space.is_int:
        return trial.suggest_int(name, int(space.low), int(space.high), log=space.log)
    return trial.suggest_float(name, float(space.low), float(space.high), log=space.log)
