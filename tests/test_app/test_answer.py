"""The answer's JSON (app.answer) against `json.dumps` of the same answer as the truth.

The answer is written with pydantic_core's serializer, non-finite floats as strings. The truth is
the standard library's encoder, given the same dictionaries with those strings put in by the test:
both parsed back must be equal to the bit (-0.0 is not 0.0, 1 is not 1.0) and in the same order.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from app.answer import answer_json, check_answer, tensor_answer
from app.examples import EXAMPLES
from engine.check import CheckReport, run_check
from engine.comparison import Comparison
from engine.errors import LimitExceeded, SpecError
from engine.limits import Limits
from engine.spec import Result, TensorReport, compile_spec

NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}
EDGES = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1e300, -1e300, 5e-324, 1e-9, 1e-5, 1e16, 0.1, 3.0]


def with_strings(value: Any) -> Any:
    """`value` with NaN and infinities as the strings the answer promises."""
    if isinstance(value, dict):
        return {k: with_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [with_strings(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else NON_FINITE[value]
    return value


def plain(value: Any, path: str = "answer") -> None:
    """Only Python's own JSON types: `json.dumps` would also take a NumPy float64, to_json not others."""
    if isinstance(value, dict):
        for k, v in value.items():
            assert type(k) is str, path
            plain(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            plain(v, f"{path}[{i}]")
    else:
        assert type(value) in (str, int, float, bool, type(None)), f"{path}: {type(value)}"


def assert_as_json_dumps(result: Result, report: CheckReport) -> None:
    answer = {
        "tensors": {name: tensor_answer(t) for name, t in result.tensors.items()},
        "check": check_answer(report),
        "warnings": report.warnings + result.warnings,  # the check's first
    }
    plain(answer)
    truth = json.loads(json.dumps(with_strings(answer), ensure_ascii=False, allow_nan=False, separators=(",", ":")))
    written = answer_json(result, report, lambda: None)
    got = json.loads(written)
    # repr tells -0.0 from 0.0, 1 from 1.0 and one key order from another, where == does not.
    assert repr(got) == repr(truth)
    assert got == truth


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_answer_parses_as_json_dumps_of_it(name: str) -> None:
    body = EXAMPLES[name]["value"]
    try:
        program = compile_spec(body, Limits())
        result = program.run()
    except SpecError:
        pytest.skip("an error example: it has no answer to write")
    assert_as_json_dumps(result, run_check(program, body.get("check")))


@pytest.mark.parametrize(("dtype", "huge", "tiny"), [("float32", 1e38, 1e-45), ("float64", 1e300, 5e-324)])
def test_non_finite_and_extreme_values_from_the_engine(dtype: str, huge: float, tiny: float) -> None:
    spec = {
        "dtype": dtype,
        "leaves": {
            "x": {"value": [huge, tiny, -0.0, 0.0, -1.0, 3.0], "requires_grad": True},
            "k": {"value": [1, -2, 3, 0, 5, 6], "dtype": "int64"},
        },
        "nodes": [
            {"name": "big", "expr": f"x * {huge}", "retain_grad": True},  # inf, and -0.0 stays -0.0
            {"name": "l", "expr": "log(x)", "retain_grad": True},  # -inf at 0, NaN at -1
            {"name": "d", "expr": "1 / x", "retain_grad": True},  # -inf at -0.0
            {"name": "s", "expr": "sum(big + l + d + x * k)"},
        ],
        "check": {"mode": "full"},
    }
    program = compile_spec(spec, Limits())
    result = program.run()
    report = run_check(program, spec["check"])
    written = answer_json(result, report, lambda: None)
    for text in (b'"NaN"', b'"Infinity"', b'"-Infinity"', b"-0.0"):
        assert text in written
    assert_as_json_dumps(result, report)


def tensor(value: Any, dtype: str = "float64", grad: Any = None) -> TensorReport:
    with np.errstate(over="ignore"):  # 1e300 in float32 is infinity, as it should be here
        array = np.asarray(value, dtype=dtype)
    return TensorReport(
        shape=array.shape,
        dtype=dtype,
        is_leaf=True,
        requires_grad=grad is not None,
        grad_fn=None,
        retains_grad=None,
        value=array,
        grad=None if grad is None else np.asarray(grad, dtype=dtype),
    )


def test_edge_values_written_by_hand() -> None:
    edges = np.array(EDGES)
    result = Result(
        tensors={
            "v": tensor(EDGES, grad=EDGES[::-1]),
            "f32": tensor(EDGES, "float32"),
            "scalar_nan": tensor(math.nan, grad=-math.inf),
            "scalar_zero": tensor(-0.0, "float32"),
            "m": tensor([[1e300, -0.0], [math.nan, 5e-324]]),
            "i": tensor([[1, -2], [3, 2**62]], "int64"),
            "ü": tensor(1.0),
        },
        warnings=["x: NaN × ∞"],
        env={},
        calls=[],
    )
    comparison = Comparison(
        passed=False,
        max_abs_error=math.inf,
        max_rel_error=math.nan,
        worst_index=[3],
        error_estimate=-math.inf,
        numerical=edges,
        analytic=edges[::-1],
        errors=np.zeros(edges.shape),
        non_differentiable=[[1], [2]],
        message="v[3]: analytic -0 but numerical nan, off by nan",
        direction=edges,
    )
    report = CheckReport(
        mode="fast", passed=False, eps=1e-3, atol=1e-9, rtol=1e-6, seed=0, evaluations=7, tensors={"v": comparison}
    )
    assert_as_json_dumps(result, report)
    assert_as_json_dumps(result, CheckReport(mode="off", passed=None))


def test_the_clock_ticks_before_each_tensor_and_can_stop_the_writing() -> None:
    result = Result(tensors={n: tensor([1.0, 2.0]) for n in "abc"}, warnings=[], env={}, calls=[])
    ticks = []
    answer_json(result, CheckReport(mode="off", passed=None), lambda: ticks.append(1))
    assert len(ticks) == len(result.tensors) + 1

    def deadline() -> None:
        ticks.append(1)
        if len(ticks) > 2:
            raise LimitExceeded(("body",), "time")

    ticks.clear()
    with pytest.raises(LimitExceeded):
        answer_json(result, CheckReport(mode="off", passed=None), deadline)
    assert len(ticks) == 3
