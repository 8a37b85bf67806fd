"""delta: the textbook delta rule against the autograd engine, by hand, and as a training rule."""

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_bp.delta import backprop
from tinygrad_bp.engine import Value
from tinygrad_bp.losses import sse
from tinygrad_bp.nn import MLP
from tinygrad_bp.optim import SGD


def randomise(model, rng):
    for p in model.parameters():  # biases nonzero too
        p.data = rng.uniform(-2.0, 2.0)


def autograd(model, x, t):
    model.zero_grad()
    E = sse(model(x), t)
    E.backward()
    return E.data, [p.grad for p in model.parameters()]


def assert_close_lists(ours, ref):
    # 1e-10 relative to each gradient, with a floor of 1e-10 of the largest one (a component that is
    # exactly 0 in one computation may come out ~1e-20 in the other)
    floor = 1e-10 * max(abs(g) for g in ref)
    assert len(ours) == len(ref)
    for k, (a, b) in enumerate(zip(ours, ref)):
        assert math.isclose(a, b, rel_tol=1e-10, abs_tol=floor), (k, a, b)


@settings(max_examples=60, deadline=None)
@given(
    depth=st.integers(1, 5),
    widths=st.lists(st.integers(1, 4), min_size=5, max_size=5),
    nin=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_equals_autograd_for_sigmoid_mlps(depth, widths, nin, seed):
    rng = random.Random(seed)
    model = MLP(nin, widths[:depth], activation="sigmoid", output_activation="sigmoid", seed=seed)
    randomise(model, rng)
    x = [rng.uniform(-1, 1) for _ in range(nin)]
    t = [rng.uniform(0, 1) for _ in range(widths[depth - 1])]
    r = backprop(model, x, t)
    E, grads = autograd(model, x, t)
    assert math.isclose(r.error, E, rel_tol=1e-12)
    assert_close_lists(r.grads, grads)
    assert len(r.activations) == depth + 1 and len(r.deltas) == depth == len(r.nets)
    assert r.activations[0] == x and r.outputs == r.activations[-1]


@settings(max_examples=60, deadline=None)
@given(
    acts=st.lists(st.sampled_from(["sigmoid", "tanh", "linear"]), min_size=4, max_size=4),
    depth=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_equals_autograd_for_tanh_and_linear_mixes(acts, depth, seed):
    rng = random.Random(seed)
    nouts = [rng.randint(1, 4) for _ in range(depth)]
    model = MLP(3, nouts, seed=seed)
    for layer, act in zip(model.layers, acts):  # a different activation in every layer
        for n in layer.neurons:
            n.activation = act
    randomise(model, rng)
    x = [rng.uniform(-1, 1) for _ in range(3)]
    t = [rng.uniform(-1, 1) for _ in range(nouts[-1])]
    assert_close_lists(backprop(model, x, t).grads, autograd(model, x, t)[1])


def test_deltas_by_hand_one_sigmoid_unit():
    # one unit: a = σ(w x + b), δ = (t - a) a (1 - a), dE/dw = -δ x, dE/db = -δ
    model = MLP(1, [1], output_activation="sigmoid")
    n = model.layers[0].neurons[0]
    n.w[0].data, n.b.data = 0.5, -0.25
    r = backprop(model, [2.0], [1.0])
    a = 1.0 / (1.0 + math.exp(-(0.5 * 2.0 - 0.25)))
    delta = (1.0 - a) * a * (1.0 - a)
    assert math.isclose(r.outputs[0], a, rel_tol=1e-15)
    assert math.isclose(r.nets[0][0], 0.75, rel_tol=1e-15)
    assert math.isclose(r.deltas[0][0], delta, rel_tol=1e-15)
    assert r.grads == pytest.approx([-delta * 2.0, -delta], rel=1e-15)
    assert math.isclose(r.error, 0.5 * (1.0 - a) ** 2, rel_tol=1e-15)


def test_hidden_delta_by_hand():
    # 1-1-1 tanh -> linear: δ_o = (t - a_o), δ_h = δ_o w_o (1 - a_h²)
    model = MLP(1, [1, 1], activation="tanh", output_activation="linear")
    h, o = model.layers[0].neurons[0], model.layers[1].neurons[0]
    h.w[0].data, h.b.data, o.w[0].data, o.b.data = 0.7, 0.1, -1.2, 0.3
    r = backprop(model, [0.5], [2.0])
    a_h = math.tanh(0.7 * 0.5 + 0.1)
    a_o = -1.2 * a_h + 0.3
    d_o = 2.0 - a_o
    d_h = d_o * -1.2 * (1 - a_h * a_h)
    assert r.deltas[1][0] == pytest.approx(d_o, rel=1e-15)
    assert r.deltas[0][0] == pytest.approx(d_h, rel=1e-15)
    assert r.grads == pytest.approx([-d_h * 0.5, -d_h, -d_o * a_h, -d_o], rel=1e-14)


def test_no_graph_is_built():
    model = MLP(2, [2, 1], activation="sigmoid", output_activation="sigmoid", seed=0)
    r = backprop(model, [Value(0.1), 0.2], Value(1.0))  # Values are read as numbers
    assert all(type(g) is float for g in r.grads)
    assert all(type(a) is float for layer in r.activations for a in layer)
    assert all(p.grad == 0.0 for p in model.parameters())


def test_bad_input():
    with pytest.raises(ValueError, match="layer 0 neuron 0 has activation 'relu'"):
        backprop(MLP(2, [2, 1], seed=0), [0.1, 0.2], [1.0])
    model = MLP(2, [2, 2], activation="sigmoid", output_activation="sigmoid", seed=0)
    with pytest.raises(ValueError, match="expected 2 inputs, got 3"):
        backprop(model, [0.1, 0.2, 0.3], [1.0, 0.0])
    with pytest.raises(ValueError, match="expected 2 targets, got 1"):
        backprop(model, [0.1, 0.2], [1.0])
    with pytest.raises(TypeError, match="inputs must be numbers, got str"):
        backprop(model, ["a", 0.2], [1.0, 0.0])


XOR = [([0.0, 0.0], 0.0), ([0.0, 1.0], 1.0), ([1.0, 0.0], 1.0), ([1.0, 1.0], 0.0)]


def accuracy(model):
    return sum((model(x).data > 0.5) == (t > 0.5) for x, t in XOR) / len(XOR)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_xor_with_the_delta_rule(seed):
    model = MLP(2, [4, 1], activation="sigmoid", output_activation="sigmoid", seed=seed)
    params = model.parameters()
    assert accuracy(model) < 1.0  # untrained: these seeds start at 50%
    for _ in range(2000):
        for x, t in XOR:
            for p, g in zip(params, backprop(model, x, [t]).grads):
                p.data -= 2.0 * g  # Δw = η δ a
    assert accuracy(model) == 1.0
    assert sum(backprop(model, x, [t]).error for x, t in XOR) < 0.01


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_xor_with_autograd_and_sse(seed):
    model = MLP(2, [4, 1], activation="sigmoid", output_activation="sigmoid", seed=seed)
    opt = SGD(model, lr=2.0)
    assert accuracy(model) < 1.0
    for _ in range(2000):
        for x, t in XOR:
            opt.zero_grad()
            sse(model(x), t).backward()
            opt.step()
    assert accuracy(model) == 1.0
    assert sse([model(x) for x, _ in XOR], [t for _, t in XOR]).data < 0.01


@pytest.mark.parametrize("x, t, message", [
    (["0.05", "0.1"], [0.01, 0.99], "backprop: inputs must be numbers, got str '0.05'"),
    ("01", [0.01, 0.99], "backprop: inputs must be numbers, got str '01'"),
    ([0.05, 0.1], "01", "backprop: targets must be numbers, got str '01'"),
    ([0.05, 0.1], "0.5", "backprop: targets must be numbers, got str '0.5'"),
    ([0.05, 0.1], [b"1", 0.0], "backprop: targets must be numbers, got bytes b'1'"),
])
def test_strings_are_refused_not_parsed_or_split(x, t, message):
    model = MLP(2, [2, 2], activation="sigmoid", output_activation="sigmoid", seed=0)
    with pytest.raises(TypeError, match=f"^{message}$"):
        backprop(model, x, t)


def linear_chain(*weights):
    """A 1-1-…-1 linear network with the given weights and zero biases."""
    model = MLP(1, [1] * len(weights), activation="linear", output_activation="linear")
    for layer, w in zip(model.layers, weights):
        layer.neurons[0].w[0].data, layer.neurons[0].b.data = w, 0.0
    return model


def test_the_2_2_1_overflow_is_named_as_autograd_names_it():
    model = MLP(2, [2, 1], activation="linear", output_activation="linear")
    for p in model.parameters():  # nets of layer 0: 2e160; of layer 1: 4e320 -> inf
        p.data = 1e160 if p.label.startswith("w") else 0.0
    with pytest.raises(OverflowError, match=r"^backprop: the net input of layer 1 neuron 0 overflows a float \(inf\)"):
        backprop(model, [1.0, 1.0], [0.0])
    with pytest.raises(OverflowError, match="net"):  # the engine refuses the same forward pass
        sse(model([1.0, 1.0]), [0.0])


@pytest.mark.parametrize("weights, x, t, message", [
    # a = 1e200, t − a = −2e200, E = ½·4e400
    ((1e200,), 1.0, -1e200, r"the error E = ½ Σ \(t − a\)² overflows a float \(inf\)"),
    # hidden a = 1e-160, output a = 1, δ_o = t − a ≈ 1e154, δ_h = δ_o·1e160 = 1e314
    ((1e-160, 1e160), 1.0, 1e154, r"δ of layer 0 neuron 0 overflows a float \(inf\)"),
    # hidden a = 1e160, output a = 1, δ_o ≈ 1e154, ∂E/∂w_o = −δ_o·1e160 = −1e314
    ((1e160, 1e-160), 1.0, 1e154, r"∂E/∂w of layer 1 neuron 0 weight 0 overflows a float \(-inf\)"),
    # t − a = 1.7e308 − (−1.7e308)
    ((1.0,), -1.7e308, 1.7e308, r"the output error t − a of output 0 overflows a float \(inf\)"),
])
def test_each_overflowing_quantity_is_named(weights, x, t, message):
    with pytest.raises(OverflowError, match=f"^backprop: {message}; the inputs, targets and weights are finite$"):
        backprop(linear_chain(*weights), [x], [t])


def test_large_but_finite_values_still_pass():
    # the same chains one decade smaller: every quantity finite, equal to autograd
    model = linear_chain(1e-160, 1e150)
    r = backprop(model, [1.0], [1e150])
    assert all(math.isfinite(g) for g in r.grads)
    assert_close_lists(r.grads, autograd(model, [1.0], [1e150])[1])


def test_the_result_unpacks_as_the_starting_design_says():
    model = MLP(2, [2, 2], activation="sigmoid", output_activation="sigmoid", seed=0)
    result = backprop(model, [0.05, 0.10], [0.01, 0.99])
    activations, deltas, grads = result
    assert (activations, deltas, grads) == (result.activations, result.deltas, result.grads)
