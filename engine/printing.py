"""PyTorch's tensor repr, ported from torch/_tensor_str.py to NumPy arrays.

Only torch's default print options are supported (precision 4, threshold 1000,
edgeitems 3, linewidth 80, automatic sci mode), and only the dense, real dtypes
the engine has: float32, float64, int64, int32 and bool. The layout rules (widths,
wrapping, summarisation, suffixes) deliberately follow torch line by line,
quirks included, so that `repr` output matches torch character for character.
"""

from __future__ import annotations

import math

import numpy as np

from engine.dtypes import default_float

PRECISION = 4
THRESHOLD = 1000
EDGEITEMS = 3
LINEWIDTH = 80

_PREFIX = "tensor("
# torch omits the dtype suffix for the default float dtype (float32 unless changed) and for
# int64/bool, whose dtype is implied by the printed values.
_IMPLIED_DTYPES = {np.dtype(np.int64), np.dtype(np.bool_)}


class _Formatter:
    """Chooses int/sci mode and a common element width from the values shown."""

    def __init__(self, values: np.ndarray) -> None:
        self.floating = values.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        flat = values.reshape(-1)

        if not self.floating:
            for value in flat.tolist():
                self.max_width = max(self.max_width, len(f"{value}"))
            return

        nonzero_finite = flat[np.isfinite(flat) & (flat != 0)]
        if nonzero_finite.size == 0:
            return

        self.int_mode = bool(np.all(nonzero_finite == np.ceil(nonzero_finite)))
        # torch decides sci mode on the magnitudes converted to double.
        magnitudes = np.abs(nonzero_finite).astype(np.float64)
        lo, hi = float(magnitudes.min()), float(magnitudes.max())
        self.sci_mode = hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4

        # tolist() widens float32 to Python floats, exactly as torch's .item() does.
        for value in nonzero_finite.tolist():
            if self.sci_mode:
                width = len(f"{value:.{PRECISION}e}")
            elif self.int_mode:
                width = len(f"{value:.0f}") + 1  # room for the trailing "."
            else:
                width = len(f"{value:.{PRECISION}f}")
            self.max_width = max(self.max_width, width)

    def format(self, value: float | int | bool) -> str:
        if not self.floating:
            text = f"{value}"
        elif self.sci_mode:
            text = f"{value:{self.max_width}.{PRECISION}e}"
        elif self.int_mode:
            text = f"{value:.0f}"
            # The "." marks a float tensor; non-finite values are unambiguous already.
            if math.isfinite(value):
                text += "."
        else:
            text = f"{value:.{PRECISION}f}"
        return text.rjust(self.max_width)


def _summarized(values: np.ndarray) -> np.ndarray:
    """The elements a summarised print actually shows (edges of every dimension)."""
    if values.ndim == 0:
        return values
    if values.shape[0] > 2 * EDGEITEMS:
        values = np.concatenate((values[:EDGEITEMS], values[-EDGEITEMS:]))
    if values.ndim == 1:
        return values
    return np.stack([_summarized(row) for row in values])


def _vector_str(values: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    element_length = fmt.max_width + 2  # plus ", "
    per_line = max(1, (LINEWIDTH - indent) // element_length)
    if summarize and values.shape[0] > 2 * EDGEITEMS:
        data = (
            [fmt.format(v) for v in values[:EDGEITEMS].tolist()]
            + [" ..."]
            + [fmt.format(v) for v in values[-EDGEITEMS:].tolist()]
        )
    else:
        data = [fmt.format(v) for v in values.tolist()]
    lines = [", ".join(data[i : i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _tensor_str(values: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    if values.ndim == 0:
        return fmt.format(values.item())
    if values.ndim == 1:
        return _vector_str(values, indent, summarize, fmt)

    def sub(i: int) -> str:
        return _tensor_str(values[i], indent + 1, summarize, fmt)

    n = values.shape[0]
    if summarize and n > 2 * EDGEITEMS:
        slices = [sub(i) for i in range(EDGEITEMS)] + ["..."] + [sub(i) for i in range(n - EDGEITEMS, n)]
    else:
        slices = [sub(i) for i in range(n)]
    # One blank line between slices per dimension below the innermost matrix.
    separator = "," + "\n" * (values.ndim - 1) + " " * (indent + 1)
    return "[" + separator.join(slices) + "]"


def format_values(values: np.ndarray, *, indent: int = 0) -> str:
    """The bracketed body of the repr, with continuation lines indented by `indent`."""
    if values.size == 0:
        return "[]"
    summarize = values.size > THRESHOLD
    fmt = _Formatter(_summarized(values) if summarize else values)
    return _tensor_str(values, indent, summarize, fmt)


def _add_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    parts = [text]
    # torch's arithmetic, off by two when there is no newline; kept for fidelity.
    last_line_len = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > LINEWIDTH:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(values: np.ndarray, *, requires_grad: bool = False, grad_fn_name: str | None = None) -> str:
    """torch's repr of a tensor holding `values`: `tensor([1., 2.], requires_grad=True)`."""
    indent = len(_PREFIX)
    suffixes: list[str] = []
    # Spelled as torch spells it (engine.dtypes), so that the output, suffixes wrapped onto a
    # new line where torch's are, is torch's: code written for it prints the same.
    dtype_suffix = f"dtype=torch.{values.dtype.name}"
    if values.size == 0:
        # Like NumPy, the shape is shown unless it is (0,); an empty tensor has
        # no values to imply int64/bool, so only float32 goes without a dtype.
        if values.ndim != 1:
            suffixes.append(f"size={tuple(values.shape)}")
        if values.dtype != default_float():
            suffixes.append(dtype_suffix)
    elif values.dtype not in _IMPLIED_DTYPES and values.dtype != default_float():
        suffixes.append(dtype_suffix)
    if grad_fn_name is not None:
        suffixes.append(f"grad_fn=<{grad_fn_name}>")
    elif requires_grad:
        suffixes.append("requires_grad=True")
    text = _add_suffixes(_PREFIX + format_values(values, indent=indent), suffixes, indent)
    return text
