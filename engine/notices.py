"""PyTorch's UserWarnings: a Python warning for the library's users, a line of the answer for
the service's.

The service runs requests in threads, which Python's warnings machinery does not keep apart
(`catch_warnings` swaps one global), so an evaluation collects what ops say in a list of its
own, held in a context variable, and the spec names the node each came from.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import FrameType

_heard: ContextVar[list[str] | None] = ContextVar("heard", default=None)

# NumPy warns of its floating-point events (1 / 0, log 0, overflow, 0 · inf) where PyTorch gives
# inf and NaN without a word. A filter on the warnings NumPy attributes to the engine's own code,
# set once, not np.errstate around each op, which would cost about a microsecond an op; so that
# np.errstate(all="raise") still raises, and pytest.warns still hears them.
NUMPY_FLOATING_POINT = r"(divide by zero|overflow|underflow|invalid value) encountered"
warnings.filterwarnings("ignore", NUMPY_FLOATING_POINT, RuntimeWarning, module=r"engine(\.|$)")


def warn(message: str) -> None:
    """A UserWarning, pointed at the first caller outside the engine; or kept, while collected."""
    heard = _heard.get()
    if heard is not None:
        heard.append(message)
        return
    frame: FrameType | None = sys._getframe(1)
    level = 2  # stacklevel 1 is this function, 2 its caller
    while frame is not None and frame.f_globals.get("__name__", "").startswith("engine."):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


_said_once: set[str] = set()


def warn_once(message: str) -> None:
    """`warn`, once per process, as PyTorch's TORCH_WARN_ONCE (which Python's filters cannot repeat)."""
    if _heard.get() is None:
        if message in _said_once:
            return
        _said_once.add(message)
    warn(message)


@contextmanager
def collected() -> Iterator[list[str]]:
    """Within, warnings go into the list given, not to Python's warnings."""
    heard: list[str] = []
    token = _heard.set(heard)
    try:
        yield heard
    finally:
        _heard.reset(token)
