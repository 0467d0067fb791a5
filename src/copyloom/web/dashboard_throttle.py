"""Dashboard sign-in throttling, per API process: after a few wrong passwords from one client address,
that address must wait before its next attempt, twice as long after each further failure, never longer
than a short cap. The scrypt check runs only for attempts the throttle lets through.

Two keys count failures: (tenant name, address), with `free_failures` free, and the address alone
across tenant names, with `ADDRESS_FACTOR` times as many (one address cycling through names burns CPU
as well). A failure from one address never delays another address, so an attacker can hold a real user
off for at most the cap, and only from the attacker's own address. Addresses and names are kept only
as keyed hashes (a random key per process), in a map of at most `max_keys` entries, oldest dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

ADDRESS_FACTOR = 4
"""An address's free failures across all tenant names, as a multiple of those for one tenant."""
FORGET_AFTER_WAITS = 10
"""Failures are forgotten after this many longest waits without a new one (10 minutes by default)."""


@dataclass
class _Failures:
    count: int
    last_s: float
    blocked_until_s: float


class SignInThrottle:
    """Counts sign-in failures per (tenant, address) and per address; says how long an attempt waits."""

    def __init__(
        self,
        free_failures: int,
        max_wait_s: float,
        max_keys: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._free = free_failures
        self._max_wait_s = max_wait_s
        self._max_keys = max_keys
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self._failures: OrderedDict[bytes, _Failures] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def wait_s(self, tenant_name: str, address: str) -> float:
        """Seconds before this tenant name and address may try again (0: now)."""
        now = self._clock()
        found = (self._failures.get(key) for key in self._keys(tenant_name, address))
        return max([0.0, *(f.blocked_until_s - now for f in found if f is not None)])

    def failed(self, tenant_name: str, address: str) -> None:
        """Count a wrong password; past the free failures, each one doubles the wait, up to the cap."""
        now = self._clock()
        pair, alone = self._keys(tenant_name, address)
        self._count(pair, self._free, now)
        self._count(alone, self._free * ADDRESS_FACTOR, now)

    def succeeded(self, tenant_name: str, address: str) -> None:
        """A right password clears this address's failures."""
        for key in self._keys(tenant_name, address):
            self._failures.pop(key, None)

    def _count(self, key: bytes, free: int, now: float) -> None:
        found = self._failures.pop(key, None)
        if found is None or now - found.last_s > FORGET_AFTER_WAITS * self._max_wait_s:
            found = _Failures(0, now, 0.0)
        found.count += 1
        found.last_s = now
        if found.count >= free:
            found.blocked_until_s = now + min(self._max_wait_s, 2.0 ** (found.count - free))
        while len(self._failures) >= self._max_keys:
            self._failures.popitem(last=False)
        self._failures[key] = found

    def _keys(self, tenant_name: str, address: str) -> tuple[bytes, bytes]:
        def digest(*parts: str) -> bytes:
            text = "\0".join(parts).encode("utf-8", "replace")
            return hmac.new(self._secret, text, hashlib.sha256).digest()[:16]

        return digest("pair", tenant_name, address), digest("address", address)
