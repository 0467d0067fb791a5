"""The oracle (a benchmark reference): the exact posterior over which variant has which known rate."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from copyloom.engine import Cohort, DelayModel
from copyloom.simulation.oracle import MAX_ORACLE_VARIANTS, assignment_marginals, oracle_shares

DELAY = DelayModel(3600.0, 1.5)
VARIANTS = ("a", "b", "c")


def brute_force_marginals(weights: np.ndarray) -> np.ndarray:
    n = weights.shape[0]
    totals = np.zeros((n, n))
    for assignment in itertools.permutations(range(n)):
        weight = np.prod([weights[row, column] for row, column in enumerate(assignment)])
        for row, column in enumerate(assignment):
            totals[row, column] += weight
    return totals / totals[0].sum()


@pytest.mark.parametrize("n", [2, 3, 5, 6])
def test_the_marginals_equal_a_sum_over_every_assignment(n: int) -> None:
    weights = np.random.default_rng(n).random((n, n)) ** 3

    marginals = assignment_marginals(weights)

    np.testing.assert_allclose(marginals, brute_force_marginals(weights), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(marginals.sum(axis=0), 1.0)
    np.testing.assert_allclose(marginals.sum(axis=1), 1.0)


def test_a_single_assignment_of_positive_weight_is_certain() -> None:
    weights = np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 3.0], [5.0, 0.0, 0.0]])

    np.testing.assert_array_equal(assignment_marginals(weights), (weights > 0).astype(float))


def test_before_any_send_every_variant_is_equally_likely_best() -> None:
    p_best, shares = oracle_shares((0.02, 0.03, 0.025), DELAY, VARIANTS, (), now=0.0)

    np.testing.assert_allclose(p_best, 1 / 3)
    np.testing.assert_allclose(shares, 1 / 3)


def test_clicks_point_to_the_variant_that_has_the_best_rate() -> None:
    sent_at, now = 0.0, 7 * 86_400.0  # a week on: every click has arrived
    cohorts = [
        Cohort("a", sent_at, 20_000, 400),
        Cohort("b", sent_at, 20_000, 600),
        Cohort("c", sent_at, 20_000, 500),
    ]

    p_best, shares = oracle_shares((0.02, 0.03, 0.025), DELAY, VARIANTS, cohorts, now)

    assert p_best[1] > 0.999
    assert shares.sum() == pytest.approx(1.0)
    assert shares[1] > 0.999


def test_the_delay_law_turns_fresh_sends_into_little_exposure() -> None:
    # b has fewer clicks than a, but its sends are minutes old: under the delay law they are the better
    # evidence of a high rate.
    now = 4 * 3600.0
    cohorts = [Cohort("a", 0.0, 10_000, 100), Cohort("b", now - 600, 10_000, 40)]

    p_best, _ = oracle_shares((0.02, 0.03), DELAY, ("a", "b"), cohorts, now)

    assert p_best[1] > 0.99


def test_tied_best_rates_share_p_best() -> None:
    p_best, _ = oracle_shares((0.03, 0.03, 0.02), DELAY, VARIANTS, (), now=0.0)

    np.testing.assert_allclose(p_best, 1 / 3)
    assert p_best.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("rates", "variants", "message"),
    [
        ((0.02, 0.03), VARIANTS, "rates: expected one per variant (3), got 2"),
        ((0.02, 0.0, 0.03), VARIANTS, "rates: expected each in (0, 1), got [0.02, 0.0, 0.03]"),
        (
            (0.02,) * (MAX_ORACLE_VARIANTS + 1),
            tuple(f"v{i}" for i in range(MAX_ORACLE_VARIANTS + 1)),
            f"rates: at most {MAX_ORACLE_VARIANTS} variants, got {MAX_ORACLE_VARIANTS + 1}",
        ),
    ],
)
def test_rates_it_cannot_use_are_refused(
    rates: tuple[float, ...], variants: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError) as error:
        oracle_shares(rates, DELAY, variants, (), now=0.0)

    assert str(error.value) == message
