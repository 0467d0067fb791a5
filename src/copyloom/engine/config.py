"""How a policy allocates and when it declares a winner: one frozen, self-validating value."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import get_args

from copyloom.domain.checks import is_finite_number, is_integer
from copyloom.domain.values import (
    DEFAULT_CONTROL_HOLDOUT,
    DEFAULT_FLOOR,
    DEFAULT_MIN_SENDS_PER_VARIANT,
    MODES,
    Mode,
)
from copyloom.engine.delay import DEFAULT_DELAY, DelayModel
from copyloom.engine.values import PolicyName

MAX_SAMPLES = 1_000_000
_SORTED_POLICY_NAMES = tuple(sorted(get_args(PolicyName)))


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """Settings of one allocation; every field is checked on construction.

    Attributes:
        policy: a registered policy name (`PolicyName`; `policy_names()` lists them).
        mode: "broadcast" concentrates traffic on a declared winner; "triggered" keeps probability
            matching, since a winner can change over the weeks a triggered experiment runs.
        floor: minimum share of every variant; `allocate` also requires floor * len(variants) < 1.
        control_holdout: share reserved for the control before the policy splits the rest, so the
            control always gets at least this much (plus its floor); 0 for none.
        min_sends_per_variant: warm-up; the split stays even until every variant has this many sends.
        samples: Monte Carlo draws from the posterior per allocation.
        prior_alpha: Beta prior successes added to every variant.
        prior_beta: Beta prior failures added to every variant.
        win_probability: P(best) the leader needs to be declared the winner. With two equal variants,
            one look declares a false winner about 2 * (1 - win_probability) of the time.
        max_expected_loss: the leader's expected loss must also be below this fraction of its mean rate.
        exploitation: broadcast mode: the most that traffic is sharpened towards the leader. Shares
            follow P(best) ** k (tempered probability matching), k rising from 1 (plain Thompson
            sampling) towards `exploitation` as successes accumulate:
            k = 1 + (exploitation - 1) * n / (n + sharpen_successes), n the experiment's successes so
            far. A broadcast is over in hours, so the clicks of exploring late are worth less than in
            the weeks of a triggered experiment, which keeps k = 1; but on little evidence P(best) is
            noisy, and sharpening it would swing the traffic to whichever variant is lucky.
        sharpen_successes: broadcast mode: the successes at which k is half-way from 1 to
            `exploitation` (a 20,000-recipient send at 4 % ends near 800; a 1,000,000-recipient one
            passes 1,000 within its first hour).
        leader_share: broadcast mode: the most of the traffic that goes to the variant of the highest
            posterior mean before the rest follows P(best) ** k; the part rises with the evidence as k
            does: leader_share * n / (n + sharpen_successes). Probability matching spreads the traffic
            over near-equal leaders as if the send had no end; the default, 0.8, beat 0 on 500
            simulated seeds (docs/engine-tuning.md).
        false_winner_rate: the leader must also pass an always-valid sequential test against every
            other variant, stratified by send time so that it needs no delay model (see
            `decision.beats_every_other`), so that an experiment looked at every minute declares a
            winner among equal variants at most about this often.
        expected_lift: the relative lift the sequential test is tuned to detect (the spread of its
            normal mixture on the log rate ratio).
        delay: the click-delay model behind the effective exposure of the delay-aware policies; pass
            `estimate_delay_model(...)` of the tenant's delays.
        refine_delay: broadcast mode: fit `delay` to the experiment's own cohorts at each look (within
            a factor of about two of it), so that a prior tail that is too light or too heavy does not
            favour the variant with the youngest sends.
        min_cohort_age_s: broadcast mode, delay-aware policies: cohorts younger than this at `now` (from
            their `sent_at`) add neither sends nor clicks to the posterior, since in their first minutes
            F(age) is tiny and most wrong, so the variant gaining traffic looks better than it is; 0 keeps
            every cohort. The warm-up still counts their sends and the winner test still sees them: it
            compares variants within a send time, which needs no delay model. The default, 5 minutes,
            beat 0 on 400 simulated seeds (docs/engine-tuning.md).
        half_life_s: triggered mode only: the age of a cohort (from its `sent_at` to `now`) at which
            its evidence counts half, so that the policy follows a change of the best variant.
        change_z: triggered mode only: when, after a send time, the rate ratio of two variants sent at
            the same time, or a variant's rate against its own at the same hours of the week before,
            differs from before by this many standard errors (scanning split points every six hours),
            the cohorts sent before are dropped (`change.find_change`: rhythms by hour of day and day
            of week shared by every variant cannot raise it); high because the scan makes many
            comparisons at every look. The default, 4.5, was measured against 4 and 5
            (docs/engine-tuning.md).
        ab_test_sends: policy "ab_test": total sends of the even-split test before all traffic goes
            to the observed best.
        epsilon: policy "epsilon_greedy": the share of traffic spread evenly over all variants.

    Raises:
        ValueError: "<field>: expected …, got …" for the first field out of range.
    """

    policy: PolicyName = "thompson"
    mode: Mode = "broadcast"
    floor: float = DEFAULT_FLOOR
    control_holdout: float = DEFAULT_CONTROL_HOLDOUT
    min_sends_per_variant: int = DEFAULT_MIN_SENDS_PER_VARIANT
    samples: int = 10_000
    prior_alpha: float = 1.0
    prior_beta: float = 1.0
    win_probability: float = 0.95
    max_expected_loss: float = 0.01
    exploitation: float = 3.0
    sharpen_successes: float = 1000.0
    leader_share: float = 0.8
    false_winner_rate: float = 0.05
    expected_lift: float = 0.1
    delay: DelayModel = DEFAULT_DELAY
    refine_delay: bool = True
    min_cohort_age_s: float = 300.0
    half_life_s: float = 7 * 86_400.0
    change_z: float = 4.5
    ab_test_sends: int = 10_000
    epsilon: float = 0.1

    def __post_init__(self) -> None:
        _check_choice("policy", self.policy, _SORTED_POLICY_NAMES)
        _check_choice("mode", self.mode, MODES)
        _check_number("floor", self.floor, "0 <= floor < 1", lambda x: 0 <= x < 1)
        _check_number(
            "control_holdout", self.control_holdout, "0 <= control_holdout < 1", lambda x: 0 <= x < 1
        )
        _check_integer("min_sends_per_variant", self.min_sends_per_variant, "an integer >= 0", 0, None)
        _check_integer("samples", self.samples, f"an integer from 1 to {MAX_SAMPLES}", 1, MAX_SAMPLES)
        _check_number("prior_alpha", self.prior_alpha, "prior_alpha > 0", lambda x: x > 0)
        _check_number("prior_beta", self.prior_beta, "prior_beta > 0", lambda x: x > 0)
        _check_number(
            "win_probability", self.win_probability, "0.5 < win_probability <= 1", lambda x: 0.5 < x <= 1
        )
        _check_number(
            "max_expected_loss", self.max_expected_loss, "0 < max_expected_loss <= 1", lambda x: 0 < x <= 1
        )
        _check_number("exploitation", self.exploitation, "1 <= exploitation <= 10", lambda x: 1 <= x <= 10)
        _check_number("sharpen_successes", self.sharpen_successes, "sharpen_successes > 0", lambda x: x > 0)
        _check_number("leader_share", self.leader_share, "0 <= leader_share <= 1", lambda x: 0 <= x <= 1)
        _check_number(
            "false_winner_rate", self.false_winner_rate, "0 < false_winner_rate < 1", lambda x: 0 < x < 1
        )
        _check_number("expected_lift", self.expected_lift, "expected_lift > 0", lambda x: x > 0)
        if not isinstance(self.delay, DelayModel):
            raise ValueError(f"delay: expected a DelayModel, got {type(self.delay).__name__}")
        if not isinstance(self.refine_delay, bool):
            raise ValueError(f"refine_delay: expected True or False, got {self.refine_delay!r}")
        _check_number("min_cohort_age_s", self.min_cohort_age_s, "min_cohort_age_s >= 0", lambda x: x >= 0)
        _check_number("half_life_s", self.half_life_s, "half_life_s > 0", lambda x: x > 0)
        _check_number("change_z", self.change_z, "change_z >= 3", lambda x: x >= 3)
        _check_integer("ab_test_sends", self.ab_test_sends, "an integer >= 0", 0, None)
        _check_number("epsilon", self.epsilon, "0 <= epsilon <= 1", lambda x: 0 <= x <= 1)


def _check_choice(field: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{field}: expected one of {', '.join(allowed)}, got {value!r}")


def _check_number(field: str, value: object, rule: str, is_valid: Callable[[float], bool]) -> None:
    if not is_finite_number(value) or not is_valid(value):
        raise ValueError(f"{field}: expected a number with {rule}, got {value!r}")


def _check_integer(field: str, value: object, rule: str, low: int, high: int | None) -> None:
    if not is_integer(value) or value < low or (high is not None and value > high):
        raise ValueError(f"{field}: expected {rule}, got {value!r}")
