"""The Braze snippets: a call per placement with the recipient in the URL, a control fallback, the pixel."""

from __future__ import annotations

import pytest

from copyloom.domain.values import Experiment, ExperimentId, TenantId
from copyloom.errors import InvalidInput
from copyloom.services.snippets import render_snippets
from tests.helpers import make_definition


def experiment(**changes: object) -> Experiment:
    return Experiment(ExperimentId("ex_1"), TenantId("tn_1"), make_definition(**changes), "live", None, 0.0)


def test_one_get_call_per_placement_with_the_braze_id_in_the_url() -> None:
    found = render_snippets(experiment(), base_url="https://cl.example.com/")

    assert [s.field for s in found] == ["subject", "preheader", "body (open pixel)"]
    subject = found[0].liquid
    assert subject.startswith(
        "{% connected_content https://cl.example.com/v1/content/ex_1"
        "?recipient={{${braze_id} | url_param_escape}}"
        "&dispatch={{campaign.${dispatch_id} | url_param_escape}} :method get"
    )
    assert ':headers {"Authorization": "Bearer YOUR_COPYLOOM_TOKEN"} :save copyloom :retry %}' in subject
    assert "{% else %}{% raw %}Our Black Friday sale{% endraw %}{% endif %}" in subject
    assert "{{copyloom.subject}}" in subject


def test_external_id_experiments_use_the_user_id_tag() -> None:
    found = render_snippets(experiment(recipient_field="external_user_id"), base_url="https://x")

    assert "recipient={{${user_id} | url_param_escape}}" in found[0].liquid


def test_post_puts_the_recipient_in_the_body() -> None:
    found = render_snippets(experiment(), base_url="https://x", method="post", token="cl_abc")

    assert ":method post" in found[0].liquid
    assert ":body recipient={{${braze_id} | url_param_escape}}&dispatch=" in found[0].liquid
    assert "Bearer cl_abc" in found[0].liquid


def test_the_body_snippet_carries_the_pixel_and_optionally_message_extras() -> None:
    body = render_snippets(experiment(), base_url="https://x", placement="subject", message_extras=True)[-1]

    assert '<img src="{{copyloom.pixel_url}}" width="1" height="1"' in body.liquid
    assert "{% message_extras :key copyloom_variant :value {{copyloom.variant_id}} %}" in body.liquid


def test_an_unknown_placement_is_refused() -> None:
    with pytest.raises(InvalidInput, match="placement: 'cta' is not one of subject, preheader"):
        render_snippets(experiment(), base_url="https://x", placement="cta")
