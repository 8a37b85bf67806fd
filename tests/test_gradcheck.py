"""gradcheck and gradgradcheck: they pass correct derivatives and catch wrong or lost ones."""

import math
import re

import pytest

from tinygrad_bp import GradcheckError, Value, gradcheck, gradgradcheck
from tinygrad_bp.engine import node
from tinygrad_bp.ops import Op, value


def custom(name, forward, local):
    """A one-input op with a hand-written local derivative (to plant a wrong one)."""
    op = Op(name, forward, local)
    return lambda x: node(op, x)


def table_row(message, index):
    """The cells of the table row for input `index` (a str like '0' or '0,1')."""
    for line in message.splitlines():
        cells = line.split()
        if cells and cells[0] == index:
            return cells
    raise AssertionError(f"no row {index!r} in\n{message}")


def test_passes_correct_gradients_for_values_and_numbers():
    f = lambda a, b, c: (a * b + b ** 2).tanh() / (c.exp() + 1) - a.log() * c.sigmoid()
    assert gradcheck(f, [Value(0.7, label="a"), -1.3, 2]) is True


def test_lost_gradient_from_a_broken_graph_is_caught_with_a_table():
    # f rebuilds x from its number: backward cannot reach x, so analytic 0 against numeric 2·y = 1.4
    f = lambda x, y: Value(x.data * 2) * y
    with pytest.raises(GradcheckError) as info:
        gradcheck(f, [Value(0.3, label="x"), 0.7])
    message = str(info.value)
    for column in ("input", "label", "value", "analytic", "numeric", "abs err", "rel err"):
        assert column in message
    index, label, value, analytic, numeric, abs_err, rel_err, mark = table_row(message, "0")
    assert (label, float(value), float(analytic), mark) == ("x", 0.3, 0.0, "✗")
    assert float(numeric) == pytest.approx(1.4, rel=1e-8)
    assert float(abs_err) == pytest.approx(1.4, rel=1e-2) and float(rel_err) == pytest.approx(1.0)
    # input 1 is fine: ∂/∂y = 2·0.3, no mark
    cells = table_row(message, "1")
    assert float(cells[3]) == pytest.approx(0.6) and cells[-1] != "✗"


def test_raise_exception_false_returns_false():
    assert gradcheck(lambda x: Value(x.data) * x, [1.5], raise_exception=False) is False


def test_wrong_local_derivative_is_caught_and_right_one_passes():
    wrong = custom("mysin", math.sin, lambda x, out: (math.sin(x),))
    right = custom("mysin", math.sin, lambda x, out: (math.cos(x),))
    assert gradcheck(lambda x: right(x) * x, [0.9])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x: wrong(x) * x, [0.9])
    cells = table_row(str(info.value), "0")
    # analytic sin(x)·x + sin(x) against the true cos(x)·x + sin(x)
    assert float(cells[3]) == pytest.approx(math.sin(0.9) * 0.9 + math.sin(0.9), rel=1e-8)
    assert float(cells[4]) == pytest.approx(math.cos(0.9) * 0.9 + math.sin(0.9), rel=1e-7)


def test_relu_kink_fails_the_central_difference():
    # relu'(0) is 0 in the engine (as in PyTorch); the central difference there is 1/2
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x: x.relu(), [0.0])
    analytic, numeric = (float(c) for c in table_row(str(info.value), "0")[3:5])
    assert (analytic, numeric) == (0.0, pytest.approx(0.5))
    torch = pytest.importorskip("torch")
    t = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    torch.relu(t).backward()
    assert t.grad.item() == analytic == 0.0


def test_a_nan_or_inf_gradient_never_passes():
    # a NaN or inf the function itself brings in: analytic and numeric are both NaN (or inf), never "close"
    for bad in (math.nan, math.inf):
        assert not gradcheck(lambda a, bad=bad: a * Value(bad), [0.5], raise_exception=False)


def test_rtol_scales_with_the_numeric_derivative():
    # f = 1000·x²: numeric 2000·x + O(eps²); a 0.05% error (1.0 of 2000) passes rtol=1e-3 and fails rtol=1e-4
    assert gradcheck(lambda x: x * x * 1000.0, [1.0], atol=0, rtol=1e-4)
    wrong = lambda x: x * x * 1000.0 + Value(x.data) * 1.0  # loses ∂/∂x of the last term: analytic 2000, numeric 2001
    assert gradcheck(wrong, [1.0], atol=0, rtol=1e-3)
    assert not gradcheck(wrong, [1.0], atol=0, rtol=1e-4, raise_exception=False)


def test_tolerances_decide():
    # (x+ε)³ − (x−ε)³ / 2ε = 3x² + ε²: with a huge eps the difference is visible
    f = lambda x: x ** 3
    assert gradcheck(f, [1.0], eps=1e-2, atol=2e-4, rtol=0)
    assert not gradcheck(f, [1.0], eps=1e-2, atol=5e-5, rtol=0, raise_exception=False)


def test_users_grads_and_data_are_left_alone():
    w = Value(0.5, label="w")  # captured by f, not an input
    w.grad = 3.0
    x = Value(2.0, label="x")
    x.grad = 7.0
    inner = w * 2  # an interior node the user built
    inner.grad = 11.0
    assert gradcheck(lambda x: x * inner + x * w, [x])
    assert (w.grad, x.grad, inner.grad, x.data, w.data) == (3.0, 7.0, 11.0, 2.0, 0.5)
    assert gradgradcheck(lambda x: x * x * inner, [x])
    assert (w.grad, x.grad, inner.grad, x.data) == (3.0, 7.0, 11.0, 2.0)


def test_type_errors():
    with pytest.raises(TypeError, match="must return one scalar Value, got float"):
        gradcheck(lambda x: x.data * 2, [1.0])
    with pytest.raises(TypeError, match=r"inputs\[1\] must be a Value or an int/float \(numpy scalars too\), got str"):
        gradcheck(lambda x, y: x * y, [1.0, "2"])
    with pytest.raises(TypeError, match="inputs must be a sequence"):
        gradcheck(lambda x: x, 1.0)
    with pytest.raises(TypeError, match="got bool"):
        gradcheck(lambda x: x, [True])
    with pytest.raises(TypeError, match="must return one scalar Value, got list"):
        gradgradcheck(lambda x: [x], [1.0])


def test_bad_settings():
    with pytest.raises(ValueError, match="eps must be > 0"):
        gradcheck(lambda x: x, [1.0], eps=0)
    with pytest.raises(ValueError, match="atol must be a finite number"):
        gradcheck(lambda x: x, [1.0], atol=-1)
    with pytest.raises(ValueError, match="not finite"):
        gradcheck(lambda x: x, [math.nan])


def test_gradgradcheck_passes_smooth_functions():
    f = lambda a, b: (a * b).tanh() * b.exp() + a ** 3 / b + (a - b).sigmoid() * a.log()
    assert gradgradcheck(f, [Value(0.8, label="a"), 1.7]) is True


def test_gradgradcheck_catches_a_local_rule_that_is_not_differentiable():
    # the square with its derivative 2x computed from the float: first derivatives are right,
    # but grad(create_graph=True) sees a constant, so ∂²/∂x² comes out 0 instead of 2
    sq = custom("sq", lambda x: x * x, lambda x, out: (2 * value(x),))
    assert gradcheck(sq, [1.3])
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(sq, [1.3])
    cells = table_row(str(info.value), "0,0")
    assert float(cells[3]) == 0.0 and float(cells[4]) == pytest.approx(2.0, rel=1e-6)


def test_gradgradcheck_mixed_entries_by_hand():
    # f = a·a·b: ∂²f/∂b∂a = 2a = 6 at a = 3; rebuilding one a from its number loses half of it
    assert gradgradcheck(lambda a, b: a * a * b, [3.0, 5.0])
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(lambda a, b: Value(a.data) * a * b, [3.0, 5.0])
    index, labels, value, analytic, numeric, *_, mark = table_row(str(info.value), "1,0")
    assert (float(value), float(analytic), mark) == (3.0, 3.0, "✗")
    assert float(numeric) == pytest.approx(6.0, rel=1e-7)


@pytest.mark.parametrize("check", [gradcheck, gradgradcheck])
def test_a_probe_outside_the_domain_names_the_probe(check):
    # log at x = 1e-7 is fine, but the probe x - eps = 1e-7 - 1e-6 = -9e-7 is not
    who = check.__name__
    with pytest.raises(ValueError) as info:
        check(lambda a, x: a * x.log(), [2.0, 1e-7], raise_exception=False)
    message = str(info.value)
    assert message.startswith(f"{who}: the central-difference probe x - eps = 1e-07 - 1e-06 = -9e-07 of inputs[1] ")
    assert "is outside f's domain" in message and "use a smaller eps or check a point farther" in message
    assert isinstance(info.value.__cause__, ValueError)
    assert "log: input must be > 0, got -9e-07" in str(info.value.__cause__)
    # the suggested smaller eps works: d/dx log x = 1/x = 1e7, d²/dx² = -1/x² = -1e14
    assert check(lambda a, x: a * x.log(), [2.0, 1e-7], eps=1e-9)


def test_a_probe_that_divides_by_zero_names_the_probe():
    with pytest.raises(ValueError, match=r"^gradcheck: the central-difference probe x - eps = 1e-06 - 1e-06 = 0\.0 "
                                         r"of inputs\[0\] is outside f's domain \(ZeroDivisionError: /: division"):
        gradcheck(lambda x: 1 / x, [1e-6])
    # an error at the point itself is f's own, not a probe's
    with pytest.raises(ValueError, match="^log: input must be > 0, got -1.0"):
        gradcheck(lambda x: x.log(), [-1.0])


def test_numpy_scalars_are_inputs_and_settings():
    np = pytest.importorskip("numpy")
    assert gradcheck(lambda x, y: x * y, [np.float32(0.3), 0.7]) is True
    assert gradgradcheck(lambda x, y: x * x * y, [np.int64(3), np.float64(5.0)]) is True
    # a wrong gradient is still caught with numpy inputs: analytic 0 against numeric 2·0.7
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x, y: Value(x.data * 2) * y, [np.float32(0.3), np.float64(0.7)])
    assert float(table_row(str(info.value), "0")[4]) == pytest.approx(1.4, rel=1e-8)
    assert table_row(str(info.value), "0")[2] == "0.300000012"  # float32's 0.3, held exactly as a float
    assert gradcheck(lambda x: x ** 3, [1.0], eps=np.float64(1e-2), atol=np.float32(2e-4), rtol=np.int64(0))
    with pytest.raises(TypeError, match=r"inputs\[0\] must be a Value .*got bool"):
        gradcheck(lambda x: x, [np.bool_(True)])


def test_a_check_that_would_pass_without_looking_is_refused():
    from tinygrad_bp.losses import sse
    from tinygrad_bp.nn import MLP
    x = Value(2.0)
    with pytest.raises(ValueError, match="gradcheck: f does not compute from its inputs"):
        gradcheck(lambda _x: x.exp(), [x])  # f reaches the caller's x by closure, not its argument
    m = MLP(2, [2, 1], seed=0)
    with pytest.raises(ValueError, match="gradgradcheck: f does not compute from its inputs"):
        gradgradcheck(lambda *ps: sse([m([0.3, 0.4])], [1.0]), m.parameters()[:2])
    with pytest.raises(ValueError, match="no inputs to check"):
        gradcheck(lambda: Value(3.0), [])
    assert gradcheck(lambda a, unused: a * a, [1.5, 2.0])  # one unused input among used ones: 0 is checked


def test_an_input_too_large_for_a_float_is_named():
    with pytest.raises(ValueError, match=r"gradcheck: inputs\[1\] is too large for a float \(int\)"):
        gradcheck(lambda a, b: a * b, [1.0, 10 ** 400])


def test_a_lost_gradient_is_not_blamed_on_the_engines_rules():
    # backward() and grad() agree (both 0): the table says so, without the "local rule differs" line
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda a, b: Value(a.data * 2) * b, [0.3, 0.7])
    assert "local rule" not in str(info.value) and table_row(str(info.value), "0")[-1] == "✗"


@pytest.mark.parametrize("check", [gradcheck, gradgradcheck])
@pytest.mark.parametrize("name", ["eps", "atol", "rtol"])
def test_a_huge_int_setting_is_a_value_error_naming_it(check, name):
    with pytest.raises(ValueError, match=f"^{check.__name__}: {name} must be a finite number >= 0, got a number too "
                                         r"large for a float \(int beyond ±1.8e308\)$"):
        check(lambda x: x * x, [1.5], **{name: 10**400})
    assert check(lambda x: x * x, [1.5], **{name: 1 if name == "eps" else 10})  # a float-sized int is fine


@pytest.mark.parametrize("check", [gradcheck, gradgradcheck])
@pytest.mark.parametrize("f, shown", [(None, "NoneType None"), (Value(1.0), "Value"), ("x*x", "str 'x*x'")])
def test_an_f_that_is_not_callable_is_named(check, f, shown):
    with pytest.raises(TypeError, match=rf"^{check.__name__}: f must be callable \(a function of the inputs that "
                                        rf"returns one scalar Value\), got {re.escape(shown)}"):
        check(f, [1.0])
