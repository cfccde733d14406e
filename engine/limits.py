"""Bounds on what one spec may make the engine do: sizes, nesting, evaluations and time.

A `Guard` is installed (in a context variable) around each run. Compiled expressions call
`guarded_apply`, which predicts the size of an op's result before computing it and checks
the clock, so that no request allocates past its limits or runs past its deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np

from engine.batching import Batched, batched_apply
from engine.errors import LimitExceeded, Loc, OutOfTime
from engine.kernels import expanded
from engine.ops import Op
from engine.tensor import ARITHMETIC, Tensor, apply, apply_binary


@dataclass(frozen=True)
class Limits:
    """Every limit, with the `GRADLAB_` setting that raises it (named in the errors)."""

    max_nodes: int = 200
    max_functions: int = 32
    max_tensor_elements: int = 1_000_000
    max_total_elements: int = 20_000_000
    max_ndim: int = 8
    max_expr_length: int = 1_000
    # All of a request's expressions: compiling takes about 3 µs and 200 bytes a character
    max_total_expr_length: int = 100_000
    max_expr_depth: int = 100  # through custom function calls too: about 16 functions each calling the one before
    max_check_evaluations: int = 200_000
    auto_full_check_evaluations: int = 20_000
    time_limit_seconds: float = 10.0


def setting(name: str) -> str:
    return f"GRADLAB_{name.upper()}"


class Guard:
    """Counts what one evaluation allocates, and knows when time is up."""

    def __init__(self, limits: Limits, deadline: float) -> None:
        self.limits = limits
        self.deadline = deadline
        self.elements = 0
        self.kink_elements = 0  # of those, the inputs of relu, abs, max, ... (see engine.kinks)
        self.loc: Loc = ("body",)
        # Set once an evaluation of the same graph, with the same shapes, has passed the size
        # checks: the check's thousands of evaluations then only watch the clock.
        self.sizes_known = False
        self.batched = False  # evaluating many copies at once (engine.batching): sizes are the check's to bound

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise OutOfTime(
                self.loc,
                f"the request ran past its time limit of {self.limits.time_limit_seconds:g} s "
                f"(setting {setting('time_limit_seconds')})",
            )

    @contextmanager
    def time_boxed(self, share: float) -> Iterator[None]:
        """Within, time is up (OutOfTime) once `share` of the time left has passed: for a step
        that the request can do without, so that it cannot take all of it."""
        deadline = self.deadline
        now = time.monotonic()
        self.deadline = now + share * max(deadline - now, 0.0)
        try:
            yield
        finally:
            self.deadline = deadline

    def check_ndim(self, shape: Any) -> None:
        """Refuse a result of more axes than the setting allows, as leaves are refused."""
        ndim = len(shape) if isinstance(shape, tuple | list) else 1
        if ndim > self.limits.max_ndim:
            raise LimitExceeded(
                self.loc,
                f"this would make a tensor of {ndim} dimensions, over the limit of {self.limits.max_ndim} "
                f"(setting {setting('max_ndim')})",
            )

    def allocate(self, elements: int) -> None:
        limits = self.limits
        if elements > limits.max_tensor_elements:
            raise LimitExceeded(
                self.loc,
                f"this would make a tensor of {elements:,} elements, over the limit of "
                f"{limits.max_tensor_elements:,} (setting {setting('max_tensor_elements')})",
            )
        self.elements += elements
        if self.elements > limits.max_total_elements:
            raise LimitExceeded(
                self.loc,
                f"the graph would hold more than {limits.max_total_elements:,} elements in all "
                f"(setting {setting('max_total_elements')})",
            )


_guard: ContextVar[Guard | None] = ContextVar("guard", default=None)


@contextmanager
def guarded(guard: Guard) -> Iterator[Guard]:
    token = _guard.set(guard)
    try:
        yield guard
    finally:
        _guard.reset(token)


def current_guard() -> Guard | None:
    return _guard.get()


def start_evaluation() -> None:
    """One more evaluation of the graph (the check makes thousands): its allocations count anew."""
    guard = _guard.get()
    if guard is not None:
        guard.elements = guard.kink_elements = 0


_RESHAPING = frozenset({"broadcast_to", "matmul"})
_NEW_AXES = frozenset({"broadcast_to", "reshape"})  # the ops whose result may have more axes than their operands


def _shape(value: Any) -> tuple[int, ...]:
    # A zero-length axis counts as one: reducing over it (sum of shape (0, n) along 0) gives n.
    return tuple(max(n, 1) for n in value.shape) if isinstance(value, Tensor) else ()


def predicted_elements(op: Op, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """An upper bound on the size of `op`'s result, known before computing it."""
    shapes = [_shape(a) for a in args]
    if op.name not in _RESHAPING and all(s == shapes[0] for s in shapes):
        return prod(shapes[0])  # the common case, without np.broadcast_shapes
    if op.name == "broadcast_to":
        try:
            return prod(max(n, 1) for n in expanded(kwargs["shape"], shapes[0]))
        except RuntimeError:  # the op will say what is wrong, if the size is not wrong first
            target = kwargs["shape"]
            return prod(max(n, 1) for n in ((target,) if isinstance(target, int) else target))
    try:
        if op.name == "matmul" and all(shapes):
            # (..., n, k) @ (..., k, m) makes (..., n, m); a vector is one row or column.
            left, right = (
                shapes[0] if len(shapes[0]) > 1 else (1, *shapes[0]),
                shapes[1] if len(shapes[1]) > 1 else (*shapes[1], 1),
            )
            return prod(np.broadcast_shapes(left[:-2], right[:-2])) * left[-2] * right[-1]
        return prod(np.broadcast_shapes(*shapes))
    except ValueError:
        return max(prod(s) for s in shapes)  # the op itself will say what is wrong


def guarded_apply(op: Op, *args: Any, **kwargs: Any) -> Tensor:
    """`apply`, after checking the clock and the size of what it would allocate."""
    guard = _guard.get()
    if guard is not None:
        guard.check_time()
        if not guard.sizes_known:
            if op.name in _NEW_AXES:
                guard.check_ndim(kwargs["shape"])
            elements = predicted_elements(op, args, kwargs)
            guard.allocate(elements)
            if op.kink is not None:  # an elementwise op, or a reduction of its first argument
                guard.kink_elements += max(elements, prod(_shape(args[0])) if args else 0)
        if guard.batched and any(a.__class__ is Batched for a in args):
            return batched_apply(op, args, kwargs)
    if op.name in ARITHMETIC:
        return apply_binary(op, *args)
    return apply(op, *args, **kwargs)
