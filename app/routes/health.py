"""Liveness for the container's health check."""

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(tags=["service"])


class Health(BaseModel):
    status: str = "ok"


@router.get("/healthz", summary="Liveness probe")
def healthz() -> Health:
    """Answers `{"status": "ok"}` while the server can serve requests."""
    return Health()
