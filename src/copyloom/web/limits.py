"""Per-tenant request rate limits (a token bucket per tenant, per API process) and the response budget."""

from __future__ import annotations

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
    """Allows `rate_per_s` requests per second per key on average, with bursts up to `burst`."""

    rate_per_s: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def check(self, key: str) -> None:
        """Take one token for `key`.

        Raises:
            RateLimited: the key is over its rate; the message says when to retry.
        """
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate_per_s)
        bucket.updated = now
        if bucket.tokens < 1:
            wait_s = (1 - bucket.tokens) / self.rate_per_s
            raise RateLimited(
                f"rate: over {self.rate_per_s:g} requests/s for this token; retry in {wait_s:.3f} s"
            )
        bucket.tokens -= 1
