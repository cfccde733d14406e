"""What PyTorch's version counters do: a backward that needs values written over in place since
they were saved is refused.

engine.in_place tells of each write (`note_written`); a node checks, before its rules run, the
arrays its rules read (`check_node`), a custom Function its saved tensors (`check_tensor`).
Writes are counted per array that owns the memory, the base of a view, since PyTorch's views
share one counter with what they view: a write through `x[0]` is a write of `x`, and a node that
saved `x.T` sees it. An entry goes when its array does, so a reused id is never misread.

What a rule reads is read off its code, as PyTorch's codegen saves what a derivative formula
names: `lambda g, y, a, b: g * b` reads b, so x * w where only w requires grad is refused when x
was written over, and not when w was.
"""

from __future__ import annotations

import collections
import dis
import inspect
import re
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import dtypes
from engine.ops import INDEX_PUT, OPS, TO_COPY, TORCH_EXTREMES, WHERE

if TYPE_CHECKING:
    from engine.graph import Node, OpNode
    from engine.tensor import Tensor

Array = np.ndarray[Any, Any]
RECENT = 16  # the writes whose sequence numbers are kept, for the message's expected version


class Writes:
    """How many times an array was written over, and when, in sequence numbers, lately."""

    __slots__ = ("__weakref__", "count", "recent")

    def __init__(self) -> None:
        self.count = 0
        self.recent: collections.deque[int] = collections.deque(maxlen=RECENT)


modified: dict[int, Writes] = {}  # by the id of the array that owns the memory


def root(array: Array) -> Array:
    """The array that owns `array`'s memory: itself, or the base of the view it is."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


# The arrays `.data` gave out, and the views ops made of them, by id, each with its counter:
# PyTorch gives `.data` a version counter of its own, which its views share, so that a write
# through `.data` goes unseen by what saved the tensor (that is what `.data` is for), and seen
# by what saved `.data` itself. Every other array counts with the memory's owner, in `modified`.
own_counters: dict[int, Writes] = {}
# Those written over, by the id of their counter (weakly: a counter goes with its last array),
# so that engine.graph checks saved values only where `modified` or this is not empty.
own_written: dict[int, weakref.ref[Writes]] = {}


def with_own_counter(array: Array) -> Array:
    """`array`, a new view with a counter of its own: for `.data`. NumPy makes the memory's owner
    the base of a view of that view, so nothing in it tells that it came through `.data`:
    engine.tensor's ops say so (`share_counter`)."""
    view = array.view()
    _count_with(view, Writes())
    return view


def share_counter(value: Array, source: Array) -> None:
    """`value`, made by an op from `source`, an array of `own_counters`: counted with it if a view."""
    if value is not source and value.base is not None and root(value) is root(source):
        _count_with(value, own_counters[id(source)])


def _count_with(view: Array, writes: Writes) -> None:
    own_counters[id(view)] = writes
    weakref.finalize(view, own_counters.pop, id(view), None)


# Tensors of a graph whose arrays view another's memory (x[0], x.T, a reshape), by the id of the
# memory's owner: an in-place op on the owner's tensor would change them under their grad_fn.
views: dict[int, weakref.WeakSet[Tensor]] = {}


def note_view(tensor: Tensor) -> None:
    owner = root(tensor.array)
    seen = views.get(id(owner))
    if seen is None:
        seen = views[id(owner)] = weakref.WeakSet()
        weakref.finalize(owner, views.pop, id(owner), None)
    if not any(t is tensor for t in seen):  # a WeakSet compares its weak references with ==, a Tensor's
        seen.add(tensor)


# Each view an op made, by id, with the tensor it views (both weakly): where an in-place op on a
# view of a plain tensor writes, in a graph (dC[ix] += demb[k, j]: PyTorch's CopySlices).
_bases: dict[int, tuple[weakref.ref[Tensor], weakref.ref[Tensor]]] = {}


def note_base(view: Tensor, base: Tensor) -> None:
    key = id(view)
    _bases[key] = (weakref.ref(view, lambda ref: _forget_base(key, ref)), weakref.ref(base))


def _forget_base(key: int, ref: weakref.ref[Tensor]) -> None:
    entry = _bases.get(key)
    if entry is not None and entry[0] is ref:  # not a new view's, under a reused id
        del _bases[key]


def base_of(view: Tensor) -> Tensor | None:
    """The tensor whose memory `view` shows, up its chain of views (c for c[0][1]); None if none
    is known (a view of a temporary, or no view)."""
    base = None
    while True:
        entry = _bases.get(id(view))
        up = entry[1]() if entry is not None and entry[0]() is view else None
        if up is None or root(up.array) is not root(view.array):
            return base
        base = view = up


def views_made_of(base: Tensor) -> list[Tensor]:
    """The live tensors an op made as views of `base`, directly or through other views."""
    made = (entry[0]() for entry in list(_bases.values()))
    return [view for view in made if view is not None and view is not base and base_of(view) is base]


def positions(view: Array, base: Array) -> Array | None:
    """Where each element of `view` is in `base`, as flat indices of base in view's shape: both
    show one memory, whose elements are numbered and seen through each array's strides. None
    where that memory is no plain block, or view reaches past base."""
    owner = root(base)
    if not owner.flags.c_contiguous or view.dtype != owner.dtype or base.dtype != owner.dtype:
        return None
    numbered = np.arange(owner.size)
    start = owner.__array_interface__["data"][0]

    def numbers(a: Array) -> Array:
        offset = (a.__array_interface__["data"][0] - start) // a.itemsize
        strides = tuple(s // a.itemsize * numbered.itemsize for s in a.strides)
        return np.lib.stride_tricks.as_strided(numbered[offset:], a.shape, strides, writeable=False)

    at = np.full(owner.size, -1)
    at[numbers(base).ravel()] = np.arange(base.size)
    found = at[numbers(view)]
    return None if found.size and found.min() < 0 else found


def views_of(tensor: Tensor) -> list[Tensor]:
    """The tensors of a graph that view `tensor`'s memory (and `tensor`, if it is one)."""
    return list(views.get(id(root(tensor.array)), ()))


def viewed_in_a_graph(tensor: Tensor) -> bool:
    """Whether another tensor of a graph views `tensor`'s memory."""
    return any(t is not tensor and t.grad_fn is not None for t in views_of(tensor))


def note_written(array: Array, before: int) -> None:
    """`array` (or what it views) is being written over: the nodes numbered below `before` saw
    its earlier values."""
    writes = own_counters.get(id(array))
    if writes is not None and not writes.count:
        own_written[id(writes)] = weakref.ref(writes)
        weakref.finalize(writes, own_written.pop, id(writes), None)
    elif writes is None:
        owner = root(array)
        writes = modified.get(id(owner))
        if writes is None:
            writes = modified[id(owner)] = Writes()
            weakref.finalize(owner, modified.pop, id(owner), None)
    writes.count += 1
    writes.recent.append(before)


def _written_since(array: Any, saved_at: int) -> Writes | None:
    if array.__class__ is not np.ndarray:
        return None
    writes = own_counters.get(id(array)) or modified.get(id(root(array)))
    return writes if writes is not None and writes.recent and writes.recent[-1] > saved_at else None


def _reads(rule: Callable[..., Any] | None, arity: int) -> frozenset[int]:
    """The positions a rule reads of (y, a, b, ...): -1 for y, 0 for a, ... Every name of the
    code's instructions counts, whatever they do with it; every position where the code cannot
    be read so (no code, *args, names that closures share), so that a missed read cannot be."""
    every = frozenset(range(-1, arity))
    code = getattr(rule, "__code__", None)
    if code is None or code.co_flags & inspect.CO_VARARGS or code.co_cellvars or code.co_freevars:
        return every
    names = code.co_varnames[1 : code.co_argcount]  # past g: y, a, b, ...
    named: set[str] = set()
    instructions = list(dis.get_instructions(code))
    for instruction, after in zip(instructions, [*instructions[1:], None], strict=True):
        value = instruction.argval
        if isinstance(value, str) and after is not None and after.opname == "LOAD_ATTR" and after.argval in _SIZES:
            continue  # its size or dtype, which PyTorch saves apart from the values (matmul's rule of a reads a.shape)
        named.update(v for v in (value if isinstance(value, tuple) else (value,)) if isinstance(v, str))
    return frozenset(position - 1 for position, name in enumerate(names) if name in named)


_SIZES = frozenset({"shape", "ndim", "dtype"})


READS = {
    id(op.vjps): tuple(_reads(rule, op.arity) for rule in op.vjps)
    for op in (*OPS.values(), *TORCH_EXTREMES.values(), TO_COPY, WHERE, INDEX_PUT)
}


def check_node(node: OpNode) -> None:
    """Refuse to backward through `node` if what the rules of its inputs that need a gradient
    read was written over since the node was made."""
    args = node.args
    assert args is not None, "run_backward checks that the node still has its values"
    reads = READS.get(id(node.vjps))
    for i, tensor in enumerate(node.inputs):
        if tensor is None:
            continue
        for position in reads[i] if reads is not None else range(-1, len(args)):
            if position >= len(args):  # a keyword parameter (axis), not a saved value
                continue
            array = node.out if position < 0 else args[position]
            writes = _written_since(array, node.sequence_nr)
            if writes is None or array is None:
                continue
            producer: Node | None = node  # the node's own output, for position -1
            output_nr = 0
            if position >= 0:
                source = node.inputs[position]
                producer, output_nr = (source.grad_fn, source.output_nr) if source is not None else (None, 0)
            raise RuntimeError(_message(array, writes, node.sequence_nr, producer, output_nr))


def check_tensor(tensor: Tensor, saved_at: int) -> None:
    """Refuse a saved tensor of a custom Function that was written over since it was saved."""
    writes = _written_since(tensor.array, saved_at)
    if writes is not None:
        raise RuntimeError(_message(tensor.array, writes, saved_at, tensor.grad_fn, tensor.output_nr))


def _message(array: Array, writes: Writes, saved_at: int, producer: Node | None, output_nr: int) -> str:
    """PyTorch's words: the versions count the writes, and the node whose output the array is, if
    any, is named as PyTorch names its C++ function."""
    name = dtypes.BY_NUMPY[array.dtype].torch_name
    # A bool tensor has no legacy type name (torch.BoolTensor is none): PyTorch says CPUBoolType.
    kind = f"{'CPUBoolType' if name == 'Bool' else f'torch.{name}Tensor'} {list(array.shape)}"
    function = re.sub(r"Backward\d*$", "", producer.name()) if producer is not None else ""
    made_by = f", which is output {output_nr} of {function}," if function else ""
    since = sum(1 for at in writes.recent if at > saved_at)
    expected = f"{writes.count - since}" if since < len(writes.recent) or since == writes.count else "an earlier one"
    return (
        f"one of the variables needed for gradient computation has been modified by an inplace operation: "
        f"[{kind}]{made_by} is at version {writes.count}; expected version {expected} instead."
    )
