"""How many requests one worker computes at once. The others wait for a place on the event
loop, holding no thread, and are answered 503 if none frees within the time limit; a request
whose client has gone by the time it gets one is dropped. Memory and time then grow with the
places, not with the requests sent: 10 large requests at once took one worker past 2.5 GB,
and each ran out of its wall-clock time sharing two cores with the others."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import HTTPException

RETRY_AFTER_SECONDS = 5

# Per event loop (a semaphore belongs to the loop it first waits in), per setting's value: one
# of each in a worker.
_places: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def place(places: int, wait_seconds: float) -> AsyncIterator[None]:
    """A place to compute in, within `wait_seconds`; else 503. Places are given in the order
    asked, so a request behind others that each keep to the time limit, which counts their
    waits, gets one within its own: a 503 comes where those ahead overran it (an op the clock
    cannot stop halfway)."""
    semaphores = _places.setdefault(asyncio.get_running_loop(), {})
    semaphore = semaphores.setdefault(places, asyncio.Semaphore(places))
    try:
        await asyncio.wait_for(semaphore.acquire(), wait_seconds)
    except TimeoutError:
        raise busy(
            f"each of its workers computes {places} request(s) at once (setting GRADLAB_MAX_CONCURRENT_REQUESTS), "
            f"and no place freed within {wait_seconds:.1f} s"
        ) from None
    try:
        yield
    finally:
        semaphore.release()


def busy(why: str) -> HTTPException:
    """503: the server is busy, nothing in the request is at fault, and it may be sent again."""
    detail = [{"loc": [], "msg": f"the server is busy: {why}; try again shortly", "type": "busy"}]
    return HTTPException(503, detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
