# mypy: disable-error-code="union-attr"
"""view, flatten, squeeze, unsqueeze, argmax and argmin, and the factories (zeros, ones, full,
eye, arange, linspace) of the Python API, each against PyTorch: values, shapes, dtypes,
grad_fn names, gradients, and what each refuses, in PyTorch's words."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_alike import refusals

import engine

torch = pytest.importorskip("torch")

DATA = np.arange(1.0, 7.0).reshape(2, 1, 3)

RESHAPES = {
    "x.view(-1)": lambda lib, x: x.view(-1),
    "x.view(3, 2)": lambda lib, x: x.view(3, 2),
    "x.view((3, 2))": lambda lib, x: x.view((3, 2)),
    "x.view([1, 6])": lambda lib, x: x.view([1, 6]),
    "x[1].view(3)": lambda lib, x: x[1].view(3),
    "x.flatten()": lambda lib, x: x.flatten(),
    "x.flatten(1)": lambda lib, x: x.flatten(1),
    "x.flatten(0, 1)": lambda lib, x: x.flatten(0, 1),
    "x.flatten(-2, -1)": lambda lib, x: x.flatten(-2, -1),
    "flatten(x, start_dim=1)": lambda lib, x: lib.flatten(x, start_dim=1),
    "x.permute(2, 0, 1).flatten()": lambda lib, x: x.permute(2, 0, 1).flatten(),
    "x.squeeze()": lambda lib, x: x.squeeze(),
    "x.squeeze(1)": lambda lib, x: x.squeeze(1),
    "x.squeeze(0)": lambda lib, x: x.squeeze(0),
    "x.squeeze(-2)": lambda lib, x: x.squeeze(-2),
    "x.squeeze((0, 1))": lambda lib, x: x.squeeze((0, 1)),
    "x.squeeze([])": lambda lib, x: x.squeeze([]),
    "squeeze(x, dim=1)": lambda lib, x: lib.squeeze(x, dim=1),
    "x.permute(1, 2, 0).squeeze(0)": lambda lib, x: x.permute(1, 2, 0).squeeze(0),
    "x.unsqueeze(0)": lambda lib, x: x.unsqueeze(0),
    "x.unsqueeze(-1)": lambda lib, x: x.unsqueeze(-1),
    "x.unsqueeze(3)": lambda lib, x: x.unsqueeze(3),
    "unsqueeze(x, dim=1)": lambda lib, x: lib.unsqueeze(x, dim=1),
    "x.sum().flatten()": lambda lib, x: x.sum().flatten(),
    "x.sum().squeeze()": lambda lib, x: x.sum().squeeze(),
    "x.sum().squeeze(-1)": lambda lib, x: x.sum().squeeze(-1),
    "x.sum().unsqueeze(0)": lambda lib, x: x.sum().unsqueeze(0),
    "x.view(6).unsqueeze(1).squeeze()": lambda lib, x: x.view(6).unsqueeze(1).squeeze(),
}


@pytest.mark.parametrize("name", RESHAPES)
def test_views_give_torchs_shapes_names_values_and_gradients(name: str) -> None:
    seen = {}
    for lib in (engine, torch):
        x = lib.tensor(DATA, requires_grad=True)
        y = RESHAPES[name](lib, x)
        shape = tuple(y.shape)
        weights = lib.tensor(np.arange(2.0, 2.0 + y.numel()).reshape(shape))  # a different weight each
        (y * weights).sum().backward()
        name_of = None if y.grad_fn is None else y.grad_fn.name()
        seen[lib.__name__] = (shape, name_of, y.detach().numpy().tolist(), x.grad.numpy().tolist())
    assert seen["engine"] == seen["torch"]


@pytest.mark.parametrize("shape", [(2, -1), (-1,), (1, -1, 1), (0, -1), (3, 0, -1), (-1, 0)])
@pytest.mark.parametrize("method", ["view", "reshape"])
def test_nothing_takes_a_size_to_infer_where_the_others_tell_it_as_in_torch(
    method: str, shape: tuple[int, ...]
) -> None:
    # 0 elements in (2, -1) are (2, 0); in (0, -1) any size would do, and PyTorch refuses it.
    # A review found (2, -1) refused too.
    seen: list[Any] = []
    for lib in (engine, torch):
        try:
            seen.append(tuple(getattr(lib.tensor([]), method)(*shape).shape))
        except RuntimeError as error:
            seen.append(str(error))
    assert seen[0] == seen[1]


def test_flatten_of_what_is_one_axis_already_is_the_tensor_itself_as_in_torch() -> None:
    for lib in (engine, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        assert x.flatten() is x and x.flatten(0, -1) is x
        m = lib.tensor(DATA)
        assert m.flatten(1, 1) is m


SIZE_USES: dict[str, Any] = {
    "x.shape": lambda x: x.shape,
    "x.size()": lambda x: x.size(),
    "x.shape[1:]": lambda x: x.shape[1:],
    "x.shape[::-1]": lambda x: x.shape[::-1],
    "x.shape + (4,)": lambda x: x.shape + (4,),  # noqa: RUF005  (the concatenation is what is tested)
    "(4,) + x.shape": lambda x: (4,) + x.shape,  # noqa: RUF005
    "x.shape * 2": lambda x: x.shape * 2,
    "x[0, 0].shape": lambda x: x[0, 0].shape,
}


@pytest.mark.parametrize("name", SIZE_USES)
def test_a_shape_is_a_size_as_torchs_is(name: str) -> None:
    # A shape prints as torch.Size([2, 1, 3]) does, stays a Size when sliced or added to, and
    # is a tuple all the same.
    ours, theirs = SIZE_USES[name](engine.tensor(DATA)), SIZE_USES[name](torch.tensor(DATA))
    assert repr(ours) == repr(theirs)
    assert str(ours) == str(theirs)
    assert isinstance(ours, engine.Size) and ours.numel() == theirs.numel()
    assert ours == tuple(theirs) and hash(ours) == hash(theirs)


def test_a_view_shares_its_input_memory() -> None:
    x = engine.tensor(DATA)
    y = x.view(6)
    assert np.shares_memory(y.numpy(), x.numpy())


REFUSALS = {
    "view of a transpose": (RuntimeError, lambda lib, x: x.permute(2, 0, 1).view(-1)),
    "view to another size": (RuntimeError, lambda lib, x: x.view(4)),
    "view inferring two sizes": (RuntimeError, lambda lib, x: x.view(-1, -1)),
    "view to a float": (TypeError, lambda lib, x: x.view(2, 3.0)),
    "flatten backwards": (RuntimeError, lambda lib, x: x.flatten(2, 0)),
    "flatten from a float": (TypeError, lambda lib, x: x.flatten(0.5)),
    "flatten to a float": (TypeError, lambda lib, x: x.flatten(0, 2.0)),
    "flatten past the last dim": (IndexError, lambda lib, x: x.flatten(0, 3)),
    "flatten of a list": (TypeError, lambda lib, x: lib.flatten([1.0, 2.0])),
    "squeeze past the last dim": (IndexError, lambda lib, x: x.squeeze(5)),
    "squeeze of a 0-d past its dim": (IndexError, lambda lib, x: x.sum().squeeze(1)),
    "squeeze twice one dim": (RuntimeError, lambda lib, x: x.squeeze((0, 0))),
    "squeeze a float dim": (TypeError, lambda lib, x: x.squeeze(1.5)),
    "squeeze a tuple with a float": (TypeError, lambda lib, x: x.squeeze((0, 1.5))),
    "squeeze None": (TypeError, lambda lib, x: x.squeeze(None)),
    # As functions, the arguments stand one place further (a review found the method's places)
    "flatten(x, 1.0)": (TypeError, lambda lib, x: lib.flatten(x, 1.0)),
    "flatten(x, 0, 2.0)": (TypeError, lambda lib, x: lib.flatten(x, 0, 2.0)),
    "squeeze(x, 1.0)": (TypeError, lambda lib, x: lib.squeeze(x, 1.0)),
    "squeeze(x, None)": (TypeError, lambda lib, x: lib.squeeze(x, None)),
    "unsqueeze(x, 1.0)": (TypeError, lambda lib, x: lib.unsqueeze(x, 1.0)),
    "argmax(x, 1.0)": (TypeError, lambda lib, x: lib.argmax(x, 1.0)),
    "unsqueeze past the end": (IndexError, lambda lib, x: x.unsqueeze(4)),
    "unsqueeze before the start": (IndexError, lambda lib, x: x.unsqueeze(-5)),
    "unsqueeze a float dim": (TypeError, lambda lib, x: x.unsqueeze(1.0)),
    "unsqueeze without a dim": (TypeError, lambda lib, x: x.unsqueeze()),
}


@pytest.mark.parametrize("name", REFUSALS)
def test_views_refuse_what_torch_refuses_in_its_words(name: str) -> None:
    error, call = REFUSALS[name]
    said = refusals(error, lambda lib: call(lib, lib.tensor(DATA, requires_grad=True)))
    assert said[0] == said[1].replace("Tensor.", "")


ARGS = {
    "x.argmax()": lambda lib, x: x.argmax(),
    "x.argmin()": lambda lib, x: x.argmin(),
    "x.argmax(0)": lambda lib, x: x.argmax(0),
    "x.argmax(dim=1)": lambda lib, x: x.argmax(dim=1),
    "x.argmin(-1, keepdim=True)": lambda lib, x: x.argmin(-1, keepdim=True),
    "x.argmax(keepdim=True)": lambda lib, x: x.argmax(keepdim=True),
    "argmax(x, dim=0, keepdim=True)": lambda lib, x: lib.argmax(x, dim=0, keepdim=True),
    "argmin(x)": lambda lib, x: lib.argmin(x),
    "x[0, 0].argmax(0)": lambda lib, x: x[0, 0].argmax(0),
    "x[0, 0].argmin(-1, keepdim=True)": lambda lib, x: x[0, 0].argmin(-1, keepdim=True),
    "of integers, argmax(1)": lambda lib, x: lib.tensor([[3, 1, 3], [0, 5, 5]]).argmax(1),
}
ARG_INPUTS = {
    "ties": [[3.0, 1.0, 3.0], [0.0, 0.0, -1.0]],
    "nan": [[1.0, float("nan"), 5.0], [float("nan"), float("-inf"), float("nan")]],
    "infinities": [[float("inf"), 1.0, float("inf")], [float("-inf"), float("-inf"), 2.0]],
}


@pytest.mark.parametrize("values", ARG_INPUTS)
@pytest.mark.parametrize("name", ARGS)
def test_argmax_and_argmin_give_torchs_indices_of_the_first_extreme(name: str, values: str) -> None:
    # A NaN counts as the greatest and as the least, as in PyTorch; ties give the first index.
    seen = {}
    for lib in (engine, torch):
        x = lib.tensor(ARG_INPUTS[values], requires_grad=True)
        i = ARGS[name](lib, x)
        seen[lib.__name__] = (tuple(i.shape), str(i.dtype).split(".")[-1], i.requires_grad, i.numpy().tolist())
    assert seen["engine"] == seen["torch"]


def test_an_index_found_along_the_only_dim_is_a_tensor_of_its_own_as_in_torch() -> None:
    # A review found it a NumPy scalar inside: refused by view, +=, item assignment and copy_.
    seen = []
    for lib in (engine, torch):
        i = lib.tensor([1.0, 3.0, 2.0]).argmax(0)
        j = lib.tensor([1.0, 3.0, 2.0]).argmin(-1)
        i += 1
        j[...] = 5
        seen.append((i.view(1).tolist(), j.tolist(), type(i.numpy()).__name__, i.dtype == lib.int64))
    assert seen[0] == seen[1]


ARG_REFUSALS = {
    "argmax of nothing": (IndexError, lambda lib: lib.tensor(np.zeros((0, 3))).argmax()),
    "argmin along an empty dim": (IndexError, lambda lib: lib.tensor(np.zeros((0, 3))).argmin(0)),
    "argmax of bools": (RuntimeError, lambda lib: lib.tensor([True, False]).argmax()),
    "argmax past the last dim": (IndexError, lambda lib: lib.tensor([[1.0]]).argmax(2)),
    "argmax along a float": (TypeError, lambda lib: lib.tensor([[1.0]]).argmax(1.0)),
    "argmax along a tuple": (TypeError, lambda lib: lib.tensor([[1.0]]).argmax((0, 1))),
}


@pytest.mark.parametrize("name", ARG_REFUSALS)
def test_argmax_and_argmin_refuse_what_torch_refuses_in_its_words(name: str) -> None:
    said = refusals(*ARG_REFUSALS[name])
    assert said[0] == said[1]
    assert engine.argmax(engine.tensor([[1.0, 2.0]]), 1).tolist() == [1]  # the empty one along dim 1 answers
    assert engine.tensor(np.zeros((0, 3))).argmax(1).tolist() == torch.zeros(0, 3).argmax(1).tolist()


FACTORIES = {
    "zeros(2, 3)": lambda lib: lib.zeros(2, 3),
    "zeros((2, 3))": lambda lib: lib.zeros((2, 3)),
    "zeros([2])": lambda lib: lib.zeros([2]),
    "zeros(())": lambda lib: lib.zeros(()),
    "zeros(0)": lambda lib: lib.zeros(0),
    "zeros(2, dtype=int64)": lambda lib: lib.zeros(2, dtype=lib.int64),
    "zeros(2, dtype=bool)": lambda lib: lib.zeros(2, dtype=lib.bool),
    "ones(3, requires_grad=True)": lambda lib: lib.ones(3, requires_grad=True),
    "ones(2, 2, dtype=float64)": lambda lib: lib.ones(2, 2, dtype=lib.float64),
    "full((2,), 3)": lambda lib: lib.full((2,), 3),
    "full((2, 1), 2.5)": lambda lib: lib.full((2, 1), 2.5),
    "full([2], True)": lambda lib: lib.full([2], True),
    "full((2,), 1, dtype=float64, requires_grad=True)": lambda lib: lib.full(
        (2,), 1, dtype=lib.float64, requires_grad=True
    ),
    "eye(3)": lambda lib: lib.eye(3),
    "eye(2, 3)": lambda lib: lib.eye(2, 3),
    "eye(2, dtype=int64)": lambda lib: lib.eye(2, dtype=lib.int64),
    "eye(0)": lambda lib: lib.eye(0),
    "arange(5)": lambda lib: lib.arange(5),
    "arange(2, 9, 3)": lambda lib: lib.arange(2, 9, 3),
    "arange(10, 0, -3)": lambda lib: lib.arange(10, 0, -3),
    "arange(0, 1, 0.25)": lambda lib: lib.arange(0, 1, 0.25),
    "arange(2.5)": lambda lib: lib.arange(2.5),
    "arange(5, dtype=float32, requires_grad=True)": lambda lib: lib.arange(5, dtype=lib.float32, requires_grad=True),
    "arange(3, 3)": lambda lib: lib.arange(3, 3),
    "linspace(0, 1, 5)": lambda lib: lib.linspace(0, 1, 5),
    "linspace(-1, 1, 3, requires_grad=True)": lambda lib: lib.linspace(-1, 1, 3, requires_grad=True),
    "linspace(0, 1, 1)": lambda lib: lib.linspace(0, 1, 1),
    "linspace(0, 1, 0)": lambda lib: lib.linspace(0, 1, 0),
    "linspace(2, 2, 3)": lambda lib: lib.linspace(2, 2, 3),
    "linspace(0, 10, 4, dtype=int64)": lambda lib: lib.linspace(0, 10, 4, dtype=lib.int64),
    "linspace(-7, 3, 6, dtype=int64)": lambda lib: lib.linspace(-7, 3, 6, dtype=lib.int64),
    # PyTorch's other names of the dtypes
    "zeros(2, dtype=double)": lambda lib: lib.zeros(2, dtype=lib.double),
    "tensor([1, 2], dtype=float)": lambda lib: lib.tensor([1, 2], dtype=lib.float),
    "tensor([1.5], dtype=long)": lambda lib: lib.tensor([1.5], dtype=lib.long),
    # and Python's own types, which PyTorch takes too (a review found them refused)
    "tensor([1], dtype=float)": lambda lib: lib.tensor([1], dtype=float),
    "zeros(2, dtype=int)": lambda lib: lib.zeros(2, dtype=int),
    "ones(2, dtype=bool)": lambda lib: lib.ones(2, dtype=bool),
    "arange(3, dtype=float)": lambda lib: lib.arange(3, dtype=float),
    # int32 from float bounds: PyTorch counts in float64, then steps from int(start) by int(step)
    "arange(0.0, 3.5, dtype=int32)": lambda lib: lib.arange(0.0, 3.5, dtype=lib.int32),
    "arange(1, 4, 1.5, dtype=int32)": lambda lib: lib.arange(1, 4, 1.5, dtype=lib.int32),
    "arange(0.2, 2.9, 1.1, dtype=int32)": lambda lib: lib.arange(0.2, 2.9, 1.1, dtype=lib.int32),
    "arange(-1.5, 2.2, 0.7, dtype=int32)": lambda lib: lib.arange(-1.5, 2.2, 0.7, dtype=lib.int32),
    "arange(5.0, 0.5, -1.5, dtype=int32)": lambda lib: lib.arange(5.0, 0.5, -1.5, dtype=lib.int32),
    "arange(0.5, 3.5, dtype=int64)": lambda lib: lib.arange(0.5, 3.5, dtype=lib.int64),
    "full((2,), 2**31 - 1, dtype=int32)": lambda lib: lib.full((2,), 2**31 - 1, dtype=lib.int32),
    "full((2,), -2.7, dtype=int32)": lambda lib: lib.full((2,), -2.7, dtype=lib.int32),
    "full((2,), 2**63, dtype=float32)": lambda lib: lib.full((2,), 2**63, dtype=lib.float32),
}


@pytest.mark.parametrize("name", FACTORIES)
def test_factories_make_torchs_leaves(name: str) -> None:
    made = {}
    for lib in (engine, torch):
        t = FACTORIES[name](lib)
        made[lib.__name__] = (repr(t), t.is_leaf, t.grad_fn)
    assert made["engine"] == made["torch"]


FACTORY_REFUSALS = {
    "zeros(2, -1)": (RuntimeError, lambda lib: lib.zeros(2, -1)),
    "ones(2, -1)": (RuntimeError, lambda lib: lib.ones(2, -1)),
    "ones(True)": (TypeError, lambda lib: lib.ones(True)),
    "zeros(2, 3.0)": (TypeError, lambda lib: lib.zeros(2, 3.0)),
    "full(3, 1.0)": (TypeError, lambda lib: lib.full(3, 1.0)),
    "full((-2,), 1.0)": (RuntimeError, lambda lib: lib.full((-2,), 1.0)),
    "eye(-1)": (RuntimeError, lambda lib: lib.eye(-1)),
    "arange(0, 1, 0)": (RuntimeError, lambda lib: lib.arange(0, 1, 0)),
    "arange(0, 1, 0.3, dtype=int64)": (ValueError, lambda lib: lib.arange(0, 1, 0.3, dtype=lib.int64)),
    "arange(1, 0, 1)": (RuntimeError, lambda lib: lib.arange(1, 0, 1)),
    "arange(nan)": (RuntimeError, lambda lib: lib.arange(float("nan"))),
    "arange(0, inf)": (RuntimeError, lambda lib: lib.arange(0, float("inf"))),
    "linspace(0, 1, -1)": (RuntimeError, lambda lib: lib.linspace(0, 1, -1)),
    "zeros(2, dtype=int64, requires_grad=True)": (
        RuntimeError,
        lambda lib: lib.zeros(2, dtype=lib.int64, requires_grad=True),
    ),
    "arange(5, requires_grad=True)": (RuntimeError, lambda lib: lib.arange(5, requires_grad=True)),
    "full((2,), 1, requires_grad=True)": (RuntimeError, lambda lib: lib.full((2,), 1, requires_grad=True)),
    # A review found these told in NumPy's words, or not refused
    "zeros()": (TypeError, lambda lib: lib.zeros()),
    "arange(5, dtype=bool)": (NotImplementedError, lambda lib: lib.arange(5, dtype=lib.bool)),
    "linspace(0, 1, 3, dtype=bool)": (NotImplementedError, lambda lib: lib.linspace(0, 1, 3, dtype=lib.bool)),
    "eye(2.0)": (TypeError, lambda lib: lib.eye(2.0)),
    "arange(-5, inf, dtype=int64)": (RuntimeError, lambda lib: lib.arange(-5, float("inf"), dtype=lib.int64)),
    "arange(True, nan)": (RuntimeError, lambda lib: lib.arange(True, float("nan"))),
    "arange(-3.6, -3.75, 1, dtype=int64)": (RuntimeError, lambda lib: lib.arange(-3.6, -3.75, 1, dtype=lib.int64)),
    "full((2,), nan, dtype=int64)": (RuntimeError, lambda lib: lib.full((2,), float("nan"), dtype=lib.int64)),
    # numbers past int32's range, which NumPy would wrap or refuse in its own words (a review)
    "full((2,), 2**31, dtype=int32)": (RuntimeError, lambda lib: lib.full((2,), 2**31, dtype=lib.int32)),
    "full((2,), inf, dtype=int32)": (RuntimeError, lambda lib: lib.full((2,), float("inf"), dtype=lib.int32)),
    "linspace(0, 2**40, 3, dtype=int32)": (RuntimeError, lambda lib: lib.linspace(0, 2**40, 3, dtype=lib.int32)),
    "full((2,), 2**64, dtype=float64)": (OverflowError, lambda lib: lib.full((2,), 2**64, dtype=lib.float64)),
}


@pytest.mark.parametrize("name", FACTORY_REFUSALS)
def test_factories_refuse_what_torch_refuses_in_its_words(name: str) -> None:
    said = refusals(*FACTORY_REFUSALS[name])
    assert said[0] == said[1]


def _within_a_rounding(ours: Any, theirs: Any, ends: tuple[float, ...]) -> None:
    # PyTorch's vectorized kernels count each lane from its vector's first element, so its last
    # bits depend on the CPU's vector width; ours round start + i·step once. Both are within a
    # rounding or two of the largest end.
    assert ours.shape == tuple(theirs.shape) and str(ours.dtype) == str(theirs.dtype)
    eps = np.finfo(ours.numpy().dtype).eps
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=0, atol=2 * eps * max(map(abs, ends)))


finite = st.floats(-1e3, 1e3, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(start=finite, span=st.floats(0.5, 500), step=st.floats(0.01, 10), down=st.booleans(), wide=st.booleans())
def test_arange_of_floats_has_torchs_length_and_values_within_a_rounding(
    start: float, span: float, step: float, down: bool, wide: bool
) -> None:
    step = -step if down else step
    end = start + span * (1 if step > 0 else -1)
    dtypes = (engine.float64, torch.float64) if wide else (None, None)
    ours, theirs = engine.arange(start, end, step, dtype=dtypes[0]), torch.arange(start, end, step, dtype=dtypes[1])
    _within_a_rounding(ours, theirs, (start, end))


ends = st.one_of(finite, st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**62), 2**62))


@settings(max_examples=400, deadline=None)
@given(start=ends, end=ends, steps=st.integers(2, 400), dtype=st.sampled_from(["float32", "float64", "int64"]))
def test_linspace_is_torchs_to_the_last_bit(start: float, end: float, steps: int, dtype: str) -> None:
    # PyTorch fuses start + step·i into one multiply-add, which rounds once: a review found
    # linspace(0, 1, 101) off in the last bit of some elements, and integer ones off by one.
    made = []
    for lib in (engine, torch):
        try:
            made.append(lib.linspace(start, end, steps, dtype=getattr(lib, dtype)).tolist())
        except RuntimeError as error:
            made.append(str(error))
    assert str(made[0]) == str(made[1])


FUNCTIONAL = {
    "F.relu(x)": lambda F, lib, x: F.relu(x),
    "F.sigmoid(x)": lambda F, lib, x: F.sigmoid(x),
    "F.tanh(x)": lambda F, lib, x: F.tanh(x),
    "F.softmax(x, dim=0)": lambda F, lib, x: F.softmax(x, dim=0),
    "F.log_softmax(x, 1)": lambda F, lib, x: F.log_softmax(x, 1),
    "F.mse_loss(x, 2 * x.detach())": lambda F, lib, x: F.mse_loss(x, 2 * x.detach()),
    "F.cross_entropy(x, labels)": lambda F, lib, x: F.cross_entropy(x, lib.tensor([2, 0])),
    "F.cross_entropy(x, labels, reduction='mean')": lambda F, lib, x: F.cross_entropy(
        x, lib.tensor([1, -100]), reduction="mean"
    ),
    "F.cross_entropy(x, labels, ignore_index=0)": lambda F, lib, x: F.cross_entropy(
        x, lib.tensor([1, 0]), ignore_index=0
    ),
    "F.relu(x, inplace=False)": lambda F, lib, x: F.relu(x, inplace=False),
    "F.softmax(x, 1, dtype=None)": lambda F, lib, x: F.softmax(x, 1, dtype=None),
    "F.mse_loss(x, 1, reduction='mean')": lambda F, lib, x: F.mse_loss(x, x.detach() * 0 + 1, reduction="mean"),
}


@pytest.mark.parametrize("name", FUNCTIONAL)
def test_nn_functional_has_torchs_activations_and_losses(name: str) -> None:
    seen = {}
    for lib in (engine, torch):
        x = lib.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype=lib.float64, requires_grad=True)
        y = FUNCTIONAL[name](lib.nn.functional, lib, x)
        y.backward(lib.ones_like(y))
        seen[lib.__name__] = (y.grad_fn.name(), y.detach().numpy(), x.grad.numpy())
    assert seen["engine"][0] == seen["torch"][0]
    for ours, theirs in zip(seen["engine"][1:], seen["torch"][1:], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


SOFTMAX_DIMS = {
    "softmax(x, 1.0)": (TypeError, lambda lib, x: lib.softmax(x, 1.0)),
    "softmax(x, True)": (TypeError, lambda lib, x: lib.softmax(x, True)),
    "x.log_softmax(1.0)": (TypeError, lambda lib, x: x.log_softmax(1.0)),
    "F.softmax(x, 1.0)": (TypeError, lambda lib, x: lib.nn.functional.softmax(x, 1.0)),
    "F.log_softmax([1.0], 0)": (AttributeError, lambda lib, x: lib.nn.functional.log_softmax([1.0], 0)),
}


@pytest.mark.parametrize("name", SOFTMAX_DIMS)
def test_softmax_takes_a_dim_that_is_an_int_numpys_too_as_torch_does(name: str) -> None:
    # A review found a NumPy integer refused with "'numpy.int64' object is not iterable".
    error, call = SOFTMAX_DIMS[name]
    said = refusals(error, lambda lib: call(lib, lib.ones(2, 3)))
    assert said[0] == said[1]
    for lib in (engine, torch):
        x = lib.tensor([[1.0, 2.0, 4.0]])
        taken = [lib.softmax(x, np.int64(1)), lib.nn.functional.log_softmax(x, np.int64(0)), x.softmax(dim=np.int8(-1))]
        assert [tuple(t.shape) for t in taken] == [(1, 3)] * 3


CROSS_ENTROPY_REFUSALS = {
    "a label of -100 where another is ignored": (
        IndexError,
        lambda lib, x: lib.nn.functional.cross_entropy(x, lib.tensor([1, -100]), ignore_index=2),
    ),
    "ignore_index=1.0": (
        TypeError,
        lambda lib, x: lib.nn.functional.cross_entropy(x, lib.tensor([1, 0]), ignore_index=1.0),
    ),
    # Shapes: the engine said so in its own words (a review).
    "three labels for two rows": (ValueError, lambda lib, x: lib.nn.functional.cross_entropy(x, lib.tensor([1, 0, 2]))),
    "a 0-d label for two rows": (ValueError, lambda lib, x: lib.nn.functional.cross_entropy(x, lib.tensor(1))),
    "labels of two dims": (RuntimeError, lambda lib, x: lib.nn.functional.cross_entropy(x, lib.tensor([[1], [0]]))),
    "two labels for one row": (ValueError, lambda lib, x: lib.nn.functional.cross_entropy(x[0], lib.tensor([1, 0]))),
}


@pytest.mark.parametrize("name", CROSS_ENTROPY_REFUSALS)
def test_cross_entropy_refuses_what_torch_refuses_in_its_words(name: str) -> None:
    error, call = CROSS_ENTROPY_REFUSALS[name]
    said = refusals(error, lambda lib: call(lib, lib.ones(2, 3)))
    assert said[0] == said[1]


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_the_tensor_method_softmax_needs_its_dim_as_torchs_does(name: str) -> None:
    # x.softmax() took the last dim; PyTorch's method refuses it (torch.nn.functional's warns, below).
    said = refusals(TypeError, lambda lib: getattr(lib.tensor([1.0, 2.0]), name)())
    assert said[0] == said[1]


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 3, 4), (2, 3, 4, 5)])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_without_a_dim_chooses_torchs_and_warns_in_its_words(name: str, shape: tuple[int, ...]) -> None:
    data = np.random.default_rng(0).standard_normal(shape)
    answers, said = [], []
    for lib in (engine, torch):
        with pytest.warns(UserWarning) as caught:
            answers.append(getattr(lib.nn.functional, name)(lib.tensor(data)).numpy())
        said.append([str(w.message) for w in caught])
    np.testing.assert_allclose(answers[0], answers[1], rtol=1e-6)
    assert said[0] == said[1]


RANDOM = {
    "rand(2, 3)": lambda lib: lib.rand(2, 3),
    "rand((4,), dtype=float64)": lambda lib: lib.rand((4,), dtype=lib.float64),
    "randn(3, requires_grad=True)": lambda lib: lib.randn(3, requires_grad=True),
    "randn([2, 2])": lambda lib: lib.randn([2, 2]),
    "randn(())": lambda lib: lib.randn(()),
    "randint(5, (3,))": lambda lib: lib.randint(5, (3,)),
    "randint(2, 5, (2, 2))": lambda lib: lib.randint(2, 5, (2, 2)),
    "randint(2, 5, (2,), dtype=float32)": lambda lib: lib.randint(2, 5, (2,), dtype=lib.float32),
    # makemore's: a generator of its own, and samples drawn with it
    "randn((27, 2), generator=g)": lambda lib: lib.randn((27, 2), generator=lib.Generator().manual_seed(2147483647)),
    "multinomial(p, 5, replacement=True)": lambda lib: lib.multinomial(lib.tensor([0.2, 0.3, 0.5]), 5, True),
    "multinomial(rows, 2)": lambda lib: lib.multinomial(lib.tensor([[0.2, 0.8, 0.0], [1.0, 1.0, 1.0]]), 2),
    "multinomial(p, 1, generator=g)": lambda lib: lib.multinomial(
        lib.tensor([0.5, 0.5], requires_grad=True), num_samples=1, replacement=True, generator=lib.Generator()
    ),
}


@pytest.mark.parametrize("name", RANDOM)
def test_random_tensors_have_torchs_shapes_dtypes_and_flags_and_repeat_from_a_seed(name: str) -> None:
    made = {}
    for lib in (engine, torch):
        lib.manual_seed(7)
        t = RANDOM[name](lib)
        made[lib.__name__] = (tuple(t.shape), str(t.dtype).split(".")[-1], t.requires_grad, t.is_leaf)
    assert made["engine"] == made["torch"]
    engine.manual_seed(7)
    first = RANDOM[name](engine).tolist()
    engine.manual_seed(7)
    assert RANDOM[name](engine).tolist() == first  # the numbers are NumPy's, so only repeat themselves


def test_random_tensors_are_drawn_from_their_distributions() -> None:
    # Means and spreads of 10^5 draws, each within 5 standard errors of the distribution's.
    engine.manual_seed(0)
    n = 100_000
    uniform, normal = engine.rand(n).numpy(), engine.randn(n).numpy()
    integers = engine.randint(-2, 3, (n,)).numpy()
    assert uniform.min() >= 0 and uniform.max() < 1 and abs(uniform.mean() - 0.5) < 5 * (1 / 12) ** 0.5 / n**0.5
    assert abs(normal.mean()) < 5 / n**0.5 and abs(normal.std() - 1) < 5 / (2 * n) ** 0.5
    assert set(np.unique(integers)) == {-2, -1, 0, 1, 2} and abs(integers.mean()) < 5 * 2**0.5 / n**0.5


def test_multinomial_draws_each_index_as_often_as_its_weight_and_never_twice_without_replacement() -> None:
    g = engine.Generator().manual_seed(3)
    n = 100_000
    weights = np.array([1.0, 2.0, 0.0, 5.0])  # normalized by multinomial, as torch's
    drawn = engine.multinomial(engine.tensor(weights.tolist()), n, replacement=True, generator=g).numpy()
    counts = np.bincount(drawn, minlength=4)
    p = weights / weights.sum()
    assert counts[2] == 0 and np.all(np.abs(counts - n * p) < 5 * np.sqrt(n * p * (1 - p)) + 1e-9)
    rows = engine.multinomial(engine.tensor([[1.0, 1.0, 1.0, 0.0]] * 50), 3, generator=g).numpy()
    assert all(sorted(row) == [0, 1, 2] for row in rows.tolist())  # each of the three non-zero, once
    again = engine.Generator().manual_seed(3)
    assert (
        engine.multinomial(engine.tensor(weights.tolist()), n, True, generator=again).numpy().tolist() == drawn.tolist()
    )


def test_sizes_and_bounds_may_be_given_by_name_as_in_torch() -> None:
    # A review found randint(10, size=(3,)), a notebook's usual call, refused.
    made = []
    for lib in (engine, torch):
        made.append(
            [
                tuple(t.shape)
                for t in (
                    lib.randint(10, size=(3,)),
                    lib.randint(low=2, high=5, size=(2,)),
                    lib.randint(high=5, size=(2,)),
                    lib.rand(size=(2, 3)),
                    lib.randn(size=[2]),
                    lib.zeros(size=(2,)),
                    lib.ones(size=()),
                )
            ]
        )
    assert made[0] == made[1]


RANDOM_REFUSALS = {
    "randn(-1)": (RuntimeError, lambda lib: lib.randn(-1)),
    "rand(2, dtype=int64)": (NotImplementedError, lambda lib: lib.rand(2, dtype=lib.int64)),
    "randn(2, dtype=int64)": (NotImplementedError, lambda lib: lib.randn(2, dtype=lib.int64)),
    "randint(5, 2, (3,))": (RuntimeError, lambda lib: lib.randint(5, 2, (3,))),
    "randint(0, (3,))": (RuntimeError, lambda lib: lib.randint(0, (3,))),
    "randint(5, 3)": (TypeError, lambda lib: lib.randint(5, 3)),
    "randint(2, 5, (2,), requires_grad=True)": (RuntimeError, lambda lib: lib.randint(2, 5, (2,), requires_grad=True)),
    "randint(10, (3,), dtype=bool)": (RuntimeError, lambda lib: lib.randint(10, (3,), dtype=lib.bool)),
    "manual_seed(2**64)": (ValueError, lambda lib: lib.manual_seed(2**64)),
    "multinomial(3 of 2 without replacement)": (RuntimeError, lambda lib: lib.multinomial(lib.tensor([0.5, 0.5]), 3)),
    "multinomial(a negative weight)": (RuntimeError, lambda lib: lib.multinomial(lib.tensor([-0.5, 0.5]), 1)),
    "multinomial(weights of sum 0)": (RuntimeError, lambda lib: lib.multinomial(lib.tensor([0.0, 0.0]), 1)),
    "multinomial(integers)": (RuntimeError, lambda lib: lib.multinomial(lib.tensor([1, 2]), 1)),
    "multinomial(a number)": (RuntimeError, lambda lib: lib.multinomial(lib.tensor(0.5), 1)),
    "multinomial(0 samples)": (RuntimeError, lambda lib: lib.multinomial(lib.tensor([0.5, 0.5]), 0)),
    "multinomial(nan)": (RuntimeError, lambda lib: lib.multinomial(lib.tensor([float("nan"), 1.0]), 1)),
    "zeros(2, size=(3,))": (TypeError, lambda lib: lib.zeros(2, size=(3,))),
}


@pytest.mark.parametrize("name", RANDOM_REFUSALS)
def test_random_tensors_refuse_what_torch_refuses_in_its_words(name: str) -> None:
    said = refusals(*RANDOM_REFUSALS[name])
    assert said[0] == said[1]


LEGACY = {
    "Tensor([1, 2])": lambda lib: lib.Tensor([1, 2]),
    "Tensor([[1, 2], [3, 4]])": lambda lib: lib.Tensor([[1, 2], [3, 4]]),
    "Tensor((1.5, True))": lambda lib: lib.Tensor((1.5, True)),
    "Tensor(2, 3) * 0": lambda lib: lib.Tensor(2, 3) * 0,  # PyTorch leaves the memory as it was
    "Tensor(0)": lambda lib: lib.Tensor(0),
    "Tensor()": lambda lib: lib.Tensor(),
    "Tensor(tensor([1, 2]))": lambda lib: lib.Tensor(lib.tensor([1, 2])),
    # a NumPy array of any dtype becomes the default float dtype (a review found it kept as it was)
    "Tensor(int64 array)": lambda lib: lib.Tensor(np.array([1, 2])),
    "Tensor(float64 array)": lambda lib: lib.Tensor(np.array([1.0, 2.5])),
    "Tensor(bool array)": lambda lib: lib.Tensor(np.array([[True, False]])),
    "Tensor(uint8 array)": lambda lib: lib.Tensor(np.array([1, 2], dtype=np.uint8)),
    "Tensor(0-d array)": lambda lib: lib.Tensor(np.array(2.5)),
    "Tensor(float64 array) * ones": lambda lib: lib.Tensor(np.array([1.0, 2.0])) * lib.ones(2),
    "Tensor(Size([2, 3])) * 0": lambda lib: lib.Tensor(lib.Size([2, 3])) * 0,
    "Tensor(range(3))": lambda lib: lib.Tensor(range(3)),
    "Tensor(2, device='cpu') * 0": lambda lib: lib.Tensor(2, device="cpu") * 0,
}


@pytest.mark.parametrize("name", LEGACY)
def test_the_legacy_constructor_makes_torchs_tensors(name: str) -> None:
    # Older tutorials write torch.Tensor([1, 2]): a review found it built a broken object.
    made = [LEGACY[name](lib) for lib in (engine, torch)]
    assert made[0].tolist() == made[1].tolist()
    assert str(made[0].dtype).split(".")[-1] == str(made[1].dtype).split(".")[-1] and not made[0].requires_grad


@pytest.mark.parametrize(
    "build",
    [
        lambda lib: lib.Tensor(3.5),
        lambda lib: lib.Tensor([1.0, 2.0], True),
        lambda lib: lib.Tensor(2, -1),
        lambda lib: lib.Tensor([1.0], requires_grad=True),
        lambda lib: lib.Tensor(np.array(["a"])),
        lambda lib: lib.Tensor(np.array([1, 2], dtype=object)),
        lambda lib: lib.Tensor(np.array([1, 2]), 3),
        lambda lib: lib.Tensor(np.float64(2.5)),
    ],
)
def test_the_legacy_constructor_refuses_what_torch_refuses(build: Any) -> None:
    kinds = []
    for lib in (engine, torch):
        with pytest.raises((TypeError, RuntimeError)) as caught:
            build(lib)
        kinds.append((type(caught.value), str(caught.value).split(" - ")[0].split(":")[0]))
    assert kinds[0] == kinds[1]  # the type and the words up to PyTorch's list of every overload


INTEGER_TENSORS = {  # n = torch.tensor(3) where an int goes, as PyTorch's parser takes it (a review)
    "zeros(n)": lambda lib, n, x: lib.zeros(n),
    "zeros of a 1-d n": lambda lib, n, x: lib.zeros(lib.tensor([3])),
    "zeros((n, 2))": lambda lib, n, x: lib.zeros((n, 2)),
    "ones(2, n)": lambda lib, n, x: lib.ones(2, n),
    "full((n,), 1.5)": lambda lib, n, x: lib.full((n,), 1.5),
    "eye(n)": lambda lib, n, x: lib.eye(n),
    "linspace(0, 1, n)": lambda lib, n, x: lib.linspace(0, 1, n),
    "arange(n)": lambda lib, n, x: lib.arange(n),
    "randn(n) of a seed": lambda lib, n, x: lib.randn(n, generator=lib.Generator().manual_seed(0)).shape,
    "x.view(n, -1)": lambda lib, n, x: x.view(n, -1),
    "x.reshape(n * 2)": lambda lib, n, x: x.reshape(n * 2),
    "x.permute(n - 2, n - 3)": lambda lib, n, x: x.permute(n - 2, n - 3),
    "x.argmax(n - 2)": lambda lib, n, x: x.argmax(n - 2),
    "x.unsqueeze(n - 3)": lambda lib, n, x: x.unsqueeze(n - 3),
    "x.squeeze(n - 3)": lambda lib, n, x: x.squeeze(n - 3),
    "x.transpose(n - 3, 1)": lambda lib, n, x: x.transpose(n - 3, 1),
    "x.flatten(n - 3)": lambda lib, n, x: x.flatten(n - 3),
    "x.sum(n - 2)": lambda lib, n, x: x.sum(n - 2),
    "softmax(x, n - 2)": lambda lib, n, x: lib.softmax(x, n - 2).argmax(1),
    "cat((x, x), n - 2)": lambda lib, n, x: lib.cat((x, x), n - 2),
    "multinomial(ones(3), n - 1) of a seed": lambda lib, n, x: lib.multinomial(lib.ones(3), n - 1).shape,
    "one_hot(labels, n)": lambda lib, n, x: lib.nn.functional.one_hot(lib.tensor([0, 2]), n),
    # refused
    "zeros of a float tensor": lambda lib, n, x: lib.zeros(lib.tensor(3.0)),
    "x.unsqueeze of a 1-d n": lambda lib, n, x: x.unsqueeze(lib.tensor([0])),
    "x.argmax of a float tensor": lambda lib, n, x: x.argmax(lib.tensor(1.0)),
    "eye of two elements": lambda lib, n, x: lib.eye(lib.tensor([2, 2])),
    "multinomial(ones(3), 2.0)": lambda lib, n, x: lib.multinomial(lib.ones(3), 2.0),
    "one_hot(labels, 3.0)": lambda lib, n, x: lib.nn.functional.one_hot(lib.tensor([0, 2]), 3.0),
}


@pytest.mark.parametrize("name", INTEGER_TENSORS)
def test_an_integer_tensor_of_one_element_is_taken_where_an_int_goes_as_in_torch(name: str) -> None:
    said: list[Any] = []
    for lib in (engine, torch):
        try:
            out = INTEGER_TENSORS[name](lib, lib.tensor(3), lib.arange(6.0).view(2, 3))
            said.append(tuple(out) if isinstance(out, tuple) else (str(out.dtype), out.tolist()))
        except TypeError as error:
            said.append(str(error))
    assert said[0] == said[1]
