"""The series settings that ``auto`` leaves open, chosen by cross-validation.

``prepare.series: auto`` (or ``windows``, ``stats`` or ``smooth: auto`` alone)
tries a small, fixed space on :data:`FOLDS` folds of the project's split
strategy (grouped by entity when the project has one) with a quick model, and
keeps what scores best, one setting after another so the cost stays at a
handful of cross-validations:

1. ``windows``, among :data:`WINDOWS`: recent change only, or recent change
   against a longer level, with or without the whole history so far (a window
   of :data:`HISTORY` rows, longer than any life in the data);
2. ``stats``: mean and slope, or with std added, kept only when it lowers the
   error;
3. ``smooth``: none, or first a rolling median of 5 rows (which a lone spike does
   not move) or an exponentially weighted mean of span 5, kept only when it
   lowers the error.

The quick model is the catalogue's LightGBM with :data:`QUICK` settings: the
choice compares features, and a model of fixed size compares them fairly. Only
training rows are used, so the holdout stays unseen; the same rows and seed
give the same choice, so a reproduction replays it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.errors import ShipyardError
from shipyard.metrics import METRICS
from shipyard.prepare import Dataset
from shipyard.prepare import pipeline as preparation
from shipyard.progress import Report, silent
from shipyard.spec import Project
from shipyard.spec.options import Series, Smooth
from shipyard.train import splits
from shipyard.train.cv import Maker, cross_validate

HISTORY = 10_000  # rows: longer than any entity's life, so the window is all of it
WINDOWS = ((5, 10, 20), (10, 30), (10, 30, HISTORY), (10, 30, 50, HISTORY))
STATS = (("mean", "slope"), ("mean", "std", "slope"))
SMOOTH = (None, {"method": "median", "window": 5}, {"method": "ewm", "window": 5})
QUICK = {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31, "n_jobs": 1}
# Folds of the choice (fewer when the project has fewer): the settings differ by far
# more than the folds' spread, and each fold costs a fit on most of the rows.
FOLDS = 3
_STEP = "Choosing series settings"


@dataclass(frozen=True)
class Tried:
    """One setting tried: the series settings and their cross-validated score."""

    windows: tuple[int, ...]
    stats: tuple[str, ...]
    smooth: dict | None
    mean: float
    std: float

    @property
    def smoothing(self) -> str:
        return "none" if self.smooth is None else \
            f"{self.smooth['method']} {self.smooth['window']}"


@dataclass(frozen=True)
class Choice:
    series: Series  # the project's settings with every auto made concrete
    tried: tuple[Tried, ...]
    metric: str
    open: tuple[str, ...]  # the settings that were auto
    kept_from: str | None = None  # the champion's version whose settings a challenger kept

    @property
    def best(self) -> Tried:
        better = METRICS[self.metric].better
        best = self.tried[0]
        for t in self.tried[1:]:
            if better(t.mean, best.mean):
                best = t
        return best

    def to_dict(self) -> dict:
        return {"metric": self.metric, "chosen": list(self.open), "kept_from": self.kept_from,
                "settings": {key: _plain(getattr(self.series, key)) for key in self.open},
                "tried": [{"windows": list(t.windows), "stats": list(t.stats),
                           "smooth": t.smooth, "mean": t.mean, "std": t.std}
                          for t in self.tried]}


def choose(ds: Dataset, project: Project, progress: Report = silent) -> Choice:
    """The project's series settings with each ``auto`` one chosen on ``ds``."""
    given = project.prepare.series
    open_ = given.chosen
    metric = METRICS[project.primary_metric]
    if not ds.labelled:
        raise ShipyardError("prepare.series: 'auto' chooses settings by cross-validation, "
                            "which needs a target", hint="give windows, stats and smooth")
    folds = list(splits.folds(ds, project.split_strategy, min(FOLDS, project.split.folds),
                              project.seed))
    windows = WINDOWS if "windows" in open_ else (tuple(given.windows),)
    stats = STATS if "stats" in open_ else (tuple(given.stats),)
    smooth = SMOOTH if "smooth" in open_ else (_smooth_of(given.smooth),)
    total = len(windows) + len(stats) - 1 + len(smooth) - 1
    tried: list[Tried] = []

    def score(windows, stats, smooth) -> Tried:
        progress(_STEP, len(tried), total)
        settings = _settings(given, windows, stats, smooth)
        steps = preparation.steps(ds, _with_series(project, settings))
        make = Maker(steps, "lightgbm", project.task, project.seed,
                     project.prepare.imbalance.method == "class_weight")
        got = cross_validate(ds, folds, make, "lightgbm", QUICK, project.task, metric.name,
                             None, workers=max(1, min(len(folds), _cores())))
        tried.append(Tried(tuple(windows), tuple(stats), smooth, got.mean(metric.name),
                           got.std(metric.name)))
        return tried[-1]

    def pick(key: str, options, current: Tried | None) -> Tried:
        """The best of ``current`` and ``current`` with ``key`` set to each option."""
        best = current
        for option in options:
            if current is not None and getattr(current, key) == option:
                continue
            base = {"windows": windows[0], "stats": stats[0], "smooth": smooth[0]} \
                if current is None else \
                {"windows": current.windows, "stats": current.stats, "smooth": current.smooth}
            t = score(**{**base, key: option})
            if best is None or metric.better(t.mean, best.mean):
                best = t
        return best

    best = pick("windows", windows, None)
    best = pick("stats", stats, best)
    best = pick("smooth", smooth, best)
    progress(_STEP, total, total)
    chosen = _settings(given, best.windows, best.stats, best.smooth)
    return Choice(chosen, tuple(tried), metric.name, open_)


def kept(project: Project, step, version: str) -> Choice:
    """The champion's settings (``step``, its fitted series step) for what ``auto``
    leaves open: a retraining challenger keeps them, as it starts from the
    champion's parameters, instead of choosing again on a cycle's rows."""
    smooth = None if step.smooth is None else {"method": step.smooth.get("method", "median"),
                                               "window": step.smooth.get("window", 5)}
    settings = _settings(project.prepare.series, step.windows, step.stats, smooth)
    return Choice(settings, (), METRICS[project.primary_metric].name,
                  project.prepare.series.chosen, version)


def with_choice(project: Project, choice: Choice) -> Project:
    """The project as if its file had written the chosen settings."""
    return _with_series(project, choice.series)


def _settings(given: Series, windows, stats, smooth) -> Series:
    return given.model_copy(update={"windows": list(windows), "stats": list(stats),
                                    "smooth": None if smooth is None else Smooth(**smooth)})


def _smooth_of(smooth: Smooth | None) -> dict | None:
    return None if smooth is None else smooth.model_dump()


def _with_series(project: Project, series: Series) -> Project:
    prepare = project.prepare.model_copy(update={"series": series})
    return project.model_copy(update={"prepare": prepare})


def _plain(value):
    return value.model_dump() if hasattr(value, "model_dump") else value


def _cores() -> int:
    import os

    return os.cpu_count() or 1
