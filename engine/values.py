"""Numbers from a request turned into arrays: nested lists, or a shape with an initializer.

Sizes are checked before anything is allocated, and the nested lists are walked level by
level (never recursively), so that a deep or huge value is a clear error, not a crash.
"""

from __future__ import annotations

import math
from math import prod
from typing import Any

import numpy as np

from engine.errors import LimitExceeded, Loc, SpecError
from engine.limits import Limits, setting

INITS = ("zeros", "ones", "arange", "normal", "uniform")


def _too_many(loc: Loc, what: str, count: int, limits: Limits) -> LimitExceeded:
    return LimitExceeded(
        loc,
        f"{what} has {count:,} elements, over the limit of {limits.max_tensor_elements:,} per "
        f"tensor (setting {setting('max_tensor_elements')})",
    )


def _path(indices: tuple[int, ...]) -> str:
    return "".join(f"[{i}]" for i in indices)


def nested_to_array(value: Any, dtype: np.dtype[Any], loc: Loc, what: str, limits: Limits) -> np.ndarray[Any, Any]:
    """A number or a rectangular nested list of finite numbers, as an array of `dtype`."""
    shape: list[int] = []
    probe = value
    while isinstance(probe, list):
        if len(shape) >= limits.max_ndim:
            raise LimitExceeded(
                loc, f"{what} has more than {limits.max_ndim} dimensions (setting {setting('max_ndim')})"
            )
        shape.append(len(probe))
        probe = probe[0] if probe else None
    count = prod(shape)
    if count > limits.max_tensor_elements:
        raise _too_many(loc, what, count, limits)
    level: list[tuple[Any, tuple[int, ...]]] = [(value, ())]
    for depth, size in enumerate(shape):
        below: list[tuple[Any, tuple[int, ...]]] = []
        for item, where in level:
            if not isinstance(item, list) or len(item) != size:
                got = f"{len(item)} elements" if isinstance(item, list) else "a number"
                raise SpecError(
                    loc,
                    f"{what} is not rectangular: {_path(where) or 'the value'} has {got}, expected "
                    f"{size} (shape so far {shape[: depth + 1]})",
                )
            below.extend((child, (*where, i)) for i, child in enumerate(item))
        level = below
    numbers = []
    for item, where in level:
        if isinstance(item, list):
            raise SpecError(loc, f"{what} is not rectangular: {_path(where)} is a list, expected a number")
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise SpecError(loc, f"{what}{_path(where)} must be a number, got {type(item).__name__}")
        if isinstance(item, float) and not math.isfinite(item):
            raise SpecError(loc, f"{what}{_path(where)} is {item}: input values must be finite")
        numbers.append(item)
    return to_dtype(numbers, shape, dtype, loc, what)


def to_dtype(numbers: list[Any], shape: list[int], dtype: np.dtype[Any], loc: Loc, what: str) -> np.ndarray[Any, Any]:
    try:
        wide = np.array(numbers, dtype=np.float64).reshape(shape)
    except OverflowError:
        raise SpecError(loc, f"{what} has a number too large for float64") from None
    if dtype.kind == "i":
        outside = f"{what} has a number outside the int64 range"
        if not np.all(np.abs(wide) <= 2.0**63):  # 2**63 - 1 is 2.0**63 in float64: told exactly below
            raise SpecError(loc, outside)
        if not np.all(wide == np.round(wide)):
            bad = np.argwhere(wide != np.round(wide))[0]
            raise SpecError(loc, f"{what}{_path(tuple(bad))} is not an integer, but the dtype is int64")
        exact = [int(n) for n in numbers]  # large int64 values lose nothing this way
        try:
            return np.array(exact, dtype=np.int64).reshape(shape)
        except OverflowError:
            raise SpecError(loc, outside) from None
    if not np.all(np.isfinite(wide)):
        raise SpecError(loc, f"{what} has a number too large for float64")
    with np.errstate(over="ignore"):
        out = wide.astype(dtype)
    if not np.all(np.isfinite(out)):
        raise SpecError(loc, f"{what} has a number too large for {dtype}")
    return out


def initialized(
    spec: dict[str, Any], dtype: np.dtype[Any], loc: Loc, what: str, limits: Limits
) -> np.ndarray[Any, Any]:
    """A tensor of `shape` made by `init`: zeros, ones, arange, normal or uniform."""
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise SpecError((*loc, "shape"), f"{what}: shape must be a list of non-negative integers")
    if len(shape) > limits.max_ndim:
        raise LimitExceeded(
            (*loc, "shape"), f"{what} has more than {limits.max_ndim} dimensions (setting {setting('max_ndim')})"
        )
    count = prod(max(n, 1) for n in shape)  # (0, 10**30) holds nothing, but nothing can use it either
    if count > limits.max_tensor_elements:
        if 0 not in shape:
            raise _too_many((*loc, "shape"), what, count, limits)
        raise LimitExceeded(
            (*loc, "shape"),
            f"{what} has no elements, but the shape {shape} would make {count:,} once its 0s are 1s, over the "
            f"limit of {limits.max_tensor_elements:,} per tensor (setting {setting('max_tensor_elements')}): "
            "a sum over its empty axes would make that many",
        )
    init = spec.get("init")
    if init not in INITS:
        raise SpecError((*loc, "init"), f"{what}: init must be one of {', '.join(INITS)}, got {init!r}")
    seed = spec.get("seed", 0)
    if type(seed) is not int or seed < 0:
        raise SpecError((*loc, "seed"), f"{what}: seed must be a non-negative integer")
    scale = spec.get("scale", 1)
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not math.isfinite(scale):
        raise SpecError((*loc, "scale"), f"{what}: scale must be a finite number")
    rng = np.random.default_rng(seed)
    base = {
        "zeros": lambda: np.zeros(shape),
        "ones": lambda: np.ones(shape),
        "arange": lambda: np.arange(prod(shape), dtype=np.float64).reshape(shape),
        "normal": lambda: rng.standard_normal(shape),
        "uniform": lambda: rng.random(shape),
    }[init]()
    values = np.asarray(base * scale)  # a 0-d product is a NumPy scalar, which would promote as a float64
    if dtype.kind == "i":
        if not np.all(values == np.round(values)):
            raise SpecError(
                (*loc, "init"),
                f"{what}: {init} with scale {scale} does not give integers for int64",
            )
        if not np.all((values >= -(2.0**63)) & (values < 2.0**63)):  # the int64 range, as float64 holds it
            raise SpecError((*loc, "scale"), f"{what}: scale {scale} makes values outside the int64 range")
        return values.astype(np.int64)
    with np.errstate(over="ignore"):
        out = values.astype(dtype)
    if not np.all(np.isfinite(out)):
        raise SpecError((*loc, "scale"), f"{what}: scale {scale} makes values too large for {dtype}")
    return out
