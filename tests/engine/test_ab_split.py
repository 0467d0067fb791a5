"""The A/B-test baseline: an even split for a fixed number of sends, then everything to the observed best."""

from __future__ import annotations

import numpy as np

from copyloom.engine import Cohort, PolicyConfig
from copyloom.engine.policies.ab_split import ab_test
from copyloom.engine.problem import Problem

DAY_S = 86_400.0


def problem(counts: list[tuple[int, int]], ab_test_sends: int) -> Problem:
    variants = tuple(f"v{i}" for i in range(len(counts)))
    cohorts = tuple(Cohort(v, 0.0, s, c) for v, (s, c) in zip(variants, counts, strict=True))
    config = PolicyConfig(policy="ab_test", samples=2000, ab_test_sends=ab_test_sends)
    return Problem(variants, cohorts, DAY_S, 0, config)


def test_the_test_splits_evenly_until_it_has_its_sends() -> None:
    proposal = ab_test(problem([(2000, 40), (2000, 90)], ab_test_sends=5000), np.random.default_rng(1))

    assert proposal.reason == "ab_test"
    assert proposal.shares.tolist() == [0.5, 0.5]


def test_after_the_test_everything_goes_to_the_observed_best() -> None:
    proposal = ab_test(
        problem([(3000, 40), (3000, 45), (3000, 41)], ab_test_sends=9000), np.random.default_rng(1)
    )

    assert proposal.reason == "observed_best"
    assert proposal.shares.tolist() == [0.0, 1.0, 0.0]
