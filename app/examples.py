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


def _notebook_function(outputs: list[str], **params: Any) -> dict[str, Any]:
    """The notebook's Function of x and y, returning `outputs` of its forward."""
    return {
        "inputs": ["x", "y"],
        "params": params,
        "forward": CUSTOM_FORWARD,
        "outputs": outputs,
        "save_for_backward": ["x", "y"],
        "backward": CUSTOM_BACKWARD,
    }


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
            "functions": {"CustomFunction": _notebook_function(["z"])},
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
        "where only z is used, and the check warns that it would be wrong where they get a gradient.",
        {
            "leaves": {"x": X, "y": Y},
            "functions": {"ExtendedCustomFunction": _notebook_function(["z", "xx", "yy", "xy"])},
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
        "with the call and gets no gradient. The service prints nothing: what the notebook prints "
        "with it (xx, yy and xy inside forward, grad_output in backward) is not in the answer; the "
        "first example's nodes xx, yy and xy have the same values, and grad_output is ones, the "
        "gradient sum(z) sends z.",
        {
            "leaves": {"x": X, "y": Y},
            "functions": {"CustomFunction": _notebook_function(["z"], print_debug_info=True)},
            "nodes": [
                {"name": "z", "expr": "CustomFunction(x, y)"},
                {"name": "s", "expr": "sum(z)"},
            ],
            "backward": {"root": "s"},
        },
    ),
}

SEED_EXAMPLES = [name for name in EXAMPLES if name.startswith("seed_")]

# Beyond the notebook: what the check catches, where it abstains, a bigger graph, an error.
EXAMPLES.update(
    {
        "wrong_backward": _example(
            "A hand-written backward with a mistake the check catches",
            "y = x² · sin(x), with the product rule's second term dropped from the backward: the check "
            "names the function, the input and the worst element.",
            {
                "dtype": "float64",
                "leaves": {"x": {"value": [0.5, 1.0, 2.0], "requires_grad": True}},
                "functions": {
                    "XSquaredSin": {
                        "inputs": ["x"],
                        "forward": [{"name": "y", "expr": "x * x * sin(x)"}],
                        "outputs": ["y"],
                        "save_for_backward": ["x"],
                        "backward": [{"name": "grad_x", "expr": "grad_y * 2 * x * sin(x)"}],
                    }
                },
                "nodes": [{"name": "y", "expr": "XSquaredSin(x)"}, {"name": "s", "expr": "sum(y)"}],
            },
        ),
        "kink": _example(
            "relu and abs at 0: not differentiable there",
            "At x = 0, relu and abs have a kink: the check lists the element as non-differentiable "
            "instead of failing it, and PyTorch's convention (gradient 0) is what the answer reports.",
            {
                "leaves": {"x": {"value": [-1.0, 0.0, 2.0], "requires_grad": True}},
                "nodes": [{"name": "s", "expr": "sum(relu(x) + abs(x))"}],
            },
        ),
        "mlp": _example(
            "A two-layer MLP with generated weights and a cross-entropy loss",
            "64 inputs of 256 features, a hidden layer of 256 with relu, 10 classes. Too many elements "
            "for a full check: auto mode checks along random directions (fast mode).",
            {
                "leaves": {
                    "X": {"shape": [64, 256], "init": "normal", "seed": 1},
                    "W1": {"shape": [256, 256], "init": "normal", "seed": 2, "scale": 0.0625, "requires_grad": True},
                    "b1": {"shape": [256], "init": "zeros", "requires_grad": True},
                    "W2": {"shape": [256, 10], "init": "normal", "seed": 3, "scale": 0.0625, "requires_grad": True},
                    "b2": {"shape": [10], "init": "zeros", "requires_grad": True},
                    "labels": {"value": [i % 10 for i in range(64)], "dtype": "int64"},
                },
                "nodes": [
                    {"name": "h", "expr": "relu(X @ W1 + b1)"},
                    {"name": "logits", "expr": "h @ W2 + b2"},
                    {"name": "loss", "expr": "cross_entropy(logits, labels)"},
                ],
            },
        ),
        "error_unsaved_tensor": _example(
            "An error: backward uses a tensor it did not save",
            "The answer is a 422 whose loc points at the backward expression and whose message says "
            "which name to add to save_for_backward.",
            {
                "leaves": {"x": {"value": [1.0, 2.0], "requires_grad": True}},
                "functions": {
                    "Cube": {
                        "inputs": ["x"],
                        "forward": [{"name": "y", "expr": "x ** 3"}],
                        "outputs": ["y"],
                        "backward": [{"name": "grad_x", "expr": "grad_y * 3 * x ** 2"}],
                    }
                },
                "nodes": [{"name": "y", "expr": "Cube(x)"}, {"name": "s", "expr": "sum(y)"}],
            },
        ),
    }
)
