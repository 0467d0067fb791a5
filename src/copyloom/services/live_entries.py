"""An experiment as an API worker serves it: its variants and the weights in force, overall and per
segment, prepared once per cache refresh; and a content call's segment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from copyloom.domain.context import CONTEXT_PARAM_PREFIX, all_segments, segment_of
from copyloom.domain.values import Experiment, SegmentId, Variant, VariantId
from copyloom.errors import InvalidInput
from copyloom.services.assignment import cumulative_weights, served_weights
from copyloom.services.health import checks_from_json
from copyloom.storage.experiments import StoredAllocation


@dataclass(frozen=True, slots=True)
class Weights:
    """Served weights (one per variant, in the experiment's order) and their running totals."""

    weights: tuple[float, ...]
    cumulative: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class LiveEntry:
    """An experiment as served: its variants and current weights, prepared once per refresh."""

    experiment: Experiment
    overall: Weights
    allocated_at: float | None
    variant_ids: tuple[VariantId, ...]
    variants: Mapping[VariantId, Variant]
    checks: tuple[tuple[str, str], ...] = ()  # (health check, verdict) of the learner's latest look
    by_segment: Mapping[SegmentId, Weights] | None = None
    """The weights of each segment the learner allocated (an experiment with context): at most one per
    declared segment (`domain.context.MAX_SEGMENTS`)."""

    @property
    def weights(self) -> tuple[float, ...]:
        return self.overall.weights

    def weights_for(self, segment: SegmentId) -> Weights:
        """The weights a recipient of `segment` is drawn on: the segment's, else the overall ones."""
        found = self.by_segment.get(segment) if self.by_segment else None
        return found or self.overall


def live_entry(experiment: Experiment, allocation: StoredAllocation | None) -> LiveEntry:
    """The entry of an experiment and its latest allocation (None: the learner has not run yet)."""
    weights = served_weights(experiment, allocation.weights if allocation else None)
    found = checks_from_json(allocation.health) if allocation and allocation.health else ()
    by_segment = None
    if allocation is not None and allocation.segments and experiment.definition.context:
        declared = set(all_segments(experiment.definition.context))
        by_segment = {
            segment: _weights(served_weights(experiment, stored.weights))
            for segment, stored in allocation.segments.items()
            if segment in declared
        }
    return LiveEntry(
        experiment,
        _weights(weights),
        allocation.computed_at if allocation else None,
        experiment.variant_ids,
        {v.variant_id: v for v in experiment.definition.variants},
        tuple((c.name, c.verdict) for c in found),
        by_segment,
    )


def _weights(weights: tuple[float, ...]) -> Weights:
    return Weights(weights, cumulative_weights(weights))


def call_segment(experiment: Experiment, context: Mapping[str, str]) -> SegmentId:
    """The recipient's segment from the call's raw context values ("" for an experiment without context).

    Raises:
        InvalidInput: a value for a field the experiment does not declare, named by its parameter.
    """
    declared = {f.name for f in experiment.definition.context}
    for name in sorted(context):
        if name not in declared:
            where = f"{CONTEXT_PARAM_PREFIX}{name}"
            raise InvalidInput(f"{where}: not a context field of experiment '{experiment.experiment_id}'")
    return segment_of(experiment.definition.context, context)
