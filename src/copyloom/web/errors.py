"""The one place where exceptions become HTTP answers: `{"error": {"code": ..., "message": ...}}`."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from copyloom.domain.logsafe import log_safe
from copyloom.errors import (
    Conflict,
    CopyloomError,
    CorruptFile,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    SourceUnavailable,
    StoreUnavailable,
    Unauthorized,
)
from copyloom.web.dashboard_pages import error_page
from copyloom.web.limits import retry_after_header

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[CopyloomError], int] = {
    InvalidInput: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    RequestTimeout: 408,
    PayloadTooLarge: 413,
    CorruptFile: 422,
    RateLimited: 429,
    StoreUnavailable: 503,
    SourceUnavailable: 503,
}
"""Every `CopyloomError` subclass has its status here (tests/test_errors.py fails on one that does not)."""
_CODE_BY_STATUS = {404: "not_found", 405: "method_not_allowed", 400: "invalid_input"}


def error_response(status: int, code: str, message: str, retry_after_s: float = 1.0) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="copyloom"'} if status == 401 else None
    if status == 429:
        headers = {"Retry-After": retry_after_header(retry_after_s)}
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def status_of(exc: CopyloomError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def _wants_page(request: Request) -> bool:
    """Dashboard pages get errors as pages; its JSON endpoint and the API get the JSON shape."""
    path = request.url.path
    return path.startswith("/dashboard") and not path.endswith(".json")


async def on_copyloom_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CopyloomError)
    if _wants_page(request):
        return error_page(status_of(exc), exc.message)
    retry_after_s = exc.retry_after_s if isinstance(exc, RateLimited) else 1.0
    return error_response(status_of(exc), exc.code, exc.message, retry_after_s)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if _wants_page(request):
        return error_page(exc.status_code, str(exc.detail))
    code = _CODE_BY_STATUS.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception(
        "unexpected error on %s %s", log_safe(request.method), log_safe(request.url.path), exc_info=exc
    )
    return error_response(500, "internal_error", "internal error; the details are in the server log")


EXCEPTION_HANDLERS = {
    CopyloomError: on_copyloom_error,
    HTTPException: on_http_exception,
    Exception: on_unexpected,
}
