"""The serve section's auth and alerts keys: good ones load, mistakes are reported
with their line and key path."""

from __future__ import annotations

import pytest

from shipyard import spec
from shipyard.errors import SpecError
from shipyard.spec.serving import Comparison, parse_condition

BASE = """\
name: fleet-rul
source:
  url: duckdb:///data/fleet.duckdb
  query: SELECT * FROM readings
target: rul
task: regression
models:
  - name: linear
serve:
  port: 8080
"""

SERVE = """\
  auth:
    predict: keyed
    keys_env: FLEET_API_KEYS
    secrets_file: secrets/serve.keys
  alerts:
    - name: low_rul
      when: prediction < 30
      webhook: https://hooks.example.com/fleet
      retries: 3
      backoff_s: 1
    - name: hot_engine
      when: egt_margin < 5 or prediction < 10 and cycles > 100
"""


def test_auth_and_alerts_load():
    serve = spec.parse(BASE + SERVE).serve
    assert serve.port == 8080
    assert serve.auth.predict == "keyed" and serve.auth.keys_env == "FLEET_API_KEYS"
    assert serve.auth.admin_key_env == "SHIPYARD_ADMIN_KEY"
    assert serve.auth.secrets_file == "secrets/serve.keys"
    low, hot = serve.alerts
    assert (low.name, low.webhook, low.retries, low.backoff_s) == (
        "low_rul", "https://hooks.example.com/fleet", 3, 1.0)
    assert hot.webhook is None and hot.retries == 5 and hot.backoff_s == 0.5
    assert [[c.field for c in group] for group in hot.condition.any_of] == [
        ["egt_margin"], ["prediction", "cycles"]]


def test_defaults_are_open_and_quiet():
    serve = spec.parse(BASE).serve
    assert serve.auth.predict == "open" and serve.auth.secrets_file is None
    assert serve.alerts == []


@pytest.mark.parametrize("when, expected", [
    ("prediction < 30", [[("prediction", "<", 30.0)]]),
    ("probability>=0.8", [[("probability", ">=", 0.8)]]),
    ("egt_margin < -5.5e-1", [[("egt_margin", "<", -0.55)]]),
    ("a == 1 and b != 2 or c > .5", [[("a", "==", 1.0), ("b", "!=", 2.0)], [("c", ">", 0.5)]]),
    ("a < 1 or b < 2 or c <= 3", [[("a", "<", 1.0)], [("b", "<", 2.0)], [("c", "<=", 3.0)]]),
    ("prediction == 'Yes' and city != \"Nice\"",
     [[("prediction", "==", "Yes"), ("city", "!=", "Nice")]]),
    ("sensor.t-2 > 3", [[("sensor.t-2", ">", 3.0)]]),
])
def test_conditions_parse(when: str, expected):
    got = parse_condition(when).any_of
    assert [[(c.field, c.op, c.value) for c in group] for group in got] == expected
    assert all(isinstance(c, Comparison) for group in got for c in group)


@pytest.mark.parametrize("when, reason", [
    ("rul <", "no number after '<'"),
    ("", "empty condition"),
    ("   ", "empty condition"),
    ("rul < 30 and", "nothing after 'and'"),
    ("rul < 30 or and x < 1", "a field name must come after 'or', not 'and'"),
    ("30 > rul", "a field name must come first, not '30'"),
    ("rul 30", "no operator (< <= > >= == !=) after 'rul'"),
    ("rul = 30", "cannot read '= 30'"),
    ("rul < thirty", "no number after '<'"),
    ("rul < 30 rul > 2", "expected 'and' or 'or' before 'rul'"),
    ("rul < 30 && x > 1", "cannot read '&& x > 1'"),
    ("city > 'Nice'", "text can only be compared with == or !=, not '>'"),
    ("__import__('os') < 1", "cannot read \"('os') < 1\""),
])
def test_bad_conditions_say_why(when: str, reason: str):
    with pytest.raises(ValueError) as caught:
        parse_condition(when)
    assert str(caught.value) == f'expected "<field> <op> <number>", got {when!r} ({reason})'


BAD = [
    # (serve section text, expected line, expected message)
    ("  auth: {predict: key}\n", 11,
     "serve.auth.predict: expected one of open, keyed, got 'key' (did you mean 'keyed'?)"),
    ("  auth: {keys_env: my-keys}\n", 11,
     "serve.auth.keys_env: expected an environment variable name (letters, digits, '_'), "
     "got 'my-keys'"),
    ("  auth: {admin_key: X}\n", 11, "serve.auth.admin_key: unknown key"),
    ("  alerts:\n    - name: low\n      when: rul <\n", 13,
     "serve.alerts[0].when: expected \"<field> <op> <number>\", got 'rul <' "
     "(no number after '<')"),
    ("  alerts:\n    - {name: a, when: x < 1}\n    - {name: b, when: x <> 1}\n", 13,
     "serve.alerts[1].when: expected \"<field> <op> <number>\", got 'x <> 1'"),
    ("  alerts:\n    - {name: low rul, when: x < 1}\n", 12,
     "serve.alerts[0].name: expected a name of letters, digits"),
    ("  alerts:\n    - {name: a, when: x < 1, webhook: ftp://h/x}\n", 12,
     "serve.alerts[0].webhook: expected an http:// or https:// URL with a host, "
     "got scheme 'ftp'"),
    ("  alerts:\n    - {name: a, when: x < 1, webhook: 'hooks.example.com/t0ken'}\n", 12,
     "got text without a scheme"),
    ("  alerts:\n    - {name: a, when: x < 1, retries: -1}\n", 12,
     "serve.alerts[0].retries: expected a number >= 0, got -1"),
    ("  alerts:\n    - {name: a, when: x < 1, backoff_s: 0}\n", 12,
     "serve.alerts[0].backoff_s: expected a number > 0.0, got 0"),
    ("  alerts:\n    - {name: a}\n", 12, "serve.alerts[0].when: required key is missing"),
    ("  alerts:\n    - {name: a, when: x < 1}\n    - {name: a, when: x > 9}\n", 11,
     "serve.alerts: the alert name 'a' is used twice"),
]


@pytest.mark.parametrize("serve, line, message", BAD)
def test_bad_serve_section_is_reported_with_location(serve: str, line: int, message: str):
    with pytest.raises(SpecError) as caught:
        spec.parse(BASE + serve, name="proj.yaml")
    located = [d for d in caught.value.details if message in d]
    assert located, str(caught.value)
    assert located[0].startswith(f"proj.yaml:{line}: "), str(caught.value)


def test_webhook_with_a_token_is_not_echoed():
    with pytest.raises(SpecError) as caught:
        spec.parse(BASE + "  alerts:\n    - {name: a, when: x < 1, "
                          "webhook: 'gopher://h/secret-t0ken'}\n")
    assert "secret-t0ken" not in str(caught.value)
