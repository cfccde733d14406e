"""How many items each list and object of a spec may hold, checked on the raw JSON before anything
reads the items: a body of a million bad nodes is refused at once (HTTP 413), not validated
item by item, which took a worker 13 s (an error for each, most of it in pydantic).

After these, what the items can make is bounded by the other limits: a node's expression by
its length and depth, a leaf's values by the elements.
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
    nodes = spec.get("nodes")
    for i, node in enumerate(nodes if isinstance(nodes, list) else []):
        if isinstance(node, dict):
            for part in ("name", "retain_grad"):
                loc = ("body", "nodes", i, part)
                _most(node.get(part), list, loc, f"names in {part} of node {i}", limits.max_nodes, "max_nodes")


def _items(raw: Any) -> list[tuple[str, Any]]:
    return list(raw.items()) if isinstance(raw, dict) else []


def _most(raw: Any, kind: Any, loc: Loc, what: str, most: int, name: str) -> None:
    if isinstance(raw, kind):
        _over(len(raw), loc, what, most, name)


def _over(count: int, loc: Loc, what: str, most: int, name: str) -> None:
    if count > most:
        raise LimitExceeded(loc, f"{count:,} {what}, over the limit of {most} (setting {setting(name)})")
