"""The ``serve`` section: where the API listens, how it batches, who may call it,
and which predictions raise alerts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from shipyard.spec.base import Strict
from shipyard.spec.monitoring import Duration

Port = Annotated[int, Field(ge=1, le=65535)]


class Batching(Strict):
    """Concurrent requests are scored together: a batch closes when it holds
    ``max_rows`` rows or its first request has waited ``max_wait_ms``. Requests
    beyond ``queue_rows`` waiting rows, or waiting longer than ``budget_ms``, are
    shed with 503 and ``Retry-After``."""

    max_rows: Annotated[int, Field(ge=1)] = 256
    max_wait_ms: Annotated[float, Field(ge=0, le=1_000)] = 0.0
    queue_rows: Annotated[int, Field(ge=1)] = 20_000
    budget_ms: Annotated[float, Field(gt=0)] = 1_000.0


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Auth(Strict):
    """Who may call the API. ``predict: keyed`` asks every prediction for an API
    key; admin routes always ask for the admin key and are off without one.
    Keys come from environment variables (API keys comma-separated) and/or a
    secrets file of ``api: KEY`` / ``admin: KEY`` lines, relative to the project
    file, that only its owner may read."""

    predict: Literal["open", "keyed"] = "open"
    keys_env: str = "SHIPYARD_API_KEYS"
    admin_key_env: str = "SHIPYARD_ADMIN_KEY"
    secrets_file: str | None = None

    @field_validator("keys_env", "admin_key_env")
    @classmethod
    def _env_name(cls, name: str) -> str:
        if not _ENV_NAME.match(name):
            raise ValueError(f"expected an environment variable name (letters, digits, '_'), "
                             f"got {name!r}")
        return name


class Alert(Strict):
    """Record, and optionally POST to ``webhook``, every prediction whose row
    meets ``when`` (with ``repeat_after``, once per entity in that time). A failed
    delivery is retried ``retries`` times, the first after ``backoff_s`` seconds,
    each next one after twice as long."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$", max_length=100)]
    when: str
    webhook: str | None = None
    retries: Annotated[int, Field(ge=0, le=20)] = 5
    backoff_s: Annotated[float, Field(gt=0, le=60)] = 0.5
    # An entity that raised this alert is not raised again for this long (every
    # worker sees the same alert store): a failing engine lands several times a day.
    repeat_after: Duration | None = None

    @field_validator("when")
    @classmethod
    def _condition(cls, when: str) -> str:
        parse_condition(when)  # raises ValueError with the reason
        return when

    @field_validator("webhook")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        if url is None:
            return url
        # The URL is not echoed: webhook URLs often carry a token.
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            got = f"scheme {parts.scheme!r}" if parts.scheme else "text without a scheme"
            raise ValueError(f"expected an http:// or https:// URL with a host, got {got}")
        return url

    @property
    def condition(self) -> Condition:
        return parse_condition(self.when)


@dataclass(frozen=True)
class Comparison:
    """``field op value``: value is a number, or text for == and != only."""

    field: str
    op: str
    value: float | str


@dataclass(frozen=True)
class Condition:
    """An ``or`` of ``and`` groups of comparisons (``and`` binds tighter)."""

    any_of: tuple[tuple[Comparison, ...], ...]

    @property
    def comparisons(self) -> list[Comparison]:
        return [c for group in self.any_of for c in group]


OPERATORS = ("<", "<=", ">", ">=", "==", "!=")
_FORM = 'expected "<field> <op> <number>"'
_TOKEN = re.compile(r"""\s*(?:
    (?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<op><=|>=|==|!=|<|>)
  | (?P<text>"[^"]*"|'[^']*')
  | (?P<word>[A-Za-z_][A-Za-z0-9_.-]*)
)""", re.VERBOSE)


def parse_condition(text: str) -> Condition:
    """Parse ``<field> <op> <number>`` comparisons joined by ``and``/``or``;
    raise ``ValueError`` saying what is wrong. No ``eval``: only this grammar."""
    def fail(reason: str):
        raise ValueError(f"{_FORM}, got {text!r} ({reason})")

    tokens, pos = [], 0
    while pos < len(text) and not text[pos:].isspace():
        match = _TOKEN.match(text, pos)
        if match is None:
            fail(f"cannot read {text[pos:].strip()!r}")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        pos = match.end()
    if not tokens:
        fail("empty condition")
    groups: list[list[Comparison]] = [[]]
    i, after = 0, None
    while True:
        if i >= len(tokens):
            fail(f"nothing after {after}")
        kind, field = tokens[i]
        if kind != "word" or field in ("and", "or"):
            fail(f"a field name must come {f'after {after}' if after else 'first'}, "
                 f"not {field!r}")
        if i + 1 >= len(tokens) or tokens[i + 1][0] != "op":
            fail(f"no operator ({' '.join(OPERATORS)}) after {field!r}")
        op = tokens[i + 1][1]
        if i + 2 >= len(tokens) or tokens[i + 2][0] not in ("number", "text"):
            fail(f"no number after {op!r}")
        kind, raw = tokens[i + 2]
        if kind == "text" and op not in ("==", "!="):
            fail(f"text can only be compared with == or !=, not {op!r}")
        value = float(raw) if kind == "number" else raw[1:-1]
        groups[-1].append(Comparison(field, op, value))
        i += 3
        if i == len(tokens):
            return Condition(tuple(tuple(g) for g in groups))
        joiner = tokens[i][1]
        if joiner not in ("and", "or"):
            fail(f"expected 'and' or 'or' before {joiner!r}")
        if joiner == "or":
            groups.append([])
        after, i = repr(joiner), i + 1


class History(Strict):
    """Stateful serving of a model with series features (``prepare.series``): the
    server keeps each entity's recent readings and a client sends only the new one.

    ``store`` is a SQLAlchemy URL (default: ``history.db`` in the workspace, shared
    by every worker); ``retention`` readings are kept per entity (default: what the
    served model's windows read, at least 200; never fewer than they read).
    ``warm_start: from_source`` fills the store from ``query`` (default: the
    project's ``source.query``) when the server starts and when a new champion is
    served, so the first reading after a deployment already has its history.
    ``serve.history: from_source`` is short for ``{warm_start: from_source}``."""

    enabled: bool = True
    store: str | None = None
    retention: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    warm_start: Literal["none", "from_source"] = "none"
    query: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value):
        if value in ("from_source", "none"):
            return {"warm_start": value}
        if value is False:
            return {"enabled": False}
        return value


# What an answer's items already hold, so a companion may not be called that.
ANSWER_KEYS = ("prediction", "probability", "probabilities", "score", "history_rows",
               "history_note", "duplicate", "request_id")


class Serve(Strict):
    host: str = "127.0.0.1"
    port: Port = 8000
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    max_rows: Annotated[int, Field(ge=1)] = 10_000  # rows in one request
    max_body_bytes: Annotated[int, Field(ge=1)] = 8 * 1024 * 1024
    batching: Batching = Batching()
    # Seconds between checks of the registry's champion alias; 0 turns reloading off.
    reload_interval: Annotated[float, Field(ge=0)] = 5.0
    fast_path: bool = True  # compile the champion to ONNX at registration and serve that
    auth: Auth = Auth()
    alerts: list[Alert] = []
    history: History = History()
    # Other projects' champions that answer every request too, each under its key:
    # {anomaly: anomaly.yaml} adds "anomaly": {"prediction", "score"} to each answer.
    companions: dict[str, str] = {}

    @field_validator("companions")
    @classmethod
    def _companion_keys(cls, companions: dict[str, str]) -> dict[str, str]:
        for key in companions:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValueError(f"the companion key {key!r} is not a plain name "
                                 "(letters, digits, _)")
            if key in ANSWER_KEYS:
                raise ValueError(f"the companion key {key!r} is a key of the answer already; "
                                 f"answers use {', '.join(ANSWER_KEYS)}")
        return companions

    @field_validator("alerts")
    @classmethod
    def _unique_alert_names(cls, alerts: list[Alert]) -> list[Alert]:
        seen: set[str] = set()
        for alert in alerts:
            if alert.name in seen:
                raise ValueError(f"the alert name {alert.name!r} is used twice")
            seen.add(alert.name)
        return alerts
