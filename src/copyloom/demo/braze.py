"""The simulated Braze of `copyloom demo`, in its own process: sends through Connected Content, opens
through the pixel, clicks as Custom HTTP Currents posts; and the simulated clock it shares with the API.

Every send is a real HTTP call to the content endpoint (some recipients render twice, as HTML and text
parts do), opens load the pixel, and clicks arrive after log-normal delays as real `POST /v1/events`
batches in Braze's Custom HTTP format, some of them twice (Currents is at-least-once).
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import multiprocessing
import multiprocessing.queues
import time
import uuid
from multiprocessing.sharedctypes import Synchronized
from typing import Any

import httpx
import numpy as np

from copyloom.domain.context import CONTEXT_PARAM_PREFIX

SEND_SPAN_S = 6 * 3600.0
LEARN_EVERY_SIM_S = 300.0
CLICK_DELAY_MEDIAN_S = 3600.0
CLICK_DELAY_SIGMA = 1.1
OPEN_RATE = 0.22
DUPLICATE_SHARE = 0.05
RERENDER_SHARE = 0.1
CONCURRENCY = 24
DEMO_CAMPAIGN = "demo-campaign"
"""The simulated campaign's Braze API id: the demo's definition names it; its calls and events carry it."""
TRUE_RATES = {"control": 0.030, "urgency": 0.035, "benefit": 0.050, "question": 0.038}
COUNTRY_FIELD = "country"
"""With `--segments`, the definition's context field: Braze fills `${country}` into `ctx_country`."""
COUNTRY_SHARES = {"GB": 0.60, "DE": 0.30, "FR": 0.03, "US": 0.02, "": 0.05}
"""With `--segments`, the recipients' `${country}` as Braze fills it ("": none on the profile)."""
COUNTRY_RATES = {
    "GB": {"control": 0.030, "urgency": 0.028, "benefit": 0.060, "question": 0.034},
    "DE": {"control": 0.030, "urgency": 0.070, "benefit": 0.024, "question": 0.034},
    **dict.fromkeys(("FR", "US", ""), TRUE_RATES),
}
"""With `--segments`, the true click rates by country: `benefit` is best in GB, `urgency` in DE."""


def _shared_seconds() -> Synchronized[float]:
    return multiprocessing.get_context("spawn").Value("d", 0.0)


@dataclasses.dataclass
class SimClock:
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
class Tally:
    sends: dict[str, int]
    clicks: dict[str, int]
    renders: int = 0
    sticky_mismatches: int = 0
    http_errors: int = 0
    events_posted: int = 0
    last_send_after_s: float = 0.0  # simulated seconds from the start of the send to its last call
    context_calls: int = 0
    """Content calls that carried `ctx_<name>` parameters (with `--segments`: all of them)."""
    countries: dict[str, int] = dataclasses.field(default_factory=dict)
    """With `--segments`, the recipients sent to, by `${country}` as Braze filled it."""


class _Simulation:
    """A simulated Braze: sends through Connected Content, opens through the pixel, clicks via Currents."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        experiment_id: str,
        clock: SimClock,
        seed: int,
        countries: list[str] | None = None,
    ) -> None:
        self.client = client
        self.experiment_id = experiment_id
        self.clock = clock
        self.rng = np.random.default_rng(seed)
        self.countries = countries
        self.tally = Tally(sends=dict.fromkeys(TRUE_RATES, 0), clicks=dict.fromkeys(TRUE_RATES, 0))
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
            country = None if self.countries is None else self.countries[i]
            task = asyncio.create_task(self._send_one(f"braze-user-{i:07d}", country))
            task.add_done_callback(lambda _t: gate.release())
            tasks.append(task)
        await asyncio.gather(*tasks)

    async def _send_one(self, user: str, country: str | None) -> None:
        """One recipient; `country` (with `--segments`) goes in `ctx_country` and sets the true rates."""
        draws = self.rng.random(4)
        delay_s = float(CLICK_DELAY_MEDIAN_S * np.exp(CLICK_DELAY_SIGMA * self.rng.standard_normal()))
        params = {"recipient": user, "dispatch": self.dispatch_id, "source": DEMO_CAMPAIGN}
        rates = TRUE_RATES
        if country is not None:
            # As the snippet's `&ctx_country={{${country} | url_param_escape}}`: empty when none is set.
            params[f"{CONTEXT_PARAM_PREFIX}{COUNTRY_FIELD}"] = country
            rates = COUNTRY_RATES[country]
        called_at = self.clock()
        response = await self._content_call(params)
        if response.status_code != 200:
            self.tally.http_errors += 1
            return
        body = response.json()
        variant = body["variant_id"]
        if draws[0] < RERENDER_SHARE:  # the plain-text part renders separately and must agree
            again = await self._content_call(params)
            if again.status_code != 200 or again.json()["variant_id"] != variant:
                self.tally.sticky_mismatches += 1
        self.tally.sends[variant] += 1
        if country is not None:
            self.tally.countries[country] = self.tally.countries.get(country, 0) + 1
        now = self.clock()
        self.tally.last_send_after_s = max(self.tally.last_send_after_s, called_at - self.clock.start)
        if draws[1] < OPEN_RATE:
            self._push(self.pixels, now + delay_s / 2, body["pixel_url"])
        if draws[2] < rates[variant]:
            self.tally.clicks[variant] += 1
            event = _click_event(user, self.dispatch_id, int(now + delay_s))
            self._push(self.events, now + delay_s, event)
            if draws[3] < DUPLICATE_SHARE:  # Currents may deliver the same event again, later
                self._push(self.events, now + delay_s + 600, event)

    async def _content_call(self, params: dict[str, str]) -> httpx.Response:
        self.tally.renders += 1
        self.tally.context_calls += any(name.startswith(CONTEXT_PARAM_PREFIX) for name in params)
        return await self._request("GET", f"/v1/content/{self.experiment_id}", params=params)

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
class BrazeSetup:
    """What the simulated Braze needs: where to call, with which token, for how many recipients."""

    url: str
    token: str
    experiment_id: str
    recipients: int
    clock: SimClock
    seed: int
    segments: bool = False
    """Each recipient has a country (`COUNTRY_SHARES`), sent as context, with its own true rates."""


def braze_main(setup: BrazeSetup, results: multiprocessing.queues.Queue[Tally]) -> None:
    results.put(asyncio.run(_simulate(setup)))


async def _simulate(setup: BrazeSetup) -> Tally:
    headers = {"Authorization": f"Bearer {setup.token}"}
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=setup.url, headers=headers, limits=limits, timeout=30) as client:
        countries = recipient_countries(setup.recipients, setup.seed) if setup.segments else None
        simulation = _Simulation(client, setup.experiment_id, setup.clock, setup.seed, countries)
        sender = asyncio.create_task(simulation.send_all(setup.recipients))
        await simulation.ship_events(sender)
        await sender
    return simulation.tally


def recipient_countries(recipients: int, seed: int) -> list[str]:
    """Each recipient's `${country}`, in `COUNTRY_SHARES` (rounded down; the rest are GB), shuffled.

    Drawn from a generator of its own, so the send's other draws are those of a send without segments.
    """
    counts = {c: int(share * recipients) for c, share in COUNTRY_SHARES.items()}
    counts["GB"] += recipients - sum(counts.values())
    countries = [c for c, n in counts.items() for _ in range(n)]
    order = np.random.default_rng([seed, 1]).permutation(recipients)
    return [countries[i] for i in order]


def _click_event(user: str, dispatch_id: str, at: int) -> dict[str, Any]:
    return {
        "event_type": "users.messages.email.Click",
        "id": str(uuid.uuid4()),
        "time": at,
        "user": {"user_id": user, "external_user_id": None, "device_id": None, "timezone": "Europe/London"},
        "properties": {
            "campaign_id": DEMO_CAMPAIGN,
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
