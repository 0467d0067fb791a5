"""`copyloom bench`: benchmarks run by hand, whose figures go in the README and docs/benchmarks.md."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import click

from copyloom.cli.common import LazyChoice, current_settings, emit, handles_errors, json_option

if TYPE_CHECKING:
    from copyloom.bench import Feedback


def _policies() -> Iterable[str]:
    from copyloom.bench import CONTEXTUAL, ORACLE
    from copyloom.engine import policy_names

    return (*policy_names(), ORACLE, CONTEXTUAL)


def _feedbacks() -> Iterable[str]:
    from copyloom.bench import FEEDBACKS

    return FEEDBACKS


@click.group()
def bench() -> None:
    """Benchmarks run by hand (their figures go in the README and docs/benchmarks.md)."""


@bench.command(name="optimize")
@click.option(
    "--seeds", type=click.IntRange(1, 1000), default=40, show_default=True, help="Seeds per scenario."
)
@click.option(
    "--first-seed",
    type=click.IntRange(0, 10**9),
    default=0,
    show_default=True,
    help="First seed; the README's table uses 0-39, judge a policy change on others too.",
)
@click.option("--quick", is_flag=True, help="Small scenarios and few seeds: a smoke run of a few seconds.")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Processes.")
@click.option(
    "--scenario", "scenario", default=None, help="Only the scenarios whose name contains this text."
)
@click.option(
    "--policy",
    "policies",
    multiple=True,
    type=LazyChoice(_policies),
    help="Only this policy (repeatable); default every policy and the oracle (told the rates, not which "
    "variant has which: what any learner could capture), and on the segmented scenarios thompson_segments "
    "(thompson told each recipient's segment).",
)
@click.option(
    "--feedback",
    type=LazyChoice(_feedbacks),
    default="delayed",
    show_default=True,
    help="instant: every click arrives a second after its send (a reference: what the delay costs).",
)
@json_option
@handles_errors
def bench_optimize(
    *,
    seeds: int,
    first_seed: int,
    quick: bool,
    workers: int,
    scenario: str | None,
    policies: tuple[str, ...],
    feedback: Feedback,
    as_json: bool,
) -> None:
    """Every policy on simulated broadcasts and triggered sends: share of the achievable gain captured
    (mean and 10th percentile over seeds), the A/A false-winner rate and the late swing (the largest
    weight a variant that is not best held in the second half of a broadcast)."""
    from copyloom.bench import render_table, run_optimize_benchmark

    current_settings()  # reads no setting but the log level; a bad variable still stops it here
    try:
        result = run_optimize_benchmark(
            seeds=seeds,
            quick=quick,
            workers=workers,
            scenario=scenario,
            policies=policies or None,
            first_seed=first_seed,
            feedback=feedback,
        )
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--scenario") from error
    emit(result, as_json, render_table(result))


@bench.command(name="uplift")
@click.option(
    "--seeds", type=click.IntRange(1, 10_000), default=200, show_default=True, help="Simulated sends."
)
@click.option("--first-seed", type=click.IntRange(0), default=0, show_default=True, help="The first seed.")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Processes.")
@json_option
@handles_errors
def bench_uplift(*, seeds: int, first_seed: int, workers: int, as_json: bool) -> None:
    """How often the naive and the weighted uplift intervals cover the true uplift over the control, on
    engine-allocated broadcasts with a rhythm shared by every variant (see docs/reports.md)."""
    from copyloom.bench.uplift import render_uplift_table, run_uplift_benchmark

    current_settings()
    result = run_uplift_benchmark(seeds=seeds, first_seed=first_seed, workers=workers)
    emit(result, as_json, render_uplift_table(result))
