"""The Tensor: a NumPy array plus what autograd needs to know about it.

`apply` is the door through which every primitive op of `engine.ops` runs: it brings the
operands to PyTorch's result dtype, computes the forward, and, when an operand requires grad,
records an `OpNode` holding what the op's backward rules need. The arithmetic operators
have the same door written out, one for each (`_binary`, also `apply_binary`): they are
most of the ops recorded, and the general path costs them more than twice as much (timeit,
x * y on 3-element tensors: 1.2 µs against 2.5 µs; x * 1.0001: 1.3 against 3.0).
"""

from __future__ import annotations

import math
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import numpy as np

from engine import devices, dtypes, notices
from engine.grad_mode import _enabled
from engine.graph import Array, Node, OpNode, next_sequence_nr, run_backward
from engine.ops import OPS, Op, normalize_axis, one_axis
from engine.printing import tensor_repr
from engine.size import Size
from engine.torch_words import (
    BOOL_SUBTRACT,
    BOOL_SUBTRACT_ONE,
    as_int,
    in_torch_words,
    int_arg,
    int_tuple,
    type_name,
)
from engine.versions import note_base, note_view, own_counters, share_counter, with_own_counter

Scalar = int | float | bool
_NEG, _INDEX, _SUM = OPS["neg"], OPS["index"], OPS["sum"]
NON_LEAF_GRAD = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad attribute won't be "
    "populated during autograd.backward(). If you indeed want the .grad field to be populated for a non-leaf Tensor, "
    "use .retain_grad() on the non-leaf Tensor. If you access the non-leaf Tensor by mistake, make sure you access "
    "the leaf Tensor instead. See github.com/pytorch/pytorch/pull/30531 for more information."
)


_FLOATS: frozenset[np.dtype[Any]] = frozenset({np.dtype(np.float32), np.dtype(np.float64)})
_NUMBERS = (int, float)
# What an operator takes besides tensors, as PyTorch does: numbers (complex ones to be refused
# by name). A list, None or a string gets Python's own TypeError, as it does from torch.
_SCALARS = (np.generic, int, float, complex)
OPERANDS = (np.ndarray, *_SCALARS)
_new = object.__new__
UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET"})()  # an argument left out, not given as None


def _numpy_agrees(arrays: list[Any], vjps: tuple[Any, ...] | None = None) -> bool:
    """Whether NumPy's own promotion already gives PyTorch's dtype: floats of one dtype, with
    or without Python numbers (NumPy 2 treats those as weakly typed, as PyTorch does).
    With `vjps`, only differentiable operands count, as in `_cast_operands`."""
    dtype = None
    for i, a in enumerate(arrays):
        if vjps is not None and vjps[i] is None:
            continue
        if a.__class__ is np.ndarray:
            if dtype is None:
                dtype = a.dtype
            elif a.dtype is not dtype:
                return False
        elif a.__class__ not in _NUMBERS:
            return False
    return dtype in _FLOATS


def _cast_operands(op: Op, args: list[Any], kwargs: dict[str, Any] | None = None) -> list[Any]:
    # Only differentiable operands take part: labels keep their integer dtype. A NumPy scalar
    # operand counts as the Python number it holds, as in PyTorch: t + np.float64(1.5) keeps
    # t's float32, where NumPy would give float64. `kwargs`: the call's, its axis normalized.
    rules = op.vjps
    args = [_number(a) if isinstance(a, np.generic) and r is not None else a for a, r in zip(args, rules, strict=True)]
    for i, a in enumerate(args):
        if not isinstance(a, OPERANDS):  # maximum(x, "a"): PyTorch's parser's words, not NumPy's ufunc's
            raise TypeError(
                f"{op.name}(): argument '{'other' if i else 'input'}' (position {i + 1}) must be Tensor, not "
                f"{type_name(a)}"
            )
    for a in args:
        if isinstance(a, complex) or (isinstance(a, np.ndarray) and a.dtype.kind == "c"):
            raise TypeError(f"{op.name}(): complex numbers are not supported: use float32, float64, int64 or bool")
    bools = [isinstance(a, bool) or (isinstance(a, np.ndarray) and a.dtype == np.bool_) for a in args]
    if op.name == "sub" and any(bools):  # PyTorch subtracts no bool, a tensor or a number
        raise RuntimeError(BOOL_SUBTRACT if all(bools) else BOOL_SUBTRACT_ONE)
    operands = [a for a, vjp in zip(args, rules, strict=True) if vjp is not None]
    if op.dtypes == "broadcast" and any(np.ndim(a) for a in operands):
        operands = [a.reshape(1) if isinstance(a, np.ndarray) and a.ndim == 0 else a for a in operands]
    target = dtypes.result_type(operands)
    if op.integers is not None and target.kind in "biu" and any(isinstance(a, np.ndarray) for a in args):
        error, message = op.integers
        raise error(message.format(dtypes.BY_NUMPY[target].torch_name, lastdim=_along_last(args[0], kwargs)))
    if op.dtypes == "float" and target.kind != "f":
        target = dtypes.default_float()
    return [
        a.astype(target) if isinstance(a, np.ndarray) and vjp is not None and a.dtype != target else a
        for a, vjp in zip(args, rules, strict=True)
    ]


def _along_last(a: Any, kwargs: dict[str, Any] | None) -> str:
    """ "_lastdim" when an op along an axis (softmax) runs along the last one, as PyTorch names
    the kernel it picks; a tensor of one dimension or none has only a last one."""
    axis = (kwargs or _NO_KWARGS).get("axis")
    return "_lastdim" if np.ndim(a) <= 1 or axis is None or axis[-1] == np.ndim(a) - 1 else ""


def _number(scalar: np.generic) -> Any:
    """The Python number a NumPy scalar holds (`item()` keeps a longdouble as it is)."""
    kind = scalar.dtype.kind
    if kind == "f":
        return float(scalar)
    return bool(scalar) if kind == "b" else int(scalar) if kind in "iu" else scalar.item()


def apply(op: Op, *args: Any, **kwargs: Any) -> Tensor:
    """Run a primitive op on tensors and Python numbers, recording it for backward."""
    vjps = op.vjps
    if len(args) != len(vjps):
        raise TypeError(f"{op.name}() takes {op.arity} tensor argument(s), got {len(args)}")
    written = kwargs  # as given: PyTorch's messages name the dims so
    if kwargs and "axis" in kwargs:  # checked before any dtype is refused, as PyTorch checks it first
        first = args[0].array if args[0].__class__ is Tensor else args[0]
        kwargs = {**kwargs, "axis": normalize_axis(kwargs["axis"], np.ndim(first))}
    if len(args) == 1:  # most ops: the loops below written out for one operand
        a = args[0]
        x = a.array if a.__class__ is Tensor else a
        if x.__class__ is not np.ndarray:  # a number: a tensor of it, as torch.tensor(2.0) is
            x = tensor(x).array
        if op.dtypes != "same" and x.dtype not in _FLOATS:
            (x,) = _cast_operands(op, [x], kwargs)
        arrays: tuple[Any, ...] = (x,)
        recorded = a.__class__ is Tensor and a._requires_grad and vjps[0] is not None
        inputs: tuple[Tensor | None, ...] = (a,) if recorded else (None,)
    else:
        given = [a.array if a.__class__ is Tensor else a for a in args]
        if not any(a.__class__ is np.ndarray for a in given):  # numbers alone: the first a tensor of it
            given[0] = tensor(given[0]).array
        if op.dtypes != "same" and not _numpy_agrees(given, vjps):
            given = _cast_operands(op, given, kwargs)
        arrays = tuple(given)
        inputs = tuple(
            [
                a if a.__class__ is Tensor and a._requires_grad and vjp is not None else None
                for a, vjp in zip(args, vjps, strict=True)
            ]
        )
        recorded = any(t is not None for t in inputs)  # not inputs.count(None): that calls Tensor.__eq__
    try:
        value = op.forward(*arrays, **kwargs)
    except (ValueError, IndexError, TypeError) as error:
        raise in_torch_words(op.name, arrays, written, error) from None
    if op.saves:
        value, saved = value
    if value.__class__ is not np.ndarray:
        value = np.asarray(value)
    if own_counters and id(arrays[0]) in own_counters:  # x.data[0], x.data.T: views count with .data
        share_counter(value, arrays[0])
    out = Tensor.wrap(value)
    if value.base is not None and args[0].__class__ is Tensor:  # a view: where an in-place op on it writes
        note_base(out, args[0])
    if recorded and _enabled.get():
        # Only what the rules read (Op.needs): y is what they get as y.
        y = None if op.needs != "values" else saved if op.saves else value
        kept = arrays if op.needs != "nothing" else (None,) * len(arrays)
        name = op.grad_fn_name(arrays, kwargs, inputs)
        # x[indices] saves its index tensors in PyTorch, which a backward frees: a second is refused.
        frees = op.frees or name == "IndexBackward0"
        out.grad_fn = OpNode(name, vjps, inputs, kept, kwargs, y, frees)
        out._requires_grad = True
        if value.base is not None:  # a view (x[0], x.T): engine.in_place must know of it
            note_view(out)
    return out


_NO_KWARGS: dict[str, Any] = {}
_NOTHING_KEPT = (None, None)  # the arguments of an op whose rules read none of them
ARITHMETIC = frozenset({"add", "sub", "mul", "div", "pow", "matmul", "maximum", "minimum"})  # for apply_binary

# The ops for which a Python number may be replaced by a 0-d array of the other operand's
# dtype: NumPy 2 casts the number to that dtype anyway (as PyTorch does), and an array operand
# is about twice as fast as a number. Not pow: NumPy treats a number exponent specially.
_NUMBERS_AS_ARRAYS = frozenset({"add", "sub", "mul", "div"})
_CONSTANTS: dict[np.dtype[Any], dict[Scalar, Array]] = {dtype: {} for dtype in _FLOATS}  # by dtype, then number
_MOST_CONSTANTS = 4096  # per dtype


def _constant(number: Scalar, dtype: np.dtype[Any]) -> Array:
    """`number` as a read-only 0-d array of `dtype`, kept for the next time.

    Kept only when the cast is uneventful, a finite number that stays finite and non-zero:
    0.0 and -0.0 are equal keys, NaN never equals itself, and a cast that overflows or
    underflows must warn (or raise, under np.errstate) every time, as NumPy's own does.
    """
    kept = _CONSTANTS[dtype]
    array = kept.get(number)
    if array is None:
        if number.__class__ is int:
            dtypes.within_64_bits(number)  # a float tensor + 2**200 too
        array = np.array(number, dtype)
        array.flags.writeable = False
        if 0 < abs(float(array)) < math.inf:
            if len(kept) >= _MOST_CONSTANTS:
                kept.clear()  # a bound without bookkeeping: the next ones are cached afresh
            kept[number] = array
    return array


def _binary(op: Op) -> Callable[[Any, Any], Tensor]:
    """`apply` for one arithmetic operator, written out: they are most of the ops recorded.
    The op's fields are bound once here, not looked up on every call."""
    assert not op.saves, "an arithmetic op's rules get its value as y"
    forward, vjps, grad_fn, frees = op.forward, op.vjps, op.grad_fn, op.frees
    fixed_name = grad_fn if isinstance(grad_fn, str) else ""  # else the name depends on the call
    name_of = op.binary_grad_fn_name
    assert op.needs != "shapes", "an arithmetic op's rules read values or nothing"
    keeps_values = op.needs == "values"  # see Op.needs
    numbers_as_arrays = op.name in _NUMBERS_AS_ARRAYS
    reciprocal_first = op.name == "div"  # number / tensor is the tensor's reciprocal times the number
    promotes = op.dtypes != "same"  # matmul refuses two dtypes itself, as PyTorch does

    def apply_op(a: Any, b: Any) -> Tensor:
        x = a.array if a.__class__ is Tensor else a
        y = b.array if b.__class__ is Tensor else b
        x0, y0 = x, y  # names tell numbers from arrays: they are worked out from these
        if x.__class__ is np.ndarray:
            if y.__class__ is np.ndarray:
                if (y.dtype is not x.dtype or x.dtype not in _FLOATS) and promotes:
                    x, y = _cast_operands(op, [x, y])
            elif y.__class__ in _NUMBERS and x.dtype in _FLOATS:
                if numbers_as_arrays:
                    y = _CONSTANTS[x.dtype].get(y) or _constant(y, x.dtype)  # kept ones are non-zero
            elif not isinstance(y, OPERANDS):
                return NotImplemented  # Python's TypeError: t + [1.0]
            else:
                x, y = _cast_operands(op, [x, y])
        elif x.__class__ in _NUMBERS and y.__class__ is np.ndarray and y.dtype in _FLOATS:
            if numbers_as_arrays and not reciprocal_first:
                x = _CONSTANTS[y.dtype].get(x) or _constant(x, y.dtype)
        elif not (isinstance(x, OPERANDS) and isinstance(y, OPERANDS)):
            return NotImplemented
        else:
            x, y = _cast_operands(op, [x, y])
        try:
            value = forward(x, y)
        except (ValueError, TypeError) as error:
            raise in_torch_words(op.name, (x, y), _NO_KWARGS, error) from None
        if value.__class__ is not np.ndarray:
            value = np.asarray(value)
        # Tensor.wrap(value) and OpNode(...) written out, field by field: it saves a call each, a
        # third of the time recording takes. A slot added to either class is set here too
        # (tests/test_engine/test_autograd.py checks that every slot is).
        out = _new(Tensor)
        out.array = value
        out.output_nr = 0
        out._grad = None
        out._retains_grad = False
        left = a if a.__class__ is Tensor and a._requires_grad else None
        right = b if b.__class__ is Tensor and b._requires_grad else None
        if (left is not None or right is not None) and _enabled.get():
            node = _new(OpNode)
            node._name = fixed_name or name_of(x0, y0, left, right)
            node.inputs = (left, right)
            node.sequence_nr = next_sequence_nr()
            node.retained = None
            node.vjps = vjps
            node.args = (x, y) if keeps_values else _NOTHING_KEPT
            node.kwargs = _NO_KWARGS
            node.out = value if keeps_values else None
            node.frees = frees
            out.grad_fn = node
            out._requires_grad = True
        else:
            out.grad_fn = None
            out._requires_grad = False
        return out

    return apply_op


_BINARY = {name: _binary(OPS[name]) for name in sorted(ARITHMETIC)}


def apply_binary(op: Op, a: Any, b: Any) -> Tensor:
    """`apply` for an arithmetic operator on two operands."""
    return _BINARY[op.name](a, b)


def _operator(name: str) -> tuple[Callable[[Any, Any], Tensor], Callable[[Any, Any], Tensor]]:
    """A Tensor's operator and its reflected twin (`t * 2` and `2 * t`)."""
    apply_op = _BINARY[name]

    def reflected(self: Any, other: Any) -> Tensor:
        return apply_op(other, self)

    return apply_op, reflected


def _comparison(name: str, ufunc: np.ufunc) -> Callable[[Any, Any], Any]:
    """A Tensor's `==`, `<`, ...: a bool tensor, element by element, recorded by no graph (PyTorch's
    comparisons have no gradient). `t == None` is False, as Python's default says."""

    def compare(self: Any, other: Any) -> Any:
        b = other.array if other.__class__ is Tensor else other
        if not isinstance(b, OPERANDS):
            return NotImplemented
        try:
            return Tensor.wrap(np.asarray(ufunc(self.array, b)))
        except ValueError as error:  # shapes that do not broadcast
            raise in_torch_words(name, (self.array, b), _NO_KWARGS, error) from None

    return compare


def _bitwise(name: str, ufunc: np.ufunc) -> tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any]]:
    """A Tensor's `&`, `|` or `^` and its reflected twin: of bool and integer tensors, as PyTorch's
    bitwise ops (`(x > 0) & (x < 1)`, a mask), recorded by no graph; floats are refused in its words."""

    def operate(a: Any, b: Any) -> Any:
        x = a.array if a.__class__ is Tensor else a
        y = b.array if b.__class__ is Tensor else b
        if not (isinstance(x, OPERANDS) and isinstance(y, OPERANDS)):
            return NotImplemented
        target = dtypes.result_type([x, y])
        if target.kind == "f":
            raise NotImplementedError(f"\"{name}_cpu\" not implemented for '{dtypes.BY_NUMPY[target].torch_name}'")
        try:
            return Tensor.wrap(np.asarray(ufunc(x, y, dtype=target)))
        except ValueError as error:  # shapes that do not broadcast
            raise in_torch_words(name, (x, y), _NO_KWARGS, error) from None

    def reflected(self: Any, other: Any) -> Any:
        return operate(other, self)

    return operate, reflected


def _bitwise_in_place(operate: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """`m &= other` (|=, ^=): the tensor itself, the result written into it, in its dtype (PyTorch's
    refusal where the result's would not cast to it: bool |= 1)."""

    def in_place(self: Any, other: Any) -> Any:
        result = operate(self, other)
        if result is NotImplemented:
            return result
        from engine.in_place import write_result  # engine.in_place builds on this module

        return write_result(self, result)

    return in_place


def _in_place(name: str) -> tuple[Callable[[Any, Any], Any], Callable[..., Any]]:
    """A Tensor's in-place operator and method (`t += 1` and `t.add_(1)`), in engine.in_place."""

    def operator(self: Any, other: Any) -> Any:
        from engine.in_place import in_place  # engine.in_place builds on this module

        return in_place(self, name, other, operator=True)

    def method(self: Any, other: Any, *, alpha: Any = 1) -> Any:
        from engine.in_place import in_place

        if alpha != 1:  # w.add_(g, alpha=-lr), as PyTorch's add_ and sub_ take it
            if name not in ("add", "sub"):
                raise TypeError(f"{name}_() got an unexpected keyword argument 'alpha'")
            other = other * alpha
        return in_place(self, name, other, operator=False)

    return operator, method


TO_SCALAR = (  # PyTorch's warning, once, for float() of a tensor that requires grad, and torch.tensor([it])
    "Converting a tensor with requires_grad=True to a scalar may lead to unexpected behavior.\n"
    "Consider using tensor.detach() first."
)


T_OF_0_D = "Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases."
T_OF_N_D = (
    "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is deprecated and it will throw "
    "an error in a future release. Consider `x.mT` to transpose batches of matrices or "
    "`x.permute(*torch.arange(x.ndim - 1, -1, -1))` to reverse the dimensions of a tensor."
)


_LEGACY_FORMS = (
    "(*, torch.device device = None), (torch.Storage storage), (Tensor other), "
    "(tuple of ints size, *, torch.device device = None), (object data, *, torch.device device = None)"
)


def _legacy(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Array:
    """What PyTorch's `torch.Tensor(...)` makes of its arguments: a copy of data of the default float
    dtype (a NumPy array's too, whatever its dtype), the data of another tensor, or zeros of a size."""
    from engine.creation import size_of  # engine.creation builds on this module

    device = kwargs.pop("device", None)
    if kwargs or (device is not None and len(args) == 1 and isinstance(args[0], Tensor)):
        given = ", ".join([*(type_name(a) for a in args), *(f"{k}={type_name(v)}" for k, v in kwargs.items())])
        raise TypeError(
            f"new() received an invalid combination of arguments - got ({given}), but expected one of: {_LEGACY_FORMS}"
        )
    devices.on_cpu(device)
    if not args:
        return np.zeros(0, dtypes.default_float())
    data = args[0]
    if len(args) == 1 and isinstance(data, Tensor):
        return data.array
    if len(args) == 1 and isinstance(data, Size):
        return np.zeros(size_of(tuple(data), "Tensor"), dtypes.default_float())
    if all(as_int(n) is not None for n in args):
        return np.zeros(size_of(args, "Tensor"), dtypes.default_float())
    if len(args) > 1:
        given = ", ".join(type_name(a) for a in args)
        raise TypeError(
            f"new() received an invalid combination of arguments - got ({given}), but expected one of: {_LEGACY_FORMS}"
        )
    if isinstance(data, np.ndarray):
        if data.dtype.kind not in "biuf":
            raise TypeError(
                f"can't convert np.ndarray of type numpy.{data.dtype.type.__name__}. The only supported types are: "
                "float64, float32, float16, complex64, complex128, int64, int32, int16, int8, uint64, uint32, uint16, "
                "uint8, and bool."
            )
        return data.astype(dtypes.default_float())  # a copy, as PyTorch's
    if isinstance(data, range):
        data = list(data)
    if not isinstance(data, list | tuple):
        raise TypeError(f"new(): data must be a sequence (got {type_name(data)})")
    return tensor(data, dtype=dtypes.BY_NUMPY[dtypes.default_float()]).array


class Tensor:
    """A multi-dimensional array that can record the operations done with it.

    Build tensors with `engine.tensor(...)`, and the engine's own with `Tensor.wrap(array)`, which
    takes a NumPy array as it is. `Tensor(...)` is PyTorch's legacy constructor: `Tensor([1, 2])`
    of the default float dtype (of a NumPy array too), `Tensor(2, 3)` of that size (zeros, where
    PyTorch leaves the memory as it was).
    """

    __slots__ = (
        "__weakref__",
        "_grad",
        "_requires_grad",
        "_retains_grad",
        "array",
        "grad_fn",
        "output_nr",
    )
    __array_ufunc__ = None  # NumPy defers to our operators: np.float64(2) * t is a Tensor

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.array = _legacy(args, kwargs)
        self._requires_grad = False
        self.grad_fn: Node | None = None
        self.output_nr = 0
        self._grad: Tensor | None = None
        self._retains_grad = False

    @classmethod
    def wrap(cls, array: Array, requires_grad: bool = False, grad_fn: Node | None = None, output_nr: int = 0) -> Tensor:
        """A tensor of `array` as it is, dtype and all: the engine's own constructor."""
        out = _new(cls)
        out.array = array
        out._requires_grad = requires_grad
        out.grad_fn = grad_fn
        out.output_nr = output_nr
        out._grad = None
        out._retains_grad = False
        return out

    # --- what autograd knows ----------------------------------------------------------

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self.grad_fn is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use "
                "a computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        if value and self.array.dtype.kind != "f":
            raise RuntimeError("only Tensors of floating point and complex dtype can require gradients")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.grad_fn is None and self.array.dtype.kind != "f":
            raise RuntimeError("only Tensors of floating point dtype can require gradients")  # PyTorch's words here
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def grad(self) -> Tensor | None:
        if self._grad is None and self.grad_fn is not None and not self._retains_grad:
            warnings.warn(NON_LEAF_GRAD, UserWarning, stacklevel=2)  # PyTorch's lesson in retain_grad
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None and not isinstance(value, Tensor):
            raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type {type_name(value)}")
        if value is self:
            raise RuntimeError("can't assign Variable as its own grad")
        if value is not None and value.shape != self.shape:
            raise RuntimeError(
                f"attempting to assign a gradient of size '{list(value.shape)}' to a tensor of size "
                f"'{list(self.shape)}'. Please ensure that the gradient and the tensor are the same size"
            )
        if value is not None and value.dtype != self.dtype:
            raise RuntimeError(
                f"attempting to assign a gradient with dtype '{value.dtype.torch_name.lower()}' to a tensor with "
                f"grad_dtype '{self.dtype.torch_name}'. The gradient must match the tensor's grad_dtype (defaults "
                "to the tensor's dtype)."
            )
        self._grad = value

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in `.grad` after backward."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is None or self._retains_grad:
            return
        if self.grad_fn.retained is None:
            self.grad_fn.retained = []
        self.grad_fn.retained.append(weakref.ref(self))
        self._retains_grad = True

    def backward(
        self,
        gradient: Tensor | Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Any = None,
    ) -> None:
        """Accumulate d(self · gradient)/d(leaf) into every leaf's `.grad` (or the `inputs`' alone)."""
        if create_graph:
            raise NotImplementedError("create_graph=True (higher-order gradients) is not supported")
        if inputs is not None:
            from engine.autograd import backward  # engine.autograd builds on this module

            backward(self, gradient, retain_graph, inputs=inputs)
            return
        if isinstance(gradient, list | tuple):  # one gradient for the one root, as PyTorch unpacks it
            if len(gradient) != 1 and all(isinstance(g, Tensor) for g in gradient):
                raise RuntimeError(f"got 1 tensors and {len(gradient)} gradients")
            gradient = gradient[0] if gradient else None  # [1.0, 1.0]: refused for its float, as PyTorch
        run_backward([(self, self._upstream(gradient))], retain_graph=bool(retain_graph))

    def _upstream(self, gradient: Tensor | Any) -> Array:
        if not self._requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        if gradient is None:
            if self.array.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            ones = np.empty(self.array.shape, self.array.dtype)
            ones.fill(1)
            return ones
        if not isinstance(gradient, Tensor):  # y.backward(2.0): PyTorch takes no numbers or arrays here
            raise TypeError(f"gradients can be either Tensors or None, but got {type(gradient).__name__}")
        array = gradient.array
        if array.shape != self.shape:
            raise RuntimeError(
                f"Mismatch in shape: grad_output[0] has a shape of torch.Size({list(array.shape)}) and "
                f"output[0] has a shape of torch.Size({list(self.shape)})."  # PyTorch's words, as mse_loss's
            )
        return array.astype(self.array.dtype, copy=False)

    def detach(self) -> Tensor:
        return Tensor.wrap(self.array)

    @property
    def data(self) -> Tensor:
        """The same values, cut from the graph (PyTorch's `.data`): an in-place op on it changes
        them, unseen by what saved this tensor, as in PyTorch (it counts its writes apart)."""
        return Tensor.wrap(with_own_counter(self.array))

    @data.setter
    def data(self, value: Tensor) -> None:
        from engine.in_place import set_data  # engine.in_place builds on this module

        set_data(self, value)

    # --- in place (engine.in_place) ---------------------------------------------------

    __iadd__, add_ = _in_place("add")
    __isub__, sub_ = _in_place("sub")
    __imul__, mul_ = _in_place("mul")
    __itruediv__, div_ = _in_place("div")

    def zero_(self) -> Tensor:
        from engine.in_place import zero

        return zero(self)

    def fill_(self, value: Any) -> Tensor:
        from engine.in_place import fill

        return fill(self, value)

    def copy_(self, other: Any, non_blocking: bool = False) -> Tensor:  # non_blocking: nothing to wait for here
        from engine.in_place import copy

        return copy(self, other)

    # --- what the array knows ---------------------------------------------------------

    @property
    def shape(self) -> Size:
        return Size(self.array.shape)

    def size(self, dim: int | None = None) -> Any:
        if dim is None:
            return Size(self.array.shape)
        dim = int_arg(dim, "size", "dim", 1)
        if not self.array.ndim:
            raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
        return self.array.shape[one_axis(dim, self.array.ndim)]

    @property
    def ndim(self) -> int:
        return self.array.ndim

    def dim(self) -> int:
        return self.array.ndim

    def numel(self) -> int:
        return int(self.array.size)

    nelement = numel

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        from engine import logic  # engine.logic builds on this module

        return logic.all(self, dim, keepdim)

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        from engine import logic

        return logic.any(self, dim, keepdim)

    @property
    def dtype(self) -> dtypes.dtype:
        return dtypes.BY_NUMPY[self.array.dtype]

    def numpy(self) -> Array:
        if self._requires_grad and _enabled.get():  # under no_grad PyTorch gives them, as here
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return self.array

    def item(self) -> Scalar:
        if self.array.size != 1:
            raise RuntimeError(f"a Tensor with {self.array.size} elements cannot be converted to Scalar")
        return self.array.item()

    def tolist(self) -> Any:
        return self.array.tolist()

    def __len__(self) -> int:
        if not self.array.ndim:
            raise TypeError("len() of a 0-d tensor")
        return len(self.array)

    def __contains__(self, element: Any) -> bool:
        # 2.0 in t: any element equal, as in PyTorch (iteration would compare rows, or fail on 0-d).
        if not isinstance(element, Tensor | int | float):
            raise RuntimeError(
                f"Tensor.__contains__ only supports Tensor or scalar, but you passed in a {type(element)}."
            )
        return bool(np.any(self.array == (element.array if isinstance(element, Tensor) else element)))

    def __iter__(self) -> Iterator[Tensor]:
        # Without it Python would index until an IndexError: list(tensor(5.)) would be [].
        if not self.array.ndim:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self.array)))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> Array:
        """np.array(t), np.asarray(t): the values, as PyTorch gives them (numpy()'s refusal included)."""
        if _converting.get():
            raise _TensorInside  # tensor() takes a tensor in a list otherwise: see there
        array = self.numpy()
        if copy:
            return array.astype(dtype if dtype is not None else array.dtype, copy=True)
        return array if dtype is None else array.astype(dtype, copy=False)

    def __format__(self, spec: str) -> str:
        # f"{loss:.4f}": a one-element 0-d tensor formats as its number, as in PyTorch.
        if self.array.ndim == 0:
            return format(self.array.item(), spec)
        return object.__format__(self, spec)

    def __abs__(self) -> Tensor:
        return apply(OPS["abs"], self)

    def __float__(self) -> float:
        if self._requires_grad and _enabled.get():
            notices.warn_once(TO_SCALAR)
        return float(self._scalar())

    def __index__(self) -> int:
        # range(t), items[t]: as PyTorch, for one integer only.
        if self.array.size != 1 or self.array.dtype.kind not in "iub":
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.array.item())

    def __int__(self) -> int:
        return int(self._scalar())

    def __bool__(self) -> bool:
        # Without it Python would ask __len__: bool(tensor([0.])) would be True.
        if self.array.size != 1:
            many = "no values" if self.array.size == 0 else "more than one value"
            raise RuntimeError(f"Boolean value of Tensor with {many} is ambiguous")
        return bool(self.array.item())

    def _scalar(self) -> Scalar:
        if self.array.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return self.array.item()

    def __repr__(self) -> str:
        return tensor_repr(
            self.array,
            requires_grad=self._requires_grad,
            grad_fn_name=self.grad_fn.name().rpartition("::")[2] if self.grad_fn is not None else None,
        )

    # --- operators --------------------------------------------------------------------

    __add__, __radd__ = _operator("add")
    __sub__, __rsub__ = _operator("sub")
    __mul__, __rmul__ = _operator("mul")
    __truediv__, __rtruediv__ = _operator("div")
    __pow__, __rpow__ = _operator("pow")

    __eq__ = _comparison("eq", np.equal)
    __ne__ = _comparison("ne", np.not_equal)
    __lt__ = _comparison("lt", np.less)
    __le__ = _comparison("le", np.less_equal)
    __gt__ = _comparison("gt", np.greater)
    __ge__ = _comparison("ge", np.greater_equal)
    __hash__ = object.__hash__  # by identity, as PyTorch's: tensors are keys of the backward's dicts
    __and__, __rand__ = _bitwise("bitwise_and", np.bitwise_and)
    __or__, __ror__ = _bitwise("bitwise_or", np.bitwise_or)
    __xor__, __rxor__ = _bitwise("bitwise_xor", np.bitwise_xor)
    __iand__, __ior__, __ixor__ = (_bitwise_in_place(operate) for operate in (__and__, __or__, __xor__))

    def __invert__(self) -> Tensor:
        if self.array.dtype.kind not in "biu":
            raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
        return Tensor.wrap(np.asarray(np.invert(self.array)))

    def __matmul__(self, other: Any) -> Tensor:
        # A number is no operand of @ in PyTorch: Python's own TypeError says so.
        return NotImplemented if isinstance(other, _SCALARS) else _BINARY["matmul"](self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return NotImplemented if isinstance(other, _SCALARS) else _BINARY["matmul"](other, self)

    def __neg__(self) -> Tensor:
        return apply(_NEG, self)

    def __pos__(self) -> Tensor:
        return self

    def __getitem__(self, index: Any) -> Tensor:
        return apply(_INDEX, self, index=_index_of(index))

    def __setitem__(self, index: Any, value: Any) -> None:
        from engine.in_place import set_item  # engine.in_place builds on this module

        set_item(self, _index_of(index), value)

    def clone(self) -> Tensor:
        return apply(OPS["clone"], self)

    # --- methods, with PyTorch's keyword names accepted too --------------------------

    def sum(self, axis: Any = UNSET, keepdims: bool = False, *, dim: Any = UNSET, keepdim: bool = False) -> Tensor:
        if axis is UNSET and dim is UNSET and not keepdims and not keepdim:
            return apply(_SUM, self)  # the usual root of a graph: no arguments to sort out
        return apply(_SUM, self, **reduce_args(axis, keepdims, dim, keepdim))

    def mean(self, axis: Any = UNSET, keepdims: bool = False, *, dim: Any = UNSET, keepdim: bool = False) -> Tensor:
        return apply(OPS["mean"], self, **reduce_args(axis, keepdims, dim, keepdim))

    def amax(self, axis: Any = UNSET, keepdims: bool = False, *, dim: Any = UNSET, keepdim: bool = False) -> Tensor:
        return apply(OPS["max"], self, **reduce_args(axis, keepdims, dim, keepdim))

    def amin(self, axis: Any = UNSET, keepdims: bool = False, *, dim: Any = UNSET, keepdim: bool = False) -> Tensor:
        return apply(OPS["min"], self, **reduce_args(axis, keepdims, dim, keepdim))

    def var(self, *args: Any, **kwargs: Any) -> Tensor:
        """engine.var of this tensor: x.var(dim, unbiased, keepdim) or x.var(dim, correction=...)."""
        from engine.functional import var  # engine.functional builds on this module

        return var(self, *args, **kwargs)

    def std(self, *args: Any, **kwargs: Any) -> Tensor:
        """engine.std of this tensor, with var's arguments."""
        from engine.functional import std

        return std(self, *args, **kwargs)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:
        from engine.functional import clamp

        return clamp(self, min, max)

    clip = clamp

    def clamp_min(self, min: Any) -> Tensor:
        out = self.clamp(min=min)
        if out.grad_fn is not None:
            out.grad_fn._name = "ClampMinBackward0"
        return out

    def clamp_max(self, max: Any) -> Tensor:
        out = self.clamp(max=max)
        if out.grad_fn is not None:
            out.grad_fn._name = "ClampMaxBackward0"
        return out

    def max(self, dim: Any = UNSET, keepdim: bool = False, *, axis: Any = UNSET, keepdims: bool = False) -> Any:
        from engine.extremes import extreme  # engine.extremes builds on this module

        return extreme("max", self, dim, keepdim, axis, keepdims)

    def min(self, dim: Any = UNSET, keepdim: bool = False, *, axis: Any = UNSET, keepdims: bool = False) -> Any:
        from engine.extremes import extreme

        return extreme("min", self, dim, keepdim, axis, keepdims)

    def argmax(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        from engine.extremes import arg_extreme

        return arg_extreme("argmax", self, dim, keepdim)

    def argmin(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        from engine.extremes import arg_extreme

        return arg_extreme("argmin", self, dim, keepdim)

    def reshape(self, *shape: Any) -> Tensor:
        return apply(OPS["reshape"], self, shape=int_tuple(_one_or_many(shape), "reshape", "shape", 1))

    def view(self, *shape: Any) -> Tensor:
        from engine.shapes import view  # engine.shapes builds on this module

        return view(self, int_tuple(_one_or_many(shape), "view", "size", 1))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        from engine.shapes import flatten

        return flatten(self, start_dim, end_dim)

    def squeeze(self, dim: Any = UNSET) -> Tensor:
        from engine.shapes import squeeze

        return squeeze(self, dim)

    def unsqueeze(self, dim: int = UNSET) -> Tensor:
        from engine.shapes import unsqueeze

        return unsqueeze(self, dim)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """dim0 and dim1 swapped, as torch.Tensor.transpose (engine.transpose permutes, as NumPy)."""
        first = one_axis(int_arg(dim0, "transpose", "dim0", 1), self.ndim)
        second = one_axis(int_arg(dim1, "transpose", "dim1", 2), self.ndim)
        order = list(range(self.ndim))
        if self.ndim:
            order[first], order[second] = order[second], order[first]
        out = apply(OPS["transpose"], self, axes=tuple(order))
        if out.grad_fn is not None:
            out.grad_fn._name = "TransposeBackward0"
        return out

    def permute(self, *dims: Any) -> Tensor:
        # NumPy takes negative dims too; what it refuses is told in PyTorch's words (torch_words).
        return apply(OPS["transpose"], self, axes=int_tuple(_one_or_many(dims), "permute", "dims", 1))

    @property
    def T(self) -> Tensor:
        if self.array.ndim != 2:  # PyTorch's deprecation, once a process as there
            notices.warn_once(T_OF_0_D if self.array.ndim == 0 else T_OF_N_D)
        return apply(OPS["transpose"], self)

    def exp(self) -> Tensor:
        return apply(OPS["exp"], self)

    def log(self) -> Tensor:
        return apply(OPS["log"], self)

    def sqrt(self) -> Tensor:
        return apply(OPS["sqrt"], self)

    def abs(self) -> Tensor:
        return apply(OPS["abs"], self)

    def sin(self) -> Tensor:
        return apply(OPS["sin"], self)

    def cos(self) -> Tensor:
        return apply(OPS["cos"], self)

    def tanh(self) -> Tensor:
        return apply(OPS["tanh"], self)

    def sigmoid(self) -> Tensor:
        return apply(OPS["sigmoid"], self)

    def log1p(self) -> Tensor:
        return apply(OPS["log1p"], self)

    def expm1(self) -> Tensor:
        return apply(OPS["expm1"], self)

    def log2(self) -> Tensor:
        return apply(OPS["log2"], self)

    def log10(self) -> Tensor:
        return apply(OPS["log10"], self)

    def tan(self) -> Tensor:
        return apply(OPS["tan"], self)

    def sign(self) -> Tensor:
        return apply(OPS["sign"], self)

    def relu(self) -> Tensor:
        return apply(OPS["relu"], self)

    def softmax(self, axis: int = UNSET, *, dim: int = UNSET) -> Tensor:
        return apply(OPS["softmax"], self, axis=along(axis, dim, "softmax", 1, required=True))

    def log_softmax(self, axis: int = UNSET, *, dim: int = UNSET) -> Tensor:
        return apply(OPS["log_softmax"], self, axis=along(axis, dim, "log_softmax", 1, required=True))

    def logsumexp(
        self, axis: Any = UNSET, keepdims: bool = False, *, dim: Any = UNSET, keepdim: bool = False
    ) -> Tensor:
        return apply(OPS["logsumexp"], self, **reduce_args(axis, keepdims, dim, keepdim))

    def broadcast_to(self, shape: Any) -> Tensor:
        return apply(OPS["broadcast_to"], self, shape=int_tuple(shape, "broadcast_to", "shape", 1))

    def expand(self, *sizes: Any) -> Tensor:
        return apply(OPS["broadcast_to"], self, shape=int_tuple(_one_or_many(sizes), "expand", "size", 1))

    # Conversions, and the one device (engine.conversions)
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        from engine.conversions import to  # engine.conversions builds on this module

        return to(self, *args, **kwargs)

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def long(self) -> Tensor:
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        return self.to(dtypes.int32)

    def bool(self) -> Tensor:
        return self.to(dtypes.bool_)

    def cpu(self) -> Tensor:
        return self

    def cuda(self, *args: Any, **kwargs: Any) -> Tensor:
        raise AssertionError(devices.NO_CUDA)

    @property
    def device(self) -> devices.device:
        return devices.CPU

    def t(self) -> Tensor:
        from engine.conversions import transposed

        return transposed(self)

    # The operators as methods, as PyTorch has them: what they refuse, Python's TypeError says.
    def add(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return self + (other if alpha == 1 else other * alpha)

    def sub(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return self - (other if alpha == 1 else other * alpha)

    def mul(self, other: Any) -> Tensor:
        return self * other

    def div(self, other: Any) -> Tensor:
        return self / other

    def pow(self, exponent: Any) -> Tensor:
        return self**exponent

    def matmul(self, other: Any) -> Tensor:
        return self @ other

    def neg(self) -> Tensor:
        return -self

    def maximum(self, other: Any) -> Tensor:
        return apply(OPS["maximum"], self, other)

    def minimum(self, other: Any) -> Tensor:
        return apply(OPS["minimum"], self, other)


def _one_or_many(given: tuple[Any, ...]) -> Any:
    """x.reshape(2, 3) as x.reshape((2, 3)): one argument that is not an integer is the whole."""
    return given[0] if len(given) == 1 and as_int(given[0]) is None else given


def reduce_args(axis: Any, keepdims: bool, dim: Any = UNSET, keepdim: bool = False) -> dict[str, Any]:
    """A reduction's keyword arguments, with PyTorch's names accepted too. Only what was given:
    x.sum() and x.sum(dim=None) are different overloads in PyTorch (SumBackward0 and 1)."""
    given = axis is not UNSET or dim is not UNSET
    axis = dim if axis is UNSET else axis
    axis = None if axis is UNSET else tuple(map(_as_dim, axis)) if isinstance(axis, list | tuple) else _as_dim(axis)
    keep = bool(keepdims or keepdim)
    return {"axis": axis, "keepdims": keep} if given or keep else {}


def along(axis: int, dim: int, function: str, position: int, required: bool = False) -> int:
    """softmax's axis, with PyTorch's name dim accepted too; the last one unless given, or
    `required`, as Tensor.softmax requires it. An int, NumPy's too, as PyTorch's argument parser
    takes it (`position`: where it stands in the call)."""
    if axis is UNSET and dim is UNSET and required:
        raise TypeError(f'{function}() missing 1 required positional arguments: "dim"')
    return int_arg(_as_dim(axis if axis is not UNSET else dim if dim is not UNSET else -1), function, "dim", position)


def _as_dim(dim: Any) -> Any:
    """A dim given as a one-integer tensor (x.sum(torch.tensor(0))) or a NumPy integer, as its integer,
    as PyTorch takes it."""
    return dim.__index__() if isinstance(dim, Tensor | np.integer) else dim


COPY_CONSTRUCT = (
    "To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
    "sourceTensor.detach().clone().requires_grad_(True), rather than torch.tensor(sourceTensor)."
)
LIST_AS_TUPLE = (
    "Using a non-tuple sequence for multidimensional indexing is deprecated and will be changed in pytorch 2.9; use "
    "x[tuple(seq)] instead of x[seq]. In pytorch 2.9 this will be interpreted as tensor index, x[torch.tensor(seq)], "
    "which will result either in an error or a different result"
)


def _in_a_tuple(part: Any) -> bool:
    """Whether a list holding `part` is read as a tuple of indices, as PyTorch 2.13 still reads it."""
    return isinstance(part, Tensor | list | tuple | np.ndarray | slice) or part is None or part is Ellipsis


def _index_of(index: Any) -> Any:
    """An index as NumPy takes it: integers, slices, None and ... as they are; index tensors and
    lists of integers or bools as arrays (NumPy's advanced indexing, PyTorch's too), a 0-d
    integer tensor as its integer (PyTorch selects with it). Refused in PyTorch's words."""
    if index.__class__ is list and len(index) < 32 and any(_in_a_tuple(part) for part in index):
        notices.warn(LIST_AS_TUPLE)  # x[[[0, 1], [1, 2]]] is x[[0, 1], [1, 2]], as NumPy once had it
        index = tuple(index)
    parts = index if isinstance(index, tuple) else (index,)
    if all(p.__class__ is int or (p.__class__ is slice and (p.step is None or p.step > 0)) for p in parts):
        return index  # the usual case, quickly: integers and slices
    taken = []
    for part in parts:
        if isinstance(part, Tensor | list | tuple | range | np.ndarray):  # logp[range(N), labels]
            array = part.array if isinstance(part, Tensor) else np.asarray(part)
            if array.size == 0 and not isinstance(part, Tensor):
                array = array.astype(np.int64)  # x[[]]: nothing selected
            if array.dtype.kind not in "iub":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            part = int(array) if array.ndim == 0 and array.dtype.kind != "b" else array
        elif isinstance(part, bool | np.bool_):  # x[True]: a new axis of the one element, as a 0-d mask
            part = np.array(part)
        elif isinstance(part, np.integer):
            part = int(part)
        elif not isinstance(part, int | slice | type(None) | type(Ellipsis)):
            raise IndexError(
                "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices "
                f"(got {type(part).__name__})"
            )
        elif isinstance(part, slice) and part.step is not None and part.step <= 0:  # PyTorch has no reversed views
            raise ValueError("slice step cannot be zero" if part.step == 0 else "step must be greater than zero")
        taken.append(part)
    return tuple(taken) if isinstance(index, tuple) else taken[0]


def wrapped_number(number: Any, others: Any) -> Any:
    """A Python number given to a function, as PyTorch's functions take it (torch.div(1.7, y)):
    a 0-d tensor; a float in the dtype of the first floating tensor among `others`, so that it
    counts as a number counts (a float64 y divides 1.7, not float32's 1.7); anything else as it is."""
    if number.__class__ is not float:
        return tensor(number) if isinstance(number, int) else number
    like = next((t for t in others if isinstance(t, Tensor) and t.array.dtype.kind == "f"), None)
    return tensor(number) if like is None else Tensor.wrap(np.array(number, like.array.dtype))


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor from a number, a nested list or an array (copied)."""
    if device is not None:
        devices.on_cpu(device)
    if isinstance(data, Tensor):
        notices.warn(COPY_CONSTRUCT)
        data = data.array
    elif dtype is None and data.__class__ is list and _FLOATS_ONLY.issuperset(map(type, data)) and data:
        out = Tensor.wrap(np.array(data, dtypes.default_float()))  # [1.0, 2.0, 3.0]: the usual case, in one conversion
        out._requires_grad = bool(requires_grad)
        return out
    from_numpy = isinstance(data, np.ndarray | np.generic)
    token = _converting.set(True)
    try:
        array = np.array(data)
    except _TensorInside:  # torch.tensor([loss_1, loss_2]): NumPy's walk met a tensor
        data, dtype = _without_tensors(data, dtype)
        array = np.array(data)
    except ValueError as error:
        raise ValueError(f"expected a rectangular nested list of numbers: {error}") from None
    finally:
        _converting.reset(token)
    if dtype is not None:
        target = dtypes.to_numpy_dtype(dtype, "tensor")
        if target == np.int32 and array.size and array.dtype.kind in "iuf" and not _fits_int32(array):
            raise RuntimeError("value cannot be converted to type int32 without overflow")
        array = array.astype(target)
    elif array.dtype.kind == "f":
        if not from_numpy and array.dtype == np.float64 and _holds_float64(data):
            pass  # [np.float64(2.5), 1.0]: a NumPy number's dtype counts, as torch.tensor infers it
        elif not (from_numpy and array.dtype in dtypes.BY_NUMPY):
            array = array.astype(dtypes.default_float())
    elif array.dtype.kind in "iu" or (array.dtype.kind == "O" and all(type(n) is int for n in array.flat)):
        if not from_numpy and (array.dtype.kind != "i" or array.dtype.itemsize > 8):  # Python ints past int64
            raise ValueError("Overflow when unpacking long long")
        if array.dtype != np.int32:  # int32 data (a tensor's, NumPy's) stays int32, as in PyTorch
            array = array.astype(np.int64)
    elif array.dtype.kind != "b":
        raise TypeError(f"can't convert {array.dtype} data to a tensor: use numbers")
    return leaf(array, requires_grad)


def _fits_int32(array: Array) -> bool:
    with np.errstate(invalid="ignore"):  # NaN fits nowhere; its cast is NumPy's to make
        return bool(np.min(array) >= -(2**31) and np.max(array) <= 2**31 - 1) or bool(np.isnan(array).any())


def leaf(array: Array, requires_grad: Any) -> Tensor:
    """A new leaf holding `array`, as PyTorch's factories make one (tensor, zeros, arange...)."""
    if requires_grad and array.dtype.kind != "f":  # the factories' words, capitalized
        raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
    out = Tensor.wrap(array)
    out.requires_grad = requires_grad
    return out


_FLOATS_ONLY = frozenset({float})
# Set while tensor() converts a list: a tensor in it then says so (__array__), rather than give
# NumPy its values, which would stack a tensor of several and infer the dtype without its.
_converting: ContextVar[bool] = ContextVar("converting", default=False)


class _TensorInside(Exception):
    pass


def _holds_float64(data: Any) -> bool:
    """Whether a list holds NumPy float64 numbers or arrays at its top level (where a list of
    losses has them), which torch.tensor keeps in float64."""
    if not isinstance(data, list | tuple) or not data or data[0].__class__ in (list, tuple):
        return False  # a number, or rows of a nested list: no NumPy number at the top
    return any(isinstance(item, np.generic | np.ndarray) and item.dtype == np.float64 for item in data)


def _without_tensors(data: Any, dtype: Any) -> tuple[Any, Any]:
    """Nested lists with each one-element tensor in them replaced by its number, as
    torch.tensor([loss_1, loss_2]) takes them, and the dtype, inferred with theirs if not given."""
    found: list[np.dtype[Any]] = []
    data = _numbers_of(data, found)
    if dtype is None:
        inferred = _natural_dtype(data)
        for each in found:
            inferred = dtypes.promote_types(inferred, each) or inferred
        dtype = dtypes.BY_NUMPY[inferred]
    return data, dtype


def _numbers_of(data: Any, found: list[np.dtype[Any]]) -> Any:
    """Nested lists with each tensor in them replaced by its one number, its dtype into `found`."""
    if isinstance(data, Tensor):
        if data.array.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        if data._requires_grad:
            notices.warn_once(TO_SCALAR)
        found.append(data.array.dtype)
        return data.array.item()
    if isinstance(data, list | tuple):
        return [_numbers_of(part, found) for part in data]
    return data


def _natural_dtype(numbers: Any) -> np.dtype[Any]:
    """The dtype torch.tensor gives these Python numbers: bool, int64 or the default float."""
    kind = np.array(numbers).dtype.kind
    return dtypes.default_float() if kind == "f" else np.dtype(np.bool_ if kind == "b" else np.int64)
