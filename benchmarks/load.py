"""The service under load, against its ceiling: gradlab and a do-nothing FastAPI app, driven alike.

Two servers are started in the same run, one after the other, each as it is deployed and on
a free loopback port: gradlab (`python -m app`) and the hello app (`benchmarks.hello_app`,
served by uvicorn with the same settings), with 1 and then 2 uvicorn workers. Each is
driven for a fixed time after a warm-up, at 16 and 64 concurrent keep-alive connections,
by 2 client processes (`benchmarks.loadgen`) that share the connections, with:

- `seed, check full`: the `seed_sum` example with `"check": {"mode": "full"}`;
- `seed, check off`: the same with `"check": {"mode": "off"}`;
- `MLP, check fast`: the `mlp` example with `"check": {"mode": "fast"}`;
- `hello (ceiling)`: the hello app's `POST /hello`, sent the seed body (which it leaves
  unread): what the same HTTP stack and the same generator give when a request does nothing.

Each request's body is sent once first and its answer checked (a 200, the check in the
mode asked for, and passed). A run reports the answers per second, the latencies' median
and 99th percentile, the errors (an answer other than 200, a broken connection, an answer
later than 30 s), the ratio to the hello app's rate at the same workers and connections,
and the CPU the server's processes and the clients used over the window, read from /proc
and from the clients themselves: that says whether the generator could be what limits.

Also, on 1 worker, one client sending one request at a time: the latency of one request
with nothing else going on, for the target on the MLP's time per request.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.examples import EXAMPLES
from benchmarks.harness import format_seconds, machine_lines, version
from benchmarks.serving import PINNED_THREADS, Kind, Request, Run, drive, found_threads, serving, verify

KINDS: tuple[Kind, ...] = ("hello", "gradlab")
WORKERS = (1, 2)
CONNECTIONS = (16, 64)
CLIENT_PROCESSES = 2
WARMUP = 1.0
DURATION = 5.0  # at the default budget; a smaller --budget shortens the runs in proportion
DEFAULT_BUDGET = 0.6
SEQUENTIAL_WARMUP = 0.5
SEQUENTIAL_DURATION = 2.0

# The targets.
CEILING_SHARE = 0.5  # seed with the full check: at least this share of the hello app's req/s
P99_LIMIT = 0.050  # seconds, at 64 connections on 2 workers
MLP_LIMIT = 0.100  # seconds per MLP request with the fast check


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    kind: Kind
    request: Request
    expect: Callable[[Any], bool]  # accepts the answer of the request sent once before the load


def body(example: str, mode: str) -> bytes:
    return json.dumps({**EXAMPLES[example]["value"], "check": {"mode": mode}}).encode()


def _checked(mode: str) -> Callable[[Any], bool]:
    def expect(answer: Any) -> bool:
        check = answer.get("check", {})
        return bool(check.get("mode") == mode and check.get("passed") is (None if mode == "off" else True))

    return expect


def workloads() -> list[Workload]:
    seed_full = body("seed_sum", "full")
    return [
        Workload(
            "hello",
            "hello (ceiling)",
            "hello",
            Request("POST", "/hello", seed_full),
            lambda answer: answer == {"hello": "world"},
        ),
        Workload("seed-full", "seed, check full", "gradlab", Request("POST", "/backward", seed_full), _checked("full")),
        Workload(
            "seed-off",
            "seed, check off",
            "gradlab",
            Request("POST", "/backward", body("seed_sum", "off")),
            _checked("off"),
        ),
        Workload(
            "mlp-fast",
            "MLP, check fast",
            "gradlab",
            Request("POST", "/backward", body("mlp", "fast")),
            _checked("fast"),
        ),
    ]


@dataclass
class Results:
    load: dict[tuple[str, int, int], Run]  # (workload, workers, connections)
    sequential: dict[str, Run]  # one client, one connection, 1 worker
    pinned: Run  # the MLP on PINNED_SETTING with NumPy's BLAS on one thread
    pinned_sequential: Run  # the same server, one request at a time
    warmup: float
    duration: float
    sequential_duration: float


# Besides: the MLP once more with the servers' BLAS pinned to one thread (workers, connections).
PINNED_SETTING = (2, 16)


def _logged(log: Callable[[str], None], what: str, run: Run) -> Run:
    late = f" (a client started {run.late_start:.2f} s late)" if run.late_start > 0.1 else ""
    log(
        f"  {what}: {run.rate:7.1f} req/s, p50 {format_seconds(run.percentile(50))}, "
        f"p99 {format_seconds(run.percentile(99))}, errors {sum(run.errors.values())}{late}"
    )
    return run


def measure_all(budget: float, log: Callable[[str], None]) -> Results:
    scale = min(1.0, budget / DEFAULT_BUDGET)
    duration, sequential_duration = DURATION * scale, SEQUENTIAL_DURATION * scale
    load: dict[tuple[str, int, int], Run] = {}
    sequential: dict[str, Run] = {}
    by_key = {w.key: w for w in workloads()}
    with tempfile.TemporaryDirectory(prefix="gradlab-load-") as tmp:
        folder = Path(tmp)
        for workers in WORKERS:
            for kind in KINDS:
                with serving(kind, workers, folder) as server:
                    mine = [w for w in workloads() if w.kind == kind]
                    for w in mine:
                        verify(server, w.request, w.expect)
                    if workers == 1:  # one request at a time first, on a server that has seen no load
                        for w in mine:
                            run = drive(server, w.request, 1, 1, SEQUENTIAL_WARMUP, sequential_duration, folder)
                            sequential[w.key] = _logged(log, f"{w.key:<9} 1 worker, 1 connection, sequential", run)
                    for w in mine:
                        for connections in CONNECTIONS:
                            run = drive(server, w.request, connections, CLIENT_PROCESSES, WARMUP, duration, folder)
                            what = f"{w.key:<9} {workers} worker(s), {connections:>2} connections"
                            load[w.key, workers, connections] = _logged(log, what, run)
        workers, connections = PINNED_SETTING
        with serving("gradlab", workers, folder, **PINNED_THREADS) as server:
            mlp = by_key["mlp-fast"]
            verify(server, mlp.request, mlp.expect)
            run = drive(server, mlp.request, 1, 1, SEQUENTIAL_WARMUP, sequential_duration, folder)
            pinned_sequential = _logged(log, "mlp-fast  BLAS pinned, 1 connection, sequential", run)
            run = drive(server, mlp.request, connections, CLIENT_PROCESSES, WARMUP, duration, folder)
            what = f"mlp-fast  BLAS pinned, {workers} worker(s), {connections:>2} connections"
            pinned = _logged(log, what, run)
    return Results(load, sequential, pinned, pinned_sequential, WARMUP, duration, sequential_duration)


def run(budget: float = DEFAULT_BUDGET, log: Callable[[str], None] = print) -> str:
    return report(measure_all(budget, log))


# --- the report -----------------------------------------------------------------------


def _latency(run: Run, p: float) -> str:
    return ("≥ " if run.is_lower_bound(p) else "") + format_seconds(run.percentile(p))


def _errors(run: Run) -> str:
    total = sum(run.errors.values())
    if not total:
        return "0"
    return f"{total} ({', '.join(f'{kind}: {n}' for kind, n in run.errors.most_common())})"


def _met(ok: bool) -> str:
    return "**met**" if ok else "not met"


def _rate(run: Run) -> str:
    return f"{run.rate:,.1f}" if run.answered else "0 (none answered)"


def _per_answer(run: Run) -> str:
    return format_seconds(run.server_cpu / run.answered) if run.answered else "–"


def _cpu(run: Run, duration: float) -> str:
    """The server's CPU in cores, and by process where it has several busy ones."""
    split = f" ({' + '.join(f'{c / duration:.2f}' for c in run.server_split)})" if len(run.server_split) > 1 else ""
    return f"{run.server_cpu / duration:.2f}{split}"


def _ceiling_limits(hello_runs: list[tuple[int, int, Run]], d: float, cores: int) -> str:
    """What limited the hello app, worker count by worker count, from the CPU each side used."""
    sentences = []
    for workers in WORKERS:
        runs = [r for w, _, r in hello_runs if w == workers]
        server = max(r.server_cpu / d for r in runs)
        both = max((r.server_cpu + r.client_cpu) / d for r in runs)
        clients = max(r.client_cpu / d for r in runs)
        if both >= 0.9 * cores:
            sentences.append(
                f"With {workers} worker{'s' if workers > 1 else ''}, server and clients together kept the "
                f"machine busy ({both:.2f} of {cores} cores): the clients' {clients:.2f} of a core is CPU the "
                "server could otherwise have had, so this ceiling is that of a machine that also runs its "
                "clients, as every run here is."
            )
        elif server >= 0.85 * workers:
            sentences.append(
                f"With {workers} worker{'s' if workers > 1 else ''}, the hello server used {server:.2f} cores "
                f"with the machine not saturated ({both:.2f} of {cores} cores busy in all): each worker is one "
                "process, held by its GIL to about one core, and the server is what limits."
            )
        else:
            sentences.append(
                f"With {workers} worker{'s' if workers > 1 else ''}, neither the server ({server:.2f} cores) nor "
                f"the machine ({both:.2f} of {cores}) was saturated: what limits is the server's own round trip "
                "(event loop, thread pool, loopback), not CPU."
            )
    return " ".join(sentences)


def report(results: Results) -> str:
    by_key = {w.key: w for w in workloads()}
    load, d = results.load, results.duration
    lines = [
        "## The service under load, against a do-nothing FastAPI app",
        "",
        *machine_lines(("app", "engine")),
        f"- uvicorn {version('uvicorn')}, fastapi {version('fastapi')}, starlette {version('starlette')}, "
        f"pydantic {version('pydantic')}, uvloop {version('uvloop')}, httptools {version('httptools')}",
        "- Servers: `python -m app` and `python -m uvicorn benchmarks.hello_app:app`, on 127.0.0.1, with "
        "`GRADLAB_WORKERS` / `--workers` 1 and 2, log level info (gradlab's default: one log line a "
        "request, to a file), no access log, every other setting its default, and the thread variables "
        f"as found, as deployed: {found_threads()}.",
        f"- Load: {CLIENT_PROCESSES} client processes (`benchmarks/loadgen.py`: asyncio on uvloop, HTTP/1.1 "
        f"over bare sockets, keep-alive), sharing the connections; each connection sends its next request "
        f"when the answer is in (closed loop). {results.warmup:g} s of warm-up, then {d:g} s measured. "
        "The ceiling is measured with the same generator, in the same run.",
        "- Latency: from the request's first byte written to the answer's last byte read. The requests "
        "still unanswered when the window closes (at most one a connection) count at their age then, a "
        "lower bound: ≥ marks a percentile that may be one. Errors: an answer other than 200, a broken "
        "connection, or no answer within 30 s.",
        "- CPU: seconds of CPU over the window / its length, so 1.00 is one core busy: the server's (all its "
        "processes and threads, from /proc) and the clients' (both processes, their own count). Server CPU / "
        "answer: the server's CPU seconds over the answers it gave in the window. With 2 workers, the server's "
        "CPU is followed by each worker's: keep-alive connections stay with the worker that accepted them, "
        "so a worker with more of them has more to do (the clients open their connections one by one over "
        "the first half of the warm-up, so that an idle worker tends to accept the next one).",
        "",
        "| workers | connections | request | req/s | p50 | p99 | errors | unanswered at the end | / ceiling "
        "| server CPU | clients CPU | server CPU / answer |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for workers in WORKERS:
        for connections in CONNECTIONS:
            ceiling = load["hello", workers, connections].rate
            for w in workloads():
                r = load[w.key, workers, connections]
                lines.append(
                    f"| {workers} | {connections} | {w.title} | {_rate(r)} | {_latency(r, 50)} | "
                    f"{_latency(r, 99)} | {_errors(r)} | {r.unanswered} | {r.rate / ceiling:.3f} | "
                    f"{_cpu(r, d)} | {r.client_cpu / d:.2f} | {_per_answer(r)} |"
                )

    cores = os.cpu_count() or 1
    hello_runs = [(workers, c, load["hello", workers, c]) for workers in WORKERS for c in CONNECTIONS]
    client_per_answer = max(r.client_cpu / r.answered for _, _, r in hello_runs)
    gradlab_clients = max(r.client_cpu / d for (key, _, _), r in load.items() if key != "hello")
    busiest_client = max(cpu / d for r in load.values() for cpu in r.client_split)
    lines += [
        "",
        "### Is the generator the bottleneck?",
        "",
        "The hello app is where the generator works hardest. Its runs, with the CPU each side used "
        f"(this machine has {cores} cores, shared by the server and the clients):",
        "",
        "| workers | connections | req/s | server CPU | clients CPU | both | clients' CPU / answer |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {workers} | {c} | {r.rate:,.0f} | {_cpu(r, d)} | {r.client_cpu / d:.2f} | "
            f"{(r.server_cpu + r.client_cpu) / d:.2f} of {cores} | {format_seconds(r.client_cpu / r.answered)} |"
            for workers, c, r in hello_runs
        ),
        "",
        f"Each client process used at most {busiest_client:.2f} of a core, of the 1.00 it could use, and the "
        f"clients at most {format_seconds(client_per_answer)} of CPU per answer: the generator was never near "
        "saturation. " + _ceiling_limits(hello_runs, d, cores) + " Driving gradlab the clients need even less "
        f"(at most {gradlab_clients:.2f} of a core in all), which leaves gradlab's server a little more of the "
        "machine than the hello server had: if anything, the ratios to the ceiling flatter gradlab slightly.",
    ]

    seq = results.sequential
    lines += [
        "",
        "### One request at a time",
        "",
        f"1 worker, one client process with one connection, sequential requests, {SEQUENTIAL_WARMUP:g} s of "
        f"warm-up then {results.sequential_duration:g} s measured:",
        "",
        "| request | req/s | p50 | p99 | mean |",
        "|---|---|---|---|---|",
        *(
            f"| {by_key[key].title} | {r.rate:,.1f} | {_latency(r, 50)} | {_latency(r, 99)} | "
            f"{format_seconds(r.mean)} |"
            for key, r in seq.items()
        ),
    ]

    # Where a seed request's server CPU goes, from the runs at 1 worker and 16 connections.
    cpu = {key: load[key, 1, 16].server_cpu / load[key, 1, 16].answered for key in ("hello", "seed-off", "seed-full")}
    workers, connections = PINNED_SETTING
    found, pinned = load["mlp-fast", workers, connections], results.pinned
    pinned_seq = results.pinned_sequential
    lines += [
        "",
        "### Where the server's CPU goes",
        "",
        f"Per answer, at 1 worker and 16 connections: hello {format_seconds(cpu['hello'])}, seed with the "
        f"check off {format_seconds(cpu['seed-off'])}, seed with the full check "
        f"{format_seconds(cpu['seed-full'])}. So of a seed request with the full check, the check costs about "
        f"{format_seconds(cpu['seed-full'] - cpu['seed-off'])}, the rest of gradlab (validation, the engine, "
        f"the answer, its middleware and log line) {format_seconds(cpu['seed-off'] - cpu['hello'])}, and the "
        f"HTTP stack as the hello app has it {format_seconds(cpu['hello'])}. Half the ceiling's rate means "
        f"at most twice the hello app's CPU per answer, about {format_seconds(2 * cpu['hello'])}.",
        "",
        "The MLP spends most of its time writing its answer (3.4 MB of JSON: see the request profile). Its "
        "matrix products run in NumPy's BLAS, which by default starts a thread per core in every worker "
        "process, more threads than cores under load. Once more with the server's BLAS pinned to one thread "
        "(`OPENBLAS_NUM_THREADS=1`, "
        f"`OMP_NUM_THREADS=1`, `MKL_NUM_THREADS=1`), at {workers} workers and {connections} connections: "
        f"{_rate(pinned)} req/s, p50 {_latency(pinned, 50)}, p99 {_latency(pinned, 99)}, server CPU / answer "
        f"{_per_answer(pinned)}, against {_rate(found)} req/s, p50 {_latency(found, 50)} and "
        f"{_per_answer(found)} with the thread variables as found above; one request at a time on that "
        f"server: p50 {_latency(pinned_seq, 50)}, p99 {_latency(pinned_seq, 99)}.",
    ]

    settings = [(workers, c) for workers in WORKERS for c in CONNECTIONS]
    ratios = {(w, c): load["seed-full", w, c].rate / load["hello", w, c].rate for w, c in settings}
    p99 = {key: load[key, 2, 64] for key in ("seed-full", "seed-off", "hello")}
    mlp = seq["mlp-fast"]
    lines += [
        "",
        "### Targets",
        "",
        "| target | measured | |",
        "|---|---|---|",
        f"| seed with the full check at ≥ {CEILING_SHARE:.0%} of the hello app's req/s, same workers and "
        "connections | seed full / hello: "
        + ", ".join(
            f"{w} worker{'s' if w > 1 else ''} × {c} connections {ratio:.3f}" for (w, c), ratio in ratios.items()
        )
        + f" | {_met(min(ratios.values()) >= CEILING_SHARE)} |",
        f"| p99 under {format_seconds(P99_LIMIT)} at 64 connections on 2 workers, seed with the full check | "
        f"{_latency(p99['seed-full'], 99)} (seed with the check off: {_latency(p99['seed-off'], 99)}; hello: "
        f"{_latency(p99['hello'], 99)}) | {_met(p99['seed-full'].percentile(99) < P99_LIMIT)} |",
        f"| MLP with the fast check under {format_seconds(MLP_LIMIT)} per request (one request at a time, "
        f"1 worker, p50) | {_latency(mlp, 50)}, p99 {_latency(mlp, 99)} (with BLAS pinned to one thread: p50 "
        f"{_latency(pinned_seq, 50)}) | {_met(mlp.percentile(50) < MLP_LIMIT)} |",
    ]
    return "\n".join(lines) + "\n"
