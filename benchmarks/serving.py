"""Servers and load for the HTTP benchmarks: start, wait, drive with client processes, stop.

A server is started as it is deployed, in its own session (process group), so that stopping
it stops its uvicorn workers too; it is always stopped on the way out, errors included. Its
environment is this process's without any `GRADLAB_*` setting, with the thread variables
as they were found (`python -m benchmarks` pins its own process only; `python -m app` then
sets each one left unset to 1), plus the host, port and worker count given; its output goes
to a log file, shown if it fails to start.

The load comes from `benchmarks.loadgen` client processes, all given the same wall-clock
start; the CPU time of the server's processes over the measured window is read from /proc.
A request is sent with the same body every time, or with a new body every time (`vary`): then
each body sent to a server, by any run, has a number of its own, so that none is ever a repeat
that the server's answer cache could answer.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from benchmarks import FOUND_THREAD_ENV
from benchmarks.loadgen import CACHE_HEADER

LOOPBACK = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0
STARTUP_MARGIN = 0.5  # seconds for the client processes to start before the run does
ANSWER_TIMEOUT = 30.0  # an answer later than this is an error

Kind = Literal["gradlab", "hello"]


@dataclass(frozen=True)
class Request:
    """What a client sends, again and again: the same body, or with `vary` a template body
    whose one `vary` token each request replaces by its own number (as many digits as the token
    has characters, zero-padded)."""

    method: str
    path: str
    body: bytes
    vary: str | None = None

    def numbered(self, number: int) -> bytes:
        """The body as request `number` sends it."""
        if self.vary is None:
            return self.body
        return self.body.replace(self.vary.encode(), b"%0*d" % (len(self.vary), number), 1)


@dataclass
class Server:
    kind: Kind
    workers: int
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    next_number: int = 0  # for the varied bodies: the numbers below this were sent to this server

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


@dataclass(frozen=True)
class Run:
    """One run of the load: answers within the window, their latencies and the CPU spent."""

    connections: int
    processes: int
    duration: float
    answered: int
    unanswered: int  # still waiting at the window's end: counted in the latencies at their age
    latencies: list[float]  # sorted; the unanswered at their age, a lower bound
    errors: Counter[str]
    client_cpu: float  # seconds of CPU, all client processes, over the window
    client_split: list[float]  # the same by client process
    server_cpu: float  # seconds of CPU, the server's processes, over the window
    server_split: list[float]  # the same by process, those busy over 1% of the window, busiest first
    late_start: float  # the most a client process started after the agreed start
    hits: int  # answers marked `x-gradlab-cache: hit`: from the server's answer cache, not computed
    machine_cpu: float  # seconds of CPU, every process on the machine, over the window

    @property
    def other_cpu(self) -> float:
        """Seconds of CPU that neither the server nor the clients used: other work on the machine
        (this process's own waiting included, which is next to nothing), disturbing the run."""
        return max(0.0, self.machine_cpu - self.server_cpu - self.client_cpu)

    @property
    def rate(self) -> float:
        return self.answered / self.duration

    @property
    def hit_fraction(self) -> float:
        return self.hits / self.answered if self.answered else float("nan")

    def percentile(self, p: float) -> float:
        """The p-th percentile (0-100) by the nearest rank, NaN if nothing was measured."""
        if not self.latencies:
            return float("nan")
        rank = max(1, -(-len(self.latencies) * p // 100))
        return self.latencies[int(rank) - 1]

    def is_lower_bound(self, p: float) -> bool:
        """Whether the p-th percentile may be an unanswered request's age: a lower bound."""
        return self.unanswered > 0 and self.unanswered >= len(self.latencies) * (100 - p) / 100

    @property
    def mean(self) -> float:
        return statistics.fmean(self.latencies) if self.latencies else float("nan")


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(**overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GRADLAB_") and key not in {"VIRTUAL_ENV", "PYTHONPATH", *FOUND_THREAD_ENV}
    }
    env.update({name: value for name, value in FOUND_THREAD_ENV.items() if value is not None})
    env.update(overrides)
    return env


def command(kind: Kind, port: int, workers: int) -> list[str]:
    """gradlab as `make run` starts it; the hello app with the same uvicorn settings."""
    if kind == "gradlab":
        return [sys.executable, "-m", "app"]
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.hello_app:app",
        f"--host={LOOPBACK}",
        f"--port={port}",
        f"--workers={workers}",
        "--log-level=info",  # gradlab's default
        "--no-access-log",  # as `python -m app` runs uvicorn
    ]


def log_tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(no log)"


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the server's process group, SIGKILL it if it has not exited in time."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    # uvicorn's workers may outlive the supervisor for a moment: none may remain.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=timeout)


@contextmanager
def serving(kind: Kind, workers: int, folder: Path, **env: str) -> Iterator[Server]:
    """A server on a free loopback port, ready once every worker has started; stopped on exit.
    `env`: more environment variables, over those of `server_env`."""
    port = free_port()
    env = server_env(GRADLAB_HOST=LOOPBACK, GRADLAB_PORT=str(port), GRADLAB_WORKERS=str(workers), **env)
    log = folder / f"{kind}-{workers}-workers-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command(kind, port, workers),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            server = Server(kind, workers, port, process, log)
            wait_until_ready(server)
            yield server
        finally:
            stop(process)


def wait_until_ready(server: Server) -> None:
    """Every worker has logged its start-up, and the server answers."""
    path = "/healthz" if server.kind == "gradlab" else "/hello"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        started = server.log.read_text(errors="replace").count("Application startup complete")
        if started >= server.workers:
            with suppress(httpx.TransportError):
                if httpx.get(server.url + path, timeout=2.0).status_code == 200:
                    return
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.kind} exited with {server.process.returncode}:\n{log_tail(server.log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.kind} not ready after {START_TIMEOUT:.0f} s:\n{log_tail(server.log)}")
        time.sleep(0.1)


def process_tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds (user + system) of `root` and of every process descended from it, by pid."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (command) "
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid and child not in tree]
        tree.update(children)
        frontier.extend(children)
    return {pid: times[pid] for pid in tree if pid in times}


def machine_busy() -> float:
    """CPU seconds that the whole machine has spent busy since it started (all cores, from /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # user .. steal; guest time is counted in user


def drive(
    server: Server,
    request: Request,
    connections: int,
    processes: int,
    warmup: float,
    duration: float,
    folder: Path,
) -> Run:
    """`connections` closed-loop connections, shared by `processes` client processes."""
    body_file = folder / "body.json"
    varied = [f"--vary={request.vary}", f"--first={server.next_number}"] if request.vary else []
    body_file.write_bytes(request.body)
    start = time.time() + STARTUP_MARGIN
    shares = [connections // processes + (i < connections % processes) for i in range(processes)]
    clients: list[subprocess.Popen[bytes]] = []
    try:
        for share in shares:
            clients.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "benchmarks.loadgen",
                        f"--port={server.port}",
                        f"--method={request.method}",
                        f"--path={request.path}",
                        f"--body-file={body_file}",
                        f"--connections={share}",
                        f"--start={start}",
                        f"--warmup={warmup}",
                        f"--duration={duration}",
                        f"--timeout={ANSWER_TIMEOUT}",
                        f"--client={len(clients)}",
                        f"--clients={processes}",
                        *varied,
                    ],
                    cwd=ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            )
        time.sleep(max(0.0, start + warmup - time.time()))
        cpu_before, machine_before = process_tree_cpu(server.process.pid), machine_busy()
        time.sleep(max(0.0, start + warmup + duration - time.time()))
        cpu_after, machine_after = process_tree_cpu(server.process.pid), machine_busy()
        by_process = [cpu_after[pid] - cpu_before.get(pid, 0.0) for pid in cpu_after]
        results = []
        for client in clients:
            out, err = client.communicate(timeout=ANSWER_TIMEOUT + 30)
            if client.returncode != 0:
                raise RuntimeError(f"a load client failed ({client.returncode}):\n{err.decode(errors='replace')}")
            results.append(json.loads(out))
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
                client.wait()
    used = [r["last_number"] for r in results if r["last_number"] is not None]
    server.next_number = max([server.next_number - 1, *used]) + 1
    return combine(results, connections, processes, duration, by_process, machine_after - machine_before)


def combine(
    results: list[dict[str, Any]],
    connections: int,
    processes: int,
    duration: float,
    server_cpu: list[float],
    machine_cpu: float,
) -> Run:
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    unanswered = 0
    for r in results:
        errors.update(r["errors"])
        latencies += r["latencies"] + r["unanswered_ages"]
        unanswered += len(r["unanswered_ages"])
    return Run(
        connections=connections,
        processes=processes,
        duration=duration,
        answered=sum(len(r["latencies"]) for r in results),
        unanswered=unanswered,
        latencies=sorted(latencies),
        errors=errors,
        client_cpu=sum(r["cpu_seconds"] for r in results),
        client_split=[r["cpu_seconds"] for r in results],
        server_cpu=sum(server_cpu),
        server_split=sorted((cpu for cpu in server_cpu if cpu > 0.01 * duration), reverse=True),
        late_start=max(r["late_start"] for r in results),
        hits=sum(r["hits"] for r in results),
        machine_cpu=machine_cpu,
    )


def verify(server: Server, request: Request, expect: Any) -> None:
    """Before any load: a 200 whose answer `expect` accepts. A varied request is sent twice,
    with two numbers: both answers must be accepted, computed (not marked as cache hits) and
    different, so that the number does reach the computation."""
    answers = []
    for _ in range(2 if request.vary else 1):
        body = request.numbered(server.next_number)
        server.next_number += 1
        response = httpx.request(
            request.method,
            server.url + request.path,
            content=body,
            headers={"content-type": "application/json"},
            timeout=ANSWER_TIMEOUT,
        )
        if response.status_code != 200 or not expect(response.json()):
            raise RuntimeError(
                f"{server.kind} {request.method} {request.path}: unexpected answer {response.status_code} "
                f"{response.text[:500]}"
            )
        answers.append(response)
    if request.vary:
        first, second = answers
        if first.content == second.content or "hit" in (r.headers.get(CACHE_HEADER) for r in answers):
            raise RuntimeError(f"{server.kind} {request.path}: two numbered bodies were not answered apart")


# What `python -m app` sets each thread variable to where the environment leaves it unset (app/__main__.py).
APP_THREADS = "1"


def deployed_threads() -> str:
    """The thread variables as `python -m benchmarks` found them, and so as a gradlab server gets them:
    those unset, `python -m app` sets to APP_THREADS."""
    found = [f"`{name}={value}`" for name, value in FOUND_THREAD_ENV.items() if value is not None]
    unset = [f"`{name}`" for name, value in FOUND_THREAD_ENV.items() if value is None]
    parts = [f"{_listed(found)} as found"] if found else []
    if unset:
        them = "them each" if len(unset) > 1 else "it"
        parts.append(f"{_listed(unset)} unset here, so `python -m app` sets {them} to {APP_THREADS}")
    return "; ".join(parts)


# The thread variables as a gradlab server started here gets them, after `python -m app`.
DEPLOYED_THREADS = {name: APP_THREADS if value is None else value for name, value in FOUND_THREAD_ENV.items()}


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def threads_text(threads: dict[str, str]) -> str:
    return ", ".join(f"`{name}={value}`" for name, value in threads.items())


# NumPy's BLAS on one thread, as `python -m app` has it where nothing says otherwise.
PINNED_THREADS = {name: "1" for name in FOUND_THREAD_ENV}
# BLAS unpinned: a thread per core, which is what OpenBLAS starts when nothing pins it.
UNPINNED_THREADS = {name: str(os.cpu_count() or 1) for name in FOUND_THREAD_ENV}
