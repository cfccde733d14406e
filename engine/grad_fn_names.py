"""PyTorch's grad_fn names that depend on the call: the overload it picks, the shapes, what
requires grad. The op table names each op's grad_fn, or one of these when it depends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]


def put_name(a: Array, v: Any, index: Any) -> str:
    """IndexPutBackward0 for an assignment through index tensors (x[[0, 2]] = v), CopySlices else
    (x[0] = v, and an in-place op on a view: PyTorch's node that writes into the base)."""
    parts = index if isinstance(index, tuple) else (index,)
    return "IndexPutBackward0" if np.ndarray in map(type, parts) else "CopySlices"


def index_name(a: Array, index: Any) -> str:
    """The last step that does something: SelectBackward0 (an integer), SliceBackward0 (a slice);
    AliasBackward0 when none does (x[:, :]); a lone slice x[:] counts even when it keeps
    everything. (From Python also UnsqueezeBackward0 for None, and x[...] is an alias; an
    expression takes integers and slices only.)"""
    if isinstance(index, slice):
        return "SliceBackward0"
    parts = index if isinstance(index, tuple) else (index,)
    if np.ndarray in map(type, parts):  # index tensors, masks (the Python API's)
        return "IndexBackward0"
    # PyTorch applies the parts in order, skipping a slice that keeps a whole axis as written:
    # start 0, step 1, stop at or past the end (x[-3:] of 3 elements is still a slice).
    name = "AliasBackward0"
    axis = 0  # a's axis the next part indexes
    for part in parts:
        if part is Ellipsis:
            axis += a.ndim - sum(1 for p in parts if p is not None and p is not Ellipsis)
        elif part is None:
            name = "UnsqueezeBackward0"
        elif isinstance(part, slice):
            whole = (
                part.start in (None, 0) and part.step in (None, 1) and (part.stop is None or part.stop >= a.shape[axis])
            )
            name = name if whole else "SliceBackward0"
            axis += 1
        else:
            name = "SelectBackward0"
            axis += 1
    return name


_MATMUL_NAMES = {(1, 1): "DotBackward0", (2, 1): "MvBackward0", (1, 2): "SqueezeBackward4", (2, 2): "MmBackward0"}


def matmul_name(a: Array, b: Array, requires_grad: tuple[bool, ...] = (False, False)) -> str:
    """MmBackward0 (matrix @ matrix), MvBackward0, DotBackward0, SqueezeBackward4 (vector @ matrix),
    UnsafeViewBackward0 (batched); a matrix that requires grad @ a batch: CloneBackward0, or
    TransposeBackward0 when the product is one row, one column or empty"""
    name = _MATMUL_NAMES.get((a.ndim, b.ndim))
    if name is not None:
        return name
    # PyTorch computes this one as (bᵀ @ aᵀ)ᵀ, folding b's batch into one matrix, and makes the
    # transpose contiguous: a copy (Clone), unless the transpose is contiguous already.
    # A 1×n×k `a` against a 3-D batch of more than one counts as the matrix n×k.
    matrix = a.ndim == 2 or (a.ndim == b.ndim == 3 and a.shape[0] == 1 and b.shape[0] != 1)
    if requires_grad[0] and matrix and b.ndim >= 3:
        rows, columns = a.shape[-2], b.shape[-1]
        if rows <= 1 or columns <= 1 or 0 in b.shape[:-2]:
            return "TransposeBackward0"
        return "CloneBackward0"
    return "UnsafeViewBackward0"


def reduction_name(prefix: str) -> Callable[..., str]:
    # PyTorch counts overloads: sum(x) is SumBackward0; any axis or keepdims, even
    # sum(x, dim=None), selects the overload with a dim, SumBackward1.
    def name(a: Array, **given: Any) -> str:
        return prefix + ("1" if given else "0")

    name.__doc__ = f"{prefix}0, or {prefix}1 with axis or keepdims"
    return name


def reshape_name(a: Array, shape: Any) -> str:
    """ViewBackward0; for a non-contiguous tensor, ReshapeAliasBackward0 when the new shape is
    still a view of it, UnsafeViewBackward0 when it takes a copy"""
    if a.flags.c_contiguous:
        return "ViewBackward0"
    try:
        np.reshape(a, shape, copy=False)
    except ValueError:
        return "UnsafeViewBackward0"
    return "ReshapeAliasBackward0"


def pow_name(a: Any, b: Any) -> str:
    """PowBackward0 (tensor ** number), PowBackward1 (tensor ** tensor), PowBackward2 (number ** tensor)"""
    if not isinstance(a, np.ndarray):
        return "PowBackward2"
    return "PowBackward1" if isinstance(b, np.ndarray) else "PowBackward0"


def sub_name(a: Any, b: Any) -> str:
    """SubBackward0, or RsubBackward1 for number - tensor"""
    return "SubBackward0" if isinstance(a, np.ndarray) else "RsubBackward1"


def div_name(a: Any, b: Any) -> str:
    """DivBackward0, or MulBackward0 for number / tensor (PyTorch multiplies by the reciprocal)"""
    return "DivBackward0" if isinstance(a, np.ndarray) else "MulBackward0"


def cross_entropy_name(logits: Any, target: Any) -> str:
    """NllLossBackward0, or NllLoss2DBackward0 for logits of more than 2 dimensions (N, C, d1, ...)"""
    return "NllLoss2DBackward0" if np.ndim(logits) > 2 else "NllLossBackward0"
