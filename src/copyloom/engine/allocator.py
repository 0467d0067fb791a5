"""The engine's front: check the inputs once, run the named policy, apply floor and holdout."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from copyloom.domain.checks import is_finite_number
from copyloom.domain.values import VariantId
from copyloom.engine.allocation import apply_floor_and_holdout
from copyloom.engine.config import PolicyConfig
from copyloom.engine.policies import POLICIES
from copyloom.engine.problem import Problem
from copyloom.engine.values import Allocation, Cohort

MIN_VARIANTS = 2


def allocate(
    variants: Sequence[VariantId],
    cohorts: Iterable[Cohort],
    now: float,
    config: PolicyConfig,
    rng: np.random.Generator,
    *,
    control: VariantId | None = None,
    capped: Collection[VariantId] = (),
) -> Allocation:
    """Shares of new traffic per variant, P(best) per variant and the winner, from the cohorts so far.

    Pure: the same inputs and generator state give the same allocation.

    Args:
        variants: the variant ids, at least two, unique.
        cohorts: sends and successes per variant and send-time bucket; a variant without cohorts has
            no sends yet.
        now: the current time, epoch seconds: the delay-aware policies correct each cohort's exposure
            for the clicks that cannot have arrived by now, and forget old cohorts in triggered mode.
        config: the policy and its rules.
        rng: the only source of randomness (the Monte Carlo draws).
        control: the variant that receives `config.control_holdout`; default the first variant.
        capped: variants held at the floor whatever the evidence (a guardrail breach): their policy share
            goes to the others, and none of them can be the winner. Never the control.

    Returns:
        Weights that sum to 1, every variant at least `config.floor` and the control at least
        `config.control_holdout` more; P(best) per variant; the winner, or None.

    Raises:
        ValueError: "<field>: …" for too few or duplicate variants, a cohort of an unknown variant, an
            unknown control, a non-finite `now`, or a floor and holdout that leave nothing to allocate.
    """
    problem = checked_problem(variants, cohorts, now, config, control)
    held = _checked_capped(problem.variants, problem.control, capped)
    proposal = POLICIES[config.policy](problem, rng)
    shares = np.where(held, 0.0, proposal.shares)
    if shares.sum() <= 0:  # the policy favoured only capped variants: the others share evenly
        shares = np.where(held, 0.0, 1.0)
    weights = apply_floor_and_holdout(
        shares, floor=config.floor, control=problem.control, holdout=config.control_holdout
    )
    names = problem.variants
    winner = None if proposal.winner is None or held[proposal.winner] else names[proposal.winner]
    return Allocation(
        weights=dict(zip(names, (float(w) for w in weights), strict=True)),
        p_best=dict(zip(names, (float(p) for p in proposal.p_best), strict=True)),
        winner=winner,
        reason="guardrail" if held.any() and proposal.reason != "warm_up" else proposal.reason,
    )


def _checked_capped(
    names: tuple[VariantId, ...], control: int, capped: Collection[VariantId]
) -> NDArray[np.bool_]:
    held = np.array([name in capped for name in names], dtype=bool)
    unknown = sorted(set(capped) - set(names))
    if unknown:
        raise ValueError(f"capped: {unknown[0]!r} is not one of the variants")
    if held[control]:
        raise ValueError("capped: the control is the guardrails' reference and cannot be capped")
    return held


def checked_problem(
    variants: Sequence[VariantId],
    cohorts: Iterable[Cohort],
    now: float,
    config: PolicyConfig,
    control: VariantId | None,
) -> Problem:
    """The inputs of `allocate` as a `Problem`, checked as `allocate` documents."""
    names = _checked_variants(variants)
    checked_cohorts = _checked_cohorts(names, cohorts)
    if not is_finite_number(now):
        raise ValueError(f"now: expected finite epoch seconds, got {now!r}")
    control = names[0] if control is None else control
    if control not in names:
        raise ValueError(f"control: {control!r} is not one of the variants")
    _check_shares_fit(config, len(names))
    return Problem(names, checked_cohorts, float(now), names.index(control), config)


def _checked_variants(variants: Sequence[VariantId]) -> tuple[VariantId, ...]:
    names = tuple(variants)
    if len(names) < MIN_VARIANTS:
        raise ValueError(f"variants: expected at least {MIN_VARIANTS} variants, got {len(names)}")
    seen: set[VariantId] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"variants: duplicate variant {name!r}")
        seen.add(name)
    return names


def _checked_cohorts(names: tuple[VariantId, ...], cohorts: Iterable[Cohort]) -> tuple[Cohort, ...]:
    checked = tuple(cohorts)
    known = set(names)
    for i, cohort in enumerate(checked):
        if not isinstance(cohort, Cohort):
            raise ValueError(f"cohorts[{i}]: expected a Cohort, got {type(cohort).__name__}")
        if cohort.variant not in known:
            raise ValueError(f"cohorts[{i}].variant: {cohort.variant!r} is not one of the variants")
    return checked


def _check_shares_fit(config: PolicyConfig, count: int) -> None:
    # Something must be left to allocate by P(best), or the policy could not move traffic at all.
    if config.floor * count >= 1:
        raise ValueError(f"floor: {config.floor} for each of {count} variants must total below 1")
    if config.control_holdout + config.floor * count >= 1:
        raise ValueError(
            f"control_holdout: {config.control_holdout} plus floor {config.floor} for each of "
            f"{count} variants must total below 1"
        )
