"""From a snapshot's rows to what a model learns from.

:func:`dataset` picks the feature columns (the project's ``features``, or every
column but the target, entity and time), converts them to the model-input
contract of :mod:`shipyard.schema`, sets aside rows without a target and
checks that the target fits the task. :func:`steps` builds the preparation
steps (series and date features, imputation, encoding, scaling, outliers,
selection, resampling) that go inside the served pipeline, so the model takes
raw rows. ``labels`` derives targets from histories; ``threshold`` tunes a
binary decision threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import DataError
from shipyard.metrics import ANOMALY, BINARY, REGRESSION
from shipyard.schema import Column, Schema, kind_of
from shipyard.spec import Project


@dataclass(frozen=True)
class Dataset:
    X: pd.DataFrame  # feature columns in the model-input contract
    y: np.ndarray
    schema: Schema
    groups: np.ndarray | None = None  # the entity of each row
    times: np.ndarray | None = None  # the time of each row
    classes: tuple = ()
    positive: Any = None
    set_aside: int = 0  # rows without a target value
    notes: list[str] = field(default_factory=list)  # columns not used, and why
    # Rows to score; the others are context (an entity's earlier history) that the
    # model sees but nobody grades. None: every row is scored.
    scored: np.ndarray | None = None
    segments: np.ndarray | None = None  # values of evaluate.segment, for per-segment metrics
    # The columns of gates.fairness.sensitive, for group metrics; kept whether or not
    # they are features.
    sensitive: pd.DataFrame | None = None
    # False for an anomaly task without a target: ``y`` is then all False, a placeholder
    labelled: bool = True

    def __len__(self) -> int:
        return len(self.y)

    def take(self, rows: np.ndarray) -> Dataset:
        return replace(self, X=self.X.iloc[rows].reset_index(drop=True), y=self.y[rows],
                       groups=None if self.groups is None else self.groups[rows],
                       times=None if self.times is None else self.times[rows],
                       scored=None if self.scored is None else self.scored[rows],
                       segments=None if self.segments is None else self.segments[rows],
                       sensitive=None if self.sensitive is None else
                       self.sensitive.iloc[rows].reset_index(drop=True))


def dataset(frame: pd.DataFrame, project: Project,
            leave_out: dict[str, str] | None = None) -> Dataset:
    """``leave_out`` maps columns the profile found unfit to be features (identifiers,
    constants, leakage suspects) to the reason; they are not used unless the
    project file lists them in ``features.include``.

    An anomaly task's ``y`` is True where the target holds the positive class (the
    anomaly); without a target, every row is used and ``y`` is a placeholder."""
    if project.target is None:
        labelled = np.ones(len(frame), dtype=bool)
    else:
        labelled = frame[project.target].notna().to_numpy()
    rows = frame.loc[labelled].reset_index(drop=True)
    if rows.empty:
        raise DataError(f"The target '{project.target}' has no values: every row is missing it")
    schema, notes = _features(rows, project, leave_out or {})
    if project.target is None:
        y, classes, positive = np.zeros(len(rows), dtype=bool), (), None
    else:
        y, classes, positive = _target(rows[project.target], project)
    return Dataset(
        X=schema.model_frame(rows), y=y, schema=schema,
        groups=rows[project.entity].to_numpy() if project.entity else None,
        times=rows[project.time].to_numpy() if project.time else None,
        classes=classes, positive=positive, set_aside=int((~labelled).sum()), notes=notes,
        segments=_segments(rows, project), sensitive=_sensitive(rows, project),
        labelled=project.target is not None)


def holdout(frame: pd.DataFrame, project: Project, train: Dataset) -> Dataset:
    """The rows of ``source.test_query`` as a holdout with the training schema. Rows
    without a target stay as context and are not scored."""
    if project.target is None:  # an anomaly task without labels: every row is held out
        labelled = np.ones(len(frame), dtype=bool)
    else:
        labelled = frame[project.target].notna().to_numpy()
    if not labelled.any():
        raise DataError("source.test_query returns no row with a target: nothing to evaluate",
                        hint="select the target column in the test query")
    missing = [c for c in train.schema.names if c not in frame.columns]
    if missing:
        raise DataError(f"source.test_query does not return {len(missing)} feature column(s)",
                        details=[f"missing: {', '.join(missing[:10])}"],
                        hint="select the same columns as source.query")
    values = frame[project.target] if project.target is not None else None
    if values is None:
        y = np.zeros(len(frame), dtype=bool)
    elif project.task == REGRESSION:
        y = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    elif project.task == ANOMALY:
        y = (values == train.positive).to_numpy(dtype=bool)
    else:
        y = values.to_numpy(dtype=object)
        unseen = sorted({str(v) for v in y[labelled]} - {str(c) for c in train.classes})
        if unseen:
            raise DataError("source.test_query has classes the training rows do not have",
                            details=[f"unseen: {', '.join(unseen[:10])}"])
    return Dataset(
        X=train.schema.model_frame(frame), y=y, schema=train.schema,
        groups=frame[project.entity].to_numpy() if project.entity else None,
        times=frame[project.time].to_numpy() if project.time else None,
        classes=train.classes, positive=train.positive,
        scored=None if labelled.all() else labelled, segments=_segments(frame, project),
        sensitive=_sensitive(frame, project), labelled=project.target is not None)


def _segments(frame: pd.DataFrame, project: Project) -> np.ndarray | None:
    column = project.evaluate.segment
    return None if column is None else frame[column].to_numpy(dtype=object)


def _sensitive(frame: pd.DataFrame, project: Project) -> pd.DataFrame | None:
    fair = project.gates.fairness
    return None if fair is None else frame[list(fair.sensitive)].reset_index(drop=True)


def _features(frame: pd.DataFrame, project: Project,
              leave_out: dict[str, str]) -> tuple[Schema, list[str]]:
    columns, notes = [], []
    if project.features.include:
        names = list(project.features.include)
    else:
        roles = {project.target, project.entity, project.time}
        names = [c for c in frame.columns if c not in roles]
        for name in [c for c in names if c in leave_out]:
            why = leave_out[name]
            # the privacy gate's refusals are lifted in gates.privacy.allow, not here
            notes.append(f"'{name}' is not used: {why}" + (
                "" if "gates.privacy" in why else
                " (list it in features.include to use it anyway)"))
        names = [c for c in names if c not in leave_out]
    names = [c for c in names if c not in set(project.features.exclude)]
    if project.prepare.series is not None:
        # The series step needs each row's entity and time; it turns them into
        # features and drops them.
        columns += [Column(c, kind_of(frame[c]) or "string") for c in
                    (project.entity, project.time) if c not in names]
    for name in names:
        kind = kind_of(frame[name])
        if frame[name].isna().all():
            notes.append(f"'{name}' is not used: it has no values")
        elif kind is None:
            notes.append(f"'{name}' is not used: its type ({frame[name].dtype}) is not a "
                         "number, text or a date")
        elif kind == "datetime" and not project.prepare.dates:
            notes.append(f"'{name}' is not used: it is a date; list the features to make "
                         "from dates in prepare.dates")
        else:
            columns.append(Column(name, kind))
    if not any(c.name in names for c in columns):
        raise DataError("No usable feature columns", details=notes,
                        hint="select numeric or text columns in source.query or features.include")
    return Schema(tuple(columns)), notes


def _target(values: pd.Series, project: Project) -> tuple[np.ndarray, tuple, Any]:
    name = project.target
    if project.task == REGRESSION:
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.isna().any():
            bad = values[numbers.isna()].iloc[0]
            raise DataError(f"The target '{name}' must be numeric for a regression task; "
                            f"found {bad!r}", hint="use task: binary or multiclass for labels")
        return numbers.to_numpy(dtype=float), (), None
    y = values.to_numpy()
    classes = tuple(sorted(pd.unique(values).tolist()))
    if len(classes) < 2:
        raise DataError(f"The target '{name}' has a single class ({classes[0]!r}); a classifier "
                        "needs at least two", hint="check the query's filters and the labels")
    if project.task in (BINARY, ANOMALY) and len(classes) > 2:
        raise DataError(f"The target '{name}' has {len(classes)} classes; a {project.task} "
                        f"task needs exactly two", details=[f"classes: {_few(classes)}"],
                        hint="use task: multiclass" if project.task == BINARY else
                        "map the labels to two values (anomaly or not) in source.query")
    positive = None
    if project.task in (BINARY, ANOMALY):
        positive = classes[-1] if project.positive_class is None else project.positive_class
        if positive not in classes:
            raise DataError(f"positive_class {positive!r} is not a class of '{name}'",
                            details=[f"classes: {_few(classes)}"])
    if project.task == ANOMALY:
        y = y == positive  # True: an anomaly
    return y, classes, positive


def _few(values, n: int = 10) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:n])
    return shown + (", ..." if len(values) > n else "")


from shipyard.prepare.pipeline import steps  # noqa: E402 - the steps use this module's types

__all__ = ["Dataset", "dataset", "holdout", "steps"]
