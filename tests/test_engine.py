"""Value, its ops, backward() and grad(): against hand computations, central differences and PyTorch."""

import ast
import gc
import math
import random
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_bp import Value, grad
from tinygrad_bp.nn import MLP

try:  # only the PyTorch cross-check needs torch: without it that one test skips, not the whole file
    import torch
except ImportError:
    torch = None

finite = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False)
positive = st.floats(min_value=0.1, max_value=3.0)


def central_difference(f, xs, i, h=1e-6):
    up = list(xs)
    down = list(xs)
    up[i] += h
    down[i] -= h
    return (f(*[Value(v) for v in up]).data - f(*[Value(v) for v in down]).data) / (2 * h)


def check_against_central_differences(f, xs, rel=1e-5, abs_=1e-6):
    vals = [Value(x) for x in xs]
    out = f(*vals)
    out.backward()
    for i, v in enumerate(vals):
        assert v.grad == pytest.approx(central_difference(f, xs, i), rel=rel, abs=abs_), f"input {i}"


# --- construction --------------------------------------------------------------

def test_value_holds_float_data_and_zero_grad():
    v = Value(3, label="x")
    assert type(v.data) is float and v.data == 3.0
    assert v.grad == 0.0 and v.label == "x" and v.op == ""


def test_value_accepts_numpy_scalars():
    assert Value(np.float32(0.5)).data == 0.5
    assert type(Value(np.float64(0.5)).data) is float  # plain float arithmetic in the graph
    assert Value(np.int64(-2)).data == -2.0


@pytest.mark.parametrize("bad", ["1.0", None, [1.0], 1 + 2j, b"1"])
def test_value_rejects_non_numbers_naming_the_type(bad):
    with pytest.raises(TypeError, match=type(bad).__name__):
        Value(bad)


def test_op_with_non_number_is_type_error():
    with pytest.raises(TypeError):
        Value(1.0) + "a"
    with pytest.raises(TypeError):
        None * Value(1.0)


def test_repr_says_data_grad_op_and_label():
    a = Value(2.0, label="a")
    b = (a * 3.0).tanh()
    b.label = "t"
    r = repr(b)
    assert f"data={math.tanh(6.0)!r}" in r and "grad=0.0" in r and "op='tanh'" in r and "label='t'" in r
    assert repr(a) == "Value(data=2.0, grad=0.0, op='', label='a')"


# --- each op: forward value and gradient --------------------------------------

def test_forward_values_by_hand():
    a, b = Value(2.0), Value(-3.0)
    assert (a + b).data == -1.0 and (a - b).data == 5.0 and (a * b).data == -6.0
    assert (a / b).data == 2.0 / -3.0 and (a**3).data == 8.0 and (-a).data == -2.0
    assert (2 ** a).data == 4.0 and (a ** Value(0.5)).data == math.sqrt(2.0)
    assert (1 - a).data == -1.0 and (1 / a).data == 0.5 and (3 + a).data == 5.0 and (3 * a).data == 6.0
    assert a.exp().data == math.exp(2.0) and a.log().data == math.log(2.0)
    assert b.relu().data == 0.0 and a.relu().data == 2.0
    assert a.sigmoid().data == pytest.approx(1 / (1 + math.exp(-2.0)), rel=1e-15)
    assert Value.sum([a, b, 4]).data == 3.0 and Value.sum([a, b]).op == "sum"
    n = Value.net([a, b], [Value(0.5), Value(2.0)], Value(0.25))
    assert n.op == "net" and n.data == 2.0 * 0.5 + -3.0 * 2.0 + 0.25


binary_ops = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow_value": lambda a, b: a ** b,
}


@pytest.mark.parametrize("name", sorted(binary_ops))
@given(a=positive, b=positive)
@settings(max_examples=40, deadline=None)
def test_binary_ops_match_central_differences(name, a, b):
    check_against_central_differences(binary_ops[name], [a, b])


unary_ops = {
    "neg": lambda x: -x,
    "pow3": lambda x: x**3,
    "pow_half": lambda x: (x * x + 1) ** 0.5,
    "pow_neg": lambda x: (x * x + 1) ** -2,
    "exp": lambda x: x.exp(),
    "log": lambda x: (x * x + 0.5).log(),
    "tanh": lambda x: x.tanh(),
    "sigmoid": lambda x: x.sigmoid(),
    "relu": lambda x: (x + 0.001).relu() * x,
    "radd": lambda x: 2.5 + x,
    "rsub": lambda x: 2.5 - x,
    "rmul": lambda x: 2.5 * x,
    "rdiv": lambda x: 2.5 / (x * x + 1),
    "rpow": lambda x: 2.5**x,
}


@pytest.mark.parametrize("name", sorted(unary_ops))
@given(x=finite)
@settings(max_examples=40, deadline=None)
def test_unary_ops_match_central_differences(name, x):
    if name == "relu" and abs(x + 0.001) < 1e-4:
        return  # the kink: central differences straddle it
    check_against_central_differences(lambda v: unary_ops[name](v), [x])


@given(xs=st.lists(finite, min_size=1, max_size=6))
@settings(max_examples=30, deadline=None)
def test_nary_sum_and_net_match_central_differences(xs):
    n = len(xs)
    check_against_central_differences(lambda *v: Value.sum(v) * v[0], xs)
    if n >= 2:
        k = n // 2
        check_against_central_differences(lambda *v: Value.net(v[:k], v[k:2 * k], v[-1]) * v[0], xs)


@given(x=finite, y=finite)
@settings(max_examples=40, deadline=None)
def test_reused_subexpressions_accumulate(x, y):
    def f(a, b):
        c = a * b + a
        d = c * c + c.tanh() * a
        return d / (1 + c * c) + Value.sum([c, c, d])

    check_against_central_differences(f, [x, y], rel=1e-4, abs_=1e-5)


def test_same_value_used_twice_in_one_op():
    a = Value(3.0)
    (a * a).backward()
    assert a.grad == 6.0
    b = Value(3.0)
    (b + b).backward()
    assert b.grad == 2.0


# --- against PyTorch in float64 ------------------------------------------------

def composite(a, b, c, exp, log, tanh, sigmoid, relu):
    d = a * b + c / (a - 2.0) - b**3
    e = tanh(d) * sigmoid(a * c) + relu(b - 0.1) * exp(c * 0.5)
    f = log(e * e + 1.0) + (-d) * (2.0 - a) / 3.0
    return f * e + (a**2 + 1.0) ** 0.25 + 2.0 ** c + (c * c + 1.0) ** (a * 0.5)


@pytest.mark.skipif(torch is None, reason="PyTorch is not installed (pip install 'tinygrad-bp[torch]')")
@given(a=st.floats(-1.5, 1.5), b=st.floats(-1.5, 1.5), c=st.floats(-1.5, 1.5))
@settings(max_examples=60, deadline=None)
def test_composite_matches_pytorch_float64(a, b, c):
    vals = [Value(a), Value(b), Value(c)]
    out = composite(*vals, Value.exp, Value.log, Value.tanh, Value.sigmoid, Value.relu)
    out.backward()
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (a, b, c)]
    tout = composite(*ts, torch.exp, torch.log, torch.tanh, torch.sigmoid, torch.relu)
    tout.backward()
    assert out.data == pytest.approx(tout.item(), rel=1e-10, abs=1e-12)
    for v, t in zip(vals, ts):
        assert v.grad == pytest.approx(t.grad.item(), rel=1e-10, abs=1e-12)


# --- backward semantics ---------------------------------------------------------

def test_backward_seeds_one_and_applies_chain_rule_by_hand():
    x, w, b = Value(0.5), Value(-2.0), Value(1.0)
    y = (x * w + b).tanh()
    y.backward()
    t = math.tanh(0.5 * -2.0 + 1.0)
    assert y.grad == 1.0
    assert w.grad == pytest.approx((1 - t * t) * 0.5, rel=1e-15)
    assert x.grad == pytest.approx((1 - t * t) * -2.0, rel=1e-15)
    assert b.grad == pytest.approx(1 - t * t, rel=1e-15)


def test_two_backward_calls_give_exactly_twice_the_leaf_gradient():
    a, b = Value(0.3), Value(-1.7)
    out = (a * b).sigmoid() * a + (b / a).tanh()
    out.backward()
    first = (a.grad, b.grad)
    mid = out._prev[0]
    interior = mid.grad
    out.backward()
    assert (a.grad, b.grad) == (2 * first[0], 2 * first[1])
    assert mid.grad == interior  # interior nodes hold the latest pass only


def test_deep_chain_of_a_million_nodes_at_default_recursion_limit():
    assert sys.getrecursionlimit() <= 10_000
    x = Value(1.0)
    y = x
    for _ in range(1_000_000):
        y = y * 1.0
    y.backward()
    assert x.grad == 1.0
    del y  # freeing a million-node chain must not crash either


def test_no_reference_cycles_graph_freed_without_gc():
    gc.disable()
    try:
        x = Value(0.5)
        y = ((x * 2.0).tanh() ** 2 + x.exp()).sigmoid()
        mid = weakref.ref(y._prev[0])
        out = weakref.ref(y)
        y.backward()
        g, = grad(y, [x], create_graph=True)
        del y, g
        assert out() is None and mid() is None
    finally:
        gc.enable()


# --- higher-order gradients -----------------------------------------------------

def test_grad_leaves_grad_fields_untouched():
    x = Value(0.7)
    x.grad = 5.0
    y = x.tanh() * x
    g, = grad(y, [x])
    assert x.grad == 5.0 and y.grad == 0.0
    t = math.tanh(0.7)
    assert g.data == pytest.approx((1 - t * t) * 0.7 + t, rel=1e-15)


def test_grad_of_unused_input_is_zero():
    x, z = Value(1.0), Value(2.0)
    gx, gz = grad(x * 3.0, [x, z])
    assert gx.data == 3.0 and gz.data == 0.0


@given(x=finite)
@settings(max_examples=30, deadline=None)
def test_second_derivatives_of_tanh_and_sigmoid(x):
    v = Value(x)
    d1, = grad(v.tanh(), [v], create_graph=True)
    d2, = grad(d1, [v])
    t = math.tanh(x)
    assert d2.data == pytest.approx(-2 * t * (1 - t * t), rel=1e-12, abs=1e-14)
    d1, = grad(v.sigmoid(), [v], create_graph=True)
    d2, = grad(d1, [v])
    s = 1 / (1 + math.exp(-x))
    assert d2.data == pytest.approx(s * (1 - s) * (1 - 2 * s), rel=1e-12, abs=1e-14)


@given(x=finite)
@settings(max_examples=30, deadline=None)
def test_third_derivative_of_x_to_the_fifth(x):
    v = Value(x)
    d1, = grad(v**5, [v], create_graph=True)
    d2, = grad(d1, [v], create_graph=True)
    d3, = grad(d2, [v])
    assert d1.data == pytest.approx(5 * x**4, rel=1e-12, abs=1e-12)
    assert d2.data == pytest.approx(20 * x**3, rel=1e-12, abs=1e-12)
    assert d3.data == pytest.approx(60 * x**2, rel=1e-12, abs=1e-12)


@given(x=positive, y=positive)
@settings(max_examples=30, deadline=None)
def test_mixed_partial(x, y):
    # ∂²/∂x∂y of x**y is x**(y-1) (1 + y ln x)
    a, b = Value(x), Value(y)
    dfdx, = grad(a ** b, [a], create_graph=True)
    dxy, = grad(dfdx, [b])
    assert dxy.data == pytest.approx(x ** (y - 1) * (1 + y * math.log(x)), rel=1e-10)
    # the other order gives the same
    dfdy, = grad(a ** b, [b], create_graph=True)
    dyx, = grad(dfdy, [a])
    assert dyx.data == pytest.approx(dxy.data, rel=1e-10)


def test_second_derivative_via_backward_on_grad_graph():
    x = Value(1.3)
    g, = grad(x**3 * x.exp(), [x], create_graph=True)
    g.backward()
    e = math.exp(1.3)
    assert x.grad == pytest.approx((6 * 1.3 + 6 * 1.3**2 + 1.3**3) * e, rel=1e-12)


# --- bad input -------------------------------------------------------------------

def test_log_of_non_positive_names_op_and_value():
    with pytest.raises(ValueError, match=r"log.*-2\.0"):
        Value(-2.0).log()
    with pytest.raises(ValueError, match=r"log.*0\.0"):
        Value(0.0).log()


def test_negative_base_fractional_power():
    with pytest.raises(ValueError, match=r"\*\*.*-8\.0.*0\.5"):
        Value(-8.0) ** 0.5
    assert (Value(-2.0) ** 3).data == -8.0


def test_non_positive_base_with_value_exponent():
    with pytest.raises(ValueError, match=r"\*\*"):
        Value(-2.0) ** Value(0.5)
    out = Value(-2.0) ** Value(2.0)  # forward is real; d/db needs ln(-2)
    assert out.data == 4.0
    with pytest.raises(ValueError, match=r"\*\*.*base.*-2\.0"):
        out.backward()


@pytest.mark.parametrize("k, dy_dx", [(1.0, 1.0), (2.0, 0.0), (3.5, 0.0)])
def test_zero_base_with_value_exponent(k, dy_dx):
    # y = x ** k at x = 0: dy/dx = k·0^(k-1) by hand, dy/dk = y·ln x -> 0 (PyTorch gives the same)
    x, e = Value(0.0), Value(k)
    y = x ** e
    y.backward()
    assert (y.data, x.grad, e.grad) == (0.0, dy_dx, 0.0)
    assert [g.data for g in grad(y, [x, e])] == [dy_dx, 0.0]
    torch = pytest.importorskip("torch")
    tx, te = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.0, k))
    (tx ** te).backward()
    assert (tx.grad.item(), te.grad.item()) == (dy_dx, 0.0)


def test_zero_base_with_value_exponent_below_one_has_an_infinite_derivative():
    y = Value(0.0) ** Value(0.5)
    with pytest.raises(ValueError, match=r"\*\*: the derivative of x \*\* 0\.5 is infinite at x = 0"):
        y.backward()


def test_relu_keeps_nan_as_torch_does():
    x = Value(math.nan)
    y = x.relu()
    y.backward()
    assert math.isnan(y.data) and x.grad == 1.0  # the gradient passes: NaN <= 0 is false
    torch = pytest.importorskip("torch")
    t = torch.tensor(math.nan, dtype=torch.float64, requires_grad=True)
    torch.relu(t).backward()
    assert math.isnan(torch.relu(t).item()) and t.grad.item() == 1.0
    net = MLP(2, [3, 1], seed=0)([math.nan, 0.5])  # a NaN input reaches the output
    assert math.isnan(net.data)


def test_x_to_the_zero_has_derivative_zero_everywhere():
    # d/dx Σ c_k x^k at x = 0 is c_1 (here 2.0); the k = 0 term contributes 0, not an "infinite" derivative
    for x0 in (0.0, -2.5, 3.0):
        x = Value(x0)
        Value.sum([c * x ** k for k, c in enumerate([1.0, 2.0, 3.0])]).backward()
        assert x.grad == 2.0 + 6.0 * x0
        x = Value(x0)
        (x ** 0).backward()
        assert math.copysign(1.0, x.grad) == 1.0 and x.grad == 0.0  # +0.0, as torch's pow backward


@pytest.mark.parametrize("build", [lambda x: 1 / x, lambda x: x.log(), lambda x: 1 / x - 1 / x, lambda x: x ** -1.5],
                         ids=["1/x", "log", "1/x-1/x", "x**-1.5"])
def test_a_local_derivative_that_overflows_is_an_error_not_a_silent_inf(build):
    # at x = 1e-200 (log: 1e-320) the values are finite, but d/dx 1/x = -1e400, d/dx log x = 1e320 overflow
    x = Value(1e-320 if build(Value(2.0)).op == "log" else 1e-200)
    w = Value(2.0)
    w.grad = 0.25
    y = build(x) * w
    assert math.isfinite(y.data)
    with pytest.raises(OverflowError, match=r"^(/|log|\*\*): a local derivative overflows a float at inputs"):
        y.backward()
    assert x.grad == 0.0 and w.grad == 0.25  # the failed pass changed no leaf
    with pytest.raises(OverflowError, match="a local derivative overflows a float"):
        grad(y, [x])


def test_user_given_inf_and_nan_still_propagate_through_local_derivatives():
    x = Value(math.inf)
    (1 / x).backward()
    assert x.grad == 0.0  # -1/x² at inf, as IEEE says
    assert math.isnan((Value(2.0) ** math.nan).data) and (Value(2.0) ** math.inf).data == math.inf


def test_grad_accepts_any_iterable_of_inputs():
    x, y = Value(3.0), Value(-2.0)
    out = x * x * y
    assert [g.data for g in grad(out, (v for v in [x, y]))] == [2 * 3.0 * -2.0, 9.0]


def test_an_int_too_large_for_a_float_names_the_op():
    with pytest.raises(OverflowError, match=r"^Value: the int is too large for a float"):
        Value(10 ** 400)
    with pytest.raises(OverflowError, match=r"^\+: the int is too large for a float"):
        Value(2.0) + 10 ** 400


def test_a_label_must_be_a_str():
    for bad in (None, 7, b"x"):
        with pytest.raises(TypeError, match=f"Value: label must be a str, got {type(bad).__name__}"):
            Value(1.0, label=bad)
        v = Value(1.0, label="kept")
        with pytest.raises(TypeError, match="label must be a str"):
            v.label = bad
        assert v.label == "kept"


def test_local_grads_and_explain_refuse_an_overflowing_derivative_as_backward_does():
    from tinygrad_bp import explain
    a = Value(1e-200, label="a")
    q = 1 / a
    q.label = "q"
    assert (1 / Value(0.5)).local_grads() == [2.0, -4.0]  # ∂(1/a)/∂1 = 1/a, ∂(1/a)/∂a = -1/a²
    for show in (q.local_grads, lambda: explain(q, a)):
        with pytest.raises(OverflowError, match="/: a local derivative overflows a float"):
            show()


def test_backward_of_a_leaf_adds_one_as_pytorch_does():
    x = Value(2.0)
    x.grad = 0.25
    x.backward()
    x.backward()
    assert x.grad == 2.25  # d x/d x = 1, added to what the leaf held, each time


def test_division_by_zero_names_op_and_value():
    with pytest.raises(ZeroDivisionError, match=r"/.*1\.5"):
        Value(1.5) / Value(0.0)
    with pytest.raises(ZeroDivisionError, match=r"/"):
        1.0 / Value(0.0)
    with pytest.raises(ZeroDivisionError, match=r"\*\*"):
        Value(0.0) ** -1


def test_exp_overflow_names_op():
    with pytest.raises(OverflowError, match="exp"):
        Value(1000.0).exp()


def test_infinite_derivative_is_an_error_not_nan():
    y = Value(0.0) ** 0.5
    with pytest.raises(ValueError, match=r"\*\*.*infinite"):
        y.backward()


@pytest.mark.parametrize("x", [1e4, -1e4, 800.0, -800.0])
def test_sigmoid_and_tanh_are_stable_for_large_inputs(x):
    for fn in (Value.sigmoid, Value.tanh):
        v = Value(x)
        out = fn(v)
        out.backward()
        assert math.isfinite(out.data) and math.isfinite(v.grad)
        assert abs(v.grad) < 1e-300  # the true derivative underflows to 0
    assert Value(-1e4).sigmoid().data == 0.0 and Value(1e4).sigmoid().data == 1.0


def test_numpy_int_on_the_left():
    v = Value(2.0)
    out = np.int64(-3) * v + np.float64(1.5)
    assert isinstance(out, Value) and out.data == -4.5
    out.backward()
    assert v.grad == -3.0


def test_failed_backward_leaves_leaf_gradients_as_they_were():
    a, b = Value(-2.0), Value(3.0)
    (a * b).backward()
    assert (a.grad, b.grad) == (3.0, -2.0)
    out = (a * b) + a ** Value(2.0)  # d/db of a ** b needs ln(-2): the pass fails midway
    with pytest.raises(ValueError, match=r"\*\*"):
        out.backward()
    assert (a.grad, b.grad) == (3.0, -2.0)


@pytest.mark.parametrize("make", [
    lambda: Value(1e200) * Value(1e200),
    lambda: Value(1e308) + 1e308,
    lambda: 1e308 + Value(1e308),
    lambda: Value(-1e308) - Value(1e308),
    lambda: Value(1e300) / Value(1e-300),
    lambda: 1e200 * Value(1e200),
    lambda: Value.sum([Value(1e308), Value(1e308)]),
    lambda: Value.net([Value(1e200)], [Value(1e200)]),
    lambda: Value(1e200) ** 2,
])
def test_overflow_is_an_error_naming_the_op_never_a_silent_inf(make):
    with pytest.raises(OverflowError, match="overflows a float"):
        make()


def test_user_given_inf_propagates_as_in_ieee():
    out = Value(math.inf) * Value(2.0)
    assert out.data == math.inf


def test_an_overflowing_derivative_with_respect_to_a_constant_does_not_stop_the_others():
    # y = x / 1e-200: dy/dx = 1e200 is finite (PyTorch gives it); only the constant's own derivative overflows
    x = Value(1.0, label="x")
    y = x / 1e-200
    assert grad(y, [x])[0].data == 1e200
    y.backward()
    assert x.grad == 1e200 and y.children[1].grad == -math.inf  # the typed number's gradient, which only it holds
    t = Value(1e-200)  # a Value the user made: its derivative is asked for, so the overflow is an error
    with pytest.raises(OverflowError, match="/: a local derivative overflows"):
        (Value(1.0) / t).backward()


def test_ctrl_c_while_ordering_gives_the_leaves_back_their_grads():
    leaves = [Value(float(k), label=f"p{k}") for k in range(5)]
    for p in leaves:
        p.grad = 0.5
    y = Value.sum([p * p for p in leaves])
    seen = []

    class Interrupt(tuple):  # the inputs of a node, which raise KeyboardInterrupt when the third node expands
        def __iter__(self):
            seen.append(1)
            if len(seen) == 3:
                raise KeyboardInterrupt
            return tuple.__iter__(self)
    for node in y.children:
        node._prev = Interrupt(node._prev)
    with pytest.raises(KeyboardInterrupt):
        y.backward()
    assert [p.grad for p in leaves] == [0.5] * 5


def test_a_number_too_large_for_a_float_never_becomes_inf_silently():
    from decimal import Decimal
    with pytest.raises(OverflowError, match="Value: the Decimal .* is too large for a float"):
        Value(Decimal("1e400"))
    with pytest.raises(OverflowError, match=r"\*: the Decimal .* is too large"):
        Value(2.0) * Decimal("-1e400")
    assert Value(Decimal("inf")).data == math.inf  # an infinity the user gives stays one


def test_a_user_built_op_is_not_pickled_as_a_builtin_of_the_same_name():
    import pickle

    from tinygrad_bp.ops import RELU, Op
    leaky = Op("relu", lambda x: x if x > 0 else 0.01 * x, lambda x, out: (1.0 if x > 0 else 0.01,))
    with pytest.raises(pickle.PicklingError, match="'relu' is not one of the engine's ops"):
        pickle.dumps(leaky)
    assert pickle.loads(pickle.dumps(RELU)) is RELU


# --- one rule per op: the layout of the core, and the generated code against engine.py's reference ---------

PACKAGE = Path(__file__).resolve().parent.parent / "tinygrad_bp"


def _package_imports(name):
    """The tinygrad_bp modules a module imports, and the names it takes from them."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tinygrad_bp"):
            found += [(node.module, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, "") for a in node.names if a.name.startswith("tinygrad_bp")]
    return found


def test_engine_and_ops_keep_their_size_budget_and_import_direction():
    for name in ("engine", "ops"):
        lines = (PACKAGE / f"{name}.py").read_text(encoding="utf-8").count("\n")
        assert lines <= 250, f"{name}.py has {lines} lines, over its budget of 250"
    assert _package_imports("ops") == []
    assert {module for module, _ in _package_imports("engine")} <= {"tinygrad_bp", "tinygrad_bp.ops"}
    assert {n for m, n in _package_imports("engine") if m == "tinygrad_bp"} == {"ops"}


def test_no_module_imports_another_modules_private_names():
    for path in PACKAGE.glob("*.py"):
        private = [(m, n) for m, n in _package_imports(path.stem) if n.startswith("_") and not n.endswith("__")]
        assert private == [], (path.name, private)


def test_each_derivative_is_written_once_in_the_package():
    # tanh's 1 − out² and sigmoid's out·(1 − out): in the op table only (delta.py is the independent oracle)
    for rule in ("1.0 - out * out", "out * (1.0 - out)"):
        places = [p.name for p in PACKAGE.glob("*.py") if rule in p.read_text(encoding="utf-8")]
        assert places == ["ops.py"], (rule, places)


def test_the_generated_source_is_printed_by_python_m_tinygrad_bp_generated():
    res = subprocess.run([sys.executable, "-m", "tinygrad_bp.generated"], capture_output=True, text=True,
                         cwd=PACKAGE.parent, timeout=60)
    assert res.returncode == 0 and res.stderr == ""
    assert "elif op is TANH:" in res.stdout and "x.grad += g * (1.0 - v.data * v.data)" in res.stdout
    assert "def __mul__(self, other):" in res.stdout and "data = self.data * other.data" in res.stdout


_EVERY_OP = [  # (a, b, the nodes so far, rng) -> a new node; every op of the table, numbers on either side
    lambda a, b, p, r: a + b, lambda a, b, p, r: a - b, lambda a, b, p, r: a * b, lambda a, b, p, r: -a,
    lambda a, b, p, r: a / (b * b + 1.0), lambda a, b, p, r: 2.0 - a, lambda a, b, p, r: 0.5 * a,
    lambda a, b, p, r: 1.0 + a, lambda a, b, p, r: 3.0 / (a * a + 1.0), lambda a, b, p, r: (a * a + 0.1) ** 0.5,
    lambda a, b, p, r: (a * a + 0.5) ** b, lambda a, b, p, r: (a * 0.1).exp(), lambda a, b, p, r: (a * a + 0.1).log(),
    lambda a, b, p, r: a.tanh(), lambda a, b, p, r: a.sigmoid(), lambda a, b, p, r: (a - 0.7).relu(),
    lambda a, b, p, r: Value.sum(r.sample(p, min(3, len(p)))),
    lambda a, b, p, r: Value.net(p[:2], [r.choice(p[2:]), r.choice(p[2:])], r.choice([None, a])),
]


def _graph_of_every_op(seed):
    rng = random.Random(seed)
    leaves = [Value(rng.uniform(0.2, 1.5), label=f"x{k}") for k in range(4)]
    pool = list(leaves)
    for _ in range(rng.randint(3, 25)):
        pool.append(rng.choice(_EVERY_OP)(rng.choice(pool), rng.choice(pool), pool, rng))
    return leaves, Value.sum(pool[-3:]) * pool[-1]


def _outcome(seed):
    """The output and the leaves' gradients of graph `seed`, or the error its forward or backward raised."""
    try:
        leaves, out = _graph_of_every_op(seed)
        out.backward()
    except (OverflowError, ValueError, ZeroDivisionError) as e:  # a random graph may leave a domain
        return type(e), str(e)
    return [out.data] + [v.grad for v in leaves]


@given(seed=st.integers(0, 10**9))
@settings(max_examples=150, deadline=None)
def test_generated_code_gives_engine_references_numbers_bit_for_bit(seed):
    # the reference: engine.py's own chain_rule, make and op methods, before codegen installed its versions
    from tinygrad_bp import codegen, engine
    fast = _outcome(seed)
    installed = engine.chain_rule, dict(engine.BUILD), {n: getattr(Value, n) for n in codegen.METHODS}
    try:
        engine.chain_rule = codegen.REFERENCE["chain_rule"]
        engine.BUILD.clear()
        for name in codegen.METHODS:
            setattr(Value, name, codegen.REFERENCE[name])
        slow = _outcome(seed)
    finally:
        engine.chain_rule = installed[0]
        engine.BUILD.update(installed[1])
        for name, f in installed[2].items():
            setattr(Value, name, f)
    assert fast == slow


# --- backward() under threads and interrupts (issue: concurrent passes, half-updated leaves) -----------------

def _shared_losses(depth):
    """Two losses over one shared interior chain (a model's hidden layer, say), and the leaves."""
    w = Value(0.3, label="w")
    h = w
    for _ in range(depth):
        h = (h * 1.0001 + 0.01).tanh()
    return w, h * 2.0, (h * h).relu()


def test_concurrent_backward_passes_over_shared_nodes_give_each_leaf_the_sum():
    import threading
    w, y1, y2 = _shared_losses(3000)
    y1.backward()
    g1 = w.grad
    w.grad = 0.0
    y2.backward()
    g2 = w.grad
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(5):
            w.grad = 0.0
            ts = [threading.Thread(target=y.backward) for y in (y1, y2, y1, y2)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            assert w.grad == pytest.approx(2 * (g1 + g2), rel=1e-12)  # each pass's own gradient, summed
    finally:
        sys.setswitchinterval(old)


def test_an_interrupted_backward_changes_no_leaf():
    import signal
    if not hasattr(signal, "setitimer"):
        pytest.skip("no setitimer on this platform")
    leaves = [Value(0.001 * k) for k in range(20_000)]
    for p in leaves:
        p.grad = 0.25
    out = Value.sum([p * p for p in leaves])
    by_hand = [0.25 + 2 * p.data for p in leaves]  # d/dp Σ p² = 2p, added to 0.25

    def interrupt(*_):
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGALRM, interrupt)
    interrupted = completed = 0
    try:
        for k in range(40):
            for p in leaves:
                p.grad = 0.25
            signal.setitimer(signal.ITIMER_REAL, 0.0005 + 0.0004 * k)
            try:
                out.backward()
                signal.setitimer(signal.ITIMER_REAL, 0)
                completed += 1
                assert [p.grad for p in leaves] == by_hand
            except KeyboardInterrupt:
                interrupted += 1
                assert all(p.grad == 0.25 for p in leaves)  # all or nothing
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert interrupted > 0


def test_a_leaf_grad_of_the_wrong_type_is_refused_before_any_leaf_changes():
    from decimal import Decimal
    a, b = Value(1.0), Value(2.0)
    a.grad, b.grad = 0.5, Decimal("1")
    with pytest.raises(TypeError, match=r"backward: leaf 2.0 holds .grad = Decimal\('1'\): expected a float"):
        (a * b).backward()
    assert a.grad == 0.5 and b.grad == Decimal("1")
    b.grad = 0  # micrograd's zero_grad: an int is fine
    (a * b).backward()
    assert (a.grad, b.grad) == (0.5 + 2.0, 1.0)


def test_grad_and_net_name_a_bare_value_and_a_missing_sequence():
    x = Value(2.0)
    with pytest.raises(TypeError, match=r"grad: inputs must be a list of Values \(got one Value: write grad"):
        grad(x * x, x)
    with pytest.raises(TypeError, match="net: weights must be a sequence of Values or numbers, got NoneType"):
        Value.net(None, None)
    with pytest.raises(ValueError, match="net: 2 weights but 1 inputs"):
        Value.net([x, x], [1.0])
    assert grad(x * x, [x])[0].data == 4.0  # by hand: 2x
