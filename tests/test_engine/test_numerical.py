"""engine.numerical.derivative against exact derivatives, at very different scales.

Every expected value here is known in closed form: f'(x) of (x + t)³, exp, sin, log, 1/x at
t = 0, or the one-sided slopes of relu and abs. The step is the check's default,
1e-3 · max(|x|, 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from engine.errors import LimitExceeded
from engine.kinks import Crossings
from engine.numerical import OFFSETS, RETRY_FACTOR, SMALLEST_STEP, Budget, Derivative, derivative, exact_step, steps

ATOL, RTOL = 1e-9, 1e-6
LOC = ("body", "check")
Fn = Callable[[float], float]


def _np(fn: Callable[[np.float64], np.float64]) -> Fn:
    """A float function with NumPy's float64 semantics (log(-1) is nan, 1/0 is inf), silently."""

    def f(x: float) -> float:
        with np.errstate(all="ignore"):
            return float(fn(np.float64(x)))

    return f


class Counted:
    """f(x0 + t) as a function of t, counting its calls."""

    def __init__(self, f: Fn, x0: float) -> None:
        self.f, self.x0, self.calls = f, x0, 0

    def __call__(self, t: float) -> float:
        self.calls += 1
        return self.f(self.x0 + t)


def numerical(f: Fn, x0: float, budget: Budget | None = None) -> tuple[Derivative, Counted]:
    budget = budget or Budget(10**6, LOC)
    g = Counted(f, x0)
    d = derivative(g, f(x0), steps(abs(x0), 1e-3), budget, ATOL, RTOL)
    assert budget.used == g.calls  # the budget counts exactly the evaluations made
    return d, g


cube, dcube = (lambda x: x**3), (lambda x: 3 * x**2)
SMOOTH: list[tuple[str, Fn, Fn, float]] = [
    *[(f"cube at {x0:g}", cube, dcube, x0) for x0 in (1e-6, -1e-6, 1e-3, 1.0, -2.5, 1e3, 1e6, -1e6)],
    *[(f"exp at {x0:g}", math.exp, math.exp, x0) for x0 in (1e-6, 1.0, -5.0, 5.0, 20.0)],
    *[(f"sin at {x0:g}", math.sin, math.cos, x0) for x0 in (1e-6, 1.0, 3.0, 10.0)],
    *[(f"cos at {x0:g}", math.cos, lambda x: -math.sin(x), x0) for x0 in (1e-6, 1.5, -7.0)],
    *[(f"log at {x0:g}", _np(np.log), lambda x: 1 / x, x0) for x0 in (0.1, 0.5, 1.0, 1e3, 1e6)],
    *[(f"1/x at {x0:g}", _np(lambda x: 1 / x), lambda x: -1 / x**2, x0) for x0 in (0.1, 1.0, -3.0, 1e6)],
    # Values near 1e-6 and near 1e6 at the same x.
    ("1e-6 sin at 1", lambda x: 1e-6 * math.sin(x), lambda x: 1e-6 * math.cos(x), 1.0),
    ("1e6 sin at 1", lambda x: 1e6 * math.sin(x), lambda x: 1e6 * math.cos(x), 1.0),
    ("exp(1e-6 x) at 1e6", lambda x: math.exp(1e-6 * x), lambda x: 1e-6 * math.exp(1e-6 * x), 1e6),
    ("1e-6 + x^3 at 1e-2", lambda x: 1e-6 + x**3, dcube, 1e-2),
]


@pytest.mark.parametrize(("f", "df", "x0"), [case[1:] for case in SMOOTH], ids=[case[0] for case in SMOOTH])
def test_smooth_derivative_is_within_its_error_estimate_and_the_tolerance(f: Fn, df: Fn, x0: float) -> None:
    d, g = numerical(f, x0)
    exact = df(x0)
    error = abs(d.value - exact)
    assert d.finite and not d.kink
    assert error <= d.error, (d, exact)
    assert error <= ATOL + RTOL * abs(exact), (d, exact)
    # The estimate is honest but not so loose that a gradient off by 1e-4 would pass.
    assert d.error <= 1e-4 * abs(exact) + ATOL, (d, exact)
    assert g.calls == len(OFFSETS)  # a smooth point needs no retry


@pytest.mark.parametrize("x0", [1e-3, 2e-4])
def test_log_near_zero_is_retried_closer_in_and_then_accurate(x0: float) -> None:
    # The default step (1e-3) reaches log of a negative number; the retry at 1e-3 · h does not.
    d, g = numerical(_np(np.log), x0)
    assert g.calls == 2 * len(OFFSETS)
    assert d.finite and not d.kink
    assert abs(d.value - 1 / x0) <= min(d.error, ATOL + RTOL / x0)


@pytest.mark.parametrize("x0", [1e-3, -1e-4, 2e-2])
def test_sqrt_of_a_small_positive_number_retried_or_not(x0: float) -> None:
    f = _np(lambda x: np.sqrt(x + 2e-3))  # sqrt near the edge of its domain
    d, _ = numerical(f, x0)
    exact = 0.5 / math.sqrt(x0 + 2e-3)
    assert d.finite and not d.kink
    assert abs(d.value - exact) <= d.error + ATOL + RTOL * exact


@pytest.mark.parametrize("x0", [1e5, 1e6])
def test_sin_far_from_zero_has_an_honest_error_estimate(x0: float) -> None:
    d, _ = numerical(math.sin, x0)
    assert abs(d.value - math.cos(x0)) <= d.error + ATOL + RTOL * abs(math.cos(x0))


# --- kinks ----------------------------------------------------------------------------

relu = _np(lambda x: np.maximum(x, 0.0))
KINKS: list[tuple[str, Fn, float]] = [
    ("relu at 0", relu, 0.0),
    ("abs at 0", abs, 0.0),
    ("-abs at 0", lambda x: -abs(x), 0.0),
    ("relu(x - 5) at 5", lambda x: relu(x - 5.0), 5.0),
    ("maximum(x, 2) at 2", lambda x: max(x, 2.0), 2.0),
    ("3 relu(x) - relu(-x)/2 at 0", lambda x: 3 * relu(x) - 0.5 * relu(-x), 0.0),
    ("abs(x) + x^2 at 0", lambda x: abs(x) + x * x, 0.0),
    ("1e6 abs at 0", lambda x: 1e6 * abs(x), 0.0),
    ("1e-6 abs at 0", lambda x: 1e-6 * abs(x), 0.0),
]


@pytest.mark.parametrize(("f", "x0"), [case[1:] for case in KINKS], ids=[case[0] for case in KINKS])
def test_kinks_are_detected(f: Fn, x0: float) -> None:
    d, g = numerical(f, x0)
    assert d.kink and d.finite
    assert g.calls == 2 * len(OFFSETS)  # a kink is retried once, closer in, and no more


CURVED: list[tuple[str, Fn, Fn, float]] = [
    *[
        (f"exp(10 t) at {x0:g}", lambda x: math.exp(10 * x), lambda x: 10 * math.exp(10 * x), x0)
        for x0 in (0, 0.1, -0.3, 1)
    ],
    *[(f"exp({k} t) at 0", lambda x, k=k: math.exp(k * x), lambda x, k=k: k * math.exp(k * x), 0.0) for k in (50, 100)],
    *[(f"t^4 at {x0:g}", lambda x: x**4, lambda x: 4 * x**3, x0) for x0 in (0.0, 1e-4, 1e-3, 1e-2, -0.1)],
    *[(f"{c:g} t^2 at 0", lambda x, c=c: c * x * x, lambda x: 0.0, 0.0) for c in (1e2, 1e4, 1e6)],
    ("sin(50 t) at 0", lambda x: math.sin(50 * x), lambda x: 50 * math.cos(50 * x), 0.0),
    ("cosh(20 t) at 0", lambda x: math.cosh(20 * x), lambda x: 20 * math.sinh(20 * x), 0.0),
    ("t^3 at 0", cube, dcube, 0.0),
]


@pytest.mark.parametrize(("f", "df", "x0"), [case[1:] for case in CURVED], ids=[case[0] for case in CURVED])
def test_large_curvature_is_not_taken_for_a_kink(f: Fn, df: Fn, x0: float) -> None:
    d, _ = numerical(f, x0)
    assert not d.kink and d.finite
    assert abs(d.value - df(x0)) <= d.error + ATOL + RTOL * abs(df(x0))


@pytest.mark.parametrize(
    ("f", "x0", "slope"),
    [(relu, 1e-4, 1.0), (relu, -1e-4, 0.0), (abs, 1e-4, 1.0), (abs, -2e-4, -1.0), (relu, 5e-6, 1.0)],
)
def test_a_kink_merely_near_the_point_is_a_smooth_point_after_the_retry(f: Fn, x0: float, slope: float) -> None:
    h = 1e-3 * max(abs(x0), 1.0)
    assert abs(x0) < 4 * h and abs(x0) > 4 * h * RETRY_FACTOR  # the first stencil crosses the kink, the retry not
    d, g = numerical(f, x0)
    assert not d.kink and d.finite
    assert abs(d.value - slope) <= ATOL
    assert g.calls == 2 * len(OFFSETS)


@pytest.mark.parametrize("x0", [1e-3, 2e-3, 3e-3, -2e-3])
def test_near_a_kink_without_a_retry_the_estimate_still_covers_the_error(x0: float) -> None:
    # The outer points of the stencil cross the kink while the one-sided slopes agree.
    d, _ = numerical(relu, x0)
    assert not d.kink and d.finite
    assert abs(d.value - (1.0 if x0 > 0 else 0.0)) <= d.error


def test_no_finite_neighbourhood_is_reported_as_not_finite() -> None:
    d, g = numerical(_np(np.sqrt), 0.0)
    assert not d.finite and math.isnan(d.value) and d.error == math.inf
    assert g.calls == 2 * len(OFFSETS)


@settings(max_examples=60, deadline=None)
@given(
    coefficients=st.lists(st.floats(-10, 10, allow_nan=False), min_size=5, max_size=5),
    x0=st.sampled_from([0.0, 1e-6, 0.3, -1.7, 40.0, 1e3, -1e4]),
)
@example(coefficients=[0.0, 5e-324, 0.0, 0.0, 0.0], x0=0.0)  # every f(kh) underflows to 0 (hypothesis)
def test_quartics_are_differentiated_to_rounding(coefficients: list[float], x0: float) -> None:
    # Five-point central differences are exact for polynomials of degree 4: only rounding is left.
    a0, a1, a2, a3, a4 = coefficients
    d, _ = numerical(lambda x: a0 + a1 * x + a2 * x**2 + a3 * x**3 + a4 * x**4, x0)
    exact = a1 + 2 * a2 * x0 + 3 * a3 * x0**2 + 4 * a4 * x0**3
    assert abs(d.value - exact) <= d.error, (d, exact)


# --- budget ---------------------------------------------------------------------------


def test_budget_counts_and_raises_past_its_limit() -> None:
    budget = Budget(10, LOC)
    budget.spend(6)
    budget.spend(4)
    assert budget.used == 10  # at the limit is allowed
    with pytest.raises(LimitExceeded, match="GRADLAB_MAX_CHECK_EVALUATIONS") as caught:
        budget.spend(1)
    assert caught.value.loc == LOC and "more than 10 forward evaluations" in caught.value.msg


def test_a_kink_very_near_a_small_x_is_stepped_over() -> None:
    # The closer step is relative to a small |x|: 1e-10 at 1e-7 keeps relu's stencil on one side.
    d, _ = numerical(relu, 1e-7)
    assert not d.kink and d.finite and abs(d.value - 1.0) <= d.error + ATOL + RTOL


def test_derivative_spends_before_evaluating() -> None:
    calls = Counted(math.sin, 1.0)
    with pytest.raises(LimitExceeded):
        derivative(calls, math.sin(1.0), (1e-3,), Budget(len(OFFSETS) - 1, LOC), ATOL, RTOL)
    assert calls.calls == 0


def test_derivative_stops_at_the_retry_when_the_budget_is_spent() -> None:
    budget = Budget(len(OFFSETS), LOC)
    numerical(math.sin, 1.0, budget)  # a smooth point fits exactly
    assert budget.used == len(OFFSETS)
    budget = Budget(2 * len(OFFSETS) - 1, LOC)
    with pytest.raises(LimitExceeded, match="GRADLAB_MAX_CHECK_EVALUATIONS"):
        numerical(abs, 0.0, budget)  # a kink needs the retry, one evaluation too many


@pytest.mark.parametrize("scale", [5e-324, 1e-310, 2e-306, 1e-200, 1e-4])
def test_the_retry_step_is_never_below_the_smallest_normal_float(scale: float) -> None:
    first, closer = steps(scale, 1e-3)
    assert first == 1e-3 and SMALLEST_STEP <= closer <= 1e-3 * RETRY_FACTOR
    d = derivative(lambda t: abs(scale + t), abs(scale), (first, closer), Budget(100, LOC), ATOL, RTOL)
    assert math.isfinite(d.value) or not d.finite


# --- kinks the ops report (engine.kinks) ------------------------------------------------


def _relu_sum(offsets: np.ndarray, weights: np.ndarray) -> Callable[[float], float]:
    """F(t) = Σ w_k·relu(v_k + t), through the engine's relu, which notes its kinks."""
    import engine

    def f(t: float) -> float:
        return float(np.sum(engine.relu(engine.tensor(offsets + t, dtype=engine.float64)).numpy() * weights))

    return f


def _recorded(f: Callable[[float], float], crossings: Crossings) -> Callable[[float], float]:
    def g(t: float) -> float:
        with crossings.evaluation(t):
            return f(t)

    return g


def test_a_kink_within_a_step_is_stepped_around_when_the_ops_report_it() -> None:
    # relu inputs at 3.2e-7 (inside every default step) and far away. F is linear on either
    # side of each kink, so F'(0) is exactly Σ w_k over the inputs > 0.
    offsets = np.array([3.2e-7, 0.0134, -0.0286, 0.5, -0.7])
    weights = np.array([0.37, 1.1, -0.4, 0.25, 2.0])
    exact = float(np.sum(weights[offsets > 0]))
    f = _relu_sum(offsets, weights)
    crossings = Crossings()
    d = derivative(_recorded(f, crossings), f(0.0), steps(0.0, 1e-3), Budget(100, LOC), ATOL, RTOL, crossings)
    assert not d.kink and d.finite
    assert abs(d.value - exact) <= ATOL + RTOL * abs(exact) + d.error
    assert d.error <= 1e-4 * abs(exact)  # a verdict, not a tolerance wide open
    # Without the ops' report, neither default step gives the derivative to better than a
    # tenth: the kink, seen as f's noise, is taken into the estimate, which says little.
    blind = derivative(f, f(0.0), steps(0.0, 1e-3), Budget(100, LOC), ATOL, RTOL)
    assert abs(blind.value - exact) > 0.05 and (blind.kink or blind.error > 1000 * d.error)


def test_a_kink_within_rounding_distance_is_a_kink() -> None:
    offsets = np.array([1e-15, 0.5])
    weights = np.array([1.0, 1.0])
    f = _relu_sum(offsets, weights)
    crossings = Crossings()
    d = derivative(_recorded(f, crossings), f(0.0), steps(0.0, 1e-3), Budget(100, LOC), ATOL, RTOL, crossings)
    assert d.kink


def test_crossings_tell_sides_and_the_nearest_crossing_by_hand() -> None:
    import engine

    crossings = Crossings()
    for t in [k * 1e-3 for k in OFFSETS]:  # relu's input a = [0.002 + t, 1 - t]: a[0] is 0 at t = -0.002
        with crossings.evaluation(t):
            engine.relu(engine.tensor([0.002 + t, 1 - t], dtype=engine.float64))
    assert crossings.crossed()
    nearest = crossings.survey()[0]
    assert nearest is not None and math.isclose(nearest, 0.002, rel_tol=1e-9)
    crossings.clear()
    for t in [k * 1e-3 for k in OFFSETS]:  # nothing changes sides, nor becomes the maximum
        with crossings.evaluation(t):
            engine.relu(engine.tensor([0.5 + t, -1 - t], dtype=engine.float64))
            engine.amax(engine.tensor([3.0, 1 + t]))
    assert not crossings.crossed() and crossings.survey()[0] is None
    crossings.clear()
    for t in [k * 1e-3 for k in OFFSETS]:  # the maximum moves to the second element at t = 0.0005
        with crossings.evaluation(t):
            engine.amax(engine.tensor([1.0, 0.999 + 2 * t], dtype=engine.float64))
    nearest = crossings.survey()[0]
    assert crossings.crossed() and nearest is not None and 0 < nearest <= 0.0005 * (1 + 1e-9)


def test_evaluations_that_run_other_kinked_ops_count_as_crossed_and_cannot_locate_it() -> None:
    import engine

    crossings = Crossings()
    for t in (-1e-3, 1e-3):
        with crossings.evaluation(t):
            engine.relu(engine.tensor([1.0]))
            if t > 0:
                engine.abs(engine.tensor([1.0]))
    assert crossings.crossed() and crossings.survey()[0] is None


def test_ops_note_nothing_unless_recording() -> None:
    import engine

    crossings = Crossings()
    engine.relu(engine.tensor([1.0, -1.0]))
    engine.maximum(engine.tensor([1.0]), engine.tensor([2.0]))
    assert not crossings.crossed()
    for t in (-1e-3, 1e-3):
        with crossings.evaluation(t):
            engine.maximum(engine.tensor([1.0, 3.0]), 2.0 - t)  # crosses at t = -1 and t = 1
            engine.abs(engine.tensor([-2.0]))
    assert not crossings.crossed() and crossings.survey()[0] is None


def test_a_step_short_of_a_kink_that_rounding_swamps_is_a_kink() -> None:
    # F = 1000 + t + 10^6·relu(t - 1e-11): a step short of the kink is about 1e-12, where
    # F's rounding (about 1e-13 of 1000) is several times the derivative 1.
    import engine

    def f(t: float) -> float:
        return float(1000 + t + 1e6 * engine.relu(engine.tensor([t - 1e-11], dtype=engine.float64)).numpy()[0])

    crossings = Crossings()
    d = derivative(_recorded(f, crossings), f(0.0), steps(0.0, 1e-3), Budget(100, LOC), ATOL, RTOL, crossings)
    assert d.kink


# A curved F and a kink small enough for the one-sided test to miss, within the steps: the
# first three were judged by the stencil that crossed, off by half the one-sided gap and
# 10 to 20 times its error estimate, before the gap counted in it.
ONE_KINK = [
    (-3.978e-7, 2.09e-4, 0.1246, 11.44),
    (-4.044e-8, -4.033e-4, 0.7356, 8.244),
    (4.644e-7, -3.307e-5, 0.00463, 26.09),
    *[(d, w, 0.01, 1.0) for d in (-3.7e-3, -6.7e-4, -3e-10, 4.4e-7, 2.5e-3) for w in (0.3, -5.0)],
]


@pytest.mark.parametrize(("distance", "weight", "amplitude", "frequency"), ONE_KINK)
def test_one_kink_crossed_is_within_the_error_estimate_wherever_it_lies(
    distance: float, weight: float, amplitude: float, frequency: float
) -> None:
    # F = 2t + a·sin(ωt) + w·relu(t - distance): F'(0) is 2 + aω, plus w if the kink lies
    # below 0. Whether the stencil that crossed is kept or a step short of it, the answer is
    # within its own error estimate.
    import engine

    def f(t: float) -> float:
        kinked = engine.relu(engine.tensor([t - distance], dtype=engine.float64)).numpy()[0]
        return float(2 * t + amplitude * math.sin(frequency * t) + weight * kinked)

    exact = 2 + amplitude * frequency + (weight if distance < 0 else 0.0)
    crossings = Crossings()
    d = derivative(_recorded(f, crossings), f(0.0), steps(0.0, 1e-3), Budget(100, LOC), ATOL, RTOL, crossings)
    assert d.finite and not d.kink
    assert abs(d.value - exact) <= ATOL + RTOL * abs(exact) + d.error


def test_a_kink_nothing_records_is_within_the_error_estimate_when_kinks_are_untracked() -> None:
    # F = 2t + 0.3 sin(3t) + 1e-5·relu(t - distance), with the kink anywhere across the
    # stencils (±4.2 h, h = 1e-3) and no Crossings to report it: too slight for the one-sided
    # test, it shifts the first step's answer past its truncation estimate at some distances.
    # With untracked_kinks, every stencil counts its one-sided gap, and every answer is within
    # its estimate (or a kink). Without, the kink shows as noise in the stencil's values, which
    # the estimate takes in too, where it is larger.
    def answers(untracked: bool) -> list[bool]:
        within = []
        for distance in np.linspace(-4.2e-3, 4.2e-3, 85):

            def f(t: float, distance: float = distance) -> float:
                return 2 * t + 0.3 * math.sin(3 * t) + 1e-5 * max(t - distance, 0.0)

            exact = 2.9 + (1e-5 if distance < 0 else 0.0)
            d = derivative(f, f(0.0), steps(0.0, 1e-3), Budget(100, LOC), ATOL, RTOL, untracked_kinks=untracked)
            within.append(d.kink or abs(d.value - exact) <= ATOL + RTOL * exact + d.error)
        return within

    assert all(answers(untracked=True))
    assert all(answers(untracked=False))


def test_kinks_at_two_places_that_hide_from_the_one_sided_test_are_stepped_around() -> None:
    # F = relu(t + 1e-7) - relu(t - 1e-7): slope 1 between the kinks, 0 outside. A step of
    # 1e-3 sees a flat line, one-sided differences and all; only a step inside the kinks
    # finds F'(0) = 1.
    f = _relu_sum(np.array([1e-7, -1e-7]), np.array([1.0, -1.0]))
    crossings = Crossings()
    for t in (-1e-3, 1e-3):
        _recorded(f, crossings)(t)
    assert crossings.crossed() and not crossings.survey()[1]
    d = derivative(_recorded(f, crossings), f(0.0), steps(0.0, 1e-3), Budget(100, LOC), ATOL, RTOL, crossings)
    assert not d.kink and abs(d.value - 1.0) <= ATOL + RTOL + d.error and d.error <= 1e-6


def test_crossings_at_one_place_are_one_kink() -> None:
    import engine

    def evaluate(t: float) -> None:
        a = engine.tensor([0.002 + t, 1 - t], dtype=engine.float64)
        engine.relu(a) - engine.relu(a)
        engine.amax(engine.tensor([1.0, 1.002 + t], dtype=engine.float64))  # tied at t = -0.002 too

    crossings = Crossings()
    for t in [k * 1e-3 for k in OFFSETS]:
        with crossings.evaluation(t):
            evaluate(t)
    assert crossings.crossed() and crossings.survey()[1]
    crossings.clear()
    for t in [k * 1e-3 for k in OFFSETS]:
        with crossings.evaluation(t):
            evaluate(t)
            engine.abs(engine.tensor([t + 0.003], dtype=engine.float64))
    assert not crossings.survey()[1]


@given(
    st.floats(min_value=-1e300, max_value=1e300, allow_nan=False),
    st.floats(min_value=1e-12, max_value=1e-1),
)
def test_an_exact_step_is_taken_exactly_by_its_multiples(x: float, h: float) -> None:
    # x + k·step, for every k of the stencil, is the sum itself: moving x by k·step and back gives
    # k·step. (Unless the stencil reaches past a power of two above |x|, where the spacing of
    # floats doubles, and x itself is not a multiple of it.)
    step = float(exact_step(x, h))
    spacing = np.spacing(abs(x) + max(OFFSETS) * h)
    assert abs(step - h) <= spacing / 2 or step == spacing  # h to the spacing, or one spacing if h is less
    assume(np.spacing(abs(x) + max(OFFSETS) * step) <= np.spacing(abs(x)) or x == 0)  # no power of two past x
    for k in OFFSETS:
        assert (x + k * step) - x == k * step


@pytest.mark.parametrize("x", [math.inf, -math.inf, math.nan])
def test_the_exact_step_beside_a_value_that_is_not_finite_is_the_step_itself(x: float) -> None:
    assert float(exact_step(x, 1e-3)) == 1e-3
