"""The textbook delta rule for an MLP trained on E = ½ Σ (t − a)², in float arithmetic only.

This is the reference the autograd engine is checked against: no Value graph is
built.  With the sign convention of Mazur's worked example

    δ_k = (t_k − a_k) · f'(net_k)                 at an output unit k
    δ_j = (Σ_k δ_k w_kj) · f'(net_j)              at a hidden unit j
    ∂E/∂w_ji = −δ_j · a_i,   ∂E/∂b_j = −δ_j       (so the step Δw_ji = η δ_j a_i)

where f'(net) = a(1 − a) for sigmoid units (the worked example's case), 1 − a² for tanh
and 1 for linear units.  ReLU is not a textbook delta-rule unit: ValueError.
As in the engine, a quantity that overflows a float from finite inputs and
weights is an OverflowError naming it; inf or NaN put in propagate.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tinygrad_bp.engine import Value

__all__ = ["BackpropResult", "backprop"]


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


# activation name -> (f(net), f'(net) written with a = f(net))
_UNITS = {
    "sigmoid": (_sigmoid, lambda a: a * (1.0 - a)),
    "tanh": (math.tanh, lambda a: 1.0 - a * a),
    "linear": (lambda x: x, lambda a: 1.0),
}


@dataclass
class BackpropResult:
    """What the delta rule computes for one example.

    activations[0] is the input x, activations[l + 1] the outputs a of layer l;
    nets[l] and deltas[l] are the net inputs and δ of layer l; grads is ∂E/∂p for
    each p in `model.parameters()` order; error is E = ½ Σ (t − a)².
    """

    activations: list[list[float]]
    nets: list[list[float]]
    deltas: list[list[float]]
    grads: list[float]
    error: float

    @property
    def outputs(self) -> list[float]:
        """The network's outputs (activations of the last layer)."""
        return self.activations[-1]

    def __iter__(self) -> Iterator[Any]:
        """`activations, deltas, grads = backprop(...)`, the starting design's three results."""
        return iter((self.activations, self.deltas, self.grads))


def _float(x: Any, what: str) -> float:
    if isinstance(x, Value):
        return x.data
    if isinstance(x, (str, bytes)):
        raise TypeError(f"backprop: {what} must be numbers, got {type(x).__name__} {x!r:.40}")
    try:
        return float(x)
    except (TypeError, ValueError):
        raise TypeError(f"backprop: {what} must be numbers, got {type(x).__name__} {x!r:.40}") from None


def _items(x: Any, what: str) -> list[Any]:
    """A sequence's items, or [x] for one number; a str is refused, not split into characters."""
    if isinstance(x, (str, bytes)):
        raise TypeError(f"backprop: {what} must be numbers, got {type(x).__name__} {x!r:.40}")
    return list(x) if hasattr(x, "__len__") else [x]


class _Overflow:
    """Raises OverflowError naming a non-finite quantity, when every input and weight was finite."""

    def __init__(self, numbers: list[float]):
        self.active = all(map(math.isfinite, numbers))

    def check(self, values: list[float], what: str) -> None:
        """`what` names values[k] with "{k}" in it."""
        if self.active and not all(map(math.isfinite, values)):
            k = next(k for k, v in enumerate(values) if not math.isfinite(v))
            raise OverflowError(f"backprop: {what.format(k=k)} overflows a float ({values[k]!r}); "
                                f"the inputs, targets and weights are finite")


def backprop(model: Any, x: Sequence[Any], target: Sequence[Any] | Any) -> BackpropResult:
    """Forward pass, δ for every layer, and ∂E/∂parameter by the delta rule, for E = sse(model(x), target).

    `model` is an MLP (anything with `.layers[l].neurons[j]` having `.w`, `.b`, `.activation`).
    """
    layers = model.layers
    for l, layer in enumerate(layers):
        for j, n in enumerate(layer.neurons):
            if n.activation not in _UNITS:
                raise ValueError(
                    f"backprop: layer {l} neuron {j} has activation {n.activation!r}; "
                    f"the delta rule here handles {sorted(_UNITS)}"
                )
    xs = [_float(v, "inputs") for v in _items(x, "inputs")]
    ts = [_float(v, "targets") for v in _items(target, "targets")]
    nin = len(layers[0].neurons[0].w)
    if len(xs) != nin:
        raise ValueError(f"backprop: expected {nin} inputs, got {len(xs)}")
    nout = len(layers[-1].neurons)
    if len(ts) != nout:
        raise ValueError(f"backprop: expected {nout} targets, got {len(ts)}")

    # forward pass: net_j = Σ_i w_ji a_i + b_j, a_j = f(net_j)
    weights = [[[w.data for w in n.w] for n in layer.neurons] for layer in layers]
    biases = [[n.b.data for n in layer.neurons] for layer in layers]
    overflow = _Overflow([*xs, *ts, *(w for layer in weights for n in layer for w in n),
                          *(b for layer in biases for b in layer)])
    acts = [xs]
    nets = []
    for l, layer in enumerate(layers):
        a_in = acts[-1]
        net_l = []
        for j in range(len(layer.neurons)):
            s = 0.0
            for w, a in zip(weights[l][j], a_in):
                s += w * a
            net_l.append(s + biases[l][j])
        overflow.check(net_l, f"the net input of layer {l} neuron {{k}}")
        nets.append(net_l)
        acts.append([_UNITS[n.activation][0](v) for n, v in zip(layer.neurons, net_l)])

    out = acts[-1]
    diffs = [t - a for t, a in zip(ts, out)]
    overflow.check(diffs, "the output error t − a of output {k}")
    error = 0.5 * sum(d * d for d in diffs)
    overflow.check([error], "the error E = ½ Σ (t − a)²")

    # backward pass: δ at the output, then layer by layer towards the input
    deltas: list[list[float]] = [[] for _ in layers]
    last = len(layers) - 1
    deltas[last] = [d * _UNITS[n.activation][1](a) for d, a, n in zip(diffs, out, layers[last].neurons)]
    overflow.check(deltas[last], f"δ of layer {last} neuron {{k}}")
    for l in range(last - 1, -1, -1):
        above_w, above_d = weights[l + 1], deltas[l + 1]
        deltas[l] = [
            sum(d_k * w_k[j] for d_k, w_k in zip(above_d, above_w)) * _UNITS[n.activation][1](a_j)
            for j, (a_j, n) in enumerate(zip(acts[l + 1], layers[l].neurons))
        ]
        overflow.check(deltas[l], f"δ of layer {l} neuron {{k}}")

    # ∂E/∂w_ji = −δ_j a_i, ∂E/∂b_j = −δ_j, in parameters() order (weights then bias, neuron by neuron)
    grads: list[float] = []
    for l in range(len(layers)):
        for j, d_j in enumerate(deltas[l]):
            g = [-d_j * a_i for a_i in acts[l]]
            overflow.check(g, f"∂E/∂w of layer {l} neuron {j} weight {{k}}")
            grads.extend(g)
            grads.append(-d_j)
    return BackpropResult(activations=acts, nets=nets, deltas=deltas, grads=grads, error=error)
