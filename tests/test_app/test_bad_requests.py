"""Bad requests against a real server: each answered 4xx in FastAPI's error shape, quickly.

One uvicorn process serves the whole module, with limits small enough to reach cheaply
(body size, time) and an expression length raised so that 100,000 nested parentheses reach
the depth check. Every case posts one request and checks: the status (never 5xx), the shape
`{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`, where `loc` points, what `msg`
says (the node, the column, the setting), and that the answer came within `ANSWER_BOUND`
seconds. The last test checks that the server is still healthy after all of them.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import Server, log_tail, serve

from app.examples import EXAMPLES

ANSWER_BOUND = 5.0  # seconds: every bad request is answered faster than this
TIME_LIMIT = 2.0  # GRADLAB_TIME_LIMIT_SECONDS of this module's server
MAX_BODY = 1_000_000  # GRADLAB_MAX_BODY_BYTES: room for 100,000 nested brackets (200 kB)
SETTINGS = {
    "GRADLAB_MAX_BODY_BYTES": str(MAX_BODY),
    "GRADLAB_MAX_EXPR_LENGTH": "300000",
    "GRADLAB_MAX_TOTAL_EXPR_LENGTH": "700000",
    "GRADLAB_TIME_LIMIT_SECONDS": str(TIME_LIMIT),
    # Large answers are what some requests here use to run past the time limit.
    "GRADLAB_MAX_ANSWER_ELEMENTS": "100000000",
    "GRADLAB_MAX_TOTAL_ELEMENTS": "50000000",
    "GRADLAB_LOG_LEVEL": "warning",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp("bad_requests"), **SETTINGS) as running_server:
        yield running_server


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=httpx.Timeout(30.0)) as c:
        yield c


# --- request bodies --------------------------------------------------------------------

X = {"value": [1.0, 2.0], "requires_grad": True}
SUM_X = [{"name": "s", "expr": "sum(x)"}]


def body(**changes: Any) -> dict[str, Any]:
    """A valid body (s = sum(x)) with `changes` applied at the top level."""
    return {"leaves": {"x": X}, "nodes": SUM_X, **changes}


def expr_body(expr: str) -> dict[str, Any]:
    """`expr` as the second node, after a = x * 2, with an int64 leaf i and a matrix W."""
    return {
        "leaves": {"x": X, "W": {"value": [[1.0, 2.0], [3.0, 4.0]]}, "i": {"value": [0, 1], "dtype": "int64"}},
        "nodes": [{"name": "a", "expr": "x * 2"}, {"name": "s", "expr": expr}],
    }


def raw(text: str) -> bytes:
    """A body as JSON text: for NaN and Infinity literals (Python's json reads them) and bad JSON."""
    return text.encode()


def with_leaf(leaf: str, rest: str = '"nodes": [{"name": "s", "expr": "sum(x)"}]') -> bytes:
    """A body as JSON text whose leaf x is `leaf`."""
    return raw(f'{{"leaves": {{"x": {leaf}}}, {rest}}}')


def function_body(params: dict[str, Any] | None = None, backward: str = "grad_y * 2") -> dict[str, Any]:
    return {
        "leaves": {"x": X},
        "functions": {
            "F": {
                "inputs": ["x"],
                "params": params or {},
                "forward": [{"name": "y", "expr": "x * 2"}],
                "outputs": ["y"],
                "save_for_backward": ["x"],
                "backward": [{"name": "grad_x", "expr": backward}],
            }
        },
        "nodes": [{"name": "s", "expr": "sum(F(x))"}],
    }


def nested(levels: int, inner: str = "") -> str:
    return "[" * levels + inner + "]" * levels


@dataclass
class Case:
    """One bad request and what its answer must say."""

    id: str
    json: Any = None
    content: bytes | None = None
    status: int = 422
    loc: list[Any] | None = None  # the first error's loc, exactly
    loc_prefix: list[Any] = field(default_factory=lambda: ["body"])  # every error's loc starts so
    msg: tuple[str, ...] = ()  # fragments of the first error's msg (case-sensitive)
    kind: str | None = None  # the first error's type
    method: str = "POST"
    path: str = "/backward"
    setting: bool = True  # a 413 names the GRADLAB_ setting that raises the limit


NODE_EXPR = ["body", "nodes", 1, "expr"]


def refused(id: str, expr: str, column: int, what: str) -> Case:
    """A forbidden construct in node 's': 422 at its expr, naming the node and the column."""
    return Case(id, expr_body(expr), loc=NODE_EXPR, msg=("node 's'", f"column {column}:", what))


CASES = [
    # A lone surrogate, "\\ud800": legal in JSON, no character, and no valid name. A review found a
    # 500 where the answer named it (UTF-8 has no bytes for it): it comes back escaped, as sent.
    Case(
        "a lone surrogate as a leaf's name",
        content=raw('{"leaves": {"\\ud800": {"value": [1.0]}}, "nodes": [{"name": "s", "expr": "sum(x)"}]}'),
        loc=["body", "leaves", "\ud800"],
        msg=("is not a valid name",),
    ),
    Case(
        "a lone surrogate as a node's name",
        content=raw('{"leaves": {"x": {"value": [1.0]}}, "nodes": [{"name": "a\\udfff", "expr": "sum(x)"}]}'),
        msg=("is not a valid name",),
    ),
    Case(
        "a lone surrogate as a param's name",
        content=json.dumps(function_body(params={"k\ud800": 1.0})).encode(),
        msg=("is not a valid name",),
    ),
    # Malformed JSON.
    Case("truncated JSON", content=raw('{"leaves": '), loc=["body", 11], msg=("Expecting value",), kind="json_invalid"),
    Case("unquoted key", content=raw("{leaves: 1}"), loc=["body", 1], msg=("property name",), kind="json_invalid"),
    Case("trailing garbage", content=raw('{"leaves": {}, "nodes": []} x'), msg=("Extra data",), kind="json_invalid"),
    # Placed as a person finds it in Swagger's text box, with the usual slips named (a review)
    Case(
        "a missing comma, three lines down",
        content=raw('{\n  "leaves": {"x": {"value": [1.0]}}\n  "nodes": []\n}'),
        loc=["body", 40],
        msg=("Expecting ',' delimiter at line 3, column 3 (character 40)",),
        kind="json_invalid",
    ),
    Case(
        "Python's True",
        content=raw('{"leaves": {"x": {"value": [1.0], "requires_grad": True}}}'),
        msg=("at line 1, column 52", "JSON writes true, false and null, in lower case"),
        kind="json_invalid",
    ),
    Case("single quotes", content=raw("{'leaves': {}}"), msg=("double quotes",), kind="json_invalid"),
    Case(
        "a comma after the last item",
        content=raw('{"leaves": {"x": {"value": [1.0, 2.0, ]}}}'),
        msg=("no comma goes after the last item",),
        kind="json_invalid",
    ),
    Case("not UTF-8", content=b'\xff\xfe{"leaves"', kind="json_invalid"),
    Case("empty body", content=b"", loc=["body"], kind="missing"),
    Case(
        "a 5,000-digit number",
        content=raw('{"leaves": {"x": {"value": [' + "9" * 5000 + "]}}, " + '"nodes": []}'),
        loc=["body"],
        msg=("could not be parsed", "4300 digits"),
        kind="json_invalid",
    ),
    # A key given twice in one object: Python's json keeps the last and drops the first unsaid.
    Case(
        "a leaf given twice",
        content=with_leaf('{"value": [1.0], "requires_grad": true}, "x": {"value": [2.0]}'),
        loc=["body", "leaves", "x"],
        msg=("'x' is given more than once",),
        kind="duplicate_key",
    ),
    Case(
        "a node with two exprs",
        content=raw('{"leaves": {"x": {"value": [1.0]}}, "nodes": [{"name": "s", "expr": "sum(x)", "expr": "x"}]}'),
        loc=["body", "nodes", 0, "expr"],
        msg=("'expr' is given more than once",),
        kind="duplicate_key",
    ),
    Case(
        "nodes given twice",
        content=with_leaf('{"value": [1.0]}', '"nodes": [{"name": "s", "expr": "sum(x)"}], "nodes": []'),
        loc=["body", "nodes"],
        kind="duplicate_key",
    ),
    # A key no field has: the object's fields, the nearest first (a review found the bare "Extra inputs").
    Case(
        "requires_grad misspelled",
        json=body(leaves={"x": {"value": [1.0], "require_grad": True}}),
        loc=["body", "leaves", "x", "require_grad"],
        msg=("a leaf has no field 'require_grad' (did you mean 'requires_grad'?); its fields: value, shape",),
        kind="extra_forbidden",
    ),
    Case(
        "retain_grad on a leaf",
        json=body(leaves={"x": {"value": [1.0], "retain_grad": True}}),
        msg=("a leaf has no field 'retain_grad' (a leaf's .grad is kept without it, as in PyTorch)",),
    ),
    Case(
        "grad for gradient in a list of roots",
        json=body(backward=[{"root": "s", "grad": 1.0}]),
        loc=["body", "backward", 0, "grad"],
        msg=("a backward root has no field 'grad' (did you mean 'gradient'?); its fields: root, gradient",),
    ),
    Case(
        "max of no elements",
        json=body(leaves={"x": {"value": [], "requires_grad": True}}, nodes=[{"name": "s", "expr": "max(x)"}]),
        loc=["body", "nodes", 0, "expr"],
        msg=("Specify the reduction dim with axis= (PyTorch's dim)", "(operands: [0])"),  # an expression says axis
    ),
    # Wrong JSON types.
    Case("a list for the body", json=[1, 2], loc=["body"]),
    Case("null for the body", content=raw("null"), loc=["body"]),
    Case("a list for leaves", json={"leaves": [1], "nodes": SUM_X}, loc=["body", "leaves"], kind="dict_type"),
    Case("an object for nodes", json={"leaves": {"x": X}, "nodes": {"s": "sum(x)"}}, loc=["body", "nodes"]),
    Case("a number for expr", json=body(nodes=[{"name": "s", "expr": 5}]), loc=["body", "nodes", 0, "expr"]),
    Case(
        "a string for requires_grad",
        json=body(leaves={"x": {"value": [1.0], "requires_grad": "maybe"}}),
        loc=["body", "leaves", "x", "requires_grad"],
    ),
    # One error at the field, not one per member of the type's union at places such as
    # ["value", "int"] that the request does not have; and no string or boolean taken for a
    # number, in a field as in a list.
    Case(
        "a string for a value",
        json=body(leaves={"x": {"value": "abc"}}),
        loc=["body", "leaves", "x", "value"],
        msg=("must be a number or a nested list of numbers, got str",),
    ),
    Case(
        "a number in a string for a value",
        json=body(leaves={"x": {"value": "3.5"}}),
        loc=["body", "leaves", "x", "value"],
        msg=("got str",),
    ),
    Case(
        "a boolean for a value",
        json=body(leaves={"x": {"value": True}}),
        loc=["body", "leaves", "x", "value"],
        msg=("got bool",),
    ),
    Case(
        "a string for a seed",
        json=body(leaves={"x": {"shape": [2], "init": "normal", "seed": "3"}}),
        loc=["body", "leaves", "x", "seed"],
        kind="int_type",
    ),
    Case(
        "a string in a shape",
        json=body(leaves={"x": {"shape": ["2"], "init": "zeros"}}),
        loc=["body", "leaves", "x", "shape", 0],
        kind="int_type",
    ),
    Case("a string for rtol", json=body(check={"rtol": "1e-3"}), loc=["body", "check", "rtol"], kind="float_type"),
    Case(
        "a string for the gradient",
        json=body(backward={"root": "s", "gradient": "2"}),
        loc=["body", "backward", "gradient"],
        msg=("got str",),
    ),
    Case(
        "a root without its name", json=body(backward={"gradient": 2}), loc=["body", "backward", "root"], kind="missing"
    ),
    # Keys that are also the names pydantic gives union members: the loc stays the request's.
    Case(
        "a root named like its model",
        json=body(backward={"RootSpec": 1}),
        loc=["body", "backward", "root"],
        kind="missing",
    ),
    Case(
        "a leaf named like a type",
        json={"leaves": {"int": {"value": "a"}}, "nodes": [{"name": "s", "expr": "sum(int)"}]},
        loc=["body", "leaves", "int", "value"],
        msg=("got str",),
    ),
    Case(
        "params named like types",
        json=function_body({"Scale": [2], "int": [2]}),
        loc=["body", "functions", "F", "params", "Scale"],
        msg=("Input should be a valid boolean, a valid integer or a valid number",),
    ),
    Case(
        "an object for retain_grad with a type's name",
        json=body(nodes=[{"name": "s", "expr": "sum(x)", "retain_grad": {"bool": 1}}]),
        loc=["body", "nodes", 0, "retain_grad"],
        msg=("Input should be a valid boolean or a valid list",),
    ),
    Case(
        "a string for retain_grad",
        json=body(nodes=[{"name": "s", "expr": "sum(x)", "retain_grad": "yes"}]),
        loc=["body", "nodes", 0, "retain_grad"],
        msg=("Input should be a valid boolean or a valid list",),
    ),
    Case(
        "a number for a name",
        json=body(nodes=[{"name": 3, "expr": "sum(x)"}]),
        loc=["body", "nodes", 0, "name"],
        msg=("Input should be a valid string or a valid list",),
    ),
    Case(
        "a string for a param",
        json=function_body({"k": "abc"}),
        loc=["body", "functions", "F", "params", "k"],
        msg=("Input should be a valid boolean, a valid integer or a valid number",),
    ),
    Case(
        "a string in a value",
        json=body(leaves={"x": {"value": [1.0, "a"], "requires_grad": True}}),
        loc=["body", "leaves", "x", "value"],
        msg=("leaf 'x'[1] must be a number",),
    ),
    Case(
        "a boolean in a value",
        json=body(leaves={"x": {"value": [True, 1.0], "requires_grad": True}}),
        loc=["body", "leaves", "x", "value"],
        msg=("leaf 'x'[0] must be a number, got bool",),
    ),
    Case(
        "a fraction in a shape",
        json=body(leaves={"x": {"shape": [2.5], "init": "zeros"}}),
        loc=["body", "leaves", "x", "shape", 0],
    ),
    Case("an unknown dtype", json=body(dtype="float16"), loc=["body", "dtype"], msg=("float32",)),
    Case("an unknown check mode", json=body(check={"mode": "fastest"}), loc=["body", "check", "mode"]),
    # A subnormal step would underflow to a difference over 0 steps.
    Case("a check step below 1e-12", json=body(check={"eps": 1e-320}), loc=["body", "check", "eps"]),
    Case(
        "a string for backward",
        json=body(backward="s"),
        loc=["body", "backward"],
        msg=("Input should be a valid dictionary", " or a valid list"),
    ),
    # Missing fields.
    Case("no nodes", json={"leaves": {"x": X}}, loc=["body", "nodes"], kind="missing"),
    Case("no leaves", json={"nodes": SUM_X}, loc=["body", "leaves"], kind="missing"),
    Case("a node without expr", json=body(nodes=[{"name": "s"}]), loc=["body", "nodes", 0, "expr"], kind="missing"),
    Case(
        "a function without outputs",
        json={
            "leaves": {"x": X},
            "functions": {"F": {"inputs": ["x"], "forward": [{"name": "y", "expr": "x * 2"}]}},
            "nodes": SUM_X,
        },
        loc=["body", "functions", "F", "outputs"],
        kind="missing",
    ),
    Case(
        "a leaf with neither value nor init",
        json=body(leaves={"x": {"requires_grad": True}}),
        loc=["body", "leaves", "x"],
        msg=("leaf 'x'", "give either value, or shape and init"),
    ),
    # Extra fields.
    Case("an extra top-level field", json=body(foo=1), loc=["body", "foo"], kind="extra_forbidden"),
    Case(
        "an extra leaf field",
        json=body(leaves={"x": {**X, "grad": [1.0, 1.0]}}),
        loc=["body", "leaves", "x", "grad"],
        kind="extra_forbidden",
    ),
    Case(
        "an extra node field",
        json=expr_body("sum(a)") | {"nodes": [{"name": "a", "expr": "x * 2"}, {"name": "s", "expr": "sum(a)", "f": 1}]},
        loc=["body", "nodes", 1, "f"],
        kind="extra_forbidden",
    ),
    Case("an extra check field", json=body(check={"tol": 1}), loc=["body", "check", "tol"], kind="extra_forbidden"),
    # Ragged and empty arrays.
    Case(
        "a ragged value",
        json=body(leaves={"x": {"value": [[1.0, 2.0], [3.0]], "requires_grad": True}}),
        loc=["body", "leaves", "x", "value"],
        msg=("leaf 'x' is not rectangular", "[1] has 1 elements, expected 2"),
    ),
    Case(
        "a number beside a list",
        json=body(leaves={"x": {"value": [[1.0, 2.0], 3.0], "requires_grad": True}}),
        loc=["body", "leaves", "x", "value"],
        msg=("leaf 'x' is not rectangular", "[1] has a number"),
    ),
    Case(
        "an empty list beside a full one",
        json=body(leaves={"x": {"value": [[], [1.0]], "requires_grad": True}}),
        loc=["body", "leaves", "x", "value"],
        msg=("not rectangular",),
    ),
    Case("no nodes at all", json=body(nodes=[]), loc=["body", "nodes"], msg=("no nodes",)),
    Case(
        "an empty gradient",
        json=body(nodes=[{"name": "s", "expr": "x * 2"}], backward={"root": "s", "gradient": []}),
        loc=["body", "backward", "gradient"],
        msg=("has shape [0] but 's' has shape [2]",),
    ),
    # NaN and Infinity literals: Python's json accepts them, the service must not.
    Case(
        "NaN in a leaf",
        content=with_leaf('{"value": [1.0, NaN], "requires_grad": true}'),
        loc=["body", "leaves", "x", "value"],
        msg=("leaf 'x'[1]", "finite"),
    ),
    Case(
        "Infinity as a leaf",
        content=with_leaf('{"value": Infinity, "requires_grad": true}', '"nodes": [{"name": "s", "expr": "x * 2"}]'),
        loc=["body", "leaves", "x", "value"],
        msg=("leaf 'x'", "finite"),
    ),
    Case(
        "-Infinity deep in a leaf",
        content=with_leaf('{"value": [[1.0], [-Infinity]], "requires_grad": true}'),
        loc=["body", "leaves", "x", "value"],
        msg=("leaf 'x'[1][0]", "finite"),
    ),
    Case(
        "1e400 in a leaf (infinite as a double)",
        content=with_leaf('{"value": [1e400], "requires_grad": true}'),
        loc=["body", "leaves", "x", "value"],
        msg=("leaf 'x'[0]", "finite"),
    ),
    Case(
        "NaN in a gradient",
        content=with_leaf(
            '{"value": [1.0, 2.0], "requires_grad": true}',
            '"nodes": [{"name": "s", "expr": "x * 2"}], "backward": {"root": "s", "gradient": [NaN, 1.0]}',
        ),
        loc=["body", "backward", "gradient"],
        msg=("the gradient for 's'[0]", "finite"),
    ),
    Case(
        "NaN as a scale",
        content=with_leaf('{"shape": [2], "init": "ones", "scale": NaN, "requires_grad": true}'),
        loc=["body", "leaves", "x", "scale"],
        msg=("finite",),
    ),
    Case(
        "NaN as atol",
        content=with_leaf(
            '{"value": [1.0], "requires_grad": true}',
            '"nodes": [{"name": "s", "expr": "sum(x)"}], "check": {"atol": NaN}',
        ),
        loc=["body", "check", "atol"],
        msg=("finite",),
    ),
    Case(
        "Infinity as a function param",
        content=raw(json.dumps(function_body(params={"k": 0.5})).replace('"k": 0.5', '"k": Infinity')),
        loc=["body", "functions", "F", "params", "k"],
        msg=("finite",),
    ),
    # Every construct an expression may not hold: 422 at the node's expr, with the column.
    refused("attribute", "x.sum()", 1, "attribute"),
    refused("dunder attribute", "sum.__globals__", 1, "attribute"),
    refused("__import__", "__import__('os')", 1, "'__import__' is not available"),
    refused("eval", "eval('1')", 1, "'eval' is not available"),
    refused("lambda", "lambda: x", 1, "lambda"),
    refused("lambda as a keyword value", "sum(x, axis=lambda: 0)", 13, "axis"),
    refused("list comprehension", "sum([x for x in a])", 5, "comprehensions"),
    refused("generator expression", "sum(x for x in a)", 4, "comprehensions"),
    refused("comparison", "sum(x > 1)", 5, "comparisons"),
    refused("string", "'abc'", 1, "strings"),
    refused("bytes", "b'abc'", 1, "strings"),
    refused("f-string", "f'{x}'", 1, "strings"),
    refused("subscript with a tensor", "x[i]", 3, "integer constants"),
    refused("slice with a tensor", "sum(x[a:])", 7, "integer constants"),
    refused("walrus", "(y := x)", 2, ":="),
    refused("**kwargs", "sum(x, **{'axis': 0})", 8, "**kwargs"),
    refused("*args", "sum(*[x])", 5, "*args"),
    refused("conditional", "x if x else a", 1, "conditional"),
    refused("boolean operator", "x and a", 1, "'and' and 'or'"),
    refused("floor division", "x // 2", 1, "//"),
    refused("None", "None", 1, "None"),
    refused("complex literal", "1j * x", 1, "1j"),
    refused("unknown name", "sum(y)", 5, "unknown name 'y'"),
    refused("unknown function", "foo(x)", 1, "'foo' is not available"),
    refused("a second statement", "sum(x)\nimport os", 1, "invalid syntax"),
    refused("unclosed bracket", "sum(x", 4, "never closed"),
    refused("shapes that do not broadcast", "sum(x + reshape(W, (4,)))", 5, "must match the size of tensor b (4)"),
    # Deep nesting.
    Case(
        "100,000 nested parentheses",
        json=expr_body("(" * 100_000 + "x" + ")" * 100_000),
        status=413,
        loc=NODE_EXPR,
        msg=("node 's'", "GRADLAB_MAX_EXPR_DEPTH"),
        kind="limit_exceeded",
    ),
    Case(
        "100,000 unary minuses",
        json=expr_body("-" * 100_000 + "x"),
        status=413,
        loc=NODE_EXPR,
        msg=("node 's'", "GRADLAB_MAX_EXPR_DEPTH"),
    ),
    Case(
        "100,000 nested brackets in a leaf",
        content=with_leaf('{"value": ' + nested(100_000) + "}"),
        loc=["body"],
        msg=("nests too deeply",),
        kind="json_invalid",
    ),
    Case(
        "100,000 nested objects",
        content=raw('{"leaves": {"x": ' + '{"a": ' * 100_000 + "1" + "}" * 100_000 + '}, "nodes": []}'),
        loc=["body"],
        msg=("nests too deeply",),
        kind="json_invalid",
    ),
    Case(
        "9 dimensions in a leaf",
        content=with_leaf('{"value": ' + nested(9, "1.0") + "}"),
        status=413,
        loc=["body", "leaves", "x", "value"],
        msg=("leaf 'x'", "more than 8 dimensions"),
        setting=False,  # see test_too_many_dimensions_names_a_setting
    ),
    Case(
        "expressions over GRADLAB_MAX_TOTAL_EXPR_LENGTH together",
        json=body(nodes=[{"name": f"n{i}", "expr": "x" + " " * 299_999} for i in range(3)]),
        status=413,
        loc=["body", "nodes", 2, "expr"],
        msg=("900,000 characters, over the limit of 700,000", "GRADLAB_MAX_TOTAL_EXPR_LENGTH"),
        kind="limit_exceeded",
    ),
    Case(
        "an expression over GRADLAB_MAX_EXPR_LENGTH",
        json=expr_body("x" + " " * 300_001),
        status=413,
        loc=NODE_EXPR,
        msg=("node 's'", "300,000", "GRADLAB_MAX_EXPR_LENGTH"),
    ),
    # Sizes.
    Case(
        "a shape of 10 billion elements",
        json=body(leaves={"x": {"shape": [100_000, 100_000], "init": "zeros"}}),
        status=413,
        loc=["body", "leaves", "x", "shape"],
        msg=("leaf 'x'", "10,000,000,000", "GRADLAB_MAX_TENSOR_ELEMENTS"),
        kind="limit_exceeded",
    ),
    Case(
        "a broadcast to 10 billion elements",
        json=expr_body("sum(broadcast_to(x, (100000, 100000)))"),
        status=413,
        loc=NODE_EXPR,
        msg=("GRADLAB_MAX_TENSOR_ELEMENTS",),
    ),
    Case(
        "201 nodes",
        json=body(nodes=[{"name": f"n{i}", "expr": "x * 2"} for i in range(201)]),
        status=413,
        loc=["body", "nodes"],
        msg=("201 nodes", "GRADLAB_MAX_NODES"),
        kind="limit_exceeded",
    ),
    # A review sent 150,000 roots (3.9 s) and 90,000 leaves: each counts against the same setting.
    Case(
        "201 backward roots",
        json=body(backward=[{"root": "s"}] * 201),
        status=413,
        loc=["body", "backward"],
        msg=("201 backward roots, over the limit of 200", "GRADLAB_MAX_NODES"),
        kind="limit_exceeded",
    ),
    Case(
        "201 leaves",
        json=body(leaves={f"x{i}": {"value": [1.0]} for i in range(200)} | {"x": {"value": [1.0, 2.0]}}),
        status=413,
        loc=["body", "leaves"],
        msg=("201 leaves, over the limit of 200", "GRADLAB_MAX_NODES"),
        kind="limit_exceeded",
    ),
    Case(
        "a full check of 100,000 elements",
        json=body(
            leaves={"x": {"shape": [1000, 100], "init": "normal", "requires_grad": True}}, check={"mode": "full"}
        ),
        status=413,
        loc=["body", "check"],
        msg=("full check", "GRADLAB_MAX_CHECK_EVALUATIONS"),
        kind="limit_exceeded",
    ),
    # Graphs that are well formed JSON but wrong.
    Case(
        "error_unsaved_tensor (backward uses what it did not save)",
        json=EXAMPLES["error_unsaved_tensor"]["value"],
        loc=["body", "functions", "Cube", "backward", 0, "expr"],
        msg=("function 'Cube'", "'x' is not saved for backward", "save_for_backward"),
    ),
    Case(
        "a gradient of the wrong shape",
        json=body(nodes=[{"name": "s", "expr": "x * 2"}], backward={"root": "s", "gradient": [1.0, 2.0, 3.0]}),
        loc=["body", "backward", "gradient"],
        msg=("has shape [3] but 's' has shape [2]",),
    ),
    Case(
        "a hand-written gradient of the wrong shape",
        json=function_body(backward="reshape(grad_y, (2, 1))"),
        loc=["body", "functions", "F", "backward", 0, "expr"],  # the step that made it
        msg=("FBackward", "[2, 1]", "[2]"),
    ),
    Case(
        "a root that does not require grad",
        json=body(leaves={"x": {"value": [1.0, 2.0]}}),
        loc=["body", "nodes", 0],  # backward left out: the last node is the root (a review: loc was backward)
        msg=("'s' does not require grad", "backward was left out, so the last node, 's', is the root"),
    ),
    Case(
        "no gradient for a root of two elements",
        json=body(nodes=[{"name": "s", "expr": "x * 2"}]),
        loc=["body", "nodes", 0],
        msg=("grad can be implicitly created only for scalar outputs", "[2]", '{"root": "s", "gradient": ...}'),
    ),
    Case(
        "no gradient for a named root of two elements",
        json=body(nodes=[{"name": "s", "expr": "x * 2"}], backward={"root": "s"}),
        loc=["body", "backward"],
        msg=("grad can be implicitly created only for scalar outputs", "[2]"),
    ),
    Case(
        "an unknown root",
        json=body(backward={"root": "nope"}),
        loc=["body", "backward", "root"],
        msg=("unknown backward root 'nope'",),
    ),
    Case(
        "an unknown root second in a list",
        json=body(backward=[{"root": "s"}, {"root": "nope"}]),
        loc=["body", "backward", 1, "root"],
        msg=("'nope'",),
    ),
    Case(
        "an int64 leaf that requires grad",
        json=body(leaves={"x": {"value": [1, 2], "dtype": "int64", "requires_grad": True}}),
        loc=["body", "leaves", "x", "requires_grad"],
        msg=("leaf 'x'", "floating point"),
    ),
    Case(
        "a fraction in an int64 leaf",
        json=body(leaves={"x": X, "i": {"value": [1.5], "dtype": "int64"}}),
        loc=["body", "leaves", "i", "value"],
        msg=("leaf 'i'[0] is not an integer",),
    ),
    Case(
        "a forward reference",
        json=body(nodes=[{"name": "a", "expr": "b * 2"}, {"name": "b", "expr": "sum(x)"}]),
        loc=["body", "nodes", 0, "expr"],
        msg=("node 'a', column 1", "'b' is defined later (nodes[1])"),
    ),
    Case(
        "a node using itself",
        json=body(nodes=[{"name": "a", "expr": "sum(a)"}]),
        loc=["body", "nodes", 0, "expr"],
        msg=("'a' is this node itself",),
    ),
    Case(
        "functions calling each other",
        json={
            "leaves": {"x": X},
            "functions": {
                "F": {"inputs": ["x"], "forward": [{"name": "y", "expr": "G(x)"}], "outputs": ["y"]},
                "G": {"inputs": ["x"], "forward": [{"name": "y", "expr": "F(x)"}], "outputs": ["y"]},
            },
            "nodes": [{"name": "s", "expr": "sum(F(x))"}],
        },
        loc=["body", "functions", "F", "forward", 0, "expr"],
        msg=("function 'F'", "column 1", "'G' is defined after 'F'"),
    ),
    Case(
        "a function calling itself",
        json={
            "leaves": {"x": X},
            "functions": {"F": {"inputs": ["x"], "forward": [{"name": "y", "expr": "x * F(x)"}], "outputs": ["y"]}},
            "nodes": [{"name": "s", "expr": "sum(F(x))"}],
        },
        loc=["body", "functions", "F", "forward", 0, "expr"],
        msg=("column 5", "cannot call itself"),
    ),
    Case(
        "a name used twice",
        json=body(nodes=[{"name": "x", "expr": "x * 2"}]),
        loc=["body", "nodes", 0, "name"],
        msg=("'x' is already used by leaf 'x'",),
    ),
    Case(
        "a built-in's name for a leaf",
        json={"leaves": {"sum": X}, "nodes": [{"name": "s", "expr": "sum * 2"}]},
        loc=["body", "leaves", "sum"],
        msg=("built-in",),
    ),
    Case(
        "retain_grad on a node without grad",
        json={
            "leaves": {"x": {"value": [1.0]}, "w": {"value": 1.0, "requires_grad": True}},
            "nodes": [{"name": "a", "expr": "x * 2", "retain_grad": True}, {"name": "s", "expr": "w * 2"}],
        },
        loc=["body", "nodes", 0, "retain_grad"],
        msg=("node 'a'", "requires_grad=False"),
    ),
    # Other routes.
    Case(
        "an unknown example",
        method="GET",
        path="/examples/nope",
        status=404,
        loc_prefix=["path", "name"],  # the path parameter, as FastAPI places its own errors
        msg=("'nope'", *EXAMPLES),
    ),
    Case("an unknown route", method="GET", path="/nope", status=404, loc_prefix=["path"]),
    Case("an unknown route under /backward", method="POST", path="/backward/x", status=404, loc_prefix=["path"]),
    Case("GET /backward", method="GET", path="/backward", status=405, loc_prefix=["path"]),
    Case("DELETE /healthz", method="DELETE", path="/healthz", status=405, loc_prefix=["path"]),
]


def check_error_shape(response: httpx.Response, loc_prefix: list[Any]) -> list[dict[str, Any]]:
    """FastAPI's error shape, strict JSON, every loc under `loc_prefix`; returns the items."""

    def no_constants(name: str) -> Any:
        raise AssertionError(f"the answer holds the non-JSON constant {name}")

    answer = json.loads(response.text, parse_constant=no_constants)
    assert response.headers["content-type"].startswith("application/json")
    assert isinstance(answer, dict)
    assert list(answer) == ["detail"], answer
    items = answer["detail"]
    assert isinstance(items, list)
    assert items, answer
    for item in items:
        assert {"loc", "msg", "type"} <= set(item), item
        assert isinstance(item["loc"], list)
        assert all(isinstance(part, str | int) for part in item["loc"])
        assert item["loc"][: len(loc_prefix)] == loc_prefix, item
        assert isinstance(item["msg"], str)
        assert item["msg"]
        assert isinstance(item["type"], str)
        assert item["type"]
    return items


def send(client: httpx.Client, case: Case) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    if case.content is not None:
        response = client.request(
            case.method, case.path, content=case.content, headers={"content-type": "application/json"}
        )
    elif case.json is not None:
        response = client.request(case.method, case.path, json=case.json)
    else:
        response = client.request(case.method, case.path)
    return response, time.monotonic() - start


def test_at_least_40_cases() -> None:
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_request(client: httpx.Client, server: Server, case: Case) -> None:
    response, elapsed = send(client, case)
    context = f"{case.id}: {response.status_code} {response.text[:500]}\n--- log ---\n{log_tail(server.log)}"
    assert response.status_code == case.status, context
    assert elapsed < ANSWER_BOUND, context
    items = check_error_shape(response, case.loc_prefix)
    first = items[0]
    if case.loc is not None:
        assert first["loc"] == case.loc, context
    for fragment in case.msg:
        assert fragment in first["msg"], f"{fragment!r} not in the message; {context}"
    if case.kind is not None:
        assert first["type"] == case.kind, context
    if case.status == 413 and case.setting:
        assert re.search(r"GRADLAB_[A-Z_]+", first["msg"]), f"a 413 names its setting; {context}"


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain"])
def test_a_json_body_sent_without_its_content_type_says_which_header_to_send(
    client: httpx.Client, content_type: str | None
) -> None:
    # curl -d without -H, or requests' data=: a review found pydantic's "Input should be a valid
    # dictionary or object to extract fields from", which says nothing of the header.
    text = json.dumps(EXAMPLES["seed_sum"]["value"]).encode()
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/backward", content=text, headers=headers)
    (item,) = check_error_shape(response, ["body"])
    assert response.status_code == 422 and item["loc"] == ["body"]
    said = repr(content_type) if content_type else "is missing"
    assert "content-type: application/json" in item["msg"] and said in item["msg"]
    answered = client.post("/backward", content=text, headers={"content-type": "application/json; charset=utf-8"})
    assert answered.status_code == 200  # the same body, told as JSON


def test_params_named_like_types_keep_their_places(client: httpx.Client) -> None:
    # A review found the errors of "Scale" moved to "int", and nine errors for three params.
    response = client.post("/backward", json=function_body({"bool": "x", "int": "x", "float": "x"}))
    assert response.status_code == 422
    items = check_error_shape(response, ["body", "functions", "F", "params"])
    assert [item["loc"][-1] for item in items] == ["bool", "int", "float"]
    assert {item["msg"] for item in items} == {"Input should be a valid boolean, a valid integer or a valid number"}


def test_thousands_of_bad_values_are_answered_quickly_with_the_first_hundred(client: httpx.Client) -> None:
    # 200 nodes retaining 200 names each that are no names: 40,000 errors of pydantic's; a review
    # measured 14 µs each to place.
    nodes = [{"name": f"n{i}", "expr": "x * 2", "retain_grad": [1] * 200} for i in range(200)]
    start = time.monotonic()
    response = client.post("/backward", json=body(nodes=nodes))
    elapsed = time.monotonic() - start
    assert response.status_code == 422
    items = check_error_shape(response, ["body"])
    assert len(items) == 101 and items[-1] == {
        "loc": ["body"],
        "msg": "and more errors, not listed",
        "type": "too_many_errors",
    }
    assert [item["loc"] for item in items[:-1]] == [["body", "nodes", 0, "retain_grad", i] for i in range(100)]
    assert elapsed < ANSWER_BOUND, elapsed


# A review sent a million bad nodes (13 s of pydantic's errors, the worker frozen) and 300,000
# inputs of one function: each list is counted before its items are read.
OVER_COUNT = {
    "490,000 nodes": (
        b'{"leaves": {}, "nodes": [' + b",".join([b"1"] * 490_000) + b"]}",
        ["body", "nodes"],
        "490,000 nodes, over the limit of 200 (setting GRADLAB_MAX_NODES)",
    ),
    "20,000 params": (
        json.dumps(function_body({f"k{i}": "x" for i in range(20_000)})).encode(),
        ["body", "functions", "F", "params"],
        "20,000 params of function 'F', over the limit of 200 (setting GRADLAB_MAX_NODES)",
    ),
    "a shape of 100,000 dimensions": (
        json.dumps({"leaves": {"x": {"shape": ["a"] * 100_000, "init": "zeros"}}, "nodes": []}).encode(),
        ["body", "leaves", "x", "shape"],
        "100,000 dimensions in the shape of leaf 'x', over the limit of 8 (setting GRADLAB_MAX_NDIM)",
    ),
}


@pytest.mark.parametrize("name", OVER_COUNT)
def test_a_list_over_its_limit_is_refused_before_its_items_are_validated(client: httpx.Client, name: str) -> None:
    content, loc, msg = OVER_COUNT[name]
    response = client.post("/backward", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 413  # pydantic, had it read the items, would have answered 422
    assert check_error_shape(response, loc) == [{"loc": loc, "msg": msg, "type": "limit_exceeded"}]


def test_thousands_of_repeated_keys_are_answered_with_the_first_hundred(client: httpx.Client) -> None:
    objects = ",".join('{"a": 1, "a": 2}' for _ in range(20_000))
    content = with_leaf('{"value": [' + objects + "]}")
    response = client.post("/backward", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422
    items = check_error_shape(response, ["body"])
    assert len(items) == 101 and items[-1]["type"] == "too_many_errors"
    assert items[0]["loc"] == ["body", "leaves", "x", "value", 0, "a"]
    assert items[99]["loc"] == ["body", "leaves", "x", "value", 99, "a"]


def test_too_many_dimensions_names_a_setting(client: httpx.Client) -> None:
    body = with_leaf('{"value": ' + nested(9, "1.0") + "}")
    response = client.post("/backward", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    [item] = check_error_shape(response, ["body", "leaves", "x", "value"])
    assert "GRADLAB_MAX_NDIM" in item["msg"], item["msg"]


def test_giant_literal_is_infinity_with_a_warning(client: httpx.Client) -> None:
    """`10 ** 10 ** 10` is computed in float64, never with Python's unbounded integers: infinity, 200."""
    start = time.monotonic()
    response = client.post("/backward", json=body(nodes=[{"name": "s", "expr": "sum(x) * 10 ** 10 ** 10"}]))
    assert time.monotonic() - start < ANSWER_BOUND
    assert response.status_code == 200, response.text[:500]
    answer = response.json()
    assert answer["tensors"]["s"]["value"] == "Infinity"
    assert answer["tensors"]["x"]["grad"] == ["Infinity", "Infinity"]
    assert any(w.startswith("node 's', column 10:") and "inf" in w for w in answer["warnings"]), answer["warnings"]


def _oversized() -> bytes:
    payload = json.dumps(body(leaves={"x": {"value": [1.0] * (MAX_BODY // 4), "requires_grad": True}})).encode()
    assert len(payload) > MAX_BODY
    return payload


def test_oversized_body_with_content_length(client: httpx.Client) -> None:
    payload = _oversized()
    request = client.build_request("POST", "/backward", content=payload, headers={"content-type": "application/json"})
    assert request.headers["content-length"] == str(len(payload))
    start = time.monotonic()
    response = client.send(request)
    assert time.monotonic() - start < ANSWER_BOUND
    assert response.status_code == 413, response.text[:500]
    [item] = check_error_shape(response, ["body"])
    assert item["loc"] == ["body"]
    assert "1,000,000 bytes" in item["msg"]
    assert "GRADLAB_MAX_BODY_BYTES" in item["msg"]


def test_oversized_body_streamed_without_content_length(client: httpx.Client) -> None:
    payload = _oversized()
    chunks = [payload[i : i + 65_536] for i in range(0, len(payload), 65_536)]
    request = client.build_request(
        "POST", "/backward", content=iter(chunks), headers={"content-type": "application/json"}
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    start = time.monotonic()
    response = client.send(request)
    assert time.monotonic() - start < ANSWER_BOUND
    assert response.status_code == 413, response.text[:500]
    [item] = check_error_shape(response, ["body"])
    assert "GRADLAB_MAX_BODY_BYTES" in item["msg"]


def test_a_body_just_under_the_limit_is_read(client: httpx.Client) -> None:
    """The limit is on the body, not on what is around it: a body under it is served."""
    leaves = {"x": {"value": [1.0] * 1000, "requires_grad": True}}
    payload = json.dumps(body(leaves=leaves, check={"mode": "off"})).encode()
    payload += b" " * (MAX_BODY - len(payload))
    assert len(payload) == MAX_BODY
    response = client.post("/backward", content=payload, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text[:500]


def matmul_chain() -> dict[str, Any]:
    """199 products of a 100×10,000 by a 10,000×100 matrix: seconds of forward, backward and answer."""
    return {
        "leaves": {
            "A": {"shape": [100, 10_000], "init": "normal", "seed": 1, "requires_grad": True},
            "B": {"shape": [10_000, 100], "init": "normal", "seed": 2},
        },
        "nodes": [{"name": f"p{i}", "expr": "A @ B"} for i in range(198)] + [{"name": "s", "expr": "sum(p197)"}],
        "check": {"mode": "fast"},  # then float64 re-runs of the whole chain: far past the limit on any machine
    }


def test_past_the_time_limit(client: httpx.Client) -> None:
    margin = 3.0  # one op or one tensor of the answer may finish after the deadline
    start = time.monotonic()
    response = client.post("/backward", json=matmul_chain())
    elapsed = time.monotonic() - start
    assert response.status_code == 413, response.text[:500]
    [item] = check_error_shape(response, ["body"])
    assert "time limit of 2 s" in item["msg"]
    assert "GRADLAB_TIME_LIMIT_SECONDS" in item["msg"]
    assert item["type"] == "limit_exceeded"
    assert TIME_LIMIT * 0.9 < elapsed < TIME_LIMIT + margin, elapsed


def test_null_for_a_field_that_may_be_left_out_is_as_if_left_out(client: httpx.Client) -> None:
    # A review: "backward": null was taken, "check": null and "functions": null refused.
    left_out = client.post("/backward", json=body()).json()
    for name in ("check", "functions", "backward"):
        answer = client.post("/backward", json=body(**{name: None}))
        assert answer.status_code == 200, answer.text
        assert answer.json() == left_out
    with_function = function_body()
    with_function["functions"]["F"]["params"] = None
    assert client.post("/backward", json=with_function).json() == client.post("/backward", json=function_body()).json()


def test_a_body_sent_slowly_has_its_whole_time_limit_once_it_is_read(server: Server) -> None:
    # A review sent a small body over 10.5 s to an idle server: 503 "waited 0.0 s for a place",
    # the upload's time counted against the time to compute.
    content = json.dumps(body()).encode()
    host, port = server.url.removeprefix("http://").split(":")
    head = f"POST /backward HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
    head += f"content-length: {len(content)}\r\nconnection: close\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(head.encode() + content[:10])
        time.sleep(TIME_LIMIT * 1.5)
        connection.sendall(content[10:])
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"200", answer[:500]
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["check"]["passed"] is True


def test_an_answer_too_large_to_write_in_time(client: httpx.Client) -> None:
    """A 1.6 kB body whose answer is 40 million numbers (about 800 MB of JSON, 8 s to write here,
    4 times the time limit): writing the answer counts against the time limit too, and is stopped by it."""
    nodes = [{"name": f"a{i}", "expr": f"x * {1 + i / 100}"} for i in range(38)] + [{"name": "s", "expr": "sum(a0)"}]
    small = {
        "leaves": {"x": {"shape": [1000, 1000], "init": "normal", "requires_grad": True}},
        "nodes": nodes,
        "check": {"mode": "off"},
    }
    assert len(json.dumps(small)) < 2000
    start = time.monotonic()
    response = client.post("/backward", json=small)
    elapsed = time.monotonic() - start
    assert response.status_code == 413, response.text[:300]
    [item] = check_error_shape(response, ["body"])
    assert "GRADLAB_TIME_LIMIT_SECONDS" in item["msg"]
    assert elapsed < TIME_LIMIT + 3.0, elapsed


def test_a_long_unknown_example_name_is_not_echoed_whole(client: httpx.Client) -> None:
    # A review found a 20,000-character name sent back in full in the 404.
    response = client.get("/examples/" + "x" * 20_000)
    assert response.status_code == 404 and len(response.text) < 1_000, response.text[:200]
    assert "no example named 'xxxxx" in response.json()["detail"][0]["msg"]


def test_server_still_healthy(client: httpx.Client, server: Server) -> None:
    """After every bad request above: alive, answering, and computing right."""
    assert server.process.poll() is None, log_tail(server.log)
    assert client.get("/healthz").json() == {"status": "ok"}
    head = client.head("/healthz")  # as some probes ask: a review found a 405
    assert head.status_code == 200 and head.content == b""
    answer = client.post("/backward", json=EXAMPLES["seed_sum"]["value"]).json()
    assert answer["tensors"]["x"]["grad"] == [220.0, 440.0, 660.0]
    assert answer["check"]["passed"] is True
    assert "Traceback" not in server.log.read_text(errors="replace"), log_tail(server.log)


def test_an_answer_over_its_size_limit_is_refused_before_the_check(tmp_path: Path) -> None:
    # x (300 values, 300 gradients), y and s fit in 1,000 numbers; with the check's arrays they do not.
    with serve(tmp_path, GRADLAB_MAX_ANSWER_ELEMENTS="1000") as small_answers:
        url = small_answers.url
        small = {"leaves": {"x": {"shape": [100], "init": "uniform", "requires_grad": True}},
                 "nodes": [{"name": "s", "expr": "sum(x * x)"}]}  # fmt: skip
        assert httpx.post(f"{url}/backward", json=small, timeout=30).status_code == 200
        large = {"leaves": {"x": {"shape": [300], "init": "uniform", "requires_grad": True}},
                 "nodes": [{"name": "y", "expr": "x * x"}, {"name": "s", "expr": "sum(y)"}]}  # fmt: skip
        response = httpx.post(f"{url}/backward", json=large, timeout=30)
        assert response.status_code == 413
        [item] = response.json()["detail"]
        assert "GRADLAB_MAX_ANSWER_ELEMENTS" in item["msg"] and "over the limit of 1,000" in item["msg"]
        # What makes it up, the largest first: x's value and gradient, the check's x, y's value.
        assert "1,501 numbers, values and gradients (the most: x 600, the check's arrays 600, y 300)" in item["msg"]
        # The full check's arrays made it too large: fast mode's are a number each, and fit.
        assert item["msg"].endswith("ask for fewer or smaller tensors, or check mode fast")
        fast = httpx.post(f"{url}/backward", json={**large, "check": {"mode": "fast"}}, timeout=30)
        assert fast.status_code == 200
        # Too large without the check: no mode would help, and none is suggested (a review found
        # "or check mode fast" said to a request with the check off).
        larger = {**large, "leaves": {"x": {"shape": [600], "init": "uniform", "requires_grad": True}}}
        refused = httpx.post(f"{url}/backward", json={**larger, "check": {"mode": "off"}}, timeout=30)
        assert refused.status_code == 413
        assert refused.json()["detail"][0]["msg"].endswith("ask for fewer or smaller tensors")


def test_the_bare_address_leads_to_the_docs_and_a_wrong_method_says_what_the_path_takes(client: httpx.Client) -> None:
    # A review: a class given http://server:8000 met a bare 404, and /backward opened in a
    # browser a bare 405.
    assert client.get("/").headers["location"] == "/docs"
    assert client.get("/", follow_redirects=True).status_code == 200
    said = client.get("/backward").json()["detail"][0]
    assert said["msg"] == "Method Not Allowed: /backward takes POST (a JSON body, posted: see /docs)"
    assert "/docs" in client.get("/nowhere").json()["detail"][0]["msg"]
    assert '"syntaxHighlight": false' in client.get("/docs").text  # the MLP's answer froze it
