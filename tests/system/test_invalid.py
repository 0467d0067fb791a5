"""Every rejected input, with its exact message: definitions, settings and HTTP requests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from copyloom.domain.definition import parse_experiment_definition
from copyloom.errors import InvalidInput
from copyloom.settings import load_settings
from copyloom.storage.db import Store
from tests.cli.runner import Cli
from tests.helpers import DEFINITION, Api, Workspace, make_workspace


def changed(**changes: Any) -> dict[str, Any]:
    definition = copy.deepcopy(DEFINITION)
    definition.update(changes)
    return definition


def variants_with(index: int, **changes: Any) -> list[dict[str, Any]]:
    variants = copy.deepcopy(DEFINITION["variants"])
    assert isinstance(variants, list)
    variants[index].update(changes)
    return [{k: v for k, v in variant.items() if v is not None} for variant in variants]


COUNTRY = {"name": "country", "braze": "${country}", "categories": ["GB", "DE"]}
FLOOR_RULE = (
    "floor: expected a number >= 0 that leaves traffic to allocate (floor x 3 variants below 1), got "
)
HOLDOUT_RULE = (
    "control_holdout: expected a number >= 0 that leaves traffic to allocate (control_holdout + floor x 3 "
    "variants below 1), got "
)

REJECTED_DEFINITIONS: list[tuple[Any, str]] = [
    ([1, 2], "definition: expected an object with name, mode, metric and variants"),
    (changed(name=""), "name: required, a non-empty text"),
    (changed(mode="weekly"), "mode: expected one of broadcast, triggered, got 'weekly'"),
    (changed(metric="conversions"), "metric: expected one of click, open, cta_click, got 'conversions'"),
    (
        changed(metric="cta_click"),
        "cta_links: required with metric cta_click, a list of the CTA's Braze link aliases",
    ),
    (changed(cta_links=["shop"]), "cta_links: only used with metric cta_click"),
    (changed(metric="cta_click", cta_links=[]), "cta_links: expected a list of 1 to 20 Braze link aliases"),
    (
        changed(metric="cta_click", cta_links="shop"),
        "cta_links: expected a list of 1 to 20 Braze link aliases",
    ),
    (
        changed(metric="cta_click", cta_links=["shop", " "]),
        "cta_links[1]: expected a non-empty text (a Braze link alias)",
    ),
    (changed(metric="cta_click", cta_links=["shop", "shop"]), "cta_links[1]: duplicate alias 'shop'"),
    (
        changed(metric="cta_click", cta_links=["sh\x07op"]),
        "cta_links[0]: control character U+0007 is not allowed at character 3",
    ),
    (changed(campaign_ids="camp-a"), "campaign_ids: expected a list of 1 to 50 Braze campaign API ids"),
    (changed(canvas_step_ids=[]), "canvas_step_ids: expected a list of 1 to 50 Braze Canvas step API ids"),
    (changed(campaign_ids=["a", 7]), "campaign_ids[1]: expected a non-empty text (a Braze campaign API id)"),
    (changed(campaign_ids=["a", " a "]), "campaign_ids[1]: duplicate id 'a'"),
    (changed(campaign_ids=["x" * 129]), "campaign_ids[0]: longer than 128 characters"),
    (
        changed(canvas_step_ids=["st\x00ep"]),
        "canvas_step_ids[0]: control character U+0000 is not allowed at character 3",
    ),
    (
        changed(campaign_ids=["a"], canvas_step_ids=["a"]),
        "canvas_step_ids: 'a' is named in campaign_ids too",
    ),
    (
        changed(campaign_ids=[f"c{i}" for i in range(30)], canvas_step_ids=[f"s{i}" for i in range(21)]),
        "campaign_ids, canvas_step_ids: at most 50 campaigns and Canvas steps in all",
    ),
    (changed(auto_retire=True), "auto_retire: only used with mode triggered"),
    (
        changed(guardrails="on"),
        "guardrails: expected true, false or an object with metrics, margin, confidence, action",
    ),
    (
        changed(guardrails={"metrics": ["clicks"]}),
        "guardrails.metrics: expected a list of unsubscribe, spam, bounce, got ['clicks']",
    ),
    (
        changed(guardrails={"margin": -1}),
        "guardrails.margin: expected a relative margin from 0 to 10 (0.5: 50 % worse), got -1",
    ),
    (
        changed(guardrails={"confidence": 1}),
        "guardrails.confidence: expected a probability from 0.5 to below 1, got 1",
    ),
    (
        changed(guardrails={"action": "pause"}),
        "guardrails.action: expected one of floor, retire, got 'pause'",
    ),
    (
        changed(guardrails={"min_events": 0}),
        "guardrails.min_events: expected an integer from 1 to 1000000, got 0",
    ),
    (changed(guardrails={"when": 1}), "guardrails.when: unknown field"),
    (
        changed(mode="triggered", auto_retire="yes"),
        "auto_retire: expected true or an object with p_best_below, for_hours, min_sends",
    ),
    (
        changed(mode="triggered", auto_retire={"p_best_below": 0.5}),
        "auto_retire.p_best_below: expected a number above 0 and below 0.5, got 0.5",
    ),
    (
        changed(mode="triggered", auto_retire={"for_hours": 0.5}),
        "auto_retire.for_hours: expected a number of hours from 1 to 2160, got 0.5",
    ),
    (
        changed(mode="triggered", auto_retire={"min_sends": -1}),
        "auto_retire.min_sends: expected an integer from 0 to 1000000, got -1",
    ),
    (changed(mode="triggered", auto_retire={"after": 3}), "auto_retire.after: unknown field"),
    (
        changed(recipient_field="email"),
        "recipient_field: expected one of user_id, external_user_id, got 'email'",
    ),
    (changed(sticky="forever"), "sticky: expected one of recipient, dispatch, got 'forever'"),
    (changed(colour="red"), "colour: unknown field"),
    (
        changed(floor=0.5),
        "floor: expected a number >= 0 that leaves traffic to allocate (floor x 3 variants below 1), got 0.5",
    ),
    (changed(floor="1%"), FLOOR_RULE + "'1%'"),
    (changed(floor=-0.01), FLOOR_RULE + "-0.01"),
    (
        changed(control_holdout=0.97),
        HOLDOUT_RULE + "0.97",
    ),
    (changed(control_holdout=True), HOLDOUT_RULE + "True"),
    (
        changed(min_sends_per_variant=2.5),
        "min_sends_per_variant: expected an integer from 0 to 1000000, got 2.5",
    ),
    (
        changed(min_sends_per_variant=-1),
        "min_sends_per_variant: expected an integer from 0 to 1000000, got -1",
    ),
    (changed(variants="control"), "variants: expected a list of 2 to 10 variants"),
    (changed(variants=DEFINITION["variants"][:1]), "variants: expected 2 to 10 variants, got 1"),  # type: ignore[index]
    (
        changed(variants=[{"id": f"v{i}", "subject": "s", "control": i == 0} for i in range(11)]),
        "variants: expected 2 to 10 variants, got 11",
    ),
    (
        changed(variants=variants_with(1, control=None, id="control")),
        "variants[1].id: duplicate id 'control'",
    ),
    (
        changed(variants=variants_with(0, control=False)),
        "variants: exactly one variant needs control: true (found none)",
    ),
    (
        changed(variants=variants_with(1, control=True)),
        "variants: exactly one variant needs control: true (found control, v1)",
    ),
    (
        changed(variants=variants_with(2, preheader=None, cta="Shop")),
        "variants[2]: placements ['cta', 'subject'] differ from variants[0]'s ['preheader', 'subject']",
    ),
    (changed(variants=variants_with(1, subject="  ")), "variants[1].subject: empty text"),
    (
        changed(variants=variants_with(1, subject="{{ x | evil }}")),
        "variants[1].subject: personalisation '{{ x | evil }}' is not allowed: expected a Braze attribute "
        "${name} or custom_attribute.${name} first",
    ),
    (
        changed(variants=variants_with(1, subject="Hi {{${first_name} | evil}}")),
        "variants[1].subject: personalisation '{{${first_name} | evil}}' is not allowed: filter 'evil' "
        "(allowed: default, upcase, downcase, capitalize, strip, truncate, truncatewords, append, prepend)",
    ),
    (
        changed(variants=variants_with(0, preheader="{{${tier} | truncate: 'x'}}")),
        "variants[0].preheader: personalisation '{{${tier} | truncate: 'x'}}' is not allowed: "
        "filter 'truncate' takes an integer, then optionally a 'text'",
    ),
    (
        changed(variants=variants_with(1, subject="{{${first_name} | upcase: 1}}")),
        "variants[1].subject: personalisation '{{${first_name} | upcase: 1}}' is not allowed: "
        "filter 'upcase' takes no arguments",
    ),
    (
        changed(variants=variants_with(1, subject="{{${first_name} | default: there}}")),
        "variants[1].subject: personalisation '{{${first_name} | default: there}}' is not allowed: "
        "filter 'default': arguments are 'text' or integers",
    ),
    (
        changed(variants=variants_with(1, subject="{{${first_name} sale}}")),
        "variants[1].subject: personalisation '{{${first_name} sale}}' is not allowed: "
        "unexpected 'sale' (expected '| filter')",
    ),
    (
        changed(variants=variants_with(2, subject="Hi {{${first_name}, sale")),
        "variants[2].subject: personalisation '{{' has no closing '}}'",
    ),
    (
        changed(variants=variants_with(1, subject="{% if ${vip} %}VIP{% endif %} sale")),
        "variants[1].subject: Liquid tags '{%' are not allowed in a wording, only {{ }}",
    ),
    (
        changed(variants=variants_with(1, subject="x" * 2001)),
        "variants[1].subject: text longer than 2000 characters",
    ),
    (
        changed(variants=variants_with(1, id="has space")),
        "variants[1].id: use up to 64 letters, digits, '-' or '_'",
    ),
    (changed(variants=variants_with(1, control="yes")), "variants[1].control: expected true or false"),
    (
        changed(variants=variants_with(1, pixel_url="x")),
        "variants[1].pixel_url: 'pixel_url' is reserved for the response",
    ),
    (
        changed(variants=[{"id": "a", "control": True}, {"id": "b"}]),
        "variants[0]: no placement texts (e.g. subject, preheader, cta)",
    ),
    (changed(variants=["a", "b"]), "variants[0]: expected an object with id, placement texts and control"),
    (
        changed(context=[{"name": "who", "braze": "${email_address}", "categories": ["a"]}]),
        "context[0].braze: '${email_address}' identifies or describes a person; context must be coarse",
    ),
    (
        changed(
            context=[COUNTRY, {"name": "cid", "braze": "custom_attribute.${customer_id}", "buckets": [1]}]
        ),
        "context[1].braze: 'customer_id' looks like an identifier or a personal value; context must be "
        "coarse (docs/braze-setup.md#segments-context-from-braze lists the refused names)",
    ),
    (
        changed(
            context=[{"name": "dev", "braze": "most_recently_used_device.${model}", "categories": ["a"]}]
        ),
        "context[0].braze: not an allowed Braze expression; expected one of ${language}, ${country}, "
        "${time_zone}, ${most_recent_locale}, ${random_bucket_number}, custom_attribute.${<name>} or "
        "canvas_entry_properties.${<name>}",
    ),
    (
        changed(context=[{**COUNTRY, "categories": [f"c{i}" for i in range(19)]}]),
        "context[0].categories: field 'country' has 21 segments (with unknown and other); at most 20",
    ),
    (
        changed(context=[{**COUNTRY, "name": n, "categories": [f"c{i}" for i in range(5)]} for n in "abc"]),
        "context: 343 segments in all (the product of each field's); at most 200",
    ),
]


@pytest.mark.parametrize(("definition", "message"), REJECTED_DEFINITIONS)
def test_rejected_definitions(definition: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_experiment_definition(definition)
    assert caught.value.message == message


REJECTED_SETTINGS = [
    ({"COPYLOOM_PORT": "eighty"}, "COPYLOOM_PORT: expected int, got 'eighty'"),
    ({"COPYLOOM_LEARN_INTERVAL_S": "0"}, "COPYLOOM_LEARN_INTERVAL_S: must be greater than 0"),
    ({"COPYLOOM_MAX_BODY_BYTES": "-1"}, "COPYLOOM_MAX_BODY_BYTES: must be greater than 0"),
    ({"COPYLOOM_GROUP_COMMIT_WINDOW_MS": "-2"}, "COPYLOOM_GROUP_COMMIT_WINDOW_MS: must be 0 or more"),
    ({"COPYLOOM_DASHBOARD_SESSION_TTL_S": "0"}, "COPYLOOM_DASHBOARD_SESSION_TTL_S: must be greater than 0"),
    (
        {"COPYLOOM_DASHBOARD_SESSION_TTL_S": "12h"},
        "COPYLOOM_DASHBOARD_SESSION_TTL_S: expected float, got '12h'",
    ),
    ({"COPYLOOM_JOURNAL_AFTER_MS": "0"}, "COPYLOOM_JOURNAL_AFTER_MS: must be greater than 0"),
    (
        {"COPYLOOM_JOURNAL_REPLAY_INTERVAL_S": "-1"},
        "COPYLOOM_JOURNAL_REPLAY_INTERVAL_S: must be greater than 0",
    ),
    ({"COPYLOOM_JOURNAL_AFTER_MS": "soon"}, "COPYLOOM_JOURNAL_AFTER_MS: expected float, got 'soon'"),
    (
        {"COPYLOOM_PUBLIC_BASE_URL": "cl.example.com"},
        "COPYLOOM_PUBLIC_BASE_URL: must start with http:// or https://",
    ),
]


@pytest.mark.parametrize(("environ", "message"), REJECTED_SETTINGS)
def test_rejected_settings(environ: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_settings(environ)
    assert caught.value.message == message


def test_rejected_report_and_dashboard_password_commands(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'cli.db'}")
    cli.run("init")
    cli.run("tenant", "create", "acme")
    cases = [
        (("report", "ex_missing"), "experiment: no experiment 'ex_missing'"),
        (("report", "ex_missing", "--tenant", "initech"), "tenant: no tenant named 'initech'"),
        (("tenant", "dashboard-password", "initech", "--json"), "tenant: no tenant named 'initech'"),
    ]
    for args, message in cases:
        result = cli.run(*args, ok=False)
        assert result.returncode == 1
        assert message in result.stderr
    bad_format = cli.run("report", "ex_missing", "--format", "pdf", ok=False)
    assert "Invalid value for '--format': 'pdf' is not one of 'md', 'csv', 'json'." in bad_format.stderr


def test_a_report_that_cannot_be_written_names_the_file(
    tmp_path: Path, database_url: str, store: Store
) -> None:
    workspace = make_workspace(store, "acme")
    cli = Cli(database_url)

    result = cli.run(
        "report", workspace.experiment_id, "--output", str(tmp_path / "no" / "such" / "r.md"), ok=False
    )

    assert result.stderr == "error: --output: cannot write r.md (No such file or directory)\n"


def test_rejected_content_requests(api: Api, workspace: Workspace) -> None:
    url = f"/v1/content/{workspace.experiment_id}"
    auth = {"Authorization": f"Bearer {workspace.token}"}
    cases = [
        (api.client.get(url, params={"dispatch": "d"}, headers=auth), 400, "recipient: required"),
        (
            api.client.get(url, params={"recipient": "r" * 257}, headers=auth),
            400,
            "recipient: longer than 256 characters",
        ),
        (
            api.client.get(url, params={"recipient": "r", "dispatch": "d" * 129}, headers=auth),
            400,
            "dispatch: longer than 128 characters",
        ),
        (
            api.client.post(url, content=b"{oops", headers={**auth, "Content-Type": "application/json"}),
            400,
            "body: not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2",
        ),
        (
            api.client.post(
                url,
                content=b'{"recipient": ' + b"7" * 4301 + b"}",
                headers={**auth, "Content-Type": "application/json"},
            ),
            400,
            "body: not valid JSON: a number with too many digits",
        ),
        (
            api.client.post(
                url,
                content=b"[" * 30_000 + b"]" * 30_000,
                headers={**auth, "Content-Type": "application/json"},
            ),
            400,
            "body: not valid JSON: nested too deeply",
        ),
        (
            api.client.post(url, content=b'{"recipient": "\\ud800"}', headers=auth),
            400,
            "recipient: not valid Unicode (lone surrogate U+D800) at character 1",
        ),
        (
            api.client.post(url, content=b'{"recipient": "r", "dispatch": "d\\udfff"}', headers=auth),
            400,
            "dispatch: not valid Unicode (lone surrogate U+DFFF) at character 2",
        ),
        (
            api.client.get(url, params={"recipient": "r", "dispatch": "a\x00b"}, headers=auth),
            400,
            "dispatch: control character U+0000 is not allowed at character 2",
        ),
        (
            api.client.get(url, params={"recipient": "r\x1b[2J"}, headers=auth),
            400,
            "recipient: control character U+001B is not allowed at character 2",
        ),
        (
            api.client.get(url, params={"recipient": "r", "placement": "p\x85"}, headers=auth),
            400,
            "placement: control character U+0085 is not allowed at character 2",
        ),
        (
            api.client.get("/v1/content/" + "e" * 60_000, params={"recipient": "r"}, headers=auth),
            400,
            "experiment_id: longer than 128 characters",
        ),
        (
            api.client.get("/v1/content/ex%00x", params={"recipient": "r"}, headers=auth),
            400,
            "experiment_id: control character U+0000 is not allowed at character 3",
        ),
        (api.client.post(url, json=["r"], headers=auth), 400, "body: expected a JSON object"),
        (
            api.client.post(url, json={"recipient": {"id": 1}}, headers=auth),
            400,
            "recipient: expected a string",
        ),
        (api.client.get(url, params={"recipient": "r"}), 401, "Authorization: missing bearer token"),
        (
            api.client.get(url, params={"recipient": "r"}, headers={"Authorization": "Basic abc"}),
            401,
            "Authorization: missing bearer token",
        ),
        (
            api.client.get(url, params={"recipient": "r"}, headers={"Authorization": "Bearer nope"}),
            401,
            "Authorization: unknown or revoked token",
        ),
        (
            api.client.get(url, params={"recipient": "r", "ctx_country": "GB"}, headers=auth),
            400,
            f"ctx_country: not a context field of experiment '{workspace.experiment_id}'",
        ),
        (
            api.client.get(url, params={"recipient": "r", "ctx_tier": "t" * 257}, headers=auth),
            400,
            "ctx_tier: longer than 256 characters",
        ),
        (
            api.client.get(url, params={"recipient": "r", "ctx_tier": "gold\x00"}, headers=auth),
            400,
            "ctx_tier: control character U+0000 is not allowed at character 5",
        ),
        (api.client.delete(url, headers=auth), 405, "Method Not Allowed"),
        (api.client.get("/v1/nothing-here", headers=auth), 404, "Not Found"),
    ]
    for response, status, message in cases:
        assert (response.status_code, response.json()["error"]["message"]) == (status, message)
        assert set(response.json()) == {"error"}
        assert set(response.json()["error"]) == {"code", "message"}


def test_rejected_management_requests(api: Api, workspace: Workspace) -> None:
    auth = {"Authorization": f"Bearer {workspace.management_token}"}
    finish = f"/v1/experiments/{workspace.experiment_id}/finish"
    report = f"/v1/experiments/{workspace.experiment_id}/report"
    cases = [
        (
            api.client.post("/v1/experiments", content=b"", headers=auth),
            400,
            "body: not valid JSON: Expecting value at line 1, column 1",
        ),
        (
            api.client.post("/v1/experiments", json=[DEFINITION], headers=auth),
            400,
            "body: expected an experiment definition, a JSON object",
        ),
        (
            api.client.post("/v1/experiments", json=changed(name="n" * 201), headers=auth),
            400,
            "name: longer than 200 characters",
        ),
        (
            api.client.post("/v1/experiments", json=changed(name="a\tb"), headers=auth),
            400,
            "name: control character U+0009 is not allowed at character 2",
        ),
        (
            api.client.post(
                "/v1/experiments", json=changed(variants=variants_with(1, subject="a\x00b")), headers=auth
            ),
            400,
            "variants[1].subject: control character U+0000 is not allowed at character 2",
        ),
        (
            api.client.post(
                "/v1/experiments", json=changed(variants=variants_with(0, **{"p" * 65: "x"})), headers=auth
            ),
            400,
            "variants[0]: a field name: longer than 64 characters",
        ),
        (
            api.client.post("/v1/experiments", json=changed(mode="weekly"), headers=auth),
            400,
            "mode: expected one of broadcast, triggered, got 'weekly'",
        ),
        (api.client.post(finish, json={"winner": "v1"}, headers=auth), 400, "winner: unknown field"),
        (
            api.client.post(finish, json={"serve": None}, headers=auth),
            400,
            "serve: expected winner, leader, control or a variant id",
        ),
        (
            api.client.get(report, params={"format": "pdf"}, headers=auth),
            400,
            "format: expected one of md, csv, json, got 'pdf'",
        ),
        (
            api.client.get("/v1/experiments/" + "e" * 200, headers=auth),
            400,
            "experiment_id: longer than 128 characters",
        ),
        (
            api.client.get("/v1/experiments", headers={"Authorization": f"Bearer {workspace.token}"}),
            403,
            "Authorization: this route takes the tenant's management token (a serving token fetches content "
            "and posts events)",
        ),
        (
            api.content(workspace.management_token, workspace.experiment_id, recipient="r"),
            403,
            "Authorization: this route takes the tenant's serving token (a management token manages "
            "experiments)",
        ),
        (api.client.get("/v1/experiments"), 401, "Authorization: missing bearer token"),
        (
            api.client.get("/v1/experiments/ex_missing", headers=auth),
            404,
            "experiment: no experiment 'ex_missing'",
        ),
        (api.client.delete("/v1/experiments", headers=auth), 405, "Method Not Allowed"),
    ]
    for response, status, message in cases:
        assert (response.status_code, response.json()["error"]["message"]) == (status, message)
        assert set(response.json()) == {"error"}
        assert set(response.json()["error"]) == {"code", "message"}
