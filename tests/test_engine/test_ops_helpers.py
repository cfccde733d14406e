"""The shortcuts inside the op table against the NumPy calls they stand for."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import engine
from engine.kernels import max_along

tensor_module = importlib.import_module("engine.tensor")  # engine.tensor is also the function

SPECIAL = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 3.5])


@settings(max_examples=300, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5),
        elements=SPECIAL,
    ),
    st.integers(0, 3),
)
def test_max_along_an_axis_is_numpys_max(a: np.ndarray, axis_pick: int) -> None:
    # Through argmax on the last axis: the same values as np.max, NaN winning, for every
    # axis; along an empty axis -inf, the max of nothing, as softmax and logsumexp need it
    # (PyTorch's answers there). (Signs of zeros and NaNs may differ.)
    axes: list[int | tuple[int, ...]] = [-1, 0, a.ndim - 1, (a.ndim - 1,)]  # apply hands axes over as tuples
    axis = axes[axis_pick]
    expected = np.max(a, axis=axis, keepdims=True, initial=-np.inf)
    got = max_along(a, axis)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_softmax_takes_the_argmax_shortcut_through_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    # apply hands axis=-1 over as (1,): the shortcut must still know it for the last axis.
    a = np.array([[1.0, 5.0, 2.0], [0.5, -1.0, 0.25]])
    expected = np.exp(a - a.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    fallbacks: list[object] = []
    numpy_max = np.max

    def spy(*args: Any, **kwargs: Any) -> Any:
        fallbacks.append(kwargs)
        return numpy_max(*args, **kwargs)

    monkeypatch.setattr(np, "max", spy)
    for op in (engine.softmax, engine.log_softmax):
        result = op(engine.tensor(a, dtype=engine.float64), axis=-1)
        np.testing.assert_allclose(np.exp(result.numpy()) if op is engine.log_softmax else result.numpy(), expected)
    assert fallbacks == []


def test_numbers_that_overflow_their_cast_warn_and_raise_every_time() -> None:
    # Such numbers are never kept: NumPy's own cast warns each time, and raises under errstate.
    x = engine.tensor([1.0, 2.0])
    for _ in range(2):
        with pytest.warns(RuntimeWarning, match="overflow"):
            x * 1e300
    for _ in range(2):
        with np.errstate(all="raise"), pytest.raises(FloatingPointError):
            x + 1e300


def test_the_constant_cache_stays_bounded_and_keeps_caching() -> None:
    x = engine.tensor([1.0])
    for i in range(2 * tensor_module._MOST_CONSTANTS):
        x * (1.5 + i)
        x * float("nan")  # never kept: NaN is not equal to itself
    kept = tensor_module._CONSTANTS[np.dtype(np.float32)]
    assert len(kept) <= tensor_module._MOST_CONSTANTS
    x * 0.123
    assert 0.123 in kept
    assert not any(number != number for number in kept)
