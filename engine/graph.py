"""The backward pass: nodes of the graph and the one loop that walks them.

Every node gets a sequence number when it is created. A node is always created after the
nodes of its inputs, so taking the highest-numbered node that has a pending gradient first
is a topological order: by then every path into it has delivered its part. PyTorch's own
engine orders its ready queue the same way. The walk is a loop over a heap, never a
recursion, so a chain of 100,000 nodes is no deeper than a chain of two.
"""

from __future__ import annotations

import heapq
import itertools
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from engine.tensor import Tensor

Array = np.ndarray[Any, Any]

_sequence = itertools.count()

FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward."
)


class Node:
    """A `grad_fn`: turns the gradients of its outputs into gradients of its inputs."""

    __slots__ = ("__weakref__", "_name", "freed", "inputs", "retained", "sequence_nr")
    n_outputs = 1

    def __init__(self, name: str, inputs: tuple[Tensor | None, ...]) -> None:
        self._name = name
        # One entry per argument of the call: the tensor when it requires grad, else None.
        self.inputs = inputs
        self.sequence_nr = next(_sequence)
        self.retained: list[weakref.ref[Tensor]] | None = None  # weak: no cycle with the tensor
        self.freed = False

    def backward(self, grads: list[Array | None]) -> Sequence[Array | None]:
        """Gradients for `self.inputs`, given one gradient (or None) per output."""
        raise NotImplementedError

    def release(self) -> None:
        """Drop what was saved for backward (retain_graph=False)."""
        self.freed = True

    def name(self) -> str:
        """PyTorch's name for this kind of node: `MulBackward0`, `CustomFunctionBackward`."""
        return self._name

    def __repr__(self) -> str:
        return f"<{self._name} object at {id(self):#x}>"

    @property
    def next_functions(self) -> tuple[tuple[Node | None, int], ...]:
        """As in PyTorch, but inputs that are leaves point to None (no AccumulateGrad)."""
        return tuple((t.grad_fn, t.output_nr) if t is not None else (None, 0) for t in self.inputs)


def _store_grad(tensor: Tensor, grad: Array, stored: set[int], made: set[int]) -> None:
    """Accumulate into `.grad`. Each `.grad` gets an array of its own, as in PyTorch: one
    array can reach several tensors (x + y sends the same gradient to both). As PyTorch does, a
    leaf's `.grad` accumulates in place (it stays the same tensor across backward calls), a
    retained non-leaf's is replaced by the sum.

    `stored`: the arrays this backward pass may not write to or share: the roots' gradients and
    every `.grad` stored as it arrived, which may still be on its way elsewhere (x + x delivers
    one array twice). `made`: the `.grad` arrays this pass made itself, which nothing else holds.
    """
    if grad.dtype != tensor.array.dtype:
        grad = grad.astype(tensor.array.dtype)
    current = tensor.grad
    if current is not None:
        array = current.array
        mine = id(array) not in stored or id(array) in made  # a .grad of earlier passes, or made here
        if tensor.grad_fn is None and mine and array.flags.writeable and array.shape == grad.shape:
            array += grad
            return
        grad = array + grad
        made.add(id(grad))
    elif id(grad) in stored or grad.base is not None or not grad.flags.writeable:
        grad = grad.copy()
        made.add(id(grad))
    stored.add(id(grad))
    tensor.set_grad(grad)


def run_backward(
    roots: Sequence[tuple[Tensor, Array]],
    retain_graph: bool = False,
    tick: Callable[[], None] | None = None,
) -> None:
    """Backpropagate each root's gradient, accumulating into leaves' and retained `.grad`.

    `tick`, when given, is called before each node: the service's clock check.
    """
    push, pop = heapq.heappush, heapq.heappop
    pending: dict[Node, list[Array | None]] = {}  # each node's output gradients, summed over paths
    ready: list[tuple[int, Node]] = []
    stored = {id(upstream) for _, upstream in roots}  # see _store_grad
    made: set[int] = set()

    def deliver(tensor: Tensor, grad: Array) -> None:
        node = tensor.grad_fn
        if node is None:
            _store_grad(tensor, grad, stored, made)
            return
        slots = pending.get(node)
        if slots is None:
            slots = pending[node] = [None] * node.n_outputs
            push(ready, (-node.sequence_nr, node))
        total = slots[tensor.output_nr]
        slots[tensor.output_nr] = grad if total is None else total + grad

    for root, upstream in roots:
        deliver(root, upstream)
    while ready:
        node = ready.pop()[1] if len(ready) == 1 else pop(ready)[1]  # a chain needs no heap work
        grads = pending.pop(node)
        if tick is not None:
            tick()
        if node.freed:
            raise RuntimeError(FREED_MESSAGE)
        if node.retained is not None:
            for ref in node.retained:
                kept = ref()
                if kept is not None and grads[kept.output_nr] is not None:
                    _store_grad(kept, grads[kept.output_nr], stored, made)  # type: ignore[arg-type]
        input_grads = node.backward(grads)
        if not retain_graph:
            node.release()
        for tensor, grad in zip(node.inputs, input_grads, strict=False):
            if tensor is not None and grad is not None:
                deliver(tensor, grad)
