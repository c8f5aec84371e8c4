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
from shipyard.spec import Range, Tuning


def tune(name: str, fixed: dict[str, Any], space: dict[str, Range | list],
         score: Callable[[dict[str, Any], Callable | None], Any], metric: Metric,
         budget: Tuning, seed: int, progress: Report, start: dict[str, Any] | None = None):
    """The best candidate found for model ``name``; ``score(params, on_fold)``
    cross-validates one setting and returns a Candidate. With pruning on, a trial
    whose first folds score clearly worse than the median of earlier trials at the
    same fold is stopped there. ``start`` (a champion's parameters) is the first
    trial, as far as its values lie in the space."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
              if budget.pruning else optuna.pruners.NopPruner())
    study = optuna.create_study(direction="maximize" if metric.greater_is_better else "minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner)
    first = {k: int(v) if isinstance(space[k], Range) and space[k].is_int else v
             for k, v in (start or {}).items() if k in space and _inside(v, space[k])}
    if first:  # warm start: the rest of the first trial's parameters are sampled
        study.enqueue_trial(first)
    found: dict[int, Any] = {}
    step = f"Tuning {name}"

    def objective(trial: optuna.Trial) -> float:
        params = {**fixed, **{k: _suggest(trial, k, s) for k, s in space.items()}}

        def on_fold(i: int, mean_so_far: float) -> None:
            trial.report(mean_so_far, i)
            if trial.should_prune():
                raise optuna.TrialPruned()

        candidate = score(params, on_fold)
        found[trial.number] = candidate
        return candidate.mean(metric.name)

    def tick(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        progress(step, len(study.trials), budget.trials)

    progress(step, 0, budget.trials)
    study.optimize(objective, n_trials=budget.trials, timeout=budget.timeout, callbacks=[tick],
                   catch=(TrainError, ValueError, TypeError))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        reasons = {str(t.system_attrs.get("fail_reason", ""))[:300] for t in study.trials}
        raise ShipyardError(f"Every tuning trial of '{name}' failed",
                            details=sorted(r for r in reasons if r),
                            hint="check the search space of this model in the project file")
    best = found[study.best_trial.number]
    # Pruned trials carry their last partial score; only complete trials count here.
    history = [t.value if t.state == optuna.trial.TrialState.COMPLETE else float("nan")
               for t in study.trials]
    return replace(best, trials=len(study.trials), history=history)


def _inside(value: Any, space: Range | list) -> bool:
    """Whether Optuna can take ``value`` as the space's own (else it warns and
    the value would be a trial outside the space the project file declares)."""
    if isinstance(space, list):
        return value in space
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if space.is_int and not float(value).is_integer():
        return False
    return space.low <= value <= space.high


def _suggest(trial: optuna.Trial, name: str, space: Range | list) -> Any:
    if isinstance(space, list):
        return trial.suggest_categorical(name, space)
    if space.is_int:
        return trial.suggest_int(name, int(space.low), int(space.high), log=space.log)
    return trial.suggest_float(name, float(space.low), float(space.high), log=space.log)
