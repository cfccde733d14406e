"""One load-generating client process: `python -m benchmarks.loadgen` (started by `benchmarks.load`).

It opens `--connections` keep-alive HTTP/1.1 connections to a loopback port and, on each,
sends the same request again and again, the next as soon as the answer is in (a closed
loop). Every client process of a run is given the same wall-clock start, so that they warm
up and measure over the same window (the connections open one by one over the first half of
the warm-up): the answers that arrive within
[start + warmup, start + warmup + duration] are counted, with their latencies (from the
request's first byte written to the answer's last byte read). An answer other than 200, a
broken connection or an answer later than `--timeout` is an error; the connection is then
opened anew. A request still unanswered when the window ends is not waited for: it is
reported with its age then (a lower bound on its latency). At the end the process writes
one JSON object to stdout and exits by itself.

It is written against the bare socket with asyncio streams, not with an HTTP library: the
client's cost per request is a few tens of microseconds, so that it is not what limits
the rate it measures (its CPU time over the window is reported too). It imports nothing
heavy, and uvloop only if it is there.
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
from typing import Any

LOOPBACK = "127.0.0.1"


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
    cpu: list[float] = field(default_factory=list)  # process CPU time at the window's two ends


def build_request(method: str, path: str, port: int, body: bytes) -> bytes:
    head = [f"{method} {path} HTTP/1.1", f"Host: {LOOPBACK}:{port}", "Connection: keep-alive"]
    if body or method == "POST":
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """One response's status, and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = None
    keep_alive = True
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            raise ValueError("a chunked answer: this client reads Content-Length bodies only")
        elif name == "connection" and value.strip().lower() == "close":
            keep_alive = False
    if length is None:
        raise ValueError("an answer without Content-Length")
    await reader.readexactly(length)
    return status, keep_alive


async def connection(port: int, request: bytes, window: Window, opens: float, tally: Tally) -> None:
    """One connection's closed loop from `opens` (a perf_counter() time) until the window ends."""
    while (now := time.perf_counter()) < window.end:
        if now < opens:
            await asyncio.sleep(opens - now)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(LOOPBACK, port), window.timeout)
        except (OSError, TimeoutError) as error:
            if time.perf_counter() >= window.measure:
                tally.errors[f"connect: {type(error).__name__}"] += 1
            await asyncio.sleep(0.01)
            continue
        try:
            keep_alive = True
            while keep_alive and (sent := time.perf_counter()) < window.end:
                writer.write(request)
                # Wait no longer than the window: an answer still due then is counted as
                # unanswered, with its age, unless it is already late enough to be an error.
                due = min(sent + window.timeout, window.end)
                try:
                    status, keep_alive = await asyncio.wait_for(read_answer(reader), due - sent)
                except TimeoutError:
                    now = time.perf_counter()
                    if now - sent >= window.timeout:
                        tally.errors["timeout"] += 1
                    else:
                        tally.unanswered_ages.append(now - sent)
                    break
                done = time.perf_counter()
                if done < window.measure:
                    tally.warmup_answers += 1
                elif status == 200:
                    tally.latencies.append(done - sent)
                else:
                    tally.errors[f"status {status}"] += 1
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as error:
            if time.perf_counter() >= window.measure:
                tally.errors[type(error).__name__] += 1
        finally:
            writer.close()


async def cpu_at_edges(window: Window, tally: Tally) -> None:
    for edge in (window.measure, window.end):
        await asyncio.sleep(max(0.0, edge - time.perf_counter()))
        tally.cpu.append(time.process_time())


async def drive(port: int, request: bytes, connections: int, window: Window, opens: list[float]) -> Tally:
    tally = Tally()
    tasks = [connection(port, request, window, opens[i], tally) for i in range(connections)]
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
    args = parser.parse_args(argv)

    body = args.body_file.read_bytes() if args.body_file else b""
    request = build_request(args.method, args.path, args.port, body)
    offset = args.start - time.time()
    start = time.perf_counter() + offset
    window = Window(start, start + args.warmup, start + args.warmup + args.duration, args.timeout)
    # The connections open one by one over the first half of the warm-up, taking turns
    # across the client processes. Opened all at once, they could all be accepted by one of
    # the server's workers; one at a time, a busier worker is slower to accept than an idle one.
    total = args.connections * args.clients
    gap = args.warmup / 2 / total
    opens = [start + (i * args.clients + args.client) * gap for i in range(args.connections)]
    tally = run_loop(drive(args.port, request, args.connections, window, opens))
    cpu = tally.cpu[1] - tally.cpu[0] if len(tally.cpu) == 2 else float("nan")
    json.dump(
        {
            "latencies": [round(x, 7) for x in tally.latencies],
            "unanswered_ages": [round(x, 7) for x in tally.unanswered_ages],
            "errors": dict(tally.errors),
            "warmup_answers": tally.warmup_answers,
            "cpu_seconds": cpu,
            "late_start": max(0.0, -offset),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
