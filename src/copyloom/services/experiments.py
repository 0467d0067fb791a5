"""Experiments: create from a definition, change status, and report per-variant figures."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol, get_args

from sqlalchemy.engine import Connection

from copyloom.domain.values import (
    Experiment,
    ExperimentDefinition,
    ExperimentId,
    Metric,
    RetiredBy,
    Status,
    TenantId,
    VariantId,
    VariantStatus,
    variant_status,
)
from copyloom.engine.allocation import apply_floor_and_holdout, even_shares
from copyloom.errors import Conflict, InvalidInput, NotFound
from copyloom.services.health import HealthCheck, checks_from_json
from copyloom.services.sources import SourceBreakdown, load_source_breakdown
from copyloom.storage import experiments as repo
from copyloom.storage import tenants as tenant_repo
from copyloom.storage.assignments import CohortCount, cohort_counts
from copyloom.storage.db import Store
from copyloom.storage.experiments import StoredAllocation
from copyloom.storage.guardrails import StoredBreach, breaches_of

Action = Literal["start", "pause", "finish"]
ACTIONS: tuple[Action, ...] = get_args(Action)
_TRANSITIONS: dict[Action, tuple[frozenset[Status], Status]] = {
    "start": (frozenset({"draft", "paused"}), "live"),
    "pause": (frozenset({"live"}), "paused"),
    "finish": (frozenset({"draft", "live", "paused"}), "finished"),
}
"""The status machine: each action, the statuses it may be taken from, and the status it leads to."""
FinishChoice = Literal["winner", "leader", "control"]
FINISH_CHOICES: tuple[FinishChoice, ...] = get_args(FinishChoice)
"""What a finished experiment may serve, besides a variant named by its id."""


@dataclass(frozen=True, slots=True)
class VariantReport:
    variant_id: VariantId
    is_control: bool
    sends: int
    clicks: int
    opens: int
    bot_clicks: int
    machine_opens: int
    delivered: int
    bounced: int
    unsubscribed: int
    spam: int
    weight: float
    p_best: float
    cta_clicks: int = 0  # clicks on the CTA's links, with metric cta_click
    added_at: float | None = None  # joined the running experiment then; None: one of the first variants
    retired_at: float | None = None  # gets no new recipients since; None while live
    retired_by: RetiredBy | None = None

    @property
    def status(self) -> VariantStatus:
        return variant_status(self.retired_at)


class MetricCounts(Protocol):
    """A variant's unique engagements as the reports carry them (`VariantReport`, the report figures)."""

    @property
    def clicks(self) -> int: ...
    @property
    def opens(self) -> int: ...
    @property
    def cta_clicks(self) -> int: ...


def metric_events(variant: MetricCounts, metric: Metric) -> int:
    """The variant's unique events of an experiment's metric: the one place a metric picks its count."""
    return {"click": variant.clicks, "open": variant.opens, "cta_click": variant.cta_clicks}[metric]


@dataclass(frozen=True, slots=True)
class ExperimentReport:
    experiment: Experiment
    variants: tuple[VariantReport, ...]
    allocated_at: float | None
    leader: VariantId | None
    declared: VariantId | None = None
    """The winner the learner declared in the latest allocation, if any."""
    sources: SourceBreakdown | None = None
    """Sends and engagements per Braze campaign or Canvas step (read with the full report only)."""
    health: tuple[HealthCheck, ...] = ()
    """The health checks of the learner's latest look (none before it has run)."""
    breaches: tuple[StoredBreach, ...] = ()
    """Guardrail breaches, oldest first (read with the full report only)."""


def create_experiment(
    store: Store, tenant_name: str, definition: ExperimentDefinition, now: float
) -> ExperimentId:
    """Store a validated definition as a new draft experiment of the tenant named `tenant_name`.

    Raises:
        NotFound: no tenant of that name.
    """
    with store.write() as conn:
        tenant = tenant_repo.tenant_by_name(conn, tenant_name)
        if tenant is None:
            raise NotFound(f"tenant: no tenant named '{tenant_name}'")
        return _insert_experiment(conn, tenant.tenant_id, definition, now)


def create_tenant_experiment(
    store: Store, tenant_id: TenantId, definition: ExperimentDefinition, now: float
) -> ExperimentId:
    """Store a validated definition as a new draft experiment of an authenticated tenant (the API's
    `create_experiment`): the same experiment as the CLI's, which the learner and serving pick up alike."""
    with store.write() as conn:
        return _insert_experiment(conn, tenant_id, definition, now)


def _insert_experiment(
    conn: Connection, tenant_id: TenantId, definition: ExperimentDefinition, now: float
) -> ExperimentId:
    experiment_id = ExperimentId("ex_" + secrets.token_hex(8))
    repo.insert_experiment(conn, experiment_id, tenant_id, definition, now)
    return experiment_id


def get_experiment(store: Store, experiment_id: str, tenant_id: TenantId | None = None) -> Experiment:
    """An experiment, optionally only if it belongs to `tenant_id`.

    Raises:
        NotFound: it does not exist, or belongs to another tenant (the message does not say which).
    """
    with store.read() as conn:
        experiment = repo.load_experiment(conn, experiment_id)
    if experiment is None or (tenant_id is not None and experiment.tenant_id != tenant_id):
        raise NotFound(f"experiment: no experiment '{experiment_id}'")
    return experiment


def list_experiments(store: Store, tenant_name: str | None = None) -> list[Experiment]:
    with store.read() as conn:
        if tenant_name is None:
            return repo.all_experiments(conn)
        tenant = tenant_repo.tenant_by_name(conn, tenant_name)
        if tenant is None:
            raise NotFound(f"tenant: no tenant named '{tenant_name}'")
        return repo.experiments_of_tenant(conn, tenant.tenant_id)


def tenant_experiments(store: Store, tenant_id: TenantId) -> list[Experiment]:
    """An authenticated tenant's experiments, in `list_experiments` order."""
    with store.read() as conn:
        return repo.experiments_of_tenant(conn, tenant_id)


def allowed_actions(status: Status) -> tuple[Action, ...]:
    """The actions that change an experiment in `status`, in `ACTIONS` order: what a user is offered.

    `change_status` also accepts, by default, repeating the current state (start a live experiment,
    pause a paused one) so that a script may re-run it; a repeat changes nothing and is not offered.
    """
    return tuple(a for a in ACTIONS if status in _TRANSITIONS[a][0])


def check_action(status: Status, action: Action, *, repeat_ok: bool = False) -> None:
    """Raise unless `action` may be taken from `status` (or, with `repeat_ok`, repeats `status`).

    Raises:
        Conflict: naming the action and the status, e.g. ``status: cannot pause an experiment that is
            finished``.
    """
    is_repeat = repeat_ok and _TRANSITIONS[action][1] == status and status != "finished"
    if action not in allowed_actions(status) and not is_repeat:
        raise Conflict(f"status: cannot {action} an experiment that is {status}")


def change_status(
    store: Store,
    experiment_id: str,
    action: Action,
    now: float,
    *,
    serve: str | None = None,
    tenant_id: TenantId | None = None,
    repeat_ok: bool = True,
) -> Experiment:
    """Start, pause or finish an experiment.

    Starting a draft stores an even initial allocation. Finishing fixes the variant every recipient gets
    from then on (see `choose_served`); it is stored as the experiment's `winner`. With `repeat_ok` (the
    default), starting a live or pausing a paused experiment is accepted and changes nothing else.

    Raises:
        NotFound: unknown experiment (or another tenant's).
        Conflict: the action is not allowed from the experiment's status (see `allowed_actions`),
            `serve` is given for an action other than finish, or finishing without a choice when no
            winner was declared.
        InvalidInput: `serve` is neither a choice of `FINISH_CHOICES` nor a variant.
    """
    target = _TRANSITIONS[action][1]
    with store.write() as conn:
        experiment = repo.load_experiment(conn, experiment_id)
        if experiment is None or (tenant_id is not None and experiment.tenant_id != tenant_id):
            raise NotFound(f"experiment: no experiment '{experiment_id}'")
        check_action(experiment.status, action, repeat_ok=repeat_ok)
        if serve is not None and action != "finish":
            raise Conflict("serve: what to serve can only be chosen when finishing")
        winner = experiment.winner
        if action == "finish" and experiment.status != "finished":
            winner = choose_served(_report_in(conn, experiment), serve)
        if experiment.status == "draft" and target == "live":
            repo.insert_allocation(conn, even_allocation(experiment, now))
        repo.update_status(conn, experiment.experiment_id, target, winner, now)
        updated = repo.load_experiment(conn, experiment.experiment_id)
    assert updated is not None
    return updated


def choose_served(report: ExperimentReport, serve: str | None) -> VariantId:
    """The variant a finished experiment serves: `serve` is `winner` (the learner's declared winner),
    `leader` (the highest P(best) of the latest allocation), `control`, or a variant id; None means
    the declared winner.

    Without a declared winner, None and `winner` are refused rather than falling back to the control:
    the control may be the worst wording, so the choice is the user's, and the message gives the
    leader's figures to make it.

    Raises:
        Conflict: no winner was declared (for None or `winner`), or no leader yet (for `leader`).
        InvalidInput: `serve` is none of the choices.
    """
    experiment = report.experiment
    declared = report.declared
    if serve in (None, "winner"):
        if declared is None:
            raise Conflict(f"serve: no winner was declared; choose {_choices_text(report)}")
        return declared
    if serve == "leader":
        if report.leader is None:
            raise Conflict("serve: no leader yet (the learner has not run); choose control or a variant id")
        return report.leader
    if serve == "control":
        return experiment.definition.control.variant_id
    if serve in experiment.variant_ids:
        return VariantId(serve)
    raise InvalidInput(
        f"serve: expected {', '.join(FINISH_CHOICES)} or one of the variants "
        f"{', '.join(experiment.variant_ids)}, got {serve!r}"
    )


def leader_report(report: ExperimentReport) -> VariantReport | None:
    """The figures of the current leader (highest P(best)), None before the learner has run."""
    return next((v for v in report.variants if v.variant_id == report.leader), None)


def metric_rate(report: ExperimentReport, variant: VariantReport) -> float:
    """The variant's rate in the experiment's metric (unique clicks or opens per send), 0 without sends."""
    engaged = metric_events(variant, report.experiment.definition.metric)
    return engaged / variant.sends if variant.sends else 0.0


_OptionKind = Literal["winner", "leader", "control", "variant"]


@dataclass(frozen=True, slots=True)
class FinishOption:
    """One thing a finished experiment may serve, as the finish confirmation offers it.

    `value` is what `change_status(serve=…)` takes; `variant` its figures (what every recipient gets is
    `variant.variant_id`'s wording); `rate` the metric rate; `kind` says why it is offered.
    """

    value: str
    kind: _OptionKind
    variant: VariantReport
    rate: float


def finish_options(report: ExperimentReport) -> tuple[FinishOption, ...]:
    """What finishing may serve: the declared winner, the leader (when it is not the winner), the
    control, then every other variant; each variant once, with its figures."""
    by_id = {v.variant_id: v for v in report.variants}
    control = report.experiment.definition.control.variant_id
    firsts: list[tuple[str, _OptionKind, VariantId]] = []
    if report.declared is not None:
        firsts.append(("winner", "winner", report.declared))
    if report.leader is not None and report.leader != report.declared:
        firsts.append(("leader", "leader", report.leader))
    if control not in (report.declared, report.leader):
        firsts.append(("control", "control", control))
    offered = {variant_id for _, _, variant_id in firsts}
    rest: list[tuple[str, _OptionKind, VariantId]] = [
        (v, "variant", v) for v in report.experiment.variant_ids if v not in offered
    ]
    return tuple(
        FinishOption(value, kind, by_id[v], metric_rate(report, by_id[v]))
        for value, kind, v in (*firsts, *rest)
    )


def _choices_text(report: ExperimentReport) -> str:
    leader = leader_report(report)
    choices = []
    if leader is not None:
        metric = report.experiment.definition.metric
        engaged = metric_events(leader, metric)
        choices.append(
            f"leader ({leader.variant_id}: P(best) {leader.p_best * 100:.1f} %, {metric} rate "
            f"{metric_rate(report, leader) * 100:.2f} %, {engaged} {metric}s of {leader.sends} sends)"
        )
    choices += ["control", "or a variant id"]
    return ", ".join(choices)


def _report_in(conn: Connection, experiment: Experiment) -> ExperimentReport:
    counts = cohort_counts(conn, experiment.experiment_id)
    allocation = repo.latest_allocations(conn, [experiment.experiment_id]).get(experiment.experiment_id)
    sources = load_source_breakdown(conn, experiment)
    breaches = tuple(breaches_of(conn, experiment.experiment_id))
    return replace(build_report(experiment, counts, allocation), sources=sources, breaches=breaches)


def experiment_report(
    store: Store, experiment_id: str, tenant_id: TenantId | None = None
) -> ExperimentReport:
    """Per-variant sends, unique clicks and opens (per recipient and dispatch), weight and P(best)."""
    with store.read() as conn:
        experiment = repo.load_experiment(conn, experiment_id)
        if experiment is None or (tenant_id is not None and experiment.tenant_id != tenant_id):
            raise NotFound(f"experiment: no experiment '{experiment_id}'")
        return _report_in(conn, experiment)


def build_report(
    experiment: Experiment, counts: Sequence[CohortCount], allocation: StoredAllocation | None
) -> ExperimentReport:
    """The per-variant totals of an experiment's cohorts, with the weights and P(best) of `allocation`
    (an even split when the learner has not run)."""
    allocation = allocation or even_allocation(experiment, experiment.created_at)
    totals: dict[VariantId, dict[str, int]] = {v: {} for v in experiment.variant_ids}
    for cohort in counts:
        bucket = totals.setdefault(cohort.variant_id, {})
        bucket["sends"] = bucket.get("sends", 0) + cohort.sends
        for kind, n in cohort.engagements.items():
            bucket[kind] = bucket.get(kind, 0) + n
    reports = tuple(
        VariantReport(
            variant_id=v.variant_id,
            is_control=v.is_control,
            sends=totals[v.variant_id].get("sends", 0),
            clicks=totals[v.variant_id].get("click", 0),
            opens=totals[v.variant_id].get("open", 0),
            bot_clicks=totals[v.variant_id].get("bot_click", 0),
            machine_opens=totals[v.variant_id].get("machine_open", 0),
            delivered=totals[v.variant_id].get("delivery", 0),
            bounced=totals[v.variant_id].get("bounce", 0),
            unsubscribed=totals[v.variant_id].get("unsubscribe", 0),
            spam=totals[v.variant_id].get("spam", 0),
            weight=float(allocation.weights.get(v.variant_id, 0.0)),
            p_best=float(allocation.p_best.get(v.variant_id, 0.0)),
            cta_clicks=totals[v.variant_id].get("cta_click", 0),
            added_at=v.added_at,
            retired_at=v.retired_at,
            retired_by=v.retired_by,
        )
        for v in experiment.definition.variants
    )
    leader = max(reports, key=lambda r: r.p_best).variant_id if allocation.reason != "initial" else None
    checks = checks_from_json(allocation.health) if allocation.health else ()
    return ExperimentReport(
        experiment, reports, allocation.computed_at, leader, allocation.winner, health=checks
    )


def even_allocation(experiment: Experiment, now: float) -> StoredAllocation:
    """The allocation an experiment starts with, as the engine's warm-up allocates: the control's holdout
    first, the rest in equal shares over the live variants (retired ones get nothing); P(best) equal."""
    ids = experiment.active_variant_ids
    definition = experiment.definition
    shares = apply_floor_and_holdout(
        even_shares(len(ids)),
        floor=definition.floor,
        control=ids.index(definition.control.variant_id),
        holdout=definition.control_holdout,
    )
    retired = dict.fromkeys((v for v in experiment.variant_ids if v not in ids), 0.0)
    weights = dict(zip(ids, (float(w) for w in shares), strict=True)) | retired
    p_best = dict.fromkeys(ids, 1.0 / len(ids)) | retired
    return StoredAllocation(experiment.experiment_id, now, weights, p_best, None, "initial")
