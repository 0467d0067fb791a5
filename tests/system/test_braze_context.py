"""Segments end to end: a definition with `country` (a closed list) and `tier` (a custom attribute); its
snippet carries both in the URL and renders through the Braze stand-in against the real server; only
segments are stored, never the raw values; and after events show different winners per segment, the real
learner gives each segment its own weights, which the server then serves, each assignment storing the
probability its variant was drawn with."""

from __future__ import annotations

import csv
import io
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from copyloom.domain.values import ExperimentId, RecipientKey, TenantId
from copyloom.services.decisions import decision_chunks, write_csv, write_parquet
from copyloom.services.learning import learn_experiment
from copyloom.storage import experiments as experiment_repo
from copyloom.storage.assignments import NewAssignment, insert_assignments, insert_engagement
from copyloom.storage.experiments import StoredAllocation
from copyloom.storage.tables import assignments, metadata
from tests.braze_liquid import render_field
from tests.helpers import Workspace, make_workspace
from tests.system.test_braze_snippets import Server, printed_snippets, server  # noqa: F401

CONTEXT = [
    {"name": "country", "braze": "${country}", "categories": ["GB", "DE", "FR"]},
    {"name": "tier", "braze": "custom_attribute.${tier}", "categories": ["new", "regular", "loyal"]},
]
RAW_VALUES = ("Brazil", "vip-gold-2291")
"""Values outside the declared lists that Braze sends: they must be nowhere in the store."""
LOYAL_GB, NEW_DE = "country=GB|tier=loyal", "country=DE|tier=new"


def _subject(running: Server, workspace: Workspace) -> str:
    snippets = printed_snippets(running, workspace.experiment_id, "--token", workspace.token)
    return next(s["liquid"] for s in snippets if s["field"] == "subject")


def _render(subject: str, braze_id: str, dispatch: str = "d-1", **profile: object) -> dict[str, list[str]]:
    """Render the subject for one recipient with this profile; the call's query parameters."""
    rendering = render_field(
        subject, braze_id=braze_id, user_id=f"crm-{braze_id}", dispatch_id=dispatch, attributes=profile
    )
    [call] = rendering.calls
    assert call.status == 200
    return urllib.parse.parse_qs(urllib.parse.urlsplit(call.url).query, keep_blank_values=True)


def _stored(running: Server) -> list[tuple[str, float | None]]:
    with running.store.read() as conn:
        query = sa.select(assignments.c.segment, assignments.c.propensity).order_by(
            assignments.c.assignment_id
        )
        return [(s, p) for s, p in conn.execute(query)]


def test_the_snippet_sends_the_context_and_only_segments_are_stored(server: Server) -> None:  # noqa: F811
    workspace = make_workspace(server.store, "acme", context=CONTEXT)
    subject = _subject(server, workspace)

    query = _render(subject, "b-1", country="gb", custom_attribute={"tier": "loyal"})
    assert (query["ctx_country"], query["ctx_tier"]) == (["gb"], ["loyal"])
    _render(subject, "b-2", country=RAW_VALUES[0], custom_attribute={"tier": RAW_VALUES[1]})
    _render(subject, "b-3")  # no country, no tier on the profile: Braze renders them blank

    stored = _stored(server)
    assert [s for s, _ in stored] == [LOYAL_GB, "country=other|tier=other", "country=unknown|tier=unknown"]
    assert [p for _, p in stored] == [1 / 3] * 3  # before the learner's first look: an even split
    _assert_nowhere_in_the_store(server, RAW_VALUES)


def _assert_nowhere_in_the_store(running: Server, values: tuple[str, ...]) -> None:
    """Scan every text column of every table for the raw values."""
    found = []
    with running.store.read() as conn:
        for table in metadata.sorted_tables:
            for column in table.columns:
                if isinstance(column.type, (sa.String, sa.Text)):
                    for value in conn.execute(sa.select(column).where(column.is_not(None))).scalars():
                        found += [(table.name, column.name) for raw in values if raw in str(value)]
    assert found == []


def _record_evidence(running: Server, workspace: Workspace, now: float) -> None:
    """Three days ago, 600 sends per variant in each of two segments: v1 wins among loyal British
    recipients, v2 among new German ones (20 % against 2 %)."""
    rates = {
        LOYAL_GB: {"control": 0.02, "v1": 0.2, "v2": 0.02},
        NEW_DE: {"control": 0.02, "v1": 0.02, "v2": 0.2},
    }
    sent_at = now - 3 * 86_400
    rows, clicked = [], []
    for segment, by_variant in rates.items():
        for variant, rate in by_variant.items():
            for i in range(600):
                key = RecipientKey(f"{segment}-{variant}-{i}")
                tenant = TenantId(workspace.tenant.tenant_id)
                cohort_s = int(sent_at // 60) * 60
                rows.append(
                    NewAssignment(
                        tenant,
                        workspace.experiment_id,
                        key,
                        "d-0",
                        variant,
                        sent_at,
                        cohort_s,
                        segment=segment,
                        propensity=1 / 3,
                    )
                )
                if i < rate * 600:
                    clicked.append(key)
    with running.store.write() as conn:
        inserted = insert_assignments(conn, rows)
        for stored in inserted:
            if stored.recipient_key in clicked:
                insert_engagement(conn, stored.assignment_id, "click", sent_at + 600)


def test_segments_learn_their_own_winner_and_are_served_their_own_weights(
    server: Server,  # noqa: F811
    tmp_path: Path,
) -> None:
    workspace = make_workspace(server.store, "acme", context=CONTEXT)
    subject = _subject(server, workspace)
    now = time.time()
    _record_evidence(server, workspace, now)
    with server.store.read() as conn:
        [experiment] = experiment_repo.experiments_by_ids(conn, [workspace.experiment_id])

    learn_experiment(server.store, experiment, now, np.random.default_rng(7), 4000)

    with server.store.read() as conn:
        allocation = experiment_repo.latest_allocations(conn, [ExperimentId(workspace.experiment_id)])[
            workspace.experiment_id
        ]
    assert allocation.segments is not None
    loyal_gb, new_de = allocation.segments[LOYAL_GB], allocation.segments[NEW_DE]
    assert max(loyal_gb.weights, key=lambda v: loyal_gb.weights[v]) == "v1"
    assert max(new_de.weights, key=lambda v: new_de.weights[v]) == "v2"
    assert loyal_gb.p_best["v1"] > 0.95
    assert new_de.p_best["v2"] > 0.95

    profiles = {
        LOYAL_GB: {"country": "GB", "custom_attribute": {"tier": "loyal"}},
        NEW_DE: {"country": "de", "custom_attribute": {"tier": "NEW"}},
    }
    assert _render_until_served_from(server, subject, profiles[LOYAL_GB])
    for segment, profile in profiles.items():
        for i in range(8):
            _render(subject, f"{segment}-new-{i}", "d-2", **profile)
    _render(subject, "no-context", "d-2")
    with server.store.read() as conn:
        query = sa.select(assignments.c.segment, assignments.c.variant_id, assignments.c.propensity)
        new_rows = conn.execute(query.where(assignments.c.dispatch_id == "d-2")).all()
    assert len(new_rows) == 17
    for segment, variant, propensity in new_rows:
        # A segment the learner has not seen sends from is served the overall weights.
        weights = (
            allocation.segments[segment].weights if segment in allocation.segments else allocation.weights
        )
        assert propensity == pytest.approx(weights[variant] / sum(weights.values()), rel=1e-12)
    assert {s for s, _, _ in new_rows} == {LOYAL_GB, NEW_DE, "country=unknown|tier=unknown"}
    _assert_exported_propensities_are_the_weights_in_force(server, workspace, allocation, tmp_path)


def _assert_exported_propensities_are_the_weights_in_force(
    running: Server, workspace: Workspace, allocation: StoredAllocation, tmp_path: Path
) -> None:
    """Both export formats give each new render the weight its segment's allocation had for its variant
    when it was drawn (the overall weights for a segment the learner had not seen)."""
    path = tmp_path / "decisions.parquet"
    write_parquet(decision_chunks(running.store, workspace.experiment_id), str(path))
    text = io.StringIO()
    write_csv(decision_chunks(running.store, workspace.experiment_id), text)
    from_csv = [r for r in csv.DictReader(io.StringIO(text.getvalue())) if r["dispatch_id"] == "d-2"]
    from_parquet = [r for r in pq.read_table(path).to_pylist() if r["dispatch_id"] == "d-2"]
    assert len(from_csv) == len(from_parquet) == 17
    for row, typed in zip(from_csv, from_parquet, strict=True):
        found = allocation.segments.get(row["segment"]) if allocation.segments else None
        weights = found.weights if found else allocation.weights
        expected = weights[row["variant_id"]] / sum(weights.values())
        assert float(row["propensity"]) == pytest.approx(expected, rel=1e-9)
        assert typed["propensity"] == pytest.approx(expected, rel=1e-12)
        assert (typed["segment"], typed["variant_id"]) == (row["segment"], row["variant_id"])


def _render_until_served_from(running: Server, subject: str, profile: dict[str, object]) -> bool:
    """Render for new recipients until one is drawn on the learner's weights (the running re-reads them
    every 0.05 s in this fixture): its propensity is no longer the even split's."""
    for i in range(200):
        _render(subject, f"probe-{i}", **profile)
        if _stored(running)[-1][1] != 1 / 3:
            return True
        time.sleep(0.05)
    return False
