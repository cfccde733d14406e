"""torch.all, any, allclose, equal, Tensor.nelement and nn.functional.one_hot against PyTorch:
what they answer, of which type, and what they refuse in its words. Karpathy's backprop
exercise compares a gradient found by hand with autograd's through them."""

from __future__ import annotations

from typing import Any

import pytest
from torch_alike import refusals

import engine

torch = pytest.importorskip("torch")

A = [[1.0, 2.0, -3.0], [0.0, 5.0, 6.0]]
B = [[1.0, 2.0000001, -3.0], [0.0, 5.0, 6.1]]

QUESTIONS = {
    "all(a == a)": lambda lib, a, b: lib.all(a == a),
    "all(a == b)": lambda lib, a, b: lib.all(a == b),
    "all(a)": lambda lib, a, b: lib.all(a),
    "all(a, dim=1)": lambda lib, a, b: lib.all(a, dim=1),
    "all(a, 0, keepdim=True)": lambda lib, a, b: lib.all(a, 0, keepdim=True),
    "any(a > 5)": lambda lib, a, b: lib.any(a > 5),
    "(a > 1).any(-1)": lambda lib, a, b: (a > 1).any(-1),
    "(a != b).all()": lambda lib, a, b: (a != b).all(),
    "allclose(a, b)": lambda lib, a, b: lib.allclose(a, b),
    "allclose(a, b, atol=0.2)": lambda lib, a, b: lib.allclose(a, b, atol=0.2),
    "allclose(a, b, rtol=0.02)": lambda lib, a, b: lib.allclose(a, b, rtol=0.02),
    "allclose(a, a[0])": lambda lib, a, b: lib.allclose(a, a[0]),
    "allclose(nan, nan)": lambda lib, a, b: lib.allclose(a / 0 * 0, a / 0 * 0),
    "allclose(nan, nan, equal_nan=True)": lambda lib, a, b: lib.allclose(a / 0 * 0, a / 0 * 0, equal_nan=True),
    "equal(a, a.clone())": lambda lib, a, b: lib.equal(a, a.clone()),
    "equal(a, b)": lambda lib, a, b: lib.equal(a, b),
    "equal(a, a[0])": lambda lib, a, b: lib.equal(a, a[0]),
    "a.nelement()": lambda lib, a, b: a.nelement(),
    "one_hot(labels)": lambda lib, a, b: lib.nn.functional.one_hot(lib.tensor([0, 2, 1])),
    "one_hot(labels, 4)": lambda lib, a, b: lib.nn.functional.one_hot(lib.tensor([[0], [3]]), 4),
    "one_hot(no labels, 2)": lambda lib, a, b: lib.nn.functional.one_hot(lib.tensor([], dtype=lib.int64), 2),
}


def _answer(value: Any) -> Any:
    if isinstance(value, bool | int):
        return type(value).__name__, value
    return "tensor", str(value.dtype).split(".")[1], value.tolist()


@pytest.mark.parametrize("name", QUESTIONS)
def test_questions_get_torchs_answers(name: str) -> None:
    answers = [_answer(QUESTIONS[name](lib, lib.tensor(A), lib.tensor(B))) for lib in (engine, torch)]
    assert answers[0] == answers[1]


REFUSED: dict[str, tuple[type[Exception], Any]] = {
    "allclose(float32, float64)": (
        RuntimeError,
        lambda lib: lib.allclose(lib.ones(2), lib.ones(2, dtype=lib.float64)),
    ),
    "allclose(2 elements, 3)": (RuntimeError, lambda lib: lib.allclose(lib.ones(2), lib.ones(3))),
    "allclose(a tensor, a number)": (TypeError, lambda lib: lib.allclose(lib.ones(2), 1.0)),
    "one_hot(floats)": (RuntimeError, lambda lib: lib.nn.functional.one_hot(lib.tensor([0.0, 1.0]))),
    "one_hot(-1)": (RuntimeError, lambda lib: lib.nn.functional.one_hot(lib.tensor([0, -1]))),
    "one_hot(3 of 2 classes)": (RuntimeError, lambda lib: lib.nn.functional.one_hot(lib.tensor([0, 3]), 2)),
    "one_hot(no labels)": (RuntimeError, lambda lib: lib.nn.functional.one_hot(lib.tensor([], dtype=lib.int64))),
}


@pytest.mark.parametrize("name", REFUSED)
def test_questions_refuse_what_torch_refuses_in_its_words(name: str) -> None:
    said = refusals(*REFUSED[name])
    assert said[0] == said[1]
