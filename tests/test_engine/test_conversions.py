# mypy: disable-error-code="union-attr"
"""Tensor.to, float, double, long, bool, cpu and t(), and the one device, against PyTorch:
values, dtypes, grad_fn names, whether the tensor itself comes back, gradients, and what each
refuses, in PyTorch's words."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from torch_alike import refusals

import engine

torch = pytest.importorskip("torch")

MATRIX = [[1.5, -2.0], [3.25, 4.0]]

# Each call gets the library and a float32 matrix that requires grad.
CONVERSIONS = {
    "x.double()": lambda lib, x: x.double(),
    "x.float()": lambda lib, x: x.float(),
    "x.long()": lambda lib, x: x.long(),
    "x.bool()": lambda lib, x: x.bool(),
    "x.to(float64)": lambda lib, x: x.to(lib.float64),
    "x.to(float32)": lambda lib, x: x.to(lib.float32),
    "x.to(float32, copy=True)": lambda lib, x: x.to(lib.float32, copy=True),
    "x.to(dtype=int64)": lambda lib, x: x.to(dtype=lib.int64),
    "x.to(float)": lambda lib, x: x.to(float),
    "x.to(dtype=int)": lambda lib, x: x.to(dtype=int),
    "x.to(another tensor)": lambda lib, x: x.to(lib.zeros(1, dtype=lib.float64)),
    "x.to('cpu')": lambda lib, x: x.to("cpu"),
    "x.to(device('cpu'), float64)": lambda lib, x: x.to(lib.device("cpu"), lib.float64),
    "x.to(device='cpu', dtype=float64)": lambda lib, x: x.to(device="cpu", dtype=lib.float64),
    "x.cpu()": lambda lib, x: x.cpu(),
    "x.t()": lambda lib, x: x.t(),
    "x[0].t()": lambda lib, x: x[0].t(),
    "x[0, 0].t()": lambda lib, x: x[0, 0].t(),
    "x.double().float()": lambda lib, x: x.double().float(),
    "ints.float()": lambda lib, x: lib.tensor([[1, 2], [3, 4]]).float(),
}


@pytest.mark.parametrize("name", CONVERSIONS)
def test_conversions_give_torchs_tensors_names_and_gradients(name: str) -> None:
    made = {}
    for lib in (engine, torch):
        x = lib.tensor(MATRIX, requires_grad=True)
        out = CONVERSIONS[name](lib, x)
        grad_fn = out.grad_fn.name() if out.grad_fn is not None else None
        if out.requires_grad:  # a weight per element, so that a gradient put in the wrong place shows
            (out * lib.arange(1.0, out.numel() + 1).reshape(out.shape)).sum().backward()
        grad = None if x.grad is None else (x.grad.numpy().tolist(), str(x.grad.dtype).split(".")[1])
        made[lib.__name__] = (
            out.detach().numpy().tolist(),
            str(out.dtype).split(".")[1],
            grad_fn,
            out.requires_grad,
            out is x,
            grad,
        )
    assert made["engine"] == made["torch"]


def test_a_float64_gradient_comes_back_to_a_float32_leaf_in_its_dtype() -> None:
    # The cast's gradient is the upstream one cast back, rounded as PyTorch rounds it.
    values = np.random.default_rng(3).standard_normal(5)
    grads = []
    for lib in (engine, torch):
        x = lib.tensor(values.tolist(), requires_grad=True)
        (x.double() ** 3 / 7.0).sum().backward()
        grads.append(x.grad.numpy())
    assert grads[0].dtype == np.float32
    np.testing.assert_array_equal(grads[0], grads[1])


def test_the_one_device_is_the_cpu_as_torch_without_cuda_has_it() -> None:
    for lib in (engine, torch):
        x = lib.tensor([1.0], device="cpu")
        assert (str(x.device), repr(x.device), x.device.type) == ("cpu", "device(type='cpu')", "cpu")
        assert x.device == lib.device("cpu") and lib.device("cpu") != "cpu"
        assert (repr(lib.device("cuda:1")), str(lib.device("cpu", 0))) == ("device(type='cuda', index=1)", "cpu:0")
        assert not lib.cuda.is_available() and lib.cuda.device_count() == 0
        made = [
            lib.zeros(2, device="cpu"), lib.ones(2, device=lib.device("cpu")), lib.full((2,), 1.0, device="cpu"),
            lib.eye(2, device="cpu"), lib.arange(3, device="cpu"), lib.linspace(0, 1, 3, device="cpu"),
            lib.rand(2, device="cpu"), lib.randn(2, device="cpu"), lib.randint(0, 3, (2,), device="cpu"),
        ]  # fmt: skip
        assert all(t.device == lib.device("cpu") for t in made)


REFUSED: dict[str, tuple[type[Exception], Any]] = {
    "x.to('cuda')": (AssertionError, lambda lib: lib.ones(2).to("cuda")),
    "x.cuda()": (AssertionError, lambda lib: lib.ones(2).cuda()),
    "x.to(device='cuda:0')": (AssertionError, lambda lib: lib.ones(2).to(device="cuda:0")),
    "tensor(device='cuda')": (AssertionError, lambda lib: lib.tensor([1.0], device="cuda")),
    "x.to(device('cuda:1'))": (AssertionError, lambda lib: lib.ones(2).to(lib.device("cuda:1"))),
    "x.to('mps')": (RuntimeError, lambda lib: lib.ones(2).to("mps")),
    "x.to('float64')": (RuntimeError, lambda lib: lib.ones(2).to("float64")),
    "device('cpu:x')": (RuntimeError, lambda lib: lib.device("cpu:x")),
    "device('gpu')": (RuntimeError, lambda lib: lib.device("gpu")),
    "a 3-d x.t()": (RuntimeError, lambda lib: lib.ones(2, 2, 2).t()),
}


@pytest.mark.parametrize("name", REFUSED)
def test_conversions_refuse_what_torch_refuses_in_its_words(name: str) -> None:
    said = refusals(*REFUSED[name])
    assert said[0] == said[1]


def test_to_of_two_dtypes_is_refused_as_no_overload_of_torchs() -> None:
    said = refusals(TypeError, lambda lib: lib.ones(2).to(lib.float64, lib.float32))
    assert said[1].startswith(said[0].split(", but")[0])


def test_the_seeding_and_device_boilerplate_of_tutorials_runs_as_under_torch_without_cuda() -> None:
    # A review's learner snippets begin so; torch.backends, cuda.manual_seed and *_like's keywords
    # were missing.
    seen = []
    for lib in (engine, torch):
        lib.manual_seed(42)
        lib.cuda.manual_seed(42)
        lib.cuda.manual_seed_all(42)
        lib.backends.cudnn.deterministic = True
        lib.backends.cudnn.benchmark = False
        mps, cuda = lib.backends.mps.is_available(), lib.cuda.is_available()
        device = lib.device("mps" if mps else "cuda" if cuda else "cpu")
        x = lib.ones(2, 3, device=device)
        made = [
            lib.zeros_like(x, dtype=lib.float64),
            lib.ones_like(x, device=device),
            lib.zeros_like(x, requires_grad=True),
        ]
        seen.append((str(device), [repr(t) for t in made], lib.backends.cudnn.is_available()))
    assert seen[0] == seen[1]
    said = refusals(RuntimeError, lambda lib: lib.ones_like(lib.ones(2), dtype=lib.int64, requires_grad=True))
    assert said[0] == said[1]


def _bigram_counts(lib: Any) -> list[Any]:
    """makemore's bigram table: counts in int32, added to in place, summed, made probabilities."""
    words = ["emma", "olivia", "ava", "isabella", "sophia"]
    stoi = {c: i + 1 for i, c in enumerate(sorted(set("".join(words))))} | {".": 0}
    counts = lib.zeros((len(stoi), len(stoi)), dtype=lib.int32)
    for word in words:
        chars = [".", *word, "."]
        for first, second in itertools.pairwise(chars):
            counts[stoi[first], stoi[second]] += 1
    p = (counts + 1).float()
    p /= p.sum(1, keepdims=True)
    made = [counts, counts.sum(), counts.sum(1), counts * 2, counts * 2.5, counts + counts.long(), counts.int(),
            lib.tensor([1, 2], dtype=lib.int) / 2, counts.max(), p]  # fmt: skip
    return [(str(t.dtype), t.numpy().tolist()) for t in made] + [repr(counts[:2, :4]), repr(lib.int)]


def test_int32_counts_as_makemore_keeps_them_go_as_in_torch() -> None:
    ours, theirs = _bigram_counts(engine), _bigram_counts(torch)
    assert ours == theirs
    assert ours[0][0] == "torch.int32" and ours[1][0] == "torch.int64"  # the sum of int32 is int64, as PyTorch's


def test_int32_data_stays_int32_and_what_int32_cannot_hold_is_refused_as_in_torch() -> None:
    # torch.tensor(N) of an int32 N was int64, and 2**31 as int32 wrapped to -2**31 (a review).
    seen = []
    for lib in (engine, torch):
        counts = lib.zeros((2, 2), dtype=lib.int32)
        made = [lib.tensor(counts), lib.tensor(counts.numpy()), lib.tensor(np.array([1, 2], np.int32))]
        refused = []
        for values in ([2**31], [2**31 - 0.5], [-(2**31) - 1]):
            with pytest.raises(RuntimeError) as caught:
                lib.tensor(values, dtype=lib.int32)
            refused.append(str(caught.value))
        seen.append(([str(t.dtype) for t in made], refused, lib.tensor([-(2**31)], dtype=lib.int32).tolist()))
    assert seen[0] == seen[1]
