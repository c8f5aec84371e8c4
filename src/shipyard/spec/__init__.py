"""The project file, ``shipyard.yaml``: its schema, and loading it with every
mistake reported up front, each with the file, line, key path, what was
expected and what was found."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from shipyard.errors import SpecError
from shipyard.spec import checks, env, extends, messages, yamlpos
from shipyard.spec.gates import (
    DataGate,
    FairnessGate,
    Gates,
    Mitigation,
    PrivacyGate,
    QualityGate,
)
from shipyard.spec.models import (
    Compute,
    Features,
    Model,
    Project,
    Range,
    Source,
    Split,
    Tracking,
    Tuning,
)
from shipyard.spec.options import (
    Encode,
    Evaluate,
    Imbalance,
    Impute,
    Label,
    Outliers,
    Prepare,
    Select,
    Series,
    Smooth,
    Threshold,
)
from shipyard.spec.serving import Batching, Serve

__all__ = ["Batching", "Compute", "DataGate", "Encode", "Evaluate", "FairnessGate", "Features",
           "Gates", "Imbalance", "Impute", "Label", "Mitigation", "Model", "PrivacyGate",
           "Outliers", "Prepare", "Project", "QualityGate", "Range", "Select", "Series", "Serve",
           "Smooth", "Source", "Split", "Threshold", "Tracking", "Tuning", "load", "parse"]


def load(path: str | Path, environ: Mapping[str, str] | None = None) -> Project:
    """Read and validate the project file at ``path``; ``${NAME}`` values come from
    ``environ`` (default: the process environment)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"No project file at {path}",
                        hint="run `shipyard init` to write a starter project") from None
    except OSError as exc:
        raise SpecError(f"Cannot read the project file {path}: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path} is not UTF-8 text (byte {exc.start})") from exc
    return parse(text, name=str(path), file=path.resolve(), environ=environ)


def parse(text: str, name: str = "shipyard.yaml", file: Path | None = None,
          sources: bool = True, environ: Mapping[str, str] | None = None) -> Project:
    """Validate project-file ``text``; ``name`` is what error messages call it and
    ``file`` is where relative paths start (the current folder when None). With
    ``sources=False``, the source's files need not exist."""
    try:
        data, lines, dups = yamlpos.load(text)
    except yamlpos.YamlProblem as exc:
        where = f"{name}:{exc.line}" if exc.line else name
        raise SpecError(f"{where}: {exc.message}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{name}: expected a mapping of keys (name, source, target, ...), "
                        f"got {messages.show(data)}")
    problems = [(p.line, p.message) for p in dups]
    if "extends" in data:
        data = extends.resolve(data, name, file)
        text = extends.text_of(data, name)
    data, unset = env.expand(data, environ)
    problems += [(yamlpos.line_of(lines, path), f"{yamlpos.dotted(path)}: {msg}")
                 for path, msg in unset]
    project = None
    try:
        project = Project.model_validate(data)
    except ValidationError as exc:
        found = messages.explain(exc, data, Project) + _models_alone(data)
    else:
        project._file = file
        found = checks.check(project, sources)
    problems += [(yamlpos.line_of(lines, path), f"{yamlpos.dotted(path)}: {msg}")
                 for path, msg in found]
    if problems:
        problems.sort(key=lambda item: item[0] or 0)
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise SpecError(f"{name}: {count} in the project file",
                        details=[f"{name}:{line}: {msg}" if line else f"{name}: {msg}"
                                 for line, msg in problems])
    project._digest = hashlib.sha256(text.encode()).hexdigest()
    project._text = text
    return project


def _models_alone(data: dict) -> list[checks.Problem]:
    """Check the model entries that are well-formed even though the file as a whole
    is not, so that a wrong model name is reported in the same pass."""
    task, models = data.get("task"), data.get("models")
    if task not in ("regression", "binary", "multiclass", "anomaly") or \
            not isinstance(models, list):
        return []
    valid = []
    for i, item in enumerate(models):
        try:
            valid.append((i, Model.model_validate(item)))
        except ValidationError:
            continue  # already reported by the whole-file validation
    return checks.check_models(task, valid)
