"""A segmented experiment filled directly through the storage layer with counts known by hand: assignments
with their segment and propensity, engagements, and an allocation with per-segment parts, for the tests
of the segment figures, the reports and the decisions export."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from copyloom.domain.events import EngagementKind
from copyloom.domain.values import ContextField, ExperimentId, VariantId
from copyloom.services import experiments as experiment_service
from copyloom.services import tenants as tenant_service
from copyloom.storage.assignments import insert_engagement
from copyloom.storage.db import Store
from copyloom.storage.experiments import StoredAllocation, StoredSegment, insert_allocation
from copyloom.storage.tables import assignments
from tests.helpers import Workspace, make_definition

CONTEXT = (
    ContextField("country", "${country}", ("GB", "DE")),
    ContextField("tier", "custom_attribute.${tier}", ("new", "loyal")),
)
GB_NEW = "country=GB|tier=new"
DE_LOYAL = "country=DE|tier=loyal"
SENT_AT = 1_764_400_020.0


@dataclass(frozen=True)
class Planned:
    """`sends` assignments of one variant in one segment, the first `clicks` of them clicked, and so on."""

    segment: str
    variant_id: str
    sends: int
    clicks: int
    propensity: float | None
    bot_clicks: int = 0
    machine_opens: int = 0
    opens: int = 0


# GB_NEW: control 8 / 400 (2 %), v1 24 / 400 (6 %), v2 4 / 200 (2 %): v1 leads, as it does overall.
# DE_LOYAL: control 15 / 300 (5 %), v1 6 / 300 (2 %): the control leads, against v1 overall.
STANDARD = (
    Planned(GB_NEW, "control", 400, 8, 0.25, bot_clicks=3, machine_opens=2, opens=40),
    Planned(GB_NEW, "v1", 400, 24, 0.5),
    Planned(GB_NEW, "v2", 200, 4, 0.25),
    Planned(DE_LOYAL, "control", 300, 15, 0.6),
    Planned(DE_LOYAL, "v1", 300, 6, None),
)
ALLOCATION_SEGMENTS = {
    GB_NEW: StoredSegment(
        {"control": 0.1, "v1": 0.8, "v2": 0.1}, {"control": 0.05, "v1": 0.9, "v2": 0.05}, "v1"
    ),
    DE_LOYAL: StoredSegment(
        {"control": 0.7, "v1": 0.2, "v2": 0.1}, {"control": 0.8, "v1": 0.15, "v2": 0.05}, None
    ),
}


def segmented_workspace(store: Store, name: str = "acme") -> Workspace:
    """A tenant with a started experiment that declares a country and a tier context."""
    tenant, tokens = tenant_service.create_tenant(store, name, time.time())
    definition = dataclasses.replace(make_definition(), context=CONTEXT)
    experiment_id = experiment_service.create_experiment(store, name, definition, time.time())
    workspace = Workspace(store, tenant, tokens.serving, experiment_id, tokens.management)
    workspace.start()
    return workspace


def insert_planned(workspace: Workspace, plan: tuple[Planned, ...]) -> list[int]:
    """Store the planned assignments in plan order (one second apart) and their engagements; returns the
    assignment ids."""
    ids = []
    with workspace.store.write() as conn:
        for planned in plan:
            for i in range(planned.sends):
                at = SENT_AT + len(ids)
                row = {
                    "tenant_id": workspace.tenant.tenant_id,
                    "experiment_id": workspace.experiment_id,
                    "recipient_key": f"k{len(ids):06d}",
                    "dispatch_id": "d-1",
                    "variant_id": planned.variant_id,
                    "assigned_at": at,
                    "cohort_s": int(at // 60 * 60),
                    "source_id": "camp-1",
                    "segment": planned.segment,
                    "propensity": planned.propensity,
                }
                assignment_id = conn.execute(
                    assignments.insert().values(row).returning(assignments.c.assignment_id)
                ).scalar_one()
                ids.append(assignment_id)
                engaged: dict[EngagementKind, int] = {
                    "click": planned.clicks,
                    "bot_click": planned.bot_clicks,
                    "machine_open": planned.machine_opens,
                    "open": planned.opens,
                }
                for kind, first in engaged.items():
                    if i < first:
                        insert_engagement(conn, assignment_id, kind, at + 600)
    return ids


def store_segment_allocation(
    workspace: Workspace,
    segments: dict[str, StoredSegment] | None = None,
    p_best: dict[str, float] | None = None,
) -> None:
    """An allocation as the learner would store it: overall (v1 leads by default) and per segment."""
    overall = p_best or {"control": 0.2, "v1": 0.7, "v2": 0.1}
    allocation = StoredAllocation(
        ExperimentId(workspace.experiment_id),
        SENT_AT + 7200,
        {VariantId(v): 1 / len(overall) for v in overall},
        {VariantId(v): p for v, p in overall.items()},
        None,
        "thompson",
        segments=ALLOCATION_SEGMENTS if segments is None else segments,
    )
    with workspace.store.write() as conn:
        insert_allocation(conn, allocation)


def filled_segments(store: Store, name: str = "acme") -> Workspace:
    """The standard plan stored and allocated."""
    workspace = segmented_workspace(store, name)
    insert_planned(workspace, STANDARD)
    store_segment_allocation(workspace)
    return workspace
