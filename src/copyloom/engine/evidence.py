"""What every policy starts from: posterior draws, P(best), the warm-up state and the decision rule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from copyloom.engine.allocation import is_warming_up
from copyloom.engine.decision import beats_every_other, find_winner
from copyloom.engine.exposure import cohort_arrays, effective_totals
from copyloom.engine.posterior import FloatArray, Totals, probability_best, sample_rates, sum_cohorts
from copyloom.engine.problem import Problem


@dataclass(frozen=True, slots=True)
class Evidence:
    """The posterior view of one experiment, in columns of the problem's variants.

    Attributes:
        totals: successes and effective exposures per variant, the posterior's counts.
        sends: raw sends per variant, what the warm-up counts.
        draws: posterior rates of shape (samples, variants).
        p_best: P(best) per variant.
        is_warming_up: some variant has fewer sends than the warm-up needs.
        winner: the column meeting the decision rule; always None during the warm-up.
    """

    totals: Totals
    sends: FloatArray
    draws: FloatArray
    p_best: FloatArray
    is_warming_up: bool
    winner: int | None


def gather_evidence(problem: Problem, rng: np.random.Generator, *, is_delay_aware: bool = True) -> Evidence:
    """Count the cohorts, sample the posteriors and apply the warm-up and the decision rule.

    Delay-aware (the default), each cohort's exposure is its sends times the share of its clicks that
    can have arrived by `problem.now` (`config.delay`, in broadcast mode refined on the experiment's own
    cohorts when `config.refine_delay`); in broadcast mode cohorts younger than
    `config.min_cohort_age_s` are left out of the posterior (not of the warm-up or the winner test), and
    in triggered mode old cohorts are discounted (`config.half_life_s`) and dropped when they precede a
    detected change (`config.change_z`).
    Otherwise every click counts against every send so far, however recent.

    Args:
        problem: the checked inputs.
        rng: the only source of randomness.
        is_delay_aware: correct exposures for delayed clicks and, in triggered mode, forget.

    Returns:
        The evidence.
    """
    config = problem.config
    raw = sum_cohorts(problem.variants, problem.cohorts)
    totals = raw
    if is_delay_aware:
        is_triggered = config.mode == "triggered"
        totals = effective_totals(
            problem.variants,
            problem.cohorts,
            now=problem.now,
            delay=config.delay,
            half_life_s=config.half_life_s if is_triggered else None,
            is_delay_refined=config.refine_delay and not is_triggered,
            change_z=config.change_z if is_triggered else None,
            min_age_s=0.0 if is_triggered else config.min_cohort_age_s,
        )
    draws = sample_rates(
        totals, prior_alpha=config.prior_alpha, prior_beta=config.prior_beta, samples=config.samples, rng=rng
    )
    p_best = probability_best(draws)
    warming_up = is_warming_up(raw.sends, config.min_sends_per_variant)
    winner = None if warming_up else decided_winner(draws, p_best, problem)
    return Evidence(totals, raw.sends, draws, p_best, warming_up, winner)


def decided_winner(draws: FloatArray, p_best: FloatArray, problem: Problem) -> int | None:
    """The column the decision rule declares the winner on these draws, else None: the leader by P(best)
    and expected loss (`find_winner`), if it also beats every other variant in the sequential test on
    the problem's own cohorts (`beats_every_other`)."""
    config = problem.config
    leader = find_winner(
        draws, p_best, win_probability=config.win_probability, max_expected_loss=config.max_expected_loss
    )
    if leader is None:
        return None
    arrays = cohort_arrays(problem.variants, problem.cohorts)
    is_significant = beats_every_other(
        arrays.sent_at,
        arrays.sends,
        arrays.clicks,
        arrays.columns,
        leader,
        count=len(problem.variants),
        false_winner_rate=config.false_winner_rate,
        expected_lift=config.expected_lift,
    )
    return leader if is_significant else None
