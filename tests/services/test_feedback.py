"""Counting events: a batch is counted whole, and a row the store refuses is named, not a 500."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from copyloom.domain.events import EmailEvent
from copyloom.services.feedback import EventsRefused, record_events
from copyloom.storage.tables import seen_events
from tests.helpers import Workspace


def click(event_id: str) -> EmailEvent:
    return EmailEvent(
        event_id=event_id,
        kind="Click",
        time_s=1764338400,
        user_key=None,
        external_user_key=None,
        dispatch_id="d-1",
        campaign_id="camp-1",
        canvas_step_id=None,
        is_suspected_bot_click=False,
        is_machine_open=False,
    )


def test_events_the_store_refuses_are_named_and_nothing_of_the_batch_is_counted(
    workspace: Workspace,
) -> None:
    """Built directly, past the edge's validation: a lone surrogate no store can encode."""
    events = [click(f"e{i}") for i in range(40)]
    events[7] = click("bad\ud800")
    events[30] = click("worse\udfff")

    with pytest.raises(EventsRefused) as caught:
        record_events(workspace.store, workspace.tenant, events, 1764338500.0)

    assert caught.value.positions == (7, 30)
    with workspace.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(seen_events)).scalar() == 0
    good = [e for i, e in enumerate(events) if i not in (7, 30)]
    assert record_events(workspace.store, workspace.tenant, good, 1764338500.0).received == 38
