"""One load-generating client process: `python -m benchmarks.loadgen` (started by `benchmarks.load`).

It opens `--connections` keep-alive HTTP/1.1 connections to a loopback port and, on each,
sends a request again and again, the next as soon as the answer is in (a closed loop). The
request is the same every time or, with `--vary TOKEN`, its body is new every time: the one
TOKEN in the body is replaced by the request's own number, and the client processes of a run
number their requests apart, so that no two requests carry the same body and none can be
answered from the server's cache of repeated bodies. The answers marked
`x-gradlab-cache: hit` (gradlab's answer cache) are counted.

Every client process of a run is given the same wall-clock start, so that they warm up and
measure over the same window (the connections open one by one over the first half of the
warm-up): the answers that arrive within [start + warmup, start + warmup + duration] are
counted, with their latencies (from the request's first byte written to the answer's last
byte read). An answer other than 200, a broken connection or an answer later than
`--timeout` is an error; the connection is then opened anew. A request still unanswered when
the window ends is not waited for: it is reported with its age then (a lower bound on its
latency). At the end the process writes one JSON object to stdout, with the last number it
put in a body, and exits by itself.

It is written against the bare socket with an asyncio protocol, not with an HTTP library:
the client's cost per request is a few tens of microseconds, and an answer's body is counted,
never copied, so that the client is not what limits the rate it measures (its CPU time over
the window is reported too). It imports nothing heavy, and uvloop only if it is there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

LOOPBACK = "127.0.0.1"
READ_BUFFER = 1 << 18  # bytes: what one read from the socket may bring
MAX_HEAD = 1 << 16  # bytes: an answer's status line and headers
HEAD_END = b"\r\n\r\n"
CACHE_HEADER = "x-gradlab-cache"  # gradlab's answer cache: `hit`, `miss`, or absent when it is off


@dataclass
class Window:
    """perf_counter() times of the run: start, measured from, measured until."""

    start: float
    measure: float
    end: float
    timeout: float


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    unanswered_ages: list[float] = field(default_factory=list)  # still waited for at the end
    warmup_answers: int = 0
    hits: int = 0  # answers within the window marked as from the server's cache
    cpu: list[float] = field(default_factory=list)  # process CPU time at the window's two ends


def build_request(method: str, path: str, port: int, body: bytes) -> bytes:
    head = [f"{method} {path} HTTP/1.1", f"Host: {LOOPBACK}:{port}", "Connection: keep-alive"]
    if body or method == "POST":
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class Requests:
    """The bytes of each request to send: always the same, or a body numbered anew each time.

    With a `token`, request k of this process (k = 0, 1, ...) has the number
    first + k × clients + client, written over the token with as many digits, zero-padded (more
    if it outgrows them): the processes' numbers interleave and never meet. The request is
    built whole each time, a few microseconds, small beside a request's round trip."""

    def __init__(self, method: str, path: str, port: int, body: bytes, token: bytes | None, numbering: range) -> None:
        self.method, self.path, self.port = method, path, port
        self.fixed = build_request(method, path, port, body)
        self.parts: tuple[bytes, bytes] | None = None
        if token is not None:
            if body.count(token) != 1:
                raise ValueError(f"the body must hold {token!r} exactly once, not {body.count(token)} times")
            before, _, after = body.partition(token)
            self.parts = (before, after)
        self.digits = len(token or b"")
        self.numbers = iter(numbering)
        self.last: int | None = None  # the last number used

    def next(self) -> bytes:
        if self.parts is None:
            return self.fixed
        self.last = next(self.numbers)
        body = b"%0*d" % (self.digits, self.last)
        return build_request(self.method, self.path, self.port, self.parts[0] + body + self.parts[1])


@dataclass(frozen=True)
class Answer:
    status: int
    keep_alive: bool  # whether the server keeps the connection open
    hit: bool  # marked as answered from the server's cache


def parse_head(head: bytes) -> tuple[Answer, int]:
    """An answer's status line and headers (without the blank line): the answer, its body's length."""
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = None
    keep_alive = True
    hit = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            raise ValueError("a chunked answer: this client reads Content-Length bodies only")
        elif name == "connection" and value.strip().lower() == "close":
            keep_alive = False
        elif name == CACHE_HEADER:
            hit = value.strip().lower() == "hit"
    if length is None:
        raise ValueError("an answer without Content-Length")
    return Answer(status, keep_alive, hit), length


class AnswerReader(asyncio.BufferedProtocol):
    """One connection, one request at a time: each answer's head is parsed, its body only counted.

    The socket is read into one buffer, used again and again, and a body is never copied nor
    kept: a large answer (the MLP's is megabytes) then costs the client little more than the
    kernel's copy of it, where a stream reader would copy it twice more and allocate as often."""

    def __init__(self) -> None:
        self.buffer = bytearray(READ_BUFFER)
        self.transport: asyncio.Transport | None = None
        self.head = bytearray()  # the head read so far
        self.answer: Answer | None = None  # once its head is in, until its body is
        self.remaining = 0  # of the body, bytes still to come
        self.waiter: asyncio.Future[Answer] | None = None
        self.lost: BaseException | None = None

    def send(self, request: bytes) -> asyncio.Future[Answer]:
        """Write `request`; the future is its answer, complete once the body's last byte is read."""
        self.waiter = asyncio.get_running_loop().create_future()
        if self.lost is not None or self.transport is None:
            self.waiter.set_exception(self.lost or ConnectionResetError("not connected"))
        else:
            self.transport.write(request)
        return self.waiter

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP transport, though uvloop's is no subclass of asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        if self.answer is None:
            self.head += memoryview(self.buffer)[:nbytes]
            end = self.head.find(HEAD_END)
            if end < 0:
                if len(self.head) > MAX_HEAD:
                    self._fail(ValueError("an answer's head longer than MAX_HEAD"))
                return
            try:
                self.answer, length = parse_head(bytes(self.head[:end]))
            except ValueError as error:
                self._fail(error)
                return
            self.remaining = length - (len(self.head) - end - len(HEAD_END))
            self.head.clear()
        else:
            self.remaining -= nbytes
        if self.remaining < 0:
            self._fail(ValueError("more bytes than the answer's Content-Length"))
        elif self.remaining == 0 and self.answer is not None:
            answer, self.answer = self.answer, None
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionResetError("the server closed the connection"))

    def _fail(self, error: BaseException) -> None:
        self.lost = self.lost or error
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)
        if self.transport is not None:
            self.transport.close()


async def connection(port: int, requests: Requests, window: Window, opens: float, tally: Tally) -> None:
    """One connection's closed loop from `opens` (a perf_counter() time) until the window ends."""
    while (now := time.perf_counter()) < window.end:
        if now < opens:
            await asyncio.sleep(opens - now)
        try:
            opening = asyncio.get_running_loop().create_connection(AnswerReader, LOOPBACK, port)
            transport, reader = await asyncio.wait_for(opening, window.timeout)
        except (OSError, TimeoutError) as error:
            if time.perf_counter() >= window.measure:
                tally.errors[f"connect: {type(error).__name__}"] += 1
            await asyncio.sleep(0.01)
            continue
        try:
            keep_alive = True
            while keep_alive and (sent := time.perf_counter()) < window.end:
                waiter = reader.send(requests.next())
                # Wait no longer than the window: an answer still due then is counted as
                # unanswered, with its age, unless it is already late enough to be an error.
                due = min(sent + window.timeout, window.end)
                try:
                    answer = await asyncio.wait_for(waiter, due - sent)
                except TimeoutError:
                    now = time.perf_counter()
                    if now - sent >= window.timeout:
                        tally.errors["timeout"] += 1
                    else:
                        tally.unanswered_ages.append(now - sent)
                    break
                done = time.perf_counter()
                keep_alive = answer.keep_alive
                if done < window.measure:
                    tally.warmup_answers += 1
                elif answer.status == 200:
                    tally.latencies.append(done - sent)
                    tally.hits += answer.hit
                else:
                    tally.errors[f"status {answer.status}"] += 1
        except (OSError, ValueError) as error:
            if time.perf_counter() >= window.measure:
                tally.errors[type(error).__name__] += 1
        finally:
            transport.close()


async def cpu_at_edges(window: Window, tally: Tally) -> None:
    for edge in (window.measure, window.end):
        await asyncio.sleep(max(0.0, edge - time.perf_counter()))
        tally.cpu.append(time.process_time())


async def drive(port: int, requests: Requests, connections: int, window: Window, opens: list[float]) -> Tally:
    tally = Tally()
    tasks = [connection(port, requests, window, opens[i], tally) for i in range(connections)]
    await asyncio.gather(cpu_at_edges(window, tally), *tasks)
    return tally


def run_loop(main: Coroutine[Any, Any, Tally]) -> Tally:
    """On uvloop (which uvicorn[standard] brings, and the servers use) if it is there."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loadgen", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--method", default="POST")
    parser.add_argument("--path", required=True)
    parser.add_argument("--body-file", type=Path, help="the request body (JSON); none for a GET")
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--start", type=float, required=True, help="wall-clock time (time.time()) to start at")
    parser.add_argument("--warmup", type=float, required=True, help="seconds before the measured window")
    parser.add_argument("--duration", type=float, required=True, help="seconds measured")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds an answer may take")
    parser.add_argument("--client", type=int, default=0, help="this process's number among the clients")
    parser.add_argument("--clients", type=int, default=1, help="how many client processes share the load")
    parser.add_argument("--vary", help="a token in the body, replaced by each request's number: a new body each time")
    parser.add_argument("--first", type=int, default=0, help="the first number of the run, for --vary")
    args = parser.parse_args(argv)

    body = args.body_file.read_bytes() if args.body_file else b""
    token = args.vary.encode() if args.vary else None
    numbering = range(args.first + args.client, sys.maxsize, args.clients)
    requests = Requests(args.method, args.path, args.port, body, token, numbering)
    offset = args.start - time.time()
    start = time.perf_counter() + offset
    window = Window(start, start + args.warmup, start + args.warmup + args.duration, args.timeout)
    # The connections open one by one over the first half of the warm-up, taking turns
    # across the client processes. Opened all at once, they could all be accepted by one of
    # the server's workers; one at a time, a busier worker is slower to accept than an idle one.
    total = args.connections * args.clients
    gap = args.warmup / 2 / total
    opens = [start + (i * args.clients + args.client) * gap for i in range(args.connections)]
    tally = run_loop(drive(args.port, requests, args.connections, window, opens))
    cpu = tally.cpu[1] - tally.cpu[0] if len(tally.cpu) == 2 else float("nan")
    json.dump(
        {
            "latencies": [round(x, 7) for x in tally.latencies],
            "unanswered_ages": [round(x, 7) for x in tally.unanswered_ages],
            "errors": dict(tally.errors),
            "warmup_answers": tally.warmup_answers,
            "hits": tally.hits,
            "last_number": requests.last,
            "cpu_seconds": cpu,
            "late_start": max(0.0, -offset),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
