"""`copyloom demo`: the whole loop on embedded defaults, with a simulated Braze broadcast.

A temporary SQLite store, a real HTTP server on a free loopback port, a tenant and a 4-variant
experiment with known true click rates, and the simulated Braze (`copyloom.demo.braze`) in its own
process. Time is compressed: a 6-hour send takes about a minute.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import multiprocessing.process
import multiprocessing.queues
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.live import Live
from rich.table import Table

from copyloom.demo import segments as demo_segments
from copyloom.demo.braze import (
    COUNTRY_SHARES,
    DEMO_CAMPAIGN,
    LEARN_EVERY_SIM_S,
    SEND_SPAN_S,
    TRUE_RATES,
    BrazeSetup,
    SimClock,
    Tally,
    braze_main,
)
from copyloom.domain.definition import parse_experiment_definition
from copyloom.server import ThreadedServer, build_app, free_port
from copyloom.services import dashboard_access
from copyloom.services import experiments as experiment_service
from copyloom.services import tenants as tenant_service
from copyloom.services.experiments import ExperimentReport
from copyloom.services.learning import learn_once
from copyloom.settings import load_settings
from copyloom.storage import migrate
from copyloom.storage.db import Store, open_store

TENANT = "demo-brand"
TEXTS = {
    "control": ("Our winter sale starts today", "Warm up with up to 40% off"),
    "urgency": ("48 hours only: winter sale", "Up to 40% off ends Sunday"),
    "benefit": ("Up to 40% off coats and boots", "Everything you need for the cold"),
    "question": ("Ready for the first frost?", "Our winter sale has you covered"),
}


def run_demo(
    *,
    recipients: int,
    seed: int,
    quiet: bool,
    duration_s: float,
    serve: bool = False,
    segments: bool = False,
) -> dict[str, Any]:
    """Run the demo and return its result (also printed as a table unless `quiet`).

    With `serve`, the server keeps running after the send, with a dashboard password for the demo's
    tenant, until Ctrl-C (or SIGINT). With `segments`, the experiment declares the recipients' country
    as context, the true rates differ by country, and the result adds the per-segment figures
    (`demo.segments`) under "segments".
    """
    console = Console(stderr=quiet, quiet=quiet)
    if not console.is_terminal:
        console.width = 120  # plain progress lines: one per line, not wrapped at 80 columns
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="copyloom-demo-") as folder:
        store = open_store(f"sqlite:///{Path(folder) / 'demo.db'}")
        migrate.upgrade(store)
        token, experiment_id = _set_up(store, segments)
        clock = SimClock(start=time.time(), scale=SEND_SPAN_S / duration_s)
        port = free_port()
        settings = load_settings({}).replace(
            database_url=f"sqlite:///{Path(folder) / 'demo.db'}",
            public_base_url=f"http://127.0.0.1:{port}",
            learn_interval_s=LEARN_EVERY_SIM_S / clock.scale,
            cache_refresh_s=min(1.0, LEARN_EVERY_SIM_S / clock.scale / 2),
            # The simulated Braze, the API and the learner share this one machine; Braze itself waits 2 s.
            response_budget_ms=1500.0,
        )
        app = build_app(settings, store, with_learner=True, clock=clock, seed=seed)
        with ThreadedServer(app, port=port) as server:
            console.print(
                f"copyloom demo: API on {server.url}, experiment {experiment_id}, {recipients:,} recipients"
            )
            setup = BrazeSetup(server.url, token, experiment_id, recipients, clock, seed, segments)
            tally = _run_braze(setup, store, console)
            learn_once(store, clock(), np.random.default_rng(seed), settings.learn_samples)
            report = experiment_service.experiment_report(store, experiment_id)
            # With segments, the overall true rates are the countries' mixed over this send's recipients.
            true_rates = demo_segments.mixed_rates(tally.countries) if segments else TRUE_RATES
            result = _result(report, tally, recipients, true_rates)
            if segments:
                result["segments"] = demo_segments.segments_result(store, report, tally, result["clicks"])
            if not quiet:
                console.print(_summary_table(report, true_rates))
                console.print(_summary_text(result, tally))
                if segments:
                    console.print(demo_segments.segments_table(result["segments"]))
                    console.print(demo_segments.segments_text(result), highlight=False)
            if serve:
                clock.run_at_real_speed()
                _serve_dashboard(store, server.url, experiment_id, Console(stderr=quiet))
        store.dispose()
    return result


def _serve_dashboard(store: Store, url: str, experiment_id: str, console: Console) -> None:
    """Keep the server (and its learner) running for the dashboard until Ctrl-C."""
    password = dashboard_access.issue_dashboard_password(store, TENANT, time.time())
    console.print(
        f"\ndashboard: {url}/dashboard/experiments/{experiment_id}\n"
        f"sign in as tenant {TENANT} with password {password}\n"
        "press Ctrl-C to stop",
        highlight=False,
        soft_wrap=True,
    )
    # A process started with SIGINT ignored (a background job of a shell script, a test runner's child)
    # inherits that, and Python then never raises KeyboardInterrupt: Ctrl-C and SIGINT must stop it anyway.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopping the demo server", highlight=False)


def _set_up(store: Store, segments: bool) -> tuple[str, str]:
    _tenant, tokens = tenant_service.create_tenant(store, TENANT, time.time())
    token = tokens.serving
    raw: dict[str, Any] = {
        "name": "Winter sale subject line",
        "mode": "broadcast",
        "metric": "click",
        "campaign_ids": [DEMO_CAMPAIGN],
        "variants": [
            {"id": v, "control": v == "control", "subject": s, "preheader": p} for v, (s, p) in TEXTS.items()
        ],
    }
    if segments:
        raw["context"] = demo_segments.CONTEXT
    definition = parse_experiment_definition(raw)
    experiment_id = experiment_service.create_experiment(store, TENANT, definition, time.time())
    experiment_service.change_status(store, experiment_id, "start", time.time())
    return token, experiment_id


def _run_braze(setup: BrazeSetup, store: Store, console: Console) -> Tally:
    """Run the simulated Braze in its own process (the API keeps this one), showing progress meanwhile."""
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.queues.Queue[Tally] = context.Queue()
    braze = context.Process(target=braze_main, args=(setup, results), name="simulated-braze", daemon=True)
    braze.start()
    if console.is_terminal:
        rates = demo_segments.mixed_rates(COUNTRY_SHARES) if setup.segments else TRUE_RATES
        progress = functools.partial(
            _progress_table, store, setup.experiment_id, setup.clock, rates, setup.segments
        )
        with Live(progress(), console=console, refresh_per_second=2) as live:
            while braze.is_alive() and results.empty():
                time.sleep(0.5)
                live.update(progress())
    else:
        _log_progress(store, setup, braze, results, console)
    tally = results.get(timeout=60)
    braze.join(timeout=30)
    return tally


def _log_progress(
    store: Store,
    setup: BrazeSetup,
    braze: multiprocessing.process.BaseProcess,
    results: multiprocessing.queues.Queue[Tally],
    console: Console,
) -> None:
    """Without a terminal: one plain line per simulated half hour."""
    next_line_at = setup.clock.start
    while braze.is_alive() and results.empty():
        time.sleep(0.2)
        if setup.clock() < next_line_at:
            continue
        next_line_at += 1800
        report = experiment_service.experiment_report(store, setup.experiment_id)
        hours = min(6.0, (setup.clock() - setup.clock.start) / 3600)
        weights = "  ".join(f"{v.variant_id} {v.weight:5.1%}" for v in report.variants)
        console.print(f"{hours:4.1f} h  sent {sum(v.sends for v in report.variants):>7,}  weights  {weights}")
        leaders = demo_segments.leaders_line(store, setup.experiment_id) if setup.segments else ""
        if leaders:
            console.print(f"{'':6}{leaders}", highlight=False)


def _progress_table(
    store: Store, experiment_id: str, clock: SimClock, true_rates: dict[str, float], segments: bool
) -> Table:
    report = experiment_service.experiment_report(store, experiment_id)
    elapsed_h = min(6.0, max(0.0, (clock() - clock.start) / 3600))
    sent = sum(v.sends for v in report.variants)
    caption = demo_segments.leaders_line(store, experiment_id) if segments else None
    table = Table(title=f"simulated send: {elapsed_h:4.1f} h of 6 h, {sent:,} sent", caption=caption)
    for column in ("variant", "true rate", "sends", "clicks (counted)", "weight", "P(best)"):
        table.add_column(column, justify="right")
    for v in report.variants:
        bar = "█" * round(v.weight * 30)
        table.add_row(
            v.variant_id,
            f"{true_rates[v.variant_id]:.1%}",
            f"{v.sends:,}",
            f"{v.clicks:,}",
            f"{v.weight:5.1%} {bar}",
            f"{v.p_best:.2f}",
        )
    return table


def _summary_table(report: ExperimentReport, true_rates: dict[str, float]) -> Table:
    table = Table(title="final allocation")
    for column in ("variant", "true rate", "sends", "clicks", "final weight", "P(best)"):
        table.add_column(column, justify="right")
    for v in report.variants:
        table.add_row(
            v.variant_id,
            f"{true_rates[v.variant_id]:.1%}",
            f"{v.sends:,}",
            f"{v.clicks:,}",
            f"{v.weight:.1%}",
            f"{v.p_best:.3f}",
        )
    return table


def _result(
    report: ExperimentReport, tally: Tally, recipients: int, true_rates: dict[str, float]
) -> dict[str, Any]:
    even_expected = recipients * float(np.mean(list(true_rates.values())))
    clicks = sum(v.clicks for v in report.variants)
    best = max(true_rates, key=lambda v: true_rates[v])
    return {
        "recipients": recipients,
        "variants": [
            {
                "variant_id": v.variant_id,
                "true_rate": round(true_rates[v.variant_id], 6),
                "sends": v.sends,
                "clicks": v.clicks,
                "weight": round(v.weight, 4),
                "p_best": round(v.p_best, 4),
            }
            for v in report.variants
        ],
        "best_variant": best,
        "largest_weight_variant": max(report.variants, key=lambda v: v.weight).variant_id,
        "clicks": clicks,
        "clicks_even_split_expected": round(even_expected, 1),
        "clicks_gained_vs_even_split": round(clicks - even_expected, 1),
        "renders": tally.renders,
        "sticky_mismatches": tally.sticky_mismatches,
        "http_errors": tally.http_errors,
        "events_posted": tally.events_posted,
        "last_send_after_h": round(tally.last_send_after_s / 3600, 3),
    }


def _summary_text(result: dict[str, Any], tally: Tally) -> str:
    return (
        f"truly best: {result['best_variant']}; largest weight: {result['largest_weight_variant']}\n"
        f"clicks: {result['clicks']:,} against {result['clicks_even_split_expected']:,.0f} expected "
        f"from an even split: {result['clicks_gained_vs_even_split']:+,.0f} clicks gained\n"
        f"{tally.renders:,} content calls ({result['sticky_mismatches']} sticky mismatches, "
        f"{result['http_errors']} HTTP errors), {tally.events_posted:,} Currents events posted "
        f"(duplicates included)"
    )
