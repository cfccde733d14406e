"""Tensor.to and its shorthands (float, double, long, bool), and t(): what code written for
PyTorch calls on its tensors beside the ops, each as PyTorch does it.

A conversion to the tensor's own dtype is the tensor itself, as in PyTorch; to another float
dtype, a copy recorded as ToCopyBackward0, whose gradient goes back cast to the input's dtype;
to an integer or bool dtype, a copy that does not require grad. A device, the CPU alone
(engine.devices), changes nothing.
"""

from __future__ import annotations

from typing import Any

from engine import dtypes
from engine.devices import Device, on_cpu
from engine.ops import OPS, TO_COPY
from engine.tensor import Tensor, apply
from engine.torch_words import type_name


def to(
    tensor: Tensor, *args: Any, dtype: Any = None, device: Any = None, non_blocking: bool = False, copy: bool = False
) -> Tensor:
    """x.to(dtype), x.to(other) (other's dtype), x.to(device), x.to(device, dtype)."""
    for arg in args:
        found = dtypes.as_dtype(arg)
        if found is not None and dtype is None:
            dtype = found
        elif isinstance(arg, Tensor) and dtype is None and len(args) == 1:
            dtype = arg.dtype
        elif isinstance(arg, str | Device) and device is None and dtype is None:
            device = arg
        else:
            given = ", ".join(_kind(a) for a in args)
            raise TypeError(
                f"to() received an invalid combination of arguments - got ({given}), but expected one of: "
                "(torch.device device, torch.dtype dtype), (torch.dtype dtype), (Tensor tensor)"
            )
    on_cpu(device)
    wanted = None if dtype is None else dtypes.as_dtype(dtype)
    if dtype is not None and wanted is None:
        raise TypeError(f"to(): argument 'dtype' must be torch.dtype, not {type_name(dtype)}")
    if copy or (wanted is not None and wanted is not tensor.dtype):
        return convert(tensor, wanted or tensor.dtype)
    return tensor  # as PyTorch: the tensor itself, not a copy


def _kind(value: Any) -> str:
    """What PyTorch's argument parser calls an argument's type."""
    if isinstance(value, dtypes.dtype | Device):
        return f"torch.{type(value).__name__}"
    return "Tensor" if isinstance(value, Tensor) else type_name(value)


def convert(tensor: Tensor, dtype: dtypes.dtype) -> Tensor:
    """A copy in `dtype`: differentiable between float dtypes, a new tensor without grad otherwise."""
    if not dtype.is_floating_point:
        return Tensor.wrap(tensor.array.astype(dtype.numpy))
    return apply(TO_COPY, tensor, dtype=dtype.numpy)


def transposed(tensor: Tensor) -> Tensor:
    """x.t(): a matrix's rows and columns swapped; a vector or a number as it is."""
    if tensor.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {tensor.ndim}D")
    out = apply(OPS["transpose"], tensor)
    if out.grad_fn is not None:
        out.grad_fn._name = "TBackward0"
    return out
