"""Alerts benchmark: signed webhook deliveries from the outbox to a real receiver on loopback.

    .venv/bin/python benchmarks/alerts.py [--events 500] [--webhooks 2] [--store sqlite|postgresql]

Puts `--events` events in a fresh store's outbox for a tenant with `--webhooks` webhooks, then runs
delivery passes (`services.alerts.deliver_due`, as the loop in `copyloom serve` does) until none is
due, against an `http.server` receiver on 127.0.0.1 that answers 200; prints one JSON line with the
deliveries per second (each: claim, sign, POST, record the attempt) and the time one `notify` takes.
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg

from copyloom.domain.values import TenantId
from copyloom.services import alerts, tenants
from copyloom.storage import migrate
from copyloom.storage.db import open_store

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--webhooks", type=int, default=2)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url, schema = _store_url(args.store, Path(folder))
        try:
            print(json.dumps({"store": args.store, **run(url, args.events, args.webhooks)}))
        finally:
            if schema:
                with psycopg.connect(PG_DSN, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA {schema} CASCADE")


def run(url: str, events: int, webhooks: int) -> dict[str, object]:
    store = open_store(url)
    migrate.upgrade(store)
    tenant, _ = tenants.create_tenant(store, "bench", time.time())
    with _receiver() as (receiver_url, received):
        for n in range(webhooks):
            alerts.add_webhook(
                store, "bench", f"w{n}", f"{receiver_url}/{n}", time.time(), allow_loopback_http=True
            )
        started = time.perf_counter()
        for n in range(events):
            data = {"experiment_id": f"ex_{n}", "winner": "v1", "p_best": 0.97}
            alerts.notify(store, TenantId(tenant.tenant_id), "experiment.winner_declared", data, time.time())
        notify_s = time.perf_counter() - started
        started = time.perf_counter()
        with alerts.delivery_client() as client:
            while alerts.deliver_due(store, time.time(), client=client, allow_loopback_http=True):
                pass
        deliver_s = time.perf_counter() - started
    store.dispose()
    return {
        "events": events,
        "webhooks": webhooks,
        "delivered": len(received),
        "deliveries_per_s": round(len(received) / deliver_s, 1),
        "notify_ms": round(notify_s / events * 1000, 2),
    }


@contextmanager
def _receiver() -> Iterator[tuple[str, list[bytes]]]:
    """A receiver on a loopback port that answers 200 to every POST and keeps the bodies."""
    received: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers.get("content-length", "0"))))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks", received
    finally:
        server.shutdown()
        server.server_close()


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
