"""Webhook URLs: which are accepted, and every rejected one with its exact message; event envelopes."""

from __future__ import annotations

import json

import pytest

from copyloom.domain.alerts import EVENT_TYPES, check_webhook_url, default_webhook_name, envelope
from copyloom.errors import InvalidInput

NO_HOST = "url: expected an absolute URL with a host, e.g. https://hooks.example.com/copyloom"
NO_CREDENTIALS = "url: must not carry a user name or password; authenticate by the signature"
TOO_LONG = "url: expected a URL of at most 2048 characters, without spaces"
LOOPBACK_HINT = " (http is allowed to loopback only with COPYLOOM_WEBHOOK_ALLOW_LOOPBACK_HTTP)"

REJECTED_URLS: list[tuple[str, bool, str]] = [
    ("http://hooks.example.com/x", True, "url: must be https (got http)"),
    ("ftp://hooks.example.com/x", False, "url: must be https (got ftp)"),
    ("hooks.example.com/x", False, NO_HOST),
    ("https:///x", False, NO_HOST),
    ("https://user:pw@hooks.example.com/x", False, NO_CREDENTIALS),
    ("https://token@hooks.example.com/x", False, NO_CREDENTIALS),
    ("https://hooks.example.com/x#top", False, "url: must not have a #fragment"),
    ("https://hooks.example.com:99999/x", False, "url: not a valid URL (Port out of range 0-65535)"),
    ("https://hooks.example.com/a b", False, TOO_LONG),
    ("https://hooks.example.com/" + "x" * 2048, False, TOO_LONG),
    ("http://127.0.0.1:8080/x", False, "url: must be https (got http)" + LOOPBACK_HINT),
    ("https://127.0.0.1/x", False, "url: 127.0.0.1 is not a public address"),
    ("https://localhost/x", False, "url: localhost is not a public address"),
    ("https://10.1.2.3/x", True, "url: 10.1.2.3 is not a public address"),
    ("https://192.168.0.10/x", False, "url: 192.168.0.10 is not a public address"),
    ("https://169.254.169.254/latest/meta-data", True, "url: 169.254.169.254 is not a public address"),
    ("https://[::ffff:10.0.0.1]/x", False, "url: ::ffff:10.0.0.1 is not a public address"),
    ("https://[fd00::1]/x", False, "url: fd00::1 is not a public address"),
    ("https://0.0.0.0/x", True, "url: 0.0.0.0 is not a public address"),
    ("https://224.0.0.1/x", False, "url: 224.0.0.1 is not a public address"),
]  # fmt: skip


@pytest.mark.parametrize(("url", "allow_loopback_http", "message"), REJECTED_URLS)
def test_rejected_webhook_urls(url: str, allow_loopback_http: bool, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_webhook_url(url, allow_loopback_http=allow_loopback_http)

    assert raised.value.message == message


@pytest.mark.parametrize(
    ("url", "allow_loopback_http"),
    [
        ("https://hooks.example.com/copyloom?team=growth", False),
        ("https://93.184.215.14:8443/x", False),
        ("http://127.0.0.1:8080/x", True),
        ("http://localhost:8080/x", True),
        ("http://[::1]:8080/x", True),
    ],
)
def test_accepted_webhook_urls(url: str, allow_loopback_http: bool) -> None:
    assert check_webhook_url(url, allow_loopback_http=allow_loopback_http) == url


def test_a_webhook_is_named_after_its_host_by_default() -> None:
    assert default_webhook_name("https://hooks.example.com/x") == "hooks.example.com"
    assert default_webhook_name("http://[::1]:80/") == "webhook"


def test_an_envelope_is_the_standard_webhooks_shape() -> None:
    body = json.loads(envelope("webhook.test", {"n": 1}, 1_764_338_400.5))

    assert body == {"type": "webhook.test", "timestamp": "2025-11-28T14:00:00.500000Z", "data": {"n": 1}}


def test_the_guardrail_event_is_reserved_among_the_event_types() -> None:
    assert "experiment.guardrail_breached" in EVENT_TYPES
