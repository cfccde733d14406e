"""Random graphs from the op table, with shared subexpressions and several roots, against torch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import engine
import engine.autograd
import engine.ops

torch = pytest.importorskip("torch")
F = torch.nn.functional

LEAF_SHAPES = [(), (3,), (2, 3), (1, 3), (2, 1)]

# Each entry: (ours, theirs), both total functions on any real input (domains are kept by
# composing, e.g. log(a*a + 1)).
UNARY: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "exp_tanh": (lambda a: engine.exp(engine.tanh(a)), lambda a: torch.exp(torch.tanh(a))),
    "sin": (engine.sin, torch.sin),
    "cos": (engine.cos, torch.cos),
    "sigmoid": (engine.sigmoid, torch.sigmoid),
    "abs": (engine.abs, torch.abs),
    "relu": (engine.relu, torch.relu),
    "sign_times": (lambda a: engine.sign(a) * a, lambda a: torch.sign(a) * a),
    "neg": (lambda a: -a, lambda a: -a),
    "log1p_sq": (lambda a: engine.log(a * a + 1), lambda a: torch.log(a * a + 1)),
    "sqrt1p_sq": (lambda a: engine.sqrt(a * a + 1), lambda a: torch.sqrt(a * a + 1)),
    "scale": (lambda a: 0.5 * a - 2, lambda a: 0.5 * a - 2),
    "square": (lambda a: a**2, lambda a: a**2),
    "rdiv": (lambda a: 1 / (a * a + 1), lambda a: 1 / (a * a + 1)),
    "softplus": (engine.nn.functional.softplus, F.softplus),
    "silu": (engine.nn.functional.silu, F.silu),
    "leaky_relu": (engine.nn.functional.leaky_relu, F.leaky_relu),
    "log1p_of_square": (lambda a: engine.log1p(a * a), lambda a: torch.log1p(a * a)),
    "expm1_tan_tanh": (
        lambda a: engine.expm1(engine.tan(engine.tanh(a))),
        lambda a: torch.expm1(torch.tan(torch.tanh(a))),
    ),
}
BINARY: dict[str, tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any]]] = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1)),
    "maximum": (engine.maximum, torch.maximum),
    "minimum": (engine.minimum, torch.minimum),
    "pow": (lambda a, b: (a * a + 1) ** engine.tanh(b), lambda a, b: (a * a + 1) ** torch.tanh(b)),
}


# The ops whose gradient jumps where operands tie or cross zero. A graph whose values reach
# such an op one rounding apart from torch's, on either side of the jump (a tie broken by
# 1e-16), has two right answers: it is drawn again.
KINKED = frozenset({"abs", "relu", "leaky_relu", "sign_times", "maximum", "minimum", "max", "min"})


def _at_extreme(values: np.ndarray, axis: int | None) -> np.ndarray:
    """Where the maximum and the minimum along `axis` are: ties share the gradient."""
    top = values == np.max(values, axis=axis, keepdims=True)
    bottom = values == np.min(values, axis=axis, keepdims=True)
    return np.stack([top, bottom])


def _reduce(name: str, axis: int | None, keepdims: bool) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    if name in ("softmax", "log_softmax"):
        dim = -1 if axis is None else axis
        return (lambda a: getattr(engine, name)(a, axis=dim)), (lambda a: getattr(F, name)(a, dim=dim))
    theirs_fn = {
        "sum": torch.sum,
        "mean": torch.mean,
        "max": torch.amax,
        "min": torch.amin,
        "logsumexp": torch.logsumexp,
    }[name]

    def ours(a: Any) -> Any:
        return getattr(engine, {"max": "amax", "min": "amin"}.get(name, name))(a, axis=axis, keepdims=keepdims)

    def theirs(a: Any) -> Any:
        dims = tuple(range(a.dim())) if axis is None else axis
        return theirs_fn(a, dim=dims, keepdim=keepdims)

    return ours, theirs


@st.composite
def graphs(draw: st.DrawFn) -> tuple[list[np.ndarray], list[tuple[str, Any]], int]:
    n_leaves = draw(st.integers(1, 3))
    floats = st.floats(-2, 2, allow_nan=False, width=64)
    leaves = []
    for _ in range(n_leaves):
        shape = draw(st.sampled_from(LEAF_SHAPES))
        values = draw(st.lists(floats, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
        leaves.append(np.array(values, dtype=np.float64).reshape(shape))
    steps: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(1, 10))):
        kind = draw(st.sampled_from(["unary", "binary", "binary", "reduce"]))
        if kind == "unary":
            steps.append(("unary", (draw(st.sampled_from(sorted(UNARY))), draw(st.integers(0, 99)))))
        elif kind == "binary":
            steps.append(
                (
                    "binary",
                    (
                        draw(st.sampled_from(sorted(BINARY))),
                        draw(st.integers(0, 99)),
                        draw(st.integers(0, 99)),
                    ),
                )
            )
        else:
            name = draw(st.sampled_from(["sum", "mean", "max", "min", "logsumexp", "softmax", "log_softmax"]))
            steps.append(
                (
                    "reduce",
                    (
                        name,
                        draw(st.integers(0, 99)),
                        draw(st.sampled_from([None, 0, -1])),
                        draw(st.booleans()),
                    ),
                )
            )
    return leaves, steps, draw(st.integers(1, 3))


@pytest.mark.parametrize("uniform_from", [engine.ops.UNIFORM_MIN_ELEMENTS, 1], ids=["default", "sums-as-one-number"])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_random_graph_matches_torch(
    uniform_from: int,
    graph: tuple[list[np.ndarray], list[tuple[str, Any]], int],
) -> None:
    # Second run: the gradient of every sum over every axis carried as one number (engine.graph),
    # which at the default setting only tensors of 2^16 elements or more do; each root is
    # summed, so that every graph starts with one.
    default, engine.ops.UNIFORM_MIN_ELEMENTS = engine.ops.UNIFORM_MIN_ELEMENTS, uniform_from
    try:
        _check_random_graph(graph, summed_roots=uniform_from == 1)
    finally:
        engine.ops.UNIFORM_MIN_ELEMENTS = default


def _check_random_graph(graph: tuple[list[np.ndarray], list[tuple[str, Any]], int], summed_roots: bool) -> None:
    leaves, steps, n_roots = graph
    mine = [engine.tensor(a, requires_grad=True) for a in leaves]
    refs = [torch.tensor(a, requires_grad=True) for a in leaves]
    nodes: list[tuple[Any, Any]] = list(zip(mine, refs, strict=True))
    for kind, args in steps:
        if kind == "unary":
            name, i = args
            a, ta = nodes[i % len(nodes)]
            ours, theirs = UNARY[name]
            if name in KINKED:
                assume(np.array_equal(np.sign(a.detach().numpy()), np.sign(ta.detach().numpy())))
            nodes.append((ours(a), theirs(ta)))
        elif kind == "binary":
            name, i, j = args
            (a, ta), (b, tb) = nodes[i % len(nodes)], nodes[j % len(nodes)]
            try:
                np.broadcast_shapes(a.shape, b.shape)
            except ValueError:
                continue
            ours2, theirs2 = BINARY[name]
            if name in KINKED:
                ours_side = np.sign(np.subtract(a.detach().numpy(), b.detach().numpy()))
                assume(np.array_equal(ours_side, np.sign(np.subtract(ta.detach().numpy(), tb.detach().numpy()))))
            nodes.append((ours2(a, b), theirs2(ta, tb)))
        else:
            name, i, axis, keepdims = args
            a, ta = nodes[i % len(nodes)]
            if a.ndim == 0 and axis is not None:
                continue
            ours, theirs = _reduce(name, axis, keepdims)
            if name in KINKED:
                assume(np.array_equal(_at_extreme(a.detach().numpy(), axis), _at_extreme(ta.detach().numpy(), axis)))
            nodes.append((ours(a), theirs(ta)))
    for out, ref in nodes[len(leaves) :]:
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    roots = [(o, r) for o, r in nodes[len(leaves) :] if o.requires_grad][-n_roots:]
    if not roots:
        return
    if summed_roots:
        roots = [(o.sum(), r.sum()) for o, r in roots]
    rng = np.random.default_rng(len(steps))
    upstream = [rng.standard_normal(r.shape) for _, r in roots]
    engine.autograd.backward([o for o, _ in roots], [engine.tensor(u) for u in upstream])
    torch.autograd.backward([r for _, r in roots], [torch.tensor(u) for u in upstream])
    for m, r in zip(mine, refs, strict=True):
        if r.grad is None:
            assert m.grad is None
        else:
            assert m.grad is not None
            np.testing.assert_allclose(m.grad.numpy(), r.grad.numpy(), rtol=1e-9, atol=1e-12)
