"""What an event counts as for its assignment."""

from __future__ import annotations

from copyloom.domain.events import EmailEvent
from copyloom.domain.values import RecipientKey


def event(kind: str, **flags: bool) -> EmailEvent:
    return EmailEvent("e1", kind, 0, RecipientKey("a"), None, "d", None, None, **flags)  # type: ignore[arg-type]


def test_event_kinds_keep_bots_and_machine_opens_apart_and_count_outcomes() -> None:
    assert event("Click").engagement_kind == "click"
    assert event("Click", is_suspected_bot_click=True).engagement_kind == "bot_click"
    assert event("Open").engagement_kind == "open"
    assert event("Open", is_machine_open=True).engagement_kind == "machine_open"
    assert event("Send").engagement_kind == "braze_send"
    assert event("Delivery").engagement_kind == "delivery"
    assert event("MarkAsSpam").engagement_kind == "spam"
    assert event("SoftBounce").engagement_kind is None
    assert event("Other").engagement_kind is None
