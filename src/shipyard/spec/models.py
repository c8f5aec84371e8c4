"""The typed shape of ``shipyard.yaml``. Unknown keys are errors everywhere."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from shipyard.spec.base import Strict
from shipyard.spec.gates import Gates
from shipyard.spec.monitoring import Monitor, Retrain
from shipyard.spec.options import Evaluate, Label, Prepare
from shipyard.spec.serving import Serve

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)]
Choice = str | int | float | bool | None


OptionValue = str | int | float | bool | list[str] | dict[str, str]


class File(Strict):
    """A file with settings for DuckDB's reader (read_csv, read_parquet, read_json):
    e.g. ``{header: false, delim: ", ", names: [age, workclass, ...]}``."""

    path: Annotated[str, Field(min_length=1)]
    format: Literal["csv", "parquet", "json"] | None = None  # default: from the extension
    options: dict[Annotated[str, Field(pattern=r"^[a-z_]+$")], OptionValue] = {}


class Source(Strict):
    """Where the data comes from: a database URL or local files, and a SQL query.

    ``url`` is ``duckdb:///path.duckdb`` for the embedded default or any
    SQLAlchemy URL. ``files`` maps table names to CSV/Parquet paths (globs
    allowed) that the query reads through DuckDB. Relative paths are relative to
    the project file.
    """

    url: str | None = None
    files: dict[Name, str | File] | None = None
    query: Annotated[str, Field(min_length=1)]
    # Rows held out for the final evaluation instead of a random share of `query`'s;
    # rows without a target are scored for context (history) but not counted.
    test_query: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _one_location(self) -> Source:
        if (self.url is None) == (self.files is None):
            raise ValueError("give exactly one of 'url' (a database) or 'files' (CSV/Parquet)")
        return self


class Split(Strict):
    holdout: Annotated[float, Field(gt=0, lt=1)] = 0.2
    folds: Annotated[int, Field(ge=2, le=50)] = 5
    strategy: Literal["auto", "random", "stratified", "group", "time"] = "auto"


class Features(Strict):
    include: list[str] | None = None
    exclude: list[str] = []


class Range(Strict):
    """A numeric search range; integers when both bounds are integers."""

    low: float | int
    high: float | int
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.low < self.high:
            raise ValueError(f"expected low < high, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got low={self.low}")
        return self

    @property
    def is_int(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)


class Model(Strict):
    """A candidate: a catalogue name or an estimator's dotted path, fixed
    ``params`` and an optional ``search`` space (a range, or a list of choices)."""

    name: Annotated[str, Field(min_length=1)]
    params: dict[str, Any] = {}
    # A space per parameter, or "auto" for the catalogue's default space.
    search: dict[str, Range | Annotated[list[Choice], Field(min_length=1)]] | \
        Literal["auto"] = {}


class Tuning(Strict):
    trials: Annotated[int, Field(ge=1, le=10_000)] = 20
    timeout: Annotated[float, Field(gt=0)] | None = None  # seconds per model
    pruning: bool = True  # stop a trial early when its first folds are clearly worse
    # Boosting models stop adding trees after this many rounds without improvement on a
    # fold's validation rows; the refit runs the iterations the folds kept. None: off.
    early_stopping: Annotated[int, Field(ge=1)] | None = 50
    # Trials proposed together and scored at once (on a cluster's workers, one task
    # each), then reported in trial order: the search sees the same history wherever it
    # runs. 1 keeps trials one after another, with live pruning (the folds of each trial
    # are spread instead); above 1, pruning is decided on each trial's fold scores once
    # its batch is scored (the same decisions everywhere, but no time is saved).
    batch: Annotated[int, Field(ge=1, le=1000)] = 1


class Tracking(Strict):
    uri: str | None = None
    experiment: Name | None = None


class Compute(Strict):
    """Where tuning, cross-validation and batch scoring run. ``local`` starts a Dask
    cluster on this machine (loopback only, dashboard off) for the run; ``dask``
    joins the scheduler at ``address``. Without the section, work stays in this
    process. The results do not depend on where the work runs."""

    backend: Literal["local", "dask"]
    address: str | None = None  # tcp://host:port (or tls://)
    workers: Annotated[int, Field(ge=1, le=256)] | None = None  # local: default one per core
    timeout: Annotated[float, Field(gt=0)] = 10.0  # seconds to reach the scheduler

    @model_validator(mode="after")
    def _where(self) -> Compute:
        if self.backend == "dask" and self.address is None:
            raise ValueError("backend 'dask' needs 'address': the scheduler, e.g. "
                             "tcp://10.0.0.5:8786")
        if self.address is not None and not re.match(r"^(tcp|tls)://[^/\s]+$", self.address):
            raise ValueError(f"'address' is a scheduler's tcp://host:port (or tls://), got "
                             f"{self.address!r}")
        if self.backend == "local" and self.address is not None:
            raise ValueError("backend 'local' starts its own cluster; 'address' is for "
                             "backend 'dask'")
        if self.backend == "dask" and self.workers is not None:
            raise ValueError("'workers' is for backend 'local'; a remote cluster has the "
                             "workers it was started with")
        return self


class Project(Strict):
    name: Name
    source: Source
    # None only for task: anomaly, whose data may have no labels
    target: str | None = None
    task: Literal["regression", "binary", "multiclass", "anomaly"]
    positive_class: str | int | bool | None = None
    entity: str | None = None
    time: str | None = None
    label: Label | None = None
    split: Split = Split()
    features: Features = Features()
    prepare: Prepare = Prepare()
    # Omitted: the catalogue's default candidates for the task (catalogue.DEFAULT_MODELS)
    models: Annotated[list[Model], Field(min_length=1)]
    metric: str | None = None
    gates: Gates = Gates()
    tuning: Tuning = Tuning()
    evaluate: Evaluate = Evaluate()
    serve: Serve = Serve()
    monitor: Monitor = Monitor()
    retrain: Retrain = Retrain()
    tracking: Tracking = Tracking()
    compute: Compute | None = None
    workspace: str = ".shipyard"
    # Where snapshots are also kept, as an fsspec URL (s3://bucket/path, file:///srv/snaps,
    # a local folder), so that a run can be reproduced on another machine.
    snapshots: str | None = None
    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _model_aliases(cls, data):
        """``logistic`` is the catalogue's ``linear`` on a classification task; without
        ``models``, the task's default candidates."""
        from shipyard.catalogue import DEFAULT_MODELS, canonical

        if isinstance(data, dict) and "models" not in data and data.get("task") in DEFAULT_MODELS:
            data = {**data, "models": [dict(m) for m in DEFAULT_MODELS[data["task"]]]}
        if not isinstance(data, dict) or not isinstance(data.get("models"), list) or \
                not isinstance(data.get("task"), str):
            return data
        models = [{**m, "name": canonical(m["name"], data["task"])}
                  if isinstance(m, dict) and isinstance(m.get("name"), str) else m
                  for m in data["models"]]
        return {**data, "models": models}

    _file: Path | None = PrivateAttr(default=None)
    _digest: str = PrivateAttr(default="")
    _text: str = PrivateAttr(default="")

    @property
    def file(self) -> Path | None:
        """The project file this was read from, if any."""
        return self._file

    @property
    def root(self) -> Path:
        """The folder relative paths in the project file are relative to."""
        return self._file.parent if self._file else Path.cwd()

    @property
    def digest(self) -> str:
        """SHA-256 of the project file's bytes, as read."""
        return self._digest

    @property
    def text(self) -> str:
        """The project file's text, as read (what a run records to be reproduced)."""
        return self._text

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.root / p

    @property
    def split_strategy(self) -> str:
        """The split strategy, with ``auto`` made concrete."""
        if self.split.strategy != "auto":
            return self.split.strategy
        if self.entity:
            return "group"
        if self.task == "regression" or not self.labelled:
            return "random"
        return "stratified"

    @property
    def labelled(self) -> bool:
        """Whether the data has a target; only an anomaly task may lack one."""
        return self.target is not None

    @property
    def primary_metric(self) -> str:
        from shipyard.metrics import DEFAULT_METRIC, UNLABELLED_METRICS

        if not self.labelled:
            return self.metric or UNLABELLED_METRICS[0]
        return self.metric or DEFAULT_METRIC[self.task]

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_-]+", "-", self.name)
