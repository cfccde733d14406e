"""engine.rounding's bound on a graph's rounding, against hand computation, and what it does for the check."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.rounding import UNIT_ROUNDOFF, objective_rounding


def test_each_value_counts_its_size_times_its_gradient_for_the_targets_it_depends_on() -> None:
    # F = sum(((x + 1e8) - 1e8) · y) + sum(w): x + 1e8 rounds at 1e8 and moves F as y does;
    # w's value moves F alone. Each target gets the values its step changes, by hand:
    x = engine.tensor([0.5, 2.0], dtype=engine.float64, requires_grad=True)
    y = engine.tensor([3.0, -1.0], dtype=engine.float64, requires_grad=True)
    w = engine.tensor([7.0], dtype=engine.float64, requires_grad=True)
    shifted = x + 1e8
    back = shifted - 1e8
    product = back * y
    f = product.sum() + w.sum()
    bound = objective_rounding([(f, np.array(1.0))], {"x": x, "y": y, "w": w, "back": back})
    # |value| · |∂F/∂value|, value by value, element by element
    on = {
        "shifted": [(1e8 + 0.5) * 3, (1e8 + 2.0) * 1],
        "back": [0.5 * 3, 2.0 * 1],
        "product": [1.5, 2.0],
        "product.sum()": [abs(1.5 - 2.0)],
        "w.sum()": [7.0],
        "f": [abs(1.5 - 2.0 + 7.0)],
    }
    u = UNIT_ROUNDOFF
    x_reaches = ["shifted", "back", "product", "product.sum()", "f"]
    assert bound["x"].whole == pytest.approx(u * sum(sum(on[v]) for v in x_reaches), rel=1e-12)
    # One element of x reaches one element of each value: at most the largest share of each.
    assert bound["x"].element == pytest.approx(u * sum(max(on[v]) for v in x_reaches), rel=1e-12)
    y_reaches = ["product", "product.sum()", "f"]
    assert bound["y"].whole == pytest.approx(u * sum(sum(on[v]) for v in y_reaches), rel=1e-12)
    assert bound["y"].element == pytest.approx(u * sum(max(on[v]) for v in y_reaches), rel=1e-12)
    assert bound["w"].whole == bound["w"].element == pytest.approx(u * (7.0 + 6.5), rel=1e-12)
    # A value the check sets (a node it perturbs) is not rounded by its own op.
    assert bound["back"] == bound["y"]


def test_one_element_reaches_a_row_of_an_outer_product() -> None:
    # x (2, 1) times y (1, 3) of ones: one element of x reaches a row of 3, one of y a column
    # of 2; each element of the product counts its size (1 or 2) times its gradient (1).
    x = engine.tensor([[1.0], [2.0]], dtype=engine.float64, requires_grad=True)
    y = engine.tensor([[1.0, 1.0, 1.0]], dtype=engine.float64, requires_grad=True)
    f = (x * y).sum()  # 9
    bound = objective_rounding([(f, np.array(1.0))], {"x": x, "y": y})
    u, largest, total = UNIT_ROUNDOFF, 2.0, 9.0
    assert bound["x"].element == pytest.approx(u * (3 * largest + 9.0), rel=1e-12)  # the row, then F
    assert bound["y"].element == pytest.approx(u * (2 * largest + 9.0), rel=1e-12)  # the column, then F
    assert bound["x"].whole == bound["y"].whole == pytest.approx(u * (total + 9.0), rel=1e-12)


@pytest.mark.filterwarnings("ignore:overflow encountered in exp", "ignore:invalid value encountered in multiply")
def test_a_value_that_is_infinite_where_its_gradient_is_0_adds_nothing() -> None:
    x = engine.tensor([1000.0], dtype=engine.float64, requires_grad=True)
    f = (1 / engine.exp(x)).sum()  # exp(1000) is inf, 1/inf is 0: F is 0, its gradient NaN at exp
    bound = objective_rounding([(f, np.array(1.0))], {"x": x})["x"]
    assert np.isfinite(bound.whole) and np.isfinite(bound.element)
