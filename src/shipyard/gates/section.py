"""The report's Gates section: every check, its verdict, and any override."""

from __future__ import annotations

from shipyard.gates.record import GateResult, passed
from shipyard.report import Section, badge, table


def _verdict(r: GateResult) -> str:
    if r.passed:
        return badge("pass", "good")
    if r.overridden is not None:
        return badge("overridden", "warn")
    return badge("FAIL", "bad") if r.blocking else badge("warning", "warn")


def section(results: list[GateResult], registered: bool | None = None) -> Section:
    """``registered``: whether the model went into the registry (None: not known,
    e.g. a reproduction, which never registers)."""
    if not results:
        return Section("Gates", "<p>The project file declares no gates.</p>")
    rows = [{"gate": r.gate, "check": r.key, "rule": f"{r.op} {r.threshold:.4g}",
             "against": r.reference, "actual": r.actual,
             "blocking": "yes" if r.blocking else "no", "verdict": _verdict(r),
             "details": r.details + (f" — overridden: {r.overridden}" if r.overridden
                                     else "")}
            for r in results]
    if not passed(results):
        verdict = ("<p class='verdict fail'>A blocking gate failed: the model was not "
                   "registered.</p>")
    elif any(r.overridden for r in results):
        verdict = ("<p class='verdict pass'>Failed gates were overridden with a reason "
                   "(recorded with the model version); the model may become the champion.</p>")
    else:
        verdict = "<p class='verdict pass'>All gates passed: the model may become the champion.</p>"
    if registered is False and passed(results):
        verdict = "<p>All blocking gates passed; this run registers nothing.</p>"
    warnings = [r for r in results if not r.passed and not r.blocking]
    if warnings:
        verdict += (f"<p>{len(warnings)} non-blocking check(s) failed and are shown as "
                    "warnings.</p>")
    overrides = ("<p>To let a failed check through, run again with <code>--override "
                 "CHECK --reason \"...\"</code> (CHECK is the gate or the check's key).</p>"
                 if not passed(results) else "")
    return Section("Gates", verdict + table(rows) + overrides)
