"""Guardrails at each learner look: which variants are held at the floor, which breach now, and recording
them (the decision itself is the engine's `find_breaches`, on counts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy.engine import Connection

from copyloom.domain.events import EngagementKind
from copyloom.domain.values import Experiment, GuardrailMetric, VariantId
from copyloom.engine import Breach, Tally, find_breaches
from copyloom.storage import guardrails as repo
from copyloom.storage.assignments import CohortCount
from copyloom.storage.guardrails import StoredBreach

_KIND_OF_METRIC: dict[GuardrailMetric, EngagementKind] = {
    "unsubscribe": "unsubscribe",
    "spam": "spam",
    "bounce": "bounce",
}


@dataclass(frozen=True, slots=True)
class GuardrailLook:
    """What the guardrails say at one look: the variants held at the floor (breached now or before) and
    the breaches found now."""

    held: frozenset[VariantId]
    new: tuple[Breach, ...]


def look(
    conn: Connection, experiment: Experiment, counts: Sequence[CohortCount], rng: np.random.Generator
) -> GuardrailLook:
    """Check the live variants not yet breached against the control; a breached variant stays held."""
    rule = experiment.definition.guardrails
    if rule is None:
        return GuardrailLook(frozenset(), ())
    active = experiment.active_variant_ids
    held = {b.variant_id for b in repo.breaches_of(conn, experiment.experiment_id) if b.variant_id in active}
    control = experiment.definition.control.variant_id
    new = find_breaches(
        tallies(counts, active, rule.metrics),
        control,
        rule,
        rng,
        variants=[v for v in active if v not in held and v != control],
    )
    return GuardrailLook(frozenset(held | {b.variant_id for b in new}), tuple(new))


def tallies(
    counts: Sequence[CohortCount], variants: Sequence[VariantId], metrics: Sequence[GuardrailMetric]
) -> dict[VariantId, dict[GuardrailMetric, Tally]]:
    """Sends and events of each guarded metric per variant (a hard bounce is a Currents `Bounce`)."""
    sends = dict.fromkeys(variants, 0)
    events = {v: dict.fromkeys(metrics, 0) for v in variants}
    for c in counts:
        if c.variant_id not in sends:
            continue
        sends[c.variant_id] += c.sends
        for metric in metrics:
            events[c.variant_id][metric] += c.engagements.get(_KIND_OF_METRIC[metric], 0)
    return {v: {m: Tally(sends[v], events[v][m]) for m in metrics} for v in variants}


def record(
    conn: Connection, experiment: Experiment, breaches: Sequence[Breach], now: float
) -> list[StoredBreach]:
    """Record new breaches with their figures; returns those recorded now (not seen before)."""
    rule = experiment.definition.guardrails
    if rule is None:
        return []
    stored = [
        StoredBreach(
            experiment.experiment_id,
            b.variant_id,
            b.metric,
            now,
            b.variant.sends,
            b.variant.events,
            b.control.sends,
            b.control.events,
            b.probability,
            rule.margin,
            rule.action,
        )
        for b in breaches
    ]
    return [s for s in stored if repo.record_breach(conn, s)]


def guardrails_json(experiment: Experiment, breaches: Sequence[StoredBreach]) -> dict[str, object]:
    """The rule and the breaches, as `experiment show --json` and the JSON report carry them."""
    rule = experiment.definition.guardrails
    return {
        "rule": None
        if rule is None
        else {
            "metrics": list(rule.metrics),
            "margin": rule.margin,
            "confidence": rule.confidence,
            "action": rule.action,
            "min_events": rule.min_events,
        },
        "breaches": [
            {
                "variant_id": b.variant_id,
                "metric": b.metric,
                "detected_at": b.detected_at,
                "variant_rate": round(b.variant_rate, 6),
                "control_rate": round(b.control_rate, 6),
                "variant_sends": b.variant_sends,
                "variant_events": b.variant_events,
                "control_sends": b.control_sends,
                "control_events": b.control_events,
                "probability": round(b.probability, 6),
                "margin": b.margin,
                "action": b.action,
            }
            for b in breaches
        ],
    }


_ACTION_TEXT = {"floor": "held at the floor", "retire": "retired (or held at the floor if it cannot be)"}


def guardrails_markdown(experiment: Experiment, breaches: Sequence[StoredBreach]) -> list[str]:
    """The report's section on the guardrails: the rule, then each breach with its figures."""
    rule = experiment.definition.guardrails
    if rule is None:
        return ["## Guardrails", "", "Off for this experiment (`guardrails: false`).", ""]
    watched = ", ".join(m.replace("_", " ") for m in rule.metrics)
    lines = [
        "## Guardrails",
        "",
        f"Watching {watched}: a variant breaches when P(its rate > the control's x {1 + rule.margin:g}) "
        f"is at least {rule.confidence:.0%} (and it has {rule.min_events} events or more); it is then "
        f"{_ACTION_TEXT[rule.action]}.",
        "",
    ]
    if not breaches:
        return [*lines, "No breach.", ""]
    for b in breaches:
        lines.append(
            f"- **{b.variant_id}** breached on {b.metric}: {b.variant_rate:.3%} ({b.variant_events:,} of "
            f"{b.variant_sends:,}) against the control's {b.control_rate:.3%} ({b.control_events:,} of "
            f"{b.control_sends:,}), P = {b.probability:.1%}; {b.action}."
        )
    return [*lines, ""]
