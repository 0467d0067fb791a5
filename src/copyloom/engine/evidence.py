"""What every policy starts from: posterior draws, P(best), the warm-up state and the decision rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from copyloom.engine.allocation import is_warming_up
from copyloom.engine.decision import find_winner
from copyloom.engine.posterior import FloatArray, Totals, probability_best, sample_rates, sum_cohorts

if TYPE_CHECKING:
    from copyloom.engine.policies.base import Problem


@dataclass(frozen=True, slots=True)
class Evidence:
    """The posterior view of one experiment, in columns of the problem's variants.

    Attributes:
        totals: sends and successes per variant.
        draws: posterior rates of shape (samples, variants).
        p_best: P(best) per variant.
        is_warming_up: some variant has fewer sends than the warm-up needs.
        winner: the column meeting the decision rule; always None during the warm-up.
    """

    totals: Totals
    draws: FloatArray
    p_best: FloatArray
    is_warming_up: bool
    winner: int | None


def gather_evidence(problem: Problem, rng: np.random.Generator) -> Evidence:
    """Sum the cohorts, sample the posteriors and apply the warm-up and the decision rule.

    Every click is counted against every send so far, however recent: `problem.now` is not used yet;
    the delay-aware version will discount the exposure of cohorts whose clicks cannot all have arrived.

    Args:
        problem: the checked inputs.
        rng: the only source of randomness.

    Returns:
        The evidence.
    """
    config = problem.config
    totals = sum_cohorts(problem.variants, problem.cohorts)
    draws = sample_rates(
        totals, prior_alpha=config.prior_alpha, prior_beta=config.prior_beta, samples=config.samples, rng=rng
    )
    p_best = probability_best(draws)
    warming_up = is_warming_up(totals.sends, config.min_sends_per_variant)
    winner = None
    if not warming_up:
        winner = find_winner(
            draws, p_best, win_probability=config.win_probability, max_expected_loss=config.max_expected_loss
        )
    return Evidence(totals, draws, p_best, warming_up, winner)
