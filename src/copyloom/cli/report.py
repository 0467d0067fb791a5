"""`copyloom report` (an experiment's figures as Markdown, CSV or JSON) and `copyloom snippet` (the Liquid
to paste into Braze)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from copyloom.cli.common import (
    LazyChoice,
    current_settings,
    emit,
    handles_errors,
    json_option,
    ready_store,
)
from copyloom.errors import InvalidInput
from copyloom.services.snippets import TOKEN_PLACEHOLDER

if TYPE_CHECKING:
    from collections.abc import Iterable

    from copyloom.services.report_formats import ReportFormat


def _report_formats() -> Iterable[str]:
    from copyloom.services.report_formats import REPORT_FORMATS

    return REPORT_FORMATS


@click.command()
@click.argument("experiment_id")
@click.option(
    "--format",
    "fmt",
    type=LazyChoice(_report_formats),
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
@handles_errors
def report(experiment_id: str, fmt: ReportFormat, tenant_name: str | None, output: Path | None) -> None:
    """An experiment's report: per-variant sends, rates with 95 % intervals, P(best) and weights; the
    winner, its uplift over the control and the incremental clicks (see docs/reports.md)."""
    from copyloom.services import reports
    from copyloom.services import tenants as tenant_service
    from copyloom.services.report_formats import render_report

    settings = current_settings()
    store = ready_store(settings)
    tenant_id = tenant_service.get_tenant(store, tenant_name).tenant_id if tenant_name else None
    window_s = settings.attribution_window_h * 3600.0 or None
    figures = reports.experiment_figures(
        store, experiment_id, tenant_id=tenant_id, now=time.time(), window_s=window_s
    )
    text = render_report(figures, fmt)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"--output: cannot write {output.name} ({exc.strerror})") from None
    click.echo(f"wrote the {fmt} report of {experiment_id} to {output}", err=True)


@click.command()
@click.argument("experiment_id")
@click.option(
    "--placement",
    default=None,
    help="Only this placement, or `body` for the open pixel (default: every placement and the pixel).",
)
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
    default=TOKEN_PLACEHOLDER,
    show_default=True,
    help="The tenant's serving token to write into the snippets.",
)
@json_option
@handles_errors
def snippet(  # noqa: PLR0917 - click passes every option as an argument
    experiment_id: str, placement: str | None, method: str, message_extras: bool, token: str, as_json: bool
) -> None:
    """Print the Liquid to paste into Braze, one entry per placement and message part: the subject, the
    preheader, and each body placement in the HTML, plain-text and AMP bodies, each with its own Connected
    Content call and the control text as fallback; then the open pixel for the HTML and AMP bodies. Uses
    COPYLOOM_PUBLIC_BASE_URL, and warns when Braze could not call it."""
    from copyloom.services import experiments as experiment_service
    from copyloom.services import snippets

    settings = current_settings()
    experiment = experiment_service.get_experiment(ready_store(settings), experiment_id)
    found = snippets.render_snippets(
        experiment,
        base_url=settings.public_base_url,
        placement=placement,
        method="post" if method == "post" else "get",
        message_extras=message_extras,
        token=token,
    )
    warnings = snippets.base_url_warnings(settings.public_base_url)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    data = {
        "snippets": [
            {"placement": s.placement, "part": s.part, "field": s.field, "liquid": s.liquid} for s in found
        ],
        "warnings": warnings,
    }
    text = "\n\n".join(f"{{% comment %}} {s.field} {{% endcomment %}}\n{s.liquid}" for s in found)
    emit(data, as_json, text)
