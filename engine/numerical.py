"""Numerical derivatives of a function of one variable, with an estimate of their own error.

A five-point central difference has an error of order h⁴, so a step near 1e-3 makes it
accurate to about 1e-12 in float64 where plain central differences with PyTorch's 1e-6
step are only good to about 1e-10 · |f| / 1e-6. Computing it at h and at 2h gives an
error estimate; one-sided differences from the same points tell a kink (relu at 0, abs at
0, a tie in max) from a smooth point, since only at a kink do they disagree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from engine.errors import LimitExceeded, Loc
from engine.graph import Array
from engine.kinks import Crossings
from engine.limits import setting

ROUNDING = float(np.finfo(np.float64).eps)
OFFSETS = (-4, -2, -1, 1, 2, 4)
RETRY_FACTOR = 1e-3  # a kink, a domain edge or a fast-varying function within the step: closer in
SMALLEST_STEP = float(np.finfo(np.float64).tiny)
UNDERFLOW = float(np.finfo(np.float64).smallest_subnormal)  # any result's absolute rounding, at most
LARGE = 2.0**1000  # values this large are scaled before the stencil's sums, which would overflow
MIN_EPS = 1e-12  # below it, float64's rounding is all a difference measures
JUMP_STEPS = 100  # steps at least this far apart that see one jump of f measure it alike: d·h
JUMP_AGREEMENT = 0.1  # alike: within this share (a derivative's d·h would differ JUMP_STEPS-fold)
JUMP_OVER_ROUNDING = 100  # and each d this many times what f's rounding could make of it
MOST_STEPS = 3  # stencils per derivative: the steps tried, or shorter ones that avoid crossing a kink
# Next to a kink, a step short enough not to cross it leaves more of the derivative to
# rounding, which the error estimate reports and the tolerance takes in: a looser verdict,
# but one. From this share on, the kink is too near to step around.
ROUNDING_SHARE = 0.1
WIDER = 100  # the step tried, once, where f's rounding swamps a step or froze a closer one: 1e-3 becomes 0.1
STEEP_CLOSER = 10  # the step tried next where only the fourth derivative's share passed the kink test


def _blind_to_degree_5() -> tuple[float, ...]:
    """The weights, of unit norm, that take f at x + k·h for k in -4, -2, -1, 0, 1, 2, 4 to 0 for
    every polynomial of degree 5 or less: on a smooth f, what is left is of order h⁶, and on its
    rounding, a sample of it."""
    offsets = np.array((*OFFSETS[:3], 0, *OFFSETS[3:]), dtype=float)
    _, _, rows = np.linalg.svd(np.vander(offsets, 6, increasing=True).T)
    return tuple(float(w) for w in rows[-1])


NOISE_WEIGHTS = _blind_to_degree_5()
NOISE_SAFETY = 4  # one sample of the noise may fall well below its size
NOISE_CEILING = 1e-6  # of |f|: the most that is taken for f's rounding
D_H_NORM = math.sqrt(1 + 64 + 64 + 1) / 12  # d_h's weights, (1, -8, 8, -1) / 12: its gain on noise
D_H_GAIN = (1 + 8 + 8 + 1) / 12  # and on errors each at most ε: ε·1.5/h at most


@dataclass(frozen=True)
class Derivative:
    value: float
    error: float  # an estimate of |value - true derivative|: truncation and rounding
    kink: bool  # the one-sided derivatives disagree: not differentiable here
    finite: bool  # every evaluation was finite
    truncation: float = 0.0  # the part of `error` that a smaller step would reduce
    gap: float = 0.0  # |forward - backward| of the one-sided derivatives: with the truncation, bounds a kink's bias
    step: float = 0.0  # the step h of the stencil
    resolved: bool = True  # f moved at ±h: a step the argument resolves (x + 2e8 does not move by 1e-9)
    two_sided: bool = True  # f moved at some step on each side (relu beside its kink moves on one)
    known_rounding: float = 0.0  # the part of `error` that is f's rounding as bounded, not as sampled
    steep: bool = False  # a kink but for the fourth derivative's share of the gap, which may hide a small one


class Budget:
    """Counts evaluations of the function being differentiated, up to a limit. What was planned
    before counting began may take up to `planned`; more (another direction, a closer look)
    only as `reserve` allows, so that the limit is never met halfway through a check."""

    def __init__(self, limit: int, loc: Loc, tick: Callable[[], None] | None = None, planned: int = 0) -> None:
        self.limit = limit
        self.used = 0
        self.loc = loc
        self.tick = tick  # the request's clock: an evaluation may run no op at all
        self.committed = planned  # the most that everything planned or reserved so far may take

    def reserve(self, evaluations: int) -> bool:
        """Whether up to `evaluations` more fit beside everything committed; if so, they are."""
        if self.committed + evaluations > self.limit:
            return False
        self.committed += evaluations
        return True

    def spend(self, evaluations: int) -> None:
        if self.tick is not None:
            self.tick()
        self.used += evaluations
        if self.used > self.limit:
            raise LimitExceeded(
                self.loc,
                f"the check needed more than {self.limit:,} forward evaluations (retries at kinks "
                f"included: up to {MOST_STEPS} × what it may plan, setting {setting('max_check_evaluations')})",
            )


def steps(scale: float, eps: float) -> tuple[float, float]:
    """The step to try first, eps itself, then one closer in: eps·|x| near 0 (a domain edge
    such as log's may be that close), else eps·1e-3. An absolute first step works at every
    scale, where a step relative to a large |x| would alias a function like sin. Never a step
    below the smallest normal float: eps·|x| for a subnormal x is 0, and a difference over 0
    steps is no derivative."""
    closer = eps * RETRY_FACTOR
    if 0 < scale < RETRY_FACTOR and eps * scale >= SMALLEST_STEP:
        closer = eps * scale
    return eps, closer


def _stencil(
    f: Callable[[float], float],
    f0: float,
    h: float,
    atol: float,
    rtol: float,
    coarse: bool = False,
    f_rounding: float = 0.0,
) -> Derivative:
    """The stencil at step h. `coarse`: f's rounding is known to be coarser than its ulps here (a
    closer step left f where it was, where this one moved it), and the noise sample is all rounding.
    `f_rounding`: how far each value of f may be off by rounding, where known (engine.rounding)."""
    fm4, fm2, fm1, fp1, fp2, fp4 = (f(k * h) for k in OFFSETS)
    values = (fm4, fm2, fm1, f0, fp1, fp2, fp4)
    if not all(math.isfinite(v) for v in values):
        return _unmeasured(h)
    scale = max(abs(v) for v in values)
    # Values near float64's largest (exp(709.5)) would overflow in 8·f: the sums run on them
    # divided by a power of two, which changes no digit, and the results are scaled back.
    unit = math.ldexp(1.0, math.frexp(scale)[1] - 1) if scale > LARGE else 1.0  # 2^1023 at most
    fm4, fm2, fm1, f0, fp1, fp2, fp4 = (v / unit for v in values)
    d_h = (fm2 - 8 * fm1 + 8 * fp1 - fp2) / (12 * h)
    d_2h = (fm4 - 8 * fm2 + 8 * fp2 - fp4) / (24 * h)
    # Each evaluation may be off by a few ulps of |f|, and by what underflows: a function
    # of values near 1e-308 may come out as 0.
    rounding = 32 * (ROUNDING * scale / unit + UNDERFLOW) / h
    rounding = known = max(rounding, D_H_GAIN * f_rounding / unit / h)
    # What f's rounding really is may be far more than ulps of f: 1 - sigmoid(28) keeps 4 digits,
    # and log(1 - sigmoid(z)) a rounding of 1e-4 at a value of -28. The combination of the values
    # that is blind to every polynomial of degree 5 sees it, as a sample of the noise's size.
    # A sample as large as a millionth of f may as well be f itself turning within the stencil
    # (sin(1e6·x)): rough, until a closer step tells; and a kink is no polynomial either (the
    # kink's test, below, keeps to the ulps unless f's rounding is known to be coarse).
    noise = abs(sum(c * v for c, v in zip(NOISE_WEIGHTS, (fm4, fm2, fm1, f0, fp1, fp2, fp4), strict=True)))
    measured = NOISE_SAFETY * noise * D_H_NORM / h
    rough = noise > NOISE_CEILING * scale / unit and not coarse
    truncation = abs(d_h - d_2h)
    forward = (-3 * f0 + 4 * fp1 - fp2) / (2 * h)
    backward = (3 * f0 - 4 * fm1 + fm2) / (2 * h)
    # Both one-sided formulas are off by about h²/3 times the third derivative (with the same
    # sign), which this bounds.
    curvature = abs(fp2 - 2 * fp1 + 2 * fm1 - fm2) / (6 * h)
    # And by h³/4 times the fourth derivative, with opposite signs: a smooth f's gap is h³/2 times
    # it (1 - cos x at 0, where f' is small and the fourth derivative 1). The fourth difference at
    # 2h measures it; a kink within h weighs 8 times less in it than in the gap (relu at 0: a gap
    # of 1, this 1/8).
    quartic = abs(fm4 - 4 * fm2 + 6 * f0 - 4 * fp2 + fp4) / (32 * h)
    # Once f's rounding is known to be coarse, the one-sided formulas differ by it too.
    coarseness = measured if coarse else 0.0
    margin = (
        4 * curvature
        + 2 * quartic
        + 4 * (truncation + rounding + coarseness)
        + atol / unit
        + rtol * max(abs(forward), abs(backward))
    )
    gap = abs(forward - backward)
    kink = gap > margin
    steep = not kink and gap > margin - 2 * quartic
    if not kink and rough:
        # f turning within the stencil or rounding coarser than a millionth of f: which one,
        # a closer step tells (it resolves the one, and f does not move at it for the other).
        # Either way the sample says how far off this step may be, though d_h and d_2h agree.
        truncation += measured
    elif not kink:
        rounding = max(rounding, measured)
    d_h, truncation, rounding, curvature, gap = (v * unit for v in (d_h, truncation, rounding, curvature, gap))
    error = truncation + rounding
    if not all(math.isfinite(v) for v in (d_h, error, curvature, gap)):
        return _unmeasured(h)  # a derivative past float64's range (1/x at 1e-160), or its error
    # Moved beyond a few ulps: a sum taken in another order (a batched evaluation) moves f0 by one.
    still = 8 * ROUNDING * scale / unit
    two_sided = max(abs(v - f0) for v in (fm4, fm2, fm1)) > still and max(abs(v - f0) for v in (fp1, fp2, fp4)) > still
    resolved = fp1 != f0 and fm1 != f0
    return Derivative(d_h, error, kink, True, truncation, gap, h, resolved, two_sided, known * unit, steep)


def _unmeasured(h: float) -> Derivative:
    return Derivative(math.nan, math.inf, False, False, math.inf, step=h)


def exact_step(x: Array | float, h: float) -> Array:
    """The step nearest h that each element of x takes exactly: a multiple of the spacing of
    floats at the stencil's far end, so that x + k·h for k in OFFSETS is the sum itself (unless
    a power of two lies between x and that end); h itself where x is not finite."""
    ulp = np.spacing(np.abs(x) + max(OFFSETS) * h)
    step = np.maximum(np.rint(h / ulp), 1.0) * ulp
    return np.where(np.isfinite(step), step, h)


def _rank(d: Derivative) -> tuple[int, float]:
    return (0 if d.finite and not d.kink else 1 if d.finite else 2), d.error


def derivative(
    f: Callable[[float], float],
    f0: float,
    tries: tuple[float, ...],
    budget: Budget,
    atol: float,
    rtol: float,
    crossings: Crossings | None = None,
    finest: float = SMALLEST_STEP,
    untracked_kinks: bool = False,
    make_exact: Callable[[float], float] | None = None,
    f_rounding: float = 0.0,
) -> Derivative:
    """f'(0) from f(±h, ±2h, ±4h), with the steps `tries` in turn until one gives a smooth,
    finite result whose truncation error is within tolerance; else the best of them. So a
    kink merely near 0 is not taken for one, and a domain edge within the step is avoided.

    With `crossings`, f's evaluations record the kinks of relu, abs, max, ... (engine.kinks).
    A stencil that crossed kinks counts its one-sided gap in its error: for one kink, the gap
    and the truncation estimate together bound its bias. With `untracked_kinks` (f may cross
    kinks that nothing records), every stencil counts it. Kinks crossed at several places may
    hide one another from both (two of opposite slopes either side of 0 make a bump that no
    wider step sees), so only a stencil that crossed one place may end the search. Else a
    step short of the nearest crossing is tried, no finer than `finest` (below it the
    argument's own rounding shows). If f's rounding swamps that step, the kink is too near to
    step around: a kink. But a crossing alone proves no kink of f (the branch may not reach
    it, or kinks cancel): the best is a smooth stencil, one that crossed nothing that could
    hide first, then a kink.

    `make_exact`, when given, turns each step into one that f's argument takes exactly: at
    |x| = 1e8, x + 1e-3 is off by 1e-5 of the step, and the difference by as much, which no
    estimate from f's values sees. `f_rounding`: how far each value of f may be off by
    rounding (engine.rounding), where known.

    A stencil whose gap only the fourth derivative's share explains (log(1 + x²) near 0, or
    cos(100·x) beside 1e-4·|x|, which no stencil that wide tells apart) counts as a kink, and a
    step STEEP_CLOSER times shorter is tried next, where that share is a thousandth: a smooth f
    passes its test there, measured, where the usual closer step (eps·|x|) may leave f unmoved.

    Where f's rounding swamps a step, or leaves a closer step's values where they were when a
    wider one moved them, a step WIDER times the widest tried is tried once: its rounding
    weighs WIDER times less, and its own estimate says what its truncation costs."""
    # Each step, its stencil, whether it crossed kinks, whether they may hide from its test.
    tried: list[tuple[float, Derivative, bool, bool]] = []

    def stencil_at(h: float) -> Derivative:
        """f's stencil at step h, its kinks recorded afresh."""
        budget.spend(len(OFFSETS))
        if crossings is not None:
            crossings.clear()
        return _stencil(f, f0, h, atol, rtol, coarse, f_rounding)

    pending = list(tries)
    shortened = closer_look = coarse = steepened = False
    for _ in range(MOST_STEPS):
        if not pending:
            break
        h = pending.pop(0)
        if make_exact is not None:
            h = make_exact(h)
            if any(h == step for step, *_ in tried):
                continue  # made exact, a closer step can come out as one already taken (one ulp of 1e15)
        d = stencil_at(h)
        if d.steep:
            d = replace(d, kink=True)
            if not steepened and h / STEEP_CLOSER >= finest:
                pending, steepened = [h / STEEP_CLOSER, *pending], True
        if shortened and d.finite and _swamped(d):
            d = replace(d, kink=True)
        crossed = hidden = False
        if untracked_kinks and d.finite:
            d = replace(d, error=d.error + d.gap, truncation=d.truncation + d.gap)
        if crossings is not None and d.finite and crossings.crossed():
            nearest, one_place = crossings.survey()
            crossed, hidden = True, not one_place
            # Bias that a step short of the kinks would avoid.
            d = replace(d, error=d.error + d.gap, truncation=d.truncation + d.gap)
            if nearest is not None and min(nearest, h) / 8 >= finest:
                # Four steps stay within half the distance, as far as the line tells it.
                pending, shortened = [min(nearest, h) / 8], True
        if coarse and d.finite and not d.kink and (d.truncation > d.known_rounding or _disagrees(d, tried)):
            # f turns within the wider step (tanh(30·x) at 0): its truncation outweighs its
            # rounding, or it measured another slope than a narrower step, beyond both estimates.
            # Its estimate of its own truncation, from steps that wide, need not see how far off
            # it is (11.6 ± 5.8 where the slope is 30): it measures nothing.
            break
        if not d.resolved and (closer_look or (not shortened and any(_moved(t) for _, t, _, _ in tried))):
            # Closer than the argument resolves (x + 2e8 moves by 3e-8 at the least), or than f's
            # rounding does (1 - sigmoid(30) keeps 3 digits), where a wider step saw f move: f did
            # not move, a slope of 0 that says nothing. Once, a wider step instead, which f's
            # rounding blurs less; its own test of a kink allows for that rounding.
            if coarse or closer_look:  # a closer look is the last step a derivative takes
                break
            pending, coarse = [max(step for step, *_ in tried) * WIDER], True
            continue
        if not (coarse or shortened or crossed) and d.finite and not d.kink and _rounding_swamps(d, atol):
            # f's rounding, not the step's truncation, is most of the error: a wider step
            # divides it by WIDER, once (its own truncation estimate says what that costs).
            tried.append((h, d, crossed, hidden))
            pending, coarse = [max(step for step, *_ in tried) * WIDER], True
            continue
        smooth_before = [t.error for _, t, c, _ in tried if t.finite and not t.kink and not c]
        if (
            not hidden
            and d.finite
            and not d.kink
            and d.truncation <= atol + rtol * abs(d.value)
            and d.error <= min(smooth_before, default=math.inf)  # closer in, f's rounding weighs more
        ):
            return d
        tried.append((h, d, crossed, hidden))
        if (
            not pending
            and not closer_look
            and all(t.finite and not t.kink and not c for _, t, c, _ in tried)
            and d.truncation > d.error - d.truncation
            and h * RETRY_FACTOR >= finest
        ):
            # Smooth at every step, and never within tolerance: a function that turns within a step
            # (sin(1e6·x)) may alias them all alike, its estimate none the wiser. Closer still, if
            # the argument resolves that step, and if what this step left is not f's rounding,
            # which a closer step only makes worse.
            pending, closer_look = [h * RETRY_FACTOR], True
    assert tried, "derivative needs at least one step"
    # A step crossed if a narrower one did, recorded or not; of those, the narrowest one's
    # own test, the most local, is the one that counts.
    jumps = _jumps(tried)
    closer = jumps  # a jump suspected: closer steps, until it is one or it is measured
    while closer and (step := min(h for h, *_ in tried) / JUMP_STEPS) >= finest * (1 - 1e-9):
        # A function as steep as 1/h (x / (|x| + 1e-8) at 0) looks like a jump at every step
        # wider than its scale: ever closer steps, until the argument's resolution, tell; and once
        # one does, steps closer still measure the slope, until one is within tolerance. (Steps
        # made exact fall a hair short of powers of ten: 1e-12 is 9.999999999999996e-13.)
        step = make_exact(step) if make_exact is not None else step
        d = stencil_at(step)
        tried.append((step, d, crossings is not None and d.finite and crossings.crossed(), False))
        jumps = _jumps(tried)
        closer = jumps or not (d.finite and not d.kink and d.truncation <= atol + rtol * abs(d.value))
    narrowest_crossed = min((h for h, _, crossed, _ in tried if crossed), default=math.inf)
    candidates = [(d, hidden) for h, d, _, hidden in tried if h <= narrowest_crossed]
    best = min(candidates, key=lambda c: (_rank(c[0])[0], c[1], c[0].error))[0]
    return replace(best, kink=True) if jumps else best


def _jumps(tried: list[tuple[float, Derivative, bool, bool]]) -> bool:
    """Whether f jumps at the point: sign(x) at 0, where the one-sided formulas agree (a step up
    either side of f0) and no step can go short of the kink. Stencils that cross a kink at steps
    JUMP_STEPS apart or more, the narrower seen to cross one (the first step of full mode runs
    unrecorded), give differences that grow as the steps shrink, d·h the same: the size of the
    jump, which no derivative makes (one would give the same d). Every step tried must agree."""
    measured = sorted(((h, d, was_crossed) for h, d, was_crossed, _ in tried if d.finite), key=lambda m: m[0])
    if len(measured) < 2 or not measured[0][2] or measured[-1][0] < JUMP_STEPS * measured[0][0]:
        return False
    size = measured[-1][1].value * measured[-1][0]
    return all(
        abs(d.value * h - size) <= JUMP_AGREEMENT * abs(size)
        and abs(d.value) > JUMP_OVER_ROUNDING * d.known_rounding  # a step of f, not of its last bits
        for h, d, _ in measured
    )


def _disagrees(d: Derivative, tried: list[tuple[float, Derivative, bool, bool]]) -> bool:
    """Whether d is off the most precise smooth stencil tried (crossing no kink) beyond both errors."""
    smooth = [t for _, t, crossed, _ in tried if t.finite and not t.kink and not crossed]
    if not smooth:
        return False
    best = min(smooth, key=lambda t: t.error)
    return abs(d.value - best.value) > d.error + best.error


def _moved(d: Derivative) -> bool:
    """Whether f moved on both sides within a smooth stencil: one side flat is a kink's (relu
    beside its kink, unseen by the one-sided test), where a closer step may be flat too, rightly."""
    return d.finite and not d.kink and d.two_sided


def _swamped(d: Derivative) -> bool:
    """Whether f's rounding alone, as _stencil estimates it, is ROUNDING_SHARE of the derivative
    or more: a verdict at that step would say little."""
    return d.error - d.truncation >= ROUNDING_SHARE * abs(d.value)


def _rounding_swamps(d: Derivative, atol: float) -> bool:
    """Whether f's rounding as bounded (its ulps, engine.rounding), not as the values sample it
    (which a kink or f turning may swell), is ROUNDING_SHARE of the derivative or more, and
    over atol (a slope of 0 with nothing to round is no swamp)."""
    return d.known_rounding >= ROUNDING_SHARE * abs(d.value) and d.known_rounding > atol
