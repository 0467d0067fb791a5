"""The engine's value types: cohorts in, allocations out, and a policy config that checks itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EngineMode = Literal["broadcast", "triggered"]


@dataclass(frozen=True, slots=True)
class Cohort:
    """The sends of one variant in one send-time bucket, with the successes attributed to them so far.

    `clicks` counts successes of the experiment's metric (unique clicks, or unique opens).
    """

    variant: str
    sent_at: float
    sends: int
    clicks: int

    def __post_init__(self) -> None:
        if self.sends < 0:
            raise ValueError(f"Cohort.sends: must be 0 or more, got {self.sends}")
        if not 0 <= self.clicks <= self.sends:
            raise ValueError(f"Cohort.clicks: must be between 0 and sends ({self.sends}), got {self.clicks}")


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """How to allocate. Validates itself; `allocate` checks the parts that depend on the variant count."""

    policy: str = "thompson"
    mode: EngineMode = "broadcast"
    floor: float = 0.01
    control_holdout: float = 0.0
    min_sends_per_variant: int = 100
    samples: int = 10_000
    prior_alpha: float = 1.0
    prior_beta: float = 1.0
    win_probability: float = 0.95
    max_expected_loss: float = 0.01

    def __post_init__(self) -> None:
        from copyloom.engine.policies import POLICIES  # noqa: PLC0415 - the registry imports this module

        if self.policy not in POLICIES:
            raise ValueError(
                f"PolicyConfig.policy: unknown policy {self.policy!r}; known: {', '.join(sorted(POLICIES))}"
            )
        if self.mode not in ("broadcast", "triggered"):
            raise ValueError(f"PolicyConfig.mode: expected 'broadcast' or 'triggered', got {self.mode!r}")
        if not 0 <= self.floor < 1:
            raise ValueError(f"PolicyConfig.floor: must be in [0, 1), got {self.floor}")
        if not 0 <= self.control_holdout < 1:
            raise ValueError(f"PolicyConfig.control_holdout: must be in [0, 1), got {self.control_holdout}")
        if self.min_sends_per_variant < 0:
            raise ValueError(
                f"PolicyConfig.min_sends_per_variant: must be 0 or more, got {self.min_sends_per_variant}"
            )
        if self.samples < 100:
            raise ValueError(f"PolicyConfig.samples: must be at least 100, got {self.samples}")
        if self.prior_alpha <= 0 or self.prior_beta <= 0:
            raise ValueError("PolicyConfig.prior_alpha, prior_beta: must be greater than 0")
        if not 0.5 < self.win_probability < 1:
            raise ValueError(f"PolicyConfig.win_probability: must be in (0.5, 1), got {self.win_probability}")
        if self.max_expected_loss <= 0:
            raise ValueError(
                f"PolicyConfig.max_expected_loss: must be greater than 0, got {self.max_expected_loss}"
            )


@dataclass(frozen=True, slots=True)
class Allocation:
    """Shares of new traffic, posterior probabilities of being best, and the winner once declared.

    `reason` says how the weights were set: "warm_up", "probability_matching", "winner" or "uniform".
    """

    weights: dict[str, float]
    p_best: dict[str, float]
    winner: str | None
    reason: str
