"""Dashboard sign-in throttling: per tenant and address, doubling waits up to a short cap, no scrypt
while throttled, and a bounded map."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from copyloom.server import ThreadedServer, build_app
from copyloom.services import dashboard_access
from copyloom.settings import Settings
from copyloom.storage.db import Store
from copyloom.web.dashboard_throttle import ADDRESS_FACTOR, SignInThrottle
from tests.dashboard_data import sign_in_response
from tests.helpers import make_workspace


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_wait_doubles_after_the_free_failures_up_to_the_cap() -> None:
    clock = FakeClock()
    throttle = SignInThrottle(free_failures=3, max_wait_s=60, max_keys=100, clock=clock)
    waits = []
    for _ in range(12):
        throttle.failed("acme", "198.51.100.7")
        waits.append(throttle.wait_s("acme", "198.51.100.7"))

    assert waits == [0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60, 60]


def test_failures_from_one_address_never_delay_another_address_or_tenant() -> None:
    throttle = SignInThrottle(free_failures=3, max_wait_s=60, max_keys=100, clock=FakeClock())
    for _ in range(50):
        throttle.failed("acme", "198.51.100.7")

    assert throttle.wait_s("acme", "203.0.113.9") == 0
    assert throttle.wait_s("globex", "203.0.113.9") == 0


def test_one_address_cycling_through_tenant_names_is_throttled_too() -> None:
    throttle = SignInThrottle(free_failures=3, max_wait_s=60, max_keys=100, clock=FakeClock())
    for i in range(3 * ADDRESS_FACTOR):
        throttle.failed(f"tenant-{i}", "198.51.100.7")

    assert throttle.wait_s("never-tried", "198.51.100.7") == 1


def test_a_success_clears_the_failures_and_old_failures_are_forgotten() -> None:
    clock = FakeClock()
    throttle = SignInThrottle(free_failures=2, max_wait_s=60, max_keys=100, clock=clock)
    for _ in range(2):
        throttle.failed("acme", "a")
    throttle.succeeded("acme", "a")
    throttle.failed("acme", "a")
    assert throttle.wait_s("acme", "a") == 0

    throttle.failed("acme", "a")
    clock.now += 601  # ten longest waits without a failure
    throttle.failed("acme", "a")
    assert throttle.wait_s("acme", "a") == 0


def test_the_map_stays_bounded_under_a_flood_of_addresses() -> None:
    throttle = SignInThrottle(free_failures=3, max_wait_s=60, max_keys=1000, clock=FakeClock())
    for i in range(20_000):
        throttle.failed("acme", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")

    assert len(throttle) <= 1000


def test_addresses_are_kept_only_as_keyed_hashes() -> None:
    throttle = SignInThrottle(free_failures=3, max_wait_s=60, max_keys=100, clock=FakeClock())
    throttle.failed("acme", "198.51.100.7")

    assert "198.51.100.7" not in repr(vars(throttle))
    assert b"198.51.100.7" not in b"".join(throttle._failures)


@pytest.fixture
def throttled_client(settings: Settings, store: Store) -> Iterator[tuple[httpx.Client, str]]:
    make_workspace(store, "acme")
    make_workspace(store, "globex")
    password = dashboard_access.issue_dashboard_password(store, "acme", time.time())
    dashboard_access.issue_dashboard_password(store, "globex", time.time())
    strict = settings.replace(sign_in_free_failures=3, sign_in_max_wait_s=1.0)
    with (
        ThreadedServer(build_app(strict, store, with_learner=False)) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        yield client, password


def test_after_the_free_failures_sign_in_is_a_429_with_retry_after_and_no_scrypt(
    throttled_client: tuple[httpx.Client, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, password = throttled_client
    hashed: list[str] = []
    real_hash = dashboard_access._hash

    def counted_hash(password: str, salt: str, scheme: str) -> str:
        hashed.append(password)
        return real_hash(password, salt, scheme)

    monkeypatch.setattr(dashboard_access, "_hash", counted_hash)

    wrong = [sign_in_response(client, "acme", "wrong").status_code for _ in range(3)]
    hashes_before = len(hashed)
    throttled = sign_in_response(client, "acme", password)

    assert wrong == [401, 401, 401]
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "1"
    assert "Too many failed sign-ins from this address. Try again in 1 s." in throttled.text
    assert len(hashed) == hashes_before, "no scrypt while throttled"
    assert hashes_before == 3


def test_after_the_wait_the_right_password_works_and_other_tenants_never_wait(
    throttled_client: tuple[httpx.Client, str],
) -> None:
    client, password = throttled_client
    for _ in range(3):
        sign_in_response(client, "acme", "wrong")

    other_tenant = sign_in_response(client, "globex", "wrong")
    assert sign_in_response(client, "acme", password).status_code == 429
    time.sleep(1.05)
    after_the_wait = sign_in_response(client, "acme", password)

    assert other_tenant.status_code == 401  # checked, not throttled
    assert after_the_wait.status_code == 303
