"""What every command shares: settings and the store, the error handler, `--json` output, lazy choices.

Command modules import only click and light modules at their top; anything that pulls SQLAlchemy,
numpy, the server or the benchmark is imported inside the command that runs it, so that `copyloom
--help` and `copyloom <group> --help` answer at once.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import click

from copyloom.errors import CopyloomError, InvalidInput, StoreUnavailable
from copyloom.settings import Settings, load_settings

if TYPE_CHECKING:
    from copyloom.storage.db import Store

P = ParamSpec("P")
R = TypeVar("R")

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def emit(data: object, as_json: bool, text: str) -> None:
    """Print `data` as indented JSON with `--json`, else `text`."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else text)


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a CopyloomError into a message on stderr (a JSON error body with --json) and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except CopyloomError as exc:
            if kwargs.get("as_json"):
                click.echo(json.dumps({"error": {"code": exc.code, "message": exc.message}}), err=True)
            else:
                click.echo(f"error: {exc.message}", err=True)
            sys.exit(1)

    return wrapper


def current_settings() -> Settings:
    """The settings from the environment, with logging set up at their level.

    Every command calls this inside `handles_errors`, so that a bad variable is a one-line error.

    Raises:
        InvalidInput: a COPYLOOM_* variable that does not parse, naming it.
    """
    loaded = load_settings()
    logging.basicConfig(level=loaded.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("httpx", "httpcore", "alembic"):  # a line per request or per check would drown the logs
        logging.getLogger(chatty).setLevel(logging.WARNING)
    return loaded


def open_configured_store(settings: Settings) -> Store:
    """The configured store, closed when the command ends (it may not be the process's last)."""
    from copyloom.storage.db import open_store

    opened = open_store(settings.database_url)
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(opened.dispose)
    return opened


def ready_store(settings: Settings) -> Store:
    """The configured store, refusing to work on a database that `copyloom init` has not prepared."""
    from copyloom.storage import migrate

    opened = open_configured_store(settings)
    try:
        current = migrate.current_revision(opened)
    except Exception as exc:  # any driver error here means the database cannot be reached
        raise StoreUnavailable(f"store: cannot reach the database ({type(exc).__name__})") from exc
    if current != migrate.head_revision():
        raise InvalidInput("store: the database is not initialised or is out of date; run `copyloom init`")
    return opened


class LazyChoice(click.Choice[str]):
    """A choice among names that a heavy module defines, imported only to check a value or show help."""

    def __init__(self, load: Callable[[], Iterable[str]]) -> None:
        self._load = functools.cache(load)
        super().__init__(())

    @property  # click assigns the choices once; these are loaded when first read
    def choices(self) -> tuple[str, ...]:
        return tuple(self._load())

    @choices.setter
    def choices(self, _value: tuple[str, ...]) -> None:
        """Ignore click's assignment of the empty tuple in `__init__`."""


class LazyDefault:
    """An option's default that a heavy module defines: click calls it for the value and prints it in
    `--help` as the value itself (a plain function would print as "(dynamic)")."""

    def __init__(self, load: Callable[[], str]) -> None:
        self._load = load

    def __call__(self) -> str:
        return self._load()

    def __str__(self) -> str:
        return self._load()
