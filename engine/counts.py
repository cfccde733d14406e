"""How many items each list and object of a spec may hold, checked on the raw JSON before anything
reads the items: a body of a million bad nodes is refused at once (HTTP 413), not validated
item by item, which took a worker 13 s (an error for each, most of it in pydantic).

After these, what the items can make is bounded by the other limits: the expressions by their
length (each, and all together, which bounds the time and memory compiling takes: about 3 µs
and 200 bytes a character), a leaf's values by the elements.
"""

from __future__ import annotations

from typing import Any

from engine.errors import LimitExceeded, Loc
from engine.limits import Limits, setting


def check_counts(spec: Any, limits: Limits) -> None:
    """Raise LimitExceeded at the first list or object over its limit; anything of another type
    is left to the checks that read it."""
    if not isinstance(spec, dict):
        return
    _most(spec.get("leaves"), dict, ("body", "leaves"), "leaves", limits.max_nodes, "max_nodes")
    _most(spec.get("functions"), dict, ("body", "functions"), "functions", limits.max_functions, "max_functions")
    _most(spec.get("nodes"), list, ("body", "nodes"), "nodes", limits.max_nodes, "max_nodes")
    _most(spec.get("backward"), list, ("body", "backward"), "backward roots", limits.max_nodes, "max_nodes")
    for name, leaf in _items(spec.get("leaves")):
        if isinstance(leaf, dict):
            loc: Loc = ("body", "leaves", name, "shape")
            _most(
                leaf.get("shape"), list, loc, f"dimensions in the shape of leaf '{name}'", limits.max_ndim, "max_ndim"
            )
    for name, function in _items(spec.get("functions")):
        if not isinstance(function, dict):
            continue
        loc = ("body", "functions", name)
        statements = [function.get(part) for part in ("forward", "backward")]
        total = sum(len(s) for s in statements if isinstance(s, list))
        _over(total, loc, f"statements in function '{name}'", limits.max_nodes, "max_nodes")
        for part in ("inputs", "outputs", "save_for_backward", "params"):
            _most(
                function.get(part),
                list | dict,
                (*loc, part),
                f"{part} of function '{name}'",
                limits.max_nodes,
                "max_nodes",
            )
    for i, node in enumerate(_list(spec.get("nodes"))):
        if isinstance(node, dict):
            for part in ("name", "retain_grad"):
                loc = ("body", "nodes", i, part)
                _most(node.get(part), list, loc, f"names in {part} of node {i}", limits.max_nodes, "max_nodes")
    _expression_length(spec, limits)


def _expression_length(spec: dict[str, Any], limits: Limits) -> None:
    """All the expressions' characters together, refused at the one that goes over."""
    statements: list[tuple[Loc, Any]] = []
    for name, function in _items(spec.get("functions")):
        for part in ("forward", "backward"):
            steps = function.get(part) if isinstance(function, dict) else None
            statements.extend((("body", "functions", name, part, i), s) for i, s in enumerate(_list(steps)))
    statements.extend((("body", "nodes", i), node) for i, node in enumerate(_list(spec.get("nodes"))))
    total = 0
    for loc, statement in statements:
        expr = statement.get("expr") if isinstance(statement, dict) else None
        total += len(expr) if isinstance(expr, str) else 0
        if total > limits.max_total_expr_length:
            raise LimitExceeded(
                (*loc, "expr"),
                f"the expressions up to this one hold {total:,} characters, over the limit of "
                f"{limits.max_total_expr_length:,} for all of a request's (setting {setting('max_total_expr_length')})",
            )


def _list(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else []


def _items(raw: Any) -> list[tuple[str, Any]]:
    return list(raw.items()) if isinstance(raw, dict) else []


def _most(raw: Any, kind: Any, loc: Loc, what: str, most: int, name: str) -> None:
    if isinstance(raw, kind):
        _over(len(raw), loc, what, most, name)


def _over(count: int, loc: Loc, what: str, most: int, name: str) -> None:
    if count > most:
        raise LimitExceeded(loc, f"{count:,} {what}, over the limit of {most} (setting {setting(name)})")
