"""The policy registry: every allocation policy by name. To add one, see docs/adding-a-policy.md."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from copyloom.engine.policies.base import Policy
from copyloom.engine.policies.thompson import thompson
from copyloom.engine.policies.uniform import uniform

__all__ = ["POLICIES", "Policy", "policy_names"]

POLICIES: Mapping[str, Policy] = MappingProxyType({"thompson": thompson, "uniform": uniform})


def policy_names() -> tuple[str, ...]:
    """The registered policy names, sorted."""
    return tuple(sorted(POLICIES))
