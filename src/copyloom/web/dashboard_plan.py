"""The send planner on a draft broadcast's page: the form's fields, a bounded run and the table it shows.

A plan is seconds of CPU work, so it is kept small and away from the requests the process serves:
`DASHBOARD_SEEDS` seeds at most, stopped after the round of seeds that passes `DASHBOARD_BUDGET_S`, in
one worker process of the API process's own, at a lower scheduling priority (`PlanRunner`; on a thread
it would hold the interpreter lock and delay the content endpoint by milliseconds: benchmarks/planner.py
measures it), one plan at a time: a second request while one runs is told to retry. `copyloom plan`
runs more seeds.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from copyloom.domain.values import Experiment
from copyloom.engine import DelayModel
from copyloom.services.learning import policy_config
from copyloom.simulation.planner import (
    DEFAULT_LIFT,
    PLAN_SAMPLES,
    DurationPlan,
    PlanRequest,
    SendPlan,
    duration_label,
    plan_send,
)

DASHBOARD_SEEDS = 8
DASHBOARD_BUDGET_S = 5.0
"""A plan stops after the first round of seeds (one of every duration) that ends past this."""
PLAN_NICENESS = 10
"""The worker process's scheduling niceness: below the serving processes' priority on a busy machine."""
PLAN_FIELDS = ("audience", "base_rate", "expected_lift")
"""The form's fields; the variants come from the experiment and the click delay from the tenant."""
_LABELS = {"audience": "Audience", "base_rate": "Control click rate", "expected_lift": "Expected lift"}


@dataclass(frozen=True, slots=True)
class PlanForm:
    """What the marketer typed (kept to refill the form) and the first problem with it, if any."""

    values: dict[str, str]
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PlanRow:
    """One duration as the page shows it."""

    duration: str
    rate_limit: str
    gain_share: str
    extra_clicks: str
    is_settable: bool
    is_recommended: bool


def can_plan(experiment: Experiment) -> bool:
    """Only a draft broadcast is planned: a triggered experiment has no send to spread, and a started one
    has its rate limit set already."""
    return experiment.status == "draft" and experiment.definition.mode == "broadcast"


def empty_form() -> PlanForm:
    return PlanForm({"audience": "", "base_rate": "", "expected_lift": f"{DEFAULT_LIFT:g}"})


def plan_request(form: dict[str, str], experiment: Experiment, delay: DelayModel) -> PlanRequest | PlanForm:
    """The request for this experiment from the form's fields, or the form with its first problem."""
    values = {name: form.get(name, "").strip() for name in PLAN_FIELDS}
    try:
        audience = _number("audience", values["audience"], int)
        base_rate = _number("base_rate", values["base_rate"], float)
        lift = _number("expected_lift", values["expected_lift"] or f"{DEFAULT_LIFT:g}", float)
        return PlanRequest(
            audience=int(audience),
            variants=len(experiment.active_variant_ids),
            base_rate=base_rate,
            expected_lift=lift,
            delay=delay,
            seeds=DASHBOARD_SEEDS,
            policy=policy_config(experiment, PLAN_SAMPLES, delay),
        )
    except ValueError as error:
        field, _, reason = str(error).partition(": ")
        return PlanForm(values, f"{_LABELS.get(field, field)}: {reason}")


def run_bounded(request: PlanRequest, budget_s: float = DASHBOARD_BUDGET_S) -> SendPlan:
    """The plan, stopped after the first round of seeds that ends past `budget_s` from now."""
    deadline = time.monotonic() + budget_s
    return plan_send(request, keep_going=lambda: time.monotonic() < deadline)


def plan_rows(plan: SendPlan) -> list[PlanRow]:
    return [_row(row, row.duration_h == plan.recommended_h) for row in plan.durations]


class PlanRunner:
    """Runs one plan at a time in a worker process, started (spawned, never forked from a process with
    threads) at the first plan and kept for the next ones; it ends with the API process."""

    def __init__(self) -> None:
        self._busy = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def try_enter(self) -> bool:
        """Whether this request may run a plan now (False while another one runs)."""
        return self._busy.acquire(blocking=False)

    def leave(self) -> None:
        self._busy.release()

    async def run(self, request: PlanRequest) -> SendPlan:
        """`run_bounded` in the worker process; call between `try_enter` and `leave`.

        Raises:
            BrokenProcessPool: the worker died (the next plan starts a new one).
        """
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_lower_priority
            )
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, run_bounded, request, DASHBOARD_BUDGET_S)
        except BrokenProcessPool:
            self._pool = None
            raise

    def close(self) -> None:
        """Stop the worker process, if one was started."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _lower_priority() -> None:
    """In the worker: yield the CPU to the processes that serve (a plan can wait, a send cannot)."""
    os.nice(PLAN_NICENESS)


def _number(field: str, text: str, kind: type[int] | type[float]) -> float:
    try:
        return kind(text.replace(",", "").replace("_", ""))
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise ValueError(f"{field}: expected {noun}, got {text!r}") from None


def _row(row: DurationPlan, is_recommended: bool) -> PlanRow:
    share = "–" if row.gain_share is None else f"{round(row.gain_share, 2) + 0.0:.0%}"  # + 0.0: no "-0%"
    if row.gain_share_se is not None:
        share += f" ± {row.gain_share_se:.0%}"
    extra = f"{round(row.extra_clicks):,}"
    if row.extra_clicks_se is not None:
        extra += f" ± {row.extra_clicks_se:,.0f}"
    return PlanRow(
        duration=duration_label(row.duration_h),
        rate_limit="no limit" if row.rate_per_minute is None else f"{row.rate_per_minute:,} / min",
        gain_share=share,
        extra_clicks=extra,
        is_settable=row.is_settable,
        is_recommended=is_recommended,
    )
