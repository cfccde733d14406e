"""A worker computes GRADLAB_MAX_CONCURRENT_REQUESTS requests at once: the others wait for a
place within their time limit, which counts the wait, or get 503; one whose client has gone is
dropped; /healthz is answered all the while. Against a real server with one place and a 2 s
time limit, and the place itself."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import HTTPException
from support import Server, serve
from test_server import matmul_chain, wait_for_lines

from app.admission import place
from app.examples import EXAMPLES

TIME_LIMIT = 2.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = {
        "GRADLAB_MAX_CONCURRENT_REQUESTS": "1",
        "GRADLAB_TIME_LIMIT_SECONDS": str(TIME_LIMIT),
        "GRADLAB_MAX_ANSWER_ELEMENTS": "100000000",
        "GRADLAB_ANSWER_CACHE_BYTES": "0",
    }
    with serve(tmp_path_factory.mktemp("admission"), **settings) as running_server:
        yield running_server


def post_in_background(url: str, body: dict[str, Any], into: list[httpx.Response]) -> threading.Thread:
    thread = threading.Thread(target=lambda: into.append(httpx.post(f"{url}/backward", json=body, timeout=60)))
    thread.start()
    return thread


def test_requests_wait_for_the_one_place_within_their_time_limit(server: Server) -> None:
    # Two requests that each run into the time limit take the one place in turn. The second
    # waited for it, and its limit counts the wait (no request runs past the limit, waiting
    # included): it runs out of time through no fault of its own, and gets 503, to be sent
    # again. A light one behind them waits within its own limit. /healthz is answered all the
    # while, on the event loop.
    heavy: list[httpx.Response] = []
    threads = [post_in_background(server.url, matmul_chain(), heavy)]
    time.sleep(0.3)
    threads.append(post_in_background(server.url, matmul_chain(), heavy))
    time.sleep(0.3)
    start = time.monotonic()
    health = httpx.get(f"{server.url}/healthz", timeout=5)
    assert health.json() == {"status": "ok"} and time.monotonic() - start < 1.0
    light = httpx.post(f"{server.url}/backward", json=EXAMPLES["seed_sum"]["value"], timeout=30)
    waited = time.monotonic() - start
    for thread in threads:
        thread.join(timeout=30)
    assert TIME_LIMIT * 0.5 < waited < TIME_LIMIT + 1.0  # behind both, within its own limit
    assert light.status_code in (200, 503), light.text  # answered, or told to come back
    first, second = heavy
    assert first.status_code == 413 and "GRADLAB_TIME_LIMIT_SECONDS" in first.text
    assert second.status_code == 503 and second.headers["retry-after"] == "5"
    [error] = second.json()["detail"]
    assert error["type"] == "busy" and error["loc"] == []
    assert re.fullmatch(
        r"the server is busy: this request waited \d\.\d s of its time limit of 2 s for a place to compute, "
        r"(and ran out of the rest \(.*GRADLAB_TIME_LIMIT_SECONDS.*\)|which left too little to compute in); "
        r"try again shortly",
        error["msg"],
    )


def test_no_place_within_the_wait_is_a_503_that_says_why() -> None:
    # The one place held, a second request waits 0.2 s for it, then is told the server is busy.
    async def scenario() -> HTTPException:
        async with place(1, 0.2):
            try:
                async with place(1, 0.2):
                    pass
            except HTTPException as busy:
                return busy
        raise AssertionError("a second place was given")

    busy = asyncio.run(scenario())
    assert asyncio.run(scenario()).detail == busy.detail  # each event loop its own places
    assert busy.status_code == 503 and busy.headers == {"Retry-After": "5"}
    assert busy.detail == [
        {
            "loc": [],
            "msg": "the server is busy: each of its workers computes 1 request(s) at once (setting "
            "GRADLAB_MAX_CONCURRENT_REQUESTS), and no place freed within 0.2 s; try again shortly",
            "type": "busy",
        }
    ]


def test_a_request_whose_client_left_while_it_waited_is_not_computed(server: Server) -> None:
    heavy: list[httpx.Response] = []
    thread = post_in_background(server.url, matmul_chain(), heavy)
    time.sleep(0.3)
    before = len(wait_for_lines(server.log, 0, timeout=0))
    with pytest.raises(httpx.ReadTimeout):  # the client gives up, and closes its connection
        httpx.post(f"{server.url}/backward", json=EXAMPLES["mlp"]["value"], timeout=0.5)
    thread.join(timeout=30)
    assert heavy[0].status_code == 413
    lines = wait_for_lines(server.log, before + 2)[before:]
    statuses = sorted(int(m.group("status")) for m in lines if m.group("path") == "/backward")
    assert statuses == [413, 499], [m.group(0) for m in lines]
    gone = next(m for m in lines if m.group("status") == "499")
    assert gone.group("check") is None  # nothing was computed for it
