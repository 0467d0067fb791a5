"""The pure optimisation engine: cohorts in; traffic weights, P(best) and a winner out.

No IO, no clock, no environment, no global random state: randomness comes in as `rng`, time as `now`.
"""

from __future__ import annotations

from copyloom.domain.values import GuardrailRule
from copyloom.engine.allocator import allocate
from copyloom.engine.config import PolicyConfig
from copyloom.engine.delay import DelayModel, estimate_delay_model
from copyloom.engine.guardrails import Breach, Tally, find_breaches
from copyloom.engine.policies import POLICIES, policy_names
from copyloom.engine.values import Allocation, Cohort, PolicyName, Reason, SegmentAllocation, SegmentId

__all__ = [
    "POLICIES",
    "Allocation",
    "Breach",
    "Cohort",
    "DelayModel",
    "GuardrailRule",
    "PolicyConfig",
    "PolicyName",
    "Reason",
    "SegmentAllocation",
    "SegmentId",
    "Tally",
    "allocate",
    "estimate_delay_model",
    "find_breaches",
    "policy_names",
]
