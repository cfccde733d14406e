"""torch.max and torch.min of the Python API, in their three forms: of every element, along a dim
(values and indices), and of two tensors (maximum). Expressions' max and min are torch.amax and
torch.amin, the table's; these are engine.ops.TORCH_EXTREMES. And torch.argmax and argmin, the
indices alone, which no gradient flows through."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from engine.ops import OPS, TORCH_EXTREMES, one_axis
from engine.tensor import UNSET, Tensor, apply
from engine.torch_words import int_arg


class _ReturnType(NamedTuple):
    values: Tensor
    indices: Tensor

    def __repr__(self) -> str:  # as torch.return_types prints, a line for each
        return f"torch.return_types.{type(self).__name__}(\nvalues={self.values!r},\nindices={self.indices!r})"


class max_result(_ReturnType):
    """torch.return_types.max: (values, indices)."""


class min_result(_ReturnType):
    """torch.return_types.min: (values, indices)."""


# Named as PyTorch names them, torch.return_types.max and .min (here not to hide the builtins).
max_result.__name__ = max_result.__qualname__ = "max"
min_result.__name__ = min_result.__qualname__ = "min"


def extreme(
    name: str, a: Any, dim: Any = UNSET, keepdim: bool = False, axis: Any = UNSET, keepdims: bool = False
) -> Any:
    """torch.max (`name` "max") or torch.min; `axis` and `keepdims` are PyTorch's NumPy-style aliases."""
    other = dim if dim is not UNSET else axis
    if isinstance(other, Tensor):  # max(a, b): the elementwise maximum
        return apply(OPS["maximum" if name == "max" else "minimum"], a, other)
    if other is UNSET:
        return apply(TORCH_EXTREMES[f"{name}_all"], a)
    if not isinstance(other, int | np.integer) or isinstance(other, bool):  # PyTorch's argument parser's words
        raise TypeError(
            f"{name}() received an invalid combination of arguments - got (Tensor, {type(other).__name__}), but "
            "expected one of:\n * (Tensor input, *, Tensor out = None)\n * (Tensor input, Tensor other, *, Tensor "
            "out = None)\n * (Tensor input, int dim, bool keepdim = False, *, tuple of Tensors out = None)\n"
        )
    op = TORCH_EXTREMES[f"{name}_along"]
    other = int(other)
    values = apply(op, a, axis=other, keepdims=bool(keepdim or keepdims))  # refuses a dim out of range
    array = a.array if isinstance(a, Tensor) else np.asarray(a)
    indices, _ = op.forward(array, None if array.ndim == 0 else (other % array.ndim,), bool(keepdim or keepdims))[1]
    return (max_result if name == "max" else min_result)(values, Tensor.wrap(indices))


def arg_extreme(name: str, a: Tensor, dim: Any = None, keepdim: bool = False, first: int = 1) -> Tensor:
    """torch.argmax (`name` "argmax") or torch.argmin: where the first greatest (least) element is,
    a NaN counting as one, in the flattened tensor or along `dim`; an int64 tensor. `first`: where
    `dim` stands in the call, for messages (1 for the method, 2 for torch.argmax)."""
    array = a.array
    if array.dtype.kind == "b":
        raise RuntimeError(f"{name}(): does not support bool input")
    find = np.argmax if name == "argmax" else np.argmin
    if dim is None:
        if array.size == 0:
            raise IndexError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0.")
        return Tensor.wrap(np.full((1,) * array.ndim if keepdim else (), find(array), np.int64))
    axis = one_axis(int_arg(dim, name, "dim", first), array.ndim)
    if array.ndim == 0:
        return Tensor.wrap(np.zeros((), np.int64))
    if array.shape[axis] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {axis} to have non-zero size.")
    return Tensor.wrap(np.asarray(find(array, axis=axis, keepdims=bool(keepdim)), np.int64))  # 1-d along 0: a scalar
