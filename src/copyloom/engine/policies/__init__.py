"""The policy registry: every allocation policy by name. To add one, see docs/adding-a-policy.md."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from copyloom.engine.policies.ab_split import ab_test
from copyloom.engine.policies.epsilon_greedy import epsilon_greedy
from copyloom.engine.policies.thompson import thompson, thompson_naive
from copyloom.engine.policies.ucb1 import ucb1
from copyloom.engine.policies.uniform import uniform
from copyloom.engine.problem import Policy
from copyloom.engine.values import PolicyName

__all__ = ["POLICIES", "Policy", "policy_names"]

POLICIES: Mapping[PolicyName, Policy] = MappingProxyType(
    {
        "thompson": thompson,
        "thompson_naive": thompson_naive,
        "uniform": uniform,
        "ab_test": ab_test,
        "ucb1": ucb1,
        "epsilon_greedy": epsilon_greedy,
    }
)


def policy_names() -> tuple[PolicyName, ...]:
    """The registered policy names, sorted."""
    return tuple(sorted(POLICIES))
