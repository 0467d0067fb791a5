"""The engine's public value types: the cohorts it reads and the allocation it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from copyloom.domain.checks import is_finite_number, is_integer
from copyloom.domain.values import VariantId

Reason = Literal[
    "warm_up",
    "probability_matching",
    "winner",
    "uniform",
    "ab_test",
    "observed_best",
    "upper_confidence_bound",
    "epsilon_greedy",
    "guardrail",
]
"""Why the weights are what they are: every reason any policy can give, in one place (`guardrail`: some
variant is held at the floor by a guardrail breach, the rest allocated as the policy says)."""

SegmentId = str
"""A segment of recipients, opaque text such as "country=GB|tier=loyal"; never empty."""

PolicyName = Literal["thompson", "thompson_naive", "uniform", "ab_test", "ucb1", "epsilon_greedy"]
"""Every registered policy, in the registry's order (`policies.POLICIES` maps each to its function)."""


@dataclass(frozen=True, slots=True)
class Cohort:
    """The sends of one variant in one send-time bucket, with the successes attributed to them so far.

    Attributes:
        variant: the variant id.
        sent_at: start of the send-time bucket, epoch seconds.
        sends: recipients sent this variant in the bucket.
        clicks: unique successes of the experiment metric (clicks or opens) among those sends.
        segment: the recipients' segment, or None when the experiment is not segmented (such cohorts
            count in the overall allocation and in the pooled prior of the segments, in no segment).

    Raises:
        ValueError: naming the field, when sends < 0, clicks is outside 0..sends, sent_at is not finite,
            or segment is not a non-empty text.
    """

    variant: VariantId
    sent_at: float
    sends: int
    clicks: int
    segment: SegmentId | None = None

    def __post_init__(self) -> None:
        where = f"(variant {self.variant!r})"
        if not isinstance(self.variant, str):
            raise ValueError(f"variant: expected a text, got {self.variant!r}")
        if not is_finite_number(self.sent_at):
            raise ValueError(f"sent_at: expected finite epoch seconds, got {self.sent_at!r} {where}")
        if not is_integer(self.sends) or self.sends < 0:
            raise ValueError(f"sends: expected an integer >= 0, got {self.sends!r} {where}")
        if not is_integer(self.clicks) or not 0 <= self.clicks <= self.sends:
            raise ValueError(
                f"clicks: expected an integer from 0 to sends ({self.sends}), got {self.clicks!r} {where}"
            )
        if self.segment is not None and (not isinstance(self.segment, str) or not self.segment):
            raise ValueError(f"segment: expected a non-empty text or None, got {self.segment!r} {where}")


@dataclass(frozen=True, slots=True)
class SegmentAllocation:
    """The engine's answer for one segment: what its recipients get, from its pooled posterior.

    Attributes:
        weights: variant -> share of the segment's new traffic; sums to 1, floor, holdout and caps
            applied as for the whole experiment.
        p_best: variant -> posterior probability that its rate is the highest in this segment.
        winner: this segment's winner under the decision rule, else None.
        reason: why the weights are what they are (see `Reason`).
    """

    weights: dict[VariantId, float]
    p_best: dict[VariantId, float]
    winner: VariantId | None
    reason: Reason


@dataclass(frozen=True, slots=True)
class Allocation:
    """The engine's answer for one experiment at one moment.

    Attributes:
        weights: variant -> share of new traffic; every variant present, shares sum to 1.
        p_best: variant -> posterior probability that its rate is the highest; sums to 1.
        winner: the variant that meets the decision rule, else None.
        reason: why the weights are what they are (see `Reason`).
        segments: segment -> its own allocation, for every segment asked for or seen on a cohort; empty
            when the experiment is not segmented. A segment not in it is served `weights`.
    """

    weights: dict[VariantId, float]
    p_best: dict[VariantId, float]
    winner: VariantId | None
    reason: Reason
    segments: dict[SegmentId, SegmentAllocation] = field(default_factory=dict)
