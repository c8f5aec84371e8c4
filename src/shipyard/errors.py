"""Errors that Shipyard reports to people.

Every error a user can cause is a :class:`ShipyardError`: the CLI prints its
headline, where it happened and what to do, without a traceback. Anything else
is a bug and is printed as "Internal error" with the traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ShipyardError(Exception):
    """A known failure caused by input: a project file, a query, data, a request."""

    def __init__(self, headline: str, *, details: Iterable[str] = (), hint: str | None = None):
        self.headline = headline
        self.details = list(details)
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        lines = [self.headline, *(f"  {d}" for d in self.details)]
        if self.hint:
            lines.append(f"Hint: {self.hint}")
        return "\n".join(lines)


class SpecError(ShipyardError):
    """The project file is wrong; ``details`` has one line per problem."""


class SourceError(ShipyardError):
    """A data source could not be read: bad URL, unreachable database, failing SQL."""


class DataError(ShipyardError):
    """The extracted data cannot be used: missing target, empty result, one class only."""


class SnapshotError(ShipyardError):
    """A stored snapshot is missing or its content no longer matches its hash."""


class TrainError(ShipyardError):
    """A candidate model could not be fitted."""


class GateFailed(ShipyardError):
    """A blocking gate failed; the model was not registered."""


class RegistryError(ShipyardError):
    """The model registry has no usable model for the request."""


class MonitorError(ShipyardError):
    """Monitoring cannot judge the request: no logged predictions, no reference."""


class ComputeError(ShipyardError):
    """The compute cluster cannot be reached or lost work it could not redo."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
