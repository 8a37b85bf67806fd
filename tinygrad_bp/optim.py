"""Optimizers that update `Value.data` from `Value.grad`: SGD (momentum, weight decay) and Adam.

The update rules follow torch.optim (SGD with dampening 0, no Nesterov; Adam
with L2 weight decay added to the gradient), so results can be checked against it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from tinygrad_bp.engine import Value


def _check(name: str, value: Any, low: float, high: float | None = None) -> float:
    """value as a finite float in [low, high) (high None: no upper bound); else ValueError naming it."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not (x >= low and (high is None or x < high)) or not math.isfinite(x):
        bound = f"[{low}, {'inf' if high is None else high})"
        raise ValueError(f"{name} must be in {bound}, got {value!r}")
    return x


class Optimizer:
    """Holds the parameters; `zero_grad()` and `step()`."""

    def __init__(self, params: Iterable[Value] | Any):
        if hasattr(params, "parameters") and callable(params.parameters):
            params = params.parameters()  # a Module
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Value):
                raise TypeError(f"{type(self).__name__}: params[{i}] must be a Value, got {type(p).__name__}")

    def zero_grad(self) -> None:
        """Set every parameter's `.grad` to 0."""
        for p in self.params:
            p.grad = 0.0

    def step(self) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """p ← p − lr·v with v = momentum·v + (g + weight_decay·p) (v = g + weight_decay·p on the first step)."""

    def __init__(self, params: Iterable[Value] | Any, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params)
        self.lr = _check("lr", lr, 0.0)
        self.momentum = _check("momentum", momentum, 0.0)
        self.weight_decay = _check("weight_decay", weight_decay, 0.0)
        self._velocity: list[float] | None = None

    def step(self) -> None:
        """One update of every parameter from its current `.grad`."""
        lr, mu, wd = self.lr, self.momentum, self.weight_decay
        if mu == 0.0:
            for p in self.params:
                p.data -= lr * (p.grad + wd * p.data if wd else p.grad)
            return
        first = self._velocity is None
        if first:
            self._velocity = [0.0] * len(self.params)
        vel = self._velocity
        for i, p in enumerate(self.params):
            g = p.grad + wd * p.data if wd else p.grad
            v = g if first else mu * vel[i] + g
            vel[i] = v
            p.data -= lr * v


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; weight_decay adds weight_decay·p to the gradient."""

    def __init__(self, params: Iterable[Value] | Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params)
        self.lr = _check("lr", lr, 0.0)
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
        self.betas = (_check("betas[0]", b1, 0.0, 1.0), _check("betas[1]", b2, 0.0, 1.0))
        self.eps = _check("eps", eps, 0.0)
        self.weight_decay = _check("weight_decay", weight_decay, 0.0)
        self.t = 0
        self._m = [0.0] * len(self.params)
        self._v = [0.0] * len(self.params)

    def step(self) -> None:
        """One update of every parameter from its current `.grad`."""
        b1, b2 = self.betas
        lr, eps, wd = self.lr, self.eps, self.weight_decay
        self.t += 1
        step_size = lr / (1.0 - b1 ** self.t)
        bc2_sqrt = math.sqrt(1.0 - b2 ** self.t)
        m, v = self._m, self._v
        for i, p in enumerate(self.params):
            g = p.grad + wd * p.data if wd else p.grad
            m[i] = b1 * m[i] + (1.0 - b1) * g
            v[i] = b2 * v[i] + (1.0 - b2) * g * g
            p.data -= step_size * m[i] / (math.sqrt(v[i]) / bc2_sqrt + eps)
