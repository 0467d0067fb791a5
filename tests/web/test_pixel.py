"""The open pixel: always a GIF; a valid token records one unique open."""

from __future__ import annotations

from copyloom.services.experiments import experiment_report
from tests.helpers import Api, Workspace


def opens(workspace: Workspace) -> int:
    return sum(v.opens for v in experiment_report(workspace.store, workspace.experiment_id).variants)


def test_valid_pixel_records_one_unique_open(api: Api, workspace: Workspace) -> None:
    pixel_url = api.content(workspace.token, workspace.experiment_id, recipient="u-1", dispatch="d").json()[
        "pixel_url"
    ]
    path = pixel_url.removeprefix("https://cl.example.test")

    responses = [api.client.get(path) for _ in range(3)]

    assert all(r.status_code == 200 and r.headers["content-type"] == "image/gif" for r in responses)
    assert responses[0].content.startswith(b"GIF89a")
    assert "no-store" in responses[0].headers["cache-control"]
    assert opens(workspace) == 1


def test_bad_tokens_still_get_the_gif_and_record_nothing(api: Api, workspace: Workspace) -> None:
    good = api.content(workspace.token, workspace.experiment_id, recipient="u-1", dispatch="d").json()[
        "pixel_url"
    ]
    token = good.rsplit("/", 1)[1].removesuffix(".gif")
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")

    for bad in (forged, "-", "x" * 300, "not base64!", "a%00b", "%C2%85" + token, "%ED%A0%80"):
        response = api.client.get(f"/v1/pixel/{bad}.gif")
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/gif"
    assert opens(workspace) == 0
