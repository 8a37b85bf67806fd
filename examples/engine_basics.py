"""The engine in a few lines: Value ops, backward(), and grad(create_graph=True) for a second derivative.

Each number the engine computes is printed beside the same number from a hand formula.
Run:  python examples/engine_basics.py
"""

from __future__ import annotations

import math

from tinygrad_bp import Value, grad


def show(name: str, ours: float, formula: str, expected: float) -> None:
    print(f"{name:<20}= {ours:>18.15f}    {formula:<20}= {expected:>18.15f}")


def main() -> None:
    # c = tanh(a·b + b²) at a = 2, b = -3: a·b + b² = 3
    a = Value(2.0, label="a")
    b = Value(-3.0, label="b")
    c = (a * b + b ** 2).tanh()
    c.label = "c"
    c.backward()  # dc/dc = 1, then the chain rule in reverse topological order
    sech2 = 1 - math.tanh(3.0) ** 2  # d tanh(u)/du at u = 3
    show("c", c.data, "tanh(3)", math.tanh(3.0))
    show("dc/da", a.grad, "sech²(3)·b", sech2 * -3.0)
    show("dc/db", b.grad, "sech²(3)·(a + 2b)", sech2 * (2.0 + 2 * -3.0))

    # a second derivative: grad(create_graph=True) returns Values that can be differentiated again
    x = Value(0.3, label="x")
    y = x.tanh()
    d1, = grad(y, [x], create_graph=True)  # 1 − tanh²(x), as a Value in a new graph
    d2, = grad(d1, [x])                    # −2·tanh(x)·(1 − tanh²(x))
    t = math.tanh(0.3)
    show("d tanh/dx at 0.3", d1.data, "1 − tanh²", 1 - t * t)
    show("d² tanh/dx² at 0.3", d2.data, "−2·tanh·(1 − tanh²)", -2 * t * (1 - t * t))
    print(f"x.grad is still {x.grad} (grad() touches no .grad)")


if __name__ == "__main__":
    main()
