"""The least bookkeeping a define-by-run autograd on NumPy can do: a yardstick, not a library.

Each op computes its NumPy answer and records a node: a creation number, the operands and one
backward rule that turns the node's gradient into one gradient per operand. `backward()`
walks the nodes newest first (every node was made after its operands' nodes, so by then each
node's gradient is summed over all its paths), stores the gradients of the tensors that
retain them, and sums each leaf's.

Nothing else: every tensor requires grad; no dtype promotion, no shape or dtype checks, no
grad_fn names, no versions, no copies, no graph freed; only the ops that the seed graph and
the chain use (tensor · tensor, tensor · number, tensor + tensor, sum). The engine's time
beyond this is the price of its features; this one's time beyond the NumPy floor is the price
of recording ops one by one in Python, which no engine of this kind can avoid.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]
_next_order = itertools.count().__next__


def _mul(g: Array, a: Array, b: Array) -> tuple[Array, Array]:
    return g * b, g * a


def _scale(g: Array, factor: float) -> tuple[Array]:
    return (g * factor,)


def _add(g: Array) -> tuple[Array, Array]:
    return g, g


def _sum(g: Array, shape: tuple[int, ...]) -> tuple[Array]:
    return (np.full(shape, g),)


class Node:
    __slots__ = ("operands", "order", "retained", "rule", "saved")

    def __init__(
        self, operands: tuple[Tensor, ...], rule: Callable[..., tuple[Array, ...]], saved: tuple[Any, ...]
    ) -> None:
        self.order = _next_order()
        self.operands = operands
        self.rule = rule  # the gradient of each operand, from g and what was saved
        self.saved = saved
        self.retained: Tensor | None = None


class Tensor:
    __slots__ = ("array", "grad", "node")

    def __init__(self, array: Array, node: Node | None = None) -> None:
        self.array = array
        self.node = node
        self.grad: Array | None = None

    def __mul__(self, other: Tensor | float) -> Tensor:
        if other.__class__ is Tensor:
            a, b = self.array, other.array
            return Tensor(a * b, Node((self, other), _mul, (a, b)))
        return Tensor(self.array * other, Node((self,), _scale, (other,)))

    __rmul__ = __mul__

    def __add__(self, other: Tensor) -> Tensor:
        return Tensor(self.array + other.array, Node((self, other), _add, ()))

    def sum(self) -> Tensor:
        return Tensor(self.array.sum(), Node((self,), _sum, (self.array.shape,)))

    def retain_grad(self) -> None:
        if self.node is not None:
            self.node.retained = self

    def backward(self) -> None:
        assert self.node is not None, "backward from a leaf"
        pending: dict[Node, Array] = {self.node: np.ones_like(self.array)}
        ready = [(-self.node.order, self.node)]
        leaves: dict[Tensor, Array] = {}
        while ready:
            node = heapq.heappop(ready)[1]
            g = pending.pop(node)
            if node.retained is not None:
                node.retained.grad = g
                node.retained = None  # the tensor holds its node: no cycle left behind
            for operand, grad in zip(node.operands, node.rule(g, *node.saved), strict=True):
                up = operand.node
                if up is None:
                    total = leaves.get(operand)
                    leaves[operand] = grad if total is None else total + grad
                    continue
                total = pending.get(up)
                if total is None:
                    heapq.heappush(ready, (-up.order, up))
                    pending[up] = grad
                else:
                    pending[up] = total + grad
        for leaf, grad in leaves.items():
            leaf.grad = grad if leaf.grad is None else leaf.grad + grad


def tensor(data: Any, requires_grad: bool = True) -> Tensor:
    """A leaf, float32 as PyTorch makes it from floats; it requires grad whatever is asked."""
    return Tensor(np.array(data, dtype=np.float32))
