"""Whether operations are recorded for backward: `no_grad`, as in PyTorch.

A context variable, so that each request thread (and each asyncio task) has its own.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
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
        return _GradMode(self.mode)(function)


class _GradMode:
    """no_grad() and enable_grad(), as PyTorch's: a context manager that can be entered again
    (each entry restores what it found), and a decorator, of generator functions too, whose
    every step then runs in the mode."""

    def __init__(self, mode: bool) -> None:
        self.mode = mode
        self.tokens: list[Any] = []

    def __enter__(self) -> None:
        self.tokens.append(_enabled.set(self.mode))

    def __exit__(self, *exc_info: object) -> None:
        _enabled.reset(self.tokens.pop())

    def __call__(self, function: Callable[..., T]) -> Callable[..., T]:
        mode = self.mode
        if inspect.isgeneratorfunction(function):

            @functools.wraps(function)
            def steps_in_mode(*args: Any, **kwargs: Any) -> Any:
                with _GradMode(mode):
                    generator = function(*args, **kwargs)
                    sent = None
                while True:
                    with _GradMode(mode):
                        try:
                            value = generator.send(sent)
                        except StopIteration as stop:
                            return stop.value
                    sent = yield value

            return steps_in_mode

        @functools.wraps(function)
        def in_mode(*args: Any, **kwargs: Any) -> T:
            with _GradMode(mode):
                return function(*args, **kwargs)

        return in_mode


@overload
def no_grad() -> _GradMode: ...
@overload
def no_grad(function: Callable[..., T]) -> Callable[..., T]: ...
def no_grad(function: Callable[..., T] | None = None) -> _GradMode | Callable[..., T]:
    """`with engine.no_grad():` computes without recording a graph; `@engine.no_grad()` (or, as
    in PyTorch, `@engine.no_grad`) does so for each call of a function."""
    return _GradMode(False) if function is None else _GradMode(False)(function)


@overload
def enable_grad() -> _GradMode: ...
@overload
def enable_grad(function: Callable[..., T]) -> Callable[..., T]: ...
def enable_grad(function: Callable[..., T] | None = None) -> _GradMode | Callable[..., T]:
    return _GradMode(True) if function is None else _GradMode(True)(function)
