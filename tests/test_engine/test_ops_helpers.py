"""The shortcuts inside the op table against the NumPy calls they stand for."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from engine.ops import _max_along

SPECIAL = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 3.5])


@settings(max_examples=300, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5),
        elements=SPECIAL,
    ),
    st.integers(0, 2),
)
def test_max_along_an_axis_is_numpys_max(a: np.ndarray, axis_pick: int) -> None:
    # Through argmax on the last axis: the same values as np.max, NaN winning, for every
    # axis, empty rows included (where both raise).
    axis = [-1, 0, a.ndim - 1][axis_pick]
    try:
        expected = np.max(a, axis=axis, keepdims=True)
    except ValueError:  # a zero-size reduction: np.max refuses it, and so must the shortcut
        with pytest.raises(ValueError):
            _max_along(a, axis)
        return
    got = _max_along(a, axis)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
