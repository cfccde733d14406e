"""The op table as plain functions: `engine.exp(x)`, `engine.sum(x, axis=0)`, ...

Each is one call of `apply` with the op of `engine.ops` of the same name; the math lives
there. Arguments may be tensors or Python numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import dtypes, shapes
from engine.devices import on_cpu
from engine.extremes import arg_extreme, extreme
from engine.ops import OPS
from engine.tensor import UNSET, Tensor, along, apply, leaf, reduce_args, wrapped_number
from engine.torch_words import int_tuple, type_name

Axis = int | tuple[int, ...] | None


def _first(a: Any, b: Any) -> Any:
    """A number first in torch.add, sub, mul or div is a 0-d tensor, as PyTorch's functions take
    it: torch.sub(1, x) is SubBackward0, where 1 - x is RsubBackward1, and torch.div(2, x)
    divides, where 2 / x multiplies by x's reciprocal."""
    return wrapped_number(a, [b])


def add(a: Any, b: Any, *, alpha: Any = 1) -> Tensor:
    return apply(OPS["add"], _first(a, b), b if alpha == 1 else apply(OPS["mul"], b, alpha))


def sub(a: Any, b: Any, *, alpha: Any = 1) -> Tensor:
    return apply(OPS["sub"], _first(a, b), b if alpha == 1 else apply(OPS["mul"], b, alpha))


def mul(a: Any, b: Any) -> Tensor:
    return apply(OPS["mul"], _first(a, b), b)


def div(a: Any, b: Any) -> Tensor:
    return apply(OPS["div"], _first(a, b), b)


def neg(a: Any) -> Tensor:
    return apply(OPS["neg"], a)


def pow(a: Any, b: Any) -> Tensor:
    return apply(OPS["pow"], a, b)


def matmul(a: Any, b: Any) -> Tensor:
    return apply(OPS["matmul"], a, b)


def exp(a: Any) -> Tensor:
    return apply(OPS["exp"], a)


def log(a: Any) -> Tensor:
    return apply(OPS["log"], a)


def sqrt(a: Any) -> Tensor:
    return apply(OPS["sqrt"], a)


def abs(a: Any) -> Tensor:
    return apply(OPS["abs"], a)


def sin(a: Any) -> Tensor:
    return apply(OPS["sin"], a)


def cos(a: Any) -> Tensor:
    return apply(OPS["cos"], a)


def tanh(a: Any) -> Tensor:
    return apply(OPS["tanh"], a)


def log1p(a: Any) -> Tensor:
    return apply(OPS["log1p"], a)


def expm1(a: Any) -> Tensor:
    return apply(OPS["expm1"], a)


def log2(a: Any) -> Tensor:
    return apply(OPS["log2"], a)


def log10(a: Any) -> Tensor:
    return apply(OPS["log10"], a)


def tan(a: Any) -> Tensor:
    return apply(OPS["tan"], a)


def sigmoid(a: Any) -> Tensor:
    return apply(OPS["sigmoid"], a)


def sign(a: Any) -> Tensor:
    return apply(OPS["sign"], a)


def relu(a: Any) -> Tensor:
    return apply(OPS["relu"], a)


def maximum(a: Any, b: Any) -> Tensor:
    return apply(OPS["maximum"], a, b)


def minimum(a: Any, b: Any) -> Tensor:
    return apply(OPS["minimum"], a, b)


def sum(a: Any, axis: Axis = UNSET, keepdims: bool = False, *, dim: Axis = UNSET, keepdim: bool = False) -> Tensor:
    return apply(OPS["sum"], a, **reduce_args(axis, keepdims, dim, keepdim))


def mean(a: Any, axis: Axis = UNSET, keepdims: bool = False, *, dim: Axis = UNSET, keepdim: bool = False) -> Tensor:
    return apply(OPS["mean"], a, **reduce_args(axis, keepdims, dim, keepdim))


def amax(a: Any, axis: Axis = UNSET, keepdims: bool = False, *, dim: Axis = UNSET, keepdim: bool = False) -> Tensor:
    """The table's max, what expressions call max: ties share the gradient evenly."""
    return apply(OPS["max"], a, **reduce_args(axis, keepdims, dim, keepdim))


def amin(a: Any, axis: Axis = UNSET, keepdims: bool = False, *, dim: Axis = UNSET, keepdim: bool = False) -> Tensor:
    return apply(OPS["min"], a, **reduce_args(axis, keepdims, dim, keepdim))


def var(
    a: Any,
    dim: Any = UNSET,
    unbiased: Any = UNSET,
    keepdim: bool = False,
    *,
    correction: Any = UNSET,
    axis: Any = UNSET,
    keepdims: bool = False,
) -> Tensor:
    """torch.var: divided by n - 1 (unbiased) unless unbiased=False (n) or correction= says otherwise."""
    return apply(OPS["var"], a, **_spread_args("var", dim, unbiased, keepdim, correction, axis, keepdims))


def std(
    a: Any,
    dim: Any = UNSET,
    unbiased: Any = UNSET,
    keepdim: bool = False,
    *,
    correction: Any = UNSET,
    axis: Any = UNSET,
    keepdims: bool = False,
) -> Tensor:
    """torch.std: the square root of var; its gradient is 0 where every element is the same."""
    return apply(OPS["std"], a, **_spread_args("std", dim, unbiased, keepdim, correction, axis, keepdims))


def _spread_args(
    name: str, dim: Any, unbiased: Any, keepdim: bool, correction: Any, axis: Any, keepdims: bool
) -> dict[str, Any]:
    """var's and std's arguments, as PyTorch's overloads take them: var(dim, unbiased, keepdim),
    var(dim, *, correction, keepdim) and var(unbiased)."""
    if isinstance(dim, bool):  # x.var(False): unbiased alone, over every element
        if unbiased is not UNSET:
            raise TypeError(f"{name}() received an invalid combination of arguments: (bool, bool)")
        dim, unbiased = UNSET, dim
    if unbiased is not UNSET and correction is not UNSET:
        raise TypeError(f"{name}() received an invalid combination of arguments: unbiased= and correction= together")
    kwargs = reduce_args(axis, keepdims, dim, keepdim)
    if unbiased is not UNSET:
        kwargs["correction"] = 1 if unbiased else 0
    elif correction is not UNSET and correction is not None:
        if isinstance(correction, Tensor) and correction.ndim == 0:
            correction = correction.item()
        if not isinstance(correction, int | float | np.number | np.bool_):
            raise TypeError(f"{name}(): argument 'correction' must be Number, not {type_name(correction)}")
        kwargs["correction"] = correction.item() if isinstance(correction, np.generic) else correction
    return kwargs


def clamp(a: Any, min: Any = None, max: Any = None) -> Tensor:
    """torch.clamp with numbers for bounds (either may be None): a's values held within
    [min, max], the gradient 1 within them, the bounds included, and 0 outside."""
    bounds = {}
    for name, bound in (("min", min), ("max", max)):
        if isinstance(bound, Tensor):
            raise TypeError(
                f"clamp(): {name} must be a number here: the engine does not clamp by tensors "
                f"(maximum(x, lo) and minimum(x, hi) take tensors, ties sharing the gradient)"
            )
        if bound is not None and not isinstance(bound, int | float | np.number | np.bool_):
            raise TypeError(f"clamp(): argument '{name}' must be Number, not {type_name(bound)}")
        bound = bound.item() if isinstance(bound, np.generic) else bound
        bounds[name] = int(bound) if isinstance(bound, bool) else bound  # True is 1, as PyTorch takes it
    return apply(OPS["clamp"], a, **bounds)


clip = clamp


def max(a: Any, dim: Any = UNSET, keepdim: bool = False, *, axis: Any = UNSET, keepdims: bool = False) -> Any:
    """torch.max: max(a), max(a, dim) (values and indices) or max(a, b) (maximum); see engine.extremes."""
    return extreme("max", a, dim, keepdim, axis, keepdims)


def min(a: Any, dim: Any = UNSET, keepdim: bool = False, *, axis: Any = UNSET, keepdims: bool = False) -> Any:
    """torch.min, as max."""
    return extreme("min", a, dim, keepdim, axis, keepdims)


def logsumexp(
    a: Any, axis: Axis = UNSET, keepdims: bool = False, *, dim: Axis = UNSET, keepdim: bool = False
) -> Tensor:
    return apply(OPS["logsumexp"], a, **reduce_args(axis, keepdims, dim, keepdim))


def reshape(a: Any, shape: tuple[int, ...]) -> Tensor:
    return apply(OPS["reshape"], a, shape=int_tuple(shape, "reshape", "shape", 2))


def transpose(a: Any, axes: tuple[int, ...] | int | None = None, dim1: int | None = None) -> Tensor:
    """NumPy's transpose(a, axes), the catalog's; or PyTorch's transpose(a, dim0, dim1), two dims swapped."""
    if dim1 is not None:
        return _input(a, "transpose").transpose(axes, dim1)  # type: ignore[arg-type]  # the method refuses what is no dim
    return apply(OPS["transpose"], a, axes=None if axes is None else int_tuple(axes, "transpose", "axes", 2))


def flatten(a: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return shapes.flatten(_input(a, "flatten"), start_dim, end_dim, first=2)


def squeeze(a: Any, dim: Any = UNSET) -> Tensor:
    return shapes.squeeze(_input(a, "squeeze"), dim, first=2)


def unsqueeze(a: Any, dim: int = UNSET) -> Tensor:
    return shapes.unsqueeze(_input(a, "unsqueeze"), dim, first=2)


def argmax(a: Any, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Where the first greatest element is, as an int64 tensor; see engine.extremes."""
    return arg_extreme("argmax", _input(a, "argmax"), dim, keepdim, first=2)


def argmin(a: Any, dim: Any = None, keepdim: bool = False) -> Tensor:
    return arg_extreme("argmin", _input(a, "argmin"), dim, keepdim, first=2)


def clone(a: Any) -> Tensor:
    return apply(OPS["clone"], a)


def broadcast_to(a: Any, shape: tuple[int, ...]) -> Tensor:
    return apply(OPS["broadcast_to"], a, shape=int_tuple(shape, "broadcast_to", "shape", 2))


def softmax(a: Any, axis: int = UNSET, *, dim: int = UNSET) -> Tensor:
    return apply(OPS["softmax"], a, axis=along(axis, dim, "softmax", 2))


def log_softmax(a: Any, axis: int = UNSET, *, dim: int = UNSET) -> Tensor:
    return apply(OPS["log_softmax"], a, axis=along(axis, dim, "log_softmax", 2))


def mse_loss(a: Any, b: Any) -> Tensor:
    return apply(OPS["mse_loss"], a, b)


def cross_entropy(logits: Any, labels: Any) -> Tensor:
    return apply(OPS["cross_entropy"], logits, labels)


def ones_like(a: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _like(apply(OPS["ones_like"], a), dtype, device, requires_grad, "ones_like")


def zeros_like(a: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _like(apply(OPS["zeros_like"], a), dtype, device, requires_grad, "zeros_like")


def _like(made: Tensor, dtype: Any, device: Any, requires_grad: bool, function: str) -> Tensor:
    """ones_like's and zeros_like's keywords, as PyTorch takes them: another dtype, the one device."""
    on_cpu(device)
    if dtype is None and not requires_grad:
        return made
    array = made.array if dtype is None else made.array.astype(dtypes.to_numpy_dtype(dtype, function))
    return leaf(array, requires_grad)  # refused in a factory's words for an integer dtype


def _input(a: Any, function: str) -> Tensor:
    """The tensor a function of tensors only was given, refused as PyTorch's argument parser does."""
    if not isinstance(a, Tensor):
        raise TypeError(f"{function}(): argument 'input' (position 1) must be Tensor, not {type(a).__name__}")
    return a
