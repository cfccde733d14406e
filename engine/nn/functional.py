"""torch.nn.functional's activations and losses, as `F = torch.nn.functional` finds them.

The same ops as engine.relu, engine.cross_entropy, ...; what differs is PyTorch's signatures
here: softmax and log_softmax without a dim choose one as PyTorch does, with its warning, and
the losses take `reduction="mean"` only (the table's losses are averages).
"""

from __future__ import annotations

import warnings
from typing import Any

from engine import functional
from engine.tensor import Tensor

relu = functional.relu
sigmoid = functional.sigmoid
tanh = functional.tanh


def softmax(input: Tensor, dim: int | None = None) -> Tensor:
    return input.softmax(_implicit_dim("softmax", input) if dim is None else dim)  # the method, as PyTorch's


def log_softmax(input: Tensor, dim: int | None = None) -> Tensor:
    return input.log_softmax(_implicit_dim("log_softmax", input) if dim is None else dim)


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    _mean_only(reduction)
    return functional.mse_loss(input, target)


def cross_entropy(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Logits against int64 class labels (-100: none, left out of the mean)."""
    _mean_only(reduction)
    return functional.cross_entropy(input, target)


def _implicit_dim(name: str, input: Any) -> int:
    """PyTorch's choice, deprecated there: the first axis of a 0-, 1- or 3-d tensor, else the second."""
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as an argument.",
        UserWarning,
        stacklevel=3,
    )
    return 0 if getattr(input, "ndim", 0) in (0, 1, 3) else 1


def _mean_only(reduction: str) -> None:
    if reduction != "mean":
        raise NotImplementedError(f"reduction={reduction!r}: only 'mean' is supported (the losses are averages)")
