"""`/metrics`: requests by route template and status, latency, group-commit batches, weights age."""

from __future__ import annotations

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
