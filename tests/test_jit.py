"""jit: a replay gives the eager numbers bit for bit, refuses what it cannot repeat, and says so.

The reference is always the eager graph of the same function on the same arguments (`f.eager`, or the
first call, which is the trace itself), run through the engine's own `backward()`: outputs and every
leaf gradient must be the same floats (the sign of zero and NaN included), and errors the same type
and message.
"""

from __future__ import annotations

import gc
import math
import random
import re
import struct
import threading
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_bp import Value, grad, jit
from tinygrad_bp.data import moons
from tinygrad_bp.jit import JitError, JitWarning, Replayed, condition
from tinygrad_bp.losses import bce, hinge, mse, sse
from tinygrad_bp.nn import MLP
from tinygrad_bp.optim import SGD, Adam


def bits(x: float) -> bytes:
    """The float's bits (NaN payloads aside: every NaN is one value here)."""
    return b"nan" if x != x else struct.pack("<d", x)


def same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(bits(x) == bits(y) for x, y in zip(a, b))


def grads_after_backward(out: Value, leaves: list[Value], before: list[float] | None = None) -> list[float]:
    for leaf, g in zip(leaves, before or [0.0] * len(leaves)):
        leaf.grad = g
    out.backward()
    return [leaf.grad for leaf in leaves]


def outcome(call):
    """(result, None) or (None, (exception type, message))."""
    try:
        return call(), None
    except (ArithmeticError, ValueError, TypeError) as e:
        return None, (type(e), str(e))


# --- random graphs of every op --------------------------------------------------------------------------------

OPS = [  # (a, b, pool, rng) -> a new node; every op of the table, numbers on either side, domains kept
    lambda a, b, p, r: a + b, lambda a, b, p, r: a - b, lambda a, b, p, r: a * b, lambda a, b, p, r: -a,
    lambda a, b, p, r: a / (b * b + 1.0), lambda a, b, p, r: 2.0 - a, lambda a, b, p, r: 0.5 * a,
    lambda a, b, p, r: 1.0 + a, lambda a, b, p, r: 3.0 / (a * a + 1.0), lambda a, b, p, r: (a * a + 0.1) ** 0.5,
    lambda a, b, p, r: (a * a + 0.5) ** b, lambda a, b, p, r: (a * 0.1).exp(), lambda a, b, p, r: (a * a + 0.1).log(),
    lambda a, b, p, r: a.tanh(), lambda a, b, p, r: a.sigmoid(), lambda a, b, p, r: (a - 0.7).relu(),
    lambda a, b, p, r: a ** 2, lambda a, b, p, r: a ** 3, lambda a, b, p, r: 2.0 ** a, lambda a, b, p, r: a / 4.0,
    lambda a, b, p, r: Value.sum(r.sample(p, min(3, len(p)))) + Value.sum([a, 1.5, b]),
    lambda a, b, p, r: Value.net([a, b], [r.choice(p), 0.25], r.choice([None, b, 0.5])),
    lambda a, b, p, r: Value.net([0.3, -1.2, a], [b, a, r.choice(p)]),
]


def random_function(seed: int, leaves: list[Value], n_ops: int = 12):
    """f(xs): a random graph over the leaves (closure) and the number arguments xs; the same one every call."""
    def f(xs):
        rng = random.Random(seed)
        pool = list(leaves) + list(xs)
        for _ in range(n_ops):
            a, b = rng.choice(pool), rng.choice(pool)
            pool.append(OPS[rng.randrange(len(OPS))](a, b, pool, rng))
        return Value.sum(pool[-3:]) * pool[-1]
    return f


def check_replay(f, leaves, args_list, before=None):
    """Trace on args_list[0], then replay each args: the replay's data and gradients are eager's, errors too."""
    jf = jit(f)
    for args in args_list:
        traced = jf.stats["cached"] > 0
        expected, e_error = outcome(lambda args=args: jf.eager(args))
        got, g_error = outcome(lambda args=args: jf(args))
        assert e_error == g_error
        if e_error:
            continue
        assert isinstance(got, Replayed) == traced  # finite numbers throughout: replayed, never run eagerly
        assert bits(got.data) == bits(expected.data)
        e_grads, e_err = outcome(lambda e=expected: grads_after_backward(e, leaves, before))
        g_grads, g_err = outcome(lambda r=got: grads_after_backward(r, leaves, before))
        assert e_err == g_err
        if e_err is None:
            assert same(g_grads, e_grads), (g_grads, e_grads)
        else:  # a failed pass leaves the leaves as they were
            assert [leaf.grad for leaf in leaves] == (before or [0.0] * len(leaves))
    return jf


@given(seed=st.integers(0, 10**9), data=st.lists(st.floats(-2.0, 2.0), min_size=3, max_size=3),
       args=st.lists(st.lists(st.floats(-2.0, 2.0), min_size=2, max_size=2), min_size=2, max_size=3),
       before=st.sampled_from([None, [0.5, -1.0, 0.0]]))
@settings(max_examples=250, deadline=None)
def test_replay_equals_eager_bit_for_bit_on_random_graphs_of_every_op(seed, data, args, before):
    leaves = [Value(x, label=f"w{k}") for k, x in enumerate(data)]
    jf = check_replay(random_function(seed, leaves), leaves, args, before)
    assert jf.stats["traces"] == 1


@given(seed=st.integers(0, 10**9), data=st.lists(st.sampled_from([0.5, -0.25, 0.0, -0.0, 1e-300, 3.0]),
                                                  min_size=3, max_size=3),
       late=st.sampled_from([math.inf, -math.inf, math.nan, 0.0, -0.0, 1e308]))
@settings(max_examples=150, deadline=None)
def test_backward_reads_the_leaves_data_as_it_is_now_like_eager(seed, data, late):
    # a leaf changed between the forward pass and backward(): eager's rules read its data now, and so does the
    # replay -- also when the new value is inf or NaN, which must reach every gradient (no zero skipped wrongly)
    leaves = [Value(x) for x in data]
    f = random_function(seed, leaves)
    jf = jit(f)
    jf([0.3, -0.7])
    expected, e_error = outcome(lambda: jf.eager([0.3, -0.7]))
    got, g_error = outcome(lambda: jf([0.3, -0.7]))
    assert e_error == g_error
    if e_error:
        return
    assert isinstance(got, Replayed)
    old = leaves[1].data
    leaves[1].data = late
    e_grads, e_err = outcome(lambda: grads_after_backward(expected, leaves))
    g_grads, g_err = outcome(lambda: grads_after_backward(got, leaves))
    leaves[1].data = old
    assert e_err == g_err
    if e_err is None:
        assert same(g_grads, e_grads)


def sample_loss(model, X, y):
    """Per-sample subgraphs of one shape (shared by the replay), a shared hidden value, a sum and a product."""
    scale = Value.sum(model.parameters()[:3]).tanh()  # used by every sample: outside the shared code
    losses = [(1.0 - yi * (model(x) * scale)).relu() for x, yi in zip(X, y)]
    return Value.sum(losses) * (1.0 / len(X)) + 1e-2 * Value.sum(p * p for p in model.parameters())


@given(seed=st.integers(0, 1000), n=st.integers(2, 12), act=st.sampled_from(["relu", "tanh", "sigmoid"]),
       noise=st.floats(0.0, 0.5))
@settings(max_examples=40, deadline=None)
def test_samples_of_one_shape_share_one_loop_and_replay_exactly(seed, n, act, noise):
    model = MLP(2, [4, 3, 1], activation=act, seed=seed)
    X, y = moons(n, noise=noise, seed=seed)
    params = model.parameters()
    jf = jit(sample_loss)
    eager = jf(model, X, y)
    assert jf.stats["shared"] >= 1 and "for (a0_0, a0_1, " in jf.source  # one loop body for the samples
    replay = jf(model, X, y)
    assert isinstance(replay, Replayed) and bits(replay.data) == bits(eager.data)
    assert same(grads_after_backward(replay, params), grads_after_backward(eager, params))
    X2 = [[a + 0.1, b - 0.2] for a, b in X]  # new numbers, the same structure: a replay, still exact
    replay = jf(model, X2, y)
    eager = jf.eager(model, X2, y)
    assert bits(replay.data) == bits(eager.data)
    assert same(grads_after_backward(replay, params), grads_after_backward(eager, params))
    assert jf.stats["traces"] == 1


# --- micrograd's demo: 100 steps, jit against eager ---------------------------------------------------------------

def demo_run(use_jit: bool, optimizer: str, steps: int = 100):
    X, y = moons(100, noise=0.1, seed=0)
    model = MLP(2, [16, 16, 1], seed=1337)
    params = model.parameters()
    opt = SGD(params, lr=0.05) if optimizer == "sgd" else Adam(params, lr=0.01)

    def loss_fn(X, y):
        scores = [model(x) for x in X]
        return hinge(scores, y) + 1e-4 * Value.sum(p * p for p in params)

    f = jit(loss_fn) if use_jit else loss_fn
    losses = []
    for _ in range(steps):
        loss = f(X, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.data)
    return losses, [p.data for p in params], [p.grad for p in params], f


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_micrograd_demo_loop_for_100_steps_is_bit_for_bit_with_jit(optimizer):
    e_losses, e_params, e_grads, _ = demo_run(False, optimizer)
    j_losses, j_params, j_grads, f = demo_run(True, optimizer)
    assert same(j_losses, e_losses) and same(j_params, e_params) and same(j_grads, e_grads)
    assert f.stats["traces"] == 1 and f.stats["replays"] == 99 and f.stats["eager"] is None
    assert e_losses[-1] < 0.5 * e_losses[0]  # it trains: the test compares a run that does something


def test_a_replayed_step_leaves_the_cyclic_collector_nothing_to_do():
    X, y = moons(100, noise=0.1, seed=0)
    model = MLP(2, [16, 16, 1], seed=1337)
    params = model.parameters()
    f = jit(lambda X, y: hinge([model(x) for x in X], y) + 1e-4 * Value.sum(p * p for p in params))
    f(X, y)
    gc.collect()
    before = [s["collections"] for s in gc.get_stats()]
    for _ in range(100):
        loss = f(X, y)
        model.zero_grad()
        loss.backward()
    after = [s["collections"] for s in gc.get_stats()]
    assert after == before, (before, after)


# --- the result: a real Value --------------------------------------------------------------------------------------

def test_the_first_call_is_the_eager_graph_and_later_calls_are_one_node_over_the_leaves():
    w, b = Value(0.3, label="w"), Value(-0.2, label="b")
    f = jit(lambda x: (w * x + b).tanh() * x)
    first = f(0.5)
    assert type(first) is Value and first.op == "*"  # the trace returns the eager result
    again = f(2.0)
    assert isinstance(again, Replayed) and again.op == "jit" and again.children == (w, b)
    t = math.tanh(0.3 * 2.0 - 0.2)
    assert again.data == t * 2.0  # (w·x + b).tanh() · x at x = 2, by hand
    again.backward()
    assert w.grad == (1 - t * t) * 2.0 * 2.0 and b.grad == (1 - t * t) * 2.0  # ∂/∂w = (1 − t²)·x·x, ∂/∂b
    assert again.grad == 1.0 and [p for p in again.local_grads()] == [w.grad, b.grad]


def test_grad_first_order_and_use_in_a_larger_graph():
    w = Value(0.7)
    f = jit(lambda x: (w * x).sigmoid())
    f(1.5)
    r = f(1.5)
    s = 1 / (1 + math.exp(-1.05))
    (dw,) = grad(r, [w])
    assert dw.data == pytest.approx(s * (1 - s) * 1.5, rel=1e-15)
    assert bits(dw.data) == bits(grad(f.eager(1.5), [w])[0].data)
    (r * 3.0 + w).backward()  # the replayed node inside a bigger graph: its partials times the upstream 3
    assert w.grad == pytest.approx(3 * s * (1 - s) * 1.5 + 1, rel=1e-15)


def test_create_graph_and_explain_through_a_replay_point_to_eager():
    from tinygrad_bp import explain
    w = Value(0.7)
    f = jit(lambda x: (w * x).tanh())
    f(1.0)
    r = f(1.0)
    with pytest.raises(JitError, match=r"create_graph=True.*<lambda>\.eager"):
        grad(r, [w], create_graph=True)
    with pytest.raises(JitError, match=r"\.eager\(\*args\)"):
        explain(r, w)
    (d,) = grad(f.eager(1.0), [w], create_graph=True)  # the eager graph can be differentiated again
    (d2,) = grad(d, [w])
    t = math.tanh(0.7)
    assert d2.data == pytest.approx(-2 * t * (1 - t * t), rel=1e-12)


def test_structures_of_results_and_arguments():
    w = Value(2.0)
    f = jit(lambda xs, pair: ([xs[0] * w, xs[1] + w], (pair[0] * pair[1], w, 3)))
    f([1.0, 2.0], (3.0, 4.0))
    (a, b), (c, same_w, three) = f([1.0, 5.0], (3.0, 0.5))
    assert isinstance(a, Replayed) and (a.data, b.data, c.data, three) == (2.0, 7.0, 1.5, 3) and same_w is w
    b.backward()  # only b's graph: ∂b/∂w = 1
    assert w.grad == 1.0
    assert f.stats["traces"] == 1
    f([1.0, 2.0, 3.0], (3.0, 4.0))  # another length: another structure, another trace
    f([1, 2], (3.0, 4.0))  # ints are numbers: the same structure as floats
    assert f.stats["traces"] == 2 and f.stats["replays"] == 2


def test_values_passed_in_are_leaves_of_each_call():
    f = jit(lambda a, b: a * b + a)
    x, y = Value(3.0), Value(4.0)
    f(x, y)
    p, q = Value(5.0), Value(-2.0)
    r = f(p, q)
    assert r.children == (p, q) and r.data == 5.0 * -2.0 + 5.0
    r.backward()
    assert (p.grad, q.grad, x.grad) == (-2.0 + 1.0, 5.0, 0.0)
    r2 = f(p, p)  # the same Value twice: another structure
    assert r2.data == 30.0 and f.stats["traces"] == 2


def test_numpy_arrays_are_numbers_of_the_same_shape():
    np = pytest.importorskip("numpy")
    w = Value(0.5)
    f = jit(lambda X: Value.sum(row[0] * w + row[1] for row in X))
    f(np.array([[1.0, 2.0], [3.0, 4.0]]))
    r = f(np.array([[1.0, 2.0], [3.0, 5.0]]))
    assert isinstance(r, Replayed) and r.data == 0.5 + 2.0 + 1.5 + 5.0
    f(np.arange(6.0).reshape(3, 2))  # another shape traces again
    assert f.stats["traces"] == 2


def test_draw_graph_shows_one_node_over_the_leaves():
    from tinygrad_bp.viz import draw_graph
    w, b = Value(0.3, label="w"), Value(-0.2, label="b")
    f = jit(lambda x: (w * x + b).relu())
    f(1.0)
    r = f(2.0)
    r.backward()
    src = draw_graph(r).source
    assert src.count("->") == 2 and "jit" in src and ">w<" in src  # one box, two edges from w and b


# --- never a silent wrong replay -----------------------------------------------------------------------------

def test_a_branch_on_an_inner_node_runs_eagerly_with_one_warning():
    w = Value(1.0)

    def f(x):
        h = w * x
        return h.relu() if h.data > 0 else -h * 3.0  # Python branches on the value of a node

    jf = jit(f)
    with pytest.warns(JitWarning, match=r"test_jit.py:\d+ reads \.data of the \* node"):
        assert jf(2.0).data == 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning only
        r = jf(-2.0)
        assert r.data == 6.0 and type(r) is Value  # the other branch: eager, right
    assert jf.stats["eager_calls"] == 1 and "reads .data" in jf.stats["eager"]


def test_reading_a_parameter_or_writing_one_while_tracing_runs_eagerly():
    w = Value(1.5)
    jf = jit(lambda x: x * w.data)  # w's value would be baked into the replay
    with pytest.warns(JitWarning, match=r"reads \.data of the leaf"):
        jf(2.0)
    w.data = 4.0
    assert jf(2.0).data == 8.0
    model = MLP(2, [2, 1], seed=0)

    def zeroing(x):
        model.zero_grad()  # a side effect every call: a replay would skip it
        return model(x)

    jz = jit(zeroing)
    with pytest.warns(JitWarning, match=r"sets \.grad of the leaf"):
        jz([1.0, 2.0])


def test_reading_an_argument_guards_the_trace_with_its_value():
    w = Value(2.0)

    def f(x, flag):
        return x * w if flag.data > 0 else x + w  # hinge reads its labels this way

    jf = jit(f)
    assert jf(3.0, 1.0).data == 6.0
    assert jf(5.0, 1.0).data == 10.0 and jf.stats["replays"] == 1  # the same flag: replayed
    assert jf(5.0, -1.0).data == 7.0 and jf.stats["traces"] == 2  # another flag: traced again, right
    assert isinstance(jf(1.0, -1.0), Replayed) and jf(1.0, -1.0).data == 3.0
    assert jf(0.0, 0.0).data == 2.0 and jf(0.0, -0.0).data == 2.0 and jf.stats["traces"] == 4  # the sign of 0


def test_hinge_inside_jit_replays_for_any_labels_that_pass_its_check():
    model = MLP(2, [3, 1], seed=2)
    f = jit(lambda X, y: hinge([model(x) for x in X], y))
    X = [[0.1, 0.2], [0.3, -0.4]]
    f(X, [1.0, -1.0])
    for y in ([1.0, -1.0], [-1.0, -1.0], [-1.0, 1.0]):  # the check's outcome holds: one trace for all of them
        r, e = f(X, y), f.eager(X, y)
        assert isinstance(r, Replayed) and bits(r.data) == bits(e.data)
    assert f.stats["traces"] == 1
    with pytest.raises(ValueError, match="hinge: labels must be -1 or \\+1, got Value 0.5 at index 1"):
        f(X, [1.0, 0.5])  # the check fails: traced again, and hinge's check raises


@pytest.mark.parametrize("loss, targets", [(sse, [0.01, 0.99]), (mse, [0.01, 0.99]), (hinge, [1.0, -1.0]),
                                           (bce, [0.0, 1.0])])
def test_every_loss_is_traced_and_replayed_bit_for_bit_without_a_warning(loss, targets):
    model = MLP(2, [3, 2], activation="sigmoid", output_activation="sigmoid", seed=4)
    params = model.parameters()
    f = jit(lambda x, t: loss(model(x), t))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a JitWarning (the loss read a value: eager from then on) fails the test
        f([0.05, 0.1], targets)
        for x in ([0.3, -0.2], [0.05, 0.1], [-1.5, 2.0]):
            r, e = f(x, targets), f.eager(x, targets)
            assert isinstance(r, Replayed) and bits(r.data) == bits(e.data)
            assert same(grads_after_backward(r, params), grads_after_backward(e, params))
    assert f.stats["traces"] == 1 and f.stats["replays"] == 3 and f.stats["eager"] is None


def test_bce_clamp_replays_while_it_holds_and_traces_again_when_it_changes():
    w = Value(0.5)
    f = jit(lambda x: bce([(w * x).sigmoid()], [1.0]))
    f(1.0)
    assert isinstance(f(2.0), Replayed) and f.stats["traces"] == 1
    for x in (-80.0, 3.0, -90.0):  # sigmoid(-40) < eps = 1e-7: clamped, the graph has another shape there
        r, e = f(x), f.eager(x)
        assert isinstance(r, Replayed) == (x != -80.0) and bits(r.data) == bits(e.data)
        assert same(grads_after_backward(r, [w]), grads_after_backward(e, [w]))
    assert f.stats["traces"] == 2 and w.grad == 0.0  # clamped: zero gradient, as torch.clamp
    assert -math.log(1e-7) == pytest.approx(f(-90.0).data, rel=1e-12)  # -ln(eps), by hand


def test_bce_out_of_range_in_a_replay_raises_what_eager_raises():
    f = jit(lambda p, t: bce([p * 1.0], [t]))
    f(0.5, 1.0)
    for p, t, message in [(1.5, 1.0, r"bce: probabilities must be in \[0, 1\], got 1.5 at index 0"),
                          (0.5, -0.25, r"bce: targets must be in \[0, 1\], got -0.25 at index 0")]:
        with pytest.raises(ValueError, match=message) as got:
            f(p, t)
        with pytest.raises(ValueError) as want:
            f.eager(p, t)
        assert str(got.value) == str(want.value)
    assert f.stats["fallbacks"] == 2 and isinstance(f(0.25, 0.0), Replayed) and f.stats["traces"] == 1


def test_condition_is_the_test_eagerly_and_a_recorded_branch_in_a_trace():
    assert condition(Value(-2.0), lambda x: x > 0) is False and condition(3.0, lambda x: x > 0) is True
    w = Value(1.0)
    calls = []

    def positive(x):
        calls.append(x)
        return x > 0

    @jit
    def f(x):
        h = w * x
        return h.relu() * 2.0 if condition(h, positive) else h.exp()

    assert f(2.0).data == 4.0
    assert f(3.0).data == 6.0 and calls[-1] == 3.0 and f.stats["replays"] == 1  # checked on the replayed value
    assert f(-1.0).data == math.exp(-1.0) and f.stats["traces"] == 2  # the other branch: its own trace
    w.data = -1.0  # a leaf changed: the condition sees the new value
    assert f(2.0).data == math.exp(-2.0) and f.stats["traces"] == 2 and f.stats["replays"] == 2
    unused = Value(5.0)
    g = jit(lambda x: x * 2.0 if condition(unused * 1.0, positive) else x)  # branches on a node it does not use
    with pytest.warns(JitWarning, match="which its result does not depend on"):
        g(1.0)


@pytest.mark.parametrize("x, err, message", [
    (0.0, ZeroDivisionError, "/: division by zero"),
    (-1.0, ValueError, "log: input must be > 0, got -1.0"),
    (800.0, OverflowError, r"exp: exp\(800.0\) overflows a float"),
    (1e200, OverflowError, r"\*: the result inf overflows a float \(inputs 1e\+200, 1e\+200\)"),
])
def test_a_replay_that_leaves_the_floats_raises_what_eager_raises(x, err, message):
    f = jit(lambda x: (x * x) + (1.0 / x) + x.log() + x.exp() if x.data else x)  # noqa: E731
    g = jit(lambda x: (x * x).sigmoid() + 1.0 / x + x.log() + x.exp())
    g(1.0)
    with pytest.raises(err, match=message):
        g.eager(x)
    with pytest.raises(err, match=message):
        g(x)
    assert g.stats["fallbacks"] == 1 and isinstance(g(2.0), Replayed)
    del f


def test_a_backward_that_overflows_raises_what_eager_raises_and_changes_nothing():
    b = Value(1.0)
    f = jit(lambda a: a / b)  # ∂/∂b = -out/b: -1/1e-310 overflows while out = 1 is finite
    f(1.0)
    b.data = 1e-310
    r, e = f(1e-310), f.eager(1e-310)
    assert isinstance(r, Replayed) and r.data == e.data == 1.0
    b.grad = 0.25
    with pytest.raises(OverflowError) as want:
        e.backward()
    with pytest.raises(OverflowError) as got:
        r.backward()
    assert str(got.value) == str(want.value) and "/: a local derivative overflows" in str(got.value)
    assert b.grad == 0.25


def test_generated_code_has_no_user_text_only_table_code_names_and_numbers():
    w = Value(0.5, label='"; import os; os.system("echo hi") #')
    g = Value(0.25, label="secret_label")
    f = jit(lambda x, note: (w * x + g).tanh() ** 2 * 0.123456789 if note == "text" else w)
    f(1.0, "a user string")  # the other branch: just w
    f(1.0, "text")
    src = f.source
    assert "secret" not in src and "os" not in src and "user" not in src and "0.123456789" not in src
    tokens = set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", src))
    allowed = {"def", "make", "C", "O", "forward", "backward0", "L", "A", "S", "g", "t", "sum", "return", "if",
               "raise", "_Overflow", "ff", "fin", "and", "or", "not", "else", "for", "in", "zip", "reversed",
               "try", "except", "OverflowError", "_local", "continue", "True", "False", "range", "append", "LV",
               "is", "type", "float", "step0", "data", "grad", "LV0", "N", "R0", "Q", "R", "r", "K", "Ka", "_new",
               "_Mismatch", "_label", "_prev", "_inputs", "_saved", "F", "None", "_acquire", "_release", "finally",
               "_engine_backward"}
    assert {x for x in tokens if not re.fullmatch(r"(g?p|i|c|v|h|n|d|a|o|f|q|r|s|x|l|b)\d+(_\d+|a)?", x)} <= allowed
    assert re.search(r"\bc\d+, = C", src)  # the constants come in a tuple


# --- the cache, threads, nesting ----------------------------------------------------------------------------

def test_the_cache_is_bounded_least_recently_used_first():
    w = Value(1.0)
    f = jit(lambda xs: Value.sum(x * w for x in xs), max_traces=2)
    f([1.0])
    f([1.0, 2.0])
    f([1.0])  # used: it stays
    f([1.0, 2.0, 3.0])  # a third structure: [1.0, 2.0] goes
    assert f.stats["cached"] == 2 and f.stats["traces"] == 3
    f([1.0])
    assert f.stats["traces"] == 3
    f([1.0, 2.0])
    assert f.stats["traces"] == 4
    f.reset()
    f([1.0])
    assert f.stats["traces"] == 5 and f.stats["cached"] == 1


def test_replays_from_several_threads_give_each_its_numbers():
    w = Value(0.5)
    f = jit(lambda X: Value.sum((w * x).tanh() for x in X))
    f([0.0] * 20)
    errors = []

    def work(k):
        for i in range(50):
            X = [k + i * 0.01 + j for j in range(20)]
            r = f(X)
            if r.data != sum(math.tanh(0.5 * x) for x in X) and abs(r.data - f.eager(X).data) != 0.0:
                errors.append((k, i))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_jit_function_called_inside_another_trace_is_recorded_into_it():
    w = Value(3.0)
    inner = jit(lambda x: x * w)
    outer = jit(lambda x: inner(x) + 1.0)
    outer(2.0)
    r = outer(4.0)
    assert isinstance(r, Replayed) and r.data == 13.0 and inner.stats["traces"] == 0
    r.backward()
    assert w.grad == 4.0


def test_bad_arguments_and_results_are_named():
    with pytest.raises(TypeError, match="jit: expected a function"):
        jit(3)
    with pytest.raises(ValueError, match="max_traces must be a positive int"):
        jit(lambda: 0, max_traces=0)
    f = jit(lambda x: {"loss": x})
    with pytest.raises(TypeError, match="jit: <lambda> returned dict"):
        f(1.0)


def test_stats_and_source_describe_the_latest_trace():
    model = MLP(2, [4, 1], seed=0)
    f = jit(lambda X: Value.sum(model(x) for x in X))
    assert f.source == "" and f.stats["traces"] == 0
    f([[0.1, 0.2]] * 5)
    st_ = f.stats
    assert st_["traces"] == 1 and st_["nodes"] == 5 * (4 + 4 + 1) + 1  # 4 nets, 4 relus, 1 net a sample; Σ
    assert st_["shared"] == 1 and st_["replays"] == 0 and st_["eager"] is None
    assert st_["lines"] == f.source.count("\n") > 0 and st_["compile_seconds"] > 0


def test_each_output_of_several_backpropagates_as_eager_from_that_output():
    w, b = Value(0.4), Value(-0.3)

    def f(x):
        h = (w * x + b).tanh()
        return h, (h * h + w).sigmoid()  # the second output is built on the first

    jf = jit(f)
    jf(0.7)
    h, loss = jf(1.3)
    he, le = jf.eager(1.3)
    assert (bits(h.data), bits(loss.data)) == (bits(he.data), bits(le.data))
    for got, want in [(loss, le), (h, he)]:
        assert same(grads_after_backward(got, [w, b]), grads_after_backward(want, [w, b]))
    w.grad = b.grad = 0.0
    loss.backward()
    assert h.grad == 1.0 and w.grad == grads_after_backward(le, [w, b])[0]  # separate nodes: h keeps its own


def test_an_argument_that_is_a_node_of_an_earlier_graph_passes_the_gradient_on():
    u, w = Value(2.0), Value(0.4)
    g = jit(lambda z, k: (z * w).tanh() + k)
    g(u * u, 1.0)
    feat = u * u * 0.5
    r, e = g(feat, 2.0), g.eager(feat, 2.0)
    assert isinstance(r, Replayed) and set(r.children) == {feat, w}
    want = grads_after_backward(e, [u, w])
    got = grads_after_backward(r, [u, w])  # through the engine's pass, on into feat's graph
    t = math.tanh(2.0 * 0.4)
    assert got[0] == pytest.approx(want[0], rel=1e-15) and got[0] == pytest.approx((1 - t * t) * 0.4 * 2.0, rel=1e-14)
    assert got[1] == pytest.approx(want[1], rel=1e-15)


def test_keyword_arguments_and_values_made_inside_are_part_of_the_trace():
    w = Value(1.5)
    k = jit(lambda x, scale=1.0: x * w * scale + Value(0.25))  # Value(0.25): a constant of the trace
    k(1.0, scale=2.0)
    r = k(3.0, scale=2.0)
    assert isinstance(r, Replayed) and r.data == 3.0 * 1.5 * 2.0 + 0.25 and r.children == (w,)
    r.backward()
    assert w.grad == 3.0 * 2.0
    assert k(3.0).data == 3.0 * 1.5 + 0.25 and k.stats["traces"] == 2  # without the keyword: another structure


def test_conditions_inside_the_shared_loop_body_of_a_batch():
    X, y = moons(n=12, noise=0.1, seed=3)
    model = MLP(2, [4, 1], output_activation="sigmoid", seed=1)
    params = model.parameters()
    t = [(yi + 1) / 2 for yi in y]
    f = jit(lambda X, t: bce([model(x) for x in X], t))
    f(X, t)
    assert f.stats["shared"] == 1 and f.source.count("Ka(n") == 1  # one value in the loop body, for every sample
    X2 = [list(row) for row in X]
    X2[5] = [1000.0, -1000.0]  # sample 5's probability is 0.0: clamped to eps, another graph
    for xs, traces in [(X, 1), (X2, 2), (X2, 2), (X, 2)]:
        r, e = f(xs, t), f.eager(xs, t)
        assert bits(r.data) == bits(e.data) and f.stats["traces"] == traces
        assert same(grads_after_backward(r, params), grads_after_backward(e, params))
    assert f.stats["replays"] == 3 and f.stats["fallbacks"] == 1  # the log of the unclamped 0.0 sent it to a trace
