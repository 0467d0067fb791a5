"""The snippet tells copyloom where Braze renders it: `{{campaign.${api_id}}}` is the campaign's API id, or
the Canvas step's inside a Canvas, and an experiment that names its campaigns and steps is assigned only
there. Rendered with the Braze stand-in against the real server."""

from __future__ import annotations

import urllib.parse

import sqlalchemy as sa

from copyloom.storage.tables import assignments
from tests.braze_liquid import render_field
from tests.helpers import make_workspace
from tests.system.test_braze_snippets import RECIPIENTS, Server, printed_snippets, server  # noqa: F401


def test_renders_in_named_campaigns_and_steps_are_assigned_there_and_elsewhere_get_the_control(
    server: Server,  # noqa: F811
) -> None:
    workspace = make_workspace(server.store, "acme", campaign_ids=["camp-a"], canvas_step_ids=["step-s"])
    subject = printed_snippets(server, workspace.experiment_id, "--token", workspace.token)[0]["liquid"]

    def rendered(api_id: str, dispatch: str) -> set[str]:
        texts = set()
        for braze_id, user_id in RECIPIENTS:
            rendering = render_field(
                subject, braze_id=braze_id, user_id=user_id, dispatch_id=dispatch, api_id=api_id
            )
            [call] = rendering.calls
            assert urllib.parse.parse_qs(urllib.parse.urlsplit(call.url).query)["source"] == [api_id]
            texts.add(rendering.text.strip())
        return texts

    assert len(rendered("camp-a", "d-campaign")) > 1
    assert len(rendered("step-s", "d-canvas")) > 1
    assert rendered("camp-copied-elsewhere", "d-other") == {"Our Black Friday sale"}

    with server.store.read() as conn:
        stored = conn.execute(sa.select(assignments.c.dispatch_id, assignments.c.source_id)).all()
    assert sorted(set(stored)) == [("d-campaign", "camp-a"), ("d-canvas", "step-s")]
    assert len(stored) == 2 * len(RECIPIENTS)
