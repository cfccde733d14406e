"""The service's settings, read once from `GRADLAB_*` environment variables."""

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every limit a request is held to, plus where and how the server runs.

    The defaults fit a class of about 50 students on a 2-core server.
    """

    model_config = SettingsConfigDict(env_prefix="GRADLAB_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address the server listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port the server listens on.")
    workers: int = Field(default=1, ge=1, le=64, description="Uvicorn worker processes.")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        default="info", description="Log level of the server."
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
