"""The answer cache (app.answer_cache): its byte accounting on its own, then real servers
answering repeated bodies from it.

The truth for an answer is the engine run in this process and written by app.answer; the
truth for what the cache holds is the order of the requests, worked out by hand.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import Server, serve

from app.answer import answer_json
from app.answer_cache import ENTRY_OVERHEAD, Answer, LRUCache
from app.examples import EXAMPLES
from engine.check import run_check
from engine.errors import SpecError
from engine.limits import Limits
from engine.spec import compile_spec

JSON = {"content-type": "application/json"}
CACHE = "x-gradlab-cache"

# --- the cache on its own ----------------------------------------------------------------


def kept(size: int) -> Answer:
    """An answer that counts `size` bytes against the budget."""
    headers = ((b"content-type", b"application/json"),)
    body_size = size - ENTRY_OVERHEAD - len(b"content-type") - len(b"application/json")
    answer = Answer(headers, b"x" * body_size)
    assert answer.size == size
    return answer


def test_a_kept_answer_is_found_and_its_bytes_counted() -> None:
    cache = LRUCache(10_000)
    assert cache.get(b"a") is None
    assert cache.put(b"a", kept(1_000)) and cache.put(b"b", kept(2_000))
    assert cache.get(b"a") == kept(1_000)
    assert (len(cache), cache.used) == (2, 3_000)


def test_the_least_recently_used_goes_first() -> None:
    cache = LRUCache(10_000)
    for key in (b"a", b"b", b"c", b"d"):
        assert cache.put(key, kept(2_500))
    assert cache.used == 10_000
    assert cache.get(b"a") is not None  # now b is the least recently used
    assert cache.put(b"e", kept(2_000))
    assert cache.get(b"b") is None
    assert [k for k in (b"a", b"c", b"d", b"e") if cache.get(k) is not None] == [b"a", b"c", b"d", b"e"]
    assert cache.used == 9_500
    assert cache.put(b"f", kept(2_500))  # the gets just above left a the least recently used
    assert cache.get(b"a") is None and cache.get(b"c") is not None
    assert cache.used == 9_500


def test_an_answer_over_a_quarter_of_the_budget_is_never_kept() -> None:
    cache = LRUCache(10_000)
    assert cache.put(b"a", kept(2_500))
    assert not cache.put(b"b", kept(2_501))
    assert cache.get(b"b") is None
    assert (len(cache), cache.used) == (1, 2_500)


def test_keeping_a_key_again_replaces_its_answer_and_its_bytes() -> None:
    cache = LRUCache(10_000)
    cache.put(b"a", kept(1_000))
    cache.put(b"a", kept(2_000))
    assert cache.get(b"a") == kept(2_000)
    assert (len(cache), cache.used) == (1, 2_000)


# --- a real server -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp("answer_cache")) as running_server:  # the default cache
        yield running_server


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=httpx.Timeout(60.0)) as c:
        yield c


def post(client: httpx.Client, body: Any, headers: dict[str, str] = JSON) -> httpx.Response:
    """The same body is the same bytes, each time."""
    return client.post("/backward", content=json.dumps(body).encode(), headers=headers)


def engine_answer(body: dict[str, Any]) -> bytes:
    """The answer as this process computes and writes it."""
    program = compile_spec(copy.deepcopy(body), Limits())
    result = program.run()
    return answer_json(result, run_check(program, body.get("check")), lambda: None)


def with_x(body: dict[str, Any], value: list[float]) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    changed["leaves"]["x"]["value"] = value
    return changed


def wait_for_log(log: Path, text: str, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in log.read_text(errors="replace").splitlines() if text in line]
        if lines or time.monotonic() > deadline:
            return lines


def test_the_same_body_twice_is_answered_from_the_cache(client: httpx.Client, server: Server) -> None:
    body = EXAMPLES["seed_sum"]["value"]
    first = post(client, body)
    second = post(client, body)
    assert (first.status_code, second.status_code) == (200, 200), first.text[:500]
    assert (first.headers[CACHE], second.headers[CACHE]) == ("miss", "hit")
    assert second.content == first.content
    assert second.headers["content-type"] == "application/json"
    assert json.loads(first.content) == json.loads(engine_answer(body))
    assert any(line.endswith("ms") for line in wait_for_log(server.log, "POST /backward 200 cache=hit "))


def test_a_large_fast_mode_answer_is_kept_too(client: httpx.Client) -> None:
    """The MLP's 3.4 MB answer; fast mode's random direction comes from check.seed, the same each time."""
    body = EXAMPLES["mlp"]["value"]
    start = time.monotonic()
    first = post(client, body)
    computed = time.monotonic() - start
    start = time.monotonic()
    second = post(client, body)
    print(f"mlp: computed in {computed:.3f} s, from the cache in {time.monotonic() - start:.3f} s")
    assert (first.status_code, second.status_code) == (200, 200), first.text[:500]
    assert (first.headers[CACHE], second.headers[CACHE]) == ("miss", "hit")
    assert second.content == first.content
    assert json.loads(first.content)["check"]["mode"] == "fast"


def test_a_body_differing_in_one_value_is_computed(client: httpx.Client) -> None:
    body = EXAMPLES["seed_custom_function"]["value"]
    changed = with_x(body, [1.0, 2.0, 4.0])
    assert post(client, body).status_code == 200
    response = post(client, changed)
    assert response.status_code == 200, response.text[:500]
    assert response.headers[CACHE] == "miss"
    assert json.loads(response.content) == json.loads(engine_answer(changed))
    assert json.loads(response.content) != json.loads(engine_answer(body))
    assert response.json()["tensors"]["x"]["grad"] == [220.0, 440.0, 680.0]  # 20 (x + y), x[2] = 4 and y[2] = 30


def test_the_same_bytes_of_another_content_type_are_another_request(client: httpx.Client) -> None:
    body = EXAMPLES["seed_two_outputs_used"]["value"]
    assert post(client, body).headers[CACHE] == "miss"
    utf8 = {"content-type": "application/json; charset=utf-8"}
    assert [post(client, body, utf8).headers[CACHE] for _ in range(2)] == ["miss", "hit"]


def test_an_error_is_never_kept(client: httpx.Client) -> None:
    body = EXAMPLES["error_unsaved_tensor"]["value"]
    with pytest.raises(SpecError) as raised:
        compile_spec(copy.deepcopy(body), Limits()).run()
    error = raised.value
    for _ in range(2):
        response = post(client, body)
        assert response.status_code == error.status == 422
        assert response.headers[CACHE] == "miss"
        assert response.json() == {"detail": [{"loc": list(error.loc), "msg": error.msg, "type": error.kind}]}


def test_concurrent_identical_bodies_get_the_same_answer(server: Server) -> None:
    body = with_x(EXAMPLES["seed_non_tensor_setting"]["value"], [3.0, 2.0, 1.0])
    content = json.dumps(body).encode()

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=httpx.Timeout(60.0)) as ac:
            sends = (ac.post("/backward", content=content, headers=JSON) for _ in range(16))
            return await asyncio.wait_for(asyncio.gather(*sends), timeout=60)

    responses = asyncio.run(send_all())
    assert {r.status_code for r in responses} == {200}
    assert {r.content for r in responses} == {responses[0].content}
    assert "miss" in {r.headers[CACHE] for r in responses}
    assert json.loads(responses[0].content) == json.loads(engine_answer(body))
    assert httpx.post(f"{server.url}/backward", content=content, headers=JSON).headers[CACHE] == "hit"


def test_no_cache_no_header(tmp_path: Path) -> None:
    body = EXAMPLES["seed_sum"]["value"]
    with serve(tmp_path, GRADLAB_ANSWER_CACHE_BYTES="0") as uncached, httpx.Client(base_url=uncached.url) as c:
        responses = [post(c, body) for _ in range(2)]
        assert [r.status_code for r in responses] == [200, 200]
        assert [CACHE in r.headers for r in responses] == [False, False]
        for response in responses:
            assert json.loads(response.content) == json.loads(engine_answer(body))
        assert not wait_for_log(uncached.log, "cache=", timeout=0.5)


# --- a server with a budget of four small answers -------------------------------------------

SMALL_BODY_LIMIT = 5_000  # GRADLAB_MAX_BODY_BYTES of that server


def small(x0: float) -> dict[str, Any]:
    """A body with an answer of about 500 bytes, which differs from the others in one value."""
    return {
        "leaves": {"x": {"value": [x0, 2.0, 3.0], "requires_grad": True}},
        "nodes": [{"name": "s", "expr": "sum(x * x)"}],
        "check": {"mode": "off"},
    }


def size_in_cache(body: dict[str, Any]) -> int:
    answer = engine_answer(body)
    headers = ((b"content-length", str(len(answer)).encode()), (b"content-type", b"application/json"))
    return Answer(headers, answer).size


def test_the_least_recently_used_answer_is_evicted_and_the_body_limit_comes_first(tmp_path: Path) -> None:
    a, b, c, d, e = (small(x0) for x0 in (1.0, 4.0, 5.0, 6.0, 7.0))
    sizes = [size_in_cache(body) for body in (a, b, c, d, e)]
    budget = 4 * max(sizes) + min(sizes) // 2
    assert 5 * min(sizes) > budget and max(sizes) <= budget // 4  # room for four of them, never five
    settings = {"GRADLAB_ANSWER_CACHE_BYTES": str(budget), "GRADLAB_MAX_BODY_BYTES": str(SMALL_BODY_LIMIT)}
    with serve(tmp_path, **settings) as tiny, httpx.Client(base_url=tiny.url, timeout=30) as client:

        def sent(*bodies: dict[str, Any]) -> list[str]:
            responses = [post(client, body) for body in bodies]
            for body, response in zip(bodies, responses, strict=True):
                assert response.status_code == 200, response.text[:500]
                assert json.loads(response.content) == json.loads(engine_answer(body))
            return [r.headers[CACHE] for r in responses]

        assert sent(a, b, c, d) == ["miss"] * 4
        assert sent(a) == ["hit"]  # and b is now the least recently used
        assert sent(e) == ["miss"]  # keeping e evicts b
        assert sent(a, c, d, e) == ["hit"] * 4
        assert sent(b) == ["miss"]  # keeping b again evicts a, the least recently used
        assert sent(a) == ["miss"]

        # An answer over a quarter of the budget is computed every time.
        large = {**small(1.0), "leaves": {"x": {"value": [i / 7 for i in range(100)], "requires_grad": True}}}
        assert size_in_cache(large) > budget // 4
        assert [post(client, large).headers[CACHE] for _ in range(2)] == ["miss", "miss"]

        # A body over GRADLAB_MAX_BODY_BYTES is refused before the cache reads it, every time,
        # whether its length is declared or it streams in.
        oversized = json.dumps(small(1.0) | {"padding": "x" * SMALL_BODY_LIMIT}).encode()
        chunks = [oversized[i : i + 1_000] for i in range(0, len(oversized), 1_000)]
        for content in (oversized, oversized, iter(chunks)):
            response = client.post("/backward", content=content, headers=JSON)
            assert response.status_code == 413, response.text[:500]
            assert CACHE not in response.headers
            [item] = response.json()["detail"]
            assert "GRADLAB_MAX_BODY_BYTES" in item["msg"]
