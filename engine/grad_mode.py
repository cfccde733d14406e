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


class set_grad_enabled:  # PyTorch's name, a class
    """As in PyTorch: sets the mode at once, so that a plain call works, and as a context
    manager restores the mode it found on leaving the block."""

    def __init__(self, mode: bool) -> None:
        self.previous = _enabled.get()
        _enabled.set(bool(mode))

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc_info: object) -> None:
        _enabled.set(self.previous)


@contextmanager
def _grad_enabled(mode: bool) -> Iterator[None]:
    token = _enabled.set(mode)
    try:
        yield
    finally:
        _enabled.reset(token)


def no_grad() -> AbstractContextManager[None]:
    """`with engine.no_grad():` computes without recording a graph."""
    return _grad_enabled(False)


def enable_grad() -> AbstractContextManager[None]:
    return _grad_enabled(True)
