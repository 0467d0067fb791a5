"""Recently answered assignments, kept in memory so that a repeat request needs no store read.

Safe because an assignment never changes once stored: the cache only ever holds rows that have been
committed, so answering from it gives the same answer the store would.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from copyloom.domain.values import RecipientKey, VariantId


@dataclass(frozen=True, slots=True)
class RecentAnswer:
    variant_id: VariantId
    pixel_token: str


class RecentAssignments:
    """A least-recently-used map per experiment of (recipient, dispatch) to its committed answer,
    bounded to `max_per_experiment` entries each (0 turns the cache off)."""

    def __init__(self, max_per_experiment: int) -> None:
        self._max = max_per_experiment
        self._by_experiment: dict[str, OrderedDict[tuple[RecipientKey, str], RecentAnswer]] = {}

    def get(self, experiment_id: str, recipient_key: RecipientKey, dispatch_id: str) -> RecentAnswer | None:
        entries = self._by_experiment.get(experiment_id)
        if entries is None:
            return None
        key = (recipient_key, dispatch_id)
        answer = entries.get(key)
        if answer is not None:
            entries.move_to_end(key)
        return answer

    def put(
        self, experiment_id: str, recipient_key: RecipientKey, dispatch_id: str, answer: RecentAnswer
    ) -> None:
        if self._max <= 0:
            return
        entries = self._by_experiment.get(experiment_id)
        if entries is None:
            entries = self._by_experiment[experiment_id] = OrderedDict()
        entries[(recipient_key, dispatch_id)] = answer
        if len(entries) > self._max:
            entries.popitem(last=False)

    def forget(self, experiment_id: str) -> None:
        """Drop an experiment's entries (it is no longer served with assignments here)."""
        self._by_experiment.pop(experiment_id, None)

    def size(self, experiment_id: str) -> int:
        return len(self._by_experiment.get(experiment_id, ()))
