"""JSON bodies read as FastAPI reads them, but an object that gives a key twice is refused, and
so is a list or object with more items than the limits allow, before pydantic validates them.

Python's json keeps the last value of a repeated key and drops the others without a word: a
leaf written twice, or a node with two `expr`, would run as if the first were never written.
And pydantic validates every item of a list, building an error for each bad one, on the event
loop: a body of a million bad nodes held a worker for 13 s before its 422.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

from app.settings import get_settings
from engine.counts import check_counts
from engine.errors import LimitExceeded

MOST_REPEATED = 100  # items listed, as for validation errors (app.errors.MOST_ERRORS)


class _Repeated(dict[str, Any]):
    """An object of the body that gave the keys `repeated` more than once: marked, to be found
    by its place once the whole body is read."""

    repeated: list[str]


def parse(body: bytes) -> Any:
    """`json.loads(body)`, or HTTPException 422 with an item for each key an object repeats."""
    repeating = 0  # objects that repeat a key; past MOST_REPEATED, counted, not marked

    def to_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeating
        made = dict(pairs)
        if len(made) == len(pairs):
            return made
        repeating += 1
        if repeating > MOST_REPEATED:
            return made
        marked = _Repeated(made)
        marked.repeated = [key for key, n in Counter(key for key, _ in pairs).items() if n > 1]
        return marked

    value = json.loads(body, object_pairs_hook=to_object)
    if repeating:
        raise HTTPException(422, detail=_repeated_keys(value, more=repeating > MOST_REPEATED))
    return value


def _repeated_keys(value: Any, more: bool) -> list[dict[str, Any]]:
    """FastAPI's error items, one for each repeated key, in the order of the body: the first
    hundred, then one that says more were left out."""
    items: list[dict[str, Any]] = []
    stack: list[tuple[Any, list[str | int]]] = [(value, ["body"])]
    while stack and len(items) <= MOST_REPEATED:
        value, loc = stack.pop()
        if isinstance(value, _Repeated):
            items.extend(
                {
                    "loc": [*loc, key],
                    "msg": f"the key {key!r} is given more than once in this object; JSON keeps only the last "
                    "value, so the others would be lost without a word: give it once",
                    "type": "duplicate_key",
                }
                for key in value.repeated
            )
        if isinstance(value, dict):
            stack.extend((item, [*loc, key]) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            inner = [(item, [*loc, i]) for i, item in enumerate(value) if isinstance(item, dict | list)]
            stack.extend(reversed(inner))
    if more or len(items) > MOST_REPEATED:
        del items[MOST_REPEATED:]
        items.append({"loc": ["body"], "msg": "and more repeated keys, not listed", "type": "too_many_errors"})
    return items


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            value = parse(await self.body())
            try:
                check_counts(value, get_settings().limits())
            except LimitExceeded as error:  # FastAPI answers 400 to anything but an HTTPException here
                raise HTTPException(
                    413, detail=[{"loc": list(error.loc), "msg": error.msg, "type": error.kind}]
                ) from None
            self._json = value
        return self._json


class StrictJSONRoute(APIRoute):
    """A route whose JSON body may not repeat a key within an object (FastAPI's pattern for a
    custom Request class)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handle(StrictJSONRequest(request.scope, request.receive))

        return strict
