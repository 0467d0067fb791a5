"""The Liquid to paste into Braze: a Connected Content call per message part, the open pixel, message extras.

Every snippet makes its own call, because a Connected Content variable is visible only in the field
(subject, preheader, HTML body, plain-text body, AMP body) that made it, and Braze renders each of them
separately. The recipient goes in the URL (GET) so that Braze's URL-keyed cache never serves one
recipient's wording to another; POST bodies are not cached at all.

Placements named `subject` and `preheader` go into those fields; any other placement (a headline, a call
to action) is text in the body, so it gets one snippet for each of the three bodies. The pseudo-placement
`body` is the open pixel: an `<img>` in the HTML body, an `<amp-img>` in the AMP body, nothing in the
plain-text body (a text part cannot load an image).
"""

from __future__ import annotations

import html
import ipaddress
import urllib.parse
from dataclasses import dataclass
from typing import Literal

from copyloom.domain.context import CONTEXT_PARAM_PREFIX
from copyloom.domain.personalisation import Expression, placement_slots, slot_marker, split_wording
from copyloom.domain.values import Experiment
from copyloom.errors import InvalidInput

Method = Literal["get", "post"]
Part = Literal["subject", "preheader", "html", "text", "amp"]
HEADER_PARTS: tuple[Part, ...] = ("subject", "preheader")
BODY_PARTS: tuple[Part, ...] = ("html", "text", "amp")
PIXEL_PLACEMENT = "body"
TOKEN_PLACEHOLDER = "YOUR_COPYLOOM_TOKEN"  # noqa: S105 - a placeholder for the user to replace
BRAZE_PORTS = (80, 443)  # REFERENCE.md C.1: Connected Content calls only these ports
_RECIPIENT_TAG = {"user_id": "{{${braze_id}}}", "external_user_id": "{{${user_id}}}"}
_DISPATCH_TAG = "{{campaign.${dispatch_id}}}"
_SOURCE_TAG = "{{campaign.${api_id}}}"
"""The campaign's API id; inside a Canvas Message step, the step's (REFERENCE.md section C)."""
_VARIABLE = "copyloom"
_PART_LABEL: dict[Part, str] = {
    "subject": "subject",
    "preheader": "preheader",
    "html": "html body",
    "text": "text body",
    "amp": "amp body",
}


@dataclass(frozen=True, slots=True)
class Snippet:
    """What goes into one part of the Braze message for one placement (or the pixel)."""

    placement: str
    part: Part
    liquid: str

    @property
    def field(self) -> str:
        """Where it goes in Braze: `subject`, `preheader`, `html body: cta`, `amp body: open pixel`, …"""
        if self.part in HEADER_PARTS:
            return _PART_LABEL[self.part]
        what = "open pixel" if self.placement == PIXEL_PLACEMENT else self.placement
        return f"{_PART_LABEL[self.part]}: {what}"


def render_snippets(
    experiment: Experiment,
    *,
    base_url: str,
    placement: str | None = None,
    method: Method = "get",
    message_extras: bool = False,
    token: str = TOKEN_PLACEHOLDER,
) -> list[Snippet]:
    """The snippets of every placement (or just `placement`), then the body's open pixel (placement `body`).

    Raises:
        InvalidInput: `placement` is neither one of the experiment's placements nor `body`.
    """
    placements = experiment.definition.placements
    choices = (*placements, PIXEL_PLACEMENT) if PIXEL_PLACEMENT not in placements else placements
    if placement is not None and placement not in choices:
        raise InvalidInput(f"placement: '{placement}' is not one of {', '.join(choices)}")
    call = _call(experiment, base_url.rstrip("/"), method, token)
    found = [
        snippet
        for name in placements
        if placement in (None, name)
        for snippet in _placement_snippets(call, name, experiment)
    ]
    if placement in (None, PIXEL_PLACEMENT):
        found += [
            Snippet(PIXEL_PLACEMENT, "html", _html_pixel(call, message_extras=message_extras)),
            Snippet(PIXEL_PLACEMENT, "amp", _amp_pixel(call)),
        ]
    return found


def base_url_warnings(base_url: str) -> list[str]:
    """Why Braze could not call `base_url` (or only in clear text); empty when it looks fine.

    Judges only what the URL says: a literal IP address or `localhost`; host names are not resolved.
    """
    parsed = urllib.parse.urlsplit(base_url)
    where = f"public base URL {base_url}"
    warnings = []
    if parsed.scheme != "https":
        warnings.append(f"{where}: not https, so the serving token would cross the internet unencrypted")
    try:
        port = parsed.port
    except ValueError:
        port = None
        warnings.append(f"{where}: the port is not a number")
    if port is not None and port != (443 if parsed.scheme == "https" else 80):
        allowed = " and ".join(str(p) for p in BRAZE_PORTS)
        warnings.append(f"{where}: port {port}; Braze calls only ports {allowed} (https on 443)")
    host_problem = _host_problem(parsed.hostname or "")
    if host_problem:
        warnings.append(f"{where}: {host_problem}; Braze calls only public hosts")
    return warnings


def _host_problem(host: str) -> str | None:
    if host == "localhost" or host.endswith(".localhost"):
        return f"host {host} is this machine (loopback)"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None if host else "no host"
    if address.is_loopback:
        return f"host {host} is a loopback address"
    if address.is_private:
        return f"host {host} is a private address"
    if not address.is_global:
        return f"host {host} is not a public address"
    return None


def _placement_snippets(call: str, name: str, experiment: Experiment) -> list[Snippet]:
    definition = experiment.definition
    wording = _Wording(
        name,
        definition.control.texts[name],
        placement_slots(v.texts[name] for v in definition.variants),
    )
    if name == "subject":
        return [Snippet(name, "subject", _subject_part(call, wording))]
    if name == "preheader":
        return [Snippet(name, "preheader", _preheader_part(call, wording))]
    return [
        Snippet(name, "html", _html_part(call, wording)),
        Snippet(name, "text", _text_part(call, wording)),
        Snippet(name, "amp", _amp_part(call, wording)),
    ]


@dataclass(frozen=True, slots=True)
class _Wording:
    """A placement, its control text (the fallback) and the personalisation slots of all its variants."""

    name: str
    control_text: str
    slots: tuple[Expression, ...]


def _subject_part(call: str, wording: _Wording) -> str:
    return f"{call}\n{_served_or_control(wording, escape=False)}"


def _preheader_part(call: str, wording: _Wording) -> str:
    return f"{call}\n{_served_or_control(wording, escape=False)}"


def _html_part(call: str, wording: _Wording) -> str:
    return f"{call}\n{_served_or_control(wording, escape=True)}"


def _text_part(call: str, wording: _Wording) -> str:
    """Plain text: the wording as is, no markup."""
    return f"{call}\n{_served_or_control(wording, escape=False)}"


def _amp_part(call: str, wording: _Wording) -> str:
    return f"{call}\n{_served_or_control(wording, escape=True)}"


def _html_pixel(call: str, *, message_extras: bool) -> str:
    image = (
        f'<img src="{{{{{_VARIABLE}.pixel_url}}}}" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px" />'
    )
    pixel = f"{call}\n{{% if {_VARIABLE}.pixel_url %}}{image}{{% endif %}}"
    if message_extras:
        pixel += f"\n{{% message_extras :key copyloom_variant :value {{{{{_VARIABLE}.variant_id}}}} %}}"
    return pixel


def _amp_pixel(call: str) -> str:
    """AMP for Email has no `<img>`: `<amp-img>` needs an explicit size and layout, and alt text.

    See https://amp.dev/documentation/components/amp-img/?format=email.
    """
    image = (
        f'<amp-img src="{{{{{_VARIABLE}.pixel_url}}}}" width="1" height="1" layout="fixed" alt=""></amp-img>'
    )
    return f"{call}\n{{% if {_VARIABLE}.pixel_url %}}{image}{{% endif %}}"


def _call(experiment: Experiment, base_url: str, method: Method, token: str) -> str:
    recipient = _RECIPIENT_TAG[experiment.definition.recipient_field]
    url = f"{base_url}/v1/content/{experiment.experiment_id}"
    headers = f':headers {{"Authorization": "Bearer {token}"}}'
    params = (
        f"recipient={_escaped(recipient)}&dispatch={_escaped(_DISPATCH_TAG)}&source={_escaped(_SOURCE_TAG)}"
    )
    # Each context field as Braze fills it, URL-escaped: `&ctx_tier={{custom_attribute.${tier} | …}}`.
    for field in experiment.definition.context:
        params += f"&{CONTEXT_PARAM_PREFIX}{field.name}={_escaped('{{' + field.braze + '}}')}"
    if method == "get":
        return f"{{% connected_content {url}?{params} :method get {headers} :save {_VARIABLE} :retry %}}"
    body = params
    return (
        f"{{% connected_content {url} :method post {headers} :body {body} "
        f":content_type application/x-www-form-urlencoded :save {_VARIABLE} :retry %}}"
    )


def _escaped(tag: str) -> str:
    """`{{${braze_id}}}` → `{{${braze_id} | url_param_escape}}`."""
    return tag[:-2].rstrip() + " | url_param_escape}}"


def _served_or_control(wording: _Wording, *, escape: bool) -> str:
    """The served text, or the control's (its literal parts inside {% raw %}, so copy with braces stays
    literal), with each personalisation slot filled by the Liquid Braze evaluates.

    Slot i's value is captured in `cl_p<i>` and its marker `{{p<i>}}` in `cl_m<i>` (inside {% raw %}: a
    Liquid string cannot hold `{{` in an output tag); the served text then replaces each marker. In an
    HTML or AMP body the text and the values are HTML-escaped, so `&` or `<` stays text.
    """
    escaping = " | escape" if escape else ""
    captures = "".join(
        f"{{% capture cl_p{i} %}}{{{{{slot.source}{escaping}}}}}{{% endcapture %}}"
        f"{{% capture cl_m{i} %}}{{% raw %}}{slot_marker(i)}{{% endraw %}}{{% endcapture %}}"
        for i, slot in enumerate(wording.slots)
    )
    fills = "".join(f" | replace: cl_m{i}, cl_p{i}" for i in range(len(wording.slots)))
    served = f"{_VARIABLE}.{wording.name}{escaping}{fills}"
    fallback = "".join(
        f"{{{{cl_p{wording.slots.index(segment)}}}}}"
        if isinstance(segment, Expression)
        else "{% raw %}" + (html.escape(segment, quote=False) if escape else segment) + "{% endraw %}"
        for segment in split_wording(wording.control_text)
    )
    return (
        f"{captures}{{% if {_VARIABLE}.__http_status_code__ == 200 and {_VARIABLE}.{wording.name} %}}"
        f"{{{{{served}}}}}{{% else %}}{fallback}{{% endif %}}"
    )
