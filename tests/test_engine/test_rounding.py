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
    on = {  # |value| · |∂F/∂value|, value by value
        "shifted": (1e8 + 0.5) * 3 + (1e8 + 2.0) * 1,
        "back": 0.5 * 3 + 2.0 * 1,
        "product": 1.5 + 2.0,
        "product.sum()": abs(1.5 - 2.0),
        "w.sum()": 7.0,
        "f": abs(1.5 - 2.0 + 7.0),
    }
    assert bound["x"] == pytest.approx(
        UNIT_ROUNDOFF * (on["shifted"] + on["back"] + on["product"] + on["product.sum()"] + on["f"]), rel=1e-12
    )
    assert bound["y"] == pytest.approx(UNIT_ROUNDOFF * (on["product"] + on["product.sum()"] + on["f"]), rel=1e-12)
    assert bound["w"] == pytest.approx(UNIT_ROUNDOFF * (on["w.sum()"] + on["f"]), rel=1e-12)
    # A value the check sets (a node it perturbs) is not rounded by its own op.
    assert bound["back"] == bound["y"]


@pytest.mark.filterwarnings("ignore:overflow encountered in exp", "ignore:invalid value encountered in multiply")
def test_a_value_that_is_infinite_where_its_gradient_is_0_adds_nothing() -> None:
    x = engine.tensor([1000.0], dtype=engine.float64, requires_grad=True)
    f = (1 / engine.exp(x)).sum()  # exp(1000) is inf, 1/inf is 0: F is 0, its gradient NaN at exp
    assert np.isfinite(objective_rounding([(f, np.array(1.0))], {"x": x})["x"])
