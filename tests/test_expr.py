"""The expression language of `tinygrad-bp graph` (tinygrad_bp.expr): whitelist, folding by the ops, Value graphs."""

import ast
import math
import re
import time
from pathlib import Path

import pytest

from tinygrad_bp import engine, expr, ops
from tinygrad_bp.engine import Value
from tinygrad_bp.expr import EvaluationError, ExpressionError, evaluate_expression, parse_expression, variables

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_value(monkeypatch):
    """Fail the test if any Value is made (by Value() or by an op through engine.node)."""

    def forbidden(*args, **kwargs):
        raise AssertionError("a Value was made while parsing")

    monkeypatch.setattr(Value, "__init__", forbidden)
    monkeypatch.setattr(engine, "node", forbidden)
    monkeypatch.setattr(expr, "node", forbidden)


def op_message(op, *args) -> str:
    """The message of the error op.forward raises on args (the independent source of the expected text)."""
    with pytest.raises((ArithmeticError, ValueError)) as info:
        op.forward(*args)
    return str(info.value)


@pytest.mark.parametrize("text, part, column, op, args", [
    ("x + (-8)**(1/3)", "(-8)**(1/3)", 5, ops.POW, (-8.0, 1 / 3)),
    ("x * 0**-1", "0**-1", 5, ops.POW, (0.0, -1.0)),
    ("log(-1) + x", "log(-1)", 1, ops.LOG, (-1.0,)),
    ("x + 1/(2-2)", "1/(2-2)", 5, ops.DIV, (1.0, 0.0)),
    ("exp(1000) * x", "exp(1000)", 1, ops.EXP, (1000.0,)),
])
def test_a_constant_part_is_refused_with_the_ops_own_message(no_value, text, part, column, op, args):
    # before expr.py, cli's folding repeated pow's checks with messages of its own ("zero to a negative power")
    with pytest.raises(ExpressionError) as info:
        parse_expression(text, ["x"])
    assert str(info.value) == f"refused `{part}` (column {column}): {op_message(op, *args)}"


def test_constants_are_folded_by_the_ops_forward(monkeypatch):
    calls = []
    for op in (ops.LOG, ops.POW, ops.MUL):
        real = op.forward
        monkeypatch.setattr(op, "forward", lambda *a, real=real, name=str(op): calls.append((name, a)) or real(*a))
    parse_expression("x + log(2) * 3**2", ["x"])
    assert calls == [("log", (2.0,)), ("**", (3.0, 2.0)), ("*", (math.log(2), 9.0))]


def test_a_power_too_large_for_a_float_is_refused_at_once_with_its_size(no_value):
    # in Python ints 9**9**9**9 would never finish; folded in floats, pow's own overflow check refuses it
    start = time.perf_counter()
    for text, digits in [("9**9**9**9", "3.7e+08"), ("x * 10**400", "400"), ("x + 0.5**-2000", "602"),
                         ("(10**300)**(10**300) * x", "3e+302")]:
        size = f"overflows a float (the result would have about {digits} digits)"
        with pytest.raises(ExpressionError, match=re.escape(size)):
            parse_expression(text, ["x"])
    assert time.perf_counter() - start < 1.0
    with pytest.raises(ExpressionError, match="1e308 \\* 10"):  # a product past the largest float: not a silent inf
        parse_expression("x + 1e308 * 10", ["x"])


def test_an_op_that_refuses_a_value_is_an_evaluation_error_naming_the_part():
    with pytest.raises(EvaluationError) as info:
        evaluate_expression("x + log(x - 2)", {"x": 2.0})
    assert str(info.value) == f"cannot evaluate `log(x - 2)` (column 5): {op_message(ops.LOG, 0.0)}"
    assert isinstance(info.value, ValueError) and not isinstance(info.value, ExpressionError)


def test_variables_are_the_names_read_not_the_functions_called():
    assert variables(parse_expression("exp(x) * y + tanh(x)", ["x", "y", "z"])) == {"x", "y"}
    assert variables(parse_expression("2 * 3", [])) == set()


CASES = [  # expression, values, the same in torch
    ("tanh(x*w + b)", {"x": 0.5, "w": -1.5, "b": 0.25}, lambda t: (t["x"] * t["w"] + t["b"]).tanh()),
    ("sigmoid(x) * log(w) - relu(b - x) / 3", {"x": 0.3, "w": 2.5, "b": 1.5},
     lambda t: t["x"].sigmoid() * t["w"].log() - (t["b"] - t["x"]).relu() / 3),
    ("x**3 - 2**x + x**-0.5 * exp(-x)", {"x": 1.7},
     lambda t: t["x"] ** 3 - 2 ** t["x"] + t["x"] ** -0.5 * (-t["x"]).exp()),
    ("x**2 + x**3 + (-2)**3 * x", {"x": -1.5}, lambda t: t["x"] ** 2 + t["x"] ** 3 - 8 * t["x"]),  # negative base
    ("x ** y", {"x": 1.5, "y": -0.75}, lambda t: t["x"] ** t["y"]),
    ("-x*y + +y/x - -(x)", {"x": 1.25, "y": -3.0}, lambda t: -t["x"] * t["y"] + t["y"] / t["x"] + t["x"]),
]


@pytest.mark.parametrize("text, values, f", CASES, ids=range(len(CASES)))
def test_values_and_gradients_agree_with_pytorch(text, values, f):
    torch = pytest.importorskip("torch")
    t = {n: torch.tensor(v, dtype=torch.float64, requires_grad=True) for n, v in values.items()}
    out = f(t)
    out.backward()
    root, leaves = evaluate_expression(text, values)
    root.backward()
    assert root.data == pytest.approx(out.item(), rel=1e-14)
    for n in values:
        assert leaves[n].grad == pytest.approx(t[n].grad.item(), rel=1e-13), n


def test_dividing_by_a_tiny_number_gives_the_apis_gradient():
    root, leaves = evaluate_expression("x/1e-200", {"x": 1.0})
    root.backward()
    x = Value(1.0)
    (x / 1e-200).backward()
    assert leaves["x"].grad == x.grad == pytest.approx(1e200, rel=1e-15)


def test_labels_name_each_part_and_each_number():
    root, leaves = evaluate_expression("tanh(x*w + 2)", {"x": 1.0, "w": 2.0})
    assert (root.label, root.op, root.data) == ("f", "tanh", math.tanh(4.0))
    (inner,) = root.children
    assert (inner.label, inner.op) == ("(x*w + 2)", "+")
    assert [c.label for c in inner.children] == ["(x*w)", "2"]
    assert [leaves[n].label for n in "xw"] == ["x", "w"]
    root, leaves = evaluate_expression("2 * 3", {})
    assert (root.data, root.op, root.label, leaves) == (6.0, "", "", {})


def test_no_private_name_crosses_a_module_and_cli_keeps_its_names():
    from tinygrad_bp import cli

    for module in ("cli", "expr"):
        tree = ast.parse((ROOT / "tinygrad_bp" / f"{module}.py").read_text())
        imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names]
        assert [name for name in imported if name.startswith("_") and not name.endswith("__")] == [], module
    assert "import ast" not in (ROOT / "tinygrad_bp" / "cli.py").read_text()  # the parser lives in expr only
    assert cli.parse_expression is parse_expression and cli.evaluate_expression is evaluate_expression
    assert cli.ExpressionError is ExpressionError
