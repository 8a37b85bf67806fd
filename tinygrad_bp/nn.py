"""Neural networks built on `Value`: Module, Neuron, Layer, MLP.

A neuron computes, in the words of the textbook derivation, its net input
net = Σ w·x + b as ONE n-ary node (op "net": ∂net/∂w_i = x_i, ∂net/∂x_i = w_i,
∂net/∂b = 1) and then its activation a = f(net).  Labels make a drawn graph read like the derivation:
inputs "i1", "i2", ...; neurons "h1", "h2", ... (one hidden layer) or "h2.3"
(layer 2, neuron 3) with several, output neurons "o1", "o2", ...; nodes
"net_<name>" and "out_<name>"; weights numbered globally "w1", "w2", ... in
`parameters()` order (biases excluded); biases "b_<name>".  A linear unit has
no activation node: its net node is its output.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Sequence
from typing import Any

from tinygrad_bp.engine import Value, maker
from tinygrad_bp.ops import NET, RELU, SIGMOID, TANH, Op, is_whole

__all__ = ["ACTIVATIONS", "Module", "Neuron", "Layer", "MLP", "unit_name"]

ACTIVATIONS: dict[str, Op | None] = {"sigmoid": SIGMOID, "tanh": TANH, "relu": RELU, "linear": None}
_MAKE_NET = maker(NET)  # the engine's makers of net and activation nodes (generated when tinygrad_bp is imported)
_MAKE_ACT = {op.key: maker(op) for op in ACTIVATIONS.values() if op is not None}


def _activation_op(activation: str) -> Op | None:
    try:
        return ACTIVATIONS[activation]
    except (KeyError, TypeError):
        raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}") from None


def _as_value(x: Any, label: str) -> Value:
    """x as a Value: Values pass through, numbers (also numpy scalars) become float leaves labelled `label`."""
    return x if isinstance(x, Value) else Value(x, label=label)  # Value checks the type, stores a plain float


def _inputs(x: Any) -> Any:
    """An MLP's inputs other than a list or tuple: a numpy row as it is, one bare input in a list; TypeError for a
    set, dict or string."""
    if isinstance(x, (set, frozenset, dict, str, bytes)) or hasattr(x, "keys"):
        raise TypeError(f"MLP: inputs must be a sequence of numbers (a list, a tuple, a numpy row), got "
                        f"{type(x).__name__} (a set or dict has no order of inputs)")
    if isinstance(x, Value) or not hasattr(x, "__len__") or getattr(x, "ndim", None) == 0:
        return [x]  # one input given bare (a number, a Value, a 0-d numpy array)
    return x


def _size(n: Any, what: str, where: str = "") -> int:
    """n as a positive int (numpy integers too; not bools, floats or strings); ValueError naming `what`."""
    if not is_whole(n) or n < 1:
        raise ValueError(f"{what} must be a positive int{where}, got {type(n).__name__} {n!r:.40}")
    return int(n)


def _micrograd_activation(activation: str | bool, nonlin: bool | None) -> str:
    """micrograd's `nonlin` (given by name, or as a bool in activation's place): True is relu, False linear."""
    if nonlin is None and isinstance(activation, bool):
        nonlin = activation
    if nonlin is None:
        return activation
    wanted = "relu" if nonlin else "linear"
    if not isinstance(activation, bool) and activation not in ("relu", wanted):  # "relu": the default
        raise ValueError(f"activation {activation!r} and nonlin={nonlin!r} disagree; give one of them")
    return wanted


def _shared_activation(neurons: Sequence[Neuron]) -> str:
    """The activation all `neurons` have, or "mixed"."""
    kinds = {n.activation for n in neurons}
    return kinds.pop() if len(kinds) == 1 else "mixed"


def unit_name(label: str) -> str:
    """The neuron name in a node label of nn's convention ("net_h1", "out_h1" -> "h1"); other labels as they are.

    A bare prefix ("out_") names no neuron and gives "".
    """
    return label[4:] if label[:4] in ("out_", "net_") else label


class Module:
    """Something with parameters: `parameters()`, `named_parameters()`, `zero_grad()`."""

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        """(name, Value) pairs in `parameters()` order."""
        return iter(())

    def parameters(self) -> list[Value]:
        """All trainable Values, in a fixed order."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Set every parameter's `.grad` to 0."""
        for p in self.parameters():
            p.grad = 0.0


class Neuron(Module):
    """One unit: net = Σ w_i·x_i + b (one node), then a = activation(net)."""

    def __init__(self, nin: int, activation: str = "relu", name: str = "n", rng: random.Random | None = None, *,
                 nonlin: bool | None = None):
        nin = _size(nin, "Neuron: nin")
        self.activation = _micrograd_activation(activation, nonlin)
        self.nin = nin
        uniform = (rng or random).uniform  # without an rng: Python's global generator, as micrograd
        self.w = [Value(uniform(-1.0, 1.0), label=f"w{k + 1}") for k in range(nin)]
        self.b = Value(0.0)
        self.name = name

    @property
    def activation(self) -> str:
        """'sigmoid', 'tanh', 'relu' or 'linear'."""
        return self._activation

    @activation.setter
    def activation(self, activation: str) -> None:
        self._act = _activation_op(activation)
        self._activation = activation

    @property
    def name(self) -> str:
        """The unit's name ('h1', 'o2', 'h2.3'); sets the labels of its bias, net and output nodes."""
        return self._name

    @name.setter
    def name(self, name: str) -> None:
        self._name = name
        self._net_label = f"net_{name}"
        self._out_label = f"out_{name}"
        self.b.label = f"b_{name}"

    def _forward(self, xs: Sequence[Value]) -> Value:
        # xs are Values of the right length (checked by the caller); built by the engine's fast path
        if len(self.w) != len(xs) or type(self.b) is not Value:
            raise ValueError(f"{self._name}: {len(self.w)} weights for {len(xs)} inputs (nin = {self.nin}) and bias "
                             f"{type(self.b).__name__}: neuron.w or .b was changed; keep nin weights and a Value bias")
        net = _MAKE_NET((*self.w, *xs, self.b), self._net_label, NET)
        act = self._act
        return net if act is None else _MAKE_ACT[act.key]((net,), self._out_label, act)

    def __call__(self, x: Sequence[Any]) -> Value:
        if len(x) != self.nin:
            raise ValueError(f"{self._name}: expected {self.nin} inputs, got {len(x)}")
        return self._forward([_as_value(xi, f"i{k + 1}") for k, xi in enumerate(x)])

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        for k, w in enumerate(self.w):
            yield f"w.{k}", w
        yield "b", self.b

    def parameters(self) -> list[Value]:
        return [*self.w, self.b]

    def zero_grad(self) -> None:
        for w in self.w:
            w.grad = 0.0
        self.b.grad = 0.0

    def __repr__(self) -> str:
        kind = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "linear": "Linear"}[self.activation]
        return f"{kind}Neuron({self.nin})"


class Layer(Module):
    """`nout` neurons that read the same inputs; calling it returns a list of Values."""

    def __init__(self, nin: int, nout: int, activation: str = "relu", rng: random.Random | None = None,
                 names: Sequence[str] | None = None, *, nonlin: bool | None = None):
        activation = _micrograd_activation(activation, nonlin)
        nin = _size(nin, "Layer: nin")
        nout = _size(nout, "Layer: nout")
        if names is None:
            names = [f"n{j + 1}" for j in range(nout)]
        elif len(names) != nout:
            raise ValueError(f"Layer: expected {nout} names, got {len(names)}")
        self.nin = nin
        self.nout = nout
        self.neurons = [Neuron(nin, activation, name=names[j], rng=rng) for j in range(nout)]

    @property
    def activation(self) -> str:
        """The neurons' activation ("mixed" when they differ); setting it sets every neuron's."""
        return _shared_activation(self.neurons)

    @activation.setter
    def activation(self, activation: str) -> None:
        _activation_op(activation)
        for n in self.neurons:
            n.activation = activation

    def _forward(self, xs: Sequence[Value]) -> list[Value]:
        return [n._forward(xs) for n in self.neurons]

    def __call__(self, x: Sequence[Any]) -> list[Value]:
        if len(x) != self.nin:
            raise ValueError(f"Layer: expected {self.nin} inputs, got {len(x)}")
        return self._forward([_as_value(xi, f"i{k + 1}") for k, xi in enumerate(x)])

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        for j, n in enumerate(self.neurons):
            for name, p in n.named_parameters():
                yield f"neurons.{j}.{name}", p

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def zero_grad(self) -> None:
        for n in self.neurons:
            n.zero_grad()

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """A multi-layer perceptron: `nin` inputs, one layer per entry of `nouts`.

    Hidden layers use `activation`, the last layer `output_activation`; the
    default (ReLU hidden, linear output) is micrograd's `MLP(2, [16, 16, 1])`.
    Weights start uniform in [-1, 1] from `random.Random(seed)` -- with seed=None
    from Python's global generator, as in micrograd (`random.seed(1337)` then
    `MLP(2, [16, 16, 1])` gives micrograd's demo weights) -- biases at 0.
    """

    def __init__(self, nin: int, nouts: Sequence[int], activation: str = "relu",
                 output_activation: str = "linear", seed: int | None = None):
        nin = _size(nin, "MLP: nin")
        if isinstance(nouts, (str, bytes)) or not hasattr(nouts, "__iter__"):
            raise ValueError(f"MLP: nouts must be a list of layer sizes (e.g. [16, 16, 1]), got {nouts!r:.40}")
        nouts = [_size(n, "MLP: nout", f" for each layer (nouts[{i}])") for i, n in enumerate(nouts)]
        if not nouts:
            raise ValueError("MLP: nouts must list at least one layer size")
        _activation_op(activation)
        _activation_op(output_activation)
        self.nin = nin
        self.nouts = nouts
        self._activation = activation  # what a model without hidden layers reports
        self.seed = seed
        rng = random.Random(seed) if seed is not None else None
        sizes = [nin, *nouts]
        last = len(nouts) - 1
        self.layers = []
        for i in range(len(nouts)):
            if i == last:
                names = [f"o{j + 1}" for j in range(nouts[i])]
            elif last == 1:
                names = [f"h{j + 1}" for j in range(nouts[i])]
            else:
                names = [f"h{i + 1}.{j + 1}" for j in range(nouts[i])]
            act = output_activation if i == last else activation
            self.layers.append(Layer(sizes[i], sizes[i + 1], act, rng=rng, names=names))
        k = 0
        for layer in self.layers:
            for n in layer.neurons:
                for w in n.w:
                    k += 1
                    w.label = f"w{k}"
        self._input_labels = [f"i{k + 1}" for k in range(nin)]

    @property
    def activation(self) -> str:
        """The hidden layers' activation ("mixed" when their neurons differ); setting it sets every hidden neuron's."""
        hidden = [n for layer in self.layers[:-1] for n in layer.neurons]
        return _shared_activation(hidden) if hidden else self._activation

    @activation.setter
    def activation(self, activation: str) -> None:
        _activation_op(activation)
        self._activation = activation
        for layer in self.layers[:-1]:
            layer.activation = activation

    @property
    def output_activation(self) -> str:
        """The output layer's activation ("mixed" when its neurons differ); setting it sets each output neuron's."""
        return self.layers[-1].activation

    @output_activation.setter
    def output_activation(self, activation: str) -> None:
        self.layers[-1].activation = activation

    @property
    def config(self) -> dict[str, Any]:
        """The architecture: nin, nouts, activation, output_activation (enough to rebuild the model)."""
        return {"nin": self.nin, "nouts": list(self.nouts), "activation": self.activation,
                "output_activation": self.output_activation}

    def __call__(self, x: Any) -> Value | list[Value]:
        """Forward pass; floats become leaves "i1", "i2", ...; one output neuron gives a Value."""
        if type(x) is not list and type(x) is not tuple:
            x = _inputs(x)
        if len(x) != self.nin:
            raise ValueError(f"MLP: expected {self.nin} inputs, got {len(x)}")
        xs = [_as_value(xi, lab) for xi, lab in zip(x, self._input_labels)]
        for layer in self.layers:
            xs = layer._forward(xs)
        return xs[0] if len(xs) == 1 else xs

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        for i, layer in enumerate(self.layers):
            for name, p in layer.named_parameters():
                yield f"layers.{i}.{name}", p

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def zero_grad(self) -> None:  # layer by layer: no list of the parameters built
        for layer in self.layers:
            layer.zero_grad()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to `path` (see `tinygrad_bp.modelfile`)."""
        from tinygrad_bp.modelfile import save_model

        save_model(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MLP:
        """Read a model written by `save`."""
        from tinygrad_bp.modelfile import load_model

        return load_model(path)

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"
