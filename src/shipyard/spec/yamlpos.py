"""Read YAML and remember where every value was written.

PyYAML's node tree knows each node's line; the plain loader forgets it. We
walk the node tree once to map key paths to lines, so that an error can say
``shipyard.yaml:12`` and not only ``models[1].params``. Duplicate keys, which
PyYAML silently resolves to the last one, are reported.
"""

from __future__ import annotations

import re

import yaml


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false. YAML 1.1 also reads
    yes/no/on/off as booleans, so `positive_class: Yes` would become True."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool",
                              re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))

KeyPath = tuple  # ("models", 1, "params", "max_depth")


class YamlProblem(Exception):
    def __init__(self, line: int | None, message: str):
        self.line = line
        self.message = message
        super().__init__(message)


def load(text: str) -> tuple[object, dict[KeyPath, int], list[YamlProblem]]:
    """Parse ``text``; return the data, a map of key path -> 1-based line, and
    duplicate-key problems. Raise :class:`YamlProblem` on a syntax error."""
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise YamlProblem(line, f"not valid YAML: {exc.problem or exc}") from exc
    lines: dict[KeyPath, int] = {}
    dups: list[YamlProblem] = []
    if node is not None:
        _walk(node, (), lines, dups)
    return data, lines, dups


def _walk(node, path, lines, dups) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                dups.append(YamlProblem(key_node.start_mark.line + 1,
                                        f"{dotted(path + (key,))}: key appears twice"))
            seen.add(key)
            _walk(value_node, path + (key,), lines, dups)
            lines[path + (key,)] = key_node.start_mark.line + 1  # the key's line, not the value's
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), lines, dups)


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path``, or of its nearest written ancestor."""
    path = tuple(path)
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path)


def dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"
