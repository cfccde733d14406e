"""The wire format of `POST /backward`: what a request may hold and what the answer holds.

These models are the API's documentation (Swagger UI shows their descriptions). They check
the JSON's types and shapes; the engine checks what they mean (names, expressions, sizes)
and reports errors with the same kind of location.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictFloat,
    StrictInt,
    WithJsonSchema,
)

from engine.numerical import MIN_EPS

Dtype = Literal["float32", "float64", "int64"]
Name = Annotated[
    str,
    Field(
        description="A Python identifier of at most 64 characters (letters of any script: θ is a name), "
        "written as Python reads it in an expression (NFKC: 'ﬁ' is refused for 'fi').",
        examples=["x"],
    ),
]
Number = int | float
# JSON has no NaN or infinity: the answer writes them as these strings.
NonFinite = Literal["NaN", "Infinity", "-Infinity"]
Values = Annotated[
    Number | NonFinite | list[Any],
    Field(description="A number (a 0-d tensor) or a rectangular nested list of numbers."),
]


def _finite(value: bool | int | float) -> bool | int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not allowed: params must be finite numbers")
    return value


# Python's json reads NaN and Infinity literals. The engine refuses them in leaf values and
# gradients; params went through to the graph (every value and gradient NaN), so refuse them
# here, as one error at the param (a union of float types would give three).
# Strict: "yes" is not a boolean, and "3" not a number.
Param = Annotated[StrictBool | StrictInt | StrictFloat, AfterValidator(_finite)]


class Strict(BaseModel):
    # Strict types: "3" is no number and true no integer, in a field as in a list of values.
    model_config = ConfigDict(extra="forbid", strict=True)


def _number_or_list(value: Any) -> Any:
    # One error at the field, where a union of types would give one per member, each with a
    # location ("int", "float", "list[any]") that the request does not have.
    if isinstance(value, bool) or not isinstance(value, int | float | list):
        raise ValueError(f"must be a number or a nested list of numbers, got {type(value).__name__}")
    return value


Numbers = Annotated[
    Any,
    PlainValidator(_number_or_list),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "array", "items": {}}]}),
]


class LeafSpec(Strict):
    """A leaf tensor: literal values, or a shape filled by an initializer."""

    value: Numbers | None = Field(
        default=None,
        description="A number or a rectangular nested list of finite numbers. Leave out to use shape and init.",
        examples=[[1.0, 2.0, 3.0]],
    )
    shape: list[Annotated[int, Field(ge=0)]] | None = Field(
        default=None, description="With init: the shape of a generated tensor.", examples=[[64, 256]]
    )
    init: Literal["zeros", "ones", "arange", "normal", "uniform"] | None = Field(
        default=None,
        description=(
            "How to fill `shape`: zeros, ones, arange (0, 1, 2, ... in row-major order), normal "
            "(numpy.random.default_rng(seed).standard_normal(shape)) or uniform (default_rng(seed).random(shape))."
        ),
    )
    seed: int = Field(default=0, ge=0, description="Seed of normal and uniform.")
    scale: float = Field(default=1.0, allow_inf_nan=False, description="Multiplies the generated values.")
    dtype: Dtype | None = Field(default=None, description="This leaf's dtype; default: the request's dtype.")
    requires_grad: StrictBool = Field(
        default=False, description="Compute this leaf's gradient (floating point leaves only, as in PyTorch)."
    )


class Statement(Strict):
    """One assignment: `name = expr`."""

    name: Name | list[Name] = Field(
        description="The name, or a list of names for a call of a custom function with several outputs.",
        examples=["z"],
    )
    expr: str = Field(
        description="A Python expression over earlier names: + - * / ** @, built-in functions (GET /ops), "
        "custom functions, indexing with constants.",
        examples=["10 * (xx + yy + 2 * xy)"],
    )


class NodeSpec(Statement):
    """A non-leaf tensor, computed from leaves and earlier nodes."""

    retain_grad: StrictBool | list[Name] = Field(
        default=False,
        description="Keep this node's gradient, like Tensor.retain_grad(); for several outputs, true or a list "
        "of the names to keep.",
    )


class FunctionSpec(Strict):
    """A torch.autograd.Function: forward and a hand-written backward, both as assignments."""

    inputs: list[Name] = Field(description="The tensor arguments, in order.", examples=[["x", "y"]])
    params: dict[str, Param] | None = Field(
        default=None,
        description="Non-tensor arguments with their defaults; a call may override them by keyword. They are "
        "Python numbers: arithmetic and functions of numbers alone (d ** 0.5, sqrt(d), d / 2) give numbers, "
        "computed in float64 as Python would.",
        examples=[{"scale": 10}],
    )
    forward: list[Statement] = Field(description="Assignments computing the outputs. Not recorded for autograd.")
    outputs: list[Name] = Field(description="The names forward returns, in order.", examples=[["z"]])
    save_for_backward: list[Name] = Field(
        default_factory=list, description="Inputs or forward names that backward may use."
    )
    backward: list[Statement] = Field(
        default_factory=list,
        description="Assignments that see the saved tensors, the params and grad_<output> for every output, "
        "and define grad_<input> for each input they differentiate.",
    )


class RootSpec(Strict):
    """One call of backward: `root.backward(gradient)`."""

    root: Name = Field(description="The tensor to backpropagate from.", examples=["s"])
    gradient: Numbers | None = Field(
        default=None,
        description="The upstream gradient, of the root's shape; may be left out for a root of one element (then 1).",
    )


class CheckOptions(Strict):
    """The finite-difference check of every reported gradient and every hand-written backward."""

    mode: Literal["auto", "full", "fast", "off"] = Field(
        default="auto",
        description="full: every element; fast: random directional derivatives (gradcheck's fast_mode; "
        "a direction that fails or crosses a kink is checked element by element where the cost allows, "
        "and that verdict stands; up to two more directions are tried past a kink where it does not, "
        "and where a direction's derivative comes out no better than 1% of it, the closest kept; a random test: "
        "an error at a few elements of n moves a direction's derivative by about 1/√n of it, so a small one in a "
        "large tensor may pass, where full settles it); "
        "auto: full while its evaluations stay within GRADLAB_AUTO_FULL_CHECK_EVALUATIONS and "
        "GRADLAB_MAX_CHECK_EVALUATIONS, fast otherwise, and fast too where full takes over half the time "
        "left (a warning says so); off: no check. The check plans within "
        "GRADLAB_MAX_CHECK_EVALUATIONS (retries at kinks may take up to three times what was planned); what "
        "does not fit is left out.",
    )
    eps: float | None = Field(
        default=None,
        ge=MIN_EPS,
        lt=1,
        allow_inf_nan=False,
        description="Absolute step of the finite differences, default 1e-3, at least 1e-12; rounded to one "
        "that x takes exactly. Retried closer in at a kink or a domain edge, and short of any kink of relu, "
        "abs, maximum, max, ... that a step crosses; tried 100 times wider, once, where the function's "
        "rounding swamps it. Each numerical derivative has an error estimate, added "
        "to the tolerance; one above 1% of the gradient's size gives a warning naming the element.",
    )
    atol: float = Field(
        default=1e-9,
        ge=0,
        allow_inf_nan=False,
        description="Absolute tolerance (PyTorch's gradcheck uses 1e-5). A custom function's backward is judged "
        "with atol times the largest gradient its outputs got, where that is under 1, as a backward is linear "
        "in it; elements that pass by atol alone, though far apart for their size, get a warning.",
    )
    rtol: float = Field(
        default=1e-6, ge=0, allow_inf_nan=False, description="Relative tolerance (PyTorch's gradcheck uses 1e-3)."
    )
    seed: int = Field(default=0, ge=0, description="Seed of the random directions of fast mode.")


class BackwardRequest(Strict):
    """A graph to build, backpropagate through and check."""

    dtype: Dtype = Field(default="float32", description="Default dtype of the leaves (float32, as torch.tensor).")
    leaves: dict[Name, LeafSpec] = Field(description="Leaf tensors by name.")
    functions: dict[Name, FunctionSpec] | None = Field(
        default=None, description="Custom functions by name; each may call those defined before it."
    )
    nodes: list[NodeSpec] = Field(description="Computed tensors, evaluated in order.")
    backward: RootSpec | list[RootSpec] | None = Field(
        default=None,
        description="One root or a list, run in order with gradients accumulating. Left out: the last node.",
    )
    check: CheckOptions | None = Field(default=None, description="The check's options; left out or null: the defaults.")


# --- the answer -----------------------------------------------------------------------


class TensorReport(BaseModel):
    """One leaf or node, as PyTorch would show it after backward."""

    shape: list[int] = Field(description="Its size along each dimension; [] for one number.")
    dtype: Dtype | Literal["bool"] = Field(description="Its element type.")
    is_leaf: bool = Field(description="Made by the request (a leaf), not computed from others (a node).")
    requires_grad: bool = Field(description="Whether autograd tracks it: true for a leaf asked so and what uses one.")
    grad_fn: str | None = Field(description="PyTorch's name for the node that made this tensor, e.g. MulBackward0.")
    retains_grad: bool = Field(description="Whether .grad is kept for this non-leaf tensor (false for leaves).")
    value: Values = Field(
        description="Its values, as nested lists (float32 written exactly, as the float64 number it is: 0.3 in "
        "float32 is 0.30000001192092896)."
    )
    grad: Values | None = Field(description="The gradient, or null where PyTorch's .grad would be None.")


class TensorCheck(BaseModel):
    """One reported gradient against finite differences of the same backward."""

    passed: bool = Field(
        description="Every element judged is within atol + rtol × |numerical| + the numerical error estimate."
    )
    max_abs_error: float | NonFinite = Field(description="The largest |analytic - numerical| over the elements judged.")
    max_rel_error: float | NonFinite = Field(
        description="The largest |analytic - numerical| / |numerical| over the elements judged (0 where they agree)."
    )
    worst_index: list[int] | None = Field(
        description="The element furthest outside its tolerance, or nearest to it: the largest |analytic - "
        "numerical| against that element's own tolerance (atol + rtol × |numerical| + its error estimate), which "
        "need not be where max_abs_error is, when that element's error estimate is large."
    )
    error_estimate: float | NonFinite | None = Field(
        default=None, description="The numerical method's own error estimate at the worst element."
    )
    numerical: Values | None = Field(default=None, description="The finite-difference gradient (or directional value).")
    analytic: Values | None = Field(default=None, description="The gradient being checked (or its directional value).")
    non_differentiable: list[list[int]] = Field(
        default_factory=list,
        description="Elements at a kink (relu or abs at 0, a tie), or so near one that a step short of it "
        "would measure rounding, or where the finite differences measured no derivative with no op's kink near "
        "(a corner no op marks, as std's of equal elements; sin(x³) at 1000, which turns within their smallest "
        "step; a warning says so): listed, not judged.",
    )
    message: str | None = Field(default=None, description="What failed, where, by how much, against which tolerance.")
    direction: str | None = Field(
        default=None,
        description='Fast mode: "random unit vector", where the values compared (numerical, analytic) are '
        "derivatives along a random unit vector drawn from the check's seed, not gradients (the vector itself "
        "is not returned); null where the tensor was compared element by element (full mode, or a fast check "
        "that crossed a kink or failed).",
    )


class InputCheck(BaseModel):
    passed: bool = Field(
        description="The hand-written gradient agrees with the finite differences of the forward (within the "
        "tolerance and their error estimate) and, at every element where no op of the forward sits at a kink, "
        "with autograd of the forward (within atol + rtol × |autograd| and its rounding); the elements listed as "
        "non-differentiable are not judged, where a backward may keep its own convention."
    )
    max_abs_error: float | NonFinite = Field(
        description="The largest |hand-written - numerical| over the elements judged."
    )
    max_rel_error: float | NonFinite = Field(
        description="The largest |hand-written - numerical| / |numerical| over the elements judged."
    )
    worst_index: list[int] | None = Field(description="The element furthest outside its tolerance, or nearest to it.")
    hand_written: Values | None = Field(
        default=None, description="What the backward formula gave for this input (or its directional value)."
    )
    numerical: Values | None = Field(
        default=None, description="Finite differences of the forward, the same upstream gradients applied."
    )
    autodiff: Values | None = Field(
        default=None,
        description="Autograd of the forward (or its directional value), through the forwards of the functions "
        "it calls, not their hand-written backwards.",
    )
    non_differentiable: list[list[int]] = Field(
        default_factory=list, description="Elements at a kink of the forward: listed, not judged."
    )
    message: str | None = Field(
        default=None, description="What failed, where, by how much, against the finite differences or autograd."
    )
    direction: str | None = Field(
        default=None, description='Fast mode: "random unit vector" where the values are along one; else null.'
    )


class FunctionCheck(BaseModel):
    """One call of a custom function: its hand-written backward, at the inputs and gradients it got."""

    function: str = Field(description="The function's name.")
    node: str | list[str] = Field(description="The node (or nodes, for several outputs) the call made.")
    passed: bool = Field(description="Every input's hand-written gradient passed.")
    inputs: dict[str, InputCheck] = Field(description="Each input that requires grad, by its name in the function.")


class CheckReport(BaseModel):
    """The finite-difference check of every reported gradient and every hand-written backward."""

    mode: Literal["full", "fast", "off"] = Field(description="The mode that ran (auto chooses full or fast).")
    passed: bool | None = Field(description="Every tensor and function below passed; null when the check was off.")
    dtype: Literal["float64"] | None = Field(default=None, description="The check computes in float64.")
    eps: float | None = Field(default=None, description="The first step of the finite differences.")
    atol: float | None = Field(default=None, description="The absolute tolerance used.")
    rtol: float | None = Field(default=None, description="The relative tolerance used.")
    seed: int | None = Field(default=None, description="The seed of fast mode's random directions.")
    evaluations: int | None = Field(default=None, description="Forward evaluations the check ran.")
    tensors: dict[str, TensorCheck] = Field(
        default_factory=dict, description="Each reported gradient (a leaf's, a retained node's), by name."
    )
    functions: list[FunctionCheck] = Field(default_factory=list, description="Each call of a custom function.")


class BackwardResponse(BaseModel):
    """Every tensor's value and gradient, the check, and what PyTorch would warn of."""

    tensors: dict[str, TensorReport] = Field(description="Every leaf and node, in the request's order.")
    check: CheckReport
    warnings: list[str] = Field(
        description="What the answer leaves unsaid: what PyTorch would warn of, after the node's name, or the "
        "backward root's for a custom backward (an "
        "mse_loss whose target has another shape than its input, which broadcasting makes compare every "
        "pair), why a .grad is null, where values stopped being finite, "
        "a custom backward that is right only for the gradients its outputs got here (one that ignores an "
        "output which got none, or leaves out grad_y under a sum), an element whose numerical "
        "derivative is known only roughly (so that a smaller error cannot fail there), a fast check whose "
        "verdict is along another direction because the first met a kink, a failure that may be a kink's "
        "because the graph was too large for the check to track which kinks its steps crossed. The check's "
        "warnings come first, then the run's."
    )


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(BaseModel):
    detail: list[ErrorItem]


class OpInfo(BaseModel):
    name: str = Field(description="The name an expression calls it by.")
    syntax: str = Field(description="How an expression writes it.")
    grad_fn: str = Field(description="PyTorch's name for its node, or how the name depends on the call.")
    rule: str = Field(
        description="Its derivative, for people: ∂/∂a is the derivative with respect to the argument a, g the "
        "gradient that reaches the output, y the output itself, n a count the rule names."
    )
    params: dict[str, Any] = Field(description='Its parameters, each with its default ("required" if it has none).')


class ExampleInfo(BaseModel):
    name: str = Field(description="Its name: GET /examples/{name} gives its request body.")
    summary: str = Field(description="What it shows, in a line.")
    description: str = Field(description="What it shows, and what to look at in its answer.")
