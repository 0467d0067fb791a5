"""The dashboard: per-tenant sign-in, the experiments list, an experiment's page, actions and reports.

Pages are server-rendered (Jinja2 templates and SVG charts from this package); the one script,
`static/dashboard.js`, refreshes a live experiment's figures from `live.json` and copies snippets.
Store calls run on worker threads, as everywhere in the web layer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from copyloom.domain.values import Status
from copyloom.errors import Conflict, InvalidInput, NotFound, RateLimited, Unauthorized
from copyloom.services import dashboard_access, learning, reports, snippets
from copyloom.services import experiments as experiment_service
from copyloom.services.dashboard_access import DashboardSession
from copyloom.services.experiments import ACTIONS, Action, allowed_actions, check_action
from copyloom.services.report_formats import REPORT_FORMATS, ReportFormat, figures_as_dict, render_report
from copyloom.services.serving import ServingRuntime
from copyloom.web import dashboard_pages as pages
from copyloom.web import dashboard_plan as planning
from copyloom.web import dashboard_views as views
from copyloom.web.dashboard_security import (
    PAGE_HEADERS,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    SIGN_IN_COOKIE_TTL_S,
    clear_cookie,
    new_sign_in_token,
    read_form,
    set_cookie,
    tokens_match,
)
from copyloom.web.dashboard_throttle import SignInThrottle
from copyloom.web.limits import retry_after_header

_REPORT_TYPES: dict[ReportFormat, tuple[str, str]] = {
    "md": ("text/markdown; charset=utf-8", "Markdown (.md)"),
    "csv": ("text/csv; charset=utf-8", "CSV (.csv)"),
    "json": ("application/json", "JSON (.json)"),
}
"""Each report format's media type and download label."""
_ACTION_EFFECT: dict[Action, str] = {
    "start": "Serving and learning resume: recipients get variants by the current weights.",
    "pause": "Every recipient gets the control from now on and no new assignments are made.",
    "finish": "Every recipient gets the wording chosen below from now on; its opens and clicks keep "
    "counting. This cannot be undone.",
}
STATIC_DIR = Path(__file__).parent / "static"
LIVE_REFRESH_S = 5


@dataclass(frozen=True, slots=True)
class Dashboard:
    """The dashboard's endpoints. `clock` dates sessions (wall time, even when the runtime's clock is
    simulated, as in the demo); status changes take the runtime's clock like everything they touch."""

    runtime: ServingRuntime
    public_base_url: str
    session_ttl_s: float
    throttle: SignInThrottle
    clock: Callable[[], float] = time.time
    planner: planning.PlanRunner = field(default_factory=planning.PlanRunner)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.home, methods=["GET"]),
            Route("/dashboard", self.experiments, methods=["GET"]),
            Route("/dashboard/", self.experiments, methods=["GET"]),
            Route("/dashboard/sign-in", self.sign_in_form, methods=["GET"]),
            Route("/dashboard/sign-in", self.sign_in, methods=["POST"]),
            Route("/dashboard/sign-out", self.sign_out, methods=["POST"]),
            Route("/dashboard/experiments/{experiment_id}", self.experiment, methods=["GET"]),
            Route("/dashboard/experiments/{experiment_id}/live.json", self.live, methods=["GET"]),
            Route("/dashboard/experiments/{experiment_id}/report.{fmt}", self.report, methods=["GET"]),
            Route("/dashboard/experiments/{experiment_id}/plan", self.plan, methods=["POST"]),
            Route("/dashboard/experiments/{experiment_id}/{action}", self.confirm, methods=["GET"]),
            Route("/dashboard/experiments/{experiment_id}/{action}", self.change_status, methods=["POST"]),
            Mount("/dashboard/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static"),
        ]

    async def home(self, _request: Request) -> Response:
        """GET /: the dashboard, whose list page sends a visitor without a session to sign in."""
        return RedirectResponse("/dashboard/", status_code=307, headers=dict(PAGE_HEADERS))

    async def sign_in_form(self, request: Request) -> Response:
        """GET /dashboard/sign-in: the form, with a fresh double-submit CSRF token."""
        return self._sign_in_page(request.query_params.get("tenant", ""), None, 200)

    async def sign_in(self, request: Request) -> Response:
        """POST /dashboard/sign-in: a session cookie for the right tenant name and password."""
        form = await read_form(request)
        if not tokens_match(request.cookies.get(SIGN_IN_COOKIE), form.get("csrf_token")):
            return self._forbidden()
        name = form.get("tenant", "").strip()
        address = request.client.host if request.client else ""
        wait_s = self.throttle.wait_s(name, address)
        if wait_s > 0:
            return self._throttled(name, wait_s)
        try:
            token, _session = await anyio.to_thread.run_sync(
                dashboard_access.sign_in,
                self.runtime.store,
                name,
                form.get("password", ""),
                self.clock(),
                self.session_ttl_s,
            )
        except Unauthorized:
            self.throttle.failed(name, address)
            return self._sign_in_page(name, "Wrong tenant name or password.", 401)
        self.throttle.succeeded(name, address)
        response = RedirectResponse("/dashboard/", status_code=303, headers=dict(PAGE_HEADERS))
        set_cookie(response, SESSION_COOKIE, token, int(self.session_ttl_s))
        clear_cookie(response, SIGN_IN_COOKIE)
        return response

    async def sign_out(self, request: Request) -> Response:
        """POST /dashboard/sign-out: ends the session on the server and clears its cookie."""
        session = await self._session(request)
        if session is None:
            return self._to_sign_in()
        if not await self._csrf_ok(request, session):
            return self._forbidden()
        token = request.cookies.get(SESSION_COOKIE, "")
        await anyio.to_thread.run_sync(dashboard_access.sign_out, self.runtime.store, token)
        response = self._to_sign_in()
        clear_cookie(response, SESSION_COOKIE)
        return response

    async def experiments(self, request: Request) -> Response:
        """GET /dashboard/: the tenant's experiments with their headline figures."""
        session = await self._session(request)
        if session is None:
            return self._to_sign_in()
        summaries = await anyio.to_thread.run_sync(
            reports.experiment_summaries, self.runtime.store, session.tenant_id
        )
        return self._page("experiments.html", session, summaries=summaries)

    async def experiment(self, request: Request) -> Response:
        """GET /dashboard/experiments/{id}: figures, charts, actions, snippet and report downloads."""
        session = await self._session(request)
        if session is None:
            return self._to_sign_in()
        figures = await self._figures(request, session)
        found = snippets.render_snippets(figures.experiment, base_url=self.public_base_url)
        return self._page(
            "experiment.html",
            session,
            **self._figures_context(figures),
            snippets=found,
            snippet_warnings=snippets.base_url_warnings(self.public_base_url),
            actions=self._actions_for(figures.experiment.status),
            report_formats=[(fmt, _REPORT_TYPES[fmt][1]) for fmt in REPORT_FORMATS],
            refresh_s=LIVE_REFRESH_S,
            plan_form=planning.empty_form() if planning.can_plan(figures.experiment) else None,
        )

    async def live(self, request: Request) -> Response:
        """GET /dashboard/experiments/{id}/live.json: the figures, and the figures fragment as HTML."""
        session = await self._session(request)
        if session is None:
            raise Unauthorized("dashboard: sign in first")
        figures = await self._figures(request, session)
        fragment = pages.template("_figures.html").render(**self._figures_context(figures))
        body = {"status": figures.experiment.status, "figures": figures_as_dict(figures), "html": fragment}
        return JSONResponse(body, headers=dict(PAGE_HEADERS))

    async def report(self, request: Request) -> Response:
        """GET /dashboard/experiments/{id}/report.{md|csv|json}: the report as a download."""
        session = await self._session(request)
        if session is None:
            return self._to_sign_in()
        fmt = self._report_format(request)
        figures = await self._figures(request, session)
        text = render_report(figures, fmt)
        filename = f"{figures.experiment.experiment_id}-report.{fmt}"
        headers = {**PAGE_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'}
        return Response(text, media_type=_REPORT_TYPES[fmt][0], headers=headers)

    async def confirm(self, request: Request) -> Response:
        """GET /dashboard/experiments/{id}/{action}: the confirmation step before a status change."""
        session = await self._session(request)
        if session is None:
            return self._to_sign_in()
        action = self._action(request)
        report = await anyio.to_thread.run_sync(
            experiment_service.experiment_report,
            self.runtime.store,
            request.path_params["experiment_id"],
            session.tenant_id,
        )
        check_action(report.experiment.status, action)
        finishing = action == "finish"
        return self._page(
            "confirm.html",
            session,
            experiment=report.experiment,
            action=action,
            label=action.capitalize(),
            effect=_ACTION_EFFECT[action],
            options=experiment_service.finish_options(report) if finishing else (),
            declared=report.declared,
        )

    async def change_status(self, request: Request) -> Response:
        """POST /dashboard/experiments/{id}/{action}: start, pause or finish (CSRF-checked), only as
        `allowed_actions` offers: a repeat of the current status is a conflict here."""
        session = await self._session(request)
        if session is None:
            return self._to_sign_in()
        form = await read_form(request)
        if not tokens_match(session.csrf_token, form.get("csrf_token")):
            return self._forbidden()
        action = self._action(request)
        experiment_id = request.path_params["experiment_id"]
        await anyio.to_thread.run_sync(
            lambda: experiment_service.change_status(
                self.runtime.store,
                experiment_id,
                action,
                self.runtime.clock(),
                serve=form.get("serve") or None,
                tenant_id=session.tenant_id,
                repeat_ok=False,
            )
        )
        return RedirectResponse(
            f"/dashboard/experiments/{experiment_id}", status_code=303, headers=dict(PAGE_HEADERS)
        )

    async def plan(self, request: Request) -> Response:
        """POST /dashboard/experiments/{id}/plan: the send planner for a draft broadcast (CSRF-checked;
        bounded in seeds and time, in a worker process, one plan at a time per API process)."""
        session = await self._session(request)
        if session is None:
            return self._to_sign_in()
        form = await read_form(request)
        if not tokens_match(session.csrf_token, form.get("csrf_token")):
            return self._forbidden()
        experiment = await anyio.to_thread.run_sync(
            experiment_service.get_experiment,
            self.runtime.store,
            request.path_params["experiment_id"],
            session.tenant_id,
        )
        if not planning.can_plan(experiment):
            raise Conflict("plan: only a draft broadcast's send is planned")
        delay = await anyio.to_thread.run_sync(
            learning.delay_model,
            self.runtime.store,
            experiment.tenant_id,
            experiment.definition.metric,
            self.runtime.clock(),
        )
        built = planning.plan_request(form, experiment, delay)
        if isinstance(built, planning.PlanForm):
            return self._page("plan.html", session, status_code=400, experiment=experiment, form=built)
        if not self.planner.try_enter():
            raise RateLimited("plan: another plan is running on this server; try again in a few seconds")
        try:
            started = time.monotonic()
            result = await self.planner.run(built)
            elapsed_s = time.monotonic() - started
        finally:
            self.planner.leave()
        values = {name: form.get(name, "") for name in planning.PLAN_FIELDS}
        return self._page(
            "plan.html",
            session,
            experiment=experiment,
            form=planning.PlanForm(values),
            plan=result,
            rows=planning.plan_rows(result),
            elapsed_s=elapsed_s,
        )

    async def _session(self, request: Request) -> DashboardSession | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        try:
            return await anyio.to_thread.run_sync(
                dashboard_access.session_for, self.runtime.store, token, self.clock()
            )
        except Unauthorized:
            return None

    async def _figures(self, request: Request, session: DashboardSession) -> reports.ExperimentFigures:
        experiment_id = request.path_params["experiment_id"]
        return await anyio.to_thread.run_sync(
            lambda: reports.experiment_figures(
                self.runtime.store,
                experiment_id,
                tenant_id=session.tenant_id,
                now=self.runtime.clock(),
                window_s=self.runtime.attribution_window_s,
            )
        )

    @staticmethod
    async def _csrf_ok(request: Request, session: DashboardSession) -> bool:
        form = await read_form(request)
        return tokens_match(session.csrf_token, form.get("csrf_token"))

    @staticmethod
    def _action(request: Request) -> Action:
        action = request.path_params["action"]
        if action not in ACTIONS:
            raise NotFound(f"dashboard: no page '{action}'")
        return cast(Action, action)

    @staticmethod
    def _report_format(request: Request) -> ReportFormat:
        fmt = request.path_params["fmt"]
        if fmt not in REPORT_FORMATS:
            raise InvalidInput(f"format: expected one of {', '.join(REPORT_FORMATS)}, got {fmt!r}")
        return cast(ReportFormat, fmt)

    @staticmethod
    def _actions_for(status: Status) -> list[tuple[Action, str]]:
        return [(a, a.capitalize()) for a in allowed_actions(status)]

    @staticmethod
    def _figures_context(figures: reports.ExperimentFigures) -> dict[str, Any]:
        return {
            "figures": figures,
            "experiment": figures.experiment,
            "charts": views.experiment_charts(figures),
            "placements": figures.experiment.definition.placements,
            "decision": views.decision_parts(figures),
            "leader_note": views.leader_note(figures),
            "uplift_warning": views.uplift_warning(figures),
            "max_segment_rows": views.MAX_SEGMENT_ROWS,
        }

    def _page(
        self, template: str, session: DashboardSession, *, status_code: int = 200, **context: Any
    ) -> Response:
        html = pages.template(template).render(session=session, **context)
        return HTMLResponse(html, status_code=status_code, headers=dict(PAGE_HEADERS))

    def _sign_in_page(self, tenant: str, error: str | None, status: int) -> Response:
        csrf = new_sign_in_token()
        html = pages.template("sign_in.html").render(
            session=None, tenant=tenant, error=error, csrf_token=csrf
        )
        response = HTMLResponse(html, status_code=status, headers=dict(PAGE_HEADERS))
        set_cookie(response, SIGN_IN_COOKIE, csrf, SIGN_IN_COOKIE_TTL_S)
        return response

    def _throttled(self, name: str, wait_s: float) -> Response:
        retry_after = retry_after_header(wait_s)
        message = f"Too many failed sign-ins from this address. Try again in {retry_after} s."
        response = self._sign_in_page(name, message, 429)
        response.headers["Retry-After"] = retry_after
        return response

    @staticmethod
    def _forbidden() -> Response:
        return pages.error_page(
            403,
            "The form's security token is missing or out of date. Go back, reload the page and try again.",
        )

    @staticmethod
    def _to_sign_in() -> Response:
        return RedirectResponse("/dashboard/sign-in", status_code=303, headers=dict(PAGE_HEADERS))
