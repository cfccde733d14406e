"""ASGI middleware: a limit on the request body, read before it is read whole; a log line a request."""

from __future__ import annotations

import json
import logging
import time

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("gradlab")


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    """Answers 413 as soon as a body is known to exceed `max_bytes`: from Content-Length, or
    while it streams in, so that no oversized body is ever held in memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _TooLarge
                if not message.get("more_body", False):  # the time limit counts from here (app.routes.backward)
                    scope.setdefault("state", {})["body_read"] = time.monotonic()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:  # the app answered its own error for the cut body: ours replaces it
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._refuse(send)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "detail": [
                    {
                        "loc": ["body"],
                        "msg": f"the request body is larger than {self.max_bytes:,} bytes "
                        "(setting GRADLAB_MAX_BODY_BYTES)",
                        "type": "limit_exceeded",
                    }
                ]
            }
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class RequestLog:
    """One line per request: method, path, status, nodes, elements, check mode (or cache=hit for
    an answer from app.answer_cache), milliseconds. Never values: what students send stays theirs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        # When the request arrived, before its body was read: its time limit counts from here
        # if BodySizeLimit did not see the body's end (app.routes.backward).
        scope.setdefault("state", {})["arrived"] = time.monotonic()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            state = scope.get("state", {})
            extra = " ".join(f"{k}={state[k]}" for k in ("nodes", "elements", "check", "cache") if k in state)
            ms = (time.perf_counter() - start) * 1000
            log.info("%s %s %d %s%.1fms", scope["method"], scope["path"], status, extra + " " if extra else "", ms)
