"""Random tensors: manual_seed, Generator, rand, randn, randint and multinomial, drawn from
NumPy's generator.

They take PyTorch's arguments (a Generator of one's own among them, as makemore draws its
samples) and make its dtypes, and a seed makes a run repeat itself; the numbers are NumPy's,
not PyTorch's (its generator and transforms are its own), so code that prints random tensors
prints other numbers than under PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import dtypes
from engine.creation import dtype_of, size_of, sized
from engine.devices import CPU, on_cpu
from engine.tensor import Tensor, leaf
from engine.torch_words import int_arg

# A new torch.Generator's seed, the same in every process, as PyTorch's (its default generator's
# is drawn afresh in each).
NEW_GENERATOR_SEED = 67280421310721


class Generator:
    """torch.Generator: a stream of numbers of its own, `Generator().manual_seed(2147483647)`."""

    def __init__(self, device: Any = "cpu") -> None:
        on_cpu(device)
        self.manual_seed(NEW_GENERATOR_SEED)

    def manual_seed(self, seed: int) -> Generator:
        """Start the numbers over from `seed` (an integer PyTorch takes: -2^63 up to 2^64)."""
        if not -(2**63) <= int(seed) < 2**64:
            raise ValueError("Overflow when unpacking long long")
        self.seed = int(seed) % 2**64
        self.rng = np.random.default_rng(self.seed)
        return self

    def initial_seed(self) -> int:
        return self.seed

    @property
    def device(self) -> Any:
        return CPU


default_generator = Generator().manual_seed(int(np.random.default_rng().integers(2**63)))


def manual_seed(seed: int) -> Generator:
    """Start the default generator's numbers over from `seed`; the generator, as PyTorch's."""
    return default_generator.manual_seed(seed)


def _rng(generator: Any, function: str) -> np.random.Generator:
    if generator is None:
        return default_generator.rng
    if not isinstance(generator, Generator):
        raise TypeError(f"{function}(): argument 'generator' must be torch.Generator, not {type(generator).__name__}")
    return generator.rng


def rand(
    *args: Any,
    size: Any = None,
    generator: Generator | None = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Uniform on [0, 1)."""
    on_cpu(device)
    kind = _floats(dtype_of(dtype, 0.0, "rand"), "check_uniform_bounds")
    return leaf(_rng(generator, "rand").random(sized(args, size, "rand"), dtype=kind), requires_grad)


def randn(
    *args: Any,
    size: Any = None,
    generator: Generator | None = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Normal, of mean 0 and standard deviation 1."""
    on_cpu(device)
    kind = _floats(dtype_of(dtype, 0.0, "randn"), "normal_kernel_cpu")
    return leaf(_rng(generator, "randn").standard_normal(sized(args, size, "randn"), dtype=kind), requires_grad)


def randint(
    *args: Any,
    low: int = 0,
    high: Any = None,
    size: Any = None,
    generator: Generator | None = None,
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
    values = _rng(generator, "randint").integers(low, high, size_of((size,), "randint"))
    return leaf(values.astype(kind), requires_grad)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator: Any = None) -> Tensor:
    """Indices drawn with the weights of each row of `input` (normalized): num_samples of them, each
    at most once unless `replacement`; int64, without a gradient, as in PyTorch."""
    num_samples = int_arg(num_samples, "multinomial", "num_samples", 2)
    p = input.array
    if p.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if p.dtype.kind != "f":
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {input.dtype.torch_name}")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    if not replacement and num_samples > p.shape[-1]:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    rows = p.reshape(-1, p.shape[-1]).astype(np.float64)
    totals = rows.sum(axis=1)
    if np.any(totals <= 0):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    rng = _rng(generator, "multinomial")
    drawn = [
        rng.choice(row.size, size=num_samples, replace=replacement, p=row / total)
        for row, total in zip(rows, totals, strict=True)
    ]
    return leaf(np.array(drawn, dtype=np.int64).reshape(*p.shape[:-1], num_samples), False)


def _floats(kind: np.dtype[Any], kernel: str) -> np.dtype[Any]:
    if kind.kind != "f":
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{dtypes.BY_NUMPY[kind].torch_name}'")
    return kind
