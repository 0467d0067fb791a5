"""Serving benchmark: the content endpoint under wrk, next to the same server's minimal route.

    .venv/bin/python benchmarks/serve.py [--seconds 10] [--connections 32] [--repeat-share 0.2]

For SQLite, and for PostgreSQL when 127.0.0.1:5432 answers, it starts `copyloom serve` (one process,
no background loops) on a free loopback port, measures `GET /healthz` (the ceiling: auth-free, no
store) and then `GET /v1/content/{id}` with unique recipients plus a share of repeats, and afterwards
checks that every recipient wrk sent is in the store. Prints one JSON line per store. Needs Debian's
`wrk`. wrk drives the server as hard as it can (it has no fixed-rate mode), so latencies are at
saturation, not at a given rate.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
import sqlalchemy as sa

from copyloom.domain import parse_experiment_definition
from copyloom.server import free_port
from copyloom.services import experiments, tenants
from copyloom.storage import migrate
from copyloom.storage.db import open_store
from copyloom.storage.tables import assignments

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
LUA = """
local counter = 0
local prefix = ""
local sent = 0
function setup(thread)
  thread:set("id", tostring(math.random(1, 1e9)))
end
function init(args)
  prefix = "t" .. wrk.thread:get("id") .. "-"
  math.randomseed(tonumber(wrk.thread:get("id")))
end
function request()
  local n
  if counter > 0 and math.random() < REPEAT then
    n = math.random(1, counter)
  else
    counter = counter + 1
    n = counter
  end
  return wrk.format("GET", PATH .. "?recipient=" .. prefix .. n .. "&dispatch=bench", HEADERS)
end
function done(summary, latency, requests)
end
"""
DEFINITION = {
    "name": "bench",
    "variants": [
        {"id": "a", "control": True, "subject": "Our winter sale starts today"},
        {"id": "b", "subject": "48 hours only: winter sale"},
        {"id": "c", "subject": "Up to 40% off coats and boots"},
    ],
}


def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "requests": float(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "errors": float(sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out)))
        + float(
            sum(
                int(n)
                for n in re.findall(
                    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
                )[0]
            )
            if "Socket errors" in out
            else 0
        ),
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run(database_url: str, label: str, args: argparse.Namespace, folder: Path) -> dict[str, object]:
    store = open_store(database_url)
    migrate.upgrade(store)
    _tenant, token = tenants.create_tenant(store, f"bench-{secrets.token_hex(3)}", time.time())
    experiment_id = experiments.create_experiment(
        store, _tenant.name, parse_experiment_definition(DEFINITION), time.time()
    )
    experiments.change_status(store, experiment_id, "start", time.time())
    port = free_port()
    env = {
        **os.environ,
        "COPYLOOM_DATABASE_URL": database_url,
        "COPYLOOM_PORT": str(port),
        "COPYLOOM_LOG_LEVEL": "WARNING",
        "COPYLOOM_RATE_LIMIT_PER_S": "1000000",
        "COPYLOOM_RATE_LIMIT_BURST": "1000000",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "copyloom", "serve", "--no-learner", "--no-ingest"], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(base)
        ceiling = wrk(f"{base}/healthz", args.seconds, args.connections)
        script = folder / f"content-{label}.lua"
        script.write_text(
            LUA.replace("REPEAT", str(args.repeat_share))
            .replace("PATH", json.dumps(f"/v1/content/{experiment_id}"))
            .replace("HEADERS", '{["Authorization"] = ' + json.dumps(f"Bearer {token}") + "}")
        )
        content = wrk(base, args.seconds, args.connections, script)
    finally:
        server.terminate()
        server.wait(timeout=30)
    with store.read() as conn:
        stored = conn.execute(
            sa.select(sa.func.count())
            .select_from(assignments)
            .where(assignments.c.experiment_id == experiment_id)
        ).scalar()
    store.dispose()
    return {
        "benchmark": "serve",
        "store": label,
        "ceiling_healthz": ceiling,
        "content": content,
        "content_share_of_ceiling": round(content["requests_per_s"] / ceiling["requests_per_s"], 3),
        "assignments_stored": stored,
        "repeat_share": args.repeat_share,
        "workers": args.workers,
    }


def _wait(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("copyloom serve did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--repeat-share", type=float, default=0.2)
    parser.add_argument("--workers", type=int, default=1, help="API processes (copyloom serve --workers)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="copyloom-serve-bench-") as folder:
        print(json.dumps(run(f"sqlite:///{Path(folder) / 'bench.db'}", "sqlite", args, Path(folder))))
        try:
            psycopg.connect(PG_DSN, connect_timeout=3).close()
        except psycopg.Error:
            return
        schema = "bench_" + secrets.token_hex(4)
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        try:
            url = (
                PG_DSN.replace("postgresql://", "postgresql+psycopg://")
                + f"?options=-csearch_path%3D{schema}"
            )
            print(json.dumps(run(url, "postgresql", args, Path(folder))))
        finally:
            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
