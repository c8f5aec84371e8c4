"""What a run records so that it can be traced and reproduced: the project file
(its hash, and its exact text as an artifact), the seed, the versions of Python
and of the packages that decide the result, the platform, the git commit of the
project's folder, and where its snapshot is shared."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

from shipyard import catalogue
from shipyard.data import Snapshot, remote
from shipyard.spec import Project

PROJECT_ARTIFACT = "project/shipyard.yaml"
VERSIONS = "shipyard.versions."
# The packages whose version can change a result; a tuple is one package known
# under several distribution names (the tag takes the last one).
PACKAGES: tuple[str | tuple[str, ...], ...] = (
    "shipyard", "scikit-learn", "lightgbm", ("xgboost-cpu", "xgboost"), "optuna",
    "imbalanced-learn", "fairlearn", "pandas", "numpy", "scipy", "pyarrow", "duckdb", "mlflow",
    "onnxruntime", "skl2onnx")
NOT_INSTALLED = "not installed"
_GIT_SECONDS = 5
_THREADS = ("n_jobs", "num_threads", "nthread", "thread_count")


def tags(project: Project) -> dict[str, str]:
    """The lineage tags of a run of ``project``."""
    out = {"shipyard.project": project.name, "shipyard.project_digest": project.digest,
           "shipyard.seed": str(project.seed), "shipyard.platform": platform.platform()}
    if project.file is not None:
        out["shipyard.project_file"] = str(project.file)
    out |= versions()
    out |= git(project.root, project.file)
    return out


def versions() -> dict[str, str]:
    """``shipyard.versions.<package>`` of Python and of every package in PACKAGES."""
    out = {f"{VERSIONS}python": platform.python_version()}
    for names in PACKAGES:
        names = (names,) if isinstance(names, str) else names
        found = NOT_INSTALLED
        for name in names:
            try:
                found = package_version(name)
                break
            except PackageNotFoundError:
                continue
        out[f"{VERSIONS}{names[-1]}"] = found
    return out


def git(folder: Path, project_file: Path | None = None) -> dict[str, str]:
    """The commit of the git work tree that holds ``folder``, and whether it is dirty:
    changes to tracked files, or a project file git does not track (untracked files
    elsewhere, such as the workspace, do not count). Empty without git or a repository."""
    top = _git(folder, "rev-parse", "--show-toplevel")
    if top is None:
        return {}
    out = {"shipyard.git.root": top}
    commit = _git(folder, "rev-parse", "HEAD")  # None in a repository without commits
    if commit is not None:
        out["shipyard.git.commit"] = commit
    changes = _git(folder, "status", "--porcelain", "--untracked-files=no")
    untracked = project_file is not None and project_file.is_file() and \
        _git(folder, "ls-files", "--error-unmatch", "--", str(project_file)) is None
    if changes is not None:
        out["shipyard.git.dirty"] = "true" if changes or untracked or commit is None \
            else "false"
    return out


def _git(folder: Path, *args: str) -> str | None:
    """git's output, or None when git is missing, slow, or says no."""
    # GIT_OPTIONAL_LOCKS=0: `git status` must not take the index lock of someone's work tree.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True,
                              text=True, timeout=_GIT_SECONDS, env=env, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def project_text(project: Project) -> str | None:
    """The project file's text as it was read, or None for a project built in code."""
    return project.text or None


def log_project(run, project: Project) -> None:
    """Store the project file's exact text with the active run (what `shipyard
    reproduce` runs again)."""
    import mlflow

    text = project_text(project)
    if text is not None:
        mlflow.log_text(text, PROJECT_ARTIFACT)


def share(run, project: Project, snapshot: Snapshot, test: bool = False) -> str | None:
    """Push ``snapshot`` to the project's ``snapshots:`` store, when it names one, and
    tag the run with where it went. Returns that location."""
    if not project.snapshots:
        return None
    where = remote.push(snapshot, remote.resolve(project.snapshots, project.root))
    run.set_tags({f"shipyard.snapshot{'.test' if test else ''}.remote": where})
    return where


def nondeterministic(project: Project) -> list[str]:
    """The parts of ``project`` whose result may change from one run to the next."""
    reasons = []
    searched = [m.name for m in project.models
                if (catalogue.default_space(m.name, project.task) if m.search == "auto"
                    else bool(m.search))]
    if project.tuning.timeout is not None and searched:
        reasons.append(f"tuning.timeout: the number of trials of {', '.join(searched)} "
                       "depends on the machine's speed")
    for i, model in enumerate(project.models):
        defaults = catalogue.default_params(model.name, project.task) \
            if model.name in catalogue.MODELS else {}
        threads = {k: v for k, v in {**defaults, **model.params}.items()
                   if k in _THREADS and v not in (None, 1)}
        for key, value in threads.items():
            reasons.append(f"models[{i}] ({model.name}): {key}={value}: parallel threads "
                           "may add up floating-point numbers in another order")
        if model.name not in catalogue.MODELS:
            reasons.append(f"models[{i}] ({model.name}): not in Shipyard's catalogue, so "
                           "whether it is deterministic is unknown")
    return reasons


def environment(tags: dict[str, str]) -> list[str]:
    """The versions of Python and the packages that differ between the run and this
    machine. The platform is recorded but not compared: an operating-system update alone
    would otherwise make every comparison a tolerant one."""
    now = versions()
    return [f"environment: {key.removeprefix(VERSIONS)} was {tags[key]}, is {now[key]}"
            for key in sorted(now) if key in tags and tags[key] != now[key]]
