"""`copyloom plan`: the table and the recommendation, with the default delay (no store needed) or a
tenant's fitted one (both stores), and every rejected option named in its error."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from copyloom.domain.values import RecipientKey, TenantId
from copyloom.services import experiments as experiment_service
from copyloom.services.assignment import AssignmentRequest, assign_batch
from copyloom.storage import assignments as assignment_repo
from tests.cli.runner import Cli
from tests.helpers import Workspace

SMALL = ("plan", "--audience", "20000", "--variants", "2", "--base-rate", "0.04", "--seeds", "1")
SERIAL = ("--workers", "1")


def test_the_plan_prints_every_duration_and_recommends_one_without_a_store() -> None:
    ran = Cli("sqlite:///nowhere/never-created.db").run(*SMALL, *SERIAL)

    lines = ran.stdout.splitlines()
    assert lines[0].startswith(
        "20,000 recipients, 2 wordings at 4.00%, 4.80%; clicks arrive after a median 1 h"
    )
    rows = [line.split()[0:2] for line in lines if line.strip().startswith(("no", "1 h", "6 h", "12 h"))]
    assert [" ".join(r) for r in rows] == ["no limit", "1 h", "6 h", "12 h"]
    assert sum("<- recommended" in line for line in lines) == 1
    assert re.search(
        r"is the shortest send expected to earn at least 90%|is expected to earn the most", ran.stdout
    )


def test_the_json_plan_has_the_rate_limit_of_each_duration() -> None:
    found = Cli("sqlite:///nowhere/never-created.db").json(*SMALL, *SERIAL)

    by_hours = {row["duration_h"]: row for row in found["durations"]}
    assert list(by_hours) == [None, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0]
    assert by_hours[6.0]["rate_per_minute"] == 56  # ceil(20,000 / 360)
    assert by_hours[8.0]["rate_per_minute"] == 42
    assert by_hours[8.0]["is_settable"] is False, "below Braze's lowest setting, 50 a minute"
    assert found["recommended_h"] != 8.0
    assert found["delay"] == {"median_s": 3600.0, "sigma": 1.2}
    assert found["seeds_run"] == 1


def test_the_median_delay_can_be_set_in_hours() -> None:
    found = Cli("sqlite:///nowhere/never-created.db").json(*SMALL, *SERIAL, "--delay-median-h", "2.5")

    assert found["delay"] == {"median_s": 9000.0, "sigma": 1.2}


def test_a_tenant_without_clicks_plans_with_the_default_delay(cli: Cli, workspace: Workspace) -> None:
    found = cli.json(*SMALL, *SERIAL, "--tenant", "acme")

    assert found["delay"] == {"median_s": 3600.0, "sigma": 1.2}


def test_a_tenant_plans_with_its_fitted_delay_and_the_median_can_override_it(
    cli: Cli, workspace: Workspace
) -> None:
    sent = time.time() - 10 * 86_400.0
    clicks_after(workspace, sent, median_s=7200.0, count=2000)

    fitted = cli.json(*SMALL, *SERIAL, "--tenant", "acme")["delay"]
    overridden = cli.json(*SMALL, *SERIAL, "--tenant", "acme", "--delay-median-h", "3")["delay"]

    assert fitted["median_s"] == pytest.approx(7200.0, rel=0.15)
    assert fitted["sigma"] < 1.2, "a lighter tail than the default's, from the tenant's clicks"
    assert overridden == {"median_s": 10800.0, "sigma": fitted["sigma"]}


def test_an_unknown_tenant_is_an_error(cli: Cli) -> None:
    ran = cli.run(*SMALL, "--tenant", "nobody", ok=False)

    assert ran.returncode == 1
    assert "nobody" in ran.stderr


@pytest.mark.parametrize(
    ("change", "option", "message"),
    [
        (
            ("--audience", "999"),
            "--audience",
            "expected an integer from 1,000 to 100,000,000, got 999",
        ),
        (("--audience", "100000001"), "--audience", "expected an integer from 1,000 to 100,000,000"),
        (("--variants", "11"), "--variants", "expected an integer from 2 to 10, got 11"),
        (
            ("--base-rate", "0.5"),
            "--base-rate",
            "expected a number above 0 and below 0.5, got 0.5",
        ),
        (("--base-rate", "0"), "--base-rate", "expected a number above 0 and below 0.5, got 0.0"),
        (
            ("--expected-lift", "5"),
            "--expected-lift",
            "expected a number above -0.5 and below 5",
        ),
        (("--expected-lift", "-0.5"), "--expected-lift", "expected a number above -0.5"),
        (("--delay-median-h", "0"), "--delay-median-h", "expected hours above 0 and at most 168, got 0"),
        (("--seeds", "0"), "--seeds", "expected an integer from 1 to 1,000, got 0"),
    ],
)
def test_an_option_out_of_range_is_refused_by_name(
    change: tuple[str, str], option: str, message: str
) -> None:
    args = dict(zip(SMALL[1::2], SMALL[2::2], strict=True)) | dict([change])
    ran = Cli("sqlite:///nowhere/never-created.db").run(
        "plan", *(x for pair in args.items() for x in pair), ok=False
    )

    assert ran.returncode == 2
    assert f"Invalid value for {option}: {message}" in ran.stderr


def clicks_after(workspace: Workspace, sent: float, *, median_s: float, count: int) -> None:
    """`count` sends at `sent`, each clicked after a log-normal delay of this median (sigma 0.8)."""
    experiment = experiment_service.get_experiment(workspace.store, workspace.experiment_id)
    tenant_id = TenantId(workspace.tenant.tenant_id)
    requests = [
        AssignmentRequest(tenant_id, experiment, RecipientKey(f"r{i}"), "d", "v1", sent) for i in range(count)
    ]
    rows = assign_batch(workspace.store, requests, 60)
    rng = np.random.default_rng(5)
    with workspace.store.write() as conn:
        for row in rows:
            delay_s = median_s * float(np.exp(0.8 * rng.standard_normal()))
            assignment_repo.insert_engagement(conn, row.assignment_id, "click", sent + delay_s)
