"""The table of primitive operations: each one's forward and the backward rule of each input.

Read it like a table of derivatives. A backward rule (a vector-Jacobian product) takes the
incoming gradient `g`, the forward's answer `y` and the forward's arguments, and gives the
gradient of one argument. (An op marked `saves` answers with its value and what its rule
needs, which the rule gets as `y`: cross_entropy's softmax, so that backward need not
compute it again.) Rules may return a gradient of the broadcast shape: the engine
sums it back to the argument's shape in one place (`sum_to`), so no rule deals with
broadcasting. A rule of `None` means the argument is not differentiable (labels, shapes).
What some lines compute is written out in engine.kernels (PyTorch's answers at NaN, inf and
empty axes, or speed), and the grad_fn names that depend on the call in engine.grad_fn_names.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from engine import kinks
from engine.grad_fn_names import (
    cross_entropy_name,
    div_name,
    index_name,
    matmul_name,
    pow_name,
    put_name,
    reduction_name,
    reshape_name,
    sub_name,
)
from engine.kernels import (
    absolute,
    add_reduce,
    broadcast_to,
    centered,
    clamp,
    clamp_vjp,
    cross_entropy,
    cross_entropy_vjp,
    divide,
    divide_vjp_b,
    evenly_vjp,
    extreme_along,
    in_two_steps,
    index,
    log_softmax,
    logsumexp,
    matmul,
    matmul_summed_to,
    mse_loss,
    one_minus_square,
    power,
    put,
    reduced_count,
    relu,
    relu_vjp,
    reshape,
    selected_vjp,
    sign,
    softmax,
    softplus,
    softplus_vjp,
    standard_deviation,
    unless,
    variance,
)

Array = np.ndarray[Any, Any]
Axis = int | tuple[int, ...] | None

# How an op treats dtypes, as PyTorch does: "promote" brings all operands to their common
# dtype (result_type), "float" also turns integers into the default float dtype first,
# "same" computes in the argument's dtype. "broadcast" promotes as the operands would once
# broadcast to one shape, where a 0-d one counts as any other: mse_loss, which PyTorch computes
# on broadcast_tensors (a 0-d float64 target makes a float32 input's loss float64).
DtypeRule = Literal["promote", "float", "same", "broadcast"]


@dataclass(frozen=True, slots=True)
class Op:
    name: str
    syntax: str
    grad_fn: str | Callable[..., str]  # PyTorch's grad_fn name, or a function of the call
    forward: Callable[..., Any]  # may return a NumPy scalar; apply makes it an array
    vjps: tuple[Callable[..., Array] | None, ...]  # one per positional argument
    rule: str  # the derivative, for people
    dtypes: DtypeRule = "same"
    params: dict[str, Any] = field(default_factory=dict)  # keyword arguments and defaults
    saves: bool = False  # forward returns (value, what the rules get as y)
    # What the rules read of the call, as PyTorch's saved tensors. "values": the arguments and
    # the answer, which a backward without retain_graph frees, so that a second backward
    # through the op fails. "shapes": an operand's shape, which its tensor keeps; "nothing".
    # For these two nothing is kept to free, and a second backward through x + 1 or x.sum()
    # works, as in PyTorch.
    needs: Literal["values", "shapes", "nothing"] = "values"
    # grad_fn also gets requires_grad=(which arguments require grad), as matmul's name needs.
    named_by_requires_grad: bool = False
    # Where the derivative jumps, for the check (engine.kinks): a function of the arguments,
    # a signed distance to the kink whose sign tells the side (relu: a; maximum: a - b).
    kink: Callable[..., Any] | None = None
    # The error PyTorch raises for an integer or bool operand of an op it computes in floats only
    # (the dtype's name in PyTorch, Long or Bool, goes in its {}, and "_lastdim" in a {lastdim}
    # when the op runs along the last axis, as PyTorch's kernels are named); None where it takes them.
    integers: tuple[type[Exception], str] | None = None

    def __post_init__(self) -> None:
        if self.kink is not None:
            object.__setattr__(self, "forward", kinks.noting(self.forward, self.kink))

    @property
    def frees(self) -> bool:
        return self.needs == "values"

    @property
    def arity(self) -> int:
        return len(self.vjps)

    @property
    def grad_fn_doc(self) -> str:
        """The grad_fn name, or how it depends on the call, for the catalog."""
        if isinstance(self.grad_fn, str):
            return self.grad_fn or "none: the result does not require grad"
        return " ".join((self.grad_fn.__doc__ or "").split())

    def grad_fn_name(self, args: tuple[Any, ...], kwargs: dict[str, Any], inputs: tuple[Any, ...]) -> str:
        """`inputs`: the arguments' tensors, None for those that do not require grad."""
        name = self.grad_fn
        if name.__class__ is str:
            return name
        if self.named_by_requires_grad:
            requires_grad = tuple([tensor is not None for tensor in inputs])
            return name(*args, requires_grad=requires_grad, **kwargs)  # type: ignore[operator]
        return name(*args, **kwargs)  # type: ignore[operator]

    def binary_grad_fn_name(self, a: Any, b: Any, left: Any, right: Any) -> str:
        """grad_fn_name of a binary op, written out: `left`, `right` are the operands' tensors or None."""
        if self.named_by_requires_grad:
            return self.grad_fn(a, b, requires_grad=(left is not None, right is not None))  # type: ignore[operator]
        return self.grad_fn(a, b)  # type: ignore[operator]


class _Required:
    def __repr__(self) -> str:
        return "required"


REQUIRED: Any = _Required()  # a parameter without a default (`shape` of reshape)


# --- shape helpers shared by the rules -------------------------------------------------


def sum_to(g: Array, shape: tuple[int, ...]) -> Array:
    """Undo broadcasting: sum `g` over the axes along which `shape` was stretched."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    stretched = [i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1]
    if not stretched and shape:  # only new leading axes (a bias): an array of the shape at once
        return add_reduce(g, axis=0 if lead == 1 else tuple(range(lead)))
    return add_reduce(g, axis=(*range(lead), *stretched), keepdims=True).reshape(shape)


def _axes(ndim: int, axis: Axis) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    return normalize_axis_tuple(axis, ndim)


def normalize_axis(axis: Axis, ndim: int) -> Axis:
    """Axes as non-negative tuples; like PyTorch, a 0-d tensor takes axis 0 or -1 (as no axis)."""
    if axis is None:
        return None
    span = max(ndim, 1)
    for a in (axis,) if isinstance(axis, int) else axis:
        if not -span <= a < span:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-span}, {span - 1}], but got {a})")
    if not isinstance(axis, int):
        seen: set[int] = set()
        for a in axis:
            if a % span in seen:
                raise RuntimeError(f"dim {a % span} appears multiple times in the list of dims")
            seen.add(a % span)
    if ndim == 0 or axis == ():
        return None  # dim=() in PyTorch reduces over every axis; a 0-d tensor has none to keep
    return normalize_axis_tuple(axis, ndim)


def one_axis(dim: int, ndim: int) -> int:
    """dim as an index from 0, checked as PyTorch checks it (a 0-d tensor takes 0 and -1)."""
    axes = normalize_axis(dim, ndim)
    return axes[0] if isinstance(axes, tuple) else 0


# From this many elements on, the gradient of a sum over every axis stays one number (see
# spread). Below it an array is quicker: NumPy takes longer to multiply a NumPy scalar by a
# 0-d array than a 3-element array by it, and np.full is slower than a copy. The seed graph,
# one number against an array: 3 elements 57 µs against 40, 2^14 131 against 118, 2^16 431
# against 491, 10^5 668 against 786.
UNIFORM_MIN_ELEMENTS = 1 << 16


def spread(g: Array, a: Array, axis: Axis, keepdims: bool) -> Array:
    """The gradient of a sum: g at every summed element of `a`. Over every axis of a large
    `a` it is g itself, one number standing for every element, as engine.graph carries it."""
    if axis is None and not keepdims and a.ndim and a.size >= UNIFORM_MIN_ELEMENTS:
        return g
    return unreduce(g, a.shape, axis, keepdims)


def unreduce(g: Array, shape: tuple[int, ...], axis: Axis, keepdims: bool) -> Array:
    """Spread the gradient of a reduction back over the reduced axes (a new array)."""
    if not keepdims and axis is not None:
        reduced = _axes(len(shape), axis)
        g = g.reshape([1 if i in reduced else n for i, n in enumerate(shape)])
    out = np.empty(shape, g.dtype)
    out[...] = g  # much cheaper than np.broadcast_to for small arrays
    return out


def _mean(a: Array, axis: Axis = None, keepdims: bool = False) -> Array:
    if a.size == 0:  # NaN, as in PyTorch, without NumPy's warning of an empty slice
        with np.errstate(invalid="ignore"):
            return np.sum(a, axis=axis, keepdims=keepdims) / 0.0
    return add_reduce(a, axis=axis, keepdims=keepdims) / _count(a.shape, axis)


def _count(shape: tuple[int, ...], axis: Axis) -> int:
    return int(np.prod([shape[i] for i in _axes(len(shape), axis)]))


def _extreme_vjp(g: Array, y: Array, a: Array, axis: Axis = None, keepdims: bool = False) -> Array:
    # Ties share the gradient evenly, as torch.amax/amin do.
    hit = a == unreduce(y, a.shape, axis, keepdims)
    return unreduce(g, a.shape, axis, keepdims) * hit / hit.sum(axis=axis, keepdims=True)


# The kinks (see Op.kink) of maximum and minimum are at a = b; of max and min where another
# element becomes the extreme.
def _difference(a: Any, b: Any) -> Array:
    return np.subtract(a, b, dtype=np.float64)


def _lead(a: Array, axis: Axis = None, keepdims: bool = False) -> Array:
    """Each element's lead over the largest of the others along the axes: > 0 at the maximum
    alone, 0 at tied maxima, < 0 elsewhere. (keepdims shapes max's answer, not this.)"""
    a = np.asarray(a, dtype=np.float64)
    top = np.max(a, axis=axis, keepdims=True)
    at_top = a == top
    others = np.max(np.where(at_top, -np.inf, a), axis=axis, keepdims=True)
    others = np.where(np.sum(at_top, axis=axis, keepdims=True) > 1, top, others)  # a tie
    return np.where(at_top, a - others, a - top)


def _lead_below(a: Array, axis: Axis = None, keepdims: bool = False) -> Array:
    return _lead(np.negative(a, dtype=np.float64), axis, keepdims)


def _var_vjp(g: Array, y: Array, a: Array, axis: Axis = None, keepdims: bool = False, correction: float = 1) -> Array:
    divisor = reduced_count(a.shape, axis) - correction  # not held at 0 as var's own is: PyTorch's
    if axis is None and divisor <= 0:  # PyTorch's case of every element: 2/0 times a - mean, NaN where that is 0
        return g * np.where(centered(a, axis) == 0, np.nan, np.inf)
    # PyTorch's order: 2/(n - correction) first, then times g, then times a - mean.
    return (2.0 / divisor if divisor else math.inf) * unreduce(g, a.shape, axis, keepdims) * centered(a, axis)


def _std_vjp(g: Array, y: Array, a: Array, axis: Axis = None, keepdims: bool = False, correction: float = 1) -> Array:
    # As PyTorch: var's rule on g / (2·std), and 0 where std is 0 (every element the same).
    grad = _var_vjp(g / (2 * y), y, a, axis, keepdims, correction)
    return np.where(unreduce(y == 0, a.shape, axis, keepdims), 0, grad)


def _inside(a: Array, min: Any = None, max: Any = None) -> Array:
    """clamp's kinks: > 0 strictly between its bounds, < 0 outside them."""
    a = np.asarray(a, dtype=np.float64)
    if min is None:
        return max - a
    if max is None or min == max:  # min == max: one kink, whose sides are a's below and above it
        return a - min
    return np.minimum(a - min, max - a)


LN2, LN10 = math.log(2), math.log(10)  # PyTorch's constants in log2's and log10's rules, to the last bit


def _sigmoid(a: Array) -> Array:
    return 1 / (1 + np.exp(-a))


def _mse_grad(g: Array, a: Array, b: Array) -> Array:
    diff = a - b
    # PyTorch's order: the factor 2/n first, rounded to the dtype, then (2/n)·(a - b)·g.
    return np.asarray(2 / max(diff.size, 1), diff.dtype) * diff * g


def _index_vjp(g: Array, y: Array, a: Array, index: Any) -> Array:
    out = np.zeros(a.shape, dtype=g.dtype)  # a's shape alone: its values may be written over since
    basic, advanced = in_two_steps(index, a.ndim)
    if advanced is None:
        out[basic] = g
    else:
        np.add.at(out[basic], advanced, g)  # into a view of out; an element picked twice gets both
    return out


# A vector operand of matmul is a one-row (left) or one-column (right) matrix. Each rule reads
# only the other operand's values, as PyTorch saves it (engine.versions), and its own's shape:
# whether its own operand was a vector it tells from g, which has one axis fewer than the other
# operand's product would.
def _matmul_vjp_a(g: Array, y: Array, a: Array, b: Array) -> Array:
    a_vector = g.ndim == b.ndim - 1
    g2 = g[..., None] if b.ndim == 1 else g
    g2 = g2[..., None, :] if a_vector else g2
    ga = matmul_summed_to(g2, (b[:, None] if b.ndim == 1 else b).mT, (1, *a.shape) if a_vector else a.shape)
    return ga[..., 0, :] if a_vector else ga


def _matmul_vjp_b(g: Array, y: Array, a: Array, b: Array) -> Array:
    b_vector = g.ndim == a.ndim - 1
    g2 = g[..., None] if b_vector else g
    g2 = g2[..., None, :] if a.ndim == 1 else g2
    gb = matmul_summed_to((a[None, :] if a.ndim == 1 else a).mT, g2, (*b.shape, 1) if b_vector else b.shape)
    return gb[..., 0] if b_vector else gb


def _pow_vjp_base(g: Array, y: Array, a: Array, b: Any) -> Array:
    # Grouped, and a^(b-1) computed, as PyTorch does, so that it rounds as PyTorch's does.
    return np.where(b == 0, 0.0, g * (b * power(a, b - 1)))


def _pow_vjp_exponent(g: Array, y: Array, a: Any, b: Array) -> Array:
    # 0 ** b for b >= 0 has no log to speak of; PyTorch defines its derivative as 0.
    # log of a number base in the answer's dtype, as PyTorch takes it, lest float64 widen y.
    return np.where((a == 0) & (b >= 0), 0.0, g * (y * np.asarray(np.log(a), y.dtype)))


_AXIS = {"axis": None, "keepdims": False}
_SPREAD = {**_AXIS, "correction": 1}
_SOFTMAX_AXIS = {"axis": -1}

OPS: dict[str, Op] = {op.name: op for op in (
    # Arithmetic
    Op("add", "a + b", "AddBackward0", np.add,
       (lambda g, y, a, b: g, lambda g, y, a, b: g),
       "∂/∂a = 1, ∂/∂b = 1", "promote", needs="nothing"),
    Op("sub", "a - b", sub_name,
       np.subtract,
       (lambda g, y, a, b: g, lambda g, y, a, b: -g),
       "∂/∂a = 1, ∂/∂b = -1", "promote", needs="nothing"),
    Op("mul", "a * b", "MulBackward0", np.multiply,
       (lambda g, y, a, b: g * b, lambda g, y, a, b: g * a),
       "∂/∂a = b, ∂/∂b = a", "promote"),
    Op("div", "a / b", div_name,
       divide,
       (lambda g, y, a, b: g / b, divide_vjp_b),
       "∂/∂a = 1/b, ∂/∂b = -a/b²", "float"),
    Op("neg", "-a", "NegBackward0", np.negative,
       (lambda g, y, a: -g,),
       "∂/∂a = -1", needs="nothing"),
    Op("pow", "a ** b", pow_name, power,
       (_pow_vjp_base, _pow_vjp_exponent),
       "∂/∂a = b·a^(b-1), ∂/∂b = a^b·ln a", "promote"),
    Op("matmul", "a @ b", matmul_name, matmul,
       (_matmul_vjp_a, _matmul_vjp_b),
       "∂/∂a = g @ bᵀ, ∂/∂b = aᵀ @ g", named_by_requires_grad=True),
    # Elementwise functions
    Op("exp", "exp(a)", "ExpBackward0", np.exp, (lambda g, y, a: g * y,), "exp' = exp", "float"),
    Op("log", "log(a)", "LogBackward0", np.log, (lambda g, y, a: g / a,), "log' a = 1/a", "float"),
    Op("sqrt", "sqrt(a)", "SqrtBackward0", np.sqrt, (lambda g, y, a: g / (2 * y),), "sqrt' a = 1/(2·sqrt a)", "float"),
    Op("abs", "abs(a)", "AbsBackward0", absolute, (lambda g, y, a: g * sign(a),), "abs' a = sign a (0 at 0 and at NaN)",
       kink=lambda a: a),
    Op("sin", "sin(a)", "SinBackward0", np.sin, (lambda g, y, a: g * np.cos(a),), "sin' = cos", "float"),
    Op("cos", "cos(a)", "CosBackward0", np.cos, (lambda g, y, a: -g * np.sin(a),), "cos' = -sin", "float"),
    Op("tanh", "tanh(a)", "TanhBackward0", np.tanh, (lambda g, y, a: g * one_minus_square(y),), "tanh' = 1 - tanh²", "float"),
    Op("sigmoid", "sigmoid(a)", "SigmoidBackward0", _sigmoid,
       (lambda g, y, a: g * (1 - y) * y,), "σ' = (1 - σ)·σ", "float"),
    Op("log1p", "log1p(a)", "Log1PBackward0", np.log1p, (lambda g, y, a: g / (a + 1),), "log1p' a = 1/(1 + a)", "float"),
    Op("expm1", "expm1(a)", "Expm1Backward0", np.expm1, (lambda g, y, a: g * (y + 1),), "expm1' = exp", "float"),
    Op("log2", "log2(a)", "Log2Backward0", np.log2, (lambda g, y, a: g / (a * LN2),), "log2' a = 1/(a·ln 2)", "float"),
    Op("log10", "log10(a)", "Log10Backward0", np.log10, (lambda g, y, a: g / (a * LN10),), "log10' a = 1/(a·ln 10)",
       "float"),
    Op("tan", "tan(a)", "TanBackward0", np.tan, (lambda g, y, a: g * (1 + y * y),), "tan' = 1 + tan²", "float"),
    Op("softplus", "softplus(a, beta=1, threshold=20)", "SoftplusBackward0", softplus, (softplus_vjp,),
       "softplus' a = σ(beta·a); a itself past the threshold (beta·a > threshold), as PyTorch", "promote",
       {"beta": 1, "threshold": 20}, kink=lambda a, beta=1, threshold=20: np.multiply(a, beta, dtype=np.float64) - threshold,
       integers=(NotImplementedError, "\"softplus_cpu\" not implemented for '{}'")),
    Op("silu", "silu(a)", "SiluBackward0", lambda a: a / (1 + np.exp(-a)),  # PyTorch's x/(1 + e^-x), not x·σ(x)
       (lambda g, y, a: g * _sigmoid(a) * (1 + a * (1 - _sigmoid(a))),), "silu' a = σ(a)·(1 + a·(1 - σ(a)))",
       "promote", integers=(NotImplementedError, "\"silu_cpu\" not implemented for '{}'")),
    Op("sign", "sign(a)", "SignBackward0", sign, (lambda g, y, a: np.zeros_like(g),),
       "sign' = 0 (a step at 0: relu(sign(x)) is 1 where x > 0, else 0)", needs="nothing", kink=lambda a: a),
    Op("relu", "relu(a)", "ReluBackward0", relu,
       (relu_vjp,), "relu' a = 1 if a > 0 else 0 (0 at 0)", kink=lambda a: a),
    Op("leaky_relu", "leaky_relu(a, negative_slope=0.01)", "LeakyReluBackward0",
       lambda a, negative_slope=0.01: np.where(a > 0, a, a * negative_slope),
       (lambda g, y, a, negative_slope=0.01: np.where(a > 0, g, g * negative_slope),),
       "leaky_relu' a = 1 if a > 0 else negative_slope (at 0 too)", "promote", {"negative_slope": 0.01},
       kink=lambda a, negative_slope=0.01: a,
       integers=(NotImplementedError, "\"leaky_relu_cpu\" not implemented for '{}'")),
    Op("clamp", "clamp(a, min=None, max=None)", "ClampBackward1", clamp,
       (clamp_vjp,), "clamp' a = 1 if min ≤ a ≤ max else 0 (1 at the bounds)", params={"min": None, "max": None},
       kink=_inside),
    Op("maximum", "maximum(a, b)", "MaximumBackward0", np.maximum,
       (lambda g, y, a, b: unless(a < b, g, a == b), lambda g, y, a, b: unless(a > b, g, a == b)),
       "∂/∂a = [a > b], ∂/∂b = [b > a]; ties share: ½ each; a NaN: 1 each", "promote", kink=_difference),
    Op("minimum", "minimum(a, b)", "MinimumBackward0", np.minimum,
       (lambda g, y, a, b: unless(a > b, g, a == b), lambda g, y, a, b: unless(a < b, g, a == b)),
       "∂/∂a = [a < b], ∂/∂b = [b < a]; ties share: ½ each; a NaN: 1 each", "promote", kink=_difference),
    # Reductions
    Op("sum", "sum(a, axis=None, keepdims=False)", reduction_name("SumBackward"),
       add_reduce,
       (lambda g, y, a, axis=None, keepdims=False: spread(g, a, axis, keepdims),),
       "∂/∂a = 1 for every summed element", params=_AXIS, needs="shapes"),
    Op("mean", "mean(a, axis=None, keepdims=False)", reduction_name("MeanBackward"),
       _mean,
       (lambda g, y, a, axis=None, keepdims=False: spread(g, a, axis, keepdims) / _count(a.shape, axis),),
       "∂/∂a = 1/n for each of the n averaged elements", "float", _AXIS, needs="shapes",
       integers=(RuntimeError, "mean(): could not infer output dtype. Input dtype must be either a floating point "
                               "or complex dtype. Got: {}")),
    Op("max", "max(a, axis=None, keepdims=False)", "AmaxBackward0",
       lambda a, axis=None, keepdims=False: a.max(axis=axis, keepdims=keepdims),
       (_extreme_vjp,), "∂/∂a = 1 at the maximum; k tied maxima get 1/k each", params=_AXIS, kink=_lead),
    Op("min", "min(a, axis=None, keepdims=False)", "AminBackward0",
       lambda a, axis=None, keepdims=False: a.min(axis=axis, keepdims=keepdims),
       (_extreme_vjp,), "∂/∂a = 1 at the minimum; k tied minima get 1/k each", params=_AXIS, kink=_lead_below),
    Op("var", "var(a, axis=None, keepdims=False, correction=1)", "VarBackward0", variance,
       (_var_vjp,), "∂/∂a = 2(a - mean)/(n - correction) along the axes", "float", _SPREAD,
       integers=(RuntimeError, "std and var only support floating point and complex dtypes")),
    Op("std", "std(a, axis=None, keepdims=False, correction=1)", "StdBackward0", standard_deviation,
       (_std_vjp,), "∂/∂a = (a - mean)/((n - correction)·std) along the axes (0 where std is 0)", "float", _SPREAD,
       integers=(RuntimeError, "std and var only support floating point and complex dtypes")),
    Op("logsumexp", "logsumexp(a, axis=None, keepdims=False)", "LogsumexpBackward0", logsumexp,
       (lambda g, y, a, axis=None, keepdims=False: unreduce(g, a.shape, axis, keepdims) * np.exp(a - unreduce(y, a.shape, axis, keepdims)),),
       "∂/∂a = softmax(a) along the axes", "float", _AXIS),
    # Shapes
    Op("reshape", "reshape(a, shape)", reshape_name, reshape,
       (lambda g, y, a, shape: g.reshape(a.shape),), "the gradient reshaped back", params={"shape": REQUIRED},
       needs="shapes"),
    Op("transpose", "transpose(a, axes=None)", "PermuteBackward0", lambda a, axes=None: np.transpose(a, axes),
       (lambda g, y, a, axes=None: np.transpose(g, None if axes is None else np.argsort(_axes(a.ndim, axes))),),
       "the gradient permuted back", params={"axes": None}, needs="shapes"),
    Op("clone", "clone(a)", "CloneBackward0", np.copy, (lambda g, y, a: g,), "the gradient as it is", needs="nothing"),
    Op("broadcast_to", "broadcast_to(a, shape)", "ExpandBackward0", broadcast_to,
       (lambda g, y, a, shape: g,), "the gradient summed over the broadcast axes", params={"shape": REQUIRED},
       needs="nothing"),
    Op("index", "a[i, j:k]", index_name, index,
       (_index_vjp,), "the gradient placed back at the selected elements, 0 elsewhere", params={"index": REQUIRED},
       needs="shapes"),
    # Normalizations and losses
    Op("softmax", "softmax(a, axis=-1)", "SoftmaxBackward0", lambda a, axis=-1: softmax(a, axis),
       (lambda g, y, a, axis=-1: y * (g - np.sum(g * y, axis=axis, keepdims=True)),),
       "∂/∂a = y·(g - Σ g·y)", "float", _SOFTMAX_AXIS,
       integers=(NotImplementedError, "\"softmax{lastdim}_kernel_impl\" not implemented for '{}'")),
    Op("log_softmax", "log_softmax(a, axis=-1)", "LogSoftmaxBackward0", lambda a, axis=-1: log_softmax(a, axis),
       (lambda g, y, a, axis=-1: g - np.exp(y) * np.sum(g, axis=axis, keepdims=True),),
       "∂/∂a = g - softmax(a)·Σ g", "float", _SOFTMAX_AXIS,
       integers=(NotImplementedError, "\"log_softmax{lastdim}_kernel_impl\" not implemented for '{}'")),
    Op("mse_loss", "mse_loss(a, b)", "MseLossBackward0", mse_loss,
       (lambda g, y, a, b: _mse_grad(g, a, b), lambda g, y, a, b: -_mse_grad(g, a, b)),
       "∂/∂a = 2(a - b)/n, ∂/∂b = -2(a - b)/n", "broadcast",
       integers=(NotImplementedError, "\"mse_cpu\" not implemented for '{}'")),
    Op("cross_entropy", "cross_entropy(logits, labels)", cross_entropy_name, cross_entropy,
       (cross_entropy_vjp, None),
       "∂/∂logits = (softmax(logits) - onehot(labels))/n along the class axis, 1 of (N, C, d1, ...), n the labels "
       "that count: one of -100 counts for nothing (ignore_index)",
       "float", saves=True,
       integers=(NotImplementedError, "\"log_softmax_lastdim_kernel_impl\" not implemented for '{}'")),
    # Constants: they carry no gradient
    Op("ones_like", "ones_like(a)", "", np.ones_like, (None,), "constant: no gradient"),
    Op("zeros_like", "zeros_like(a)", "", np.zeros_like, (None,), "constant: no gradient"),
)}  # fmt: skip

# The ops that work element by element, each output element from the same elements of the
# (broadcast) operands: the check runs them on a batch of copies as they are, and backward
# carries a gradient that is one number for every element through their rules as one number.
ELEMENTWISE = frozenset({
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid",
    "sign", "relu", "clamp", "maximum", "minimum", "clone", "ones_like", "zeros_like", "log1p", "expm1", "log2",
    "log10", "tan", "softplus", "silu", "leaky_relu",
})  # fmt: skip

# What expressions may call by name: every op but indexing, which is written x[...].
BUILTINS: dict[str, Op] = {name: op for name, op in OPS.items() if name != "index"}

# The Python API's dtype conversions (x.double(), x.to(dtype)); an expression has no use for
# them, every number of a request being of its dtype. The rule reads a's dtype alone.
TO_COPY = Op("to", "a.to(dtype)", "ToCopyBackward0", lambda a, dtype: a.astype(dtype),
             (lambda g, y, a, dtype: g.astype(a.dtype),), "the gradient cast back to a's dtype",
             params={"dtype": REQUIRED}, needs="shapes")  # fmt: skip

# The Python API's torch.max and torch.min, besides the table's max and min (torch.amax, amin),
# which are what expressions call max and min: without a dim, ties share the gradient as in
# amax but NaN and infinite gradients do not spread; along a dim, (values, indices), the
# gradient going to the index each value came from.
TORCH_EXTREMES: dict[str, Op] = {op.name: op for op in (
    Op("max_all", "max(a)", "MaxBackward1", lambda a: np.max(a),
       (evenly_vjp,), "∂/∂a = 1/k at each of the k maxima (the NaNs, if any)"),
    Op("min_all", "min(a)", "MinBackward1", lambda a: np.min(a),
       (evenly_vjp,), "∂/∂a = 1/k at each of the k minima (the NaNs, if any)"),
    Op("max_along", "max(a, dim, keepdim=False)", "MaxBackward0",
       lambda a, axis, keepdims=False: extreme_along(a, axis, keepdims, np.argmax),
       (selected_vjp,), "∂/∂a = 1 at the first maximum along the dim", params={"axis": REQUIRED, "keepdims": False},
       saves=True),
    Op("min_along", "min(a, dim, keepdim=False)", "MinBackward0",
       lambda a, axis, keepdims=False: extreme_along(a, axis, keepdims, np.argmin),
       (selected_vjp,), "∂/∂a = 1 at the first minimum along the dim", params={"axis": REQUIRED, "keepdims": False},
       saves=True),
)}  # fmt: skip

# The Python API's torch.where: the condition is a bool tensor, which no expression makes (they
# have no comparisons), so expressions write it as c * a + (1 - c) * b.
WHERE = Op("where", "where(condition, a, b)", "WhereBackward0", np.where,
           (None, lambda g, y, c, a, b: np.where(c, g, 0), lambda g, y, c, a, b: np.where(c, 0, g)),
           "∂/∂a = 1 where the condition holds, ∂/∂b = 1 where it does not", "promote")  # fmt: skip


_select = index  # the kernel, where the rules' keyword `index` hides its name


# The Python API's item assignment in a graph, and an in-place op on a view of a tensor there: the
# tensor after a[index] = v, v cast to a's dtype. No expression writes into a tensor.
INDEX_PUT = Op("index_put", "a[index] = v", put_name, put,
               (lambda g, y, a, v, index: put(g, 0, index), lambda g, y, a, v, index: _select(g, index)),
               "∂/∂a = 1 but where written, ∂/∂v = g where written, summed to v's shape", params={"index": REQUIRED},
               needs="shapes")  # fmt: skip


def _left_out(a: Array) -> bool:
    """A 1-d tensor of no elements, which PyTorch's cat leaves out of the shapes (a legacy of its own);
    it still takes part in the dtype, and gets its empty gradient."""
    return a.shape == (0,)


def _cat(*arrays: Array, dim: int) -> Array:
    kept = [a for a in arrays if not _left_out(a)]
    return np.concatenate(kept, dim) if kept else np.concatenate(arrays)


def _cat_part(i: int) -> Callable[..., Array]:
    """The rule of cat's i-th tensor: its part of g, from where the tensors before it end."""

    def part(g: Array, y: Array, *arrays: Array, dim: int) -> Array:
        if _left_out(arrays[i]):
            return np.zeros(0, g.dtype)
        start = sum(a.shape[dim] for a in arrays[:i] if not _left_out(a))
        return g[(slice(None),) * dim + (slice(start, start + arrays[i].shape[dim]),)]

    return part


def _stack_part(i: int) -> Callable[..., Array]:
    return lambda g, y, *arrays, dim: np.take(g, i, axis=dim)


def joining(name: str, count: int) -> Op:
    """The Python API's torch.cat (name "cat") or torch.stack of `count` tensors: an op of that
    many operands, each one's gradient its part of g. Made for each call: the table's ops take a
    fixed number of operands."""
    if name == "cat":
        return Op("cat", "cat(tensors, dim=0)", "CatBackward0", _cat,
                  tuple(_cat_part(i) for i in range(count)), "each tensor's part of g along dim", "promote",
                  params={"dim": 0}, needs="shapes")  # fmt: skip
    return Op("stack", "stack(tensors, dim=0)", "StackBackward0", lambda *arrays, dim: np.stack(arrays, dim),
              tuple(_stack_part(i) for i in range(count)), "each tensor's slice of g at its index along dim",
              "promote", params={"dim": 0}, needs="shapes")  # fmt: skip
