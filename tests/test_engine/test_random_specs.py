"""Hypothesis-generated specs (random expression trees over random leaves) against torch.

Each tree is rendered twice: as the spec's expression text, and evaluated directly with
torch. Both must agree on every value and gradient, or both must refuse the graph. The same
specs also run the check's full mode in batches and copy by copy, which must agree.
"""

# mypy: disable-error-code="union-attr"
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_batching import assert_same_numbers

from engine import check
from engine.check import run_check
from engine.errors import SpecError
from engine.spec import compile_spec

torch = pytest.importorskip("torch")
F = torch.nn.functional

SHAPES = [(), (3,), (2, 3), (2, 1), (1, 3)]
UNARY = {
    "exp(tanh({}))": lambda a: torch.exp(torch.tanh(a)),
    "sin({})": torch.sin,
    "cos({})": torch.cos,
    "tanh({})": torch.tanh,
    "sigmoid({})": torch.sigmoid,
    "relu({})": torch.relu,
    "abs({})": torch.abs,
    "-({})": lambda a: -a,
    "({}) ** 2": lambda a: a**2,
    "sqrt({0} * {0} + 1)": lambda a: torch.sqrt(a * a + 1),
    "log({0} * {0} + 0.5)": lambda a: torch.log(a * a + 0.5),
    "2.5 * ({})": lambda a: 2.5 * a,
    "1 - ({})": lambda a: 1 - a,
    "({}) / 4": lambda a: a / 4,
}
BINARY = {
    "({}) + ({})": lambda a, b: a + b,
    "({}) - ({})": lambda a, b: a - b,
    "({}) * ({})": lambda a, b: a * b,
    "({0}) / (({1}) * ({1}) + 1)": lambda a, b: a / (b * b + 1),
    "maximum({}, {})": torch.maximum,
    "minimum({}, {})": torch.minimum,
}
REDUCE = ["sum", "mean", "max", "min", "logsumexp", "softmax", "log_softmax"]
TORCH_REDUCE = {
    "sum": torch.sum,
    "mean": torch.mean,
    "max": torch.amax,
    "min": torch.amin,
    "logsumexp": torch.logsumexp,
}


def trees(names: list[str]) -> st.SearchStrategy[Any]:
    leaf = st.sampled_from(names).map(lambda n: ("name", n))
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.tuples(st.just("unary"), st.sampled_from(sorted(UNARY)), inner),
            st.tuples(st.just("binary"), st.sampled_from(sorted(BINARY)), inner, inner),
            st.tuples(
                st.just("reduce"),
                st.sampled_from(REDUCE),
                inner,
                st.sampled_from([None, 0, -1]),
                st.booleans(),
            ),
        ),
        max_leaves=6,
    )


def render(tree: Any) -> str:
    kind = tree[0]
    if kind == "name":
        return str(tree[1])
    # Every operand in parentheses, so that the text means what the tree means.
    if kind == "unary":
        return str(tree[1]).format(f"({render(tree[2])})")
    if kind == "binary":
        return str(tree[1]).format(f"({render(tree[2])})", f"({render(tree[3])})")
    _, name, arg, axis, keepdims = tree
    if name in ("softmax", "log_softmax"):
        return f"{name}({render(arg)}, axis={-1 if axis is None else axis})"
    return f"{name}({render(arg)}, axis={axis}, keepdims={keepdims})"


def evaluate(tree: Any, env: dict[str, Any]) -> Any:
    kind = tree[0]
    if kind == "name":
        return env[tree[1]]
    if kind == "unary":
        return UNARY[tree[1]](evaluate(tree[2], env))
    if kind == "binary":
        return BINARY[tree[1]](evaluate(tree[2], env), evaluate(tree[3], env))
    _, name, arg, axis, keepdims = tree
    a = evaluate(arg, env)
    if name in ("softmax", "log_softmax"):
        return getattr(F, name)(a, dim=-1 if axis is None else axis)
    # The spec always names axis and keepdims: torch's overload with a dim.
    dims = tuple(range(a.dim())) if axis is None and name in ("max", "min", "logsumexp") else axis
    return TORCH_REDUCE[name](a, dim=dims, keepdim=keepdims)


@st.composite
def specs(draw: st.DrawFn) -> tuple[dict[str, Any], list[Any]]:
    names = ["a", "b", "c"][: draw(st.integers(1, 3))]
    leaves = {}
    for n in names:
        shape = draw(st.sampled_from(SHAPES))
        size = int(np.prod(shape))
        values = draw(st.lists(st.floats(-3, 3, allow_nan=False), min_size=size, max_size=size))
        leaves[n] = {
            "value": np.array(values).reshape(shape).tolist(),
            "dtype": "float64",
            "requires_grad": draw(st.booleans()) or n == "a",
        }
    nodes, node_trees = [], []
    available = list(names)
    for i in range(draw(st.integers(1, 4))):
        tree = draw(trees(available))
        nodes.append({"name": f"n{i}", "expr": render(tree), "retain_grad": draw(st.booleans())})
        node_trees.append(tree)
        available.append(f"n{i}")
    return {"leaves": leaves, "nodes": nodes}, node_trees


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs(), st.integers(0, 2**32 - 1))
def test_random_spec_matches_torch(drawn: tuple[dict[str, Any], list[Any]], seed: int) -> None:
    spec, node_trees = drawn
    env: dict[str, Any] = {
        n: torch.tensor(np.array(leaf["value"], dtype=np.float64), requires_grad=leaf["requires_grad"])
        for n, leaf in spec["leaves"].items()
    }
    torch_error = None
    try:
        for node, tree in zip(spec["nodes"], node_trees, strict=True):
            env[node["name"]] = evaluate(tree, env)
            if node["retain_grad"]:
                env[node["name"]].retain_grad()
    except RuntimeError as error:
        torch_error = error
    if torch_error is None:
        # torch refuses retain_grad and backward where nothing requires grad; so must we.
        rng = np.random.default_rng(seed)
        roots = [n["name"] for n in spec["nodes"] if env[n["name"]].requires_grad][-2:]
        upstream = {r: rng.standard_normal(tuple(env[r].shape)) for r in roots}
        spec["backward"] = [{"root": r, "gradient": upstream[r].tolist()} for r in roots]
        if roots:
            torch.autograd.backward([env[r] for r in roots], [torch.tensor(upstream[r]) for r in roots])
    else:
        spec["backward"] = []
    try:
        result = compile_spec(spec).run()
    except SpecError as error:
        assert torch_error is not None, f"we refused what torch computes: {error}"
        return
    assert torch_error is None, f"torch refused ({torch_error}) what we computed"
    for name, t in env.items():
        mine = result.tensors[name]
        np.testing.assert_allclose(mine.value, t.detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=name)
        assert mine.grad_fn == (type(t.grad_fn).__name__ if t.grad_fn is not None else None)
        reported = t.grad if t.is_leaf or t.retains_grad else None
        assert (mine.grad is None) == (reported is None), name
        if reported is not None:
            assert mine.grad is not None
            np.testing.assert_allclose(mine.grad, reported.numpy(), rtol=1e-9, atol=1e-12, err_msg=f"{name} in {spec}")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs(), st.integers(0, 2**32 - 1))
def test_random_spec_full_check_is_the_same_batched_or_copy_by_copy(
    drawn: tuple[dict[str, Any], list[Any]], seed: int
) -> None:
    spec, _ = drawn
    spec["backward"] = []
    try:
        forward = compile_spec(spec).run()
    except SpecError:
        return  # refused alike either way: the torch test above says which are right to refuse
    rng = np.random.default_rng(seed)
    roots = [n["name"] for n in spec["nodes"] if forward.tensors[n["name"]].requires_grad][-2:]
    spec["backward"] = [{"root": r, "gradient": rng.standard_normal(forward.tensors[r].shape).tolist()} for r in roots]
    batched = run_check(compile_spec(spec), {"mode": "full"})
    with pytest.MonkeyPatch.context() as m:
        m.setattr(check, "BATCH_ELEMENTS", 0)
        one_by_one = run_check(compile_spec(spec), {"mode": "full"})
    assert_same_numbers(batched, one_by_one)


def test_a_tie_at_0_is_differentiated_alike_batched_or_copy_by_copy() -> None:
    # Found by the test above: maximum(a, b)² at a tie with a = 0. A batched evaluation sums in
    # another order and moved f by an ulp on the flat side, where the copy-by-copy one did not: a
    # closer step was then dropped as frozen by rounding in one of them only. A side moves when
    # it moves by more than a few ulps.
    spec = {
        "leaves": {
            "a": {"value": 0.0, "dtype": "float64", "requires_grad": True},
            "b": {"value": [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], "dtype": "float64", "requires_grad": False},
        },
        "nodes": [{"name": "n0", "expr": "((maximum((a), (b)))) ** 2", "retain_grad": False}],
        "backward": [
            {
                "root": "n0",
                "gradient": [
                    [0.1257302210933933, -0.1321048632913019, 0.6404226504432821],
                    [0.10490011715303971, -0.535669373161111, 0.36159505490948474],
                ],
            }
        ],
    }
    batched = run_check(compile_spec(spec), {"mode": "full"})
    with pytest.MonkeyPatch.context() as m:
        m.setattr(check, "BATCH_ELEMENTS", 0)
        one_by_one = run_check(compile_spec(spec), {"mode": "full"})
    assert_same_numbers(batched, one_by_one)
