"""A graph spec (the body of `POST /backward`) compiled into a program, and its run.

`compile_spec` checks everything that can be checked before computing: names, references,
expressions, custom functions, sizes. `Program.run` then builds the leaves, evaluates the
nodes in order, runs each backward root, and reports every tensor as PyTorch would show it.
The input is plain JSON data; the service validates its wire format separately.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from engine import dtypes, notices
from engine.autograd import FunctionNode
from engine.counts import check_counts
from engine.custom_functions import CustomFunction, compile_function
from engine.errors import COMPUTE_FAILURES, ComputeError, LimitExceeded, Loc, SpecError
from engine.expressions import Compiled, Scope, Signature, compile_expression
from engine.graph import Array, run_backward
from engine.limits import Guard, Limits, current_guard, guarded, setting, start_evaluation
from engine.names import check_name
from engine.tensor import Tensor, tensor
from engine.values import initialized, nested_to_array

DTYPES = ("float32", "float64", "int64")


@dataclass
class Leaf:
    name: str
    array: Array
    requires_grad: bool


@dataclass
class Node:
    names: list[str]
    compiled: Compiled
    retain: list[str]
    loc: Loc
    label: str


@dataclass
class Root:
    name: str
    gradient: Any  # the raw JSON value, checked against the root's shape once it is known
    loc: Loc
    implicit: bool = False  # backward left out: the last node, as the request did not say it

    def said(self) -> str:
        """How an error about this root says where it came from, when the request did not name it."""
        if not self.implicit:
            return ""
        return (
            f" (backward was left out, so the last node, '{self.name}', is the root; name the root and its "
            f'gradient in backward: {{"root": "{self.name}", "gradient": ...}})'
        )


@dataclass
class Call:
    """One call of a custom function in the graph, as the check needs to see it."""

    function: str
    node: str | list[str]  # the calling node's name, or names for several outputs
    grad_fn: FunctionNode
    nth: int = 0  # which call of the function in its node, from 1, where the node makes several

    @property
    def place(self) -> str:
        """Where messages say the call is: "node y", or "call 2 in node y"."""
        return f"call {self.nth} in node {self.node}" if self.nth else f"node {self.node}"

    @property
    def label(self) -> str:
        """How messages begin on the call: "Sig", or "Sig (call 2 in node y)" beside another Sig."""
        return f"{self.function} ({self.place})" if self.nth else self.function


@dataclass
class TensorReport:
    shape: tuple[int, ...]
    dtype: str
    is_leaf: bool
    requires_grad: bool
    grad_fn: str | None
    retains_grad: bool | None  # None for leaves, where PyTorch's answer is always False
    value: Array
    grad: Array | None


@dataclass
class Result:
    tensors: dict[str, TensorReport]
    warnings: list[str]
    env: dict[str, Tensor]
    calls: list[Call]


def _not_differentiable(tensor: Tensor) -> str:
    """Why a tensor cannot require grad whatever it depends on, if its dtype is why: an integer or
    bool value (a custom function's integer output among them, as in PyTorch)."""
    dtype = tensor.array.dtype
    return f"its dtype, {dtype}, is not differentiable" if dtype.kind != "f" else ""


@dataclass
class Program:
    leaves: list[Leaf]
    nodes: list[Node]
    functions: dict[str, CustomFunction]
    roots: list[Root]
    limits: Limits
    warnings: list[str] = field(default_factory=list)

    def leaf_arrays(self, float64: bool = False) -> dict[str, Array]:
        """The leaves' values; with float64, floating leaves in float64 (for the check)."""
        return {
            leaf.name: leaf.array.astype(np.float64) if float64 and leaf.array.dtype.kind == "f" else leaf.array
            for leaf in self.leaves
        }

    def leaf_tensors(self, arrays: dict[str, Array], requires_grad: bool = True) -> dict[str, Tensor]:
        """The leaves as tensors: the start of one evaluation."""
        guard = self.start_evaluation()
        env: dict[str, Tensor] = {}
        for leaf in self.leaves:
            array = arrays[leaf.name]
            guard.allocate(array.size)
            env[leaf.name] = Tensor.wrap(array, requires_grad=requires_grad and leaf.requires_grad)
        return env

    def start_evaluation(self) -> Guard:
        """Each evaluation (the check makes thousands) has its own count of elements allocated."""
        start_evaluation()
        return _current_guard()

    def dependents(self, name: str) -> list[int]:
        """The nodes whose value depends on `name`, directly or not, in evaluation order."""
        affected, found = {name}, []
        for i, node in enumerate(self.nodes):
            if node.compiled.names & affected:
                found.append(i)
                affected.update(node.names)
        return found

    def evaluate_nodes(self, env: dict[str, Tensor], only: list[int] | None = None) -> None:
        """Evaluate the nodes (or those of `only`) into `env`, the values only: what the check re-runs."""
        guard = _current_guard()
        for node in self.nodes if only is None else [self.nodes[i] for i in only]:
            _evaluate(node, env, guard)

    def forward(
        self, leaf_arrays: dict[str, Array] | None = None, warnings: list[str] | None = None
    ) -> tuple[dict[str, Tensor], list[Call]]:
        """Build the leaves and evaluate every node in order, recording the graph. What the ops
        warn of goes into `warnings`, after the name of the node that made them say it."""
        env = self.leaf_tensors(leaf_arrays or self.leaf_arrays())
        calls: list[Call] = []
        earlier: set[int] = set()  # grad_fns of the tensors named so far
        guard = _current_guard()
        for node in self.nodes:
            with notices.collected() as heard:
                _evaluate(node, env, guard)
            if warnings is not None:
                warnings.extend(f"{', '.join(node.names)}: {message}" for message in dict.fromkeys(heard))
            label = node.names[0] if len(node.names) == 1 else list(node.names)
            calls.extend(_calls_in(label, [env[n] for n in node.names], earlier))
            earlier.update(id(env[n].grad_fn) for n in node.names)
            for name in node.retain:
                tensor = env[name]
                if not tensor.requires_grad:
                    why = _not_differentiable(tensor)
                    why = f"'{name}': {why}" if why else f"'{name}' does not depend on any leaf with requires_grad=true"
                    raise SpecError(
                        (*node.loc[:-1], "retain_grad"),
                        f"{node.label}: can't retain_grad on Tensor that has requires_grad=False ({why})",
                    )
                tensor.retain_grad()
        return env, calls

    def backward(self, env: dict[str, Tensor], warnings: list[str] | None = None) -> list[tuple[str, Array]]:
        """Run each root's backward in order, gradients accumulating as with retain_graph=True.
        What ops warn of (in custom backwards) goes into `warnings`, after the root's name.

        Returns each root with its upstream gradient: the check's objective is their sum of
        products, sum(root * gradient) over all roots.
        """
        guard = _current_guard()
        upstream = []
        for root in self.roots:
            guard.loc = root.loc
            tensor = env[root.name]
            if not tensor.requires_grad:
                why = _not_differentiable(tensor) or "no leaf it depends on has requires_grad=true"
                raise SpecError(
                    root.loc,
                    f"backward root '{root.name}' does not require grad: element 0 of tensors does not "
                    f"require grad and does not have a grad_fn ({why}){root.said()}",
                )
            gradient = self.upstream(root, tensor)
            upstream.append((root.name, gradient))
            try:
                with notices.collected() as heard:
                    run_backward([(tensor, gradient)], retain_graph=True, tick=guard.check_time)
                if warnings is not None:
                    warnings.extend(f"backward from '{root.name}': {message}" for message in dict.fromkeys(heard))
            except SpecError:
                raise
            except COMPUTE_FAILURES as error:
                raise ComputeError(root.loc, f"backward from '{root.name}': {error}") from None
        return upstream

    def upstream(self, root: Root, tensor: Tensor) -> Array:
        if root.gradient is None:
            if tensor.numel() != 1:
                raise SpecError(
                    root.loc,
                    f"grad can be implicitly created only for scalar outputs: '{root.name}' has shape "
                    f"{list(tensor.shape)}; give a gradient of that shape{root.said()}",
                )
            return np.ones_like(tensor.array)
        gradient = nested_to_array(
            root.gradient,
            tensor.array.dtype,
            (*root.loc, "gradient"),
            f"the gradient for '{root.name}'",
            self.limits,
        )
        if gradient.shape != tensor.shape:
            raise SpecError(
                (*root.loc, "gradient"),
                f"the gradient for '{root.name}' has shape {list(gradient.shape)} but '{root.name}' has "
                f"shape {list(tensor.shape)}",
            )
        return gradient

    def run(self, deadline: float | None = None) -> Result:
        """Forward, backward and a report of every tensor, within the limits."""
        heard: list[str] = []
        with self.guard(deadline), np.errstate(all="ignore"):
            env, calls = self.forward(warnings=heard)
            self.backward(env, warnings=heard)
        return Result(self.report(env), self.warnings + heard + self.tensor_warnings(env, calls), env, calls)

    @contextmanager
    def guard(self, deadline: float | None = None) -> Iterator[Guard]:
        if deadline is None:
            deadline = time.monotonic() + self.limits.time_limit_seconds
        with guarded(Guard(self.limits, deadline)) as guard, notices.collected():  # none reach the log
            yield guard

    def names(self) -> list[str]:
        return [leaf.name for leaf in self.leaves] + [n for node in self.nodes for n in node.names]

    def report(self, env: dict[str, Tensor]) -> dict[str, TensorReport]:
        reports = {}
        for name in self.names():
            t = env[name]
            reports[name] = TensorReport(
                shape=t.shape,
                dtype=t.dtype.name,
                is_leaf=t.is_leaf,
                requires_grad=t.requires_grad,
                grad_fn=t.grad_fn.name() if t.grad_fn is not None else None,
                retains_grad=None if t.is_leaf else t.retains_grad,
                value=t.array,
                grad=t._grad.array if t._grad is not None else None,
            )
        return reports

    def _no_gradient_reached(self, tensor: Tensor, calls: list[Call]) -> str:
        """Why no gradient reached a tensor that requires grad: a custom backward that gives
        none for it (None, as PyTorch takes a missing gradient), or no root depending on it."""
        for call in calls:
            if "grad_outputs" not in call.grad_fn.ctx.__dict__:
                continue  # backward never reached this call
            spec = self.functions[call.function]
            given = {name for statement in spec.backward for name in statement.names}
            for name, argument in zip(spec.inputs, call.grad_fn.inputs, strict=False):
                if argument is tensor and f"grad_{name}" not in given:
                    return f"the backward of {call.function} ({call.place}) gives no grad_{name}, which counts as None"
        if not self.roots:
            return "no backward ran (backward is an empty list; left out, it is the last node)"
        return "no backward root depends on it"

    def tensor_warnings(self, env: dict[str, Tensor], calls: list[Call]) -> list[str]:
        warnings = []
        constants: dict[str, list[str]] = {}  # why, the names: one warning for all of one reason
        for name in self.names():
            t = env[name]
            if t._grad is not None:
                continue
            if not t.requires_grad:
                why = _not_differentiable(t) or (
                    "requires_grad is false" if t.is_leaf else "no leaf it depends on requires grad"
                )
                constants.setdefault(why, []).append(name)
            elif not t.is_leaf and not t.retains_grad:
                warnings.append(f"{name}: .grad of a non-leaf tensor that does not retain its gradient is None")
            else:
                warnings.append(f"{name}: .grad is None: {self._no_gradient_reached(t, calls)}")
        for call in calls:
            for name, (got, shape) in call.grad_fn.ctx.__dict__.get("reduced", {}).items():
                warnings.append(
                    f"{call.function} ({call.place}): grad_{name} has the shape {list(got)}, and is summed to "
                    f"{name}'s {list(shape)} over the axes it broadcast, as PyTorch sums it: the backward leaves "
                    "that sum out"
                )
        for why, names in constants.items():  # the constants' last: the others say more
            they = "it does not" if len(names) == 1 else "they do not"
            warnings.append(f"{', '.join(names)}: .grad is None: {they} require grad ({why})")
        for what, get in (
            ("value", lambda t: t.array),
            ("gradient", lambda t: t._grad.array if t._grad is not None else None),
        ):
            for name in self.names():
                array = get(env[name])
                if array is not None and array.dtype.kind == "f" and not np.all(np.isfinite(array)):
                    warnings.append(
                        f"{name}: the {what} has NaN or infinite elements (the first tensor where they appear)"
                    )
                    break
        return warnings


def _evaluate(node: Node, env: dict[str, Tensor], guard: Guard) -> None:
    """One node's value (or values, for a call with several outputs) into `env`."""
    guard.loc = node.loc
    guard.check_time()
    value = node.compiled.evaluate(env)
    if len(node.names) == 1:
        env[node.names[0]] = value if isinstance(value, Tensor) else tensor(value)  # sqrt(3), as torch.tensor
    else:
        env.update(zip(node.names, value, strict=True))


def _calls_in(node: str | list[str], outputs: list[Tensor], earlier: set[int]) -> list[Call]:
    """Custom function calls made by one node's expression: the FunctionNodes it created, found
    from each of its outputs (an integer one has none), in the order they were made."""
    found: list[Call] = []
    seen = set(earlier)
    stack = [tensor.grad_fn for tensor in outputs]
    while stack:
        fn = stack.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        if isinstance(fn, FunctionNode):
            found.append(Call(fn.function.__name__, node, fn))
        stack.extend(t.grad_fn for t in fn.inputs if t is not None)
    found.sort(key=lambda call: call.grad_fn.sequence_nr)
    for name, n in Counter(call.function for call in found).items():
        if n > 1:  # sum(Sig(x) * Sig(2 * x)): told apart in the messages by their order
            for nth, call in enumerate((c for c in found if c.function == name), start=1):
                call.nth = nth
    return found


def _current_guard() -> Guard:
    guard = current_guard()
    if guard is None:
        raise RuntimeError("a program runs inside Program.guard()")
    return guard


# --- compiling a spec ---------------------------------------------------------------


def _object(raw: Any, loc: Loc, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SpecError(loc, f"{what} must be an object")
    return raw


def _dtype(raw: Any, loc: Loc) -> np.dtype[Any]:
    if raw not in DTYPES:
        raise SpecError(loc, f"dtype must be one of {', '.join(DTYPES)}, got {raw!r}")
    return dtypes.BY_NAME[raw].numpy


def _compile_leaf(name: str, raw: Any, default: np.dtype[Any], limits: Limits) -> Leaf:
    loc: Loc = ("body", "leaves", name)
    raw = _object(raw, loc, f"leaf '{name}'")
    dtype = _dtype(raw["dtype"], (*loc, "dtype")) if raw.get("dtype") is not None else default
    requires_grad = raw.get("requires_grad", False)
    if not isinstance(requires_grad, bool):
        raise SpecError((*loc, "requires_grad"), f"leaf '{name}': requires_grad must be true or false")
    if requires_grad and dtype.kind != "f":
        raise SpecError(
            (*loc, "requires_grad"),
            f"leaf '{name}': Only Tensors of floating point and complex dtype can require gradients ({dtype} leaf)",
        )
    has_value, has_init = (
        raw.get("value") is not None,
        raw.get("shape") is not None or raw.get("init") is not None,
    )
    if has_value == has_init:
        raise SpecError(loc, f"leaf '{name}': give either value, or shape and init")
    what = f"leaf '{name}'"
    array = (
        nested_to_array(raw["value"], dtype, (*loc, "value"), what, limits)
        if has_value
        else initialized(raw, dtype, loc, what, limits)
    )
    return Leaf(name, array, requires_grad)


class _Names:
    """The names a spec has given so far, and to what: leaves, functions and nodes share them."""

    def __init__(self, taken: dict[str, str] | None = None) -> None:
        self.taken = dict(taken or {})

    def claim(self, name: Any, loc: Loc, label: str) -> str:
        name = check_name(name, loc, label)
        if name in self.taken:
            raise SpecError(loc, f"{label}: the name '{name}' is already used by {self.taken[name]}")
        self.taken[name] = label
        return name


def compile_spec(spec: Any, limits: Limits | None = None) -> Program:
    """Check a spec and compile it; raises SpecError (or LimitExceeded) with its location."""
    limits = limits or Limits()
    spec = _object(spec, ("body",), "the request body")
    default = _dtype(spec.get("dtype", "float32"), ("body", "dtype"))
    claim = _Names().claim

    check_counts(spec, limits)
    raw_leaves = _object(spec.get("leaves"), ("body", "leaves"), "leaves")
    leaves = []
    total = 0
    for name, raw in raw_leaves.items():
        leaf = _compile_leaf(claim(name, ("body", "leaves", name), f"leaf '{name}'"), raw, default, limits)
        total += leaf.array.size
        if total > limits.max_total_elements:
            raise LimitExceeded(
                ("body", "leaves", name),
                f"the leaves hold more than {limits.max_total_elements:,} elements in all "
                f"(setting {setting('max_total_elements')})",
            )
        leaves.append(leaf)

    functions, nodes, warnings = _compile_graph(
        tuple(leaf.name for leaf in leaves), spec.get("functions"), spec.get("nodes"), limits
    )
    tensors = [leaf.name for leaf in leaves] + [n for node in nodes for n in node.names]
    roots = _compile_roots(spec.get("backward"), nodes, tensors, limits)
    return Program(leaves, nodes, functions, roots, limits, list(warnings))


# The same specs come back again and again (a class runs the same example): their functions
# and nodes, which do not depend on the leaves' values, are compiled once. A spec's graph is
# keyed by its JSON text; large ones are not kept. Compiled, a graph takes up to about 300 bytes
# a character of that text (a closure and a located error message for every name and operator;
# the seed's graphs about 55), so the cache holds 20 MB at most, and a few hundred kB for a class.
CACHED_GRAPHS = 64
CACHED_GRAPH_CHARS = 1_000

Graph = tuple[dict[str, CustomFunction], list[Node], list[str]]


def _compile_graph(leaf_names: tuple[str, ...], raw_functions: Any, raw_nodes: Any, limits: Limits) -> Graph:
    try:
        text = json.dumps([raw_functions, raw_nodes], allow_nan=False)
    except (TypeError, ValueError):
        text = None  # not JSON data: compiled as it is, and left to the checks to refuse
    if text is None or len(text) > CACHED_GRAPH_CHARS:
        return _compile_functions_and_nodes(leaf_names, raw_functions, raw_nodes, limits)
    return _cached_graph(leaf_names, text, limits)


@lru_cache(maxsize=CACHED_GRAPHS)
def _cached_graph(leaf_names: tuple[str, ...], text: str, limits: Limits) -> Graph:
    """What is compiled here is only read afterwards, so one compiled graph serves every thread."""
    raw_functions, raw_nodes = json.loads(text)
    return _compile_functions_and_nodes(leaf_names, raw_functions, raw_nodes, limits)


def _compile_functions_and_nodes(
    leaf_names: tuple[str, ...], raw_functions: Any, raw_nodes: Any, limits: Limits
) -> Graph:
    claim = _Names({name: f"leaf '{name}'" for name in leaf_names}).claim

    raw_functions = _object(raw_functions or {}, ("body", "functions"), "functions")
    functions: dict[str, CustomFunction] = {}
    signatures: dict[str, Signature] = {}
    order = list(raw_functions)
    warnings: list[str] = []
    for i, (fname, raw) in enumerate(raw_functions.items()):
        loc: Loc = ("body", "functions", fname)
        claim(fname, loc, f"function '{fname}'")
        function = compile_function(fname, raw, dict(signatures), order[i + 1 :], limits, loc)
        functions[fname] = function
        signatures[fname] = function.signature()
        warnings.extend(function.warnings)

    if not isinstance(raw_nodes, list):
        raise SpecError(("body", "nodes"), "nodes must be a list of {name, expr} objects")
    later = _later_names(raw_nodes)
    scope = Scope(tensors=set(leaf_names), functions=signatures)
    nodes = []
    for i, raw in enumerate(raw_nodes):
        node = _compile_node(i, raw, scope, later, claim, limits)
        warnings.extend(node.compiled.warnings)
        scope.tensors.update(node.names)
        nodes.append(node)

    return functions, nodes, warnings


def _later_names(raw_nodes: list[Any]) -> dict[str, int]:
    later: dict[str, int] = {}
    for i, raw in enumerate(raw_nodes):
        names = raw.get("name") if isinstance(raw, dict) else None
        for n in names if isinstance(names, list) else [names]:
            if isinstance(n, str):
                later.setdefault(n, i)
    return later


def _compile_node(i: int, raw: Any, scope: Scope, later: dict[str, int], claim: Any, limits: Limits) -> Node:
    loc: Loc = ("body", "nodes", i)
    raw = _object(raw, loc, f"nodes[{i}]")
    raw_names = raw.get("name")
    if raw_names is None or raw.get("expr") is None:
        raise SpecError(loc, f"nodes[{i}] needs a name and an expr")
    names_list = raw_names if isinstance(raw_names, list) else [raw_names]
    if not names_list:
        raise SpecError((*loc, "name"), f"nodes[{i}]: the list of names is empty")
    label = f"node '{names_list[0]}'" if len(names_list) == 1 else f"node {names_list}"
    names = [claim(n, (*loc, "name"), label) for n in names_list]
    hidden = {
        n: f"'{n}' is defined later (nodes[{j}]); a node may use leaves and earlier nodes only"
        for n, j in later.items()
        if j > i
    }
    hidden.update((n, f"'{n}' is this node itself; a node may use leaves and earlier nodes only") for n in names)
    node_scope = Scope(scope.tensors, functions=scope.functions, hidden=hidden)
    compiled = compile_expression(raw["expr"], node_scope, limits, (*loc, "expr"), label)
    if compiled.n_outputs != len(names):
        if len(names) == 1:
            raise SpecError(
                (*loc, "name"),
                f"{label}: the expression returns {compiled.n_outputs} outputs; "
                f"give a list of {compiled.n_outputs} names",
            )
        raise SpecError(
            (*loc, "name"),
            f"{label}: the expression returns {compiled.n_outputs} output(s) but {len(names)} names are given",
        )
    retain = raw.get("retain_grad", False)
    if isinstance(retain, bool):
        retained = list(names) if retain else []
    elif isinstance(retain, list) and len(names) > 1 and all(r in names for r in retain):
        retained = list(retain)
    else:
        allowed = "true, false or a list of its names" if len(names) > 1 else "true or false"
        strangers = [r for r in retain if r not in names] if isinstance(retain, list) and len(names) > 1 else []
        verb = "is not one" if len(strangers) == 1 else "are not"
        said = f", and {', '.join(map(repr, strangers))} {verb} of {names}" if strangers else ""
        raise SpecError((*loc, "retain_grad"), f"{label}: retain_grad must be {allowed}{said}")
    return Node(names, compiled, retained, (*loc, "expr"), label)


def _compile_roots(raw: Any, nodes: list[Node], tensors: list[str], limits: Limits) -> list[Root]:
    if raw is None:
        if not nodes:
            raise SpecError(("body", "nodes"), "there are no nodes to backpropagate from")
        last = nodes[-1]
        if len(last.names) > 1:
            raise SpecError(
                ("body", "backward"),
                f"the last node has several outputs {last.names}: say which is the root, in backward",
            )
        return [Root(last.names[0], None, last.loc[:-1], implicit=True)]
    items = raw if isinstance(raw, list) else [raw]  # as many as check_counts lets through
    roots = []
    for i, item in enumerate(items):
        loc: Loc = ("body", "backward", i) if isinstance(raw, list) else ("body", "backward")
        item = _object(item, loc, "a backward root")
        name = item.get("root")
        if name not in tensors:
            known = ", ".join(sorted(tensors))
            raise SpecError((*loc, "root"), f"unknown backward root {name!r} (known: {known})")
        roots.append(Root(name, item.get("gradient"), loc))
    return roots
