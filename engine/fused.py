"""a·k + c rounded once, as a fused multiply-add rounds it.

PyTorch's CPU kernels are compiled to fuse `start + step * i` into one multiply-add, which
NumPy, rounding the product and then the sum, cannot: `linspace(0, 1, 101)` differs in the
last bit of a few elements, and an integer linspace, truncated, by one. The exact sum is kept
as float64 pieces (Dekker's product, Knuth's sums) and rounded once; the rare element whose
rounding those pieces cannot settle is computed in exact rationals.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]

_SPLIT = 2.0**27 + 1  # Veltkamp's: a double into halves of 26 bits, whose products are exact
# Below half an ulp by more than the rounding of the remainder's own sum: the nearest for sure.
_MARGIN = 0.5 * (1 - 2.0**-50)
_TINY = 2.0**-900  # products below this may lose bits to underflow, which Dekker's pieces do not allow


def fused_multiply_add(a: float, k: Array, c: float, dtype: np.dtype[Any]) -> Array:
    """round(a·k + c) to `dtype` (float32 or float64) for each element of k, with a, k and c
    taken as float64 (exact for float32 numbers and integers below 2^53)."""
    a64, c64 = np.float64(a), np.float64(c)
    k64 = k.astype(np.float64)
    if not (np.isfinite(a64) and np.isfinite(c64)):  # inf and NaN go as through a multiply and an add
        return (a64 * k64 + c64).astype(dtype)
    with np.errstate(all="ignore"):  # a piece past float64's range leaves the element unsettled
        p, e = _two_product(a64, k64)
        s, t = _two_sum(p, c64)  # a·k + c = s + t + e
        u, v = _two_sum(t, e)
        r, w = _two_sum(s, u)  # = r + w + v: r is the float64 nearest, unless w + v says otherwise
        below = np.spacing(np.nextafter(np.abs(r), 0))  # the ulp under |r|, the smaller at a power of 2
        unsettled = ~(np.abs(w + v) < _MARGIN * below) | (np.abs(p) < _TINY)
        if dtype == np.float32:
            rounded = r.astype(np.float32)
            unsettled |= _at_a_midpoint(r, rounded)  # rounding twice may then go the wrong way
        else:
            rounded = r
    for i in np.flatnonzero(unsettled):
        exact = Fraction(float(a64)) * int(k.flat[i]) + Fraction(float(c64))
        # An exact 0 is a product and an addend that are exact: its sign is the sum's, as computed.
        rounded.flat[i] = _round(exact, dtype) if exact else s.flat[i]
    return rounded


def _two_sum(a: Any, b: Any) -> tuple[Any, Any]:  # arrays, or a NumPy number for either
    """a + b = s + error, exactly (Knuth)."""
    s = a + b
    b_part = s - a
    return s, (a - (s - b_part)) + (b - b_part)


def _split(a: Any) -> tuple[Any, Any]:
    t = _SPLIT * a
    high = t - (t - a)
    return high, a - high


def _two_product(a: Any, b: Any) -> tuple[Any, Any]:
    """a·b = p + error, exactly (Dekker), short of overflow."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _at_a_midpoint(r: Array, rounded: Array) -> Array:
    """Where the float64 r lies halfway between two float32 numbers."""
    toward = np.where(r > rounded, np.float32(np.inf), np.float32(-np.inf)).astype(np.float32)
    neighbour = np.nextafter(rounded, toward)
    return (r != rounded) & (r == (rounded.astype(np.float64) + neighbour.astype(np.float64)) / 2)


def _past(dtype: type[np.floating[Any]]) -> Fraction:
    """From this magnitude on, a number rounds to infinity: half an ulp past the largest."""
    largest = np.finfo(dtype).max
    return Fraction(float(largest)) + Fraction(float(np.spacing(np.nextafter(largest, dtype(0))))) / 2


_PAST = {np.dtype(np.float32): _past(np.float32), np.dtype(np.float64): _past(np.float64)}
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _round(exact: Fraction, dtype: np.dtype[Any]) -> float:
    """The nearest float64, or float32, to an exact rational (ties to even)."""
    if abs(exact) >= _PAST[dtype]:
        return math.inf if exact > 0 else -math.inf
    nearest = float(exact)  # Python rounds a Fraction correctly
    if dtype != np.float32:
        return nearest
    candidate = np.float32(min(max(nearest, -_FLOAT32_MAX), _FLOAT32_MAX))
    neighbours = [np.nextafter(candidate, np.float32(direction)) for direction in (-np.inf, np.inf)]
    return float(
        min(
            [n for n in neighbours if np.isfinite(n)] + [candidate],
            key=lambda n: (abs(Fraction(float(n)) - exact), int(n.view(np.int32)) & 1),
        )
    )
