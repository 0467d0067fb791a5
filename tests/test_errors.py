"""One error shape, mapped once: every `CopyloomError` subclass, found by walking the hierarchy, answers
with its documented status and `{"error": {"code": ..., "message": ...}}`."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from copyloom.errors import CopyloomError
from copyloom.web.errors import EXCEPTION_HANDLERS, STATUS_BY_ERROR, status_of

ROOT = Path(__file__).resolve().parents[1]


def _subclasses(cls: type[CopyloomError]) -> list[type[CopyloomError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


ERRORS = sorted(set(_subclasses(CopyloomError)), key=lambda cls: cls.__name__)
_BY_NAME = {cls.__name__: cls for cls in ERRORS}


async def _raise(request: Request) -> Response:
    raise _BY_NAME[request.path_params["name"]]("field: what went wrong")


_APP = Starlette(
    routes=[Route("/v1/raise/{name}", _raise), Route("/dashboard/raise/{name}", _raise)],
    exception_handlers=EXCEPTION_HANDLERS,
)


def _get(path: str) -> httpx.Response:
    """A request through the app's exception handling, as a server would send it."""

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=_APP)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path)

    return asyncio.run(get())


def _documented_statuses() -> dict[str, int]:
    """The code -> status rows of the error table in docs/http-api.md."""
    text = (ROOT / "docs" / "http-api.md").read_text()
    return {code: int(status) for status, code in re.findall(r"^\| (\d{3}) \| `([a-z_]+)` \|", text, re.M)}


def test_the_walk_finds_the_errors_the_services_raise() -> None:
    assert {"InvalidInput", "NotFound", "Conflict", "StoreUnavailable"} <= set(_BY_NAME)


def test_every_error_has_its_own_stable_snake_case_code() -> None:
    codes = [cls.code for cls in ERRORS]

    assert len(set(codes)) == len(codes)
    for cls in ERRORS:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", cls.code), cls.__name__
        assert cls.code != CopyloomError.code, f"{cls.__name__} needs a code of its own"


@pytest.mark.parametrize("error", ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_answers_its_documented_status_in_the_one_shape(error: type[CopyloomError]) -> None:
    response = _get(f"/v1/raise/{error.__name__}")

    assert error in STATUS_BY_ERROR, f"map {error.__name__} to a status in web/errors.py"
    assert response.status_code == status_of(error("x")) == _documented_statuses().get(error.code), (
        f"document `{error.code}` in the error table of docs/http-api.md"
    )
    assert response.json() == {"error": {"code": error.code, "message": "field: what went wrong"}}


@pytest.mark.parametrize("error", ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_on_a_dashboard_page_is_a_page_with_the_same_status(error: type[CopyloomError]) -> None:
    response = _get(f"/dashboard/raise/{error.__name__}")

    assert response.status_code == STATUS_BY_ERROR[error]
    assert response.headers["content-type"].startswith("text/html")
    assert "field: what went wrong" in response.text


def test_unauthorized_asks_for_a_bearer_token_and_rate_limited_says_when_to_retry() -> None:
    unauthorized = _get("/v1/raise/Unauthorized")
    limited = _get("/v1/raise/RateLimited")

    assert unauthorized.headers["www-authenticate"] == 'Bearer realm="copyloom"'
    assert limited.headers["retry-after"] == "1"
