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
from copyloom.engine.problem import Problem, Proposal
from copyloom.engine.segmented import propose_per_segment, segment_ids
from copyloom.engine.values import Allocation, Cohort, Reason, SegmentAllocation, SegmentId

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
    segments: Sequence[SegmentId] = (),
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
            goes to the others, and none of them can be the winner. Never the control. In every segment
            too.
        segments: segments to allocate besides those seen on the cohorts (`Cohort.segment`), e.g. the
            declared ones that have no sends yet. Each segment's posterior borrows strength from the
            whole experiment (`pooling`): one with little traffic follows the pooled result, one with
            plenty of evidence its own.

    Returns:
        Weights that sum to 1, every variant at least `config.floor` and the control at least
        `config.control_holdout` more; P(best) per variant; the winner, or None: over all cohorts,
        whatever their segment, exactly as without segments. With segments (asked for or seen), also
        `segments`: the same per segment, computed after the overall allocation.

    Raises:
        ValueError: "<field>: …" for too few or duplicate variants, a cohort of an unknown variant, an
            unknown control, a non-finite `now`, a floor and holdout that leave nothing to allocate, or
            a segment that is not a non-empty text.
    """
    problem = checked_problem(variants, cohorts, now, config, control)
    held = _checked_capped(problem.variants, problem.control, capped)
    wanted = _checked_segments(segments)
    overall = _finished(problem, POLICIES[config.policy](problem, rng), held)
    ids = segment_ids(wanted, problem.cohorts)
    if not ids:
        return Allocation(*overall)
    proposals = propose_per_segment(problem, ids, rng)
    by_segment = {s: SegmentAllocation(*_finished(problem, p, held)) for s, p in proposals.items()}
    return Allocation(*overall, segments=by_segment)


_Finished = tuple[dict[VariantId, float], dict[VariantId, float], VariantId | None, Reason]


def _finished(problem: Problem, proposal: Proposal, held: NDArray[np.bool_]) -> _Finished:
    """A proposal with caps, floor and holdout applied: weights, P(best), winner and reason by name."""
    config = problem.config
    shares = np.where(held, 0.0, proposal.shares)
    if shares.sum() <= 0:  # the policy favoured only capped variants: the others share evenly
        shares = np.where(held, 0.0, 1.0)
    weights = apply_floor_and_holdout(
        shares, floor=config.floor, control=problem.control, holdout=config.control_holdout
    )
    names = problem.variants
    winner = None if proposal.winner is None or held[proposal.winner] else names[proposal.winner]
    return (
        dict(zip(names, (float(w) for w in weights), strict=True)),
        dict(zip(names, (float(p) for p in proposal.p_best), strict=True)),
        winner,
        "guardrail" if held.any() and proposal.reason != "warm_up" else proposal.reason,
    )


def _checked_segments(segments: Sequence[SegmentId]) -> tuple[SegmentId, ...]:
    if isinstance(segments, str):
        raise ValueError("segments: expected a sequence of segment ids, got a single text")
    checked = tuple(segments)
    for segment in checked:
        if not isinstance(segment, str) or not segment:
            raise ValueError(f"segments: expected non-empty texts, got {segment!r}")
    return checked


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
        if cohort.segment is not None and (not isinstance(cohort.segment, str) or not cohort.segment):
            raise ValueError(
                f"cohorts[{i}].segment: expected a non-empty text or None, got {cohort.segment!r}"
            )
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
