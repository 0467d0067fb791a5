"""Ingest benchmark: Currents Avro files end to end (parse, scrub, attribute, persist) against a raw read.

    .venv/bin/python benchmarks/ingest.py [--events 200000] [--files 4] [--store sqlite|postgresql]

Generates click and open events for assigned recipients in Currents Avro files as Braze writes them
(`copyloom.ingest.currents_writer`, Braze's schemas as `currents_schemas` describes them), reads them
once with fastavro alone (the ceiling), then ingests them through copyloom's own path into a fresh store,
and prints one JSON line. Both figures come from the same run and files, by wall time and by CPU time
(which a busy shared machine disturbs less; it leaves out waits for the disk, which only the four
commits make). The ingest's CPU time includes its decoder processes' (one per file of
4 MiB or more, running beside the process that counts), so its CPU rate can be below its wall rate.
"""

from __future__ import annotations

import argparse
import json
import resource
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import fastavro
import psycopg

from copyloom.domain.definition import parse_experiment_definition
from copyloom.domain.pseudonyms import pseudonymise
from copyloom.ingest import currents_writer as cw
from copyloom.ingest.sources import LocalSource
from copyloom.services import experiments, ingestion, tenants
from copyloom.services.assignment import AssignmentRequest, assign_batch
from copyloom.storage import migrate
from copyloom.storage.db import Store, open_store

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
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
        path = folder / cw.key_for(kind, offset=n)
        cw.write(path, kind, [cw.record(kind, u, "d-1") for u in chunk])
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


@contextmanager
def fresh_database(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    schema = "bench_" + secrets.token_hex(6)
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield PG_DSN.replace("postgresql://", "postgresql+psycopg://") + f"?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _cpu_s() -> float:
    """CPU seconds of this process and of its finished child processes."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument(
        "--store",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="a fresh SQLite file, or a fresh schema in the PostgreSQL database test on 127.0.0.1:5432",
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="copyloom-bench-") as folder,
        fresh_database(args.store, Path(folder)) as url,
    ):
        root = Path(folder)
        users = [f"braze-user-{i:08d}" for i in range(args.events)]
        store = open_store(url)
        migrate.upgrade(store)
        tenant = prepare(store, users)
        paths = write_files(root / "bucket", users, args.files)
        before = raw_read_rate(paths)
        source = LocalSource(root / "bucket")
        started, started_cpu = time.perf_counter(), _cpu_s()
        outcomes = ingestion.ingest_objects(
            store,
            tenant,
            source,
            ingestion.pending_objects(store, tenant, source),
            time.time,  # type: ignore[arg-type]
        )
        elapsed, elapsed_cpu = time.perf_counter() - started, _cpu_s() - started_cpu
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
                "store": args.store,
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
