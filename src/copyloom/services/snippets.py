"""The Liquid to paste into Braze: a Connected Content call per placement, the open pixel, message extras.

Every snippet makes its own call, because a Connected Content variable is visible only in the field
(subject, preheader, body) that made it. The recipient goes in the URL (GET) so that Braze's URL-keyed
cache never serves one recipient's wording to another; POST bodies are not cached at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from copyloom.domain.values import Experiment
from copyloom.errors import InvalidInput

Method = Literal["get", "post"]
TOKEN_PLACEHOLDER = "YOUR_COPYLOOM_TOKEN"  # noqa: S105 - a placeholder for the user to replace
_RECIPIENT_TAG = {"user_id": "{{${braze_id}}}", "external_user_id": "{{${user_id}}}"}
_DISPATCH_TAG = "{{campaign.${dispatch_id}}}"
_VARIABLE = "copyloom"


@dataclass(frozen=True, slots=True)
class Snippet:
    field: str  # where it goes in Braze: a placement (subject, preheader, …) or "body (open pixel)"
    liquid: str


def render_snippets(
    experiment: Experiment,
    *,
    base_url: str,
    placement: str | None = None,
    method: Method = "get",
    message_extras: bool = False,
    token: str = TOKEN_PLACEHOLDER,
) -> list[Snippet]:
    """One snippet per placement (or just `placement`), then the body's open pixel.

    Raises:
        InvalidInput: `placement` is not one of the experiment's placements.
    """
    placements = experiment.definition.placements
    if placement is not None and placement not in placements:
        raise InvalidInput(f"placement: '{placement}' is not one of {', '.join(placements)}")
    call = _call(experiment, base_url.rstrip("/"), method, token)
    control = experiment.definition.control
    snippets = [
        Snippet(name, f"{call}\n{_text_or_control(name, control.texts[name])}")
        for name in placements
        if placement in (None, name)
    ]
    image = (
        f'<img src="{{{{{_VARIABLE}.pixel_url}}}}" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px" />'
    )
    pixel = f"{call}\n{{% if {_VARIABLE}.pixel_url %}}{image}{{% endif %}}"
    if message_extras:
        pixel += f"\n{{% message_extras :key copyloom_variant :value {{{{{_VARIABLE}.variant_id}}}} %}}"
    snippets.append(Snippet("body (open pixel)", pixel))
    return snippets


def _call(experiment: Experiment, base_url: str, method: Method, token: str) -> str:
    recipient = _RECIPIENT_TAG[experiment.definition.recipient_field]
    url = f"{base_url}/v1/content/{experiment.experiment_id}"
    headers = f':headers {{"Authorization": "Bearer {token}"}}'
    if method == "get":
        query = f"recipient={_escaped(recipient)}&dispatch={_escaped(_DISPATCH_TAG)}"
        return f"{{% connected_content {url}?{query} :method get {headers} :save {_VARIABLE} :retry %}}"
    body = f"recipient={_escaped(recipient)}&dispatch={_escaped(_DISPATCH_TAG)}"
    return (
        f"{{% connected_content {url} :method post {headers} :body {body} "
        f":content_type application/x-www-form-urlencoded :save {_VARIABLE} :retry %}}"
    )


def _escaped(tag: str) -> str:
    """`{{${braze_id}}}` → `{{${braze_id} | url_param_escape}}`."""
    return tag[:-2].rstrip() + " | url_param_escape}}"


def _text_or_control(name: str, control_text: str) -> str:
    """The served text, or the control's (inside {% raw %}, so copy with braces stays literal)."""
    return (
        f"{{% if {_VARIABLE}.__http_status_code__ == 200 and {_VARIABLE}.{name} %}}{{{{{_VARIABLE}.{name}}}}}"
        f"{{% else %}}{{% raw %}}{control_text}{{% endraw %}}{{% endif %}}"
    )
