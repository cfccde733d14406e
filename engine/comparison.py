"""Analytic against numerical gradients: the verdict, the message that explains a failure,
and the warnings for what a verdict leaves unsaid (elements measured only roughly)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.graph import Array

# A numerical derivative whose error estimate exceeds this share of the gradient's scale
# (beyond atol) is still judged, its estimate in the tolerance, but only errors above it can
# fail: fast mode looks further, and a warning says what is left.
IMPRECISE = 0.01
# Where a gradient is 0, as far as the check can tell, and so are all the others: the error
# estimate from which a warning says so (the rounding of a function of 10^8 at a step of 1e-3).
ZERO_GRADIENT_NOISE = 1e-6
# An element that passes by atol alone, its analytic and numerical values this share of their
# size apart, gets a warning: a gradient of 3e-10 where 1e-10 is right passes under atol 1e-9.
APART_UNDER_ATOL = 0.1


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


def compare(
    analytic: Array,
    numerical: Array,
    errors: Array,
    kinks: Array,
    atol: float,
    rtol: float,
    what: str,
    said: str = "analytic",
) -> Comparison:
    """An element passes when |analytic - numerical| <= atol + rtol·|numerical| + its error estimate.
    Elements at a kink (or where the function is not finite nearby) are listed, not judged.
    `said`: what the messages call the analytic gradient ("hand-written", for a custom backward)."""
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
                what,
                worst,
                said,
                analytic.flat[flat],
                numerical.flat[flat],
                diff.flat[flat],
                errors.flat[flat],
                (atol, rtol),
            )
    kink_list = [[int(i) for i in index] for index in np.argwhere(kinks)] if kinks.any() else []
    # Passed by atol alone (rarely any): what else they pass by is the tolerance without it.
    by_atol = None if bad.any() or not atol else judged & (diff > tolerance - atol)
    notes = (
        []
        if by_atol is None or not by_atol.any()
        else _under_atol(what, analytic, numerical, diff, errors, judged, by_atol, atol, said)
    )
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
        notes=notes,
    )


def _under_atol(
    what: str,
    analytic: Array,
    numerical: Array,
    diff: Array,
    errors: Array,
    judged: Array,
    by_atol: Array,
    atol: float,
    said: str,
) -> list[str]:
    """A warning where elements pass by atol alone (`by_atol`), though analytic and numerical are
    far apart for their size: values that small the check cannot judge, unless told a smaller atol."""
    # Above every element's error estimate: where the true gradient is 0 (sum(x - mean(x))), the
    # numbers are rounding, some of them estimated low (a review found those warned of).
    noise = float(np.max(errors, where=judged, initial=0.0))
    with np.errstate(all="ignore"):
        size = np.maximum(np.abs(analytic), np.abs(numerical))
        apart = by_atol & (diff > APART_UNDER_ATOL * size) & (size > noise)
    if not apart.any():
        return []
    flat = int(np.argmax(np.where(apart, diff / size, -1.0)))
    index = [int(i) for i in np.unravel_index(flat, analytic.shape)] if analytic.ndim else []
    more = int(np.count_nonzero(apart)) - 1
    others = f" (and {more:,} more element{'s' if more > 1 else ''})" if more else ""
    a, n = float(analytic.flat[flat]), float(numerical.flat[flat])
    return [
        f"{element_name(what, index)}{others}: values this small are not judged: {said} {a:.3g} and numerical "
        f"{n:.3g}, {float(diff.flat[flat] / size.flat[flat]):.0%} of their size apart, pass because that is under "
        f"atol {atol:g}; give check.atol a value below them (0 judges by rtol and the error estimate alone) to "
        "judge them"
    ]


def element_name(what: str, index: Sequence[object]) -> str:
    """`x[1, 2]` in messages; `x` alone for a 0-d tensor."""
    return f"{what}[{', '.join(map(str, index))}]" if len(index) else what


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
        where = element_name(c.what, worst)
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
    what: str,
    index: list[int],
    said: str,
    analytic: float,
    numerical: float,
    diff: float,
    error: float,
    tolerances: tuple[float, float],
) -> str:
    where = element_name(what, index)
    atol, rtol = tolerances
    allowed = atol + rtol * abs(numerical) + error
    return (
        f"{where}: {said} {analytic:.10g} but numerical {numerical:.10g}, off by {diff:.3g}, over the "
        f"tolerance {allowed:.3g} (atol {atol:g} + rtol {rtol:g} × |numerical| + error estimate {error:.2g})"
    )
