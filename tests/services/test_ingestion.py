"""Ingesting Currents files from a folder: attribution, exactly once, quarantine, status, no PII."""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from copyloom.domain.pseudonyms import pseudonymise
from copyloom.domain.values import TenantId
from copyloom.ingest import currents_writer as cw
from copyloom.ingest.currents_schemas import EMAIL_EVENT_KINDS
from copyloom.ingest.sources import LocalSource
from copyloom.services import ingestion
from copyloom.services import tenants as tenant_service
from copyloom.services.assignment import AssignmentRequest, assign_batch
from copyloom.services.experiments import experiment_report, get_experiment
from copyloom.storage.db import Store
from copyloom.storage.tables import metadata
from tests.currents_samples import Samples
from tests.helpers import Api, Workspace, make_workspace


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    """A folder laid out like a Currents bucket (apart from the SQLite file in tmp_path)."""
    folder = tmp_path / "bucket"
    folder.mkdir()
    return folder


def assign(workspace: Workspace, users: list[str], dispatch: str = "d-1") -> dict[str, str]:
    """Serve the users (as the content endpoint would) and return user -> variant."""
    experiment = get_experiment(workspace.store, workspace.experiment_id)
    requests = [
        AssignmentRequest(
            TenantId(workspace.tenant.tenant_id),
            experiment,
            pseudonymise(workspace.tenant.pseudonym_key, user),
            dispatch,
            ["control", "v1", "v2"][i % 3],
            1_764_338_400.0 + i,
        )
        for i, user in enumerate(users)
    ]
    rows = assign_batch(workspace.store, requests, 60)
    return {user: row.variant_id for user, row in zip(users, rows, strict=True)}


@pytest.fixture(autouse=True, params=["decoded in process", "decoded by a child process"])
def decoding(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here runs with files decoded in process (small files) and by the decoder process."""
    monkeypatch.setattr(
        sys.modules[__name__], "CHILD_DECODE_MIN_BYTES", 0 if "child" in request.param else 2**62
    )


CHILD_DECODE_MIN_BYTES = ingestion.CHILD_DECODE_MIN_BYTES


def run(workspace: Workspace, folder: Path) -> list[ingestion.FileOutcome]:
    source = LocalSource(folder)
    pending = ingestion.pending_objects(workspace.store, workspace.tenant, source)
    return ingestion.ingest_objects(
        workspace.store,
        workspace.tenant,
        source,
        pending,
        time.time,
        child_decode_min_bytes=CHILD_DECODE_MIN_BYTES,
    )


def per_variant(workspace: Workspace) -> dict[str, dict[str, int]]:
    report = experiment_report(workspace.store, workspace.experiment_id)
    return {
        v.variant_id: {
            "clicks": v.clicks,
            "opens": v.opens,
            "delivered": v.delivered,
            "bounced": v.bounced,
            "unsubscribed": v.unsubscribed,
            "spam": v.spam,
            "bot_clicks": v.bot_clicks,
        }
        for v in report.variants
    }


def test_the_sample_files_ingest_without_error(workspace: Workspace, bucket: Path, samples: Samples) -> None:
    for kind in EMAIL_EVENT_KINDS:
        target = bucket / cw.key_for(kind)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(samples.avro(kind))

    outcomes = run(workspace, bucket)

    assert [o.status for o in outcomes] == ["done"] * 11
    status = ingestion.ingest_status(workspace.store, "acme")
    assert (status.files, status.events, status.duplicates) == (11, 11, 10)  # the samples share one id


def test_clicks_opens_and_outcomes_are_attributed_per_variant(workspace: Workspace, bucket: Path) -> None:
    served = assign(workspace, [f"user-{i}" for i in range(30)])
    cw.write(bucket / cw.key_for("Click"), "Click", [cw.record("Click", u, "d-1") for u in served])
    cw.write(bucket / cw.key_for("Open"), "Open", [cw.record("Open", u, "d-1") for u in list(served)[:9]])
    cw.write(bucket / cw.key_for("Delivery"), "Delivery", [cw.record("Delivery", u, "d-1") for u in served])
    cw.write(bucket / cw.key_for("Bounce"), "Bounce", [cw.record("Bounce", "user-0", "d-1")])
    cw.write(bucket / cw.key_for("Unsubscribe"), "Unsubscribe", [cw.record("Unsubscribe", "user-1", "d-1")])
    cw.write(bucket / cw.key_for("MarkAsSpam"), "MarkAsSpam", [cw.record("MarkAsSpam", "user-2", "d-1")])

    run(workspace, bucket)

    counts = per_variant(workspace)
    assert {v: c["clicks"] for v, c in counts.items()} == {"control": 10, "v1": 10, "v2": 10}
    assert {v: c["opens"] for v, c in counts.items()} == {"control": 3, "v1": 3, "v2": 3}
    assert {v: c["delivered"] for v, c in counts.items()} == {"control": 10, "v1": 10, "v2": 10}
    assert (counts["control"]["bounced"], counts["v1"]["unsubscribed"], counts["v2"]["spam"]) == (1, 1, 1)


def test_every_event_duplicated_across_two_files_counts_once(workspace: Workspace, bucket: Path) -> None:
    served = assign(workspace, [f"user-{i}" for i in range(12)])
    clicks = [cw.record("Click", u, "d-1") for u in served]
    cw.write(bucket / cw.key_for("Click", offset=1), "Click", clicks)
    cw.write(bucket / cw.key_for("Click", offset=2), "Click", list(reversed(clicks)))

    outcomes = run(workspace, bucket)

    assert [(o.tally.accepted, o.tally.duplicate) for o in outcomes] == [(12, 0), (0, 12)]
    assert sum(c["clicks"] for c in per_variant(workspace).values()) == 12


def test_a_re_listed_file_is_skipped(workspace: Workspace, bucket: Path) -> None:
    served = assign(workspace, ["user-1"])
    cw.write(bucket / cw.key_for("Click"), "Click", [cw.record("Click", u, "d-1") for u in served])

    assert len(run(workspace, bucket)) == 1
    assert run(workspace, bucket) == []


def test_a_corrupt_file_is_quarantined_and_the_rest_ingested(workspace: Workspace, bucket: Path) -> None:
    served = assign(workspace, [f"user-{i}" for i in range(6)])
    good = cw.to_bytes("Click", [cw.record("Click", u, "d-1") for u in served])
    (bucket / "a-good.avro").write_bytes(good[: len(good) // 2] + b"\x00" * 10)  # truncated by a crash
    cw.write(bucket / "b-good.avro", "Click", [cw.record("Click", u, "d-1") for u in served][:3])
    (bucket / "c-notes.txt").write_text("not an avro file")

    outcomes = {o.key: o for o in run(workspace, bucket)}

    assert {k: o.status for k, o in outcomes.items()} == {
        "a-good.avro": "quarantined",
        "b-good.avro": "done",
        "c-notes.txt": "quarantined",
    }
    assert "cannot read header" in (outcomes["c-notes.txt"].reason or "")
    status = ingestion.ingest_status(workspace.store, "acme")
    assert {q.key for q in status.quarantined} == {"a-good.avro", "c-notes.txt"}
    assert sum(c["clicks"] for c in per_variant(workspace).values()) == 3
    assert run(workspace, bucket) == [], "quarantined files wait for an explicit retry"


def test_retry_reads_a_repaired_file_again(workspace: Workspace, bucket: Path) -> None:
    served = assign(workspace, ["user-1", "user-2"])
    (bucket / "late.avro").write_bytes(b"partial upload")
    run(workspace, bucket)
    cw.write(bucket / "late.avro", "Click", [cw.record("Click", u, "d-1") for u in served])

    ingestion.retry_quarantined(workspace.store, "acme", "late.avro")
    outcomes = run(workspace, bucket)

    assert [(o.key, o.status, o.tally.accepted) for o in outcomes] == [("late.avro", "done", 2)]
    assert ingestion.ingest_status(workspace.store, "acme").quarantined == ()


def test_status_reports_counts_and_the_newest_event_time(workspace: Workspace, bucket: Path) -> None:
    assign(workspace, ["user-1"])
    rows = [cw.record("Click", "user-1", "d-1", time_s=1_764_340_000), cw.record("Click", "stranger", "d-1")]
    cw.write(bucket / cw.key_for("Click"), "Click", rows)
    cw.write(bucket / cw.key_for("Retry"), "Retry", [cw.record("Retry", "user-1", "d-1")])

    run(workspace, bucket)
    status = ingestion.ingest_status(workspace.store, "acme")

    assert (status.files, status.events, status.accepted, status.ignored, status.unattributed) == (
        2,
        3,
        1,
        1,
        1,
    )
    assert status.newest_event_s == 1_764_340_000


def test_personal_data_in_files_is_never_stored(
    workspace: Workspace, bucket: Path, database_url: str
) -> None:
    users = [f"braze-id-{i:04d}-secret" for i in range(5)]
    assign(workspace, users)
    pii = {
        "email_address": "grace.hopper@navy.example",
        "user_agent": "Mozilla/5.0 (PII-Agent)",
        "url": "https://shop.example/?email=grace.hopper%40navy.example",
        "timezone": "Asia/Kathmandu",
        "external_user_id": "crm-99-secret",
        "ip_pool": "pool-secret",
    }
    cw.write(bucket / cw.key_for("Click"), "Click", [cw.record("Click", u, "d-1", **pii) for u in users])
    send_pii = {"email_address": pii["email_address"], "message_extras": '{"coupon": "SECRET-COUPON"}'}
    cw.write(bucket / cw.key_for("Send"), "Send", [cw.record("Send", u, "d-1", **send_pii) for u in users])
    bounce_pii = {"email_address": pii["email_address"], "bounce_reason": "550 grace.hopper unknown"}
    cw.write(
        bucket / cw.key_for("Bounce"),
        "Bounce",
        [cw.record("Bounce", u, "d-1", **bounce_pii) for u in users],
    )

    run(workspace, bucket)

    stored = _all_text(workspace.store, database_url)
    forbidden = [*users, *pii.values(), "SECRET-COUPON", "550 grace.hopper unknown"]
    assert [value for value in forbidden if value.encode() in stored] == []
    assert sum(c["clicks"] for c in per_variant(workspace).values()) == 5


def _all_text(store: Store, database_url: str) -> bytes:
    if store.is_sqlite:
        path = Path(database_url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    with store.read() as conn:
        return repr([conn.execute(sa.select(t)).all() for t in metadata.sorted_tables]).encode()


@pytest.mark.postgres
def test_two_workers_on_one_source_split_the_files_and_never_double_count(
    store: Store, workspace: Workspace, bucket: Path
) -> None:
    if store.is_sqlite:
        pytest.skip("two concurrent ingest workers are a PostgreSQL deployment; SQLite runs one writer")
    users = [f"user-{i}" for i in range(300)]
    assign(workspace, users)
    for n in range(30):
        rows = [cw.record("Click", u, "d-1") for u in users[n * 10 : n * 10 + 10]]
        cw.write(bucket / f"f{n:03d}.avro", "Click", rows)
    results: list[list[ingestion.FileOutcome]] = []

    def worker() -> None:
        results.append(run(workspace, bucket))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    done = [o.key for outcomes in results for o in outcomes if o.status == "done"]
    assert sorted(done) == [f"f{n:03d}.avro" for n in range(30)]
    assert sum(c["clicks"] for c in per_variant(workspace).values()) == 300
    assert ingestion.ingest_status(workspace.store, "acme").events == 300


def test_worker_polls_every_tenants_stored_source(store: Store, bucket: Path, tmp_path: Path) -> None:
    acme = make_workspace(store, "acme")
    globex = make_workspace(store, "globex")
    assign(acme, ["user-1"])
    assign(globex, ["user-1"])
    cw.write(bucket / cw.key_for("Click"), "Click", [cw.record("Click", "user-1", "d-1")])
    ingestion.set_source(store, "acme", str(bucket), None, time.time())
    ingestion.set_source(store, "globex", str(tmp_path / "missing-folder"), None, time.time())

    done = ingestion.poll_sources(store, time.time)

    assert done == {"acme": 1, "globex": -1}, "a broken source is reported and never stops the others"
    assert sum(c["clicks"] for c in per_variant(acme).values()) == 1


def test_ids_hashed_by_braze_still_join_when_the_tenant_says_so(
    api: Api, workspace: Workspace, bucket: Path
) -> None:
    tenant = tenant_service.set_id_transform(workspace.store, "acme", "sha256")
    time.sleep(0.1)  # the API re-reads tokens and tenants every 0.05 s in the test settings
    served = api.content(
        workspace.token, workspace.experiment_id, recipient="raw-braze-id", dispatch="d-1"
    ).json()
    hashed_by_braze = hashlib.sha256(b"raw-braze-id").hexdigest()  # Braze's "Hash" field transformation
    cw.write(bucket / cw.key_for("Click"), "Click", [cw.record("Click", hashed_by_braze, "d-1")])

    source = LocalSource(bucket)
    ingestion.ingest_objects(
        workspace.store, tenant, source, ingestion.pending_objects(workspace.store, tenant, source), time.time
    )

    assert per_variant(workspace)[served["variant_id"]]["clicks"] == 1


def test_currents_files_carry_bot_click_reasons_and_braze_test_sends_are_ignored(
    workspace: Workspace, bucket: Path
) -> None:
    served = assign(workspace, [f"user-{i}" for i in range(6)])
    clicks = [
        cw.record("Click", u, "d-1", is_suspected_bot_click=None, suspected_bot_click_reason=["prefetch"])
        for u in list(served)[:3]
    ] + [
        cw.record("Click", u, "dispatch_id_for_unsent_campaign", is_suspected_bot_click=None) for u in served
    ]
    cw.write(bucket / cw.key_for("Click"), "Click", clicks)

    (outcome,) = run(workspace, bucket)

    assert outcome.status == "done"
    counts = per_variant(workspace)
    assert sum(c["clicks"] for c in counts.values()) == 0
    assert sum(c["bot_clicks"] for c in counts.values()) == 3
    status = ingestion.ingest_status(workspace.store, "acme")
    assert (status.events, status.ignored) == (9, 6)
