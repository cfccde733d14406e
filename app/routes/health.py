"""Liveness for the container's health check."""

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(tags=["service"])


class Health(BaseModel):
    status: str = "ok"


@router.api_route("/healthz", methods=["GET", "HEAD"], summary="Liveness probe")
async def healthz() -> Health:
    """Answers `{"status": "ok"}` while the server can serve requests (HEAD: the headers alone, as
    some probes ask). Async: answered on the event loop, not behind requests waiting for a thread."""
    return Health()
