"""Shipyard: the whole machine-learning life cycle from one project file.

From Python (a notebook, a script)::

    import shipyard

    project = shipyard.load("shipyard.yaml")
    run = project.run()
    run.metrics, run.report
    project.champion().predict(frame)

The names below are loaded on first use, so that ``import shipyard`` (and the CLI's
start) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._version import __version__

__all__ = ["Model", "Monitoring", "Profile", "Project", "Report", "Run", "ShipyardError",
           "__version__", "load"]

if TYPE_CHECKING:
    from shipyard.api import Model, Monitoring, Profile, Project, Report, Run, load
    from shipyard.errors import ShipyardError


def __getattr__(name: str):
    if name == "ShipyardError":
        from shipyard.errors import ShipyardError

        return ShipyardError
    if name in __all__:  # the API's names
        from shipyard import api

        return getattr(api, name)
    raise AttributeError(f"module 'shipyard' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
