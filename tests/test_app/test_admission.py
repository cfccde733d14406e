"""A worker computes GRADLAB_MAX_CONCURRENT_REQUESTS requests at once: the others wait for a
place up to the time limit, then get 503; one whose client has gone is dropped; /healthz is
answered all the while. Against a real server with one place and a 2 s time limit."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import Server, serve
from test_server import matmul_chain, wait_for_lines

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


def test_a_request_that_finds_no_place_within_the_time_limit_gets_503(server: Server) -> None:
    # Two requests that each run into the time limit take the one place in turn; a light one
    # behind them waits the time limit, then is told that the server is busy, and why.
    heavy: list[httpx.Response] = []
    threads = [post_in_background(server.url, matmul_chain(), heavy)]
    time.sleep(0.3)
    threads.append(post_in_background(server.url, matmul_chain(), heavy))
    time.sleep(0.3)
    start = time.monotonic()
    health = httpx.get(f"{server.url}/healthz", timeout=5)
    assert health.json() == {"status": "ok"} and time.monotonic() - start < 1.0  # on the event loop
    light = httpx.post(f"{server.url}/backward", json=EXAMPLES["seed_sum"]["value"], timeout=30)
    waited = time.monotonic() - start
    assert light.status_code == 503, light.text
    assert light.headers["retry-after"] == "5"
    [error] = light.json()["detail"]
    assert error["type"] == "busy" and error["loc"] == []
    assert error["msg"] == (
        "the server is busy: each of its workers computes 1 request(s) at once (setting "
        "GRADLAB_MAX_CONCURRENT_REQUESTS), and no place freed within 2 s; try again shortly"
    )
    assert TIME_LIMIT * 0.9 < waited < TIME_LIMIT + 1.5
    for thread in threads:
        thread.join(timeout=30)
    # The first ran into its time limit; the second got the place, or waited it out.
    assert heavy[0].status_code == 413 and "GRADLAB_TIME_LIMIT_SECONDS" in heavy[0].text
    assert heavy[1].status_code in (413, 503)
    # Once the place is free, the light request is computed, and its time limit starts there.
    again = httpx.post(f"{server.url}/backward", json=EXAMPLES["seed_sum"]["value"], timeout=30)
    assert again.status_code == 200 and again.json()["tensors"]["x"]["grad"] == [220.0, 440.0, 660.0]


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
