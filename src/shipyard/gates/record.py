"""A gate's verdict as data, and the user's overrides of failed ones."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from shipyard.errors import SpecError

KINDS = ("quality", "overfitting", "fairness", "privacy", "data")


@dataclass(frozen=True)
class GateResult:
    """One check: ``actual`` against ``threshold`` by ``op``.

    ``metric`` says what was measured: a metric's name, or ``<column>.<check>``
    for checks on one column. ``reference`` is what the threshold came from:
    ``absolute`` (the project file), ``baseline`` or ``champion`` (their figure on
    the same rows, moved by the gate's margin). A failed check that is not
    ``blocking`` only warns; ``overridden`` holds the reason a user gave to let a
    failed blocking check through."""

    gate: str  # one of KINDS
    metric: str
    actual: float
    op: str  # ">=" or "<="
    threshold: float
    passed: bool
    details: str = ""
    blocking: bool = True
    reference: str = "absolute"
    overridden: str | None = None

    @property
    def name(self) -> str:
        return f"{self.gate}: {self.metric} {self.op} {self.threshold:g}"

    @property
    def key(self) -> str:
        """What ``--override`` names to let this check through (or just the gate)."""
        return f"{self.gate}.{self.metric}"

    @property
    def ok(self) -> bool:
        """Whether this check lets the model through."""
        return self.passed or not self.blocking or self.overridden is not None

    def to_dict(self) -> dict:
        return {**asdict(self), "name": self.name, "key": self.key}


def judge(gate: str, metric: str, actual: float, op: str, threshold: float, details: str,
          blocking: bool = True, reference: str = "absolute") -> GateResult:
    """A record whose verdict is ``actual op threshold``; NaN never passes."""
    ok = not math.isnan(actual) and (actual >= threshold if op == ">=" else actual <= threshold)
    return GateResult(gate, metric, float(actual), op, float(threshold), ok, details,
                      blocking, reference)


def passed(results: list[GateResult]) -> bool:
    return all(r.ok for r in results)


def failures(results: list[GateResult]) -> list[GateResult]:
    """The checks that stop the model: failed, blocking, not overridden."""
    return [r for r in results if not r.ok]


@dataclass(frozen=True)
class Override:
    """``--override GATE --reason "..."``: GATE is a gate (``fairness``) or one check
    (``quality.rmse``, ``privacy.customerID.identifier``)."""

    gate: str
    reason: str
    by: str = ""

    def covers(self, result: GateResult) -> bool:
        return self.gate in (result.gate, result.key) or result.key.startswith(self.gate + ".")


def overrides(gates: list[str], reason: str | None, by: str = "") -> list[Override]:
    """Check the command line's overrides: each needs a known gate and one reason."""
    if not gates:
        if reason:
            raise SpecError("--reason is given without --override: there is nothing to "
                            "override", hint="name the gate: --override GATE --reason ...")
        return []
    if not reason or len(reason.strip()) < 3:
        raise SpecError(f"Overriding {', '.join(gates)} needs a reason",
                        details=["the reason is recorded with the model version, for whoever "
                                 "asks later why a failed gate was let through"],
                        hint='add --reason "why this model may go out anyway"')
    for gate in gates:
        if gate.split(".", 1)[0] not in KINDS:
            raise SpecError(f"--override {gate}: there is no such gate",
                            hint=f"name one of {', '.join(KINDS)}, or one check such as "
                                 "quality.rmse (the report lists each check's key)")
    return [Override(g, reason.strip(), by) for g in gates]


def apply(results: list[GateResult], given: list[Override]) -> list[GateResult]:
    """The records with every failed blocking check an override covers marked as
    overridden (with its reason); passed checks are left as they are."""
    out = []
    for r in results:
        cover = next((o for o in given if o.covers(r)), None)
        out.append(replace(r, overridden=cover.reason) if cover and not r.passed and r.blocking
                   else r)
    return out
