"""Sticky assignment: deterministic choice, batch get-or-create, and group commit."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from copyloom.domain.values import RecipientKey, TenantId
from copyloom.services.assignment import (
    AssignmentRequest,
    GroupCommitWriter,
    assign_batch,
    choose_variant,
    cohort_start,
    propensity_of,
)
from copyloom.services.experiments import get_experiment
from copyloom.storage.assignments import RECIPIENTS_SQL_PG
from copyloom.storage.db import Store
from copyloom.storage.tables import assignments
from tests.helpers import Workspace, make_workspace


def test_choice_follows_the_weights() -> None:
    picks = Counter(
        choose_variant(["a", "b", "c"], [0.7, 0.2, 0.1], "ex_1", f"recipient-{i}") for i in range(20_000)
    )

    assert picks["a"] / 20_000 == pytest.approx(0.7, abs=0.015)
    assert picks["b"] / 20_000 == pytest.approx(0.2, abs=0.015)
    assert picks["c"] / 20_000 == pytest.approx(0.1, abs=0.015)


def test_choice_is_deterministic_and_never_picks_a_zero_weight() -> None:
    first = [choose_variant(["a", "b"], [0.0, 1.0], "ex", f"r{i}") for i in range(500)]

    assert first == [choose_variant(["a", "b"], [0.0, 1.0], "ex", f"r{i}") for i in range(500)]
    assert set(first) == {"b"}


def test_cohort_start_buckets_send_times() -> None:
    assert cohort_start(1_764_338_459.9, 60) == 1_764_338_400
    assert cohort_start(1_764_338_460.0, 60) == 1_764_338_460


def request(
    workspace: Workspace, recipient: str, dispatch: str, proposed: str, at: float = 1000.0
) -> AssignmentRequest:
    experiment = get_experiment(workspace.store, workspace.experiment_id)
    return AssignmentRequest(
        TenantId(workspace.tenant.tenant_id), experiment, RecipientKey(recipient), dispatch, proposed, at
    )


def test_batch_creates_once_and_then_returns_the_stored_row(workspace: Workspace) -> None:
    first = assign_batch(workspace.store, [request(workspace, "r1", "d1", "v1")], 60)
    again = assign_batch(workspace.store, [request(workspace, "r1", "d1", "v2")], 60)

    assert first[0].variant_id == again[0].variant_id == "v1"
    assert first[0].assignment_id == again[0].assignment_id


def test_duplicates_inside_one_batch_share_one_row(workspace: Workspace) -> None:
    rows = assign_batch(
        workspace.store,
        [
            request(workspace, "r1", "d1", "v1"),
            request(workspace, "r1", "d1", "v2"),
            request(workspace, "r2", "d1", "v2"),
        ],
        60,
    )

    assert [r.variant_id for r in rows] == ["v1", "v1", "v2"]
    assert rows[0].assignment_id == rows[1].assignment_id


def test_a_batch_larger_than_one_statement_is_stored_and_read_back_whole(workspace: Workspace) -> None:
    # 1,200 rows span three multi-row statements of 500; the second batch mixes 1,200 known rows
    # (answered with what is stored, whatever is proposed now) with 300 new ones.
    first = assign_batch(workspace.store, [request(workspace, f"r{i}", "d1", "v1") for i in range(1200)], 60)
    again = assign_batch(workspace.store, [request(workspace, f"r{i}", "d1", "v2") for i in range(1500)], 60)

    assert len({row.assignment_id for row in first}) == 1200
    assert [row.assignment_id for row in again[:1200]] == [row.assignment_id for row in first]
    assert Counter(row.variant_id for row in again) == {"v1": 1200, "v2": 300}
    with workspace.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(assignments)).scalar_one() == 1500


def test_per_recipient_stickiness_carries_the_variant_to_a_new_dispatch(workspace: Workspace) -> None:
    assign_batch(workspace.store, [request(workspace, "r1", "d1", "v1")], 60)

    rows = assign_batch(workspace.store, [request(workspace, "r1", "d2", "v2")], 60)

    assert rows[0].variant_id == "v1"
    assert rows[0].dispatch_id == "d2"


def test_per_dispatch_stickiness_follows_the_current_choice(store: Store) -> None:
    triggered = make_workspace(store, "acme", mode="triggered")
    assign_batch(store, [request(triggered, "r1", "d1", "v1")], 60)

    rows = assign_batch(store, [request(triggered, "r1", "d2", "v2")], 60)

    assert rows[0].variant_id == "v2"


def test_group_commit_shares_transactions_and_answers_every_request(workspace: Workspace) -> None:
    async def run() -> tuple[list[str], int]:
        writer = GroupCommitWriter(
            workspace.store, window_ms=5, max_batch=64, cohort_width_s=60, journal_after_ms=1000
        )
        writer.start()
        rows = await asyncio.gather(
            *(writer.submit(request(workspace, f"r{i}", "d", "v1" if i % 2 else "v2")) for i in range(200))
        )
        await writer.stop()
        return [r.variant_id for r in rows], writer.batches

    variant_ids, batches = asyncio.run(run())

    assert variant_ids == ["v1" if i % 2 else "v2" for i in range(200)]
    assert batches < 50, "200 concurrent requests should share a handful of transactions"
    with workspace.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(assignments)).scalar() == 200


def test_group_commit_waits_the_window_unless_a_large_batch_is_coming_back(workspace: Workspace) -> None:
    """Requests wait up to the window to share a transaction; after a large batch, only until as many
    are queued again (closed-loop clients sending again once answered)."""

    async def run() -> tuple[float, float, float, int]:
        loop = asyncio.get_running_loop()
        writer = GroupCommitWriter(
            workspace.store, window_ms=1500, max_batch=64, cohort_width_s=60, journal_after_ms=1000
        )
        writer.start()
        started = loop.time()
        await writer.submit(request(workspace, "alone", "d", "v1"))
        alone = loop.time() - started
        started = loop.time()
        await asyncio.gather(*(writer.submit(request(workspace, f"crowd{i}", "d", "v1")) for i in range(8)))
        crowd = loop.time() - started
        started = loop.time()

        async def one_more(i: int) -> None:
            await asyncio.sleep(0.01 * i)
            await writer.submit(request(workspace, f"again{i}", "d", "v1"))

        await asyncio.gather(*(one_more(i) for i in range(8)))
        again = loop.time() - started
        await writer.stop()
        return alone, crowd, again, writer.batches

    alone, crowd, again, batches = asyncio.run(run())

    assert alone >= 1.5, "a lone request waits the whole window for company"
    assert crowd >= 1.5, "after a small batch, the whole window too"
    assert again < 0.75, "after a batch of 8, only until 8 are queued again"
    assert batches == 3


def test_a_request_past_its_deadline_times_out_alone_and_is_not_committed(workspace: Workspace) -> None:
    """The group commit enforces each request's deadline (the content budget) with one timer."""

    async def run() -> tuple[float, bool, str, int]:
        loop = asyncio.get_running_loop()
        writer = GroupCommitWriter(
            workspace.store, window_ms=1000, max_batch=64, cohort_width_s=60, journal_after_ms=1000
        )
        writer.start()
        started = loop.time()
        late = asyncio.ensure_future(writer.submit(request(workspace, "late", "d", "v1"), started + 0.2))
        patient = asyncio.ensure_future(writer.submit(request(workspace, "patient", "d", "v2"), started + 30))
        undated = asyncio.ensure_future(writer.submit(request(workspace, "undated", "d", "v1")))
        with pytest.raises(TimeoutError):
            await late
        timed_out_after = loop.time() - started
        answered = await patient
        await undated
        await writer.stop()
        return timed_out_after, late.done(), answered.variant_id, writer.rows

    timed_out_after, late_done, patient_variant, rows = asyncio.run(run())

    assert 0.2 <= timed_out_after < 0.9, "the window (1 s) is still running: only the deadline ended it"
    assert late_done
    assert patient_variant == "v2"
    assert rows == 2, "the request that timed out is left out of the batch"
    with workspace.store.read() as conn:
        stored = conn.execute(sa.select(assignments.c.recipient_key)).scalars().all()
    assert sorted(stored) == ["patient", "undated"]


@pytest.mark.postgres
def test_two_batches_of_the_same_recipients_in_opposite_orders_never_deadlock(workspace: Workspace) -> None:
    """Braze renders one email's HTML, text and AMP at once, so two workers' batches can hold the same new
    recipients in opposite orders. A third transaction holding "k1" makes both batches wait; when it
    rolls back, inserting in arrival order let each batch take one key and wait for the other's
    (PostgreSQL: "deadlock detected" about half the time). Batches insert in key order instead."""
    if workspace.store.is_sqlite:
        pytest.skip("SQLite has one writer at a time: no row locks to wait for")
    for attempt in range(6):
        keys = [f"k1-{attempt}", f"k2-{attempt}"]
        holder = workspace.store.engine.connect()
        holder.exec_driver_sql(
            "INSERT INTO assignments (tenant_id, experiment_id, recipient_key, dispatch_id, variant_id, "
            "assigned_at, cohort_s) VALUES (%s, %s, %s, 'd', 'v1', 0, 0)",
            (workspace.tenant.tenant_id, workspace.experiment_id, keys[0]),
        )
        with ThreadPoolExecutor(2) as pool:
            batches = [
                pool.submit(
                    assign_batch, workspace.store, [request(workspace, k, "d", "v2") for k in order], 60
                )
                for order in (keys, keys[::-1])
            ]
            time.sleep(0.3)  # both batches are now waiting for the holder
            holder.rollback()
            holder.close()
            first, second = (batch.result(timeout=30) for batch in batches)

        assert sorted(row.assignment_id for row in first) == sorted(row.assignment_id for row in second)


def fill_with_assignments(workspace: Workspace) -> None:
    """20,000 assignments in the workspace's experiment, written by PostgreSQL itself."""
    with workspace.store.write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO assignments (tenant_id, experiment_id, recipient_key, dispatch_id, variant_id, "
            "assigned_at, cohort_s) SELECT %s, %s, md5(i::text), 'd', 'v1', 0, 0 "
            "FROM generate_series(1, 20000) AS i",
            (workspace.tenant.tenant_id, workspace.experiment_id),
        )


@pytest.mark.postgres
def test_the_batch_look_up_probes_the_index_even_when_statistics_predate_the_experiment(
    workspace: Workspace,
) -> None:
    """PostgreSQL, statistics taken before a send: the new experiment looks rare to the planner, which
    then preferred walking all its assignments; the look-up must stay one index probe per recipient."""
    store = workspace.store
    if store.is_sqlite:
        pytest.skip("a PostgreSQL planner question")
    fill_with_assignments(workspace)
    with store.write() as conn:
        conn.exec_driver_sql("ANALYZE assignments")
    newer = make_workspace(store, "globex")  # started after the statistics were taken
    fill_with_assignments(newer)
    with store.write() as conn:
        keys = [f"{i:064x}" for i in range(26)]
        (plan,) = conn.exec_driver_sql(
            "EXPLAIN (FORMAT JSON) " + RECIPIENTS_SQL_PG, (keys, newer.experiment_id)
        ).scalar_one()

    text = json.dumps(plan)
    assert plan["Plan"]["Node Type"] == "Nested Loop"
    assert "uq_assignments_send" in text
    assert "recipient_key" in text.split("uq_assignments_send", 1)[1], "probed by recipient too"
    assert "Seq Scan on assignments" not in text


def test_a_row_the_store_refuses_fails_alone_and_the_rest_of_its_batch_is_stored(
    workspace: Workspace,
) -> None:
    """A poison row that got past validation (built directly here: a lone surrogate, which neither
    store can encode, and a NUL, which PostgreSQL refuses in text) fails its own request only."""
    poison = {13: "d\ud800", 101: "a\x00b"}
    refused_by_store = {13} if workspace.store.is_sqlite else {13, 101}

    async def run() -> tuple[list[object], int]:
        writer = GroupCommitWriter(
            workspace.store, window_ms=20, max_batch=256, cohort_width_s=60, journal_after_ms=5000
        )
        writer.start()
        answers = await asyncio.gather(
            *(writer.submit(request(workspace, f"r{i}", poison.get(i, "d"), "v1")) for i in range(160)),
            return_exceptions=True,
        )
        await writer.stop()
        return answers, writer.rows_refused

    answers, refused = asyncio.run(run())

    failed = {i for i, answer in enumerate(answers) if isinstance(answer, BaseException)}
    assert failed == refused_by_store
    assert refused == len(refused_by_store)
    with workspace.store.read() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(assignments)).scalar()
    assert stored == 160 - len(refused_by_store)


def test_each_assignment_stores_its_segment_and_the_probability_of_its_variant(workspace: Workspace) -> None:
    experiment = get_experiment(workspace.store, workspace.experiment_id)
    tenant = TenantId(workspace.tenant.tenant_id)

    def segmented(recipient: str, dispatch: str, proposed: str, propensity: float) -> AssignmentRequest:
        return AssignmentRequest(
            tenant,
            experiment,
            RecipientKey(recipient),
            dispatch,
            proposed,
            1000.0,
            "",
            "tier=loyal",
            propensity,
        )

    [first] = assign_batch(workspace.store, [segmented("r1", "d1", "v1", 0.6)], 60)
    # Per-recipient stickiness: a new dispatch keeps the first variant, and the probability it was drawn with.
    [later] = assign_batch(workspace.store, [segmented("r1", "d2", "v2", 0.3)], 60)

    assert (first.variant_id, first.propensity) == ("v1", 0.6)
    assert (later.variant_id, later.propensity) == ("v1", 0.6)
    with workspace.store.read() as conn:
        stored = conn.execute(sa.select(assignments.c.segment, assignments.c.propensity)).all()
    assert sorted(stored) == [("tier=loyal", 0.6), ("tier=loyal", 0.6)]


def test_propensity_is_the_variants_share_of_the_weights() -> None:
    assert propensity_of(["a", "b", "c"], [2.0, 1.0, 1.0], "a") == 0.5
    assert propensity_of(["a", "b"], [0.0, 0.0], "a") == 0.0
