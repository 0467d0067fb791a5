"""`/metrics`: requests by route template and status, latency, group-commit batches, weights age."""

from __future__ import annotations

import random
import string

from tests.helpers import Api, Workspace


def metric_lines(api: Api) -> list[str]:
    response = api.client.get("/metrics")
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


def test_group_commit_batches_and_weights_age_are_exported(api: Api, workspace: Workspace) -> None:
    api.content(workspace.token, workspace.experiment_id, recipient="u-1", dispatch="d")

    lines = metric_lines(api)

    assert "copyloom_group_commit_batch_size_count 1.0" in lines
    age = next(
        line
        for line in lines
        if line.startswith(f'copyloom_weights_age_seconds{{experiment_id="{workspace.experiment_id}"}}')
    )
    assert float(age.split()[-1]) >= 0


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
