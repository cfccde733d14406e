"""torch.device and torch.cuda as a PyTorch built without CUDA has them: the CPU is the one
device, so that code written for either runs (`x.to("cpu")`, `device=...` given to a factory,
`"cuda" if torch.cuda.is_available() else "cpu"`), and a GPU is refused in PyTorch's words.
"""

from __future__ import annotations

import re
from typing import Any

NO_CUDA = "Torch not compiled with CUDA enabled"
# The device types PyTorch knows, in the order its message lists them.
KNOWN = (
    "cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga", "maia", "xla", "lazy",
    "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone",
)  # fmt: skip


class device:
    """`torch.device`: any type PyTorch knows may be named, but only the CPU holds tensors."""

    __slots__ = ("index", "type")

    def __init__(self, type: Any, index: int | None = None) -> None:  # `type`: PyTorch's name
        written = str(type)  # "cpu", "cuda:0", or a device, as str(device) writes it
        parts = re.fullmatch(r"([a-z_]+)(?::(\d+))?", written, re.ASCII)
        if parts is None:
            raise RuntimeError(f"Invalid device string: '{written}'")
        if parts[1] not in KNOWN:
            raise RuntimeError(f"Expected one of {', '.join(KNOWN)} device type at start of device string: {written}")
        self.type: str = parts[1]
        self.index = int(parts[2]) if parts[2] else index

    def __repr__(self) -> str:
        return (
            f"device(type='{self.type}')" if self.index is None else f"device(type='{self.type}', index={self.index})"
        )

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, device) and (other.type, other.index) == (self.type, self.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


Device = device  # for the functions whose parameter `device` hides the class, as in PyTorch
CPU = device("cpu")


def on_cpu(where: Any) -> None:
    """Refuse any device but the CPU, as a PyTorch built for the CPU alone refuses a tensor there."""
    if where is None:
        return
    kind = (where if isinstance(where, Device) else Device(where)).type
    if kind == "cuda":
        raise AssertionError(NO_CUDA)
    if kind != "cpu":
        raise RuntimeError(f"PyTorch is not linked with support for {kind} devices")
