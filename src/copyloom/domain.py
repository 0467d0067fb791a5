"""Value types shared by every layer, the experiment-definition rules, and pseudonymisation.

Pure: no IO, clock, environment or global random state.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple, NewType, TypeGuard, TypeVar, get_args

from copyloom.errors import InvalidInput

TenantId = NewType("TenantId", str)
ExperimentId = NewType("ExperimentId", str)
VariantId = str
RecipientKey = NewType("RecipientKey", str)
"""Hex HMAC-SHA-256 of a raw recipient id under the tenant's key: the only form a recipient is kept in."""

Mode = Literal["broadcast", "triggered"]
Metric = Literal["click", "open"]
RecipientField = Literal["user_id", "external_user_id"]
StickyScope = Literal["recipient", "dispatch"]
Status = Literal["draft", "live", "paused", "finished"]
IdTransform = Literal["none", "sha256"]
EngagementKind = Literal[
    "click", "open", "bot_click", "machine_open", "braze_send", "delivery", "bounce", "unsubscribe", "spam"
]
"""What an event records about one assignment, at most once each: clicks and opens (bots and machine
opens apart), and the delivery outcomes counted per variant."""
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

_T = TypeVar("_T", bound=str)

MODES: tuple[Mode, ...] = get_args(Mode)
METRICS: tuple[Metric, ...] = get_args(Metric)
RECIPIENT_FIELDS: tuple[RecipientField, ...] = get_args(RecipientField)
STICKY_SCOPES: tuple[StickyScope, ...] = get_args(StickyScope)
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)
MIN_VARIANTS = 2
MAX_VARIANTS = 10
MAX_TEXT_CHARS = 2000
MAX_ID_CHARS = 64
DEFAULT_FLOOR = 0.01
DEFAULT_CONTROL_HOLDOUT = 0.0
DEFAULT_MIN_SENDS_PER_VARIANT = 100
MAX_MIN_SENDS_PER_VARIANT = 1_000_000


@dataclass(frozen=True, slots=True)
class Tenant:
    tenant_id: TenantId
    name: str
    pseudonym_key: bytes
    id_transform: IdTransform = "none"


@dataclass(frozen=True, slots=True)
class Variant:
    variant_id: VariantId
    texts: Mapping[str, str]
    is_control: bool = False


@dataclass(frozen=True, slots=True)
class ExperimentDefinition:
    name: str
    mode: Mode
    metric: Metric
    recipient_field: RecipientField
    sticky: StickyScope
    variants: tuple[Variant, ...]
    floor: float = DEFAULT_FLOOR
    control_holdout: float = DEFAULT_CONTROL_HOLDOUT
    min_sends_per_variant: int = DEFAULT_MIN_SENDS_PER_VARIANT

    @property
    def placements(self) -> tuple[str, ...]:
        return tuple(self.variants[0].texts)

    @property
    def control(self) -> Variant:
        return next(v for v in self.variants if v.is_control)


@dataclass(frozen=True, slots=True)
class Experiment:
    experiment_id: ExperimentId
    tenant_id: TenantId
    definition: ExperimentDefinition
    status: Status
    winner: VariantId | None
    created_at: float

    @property
    def is_live(self) -> bool:
        return self.status == "live"

    @property
    def variant_ids(self) -> tuple[VariantId, ...]:
        return tuple(v.variant_id for v in self.definition.variants)

    def variant(self, variant_id: VariantId) -> Variant:
        return next(v for v in self.definition.variants if v.variant_id == variant_id)

    def fixed_variant(self) -> Variant:
        """The wording served without assignment when not live: the winner if any, else the control."""
        if self.winner is not None:
            return self.variant(self.winner)
        return self.definition.control


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


def pseudonymise(key: bytes, raw_id: str, transform: IdTransform = "none") -> RecipientKey:
    """Keyed HMAC-SHA-256 of a recipient id, the only form in which a recipient is ever kept.

    Args:
        key: the tenant's secret pseudonymisation key.
        raw_id: the id as the caller holds it.
        transform: "sha256" when Braze's Currents field transformation hashes user ids, so that the
            id given to the content endpoint must be hashed the same way before keying; the ids in
            events are then already hashed and must be passed with transform "none".

    Returns:
        64 lower-case hex characters.
    """
    value = hashlib.sha256(raw_id.encode()).hexdigest() if transform == "sha256" else raw_id
    return RecipientKey(hmac.new(key, value.encode(), hashlib.sha256).hexdigest())


def pseudonymiser(key: bytes, transform: IdTransform = "none") -> Callable[[str], RecipientKey]:
    """`pseudonymise` under one key and transform, for many ids: the key is set up once.

    HMAC (RFC 2104) is H((K ^ opad) || H((K ^ ipad) || m)); the two keyed SHA-256 states are computed
    once and copied per id, half the work of `hmac.new` per id.

    Args:
        key: the tenant's secret pseudonymisation key.
        transform: as for `pseudonymise`.

    Returns:
        A function from a raw id to the same 64 hex characters as `pseudonymise(key, raw_id, transform)`.
    """
    block = (hashlib.sha256(key).digest() if len(key) > _SHA256_BLOCK_BYTES else key).ljust(
        _SHA256_BLOCK_BYTES, b"\0"
    )
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def pseudonymise_one(raw_id: str) -> RecipientKey:
        value = hashlib.sha256(raw_id.encode()).hexdigest() if transform == "sha256" else raw_id
        inner_mac = inner.copy()
        inner_mac.update(value.encode())
        outer_mac = outer.copy()
        outer_mac.update(inner_mac.digest())
        return RecipientKey(outer_mac.hexdigest())

    return pseudonymise_one


_SHA256_BLOCK_BYTES = 64


def parse_experiment_definition(raw: object) -> ExperimentDefinition:
    """Validate a decoded YAML/JSON experiment definition.

    Raises:
        InvalidInput: naming the offending field, e.g. ``variants[2].id: duplicate id 'v1'``.
    """
    if not isinstance(raw, Mapping):
        raise InvalidInput("definition: expected an object with name, mode, metric and variants")
    unknown = sorted(set(raw) - _DEFINITION_FIELDS)
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown field")
    name = _required_text(raw, "name", "name")
    mode = _choice(raw.get("mode", "broadcast"), MODES, "mode")
    metric = _choice(raw.get("metric", "click"), METRICS, "metric")
    recipient_field = _choice(raw.get("recipient_field", "user_id"), RECIPIENT_FIELDS, "recipient_field")
    default_sticky: StickyScope = "recipient" if mode == "broadcast" else "dispatch"
    sticky = _choice(raw.get("sticky", default_sticky), STICKY_SCOPES, "sticky")
    variants = _parse_variants(raw.get("variants"))
    floor, holdout = _allocation_shares(raw, len(variants))
    warm_up = raw.get("min_sends_per_variant", DEFAULT_MIN_SENDS_PER_VARIANT)
    if not is_integer(warm_up) or not 0 <= warm_up <= MAX_MIN_SENDS_PER_VARIANT:
        raise InvalidInput(
            f"min_sends_per_variant: expected an integer from 0 to {MAX_MIN_SENDS_PER_VARIANT}, "
            f"got {warm_up!r}"
        )
    return ExperimentDefinition(
        name, mode, metric, recipient_field, sticky, variants, floor, holdout, warm_up
    )


_DEFINITION_FIELDS = {
    "name", "mode", "metric", "recipient_field", "sticky", "variants", "floor", "control_holdout",
    "min_sends_per_variant",
}  # fmt: skip


def _allocation_shares(raw: Mapping[str, object], count: int) -> tuple[float, float]:
    """The floor every variant keeps and the control's holdout: both leave some traffic to allocate."""
    floor = raw.get("floor", DEFAULT_FLOOR)
    if not is_finite_number(floor) or floor < 0 or floor * count >= 1:
        raise InvalidInput(
            f"floor: expected a number >= 0 that leaves traffic to allocate (floor x {count} variants "
            f"below 1), got {floor!r}"
        )
    holdout = raw.get("control_holdout", DEFAULT_CONTROL_HOLDOUT)
    if not is_finite_number(holdout) or holdout < 0 or holdout + floor * count >= 1:
        raise InvalidInput(
            f"control_holdout: expected a number >= 0 that leaves traffic to allocate (control_holdout + "
            f"floor x {count} variants below 1), got {holdout!r}"
        )
    return float(floor), float(holdout)


def is_integer(value: object) -> TypeGuard[int]:
    """True for ints and numpy integers; False for bools, which are ints only by accident of Python."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_finite_number(value: object) -> TypeGuard[float]:
    """True for finite ints, floats and numpy reals; False for bools, NaN and infinities."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _parse_variants(raw: object) -> tuple[Variant, ...]:
    if not isinstance(raw, list):
        raise InvalidInput("variants: expected a list of 2 to 10 variants")
    if not MIN_VARIANTS <= len(raw) <= MAX_VARIANTS:
        raise InvalidInput(f"variants: expected 2 to 10 variants, got {len(raw)}")
    variants = tuple(_parse_variant(item, f"variants[{i}]") for i, item in enumerate(raw))
    seen: set[str] = set()
    for i, variant in enumerate(variants):
        if variant.variant_id in seen:
            raise InvalidInput(f"variants[{i}].id: duplicate id '{variant.variant_id}'")
        seen.add(variant.variant_id)
    placements = set(variants[0].texts)
    for i, variant in enumerate(variants[1:], start=1):
        if set(variant.texts) != placements:
            raise InvalidInput(
                f"variants[{i}]: placements {sorted(variant.texts)} differ from "
                f"variants[0]'s {sorted(placements)}"
            )
    controls = [v.variant_id for v in variants if v.is_control]
    if len(controls) != 1:
        found = "none" if not controls else ", ".join(controls)
        raise InvalidInput(f"variants: exactly one variant needs control: true (found {found})")
    return variants


def _parse_variant(raw: object, where: str) -> Variant:
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{where}: expected an object with id, placement texts and control")
    variant_id = _required_text(raw, "id", f"{where}.id")
    if len(variant_id) > MAX_ID_CHARS or not variant_id.replace("-", "").replace("_", "").isalnum():
        raise InvalidInput(f"{where}.id: use up to 64 letters, digits, '-' or '_'")
    control = raw.get("control", False)
    if not isinstance(control, bool):
        raise InvalidInput(f"{where}.control: expected true or false")
    texts: dict[str, str] = {}
    for placement, text in raw.items():
        if placement in ("id", "control"):
            continue
        field = f"{where}.{placement}"
        if placement in ("experiment_id", "variant_id", "pixel_url"):
            raise InvalidInput(f"{field}: '{placement}' is reserved for the response")
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(f"{field}: empty text")
        if len(text) > MAX_TEXT_CHARS:
            raise InvalidInput(f"{field}: text longer than {MAX_TEXT_CHARS} characters")
        texts[str(placement)] = text
    if not texts:
        raise InvalidInput(f"{where}: no placement texts (e.g. subject, preheader, cta)")
    return Variant(variant_id, texts, control)


def _required_text(raw: Mapping[str, object], key: str, field: str) -> str:
    value = raw.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field}: required, a non-empty text")
    return value.strip()


def _choice(value: object, allowed: tuple[_T, ...], field: str) -> _T:
    for option in allowed:
        if value == option:
            return option
    raise InvalidInput(f"{field}: expected one of {', '.join(allowed)}, got {value!r}")
