"""Every error answer in FastAPI's shape: {"detail": [{"loc": [...], "msg": "...", "type": "..."}]}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from engine.errors import SpecError

log = logging.getLogger("gradlab")


def detail(status: int, loc: list[str | int], msg: str, kind: str) -> JSONResponse:
    return JSONResponse({"detail": [{"loc": loc, "msg": msg, "type": kind}]}, status_code=status)


async def spec_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, SpecError)
    return detail(error.status, list(error.loc), error.msg, error.kind)


async def validation_error(request: Request, error: Exception) -> JSONResponse:
    # FastAPI's default answer echoes each error's `input`: a NaN or Infinity literal there (Python's
    # json accepts them) made the answer fail to encode, a 500; a big body came back whole. Keep the
    # contract's loc, msg and type, and say what the JSON parser found.
    assert isinstance(error, RequestValidationError)
    items = []
    for e in error.errors():
        msg = e["msg"]
        if e["type"] == "json_invalid" and isinstance(e.get("ctx"), dict) and "error" in e["ctx"]:
            where = f" at character {e['loc'][1]}" if len(e["loc"]) > 1 else ""
            msg = f"{msg}: {e['ctx']['error']}{where}"
        items.append({"loc": list(e["loc"]), "msg": msg, "type": e["type"]})
    return JSONResponse({"detail": items}, status_code=422)


async def http_error(request: Request, error: Exception) -> JSONResponse:
    # FastAPI's own HTTP errors (404, 405, a body it could not parse) carry a string detail.
    assert isinstance(error, HTTPException)
    if isinstance(error.detail, list):
        return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=error.headers)
    if error.status_code == 400 and error.__cause__ is not None:
        # FastAPI turns every failure of json.loads but a syntax error into a bare 400 "There was an
        # error parsing the body": deep nesting (RecursionError, so `too_deep` never saw it) or a number
        # of more than 4300 digits. Say which, as the 422 json_invalid of a syntax error does.
        cause = error.__cause__
        if isinstance(cause, RecursionError):
            return await too_deep(request, cause)
        reason = str(cause).split(";")[0]
        return detail(422, ["body"], f"the JSON body could not be parsed: {reason}", "json_invalid")
    loc: list[str | int] = ["body"] if error.status_code == 400 else ["path"]
    response = detail(error.status_code, loc, str(error.detail), "http_error")
    if error.headers:
        response.headers.update(error.headers)
    return response


async def too_deep(request: Request, error: Exception) -> JSONResponse:
    # json.loads gives up on deeply nested arrays with a RecursionError.
    return detail(422, ["body"], "the JSON body nests too deeply to parse", "json_invalid")


async def unexpected(request: Request, error: Exception) -> JSONResponse:
    # Every failure a request can cause is answered above; this is a bug of ours. The client gets
    # the contract's shape without internals, the log gets the traceback.
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return detail(500, ["body"], f"internal error ({type(error).__name__}); please report it", "internal_error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(SpecError, spec_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(RecursionError, too_deep)
    app.add_exception_handler(Exception, unexpected)
