"""A bounded set of keys that each expire: what a worker remembers as unknown (tokens, experiment ids)."""

from __future__ import annotations

import time
from collections.abc import Callable


class ExpiringKeys:
    """Keys remembered for `ttl_s` each, at most `max_keys` at once.

    Every key lives equally long, so insertion order is expiry order: expired keys, and past the bound
    the oldest ones, are dropped from the front. Memory is bounded whatever keys a client makes up.
    """

    def __init__(self, max_keys: int, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_keys = max_keys
        self._ttl_s = ttl_s
        self._clock = clock
        self._expires: dict[str, float] = {}

    def __contains__(self, key: str) -> bool:
        expires = self._expires.get(key)
        if expires is None:
            return False
        if expires > self._clock():
            return True
        del self._expires[key]
        return False

    def __len__(self) -> int:
        return len(self._expires)

    def add(self, key: str) -> None:
        now = self._clock()
        self._expires.pop(key, None)  # re-added: moves to the back
        self._expires[key] = now + self._ttl_s
        self._drop_expired(now)
        while len(self._expires) > self.max_keys:
            del self._expires[next(iter(self._expires))]

    def _drop_expired(self, now: float) -> None:
        while self._expires:
            oldest = next(iter(self._expires))
            if self._expires[oldest] > now:
                return
            del self._expires[oldest]
