"""Random tensors: manual_seed, rand, randn and randint, drawn from NumPy's generator.

They take PyTorch's arguments and make its dtypes, and a seed makes a run repeat itself; the
numbers are NumPy's, not PyTorch's (its generator and transforms are its own), so code that
prints random tensors prints other numbers than under PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.creation import dtype_of, size_of
from engine.tensor import Tensor, leaf

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Start the numbers over from `seed` (any integer, as PyTorch takes it); the generator."""
    global _generator
    _generator = np.random.default_rng(int(seed) % 2**64)
    return _generator


def rand(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform on [0, 1)."""
    kind = _floats(dtype_of(dtype, 0.0), "check_uniform_bounds")
    return leaf(_generator.random(size_of(size, "rand"), dtype=kind), requires_grad)


def randn(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Normal, of mean 0 and standard deviation 1."""
    kind = _floats(dtype_of(dtype, 0.0), "normal_kernel_cpu")
    return leaf(_generator.standard_normal(size_of(size, "randn"), dtype=kind), requires_grad)


def randint(*args: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """randint(high, size) or randint(low, high, size): integers from low (0) up to high, not it."""
    if len(args) == 2:
        low, (high, size) = 0, args
    elif len(args) == 3:
        low, high, size = args
    else:
        raise TypeError(f"randint() takes (high, size) or (low, high, size), but {len(args)} arguments were given")
    if not isinstance(size, tuple | list):
        raise TypeError(
            f"randint(): argument 'size' (position {len(args)}) must be tuple of ints, not {type(size).__name__}"
        )
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    values = _generator.integers(low, high, size_of((size,), "randint"))
    return leaf(values.astype(dtype_of(dtype, 0)), requires_grad)


def _floats(kind: np.dtype[Any], kernel: str) -> np.dtype[Any]:
    if kind.kind != "f":
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_TORCH_NAMES[kind.kind]}'")
    return kind


_TORCH_NAMES = {"i": "Long", "b": "Bool"}
