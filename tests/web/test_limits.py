"""Rate limits: a token bucket per tenant; over it, a clear 429."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from copyloom.errors import RateLimited
from copyloom.server import ThreadedServer, build_app
from copyloom.settings import Settings
from copyloom.storage.db import Store
from copyloom.web.limits import RateLimiter, retry_after_header
from tests.helpers import Workspace, make_workspace


class FakeClock:
    """Time as a parameter: the bucket refills only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_allows_the_burst_then_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=10, burst=5, clock=clock)

    for _ in range(5):
        limiter.check("t1")
    with pytest.raises(RateLimited, match=r"over 10 requests/s for this token; retry in 0\.100 s"):
        limiter.check("t1")
    limiter.check("t2")  # another tenant has its own bucket
    clock.now = 0.25
    limiter.check("t1")
    limiter.check("t1")
    with pytest.raises(RateLimited):
        limiter.check("t1")


def test_a_batch_is_admitted_while_the_bucket_holds_a_unit_and_may_leave_a_debt() -> None:
    clock = FakeClock()
    events = RateLimiter(rate_per_s=100, burst=500, unit="events", clock=clock)

    events.admit("t1")
    events.take("t1", 1000)  # a 1,000-event batch: 500 events of debt
    with pytest.raises(RateLimited, match=r"over 100 events/s for this token; retry in 5\.010 s") as refused:
        events.admit("t1")
    events.admit("t2")  # another tenant's events are its own
    clock.now = 5.01
    events.admit("t1")

    assert refused.value.retry_after_s == pytest.approx(5.01)


def test_retry_after_is_in_whole_seconds_and_never_zero() -> None:
    assert [retry_after_header(s) for s in (0.0, 0.1, 1.0, 1.01, 59.5)] == ["1", "1", "1", "2", "60"]


@pytest.fixture
def strict_api(settings: Settings, store: Store) -> Iterator[tuple[httpx.Client, Workspace]]:
    workspace = make_workspace(store, "acme")
    strict = settings.replace(rate_limit_per_s=0.001, rate_limit_burst=3, cache_refresh_s=0.05)
    with (
        ThreadedServer(build_app(strict, store, with_learner=False)) as server,
        httpx.Client(base_url=server.url) as c,
    ):
        yield c, workspace


def test_over_the_limit_is_a_429_with_retry_after(strict_api: tuple[httpx.Client, Workspace]) -> None:
    client, workspace = strict_api
    headers = {"Authorization": f"Bearer {workspace.token}"}
    url = f"/v1/content/{workspace.experiment_id}"

    statuses = [client.get(url, params={"recipient": f"u{i}"}, headers=headers).status_code for i in range(4)]
    refused = client.post("/v1/events", json={"events": []}, headers=headers)

    assert statuses == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1000"  # one request at 0.001 requests/s
    assert refused.json()["error"]["code"] == "rate_limited"


@pytest.fixture
def event_limited_api(settings: Settings, store: Store) -> Iterator[tuple[httpx.Client, Workspace]]:
    workspace = make_workspace(store, "acme")
    strict = settings.replace(event_rate_limit_per_s=1.0, event_rate_limit_burst=3, cache_refresh_s=0.05)
    with (
        ThreadedServer(build_app(strict, store, with_learner=False)) as server,
        httpx.Client(base_url=server.url) as c,
    ):
        yield c, workspace


def test_the_event_limit_counts_events_not_requests(
    event_limited_api: tuple[httpx.Client, Workspace],
) -> None:
    client, workspace = event_limited_api
    headers = {"Authorization": f"Bearer {workspace.token}"}
    other_type = {"event_type": "users.messages.email.Send", "time": 1764338400, "user": {"user_id": "u"}}
    batch = {"events": [{**other_type, "id": f"e-{i}"} for i in range(6)]}

    accepted = client.post("/v1/events", json=batch, headers=headers)
    refused = client.post("/v1/events", json=batch, headers=headers)
    content = client.get(f"/v1/content/{workspace.experiment_id}", params={"recipient": "u"}, headers=headers)

    assert accepted.status_code == 200
    assert accepted.json()["received"] == 6
    assert refused.status_code == 429
    assert refused.json()["error"]["message"].startswith("rate: over 1 events/s for this token; retry in 3.")
    assert refused.headers["retry-after"] == "4"  # 3 events of debt and one to take, at 1 event/s
    assert content.status_code == 200  # requests have their own bucket
