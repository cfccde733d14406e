"""In-place operations, as PyTorch has them: `w -= lr * w.grad` under no_grad, `w.grad.zero_()`,
`w.data -= ...`, `b.data.fill_(0.01)`, `x[0] = 5`, `g[x < 0] = 0`, `dlogits[range(n), Yb] -= 1`.

Where no graph is recorded (under no_grad, or where nothing requires grad), the tensor's array
is written over, so that what shares it sees the change, as what shares a storage does in
PyTorch: `.data`, `detach()`, a view made by indexing, reshape or a transpose. A node that saved
the values its rules read before then refuses to backward, in PyTorch's words (engine.versions).

Where a graph is recorded, a leaf that requires grad, or a view of one, is refused, as in
PyTorch. Another tensor takes `y += w` (or `y.add_(w)`, ...) as PyTorch's does: its values
change where they are, and it becomes the output of a new node whose input is y as it was; the
nodes recorded before use that snapshot (engine.graph), and a node that saved the old values
refuses to backward (engine.versions). Item assignment, and an op on a view, write into the
tensor viewed in the same way (engine.ops.INDEX_PUT: PyTorch's IndexPutBackward0 and CopySlices),
a plain tensor joining the graph (dC[ix] += demb[k, j]). zero_, fill_ and copy_, an op on a view
of a tensor that other views in the graph show, and one on a tensor that such a view shares
memory with (PyTorch would give the view another history) are refused there.
"""

from __future__ import annotations

import sys
import weakref
from typing import Any, Literal

import numpy as np

from engine import dtypes
from engine.grad_mode import _enabled, no_grad
from engine.graph import OpNode, changed_in_place, next_sequence_nr, note_rebased
from engine.kernels import expanded, in_two_steps, with_ellipsis
from engine.ops import INDEX_PUT, OPS
from engine.tensor import OPERANDS, Tensor, apply, apply_binary
from engine.torch_words import in_torch_words, mask_mismatch, type_name
from engine.versions import (
    READS,
    base_of,
    note_view,
    note_written,
    own_counters,
    positions,
    root,
    viewed_in_a_graph,
    views_made_of,
    views_of,
)

Array = np.ndarray[Any, Any]
Casting = Literal["no", "same_kind", "unsafe"]

LEAF_IN_PLACE = "a leaf Variable that requires grad is being used in an in-place operation."
VIEW_OF_LEAF_IN_PLACE = "a view of " + LEAF_IN_PLACE  # x[0] = 5: PyTorch indexes first


def in_place(tensor: Tensor, op: str, other: Any, operator: bool) -> Tensor:
    """`tensor op= other` (op: add, sub, mul or div): `tensor`, changed. `operator`: called as
    `+=`, which gives NotImplemented to an operand it does not take (Python's TypeError)."""
    if not isinstance(other, (Tensor, *OPERANDS)):
        if operator:
            return NotImplemented  # t += [1.0]: Python's TypeError
        raise TypeError(f"{op}_(): argument 'other' (position 1) must be Tensor, not {type(other).__name__}")
    if isinstance(other, Tensor) and _partly_overlapping(tensor.array, other.array):
        raise RuntimeError(PARTIAL_OVERLAP)  # c += c[0]: a row would add what the first has become
    if not _recorded(tensor, other):
        with no_grad():
            result = apply_binary(OPS[op], tensor, other)
        _fits(tensor.array, result.array)
        _write(tensor.array, result.array, "same_kind")
        return tensor
    if tensor.is_leaf and tensor.requires_grad:
        raise RuntimeError(LEAF_IN_PLACE)
    # A view (dC[ix] += demb[k, j], y[0] *= w) changes what it views, as in PyTorch (CopySlices).
    base = _viewed(tensor) if tensor.grad_fn is not None else base_of(tensor)
    if base is not None and base is not tensor:
        if base.is_leaf and base.requires_grad:
            raise RuntimeError(VIEW_OF_LEAF_IN_PLACE)
        return _rebased_through_view(tensor, base, op, other)
    _rebasable(tensor, f"an in-place {op}", op)
    return _rebased(tensor, op, other)


def _rebasable(tensor: Tensor, what: str, op: str = "", leaf_message: str = LEAF_IN_PLACE) -> None:
    """Refuse, with what says why, an in-place change of `tensor` in a graph that it cannot take."""
    if tensor.is_leaf and tensor.requires_grad:
        raise RuntimeError(leaf_message)
    viewed = _viewed(tensor)
    instead = f"write y = y {_SYMBOLS[op]} ..., a new tensor" if op else "compute a new tensor instead"
    if viewed is not None:  # PyTorch writes through a view into what it views
        if viewed.is_leaf and viewed.requires_grad:
            raise RuntimeError(VIEW_OF_LEAF_IN_PLACE)
        raise NotImplementedError(f"{what} on a view {_MADE_BY} of a tensor in a graph is not supported: {instead}")
    if tensor.grad_fn is None and _shares_memory_with_another(tensor.array):
        # row = c[1] of a plain c, with no record of c: PyTorch would make c a tensor of the graph too
        raise NotImplementedError(
            f"{what} with a tensor that requires grad, on a view {_MADE_BY} of another tensor, is not supported: "
            f"{instead}"
        )
    if viewed_in_a_graph(tensor):  # PyTorch would give their grad_fn another history
        raise NotImplementedError(
            f"{what} on a tensor that has a view in a graph {_MADE_BY} is not supported: {instead}"
        )


def _part_of(base: Tensor, where: tuple[Array, ...]) -> OpNode:
    """The node of a view of `base` at `where`, as PyTorch regenerates a view's (AsStridedBackward0)."""
    node = apply(OPS["index"], base, index=where).grad_fn
    assert isinstance(node, OpNode), "base requires grad"
    node._name = "AsStridedBackward0"
    return node


def _views_join(base: Tensor, but: Tensor | None = None) -> None:
    """A plain tensor joined the graph: its views (b = c[:] taken before c[0] += w) show the new
    values, and take their part of it, as PyTorch's do."""
    for view in views_made_of(base):
        found = positions(view.array, base.array) if view is not but and view.grad_fn is None else None
        if found is not None:
            where = tuple(np.asarray(i) for i in np.unravel_index(found, base.array.shape))
            view.grad_fn, view.output_nr, view._requires_grad = _part_of(base, where), 0, True
            note_view(view)  # a view in the graph now: a later write into base is refused while it lives


def _snapshot(tensor: Tensor, array: Array) -> Tensor:
    """The tensor as it was, for the node that changes it and the nodes recorded before."""
    return Tensor.wrap(array, requires_grad=tensor.requires_grad, grad_fn=tensor.grad_fn, output_nr=tensor.output_nr)


def _rebased_through_view(view: Tensor, base: Tensor, op: str, other: Any) -> Tensor:
    """`view op= other` in a graph, where `view` shows part of `base`'s memory, as PyTorch does it:
    base becomes the output of a node (CopySlices) that writes op(its part, other) into the base
    as it was, and the view the part of the new base it is (AsStridedBackward0); the nodes recorded
    before use each as it was."""
    found = positions(view.array, base.array)
    if found is not None and np.unique(found).size < found.size:  # an expanded view: PyTorch refuses it
        raise RuntimeError(SHARED_ELEMENTS)
    if found is None or any(t is not view and t.grad_fn is not None for t in views_of(base)):
        # PyTorch would give the other views another history too
        raise NotImplementedError(
            f"an in-place {op} on a view {_MADE_BY} of a tensor that has other views in a graph, or whose memory is "
            f"not one block, is not supported: write y = y {_SYMBOLS[op]} ..., a new tensor"
        )
    # The view's elements in base, as index arrays (0-d ones too: an integer would index a view of
    # the memory about to be written, where the part must be a copy)
    where = tuple(np.asarray(i) for i in np.unravel_index(found, base.array.shape))
    joins = not base.requires_grad  # a plain base: its other views join the graph with it
    snapshot = _snapshot(base, base.array)
    part = apply_binary(OPS[op], apply(OPS["index"], snapshot, index=where), other)
    _castable(part.array, base.array, "same_kind")
    result = apply(INDEX_PUT, snapshot, part, index=where)
    _stand_in(snapshot)
    assert result.grad_fn is not None, "other requires grad, and grad mode is on"
    result.grad_fn._name = "CopySlices"
    _take(base, snapshot, result)
    if joins:
        _views_join(base, view)
    node = _part_of(base, where)
    if view.grad_fn is not None:  # what used the view before uses it as it was
        before = _snapshot(view, view.array)
        _stand_in(before)
        note_rebased(view, before, node.sequence_nr)
    if view.retains_grad:
        node.retained = [weakref.ref(view)]
    view.grad_fn, view.output_nr, view._requires_grad = node, 0, True
    note_view(view)
    return view


_MADE_BY = "(made by indexing, reshape, a transpose)"


def _shares_memory_with_another(array: Array) -> bool:
    """Whether `array` is a view of memory that something else holds too: c[1] while c lives,
    not arange(6).reshape(2, 3), the view of a temporary. (Counted in references to the owner:
    this view's base, the local name and getrefcount's own argument.)"""
    if array.base is None or id(array) in own_counters:  # .data's view is the tensor's memory
        return False
    owner = root(array)
    return sys.getrefcount(owner) > 3


def _rebased(tensor: Tensor, op: str, other: Any) -> Tensor:
    """`tensor op= other` in a graph, as PyTorch does it: the values change where they are, so that
    every name and view of the tensor sees them, and the tensor becomes the output of a new node
    (AddBackward0, ...) whose input is the tensor as it was: a snapshot of it, which the nodes
    recorded before take in its place (engine.graph). A node that saved the values refuses to
    backward (engine.versions)."""
    # A copy of the old values where a rule that runs reads them (mul's of b, when b requires
    # grad), which the node keeps.
    array = tensor.array
    rules = READS[id(OPS[op].vjps)]
    other_needs = isinstance(other, Tensor) and other.requires_grad
    reads = (0 in rules[0] and tensor.requires_grad) or (0 in rules[1] and other_needs)
    snapshot = Tensor.wrap(
        array.copy() if reads else array,
        requires_grad=tensor.requires_grad,
        grad_fn=tensor.grad_fn,
        output_nr=tensor.output_nr,
    )
    result = apply_binary(OPS[op], snapshot, other)  # y *= y saves y, which the write changes: refused
    if not reads:
        _stand_in(snapshot)
    _fits(tensor.array, result.array)
    _castable(result.array, tensor.array, "same_kind")
    # float64 into float32 is written rounded, as PyTorch casts it back; the walk casts each
    # gradient to its input's dtype, so w of y.add_(w.double()) gets a float64 one.
    node = result.grad_fn
    assert node is not None, "recorded: the tensor or the other operand requires grad, and grad mode is on"
    if isinstance(node, OpNode) and not any(-1 in rule for rule in rules):
        node.out = None  # no rule reads the result, a buffer of its own here, written into the tensor
    return _take(tensor, snapshot, result)


def _stand_in(snapshot: Tensor) -> None:
    """A stand-in of the old values' shape, all the graph reads of a snapshot whose values no rule reads."""
    snapshot.array = np.broadcast_to(np.zeros((), snapshot.array.dtype), snapshot.array.shape)


def _take(tensor: Tensor, snapshot: Tensor, result: Tensor) -> Tensor:
    """The tensor becomes `result`: its values written where they are, its grad_fn the node that
    made them, whose input is `snapshot`, the tensor as it was (for every node recorded before too)."""
    node = result.grad_fn
    assert node is not None, "recorded: the tensor or what it takes requires grad, and grad mode is on"
    _write(tensor.array, result.array, "unsafe")  # the result's dtype, checked by the caller
    old = tensor.grad_fn
    note_rebased(tensor, snapshot, node.sequence_nr + 1)  # the node's own input too (y += y)
    if old is not None and old.retained is not None:  # its .grad is of the new values now, as in PyTorch
        old.retained = [ref for ref in old.retained if ref() is not tensor] or None
    tensor.grad_fn, tensor.output_nr, tensor._requires_grad = node, 0, True
    if tensor.retains_grad:
        node.retained = [weakref.ref(tensor)]
    return tensor


_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/"}


def write_result(tensor: Tensor, result: Tensor) -> Tensor:
    """An op's result of no graph (a bitwise op's) written into the tensor itself, as PyTorch's
    in-place op writes it: where every view and name of it sees it, cast as it casts."""
    _fits(tensor.array, result.array)
    _write(tensor.array, result.array, "same_kind")
    return tensor


def zero(tensor: Tensor) -> Tensor:
    """`tensor.zero_()`."""
    _refuse_in_a_graph(tensor, "zero_()")
    _write(tensor.array, np.zeros((), tensor.array.dtype), "no")
    return tensor


def fill(tensor: Tensor, value: Any) -> Tensor:
    """`tensor.fill_(value)`: a number, or a tensor of no dimensions, everywhere."""
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(
                f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} dimensions."
            )
        values = value.array  # cast as it is, as PyTorch casts a tensor's value
    elif isinstance(value, int | float | np.number | np.bool_):
        values = np.asarray(dtypes.held(value, tensor.array.dtype))
    else:
        raise TypeError(
            f"fill_() received an invalid combination of arguments - got ({type_name(value)}), but expected one of: "
            "(Tensor value) or (Number value)"
        )
    _refuse_in_a_graph(tensor, "fill_()", value)
    _write(tensor.array, values, "unsafe")
    return tensor


def copy(tensor: Tensor, source: Any) -> Tensor:
    """`tensor.copy_(source)`: source's values, broadcast to tensor's shape and cast to its dtype."""
    if isinstance(source, Tensor) and _recorded(source) and not tensor.requires_grad:  # PyTorch: a CopyBackwards
        raise NotImplementedError(
            "copy_() of a tensor that requires grad into one outside its graph is not supported: copy "
            "source.detach() for the values, or use source (or source.clone()) itself"
        )
    _refuse_in_a_graph(tensor, "copy_()", source)
    if not isinstance(source, Tensor | int | float | np.number | np.bool_):  # a number, or PyTorch's TypeError
        raise TypeError(f"copy_(): argument 'other' (position 1) must be Tensor, not {type_name(source)}")
    values = source.array if isinstance(source, Tensor) else np.asarray(source)
    _fits(tensor.array, values)
    if _overlap(tensor.array, values):
        raise RuntimeError(PARTIAL_OVERLAP)
    _write(tensor.array, values, "unsafe")
    return tensor


SHARED_ELEMENTS = (
    "unsupported operation: more than one element of the written-to tensor refers to a single memory "
    "location. Please clone() the tensor before performing the operation."
)
PARTIAL_OVERLAP = (
    "unsupported operation: some elements of the input tensor and the written-to tensor refer to a single "
    "memory location. Please clone() the tensor before performing the operation."
)


def _dense(array: Array) -> bool:
    """Contiguous in some order of its axes, as far as NumPy's flags tell: where PyTorch can tell
    how two tensors' memory overlaps (and lets an op go on where it cannot: c[:, :1])."""
    return bool(array.flags.c_contiguous or array.flags.f_contiguous)


def _partly_overlapping(target: Array, values: Array) -> bool:
    return _dense(target) and _dense(values) and _overlap(target, values)


def _overlap(target: Array, values: Array) -> bool:
    """Whether `values` share some of `target`'s memory, but are not the very same elements (which
    PyTorch lets a tensor copy onto itself): a[0] into a, or a.T into a."""
    same = (
        target.__array_interface__["data"] == values.__array_interface__["data"]
        and target.strides == values.strides
        and target.shape == values.shape
    )
    return not same and np.shares_memory(target, values)


def set_item(tensor: Tensor, index: Any, value: Any) -> None:
    """`tensor[index] = value`, the value cast to the tensor's dtype (PyTorch's copy_): for a
    basic index, or an index tensor, of integers or a mask of bools (`g[x < 0] = 0`). In a graph,
    as PyTorch's IndexPutBackward0 (index tensors) or CopySlices: the tensor becomes the output of a
    node whose inputs are the tensor as it was and the value (`dlogits[range(n), Yb] -= 1`)."""
    # An integer or bool tensor takes the value cast, outside any graph, as in PyTorch.
    in_a_graph = _recorded(tensor, value) and tensor.array.dtype.kind == "f"
    if in_a_graph and _written_through(value, tensor, index):
        return  # dC[ix] += v puts dC[ix] back where the in-place op on it wrote already
    if in_a_graph:
        _rebasable(tensor, "item assignment", leaf_message=VIEW_OF_LEAF_IN_PLACE)
    if not isinstance(value, Tensor | np.ndarray | np.generic | int | float | bool):
        raise TypeError(f"can't assign a {type(value).__name__} to a torch.{tensor.dtype.torch_name}Tensor")
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise ValueError("Overflow when unpacking long long")  # PyTorch's words, whatever the dtype
    if not isinstance(value, Tensor | np.ndarray):
        dtypes.held(value, tensor.array.dtype)  # refused, not wrapped, as PyTorch refuses it
    values = value.array if isinstance(value, Tensor) else np.asarray(value)
    # In a graph, the write is tried on a copy first, for PyTorch's refusals in its words.
    target = tensor.array.copy() if in_a_graph else tensor.array
    parts = index if isinstance(index, tuple) else (index,)
    if any(isinstance(part, np.ndarray) for part in parts):
        _write_indexed(target, index, values, value.dtype if isinstance(value, Tensor) else None)
    else:
        try:
            view = target[with_ellipsis(parts)]  # a view, even of one element
        except IndexError as error:
            raise in_torch_words("index", (target,), {"index": index}, error) from None
        values = _without_leading_ones(values, view.ndim)
        expanded(view.shape, values.shape)  # PyTorch's words for values that do not fit
        _write(view, values, "unsafe", through=target)
        if isinstance(value, Tensor) and value.array.shape != values.shape:
            value = value.reshape(values.shape)  # its leading ones dropped, in the graph
    if in_a_graph:
        joins = not tensor.requires_grad
        snapshot = _snapshot(tensor, tensor.array)
        result = apply(INDEX_PUT, snapshot, value, index=index)
        _stand_in(snapshot)
        _take(tensor, snapshot, result)
        if joins:
            _views_join(tensor)


def _written_through(value: Any, tensor: Tensor, index: Any) -> bool:
    """Whether `value` is the view of tensor[index] that an in-place op on it just made part of
    tensor's graph (its AsStridedBackward0), the very elements: not another tensor of that memory
    (y.detach()[0:2], whose assignment is one)."""
    node = value.grad_fn if isinstance(value, Tensor) else None
    if node is None or node.name() != "AsStridedBackward0" or node.inputs[0] is not tensor:
        return False
    parts = index if isinstance(index, tuple) else (index,)
    values, target = value.array, tensor.array
    if any(isinstance(part, np.ndarray) for part in parts) or values.base is None:
        return False
    try:
        view = target[with_ellipsis(parts)]
    except IndexError:
        return False
    return (
        view.__array_interface__["data"] == values.__array_interface__["data"]
        and view.strides == values.strides
        and view.shape == values.shape
    )


def _without_leading_ones(values: Array, ndim: int) -> Array:
    """Values of more dimensions than where they go, the extra ones leading and of size 1, without
    them: PyTorch puts ones((1, 3)) into x[0] of 3 elements."""
    extra = values.ndim - ndim
    if extra > 0 and all(n == 1 for n in values.shape[:extra]):
        return values.reshape(values.shape[extra:])
    return values


def _write_indexed(target: Array, index: Any, values: Array, source: dtypes.dtype | None) -> None:
    """target[index] = values for an index with index tensors in it: masks of bools, or integers.
    `source`: the dtype of a tensor given as the values (None for a number)."""
    mismatch = mask_mismatch(target.shape, index)
    if mismatch:
        raise IndexError(mismatch)
    _check_writable(target, values, "unsafe")
    basic, advanced = in_two_steps(index, target.ndim)
    assert advanced is not None, "set_item writes through index arrays here only"
    try:
        view = target[basic]  # the integers, slices and None first, as PyTorch applies them
        selected = view[advanced].shape
    except IndexError as error:  # an integer out of range, or too many of them
        raise in_torch_words("index", (target,), {"index": index}, error) from None
    arrays = [part for part in advanced if isinstance(part, np.ndarray)]
    masked_fill = len(arrays) == 1 and arrays[0].dtype == np.bool_ and arrays[0].ndim > 0 and values.size == 1
    if source is not None and source.numpy != target.dtype and not masked_fill:
        # PyTorch's index_put takes no other dtype; a one-element value through one mask is its
        # masked_fill, which does
        raise RuntimeError(
            "Index put requires the source and destination dtypes match, got "
            f"{dtypes.BY_NUMPY[target.dtype].torch_name} for the destination and {source.torch_name} for the source."
        )
    values = _without_leading_ones(values, len(selected))
    try:
        np.broadcast_to(values, selected)
    except ValueError:
        raise RuntimeError(
            f"shape mismatch: value tensor of shape {list(values.shape)} cannot be broadcast to indexing result of "
            f"shape {list(selected)}"
        ) from None
    _note_written(target)
    view[advanced] = values


def set_data(tensor: Tensor, value: Any) -> None:
    """`tensor.data = value`: the values of `value`, shared, whatever its shape; the graph left alone."""
    if not isinstance(value, Tensor):
        raise TypeError(f"Variable data has to be a tensor, but got {type(value).__name__}")
    if tensor.requires_grad and value.array.dtype.kind != "f":
        raise RuntimeError("data set to a tensor that requires gradients must be floating point or complex dtype")
    # A plain view of what `.data` gave out: the tensor keeps a counter with its memory, as
    # PyTorch's keeps its own (w.data -= 1 sets w.data to what `.data` gave, then w *= 2 must count).
    tensor.array = value.array.view() if id(value.array) in own_counters else value.array


def _viewed(tensor: Tensor) -> Tensor | None:
    """What `tensor` is a view of in its graph (x[0], x.T, a reshape that kept the memory): the
    last tensor up its chain of inputs that shares its memory; None if none does (a copy)."""
    viewed = None
    while tensor.grad_fn is not None and not changed_in_place(tensor):
        owner = root(tensor.array)
        source = next((t for t in tensor.grad_fn.inputs if t is not None and root(t.array) is owner), None)
        if source is None:
            break
        viewed = tensor = source
    return viewed


def _recorded(tensor: Tensor, other: Any = None) -> bool:
    return _enabled.get() and (tensor.requires_grad or (isinstance(other, Tensor) and other.requires_grad))


def _refuse_in_a_graph(tensor: Tensor, what: str, other: Any = None, leaf_message: str = LEAF_IN_PLACE) -> None:
    if _recorded(tensor, other):
        if tensor.is_leaf and tensor.requires_grad:
            raise RuntimeError(leaf_message)
        raise NotImplementedError(f"{what} of a tensor in a graph is not supported: compute a new tensor instead")


def _fits(target: Array, values: Array) -> None:
    try:
        shape = np.broadcast_shapes(target.shape, values.shape)
    except ValueError as error:
        raise in_torch_words("copy_", (target, values), {}, error) from None
    if shape != target.shape:
        raise RuntimeError(f"output with shape {list(target.shape)} doesn't match the broadcast shape {list(shape)}")


def _write(target: Array, values: Array, casting: Casting, through: Array | None = None) -> None:
    """Write `values` over `target` (a tensor's array, or `through`'s part of one), as PyTorch
    would. The write is counted as one of the tensor's (`.data`'s counter its own, as in PyTorch)."""
    _check_writable(target, values, casting)
    _note_written(target if through is None else through)
    target[...] = values


def _castable(values: Array, target: Array, casting: Casting) -> None:
    if not np.can_cast(values.dtype, target.dtype, casting=casting):
        raise RuntimeError(
            f"result type {dtypes.BY_NUMPY[values.dtype].torch_name} can't be cast to the desired output type "
            f"{dtypes.BY_NUMPY[target.dtype].torch_name}"
        )


def _check_writable(target: Array, values: Array, casting: Casting) -> None:
    _castable(values, target, casting)
    if not target.flags.writeable:  # an expanded view (broadcast_to), whose elements share memory
        raise RuntimeError(SHARED_ELEMENTS)


def _note_written(target: Array) -> None:
    """Tell engine.versions that `target` (or what it views) is about to be written over."""
    note_written(target, before=next_sequence_nr())  # every node so far saw the old values
