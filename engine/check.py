"""The finite-difference check of a spec: every reported gradient and every hand-written backward.

The whole graph is re-run in float64. The objective is the one backward differentiates,
F = sum over roots of sum(root * upstream gradient). Each leaf that requires grad and each
retained node is compared with numerical derivatives of F (a node by perturbing its value
and re-running what follows it). Each custom function call is checked on its own, at the
inputs and upstream gradients it really saw. As in torch.autograd.gradcheck, the steps are
kept apart: evaluate (engine.numerical), compare (`compare`), explain (`_explain`).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

import numpy as np

from engine import dtypes
from engine.autograd import FunctionCtx
from engine.batching import Batched, Unbatchable
from engine.errors import COMPUTE_FAILURES, ComputeError, LimitExceeded, OutOfTime, SpecError
from engine.grad_mode import enable_grad, no_grad
from engine.graph import Array, run_backward
from engine.kinks import Crossings, recorded
from engine.limits import current_guard, setting, start_evaluation
from engine.numerical import (
    MIN_EPS,
    MOST_STEPS,
    OFFSETS,
    ROUNDING,
    SMALLEST_STEP,
    Budget,
    Derivative,
    derivative,
    exact_step,
    steps,
)
from engine.spec import Call, Program
from engine.tensor import Tensor

MODES = ("auto", "full", "fast", "off")
DEFAULT_EPS = 1e-3
PER_DERIVATIVE = len(OFFSETS)
# Elements that one batched evaluation of full mode may allocate, counted as copies times what
# one evaluation allocates: enough copies to make Python's cost per op small beside the
# arithmetic, and half a megabyte of float64 at most.
BATCH_ELEMENTS = 1 << 16
# What engine.kinks keeps of an element that a kinked op noted, in float64 elements (its sign,
# whether it changed, its distances at two steps: 18 bytes).
RECORD_ELEMENTS = 3
# Fast mode: the directions tried after one that meets a kink it cannot step around, or
# whose derivative comes out imprecise, for a tensor too large to check element by element.
OTHER_DIRECTIONS = 2
ONE_DIRECTION = MOST_STEPS * PER_DERIVATIVE + 1  # the most evaluations a direction may take
# Check mode auto runs full only if its evaluations, at the time of the first, would take at
# most this share of the time limit (a graph of 10^6-element ops is costly at 6,001 of them).
AUTO_FULL_TIME_SHARE = 0.5
# Fast mode: the share of the time left that a look element by element may take; past it the
# direction's verdict stands.
CLOSER_LOOK_TIME = 0.5
# The most elements of one input where a custom backward is off autograd of its forward that
# are probed for kinks of the forward's ops (two evaluations each), to tell a wrong formula
# from a kink's convention.
AUTODIFF_PROBES = 256
PROBE_STEP = 1e-8  # relative: far below any step of the differences, far above x's rounding
AT_A_KINK = 0.01  # of the probe's step: a kink located nearer x than this is at x
# A hand-written gradient and autograd's, computed in other orders, may differ by rounding: a
# few ulps of either, or, where terms cancel (1e8·(sin² x + cos² x)), what autograd itself
# moves by between x and x nudged by NUDGES; allowed this many times over.
AUTODIFF_ROUNDING = 16
NUDGES = (1e-12, 1e-10)  # relative: short of all but the nearest kinks, long enough to move the rounding
# A numerical derivative whose error estimate exceeds this share of the gradient's scale
# (beyond atol) is still judged, its estimate in the tolerance, but only errors above it can
# fail: fast mode looks further, and a warning says what is left.
IMPRECISE = 0.01
# Where a gradient is 0, as far as the check can tell, and so are all the others: the error
# estimate from which a warning says so (the rounding of a function of 10^8 at a step of 1e-3).
ZERO_GRADIENT_NOISE = 1e-6


@dataclass
class Batch:
    """F for many copies of one tensor at once: `evaluate(copies)` with copies of shape
    (rows, *shape) gives F of each row, or None where the graph has no batched form."""

    evaluate: Callable[[Array], Array | None]
    rows: int  # the most copies one evaluation may take


LOC = ("body", "check")


@dataclass(frozen=True)
class CheckOptions:
    mode: str = "auto"
    eps: float | None = None  # the step, absolute; default DEFAULT_EPS
    atol: float = 1e-9
    rtol: float = 1e-6
    seed: int = 0

    @classmethod
    def from_raw(cls, raw: Any) -> CheckOptions:
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise SpecError(LOC, "check must be an object")
        options = cls(**{k: raw[k] for k in ("mode", "eps", "atol", "rtol", "seed") if raw.get(k) is not None})
        if options.mode not in MODES:
            raise SpecError((*LOC, "mode"), f"check mode must be one of {', '.join(MODES)}")
        for name in ("atol", "rtol"):
            value = getattr(options, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
                raise SpecError((*LOC, name), f"{name} must be a finite number >= 0")
        if options.eps is not None and not (isinstance(options.eps, int | float) and MIN_EPS <= options.eps < 1):
            raise SpecError((*LOC, "eps"), f"eps must be a number from {MIN_EPS:g} up to 1 (not included)")
        if type(options.seed) is not int or options.seed < 0:
            raise SpecError((*LOC, "seed"), "seed must be a non-negative integer")
        return options


@dataclass
class Comparison:
    """Analytic against numerical, element by element (or direction by direction)."""

    passed: bool
    max_abs_error: float
    max_rel_error: float
    worst_index: list[int] | None
    error_estimate: float | None
    numerical: Array
    analytic: Array
    errors: Array  # each judged element's error estimate; 0 at a kink
    non_differentiable: list[list[int]] = field(default_factory=list)
    message: str | None = None
    direction: Array | None = None  # fast mode: the random unit vector compared along
    what: str = ""  # the name in messages: "x", "F: grad_x", "x along a random direction"
    notes: list[str] = field(default_factory=list)  # what the verdict leaves unsaid, for the warnings

    def scale(self) -> float:
        """How large this gradient is, as far as it is known: the largest analytic value, or
        what the numerical values are at least, their error estimates taken off."""
        judged = self.errors > 0  # every judged element's estimate is above 0 (rounding, at least)
        known = np.fmax(np.abs(self.analytic), np.abs(self.numerical) - self.errors)  # fmax: past a NaN
        return float(np.max(known, where=judged & np.isfinite(known), initial=0.0))

    def coarse(self, atol: float, scale: float | None = None) -> Array:
        """The judged elements whose error estimate is over IMPRECISE of the gradient's scale (its
        own unless given); for a gradient of 0, over ZERO_GRADIENT_NOISE."""
        scale = self.scale() if scale is None else scale
        return self.errors > atol + (IMPRECISE * scale if scale > 0 else ZERO_GRADIENT_NOISE)


@dataclass
class FunctionCheck:
    function: str
    node: str | list[str]
    passed: bool
    inputs: dict[str, Comparison]
    autodiff: dict[str, Array]  # the forward's autograd gradient (fast mode: along the same direction)


@dataclass
class CheckReport:
    mode: str
    passed: bool | None
    eps: float | None = None
    atol: float | None = None
    rtol: float | None = None
    seed: int | None = None
    evaluations: int = 0
    tensors: dict[str, Comparison] = field(default_factory=dict)
    functions: list[FunctionCheck] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# --- compare and explain --------------------------------------------------------------


def compare(
    analytic: Array, numerical: Array, errors: Array, kinks: Array, atol: float, rtol: float, what: str
) -> Comparison:
    """An element passes when |analytic - numerical| <= atol + rtol·|numerical| + its error estimate.
    Elements at a kink (or where the function is not finite nearby) are listed, not judged."""
    diff = np.abs(analytic - numerical)
    tolerance = atol + rtol * np.abs(numerical) + errors
    judged = ~kinks
    with np.errstate(all="ignore"):
        relative = np.where(diff == 0, 0.0, diff / np.abs(numerical))
        ratio = np.where(judged, np.nan_to_num(diff / np.maximum(tolerance, 1e-300), nan=np.inf), -1.0)
    bad = judged & ~(diff <= tolerance)
    worst = None
    message = None
    estimate = None
    if judged.any():
        flat = int(np.argmax(ratio))
        estimate = float(errors.flat[flat])
        worst = [int(i) for i in np.unravel_index(flat, analytic.shape)] if analytic.ndim else []
        if bad.any():
            message = _explain(
                what, worst, analytic.flat[flat], numerical.flat[flat], diff.flat[flat], errors.flat[flat], atol, rtol
            )
    kink_list = [[int(i) for i in index] for index in np.argwhere(kinks)] if kinks.any() else []
    return Comparison(
        passed=not bad.any(),
        max_abs_error=float(np.max(np.where(judged, diff, 0.0), initial=0.0)),
        max_rel_error=float(np.max(np.where(judged, relative, 0.0), initial=0.0)),
        worst_index=worst,
        error_estimate=estimate,
        numerical=numerical,
        analytic=analytic,
        errors=np.where(judged, errors, 0.0) if kink_list else errors,
        non_differentiable=kink_list,
        message=message,
        what=what,
    )


def imprecision_notes(comparisons: list[Comparison], atol: float) -> list[str]:
    """A warning for each comparison with elements whose error estimate is over IMPRECISE of its
    gradient's scale. A gradient that is 0 (a bias behind dead relus, a leaf at a minimum) is
    measured against the others of the check: 1e-8 is close next to 140."""
    largest: float | None = None  # the check's largest gradient, once a gradient of 0 needs it
    notes = []
    for c in comparisons:
        worst_error = float(c.errors.max()) if c.errors.size else 0.0
        if worst_error <= atol or (
            not c.non_differentiable  # every element judged: the gradient is |numerical| - error at least
            and worst_error <= atol + IMPRECISE * (float(np.abs(c.numerical).max()) - worst_error)
        ):
            continue  # the common case, at little cost
        own = c.scale()
        if own == 0 and largest is None:
            largest = max(other.scale() for other in comparisons)
        scale = own if own > 0 else largest or 0.0
        coarse = c.coarse(atol, scale)
        if not coarse.any():
            continue
        worst = np.unravel_index(int(np.argmax(np.where(coarse, c.errors, -1.0))), coarse.shape)
        where = f"{c.what}[{', '.join(map(str, worst))}]" if coarse.ndim else c.what
        more = int(np.count_nonzero(coarse)) - 1
        others = f" and {more:,} more element{'s' if more > 1 else ''}" if more else ""
        along = c.direction is not None
        if own > 0:
            against = f"against {'a directional derivative of' if along else 'values of this gradient up to'} {own:.3g}"
        elif scale > 0:
            against = f"against the check's gradients, up to {scale:.3g}"
        else:
            against = "where every gradient is 0"
        notes.append(
            f"{where}{others}: the numerical {'directional ' if along else ''}derivative is only good to "
            f"{float(c.errors[worst]):.2g} (its error estimate), {against}: an error smaller than that cannot fail "
            "there (the function's rounding swamps the steps, or kinks lie too near)"
        )
    return notes


def _explain(
    what: str, index: list[int], analytic: float, numerical: float, diff: float, error: float, atol: float, rtol: float
) -> str:
    where = f"{what}[{', '.join(map(str, index))}]" if index else what
    allowed = atol + rtol * abs(numerical) + error
    return (
        f"{where}: analytic {analytic:.10g} but numerical {numerical:.10g}, off by {diff:.3g}, over the "
        f"tolerance {allowed:.3g} (atol {atol:g} + rtol {rtol:g} × |numerical| + error estimate {error:.2g})"
    )


# --- numerical gradients of one tensor ------------------------------------------------


class _Differentiator:
    """Numerical derivatives of a scalar function of one array, full or along directions."""

    def __init__(self, options: CheckOptions, budget: Budget, record_kinks: bool) -> None:
        self.options = options
        self.record_kinks = record_kinks
        self.budget = budget
        self.eps = options.eps or DEFAULT_EPS
        self.rng = np.random.default_rng(options.seed)  # the directions
        # A look element by element ran out of the time it was given: the rest of the time
        # is the check's planned work's, and no look is tried again.
        self.out_of_time = False

    @cached_property
    def probes(self) -> np.random.Generator:
        """The upstream gradients that custom functions are probed with: a stream of their own,
        so that another direction drawn for one tensor leaves them as they were."""
        return np.random.default_rng([self.options.seed, 1])

    def full(self, f: Callable[[Array], float], x: Array, batched: Batch | None = None) -> tuple[Array, Array, Array]:
        """Every element: f(x + t·e_i) differentiated at t = 0. With `batched`, f's values at the
        first step of every element come from evaluations of many copies at once."""
        self.budget.spend(1)
        f0 = f(x)
        values, errors, kinks = (np.zeros(x.shape), np.zeros(x.shape), np.zeros(x.shape, dtype=bool))
        known = self._first_step_values(batched, x) if batched is not None else None
        probe = x.copy()
        flat = probe.reshape(-1)
        first_steps = self._first_steps(flat)
        # What the retries cross. The first step's values come without (batched, they may
        # be known already), so that both ways of evaluating give the same answers.
        crossings = Crossings() if self.record_kinks else None
        for i in range(flat.size):
            original = flat[i]
            first_step = set(first_steps[i])

            def along(t: float, i: int = i, original: float = original, first_step: set[float] = first_step) -> float:
                if known is not None and t in known[i]:
                    return known[i][t]
                flat[i] = original + t
                try:
                    return f(probe) if t in first_step else recorded(crossings, t, lambda: f(probe))
                finally:
                    flat[i] = original

            def exact(h: float, original: float = original) -> float:
                return float(exact_step(original, h))

            # A step short of a kink no finer than x resolves: x's rounding is then 1e-4 of it.
            scale = abs(float(original))
            d = self._derivative(along, f0, steps(scale, self.eps), crossings, MIN_EPS * max(1.0, scale), exact=exact)
            values.flat[i], errors.flat[i], kinks.flat[i] = d.value, d.error, d.kink or not d.finite
        return values, errors, kinks

    def _first_step_values(self, batched: Batch, x: Array) -> list[dict[float, float]] | None:
        """f(x + t·e_i) for every element i and every t of the first step's stencil, taken from
        evaluations of many perturbed copies at once; None if the graph has no batched form."""
        n = x.size
        per_chunk = batched.rows // len(OFFSETS)  # elements perturbed per evaluation
        if per_chunk < 2 or self.budget.used + len(OFFSETS) * n > self.budget.limit:
            return None  # copy by copy: nothing to gain, or the budget says where it runs out
        flat = x.reshape(-1)
        offsets = self._first_steps(flat)
        values = np.empty((n, len(OFFSETS)))
        for start in range(0, n, per_chunk):
            if self.budget.tick is not None:
                self.budget.tick()
            elements = np.arange(start, min(n, start + per_chunk))
            columns = np.repeat(elements, len(OFFSETS))
            copies = np.repeat(flat[None], len(columns), axis=0)
            copies[np.arange(len(columns)), columns] = flat[columns] + offsets[elements].reshape(-1)
            found = batched.evaluate(copies.reshape(len(columns), *x.shape))
            if found is None:
                return None
            values[elements] = found.reshape(len(elements), len(OFFSETS))
        return [dict(zip(ts, row, strict=True)) for ts, row in zip(offsets.tolist(), values.tolist(), strict=True)]

    def _first_steps(self, flat: Array) -> Array:
        """For each element, the points t at which the stencil evaluates f first: steps() starts at
        eps, made exact for the element."""
        return exact_step(flat, self.eps)[:, None] * np.array(OFFSETS, dtype=float)

    def clear_of_kinks(self, f: Callable[[Array], float], x: Array, elements: Array) -> Array:
        """For each flat index of `elements`: whether no relu, abs, max, ... of f has its kink at
        x_i, so that autograd is exact there. A short step either way finds the kinks near; the
        step is well above x's rounding, which could keep a kinked op's input where it was
        (relu((x + 1e5) - 1e5) at 0 does not move for a step of 1e-12)."""
        probe = x.copy()
        flat = probe.reshape(-1)
        crossings = Crossings()
        clear = np.zeros(elements.size, dtype=bool)
        for k, i in enumerate(elements.tolist()):
            original = flat[i]
            step = PROBE_STEP * max(1.0, abs(float(original)))
            crossings.clear()
            for t in (-step, step):
                self.budget.spend(1)
                flat[i] = original + t
                try:
                    recorded(crossings, t, lambda: f(probe))
                finally:
                    flat[i] = original
            if crossings.crossed():
                # A kink the step reaches, where a line through the two sides puts it: clear of
                # it unless it lies at x, within rounding (or cannot be placed).
                nearest, _ = crossings.survey()
                clear[k] = nearest is not None and nearest > AT_A_KINK * step
            else:
                clear[k] = True
        return clear

    def direction(self, shape: tuple[int, ...]) -> Array:
        u = self.rng.standard_normal(shape)
        norm = float(np.linalg.norm(u))
        return u / norm if norm else u

    def along(self, f: Callable[[Array], float], x: Array, u: Array) -> tuple[Array, Array, Array, Array]:
        """One direction: f(x + t·u) differentiated at t = 0, as gradcheck's fast mode does; and the
        direction as the steps took it, u to rounding."""
        self.budget.spend(1)
        f0 = f(x)
        # How far along u the nearest element reaches 0 (the edge of a domain such as log's):
        # |x_i| / |u_i|, not |x_i|, which in a large tensor is always tiny and would send the
        # retry to a step so small that rounding swamps it.
        moving = (x != 0) & (u != 0)
        nearest_edge = float(np.min(np.abs(x[moving] / u[moving]))) if moving.any() else 0.0
        # Through many elements a step crosses kinks too slight for the stencil to tell: the
        # ops say which they cross.
        crossings = Crossings() if self.record_kinks else None

        # Each step moves x by what x + h·u rounds to, and its multiples: exact, where x + t·u
        # would round each element differently at each t (the stencil's direction is then
        # that step's, divided by h: u to a part in 1e16 for x of order 1).
        step, moved = 1.0, u

        def exact(h: float) -> float:
            nonlocal step, moved
            step, moved = h, np.where(np.isfinite(x), (x + h * u) - x, h * u)
            return h

        def along_u(t: float) -> float:
            return recorded(crossings, t, lambda: f(x + (t / step) * moved))

        # A step short of a kink may be no finer than what the elements that move most resolve.
        largest = float(np.max(np.abs(x), initial=1.0))
        fastest = float(np.max(np.abs(u), initial=0.0))
        finest = MIN_EPS * largest / fastest if fastest else SMALLEST_STEP
        # Without the records, a step along u may cross kinks too slight for its stencil's test
        # to tell: each counts its one-sided gap. (Along one element, as full mode steps, the
        # test tells them, as it did before the records; a smooth f's gap, ~h³·f'''', would
        # blunt every estimate there.)
        untracked = crossings is None
        d = self._derivative(along_u, f0, steps(nearest_edge, self.eps), crossings, finest, untracked, exact)
        direction = np.where(np.isfinite(x), (x + d.step * u) - x, d.step * u) / d.step if d.step else u
        return np.array(d.value), np.array(d.error), np.array(d.kink or not d.finite), direction

    def _derivative(
        self,
        f: Callable[[float], float],
        f0: float,
        tries: tuple[float, ...],
        crossings: Crossings | None,
        finest: float,
        untracked_kinks: bool = False,
        exact: Callable[[float], float] | None = None,
    ) -> Derivative:
        """f'(0), where no finite neighbourhood (sqrt at 0) counts as a kink: not differentiable."""
        o = self.options
        return derivative(f, f0, tries, self.budget, o.atol, o.rtol, crossings, finest, untracked_kinks, exact)


# --- the check ------------------------------------------------------------------------


@dataclass
class _Target:
    """A reported gradient to check: a leaf, or a node whose value can be perturbed."""

    names: list[str]  # several when bare-name nodes alias one tensor
    grad: Array


def _targets(program: Program, env: dict[str, Tensor]) -> list[_Target]:
    groups: dict[int, _Target] = {}
    for name in program.names():
        tensor = env[name]
        if tensor.grad is None or tensor.array.dtype.kind != "f":
            continue
        if id(tensor) in groups:  # a bare-name node is the same tensor as an earlier name
            groups[id(tensor)].names.append(name)
        else:
            groups[id(tensor)] = _Target([name], tensor.grad.array)
    return list(groups.values())


def _upstream_of(call: Call, rng: np.random.Generator) -> tuple[list[Array], list[bool]]:
    """The gradients the call's backward received; random ones if backward never reached it."""
    ctx = call.grad_fn.ctx
    outputs = call.grad_fn.outputs
    seen = ctx.__dict__.get("grad_outputs")
    if seen is None:  # an integer output gets none: it is not differentiable
        floating = [o.dtype.kind == "f" for o in outputs]
        return [
            np.asarray(rng.standard_normal(o.shape)) if f else np.zeros(o.shape)
            for o, f in zip(outputs, floating, strict=True)
        ], floating
    grads = [g.array for g in seen]
    return grads, [bool(np.any(g)) for g in grads]


def _untracked_kinks(kinked: int, evaluation: int, limit: int) -> str:
    """Why a failure may be a kink's: the check ran without knowing which kinks its steps crossed."""
    return (
        f"the check could not track which kinks of relu, abs, max, ... its steps crossed: their records "
        f"({RECORD_ELEMENTS} × {kinked:,} elements) and one evaluation of the graph ({evaluation:,}) would "
        f"exceed {limit:,} elements (setting {setting('max_total_elements')}). A step across kinks that "
        f"its own test could not tell may have failed a correct gradient: check a smaller graph, or "
        f"raise the setting"
    )


def estimate_evaluations(program: Program, env: dict[str, Tensor], calls: list[Call], full: bool) -> int:
    """Forward evaluations a check would make (without retries at kinks), known before running it."""
    total = 0
    for target in _targets(program, env):
        total += PER_DERIVATIVE * (target.grad.size if full else 1) + 1
    for call in calls:
        inputs = [t for t in call.grad_fn.ctx.inputs if isinstance(t, Tensor) and t.requires_grad]
        outputs = len(call.grad_fn.outputs)
        for t in inputs:
            total += PER_DERIVATIVE * ((t.array.size if full else 1) + outputs) + 1 + outputs
    return total


def run_check(program: Program, raw_options: Any, deadline: float | None = None) -> CheckReport:
    """The check's report: mode, tolerances, per-tensor and per-function comparisons."""
    options = CheckOptions.from_raw(raw_options)
    if options.mode == "off":
        return CheckReport(mode="off", passed=None)
    try:
        return _run_check(program, options, deadline)
    except OutOfTime as error:
        # Its place is the node that was being evaluated when time ran out: the check's doing.
        raise OutOfTime(
            LOC, f"{error.msg}, in the finite-difference check (check mode fast takes far less than full)"
        ) from None


def _run_check(program: Program, options: CheckOptions, deadline: float | None) -> CheckReport:
    limits = program.limits
    with program.guard(deadline) as guard, np.errstate(all="ignore"), dtypes.default_dtype(dtypes.float64):
        started = time.perf_counter()
        env, calls = program.forward(program.leaf_arrays(float64=True))
        one_evaluation = time.perf_counter() - started
        evaluation_elements = guard.elements  # everything one evaluation allocates, intermediates too
        # What engine.kinks keeps of each input element of relu, abs, max, ... while it
        # differentiates counts against the same setting; where it would not fit, the
        # stencils' own tests tell kinks alone.
        kink_elements = guard.kink_elements
        records_fit = evaluation_elements + RECORD_ELEMENTS * kink_elements <= limits.max_total_elements
        upstream = program.backward(env)
        # Every evaluation below has this one's shapes (perturbed values, never shapes).
        guard.sizes_known = True
        full_cost = estimate_evaluations(program, env, calls, full=True)
        mode = options.mode
        if mode == "auto":
            # Full while it is cheap in evaluations and, at the time this one took, in time.
            cheap = min(limits.auto_full_check_evaluations, limits.max_check_evaluations)
            quick = full_cost * one_evaluation <= AUTO_FULL_TIME_SHARE * limits.time_limit_seconds
            mode = "full" if full_cost <= cheap and quick else "fast"
        cost = full_cost if mode == "full" else estimate_evaluations(program, env, calls, full=False)
        if cost > limits.max_check_evaluations:
            hint = "; check mode fast needs far fewer" if mode == "full" else ""
            raise LimitExceeded(
                LOC,
                f"the {mode} check would need {cost:,} forward evaluations, over the limit of "
                f"{limits.max_check_evaluations:,} (setting {setting('max_check_evaluations')}){hint}",
            )
        # Retries at kinks may take up to MOST_STEPS stencils a derivative; other directions
        # and element-by-element looks at a tensor only what is left of that.
        budget = Budget(MOST_STEPS * limits.max_check_evaluations, LOC, guard.check_time, MOST_STEPS * cost)
        differentiator = _Differentiator(options, budget, records_fit)
        with no_grad():
            rows = BATCH_ELEMENTS // max(evaluation_elements, 1)
            tensors = _check_tensors(program, env, upstream, mode, options, differentiator, rows)
            functions, warnings = _check_functions(program, calls, mode, options, differentiator)
    comparisons = [*tensors.values(), *(c for f in functions for c in f.inputs.values())]
    unique = list({id(c): c for c in comparisons}.values())  # aliases share one
    warnings.extend(imprecision_notes(unique, options.atol))
    warnings.extend(note for c in unique for note in c.notes)
    checked = [c.passed for c in tensors.values()] + [f.passed for f in functions]
    if not records_fit and False in checked:
        warnings.append(_untracked_kinks(kink_elements, evaluation_elements, limits.max_total_elements))
    if not checked:
        warnings.append(
            "the check had nothing to compare: no leaf requires grad and receives a gradient, no node retains "
            "its gradient, and no custom function is called"
        )
    return CheckReport(
        mode=mode,
        passed=all(checked) if checked else None,
        eps=options.eps or DEFAULT_EPS,
        atol=options.atol,
        rtol=options.rtol,
        seed=options.seed,
        evaluations=budget.used,
        tensors=tensors,
        functions=functions,
        warnings=warnings,
    )


def _objective(upstream: list[tuple[str, Array]]) -> Callable[[dict[str, Tensor]], float]:
    def objective(env: dict[str, Tensor]) -> float:
        return float(sum(np.vdot(env[name].array, gradient) for name, gradient in upstream))

    return objective


def _check_tensors(
    program: Program,
    env: dict[str, Tensor],
    upstream: list[tuple[str, Array]],
    mode: str,
    options: CheckOptions,
    differentiator: _Differentiator,
    batch_rows: int,
) -> dict[str, Comparison]:
    objective = _objective(upstream)
    base = program.leaf_tensors(program.leaf_arrays(float64=True), requires_grad=False)
    program.evaluate_nodes(base)
    at_base = objective(base)
    results: dict[str, Comparison] = {}
    for target in _targets(program, env):
        name = target.names[0]
        f = _objective_of(program, base, name, objective, at_base)
        batched = _batched_objective_of(program, base, name, upstream, batch_rows)
        x = base[name].array
        comparison = _compare_one(f, x, target.grad, mode, options, differentiator, name, batched)
        _explain_a_kink(comparison, f, x, differentiator)
        if comparison.direction is not None and comparison.non_differentiable and math.isfinite(at_base):
            comparison.notes.append(
                f"{name}: every random direction tried met a kink or a domain edge, where its steps measured no "
                "derivative, and the evaluation limit or the time left did not allow a look element by element: "
                "nothing of this gradient was judged"
            )
        if not math.isfinite(at_base):
            comparison.notes.append(
                f"{name}: the backward roots' values times their upstream gradients sum to {at_base} here, so no "
                "finite difference could measure this gradient: its elements are listed as non-differentiable, "
                "none judged"
            )
        for alias in target.names:
            results[alias] = comparison
    return results


def _explain_a_kink(
    comparison: Comparison, f: Callable[[Array], float], x: Array, differentiator: _Differentiator
) -> None:
    """Where a failed element has an op of the graph at its kink, say so: autograd takes a
    convention there (relu'(0) = 0, as PyTorch), which a smooth function of kinked ops does not
    share (relu(x) + log(1 + exp(-abs(x))) at 0). Two evaluations, on failure only."""
    index = comparison.worst_index
    if comparison.passed or index is None or len(index) != x.ndim or not differentiator.record_kinks:
        return  # passed, or failed along a direction: no element named
    flat = np.ravel_multi_index(index, x.shape) if x.ndim else 0
    if not differentiator.budget.reserve(2):
        return
    clear = _unless_out_of_time(lambda: differentiator.clear_of_kinks(f, x, np.array([flat])))
    if clear is not None and not clear[0]:
        comparison.message = (
            f"{comparison.message}; an op of the graph is at its kink there (relu or abs at 0, a tie of max or "
            "min, ...), where autograd takes PyTorch's convention, which the function itself need not share"
        )


def _objective_of(
    program: Program,
    base: dict[str, Tensor],
    name: str,
    objective: Callable[[dict[str, Tensor]], float],
    at_base: float,
) -> Callable[[Array], float]:
    """F as a function of one leaf's or node's value: only the nodes that depend on it re-run."""
    dependents = program.dependents(name)
    unperturbed = base[name].array

    def f(x: Array) -> float:
        if x is unperturbed:
            return at_base  # every target's derivatives start from F itself: computed once
        program.start_evaluation()
        values = dict(base)
        values[name] = Tensor(x)
        program.evaluate_nodes(values, dependents)
        return objective(values)

    return f


def _batched_objective_of(
    program: Program, base: dict[str, Tensor], name: str, upstream: list[tuple[str, Array]], rows: int
) -> Batch:
    """F for many values of one leaf or node at once, by re-running what depends on it with a
    batch axis: up to `rows` copies, each as large as one evaluation of the graph at most."""
    dependents = program.dependents(name)
    names = [n for i in dependents for n in program.nodes[i].names]

    def f(copies: Array) -> Array | None:
        rows = copies.shape[0]
        guard = program.start_evaluation()
        values = dict(base)
        values[name] = Batched(copies)
        guard.batched = True
        try:
            program.evaluate_nodes(values, dependents)
        except LimitExceeded:
            raise
        except (Unbatchable, SpecError, *COMPUTE_FAILURES):
            return None  # evaluated copy by copy, an error is met again and said where it happens
        finally:
            guard.batched = False
        for n in names:  # every row a copy of the tensor it stands for: else a rule is wrong
            expected = (rows, *base[n].shape) if values[n].__class__ is Batched else base[n].shape
            if values[n].shape != expected:
                return None
        total = np.zeros(rows)
        for root, gradient in upstream:
            tensor = values[root]
            if tensor.__class__ is Batched:
                total += tensor.array.reshape(rows, -1) @ gradient.reshape(-1)
            else:
                total += np.vdot(tensor.array, gradient)
        return total

    return Batch(f, rows)


def _compare_one(
    f: Callable[[Array], float],
    x: Array,
    grad: Array,
    mode: str,
    options: CheckOptions,
    differentiator: _Differentiator,
    what: str,
    batched: Batch | None = None,
) -> Comparison:
    if mode == "full":
        numerical, errors, kinks = differentiator.full(f, x, batched)
        return compare(grad, numerical, errors, kinks, options.atol, options.rtol, what)
    result = _along_a_random_direction(f, x, grad, options, differentiator, what)
    o, budget = options, differentiator.budget
    most = MOST_STEPS * PER_DERIVATIVE * x.size + 1  # evaluations element by element, at most

    def element_by_element() -> Comparison | str:
        """The comparison element by element, or why there is none."""
        if differentiator.out_of_time:
            return "skipped, an earlier look element by element ran out of its share of the time"
        if not budget.reserve(most):
            return f"not done, it would go over the evaluation limit (setting {setting('max_check_evaluations')})"
        used = budget.used
        detail = _unless_out_of_time(lambda: compare(grad, *differentiator.full(f, x, batched), o.atol, o.rtol, what))
        budget.committed -= most - (budget.used - used)  # what it did not take is free again
        if detail is None:
            differentiator.out_of_time = True
            return f"not done, a look element by element may take {CLOSER_LOOK_TIME:.0%} of the time left at most"
        return detail

    if result.non_differentiable:
        # The direction crossed a kink or a domain edge somewhere: element by element, the
        # other elements can still be judged.
        detail = element_by_element()
        if isinstance(detail, Comparison):
            return detail
    first = result
    for _ in range(OTHER_DIRECTIONS):
        # A failure is conclusive (the tolerance took in the error estimate); a pass that
        # could not tell an error of a few percent is not, nor a kink.
        doubtful = result.passed and result.coarse(o.atol).any()
        if not (result.non_differentiable or doubtful) or not budget.reserve(ONE_DIRECTION):
            break
        # Another direction may pass clear of the kink, or measure closer: element by element
        # the function's rounding is no smaller.
        other = _along_a_random_direction(f, x, grad, options, differentiator, what)
        result = min(result, other, key=_doubt)
    if first.non_differentiable and not result.non_differentiable:
        result.notes.append(
            f"{what}: a random direction met a kink or a domain edge, where its steps measured no derivative; "
            "the verdict is along another direction, whose steps measured one"
        )
    if not result.passed:
        # Element by element, to say which element is wrong. That is the finer check (gradcheck
        # advises re-running a failed fast check in full): if every element passes, the one
        # direction crossed kinks that its steps did not tell apart, and the elements' verdict stands.
        detail = element_by_element()
        if isinstance(detail, str):
            result.message = f"{result.message}; elementwise: {detail}"
        elif detail.passed:
            return detail
        else:
            result.worst_index, result.message = detail.worst_index, f"{result.message}; elementwise: {detail.message}"
    return result


_Look = TypeVar("_Look")


def _unless_out_of_time(look: Callable[[], _Look]) -> _Look | None:
    """look(), a closer look that the check can do without, within CLOSER_LOOK_TIME of the time
    left; None if it takes longer. Past the request's own deadline, OutOfTime stands."""
    guard = current_guard()
    if guard is None:
        return look()
    try:
        with guard.time_boxed(CLOSER_LOOK_TIME):
            return look()
    except OutOfTime:
        guard.check_time()
        return None


def _doubt(direction: Comparison) -> tuple[bool, bool, float]:
    """How little a direction's verdict says: nothing at a kink; all it needs to if it failed;
    else the less, the larger its error estimate against the derivative's size."""
    if direction.non_differentiable:
        return True, True, math.inf
    return False, direction.passed, float(direction.errors) / max(direction.scale(), SMALLEST_STEP)


def _along_a_random_direction(
    f: Callable[[Array], float],
    x: Array,
    grad: Array,
    options: CheckOptions,
    differentiator: _Differentiator,
    what: str,
) -> Comparison:
    numerical, errors, kinks, u = differentiator.along(f, x, differentiator.direction(x.shape))
    directional = np.array(np.sum(grad * u))
    result = compare(
        directional, numerical, errors, kinks, options.atol, options.rtol, f"{what} along a random direction"
    )
    result.direction = u
    return result


def _check_functions(
    program: Program, calls: list[Call], mode: str, options: CheckOptions, differentiator: _Differentiator
) -> tuple[list[FunctionCheck], list[str]]:
    checks, warnings = [], []
    for call in calls:
        spec = program.functions[call.function]
        node = call.grad_fn
        ctx = node.ctx
        inputs: list[Any] = list(ctx.inputs)
        grads, received = _upstream_of(call, differentiator.probes)
        checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
        hand = _hand_written(node, ctx, grads, checked)
        auto = _autodiff(spec.function, ctx.params, inputs, grads, checked)
        comparisons: dict[str, Comparison] = {}
        # Where the forward's projection is not finite, no finite difference of it is, and
        # autograd alone judges.
        measurable = math.isfinite(_projection(node.outputs, _weights(grads)))
        # Autograd's rounding, where it is needed: a few more evaluations of autograd.
        noise = functools.cache(
            functools.partial(_autodiff_noise, spec.function, ctx.params, inputs, grads, checked, auto)
        )
        for i in checked:
            f = _projected_forward(spec.function, ctx.params, inputs, i, grads)
            what = f"{call.function}: grad_{spec.inputs[i]}"
            comparison = _compare_one(f, inputs[i].array, hand[i], mode, options, differentiator, what)

            def noise_of(i: int = i, noise: Callable[[], dict[int, Array]] = noise) -> Array:
                return noise()[i]

            _judge_by_autodiff(
                comparison, hand[i], auto[i], noise_of, f, inputs[i].array, measurable, options, differentiator, what
            )
            comparisons[spec.inputs[i]] = comparison
        autodiff = {
            spec.inputs[i]: auto[i] if c.direction is None else np.array(np.sum(auto[i] * c.direction))
            for i, c in zip(checked, comparisons.values(), strict=True)
        }
        passed = all(c.passed for c in comparisons.values())
        checks.append(FunctionCheck(call.function, call.node, passed, comparisons, autodiff))
        warnings.extend(
            _jacobian_warnings(call, spec, node, ctx, inputs, grads, received, checked, passed, options, differentiator)
        )
    return checks, warnings


def _judge_by_autodiff(
    comparison: Comparison,
    hand: Array,
    auto: Array,
    noise: Callable[[], Array],
    f: Callable[[Array], float],
    x: Array,
    measurable: bool,
    options: CheckOptions,
    differentiator: _Differentiator,
    what: str,
) -> None:
    """Fail `comparison` where the hand-written gradient is off the autograd one (beyond atol +
    rtol·|autograd|) at an element clear of every kink of the forward's ops, where autograd is
    exact: the finite differences may be too coarse to tell (an input of 1e6 beside one of 1,
    an output that is infinite), and a direction compares only a sum. At an op's kink autograd
    takes a convention, which a smooth function of kinked ops does not share (relu(x) +
    log(1 + exp(-|x|)) at 0), and which a backward need not keep at a kink of the function:
    there the finite differences alone judge, as they do wherever they tell the two apart."""
    diff = np.abs(hand - auto)
    allowed = options.atol + options.rtol * np.abs(auto)
    with np.errstate(all="ignore"):
        rounding = AUTODIFF_ROUNDING * ROUNDING * (np.abs(hand) + np.abs(auto))
        off = ~(diff <= allowed + rounding) & np.isfinite(auto)
    if not measurable:
        comparison.notes.append(
            f"{what}: the forward's outputs that get a gradient are not all finite here, so no finite difference "
            "measured this gradient (its elements are listed as non-differentiable): it was compared with the "
            "autograd gradient of the forward alone, where that is finite"
        )
    elif comparison.direction is None:
        listed = np.zeros(off.shape, dtype=bool)
        for index in comparison.non_differentiable:
            listed[tuple(index)] = True
        told = 2 * (comparison.errors + options.atol + options.rtol * np.abs(comparison.numerical)) < diff
        off &= ~listed & ~told  # the finite differences' verdict stands there
    if off.any():  # then what autograd's terms may have lost in cancelling, too
        with np.errstate(all="ignore"):
            rounding = rounding + AUTODIFF_ROUNDING * noise()
            off &= ~(diff <= allowed + rounding)
    if not off.any():
        return

    def left_to_the_differences(reason: str) -> None:
        if comparison.passed:  # a failure says enough
            comparison.notes.append(_unprobed(off, diff, hand, auto, what, reason))

    if not differentiator.record_kinks:  # nothing tells an op's kink from a wrong formula
        left_to_the_differences(_NO_RECORDS)
        return
    probed = _some_of(off, diff, options.seed)
    if not differentiator.budget.reserve(2 * probed.size):
        left_to_the_differences(_NO_EVALUATIONS)
        return
    clear = _unless_out_of_time(lambda: differentiator.clear_of_kinks(f, x, probed))
    if clear is None:
        left_to_the_differences(_NO_TIME)
        return
    if not clear.any():
        if probed.size < np.count_nonzero(off):  # the others, unprobed, may be clear of kinks
            off.reshape(-1)[probed] = False
            left_to_the_differences(_PROBED_AT_KINKS)
        return
    off = np.zeros(off.shape, dtype=bool)
    off.reshape(-1)[probed[clear]] = True
    worst_flat, index, where = _worst(off, diff, what)
    h, a = float(hand.flat[worst_flat]), float(auto.flat[worst_flat])
    tolerance = float(allowed.flat[worst_flat] + rounding.flat[worst_flat])
    said = (
        f"{where}: hand-written {h:.10g} but autograd of the forward {a:.10g}, off by {abs(h - a):.3g}, over the "
        f"tolerance {tolerance:.3g} (atol {options.atol:g} + rtol {options.rtol:g} × |autograd| + rounding "
        f"{float(rounding.flat[worst_flat]):.2g}), where no op of the forward is at a kink"
    )
    if comparison.passed:
        comparison.passed, comparison.worst_index, comparison.message = False, index, said
    elif comparison.direction is not None:  # a failed direction: this names an element
        comparison.message = f"{comparison.message}; {said}"


_NO_RECORDS = f"their records would exceed the elements' limit, setting {setting('max_total_elements')}"
_NO_EVALUATIONS = "the evaluations that would tell were over the check's limit"
_NO_TIME = "the evaluations that would tell did not fit in the time left"
_PROBED_AT_KINKS = f"{AUTODIFF_PROBES} of the elements off were probed, the worst and others at random, all at kinks"


def _worst(off: Array, diff: Array, what: str) -> tuple[int, list[int], str]:
    """The element off with the largest difference: its flat index, its index, and its name."""
    worst_flat = int(np.argmax(np.where(off, diff, -1.0)))
    index = [int(i) for i in np.unravel_index(worst_flat, off.shape)] if off.ndim else []
    return worst_flat, index, f"{what}[{', '.join(map(str, index))}]" if index else what


def _unprobed(off: Array, diff: Array, hand: Array, auto: Array, what: str, reason: str) -> str:
    """What the check leaves unsaid where it could not look for kinks at the elements off autograd."""
    worst_flat, _, where = _worst(off, diff, what)
    h, a = float(hand.flat[worst_flat]), float(auto.flat[worst_flat])
    others = int(np.count_nonzero(off)) - 1
    return (
        f"{where}{f' and {others:,} more elements' if others else ''}: the hand-written gradient is off "
        f"autograd of the forward beyond the tolerance (the first named: hand-written {h:.10g}, autograd "
        f"{a:.10g}); where an op of the forward is at a kink, autograd's convention need not hold, but whether "
        f"one is could not be told ({reason}), so the finite differences' verdict stands"
    )


def _some_of(off: Array, diff: Array, seed: int) -> Array:
    """Up to AUTODIFF_PROBES flat indices of the elements off: the worst half, and the rest drawn
    at random, so that elements at kinks, often the worst, cannot fill every probe."""
    flat = np.flatnonzero(off)
    if flat.size <= AUTODIFF_PROBES:
        return flat
    order = flat[np.argsort(-diff.reshape(-1)[flat], kind="stable")]
    worst, rest = order[: AUTODIFF_PROBES // 2], order[AUTODIFF_PROBES // 2 :]
    drawn = np.random.default_rng([seed, 2]).choice(rest, AUTODIFF_PROBES - worst.size, replace=False)
    return np.concatenate([worst, np.sort(drawn)])


def _hand_written(node: Any, ctx: FunctionCtx, grads: list[Array], checked: list[int]) -> dict[int, Array]:
    """The backward formula's gradient for each checked input; none given counts as zeros."""
    name = node.function.__name__
    seen = ctx.__dict__.get("grad_outputs")  # what the call really got, which a backward adds to
    try:
        try:
            returned = node.function.backward(ctx, *(Tensor(g) for g in grads))
        finally:  # the check's gradients are not the call's
            ctx.__dict__.pop("grad_outputs", None)
            if seen is not None:
                ctx.grad_outputs = seen
        returned = returned if isinstance(returned, tuple) else (returned,)
        result = {}
        for i in checked:
            grad = node._input_grad(i, returned[i]) if i < len(returned) else None
            result[i] = np.zeros(node.inputs[i].array.shape) if grad is None else grad
    except ComputeError as error:  # at a step of the backward: said there
        raise ComputeError(error.loc, f"{error.msg} (in the check, which tries other upstream gradients too)") from None
    except COMPUTE_FAILURES as error:
        loc = ("body", "functions", name)
        raise ComputeError(loc, f"function '{name}': backward failed in the check: {error}") from None
    return result


def _autodiff(
    function: Any, params: dict[str, Any], inputs: list[Any], grads: list[Array], checked: list[int]
) -> dict[int, Array]:
    leaves = [Tensor(t.array, requires_grad=i in checked) if isinstance(t, Tensor) else t for i, t in enumerate(inputs)]
    with enable_grad():
        outputs = function.forward(FunctionCtx(tuple(i in checked for i in range(len(inputs)))), *leaves, params)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        roots = [(o, g) for o, g in zip(outputs, grads, strict=True) if o.requires_grad]
        if roots:
            run_backward([(o, np.asarray(g, dtype=o.array.dtype)) for o, g in roots])
    result = {}
    for i in checked:
        grad = leaves[i].grad
        result[i] = grad.array if grad is not None else np.zeros(leaves[i].shape)
    return result


def _autodiff_noise(
    function: Any,
    params: dict[str, Any],
    inputs: list[Any],
    grads: list[Array],
    checked: list[int],
    auto: dict[int, Array],
) -> dict[int, Array]:
    """How far autograd's gradient moves when every checked input is nudged by NUDGES of its size,
    either way: its rounding where terms cancel, which no count of ulps of the result bounds."""
    moved = {i: np.zeros(auto[i].shape) for i in checked}
    for nudge in (sign * size for size in NUDGES for sign in (-1.0, 1.0)):
        nudged = [
            Tensor(t.array + nudge * np.maximum(1.0, np.abs(t.array))) if i in checked else t
            for i, t in enumerate(inputs)
        ]
        again = _autodiff(function, params, nudged, grads, checked)
        for i in checked:
            with np.errstate(all="ignore"):
                moved[i] = np.fmax(moved[i], np.abs(again[i] - auto[i]))
    return moved


def _projected_forward(
    function: Any, params: dict[str, Any], inputs: list[Any], index: int, grads: list[Array]
) -> Callable[[Array], float]:
    """sum over outputs of sum(output * its upstream gradient), as a function of one input."""
    weights = _weights(grads)

    def f(x: Array) -> float:
        start_evaluation()
        args = list(inputs)
        args[index] = Tensor(x)
        outputs = function.forward(FunctionCtx(()), *args, params)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return _projection([o.array for o in outputs], weights)

    return f


def _weights(grads: list[Array]) -> list[tuple[int, Array, Array | None]]:
    """Each output's index and upstream gradient, with where that is not 0 unless it is nowhere
    0; an output whose gradient is 0 everywhere is left out."""
    return [(k, g, None if np.all(g) else g != 0) for k, g in enumerate(grads) if np.any(g)]


def _projection(outputs: list[Array], weights: list[tuple[int, Array, Array | None]]) -> float:
    """sum over outputs of sum(output * its upstream gradient), where that gradient is not 0:
    an output element that gets none, NaN or infinite, leaves the sum alone."""
    total = 0.0
    for k, g, nonzero in weights:
        total += float(np.sum(outputs[k] * g) if nonzero is None else np.sum(outputs[k] * g, where=nonzero))
    return total


def _jacobian_warnings(
    call: Call,
    spec: Any,
    node: Any,
    ctx: FunctionCtx,
    inputs: list[Any],
    grads: list[Array],
    received: list[bool],
    checked: list[int],
    passed: bool,
    options: CheckOptions,
    differentiator: _Differentiator,
) -> list[str]:
    """Try the backward with a random gradient on each output in turn, as gradcheck tries every
    row of the Jacobian: a formula that ignores an output's gradient is right in this graph,
    and wrong as soon as that output is used; one right only for the gradient an output got
    here (all ones, from a sum) is wrong in any other graph. A call that failed says enough."""
    warnings = []
    for k, got_gradient in enumerate(received):
        if node.outputs[k].dtype.kind != "f" or (got_gradient and not passed):  # an integer output gets none
            continue
        used = call.node[k] if isinstance(call.node, list) else spec.outputs[k]
        probe = [np.zeros(g.shape) for g in grads]
        probe[k] = np.asarray(differentiator.probes.standard_normal(grads[k].shape))
        try:
            hand = _hand_written(node, ctx, probe, checked)
        except ComputeError as error:
            warnings.append(f"{call.function} (node {call.node}): {error.msg}, with a gradient on {used}")
            continue
        wrong = []
        for i in checked:
            f = _projected_forward(spec.function, ctx.params, inputs, i, probe)
            result = _compare_one(
                f, inputs[i].array, hand[i], "fast", options, differentiator, f"grad_{spec.inputs[i]}"
            )
            if not result.passed:
                wrong.append(spec.inputs[i])
        if wrong:
            which = f"input{'s' if len(wrong) > 1 else ''} {' and '.join(wrong)}"
            said = (
                f"correct for the gradient {used} got here, wrong for others (a random one was tried, as gradcheck "
                f"does): what a backward returns must be linear in grad_{spec.outputs[k]}"
                if got_gradient
                else f"correct here, wrong if {used} is used"
            )
            warnings.append(
                f"{call.function} (node {call.node}): backward mishandles grad_{spec.outputs[k]} for {which}: {said}"
            )
    return warnings
