"""Numerical gradients of one tensor, and their verdict against its analytic gradient.

`Differentiator` differentiates element by element (full mode), along random directions
(fast mode, as gradcheck's fast_mode), and probes elements for kinks of relu, abs, max, ...;
`compare_one` decides which it takes for a tensor, and compares."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

import numpy as np

from engine.check_options import DEFAULT_EPS, CheckOptions
from engine.comparison import Comparison, compare
from engine.errors import OutOfTime
from engine.graph import Array
from engine.kinks import Crossings, recorded
from engine.limits import current_guard, setting
from engine.numerical import (
    MIN_EPS,
    MOST_STEPS,
    OFFSETS,
    SMALLEST_STEP,
    Budget,
    Derivative,
    derivative,
    exact_step,
    steps,
)
from engine.rounding import Rounding

PER_DERIVATIVE = len(OFFSETS)
# Fast mode: the directions tried after one that meets a kink it cannot step around, or
# whose derivative comes out imprecise, for a tensor too large to check element by element.
OTHER_DIRECTIONS = 2
ONE_DIRECTION = MOST_STEPS * PER_DERIVATIVE + 1  # the most evaluations a direction may take
# Fast mode: the share of the time left that a look element by element may take; past it the
# direction's verdict stands.
CLOSER_LOOK_TIME = 0.5
PROBE_STEP = 1e-8  # relative: far below any step of the differences, far above x's rounding
AT_A_KINK = 0.01  # of the probe's step: a kink located nearer x than this is at x


@dataclass
class Batch:
    """F for many copies of one tensor at once: `evaluate(copies)` with copies of shape
    (rows, *shape) gives F of each row, or None where the graph has no batched form."""

    evaluate: Callable[[Array], Array | None]
    rows: int  # the most copies one evaluation may take


class Differentiator:
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

    @contextmanager
    def measuring_by(self, options: CheckOptions) -> Iterator[None]:
        """Measure with these options' tolerances for a while (a custom function's, atol at the
        size of the gradient it got): the steps a derivative accepts, and the jumps it tells from
        steep slopes, are measured against atol too."""
        kept, self.options = self.options, options
        try:
            yield
        finally:
            self.options = kept

    @cached_property
    def probes(self) -> np.random.Generator:
        """The upstream gradients that custom functions are probed with: a stream of their own,
        so that another direction drawn for one tensor leaves them as they were."""
        return np.random.default_rng([self.options.seed, 1])

    def full(
        self, f: Callable[[Array], float], x: Array, batched: Batch | None = None, rounding: float = 0.0
    ) -> tuple[Array, Array, Array]:
        """Every element: f(x + t·e_i) differentiated at t = 0. With `batched`, f's values at the
        first step of every element come from evaluations of many copies at once. `rounding`: how
        far f may be off by rounding when one element moves (engine.rounding), where known."""
        self.budget.spend(1)
        f0 = f(x)
        values, errors, kinks = (np.zeros(x.shape), np.zeros(x.shape), np.zeros(x.shape, dtype=bool))
        probe = x.copy()
        flat = probe.reshape(-1)
        first_steps = self._first_steps(flat)
        known = self._first_step_values(batched, x, first_steps) if batched is not None else None
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
            tries, finest = steps(scale, self.eps), MIN_EPS * max(1.0, scale)
            d = self._derivative(along, f0, tries, crossings, finest, False, exact, rounding)
            values.flat[i], errors.flat[i], kinks.flat[i] = d.value, d.error, d.kink or not d.finite
        return values, errors, kinks

    def _first_step_values(self, batched: Batch, x: Array, offsets: Array) -> list[dict[float, float]] | None:
        """f(x + t·e_i) for every element i and every t of its first stencil (`offsets`, a row
        an element), taken from evaluations of many perturbed copies at once; None if the
        graph has no batched form."""
        n = x.size
        per_chunk = batched.rows // len(OFFSETS)  # elements perturbed per evaluation
        if per_chunk < 2 or self.budget.used + len(OFFSETS) * n > self.budget.limit:
            return None  # copy by copy: nothing to gain, or the budget says where it runs out
        flat = x.reshape(-1)
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

    def clear_of_kinks(
        self, f: Callable[[Array], float], x: Array, elements: Array, relative_step: float = PROBE_STEP
    ) -> Array:
        """For each flat index of `elements`: whether no relu, abs, max, ... of f has its kink at
        x_i, so that autograd is exact there. A short step either way finds the kinks near; the
        step is well above x's rounding, which could keep a kinked op's input where it was
        (relu((x + 1e5) - 1e5) at 0 does not move for a step of 1e-12). A longer one (the
        differences' own) finds the kinks their steps may cross."""
        probe = x.copy()
        flat = probe.reshape(-1)
        crossings = Crossings()
        clear = np.zeros(elements.size, dtype=bool)
        for k, i in enumerate(elements.tolist()):
            original = flat[i]
            step = relative_step * max(1.0, abs(float(original)))
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

    def smooth(self, f: Callable[[Array], float], x: Array) -> bool:
        """Whether no relu, abs, max, ... runs in f at x: then a kink its stencils saw is none (a fast
        oscillation, sin(x³) at 1000), and autograd is exact. (A probe's short step may not tell
        a kink that an offset's rounding hides, abs((x + 1e10) - 1e10) at 0: this does not step.)"""
        crossings = Crossings()
        self.budget.spend(1)
        recorded(crossings, 1.0, lambda: f(x))
        return not crossings.noted()

    def direction(self, shape: tuple[int, ...]) -> Array:
        u = self.rng.standard_normal(shape)
        norm = float(np.linalg.norm(u))
        return u / norm if norm else u

    def along(
        self, f: Callable[[Array], float], x: Array, u: Array, rounding: float = 0.0
    ) -> tuple[Array, Array, Array, Array]:
        """One direction: f(x + t·u) differentiated at t = 0, as gradcheck's fast mode does; and the
        direction as the steps took it, u to rounding. `rounding`: how far f may be off by
        rounding when all of x moves (engine.rounding), where known."""
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
        def taken(h: float) -> Array:
            return np.where(np.isfinite(x), (x + h * u) - x, h * u)  # x + h·u, less x

        step, moved = 1.0, u

        def exact(h: float) -> float:
            nonlocal step, moved
            step, moved = h, taken(h)
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
        tries = steps(nearest_edge, self.eps)
        d = self._derivative(along_u, f0, tries, crossings, finest, untracked, exact, rounding)
        direction = taken(d.step) / d.step if d.step else u
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
        f_rounding: float = 0.0,
    ) -> Derivative:
        """f'(0), where no finite neighbourhood (sqrt at 0) counts as a kink: not differentiable."""
        o = self.options
        return derivative(
            f, f0, tries, self.budget, o.atol, o.rtol, crossings, finest, untracked_kinks, exact, f_rounding
        )


def compare_one(
    f: Callable[[Array], float],
    x: Array,
    grad: Array,
    mode: str,
    options: CheckOptions,
    differentiator: Differentiator,
    what: str,
    batched: Batch | None = None,
    listed: Array | None = None,
    rounding: Rounding | None = None,
    said: str = "analytic",
) -> Comparison:
    """`grad` against the finite differences of f at x, element by element (full) or along random
    directions (fast). `listed`: elements to list as non-differentiable, not judged, whatever the
    steps measure there. `rounding`: engine.rounding's bound on f's rounding, where known (else none).
    `said`: what the messages call `grad`."""
    o, budget = options, differentiator.budget
    rounding = rounding or Rounding()

    def elementwise() -> Comparison:
        numerical, errors, kinks = differentiator.full(f, x, batched, rounding.element)
        return compare(grad, numerical, errors, kinks if listed is None else kinks | listed, o.atol, o.rtol, what, said)

    if mode == "full":
        return elementwise()
    most = MOST_STEPS * PER_DERIVATIVE * x.size + 1  # evaluations element by element, at most

    def element_by_element() -> Comparison | str:
        """The comparison element by element, or why there is none."""
        if differentiator.out_of_time:
            return "skipped, an earlier look element by element ran out of its share of the time"
        if not budget.reserve(most):
            return f"not done, it would go over the evaluation limit (setting {setting('max_check_evaluations')})"
        used = budget.used
        detail = unless_out_of_time(elementwise)
        budget.committed -= most - (budget.used - used)  # what it did not take is free again
        if detail is None:
            differentiator.out_of_time = True
            return f"not done, a look element by element may take {CLOSER_LOOK_TIME:.0%} of the time left at most"
        return detail

    if listed is not None and listed.any():
        # A direction would sum the listed elements in: element by element, if it fits.
        detail = element_by_element()
        if isinstance(detail, Comparison):
            return detail
    result = _along_a_random_direction(f, x, grad, options, differentiator, what, rounding.whole, said)
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
        other = _along_a_random_direction(f, x, grad, options, differentiator, what, rounding.whole, said)
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


def unless_out_of_time(look: Callable[[], _Look]) -> _Look | None:
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
    differentiator: Differentiator,
    what: str,
    rounding: float,
    said: str,
) -> Comparison:
    numerical, errors, kinks, u = differentiator.along(f, x, differentiator.direction(x.shape), rounding)
    directional = np.array(np.sum(grad * u))
    result = compare(
        directional, numerical, errors, kinks, options.atol, options.rtol, f"{what} along a random direction", said
    )
    # One number, whose error estimate alone tells nothing of how small the gradient is: where it
    # is 0 (a sum of x - mean(x)), rounding was warned of as values too small to judge (a review).
    result.notes.clear()
    result.direction = u
    return result
