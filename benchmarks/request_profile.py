"""Where one request's time goes: its steps in-process, and what HTTP adds around them.

In-process, each request runs the steps of `POST /backward` (app/routes/backward.py) one by
one, each timed on its own (perf_counter, the garbage collector on):

- validation: `app.schemas.BackwardRequest.model_validate_json` of the body's bytes
  (FastAPI itself parses with json.loads, then validates the dict: about the same work);
- `model_dump`: the validated body as the plain spec the engine takes;
- compile: `engine.spec.compile_spec`;
- forward + backward: `Program.run`;
- answer-size checks: both `app.answer.ensure_fits`;
- check: `engine.check.run_check`;
- serialization: `app.answer.answer_json`, the answer's bytes.

Each step's median over the requests is given, with the median of the whole. A cProfile of
the seed request with the full check then says which functions the time is spent in.

Through HTTP: gradlab (`python -m app`) and the hello app (`benchmarks.hello_app`), each on
1 worker, driven by one client process with one connection, one request at a time (the
load generator of `benchmarks.load`). gradlab answers a body it has answered before from its
answer cache, so the seed with the full check and the MLP are each sent two ways, as in
`benchmarks.load`: the same body every time (cache hits, nothing computed) and new values in
every body (never a hit, all computed). What HTTP, uvicorn, FastAPI and gradlab's middleware
add to a computed request is its latency there minus its time in-process. These servers pin
NumPy's BLAS to one thread, as this process is pinned (and as `python -m app` does where the
environment leaves it unset); the computed MLP is run once more on a server with BLAS unpinned,
the thread variables set to the machine's core count, the threads OpenBLAS starts when nothing
pins it.
"""

from __future__ import annotations

import cProfile
import gc
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from app.answer import answer_json, ensure_fits
from app.schemas import BackwardRequest
from app.settings import Settings
from benchmarks.harness import format_seconds, machine_lines
from benchmarks.load import Workload, body, workloads
from benchmarks.serving import PINNED_THREADS, UNPINNED_THREADS, Run, Server, drive, serving, threads_text, verify
from engine.check import run_check
from engine.limits import Guard
from engine.spec import compile_spec

T = TypeVar("T")
STEPS = (
    "validation (`model_validate_json`)",
    "`model_dump`",
    "compile (`compile_spec`)",
    "forward + backward (`Program.run`)",
    "answer-size checks (`ensure_fits`)",
    "check (`run_check`)",
    "serialization (`answer_json`)",
)
WORKLOADS = {  # key: (title, example, check mode)
    "seed-full": ("seed, check full", "seed_sum", "full"),
    "seed-off": ("seed, check off", "seed_sum", "off"),
    "mlp-fast": ("MLP, check fast", "mlp", "fast"),
}
# Through HTTP, after the hello app: benchmarks.load's workloads of these keys, each the request of
# the in-process workload whose key it starts with, with a repeated body or new values.
HTTP_WORKLOADS = ("seed-full", "seed-full-new", "seed-off-new", "mlp-fast", "mlp-fast-new")
MIN_REQUESTS = 5
PROFILED_REQUESTS = 200
TOP = 15
SEQUENTIAL_WARMUP = 0.5
SEQUENTIAL_DURATION = 2.0


def one_request(raw: bytes, settings: Settings) -> tuple[list[float], int]:
    """The route's steps on one body: each step's seconds (by STEPS), and the check's evaluations."""
    seconds = [0.0] * len(STEPS)

    def timed(step: int, fn: Callable[..., T], *args: Any) -> T:
        start = time.perf_counter()
        out = fn(*args)
        seconds[step] += time.perf_counter() - start
        return out

    limits = settings.limits()
    request = timed(0, BackwardRequest.model_validate_json, raw)
    spec = timed(1, request.model_dump)
    deadline = time.monotonic() + limits.time_limit_seconds
    program = timed(2, compile_spec, spec, limits)
    result = timed(3, program.run, deadline)
    timed(4, ensure_fits, result, None, settings.max_answer_elements)
    report = timed(5, run_check, program, spec["check"], deadline)
    timed(4, ensure_fits, result, report, settings.max_answer_elements)
    timed(6, answer_json, result, report, Guard(limits, deadline).check_time)
    return seconds, report.evaluations


@dataclass
class Steps:
    medians: list[float]  # by STEPS
    total: float  # median of the whole request
    requests: int
    evaluations: int


def time_steps(raw: bytes, settings: Settings, seconds: float) -> Steps:
    one_request(raw, settings)  # warm-up
    samples: list[list[float]] = []
    evaluations = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(samples) < MIN_REQUESTS:
        steps, evaluations = one_request(raw, settings)
        samples.append(steps)
    medians = [statistics.median(column) for column in zip(*samples, strict=True)]
    return Steps(medians, statistics.median(sum(s) for s in samples), len(samples), evaluations)


@dataclass
class Hotspot:
    function: str
    calls: float  # per request
    own: float  # seconds per request, profiled
    cumulative: float


@dataclass
class Profile:
    hotspots: list[Hotspot]  # the TOP functions by own time
    by_file: dict[str, float]  # own time per request by source file (or library), largest first
    total: float  # seconds per request, profiled


def profile(raw: bytes, settings: Settings, requests: int) -> Profile:
    """cProfile of `requests` requests."""
    one_request(raw, settings)
    gc.collect()
    gc.disable()  # a collection's time is not charged to whichever function triggered it
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        for _ in range(requests):
            one_request(raw, settings)
    finally:
        profiler.disable()
        gc.enable()
    entries = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in entries.values()) / requests
    hot = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:TOP]
    by_file: dict[str, float] = {}
    for (file, _, _), (_, _, tt, _, _) in entries.items():
        where = _file(file)
        by_file[where] = by_file.get(where, 0.0) + tt / requests
    return Profile(
        [
            Hotspot(
                f"`{_file(file)}:{line} {name}`" if file != "~" else f"`{name}`",
                nc / requests,
                tt / requests,
                ct / requests,
            )
            for (file, line, name), (_, nc, tt, ct, _) in hot
        ],
        dict(sorted(by_file.items(), key=lambda item: item[1], reverse=True)),
        total,
    )


def _file(file: str) -> str:
    """The project's files by their path; a library by its name; built-ins (NumPy's kernels
    among them) as one."""
    if file == "~":
        return "built-ins (C: NumPy's ufuncs and methods, Python's builtins)"
    parts = Path(file).parts
    for i, part in enumerate(parts):
        if part in {"engine", "app", "benchmarks"} and i + 1 < len(parts) and parts[i - 1] != "site-packages":
            return "/".join(parts[i:])
    if "site-packages" in parts:
        return f"{parts[parts.index('site-packages') + 1]} (library)"
    return "Python's standard library"


def http_latencies(log: Callable[[str], None], duration: float) -> dict[str, Run]:
    """One client, one connection, one request at a time, on 1 worker.

    The servers' libraries are pinned to one thread, as this process's are, so that their time
    compares with the in-process one; the computed MLP is also run on a server with BLAS unpinned,
    a thread per core ("mlp-fast-new-unpinned")."""
    runs: dict[str, Run] = {}
    by_key = {w.key: w for w in workloads()}
    with tempfile.TemporaryDirectory(prefix="gradlab-request-") as tmp:
        folder = Path(tmp)

        def sequential(server: Server, key: str, w: Workload) -> None:
            verify(server, w.request, w.expect)
            runs[key] = drive(server, w.request, 1, 1, SEQUENTIAL_WARMUP, duration, folder)
            r = runs[key]
            log(f"  {key:<21} through HTTP: p50 {format_seconds(r.percentile(50))}, cache hits {r.hit_fraction:.2f}")

        with serving("hello", 1, folder, **PINNED_THREADS) as server:
            sequential(server, "hello", by_key["hello"])
        with serving("gradlab", 1, folder, **PINNED_THREADS) as server:
            for key in HTTP_WORKLOADS:
                sequential(server, key, by_key[key])
        with serving("gradlab", 1, folder, **UNPINNED_THREADS) as server:
            sequential(server, "mlp-fast-new-unpinned", by_key["mlp-fast-new"])
    return runs


def _computes(key: str) -> str:
    """The in-process workload that an HTTP workload's request computes when it is not a cache hit."""
    return key.removesuffix("-new")


def run(budget: float = 0.6, log: Callable[[str], None] = print) -> str:
    settings = Settings()
    steps: dict[str, Steps] = {}
    for key, (_, example, mode) in WORKLOADS.items():
        steps[key] = time_steps(body(example, mode), settings, 2 * budget)
        log(f"  {key:<9} in-process: {format_seconds(steps[key].total)} ({steps[key].requests} requests)")
    profiled = profile(body("seed_sum", "full"), settings, PROFILED_REQUESTS)
    http = http_latencies(log, SEQUENTIAL_DURATION * min(1.0, budget / 0.6))
    return report(steps, profiled, http, budget)


def report(steps: dict[str, Steps], profiled: Profile, http: dict[str, Run], budget: float) -> str:
    keys = list(WORKLOADS)
    lines = [
        "## One request, step by step",
        "",
        *machine_lines(("app", "engine")),
        f"- In-process: the route's steps timed one by one, for about {2 * budget:g} s of requests per "
        f"request body (at least {MIN_REQUESTS}), with the default settings, NumPy's BLAS on one thread; "
        "each cell is the step's median, and its share of the sum of the medians. The garbage collector "
        "is on.",
        "",
        "| step | " + " | ".join(WORKLOADS[k][0] for k in keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for i, step in enumerate(STEPS):
        cells = []
        for k in keys:
            share = steps[k].medians[i] / sum(steps[k].medians)
            cells.append(f"{format_seconds(steps[k].medians[i])} ({share:.0%})")
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    lines += [
        "| **whole request, in-process** (median) | "
        + " | ".join(f"**{format_seconds(steps[k].total)}**" for k in keys)
        + " |",
        "| the check's forward evaluations | " + " | ".join(f"{steps[k].evaluations:,}" for k in keys) + " |",
        "| requests timed | " + " | ".join(f"{steps[k].requests:,}" for k in keys) + " |",
    ]

    hello = http["hello"]
    unpinned = http["mlp-fast-new-unpinned"]
    titles = {w.key: w.title for w in workloads()}
    lines += [
        "",
        "### Through HTTP",
        "",
        "One client process, one keep-alive connection, one request at a time, 1 worker, log level info; "
        f"servers with NumPy's BLAS pinned to one thread like the in-process run ({threads_text(PINNED_THREADS)}, "
        "as `python -m app` sets them where the environment leaves them unset) but for the last row, whose "
        "server has BLAS unpinned, the variables set to the machine's core count, the threads OpenBLAS starts "
        "when nothing pins it. The hello app is sent the seed "
        "body with the full check (it leaves it unread). gradlab answers a body it has answered before from "
        "its answer cache: a *repeated body* is such a cache hit every time but the first, nothing computed; "
        "*new values each request* puts a new number in every body (as the load benchmark does: the seed's "
        "x[0], the seed of the MLP's X), so that each is computed. Cache hits: the share of the answers "
        "marked `x-gradlab-cache: hit`. Overhead, for the computed requests = latency through HTTP − the "
        "whole request in-process: what the loopback, uvicorn, FastAPI (routing, JSON parsing, validation, "
        "the thread pool) and gradlab's middleware (body-size limit, the cache's look-up and store, one log "
        "line a request) add.",
        "",
        "| request | in-process | through HTTP, p50 | p99 | cache hits | overhead (p50 − in-process) "
        "| overhead / hello's p50 |",
        "|---|---|---|---|---|---|---|",
        f"| hello (ceiling) | – | {format_seconds(hello.percentile(50))} | {format_seconds(hello.percentile(99))} "
        f"| {_hits(hello)} | – | – |",
    ]
    for key in HTTP_WORKLOADS:
        lines.append(_http_row(titles[key], http[key], steps[_computes(key)].total, hello, key.endswith("-new")))
    lines += [
        f"| {titles['mlp-fast-new']}, server with BLAS unpinned ({threads_text(UNPINNED_THREADS)}) | – | "
        f"{format_seconds(unpinned.percentile(50))} | {format_seconds(unpinned.percentile(99))} | "
        f"{_hits(unpinned)} | – | – |",
    ]

    lines += [
        "",
        f"### The seed request with the full check, by function (cProfile, {PROFILED_REQUESTS} requests)",
        "",
        "cProfile slows Python calls down, so the profiled request takes "
        f"{format_seconds(profiled.total)} instead of {format_seconds(steps['seed-full'].total)}: read the "
        "shares, not the times. The collector is off while profiling. Own time: time in a function's own "
        "code, not in what it calls.",
        "",
        "Own time by file:",
        "",
        "| file | own time / request | share |",
        "|---|---|---|",
        *(
            f"| {where} | {format_seconds(own)} | {own / profiled.total:.1%} |"
            for where, own in list(profiled.by_file.items())[:10]
        ),
        "",
        f"The {TOP} functions with the most own time:",
        "",
        "| function | calls / request | own time / request | share of own time | cumulative / request |",
        "|---|---|---|---|---|",
        *(
            f"| {h.function} | {h.calls:,.0f} | {format_seconds(h.own)} | {h.own / profiled.total:.1%} | "
            f"{format_seconds(h.cumulative)} |"
            for h in profiled.hotspots
        ),
    ]
    return "\n".join(lines) + "\n"


def _hits(run: Run) -> str:
    return f"{run.hit_fraction:.2f}" if run.answered else "–"


def _http_row(title: str, r: Run, in_process: float, hello: Run, computed: bool) -> str:
    """A gradlab request through HTTP; the overhead over its time in-process if it was computed."""
    p50, p99 = format_seconds(r.percentile(50)), format_seconds(r.percentile(99))
    if not computed:
        return f"| {title} | – (not computed) | {p50} | {p99} | {_hits(r)} | – | – |"
    overhead = r.percentile(50) - in_process
    # None measured where HTTP's median came out under the in-process time (noise): a dash in both columns.
    said = (format_seconds(overhead), f"{overhead / hello.percentile(50):.1f}") if overhead > 0 else ("–", "–")
    return f"| {title} | {format_seconds(in_process)} | {p50} | {p99} | {_hits(r)} | {said[0]} | {said[1]} |"
