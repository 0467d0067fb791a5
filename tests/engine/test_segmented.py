"""Segments: `allocate` gives each segment its own weights from posteriors pooled across the segments."""

from __future__ import annotations

import numpy as np
import pytest

from copyloom.engine import Allocation, Cohort, PolicyConfig, SegmentAllocation, allocate
from copyloom.engine.segmented import MIN_SEGMENT_SAMPLES, SEGMENT_DRAW_BUDGET, segment_samples

VARIANTS = ["control", "v1", "v2"]
SENT_AT = 1764338400.0
NOW = SENT_AT + 40 * 3600.0  # every click of the cohorts has arrived: the delay plays no part
CONFIG = PolicyConfig(samples=4000)

Counts = dict[str, tuple[int, int]]


def cohorts_of(segment: str | None, counts: Counts) -> list[Cohort]:
    return [Cohort(v, SENT_AT, sends, clicks, segment) for v, (sends, clicks) in counts.items()]


def run(
    by_segment: dict[str | None, Counts],
    config: PolicyConfig = CONFIG,
    seed: int = 7,
    **kwargs: object,
) -> Allocation:
    cohorts = [c for segment, counts in by_segment.items() for c in cohorts_of(segment, counts)]
    return allocate(VARIANTS, cohorts, NOW, config, np.random.default_rng(seed), **kwargs)  # type: ignore[arg-type]  # the keyword arguments vary by test


def rates(control: float, v1: float, v2: float, sends: int) -> Counts:
    return {v: (sends, round(rate * sends)) for v, rate in zip(VARIANTS, (control, v1, v2), strict=True)}


def leader(segment: SegmentAllocation) -> str:
    return max(segment.weights, key=lambda v: segment.weights[v])


# 60 % of the traffic prefers v1, 30 % prefers the control: the pooled leader is v1.
DIFFER: dict[str | None, Counts] = {
    "country=GB": rates(0.020, 0.030, 0.020, 30_000),
    "country=DE": rates(0.030, 0.020, 0.020, 15_000),
    "country=FR": rates(0.030, 0.020, 0.020, 90),
}


def test_a_call_without_segments_has_none_and_is_unchanged() -> None:
    counts = rates(0.020, 0.024, 0.022, 5_000)
    plain = allocate(VARIANTS, cohorts_of(None, counts), NOW, CONFIG, np.random.default_rng(3))

    assert plain.segments == {}
    halves = {v: (s // 2, c // 2) for v, (s, c) in counts.items()}
    rest = {v: (s - s // 2, c - c // 2) for v, (s, c) in counts.items()}
    split = run({"a": halves, "b": rest}, seed=3)
    # The overall allocation reads every cohort whatever its segment, and is drawn first.
    assert (split.weights, split.p_best, split.winner, split.reason) == (
        plain.weights,
        plain.p_best,
        plain.winner,
        plain.reason,
    )
    assert set(split.segments) == {"a", "b"}


def test_every_segment_named_or_seen_gets_weights_that_sum_to_one() -> None:
    allocation = run({**DIFFER, None: rates(0.02, 0.02, 0.02, 500)}, segments=["country=IT"])

    assert list(allocation.segments) == ["country=IT", "country=GB", "country=DE", "country=FR"]
    for segment in allocation.segments.values():
        assert list(segment.weights) == VARIANTS
        assert sum(segment.weights.values()) == pytest.approx(1.0, abs=1e-9)
        assert sum(segment.p_best.values()) == pytest.approx(1.0, abs=1e-9)


def test_a_large_segment_with_its_own_winner_follows_its_own_data() -> None:
    allocation = run(DIFFER)

    assert leader(allocation.segments["country=GB"]) == "v1"
    assert leader(allocation.segments["country=DE"]) == "control"
    assert allocation.segments["country=DE"].p_best["control"] > 0.95


def test_a_tiny_segment_follows_the_pooled_leader() -> None:
    same_best = {
        "tier=new": rates(0.020, 0.030, 0.022, 30_000),
        "tier=regular": rates(0.015, 0.022, 0.016, 15_000),
        "tier=loyal": rates(0.030, 0.020, 0.030, 60),  # 60 sends: noise says v1 is worst
    }
    allocation = run(same_best)

    assert leader(allocation.segments["tier=loyal"]) == "v1"
    assert allocation.segments["tier=loyal"].p_best["v1"] > 0.9


def test_with_no_interaction_every_segment_p_best_is_near_the_pooled_one() -> None:
    rng = np.random.default_rng(11)
    truth = (0.020, 0.021, 0.022)
    by_segment: dict[str | None, Counts] = {}
    for name, base, sends in (("a", 1.0, 8_000), ("b", 0.7, 4_000), ("c", 1.3, 1_500), ("d", 1.0, 300)):
        by_segment[name] = {
            v: (sends, int(rng.binomial(sends, rate * base))) for v, rate in zip(VARIANTS, truth, strict=True)
        }
    allocation = run(by_segment)

    for segment in allocation.segments.values():
        for variant in VARIANTS:
            assert segment.p_best[variant] == pytest.approx(allocation.p_best[variant], abs=0.12)


def test_capped_floor_and_holdout_apply_in_every_segment() -> None:
    config = PolicyConfig(samples=4000, floor=0.05, control_holdout=0.1)
    allocation = run(DIFFER, config, capped=["v1"], segments=["country=IT"])

    for segment in allocation.segments.values():
        assert segment.weights["v1"] == pytest.approx(0.05)
        assert min(segment.weights.values()) >= 0.05 - 1e-12
        assert segment.weights["control"] >= 0.15 - 1e-12
        assert segment.winner != "v1"
    assert allocation.segments["country=GB"].reason == "guardrail"


def test_a_segment_is_in_warm_up_while_the_experiment_is() -> None:
    allocation = run({"a": rates(0.02, 0.02, 0.02, 50)}, segments=["b"])

    for segment in allocation.segments.values():
        assert segment.reason == "warm_up"
        assert segment.weights == pytest.approx(dict.fromkeys(VARIANTS, 1 / 3))


def test_other_policies_run_on_each_segment_alone() -> None:
    allocation = run(DIFFER, PolicyConfig(policy="uniform"))

    assert allocation.segments["country=DE"].weights == pytest.approx(dict.fromkeys(VARIANTS, 1 / 3))


def test_the_same_generator_state_gives_the_same_segments() -> None:
    assert run(DIFFER, seed=5) == run(DIFFER, seed=5)


def test_triggered_segments_forget_and_still_follow_their_data() -> None:
    allocation = run(DIFFER, PolicyConfig(samples=4000, mode="triggered"))

    assert leader(allocation.segments["country=GB"]) == "v1"
    assert leader(allocation.segments["country=DE"]) == "control"


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ([""], "segments: expected non-empty texts, got ''"),
        ([3], "segments: expected non-empty texts, got 3"),
        ("country=GB", "segments: expected a sequence of segment ids, got a single text"),
    ],
)
def test_bad_segment_ids_are_refused(segments: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        run(DIFFER, segments=segments)


def test_a_cohort_segment_must_be_non_empty_text() -> None:
    with pytest.raises(ValueError, match=r"^segment: expected a non-empty text or None, got ''"):
        Cohort("v1", SENT_AT, 10, 1, "")
    cohort = Cohort("v1", SENT_AT, 10, 1, "a")
    object.__setattr__(cohort, "segment", "")  # past the constructor's check: allocate checks again

    with pytest.raises(ValueError, match=r"^cohorts\[0\]\.segment: expected a non-empty text or None"):
        allocate(VARIANTS, [cohort], NOW, CONFIG, np.random.default_rng(1))


def test_the_draws_per_look_are_bounded_and_every_segment_keeps_enough() -> None:
    assert segment_samples(10_000, 10, 10) == 10_000
    assert segment_samples(10_000, 50, 10) == SEGMENT_DRAW_BUDGET // 500
    assert segment_samples(10_000, 200, 10) * 200 * 10 <= SEGMENT_DRAW_BUDGET
    assert segment_samples(10_000, 10_000, 10) == MIN_SEGMENT_SAMPLES
    assert segment_samples(300, 2, 2) == 300


def test_many_segments_still_follow_their_data_on_fewer_draws() -> None:
    # 201 segments x 3 variants: 1,658 draws each instead of 10,000.
    quiet = {f"tier={i}": rates(0.02, 0.02, 0.02, 200) for i in range(198)}
    allocation = run({**DIFFER, **quiet}, PolicyConfig())

    assert len(allocation.segments) == 201
    assert leader(allocation.segments["country=GB"]) == "v1"
    assert leader(allocation.segments["country=DE"]) == "control"


def test_segments_without_a_cohort_share_the_pooled_proposal() -> None:
    allocation = run(DIFFER, segments=["tier=new", "tier=loyal", "country=GB"])

    new, loyal = allocation.segments["tier=new"], allocation.segments["tier=loyal"]
    assert new == loyal
    assert list(allocation.segments)[:3] == ["tier=new", "tier=loyal", "country=GB"]
    # With nothing of their own they follow the pool, whose leader is v1 (60 % of the traffic).
    assert leader(new) == "v1"
