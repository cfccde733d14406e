"""New leaf tensors from a size or a range: zeros, ones, full, eye, arange and linspace.

As PyTorch's: floats are the default float dtype (float32) unless `dtype` says otherwise,
integers int64, and `requires_grad=True` is refused for anything but floats. An integer arange
is PyTorch's exactly, and so is linspace in every dtype (counted from both ends, each element
one fused multiply-add, as PyTorch's CPU kernel computes it). A float arange is within a rounding or two
of the largest end: it rounds start + i·step, computed in float64, once, as PyTorch does one
element at a time, but PyTorch's vectorized loop counts each lane from the first of its vector,
so that its last bits depend on the processor's vector width.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine import dtypes
from engine.devices import on_cpu
from engine.fused import fused_multiply_add
from engine.tensor import Tensor, leaf
from engine.torch_words import as_int, int_arg, int_tuple, type_name

Array = np.ndarray[Any, Any]


def zeros(*args: Any, size: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    on_cpu(device)
    return leaf(np.zeros(sized(args, size, "zeros"), dtype_of(dtype, 0.0, "zeros")), requires_grad)


def ones(*args: Any, size: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    on_cpu(device)
    return leaf(np.ones(sized(args, size, "ones"), dtype_of(dtype, 0.0, "ones")), requires_grad)


def full(size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """`fill_value` everywhere; its dtype is the number's (bool, int64, or the default float dtype,
    float32 unless set) unless given."""
    on_cpu(device)
    if isinstance(size, int | np.integer):
        raise TypeError(f"full(): argument 'size' (position 1) must be tuple of ints, not {type(size).__name__}")
    kind = dtype_of(dtype, fill_value, "full")
    return leaf(np.full(size_of((size,), "full"), dtypes.held(fill_value, kind), kind), requires_grad)


def eye(n: int, m: int | None = None, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    on_cpu(device)
    n = _count(n, "n", 1)
    m = None if m is None else _count(m, "m", 2)
    return leaf(np.eye(n, m, dtype=dtype_of(dtype, 0.0, "eye")), requires_grad)


def _count(given: Any, name: str, position: int) -> int:
    count = int_arg(given, "eye", name, position)
    if count < 0:
        raise RuntimeError(f"{name} must be greater or equal to 0, got {count}")
    return count


def arange(
    start: Any, end: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """start, start + step, ... short of end; arange(n) counts from 0. int64 if all three are integers."""
    on_cpu(device)
    if end is None:
        start, end = 0, start
    floats = any(isinstance(n, float | np.floating) for n in (start, end, step))
    kind = _not_bool(dtype_of(dtype, 0.0 if floats else 0, "arange"), "arange")
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if not all(math.isfinite(n) for n in (start, end)):
        raise RuntimeError(f"unsupported range: {_number(start)} -> {_number(end)}")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    if kind == np.int32 and floats:  # PyTorch's kernel: counted in float64, then int(start) on by int(step), 0 too
        count = math.ceil((end - start) / step)
        return leaf((int(start) + np.arange(count, dtype=np.int64) * int(step)).astype(kind), requires_grad)
    if kind.kind != "f":  # as PyTorch, the bounds and the step are made integers then
        start, end, step = int(start), int(end), int(step)
        if step == 0:
            raise ValueError("step must be nonzero")  # PyTorch's error type where it rounds to 0
    count = math.ceil((end - start) / step)
    if kind.kind != "f":
        return leaf(np.arange(start, start + count * step, step, dtype=kind), requires_grad)
    with np.errstate(over="ignore"):  # past float32's largest: infinity, as PyTorch gives it, unwarned
        return leaf((start + np.arange(count, dtype=np.float64) * float(step)).astype(kind), requires_grad)


def linspace(
    start: Any, end: Any, steps: int, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """`steps` numbers evenly from start to end, both included."""
    on_cpu(device)
    steps = int_arg(steps, "linspace", "steps", 3)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    kind = _not_bool(dtype_of(dtype, 0.0, "linspace"), "linspace")
    if steps <= 1:
        return leaf(np.full((steps,), dtypes.held(start, kind), kind), requires_grad)
    # PyTorch's kernel: the step in the answer's dtype (float64 for integers), the first half
    # counted up from start and the rest down from end, so that both ends are exact, each
    # element one multiply-add, fused.
    step_type = kind.type if kind.kind == "f" else np.float64
    first, last = (step_type(kind.type(dtypes.held(n, kind))) for n in (start, end))
    step = (last - first) / step_type(steps - 1)
    half = steps // 2
    up = fused_multiply_add(step, np.arange(half), first, np.dtype(step_type))
    down = fused_multiply_add(-step, np.arange(steps - half - 1, -1, -1), last, np.dtype(step_type))
    return leaf(np.concatenate([up, down]).astype(kind), requires_grad)


def sized(args: tuple[Any, ...], size: Any, function: str) -> tuple[int, ...]:
    """zeros(2, 3) or zeros(size=(2, 3)): the size as given by place or by name, checked (size_of)."""
    if args and size is not None:
        raise TypeError(f"{function}() got multiple values for argument 'size'")
    return size_of(args if size is None else (size,), function)


def size_of(size: tuple[Any, ...], function: str) -> tuple[int, ...]:
    """zeros(2, 3), zeros((2, 3)) and zeros([2, 3]) alike; a negative size refused as PyTorch does."""
    if not size:
        raise TypeError(f'{function}() missing 1 required positional arguments: "size"')
    if len(size) == 1 and isinstance(size[0], tuple | list):
        size = tuple(size[0])
    elif len(size) == 1 and as_int(size[0]) is None:  # zeros(2.0), zeros(True): no size
        raise TypeError(f"{function}(): argument 'size' (position 1) must be tuple of ints, not {type_name(size[0])}")
    shape = int_tuple(size, function, "size", 1)
    for n in shape:
        if n < 0 and function == "zeros":  # its own check in PyTorch, in its own words
            raise RuntimeError("zeros: Dimension size must be non-negative.")
        if n < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {n}: {list(shape)}")
    return shape


def dtype_of(given: Any, like: Any, function: str) -> np.dtype[Any]:
    """The NumPy dtype asked for, or that of a tensor made of the number `like`, as PyTorch infers it."""
    if given is not None:
        return dtypes.to_numpy_dtype(given, function)
    if isinstance(like, bool | np.bool_):
        return np.dtype(np.bool_)
    if isinstance(like, int | np.integer):
        return np.dtype(np.int64)
    return dtypes.default_float()


def _not_bool(kind: np.dtype[Any], function: str) -> np.dtype[Any]:
    if kind.kind == "b":
        raise NotImplementedError(f"\"{function}_cpu\" not implemented for 'Bool'")
    return kind


def _number(n: Any) -> str:
    """A bound as PyTorch prints it in a message: 1 for True and for 1.0."""
    return str(int(n)) if isinstance(n, bool) or (isinstance(n, float) and n.is_integer()) else str(n)
