"""`/metrics`: for an operator only; requests by route template and status, latency, group-commit
batches, weights age (per experiment only when the operator opts in)."""

from __future__ import annotations

import random
import string

import httpx

from copyloom.server import ThreadedServer, build_app
from copyloom.settings import Settings
from copyloom.storage.db import Store
from tests.helpers import METRICS_HEADERS, Api, Workspace, make_workspace


def metric_lines(api: Api) -> list[str]:
    response = api.client.get("/metrics", headers=METRICS_HEADERS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text.splitlines()


def test_requests_are_counted_by_route_template_and_status(api: Api, workspace: Workspace) -> None:
    for i in range(3):
        api.content(workspace.token, workspace.experiment_id, recipient=f"u-{i}", dispatch="d")
    api.content(workspace.token, "ex_missing", recipient="u")

    lines = metric_lines(api)

    ok = 'copyloom_http_requests_total{method="GET",route="/v1/content/{experiment_id}",status="200"} 3.0'
    missing = (
        'copyloom_http_requests_total{method="GET",route="/v1/content/{experiment_id}",status="404"} 1.0'
    )
    assert ok in lines
    assert missing in lines
    assert not any("ex_missing" in line or "u-1" in line for line in lines), "no ids in labels"
    assert any(
        line.startswith('copyloom_http_request_seconds_bucket{le="0.01",route="/v1/content/')
        for line in lines
    )


def test_group_commit_batches_and_the_oldest_weights_age_are_exported_without_ids(
    api: Api, workspace: Workspace
) -> None:
    api.content(workspace.token, workspace.experiment_id, recipient="u-1", dispatch="d")

    lines = metric_lines(api)

    assert "copyloom_group_commit_batch_size_count 1.0" in lines
    age = next(line for line in lines if line.startswith("copyloom_weights_age_max_seconds "))
    assert float(age.split()[-1]) >= 0
    assert not any(workspace.experiment_id in line or "acme" in line for line in lines), "no tenant ids"


def test_experiment_labels_are_exported_only_when_the_operator_opts_in(
    settings: Settings, store: Store
) -> None:
    workspace = make_workspace(store, "acme")
    opted_in = settings.replace(metrics_experiment_labels=True, cache_refresh_s=0.05)
    with (
        ThreadedServer(build_app(opted_in, store, with_learner=False)) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        headers = {"Authorization": f"Bearer {workspace.token}"}
        client.get(f"/v1/content/{workspace.experiment_id}", params={"recipient": "u"}, headers=headers)
        lines = client.get("/metrics", headers=METRICS_HEADERS).text.splitlines()

    prefix = f'copyloom_weights_age_seconds{{experiment_id="{workspace.experiment_id}"}} '
    assert any(line.startswith(prefix) for line in lines)


def test_metrics_answers_only_the_operators_token(api: Api, workspace: Workspace) -> None:
    tokens = [None, "wrong-token", workspace.token]
    refused = [
        api.client.get("/metrics", headers={"Authorization": f"Bearer {t}"} if t else {}) for t in tokens
    ]

    assert [r.status_code for r in refused] == [401, 401, 401]
    assert refused[1].json()["error"]["message"] == "Authorization: missing or wrong metrics token"
    assert api.client.get("/metrics", headers=METRICS_HEADERS).status_code == 200


def test_without_a_metrics_token_there_is_no_metrics_page(settings: Settings, store: Store) -> None:
    unset = settings.replace(metrics_token="")
    with (
        ThreadedServer(build_app(unset, store, with_learner=False)) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        response = client.get("/metrics", headers=METRICS_HEADERS)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_outage_journal_is_exported_at_rest(api: Api, workspace: Workspace) -> None:
    api.content(workspace.token, workspace.experiment_id, recipient="u-1", dispatch="d")

    lines = metric_lines(api)

    assert "copyloom_store_degraded 0.0" in lines
    assert "copyloom_journal_depth 0.0" in lines
    for counter in ("appended", "replayed", "replay_conflicts", "bad_lines"):
        assert f"copyloom_journal_{counter}_total 0.0" in lines


def test_random_methods_and_paths_leave_a_bounded_set_of_series(api: Api) -> None:
    """10,000 requests with made-up methods and paths: labels come from closed sets (finding 4)."""
    rng = random.Random(16)
    alphabet = string.ascii_uppercase

    def method() -> str:
        made_up = "".join(rng.choices(alphabet, k=rng.randint(1, 40)))
        return rng.choice(["GET", "POST", "BREW", "PROPFIND", made_up])

    def path() -> str:
        noise = "".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(1, 30)))
        return rng.choice([f"/{noise}", f"/v1/content/{noise}", f"/v1/pixel/{noise}.gif"])

    for _ in range(10_000):
        api.client.request(method(), path())

    lines = metric_lines(api)
    series = {line.split(" ")[0] for line in lines if line.startswith("copyloom_http_requests_total")}

    # (route, method, status): unmatched paths 404 for GET, POST and `other`; the content route 401 without
    # a token for GET and POST, 405 for `other`; the pixel 200 for GET, 405 for POST and `other`.
    assert len(series) == 9, sorted(series)
    assert all('method="GET"' in s or 'method="POST"' in s or 'method="other"' in s for s in series)
    assert len(lines) < 200
