"""Which kinks of relu, abs, maximum, max, ... the evaluations of one stencil crossed.

A finite difference across a kink measures neither side's slope. Along a random direction
through many elements, as the fast check differentiates, a step may cross kinks that are too
many and too slight for the stencil's own test (engine.numerical) to tell: here the ops say
so themselves. Each op of the table with a kink says where it is (`Op.kink`): a signed
distance to it, such as relu's input, whose sign is the side. While a `Crossings` records an
evaluation, every such op notes that distance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]

ONE_PLACE = 1e-9  # relative spread of crossings that are one kink: the same distances, rounded alike

_RECORDING: ContextVar[Crossings | None] = ContextVar("kink_crossings", default=None)


def noting(forward: Callable[..., Any], kink: Callable[..., Any]) -> Callable[..., Any]:
    """`forward`, which also notes its distance to the kink while a Crossings records."""

    def forward_noting_kinks(*args: Any, **kwargs: Any) -> Any:
        crossings = _RECORDING.get()
        if crossings is not None:
            crossings.note(kink(*args, **kwargs))
        return forward(*args, **kwargs)

    return forward_noting_kinks


def recorded(crossings: Crossings | None, t: float, evaluate: Callable[[], float]) -> float:
    """evaluate(), recorded as the evaluation at step t unless there is nothing to record it."""
    if crossings is None:
        return evaluate()
    with crossings.evaluation(t):
        return evaluate()


@dataclass
class _Record:
    """One kinked op of the evaluations: the sides of the first, which elements have changed
    side since, and the distances at the evaluations nearest t = 0 below and above it."""

    sides: Array
    changed: Array
    below: tuple[float, Array] | None = None
    above: tuple[float, Array] | None = None


class Crossings:
    """What the kinked ops noted over the evaluations of one stencil, op by op in the order
    they ran: a few bytes per element and two copies of the distances, not one per evaluation."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._records: list[_Record] = []
        self._evaluations = 0
        self._position = 0  # the next record, in the evaluation under way
        self._t = 0.0
        self._mismatched = False  # an evaluation ran other kinked ops, or other shapes

    @contextmanager
    def evaluation(self, t: float) -> Iterator[None]:
        """Record the evaluation at step t (which must not be 0)."""
        self._evaluations += 1
        self._position = 0
        self._t = t
        token = _RECORDING.set(self)
        try:
            yield
        finally:
            _RECORDING.reset(token)
        if self._position != len(self._records):
            self._mismatched = True

    def note(self, kink: Any) -> None:
        distance = np.asarray(kink, dtype=np.float64)
        sides = (distance > 0).view(np.int8) - (distance < 0).view(np.int8)  # NaN: no side
        if self._evaluations == 1:
            record = _Record(sides, np.zeros(sides.shape, dtype=bool))
            self._records.append(record)
        elif self._position < len(self._records) and self._records[self._position].sides.shape == sides.shape:
            record = self._records[self._position]
            record.changed |= sides != record.sides
        else:
            self._mismatched = True
            return
        self._position += 1
        t = self._t
        if t < 0 and (record.below is None or t > record.below[0]):
            record.below = (t, distance.copy())  # a copy: full mode perturbs its input in place
        elif t > 0 and (record.above is None or t < record.above[0]):
            record.above = (t, distance.copy())

    def noted(self) -> bool:
        """Whether any kinked op ran in the evaluations."""
        return self._mismatched or bool(self._records)

    def crossed(self) -> bool:
        """Whether any element changed sides between the evaluations."""
        return self._mismatched or any(record.changed.any() for record in self._records)

    def survey(self) -> tuple[float | None, bool]:
        """How far from 0 the nearest crossing is (None if no element that changed sides can be
        located), and whether every element that changed sides did so at one t, as for one
        relu, or for relu(x) - relu(x): one kink, which the stencil's one-sided test sees
        (engine.numerical). Kinks at several places can hide one another from it."""
        located = self._located()
        if located is None or not located[0].size:
            return None, False
        places, unlocated = located
        reach = np.abs(places)
        return float(np.min(reach)), not unlocated and bool(np.ptp(places) <= ONE_PLACE * np.max(reach))

    def _located(self) -> tuple[Array, int] | None:
        """Where each element that changed sides crossed: the t at which the line through its
        distances at the evaluations nearest 0, on either side, reaches 0; and how many such
        elements cannot be located so (no slope, NaN). None after mismatched evaluations."""
        if self._mismatched:
            return None
        found: list[Array] = []
        unlocated = 0
        for record in self._records:
            if not record.changed.any():
                continue
            if record.below is None or record.above is None:
                unlocated += int(record.changed.sum())
                continue
            (t0, v0), (t1, v1) = record.below, record.above
            v0, v1 = v0[record.changed], v1[record.changed]
            slope = (v1 - v0) / (t1 - t0)
            with np.errstate(divide="ignore", invalid="ignore"):
                places = t0 - v0 / slope
            finite = np.isfinite(places)
            unlocated += int(np.count_nonzero(~finite))
            found.append(places[finite])
        return (np.concatenate(found) if found else np.zeros(0)), unlocated
