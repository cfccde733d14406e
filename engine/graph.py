"""The backward pass: nodes of the graph and the one loop that walks them.

Every node gets a sequence number when it is created. A node is always created after the
nodes of its inputs, so taking the highest-numbered node that has a pending gradient first
is a topological order: by then every path into it has delivered its part. PyTorch's own
engine orders its ready queue the same way. The walk is a loop over a heap, never a
recursion, so a chain of 100,000 nodes is no deeper than a chain of two. Leaves have no
node: what reaches a leaf is summed and added to its `.grad` once the walk is over.

The gradient of a large tensor's sum is the same number at every element. It is carried
as that one number, a 0-d array or a NumPy scalar, for as long as the ops it meets are
elementwise (`UNIFORM_RULES`): 10 · x.sum() multiplies one number by 10, not 10^6 of them.
It is spread into an array where one is needed: a `.grad`, an op that is not elementwise,
an operand that the op broadcast (summed, as PyTorch sums it).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import versions
from engine.ops import ELEMENTWISE, OPS, sum_to

if TYPE_CHECKING:
    from engine.tensor import Tensor

Array = np.ndarray[Any, Any]

next_sequence_nr = itertools.count().__next__

# The ops whose rules compute only elementwise with g, so that g may be one number standing
# for every element (by the id of the rules' tuple, which every node of the op shares).
UNIFORM_RULES = frozenset(id(OPS[name].vjps) for name in ELEMENTWISE if OPS[name].vjps != (None,))

# Tensors changed in place in a graph (engine.in_place), by id: each change made the tensor the
# output of a new node, and left a snapshot of it as it was, with its old grad_fn, to the nodes
# recorded before (as PyTorch's edges point to the grad_fn a tensor had when it was used).
# The node numbers of the changes, ascending, and the snapshots, one each.
rebased: dict[int, tuple[weakref.ref[Tensor], list[int], list[Tensor]]] = {}


def note_rebased(tensor: Tensor, snapshot: Tensor, at: int) -> None:
    """`tensor` was changed in place by the node numbered `at`: nodes before it used `snapshot`."""
    key = id(tensor)
    entry = rebased.get(key)
    if entry is None or entry[0]() is not tensor:
        entry = rebased[key] = (weakref.ref(tensor, lambda ref: _forget(key, ref)), [], [])
    entry[1].append(at)
    entry[2].append(snapshot)


def changed_in_place(tensor: Tensor) -> bool:
    """Whether the tensor's grad_fn is the node of an in-place op on it (no view, though its inputs
    may share its memory: y += y, or d = w.detach(); d += w)."""
    entry = rebased.get(id(tensor))
    return (
        entry is not None and entry[0]() is tensor and tensor.grad_fn is not None
        and entry[1][-1] == tensor.grad_fn.sequence_nr + 1
    )  # fmt: skip


def _forget(key: int, ref: weakref.ref[Tensor]) -> None:
    entry = rebased.get(key)
    if entry is not None and entry[0] is ref:  # not a new tensor's, under a reused id
        del rebased[key]


def as_used_by(node: Node, tensor: Tensor) -> Tensor:
    """The tensor as `node` used it: a snapshot of it if it was changed in place since."""
    entry = rebased.get(id(tensor))
    if entry is not None and entry[0]() is tensor:
        first_after = bisect.bisect_right(entry[1], node.sequence_nr)  # h += f(h) 10^5 times: no list walk
        if first_after < len(entry[1]):
            return entry[2][first_after]
    return tensor


def inputs_of(node: Node) -> tuple[Tensor | None, ...]:
    """node.inputs, each as the node used it."""
    if not rebased:
        return node.inputs
    return tuple(t if t is None else as_used_by(node, t) for t in node.inputs)


FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward."
)


class Node:
    """A `grad_fn`: turns the gradients of its outputs into gradients of its inputs."""

    __slots__ = ("__weakref__", "_name", "inputs", "retained", "sequence_nr")
    n_outputs = 1

    def __init__(self, name: str, inputs: tuple[Tensor | None, ...]) -> None:
        self._name = name
        # One entry per argument of the call: the tensor when it requires grad, else None.
        self.inputs = inputs
        self.sequence_nr = next_sequence_nr()
        self.retained: list[weakref.ref[Tensor]] | None = None  # weak: no cycle with the tensor

    def input_grads(self, grads: list[Array | None]) -> Sequence[tuple[Tensor, Array]]:
        """Given one gradient (or None) per output, each input that gets a gradient, with it.
        (run_backward applies an OpNode's rules itself.)"""
        raise NotImplementedError

    def release(self) -> None:
        """Drop what was saved for backward (retain_graph=False), so that another backward
        through this node fails as in PyTorch, if it needs what was saved."""

    def name(self) -> str:
        """PyTorch's name for this kind of node: `MulBackward0`, `CustomFunctionBackward`."""
        return _QUALIFIED.get(self._name, self._name)

    def __repr__(self) -> str:
        return f"<{self._name} object at {id(self):#x}>"

    @property
    def next_functions(self) -> tuple[tuple[Node | AccumulateGrad | None, int], ...]:
        """As in PyTorch: each input's grad_fn, a leaf's AccumulateGrad, None for what does not
        require grad."""
        return tuple(edge(t) for t in inputs_of(self))


class AccumulateGrad:
    """What next_functions shows for a leaf that requires grad, as in PyTorch: the node that adds
    a gradient into the leaf's .grad, with the leaf as `variable`; one per leaf, so that code that
    draws the graph meets it once. (The engine's backward adds into .grad without it.)"""

    __slots__ = ("__weakref__", "_variable")
    next_functions: tuple[tuple[Node | None, int], ...] = ()

    def __init__(self, variable: Tensor, gone: Callable[[Any], object]) -> None:
        self._variable = weakref.ref(variable, gone)  # weak: the leaf's is the table's entry, while it lives

    @property
    def variable(self) -> Tensor | None:
        return self._variable()

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"  # PyTorch's name() for it

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {id(self):#x}>"


# The nodes PyTorch's name() gives with their C++ namespace, where their repr has none.
_QUALIFIED = {"CopySlices": "torch::autograd::CopySlices"}


def edge(tensor: Tensor | None) -> tuple[Node | AccumulateGrad | None, int]:
    """One entry of next_functions: the tensor's grad_fn and output, a leaf's AccumulateGrad, or None."""
    if tensor is None:
        return None, 0
    return (tensor.grad_fn, tensor.output_nr) if tensor.grad_fn is not None else (accumulator(tensor), 0)


# By the leaf's id (a WeakKeyDictionary would compare tensors with ==, elementwise), each entry
# dropped as its leaf goes.
_ACCUMULATORS: dict[int, AccumulateGrad] = {}


def accumulator(leaf: Tensor) -> AccumulateGrad:
    """The leaf's AccumulateGrad, made when first asked for."""
    key = id(leaf)
    found = _ACCUMULATORS.get(key)
    if found is None or found.variable is not leaf:
        found = _ACCUMULATORS[key] = AccumulateGrad(leaf, lambda _: _ACCUMULATORS.pop(key, None))
    return found


class OpNode(Node):
    """The grad_fn of a primitive op of `engine.ops`: applies its backward rule to each input."""

    __slots__ = ("args", "frees", "kwargs", "out", "vjps")

    def __init__(
        self,
        name: str,
        vjps: tuple[Callable[..., Array] | None, ...],
        inputs: tuple[Tensor | None, ...],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        out: Array | None,
        frees: bool = True,
    ) -> None:
        # Node.__init__ written out: this runs once per recorded op.
        self._name = name
        self.inputs = inputs
        self.sequence_nr = next_sequence_nr()
        self.retained = None
        self.vjps = vjps
        self.args: tuple[Any, ...] | None = args
        self.kwargs = kwargs
        self.out: Array | None = out
        self.frees = frees  # see Op.needs

    def release(self) -> None:
        if self.frees:  # else it keeps nothing to free: see Op.needs
            self.args = self.out = None

    @property
    def next_functions(self) -> tuple[tuple[Node | AccumulateGrad | None, int], ...]:
        """As Node's, without the arguments the op has no rule for, as PyTorch leaves them out (where's
        condition, cross_entropy's labels)."""
        edges = super().next_functions
        return tuple(edge for edge, vjp in zip(edges, self.vjps, strict=True) if vjp is not None)


def _store_grad(tensor: Tensor, grad: Array, stored: set[int]) -> None:
    """Accumulate into `.grad`, once per tensor and backward pass. Each `.grad` gets an array
    of its own, as in PyTorch: one array can reach several tensors (x + y sends the same
    gradient to both). As PyTorch does, a leaf's `.grad` accumulates in place (it stays the
    same tensor across backward calls), a retained non-leaf's is replaced by the sum.

    `stored`: the arrays this backward pass may not write to or share: the roots' gradients
    and every `.grad` it has stored so far.
    """
    dtype = tensor.array.dtype
    if grad.dtype is not dtype and grad.dtype != dtype:
        grad = grad.astype(dtype)
    current = tensor._grad
    if current is not None:
        array = current.array
        mine = id(array) not in stored  # not a root's gradient, given back as it is
        if tensor.grad_fn is None and mine and array.flags.writeable and array.shape == grad.shape:
            versions.note_written(array, before=next_sequence_nr())  # a graph may have used p.grad
            array += grad
            return
        grad = array + grad
    elif id(grad) in stored or grad.base is not None or not grad.flags.writeable:
        grad = grad.copy()
    if grad.__class__ is not np.ndarray:
        grad = np.array(grad)  # NumPy gives a sum of 0-d arrays as a NumPy scalar
    stored.add(id(grad))
    tensor._grad = tensor.wrap(grad)  # a Tensor: engine.tensor imports this module


def _leading_to(inputs: Sequence[Tensor], roots: Sequence[Tensor]) -> set[Node]:
    """The nodes below the roots from which an input can be reached through their operands:
    what autograd.grad runs. Depth first, post-order, without recursion."""
    targets = {id(tensor) for tensor in inputs}
    leading: set[Node] = set()
    seen: set[Node] = set()
    stack: list[tuple[Node, bool]] = [(root.grad_fn, False) for root in roots if root.grad_fn is not None]
    while stack:
        node, below_done = stack.pop()
        operands = [t for t in inputs_of(node) if t is not None]
        if below_done:
            if any(id(t) in targets or t.grad_fn in leading for t in operands):
                leading.add(node)
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))
            stack.extend((t.grad_fn, False) for t in operands if t.grad_fn is not None and t.grad_fn not in seen)
    return leading


def _keep(
    node: Node,
    got: Any,
    inputs: list[tuple[int, Tensor]],
    captured: list[Array | None],
    stored: set[int],
    store_retained: bool,
) -> None:
    """At a node that only made inputs of autograd.grad: each input's gradient, a copy of its own
    (it may be one number for every element, or an array that went on elsewhere), and the
    retained .grad of its outputs."""

    def gradient(tensor: Tensor) -> Array | None:
        grad = got[tensor.output_nr] if node.n_outputs > 1 else got
        return None if grad is None else np.array(np.broadcast_to(grad, tensor.array.shape), tensor.array.dtype)

    for i, tensor in inputs:
        captured[i] = gradient(tensor)
    for ref in node.retained if store_retained and node.retained is not None else ():
        kept = ref()
        grad = gradient(kept) if kept is not None else None
        if kept is not None and grad is not None:
            _store_grad(kept, grad, stored)


def _rules_on_uniform(
    node: OpNode, g: Any, shape: tuple[int, ...], deliver: Callable[[Tensor, Any], None], stored: set[int]
) -> None:
    """An OpNode's rules on a gradient that is the number g at every element of its output,
    which has `shape`. What comes out of a rule is one number too unless the rule reads an
    array (g · y); each answer is summed back to its input's shape and delivered."""
    if node.retained is not None:
        for ref in node.retained:
            kept = ref()
            if kept is not None:
                _store_grad(kept, np.full(shape, g, kept.array.dtype), stored)
    vjps, args, out, kwargs = node.vjps, node.args, node.out, node.kwargs
    assert args is not None, "run_backward checks that the node still has its values"
    # x * x could take one rule on 2·g, but x's other gradients would then be added to its
    # parts in another order than PyTorch's, and round differently.
    for i, operand in enumerate(inputs_of(node)):
        if operand is None:
            continue
        grad = vjps[i](g, out, *args, **kwargs)  # type: ignore[misc]  # an input has a rule
        target = operand.array
        if grad.ndim == 0 and shape == target.shape:
            pass  # still one number for every element
        elif grad.shape != shape:
            # The answer has the shape of the arrays the rule read, which with one number for
            # g may fall short of the output's; it holds for every element of the output.
            grad = np.broadcast_to(grad, shape)
            grad = sum_to(grad, target.shape) if shape != target.shape else grad.copy()
        elif shape != target.shape:
            grad = sum_to(grad, target.shape)  # an operand the op broadcast
        if grad.dtype != target.dtype:
            grad = grad.astype(target.dtype)
        deliver(operand, grad)


def run_backward(
    roots: Sequence[tuple[Tensor, Array]],
    retain_graph: bool = False,
    tick: Callable[[], None] | None = None,
    inputs: Sequence[Tensor] | None = None,
    into_grad: bool = False,
    visit: Callable[[Node, Any], None] | None = None,
) -> list[Array | None]:
    """Backpropagate each root's gradient, accumulating into leaves' and retained `.grad`.

    `tick`, when given, is called before each node: the service's clock check. `visit`, when
    given, gets each node and the gradient of its output before its rules run (a list, one per
    output, for a node of several; for an OpNode's maybe one number for every element): what
    engine.rounding reads of every value, without keeping every gradient at once. A backward
    that fails leaves every leaf's `.grad` as it was (PyTorch may have added to some of them).
    With `inputs` (autograd.grad), no leaf's `.grad` changes: the gradient that reached each of
    them, a leaf or not, is returned (None where none did), in their order; `into_grad`
    (backward(inputs=...)) adds it to their `.grad` too, and to no other leaf's.
    """
    # The non-leaf inputs, by the node that made them: their gradient is what that node gets.
    # As PyTorch, autograd.grad runs only the nodes that lead to an input, and an input's own
    # node only to keep its gradient (and a retained .grad).
    wanted: dict[Node, list[tuple[int, Tensor]]] | None = None
    leading: set[Node] = set()
    lone_root: Node | None = None
    captured: list[Array | None] = [None] * len(inputs or ())
    if inputs is not None:
        wanted = {}
        for i, tensor in enumerate(inputs):
            if tensor.grad_fn is not None:
                wanted.setdefault(tensor.grad_fn, []).append((i, tensor))
        leading = _leading_to(inputs, [root for root, _ in roots])
        # As PyTorch, whose graph starts at a lone root's own node: it runs, if only to keep the
        # root's retained .grad, though it leads to no input. Several roots start at a node above them.
        lone_root = roots[0][0].grad_fn if len(roots) == 1 else None
    # Each node's output gradient, summed over paths: the array itself for a node of one
    # output (every OpNode: no list to make and index), else a list of one per output.
    pending: dict[Node, Any] = {}
    ready: list[tuple[int, Node]] = []
    # Each leaf's gradient, summed over paths, and stored in its .grad once every node has
    # run, as PyTorch's AccumulateGrad does: one store per leaf, and no rule can read a
    # .grad that this pass has already changed in place (q = p.grad; p / q).
    leaves: dict[Tensor, Array] = {}
    # The nodes whose gradient is one number for every element (see above), with the shape
    # of their output; a node stays in it after an array is added to its number. And the
    # leaves whose gradient may be one number, spread once the walk is over.
    uniform: dict[Node, tuple[int, ...]] = {}
    uniform_leaves: set[Tensor] = set()
    stored: set[int] = set()  # see _store_grad
    push, pop = heapq.heappush, heapq.heappop
    written, data_written = versions.modified, versions.own_written  # dicts, changed but never replaced
    changed = rebased

    def deliver(tensor: Tensor, grad: Array) -> None:
        """Hand a gradient to the node that made the tensor, or add it to a leaf's sum."""
        node = tensor.grad_fn
        if grad.ndim == 0 and tensor.array.ndim:  # one number for every element
            if node is None:
                uniform_leaves.add(tensor)
            elif id(getattr(node, "vjps", None)) in UNIFORM_RULES:
                uniform[node] = tensor.array.shape
            else:
                grad = np.full(tensor.array.shape, grad)  # for rules that read an array
        if node is None:
            total = leaves.get(tensor)
            leaves[tensor] = grad if total is None else total + grad
        elif node.n_outputs == 1:
            total = pending.get(node)
            if total is None:
                push(ready, (-node.sequence_nr, node))
            pending[node] = grad if total is None else total + grad
        else:
            slots = pending.get(node)
            if slots is None:
                slots = pending[node] = [None] * node.n_outputs
                push(ready, (-node.sequence_nr, node))
            total = slots[tensor.output_nr]
            slots[tensor.output_nr] = grad if total is None else total + grad

    def wait(node: Node, grad: Any) -> None:
        """Put the node taken to run next among the others, for the heap to order."""
        push(ready, (-node.sequence_nr, node))
        pending[node] = grad

    for root, upstream in roots:
        stored.add(id(upstream))
        deliver(root, upstream)
    # The node to run next when an op's rules lead to it alone and nothing else waits: a
    # chain's next link, taken without the heap and the dict of pending gradients.
    following: Node | None = None
    following_grad: Any = None
    while following is not None or ready:
        if following is not None:
            node, got, following = following, following_grad, None
        else:
            node = ready.pop()[1] if len(ready) == 1 else pop(ready)[1]
            got = pending.pop(node)
        if tick is not None:
            tick()
        if visit is not None:
            visit(node, got)
        if wanted is not None and (node in wanted or node not in leading):
            if node in wanted or node is lone_root:  # retained .grad stored here only if the rules below do not run
                _keep(node, got, wanted.get(node, []), captured, stored, store_retained=node not in leading)
            if node not in leading:
                continue
        if type(node) is not OpNode:
            grads = got if node.n_outputs > 1 else [got]
            # NumPy gives a sum of 0-d arrays as a NumPy scalar: a backward gets arrays.
            grads = [a if a is None or a.__class__ is np.ndarray else np.asarray(a) for a in grads]
            if node.retained is not None:
                for ref in node.retained:
                    kept = ref()
                    if kept is not None and grads[kept.output_nr] is not None:
                        _store_grad(kept, grads[kept.output_nr], stored)
            for tensor, grad in node.input_grads(grads):
                deliver(as_used_by(node, tensor) if changed else tensor, grad)
            if not retain_graph:
                node.release()
            continue
        # The op's backward rules, each answer summed back to its input's shape if the op
        # broadcast it and cast to its dtype, then delivered: `deliver` written out, as most
        # edges of a graph go out of an OpNode.
        g: Array = got
        args = node.args
        if args is None:  # OpNode.release drops it
            raise RuntimeError(FREED_MESSAGE)
        if (written or data_written) and node.frees:  # anything written over in place, and values saved
            versions.check_node(node)
        if uniform and node in uniform:
            shape = uniform.pop(node)
            if g.ndim == 0:  # still one number: no other path has added an array to it
                _rules_on_uniform(node, g, shape, deliver, stored)
                if not retain_graph:
                    node.release()
                continue
        if node.retained is not None:
            for ref in node.retained:
                kept = ref()
                if kept is not None:
                    _store_grad(kept, g, stored)
        out, kwargs, vjps = node.out, node.kwargs, node.vjps
        i = -1
        for operand in node.inputs if not changed else inputs_of(node):
            i += 1
            if operand is None:
                continue
            vjp: Callable[..., Array] = vjps[i]  # type: ignore[assignment]  # an input has a rule
            if kwargs:
                grad = vjp(g, out, *args, **kwargs)
            elif len(args) == 2:
                grad = vjp(g, out, args[0], args[1])  # 3x quicker than *args, for the usual case
            else:
                grad = vjp(g, out, *args)
            if grad.__class__ is not np.ndarray:
                grad = np.asarray(grad)  # a rule on 0-d arrays may give a NumPy scalar
            target = operand.array
            if grad.shape != target.shape:
                if grad.ndim == 0:  # one number for every element of the operand (a sum's rule)
                    if following is not None:  # deliver must see it pending
                        wait(following, following_grad)
                        following = None
                    deliver(operand, grad if grad.dtype == target.dtype else grad.astype(target.dtype))
                    continue
                grad = sum_to(grad, target.shape)
            if grad.dtype is not target.dtype and grad.dtype != target.dtype:
                grad = grad.astype(target.dtype)
            up = operand.grad_fn
            if up is None:
                total = leaves.get(operand)
                leaves[operand] = grad if total is None else total + grad
            elif up is following:  # x * x: both rules lead to it
                following_grad = following_grad + grad
            elif up.n_outputs == 1:
                total = pending.get(up)
                if total is None:
                    if following is None and not ready:
                        following, following_grad = up, grad
                    else:
                        push(ready, (-up.sequence_nr, up))
                        pending[up] = grad
                else:
                    pending[up] = total + grad
            else:
                if following is not None:
                    wait(following, following_grad)
                    following = None
                deliver(operand, grad)
        if following is not None and ready:  # another node waits too: the heap puts them in order
            wait(following, following_grad)
            following = None
        if not retain_graph and node.frees:  # OpNode.release written out, once every rule has run
            node.args = node.out = None
    for leaf in uniform_leaves:
        if leaves[leaf].ndim == 0:  # still one number for every element
            leaves[leaf] = np.full(leaf.array.shape, leaves[leaf], leaf.array.dtype)
    if inputs is not None:
        for i, tensor in enumerate(inputs):
            if tensor.grad_fn is None and tensor in leaves:
                captured[i] = np.array(leaves[tensor], tensor.array.dtype)  # a copy: one array may reach two
        for tensor, reached in zip(inputs, captured, strict=True) if into_grad else ():
            if reached is not None and tensor.grad_fn is None:  # a non-leaf retains it: stored on the way
                _store_grad(tensor, reached, stored)
        return captured
    for leaf, grad in leaves.items():
        if leaf._requires_grad:  # as AccumulateGrad: not a leaf set requires_grad=False since the forward
            _store_grad(leaf, grad, stored)
    return captured
