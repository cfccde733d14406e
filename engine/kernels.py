"""How some lines of the op table are computed: NumPy written for PyTorch's answers at the
edges (NaN, inf, -0.0, empty axes, bools) or for speed where the plain formula is slow. The
table in engine.ops says what each op computes; these say how."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from engine import dtypes, notices

Array = np.ndarray[Any, Any]
Axis = int | tuple[int, ...] | None


# From this many numbers on, a sum along an axis other than the last is taken pairwise, as NumPy
# takes the last axis's and PyTorch every one: NumPy adds the others' slices one after another,
# and 10^5 float32 rows of a bias's gradient came to 95 ulps off PyTorch's sum. Below, one after
# another is a few ulps off at most, and quicker (a batch of 64 rows: 3 µs, against 8).
PAIRWISE_FROM = 256


def add_reduce(a: Array, axis: Axis = None, keepdims: Any = False) -> Array:  # a bool: NumPy types it as a literal
    """np.add.reduce(a, axis, keepdims=keepdims), pairwise along every axis summed."""
    if (
        axis is None  # all of it: pairwise already
        or a.dtype.kind != "f"  # integers: exact in any order
        or (
            axis.__class__ is int
            and -a.ndim <= axis < a.ndim
            and (axis % a.ndim == a.ndim - 1 or a.shape[axis] < PAIRWISE_FROM)
        )
    ):
        return np.add.reduce(a, axis=axis, keepdims=keepdims)
    axes = normalize_axis_tuple(axis, a.ndim)
    last = a.ndim - 1
    others = [i for i in axes if i != last]
    if len(axes) == a.ndim or math.prod(a.shape[i] for i in others) < PAIRWISE_FROM:
        return np.add.reduce(a, axis=axis, keepdims=keepdims)  # pairwise already (all of it), or short
    total = np.add.reduce(a, axis=-1, keepdims=True) if last in axes else a
    for i in others:
        total = _pairwise_along(total, i)
    return total if keepdims else total.reshape([n for i, n in enumerate(a.shape) if i not in axes])


def _pairwise_along(a: Array, axis: int) -> Array:
    """The sum along one axis, kept as an axis of 1: halves added together until 8 are left."""
    a = a.swapaxes(0, axis)
    while len(a) > 8:
        half = len(a) // 2
        summed = a[:half] + a[half : 2 * half]
        if len(a) % 2:
            summed[0] += a[-1]
        a = summed
    return np.add.reduce(a, axis=0, keepdims=True).swapaxes(0, axis)


def max_along(a: Array, axis: Axis) -> Array:
    """np.max(a, axis, keepdims=True), NaN winning as there (a zero or a NaN may come back
    with the other sign). Along the last axis, through argmax and a gather: NumPy's max
    reduction is about twice as slow on short rows (5.6 µs for 64 rows of 10 against 2.6 µs)."""
    last = a.ndim - 1
    if a.size == 0 or a.ndim == 0 or axis not in (-1, last, (-1,), (last,)):
        return np.max(a, axis=axis, keepdims=True, initial=-np.inf)  # -inf along an empty axis
    rows = a.reshape(-1, a.shape[-1])
    return rows[np.arange(len(rows)), rows.argmax(axis=1)].reshape(*a.shape[:-1], 1)


def shifted_by_max(a: Array, axis: Axis) -> Array:
    """a minus its maximum along the axis, the stable start of a log-softmax. A row whose
    maximum is not finite (an inf or a NaN in it, or all -inf) has no log-softmax: it is NaN
    all along, as in PyTorch, and without NumPy's warnings about inf - inf."""
    m = max_along(a, axis)
    finite = np.isfinite(m)
    if np.logical_and.reduce(finite, axis=None):  # finite.all() without its Python layer
        return a - m
    return np.where(finite, a - np.where(finite, m, 0), np.nan)


def logsumexp(a: Array, axis: Axis = None, keepdims: bool = False) -> Array:
    m = np.max(a, axis=axis, keepdims=True, initial=-np.inf)  # along an empty axis: log 0 = -inf
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):  # log 0, along an empty axis
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)  # every axis, for axis None


def log_softmax(a: Array, axis: int) -> Array:
    # (a - max) - log Σ exp(a - max), rounded as PyTorch rounds it.
    shifted = shifted_by_max(a, axis)
    if shifted.size == 0:
        return shifted  # nothing to normalize, and no log of an empty sum
    return shifted - np.log(np.add.reduce(np.exp(shifted), axis=axis, keepdims=True))


def softmax(a: Array, axis: int) -> Array:
    e = np.exp(a - max_along(a, axis))
    e /= np.add.reduce(e, axis=axis, keepdims=True)
    return e


def _check_labels(logits: Array, target: Array) -> None:
    if target.dtype.kind in "bi" and target.dtype != np.int64:  # PyTorch's Long or Byte alone
        name = dtypes.BY_NUMPY[target.dtype].torch_name
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {name}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy expects int64 class labels, got {target.dtype}")
    classes = logits.shape[1 if logits.ndim > 1 else -1] if logits.ndim else 0
    # PyTorch's words for the shapes it refuses too.
    if logits.ndim > 2:
        _check_spatial_labels(logits, target)
    elif logits.ndim == 2 and target.ndim == 2:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if logits.ndim == 2 and target.ndim < 2 and target.size != logits.shape[0]:
        batch = target.shape[0] if target.ndim else 0
        raise ValueError(f"Expected input batch_size ({logits.shape[0]}) to match target batch_size ({batch}).")
    if logits.ndim == 1 and target.ndim == 1 and target.size != 1:
        raise ValueError(f"For 1D input, 1D target must have size 1, but got target size: {target.size}")
    if logits.ndim == 0 or (logits.ndim <= 2 and target.shape != logits.shape[:-1]):
        raise ValueError(
            f"cross_entropy expects logits of shape (N, C) with labels of shape (N,), (C,) with a 0-d label, "
            f"or (N, C, d1, ...) with labels (N, d1, ...); got {list(logits.shape)} and {list(target.shape)}"
        )
    # One reduction finds both kinds of bad label: a negative one read as unsigned is huge.
    unsigned = target.view(np.uint64) if target.dtype == np.int64 else target.astype(np.uint64)
    if target.size and np.maximum.reduce(unsigned, axis=None) >= classes:
        bad = target[((target < 0) & (target != IGNORED)) | (target >= classes)]
        if bad.size:
            raise IndexError(f"Target {int(bad.flat[0])} is out of bounds.")


def _check_spatial_labels(logits: Array, target: Array) -> None:
    """PyTorch's K-dimensional loss: logits (N, C, d1, ...) with labels (N, d1, ...), each refusal
    in its words (the 4-d case has a kernel, and words, of its own)."""
    expected = [logits.shape[0], *logits.shape[2:]]
    if target.ndim and target.shape[0] != logits.shape[0]:
        raise ValueError(
            f"Expected input batch_size ({logits.shape[0]}) to match target batch_size ({target.shape[0]})."
        )
    if logits.ndim == 4 and target.ndim != 3:
        raise RuntimeError(
            f"only batches of spatial targets supported (3D tensors) but got targets of dimension: {target.ndim}"
        )
    if logits.ndim == 4 and list(target.shape) != expected:
        raise RuntimeError(f"size mismatch (got input: {list(logits.shape)} , target: {list(target.shape)}")
    if list(target.shape) != expected:
        raise RuntimeError(f"Expected target size {expected}, got {list(target.shape)}")


def _classes_last(logits: Array, target: Array) -> tuple[Array, Array]:
    """K-dimensional logits (N, C, d1, ...) as rows of C, one for each label of (N, d1, ...)."""
    if logits.ndim <= 2:
        return logits, target
    return np.moveaxis(logits, 1, -1).reshape(-1, logits.shape[1]), target.reshape(-1)


def _labelled(a: Array, target: Array) -> Any:
    # Where each row's labelled element a[i, target[i]] (or a[target], for one row) is in
    # a.reshape(-1), for a C-contiguous a: one flat index is quicker than a pair (1 µs).
    return np.arange(0, a.size, a.shape[-1]) + target.astype(np.intp, copy=False) if a.ndim == 2 else target


# PyTorch's default ignore_index: a row labelled so counts for nothing, in the loss, in its mean
# and in the gradient (all rows so: NaN, 0/0).
IGNORED = -100


def _counted(target: Array) -> tuple[Array, int, Array | None]:
    """The labels with the ignored ones made 0 (any class will do), how many count, and which
    rows do (None: all of them)."""
    if target.size == 0 or np.minimum.reduce(target, axis=None) != IGNORED:
        return target, target.size, None
    kept = target != IGNORED
    return np.where(kept, target, 0), int(np.count_nonzero(kept)), kept


def cross_entropy(logits: Array, target: Array) -> tuple[Any, Array]:
    """The mean loss, and the softmax of the logits, which is what its rule needs (as rows of C)."""
    _check_labels(logits, target)
    logits, target = _classes_last(logits, target)
    target, count, kept = _counted(target)
    shifted = shifted_by_max(logits, -1)
    p = np.exp(shifted)
    total = np.add.reduce(p, axis=-1, keepdims=True)
    losses = np.log(total[..., 0]) - shifted.reshape(-1)[_labelled(shifted, target)]  # shifted is new
    p /= total
    if kept is not None:
        losses = np.where(kept, losses, 0.0).astype(losses.dtype)
    total = np.add.reduce(losses, axis=None)
    return (total / count if count else total * np.nan), p  # the mean, as ndarray.mean rounds it


def cross_entropy_vjp(g: Array, p: Array, logits: Array, target: Array) -> Array:
    _, target = _classes_last(logits, target)
    target, count, kept = _counted(target)
    grad = p.copy()  # p stays as it is for another backward (retain_graph)
    grad.reshape(-1)[_labelled(grad, target)] -= 1
    grad *= g / max(count, 1)
    if kept is not None:
        grad[~kept] = 0  # rows, or the one row when kept is 0-d
    if logits.ndim > 2:  # the rows of C back in place, along axis 1
        grad = np.moveaxis(grad.reshape(*np.moveaxis(logits, 1, -1).shape), -1, 1)
    return grad


_BITS: dict[np.dtype[Any], np.dtype[Any]] = {
    np.dtype(np.float32): np.dtype(np.uint32),
    np.dtype(np.float64): np.dtype(np.uint64),
}


def mse_loss(a: Array, b: Array) -> Array:
    """The mean of (a - b)², with PyTorch's warning when b's shape is not a's: broadcasting
    a prediction of shape (N, 1) against targets of shape (N,) compares every pair."""
    if np.shape(a) != np.shape(b):
        notices.warn(
            f"Using a target size (torch.Size({list(np.shape(b))})) that is different to the input size "
            f"(torch.Size({list(np.shape(a))})). This will likely lead to incorrect results due to "
            "broadcasting. Please ensure they have the same size."
        )
    squares = (a - b) ** 2
    # np.mean's sum and division, without its "Mean of empty slice" for no elements (NaN, as PyTorch says nothing)
    return np.add.reduce(squares, axis=None) / squares.size


def centered(a: Array, axis: Axis) -> Array:
    """a less its mean along the axes (all of them for None), as an array of a's shape. Taken
    from the data less its first element along the axes, so that equal elements come out 0
    exactly (std 0, as PyTorch's), however their sum rounds, and large ones keep their digits."""
    if a.size:
        axes = range(a.ndim) if axis is None else normalize_axis_tuple(axis, a.ndim)
        a = a - a[tuple(slice(0, 1) if i in axes else slice(None) for i in range(a.ndim))]
    return a - add_reduce(a, axis, keepdims=True) / reduced_count(a.shape, axis)


def reduced_count(shape: tuple[int, ...], axis: Axis) -> int:
    """How many elements go into each answer of a reduction along the axes (all for None)."""
    return math.prod(shape if axis is None else [shape[i] for i in normalize_axis_tuple(axis, len(shape))])


def variance(a: Array, axis: Axis = None, keepdims: bool = False, correction: float = 1) -> Array:
    """Σ (a - mean)² / (n - correction), PyTorch's var: unbiased unless told (correction=0); inf or
    NaN, with PyTorch's warning, where the correction leaves no degrees of freedom (one element).
    A float32 one is computed in float64 and rounded once: equal to PyTorch's in 99 % of 4,800
    values tried, an ulp apart in the others, and nearer the truth where the values are large
    beside their spread (seven near 10^6: 0.0474330 exactly, PyTorch 0.0475260)."""
    return _in_float64(a, _variance(a, axis, keepdims, correction, "var"))


def standard_deviation(a: Array, axis: Axis = None, keepdims: bool = False, correction: float = 1) -> Array:
    return _in_float64(a, np.sqrt(_variance(a, axis, keepdims, correction, "std")))


def _variance(a: Array, axis: Axis, keepdims: bool, correction: float, name: str) -> Array:
    divisor = max(reduced_count(a.shape, axis) - correction, 0)
    if divisor == 0:
        notices.warn(
            f"{name}(): degrees of freedom is <= 0. Correction should be strictly less than the reduction factor "
            "(input numel divided by output numel)."
        )
    d = centered(a.astype(np.float64) if a.dtype == np.float32 else a, axis)
    return add_reduce(d * d, axis, keepdims) / divisor


def _in_float64(a: Array, value: Array) -> Array:
    """A float32 a's answer, computed in float64, rounded to float32 once."""
    return value.astype(a.dtype) if a.dtype == np.float32 else value


def softplus(a: Array, beta: float = 1, threshold: float = 20) -> Array:
    """log(1 + exp(beta·a))/beta, and a itself where beta·a > threshold, as PyTorch computes it."""
    scaled = a * beta
    return np.where(scaled > threshold, a, np.log1p(np.exp(scaled)) / beta)


def softplus_vjp(g: Array, y: Array, a: Array, beta: float = 1, threshold: float = 20) -> Array:
    scaled = a * beta
    z = np.exp(scaled)
    return np.where(scaled > threshold, g, g * z / (z + 1))


def clamp(a: Array, min: Any = None, max: Any = None) -> Array:
    """torch.clamp with numbers for bounds: NaN stays NaN, and a min above max gives max everywhere.
    An integer tensor clamped by a float is of the default float dtype, as in PyTorch."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if a.dtype.kind != "f" and any(isinstance(b, float) for b in (min, max)):
        a = a.astype(dtypes.default_float())
    # max(a, min) then min(that, max), each keeping a where they are equal: -0.0 at a bound of 0
    # stays -0.0, as in PyTorch (np.clip gives 0.0); NaN stays NaN.
    out = a if min is None else np.where(a < min, min, a)
    return out if max is None else np.where(out > max, max, out)


def clamp_vjp(g: Array, y: Array, a: Array, min: Any = None, max: Any = None) -> Array:
    """g where clamp let a through, its bounds included (PyTorch's gradient of 1 there), else 0."""
    through = a >= min if min is not None else a <= max
    if min is not None and max is not None:
        through &= a <= max
    return np.where(through, g, 0)


Selected = tuple[Array, tuple[int, ...]]  # the indices of torch.max(a, dim), and a's shape


def extreme_along(a: Array, axis: tuple[int] | None, keepdims: bool, pick: Any) -> tuple[Array, Selected]:
    """torch.max(a, dim) (pick np.argmax) or torch.min (np.argmin): the values, and the index of
    the first extreme along the one axis (a NaN first of all) with a's shape, what the rule reads
    (as PyTorch saves them, not a); `axis` None for a 0-d tensor."""
    if axis is None:
        return a.copy(), (np.zeros((), np.int64), a.shape)
    (k,) = axis
    indices = np.expand_dims(pick(a, axis=k), k)
    values = np.take_along_axis(a, indices, axis=k)
    return (values, (indices, a.shape)) if keepdims else (values.squeeze(k), (indices.squeeze(k), a.shape))


def selected_vjp(
    g: Array, selected: Selected, a: Array, axis: tuple[int] | None = None, keepdims: bool = False
) -> Array:
    """The gradient of torch.max(a, dim): g at the index each value came from, 0 elsewhere."""
    indices, shape = selected
    out = np.zeros(shape, g.dtype)
    if axis is None:
        out[...] = g
        return out
    (k,) = axis
    if not keepdims:
        g, indices = np.expand_dims(g, k), np.expand_dims(indices, k)
    np.put_along_axis(out, indices, g, axis=k)
    return out


def evenly_vjp(g: Array, y: Array, a: Array) -> Array:
    """The gradient of torch.max(a) with no dim: g shared by the elements equal to the extreme
    (the NaNs, if it is NaN), 0 elsewhere whatever g is (PyTorch's evenly_distribute_backward)."""
    hit = np.isnan(a) if np.isnan(y) else a == y
    out = np.zeros(a.shape, g.dtype)
    out[hit] = g / np.count_nonzero(hit)
    return out


def absolute(a: Array) -> Array:
    if a.dtype == np.bool_:
        raise NotImplementedError("\"abs_cpu\" not implemented for 'Bool'")
    return np.abs(a)


def relu(a: Array) -> Array:
    if a.dtype == np.bool_:
        raise RuntimeError("Boolean inputs not supported for relu")
    # 0 first: on a tie NumPy answers the second operand, so relu(-0.0) is -0.0, as in PyTorch.
    return np.maximum(0, a)


def relu_vjp(g: Array, y: Array, a: Array) -> Array:
    # 0 where a <= 0, else g, selected as PyTorch selects: g·[a > 0] would make NaN of an
    # inf or NaN g times 0, and drop the g of relu(NaN). Read off y = relu(a), which is <= 0
    # where a is, as PyTorch saves the result. g's bits are ANDed with all ones or all zeros,
    # much quicker than np.where (the MLP's 64×256 float32: 9 µs against 63).
    bits = _BITS[g.dtype]
    keep = np.asarray(np.less_equal(y, 0), dtype=bits)
    keep -= 1  # 1 - 1 = 0 where a <= 0, 0 - 1 = all ones elsewhere
    keep &= g.view(bits)
    return keep.view(g.dtype)


def with_ellipsis(parts: tuple[Any, ...]) -> tuple[Any, ...]:
    """The parts of an index, ending in ... unless they have it (by identity: an index array
    compared with ... would compare each element)."""
    return parts if any(part is Ellipsis for part in parts) else (*parts, Ellipsis)


def axes_indexed(part: Any) -> int:
    """How many of a tensor's axes one part of an index takes: a mask all of its own, None and ...
    none (... stands for what the others leave), anything else one."""
    if part is None or part is Ellipsis:
        return 0
    return part.ndim if isinstance(part, np.ndarray) and part.dtype == np.bool_ else 1


def in_two_steps(index: Any, ndim: int) -> tuple[tuple[Any, ...], tuple[Any, ...] | None]:
    """An index of a tensor of `ndim` dimensions as PyTorch applies it: integers, slices, None and
    ... first, a view; then the index arrays and masks, if any, on that view (None: there are
    none). NumPy would take integers beside arrays as arrays too, and with a slice between them
    put the selected axes first: x[0, :, [1, 2]] of a (2, 3, 4) tensor is (3, 2) in PyTorch, (2, 3)
    in NumPy. A ... that stands for no axis separates nothing in PyTorch, and is left out."""
    parts = index if isinstance(index, tuple) else (index,)
    if np.ndarray not in map(type, parts):  # the usual case, quickly: no array to compare with ...
        return (parts if Ellipsis in parts else (*parts, Ellipsis)), None
    if sum(axes_indexed(part) for part in parts) == ndim:
        parts = tuple(part for part in parts if part is not Ellipsis)
    basic: list[Any] = []
    advanced: list[Any] = []
    for part in parts:
        if isinstance(part, np.ndarray):  # its axes stay for the second step: a mask spans several
            basic.extend([slice(None)] * axes_indexed(part))
            advanced.append(part)
        elif part is None or isinstance(part, slice):
            basic.append(part)
            advanced.append(slice(None))  # the axis it made or kept
        elif part is Ellipsis:
            basic.append(part)
            advanced.append(part)
        else:
            basic.append(part)  # an integer: its axis is gone
    return with_ellipsis(tuple(basic)), with_ellipsis(tuple(advanced))


def index(a: Array, index: Any) -> Array:
    """a[index], a view of a as in PyTorch even where every part is an integer (NumPy would give a
    copy, a scalar): an in-place op on x[0, 1] changes x. With index arrays, a copy."""
    basic, advanced = in_two_steps(index, a.ndim)
    return a[basic] if advanced is None else a[basic][advanced]


def put(a: Array, v: Any, index: Any) -> Array:
    """A copy of a with a[index] = v (v broadcast, cast to a's dtype), the parts of the index
    applied as `index` applies them; where index arrays pick an element twice, the last v wins."""
    out = a.copy()
    basic, advanced = in_two_steps(index, a.ndim)
    if advanced is None:
        out[basic] = v
    else:
        out[basic][advanced] = v  # into a view of out
    return out


def sign(a: Array) -> Array:
    """-1, 0 or 1, and 0 at NaN as in PyTorch (NumPy's sign of NaN is NaN); a bool its own sign."""
    if a.dtype == np.bool_:
        return a.copy()
    return np.sign(a, out=np.zeros_like(a), where=a == a)


def divide(a: Any, b: Any) -> Array:
    """a / b; a number over a tensor as PyTorch computes it, b's reciprocal times the number
    (Tensor.__rtruediv__), which rounds twice."""
    if a.__class__ is float or a.__class__ is int:
        return np.reciprocal(b) * a
    return np.true_divide(a, b)


def divide_vjp_b(g: Array, y: Array, a: Any, b: Array) -> Array:
    """∂(a / b)/∂b · g = -g·a/b², rounded as PyTorch rounds it: for a number a, through the
    reciprocal r = 1/b that it multiplied (-(g·a)·r²); else -g·((a/b)/b)."""
    if a.__class__ is float or a.__class__ is int:
        r = np.reciprocal(b)
        return -(g * a) * (r * r)
    return -g * (a / b / b)


def one_minus_square(y: Array) -> Array:
    """1 - y², rounded once, as PyTorch's tanh backward gets it from a fused multiply-add: near
    y = ±1, where it cancels, y·y rounded first leaves it off by up to a thousand ulps in float32.
    float32 computes it exactly in float64; float64 splits y·y into p + e exactly (Dekker) and
    takes 1 - p as s + t exactly (Knuth's two-sum), so that s + (t - e) rounds once."""
    if y.dtype != np.float64:
        return (1 - np.square(y, dtype=np.float64)).astype(y.dtype)
    split = 134217729.0 * y  # 2^27 + 1: hi holds y's upper 26 bits, lo the rest
    hi = split - (split - y)
    lo = y - hi
    p = y * y
    e = ((hi * hi - p) + 2 * hi * lo) + lo * lo
    s = 1 - p
    back = s - 1
    t = (1 - (s - back)) - (p + back)
    return s + (t - e)


def unless(other_wins: Array, g: Array, tie: Array) -> Array:
    """g, halved at a tie, 0 where the other operand wins: selected, not multiplied, as PyTorch
    does, so that an inf or NaN g stays where it goes, and both sides of a NaN get all of g. As
    in relu_vjp, g's bits ANDed with all ones or all zeros (1e5 float32: 75 µs; np.where 445)."""
    bits = _BITS[g.dtype]
    keep = np.asarray(other_wins, dtype=bits)
    keep -= 1  # 1 - 1 = 0 where the other wins, 0 - 1 = all ones elsewhere
    keep &= np.broadcast_to(g, keep.shape).view(bits)
    out = keep.view(g.dtype)
    if np.logical_or.reduce(tie, axis=None):
        np.multiply(out, 0.5, out=out, where=tie)
    return out


# Powers PyTorch computes by multiplying (pow_tensor_scalar_optimized_kernel), not with pow:
# each rounds differently from pow, in about a third of the elements.
_MULTIPLIED = {3: lambda a: a * a * a, -2: lambda a: 1 / (a * a), -0.5: lambda a: 1 / np.sqrt(a)}


def power(a: Any, b: Any) -> Array:
    if b.__class__ in (int, float) and b in _MULTIPLIED and a.__class__ is np.ndarray and a.dtype.kind == "f":
        return _MULTIPLIED[b](a)
    try:
        out = a**b
    except ValueError:  # NumPy's "Integers to negative integer powers are not allowed"
        if not isinstance(b, np.ndarray):
            raise  # as PyTorch does, for an integer tensor to a negative number
        return _integer_power(a, b)
    if out.dtype is not _INT8:
        return out
    # Bools to a bool power, which NumPy gives in int8 (no dtype of ours). PyTorch keeps a
    # bool tensor to a bool number as bool, and has no bool power of a bool tensor.
    if isinstance(b, np.ndarray):
        raise NotImplementedError("\"pow\" not implemented for 'Bool'")
    return out.astype(np.bool_)


_INT8 = np.dtype(np.int8)


def _integer_power(a: Any, b: Array) -> Array:
    """Integers to integer tensor powers, some negative, as PyTorch computes them: 1 and -1 to any
    power are ±1, any other integer to a negative power 0 (its reciprocal, truncated)."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=b.dtype), b)
    out = np.asarray(a ** np.maximum(b, 0))  # 0-d operands give a NumPy scalar
    negative = b < 0
    odd = (b % 2).astype(bool)
    out[negative] = np.where(a == 1, 1, np.where(a == -1, np.where(odd, -1, 1), 0))[negative]
    return out


def reshape(a: Array, shape: Any) -> Array:
    # NumPy takes any negative size for the one to infer; PyTorch only -1.
    dims = [shape] if isinstance(shape, int) else list(shape)
    inferred = False
    for i, n in enumerate(dims):  # from the left, as PyTorch looks
        if n == -1 and inferred:
            raise RuntimeError("only one dimension can be inferred")
        if n < -1:
            raise RuntimeError(f"invalid shape dimension {n} at index {i} of shape {dims}")
        inferred = inferred or n == -1
    if inferred and a.size == 0 and math.prod(n for n in dims if n != -1) == 0:  # (2, -1) is (2, 0)
        raise RuntimeError(
            f"cannot reshape tensor of 0 elements into shape {dims} because the unspecified dimension size -1 can "
            "be any value and is ambiguous"
        )
    return np.reshape(a, shape)


def expanded(shape: Any, given: tuple[int, ...]) -> tuple[int, ...]:
    """A broadcast_to target with each -1 taken from the array's own size there, as PyTorch's
    expand does, checked from the last axis as it checks them, with its words."""
    target = (shape,) if isinstance(shape, int) else tuple(shape)
    if len(target) < len(given):
        raise RuntimeError(
            f"expand: the number of sizes provided ({len(target)}) must be greater or equal to the number of "
            f"dimensions in the tensor ({len(given)})"
        )
    lead = len(target) - len(given)
    out = list(target)
    for i in reversed(range(len(target))):
        own = given[i - lead] if i >= lead else None
        if target[i] == -1 and own is None:
            raise RuntimeError(
                f"The expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension {i}"
            )
        if target[i] == -1:
            out[i] = own
        elif own is not None and own not in (1, target[i]):
            raise RuntimeError(
                f"The expanded size of the tensor ({target[i]}) must match the existing size ({own}) at non-singleton "
                f"dimension {i}.  Target sizes: {list(target)}.  Tensor sizes: {list(given)}"
            )
    if min(out, default=0) < 0:  # PyTorch's own answer here is an overflow in its arithmetic
        raise RuntimeError(f"expand: a size may be -1, for the tensor's own, but no other negative: {list(target)}")
    return tuple(out)


def broadcast_to(a: Array, shape: Any) -> Array:
    return np.broadcast_to(a, expanded(shape, a.shape))


_C_NAMES = {"float32": "float", "float64": "double", "int64": "long int", "int32": "int", "bool": "bool"}  # in mm's


def _type_name(value: Any) -> str:
    """The name of a value's type as Python's messages give it (numpy.float64, not float64)."""
    kind = type(value)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"


def matmul(a: Array, b: Array) -> Array:
    """np.matmul, where PyTorch multiplies: operands of one dtype, not bool. Its message depends
    on the kernel the shapes pick, which checks the shapes first, but for two vectors."""
    for position, (name, operand) in enumerate((("input", a), ("other", b)), start=1):
        if not isinstance(operand, np.ndarray):  # engine.matmul(t, 2.0): no number, as in PyTorch
            raise TypeError(
                f"matmul(): argument '{name}' (position {position}) must be Tensor, not {_type_name(operand)}"
            )
    if a.dtype == b.dtype and a.dtype != np.bool_:
        return np.matmul(a, b)
    if not (a.ndim == b.ndim == 1) and not _fit_for_matmul(a.shape, b.shape):
        return np.matmul(a, b)  # NumPy's ValueError, told in PyTorch's words by the caller
    names = dtypes.BY_NUMPY[a.dtype].torch_name, dtypes.BY_NUMPY[b.dtype].torch_name
    same = a.dtype == b.dtype  # then both bool
    if a.ndim == b.ndim == 1:
        kernel, mixed = "dot", f"dot : expected both vectors to have same dtype, but found {names[0]} and {names[1]}"
    elif b.ndim == 1:
        kernel = "addmv_impl_cpu"
        mixed = f"addmv input tensors must have the same dtype, but got {names[1]}, {names[0]}, and {names[1]}"
    elif b.ndim == 2:
        kernel = "addmm_impl_cpu_"
        c_names = _C_NAMES[a.dtype.name], _C_NAMES[b.dtype.name]
        mixed = f"expected m1 and m2 to have the same dtype, but got: {c_names[0]} != {c_names[1]}"
    else:
        kernel, mixed = "bmm", f"expected scalar type {names[0]} but found {names[1]}"
    if same:
        raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")
    raise RuntimeError(mixed)


def _fit_for_matmul(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    if not a or not b or a[-1] != (b[0] if len(b) == 1 else b[-2]):
        return False
    try:
        np.broadcast_shapes(a[:-2], b[:-2])
    except ValueError:
        return False
    return True


# A product of batches that broadcast may be many times larger than either operand and than
# the gradient it makes: its sum is taken in the product itself past this ratio.
SUMMED_IN_THE_PRODUCT = 4


def matmul_summed_to(left: Array, right: Array, shape: tuple[int, ...]) -> Array:
    """left @ right, summed over the batch axes that `shape` lacks or has as 1: what summing the
    product down to an operand's shape gives, without the product in full where that would be
    many times larger. [1000,1,1,1] @ [1,1000,1,1000] makes 10^9 numbers of which the gradient
    of a [1000,1,1,1000] operand keeps 10^6: its sum over the second axis is a contraction, as
    the inner axis is, and NumPy's einsum does both in one product."""
    if left.ndim == 2 and right.ndim == 2:  # no batch: the usual product, at once
        return left @ right
    batch = np.broadcast_shapes(left.shape[:-2], right.shape[:-2])
    if math.prod(batch) * left.shape[-2] * right.shape[-1] <= SUMMED_IN_THE_PRODUCT * max(math.prod(shape), 1):
        return left @ right
    letters = "abcdefghijklmnopqrstu"[: len(batch)]  # a letter for each batch axis, aligned to the right

    def axes(array: Array) -> tuple[Array, str]:
        """The array, without the batch axes it has as 1 where the batch has more, and their letters."""
        own = array.ndim - 2
        first = len(batch) - own
        stretched = tuple(i for i in range(own) if array.shape[i] == 1 and batch[first + i] != 1)
        letters_kept = "".join(letters[first + i] for i in range(own) if i not in stretched)
        return np.squeeze(array, axis=stretched), letters_kept

    (left, of_left), (right, of_right) = axes(left), axes(right)
    first = len(batch) - (len(shape) - 2)
    kept = "".join(letters[first + i] for i in range(len(shape) - 2) if shape[i] != 1)
    return np.einsum(f"{of_left}xy,{of_right}yz->{kept}xz", left, right, optimize=True).reshape(shape)
