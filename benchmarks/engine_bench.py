"""The engine against PyTorch, HIPS autograd and hand-written NumPy, on four workloads.

Each workload is written four times (five with the bare tape), and all run in the same
process on the same machine, one after the other:

- `engine`: this project's autograd engine;
- `torch`: PyTorch, eager mode, on the CPU;
- `autograd`: HIPS autograd (`autograd.value_and_grad` over `autograd.numpy`);
- `numpy`: the floor, plain NumPy with the derivative written out by hand, so no autograd
  machinery at all: what the same arithmetic costs when nothing records it;
- `tape` (seed graphs and chain only): `bare_tape`, the least bookkeeping a define-by-run
  engine can do, the same code as for `engine` and `torch`: what recording costs when it
  does nothing else.

Before anything is timed, every implementation runs once and its value and gradients are
compared with PyTorch's (`np.allclose`, and the same dtype, float32), so that no timing is of
a wrong computation. The function that is checked is the very function that is then timed.

The workloads:

- `seed`: x = [1, 2, 3], y = [10, 20, 30] (float32, requires grad); xx = x·x, yy = y·y,
  xy = x·y, each retaining its grad; z = 10·(xx + yy + 2·xy), retaining its grad;
  s = z.sum(); s.backward(). One call is the whole thing, creating x and y included.
- `seed-1e6`: the same graph on 10^6 random float32 elements (x and y are copied from
  NumPy arrays into new tensors inside the timed call, as `tensor()` does). It is judged
  against the memory-bandwidth bound too, see `SEED_PASSES`.
- `mlp`: loss = cross_entropy(relu(X @ W1 + b1) @ W2 + b2, labels) with X 64×256,
  W1 256×256, b1 256, W2 256×10, b2 10 (float32) and int64 labels; forward and backward,
  gradients of W1, b1, W2, b2. The parameters persist across calls (their `.grad` is reset
  to None at the start of each call, as a training loop's zero_grad does).
- `chain`: 1,000 multiplications by the Python number 1.0001 of a 3-element float32
  tensor, h = h * 1.0001, then h.sum().backward(). It measures the cost of one recorded
  op (forward and backward): the per-op time is the call's time / 1,000. The NumPy floor
  runs the same 1,000 multiplications forward and 1,000 backward (g = g * 1.0001).

HIPS autograd has no `retain_grad`, so in `seed` it computes only x's and y's gradients,
a little less than the others compute.
"""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import resource
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import autograd
import autograd.numpy as anp
import numpy as np
import torch

import engine
from benchmarks import bare_tape
from benchmarks.harness import Timing, format_seconds, machine_lines, measure

Array = np.ndarray[Any, Any]
Result = tuple[Array, dict[str, Array]]  # the value and the gradients, as NumPy arrays

IMPLEMENTATIONS = ("engine", "torch", "autograd", "numpy", "tape")
COLUMN_NAMES = {"numpy": "numpy floor", "tape": "bare tape"}

N_BIG = 1_000_000
CHAIN_LENGTH = 1_000
CHAIN_FACTOR = 1.0001
BATCH, FEATURES, HIDDEN, CLASSES = 64, 256, 256, 10

# The minimal forward + backward of the seed graph, counted in passes over a full array
# of N_BIG float32 (4 MB): a kernel that reads two arrays and writes one makes 3 passes.
# The forward runs the graph's ops as written, one NumPy kernel each (its intermediates
# are named, and their gradients asked for, so each one is a real array). The backward is
# the one a person writes by hand: every gradient of the seed graph is a constant but
# x's and y's, which are both 20·(x + y). This is what the NumPy floor does, line for line.
SEED_PASSES: tuple[tuple[str, int], ...] = (
    ("x, y = copies of the input arrays (tensor creation)", 2 + 2),
    ("xx = x·x, yy = y·y", 2 + 2),
    ("xy = x·y", 3),
    ("xx + yy", 3),
    ("2·xy", 2),
    ("(xx + yy) + 2·xy", 3),
    ("z = 10·(…)", 2),
    ("s = z.sum()", 1),
    ("z.grad = 1, xx.grad = yy.grad = 10, xy.grad = 20 (written)", 4),
    ("x.grad = 20·(x + y)", 3 + 2),
    ("y.grad = a copy of x.grad", 2),
)

# For comparison, not as the bound: what this engine moves. The same forward (22). Backward:
# the gradient of z.sum() stays one number through the elementwise ops (engine.graph), so it
# is written out once for each retained gradient (4), but each op's rule runs once per
# operand (xy: g·y and g·x, 2 + 2; x·x gives g·x twice, 2 + 2, added to what x already has,
# 3 + 3; y·y the same), in PyTorch's order, which fusing x·x's two rules would change.
SEED_ENGINE_PASSES = 4 + 18 + (4 + (2 + 2) + (2 + 2 + 3 + 3) + (2 + 2 + 3 + 3))


@dataclass
class Implementation:
    """`run` is what is timed; `check` turns what it returned into NumPy arrays."""

    run: Callable[[], Any]
    check: Callable[[Any], Result]


@dataclass
class Workload:
    key: str
    title: str
    implementations: dict[str, Implementation]
    rtol: float = 1e-5
    atol: float = 1e-6
    timings: dict[str, Timing] = field(default_factory=dict)
    page_faults: dict[str, float] = field(default_factory=dict)  # per call, seed-1e6 only


# --- engine, torch and the bare tape: one code, three libraries ----------------------------


def _engine_arrays(value: Any, tensors: dict[str, Any]) -> Result:
    return value.array, {name: t.grad.array for name, t in tensors.items()}


def _torch_arrays(value: Any, tensors: dict[str, Any]) -> Result:
    return value.detach().numpy(), {name: t.grad.numpy() for name, t in tensors.items()}


def _tape_arrays(value: Any, tensors: dict[str, Any]) -> Result:
    return np.asarray(value.array), {name: t.grad for name, t in tensors.items()}


def _arrays_of(lib: Any) -> Callable[[Any], Result]:
    convert = {engine: _engine_arrays, torch: _torch_arrays, bare_tape: _tape_arrays}[lib]
    return lambda returned: convert(*returned)


def _seed_tensors(lib: Any, x_data: Any, y_data: Any) -> Implementation:
    def run() -> tuple[Any, dict[str, Any]]:
        x = lib.tensor(x_data, requires_grad=True)
        y = lib.tensor(y_data, requires_grad=True)
        xx = x * x
        yy = y * y
        xy = x * y
        xx.retain_grad()
        yy.retain_grad()
        xy.retain_grad()
        z = 10 * (xx + yy + 2 * xy)
        z.retain_grad()
        s = z.sum()
        s.backward()
        return s, {"x": x, "y": y, "xx": xx, "yy": yy, "xy": xy, "z": z}

    return Implementation(run, _arrays_of(lib))


def _chain_tensors(lib: Any, x_data: list[float]) -> Implementation:
    def run() -> tuple[Any, dict[str, Any]]:
        x = lib.tensor(x_data, requires_grad=True)
        h = x
        for _ in range(CHAIN_LENGTH):
            h = h * CHAIN_FACTOR
        s = h.sum()
        s.backward()
        return s, {"x": x}

    return Implementation(run, _arrays_of(lib))


def _mlp_tensors(lib: Any, data: dict[str, Array]) -> Implementation:
    cross_entropy = engine.cross_entropy if lib is engine else torch.nn.functional.cross_entropy
    X = lib.tensor(data["X"])
    labels = lib.tensor(data["labels"])
    params = {name: lib.tensor(data[name], requires_grad=True) for name in ("W1", "b1", "W2", "b2")}
    W1, b1, W2, b2 = params.values()

    def run() -> tuple[Any, dict[str, Any]]:
        for p in (W1, b1, W2, b2):
            p.grad = None
        loss = cross_entropy(lib.relu(X @ W1 + b1) @ W2 + b2, labels)
        loss.backward()
        return loss, params

    return Implementation(run, _arrays_of(lib))


# --- HIPS autograd ---------------------------------------------------------------------


def _seed_autograd(x_data: Any, y_data: Any) -> Implementation:
    def f(x: Any, y: Any) -> Any:
        xx = x * x
        yy = y * y
        xy = x * y
        z = 10 * (xx + yy + 2 * xy)
        return anp.sum(z)

    value_and_grad = autograd.value_and_grad(f, argnum=(0, 1))

    def run() -> Any:
        x = np.array(x_data, dtype=np.float32)
        y = np.array(y_data, dtype=np.float32)
        return value_and_grad(x, y)

    def check(returned: Any) -> Result:
        value, (gx, gy) = returned
        return np.asarray(value), {"x": gx, "y": gy}

    return Implementation(run, check)


def _chain_autograd(x_data: list[float]) -> Implementation:
    def f(x: Any) -> Any:
        h = x
        for _ in range(CHAIN_LENGTH):
            h = h * CHAIN_FACTOR
        return anp.sum(h)

    value_and_grad = autograd.value_and_grad(f)

    def run() -> Any:
        return value_and_grad(np.array(x_data, dtype=np.float32))

    def check(returned: Any) -> Result:
        value, gx = returned
        return np.asarray(value), {"x": gx}

    return Implementation(run, check)


def _mlp_autograd(data: dict[str, Array]) -> Implementation:
    X, labels = data["X"], data["labels"]
    rows = np.arange(BATCH)

    def loss(params: tuple[Any, ...]) -> Any:
        W1, b1, W2, b2 = params
        logits = anp.maximum(anp.dot(X, W1) + b1, 0) @ W2 + b2
        m = anp.max(logits, axis=1, keepdims=True)
        lse = anp.log(anp.sum(anp.exp(logits - m), axis=1)) + m[:, 0]
        return anp.mean(lse - logits[rows, labels])

    value_and_grad = autograd.value_and_grad(loss)
    params = tuple(data[name] for name in ("W1", "b1", "W2", "b2"))

    def run() -> Any:
        return value_and_grad(params)

    def check(returned: Any) -> Result:
        value, grads = returned
        return np.asarray(value), dict(zip(("W1", "b1", "W2", "b2"), grads, strict=True))

    return Implementation(run, check)


# --- the NumPy floor: derivatives by hand --------------------------------------------------


def _passthrough(returned: Any) -> Result:
    return returned


def _seed_numpy(x_data: Any, y_data: Any) -> Implementation:
    # Line for line the passes of SEED_PASSES.
    def run() -> Result:
        x = np.array(x_data, dtype=np.float32)
        y = np.array(y_data, dtype=np.float32)
        xx = x * x
        yy = y * y
        xy = x * y
        z = xx + yy
        z += xy * 2
        z *= 10
        s = z.sum()
        # ds/dz = 1; dz/dxx = dz/dyy = 10, dz/dxy = 20; ds/dx = ds/dy = 20·(x + y).
        gz = np.ones_like(z)
        gxx = np.full_like(z, 10)
        gyy = np.full_like(z, 10)
        gxy = np.full_like(z, 20)
        gx = x + y
        gx *= 20
        gy = gx.copy()
        grads = {"x": gx, "y": gy, "xx": gxx, "yy": gyy, "xy": gxy, "z": gz}
        return np.asarray(s), grads

    return Implementation(run, _passthrough)


def _chain_numpy(x_data: list[float]) -> Implementation:
    def run() -> Result:
        h = np.array(x_data, dtype=np.float32)
        for _ in range(CHAIN_LENGTH):
            h = h * CHAIN_FACTOR
        s = h.sum()
        g = np.ones_like(h)
        for _ in range(CHAIN_LENGTH):
            g = g * CHAIN_FACTOR
        return np.asarray(s), {"x": g}

    return Implementation(run, _passthrough)


def _mlp_numpy(data: dict[str, Array]) -> Implementation:
    X, labels, W1, b1, W2, b2 = (data[k] for k in ("X", "labels", "W1", "b1", "W2", "b2"))
    rows = np.arange(BATCH)

    def run() -> Result:
        pre = X @ W1
        pre += b1
        h = np.maximum(pre, 0)
        logits = h @ W2
        logits += b2
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        total = e.sum(axis=1, keepdims=True)
        loss = np.mean(np.log(total[:, 0]) - shifted[rows, labels])
        # d loss / d logits = (softmax - onehot) / N
        g = e / total
        g[rows, labels] -= 1
        g /= BATCH
        gW2 = h.T @ g
        gb2 = g.sum(axis=0)
        gh = g @ W2.T
        gh *= pre > 0
        gW1 = X.T @ gh
        gb1 = gh.sum(axis=0)
        return np.asarray(loss), {"W1": gW1, "b1": gb1, "W2": gW2, "b2": gb2}

    return Implementation(run, _passthrough)


# --- the workloads ---------------------------------------------------------------------


def workloads() -> list[Workload]:
    rng = np.random.default_rng(0)
    small_x, small_y = [1.0, 2.0, 3.0], [10.0, 20.0, 30.0]
    big_x = rng.standard_normal(N_BIG).astype(np.float32)
    big_y = rng.standard_normal(N_BIG).astype(np.float32)
    mlp = {
        "X": rng.standard_normal((BATCH, FEATURES)).astype(np.float32),
        "W1": (rng.standard_normal((FEATURES, HIDDEN)) / FEATURES**0.5).astype(np.float32),
        "b1": (0.1 * rng.standard_normal(HIDDEN)).astype(np.float32),
        "W2": (rng.standard_normal((HIDDEN, CLASSES)) / HIDDEN**0.5).astype(np.float32),
        "b2": (0.1 * rng.standard_normal(CLASSES)).astype(np.float32),
        "labels": rng.integers(0, CLASSES, BATCH).astype(np.int64),
    }
    chain_x = [1.0, 2.0, 3.0]
    return [
        Workload(
            "seed",
            "seed graph, 3 elements",
            {
                "engine": _seed_tensors(engine, small_x, small_y),
                "torch": _seed_tensors(torch, small_x, small_y),
                "autograd": _seed_autograd(small_x, small_y),
                "numpy": _seed_numpy(small_x, small_y),
                "tape": _seed_tensors(bare_tape, small_x, small_y),
            },
        ),
        Workload(
            "seed-1e6",
            "seed graph, 10^6 elements",
            {
                "engine": _seed_tensors(engine, big_x, big_y),
                "torch": _seed_tensors(torch, big_x, big_y),
                "autograd": _seed_autograd(big_x, big_y),
                "numpy": _seed_numpy(big_x, big_y),
                "tape": _seed_tensors(bare_tape, big_x, big_y),
            },
            # The floor's 20·(x + y) rounds differently from 20·x + 20·y where x ≈ -y.
            atol=1e-4,
        ),
        Workload(
            "mlp",
            "MLP 64×256 → 256 → 10, cross-entropy",
            {
                "engine": _mlp_tensors(engine, mlp),
                "torch": _mlp_tensors(torch, mlp),
                "autograd": _mlp_autograd(mlp),
                "numpy": _mlp_numpy(mlp),
            },
            rtol=1e-4,
        ),
        Workload(
            "chain",
            f"chain of {CHAIN_LENGTH:,} muls, 3 elements",
            {
                "engine": _chain_tensors(engine, chain_x),
                "torch": _chain_tensors(torch, chain_x),
                "autograd": _chain_autograd(chain_x),
                "numpy": _chain_numpy(chain_x),
                "tape": _chain_tensors(bare_tape, chain_x),
            },
            rtol=1e-4,
        ),
    ]


def verify(workload: Workload) -> None:
    """Every implementation's value and gradients must be PyTorch's, in float32."""
    impls = workload.implementations
    ref_value, ref_grads = impls["torch"].check(impls["torch"].run())
    for name, impl in impls.items():
        value, grads = impl.check(impl.run())
        missing = set(grads) - set(ref_grads)
        if missing:
            raise AssertionError(f"{workload.key}/{name}: gradients torch lacks: {missing}")
        pairs = [("value", value, ref_value)] + [(k, g, ref_grads[k]) for k, g in grads.items()]
        for label, got, want in pairs:
            ok = (
                got.shape == want.shape
                and got.dtype == want.dtype == np.float32
                and np.allclose(got, want, rtol=workload.rtol, atol=workload.atol)
            )
            if not ok:
                raise AssertionError(
                    f"{workload.key}/{name}: {label} differs from torch's: got {got.dtype} "
                    f"{got.shape} {got.ravel()[:4]}, want {want.dtype} {want.shape} "
                    f"{want.ravel()[:4]}"
                )


def page_faults_per_call(fn: Callable[[], Any], calls: int = 10) -> float:
    """Minor page faults per call: each one a page of memory the kernel maps afresh."""
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


# --- the memory-bandwidth bound --------------------------------------------------------


@dataclass(frozen=True)
class Bandwidth:
    """Bytes per second of NumPy's kernels streaming float32 arrays of N_BIG elements."""

    add: float  # np.add(a, b, out=c): reads 2 arrays, writes 1
    copy: float  # np.copyto(c, a): reads 1, writes 1

    @property
    def best(self) -> float:
        """The faster of the two: the bound built on it is a lower bound on time."""
        return max(self.add, self.copy)


def measure_bandwidth(budget: float) -> Bandwidth:
    """Round-robin over arrays of N_BIG elements, 72 MB in all, like the seed-1e6 workload."""
    rng = np.random.default_rng(1)
    pool = [rng.standard_normal(N_BIG).astype(np.float32) for _ in range(18)]
    triples = [tuple(pool[i : i + 3]) for i in range(0, len(pool), 3)]
    nbytes = pool[0].nbytes
    state = {"i": 0}

    def add() -> None:
        a, b, c = triples[state["i"] % len(triples)]
        state["i"] += 1
        np.add(a, b, out=c)

    def copy() -> None:
        a, _, c = triples[state["i"] % len(triples)]
        state["i"] += 1
        np.copyto(c, a)

    return Bandwidth(
        add=3 * nbytes / measure(add, budget / 2).median,
        copy=2 * nbytes / measure(copy, budget / 2).median,
    )


# --- running and reporting -----------------------------------------------------------------

TARGETS = (
    # (workload, what is compared, the most it may be)
    ("seed", "engine / torch", 0.25),
    ("chain", "engine / torch, per op", 0.35),
    ("seed-1e6", "engine / memory-bandwidth bound", 1.3),
    ("mlp", "engine / torch", 1.0),
)


def run(budget: float = 0.6, log: Callable[[str], None] = print) -> str:
    """Check, then time every workload; the results section as markdown."""
    torch.set_num_threads(1)
    results = workloads()
    for workload in results:
        verify(workload)
        for name, impl in workload.implementations.items():
            gc.collect()
            workload.timings[name] = measure(impl.run, budget)
            log(f"  {workload.key:<9} {name:<9} {format_seconds(workload.timings[name].median)}")
            if workload.key == "seed-1e6":
                workload.page_faults[name] = page_faults_per_call(impl.run)
    bandwidth = measure_bandwidth(budget)
    return report(results, bandwidth, budget)


def _cell(timing: Timing | None) -> str:
    if timing is None:
        return "—"  # the bare tape has only the seed graph's and the chain's ops
    return f"{format_seconds(timing.median)} ({format_seconds(timing.min)})"


def _pass_or_fail(ratio: float, limit: float) -> str:
    return "**met**" if ratio <= limit else "not met"


def report(results: list[Workload], bandwidth: Bandwidth, budget: float) -> str:
    by_key = {w.key: w for w in results}
    header = ["workload", *(COLUMN_NAMES.get(i, i) for i in IMPLEMENTATIONS)]
    lines = [
        "## Engine vs PyTorch, HIPS autograd and hand-written NumPy",
        "",
        *machine_lines(),
        f"- Threads: one for every library: `torch.set_num_threads(1)`, and NumPy's OpenBLAS "
        f"pinned to one thread (`OPENBLAS_NUM_THREADS=1`) before NumPy loads; torch reports "
        f"{torch.get_num_threads()} thread(s).",
        f"- Each cell: median time of one call (minimum in parentheses), over repeats of "
        f"about {budget:g} s per implementation after a warm-up; the garbage collector is on.",
        "- Every implementation's value and gradients were checked against PyTorch's "
        "(np.allclose, float32) before timing.",
        "",
        "| " + " | ".join([*header, "engine / torch", "engine / numpy"]) + " |",
        "|" + "---|" * (len(header) + 2),
    ]
    for w in results:
        t = w.timings
        cells = [w.title, *(_cell(t.get(i)) for i in IMPLEMENTATIONS)]
        ratios = [t["engine"].median / t["torch"].median, t["engine"].median / t["numpy"].median]
        lines.append("| " + " | ".join([*cells, *(f"{r:.2f}" for r in ratios)]) + " |")
    chain = by_key["chain"].timings
    per_op = [format_seconds(chain[i].median / CHAIN_LENGTH) for i in IMPLEMENTATIONS]
    chain_ratios = [chain["engine"].median / chain[i].median for i in ("torch", "numpy")]
    lines.append(
        "| " + " | ".join(["chain, per op (total / 1,000)", *per_op]) + " | "
        f"{chain_ratios[0]:.2f} | {chain_ratios[1]:.2f} |"
    )

    big = by_key["seed-1e6"].timings
    passes = sum(n for _, n in SEED_PASSES)
    array_bytes = N_BIG * 4
    bound = passes * array_bytes / bandwidth.best
    engine_model = SEED_ENGINE_PASSES * array_bytes / bandwidth.best
    lines += [
        "",
        "### The seed graph at 10^6 elements against the memory-bandwidth bound",
        "",
        f"Bandwidth, measured in this run over float32 arrays of 10^6 elements (72 MB "
        f"round-robin): `np.add(a, b, out=c)` {bandwidth.add / 1e9:.1f} GB/s, "
        f"`np.copyto` {bandwidth.copy / 1e9:.1f} GB/s. The bound uses the faster, "
        f"{bandwidth.best / 1e9:.1f} GB/s, so that it is a lower bound on the time.",
        "",
        f"The minimal forward and backward makes {passes} passes over a 4 MB array "
        f"(a kernel reading two arrays and writing one makes 3):",
        "",
        "| step | passes |",
        "|---|---|",
        *(f"| {step} | {n} |" for step, n in SEED_PASSES),
        f"| **total** | **{passes}** = {passes * array_bytes / 1e6:.0f} MB |",
        "",
        f"Bound: {passes} × 4 MB / {bandwidth.best / 1e9:.1f} GB/s = {format_seconds(bound)}. "
        f"engine / bound = **{big['engine'].median / bound:.2f}**, "
        f"torch / bound = {big['torch'].median / bound:.2f}, "
        f"autograd / bound = {big['autograd'].median / bound:.2f}, "
        f"numpy floor / bound = {big['numpy'].median / bound:.2f} "
        f"(the floor runs exactly these passes, so this ratio is what the model misses: "
        f"allocation, page faults, kernel start-up).",
        "",
        f"For comparison, the passes this engine makes: it carries the constant gradient of "
        f"z.sum() as one number and writes it out once for each retained gradient, but runs "
        f"each op's rule once per operand (x·x gives g·x twice, added to x's other gradient in "
        f"PyTorch's order): {SEED_ENGINE_PASSES} passes, {format_seconds(engine_model)}; "
        f"engine / that = {big['engine'].median / engine_model:.2f}.",
        "",
        "Fresh memory costs more than traffic: minor page faults per call (mean of 10 calls, "
        "after a collection), each one a page the kernel had to map afresh: "
        + ", ".join(f"{COLUMN_NAMES.get(i, i)} {faults:,.0f}" for i, faults in by_key["seed-1e6"].page_faults.items())
        + ". The minimum times (in parentheses above) are the calls that reused memory.",
    ]

    bound_holds = big["numpy"].median >= bound
    # Where the floor beats the bound, the floor is the bound as this machine runs it: it makes
    # exactly the bound's passes, and nothing can make fewer.
    engine_over_floor = big["engine"].median / big["numpy"].median
    no_bound = (
        f"not shown: the floor beats this bound; engine / floor = {engine_over_floor:.2f}, "
        f"{'within' if engine_over_floor <= 1.3 else 'over'} 1.3"
    )
    measured = {
        "seed": by_key["seed"].timings["engine"].median / by_key["seed"].timings["torch"].median,
        "chain": chain_ratios[0],
        "seed-1e6": big["engine"].median / bound,
        "mlp": by_key["mlp"].timings["engine"].median / by_key["mlp"].timings["torch"].median,
    }
    lines += [
        "",
        "### Targets",
        "",
        "| workload | measure | target | measured | |",
        "|---|---|---|---|---|",
        *(
            f"| {by_key[key].title} | {what} | ≤ {limit:g} | {measured[key]:.2f} | "
            f"{_pass_or_fail(measured[key], limit) if key != 'seed-1e6' or bound_holds else no_bound} |"
            for key, what, limit in TARGETS
        ),
        "",
        *_against_the_tape(by_key),
    ]
    return "\n".join(lines) + "\n"


def _against_the_tape(by_key: dict[str, Workload]) -> list[str]:
    """What the bookkeeping-bound targets ask, set against the least bookkeeping there is."""
    lines = []
    limits = {key: limit for key, _, limit in TARGETS}
    for key in ("seed", "chain"):
        t, limit = by_key[key].timings, limits[key]
        target = limit * t["torch"].median
        lines.append(
            f"- {by_key[key].title}: the target is {format_seconds(target)} ({limit:g} × torch); "
            f"the bare tape takes {format_seconds(t['tape'].median)} "
            f"(bare tape / torch = {t['tape'].median / t['torch'].median:.2f}), the engine "
            f"{format_seconds(t['engine'].median)} (engine / bare tape = "
            f"{t['engine'].median / t['tape'].median:.2f})."
        )
    return [
        "Against the bare tape (`bare_tape.py`: records and walks the same ops with nothing but "
        "the bookkeeping, no checks, names or dtype rules), in this run:",
        "",
        *lines,
    ]


def profile(key: str, calls: int = 500, top: int = 30) -> str:
    """cProfile of the engine implementation of one workload: engine's functions by own time."""
    torch.set_num_threads(1)
    by_key = {w.key: w for w in workloads()}
    if key not in by_key:
        raise SystemExit(f"no workload {key!r}: choose one of {', '.join(by_key)}")
    fn = by_key[key].implementations["engine"].run
    fn()
    # The collector off, so that a collection's time is not charged to whichever function
    # happened to trigger it; the timings in the README are taken with it on.
    gc.collect()
    gc.disable()
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        for _ in range(calls):
            fn()
    finally:
        profiler.disable()
        gc.enable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    for order in ("tottime", "cumulative"):
        out.write(f"--- the engine's functions by {order}, {calls} calls of {key} ---\n")
        stats.sort_stats(order).print_stats(r"engine[/\\]", top)
    return out.getvalue()
