"""The in-memory map of recently answered assignments: bounded per experiment, least recently used out."""

from __future__ import annotations

from copyloom.domain.values import RecipientKey, VariantId
from copyloom.services.recent import RecentAnswer, RecentAssignments


def answer(variant: str) -> RecentAnswer:
    return RecentAnswer(VariantId(variant), f"token-{variant}")


def test_keeps_answers_per_experiment_recipient_and_dispatch() -> None:
    recent = RecentAssignments(max_per_experiment=10)
    recent.put("ex_1", RecipientKey("r1"), "d1", answer("v1"))

    assert recent.get("ex_1", RecipientKey("r1"), "d1") == answer("v1")
    assert recent.get("ex_1", RecipientKey("r1"), "d2") is None
    assert recent.get("ex_2", RecipientKey("r1"), "d1") is None


def test_is_bounded_per_experiment_and_drops_the_least_recently_used() -> None:
    recent = RecentAssignments(max_per_experiment=2)
    recent.put("ex_1", RecipientKey("r1"), "d", answer("v1"))
    recent.put("ex_1", RecipientKey("r2"), "d", answer("v2"))
    recent.get("ex_1", RecipientKey("r1"), "d")  # r1 is now the most recently used
    recent.put("ex_1", RecipientKey("r3"), "d", answer("v3"))
    recent.put("ex_2", RecipientKey("r9"), "d", answer("v9"))

    assert recent.size("ex_1") == 2
    assert recent.get("ex_1", RecipientKey("r2"), "d") is None
    assert recent.get("ex_1", RecipientKey("r1"), "d") == answer("v1")
    assert recent.get("ex_2", RecipientKey("r9"), "d") == answer("v9")


def test_zero_turns_it_off_and_forget_drops_an_experiment() -> None:
    off = RecentAssignments(max_per_experiment=0)
    off.put("ex_1", RecipientKey("r1"), "d", answer("v1"))
    assert off.get("ex_1", RecipientKey("r1"), "d") is None

    recent = RecentAssignments(max_per_experiment=5)
    recent.put("ex_1", RecipientKey("r1"), "d", answer("v1"))
    recent.forget("ex_1")
    assert recent.get("ex_1", RecipientKey("r1"), "d") is None
