"""The finite-difference check of a spec: every reported gradient and every hand-written backward.

The whole graph is re-run in float64. The objective is the one backward differentiates,
F = sum over roots of sum(root * upstream gradient). Each leaf that requires grad and each
retained node is compared with numerical derivatives of F (a node by perturbing its value
and re-running what follows it). Each custom function call is checked on its own, at the
inputs and upstream gradients it really saw (engine.function_check). As in
torch.autograd.gradcheck, the steps are kept apart: evaluate (engine.numerical,
engine.differentiator), compare and explain (engine.comparison).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine import dtypes
from engine.batching import Batched, Unbatchable
from engine.check_options import DEFAULT_EPS, LOC, CheckOptions
from engine.comparison import Comparison, element_name, imprecision_notes
from engine.custom_functions import through_forwards
from engine.differentiator import PER_DERIVATIVE, PROBE_STEP, Batch, Differentiator, compare_one, unless_out_of_time
from engine.errors import COMPUTE_FAILURES, LimitExceeded, OutOfTime, SpecError
from engine.function_check import FunctionCheck, check_functions
from engine.grad_mode import no_grad
from engine.graph import Array
from engine.limits import setting
from engine.numerical import MOST_STEPS, Budget
from engine.rounding import Rounding, objective_rounding
from engine.spec import Call, Program, Result
from engine.tensor import Tensor

# Elements that one batched evaluation of full mode may allocate, counted as copies times what
# one evaluation allocates: enough copies to make Python's cost per op small beside the
# arithmetic, and half a megabyte of float64 at most.
BATCH_ELEMENTS = 1 << 16
# Check mode auto, where the count of evaluations chose full: the share of the time left that
# full may take before the check runs fast instead.
AUTO_FULL_TIME_SHARE = 0.5
# What engine.kinks keeps of an element that a kinked op noted, in float64 elements (its sign,
# whether it changed, its distances at two steps: 18 bytes).
RECORD_ELEMENTS = 3


@dataclass
class CheckReport:
    mode: str
    passed: bool | None
    eps: float | None = None
    atol: float | None = None
    rtol: float | None = None
    seed: int | None = None
    evaluations: int = 0
    tensors: dict[str, Comparison] = field(default_factory=dict)
    functions: list[FunctionCheck] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Target:
    """A reported gradient to check: a leaf, or a node whose value can be perturbed."""

    names: list[str]  # several when bare-name nodes alias one tensor
    grad: Array


def _targets(program: Program, env: dict[str, Tensor]) -> list[_Target]:
    groups: dict[int, _Target] = {}
    for name in program.names():
        tensor = env[name]
        if tensor._grad is None or tensor.array.dtype.kind != "f":
            continue
        if id(tensor) in groups:  # a bare-name node is the same tensor as an earlier name
            groups[id(tensor)].names.append(name)
        else:
            groups[id(tensor)] = _Target([name], tensor._grad.array)
    return list(groups.values())


def _untracked_kinks(kinked: int, evaluation: int, limit: int) -> str:
    """Why a failure may be a kink's: the check ran without knowing which kinks its steps crossed."""
    return (
        f"the check could not track which kinks of relu, abs, max, ... its steps crossed: their records "
        f"({RECORD_ELEMENTS} × {kinked:,} elements) and one evaluation of the graph ({evaluation:,}) would "
        f"exceed {limit:,} elements (setting {setting('max_total_elements')}). A step across kinks that "
        f"its own test could not tell may have failed a correct gradient: check a smaller graph, or "
        f"raise the setting"
    )


def estimate_evaluations(program: Program, env: dict[str, Tensor], calls: list[Call], full: bool) -> int:
    """Forward evaluations a check would make (without retries at kinks), known before running it."""
    total = 0
    for target in _targets(program, env):
        total += PER_DERIVATIVE * (target.grad.size if full else 1) + 1
    for call in calls:
        inputs = [t for t in call.grad_fn.ctx.inputs if isinstance(t, Tensor) and t.requires_grad]
        outputs = len(call.grad_fn.outputs)
        for t in inputs:
            total += PER_DERIVATIVE * ((t.array.size if full else 1) + outputs) + 1 + outputs
    return total


def run_check(
    program: Program, raw_options: Any, deadline: float | None = None, answer: Result | None = None
) -> CheckReport:
    """The check's report: mode, tolerances, per-tensor and per-function comparisons. `answer`:
    the run whose gradients the answer shows, which the check, in float64, may not have seen."""
    options = CheckOptions.from_raw(raw_options)
    if options.mode == "off":
        return CheckReport(mode="off", passed=None)
    try:
        return _run_check(program, options, deadline, answer)
    except OutOfTime as error:
        # Its place is the node that was being evaluated when time ran out: the check's doing.
        # Auto has run fast already by then (see _run_check): what is left is to check less.
        hint = "check mode fast takes far less than full" if options.mode == "full" else "check mode off skips it"
        raise OutOfTime(LOC, f"{error.msg}, in the finite-difference check ({hint})") from None


def _run_check(program: Program, options: CheckOptions, deadline: float | None, answer: Result | None) -> CheckReport:
    limits = program.limits
    with program.guard(deadline) as guard, np.errstate(all="ignore"), dtypes.default_dtype(dtypes.float64):
        # First, and dropped before the check's own run: two graphs never held at once.
        roundings = _roundings(program, guard.check_time)
        env, calls = program.forward(program.leaf_arrays(float64=True))
        evaluation_elements = guard.elements  # everything one evaluation allocates, intermediates too
        # What engine.kinks keeps of each input element of relu, abs, max, ... while it
        # differentiates counts against the same setting; where it would not fit, the
        # stencils' own tests tell kinks alone.
        kink_elements = guard.kink_elements
        records_fit = evaluation_elements + RECORD_ELEMENTS * kink_elements <= limits.max_total_elements
        upstream = program.backward(env)
        # Every evaluation below has this one's shapes (perturbed values, never shapes).
        guard.sizes_known = True
        full_cost = estimate_evaluations(program, env, calls, full=True)
        mode = options.mode
        if mode == "auto":  # full while its evaluations stay under the setting, and within the limit
            mode = (
                "full" if full_cost <= min(limits.auto_full_check_evaluations, limits.max_check_evaluations) else "fast"
            )

        def run(mode: str) -> tuple[dict[str, Comparison], list[FunctionCheck], list[str]]:
            cost = full_cost if mode == "full" else estimate_evaluations(program, env, calls, full=False)
            if cost > limits.max_check_evaluations:
                hint = "; check mode fast needs far fewer" if mode == "full" else ""
                raise LimitExceeded(
                    LOC,
                    f"the {mode} check would need {cost:,} forward evaluations, over the limit of "
                    f"{limits.max_check_evaluations:,} (setting {setting('max_check_evaluations')}){hint}",
                )
            # Retries at kinks may take up to MOST_STEPS stencils a derivative; other directions
            # and element-by-element looks at a tensor only what is left of that.
            budget = Budget(MOST_STEPS * limits.max_check_evaluations, LOC, guard.check_time, MOST_STEPS * cost)
            differentiator = Differentiator(options, budget, records_fit)
            try:
                with no_grad():
                    rows = BATCH_ELEMENTS // max(evaluation_elements, 1)
                    tensors = _check_tensors(program, env, upstream, mode, options, differentiator, rows, roundings)
                    functions, warnings = check_functions(program, calls, mode, options, differentiator)
            finally:
                spent.append(budget.used)
            return tensors, functions, warnings

        spent: list[int] = []  # evaluations, by each run
        if options.mode == "auto" and mode == "full":
            # The count of evaluations says nothing of what each costs (a large graph re-run for
            # each element): full gets a share of the time left, and fast runs in the rest.
            try:
                with guard.time_boxed(AUTO_FULL_TIME_SHARE):
                    tensors, functions, warnings = run("full")
            except OutOfTime:
                guard.check_time()  # past the request's own deadline, that stands
                mode = "fast"
                tensors, functions, warnings = run("fast")
                warnings.insert(
                    0,
                    f"check mode auto ran fast: full ({full_cost:,} evaluations) was taking over "
                    f"{AUTO_FULL_TIME_SHARE:.0%} of the time left, and was left off after {spent[0]:,} of them",
                )
        else:
            tensors, functions, warnings = run(mode)
    warnings.extend(_past_float32(answer, env))
    comparisons = [*tensors.values(), *(c for f in functions for c in f.inputs.values())]
    unique = list({id(c): c for c in comparisons}.values())  # aliases share one
    warnings.extend(imprecision_notes(unique, options.atol))
    warnings.extend(note for c in unique for note in c.notes)
    checked = [c.passed for c in tensors.values()] + [f.passed for f in functions]
    if not records_fit and False in checked:
        warnings.append(_untracked_kinks(kink_elements, evaluation_elements, limits.max_total_elements))
    if not checked:
        warnings.append(
            "the check had nothing to compare: no leaf requires grad and receives a gradient, no node retains "
            "its gradient, and no custom function is called"
        )
    return CheckReport(
        mode=mode,
        passed=all(checked) if checked else None,
        eps=options.eps or DEFAULT_EPS,
        atol=options.atol,
        rtol=options.rtol,
        seed=options.seed,
        evaluations=sum(spent),
        tensors=tensors,
        functions=functions,
        warnings=warnings,
    )


def _past_float32(answer: Result | None, env: dict[str, Tensor]) -> list[str]:
    """Where a gradient the answer shows, in float32, is NaN or infinite and the check's, in
    float64, is finite (1 - sigmoid(18) is 0 in float32): the first tensor, said once."""
    for name, shown in answer.tensors.items() if answer is not None else ():
        own = env[name]._grad
        if shown.grad is None or shown.grad.dtype != np.float32 or own is None:
            continue
        past = ~np.isfinite(shown.grad) & np.isfinite(own.array)
        if past.any():
            flat = int(np.argmax(past))
            index = [int(i) for i in np.unravel_index(flat, past.shape)]
            where = element_name(name, index)
            value = float(shown.grad.flat[flat])
            said = "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"  # as the answer says it
            return [
                f"{where}: the gradient is {said} in float32, the request's dtype, and "
                f"{own.array.flat[flat]:.10g} in float64, where the check computes: float32's range or precision ran "
                "out on the way (the first tensor where it does); the check verified the float64 gradients"
            ]
    return []


def _roundings(program: Program, tick: Callable[[], None]) -> dict[str, Rounding]:
    """engine.rounding's bound on F's rounding for each name the check may perturb, from a run
    of the graph of its own (what its backward reaches is no one's to report), through the ops of
    custom functions' forwards, whose rounding is what the steps meet (x - sin(x) at 5e-6)."""
    with through_forwards():
        fresh, _ = program.forward(program.leaf_arrays(float64=True))
    # A root that does not require grad is refused by the check's own backward, in its words.
    roots = [(fresh[r.name], program.upstream(r, fresh[r.name])) for r in program.roots if fresh[r.name].requires_grad]
    return objective_rounding(roots, {name: fresh[name] for name in program.names()}, tick)


def _objective(upstream: list[tuple[str, Array]]) -> Callable[[dict[str, Tensor]], float]:
    def objective(env: dict[str, Tensor]) -> float:
        return float(sum(np.vdot(env[name].array, gradient) for name, gradient in upstream))

    return objective


def _check_tensors(
    program: Program,
    env: dict[str, Tensor],
    upstream: list[tuple[str, Array]],
    mode: str,
    options: CheckOptions,
    differentiator: Differentiator,
    batch_rows: int,
    roundings: dict[str, Rounding],
) -> dict[str, Comparison]:
    objective = _objective(upstream)
    base = program.leaf_tensors(program.leaf_arrays(float64=True), requires_grad=False)
    program.evaluate_nodes(base)
    at_base = objective(base)
    results: dict[str, Comparison] = {}
    for target in _targets(program, env):
        name = target.names[0]
        f = _objective_of(program, base, name, objective, at_base)
        batched = _batched_objective_of(program, base, name, upstream, batch_rows)
        x = base[name].array
        rounding = roundings.get(name)
        comparison = compare_one(f, x, target.grad, mode, options, differentiator, name, batched, rounding=rounding)
        _explain_a_kink(comparison, f, x, differentiator, bool(program.functions))
        if math.isfinite(at_base):  # else nothing could be measured anywhere, as a note below says
            _explain_the_unmeasured(comparison, f, x, differentiator, name)
        if comparison.direction is not None and comparison.non_differentiable and math.isfinite(at_base):
            comparison.notes.append(
                f"{name}: every random direction tried met a kink or a domain edge, where its steps measured no "
                "derivative, and the evaluation limit or the time left did not allow a look element by element: "
                "nothing of this gradient was judged"
            )
        if not math.isfinite(at_base):
            comparison.notes.append(
                f"{name}: the backward roots' values times their upstream gradients sum to {at_base} here, so no "
                "finite difference could measure this gradient: its elements are listed as non-differentiable, "
                "none judged"
            )
        for alias in target.names:
            results[alias] = comparison
    return results


def _explain_a_kink(
    comparison: Comparison, f: Callable[[Array], float], x: Array, differentiator: Differentiator, hand_written: bool
) -> None:
    """Where a failed element has an op of the graph at its kink, say so: autograd takes a
    convention there (relu'(0) = 0, as PyTorch), which a smooth function of kinked ops does not
    share (relu(x) + log(1 + exp(-abs(x))) at 0). Two evaluations, on failure only."""
    index = comparison.worst_index
    if comparison.passed or index is None or len(index) != x.ndim:
        return  # passed, or failed along a direction: no element named
    clear = _clear_of_kinks(differentiator, f, x, [index])
    if clear is not None and not clear[0]:
        comparison.message = (
            f"{comparison.message}; an op of the graph is at its kink there (relu or abs at 0, a tie of max or "
            "min, ...), where autograd takes PyTorch's convention, which the function itself need not share"
        )
        if hand_written:  # the gradient may be a custom backward's, not autograd's (a review)
            comparison.message += "; or a hand-written backward it goes through is wrong there: see check.functions"


UNMEASURED_LOOKS = 3  # listed elements looked at for a kink, two evaluations each


def _explain_the_unmeasured(
    comparison: Comparison, f: Callable[[Array], float], x: Array, differentiator: Differentiator, name: str
) -> None:
    """Where an element is listed as non-differentiable with no op's kink within the differences'
    reach, say why it may be listed: a corner that no op marks (std of equal elements), a turn within
    their smallest step (sin(x³) at 1000) or a domain's edge, which the field's name does not tell."""
    listed = [index for index in comparison.non_differentiable if len(index) == x.ndim][:UNMEASURED_LOOKS]
    clear = _clear_of_kinks(differentiator, f, x, listed, differentiator.eps)
    unmeasured = [index for index, ok in zip(listed, clear or [], strict=False) if ok]
    if unmeasured:
        where = ", ".join(element_name(name, index) for index in unmeasured)
        comparison.notes.append(
            f"{where}: listed as non-differentiable with no op of the graph at a kink near (relu or abs at 0, a "
            "tie, ...): the finite differences measured no derivative there, as at a corner no op marks (std of "
            "equal elements, sqrt(x * x) at 0), where the function turns within their smallest step (sin(x³) at "
            "1000) or where a step leaves its domain (log just above 0); not judged"
        )


def _clear_of_kinks(
    differentiator: Differentiator,
    f: Callable[[Array], float],
    x: Array,
    indices: list[list[int]],
    relative_step: float = PROBE_STEP,
) -> list[bool] | None:
    """Differentiator.clear_of_kinks of these elements, two evaluations each; None where there are
    none, the kinks are not recorded, or the budget or the time left does not allow the look."""
    if not indices or not differentiator.record_kinks or not differentiator.budget.reserve(2 * len(indices)):
        return None
    flat = np.array([np.ravel_multi_index(index, x.shape) if x.ndim else 0 for index in indices])
    clear = unless_out_of_time(lambda: differentiator.clear_of_kinks(f, x, flat, relative_step))
    return None if clear is None else [bool(ok) for ok in clear]


def _objective_of(
    program: Program,
    base: dict[str, Tensor],
    name: str,
    objective: Callable[[dict[str, Tensor]], float],
    at_base: float,
) -> Callable[[Array], float]:
    """F as a function of one leaf's or node's value: only the nodes that depend on it re-run."""
    dependents = program.dependents(name)
    unperturbed = base[name].array

    def f(x: Array) -> float:
        if x is unperturbed:
            return at_base  # every target's derivatives start from F itself: computed once
        program.start_evaluation()
        values = dict(base)
        values[name] = Tensor.wrap(np.asarray(x))  # x + t·u of a 0-d x is a NumPy scalar, which no op takes as a tensor
        program.evaluate_nodes(values, dependents)
        return objective(values)

    return f


def _batched_objective_of(
    program: Program, base: dict[str, Tensor], name: str, upstream: list[tuple[str, Array]], rows: int
) -> Batch:
    """F for many values of one leaf or node at once, by re-running what depends on it with a
    batch axis: up to `rows` copies, each as large as one evaluation of the graph at most."""
    dependents = program.dependents(name)
    names = [n for i in dependents for n in program.nodes[i].names]

    def f(copies: Array) -> Array | None:
        rows = copies.shape[0]
        guard = program.start_evaluation()
        values = dict(base)
        values[name] = Batched.wrap(copies)
        guard.batched = True
        try:
            program.evaluate_nodes(values, dependents)
        except LimitExceeded:
            raise
        except (Unbatchable, SpecError, *COMPUTE_FAILURES):
            return None  # evaluated copy by copy, an error is met again and said where it happens
        finally:
            guard.batched = False
        for n in names:  # every row a copy of the tensor it stands for: else a rule is wrong
            expected = (rows, *base[n].shape) if values[n].__class__ is Batched else base[n].shape
            if values[n].shape != expected:
                return None
        total = np.zeros(rows)
        for root, gradient in upstream:
            tensor = values[root]
            if tensor.__class__ is Batched:
                total += tensor.array.reshape(rows, -1) @ gradient.reshape(-1)
            else:
                total += np.vdot(tensor.array, gradient)
        return total

    return Batch(f, rows)
