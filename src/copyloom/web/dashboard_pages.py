"""The dashboard's templates (Jinja2, shipped in this package) and its HTML error page."""

from __future__ import annotations

import functools
from http import HTTPStatus

from jinja2 import Environment, PackageLoader, Template, select_autoescape
from starlette.responses import HTMLResponse

from copyloom.web import dashboard_views as views
from copyloom.web.dashboard_security import PAGE_HEADERS


@functools.cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("copyloom.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        percent=views.percent, interval=views.interval, when=views.when, missing_summary=views.missing_summary
    )
    return env


def template(name: str) -> Template:
    return _environment().get_template(name)


def error_page(status: int, message: str) -> HTMLResponse:
    """An error as a page (status, reason and message), with the dashboard's security headers."""
    html = template("error.html").render(
        session=None, status=status, title=HTTPStatus(status).phrase, message=message
    )
    return HTMLResponse(html, status_code=status, headers=dict(PAGE_HEADERS))
