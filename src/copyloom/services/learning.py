"""The learner: from stored counts to new weights for every live experiment, one failure at a time."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from copyloom.domain import EngagementKind, Experiment, ExperimentId
from copyloom.engine import Allocation, Cohort, PolicyConfig, allocate
from copyloom.storage import experiments as experiment_repo
from copyloom.storage.assignments import CohortCount, cohort_counts
from copyloom.storage.db import Store
from copyloom.storage.experiments import StoredAllocation

log = logging.getLogger(__name__)

_METRIC_KIND: dict[str, EngagementKind] = {"click": "click", "open": "open"}


@dataclass(frozen=True, slots=True)
class LearnOutcome:
    """One experiment's result of a learner pass: an allocation, or the error that stopped it."""

    experiment_id: ExperimentId
    allocation: Allocation | None
    error: str | None = None


def cohorts_for(experiment: Experiment, counts: Sequence[CohortCount]) -> list[Cohort]:
    """Engine cohorts from stored counts, counting the experiment's metric (bots and machine opens apart)."""
    kind = _METRIC_KIND[experiment.definition.metric]
    return [
        Cohort(
            variant=c.variant_id, sent_at=float(c.cohort_s), sends=c.sends, clicks=c.engagements.get(kind, 0)
        )
        for c in counts
    ]


def learn_experiment(
    store: Store, experiment: Experiment, now: float, rng: np.random.Generator, samples: int
) -> Allocation:
    """Recompute and store one experiment's allocation."""
    with store.read() as conn:
        counts = cohort_counts(conn, experiment.experiment_id)
    config = PolicyConfig(policy="thompson", mode=experiment.definition.mode, samples=samples)
    allocation = allocate(
        variants=list(experiment.variant_ids),
        cohorts=cohorts_for(experiment, counts),
        now=now,
        config=config,
        rng=rng,
        control=experiment.definition.control.variant_id,
    )
    stored = StoredAllocation(
        experiment.experiment_id,
        now,
        allocation.weights,
        allocation.p_best,
        allocation.winner,
        allocation.reason,
    )
    with store.write() as conn:
        experiment_repo.insert_allocation(conn, stored)
    return allocation


def learn_once(store: Store, now: float, rng: np.random.Generator, samples: int) -> list[LearnOutcome]:
    """One pass over every live experiment; a failing experiment is logged and the others go on."""
    with store.read() as conn:
        live = experiment_repo.experiments_with_status(conn, ["live"])
    outcomes: list[LearnOutcome] = []
    for experiment in live:
        try:
            allocation = learn_experiment(store, experiment, now, rng, samples)
        except Exception as exc:  # isolate: one experiment's failure never stops the pass
            log.exception("learner failed on experiment %s", experiment.experiment_id)
            outcomes.append(LearnOutcome(experiment.experiment_id, None, f"{type(exc).__name__}: {exc}"))
            continue
        outcomes.append(LearnOutcome(experiment.experiment_id, allocation))
    return outcomes
