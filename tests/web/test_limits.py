"""Rate limits: a token bucket per tenant; over it, a clear 429."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from copyloom.errors import RateLimited
from copyloom.server import ThreadedServer, build_app
from copyloom.settings import Settings
from copyloom.storage.db import Store
from copyloom.web.limits import RateLimiter
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
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "rate_limited"
