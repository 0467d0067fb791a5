"""Serving benchmark: the content endpoint under wrk, next to the same server's minimal route.

    .venv/bin/python benchmarks/serve.py [--seconds 10] [--connections 32,256] [--repeat-share 0.2]
        [--server granian|uvicorn|both] [--workers 1,2] [--rate 2000] [--stores sqlite,postgresql]

For SQLite, and for PostgreSQL when 127.0.0.1:5432 answers, and for each server and worker count, it
starts `copyloom serve --server S --workers N --no-learner --no-ingest` on a free loopback port and
measures, one after the other against the same process:

1. for each `--connections` count (wrk's closed loop: each connection sends again once answered):
   `GET /healthz` at saturation, the ceiling (auth-free, no store, the smallest JSON answer), then
   `GET /v1/content/{id}` at saturation, with unique recipients plus a share of repeats; each with the
   server's CPU time per answered request (the server and its workers, from /proc), steadier than
   requests/s on a host whose speed varies;
2. the content endpoint at a fixed offered rate (`--rate`, requests/s), its latency measured the way
   wrk2 does against coordinated omission: each connection has a schedule of intended send times and a
   request's latency counts from its intended time when it goes out late (a slow answer delays the
   next send), so a stall shows in the percentiles instead of hiding as fewer requests.

Afterwards it checks the store: every recipient answered in the fixed-rate phase must be stored with
the variant it was answered with (but for answers past the response budget, which serve the control
with no assignment promised and no pixel: counted apart as `budget_fallbacks`), and the saturation
phase's unique recipients must all be stored but for the few still in flight when wrk stopped. Prints
one JSON line per configuration. Needs Debian's
`wrk` (built with LuaJIT, whose FFI gives the scripts a microsecond clock).
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa

from copyloom.domain.definition import parse_experiment_definition
from copyloom.domain.pseudonyms import pseudonymise
from copyloom.server import free_port
from copyloom.services import experiments, tenants
from copyloom.storage import migrate
from copyloom.storage.db import Store, open_store
from copyloom.storage.tables import assignments

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
_RECIPIENTS_LUA = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } cl_timespec;
int clock_gettime(int clock_id, cl_timespec *tp);
]]
local ts = ffi.new("cl_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end
local threads = {}
counter = 0
local prefix = ""
local pending = nil
math.randomseed(now_us())
function setup(thread)
  thread:set("id", tostring(math.random(1, 1e9)))
  table.insert(threads, thread)
end
function init(args)
  prefix = PHASE .. wrk.thread:get("id") .. "-"
  math.randomseed(tonumber(wrk.thread:get("id")))
end
local function next_path()
  local n
  if counter > 0 and math.random() < REPEAT then
    n = math.random(1, counter)
  else
    counter = counter + 1
    n = counter
  end
  pending = prefix .. n
  return wrk.format("GET", PATH .. "?recipient=" .. pending .. "&dispatch=bench", HEADERS)
end
"""
SATURATION_LUA = (
    _RECIPIENTS_LUA
    + """
function request()
  return next_path()
end
function done(summary, latency, requests)
  local unique = 0
  for _, thread in ipairs(threads) do
    unique = unique + thread:get("counter")
  end
  io.write("RESULT {\\"unique_recipients\\": " .. unique .. "}\\n")
end
"""
)
FIXED_RATE_LUA = (
    _RECIPIENTS_LUA
    + """
-- One connection per thread, so that a response belongs to the one request in flight on it.
local interval_us = INTERVAL_US
local next_at = nil
local intended = 0
local sent_at = 0
latencies = {}
answered = {}
errors = 0
fallbacks = 0
function delay()
  local now = now_us()
  if next_at == nil then
    next_at = now + math.random() * interval_us
  end
  local wait_ms = (next_at - now) / 1000
  if wait_ms < 1 then
    return 0
  end
  return math.floor(wait_ms)
end
function request()
  sent_at = now_us()
  if next_at == nil then
    next_at = sent_at
  end
  intended = next_at
  next_at = next_at + interval_us
  return next_path()
end
function response(status, headers, body)
  local started = intended < sent_at and intended or sent_at
  latencies[#latencies + 1] = now_us() - started
  if status == 200 then
    if string.find(body, "/v1/pixel/-.gif", 1, true) then
      -- Past the response budget the control goes out with no assignment promised (and no pixel).
      fallbacks = fallbacks + 1
    else
      answered[pending] = string.match(body, '"variant_id":"([^"]+)"')
    end
  else
    errors = errors + 1
  end
end
function done(summary, latency, requests)
  local all = {}
  local recipients = {}
  local failed = 0
  local fell_back = 0
  for _, thread in ipairs(threads) do
    fell_back = fell_back + thread:get("fallbacks")
    for _, value in ipairs(thread:get("latencies")) do
      all[#all + 1] = value
    end
    for recipient, variant in pairs(thread:get("answered")) do
      recipients[#recipients + 1] = '"' .. recipient .. '":"' .. variant .. '"'
    end
    failed = failed + thread:get("errors")
  end
  table.sort(all)
  local function pct(p)
    if #all == 0 then return 0 end
    return all[math.max(1, math.ceil(#all * p))] / 1000
  end
  io.write(string.format(
    'RESULT {"requests": %d, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "p999_ms": %.3f, ' ..
    '"max_ms": %.3f, "non_2xx": %d, "budget_fallbacks": %d, "answered": {%s}}\\n',
    #all, pct(0.5), pct(0.9), pct(0.99), pct(0.999), pct(1.0), failed, fell_back,
    table.concat(recipients, ",")))
end
"""
)
DEFINITION = {
    "name": "bench",
    "variants": [
        {"id": "a", "control": True, "subject": "Our winter sale starts today"},
        {"id": "b", "subject": "48 hours only: winter sale"},
        {"id": "c", "subject": "Up to 40% off coats and boots"},
    ],
}


def wrk(url: str, seconds: int, connections: int, threads: int = 2, script: Path | None = None) -> str:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def saturation(out: str) -> dict[str, float]:
    """wrk's own figures: requests/s and its latency percentiles (closed loop: queueing at saturation)."""
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "requests": float(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "errors": float(_errors(out)),
    }


def _per_request_us(cpu_s: float, phase: dict[str, float]) -> float:
    """Server CPU per answered request: steadier than requests/s on a host whose speed varies."""
    return round(1e6 * cpu_s / phase["requests"], 1)


def _errors(out: str) -> int:
    non_2xx = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    sockets = re.findall(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return non_2xx + sum(int(n) for n in sockets[0]) if sockets else non_2xx


def _result(out: str) -> dict[str, Any]:
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    return dict(json.loads(line.removeprefix("RESULT ")))


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run(
    database_url: str, label: str, server: str, workers: int, args: argparse.Namespace, folder: Path
) -> dict[str, object]:
    store = open_store(database_url)
    migrate.upgrade(store)
    tenant, tokens = tenants.create_tenant(store, f"bench-{secrets.token_hex(3)}", time.time())
    experiment_id = experiments.create_experiment(
        store, tenant.name, parse_experiment_definition(DEFINITION), time.time()
    )
    experiments.change_status(store, experiment_id, "start", time.time())

    def script(name: str, template: str, **extra: str) -> Path:
        text = (
            template.replace("REPEAT", str(args.repeat_share))
            .replace("PATH", json.dumps(f"/v1/content/{experiment_id}"))
            .replace("HEADERS", '{["Authorization"] = ' + json.dumps(f"Bearer {tokens.serving}") + "}")
        )
        for key, value in extra.items():
            text = text.replace(key, value)
        path = folder / f"{name}-{label}-{server}-{workers}.lua"
        path.write_text(text)
        return path

    interval_us = str(round(1e6 * args.rate_connections / args.rate))
    counts = [int(n) for n in args.connections.split(",")]
    phases: list[dict[str, object]] = []
    unique = 0
    with _Serving(database_url, server, workers) as serving:
        base = serving.base
        for connections in counts:
            cpu_before = serving.cpu_seconds()
            ceiling = saturation(wrk(f"{base}/healthz", args.seconds, connections))
            cpu_after = serving.cpu_seconds()
            ceiling["server_cpu_us_per_request"] = _per_request_us(cpu_after - cpu_before, ceiling)
            lua = script(f"content{connections}", SATURATION_LUA, PHASE=f'"s{connections}:"')
            out = wrk(base, args.seconds, connections, script=lua)
            content = saturation(out)
            content["server_cpu_us_per_request"] = _per_request_us(serving.cpu_seconds() - cpu_after, content)
            unique += int(_result(out)["unique_recipients"])
            phases.append(
                {
                    "connections": connections,
                    "ceiling_healthz": ceiling,
                    "content": content,
                    "content_share_of_ceiling": round(
                        content["requests_per_s"] / ceiling["requests_per_s"], 3
                    ),
                    "content_cpu_per_request_over_ceiling": round(
                        content["server_cpu_us_per_request"] / ceiling["server_cpu_us_per_request"], 2
                    ),
                }
            )
        out = wrk(
            base,
            args.seconds,
            args.rate_connections,
            threads=args.rate_connections,
            script=script("fixed", FIXED_RATE_LUA, INTERVAL_US=interval_us, PHASE='"f"'),
        )
        fixed = _result(out)
    answered: dict[str, str] = fixed.pop("answered")
    stored = _stored_variants(store, experiment_id)
    store.dispose()
    keys = {pseudonymise(tenant.pseudonym_key, r, tenant.id_transform): v for r, v in answered.items()}
    fixed_missing = sum(1 for key, variant in keys.items() if stored.get(key) != variant)
    return {
        "benchmark": "serve",
        "store": label,
        "server": server,
        "workers": workers,
        "saturation": phases,
        "fixed_rate": {
            "offered_per_s": args.rate,
            "achieved_per_s": round(fixed["requests"] / args.seconds, 1),
            "connections": args.rate_connections,
            **fixed,
            "errors": _errors(out),
        },
        "store_check": {
            "saturation_unique_recipients": unique,
            "fixed_rate_answered_recipients": len(answered),
            "assignments_stored": len(stored),
            "fixed_rate_answered_missing_or_different": fixed_missing,
            "saturation_unstored_at_most_in_flight": unique + len(keys) - len(stored) <= sum(counts),
        },
        "repeat_share": args.repeat_share,
    }


class _Serving:
    """`copyloom serve` as a subprocess on a free port, stopped on exit."""

    def __init__(self, database_url: str, server: str, workers: int) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "COPYLOOM_DATABASE_URL": database_url,
            "COPYLOOM_PORT": str(self.port),
            "COPYLOOM_LOG_LEVEL": "WARNING",
            "COPYLOOM_RATE_LIMIT_PER_S": "1000000",
            "COPYLOOM_RATE_LIMIT_BURST": "1000000",
        }
        self.command = [
            sys.executable, "-m", "copyloom", "serve", "--server", server, "--workers", str(workers),
            "--no-learner", "--no-ingest",
        ]  # fmt: skip
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> _Serving:
        self.process = subprocess.Popen(self.command, env=self.env, stderr=subprocess.DEVNULL)
        _wait(self.base)
        return self

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User and system CPU time of the server and every process under it (its workers), from /proc."""
        assert self.process is not None
        parents: dict[int, int] = {}
        ticks: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:  # the process ended while we looked
                continue
            pid = int(stat.parent.name)
            parents[pid], ticks[pid] = int(fields[1]), int(fields[11]) + int(fields[12])
        tree, grew = {self.process.pid}, True
        while grew:
            below = {pid for pid, parent in parents.items() if parent in tree} - tree
            tree, grew = tree | below, bool(below)
        return sum(ticks.get(pid, 0) for pid in tree) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *_exc: object) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=30)


def _stored_variants(store: Store, experiment_id: str) -> dict[str, str]:
    with store.read() as conn:
        rows = conn.execute(
            sa.select(assignments.c.recipient_key, assignments.c.variant_id).where(
                assignments.c.experiment_id == experiment_id
            )
        ).all()
    return {str(key): str(variant) for key, variant in rows}


def _wait(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("copyloom serve did not start")


def _stores(folder: Path, wanted: list[str]) -> Iterator[tuple[str, str]]:
    if "sqlite" in wanted:
        yield f"sqlite:///{folder / 'bench.db'}", "sqlite"
    if "postgresql" not in wanted:
        return
    try:
        psycopg.connect(PG_DSN, connect_timeout=3).close()
    except psycopg.Error:
        return
    schema = "bench_" + secrets.token_hex(4)
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        url = PG_DSN.replace("postgresql://", "postgresql+psycopg://") + f"?options=-csearch_path%3D{schema}"
        yield url, "postgresql"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk phase")
    parser.add_argument(
        "--connections", default="32,256", help="comma-separated connection counts at saturation"
    )
    parser.add_argument("--repeat-share", type=float, default=0.2, help="share of repeat recipients")
    parser.add_argument("--server", choices=["granian", "uvicorn", "both"], default="both")
    parser.add_argument("--workers", default="1,2", help="comma-separated API process counts")
    parser.add_argument("--rate", type=float, default=2000.0, help="fixed offered rate, requests/s")
    parser.add_argument("--rate-connections", type=int, default=16, help="connections at the fixed rate")
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma-separated stores")
    args = parser.parse_args()
    servers = ["granian", "uvicorn"] if args.server == "both" else [args.server]
    worker_counts = [int(n) for n in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="copyloom-serve-bench-") as name:
        folder = Path(name)
        for url, label in _stores(folder, args.stores.split(",")):
            for workers in worker_counts:
                for server in servers:
                    print(json.dumps(run(url, label, server, workers, args, folder)), flush=True)


if __name__ == "__main__":
    main()
