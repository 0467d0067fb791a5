"""The management API: a tenant's experiments over HTTP, with its management token (docs/http-api.md).

Every route is one `Operation` of `OPERATIONS`: the app's routes and their part of the OpenAPI document
are both built from that table, so no route can be served undocumented. Each handler calls the same
service function as the matching `copyloom experiment` command, scoped to the token's tenant (another
tenant's experiment is a 404, as an unknown one).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import anyio.to_thread
from starlette.background import BackgroundTask
from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from copyloom.domain.definition import parse_experiment_definition
from copyloom.domain.text import TEXT_LIMITS, field_text
from copyloom.domain.values import Tenant
from copyloom.errors import InvalidInput
from copyloom.services import experiments, reports, variants
from copyloom.services.decisions import (
    DECISION_FORMATS,
    DecisionFormat,
    csv_pieces,
    decision_chunks,
    parquet_file,
)
from copyloom.services.experiment_json import experiment_json, report_json, status_json, variants_json
from copyloom.services.experiments import Action
from copyloom.services.report_formats import REPORT_FORMATS, ReportFormat, render_report
from copyloom.services.segments import experiment_segments
from copyloom.services.serving import ServingRuntime
from copyloom.web import management_bodies as bodies
from copyloom.web.limits import RateLimiter
from copyloom.web.requests import bearer_token, read_body, request_params

Method = Literal["GET", "POST", "DELETE"]
Handler = Callable[["ManagementApi", Request, Tenant], Awaitable[Response]]

REPORT_MEDIA_TYPES: dict[ReportFormat, str] = {
    "json": "application/json",
    "csv": "text/csv",
    "md": "text/markdown",
}
"""What `GET /v1/experiments/{experiment_id}/report` answers with, per `format`."""
DEFAULT_REPORT_FORMAT: ReportFormat = "json"
DECISIONS_MEDIA_TYPES: dict[DecisionFormat, str] = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}
"""What `GET /v1/experiments/{experiment_id}/decisions` answers with, per `format` (CSV by default)."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One management route and its OpenAPI description.

    `success` maps the success status to its response object; `errors` lists the error statuses it may
    answer (their responses are the document's shared ones)."""

    method: Method
    path: str
    operation_id: str
    summary: str
    handler: Handler
    success: Mapping[str, Mapping[str, Any]]
    errors: tuple[str, ...]
    parameters: tuple[Mapping[str, Any], ...] = ()
    request_body: Mapping[str, Any] | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class ManagementApi:
    """The management routes of one API process: authenticated by scope from the runtime's token cache,
    rate-limited per tenant in a bucket of their own (automation never spends the serving budget)."""

    runtime: ServingRuntime
    limiter: RateLimiter
    max_body_bytes: int

    def routes(self) -> list[Route]:
        return [
            Route(op.path, self._endpoint(op), methods=[op.method], name=op.operation_id) for op in OPERATIONS
        ]

    def _endpoint(self, operation: Operation) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            tenant = await self.runtime.authenticate(bearer_token(request), "management")
            self.limiter.check(tenant.tenant_id)
            return await operation.handler(self, request, tenant)

        endpoint.__name__ = endpoint.__qualname__ = operation.operation_id
        return endpoint

    async def create_experiment(self, request: Request, tenant: Tenant) -> Response:
        body = await read_body(request, self.max_body_bytes)
        definition = parse_experiment_definition(bodies.definition_body(body))
        experiment_id = await anyio.to_thread.run_sync(
            experiments.create_tenant_experiment,
            self.runtime.store,
            tenant.tenant_id,
            definition,
            self.runtime.clock(),
        )
        return JSONResponse({"experiment_id": experiment_id}, status_code=201)

    async def list_experiments(self, _request: Request, tenant: Tenant) -> Response:
        found = await anyio.to_thread.run_sync(
            experiments.tenant_experiments, self.runtime.store, tenant.tenant_id
        )
        return JSONResponse({"experiments": [experiment_json(e) for e in found]})

    async def show_experiment(self, request: Request, tenant: Tenant) -> Response:
        report = await anyio.to_thread.run_sync(
            experiments.experiment_report, self.runtime.store, _experiment_id(request), tenant.tenant_id
        )
        by_segment = await anyio.to_thread.run_sync(
            experiment_segments, self.runtime.store, report.experiment.experiment_id, report.leader
        )
        return JSONResponse(report_json(report, by_segment))

    async def start(self, request: Request, tenant: Tenant) -> Response:
        return await self._change_status(request, tenant, "start", None)

    async def pause(self, request: Request, tenant: Tenant) -> Response:
        return await self._change_status(request, tenant, "pause", None)

    async def finish(self, request: Request, tenant: Tenant) -> Response:
        serve = bodies.finish_serve(await read_body(request, self.max_body_bytes))
        return await self._change_status(request, tenant, "finish", serve)

    async def _change_status(
        self, request: Request, tenant: Tenant, action: Action, serve: str | None
    ) -> Response:
        experiment_id = _experiment_id(request)
        updated = await anyio.to_thread.run_sync(
            lambda: experiments.change_status(
                self.runtime.store,
                experiment_id,
                action,
                self.runtime.clock(),
                serve=serve,
                tenant_id=tenant.tenant_id,
            )
        )
        return JSONResponse(status_json(updated))

    async def add_variant(self, request: Request, tenant: Tenant) -> Response:
        raw = bodies.variant_body(await read_body(request, self.max_body_bytes))
        experiment_id = _experiment_id(request)
        updated = await anyio.to_thread.run_sync(
            lambda: variants.add_variant(
                self.runtime.store, experiment_id, raw, self.runtime.clock(), tenant_id=tenant.tenant_id
            )
        )
        return JSONResponse(variants_json(updated), status_code=201)

    async def retire_variant(self, request: Request, tenant: Tenant) -> Response:
        experiment_id = _experiment_id(request)
        variant_id = field_text("variant_id", "id", request.path_params["variant_id"])
        updated = await anyio.to_thread.run_sync(
            lambda: variants.retire_variant(
                self.runtime.store,
                experiment_id,
                variant_id,
                self.runtime.clock(),
                tenant_id=tenant.tenant_id,
            )
        )
        return JSONResponse(variants_json(updated))

    async def report(self, request: Request, tenant: Tenant) -> Response:
        query, _ = await request_params(request, self.max_body_bytes)
        fmt = _report_format(query)
        experiment_id = _experiment_id(request)
        text = await anyio.to_thread.run_sync(
            lambda: render_report(
                reports.experiment_figures(
                    self.runtime.store,
                    experiment_id,
                    tenant_id=tenant.tenant_id,
                    now=self.runtime.clock(),
                    window_s=self.runtime.attribution_window_s,
                ),
                fmt,
            )
        )
        return Response(text, media_type=REPORT_MEDIA_TYPES[fmt])

    async def decisions(self, request: Request, tenant: Tenant) -> Response:
        query, _ = await request_params(request, self.max_body_bytes)
        fmt = _decisions_format(query)
        experiment_id = _experiment_id(request)
        chunks = await anyio.to_thread.run_sync(
            lambda: decision_chunks(self.runtime.store, experiment_id, tenant_id=tenant.tenant_id)
        )
        if fmt == "csv":
            return StreamingResponse(iterate_in_threadpool(csv_pieces(chunks)), media_type="text/csv")
        # Parquet's footer comes last: written to a temporary file, sent, then removed.
        path = await anyio.to_thread.run_sync(parquet_file, chunks)
        return FileResponse(
            path,
            media_type=DECISIONS_MEDIA_TYPES["parquet"],
            filename=f"{experiment_id}-decisions.parquet",
            background=BackgroundTask(os.unlink, path),
        )


def _decisions_format(query: Mapping[str, str]) -> DecisionFormat:
    value = query.get("format", "csv")
    for fmt in DECISION_FORMATS:
        if value == fmt:
            return fmt
    shown = field_text("format", "format", value)
    raise InvalidInput(f"format: expected one of {', '.join(DECISION_FORMATS)}, got {shown!r}")


def _experiment_id(request: Request) -> str:
    return field_text("experiment_id", "experiment_id", request.path_params["experiment_id"])


def _report_format(query: Mapping[str, str]) -> ReportFormat:
    value = query.get("format")
    if value is None:
        return DEFAULT_REPORT_FORMAT
    for fmt in REPORT_FORMATS:
        if value == fmt:
            return fmt
    shown = field_text("format", "format", value)
    raise InvalidInput(f"format: expected one of {', '.join(REPORT_FORMATS)}, got {shown!r}")


_EXPERIMENT_ID: Mapping[str, Any] = {
    "name": "experiment_id",
    "in": "path",
    "required": True,
    "schema": bodies.text_schema(TEXT_LIMITS["experiment_id"], min_chars=1),
}
_VARIANT_ID: Mapping[str, Any] = {
    "name": "variant_id",
    "in": "path",
    "required": True,
    "schema": bodies.text_schema(TEXT_LIMITS["id"], min_chars=1),
}
_FORMAT: Mapping[str, Any] = {
    "name": "format",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": list(REPORT_FORMATS), "default": DEFAULT_REPORT_FORMAT},
}
_REPORT_CONTENT = {
    media_type: {"schema": {"type": "object"} if fmt == "json" else {"type": "string"}}
    for fmt, media_type in REPORT_MEDIA_TYPES.items()
}
_BY_ID = ("400", "401", "403", "404", "429", "503")
_STATUS_CHANGE = ("400", "401", "403", "404", "409", "429", "503")
_STATUS_ACTIONS = {
    "start": "Start (or resume) serving and learning; a live experiment stays live",
    "pause": "Pause: serve the control, make no new assignments; a paused experiment stays paused",
}


def _status_operation(action: Action, handler: Handler) -> Operation:
    return Operation(
        "POST",
        f"/v1/experiments/{{experiment_id}}/{action}",
        f"{action}Experiment",
        _STATUS_ACTIONS[action],
        handler,
        {"200": {"description": "the new status", "content": bodies.json_content(bodies.STATUS_SCHEMA)}},
        _STATUS_CHANGE,
        parameters=(_EXPERIMENT_ID,),
    )


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST",
        "/v1/experiments",
        "createExperiment",
        "Create a draft experiment from a definition (as `copyloom experiment create`)",
        ManagementApi.create_experiment,
        {"201": {"description": "the new draft's id", "content": bodies.json_content(bodies.CREATED_SCHEMA)}},
        ("400", "401", "403", "413", "429", "503"),
        request_body={
            "required": True,
            "content": bodies.json_content(bodies.DEFINITION_SCHEMA, bodies.DEFINITION_EXAMPLE),
        },
    ),
    Operation(
        "GET",
        "/v1/experiments",
        "listExperiments",
        "The tenant's experiments, oldest first (as `copyloom experiment list`)",
        ManagementApi.list_experiments,
        {"200": {"description": "the experiments", "content": bodies.json_content(bodies.LIST_SCHEMA)}},
        ("401", "403", "429", "503"),
    ),
    Operation(
        "GET",
        "/v1/experiments/{experiment_id}",
        "getExperiment",
        "Status, winner and per-variant figures (as `copyloom experiment show --json`)",
        ManagementApi.show_experiment,
        {"200": {"description": "the experiment", "content": bodies.json_content(bodies.SHOW_SCHEMA)}},
        _BY_ID,
        parameters=(_EXPERIMENT_ID,),
    ),
    _status_operation("start", ManagementApi.start),
    _status_operation("pause", ManagementApi.pause),
    Operation(
        "POST",
        "/v1/experiments/{experiment_id}/finish",
        "finishExperiment",
        "Finish: serve one variant to every recipient from now on (as `copyloom experiment finish`)",
        ManagementApi.finish,
        {"200": {"description": "the new status", "content": bodies.json_content(bodies.STATUS_SCHEMA)}},
        ("400", "401", "403", "404", "409", "413", "429", "503"),
        parameters=(_EXPERIMENT_ID,),
        request_body={
            "required": False,
            "content": bodies.json_content(bodies.FINISH_SCHEMA, {"serve": "control"}),
        },
        description="Without a body, the learner's declared winner; when none was declared, 409 lists "
        "the choices with the leader's P(best) and rate.",
    ),
    Operation(
        "POST",
        "/v1/experiments/{experiment_id}/variants",
        "addVariant",
        "Add a wording to a running experiment (as `copyloom experiment add-variant`)",
        ManagementApi.add_variant,
        {"201": {"description": "the variants now", "content": bodies.json_content(bodies.VARIANTS_SCHEMA)}},
        ("400", "401", "403", "404", "409", "413", "429", "503"),
        parameters=(_EXPERIMENT_ID,),
        request_body={
            "required": True,
            "content": bodies.json_content(bodies.VARIANT_SCHEMA, bodies.VARIANT_EXAMPLE),
        },
    ),
    Operation(
        "DELETE",
        "/v1/experiments/{experiment_id}/variants/{variant_id}",
        "retireVariant",
        "Retire a wording: no new recipient gets it (as `copyloom experiment retire-variant`)",
        ManagementApi.retire_variant,
        {"200": {"description": "the variants now", "content": bodies.json_content(bodies.VARIANTS_SCHEMA)}},
        _STATUS_CHANGE,
        parameters=(_EXPERIMENT_ID, _VARIANT_ID),
    ),
    Operation(
        "GET",
        "/v1/experiments/{experiment_id}/report",
        "getExperimentReport",
        "The report (as `copyloom report`): JSON by default, or CSV or Markdown",
        ManagementApi.report,
        {"200": {"description": "the report in the format asked", "content": _REPORT_CONTENT}},
        _BY_ID,
        parameters=(_EXPERIMENT_ID, _FORMAT),
    ),
    Operation(
        "GET",
        "/v1/experiments/{experiment_id}/decisions",
        "getExperimentDecisions",
        "One row per assignment with its segment and propensity (as `copyloom export decisions`): CSV by "
        "default, or Parquet",
        ManagementApi.decisions,
        {
            "200": {
                "description": "the decisions in the format asked (docs/export.md)",
                "content": {
                    media: {"schema": {"type": "string"}} for media in DECISIONS_MEDIA_TYPES.values()
                },
            }
        },
        _BY_ID,
        parameters=(
            _EXPERIMENT_ID,
            {
                "name": "format",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": list(DECISION_FORMATS), "default": "csv"},
            },
        ),
    ),
)
