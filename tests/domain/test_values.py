"""Value types: the closed sets as tuples, and what a stopped experiment serves."""

from __future__ import annotations

from typing import get_args

from copyloom.domain.values import (
    METRICS,
    MODES,
    STATUSES,
    Experiment,
    ExperimentId,
    Status,
    TenantId,
)
from tests.helpers import make_definition


def test_the_closed_sets_are_their_literals_in_order() -> None:
    assert MODES == ("broadcast", "triggered")
    assert METRICS == ("click", "open", "cta_click")
    assert STATUSES == get_args(Status) == ("draft", "live", "paused", "finished")


def test_a_stopped_experiment_serves_its_winner_else_the_control() -> None:
    def experiment(status: Status, winner: str | None) -> Experiment:
        return Experiment(ExperimentId("ex_1"), TenantId("t"), make_definition(), status, winner, 0.0)

    assert experiment("paused", None).fixed_variant().variant_id == "control"
    assert experiment("finished", "v1").fixed_variant().variant_id == "v1"
    assert experiment("live", None).is_live
    assert not experiment("finished", "v1").is_live
