"""Optimizers that update `Value.data` from `Value.grad`: SGD (momentum, weight decay) and Adam.

The update rules follow torch.optim (SGD with dampening 0, no Nesterov; Adam
with L2 weight decay added to the gradient), so results can be checked against it.
A `step()` computes every new value first and assigns them only when all are
finite, so an error leaves parameters and optimizer state as they were.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from tinygrad_bp.engine import Value
from tinygrad_bp.ops import is_real

__all__ = ["Optimizer", "SGD", "Adam"]


def _check(name: str, value: Any, low: float, high: float | None = None) -> float:
    """value as a finite float in [low, high) (high None: no upper bound); else ValueError naming it."""
    if not is_real(value):
        raise ValueError(f"{name} must be a real number (int or float), got {type(value).__name__} {value!r:.40}")
    bound = f"[{low}, {'inf' if high is None else high})"
    try:
        x = float(value)
    except OverflowError:  # an int such as 10**400: float() says only "int too large to convert to float"
        raise ValueError(f"{name} must be in {bound}, got a number too large for a float "
                         f"({type(value).__name__} beyond ±1.8e308)") from None
    if not (x >= low and (high is None or x < high)) or not math.isfinite(x):
        raise ValueError(f"{name} must be in {bound}, got {value!r}")
    return x


class Optimizer:
    """Holds the parameters; `zero_grad()` and `step()`."""

    def __init__(self, params: Iterable[Value] | Any):
        name = type(self).__name__
        if hasattr(params, "parameters") and callable(params.parameters):
            params = params.parameters()  # a Module
        if isinstance(params, Value) or not hasattr(params, "__iter__"):
            raise TypeError(f"{name}: params must be an iterable of Values or a model, got {type(params).__name__}"
                            + (" (a single Value: pass [v])" if isinstance(params, Value) else ""))
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{name}: got an empty parameter list")
        seen: dict[int, list[int]] = {}
        for i, p in enumerate(self.params):
            if not isinstance(p, Value):
                raise TypeError(f"{name}: params[{i}] must be a Value, got {type(p).__name__}")
            seen.setdefault(id(p), []).append(i)
        for indexes in seen.values():
            if len(indexes) > 1:
                where = ", ".join(f"params[{i}]" for i in indexes[:-1]) + f" and params[{indexes[-1]}]"
                raise ValueError(f"{name}: {where} are the same Value; each step would update it "
                                 f"{len(indexes)} times (pass each parameter once)")
        self._built_with = tuple(self.params)  # the state (momentum, Adam's m and v) is kept per parameter

    def zero_grad(self) -> None:
        """Set every parameter's `.grad` to 0."""
        for p in self.params:
            p.grad = 0.0

    def step(self) -> None:
        raise NotImplementedError

    def _grads(self) -> list[float]:
        """Every parameter's `.grad` as a float (TypeError naming a parameter whose grad is not a number)."""
        built = self._built_with
        if len(self.params) != len(built) or any(p is not q for p, q in zip(self.params, built)):
            raise ValueError(f"{type(self).__name__}.step: params changed since the optimizer was built "
                             f"({len(built)} then, {len(self.params)} now); its state belongs to the first ones: "
                             "build a new optimizer for new parameters")
        grads = []
        for i, p in enumerate(self.params):
            g = p.grad
            if type(g) is not float:
                if not is_real(g):
                    raise TypeError(f"{type(self).__name__}.step: params[{i}].grad must be a number, "
                                    f"got {type(g).__name__} {g!r:.40}")
                try:
                    g = float(g)
                except OverflowError:
                    raise ValueError(f"{type(self).__name__}.step: params[{i}].grad is a number too large for "
                                     f"a float ({type(g).__name__} beyond ±1.8e308); no parameter was changed"
                                     ) from None
            grads.append(g)
        return grads

    def _assign(self, new: list[float], grads: list[float]) -> None:
        """Write the new values, or raise naming the first non-finite one and write nothing."""
        for i, (p, x, g) in enumerate(zip(self.params, new, grads)):
            if not math.isfinite(x):
                what = f"{type(self).__name__}.step: params[{i}] would become {x!r} (data {p.data!r}, grad {g!r})"
                if math.isfinite(p.data) and math.isfinite(g):
                    raise OverflowError(f"{what}: the update overflows a float; no parameter was changed")
                raise ValueError(f"{what}: a non-finite data or grad; no parameter was changed")
        for p, x in zip(self.params, new):
            p.data = x


class SGD(Optimizer):
    """p ← p − lr·v with v = momentum·v + (g + weight_decay·p) (v = g + weight_decay·p on the first step)."""

    def __init__(self, params: Iterable[Value] | Any, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params)
        self.lr = _check("lr", lr, 0.0)
        self.momentum = _check("momentum", momentum, 0.0)
        self.weight_decay = _check("weight_decay", weight_decay, 0.0)
        self._velocity: list[float] | None = None

    def step(self) -> None:
        """One update of every parameter from its current `.grad` (all or nothing)."""
        lr, mu, wd = self.lr, self.momentum, self.weight_decay
        raw = self._grads()
        grads = [g + wd * p.data for p, g in zip(self.params, raw)] if wd else raw
        if mu == 0.0:
            self._assign([p.data - lr * g for p, g in zip(self.params, grads)], raw)
            return
        vel = list(grads) if self._velocity is None else [mu * v + g for v, g in zip(self._velocity, grads)]
        self._assign([p.data - lr * v for p, v in zip(self.params, vel)], raw)
        self._velocity = vel


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; weight_decay adds weight_decay·p to the gradient.

    eps must be > 0 (torch.optim.Adam allows 0): it keeps lr·m̂/(√v̂ + eps) finite for a
    parameter whose gradients have all been 0.
    """

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
        if self.eps == 0.0:
            raise ValueError("eps must be > 0 (it keeps the step lr·m̂/(√v̂ + eps) finite for a parameter "
                             f"whose gradients so far were all 0), got {eps!r}")
        self.weight_decay = _check("weight_decay", weight_decay, 0.0)
        self.t = 0
        self._m = [0.0] * len(self.params)
        self._v = [0.0] * len(self.params)

    def step(self) -> None:
        """One update of every parameter from its current `.grad` (all or nothing)."""
        b1, b2 = self.betas
        lr, eps, wd = self.lr, self.eps, self.weight_decay
        raw = self._grads()
        grads = [g + wd * p.data for p, g in zip(self.params, raw)] if wd else raw
        t = self.t + 1
        step_size = lr / (1.0 - b1 ** t)
        bc2_sqrt = math.sqrt(1.0 - b2 ** t)
        m = [b1 * mi + (1.0 - b1) * g for mi, g in zip(self._m, grads)]
        v = [b2 * vi + (1.0 - b2) * g * g for vi, g in zip(self._v, grads)]
        for i, (vi, g) in enumerate(zip(v, raw)):
            if vi == math.inf and math.isfinite(g):  # g² overflowed: the step would silently be 0
                raise OverflowError(f"Adam.step: the squared gradient of params[{i}] overflows a float "
                                    f"(grad {g!r}); no parameter was changed")
        self._assign([p.data - step_size * mi / (math.sqrt(vi) / bc2_sqrt + eps)
                      for p, mi, vi in zip(self.params, m, v)], raw)
        self.t, self._m, self._v = t, m, v
