"""How far a graph's objective may be off by its own rounding: a bound the check's steps measure against.

Every op rounds its result v to v·(1 + δ) with |δ| ≤ u, float64's unit roundoff, and so moves
the objective F by about ∂F/∂v · v · δ. Summed over every value the graph computes, u·Σ|∂F/∂v|·|v|
bounds F's rounding to first order (a running error analysis). It is large where F's value
cancels: log(1 - sigmoid(28)) keeps 4 digits, (x + 1e8) - 1e8 has 8 left of x's 16. A finite
difference over a step h divides it by h: at such points the rounding of a few ulps of F,
which is all the stencil's values show (their rounding is regular, each step as rounded as
the next), says nothing of it.

Only the values that a target's step changes round differently from one evaluation to the
next: each target gets the sum over the values that depend on it, for a step of all of its
elements at once (a random direction), and for a step of one element. Which elements of a
value one element's step reaches, the graph does not say cheaply: as many as the value has
per element of the target, at least one (one of y = x + 1e8, one row of x·yᵀ, the one
number of sum(x)), each taken at the value's largest share; never more than the whole. That
takes too little where each element reaches every element of a value of x's size (softmax,
x @ W): then the stencils' own rounding estimates stand, as they did without the bound.

A bound, not an estimate: values that round alike and cancel exactly (y·y - y·y) count as
rounding that never shows, which loosens the tolerance there. A custom function's forward is
seen through its ops, where the check runs it so (engine.custom_functions.through_forwards).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.graph import Array, Node, inputs_of, run_backward
from engine.tensor import Tensor

UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2
_NONE: frozenset[str] = frozenset()


@dataclass
class Rounding:
    """How far F may be off by rounding when a target moves: all of it, or one element."""

    whole: float = 0.0
    element: float = 0.0


def objective_rounding(
    roots: list[tuple[Tensor, Array]], targets: dict[str, Tensor], tick: Callable[[], None] | None = None
) -> dict[str, Rounding]:
    """For each target (a leaf or a node of the graph that `roots` end, in float64): how far
    F = Σ sum(root · gradient) may be off by the rounding of the values that depend on it."""
    # Every value the graph computed, found from the roots, each once; in the order computed.
    found: dict[int, Tensor] = {}
    stack = [root for root, _ in roots]
    while stack:
        tensor = stack.pop()
        if id(tensor) in found or tensor.grad_fn is None:
            continue
        found[id(tensor)] = tensor
        stack.extend(t for t in inputs_of(tensor.grad_fn) if t is not None)
    computed = sorted(found.values(), key=lambda t: t.grad_fn.sequence_nr)  # type: ignore[union-attr]
    # Which targets each value depends on (its own names, for a target), in the order computed.
    under: dict[int, frozenset[str]] = {}
    for name, tensor in targets.items():  # several names may be one tensor
        under[id(tensor)] = under.get(id(tensor), _NONE) | {name}
    made: dict[Node, list[tuple[Tensor, frozenset[str]]]] = {}  # each node's outputs that depend on a target
    for tensor in computed:
        node = tensor.grad_fn
        assert node is not None
        depends = _NONE.union(*[under.get(id(t), _NONE) for t in inputs_of(node) if t is not None])
        under[id(tensor)] = under.get(id(tensor), _NONE) | depends
        if depends:
            made.setdefault(node, []).append((tensor, depends))
    rounding = {name: Rounding() for name in targets}

    def add_shares(node: Node, got: Any) -> None:
        """A value's share of F's rounding, from its gradient as the backward reaches it (each
        gradient dropped once read, where retaining them all would hold a copy of the graph)."""
        for tensor, depends in made.get(node, ()):
            grad = got[tensor.output_nr] if node.n_outputs > 1 else got
            if grad is None:
                continue
            products = np.abs(grad) * np.abs(tensor.array)  # grad may be one number for every element
            finite = np.isfinite(products)  # 0 · inf is NaN: no share of a finite F
            share = UNIT_ROUNDOFF * float(np.sum(products, where=finite))
            largest = UNIT_ROUNDOFF * float(np.max(products, where=finite, initial=0.0))
            for name in depends:
                reached = max(1, tensor.array.size // max(1, targets[name].array.size))
                bound = rounding[name]
                bound.whole += share
                bound.element += min(share, reached * largest)

    with np.errstate(invalid="ignore", over="ignore"):
        run_backward(roots, retain_graph=True, tick=tick, visit=add_shares)
    return rounding
