"""What every benchmark here shares: the timer, the machine's description, the README writer.

The timer works like `timeit`: it warms the function up, picks how many calls make one
repeat (so that a repeat is long enough for the clock), runs repeats until the time budget
is spent, and reports the median and the minimum time of one call. Unlike `timeit` it
leaves the garbage collector on: the engine's graphs hold reference cycles, and a run that
never collects them would measure a process that is running out of memory.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

# A repeat is at least this long, so that the clock's resolution and the loop's own cost
# are noise; at least this many repeats are taken, however slow the function.
MIN_REPEAT_SECONDS = 0.005
MIN_REPEATS = 5


@dataclass(frozen=True)
class Timing:
    """Seconds per call: the median and the minimum over `repeats` repeats of `number` calls."""

    median: float
    min: float
    repeats: int
    number: int


def measure(fn: Callable[[], Any], budget: float) -> Timing:
    """Time `fn()` for about `budget` seconds, after a warm-up of about a tenth of that."""
    start = time.perf_counter()
    fn()
    calls = 1
    while (elapsed := time.perf_counter() - start) < budget / 10 or calls < 3:
        fn()
        calls += 1
    per_call = elapsed / calls
    number = max(1, math.ceil(MIN_REPEAT_SECONDS / per_call))
    repeats = max(MIN_REPEATS, round(budget / (number * per_call)))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    return Timing(statistics.median(samples), min(samples), repeats, number)


def format_seconds(seconds: float) -> str:
    """3 significant digits in the unit that suits: `41.2 µs`, `3.07 ms`, `1.20 s`."""
    seconds = float(f"{seconds:.3g}")  # first, so that 0.99996 s is `1.00 s`, not `1000 ms`
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{_sig3(seconds / scale)} {unit}"
    return f"{_sig3(seconds / 1e-9)} ns"


def _sig3(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it, else what `platform` knows."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.machine()


def version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def code_version(paths: tuple[str, ...]) -> str:
    """The commit measured, and whether `paths` had uncommitted changes then."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "unknown (not a git checkout)"
    changed = git("status", "--porcelain", "--", *paths)
    where = ", ".join(f"{p}/" for p in paths)
    return f"commit {commit}" + (f", with uncommitted changes in {where}" if changed else "")


def machine_lines(code: tuple[str, ...] = ("engine",)) -> list[str]:
    """Markdown bullet lines: when, on what, with which versions, code and environment."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    env = ", ".join(
        f"`{name}={os.environ[name]}`" if name in os.environ else f"`{name}` unset"
        for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    )
    return [
        f"- Date: {now}",
        f"- Machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, numpy {version('numpy')}, "
        f"torch {version('torch')}, autograd {version('autograd')}",
        f"- Code measured: {code_version(code)}",
        f"- Environment as found, not changed: {env}",
    ]


def write_section(readme: Path, name: str, body: str) -> None:
    """Replace what lies between `<!-- results:NAME -->` and `<!-- /results:NAME -->`.

    The rest of the README (its hand-written intro, other benchmarks' sections) is kept.
    A section that is not there yet is appended at the end.
    """
    start, end = f"<!-- results:{name} -->", f"<!-- /results:{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = readme.read_text() if readme.exists() else ""
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = f"{text.rstrip()}\n\n{block}\n" if text.strip() else f"{block}\n"
    readme.write_text(text)
