"""An experiment filled through the services with counts known by hand, for the report tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from copyloom.domain.events import EngagementKind
from copyloom.domain.values import RecipientKey
from copyloom.services import experiments as experiment_service
from copyloom.services.assignment import AssignmentRequest, assign_batch
from copyloom.services.learning import learn_once
from copyloom.storage import assignments as assignment_repo
from tests.helpers import Workspace

COHORT_WIDTH_S = 60
FIRST_SEND_AT = 1_764_400_020.0  # the start of a minute: each send lands in one cohort
SECOND_SEND_AT = FIRST_SEND_AT + 3600.0


@dataclass(frozen=True)
class Fill:
    """Per variant: sends in each of two send-time cohorts, and how many of them got each engagement."""

    sends: tuple[int, int]
    engaged: dict[EngagementKind, tuple[int, int]]


# control: 20 clicks / 1,000 sends (2 %); v1: 30 / 1,000 (3 %); v2: 160 / 2,000 (8 %).
STANDARD: dict[str, Fill] = {
    "control": Fill(
        (500, 500),
        {
            "click": (10, 10),
            "open": (150, 150),
            "bot_click": (3, 2),
            "machine_open": (20, 20),
            "delivery": (495, 495),
        },
    ),
    "v1": Fill((500, 500), {"click": (15, 15), "open": (200, 100), "unsubscribe": (1, 0), "spam": (0, 1)}),
    "v2": Fill((1000, 1000), {"click": (60, 100), "open": (400, 400), "bounce": (2, 2)}),
}


def fill(workspace: Workspace, plan: dict[str, Fill]) -> None:
    """Store the planned sends through the assignment service, then their unique engagements."""
    experiment = experiment_service.get_experiment(workspace.store, workspace.experiment_id)
    requests = [
        AssignmentRequest(
            workspace.tenant.tenant_id,
            experiment,
            RecipientKey(f"{variant}-{cohort}-{i}"),
            "dispatch-1",
            variant,
            (FIRST_SEND_AT, SECOND_SEND_AT)[cohort] + i % 30,
        )
        for variant, planned in plan.items()
        for cohort in (0, 1)
        for i in range(planned.sends[cohort])
    ]
    rows = assign_batch(workspace.store, requests, COHORT_WIDTH_S)
    with workspace.store.write() as conn:
        for row in rows:
            variant, cohort, index = row.recipient_key.rsplit("-", 2)
            for kind, counts in plan[variant].engaged.items():
                if int(index) < counts[int(cohort)]:
                    assignment_repo.insert_engagement(conn, row.assignment_id, kind, row.assigned_at + 600)


def learn(workspace: Workspace, now: float, seed: int = 1) -> None:
    outcomes = learn_once(workspace.store, now, np.random.default_rng(seed), samples=4000)
    assert [o.error for o in outcomes] == [None]
