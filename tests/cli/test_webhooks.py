"""`copyloom tenant webhook`: add (the secret shown once), list, test against a real receiver, the
delivery log, remove; bad input named by its field."""

from __future__ import annotations

import pytest
from standardwebhooks import Webhook as Verifier

from tests.cli.runner import Cli
from tests.webhook_receiver import Receiver


@pytest.fixture
def loopback_cli(database_url: str) -> Cli:
    """The command line on an initialised store with a tenant, allowed to send to a loopback receiver."""
    cli = Cli(database_url, COPYLOOM_WEBHOOK_ALLOW_LOOPBACK_HTTP="true")
    cli.run("init")
    cli.run("tenant", "create", "acme")
    return cli


def test_add_prints_the_secret_once_and_list_never_shows_it(loopback_cli: Cli) -> None:
    added = loopback_cli.json("tenant", "webhook", "add", "acme", "https://hooks.example.com/copyloom")
    text = loopback_cli.run("tenant", "webhook", "add", "acme", "https://hooks.example.com/b", "--name", "b")

    listed = loopback_cli.json("tenant", "webhook", "list", "acme")
    assert added["webhook"] == "hooks.example.com"
    assert added["secret"].startswith("whsec_")
    assert "signing secret (shown only once): whsec_" in text.stdout
    assert [w["webhook"] for w in listed] == ["b", "hooks.example.com"]
    assert "whsec_" not in loopback_cli.run("tenant", "webhook", "list", "acme", "--json").stdout


def test_test_sends_a_signed_event_and_deliveries_lists_its_attempts(loopback_cli: Cli) -> None:
    with Receiver() as receiver:
        added = loopback_cli.json("tenant", "webhook", "add", "acme", receiver.url, "--name", "ops")
        sent = loopback_cli.json("tenant", "webhook", "test", "acme", "ops")

    [request] = receiver.received
    assert Verifier(added["secret"]).verify(request.body, request.headers)["type"] == "webhook.test"
    assert (sent["delivered"], sent["status_code"]) == (True, 200)
    [delivery] = loopback_cli.json("tenant", "webhook", "deliveries", "acme")
    assert (delivery["event_id"], delivery["status"], delivery["webhook"]) == (
        sent["event_id"],
        "delivered",
        "ops",
    )
    assert [a["status_code"] for a in delivery["attempts"]] == [200]
    text = loopback_cli.run("tenant", "webhook", "deliveries", "acme", "--limit", "5").stdout
    assert "webhook.test" in text
    assert "delivered" in text


def test_a_test_to_a_receiver_that_is_down_fails_and_stays_pending(loopback_cli: Cli) -> None:
    receiver = Receiver()  # never started: the connection is refused
    loopback_cli.run("tenant", "webhook", "add", "acme", receiver.url, "--name", "ops")

    result = loopback_cli.run("tenant", "webhook", "test", "acme", "ops", ok=False)

    assert result.returncode == 1
    assert "not delivered (ConnectError" in result.stdout
    [delivery] = loopback_cli.json("tenant", "webhook", "deliveries", "acme")
    assert delivery["status"] == "pending"
    assert delivery["next_attempt_at"] is not None


def test_remove_takes_a_webhook_out_of_service(loopback_cli: Cli) -> None:
    loopback_cli.run("tenant", "webhook", "add", "acme", "https://hooks.example.com/x", "--name", "ops")

    loopback_cli.run("tenant", "webhook", "remove", "acme", "ops")

    assert loopback_cli.json("tenant", "webhook", "list", "acme") == []
    missing = loopback_cli.run("tenant", "webhook", "remove", "acme", "ops", ok=False)
    assert missing.stderr == "error: webhook: acme has no webhook named 'ops'\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "acme", "http://hooks.example.com/x"], "url: must be https (got http)"),
        (["add", "acme", "https://u:p@hooks.example.com/x"], "url: must not carry a user name or password"),
        (["add", "acme", "https://10.0.0.7/x"], "url: 10.0.0.7 is not a public address"),
        (["add", "acme", "https://hooks.example.com/x", "--name", "-x"], "webhook: use 1 to 100 letters"),
        (["add", "globex", "https://hooks.example.com/x"], "tenant: no tenant named 'globex'"),
        (["test", "acme", "ops"], "webhook: acme has no webhook named 'ops'"),
        (["deliveries", "globex"], "tenant: no tenant named 'globex'"),
    ],
)
def test_bad_input_is_named_by_its_field(loopback_cli: Cli, args: list[str], message: str) -> None:
    result = loopback_cli.run("tenant", "webhook", *args, ok=False)

    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {message}")


def test_plain_http_to_loopback_needs_the_setting(database_url: str) -> None:
    cli = Cli(database_url)
    cli.run("init")
    cli.run("tenant", "create", "acme")

    result = cli.run("tenant", "webhook", "add", "acme", "http://127.0.0.1:9/x", "--json", ok=False)

    assert result.stderr.startswith('{"error": {"code": "invalid_input", "message": "url: must be https')


def test_a_name_is_unique_per_tenant(loopback_cli: Cli) -> None:
    loopback_cli.run("tenant", "webhook", "add", "acme", "https://hooks.example.com/x")

    again = loopback_cli.run("tenant", "webhook", "add", "acme", "https://hooks.example.com/y", ok=False)

    assert again.stderr == "error: webhook: acme already has a webhook named 'hooks.example.com'\n"
