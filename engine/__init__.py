"""gradlab's autograd engine: NumPy arrays with PyTorch's autograd semantics.

A small subset of torch's Python API, so that `import engine as torch` runs simple
PyTorch autograd code unchanged::

    import engine as torch
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    x.grad  # tensor([2., 4., 6.])
"""

from engine import autograd, backends, cuda, nn, optim
from engine.creation import arange, eye, full, linspace, ones, zeros
from engine.devices import device
from engine.dtypes import bool_, default_dtype, dtype, float32, float64, int32, int64
from engine.functional import (
    abs,
    add,
    amax,
    amin,
    argmax,
    argmin,
    broadcast_to,
    clamp,
    clip,
    clone,
    cos,
    cross_entropy,
    div,
    exp,
    expm1,
    flatten,
    log,
    log1p,
    log2,
    log10,
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
    squeeze,
    std,
    sub,
    sum,
    tan,
    tanh,
    transpose,
    unsqueeze,
    var,
    zeros_like,
)
from engine.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from engine.joining import cat, stack, where
from engine.logic import all, allclose, any, equal
from engine.ops import OPS, Op
from engine.random import Generator, manual_seed, multinomial, rand, randint, randn
from engine.size import Size
from engine.tensor import Tensor, tensor

# PyTorch's other names of the same dtypes, as code written for it uses them (not in
# __all__, as in torch).
bool = bool_
float = float32
double = float64
long = int64
int = int32

__all__ = [
    "OPS", "Generator", "Op", "Size", "Tensor", "abs", "add", "all", "allclose", "amax", "amin", "any", "arange",
    "argmax", "argmin", "autograd", "backends", "bool_", "broadcast_to", "cat", "clamp", "clip", "clone", "cos",
    "cross_entropy", "cuda", "default_dtype", "device", "div", "dtype", "enable_grad", "equal", "exp", "expm1",
    "eye", "flatten", "float32", "float64", "full", "int32", "int64", "is_grad_enabled", "linspace", "log", "log1p",
    "log2", "log10", "log_softmax", "logsumexp", "manual_seed", "matmul", "max", "maximum", "mean", "min",
    "minimum", "mse_loss", "mul", "multinomial", "neg", "nn", "no_grad", "ones", "ones_like", "optim", "pow",
    "rand", "randint", "randn", "relu", "reshape", "set_grad_enabled", "sigmoid", "sign", "sin", "softmax", "sqrt",
    "squeeze", "stack", "std", "sub", "sum", "tan", "tanh", "tensor", "transpose", "unsqueeze", "var", "where",
    "zeros", "zeros_like",
]  # fmt: skip
