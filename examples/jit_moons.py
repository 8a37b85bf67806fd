"""Train micrograd's demo network on the two moons with `jit`: the loss is traced once, then replayed.

The same 100 steps are then run without jit, and the two runs are compared bit for bit: the loss of
every step, and every parameter at the end.
Run:  python examples/jit_moons.py
"""

from __future__ import annotations

import time

from tinygrad_bp import Value, jit
from tinygrad_bp.data import moons
from tinygrad_bp.losses import hinge
from tinygrad_bp.nn import MLP
from tinygrad_bp.optim import Adam


def train(use_jit: bool, steps: int = 100) -> tuple[list[float], list[float], float, object]:
    """The losses of each step, the parameters after the last, the seconds it took, and the loss function."""
    X, y = moons(n=100, noise=0.1, seed=0)  # labels ±1, as hinge expects
    model = MLP(2, [16, 16, 1], seed=0)
    params = model.parameters()
    optimizer = Adam(params, lr=0.05)

    def loss_fn(X, y):
        scores = [model(x) for x in X]
        return hinge(scores, y) + 1e-4 * Value.sum(p * p for p in params)

    f = jit(loss_fn) if use_jit else loss_fn
    losses = []
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = f(X, y)  # with jit: the 1st call traces (an eager step), later calls replay generated code
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.data)
    return losses, [p.data for p in params], time.perf_counter() - t0, f


def main() -> None:
    losses, params, seconds, f = train(use_jit=True)
    for step in (1, 20, 40, 60, 80, 100):
        print(f"step {step:3d}  loss {losses[step - 1]:.6f}")
    s = f.stats
    print(f"jit: {s['traces']} trace, {s['replays']} replays, {s['nodes']} nodes, {s['shared']} shared loop body, "
          f"{s['lines']} lines of generated code")
    eager_losses, eager_params, eager_seconds, _ = train(use_jit=False)
    same = eager_losses == losses and eager_params == params
    print(f"without jit: the same losses and parameters bit for bit: {same}")
    print(f"time: {seconds:.2f} s with jit (trace and compile included), {eager_seconds:.2f} s without")


if __name__ == "__main__":
    main()
