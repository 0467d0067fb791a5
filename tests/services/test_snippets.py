"""The Braze snippets: a call per placement and message part with the recipient in the URL, a control
fallback, the pixel in the HTML and AMP bodies, and the warnings about a base URL Braze cannot call."""

from __future__ import annotations

import pytest

from copyloom.domain.values import Experiment, ExperimentId, TenantId
from copyloom.errors import InvalidInput
from copyloom.services.snippets import base_url_warnings, render_snippets
from tests.helpers import DEFINITION, make_definition


def experiment(**changes: object) -> Experiment:
    return Experiment(ExperimentId("ex_1"), TenantId("tn_1"), make_definition(**changes), "live", None, 0.0)


def test_one_get_call_per_placement_with_the_braze_id_dispatch_and_campaign_in_the_url() -> None:
    found = render_snippets(experiment(), base_url="https://cl.example.com/")

    assert [s.field for s in found] == [
        "subject",
        "preheader",
        "html body: open pixel",
        "amp body: open pixel",
    ]
    subject = found[0].liquid
    assert subject.startswith(
        "{% connected_content https://cl.example.com/v1/content/ex_1"
        "?recipient={{${braze_id} | url_param_escape}}"
        "&dispatch={{campaign.${dispatch_id} | url_param_escape}}"
        "&source={{campaign.${api_id} | url_param_escape}} :method get"
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


CONTEXT = [
    {"name": "country", "braze": "${country}", "categories": ["GB", "DE"]},
    {"name": "tier", "braze": "custom_attribute.${tier}", "categories": ["new", "loyal"]},
]


def test_each_context_field_goes_in_the_url_as_braze_fills_it_url_escaped() -> None:
    for method in ("get", "post"):
        found = render_snippets(experiment(context=CONTEXT), base_url="https://x", method=method)

        assert (
            "&source={{campaign.${api_id} | url_param_escape}}"
            "&ctx_country={{${country} | url_param_escape}}"
            "&ctx_tier={{custom_attribute.${tier} | url_param_escape}}"
        ) in found[0].liquid
    assert "ctx_" not in render_snippets(experiment(), base_url="https://x")[0].liquid


def test_the_body_snippet_carries_the_pixel_and_optionally_message_extras() -> None:
    html_body, amp_body = render_snippets(
        experiment(), base_url="https://x", placement="body", message_extras=True
    )

    assert '<img src="{{copyloom.pixel_url}}" width="1" height="1"' in html_body.liquid
    assert "{% message_extras :key copyloom_variant :value {{copyloom.variant_id}} %}" in html_body.liquid
    assert "message_extras" not in amp_body.liquid


def test_an_unknown_placement_is_refused() -> None:
    with pytest.raises(InvalidInput, match="placement: 'cta' is not one of subject, preheader, body"):
        render_snippets(experiment(), base_url="https://x", placement="cta")


def test_a_subject_placement_prints_only_the_subject() -> None:
    found = render_snippets(experiment(), base_url="https://x", placement="subject")

    assert [(s.placement, s.part, s.field) for s in found] == [("subject", "subject", "subject")]


def test_a_body_placement_gets_an_html_a_text_and_an_amp_snippet() -> None:
    ctas = ["Shop <now> & save", "Go", "See more"]
    variants = [{**v, "cta": cta} for v, cta in zip(DEFINITION["variants"], ctas, strict=True)]  # type: ignore[call-overload]
    found = render_snippets(experiment(variants=variants), base_url="https://x", placement="cta")

    assert [s.field for s in found] == ["html body: cta", "text body: cta", "amp body: cta"]
    html_part, text_part, amp_part = (s.liquid for s in found)
    assert "{{copyloom.cta | escape}}{% else %}{% raw %}Shop &lt;now&gt; &amp; save{% endraw %}" in html_part
    assert "{{copyloom.cta}}{% else %}{% raw %}Shop <now> & save{% endraw %}" in text_part
    assert "{{copyloom.cta | escape}}" in amp_part


def test_the_amp_pixel_is_an_amp_img_with_size_layout_and_alt_and_no_img() -> None:
    amp = next(s for s in render_snippets(experiment(), base_url="https://x") if s.part == "amp")

    assert (
        '<amp-img src="{{copyloom.pixel_url}}" width="1" height="1" layout="fixed" alt=""></amp-img>'
        in amp.liquid
    )
    assert "<img" not in amp.liquid
    assert "amp" in amp.field


def test_no_snippet_puts_a_pixel_or_markup_in_the_text_body() -> None:
    variants = [{**v, "cta": "Go"} for v in DEFINITION["variants"]]  # type: ignore[attr-defined]
    found = render_snippets(experiment(variants=variants), base_url="https://x")

    (text_part,) = (s for s in found if s.part == "text")
    assert "pixel_url" not in text_part.liquid
    assert "<" not in text_part.liquid.replace("{%", "").replace("{{", "")


_PUBLIC_ONLY = "Braze calls only public hosts"


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://cl.example.com", "not https, so the serving token would cross the internet unencrypted"),
        ("https://cl.example.com:8443", "port 8443; Braze calls only ports 80 and 443 (https on 443)"),
        ("https://127.0.0.1", f"host 127.0.0.1 is a loopback address; {_PUBLIC_ONLY}"),
        ("https://10.0.0.5", f"host 10.0.0.5 is a private address; {_PUBLIC_ONLY}"),
        ("https://localhost", f"host localhost is this machine (loopback); {_PUBLIC_ONLY}"),
        ("https://[::1]", f"host ::1 is a loopback address; {_PUBLIC_ONLY}"),
        ("https://169.254.1.1", f"host 169.254.1.1 is a private address; {_PUBLIC_ONLY}"),
    ],
)
def test_a_base_url_braze_cannot_call_is_warned_about(base_url: str, expected: str) -> None:
    assert base_url_warnings(base_url) == [f"public base URL {base_url}: {expected}"]


@pytest.mark.parametrize(
    "base_url", ["https://cl.example.com", "https://cl.example.com:443/", "https://93.184.216.34"]
)
def test_a_public_https_base_url_on_the_default_port_has_no_warning(base_url: str) -> None:
    assert base_url_warnings(base_url) == []


def test_personalisation_is_captured_once_per_slot_and_the_markers_replaced() -> None:
    hello = "{{${first_name} | default: 'there'}}"
    variants = [
        {"id": "control", "control": True, "subject": f"{hello}, our sale", "cta": "Shop & save"},
        {"id": "v1", "subject": "{{custom_attribute.${tier}}}: 40% off", "cta": f"Go {hello} <now>"},
    ]
    found = {s.field: s.liquid for s in render_snippets(experiment(variants=variants), base_url="https://c")}

    subject = found["subject"].split("\n", 1)[1]
    assert subject == (
        "{% capture cl_p0 %}{{${first_name} | default: 'there'}}{% endcapture %}"
        "{% capture cl_m0 %}{% raw %}{{p0}}{% endraw %}{% endcapture %}"
        "{% capture cl_p1 %}{{custom_attribute.${tier}}}{% endcapture %}"
        "{% capture cl_m1 %}{% raw %}{{p1}}{% endraw %}{% endcapture %}"
        "{% if copyloom.__http_status_code__ == 200 and copyloom.subject %}"
        "{{copyloom.subject | replace: cl_m0, cl_p0 | replace: cl_m1, cl_p1}}"
        "{% else %}{{cl_p0}}{% raw %}, our sale{% endraw %}{% endif %}"
    )
    html_cta = found["html body: cta"]
    assert "{% capture cl_p0 %}{{${first_name} | default: 'there' | escape}}{% endcapture %}" in html_cta
    assert "{{copyloom.cta | escape | replace: cl_m0, cl_p0}}" in html_cta
    assert "{% else %}{% raw %}Shop &amp; save{% endraw %}{% endif %}" in html_cta
    assert "capture" not in render_snippets(experiment(), base_url="https://c")[0].liquid
