"""Why a leader is or is not the winner: every part of the rule, and the same verdict as `allocate`."""

from __future__ import annotations

import numpy as np
import pytest

from copyloom.engine import Cohort, PolicyConfig, allocate
from copyloom.engine.explain import explain_decision

NOW = 1764342000.0
T0 = NOW - 6 * 3600


def cohorts(rates: dict[str, float], sends: int, buckets: int = 6) -> list[Cohort]:
    """`buckets` hourly cohorts per variant, each with `sends` sends at exactly the given rate."""
    return [
        Cohort(variant=v, sent_at=T0 + 3600 * b, sends=sends, clicks=round(sends * rate))
        for b in range(buckets)
        for v, rate in rates.items()
    ]


def explain(rates: dict[str, float], sends: int, **config: object):  # type: ignore[no-untyped-def]
    cfg = PolicyConfig(**config)  # type: ignore[arg-type]
    return explain_decision(list(rates), cohorts(rates, sends), NOW, cfg, np.random.default_rng(1))


def test_a_leader_with_a_high_p_best_but_a_weak_test_says_the_test_is_what_is_missing() -> None:
    # 2.0 % against 3.0 % on 400 sends an hour: P(best) is near 1 but Lambda is not yet 1 / 0.05 = 20.
    why = explain({"control": 0.02, "v1": 0.03}, 400)

    assert why.leader == "v1"
    assert why.is_warmed_up
    assert why.is_probable_enough
    assert why.p_best > 0.95
    assert [t.other for t in why.tests] == ["control"]
    assert why.tests[0].needed == pytest.approx(20.0)
    assert why.is_loss_small_enough
    assert 1.0 < why.tests[0].evidence < why.tests[0].needed
    assert not why.tests[0].passes
    assert not why.is_met


def test_a_clear_winner_meets_every_part() -> None:
    why = explain({"control": 0.02, "v1": 0.02, "v2": 0.05}, 5_000)

    assert why.leader == "v2"
    assert why.is_met
    assert [t.other for t in why.tests] == ["control", "v1"]
    assert all(t.passes for t in why.tests)
    assert why.tests[0].needed == pytest.approx(2 / 0.05)  # Bonferroni over the two comparisons


def test_the_warm_up_is_reported_with_the_fewest_sends() -> None:
    why = explain({"control": 0.02, "v1": 0.05}, 10, min_sends_per_variant=500)

    assert why.fewest_sends == 60
    assert why.min_sends_per_variant == 500
    assert not why.is_warmed_up
    assert not why.is_met


def test_a_variant_the_leader_is_not_ahead_of_has_no_evidence() -> None:
    why = explain_decision(
        ["control", "v1"],
        cohorts({"control": 0.02, "v1": 0.02}, 1_000),
        NOW,
        PolicyConfig(),
        np.random.default_rng(1),
        leader="control",
    )

    assert why.leader == "control"
    assert why.tests[0].evidence == 0.0
    assert not why.tests[0].passes


@pytest.mark.parametrize(
    ("rates", "sends"),
    [
        ({"control": 0.02, "v1": 0.03}, 400),
        ({"control": 0.02, "v1": 0.02, "v2": 0.05}, 5_000),
        ({"control": 0.030, "v1": 0.032}, 2_000),
    ],
)
def test_the_verdict_agrees_with_allocate(rates: dict[str, float], sends: int) -> None:
    config = PolicyConfig()
    allocation = allocate(list(rates), cohorts(rates, sends), NOW, config, np.random.default_rng(1))
    why = explain_decision(list(rates), cohorts(rates, sends), NOW, config, np.random.default_rng(1))

    assert why.is_met == (allocation.winner is not None)
    if allocation.winner is not None:
        assert why.leader == allocation.winner


def test_an_unknown_leader_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="leader: 'v9' is not one of the variants"):
        explain_decision(["a", "b"], [], NOW, PolicyConfig(), np.random.default_rng(1), leader="v9")
