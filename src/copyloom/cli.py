"""The command line: `copyloom init | tenant | experiment | report | learn | serve | worker | demo`."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
import numpy as np
import yaml
from rich.console import Console

from copyloom import __version__, cli_ingest
from copyloom.bench import FEEDBACKS, ORACLE, Feedback
from copyloom.domain import parse_experiment_definition
from copyloom.engine import policy_names
from copyloom.errors import CopyloomError, InvalidInput, StoreUnavailable
from copyloom.server import DEFAULT_SERVER, SERVER_NAMES, ServerName, run_server
from copyloom.services import dashboard_access, ingestion, reports, snippets
from copyloom.services import experiments as experiment_service
from copyloom.services import tenants as tenant_service
from copyloom.services.experiments import Action, ExperimentReport
from copyloom.services.learning import learn_once
from copyloom.services.report_formats import REPORT_FORMATS, ReportFormat, render_report
from copyloom.settings import SETTINGS, Settings, env_name, load_settings
from copyloom.storage import migrate
from copyloom.storage.db import Store, open_store
from copyloom.worker import ingest_loop, learner_loop

P = ParamSpec("P")
R = TypeVar("R")


def _emit(data: object, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else text)


def _handles_errors(func: Callable[P, R]) -> Callable[P, R]:
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


def _settings() -> Settings:
    return load_settings()


def _store(settings: Settings) -> Store:
    """The configured store, refusing to work on a database that `copyloom init` has not prepared."""
    store = open_store(settings.database_url)
    try:
        current = migrate.current_revision(store)
    except Exception as exc:  # any driver error here means the database cannot be reached
        raise StoreUnavailable(f"store: cannot reach the database ({type(exc).__name__})") from exc
    if current != migrate.head_revision():
        raise InvalidInput("store: the database is not initialised or is out of date; run `copyloom init`")
    return store


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


@click.group()
@click.version_option(__version__, prog_name="copyloom")
def main() -> None:
    """copyloom: dynamic language optimisation of marketing email with Braze.

    Settings come from COPYLOOM_* environment variables; see `copyloom settings`.
    """
    logging.basicConfig(
        level=load_settings().log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for chatty in ("httpx", "httpcore", "alembic"):  # a line per request or per check would drown the logs
        logging.getLogger(chatty).setLevel(logging.WARNING)


@main.command()
@json_option
@_handles_errors
def init(as_json: bool) -> None:
    """Create the database schema, or upgrade it to the newest version."""
    settings = _settings()
    store = open_store(settings.database_url)
    try:
        revision = migrate.upgrade(store)
    except Exception as exc:
        raise StoreUnavailable(f"store: cannot initialise the database ({type(exc).__name__})") from exc
    _emit({"revision": revision}, as_json, f"database ready (schema revision {revision})")


@main.command(name="settings")
@json_option
def show_settings(as_json: bool) -> None:
    """Show every setting: its environment variable, current value and meaning."""
    values = load_settings().redacted()
    if as_json:
        click.echo(json.dumps(values, indent=2))
        return
    for spec in SETTINGS:
        click.echo(f"{env_name(spec.name)}={values[spec.name]}\n    {spec.help} (default: {spec.default})")


@main.group()
def tenant() -> None:
    """Tenants (one per Braze workspace) and their serving tokens."""


@tenant.command(name="create")
@click.argument("name")
@json_option
@_handles_errors
def tenant_create(name: str, as_json: bool) -> None:
    """Create a tenant and print its serving token (shown only this once)."""
    created, token = tenant_service.create_tenant(_store(_settings()), name, time.time())
    data = {"tenant_id": created.tenant_id, "name": created.name, "token": token}
    _emit(data, as_json, f"tenant {created.name} ({created.tenant_id})\ntoken (shown only once): {token}")


@tenant.command(name="rotate-token")
@click.argument("name")
@json_option
@_handles_errors
def tenant_rotate_token(name: str, as_json: bool) -> None:
    """Revoke the tenant's tokens and print a new one (shown only this once)."""
    token = tenant_service.rotate_token(_store(_settings()), name, time.time())
    _emit({"name": name, "token": token}, as_json, f"new token (shown only once): {token}")


@tenant.command(name="revoke")
@click.argument("name")
@json_option
@_handles_errors
def tenant_revoke(name: str, as_json: bool) -> None:
    """Revoke every token of the tenant (serving stops within the cache refresh time)."""
    revoked = tenant_service.revoke_tokens(_store(_settings()), name, time.time())
    _emit({"name": name, "revoked": revoked}, as_json, f"revoked {revoked} token(s) of {name}")


@tenant.command(name="dashboard-password")
@click.argument("name")
@json_option
@_handles_errors
def tenant_dashboard_password(name: str, as_json: bool) -> None:
    """Set a new dashboard sign-in password for the tenant and print it (shown only this once). Running it
    again replaces the password and signs every dashboard session of the tenant out."""
    password = dashboard_access.issue_dashboard_password(_store(_settings()), name, time.time())
    text = f"dashboard password for {name} (shown only once): {password}"
    _emit({"name": name, "password": password}, as_json, text)


@tenant.command(name="set-id-transform")
@click.argument("name")
@click.argument("transform", type=click.Choice(["none", "sha256"]))
@json_option
@_handles_errors
def tenant_set_id_transform(name: str, transform: str, as_json: bool) -> None:
    """Hash content-endpoint recipients with SHA-256 first, when the Current hashes user ids (Braze's
    field transformation), so that events still join their assignments."""
    updated = tenant_service.set_id_transform(
        _store(_settings()), name, "sha256" if transform == "sha256" else "none"
    )
    _emit({"name": name, "id_transform": updated.id_transform}, as_json, f"{name}: id transform {transform}")


@tenant.command(name="list")
@json_option
@_handles_errors
def tenant_list(as_json: bool) -> None:
    """List tenants."""
    found = tenant_service.list_tenants(_store(_settings()))
    data = [{"tenant_id": t.tenant_id, "name": t.name, "id_transform": t.id_transform} for t in found]
    _emit(data, as_json, "\n".join(f"{t.name}\t{t.tenant_id}" for t in found) or "no tenants")


@tenant.command(name="set-source")
@click.argument("name")
@click.argument("source")
@click.option("--credentials-ref", default=None, help="AWS profile to read an s3:// source with.")
@json_option
@_handles_errors
def tenant_set_source(name: str, source: str, credentials_ref: str | None, as_json: bool) -> None:
    """Store the tenant's Currents source (s3://bucket/prefix or a folder), polled by `copyloom worker`."""
    stored = ingestion.set_source(_store(_settings()), name, source, credentials_ref, time.time())
    data = {"name": name, "source": stored.uri, "credentials_ref": stored.credentials_ref}
    _emit(data, as_json, f"{name}: source {stored.uri}")


@main.group(cls=cli_ingest._SourceOrCommand)
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
@_handles_errors
def ingest_run(source: str, tenant_name: str, once: bool, credentials_ref: str | None, as_json: bool) -> None:
    """Ingest every new file under SOURCE."""
    settings = _settings()
    store = _store(settings)
    console = Console(stderr=True)
    while True:
        summary = cli_ingest.run_ingest(
            store,
            cli_ingest.check_source_option(source),
            tenant_name,
            credentials_ref=credentials_ref,
            console=console,
        )
        _emit(summary, as_json, cli_ingest.summary_text(summary))
        if once:
            return
        time.sleep(settings.ingest_interval_s)


@ingest.command(name="status")
@click.option("--tenant", "tenant_name", required=True, help="Tenant to report on.")
@json_option
@_handles_errors
def ingest_status(tenant_name: str, as_json: bool) -> None:
    """Counts of files, events, duplicates, unattributed and quarantined files, and the newest event time."""
    status = cli_ingest.status_json(ingestion.ingest_status(_store(_settings()), tenant_name))
    text = "\n".join(f"{k}: {v}" for k, v in status.items() if k != "quarantined_files")
    text += "".join(f"\nquarantined {q['key']}: {q['reason']}" for q in status["quarantined_files"])
    _emit(status, as_json, text)


@ingest.command(name="retry")
@click.argument("key")
@click.option("--tenant", "tenant_name", required=True, help="Tenant the file belongs to.")
@json_option
@_handles_errors
def ingest_retry(key: str, tenant_name: str, as_json: bool) -> None:
    """Take a file out of quarantine so that the next ingest reads it again."""
    ingestion.retry_quarantined(_store(_settings()), tenant_name, key)
    _emit({"key": key, "retry": True}, as_json, f"{key} will be read again by the next ingest")


@main.group()
def experiment() -> None:
    """Experiments: wordings to optimise, their status and figures."""


@experiment.command(name="create")
@click.option("--tenant", "tenant_name", required=True, help="Name of the owning tenant.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@_handles_errors
def experiment_create(tenant_name: str, file: Path, as_json: bool) -> None:
    """Create a draft experiment from a YAML or JSON definition FILE."""
    definition = parse_experiment_definition(_read_definition(file))
    experiment_id = experiment_service.create_experiment(
        _store(_settings()), tenant_name, definition, time.time()
    )
    _emit({"experiment_id": experiment_id}, as_json, f"created experiment {experiment_id} (draft)")


def _read_definition(file: Path) -> Any:
    text = file.read_text(encoding="utf-8")
    try:
        return json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(
            f"{file.name}: not valid {'JSON' if file.suffix == '.json' else 'YAML'}: {exc}"
        ) from None


def _status_command(action: Action) -> click.Command:
    @click.argument("experiment_id")
    @json_option
    @_handles_errors
    def command(experiment_id: str, as_json: bool, **extra: Any) -> None:
        updated = experiment_service.change_status(
            _store(_settings()), experiment_id, action, time.time(), winner=extra.get("winner")
        )
        data = {"experiment_id": updated.experiment_id, "status": updated.status, "winner": updated.winner}
        _emit(data, as_json, f"{updated.experiment_id}: {updated.status}")

    helps = {
        "start": "Start (or resume) serving and learning.",
        "pause": "Pause: serve the control, make no new assignments.",
        "finish": "Finish: serve the winner (or the control) from now on.",
    }
    command.__doc__ = helps[action]
    if action == "finish":
        command = click.option("--winner", default=None, help="Variant to declare the winner.")(command)
    return experiment.command(name=action)(command)


_ACTIONS: tuple[Action, ...] = ("start", "pause", "finish")
for _action in _ACTIONS:
    _status_command(_action)


@experiment.command(name="show")
@click.argument("experiment_id")
@json_option
@_handles_errors
def experiment_show(experiment_id: str, as_json: bool) -> None:
    """Show status, winner and per-variant figures (unique clicks and opens per recipient and dispatch)."""
    report = experiment_service.experiment_report(_store(_settings()), experiment_id)
    _emit(report_json(report), as_json, _report_text(report))


def report_json(report: ExperimentReport) -> dict[str, Any]:
    return {
        "experiment_id": report.experiment.experiment_id,
        "name": report.experiment.definition.name,
        "status": report.experiment.status,
        "winner": report.experiment.winner,
        "allocated_at": report.allocated_at,
        "variants": [
            {
                "variant_id": v.variant_id,
                "control": v.is_control,
                "sends": v.sends,
                "clicks": v.clicks,
                "opens": v.opens,
                "bot_clicks": v.bot_clicks,
                "machine_opens": v.machine_opens,
                "delivered": v.delivered,
                "bounced": v.bounced,
                "unsubscribed": v.unsubscribed,
                "spam": v.spam,
                "weight": round(v.weight, 6),
                "p_best": round(v.p_best, 6),
            }
            for v in report.variants
        ],
    }


def _report_text(report: ExperimentReport) -> str:
    e = report.experiment
    lines = [f"{e.experiment_id} {e.definition.name!r}: {e.status}, winner {e.winner or '-'}"]
    lines.append(f"{'variant':<16}{'sends':>9}{'clicks':>8}{'opens':>8}{'weight':>9}{'P(best)':>9}")
    for v in report.variants:
        name = v.variant_id + (" (control)" if v.is_control else "")
        lines.append(f"{name:<16}{v.sends:>9}{v.clicks:>8}{v.opens:>8}{v.weight:>9.3f}{v.p_best:>9.3f}")
    return "\n".join(lines)


@experiment.command(name="list")
@click.option("--tenant", "tenant_name", default=None, help="Only this tenant's experiments.")
@json_option
@_handles_errors
def experiment_list(tenant_name: str | None, as_json: bool) -> None:
    """List experiments."""
    found = experiment_service.list_experiments(_store(_settings()), tenant_name)
    data = [
        {
            "experiment_id": e.experiment_id,
            "name": e.definition.name,
            "status": e.status,
            "mode": e.definition.mode,
        }
        for e in found
    ]
    text = "\n".join(f"{e.experiment_id}\t{e.status}\t{e.definition.name}" for e in found)
    _emit(data, as_json, text or "no experiments")


@main.command()
@click.argument("experiment_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(REPORT_FORMATS),
    default="md",
    show_default=True,
    help="md: a readable report; csv: a row per variant; json: every figure, with the chart series.",
)
@click.option("--tenant", "tenant_name", default=None, help="Only look among this tenant's experiments.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report to this file instead of standard output.",
)
@_handles_errors
def report(experiment_id: str, fmt: ReportFormat, tenant_name: str | None, output: Path | None) -> None:
    """An experiment's report: per-variant sends, rates with 95 % intervals, P(best) and weights; the
    winner, its uplift over the control and the incremental clicks (see docs/reports.md)."""
    store = _store(_settings())
    tenant_id = tenant_service.get_tenant(store, tenant_name).tenant_id if tenant_name else None
    text = render_report(reports.experiment_figures(store, experiment_id, tenant_id=tenant_id), fmt)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"--output: cannot write {output.name} ({exc.strerror})") from None
    click.echo(f"wrote the {fmt} report of {experiment_id} to {output}", err=True)


@main.command()
@click.argument("experiment_id")
@click.option("--placement", default=None, help="Only this placement (default: every placement).")
@click.option(
    "--method",
    type=click.Choice(["get", "post"]),
    default="get",
    show_default=True,
    help="Connected Content method: GET puts the recipient in the URL (Braze caches by URL).",
)
@click.option("--message-extras", is_flag=True, help="Also stamp the variant id on Braze's Send event.")
@click.option(
    "--token",
    default=snippets.TOKEN_PLACEHOLDER,
    show_default=True,
    help="The tenant's serving token to write into the snippets.",
)
@json_option
@_handles_errors
def snippet(  # noqa: PLR0917 - click passes every option as an argument
    experiment_id: str, placement: str | None, method: str, message_extras: bool, token: str, as_json: bool
) -> None:
    """Print the Liquid to paste into Braze: one Connected Content call per placement, with the control
    text as fallback, and the open pixel for the body. Uses COPYLOOM_PUBLIC_BASE_URL."""
    settings = _settings()
    experiment = experiment_service.get_experiment(_store(settings), experiment_id)
    found = snippets.render_snippets(
        experiment,
        base_url=settings.public_base_url,
        placement=placement,
        method="post" if method == "post" else "get",
        message_extras=message_extras,
        token=token,
    )
    data = [{"field": s.field, "liquid": s.liquid} for s in found]
    text = "\n\n".join(f"{{% comment %}} {s.field} {{% endcomment %}}\n{s.liquid}" for s in found)
    _emit(data, as_json, text)


@main.command()
@click.option(
    "--once", is_flag=True, help="Run one pass and exit (default: loop every COPYLOOM_LEARN_INTERVAL_S)."
)
@click.option("--seed", type=int, default=None, help="Seed the Monte Carlo draws (reproducible weights).")
@json_option
@_handles_errors
def learn(once: bool, seed: int | None, as_json: bool) -> None:
    """Recompute the weights of every live experiment."""
    settings = _settings()
    store = _store(settings)
    if not once:
        loop = learner_loop(
            store,
            interval_s=settings.learn_interval_s,
            samples=settings.learn_samples,
            clock=time.time,
            seed=seed,
        )
        asyncio.run(loop)
        return
    outcomes = learn_once(store, time.time(), np.random.default_rng(seed), settings.learn_samples)
    data = [
        {
            "experiment_id": o.experiment_id,
            "weights": o.allocation.weights if o.allocation else None,
            "p_best": o.allocation.p_best if o.allocation else None,
            "winner": o.allocation.winner if o.allocation else None,
            "error": o.error,
        }
        for o in outcomes
    ]
    text = "\n".join(f"{d['experiment_id']}: {d['error'] or d['weights']}" for d in data)
    _emit(data, as_json, text or "no live experiments")
    if any(o.error for o in outcomes):
        sys.exit(1)


@main.command()
@click.option("--host", default=None, help="Listen address (default: COPYLOOM_HOST).")
@click.option("--port", type=int, default=None, help="Listen port (default: COPYLOOM_PORT).")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="API processes. With more than one, run the learner and ingest poller in `copyloom worker`.",
)
@click.option(
    "--server",
    "server_name",
    type=click.Choice(SERVER_NAMES),
    default=DEFAULT_SERVER,
    show_default=True,
    help="ASGI server: granian (faster here, see README Performance) or uvicorn.",
)
@click.option("--no-learner", is_flag=True, help="Serve only; run the learner elsewhere (`copyloom worker`).")
@click.option("--no-ingest", is_flag=True, help="Do not poll the tenants' Currents sources here.")
@_handles_errors
def serve(
    *,
    host: str | None,
    port: int | None,
    workers: int,
    server_name: ServerName,
    no_learner: bool,
    no_ingest: bool,
) -> None:
    """Run the HTTP API (content endpoint, pixel, events webhook, metrics), with the learner and the
    ingest poller in the same process unless told otherwise."""
    settings = _settings()
    _store(settings).dispose()  # checks the store is reachable and migrated before workers start
    if workers > 1:
        click.echo(f"{workers} API processes; background loops run in `copyloom worker`", err=True)
    run_server(
        settings,
        server=server_name,
        workers=workers,
        with_learner=not no_learner,
        with_ingest=not no_ingest,
        host=host or settings.host,
        port=port or settings.port,
    )


@main.command()
@_handles_errors
def worker() -> None:
    """Run the background loops without the HTTP API: the learner (every COPYLOOM_LEARN_INTERVAL_S) and
    the poller of every tenant's Currents source (every COPYLOOM_INGEST_INTERVAL_S)."""
    settings = _settings()
    store = _store(settings)

    async def both() -> None:
        learner = learner_loop(
            store, interval_s=settings.learn_interval_s, samples=settings.learn_samples, clock=time.time
        )
        await asyncio.gather(
            learner, ingest_loop(store, interval_s=settings.ingest_interval_s, clock=time.time)
        )

    asyncio.run(both())


@main.group()
def bench() -> None:
    """Benchmarks run by hand (their figures go in the README)."""


@bench.command(name="optimize")
@click.option(
    "--seeds", type=click.IntRange(1, 1000), default=40, show_default=True, help="Seeds per scenario."
)
@click.option(
    "--first-seed",
    type=click.IntRange(0, 10**9),
    default=0,
    show_default=True,
    help="First seed; the README's table uses 0-39, judge a policy change on others too.",
)
@click.option("--quick", is_flag=True, help="Small scenarios and few seeds: a smoke run of a few seconds.")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Processes.")
@click.option(
    "--scenario", "scenario", default=None, help="Only the scenarios whose name contains this text."
)
@click.option(
    "--policy",
    "policies",
    multiple=True,
    type=click.Choice((*policy_names(), ORACLE)),
    help="Only this policy (repeatable); default every policy and the oracle (told the rates, not which "
    "variant has which: what any learner could capture).",
)
@click.option(
    "--feedback",
    type=click.Choice(FEEDBACKS),
    default="delayed",
    show_default=True,
    help="instant: every click arrives a second after its send (a reference: what the delay costs).",
)
@json_option
def bench_optimize(
    *,
    seeds: int,
    first_seed: int,
    quick: bool,
    workers: int,
    scenario: str | None,
    policies: tuple[str, ...],
    feedback: Feedback,
    as_json: bool,
) -> None:
    """Every policy on simulated broadcasts and triggered sends: share of the achievable gain captured
    (mean and 10th percentile over seeds), the A/A false-winner rate and the late swing (the largest
    weight a variant that is not best held in the second half of a broadcast)."""
    from copyloom.bench import render_table, run_optimize_benchmark  # noqa: PLC0415 - heavy, rarely run

    try:
        result = run_optimize_benchmark(
            seeds=seeds,
            quick=quick,
            workers=workers,
            scenario=scenario,
            policies=policies or None,
            first_seed=first_seed,
            feedback=feedback,
        )
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--scenario") from error
    _emit(result, as_json, render_table(result))


@main.command()
@click.option(
    "--recipients",
    type=click.IntRange(100, 1_000_000),
    default=20_000,
    show_default=True,
    help="Size of the simulated send.",
)
@click.option(
    "--duration-s",
    type=click.FloatRange(5, 3600),
    default=60.0,
    show_default=True,
    help="Real seconds the simulated 6-hour send is compressed into.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the simulation.")
@click.option(
    "--serve",
    is_flag=True,
    help="Keep the server running after the send and print the dashboard address and a sign-in "
    "password for the demo tenant; Ctrl-C stops it.",
)
@json_option
@_handles_errors
def demo(recipients: int, duration_s: float, seed: int, serve: bool, as_json: bool) -> None:
    """Show the whole loop on a temporary SQLite database with a simulated Braze broadcast.

    A real HTTP server on a free loopback port serves a 4-variant experiment with known true click rates;
    a simulated Braze sends to every recipient through the content endpoint, loads open pixels and posts
    delayed clicks (some twice) to /v1/events; the learner moves the weights as it goes.
    """
    from copyloom.demo import run_demo  # noqa: PLC0415 - keeps the simulator out of every other command

    result = run_demo(recipients=recipients, seed=seed, quiet=as_json, duration_s=duration_s, serve=serve)
    if as_json:
        click.echo(json.dumps(result, indent=2))
