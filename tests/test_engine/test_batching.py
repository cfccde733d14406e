# mypy: disable-error-code="union-attr"
"""Full mode evaluates many perturbed copies at once (engine.batching): the numbers must be
those of one evaluation per copy, for every op with a batched form, and an op without one
must fall back to copy by copy.

The truth is the check itself with batching turned off (BATCH_ELEMENTS = 0: no evaluation
may take two copies), which evaluates the graph once per perturbation as before.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from engine import check
from engine.batching import Batched, batched_apply
from engine.check import CheckReport, run_check
from engine.limits import Limits
from engine.ops import OPS
from engine.spec import compile_spec
from engine.tensor import Tensor, apply_binary

rng = np.random.default_rng(7)


def values(*shape: int) -> Any:
    return np.round(rng.uniform(-2, 2, shape), 3).tolist()


def graph(leaves: dict[str, Any], *nodes: str, retain: bool = True) -> dict[str, Any]:
    """Leaves requiring grad, nodes `name = expr` in order (each retained), the last one the root."""
    specs: list[dict[str, Any]] = []
    for node in nodes:
        name, expr = (part.strip() for part in node.split("=", 1))
        specs.append({"name": name, "expr": expr, "retain_grad": retain})
    last = specs[-1]["name"]
    return {
        "dtype": "float64",
        "leaves": {name: {"value": v, "requires_grad": True} for name, v in leaves.items()},
        "nodes": specs,
        "backward": [{"root": last, "gradient": None}],
    }


def weighted(*expr: str) -> list[str]:
    """The nodes, then a scalar root that weighs every element of the last one differently, so
    that a wrong element of a batched result cannot cancel out."""
    last = expr[-1].split("=")[0].strip()
    return [*expr, f"root = sum({last} * sin({last} * 0.7 + 0.3))"]


CASES: dict[str, dict[str, Any]] = {
    "elementwise, ranks differ": graph(
        {"x": values(3), "y": values(2, 3), "s": 0.5},
        *weighted("u = exp(tanh(x)) * y - s / (x * x + 1)", "v = maximum(u, 0.1) + minimum(y, x) ** 2"),
    ),
    "scalar leaf into a matrix": graph({"s": 1.3, "m": values(2, 3)}, *weighted("u = sigmoid(s * m) + abs(s)")),
    "pow of tensors": graph({"a": [0.5, 1.5, 2.0], "b": values(3)}, *weighted("u = a ** b + 2.0 ** b")),
    "reductions over axes": graph(
        {"x": values(2, 3, 4)},
        *weighted(
            "a = sum(x, axis=1)",
            "b = mean(a, axis=-1, keepdims=True) * max(x, axis=(0, 2))",
            "c = logsumexp(b, axis=0) + min(x)",
        ),
    ),
    "reductions of a 0-d tensor": graph({"s": 0.7}, *weighted("u = sum(s) * mean(s, axis=0) + max(s, axis=-1)")),
    "softmax and log_softmax": graph(
        {"x": values(3, 4)}, *weighted("u = softmax(x, axis=0) * log_softmax(x)", "v = softmax(u * 3, axis=-1)")
    ),
    "reshape, transpose, broadcast_to": graph(
        {"x": values(2, 3), "z": values(3, 1)},
        *weighted(
            "a = reshape(x, (3, 2))",
            "b = transpose(reshape(reshape(a, -1), (1, 6)), (1, 0)) * reshape(broadcast_to(z, (3, 2)), (6, 1))",
            "c = transpose(broadcast_to(x, (4, 2, 3)), (2, 0, 1)) + reshape(transpose(x), (3, 1, 2))",
        ),
    ),
    "indexing": graph(
        {"x": values(3, 4)},
        *weighted("a = x[1, 0:3] * x[:, 2]", "b = x[0:2, ::2] + x[-1, 1:3] * a[0]", "c = x[1:, 0] + b[0] + x[2, 3]"),
    ),
    "matmul, every rank": graph(
        {"v": values(3), "w": values(3), "m": values(2, 3), "n": values(3, 4), "t": values(2, 3, 3)},
        *weighted(
            "a = v @ w + (m @ v) @ (m @ w)",
            "b = v @ n + (w @ n)",
            "c = (m @ n) @ b + (t @ v) @ w * a",
            "d = (t @ n) @ b + sum(v @ t) + (t @ t) @ v + sum(m @ t, axis=0) * c[0]",
        ),
    ),
    "mse_loss": graph({"x": values(2, 3), "y": values(3)}, "u = mse_loss(x * 2, y) + mse_loss(y, y * y)"),
    "a custom function in the graph": {
        **graph({"x": values(2, 3)}, *weighted("u = cube(x) * 2")),
        "functions": {
            "cube": {
                "inputs": ["a"],
                "forward": [{"name": "c", "expr": "a * a * a"}],
                "outputs": ["c"],
                "save_for_backward": ["a"],
                "backward": [{"name": "grad_a", "expr": "3 * a * a * grad_c"}],
            }
        },
    },
}


def full_check(spec: dict[str, Any]) -> CheckReport:
    # not the service's 10 s: a busy machine may take longer, and the verdict is what is tested
    return run_check(compile_spec(copy.deepcopy(spec), Limits(time_limit_seconds=300.0)), {"mode": "full"})


@pytest.fixture
def batched_results(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The batched evaluations whose values the check used (the real ones, counted)."""
    used: list[int] = []
    real = check._batched_objective_of

    def counting(*args: Any) -> check.Batch:
        batch = real(*args)

        def evaluate(copies: Any) -> Any:
            found = batch.evaluate(copies)
            if found is not None:
                used.append(len(copies))
            return found

        return check.Batch(evaluate, batch.rows)

    monkeypatch.setattr(check, "_batched_objective_of", counting)
    yield used


def copy_by_copy(spec: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> CheckReport:
    with monkeypatch.context() as m:
        m.setattr(check, "BATCH_ELEMENTS", 0)
        return full_check(spec)


def assert_same_numbers(batched: CheckReport, one_by_one: CheckReport) -> None:
    assert batched.tensors.keys() == one_by_one.tensors.keys()
    assert batched.evaluations == one_by_one.evaluations
    for name, c in batched.tensors.items():
        d = one_by_one.tensors[name]
        # The same perturbations; only the order of some sums may differ, by a few ulps of F,
        # which the finite difference divides by the step.
        np.testing.assert_allclose(c.numerical, d.numerical, rtol=1e-9, atol=1e-9, err_msg=name)
        assert c.passed == d.passed and c.non_differentiable == d.non_differentiable, name


@pytest.mark.parametrize("case", list(CASES))
def test_batched_full_mode_gives_the_numbers_of_one_evaluation_per_copy(
    case: str, batched_results: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = CASES[case]
    one_by_one = copy_by_copy(spec, monkeypatch)
    assert not batched_results, "with BATCH_ELEMENTS = 0 nothing may be batched"
    batched = full_check(spec)
    # Every op here has a batched form: each element's first six evaluations came in batches.
    first_steps = 6 * sum(c.numerical.size for c in batched.tensors.values())
    assert sum(batched_results) == first_steps, "a batched evaluation was refused"
    assert_same_numbers(batched, one_by_one)
    assert batched.passed, [c.message for c in batched.tensors.values() if not c.passed]


def test_an_op_without_a_batched_form_falls_back_to_copy_by_copy(
    batched_results: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = graph({"x": values(4, 3)}, "u = exp(x) * 1.5", "loss = cross_entropy(u, labels)", retain=False)
    spec["leaves"]["labels"] = {"value": [0, 2, 1, 2], "dtype": "int64"}
    batched = full_check(spec)
    assert_same_numbers(batched, copy_by_copy(spec, monkeypatch))
    assert batched.passed
    assert not batched_results


def test_a_wrong_backward_is_still_caught_when_batched(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = copy.deepcopy(CASES["a custom function in the graph"])
    spec["functions"]["cube"]["backward"] = [{"name": "grad_a", "expr": "3 * a * grad_c"}]  # a² written as a
    batched = full_check(spec)
    assert_same_numbers(batched, copy_by_copy(spec, monkeypatch))
    assert not batched.tensors["x"].passed and "x[" in str(batched.tensors["x"].message)


def test_a_stack_of_0d_copies_is_promoted_as_one_0d_copy() -> None:
    # PyTorch: a 0-d float64 tensor does not promote a float32 tensor with dimensions (the
    # product is float32). The stack of four 0-d copies has a dimension; its rows must not.
    copies, m = np.array([0.5, 1.0, 1.5, 2.0]), np.array([0.1, 0.2, 0.3], dtype=np.float32)
    for op in ("mul", "add", "maximum"):
        stacked = batched_apply(OPS[op], (Batched.wrap(copies), Tensor.wrap(m)), {})
        one_by_one = [apply_binary(OPS[op], Tensor.wrap(np.array(c)), Tensor.wrap(m)).array for c in copies]
        assert stacked.array.dtype == one_by_one[0].dtype == np.float32, op
        np.testing.assert_array_equal(stacked.array, np.stack(one_by_one), err_msg=op)


@pytest.mark.parametrize("expr", ["mse_loss(z[0:0], z[0:0])", "mean(z[0:0])", "logsumexp(z[0:0])"])
def test_a_batch_of_empty_losses_is_nan_without_numpys_warning(expr: str) -> None:
    # A review found "Mean of empty slice" in the server's log: the batched mse_loss took np.mean.
    spec = {"leaves": {"z": {"value": [1.0, 2.0], "requires_grad": True}}, "nodes": [{"name": "s", "expr": expr}]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = run_check(compile_spec(spec), {"mode": "full"})
    assert report.passed is True  # the root is NaN: nothing measured, nothing failed
