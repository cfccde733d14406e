"""Every cell of the seed notebook runs unchanged with `import engine as torch`.

The truth is PyTorch itself: each cell is run twice, once with torch and once with the
engine in its place, and both must print the same text and leave the same numbers.
"""

from __future__ import annotations

import contextlib
import io
import sys
import types
from typing import Any

import numpy as np
import pytest
from seed_cells import seed_cells

import engine

torch = pytest.importorskip("torch")


def _run(cell: str, module: types.ModuleType) -> tuple[str, dict[str, Any]]:
    saved = sys.modules["torch"]
    sys.modules["torch"] = module  # the cell's own `import torch` gets `module`
    # A notebook cell may rely on an earlier cell's `import torch`.
    namespace: dict[str, Any] = {"__name__": "seed_cell", "torch": module}
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(cell, "<seed cell>", "exec"), namespace)  # our own test input
    finally:
        sys.modules["torch"] = saved
    return out.getvalue(), namespace


def _tensors(namespace: dict[str, Any], kind: type) -> dict[str, Any]:
    return {name: value for name, value in namespace.items() if isinstance(value, kind)}


@pytest.mark.parametrize("index", range(8))
def test_seed_cell_prints_what_torch_prints(index: int) -> None:
    cells = seed_cells()
    assert len(cells) == 8
    expected, _ = _run(cells[index], torch)
    got, _ = _run(cells[index], engine)
    assert got == expected


@pytest.mark.parametrize("index", range(8))
def test_seed_cell_leaves_torch_values_and_grads(index: int) -> None:
    cell = seed_cells()[index]
    _, theirs = _run(cell, torch)
    _, ours = _run(cell, engine)
    expected = _tensors(theirs, torch.Tensor)
    got = _tensors(ours, engine.Tensor)
    assert got.keys() == expected.keys()
    for name, t in expected.items():
        mine = got[name]
        assert mine.dtype.name == str(t.dtype).removeprefix("torch."), name
        assert mine.is_leaf == t.is_leaf and mine.requires_grad == t.requires_grad, name
        np.testing.assert_allclose(mine.detach().numpy(), t.detach().numpy(), rtol=1e-6, err_msg=name)
        if t.is_leaf or t.retains_grad:
            assert (mine.grad is None) == (t.grad is None), name
            if t.grad is not None:
                np.testing.assert_allclose(mine.grad.numpy(), t.grad.numpy(), rtol=1e-6, err_msg=name)
