"""The finite-difference check's cost against the size of the tensor it checks, in-process.

One smooth graph: a leaf x of n float32 elements (`init: uniform`, requiring grad),
y = tanh(x) * x, s = sum(y), backward from s, for n = 10 ... 100,000. One request is what
`POST /backward` does with it short of the JSON: `engine.spec.compile_spec`, `Program.run`
(forward and backward) and `engine.check.run_check(program, {"mode": ...})`, in full and in
fast mode, with limits raised (`max_check_evaluations`, the time limit) so that nothing is
refused. The count of forward evaluations is the check's own (`report.evaluations`).

Full mode costs PER_DERIVATIVE (6) evaluations per element, so its time grows as n times the
time of one evaluation, itself growing with n: it is predicted first (the evaluations the
check estimates for itself × one evaluation's time, measured) and skipped where the
prediction is over FULL_LIMIT seconds. Auto mode runs full while the full check's estimate
stays within `Limits.auto_full_check_evaluations`: where it switches is computed from that
estimate, then confirmed by running auto on both sides of the switch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.harness import format_seconds, machine_lines, measure
from engine import dtypes
from engine.check import CheckReport, estimate_evaluations, run_check
from engine.grad_mode import no_grad
from engine.limits import Limits, setting
from engine.spec import compile_spec

SIZES = (10, 100, 1_000, 10_000, 100_000)
MODES = ("full", "fast")
FULL_LIMIT = 20.0  # seconds: full mode is skipped where one request would take longer
DEFAULTS = Limits()
LIMITS = Limits(max_check_evaluations=10**9, time_limit_seconds=3600.0)


def spec(n: int, mode: str) -> dict[str, Any]:
    return {
        "leaves": {"x": {"shape": [n], "init": "uniform", "requires_grad": True}},
        "nodes": [{"name": "y", "expr": "tanh(x) * x"}, {"name": "s", "expr": "sum(y)"}],
        "backward": {"root": "s"},
        "check": {"mode": mode},
    }


def request(n: int, mode: str, limits: Limits = LIMITS) -> CheckReport:
    """One request short of the JSON: compile, forward and backward, check."""
    raw = spec(n, mode)
    program = compile_spec(raw, limits)
    program.run()
    report = run_check(program, raw["check"])
    if report.passed is not True:
        raise AssertionError(f"the check of n={n}, mode {mode} did not pass: {report}")
    return report


def full_evaluations(n: int) -> int:
    """The evaluations the full check estimates for itself before it runs (retries aside)."""
    program = compile_spec(spec(n, "full"), LIMITS)
    with program.guard(), dtypes.default_dtype(dtypes.float64):
        env, calls = program.forward(program.leaf_arrays(float64=True))
        program.backward(env)
        return estimate_evaluations(program, env, calls, full=True)


def evaluation_time(n: int, budget: float) -> float:
    """One forward evaluation of the graph as the check makes it: float64, values only."""
    program = compile_spec(spec(n, "full"), LIMITS)
    leaves = program.leaf_arrays(float64=True)
    with program.guard(), dtypes.default_dtype(dtypes.float64), no_grad():

        def evaluate() -> None:
            program.evaluate_nodes(program.leaf_tensors(leaves, requires_grad=False))

        return measure(evaluate, budget).median


@dataclass
class Cell:
    seconds: float | None  # one request; None: skipped
    evaluations: int  # counted by the check; the prediction where skipped
    calls: int  # how many requests the time is from (1: a single one)
    predicted: float | None = None  # seconds, where skipped


def time_request(n: int, mode: str, budget: float) -> Cell:
    """One call if it is long, else `harness.measure`'s median."""
    start = time.perf_counter()
    report = request(n, mode)
    first = time.perf_counter() - start
    if first > budget / 3:
        return Cell(first, report.evaluations, 1)
    timing = measure(lambda: request(n, mode), budget)
    return Cell(timing.median, report.evaluations, timing.repeats * timing.number)


@dataclass
class Results:
    cells: dict[tuple[int, str], Cell]
    evaluation: dict[int, float]  # seconds of one evaluation, by size
    auto: dict[int, str]  # the mode auto ran, by size
    switch: int  # the largest n that auto runs in full mode
    switch_modes: tuple[str, str]  # what auto ran at switch and switch + 1
    cost: tuple[int, int]  # full evaluations = cost[0] * n + cost[1], as the check estimates


def measure_all(budget: float, log: Callable[[str], None]) -> Results:
    cells: dict[tuple[int, str], Cell] = {}
    evaluation: dict[int, float] = {}
    auto: dict[int, str] = {}
    for n in SIZES:
        evaluation[n] = evaluation_time(n, budget / 4)
        cells[n, "fast"] = time_request(n, "fast", budget)
        evaluations = full_evaluations(n)
        predicted = evaluations * evaluation[n]
        if predicted > FULL_LIMIT:
            cells[n, "full"] = Cell(None, evaluations, 0, predicted)
        else:
            cells[n, "full"] = time_request(n, "full", budget)
        auto[n] = request(n, "auto").mode
        for mode in MODES:
            cell = cells[n, mode]
            what = format_seconds(cell.seconds) if cell.seconds is not None else "skipped"
            log(f"  n={n:<7,} {mode}: {what}, {cell.evaluations:,} evaluations")
    # The full check's estimate is linear in n for this graph: a·n + b.
    b = full_evaluations(1) - (a := full_evaluations(2) - full_evaluations(1))
    switch = (DEFAULTS.auto_full_check_evaluations - b) // a
    modes = (request(switch, "auto").mode, request(switch + 1, "auto").mode)
    log(f"  auto: full up to n={switch:,} ({modes[0]}), then {modes[1]}")
    return Results(cells, evaluation, auto, switch, modes, (a, b))


def run(budget: float = 0.6, log: Callable[[str], None] = print) -> str:
    return report(measure_all(budget, log))


def _request_cell(cell: Cell) -> str:
    if cell.seconds is None:
        assert cell.predicted is not None
        return f"skipped: about {format_seconds(cell.predicted)} predicted"
    return format_seconds(cell.seconds) + (" (1 run)" if cell.calls == 1 else "")


def report(results: Results) -> str:
    a, b = results.cost
    cells = results.cells
    lines = [
        "## The check's cost against the tensor's size",
        "",
        *machine_lines(),
        "- The graph: leaf x of n float32 elements (uniform init, requires grad), y = tanh(x) * x, "
        "s = sum(y), backward from s. x is the one tensor checked (y is not retained).",
        "- One request: `compile_spec` + `Program.run` + `run_check`, in-process, without the JSON "
        "(validation and the answer are in the request profile below). Median of repeats over about "
        "the budget, or one run where one request takes more than a third of it. Limits raised so "
        "that nothing is refused.",
        f"- Full mode is skipped where it is predicted to take over {FULL_LIMIT:g} s: the check's "
        "own estimate of its evaluations × the time of one evaluation (float64, values only, as the "
        "check runs it), measured.",
        "",
        "| elements | full: one request | full: evaluations | fast: one request | fast: evaluations | "
        "one evaluation | full / fast | auto runs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n in SIZES:
        full, fast = cells[n, "full"], cells[n, "fast"]
        ratio = f"{full.seconds / fast.seconds:,.0f}×" if full.seconds is not None and fast.seconds else "–"
        evaluations = f"{full.evaluations:,}" + (" (estimate)" if full.seconds is None else "")
        lines.append(
            f"| {n:,} | {_request_cell(full)} | {evaluations} | {_request_cell(fast)} | {fast.evaluations:,} | "
            f"{format_seconds(results.evaluation[n])} | {ratio} | {results.auto[n]} |"
        )
    full_refused = (DEFAULTS.max_check_evaluations - b) // a + 1
    counted = [(n, cells[n, "full"].evaluations) for n in SIZES if cells[n, "full"].seconds is not None]
    agree = all(count == a * n + b for n, count in counted)
    lines += [
        "",
        f"The check estimates full mode at {a}·n + {b} evaluations on this graph ({a} per element, 1 for "
        f"the base value); what it counted {'matches that exactly' if agree else 'differs (retries)'} "
        "wherever it ran. Fast mode makes the same few whatever the size: its time is a fixed cost "
        "(the float64 forward and backward, the comparison) plus a few evaluations, which get slower "
        "as n grows.",
        "",
        f"Where auto switches: it runs full while the full check's estimate is at most "
        f"`auto_full_check_evaluations` = {DEFAULTS.auto_full_check_evaluations:,} (setting "
        f"{setting('auto_full_check_evaluations')}), so on this graph up to n = **{results.switch:,}** and fast "
        f"from n = {results.switch + 1:,}. Confirmed: at n = {results.switch:,} auto ran "
        f"{results.switch_modes[0]}, at {results.switch + 1:,} {results.switch_modes[1]}. With the default "
        f"`max_check_evaluations` = {DEFAULTS.max_check_evaluations:,} ({setting('max_check_evaluations')}), "
        f"the service refuses check mode full (413) from n = {full_refused:,}.",
    ]
    return "\n".join(lines) + "\n"
