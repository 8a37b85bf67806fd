"""Check gradients against central differences, catch a lost gradient, and read the chain rule spelled out.

1. gradcheck a hand-written function, and gradgradcheck its second derivatives;
2. a function that rebuilds a Value from `.data` loses a gradient: gradcheck says so;
3. explain() one gradient of a small labelled expression, and ∂E/∂w1 of Mazur's worked example.
Run:  python examples/gradcheck_and_explain.py
"""

from __future__ import annotations

from tinygrad_bp import GradcheckError, Value, explain, gradcheck, gradgradcheck
from tinygrad_bp.worked_example import build, forward


def f(a: Value, b: Value) -> Value:
    """A hand-written function of two inputs: tanh(a·b + b²) / e^a."""
    return (a * b + b ** 2).tanh() / a.exp()


def lost(a: Value, b: Value) -> Value:
    """2a·b, but `a` is rebuilt from its number: the graph no longer reaches it."""
    return Value(a.data * 2) * b


def main() -> None:
    print("gradcheck(f, [0.7, -1.3]):", gradcheck(f, [0.7, Value(-1.3, label="b")]))
    print("gradgradcheck(f, [0.7, -1.3]):", gradgradcheck(f, [0.7, -1.3]))

    print("gradcheck(lost, [0.3, 0.7], raise_exception=False):", gradcheck(lost, [0.3, 0.7], raise_exception=False))
    try:
        gradcheck(lost, [0.3, 0.7])
    except GradcheckError as e:  # the default: raise, with the table of every entry
        print(e)

    # a small labelled expression: y = x·w + b, z = tanh(y)
    x, w, b = Value(0.5, label="x"), Value(-1.5, label="w"), Value(0.25, label="b")
    y = x * w + b
    y.label = "y"
    z = y.tanh()
    z.label = "z"
    print()
    print(explain(z, w))

    model = build()  # Mazur's 2-2-2 sigmoid network with its starting weights
    E, nodes = forward(model)
    print()
    print(explain(E, nodes["w1"]))


if __name__ == "__main__":
    main()
