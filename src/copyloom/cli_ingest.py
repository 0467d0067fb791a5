"""`copyloom ingest`: Braze Currents files from S3 or a folder, with progress, status and retry."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from copyloom.errors import InvalidInput
from copyloom.ingest.sources import SourceObject, open_source
from copyloom.services import ingestion
from copyloom.services import tenants as tenant_service
from copyloom.services.feedback import EventTally
from copyloom.services.ingestion import FileOutcome, IngestStatus
from copyloom.storage.db import Store

log = logging.getLogger("copyloom.ingest")


class _SourceOrCommand(click.Group):
    """`copyloom ingest SOURCE …` runs an ingest; `copyloom ingest status|retry …` are subcommands."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


def run_ingest(
    store: Store, source_uri: str, tenant_name: str, *, credentials_ref: str | None, console: Console
) -> dict[str, Any]:
    """Ingest every new file of a source once, with a progress bar on a terminal and log lines otherwise."""
    tenant = tenant_service.get_tenant(store, tenant_name)
    source = open_source(source_uri, credentials_ref=credentials_ref)
    pending = ingestion.pending_objects(store, tenant, source)
    started = time.monotonic()
    if console.is_terminal and pending:
        outcomes = _with_progress_bar(store, tenant, source, pending, console)
    else:
        outcomes = ingestion.ingest_objects(store, tenant, source, pending, time.time, on_file=_log_file)
    return _summary(source.uri, outcomes, time.monotonic() - started)


def _with_progress_bar(
    store: Store, tenant: Any, source: Any, pending: list[SourceObject], console: Console
) -> list[FileOutcome]:
    columns = (
        TextColumn("[bold]ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files  {task.fields[files_s]:.1f} files/s  {task.fields[events_s]:,.0f} events/s"),
        TimeElapsedColumn(),
    )
    started = time.monotonic()
    events = 0
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("ingest", total=len(pending), files_s=0.0, events_s=0.0)

        def on_file(outcome: FileOutcome) -> None:
            nonlocal events
            events += outcome.tally.received
            elapsed = max(time.monotonic() - started, 1e-9)
            done = progress.tasks[0].completed + 1
            progress.update(task, advance=1, files_s=done / elapsed, events_s=events / elapsed)
            if outcome.status == "quarantined":
                progress.console.print(f"quarantined {outcome.key}: {outcome.reason}")

        return ingestion.ingest_objects(store, tenant, source, pending, time.time, on_file=on_file)


def _log_file(outcome: FileOutcome) -> None:
    if outcome.status != "quarantined":  # the service logs quarantines itself
        t = outcome.tally
        log.info(
            "%s %s: %d events, %d accepted, %d duplicate, %d ignored, %d unattributed",
            outcome.status,
            outcome.key,
            t.received,
            t.accepted,
            t.duplicate,
            t.ignored,
            t.unattributed,
        )


def _summary(uri: str, outcomes: list[FileOutcome], elapsed_s: float) -> dict[str, Any]:
    total = sum((o.tally for o in outcomes), EventTally())
    return {
        "source": uri,
        "files": sum(1 for o in outcomes if o.status == "done"),
        "skipped": sum(1 for o in outcomes if o.status == "skipped"),
        "quarantined": [{"key": o.key, "reason": o.reason} for o in outcomes if o.status == "quarantined"],
        **total.as_dict(),
        "newest_event_s": total.newest_event_s,
        "seconds": round(elapsed_s, 3),
        "events_per_s": round(total.received / elapsed_s, 1) if elapsed_s > 0 else None,
    }


def status_json(status: IngestStatus) -> dict[str, Any]:
    return {
        "source": status.source.uri if status.source else None,
        "files": status.files,
        "events": status.events,
        "accepted": status.accepted,
        "duplicates": status.duplicates,
        "ignored": status.ignored,
        "unattributed": status.unattributed,
        "quarantined": len(status.quarantined),
        "quarantined_files": [
            {"source": q.source_uri, "key": q.key, "reason": q.reason, "at": q.at} for q in status.quarantined
        ],
        "newest_event_s": status.newest_event_s,
    }


def summary_text(summary: dict[str, Any]) -> str:
    return (
        f"{summary['source']}: {summary['files']} files, {summary['received']:,} events "
        f"({summary['accepted']:,} accepted, {summary['duplicate']:,} duplicate, "
        f"{summary['ignored']:,} ignored, {summary['unattributed']:,} unattributed), "
        f"{len(summary['quarantined'])} quarantined, "
        f"{summary['events_per_s'] or 0:,.0f} events/s"
    )


def dumps(data: object) -> str:
    return json.dumps(data, indent=2)


def check_source_option(source: str) -> str:
    if not source.strip():
        raise InvalidInput("SOURCE: expected s3://bucket/prefix or a folder")
    return source
