"""`copyloom demo`: the whole loop on embedded defaults, with a simulated Braze broadcast.

A temporary SQLite store, a real HTTP server on a free loopback port, a tenant and a 4-variant
experiment with known true click rates. Braze is simulated: every send is a real HTTP call to the
content endpoint (some recipients render twice, as HTML and text parts do), opens load the pixel, and
clicks arrive after log-normal delays as real `POST /v1/events` batches in Braze's Custom HTTP format,
some of them twice (Currents is at-least-once). Time is compressed: a 6-hour send takes about a minute.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import heapq
import logging
import multiprocessing
import multiprocessing.process
import multiprocessing.queues
import tempfile
import time
import uuid
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.live import Live
from rich.table import Table

from copyloom.domain import parse_experiment_definition
from copyloom.server import ThreadedServer, build_app, free_port
from copyloom.services import dashboard_access
from copyloom.services import experiments as experiment_service
from copyloom.services import tenants as tenant_service
from copyloom.services.experiments import ExperimentReport
from copyloom.services.learning import learn_once
from copyloom.settings import load_settings
from copyloom.storage import migrate
from copyloom.storage.db import Store, open_store

TENANT = "demo-brand"
SEND_SPAN_S = 6 * 3600.0
LEARN_EVERY_SIM_S = 300.0
CLICK_DELAY_MEDIAN_S = 3600.0
CLICK_DELAY_SIGMA = 1.1
OPEN_RATE = 0.22
DUPLICATE_SHARE = 0.05
RERENDER_SHARE = 0.1
CONCURRENCY = 24
TRUE_RATES = {"control": 0.030, "urgency": 0.035, "benefit": 0.050, "question": 0.038}
TEXTS = {
    "control": ("Our winter sale starts today", "Warm up with up to 40% off"),
    "urgency": ("48 hours only: winter sale", "Up to 40% off ends Sunday"),
    "benefit": ("Up to 40% off coats and boots", "Everything you need for the cold"),
    "question": ("Ready for the first frost?", "Our winter sale has you covered"),
}


def _shared_seconds() -> Synchronized[float]:
    return multiprocessing.get_context("spawn").Value("d", 0.0)


@dataclasses.dataclass
class _SimClock:
    """Simulated time: `scale` simulated seconds pass per real second, from `start`, except while held.

    The simulated Braze holds the clock back when the machine cannot keep up with its schedule, so that
    its sends stay evenly spread over the simulated span (as Braze's rate limit spreads them) instead of
    bunching at the end. The held time is shared memory, so that the API's process (assignment times,
    the learner) and the simulated Braze's process read the same simulated time.
    """

    start: float
    scale: float
    real_start: float = dataclasses.field(default_factory=time.time)
    held_s: Synchronized[float] = dataclasses.field(default_factory=_shared_seconds)

    def __call__(self) -> float:
        # Wall time, not monotonic: the simulated Braze runs in another process and must agree.
        return self.start + (time.time() - self.real_start - self.held_s.value) * self.scale

    def real_seconds_until(self, sim_t: float) -> float:
        return max(0.0, (sim_t - self()) / self.scale)

    def hold_at(self, sim_t: float) -> None:
        """Hold the clock back to `sim_t` if it has passed it: the sender is late by that much.

        Called before each send, so the step back is at most the time one send took to start (a fraction
        of a simulated second at the demo's pace); timestamps stay in order to within that.
        """
        with self.held_s.get_lock():
            late_s = (self() - sim_t) / self.scale
            if late_s > 0:
                self.held_s.value += late_s

    def run_at_real_speed(self) -> None:
        """From now on one simulated second per real second (the dashboard after the send)."""
        self.start, self.real_start, self.scale = self(), time.time(), 1.0
        self.held_s.value = 0.0


@dataclasses.dataclass
class _Tally:
    sends: dict[str, int]
    clicks: dict[str, int]
    renders: int = 0
    sticky_mismatches: int = 0
    http_errors: int = 0
    events_posted: int = 0
    last_send_after_s: float = 0.0  # simulated seconds from the start of the send to its last call


def run_demo(
    *, recipients: int, seed: int, quiet: bool, duration_s: float = 60.0, serve: bool = False
) -> dict[str, Any]:
    """Run the demo and return its result (also printed as a table unless `quiet`).

    With `serve`, the server keeps running after the send, with a dashboard password for the demo's
    tenant, until Ctrl-C (or SIGINT).
    """
    console = Console(stderr=quiet, quiet=quiet)
    if not console.is_terminal:
        console.width = 120  # plain progress lines: one per line, not wrapped at 80 columns
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="copyloom-demo-") as folder:
        store = open_store(f"sqlite:///{Path(folder) / 'demo.db'}")
        migrate.upgrade(store)
        token, experiment_id = _set_up(store)
        clock = _SimClock(start=time.time(), scale=SEND_SPAN_S / duration_s)
        port = free_port()
        settings = load_settings({}).replace(
            database_url=f"sqlite:///{Path(folder) / 'demo.db'}",
            public_base_url=f"http://127.0.0.1:{port}",
            learn_interval_s=LEARN_EVERY_SIM_S / clock.scale,
            cache_refresh_s=min(1.0, LEARN_EVERY_SIM_S / clock.scale / 2),
            # The simulated Braze, the API and the learner share this one machine; Braze itself waits 2 s.
            response_budget_ms=1500.0,
        )
        app = build_app(settings, store, with_learner=True, clock=clock, seed=seed)
        with ThreadedServer(app, port=port) as server:
            console.print(
                f"copyloom demo: API on {server.url}, experiment {experiment_id}, {recipients:,} recipients"
            )
            setup = _BrazeSetup(server.url, token, experiment_id, recipients, clock, seed)
            tally = _run_braze(setup, store, console)
            learn_once(store, clock(), np.random.default_rng(seed), settings.learn_samples)
            report = experiment_service.experiment_report(store, experiment_id)
            result = _result(report, tally, recipients)
            if not quiet:
                console.print(_summary_table(report, tally))
                console.print(_summary_text(result, tally))
            if serve:
                clock.run_at_real_speed()
                _serve_dashboard(store, server.url, experiment_id, Console(stderr=quiet))
        store.dispose()
    return result


def _serve_dashboard(store: Store, url: str, experiment_id: str, console: Console) -> None:
    """Keep the server (and its learner) running for the dashboard until Ctrl-C."""
    password = dashboard_access.issue_dashboard_password(store, TENANT, time.time())
    console.print(
        f"\ndashboard: {url}/dashboard/experiments/{experiment_id}\n"
        f"sign in as tenant {TENANT} with password {password}\n"
        "press Ctrl-C to stop",
        highlight=False,
        soft_wrap=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopping the demo server", highlight=False)


def _set_up(store: Store) -> tuple[str, str]:
    _tenant, token = tenant_service.create_tenant(store, TENANT, time.time())
    definition = parse_experiment_definition(
        {
            "name": "Winter sale subject line",
            "mode": "broadcast",
            "metric": "click",
            "variants": [
                {"id": v, "control": v == "control", "subject": s, "preheader": p}
                for v, (s, p) in TEXTS.items()
            ],
        }
    )
    experiment_id = experiment_service.create_experiment(store, TENANT, definition, time.time())
    experiment_service.change_status(store, experiment_id, "start", time.time())
    return token, experiment_id


class _Simulation:
    """A simulated Braze: sends through Connected Content, opens through the pixel, clicks via Currents."""

    def __init__(self, client: httpx.AsyncClient, experiment_id: str, clock: _SimClock, seed: int) -> None:
        self.client = client
        self.experiment_id = experiment_id
        self.clock = clock
        self.rng = np.random.default_rng(seed)
        self.tally = _Tally(sends=dict.fromkeys(TRUE_RATES, 0), clicks=dict.fromkeys(TRUE_RATES, 0))
        self.dispatch_id = uuid.uuid4().hex[:24]
        self.events: list[tuple[float, int, dict[str, Any]]] = []  # heap of (due sim time, tiebreak, event)
        self.pixels: list[tuple[float, int, str]] = []
        self._sequence = 0

    async def send_all(self, recipients: int) -> None:
        """Send to every recipient, evenly over the simulated span, with bounded concurrency."""
        gate = asyncio.Semaphore(CONCURRENCY)
        start = self.clock.start
        self.clock.hold_at(start)  # the simulated send starts when this process is ready to send
        tasks: list[asyncio.Task[None]] = []
        for i in range(recipients):
            due = start + SEND_SPAN_S * i / recipients
            wait = self.clock.real_seconds_until(due)
            if wait > 0:
                await asyncio.sleep(wait)
            await gate.acquire()
            self.clock.hold_at(due)  # late (a busy machine): simulated time waits for the send
            task = asyncio.create_task(self._send_one(f"braze-user-{i:07d}"))
            task.add_done_callback(lambda _t: gate.release())
            tasks.append(task)
        await asyncio.gather(*tasks)

    async def _send_one(self, user: str) -> None:
        draws = self.rng.random(4)
        delay_s = float(CLICK_DELAY_MEDIAN_S * np.exp(CLICK_DELAY_SIGMA * self.rng.standard_normal()))
        params = {"recipient": user, "dispatch": self.dispatch_id}
        called_at = self.clock()
        response = await self._request("GET", f"/v1/content/{self.experiment_id}", params=params)
        self.tally.renders += 1
        if response.status_code != 200:
            self.tally.http_errors += 1
            return
        body = response.json()
        variant = body["variant_id"]
        if draws[0] < RERENDER_SHARE:  # the plain-text part renders separately and must agree
            again = await self._request("GET", f"/v1/content/{self.experiment_id}", params=params)
            self.tally.renders += 1
            if again.status_code != 200 or again.json()["variant_id"] != variant:
                self.tally.sticky_mismatches += 1
        self.tally.sends[variant] += 1
        now = self.clock()
        self.tally.last_send_after_s = max(self.tally.last_send_after_s, called_at - self.clock.start)
        if draws[1] < OPEN_RATE:
            self._push(self.pixels, now + delay_s / 2, body["pixel_url"])
        if draws[2] < TRUE_RATES[variant]:
            self.tally.clicks[variant] += 1
            event = _click_event(user, self.dispatch_id, int(now + delay_s))
            self._push(self.events, now + delay_s, event)
            if draws[3] < DUPLICATE_SHARE:  # Currents may deliver the same event again, later
                self._push(self.events, now + delay_s + 600, event)

    def _push(self, heap: list[tuple[float, int, Any]], due: float, item: Any) -> None:
        self._sequence += 1
        heapq.heappush(heap, (due, self._sequence, item))

    async def ship_events(self, sender: asyncio.Task[None]) -> None:
        """Post due events in batches of up to 100 every simulated 5 minutes; flush the rest at the end."""
        while True:
            sending = not sender.done()
            await self._ship_due(self.clock() if sending else float("inf"))
            if not sending:
                return
            await asyncio.sleep(self.clock.real_seconds_until(self.clock() + LEARN_EVERY_SIM_S))

    async def _ship_due(self, horizon: float) -> None:
        due = _pop_due(self.events, horizon)
        for start in range(0, len(due), 100):
            batch = due[start : start + 100]
            response = await self._request("POST", "/v1/events", json={"events": batch})
            self.tally.events_posted += len(batch)
            if response.status_code != 200:
                self.tally.http_errors += 1
        for pixel_url in _pop_due(self.pixels, horizon):
            await self._request("GET", httpx.URL(pixel_url).path)

    async def _request(self, method: str, path: str, **options: Any) -> httpx.Response:
        """One retry when a kept-alive connection turns out closed, as Braze retries (calls and posts
        are idempotent: assignments are sticky, events deduplicated by id)."""
        try:
            return await self.client.request(method, path, **options)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            return await self.client.request(method, path, **options)


@dataclasses.dataclass(frozen=True)
class _BrazeSetup:
    """What the simulated Braze needs: where to call, with which token, for how many recipients."""

    url: str
    token: str
    experiment_id: str
    recipients: int
    clock: _SimClock
    seed: int


def _run_braze(setup: _BrazeSetup, store: Store, console: Console) -> _Tally:
    """Run the simulated Braze in its own process (the API keeps this one), showing progress meanwhile."""
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.queues.Queue[_Tally] = context.Queue()
    braze = context.Process(target=_braze_main, args=(setup, results), name="simulated-braze", daemon=True)
    braze.start()
    if console.is_terminal:
        progress = functools.partial(_progress_table, store, setup.experiment_id, setup.clock)
        with Live(progress(), console=console, refresh_per_second=2) as live:
            while braze.is_alive() and results.empty():
                time.sleep(0.5)
                live.update(progress())
    else:
        _log_progress(store, setup, braze, results, console)
    tally = results.get(timeout=60)
    braze.join(timeout=30)
    return tally


def _log_progress(
    store: Store,
    setup: _BrazeSetup,
    braze: multiprocessing.process.BaseProcess,
    results: multiprocessing.queues.Queue[_Tally],
    console: Console,
) -> None:
    """Without a terminal: one plain line per simulated half hour."""
    next_line_at = setup.clock.start
    while braze.is_alive() and results.empty():
        time.sleep(0.2)
        if setup.clock() < next_line_at:
            continue
        next_line_at += 1800
        report = experiment_service.experiment_report(store, setup.experiment_id)
        hours = min(6.0, (setup.clock() - setup.clock.start) / 3600)
        weights = "  ".join(f"{v.variant_id} {v.weight:5.1%}" for v in report.variants)
        console.print(f"{hours:4.1f} h  sent {sum(v.sends for v in report.variants):>7,}  weights  {weights}")


def _braze_main(setup: _BrazeSetup, results: multiprocessing.queues.Queue[_Tally]) -> None:
    results.put(asyncio.run(_simulate(setup)))


async def _simulate(setup: _BrazeSetup) -> _Tally:
    headers = {"Authorization": f"Bearer {setup.token}"}
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=setup.url, headers=headers, limits=limits, timeout=30) as client:
        simulation = _Simulation(client, setup.experiment_id, setup.clock, setup.seed)
        sender = asyncio.create_task(simulation.send_all(setup.recipients))
        await simulation.ship_events(sender)
        await sender
    return simulation.tally


def _click_event(user: str, dispatch_id: str, at: int) -> dict[str, Any]:
    return {
        "event_type": "users.messages.email.Click",
        "id": str(uuid.uuid4()),
        "time": at,
        "user": {"user_id": user, "external_user_id": None, "device_id": None, "timezone": "Europe/London"},
        "properties": {
            "campaign_id": "demo-campaign",
            "dispatch_id": dispatch_id,
            "email_address": f"{user}@example.com",
            "url": "https://shop.example/winter",
            "user_agent": "Mozilla/5.0",
            "is_suspected_bot_click": False,
        },
    }


def _pop_due(heap: list[tuple[float, int, Any]], horizon: float) -> list[Any]:
    due = []
    while heap and heap[0][0] <= horizon:
        due.append(heapq.heappop(heap)[2])
    return due


def _progress_table(store: Store, experiment_id: str, clock: _SimClock) -> Table:
    report = experiment_service.experiment_report(store, experiment_id)
    elapsed_h = min(6.0, max(0.0, (clock() - clock.start) / 3600))
    sent = sum(v.sends for v in report.variants)
    table = Table(title=f"simulated send: {elapsed_h:4.1f} h of 6 h, {sent:,} sent")
    for column in ("variant", "true rate", "sends", "clicks (counted)", "weight", "P(best)"):
        table.add_column(column, justify="right")
    for v in report.variants:
        bar = "█" * round(v.weight * 30)
        table.add_row(
            v.variant_id,
            f"{TRUE_RATES[v.variant_id]:.1%}",
            f"{v.sends:,}",
            f"{v.clicks:,}",
            f"{v.weight:5.1%} {bar}",
            f"{v.p_best:.2f}",
        )
    return table


def _summary_table(report: ExperimentReport, tally: _Tally) -> Table:
    table = Table(title="final allocation")
    for column in ("variant", "true rate", "sends", "clicks", "final weight", "P(best)"):
        table.add_column(column, justify="right")
    for v in report.variants:
        table.add_row(
            v.variant_id,
            f"{TRUE_RATES[v.variant_id]:.1%}",
            f"{v.sends:,}",
            f"{v.clicks:,}",
            f"{v.weight:.1%}",
            f"{v.p_best:.3f}",
        )
    return table


def _result(report: ExperimentReport, tally: _Tally, recipients: int) -> dict[str, Any]:
    even_expected = recipients * float(np.mean(list(TRUE_RATES.values())))
    clicks = sum(v.clicks for v in report.variants)
    best = max(TRUE_RATES, key=lambda v: TRUE_RATES[v])
    return {
        "recipients": recipients,
        "variants": [
            {
                "variant_id": v.variant_id,
                "true_rate": TRUE_RATES[v.variant_id],
                "sends": v.sends,
                "clicks": v.clicks,
                "weight": round(v.weight, 4),
                "p_best": round(v.p_best, 4),
            }
            for v in report.variants
        ],
        "best_variant": best,
        "largest_weight_variant": max(report.variants, key=lambda v: v.weight).variant_id,
        "clicks": clicks,
        "clicks_even_split_expected": round(even_expected, 1),
        "clicks_gained_vs_even_split": round(clicks - even_expected, 1),
        "renders": tally.renders,
        "sticky_mismatches": tally.sticky_mismatches,
        "http_errors": tally.http_errors,
        "events_posted": tally.events_posted,
        "last_send_after_h": round(tally.last_send_after_s / 3600, 3),
    }


def _summary_text(result: dict[str, Any], tally: _Tally) -> str:
    return (
        f"truly best: {result['best_variant']}; largest weight: {result['largest_weight_variant']}\n"
        f"clicks: {result['clicks']:,} against {result['clicks_even_split_expected']:,.0f} expected "
        f"from an even split: {result['clicks_gained_vs_even_split']:+,.0f} clicks gained\n"
        f"{tally.renders:,} content calls ({result['sticky_mismatches']} sticky mismatches, "
        f"{result['http_errors']} HTTP errors), {tally.events_posted:,} Currents events posted "
        f"(duplicates included)"
    )
