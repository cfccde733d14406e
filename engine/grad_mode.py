"""Whether operations are recorded for backward: `no_grad`, as in PyTorch.

A context variable, so that each request thread (and each asyncio task) has its own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar, overload

T = TypeVar("T")

_enabled: ContextVar[bool] = ContextVar("grad_enabled", default=True)


def is_grad_enabled() -> bool:
    return _enabled.get()


class set_grad_enabled:  # PyTorch's name, a class
    """As in PyTorch: sets the mode at once, so that a plain call works, and as a context
    manager restores the mode it found on leaving the block."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.previous = _enabled.get()
        _enabled.set(self.mode)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc_info: object) -> None:
        _enabled.set(self.previous)

    def __call__(self, function: Callable[..., T]) -> Callable[..., T]:
        """As a decorator: the mode for each call of `function`, and no longer from here on."""
        _enabled.set(self.previous)
        mode = self.mode

        @functools.wraps(function)
        def in_mode(*args: Any, **kwargs: Any) -> T:
            with _grad_enabled(mode):
                return function(*args, **kwargs)

        return in_mode


@contextmanager
def _grad_enabled(mode: bool) -> Iterator[None]:
    token = _enabled.set(mode)
    try:
        yield
    finally:
        _enabled.reset(token)


@overload
def no_grad() -> AbstractContextManager[None]: ...
@overload
def no_grad(function: Callable[..., T]) -> Callable[..., T]: ...
def no_grad(function: Callable[..., T] | None = None) -> AbstractContextManager[None] | Callable[..., T]:
    """`with engine.no_grad():` computes without recording a graph; `@engine.no_grad()` (or, as
    in PyTorch, `@engine.no_grad`) does so for each call of a function."""
    return _grad_enabled(False) if function is None else _grad_enabled(False)(function)


@overload
def enable_grad() -> AbstractContextManager[None]: ...
@overload
def enable_grad(function: Callable[..., T]) -> Callable[..., T]: ...
def enable_grad(function: Callable[..., T] | None = None) -> AbstractContextManager[None] | Callable[..., T]:
    return _grad_enabled(True) if function is None else _grad_enabled(True)(function)
