# mypy: disable-error-code="union-attr"
"""torch.cat, torch.stack and torch.where against PyTorch's: values, dtypes, gradients, grad_fn
names and refusals, each case written once for either library."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import engine

torch = pytest.importorskip("torch")

# Each case gets (lib, a, b, c): a (2, 3) float64, b (2, 2) float32 and c (2, 3) float64, all
# requiring grad, and answers the tensor to backpropagate from.
CASES: dict[str, Callable[..., Any]] = {
    "cat along 1, two dtypes": lambda lib, a, b, c: lib.cat([a, b], 1),
    "cat along -1 of three": lambda lib, a, b, c: lib.cat((a, b, c), dim=-1),
    "cat along 0": lambda lib, a, b, c: lib.cat([a, c, a]),
    "cat of one": lambda lib, a, b, c: lib.cat([b]),
    "cat beside a legacy empty tensor": lambda lib, a, b, c: lib.cat([a, lib.zeros(0), c], 0),
    # the empty one still takes part in the dtype (float64 here) and gets its empty gradient (a review)
    "cat beside an empty tensor of another dtype": lambda lib, a, b, c: lib.cat(
        [b, lib.zeros(0, dtype=lib.float64)], 1
    ),
    "cat of a number-made tensor": lambda lib, a, b, c: lib.cat([a[0], lib.tensor([5.0])]),
    "stack along 0": lambda lib, a, b, c: lib.stack([a, c]),
    "stack along 2, a repeated": lambda lib, a, b, c: lib.stack([a, c, a], 2),
    "stack along -1": lambda lib, a, b, c: lib.stack((b, b * 2), dim=-1),
    "stack along axis=1": lambda lib, a, b, c: lib.stack((a, c), axis=1),
    "cat along a 0-d tensor": lambda lib, a, b, c: lib.cat((a, c), dim=lib.tensor(1)),
    "stack of 0-d": lambda lib, a, b, c: lib.stack([a[0, 0], c[1, 2]]),
    "where of tensors": lambda lib, a, b, c: lib.where(a > 0, a, c),
    "where broadcast": lambda lib, a, b, c: lib.where(a[0] > c, a[0], c),
    "where with a number": lambda lib, a, b, c: lib.where(a > 0, a, 0.0),
    "where with a number first": lambda lib, a, b, c: lib.where(b > 0, 2, b),
    "where of two dtypes": lambda lib, a, b, c: lib.where(b > 0, b, a[:, :2]),
    "where of numbers": lambda lib, a, b, c: lib.where(a > 0, 1.0, -1.0) * a,
}


def _run(lib: Any, name: str) -> list[Any]:
    rng = np.random.default_rng(len(name))
    a = lib.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    b = lib.tensor(rng.standard_normal((2, 2)).astype(np.float32), requires_grad=True)
    c = lib.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    out = CASES[name](lib, a, b, c)
    weights = lib.tensor(np.arange(1.0, out.numel() + 1).reshape(tuple(out.shape)))
    (out * weights).sum().backward()
    grads = [t.grad.numpy() if t.grad is not None else None for t in (a, b, c)]
    return [str(out.dtype), tuple(out.shape), out.grad_fn.name(), out.detach().numpy(), *grads]


@pytest.mark.parametrize("name", CASES)
def test_cat_stack_and_where_go_as_in_torch(name: str) -> None:
    ours, theirs = _run(engine, name), _run(torch, name)
    assert ours[:3] == theirs[:3]
    for mine, its in zip(ours[3:], theirs[3:], strict=True):
        assert (mine is None) == (its is None)
        if mine is not None:
            assert mine.dtype == its.dtype
            np.testing.assert_allclose(mine, its, rtol=1e-12)


REFUSED: dict[str, Callable[[Any], Any]] = {
    "cat of sizes that differ": lambda lib: lib.cat([lib.ones(2, 3), lib.ones(3, 3)], 1),
    "cat of ranks that differ": lambda lib: lib.cat([lib.ones(2, 3), lib.ones(3)]),
    "cat of nothing": lambda lib: lib.cat([]),
    "cat of a tensor": lambda lib: lib.cat(lib.ones(2)),
    "cat of a number": lambda lib: lib.cat([lib.ones(2), 1]),
    "cat along a dim out of range": lambda lib: lib.cat([lib.ones(2, 3)], 5),
    "stack of shapes that differ": lambda lib: lib.stack([lib.ones(2, 3), lib.ones(2, 1)]),
    "stack of nothing": lambda lib: lib.stack([]),
    "stack along a dim out of range": lambda lib: lib.stack([lib.ones(2)], 3),
    "where of a float condition": lambda lib: lib.where(lib.ones(3), lib.ones(3), lib.ones(3)),
    "where of sizes that differ": lambda lib: lib.where(lib.ones(3) > 0, lib.ones(3), lib.ones(2)),
    "where broadcast, then a mismatch": lambda lib: lib.where(lib.ones(4, 1) > 0, lib.ones(3), lib.ones(2, 3)),
    "cat of 0-d tensors": lambda lib: lib.cat([lib.tensor(1.0), lib.tensor(2.0)]),
    # numbers the answer's dtype cannot hold, which NumPy would wrap or make infinite (a review)
    "where of a number past int32": lambda lib: lib.where(_int32s(lib) > 1, _int32s(lib), 2**31),
    "where of a number below int32, first": lambda lib: lib.where(_int32s(lib) > 1, -(2**31) - 1, _int32s(lib)),
    "where of a number past int64": lambda lib: lib.where(lib.tensor([1, 2]) > 1, lib.tensor([1, 2]), 2**63),
    "where of a number past float32": lambda lib: lib.where(lib.ones(2) > 0, lib.ones(2), -1e39),
    "where of a float past float32 beside int32": lambda lib: lib.where(_int32s(lib) > 1, _int32s(lib), 1e39),
    "where of a number past 64 bits": lambda lib: lib.where(lib.ones(2) > 0, lib.ones(2, dtype=lib.float64), 2**64),
}


def _int32s(lib: Any) -> Any:
    return lib.tensor([1, 2, 3], dtype=lib.int32)


@pytest.mark.parametrize("name", REFUSED)
def test_cat_stack_and_where_refuse_in_torchs_words(name: str) -> None:
    said = []
    for lib in (engine, torch):
        with pytest.raises((RuntimeError, ValueError, TypeError, IndexError, OverflowError)) as caught:
            REFUSED[name](lib)
        said.append((caught.type, str(caught.value)))
    assert said[0] == said[1]


@pytest.mark.parametrize(
    "number", [2**31 - 1, -(2**31), 2**31, 2.5, float("inf"), float("nan"), True, 2**63 - 1, -(2**63), 3.4e38, 3.5e38]
)
def test_where_takes_the_numbers_its_answers_dtype_holds_and_refuses_the_others_as_torch_does(number: Any) -> None:
    said: list[Any] = []
    for lib in (engine, torch):
        for values in (_int32s(lib), lib.tensor([1, 2, 3]), lib.tensor([1.0, 2.0, 3.0])):
            try:
                out = lib.where(values > 1, values, number)
                said.append((str(out.dtype), out.numpy().tolist()))
            except RuntimeError as error:
                said.append(str(error))
    half = len(said) // 2
    np.testing.assert_equal(said[:half], said[half:])


def test_where_of_the_condition_alone_gives_the_indices_where_it_holds() -> None:
    values = np.array([[1.0, -2.0], [0.0, 3.0]])
    ours = engine.where(engine.tensor(values) > 0)
    theirs = torch.where(torch.tensor(values) > 0)
    assert [t.numpy().tolist() for t in ours] == [t.numpy().tolist() for t in theirs]


def test_where_keeps_its_condition_for_backward_as_torch_does() -> None:
    # The condition changed in place before backward: PyTorch saved it, and refuses; the values
    # of a and b it did not save, and a change to them is no matter.
    outcomes = []
    for lib in (engine, torch):
        a = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        mask = a.detach() > 0
        y = lib.where(mask, a * 2, a * 3)
        mask[0] = False
        try:
            y.sum().backward()
            outcomes.append(a.grad.numpy().tolist())
        except RuntimeError as error:
            outcomes.append(str(error).split(";")[0])
    assert outcomes[0] == outcomes[1]


def _empties(lib: Any) -> list[Any]:
    empty = lib.tensor([], requires_grad=True)
    a = lib.tensor([[1.0, 2.0]], requires_grad=True)
    joined = lib.cat([empty, a, empty], 0)
    joined.sum().backward()
    made = [lib.cat([lib.tensor([]), lib.tensor([1, 2])]), lib.cat([lib.tensor([]), lib.tensor([])], 1), joined]
    return [(str(t.dtype), tuple(t.shape)) for t in made] + [empty.grad.numpy().tolist(), a.grad.numpy().tolist()]


def test_cat_keeps_legacy_empty_tensors_in_its_dtype_and_its_gradients_as_torch_does() -> None:
    # cat([tensor([]), tensor([1, 2])]) was int64, where PyTorch's is float32 (the loop that starts empty
    # and appends), and the empty tensor's .grad None (a review).
    assert _empties(engine) == _empties(torch)


def test_where_wants_both_values_or_neither_and_takes_a_0_d_condition_alone() -> None:
    for lib in (engine, torch):
        with pytest.raises(TypeError, match="where\\(\\) received an invalid combination of arguments"):
            lib.where(lib.tensor([True, False]), lib.ones(2))
    for holds in (True, False):
        ours, theirs = engine.where(engine.tensor(holds)), torch.where(torch.tensor(holds))
        assert [t.numpy().tolist() for t in ours] == [t.numpy().tolist() for t in theirs]


def test_where_leaves_its_condition_out_of_next_functions_as_torch_does() -> None:
    # The condition has no gradient: PyTorch's WhereBackward0 has two edges, the engine's had three (a review).
    edges = []
    for lib in (engine, torch):
        x = lib.tensor([1.0, -2.0], requires_grad=True)
        y = lib.where(x > 0, x, x * 2) * lib.ones(2)
        where_node = y.grad_fn.next_functions[0][0]
        edges.append(
            [[None if f is None else f.name() for f, _ in node.next_functions] for node in (y.grad_fn, where_node)]
        )
    assert edges[0] == edges[1] == [["WhereBackward0", None], ["torch::autograd::AccumulateGrad", "MulBackward0"]]
