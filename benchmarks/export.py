"""Decisions export benchmark: rows per second written as CSV and as Parquet, and the peak memory.

    .venv/bin/python benchmarks/export.py [--assignments 200000] [--store sqlite|postgresql]

Fills a fresh store with one segmented experiment of `--assignments` assignments (3 variants, 6
segments, each with its propensity; 3 % clicked, 20 % opened, a few bot clicks and machine opens), then
runs `services.decisions` as `copyloom export decisions` does, once per format, into a temporary file;
prints one JSON line per format with the rows, seconds, rows per second, the file's size and the peak
of Python's allocations in a second, traced run (tracemalloc: the chunked reader should keep it flat
whatever the count).
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import psycopg

from copyloom.domain.definition import parse_experiment_definition
from copyloom.domain.values import RecipientKey
from copyloom.services import decisions, tenants
from copyloom.services import experiments as experiment_service
from copyloom.storage import migrate
from copyloom.storage.assignments import NewAssignment, insert_assignments, insert_engagement
from copyloom.storage.db import Store, open_store

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
DEFINITION = {
    "name": "export bench",
    "mode": "broadcast",
    "metric": "click",
    "context": [{"name": "country", "braze": "${country}", "categories": ["GB", "DE", "FR", "ES"]}],
    "variants": [
        {"id": "control", "control": True, "subject": "A"},
        {"id": "v1", "subject": "B"},
        {"id": "v2", "subject": "C"},
    ],
}
SEGMENTS = [f"country={c}" for c in ("GB", "DE", "FR", "ES", "other", "unknown")]
BATCH = 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignments", type=int, default=200_000)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url, schema = _store_url(args.store, Path(folder))
        try:
            store = open_store(url)
            migrate.upgrade(store)
            experiment_id = _fill(store, args.assignments)
            for fmt in decisions.DECISION_FORMATS:
                print(json.dumps({"store": args.store, "format": fmt, **_export(store, experiment_id, fmt)}))
        finally:
            if schema:
                with psycopg.connect(PG_DSN, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _fill(store: Store, count: int) -> str:
    now = time.time()
    tenant, _ = tenants.create_tenant(store, "bench", now)
    experiment_id = experiment_service.create_experiment(
        store, "bench", parse_experiment_definition(DEFINITION), now
    )
    rng = np.random.default_rng(7)
    for start in range(0, count, BATCH):
        size = min(BATCH, count - start)
        sent = now - 86_400 + np.arange(start, start + size) * 0.1
        rows = [
            NewAssignment(
                tenant.tenant_id,
                experiment_id,
                RecipientKey(secrets.token_hex(32)),
                "d-1",
                ("control", "v1", "v2")[int(v)],
                float(t),
                int(t // 60) * 60,
                segment=SEGMENTS[int(s)],
                propensity=float(p),
            )
            for t, v, s, p in zip(
                sent,
                rng.integers(0, 3, size),
                rng.integers(0, 6, size),
                rng.uniform(0.01, 0.98, size),
                strict=True,
            )
        ]
        kinds = rng.choice(
            ["click", "open", "bot_click", "machine_open", ""], size, p=[0.03, 0.2, 0.005, 0.01, 0.755]
        )
        with store.write() as conn:
            for row, kind in zip(insert_assignments(conn, rows), kinds, strict=True):
                if kind:
                    insert_engagement(conn, row.assignment_id, str(kind), row.assigned_at + 600)
    return experiment_id


def _export(store: Store, experiment_id: str, fmt: str) -> dict[str, float]:
    # Timed without tracemalloc (it slows Python down several times), then once more to trace the peak.
    seconds, rows, size = _write(store, experiment_id, fmt)
    tracemalloc.start()
    _write(store, experiment_id, fmt)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "file_mb": round(size / 1e6, 1),
        "peak_mb": round(peak / 1e6, 1),
    }


def _write(store: Store, experiment_id: str, fmt: str) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"decisions.{fmt}"
        started = time.perf_counter()
        chunks = decisions.decision_chunks(store, experiment_id)
        if fmt == "csv":
            with path.open("w", newline="") as out:
                rows = decisions.write_csv(chunks, out)
        else:
            rows = decisions.write_parquet(chunks, str(path))
        return time.perf_counter() - started, rows, path.stat().st_size


def _store_url(kind: str, folder: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'bench.db'}", None
    schema = "bench_" + secrets.token_hex(4)
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = PG_DSN.replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{url}?options=-csearch_path%3D{schema}", schema


if __name__ == "__main__":
    main()
