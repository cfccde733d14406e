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

# The request's own lists and objects: key, type, what the message calls its items, setting.
_TOP = (
    ("leaves", dict, "leaves", "max_nodes"),
    ("functions", dict, "functions", "max_functions"),
    ("nodes", list, "nodes", "max_nodes"),
    ("backward", list, "backward roots", "max_nodes"),
)
_FUNCTION_PARTS = ("inputs", "outputs", "save_for_backward", "params")


def check_counts(spec: Any, limits: Limits) -> None:
    """Raise LimitExceeded at the first list or object over its limit; anything of another type
    is left to the checks that read it. Messages are made only for what is over (this runs on
    every request, twice: before pydantic and in compile_spec)."""
    if not isinstance(spec, dict):
        return
    for key, kind, what, name in _TOP:
        raw = spec.get(key)
        if isinstance(raw, kind) and len(raw) > getattr(limits, name):
            raise _over(("body", key), len(raw), what, getattr(limits, name), name)
    most = limits.max_nodes
    for leaf_name, leaf in _items(spec.get("leaves")):
        shape = leaf.get("shape") if isinstance(leaf, dict) else None
        if isinstance(shape, list) and len(shape) > limits.max_ndim:
            what = f"dimensions in the shape of leaf '{leaf_name}'"
            raise _over(("body", "leaves", leaf_name, "shape"), len(shape), what, limits.max_ndim, "max_ndim")
    for function_name, function in _items(spec.get("functions")):
        if not isinstance(function, dict):
            continue
        total = sum(len(s) for s in (function.get("forward"), function.get("backward")) if isinstance(s, list))
        if total > most:
            raise _over(("body", "functions", function_name), total, f"statements in function '{function_name}'", most)
        for part in _FUNCTION_PARTS:
            raw = function.get(part)
            if isinstance(raw, list | dict) and len(raw) > most:
                what = f"{part} of function '{function_name}'"
                raise _over(("body", "functions", function_name, part), len(raw), what, most)
    for i, node in enumerate(_list(spec.get("nodes"))):
        for part in ("name", "retain_grad"):
            raw = node.get(part) if isinstance(node, dict) else None
            if isinstance(raw, list) and len(raw) > most:
                raise _over(("body", "nodes", i, part), len(raw), f"names in {part} of node {i}", most)
    _expression_length(spec, limits)


def _expression_length(spec: dict[str, Any], limits: Limits) -> None:
    """All the expressions' characters together, refused at the one that goes over."""
    total = 0
    places: list[tuple[tuple[str | int, ...], Any]] = [
        (("body", "functions", name, part), function.get(part))
        for name, function in _items(spec.get("functions"))
        if isinstance(function, dict)
        for part in ("forward", "backward")
    ]
    places.append((("body", "nodes"), spec.get("nodes")))
    for loc, statements in places:
        for i, statement in enumerate(_list(statements)):
            expr = statement.get("expr") if isinstance(statement, dict) else None
            total += len(expr) if isinstance(expr, str) else 0
            if total > limits.max_total_expr_length:
                raise LimitExceeded(
                    (*loc, i, "expr"),
                    f"the expressions up to this one hold {total:,} characters, over the limit of "
                    f"{limits.max_total_expr_length:,} for all of a request's "
                    f"(setting {setting('max_total_expr_length')})",
                )


def _items(raw: Any) -> list[tuple[str, Any]]:
    return list(raw.items()) if isinstance(raw, dict) else []


def _list(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else []


def _over(loc: Loc, count: int, what: str, most: int, name: str = "max_nodes") -> LimitExceeded:
    return LimitExceeded(loc, f"{count:,} {what}, over the limit of {most} (setting {setting(name)})")
