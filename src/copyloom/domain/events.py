"""What Braze reports about an email and what each event counts as for its assignment.

Pure: no IO, clock, environment or global random state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

from copyloom.domain.values import Metric, RecipientKey

EngagementKind = Literal[
    "click", "cta_click", "open", "bot_click", "machine_open", "pixel_open", "braze_send", "delivery",
    "bounce", "unsubscribe", "spam",
]  # fmt: skip
"""What an event records about one assignment, at most once each: clicks and opens (bots and machine
opens apart), and the delivery outcomes counted per variant.

`open` is a Currents Open without `machine_open`; `pixel_open` is a load of copyloom's own pixel, which
Apple Mail Privacy Protection and other proxies load without anyone reading. An assignment has a real
open when it has an `open`, or a `pixel_open` and no `machine_open` (whichever arrived first): only real
opens are counted as opens (`storage.assignments.cohort_counts`). A `cta_click` is a click (not a bot's)
on a link whose alias is one of its experiment's `cta_links`, recorded beside the `click`."""
METRIC_KIND: dict[Metric, EngagementKind] = {"click": "click", "open": "open", "cta_click": "cta_click"}
"""The engagement each metric counts."""
EventKind = Literal[
    "Send",
    "Delivery",
    "Open",
    "Click",
    "Bounce",
    "SoftBounce",
    "MarkAsSpam",
    "Unsubscribe",
    "Abort",
    "Deferral",
    "Retry",
    "Other",
]

EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)


@dataclass(frozen=True, slots=True)
class EmailEvent:
    """One Braze email engagement event, already stripped of PII and pseudonymised at the edge."""

    event_id: str
    kind: EventKind
    time_s: int
    user_key: RecipientKey | None
    external_user_key: RecipientKey | None
    dispatch_id: str | None
    campaign_id: str | None
    canvas_step_id: str | None
    is_suspected_bot_click: bool = False
    is_machine_open: bool = False
    has_bot_click_reason: bool = False
    """Braze gave a `suspected_bot_click_reason` (its text is never kept): whether that makes the click a
    bot click is the tenant's rule (`BotClickRule`), applied where events are counted."""
    link_alias: str | None = None
    """The clicked link's Braze alias: `cta_click` experiments count only their CTA's aliases."""

    @property
    def engagement_kind(self) -> EngagementKind | None:
        """What this event counts as for its assignment, or None for event types that are not counted."""
        return engagement_kind(self.kind, self.is_suspected_bot_click, self.is_machine_open)

    def counted(self) -> CountedEvent:
        """The event as `count_events` takes it."""
        return CountedEvent(
            self.event_id,
            self.kind,
            self.time_s,
            self.user_key,
            self.external_user_key,
            self.dispatch_id,
            self.canvas_step_id or self.campaign_id or "",
            self.engagement_kind,
            self.has_bot_click_reason,
            self.link_alias,
        )


class CountedEvent(NamedTuple):
    """An event reduced to what counting it needs: deduplication, attribution and the unattributed tally.

    A named tuple rather than a dataclass: a Currents file makes one per event, and a tuple is several
    times cheaper to build.
    """

    event_id: str
    kind: EventKind
    time_s: int
    user_key: RecipientKey | None
    external_user_key: RecipientKey | None
    dispatch_id: str | None
    source_id: str  # the Canvas step id, else the campaign id, else empty: unattributed events' key
    engagement_kind: EngagementKind | None
    has_bot_click_reason: bool = False  # see `EmailEvent`
    link_alias: str | None = None


def engagement_kind(
    kind: EventKind, is_suspected_bot_click: bool, is_machine_open: bool
) -> EngagementKind | None:
    """What an event of this kind counts as for its assignment, or None for kinds that are not counted."""
    if kind == "Click":
        return "bot_click" if is_suspected_bot_click else "click"
    if kind == "Open":
        return "machine_open" if is_machine_open else "open"
    return _OUTCOME_KINDS.get(kind)


_OUTCOME_KINDS: dict[EventKind, EngagementKind] = {
    "Send": "braze_send",
    "Delivery": "delivery",
    "Bounce": "bounce",
    "Unsubscribe": "unsubscribe",
    "MarkAsSpam": "spam",
}
