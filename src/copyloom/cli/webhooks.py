"""`copyloom tenant webhook`: the URLs a tenant's alerts are POSTed to, signed, and the delivery log."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from copyloom.cli.common import current_settings, emit, handles_errors, json_option, ready_store
from copyloom.cli.tenant import tenant

if TYPE_CHECKING:
    from copyloom.domain.alerts import Webhook
    from copyloom.storage.alerts import Attempt, Delivery


@tenant.group(name="webhook")
def webhook() -> None:
    """Webhooks: where a tenant's alerts go (a winner declared, a variant retired automatically, a learner
    failure), as JSON POSTs signed by the Standard Webhooks scheme. See docs/alerts.md."""


@webhook.command(name="add")
@click.argument("name")
@click.argument("url")
@click.option(
    "--name",
    "webhook_name",
    default=None,
    help="What to call it in `list`, `remove` and `test` (default: the URL's host).",
)
@json_option
@handles_errors
def webhook_add(name: str, url: str, webhook_name: str | None, as_json: bool) -> None:
    """Send the alerts of tenant NAME to URL (https), and print the secret its requests are signed with
    (`whsec_…`, shown only this once)."""
    from copyloom.domain.alerts import default_webhook_name
    from copyloom.services import alerts

    settings = current_settings()
    added = alerts.add_webhook(
        ready_store(settings),
        name,
        webhook_name or default_webhook_name(url),
        url,
        time.time(),
        allow_loopback_http=settings.webhook_allow_loopback_http,
    )
    data = {**_webhook_json(added), "secret": added.secret}
    emit(
        data,
        as_json,
        f"webhook {added.name} -> {added.url}\nsigning secret (shown only once): {added.secret}",
    )


@webhook.command(name="list")
@click.argument("name")
@json_option
@handles_errors
def webhook_list(name: str, as_json: bool) -> None:
    """List the webhooks of tenant NAME (never their secrets)."""
    from copyloom.services import alerts

    found = alerts.list_webhooks(ready_store(current_settings()), name)
    text = "\n".join(f"{w.name}\t{w.url}" for w in found) or "no webhooks"
    emit([_webhook_json(w) for w in found], as_json, text)


@webhook.command(name="remove")
@click.argument("name")
@click.argument("webhook_name", metavar="WEBHOOK")
@json_option
@handles_errors
def webhook_remove(name: str, webhook_name: str, as_json: bool) -> None:
    """Stop sending alerts to WEBHOOK; its pending deliveries are given up (the log keeps them)."""
    from copyloom.services import alerts

    alerts.remove_webhook(ready_store(current_settings()), name, webhook_name, time.time())
    emit({"name": name, "webhook": webhook_name, "removed": True}, as_json, f"{name}: removed {webhook_name}")


@webhook.command(name="test")
@click.argument("name")
@click.argument("webhook_name", metavar="WEBHOOK")
@json_option
@handles_errors
def webhook_test(name: str, webhook_name: str, as_json: bool) -> None:
    """Send a `webhook.test` event to WEBHOOK now and say how the receiver answered; if it failed, the
    delivery loop (`copyloom serve`, `worker` or `learn`) retries it."""
    from copyloom.services import alerts

    settings = current_settings()
    store = ready_store(settings)
    event_id = alerts.send_test(store, name, webhook_name, time.time())
    with alerts.delivery_client() as client:
        sent = alerts.deliver_due(
            store, time.time(), client=client, allow_loopback_http=settings.webhook_allow_loopback_http
        )
    mine = [s for s in sent if s.event_id == event_id]
    attempt = mine[0].attempt if mine else None
    delivered = bool(mine and mine[0].delivered)
    data = {
        "event_id": event_id,
        "delivered": delivered,
        "status_code": attempt.status_code if attempt else None,
        "error": attempt.error if attempt else None,
    }
    text = f"{event_id}: " + ("delivered" if delivered else f"not delivered ({data['error']}), will retry")
    emit(data, as_json, text)
    if not delivered:
        raise SystemExit(1)


@webhook.command(name="deliveries")
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="Newest N.")
@json_option
@handles_errors
def webhook_deliveries(name: str, limit: int, as_json: bool) -> None:
    """The delivery log of tenant NAME, newest first: each event, its webhook, status and attempts."""
    from copyloom.services import alerts

    found = alerts.deliveries(ready_store(current_settings()), name, limit)
    data = [_delivery_json(d, attempts) for d, attempts in found]
    lines = [
        f"{_when(d.created_at)}  {d.event_type:<28} {d.webhook_name:<16} {d.status:<9} "
        f"attempts={d.attempts} last={d.last_status_code or d.last_error or '-'}  {d.event_id}"
        for d, _ in found
    ]
    emit(data, as_json, "\n".join(lines) or "no deliveries")


def _webhook_json(webhook: Webhook) -> dict[str, Any]:
    return {"webhook": webhook.name, "url": webhook.url, "created_at": webhook.created_at}


def _delivery_json(delivery: Delivery, attempts: list[Attempt]) -> dict[str, Any]:
    return {
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "webhook": delivery.webhook_name,
        "status": delivery.status,
        "created_at": delivery.created_at,
        "attempts": [
            {
                "attempt": a.attempt,
                "attempted_at": a.attempted_at,
                "duration_ms": round(a.duration_ms, 1),
                "status_code": a.status_code,
                "error": a.error,
            }
            for a in attempts
        ],
        "next_attempt_at": delivery.next_attempt_at,
        "delivered_at": delivery.delivered_at,
    }


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")
