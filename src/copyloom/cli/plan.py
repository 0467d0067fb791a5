"""`copyloom plan`: how long to spread a broadcast, and the Braze rate limit that does it
(docs/planner.md)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from copyloom.cli.common import LazyDefault, current_settings, emit, handles_errors, json_option, ready_store

if TYPE_CHECKING:
    from copyloom.engine import DelayModel
    from copyloom.simulation.planner import SendPlan

_OPTION_OF_FIELD = {
    "audience": "--audience",
    "variants": "--variants",
    "base_rate": "--base-rate",
    "expected_lift": "--expected-lift",
    "delay": "--delay-median-h",
    "seeds": "--seeds",
    "seed": "--seed",
}
"""The option that sets each field of a `PlanRequest`, named in its error."""


def _default_lift() -> str:
    from copyloom.simulation.planner import DEFAULT_LIFT

    return f"{DEFAULT_LIFT:g}"


def _default_seeds() -> str:
    from copyloom.simulation.planner import DEFAULT_SEEDS

    return str(DEFAULT_SEEDS)


@click.command()
@click.option("--audience", type=int, required=True, help="Recipients of the send (1,000 to 100,000,000).")
@click.option(
    "--variants", type=int, required=True, help="Wordings in the experiment, control included (2-10)."
)
@click.option("--base-rate", type=float, required=True, help="The control's click rate, e.g. 0.03 for 3 %.")
@click.option(
    "--expected-lift",
    type=float,
    default=LazyDefault(_default_lift),
    show_default=True,
    help="The best wording's relative lift over the control (0.2: 20 % more clicks); the other wordings "
    "are spread evenly between the two.",
)
@click.option(
    "--delay-median-h",
    type=float,
    default=None,
    help="Median hours from send to click; default the tenant's fitted delay (with --tenant) or 1 hour.",
)
@click.option(
    "--tenant", "tenant_name", default=None, help="Use this tenant's fitted click delay (needs the store)."
)
@click.option(
    "--seeds",
    type=int,
    default=LazyDefault(_default_seeds),
    show_default=True,
    help="Simulated sends per duration.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="First seed: the same seed gives the same plan."
)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Processes.")
@json_option
@handles_errors
def plan(
    *,
    audience: int,
    variants: int,
    base_rate: float,
    expected_lift: float,
    delay_median_h: float | None,
    tenant_name: str | None,
    seeds: int,
    seed: int,
    workers: int,
    as_json: bool,
) -> None:
    """Plan a broadcast's rate limit: simulate the send with the engine over durations from no limit to
    12 hours and print, per duration, the share of the achievable gain captured, the extra clicks over
    an even split and the Braze rate limit per minute; then recommend one."""
    from copyloom.simulation.planner import PlanRequest, plan_as_dict, plan_send

    current_settings()  # a bad variable stops it here, with or without the store
    delay = _delay(tenant_name, delay_median_h)
    try:
        request = PlanRequest(
            audience=audience,
            variants=variants,
            base_rate=base_rate,
            expected_lift=expected_lift,
            delay=delay,
            seeds=seeds,
            seed=seed,
        )
    except ValueError as error:
        field, _, reason = str(error).partition(": ")
        if field not in _OPTION_OF_FIELD:
            raise
        raise click.BadParameter(reason, param_hint=_OPTION_OF_FIELD[field]) from error
    result = plan_send(request, workers=workers)
    emit(plan_as_dict(result), as_json, render_plan(result))


def _delay(tenant_name: str | None, median_h: float | None) -> DelayModel:
    """The tenant's fitted click delay (the default model without a tenant), its median overridden."""
    from copyloom.engine import DelayModel
    from copyloom.simulation.planner import HOUR_S, MAX_DELAY_MEDIAN_S

    if median_h is not None and not 0 < median_h <= MAX_DELAY_MEDIAN_S / HOUR_S:
        raise click.BadParameter(
            f"expected hours above 0 and at most {MAX_DELAY_MEDIAN_S / HOUR_S:g}, got {median_h:g}",
            param_hint="--delay-median-h",
        )
    fitted = DelayModel()
    if tenant_name is not None:
        from copyloom.services import learning, tenants

        store = ready_store(current_settings())
        tenant = tenants.get_tenant(store, tenant_name)
        fitted = learning.delay_model(store, tenant.tenant_id, "click", time.time())
    if median_h is None:
        return fitted
    return DelayModel(median_s=median_h * HOUR_S, sigma=fitted.sigma)


def render_plan(result: SendPlan) -> str:
    """The plan as text: the inputs, one line per duration and the recommendation."""
    from copyloom.simulation.planner import BRAZE_MAX_PER_MINUTE, BRAZE_MIN_PER_MINUTE, duration_label

    request = result.request
    rates = ", ".join(f"{r:.2%}" for r in result.rates)
    lines = [
        f"{request.audience:,} recipients, {request.variants} wordings at {rates}; clicks arrive after a "
        f"median {request.delay.median_s / 3600:.2g} h (sigma {request.delay.sigma:.2f}); "
        f"{result.seeds_run} simulated sends per duration",
        f"at most {result.achievable_clicks:,.0f} extra clicks over an even split (every send on the best)",
        "",
        f"{'duration':>9}  {'rate limit/min':>14}  {'share of gain':>15}  {'extra clicks':>16}",
    ]
    for row in result.durations:
        rate = "none" if row.rate_per_minute is None else f"{row.rate_per_minute:,}"
        if not row.is_settable:
            rate += " (!)"
        share = (
            "–" if row.gain_share is None else f"{round(row.gain_share, 3) + 0.0:.3f}"
        )  # + 0.0: no "-0.000"
        if row.gain_share_se is not None:
            share += f" ±{row.gain_share_se:.3f}"
        extra = f"{round(row.extra_clicks):,}"
        if row.extra_clicks_se is not None:
            extra += f" ±{row.extra_clicks_se:,.0f}"
        mark = "  <- recommended" if row.duration_h == result.recommended_h else ""
        lines.append(f"{duration_label(row.duration_h):>9}  {rate:>14}  {share:>15}  {extra:>16}{mark}")
    if any(not row.is_settable for row in result.durations):
        lines.append(
            f"(!) outside Braze's range of {BRAZE_MIN_PER_MINUTE:,} to {BRAZE_MAX_PER_MINUTE:,} a minute: "
            "cannot be set, never recommended"
        )
    lines += ["", result.reason, "± is one standard error over the simulated sends; see docs/planner.md."]
    return "\n".join(lines)
