"""view, flatten, squeeze and unsqueeze: the table's reshape under PyTorch's names for it.

Each gives its input's elements in a new shape, so its derivative is reshape's (the gradient
reshaped back) and it runs as the table's reshape; only the grad_fn's name, PyTorch's for
the call, and what each refuses are their own.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from engine.ops import OPS, normalize_axis, one_axis
from engine.tensor import UNSET, Tensor, apply
from engine.torch_words import as_int, int_arg, int_tuple

NOT_A_VIEW = (
    "view size is not compatible with input tensor's size and stride (at least one dimension spans across "
    "two contiguous subspaces). Use .reshape(...) instead."
)


def _reshaped(a: Tensor, shape: tuple[int, ...], name: str | None) -> Tensor:
    out = apply(OPS["reshape"], a, shape=shape)  # refuses a shape of another size, in PyTorch's words
    if name is not None and out.grad_fn is not None:
        out.grad_fn._name = name
    return out


def view(a: Tensor, shape: tuple[int, ...]) -> Tensor:
    """a's elements in `shape`, sharing its memory: refused where that needs a copy (a transpose)."""
    out = _reshaped(a, shape, "ViewBackward0")
    if a.array.size and not np.may_share_memory(out.array, a.array):
        raise RuntimeError(NOT_A_VIEW)
    return out


def flatten(a: Tensor, start_dim: Any = 0, end_dim: Any = -1, first: int = 1) -> Tensor:
    """The axes from start_dim to end_dim joined into one; a itself where that is one axis already.
    `first`: where the argument after `a` stands in the call, for messages (1 for the method)."""
    start = one_axis(int_arg(start_dim, "flatten", "start_dim", first), a.ndim)
    end = one_axis(int_arg(end_dim, "flatten", "end_dim", first + 1), a.ndim)
    if a.ndim == 0:
        return _reshaped(a, (1,), None)
    if start > end:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if start == end:
        return a  # as PyTorch: the same tensor, no node
    shape = a.shape
    joined = int(np.prod(shape[start : end + 1]))
    return _reshaped(a, (*shape[:start], joined, *shape[end + 1 :]), None)  # named as reshape is


def squeeze(a: Tensor, dim: Any = UNSET, first: int = 1) -> Tensor:
    """The axes of size 1 dropped: all of them, or those among `dim` (an int or a tuple)."""
    if dim is UNSET:
        name, dims = "SqueezeBackward0", tuple(range(a.ndim))
    elif isinstance(dim, tuple | list):
        name, dims = "SqueezeBackward2", int_tuple(dim, "squeeze", "dim", first)
    elif (one := as_int(dim)) is not None:
        name, dims = "SqueezeBackward1", (one,)
    else:
        raise TypeError(_no_squeeze_for(dim, of_a_function=first > 1))
    axes = cast(tuple[int, ...], normalize_axis(dims, a.ndim) or ())  # given a tuple, a tuple or None
    shape = tuple(n for i, n in enumerate(a.shape) if not (n == 1 and i in axes))
    return _reshaped(a, shape, name)


def unsqueeze(a: Tensor, dim: Any = UNSET, first: int = 1) -> Tensor:
    """A new axis of size 1 at `dim` (counted in the answer's axes, as PyTorch counts it)."""
    if dim is UNSET:
        raise TypeError('unsqueeze() missing 1 required positional arguments: "dim"')  # PyTorch's parser's words
    where = one_axis(int_arg(dim, "unsqueeze", "dim", first), a.ndim + 1)
    shape = a.shape
    return _reshaped(a, (*shape[:where], 1, *shape[where:]), "UnsqueezeBackward0")


def _no_squeeze_for(dim: Any, of_a_function: bool) -> str:
    """PyTorch's parser's words for a dim of no type squeeze takes, as a method or as torch.squeeze."""
    got = f"{'Tensor, ' if of_a_function else ''}!{type(dim).__name__}!"
    mismatch = f"      didn't match because some of the arguments have invalid types: ({got})\n"
    tensor = "Tensor input, " if of_a_function else ""
    alone = " * (Tensor input)\n" if of_a_function else f" * ()\n{mismatch}"
    return (
        f"squeeze() received an invalid combination of arguments - got ({got.replace('!', '')}), but expected one of:\n"
        f"{alone} * ({tensor}int dim)\n{mismatch} * ({tensor}tuple of ints dim)\n{mismatch}"
    )
