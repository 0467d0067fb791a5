"""Every input the engine rejects, with its exact message: configs, cohorts and `allocate` arguments."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from copyloom.engine import Cohort, DelayModel, PolicyConfig, allocate

REJECTED_CONFIGS: list[tuple[dict[str, Any], str]] = [
    (
        {"policy": "ucb"},
        "policy: expected one of ab_test, epsilon_greedy, thompson, thompson_naive, ucb1, uniform, got 'ucb'",
    ),
    ({"mode": "weekly"}, "mode: expected one of broadcast, triggered, got 'weekly'"),
    ({"floor": -0.01}, "floor: expected a number with 0 <= floor < 1, got -0.01"),
    ({"floor": 1.0}, "floor: expected a number with 0 <= floor < 1, got 1.0"),
    ({"floor": math.nan}, "floor: expected a number with 0 <= floor < 1, got nan"),
    ({"floor": "0.1"}, "floor: expected a number with 0 <= floor < 1, got '0.1'"),
    ({"floor": True}, "floor: expected a number with 0 <= floor < 1, got True"),
    (
        {"control_holdout": 1.0},
        "control_holdout: expected a number with 0 <= control_holdout < 1, got 1.0",
    ),
    ({"min_sends_per_variant": -1}, "min_sends_per_variant: expected an integer >= 0, got -1"),
    ({"min_sends_per_variant": 10.0}, "min_sends_per_variant: expected an integer >= 0, got 10.0"),
    ({"samples": 0}, "samples: expected an integer from 1 to 1000000, got 0"),
    ({"samples": 1_000_001}, "samples: expected an integer from 1 to 1000000, got 1000001"),
    ({"prior_alpha": 0.0}, "prior_alpha: expected a number with prior_alpha > 0, got 0.0"),
    ({"prior_beta": math.inf}, "prior_beta: expected a number with prior_beta > 0, got inf"),
    ({"win_probability": 0.5}, "win_probability: expected a number with 0.5 < win_probability <= 1, got 0.5"),
    (
        {"win_probability": 1.01},
        "win_probability: expected a number with 0.5 < win_probability <= 1, got 1.01",
    ),
    ({"max_expected_loss": 0}, "max_expected_loss: expected a number with 0 < max_expected_loss <= 1, got 0"),
    ({"exploitation": 0.5}, "exploitation: expected a number with 1 <= exploitation <= 10, got 0.5"),
    ({"sharpen_successes": 0}, "sharpen_successes: expected a number with sharpen_successes > 0, got 0"),
    ({"leader_share": 1.5}, "leader_share: expected a number with 0 <= leader_share <= 1, got 1.5"),
    ({"false_winner_rate": 0}, "false_winner_rate: expected a number with 0 < false_winner_rate < 1, got 0"),
    ({"false_winner_rate": 1}, "false_winner_rate: expected a number with 0 < false_winner_rate < 1, got 1"),
    ({"expected_lift": 0.0}, "expected_lift: expected a number with expected_lift > 0, got 0.0"),
    ({"delay": 3600.0}, "delay: expected a DelayModel, got float"),
    ({"refine_delay": 1}, "refine_delay: expected True or False, got 1"),
    (
        {"min_cohort_age_s": -60.0},
        "min_cohort_age_s: expected a number with min_cohort_age_s >= 0, got -60.0",
    ),
    (
        {"min_cohort_age_s": math.inf},
        "min_cohort_age_s: expected a number with min_cohort_age_s >= 0, got inf",
    ),
    ({"half_life_s": -1.0}, "half_life_s: expected a number with half_life_s > 0, got -1.0"),
    ({"change_z": 2.0}, "change_z: expected a number with change_z >= 3, got 2.0"),
    ({"ab_test_sends": -5}, "ab_test_sends: expected an integer >= 0, got -5"),
    ({"epsilon": 1.5}, "epsilon: expected a number with 0 <= epsilon <= 1, got 1.5"),
]


@pytest.mark.parametrize(("changes", "message"), REJECTED_CONFIGS)
def test_policy_config_rejects_out_of_range_fields(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        PolicyConfig(**changes)
    assert str(raised.value) == message


def test_policy_config_defaults_are_valid() -> None:
    config = PolicyConfig()

    assert (config.policy, config.mode, config.floor, config.samples) == (
        "thompson",
        "broadcast",
        0.01,
        10_000,
    )
    assert config.min_cohort_age_s == 300.0, "broadcasts leave out cohorts younger than 5 minutes"


def test_policy_config_accepts_numpy_scalars() -> None:
    config = PolicyConfig(floor=np.float64(0.02), samples=np.int64(500))  # type: ignore[arg-type]  # as callers may pass

    assert config.floor == 0.02


REJECTED_DELAY_MODELS: list[tuple[dict[str, Any], str]] = [
    ({"median_s": 0.0}, "median_s: expected a number with median_s > 0, got 0.0"),
    ({"median_s": "1h"}, "median_s: expected a number with median_s > 0, got '1h'"),
    ({"sigma": -1.0}, "sigma: expected a number with sigma > 0, got -1.0"),
    ({"sigma": math.nan}, "sigma: expected a number with sigma > 0, got nan"),
]


@pytest.mark.parametrize(("changes", "message"), REJECTED_DELAY_MODELS)
def test_delay_model_rejects_out_of_range_fields(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        DelayModel(**changes)
    assert str(raised.value) == message


REJECTED_COHORTS: list[tuple[dict[str, Any], str]] = [
    ({"sends": -1}, "sends: expected an integer >= 0, got -1 (variant 'v1')"),
    ({"sends": 10.5}, "sends: expected an integer >= 0, got 10.5 (variant 'v1')"),
    ({"clicks": -1}, "clicks: expected an integer from 0 to sends (10), got -1 (variant 'v1')"),
    ({"clicks": 11}, "clicks: expected an integer from 0 to sends (10), got 11 (variant 'v1')"),
    ({"sent_at": math.nan}, "sent_at: expected finite epoch seconds, got nan (variant 'v1')"),
    ({"variant": 3}, "variant: expected a text, got 3"),
]


@pytest.mark.parametrize(("changes", "message"), REJECTED_COHORTS)
def test_cohort_rejects_impossible_counts(changes: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {"variant": "v1", "sent_at": 1764338400.0, "sends": 10, "clicks": 2, **changes}

    with pytest.raises(ValueError) as raised:
        Cohort(**fields)
    assert str(raised.value) == message


def test_cohort_accepts_zero_sends_and_all_clicked() -> None:
    assert Cohort("v1", 0.0, 0, 0).sends == 0
    assert Cohort("v1", 0.0, 5, 5).clicks == 5


REJECTED_ALLOCATE_CALLS: list[tuple[dict[str, Any], str]] = [
    ({"variants": ["control"]}, "variants: expected at least 2 variants, got 1"),
    ({"variants": ["control", "v1", "control"]}, "variants: duplicate variant 'control'"),
    (
        {"cohorts": [Cohort("v1", 0.0, 10, 1), Cohort("v9", 0.0, 10, 1)]},
        "cohorts[1].variant: 'v9' is not one of the variants",
    ),
    ({"cohorts": [("v1", 0.0, 10, 1)]}, "cohorts[0]: expected a Cohort, got tuple"),
    ({"control": "v9"}, "control: 'v9' is not one of the variants"),
    ({"now": math.inf}, "now: expected finite epoch seconds, got inf"),
    ({"config": PolicyConfig(floor=0.34)}, "floor: 0.34 for each of 3 variants must total below 1"),
    (
        {"config": PolicyConfig(floor=0.1, control_holdout=0.7)},
        "control_holdout: 0.7 plus floor 0.1 for each of 3 variants must total below 1",
    ),
]


@pytest.mark.parametrize(("changes", "message"), REJECTED_ALLOCATE_CALLS)
def test_allocate_rejects_inconsistent_inputs(changes: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "variants": ["control", "v1", "v2"],
        "cohorts": [],
        "now": 1764342000.0,
        "config": PolicyConfig(),
        "rng": np.random.default_rng(7),
        **changes,
    }

    with pytest.raises(ValueError) as raised:
        allocate(**arguments)
    assert str(raised.value) == message
