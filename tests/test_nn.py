"""nn: structure, labels, initialisation, forward values, gradients vs PyTorch, micrograd compatibility."""

import math
import random
import sys
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_bp.engine import Value, topological_order
from tinygrad_bp.nn import MLP, Layer, Module, Neuron


def torch_forward(model: MLP, x):
    """The same network in PyTorch float64: (outputs, list of parameter tensors in parameters() order)."""
    import torch

    act = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "linear": lambda z: z}
    params = [torch.tensor(p.data, dtype=torch.float64, requires_grad=True) for p in model.parameters()]
    a = [torch.tensor(float(v), dtype=torch.float64) for v in x]
    k = 0
    for layer in model.layers:
        nxt = []
        for n in layer.neurons:
            ws = params[k:k + len(n.w)]
            b = params[k + len(n.w)]
            k += len(n.w) + 1
            net = b + sum(w * ai for w, ai in zip(ws, a))
            nxt.append(act[n.activation](net))
        a = nxt
    return a, params


# --- structure and labels ------------------------------------------------------------------

def test_parameters_order_and_names():
    model = MLP(3, [4, 2], seed=0)
    params = model.parameters()
    assert len(params) == (3 + 1) * 4 + (4 + 1) * 2
    expected = []
    for i, layer in enumerate(model.layers):
        for j, n in enumerate(layer.neurons):
            expected += [(f"layers.{i}.neurons.{j}.w.{k}", w) for k, w in enumerate(n.w)]
            expected.append((f"layers.{i}.neurons.{j}.b", n.b))
    named = list(model.named_parameters())
    assert [name for name, _ in named] == [name for name, _ in expected]
    assert all(p is q for (_, p), (_, q) in zip(named, expected))
    assert all(p is q for p, (_, q) in zip(params, expected))
    assert named[1][0] == "layers.0.neurons.0.w.1" and named[3][0] == "layers.0.neurons.0.b"


def test_labels_one_hidden_layer():
    model = MLP(2, [3, 1], activation="tanh")
    assert [n.name for n in model.layers[0].neurons] == ["h1", "h2", "h3"]
    assert [n.name for n in model.layers[1].neurons] == ["o1"]
    ws = [p for p in model.parameters() if p.label.startswith("w")]
    assert [w.label for w in ws] == [f"w{k}" for k in range(1, 10)]
    assert model.layers[0].neurons[2].b.label == "b_h3"
    out = model([0.5, -1.0])
    assert out.label == "net_o1" and out.op == "net"  # linear output: the net node is the output
    labels = {v.label for v in topological_order(out)}
    assert {"i1", "i2", "net_h1", "out_h1", "out_h3", "b_o1"} <= labels


def test_labels_several_hidden_layers():
    model = MLP(2, [2, 3, 2], activation="sigmoid", output_activation="sigmoid")
    assert [n.name for n in model.layers[0].neurons] == ["h1.1", "h1.2"]
    assert [n.name for n in model.layers[1].neurons] == ["h2.1", "h2.2", "h2.3"]
    assert [n.name for n in model.layers[2].neurons] == ["o1", "o2"]
    outs = model([1.0, 2.0])
    assert [o.label for o in outs] == ["out_o1", "out_o2"]
    net = outs[1].children[0]
    assert net.label == "net_o2" and net.op == "net"
    h23 = [v for v in topological_order(outs[0]) if v.label == "out_h2.3"]
    assert len(h23) == 1 and h23[0].op == "sigmoid"


def test_net_is_one_n_ary_node():
    n = Neuron(3, "sigmoid", name="h1", rng=random.Random(1))
    n.b.data = 0.25
    x = [Value(0.1), Value(-0.2), Value(0.3)]
    out = n(x)
    net = out.children[0]
    assert out.op == "sigmoid" and net.op == "net"
    assert net.children == (*n.w, *x, n.b)
    expected = sum(w.data * xi.data for w, xi in zip(n.w, x)) + 0.25
    assert math.isclose(net.data, expected, rel_tol=1e-15)
    assert math.isclose(out.data, 1.0 / (1.0 + math.exp(-expected)), rel_tol=1e-15)
    # local derivatives: d net/d w_i = x_i, d net/d x_i = w_i, d net/d b = 1
    assert net.local_grads() == [xi.data for xi in x] + [w.data for w in n.w] + [1.0]


def test_forward_by_hand():
    layer = Layer(2, 2, "tanh", rng=random.Random(0))
    for n, (w, b) in zip(layer.neurons, [([0.5, -1.0], 0.1), ([2.0, 0.25], -0.3)]):
        for wi, v in zip(n.w, w):
            wi.data = v
        n.b.data = b
    outs = layer([0.4, 0.8])
    assert math.isclose(outs[0].data, math.tanh(0.5 * 0.4 - 1.0 * 0.8 + 0.1), rel_tol=1e-15)
    assert math.isclose(outs[1].data, math.tanh(2.0 * 0.4 + 0.25 * 0.8 - 0.3), rel_tol=1e-15)


# --- initialisation --------------------------------------------------------------------------

def test_seeded_init_is_deterministic_and_private():
    state = random.getstate()
    a = [p.data for p in MLP(3, [5, 1], seed=42).parameters()]
    assert random.getstate() == state  # the global generator is not used
    b = [p.data for p in MLP(3, [5, 1], seed=42).parameters()]
    c = [p.data for p in MLP(3, [5, 1], seed=43).parameters()]
    assert a == b and a != c
    # weights from random.Random(seed).uniform(-1, 1), in parameters() order; biases start at 0
    rng = random.Random(42)
    expected = []
    for nin, nout in [(3, 5), (5, 1)]:
        for _ in range(nout):
            expected += [rng.uniform(-1, 1) for _ in range(nin)] + [0.0]
    assert a == expected


def test_default_is_micrograd_architecture():
    mg_nn = pytest.importorskip("micrograd.nn")
    model = MLP(2, [16, 16, 1])
    assert model.activation == "relu" and model.output_activation == "linear"
    assert [layer.activation for layer in model.layers] == ["relu", "relu", "linear"]
    assert len(model.parameters()) == len(mg_nn.MLP(2, [16, 16, 1]).parameters()) == 337
    assert model.config == {"nin": 2, "nouts": [16, 16, 1], "activation": "relu", "output_activation": "linear"}
    assert (model.nin, model.nouts) == (2, [16, 16, 1])


# --- calling ---------------------------------------------------------------------------------

def test_inputs_become_labelled_leaves_and_outputs_shape():
    model = MLP(3, [2], activation="tanh", output_activation="sigmoid", seed=1)
    outs = model([1, 2.5, np.float32(0.5)])
    assert isinstance(outs, list) and len(outs) == 2
    leaves = {v.label: v for v in topological_order(outs[0]) if v.op == "" and v.label.startswith("i")}
    assert sorted(leaves) == ["i1", "i2", "i3"]
    assert all(type(v.data) is float for v in leaves.values())
    single = MLP(3, [2, 1], seed=1)([0.1, 0.2, 0.3])
    assert isinstance(single, Value)
    x = Value(0.7, label="mine")
    out = MLP(1, [1], seed=0)(x)  # a bare input for a one-input model
    assert x in topological_order(out) and x.label == "mine"


@pytest.mark.parametrize("x", [[1.0, 2.0], [1.0, 2.0, 3.0, 4.0], np.zeros(2)])
def test_wrong_input_length(x):
    with pytest.raises(ValueError, match=f"expected 3 inputs, got {len(x)}"):
        MLP(3, [2], seed=0)(x)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown activation 'softplus'"):
        MLP(2, [2], activation="softplus")
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        MLP(2, [2], output_activation="gelu")
    with pytest.raises(ValueError, match="nin must be a positive int"):
        MLP(0, [2])
    with pytest.raises(ValueError, match="nout must be a positive int"):
        MLP(2, [2, 0])
    with pytest.raises(ValueError, match=r"MLP: nouts must be a list of layer sizes .*got 3"):
        MLP(2, 3)
    with pytest.raises(ValueError, match=r"nout must be a positive int for each layer \(nouts\[1\]\), got float 2.5"):
        MLP(2, [4, 2.5])
    with pytest.raises(ValueError, match=r"nout must be a positive int for each layer \(nouts\[0\]\), got bool"):
        MLP(2, [True])
    with pytest.raises(ValueError, match="Layer: nin must be a positive int, got int 0"):
        Layer(0, 2)
    with pytest.raises(ValueError, match="at least one layer"):
        MLP(2, [])
    with pytest.raises(TypeError, match="expected an int or float, got str"):
        MLP(2, [1])(["a", 1.0])
    with pytest.raises(ValueError, match="expected 2 inputs, got 3"):
        Neuron(2, "relu")([1.0, 2.0, 3.0])


def test_setting_an_activation_reaches_the_neurons_it_names():
    model = MLP(2, [3, 3, 2], activation="relu", output_activation="linear", seed=0)
    x = [0.3, -0.7]
    model.activation = "tanh"  # every hidden neuron
    model.output_activation = "sigmoid"
    assert [n.activation for layer in model.layers for n in layer.neurons] == ["tanh"] * 6 + ["sigmoid"] * 2
    # the forward pass follows: the same weights through tanh, then σ, by hand
    a = x
    for layer, f in zip(model.layers, [math.tanh, math.tanh, lambda z: 1 / (1 + math.exp(-z))]):
        a = [f(sum(w.data * ai for w, ai in zip(n.w, a)) + n.b.data) for n in layer.neurons]
    assert [o.data for o in model(x)] == pytest.approx(a, rel=1e-15)
    assert model.config["activation"] == "tanh" and model.config["output_activation"] == "sigmoid"
    model.layers[1].activation = "relu"  # one layer
    assert model.layers[1].activation == "relu" and model.layers[0].activation == "tanh"
    assert model.activation == "mixed"
    model.layers[2].neurons[0].activation = "linear"  # one neuron
    assert model.output_activation == "mixed" and model.layers[2].activation == "mixed"
    with pytest.raises(ValueError, match="unknown activation 'softmax'"):
        model.activation = "softmax"
    assert model.layers[0].activation == "tanh"  # a refused value changes nothing


def test_a_model_without_hidden_layers_keeps_its_hidden_activation_setting():
    model = MLP(2, [1], activation="tanh", output_activation="sigmoid")
    assert model.activation == "tanh" and model.output_activation == "sigmoid"
    model.activation = "relu"
    assert model.activation == "relu" and model.layers[0].neurons[0].activation == "sigmoid"


def test_numpy_integer_sizes_are_plain_ints():
    model = MLP(np.int64(2), np.array([3, 1]), seed=0)
    assert (model.nin, model.nouts) == (2, [3, 1]) and type(model.nouts[0]) is int
    assert model.config == MLP(2, [3, 1]).config
    assert [p.data for p in model.parameters()] == [p.data for p in MLP(2, [3, 1], seed=0).parameters()]
    with pytest.raises(ValueError, match="got bool"):  # numpy's bool is no size, whatever numpy's version
        MLP(2, [np.True_, 1])


def test_without_a_seed_weights_come_from_pythons_global_generator_as_in_micrograd():
    import micrograd.nn as mg
    random.seed(1337)
    theirs = [p.data for p in mg.MLP(2, [16, 16, 1]).parameters()]
    random.seed(1337)
    ours = [p.data for p in MLP(2, [16, 16, 1]).parameters()]
    assert ours == theirs and len(ours) == 337  # micrograd's demo weights, bit for bit
    random.seed(7)
    neuron = [v.data for v in Neuron(3).w]
    random.seed(7)
    assert neuron == [random.uniform(-1, 1) for _ in range(3)]


def test_micrograds_nonlin_argument_is_understood():
    assert Neuron(2, nonlin=False).activation == "linear" and Neuron(2, nonlin=True).activation == "relu"
    assert Neuron(2, False).activation == "linear"  # micrograd's Neuron(nin, nonlin) positionally
    assert Layer(2, 3, nonlin=False).activation == "linear" and Layer(2, 3).activation == "relu"
    out = Neuron(2, nonlin=False)([1.0, 2.0])
    assert out.op == "net"  # a linear unit: no activation node


def test_models_and_graphs_pickle_and_keep_their_ops():
    import pickle

    from tinygrad_bp.ops import MUL
    model = MLP(2, [3, 1], activation="tanh", seed=0)
    again = pickle.loads(pickle.dumps(model))
    assert again([0.5, -0.5]).data == model([0.5, -0.5]).data and again.config == model.config
    x = Value(2.0, label="x")
    y = (x * 3.0) ** 2 + x.sigmoid()
    y2 = pickle.loads(pickle.dumps(y))
    assert y2.children[0].children[0].op == "*" and y2.children[0].children[0]._op is MUL
    y.backward()
    y2.backward()
    x2 = next(v for v in topological_order(y2) if v.label == "x")
    assert x2.grad == x.grad == 2 * 9 * 2.0 + (1 / (1 + math.exp(-2.0))) * (1 - 1 / (1 + math.exp(-2.0)))


def test_zero_grad():
    model = MLP(2, [3, 1], seed=0)
    model([1.0, -1.0]).backward()
    assert any(p.grad != 0.0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())
    assert list(Module().named_parameters()) == [] and Module().parameters() == []
    for part in (model, model.layers[0], model.layers[0].neurons[1]):  # each level zeroes its own parameters
        for p in model.parameters():
            p.grad = 0.5
        part.zero_grad()
        assert [p.grad for p in model.parameters()] == [0.0 if any(p is q for q in part.parameters()) else 0.5
                                                      for p in model.parameters()]


# --- gradients against PyTorch float64 --------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(
    nin=st.integers(1, 4),
    nouts=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    activation=st.sampled_from(["sigmoid", "tanh", "relu", "linear"]),
    output_activation=st.sampled_from(["sigmoid", "tanh", "relu", "linear"]),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_gradients_match_torch(nin, nouts, activation, output_activation, seed, data):
    pytest.importorskip("torch")
    model = MLP(nin, nouts, activation=activation, output_activation=output_activation, seed=seed)
    rng = random.Random(seed)
    for p in model.parameters():  # nonzero biases too
        p.data = rng.uniform(-1.5, 1.5)
    x = data.draw(st.lists(st.floats(-2, 2), min_size=nin, max_size=nin))
    coef = [rng.uniform(-1, 1) for _ in range(nouts[-1])]
    outs = model(x)
    outs = [outs] if isinstance(outs, Value) else outs
    loss = Value.sum([c * o for c, o in zip(coef, outs)])
    loss.backward()
    t_outs, params = torch_forward(model, x)
    for o, t in zip(outs, t_outs):
        assert math.isclose(o.data, t.item(), rel_tol=1e-12, abs_tol=1e-12)
    sum(c * t for c, t in zip(coef, t_outs)).backward()
    for p, tp in zip(model.parameters(), params):
        tg = 0.0 if tp.grad is None else tp.grad.item()
        assert math.isclose(p.grad, tg, rel_tol=1e-10, abs_tol=1e-12), (p.label, p.grad, tg)


# --- micrograd compatibility ------------------------------------------------------------------

def copy_to_micrograd(model: MLP):
    from micrograd import nn as mg_nn

    mg = mg_nn.MLP(model.nin, model.nouts)
    for p, q in zip(model.parameters(), mg.parameters()):
        q.data = p.data
    return mg


def demo_loss(model, Value, X, y, wrap_inputs):
    """micrograd's demo notebook loss function, unchanged apart from how inputs are passed."""
    Xb, yb = X, y
    inputs = [list(map(Value, xrow)) for xrow in Xb] if wrap_inputs else list(Xb)
    # forward the model to get scores
    scores = list(map(model, inputs))
    # svm "max-margin" loss
    losses = [(1 + -yi*scorei).relu() for yi, scorei in zip(yb, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    # L2 regularization
    alpha = 1e-4
    reg_loss = alpha * sum((p*p for p in model.parameters()))  # noqa: UP034 (verbatim)
    total_loss = data_loss + reg_loss
    # also get accuracy
    accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(yb, scores)]
    return total_loss, sum(accuracy) / len(accuracy)


@pytest.mark.parametrize("wrap_inputs", [False, True])
def test_micrograd_demo_training_loop_runs_unchanged(wrap_inputs):
    mg_engine = pytest.importorskip("micrograd.engine")
    rs = np.random.RandomState(0)
    X = rs.randn(30, 2)
    y = np.where(X[:, 0] * X[:, 1] + 0.3 * X[:, 0] > 0, 1, -1)  # numpy ints
    model = MLP(2, [8, 8, 1], seed=3)
    mg = copy_to_micrograd(model)
    first = None
    for k in range(8):
        total_loss, acc = demo_loss(model, Value, X, y, wrap_inputs)
        mg_loss, mg_acc = demo_loss(mg, mg_engine.Value, X, y, wrap_inputs)
        assert math.isclose(total_loss.data, mg_loss.data, rel_tol=1e-12)
        assert acc == mg_acc
        first = total_loss.data if first is None else first
        # backward, as in the notebook
        model.zero_grad()
        total_loss.backward()
        mg.zero_grad()
        mg_loss.backward()
        for p, q in zip(model.parameters(), mg.parameters()):
            assert math.isclose(p.grad, q.grad, rel_tol=1e-10, abs_tol=1e-14)
        # update (sgd)
        learning_rate = 1.0 - 0.9*k/100
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        for p in mg.parameters():
            p.data -= learning_rate * p.grad
    assert total_loss.data < first
    if not wrap_inputs:  # numpy rows given to the model become plain float leaves
        assert all(type(p.data) is float for p in model.parameters())


# --- save / load delegate to modelfile --------------------------------------------------------

def test_save_and_load_delegate_to_modelfile(monkeypatch, tmp_path):
    calls = []
    fake = types.ModuleType("tinygrad_bp.modelfile")
    fake.save_model = lambda model, path: calls.append(("save", model, path))
    fake.load_model = lambda path: calls.append(("load", path)) or "loaded"
    monkeypatch.setitem(sys.modules, "tinygrad_bp.modelfile", fake)
    model = MLP(2, [1], seed=0)
    path = tmp_path / "m.json"
    model.save(path)
    assert MLP.load(path) == "loaded"
    assert calls == [("save", model, path), ("load", path)]


def test_a_weight_appended_to_a_neuron_is_refused_not_misread():
    m = MLP(1, [1], seed=0)
    m.layers[0].neurons[0].w.append(Value(0.5))  # the net would read 2 weights, 0 inputs... and a wrong bias
    with pytest.raises(ValueError, match=r"o1: 2 weights for 1 inputs \(nin = 1\).*neuron.w or .b was changed"):
        m([0.3])


def test_an_mlp_refuses_unordered_inputs_and_takes_a_0d_array():
    m = MLP(2, [1], seed=0)
    for bad in ({0.1, 0.2}, {"a": 0.1, "b": 0.2}):
        with pytest.raises(TypeError, match=f"MLP: inputs must be a sequence .* got {type(bad).__name__}"):
            m(bad)
    one = MLP(1, [1], seed=0)
    w, b = one.layers[0].neurons[0].w[0].data, one.layers[0].neurons[0].b.data
    assert one(np.array(0.5)).data == w * 0.5 + b  # by hand: the linear unit's net


def test_a_complex_leaf_data_set_after_the_forward_pass_is_refused_by_backward():
    x = Value(0.5, label="x")
    y = (x * 3.0).tanh()
    x.data = 1j
    with pytest.raises(TypeError, match=r"backward: leaf 'x' holds .data = 1j: expected a float"):
        y.backward()
    assert x.grad == 0.0
