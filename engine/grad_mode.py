"""Whether operations are recorded for backward: `no_grad`, as in PyTorch.

A context variable, so that each request thread (and each asyncio task) has its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar

_enabled: ContextVar[bool] = ContextVar("grad_enabled", default=True)


def is_grad_enabled() -> bool:
    return _enabled.get()


@contextmanager
def set_grad_enabled(mode: bool) -> Iterator[None]:
    token = _enabled.set(mode)
    try:
        yield
    finally:
        _enabled.reset(token)


def no_grad() -> AbstractContextManager[None]:
    """`with engine.no_grad():` computes without recording a graph."""
    return set_grad_enabled(False)


def enable_grad() -> AbstractContextManager[None]:
    return set_grad_enabled(True)
