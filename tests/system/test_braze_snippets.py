"""The Liquid that `copyloom snippet` prints, rendered as Braze would against the real server.

Braze cannot run here: `tests/braze_liquid.py` renders each field on python-liquid with Braze's
`connected_content` and `message_extras` tags stood in for, making real HTTP calls to a real copyloom
server. Every snippet the CLI prints for every recipient field and method is rendered for several
recipients; what comes out must be the text of the variant the endpoint assigned them, in every part
of the email: subject, preheader, and the HTML, plain-text and AMP bodies.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from copyloom.domain.pseudonyms import pseudonymise
from copyloom.server import ThreadedServer, build_app, free_port
from copyloom.services import experiments as experiment_service
from copyloom.settings import Settings
from copyloom.storage.db import Store
from copyloom.storage.tables import assignments, engagements
from tests.braze_liquid import MessageAborted, Rendering, render_field
from tests.cli.runner import Cli
from tests.helpers import DEFINITION, Workspace, make_workspace

RECIPIENTS = [(f"braze-{i:03d}", f"crm-{i:03d}") for i in range(12)]
_VARIABLE_PATH = re.compile(r"\bcopyloom\.(\w+)")
_PIXEL_SRC = re.compile(r'<img src="([^"]+)"')
_AMP_PIXEL = re.compile(r'<amp-img src="([^"]+)" width="1" height="1" layout="fixed" alt=""></amp-img>')
_TAG = re.compile(r"<[a-zA-Z/!]")
CTAS = ["Shop the sale", "Get 30% off & more", "Start early"]
WITH_CTA = [{**v, "cta": cta} for v, cta in zip(DEFINITION["variants"], CTAS, strict=True)]  # type: ignore[call-overload]


@dataclass
class Server:
    url: str
    store: Store
    database_url: str


@pytest.fixture
def server(settings: Settings, store: Store, database_url: str) -> Iterator[Server]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = build_app(settings.replace(public_base_url=url, cache_refresh_s=0.05), store, with_learner=False)
    with ThreadedServer(app, port=port):
        yield Server(url, store, database_url)


def printed_snippets(server: Server, experiment_id: str, *options: str) -> list[dict[str, str]]:
    """The entries `copyloom snippet --json` prints, from the real CLI."""
    snippets: list[dict[str, str]] = printed_json(server, experiment_id, *options)["snippets"]
    return snippets


def printed_json(server: Server, experiment_id: str, *options: str) -> dict[str, Any]:
    """What `copyloom snippet --json` prints, from the real CLI."""
    env = {
        **os.environ,
        "COPYLOOM_DATABASE_URL": server.database_url,
        "COPYLOOM_PUBLIC_BASE_URL": server.url,
        "COPYLOOM_LOG_LEVEL": "WARNING",
    }
    result = subprocess.run(
        [sys.executable, "-m", "copyloom", "snippet", experiment_id, "--json", *options],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    printed: dict[str, Any] = json.loads(result.stdout)
    return printed


def served(server: Server, workspace: Workspace, recipient: str, dispatch: str) -> dict[str, Any]:
    """The endpoint's own answer for this recipient (sticky, so the same as the one Braze got)."""
    response = httpx.get(
        f"{server.url}/v1/content/{workspace.experiment_id}",
        params={"recipient": recipient, "dispatch": dispatch},
        headers={"Authorization": f"Bearer {workspace.token}"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def render(
    liquid: str, braze_id: str, user_id: str, dispatch: str = "dispatch-1", **attributes: object
) -> Rendering:
    return render_field(
        liquid, braze_id=braze_id, user_id=user_id, dispatch_id=dispatch, attributes=attributes
    )


@pytest.mark.parametrize("recipient_field", ["user_id", "external_user_id"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_every_part_renders_the_assigned_variant_for_each_recipient(
    server: Server, recipient_field: str, method: str
) -> None:
    workspace = make_workspace(server.store, "acme", recipient_field=recipient_field, variants=WITH_CTA)
    snippets = printed_snippets(
        server, workspace.experiment_id, "--method", method, "--token", workspace.token
    )
    assert [s["field"] for s in snippets] == [
        "subject",
        "preheader",
        "html body: cta",
        "text body: cta",
        "amp body: cta",
        "html body: open pixel",
        "amp body: open pixel",
    ]

    seen_variants = set()
    for braze_id, user_id in RECIPIENTS:
        fields = {s["field"]: render(s["liquid"], braze_id, user_id) for s in snippets}
        identifier = braze_id if recipient_field == "user_id" else user_id
        answer = served(server, workspace, identifier, "dispatch-1")
        seen_variants.add(answer["variant_id"])

        assert fields["subject"].text.strip() == answer["subject"]
        assert fields["preheader"].text.strip() == answer["preheader"]
        assert fields["html body: cta"].text.strip() == html.escape(answer["cta"])
        assert fields["text body: cta"].text.strip() == answer["cta"]
        assert fields["amp body: cta"].text.strip() == html.escape(answer["cta"])
        assert _PIXEL_SRC.findall(fields["html body: open pixel"].text) == [answer["pixel_url"]]
        assert _AMP_PIXEL.findall(fields["amp body: open pixel"].text) == [answer["pixel_url"]]
        for name, rendering in fields.items():
            assert [call.status for call in rendering.calls] == [200]
            assert rendering.calls[0].method == method.upper()
            if "amp" in name:
                assert "<img" not in rendering.text
            if "text" in name:
                assert "pixel" not in rendering.text
                assert not _TAG.search(rendering.text)
    assert len(seen_variants) > 1, "12 recipients should not all share one variant"

    key = pseudonymise(
        workspace.tenant.pseudonym_key, RECIPIENTS[0][0 if recipient_field == "user_id" else 1]
    )
    with server.store.read() as conn:
        stored = conn.execute(sa.select(assignments.c.recipient_key, assignments.c.dispatch_id)).all()
    assert len(stored) == len(RECIPIENTS)
    assert (key, "dispatch-1") in stored


def test_get_calls_put_the_recipient_in_the_url_so_braze_never_shares_a_cached_answer(server: Server) -> None:
    workspace = make_workspace(server.store, "acme")
    subject = printed_snippets(server, workspace.experiment_id, "--token", workspace.token)[0]["liquid"]

    urls = {render(subject, braze_id, user_id).calls[0].url for braze_id, user_id in RECIPIENTS}

    assert len(urls) == len(RECIPIENTS)
    assert all("recipient=braze-" in url and "dispatch=dispatch-1" in url for url in urls)


def test_every_variable_a_snippet_reads_is_in_the_real_response(server: Server) -> None:
    workspace = make_workspace(server.store, "acme")
    snippets = printed_snippets(server, workspace.experiment_id, "--message-extras")
    answer = served(server, workspace, "braze-000", "dispatch-1")

    used = {path for s in snippets for path in _VARIABLE_PATH.findall(s["liquid"])}

    assert used == {"__http_status_code__", "subject", "preheader", "pixel_url", "variant_id"}
    assert used - {"__http_status_code__"} <= set(answer)


def test_the_body_pixel_records_an_open_and_message_extras_stamp_the_variant(server: Server) -> None:
    workspace = make_workspace(server.store, "acme")
    options = ("--token", workspace.token, "--message-extras")
    body = _entry(printed_snippets(server, workspace.experiment_id, *options), "html body: open pixel")

    rendering = render(body, "braze-000", "crm-000")
    (pixel_url,) = _PIXEL_SRC.findall(rendering.text)
    image = httpx.get(pixel_url)

    assert image.status_code == 200
    assert image.headers["content-type"] == "image/gif"
    answer = served(server, workspace, "braze-000", "dispatch-1")
    assert rendering.extras == {"copyloom_variant": answer["variant_id"]}
    with server.store.read() as conn:
        kinds = conn.execute(sa.select(engagements.c.kind)).scalars().all()
    assert kinds == ["pixel_open"]  # a real open as long as Braze reports no machine open of it


def test_a_refused_call_falls_back_to_the_control_text(server: Server) -> None:
    """A 4xx is not retried by Braze: the field renders the control wording instead of a blank."""
    workspace = make_workspace(server.store, "acme", variants=WITH_CTA)
    snippets = printed_snippets(server, workspace.experiment_id, "--token", "cl_not_a_token")
    rendered = {s["field"]: render(s["liquid"], "braze-000", "crm-000").text.strip() for s in snippets}

    assert rendered == {
        "subject": "Our Black Friday sale",
        "preheader": "Ends Sunday",
        "html body: cta": "Shop the sale",
        "text body: cta": "Shop the sale",
        "amp body: cta": "Shop the sale",
        "html body: open pixel": "",
        "amp body: open pixel": "",
    }
    subject = _entry(snippets, "subject")
    assert [c.status for c in render(subject, "braze-000", "crm-000").calls] == [401]


def test_a_paused_experiment_renders_the_control_through_the_endpoint(server: Server) -> None:
    workspace = make_workspace(server.store, "acme")
    experiment_service.change_status(server.store, workspace.experiment_id, "pause", time.time())
    time.sleep(0.2)  # the server's cache refreshes every 0.05 s in this fixture
    subject = printed_snippets(server, workspace.experiment_id, "--token", workspace.token)[0]["liquid"]

    texts = {render(subject, braze_id, user_id).text.strip() for braze_id, user_id in RECIPIENTS}

    assert texts == {"Our Black Friday sale"}


def test_control_copy_with_liquid_in_it_stays_literal_in_the_fallback(server: Server) -> None:
    variants = [dict(v) for v in DEFINITION["variants"]]  # type: ignore[call-overload]
    variants[0]["subject"] = "{ first_name }}, our sale }} starts {{${first_name}}}"
    workspace = make_workspace(server.store, "acme", variants=variants)
    subject = printed_snippets(server, workspace.experiment_id, "--token", "cl_revoked")[0]["liquid"]

    rendered = render(subject, "braze-000", "crm-000", first_name="Ada").text.strip()

    assert rendered == "{ first_name }}, our sale }} starts Ada"


def test_with_retry_an_unreachable_server_aborts_the_message_after_five_retries(server: Server) -> None:
    """Braze's documented `:retry` behaviour: the message is aborted, not sent with the fallback."""
    workspace = make_workspace(server.store, "acme")
    subject = printed_snippets(server, workspace.experiment_id, "--token", workspace.token)[0]["liquid"]
    closed_port = free_port()

    with pytest.raises(MessageAborted, match="failed 6 times"):
        render(subject.replace(server.url, f"http://127.0.0.1:{closed_port}"), "braze-000", "crm-000")


def test_the_printed_text_with_its_comments_is_valid_liquid(server: Server) -> None:
    workspace = make_workspace(server.store, "acme")
    env = {
        **os.environ,
        "COPYLOOM_DATABASE_URL": server.database_url,
        "COPYLOOM_PUBLIC_BASE_URL": server.url,
    }
    printed = subprocess.run(
        [sys.executable, "-m", "copyloom", "snippet", workspace.experiment_id, "--placement", "subject"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout

    rendering = render(printed, "braze-000", "crm-000")

    assert "Our Black Friday sale" in rendering.text
    assert "{% comment %}" not in rendering.text
    assert [c.status for c in rendering.calls] == [401]


def test_placement_subject_prints_only_the_subject(server: Server) -> None:
    workspace = make_workspace(server.store, "acme", variants=WITH_CTA)

    snippets = printed_snippets(server, workspace.experiment_id, "--placement", "subject")

    assert [(s["placement"], s["part"], s["field"]) for s in snippets] == [("subject", "subject", "subject")]


def test_placement_body_prints_the_open_pixel_of_the_html_and_amp_bodies(server: Server) -> None:
    workspace = make_workspace(server.store, "acme")
    snippets = printed_snippets(
        server, workspace.experiment_id, "--placement", "body", "--token", workspace.token
    )

    assert [s["field"] for s in snippets] == ["html body: open pixel", "amp body: open pixel"]
    html_body, amp_body = (render(s["liquid"], "braze-000", "crm-000").text for s in snippets)
    (pixel_url,) = _PIXEL_SRC.findall(html_body)
    assert _AMP_PIXEL.findall(amp_body) == [pixel_url]
    assert "<img" not in amp_body
    assert httpx.get(pixel_url).headers["content-type"] == "image/gif"


def test_every_json_entry_names_its_placement_part_and_field(server: Server) -> None:
    workspace = make_workspace(server.store, "acme", variants=WITH_CTA)

    printed = printed_json(server, workspace.experiment_id)

    assert set(printed) == {"snippets", "warnings"}
    for entry in printed["snippets"]:
        assert set(entry) == {"placement", "part", "field", "liquid"}
        assert ("amp" in entry["field"]) == (entry["part"] == "amp")
        assert ("text" in entry["field"]) == (entry["part"] == "text")
    port = server.url.rsplit(":", 1)[1]
    assert printed["warnings"] == [
        f"public base URL {server.url}: not https, so the serving token would cross the internet unencrypted",
        f"public base URL {server.url}: port {port}; Braze calls only ports 80 and 443 (https on 443)",
        f"public base URL {server.url}: host 127.0.0.1 is a loopback address; Braze calls only public hosts",
    ]


@pytest.mark.parametrize(
    ("base_url", "warned"),
    [
        ("http://cl.example.com", ["not https"]),
        ("https://cl.example.com:8443", ["port 8443"]),
        ("https://127.0.0.1", ["host 127.0.0.1 is a loopback address"]),
        ("https://10.0.0.5", ["host 10.0.0.5 is a private address"]),
        ("https://localhost", ["host localhost is this machine (loopback)"]),
        ("https://cl.example.com", []),
    ],
)
def test_the_cli_warns_on_stderr_and_in_json_about_a_base_url_braze_cannot_call(
    server: Server, base_url: str, warned: list[str]
) -> None:
    workspace = make_workspace(server.store, "acme")
    cli = Cli(server.database_url, COPYLOOM_PUBLIC_BASE_URL=base_url)

    printed = cli.run("snippet", workspace.experiment_id, "--placement", "subject")
    as_json = cli.json("snippet", workspace.experiment_id, "--placement", "subject")

    warnings = [line for line in printed.stderr.splitlines() if line.startswith("warning: ")]
    assert [w.split(": ", 2)[2].split(";")[0].split(",")[0] for w in warnings] == warned
    assert [f"warning: {w}" for w in as_json["warnings"]] == warnings
    assert printed.stdout.startswith("{% comment %} subject {% endcomment %}")


def _entry(snippets: list[dict[str, str]], field: str) -> str:
    return next(s["liquid"] for s in snippets if s["field"] == field)


HELLO = "{{${first_name} | default: 'there'}}"
PERSONAL = [
    {
        "id": "control",
        "control": True,
        "subject": f"{HELLO}, our sale",
        "preheader": "Ends Sunday",
        "cta": f"Shop now, {HELLO} & co",
    },
    {"id": "v1", "subject": f"{HELLO}, your 40% off", "preheader": f"Hi {HELLO}", "cta": "Get 40% off"},
    {"id": "v2", "subject": f"Early access for {HELLO}", "preheader": "Members first", "cta": f"Go {HELLO}"},
]
PERSONAL_FIELDS = ["subject", "preheader", "html body: cta", "text body: cta", "amp body: cta"]


def _filled(answer: dict[str, Any], field: str, name: str) -> str:
    placement = field.rsplit(": ", 1)[-1]
    text = answer[placement].replace("{{p0}}", name)
    return html.escape(text) if field.startswith(("html", "amp")) else text


@pytest.mark.parametrize("method", ["get", "post"])
def test_personalised_wordings_are_filled_inside_braze_and_no_first_name_reaches_copyloom(
    server: Server, method: str
) -> None:
    workspace = make_workspace(server.store, "acme", variants=PERSONAL)
    snippets = printed_snippets(
        server, workspace.experiment_id, "--method", method, "--token", workspace.token
    )
    seen_variants = set()

    for i, (braze_id, user_id) in enumerate(RECIPIENTS[:8]):
        profile = {"first_name": "Ada"} if i % 2 == 0 else {}
        name = "Ada" if profile else "there"
        fields = {s["field"]: render(s["liquid"], braze_id, user_id, **profile) for s in snippets}
        answer = served(server, workspace, braze_id, "dispatch-1")
        seen_variants.add(answer["variant_id"])

        assert "first_name" not in json.dumps(answer)
        for field in PERSONAL_FIELDS:
            assert fields[field].text.strip() == _filled(answer, field, name)
        assert name in fields["subject"].text
        for rendering in fields.values():
            (call,) = rendering.calls
            assert call.status == 200
            assert "Ada" not in f"{call.url} {call.headers} {call.body}"
    assert len(seen_variants) > 1


def test_the_personalised_control_renders_when_copyloom_is_unreachable_refused_or_paused(
    server: Server,
) -> None:
    workspace = make_workspace(server.store, "acme", variants=PERSONAL)
    snippets = printed_snippets(server, workspace.experiment_id, "--token", workspace.token)
    unreachable = f"http://127.0.0.1:{free_port()}"
    expected = {
        "subject": "Ada, our sale",
        "preheader": "Ends Sunday",
        "html body: cta": "Shop now, Ada &amp; co",
        "text body: cta": "Shop now, Ada & co",
        "amp body: cta": "Shop now, Ada &amp; co",
    }

    def rendered(old: str, new: str, **profile: object) -> dict[str, str]:
        return {
            s["field"]: render(s["liquid"].replace(old, new), "braze-000", "crm-000", **profile).text.strip()
            for s in snippets
            if s["field"] in PERSONAL_FIELDS
        }

    # Braze sends the fallback only without :retry; with it, the send is aborted (tested above).
    no_retry = {
        s["field"]: render(
            s["liquid"].replace(server.url, unreachable).replace(" :retry", ""),
            "braze-000",
            "crm-000",
            first_name="Ada",
        ).text.strip()
        for s in snippets
        if s["field"] in PERSONAL_FIELDS
    }
    assert no_retry == expected
    assert rendered(workspace.token, "cl_revoked") == {
        k: v.replace("Ada", "there") for k, v in expected.items()
    }
    experiment_service.change_status(server.store, workspace.experiment_id, "pause", time.time())
    time.sleep(0.2)  # the server's cache refreshes every 0.05 s in this fixture
    paused = render(_entry(snippets, "subject"), "braze-000", "crm-000", first_name="Ada").text.strip()
    assert paused == "Ada, our sale"


def test_the_text_format_serves_the_slots_too(server: Server) -> None:
    workspace = make_workspace(server.store, "acme", variants=PERSONAL)
    answer = served(server, workspace, "braze-000", "dispatch-1")

    response = httpx.get(
        f"{server.url}/v1/content/{workspace.experiment_id}",
        params={"recipient": "braze-000", "dispatch": "dispatch-1", "format": "text", "placement": "subject"},
        headers={"Authorization": f"Bearer {workspace.token}"},
    )

    assert response.text == answer["subject"]
    assert "{{p0}}" in response.text
