"""gradlab's autograd engine: NumPy arrays with PyTorch's autograd semantics.

A small subset of torch's Python API, so that `import engine as torch` runs simple
PyTorch autograd code unchanged::

    import engine as torch
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    x.grad  # tensor([2., 4., 6.])
"""

from engine import autograd
from engine.dtypes import bool_, default_dtype, dtype, float32, float64, int64
from engine.functional import (
    abs,
    add,
    amax,
    amin,
    broadcast_to,
    clone,
    cos,
    cross_entropy,
    div,
    exp,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mse_loss,
    mul,
    neg,
    ones_like,
    pow,
    relu,
    reshape,
    sigmoid,
    sign,
    sin,
    softmax,
    sqrt,
    sub,
    sum,
    tanh,
    transpose,
    zeros_like,
)
from engine.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from engine.ops import OPS, Op
from engine.tensor import Tensor, tensor

__all__ = [
    "OPS", "Op", "Tensor", "abs", "add", "amax", "amin", "autograd", "bool_", "broadcast_to",
    "clone", "cos", "cross_entropy", "default_dtype", "div", "dtype", "enable_grad", "exp", "float32",
    "float64", "int64", "is_grad_enabled", "log", "log_softmax", "logsumexp", "matmul", "max",
    "maximum", "mean", "min", "minimum", "mse_loss", "mul", "neg", "no_grad", "ones_like", "pow",
    "relu", "reshape", "set_grad_enabled", "sigmoid", "sign", "sin", "softmax", "sqrt", "sub", "sum",
    "tanh", "tensor", "transpose", "zeros_like",
]  # fmt: skip
