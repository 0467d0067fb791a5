"""`copyloom experiment`: create experiments from definition files, change their status, show them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from copyloom.cli.common import current_settings, emit, handles_errors, json_option, ready_store
from copyloom.errors import InvalidInput

if TYPE_CHECKING:
    from copyloom.services.experiments import Action, ExperimentReport


@click.group()
def experiment() -> None:
    """Experiments: wordings to optimise, their status and figures."""


@experiment.command(name="create")
@click.option("--tenant", "tenant_name", required=True, help="Name of the owning tenant.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@handles_errors
def experiment_create(tenant_name: str, file: Path, as_json: bool) -> None:
    """Create a draft experiment from a YAML or JSON definition FILE."""
    from copyloom.domain.definition import parse_experiment_definition
    from copyloom.services import experiments as experiment_service

    settings = current_settings()
    definition = parse_experiment_definition(read_definition(file))
    experiment_id = experiment_service.create_experiment(
        ready_store(settings), tenant_name, definition, time.time()
    )
    emit({"experiment_id": experiment_id}, as_json, f"created experiment {experiment_id} (draft)")


def read_definition(file: Path) -> Any:
    """A YAML or JSON file's object (a definition, or a variant)."""
    import yaml

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
    @handles_errors
    def command(experiment_id: str, as_json: bool, **extra: Any) -> None:
        from copyloom.services import experiments as experiment_service
        from copyloom.services.experiment_json import status_json

        serve = extra.get("serve") or extra.get("winner")
        updated = experiment_service.change_status(
            ready_store(current_settings()), experiment_id, action, time.time(), serve=serve
        )
        emit(status_json(updated), as_json, f"{updated.experiment_id}: {updated.status}")

    helps = {
        "start": "Start (or resume) serving and learning.",
        "pause": "Pause: serve the control, make no new assignments.",
        "finish": "Finish: serve one variant to every recipient from now on.\n\n"
        "Without --serve, the learner's declared winner; when none was declared, nothing changes and the "
        "message lists the choices with the leader's P(best) and rate (never a silent fall-back to the "
        "control, which may be the worst wording). The finished experiment keeps counting the opens and "
        "clicks of what it serves.",
    }
    command.__doc__ = helps[action]
    if action == "finish":
        command = click.option("--winner", default=None, hidden=True, help="Same as --serve VARIANT_ID.")(
            command
        )
        command = click.option(
            "--serve",
            default=None,
            metavar="winner|leader|control|VARIANT_ID",
            help="What every recipient gets: the declared winner, the current leader (highest P(best)), "
            "the control, or the variant named.",
        )(command)
    return experiment.command(name=action)(command)


_ACTIONS: tuple[Action, ...] = ("start", "pause", "finish")
for _action in _ACTIONS:
    _status_command(_action)


@experiment.command(name="show")
@click.argument("experiment_id")
@json_option
@handles_errors
def experiment_show(experiment_id: str, as_json: bool) -> None:
    """Show status, winner and per-variant figures (unique clicks and opens per recipient and dispatch)."""
    from copyloom.services import experiments as experiment_service
    from copyloom.services.experiment_json import report_json
    from copyloom.services.segment_formats import segments_text
    from copyloom.services.segments import experiment_segments

    store = ready_store(current_settings())
    report = experiment_service.experiment_report(store, experiment_id)
    segments = experiment_segments(store, experiment_id, report.leader)
    text = "\n".join([_report_text(report), *segments_text(segments, report.experiment.definition.metric)])
    emit(report_json(report, segments), as_json, text)


def _report_text(report: ExperimentReport) -> str:
    e = report.experiment
    lines = [f"{e.experiment_id} {e.definition.name!r}: {e.status}, winner {e.winner or '-'}"]
    lines.append(f"{'variant':<16}{'sends':>9}{'clicks':>8}{'opens':>8}{'weight':>9}{'P(best)':>9}")
    for v in report.variants:
        name = v.variant_id + (" (control)" if v.is_control else "") + (" (retired)" if v.retired_at else "")
        lines.append(f"{name:<16}{v.sends:>9}{v.clicks:>8}{v.opens:>8}{v.weight:>9.3f}{v.p_best:>9.3f}")
    breakdown = report.sources
    if breakdown and (len(breakdown.sources) > 1 or e.definition.sources):
        lines.append(f"{'campaign or Canvas step':<34}{'named as':>12}{'sends':>9}{'clicks':>8}{'opens':>8}")
        for s in breakdown.sources:
            name = s.source_id or "(not sent by the snippet)"
            lines.append(f"{name:<34}{s.named_as or '-':>12}{s.sends:>9}{s.clicks:>8}{s.opens:>8}")
        for o in breakdown.other_events:
            events = "event" if o.total == 1 else "events"
            lines.append(f"not attributed, from {o.source_id or '(none)'}: {o.total} {events}")
    return "\n".join(lines)


@experiment.command(name="list")
@click.option("--tenant", "tenant_name", default=None, help="Only this tenant's experiments.")
@json_option
@handles_errors
def experiment_list(tenant_name: str | None, as_json: bool) -> None:
    """List experiments."""
    from copyloom.services import experiments as experiment_service
    from copyloom.services.experiment_json import experiment_json

    found = experiment_service.list_experiments(ready_store(current_settings()), tenant_name)
    data = [experiment_json(e) for e in found]
    text = "\n".join(f"{e.experiment_id}\t{e.status}\t{e.definition.name}" for e in found)
    emit(data, as_json, text or "no experiments")
