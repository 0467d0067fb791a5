"""The dashboard's browser-facing safety: cookies, CSRF tokens, form bodies and security headers.

The session token lives in an HTTP-only, `Secure`, `SameSite=Lax` cookie scoped to `/dashboard`.
Browsers accept `Secure` cookies from `http://127.0.0.1` and `http://localhost` (potentially
trustworthy origins), so a local dashboard works without TLS while a remote one needs HTTPS.
Every form carries a CSRF token: the session's own once signed in, and a double-submit cookie on the
sign-in form (so that no other site can sign a browser into an account of its choosing).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from copyloom.domain.text import field_text
from copyloom.web.dashboard_plan import PLAN_FIELDS
from copyloom.web.requests import read_body

SESSION_COOKIE = "copyloom_session"
SIGN_IN_COOKIE = "copyloom_sign_in"
COOKIE_PATH = "/dashboard"
MAX_FORM_BYTES = 16_384
SIGN_IN_COOKIE_TTL_S = 3600

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def set_cookie(response: Response, name: str, value: str, max_age_s: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age_s,
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="lax",
    )


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path=COOKIE_PATH, secure=True, httponly=True, samesite="lax")


def new_sign_in_token() -> str:
    return secrets.token_urlsafe(24)


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; a missing or empty token never matches."""
    if not expected or not given:
        return False
    return secrets.compare_digest(expected.encode(), given.encode())


FORM_FIELDS = ("tenant", "password", "csrf_token", "serve", *PLAN_FIELDS)
"""Every field of the dashboard's forms."""


async def read_form(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body (the only kind the dashboard's forms send): its fields
    checked by the one rule for text at the edge, any field the forms do not have dropped.

    Raises:
        InvalidInput: a field too long or holding a control character.
    """
    body = await read_body(request, MAX_FORM_BYTES)
    fields = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: field_text(name, name, value) for name, value in fields if name in FORM_FIELDS}
