"""The simulated world: what a step's sends earn, and the common random numbers of the paired sends."""

from __future__ import annotations

import numpy as np

from copyloom.engine import DelayModel
from copyloom.simulation.world import World

RATES = np.array([[0.02, 0.03], [0.04, 0.01]])


def world() -> World:
    return World(2, 2, duration_s=600.0, step_s=60.0, cohort_s=300.0, delay=DelayModel(60.0, 0.5))


def send_all(weights: np.ndarray, seed: int = 3) -> tuple[World, list[np.ndarray]]:
    w, rng = world(), np.random.default_rng(seed)
    sends = [w.send_paired(60.0 * step, np.array([500, 300]), weights, RATES, rng) for step in range(10)]
    return w, sends


def clicks_by_variant(w: World) -> np.ndarray:
    return np.array([sum(c.clicks for c in w.cohorts(1e9, ("a", "b")) if c.variant == v) for v in w.variants])


def test_paired_sends_reach_every_recipient_by_the_weights_served() -> None:
    _, sends = send_all(np.array([[0.5, 0.5], [0.0, 1.0]]))

    for step in sends:
        assert step.sum(axis=1).tolist() == [500, 300]
        assert step[1].tolist() == [0, 300], "a variant of weight 0 is never picked"
    total = np.sum(sends, axis=0)
    assert abs(total[0, 0] - 2500) < 200


def test_the_same_seed_gives_the_same_recipients_whatever_the_weights() -> None:
    to_first, _ = send_all(np.array([[1.0, 0.0], [1.0, 0.0]]))
    to_second, _ = send_all(np.array([[0.0, 1.0], [0.0, 1.0]]))
    again, _ = send_all(np.array([[0.0, 1.0], [0.0, 1.0]]))

    first, second = clicks_by_variant(to_first), clicks_by_variant(to_second)
    assert second.tolist() == clicks_by_variant(again).tolist()
    # Segment a: every recipient who clicks at 2 % also clicks at 3 %, and b the other way round, so the
    # two worlds differ only by the recipients whose uniform falls between the two rates.
    a_first = sum(c.clicks for c in to_first.cohorts(1e9, ("a", "b")) if c.segment == "a")
    a_second = sum(c.clicks for c in to_second.cohorts(1e9, ("a", "b")) if c.segment == "a")
    assert a_second >= a_first
    assert first.sum() > 0
    assert second.sum() > 0


def test_the_classic_send_draws_successes_of_the_sends_made() -> None:
    w, rng = world(), np.random.default_rng(1)
    w.send(0.0, np.array([[10_000, 0], [0, 10_000]]), RATES, rng)

    cohorts = w.cohorts(1e9, ("a", "b"))
    by_cell = {(c.segment, c.variant): (c.sends, c.clicks) for c in cohorts}
    assert set(by_cell) == {("a", "v0"), ("b", "v1")}
    assert abs(by_cell[("a", "v0")][1] - 200) < 60
    assert abs(by_cell[("b", "v1")][1] - 100) < 40
    assert sum(c.clicks for c in w.cohorts(0.0, ("a", "b"))) == 0, "no success arrives before its delay"
