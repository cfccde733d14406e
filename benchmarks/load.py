"""The service under load, against its ceiling: gradlab and a do-nothing FastAPI app, driven alike.

Two servers are started in the same run, one after the other, each as it is deployed and on
a free loopback port: gradlab (`python -m app`) and the hello app (`benchmarks.hello_app`,
served by uvicorn with the same settings), with 1 and then 2 uvicorn workers. Each is
driven for a fixed time after a warm-up, at 16 and 64 concurrent keep-alive connections,
by 2 client processes (`benchmarks.loadgen`) that share the connections.

gradlab answers a `POST /backward` body it has answered before from a per-worker cache of
answers (`x-gradlab-cache: hit`), so a body sent again and again is computed once per worker.
That is the class that posts the same example, but it says nothing of the computation: each
request is therefore sent both ways, with the same body every time (repeated body) and with a
body whose values are new every time (never a cache hit, always computed):

- `seed, check full`: the `seed_sum` example with `"check": {"mode": "full"}`; its new
  values: x[0] = 1 + n × 10⁻⁶ for the request's number n;
- `seed, check off`: the same with `"check": {"mode": "off"}`, new values only (its repeated
  body is a cache hit like the one above: the check's mode makes no difference to a hit);
- `MLP, check fast`: the `mlp` example with `"check": {"mode": "fast"}`; its new values: X's
  random values drawn from a new seed;
- `hello (ceiling)`: the hello app's `POST /hello`, sent the seed body (which it leaves
  unread): what the same HTTP stack and the same generator give when a request does nothing.

The seed with the full check and the hello app run at both connection counts; the others at
16 only (the MLP computed at 64 connections queues longer than the window). Each request's
body is sent first and its answer checked (a 200, the expected tensors, the check in the mode
asked for and passed; a new-values body twice, answered apart and computed both times). A run
reports the answers per second, the latencies' median and 99th percentile, the errors (an
answer other than 200, a broken connection, an answer later than 30 s), the ratio to the hello
app's rate at the same workers and connections, the share of answers that were cache hits,
and the CPU the server's processes and the clients used over the window, read from /proc and
from the clients themselves: that says whether the generator could be what limits.

Also, on 1 worker, one client sending one request at a time: the latency of one request
with nothing else going on, for the target on the MLP's time per request.

gradlab's servers get the thread variables as found, and `python -m app` sets each one left
unset to 1: unless the environment says otherwise, NumPy's BLAS on one thread per worker. To
show why, the computed MLP is run once more on a server with BLAS unpinned: the three variables
set to the machine's core count, the threads OpenBLAS starts when nothing pins it.
"""

from __future__ import annotations

import copy
import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.examples import EXAMPLES
from benchmarks.harness import format_seconds, machine_lines, version
from benchmarks.serving import (
    DEPLOYED_THREADS,
    UNPINNED_THREADS,
    Kind,
    Request,
    Run,
    deployed_threads,
    drive,
    serving,
    threads_text,
    verify,
)

KINDS: tuple[Kind, ...] = ("hello", "gradlab")
WORKERS = (1, 2)
CONNECTIONS = (16, 64)
CLIENT_PROCESSES = 2
WARMUP = 1.0
DURATION = 4.0  # at the default budget; a smaller --budget shortens the runs in proportion
DEFAULT_BUDGET = 0.6
SEQUENTIAL_WARMUP = 0.5
SEQUENTIAL_DURATION = 2.0

# The targets.
CEILING_SHARE = 0.5  # seed with the full check: at least this share of the hello app's req/s
P99_LIMIT = 0.050  # seconds, at 64 connections on 2 workers
MLP_LIMIT = 0.100  # seconds per MLP request with the fast check

# A new body's number: the load generator writes it over this token, as many digits, so that up
# to 10^6 bodies sent to one server all differ. Where it goes in an example, as JSON text: the
# seed's x[0] becomes 1.000000 to 1.999999 (float32 tells steps of 10⁻⁶ apart near 1, so the
# values do change), the MLP's seed of X becomes 1,000,000 and up.
VARY = "######"
VARIED = {
    "seed_sum": (("leaves", "x", "value", 0), f"1.{VARY}"),
    "mlp": (("leaves", "X", "seed"), f"1{VARY}"),
}
SEED_TENSORS = {"x", "y", "xx", "yy", "xy", "z", "s"}
MLP_TENSORS = {"X", "W1", "b1", "W2", "b2", "labels", "h", "logits", "loss"}


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    kind: Kind
    request: Request
    expect: Callable[[Any], bool]  # accepts the answer of the request sent once before the load
    connections: tuple[int, ...] = CONNECTIONS

    @property
    def new_values(self) -> bool:
        return self.request.vary is not None


def body(example: str, mode: str) -> bytes:
    return json.dumps({**EXAMPLES[example]["value"], "check": {"mode": mode}}).encode()


def varied_body(example: str, mode: str) -> bytes:
    """The example's body with VARY in place of one value (see VARIED): a template for new values."""
    path, template = VARIED[example]
    value = copy.deepcopy(EXAMPLES[example]["value"])
    marker = "the request's number"
    parent = value
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = marker
    text = json.dumps({**value, "check": {"mode": mode}})
    return text.replace(json.dumps(marker), template, 1).encode()


def _checked(mode: str, tensors: set[str]) -> Callable[[Any], bool]:
    """A 200's answer with every tensor expected, and the check in `mode`, passed (unless off)."""

    def expect(answer: Any) -> bool:
        check = answer.get("check", {})
        passed = check.get("passed") is (None if mode == "off" else True)
        return bool(set(answer.get("tensors", {})) == tensors and check.get("mode") == mode and passed)

    return expect


def _seed_gradients_right(mode: str) -> Callable[[Any], bool]:
    """As _checked, and x's gradient is 20 (x + y), worked out here from the values in the answer:
    the new values are computed, not only accepted."""
    checked = _checked(mode, SEED_TENSORS)

    def expect(answer: Any) -> bool:
        if not checked(answer):
            return False
        x, y = answer["tensors"]["x"], answer["tensors"]["y"]
        want = [20 * (a + b) for a, b in zip(x["value"], y["value"], strict=True)]
        return all(math.isclose(g, w, rel_tol=1e-5) for g, w in zip(x["grad"], want, strict=True))

    return expect


def workloads() -> list[Workload]:
    seed_full = body("seed_sum", "full")
    backward = "/backward"
    return [
        Workload(
            "hello",
            "hello (ceiling)",
            "hello",
            Request("POST", "/hello", seed_full),
            lambda answer: answer == {"hello": "world"},
        ),
        Workload(
            "hello-async",
            "hello, async endpoint (no thread pool)",
            "hello",
            Request("POST", "/hello-async", seed_full),
            lambda answer: answer == {"hello": "world"},
            connections=(16,),
        ),
        Workload(
            "seed-full",
            "seed, check full, repeated body (cache hits)",
            "gradlab",
            Request("POST", backward, seed_full),
            _checked("full", SEED_TENSORS),
        ),
        Workload(
            "seed-full-new",
            "seed, check full, new values each request (computed)",
            "gradlab",
            Request("POST", backward, varied_body("seed_sum", "full"), VARY),
            _seed_gradients_right("full"),
        ),
        Workload(
            "seed-off-new",
            "seed, check off, new values each request (computed)",
            "gradlab",
            Request("POST", backward, varied_body("seed_sum", "off"), VARY),
            _seed_gradients_right("off"),
            connections=(16,),
        ),
        Workload(
            "mlp-fast",
            "MLP, check fast, repeated body (cache hits)",
            "gradlab",
            Request("POST", backward, body("mlp", "fast")),
            _checked("fast", MLP_TENSORS),
            connections=(16,),
        ),
        Workload(
            "mlp-fast-new",
            "MLP, check fast, new values each request (computed)",
            "gradlab",
            Request("POST", backward, varied_body("mlp", "fast"), VARY),
            _checked("fast", MLP_TENSORS),
            connections=(16,),
        ),
    ]


@dataclass
class Results:
    load: dict[tuple[str, int, int], Run]  # (workload, workers, connections)
    sequential: dict[str, Run]  # one client, one connection, 1 worker
    unpinned: Run  # the MLP with new values on UNPINNED_SETTING with BLAS unpinned (UNPINNED_THREADS)
    unpinned_sequential: Run  # the same server, one request at a time
    warmup: float
    duration: float
    sequential_duration: float


# Besides: the MLP, computed, once more with the server's BLAS unpinned, a thread per core (workers, connections).
UNPINNED_SETTING = (2, 16)


def _logged(log: Callable[[str], None], what: str, run: Run) -> Run:
    late = f" (a client started {run.late_start:.2f} s late)" if run.late_start > 0.1 else ""
    log(
        f"  {what}: {run.rate:7.1f} req/s, p50 {format_seconds(run.percentile(50))}, "
        f"p99 {format_seconds(run.percentile(99))}, errors {sum(run.errors.values())}, "
        f"cache hits {_hits(run)}, clients CPU {run.client_cpu / run.duration:.2f}, "
        f"other CPU {run.other_cpu / run.duration:.2f}{late}"
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
                            sequential[w.key] = _logged(log, f"{w.key:<13} 1 worker, 1 connection, sequential", run)
                    for w in mine:
                        for connections in w.connections:
                            run = drive(server, w.request, connections, CLIENT_PROCESSES, WARMUP, duration, folder)
                            what = f"{w.key:<13} {workers} worker(s), {connections:>2} connections"
                            load[w.key, workers, connections] = _logged(log, what, run)
        workers, connections = UNPINNED_SETTING
        with serving("gradlab", workers, folder, **UNPINNED_THREADS) as server:
            mlp = by_key["mlp-fast-new"]
            verify(server, mlp.request, mlp.expect)
            run = drive(server, mlp.request, 1, 1, SEQUENTIAL_WARMUP, sequential_duration, folder)
            unpinned_sequential = _logged(log, "mlp-fast-new  BLAS unpinned, 1 connection, sequential", run)
            run = drive(server, mlp.request, connections, CLIENT_PROCESSES, WARMUP, duration, folder)
            what = f"mlp-fast-new  BLAS unpinned, {workers} worker(s), {connections:>2} connections"
            unpinned = _logged(log, what, run)
    return Results(load, sequential, unpinned, unpinned_sequential, WARMUP, duration, sequential_duration)


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


def _hits(run: Run) -> str:
    return f"{run.hit_fraction:.2f}" if run.answered else "–"


def _per_answer(run: Run) -> str:
    return format_seconds(run.server_cpu / run.answered) if run.answered else "–"


def _cpu(run: Run, duration: float) -> str:
    """The server's CPU in cores, and by process where it has several busy ones."""
    split = f" ({' + '.join(f'{c / duration:.2f}' for c in run.server_split)})" if len(run.server_split) > 1 else ""
    return f"{run.server_cpu / duration:.2f}{split}"


def _workers(n: int) -> str:
    return f"{n} worker{'s' if n > 1 else ''}"


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
                f"With {_workers(workers)}, server and clients together kept the "
                f"machine busy ({both:.2f} of {cores} cores): the clients' {clients:.2f} of a core is CPU the "
                "server could otherwise have had, so this ceiling is that of a machine that also runs its "
                "clients, as every run here is."
            )
        elif server >= 0.85 * workers:
            sentences.append(
                f"With {_workers(workers)}, the hello server used {server:.2f} cores "
                f"with the machine not saturated ({both:.2f} of {cores} cores busy in all): each worker is one "
                "process, held by its GIL to about one core, and the server is what limits."
            )
        else:
            sentences.append(
                f"With {_workers(workers)}, neither the server ({server:.2f} cores) nor "
                f"the machine ({both:.2f} of {cores}) was saturated: what limits is the server's own round trip "
                "(event loop, thread pool, loopback), not CPU."
            )
    return " ".join(sentences)


def _gradlab_clients(load: dict[tuple[str, int, int], Run], hello_clients: float, d: float, cores: int) -> str:
    """How much the clients needed driving gradlab, against what they needed for the hello app."""
    busier: dict[str, list[Run]] = {key: [] for key, _, _ in load if not key.startswith("hello")}
    for (key, _, _), r in load.items():
        if not key.startswith("hello") and r.answered and r.client_cpu / d > hello_clients:
            busier[key].append(r)
    computed = max(r.client_cpu / d for (key, _, _), r in load.items() if key.endswith("-new"))
    titles = {w.key: w.title for w in workloads()}
    if not any(busier.values()):
        return (
            f"Driving gradlab the clients need less (at most {computed:.2f} of a core in all), which leaves "
            "gradlab's server a little more of the machine than the hello server had: if anything, the ratios "
            "to the ceiling flatter gradlab slightly."
        )
    worst = [
        f"{titles[key]} up to {max(r.client_cpu for r in runs) / d:.2f} of a core "
        f"({format_seconds(max(r.client_cpu / r.answered for r in runs))} per answer)"
        for key, runs in busier.items()
        if runs
    ]
    both = max((r.server_cpu + r.client_cpu) / d for runs in busier.values() for r in runs)
    return (
        "The clients needed more than for the hello app in these runs (the cache hits among them are the "
        f"fastest answers here): {', '.join(worst)}. There server and clients together used up to {both:.2f} of "
        f"{cores} cores, so the clients' share is CPU the server did not have: those rates are a floor of "
        "what the server alone could give. The computed requests need the clients little (at most "
        f"{computed:.2f} of a core in all)."
    )


# Other work's CPU, in cores, above which a run is said to have been disturbed by it.
DISTURBED = 0.1


def _others(results: Results) -> str:
    """Whether anything but the server and the clients used the machine's CPU during the runs: this
    machine may be shared, and the runs are only as good as it was quiet."""
    titles = {w.key: w.title for w in workloads()}
    workers, connections = UNPINNED_SETTING
    unpinned = f"{titles['mlp-fast-new']}, BLAS unpinned, {_workers(workers)}"
    runs = [
        *((f"{titles[key]}, {_workers(w)} × {c} connections", r) for (key, w, c), r in results.load.items()),
        *((f"{titles[key]}, 1 worker × 1 connection", r) for key, r in results.sequential.items()),
        (f"{unpinned} × {connections} connections", results.unpinned),
        (f"{unpinned} × 1 connection", results.unpinned_sequential),
    ]
    most = max(r.other_cpu / r.duration for _, r in runs)
    disturbed = [f"{what} ({r.other_cpu / r.duration:.2f})" for what, r in runs if r.other_cpu / r.duration > DISTURBED]
    text = (
        "Other work on the machine, its busy CPU (from /proc/stat) less the server's and the clients' (other "
        "processes, and the kernel's work charged to neither, some of the loopback's among it): at most "
        f"{most:.2f} of a core in any run"
    )
    if not disturbed:
        return text + "."
    return text + f"; over {DISTURBED:.2f} in these, whose figures it may have lowered: {'; '.join(disturbed)}."


def report(results: Results) -> str:
    all_workloads = workloads()
    by_key = {w.key: w for w in all_workloads}
    load, d = results.load, results.duration
    lines = [
        "## The service under load, against a do-nothing FastAPI app",
        "",
        *machine_lines(("app", "engine")),
        f"- uvicorn {version('uvicorn')}, fastapi {version('fastapi')}, starlette {version('starlette')}, "
        f"pydantic {version('pydantic')}, uvloop {version('uvloop')}, httptools {version('httptools')}",
        "- Servers: `python -m app` and `python -m uvicorn benchmarks.hello_app:app`, on 127.0.0.1, with "
        "`GRADLAB_WORKERS` / `--workers` 1 and 2, log level info (gradlab's default: one log line a "
        "request, to a file), no access log, every other setting its default (the answer cache among them), "
        f"and gradlab's thread variables as `make run` has them: {deployed_threads()} (the Docker image sets "
        "`OPENBLAS_NUM_THREADS=1`; why one BLAS thread per worker: the MLP with BLAS unpinned, below).",
        f"- Load: {CLIENT_PROCESSES} client processes (`benchmarks/loadgen.py`: asyncio on uvloop, HTTP/1.1 "
        f"over bare sockets, keep-alive), sharing the connections; each connection sends its next request "
        f"when the answer is in (closed loop). {results.warmup:g} s of warm-up, then {d:g} s measured. "
        "The ceiling is measured with the same generator, in the same run.",
        "- Bodies: a *repeated body* is the same bytes every time, which gradlab answers from its per-worker "
        "answer cache after the first (`x-gradlab-cache: hit`): what a class posting the same example costs. "
        "*New values each request*: every body has a number of its own, written into one value (the seed's "
        "x[0] = 1 + n × 10⁻⁶; the seed of the MLP's X), so that no answer can come from the cache and every "
        "one is computed (the compiled graph, which does not depend on the values, is still reused). Cache "
        "hits: the share of the window's answers marked as hits. A hit is answered by gradlab's middleware, "
        "before FastAPI's routing, validation and thread pool, which every hello request goes through: the "
        "hello app is no ceiling for hits, and their ratio to it can exceed 1.",
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
        "- Runs: the hello app and the seed with the full check at 16 and 64 connections; the seed with the "
        "check off and the MLP at 16 only, to keep the whole benchmark within a few minutes (the computed "
        "MLP's queue at 64 connections would be longer than the window).",
        "",
        "| workers | connections | request | req/s | p50 | p99 | errors | unanswered at the end | / ceiling "
        "| cache hits | server CPU | clients CPU | server CPU / answer |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for workers in WORKERS:
        for connections in CONNECTIONS:
            ceiling = load["hello", workers, connections].rate
            for w in all_workloads:
                if connections not in w.connections:
                    continue
                r = load[w.key, workers, connections]
                lines.append(
                    f"| {workers} | {connections} | {w.title} | {_rate(r)} | {_latency(r, 50)} | "
                    f"{_latency(r, 99)} | {_errors(r)} | {r.unanswered} | {r.rate / ceiling:.3f} | {_hits(r)} | "
                    f"{_cpu(r, d)} | {r.client_cpu / d:.2f} | {_per_answer(r)} |"
                )

    cores = os.cpu_count() or 1
    hello_runs = [(workers, c, load["hello", workers, c]) for workers in WORKERS for c in CONNECTIONS]
    client_per_answer = max(r.client_cpu / r.answered for _, _, r in hello_runs)
    hello_clients = max(r.client_cpu / d for _, _, r in hello_runs)
    busiest_client = max(cpu / d for r in load.values() for cpu in r.client_split)
    lines += [
        "",
        "### Is the generator the bottleneck?",
        "",
        "The hello app is where the generator sends the most requests. Its runs, with the CPU each side used "
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
        f"Each client process used at most {busiest_client:.2f} of a core in any run, of the 1.00 it could use, "
        f"and the clients at most {format_seconds(client_per_answer)} of CPU per answer of the hello app: the "
        "generator was never near saturation. "
        + _ceiling_limits(hello_runs, d, cores)
        + " "
        + _gradlab_clients(load, hello_clients, d, cores),
        "",
        _others(results),
    ]

    seq = results.sequential
    lines += [
        "",
        "### One request at a time",
        "",
        f"1 worker, one client process with one connection, sequential requests, {SEQUENTIAL_WARMUP:g} s of "
        f"warm-up then {results.sequential_duration:g} s measured:",
        "",
        "| request | req/s | p50 | p99 | mean | cache hits |",
        "|---|---|---|---|---|---|",
        *(
            f"| {by_key[key].title} | {r.rate:,.1f} | {_latency(r, 50)} | {_latency(r, 99)} | "
            f"{format_seconds(r.mean)} | {_hits(r)} |"
            for key, r in seq.items()
        ),
    ]
    lines += ["", *_where_cpu_goes(results)]
    lines += ["", *_targets(results)]
    return "\n".join(lines) + "\n"


def _where_cpu_goes(results: Results) -> list[str]:
    """A seed request's server CPU, split by what differs between the runs at 1 worker, 16 connections."""
    load = results.load
    keys = ("hello", "hello-async", "seed-full", "seed-off-new", "seed-full-new")
    cpu = {key: load[key, 1, 16].server_cpu / load[key, 1, 16].answered for key in keys}
    workers, connections = UNPINNED_SETTING
    deployed, unpinned = load["mlp-fast-new", workers, connections], results.unpinned
    unpinned_seq = results.unpinned_sequential
    pinned = all(value == "1" for value in DEPLOYED_THREADS.values())
    as_deployed = f"{'BLAS pinned to one thread: ' if pinned else ''}{threads_text(DEPLOYED_THREADS)}"
    return [
        "### Where the server's CPU goes",
        "",
        f"Per answer, at 1 worker and 16 connections: hello {format_seconds(cpu['hello'])}; the seed's repeated "
        f"body, answered from the cache, {format_seconds(cpu['seed-full'])}; new values each request, computed: "
        f"with the check off {format_seconds(cpu['seed-off-new'])}, with the full check "
        f"{format_seconds(cpu['seed-full-new'])}. So of a computed seed request with the full check, the check "
        f"costs about {format_seconds(cpu['seed-full-new'] - cpu['seed-off-new'])}, the rest of gradlab "
        "(validation, the engine, the answer, the cache's look-up and store, its middleware and log line) "
        f"{format_seconds(cpu['seed-off-new'] - cpu['hello'])}, and the HTTP stack as the hello app has it "
        f"{format_seconds(cpu['hello'])}. Half the ceiling's rate means at most twice the hello app's CPU per "
        f"answer, about {format_seconds(2 * cpu['hello'])}.",
        "",
        f"The thread pool's hop: the hello app's endpoint as `async def`, run on the event loop, takes "
        f"{format_seconds(cpu['hello-async'])} per answer against {format_seconds(cpu['hello'])} as `def`, run in "
        f"FastAPI's thread pool: the hop costs {format_seconds(cpu['hello'] - cpu['hello-async'])} a request "
        f"({(cpu['hello'] - cpu['hello-async']) / cpu['hello']:.0%} of the sync endpoint's CPU). A cache hit never "
        "takes it (it is answered in gradlab's middleware, before routing); a computed request keeps it on "
        "purpose: run on the event loop, a request that computes for seconds would hold up every other, "
        "cache hits and health checks included.",
        "",
        "The MLP's answer is megabytes of JSON (see the request profile for its steps). Its matrix products run "
        "in NumPy's BLAS, which, when nothing pins it, starts a thread per core in every worker process: more "
        "threads than cores under load. The MLP with new values once more on a server with BLAS unpinned, the "
        f"thread variables set to the machine's core count ({threads_text(UNPINNED_THREADS)}), at {workers} "
        f"workers and {connections} connections: {_rate(unpinned)} req/s, p50 {_latency(unpinned, 50)}, p99 "
        f"{_latency(unpinned, 99)}, server CPU / answer {_per_answer(unpinned)}, against {_rate(deployed)} "
        f"req/s, p50 {_latency(deployed, 50)} and {_per_answer(deployed)} on the server as deployed above "
        f"({as_deployed}); one request at a time on the unpinned server: p50 {_latency(unpinned_seq, 50)}, "
        f"p99 {_latency(unpinned_seq, 99)}.{_why_pinned(deployed, unpinned, pinned)}",
    ]


def _why_pinned(deployed: Run, unpinned: Run, pinned: bool) -> str:
    """What pinning gained under load, said only where the deployed server was pinned and did better."""
    if not pinned or deployed.rate <= unpinned.rate:
        return ""
    gain = f"{deployed.rate / unpinned.rate:.1f} times the rate" if unpinned.answered else "its answers, against none"
    return f" One BLAS thread per worker, as `python -m app` sets where nothing says otherwise, gave {gain} here."


def _targets(results: Results) -> list[str]:
    """Each target twice: with the repeated body (cache hits) and with new values (computed)."""
    load, seq = results.load, results.sequential
    settings = [(workers, c) for workers in WORKERS for c in CONNECTIONS]
    lines = [
        "### Targets",
        "",
        "Each target is given for the repeated body, answered from the cache, and for new values each "
        "request, computed: the first is what a class posting the same example sees, the second what the "
        "computation costs.",
        "",
        "| target | body | measured | |",
        "|---|---|---|---|",
    ]
    for key, what in (("seed-full", "repeated (cache hits)"), ("seed-full-new", "new values (computed)")):
        ratios = {(w, c): load[key, w, c].rate / load["hello", w, c].rate for w, c in settings}
        measured = ", ".join(f"{_workers(w)} × {c} connections {ratio:.3f}" for (w, c), ratio in ratios.items())
        lines.append(
            f"| seed with the full check at ≥ {CEILING_SHARE:.0%} of the hello app's req/s, same workers and "
            f"connections | {what} | seed full / hello: {measured} | {_met(min(ratios.values()) >= CEILING_SHARE)} |"
        )
    hello_p99 = _latency(load["hello", 2, 64], 99)
    for key, what in (("seed-full", "repeated (cache hits)"), ("seed-full-new", "new values (computed)")):
        r = load[key, 2, 64]
        lines.append(
            f"| p99 under {format_seconds(P99_LIMIT)} at 64 connections on 2 workers, seed with the full check | "
            f"{what} | {_latency(r, 99)} (hello: {hello_p99}) | {_met(r.percentile(99) < P99_LIMIT)} |"
        )
    for key, what in (("mlp-fast", "repeated (cache hits)"), ("mlp-fast-new", "new values (computed)")):
        r = seq[key]
        unpinned = (
            f" (with BLAS unpinned: p50 {_latency(results.unpinned_sequential, 50)}, on a server of "
            f"{_workers(UNPINNED_SETTING[0])})"
        )
        lines.append(
            f"| MLP with the fast check under {format_seconds(MLP_LIMIT)} per request (one request at a time, "
            f"1 worker, p50) | {what} | {_latency(r, 50)}, p99 {_latency(r, 99)}"
            f"{unpinned if key == 'mlp-fast-new' else ''} | {_met(r.percentile(50) < MLP_LIMIT)} |"
        )
    return lines
