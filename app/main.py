"""Assembles the FastAPI application from its routers."""

from fastapi import FastAPI

from app.routes import health


def create_app() -> FastAPI:
    application = FastAPI(
        title="gradlab",
        summary="Check your backpropagation: values, gradients and a finite-difference check.",
        version="0.1.0",
    )
    application.include_router(health.router)
    return application


app = create_app()
