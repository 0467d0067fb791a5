"""The domain: value types (`values`), events (`events`), pseudonymisation (`pseudonyms`), the
experiment-definition parser (`definition`) and shared number predicates (`checks`).

Import from those modules. The name below is re-exported only for modules not yet moved to them.
"""

from __future__ import annotations

from copyloom.domain.definition import parse_experiment_definition

__all__ = ["parse_experiment_definition"]
