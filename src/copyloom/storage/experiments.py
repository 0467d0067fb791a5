"""Experiments with their variants, and the allocation history the learner writes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from copyloom.domain.values import (
    AutoRetireRule,
    ContextField,
    Experiment,
    ExperimentDefinition,
    ExperimentId,
    GuardrailRule,
    RetiredBy,
    SegmentId,
    Status,
    TenantId,
    Variant,
    VariantId,
)
from copyloom.storage.db import id_chunks
from copyloom.storage.tables import (
    allocations,
    experiment_cta_links,
    experiment_sources,
    experiments,
    variants,
)


@dataclass(frozen=True, slots=True)
class StoredSegment:
    """One segment's part of a stored allocation: its weights, P(best) and winner (None: none yet)."""

    weights: Mapping[VariantId, float]
    p_best: Mapping[VariantId, float]
    winner: VariantId | None


@dataclass(frozen=True, slots=True)
class StoredAllocation:
    experiment_id: ExperimentId
    computed_at: float
    weights: Mapping[VariantId, float]
    p_best: Mapping[VariantId, float]
    winner: VariantId | None
    reason: str
    health: Mapping[str, object] | None = None
    """The health checks computed at this look (`services.health.checks_json`), when the learner ran them."""
    segments: Mapping[SegmentId, StoredSegment] | None = None
    """Per segment, for an experiment with context; None for one without (or a look before segments)."""


def insert_experiment(
    conn: Connection,
    experiment_id: ExperimentId,
    tenant_id: TenantId,
    definition: ExperimentDefinition,
    now: float,
) -> None:
    conn.execute(
        experiments.insert().values(
            experiment_id=experiment_id,
            tenant_id=tenant_id,
            name=definition.name,
            mode=definition.mode,
            metric=definition.metric,
            recipient_field=definition.recipient_field,
            sticky=definition.sticky,
            floor=definition.floor,
            control_holdout=definition.control_holdout,
            min_sends_per_variant=definition.min_sends_per_variant,
            **_auto_retire_columns(definition.auto_retire),
            guardrails_json=_guardrails_json(definition.guardrails),
            context_json=context_json(definition.context),
            status="draft",
            winner=None,
            created_at=now,
            updated_at=now,
        )
    )
    conn.execute(
        variants.insert(), [_variant_row(experiment_id, i, v) for i, v in enumerate(definition.variants)]
    )
    if definition.cta_links:
        conn.execute(
            experiment_cta_links.insert(),
            [{"experiment_id": experiment_id, "link_alias": alias} for alias in definition.cta_links],
        )
    if definition.sources:
        conn.execute(
            experiment_sources.insert(),
            [
                {"experiment_id": experiment_id, "source_id": source_id, "kind": kind}
                for source_id, kind in definition.sources.items()
            ],
        )


def _variant_row(experiment_id: str, position: int, v: Variant) -> dict[str, object]:
    return {
        "experiment_id": experiment_id,
        "variant_id": v.variant_id,
        "position": position,
        "is_control": v.is_control,
        "texts_json": json.dumps(dict(v.texts), ensure_ascii=False),
        "added_at": v.added_at,
        "retired_at": v.retired_at,
        "retired_by": v.retired_by,
    }


def _auto_retire_columns(rule: AutoRetireRule | None) -> dict[str, float | int | None]:
    return {
        "auto_retire_p_best_below": rule.p_best_below if rule else None,
        "auto_retire_for_hours": rule.for_hours if rule else None,
        "auto_retire_min_sends": rule.min_sends if rule else None,
    }


def _guardrails_json(rule: GuardrailRule | None) -> str:
    if rule is None:
        return '"off"'
    return json.dumps(
        {
            "metrics": list(rule.metrics),
            "margin": rule.margin,
            "confidence": rule.confidence,
            "action": rule.action,
            "min_events": rule.min_events,
        }
    )


def context_json(fields: Sequence[ContextField]) -> str | None:
    """The declared context fields as stored (NULL when there are none)."""
    if not fields:
        return None
    return json.dumps(
        [
            {"name": f.name, "braze": f.braze, "categories": list(f.categories), "buckets": list(f.buckets)}
            for f in fields
        ]
    )


def context_fields(raw: str | None) -> tuple[ContextField, ...]:
    """The stored context fields (none for NULL)."""
    if not raw:
        return ()
    return tuple(
        ContextField(
            str(f["name"]),
            str(f["braze"]),
            tuple(str(c) for c in f["categories"]),
            tuple(float(b) for b in f["buckets"]),
        )
        for f in json.loads(raw)
    )


def _segments_json(segments: Mapping[SegmentId, StoredSegment] | None) -> str | None:
    if segments is None:
        return None
    # Rounded to 1e-9: a look may store up to 200 segments x 10 variants, every minute of a broadcast.
    return json.dumps(
        {
            s: {"weights": _rounded(v.weights), "p_best": _rounded(v.p_best), "winner": v.winner}
            for s, v in segments.items()
        }
    )


def _rounded(shares: Mapping[VariantId, float]) -> dict[VariantId, float]:
    return {variant: round(share, 9) for variant, share in shares.items()}


def _segments(raw: str | None) -> dict[SegmentId, StoredSegment] | None:
    if not raw:
        return None
    return {s: StoredSegment(v["weights"], v["p_best"], v["winner"]) for s, v in json.loads(raw).items()}


def _guardrails(raw: str | None) -> GuardrailRule | None:
    """The stored rule: NULL (experiments from before guardrails) is the default rule."""
    if raw is None:
        return GuardrailRule()
    data = json.loads(raw)
    if data == "off":
        return None
    return GuardrailRule(
        tuple(data["metrics"]),
        float(data["margin"]),
        float(data["confidence"]),
        data["action"],
        int(data["min_events"]),
    )


def add_variant(conn: Connection, experiment_id: str, variant: Variant) -> None:
    """Append a variant to an experiment (after every other, so slot numbering and order stay)."""
    last = conn.execute(
        sa.select(sa.func.max(variants.c.position)).where(variants.c.experiment_id == experiment_id)
    ).scalar()
    conn.execute(variants.insert().values(**_variant_row(experiment_id, int(last or 0) + 1, variant)))


def retire_variant(
    conn: Connection, experiment_id: str, variant_id: VariantId, now: float, by: RetiredBy
) -> bool:
    """Mark an active variant retired; False when it was retired already (or does not exist)."""
    result = conn.execute(
        variants.update()
        .where(
            variants.c.experiment_id == experiment_id,
            variants.c.variant_id == variant_id,
            variants.c.retired_at.is_(None),
        )
        .values(retired_at=now, retired_by=by)
    )
    return result.rowcount == 1


def touch_experiment(conn: Connection, experiment_id: str, now: float) -> None:
    conn.execute(
        experiments.update().where(experiments.c.experiment_id == experiment_id).values(updated_at=now)
    )


def load_experiment(conn: Connection, experiment_id: str) -> Experiment | None:
    found = load_experiments(conn, sa.select(experiments).where(experiments.c.experiment_id == experiment_id))
    return found[0] if found else None


def experiments_by_ids(conn: Connection, experiment_ids: Sequence[str]) -> list[Experiment]:
    """The experiments with these ids that exist (in no particular order)."""
    found: list[Experiment] = []
    for chunk in id_chunks(experiment_ids):
        found += load_experiments(conn, sa.select(experiments).where(experiments.c.experiment_id.in_(chunk)))
    return found


def experiments_of_tenant(conn: Connection, tenant_id: TenantId) -> list[Experiment]:
    query = sa.select(experiments).where(experiments.c.tenant_id == tenant_id)
    return load_experiments(conn, query.order_by(experiments.c.created_at))


def experiments_with_status(conn: Connection, statuses: Iterable[Status]) -> list[Experiment]:
    query = sa.select(experiments).where(experiments.c.status.in_(list(statuses)))
    return load_experiments(conn, query.order_by(experiments.c.created_at))


def all_experiments(conn: Connection) -> list[Experiment]:
    return load_experiments(conn, sa.select(experiments).order_by(experiments.c.created_at))


def load_experiments(conn: Connection, query: sa.Select[tuple[object, ...]]) -> list[Experiment]:
    rows = list(conn.execute(query).mappings())
    if not rows:
        return []
    ids = [row["experiment_id"] for row in rows]
    variant_rows = conn.execute(
        sa.select(variants).where(variants.c.experiment_id.in_(ids)).order_by(variants.c.position)
    ).mappings()
    by_experiment: dict[str, list[Variant]] = {i: [] for i in ids}
    for v in variant_rows:
        texts = json.loads(v["texts_json"])
        by_experiment[v["experiment_id"]].append(
            Variant(
                v["variant_id"], texts, bool(v["is_control"]), v["added_at"], v["retired_at"], v["retired_by"]
            )
        )
    aliases: dict[str, list[str]] = {i: [] for i in ids}
    alias_rows = conn.execute(
        sa.select(experiment_cta_links)
        .where(experiment_cta_links.c.experiment_id.in_(ids))
        .order_by(experiment_cta_links.c.link_alias)
    ).mappings()
    for a in alias_rows:
        aliases[a["experiment_id"]].append(a["link_alias"])
    sources: dict[str, dict[str, list[str]]] = {i: {"campaign": [], "canvas_step": []} for i in ids}
    source_rows = conn.execute(
        sa.select(experiment_sources)
        .where(experiment_sources.c.experiment_id.in_(ids))
        .order_by(experiment_sources.c.source_id)
    ).mappings()
    for r in source_rows:
        sources[r["experiment_id"]][r["kind"]].append(r["source_id"])
    return [
        _experiment(row, by_experiment[i], aliases[i], sources[i])
        for row in rows
        for i in [row["experiment_id"]]
    ]


def update_status(
    conn: Connection, experiment_id: ExperimentId, status: Status, winner: VariantId | None, now: float
) -> None:
    conn.execute(
        experiments.update()
        .where(experiments.c.experiment_id == experiment_id)
        .values(status=status, winner=winner, updated_at=now)
    )


def insert_allocation(conn: Connection, allocation: StoredAllocation) -> None:
    conn.execute(
        allocations.insert().values(
            experiment_id=allocation.experiment_id,
            computed_at=allocation.computed_at,
            weights_json=json.dumps(dict(allocation.weights)),
            p_best_json=json.dumps(dict(allocation.p_best)),
            winner=allocation.winner,
            reason=allocation.reason,
            health_json=json.dumps(dict(allocation.health)) if allocation.health is not None else None,
            segments_json=_segments_json(allocation.segments),
        )
    )


def latest_allocations(conn: Connection, experiment_ids: list[str]) -> dict[str, StoredAllocation]:
    """The newest allocation of each experiment that has one."""
    found: dict[str, StoredAllocation] = {}
    for chunk in id_chunks(experiment_ids):
        newest = (
            sa.select(allocations.c.experiment_id, sa.func.max(allocations.c.allocation_id).label("newest"))
            .where(allocations.c.experiment_id.in_(chunk))
            .group_by(allocations.c.experiment_id)
            .subquery()
        )
        query = sa.select(allocations).join(newest, allocations.c.allocation_id == newest.c.newest)
        found.update((row["experiment_id"], _allocation(row)) for row in conn.execute(query).mappings())
    return found


def allocation_history(conn: Connection, experiment_id: str, limit: int = 10_000) -> list[StoredAllocation]:
    query = (
        sa.select(allocations)
        .where(allocations.c.experiment_id == experiment_id)
        .order_by(allocations.c.allocation_id)
        .limit(limit)
    )
    return [_allocation(row) for row in conn.execute(query).mappings()]


def allocation_weights(conn: Connection, experiment_id: str) -> list[tuple[float, dict[VariantId, float]]]:
    """Every allocation's time and weights, oldest first: the weights in force over the experiment's life."""
    query = (
        sa.select(allocations.c.computed_at, allocations.c.weights_json)
        .where(allocations.c.experiment_id == experiment_id)
        .order_by(allocations.c.allocation_id)
    )
    return [(float(at), json.loads(weights)) for at, weights in conn.execute(query)]


def allocations_since(conn: Connection, experiment_id: str, since: float) -> list[StoredAllocation]:
    """An experiment's allocations computed at or after `since`, oldest first."""
    query = (
        sa.select(allocations)
        .where(allocations.c.experiment_id == experiment_id, allocations.c.computed_at >= since)
        .order_by(allocations.c.allocation_id)
    )
    return [_allocation(row) for row in conn.execute(query).mappings()]


def _experiment(
    row: RowMapping, variant_list: list[Variant], cta_links: list[str], sources: Mapping[str, list[str]]
) -> Experiment:
    definition = ExperimentDefinition(
        name=row["name"],
        mode=row["mode"],
        metric=row["metric"],
        recipient_field=row["recipient_field"],
        sticky=row["sticky"],
        variants=tuple(variant_list),
        floor=row["floor"],
        control_holdout=row["control_holdout"],
        min_sends_per_variant=row["min_sends_per_variant"],
        cta_links=tuple(cta_links),
        campaign_ids=tuple(sources["campaign"]),
        canvas_step_ids=tuple(sources["canvas_step"]),
        auto_retire=_auto_retire(row),
        guardrails=_guardrails(row["guardrails_json"]),
        context=context_fields(row["context_json"]),
    )
    return Experiment(
        experiment_id=ExperimentId(row["experiment_id"]),
        tenant_id=TenantId(row["tenant_id"]),
        definition=definition,
        status=row["status"],
        winner=row["winner"],
        created_at=row["created_at"],
    )


def _auto_retire(row: RowMapping) -> AutoRetireRule | None:
    if row["auto_retire_p_best_below"] is None:
        return None
    return AutoRetireRule(
        float(row["auto_retire_p_best_below"]),
        float(row["auto_retire_for_hours"]),
        int(row["auto_retire_min_sends"]),
    )


def _allocation(row: RowMapping) -> StoredAllocation:
    return StoredAllocation(
        experiment_id=ExperimentId(row["experiment_id"]),
        computed_at=row["computed_at"],
        weights=json.loads(row["weights_json"]),
        p_best=json.loads(row["p_best_json"]),
        winner=row["winner"],
        reason=row["reason"],
        health=json.loads(row["health_json"]) if row["health_json"] else None,
        segments=_segments(row["segments_json"]),
    )
