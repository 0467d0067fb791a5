"""The experiment definition: defaults, allocation rules and stickiness."""

from __future__ import annotations

from copyloom.domain.values import AutoRetireRule, GuardrailRule
from copyloom.engine import PolicyConfig
from tests.helpers import make_definition


def test_a_definition_defaults_to_clicks_braze_ids_and_per_person_stickiness() -> None:
    definition = make_definition()

    assert (definition.mode, definition.metric, definition.recipient_field, definition.sticky) == (
        "broadcast",
        "click",
        "user_id",
        "recipient",
    )
    assert definition.placements == ("subject", "preheader")
    assert definition.control.variant_id == "control"


def test_a_definition_carries_its_allocation_rules_defaulting_to_the_engines() -> None:
    default, engine = make_definition(), PolicyConfig()
    chosen = make_definition(floor=0.02, control_holdout=0.1, min_sends_per_variant=500)

    assert (default.floor, default.control_holdout, default.min_sends_per_variant) == (
        engine.floor,
        engine.control_holdout,
        engine.min_sends_per_variant,
    )
    assert (chosen.floor, chosen.control_holdout, chosen.min_sends_per_variant) == (0.02, 0.1, 500)
    assert make_definition(floor=0).floor == 0.0


def test_triggered_experiments_default_to_per_dispatch_stickiness() -> None:
    assert make_definition(mode="triggered").sticky == "dispatch"
    assert make_definition(mode="triggered", sticky="recipient").sticky == "recipient"


def test_a_definition_may_name_the_campaigns_and_canvas_steps_it_runs_in() -> None:
    definition = make_definition(campaign_ids=["camp-b", "camp-a"], canvas_step_ids=["step-1"])

    assert definition.campaign_ids == ("camp-a", "camp-b")
    assert definition.sources == {"camp-a": "campaign", "camp-b": "campaign", "step-1": "canvas_step"}
    assert [definition.serves_in(s) for s in ("camp-a", "step-1", "", "camp-c")] == [True, True, True, False]


def test_a_definition_that_names_no_source_serves_every_campaign() -> None:
    definition = make_definition()

    assert definition.sources == {}
    assert definition.serves_in("camp-anything")


def test_auto_retire_is_off_unless_set_and_defaults_each_part() -> None:
    assert make_definition(mode="triggered").auto_retire is None
    assert make_definition(mode="triggered", auto_retire=True).auto_retire == AutoRetireRule(0.05, 72.0, 2000)
    assert make_definition(mode="triggered", auto_retire={"for_hours": 24}).auto_retire == AutoRetireRule(
        0.05, 24.0, 2000
    )


def test_guardrails_are_on_by_default_and_can_be_tuned_or_turned_off() -> None:
    assert make_definition().guardrails == GuardrailRule(("unsubscribe", "spam"), 0.5, 0.95, "floor", 5)
    assert make_definition(guardrails=False).guardrails is None
    tuned = make_definition(
        guardrails={"metrics": ["bounce", "spam"], "margin": 1, "action": "retire"}
    ).guardrails
    assert tuned == GuardrailRule(("spam", "bounce"), 1.0, 0.95, "retire", 5)
