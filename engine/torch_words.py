"""NumPy's errors, said as PyTorch says them: an op that fails gives NumPy's ValueError,
IndexError or TypeError (shapes that do not fit, an index out of range, bools that NumPy will
not negate), and this gives PyTorch's message and type for the same mistake. Only on failure:
the ops themselves check nothing more."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.kernels import axes_indexed, in_two_steps
from engine.ops import normalize_axis


def in_torch_words(op: str, arrays: tuple[Any, ...], kwargs: dict[str, Any], error: Exception) -> Exception:
    """PyTorch's error for `op` failing on these operands, or `error` itself when it is not one
    of those told here."""
    shapes = [np.shape(a) for a in arrays]
    said = str(error)
    if isinstance(error, IndexError) and "for axis" in said:
        return IndexError(said.replace("for axis", "for dimension"))
    if isinstance(error, TypeError) and "numpy boolean negative" in said:
        return RuntimeError(_BOOL_NEGATIVE)
    if isinstance(error, IndexError) and said.startswith("too many indices"):
        return IndexError(_too_many_indices(shapes[0], kwargs["index"]))
    if isinstance(error, IndexError) and said.startswith("boolean index did not match"):
        return IndexError(mask_mismatch(shapes[0], kwargs["index"]) or said)
    if op == "transpose" and kwargs.get("axes") is not None:
        return _permute(shapes[0], kwargs["axes"]) or error
    if not isinstance(error, ValueError):
        return error
    if "negative integer powers" in said:
        return RuntimeError(said)
    if op in _EXTREMES and ("zero-size array" in said or "empty sequence" in said):
        return _empty_reduction(_EXTREMES[op], shapes[0], kwargs.get("axis"))
    if op == "matmul" and len(shapes) == 2:
        return RuntimeError(_matmul(*shapes))
    if op == "reshape":  # engine.kernels.reshape tells the other mistakes
        shape = [int(n) for n in np.atleast_1d(kwargs["shape"])]
        return RuntimeError(f"shape '{shape}' is invalid for input of size {int(np.prod(shapes[0]))}")
    if "broadcast" in said and len(shapes) >= 2:
        return RuntimeError(size_mismatch(shapes[0], shapes[1]) or said)
    return error


# PyTorch's names of the ops that reduce to an extreme, for the error of an empty one.
_EXTREMES = {"max": "amax", "min": "amin", "max_all": "max", "min_all": "min", "max_along": "max", "min_along": "min"}
_BOOL_NEGATIVE = (
    "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, use "
    "the `~` or `logical_not()` operator instead."
)
BOOL_SUBTRACT = (
    "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` "
    "operator instead."
)
BOOL_SUBTRACT_ONE = (
    "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use "
    "the `~` or `logical_not()` operator instead."
)


def _too_many_indices(shape: tuple[int, ...], index: Any) -> str:
    if shape:
        return f"too many indices for tensor of dimension {len(shape)}"
    parts = index if isinstance(index, tuple) else (index,)
    if isinstance(next((p for p in parts if p is not None and p is not Ellipsis), None), slice):
        return "slice() cannot be applied to a 0-dim tensor."
    return (
        "invalid index of a 0-dim tensor. Use `tensor.item()` in Python or `tensor.item<T>()` in C++ to convert a "
        "0-dim tensor to a number"
    )


def mask_mismatch(shape: tuple[int, ...], index: Any) -> str | None:
    """PyTorch's words for a mask whose shape is not that of the axes it indexes: of the tensor
    left once the integers, slices and None of the index are applied, as PyTorch applies them."""
    basic, advanced = in_two_steps(index, len(shape))
    if advanced is None:
        return None
    try:
        shape = np.broadcast_to(np.empty((), np.int8), shape)[basic].shape
    except IndexError:
        return None  # another mistake, which indexing itself tells
    taken = sum(axes_indexed(part) for part in advanced)
    axis = 0  # the axis of that tensor the next part indexes
    for part in advanced:
        if part is Ellipsis:
            axis += len(shape) - taken
            continue
        if isinstance(part, np.ndarray) and part.dtype == np.bool_:
            for i, size in enumerate(part.shape):
                if axis + i < len(shape) and size != shape[axis + i]:
                    return (
                        f"The shape of the mask {list(part.shape)} at index {i} does not match the shape of the "
                        f"indexed tensor {list(shape)} at index {axis + i}"
                    )
        axis += axes_indexed(part)
    return None


def _permute(shape: tuple[int, ...], dims: tuple[int, ...]) -> Exception | None:
    """What is wrong with permuting a tensor of `shape` into `dims`, checked in PyTorch's order."""
    ndim = len(shape)
    if len(dims) != ndim:
        return RuntimeError(
            "permute(): number of dimensions in the tensor input does not match the length of the desired ordering "
            f"of dimensions i.e. input.dim() = {ndim} is not equal to len(dims) = {len(dims)}"
        )
    try:
        normalize_axis(dims, ndim)
    except IndexError as out_of_range:
        return out_of_range
    except RuntimeError:  # a dim twice, in the words of reductions
        return RuntimeError("permute(): duplicate dims are not allowed.")
    return None


def _empty_reduction(name: str, shape: tuple[int, ...], axis: Any) -> Exception:
    if axis is None:
        return RuntimeError(
            f"{name}(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim "
            "with the 'dim' argument."
        )
    empty = next(a for a in ((axis,) if isinstance(axis, int) else axis) if shape[a] == 0)
    return IndexError(f"{name}(): Expected reduction dim {empty} to have non-zero size.")


def size_mismatch(a: tuple[int, ...], b: tuple[int, ...]) -> str | None:
    """The first dimension from the right where neither size is 1 and they differ."""
    ndim = max(len(a), len(b))
    for dim in reversed(range(ndim)):
        i, j = dim - (ndim - len(a)), dim - (ndim - len(b))
        m, n = (a[i] if i >= 0 else 1), (b[j] if j >= 0 else 1)
        if m != n and m != 1 and n != 1:
            return f"The size of tensor a ({m}) must match the size of tensor b ({n}) at non-singleton dimension {dim}"
    return None


def _matmul(a: tuple[int, ...], b: tuple[int, ...]) -> str:
    def cross(rows: int, columns: int) -> str:
        return f"{rows}x{columns}"

    if not a or not b:
        return f"both arguments to matmul need to be at least 1D, but they are {len(a)}D and {len(b)}D"
    if len(a) == 1 and len(b) == 1:
        return (
            f"inconsistent tensor size, expected tensor [{a[0]}] and src [{b[0]}] to have the same number of "
            f"elements, but got {a[0]} and {b[0]} elements respectively"
        )
    if len(a) >= 2 and len(b) == 1:  # a's leading dimensions fold into its rows, as PyTorch folds them
        rows = int(np.prod(a[:-1]))
        return f"size mismatch, got input ({rows}), mat ({cross(rows, a[-1])}), vec ({b[0]})"
    if len(b) == 2 and len(a) >= 1:  # as above
        rows = int(np.prod(a[:-1])) if len(a) > 1 else 1
        return f"mat1 and mat2 shapes cannot be multiplied ({cross(rows, a[-1])} and {cross(*b)})"
    batch_a, batch_b = a[:-2] if len(a) > 1 else (), b[:-2]
    mismatch = size_mismatch(batch_a, batch_b)
    if mismatch is not None:
        return mismatch
    batch = int(np.prod(np.broadcast_shapes(batch_a, batch_b)))
    k = a[-1]
    return f"Expected size for first two dimensions of batch2 tensor to be: [{batch}, {k}] but got: [{batch}, {b[-2]}]."


def type_name(value: Any) -> str:
    """The type of `value` as PyTorch's messages name it: list, numpy.ndarray."""
    kind = type(value)
    own = kind.__module__ == "builtins" or kind.__module__.startswith("engine.")  # a Tensor is a Tensor
    return kind.__name__ if own else f"{kind.__module__}.{kind.__name__}"


def as_int(value: Any) -> int | None:
    """The integer an int argument stands for: an int (not a bool), NumPy's, or, as PyTorch's parser
    takes it, a tensor of one integer (`zeros(n)` for `n = torch.tensor(3)`); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | np.integer):
        return int(value)
    index = getattr(type(value), "__index__", None)
    if index is None or isinstance(value, np.ndarray | np.bool_):
        return None
    try:
        return int(index(value))  # a Tensor's refuses floats and more than one element
    except TypeError:
        return None


def int_arg(value: Any, function: str, parameter: str, position: int) -> int:
    """An int argument (a dim), refused as PyTorch's argument parser refuses anything else."""
    number = as_int(value)
    if number is None or getattr(value, "ndim", 0) != 0:  # a dim may be a tensor of no dimensions, not [1]
        kind = type(value).__name__
        raise TypeError(f"{function}(): argument '{parameter}' (position {position}) must be int, not {kind}")
    return number


def int_tuple(value: Any, function: str, parameter: str, position: int) -> tuple[int, ...]:
    """A shape or a list of dims, taken and refused as PyTorch's argument parser takes them:
    a tuple or list of integers (NumPy's too). The parser looks at the first element to tell
    the argument's type, so a wrong later one is a failure to unpack, told differently."""
    where = f"{function}(): argument '{parameter}'"
    if not isinstance(value, tuple | list):
        raise TypeError(f"{where} (position {position}) must be tuple of ints, not {type_name(value)}")
    numbers = []
    for i, item in enumerate(value):
        number = int(item) if i > 0 and isinstance(item, bool) else as_int(item)
        if number is not None:
            numbers.append(number)
            continue
        kind = type(item).__name__
        if i == 0:
            raise TypeError(
                f"{where} (position {position}) must be tuple of ints, but found element of type {kind} at pos 0"
            )
        raise TypeError(
            f'{where} failed to unpack the object at pos {i + 1} with error "type must be tuple of ints,but got {kind}"'
        )
    return tuple(numbers)
