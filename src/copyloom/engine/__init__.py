"""The pure optimisation engine: cohorts in, traffic weights, P(best) and a winner out.

No IO, no clock, no environment, no global random state: randomness comes in as `rng`, time as `now`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from copyloom.engine.allocation import apply_rules, concentrate, even, is_warming_up
from copyloom.engine.decision import decide_winner
from copyloom.engine.policies import CONCENTRATES_ON_WINNER, POLICIES, PolicyInput, policy_names
from copyloom.engine.posterior import FloatArray, probability_best, sample_rates, totals
from copyloom.engine.types import Allocation, Cohort, EngineMode, PolicyConfig

__all__ = ["POLICIES", "Allocation", "Cohort", "EngineMode", "PolicyConfig", "allocate", "policy_names"]


def allocate(
    variants: Sequence[str],
    cohorts: Sequence[Cohort],
    now: float,
    config: PolicyConfig,
    rng: np.random.Generator,
    *,
    control: str | None = None,
) -> Allocation:
    """Shares of new traffic for each variant, from the evidence so far.

    Args:
        variants: the variant ids, at least two, unique.
        cohorts: sends and successes per variant and send-time bucket.
        now: the current time (seconds since the epoch), for policies that model feedback delay.
        config: the policy and its rules.
        rng: the only source of randomness (Monte Carlo draws).
        control: the control variant, which receives `config.control_holdout`; default the first.

    Returns:
        Weights summing to 1 with every floor respected, P(best) per variant, and the winner once the
        decision rule holds (in broadcast mode the winner then gets everything but floors and holdout).

    Raises:
        ValueError: invalid variants, cohorts of unknown variants, or floors and holdout over 100 %.
    """
    names = _check(variants, cohorts, config, control)
    control_id = control if control is not None else names[0]
    sends, clicks = totals(names, cohorts)
    draws = sample_rates(
        sends, clicks, alpha=config.prior_alpha, beta=config.prior_beta, samples=config.samples, rng=rng
    )
    p_best = probability_best(draws)
    p_best_map = dict(zip(names, (float(p) for p in p_best), strict=True))

    def weights(shares: FloatArray) -> dict[str, float]:
        return apply_rules(
            names, shares, floor=config.floor, control=control_id, control_holdout=config.control_holdout
        )

    if is_warming_up(sends, config.min_sends_per_variant):
        return Allocation(weights(even(names)), p_best_map, None, "warm_up")
    winner = decide_winner(
        names,
        draws,
        p_best,
        win_probability=config.win_probability,
        max_expected_loss=config.max_expected_loss,
    )
    evidence = PolicyInput(names, tuple(cohorts), sends, clicks, draws, p_best, now, config, rng)
    shares = POLICIES[config.policy](evidence)
    reason = "uniform" if config.policy == "uniform" else "probability_matching"
    if winner is not None and config.mode == "broadcast" and config.policy in CONCENTRATES_ON_WINNER:
        shares, reason = concentrate(names, winner), "winner"
    return Allocation(weights(shares), p_best_map, winner, reason)


def _check(
    variants: Sequence[str], cohorts: Sequence[Cohort], config: PolicyConfig, control: str | None
) -> tuple[str, ...]:
    names = tuple(variants)
    if len(names) < 2:
        raise ValueError(f"variants: at least 2 are needed, got {len(names)}")
    if len(set(names)) != len(names):
        raise ValueError("variants: duplicate variant ids")
    unknown = sorted({c.variant for c in cohorts} - set(names))
    if unknown:
        raise ValueError(f"cohorts: unknown variant {unknown[0]!r}")
    if control is not None and control not in names:
        raise ValueError(f"control: {control!r} is not one of the variants")
    if config.floor * len(names) + config.control_holdout >= 1:
        raise ValueError(
            f"config: floor x {len(names)} variants + control_holdout must stay under 1, "
            f"got {config.floor * len(names) + config.control_holdout:.3f}"
        )
    return names
