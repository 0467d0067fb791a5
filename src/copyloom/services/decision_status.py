"""What a live experiment still lacks to declare its leader the winner, recomputed as the learner would."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from copyloom.domain.values import Experiment, VariantId
from copyloom.engine import DelayModel
from copyloom.engine.explain import DecisionExplanation, explain_decision
from copyloom.services.learning import cohorts_for, delay_model, policy_config
from copyloom.storage.assignments import CohortCount
from copyloom.storage.db import Store

EXPLAIN_SAMPLES = 10_000
"""Posterior draws behind the explanation: P(best) and the expected loss to about ±0.5 %."""
_SEED = 0  # the same data always gives the same explanation


def explain_from_counts(
    experiment: Experiment,
    counts: Sequence[CohortCount],
    leader: VariantId | None,
    now: float,
    delay: DelayModel,
) -> DecisionExplanation | None:
    """The decision rule's parts for the learner's leader (pure); None once finished or before a leader."""
    if leader is None or experiment.status == "finished":
        return None
    return explain_decision(
        list(experiment.variant_ids),
        cohorts_for(experiment, counts),
        now,
        policy_config(experiment, EXPLAIN_SAMPLES, delay),
        np.random.default_rng(_SEED),
        control=experiment.definition.control.variant_id,
        leader=leader,
    )


def explain_status(
    store: Store,
    experiment: Experiment,
    counts: Sequence[CohortCount],
    leader: VariantId | None,
    now: float,
) -> DecisionExplanation | None:
    """`explain_from_counts` with the tenant's delay model, as the learner fits it."""
    if leader is None or experiment.status == "finished":
        return None
    delay = delay_model(store, experiment.tenant_id, experiment.definition.metric, now)
    return explain_from_counts(experiment, counts, leader, now, delay)
