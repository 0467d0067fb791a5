"""Value types shared by every layer: ids, closed sets, limits and defaults, tenants and experiments.

Pure: no IO, clock, environment or global random state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, NewType, get_args

TenantId = NewType("TenantId", str)
ExperimentId = NewType("ExperimentId", str)
VariantId = str
RecipientKey = NewType("RecipientKey", str)
"""Hex HMAC-SHA-256 of a raw recipient id under the tenant's key: the only form a recipient is kept in."""

Mode = Literal["broadcast", "triggered"]
Metric = Literal["click", "open", "cta_click"]
"""What an experiment rewards: unique clicks on any tracked link, real opens (no machine opens), or unique
clicks on the call to action's links (`cta_links`, Braze link aliases)."""
RecipientField = Literal["user_id", "external_user_id"]
StickyScope = Literal["recipient", "dispatch"]
Status = Literal["draft", "live", "paused", "finished"]
IdTransform = Literal["none", "sha256"]
TokenScope = Literal["serving", "management"]
"""What a tenant's token may do: `serving` fetches content, loads the pixel and posts events (it is pasted
into Braze templates, readable by their editors); `management` manages experiments (the management API)."""
BotClickRule = Literal["flag", "flag_or_reason"]
"""Which Currents clicks are bot clicks: `flag` only those Braze flags `is_suspected_bot_click` (filled only
when the workspace's Bot Filtering is on); `flag_or_reason` also those with a `suspected_bot_click_reason`
(filled whatever the setting)."""

MODES: tuple[Mode, ...] = get_args(Mode)
METRICS: tuple[Metric, ...] = get_args(Metric)
RECIPIENT_FIELDS: tuple[RecipientField, ...] = get_args(RecipientField)
STICKY_SCOPES: tuple[StickyScope, ...] = get_args(StickyScope)
STATUSES: tuple[Status, ...] = get_args(Status)
PlaceholderDispatch = Literal["dispatch_id_for_unsent_campaign"]
"""The dispatch ids Braze renders in previews and test sends of a campaign not yet sent (Braze's "Dispatch
ID behavior" page): no real recipient's email, so never assigned, stored or counted."""
PLACEHOLDER_DISPATCH_IDS: tuple[PlaceholderDispatch, ...] = get_args(PlaceholderDispatch)
TOKEN_SCOPES: tuple[TokenScope, ...] = get_args(TokenScope)
BOT_CLICK_RULES: tuple[BotClickRule, ...] = get_args(BotClickRule)
DEFAULT_BOT_CLICK_RULE: BotClickRule = "flag_or_reason"
MIN_VARIANTS = 2
MAX_VARIANTS = 10
MAX_TEXT_CHARS = 2000
MAX_ID_CHARS = 64
DEFAULT_FLOOR = 0.01
DEFAULT_CONTROL_HOLDOUT = 0.0
DEFAULT_MIN_SENDS_PER_VARIANT = 100
MAX_MIN_SENDS_PER_VARIANT = 1_000_000
MAX_CTA_LINKS = 20
MAX_SOURCES = 50
"""Braze campaigns and Canvas steps one experiment may name."""
SourceKind = Literal["campaign", "canvas_step"]
"""Where in Braze an experiment runs: a campaign, or a Canvas step (each named by its Braze API id)."""


@dataclass(frozen=True, slots=True)
class Tenant:
    tenant_id: TenantId
    name: str
    pseudonym_key: bytes
    id_transform: IdTransform = "none"
    bot_clicks: BotClickRule = DEFAULT_BOT_CLICK_RULE


VariantStatus = Literal["live", "retired"]
VARIANT_STATUSES: tuple[VariantStatus, ...] = get_args(VariantStatus)
RetiredBy = Literal["manual", "auto"]
"""Who retired a variant: a person (CLI, API, dashboard) or the definition's `auto_retire` rule."""
MAX_VARIANTS_EVER = 50
"""Variants an experiment may have had in all, retired ones included (`MAX_VARIANTS` live at once)."""


@dataclass(frozen=True, slots=True)
class Credential:
    """An active token's tenant and scope."""

    tenant: Tenant
    scope: TokenScope


@dataclass(frozen=True, slots=True)
class Variant:
    variant_id: VariantId
    texts: Mapping[str, str]
    is_control: bool = False
    added_at: float | None = None
    """When it joined a running experiment; None for the variants it was created with."""
    retired_at: float | None = None
    """When it stopped receiving new recipients (those already assigned keep it); None while active."""
    retired_by: RetiredBy | None = None

    @property
    def is_active(self) -> bool:
        return self.retired_at is None

    @property
    def status(self) -> VariantStatus:
        return variant_status(self.retired_at)


def variant_status(retired_at: float | None) -> VariantStatus:
    """A variant is live until it is retired (then it gets no new recipients)."""
    return "live" if retired_at is None else "retired"


GuardrailMetric = Literal["unsubscribe", "spam", "bounce"]
GUARDRAIL_METRICS: tuple[GuardrailMetric, ...] = get_args(GuardrailMetric)
GuardrailAction = Literal["floor", "retire"]
GUARDRAIL_ACTIONS: tuple[GuardrailAction, ...] = get_args(GuardrailAction)


@dataclass(frozen=True, slots=True)
class GuardrailRule:
    """A variant breaches when P(its rate > the control's x (1 + margin)) >= confidence on a watched metric,
    with at least `min_events` of its own (so a handful of sends cannot breach on the prior alone); it is
    then held at the floor, or retired, by `action` (`engine.guardrails`)."""

    metrics: tuple[GuardrailMetric, ...] = ("unsubscribe", "spam")
    margin: float = 0.5
    confidence: float = 0.95
    action: GuardrailAction = "floor"
    min_events: int = 5


SegmentId = str
"""A recipient's segment: one declared value per context field joined, e.g. "country=GB|tier=loyal"
(`domain.context`); "" for an experiment without context. Only segments are stored, never raw values."""

CONTEXT_OTHER = "other"
"""The segment value of a category outside the declared list."""
CONTEXT_UNKNOWN = "unknown"
"""The segment value of a missing or empty context value (or a number that does not parse)."""
MAX_CONTEXT_FIELDS = 3
MAX_SEGMENTS_PER_FIELD = 20
"""Declared categories plus `other` and `unknown`, or buckets' ranges plus `unknown`: a field is coarse."""


@dataclass(frozen=True, slots=True)
class ContextField:
    """One declared piece of recipient context and how its raw values map to segment values.

    Attributes:
        name: the field's name, lower-case letters, digits and underscores (the URL parameter `ctx_<name>`).
        braze: the Braze Liquid expression that fills it (`${country}`, `custom_attribute.${tier}`, ...).
        categories: a closed list; a value outside it maps to `other`. Empty for a bucketed field.
        buckets: increasing numeric edges; [1, 5, 20] gives <1, 1-5, 5-20, >=20. Empty for categories.
    """

    name: str
    braze: str
    categories: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class AutoRetireRule:
    """Retire a triggered experiment's variant whose P(best) stayed below `p_best_below` at every learner
    run for `for_hours`, once it has `min_sends` sends; never the control, never below two live variants."""

    p_best_below: float = 0.05
    for_hours: float = 72.0
    min_sends: int = 2000


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
    cta_links: tuple[str, ...] = ()
    """The Braze link aliases of the call to action, with metric `cta_click`."""
    campaign_ids: tuple[str, ...] = ()
    """The Braze campaigns (API ids) the experiment runs in; none named: wherever its snippet is pasted."""
    canvas_step_ids: tuple[str, ...] = ()
    """The Braze Canvas steps (API ids) the experiment runs in."""
    auto_retire: AutoRetireRule | None = None
    """Triggered mode only; off unless set."""
    guardrails: GuardrailRule | None = GuardrailRule()
    """On by default; None when the definition turns them off (`guardrails: false`)."""
    context: tuple[ContextField, ...] = ()
    """Recipient context fields (at most `MAX_CONTEXT_FIELDS`); none: one audience, not segmented."""

    @property
    def placements(self) -> tuple[str, ...]:
        return tuple(self.variants[0].texts)

    @property
    def control(self) -> Variant:
        return next(v for v in self.variants if v.is_control)

    @property
    def sources(self) -> dict[str, SourceKind]:
        """The campaigns and Canvas steps the definition names, by API id (empty: it names none)."""
        named: dict[str, SourceKind] = dict.fromkeys(self.campaign_ids, "campaign")
        named.update(dict.fromkeys(self.canvas_step_ids, "canvas_step"))
        return named

    def serves_in(self, source_id: str) -> bool:
        """Whether a content call from this campaign or Canvas step ("": the call named none, as a snippet
        made before the experiment named its sources) is assigned: unless the definition names sources
        and not this one. Events are stricter: with sources named, only theirs are attributed."""
        if not source_id or not (self.campaign_ids or self.canvas_step_ids):
            return True
        return source_id in self.campaign_ids or source_id in self.canvas_step_ids


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
        """Every variant it ever had, retired ones included, in the order they were added."""
        return tuple(v.variant_id for v in self.definition.variants)

    @property
    def active_variant_ids(self) -> tuple[VariantId, ...]:
        """The variants new recipients may get."""
        return tuple(v.variant_id for v in self.definition.variants if v.is_active)

    def variant(self, variant_id: VariantId) -> Variant:
        return next(v for v in self.definition.variants if v.variant_id == variant_id)

    def fixed_variant(self) -> Variant:
        """The wording served without assignment when not live: the winner if any, else the control."""
        if self.winner is not None:
            return self.variant(self.winner)
        return self.definition.control
