"""`engine.autograd.Function`: an op whose forward and backward are written by hand.

As in PyTorch: forward runs without recording a graph, its outputs get one node named
`<Name>Backward`, and backward receives one gradient per output (zeros for outputs that
received none) and returns one gradient per forward argument (None for no gradient).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine import versions
from engine.grad_mode import _enabled, no_grad
from engine.graph import (
    FREED_MESSAGE,
    AccumulateGrad,
    Array,
    Node,
    edge,
    inputs_of,
    next_sequence_nr,
    run_backward,
)
from engine.ops import sum_to
from engine.tensor import Tensor

__all__ = ["Function", "FunctionCtx", "backward", "grad"]


class FunctionCtx:
    """The `ctx` of forward and backward: saved tensors and any attributes you set."""

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad
        self._saved: tuple[Any, ...] = ()
        self._saved_at = 0
        self._released = False
        self._non_differentiable: set[int] = set()
        self._materialize_grads = True

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        # As in PyTorch, a backward without retain_graph frees what was saved, and only
        # reading it afterwards fails: a second backward that reads nothing saved works.
        if self._released and self._saved:
            raise RuntimeError(FREED_MESSAGE)
        for tensor in self._saved if versions.modified or versions.own_written else ():  # written over since
            if tensor is not None:
                versions.check_tensor(tensor, self._saved_at)
        return self._saved

    # ctx takes any attribute, as in PyTorch; these two say so to type checkers too.
    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"ctx has no attribute {name!r}: set it in forward first")

    def save_for_backward(self, *tensors: Any) -> None:
        for position, item in enumerate(tensors):
            if item is not None and not isinstance(item, Tensor):
                raise TypeError(
                    f"save_for_backward can only save variables, but argument {position} "
                    f"is of type {type(item).__name__}"
                )
        self._saved = tensors
        self._saved_at = next_sequence_nr()  # for saved_tensors: what was written over since

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        """Outputs that get no grad_fn and do not require grad (indices, masks); backward gets
        zeros as their gradient."""
        self._non_differentiable.update(id(tensor) for tensor in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        """With False, backward gets None, not zeros, for an output that received no gradient."""
        self._materialize_grads = bool(value)


class FunctionNode(Node):
    """The grad_fn of a custom Function call: runs the hand-written backward."""

    __slots__ = ("ctx", "function", "outputs", "variables")

    def __init__(
        self,
        function: type[Function],
        ctx: FunctionCtx,
        inputs: tuple[Tensor | None, ...],
        outputs: list[Array | None],
        variables: tuple[bool, ...],
    ) -> None:
        super().__init__(f"{function.__name__}Backward", inputs)
        self.function = function
        self.ctx = ctx
        self.outputs = outputs  # None where forward returned something else than a tensor
        self.variables = variables  # which arguments were tensors

    @property
    def n_outputs(self) -> int:  # type: ignore[override]
        return len(self.outputs)

    def __repr__(self) -> str:
        return f"<torch.autograd.function.{self._name} object at {id(self):#x}>"  # PyTorch's, module and all

    def release(self) -> None:
        self.ctx._released = True  # the node stays usable: see FunctionCtx.saved_tensors

    @property
    def next_functions(self) -> tuple[tuple[Node | AccumulateGrad | None, int], ...]:
        """One for each argument that was a tensor, as in PyTorch: a leaf's AccumulateGrad too."""
        tensors = [t for t, variable in zip(inputs_of(self), self.variables, strict=True) if variable]
        return tuple(edge(t) for t in tensors)

    def input_grads(self, grads: list[Array | None]) -> list[tuple[Tensor, Array]]:
        # PyTorch materializes the gradient of an output that received none as zeros, and gives
        # None for an output that was no tensor.
        materialize = self.ctx._materialize_grads
        grad_tensors = [
            None
            if out is None or (g is None and not materialize)
            else Tensor.wrap(np.zeros_like(out) if g is None else g)
            for g, out in zip(grads, self.outputs, strict=True)
        ]
        with no_grad():
            returned = self.function.backward(self.ctx, *grad_tensors)
        if not isinstance(returned, tuple):
            returned = (returned,)
        if len(returned) > len(self.inputs) and all(g is None for g in returned[len(self.inputs) :]):
            returned = returned[: len(self.inputs)]  # more Nones than arguments: PyTorch takes them
        if len(returned) != len(self.inputs):
            raise RuntimeError(
                f"function {self._name} returned an incorrect number of gradients "
                f"(expected {len(self.inputs)}, got {len(returned)})"
            )
        for i, g in enumerate(returned):
            if g is not None and not isinstance(g, Tensor):
                raise RuntimeError(f"expected Variable or None (got {type(g).__name__})")
            if g is not None and not self.variables[i]:
                raise RuntimeError(not_a_variable(self._name, i))
        given = [(self.inputs[i], self._input_grad(i, g)) for i, g in enumerate(returned)]
        return [(tensor, grad) for tensor, grad in given if grad is not None]  # type: ignore[misc]

    def _input_grad(self, index: int, grad: Any) -> Array | None:
        tensor = self.inputs[index]
        if grad is None or tensor is None:
            return None
        array = grad.array if isinstance(grad, Tensor) else np.asarray(grad)
        shape = tensor.array.shape
        if array.shape != shape:
            invalid = invalid_gradient(self._name, index, array.shape, shape)
            if invalid:
                raise RuntimeError(invalid)
            array = sum_to(array, shape)
        # A copy: the array may be any tensor's own (a saved input returned as it is), and a
        # leaf's .grad later accumulates in place. PyTorch clones such a gradient too.
        return np.array(array, dtype=tensor.array.dtype)


def not_a_variable(node: str, index: int) -> str:
    """PyTorch's error for a backward's gradient of an argument that was no tensor (a number)."""
    return (
        f"function {node} returned a gradient different than None at position {index + 1}, but the "
        "corresponding forward input was not a Variable"
    )


def invalid_gradient(node: str, index: int, got: tuple[int, ...], shape: tuple[int, ...]) -> str | None:
    """PyTorch's error for a backward's gradient of shape `got` for an input of `shape`, if it
    neither has that shape nor one that sums down to it."""
    try:
        if np.broadcast_shapes(shape, got) == got:
            return None
    except ValueError:
        pass
    return (
        f"Function {node} returned an invalid gradient at index {index} - got {list(got)} but expected shape "
        f"compatible with {list(shape)}"
    )


class Function:
    """Subclass with static `forward(ctx, *args)` and `backward(ctx, *grads)`; call `apply`. Or,
    as PyTorch's newer style has it, `forward(*args)` without ctx and a static
    `setup_context(ctx, inputs, output)` that fills ctx from them."""

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any) -> Any:
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def setup_context(ctx: FunctionCtx, inputs: tuple[Any, ...], output: Any) -> Any:
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Any) -> Any:
        raise NotImplementedError("You must implement the backward function for custom autograd.Function.")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        separate = cls.setup_context is not Function.setup_context  # forward takes no ctx then
        if kwargs:
            args = _by_position(cls.forward, args, kwargs, skip=0 if separate else 1)
        recording = _enabled.get()
        inputs = tuple(a if recording and isinstance(a, Tensor) and a.requires_grad else None for a in args)
        ctx = FunctionCtx(tuple(isinstance(a, Tensor) and a.requires_grad for a in args))  # no_grad or not
        with no_grad():
            if separate:
                returned = cls.forward(*args)
                cls.setup_context(ctx, _with_defaults(cls.forward, args), returned)
            else:
                returned = cls.forward(ctx, *args)
        many = isinstance(returned, tuple)
        results = list(returned) if many else [returned]
        outputs = [r.array if isinstance(r, Tensor) else None for r in results]
        if any(t is not None for t in inputs) and any(out is not None for out in outputs):
            node = FunctionNode(cls, ctx, inputs, outputs, tuple(isinstance(a, Tensor) for a in args))
            # A tensor made in forward and returned twice is one output, as in PyTorch: the last of
            # its places, which gets its gradient (the others get zeros). An input returned is an
            # output of its own at each place, as there.
            given = {id(a) for a in args if isinstance(a, Tensor)}
            last = {id(r): i for i, r in enumerate(results) if isinstance(r, Tensor) and id(r) not in given}
            made = {key: _output(results[i], node, i, ctx) for key, i in last.items()}
            results = [
                made[id(r)] if id(r) in made else _output(r, node, i, ctx) if isinstance(r, Tensor) else r
                for i, r in enumerate(results)
            ]
        return tuple(results) if many else results[0]


def _with_defaults(forward: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The arguments forward got, its defaults after them, as PyTorch gives setup_context its inputs."""
    params = [
        p
        for p in inspect.signature(forward).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return (*args, *(p.default for p in params[len(args) :] if p.default is not p.empty))


def _by_position(forward: Any, args: tuple[Any, ...], kwargs: dict[str, Any], skip: int) -> tuple[Any, ...]:
    """Keyword arguments put in the places of forward's parameters after the first `skip` (ctx),
    in order, as PyTorch binds them: a gap, or a name forward does not take by position, is
    refused in its words."""
    names = [
        p.name
        for p in inspect.signature(forward).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ][skip:]
    unknown = [name for name in kwargs if name not in names[len(args) :]]
    if unknown:
        raise TypeError(f"forward() got an unexpected keyword argument '{unknown[0]}'")
    given, left = list(args), dict(kwargs)
    for position in range(len(args), len(names)):
        if not left:
            break
        if names[position] not in left:
            raise TypeError(f"forward() missing required argument: '{names[position]}' (position {position})")
        given.append(left.pop(names[position]))
    return tuple(given)


def _output(tensor: Tensor, node: FunctionNode, output_nr: int, ctx: FunctionCtx) -> Tensor:
    """An output of a recorded call. As in PyTorch, one of an integer or bool dtype, or marked
    non-differentiable, records no grad_fn, and backward gets zeros as its gradient."""
    if tensor.array.dtype.kind != "f" or id(tensor) in ctx._non_differentiable:
        return Tensor.wrap(tensor.array)
    return Tensor.wrap(tensor.array, requires_grad=True, grad_fn=node, output_nr=output_nr)


def _roots(tensors: Tensor | Sequence[Tensor], gradients: Any) -> list[tuple[Tensor, Array]]:
    """Each root with its upstream gradient, given for each or one for all (None: ones)."""
    roots = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    grads = gradients if isinstance(gradients, list | tuple) else [gradients] * len(roots)
    if len(grads) != len(roots):
        raise RuntimeError(f"got {len(roots)} tensors and {len(grads)} gradients")
    for i, root in enumerate(roots):
        if not root.requires_grad:  # PyTorch's words, with the root's place
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
    return [(root, root._upstream(g)) for root, g in zip(roots, grads, strict=True)]


def backward(
    tensors: Tensor | list[Tensor],
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Tensor | Sequence[Tensor] | None = None,
) -> None:
    """`engine.autograd.backward`: backpropagate from several roots in one pass; with `inputs`,
    into their `.grad` alone (and the retained `.grad` on the way), as PyTorch does."""
    if create_graph:
        raise NotImplementedError("create_graph=True (higher-order gradients) is not supported")
    wrt = None if inputs is None else list(dict.fromkeys([inputs] if isinstance(inputs, Tensor) else inputs))
    if wrt == []:  # each input once; none is said before anything else, as PyTorch says it
        raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
    roots = _roots(tensors, grad_tensors)
    if wrt is None:
        run_backward(roots, retain_graph=bool(retain_graph))
        return
    for tensor in wrt:  # as PyTorch: each input retains its gradient from now on (or says why not)
        tensor.retain_grad()
    run_backward(roots, retain_graph=bool(retain_graph), inputs=wrt, into_grad=True)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
    materialize_grads: bool = False,
) -> tuple[Tensor | None, ...]:
    """`engine.autograd.grad`: the gradients of the outputs with respect to the inputs, returned
    instead of added to `.grad` (retained gradients are kept, as in PyTorch)."""
    if create_graph:
        raise NotImplementedError("create_graph=True (higher-order gradients) is not supported")
    wrt = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if not wrt:
        raise RuntimeError("`inputs` argument to `grad()` cannot be empty.")
    roots = _roots(outputs, grad_outputs)  # the outputs first, as PyTorch checks them
    if not all(tensor.requires_grad for tensor in wrt):
        raise RuntimeError("One of the differentiated Tensors does not require grad")
    captured = run_backward(roots, retain_graph=bool(retain_graph), inputs=wrt)
    result: list[Tensor | None] = []
    for i, (tensor, array) in enumerate(zip(wrt, captured, strict=True)):
        if array is None and materialize_grads:
            array = np.zeros_like(tensor.array)
        elif array is None and not allow_unused:
            raise RuntimeError(
                f"The differentiated Tensor at index {i} appears to not have been used in the graph. Set "
                "allow_unused=True if this is the desired behavior."
            )
        result.append(None if array is None else Tensor.wrap(array))
    return tuple(result)
