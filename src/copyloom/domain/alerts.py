"""Alerts by signed webhooks, the pure part: event types, the retry schedule, webhook URLs and the
envelope every event travels in (Standard Webhooks: `type`, `timestamp`, `data`).

Pure: no IO, clock, environment or global random state; "now" and the random source are arguments.
"""

from __future__ import annotations

import ipaddress
import json
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from copyloom.errors import InvalidInput

EventType = Literal[
    "experiment.winner_declared",
    "experiment.variant_retired",
    "experiment.learner_failed",
    "experiment.health_failing",
    "experiment.guardrail_breached",
    "webhook.test",
]
"""Every event an alert can carry (docs/alerts.md describes each)."""
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)

DeliveryStatus = Literal["pending", "delivered", "failed"]
"""A delivery is `pending` until a 2xx answer (`delivered`) or its last retry (`failed`, given up)."""
DELIVERY_STATUSES: tuple[DeliveryStatus, ...] = get_args(DeliveryStatus)

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix of a signing secret, not a secret
EVENT_ID_PREFIX = "msg_"
MAX_URL_CHARS = 2048
MAX_WEBHOOKS_PER_TENANT = 20
WEBHOOK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """When a failed delivery is tried again: after the n-th failed attempt, wait `delays_s[n-1]` seconds,
    each stretched or shrunk at random by up to `jitter` (so that receivers coming back after an outage
    are not hit by every sender at once); after the last delay's attempt fails, the delivery is given up.
    """

    delays_s: tuple[float, ...] = (5, 30, 120, 600, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600)
    jitter: float = 0.2

    @property
    def max_attempts(self) -> int:
        return len(self.delays_s) + 1

    def next_attempt_at(self, attempts: int, now: float, rng: random.Random) -> float | None:
        """When to try again after `attempts` failed attempts (at `now`); None: give up."""
        if attempts >= self.max_attempts:
            return None
        delay_s = self.delays_s[attempts - 1]
        return now + delay_s * (1 + self.jitter * rng.uniform(-1, 1))


DEFAULT_SCHEDULE = RetrySchedule()


@dataclass(frozen=True, slots=True)
class Webhook:
    """A tenant's receiving URL and the secret its events are signed with."""

    webhook_id: str
    tenant_id: str
    name: str
    url: str
    secret: str
    created_at: float
    disabled_at: float | None = None

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None


def check_webhook_url(url: str, *, allow_loopback_http: bool) -> str:
    """The URL, if copyloom may POST alerts to it.

    https only (plain http only to a loopback address, and only when `allow_loopback_http`); no user
    name or password in it; no literal address of a private, link-local, loopback or otherwise
    non-public network (cloud metadata services live there), and no `localhost` name, again except
    loopback when allowed. Names that *resolve* to such addresses are refused at delivery time.

    Raises:
        InvalidInput: naming the field `url`, e.g. "url: must be https (got http)".
    """
    if len(url) > MAX_URL_CHARS or not url.isprintable() or any(c.isspace() for c in url):
        raise InvalidInput(f"url: expected a URL of at most {MAX_URL_CHARS} characters, without spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"url: not a valid URL ({exc})") from exc
    host = (parts.hostname or "").lower()
    if not host:
        raise InvalidInput(
            "url: expected an absolute URL with a host, e.g. https://hooks.example.com/copyloom"
        )
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("url: must not carry a user name or password; authenticate by the signature")
    if parts.fragment:
        raise InvalidInput("url: must not have a #fragment")
    if port == 0:
        raise InvalidInput("url: port 0 is not a port")
    loopback = is_loopback_host(host)
    if parts.scheme == "http" and loopback and allow_loopback_http:
        return url
    if parts.scheme != "https":
        hint = (
            " (http is allowed to loopback only with COPYLOOM_WEBHOOK_ALLOW_LOOPBACK_HTTP)"
            if loopback
            else ""
        )
        raise InvalidInput(f"url: must be https (got {parts.scheme or 'no scheme'}){hint}")
    if loopback and allow_loopback_http:
        return url
    if host == "localhost" or host.endswith(".localhost") or not is_public_address(host):
        raise InvalidInput(f"url: {host} is not a public address")
    return url


def default_webhook_name(url: str) -> str:
    """A webhook's name when none is given: its URL's host, or `webhook` when that is not a valid name."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    return host if WEBHOOK_NAME.match(host) else "webhook"


def is_loopback_host(host: str) -> bool:
    """`localhost` or a literal loopback address (127.0.0.0/8, ::1)."""
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_public_address(host: str) -> bool:
    """True unless `host` is a literal address that is not globally routable (a name counts as public)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def envelope(event_type: EventType, data: dict[str, Any], now: float) -> str:
    """The JSON body of an event: `{"type", "timestamp", "data"}`, as Standard Webhooks recommends.

    Its bytes are fixed once (stored in the outbox) so that every retry sends, and signs, the same body.
    """
    timestamp = datetime.fromtimestamp(now, tz=UTC).isoformat().replace("+00:00", "Z")
    body = {"type": event_type, "timestamp": timestamp, "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, sort_keys=False)
