"""Questions asked of tensors, whose answers carry no gradient: torch.all, any, allclose and
equal, as PyTorch answers them (the first two a bool tensor, the others a Python bool), for
code that compares a gradient found by hand with autograd's."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from engine import dtypes
from engine.ops import normalize_axis
from engine.tensor import Tensor, tensor
from engine.torch_words import int_arg, size_mismatch, type_name


def all(input: Any, dim: Any = None, keepdim: bool = False) -> Tensor:
    return _reduced(np.all, input, dim, keepdim)


def any(input: Any, dim: Any = None, keepdim: bool = False) -> Tensor:
    return _reduced(np.any, input, dim, keepdim)


def _reduced(reduce: Any, input: Any, dim: Any, keepdim: bool) -> Tensor:
    array = tensor_argument(input, reduce.__name__, "input", 1).array
    axis = None if dim is None else normalize_axis(dim, array.ndim)
    return Tensor.wrap(np.asarray(reduce(array, axis=axis, keepdims=keepdim)))


def allclose(input: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """|input - other| <= atol + rtol·|other| everywhere, as NumPy's allclose and PyTorch's."""
    a, b = tensor_argument(input, "allclose", "input", 1), tensor_argument(other, "allclose", "other", 2)
    if a.dtype is not b.dtype:
        raise RuntimeError(f"{a.dtype.torch_name} did not match {b.dtype.torch_name}")
    mismatch = size_mismatch(a.shape, b.shape)
    if mismatch:
        raise RuntimeError(mismatch)
    return builtins.bool(np.allclose(a.array, b.array, rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(input: Any, other: Any) -> bool:
    """The same shape and the same values (NaN equals nothing)."""
    a, b = tensor_argument(input, "equal", "input", 1), tensor_argument(other, "equal", "other", 2)
    return a.shape == b.shape and builtins.bool(np.array_equal(a.array, b.array))


def tensor_argument(value: Any, function: str, name: str, position: int) -> Tensor:
    """value, if a tensor; else PyTorch's argument parser's refusal."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{function}(): argument '{name}' (position {position}) must be Tensor, not {type_name(value)}")
    return value


def one_hot(labels: Any, num_classes: int = -1) -> Tensor:
    """torch.nn.functional.one_hot: int64 labels to rows of 0 and 1, one more axis of num_classes
    (the largest label + 1 unless given)."""
    array = tensor_argument(labels, "one_hot", "input", 1).array
    num_classes = int_arg(num_classes, "one_hot", "num_classes", 2)
    if array.dtype != np.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes < 0 and not array.size:
        raise RuntimeError("Can not infer total number of classes from empty tensor.")
    if array.size and array.min() < 0:
        raise RuntimeError("Class values must be non-negative.")
    classes = num_classes if num_classes >= 0 else int(array.max()) + 1
    if array.size and array.max() >= classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    return tensor((array[..., None] == np.arange(classes)).astype(np.int64), dtype=dtypes.int64)
