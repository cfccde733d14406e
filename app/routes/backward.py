"""POST /backward: build the graph, backpropagate, check every gradient."""

from __future__ import annotations

import copy
import json
import time
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import Response

from app.admission import busy, place
from app.answer import answer_json, ensure_fits
from app.examples import EXAMPLES
from app.json_body import StrictJSONRoute
from app.schemas import BackwardRequest, BackwardResponse, ErrorResponse
from app.settings import Settings, get_settings
from engine.check import run_check
from engine.errors import OutOfTime
from engine.limits import Guard
from engine.spec import compile_spec

router = APIRouter(tags=["autograd"], route_class=StrictJSONRoute)
CLIENT_GONE = 499  # nginx's code for a request whose client closed the connection, for the log
BUSY_WAIT = 0.1  # of the time limit: a request that waited longer and ran out of time gets 503, not 413


async def settings() -> Settings:
    """The settings (read once: get_settings caches them). Async, so that FastAPI calls it on the
    event loop: a sync dependency costs a trip through the thread pool, about 0.1 ms a request."""
    return get_settings()


SettingsDep = Annotated[Settings, Depends(settings)]


def example_answer() -> Any:
    """The answer to the seed_sum example, computed here: the 200's example in /docs is a real
    answer, not Swagger UI's filler built from the schema (app.main puts it there, nulls and all)."""
    program = compile_spec(copy.deepcopy(EXAMPLES["seed_sum"]["value"]), get_settings().limits())
    result = program.run()
    return json.loads(answer_json(result, run_check(program, None, answer=result), lambda: None))


@router.post(
    "/backward",
    response_model=BackwardResponse,
    summary="Values, gradients and a finite-difference check of a graph",
    responses={
        200: {
            "headers": {
                "x-gradlab-cache": {
                    "description": "hit: the answer to the same body, given before and kept; miss: computed now. "
                    "Absent when the cache is off (GRADLAB_ANSWER_CACHE_BYTES=0).",
                    "schema": {"type": "string", "enum": ["hit", "miss"]},
                }
            }
        },
        413: {"model": ErrorResponse, "description": "Over a configured limit; the message names the setting."},
        422: {"model": ErrorResponse, "description": "Invalid spec; loc points into the request."},
        503: {
            "model": ErrorResponse,
            "description": "Busy: no place to compute freed within the time limit (setting "
            "GRADLAB_MAX_CONCURRENT_REQUESTS); try again after Retry-After seconds.",
            "headers": {
                "Retry-After": {
                    "description": "Seconds to wait before sending the request again.",
                    "schema": {"type": "integer"},
                }
            },
        },
    },
)
async def backward(
    request: Request,
    body: Annotated[BackwardRequest, Body(openapi_examples=EXAMPLES)],
    settings: SettingsDep,
) -> Any:
    """Evaluates the nodes in order, runs backward from each root, and answers every tensor's
    value and gradient with PyTorch's semantics (grad_fn names, None where .grad is None),
    with a float64 finite-difference check of each reported gradient and of each custom
    function's hand-written backward. Each worker computes GRADLAB_MAX_CONCURRENT_REQUESTS
    requests at once; the others wait, within the time limit, which counts the wait: one that
    gets no place, or runs out of time after waiting, gets 503 and may be sent again."""
    # The time limit runs from when the body was read (validating it, and waiting for a place,
    # take from it), so that no request runs past it; the upload waits on the client's network,
    # not on the server: a body sent slowly over a classroom's Wi-Fi got 503 "busy" on an idle server.
    started = getattr(request.state, "body_read", None) or getattr(request.state, "arrived", None)
    deadline = (started or time.monotonic()) + settings.time_limit_seconds
    asked = time.monotonic()
    async with place(settings.max_concurrent_requests, max(deadline - asked, 0.001)):
        if await request.is_disconnected():
            return Response(status_code=CLIENT_GONE)  # no one to answer: nothing computed
        waited = time.monotonic() - asked  # for a place, not for the body
        if deadline - time.monotonic() < BUSY_WAIT * settings.time_limit_seconds:
            raise busy(
                f"this request waited {waited:.1f} s of its time limit of {settings.time_limit_seconds:g} s for a "
                "place to compute, which left too little to compute in"
            )
        try:
            return await anyio.to_thread.run_sync(_answer, request, body, settings, deadline)
        except OutOfTime as error:
            if waited < BUSY_WAIT * settings.time_limit_seconds:
                raise  # the request's own: it had (nearly) all of its time
            # The wait took the time: the server's doing, and the request may do on a retry.
            raise busy(
                f"this request waited {waited:.1f} s of its time limit of {settings.time_limit_seconds:g} s for a "
                f"place to compute, and ran out of the rest ({error.msg})"
            ) from None


def _answer(request: Request, body: BackwardRequest, settings: Settings, deadline: float) -> Response:
    spec = body.model_dump()
    limits = settings.limits()
    request.state.nodes = len(body.nodes)
    program = compile_spec(spec, limits)
    request.state.elements = sum(leaf.array.size for leaf in program.leaves)
    result = program.run(deadline)
    ensure_fits(result, None, settings.max_answer_elements)
    report = run_check(program, spec["check"], deadline, answer=result)
    ensure_fits(result, report, settings.max_answer_elements)
    request.state.check = report.mode
    # Written within the same deadline: a small body can ask for an answer of hundreds of megabytes.
    return Response(answer_json(result, report, Guard(limits, deadline).check_time), media_type="application/json")
