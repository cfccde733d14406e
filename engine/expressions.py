"""The expression language of a spec: Python syntax, parsed with `ast`, never evaluated by Python.

`compile_expression` walks the syntax tree against a whitelist and turns it into a
closure over an environment of named values. Anything off the list is refused with the
place (column) and the reason. Arithmetic and functions of numbers alone (literals, a custom
function's params) give numbers, as Python computes them: in float64, or exact for integers
while they fit in int64, never with unbounded integers; between literals, at compile time.
"""

from __future__ import annotations

import ast
import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.errors import COMPUTE_FAILURES, ComputeError, LimitExceeded, Loc, SpecError
from engine.limits import Limits, guarded_apply, setting
from engine.ops import BUILTINS, OPS, REQUIRED, Op
from engine.tensor import Tensor, tensor, wrapped_number

Env = Mapping[str, Any]
Evaluate = Callable[[Env], Any]

_INT64 = 2**63
_UINT64 = 2**64
_BINARY = {
    ast.Add: "add",
    ast.Sub: "sub",
    ast.Mult: "mul",
    ast.Div: "div",
    ast.Pow: "pow",
    ast.MatMult: "matmul",
}
_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@",
           ast.FloorDiv: "//", ast.Mod: "%", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|",
           ast.BitXor: "^", ast.BitAnd: "&"}  # fmt: skip
_REFUSED = {
    ast.Attribute: "attribute access is not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.Compare: "comparisons are not allowed",
    ast.BoolOp: "'and' and 'or' are not allowed",
    ast.IfExp: "conditional expressions (a if c else b) are not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.Starred: "*args is not allowed",
    ast.List: "lists are not allowed (only tuples of integers, as keyword values)",
    ast.Tuple: "tuples are only allowed as keyword values (tuples of integers)",
    ast.Dict: "dicts are not allowed",
    ast.Set: "sets are not allowed",
    ast.Slice: "slices are only allowed inside [ ]",
}
_CHAINED = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.MatMult)  # left-associative, so chains are left spines


def _syntax(text: str, said: str) -> str:
    """What is wrong with an expression that does not parse, as Python says it; an assignment
    (s = sum(x), a statement) with where its parts go."""
    try:
        statement = ast.parse(text, mode="exec").body
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        statement = []
    if len(statement) == 1 and isinstance(statement[0], ast.Assign):
        return "an expr is an expression, not an assignment: the name goes in the node's name, the rest in expr"
    return "invalid syntax" if said == "invalid syntax" else f"invalid syntax ({said})"


# A comparison as the mask of 1 and 0 that it means, in what expressions have (sign is 0 at 0).
_MASKS = {
    ast.Gt: "relu(sign({a} - {b}))",
    ast.Lt: "relu(sign({b} - {a}))",
    ast.GtE: "1 - relu(sign({b} - {a}))",
    ast.LtE: "1 - relu(sign({a} - {b}))",
    ast.Eq: "1 - abs(sign({a} - {b}))",
    ast.NotEq: "abs(sign({a} - {b}))",
}
# How to write what PyTorch has and expressions do not (a review's student looked for these).
_INSTEAD = {
    "where": ": where(c, a, b) is c * a + (1 - c) * b, with c a mask of 1 and 0 such as relu(sign(x))",
    "numel": ": the count of x's elements is sum(ones_like(x))",
}
# PyTorch's names of the built-ins' parameters
_TORCH_PARAMS = {"dim": "axis", "keepdim": "keepdims", "dims": "axes"}


def _nearest(name: str, known: list[str]) -> str:
    """(did you mean 'weight_3'?), for a name one typo away from a known one; else nothing."""
    near = difflib.get_close_matches(name, known, n=1, cutoff=0.75) or [k for k in known if k.lower() == name.lower()]
    return f" (did you mean '{near[0]}'?)" if near else ""


@dataclass(frozen=True)
class Signature:
    """What a spec may call: a built-in op or a custom function."""

    name: str
    tensors: tuple[str, ...]  # names of the tensor arguments, positional
    params: dict[str, Any]  # then the constant parameters, by position or keyword
    n_outputs: int
    call: Callable[[list[Any], dict[str, Any]], Any]
    # How deep a call nests beyond where it is written: a custom function's deepest statement,
    # and CALL_LEVELS for the call itself. Evaluation recurses, so the limit counts it all.
    depth: int = 0


# The ops that numbers alone give a number of (d ** 0.5, sqrt(d), d / 2), as math would in
# PyTorch code: a tensor of it would round it to the default float dtype, float32 in a float64
# request. Ops with kinks are not among them: the check notes where their operands are.
_ON_NUMBERS = frozenset(
    {"add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid"}
)
_NUMBERS = (int, float)


def on_numbers(op: Op, args: list[Any]) -> int | float:
    """`op` of Python numbers: exact for integers while it stays in int64, else in float64."""
    if len(args) == 2 and type(args[0]) is int and type(args[1]) is int:
        exact = _exact_int(op.name, args[0], args[1])
        if exact is not None:
            return exact
    if op.name == "neg" and type(args[0]) is int and abs(args[0]) < _INT64:
        return -args[0]
    with np.errstate(all="ignore"):  # inf and NaN, as PyTorch gives them; said where they show
        return float(op.forward(*(np.float64(a) for a in args)))


def builtin_signature(op: Op) -> Signature:
    names = ("a", "b") if op.arity == 2 else ("a",)
    if op.name == "cross_entropy":
        names = ("logits", "labels")

    def call(args: list[Any], params: dict[str, Any]) -> Any:
        if op.name in _ON_NUMBERS and all(a.__class__ in _NUMBERS for a in args):
            return on_numbers(op, args)
        if op.name == "pow" and any(isinstance(a, Tensor) for a in args):
            # torch.pow(x, 2) and torch.pow(2, x) keep the number a number, as x ** 2 does:
            # PowBackward0 and PowBackward2, where a tensor of it gives PowBackward1.
            return guarded_apply(op, *args, **params)
        # A number given to a function (a param, or a literal as in maximum(x, 0)) becomes a
        # 0-d tensor, as torch's functions take tensors: sum(scale) is then a sum, not an error.
        return guarded_apply(op, *(wrapped_number(a, args) for a in args), **params)

    return Signature(op.name, names, op.params, 1, call)


BUILTIN_SIGNATURES = {name: builtin_signature(op) for name, op in BUILTINS.items()}


@dataclass
class Scope:
    """The names an expression may use, and why some others are off limits."""

    tensors: set[str]
    params: set[str] = field(default_factory=set)
    functions: dict[str, Signature] = field(default_factory=dict)
    hidden: dict[str, str] = field(default_factory=dict)  # name -> why it can't be used here


# What a call of a custom function adds to the depth of the expression that makes it, beside
# the function's own expressions: its evaluation takes about as many Python frames as that.
CALL_LEVELS = 4


@dataclass
class Compiled:
    evaluate: Evaluate
    names: set[str]  # the environment names it reads
    n_outputs: int  # > 1 for a call of a custom function with several outputs
    warnings: list[str]
    depth: int = 0  # the deepest it nests, through the custom functions it calls too


@dataclass(frozen=True)
class _Const:
    value: Any


_MODULES = frozenset({"torch", "np", "numpy", "F", "nn", "functional", "math"})
_PYTORCH_KEYWORDS = {"dim": "axis", "keepdim": "keepdims"}
_PYTORCH_METHODS = {"t": "transpose"}


class _PyTorchSpelling(ast.NodeTransformer):
    """torch.f(x), np.f(x), F.f(x) → f(x); x.f(args, dim=k) → f(x, args, axis=k); x.T → transpose(x)."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        for keyword in node.keywords:
            keyword.arg = _PYTORCH_KEYWORDS.get(keyword.arg or "", keyword.arg)
        if isinstance(func, ast.Attribute):
            root = func.value
            while isinstance(root, ast.Attribute):
                root = root.value
            name = _PYTORCH_METHODS.get(func.attr, func.attr)
            if isinstance(root, ast.Name) and root.id in _MODULES:
                node.func = ast.Name(name, ast.Load())
            else:
                node.func, node.args = ast.Name(name, ast.Load()), [func.value, *node.args]
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        if node.attr in ("T", "mT"):
            return ast.Call(ast.Name("transpose", ast.Load()), [node.value], [])
        return node


class _Compiler:
    def __init__(self, source: str, scope: Scope, limits: Limits, loc: Loc, label: str, indent: int = 0) -> None:
        self.indent = indent
        self.source = source
        self.scope = scope
        self.limits = limits
        self.loc = loc
        self.label = label
        self.names: set[str] = set()
        self.warnings: list[str] = []
        self.deepest = 0

    def position(self, node: ast.AST) -> str:
        """Where `node` starts: "column 5", or "line 2, column 5" in an expression of several lines."""
        offset = getattr(node, "col_offset", 0)  # in UTF-8 bytes, from the start of its line
        line = getattr(node, "lineno", 1)
        text = self.source.splitlines()[line - 1] if line > 1 else self.source
        column = len(text.encode()[:offset].decode(errors="ignore")) + 1
        return f"line {line}, column {column}" if line > 1 else f"column {self.indent + column}"

    def error(self, node: ast.AST | None, reason: str) -> SpecError:
        where = f"{self.label}, {self.position(node)}" if node is not None else self.label
        return SpecError(self.loc, f"{where}: {reason}")

    def compile(self, node: ast.AST, depth: int = 0) -> Evaluate | _Const:
        if depth > self.limits.max_expr_depth:
            raise LimitExceeded(
                self.loc,
                f"{self.label}, {self.position(node)}: the expression nests deeper than "
                f"{self.limits.max_expr_depth} (setting {setting('max_expr_depth')})",
            )
        depth += 1
        self.deepest = max(self.deepest, depth)
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp):
            return self.binary(node, depth)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node, depth)
        if isinstance(node, ast.Call):
            evaluate, n_outputs = self.call(node, depth)
            if n_outputs > 1:
                raise self.error(
                    node,
                    f"{node.func.id}() returns {n_outputs} outputs: call it on its own, from a node "  # type: ignore[attr-defined]
                    f"whose name is a list of {n_outputs} names",
                )
            return evaluate
        if isinstance(node, ast.Subscript):
            return self.subscript(node, depth)
        if isinstance(node, ast.Attribute):
            raise self.error(node, self.attribute_refused(node, None))
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _MASKS:
            a, b = (
                f"({ast.unparse(side)})" if isinstance(side, ast.BinOp) else ast.unparse(side)
                for side in (node.left, node.comparators[0])
            )
            mask = _MASKS[type(node.ops[0])].format(a=a, b=b)
            raise self.error(node, f"comparisons are not allowed: as a mask of 1 and 0, write {mask}")
        raise self.error(node, _REFUSED.get(type(node), f"{type(node).__name__} is not allowed"))

    # --- leaves of the syntax tree ----------------------------------------------------

    def constant(self, node: ast.Constant) -> _Const:
        value = node.value
        if isinstance(value, bool):
            raise self.error(node, "True and False are only allowed as keyword values")
        if isinstance(value, int):
            return _Const(value if abs(value) < _INT64 else self.to_float(node, value))
        if isinstance(value, float):
            if math.isinf(value):  # no literal is inf but one too large for float64: 1e400
                self.warn_inf(node)
            return _Const(value)
        if isinstance(value, str | bytes):
            raise self.error(node, "strings are not allowed")
        raise self.error(node, f"the constant {value!r} is not allowed: use numbers")

    def to_float(self, node: ast.AST, value: int) -> float:
        """An integer literal past int64, as a float; said so past uint64, where PyTorch refuses it beside a
        tensor (below, it takes it as a float beside a float tensor, as here)."""
        try:
            number = float(value)
        except OverflowError:
            self.warn_inf(node)
            return math.inf if value > 0 else -math.inf
        if value >= _UINT64:
            self.warnings.append(
                f"{self.label}, {self.position(node)}: the integer is past uint64 and is taken as the float "
                f"{number:g} (PyTorch refuses it beside a tensor: int too big to convert)"
            )
        return number

    def warn_inf(self, node: ast.AST) -> None:
        self.warnings.append(
            f"{self.label}, {self.position(node)}: the number is too large for float64 and becomes inf"
        )

    def name(self, node: ast.Name) -> Evaluate:
        name, scope = node.id, self.scope
        if name in scope.tensors or name in scope.params:
            self.names.add(name)
            return lambda env: env[name]
        if name in scope.hidden:
            raise self.error(node, scope.hidden[name])
        if name in scope.functions or name in BUILTINS:
            raise self.error(node, f"'{name}' is a function: call it, as in {name}(...)")
        known = sorted(scope.tensors | scope.params)
        shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
        near = _nearest(name, known)
        param_like = self.label.startswith("function") and not name.startswith("grad_")  # not a gradient's name
        declare = "; a number the function takes is declared in its params" if param_like else ""
        raise self.error(node, f"unknown name '{name}'{near} (known: {shown or 'none'}){'' if near else declare}")

    def attribute_refused(self, node: ast.Attribute, call: ast.Call | None) -> str:
        """Why x.T, x.sum(dim=0), np.exp(x) or torch.relu(x) is refused, and how to write it here."""
        said = "attribute access is not allowed"
        owner, attr = node.value, node.attr
        tensor = not isinstance(owner, ast.Name | ast.Attribute) or (
            isinstance(owner, ast.Name) and (owner.id in self.scope.tensors or owner.id in self.scope.params)
        )
        text = ast.unparse(owner)
        text = text if len(text) <= 40 else "..."
        if text == "ctx" and "ctx" not in self.scope.tensors:
            return (
                f"{said}: backward uses what forward saved, the params and grad_<output> by their names, "
                "not through ctx"
            )
        if call is None:
            return f"{said}: write transpose({text})" if tensor and attr in ("T", "mT") else said
        whole = self.rewritten()
        whole = f"; the whole expression so written: {whole}" if whole else ""
        if attr not in self.scope.functions and attr not in BUILTIN_SIGNATURES:
            return said + whole  # x.t(): no function t, but transpose
        if not tensor:  # np.exp, torch.relu, F.relu, torch.nn.functional.relu
            return f"{said}: functions are called by their names alone, as {attr}(...){whole}"
        axis = " (axis=, not dim=)" if any(k.arg == "dim" for k in call.keywords) else ""
        rest = ", ..." if call.args or call.keywords else ""
        return f"{said}: methods are called as functions, the tensor first: {attr}({text}{rest}){axis}{whole}"

    def rewritten(self) -> str | None:
        """The expression with PyTorch's spellings turned into these (torch.exp(x).sum(dim=0) into
        sum(exp(x), axis=0)), where every function it then calls exists here; else None."""
        rewritten = _PyTorchSpelling().visit(ast.parse(self.source, mode="eval"))
        calls = [n.func for n in ast.walk(rewritten) if isinstance(n, ast.Call)]
        known = all(
            isinstance(f, ast.Name) and (f.id in self.scope.functions or f.id in BUILTIN_SIGNATURES) for f in calls
        )
        has_attributes = any(isinstance(n, ast.Attribute) for n in ast.walk(rewritten))
        return ast.unparse(rewritten) if known and not has_attributes else None

    # --- operators --------------------------------------------------------------------

    def binary(self, node: ast.BinOp, depth: int) -> Evaluate | _Const:
        # a + b + c + ... parses as ((a + b) + c) + ...: the whole left spine is one level of
        # nesting, evaluated in a loop, so that a long sum is neither deep nor recursive.
        spine = [node]
        while isinstance(spine[-1].left, ast.BinOp) and type(spine[-1].left.op) in _CHAINED:
            spine.append(spine[-1].left)
        value = self.compile(spine[-1].left, depth)
        steps: list[tuple[ast.BinOp, Op, Evaluate | _Const]] = []
        for step in reversed(spine):
            kind = type(step.op)
            if kind not in _BINARY:
                symbol = _SYMBOL.get(kind, kind.__name__)
                raise self.error(step, f"the operator {symbol} is not allowed (use + - * / ** @)")
            right = self.compile(step.right, depth)
            if kind is ast.MatMult and (isinstance(right, _Const) or (not steps and isinstance(value, _Const))):
                raise self.error(step, "@ needs tensors on both sides, not numbers")
            if not steps and isinstance(value, _Const) and isinstance(right, _Const):
                value = self.fold(step, _BINARY[kind], value.value, right.value)
            else:
                steps.append((step, OPS[_BINARY[kind]], right))
        if not steps:
            return value
        return self.chain(value, steps)

    def chain(self, first: Evaluate | _Const, steps: list[tuple[ast.BinOp, Op, Evaluate | _Const]]) -> Evaluate:
        start = _getter(first)
        calls = [(self.where(step, _SYMBOL[type(step.op)]), op, _getter(right)) for step, op, right in steps]
        loc = self.loc

        def evaluate(env: Env) -> Any:
            value = start(env)
            for where, op, right in calls:
                operand = right(env)
                if value.__class__ in _NUMBERS and operand.__class__ in _NUMBERS:  # params: d / 2
                    value = on_numbers(op, [value, operand])
                    continue
                try:  # _run's work written out: a chain's steps are most of what the check runs
                    value = guarded_apply(op, value, operand)
                except SpecError:
                    raise
                except COMPUTE_FAILURES as error:
                    raise ComputeError(loc, _describe(where, error, [value, operand])) from None
            return value

        return evaluate

    def unary(self, node: ast.UnaryOp, depth: int) -> Evaluate | _Const:
        if isinstance(node.op, ast.UAdd):
            return self.compile(node.operand, depth)
        if not isinstance(node.op, ast.USub):
            symbol = "not" if isinstance(node.op, ast.Not) else "~"
            raise self.error(node, f"the operator {symbol} is not allowed")
        operand = self.compile(node.operand, depth)
        if isinstance(operand, _Const):
            return _Const(-operand.value)
        return self.op_call(node, OPS["neg"], [operand], {}, "-")

    def fold(self, node: ast.AST, name: str, a: Any, b: Any) -> _Const:
        value = on_numbers(OPS[name], [a, b])
        if not math.isfinite(value) and math.isfinite(a) and math.isfinite(b):
            symbol = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}[name]
            self.warnings.append(
                f"{self.label}, {self.position(node)}: {_operand(a)} {symbol} {_operand(b)} on number "
                f"literals gives {value} in float64"
            )
        return _Const(value)

    # --- calls and indexing -----------------------------------------------------------

    def call(self, node: ast.Call, depth: int) -> tuple[Evaluate, int]:
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute):
                raise self.error(node.func, self.attribute_refused(node.func, node))
            raise self.error(node.func, "only functions can be called, by name")
        fname = node.func.id
        signature = self.scope.functions.get(fname) or BUILTIN_SIGNATURES.get(fname)
        if signature is None:
            if fname in self.scope.tensors or fname in self.scope.params:
                raise self.error(node.func, f"'{fname}' is a tensor, not a function")
            if fname in self.scope.hidden:
                raise self.error(node.func, self.scope.hidden[fname])
            near = _nearest(fname, [*self.scope.functions, *BUILTIN_SIGNATURES]) or _INSTEAD.get(fname, "")
            raise self.error(node.func, f"function '{fname}' is not available{near} (see GET /ops for the built-ins)")
        if signature.depth and depth + signature.depth > self.limits.max_expr_depth:
            raise LimitExceeded(
                self.loc,
                f"{self.label}, {self.position(node)}: the expression nests {depth + signature.depth} deep "
                f"through {fname}() (its own expressions, {CALL_LEVELS} more for each call), over the limit of "
                f"{self.limits.max_expr_depth} (setting {setting('max_expr_depth')})",
            )
        self.deepest = max(self.deepest, depth + signature.depth)
        n_tensors = len(signature.tensors)
        positional = list(node.args)
        for arg in positional:
            if isinstance(arg, ast.Starred):
                raise self.error(arg, "*args is not allowed")
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.error(keyword, "**kwargs is not allowed")
        if len(positional) < n_tensors:
            # Tensors named, as the call's own names or PyTorch's (mse_loss(input=x, target=y)).
            by_name = [k.arg for k in node.keywords if k.arg not in signature.params]
            raise self.error(
                node,
                f"{fname}() takes {n_tensors} tensor argument(s) ({', '.join(signature.tensors)}), "
                f"got {len(positional)}"
                + (
                    f": tensors are given by position, not by name ({', '.join(f'{n}=' for n in by_name)})"
                    if by_name
                    else ""
                ),
            )
        param_names = list(signature.params)
        extra = positional[n_tensors:]
        if len(extra) > len(param_names):
            axes = ""
            if "axes" in param_names and all(_constant_value(a).__class__ is int for a in extra):
                # PyTorch's transpose(x, 0, 1) swaps two dims; here, as NumPy's, the axes are one tuple.
                axes = f": the axes go as one tuple, {fname}(..., ({', '.join(ast.unparse(a) for a in extra)}))"
            raise self.error(
                extra[len(param_names)] if len(param_names) < len(extra) else node,
                f"{fname}() takes {n_tensors} tensor argument(s) and {len(param_names)} parameter(s) "
                f"({', '.join(param_names) or 'none'}), got {len(positional)} positional arguments{axes}",
            )
        params: dict[str, Any] = {}
        for pname, arg in zip(param_names, extra, strict=False):
            params[pname] = self.param_value(arg, fname, pname, signature.params[pname])
        for keyword in node.keywords:
            assert keyword.arg is not None
            if keyword.arg not in signature.params:
                ours = _TORCH_PARAMS.get(keyword.arg)
                hint = f": write {ours}= (PyTorch's {keyword.arg}=)" if ours in signature.params else ""
                if keyword.arg == "unbiased" and "correction" in signature.params:
                    hint = ": write correction=0 for PyTorch's unbiased=False (the default, correction=1, is unbiased)"
                raise self.error(
                    keyword,
                    f"{fname}() has no parameter '{keyword.arg}' (parameters: {', '.join(param_names) or 'none'})"
                    f"{hint}",
                )
            if keyword.arg in params:
                raise self.error(keyword, f"{fname}() got parameter '{keyword.arg}' twice")
            params[keyword.arg] = self.param_value(keyword.value, fname, keyword.arg, signature.params[keyword.arg])
        missing = [p for p, default in signature.params.items() if default is REQUIRED and p not in params]
        if missing:
            raise self.error(node, f"{fname}() needs the parameter '{missing[0]}'")
        if fname in ("max", "min") and extra and fname not in self.scope.functions:
            # max(x, 0) reads as NumPy's maximum with 0, or a hand-written relu; it reduces (a review)
            written = ast.unparse(extra[0])
            self.warnings.append(
                f"{self.label}, {self.position(node)}: {fname}(..., {written}) is the {fname}imum along axis "
                f"{written}, not the {fname}imum with the number {written}: element by element, write "
                f"{fname}imum(x, {written})"
                + (" or relu(x)" if fname == "max" and written == "0" else "")
                + f"; along the axis, axis={written} says so"
            )
        args = [self.compile(arg, depth) for arg in positional[:n_tensors]]
        return self.function_call(node, signature, args, params), signature.n_outputs

    def param_value(self, node: ast.AST, fname: str, pname: str, default: Any) -> Any:
        value = _constant_value(node)
        # A custom function's params are numbers or True/False, whatever their names.
        kind = pname if fname in BUILTIN_SIGNATURES else ""
        accepts, fits = _PARAM_KINDS.get((kind, default is None), _PARAM_KINDS[("", False)])
        if value is NOT_CONSTANT or not fits(value):
            if value is NOT_CONSTANT and _computed(node):
                accepts = f"{accepts}, written as a literal (parameters are not computed)"
            if value is NOT_CONSTANT and _past_int64(node):
                accepts = f"{accepts}; this integer is past int64" + (", so write it as a float" if not kind else "")
            if fname in ("max", "min") and isinstance(node, ast.Name) and node.id in self.scope.tensors:
                accepts = f"{accepts}; of two tensors, element by element, {fname}imum(a, b)"
            raise self.error(node, f"the parameter '{pname}' of {fname}() must be {accepts}")
        if type(value) is float and math.isinf(value):  # no literal is inf, but 1e999 becomes it
            self.warn_inf(node)
        if kind in ("shape", "axes") and type(value) is int:
            value = (value,)
        return value

    def subscript(self, node: ast.Subscript, depth: int) -> Evaluate:
        value = self.compile(node.value, depth)
        if isinstance(value, _Const):
            raise self.error(node, "only tensors can be indexed")
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        index = tuple(self.index_part(part) for part in parts)
        return self.op_call(node, OPS["index"], [value], {"index": index if len(index) != 1 else index[0]}, "[ ]")

    def index_part(self, node: ast.AST) -> int | slice:
        if isinstance(node, ast.Slice):
            bounds = [None if b is None else _constant_value(b) for b in (node.lower, node.upper, node.step)]
            for b, part in zip(bounds, (node.lower, node.upper, node.step), strict=True):
                if part is not None and type(b) is not int:
                    past = " within int64" if _past_int64(part) else ""
                    raise self.error(part, f"slice bounds must be integer constants{past}")
            if bounds[2] is not None and bounds[2] <= 0:
                raise self.error(node, "slice step must be greater than zero (as in PyTorch)")
            return slice(*bounds)
        value = _constant_value(node)
        if type(value) is not int:
            raise self.error(node, "indices must be integer constants or slices, like x[0] or W[:, 1:3]")
        return value

    # --- evaluation -------------------------------------------------------------------

    def op_call(
        self,
        node: ast.AST,
        op: Op,
        args: list[Evaluate | _Const],
        kwargs: dict[str, Any],
        what: str,
    ) -> Evaluate:
        def call(args: list[Any], params: dict[str, Any]) -> Any:
            if op.name in _ON_NUMBERS and all(a.__class__ in _NUMBERS for a in args):
                return on_numbers(op, args)  # -d, for a param d
            return guarded_apply(op, *args, **params)

        signature = Signature(op.name, (), op.params, 1, call)
        return self.function_call(node, signature, args, kwargs, what)

    def where(self, node: ast.AST, what: str) -> str:
        return f"{self.label}, {self.position(node)}: {what}"

    def function_call(
        self,
        node: ast.AST,
        signature: Signature,
        args: list[Evaluate | _Const],
        params: dict[str, Any],
        what: str = "",
    ) -> Evaluate:
        where = self.where(node, what or signature.name + "()")
        loc, call = self.loc, signature.call
        getters = [_getter(a) for a in args]

        def evaluate(env: Env) -> Any:
            return _run(loc, where, call, [get(env) for get in getters], params)

        return evaluate


def _getter(compiled: Evaluate | _Const) -> Evaluate:
    if isinstance(compiled, _Const):
        value = compiled.value
        return lambda env: value
    return compiled


def _run(loc: Loc, where: str, call: Callable[..., Any], values: list[Any], params: dict[str, Any] | None) -> Any:
    """One call, its failure (shapes, domains) turned into an error that says where."""
    try:
        return call(values) if params is None else call(values, params)
    except SpecError:
        raise
    except COMPUTE_FAILURES as error:
        raise ComputeError(loc, _describe(where, error, values)) from None


def _describe(where: str, error: Exception, values: list[Any]) -> str:
    """Where an op failed, why, and its operands' shapes. An error that names the op itself, as
    PyTorch's do ("mean(): could not infer ..."), names it once."""
    shapes = ", ".join(str(list(v.shape)) if isinstance(v, Tensor) else repr(v) for v in values)
    said, op = str(error), where.rsplit(": ", 1)[-1] + ": "
    said = said.replace("with the 'dim' argument", "with axis= (PyTorch's dim)")  # an expression's name for it
    return f"{where}: {said.removeprefix(op)} (operands: {shapes})"


def _operand(number: Any) -> str:
    """A number as an operand in a message: (-8) ** 0.5, since -8 ** 0.5 would read as -(8 ** 0.5)."""
    return f"({number!r})" if number < 0 else repr(number)


def _exact_int(name: str, a: int, b: int) -> int | None:
    """Integer arithmetic while it stays in int64, as Python and PyTorch would do it."""
    if name in ("add", "sub", "mul"):
        value = a + b if name == "add" else a - b if name == "sub" else a * b
    elif name == "pow" and b >= 0 and (abs(a) <= 1 or b * math.log2(abs(a)) < 63):
        value = a**b
    else:
        return None
    return value if abs(value) < _INT64 else None


NOT_CONSTANT: Any = object()

# What each parameter of the built-ins takes, by its name and whether its default is None;
# ("", False): a custom function's param.
_PARAM_KINDS: dict[tuple[str, bool], tuple[str, Callable[[Any], bool]]] = {
    ("axis", True): ("an integer, a tuple of integers or None", lambda v: v is None or type(v) in (int, tuple)),
    ("axis", False): ("an integer", lambda v: type(v) is int),
    ("keepdims", False): ("True or False", lambda v: type(v) is bool),
    ("shape", False): ("a tuple of integers, like (3, 1), or an integer", lambda v: type(v) in (int, tuple)),
    ("axes", True): ("a tuple of integers or None", lambda v: v is None or type(v) in (int, tuple)),
    ("min", True): ("a number or None", lambda v: v is None or type(v) in (int, float)),
    ("max", True): ("a number or None", lambda v: v is None or type(v) in (int, float)),
    ("correction", False): ("a number", lambda v: type(v) in (int, float)),
    ("", False): ("a number or True/False", lambda v: type(v) in (bool, int, float)),
}


def _computed(node: ast.AST) -> bool:
    """Whether a parameter was written as something to compute (2 * 3, a name, -y), not a literal."""
    if isinstance(node, ast.UnaryOp):
        return _computed(node.operand)
    return isinstance(node, ast.Name | ast.BinOp | ast.Call | ast.Subscript)


def _signed_integer(node: ast.AST) -> int | None:
    """The value of an integer literal, signed or not (-9223372036854775808); None for anything else."""
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        sign, node = (-1 if isinstance(node.op, ast.USub) else 1), node.operand
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return sign * node.value
    return None


def _past_int64(node: ast.AST) -> bool:
    """An integer literal (signed or not) that int64 cannot hold."""
    value = _signed_integer(node)
    return value is not None and not -_INT64 <= value < _INT64


def _constant_value(node: ast.AST) -> Any:
    """A keyword value: a number, True/False, None or a tuple of integers; else NOT_CONSTANT."""
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, bool | int | float)):
        if type(node.value) is int and node.value >= _INT64:
            return NOT_CONSTANT
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        whole = _signed_integer(node)
        if whole is not None:  # -2**63 is int64's, though 2**63 is not
            return NOT_CONSTANT if _past_int64(node) else whole
        inner = _constant_value(node.operand)
        if type(inner) in (int, float):
            return -inner if isinstance(node.op, ast.USub) else inner
        return NOT_CONSTANT
    if isinstance(node, ast.Tuple):
        items = [_constant_value(e) for e in node.elts]
        return tuple(items) if all(type(i) is int for i in items) else NOT_CONSTANT
    return NOT_CONSTANT


def _place(source: str, i: int) -> str:
    """Where the character at index i is: "column 102", or "line 2, column 5" past the first line."""
    line = source.count("\n", 0, i) + 1
    column = i - source.rfind("\n", 0, i)  # from 1: rfind gives -1 on the first line
    return f"line {line}, column {column}" if line > 1 else f"column {column}"


def _too_deep_bracket(source: str, most: int) -> str | None:
    """Where the first bracket nested deeper than `most` opens, if any."""
    depth = 0
    for i, char in enumerate(source):
        if char in "([{":
            depth += 1
            if depth > most:
                return _place(source, i)
        elif char in ")]}":
            depth -= 1
    return None


def compile_expression(source: Any, scope: Scope, limits: Limits, loc: Loc, label: str) -> Compiled:
    """Check `source` against the whitelist and compile it into a closure over an environment."""
    if not isinstance(source, str):
        raise SpecError(loc, f"{label}: the expression must be a string")
    if not source.strip():
        raise SpecError(loc, f"{label}: the expression is empty")
    if len(source) > limits.max_expr_length:
        raise LimitExceeded(
            loc,
            f"{label}: the expression is {len(source):,} characters long, over the limit of "
            f"{limits.max_expr_length:,} (setting {setting('max_expr_length')})",
        )
    too_deep = _too_deep_bracket(source, limits.max_expr_depth)
    if too_deep is not None:
        raise LimitExceeded(
            loc,
            f"{label}, {too_deep}: the expression nests brackets deeper than {limits.max_expr_depth} "
            f"(setting {setting('max_expr_depth')})",
        )
    surrogate = next((i for i, c in enumerate(source) if "\ud800" <= c <= "\udfff"), None)
    if surrogate is not None:  # legal in JSON, no character: UTF-8 has no bytes for it
        raise SpecError(
            loc, f"{label}, {_place(source, surrogate)}: {source[surrogate]!r} is half a character (a lone surrogate)"
        )
    text = source.strip()
    indent = len(source) - len(source.lstrip())  # the parser refuses leading spaces; columns count them
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        line = error.lineno or 1
        where = f"line {line}, column {error.offset or 1}" if line > 1 else f"column {(error.offset or 1) + indent}"
        said = _syntax(text, error.msg)
        if line > 1:
            said += " (an expression goes on to a new line only inside brackets)"
        raise SpecError(loc, f"{label}, {where}: {said}") from None
    except (RecursionError, MemoryError):
        raise LimitExceeded(
            loc,
            f"{label}: the expression nests too deeply to parse (setting {setting('max_expr_depth')})",
        ) from None
    except ValueError as error:  # e.g. a NUL character
        raise SpecError(loc, f"{label}: {error}") from None
    compiler = _Compiler(text, scope, limits, loc, label, indent)
    body = tree.body
    n_outputs = 1
    if isinstance(body, ast.Call):
        evaluate, n_outputs = compiler.call(body, 1)
    else:
        compiled = compiler.compile(body)
        if isinstance(compiled, _Const):
            # A new tensor each evaluation, in the default dtype of that moment, as torch.tensor(2.5)
            # is: float32 in the run, float64 in the check. Made once, it would keep the dtype of
            # the compile (cached graphs serve every request) and be shared by all of them.
            value = compiled.value
            evaluate = lambda env: tensor(value)  # noqa: E731
        else:
            evaluate = compiled
    return Compiled(evaluate, compiler.names, n_outputs, compiler.warnings, compiler.deepest)
