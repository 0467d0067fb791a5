"""Configuration: the only module that reads `os.environ`. Each setting has a default, help and unit.

Every setting is read from `COPYLOOM_<NAME>` (upper case), e.g. `COPYLOOM_DATABASE_URL`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from copyloom.errors import InvalidInput

SettingValue = str | int | float | bool
SettingType = type[str] | type[int] | type[float] | type[bool]


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One setting: everything parsing, validation, `copyloom settings` and docs/settings.md know of it.

    `minimum` and `maximum` are inclusive; `greater_than` is an exclusive minimum. `prefixes`: a text
    value must start with one of them.
    """

    name: str
    value_type: SettingType
    default: SettingValue
    help: str
    minimum: float | None = None
    greater_than: float | None = None
    maximum: float | None = None
    prefixes: tuple[str, ...] = ()
    secret: bool = False


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "database_url",
        str,
        "sqlite:///copyloom.db",
        "SQLAlchemy URL of the store: a SQLite file (WAL mode) or postgresql+psycopg://user@host/db",
        secret=True,
    ),
    SettingSpec(
        "public_base_url",
        str,
        "http://127.0.0.1:8000",
        "Base URL Braze and mail clients reach us at",
        prefixes=("http://", "https://"),
    ),
    SettingSpec("host", str, "127.0.0.1", "Address `copyloom serve` listens on"),
    SettingSpec("port", int, 8000, "Port `copyloom serve` listens on", minimum=1, maximum=65535),
    SettingSpec(
        "learn_interval_s",
        float,
        60.0,
        "Seconds between learner passes over live experiments",
        greater_than=0,
    ),
    SettingSpec(
        "max_body_bytes",
        int,
        1_048_576,
        "Largest accepted request body, in bytes (larger: 413)",
        greater_than=0,
    ),
    SettingSpec(
        "max_events_per_post", int, 1000, "Most events accepted in one POST /v1/events", greater_than=0
    ),
    SettingSpec(
        "group_commit_window_ms",
        float,
        2.0,
        "Milliseconds an assignment waits to share a transaction with others",
        minimum=0,
    ),
    SettingSpec(
        "group_commit_max_batch", int, 512, "Most assignments committed in one transaction", greater_than=0
    ),
    SettingSpec(
        "cache_refresh_s",
        float,
        2.0,
        "Seconds between reloads of experiments and weights into the API's memory",
        greater_than=0,
    ),
    SettingSpec(
        "recent_assignments_per_experiment",
        int,
        100_000,
        "Answered assignments each API worker keeps in memory per experiment, to answer repeats without a"
        " store read (0: off)",
        minimum=0,
    ),
    SettingSpec(
        "unknown_ids_remembered",
        int,
        10_000,
        "Unknown tokens, and unknown experiment ids, each API worker remembers as unknown (each for "
        "`cache_refresh_s`) so that repeats need no store read; past it the oldest are forgotten",
        greater_than=0,
    ),
    SettingSpec("cohort_width_s", int, 60, "Width of a send-time cohort bucket, in seconds", greater_than=0),
    SettingSpec(
        "attribution_window_h",
        float,
        0.0,
        "Hours after its send when a cohort's clicks count as mature in reports (0: when 95 % of them are "
        "expected, from the tenant's fitted delay model)",
        minimum=0,
        maximum=24 * 30,
    ),
    SettingSpec(
        "learn_samples", int, 10_000, "Monte Carlo draws per learner pass and experiment", greater_than=0
    ),
    SettingSpec(
        "rate_limit_per_s",
        float,
        5000.0,
        "Requests per second one tenant may make to one API process (429 above)",
        greater_than=0,
    ),
    SettingSpec(
        "rate_limit_burst",
        int,
        10000,
        "Requests one tenant may make at once before the rate applies",
        greater_than=0,
    ),
    SettingSpec(
        "event_rate_limit_per_s",
        float,
        5000.0,
        "Events per second one tenant may post to /v1/events of one API process, counted in the events"
        " its batches carry (429 with Retry-After above; Braze retries later)",
        greater_than=0,
    ),
    SettingSpec(
        "event_rate_limit_burst",
        int,
        20_000,
        "Events one tenant may post at once before the event rate applies",
        greater_than=0,
    ),
    SettingSpec(
        "event_batches_in_flight",
        int,
        1,
        "Event batches one API process parses and records at once, on worker threads (more wait their"
        " turn), so that content calls keep the event loop",
        greater_than=0,
    ),
    SettingSpec(
        "metrics_token",
        str,
        "",
        "Bearer token an operator's scraper sends to GET /metrics (empty: /metrics answers 404)",
        secret=True,
    ),
    SettingSpec(
        "metrics_experiment_labels",
        bool,
        False,
        "Label /metrics series with experiment ids (per-experiment weights age); off: aggregates only",
    ),
    SettingSpec(
        "sign_in_free_failures",
        int,
        5,
        "Wrong dashboard passwords one client address may send for one tenant before it must wait"
        " (the wait doubles with each further failure)",
        minimum=1,
    ),
    SettingSpec(
        "sign_in_max_wait_s",
        float,
        60.0,
        "Longest a throttled dashboard sign-in must wait, in seconds (the cap of the doubling)",
        greater_than=0,
    ),
    SettingSpec(
        "sign_in_throttle_max_keys",
        int,
        10_000,
        "Most (tenant, address) and address keys the sign-in throttle of one API process tracks; the"
        " oldest are forgotten first",
        greater_than=0,
    ),
    SettingSpec(
        "response_budget_ms",
        float,
        500.0,
        "Longest a content answer may take; past it the control is served",
        greater_than=0,
    ),
    SettingSpec(
        "journal_dir",
        str,
        "",
        "Folder of the outage journal (empty: `copyloom-journal` next to the SQLite file, or in the "
        "working directory for PostgreSQL)",
    ),
    SettingSpec(
        "journal_after_ms",
        float,
        1000.0,
        "Milliseconds a group commit may take before its assignments go to the outage journal instead "
        "and the worker turns degraded (errors from an unreachable store journal at once)",
        greater_than=0,
    ),
    SettingSpec(
        "journal_replay_interval_s",
        float,
        2.0,
        "Seconds between probes of an unreachable store, and between replays of journal files",
        greater_than=0,
    ),
    SettingSpec(
        "ingest_interval_s",
        float,
        60.0,
        "Seconds between polls of every tenant's Currents source",
        greater_than=0,
    ),
    SettingSpec(
        "dashboard_session_ttl_s",
        float,
        43_200.0,
        "Seconds a dashboard sign-in lasts before it must be repeated",
        greater_than=0,
    ),
    SettingSpec(
        "header_read_timeout_s",
        float,
        5.0,
        "Seconds `copyloom serve` waits for a client's request headers (granian), or for its next request"
        " on an idle connection (uvicorn), before closing the connection",
        greater_than=0,
    ),
    SettingSpec(
        "body_read_timeout_s",
        float,
        10.0,
        "Seconds a client may take to send a request's body, from the request's start (longer: 408)",
        greater_than=0,
    ),
    SettingSpec(
        "webhook_allow_loopback_http",
        bool,
        False,
        "Let tenants register plain-http webhook URLs on a loopback address (127.0.0.0/8, ::1, localhost),"
        " for a receiver on the same machine; off: https to public addresses only",
    ),
    SettingSpec("log_level", str, "INFO", "Python logging level (DEBUG, INFO, WARNING, ERROR)"),
)


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    public_base_url: str
    host: str
    port: int
    learn_interval_s: float
    max_body_bytes: int
    max_events_per_post: int
    group_commit_window_ms: float
    group_commit_max_batch: int
    cache_refresh_s: float
    recent_assignments_per_experiment: int
    unknown_ids_remembered: int
    cohort_width_s: int
    attribution_window_h: float
    learn_samples: int
    rate_limit_per_s: float
    rate_limit_burst: int
    event_rate_limit_per_s: float
    event_rate_limit_burst: int
    event_batches_in_flight: int
    metrics_token: str
    metrics_experiment_labels: bool
    sign_in_free_failures: int
    sign_in_max_wait_s: float
    sign_in_throttle_max_keys: int
    response_budget_ms: float
    journal_dir: str
    journal_after_ms: float
    journal_replay_interval_s: float
    ingest_interval_s: float
    dashboard_session_ttl_s: float
    header_read_timeout_s: float
    body_read_timeout_s: float
    webhook_allow_loopback_http: bool
    log_level: str

    def redacted(self) -> dict[str, object]:
        """Settings for display: secrets print as `**********`."""
        secret = {s.name for s in SETTINGS if s.secret}
        return {f.name: "**********" if f.name in secret else getattr(self, f.name) for f in fields(self)}

    def replace(self, **changes: Any) -> Settings:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every setting from the environment (or the given mapping), falling back to defaults.

    Raises:
        InvalidInput: a value that does not parse, naming the variable.
    """
    env = os.environ if environ is None else environ
    values = {spec.name: parse_setting(spec, env.get(env_name(spec.name))) for spec in SETTINGS}
    return Settings(**values)  # type: ignore[arg-type]  # each value has its field's type, by the table


def journal_directory(settings: Settings) -> Path:
    """Where the outage journal lives: `journal_dir`, else next to the SQLite file, else `./`."""
    if settings.journal_dir:
        return Path(settings.journal_dir)
    prefix = "sqlite:///"
    if settings.database_url.startswith(prefix) and settings.database_url != prefix + ":memory:":
        return Path(settings.database_url.removeprefix(prefix)).parent / "copyloom-journal"
    return Path("copyloom-journal")


def env_name(name: str) -> str:
    return f"COPYLOOM_{name.upper()}"


def parse_setting(spec: SettingSpec, raw: str | None) -> SettingValue:
    """The value of one setting from its variable's text (None: unset, the default), validated.

    Booleans read as Starlette's `Config` reads them: true/1 and false/0, in any case.

    Raises:
        InvalidInput: naming the variable, e.g. ``COPYLOOM_PORT: expected int, got 'eighty'``.
    """
    value = spec.default if raw is None else _convert(spec, raw)
    problem = _problem(spec, value)
    if problem:
        raise InvalidInput(f"{env_name(spec.name)}: {problem}")
    return value


_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def _convert(spec: SettingSpec, raw: str) -> SettingValue:
    if spec.value_type is str:
        return raw
    if spec.value_type is bool:
        if raw.lower() in _BOOLEANS:
            return _BOOLEANS[raw.lower()]
        raise InvalidInput(f"{env_name(spec.name)}: expected true, false, 1 or 0, got {raw!r}")
    try:
        value = int(raw) if spec.value_type is int else float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InvalidInput(f"{env_name(spec.name)}: expected {spec.value_type.__name__}, got {raw!r}")
    return value


def _problem(spec: SettingSpec, value: SettingValue) -> str | None:
    """What is wrong with a parsed value by the bounds and prefixes of its spec, or None."""
    if isinstance(value, str):
        if spec.prefixes and not value.startswith(spec.prefixes):
            return f"must start with {' or '.join(spec.prefixes)}"
        return None
    if spec.greater_than is not None and value <= spec.greater_than:
        return f"must be greater than {spec.greater_than:g}"
    if spec.minimum is not None and value < spec.minimum:
        return f"must be {spec.minimum:g} or more"
    if spec.maximum is not None and value > spec.maximum:
        return f"must be {spec.maximum:g} or less"
    return None
