"""Experiments as JSON-ready objects: what `copyloom experiment … --json` prints and the management API
answers, built once for both."""

from __future__ import annotations

from typing import Any

from copyloom.domain.context import segment_values
from copyloom.domain.values import ContextField, Experiment
from copyloom.services.experiments import ExperimentReport
from copyloom.services.guardrails import guardrails_json
from copyloom.services.health import checks_json
from copyloom.services.segment_formats import segments_json
from copyloom.services.segments import SegmentBreakdown


def experiment_json(experiment: Experiment) -> dict[str, Any]:
    """One entry of `experiment list --json` and of `GET /v1/experiments`."""
    return {
        "experiment_id": experiment.experiment_id,
        "name": experiment.definition.name,
        "status": experiment.status,
        "mode": experiment.definition.mode,
    }


def status_json(experiment: Experiment) -> dict[str, Any]:
    """What `experiment start | pause | finish --json` prints and their API routes answer."""
    return {
        "experiment_id": experiment.experiment_id,
        "status": experiment.status,
        "winner": experiment.winner,
    }


def report_json(report: ExperimentReport, segments: SegmentBreakdown | None = None) -> dict[str, Any]:
    """The `experiment show --json` object, and `GET /v1/experiments/{experiment_id}`'s answer; `segments`
    (null without context) from `segments.experiment_segments`."""
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
                "cta_clicks": v.cta_clicks,
                "opens": v.opens,
                "bot_clicks": v.bot_clicks,
                "machine_opens": v.machine_opens,
                "delivered": v.delivered,
                "bounced": v.bounced,
                "unsubscribed": v.unsubscribed,
                "spam": v.spam,
                "weight": round(v.weight, 6),
                "p_best": round(v.p_best, 6),
                "status": v.status,
                "added_at": v.added_at,
                "retired_at": v.retired_at,
                "retired_by": v.retired_by,
            }
            for v in report.variants
        ],
        "health": checks_json(report.health),
        "guardrails": guardrails_json(report.experiment, report.breaches),
        "campaign_ids": list(report.experiment.definition.campaign_ids),
        "canvas_step_ids": list(report.experiment.definition.canvas_step_ids),
        **(report.sources.as_json() if report.sources else {}),
        "context": [context_field_json(f) for f in report.experiment.definition.context],
        "segments": segments_json(segments, report.experiment.definition.metric),
    }


def context_field_json(field: ContextField) -> dict[str, Any]:
    """A declared context field as the definition gave it, with the segment values it maps to."""
    mapping: dict[str, Any] = (
        {"categories": list(field.categories)} if field.categories else {"buckets": list(field.buckets)}
    )
    return {"name": field.name, "braze": field.braze, **mapping, "segments": list(segment_values(field))}


def variants_json(experiment: Experiment) -> dict[str, Any]:
    """What `experiment add-variant | retire-variant --json` print and their API routes answer."""
    return {
        "experiment_id": experiment.experiment_id,
        "status": experiment.status,
        "variants": [
            {
                "variant_id": v.variant_id,
                "control": v.is_control,
                "status": v.status,
                "added_at": v.added_at,
                "retired_at": v.retired_at,
                "retired_by": v.retired_by,
            }
            for v in experiment.definition.variants
        ],
    }
