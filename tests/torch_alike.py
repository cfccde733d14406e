"""What the tests of the Python API ask of engine and PyTorch alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import engine


def refusals(error: type[Exception], call: Callable[[Any], Any]) -> list[str]:
    """What engine and torch say when `call(library)` raises `error` (pytest fails where one does not)."""
    torch = pytest.importorskip("torch")
    said = []
    for lib in (engine, torch):
        with pytest.raises(error) as caught:
            call(lib)
        said.append(str(caught.value))
    return said
