"""The serving runtime against a real store: repeats from memory, and caches kept fresh in the background."""

from __future__ import annotations

import asyncio
import time

import pytest
import sqlalchemy as sa

from copyloom.domain.values import TokenScope
from copyloom.errors import Forbidden, Unauthorized
from copyloom.services import experiments, tenants
from copyloom.services.serving import ServingRuntime
from copyloom.storage.tables import assignments
from tests.helpers import Workspace


def runtime_for(workspace: Workspace, refresh_s: float = 0.05, recent: int = 1000) -> ServingRuntime:
    return ServingRuntime(
        workspace.store,
        cache_refresh_s=refresh_s,
        group_commit_window_ms=1,
        group_commit_max_batch=64,
        cohort_width_s=60,
        recent_assignments_per_experiment=recent,
        journal_after_ms=1000.0,
        unknown_ids_remembered=1000,
    )


def test_a_repeat_is_answered_from_memory_with_the_committed_answer(workspace: Workspace) -> None:
    async def run() -> tuple[list[str], list[str | None], int]:
        runtime = runtime_for(workspace)
        runtime.start()
        tenant = await runtime.authenticate(workspace.token)
        served = [await runtime.serve(tenant, workspace.experiment_id, "r1", "d") for _ in range(5)]
        await runtime.stop()
        return [s.variant.variant_id for s in served], [s.pixel_token for s in served], runtime.writer.rows

    variants, pixels, committed = asyncio.run(run())

    assert len(set(variants)) == 1
    assert len(set(pixels)) == 1
    assert pixels[0] is not None
    assert committed == 1, "only the first call goes through the group commit"
    with workspace.store.read() as conn:
        stored = conn.execute(sa.select(assignments.c.variant_id)).scalars().all()
    assert stored == variants[:1]


def test_without_the_recent_map_every_call_goes_to_the_store_and_agrees(workspace: Workspace) -> None:
    async def run() -> tuple[set[str], int]:
        runtime = runtime_for(workspace, recent=0)
        runtime.start()
        tenant = await runtime.authenticate(workspace.token)
        served = [await runtime.serve(tenant, workspace.experiment_id, "r1", "d") for _ in range(3)]
        await runtime.stop()
        return {s.variant.variant_id for s in served}, runtime.writer.rows

    variants, committed = asyncio.run(run())

    assert len(variants) == 1
    assert committed == 3


def test_a_status_change_and_a_revoked_token_reach_the_worker_within_the_refresh(
    workspace: Workspace,
) -> None:
    async def run() -> tuple[str | None, bool]:
        runtime = runtime_for(workspace, refresh_s=0.05)
        runtime.start()
        tenant = await runtime.authenticate(workspace.token)
        await runtime.serve(tenant, workspace.experiment_id, "r1", "d")
        experiments.change_status(workspace.store, workspace.experiment_id, "pause", time.time())
        tenants.revoke_tokens(workspace.store, workspace.tenant.name, time.time())
        await asyncio.sleep(0.5)
        paused = await runtime.serve(tenant, workspace.experiment_id, "r1", "d")
        try:
            await runtime.authenticate(workspace.token)
            revoked = False
        except Unauthorized:
            revoked = True
        await runtime.stop()
        return paused.pixel_token, revoked

    pixel_token, revoked = asyncio.run(run())

    assert pixel_token is None, "a paused experiment serves the control without an assignment"
    assert revoked


@pytest.mark.parametrize("token", ["", "cl_unknown"])
def test_a_missing_or_unknown_token_is_refused(workspace: Workspace, token: str) -> None:
    async def run() -> None:
        runtime = runtime_for(workspace)
        try:
            await runtime.authenticate(token)
        finally:
            await runtime.stop()

    with pytest.raises(Unauthorized):
        asyncio.run(run())


def test_a_token_of_the_other_scope_is_forbidden_from_memory(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def run() -> list[str]:
        runtime = runtime_for(workspace)
        refused = []
        try:
            await runtime.authenticate(workspace.token, "serving")
            await runtime.authenticate(workspace.management_token, "management")
            monkeypatch.setattr(tenants, "credential_of", _no_store_read)
            crossed: list[tuple[str, TokenScope]] = [
                (workspace.token, "management"),
                (workspace.management_token, "serving"),
            ]
            for token, scope in crossed:
                try:
                    await runtime.authenticate(token, scope)
                except Forbidden as exc:
                    refused.append(exc.message)
        finally:
            await runtime.stop()
        return refused

    refused = asyncio.run(run())

    assert len(refused) == 2
    assert "takes the tenant's management token" in refused[0]
    assert "takes the tenant's serving token" in refused[1]


def _no_store_read(*_args: object) -> None:
    raise AssertionError("a cached token's scope is checked in memory")
