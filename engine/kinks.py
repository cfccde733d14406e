"""Which side of its kink each input of relu, abs, maximum, max, ... lies on, evaluation by evaluation.

A finite difference across a kink measures neither side's slope. Along a random direction
through many elements, as the fast check differentiates, a step may cross kinks that are too
many and too slight for the stencil's own test (engine.numerical) to tell: here the ops say
so themselves. Each op of the table with a kink says where it is (`Op.kink`); while a
`Crossings` records an evaluation, every such op notes where its input is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]

_RECORDING: ContextVar[Crossings | None] = ContextVar("kink_crossings", default=None)


def noting(forward: Callable[..., Any], kink: Callable[..., Any]) -> Callable[..., Any]:
    """`forward`, which also notes where its input is against the kink while a Crossings records."""

    def forward_noting_kinks(*args: Any, **kwargs: Any) -> Any:
        crossings = _RECORDING.get()
        if crossings is not None:
            crossings.note(kink(*args, **kwargs))
        return forward(*args, **kwargs)

    return forward_noting_kinks


class Crossings:
    """What the kinked ops noted in each evaluation of one stencil, in order.

    An op's kink is a signed distance (relu's input, a - b for maximum), whose sign is the
    side, or a boolean array (which elements are the maximum) that tells the side only.
    """

    def __init__(self) -> None:
        self.evaluations: list[list[Array]] = []

    def clear(self) -> None:
        self.evaluations = []

    @contextmanager
    def evaluation(self) -> Iterator[None]:
        self.evaluations.append([])
        token = _RECORDING.set(self)
        try:
            yield
        finally:
            _RECORDING.reset(token)

    def note(self, kink: Any) -> None:
        self.evaluations[-1].append(np.array(kink, copy=True))

    def crossed(self) -> bool:
        """Whether any input changed sides between the evaluations (a different number of
        kinked ops counts as a crossing too: the evaluations did not run the same ops)."""
        if not self.evaluations:
            return False
        first = self.evaluations[0]
        for other in self.evaluations[1:]:
            if len(other) != len(first):
                return True
            for a, b in zip(first, other, strict=True):
                if a.shape != b.shape or not np.array_equal(_sides(a), _sides(b), equal_nan=True):
                    return True
        return False

    def nearest(self, steps: list[float]) -> float | None:
        """How far from 0 the nearest crossing is, interpolating each crossing distance linearly
        between the evaluations at `steps` (ascending, at least one on each side of 0); None if a
        kink that tells its side only was crossed, or the evaluations do not line up."""
        if len(self.evaluations) != len(steps) or not self.crossed():
            return None
        ts = np.array(steps)
        nearest = np.inf
        for records in zip(*self.evaluations, strict=True):
            if any(r.shape != records[0].shape for r in records):
                return None
            values = np.stack([np.asarray(r, dtype=np.float64).reshape(-1) for r in records])  # (steps, elements)
            sides = _sides(values)
            same = (sides == sides[:1]) | (np.isnan(sides) & np.isnan(sides[:1]))
            changed = ~np.all(same, axis=0)
            if not changed.any():
                continue
            if records[0].dtype == np.bool_:
                return None
            # The line through the outermost evaluations: where it reaches 0.
            v = values[:, changed]
            slope = (v[-1] - v[0]) / (ts[-1] - ts[0])
            at_zero = v[0] - slope * ts[0]
            with np.errstate(divide="ignore", invalid="ignore"):
                reach = np.abs(np.where(slope != 0, at_zero / slope, 0.0))
            nearest = min(nearest, float(np.min(np.nan_to_num(reach, nan=0.0))))
        return nearest if nearest < np.inf else None


def _sides(kink: Array) -> Array:
    return np.sign(kink) if kink.dtype != np.bool_ else kink
