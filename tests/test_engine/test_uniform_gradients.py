"""The gradient of a sum over every axis of a large tensor, carried as one number (engine.graph),
against torch: the same values, and the same bits in float64, as when it is an array.

Most tests lower the size from which it is carried so (engine.ops.UNIFORM_MIN_ELEMENTS) to 1,
so that 3-element tensors take that path; one runs at the real size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
import pytest

import engine
import engine.autograd
import engine.ops

torch = pytest.importorskip("torch")


@pytest.fixture(params=["array", "one number"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test twice: with the gradient of a sum spread into an array, and carried as one number."""
    monkeypatch.setattr(engine.ops, "UNIFORM_MIN_ELEMENTS", 10**18 if request.param == "array" else 1)
    yield request.param


X, Y, C = [0.5, -1.25, 2.0], [1.5, 0.75, -0.5], 1.75


def _leaves(lib: Any) -> dict[str, Any]:
    return {
        "x": lib.tensor(X, dtype=lib.float64, requires_grad=True),
        "y": lib.tensor(Y, dtype=lib.float64, requires_grad=True),
        "c": lib.tensor(C, dtype=lib.float64, requires_grad=True),  # 0-d: broadcast against x
        "row": lib.tensor([Y], dtype=lib.float64, requires_grad=True),  # (1, 3)
    }


def _relu(lib: Any) -> Callable[[Any], Any]:
    return engine.relu if lib is engine else torch.relu


def _softmax(lib: Any) -> Callable[[Any], Any]:
    return (lambda a: engine.softmax(a, axis=-1)) if lib is engine else (lambda a: torch.softmax(a, dim=-1))


def _seed(x: Any, y: Any) -> tuple[Any, list[Any]]:
    xx, yy, xy = x * x, y * y, x * y
    z = 10 * (xx + yy + 2 * xy)
    for n in (xx, yy, xy, z):
        n.retain_grad()
    return z.sum(), [xx, yy, xy, z]


# Each graph returns its root and the non-leaf tensors that retain their gradient.
GRAPHS: dict[str, Callable[[Any, dict[str, Any]], tuple[Any, list[Any]]]] = {
    "x·x": lambda lib, t: ((t["x"] * t["x"]).sum(), []),
    "x + x": lambda lib, t: ((t["x"] + t["x"]).sum(), []),
    "10·sum": lambda lib, t: (10 * (t["x"] * t["y"]).sum(), []),
    "0-d operand broadcast": lambda lib, t: ((t["x"] + t["c"]).sum(), []),
    "0-d factor broadcast": lambda lib, t: ((t["x"] * t["c"] - t["c"] / 2).sum(), []),
    "(3,) against (1, 3)": lambda lib, t: ((t["row"] * 3 + t["x"] * t["y"] * lib.ones_like(t["row"])).sum(), []),
    "mean": lambda lib, t: ((t["x"] - t["y"]).mean(), []),
    "every elementwise op": lambda lib, t: (
        (
            lib.exp(t["x"])
            + lib.log(t["y"] * t["y"] + 1)
            + lib.sqrt(t["x"] * t["x"] + 1)
            + lib.abs(t["y"])
            + lib.sin(t["x"])
            - lib.cos(t["y"])
            + lib.tanh(t["x"])
            + lib.sigmoid(t["y"])
            + _relu(lib)(t["x"])
            + lib.maximum(t["x"], t["y"])
            + lib.minimum(t["x"], t["y"])
            + (t["x"] * t["x"] + 1) ** t["y"]
            - -t["x"]
        ).sum(),
        [],
    ),
    "into a matmul and a softmax": lambda lib, t: (
        (t["x"].reshape(3, 1) @ t["y"].reshape(1, 3) + _softmax(lib)(t["x"] * t["c"])).sum(),
        [],
    ),
    "one number and an array into one node": lambda lib, t: (lambda h: (h.sum() + (h * t["y"]).sum(), []))(
        t["x"] * t["c"] + 1
    ),
    "retained nodes, the seed graph": lambda lib, t: _seed(t["x"], t["y"]),
}


@pytest.mark.parametrize("name", list(GRAPHS))
def test_gradients_match_torch_bit_for_bit(name: str, path: str) -> None:
    ours, theirs = _leaves(engine), _leaves(torch)
    root, kept = GRAPHS[name](engine, ours)
    troot, tkept = GRAPHS[name](torch, theirs)
    root.backward()
    troot.backward()
    for key in ours:
        mine, ref = ours[key].grad, theirs[key].grad
        assert (mine is None) == (ref is None), key
        if ref is not None:
            assert mine.shape == tuple(ref.shape) and mine.dtype == engine.float64, key
            np.testing.assert_array_equal(mine.numpy(), ref.numpy(), err_msg=key)
            assert mine.numpy().flags.writeable and mine.numpy().base is None, key  # an array of its own
    for mine, ref in zip(kept, tkept, strict=True):
        np.testing.assert_array_equal(mine.grad.numpy(), ref.grad.numpy())
        assert mine.grad.numpy().flags.writeable


def test_gradients_accumulate_across_calls(path: str) -> None:
    grads = []
    for lib in (engine, torch):
        x = lib.tensor(X, dtype=lib.float64, requires_grad=True)
        (3 * x).sum().backward()
        (x * x).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(*grads)
    np.testing.assert_array_equal(grads[0], 3 + 2 * np.array(X))


def test_a_second_backward_with_retain_graph_accumulates_as_torch_does(path: str) -> None:
    grads = []
    for lib in (engine, torch):
        x = lib.tensor(X, dtype=lib.float64, requires_grad=True)
        y = lib.exp(x) * 2
        y.retain_grad()
        s = y.sum()
        s.backward(retain_graph=True)
        s.backward()
        grads.append((x.grad.numpy(), y.grad.numpy()))
    for mine, ref in zip(*grads, strict=True):
        np.testing.assert_array_equal(mine, ref)


class _Twice(engine.autograd.Function):
    """2·a, whose backward doubles the gradient it is given in place (as torch's g.mul_(2) may)."""

    seen: ClassVar[list[np.ndarray]] = []

    @staticmethod
    def forward(ctx: Any, a: Any) -> Any:
        return engine.tensor(a.detach().numpy() * 2)

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        array = g.numpy()
        _Twice.seen.append(array)
        array *= 2
        return g


@pytest.mark.parametrize("factor", ["number", "tensor"])
def test_a_custom_function_gets_an_array_of_its_own(path: str, factor: str) -> None:
    # With one number for g, 3·h gives one number (spread for the function), y·h an array of
    # y's shape (the function must not get a read-only view of it).
    _Twice.seen.clear()
    x = engine.tensor(X, dtype=engine.float64, requires_grad=True)
    y = engine.tensor(Y, dtype=engine.float64)
    h = _Twice.apply(x * 1.0)
    (h * (3.0 if factor == "number" else y)).sum().backward()
    (g,) = _Twice.seen
    assert g.shape == (3,) and g.flags.writeable and g.base is None
    expected = np.full(3, 3.0) if factor == "number" else np.array(Y)
    np.testing.assert_array_equal(x.grad.numpy(), 2 * expected)  # type: ignore[union-attr]


def test_a_custom_function_with_a_0d_output_used_twice_gets_an_array() -> None:
    # Its two gradients, 0-d arrays, add up to a NumPy scalar.
    _Twice.seen.clear()
    c = engine.tensor(1.5, dtype=engine.float64, requires_grad=True)
    h = _Twice.apply(c * 1.0)
    (h + h).backward()
    (g,) = _Twice.seen
    assert g.__class__ is np.ndarray and g.shape == () and g.flags.writeable
    assert c.grad is not None and c.grad.item() == 4.0


def test_at_the_real_size_the_seed_graph_matches_torch() -> None:
    # 2^16 elements: the size from which engine.ops carries the gradient of a sum as one number.
    n = engine.ops.UNIFORM_MIN_ELEMENTS
    rng = np.random.default_rng(0)
    xs, ys = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    grads = []
    for lib in (engine, torch):
        x = lib.tensor(xs, requires_grad=True)
        y = lib.tensor(ys, requires_grad=True)
        xx, yy, xy = x * x, y * y, x * y
        for t in (xx, yy, xy):
            t.retain_grad()
        z = 10 * (xx + yy + 2 * xy)
        z.retain_grad()
        z.sum().backward()
        grads.append([t.grad.numpy() for t in (x, y, xx, yy, xy, z)])
    for mine, ref in zip(*grads, strict=True):
        assert mine.dtype == np.float32 and mine.shape == (n,)
        np.testing.assert_array_equal(mine, ref)
