"""torch.optim's SGD, Adam and AdamW, for the training loops of notebooks written for PyTorch.

Each step is PyTorch's for-loop implementation (the one it runs on the CPU), update for update,
on the parameters in place under no_grad: a graph recorded before a step and run backward after
it is refused, as in PyTorch. The answers are PyTorch's within a rounding or two (its kernels
fuse some multiply-adds). Parameter groups are lists of dicts, as in PyTorch; what PyTorch's
optimizers have beyond the update (state_dict, schedulers, foreach and fused kernels) is not here.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from engine.grad_mode import enable_grad, no_grad
from engine.tensor import Tensor, tensor
from engine.torch_words import type_name

# What PyTorch's optimizers take and print though the update does not depend on them; only
# their defaults are taken here.
_IMPLEMENTATION_CHOICES = {"foreach": None, "differentiable": False, "fused": None}
_IMPLEMENTATION_TAKEN = {"foreach": (None, False), "differentiable": (False,), "fused": (None, False)}


class Optimizer:
    """What SGD and Adam share: the parameter groups, the state of each parameter, zero_grad."""

    def __init__(self, params: Any, defaults: dict[str, Any], implementation: dict[str, Any]) -> None:
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, but got "
                f"torch.{params.dtype.torch_name}Tensor"
            )
        for name, value in implementation.items():
            if name not in _IMPLEMENTATION_CHOICES:
                raise TypeError(f"{type(self).__name__}.__init__() got an unexpected keyword argument '{name}'")
            if value not in _IMPLEMENTATION_TAKEN[name]:  # foreach=False asks for the for-loop: taken
                raise NotImplementedError(f"{name}={value!r}: only the for-loop implementation is here")
        self.defaults = {**defaults, **_IMPLEMENTATION_CHOICES, **implementation}
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)  # by parameter, as PyTorch's
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        for group in groups if isinstance(groups[0], dict) else [{"params": groups}]:
            self.add_param_group(group)

    def add_param_group(self, group: dict[str, Any]) -> None:
        """As PyTorch's: the group is the dict given, its missing settings the defaults."""
        if not isinstance(group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(group)}")
        params = group["params"]
        if isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the ordering of tensors in "
                "sets will change between runs. Please use a list instead."
            )
        group["params"] = params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type_name(p)}")
            if not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        if len(params) != len(set(params)):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, this will cause an "
                "error; see github.com/pytorch/pytorch/issues/40967 for more information",
                UserWarning,
                stacklevel=3,
            )
        taken = {id(p) for other in self.param_groups for p in other["params"]}  # by id: == is elementwise
        if any(id(p) in taken for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.zero_()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:  # PyTorch's closure: evaluates the loss, with a graph, even under no_grad
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        self._update(p, p.grad, group)
        return loss

    def _update(self, p: Tensor, grad: Tensor, group: dict[str, Any]) -> None:
        """One step of p, given its gradient; what it keeps between steps goes in self.state[p]."""
        raise NotImplementedError

    def __repr__(self) -> str:  # PyTorch's, a blank line between groups included
        text = f"{type(self).__name__} ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            text += "".join(f"    {key}: {group[key]}\n" for key in sorted(group) if key != "params")
        return text + ")"


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum (and Nesterov's), dampening and weight decay."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.001,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        **implementation: Any,
    ) -> None:
        _at_least_zero(lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        super().__init__(params, defaults, implementation)

    def _update(self, p: Tensor, grad: Tensor, group: dict[str, Any]) -> None:
        g = -grad if group["maximize"] else grad
        if group["weight_decay"] != 0:
            g = g.add(p, alpha=group["weight_decay"])
        momentum = group["momentum"]
        if momentum != 0:  # else nothing is kept, as in PyTorch
            state = self.state[p]
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.clone().detach()
            else:
                buf.mul_(momentum).add_(g, alpha=1 - group["dampening"])
            g = g.add(buf, alpha=momentum) if group["nesterov"] else buf
        p.add_(g, alpha=-group["lr"])


class Adam(Optimizer):
    """Adam: running averages of the gradient and its square, with their bias corrected;
    `decoupled_weight_decay` makes it AdamW, and `amsgrad` keeps the largest square."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
        capturable: bool = False,
        **implementation: Any,
    ) -> None:
        _at_least_zero(lr=lr, epsilon=eps)
        for i in (0, 1):  # betas[i]: PyTorch's IndexError for a tuple of one
            beta = betas[i]
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        _at_least_zero(weight_decay=weight_decay)
        if capturable:
            raise NotImplementedError("capturable=True: only the for-loop implementation is here")
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            capturable=capturable,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults, implementation)

    def _update(self, p: Tensor, grad: Tensor, group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        state = self.state[p]
        if not state:  # PyTorch's: the count of steps a float32 tensor, the averages zeros like p
            state.update(step=tensor(0.0), exp_avg=_zeros_like(p), exp_avg_sq=_zeros_like(p))
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = _zeros_like(p)
        g = -grad if group["maximize"] else grad
        state["step"] += 1
        if weight_decay != 0 and group["decoupled_weight_decay"]:
            p.mul_(1 - lr * weight_decay)
        elif weight_decay != 0:
            g = g.add(p, alpha=weight_decay)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        _lerp_(exp_avg, g, 1 - beta1)
        exp_avg_sq.mul_(beta2).add_((1 - beta2) * g * g)  # PyTorch's addcmul_, in its order
        step = state["step"].item()
        step_size = lr / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        if group["amsgrad"]:
            kept = state["max_exp_avg_sq"]
            kept.copy_(kept.maximum(exp_avg_sq))
            exp_avg_sq = kept
        denom = exp_avg_sq.sqrt() / bias_correction2_sqrt + eps
        p.add_(-step_size * exp_avg / denom)  # its addcdiv_, in its order


class AdamW(Adam):
    """Adam with its weight decay decoupled from the gradient (p shrinks by lr·weight_decay each
    step), and PyTorch's default decay of 0.01: torch.optim.AdamW."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.01,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        capturable: bool = False,
        **implementation: Any,
    ) -> None:
        if "decoupled_weight_decay" in implementation:  # always, here: PyTorch's AdamW does not take it
            raise TypeError("AdamW.__init__() got an unexpected keyword argument 'decoupled_weight_decay'")
        super().__init__(
            params, lr, betas, eps, weight_decay, amsgrad,
            maximize=maximize, decoupled_weight_decay=True, capturable=capturable, **implementation,
        )  # fmt: skip


def _zeros_like(p: Tensor) -> Tensor:
    return Tensor.wrap(np.zeros_like(p.array))


def _lerp_(start: Tensor, end: Tensor, weight: float) -> None:
    """PyTorch's start.lerp_(end, weight), which counts from the nearer end."""
    if weight < 0.5:
        start.add_((end - start) * weight)
    else:
        start.copy_(end - (end - start) * (1 - weight))


def _at_least_zero(**values: float) -> None:
    """PyTorch's checks of hyperparameters that may not be negative, in its words."""
    words = {"lr": "learning rate", "momentum": "momentum value", "epsilon": "epsilon value"}
    for name, value in values.items():
        if value < 0.0:
            raise ValueError(f"Invalid {words.get(name, name + ' value')}: {value}")
