"""The decisions export: a row per assignment with its propensity and engagement flags exactly as stored,
in CSV and Parquet, read a chunk at a time; on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from copyloom.errors import NotFound
from copyloom.services import decisions
from copyloom.storage.assignments import insert_engagement
from copyloom.storage.db import Store
from tests.helpers import Workspace, make_workspace
from tests.segment_data import DE_LOYAL, GB_NEW, SENT_AT, Planned, insert_planned, segmented_workspace

PLAN = (
    Planned(GB_NEW, "v1", 3, 2, 0.5, bot_clicks=1, opens=1),
    Planned(DE_LOYAL, "control", 2, 0, 0.6, machine_opens=2),
    Planned(DE_LOYAL, "v1", 2, 1, None),
)


@pytest.fixture
def exported(store: Store) -> Workspace:
    workspace = segmented_workspace(store)
    insert_planned(workspace, PLAN)
    return workspace


def csv_rows(workspace: Workspace, chunk_rows: int = decisions.CHUNK_ROWS) -> list[dict[str, str]]:
    out = io.StringIO()
    chunks = decisions.decision_chunks(workspace.store, workspace.experiment_id, chunk_rows=chunk_rows)
    written = decisions.write_csv(chunks, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert written == len(rows)
    return rows


def test_csv_has_a_row_per_assignment_in_order_with_propensities_as_stored(exported: Workspace) -> None:
    rows = csv_rows(exported)

    assert list(rows[0]) == list(decisions.COLUMNS)
    assert [r["recipient_key"] for r in rows] == [f"k{i:06d}" for i in range(7)]
    assert [(r["segment"], r["variant_id"], r["propensity"]) for r in rows] == [
        *[(GB_NEW, "v1", "0.5")] * 3,
        *[(DE_LOYAL, "control", "0.6")] * 2,
        *[(DE_LOYAL, "v1", "")] * 2,  # made before propensities were stored
    ]
    assert {(r["dispatch_id"], r["source_id"]) for r in rows} == {("d-1", "camp-1")}


def test_flags_are_the_stored_engagements(exported: Workspace) -> None:
    rows = csv_rows(exported)

    flags = [(r["clicked"], r["opened"], r["bot_click"], r["machine_open"]) for r in rows]
    assert flags == [
        ("true", "true", "true", "false"),
        ("true", "false", "false", "false"),
        ("false", "false", "false", "false"),
        ("false", "false", "false", "true"),
        ("false", "false", "false", "true"),
        ("true", "false", "false", "false"),
        ("false", "false", "false", "false"),
    ]


def test_a_pixel_open_counts_as_opened_unless_it_was_a_machine_open(exported: Workspace) -> None:
    with exported.store.write() as conn:
        insert_engagement(conn, 3, "pixel_open", SENT_AT)  # the control's first, a machine open too
        insert_engagement(conn, 7, "pixel_open", SENT_AT)

    rows = csv_rows(exported)

    assert [r["opened"] for r in rows[3:]] == ["false", "false", "false", "true"]


def test_sent_at_is_iso_8601_utc_and_epoch_seconds(exported: Workspace) -> None:
    first, second = csv_rows(exported)[:2]

    assert (first["sent_at"], float(first["sent_at_s"])) == ("2025-11-29T07:07:00.000000Z", SENT_AT)
    assert float(second["sent_at_s"]) == SENT_AT + 1


def test_rows_are_read_in_chunks_and_none_is_lost_or_repeated(exported: Workspace) -> None:
    chunks = list(decisions.decision_chunks(exported.store, exported.experiment_id, chunk_rows=3))

    assert [len(c) for c in chunks] == [3, 3, 1]
    assert csv_rows(exported, chunk_rows=3) == csv_rows(exported)


def test_parquet_has_typed_columns_and_a_row_group_per_chunk(exported: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "decisions.parquet"
    chunks = decisions.decision_chunks(exported.store, exported.experiment_id, chunk_rows=3)

    assert decisions.write_parquet(chunks, str(path)) == 7

    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_row_groups == 3
    table = parquet.read()
    assert table.column_names == list(decisions.COLUMNS)
    assert table.column("propensity").to_pylist() == [0.5] * 3 + [0.6] * 2 + [None] * 2
    assert table.column("clicked").to_pylist() == [True, True, False, False, False, True, False]
    assert table.column("machine_open").to_pylist() == [False] * 3 + [True] * 2 + [False] * 2
    sent_at = table.column("sent_at").to_pylist()
    assert sent_at[0].timestamp() == SENT_AT
    assert str(sent_at[0].tzinfo) == "UTC"
    assert table.column("segment").to_pylist()[3] == DE_LOYAL


def test_an_experiment_without_assignments_exports_only_the_header(store: Store) -> None:
    workspace = make_workspace(store, "acme")
    out = io.StringIO()

    assert decisions.write_csv(decisions.decision_chunks(store, workspace.experiment_id), out) == 0
    assert out.getvalue() == ",".join(decisions.COLUMNS) + "\n"


def test_an_unknown_or_another_tenants_experiment_is_not_found(exported: Workspace, store: Store) -> None:
    other = make_workspace(store, "globex")

    with pytest.raises(NotFound, match="experiment: no experiment 'nope'"):
        decisions.decision_chunks(store, "nope")
    with pytest.raises(NotFound, match="experiment: no experiment"):
        decisions.decision_chunks(store, exported.experiment_id, tenant_id=other.tenant.tenant_id)
