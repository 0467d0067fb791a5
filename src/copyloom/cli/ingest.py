"""`copyloom ingest`: Braze Currents files from S3 or a folder, with progress, status and retry."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import click

from copyloom.cli.common import current_settings, emit, handles_errors, json_option, ready_store
from copyloom.domain.logsafe import log_safe
from copyloom.errors import InvalidInput

if TYPE_CHECKING:
    from rich.console import Console

    from copyloom.domain.values import Tenant
    from copyloom.ingest.sources import Source, SourceObject
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


@click.group(cls=_SourceOrCommand)
def ingest() -> None:
    """Braze Currents Avro files from S3 or a folder: `copyloom ingest SOURCE --tenant NAME`.

    SOURCE is s3://bucket/prefix (AWS settings: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY, AWS_REGION) or a local folder laid out like a Currents bucket.
    """


@ingest.command(name="run", hidden=True)
@click.argument("source")
@click.option("--tenant", "tenant_name", required=True, help="Tenant whose events these are.")
@click.option(
    "--once",
    is_flag=True,
    help="Ingest what is there and exit (default: poll every COPYLOOM_INGEST_INTERVAL_S).",
)
@click.option("--credentials-ref", default=None, help="AWS profile to read an s3:// source with.")
@json_option
@handles_errors
def ingest_run(source: str, tenant_name: str, once: bool, credentials_ref: str | None, as_json: bool) -> None:
    """Ingest every new file under SOURCE."""
    from rich.console import Console

    settings = current_settings()
    store = ready_store(settings)
    console = Console(stderr=True)
    while True:
        summary = run_ingest(
            store, _check_source(source), tenant_name, credentials_ref=credentials_ref, console=console
        )
        emit(summary, as_json, _summary_text(summary))
        if once:
            return
        time.sleep(settings.ingest_interval_s)


@ingest.command(name="status")
@click.option("--tenant", "tenant_name", required=True, help="Tenant to report on.")
@json_option
@handles_errors
def ingest_status(tenant_name: str, as_json: bool) -> None:
    """Counts of files, events, duplicates, unattributed and quarantined files, and the newest event time;
    then the unattributed events (Currents files and /v1/events posts) per campaign or Canvas step."""
    from copyloom.services import ingestion

    status = status_json(ingestion.ingest_status(ready_store(current_settings()), tenant_name))
    emit(status, as_json, _status_text(status))


@ingest.command(name="retry")
@click.argument("key")
@click.option("--tenant", "tenant_name", required=True, help="Tenant the file belongs to.")
@json_option
@handles_errors
def ingest_retry(key: str, tenant_name: str, as_json: bool) -> None:
    """Take a file out of quarantine so that the next ingest reads it again."""
    from copyloom.services import ingestion

    ingestion.retry_quarantined(ready_store(current_settings()), tenant_name, key)
    emit({"key": key, "retry": True}, as_json, f"{key} will be read again by the next ingest")


def run_ingest(
    store: Store, source_uri: str, tenant_name: str, *, credentials_ref: str | None, console: Console
) -> dict[str, Any]:
    """Ingest every new file of a source once, with a progress bar on a terminal and log lines otherwise."""
    from copyloom.ingest.sources import open_source
    from copyloom.services import ingestion
    from copyloom.services import tenants as tenant_service

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
    store: Store, tenant: Tenant, source: Source, pending: list[SourceObject], console: Console
) -> list[FileOutcome]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from copyloom.services import ingestion

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
            log_safe(outcome.key),
            t.received,
            t.accepted,
            t.duplicate,
            t.ignored,
            t.unattributed,
        )


def _summary(uri: str, outcomes: list[FileOutcome], elapsed_s: float) -> dict[str, Any]:
    from copyloom.services.feedback import EventTally

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
    """The `ingest status --json` object."""
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
        "unattributed_by_source": [
            {"source_id": u.source_id, "kind": u.kind, "events": u.events}
            for u in status.unattributed_by_source
        ],
    }


def _status_text(status: dict[str, Any]) -> str:
    listed = ("quarantined_files", "unattributed_by_source")
    text = "\n".join(f"{k}: {v}" for k, v in status.items() if k not in listed)
    text += "".join(f"\nquarantined {q['key']}: {q['reason']}" for q in status["quarantined_files"])
    if status["unattributed_by_source"]:
        text += "\nunattributed events by campaign or Canvas step:"
        text += "".join(
            f"\n  {u['source_id'] or '(none)'}\t{u['kind']}\t{u['events']}"
            for u in status["unattributed_by_source"]
        )
    return text


def _summary_text(summary: dict[str, Any]) -> str:
    return (
        f"{summary['source']}: {summary['files']} files, {summary['received']:,} events "
        f"({summary['accepted']:,} accepted, {summary['duplicate']:,} duplicate, "
        f"{summary['ignored']:,} ignored, {summary['unattributed']:,} unattributed), "
        f"{len(summary['quarantined'])} quarantined, "
        f"{summary['events_per_s'] or 0:,.0f} events/s"
    )


def _check_source(source: str) -> str:
    if not source.strip():
        raise InvalidInput("SOURCE: expected s3://bucket/prefix or a folder")
    return source
