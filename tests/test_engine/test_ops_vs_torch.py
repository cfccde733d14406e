# mypy: disable-error-code="union-attr"
# (tests read .grad and .grad_fn right after backward, where they are known to be set)
"""Every op of the table against PyTorch in float64: values, gradients and grad_fn names.

Each case is written twice, once with our API and once with torch's, so that torch is an
independent truth and not our own code translated.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from support import ROOT

import engine

torch = pytest.importorskip("torch")
F = torch.nn.functional

Case = tuple[str, list[tuple[int, ...]], Callable[..., Any], Callable[..., Any]]

CASES: list[Case] = [
    ("add", [(3,), (3,)], lambda a, b: a + b, lambda a, b: a + b),
    ("add_broadcast", [(2, 3), (3,)], lambda a, b: a + b, lambda a, b: a + b),
    ("add_broadcast_ones", [(2, 1, 4), (3, 1)], lambda a, b: a + b, lambda a, b: a + b),
    ("add_scalar", [(3,)], lambda a: 2 + a, lambda a: 2 + a),
    ("add_0d", [(), (2, 3)], lambda a, b: a + b, lambda a, b: a + b),
    ("sub", [(2, 3), (2, 1)], lambda a, b: a - b, lambda a, b: a - b),
    ("rsub", [(3,)], lambda a: 1 - a, lambda a: 1 - a),
    ("mul", [(4, 1), (1, 5)], lambda a, b: a * b, lambda a, b: a * b),
    ("mul_self", [(3,)], lambda a: a * a, lambda a: a * a),
    ("div", [(2, 3), (3,)], lambda a, b: a / b, lambda a, b: a / b),
    ("rdiv", [(3,)], lambda a: 2 / a, lambda a: 2 / a),
    ("neg", [(2, 2)], lambda a: -a, lambda a: -a),
    ("pow_scalar", [(3,)], lambda a: a**3, lambda a: a**3),
    ("pow_half", [(3,)], lambda a: a**0.5, lambda a: a**0.5),
    ("pow_tensor", [(2, 3), (3,)], lambda a, b: a**b, lambda a, b: a**b),
    ("rpow", [(3,)], lambda a: 2**a, lambda a: 2**a),
    ("matmul_mm", [(2, 3), (3, 4)], lambda a, b: a @ b, lambda a, b: a @ b),
    ("matmul_mv", [(2, 3), (3,)], lambda a, b: a @ b, lambda a, b: a @ b),
    ("matmul_vm", [(3,), (3, 4)], lambda a, b: a @ b, lambda a, b: a @ b),
    ("matmul_dot", [(3,), (3,)], lambda a, b: a @ b, lambda a, b: a @ b),
    ("matmul_batched", [(2, 2, 3), (3, 4)], lambda a, b: a @ b, lambda a, b: a @ b),
    ("matmul_bmm", [(2, 2, 3), (2, 3, 4)], lambda a, b: a @ b, lambda a, b: a @ b),
    ("matmul_batch_broadcast", [(2, 1, 2, 3), (3, 3, 2)], lambda a, b: a @ b, lambda a, b: a @ b),
    ("matmul_vec_batched", [(3,), (2, 3, 4)], lambda a, b: a @ b, lambda a, b: a @ b),
    # batches that stretch both ways: each gradient is summed within its product (einsum)
    ("matmul_summed_batches", [(5, 1, 1, 6), (1, 5, 6, 1)], lambda a, b: a @ b, lambda a, b: a @ b),
    ("matmul_summed_vector", [(6,), (5, 4, 6, 2)], lambda a, b: a @ b, lambda a, b: a @ b),
    ("matmul_summed_by_vector", [(5, 4, 2, 6), (6,)], lambda a, b: a @ b, lambda a, b: a @ b),
    ("exp", [(3,)], engine.exp, torch.exp),
    ("log", [(2, 3)], engine.log, torch.log),
    ("sqrt", [(3,)], engine.sqrt, torch.sqrt),
    ("abs", [(4,)], engine.abs, torch.abs),
    ("sin", [(3,)], engine.sin, torch.sin),
    ("cos", [(3,)], engine.cos, torch.cos),
    ("tanh", [(3,)], engine.tanh, torch.tanh),
    ("sigmoid", [(3,)], engine.sigmoid, torch.sigmoid),
    ("relu", [(5,)], engine.relu, torch.relu),
    ("log1p", [(2, 3)], engine.log1p, torch.log1p),
    ("expm1", [(3,)], engine.expm1, torch.expm1),
    ("log2", [(3,)], engine.log2, torch.log2),
    ("log10", [(3,)], lambda a: a.log10(), lambda a: a.log10()),
    ("tan", [(2, 3)], engine.tan, torch.tan),
    ("softplus", [(2, 3)], engine.nn.functional.softplus, F.softplus),
    ("softplus_past_its_threshold", [(8,)], lambda a: engine.nn.functional.softplus(a * 4, beta=2, threshold=5),
     lambda a: F.softplus(a * 4, beta=2, threshold=5)),
    ("leaky_relu", [(5,)], engine.nn.functional.leaky_relu, F.leaky_relu),
    ("leaky_relu_slope", [(2, 3)], lambda a: engine.nn.functional.leaky_relu(a, 0.2), lambda a: F.leaky_relu(a, 0.2)),
    ("silu", [(2, 3)], engine.nn.functional.silu, F.silu),
    ("sign", [(5,)], engine.sign, torch.sign),
    ("sign_times", [(2, 3)], lambda a: engine.sign(a) * a, lambda a: torch.sign(a) * a),
    ("clamp", [(2, 5)], lambda a: engine.clamp(a, -0.5, 0.5), lambda a: torch.clamp(a, -0.5, 0.5)),
    ("clamp_min", [(2, 3)], lambda a: a.clamp(min=0.1), lambda a: a.clamp(min=0.1)),
    ("clip_max", [(2, 3)], lambda a: engine.clip(a, max=-0.2), lambda a: torch.clip(a, max=-0.2)),
    ("clamp_min_method", [(2, 3)], lambda a: a.clamp_min(0.3), lambda a: a.clamp_min(0.3)),
    ("clamp_max_method", [(2, 3)], lambda a: a.clamp_max(0.3), lambda a: a.clamp_max(0.3)),
    ("maximum", [(2, 3), (3,)], engine.maximum, torch.maximum),
    ("minimum", [(2, 3), (3,)], engine.minimum, torch.minimum),
    ("sum", [(2, 3)], engine.sum, torch.sum),
    ("sum_axis", [(2, 3, 4)], lambda a: engine.sum(a, axis=1), lambda a: a.sum(dim=1)),
    ("sum_axes_keep", [(2, 3, 4)], lambda a: engine.sum(a, axis=(0, 2), keepdims=True), lambda a: a.sum(dim=(0, 2), keepdim=True)),
    ("sum_neg_axis", [(2, 3)], lambda a: engine.sum(a, axis=-1), lambda a: a.sum(dim=-1)),
    ("mean", [(2, 3)], engine.mean, torch.mean),
    ("mean_axis", [(2, 3, 4)], lambda a: engine.mean(a, axis=(1, 2)), lambda a: a.mean(dim=(1, 2))),
    ("mean_keep", [(2, 3)], lambda a: engine.mean(a, axis=0, keepdims=True), lambda a: a.mean(dim=0, keepdim=True)),
    ("max", [(2, 3)], engine.amax, torch.amax),
    ("max_axis", [(2, 3)], lambda a: engine.amax(a, axis=1), lambda a: torch.amax(a, dim=1)),
    ("min_keep", [(2, 3)], lambda a: engine.amin(a, axis=0, keepdims=True), lambda a: torch.amin(a, dim=0, keepdim=True)),
    ("var", [(2, 3)], engine.var, torch.var),
    ("var_dim", [(2, 3, 4)], lambda a: a.var(1), lambda a: a.var(1)),
    ("var_biased_keep", [(2, 3, 4)], lambda a: a.var((0, 2), False, True), lambda a: a.var((0, 2), False, True)),
    ("var_correction", [(4, 3)], lambda a: engine.var(a, dim=0, correction=2), lambda a: torch.var(a, dim=0, correction=2)),
    ("var_axis_keepdims", [(2, 3)], lambda a: engine.var(a, axis=-1, keepdims=True), lambda a: a.var(-1, keepdim=True)),
    ("std", [(2, 3)], engine.std, torch.std),
    ("std_dim_keep", [(2, 3, 4)], lambda a: a.std(-1, keepdim=True), lambda a: a.std(-1, keepdim=True)),
    ("std_unbiased_false", [(3, 4)], lambda a: a.std(0, unbiased=False), lambda a: a.std(0, unbiased=False)),
    ("std_correction", [(3, 4)], lambda a: a.std(dim=1, correction=0.5), lambda a: a.std(dim=1, correction=0.5)),
    ("logsumexp", [(2, 3)], lambda a: engine.logsumexp(a, axis=1), lambda a: torch.logsumexp(a, dim=1)),
    ("logsumexp_all", [(2, 3)], engine.logsumexp, lambda a: torch.logsumexp(a, dim=(0, 1))),
    ("reshape", [(2, 3)], lambda a: engine.reshape(a, (3, 2)), lambda a: a.reshape(3, 2)),
    ("reshape_infer", [(2, 3)], lambda a: engine.reshape(a, (-1,)), lambda a: a.reshape(-1)),
    ("reshape_copy", [(2, 3)], lambda a: engine.reshape(engine.transpose(a), (6,)), lambda a: a.T.reshape(6)),
    ("reshape_alias", [(2, 3)], lambda a: engine.reshape(engine.transpose(a), (3, 2)), lambda a: a.T.reshape(3, 2)),
    ("reshape_of_a_row", [(2, 3)], lambda a: engine.reshape(a[1], (3, 1)), lambda a: a[1].reshape(3, 1)),
    ("reshape_of_a_slice", [(2, 3)], lambda a: engine.reshape(a[:, 1:], (4,)), lambda a: a[:, 1:].reshape(4)),
    ("transpose", [(2, 3)], engine.transpose, lambda a: a.permute(1, 0)),
    ("transpose_axes", [(2, 3, 4)], lambda a: engine.transpose(a, (1, 2, 0)), lambda a: a.permute(1, 2, 0)),
    ("broadcast_to", [(3,)], lambda a: engine.broadcast_to(a, (2, 3)), lambda a: torch.broadcast_to(a, (2, 3))),
    ("broadcast_to_ones", [(2, 1)], lambda a: engine.broadcast_to(a, (4, 2, 3)), lambda a: torch.broadcast_to(a, (4, 2, 3))),
    ("softmax", [(2, 3)], engine.softmax, lambda a: F.softmax(a, dim=-1)),
    ("softmax_axis0", [(2, 3)], lambda a: engine.softmax(a, axis=0), lambda a: F.softmax(a, dim=0)),
    ("log_softmax", [(2, 3)], engine.log_softmax, lambda a: F.log_softmax(a, dim=-1)),
    ("log_softmax_axis0", [(2, 3)], lambda a: engine.log_softmax(a, axis=0), lambda a: F.log_softmax(a, dim=0)),
    ("mse_loss", [(2, 3), (2, 3)], engine.mse_loss, F.mse_loss),
    ("index_int", [(3,)], lambda a: a[1], lambda a: a[1]),
    ("index_slice", [(4, 5)], lambda a: a[:, 1:3], lambda a: a[:, 1:3]),
    ("index_step", [(4, 5)], lambda a: a[1:, ::2], lambda a: a[1:, ::2]),
    ("index_both", [(4, 5)], lambda a: a[2, 1], lambda a: a[2, 1]),
    ("index_negative", [(4, 5)], lambda a: a[-1], lambda a: a[-1]),
    ("method_sum_dim", [(2, 3)], lambda a: a.sum(dim=0), lambda a: a.sum(dim=0)),
    ("method_T", [(2, 3)], lambda a: a.T, lambda a: a.T),
]  # fmt: skip

POSITIVE = {"log", "sqrt", "pow_half", "pow_tensor", "log1p", "log2", "log10"}


def _inputs(name: str, shapes: list[tuple[int, ...]], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape) for shape in shapes]
    if name in POSITIVE:
        arrays = [np.abs(a) + 0.5 for a in arrays]
    return arrays


@pytest.mark.parametrize(("name", "shapes", "ours", "theirs"), CASES, ids=[c[0] for c in CASES])
def test_op_matches_torch_in_float64(
    name: str, shapes: list[tuple[int, ...]], ours: Callable[..., Any], theirs: Callable[..., Any]
) -> None:
    arrays = _inputs(name, shapes, seed=len(name))
    mine = [engine.tensor(a, requires_grad=True) for a in arrays]
    refs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = ours(*mine), theirs(*refs)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert out.grad_fn.name() == type(ref.grad_fn).__name__
    upstream = np.random.default_rng(1).standard_normal(ref.shape)
    out.backward(engine.tensor(upstream))
    ref.backward(torch.tensor(upstream))
    for m, r in zip(mine, refs, strict=True):
        assert m.grad is not None and m.grad.shape == tuple(r.grad.shape)
        assert m.grad.dtype == engine.float64
        np.testing.assert_allclose(m.grad.numpy(), r.grad.numpy(), rtol=1e-10, atol=1e-13)


# Indexes as PyTorch names them: the last step that does something, a slice that keeps a whole
# axis skipped unless it is the whole index; none at all, an alias. (A review found x[:, :]
# called SliceBackward0 where PyTorch says AliasBackward0.)
E, ALL = Ellipsis, slice(None)
INDEXES: list[Any] = [
    (), E, (E,), ALL, slice(0, 2), slice(0, 5), slice(-2, None), slice(None, None, 2), 0, -1, None, (None,),
    (ALL, ALL), (slice(0, 2), slice(0, 3)), (ALL, slice(0, 5)), (slice(0, 1), ALL), (ALL,), (slice(0, 2),),
    (slice(-2, None), ALL), (ALL, slice(-3, None)), (ALL, slice(None, None, 1)), (slice(1, 2), ALL),
    (ALL, 0), (1, ALL), (E, slice(0, 3)), (0, E), (E, 0), (1, slice(0, 3)), (slice(0, 2), 1), (0, 1),
    (None, 0), (0, None), (None, ALL), (ALL, None), (E, None), (None, E), (ALL, slice(0, 3), None),
]  # fmt: skip


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 3, 4)])
@pytest.mark.parametrize("index", INDEXES, ids=repr)
def test_index_grad_fn_names_follow_torch(shape: tuple[int, ...], index: Any) -> None:
    array = np.arange(float(np.prod(shape))).reshape(shape)
    try:
        expected = torch.tensor(array, requires_grad=True)[index]
    except IndexError:
        with pytest.raises(IndexError):
            engine.tensor(array, requires_grad=True)[index]
        return
    out = engine.tensor(array, requires_grad=True)[index]
    assert out.grad_fn.name() == type(expected.grad_fn).__name__
    np.testing.assert_array_equal(out.detach().numpy(), expected.detach().numpy())


TIES: list[Case] = [
    ("max_ties", [(3,)], engine.amax, torch.amax),
    ("max_axis_ties", [(2, 3)], lambda a: engine.amax(a, axis=1), lambda a: torch.amax(a, dim=1)),
    ("min_ties", [(3,)], engine.amin, torch.amin),
    ("maximum_ties", [(3,), (3,)], engine.maximum, torch.maximum),
    ("minimum_ties", [(3,), (3,)], engine.minimum, torch.minimum),
    ("relu_zero", [(3,)], engine.relu, torch.relu),
    ("abs_zero", [(3,)], engine.abs, torch.abs),
]


@pytest.mark.parametrize(("name", "shapes", "ours", "theirs"), TIES, ids=[c[0] for c in TIES])
def test_ties_and_kinks_follow_torch(
    name: str, shapes: list[tuple[int, ...]], ours: Callable[..., Any], theirs: Callable[..., Any]
) -> None:
    # Values with repeats and zeros, so that maxima tie and relu/abs sit at their kink.
    arrays = [np.resize(np.array([0.0, 2.0, 2.0, -1.0, 0.0, 2.0]), s) for s in shapes]
    if len(arrays) == 2:
        arrays[1] = np.array([2.0, 2.0, -3.0])
    mine = [engine.tensor(a, requires_grad=True) for a in arrays]
    refs = [torch.tensor(a, requires_grad=True) for a in arrays]
    ours(*mine).sum().backward()
    theirs(*refs).sum().backward()
    for m, r in zip(mine, refs, strict=True):
        np.testing.assert_array_equal(m.grad.numpy(), r.grad.numpy())


@pytest.mark.parametrize(
    "labels",
    [[0, 4, 2, 2], [0, -100, 2, -100], [-100, -100, -100, -100], -100, 3],  # -100: torch's ignore_index
    ids=["labels", "some ignored", "all ignored", "one row ignored", "one row"],
)
def test_cross_entropy_matches_torch(labels: Any) -> None:
    # A review found the label -100 refused as out of bounds, where torch ignores the row.
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 5) if isinstance(labels, list) else (5,))
    labels = np.array(labels)
    mine = engine.tensor(logits, requires_grad=True)
    ref = torch.tensor(logits, requires_grad=True)
    out = engine.cross_entropy(mine, engine.tensor(labels))
    expected = F.cross_entropy(ref, torch.tensor(labels))
    np.testing.assert_allclose(out.item(), expected.item(), rtol=1e-12)  # NaN where torch's is
    assert out.grad_fn.name() == type(expected.grad_fn).__name__
    out.backward()
    expected.backward()
    np.testing.assert_allclose(mine.grad.numpy(), ref.grad.numpy(), rtol=1e-10)
    assert not np.signbit(mine.grad.numpy()[ref.grad.numpy() == 0]).any()  # 0, not -0, as torch's


@pytest.mark.parametrize("logits", [(2, 3, 4), (2, 3, 4, 5), (1, 4, 2, 3, 2), (2, 3, 0)])
def test_cross_entropy_of_k_dimensional_logits_matches_torch(logits: tuple[int, ...]) -> None:
    # Logits (N, C, d1, ...) with labels (N, d1, ...), PyTorch's loss over every position (a review
    # found them refused); some labels ignored.
    rng = np.random.default_rng(len(logits))
    values = rng.standard_normal(logits)
    labels = rng.integers(0, logits[1], size=(logits[0], *logits[2:]))
    labels.reshape(-1)[::3] = -100
    seen = []
    for lib, loss in ((engine, engine.cross_entropy), (torch, F.cross_entropy)):
        x = lib.tensor(values, requires_grad=True)
        out = loss(x, lib.tensor(labels))
        out.backward()
        seen.append((out.grad_fn.name(), out.item(), x.grad.numpy()))
    (name, value, grad), (their_name, their_value, their_grad) = seen
    assert name == their_name == "NllLoss2DBackward0"
    np.testing.assert_allclose(value, their_value, rtol=1e-12)  # NaN where torch's is
    np.testing.assert_allclose(grad, their_grad, rtol=1e-12, atol=1e-17)


@pytest.mark.parametrize(
    ("logits", "labels"),
    [((2, 3, 4), (2, 5)), ((2, 3, 4), (2,)), ((2, 3, 4), (3, 4)), ((2, 3, 4, 5), (2, 4)), ((2, 3, 4, 5), (2, 4, 6)),
     ((2, 3, 4, 5, 6), (2, 4, 5)), ((2, 3, 4), (2, 4, 1))],
)  # fmt: skip
def test_cross_entropy_refuses_k_dimensional_labels_of_the_wrong_shape_in_torchs_words(
    logits: tuple[int, ...], labels: tuple[int, ...]
) -> None:
    refusals = []
    for lib, loss in ((engine, engine.cross_entropy), (torch, F.cross_entropy)):
        with pytest.raises((RuntimeError, ValueError)) as caught:
            loss(lib.tensor(np.ones(logits)), lib.tensor(np.zeros(labels, np.int64)))
        refusals.append((caught.type, str(caught.value)))
    assert refusals[0] == refusals[1]


@pytest.mark.filterwarnings("error")  # torch says nothing about these rows either
@pytest.mark.parametrize("name", ["cross_entropy", "log_softmax"])
def test_rows_without_a_finite_maximum_and_a_second_backward_match_torch(name: str) -> None:
    # A row with +inf, NaN or only -inf has no log-softmax: NaN all along, values and
    # gradients. cross_entropy's backward uses the softmax its forward kept: a second
    # backward (retain_graph) must find it unchanged.
    inf, nan = float("inf"), float("nan")
    logits = np.array([[1.0, inf, 2.0], [0.5, -1.0, 3.0], [-inf, -inf, -inf], [2.0, nan, -7.0], [-inf, 0.0, 1.0]])
    labels = np.array([0, 2, 1, 1, 2])
    weights = np.arange(1.0, 16.0).reshape(5, 3)
    grads = []
    for lib in (engine, torch):
        x = lib.tensor(logits, requires_grad=True)
        if name == "cross_entropy":
            cross_entropy = engine.cross_entropy if lib is engine else F.cross_entropy
            out = cross_entropy(x, lib.tensor(labels))
        else:
            out = (lib.log_softmax(x, 1) * lib.tensor(weights)).sum()
        out.backward(retain_graph=True)
        first = np.array(x.grad.tolist())
        out.backward()
        grads.append((out.item(), first, np.array(x.grad.tolist())))
    (mine, mine_first, mine_twice), (ref, ref_first, ref_twice) = grads
    np.testing.assert_allclose(mine, ref, rtol=1e-12)
    np.testing.assert_allclose(mine_first, ref_first, rtol=1e-12)
    np.testing.assert_allclose(mine_twice, ref_twice, rtol=1e-12)
    np.testing.assert_allclose(mine_twice[1], 2 * mine_first[1], rtol=1e-12)


def test_cross_entropy_of_transposed_logits_matches_torch() -> None:
    # Logits that are a transposed view, laid out column by column, twice through backward.
    rng = np.random.default_rng(3)
    data, labels = rng.standard_normal((3, 5)), np.array([0, 2, 1, 1, 0])
    grads = []
    for lib, loss in ((engine, engine.cross_entropy), (torch, F.cross_entropy)):
        x = lib.tensor(data, requires_grad=True)
        out = loss(x.T, lib.tensor(labels))
        out.backward(retain_graph=True)
        out.backward()
        grads.append((out.item(), np.array(x.grad.tolist())))
    np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=1e-12)
    np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-12)


def test_cross_entropy_takes_labels_of_any_integer_kind() -> None:
    # uint64 labels and a NumPy integer label give what PyTorch gives for int64 ones. (Integer
    # logits PyTorch refuses, and so does the engine: see the integer operands below.)
    logits = [[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]]
    expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor([2, 0])).item()
    ours = engine.cross_entropy(engine.tensor(logits), np.array([2, 0], np.uint64)).item()
    assert ours == pytest.approx(expected, rel=1e-6)  # float32
    one_row = torch.nn.functional.cross_entropy(torch.tensor([1.0, 2.0, 3.0]), torch.tensor(1)).item()
    ours = engine.cross_entropy(engine.tensor([1.0, 2.0, 3.0]), np.int64(1)).item()
    assert ours == pytest.approx(one_row, rel=1e-6)


def test_cross_entropy_refuses_labels_out_of_range() -> None:
    with pytest.raises(IndexError, match="Target 5 is out of bounds"):
        engine.cross_entropy(engine.tensor([[1.0, 2.0]]), engine.tensor([5]))


def test_constants_carry_no_gradient() -> None:
    x = engine.tensor([1.0, 2.0], requires_grad=True)
    for make in (engine.ones_like, engine.zeros_like):
        c = make(x)
        assert not c.requires_grad and c.grad_fn is None and c.dtype == x.dtype


PROMOTIONS = [
    ("f32 * f64", lambda m: m.tensor([1.0, 2.0]) * m.tensor([1.0, 2.0], dtype=m.float64)),
    ("0-d f64 * f32", lambda m: m.tensor(2.0, dtype=m.float64) * m.tensor([1.0, 2.0])),
    ("f64 * 0-d f32", lambda m: m.tensor([1.0, 2.0], dtype=m.float64) * m.tensor(2.0)),
    ("int * float literal", lambda m: m.tensor([1, 2]) * 1.5),
    ("int * int literal", lambda m: m.tensor([1, 2]) * 3),
    ("int / int", lambda m: m.tensor([1, 2]) / m.tensor([2, 2])),
    ("int * 0-d f64", lambda m: m.tensor([1, 2]) * m.tensor(2.0, dtype=m.float64)),
    ("int ** int", lambda m: m.tensor([1, 2]) ** 2),
    ("exp(int)", lambda m: m.exp(m.tensor([1, 2]))),
    ("sum(int)", lambda m: m.tensor([1, 2]).sum()),
    ("f32 literal", lambda m: m.tensor([1.0]) * 1e300),
    # NumPy scalars count as the Python numbers they hold (NumPy alone would give float64).
    ("f32 + np.float64", lambda m: m.tensor([1.0, 2.0]) + np.float64(1.5)),
    ("np.float64 - f32", lambda m: np.float64(3.0) - m.tensor([1.0, 2.0])),
    ("int * np.float64", lambda m: m.tensor([1, 2]) * np.float64(1.5)),
    ("f32 ** np.int64", lambda m: m.tensor([1.0, 2.0]) ** np.int64(2)),
    ("f64 / np.float32", lambda m: m.tensor([1.0], dtype=m.float64) / np.float32(3.0)),
    ("f32 + np.longdouble", lambda m: m.tensor([1.0, 2.0]) + np.longdouble(1.5)),
    ("f32 * np.bool_", lambda m: m.tensor([1.0, 2.0]) * np.bool_(True)),
    ("int + np.uint8", lambda m: m.tensor([1, 2]) + np.uint8(200)),
    # Bools to a bool power: NumPy gives int8, PyTorch keeps bool.
    ("bool ** True", lambda m: m.tensor([True, False]) ** True),
    ("bool ** False", lambda m: m.tensor([True, False]) ** False),
]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # 1e300 in float32, as torch gives inf
@pytest.mark.parametrize(("name", "build"), PROMOTIONS, ids=[p[0] for p in PROMOTIONS])
def test_dtype_promotion_follows_torch(name: str, build: Callable[[Any], Any]) -> None:
    ours, theirs = build(engine), build(torch)
    assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy())


def test_a_bool_tensor_has_no_bool_tensor_power() -> None:
    for lib in (engine, torch):
        with pytest.raises(NotImplementedError, match="\"pow\" not implemented for 'Bool'"):
            lib.tensor([True, False]) ** lib.tensor([False, True])


@pytest.mark.parametrize("number", [1j, np.complex64(1.5), np.array([1j])], ids=["complex", "np.complex64", "array"])
def test_complex_operands_are_refused_by_name(number: Any) -> None:
    # The engine has no complex dtype: an error that says so, not a tensor whose dtype it cannot name.
    x = engine.tensor([1.0, 2.0], requires_grad=True)
    for op in (lambda: x * number, lambda: number + x, lambda: engine.maximum(x, number)):
        with pytest.raises(TypeError, match="complex numbers are not supported"):
            op()


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 10**400], ids=["2**64", "-2**63 - 1", "10**400"])
def test_an_integer_past_64_bits_beside_a_float_tensor_is_refused_as_torch_refuses_it(number: int) -> None:
    # NumPy makes it a float (inf past float32's range); PyTorch takes no such number (a review).
    said = []
    for lib in (engine, torch):
        for op in (lambda x: x + number, lambda x: number * x, lambda x: x / number):
            with pytest.raises(OverflowError) as caught:
                op(lib.tensor([1.0, 2.0]))
            said.append(str(caught.value))
    assert said[:3] == said[3:]


@pytest.mark.parametrize("op", ["relu", "abs"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_relu_and_abs_give_their_gradients_at_nan_and_inf_as_torch_does(op: str, dtype: str) -> None:
    # relu(NaN) passes its gradient on; where x <= 0 the gradient is 0 even if it is inf or NaN
    # (a product with 0 would be NaN). abs's is g·sign(x), and PyTorch's sign of NaN is 0 (a
    # review found NaN). 0-d and a gradient that is one number are covered too.
    nan, inf = float("nan"), float("inf")
    cases = [([nan, -1.0, 2.0, 0.0, -0.0, nan], [1.0, nan, 3.0, inf, -inf, -inf]), (nan, 2.0), (-1.0, nan), (0.0, inf)]
    for x_values, g_values in cases:
        grads = []
        for lib in (engine, torch):
            x = lib.tensor(x_values, dtype=getattr(lib, dtype), requires_grad=True)
            getattr(lib, op)(x).backward(lib.tensor(g_values, dtype=getattr(lib, dtype)))
            grads.append(x.grad.numpy())
        np.testing.assert_array_equal(grads[0], grads[1])
        assert grads[0].dtype == grads[1].dtype and grads[0].__class__ is np.ndarray


@pytest.mark.parametrize("op", ["maximum", "minimum"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_maximum_and_minimum_select_their_gradients_as_torch_does(op: str, dtype: str) -> None:
    # Both operands get all of g beside a NaN; the losing side gets 0 even of an inf or NaN g; a
    # tie halves it. A review found NaN operands getting 0 and inf·0 making NaN. Broadcast too.
    nan, inf = float("nan"), float("inf")
    a_values = [[nan, 1.0, 2.0, 3.0, 1.0, -2.0], [0.0, nan, 4.0, -1.0, 5.0, 5.0]]
    b_values = [1.0, 1.0, nan, 2.0, nan, -2.0]
    g_values = [[1.0, 1.0, 1.0, inf, nan, inf], [inf, -inf, nan, 2.0, 1.0, nan]]
    grads = []
    for lib in (engine, torch):
        a = lib.tensor(a_values, dtype=getattr(lib, dtype), requires_grad=True)
        b = lib.tensor(b_values, dtype=getattr(lib, dtype), requires_grad=True)
        getattr(lib, op)(a, b).backward(lib.tensor(g_values, dtype=getattr(lib, dtype)))
        grads.append((a.grad.numpy(), b.grad.numpy()))
    for mine, theirs in zip(grads[0], grads[1], strict=True):
        np.testing.assert_array_equal(mine, theirs)
        assert mine.dtype == theirs.dtype


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_relu_values_keep_torchs_bits(dtype: str) -> None:
    # relu(-0.0) is -0.0 and relu(NaN) NaN, as clamp_min(x, 0) gives them.
    values = [-0.0, 0.0, -1.0, 2.5, float("nan"), float("-inf"), float("inf")] if dtype != "int64" else [-3, 0, 4]
    ours = engine.relu(engine.tensor(values, dtype=getattr(engine, dtype))).numpy()
    theirs = torch.relu(torch.tensor(values, dtype=getattr(torch, dtype))).numpy()
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(np.signbit(ours), np.signbit(theirs))


def test_relu_of_bools_is_refused_as_by_torch() -> None:
    with pytest.raises(RuntimeError, match="Boolean inputs not supported for relu") as expected:
        torch.relu(torch.tensor([True, False]))
    with pytest.raises(RuntimeError, match=str(expected.value)):
        engine.relu(engine.tensor([True, False]))


MATMUL_SHAPES = [
    ((3, 4), (2, 4, 5)),
    ((1, 4), (2, 4, 5)),
    ((3, 4), (2, 4, 1)),
    ((3, 4), (1, 4, 5)),
    ((3, 1), (2, 1, 5)),
    ((3, 0), (2, 0, 5)),
    ((0, 4), (2, 4, 5)),
    ((3, 4), (0, 4, 5)),
    ((3, 4), (2, 4, 0)),
    ((3, 4), (2, 2, 4, 5)),
    ((1, 3, 4), (2, 4, 5)),
    ((1, 1, 4), (2, 4, 5)),
    ((1, 3, 4), (2, 4, 1)),
    ((1, 3, 4), (1, 4, 5)),
    ((1, 3, 4), (1, 2, 4, 5)),
    ((1, 1, 3, 4), (2, 4, 5)),
    ((2, 3, 4), (4, 5)),
    ((2, 3, 4), (1, 4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((4,), (2, 4, 5)),
    ((2, 3, 4), (4,)),
    ((3, 4), (4, 5)),
    ((4,), (4, 5)),
]


@pytest.mark.parametrize("requires_grad", [(True, True), (True, False), (False, True)], ids=["both", "a", "b"])
@pytest.mark.parametrize(("a_shape", "b_shape"), MATMUL_SHAPES, ids=[f"{a}@{b}" for a, b in MATMUL_SHAPES])
def test_matmul_grad_fn_names_follow_torch(
    a_shape: tuple[int, ...], b_shape: tuple[int, ...], requires_grad: tuple[bool, bool]
) -> None:
    # torch names a product by how it computed it: a matrix that requires grad times a batch
    # is a transposed product, copied (Clone) unless the transpose is contiguous already.
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    ours = engine.tensor(a, requires_grad=requires_grad[0]) @ engine.tensor(b, requires_grad=requires_grad[1])
    theirs = torch.tensor(a, requires_grad=requires_grad[0]) @ torch.tensor(b, requires_grad=requires_grad[1])
    assert ours.grad_fn.name() == theirs.grad_fn.name()
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12)


NUMBERS = [1.0001, -0.0, 0.0, 3, 2**24 + 1, float("nan"), float("inf"), -1e-30, 1e300]
NUMBER_OPS = [
    ("x + n", lambda x, n: x + n),
    ("n + x", lambda x, n: n + x),
    ("x - n", lambda x, n: x - n),
    ("n - x", lambda x, n: n - x),
    ("x * n", lambda x, n: x * n),
    ("n * x", lambda x, n: n * x),
    ("x / n", lambda x, n: x / n),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 1e300 overflows float32, 0/0 and inf - inf are nan
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("name", "op"), NUMBER_OPS, ids=[o[0] for o in NUMBER_OPS])
def test_python_numbers_give_torchs_bits(name: str, op: Callable[[Any, Any], Any], dtype: str) -> None:
    # The engine computes with a number as a cached 0-d array of the tensor's dtype: each
    # number, twice in a row (the second time from the cache), must give torch's exact bits,
    # sign of zero and NaN included, for the value and the gradient.
    values = [1.5, -2.0, 0.0, 1e-40]
    for number in NUMBERS + NUMBERS:
        x = engine.tensor(values, dtype=getattr(engine, dtype), requires_grad=True)
        t = torch.tensor(values, dtype=getattr(torch, dtype), requires_grad=True)
        ours, theirs = op(x, number), op(t, number)
        ours.backward(engine.ones_like(ours))
        theirs.backward(torch.ones_like(theirs))
        assert ours.dtype.name == dtype and ours.grad_fn.name() == theirs.grad_fn.name()
        np.testing.assert_array_equal(np.signbit(ours.detach().numpy()), np.signbit(theirs.detach().numpy()))
        np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy())
        np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_number_divided_by_a_tensor_is_within_a_rounding_of_torch() -> None:
    # Torch computes n / x as reciprocal(x) * n, two roundings where NumPy makes one: the
    # engine is within an ulp or two of torch, not bit for bit. (Where 1/x overflows, as for a
    # subnormal x, torch's gradient of 0 / x is nan and the engine's 0; not covered here.)
    values = [1.5, -2.0, 0.0, 3.0]
    for number in NUMBERS:
        x = engine.tensor(values, requires_grad=True)
        t = torch.tensor(values, requires_grad=True)
        ours, theirs = number / x, number / t
        ours.backward(engine.ones_like(ours))
        theirs.backward(torch.ones_like(theirs))
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=3e-7)
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=3e-7)


def test_a_nodes_gradients_are_all_computed_before_any_is_stored() -> None:
    # q is p's own .grad array: storing p's gradient in place must not change the q that
    # the rule for q then reads. (Found in review: delivered one input at a time, q.grad was
    # [-0.1, -0.2] where torch gives [-1/9, -2/9].)
    results = []
    for lib in (engine, torch):
        p = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        (p * 3.0).sum().backward()
        q = p.grad
        q.requires_grad_()
        (p / q).sum().backward()
        results.append((p.grad.detach().numpy().copy(), q.grad.detach().numpy().copy()))
    (ours_p, ours_q), (theirs_p, theirs_q) = results
    np.testing.assert_allclose(ours_q, theirs_q, rtol=1e-15)
    np.testing.assert_allclose(ours_p, theirs_p, rtol=1e-15)


@pytest.mark.parametrize(
    "build", [lambda lib, x: x @ 2.0, lambda lib, x: 2.0 @ x, lambda lib, x: lib.matmul(x, lib.tensor(2.0))]
)
def test_matmul_with_a_number_is_refused_as_torch_refuses_it(build: Callable[[Any, Any], Any]) -> None:
    # Python's TypeError for @ with a number, PyTorch's RuntimeError for a 0-d tensor. (Found in
    # review: the grad_fn's name was worked out first and failed with AttributeError.)
    said = []
    for lib in (engine, torch):
        with pytest.raises((TypeError, RuntimeError)) as caught:
            build(lib, lib.tensor([1.0, 2.0], requires_grad=True))
        said.append((type(caught.value), str(caught.value)))
    assert said[0] == said[1]


SHAPE_MISTAKES = {
    "a + b, (3,) and (2,)": ((3,), (2,), lambda lib, a, b: a + b),
    "a * b, (2, 3) and (4, 5)": ((2, 3), (4, 5), lambda lib, a, b: a * b),
    "a - b, (5, 2, 3) and (4, 1, 3)": ((5, 2, 3), (4, 1, 3), lambda lib, a, b: a - b),
    "a / b, (3,) and (2, 2)": ((3,), (2, 2), lambda lib, a, b: a / b),
    "maximum, (3,) and (2,)": ((3,), (2,), lambda lib, a, b: lib.maximum(a, b)),
    "matmul 2-d": ((1, 3), (1, 2), lambda lib, a, b: a @ b),
    "matmul 1-d": ((3,), (2,), lambda lib, a, b: a @ b),
    "matmul matrix-vector": ((2, 3), (2,), lambda lib, a, b: a @ b),
    "matmul vector-matrix": ((3,), (2, 3), lambda lib, a, b: a @ b),
    "matmul batched": ((2, 2, 3), (2, 4, 5), lambda lib, a, b: a @ b),
    "matmul batched by a matrix": ((2, 2, 3), (4, 5), lambda lib, a, b: a @ b),
    "matmul batches that do not broadcast": ((3, 2, 3), (2, 3, 5), lambda lib, a, b: a @ b),
    "reshape": ((3,), (1,), lambda lib, a, b: a.reshape(2, 2)),
    "reshape inferring two sizes": ((6,), (1,), lambda lib, a, b: a.reshape(-1, -1)),
    "reshape to a size of -2": ((6,), (1,), lambda lib, a, b: a.reshape(-2, 3)),
    "reshape inferring two sizes before a -2": ((6,), (1,), lambda lib, a, b: a.reshape(-1, -1, -2)),
    "reshape of nothing, inferring a size": ((0,), (1,), lambda lib, a, b: a.reshape(0, -1)),
    "sum over an axis twice": ((2, 3), (1,), lambda lib, a, b: a.sum(dim=(0, -2))),
    "matmul of a batch by a vector": ((2, 3, 4), (5,), lambda lib, a, b: a @ b),
    "index": ((3,), (1,), lambda lib, a, b: a[5]),
    "index in the second dimension": ((2, 3), (1,), lambda lib, a, b: a[1, 7]),
    "broadcast_to": ((3,), (1,), lambda lib, a, b: lib.broadcast_to(a, (2, 2))),
    "too many indices": ((2, 3), (1,), lambda lib, a, b: a[0, 0, 0]),
    "an index of a 0-d tensor": ((2, 3), (1,), lambda lib, a, b: a.sum()[0]),
    "a slice of a 0-d tensor": ((2, 3), (1,), lambda lib, a, b: a[0][0][1:]),
    "permute with a dim twice": ((2, 3), (1,), lambda lib, a, b: a.permute(1, -1)),
    "permute with a dim out of range": ((2, 3), (1,), lambda lib, a, b: a.permute(0, 5)),
    "sum of a 0-d tensor over its dim twice": ((), (1,), lambda lib, a, b: a.sum(dim=(0, -1))),
    # PyTorch's words here name a "(sparse_coo)" overload, which engine leaves out.
    "permute with too few dims": ((2, 3), (1,), lambda lib, a, b: a.permute(0)),
}


@pytest.mark.parametrize("name", SHAPE_MISTAKES)
def test_shape_mistakes_are_refused_in_torchs_words(name: str) -> None:
    # A review found NumPy's messages ("operands could not be broadcast together", "mismatch in
    # its core dimension 0, with gufunc signature") where PyTorch's say the same plainly.
    a_shape, b_shape, call = SHAPE_MISTAKES[name]
    said = []
    for lib in (engine, torch):
        a = lib.tensor(np.ones(a_shape), requires_grad=True)
        b = lib.tensor(np.ones(b_shape))
        with pytest.raises((RuntimeError, IndexError)) as caught:
            call(lib, a, b)
        said.append((type(caught.value), str(caught.value).replace("permute(sparse_coo)", "permute()")))
    assert said[0] == said[1]


SHAPE_ARGUMENTS = {
    "reshape(x, 4)": lambda lib, x: lib.reshape(x, 4),
    "reshape(x, None)": lambda lib, x: lib.reshape(x, None),
    "reshape(x, (True, 4))": lambda lib, x: lib.reshape(x, (True, 4)),
    "reshape(x, (1, 1, 4.0))": lambda lib, x: lib.reshape(x, (1, 1, 4.0)),
    "x.reshape(4.0)": lambda lib, x: x.reshape(4.0),
    "x.reshape(1, 1, 4.0)": lambda lib, x: x.reshape(1, 1, 4.0),
    "x.reshape((4.0,))": lambda lib, x: x.reshape((4.0,)),
    "x.reshape(1, True, 4)": lambda lib, x: x.reshape(1, True, 4),
    "x.reshape([np.int64(4)])": lambda lib, x: x.reshape([np.int64(4)]),
    "x.permute(0.0)": lambda lib, x: x.permute(0.0),
    "x.permute(0, 1, 'a')": lambda lib, x: x.permute(0, 1, "a"),
    "x.permute([2, 1, 0])": lambda lib, x: x.permute([2, 1, 0]),
    "broadcast_to(x, (2, 1, 1, 4.0))": lambda lib, x: lib.broadcast_to(x, (2, 1, 1, 4.0)),
    "broadcast_to(x, 4)": lambda lib, x: lib.broadcast_to(x, 4),
}


@pytest.mark.parametrize("name", SHAPE_ARGUMENTS)
def test_shapes_and_dims_of_the_wrong_type_are_refused_as_torchs_parser_does(name: str) -> None:
    # engine.reshape(x, 4) was Python's "'int' object is not iterable"; (2, 2.0) NumPy's words.
    seen: list[tuple[str, Any]] = []
    for lib in (engine, torch):
        try:
            seen.append(("shape", tuple(SHAPE_ARGUMENTS[name](lib, lib.tensor(np.ones((1, 1, 4)))).shape)))
        except TypeError as error:
            # engine.broadcast_to's parameter is called shape, torch.broadcast_to's size.
            seen.append(("TypeError", str(error).replace("argument 'size'", "argument 'shape'")))
    assert seen[0] == seen[1]


PYTHON_PROTOCOLS = {
    "bool of one zero": lambda lib: bool(lib.tensor([[0.0]])),
    "bool of a 0-d int": lambda lib: bool(lib.tensor(2)),
    "bool of two values": lambda lib: bool(lib.tensor([1.0, 2.0])),
    "bool of no values": lambda lib: bool(lib.tensor([])),
    "float of two values": lambda lib: float(lib.tensor([1.0, 2.0])),
    "int of no values": lambda lib: int(lib.tensor([])),
    "float of one value": lambda lib: float(lib.tensor([[2.5]])),
    "tensor + list": lambda lib: lib.tensor([1.0, 2.0]) + [1.0, 2.0],  # noqa: RUF005 -- the mistake tested
    "list + tensor": lambda lib: [1.0, 2.0] + lib.tensor([1.0, 2.0]),  # noqa: RUF005
    "tensor - None": lambda lib: lib.tensor([1.0, 2.0]) - None,
    "None * tensor": lambda lib: None * lib.tensor([1.0, 2.0]),
    "tensor / str": lambda lib: lib.tensor([1.0, 2.0]) / "a",
    "tensor ** None": lambda lib: lib.tensor([1.0, 2.0]) ** None,
    "tensor @ list": lambda lib: lib.tensor([1.0, 2.0]) @ [[1.0], [2.0]],
    "matmul of a tensor and a number": lambda lib: lib.matmul(lib.tensor([1.0, 2.0]), 2.0),
    "matmul of a number and a tensor": lambda lib: lib.matmul(2, lib.tensor([1.0, 2.0])),
    "a tensor @ a NumPy number": lambda lib: lib.tensor([1.0, 2.0]) @ np.float64(2),
    "an integer past int64": lambda lib: lib.tensor([2**63]),
    "an integer below int64": lambda lib: lib.tensor(-(2**63) - 1),
    "an integer past uint64": lambda lib: lib.tensor([2**70]),
    "the int64 extremes": lambda lib: lib.tensor([2**63 - 1, -(2**63)]).tolist(),
    # A review found these computed wrong, or NumPy's errors, or Python's defaults where torch has its own.
    "a loss in an f-string": lambda lib: f"{lib.tensor(3.14159, requires_grad=True):.2f}",
    "an int in a format": lambda lib: format(lib.tensor(7), ">4"),
    "two values with a format spec": lambda lib: f"{lib.tensor([1.0, 2.0]):.2f}",
    "two values in an f-string": lambda lib: f"{lib.tensor([1.0, 2.0])}",
    "iterating over a 0-d tensor": lambda lib: list(lib.tensor(5.0)),
    "iterating over rows": lambda lib: [row.tolist() for row in lib.tensor([[1.0, 2.0], [3.0, 4.0]])],
    "np.array of a tensor": lambda lib: _described(np.array(lib.tensor([1.0, 2.0]))),
    "np.asarray to another dtype": lambda lib: _described(np.asarray(lib.tensor([1, 2]), dtype=np.float64)),
    "np.asarray of a tensor that requires grad": lambda lib: np.asarray(lib.tensor([1.0], requires_grad=True)),
    "abs()": lambda lib: _described(abs(lib.tensor([-1.5, 2.0], requires_grad=True))),
    "a tensor of 0-d tensors": lambda lib: _described(lib.tensor([lib.tensor(1.0, requires_grad=True), 2.0])),
    "a tensor of an int tensor and a float": lambda lib: _described(lib.tensor([lib.tensor(1), 2.5])),
    "a tensor of a float64 tensor and an int": lambda lib: _described(
        lib.tensor([lib.tensor(1.5, dtype=lib.float64), 2])
    ),
    "a tensor of nested tensors": lambda lib: _described(lib.tensor([[lib.tensor([1])], [lib.tensor(True)]])),
    # NumPy numbers in a list keep their dtype, as tensors do: a list of losses from np.mean (a review).
    "a tensor of NumPy float64 numbers": lambda lib: _described(lib.tensor([np.float64(2.5), 1.0])),
    "a tensor of NumPy float32 numbers": lambda lib: _described(lib.tensor([np.float32(2.5), 1.0])),
    "a tensor of NumPy arrays": lambda lib: _described(lib.tensor([np.array([1.0, 2.0]), np.array([3.0, 4.0])])),
    "a tensor of a tensor of two values": lambda lib: lib.tensor([lib.tensor([1.0, 2.0]), 3.0]),
    "a 0-d int to a 0-d negative int power": lambda lib: _described(lib.tensor(2) ** lib.tensor(-1)),
    "transpose(x, 0, 1)": lambda lib: _described(lib.transpose(lib.tensor([[1.0, 2.0]], requires_grad=True), 0, 1)),
    "transpose(x, -1, 0) of a 3-d tensor": lambda lib: _described(
        lib.transpose(lib.zeros_like(lib.tensor([[[1.0]]])), -1, 0)
    ),
    "x.transpose(0.0, 1)": lambda lib: lib.tensor([[1.0]]).transpose(0.0, 1),
    "x.transpose((0, 1), 1)": lambda lib: lib.tensor([[1.0]]).transpose((0, 1), 1),
}


def _masks(lib: Any) -> tuple[Any, Any, Any, Any]:
    x = lib.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    return x > 0, x < 1, lib.tensor([3, 5, 6]), x


BITWISE = {  # (x > 0) & (x < 1), the masks learner code combines; a review found &, | and ~ missing
    "mask & mask": lambda b, c, i, x: b & c,
    "mask | mask": lambda b, c, i, x: b | c,
    "mask ^ mask": lambda b, c, i, x: b ^ c,
    "~mask": lambda b, c, i, x: ~b,
    "mask & True": lambda b, c, i, x: b & True,
    "False | mask": lambda b, c, i, x: False | b,
    "mask & 2": lambda b, c, i, x: b & 2,
    "ints & 6": lambda b, c, i, x: i & 6,
    "~ints": lambda b, c, i, x: ~i,
    "ints | mask": lambda b, c, i, x: i | b,
    "int32 ^ int64": lambda b, c, i, x: i.int() ^ i,
    "mask of a 0-d & mask": lambda b, c, i, x: (x.sum() > 0) & b,
    "floats & mask": lambda b, c, i, x: x & b,
    "mask & 2.5": lambda b, c, i, x: b & 2.5,
    "~floats": lambda b, c, i, x: ~x,
    "mask & a list": lambda b, c, i, x: b & [True],
    "shapes that do not broadcast": lambda b, c, i, x: b & b[:2],
}


@pytest.mark.parametrize("name", BITWISE)
def test_bitwise_operators_of_masks_and_integers_go_as_in_torch(name: str) -> None:
    seen: list[Any] = []
    for lib in (engine, torch):
        try:
            out = BITWISE[name](*_masks(lib))
            seen.append((str(out.dtype), out.tolist(), out.requires_grad))
        except (RuntimeError, TypeError) as error:  # NotImplementedError is a RuntimeError
            seen.append((type(error).__name__, str(error)))
    assert seen[0] == seen[1]


def _described(t: Any) -> tuple[Any, ...]:
    """What a tensor or an array holds, comparable across libraries."""
    grad_fn = getattr(t, "grad_fn", None)
    return (str(t.dtype).split(".")[-1], t.tolist(), grad_fn.name() if grad_fn is not None else None)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")  # torch's
@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True")  # tested below
@pytest.mark.filterwarnings("ignore:Creating a tensor from a list of numpy.ndarrays is extremely slow")  # torch's
@pytest.mark.parametrize("name", PYTHON_PROTOCOLS)
def test_truth_values_conversions_and_operands_that_are_no_numbers_go_as_in_torch(name: str) -> None:
    # A review found bool(tensor([0.])) True (Python asked __len__), t + [1., 2.] computed in
    # float64, and float() of two values a RuntimeError where torch's is a ValueError.
    seen: list[tuple[str, Any]] = []
    for lib in (engine, torch):
        try:
            seen.append(("value", PYTHON_PROTOCOLS[name](lib)))
        except (RuntimeError, TypeError, ValueError) as error:
            seen.append((type(error).__name__, str(error)))
    assert seen[0] == seen[1]


# Each in a process of its own: PyTorch says it once per process, whatever Python's filters say.
TO_A_NUMBER = """
import json, re, sys, warnings
lib = __import__(sys.argv[1])
x = lib.tensor(2.5, requires_grad=True)
heard = []
for name, turn in [("item", lambda: x.item()), ("int", lambda: int(x)), ("format", lambda: f"{x:.3f}"),
                   ("float", lambda: float(x)), ("float again", lambda: float(x)), ("tensor", lambda: lib.tensor([x])),
                   ("T of 2-d", lambda: lib.tensor([[1.0]]).T), ("T of 0-d", lambda: x.T), ("T of 0-d again", lambda: x.T),
                   ("T of 1-d", lambda: lib.tensor([1.0]).T), ("T of 3-d", lambda: lib.tensor([[[1.0]]]).T),
                   ("tensor of a tensor", lambda: lib.tensor(x)), ("of a plain one", lambda: lib.tensor(lib.ones(2)))]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        turn()
    # torch adds where in its C++ it was raised
    said = [re.sub(r" \\(Triggered internally at .*\\)$", "", str(w.message)) for w in caught]
    heard.append((name, said, [w.filename for w in caught]))
print(json.dumps(heard))
"""


def _in_a_process_each(script: str) -> tuple[Any, Any]:
    """What `script` prints as JSON, run with `lib` engine, then torch, each in a process of its own."""
    engines, torchs = (
        json.loads(
            subprocess.run(
                [sys.executable, "-c", script, lib], capture_output=True, text=True, check=True, cwd=ROOT
            ).stdout
        )
        for lib in ("engine", "torch")
    )
    return engines, torchs


def test_a_number_of_a_tensor_that_requires_grad_and_x_T_warn_where_and_as_often_as_torch() -> None:
    ours, theirs = _in_a_process_each(TO_A_NUMBER)
    assert [(name, said) for name, said, _ in ours] == [(name, said) for name, said, _ in theirs]
    assert any(said for _, said, _ in ours)
    assert all(filename == "<string>" for _, _, filenames in ours for filename in filenames)  # the caller's line


FLOATING_POINT_EVENTS = """
import json, sys, warnings
import numpy as np
lib = __import__(sys.argv[1])
x = lib.tensor([0.0, 1.0, -1.0], requires_grad=True)
with warnings.catch_warnings(record=True) as caught:  # the filters as a script has them
    empty = lib.nn.functional.mse_loss(lib.zeros(0), lib.zeros(0))  # NumPy's mean said "Mean of empty slice"
    values = [empty, lib.log(x), x / 0, x * 1e300, lib.sqrt(x), lib.abs(x * float("nan"))]
    sum(v.sum() for v in values[4:]).backward()
    np.log(np.zeros(1))  # the script's own NumPy
print(json.dumps({"values": [v.tolist() for v in values], "grad": x.grad.tolist(), "said": [str(w.message) for w in caught]}))
"""


def test_floating_point_events_give_infinities_and_nans_without_a_word_as_in_torch() -> None:
    # NumPy warned of log 0, 1 / 0, overflow and NaN; PyTorch says nothing. Run as a script:
    # pytest's collection drops the filters a module sets as it is imported.
    ours, theirs = _in_a_process_each(FLOATING_POINT_EVENTS)
    for mine, torchs in zip(ours["values"] + [ours["grad"]], theirs["values"] + [theirs["grad"]], strict=True):
        np.testing.assert_array_equal(mine, torchs)
    assert ours["said"] == theirs["said"] == ["divide by zero encountered in log"]  # NumPy's own, not the engine's


@pytest.mark.parametrize("number", [2, -1.5, True])
@pytest.mark.parametrize("name", ["exp", "relu", "abs", "sin", "sum", "neg"])
def test_a_function_of_a_number_is_the_function_of_a_tensor_of_it(name: str, number: Any) -> None:
    # engine.exp(2) was float64 and engine.relu(-1.0) an AttributeError; torch's functions take
    # tensors, and engine's take a number as torch.tensor(number).
    outcomes = []
    for lib, given in ((engine, number), (torch, torch.tensor(number))):
        try:
            result = getattr(lib, name)(given)
            outcomes.append((str(result.dtype).split(".")[-1], result.item()))
        except RuntimeError as error:
            outcomes.append(("refused", str(error)))
    (ours, ours_said), (theirs, theirs_said) = outcomes
    assert ours == theirs  # the dtype, or refused
    assert ours_said == (theirs_said if ours == "refused" else pytest.approx(theirs_said, rel=1e-6))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # NumPy on (-1.5) ** 0.5
@pytest.mark.parametrize(("a", "b"), [(2.0, 3), (2, 3), (True, 2.5), (-1.5, 0.5)])
@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "maximum", "minimum"])
def test_a_function_of_two_numbers_is_the_function_of_a_tensor_of_the_first(name: str, a: Any, b: Any) -> None:
    # engine.add(2.0, 3) was float64, engine.pow(2.0, 3) an AttributeError (a review).
    try:
        theirs = getattr(torch, name)(torch.tensor(a), b if name not in ("maximum", "minimum") else torch.tensor(b))
    except RuntimeError as error:
        with pytest.raises(RuntimeError, match=re.escape(str(error))):
            getattr(engine, name)(a, b)
        return
    ours = getattr(engine, name)(a, b)
    np.testing.assert_equal(  # NaN equal to NaN: (-1.5) ** 0.5
        (str(ours.dtype).split(".")[-1], ours.item()), (str(theirs.dtype).split(".")[-1], theirs.item())
    )


TORCH_KEYWORDS = {
    "sum(x, dim=0)": lambda lib, x: lib.sum(x, dim=0),
    "mean(x, dim=1, keepdim=True)": lambda lib, x: lib.mean(x, dim=1, keepdim=True),
    "amax(x, dim=(0, 1))": lambda lib, x: lib.amax(x, dim=(0, 1)),
    "logsumexp(x, dim=1)": lambda lib, x: lib.logsumexp(x, dim=1),
    "softmax(x, dim=0)": lambda lib, x: lib.softmax(x, dim=0),
    "log_softmax(x, 0)": lambda lib, x: lib.log_softmax(x, 0),
    "x.softmax(dim=0)": lambda lib, x: x.softmax(dim=0),
    "x.log_softmax(dim=-1)": lambda lib, x: x.log_softmax(dim=-1),
}


@pytest.mark.parametrize("name", TORCH_KEYWORDS)
def test_functions_take_torchs_keywords_dim_and_keepdim(name: str) -> None:
    # A review found torch.sum(x, dim=0) and x.softmax(dim=0) refused (only axis, keepdims).
    values = [[1.0, 2.0, -1.0], [3.0, 5.0, 0.5]]
    ours = TORCH_KEYWORDS[name](engine, engine.tensor(values, dtype=engine.float64))
    theirs = TORCH_KEYWORDS[name](torch, torch.tensor(values, dtype=torch.float64))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


MATMUL_DTYPES = [
    ((2, 3), "float32", (3, 2), "float64"),  # mm
    ((2, 3), "int64", (3, 2), "float32"),
    ((2, 3), "float64", (3,), "float32"),  # mv
    ((3,), "float32", (3,), "float64"),  # dot
    ((3,), "int64", (3, 2), "float32"),  # vector @ matrix
    ((2, 2, 3), "float32", (2, 3, 2), "int64"),  # bmm
    ((2, 2, 3), "float64", (3, 2), "float32"),  # a batch folded into a matrix
    ((2, 3), "float32", (4, 2), "float64"),  # the shapes are told first
    ((3,), "float32", (4,), "float64"),  # but for a dot
    ((2, 3), "bool", (3, 2), "bool"),
    ((3,), "bool", (3,), "bool"),
    ((2, 2, 3), "bool", (3,), "bool"),
    ((2, 3), "int64", (3, 2), "int64"),  # taken
]


@pytest.mark.parametrize(("a_shape", "a_dtype", "b_shape", "b_dtype"), MATMUL_DTYPES)
def test_matmul_of_two_dtypes_or_of_bools_is_refused_as_torch_refuses_it(
    a_shape: tuple[int, ...], a_dtype: str, b_shape: tuple[int, ...], b_dtype: str
) -> None:
    # A review found float32 @ float64 computed in float64, where each of torch's kernels refuses it.
    seen: list[tuple[str, Any]] = []
    for lib in (engine, torch):
        names = {"bool": "bool_"} if lib is engine else {}
        a = lib.tensor(np.ones(a_shape), dtype=getattr(lib, names.get(a_dtype, a_dtype)))
        b = lib.tensor(np.ones(b_shape), dtype=getattr(lib, names.get(b_dtype, b_dtype)))
        try:
            seen.append(("value", (a @ b).numpy().tolist()))
        except (RuntimeError, NotImplementedError) as error:
            seen.append((type(error).__name__, str(error)))
    assert seen[0] == seen[1]


COMPARISONS = {
    "x == x": lambda lib, x: x == x,
    "x > 0": lambda lib, x: x > 0,
    "0 < x": lambda lib, x: x > 0,
    "x != 1": lambda lib, x: x != 1,
    "x <= a column": lambda lib, x: x <= lib.tensor([[0.0], [2.0]]),
    "x >= True": lambda lib, x: x >= True,
    "an int64 tensor < 0.5": lambda lib, x: lib.tensor([0, 1]) < 0.5,
    "x == None": lambda lib, x: x == None,  # noqa: E711 -- the comparison tested
    "x == a string": lambda lib, x: x == "a",
    "shapes that do not broadcast": lambda lib, x: x == lib.tensor([1.0, 2.0]),
}


@pytest.mark.parametrize("name", COMPARISONS)
def test_comparisons_are_bool_tensors_as_in_torch(name: str) -> None:
    # A review found x == x False (identity) and no <, > at all.
    seen: list[tuple[Any, ...]] = []
    for lib in (engine, torch):
        x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        try:
            result = COMPARISONS[name](lib, x)
        except RuntimeError as error:
            seen.append(("RuntimeError", str(error)))
            continue
        if isinstance(result, bool):
            seen.append(("bool", result))
        else:
            seen.append((str(result.dtype).split(".")[-1].rstrip("_"), result.numpy().tolist(), result.requires_grad))
    assert seen[0] == seen[1]


def _functional(lib: Any) -> Any:
    return lib.nn.functional if lib is torch else lib


INTEGER_OPERANDS = {
    "mean of int64": lambda lib, i, b, f: i.mean(),
    "mean of bool along an axis": lambda lib, i, b, f: b.mean(0),
    "softmax of int64": lambda lib, i, b, f: lib.softmax(i, -1),
    "log_softmax of bool": lambda lib, i, b, f: lib.log_softmax(b, -1),
    # PyTorch names another kernel when the axis is not the last one.
    "softmax of int64 along the first axis": lambda lib, i, b, f: lib.softmax(i, 0),
    "log_softmax of bool along the first axis": lambda lib, i, b, f: lib.log_softmax(b, -2),
    "softmax of int64 along an axis out of range": lambda lib, i, b, f: lib.softmax(i, 2),
    "cross_entropy of int64 logits": lambda lib, i, b, f: _functional(lib).cross_entropy(i, lib.tensor([0, 1])),
    "softplus of int64": lambda lib, i, b, f: lib.nn.functional.softplus(i),
    "leaky_relu of bool": lambda lib, i, b, f: lib.nn.functional.leaky_relu(b),
    "silu of int64": lambda lib, i, b, f: lib.nn.functional.silu(i),
    "log1p of int64": lambda lib, i, b, f: lib.log1p(i),
    "log10 of bool": lambda lib, i, b, f: lib.log10(b),
    "var of int64": lambda lib, i, b, f: i.var(),
    "clamp of int64 by a float": lambda lib, i, b, f: i.clamp(min=0.5),
    "mse_loss of int64": lambda lib, i, b, f: _functional(lib).mse_loss(i, i),
    "mse_loss of a float and an int64": lambda lib, i, b, f: _functional(lib).mse_loss(f, i),
    "abs of bool": lambda lib, i, b, f: lib.abs(b),
    "-bool": lambda lib, i, b, f: -b,
    "bool - bool": lambda lib, i, b, f: b - b,
    "int64 ** -1": lambda lib, i, b, f: i**-1,
    "logsumexp of int64": lambda lib, i, b, f: lib.logsumexp(i, 1),
    "exp of int64": lambda lib, i, b, f: lib.exp(i),
    "relu of int64": lambda lib, i, b, f: lib.relu(i),
    "sum of bool": lambda lib, i, b, f: b.sum(),
    # Integer powers by an integer tensor: 0 for a negative exponent but of 1 and -1.
    "int64 ** int64 with negative exponents": lambda lib, i, b, f: (i - 2) ** -lib.tensor([[1, 2], [3, 1]]),
    "2 ** int64 with a negative exponent": lambda lib, i, b, f: 2 ** (i - 2),
    # No subtraction with a bool tensor or number, as in torch.
    "float - bool": lambda lib, i, b, f: f - b,
    "bool - 1": lambda lib, i, b, f: b - 1,
    "bool - True": lambda lib, i, b, f: b - True,
    "float - True": lambda lib, i, b, f: f - True,
}


@pytest.mark.parametrize("name", INTEGER_OPERANDS)
def test_integer_and_bool_operands_are_taken_or_refused_as_torch_does(name: str) -> None:
    # A review found mean, softmax, cross_entropy and mse_loss of integers computed (mse_loss in
    # float64), abs of bools answered, and NumPy's errors for -bool and int ** -1.
    seen: list[tuple[Any, ...]] = []
    for lib in (engine, torch):
        i, b = lib.tensor([[1, 2], [3, 4]]), lib.tensor([[True, False], [False, True]])
        f = lib.tensor([[1.0, 2.0], [3.0, 5.0]])
        try:
            result = INTEGER_OPERANDS[name](lib, i, b, f)
        except (RuntimeError, TypeError, ValueError, IndexError) as error:  # NotImplementedError is a RuntimeError
            seen.append((type(error).__name__, str(error)))
        else:
            seen.append(("value", str(result.dtype).split(".")[-1], result.detach().numpy()))
    if seen[0][0] == seen[1][0] == "value":
        assert seen[0][1] == seen[1][1]
        np.testing.assert_allclose(seen[0][2], seen[1][2], rtol=1e-6)  # float32: to its rounding
    else:
        assert seen[0] == seen[1]


EMPTY = {
    "logsumexp of nothing": ((0,), lambda lib, x: lib.logsumexp(x, 0)),
    "logsumexp along an empty axis": ((3, 0), lambda lib, x: lib.logsumexp(x, 1)),
    "logsumexp of no rows": ((0, 3), lambda lib, x: lib.logsumexp(x, 1)),
    "softmax of empty rows": ((3, 0), lambda lib, x: lib.softmax(x, -1)),
    "softmax of no rows": ((0, 3), lambda lib, x: lib.softmax(x, -1)),
    "log_softmax of empty rows": ((3, 0), lambda lib, x: lib.log_softmax(x, -1)),
    "amax of nothing": ((0,), lambda lib, x: x.amax()),
    "amax along an empty axis": ((3, 0), lambda lib, x: x.amax(1)),
    "amax along an empty axis counted from the end": ((3, 0), lambda lib, x: x.amax((0, -1))),  # named as written
    "amin along an empty axis": ((2, 0, 3), lambda lib, x: x.amin((2, 1))),
    "amax of no rows": ((0, 3), lambda lib, x: x.amax(1)),
    "mean of nothing": ((0,), lambda lib, x: x.mean()),
    "mean along an empty axis": ((3, 0), lambda lib, x: x.mean(1)),
    "sum of nothing": ((0,), lambda lib, x: x.sum()),
    "cross_entropy of no rows": (
        (0, 3),
        lambda lib, x: _functional(lib).cross_entropy(x, lib.tensor(np.zeros(0, np.int64))),
    ),
}


@pytest.mark.parametrize("name", EMPTY)
def test_reductions_of_empty_tensors_answer_or_refuse_as_torch_does(name: str) -> None:
    # A review found logsumexp and softmax along an empty axis failing with NumPy's "zero-size
    # array to reduction operation maximum", where PyTorch answers -inf or an empty tensor.
    shape, call = EMPTY[name]
    seen: list[tuple[Any, ...]] = []
    for lib in (engine, torch):
        x = lib.tensor(np.zeros(shape, np.float32), requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # and without NumPy's warnings
            try:
                y = call(lib, x)
            except (RuntimeError, IndexError) as error:
                seen.append((type(error).__name__, str(error)))
                continue
            y.sum().backward()
        seen.append((tuple(y.shape), y.detach().numpy().tolist(), tuple(x.grad.shape), x.grad.numpy().tolist()))
    np.testing.assert_equal(seen[0], seen[1])


@pytest.mark.parametrize("shape", [(2, -1), (2, 3, -1), (-1, 3), (2, -2), (4, -1, 2), (3,)])
def test_broadcast_to_keeps_a_size_given_as_minus_one_as_torch_does(shape: tuple[int, ...]) -> None:
    # -1 keeps the tensor's own size there (torch.expand's rule), except in a new leading axis.
    seen: list[tuple[Any, ...]] = []
    for lib in (engine, torch):
        x = lib.tensor([[1.0], [2.0], [3.0]], requires_grad=True)
        try:
            y = lib.broadcast_to(x, shape)
        except RuntimeError as error:  # PyTorch names the tensor's type in one: expand(torch.FloatTensor{...}, ...)
            seen.append(
                ("refused", re.sub(r"expand\(torch\.\w+\{\[[\d, ]*\]\}, size=\[[\d, -]*\]\)", "expand", str(error)))
            )
            continue
        (y * lib.tensor(np.arange(float(np.prod(tuple(y.shape)))).reshape(tuple(y.shape)))).sum().backward()
        seen.append((tuple(y.shape), y.grad_fn.name(), x.grad.numpy().tolist()))
    assert seen[0] == seen[1]


MSE_TARGETS = {
    "a target of the input's shape": ((3, 1), (3, 1), "float32"),
    "a column against a row of targets": ((3, 1), (3,), "float32"),
    "a 0-d target": ((3,), (), "float32"),
    "a 0-d float64 target": ((3,), (), "float64"),
    "a larger target": ((3,), (2, 3), "float64"),
    "a 0-d input": ((), (2,), "float32"),
}


@pytest.mark.parametrize("name", MSE_TARGETS)
def test_mse_loss_of_shapes_that_differ_warns_and_promotes_as_torch_does(name: str) -> None:
    # The classic mistake, predictions (N, 1) against targets (N,), compares all N² pairs:
    # PyTorch warns of it, and promotes after broadcasting (a 0-d float64 target makes float64).
    input_shape, target_shape, target_dtype = MSE_TARGETS[name]
    inputs = np.linspace(0.5, 2.0, int(np.prod(input_shape))).reshape(input_shape)
    targets = np.linspace(-1.0, 3.0, int(np.prod(target_shape))).reshape(target_shape)
    seen: list[dict[str, Any]] = []
    for lib in (engine, torch):
        a = lib.tensor(inputs, dtype=lib.float32, requires_grad=True)
        b = lib.tensor(targets, dtype=getattr(lib, target_dtype), requires_grad=True)
        with warnings.catch_warnings(record=True) as heard:
            warnings.simplefilter("always")
            loss = _functional(lib).mse_loss(a, b)
        loss.backward()
        seen.append(
            {
                "dtype": str(loss.dtype).split(".")[-1],
                "warnings": [(w.category, str(w.message)) for w in heard],
                "where": {w.filename for w in heard},
                "loss": loss.item(),
                "grads": (a.grad.numpy().tolist(), b.grad.numpy().tolist()),
            }
        )
    ours, theirs = seen
    assert (ours["dtype"], ours["warnings"]) == (theirs["dtype"], theirs["warnings"])
    assert ours["where"] <= {__file__}  # pointed at the caller, as torch's is
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-6)
    for mine, torchs in zip(ours["grads"], theirs["grads"], strict=True):
        np.testing.assert_allclose(mine, torchs, rtol=1e-6)


# torch.max and torch.min of the Python API, each form (expressions' max and min are amax and amin).
EXTREMES = {
    "max(x)": lambda lib, x: lib.max(x),
    "min(x)": lambda lib, x: lib.min(x),
    "x.max()": lambda lib, x: x.max(),
    "max(x, 1)": lambda lib, x: lib.max(x, 1),
    "max(x, dim=0, keepdim=True)": lambda lib, x: lib.max(x, dim=0, keepdim=True),
    "min(x, -1)": lambda lib, x: lib.min(x, -1),
    "x.min(0)": lambda lib, x: x.min(0),
    "max(x, axis=1, keepdims=True)": lambda lib, x: lib.max(x, axis=1, keepdims=True),
    "max(x, y)": lambda lib, x: lib.max(x, lib.tensor([[0.0, 5.0, 0.0]], dtype=lib.float64)),
    "min(x, 2)": lambda lib, x: lib.min(x, 2),
    "max(x, (0, 1))": lambda lib, x: lib.max(x, (0, 1)),
    "max(x[:0])": lambda lib, x: lib.max(x[:0]),
    "max(x[:0], 0)": lambda lib, x: lib.max(x[:0], 0),
    "max(x[:0], 1)": lambda lib, x: lib.max(x[:0], 1),
    "max(x[0, 0], 0)": lambda lib, x: lib.max(x[0, 0], 0),
    "values of max(x, 1) unpacked": lambda lib, x: lib.max(x, 1)[0],
    "max(x, np.int64(1))": lambda lib, x: lib.max(x, np.int64(1)),
}
# Ties, a NaN, an infinity: where the forms differ from amax and from each other.
EXTREME_INPUTS = {
    "ties": [[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]],
    "a NaN": [[0.0, float("nan"), 1.0], [4.0, 0.0, 1.0]],
    "a zero under log": [[4.0, 0.0, 1.0], [4.0, 1.0, 1.0]],
}


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # log(0), as torch gives -inf
@pytest.mark.parametrize("values", EXTREME_INPUTS)
@pytest.mark.parametrize("name", EXTREMES)
def test_max_and_min_of_the_python_api_take_torchs_three_forms(name: str, values: str) -> None:
    # A review found torch.max(x, dim=1) a tensor (amax's), so that v, i = torch.max(x, dim=1)
    # unpacked its rows, and the gradient of max(x) spreading a NaN or an infinity.
    seen: list[Any] = []
    for lib in (engine, torch):
        x = lib.tensor(EXTREME_INPUTS[values], dtype=lib.float64, requires_grad=True)
        try:
            result = EXTREMES[name](lib, x)
        except (RuntimeError, IndexError, TypeError) as error:
            seen.append((type(error).__name__, str(error)))
            continue
        values_of = result[0] if isinstance(result, tuple) else result
        indices = result[1].tolist() if isinstance(result, tuple) else None
        if values_of.numel():
            lib.log(values_of).sum().backward()  # a gradient that is infinite where a value is 0
        grad = x.grad.numpy().tolist() if x.grad is not None else None
        seen.append((type(result).__name__, values_of.tolist(), values_of.grad_fn.name(), indices, grad))
    np.testing.assert_equal(seen[0], seen[1])


def _retained_graph(lib: Any) -> dict[str, Any]:
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    w = lib.tensor([3.0, 4.0], requires_grad=True)
    y = x * w
    y.retain_grad()
    big = lib.tensor(np.linspace(-1.0, 1.0, 1 << 16), requires_grad=True)  # its sum's gradient: one number
    return {
        "x": x,
        "w": w,
        "y": y,
        "z": (y * y).sum(),
        "big": big,
        "s": (big * 3).sum() * 2,
        "other": lib.tensor([1.0], requires_grad=True),
    }


GRADS = {
    "of a leaf and a non-leaf": lambda grad, t: grad(t["z"], [t["x"], t["y"]], retain_graph=True),
    "of one tensor": lambda grad, t: grad(t["z"], t["w"]),
    "of several outputs": lambda grad, t: grad([t["y"].sum(), t["z"]], t["x"]),
    "with grad_outputs": lambda grad, t: grad(t["y"], t["x"], grad_outputs=t["x"] * 0 + 2),
    "of a non-scalar output without grad_outputs": lambda grad, t: grad(t["y"], t["x"]),
    "of a tensor not used": lambda grad, t: grad(t["z"], [t["x"], t["other"]]),
    "of a tensor not used, allowed": lambda grad, t: grad(t["z"], [t["x"], t["other"]], allow_unused=True),
    "of a tensor not used, materialized": lambda grad, t: grad(t["z"], [t["other"]], materialize_grads=True),
    "of a tensor that does not require grad": lambda grad, t: grad(t["z"], [t["x"].detach()]),
    "twice without retain_graph": lambda grad, t: (grad(t["z"], t["x"]), grad(t["z"], t["x"])),
    "of a large sum": lambda grad, t: grad(t["s"], t["big"]),
    "of no inputs": lambda grad, t: grad(t["z"], []),
    "with one gradient for two outputs": lambda grad, t: grad([t["z"], t["z"] * 2], t["x"], grad_outputs=[t["z"]]),
}


@pytest.mark.parametrize("name", GRADS)
def test_autograd_grad_returns_what_torch_returns_and_leaves_grad_alone(name: str) -> None:
    # A review found no autograd.grad, the usual way to ask for a gradient without touching .grad.
    seen: list[Any] = []
    for lib in (engine, torch):
        t = _retained_graph(lib)
        try:
            got = GRADS[name](lib.autograd.grad, t)
        except RuntimeError as error:
            seen.append(("refused", str(error).split(" (or directly")[0]))
            continue
        flat = list(got[0] + got[1] if isinstance(got[0], tuple) else got)
        grads = [None if g is None else (str(g.dtype).split(".")[-1], g.numpy().tolist()) for g in flat]
        untouched = [t[k].grad is None for k in ("x", "w", "big", "other")]
        seen.append((grads, untouched, t["y"].grad.numpy().tolist() if t["y"].grad is not None else None))
    np.testing.assert_equal(seen[0], seen[1])


def test_autograd_grad_runs_only_what_leads_to_its_inputs_as_torch_does() -> None:
    # Retained gradients are kept on the nodes run, which are those that lead to an input (and
    # an input's own node): u's .grad when asking for y, not y's when asking for u.
    seen = []
    for lib in (engine, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([3.0, 4.0], requires_grad=True)
        y = x * w
        y.retain_grad()
        u = y * 2
        u.retain_grad()
        z = (u * y).sum()
        calls: list[tuple[Any, ...]] = []
        for inputs in ([y], [u], [w], [u, x], [y, x]):
            got = lib.autograd.grad(z, inputs, retain_graph=True)
            calls.append(([g.tolist() for g in got], y.grad.tolist(), u.grad.tolist(), x.grad, w.grad))
        z.backward()
        calls.append((x.grad.tolist(), y.grad.tolist(), u.grad.tolist()))
        seen.append(calls)
    assert seen[0] == seen[1]


BACKWARD_INPUTS = {
    "a leaf": lambda lib, t: t["s"].backward(inputs=[t["x"]], retain_graph=True),
    "a leaf, not in a list": lambda lib, t: t["s"].backward(inputs=t["x"], retain_graph=True),
    "a retained non-leaf": lambda lib, t: t["s"].backward(inputs=[t["h"]], retain_graph=True),
    "a non-leaf that retains nothing": lambda lib, t: t["s"].backward(inputs=[t["u"]], retain_graph=True),
    "two leaves, one twice": lambda lib, t: t["s"].backward(inputs=(t["x"], t["w"], t["x"]), retain_graph=True),
    "a leaf the root does not use": lambda lib, t: (t["x"] * 3).sum().backward(inputs=[t["w"]]),
    "no inputs": lambda lib, t: t["s"].backward(inputs=[]),
    "no inputs, of a root that needs no grad": lambda lib, t: lib.autograd.backward([t["x"].detach().sum()], inputs=[]),
    "a second root that needs no grad": lambda lib, t: lib.autograd.backward([t["s"], t["x"].detach().sum()]),
    "a tensor that requires no grad": lambda lib, t: t["s"].backward(inputs=[t["x"].detach()]),
    "a non-leaf, then everything": lambda lib, t: (  # u retains its grad from then on (a review found not)
        t["s"].backward(inputs=[t["u"]], retain_graph=True),
        t["s"].backward(retain_graph=True),
    ),
    "autograd.backward of two roots": lambda lib, t: lib.autograd.backward(
        [t["s"], t["u"].sum()], inputs=[t["w"], t["h"]], retain_graph=True
    ),
}


@pytest.mark.parametrize("name", BACKWARD_INPUTS)
def test_backward_into_its_inputs_alone_goes_as_in_torch(name: str) -> None:
    # Called twice: the inputs' .grad accumulate, and no other leaf's is touched; a retained
    # .grad on the way is kept, as PyTorch keeps it.
    seen: list[Any] = []
    for lib in (engine, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([3.0, -4.0], requires_grad=True)
        h = x * w
        h.retain_grad()
        u = h * 2
        t = {"x": x, "w": w, "h": h, "u": u, "s": (u * h).sum()}
        calls: list[Any] = []
        for _ in range(2):
            try:
                BACKWARD_INPUTS[name](lib, t)
            except RuntimeError as error:
                calls.append(("refused", str(error)))
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # u.grad of a non-leaf, read where it may be None
                calls.append([None if t[k].grad is None else t[k].grad.tolist() for k in ("x", "w", "h", "u")])
        seen.append(calls)
    assert seen[0] == seen[1]


def test_a_lone_root_keeps_its_retained_grad_though_it_leads_to_no_input_as_in_torch() -> None:
    # PyTorch's graph starts at a lone root's own node, which runs (its retained .grad kept) even
    # where it leads to no input; with several roots, only the nodes that lead to one run.
    seen = []
    for lib in (engine, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([3.0], requires_grad=True)
        calls: list[Any] = []
        y = x * 2
        y.retain_grad()
        y.backward(lib.ones_like(y) * 7, inputs=[w])
        calls.append(y.grad.tolist())
        a, b = (x * 2).sum(), (x * w).sum()
        a.retain_grad()
        b.retain_grad()
        lib.autograd.backward([a, b], inputs=[w])
        calls.append((a.grad, b.grad.tolist(), w.grad.tolist()))
        c = (x * 2).sum()
        c.retain_grad()
        calls.append((lib.autograd.grad(c, [w], allow_unused=True), c.grad.tolist(), x.grad))
        seen.append(calls)
    assert seen[0] == seen[1]


METHODS = {
    "x.add(y)": lambda x, y: x.add(y),
    "x.sub(2.0)": lambda x, y: x.sub(2.0),
    "x.mul(y)": lambda x, y: x.mul(y),
    "x.div(y)": lambda x, y: x.div(y),
    "x.pow(2)": lambda x, y: x.pow(2),
    "x.pow(y)": lambda x, y: x.pow(y),
    "x.matmul(y.T)": lambda x, y: x.matmul(y.T),
    "x.neg()": lambda x, y: x.neg(),
    "x.maximum(y)": lambda x, y: x.maximum(y),
    "x.minimum(y)": lambda x, y: x.minimum(y),
    "x.logsumexp(1)": lambda x, y: x.logsumexp(1),
    "x.logsumexp(dim=0, keepdim=True)": lambda x, y: x.logsumexp(dim=0, keepdim=True),
    "x[0].broadcast_to((2, 3))": lambda x, y: x[0].broadcast_to((2, 3)),
    "x[:1].expand(4, -1)": lambda x, y: x[:1].expand(4, -1),
    "x[:1].expand((2, 3))": lambda x, y: x[:1].expand((2, 3)),
    "x.add([1.0])": lambda x, y: x.add([1.0]),
}


@pytest.mark.filterwarnings("ignore:invalid value encountered in log:RuntimeWarning")  # x.pow(y) at x < 0: NaN
@pytest.mark.parametrize("name", METHODS)
def test_the_operators_and_functions_as_methods_go_as_in_torch(name: str) -> None:
    # A review found x.pow, x.add, x.maximum, x.logsumexp, x.expand, ... missing (AttributeError).
    seen: list[Any] = []
    for lib in (engine, torch):
        x = lib.tensor([[1.0, -2.0, 3.0], [0.5, 2.0, -1.0]], dtype=lib.float64, requires_grad=True)
        y = lib.tensor([[2.0, 1.0, 0.5], [1.5, 2.0, 3.0]], dtype=lib.float64, requires_grad=True)
        try:
            out = METHODS[name](x, y)
        except TypeError:
            seen.append("TypeError")
            continue
        (out * lib.tensor(np.arange(out.numel(), dtype=np.float64).reshape(tuple(out.shape)))).sum().backward()
        grads = [t.grad.numpy() if t.grad is not None else None for t in (x, y)]
        seen.append((out.grad_fn.name(), tuple(out.shape), out.detach().numpy(), *grads))
    ours, theirs = seen
    if isinstance(ours, str) or isinstance(theirs, str):
        assert ours == theirs
        return
    assert ours[:2] == theirs[:2]
    for mine, torchs in zip(ours[2:], theirs[2:], strict=True):
        assert (mine is None) == (torchs is None)
        if mine is not None:
            np.testing.assert_allclose(mine, torchs, rtol=1e-12)  # NaN where torch's is


def _functions_of(lib: Any, heard: list[Any]) -> tuple[Any, Any]:
    """Two custom Functions written once for either library: one with an output marked not
    differentiable (indices), one that asks for no zeros in place of missing gradients."""

    class Reversed(lib.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, scale: float = 2.0) -> Any:
            indices = lib.tensor(list(reversed(range(x.shape[0]))))
            ctx.mark_non_differentiable(indices)
            ctx.scale = scale
            return x * scale, indices

        @staticmethod
        def backward(ctx: Any, g: Any, g_indices: Any) -> Any:
            heard.append(g_indices.tolist())
            return g * ctx.scale, None

    class Two(lib.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            ctx.set_materialize_grads(False)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx: Any, ga: Any, gb: Any) -> Any:
            heard.append(gb)
            return ga * 2

    return Reversed, Two


KEYWORD_CALLS = {
    "the next parameter by name": lambda f, x: f.apply(x, k=3.0),
    "both by name": lambda f, x: f.apply(x, j=4.0, k=3.0),
    "one skipped": lambda f, x: f.apply(x, j=3.0),
    "a name forward has not": lambda f, x: f.apply(x, 3.0, q=3.0),
}


def _scaled(lib: Any, heard: list[Any]) -> Any:
    class Scaled(lib.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, k: float = 2.0, j: float = 5.0) -> Any:
            heard.append(ctx.needs_input_grad)
            return x * k * j

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return (g * 0 + 1, *[None] * (len(ctx.needs_input_grad) - 1))

    return Scaled


@pytest.mark.parametrize("name", KEYWORD_CALLS)
def test_custom_function_keywords_take_forwards_places_in_order_as_in_torch(name: str) -> None:
    # A review found defaults bound too (so that backward was asked for one gradient more than
    # torch asks) and keyword-only parameters dropped.
    seen: list[Any] = []
    for lib in (engine, torch):
        heard: list[Any] = []
        x = lib.tensor([1.0], requires_grad=True)
        try:
            out = KEYWORD_CALLS[name](_scaled(lib, heard), x)
        except TypeError as error:
            seen.append(("TypeError", str(error)))
            continue
        out.sum().backward()
        seen.append((out.tolist(), heard, x.grad.tolist()))
    assert seen[0] == seen[1]


def test_custom_functions_mark_outputs_take_keywords_and_skip_zeros_as_in_torch() -> None:
    # A review found mark_non_differentiable an AttributeError and apply(x, scale=3.0) a TypeError.
    seen = []
    for lib in (engine, torch):
        heard: list[Any] = []
        reversed_, two = _functions_of(lib, heard)
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y, indices = reversed_.apply(x, scale=3.0)
        y.sum().backward()
        first = x.grad.tolist()
        a, _ = two.apply(x)
        a.sum().backward()
        by_name, _ = reversed_.apply(x=x)
        seen.append(
            (indices.tolist(), indices.requires_grad, indices.grad_fn, first, x.grad.tolist(), by_name.tolist(), heard)
        )
    assert seen[0] == seen[1]


ADVANCED_INDICES = {
    "a list of rows, one twice": lambda lib, x: x[[0, 0, 1]],
    "an index tensor": lambda lib, x: x[lib.tensor([1, 0])],
    "a mask": lambda lib, x: x[x > 2],
    "a 0-d index tensor": lambda lib, x: x[lib.tensor(1)],
    "a list and a slice": lambda lib, x: x[[0, 1], 1:],
    "two lists": lambda lib, x: x[[0, 1], [2, 2]],
    "a list of bools": lambda lib, x: x[[True, False]],
    "a negative index": lambda lib, x: x[[-1]],
    "columns, one twice": lambda lib, x: x[:, [2, 0, 2]],
    "a row mask": lambda lib, x: x[lib.tensor([False, True])],
    "nothing": lambda lib, x: x[[]],
    "an index out of range": lambda lib, x: x[[5]],
    "a mask of the wrong shape": lambda lib, x: x[lib.tensor([True, False, True])],
    "a float index tensor": lambda lib, x: x[lib.tensor([1.0])],
    "a float": lambda lib, x: x[1.0],
    "range(t)": lambda lib, x: list(range(lib.tensor(3))),
    "a list indexed by a float tensor": lambda lib, x: [1, 2][lib.tensor(1.0)],
    "a list indexed by two integers": lambda lib, x: [1, 2][lib.tensor([1, 0])],
    "a list indexed by a bool tensor": lambda lib, x: [10, 20][lib.tensor(True)],
    # An integer beside index arrays selects first, as in torch: NumPy would put the selected
    # axes first across the slice (a review found the result transposed).
    "an integer, None and a list": lambda lib, x: x[0, None, [2, 0, 2]],
    "a 0-d index tensor, None and a list": lambda lib, x: x[lib.tensor(1), None, [[0, 0], [2, 1]]],
    "..., then a mask": lambda lib, x: x[..., lib.tensor([True, False, True])],
    "..., then a mask of the wrong shape": lambda lib, x: x[..., lib.tensor([True, False])],
    "True": lambda lib, x: x[True],
    "a NumPy integer": lambda lib, x: x[np.int64(1)],
    # A ... that stands for no axis separates no arrays in torch (NumPy puts their axes first).
    "None, a list, an empty ... and a list": lambda lib, x: x[None, [0, 1], ..., [2, 0]],
    "a list, an empty ... and a list": lambda lib, x: x[[0, 1], ..., [2, 0]],
    # A list holding lists, tensors, slices or None is a tuple of indices, as torch 2.13 still reads it.
    "a list of lists": lambda lib, x: x[[[0, 1], [1, 2]]],
    "a list of 0-d tensors": lambda lib, x: x[[lib.tensor(1), lib.tensor(2)]],
    "a list of an integer and a slice": lambda lib, x: x[[1, slice(None)]],
    "a list of None and an integer": lambda lib, x: x[[None, 1]],
}


@pytest.mark.filterwarnings("ignore:Using a non-tuple sequence for multidimensional indexing")  # both say it
@pytest.mark.parametrize("name", ADVANCED_INDICES)
def test_index_tensors_lists_and_masks_select_and_backpropagate_as_in_torch(name: str) -> None:
    # A review found x[[0, 1]], x[idx] and x[mask] refused; an element selected twice gets both
    # gradients (NumPy's out[index] = g would keep one).
    seen: list[Any] = []
    for lib in (engine, torch):
        x = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        try:
            y = ADVANCED_INDICES[name](lib, x)
        except (IndexError, TypeError) as error:
            seen.append((type(error).__name__, str(error)))
            continue
        if isinstance(y, list | int):  # Python's own indexing, through __index__
            seen.append(y)
            continue
        weights = lib.tensor(np.arange(y.numel(), dtype=np.float32).reshape(tuple(y.shape)))
        (y * weights).sum().backward()
        seen.append((tuple(y.shape), y.tolist(), y.grad_fn.name(), x.grad.tolist()))
    assert seen[0] == seen[1]


def _everyday(lib: Any) -> list[Any]:
    """What a training notebook does beside the math; a review found each of these refused."""
    said: list[Any] = []
    w = lib.tensor([1.0, 2.0], requires_grad=True)
    with lib.no_grad():
        said.append((w.numpy().tolist(), float(w[0])))  # under no_grad torch gives them
    x = lib.tensor([[1.0, 2.0], [3.0, 4.0]])
    said.append((2.0 in x, 5 in x, lib.tensor(2.0) in x, 2.0 in lib.tensor(2.0)))
    said.append((x.sum(lib.tensor(0)).tolist(), x.sum(dim=[lib.tensor(1)]).tolist(), x.softmax(lib.tensor(0)).tolist()))
    try:
        said.append("a" in x)
    except RuntimeError as error:
        said.append(str(error))
    said.append((x.add(x, alpha=2).tolist(), x.sub(1, alpha=2).tolist(), lib.add(x, x, alpha=3).tolist()))
    y = lib.tensor([1.0, 2.0])
    y.add_(lib.tensor([1.0, 1.0]), alpha=-0.5)  # an SGD step as torch's optimizers write it
    y.sub_(lib.tensor([1.0, 1.0]), alpha=2)
    said.append(y.tolist())
    logp = lib.tensor([[0.1, 0.9], [0.7, 0.3], [0.5, 0.5]], requires_grad=True)
    loss = -logp[range(3), lib.tensor([1, 0, 1])].sum()  # the textbook NLL
    loss.backward()
    said.append((loss.item(), logp.grad.tolist(), x[:, (0, 1)].tolist(), x[(0, 1), 0].tolist()))
    z = lib.tensor([[1.0, 2.0], [3.0, 4.0]])
    z[0, range(2)] = 5.0
    said.append(z.tolist())
    step = lib.no_grad()  # one object entered twice (nested, torch's would leave grad off after)
    for _ in range(2):
        with step:
            said.append((w * 2).requires_grad)
        said.append((w * 2).requires_grad)

    @lib.no_grad()
    def doubled() -> Any:
        yield w * 2
        yield w * 3

    said.append([t.requires_grad for t in doubled()])  # every step of a generator in the mode
    return said


def _scale_with_a_spare_none(lib: Any) -> Any:
    class Scale(lib.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, scale: float = 2.0) -> Any:
            ctx.scale = scale
            return x * scale

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return g * ctx.scale, None  # a gradient for scale, though apply got none: torch takes it

    a = lib.tensor([1.0], requires_grad=True)
    Scale.apply(a).sum().backward()
    return a.grad.tolist()


def test_what_a_training_notebook_does_beside_the_math_goes_as_in_torch() -> None:
    assert _everyday(engine) == _everyday(torch)
    assert _scale_with_a_spare_none(engine) == _scale_with_a_spare_none(torch)


def _ulps(ours: Any, theirs: Any) -> float:
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs)
    return float(np.max(np.abs(ours - theirs) / np.spacing(np.abs(theirs).astype(theirs.dtype))))


@pytest.mark.parametrize(
    ("shape", "axis"), [((100_000, 10), 0), ((20_000, 50), 0), ((100, 200, 30), (0, 1)), ((4000, 3, 30), 0)]
)
def test_float32_sums_along_other_axes_than_the_last_are_torchs_to_a_few_ulps(shape: Any, axis: Any) -> None:
    # NumPy sums the last axis pairwise, as PyTorch sums every one, but adds the slices along the
    # others one after another: a review found a bias's gradient over 10^5 rows 95 ulps off.
    x = np.random.default_rng(0).uniform(size=shape).astype(np.float32)
    for name in ("sum", "mean"):
        ours = getattr(engine, name)(engine.tensor(x), axis=axis).numpy()
        theirs = getattr(torch, name)(torch.tensor(x), dim=axis).numpy()
        assert _ulps(ours, theirs) <= 4, name
    bias, their_bias = engine.zeros(shape[-1], requires_grad=True), torch.zeros(shape[-1], requires_grad=True)
    ((engine.tensor(x) + bias) * engine.tensor(x)).sum().backward()
    ((torch.tensor(x) + their_bias) * torch.tensor(x)).sum().backward()
    assert _ulps(bias.grad.numpy(), their_bias.grad.numpy()) <= 4


# --- rounding as PyTorch rounds ----------------------------------------------------------

# Where both libraries compute the same values with the same roundings in the same order, the
# answers are PyTorch's to the bit: each case's value, its gradient, or both. What pow computes
# (x ** 4's value, y ** -2's gradient, with y ** -3) is the C library's, not the same in both.
BIT_FOR_BIT: dict[str, tuple[Callable[[Any, Any, Any], Any], str]] = {
    "x / y": (lambda lib, x, y: x / y, "value and gradient"),
    "1.7 / y (y's reciprocal times 1.7)": (lambda lib, x, y: 1.7 / y, "value and gradient"),
    "div(1.7, y)": (lambda lib, x, y: lib.div(1.7, y), "value and gradient"),
    "x ** 2": (lambda lib, x, y: x**2, "value and gradient"),
    "x ** 3 (x·x·x)": (lambda lib, x, y: x**3, "value and gradient"),
    "y ** -1": (lambda lib, x, y: y**-1, "value and gradient"),
    "y ** -2": (lambda lib, x, y: y**-2, "value"),
    "y ** -0.5": (lambda lib, x, y: y**-0.5, "value"),
    "x ** 4": (lambda lib, x, y: x**4, "gradient"),
    "y ** 0.5": (lambda lib, x, y: y**0.5, "gradient"),
    "mse_loss(x, y)": (lambda lib, x, y: lib.nn.functional.mse_loss(x, y), "gradient"),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", BIT_FOR_BIT)
def test_these_give_torchs_numbers_to_the_bit(name: str, dtype: str) -> None:
    # Reviews found ulps apart what only the order of a rule's factors made so: x ** 3 as pow(x, 3)
    # where PyTorch multiplies, g·3·x² where it takes g·(3·x²), -g·a/b² where it takes -g·((a/b)/b).
    build, compared = BIT_FOR_BIT[name]
    rng = np.random.default_rng(0)
    data = rng.normal(0, 3, 2_000), rng.uniform(0.1, 10, 2_000)
    g = rng.normal(0, 1, 2_000) if name != "mse_loss(x, y)" else rng.normal()
    results = []
    for lib in (engine, torch):
        x, y = (lib.tensor(v, dtype=getattr(lib, dtype), requires_grad=True) for v in data)
        out = build(lib, x, y)
        out.backward(lib.tensor(np.asarray(g, dtype)))
        grads = [t.grad.numpy() for t in (x, y) if t.grad is not None]
        results.append(
            ([out.detach().numpy()] if "value" in compared else []) + (grads if "gradient" in compared else [])
        )
    ours, theirs = results
    assert len(ours) == len(theirs) > 0
    for mine, torchs in zip(ours, theirs, strict=True):
        assert mine.dtype == torchs.dtype
        np.testing.assert_array_equal(mine, torchs, err_msg=name)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_tanh_and_sigmoid_rules_give_torchs_backward_to_the_bit(name: str, dtype: str) -> None:
    # Given PyTorch's own values (its exp and tanh are not NumPy's): tanh's 1 - y², which PyTorch
    # gets from a fused multiply-add, was up to a thousand ulps off in float32 near y = ±1, and
    # Karpathy's neuron printed x2.grad 0.4999999999999999 for PyTorch's 0.49999999999999994.
    rng = np.random.default_rng(1)
    x, g = rng.normal(0, 3, 20_000).astype(dtype), rng.normal(0, 1, 20_000).astype(dtype)
    y = getattr(torch, name)(torch.tensor(x))
    theirs = getattr(torch.ops.aten, f"{name}_backward")(torch.tensor(g), y).numpy()
    ours = engine.OPS[name].vjps[0](g, y.numpy(), x)  # type: ignore[misc]
    np.testing.assert_array_equal(ours, theirs)


def _clamped_and_spread(lib: Any) -> list[Any]:
    """clamp at its bounds, at NaN and inf, with min above max, of integers; var and std of
    one element, of a constant row, with more correction than elements, of nothing."""
    nan, inf = float("nan"), float("inf")
    seen: list[Any] = []
    x = lib.tensor([-1.0, -0.5, 0.0, 0.5, 1.0, nan, inf, -inf], dtype=lib.float64, requires_grad=True)
    for y in (x.clamp(-0.5, 0.5), x.clamp(min=0.5), x.clamp(max=-0.5), x.clamp(0.5, -0.5), x.clip(0.0, 0.0)):
        x.grad = None
        (y * lib.tensor(np.arange(1.0, 9.0))).sum().backward()
        seen.append((y.detach().numpy(), x.grad.numpy()))
    ints = lib.tensor([1, 5, 9])
    seen += [(str(c.dtype), c.numpy()) for c in (ints.clamp(2, 6), ints.clamp(2.5, 6), ints.clamp(max=4.0))]
    zeros = lib.tensor([-0.0, 0.0, 0.5])  # each bound keeps x where they are equal: -0.0 stays, as in PyTorch
    seen += [(str(np.signbit(c.numpy()).tolist()), c.numpy()) for c in (zeros.clamp(min=0), zeros.clamp(max=-0.0))]
    seen += [(str(x.clamp(True, 2.0).dtype), x.clamp(True, 2.0).detach().numpy())]  # True is 1
    rows = lib.tensor([[1.0, 2.0, 4.0], [3.0, 3.0, 3.0]], dtype=lib.float64, requires_grad=True)
    for spread in (
        lambda a: a.std(1),
        lambda a: a.var(1),
        lambda a: a[0, :1].var(),
        lambda a: a[0, :1].std(),
        lambda a: a.var(1, correction=5),
        lambda a: a[:, :0].var(1),
        lambda a: a.var(dim=(0, 1)),  # not dim=(): PyTorch's backward then counts 1 element, its forward all 6
        lambda a: a.var(True),
        lambda a: a.std(False),
        lambda a: a.var(None, False),
        # every element, no degrees of freedom: PyTorch's gradient is inf, NaN where x is the mean
        lambda a: a[0].var(correction=3),
        lambda a: a[0].var(correction=5),
        lambda a: a[0].std(correction=5),
        lambda a: a[0, 0].var(correction=2),
        lambda a: a.var(np.int64(1), correction=True),
        lambda a: a.std(1, correction=lib.tensor(0)),
    ):
        rows.grad = None
        with warnings.catch_warnings(record=True) as heard:
            warnings.simplefilter("always")
            y = spread(rows)
        y.sum().backward()
        # PyTorch's UserWarnings; not NumPy's RuntimeWarnings, which the engine's filter, dropped by pytest, hides
        said = [str(w.message).split(" (Triggered")[0] for w in heard if w.category is UserWarning]
        seen.append((y.detach().numpy(), rows.grad.numpy(), said))
    return seen


def test_clamp_var_and_std_at_their_edges_go_as_in_torch() -> None:
    ours, theirs = _clamped_and_spread(engine), _clamped_and_spread(torch)
    assert len(ours) == len(theirs) == 27
    for mine, torchs in zip(ours, theirs, strict=True):
        for a, b in zip(mine, torchs, strict=True):
            if isinstance(a, np.ndarray):
                np.testing.assert_allclose(a, b, rtol=1e-12)  # NaN where torch's is, inf where its is
                assert a.dtype == b.dtype
            else:
                assert a == b


@pytest.mark.parametrize(
    "name",
    [
        "clamp_nothing",
        "clamp_string",
        "clamp_three",
        "var_of_integers",
        "std_of_integers",
        "var_two_corrections",
        "var_unbiased_twice",
        "cross_entropy_int32_labels",
        "cross_entropy_bool_labels",
        "cross_entropy_list_labels",
        "int32_matmul_float",
        "randn_int32",
        "softplus_of_a_string_beta",
    ],
)
def test_clamp_var_and_std_refuse_what_torch_refuses(name: str) -> None:
    calls: dict[str, Callable[[Any], Any]] = {
        "clamp_nothing": lambda lib: lib.tensor([1.0]).clamp(),
        "clamp_string": lambda lib: lib.tensor([1.0]).clamp("a"),
        "clamp_three": lambda lib: lib.tensor([1.0]).clamp(1, 2, 3),
        "var_of_integers": lambda lib: lib.tensor([1, 2]).var(),
        "std_of_integers": lambda lib: lib.std(lib.tensor([1, 2]), 0),
        "var_two_corrections": lambda lib: lib.tensor([1.0, 2.0]).var(unbiased=True, correction=1),
        "var_unbiased_twice": lambda lib: lib.tensor([1.0, 2.0]).var(False, True),
        "cross_entropy_int32_labels": lambda lib: _functional(lib).cross_entropy(
            lib.ones(2, 3), lib.tensor([0, 1], dtype=lib.int32)
        ),
        "cross_entropy_bool_labels": lambda lib: _functional(lib).cross_entropy(
            lib.ones(2, 3), lib.tensor([True, False])
        ),
        "cross_entropy_list_labels": lambda lib: lib.nn.functional.cross_entropy(lib.ones(2, 3), [0, 1]),
        "int32_matmul_float": lambda lib: lib.ones(2, 2, dtype=lib.int32) @ lib.ones(2, 1),
        "randn_int32": lambda lib: lib.randn(2, dtype=lib.int32),
        "softplus_of_a_string_beta": lambda lib: lib.nn.functional.softplus(lib.ones(2), beta="a"),
    }
    refusals = []
    for lib in (engine, torch):
        with pytest.raises((TypeError, RuntimeError, NotImplementedError)) as caught:
            calls[name](lib)
        refusals.append((caught.type, str(caught.value)))
    (ours, our_words), (theirs, their_words) = refusals
    assert ours is theirs
    if name not in ("clamp_string", "clamp_three", "var_two_corrections", "var_unbiased_twice"):
        assert our_words == their_words


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_var_and_std_of_equal_elements_are_0_with_a_gradient_of_0(dtype: str) -> None:
    # 0.3 ten times: the mean, as a sum over 10, is not 0.3, and std came to 5.9e-17 with a gradient of
    # 0.105 at every element (a review). PyTorch's float64 gives 0 and 0, its float32 the 0.105.
    x = engine.tensor([[0.3] * 10, [1.0, 2.0] * 5], dtype=getattr(engine, dtype), requires_grad=True)
    std = x.std(1)
    std.sum().backward()
    assert std[0].item() == 0 and x.var(1)[0].item() == 0
    assert not x.grad.numpy()[0].any() and x.grad.numpy()[1].all()


def test_numpy_numbers_as_parameters_keep_a_float32_tensor_float32() -> None:
    # F.leaky_relu(x, np.float64(0.1)) was float64, where torch's stays float32 (a review).
    for lib in (engine, torch):
        x = lib.tensor([1.0, -2.0])
        assert str(lib.nn.functional.leaky_relu(x, np.float64(0.1)).dtype) == "torch.float32"
        assert str(lib.nn.functional.softplus(x, beta=np.int64(2)).dtype) == "torch.float32"


ARGUMENTS_REFUSED = {  # told in NumPy's words, or a tuple's (a review)
    "maximum(x, 'a')": lambda lib, x: lib.maximum(x, "a"),
    "minimum(x, None)": lambda lib, x: lib.minimum(x, None),
    "x.size(2)": lambda lib, x: x.size(2),
    "x.size(-3)": lambda lib, x: x.size(-3),
    "x.size(1.0)": lambda lib, x: x.size(1.0),
    "tensor(2.0).size(0)": lambda lib, x: lib.tensor(2.0).size(0),
}


@pytest.mark.parametrize("name", ARGUMENTS_REFUSED)
def test_arguments_torch_refuses_are_refused_in_its_words(name: str) -> None:
    said = []
    for lib in (engine, torch):
        with pytest.raises((TypeError, IndexError)) as caught:
            ARGUMENTS_REFUSED[name](lib, lib.ones(2, 3))
        said.append((type(caught.value).__name__, str(caught.value)))
    assert said[0] == said[1]
