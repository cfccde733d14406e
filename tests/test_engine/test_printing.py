"""engine.printing against torch's own tensor repr as the oracle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

torch = pytest.importorskip("torch")

import engine  # noqa: E402
from engine.dtypes import default_dtype  # noqa: E402
from engine.printing import format_values, tensor_repr  # noqa: E402

inf, nan = float("inf"), float("nan")
f32, f64, i64 = np.float32, np.float64, np.int64
MODES = ["plain", "requires_grad", "grad_fn"]


@pytest.fixture(autouse=True)
def _default_print_options() -> Iterator[None]:
    torch.set_printoptions(profile="default", sci_mode=None)
    torch.set_default_dtype(torch.float32)
    yield
    torch.set_printoptions(profile="default", sci_mode=None)


def torch_repr(a: np.ndarray, mode: str) -> str:
    if mode == "plain":
        t = torch.tensor(a)
    elif mode == "requires_grad":
        t = torch.tensor(a, requires_grad=True)
    else:
        t = torch.tensor(a, requires_grad=True) * 1  # MulBackward0, same values
    return repr(t)


def engine_repr(a: np.ndarray, mode: str) -> str:
    if mode == "plain":
        return tensor_repr(a)
    if mode == "requires_grad":
        return tensor_repr(a, requires_grad=True)
    return tensor_repr(a, requires_grad=True, grad_fn_name="MulBackward0")


def _with_hidden_outlier() -> np.ndarray:
    # Hidden elements of a summarised tensor must not influence the format.
    a = np.arange(2000, dtype=f32)
    a[1000] = 1e12
    a[1001] = 0.5
    return a


def _wide_rows() -> np.ndarray:
    return (np.arange(90, dtype=f64).reshape(3, 30) - 40) / 7


CASES: dict[str, np.ndarray] = {
    # 0-d
    "0d_float": np.array(1.5, dtype=f32),
    "0d_int_valued": np.array(3.0, dtype=f32),
    "0d_zero": np.array(0.0, dtype=f32),
    "0d_neg_zero": np.array(-0.0, dtype=f32),
    "0d_nan": np.array(nan, dtype=f32),
    "0d_inf": np.array(-inf, dtype=f64),
    "0d_tiny": np.array(1e-5, dtype=f32),
    "0d_huge": np.array(1e10, dtype=f64),
    "0d_tenth_f32": np.array(0.1, dtype=f32),
    "0d_tenth_f64": np.array(0.1, dtype=f64),
    "0d_int": np.array(7, dtype=i64),
    "0d_neg_int": np.array(-42, dtype=i64),
    # 1-d
    "int_valued": np.array([1.0, 2.0, 3.0], dtype=f32),
    "int_valued_f64": np.array([1.0, -2.0, 300.0], dtype=f64),
    "fractional": np.array([0.3, 1.25, -2.5], dtype=f32),
    "fractional_f64": np.array([0.3, 1.25, -2.5], dtype=f64),
    "rounding": np.array([0.00015, 0.00025, 1.23456789, 2.5e-4], dtype=f64),
    "tiny": np.array([1e-5, 1.0], dtype=f32),
    "below_1e-4": np.array([9.9e-5, 5e-5], dtype=f32),
    "at_1e-4": np.array([1e-4, 0.05], dtype=f64),
    "above_1e8": np.array([1e9, 1.0], dtype=f32),
    "at_1e8": np.array([1e8, 5e7], dtype=f64),
    "ratio_over_1000": np.array([1.0, 2000.0], dtype=f32),
    "ratio_at_1000": np.array([1.0, 1000.0], dtype=f32),
    "ratio_fractional": np.array([0.5, 1234.5678], dtype=f64),
    "negative": np.array([-1.5, -2.25, -1000.125], dtype=f32),
    "zeros": np.zeros(5, dtype=f32),
    "signed_zeros": np.array([0.0, -0.0, 0.0], dtype=f64),
    "zeros_and_tiny": np.array([0.0, -0.0, 1e-7], dtype=f32),
    "specials": np.array([inf, -inf, nan, 1.5], dtype=f32),
    "specials_int_valued": np.array([inf, 1.0, -2.0, nan], dtype=f64),
    "specials_sci": np.array([inf, 1e-6, nan, -3e9], dtype=f64),
    "specials_only": np.array([inf, -inf, nan], dtype=f32),
    "single_nan": np.array([nan], dtype=f32),
    "ints": np.array([1, -5, 100], dtype=i64),
    "big_ints": np.array([2**62, -(2**63), 2**63 - 1, 0], dtype=i64),
    "wrap_fractional": np.arange(40, dtype=f32) / 3,
    "wrap_ints": np.arange(100, dtype=i64) * 37 - 1000,
    "wrap_sci": np.geomspace(1e-8, 1e8, 30).astype(f32),
    "wrap_f64": np.linspace(-1, 1, 25, dtype=f64),
    # 2-d .. 4-d
    "matrix": np.arange(12, dtype=f32).reshape(3, 4),
    "matrix_fractional": np.arange(12, dtype=f64).reshape(4, 3) / 8 - 0.7,
    "matrix_random": np.random.default_rng(0).standard_normal((5, 5)).astype(f32),
    "matrix_wide": _wide_rows(),
    "matrix_nan": np.array([[1.0, nan], [-inf, 2.5]], dtype=f32),
    "matrix_int": np.array([[1, 22], [-333, 4444]], dtype=i64),
    "column": np.arange(5, dtype=f32).reshape(5, 1) * 1e-6,
    "3d": np.arange(24, dtype=f32).reshape(2, 3, 4),
    "3d_sci": np.arange(24, dtype=f64).reshape(2, 3, 4) * 1e9 + 1,
    "4d": np.arange(48, dtype=f32).reshape(2, 2, 3, 4) / 16 - 1,
    "4d_int": np.arange(48, dtype=i64).reshape(2, 2, 3, 4) - 20,
    # empty
    "empty": np.zeros((0,), dtype=f32),
    "empty_rows": np.zeros((0, 3), dtype=f32),
    "empty_cols": np.zeros((2, 0), dtype=f32),
    "empty_3d": np.zeros((2, 0, 4), dtype=f64),
    "empty_int": np.zeros((0,), dtype=i64),
    "empty_f64": np.zeros((0, 3), dtype=f64),
    # summarised (> 1000 elements)
    "summary_1d": np.arange(2000, dtype=f32),
    "summary_1d_int": np.arange(-1000, 1001, dtype=i64),
    "summary_1d_fractional": np.linspace(0, 1, 1001, dtype=f64),
    "summary_hidden_outlier": _with_hidden_outlier(),
    "summary_2d": np.arange(2500, dtype=f32).reshape(50, 50) / 3,
    "summary_2d_short_rows": np.arange(1200, dtype=f32).reshape(2, 600),
    "summary_2d_short_cols": np.arange(1001, dtype=f64).reshape(1001, 1),
    "summary_3d": np.arange(8000, dtype=f32).reshape(20, 20, 20) * 1e-3,
    "summary_3d_int": np.arange(8000, dtype=i64).reshape(20, 20, 20),
    "summary_4d": np.arange(4096, dtype=f64).reshape(8, 8, 8, 8) - 2048,
}
FLOAT_CASES = {k: v for k, v in CASES.items() if v.dtype.kind == "f"}


@pytest.mark.parametrize("a", CASES.values(), ids=CASES.keys())
def test_matches_torch(a: np.ndarray) -> None:
    assert tensor_repr(a) == torch_repr(a, "plain")


@pytest.mark.parametrize("mode", ["requires_grad", "grad_fn"])
@pytest.mark.parametrize("a", FLOAT_CASES.values(), ids=FLOAT_CASES.keys())
def test_matches_torch_with_grad(a: np.ndarray, mode: str) -> None:
    assert engine_repr(a, mode) == torch_repr(a, mode)


@pytest.mark.parametrize(
    "a",
    [np.array([True, False, True]), np.array(False), np.zeros((0, 2), dtype=bool)],
    ids=["vector", "scalar", "empty"],
)
def test_bool_matches_torch(a: np.ndarray) -> None:
    assert tensor_repr(a) == torch_repr(a, "plain")


@pytest.mark.parametrize("value", [1.5, 15.5, 155.5, 1555.5])
def test_suffix_wraps_like_torch(value: float) -> None:
    # Last lines of every length, so that suffixes land on both sides of the line width.
    # The layout follows torch's, "torch.float64" and all.
    wrapped = 0
    for n in range(1, 30):
        a = np.full(n, value, dtype=f64)
        for mode in MODES:
            expected = torch_repr(a, mode)
            assert engine_repr(a, mode) == expected
            wrapped += expected.endswith("\n       requires_grad=True)")
    assert wrapped > 0


def test_examples() -> None:
    assert tensor_repr(np.array([1.0, 2.0], dtype=f32), requires_grad=True) == ("tensor([1., 2.], requires_grad=True)")
    assert tensor_repr(np.array([0.3], dtype=f64)) == "tensor([0.3000], dtype=torch.float64)"
    assert tensor_repr(np.zeros((0, 3), dtype=i64)) == ("tensor([], size=(0, 3), dtype=torch.int64)")
    assert format_values(np.array([[1, 2], [3, 4]], dtype=i64)) == "[[1, 2],\n [3, 4]]"


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    dtype = draw(st.sampled_from([f32, f64, i64, np.bool_]))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=7))
    if dtype is np.bool_:
        return draw(hnp.arrays(dtype, shape))
    if dtype is i64:
        bound = 10 ** draw(st.integers(0, 18))
        return draw(hnp.arrays(dtype, shape, elements=st.integers(-bound, bound)))
    # One magnitude per array with a small spread, so that every mode
    # (int, fixed, sci) comes up, plus exact integers and special values.
    scale = draw(st.integers(-12, 12))
    element: Any = st.one_of(
        st.builds(lambda m, e: m * 10.0 ** (scale + e), st.floats(-10, 10), st.integers(-3, 3)),
        st.integers(-(10**6), 10**6).map(float),
        st.sampled_from([0.0, -0.0, inf, -inf, nan]),
    )
    return draw(hnp.arrays(f64, shape, elements=element)).astype(dtype)


@settings(max_examples=400, deadline=None)
@given(a=arrays(), mode=st.sampled_from(MODES))
def test_random_arrays_match_torch(a: np.ndarray, mode: str) -> None:
    if a.dtype.kind != "f":
        mode = "plain"  # only float tensors can require grad
    assert engine_repr(a, mode) == torch_repr(a, mode)


def test_the_default_float_dtype_goes_without_a_suffix_whichever_it_is() -> None:
    # Under float64 as the default, float32 is the one that is named (a review found it the other way).
    values = [[1.5, 2.0], [], [1, 2]]
    with default_dtype(engine.float64):
        ours = [repr(engine.tensor(v)) for v in values] + [repr(engine.tensor([1.5], dtype=engine.float32))]
    torch.set_default_dtype(torch.float64)
    try:
        theirs = [repr(torch.tensor(v)) for v in values] + [repr(torch.tensor([1.5], dtype=torch.float32))]
    finally:
        torch.set_default_dtype(torch.float32)
    assert ours == theirs
