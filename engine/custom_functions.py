"""Custom functions of a spec, built as `engine.autograd.Function` subclasses.

A spec's function has a forward and a backward written as lists of assignments. Both are
compiled once with the expression compiler; the Function runs them at each call, so the
Python API and the service share one mechanism.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine import notices
from engine.autograd import Function, FunctionCtx, invalid_gradient, not_a_variable
from engine.errors import ComputeError, Loc, SpecError
from engine.expressions import CALL_LEVELS, Compiled, Scope, Signature, compile_expression
from engine.grad_mode import is_grad_enabled
from engine.limits import Limits, current_guard
from engine.names import check_name
from engine.tensor import Tensor, tensor


@dataclass
class Statement:
    names: list[str]  # one name, or several for a call of a multi-output function
    compiled: Compiled
    loc: Loc  # its expr in the request


@dataclass
class CustomFunction:
    """A compiled spec function, and the Function class that runs it."""

    name: str
    inputs: list[str]
    params: dict[str, Any]
    outputs: list[str]
    saved: list[str]
    forward: list[Statement]
    backward: list[Statement]
    loc: Loc = ()
    function: type[Function] = field(init=False)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.function = _function_class(self)

    def signature(self) -> Signature:
        defaults, apply, name, forward = self.params, self.function.apply, self.name, self.function.forward

        def call(args: list[Any], kw: dict[str, Any]) -> Any:
            if _through_forwards.get():  # its ops recorded, its hand-written backward not used
                needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
                return forward(FunctionCtx(needs), *args, {**defaults, **kw})
            if is_grad_enabled() and not any(isinstance(a, Tensor) and a.requires_grad for a in args):
                # Else the answer says nothing of a backward it never ran (a review's h = Sq(X) on data).
                notices.warn(
                    f"{name}: its hand-written backward never runs, so the check does not see it: none of its "
                    "inputs requires grad (PyTorch runs a Function's backward only toward inputs that do)"
                )
            return apply(*args, {**defaults, **kw})

        return Signature(
            self.name,
            tuple(self.inputs),
            defaults,
            len(self.outputs),
            call,
            # Forward runs within the caller's expression; backward runs from the graph's walk.
            CALL_LEVELS + max((s.compiled.depth for s in self.forward), default=0),
        )


# While set, a call of a spec function runs its forward's ops, recorded as any others: autograd
# of another function's forward, which the check compares a hand-written backward with, goes
# through the forwards of the functions it calls, not through their own backwards, which nothing
# checks there (a review: Q's forward calling Sq, both backwards wrong alike, passed).
_through_forwards: ContextVar[bool] = ContextVar("through_forwards", default=False)


@contextmanager
def through_forwards() -> Iterator[None]:
    """Within, spec functions called are differentiated through their forwards."""
    token = _through_forwards.set(True)
    try:
        yield
    finally:
        _through_forwards.reset(token)


def run_statements(statements: list[Statement], env: dict[str, Any]) -> None:
    guard = current_guard()
    for statement in statements:
        if guard is not None:
            guard.check_time()  # functions calling functions may run no op for a long time
        value = statement.compiled.evaluate(env)
        if len(statement.names) == 1:
            env[statement.names[0]] = value if isinstance(value, Tensor) else tensor(value)
        else:
            env.update(zip(statement.names, value, strict=True))


def _function_class(spec: CustomFunction) -> type[Function]:
    def forward(ctx: FunctionCtx, *args: Any) -> Any:
        *tensors, params = args
        env: dict[str, Any] = dict(zip(spec.inputs, tensors, strict=True))
        env.update(params)
        run_statements(spec.forward, env)
        ctx.save_for_backward(*(env[name] for name in spec.saved))
        ctx.params = params
        ctx.inputs = tensors
        outputs = tuple(env[name] for name in spec.outputs)
        for later, out in enumerate(outputs):
            first = next(i for i, o in enumerate(outputs) if o is out)
            if first < later:  # PyTorch would return it once, in the last place, and give the first no gradient
                one, other = spec.outputs[first], spec.outputs[later]
                raise ComputeError(
                    (*spec.loc, "outputs", later),
                    f"function '{spec.name}': outputs '{one}' and '{other}' are one tensor (a step assigns one "
                    f"to the other): PyTorch would return it once, and give its gradient to '{other}' alone; "
                    f"return a copy ({other} = {one} * 1)",
                )
        return outputs if len(outputs) > 1 else outputs[0]

    def backward(ctx: FunctionCtx, *grads: Any) -> Any:
        env: dict[str, Any] = dict(zip(spec.saved, ctx.saved_tensors, strict=True))
        env.update(ctx.params)
        env.update((f"grad_{name}", g) for name, g in zip(spec.outputs, grads, strict=True))
        # The check needs the upstream gradients of all backward calls together (several roots);
        # 0-d arrays add up to a NumPy number, made an array again.
        seen = ctx.__dict__.get("grad_outputs")
        ctx.grad_outputs = (
            grads
            if seen is None
            else tuple(Tensor.wrap(np.asarray(s.array + g.array)) for s, g in zip(seen, grads, strict=True))
        )
        run_statements(spec.backward, env)
        returned = [env.get(f"grad_{name}") for name in spec.inputs]
        for index, (grad, given) in enumerate(zip(returned, ctx.inputs, strict=True)):
            # Said here, where the statement that made it is known, not where autograd finds it.
            if grad is None:
                continue
            if not isinstance(given, Tensor):
                invalid: str | None = not_a_variable(f"{spec.name}Backward", index)
            elif given.requires_grad:  # else ignored, as in PyTorch
                invalid = invalid_gradient(f"{spec.name}Backward", index, grad.array.shape, given.array.shape)
                if not invalid and grad.array.size > given.array.size:  # summed to it: the answer says so
                    ctx.__dict__.setdefault("reduced", {})[spec.inputs[index]] = (grad.array.shape, given.array.shape)
            else:
                invalid = None
            if invalid:  # PyTorch's words, which count the inputs from 0, after the names
                name = spec.inputs[index]
                statement = next(s for s in spec.backward if f"grad_{name}" in s.names)
                raise ComputeError(
                    statement.loc, f"function '{spec.name}', backward: grad_{name}, for input {name}: {invalid}"
                )
        return (*returned, None)

    return type(
        spec.name,
        (Function,),
        {"forward": staticmethod(forward), "backward": staticmethod(backward)},
    )


def _statement_names(raw: Any, loc: Loc, label: str) -> list[str]:
    names = raw if isinstance(raw, list) else [raw]
    if not names:
        raise SpecError(loc, f"{label}: give a name, or a list of names")
    return [check_name(n, loc, label) for n in names]


def _name_list(raw: Any, loc: Loc, label: str) -> list[str]:
    if not isinstance(raw, list):
        raise SpecError(loc, f"{label} must be a list of names")
    names = [check_name(n, (*loc, i), label) for i, n in enumerate(raw)]
    if len(set(names)) != len(names):
        raise SpecError(loc, f"{label} names a tensor twice")
    return names


def compile_function(
    name: str,
    raw: Any,
    earlier: dict[str, Signature],
    later: list[str],
    limits: Limits,
    loc: Loc,
) -> CustomFunction:
    """Compile one spec function; it may call built-ins and the functions defined before it."""
    if not isinstance(raw, dict):
        raise SpecError(loc, f"function '{name}' must be an object with inputs, forward, outputs, backward")
    label = f"function '{name}'"
    inputs = _name_list(raw.get("inputs", []), (*loc, "inputs"), f"{label}: inputs")
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise SpecError((*loc, "params"), f"{label}: params must be an object of numbers and booleans")
    for pname, value in params.items():
        check_name(pname, (*loc, "params", pname), f"{label}: param")
        if not isinstance(value, bool | int | float):
            raise SpecError((*loc, "params", pname), f"{label}: param '{pname}' must be a number or a boolean")
    clash = set(inputs) & set(params)
    if clash:
        raise SpecError((*loc, "params"), f"{label}: '{sorted(clash)[0]}' is both an input and a param")
    hidden = {name: f"function '{name}' cannot call itself (recursion is not allowed)"}
    hidden.update(
        (
            other,
            f"function '{other}' is defined after '{name}': a function may only call functions defined before it",
        )
        for other in later
    )

    # Forward: inputs, params, then each statement's names in turn.
    scope = Scope(tensors=set(inputs), params=set(params), functions=dict(earlier), hidden=dict(hidden))
    forward = _compile_statements(raw.get("forward"), scope, limits, (*loc, "forward"), label, "forward")
    forward_names = set(inputs) | {n for s in forward for n in s.names}

    outputs = _name_list(raw.get("outputs", []), (*loc, "outputs"), f"{label}: outputs")
    if not outputs:
        raise SpecError((*loc, "outputs"), f"{label}: give at least one output")
    for i, out in enumerate(outputs):
        if out not in forward_names:
            raise SpecError(
                (*loc, "outputs", i),
                f"{label}: output '{out}' is not an input or a name assigned in forward",
            )
        if out in inputs:
            raise SpecError(
                (*loc, "outputs", i),
                f"{label}: output '{out}' is an input too, so that in backward grad_{out} would name both its "
                f"gradient as an output and the gradient to return for the input: return a name assigned in "
                f"forward ({out}_out = {out} * 1)",
            )
    saved = _name_list(raw.get("save_for_backward", []), (*loc, "save_for_backward"), f"{label}: save_for_backward")
    for i, kept in enumerate(saved):
        if kept not in forward_names:
            raise SpecError(
                (*loc, "save_for_backward", i),
                f"{label}: '{kept}' is not an input or a name assigned in forward",
            )

    # Backward: saved tensors, params and grad_<output>; every other forward name is hidden.
    grads = {f"grad_{out}" for out in outputs}
    taken = sorted(grads & (set(saved) | set(params)))
    if taken:
        raise SpecError(loc, f"{label}: '{taken[0]}' is the name backward gives the gradient of an output")
    unsaved = {
        n: f"'{n}' is not saved for backward: add '{n}' to save_for_backward of function '{name}'"
        for n in forward_names - set(saved)
    }
    scope = Scope(
        tensors=set(saved) | grads,
        params=set(params),
        functions=dict(earlier),
        hidden={**hidden, **unsaved},
    )
    backward = _compile_statements(raw.get("backward"), scope, limits, (*loc, "backward"), label, "backward")
    for statement in backward:
        for assigned in statement.names:
            if assigned in set(saved) | grads | set(params):
                raise SpecError(
                    (*loc, "backward"),
                    f"{label}: backward assigns '{assigned}', which it was given",
                )
    _check_gradient_names(backward, inputs, loc, label)

    result = CustomFunction(name, inputs, params, outputs, saved, forward, backward, loc)
    result.warnings = [w for s in forward + backward for w in s.compiled.warnings]
    return result


def _check_gradient_names(backward: list[Statement], inputs: list[str], loc: Loc, label: str) -> None:
    """A backward step named like a gradient, grad_<name>, of no input and read by no later step
    does nothing: a misspelt input, most likely, which would leave that input without a gradient."""
    wanted = {f"grad_{name}" for name in inputs}
    for i, statement in enumerate(backward):
        for assigned in statement.names:
            read_later = any(assigned in later.compiled.names for later in backward[i + 1 :])
            if assigned.startswith("grad_") and assigned not in wanted and not read_later:
                raise SpecError(
                    (*loc, "backward", i, "name"),
                    f"{label}: backward assigns '{assigned}', which no step reads and no input takes: the "
                    f"gradient of an input is named grad_<input> ({', '.join(sorted(wanted)) or 'no inputs'})",
                )


def _compile_statements(raw: Any, scope: Scope, limits: Limits, loc: Loc, label: str, part: str) -> list[Statement]:
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise SpecError(loc, f"{label}: {part} must be a list of {{name, expr}} assignments")
    statements = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or "expr" not in item or "name" not in item:
            raise SpecError((*loc, i), f"{label}: each {part} step needs a name and an expr")
        names = _statement_names(item["name"], (*loc, i, "name"), f"{label}: {part}[{i}]")
        for n in names:
            if n in scope.tensors or n in scope.params:
                raise SpecError(
                    (*loc, i, "name"),
                    f"{label}: {part}[{i}] assigns '{n}' again; names are assigned once",
                )
        compiled = compile_expression(item["expr"], scope, limits, (*loc, i, "expr"), f"{label}, {part} '{names[0]}'")
        if compiled.n_outputs != len(names):
            raise SpecError(
                (*loc, i, "name"),
                f"{label}: {part}[{i}] gets {compiled.n_outputs} output(s) but names {len(names)}",
            )
        scope.tensors.update(names)
        statements.append(Statement(names, compiled, (*loc, i, "expr")))
    return statements
