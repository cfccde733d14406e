"""torch.cat, torch.stack and torch.where, with PyTorch's checks and words: the ops of engine.ops
that take a list of tensors, or a condition that expressions cannot write."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine import dtypes
from engine.logic import tensor_argument
from engine.ops import WHERE, joining, one_axis
from engine.tensor import Tensor, apply, tensor
from engine.torch_words import int_arg, size_mismatch, type_name


def cat(tensors: Sequence[Tensor], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """The tensors end to end along dim (CatBackward0, axis= as PyTorch's alias); the others' sizes must match."""
    given = _tensors("cat", tensors)
    dim = _dim(dim, axis)
    for i, t in enumerate(given):
        if t.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    # As PyTorch, a 1-d tensor of no elements is left out of the shapes beside others (a legacy of its own).
    numbered = [(i, t) for i, t in enumerate(given) if t.shape != (0,)]
    if not numbered:
        return apply(joining("cat", len(given)), *given, dim=0)
    first = numbered[0][1]
    axis = one_axis(int_arg(dim, "cat", "dim", 2), first.ndim)
    for i, t in numbered[1:]:
        if t.ndim != first.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {first.ndim} and {t.ndim}")
        for d in range(first.ndim):
            if d != axis and t.shape[d] != first.shape[d]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {axis}. Expected size {first.shape[d]} "
                    f"but got size {t.shape[d]} for tensor number {i} in the list."
                )
    return apply(joining("cat", len(given)), *given, dim=axis)


def stack(tensors: Sequence[Tensor], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """The tensors, all of one shape, along a new axis dim (StackBackward0)."""
    given = _tensors("stack", tensors)
    dim = _dim(dim, axis)
    first = given[0]
    for i, t in enumerate(given[1:], start=1):
        if t.shape != first.shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(first.shape)} at entry 0 and "
                f"{list(t.shape)} at entry {i}"
            )
    axis = one_axis(int_arg(dim, "stack", "dim", 2), first.ndim + 1)
    return apply(joining("stack", len(given)), *given, dim=axis)


def _tensors(function: str, tensors: Any) -> list[Tensor]:
    if not isinstance(tensors, list | tuple):
        raise TypeError(f"{function}(): argument 'tensors' (position 1) must be tuple of Tensors, not {_kind(tensors)}")
    if not tensors and function == "cat":
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got {type_name(t)}")
    return list(tensors)


def where(condition: Tensor, input: Any = None, other: Any = None) -> Any:
    """input where the bool condition holds, else other, broadcast (WhereBackward0); numbers
    for either, as PyTorch takes them. With the condition alone, the indices where it holds."""
    tensor_argument(condition, "where", "condition", 1)
    if input is None and other is None:  # a 0-d condition counts as one element, as in PyTorch
        return tuple(Tensor.wrap(np.asarray(i, np.int64)) for i in np.nonzero(np.atleast_1d(condition.array)))
    if input is None or other is None:
        given = ", ".join(_kind(a) for a in [condition, input] + ([other] if other is not None else []))
        raise TypeError(
            f"where() received an invalid combination of arguments - got ({given}), but expected "
            "(Tensor condition) or (Tensor condition, Tensor input, Tensor other)"
        )
    if condition.dtype != dtypes.bool_:
        raise RuntimeError(
            f"where expected condition to be a boolean tensor, but got a tensor with dtype {condition.dtype.torch_name}"
        )
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = tensor(input)  # two numbers: the default float dtype, or int64, as PyTorch makes them
    shape = condition.array.shape
    for operand in (input, other):  # broadcast in turn, each mismatch in PyTorch's words
        next_shape = np.shape(operand.array if isinstance(operand, Tensor) else operand)
        mismatch = size_mismatch(shape, next_shape)
        if mismatch:
            raise RuntimeError(mismatch)
        shape = np.broadcast_shapes(shape, next_shape)
    operands = [a.array if isinstance(a, Tensor) else a for a in (input, other)]
    kind = dtypes.result_type(operands)
    for number in operands:  # PyTorch casts a number to the answer's dtype first, and refuses one it cannot hold
        if not isinstance(number, np.ndarray):
            dtypes.held(number, kind)
    return apply(WHERE, condition, input, other)


def _dim(dim: Any, axis: Any) -> Any:
    """dim, or axis (PyTorch's alias of it), a 0-d tensor as its integer."""
    dim = dim if axis is None else axis
    return dim.__index__() if isinstance(dim, Tensor) else dim


def _kind(value: Any) -> str:
    return "Tensor" if isinstance(value, Tensor) else type_name(value)
