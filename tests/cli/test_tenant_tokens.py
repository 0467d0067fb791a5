"""`copyloom tenant create | rotate-token | revoke`: a serving and a management token per tenant, each
shown once, rotated and revoked on its own."""

from __future__ import annotations

import pytest

from copyloom.errors import Unauthorized
from copyloom.services import tenants
from copyloom.storage.db import open_store
from tests.cli.runner import Cli


def _scope_of(cli: Cli, token: str) -> str | None:
    """The scope the store knows the token by, None when it is unknown or revoked."""
    store = open_store(cli.env["COPYLOOM_DATABASE_URL"])
    try:
        return tenants.credential_of(store, token).scope
    except Unauthorized:
        return None
    finally:
        store.dispose()


def test_create_prints_the_serving_token_as_token_and_the_management_token(cli: Cli) -> None:
    created = cli.json("tenant", "create", "acme")

    assert _scope_of(cli, created["token"]) == "serving"
    assert _scope_of(cli, created["management_token"]) == "management"


def test_create_shows_both_tokens_as_text(cli: Cli) -> None:
    printed = cli.run("tenant", "create", "acme").stdout

    assert "serving token (shown only once): cl_" in printed
    assert "management token (shown only once): cl_" in printed


def test_rotate_token_replaces_the_serving_token_by_default(cli: Cli) -> None:
    created = cli.json("tenant", "create", "acme")

    rotated = cli.json("tenant", "rotate-token", "acme")

    assert rotated["scope"] == "serving"
    assert _scope_of(cli, rotated["token"]) == "serving"
    assert _scope_of(cli, created["token"]) is None
    assert _scope_of(cli, created["management_token"]) == "management"


def test_rotate_token_replaces_the_management_token_on_its_own(cli: Cli) -> None:
    created = cli.json("tenant", "create", "acme")

    rotated = cli.json("tenant", "rotate-token", "acme", "--scope", "management")

    assert _scope_of(cli, rotated["token"]) == "management"
    assert _scope_of(cli, created["management_token"]) is None
    assert _scope_of(cli, created["token"]) == "serving"


@pytest.mark.parametrize(
    ("args", "revoked", "left"),
    [
        ((), 2, set()),
        (("--scope", "serving"), 1, {"management_token"}),
        (("--scope", "management"), 1, {"token"}),
    ],
)
def test_revoke_takes_every_token_or_one_scope(
    cli: Cli, args: tuple[str, ...], revoked: int, left: set[str]
) -> None:
    created = cli.json("tenant", "create", "acme")

    answer = cli.json("tenant", "revoke", "acme", *args)

    assert answer["revoked"] == revoked
    working = {key for key in ("token", "management_token") if _scope_of(cli, created[key]) is not None}
    assert working == left


def test_an_unknown_scope_is_refused(cli: Cli) -> None:
    cli.json("tenant", "create", "acme")

    result = cli.run("tenant", "rotate-token", "acme", "--scope", "admin", ok=False)

    assert result.returncode == 2
    assert "'admin' is not one of 'serving', 'management'" in result.stderr
