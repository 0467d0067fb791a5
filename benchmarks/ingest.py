"""Ingest benchmark: Currents Avro files end to end (parse, scrub, attribute, persist) against a raw read.

    .venv/bin/python benchmarks/ingest.py [--events 200000] [--files 4] [--database-url URL]

Generates click and open events for assigned recipients in real Currents Avro files (Braze's schemas from
the samples), reads them once with fastavro alone (the ceiling), then ingests them through copyloom's
own path into a fresh store, and prints one JSON line. Both figures come from the same run and files,
by wall time and by this process's CPU time (which a busy shared machine disturbs less; it leaves out
waits for the disk, which only the four commits make).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import fastavro

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests.currents_files

from copyloom.domain import parse_experiment_definition, pseudonymise
from copyloom.ingest.sources import LocalSource
from copyloom.services import experiments, ingestion, tenants
from copyloom.services.assignment import AssignmentRequest, assign_batch
from copyloom.storage import migrate
from copyloom.storage.db import Store, open_store
from tests import currents_files as cf

DEFINITION = {
    "name": "bench",
    "variants": [{"id": "a", "control": True, "subject": "A"}, {"id": "b", "subject": "B"}],
}


def prepare(store: Store, users: list[str]) -> object:
    tenant, _ = tenants.create_tenant(store, "bench", time.time())
    experiment_id = experiments.create_experiment(
        store, "bench", parse_experiment_definition(DEFINITION), time.time()
    )
    experiments.change_status(store, experiment_id, "start", time.time())
    experiment = experiments.get_experiment(store, experiment_id)
    for start in range(0, len(users), 10_000):
        requests = [
            AssignmentRequest(
                tenant.tenant_id,
                experiment,
                pseudonymise(tenant.pseudonym_key, u),
                "d-1",
                "ab"[i % 2],
                1e9 + i,
            )
            for i, u in enumerate(users[start : start + 10_000], start=start)
        ]
        assign_batch(store, requests, 60)
    return tenant


def write_files(folder: Path, users: list[str], files: int) -> list[Path]:
    """Clicks for every recipient, opens for half, spread over `files` files (a realistic mix)."""
    paths = []
    per_file = len(users) // files
    for n in range(files):
        chunk = users[n * per_file : (n + 1) * per_file]
        kind = "Click" if n % 2 == 0 else "Open"
        path = folder / cf.key_for(kind, offset=n)
        cf.write(path, kind, [cf.record(kind, u, "d-1") for u in chunk])
        paths.append(path)
    return paths


def raw_read_rate(paths: list[Path]) -> tuple[float, float]:
    """Events per second of wall time and of this process's CPU time for a bare fastavro read."""
    started, started_cpu = time.perf_counter(), time.process_time()
    count = 0
    for path in paths:
        with path.open("rb") as stream:
            count += sum(1 for _ in fastavro.reader(stream))
    return count / (time.perf_counter() - started), count / (time.process_time() - started_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="copyloom-bench-") as folder:
        root = Path(folder)
        users = [f"braze-user-{i:08d}" for i in range(args.events)]
        store = open_store(args.database_url or f"sqlite:///{root / 'bench.db'}")
        migrate.upgrade(store)
        tenant = prepare(store, users)
        paths = write_files(root / "bucket", users, args.files)
        before = raw_read_rate(paths)
        source = LocalSource(root / "bucket")
        started, started_cpu = time.perf_counter(), time.process_time()
        outcomes = ingestion.ingest_objects(
            store,
            tenant,
            source,
            ingestion.pending_objects(store, tenant, source),
            time.time,  # type: ignore[arg-type]
        )
        elapsed, elapsed_cpu = time.perf_counter() - started, time.process_time() - started_cpu
        events = sum(o.tally.received for o in outcomes)
        store.dispose()
        after = raw_read_rate(paths)
    # The ceiling is the faster of two bare reads, one before and one after the ingest: on a shared
    # machine a single read can land in a quiet or a busy moment.
    raw, raw_cpu = max(before[0], after[0]), max(before[1], after[1])
    print(
        json.dumps(
            {
                "benchmark": "ingest",
                "store": "sqlite" if not args.database_url else args.database_url.split(":")[0],
                "events": events,
                "files": len(outcomes),
                "raw_fastavro_events_per_s": round(raw),
                "end_to_end_events_per_s": round(events / elapsed),
                "ratio": round(events / elapsed / raw, 3),
                "raw_fastavro_cpu_events_per_s": round(raw_cpu),
                "end_to_end_cpu_events_per_s": round(events / elapsed_cpu),
                "cpu_ratio": round(events / elapsed_cpu / raw_cpu, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
