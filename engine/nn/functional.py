"""torch.nn.functional's activations and losses, and one_hot, as `F = torch.nn.functional` finds them.

The same ops as engine.relu, engine.cross_entropy, ...; what differs is PyTorch's signatures
here: softmax and log_softmax without a dim choose one as PyTorch does, with its warning, and
the losses take PyTorch's arguments, but only at their defaults, ignore_index apart (the table's
losses are unweighted averages).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from engine import functional
from engine.logic import one_hot, tensor_argument
from engine.ops import OPS
from engine.tensor import Tensor, apply
from engine.torch_words import int_arg, type_name

sigmoid = functional.sigmoid
tanh = functional.tanh
__all__ = [
    "cross_entropy", "leaky_relu", "log_softmax", "mse_loss", "one_hot", "relu", "sigmoid", "silu", "softmax",
    "softplus", "tanh",
]  # fmt: skip


def relu(input: Any, inplace: bool = False) -> Tensor:
    _only(inplace=(inplace, False))
    return functional.relu(input)


def leaky_relu(input: Any, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    _only(inplace=(inplace, False))
    return apply(OPS["leaky_relu"], input, negative_slope=_number("leaky_relu", "negative_slope", negative_slope))


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    beta, threshold = _number("softplus", "beta", beta), _number("softplus", "threshold", threshold)
    return apply(OPS["softplus"], input, beta=beta, threshold=threshold)


def _number(function: str, name: str, value: Any) -> Any:
    """A parameter as the Python number it is (a NumPy one as its Python twin, lest it widen a float32
    tensor's answer to float64), or PyTorch's refusal."""
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, int | float):
        raise TypeError(f"{function}(): argument '{name}' must be Number, not {type_name(value)}")
    return value


def silu(input: Any, inplace: bool = False) -> Tensor:
    _only(inplace=(inplace, False))
    return apply(OPS["silu"], input)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    _only(dtype=(dtype, None))
    return input.softmax(_implicit_dim("softmax", input) if dim is None else dim)  # the method, as PyTorch's


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    _only(dtype=(dtype, None))
    return input.log_softmax(_implicit_dim("log_softmax", input) if dim is None else dim)


def mse_loss(
    input: Any, target: Any, size_average: Any = None, reduce: Any = None, reduction: str = "mean", weight: Any = None
) -> Tensor:
    _only(
        size_average=(size_average, None), reduce=(reduce, None), reduction=(reduction, "mean"), weight=(weight, None)
    )
    return functional.mse_loss(input, target)


def cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Logits against int64 class labels; those equal to ignore_index are left out of the mean."""
    _only(
        weight=(weight, None),
        size_average=(size_average, None),
        reduce=(reduce, None),
        reduction=(reduction, "mean"),
        label_smoothing=(label_smoothing, 0.0),
    )
    int_arg(ignore_index, "cross_entropy_loss", "ignore_index", 5)
    tensor_argument(input, "cross_entropy_loss", "input", 1)  # PyTorch's functional losses take tensors alone
    tensor_argument(target, "cross_entropy_loss", "target", 2)
    if ignore_index != -100 and isinstance(target, Tensor):  # the table's cross_entropy leaves out -100
        if np.any(target.array == -100):  # then a label like any other, out of range
            raise IndexError("Target -100 is out of bounds.")
        target = Tensor.wrap(np.where(target.array == ignore_index, -100, target.array))
    return functional.cross_entropy(input, target)


def _implicit_dim(name: str, input: Any) -> int:
    """PyTorch's choice, deprecated there: the first axis of a 0-, 1- or 3-d tensor, else the second."""
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as an argument.",
        UserWarning,
        stacklevel=3,
    )
    return 0 if getattr(input, "ndim", 0) in (0, 1, 3) else 1


def _only(**given: tuple[Any, Any]) -> None:
    """Each argument at the one value supported here, its default (the losses are averages, unweighted)."""
    for name, (value, supported) in given.items():
        if value != supported:
            raise NotImplementedError(f"{name}={value!r}: only {name}={supported!r} is supported")
