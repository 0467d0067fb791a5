"""Reading requests at the edge: bearer tokens, size-capped bodies, and request parameters."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

from starlette.requests import Request

from copyloom.domain.text import checked_text, parse_json
from copyloom.errors import InvalidInput, PayloadTooLarge


def bearer_token(request: Request) -> str | None:
    header = raw_header(request, b"authorization")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def raw_header(request: Request, name: bytes) -> str:
    """One header straight from the ASGI scope (servers lower-case header names), "" when absent: on the
    content path, cheaper than building Starlette's `Headers` for one look-up."""
    for key, value in request.scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refusing anything over `max_bytes` before reading it all.

    Raises:
        PayloadTooLarge: declared or actual size over the limit.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"body: {declared} bytes is over the limit of {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"body: over the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def request_params(request: Request, max_bytes: int) -> tuple[Mapping[str, str], Mapping[str, str]]:
    """The query parameters and, for POST, a JSON or form body's (Braze's POST mode sends either): the
    caller overlays the body on the query and checks both, so a value the body overrides is no less
    checked."""
    # As Starlette's `query_params` parses it (the last of repeated names wins), without its multidict.
    query = dict(parse_qsl(request.scope["query_string"].decode("latin-1"), keep_blank_values=True))
    if request.method != "POST":
        return query, {}
    body = await read_body(request, max_bytes)
    if not body.strip():
        return query, {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        return query, dict(parse_qsl(body.decode("utf-8", "replace")))
    decoded = parse_json(body)
    if not isinstance(decoded, dict):
        raise InvalidInput("body: expected a JSON object")
    params: dict[str, str] = {}
    for key, value in decoded.items():
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            params[str(key)] = str(value)
        elif value is not None:
            raise InvalidInput(f"{key}: expected a string")
    return query, params


def text_param(params: Mapping[str, str], name: str, *, max_chars: int, required: bool) -> str:
    """A parameter's text, stripped, under the one rule for text at the edge (`domain/text.py`)."""
    value = checked_text(name, params.get(name, ""), max_chars=max_chars).strip()
    if required and not value:
        raise InvalidInput(f"{name}: required")
    return value
