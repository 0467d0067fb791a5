"""Braze's rendering of a message field, as far as our snippets use it, on the python-liquid engine.

Braze itself cannot run here, so this stands in for it, following `shared/braze/REFERENCE.md` section C:

- `{{${braze_id}}}`, `{{campaign.${dispatch_id}}}` and `{{campaign.${api_id}}}`: Braze's attribute syntax,
  mapped to plain variables;
- `| url_param_escape`: percent-encodes a value for a URL;
- `{% connected_content URL :method … :headers {…} :body … :content_type … :save var :retry %}` makes a
  real HTTP call (here to the real copyloom server) with Braze's default headers and its 2 s limit. A 2xx
  JSON object is saved in `var` with `__http_status_code__` added; 2xx text is inserted in place; any
  other status leaves `var` unset. With `:retry`, a failure Braze retries (connection error, 408, 429,
  5xx) is retried up to five times and then the message is aborted; other failures are not retried;
- `{% message_extras :key K :value V %}` records K = V on the (simulated) Send event.

What it does not model: Braze's URL-keyed cache, its backoff timing, its port rule (only 80 and 443;
the test server listens on a free loopback port) and the unhealthy-host breaker.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

import httpx
from liquid import Environment, ast
from liquid.context import RenderContext
from liquid.stream import TokenStream
from liquid.tag import Tag
from liquid.token import TOKEN_EXPRESSION, TOKEN_TAG, Token

BRAZE_TIMEOUT_S = 2.0
RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})
MAX_RETRIES = 5
_ATTRIBUTE = re.compile(r"\$\{(\w+)\}")
_OPTION = re.compile(r"\s:(\w+)(?:\s+|$)")


class MessageAborted(Exception):
    """Braze aborted the message: every retry of a Connected Content call failed."""


@dataclass
class Call:
    method: str
    url: str
    headers: dict[str, str]
    body: str | None
    status: int | None


@dataclass
class Rendering:
    """What one message field rendered to, the calls it made and the Send event's message extras."""

    text: str
    calls: list[Call] = field(default_factory=list)
    extras: dict[str, str] = field(default_factory=dict)


@dataclass
class _Outbox:
    calls: list[Call] = field(default_factory=list)
    extras: dict[str, str] = field(default_factory=dict)


class _RawMarkupNode(ast.Node):
    __slots__ = ("markup",)

    def __init__(self, token: Token, markup: str) -> None:
        super().__init__(token)
        self.markup = markup

    def _rendered_markup(self, context: RenderContext) -> str:
        """Braze renders the Liquid inside a tag's arguments before it reads them."""
        return context.env.from_string(self.markup).render(**{**context.globals, **context.locals})


class _ConnectedContentNode(_RawMarkupNode):
    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        url, options = _split_options(self._rendered_markup(context))
        outbox: _Outbox = context.globals["_outbox"]
        response = _call_with_retries(url, options, outbox)
        if response is None or not 200 <= response.status_code < 300:
            return 0
        try:
            data = response.json()
        except ValueError:
            return buffer.write(response.text)
        if isinstance(data, dict):
            data["__http_status_code__"] = response.status_code
        context.assign(options.get("save", "connected"), data)
        return 0


class _MessageExtrasNode(_RawMarkupNode):
    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        _, options = _split_options(self._rendered_markup(context))
        outbox: _Outbox = context.globals["_outbox"]
        outbox.extras[options["key"]] = options["value"]
        return 0


class _RawMarkupTag(Tag):
    block = False
    node: type[_RawMarkupNode]

    def parse(self, stream: TokenStream) -> ast.Node:
        token = stream.eat(TOKEN_TAG)
        markup = stream.current.value if stream.current.kind == TOKEN_EXPRESSION else ""
        return self.node(token, markup)


class ConnectedContentTag(_RawMarkupTag):
    name = "connected_content"
    node = _ConnectedContentNode


class MessageExtrasTag(_RawMarkupTag):
    name = "message_extras"
    node = _MessageExtrasNode


def braze_environment() -> Environment:
    env = Environment()
    env.add_tag(ConnectedContentTag)
    env.add_tag(MessageExtrasTag)
    env.add_filter("url_param_escape", lambda value: urllib.parse.quote(str(value), safe=""))
    return env


def render_field(
    liquid: str,
    *,
    braze_id: str,
    user_id: str,
    dispatch_id: str,
    attributes: Mapping[str, object] | None = None,
    api_id: str = "standin-campaign",
) -> Rendering:
    """Render one message field (subject, preheader, body) for one recipient of one dispatch.

    `attributes` are the recipient's profile: `first_name`, …, and `custom_attribute` (a mapping); an
    attribute the recipient does not have is left out (Braze renders it blank, so `default` applies).
    `api_id` is `{{campaign.${api_id}}}`: the campaign's API id, or the Canvas step's in a Canvas.
    """
    outbox = _Outbox()
    template = braze_environment().from_string(
        _ATTRIBUTE.sub(r"\1", liquid),
        globals={"_outbox": outbox},
    )
    text = template.render(
        **(attributes or {}),
        braze_id=braze_id,
        user_id=user_id,
        campaign={"dispatch_id": dispatch_id, "api_id": api_id},
    )
    return Rendering(text, outbox.calls, outbox.extras)


def _split_options(markup: str) -> tuple[str, dict[str, str]]:
    """`URL :method get :headers {…} :save v :retry` → (URL, {"method": "get", …, "retry": ""})."""
    parts = _OPTION.split(" " + markup.strip())
    url, rest = parts[0].strip(), parts[1:]
    options = {rest[i]: rest[i + 1].strip() for i in range(0, len(rest), 2)}
    return url, options


def _call_with_retries(url: str, options: dict[str, str], outbox: _Outbox) -> httpx.Response | None:
    attempts = 1 + (MAX_RETRIES if "retry" in options else 0)
    for _ in range(attempts):
        response = _call(url, options, outbox)
        if response is not None and response.status_code not in RETRIED_STATUSES:
            return response
    if "retry" in options:
        raise MessageAborted(f"Connected Content call to {url} failed {attempts} times")
    return response


def _call(url: str, options: dict[str, str], outbox: _Outbox) -> httpx.Response | None:
    method = options.get("method", "get").upper()
    headers = {"User-Agent": "Braze Sender test", "X-Braze-Sender-Version": "test"}
    headers |= json.loads(options.get("headers", "{}"))
    body = options.get("body")
    default_type = "application/json" if method == "GET" else "application/x-www-form-urlencoded"
    content_type = options.get("content_type", default_type)
    headers["Content-Type"] = content_type
    headers["Accept"] = content_type if "content_type" in options else "*/*"
    try:
        response = httpx.request(method, url, headers=headers, content=body, timeout=BRAZE_TIMEOUT_S)
    except httpx.TransportError:
        outbox.calls.append(Call(method, url, headers, body, None))
        return None
    outbox.calls.append(Call(method, url, headers, body, response.status_code))
    return response
