"""Variants that come and go: adding a wording to a running experiment, retiring one, and the automatic
retirement rule of triggered experiments.

A new variant warms up on its own (the engine gives a variant short of its warm-up an even share) while
the others keep their weights; a retired one gets no new recipients, while recipients already assigned to
it keep it (stickiness) and its clicks keep counting. Each change stores an allocation at once, so
serving follows it within the cache refresh rather than at the learner's next pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from copyloom.domain.definition import parse_added_variant
from copyloom.domain.values import (
    MIN_VARIANTS,
    AutoRetireRule,
    Experiment,
    RetiredBy,
    TenantId,
    Variant,
    VariantId,
)
from copyloom.errors import Conflict, InvalidInput, NotFound
from copyloom.services.experiments import even_allocation
from copyloom.storage import experiments as repo
from copyloom.storage.db import Store
from copyloom.storage.experiments import StoredAllocation

CHANGEABLE = ("draft", "live", "paused")
"""Statuses in which variants may be added or retired: not once finished."""


def add_variant(
    store: Store, experiment_id: str, raw: object, now: float, *, tenant_id: TenantId | None = None
) -> Experiment:
    """Add a wording to an experiment that is not finished (see `parse_added_variant` for the rules).

    Raises:
        NotFound: unknown experiment (or another tenant's).
        Conflict: the experiment is finished.
        InvalidInput: naming the field of the new variant that is wrong.
    """
    with store.write() as conn:
        experiment = _changeable(repo.load_experiment(conn, experiment_id), experiment_id, tenant_id)
        variant = parse_added_variant(raw, experiment)
        repo.add_variant(
            conn,
            experiment.experiment_id,
            Variant(variant.variant_id, variant.texts, is_control=False, added_at=now),
        )
        repo.touch_experiment(conn, experiment.experiment_id, now)
        if experiment.status != "draft":
            latest = repo.latest_allocations(conn, [experiment.experiment_id]).get(experiment.experiment_id)
            active = len(experiment.active_variant_ids) + 1
            repo.insert_allocation(
                conn, with_added(latest or even_allocation(experiment, now), variant.variant_id, active, now)
            )
        updated = repo.load_experiment(conn, experiment.experiment_id)
    assert updated is not None
    return updated


def retire_variant(
    store: Store,
    experiment_id: str,
    variant_id: str,
    now: float,
    *,
    by: RetiredBy = "manual",
    tenant_id: TenantId | None = None,
) -> Experiment:
    """Stop giving a variant to new recipients; never the control, never below two live variants.

    Raises:
        NotFound: unknown experiment (or another tenant's).
        Conflict: the experiment is finished, or the variant is the control, already retired, or one of
            the last two live variants.
        InvalidInput: no such variant.
    """
    with store.write() as conn:
        experiment = _changeable(repo.load_experiment(conn, experiment_id), experiment_id, tenant_id)
        check_retirable(experiment, variant_id)
        repo.retire_variant(conn, experiment.experiment_id, VariantId(variant_id), now, by)
        repo.touch_experiment(conn, experiment.experiment_id, now)
        if experiment.status != "draft":
            latest = repo.latest_allocations(conn, [experiment.experiment_id]).get(experiment.experiment_id)
            repo.insert_allocation(
                conn, with_retired(latest or even_allocation(experiment, now), variant_id, now)
            )
        updated = repo.load_experiment(conn, experiment.experiment_id)
    assert updated is not None
    return updated


def check_retirable(experiment: Experiment, variant_id: str) -> None:
    """Raise unless `variant_id` may be retired from `experiment` (see `retire_variant`)."""
    variant = next((v for v in experiment.definition.variants if v.variant_id == variant_id), None)
    if variant is None:
        raise InvalidInput(
            f"variant_id: no variant '{variant_id}' (variants: {', '.join(experiment.variant_ids)})"
        )
    if variant.is_control:
        raise Conflict(f"variant_id: '{variant_id}' is the control, which is never retired")
    if not variant.is_active:
        raise Conflict(f"variant_id: '{variant_id}' is retired already")
    if len(experiment.active_variant_ids) <= MIN_VARIANTS:
        raise Conflict(
            f"variant_id: cannot retire '{variant_id}': an experiment keeps at least {MIN_VARIANTS} live "
            "variants"
        )


def with_added(latest: StoredAllocation, variant_id: VariantId, active: int, now: float) -> StoredAllocation:
    """The allocation right after a variant joins: it gets an even share (1 / live variants), the others
    keep their weights scaled down together; its P(best) is 0 until the learner has seen it."""
    share = 1.0 / active
    weights = {v: w * (1.0 - share) for v, w in latest.weights.items()}
    return StoredAllocation(
        latest.experiment_id, now, {**weights, variant_id: share}, {**latest.p_best, variant_id: 0.0}, None,
        "variant_added",
    )  # fmt: skip


def with_retired(latest: StoredAllocation, variant_id: str, now: float) -> StoredAllocation:
    """The allocation right after a variant retires: its weight and P(best) go to the others in proportion."""
    return StoredAllocation(
        latest.experiment_id,
        now,
        _without(latest.weights, variant_id),
        _without(latest.p_best, variant_id),
        None if latest.winner == variant_id else latest.winner,
        "variant_retired",
    )


def _without(shares: Mapping[VariantId, float], variant_id: str) -> dict[VariantId, float]:
    rest = {v: w for v, w in shares.items() if v != variant_id}
    total = sum(rest.values())
    if total <= 0:
        return {v: 1.0 / len(rest) for v in rest} | {variant_id: 0.0}
    return {v: w / total for v, w in rest.items()} | {variant_id: 0.0}


def due_for_retirement(
    experiment: Experiment,
    rule: AutoRetireRule,
    history: Sequence[StoredAllocation],
    sends: Mapping[VariantId, int],
    now: float,
) -> VariantId | None:
    """The live variant the `auto_retire` rule retires now, if any (pure): not the control; one whose
    P(best) was below `rule.p_best_below` in every allocation of the last `rule.for_hours`, which covers
    that whole window (the variant was live and the learner ran from its start), and which has at least
    `rule.min_sends` sends. Of several, the lowest latest P(best); none while only two variants are live.

    Args:
        history: the experiment's allocations from (at least) `now - rule.for_hours` on, oldest first.
        sends: sends per variant so far.
    """
    if len(experiment.active_variant_ids) <= MIN_VARIANTS or not history:
        return None
    since = now - rule.for_hours * 3600.0
    window = [a for a in history if a.computed_at >= since]
    covered = any(a.computed_at <= since + min(3600.0, rule.for_hours * 360.0) for a in window)
    if not window or not covered:
        return None
    candidates = [
        v
        for v in experiment.definition.variants
        if v.is_active
        and not v.is_control
        and (v.added_at is None or v.added_at <= since)
        and sends.get(v.variant_id, 0) >= rule.min_sends
        and all(a.p_best.get(v.variant_id, 0.0) < rule.p_best_below for a in window)
    ]
    if not candidates:
        return None
    latest = window[-1].p_best
    return min(candidates, key=lambda v: (latest.get(v.variant_id, 0.0), v.variant_id)).variant_id


def _changeable(experiment: Experiment | None, experiment_id: str, tenant_id: TenantId | None) -> Experiment:
    if experiment is None or (tenant_id is not None and experiment.tenant_id != tenant_id):
        raise NotFound(f"experiment: no experiment '{experiment_id}'")
    if experiment.status not in CHANGEABLE:
        raise Conflict(f"status: cannot change the variants of an experiment that is {experiment.status}")
    return experiment
