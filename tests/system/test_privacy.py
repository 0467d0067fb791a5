"""No personal data is stored: the sample payloads go in, none of their PII comes out.

After serving content to the sample recipients and posting every Custom HTTP Currents sample (as Braze
sends it, and again with distinctive personal values), the whole database is searched for those values.
The samples are generated, then Braze's own (see `tests/currents_samples.py`).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from copyloom.ingest.currents_schemas import EMAIL_EVENT_KINDS
from copyloom.storage.db import Store
from copyloom.storage.tables import metadata
from tests.currents_samples import Samples
from tests.helpers import Api, Workspace


def personal_values(index: int) -> dict[str, str]:
    return {
        "user_id": f"5f9e1c2a7b3d4e{index:010d}",
        "external_user_id": f"crm-customer-{index:06d}",
        "email_address": f"jane.doe.{index}@mailbox.example.org",
        "user_agent": f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) SampleMail/{index}",
        "url": f"https://shop.example/track?email=jane.doe.{index}%40mailbox.example.org",
        "timezone": "Pacific/Chatham",
        "message_extras": json.dumps({"loyalty_card": f"LC-{index:08d}"}),
        "bounce_reason": f"550 5.1.1 <jane.doe.{index}@mailbox.example.org> unknown",
        "abort_log": f"aborted for jane.doe.{index}@mailbox.example.org",
        "deferral_reason": f"421 try later jane.doe.{index}",
        "ip_pool": f"pool-private-{index}",
    }


def personalised(sample: dict[str, Any], index: int) -> dict[str, Any]:
    event = copy.deepcopy(sample)
    values = personal_values(index)
    event["id"] = f"{sample['id']}-{index}"
    event["user"]["user_id"] = values["user_id"]
    event["user"]["external_user_id"] = values["external_user_id"]
    event["user"]["timezone"] = values["timezone"]
    for key in (
        "email_address",
        "user_agent",
        "url",
        "message_extras",
        "bounce_reason",
        "abort_log",
        "deferral_reason",
        "ip_pool",
    ):
        if key in event["properties"]:
            event["properties"][key] = values[key]
    return event


def database_text(store: Store, database_url: str) -> bytes:
    """Every byte the database holds: the SQLite file with its WAL, or every PostgreSQL row as text."""
    if store.is_sqlite:
        path = Path(database_url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    with store.read() as conn:
        rows = [
            conn.execute(sa.select(sa.func.row_to_json(sa.text(t.name)).label("r")).select_from(t)).all()
            for t in metadata.sorted_tables
        ]
    return json.dumps([[str(r) for r in table] for table in rows]).encode()


def test_no_email_user_agent_or_raw_user_id_is_stored(
    api: Api, workspace: Workspace, database_url: str, samples: Samples
) -> None:
    as_braze_sends = [samples.http_event(kind) for kind in EMAIL_EVENT_KINDS]
    assert len(as_braze_sends) == 11
    events = [personalised(sample, i) for i, sample in enumerate(as_braze_sends)]
    for event in events:
        user = event["user"]["user_id"]
        response = api.content(
            workspace.token,
            workspace.experiment_id,
            recipient=user,
            dispatch=event["properties"]["dispatch_id"],
        )
        assert response.status_code == 200

    as_sent = api.events(workspace.token, {"events": as_braze_sends})
    distinct = api.events(workspace.token, {"events": events})

    assert as_sent.status_code == distinct.status_code == 200
    # Click, Open, Send, Delivery, Bounce, Unsubscribe and MarkAsSpam are attributed; the rest ignored.
    assert (distinct.json()["accepted"], distinct.json()["ignored"]) == (7, 4), distinct.json()
    stored = database_text(workspace.store, database_url)
    forbidden = {samples.email_address, samples.user_agent}
    for i in range(len(events)):
        forbidden |= set(personal_values(i).values())
    found = sorted(value for value in forbidden if value.encode() in stored)
    assert found == []
