"""Test helpers: a standard experiment definition, a tenant with a started experiment, an HTTP client,
and the child processes of a process."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from copyloom.domain.definition import parse_experiment_definition
from copyloom.domain.values import ExperimentDefinition, ExperimentId, Tenant, VariantId
from copyloom.services import experiments as experiment_service
from copyloom.services import tenants as tenant_service
from copyloom.storage.db import Store
from copyloom.storage.experiments import StoredAllocation, insert_allocation

METRICS_TOKEN = "test-metrics-token"  # the operator's /metrics token in the tests' settings
METRICS_HEADERS = {"Authorization": f"Bearer {METRICS_TOKEN}"}

DEFINITION = {
    "name": "Black Friday subject",
    "mode": "broadcast",
    "metric": "click",
    "variants": [
        {"id": "control", "control": True, "subject": "Our Black Friday sale", "preheader": "Ends Sunday"},
        {"id": "v1", "subject": "Black Friday: 30% off everything", "preheader": "Three days only"},
        {"id": "v2", "subject": "Your Black Friday early access", "preheader": "Members first"},
    ],
}


def make_definition(**changes: object) -> ExperimentDefinition:
    return parse_experiment_definition({**DEFINITION, **changes})


@dataclass
class Workspace:
    """A tenant with its serving token, its management token and one experiment, in a store."""

    store: Store
    tenant: Tenant
    token: str
    experiment_id: ExperimentId
    management_token: str = ""

    def start(self) -> None:
        experiment_service.change_status(self.store, self.experiment_id, "start", time.time())


def make_workspace(store: Store, name: str, *, start: bool = True, **changes: object) -> Workspace:
    tenant, tokens = tenant_service.create_tenant(store, name, time.time())
    experiment_id = experiment_service.create_experiment(store, name, make_definition(**changes), time.time())
    workspace = Workspace(store, tenant, tokens.serving, experiment_id, tokens.management)
    if start:
        workspace.start()
    return workspace


@dataclass
class Api:
    """A real HTTP server on a loopback port, and a client for it."""

    url: str
    client: httpx.Client

    def content(self, token: str, experiment_id: str, **params: str) -> httpx.Response:
        return self.client.get(
            f"/v1/content/{experiment_id}", params=params, headers={"Authorization": f"Bearer {token}"}
        )

    def events(self, token: str, body: object) -> httpx.Response:
        return self.client.post("/v1/events", json=body, headers={"Authorization": f"Bearer {token}"})


def children_of(pid: int) -> set[int]:
    """The pids of a process's children (Linux /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return found


def store_allocation(
    store: Store, experiment_id: str, *, p_best: dict[str, float], winner: str | None = None
) -> None:
    """Store a learner allocation with these P(best) (and even weights), as if the learner had run."""
    weights = {VariantId(v): 1 / len(p_best) for v in p_best}
    allocation = StoredAllocation(
        ExperimentId(experiment_id),
        time.time(),
        weights,
        {VariantId(v): p for v, p in p_best.items()},
        None if winner is None else VariantId(winner),
        "thompson",
    )
    with store.write() as conn:
        insert_allocation(conn, allocation)
