"""Errors in a graph spec, each with the place in the request it comes from.

`loc` follows FastAPI's convention (`("body", "nodes", 3, "expr")`), so that the service
can hand engine errors to clients in the same shape as its own validation errors.
"""

from __future__ import annotations

from collections.abc import Sequence

Loc = tuple[str | int, ...]


class SpecError(Exception):
    """Something in the spec is invalid (HTTP 422)."""

    status = 422
    kind = "value_error.spec"

    def __init__(self, loc: Sequence[str | int], msg: str) -> None:
        super().__init__(msg)
        self.loc: Loc = tuple(loc)
        self.msg = msg

    def __str__(self) -> str:
        where = ".".join(str(part) for part in self.loc[1:])
        return f"{where}: {self.msg}" if where else self.msg


class LimitExceeded(SpecError):
    """The spec asks for more than a configured limit allows (HTTP 413)."""

    status = 413
    kind = "limit_exceeded"


class OutOfTime(LimitExceeded):
    """The request ran past its deadline (or past a share of it that one step was given)."""


class ComputeError(SpecError):
    """The spec is well formed but the computation it asks for fails (shapes, domains)."""

    kind = "value_error.compute"


# What NumPy, the ops and hand-written formulas raise for a bad computation (shapes, domains):
# reported as a ComputeError where it happens, never as a 500.
COMPUTE_FAILURES = (ValueError, TypeError, IndexError, RuntimeError, ArithmeticError, AttributeError)
