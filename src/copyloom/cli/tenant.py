"""`copyloom tenant`: tenants (one per Braze workspace), their serving and management tokens, passwords and
sources."""

from __future__ import annotations

import time
from typing import cast, get_args

import click

from copyloom.cli.common import current_settings, emit, handles_errors, json_option, ready_store
from copyloom.domain.values import TOKEN_SCOPES, BotClickRule, IdTransform, TokenScope


@click.group()
def tenant() -> None:
    """Tenants (one per Braze workspace) and their tokens: a serving token for Braze (content, pixel,
    events) and a management token for the management API."""


@tenant.command(name="create")
@click.argument("name")
@json_option
@handles_errors
def tenant_create(name: str, as_json: bool) -> None:
    """Create a tenant and print its serving token (`token`, for Braze templates) and its management token
    (`management_token`, for the management API), each shown only this once."""
    from copyloom.services import tenants as tenant_service

    created, tokens = tenant_service.create_tenant(ready_store(current_settings()), name, time.time())
    data = {
        "tenant_id": created.tenant_id,
        "name": created.name,
        "token": tokens.serving,
        "management_token": tokens.management,
    }
    text = (
        f"tenant {created.name} ({created.tenant_id})\n"
        f"serving token (shown only once): {tokens.serving}\n"
        f"management token (shown only once): {tokens.management}"
    )
    emit(data, as_json, text)


@tenant.command(name="rotate-token")
@click.argument("name")
@click.option(
    "--scope",
    type=click.Choice(TOKEN_SCOPES),
    default="serving",
    show_default=True,
    help="Which token: serving (Braze templates) or management (the management API).",
)
@json_option
@handles_errors
def tenant_rotate_token(name: str, scope: str, as_json: bool) -> None:
    """Revoke the tenant's token of one scope and print a new one (shown only this once); the token of the
    other scope keeps working."""
    from copyloom.services import tenants as tenant_service

    chosen = cast(TokenScope, scope)
    token = tenant_service.rotate_token(ready_store(current_settings()), name, time.time(), chosen)
    emit(
        {"name": name, "scope": chosen, "token": token},
        as_json,
        f"new {chosen} token (shown only once): {token}",
    )


@tenant.command(name="revoke")
@click.argument("name")
@click.option(
    "--scope",
    type=click.Choice(TOKEN_SCOPES),
    default=None,
    help="Only the tokens of this scope (default: every token of the tenant).",
)
@json_option
@handles_errors
def tenant_revoke(name: str, scope: str | None, as_json: bool) -> None:
    """Revoke the tenant's tokens, of one scope or all (refused within the cache refresh time)."""
    from copyloom.services import tenants as tenant_service

    chosen = cast(TokenScope | None, scope)
    revoked = tenant_service.revoke_tokens(ready_store(current_settings()), name, time.time(), chosen)
    data = {"name": name, "scope": chosen, "revoked": revoked}
    emit(data, as_json, f"revoked {revoked} {chosen or 'serving and management'} token(s) of {name}")


@tenant.command(name="dashboard-password")
@click.argument("name")
@json_option
@handles_errors
def tenant_dashboard_password(name: str, as_json: bool) -> None:
    """Set a new dashboard sign-in password for the tenant and print it (shown only this once). Running it
    again replaces the password and signs every dashboard session of the tenant out."""
    from copyloom.services import dashboard_access

    password = dashboard_access.issue_dashboard_password(ready_store(current_settings()), name, time.time())
    text = f"dashboard password for {name} (shown only once): {password}"
    emit({"name": name, "password": password}, as_json, text)


@tenant.command(name="set-id-transform")
@click.argument("name")
@click.argument("transform", type=click.Choice(get_args(IdTransform)))
@json_option
@handles_errors
def tenant_set_id_transform(name: str, transform: str, as_json: bool) -> None:
    """Hash content-endpoint recipients with SHA-256 first, when the Current hashes user ids (Braze's
    field transformation), so that events still join their assignments."""
    from copyloom.services import tenants as tenant_service

    updated = tenant_service.set_id_transform(
        ready_store(current_settings()), name, cast(IdTransform, transform)
    )
    emit({"name": name, "id_transform": updated.id_transform}, as_json, f"{name}: id transform {transform}")


@tenant.command(name="set-bot-clicks")
@click.argument("name")
@click.argument("rule", type=click.Choice(get_args(BotClickRule)))
@json_option
@handles_errors
def tenant_set_bot_clicks(name: str, rule: str, as_json: bool) -> None:
    """Choose which Currents clicks are bot clicks, never rewarded: `flag`, only those Braze flags
    is_suspected_bot_click (filled only when the workspace's Bot Filtering is on); `flag_or_reason` (the
    default), also those with a suspected_bot_click_reason, which Braze fills whatever the setting."""
    from copyloom.services import tenants as tenant_service

    updated = tenant_service.set_bot_clicks(ready_store(current_settings()), name, cast(BotClickRule, rule))
    emit({"name": name, "bot_clicks": updated.bot_clicks}, as_json, f"{name}: bot clicks by {rule}")


@tenant.command(name="list")
@json_option
@handles_errors
def tenant_list(as_json: bool) -> None:
    """List tenants."""
    from copyloom.services import tenants as tenant_service

    found = tenant_service.list_tenants(ready_store(current_settings()))
    data = [
        {"tenant_id": t.tenant_id, "name": t.name, "id_transform": t.id_transform, "bot_clicks": t.bot_clicks}
        for t in found
    ]
    emit(data, as_json, "\n".join(f"{t.name}\t{t.tenant_id}" for t in found) or "no tenants")


@tenant.command(name="set-source")
@click.argument("name")
@click.argument("source")
@click.option("--credentials-ref", default=None, help="AWS profile to read an s3:// source with.")
@json_option
@handles_errors
def tenant_set_source(name: str, source: str, credentials_ref: str | None, as_json: bool) -> None:
    """Store the tenant's Currents source (s3://bucket/prefix or a folder), polled by `copyloom worker`."""
    from copyloom.services import ingestion

    stored = ingestion.set_source(ready_store(current_settings()), name, source, credentials_ref, time.time())
    data = {"name": name, "source": stored.uri, "credentials_ref": stored.credentials_ref}
    emit(data, as_json, f"{name}: source {stored.uri}")
