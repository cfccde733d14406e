"""The dtypes (float32, float64, int64, int32, bool) and PyTorch's type promotion between them.

NumPy 2 already treats Python numbers as "weak" the way PyTorch does; what differs is that
PyTorch also lets a 0-d tensor give way to a tensor with dimensions of the same kind, and
that integers meet floats in the default float dtype (float32), not in float64.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np


class dtype:
    """A tensor's element type, printed as PyTorch prints it, `torch.float32`: the engine stands in
    for torch (`import engine as torch`), and code written for it prints what it would."""

    __slots__ = ("is_floating_point", "itemsize", "name", "numpy", "torch_name")

    def __init__(self, name: str, torch_name: str) -> None:
        self.name = name
        self.torch_name = torch_name  # PyTorch's scalar type, as its messages name it
        self.numpy = np.dtype(name)
        self.itemsize = self.numpy.itemsize
        self.is_floating_point = self.numpy.kind == "f"

    def __repr__(self) -> str:
        return f"torch.{self.name}"


float32 = dtype("float32", "Float")
float64 = dtype("float64", "Double")
int64 = dtype("int64", "Long")
int32 = dtype("int32", "Int")  # for counts, as makemore's bigram table (torch.zeros(..., dtype=torch.int32))
bool_ = dtype("bool", "Bool")

BY_NUMPY: dict[np.dtype[Any], dtype] = {d.numpy: d for d in (float32, float64, int64, int32, bool_)}
BY_NAME: dict[str, dtype] = {d.name: d for d in (float32, float64, int64, int32, bool_)}

# The C++ types PyTorch's messages name when a number does not fit a tensor's dtype.
_C_NAMES = {np.dtype(np.int32): "int", np.dtype(np.int64): "int64_t", np.dtype(np.float32): "float"}


def held(number: Any, kind: np.dtype[Any]) -> Any:
    """The Python number, refused as PyTorch refuses one that a tensor of `kind` cannot hold
    (torch.full, torch.where, t[i] = number, fill_): an integer dtype holds no number past its
    range, NaN or infinity; float32 holds every infinity and NaN but no finite number past its
    largest; no dtype holds an integer past 64 bits."""
    if isinstance(number, bool | np.bool_) or kind.kind == "b":
        return number
    if isinstance(number, int):
        within_64_bits(number)
    if kind.kind in "iu":
        limits = np.iinfo(kind)
        fits = limits.min <= number <= limits.max  # False for NaN
    else:
        fits = kind != np.float32 or not (_FLOAT32_MAX < abs(number) < float("inf"))
    if not fits:
        raise RuntimeError(f"value cannot be converted to type {_C_NAMES[kind]} without overflow")
    return number


def within_64_bits(number: int) -> None:
    """Refuse a Python integer that neither int64 nor uint64 holds, in PyTorch's words: it takes
    no such number beside any tensor, where NumPy would make it a float."""
    if number < -(2**63):
        raise OverflowError("can't convert negative int to unsigned")
    if number >= 2**64:
        raise OverflowError("int too big to convert")


_FLOAT32_MAX = float(np.finfo(np.float32).max)
_default_float: ContextVar[np.dtype[Any]] = ContextVar("default_float", default=float32.numpy)


def default_float() -> np.dtype[Any]:
    """The dtype Python floats and integer-to-float results get: float32 unless changed."""
    return _default_float.get()


@contextmanager
def default_dtype(d: dtype) -> Iterator[None]:
    """Like `torch.set_default_dtype`, for one block (and one thread or task) only."""
    token = _default_float.set(d.numpy)
    try:
        yield
    finally:
        _default_float.reset(token)


# Python's own types, which PyTorch takes as dtypes too (torch.zeros(2, dtype=int) is int64).
PYTHON_TYPES: dict[Any, dtype] = {float: float64, int: int64, bool: bool_}


def as_dtype(d: Any) -> dtype | None:
    """`engine.float64` and the others, or Python's float, int and bool as PyTorch takes them; None else."""
    if isinstance(d, dtype):
        return d
    return PYTHON_TYPES.get(d) if isinstance(d, type) else None


def to_numpy_dtype(d: Any, function: str) -> np.dtype[Any]:
    """The NumPy dtype of `engine.float64` and the others (or float, int, bool); anything else
    (`"float64"`, `np.float64`) is refused in PyTorch's words, as code that passes it would fail
    under torch."""
    found = as_dtype(d)
    if found is None:
        raise TypeError(f"{function}(): argument 'dtype' must be torch.dtype, not {type(d).__name__}")
    return found.numpy


def promote_types(a: np.dtype[Any] | None, b: np.dtype[Any] | None) -> np.dtype[Any] | None:
    """torch.promote_types: floats win over integers, whatever their width."""
    if a is None or a == b:
        return b
    if b is None:
        return a
    if (a.kind == "f") != (b.kind == "f"):
        return a if a.kind == "f" else b
    return np.promote_types(a, b)


def _combine(higher: np.dtype[Any] | None, lower: np.dtype[Any] | None) -> np.dtype[Any] | None:
    # A lower-priority operand only matters when it is of a higher kind (a float scalar
    # meeting integer tensors), as in PyTorch's result_type.
    if higher is None:
        return lower
    if lower is None or higher.kind == "f":
        return higher
    if lower.kind == "f" or higher.kind == "b":
        return promote_types(higher, lower)
    return higher


def result_type(operands: Sequence[Any]) -> np.dtype[Any]:
    """The dtype PyTorch gives an elementwise op on these arrays and Python numbers."""
    dims = zero_dims = numbers = None
    for operand in operands:
        if isinstance(operand, np.ndarray):
            if operand.ndim:
                dims = promote_types(dims, operand.dtype)
            else:
                zero_dims = promote_types(zero_dims, operand.dtype)
        elif isinstance(operand, bool | np.bool_):
            numbers = promote_types(numbers, bool_.numpy)
        elif isinstance(operand, int | np.integer):
            numbers = promote_types(numbers, int64.numpy)
        else:
            numbers = promote_types(numbers, default_float())
    result = _combine(dims, _combine(zero_dims, numbers))
    assert result is not None, "result_type needs at least one operand"
    return result
