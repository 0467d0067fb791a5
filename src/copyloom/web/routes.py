"""The public endpoints: Connected Content, the open pixel, the Currents webhook and health."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from copyloom.domain.context import CONTEXT_PARAM_PREFIX
from copyloom.domain.personalisation import served_texts
from copyloom.domain.pseudonyms import pseudonymiser
from copyloom.domain.text import TEXT_LIMITS, checked_text, field_text
from copyloom.domain.values import Tenant, Variant
from copyloom.errors import CopyloomError, InvalidInput
from copyloom.ingest.currents_http import parse_currents_batch
from copyloom.services.serving import Served, ServingRuntime
from copyloom.web.limits import RateLimiter
from copyloom.web.requests import bearer_token, read_body, request_params, text_param

log = logging.getLogger(__name__)

# A transparent 1x1 GIF, the smallest image every mail client renders.
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_PIXEL_HEADERS = {"Cache-Control": "no-store, no-cache, must-revalidate, private", "Pragma": "no-cache"}
MAX_RENDERED_BODIES = 10_000


def _render_up_to_token(served: Served, public_base_url: str) -> bytes:
    """The content answer's JSON, rendered as JSONResponse renders it, up to where the pixel token goes:
    `pixel_url` is always its last key (variant texts may not use the answer's own names), and a token
    (URL-safe base64, or "-") needs no JSON escaping."""
    body = {
        "experiment_id": served.experiment.experiment_id,
        "variant_id": served.variant.variant_id,
        **_served_texts(served),
        "pixel_url": f"{public_base_url.rstrip('/')}/v1/pixel/",
    }
    rendered = bytes(JSONResponse(body).body)
    assert rendered.endswith(b'/v1/pixel/"}')
    return rendered[: -len(b'"}')]


@dataclass(frozen=True, slots=True)
class _ContentCall:
    recipient: str
    dispatch: str
    source: str  # the Braze campaign or Canvas step API id, "" when the snippet sends none
    output: str
    placement: str
    context: Mapping[str, str]
    """The raw `ctx_<name>` values by field name: the runtime maps them to a segment and drops them."""


def _context_params(params: Mapping[str, str]) -> dict[str, str]:
    """The call's `ctx_<name>` parameters by name, each name and value under the rule for text (a name
    is checked before any message may name it; a value is never named)."""
    context: dict[str, str] = {}
    for key, value in params.items():
        if key.startswith(CONTEXT_PARAM_PREFIX):
            checked_text("query: a parameter name", key, max_chars=TEXT_LIMITS["placement"])
            context[key.removeprefix(CONTEXT_PARAM_PREFIX)] = field_text(key, "context", value)
    return context


def _content_params(params: Mapping[str, str], *, complete: bool) -> _ContentCall:
    """The content call's recipient, dispatch, source, format, placement and context, each under the rule
    for text; with `complete`, the recipient (and, for `format=text`, the placement) is required."""
    recipient = text_param(params, "recipient", max_chars=TEXT_LIMITS["recipient"], required=complete)
    dispatch = text_param(params, "dispatch", max_chars=TEXT_LIMITS["dispatch"], required=False)
    source = text_param(params, "source", max_chars=TEXT_LIMITS["source"], required=False)
    # Given, it must be exactly one of them ("" or " json" is not json); left out, json.
    output = (
        checked_text("format", params["format"], max_chars=TEXT_LIMITS["format"])
        if "format" in params
        else "json"
    )
    if output not in ("json", "text"):
        raise InvalidInput(f"format: expected json or text, got {output!r}")
    placement = text_param(
        params, "placement", max_chars=TEXT_LIMITS["placement"], required=complete and output == "text"
    )
    return _ContentCall(recipient, dispatch, source, output, placement, _context_params(params))


def _served_texts(served: Served) -> dict[str, str]:
    """The variant's texts with personalisation as slots (filled inside Braze by the snippet)."""
    every = (v.texts for v in served.experiment.definition.variants)
    return served_texts(every, served.variant.texts)


@dataclass(frozen=True, slots=True)
class Endpoints:
    runtime: ServingRuntime
    public_base_url: str
    max_body_bytes: int
    max_events_per_post: int
    limiter: RateLimiter
    event_limiter: RateLimiter
    event_slots: asyncio.Semaphore
    budget_s: float
    on_fallback: Callable[[], None] = lambda: None
    _bodies: dict[tuple[str, str], tuple[Variant, bytes]] = field(default_factory=dict)

    async def content(self, request: Request) -> Response:
        """GET or POST /v1/content/{experiment_id}: the variant texts for one recipient."""
        tenant = await self.runtime.authenticate(bearer_token(request), "serving")
        self.limiter.check(tenant.tenant_id)
        query, body = await request_params(request, self.max_body_bytes)
        experiment_id = field_text("experiment_id", "experiment_id", request.path_params["experiment_id"])
        if body:  # the body overrides the query; what it overrides is checked all the same
            _content_params(query, complete=False)
        call = _content_params({**query, **body}, complete=True)
        served = await self._serve_within_budget(tenant, experiment_id, call)
        if call.output == "text":
            if call.placement not in served.variant.texts:
                raise InvalidInput(
                    f"placement: '{call.placement}' is not one of {', '.join(served.variant.texts)}"
                )
            return PlainTextResponse(_served_texts(served)[call.placement])
        return self._content_response(served)

    async def _serve_within_budget(self, tenant: Tenant, experiment_id: str, call: _ContentCall) -> Served:
        """Braze gives up after 2 s; past the budget the control goes out (no assignment is promised: a
        commit already under way may still store one) and the fallback is counted. The group commit
        enforces the deadline with one timer for every waiting request."""
        deadline = asyncio.get_running_loop().time() + self.budget_s
        try:
            return await self.runtime.serve(
                tenant,
                experiment_id,
                call.recipient,
                call.dispatch,
                deadline,
                source=call.source,
                context=call.context,
            )
        except TimeoutError:
            self.on_fallback()
            log.warning("content answer over the %.0f ms budget: served the control", self.budget_s * 1000)
            return await self.runtime.serve_fixed(tenant, experiment_id)

    def _content_response(self, served: Served) -> Response:
        """The JSON answer, from the variant's body rendered once up to the pixel token (the same bytes
        as rendering the whole object each time, for a fraction of the CPU)."""
        key = (served.experiment.experiment_id, served.variant.variant_id)
        cached = self._bodies.get(key)
        if cached is None or cached[0] is not served.variant:
            if len(self._bodies) >= MAX_RENDERED_BODIES:
                self._bodies.clear()
            cached = self._bodies[key] = (served.variant, _render_up_to_token(served, self.public_base_url))
        token = (served.pixel_token or "-").encode()
        return Response(cached[1] + token + b'.gif"}', media_type="application/json")

    async def events(self, request: Request) -> Response:
        """POST /v1/events: a Braze Custom HTTP Currents batch.

        A batch is admitted while the tenant's event bucket is not empty, then costs its events (which
        may put the bucket in debt by one batch). Parsing, pseudonymising and recording run on worker
        threads, at most `event_slots` batches per process at once, so content calls keep the loop."""
        tenant = await self.runtime.authenticate(bearer_token(request), "serving")
        self.limiter.check(tenant.tenant_id)
        self.event_limiter.admit(tenant.tenant_id)
        body = await read_body(request, self.max_body_bytes)
        if not body.strip():
            return JSONResponse(
                {"received": 0, "accepted": 0, "duplicate": 0, "ignored": 0, "unattributed": 0}
            )
        async with self.event_slots:
            events = await anyio.to_thread.run_sync(
                lambda: parse_currents_batch(
                    body, pseudonymiser(tenant.pseudonym_key), max_events=self.max_events_per_post
                )
            )
            self.event_limiter.take(tenant.tenant_id, len(events))
            tally = await self.runtime.record_events(tenant, events)
        return JSONResponse(tally.as_dict())

    async def pixel(self, request: Request) -> Response:
        """GET /v1/pixel/{token}.gif: always the GIF; a valid token records a unique open."""
        token = request.path_params["token"]
        try:
            checked_text("token", token, max_chars=TEXT_LIMITS["pixel_token"])
            await self.runtime.record_open(token)
        except CopyloomError as exc:  # a mail client must never see an error; the open is lost
            log.warning("pixel open not recorded: %s", exc.code)
        return Response(PIXEL_GIF, media_type="image/gif", headers=_PIXEL_HEADERS)

    async def health(self, _request: Request) -> Response:
        """200 while the process serves, `degraded` included: a degraded worker still answers content
        requests (from the journal), so a load balancer must keep sending them."""
        return JSONResponse(self.runtime.health())
