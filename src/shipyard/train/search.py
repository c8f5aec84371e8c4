"""Hyperparameter search with Optuna's TPE sampler, seeded, under a budget of
trials and/or seconds. Each trial is a full cross-validation of one setting.

The study lives in this process and proposes the trials (ask) and learns their
scores (tell); only the scoring may run elsewhere. Trials are proposed and told in
the same order wherever they are scored, so the search, and its result, depends on
the project file alone, not on the number of workers or which finished first (a
storage shared with the workers would let each take trials as it pleased)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import optuna

from shipyard.errors import ShipyardError, TrainError
from shipyard.metrics import Metric
from shipyard.progress import Report
from shipyard.spec import Range, Tuning

# What a bad setting raises: the trial fails, the search goes on.
_FAILURES = (TrainError, ValueError, TypeError)


def tune(name: str, fixed: dict[str, Any], space: dict[str, Range | list],
         score: Callable[[dict[str, Any], Callable | None], Any], metric: Metric,
         budget: Tuning, seed: int, progress: Report, start: dict[str, Any] | None = None,
         score_batch: Callable[[list[dict[str, Any]]], list] | None = None):
    """The best candidate found for model ``name``; ``score(params, on_fold)``
    cross-validates one setting and returns a Candidate. With pruning on, a trial
    whose first folds score clearly worse than the median of earlier trials at the
    same fold is stopped there. ``start`` (a champion's parameters) is the first
    trial, as far as its values lie in the space.

    With ``budget.batch`` above 1, that many trials are proposed together and scored
    by ``score_batch(settings)`` (a Candidate, or the reason it failed, for each; by
    default one after another here), then reported in trial order."""
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
    failed: dict[int, str] = {}
    step = f"Tuning {name}"
    progress(step, 0, budget.trials)
    if budget.batch == 1:
        _one_by_one(study, fixed, space, score, metric, budget, found, failed,
                    lambda: progress(step, len(study.trials), budget.trials))
    else:
        _in_batches(study, fixed, space, score_batch or _scorer(score), metric, budget, found,
                    failed, lambda: progress(step, len(study.trials), budget.trials))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise ShipyardError(f"Every tuning trial of '{name}' failed",
                            details=sorted({r[:300] for r in failed.values()}),
                            hint="check the search space of this model in the project file")
    best = found[study.best_trial.number]
    # Pruned trials carry their last partial score; only complete trials count here.
    history = [t.value if t.state == optuna.trial.TrialState.COMPLETE else float("nan")
               for t in study.trials]
    return replace(best, trials=len(study.trials), history=history)


def _one_by_one(study, fixed, space, score, metric: Metric, budget: Tuning, found: dict,
                failed: dict, tick: Callable[[], None]) -> None:
    """Trials one after another; a trial is pruned as soon as its folds say so."""

    def objective(trial: optuna.Trial) -> float:
        params = {**fixed, **{k: _suggest(trial, k, s) for k, s in space.items()}}

        def on_fold(i: int, mean_so_far: float) -> None:
            trial.report(mean_so_far, i)
            if trial.should_prune():
                raise optuna.TrialPruned()

        try:
            candidate = score(params, on_fold)
        except _FAILURES as exc:
            failed[trial.number] = str(exc)
            raise
        found[trial.number] = candidate
        return candidate.mean(metric.name)

    study.optimize(objective, n_trials=budget.trials, timeout=budget.timeout,
                   callbacks=[lambda study, trial: tick()], catch=_FAILURES)


def _in_batches(study, fixed, space, score_batch, metric: Metric, budget: Tuning, found: dict,
                failed: dict, tick: Callable[[], None]) -> None:
    """Trials ``budget.batch`` at a time: asked together, scored together, told in
    trial order. Each trial's fold scores are reported as if they had come in live,
    so pruning decides as it would have with the trials before it in the batch."""
    started = time.monotonic()
    while len(study.trials) < budget.trials:
        if budget.timeout is not None and time.monotonic() - started >= budget.timeout:
            break
        trials = [study.ask() for _ in range(min(budget.batch,
                                                 budget.trials - len(study.trials)))]
        settings = [{**fixed, **{k: _suggest(t, k, s) for k, s in space.items()}}
                    for t in trials]
        for trial, got in zip(trials, score_batch(settings), strict=True):
            if isinstance(got, str):
                failed[trial.number] = got
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            elif _pruned(trial, got.scores[metric.name]):
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                found[trial.number] = got
                study.tell(trial, got.mean(metric.name))
            tick()


def _pruned(trial: optuna.Trial, folds: list[float]) -> bool:
    """Report the fold scores one by one, as a live trial would; whether the pruner
    stops the trial at one of them."""
    for i in range(1, len(folds) + 1):
        trial.report(float(np.mean(folds[:i])), i)
        if trial.should_prune():
            return True
    return False


def _scorer(score: Callable) -> Callable[[list[dict[str, Any]]], list]:
    """Settings scored one after another in this process; a failure is the trial's."""

    def score_batch(settings: list[dict[str, Any]]) -> list:
        out = []
        for params in settings:
            try:
                out.append(score(params, None))
            except _FAILURES as exc:
                out.append(str(exc))
        return out

    return score_batch


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
