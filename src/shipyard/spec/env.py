"""``${NAME}`` and ``${NAME:-default}`` in project-file text values, from the
environment, so one project file can point at data that lives in a different
place on each machine (``files: {train: ${SHIPYARD_DATA}/adult/adult.data}``)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(data, environ: Mapping[str, str] | None = None, path: tuple = ()):
    """``data`` with every ``${...}`` in its strings replaced; also the list of
    (key path, message) for variables that are not set and have no default."""
    environ = os.environ if environ is None else environ
    problems: list[tuple[tuple, str]] = []

    def walk(node, where):
        if isinstance(node, str):
            return _VAR.sub(lambda m: _value(m, environ, where, problems), node)
        if isinstance(node, dict):
            return {k: walk(v, (*where, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, (*where, i)) for i, v in enumerate(node)]
        return node

    return walk(data, path), problems


def _value(match: re.Match, environ, where, problems) -> str:
    name, default = match.group(1), match.group(2)
    if name in environ:
        return environ[name]
    if default is not None:
        return default
    problems.append((where, f"the environment variable {name} is not set (write "
                            f"${{{name}:-default}} to give a default)"))
    return match.group(0)
