"""A deadline on request bodies: a client that sends its body too slowly gets 408 and its connection back.

The ASGI servers bound how long a client may take over its headers (`header_read_timeout_s`, given to
the server in `server.py`), not over its body; this middleware bounds the body, for every route, in the
one place where the app receives it. Once the body is complete, later `receive` calls (a response
waiting for the client to disconnect) are passed through untimed.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from copyloom.errors import RequestTimeout


class BodyReadTimeout:
    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        body_complete = False

        async def timed_receive() -> Message:
            nonlocal body_complete
            if body_complete:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(f"body: not received within {self.timeout_s:g} s") from None
            body_complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, timed_receive, send)
