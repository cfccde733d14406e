"""The check's options, as a request gives them: mode, step, tolerances and seed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from engine.errors import SpecError
from engine.numerical import (
    MIN_EPS,
)

MODES = ("auto", "full", "fast", "off")
DEFAULT_EPS = 1e-3
LOC = ("body", "check")


@dataclass(frozen=True)
class CheckOptions:
    mode: str = "auto"
    eps: float | None = None  # the step, absolute; default DEFAULT_EPS
    atol: float = 1e-9
    rtol: float = 1e-6
    seed: int = 0

    @classmethod
    def from_raw(cls, raw: Any) -> CheckOptions:
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise SpecError(LOC, "check must be an object")
        options = cls(**{k: raw[k] for k in ("mode", "eps", "atol", "rtol", "seed") if raw.get(k) is not None})
        if options.mode not in MODES:
            raise SpecError((*LOC, "mode"), f"check mode must be one of {', '.join(MODES)}")
        for name in ("atol", "rtol"):
            value = getattr(options, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
                raise SpecError((*LOC, name), f"{name} must be a finite number >= 0")
        if options.eps is not None and not (isinstance(options.eps, int | float) and MIN_EPS <= options.eps < 1):
            raise SpecError((*LOC, "eps"), f"eps must be a number from {MIN_EPS:g} up to 1 (not included)")
        if type(options.seed) is not int or options.seed < 0:
            raise SpecError((*LOC, "seed"), "seed must be a non-negative integer")
        return options
