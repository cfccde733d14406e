"""ASGI middleware: repeated identical `POST /backward` bodies answered from a bounded cache.

A class posts the same example many times, and an answer depends on the request's bytes and
the server's settings (fast mode's random direction comes from `check.seed`), so an answer
given once with status 200 can be given again without computing it. Only what the check does
by the clock may differ from one computation to the next (a look element by element cut short
by the time left, said in the answer): the
answer kept is the first one given.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-gradlab-cache"
ENTRY_OVERHEAD = 512  # bytes: the key, the entry and their Python objects, roughly


@dataclass(frozen=True)
class Answer:
    """A 200 answer as the app sent it, and the bytes it counts against the cache's budget."""

    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(k) + len(v) for k, v in self.headers) + ENTRY_OVERHEAD


class LRUCache:
    """Answers by key, at most `budget` bytes of them; the least recently used go first.
    An answer over a quarter of the budget is never kept: it would push out most of the others."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.largest = budget // 4
        self.used = 0
        self._answers: OrderedDict[bytes, Answer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, key: bytes) -> Answer | None:
        answer = self._answers.get(key)
        if answer is not None:
            self._answers.move_to_end(key)
        return answer

    def put(self, key: bytes, answer: Answer) -> bool:
        """Keep `answer`, evicting the least recently used as needed; False if it is too large."""
        size = answer.size
        if size > self.largest:
            return False
        previous = self._answers.pop(key, None)
        if previous is not None:
            self.used -= previous.size
        while self.used + size > self.budget:
            _, evicted = self._answers.popitem(last=False)
            self.used -= evicted.size
        self._answers[key] = answer
        self.used += size
        return True


def request_key(scope: Scope, body: bytes) -> bytes:
    """A digest of everything in a request the answer can depend on: body, content type, query."""
    digest = hashlib.blake2b(digest_size=32)
    content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
    for part in (content_type, scope.get("query_string", b""), body):
        digest.update(len(part).to_bytes(8, "big"))  # lengths first: no two splits of the bytes collide
        digest.update(part)
    return digest.digest()


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """`messages` first, then whatever the client sends next (a disconnect)."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


class AnswerCache:
    """Reads a `POST /backward` body whole and answers it from the cache when the same bytes were
    answered 200 before, with `x-gradlab-cache: hit`; otherwise the app answers it (`miss`) and a
    200 that fits is kept. `max_bytes` 0 turns it off (no header). Must sit inside BodySizeLimit,
    so that the body it reads has passed the size limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        # Only the event loop's thread runs this middleware (the route runs in a worker thread but
        # never touches the cache), and get and put have no await inside: no two requests ever
        # interleave in them, so a plain OrderedDict needs no lock.
        self.cache = LRUCache(max_bytes) if max_bytes > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cached = scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/backward"
        if self.cache is None or not cached:
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        if message["type"] != "http.request":  # the client left mid-body: the app sees what it would have
            await self.app(scope, _replay(received, receive), send)
            return
        body = b"".join(m.get("body", b"") for m in received)
        del received  # its chunks: the body is held once while the app runs
        key = request_key(scope, body)
        stored = self.cache.get(key)
        if stored is not None:
            scope.setdefault("state", {})["cache"] = "hit"  # for RequestLog's line
            headers = [*stored.headers, (HEADER, b"hit")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": stored.body})
            return
        replayed = _replay([{"type": "http.request", "body": body}], receive)
        await self._compute(scope, replayed, send, self.cache, key)

    async def _compute(self, scope: Scope, receive: Receive, send: Send, cache: LRUCache, key: bytes) -> None:
        """The app's answer, marked a miss, and kept if it is a complete 200 that fits."""
        status = 0
        headers: tuple[tuple[bytes, bytes], ...] = ()
        parts: list[bytes] | None = []  # None once the answer is too large to keep
        size = 0
        complete = False

        async def keep(message: Message) -> None:
            nonlocal status, headers, parts, size, complete
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = tuple((k, v) for k, v in message.get("headers", []))
                message = {**message, "headers": [*headers, (HEADER, b"miss")]}
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                size += len(chunk)
                if parts is not None and size <= cache.largest:
                    parts.append(chunk)
                else:
                    parts = None
                complete = not message.get("more_body", False)
            await send(message)

        await self.app(scope, receive, keep)
        if status == 200 and complete and parts is not None:
            cache.put(key, Answer(headers, b"".join(parts)))
