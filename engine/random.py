"""Random tensors: manual_seed, rand, randn and randint, drawn from NumPy's generator.

They take PyTorch's arguments and make its dtypes, and a seed makes a run repeat itself; the
numbers are NumPy's, not PyTorch's (its generator and transforms are its own), so code that
prints random tensors prints other numbers than under PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.creation import dtype_of, size_of, sized
from engine.devices import on_cpu
from engine.tensor import Tensor, leaf

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Start the numbers over from `seed` (an integer PyTorch takes: -2^63 up to 2^64); the generator."""
    global _generator
    if not -(2**63) <= int(seed) < 2**64:
        raise ValueError("Overflow when unpacking long long")
    _generator = np.random.default_rng(int(seed) % 2**64)
    return _generator


def rand(*args: Any, size: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform on [0, 1)."""
    on_cpu(device)
    kind = _floats(dtype_of(dtype, 0.0, "rand"), "check_uniform_bounds")
    return leaf(_generator.random(sized(args, size, "rand"), dtype=kind), requires_grad)


def randn(*args: Any, size: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Normal, of mean 0 and standard deviation 1."""
    on_cpu(device)
    kind = _floats(dtype_of(dtype, 0.0, "randn"), "normal_kernel_cpu")
    return leaf(_generator.standard_normal(sized(args, size, "randn"), dtype=kind), requires_grad)


def randint(
    *args: Any,
    low: int = 0,
    high: Any = None,
    size: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """randint(high, size), randint(low, high, size), or any of them by keyword: integers from low
    (0) up to high, not it."""
    on_cpu(device)
    given = list(args) + [n for n in (high, size) if n is not None]  # by place, or by name after them
    if len(given) == 2:
        high, size = given
    elif len(given) == 3:
        low, high, size = given
    else:
        raise TypeError(f"randint() takes (high, size) or (low, high, size), but {len(given)} arguments were given")
    if not isinstance(size, tuple | list):
        raise TypeError(
            f"randint(): argument 'size' (position {len(given)}) must be tuple of ints, not {type(size).__name__}"
        )
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    kind = dtype_of(dtype, 0, "randint")
    if kind.kind == "b" and not 0 <= low < high <= 2:
        raise RuntimeError(f"{'from' if low < 0 else 'to - 1'} is out of bounds for bool")
    values = _generator.integers(low, high, size_of((size,), "randint"))
    return leaf(values.astype(kind), requires_grad)


def _floats(kind: np.dtype[Any], kernel: str) -> np.dtype[Any]:
    if kind.kind != "f":
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_TORCH_NAMES[kind.kind]}'")
    return kind


_TORCH_NAMES = {"i": "Long", "b": "Bool"}
