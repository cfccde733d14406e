"""The check of custom functions' hand-written backwards: each call on its own, at the
inputs and upstream gradients it really saw, against finite differences of its forward and
against autograd of its forward; and the backward tried with a gradient on each output in
turn, as gradcheck tries every row of the Jacobian."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.autograd import FunctionCtx, FunctionNode
from engine.check_options import CheckOptions
from engine.comparison import Comparison, element_name
from engine.custom_functions import through_forwards
from engine.differentiator import Differentiator, compare_one, unless_out_of_time
from engine.errors import COMPUTE_FAILURES, ComputeError
from engine.grad_mode import enable_grad
from engine.graph import Array, run_backward
from engine.limits import setting, start_evaluation
from engine.numerical import (
    ROUNDING,
)
from engine.rounding import Rounding, objective_rounding
from engine.spec import Call, Program
from engine.tensor import Tensor

# The most elements of one input where a custom backward is off autograd of its forward that
# are probed for kinks of the forward's ops (two evaluations each), to tell a wrong formula
# from a kink's convention.
AUTODIFF_PROBES = 256
# A hand-written gradient and autograd's, computed in other orders, may differ by rounding: a
# few ulps of either, or, where terms cancel (1e8·(sin² x + cos² x)), what autograd itself
# moves by between x and x nudged by NUDGES; allowed this many times over.
AUTODIFF_ROUNDING = 16
NUDGES = (1e-12, 5e-11)  # relative, and twice each: short of all but the nearest kinks, moving the rounding
# Below this, a gradient's products underflow into subnormals, which round absolutely: atol stays.
SMALLEST_UPSTREAM = 1e-150


@dataclass
class FunctionCheck:
    function: str
    node: str | list[str]
    passed: bool
    inputs: dict[str, Comparison]
    autodiff: dict[str, Array]  # the forward's autograd gradient (fast mode: along the same direction)


def _outputs(node: FunctionNode) -> list[Array]:
    """The arrays a call returned: a spec function returns tensors only."""
    assert all(out is not None for out in node.outputs), "a spec function's outputs are its nodes"
    return node.outputs  # type: ignore[return-value]


def _upstream_of(call: Call) -> tuple[list[Array], list[bool]]:
    """The gradients the call's backward received, and which were not all zeros: zeros for
    every output if backward never reached it (no root depends on them). The verdict rests on
    these; what the backward would give other gradients is told in warnings."""
    seen = call.grad_fn.ctx.__dict__.get("grad_outputs")
    if seen is None:
        return [np.zeros(o.shape) for o in _outputs(call.grad_fn)], [False] * len(_outputs(call.grad_fn))
    grads = [g.array for g in seen]
    return grads, [bool(np.any(g)) for g in grads]


def check_functions(
    program: Program, calls: list[Call], mode: str, options: CheckOptions, differentiator: Differentiator
) -> tuple[list[FunctionCheck], list[str]]:
    checks, warnings = [], []
    for call in calls:
        spec = program.functions[call.function]
        node = call.grad_fn
        ctx = node.ctx
        inputs: list[Any] = list(ctx.inputs)
        grads, received = _upstream_of(call)
        checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
        judged_by, size = per_unit_upstream(options, grads)
        with differentiator.measuring_by(judged_by):
            comparisons, auto = _compared(call, spec, inputs, grads, checked, mode, judged_by, differentiator)
        passed = all(c.passed for c in comparisons.values())
        if passed and sum(received) > 1:
            passed = _each_output_alone(
                call, spec, inputs, grads, received, checked, comparisons, options, differentiator
            )
        hidden = [c for c in comparisons.values() if not c.passed and c.max_abs_error <= options.atol]
        if judged_by is not options and hidden:  # a failure that the whole atol would have hidden
            warnings.append(
                f"{call.function} ({call.place}): judged with atol {options.atol:g} × {size:.3g}, the largest "
                "gradient its outputs got: a backward is linear in that gradient, so it is judged as it would be "
                "under a gradient of 1, whatever the scale of the loss"
            )
        autodiff = {
            spec.inputs[i]: auto[i] if c.direction is None else np.array(np.sum(auto[i] * c.direction))
            for i, c in zip(checked, comparisons.values(), strict=True)
        }
        checks.append(FunctionCheck(call.function, call.node, passed, comparisons, autodiff))
        warnings.extend(_unchecked(call, spec, inputs))
        warnings.extend(
            _jacobian_warnings(call, spec, node, ctx, inputs, grads, received, checked, passed, options, differentiator)
        )
    return checks, warnings


def per_unit_upstream(options: CheckOptions, grads: list[Array]) -> tuple[CheckOptions, float]:
    """The options to judge a call by, and the size of the gradient it got: atol taken at that
    size where it is under 1. A backward is linear in the gradient, so a formula is judged alike
    whatever the scale of the loss: under a loss of 1e-10·sum(w·y), a sigmoid backward of the wrong
    sign passed, every difference under atol. Every other term of the tolerance (rtol, the error
    estimates, rounding) scales with the gradient itself."""
    size = max((float(np.max(np.abs(g), initial=0.0)) for g in grads), default=0.0)
    if not SMALLEST_UPSTREAM <= size < 1:  # no gradient, one so small it underflows, or NaN
        return options, size
    return dataclasses.replace(options, atol=options.atol * size), size


def _unchecked(call: Call, spec: Any, inputs: list[Any]) -> list[str]:
    """A warning for each gradient the backward gives an input that does not require grad: PyTorch
    discards it, and the check, which judges what PyTorch uses, leaves it unjudged. A leaf left at
    requires_grad false by mistake would otherwise pass a wrong formula without a word (a review)."""
    given = {name for statement in spec.backward for name in statement.names}
    return [
        f"{call.function} ({call.place}): grad_{name} is not checked: {name} does not require grad, so "
        f"PyTorch discards the gradient backward gives it; with requires_grad true on what {name} comes from, "
        "it is checked"
        for name, t in zip(spec.inputs, inputs, strict=False)
        if f"grad_{name}" in given and isinstance(t, Tensor) and not t.requires_grad and t.dtype.is_floating_point
    ]


def _compared(
    call: Call,
    spec: Any,
    inputs: list[Any],
    grads: list[Array],
    checked: list[int],
    mode: str,
    options: CheckOptions,
    differentiator: Differentiator,
) -> tuple[dict[str, Comparison], dict[int, Array]]:
    """The backward's gradient of each checked input, given `grads`, against finite differences
    of the forward and autograd of it; with autograd's gradients."""
    node, ctx = call.grad_fn, call.grad_fn.ctx
    hand = hand_written(node, ctx, grads, checked)
    auto = _autodiff(spec.function, ctx.params, inputs, grads, checked)
    roundings = _forward_roundings(spec.function, ctx.params, inputs, grads, checked)
    comparisons: dict[str, Comparison] = {}
    # Where the forward's projection is not finite, no finite difference of it is, and
    # autograd alone judges.
    measurable = math.isfinite(_projection(_outputs(node), _weights(grads)))
    # Autograd's rounding, where it is needed: a few more evaluations of autograd.
    noise = functools.cache(functools.partial(_autodiff_noise, spec.function, ctx.params, inputs, grads, checked, auto))
    for i in checked:
        f = _projected_forward(spec.function, ctx.params, inputs, i, grads)
        what = f"{call.label}: grad_{spec.inputs[i]}"
        # NaN in both, as PyTorch's own op would give (log's grad_y / x at 0, where grad_y is 0):
        # the backward agrees with autograd of its forward, where no derivative exists to measure.
        both_nan = np.isnan(hand[i]) & np.isnan(auto[i])
        comparison = compare_one(
            f,
            inputs[i].array,
            hand[i],
            mode,
            options,
            differentiator,
            what,
            listed=both_nan,
            rounding=roundings.get(i),
            said="hand-written",
        )
        if both_nan.any():
            comparison.notes.append(_both_nan(what, both_nan))
        if comparison.message is not None and comparison.direction is None and comparison.worst_index is not None:
            # The third opinion, that tells a wrong backward (autograd agrees with the numbers) from a
            # forward the steps measure badly (autograd agrees with the backward).
            comparison.message += f"; autograd of the forward: {float(auto[i][tuple(comparison.worst_index)]):.10g}"
        _judge_by_autodiff(
            comparison,
            hand[i],
            auto[i],
            _one_of(noise, i),
            f,
            inputs[i].array,
            measurable,
            options,
            differentiator,
            what,
        )
        comparisons[spec.inputs[i]] = comparison
    return comparisons, auto


def _both_nan(what: str, both_nan: Array) -> str:
    index = [int(i) for i in np.argwhere(both_nan)[0]]
    where = element_name(what, index)
    more = int(both_nan.sum()) - 1
    others = f" (and {more:,} other element{'s' if more > 1 else ''})" if more else ""
    return (
        f"{where}{others}: the hand-written gradient is NaN, and so is autograd's of the forward (an infinite "
        "derivative times a gradient of 0, a point outside the domain, or a value past float64's range), as "
        "PyTorch's would be: listed as non-differentiable, not judged"
    )


def _each_output_alone(
    call: Call,
    spec: Any,
    inputs: list[Any],
    grads: list[Array],
    received: list[bool],
    checked: list[int],
    comparisons: dict[str, Comparison],
    options: CheckOptions,
    differentiator: Differentiator,
) -> bool:
    """Where several outputs got a gradient, the backward with each one's alone against autograd
    of the forward, as gradcheck takes each output: an output's term that is wrong can be lost in
    the rounding of a far larger term of another's (10^12 beside 1), or cancelled by an error in
    it. Where either gradient is not finite, what the call got judges (0·inf is NaN for both)."""
    node, ctx = call.grad_fn, call.grad_fn.ctx
    for k in (k for k, got in enumerate(received) if got):
        alone = [g if j == k else np.zeros(g.shape) for j, g in enumerate(grads)]
        hand = hand_written(node, ctx, alone, checked)
        auto = _autodiff(spec.function, ctx.params, inputs, alone, checked)
        noise = functools.cache(
            functools.partial(_autodiff_noise, spec.function, ctx.params, inputs, alone, checked, auto)
        )
        used = call.node[k] if isinstance(call.node, list) else call.node
        alone_said = f"with the gradient {used} got and no other (as gradcheck takes each output)"
        judged_by = per_unit_upstream(options, alone)[0]
        for i in checked:
            off = _Off(hand[i], auto[i], judged_by)
            off.where &= np.isfinite(hand[i])
            f = _projected_forward(spec.function, ctx.params, inputs, i, alone)
            what = f"{call.label}: grad_{spec.inputs[i]}"
            with differentiator.measuring_by(judged_by):
                said, index, unsaid = off.clear_of_kinks(
                    _one_of(noise, i), f, inputs[i].array, judged_by, differentiator, what
                )
            comparison = comparisons[spec.inputs[i]]
            if unsaid is not None:  # a wrong term may be left unjudged: the answer says so
                comparison.notes.append(f"{unsaid}; this {alone_said}")
            if said is not None:
                comparison.passed, comparison.worst_index = False, index
                comparison.message = (
                    f"{said}, {alone_said}; with all of them, as here, it did not show: lost in the rounding of the "
                    "others' terms, or cancelled by an error in them"
                )
                return False
    return True


def _judge_by_autodiff(
    comparison: Comparison,
    hand: Array,
    auto: Array,
    noise: Callable[[], Array],
    f: Callable[[Array], float],
    x: Array,
    measurable: bool,
    options: CheckOptions,
    differentiator: Differentiator,
    what: str,
) -> None:
    """Fail `comparison` where the hand-written gradient is off the autograd one (beyond atol +
    rtol·|autograd|) at an element clear of every kink of the forward's ops, where autograd is
    exact: the finite differences may be too coarse to tell (an input of 1e6 beside one of 1,
    an output that is infinite), and a direction compares only a sum. At an op's kink autograd
    takes a convention, which a smooth function of kinked ops does not share (relu(x) +
    log(1 + exp(-|x|)) at 0), and which a backward need not keep at a kink of the function:
    there the finite differences alone judge, as they do wherever they tell the two apart."""
    off = _Off(hand, auto, options)
    if not measurable:
        comparison.notes.append(
            f"{what}: the forward's outputs that get a gradient are not all finite here, so no finite difference "
            "measured this gradient (its elements are listed as non-differentiable): it was compared with the "
            "autograd gradient of the forward alone, where that is finite"
        )
    elif comparison.direction is None:
        listed = np.zeros(off.where.shape, dtype=bool)
        for listed_index in comparison.non_differentiable:
            listed[tuple(listed_index)] = True
        # The finite differences' verdict stands where they told a difference, and where they
        # listed a kink; but a forward of smooth ops alone has none, and autograd judges there
        # (sin(x³) at 1000 oscillates within a step), where the hand-written gradient is finite
        # (else the function is not finite near there, and neither need it be).
        tolerance = comparison.errors + options.atol + options.rtol * np.abs(comparison.numerical)
        told = ~listed & (2 * tolerance < off.diff)
        judged = listed & np.isfinite(hand)
        if not ((off.where & judged).any() and differentiator.smooth(f, x)):  # smooth: asked only if needed
            judged = np.zeros(listed.shape, dtype=bool)
        off.where &= ~told & ~(listed & ~judged)
    said, index, unsaid = off.clear_of_kinks(noise, f, x, options, differentiator, what)
    if unsaid is not None and comparison.passed:  # a failure says enough
        comparison.notes.append(unsaid)
    if said is None:
        return
    if comparison.passed:
        comparison.passed, comparison.worst_index, comparison.message = False, index, said
    elif comparison.direction is not None:  # a failed direction: this names an element
        comparison.worst_index, comparison.message = index, f"{said}; {comparison.message}"


def _one_of(noise: Callable[[], dict[int, Array]], i: int) -> Callable[[], Array]:
    """Input i's part of what autograd's gradients move by (computed once, when first asked)."""
    return lambda: noise()[i]


class _Off:
    """Where a hand-written gradient is off autograd's, beyond atol + rtol·|autograd| and a few
    roundings of either; only where autograd's is finite."""

    def __init__(self, hand: Array, auto: Array, options: CheckOptions) -> None:
        self.hand, self.auto = hand, auto
        self.diff = np.abs(hand - auto)
        self.allowed = options.atol + options.rtol * np.abs(auto)
        with np.errstate(all="ignore"):
            # The larger magnitude twice, not the sum: 1e308 + 1e308 would be inf, and allow anything.
            self.rounding = AUTODIFF_ROUNDING * ROUNDING * 2 * np.maximum(np.abs(hand), np.abs(auto))
            self.where = ~(self.diff <= self.allowed + self.rounding) & np.isfinite(auto)

    def clear_of_kinks(
        self,
        noise: Callable[[], Array],
        f: Callable[[Array], float],
        x: Array,
        options: CheckOptions,
        differentiator: Differentiator,
        what: str,
    ) -> tuple[str | None, list[int] | None, str | None]:
        """The failure at the worst element off that no op of the forward is at a kink of, with its
        index (None, None where there is none), and what could not be told (None where all was)."""
        off, diff = self.where, self.diff
        if off.any():  # then what autograd's terms may have lost in cancelling, too
            with np.errstate(all="ignore"):
                self.rounding = self.rounding + AUTODIFF_ROUNDING * noise()
                off &= ~(diff <= self.allowed + self.rounding)
        if not off.any():
            return None, None, None

        def unsaid(reason: str) -> tuple[None, None, str]:
            return None, None, _unprobed(off, diff, self.hand, self.auto, what, reason)

        if not differentiator.record_kinks:  # nothing tells an op's kink from a wrong formula
            return unsaid(_NO_RECORDS)
        probed = _some_of(off, diff, options.seed)
        if not differentiator.budget.reserve(2 * probed.size):
            return unsaid(_NO_EVALUATIONS)
        clear = unless_out_of_time(lambda: differentiator.clear_of_kinks(f, x, probed))
        if clear is None:
            return unsaid(_NO_TIME)
        if not clear.any():
            if probed.size < np.count_nonzero(off):  # the others, unprobed, may be clear of kinks
                off.reshape(-1)[probed] = False
                return unsaid(_PROBED_AT_KINKS)
            return None, None, None
        off = np.zeros(off.shape, dtype=bool)
        off.reshape(-1)[probed[clear]] = True
        worst_flat, index, where = _worst(off, diff, what)
        h, a = float(self.hand.flat[worst_flat]), float(self.auto.flat[worst_flat])
        rounding = float(self.rounding.flat[worst_flat])
        tolerance = float(self.allowed.flat[worst_flat]) + rounding
        said = (
            f"{where}: hand-written {h:.10g} but autograd of the forward {a:.10g}, off by {abs(h - a):.3g}, over the "
            f"tolerance {tolerance:.3g} (atol {options.atol:g} + rtol {options.rtol:g} × |autograd| + rounding "
            f"{rounding:.2g}), where no op of the forward is at a kink"
        )
        return said, index, None


_NO_RECORDS = f"their records would exceed the elements' limit, setting {setting('max_total_elements')}"
_NO_EVALUATIONS = "the evaluations that would tell were over the check's limit"
_NO_TIME = "the evaluations that would tell did not fit in the time left"
_PROBED_AT_KINKS = f"{AUTODIFF_PROBES} of the elements off were probed, the worst and others at random, all at kinks"


def _worst(off: Array, diff: Array, what: str) -> tuple[int, list[int], str]:
    """The element off with the largest difference: its flat index, its index, and its name."""
    worst_flat = int(np.argmax(np.where(off, diff, -1.0)))
    index = [int(i) for i in np.unravel_index(worst_flat, off.shape)] if off.ndim else []
    return worst_flat, index, element_name(what, index)


def _unprobed(off: Array, diff: Array, hand: Array, auto: Array, what: str, reason: str) -> str:
    """What the check leaves unsaid where it could not look for kinks at the elements off autograd."""
    worst_flat, _, where = _worst(off, diff, what)
    h, a = float(hand.flat[worst_flat]), float(auto.flat[worst_flat])
    others = int(np.count_nonzero(off)) - 1
    return (
        f"{where}{f' and {others:,} more elements' if others else ''}: the hand-written gradient is off "
        f"autograd of the forward beyond the tolerance (the first named: hand-written {h:.10g}, autograd "
        f"{a:.10g}); where an op of the forward is at a kink, autograd's convention need not hold, but whether "
        f"one is could not be told ({reason}), so the finite differences' verdict stands"
    )


def _some_of(off: Array, diff: Array, seed: int) -> Array:
    """Up to AUTODIFF_PROBES flat indices of the elements off: the worst half, and the rest drawn
    at random, so that elements at kinks, often the worst, cannot fill every probe."""
    flat = np.flatnonzero(off)
    if flat.size <= AUTODIFF_PROBES:
        return flat
    order = flat[np.argsort(-diff.reshape(-1)[flat], kind="stable")]
    worst, rest = order[: AUTODIFF_PROBES // 2], order[AUTODIFF_PROBES // 2 :]
    drawn = np.random.default_rng([seed, 2]).choice(rest, AUTODIFF_PROBES - worst.size, replace=False)
    return np.concatenate([worst, np.sort(drawn)])


def hand_written(node: Any, ctx: FunctionCtx, grads: list[Array], checked: list[int]) -> dict[int, Array]:
    """The backward formula's gradient for each checked input; none given counts as zeros."""
    name = node.function.__name__
    seen = ctx.__dict__.get("grad_outputs")  # what the call really got, which a backward adds to
    try:
        try:
            returned = node.function.backward(ctx, *(Tensor.wrap(g) for g in grads))
        finally:  # the check's gradients are not the call's
            ctx.__dict__.pop("grad_outputs", None)
            if seen is not None:
                ctx.grad_outputs = seen
        returned = returned if isinstance(returned, tuple) else (returned,)
        result = {}
        for i in checked:
            grad = node._input_grad(i, returned[i]) if i < len(returned) else None
            result[i] = np.zeros(node.inputs[i].array.shape) if grad is None else grad
    except ComputeError as error:  # at a step of the backward: said there
        raise ComputeError(error.loc, f"{error.msg} (in the check, which tries other upstream gradients too)") from None
    except COMPUTE_FAILURES as error:
        loc = ("body", "functions", name)
        raise ComputeError(loc, f"function '{name}': backward failed in the check: {error}") from None
    return result


def _recorded_forward(
    function: Any, params: dict[str, Any], inputs: list[Any], checked: list[int]
) -> tuple[list[Any], tuple[Tensor, ...]]:
    """The forward run afresh on the inputs' values, the checked ones leaves that require grad: its
    ops recorded, through the forwards of the functions it calls. The leaves, and the outputs."""
    leaves = [
        Tensor.wrap(t.array, requires_grad=i in checked) if isinstance(t, Tensor) else t for i, t in enumerate(inputs)
    ]
    with enable_grad(), through_forwards():
        outputs = function.forward(FunctionCtx(tuple(i in checked for i in range(len(inputs)))), *leaves, params)
    return leaves, outputs if isinstance(outputs, tuple) else (outputs,)


def _roots(outputs: tuple[Tensor, ...], grads: list[Array]) -> list[tuple[Tensor, Array]]:
    """Each output that requires grad, with the gradient it got, in its dtype."""
    return [(o, np.asarray(g, dtype=o.array.dtype)) for o, g in zip(outputs, grads, strict=True) if o.requires_grad]


def _autodiff(
    function: Any, params: dict[str, Any], inputs: list[Any], grads: list[Array], checked: list[int]
) -> dict[int, Array]:
    leaves, outputs = _recorded_forward(function, params, inputs, checked)
    roots = _roots(outputs, grads)
    if roots:
        run_backward(roots)
    result = {}
    for i in checked:
        grad = leaves[i].grad
        result[i] = grad.array if grad is not None else np.zeros(leaves[i].shape)
    return result


def _forward_roundings(
    function: Any, params: dict[str, Any], inputs: list[Any], grads: list[Array], checked: list[int]
) -> dict[int, Rounding]:
    """engine.rounding's bound on the rounding of the forward's projection (what the finite
    differences step), for each checked input. x - sin(x) at 5e-6 keeps 5 digits, which one
    sample of the stencil's noise may put at half of what it is (a review's right backward failed)."""
    leaves, outputs = _recorded_forward(function, params, inputs, checked)
    roots = _roots(outputs, grads)
    if not roots:
        return {}
    bounds = objective_rounding(roots, {str(i): leaves[i] for i in checked})
    return {i: bounds[str(i)] for i in checked}


def _autodiff_noise(
    function: Any,
    params: dict[str, Any],
    inputs: list[Any],
    grads: list[Array],
    checked: list[int],
    auto: dict[int, Array],
) -> dict[int, Array]:
    """How far autograd's gradient moves when every checked input is nudged by NUDGES of its size
    and by twice that, both ways: its rounding where terms cancel, which no count of ulps of the
    result bounds. Of the moves, the combination in which the gradient's own slope and curvature
    cancel, so that they are not taken for rounding (sin(x³) at x = 1000 turns a third of a circle
    in a nudge of 1e-10), while a nudge still moves x + 1e5 by a few of its ulps."""
    moved = {i: np.zeros(auto[i].shape) for i in checked}
    for size in NUDGES:
        near, far = (
            [_autodiff(function, params, _nudged(inputs, checked, sign * step), grads, checked) for sign in (1.0, -1.0)]
            for step in (size, 2 * size)
        )
        for i in checked:
            with np.errstate(all="ignore"):
                bent_near = near[0][i] + near[1][i] - 2 * auto[i]  # ≈ size²·g'' + rounding
                bent_far = far[0][i] + far[1][i] - 2 * auto[i]  # ≈ 4·size²·g'' + rounding
                moved[i] = np.fmax(moved[i], np.abs(bent_far / 4 - bent_near))
    return moved


def _nudged(inputs: list[Any], checked: list[int], nudge: float) -> list[Any]:
    """The checked inputs moved by `nudge` of their size (at least 1): 0-d ones stay arrays."""
    return [
        Tensor.wrap(np.asarray(t.array + nudge * np.maximum(1.0, np.abs(t.array)))) if i in checked else t
        for i, t in enumerate(inputs)
    ]


def _projected_forward(
    function: Any, params: dict[str, Any], inputs: list[Any], index: int, grads: list[Array]
) -> Callable[[Array], float]:
    """sum over outputs of sum(output * its upstream gradient), as a function of one input."""
    weights = _weights(grads)

    def f(x: Array) -> float:
        start_evaluation()
        args = list(inputs)
        args[index] = Tensor.wrap(np.asarray(x))  # a 0-d x moved along a direction is a NumPy scalar
        outputs = function.forward(FunctionCtx(()), *args, params)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return _projection([o.array for o in outputs], weights)

    return f


def _weights(grads: list[Array]) -> list[tuple[int, Array, Array | None]]:
    """Each output's index and upstream gradient, with where that is not 0 unless it is nowhere
    0; an output whose gradient is 0 everywhere is left out."""
    return [(k, g, None if np.all(g) else g != 0) for k, g in enumerate(grads) if np.any(g)]


def _projection(outputs: list[Array], weights: list[tuple[int, Array, Array | None]]) -> float:
    """sum over outputs of sum(output * its upstream gradient), where that gradient is not 0:
    an output element that gets none, NaN or infinite, leaves the sum alone."""
    total = 0.0
    for k, g, nonzero in weights:
        total += float(np.sum(outputs[k] * g) if nonzero is None else np.sum(outputs[k] * g, where=nonzero))
    return total


def _jacobian_warnings(
    call: Call,
    spec: Any,
    node: Any,
    ctx: FunctionCtx,
    inputs: list[Any],
    grads: list[Array],
    received: list[bool],
    checked: list[int],
    passed: bool,
    options: CheckOptions,
    differentiator: Differentiator,
) -> list[str]:
    """Try the backward with a random gradient on each output in turn, as gradcheck tries every
    row of the Jacobian: a formula that ignores an output's gradient is right in this graph,
    and wrong as soon as that output gets a gradient; one right only for the gradient an output got
    here (all ones, from a sum) is wrong in any other graph. A call that failed says enough."""
    warnings = []
    for k, got_gradient in enumerate(received):
        if _outputs(node)[k].dtype.kind != "f" or (got_gradient and not passed):  # an integer output gets none
            continue
        used = call.node[k] if isinstance(call.node, list) else call.node  # the name the request gave it
        probe = [np.zeros(g.shape) for g in grads]
        probe[k] = np.asarray(differentiator.probes.standard_normal(grads[k].shape))
        try:
            hand = hand_written(node, ctx, probe, checked)
        except ComputeError as error:
            warnings.append(f"{call.function} ({call.place}): {error.msg}, with a gradient on {used}")
            continue
        wrong = []
        for i in checked:
            f = _projected_forward(spec.function, ctx.params, inputs, i, probe)
            result = compare_one(f, inputs[i].array, hand[i], "fast", options, differentiator, f"grad_{spec.inputs[i]}")
            if not result.passed:
                wrong.append(spec.inputs[i])
        if wrong:
            which = f"input{'s' if len(wrong) > 1 else ''} {' and '.join(wrong)}"
            if got_gradient:
                said = (
                    f"within the tolerance for the gradient {used} got here, wrong for others (a random one was "
                    f"tried, as gradcheck does): a backward must hold for every grad_{spec.outputs[k]}, not only "
                    "this graph's"
                )
            elif "grad_outputs" not in ctx.__dict__:
                said = (
                    "its backward never ran (no backward root depends on its outputs), and is wrong where "
                    f"{used} gets a gradient"
                )
            else:
                said = f"correct here, where grad_{spec.outputs[k]} is zero, and wrong where {used} gets a gradient"
            warnings.append(
                f"{call.function} ({call.place}): backward mishandles grad_{spec.outputs[k]} for {which}: {said}"
            )
    return warnings
