"""Per-tenant rate limits (token buckets per tenant, per API process) on requests and on the events they
carry, and the bound on event batches processed at once."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from copyloom.errors import RateLimited


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """Allows `rate_per_s` units (requests, events) per second per key on average, with bursts up to
    `burst`. Keys are authenticated tenants, so the map holds at most one bucket per tenant."""

    rate_per_s: float
    burst: float
    unit: str = "requests"
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def check(self, key: str) -> None:
        """Take one unit for `key`.

        Raises:
            RateLimited: the key is over its rate; the message and `retry_after_s` say when to retry.
        """
        self.admit(key)
        self.take(key, 1)

    def admit(self, key: str) -> None:
        """Refuse `key` while its bucket holds less than one unit (nothing is taken).

        Raises:
            RateLimited: the key is over its rate; the message and `retry_after_s` say when to retry.
        """
        bucket = self._refilled(key)
        if bucket.tokens < 1:
            wait_s = (1 - bucket.tokens) / self.rate_per_s
            raise RateLimited(
                f"rate: over {self.rate_per_s:g} {self.unit}/s for this token; retry in {wait_s:.3f} s",
                retry_after_s=wait_s,
            )

    def take(self, key: str, units: float) -> None:
        """Take `units` from an admitted key's bucket. The work is already done, so the bucket may go
        into debt (at most one batch's worth): the key is refused until the debt is paid back."""
        self._refilled(key).tokens -= units

    def _refilled(self, key: str) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate_per_s)
        bucket.updated = now
        return bucket


def retry_after_header(wait_s: float) -> str:
    """`Retry-After` in whole seconds (HTTP has no fractions), never 0: a client must wait."""
    return str(max(1, math.ceil(wait_s)))
