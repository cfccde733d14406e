"""What a spec may call its tensors and functions."""

from __future__ import annotations

import keyword
import unicodedata
from typing import Any

from engine.errors import Loc, SpecError
from engine.ops import BUILTINS

MAX_NAME_LENGTH = 64


def check_name(name: Any, loc: Loc, label: str) -> str:
    """A Python identifier of at most 64 characters that is not a keyword or a built-in."""
    if not isinstance(name, str):
        raise SpecError(loc, f"{label}: a name must be a string, got {type(name).__name__}")
    if not name.isidentifier():
        raise SpecError(
            loc,
            f"{label}: '{name[:80]}' is not a valid name (use letters, digits and _, not starting with a digit)",
        )
    read = unicodedata.normalize("NFKC", name)
    if read != name:  # Python reads identifiers in expressions normalized: 'ﬁ' is 'fi' there
        raise SpecError(
            loc,
            f"{label}: '{name[:80]}' reads as '{read[:80]}' in an expression (Python normalizes names, "
            "NFKC): name it so",
        )
    if len(name) > MAX_NAME_LENGTH:
        raise SpecError(loc, f"{label}: the name '{name[:20]}...' is longer than {MAX_NAME_LENGTH} characters")
    if keyword.iskeyword(name):
        raise SpecError(loc, f"{label}: '{name}' is a Python keyword")
    if name in BUILTINS:
        raise SpecError(loc, f"{label}: '{name}' is the name of a built-in function")
    return name
