# mypy: disable-error-code="union-attr"
"""torch.optim's SGD and Adam against PyTorch's: a least-squares fit stepped 25 times, the
optimizers' printing, zero_grad, parameter groups, closures, and what they refuse."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from torch_alike import refusals

import engine

torch = pytest.importorskip("torch")

OPTIMIZERS: dict[str, Callable[[Any, list[Any]], Any]] = {
    "SGD": lambda lib, p: lib.optim.SGD(p, lr=0.05),
    "SGD with momentum, dampening and weight decay": lambda lib, p: lib.optim.SGD(
        p, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01
    ),
    "SGD, Nesterov": lambda lib, p: lib.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    "SGD, maximizing": lambda lib, p: lib.optim.SGD(p, lr=0.01, maximize=True),
    "Adam": lambda lib, p: lib.optim.Adam(p, lr=0.05),
    "Adam, amsgrad, weight decay, beta1 < 0.5": lambda lib, p: lib.optim.Adam(
        p, lr=0.05, weight_decay=0.1, amsgrad=True, betas=(0.3, 0.99)
    ),
    "AdamW": lambda lib, p: lib.optim.Adam(p, lr=0.05, weight_decay=0.1, decoupled_weight_decay=True),
    "Adam, maximizing": lambda lib, p: lib.optim.Adam(p, lr=0.01, maximize=True),
    "AdamW, its own class and default decay": lambda lib, p: lib.optim.AdamW(p, lr=0.05),
    "AdamW, amsgrad": lambda lib, p: lib.optim.AdamW(p, lr=0.05, weight_decay=0.1, amsgrad=True),
    # foreach=False asks for the for-loop, which is what runs here (a review found it refused)
    "AdamW, the for-loop asked for": lambda lib, p: lib.optim.AdamW(p, lr=0.05, foreach=False),
    "SGD, neither foreach nor fused": lambda lib, p: lib.optim.SGD(p, lr=0.05, foreach=False, fused=False),
    "two groups, their own lr": lambda lib, p: lib.optim.SGD(
        [{"params": [p[0]]}, {"params": p[1], "lr": 0.2}], lr=0.05
    ),
}


def _fit(lib: Any, make: Callable[[Any, list[Any]], Any], dtype: str, steps: int = 25) -> list[Any]:
    rng = np.random.default_rng(0)
    kind = getattr(lib, dtype)
    X, t = lib.tensor(rng.standard_normal((8, 3)), dtype=kind), lib.tensor(rng.standard_normal(8), dtype=kind)
    w = lib.tensor([0.5, -1.0, 2.0], dtype=kind, requires_grad=True)
    b = lib.tensor(0.1, dtype=kind, requires_grad=True)
    optimizer = make(lib, [w, b])
    for _ in range(steps):
        optimizer.zero_grad()
        ((X @ w + b - t) ** 2).mean().backward()
        optimizer.step()
    return [w.detach().numpy(), b.detach().numpy()]


@pytest.mark.parametrize(("dtype", "rtol"), [("float64", 1e-13), ("float32", 2e-5)])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizers_step_as_torchs_do(name: str, dtype: str, rtol: float) -> None:
    # PyTorch's kernels fuse some multiply-adds: its float32 steps round a little differently.
    ours, theirs = _fit(engine, OPTIMIZERS[name], dtype), _fit(torch, OPTIMIZERS[name], dtype)
    for mine, its in zip(ours, theirs, strict=True):
        assert mine.dtype == its.dtype
        np.testing.assert_allclose(mine, its, rtol=rtol, atol=0)
    start = [np.array([0.5, -1.0, 2.0]), np.array(0.1)]
    assert not all(np.allclose(a, b) for a, b in zip(ours, start, strict=True))  # it moved


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizers_keep_torchs_state(name: str) -> None:
    # What each keeps of each parameter (a step count as a float32 tensor, the running averages,
    # nothing for SGD without momentum) after 3 steps, one of them with a zero gradient for w.
    seen = []
    for lib in (engine, torch):
        w = lib.tensor([0.5, -1.0], dtype=lib.float64, requires_grad=True)
        b = lib.tensor(0.25, dtype=lib.float64, requires_grad=True)
        optimizer = OPTIMIZERS[name](lib, [w, b])
        for step in range(3):
            optimizer.zero_grad()
            ((w * w).sum() * (step != 1) + b**3).backward()
            optimizer.step()
        state = {
            which: {key: (str(value.dtype).split(".")[-1], value.tolist()) for key, value in optimizer.state[p].items()}
            for which, p in (("w", w), ("b", b))
            if p in optimizer.state
        }
        seen.append(state)
    assert seen[0].keys() == seen[1].keys()
    for which in seen[0]:
        assert seen[0][which].keys() == seen[1][which].keys()
        for key, (dtype, value) in seen[0][which].items():
            assert dtype == seen[1][which][key][0]
            np.testing.assert_allclose(value, seen[1][which][key][1], rtol=1e-13)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizers_print_as_torchs_do(name: str) -> None:
    printed = [
        repr(OPTIMIZERS[name](lib, [lib.ones(2, requires_grad=True), lib.ones(1, requires_grad=True)]))
        for lib in (engine, torch)
    ]
    assert printed[0] == printed[1]


def test_zero_grad_sets_to_none_or_zeros_and_a_closure_gives_the_loss_as_in_torch() -> None:
    seen = []
    for lib in (engine, torch):
        w = lib.tensor([1.0, -2.0], requires_grad=True)
        optimizer = lib.optim.SGD([w], lr=0.1, momentum=0.5)

        def closure(lib: Any = lib, w: Any = w, optimizer: Any = optimizer) -> Any:
            optimizer.zero_grad()
            loss = (w * w).sum()
            loss.backward()
            return loss

        losses = [optimizer.step(closure).item() for _ in range(3)]
        optimizer.zero_grad(set_to_none=False)
        zeros = w.grad.tolist()
        optimizer.zero_grad()
        buffer = optimizer.state[w]["momentum_buffer"].tolist()
        optimizer.step()  # no gradient: nothing moves
        assert w.grad is None
        seen.append([*losses, *zeros, *buffer, *w.tolist()])
    assert seen[0] == pytest.approx(seen[1], rel=1e-6)  # PyTorch's kernels fuse some multiply-adds


def test_groups_are_the_dicts_given_and_a_closure_records_under_no_grad_as_in_torch() -> None:
    seen = []
    for lib in (engine, torch):
        w = lib.tensor([1.0, -2.0], requires_grad=True)
        h = w * 1
        h.retain_grad()  # a non-leaf that retains its gradient may be optimized
        group: dict[str, Any] = {"params": [w]}
        optimizer = lib.optim.SGD([group], lr=0.1)
        group["lr"] = 0.5  # the group is the dict given: this is the rate the step takes
        optimizer.add_param_group({"params": [h]})

        def closure(w: Any = w) -> Any:
            loss = (w * w).sum()
            loss.backward()
            return loss

        with lib.no_grad():
            optimizer.step(closure)
        with pytest.warns(UserWarning) as caught:
            lib.optim.SGD([w, w], lr=0.1)
        seen.append((w.tolist(), [sorted(g) for g in optimizer.param_groups], str(caught[0].message)))
    assert seen[0] == seen[1]


def test_a_step_between_forward_and_backward_is_refused_as_in_torch() -> None:
    said = []
    for lib in (engine, torch):
        w = lib.tensor([1.0, -2.0], requires_grad=True)
        optimizer = lib.optim.SGD([w], lr=0.1)
        (w * w).sum().backward()
        loss = (w * w).sum()
        optimizer.step()  # w written over, which loss's graph saved
        with pytest.raises(RuntimeError) as caught:
            loss.backward()
        said.append(str(caught.value).split(" Hint:")[0])
    assert said[0] == said[1]


REFUSALS = {
    "a negative learning rate": (ValueError, lambda lib, w: lib.optim.SGD([w], lr=-1)),
    "a negative momentum": (ValueError, lambda lib, w: lib.optim.SGD([w], lr=0.1, momentum=-1)),
    "a negative weight decay": (ValueError, lambda lib, w: lib.optim.SGD([w], lr=0.1, weight_decay=-1)),
    "Nesterov without momentum": (ValueError, lambda lib, w: lib.optim.SGD([w], lr=0.1, nesterov=True)),
    "no parameters": (ValueError, lambda lib, w: lib.optim.SGD([], lr=0.1)),
    "a tensor, not a list": (TypeError, lambda lib, w: lib.optim.SGD(w, lr=0.1)),
    "a non-leaf": (ValueError, lambda lib, w: lib.optim.SGD([w * 2], lr=0.1)),
    "a beta of 1": (ValueError, lambda lib, w: lib.optim.Adam([w], betas=(1.0, 0.9))),
    "a negative beta": (ValueError, lambda lib, w: lib.optim.Adam([w], betas=(0.9, -0.1))),
    "a negative epsilon": (ValueError, lambda lib, w: lib.optim.Adam([w], eps=-1)),
    "Adam's negative learning rate": (ValueError, lambda lib, w: lib.optim.Adam([w], lr=-0.1)),
    # A review found these taken
    "a parameter in two groups": (ValueError, lambda lib, w: lib.optim.SGD([{"params": [w]}, {"params": w}], lr=0.1)),
    "a group that is no dict": (TypeError, lambda lib, w: lib.optim.SGD([w], lr=0.1).add_param_group(w * 1)),
    "a set of parameters": (TypeError, lambda lib, w: lib.optim.SGD([{"params": {w}}], lr=0.1)),
    "one beta": (IndexError, lambda lib, w: lib.optim.Adam([w], betas=(0.9,))),
    "a NumPy array": (TypeError, lambda lib, w: lib.optim.SGD([np.ones(2)], lr=0.1)),
    "AdamW told to decouple": (TypeError, lambda lib, w: lib.optim.AdamW([w], decoupled_weight_decay=True)),
}


@pytest.mark.parametrize("name", REFUSALS)
def test_optimizers_refuse_what_torch_refuses_in_its_words(name: str) -> None:
    error, call = REFUSALS[name]
    said = refusals(error, lambda lib: call(lib, lib.tensor([1.0, 2.0], requires_grad=True)))
    assert said[0].replace("engine.tensor.Tensor", "torch.Tensor") == said[1]
