"""The dashboard in a real browser: sign in, read an experiment filled through the real HTTP endpoints
and learned by `copyloom learn --once`, check it against `copyloom experiment show --json`, watch it
refresh live, pause it through the confirm step, and fail to reach another tenant's experiment.

Full-page screenshots land in `test-artifacts/` (git-ignored).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from copyloom.server import ThreadedServer, build_app
from copyloom.services import dashboard_access
from copyloom.services import experiments as experiment_service
from copyloom.services.reports import is_clear_leader
from copyloom.settings import load_settings
from copyloom.storage import migrate
from copyloom.storage.db import open_store
from copyloom.web.charts import format_value
from copyloom.web.dashboard_security import SESSION_COOKIE
from tests.dashboard_data import braze_event, fill_experiment, other_tenant
from tests.helpers import Workspace, make_definition, make_workspace
from tests.services.test_guardrails import unsubscribes
from tests.services.test_variants import sends_with_clicks

pytestmark = pytest.mark.slow


@dataclass
class Site:
    url: str
    database_url: str
    client: httpx.Client
    acme: Workspace
    acme_password: str
    globex: Workspace


def copyloom(database_url: str, *args: str) -> Any:
    """Run the real CLI on the test's database and return its JSON output."""
    env = {**os.environ, "COPYLOOM_DATABASE_URL": database_url}
    result = subprocess.run(
        [sys.executable, "-m", "copyloom", *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'copyloom.db'}"
    store = open_store(database_url)
    migrate.upgrade(store)
    acme = make_workspace(store, "acme")
    globex = other_tenant(store, "globex", "Globex welcome")
    password = dashboard_access.issue_dashboard_password(store, "acme", time.time())
    # One-second cohorts, so that the cumulative chart has several points per variant.
    settings = load_settings({}).replace(database_url=database_url, cache_refresh_s=0.05, cohort_width_s=1)
    with (
        ThreadedServer(build_app(settings, store, with_learner=False)) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        fill_experiment(client, acme.token, acme.experiment_id, recipients=300)
        copyloom(database_url, "learn", "--once", "--seed", "5")
        fill_experiment(client, acme.token, acme.experiment_id, recipients=200, start=300)
        copyloom(database_url, "learn", "--once", "--seed", "6")
        yield Site(server.url, database_url, client, acme, password, globex)
    store.dispose()


@pytest.fixture
def page(chromium: Any, site: Site) -> Iterator[Any]:
    """A fresh browser context, signed in as acme; fails the test on any console error (CSP included)."""
    context = chromium.new_context(base_url=site.url, viewport={"width": 1366, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    # A 404 page logs "Failed to load resource"; anything else (a CSP refusal, a script error) fails.
    tab.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto("/dashboard/")
    assert tab.url.endswith("/dashboard/sign-in")
    tab.fill("input[name=tenant]", "acme")
    tab.fill("input[name=password]", site.acme_password)
    tab.click("button[type=submit]")
    tab.wait_for_url("**/dashboard/")
    yield tab
    context.close()
    assert errors == []


def page_figures(page: Any) -> dict[str, dict[str, str]]:
    rows = page.locator("#variant-figures tbody tr")
    figures = {}
    for i in range(rows.count()):
        row = rows.nth(i)
        cells = row.locator("td[data-field]")
        values = {
            cells.nth(k).get_attribute("data-field"): cells.nth(k).inner_text().split("\n")[0].strip()
            for k in range(cells.count())
        }
        figures[row.get_attribute("data-variant")] = values
    return figures


def test_sign_in_sets_a_secure_http_only_cookie_that_chromium_keeps_on_loopback(page: Any) -> None:
    cookie = next(c for c in page.context.cookies() if c["name"] == SESSION_COOKIE)

    assert cookie["secure"] is True
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"


def test_list_shows_the_experiment_with_its_leader(page: Any, site: Site, artifacts: Path) -> None:
    shown = copyloom(site.database_url, "experiment", "show", site.acme.experiment_id)
    row = page.locator(f'tr[data-experiment="{site.acme.experiment_id}"]')

    assert row.locator("a").inner_text() == "Black Friday subject"
    assert "live" in (row.text_content() or "")
    assert f"{sum(v['sends'] for v in shown['variants']):,}" in row.inner_text()
    assert page.locator("text=Globex welcome").count() == 0
    page.screenshot(path=str(artifacts / "dashboard-list.png"), full_page=True)


def test_experiment_page_figures_match_the_cli(page: Any, site: Site, artifacts: Path) -> None:
    shown = copyloom(site.database_url, "experiment", "show", site.acme.experiment_id)
    page.click(f'tr[data-experiment="{site.acme.experiment_id}"] a')
    page.wait_for_selector("#variant-figures")

    figures = page_figures(page)

    assert set(figures) == {v["variant_id"] for v in shown["variants"]}
    for v in shown["variants"]:
        row = figures[v["variant_id"]]
        for field in ("sends", "delivered", "clicks", "opens", "bot_clicks", "machine_opens"):
            assert row[field] == f"{v[field]:,}", (v["variant_id"], field)
        assert row["weight"] == format_value(v["weight"], "percent")
        assert row["p_best"] == format_value(v["p_best"], "percent")
    assert sum(v["bot_clicks"] for v in shown["variants"]) > 0
    assert sum(v["machine_opens"] for v in shown["variants"]) > 0
    control = page.locator('#variant-figures tr[data-variant="control"]')
    assert "control" in control.locator("th").inner_text()
    leader = max(shown["variants"], key=lambda v: v["p_best"])
    is_clear = is_clear_leader(leader["p_best"], leader["clicks"])
    assert page.locator("#variant-figures tr.leader").count() == int(is_clear)
    for chart in ("chart-weights", "chart-rates", "chart-p-best", "chart-gains"):
        assert page.locator(f"svg#{chart}").is_visible()
        assert page.locator(f"svg#{chart} > title").text_content()
    page.screenshot(path=str(artifacts / "dashboard-experiment.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(artifacts / "dashboard-experiment-phone.png"), full_page=True)


def test_figures_refresh_live_without_a_reload(page: Any, site: Site) -> None:
    page.goto(f"/dashboard/experiments/{site.acme.experiment_id}")
    page.evaluate("window.copyloomNotReloaded = true")
    before = sum(int(v["sends"].replace(",", "")) for v in page_figures(page).values())

    fill_experiment(site.client, site.acme.token, site.acme.experiment_id, recipients=25, start=5000)

    page.wait_for_function(
        "expected => Array.from(document.querySelectorAll('#variant-figures td[data-field=sends]'))"
        ".reduce((sum, td) => sum + Number(td.textContent.replace(/,/g, '')), 0) === expected",
        arg=before + 25,
        timeout=20_000,
    )
    assert page.evaluate("window.copyloomNotReloaded") is True


def test_copy_button_copies_the_snippet(page: Any, site: Site, artifacts: Path) -> None:
    """Each entry (subject, preheader, HTML and AMP pixel) has its own button, which copies only it."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"/dashboard/experiments/{site.acme.experiment_id}")
    labels = page.locator(".snippet-entry h3").all_text_contents()
    assert labels == ["subject", "preheader", "html body: open pixel", "amp body: open pixel"]
    assert page.locator("button[data-copy]").count() == len(labels)

    copies = {}
    for i in (1, 3):
        page.click(f"#copy-snippet-{i}")
        page.wait_for_selector(f"#copy-snippet-{i}:has-text('Copied')", timeout=5000)
        copies[i] = page.evaluate("navigator.clipboard.readText()")
        assert copies[i] == page.text_content(f"#snippet-{i}")
        assert f"/v1/content/{site.acme.experiment_id}" in copies[i]
        assert copies[i].count("{% connected_content") == 1
    assert "{{copyloom.preheader}}" in copies[1]
    assert "{{copyloom.subject}}" not in copies[1]
    assert "<amp-img" in copies[3]
    assert "127.0.0.1 is a loopback address" in page.text_content("#snippets")
    page.locator("#snippets").screenshot(path=str(artifacts / "dashboard-snippets.png"))


def test_another_tenants_experiment_is_not_found(page: Any, site: Site) -> None:
    response = page.goto(f"/dashboard/experiments/{site.globex.experiment_id}")

    assert response.status == 404
    assert "Globex welcome" not in page.content()
    assert page.goto(f"/dashboard/experiments/{site.globex.experiment_id}/live.json").status == 404


def test_pause_through_the_confirm_step(page: Any, site: Site, artifacts: Path) -> None:
    page.goto(f"/dashboard/experiments/{site.acme.experiment_id}")
    assert page.locator("#status").text_content() == "live"

    page.click("#action-pause")
    page.wait_for_selector("#confirm")
    page.screenshot(path=str(artifacts / "dashboard-confirm-pause.png"), full_page=True)
    page.click("#confirm")

    page.wait_for_url(f"**/dashboard/experiments/{site.acme.experiment_id}")
    assert page.locator("#status").text_content() == "paused"
    assert page.locator("#action-start").is_visible()
    assert copyloom(site.database_url, "experiment", "show", site.acme.experiment_id)["status"] == "paused"


def test_wrong_password_stays_on_the_sign_in_page(chromium: Any, site: Site) -> None:
    context = chromium.new_context(base_url=site.url)
    tab = context.new_page()
    tab.goto("/dashboard/sign-in")
    tab.fill("input[name=tenant]", "acme")
    tab.fill("input[name=password]", "not-it")
    tab.click("button[type=submit]")

    assert tab.locator("[role=alert]").inner_text() == "Wrong tenant name or password."
    assert all(c["name"] != SESSION_COOKIE for c in context.cookies())
    context.close()


def fill_close_race(client: httpx.Client, token: str, experiment_id: str, recipients: int) -> None:
    """A race v1 leads (14 % against 8 %) without the evidence to win yet, with an early spike: the
    first few recipients of every variant click."""
    auth = {"Authorization": f"Bearer {token}"}
    events = []
    for i in range(recipients):
        user = f"race-{i}"
        response = client.get(
            f"/v1/content/{experiment_id}", params={"recipient": user, "dispatch": "d-2"}, headers=auth
        )
        response.raise_for_status()
        per_hundred = 14 if response.json()["variant_id"] == "v1" else 8
        events.append(braze_event("Delivery", user, "d-2"))
        if i < 6 or (i * 37) % 100 < per_hundred:
            events.append(braze_event("Click", user, "d-2"))
    for first in range(0, len(events), 500):
        client.post(
            "/v1/events", json={"events": events[first : first + 500]}, headers=auth
        ).raise_for_status()


@pytest.fixture(scope="module")
def close_race(site: Site) -> str:
    # Triggered: a broadcast leaves cohorts younger than 5 minutes out of the posterior, and this
    # test's sends are seconds old.
    store = open_store(site.database_url)
    try:
        experiment_id = experiment_service.create_experiment(
            store, "acme", make_definition(name="Close race", mode="triggered"), time.time()
        )
        experiment_service.change_status(store, experiment_id, "start", time.time())
    finally:
        store.dispose()
    fill_close_race(site.client, site.acme.token, experiment_id, recipients=1500)
    copyloom(site.database_url, "learn", "--once", "--seed", "7")
    return experiment_id


def test_experiment_page_explains_the_winner_state_on_desktop_and_phone(
    page: Any, close_race: str, artifacts: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"/dashboard/experiments/{close_race}")
    page.wait_for_selector("#variant-figures")

    assert page.locator("#winner").inner_text() == "not declared"
    assert "missing:" in page.locator("#winner-note").inner_text()
    explanation = page.locator("#decision").inner_text()
    assert "is not the winner yet" in explanation
    assert "P(best)" in explanation
    assert "Expected loss" in explanation
    assert "Sequential test against" in explanation
    labels = page.locator('svg#chart-rates text[text-anchor="end"]').all_text_contents()
    assert not any(label.startswith("-0") for label in labels)
    assert float(labels[-1].rstrip("%")) < 50  # scaled to the rates, not the first clicks' spike
    page.screenshot(path=str(artifacts / "dashboard-explained-desktop.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    table_wrap = page.locator("#variant-figures").locator("xpath=..")
    overflow = table_wrap.evaluate("e => [getComputedStyle(e).overflowX, e.scrollWidth > e.clientWidth]")
    assert overflow == ["auto", True]  # the table scrolls inside its card, not the page
    assert page.locator("#decision").is_visible()
    page.screenshot(path=str(artifacts / "dashboard-explained-phone.png"), full_page=True)


@pytest.fixture(scope="module")
def guarded(site: Site) -> str:
    """An experiment whose v1 clicks best but drives unsubscribes: its sends 40 hours old, learned once."""
    store = open_store(site.database_url)
    try:
        workspace = make_workspace(store, "acme-guarded", start=True)
        sends_with_clicks(store, workspace, time.time() - 40 * 3600, {"control": 60, "v1": 120, "v2": 60})
        unsubscribes(store, workspace, {"control": 3, "v1": 40, "v2": 3})
    finally:
        store.dispose()
    copyloom(site.database_url, "learn", "--once", "--seed", "8")
    return workspace.experiment_id


def test_guardrails_health_and_the_mature_switch_on_desktop_and_phone(
    chromium: Any, site: Site, guarded: str, artifacts: Path
) -> None:
    store = open_store(site.database_url)
    password = dashboard_access.issue_dashboard_password(store, "acme-guarded", time.time())
    store.dispose()
    context = chromium.new_context(base_url=site.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto("/dashboard/sign-in")
    page.fill("input[name=tenant]", "acme-guarded")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/")
    page.goto(f"/dashboard/experiments/{guarded}")

    assert "v1 breached on unsubscribe" in page.locator("#guardrails").inner_text()
    assert page.locator('#health [data-check="sample_ratio"]').count() == 1
    mature = page.locator("#adjusted-figures th.mature").first
    to_date = page.locator("#adjusted-figures th.to-date").first
    assert mature.is_visible()
    assert not to_date.is_visible()
    page.screenshot(path=str(artifacts / "dashboard-guardrails-desktop.png"), full_page=True)
    page.click('[data-adjusted-view="to-date"]')
    assert to_date.is_visible()
    assert not mature.is_visible()
    assert page.get_attribute('[data-adjusted-view="to-date"]', "aria-pressed") == "true"

    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(artifacts / "dashboard-guardrails-phone.png"), full_page=True)
    context.close()


def test_a_draft_broadcast_is_planned_from_its_page(page: Any, site: Site, artifacts: Path) -> None:
    store = open_store(site.database_url)
    try:
        draft = experiment_service.create_experiment(
            store, "acme", make_definition(name="Spring sale"), time.time()
        )
    finally:
        store.dispose()
    page.goto(f"/dashboard/experiments/{draft}")
    page.fill("input[name=audience]", "250000")
    page.fill("input[name=base_rate]", "0.03")

    page.click("#plan-submit")
    page.wait_for_selector("#plan-table", timeout=60_000)
    page.screenshot(path=str(artifacts / "dashboard-plan.png"), full_page=True)

    assert page.locator("#plan-table tbody tr").count() == 8
    assert page.locator("#plan-table tr.leader").count() == 1
    assert page.locator("#plan-rate").inner_text().endswith("/ min")
    assert page.locator("input[name=audience]").input_value() == "250000"
