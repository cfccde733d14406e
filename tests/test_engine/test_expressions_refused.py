"""Every construct outside the expression whitelist is refused, naming the node, column and reason."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine.check import run_check
from engine.errors import LimitExceeded, SpecError
from engine.expressions import CALL_LEVELS
from engine.limits import Limits
from engine.spec import compile_spec


def _spec(expr: str) -> dict[str, Any]:
    return {
        "leaves": {
            "x": {"value": [1.0, 2.0, 3.0], "requires_grad": True},
            "y": {"value": [4.0, 5.0, 6.0]},
        },
        "nodes": [
            {"name": "a", "expr": "x * y"},
            {"name": "z", "expr": expr},
            {"name": "later", "expr": "sum(a)"},
        ],
    }


# (expression, what the message must say, column where the offending part starts)
REFUSED = [
    ("x.__class__", "attribute access is not allowed", 1),
    # NumPy's and PyTorch's spellings, with this one's (a review found no hint of it).
    ("x.sum()", "attribute access is not allowed: methods are called as functions, the tensor first: sum(x)", 1),
    ("sum(x.sum(dim=0))", "the tensor first: sum(x, ...) (axis=, not dim=)", 5),
    ("sum(exp(x).sum())", "the tensor first: sum(exp(x))", 5),
    ("x.T", "attribute access is not allowed: write transpose(x)", 1),
    ("np.exp(x)", "attribute access is not allowed: functions are called by their names alone, as exp(...)", 1),
    ("torch.nn.functional.relu(x)", "functions are called by their names alone, as relu(...)", 1),
    ("np.pi * x", "attribute access is not allowed", 1),
    # The whole expression rewritten, which compiles as it is pasted back (a review's went round
    # twice: sum(torch.exp(x)) suggested for torch.exp(x).sum(), then refused again)
    ("torch.exp(x).sum()", "; the whole expression so written: sum(exp(x))", 1),
    ("x.sum(dim=0, keepdim=True).mean()", "; the whole expression so written: mean(sum(x, axis=0, keepdims=True))", 1),
    ("sum(a @ a.t())", "; the whole expression so written: sum(a @ transpose(a))", 9),
    ("torch.tensor(2.0) * sum(x)", "attribute access is not allowed", 1),  # no tensor() here: no rewrite
    ("Sum(x)", "function 'Sum' is not available (did you mean 'sum'?)", 1),
    # PyTorch's, with how to write them here (a review's student looked for them)
    ("where(x, x, y)", "function 'where' is not available: where(c, a, b) is c * a + (1 - c) * b", 1),
    ("x / numel(x)", "function 'numel' is not available: the count of x's elements is sum(ones_like(x))", 5),
    (
        "var(x, unbiased=False)",
        "var() has no parameter 'unbiased' (parameters: axis, keepdims, correction): "
        "write correction=0 for PyTorch's unbiased=False",
        8,
    ),
    ("clamp(x, min=y)", "the parameter 'min' of clamp() must be a number or None, written as a literal", 14),
    ("transpose(a, 1, 0)", "got 3 positional arguments: the axes go as one tuple, transpose(..., (1, 0))", 17),
    ("max(a, x)", "of two tensors, element by element, maximum(a, b)", 8),
    ("sum(X)", "unknown name 'X' (did you mean 'x'?)", 5),
    ("sum(q)", "unknown name 'q' (known:", 5),
    ("__import__('os')", "function '__import__' is not available", 1),
    ("eval('1')", "function 'eval' is not available", 1),
    ("exec('x')", "function 'exec' is not available", 1),
    ("open('f')", "function 'open' is not available", 1),
    ("getattr(x, 'grad')", "function 'getattr' is not available", 1),
    ("'abc'", "strings are not allowed", 1),
    ("x + 'a'", "strings are not allowed", 5),
    ("f'{x}'", "strings are not allowed", 1),
    ("lambda: x", "lambda is not allowed", 1),
    ("[v for v in x]", "comprehensions are not allowed", 1),
    ("(v for v in x)", "comprehensions are not allowed", 1),
    ("{v: v for v in x}", "comprehensions are not allowed", 1),
    # A comparison, as the mask it means (a review: a student had no hint of the README's relu(sign(x))).
    ("x < y", "comparisons are not allowed: as a mask of 1 and 0, write relu(sign(y - x))", 1),
    ("x == y", "comparisons are not allowed: as a mask of 1 and 0, write 1 - abs(sign(x - y))", 1),
    ("a >= x + 1", "write 1 - relu(sign((x + 1) - a))", 1),
    ("x != 0", "write abs(sign(x - 0))", 1),
    ("0 < x < 1", "comparisons are not allowed", 1),
    ("x and y", "'and' and 'or' are not allowed", 1),
    ("x if y else a", "conditional expressions", 1),
    ("[x, y]", "lists are not allowed", 1),
    ("{x, y}", "sets are not allowed", 1),
    ("{'k': x}", "dicts are not allowed", 1),
    ("(x, y)", "tuples are only allowed as keyword values", 1),
    ("x // y", "the operator // is not allowed", 1),
    ("x % y", "the operator % is not allowed", 1),
    ("x << 2", "the operator << is not allowed", 1),
    ("x & y", "the operator & is not allowed", 1),
    ("~x", "the operator ~ is not allowed", 1),
    ("not x", "the operator not is not allowed", 1),
    ("(w := x)", "assignment expressions (:=) are not allowed", 2),
    ("xq * 2", "unknown name 'xq' (known: a, x, y)", 1),
    ("x * later", "'later' is defined later (nodes[2])", 5),
    ("z + 1", "'z' is this node itself", 1),
    ("nosuch(x)", "function 'nosuch' is not available", 1),
    ("exp", "'exp' is a function: call it", 1),
    ("exp(x, y)", "exp() takes 1 tensor argument(s) and 0 parameter(s)", 8),
    ("maximum(x)", "maximum() takes 2 tensor argument(s) (a, b), got 1", 1),
    ("sum(x, dim=0)", "sum() has no parameter 'dim' (parameters: axis, keepdims): write axis= (PyTorch's dim=)", 8),
    ("mean(x, keepdim=True)", "write keepdims= (PyTorch's keepdim=)", 9),
    ("sum(x, axis=0, axis=1)", "sum() got parameter 'axis' twice", 16),
    ("sum(x, 0, axis=0)", "sum() got parameter 'axis' twice", 11),
    ("sum(x, keepdims=1)", "the parameter 'keepdims' of sum() must be True or False", 17),
    ("sum(x, axis=y)", "the parameter 'axis' of sum() must be an integer, a tuple of integers or None", 13),
    ("sum(x, axis=1.5)", "the parameter 'axis' of sum() must be an integer, a tuple of integers or None", 13),
    # A parameter is a literal: a review found 2 * 3 told it must be a number.
    ("sum(x, axis=1 + 1)", "must be an integer, a tuple of integers or None, written as a literal", 13),
    ("maximum(y=x)", "maximum() takes 2 tensor argument(s) (a, b), got 0", 1),
    ("maximum(x, b=x)", "got 1: tensors are given by position, not by name (b=)", 1),
    ("maximum(b=x, a=x)", "got 0: tensors are given by position, not by name (b=, a=)", 1),
    ("mse_loss(input=x, target=x)", "got 0: tensors are given by position, not by name (input=, target=)", 1),
    ("sum(x, axis=-a)", "must be an integer, a tuple of integers or None, written as a literal", 13),
    ("sum(x, axis=[0])", "the parameter 'axis' of sum() must be an integer, a tuple of integers or None", 13),
    # Integers past int64 were told they were no numbers, or no integers (a review).
    (
        "sum(x, axis=-99999999999999999999)",
        "must be an integer, a tuple of integers or None; this integer is past int64",
        13,
    ),
    ("x[0:99999999999999999999]", "slice bounds must be integer constants within int64", 5),
    # Each parameter says what it takes: a review found axis told of True/False, and softmax's
    # axis of tuples.
    ("softmax(x, axis=(0, 1))", "the parameter 'axis' of softmax() must be an integer", 17),
    ("softmax(x, axis=None)", "the parameter 'axis' of softmax() must be an integer", 17),
    ("transpose(x, axes=1.5)", "the parameter 'axes' of transpose() must be a tuple of integers or None", 19),
    ("reshape(x)", "reshape() needs the parameter 'shape'", 1),
    (
        "reshape(x, [3, 1])",
        "the parameter 'shape' of reshape() must be a tuple of integers, like (3, 1), or an integer",
        12,
    ),
    ("reshape(x, (3.5, 1))", "must be a tuple of integers", 12),
    ("reshape(x, None)", "must be a tuple of integers", 12),
    ("exp(*x)", "*args is not allowed", 5),
    ("sum(**x)", "**kwargs is not allowed", 5),
    ("x[y]", "indices must be integer constants or slices", 3),
    ("x[1.5]", "indices must be integer constants or slices", 3),
    ("x[::0]", "slice step must be greater than zero", 3),
    ("x[::-1]", "slice step must be greater than zero", 3),
    ("x[a:]", "slice bounds must be integer constants", 3),
    ("True * x", "True and False are only allowed as keyword values", 1),
    ("None", "the constant None is not allowed", 1),
    ("1j * x", "the constant 1j is not allowed", 1),
    ("x @ 2", "@ needs tensors on both sides", 1),
    ("3 @ 4", "@ needs tensors", 1),
    ("x +", "invalid syntax", None),
    ("import os", "invalid syntax", 1),
    ("x = 1", "an expr is an expression, not an assignment: the name goes in the node's name, the rest in expr", 3),
    ("x; y", "invalid syntax", 2),
    ("(x)()", "'x' is a tensor, not a function", 2),
    ("exp(x)(y)", "only functions can be called, by name", 1),
    ("await x", "await is not allowed", 1),
    ("", "the expression is empty", None),
]


@pytest.mark.parametrize(("expr", "reason", "column"), REFUSED, ids=[r[0] or "empty" for r in REFUSED])
def test_refused_expression_names_node_column_and_reason(expr: str, reason: str, column: int | None) -> None:
    with pytest.raises(SpecError) as caught:
        compile_spec(_spec(expr))
    error = caught.value
    assert error.loc == ("body", "nodes", 1, "expr")
    assert error.msg.startswith("node 'z'")
    assert reason in error.msg
    if column is not None:
        assert f"column {column}:" in error.msg
    assert not isinstance(error, LimitExceeded)


@pytest.mark.parametrize(
    ("part", "expr", "reason"),
    [
        ("forward", "x * k", "unknown name 'k' (known: x); a number the function takes is declared in its params"),
        ("forward", "x * grad_y", "unknown name 'grad_y' (known: x)"),  # no param: a review found it said so
        ("backward", "ctx.saved_tensors[0] * grad_y", "the params and grad_<output> by their names, not through ctx"),
    ],
)
def test_a_custom_function_says_how_it_names_what_it_uses(part: str, expr: str, reason: str) -> None:
    # A review's student wrote a param they had not declared, and PyTorch's ctx.saved_tensors.
    function = {"inputs": ["x"], "forward": [{"name": "y", "expr": "x * 2"}], "outputs": ["y"],
                "save_for_backward": ["x"], "backward": [{"name": "grad_x", "expr": "grad_y * 2"}]}  # fmt: skip
    function[part] = [{"name": "y" if part == "forward" else "grad_x", "expr": expr}]
    spec = {"leaves": {"x": {"value": [1.0], "requires_grad": True}}, "functions": {"F": function},
            "nodes": [{"name": "s", "expr": "sum(F(x))"}]}  # fmt: skip
    with pytest.raises(SpecError) as caught:
        compile_spec(spec)
    assert caught.value.loc == ("body", "functions", "F", part, 0, "expr")
    assert caught.value.msg.endswith(reason)


@pytest.mark.parametrize(
    ("expr", "said"),
    [
        ("sum(x)\n+1", "line 2, column 1: invalid syntax (an expression goes on to a new line only inside brackets)"),
        ("sum(x +\n  q)", "line 2, column 3: unknown name 'q'"),
        ("sum(x) + \ud800", "column 10: '\\ud800' is half a character (a lone surrogate)"),
    ],
)
def test_an_expression_of_several_lines_or_half_a_character_is_refused_where_it_is(expr: str, said: str) -> None:
    # A review: the line was not said (column 1 of what?), and a lone surrogate got Python's codec words.
    with pytest.raises(SpecError) as caught:
        compile_spec(_spec(expr))
    assert caught.value.msg.startswith(f"node 'z', {said}")


def test_a_custom_functions_param_too_large_for_its_type_is_said_to_be() -> None:
    fn = {"inputs": ["x"], "params": {"k": 1.0}, "forward": [{"name": "y", "expr": "x * k"}], "outputs": ["y"]}
    node = {"name": "z", "expr": "F(x, k=100000000000000000000000000000000000)"}
    spec = {"leaves": {"x": {"value": [1.0]}}, "functions": {"F": fn}, "nodes": [node]}
    with pytest.raises(SpecError, match="must be a number or True/False; this integer is past int64, so write it as"):
        compile_spec(spec)
    node["expr"] = "F(x, k=1e999)"  # inf, as a literal in an expression, and said so
    assert compile_spec(spec).warnings == ["node 'z', column 8: the number is too large for float64 and becomes inf"]


def test_100000_nested_parentheses_are_a_clear_limit_error() -> None:
    with pytest.raises(LimitExceeded, match="nests brackets deeper than 100") as caught:
        compile_spec(
            _spec("(" * 100_000 + "x" + ")" * 100_000), Limits(max_expr_length=300_000, max_total_expr_length=300_000)
        )
    assert "GRADLAB_MAX_EXPR_DEPTH" in caught.value.msg
    assert ", column 101: " in caught.value.msg  # the 101st bracket, as the contract asks of every refusal
    with pytest.raises(LimitExceeded, match=r", line 2, column 3: the expression nests brackets deeper than 2"):
        compile_spec(_spec("sum((x\n  (((x))))"), Limits(max_expr_depth=2))


def test_deep_nesting_without_brackets_is_a_clear_limit_error() -> None:
    with pytest.raises(LimitExceeded, match="nests deeper than 100"):
        compile_spec(_spec("-" * 900 + "x"))
    with pytest.raises(LimitExceeded, match="nests deeper than 100"):
        compile_spec(_spec("exp(-" * 60 + "x" + ")" * 60))  # 60 brackets, 120 levels


def _chain(functions: int, minuses: int) -> dict[str, Any]:
    """F0(x) = -...-x, F1(x) = -...-F0(x), ...: each call nested in the next one's expression."""
    made = {
        f"F{k}": {"inputs": ["x"], "forward": [{"name": "y", "expr": "-" * minuses + (f"F{k - 1}(x)" if k else "x")}],
                  "outputs": ["y"], "save_for_backward": [], "backward": [{"name": "grad_x", "expr": "grad_y"}]}
        for k in range(functions)
    }  # fmt: skip
    return {
        "leaves": {"x": {"value": [1.0, 2.0], "requires_grad": True}},
        "functions": made,
        "nodes": [{"name": "y", "expr": f"F{functions - 1}(x)"}, {"name": "s", "expr": "sum(y)"}],
    }


@pytest.mark.parametrize(("functions", "minuses"), [(32, 1), (10, 14), (1, 194)])
def test_nesting_through_custom_functions_counts_up_to_the_limit_and_no_further(functions: int, minuses: int) -> None:
    # Evaluation recurses through every call: ten functions of 48 minuses each, every one within
    # the limit, hit Python's recursion limit (a review). The depth counts through the calls
    # (each 4 more), and at the most the setting takes, 200, the deepest chain still runs.
    limits = Limits(max_expr_depth=200)
    depth = 1 + functions * (minuses + 1 + CALL_LEVELS)  # the node's call, then each function's
    assert depth <= 200
    program = compile_spec(_chain(functions, minuses), limits)
    grad = program.run().tensors["x"].grad
    assert grad is not None and grad.tolist() == [(-1.0) ** (functions * minuses)] * 2
    assert run_check(program, {"mode": "full"}).passed
    too_deep = _chain(functions, minuses + 201 - depth) if functions == 1 else _chain(functions, minuses + 1)
    with pytest.raises(LimitExceeded, match=r"nests \d+ deep through F\d+\(\).*\(setting GRADLAB_MAX_EXPR_DEPTH\)"):
        compile_spec(too_deep, limits)


def test_ten_functions_each_calling_the_one_before_run_at_the_default_depth() -> None:
    # A review found such a chain refused at the default of 50 (each call counts its forward and 4).
    made = {
        f"F{k}": {"inputs": ["x"], "forward": [{"name": "y", "expr": f"F{k - 1}(x) + 1" if k else "x * 2"}],
                  "outputs": ["y"], "save_for_backward": [], "backward": [{"name": "grad_x", "expr": "grad_y"}]}
        for k in range(10)
    }  # fmt: skip
    spec = {"leaves": {"x": {"value": [1.0], "requires_grad": True}}, "functions": made,
            "nodes": [{"name": "y", "expr": "F9(x)"}, {"name": "s", "expr": "sum(y)"}]}  # fmt: skip
    result = compile_spec(spec).run()
    assert result.tensors["y"].value.tolist() == [2.0 + 9]  # x·2, then 1 added nine times


def test_a_backward_nests_from_the_walk_not_within_the_call() -> None:
    # Backward statements run from the graph's walk, not inside the expression that called the
    # function: a deep one does not count toward its calls (a review found them refused).
    limits = Limits(max_expr_depth=200)
    spec = _chain(1, 1)
    spec["functions"]["F0"]["backward"] = [{"name": "grad_x", "expr": "-" * 190 + "grad_y"}]
    spec["nodes"][0]["expr"] = "-" * 100 + "F0(x)"
    grad = compile_spec(spec, limits).run().tensors["x"].grad
    assert grad is not None and grad.tolist() == [1.0, 1.0]  # the backward's 190 minuses of the 100 minuses' 1


def test_a_long_flat_sum_is_not_deep() -> None:
    # 240 terms in 961 characters: one level of nesting, evaluated in a loop, not 240 nested calls.
    expr = "x" + "+x*2-y/4" * 120
    result = compile_spec(_spec(expr)).run()
    expected = [x + 120 * (2 * x - y / 4) for x, y in ((1.0, 4.0), (2.0, 5.0), (3.0, 6.0))]
    assert result.tensors["z"].value.tolist() == pytest.approx(expected, rel=1e-6)
    assert result.tensors["z"].grad_fn == "SubBackward0"


def test_parser_recursion_is_caught_when_limits_are_raised() -> None:
    limits = Limits(max_expr_length=100_000, max_expr_depth=100_000)
    with pytest.raises(LimitExceeded, match="nests too deeply to parse"):
        compile_spec(_spec("-" * 20_000 + "x"), limits)


def test_overlong_expression_names_the_setting() -> None:
    with pytest.raises(LimitExceeded, match="GRADLAB_MAX_EXPR_LENGTH"):
        compile_spec(_spec("x" + " + x" * 400))


def test_giant_literals_are_float64_infinity_with_a_warning_not_a_hung_worker() -> None:
    program = compile_spec(_spec("x * 10 ** 10 ** 10"))
    assert any("node 'z'" in w and "inf" in w for w in program.warnings)
    result = program.run()
    assert result.tensors["z"].value.tolist() == [float("inf")] * 3


def test_a_folded_power_of_a_negative_literal_is_written_as_python_reads_it() -> None:
    # (-8) ** (1/3) is NaN in float64 (Python itself makes a complex number of it); the warning
    # wrote it -8 ** 0.333..., which Python reads as -(8 ** 0.333...) = -2.
    program = compile_spec(_spec("x * (-8) ** (1 / 3)"))
    [said] = [w for w in program.warnings if "number literals" in w]
    assert "(-8) ** 0.3333333333333333 on number literals gives nan in float64" in said
    assert np.isnan(program.run().tensors["z"].value).all()


def test_a_float_literal_too_large_for_float64_is_inf_with_a_warning_that_names_it() -> None:
    # Python reads 1e400 as inf; a review found no word of it (10 ** 400 had one).
    program = compile_spec(_spec("x * 1e400"))
    assert "node 'z', column 5: the number is too large for float64 and becomes inf" in program.warnings
    assert program.run().tensors["z"].value.tolist() == [float("inf")] * 3


def test_huge_integer_literal_becomes_float() -> None:
    program = compile_spec(_spec("x * " + "9" * 400))
    assert any("too large for float64" in w for w in program.warnings)


def test_an_integer_literal_past_uint64_beside_a_tensor_is_said_to_be_a_float() -> None:
    # PyTorch refuses x * 10**23 (int too big to convert); the product came back with nothing said (a review).
    program = compile_spec(_spec("x * 100000000000000000000000"))
    assert program.warnings == [
        "node 'z', column 5: the integer is past uint64 and is taken as the float 1e+23 "
        "(PyTorch refuses it beside a tensor: int too big to convert)"
    ]
    np.testing.assert_array_equal(program.run().tensors["z"].value, np.array([1e23, 2e23, 3e23], np.float32))
    # PyTorch takes these beside a float tensor, as floats (a review found them warned of)
    for literal in ("9223372036854775808", "18446744073709551615", "-9223372036854775808"):
        assert compile_spec(_spec(f"x * {literal}")).warnings == []
    assert compile_spec(_spec("clamp(x, min=-9223372036854775808)")).warnings == []  # int64's least, a parameter


@pytest.mark.parametrize(
    ("expr", "value", "warned"),
    [
        ("max(x, 0)", 3.0, "max(..., 0) is the maximum along axis 0, not the maximum with the number 0: element by "
         "element, write maximum(x, 0) or relu(x); along the axis, axis=0 says so"),
        ("min(x, -1)", 1.0, "min(..., -1) is the minimum along axis -1, not the minimum with the number -1: element "
         "by element, write minimum(x, -1); along the axis, axis=-1 says so"),
        ("max(x, axis=0)", 3.0, None),
        ("maximum(x, 2)", [2.0, 2.0, 3.0], None),
    ],
)  # fmt: skip
def test_max_with_a_number_by_position_says_it_reduces_along_that_axis(
    expr: str, value: Any, warned: str | None
) -> None:
    # A review: a learner's ReLU written max(x, 0) came back one number, checked and passed, unsaid.
    program = compile_spec(_spec(expr))
    assert program.warnings == ([f"node 'z', column 1: {warned}"] if warned else [])
    assert program.run().tensors["z"].value.tolist() == value


@pytest.mark.parametrize(
    "written",
    ["torch.exp(x).sum()", "x.sum(dim=0, keepdim=True).mean()", "torch.nn.functional.relu(a - 20).sum() * x.exp()"],
)
def test_the_whole_expression_rewritten_compiles_and_gives_what_torch_gives_for_the_original(written: str) -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(SpecError) as caught:
        compile_spec(_spec(written))
    rewritten = caught.value.msg.split("; the whole expression so written: ")[1]
    ours = compile_spec(_spec(rewritten)).run().tensors["z"].value
    x, y = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([4.0, 5.0, 6.0])
    theirs = eval(written, {"torch": torch, "x": x, "y": y, "a": x * y})  # the test's own string, not a user's
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-6)
