"""Guardrails in the engine: a variant that hurts the list beyond the margin is found, equal ones are not,
and a capped variant is held at the floor and never wins."""

from __future__ import annotations

import numpy as np
import pytest

from copyloom.domain.values import GuardrailRule
from copyloom.engine import Cohort, PolicyConfig, Tally, allocate, find_breaches

RULE = GuardrailRule()


def test_a_variant_unsubscribing_three_times_the_control_breaches() -> None:
    tallies = {
        "control": {"unsubscribe": Tally(20_000, 40), "spam": Tally(20_000, 2)},
        "v1": {"unsubscribe": Tally(20_000, 120), "spam": Tally(20_000, 3)},
    }

    [breach] = find_breaches(tallies, "control", RULE, np.random.default_rng(1))

    assert (breach.variant_id, breach.metric) == ("v1", "unsubscribe")
    assert breach.probability > 0.99
    assert breach.variant.rate == pytest.approx(0.006)


def test_equal_rates_almost_never_breach() -> None:
    rng = np.random.default_rng(2)
    alarms = 0
    for _ in range(200):
        counts = rng.binomial(20_000, 0.002, size=3)
        tallies = {
            v: {"unsubscribe": Tally(20_000, int(n))}
            for v, n in zip(("control", "a", "b"), counts, strict=True)
        }
        alarms += len(find_breaches(tallies, "control", GuardrailRule(metrics=("unsubscribe",)), rng))

    assert alarms <= 2


def test_a_few_events_never_breach_on_the_prior_alone() -> None:
    tallies = {"control": {"spam": Tally(50_000, 1)}, "v1": {"spam": Tally(200, 4)}}

    assert find_breaches(tallies, "control", RULE, np.random.default_rng(3)) == []


def test_a_capped_variant_gets_the_floor_and_cannot_win() -> None:
    cohorts = [
        Cohort("control", 0.0, 50_000, 500),
        Cohort("v1", 0.0, 50_000, 1500),
        Cohort("v2", 0.0, 50_000, 600),
    ]
    config = PolicyConfig(mode="broadcast")

    free = allocate(["control", "v1", "v2"], cohorts, 400_000.0, config, np.random.default_rng(4))
    held = allocate(
        ["control", "v1", "v2"], cohorts, 400_000.0, config, np.random.default_rng(4), capped={"v1"}
    )

    assert free.winner == "v1"
    assert held.winner is None
    assert held.weights["v1"] == pytest.approx(config.floor)
    assert held.reason == "guardrail"
    assert sum(held.weights.values()) == pytest.approx(1.0)


def test_the_control_and_unknown_variants_cannot_be_capped() -> None:
    with pytest.raises(ValueError, match="capped: the control"):
        allocate(["control", "v1"], [], 0.0, PolicyConfig(), np.random.default_rng(5), capped={"control"})
    with pytest.raises(ValueError, match="capped: 'v9' is not one of the variants"):
        allocate(["control", "v1"], [], 0.0, PolicyConfig(), np.random.default_rng(5), capped={"v9"})
