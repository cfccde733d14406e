"""Assembles the FastAPI application: routers, middleware, error handlers, offline docs."""

import logging
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from app import errors
from app.answer_cache import AnswerCache
from app.middleware import BodySizeLimit, RequestLog
from app.routes import backward, catalog, health
from app.settings import get_settings

DESCRIPTION = """
Send a graph (leaf tensors, nodes written as small Python expressions, custom functions with
hand-written backward formulas) and get back every tensor's value and gradient, with
PyTorch's semantics and names, plus a float64 finite-difference check of every gradient.

Start from an example: `GET /examples`, or the examples list of `POST /backward` below.
"""


def create_app() -> FastAPI:
    settings = get_settings()
    log = logging.getLogger("gradlab")
    log.setLevel(settings.log_level.upper())
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s gradlab: %(message)s"))
        log.addHandler(handler)
    # Swagger UI's scripts are served by the app itself: a classroom network may have no internet.
    application = FastAPIOffline(
        title="gradlab",
        summary="Check your backpropagation: values, gradients and a finite-difference check.",
        description=DESCRIPTION,
        version="0.1.0",
        # Swagger UI's highlighter takes a minute over the MLP example's 3.4 MB answer, then fails
        # (its call stack overflows): plain text shows it at once.
        swagger_ui_parameters={"syntaxHighlight": False},
    )
    application.include_router(backward.router)
    application.include_router(catalog.router)
    application.include_router(health.router)
    errors.install(application)
    # The last added is the outermost: RequestLog sees every answer, and BodySizeLimit refuses an
    # oversized body before AnswerCache reads one whole.
    application.add_middleware(AnswerCache, max_bytes=settings.answer_cache_bytes)
    application.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    application.add_middleware(RequestLog)
    _with_a_real_answer(application)
    return application


def _with_a_real_answer(application: FastAPI) -> None:
    """The 200 of POST /backward shows a real answer in /docs. Put into the schema once it is made:
    FastAPI's own examples drop every null (grad_fn of a leaf, a passed check's message)."""
    make = application.openapi

    def openapi() -> dict[str, Any]:
        if application.openapi_schema is None:
            answer = make()["paths"]["/backward"]["post"]["responses"]["200"]
            answer.setdefault("content", {}).setdefault("application/json", {})["example"] = backward.example_answer()
        assert application.openapi_schema is not None
        return application.openapi_schema

    application.openapi = openapi  # type: ignore[method-assign]


app = create_app()
