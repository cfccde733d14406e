"""Every error answer in FastAPI's shape: {"detail": [{"loc": [...], "msg": "...", "type": "..."}]}."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from engine.errors import SpecError


def detail(status: int, loc: list[str | int], msg: str, kind: str) -> JSONResponse:
    return JSONResponse({"detail": [{"loc": loc, "msg": msg, "type": kind}]}, status_code=status)


async def spec_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, SpecError)
    return detail(error.status, list(error.loc), error.msg, error.kind)


async def http_error(request: Request, error: Exception) -> JSONResponse:
    # FastAPI's own HTTP errors (404, 405, a body it could not parse) carry a string detail.
    assert isinstance(error, HTTPException)
    if isinstance(error.detail, list):
        return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=error.headers)
    loc: list[str | int] = ["body"] if error.status_code == 400 else ["path"]
    response = detail(error.status_code, loc, str(error.detail), "http_error")
    if error.headers:
        response.headers.update(error.headers)
    return response


async def too_deep(request: Request, error: Exception) -> JSONResponse:
    # json.loads gives up on deeply nested arrays with a RecursionError.
    return detail(422, ["body"], "the JSON body nests too deeply to parse", "json_invalid")


def install(app: FastAPI) -> None:
    app.add_exception_handler(SpecError, spec_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RecursionError, too_deep)
