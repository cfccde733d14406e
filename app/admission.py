"""How many requests one worker computes at once. The others wait for a place on the event
loop, holding no thread, and are answered 503 if none frees within the time limit; a request
whose client has gone by the time it gets one is dropped. Memory and time then grow with the
places, not with the requests sent: 40 large requests at once took one worker past 2.5 GB,
and each ran out of its wall-clock time sharing two cores with the others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import HTTPException

RETRY_AFTER_SECONDS = 5

_places: dict[int, asyncio.Semaphore] = {}  # one per setting's value: one in practice


@asynccontextmanager
async def place(places: int, wait_seconds: float) -> AsyncIterator[None]:
    """A place to compute in, within `wait_seconds`; else 503."""
    semaphore = _places.setdefault(places, asyncio.Semaphore(places))
    try:
        await asyncio.wait_for(semaphore.acquire(), wait_seconds)
    except TimeoutError:
        msg = (
            f"the server is busy: each of its workers computes {places} request(s) at once (setting "
            f"GRADLAB_MAX_CONCURRENT_REQUESTS), and no place freed within {wait_seconds:g} s; try again shortly"
        )
        detail = [{"loc": [], "msg": msg, "type": "busy"}]  # nothing in the request is at fault
        raise HTTPException(503, detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from None
    try:
        yield
    finally:
        semaphore.release()
