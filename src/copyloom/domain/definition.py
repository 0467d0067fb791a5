"""The experiment definition: a decoded YAML/JSON object validated into an `ExperimentDefinition`.

Pure: no IO, clock, environment or global random state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from copyloom.domain.checks import is_finite_number, is_integer
from copyloom.domain.context import parse_context
from copyloom.domain.personalisation import Expression, placement_slots, split_wording
from copyloom.domain.text import field_text
from copyloom.domain.values import (
    DEFAULT_CONTROL_HOLDOUT,
    DEFAULT_FLOOR,
    DEFAULT_MIN_SENDS_PER_VARIANT,
    GUARDRAIL_ACTIONS,
    GUARDRAIL_METRICS,
    MAX_CTA_LINKS,
    MAX_ID_CHARS,
    MAX_MIN_SENDS_PER_VARIANT,
    MAX_SOURCES,
    MAX_TEXT_CHARS,
    MAX_VARIANTS,
    MAX_VARIANTS_EVER,
    METRICS,
    MIN_VARIANTS,
    MODES,
    RECIPIENT_FIELDS,
    STICKY_SCOPES,
    AutoRetireRule,
    Experiment,
    ExperimentDefinition,
    GuardrailRule,
    StickyScope,
    Variant,
)
from copyloom.errors import InvalidInput

_T = TypeVar("_T", bound=str)


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
    cta_links = _cta_links(raw.get("cta_links"), metric == "cta_click")
    campaign_ids = _source_ids(raw, "campaign_ids", "campaign")
    canvas_step_ids = _source_ids(raw, "canvas_step_ids", "Canvas step")
    both = sorted(set(campaign_ids) & set(canvas_step_ids))
    if both:
        raise InvalidInput(f"canvas_step_ids: '{both[0]}' is named in campaign_ids too")
    if len(campaign_ids) + len(canvas_step_ids) > MAX_SOURCES:
        raise InvalidInput(
            f"campaign_ids, canvas_step_ids: at most {MAX_SOURCES} campaigns and Canvas steps in all"
        )
    auto_retire = _auto_retire(raw.get("auto_retire"), mode)
    guardrails = _guardrails(raw.get("guardrails", True))
    context = parse_context(raw.get("context"))
    return ExperimentDefinition(
        name, mode, metric, recipient_field, sticky, variants, floor, holdout, warm_up, cta_links,
        campaign_ids, canvas_step_ids, auto_retire, guardrails, context,
    )  # fmt: skip


_DEFINITION_FIELDS = {
    "name", "mode", "metric", "recipient_field", "sticky", "variants", "floor", "control_holdout",
    "min_sends_per_variant", "cta_links", "campaign_ids", "canvas_step_ids", "auto_retire", "guardrails",
    "context",
}  # fmt: skip
_GUARDRAIL_FIELDS = {"metrics", "margin", "confidence", "action", "min_events"}


def _guardrails(raw: object) -> GuardrailRule | None:
    """The guardrails on unsubscribes and spam complaints (and bounces): on unless `false`."""
    if raw is False:
        return None
    if raw is True:
        return GuardrailRule()
    if not isinstance(raw, Mapping):
        raise InvalidInput(
            "guardrails: expected true, false or an object with metrics, margin, confidence, action"
        )
    unknown = sorted(set(raw) - _GUARDRAIL_FIELDS)
    if unknown:
        raise InvalidInput(f"guardrails.{unknown[0]}: unknown field")
    default = GuardrailRule()
    metrics = raw.get("metrics", list(default.metrics))
    if not isinstance(metrics, list) or not metrics or any(m not in GUARDRAIL_METRICS for m in metrics):
        raise InvalidInput(
            f"guardrails.metrics: expected a list of {', '.join(GUARDRAIL_METRICS)}, got {metrics!r}"
        )
    margin = raw.get("margin", default.margin)
    if not is_finite_number(margin) or not 0 <= margin <= 10:
        raise InvalidInput(
            f"guardrails.margin: expected a relative margin from 0 to 10 (0.5: 50 % worse), got {margin!r}"
        )
    confidence = raw.get("confidence", default.confidence)
    if not is_finite_number(confidence) or not 0.5 <= confidence < 1:
        raise InvalidInput(
            f"guardrails.confidence: expected a probability from 0.5 to below 1, got {confidence!r}"
        )
    action = _choice(raw.get("action", default.action), GUARDRAIL_ACTIONS, "guardrails.action")
    least = raw.get("min_events", default.min_events)
    if not is_integer(least) or not 1 <= least <= 1_000_000:
        raise InvalidInput(f"guardrails.min_events: expected an integer from 1 to 1000000, got {least!r}")
    chosen = tuple(m for m in GUARDRAIL_METRICS if m in metrics)
    return GuardrailRule(chosen, float(margin), float(confidence), action, int(least))


_AUTO_RETIRE_FIELDS = {"p_best_below", "for_hours", "min_sends"}


def _auto_retire(raw: object, mode: str) -> AutoRetireRule | None:
    """The rule that retires a losing variant of a triggered experiment; off unless set."""
    if raw is None:
        return None
    if mode != "triggered":
        raise InvalidInput("auto_retire: only used with mode triggered")
    if raw is True:
        return AutoRetireRule()
    if not isinstance(raw, Mapping):
        raise InvalidInput("auto_retire: expected true or an object with p_best_below, for_hours, min_sends")
    unknown = sorted(set(raw) - _AUTO_RETIRE_FIELDS)
    if unknown:
        raise InvalidInput(f"auto_retire.{unknown[0]}: unknown field")
    default = AutoRetireRule()
    below = raw.get("p_best_below", default.p_best_below)
    if not is_finite_number(below) or not 0 < below < 0.5:
        raise InvalidInput(
            f"auto_retire.p_best_below: expected a number above 0 and below 0.5, got {below!r}"
        )
    hours = raw.get("for_hours", default.for_hours)
    if not is_finite_number(hours) or not 1 <= hours <= 24 * 90:
        raise InvalidInput(f"auto_retire.for_hours: expected a number of hours from 1 to 2160, got {hours!r}")
    sends = raw.get("min_sends", default.min_sends)
    if not is_integer(sends) or not 0 <= sends <= MAX_MIN_SENDS_PER_VARIANT:
        raise InvalidInput(
            f"auto_retire.min_sends: expected an integer from 0 to {MAX_MIN_SENDS_PER_VARIANT}, got {sends!r}"
        )
    return AutoRetireRule(float(below), float(hours), int(sends))


def parse_added_variant(raw: object, experiment: Experiment) -> Variant:
    """A wording to add to a running experiment: the same placements as the others, a new id, and only the
    personalisation the experiment's printed snippets already fill.

    Raises:
        InvalidInput: naming the field, e.g. ``variant.id: 'v2' is already a variant (retired ones too)``.
    """
    variant = _parse_variant(raw, "variant")
    if variant.is_control:
        raise InvalidInput("variant.control: an added variant cannot be the control")
    existing = experiment.definition.variants
    if any(v.variant_id == variant.variant_id for v in existing):
        raise InvalidInput(f"variant.id: '{variant.variant_id}' is already a variant (retired ones too)")
    placements = experiment.definition.placements
    if set(variant.texts) != set(placements):
        raise InvalidInput(
            f"variant: placements {sorted(variant.texts)} differ from the experiment's {sorted(placements)}"
        )
    if len(experiment.active_variant_ids) >= MAX_VARIANTS:
        raise InvalidInput(
            f"variant: the experiment already has {MAX_VARIANTS} live variants; retire one first"
        )
    if len(existing) >= MAX_VARIANTS_EVER:
        raise InvalidInput(
            f"variant: an experiment can have {MAX_VARIANTS_EVER} variants in all, retired ones included"
        )
    for placement, text in variant.texts.items():
        filled = placement_slots(v.texts[placement] for v in existing)
        for segment in split_wording(text):
            if isinstance(segment, Expression) and segment not in filled:
                raise InvalidInput(
                    f"variant.{placement}: personalisation '{segment.liquid}' is not in the experiment's "
                    "other wordings, so the snippets pasted in Braze cannot fill it; use the same "
                    "expressions, or create a new experiment"
                )
    return variant


def _source_ids(raw: Mapping[str, object], key: str, what: str) -> tuple[str, ...]:
    """The Braze API ids of the campaigns (or Canvas steps) the experiment runs in, as a sorted set."""
    value = raw.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_SOURCES:
        raise InvalidInput(f"{key}: expected a list of 1 to {MAX_SOURCES} Braze {what} API ids")
    ids: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise InvalidInput(f"{key}[{i}]: expected a non-empty text (a Braze {what} API id)")
        source_id = field_text(f"{key}[{i}]", "source", item.strip())
        if source_id in ids:
            raise InvalidInput(f"{key}[{i}]: duplicate id '{source_id}'")
        ids.append(source_id)
    return tuple(sorted(ids))


def _cta_links(raw: object, is_needed: bool) -> tuple[str, ...]:
    """The call to action's Braze link aliases: required with metric cta_click, refused with the others."""
    if raw is None:
        if is_needed:
            raise InvalidInput(
                "cta_links: required with metric cta_click, a list of the CTA's Braze link aliases"
            )
        return ()
    if not is_needed:
        raise InvalidInput("cta_links: only used with metric cta_click")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_CTA_LINKS:
        raise InvalidInput(f"cta_links: expected a list of 1 to {MAX_CTA_LINKS} Braze link aliases")
    aliases: list[str] = []
    for i, alias in enumerate(raw):
        if not isinstance(alias, str) or not alias.strip():
            raise InvalidInput(f"cta_links[{i}]: expected a non-empty text (a Braze link alias)")
        field_text(f"cta_links[{i}]", "link_alias", alias)
        if alias in aliases:
            raise InvalidInput(f"cta_links[{i}]: duplicate alias '{alias}'")
        aliases.append(alias)
    return tuple(sorted(aliases))  # a set: stored and shown in one order


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


def _parse_variants(raw: object) -> tuple[Variant, ...]:
    if not isinstance(raw, list):
        raise InvalidInput(f"variants: expected a list of {MIN_VARIANTS} to {MAX_VARIANTS} variants")
    if not MIN_VARIANTS <= len(raw) <= MAX_VARIANTS:
        raise InvalidInput(f"variants: expected {MIN_VARIANTS} to {MAX_VARIANTS} variants, got {len(raw)}")
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
        raise InvalidInput(f"{where}.id: use up to {MAX_ID_CHARS} letters, digits, '-' or '_'")
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
        split_wording(text, field)
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
