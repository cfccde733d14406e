"""Many perturbed copies of one tensor, evaluated at once: what the check's full mode runs.

The finite-difference check evaluates the graph once per perturbed element and step: for a
small graph, thousands of evaluations that each pay Python's cost per op. Stacked along a new
leading axis, the copies become one evaluation whose ops do the same arithmetic on every row.
Each op says here how it treats that axis. An op or a call this does not cover raises
`Unbatchable`, and the check goes back to one evaluation per copy.

A `Batched` tensor's array is (B, *shape): B copies of a tensor of `shape`. Operands without
the axis are the same for every copy. Nothing is recorded: the check runs without grad.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from engine.graph import Array
from engine.kernels import expanded
from engine.ops import ELEMENTWISE, Op, normalize_axis
from engine.tensor import Tensor, _cast_operands, _numpy_agrees


class Unbatchable(Exception):
    """This op, with these operands, has no batched form here: evaluate copy by copy."""


class Batched(Tensor):
    """B copies of a tensor, along the array's first axis."""

    __slots__ = ()


def batched_apply(op: Op, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    """`apply` for operands of which some are Batched; the result is Batched."""
    batched = [a.__class__ is Batched for a in args]
    if any(isinstance(a, Tensor) and a.requires_grad for a in args):
        raise Unbatchable("batched evaluation records no graph")
    rule = RULES.get(op.name)
    if rule is None:
        raise Unbatchable(f"{op.name} has no batched form")
    arrays = [a.array if isinstance(a, Tensor) else a for a in args]
    if op.dtypes != "same" and not _numpy_agrees(arrays):
        # Promoted as one copy is: a 0-d copy does not promote a tensor with dimensions of its
        # kind, though the stack of copies has a dimension.
        one = _cast_operands(op, [a[0, ...] if b else a for a, b in zip(arrays, batched, strict=True)])
        arrays = [a.astype(c.dtype, copy=False) if b else c for a, b, c in zip(arrays, batched, one, strict=True)]
    rows = next(a.shape[0] for a, b in zip(arrays, batched, strict=True) if b)
    value = np.asarray(rule(op, arrays, batched, dict(kwargs)))
    if value.ndim == 0 or value.shape[0] != rows:
        raise Unbatchable(f"{op.name} lost the batch axis")
    return Batched.wrap(value)


def _rank(a: Any, batched: bool) -> int:
    """The rank of one copy."""
    return np.ndim(a) - 1 if batched else np.ndim(a)


def _aligned(a: Array, rank: int) -> Array:
    """(B, *shape) as (B, 1, ..., 1, *shape) of `rank` axes after B, so that NumPy's
    broadcasting, which aligns trailing axes, pairs each copy's axes with the operands'."""
    missing = rank - (a.ndim - 1)
    return a.reshape(a.shape[0], *([1] * missing), *a.shape[1:]) if missing > 0 else a


def _inner_axes(axis: Any, rank: int) -> tuple[int, ...]:
    """The axes of a batched array that `axis` names in one copy of `rank` axes."""
    axes = normalize_axis(axis, rank)
    if axes is None:
        return tuple(range(1, rank + 1))
    return tuple(a + 1 for a in (axes if isinstance(axes, tuple) else (axes,)))


Rule = Callable[[Op, list[Any], list[bool], dict[str, Any]], Any]


def _elementwise(op: Op, arrays: list[Any], batched: list[bool], kwargs: dict[str, Any]) -> Any:
    rank = max(_rank(a, b) for a, b in zip(arrays, batched, strict=True))
    return op.forward(*(_aligned(a, rank) if b else a for a, b in zip(arrays, batched, strict=True)), **kwargs)


def _reduction(op: Op, arrays: list[Any], batched: list[bool], kwargs: dict[str, Any]) -> Any:
    (a,) = arrays
    return op.forward(a, axis=_inner_axes(kwargs.get("axis"), a.ndim - 1), keepdims=kwargs.get("keepdims", False))


def _along_axis(op: Op, arrays: list[Any], batched: list[bool], kwargs: dict[str, Any]) -> Any:
    (a,) = arrays
    axes = _inner_axes(kwargs.get("axis", -1), a.ndim - 1)
    return op.forward(a, axis=axes if len(axes) != 1 else axes[0])


def _reshape(op: Op, arrays: list[Any], batched: list[bool], kwargs: dict[str, Any]) -> Any:
    (a,) = arrays
    shape = kwargs["shape"]
    return np.reshape(a, (a.shape[0], *((shape,) if isinstance(shape, int) else shape)))


def _transpose(op: Op, arrays: list[Any], batched: list[bool], kwargs: dict[str, Any]) -> Any:
    (a,) = arrays
    rank = a.ndim - 1
    axes = kwargs.get("axes")
    inner = range(rank, 0, -1) if axes is None else (i + 1 for i in normalize_axis_tuple(axes, rank))
    return np.transpose(a, (0, *inner))


def _broadcast_to(op: Op, arrays: list[Any], batched: list[bool], kwargs: dict[str, Any]) -> Any:
    (a,) = arrays
    shape = expanded(kwargs["shape"], a.shape[1:])  # a's copies along its first axis
    return np.broadcast_to(_aligned(a, len(shape)), (a.shape[0], *shape))


def _index(op: Op, arrays: list[Any], batched: list[bool], kwargs: dict[str, Any]) -> Any:
    (a,) = arrays
    index = kwargs["index"]
    parts = index if isinstance(index, tuple) else (index,)
    # Integers, slices, None and ... index every copy alike; arrays of indices would not.
    if not all(p is None or p is Ellipsis or (isinstance(p, slice | int) and not isinstance(p, bool)) for p in parts):
        raise Unbatchable("an index other than integers and slices")
    return a[(slice(None), *parts)]


def _matmul(op: Op, arrays: list[Any], batched: list[bool], kwargs: dict[str, Any]) -> Any:
    a, b = arrays
    ra, rb = _rank(a, batched[0]), _rank(b, batched[1])
    # A vector is a one-row (left) or one-column (right) matrix, as in matmul's backward rule;
    # then the batch axis is one more leading axis of a stack of matrices.
    a = a[..., None, :] if ra == 1 else a
    b = b[..., :, None] if rb == 1 else b
    rank = max(ra, rb, 2)
    out = (_aligned(a, rank) if batched[0] else a) @ (_aligned(b, rank) if batched[1] else b)
    out = out[..., 0] if rb == 1 else out
    return out[..., 0] if ra == 1 and rb == 1 else out[..., 0, :] if ra == 1 else out


def _mse_loss(op: Op, arrays: list[Any], batched: list[bool], kwargs: dict[str, Any]) -> Any:
    rank = max(_rank(a, b) for a, b in zip(arrays, batched, strict=True))
    a, b = (_aligned(x, rank) if is_batched else x for x, is_batched in zip(arrays, batched, strict=True))
    diff = a - b
    with np.errstate(invalid="ignore"):  # no elements: NaN, without np.mean's "Mean of empty slice"
        return np.sum(diff * diff, axis=tuple(range(1, diff.ndim))) / math.prod(diff.shape[1:])


RULES: dict[str, Rule] = {
    **dict.fromkeys(ELEMENTWISE, _elementwise),
    **dict.fromkeys(("sum", "mean", "max", "min", "logsumexp"), _reduction),
    **dict.fromkeys(("softmax", "log_softmax"), _along_axis),
    "reshape": _reshape,
    "transpose": _transpose,
    "broadcast_to": _broadcast_to,
    "index": _index,
    "matmul": _matmul,
    "mse_loss": _mse_loss,
}  # cross_entropy has none: the check evaluates it copy by copy
