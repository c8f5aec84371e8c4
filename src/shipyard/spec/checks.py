"""Checks that need more than the file's shape: names of models, parameters and
metrics, and settings that only make sense together. No data is read here."""

from __future__ import annotations

import glob
import re

from shipyard import catalogue
from shipyard.errors import did_you_mean
from shipyard.metrics import ANOMALY, METRICS, REGRESSION, UNLABELLED_METRICS, for_task
from shipyard.spec import gate_checks
from shipyard.spec.models import Project

Problem = tuple[tuple, str]


def check(project: Project, sources: bool = True) -> list[Problem]:
    """Every problem; with ``sources=False`` the source's files need not exist (a run
    reproduced from its snapshot reads no source)."""
    return [*_metrics(project), *_models(project), *_split(project), *_columns(project),
            *(_source(project) if sources else []),
            *(_companions(project) if sources else []), *_label(project), *_prepare(project),
            *_anomaly(project), *_costs(project), *gate_checks.check(project)]


def _metric_problem(name: str, task: str) -> str | None:
    fitting = [m.name for m in for_task(task)]
    if name in fitting:
        return None
    if name in METRICS:
        return f"'{name}' does not fit {_a(task)} task; use one of {', '.join(fitting)}"
    return f"unknown metric '{name}'{did_you_mean(name, fitting)}; known: {', '.join(fitting)}"


def _a(task: str) -> str:
    return f"an {task}" if task == ANOMALY else f"a {task}"


def _metrics(p: Project) -> list[Problem]:
    out = []
    if p.metric is not None and (msg := _metric_problem(p.metric, p.task)
                                 or _unlabelled_problem(p, p.metric)):
        out.append((("metric",), msg))
    for i, gate in enumerate(p.gates.quality):
        if msg := _metric_problem(gate.metric, p.task) or _unlabelled_problem(p, gate.metric):
            out.append((("gates", "quality", i, "metric"), msg))
    for i, trigger in enumerate(p.retrain.metrics):
        if msg := _metric_problem(trigger.metric, p.task) or \
                _unlabelled_problem(p, trigger.metric):
            out.append((("retrain", "metrics", i, "metric"), msg))
    if p.retrain.cron is not None and (msg := _cron_problem(p.retrain.cron)):
        out.append((("retrain", "cron"), msg))
    return out


def _cron_problem(expression: str) -> str | None:
    fields = expression.split()
    if len(fields) != 5:
        return (f"expected a crontab schedule of 5 fields (minute hour day month weekday), "
                f"got {len(fields)} in {expression!r}")
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(expression)
    except ValueError as exc:
        return f"not a valid crontab schedule {expression!r}: {exc}"
    return None


def _unlabelled_problem(p: Project, name: str) -> str | None:
    if p.task != ANOMALY or p.labelled or name in UNLABELLED_METRICS:
        return None
    return (f"'{name}' compares predictions with labels, and without a 'target' there are "
            f"none; set 'target' to the column that marks the anomalies, or use "
            f"{', '.join(UNLABELLED_METRICS)}")


def _models(p: Project) -> list[Problem]:
    return check_models(p.task, enumerate(p.models))


def check_models(task: str, models) -> list[Problem]:
    """Problems with (index, Model) pairs; usable when the rest of the file is broken."""
    out = []
    for i, model in models:
        try:
            cls = catalogue.estimator_class(model.name, task)
        except catalogue.UnknownModel as exc:
            out.append((("models", i, "name"), str(exc)))
            continue
        for key, msg in catalogue.check_params(model.name, task, model.params).items():
            out.append((("models", i, "params", key), msg))
        known = cls().get_params()
        if model.search == "auto":
            name = catalogue.canonical(model.name, task)
            if name not in catalogue.MODELS or not catalogue.MODELS[name].space:
                out.append((("models", i, "search"), f"'{model.name}' has no default search "
                                                     "space; give one per parameter"))
            continue
        for key in model.search:
            if key not in known:
                out.append((("models", i, "search", key),
                            f"unknown parameter for {cls.__name__}{did_you_mean(key, known)}"))
    return out


def _split(p: Project) -> list[Problem]:
    strategy, where = p.split.strategy, ("split", "strategy")
    if strategy == "group" and not p.entity:
        return [(where, "'group' keeps each entity on one side of the split; set 'entity' "
                        "to the column that identifies it")]
    if strategy == "time" and not p.time:
        return [(where, "'time' orders rows by time; set 'time' to the column that holds it")]
    if strategy == "stratified" and p.task == ANOMALY and not p.labelled:
        return [(where, "'stratified' keeps each class's share, and without a 'target' there "
                        "are no classes; use 'random', 'group' or 'time'")]
    if strategy == "stratified" and p.task == REGRESSION:
        return [(where, "'stratified' needs classes; a regression task uses 'random', "
                        "'group' or 'time'")]
    return []


def _columns(p: Project) -> list[Problem]:
    out = []
    if p.target is None and p.task != ANOMALY:
        out.append((("target",), f"a {p.task} task learns a target; name its column (only "
                                 "task: anomaly may go without one)"))
    if p.positive_class is not None and p.task not in ("binary", ANOMALY):
        out.append((("positive_class",), f"only a binary task has a positive class, this "
                                          f"task is {p.task}"))
    if p.positive_class is not None and p.target is None:
        out.append((("positive_class",), "the positive class is a value of the target, and "
                                         "there is no 'target'"))
    if p.features.include and p.target in p.features.include:
        out.append((("features", "include"), f"the target '{p.target}' cannot be a feature"))
    for role in ("entity", "time"):
        if p.target is not None and getattr(p, role) == p.target:
            out.append(((role,), f"the target '{p.target}' cannot also be the {role} column"))
    return out


def _source(p: Project) -> list[Problem]:
    src = p.source
    if src.url is not None and not re.match(r"^[A-Za-z][\w+.-]*://", src.url):
        return [(("source", "url"), f"expected a URL such as duckdb:///data/fleet.duckdb or "
                                    f"postgresql+psycopg://user@host/db, got {src.url!r}")]
    out = []
    for name, entry in (src.files or {}).items():
        pattern = entry if isinstance(entry, str) else entry.path
        if not glob.glob(str(p.resolve(pattern))):
            out.append((("source", "files", name), f"no file matches {str(p.resolve(pattern))!r}"))
    return out


def _label(p: Project) -> list[Problem]:
    if p.label is None:
        return []
    out = []
    if not (p.entity and p.time):
        out.append((("label",), "deriving a label follows each entity through time; set "
                                "'entity' and 'time'"))
    wanted = "regression" if p.label.kind == "rul" else "binary"
    if p.task != wanted:
        out.append((("label", "kind"), f"'{p.label.kind}' makes a {wanted} target, but the "
                                       f"task is {p.task}"))
    return out


def _prepare(p: Project) -> list[Problem]:
    prep, out = p.prepare, []
    if prep.series is not None and not (p.entity and p.time):
        out.append((("prepare", "series"), "window features follow each entity through "
                                           "time; set 'entity' and 'time'"))
    if prep.series is not None and prep.series.chosen and not p.labelled:
        out.append((("prepare", "series"), f"'auto' chooses {', '.join(prep.series.chosen)} by "
                                           "cross-validation, which needs a target; give them"))
    if prep.imbalance.method != "none" and p.task in (REGRESSION, ANOMALY):
        out.append((("prepare", "imbalance", "method"),
                    f"'{prep.imbalance.method}' balances classes; {_a(p.task)} task has none"
                    + (" (an anomaly detector learns what is normal from the rows as they "
                       "are)" if p.task == ANOMALY else "")))
    if prep.imbalance.ratio is not None and p.task == ANOMALY:
        out.append((("prepare", "imbalance", "ratio"), "an anomaly task has no classes to "
                                                       "balance"))
    if prep.threshold.objective != "none" and p.task == ANOMALY and not p.labelled:
        out.append((("prepare", "threshold", "objective"),
                    "tuning the threshold needs labels; set 'target', or remove it to flag "
                    "rows by the detector's own threshold"))
    elif prep.threshold.objective != "none" and p.task not in ("binary", ANOMALY):
        out.append((("prepare", "threshold", "objective"),
                    f"a decision threshold needs a binary or anomaly task, this task is "
                    f"{p.task}"))
    if prep.imbalance.method == "class_weight":
        for i, model in enumerate(p.models):
            try:
                cls = catalogue.estimator_class(model.name, p.task)
            except catalogue.UnknownModel:
                continue
            if "class_weight" not in cls().get_params():
                out.append((("models", i, "name"), f"{cls.__name__} takes no class weights; "
                            "use another prepare.imbalance.method or drop this model"))
    return out


def _companions(p: Project) -> list[Problem]:
    """A companion's project file must be there; it is read when the server starts
    (it extends this file, so reading it here would go round in a circle)."""
    return [(("serve", "companions", key), f"no project file at {p.resolve(file)}")
            for key, file in p.serve.companions.items() if not p.resolve(file).is_file()]


def _costs(p: Project) -> list[Problem]:
    """Policies are replayed per entity in time order, on a time-left target."""
    if p.evaluate.costs is None:
        return []
    where = ("evaluate", "costs")
    if p.task != REGRESSION:
        return [(where, f"the policies replay a time left before an event, a regression "
                        f"target; this project is {_a(p.task)}")]
    missing = [k for k in ("entity", "time") if getattr(p, k) is None]
    if missing:
        return [(where, f"the policies replay each entity's rows in time order: set "
                        f"{' and '.join(repr(k) for k in missing)}")]
    return []


def _anomaly(p: Project) -> list[Problem]:
    """An anomaly detector learns from features alone: settings that need a target to
    learn from, or labels to score against, do not fit."""
    if p.task != ANOMALY:
        return []
    out = []
    if not p.labelled:
        for i, model in enumerate(p.models):
            if model.search:
                out.append((("models", i, "search"), "tuning compares settings against "
                            "labels, and without a 'target' there are none; fix the params "
                            "instead, or set 'target'"))
    if p.prepare.encode.text == "target":
        out.append((("prepare", "encode", "text"), "target encoding learns from the target; "
                    "an anomaly detector learns from features alone: use onehot or ordinal"))
    if p.prepare.select.top_features:
        out.append((("prepare", "select", "top_features"), "ranking features needs a target "
                    "to predict; an anomaly detector learns from features alone"))
    return out
