"""Ready request bodies for `POST /backward`: the notebook gradlab grew from, cell by cell.

Served by `GET /examples` and offered in Swagger UI's example list. Each body gives the
same numbers as the PyTorch code it is written after.
"""

from __future__ import annotations

from typing import Any

X = {"value": [1.0, 2.0, 3.0], "requires_grad": True}
Y = {"value": [10.0, 20.0, 30.0], "requires_grad": True}

SEED_NODES = [
    {"name": "xx", "expr": "x * x", "retain_grad": True},
    {"name": "yy", "expr": "y * y", "retain_grad": True},
    {"name": "xy", "expr": "x * y", "retain_grad": True},
    {"name": "z", "expr": "10 * (xx + yy + 2 * xy)", "retain_grad": True},
]

# The notebook's custom Function: z = 10 (x + y)^2, with its hand-written backward.
CUSTOM_FORWARD = [
    {"name": "xx", "expr": "x * x"},
    {"name": "yy", "expr": "y * y"},
    {"name": "xy", "expr": "x * y"},
    {"name": "z", "expr": "10 * (xx + yy + 2 * xy)"},
]
CUSTOM_BACKWARD = [
    {"name": "grad_x", "expr": "grad_z * (20 * x + 20 * y)"},
    {"name": "grad_y", "expr": "grad_z * (20 * y + 20 * x)"},
]


def _example(summary: str, description: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"summary": summary, "description": description, "value": body}


EXAMPLES: dict[str, dict[str, Any]] = {
    "seed_sum": _example(
        "s = z.sum(); s.backward()",
        "The first example: gradients of s = sum(10 (x² + y² + 2xy)), with the intermediate "
        "tensors retaining their gradients.",
        {
            "leaves": {"x": X, "y": Y},
            "nodes": [*SEED_NODES, {"name": "s", "expr": "sum(z)"}],
            "backward": {"root": "s"},
        },
    ),
    "seed_upstream_ones": _example(
        "z.backward(torch.ones_like(z))",
        "Backward straight from the vector z, with an upstream gradient of ones: the same "
        "gradients as from s = z.sum().",
        {
            "leaves": {"x": X, "y": Y},
            "nodes": SEED_NODES,
            "backward": {"root": "z", "gradient": [1.0, 1.0, 1.0]},
        },
    ),
    "seed_sum_scaled": _example(
        "s = z.sum() * 0.3; s.backward()",
        "Scaling the loss by 0.3 scales every gradient by 0.3.",
        {
            "leaves": {"x": X, "y": Y},
            "nodes": [*SEED_NODES, {"name": "s", "expr": "sum(z) * 0.3"}],
            "backward": {"root": "s"},
        },
    ),
    "seed_upstream_scaled": _example(
        "z.backward(torch.ones_like(z) * 0.3)",
        "The same as s = z.sum() * 0.3, written as an upstream gradient of 0.3 on z.",
        {
            "leaves": {"x": X, "y": Y},
            "nodes": SEED_NODES,
            "backward": {"root": "z", "gradient": [0.3, 0.3, 0.3]},
        },
    ),
    "seed_custom_function": _example(
        "torch.autograd.Function with a hand-written backward",
        "The first example as one custom function: forward computes z, backward gives "
        "dz/dx = dz/dy = 20 (x + y) times the upstream gradient. The check compares that "
        "formula with finite differences.",
        {
            "leaves": {"x": X, "y": Y},
            "functions": {
                "CustomFunction": {
                    "inputs": ["x", "y"],
                    "forward": CUSTOM_FORWARD,
                    "outputs": ["z"],
                    "save_for_backward": ["x", "y"],
                    "backward": CUSTOM_BACKWARD,
                }
            },
            "nodes": [
                {"name": "z", "expr": "CustomFunction(x, y)"},
                {"name": "s", "expr": "sum(z)"},
            ],
            "backward": {"root": "s"},
        },
    ),
    "seed_multiple_outputs": _example(
        "A Function with four outputs, backward using only grad_z",
        "Forward also returns xx, yy and xy. Backward ignores their gradients: correct here, "
        "where only z is used, and the check warns that it would be wrong if they were used.",
        {
            "leaves": {"x": X, "y": Y},
            "functions": {
                "ExtendedCustomFunction": {
                    "inputs": ["x", "y"],
                    "forward": CUSTOM_FORWARD,
                    "outputs": ["z", "xx", "yy", "xy"],
                    "save_for_backward": ["x", "y"],
                    "backward": CUSTOM_BACKWARD,
                }
            },
            "nodes": [
                {"name": ["z", "xx", "yy", "xy"], "expr": "ExtendedCustomFunction(x, y)"},
                {"name": "s", "expr": "sum(z)"},
            ],
            "backward": {"root": "s"},
        },
    ),
    "seed_two_outputs_used": _example(
        "A Function whose two outputs both receive gradients",
        "y1 = x², y2 = 3x, and z = y1 + 10 y2: backward combines grad_y1 and grad_y2.",
        {
            "leaves": {"x": X},
            "functions": {
                "MultipleOutputsFunction": {
                    "inputs": ["x"],
                    "forward": [{"name": "y1", "expr": "x * x"}, {"name": "y2", "expr": "x * 3"}],
                    "outputs": ["y1", "y2"],
                    "save_for_backward": ["x"],
                    "backward": [{"name": "grad_x", "expr": "grad_y1 * 2 * x + grad_y2 * 3"}],
                }
            },
            "nodes": [
                {"name": ["y1", "y2"], "expr": "MultipleOutputsFunction(x)"},
                {"name": "z", "expr": "y1 + 10 * y2"},
                {"name": "s", "expr": "sum(z)"},
            ],
            "backward": {"root": "s"},
        },
    ),
    "seed_non_tensor_setting": _example(
        "A Function with a non-tensor setting",
        "A parameter that is not a tensor (like the notebook's print_debug_info) travels "
        "with the call and gets no gradient.",
        {
            "leaves": {"x": X, "y": Y},
            "functions": {
                "CustomFunction": {
                    "inputs": ["x", "y"],
                    "params": {"print_debug_info": True},
                    "forward": CUSTOM_FORWARD,
                    "outputs": ["z"],
                    "save_for_backward": ["x", "y"],
                    "backward": CUSTOM_BACKWARD,
                }
            },
            "nodes": [
                {"name": "z", "expr": "CustomFunction(x, y)"},
                {"name": "s", "expr": "sum(z)"},
            ],
            "backward": {"root": "s"},
        },
    ),
}

SEED_EXAMPLES = [name for name in EXAMPLES if name.startswith("seed_")]
