"""Liveness for the container's health check, and the bare address, which leads to the docs."""

from fastapi import APIRouter
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

router = APIRouter(tags=["service"])


class Health(BaseModel):
    status: str = "ok"


@router.head("/healthz", include_in_schema=False)  # as some probes ask: the GET's headers alone
@router.get("/healthz", summary="Liveness probe")
async def healthz() -> Health:
    """Answers `{"status": "ok"}` while the server can serve requests (HEAD: the headers alone, as
    some probes ask). Async: answered on the event loop, not behind requests waiting for a thread."""
    return Health()


@router.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    """A class given the server's address lands on Swagger UI, not on a 404."""
    return RedirectResponse("/docs")
