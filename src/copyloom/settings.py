"""Configuration: the only module that reads `os.environ`. Each setting has a default, help and unit.

Every setting is read from `COPYLOOM_<NAME>` (upper case), e.g. `COPYLOOM_DATABASE_URL`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from copyloom.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class SettingSpec:
    name: str
    default: Any
    help: str
    secret: bool = False


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "database_url",
        "sqlite:///copyloom.db",
        "SQLAlchemy URL of the store: a SQLite file (WAL mode) or postgresql+psycopg://user@host/db",
        secret=True,
    ),
    SettingSpec("public_base_url", "http://127.0.0.1:8000", "Base URL Braze and mail clients reach us at"),
    SettingSpec("host", "127.0.0.1", "Address `copyloom serve` listens on"),
    SettingSpec("port", 8000, "Port `copyloom serve` listens on"),
    SettingSpec("learn_interval_s", 60.0, "Seconds between learner passes over live experiments"),
    SettingSpec("max_body_bytes", 1_048_576, "Largest accepted request body, in bytes (larger: 413)"),
    SettingSpec("max_events_per_post", 1000, "Most events accepted in one POST /v1/events"),
    SettingSpec(
        "group_commit_window_ms", 2.0, "Milliseconds an assignment waits to share a transaction with others"
    ),
    SettingSpec("group_commit_max_batch", 512, "Most assignments committed in one transaction"),
    SettingSpec(
        "cache_refresh_s", 2.0, "Seconds between reloads of experiments and weights into the API's memory"
    ),
    SettingSpec(
        "recent_assignments_per_experiment",
        100_000,
        "Answered assignments each API worker keeps in memory per experiment, to answer repeats without a"
        " store read (0: off)",
    ),
    SettingSpec("cohort_width_s", 60, "Width of a send-time cohort bucket, in seconds"),
    SettingSpec("learn_samples", 10_000, "Monte Carlo draws per learner pass and experiment"),
    SettingSpec(
        "rate_limit_per_s", 5000.0, "Requests per second one tenant may make to one API process (429 above)"
    ),
    SettingSpec("rate_limit_burst", 10000, "Requests one tenant may make at once before the rate applies"),
    SettingSpec(
        "response_budget_ms", 500.0, "Longest a content answer may take; past it the control is served"
    ),
    SettingSpec(
        "journal_dir",
        "",
        "Folder of the outage journal (empty: `copyloom-journal` next to the SQLite file, or in the "
        "working directory for PostgreSQL)",
    ),
    SettingSpec(
        "journal_after_ms",
        1000.0,
        "Milliseconds a group commit may take before its assignments go to the outage journal instead "
        "and the worker turns degraded (errors from an unreachable store journal at once)",
    ),
    SettingSpec(
        "journal_replay_interval_s",
        2.0,
        "Seconds between probes of an unreachable store, and between replays of journal files",
    ),
    SettingSpec("ingest_interval_s", 60.0, "Seconds between polls of every tenant's Currents source"),
    SettingSpec(
        "dashboard_session_ttl_s", 43_200.0, "Seconds a dashboard sign-in lasts before it must be repeated"
    ),
    SettingSpec("log_level", "INFO", "Python logging level (DEBUG, INFO, WARNING, ERROR)"),
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
    cohort_width_s: int
    learn_samples: int
    rate_limit_per_s: float
    rate_limit_burst: int
    response_budget_ms: float
    journal_dir: str
    journal_after_ms: float
    journal_replay_interval_s: float
    ingest_interval_s: float
    dashboard_session_ttl_s: float
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
    values: dict[str, Any] = {spec.name: _parse(spec, env.get(env_name(spec.name))) for spec in SETTINGS}
    settings = Settings(**values)
    _check(settings)
    return settings


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


def _parse(spec: SettingSpec, raw: str | None) -> object:
    if raw is None:
        return spec.default
    convert: Callable[[str], object] = type(spec.default)
    try:
        return convert(raw)
    except ValueError:
        kind = type(spec.default).__name__
        raise InvalidInput(f"{env_name(spec.name)}: expected {kind}, got {raw!r}") from None


def _check(settings: Settings) -> None:
    positive = (
        "learn_interval_s",
        "ingest_interval_s",
        "max_body_bytes",
        "max_events_per_post",
        "group_commit_max_batch",
        "rate_limit_per_s",
        "rate_limit_burst",
        "response_budget_ms",
        "dashboard_session_ttl_s",
        "journal_after_ms",
        "journal_replay_interval_s",
    )
    for name in (*positive, "cache_refresh_s", "cohort_width_s", "learn_samples"):
        if getattr(settings, name) <= 0:
            raise InvalidInput(f"{env_name(name)}: must be greater than 0")
    if settings.recent_assignments_per_experiment < 0:
        raise InvalidInput(f"{env_name('recent_assignments_per_experiment')}: must be 0 or more")
    if settings.group_commit_window_ms < 0:
        raise InvalidInput(f"{env_name('group_commit_window_ms')}: must be 0 or more")
    if not settings.public_base_url.startswith(("http://", "https://")):
        raise InvalidInput(f"{env_name('public_base_url')}: must start with http:// or https://")
