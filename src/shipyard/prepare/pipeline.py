"""The preparation steps of a project's pipeline, in the order they run:

series (each entity's history) -> dates -> outlier rows dropped (training
only) -> columns (impute, encode, clip, scale) -> feature selection ->
resampling (training only) -> the model.

Every step is fitted inside the pipeline, so cross-validation refits it on each
fold's training rows and nothing learnt from validation rows leaks in.
"""

from __future__ import annotations

import pandas as pd

from shipyard.metrics import REGRESSION
from shipyard.prepare import columns, dates, imbalance, outliers, selection
from shipyard.prepare.series import SeriesFeatures
from shipyard.schema import Column, Schema, kind_of
from shipyard.spec import Project
from shipyard.spec.options import Regimes

_SAMPLE_ROWS = 2_000  # enough to learn the names and kinds the series step makes


def steps(ds, project: Project) -> list[tuple[str, object]]:
    """Unfitted (name, step) pairs for ``ds``'s schema and the project's settings."""
    prep, out = project.prepare, []
    schema = ds.schema
    if prep.series is not None:
        series = _series(project)
        out.append(("series", series))
        schema = _schema_of(series.fit(ds.X.head(_SAMPLE_ROWS)).transform(
            ds.X.head(_SAMPLE_ROWS)))
    if prep.dates and schema.dates:
        out.append(("dates", dates.DateFeatures(columns=schema.dates, features=list(prep.dates))))
        made = [Column(name, "number") for col in schema.dates
                for name in dates.names(col, list(prep.dates))]
        schema = Schema(tuple(c for c in schema.columns if c.kind != "datetime") + tuple(made))
    if prep.outliers.action == "drop":
        out.append(("drop_outliers", outliers.drop_sampler(prep.outliers.rule, prep.outliers.iqr,
                                                           prep.outliers.quantiles)))
    cardinality = {c: int(ds.X[c].nunique()) for c in schema.text if c in ds.X}
    out.append(("columns", columns.build(schema, prep, project.task, project.seed, cardinality)))
    select = prep.select
    if select.drop_constant or select.drop_duplicates or select.max_correlation or \
            select.top_features:
        out.append(("select", selection.FeatureSelector(
            drop_constant=select.drop_constant, drop_duplicates=select.drop_duplicates,
            max_correlation=select.max_correlation, top_features=select.top_features,
            task=project.task, seed=project.seed)))
    if project.task != REGRESSION:
        sampler = imbalance.resampler(prep.imbalance, project.seed, project.task)
        if sampler is not None:
            out.append(("resample", sampler))
    return out


def _series(project: Project) -> SeriesFeatures:
    s = project.prepare.series
    return SeriesFeatures(
        entity=project.entity, time=project.time, columns=s.columns,
        smooth=s.smooth.model_dump() if s.smooth else None, windows=tuple(s.windows),
        stats=tuple(s.stats), lags=tuple(s.lags), elapsed=s.elapsed,
        regime=s.regime.model_dump() if isinstance(s.regime, Regimes) else s.regime,
        keep_raw=s.keep_raw)


def _schema_of(frame: pd.DataFrame) -> Schema:
    """The schema of a step's output: what the next step receives."""
    found = []
    for name in frame.columns:
        kind = kind_of(frame[name])
        if kind is not None:
            found.append(Column(str(name), "number" if kind in ("integer", "boolean") else kind))
    return Schema(tuple(found))
