"""Why a leader is or is not the winner yet: each part of the decision rule and how far it is."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from copyloom.domain.values import VariantId
from copyloom.engine.allocator import checked_problem
from copyloom.engine.config import PolicyConfig
from copyloom.engine.decision import sequential_log_ratios, sequential_threshold
from copyloom.engine.evidence import gather_evidence
from copyloom.engine.exposure import cohort_arrays
from copyloom.engine.posterior import expected_loss, mean_rate
from copyloom.engine.values import Cohort


@dataclass(frozen=True, slots=True)
class PairTest:
    """The sequential test of the leader against one other variant.

    Attributes:
        other: the variant the leader is compared with.
        evidence: the likelihood ratio Lambda (0 when the leader is not ahead of it).
        needed: the Lambda that passes, (variants - 1) / false_winner_rate.
    """

    other: VariantId
    evidence: float
    needed: float

    @property
    def passes(self) -> bool:
        return self.evidence >= self.needed


@dataclass(frozen=True, slots=True)
class DecisionExplanation:
    """The decision rule's parts for the current leader, each with its value and what it needs.

    Attributes:
        leader: the variant of the highest P(best) (or the one asked about).
        fewest_sends: the sends of the variant with the fewest; the warm-up needs `min_sends_per_variant`.
        min_sends_per_variant: the warm-up.
        p_best: the leader's P(best); it needs at least `win_probability`.
        win_probability: from the config.
        expected_loss: E[max_j p_j - p_leader] as a share of the leader's mean rate; it needs to be below
            `max_expected_loss`.
        max_expected_loss: from the config.
        tests: the sequential test against every other variant, in variant order.
    """

    leader: VariantId
    fewest_sends: int
    min_sends_per_variant: int
    p_best: float
    win_probability: float
    expected_loss: float
    max_expected_loss: float
    tests: tuple[PairTest, ...]

    @property
    def is_warmed_up(self) -> bool:
        return self.fewest_sends >= self.min_sends_per_variant

    @property
    def is_probable_enough(self) -> bool:
        return self.p_best >= self.win_probability

    @property
    def is_loss_small_enough(self) -> bool:
        return self.expected_loss < self.max_expected_loss

    @property
    def is_met(self) -> bool:
        """Every part holds: the leader is the winner the learner declares."""
        return (
            self.is_warmed_up
            and self.is_probable_enough
            and self.is_loss_small_enough
            and all(t.passes for t in self.tests)
        )


def explain_decision(
    variants: Sequence[VariantId],
    cohorts: Iterable[Cohort],
    now: float,
    config: PolicyConfig,
    rng: np.random.Generator,
    *,
    control: VariantId | None = None,
    leader: VariantId | None = None,
) -> DecisionExplanation:
    """Each part of the decision rule for the leader, from the same evidence `allocate` uses.

    The parts are those of `evidence.gather_evidence` and `decision.find_winner` /
    `decision.beats_every_other`: the warm-up, P(best) against `config.win_probability`, the relative
    expected loss against `config.max_expected_loss`, and the sequential test against every other variant.

    Args:
        variants, cohorts, now, config, rng, control: as for `allocate`.
        leader: the variant to explain (e.g. the leader the learner stored); default the highest P(best).

    Returns:
        The explanation.

    Raises:
        ValueError: as `allocate` does, or "leader: …" for a leader that is not a variant.
    """
    problem = checked_problem(variants, cohorts, now, config, control)
    evidence = gather_evidence(problem, rng)
    if leader is not None and leader not in problem.variants:
        raise ValueError(f"leader: {leader!r} is not one of the variants")
    column = int(np.argmax(evidence.p_best)) if leader is None else problem.variants.index(leader)
    mean = mean_rate(evidence.draws, column)
    loss = expected_loss(evidence.draws, column) / mean if mean > 0 else math.inf
    arrays = cohort_arrays(problem.variants, problem.cohorts)
    count = len(problem.variants)
    ratios = sequential_log_ratios(
        arrays.sent_at,
        arrays.sends,
        arrays.clicks,
        arrays.columns,
        column,
        count=count,
        expected_lift=config.expected_lift,
    )
    needed = math.exp(sequential_threshold(count, config.false_winner_rate))
    tests = tuple(
        PairTest(problem.variants[i], _exp(ratio), needed) for i, ratio in enumerate(ratios) if i != column
    )
    return DecisionExplanation(
        leader=problem.variants[column],
        fewest_sends=int(evidence.sends.min()),
        min_sends_per_variant=config.min_sends_per_variant,
        p_best=float(evidence.p_best[column]),
        win_probability=config.win_probability,
        expected_loss=float(loss),
        max_expected_loss=config.max_expected_loss,
        tests=tests,
    )


def _exp(log_ratio: float) -> float:
    # Lambda beyond 1e300 is as decisive as any; exp would overflow.
    return math.exp(min(log_ratio, 690.0))
