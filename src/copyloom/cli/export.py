"""`copyloom export`: an experiment's data as files for analysis elsewhere (docs/export.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from copyloom.cli.common import LazyChoice, current_settings, handles_errors, ready_store
from copyloom.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Iterable

    from copyloom.services.decisions import DecisionFormat


def _decision_formats() -> Iterable[str]:
    from copyloom.services.decisions import DECISION_FORMATS

    return DECISION_FORMATS


@click.group()
def export() -> None:
    """Export an experiment's data for analysis elsewhere."""


@export.command(name="decisions")
@click.argument("experiment_id")
@click.option(
    "--format",
    "fmt",
    type=LazyChoice(_decision_formats),
    default="csv",
    show_default=True,
    help="csv: text with a header row; parquet: typed columns, a row group per chunk (needs --output).",
)
@click.option("--tenant", "tenant_name", default=None, help="Only look among this tenant's experiments.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
@handles_errors
def decisions(experiment_id: str, fmt: DecisionFormat, tenant_name: str | None, output: Path | None) -> None:
    """One row per assignment, in assignment order: the pseudonymous recipient key, dispatch, segment,
    variant, the propensity it was chosen with, the send time, and whether it was clicked, opened, bot
    clicked or machine opened; for offline policy evaluation (see docs/export.md)."""
    from copyloom.services import decisions as decision_service
    from copyloom.services import tenants as tenant_service

    if fmt == "parquet" and output is None:
        raise InvalidInput("--output: Parquet is binary; give a file to write it to")
    store = ready_store(current_settings())
    tenant_id = tenant_service.get_tenant(store, tenant_name).tenant_id if tenant_name else None
    chunks = decision_service.decision_chunks(store, experiment_id, tenant_id=tenant_id)
    try:
        if output is None:
            written = decision_service.write_csv(chunks, sys.stdout)
        elif fmt == "csv":
            with output.open("w", encoding="utf-8", newline="") as out:
                written = decision_service.write_csv(chunks, out)
        else:
            written = decision_service.write_parquet(chunks, str(output))
    except OSError as exc:
        raise InvalidInput(
            f"--output: cannot write {output.name if output else '-'} ({exc.strerror})"
        ) from None
    if output is not None:
        click.echo(f"wrote {written:,} decisions of {experiment_id} as {fmt} to {output}", err=True)
