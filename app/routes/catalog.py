"""GET /ops and GET /examples: what expressions may call, and ready request bodies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from app.examples import EXAMPLES
from app.schemas import ErrorResponse, ExampleInfo, OpInfo
from engine.ops import OPS, REQUIRED

router = APIRouter(tags=["catalog"])


@router.get("/ops", summary="The built-in functions and operators")
def ops() -> list[OpInfo]:
    """Every primitive of the engine's op table: its syntax in expressions, the grad_fn name
    PyTorch gives it, its derivative, and its parameters with their defaults."""
    return [
        OpInfo(
            name=op.name,
            syntax=op.syntax,
            grad_fn=op.grad_fn_doc,
            rule=op.rule,
            params={k: ("required" if v is REQUIRED else v) for k, v in op.params.items()},
        )
        for op in OPS.values()
    ]


@router.get("/examples", summary="Ready request bodies for POST /backward")
def examples() -> list[ExampleInfo]:
    """One per cell of the notebook gradlab grew from, and a few more."""
    return [ExampleInfo(name=name, summary=e["summary"], description=e["description"]) for name, e in EXAMPLES.items()]


@router.get(
    "/examples/{name}",
    summary="One example's request body",
    responses={
        404: {"model": ErrorResponse, "description": "No example of that name; the message lists the known ones."}
    },
)
def example(name: str) -> dict[str, Any]:
    """The body to POST to /backward as it is."""
    if name not in EXAMPLES:
        said = name if len(name) <= 80 else f"{name[:80]}..."  # a path of any length, not echoed whole
        msg = f"no example named {said!r}; known: {', '.join(EXAMPLES)}"
        raise HTTPException(404, [{"loc": ["path", "name"], "msg": msg, "type": "not_found"}])
    return dict(EXAMPLES[name]["value"])
