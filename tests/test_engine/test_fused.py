"""engine.fused against exact rationals: a·k + c rounded once to the nearest float32 or float64."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.fused import fused_multiply_add


@settings(max_examples=1000, deadline=None)
@given(
    a=st.floats(allow_nan=False, allow_infinity=False),
    k=st.integers(0, 2**40),
    c=st.floats(allow_nan=False, allow_infinity=False),
    single=st.booleans(),
)
def test_a_fused_multiply_add_rounds_the_exact_value_once(a: float, k: int, c: float, single: bool) -> None:
    dtype = np.dtype(np.float32 if single else np.float64)
    if single:  # as linspace gives them: numbers of the dtype
        a, c = (float(np.float32(n)) if abs(n) <= 3e38 else n / 2**900 for n in (a, c))
    exact = Fraction(a) * k + Fraction(c)
    got = float(fused_multiply_add(a, np.array([k, 0, 1]), c, dtype)[0])
    largest = np.finfo(np.float32 if single else np.float64).max
    ulp = np.spacing(np.nextafter(largest, dtype.type(0)))  # the largest's, which has no number above
    past = Fraction(float(largest)) + Fraction(float(ulp)) / 2  # rounds to infinity from here
    assert math.isinf(got) is (abs(exact) >= past)
    if math.isinf(got):
        assert (got > 0) is (exact > 0)
        return
    # no number of the dtype is nearer, and of two as near, it is the even one
    off = abs(Fraction(got) - exact)
    even = int(np.array(got, dtype).view(f"i{dtype.itemsize}")) % 2 == 0
    for direction in (-np.inf, np.inf):
        with np.errstate(over="ignore"):  # the largest's neighbour above is infinity
            other = float(np.nextafter(dtype.type(got), dtype.type(direction)))
        if math.isfinite(other):
            other_off = abs(Fraction(other) - exact)
            assert off < other_off or (off == other_off and even)


def test_what_two_roundings_get_wrong_one_gets_right() -> None:
    # 0.1·k + 0.7: NumPy rounds the product, then the sum, and at some k lands on another number
    # than the exact value rounded once; the fused multiply-add lands on that one at every k.
    a, c = 0.1, 0.7
    k = np.arange(1000)
    fused = fused_multiply_add(a, k, c, np.dtype(np.float64))
    twice = a * k.astype(np.float64) + c
    exact = [float(Fraction(a) * int(i) + Fraction(c)) for i in k]
    assert fused.tolist() == exact
    assert (twice != fused).any()
