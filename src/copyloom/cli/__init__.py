"""The command line: `copyloom init | settings | tenant | ingest | experiment | export | report | snippet |
learn | serve | worker | plan | bench | demo`, one module per command group."""

from __future__ import annotations

import json

import click

from copyloom import __version__
from copyloom.cli import (
    common,
    variants,  # noqa: F401 (adds add-variant and retire-variant to `experiment`)
    webhooks,  # noqa: F401 (adds the `webhook` group to `tenant`)
)
from copyloom.cli.bench import bench
from copyloom.cli.demo import demo
from copyloom.cli.experiment import experiment
from copyloom.cli.export import export
from copyloom.cli.ingest import ingest
from copyloom.cli.plan import plan
from copyloom.cli.report import report, snippet
from copyloom.cli.serve import learn, serve, worker
from copyloom.cli.tenant import tenant
from copyloom.errors import StoreUnavailable
from copyloom.settings import SETTINGS, env_name


@click.group()
@click.version_option(__version__, prog_name="copyloom")
def main() -> None:
    """copyloom: dynamic language optimisation of marketing email with Braze.

    Settings come from COPYLOOM_* environment variables; see `copyloom settings`.
    """


@main.command()
@common.json_option
@common.handles_errors
def init(as_json: bool) -> None:
    """Create the database schema, or upgrade it to the newest version."""
    from copyloom.storage import migrate

    store = common.open_configured_store(common.current_settings())
    try:
        revision = migrate.upgrade(store)
    except Exception as exc:
        raise StoreUnavailable(f"store: cannot initialise the database ({type(exc).__name__})") from exc
    common.emit({"revision": revision}, as_json, f"database ready (schema revision {revision})")


@main.command(name="settings")
@common.json_option
@common.handles_errors
def show_settings(as_json: bool) -> None:
    """Show every setting: its environment variable, current value and meaning."""
    values = common.current_settings().redacted()
    if as_json:
        click.echo(json.dumps(values, indent=2))
        return
    for spec in SETTINGS:
        click.echo(f"{env_name(spec.name)}={values[spec.name]}\n    {spec.help} (default: {spec.default})")


for _command in (
    tenant,
    ingest,
    experiment,
    export,
    report,
    snippet,
    learn,
    serve,
    worker,
    plan,
    bench,
    demo,
):
    main.add_command(_command)
