"""One tenant's bad request never hurts another (DESIGN.md, contract 9), through a real server.

Tenant A sends concurrent content calls while tenant B sends every poison value found when copyloom
was attacked as a hostile tenant (issue 16): each of A's calls must be answered 200 and stored, and
each of B's refused with a 4xx, never a 5xx. Before the one rule for text at the edge, a NUL dispatch
failed whole group-commit batches on PostgreSQL (every tenant's requests in them got a 500), and lone
surrogates did the same on both stores.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import sqlalchemy as sa

from copyloom.storage.tables import assignments
from tests.helpers import Api, make_workspace
from tests.web.test_events import braze_event

Send = Callable[[httpx.Client], httpx.Response]
A_REQUESTS = 400
LONG = 60_000  # over every limit, and still within httpx's URL length and the test server's body limit


def _content_poison(url: str) -> list[Send]:
    json_headers = {"Content-Type": "application/json"}

    def get(**params: str) -> Send:
        return lambda client: client.get(url, params=params)

    def post(body: bytes) -> Send:
        return lambda client: client.post(url, content=body, headers=json_headers)

    return [
        get(recipient="r", dispatch="a\x00b"),
        get(recipient="r\x00", dispatch="d"),
        get(recipient="r\x1b[2J", dispatch="d"),
        get(recipient="r", dispatch="d\x85"),
        get(recipient="r" * LONG),
        get(recipient="r", dispatch="d" * LONG),
        lambda client: client.get(url.rsplit("/", 1)[0] + "/" + "e" * LONG, params={"recipient": "r"}),
        post(b'{"recipient": "\\ud800", "dispatch": "d"}'),
        post(b'{"recipient": "r", "dispatch": "\\ud800"}'),
        post(b'{"recipient": "r", "dispatch": "a\\u0000b"}'),
        post(b'{"recipient": ' + b"9" * 4301 + b"}"),
        post(b"[" * 30_000 + b"]" * 30_000),
        post(b'{"recipient": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"),
    ]


def _event_poison() -> list[Send]:
    def event(**changes: Any) -> Send:
        body = braze_event("Click", "user-b", "d-1")
        for path, value in changes.items():
            section, _, name = path.rpartition(".")
            (body[section] if section else body)[name] = value
        return lambda client: client.post("/v1/events", content=_ascii_json({"events": [body]}))

    return [
        event(id="e\ud800"),
        event(**{"user.user_id": "\ud800"}),
        event(**{"properties.dispatch_id": "d\ud800"}),
        event(**{"properties.campaign_id": "\udfffc"}),
        event(id="e" * LONG),
        event(**{"properties.campaign_id": "c" * LONG}),
        event(id="e\x00vent"),
        event(**{"user.external_user_id": "x\x00"}),
        lambda client: client.post("/v1/events", content=b'{"events": [' + b"7" * 4301 + b"]}"),
        lambda client: client.post("/v1/events", content=b"[" * 30_000 + b"]" * 30_000),
    ]


def _ascii_json(body: object) -> bytes:
    """JSON with every non-ASCII character escaped: how a lone surrogate travels (`"\\ud800"`)."""
    return json.dumps(body).encode()


def test_one_tenants_poison_never_hurts_another_tenants_content_calls(api: Api, store: Any) -> None:
    a = make_workspace(store, "tenant-a")
    b = make_workspace(store, "tenant-b")
    poison = _content_poison(f"/v1/content/{b.experiment_id}") + _event_poison()
    stop = threading.Event()
    b_statuses: list[tuple[int, int]] = []

    def tenant_b() -> None:
        with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {b.token}"}, timeout=30) as c:
            while not stop.is_set() or len(b_statuses) < len(poison):
                for index, send in enumerate(poison):
                    b_statuses.append((index, send(c).status_code))

    def tenant_a(i: int) -> int:
        return api.content(a.token, a.experiment_id, recipient=f"a-{i}", dispatch=f"d-{i % 7}").status_code

    with ThreadPoolExecutor(max_workers=3) as poisoners:
        attacks = [poisoners.submit(tenant_b) for _ in range(3)]
        with ThreadPoolExecutor(max_workers=8) as senders:
            a_statuses = list(senders.map(tenant_a, range(A_REQUESTS)))
        stop.set()
        for attack in attacks:
            attack.result()

    assert a_statuses == [200] * A_REQUESTS
    with store.read() as conn:
        stored = conn.execute(
            sa.select(sa.func.count())
            .select_from(assignments)
            .where(assignments.c.experiment_id == a.experiment_id)
        ).scalar()
    assert stored == A_REQUESTS
    assert {index for index, _ in b_statuses} == set(range(len(poison)))
    refused_with_a_5xx = sorted({index for index, status in b_statuses if not 400 <= status < 500})
    assert refused_with_a_5xx == []
    assert api.client.get("/healthz").json() == {"status": "ok"}


def test_a_poisoned_events_batch_counts_nothing_and_the_next_good_one_counts(api: Api, store: Any) -> None:
    b = make_workspace(store, "tenant-b")
    good = braze_event("Click", "user-b", "d-1")
    bad = {**braze_event("Click", "user-b", "d-1"), "id": f"{uuid.uuid4()}\ud800"}

    refused = api.client.post(
        "/v1/events",
        content=_ascii_json({"events": [good, bad]}),
        headers={"Authorization": f"Bearer {b.token}"},
    )
    counted = api.events(b.token, {"events": [good]})

    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        "events[1].id: not valid Unicode (lone surrogate U+D800) at character 37"
    )
    assert counted.status_code == 200
    assert counted.json()["received"] == 1
    assert counted.json()["duplicate"] == 0
