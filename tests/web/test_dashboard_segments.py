"""The dashboard's Segments card over real HTTP, on SQLite and PostgreSQL: a row per segment with its
sends, leader, rates and weights, the segments that disagree with the overall leader marked with the
difference, and the incremental events of choosing per segment with their interval."""

from __future__ import annotations

import re
import time

from copyloom.services import dashboard_access
from copyloom.storage.db import Store
from tests.dashboard_data import DashboardSession, sign_in
from tests.helpers import Api, make_workspace
from tests.segment_data import DE_LOYAL, GB_NEW, filled_segments


def signed_in(api: Api, store: Store) -> tuple[DashboardSession, str]:
    workspace = filled_segments(store)
    password = dashboard_access.issue_dashboard_password(store, "acme", time.time())
    return sign_in(api.client, "acme", password), workspace.experiment_id


def row_of(page: str, segment: str) -> str:
    match = re.search(rf'<tr data-segment="{re.escape(segment)}".*?</tr>', page, re.DOTALL)
    assert match, f"no row for {segment}"
    return match.group(0)


def test_the_segments_card_has_a_row_per_segment_most_sends_first(api: Api, store: Store) -> None:
    session, experiment_id = signed_in(api, store)

    page = session.get(f"/dashboard/experiments/{experiment_id}").text

    assert '<section class="card" id="segments">' in page
    assert page.index(f'data-segment="{GB_NEW}"') < page.index(f'data-segment="{DE_LOYAL}"')
    gb = row_of(page, GB_NEW)
    assert "1,000" in gb
    assert re.search(r'data-variant="v1">6\.00 % · 80\.0 %', gb)  # rate · weight
    assert re.search(r'data-field="evidence">24 / 400 · P\(best\) \d\.\d\d<', gb)  # clicks / sends
    assert '<span class="badge winner">winner</span>' in gb
    assert 'class="disagrees"' not in gb


def test_a_segment_that_disagrees_is_marked_with_its_gain(api: Api, store: Store) -> None:
    session, experiment_id = signed_in(api, store)

    page = session.get(f"/dashboard/experiments/{experiment_id}").text

    de = row_of(page, DE_LOYAL)
    assert 'class="disagrees"' in de
    assert "≠ v1" in de
    assert "+3.00 pp" in de
    assert "+18 clicks" in de
    assert re.search(r'data-variant="v2">–', de)  # never sent there
    gain = re.search(r'<p class="small" id="segment-gain">(.*?)</p>', page, re.DOTALL)
    assert gain
    assert "<strong>1 of 2</strong>" in gain.group(1)
    assert "<strong>+18 clicks</strong> (95 % CI " in gain.group(1)


def test_live_json_carries_the_segments(api: Api, store: Store) -> None:
    session, experiment_id = signed_in(api, store)

    body = session.get(f"/dashboard/experiments/{experiment_id}/live.json").json()

    segments = body["figures"]["segments"]
    assert [s["segment"] for s in segments["segments"]] == [GB_NEW, DE_LOYAL]
    assert segments["overall_leader"] == "v1"
    assert segments["incremental"] == 18.0
    assert 'id="segments"' in body["html"]


def test_an_experiment_without_context_has_no_segments_card(api: Api, store: Store) -> None:
    workspace = make_workspace(store, "acme")
    password = dashboard_access.issue_dashboard_password(store, "acme", time.time())
    session = sign_in(api.client, "acme", password)

    page = session.get(f"/dashboard/experiments/{workspace.experiment_id}").text

    assert 'id="segments"' not in page


def test_the_management_apis_experiment_answer_carries_the_segments(api: Api, store: Store) -> None:
    workspace = filled_segments(store)

    response = api.client.get(
        f"/v1/experiments/{workspace.experiment_id}",
        headers={"Authorization": f"Bearer {workspace.management_token}"},
    )

    assert response.status_code == 200
    segments = response.json()["segments"]
    assert [(s["segment"], s["leader"]) for s in segments["segments"]] == [
        (GB_NEW, "v1"),
        (DE_LOYAL, "control"),
    ]
