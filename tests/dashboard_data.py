"""Filling an experiment through the real HTTP endpoints, and signing in to the dashboard over HTTP."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from copyloom.services import experiments as experiment_service
from copyloom.services import tenants as tenant_service
from copyloom.storage.db import Store
from copyloom.web.dashboard_security import SESSION_COOKIE, SIGN_IN_COOKIE
from tests.helpers import Workspace, make_definition


def braze_event(kind: str, user_id: str, dispatch_id: str, **properties: Any) -> dict[str, Any]:
    """One event as Braze's Custom HTTP Currents connector posts it."""
    return {
        "event_type": f"users.messages.email.{kind}",
        "id": str(uuid.uuid4()),
        "time": 1764338400,
        "user": {"user_id": user_id, "timezone": "Europe/London"},
        "properties": {"campaign_id": "camp-1", "dispatch_id": dispatch_id, **properties},
    }


def other_tenant(store: Store, tenant: str, experiment_name: str) -> Workspace:
    """Another tenant with one live experiment of its own."""
    created, tokens = tenant_service.create_tenant(store, tenant, time.time())
    definition = make_definition(name=experiment_name)
    experiment_id = experiment_service.create_experiment(store, tenant, definition, time.time())
    workspace = Workspace(store, created, tokens.serving, experiment_id, tokens.management)
    workspace.start()
    return workspace


def fill_experiment(
    client: httpx.Client, token: str, experiment_id: str, *, recipients: int, start: int = 0
) -> None:
    """Content calls for `recipients` users, then deliveries for all, and clicks, opens, bot clicks and
    machine opens for some (deterministically, by user number and served variant)."""
    auth = {"Authorization": f"Bearer {token}"}
    events = []
    for i in range(start, start + recipients):
        user = f"user-{i}"
        response = client.get(
            f"/v1/content/{experiment_id}", params={"recipient": user, "dispatch": "d-1"}, headers=auth
        )
        response.raise_for_status()
        variant = response.json()["variant_id"]
        boost = 2 if variant == "v1" else 0
        events.append(braze_event("Delivery", user, "d-1"))
        if i % 5 < 1 + boost:
            events.append(braze_event("Click", user, "d-1"))
        if i % 3 == 0:
            events.append(braze_event("Open", user, "d-1"))
        if i % 11 == 0:
            events.append(braze_event("Click", user, "d-1", is_suspected_bot_click=True))
        if i % 7 == 0:
            events.append(braze_event("Open", user, "d-1", machine_open="true"))
    for first in range(0, len(events), 500):
        client.post(
            "/v1/events", json={"events": events[first : first + 500]}, headers=auth
        ).raise_for_status()


@dataclass
class DashboardSession:
    """A signed-in dashboard over plain httpx: its session cookie and CSRF token, sent explicitly.

    (httpx's cookie jar, like the standard library's, will not send a `Secure` cookie over http://.)
    """

    client: httpx.Client
    cookie: str
    csrf_token: str

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path, headers={"Cookie": f"{SESSION_COOKIE}={self.cookie}"})

    def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        return self.client.post(path, data=data, headers={"Cookie": f"{SESSION_COOKIE}={self.cookie}"})


def cookie_value(response: httpx.Response, name: str) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        match = re.match(rf"{name}=([^;]*)", header)
        if match:
            return match.group(1)
    return None


def csrf_in(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in_response(client: httpx.Client, tenant: str, password: str) -> httpx.Response:
    form = client.get("/dashboard/sign-in")
    sign_in_cookie = cookie_value(form, SIGN_IN_COOKIE)
    return client.post(
        "/dashboard/sign-in",
        data={"tenant": tenant, "password": password, "csrf_token": csrf_in(form.text)},
        headers={"Cookie": f"{SIGN_IN_COOKIE}={sign_in_cookie}"},
    )


def sign_in(client: httpx.Client, tenant: str, password: str) -> DashboardSession:
    response = sign_in_response(client, tenant, password)
    assert response.status_code == 303, response.text
    cookie = cookie_value(response, SESSION_COOKIE)
    assert cookie
    page = client.get("/dashboard/", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
    return DashboardSession(client, cookie, csrf_in(page.text))
