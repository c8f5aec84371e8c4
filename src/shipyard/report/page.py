"""The page: sections in a Jinja2 template, written atomically."""

from __future__ import annotations

import os
import pathlib
import re
import tempfile
from dataclasses import dataclass
from functools import cache

import jinja2
from markupsafe import Markup

from shipyard._version import __version__


@dataclass(frozen=True)
class Section:
    """A titled part of the report. ``html`` is trusted markup built with this
    package's helpers (which escape whatever came from data or users)."""

    title: str
    html: str


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("shipyard.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _anchor(index: int, title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40]
    return f"s{index}-{slug}" if slug else f"s{index}"


def render(
    title: str,
    sections: list[Section],
    *,
    subtitle: str = "",
    facts: dict[str, str] | None = None,
) -> str:
    """One standalone HTML page: a header with ``title``, ``subtitle`` and a
    table of ``facts`` (run id, data hash, model version...), a table of
    contents, then the sections in order. Everything but the sections' html is
    escaped."""
    entries = [
        {"id": _anchor(i, s.title), "title": s.title, "html": Markup(s.html)}
        for i, s in enumerate(sections, start=1)
    ]
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=title,
        subtitle=subtitle,
        facts=[(str(k), str(v)) for k, v in (facts or {}).items()],
        sections=entries,
        version=__version__,
    )


def write(path: pathlib.Path, html: str) -> pathlib.Path:
    """Write ``html`` to ``path`` atomically: readers see the old page or the new
    one, never half of it. Creates the parent folders."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(html)
            out.flush()
            os.fsync(out.fileno())
        # mkstemp makes the file private (0600); a report is meant to be shared
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return path
