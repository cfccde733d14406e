"""Requests built to make the engine misbehave: each one ends in an answer or a clear error,
within its limits."""

# mypy: disable-error-code="union-attr"
from __future__ import annotations

import math
import time
import tracemalloc
from typing import Any

import numpy as np
import pytest

from engine.check import run_check
from engine.errors import ComputeError, LimitExceeded, SpecError
from engine.limits import Limits
from engine.spec import compile_spec


def leaf(value: Any, **extra: Any) -> dict[str, Any]:
    return {"value": value, "dtype": "float64", "requires_grad": True, **extra}


def test_functions_calling_functions_without_ops_stop_at_the_time_limit() -> None:
    # F5 calls F4 thirty times, each F4 calls F3 thirty times, ...: 30^5 calls and not one op.
    functions: dict[str, Any] = {
        "F0": {"inputs": ["a"], "forward": [{"name": "b", "expr": "a"}], "outputs": ["b"]},
    }
    for k in range(1, 6):
        forward = [{"name": f"s{i}", "expr": f"F{k - 1}(a)"} for i in range(30)]
        functions[f"F{k}"] = {"inputs": ["a"], "forward": forward, "outputs": ["s29"]}
    spec = {"leaves": {"x": leaf([1.0])}, "functions": functions, "nodes": [{"name": "y", "expr": "F5(x)"}]}
    start = time.monotonic()
    with pytest.raises(LimitExceeded, match="GRADLAB_TIME_LIMIT_SECONDS"):
        compile_spec(spec, Limits(time_limit_seconds=0.5)).run()
    assert time.monotonic() - start < 2.0


@pytest.mark.parametrize(
    ("mode", "hint"),
    [
        ("full", "check mode fast takes far less than full"),
        # A review found fast told to run fast, which it did already.
        ("fast", "check mode off skips it"),
    ],
)
def test_the_check_stops_at_the_time_limit_when_the_perturbed_node_is_the_last(mode: str, hint: str) -> None:
    spec = {
        "leaves": {"u": {"shape": [20000], "init": "ones"}, "v": leaf(1.0)},
        "nodes": [{"name": "t", "expr": "u * v", "retain_grad": True}],
        "backward": [{"root": "t", "gradient": [1.0] * 20000}],
        "check": {"mode": mode},
    }
    program = compile_spec(spec, Limits(time_limit_seconds=0.5, max_check_evaluations=10**7))
    start = time.monotonic()
    # Fast mode's few evaluations take longer than the deadline given here, of no time at all.
    deadline = time.monotonic() + (0.5 if mode == "full" else 0.0)
    with pytest.raises(LimitExceeded, match="GRADLAB_TIME_LIMIT_SECONDS") as caught:
        run_check(program, spec["check"], deadline)
    assert time.monotonic() - start < 2.0
    # The check's doing, not node t's, whose evaluation it was in: a review found the error at t.
    assert caught.value.loc == ("body", "check")
    assert caught.value.msg.endswith(f"in the finite-difference check ({hint})")


@pytest.mark.parametrize(
    "nodes",
    [
        [{"name": "y", "expr": "broadcast_to(x, (0, 10000, 3000))"}, {"name": "m", "expr": "mean(y, axis=0)"}],
        [{"name": "m", "expr": "sum(e, axis=0)"}],
    ],
)
def test_reducing_over_an_empty_axis_is_predicted_before_allocating(nodes: list[dict[str, Any]]) -> None:
    spec = {
        "leaves": {"x": {"value": 1.0}, "e": {"shape": [0, 2000, 2000], "init": "zeros"}},
        "nodes": nodes,
        "backward": [],
    }
    with pytest.raises(LimitExceeded, match="GRADLAB_MAX_TENSOR_ELEMENTS"):
        compile_spec(spec, Limits(max_tensor_elements=1_000_000)).run()


def test_a_huge_dimension_of_an_empty_leaf_is_refused() -> None:
    spec = {"leaves": {"x": {"shape": [0, 10**30], "init": "zeros"}}, "nodes": [{"name": "s", "expr": "x"}]}
    with pytest.raises(LimitExceeded, match="GRADLAB_MAX_TENSOR_ELEMENTS") as caught:
        compile_spec(spec)
    # A review: it was said to have 10^30 elements.
    assert caught.value.msg.startswith("leaf 'x' has no elements, but the shape [0, 10000")


def test_the_expressions_of_a_request_are_counted_together_before_any_is_compiled() -> None:
    # A review sent 32 functions of 55 statements and 100 nodes of 997 characters each, 1.9 MB:
    # compiling took 8 s past a 2 s time limit and 420 MB.
    expr = "+".join(["x"] * 499)
    fn = {
        "inputs": ["x"],
        "forward": [{"name": f"a{i}", "expr": expr} for i in range(55)] + [{"name": "y", "expr": "x"}],
    }
    nodes = [{"name": f"n{i}", "expr": expr} for i in range(100)]
    spec: dict[str, Any] = {
        "leaves": {"x": leaf([1.0])},
        "functions": {f"F{k}": dict(fn, outputs=["y"]) for k in range(32)},
        "nodes": nodes,
    }
    with pytest.raises(LimitExceeded, match="GRADLAB_MAX_TOTAL_EXPR_LENGTH") as caught:
        compile_spec(spec, Limits(max_total_expr_length=10 * len(expr)))
    assert caught.value.loc == ("body", "functions", "F0", "forward", 10, "expr")  # the eleventh goes over
    assert f"{11 * len(expr):,} characters" in caught.value.msg
    spec["functions"] = {}
    spec["nodes"] = nodes[:10]
    compile_spec(spec, Limits(max_total_expr_length=10 * len(expr)))  # ten fit


def test_a_tuple_cannot_override_a_number_param() -> None:
    fn = {"inputs": ["x"], "params": {"s": 1.0}, "forward": [{"name": "b", "expr": "x * s * 1000"}], "outputs": ["b"]}
    spec = {"leaves": {"x": leaf([1.0])}, "functions": {"F": fn}, "nodes": [{"name": "y", "expr": "F(x, s=(1, 2, 3))"}]}
    with pytest.raises(SpecError, match="the parameter 's' of F\\(\\) must be a number"):
        compile_spec(spec)


def test_numbers_given_to_functions_are_0d_tensors() -> None:
    fn = {
        "inputs": ["x"],
        "params": {"scale": 3.0},
        "forward": [{"name": "b", "expr": "x * sum(scale) + max(scale)"}],
        "outputs": ["b"],
        "save_for_backward": [],
        "backward": [{"name": "grad_x", "expr": "grad_b * mean(scale)"}],
    }
    spec = {
        "leaves": {"x": leaf([1.0, 2.0]), "logits": leaf([0.5, 1.5, -1.0])},
        "functions": {"F": fn},
        "nodes": [
            {"name": "y", "expr": "F(x)"},
            {"name": "ce", "expr": "cross_entropy(logits, 2)"},
            {"name": "s", "expr": "sum(y) + ce"},
        ],
    }
    result = compile_spec(spec).run()
    assert result.tensors["y"].value.tolist() == [6.0, 9.0]
    logits = np.array([0.5, 1.5, -1.0])
    softmax = np.exp(logits) / np.exp(logits).sum()
    grad = result.tensors["logits"].grad
    assert grad is not None
    np.testing.assert_allclose(grad, softmax - [0, 0, 1], rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_arithmetic_and_functions_of_params_alone_are_numbers_as_python_computes_them(dtype: str) -> None:
    # A review found d ** 0.5 refused with "'float' object has no attribute 'dtype'", and d / 2 of
    # an integer d was 0 (an integer reciprocal); sqrt(3) was float32's in a float64 request.
    forward = "x / d ** 0.5 * (d / 2) * -d * sqrt(d) * exp(d - 3) / sqrt(3)"
    fn = {
        "inputs": ["x"],
        "params": {"d": 3},
        "forward": [{"name": "y", "expr": forward}],
        "outputs": ["y"],
        "save_for_backward": [],
        "backward": [{"name": "grad_x", "expr": "grad_y / d ** 0.5 * (d / 2) * -d * sqrt(d) * exp(d - 3) / sqrt(3)"}],
    }
    values = [1.0, 2.0]
    spec = {
        "dtype": dtype,
        "leaves": {"x": {"value": values, "requires_grad": True}},
        "functions": {"F": fn},
        "nodes": [{"name": "y", "expr": "F(x)"}, {"name": "s", "expr": "sum(y)"}],
    }
    result = compile_spec(spec).run()
    factor = 1 / 3**0.5 * (3 / 2) * -3 * math.sqrt(3) * math.exp(0) / math.sqrt(3)  # Python's float64
    x = np.array(values, dtype)
    for k in ("y", "s"):
        assert result.tensors[k].value.dtype == dtype
    # Each operation rounds in the tensor's dtype, from constants that are float64's
    expected = x / np.asarray(3**0.5, dtype) * np.asarray(1.5, dtype) * np.asarray(-3, dtype)
    expected = expected * np.asarray(math.sqrt(3), dtype) * np.asarray(1.0, dtype) / np.asarray(math.sqrt(3), dtype)
    np.testing.assert_array_equal(result.tensors["y"].value, expected)
    grad = result.tensors["x"].grad
    assert grad is not None
    np.testing.assert_allclose(grad, np.full(2, factor), rtol=1e-6)
    assert run_check(compile_spec(spec), {"mode": "full"}).passed


def test_a_function_is_not_a_backward_root() -> None:
    fn = {"inputs": ["x"], "forward": [{"name": "b", "expr": "x * 2"}], "outputs": ["b"]}
    spec = {
        "leaves": {"x": leaf([1.0])},
        "functions": {"F": fn},
        "nodes": [{"name": "y", "expr": "F(x)"}],
        "backward": {"root": "F"},
    }
    with pytest.raises(SpecError, match="unknown backward root 'F' \\(known: x, y\\)"):
        compile_spec(spec)


def test_a_backward_that_ignores_an_unused_output_is_a_warning() -> None:
    fn = {
        "inputs": ["x"],
        "forward": [{"name": "a", "expr": "x * 2"}, {"name": "b", "expr": "sum(x)"}],
        "outputs": ["a", "b"],
        "backward": [{"name": "grad_x", "expr": "grad_a * 2"}],
    }
    spec = {
        "leaves": {"x": leaf([1.0, 2.0])},
        "functions": {"F": fn},
        "nodes": [{"name": ["a", "b"], "expr": "F(x)"}, {"name": "s", "expr": "sum(a)"}],
    }
    report = run_check(compile_spec(spec), None)
    assert report.passed is True
    assert any("wrong where b gets a gradient" in w for w in report.warnings), report.warnings


def test_transpose_with_negative_axes_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    x, w = [[1.0, 2.0], [3.0, 4.0]], [[1.0, 10.0], [100.0, 1000.0]]
    spec = {
        "leaves": {"x": leaf(x), "w": {"value": w, "dtype": "float64"}},
        "nodes": [{"name": "s", "expr": "sum(transpose(x, (-1, 0)) * w)"}],
    }
    result = compile_spec(spec).run()
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (tx.permute(-1, 0) * torch.tensor(w, dtype=torch.float64)).sum().backward()
    np.testing.assert_array_equal(result.tensors["x"].grad, tx.grad.numpy())


def test_a_call_nested_in_another_call_gets_its_own_check_entry() -> None:
    def fn(factor: int, stated: int) -> dict[str, Any]:
        backward = f"grad_y * {stated} * x ** {factor - 1}"
        return {
            "inputs": ["x"],
            "forward": [{"name": "y", "expr": f"x ** {factor}"}],
            "outputs": ["y"],
            "save_for_backward": ["x"],
            "backward": [{"name": "grad_x", "expr": backward}],
        }

    spec = {
        "leaves": {"x": leaf([1.0, 2.0])},
        "functions": {"G": fn(3, 5), "F": fn(2, 2)},  # G's backward is wrong: 5 x² for x³
        "nodes": [{"name": "s", "expr": "sum(F(G(x)))"}],
    }
    report = run_check(compile_spec(spec), None)
    assert sorted(f.function for f in report.functions) == ["F", "G"]
    assert {f.function: f.passed for f in report.functions} == {"F": True, "G": False}


@pytest.mark.parametrize("reduction", ["sum", "mean", "max", "min", "logsumexp"])
def test_an_empty_axis_tuple_reduces_every_axis_as_in_torch(reduction: str) -> None:
    spec = {
        "leaves": {"x": leaf([[1.0, 2.0], [3.0, 4.0]])},
        "nodes": [{"name": "r", "expr": f"{reduction}(x, axis=())"}],
    }
    result = compile_spec(spec).run()
    assert result.tensors["r"].shape == ()


def test_columns_count_leading_spaces() -> None:
    spec = {"leaves": {"x": leaf([1.0])}, "nodes": [{"name": "z", "expr": "    x + x.T"}]}
    with pytest.raises(SpecError, match="column 9: attribute access"):
        compile_spec(spec)


def test_a_shape_error_in_a_function_names_the_function_statement() -> None:
    fn = {"inputs": ["x"], "forward": [{"name": "b", "expr": "x @ x"}], "outputs": ["b"]}
    spec = {"leaves": {"x": leaf([[1.0, 2.0, 3.0]])}, "functions": {"F": fn}, "nodes": [{"name": "y", "expr": "F(x)"}]}
    with pytest.raises(ComputeError) as caught:
        compile_spec(spec).run()
    assert caught.value.loc == ("body", "functions", "F", "forward", 0, "expr")


def test_a_broken_backward_of_a_call_no_root_reaches_is_an_error_not_a_crash() -> None:
    # The check tries the backward with random upstream gradients; its gradient has the wrong shape.
    fn = {
        "inputs": ["a", "b"],
        "forward": [{"name": "y", "expr": "a * sum(b)"}],
        "outputs": ["y"],
        "backward": [{"name": "grad_a", "expr": "broadcast_to(reshape(grad_y, (2, 1)), (2, 3))"}],
    }
    spec = {
        "leaves": {"x": leaf([1.0, 2.0]), "w": leaf([3.0, 4.0])},
        "functions": {"F": fn},
        "nodes": [{"name": "unused", "expr": "F(x, w)"}, {"name": "s", "expr": "sum(x)"}],
    }
    with pytest.raises(ComputeError) as caught:
        run_check(compile_spec(spec), None)
    assert caught.value.loc == ("body", "functions", "F", "backward", 0, "expr")
    assert caught.value.msg == (
        "function 'F', backward: grad_a, for input a: Function FBackward returned an invalid gradient at index 0 "
        "- got [2, 3] but "
        "expected shape compatible with [2] (in the check, which tries other upstream gradients too)"
    )


def test_a_product_of_batches_that_stretch_both_ways_backpropagates_within_its_operands_sizes() -> None:
    # [1000,1,1,1000] @ [1,1000,1000,1] is 10^6 numbers, and its gradients 10^6 each; a review found
    # the backward forming g @ bᵀ over every batch first, 10^9 numbers (4 GB), past the time limit.
    # At a third of the size, the product in full would be 27·10^6 numbers, 108 MB.
    spec = {
        "dtype": "float32",
        "leaves": {"A": {"shape": [300, 1, 1, 300], "init": "normal", "requires_grad": True},
                   "B": {"shape": [1, 300, 300, 1], "init": "normal", "requires_grad": True}},
        "nodes": [{"name": "C", "expr": "A @ B"}, {"name": "s", "expr": "sum(C)"}],
    }  # fmt: skip
    program = compile_spec(spec)
    tracemalloc.start()
    try:
        result = program.run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6, peak
    a, b = (result.tensors[name].value.astype(np.float64) for name in ("A", "B"))
    grad_a, grad_b = (result.tensors[name].grad for name in ("A", "B"))
    assert grad_a is not None and grad_b is not None
    # d sum(A @ B) / dA[i, k] = Σ_j B[j, k], and / dB[j, k] = Σ_i A[i, k]
    np.testing.assert_allclose(grad_a.reshape(300, 300), np.tile(b[0, :, :, 0].sum(0), (300, 1)), rtol=1e-4)
    np.testing.assert_allclose(grad_b.reshape(300, 300), np.tile(a[:, 0, 0, :].sum(0), (300, 1)), rtol=1e-4)
