"""The engine's result as the JSON answer of `POST /backward`.

JSON has no NaN or infinity: they become the strings "NaN", "Infinity" and "-Infinity".
float32 values are written as the doubles they are exactly, as `torch.Tensor.tolist()` gives
them (0.30000001192092896 for 0.3): printing each in its shortest form would cost more than
the rest of a large request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic_core import to_json

from engine.check import CheckReport
from engine.comparison import Comparison
from engine.errors import LimitExceeded
from engine.spec import Result, TensorReport


def encode(value: Any) -> bytes:
    """Compact JSON of plain Python values, non-finite floats as "NaN", "Infinity", "-Infinity".

    pydantic_core's serializer: several times faster than `json` on large nested lists. It refuses
    NumPy scalars other than float64 (a float), so everything in an answer is a Python number."""
    return to_json(value, inf_nan_mode="strings")


def values(array: Any) -> Any:
    """A number or nested lists of numbers (Python's, not NumPy scalars)."""
    return np.asarray(array).tolist()


def _comparison(c: Comparison) -> dict[str, Any]:
    return {
        "passed": c.passed,
        "max_abs_error": c.max_abs_error,
        "max_rel_error": c.max_rel_error,
        "worst_index": c.worst_index,
        "error_estimate": c.error_estimate,
        "numerical": values(c.numerical),
        "analytic": values(c.analytic),
        "non_differentiable": c.non_differentiable,
        "message": c.message,
        # Fast mode compares along a random direction, unless a kink, or a failure that every
        # element then passed, sent it element by element.
        "direction": None if c.direction is None else "random unit vector",
    }


def check_answer(report: CheckReport) -> dict[str, Any]:
    if report.mode == "off":
        return {"mode": "off", "passed": None}
    functions = []
    for f in report.functions:
        inputs = {}
        for name, c in f.inputs.items():
            entry = _comparison(c)
            entry["hand_written"] = entry.pop("analytic")
            entry.pop("error_estimate")
            entry["autodiff"] = values(f.autodiff[name])
            inputs[name] = entry
        functions.append({"function": f.function, "node": f.node, "passed": f.passed, "inputs": inputs})
    return {
        "passed": report.passed,
        "mode": report.mode,
        "dtype": "float64",
        "eps": report.eps,
        "atol": report.atol,
        "rtol": report.rtol,
        "seed": report.seed,
        "evaluations": report.evaluations,
        "tensors": {name: _comparison(c) for name, c in report.tensors.items()},
        "functions": functions,
    }


def tensor_answer(t: TensorReport) -> dict[str, Any]:
    """One tensor of the answer, its attributes named as PyTorch names them."""
    return {
        "shape": list(t.shape),
        "dtype": t.dtype,
        "is_leaf": t.is_leaf,
        "requires_grad": t.requires_grad,
        "grad_fn": t.grad_fn,
        "retains_grad": bool(t.retains_grad),
        "value": values(t.value),
        "grad": None if t.grad is None else values(t.grad),
    }


def ensure_fits(result: Result, report: CheckReport | None, limit: int) -> None:
    """Refuse an answer of more than `limit` numbers: values, gradients and, once the check has
    run, its arrays. Checked before the check too, so that no time goes into a refused answer."""
    parts = {name: t.value.size + (t.grad.size if t.grad is not None else 0) for name, t in result.tensors.items()}
    if report is not None:
        parts["the check's arrays"] = sum(c.numerical.size + c.analytic.size for c in report.tensors.values()) + sum(
            2 * c.numerical.size + c.analytic.size for f in report.functions for c in f.inputs.values()
        )
    size = sum(parts.values())
    if size > limit:
        # Fast mode's arrays are a number per input: only a full check's can shrink.
        hint = ", or check mode fast" if report is not None and report.mode == "full" else ""
        largest = sorted(parts.items(), key=lambda part: -part[1])[:MOST_NAMED]
        named = ", ".join(f"{name} {n:,}" for name, n in largest)
        raise LimitExceeded(
            ("body",),
            f"the answer would hold {size:,} numbers, values and gradients (the most: {named}), over the limit of "
            f"{limit:,} (setting GRADLAB_MAX_ANSWER_ELEMENTS): ask for fewer or smaller tensors{hint}",
        )


MOST_NAMED = 3  # tensors named in the message of an answer over its size limit, the largest first


def answer_json(result: Result, report: CheckReport, tick: Callable[[], None]) -> bytes:
    """The answer as JSON text, written a tensor at a time with `tick` (the request's clock)
    before each: a small body can ask for a large answer, and writing it is work like any other."""
    parts = [b'{"tensors":{']
    for i, (name, t) in enumerate(result.tensors.items()):
        tick()
        parts += [b"," if i else b"", encode(name), b":", encode(tensor_answer(t))]
    tick()
    # The check's warnings first: a backward right only for this graph's gradient is what a learner
    # must not miss behind the routine ".grad ... is None" lines (a review).
    rest = encode({"check": check_answer(report), "warnings": report.warnings + result.warnings})
    parts += [b"},", rest[1:]]
    return b"".join(parts)
