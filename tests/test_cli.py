"""The `tinygrad-bp` command: each subcommand through main(argv) and as a real process; the safe parser."""

import math
import os
import shutil
import stat
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_bp import cli, data, engine, expr
from tinygrad_bp.cli import ExpressionError, evaluate_expression, main, parse_expression
from tinygrad_bp.engine import Value
from tinygrad_bp.modelfile import load_model

ROOT = Path(__file__).resolve().parent.parent


def run_main(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_process(*argv, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "tinygrad_bp.cli", *argv], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("tinygrad-bp")
    return lines[0]


def svg_texts(path) -> list[str]:
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    return ["".join(t.itertext()) for t in root.iter() if t.tag.endswith("text")]


# --- the safe expression parser ------------------------------------------------------------

@pytest.fixture
def no_evaluation(monkeypatch):
    """Fail the test if any Value is created or any op applied."""

    def forbidden(*args, **kwargs):
        raise AssertionError("a refused expression was evaluated")

    monkeypatch.setattr(Value, "__init__", forbidden)
    monkeypatch.setattr(engine, "node", forbidden)  # every op of a Value goes through engine.node
    monkeypatch.setattr(expr, "node", forbidden)


REFUSED = [
    ("x.__class__", "attribute access", "`x.__class__`"),
    ("(x).real + 1", "attribute access", "`(x).real`"),
    ("__import__('os').system('touch MARKER')", "call of `__import__('os').system`", "can be called"),
    ("__import__('os')", "call of `__import__`", "only exp, log, tanh, sigmoid, relu"),
    ("exec('1')", "call of `exec`", "(column 1)"),
    ("(lambda: x)()", "call of `lambda: x`", ""),
    ("lambda: x", "lambda is not allowed", "`lambda: x`"),
    ("x[0]", "subscript is not allowed", "`x[0]`"),
    ("x + y", "unknown name `y` (column 5)", "--at y="),
    ("open", "unknown name `open`", ""),
    ("9**9**9", "refused `9**9**9`", "**: 9.0 ** 387420489.0 overflows a float"),
    ("x * 10**400", "refused `10**400` (column 5)", "digits"),
    ("x + 0.5**-2000", "refused `0.5**-2000` (column 5)", "about 602 digits"),
    ("exp(1000) * x", "refused `exp(1000)`", "overflows"),
    ("x + 1/0", "refused `1/0`", "division by zero"),
    ("[x for x in (1,)]", "comprehension", ""),
    ("f'{x}'", "f-string", ""),
    ("(x := 1)", "assignment expression", ""),
    ("x < 1", "comparison", ""),
    ("x if x else 1", "conditional expression", ""),
    ("x // 2", "operator // is not allowed", ""),
    ("x % 2", "operator % is not allowed", ""),
    ("~x", "unary operator", ""),
    ("not x", "unary operator", ""),
    ("exp(x, x)", "exp() takes exactly one argument", ""),
    ("tanh(x=x)", "tanh() takes exactly one argument", ""),
    ("exp", "exp is a function", ""),
    ("True * x", "constant `True`", "only int and float"),
    ("'a' * x", "constant `'a'`", ""),
    ("1j * x", "constant `1j`", ""),
    ("1e999 * x", "number `1e999`", "too large"),
    ("x +", "syntax error", ""),
    ("x; import os", "syntax error", ""),
    ("   ", "empty expression", ""),
    ("x" + "+x" * 1000, "longer than the limit of 2000", ""),
]


@pytest.mark.parametrize("expr, fragment, fragment2", REFUSED, ids=range(len(REFUSED)))
def test_refused_expressions_exit_2_and_never_run(capsys, tmp_path, monkeypatch, no_evaluation, expr, fragment,
                                                  fragment2):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(capsys, "graph", expr, "--at", "x=2")
    assert code == 2
    assert out == ""
    line = one_line_error(err)
    assert fragment in line and fragment2 in line, line
    assert list(tmp_path.iterdir()) == []  # nothing was written (no MARKER)


def test_nine_to_the_nine_to_the_nine_is_refused_without_computing(no_evaluation):
    with pytest.raises(ExpressionError, match=r"about 3.7e\+08 digits"):
        parse_expression("9**9**9", [])
    with pytest.raises(ExpressionError, match="refused `2.0\\*\\*5000`"):
        parse_expression("x ** 0.5 + 2.0**5000", ["x"])


def test_constant_powers_that_fit_are_folded():
    root, _ = evaluate_expression("x * 0.5**2000 + 2**-3 + (-2)**3 + 10**308", {"x": 1.0})
    assert root.data == 0.5**2000 + 0.125 - 8 + 1e308  # 0.5**2000 underflows to 0.0, as in Python


def test_parse_does_not_evaluate(no_evaluation):
    tree = parse_expression("tanh(x*w + b) + exp(-x) / relu(w) ** 2", ["x", "w", "b"])
    assert tree.body is not None


def test_a_refused_expression_as_a_real_process_runs_nothing(tmp_path):
    res = run_process("graph", "__import__('os').system('touch MARKER')", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stdout == ""
    assert "call of `__import__('os').system`" in one_line_error(res.stderr)
    assert not (tmp_path / "MARKER").exists()


def central(f, values, name, h=1e-6):
    up = dict(values, **{name: values[name] + h})
    down = dict(values, **{name: values[name] - h})
    return (f(**up) - f(**down)) / (2 * h)


def sig(z):
    return 1 / (1 + math.exp(-z))


CASES = [
    ("tanh(x*w + b)", lambda x, w, b: math.tanh(x * w + b), {"x": 0.5, "w": -1.5, "b": 0.25}),
    ("sigmoid(x) * log(w) - relu(b - x) / 3", lambda x, w, b: sig(x) * math.log(w) - max(b - x, 0) / 3,
     {"x": 0.3, "w": 2.5, "b": 1.5}),
    ("x**3 - 2**x + x**-0.5 * exp(-x)", lambda x: x**3 - 2**x + x**-0.5 * math.exp(-x), {"x": 1.7}),
    ("-x*y + +y/x - -(x)", lambda x, y: -x * y + y / x + x, {"x": 1.25, "y": -3.0}),
    ("x*x*x + 2*3*x", lambda x: x * x * x + 6 * x, {"x": -0.75}),
]


@pytest.mark.parametrize("expr, f, values", CASES, ids=range(len(CASES)))
def test_gradients_match_central_differences(expr, f, values):
    root, leaves = evaluate_expression(expr, values)
    root.backward()
    assert root.data == pytest.approx(f(**values), rel=1e-12)
    for name in values:
        assert leaves[name].grad == pytest.approx(central(f, values, name), rel=1e-6, abs=1e-8), name


@pytest.mark.parametrize("expr, f, values", CASES, ids=range(len(CASES)))
def test_graph_prints_each_gradient(capsys, expr, f, values):
    argv = ["graph", expr] + [a for n, v in values.items() for a in ("--at", f"{n}={v}")]
    code, out, err = run_main(capsys, *argv)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"f = {expr} = ")
    assert float(lines[0].rsplit("=", 1)[1]) == pytest.approx(f(**values), rel=5e-9, abs=5e-10)  # 9 decimals
    printed = dict(line.split(" = ") for line in lines[1:])
    assert list(printed) == [f"∂f/∂{n}" for n in values]
    for n in values:
        assert float(printed[f"∂f/∂{n}"]) == pytest.approx(central(f, values, n), rel=1e-6, abs=1e-8)


@settings(max_examples=50, deadline=None)
@given(st.recursive(
    st.sampled_from(["x", "y", "1.5", "2"]),
    lambda sub: st.one_of(
        st.tuples(sub, st.sampled_from(["+", "-", "*"]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["tanh", "sigmoid"]), sub).map(lambda t: f"{t[0]}({t[1]})"),
        sub.map(lambda s: f"-{s}")),
    max_leaves=8))
def test_random_expressions_agree_with_python(expr):
    values = {"x": 0.7, "y": -1.3}
    names = {"tanh": math.tanh, "sigmoid": sig}

    def f(x, y):
        return eval(expr, {"__builtins__": {}}, {**names, "x": x, "y": y})  # test oracle on our own strings

    root, leaves = evaluate_expression(expr, values)
    assert root.data == pytest.approx(f(**values), rel=1e-12, abs=1e-12)
    root.backward()
    for n in values:
        assert leaves[n].grad == pytest.approx(central(f, values, n), rel=1e-5, abs=1e-7)


def test_graph_labels_nodes_with_their_piece_of_the_expression():
    root, leaves = evaluate_expression("tanh(x*w + b)", {"x": 1.0, "w": 2.0, "b": 0.5})
    assert root.label == "f" and root.op == "tanh"
    (inner,) = root.children
    assert inner.label == "(x*w + b)" and inner.op == "+"
    assert inner.children[0].label == "(x*w)"
    assert [leaves[n].label for n in "xwb"] == ["x", "w", "b"]


def test_graph_writes_svg_and_explains(capsys, tmp_path):
    svg = tmp_path / "g.svg"
    code, out, err = run_main(capsys, "graph", "tanh(x*w + b)", "--at", "x=0.5", "--at", "w=-1.5", "--at", "b=0.25",
                              "-o", str(svg), "--explain", "w")
    assert code == 0, err
    texts = " ".join(svg_texts(svg))
    for label in ("x", "w", "b", "tanh"):
        assert label in texts
    dfdw = 0.5 * (1 - math.tanh(0.5 * -1.5 + 0.25) ** 2)  # by hand: x·(1 − tanh²)
    assert f"∂f/∂w = {dfdw:.9f}\n" in out  # 0.393223866: 9 decimals, as explain prints it
    explanation = out.split("\n\n", 1)[1]
    assert explanation.startswith(f"∂f/∂w = {dfdw:.9f}   ")  # graph and explain print the same digits
    assert "∂f/∂w" in explanation
    assert f"{dfdw:.6f}"[:7] in explanation.replace(" ", "")


@pytest.mark.parametrize("argv, fragment", [
    (["graph", "x*y", "--at", "x=1"], "unknown name `y`"),
    (["graph", "x", "--at", "x=1", "--at", "x=2"], "--at x: given twice"),
    (["graph", "x", "--at", "x=1", "--at", "q=2"], "--at q: q does not appear in the expression"),
    (["graph", "x", "--at", "exp=1", "--at", "x=1"], "exp is a function name"),
    (["graph", "x", "--at", "x=1", "--explain", "z"], "--explain z: not a name of the expression"),
    (["graph", "x", "--at", "x2"], "expected NAME=VALUE"),
    (["graph", "x", "--at", "x=abc"], "x: expected a number after '='"),
    (["graph", "x", "--at", "x=nan"], "x: expected a finite number"),
    (["graph", "x", "--at", "1x=2"], "expected NAME=VALUE"),
    (["graph", "-x*x", "--at", "x=2"], "after '--'"),
    (["train", "--hidden", "16,0"], "layer sizes must be positive"),
    (["train", "--lr", "-1"], "expected a finite number > 0"),
    (["train", "--epochs", "0"], "expected a positive integer"),
    (["train", "--data", "iris"], "invalid choice: 'iris'"),
    (["train", "--batch-size", "-2"], "expected an integer >= 0"),
    (["train", "--data", "xor", "--samples", "10"], "do not apply to xor"),
    (["train", "--samples", "1", "--no-progress"], "--samples: expected an integer from 2 to 100,000"),
    (["train", "--seed", "-3"], "--seed: expected an integer >= 0"),
    (["train", "--noise", "1e308", "--no-progress"], "moons: noise 1e+308 makes points overflow a float"),
    (["train", "--save", "/nonexistent-dir/m.json"], "--save /nonexistent-dir/m.json: folder"),
    (["train", "--plot", "/nonexistent-dir/run"], "--plot /nonexistent-dir/run: folder"),
    (["train", "--save", str(ROOT / "tests")], "is a folder; give a file name"),
    (["worked-example", "--rounds", "0"], "expected a positive integer"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_user_errors_are_one_line_and_exit_2(capsys, argv, fragment):
    code, out, err = run_main(capsys, *argv)
    assert code == 2
    assert fragment in one_line_error(err)


def test_runtime_errors_are_one_line_and_exit_1(capsys):
    code, out, err = run_main(capsys, "graph", "log(x - 2)", "--at", "x=2")
    assert code == 1
    assert "cannot evaluate `log(x - 2)` (column 1): log: input must be > 0" in one_line_error(err)
    code, out, err = run_main(capsys, "graph", "x ** 9**9", "--at", "x=2")
    assert code == 1
    assert "overflows a float" in one_line_error(err)


@pytest.mark.parametrize("argv, fragment", [
    # 1e200**2 = 1e400 > 1.8e308: the first product overflows (the engine refuses it), before the 0
    # could turn it into NaN
    (["x*x*x*0", "--at", "x=1e200"], "cannot evaluate `x*x` (column 1): *: the result inf overflows a float"),
    # f = 1e-300*1e300*1e300 = 1e300 is a float, but ∂f/∂x = y*z = 1e600 is not
    (["x*y*z", "--at", "x=1e-300", "--at", "y=1e300", "--at", "z=1e300"], "∂f/∂x is inf"),
    # d log/dx = 1/1e-320 = 1e320 overflows (the engine refuses it), before the 0 could turn it into NaN
    (["log(x)*0", "--at", "x=1e-320"], "log: a local derivative overflows a float at inputs 1e-320"),
])
def test_no_inf_or_nan_is_printed_as_a_result(capsys, argv, fragment):
    code, out, err = run_main(capsys, "graph", *argv)
    assert code == 1 and out == ""
    assert fragment in one_line_error(err)


@pytest.mark.parametrize("argv", [
    ["graph", "x*2", "--at", "x=1", "-o", "{missing}/g.svg"],
    ["graph", "x*2", "--at", "x=1", "-o", "{folder}"],
    ["worked-example", "--rounds", "1", "--svg", "{missing}/w.svg"],
])
def test_bad_svg_path_is_refused_before_any_output(capsys, tmp_path, argv):
    argv = [a.format(missing=tmp_path / "nope", folder=tmp_path) for a in argv]
    code, out, err = run_main(capsys, *argv)
    assert code == 2 and out == ""
    assert "folder" in one_line_error(err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["graph", "x*2", "--at", "x=1", "-o", "g.svg"],
                                  ["worked-example", "--rounds", "1", "--svg", "w.svg"]])
def test_missing_renderer_is_refused_before_any_output(capsys, tmp_path, monkeypatch, argv):
    from tinygrad_bp import viz

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # neither dot nor graphviz-pure
    monkeypatch.setattr(viz, "_script_dirs", lambda: [])
    code, out, err = run_main(capsys, *argv)
    assert code == 2 and out == ""
    line = one_line_error(err)
    assert "Graphviz" in line and "apt-get install graphviz" in line and "tinygrad-bp[render]" in line
    assert list(tmp_path.iterdir()) == []


def test_huge_hidden_layers_are_refused_before_building(capsys):
    # 2-998-998-1: 3·998 + 999·998 + 999·1 = 1,000,995 weights and biases
    code, out, err = run_main(capsys, "train", "--hidden", "998,998")
    assert code == 2 and out == ""
    assert "1,000,995 parameters" in one_line_error(err)


def test_negative_expression_after_double_dash(capsys):
    code, out, err = run_main(capsys, "graph", "--at", "x=2", "--", "-x*x")
    assert code == 0
    assert out.splitlines()[1] == "∂f/∂x = -4"


def test_help_and_no_command(capsys):
    code, out, err = run_main(capsys)  # a missing command is a usage error (argparse's convention): exit 2
    assert code == 2 and out == ""
    assert err.startswith("usage: tinygrad-bp")
    assert err.splitlines()[-1] == ("tinygrad-bp: error: give a command: worked-example, train, predict, graph, "
                                    "explain (see tinygrad-bp --help)")
    code, out, err = run_main(capsys, "--help")
    assert code == 0 and all(c in out for c in ("worked-example", "train", "predict", "graph", "explain"))
    code, out, err = run_main(capsys, "train", "--help")
    assert code == 0 and "--batch-size" in out


# --- worked-example --------------------------------------------------------------------------

MAZUR_FIGURES = [  # Mazur's worked example, as printed in Jain's reproduction (each to 9 digits or fewer)
    "0.593269992", "0.596884378", "1.105905967", "0.751365070", "0.772928465", "0.274811083", "0.023560026",
    "0.298371109", "0.741365070", "0.186815602", "0.082167041", "0.138498562", "0.055399425", "0.036350306",
    "0.241300709", "0.000438568",
    "0.149780716", "0.199561432", "0.249751144", "0.299502287",  # printed: 0.19956143, 0.24975114, 0.29950229
    "0.358916480", "0.408666186", "0.511301270", "0.561370121",
]


def test_worked_example_prints_mazurs_figures(capsys):
    code, out, err = run_main(capsys, "worked-example")
    assert code == 0, err
    for figure in MAZUR_FIGURES:
        assert figure in out, figure
    weights = [line.split("=")[-1].strip() for line in out.splitlines() if line.strip().startswith("w")]
    assert weights == MAZUR_FIGURES[-8:]
    assert "Round 10000 (after 9999 updates): E = 0.0000351085" in out  # printed: 0.0000351085
    assert "Error after the first round: 0.2910277" in out  # Jain prints 0.291027924 (see test_worked_example)


def test_worked_example_rounds_and_svg(capsys, tmp_path):
    svg = tmp_path / "worked.svg"
    code, out, err = run_main(capsys, "worked-example", "--rounds", "1", "--svg", str(svg))
    assert code == 0, err
    assert out.strip().splitlines()[-1].startswith("Round 1 (after 0 updates): E = 0.2983711")
    texts = " ".join(svg_texts(svg))
    for label in ("w1", "w8", "out_h1", "net_o2", "E"):
        assert label in texts, label
    assert "0.08217" in texts  # ∂E/∂w5 = 0.082167041 (as printed) shown as w5's grad


def test_worked_example_as_a_real_process():
    res = run_process("worked-example", "--rounds", "2")
    assert res.returncode == 0, res.stderr
    assert "0.082167041" in res.stdout
    assert res.stdout.strip().splitlines()[-1].startswith("Round 2 (after 1 update): E = 0.29102777")


# --- train -------------------------------------------------------------------------------------

def accuracy_of(model, X, y, threshold):
    return sum((model(x).data > threshold) == (t == 1.0) for x, t in zip(X, y)) / len(X)


def test_train_moons_defaults_reach_97_percent_and_save(capsys, tmp_path):
    path = tmp_path / "moons.json"
    code, out, err = run_main(capsys, "train", "--data", "moons", "--seed", "0", "--save", str(path))
    assert code == 0, err
    last = out.strip().splitlines()[-1]
    assert last.startswith("accuracy: ") and len(last.split()[1]) == 5  # accuracy: 0.985
    printed = float(last.split()[1])
    assert printed >= 0.97
    assert "epoch" in err and "loss=" in err and "acc=" in err  # the tqdm progress bar
    model = load_model(path)
    assert (model.nin, model.nouts, model.activation, model.output_activation) == (2, [16, 16, 1], "relu", "linear")
    X, y = data.moons(seed=0)  # recompute the accuracy independently from the saved model
    assert accuracy_of(model, X, y, 0.0) == pytest.approx(printed, abs=0.0005)


@pytest.mark.parametrize("loss", ["sse", "mse", "bce"])
def test_train_with_01_labels(capsys, tmp_path, loss):
    path = tmp_path / "m.json"
    code, out, err = run_main(capsys, "train", "--data", "xor", "--loss", loss, "--hidden", "8", "--activation",
                              "tanh", "--epochs", "200", "--no-progress", "--save", str(path))
    assert code == 0, err
    assert err == ""
    assert out.strip().splitlines()[-1] == "accuracy: 1.000"
    model = load_model(path)
    assert model.output_activation == "sigmoid"
    X, y = data.xor(labels="01")
    assert accuracy_of(model, X, y, 0.5) == 1.0


def test_train_minibatch_sgd_is_deterministic(capsys):
    argv = ["train", "--data", "circles", "--optimizer", "sgd", "--lr", "0.1", "--batch-size", "10",
            "--epochs", "20", "--hidden", "8", "--no-progress"]
    first = run_main(capsys, *argv)
    second = run_main(capsys, *argv)
    assert first == second and first[0] == 0


def test_train_plot_writes_png_files(capsys, tmp_path):
    prefix = tmp_path / "run"
    code, out, err = run_main(capsys, "train", "--data", "xor", "--epochs", "5", "--no-progress", "--plot", str(prefix))
    assert code == 0, err
    for suffix in ("_loss.png", "_boundary.png"):
        png = Path(f"{prefix}{suffix}")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"wrote {png}" in out


def test_train_plot_without_matplotlib_exits_2_before_training(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    monkeypatch.setattr(cli, "train", lambda *a, **k: pytest.fail("trained without matplotlib"))
    code, out, err = run_main(capsys, "train", "--plot", str(tmp_path / "run"))
    assert code == 2
    assert out == ""
    assert "--plot needs matplotlib" in one_line_error(err) and "tinygrad-bp[plot]" in err
    assert list(tmp_path.iterdir()) == []


def test_train_as_a_real_process(tmp_path):
    res = run_process("train", "--data", "xor", "--hidden", "8", "--epochs", "50", "--save", str(tmp_path / "x.json"))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "accuracy: 1.000"
    assert "50/50" in res.stderr  # the progress bar went to stderr
    assert load_model(tmp_path / "x.json").nouts == [8, 1]


def test_graph_as_a_real_process(tmp_path):
    res = run_process("graph", "x*w + b", "--at", "x=2", "--at", "w=3", "--at", "b=1", "-o", str(tmp_path / "g.svg"))
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["f = x*w + b = 7", "∂f/∂x = 3", "∂f/∂w = 2", "∂f/∂b = 1"]
    assert "x*w" in " ".join(svg_texts(tmp_path / "g.svg"))


def test_worked_example_run_returns_the_error_and_checks_rounds():
    import io

    from tinygrad_bp.worked_example import run

    buf = io.StringIO()
    assert abs(run(rounds=1, file=buf) - 0.298371109) <= 0.5e-9  # as printed: E_total = 0.298371109
    assert "E_total = E_o1 + E_o2 = 0.298371109" in buf.getvalue()
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="rounds must be an int >= 1"):
            run(rounds=bad, file=io.StringIO())


def test_a_missing_runtime_dependency_is_one_line(capsys, tmp_path, monkeypatch):
    from tinygrad_bp import viz

    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz -> ImportError
    monkeypatch.setattr(viz, "_DIGRAPH_CLASS", None)  # forget the class viz built from it
    code, out, err = run_main(capsys, "graph", "x*x", "--at", "x=3", "-o", str(tmp_path / "g.svg"))
    assert code == 1
    assert "graphviz" in one_line_error(err)
    assert out.splitlines()[1] == "∂f/∂x = 6"  # the gradients were printed before the SVG step


# --- output paths are checked for real before any work ------------------------------------------

@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if training, the worked example or evaluating an expression starts."""
    from tinygrad_bp import worked_example

    monkeypatch.setattr(cli, "train", lambda *a, **k: pytest.fail("trained before checking the output path"))
    monkeypatch.setattr(worked_example, "run", lambda *a, **k: pytest.fail("ran before checking the output path"))
    monkeypatch.setattr(cli, "evaluate_expression", lambda *a, **k: pytest.fail("evaluated before the check"))


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--save", "/proc/m.json"], "--save /proc/m.json: cannot create a file in folder /proc"),
    (["train", "--plot", "/proc/run"], "--plot /proc/run: cannot create a file in folder /proc"),
    (["graph", "x", "--at", "x=1", "-o", "/proc/g.svg"], "-o /proc/g.svg: cannot create a file in folder /proc"),
    (["worked-example", "--svg", "/proc/w.svg"], "--svg /proc/w.svg: cannot create a file in folder /proc"),
    (["train", "--save", "{file}/m.json"], "{file} is not a folder"),
    (["train", "--plot", "{file}/run"], "{file} is not a folder"),
    (["train", "--save", "{fifo}"], "--save {fifo}: is not a regular file (a FIFO)"),
    (["train", "--plot", "{folder}/run"], "--plot {folder}/run: {folder}/run_loss.png: is a folder"),
    (["graph", "x", "--at", "x=1", "-o", "/dev/stdout"], "-o /dev/stdout: "),
    (["worked-example", "--svg", "/dev/stderr"], "--svg /dev/stderr: "),
])
def test_unwritable_output_paths_exit_2_before_any_work(capsys, tmp_path, no_work, argv, fragment):
    (tmp_path / "afile").write_text("a file")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "run_loss.png").mkdir()
    names = {"file": tmp_path / "afile", "fifo": tmp_path / "pipe", "folder": tmp_path / "d"}
    argv = [a.format(**names) for a in argv]
    code, out, err = run_main(capsys, *argv)
    assert code == 2 and out == ""
    assert fragment.format(**names) in one_line_error(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "d", "pipe"]
    assert (tmp_path / "afile").read_text() == "a file" and os.listdir(tmp_path / "d") == ["run_loss.png"]


@pytest.mark.parametrize("argv", [["train", "--save", "/dev/null"], ["train", "--plot", "/dev/null/run"],
                                  ["graph", "x", "--at", "x=1", "-o", "/dev/null"],
                                  ["worked-example", "--svg", "/dev/null"]])
def test_dev_null_is_refused_and_stays_a_device(capsys, no_work, argv):
    code, out, err = run_main(capsys, *argv)
    assert code == 2 and out == ""
    line = one_line_error(err)
    assert "/dev/null" in line and ("character device" in line or "is not a folder" in line)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_save_to_an_unwritable_folder_fails_fast_as_a_real_process():
    res = run_process("train", "--save", "/proc/m.json")
    assert res.returncode == 2 and res.stdout == ""
    assert one_line_error(res.stderr) == ("tinygrad-bp: error: --save /proc/m.json: cannot create a file in folder "
                                          "/proc: No such file or directory")


@pytest.mark.parametrize("argv, option", [
    (["train", "--save", ""], "--save"), (["train", "--plot", ""], "--plot"),
    (["graph", "x", "--at", "x=1", "-o", ""], "-o"), (["worked-example", "--svg", ""], "--svg"),
])
def test_empty_output_paths_are_usage_errors(capsys, tmp_path, monkeypatch, no_work, argv, option):
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    code, out, err = run_main(capsys, *argv)
    assert code == 2 and out == ""
    assert one_line_error(err) == f"tinygrad-bp: error: {option}: the file name is empty; give one such as " + {
        "--save": "model.json", "--plot": "run", "-o": "graph.svg", "--svg": "worked.svg"}[option]
    assert [p.name for p in tmp_path.iterdir()] == ["cwd"] and os.listdir(".") == []


def test_train_saves_through_a_symlink_to_its_target(capsys, tmp_path):
    (tmp_path / "models").mkdir()
    link = tmp_path / "latest.json"
    link.symlink_to(tmp_path / "models" / "m.json")
    code, out, err = run_main(capsys, "train", "--data", "xor", "--hidden", "4", "--epochs", "3", "--no-progress",
                              "--save", str(link))
    assert code == 0, err
    assert link.is_symlink() and load_model(tmp_path / "models" / "m.json").nouts == [4, 1]


# --- divergence, size limits, memory ------------------------------------------------------------

def test_an_overflow_in_training_is_the_divergence_hint_with_its_epoch(capsys):
    code, out, err = run_main(capsys, "train", "--lr", "1e300", "--no-progress")
    assert code == 1 and out == ""
    assert one_line_error(err) == ("tinygrad-bp: error: training diverged in epoch 2 of 100: a value overflowed a "
                                   "float (try a smaller --lr)")


def test_a_training_step_too_large_for_memory_is_refused_at_once(capsys, no_work):
    # passed the parameter and the sample checks, each within its limit, and ran out of memory after 76 s
    start = time.perf_counter()
    code, out, err = run_main(capsys, "train", "--hidden", "200000", "--samples", "100000", "--epochs", "1")
    assert time.perf_counter() - start < 1.0
    assert code == 2 and out == ""
    # 2-200000-1: 800,001 parameters, 200,001 neurons, 100,000 points a step (by hand, with the measured constants)
    expected = 1_000_000 + 400 * 800_001 + 100_000 * (2_100 + 22 * 800_001 + 400 * 200_001)
    assert cli.estimate_step_bytes([200000], 100_000) == expected == 9_760_573_200_400
    fits = (cli.MAX_STEP_BYTES - 1_000_000 - 400 * 800_001) // (2_100 + 22 * 800_001 + 400 * 200_001)
    assert fits == 37 and cli.estimate_step_bytes([200000], 37) <= cli.MAX_STEP_BYTES < cli.estimate_step_bytes(
        [200000], 38)
    assert one_line_error(err) == (
        "tinygrad-bp: error: --hidden 200000 with --samples 100000 in one batch: a training step would hold about "
        "9.8 TB of graph, more than the limit of 4.0 GB; use --batch-size 37 or less, fewer --samples or smaller "
        "--hidden")
    code, out, err = run_main(capsys, "train", "--hidden", "200000", "--samples", "100000", "--batch-size", "1000")
    assert code == 2 and one_line_error(err).startswith(
        "tinygrad-bp: error: --hidden 200000 with --batch-size 1000: a training step would hold about 97.9 GB")
    code, out, err = run_main(capsys, "train", "--hidden", "200000", "--batch-size", "1000")  # 100 points: one batch
    assert code == 2 and one_line_error(err).startswith(
        "tinygrad-bp: error: --hidden 200000 with --samples 100 in one batch: a training step would hold about 10.1 GB")


def test_the_default_size_limits_fit_the_memory_limit():
    # 16,16 at the most samples in one batch: about 2.3 GB; the widest layer that fits MAX_PARAMETERS, one point a step
    assert cli.estimate_step_bytes([16, 16], cli.MAX_SAMPLES) == 2_272_534_800 <= cli.MAX_STEP_BYTES
    assert cli.estimate_step_bytes([249_999], 1) < cli.MAX_STEP_BYTES


@pytest.mark.parametrize("hidden, samples, loss", [("64", 300, "hinge"), ("4", 2000, "bce"), ("32,32", 150, "sse")])
def test_the_step_estimate_bounds_the_measured_memory(hidden, samples, loss):
    # the constants are measured with tracemalloc (docs/cli.md); the estimate must stay above the peak, and near it
    import tracemalloc
    args = cli.build_parser().parse_args(["train", "--hidden", hidden, "--samples", str(samples), "--epochs", "1",
                                          "--loss", loss])
    tracemalloc.start()
    try:
        cli.train(args, progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = cli.estimate_step_bytes(args.hidden, samples)
    assert peak <= estimate <= 2 * peak, (peak, estimate)


def test_samples_are_capped_with_the_reason(capsys, no_work):
    code, out, err = run_main(capsys, "train", "--samples", "2000000")
    assert code == 2 and out == ""
    line = one_line_error(err)
    assert "--samples: expected an integer from 2 to 100,000" in line and "'2000000'" in line
    assert "memory" in line
    args = cli.build_parser().parse_args(["train", "--samples", str(cli.MAX_SAMPLES)])
    assert args.samples == cli.MAX_SAMPLES == 100_000
    code, out, err = run_main(capsys, "train", "--samples", "100001")
    assert code == 2 and "from 2 to 100,000" in one_line_error(err)


def test_running_out_of_memory_is_one_line_and_exit_1(capsys, monkeypatch):
    def exhaust(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(cli, "train", exhaust)
    code, out, err = run_main(capsys, "train", "--no-progress")
    assert code == 1 and out == ""
    assert one_line_error(err) == ("tinygrad-bp: error: out of memory; try fewer --samples, smaller --hidden or a "
                                   "--batch-size")
    monkeypatch.setattr(cli, "evaluate_expression", exhaust)
    code, out, err = run_main(capsys, "graph", "x", "--at", "x=1")
    assert code == 1 and one_line_error(err) == "tinygrad-bp: error: out of memory"


@pytest.mark.parametrize("argv", [["worked-example", "--rounds", "3"], ["graph", "x*y", "--at", "x=2", "--at", "y=3"]])
def test_a_reader_that_goes_away_ends_the_command_quietly(argv):
    # `tinygrad-bp ... | head -1`: the pipe closes after the first line; no error message, SIGPIPE's exit code
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "tinygrad_bp.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # before the command writes anything
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 141 and err == b""


def test_the_sse_loss_per_point_does_not_depend_on_the_batch_size():
    # lr so small that the weights do not move: every epoch's loss is the starting one, by hand Σ ½(t − a)² / N
    from tinygrad_bp.losses import sse
    from tinygrad_bp.nn import MLP
    X, y = data.moons(40, noise=0.1, seed=0, labels="01")
    model = MLP(2, [16, 16, 1], output_activation="sigmoid", seed=0)
    expected = sum(sse(model(x), [t]).data for x, t in zip(X, y)) / len(X)
    for batch in ("0", "8", "1"):
        args = cli.build_parser().parse_args(["train", "--loss", "sse", "--samples", "40", "--epochs", "1",
                                              "--batch-size", batch, "--lr", "1e-12", "--optimizer", "sgd"])
        assert cli.train(args, progress=False)[1][0] == pytest.approx(expected, rel=1e-9)


def test_the_result_is_named_after_no_variable(capsys):
    code, out, err = run_main(capsys, "graph", "f*out", "--at", "f=3", "--at", "out=2")
    assert code == 0 and out.splitlines()[:3] == ["result = f*out = 6", "∂result/∂f = 2", "∂result/∂out = 3"]


def test_graph_draws_an_expression_of_any_size_it_accepts(capsys, tmp_path, monkeypatch):
    # draw_graph's default max_nodes=500 is lifted: an accepted expression (at most MAX_EXPRESSION_CHARS, and cheap
    # to lay out) is drawn; x + 1 + 1 + ... has 1,201 nodes and no edge that skips a rank
    from tinygrad_bp import viz
    calls = []
    monkeypatch.setattr(viz, "render", lambda root, path, **kw: calls.append((path, kw)) or path)
    expr = "x" + "+1" * 600
    code, out, err = run_main(capsys, "graph", expr, "--at", "x=1", "-o", str(tmp_path / "big.svg"))
    assert code == 0 and "∂f/∂x = 1" in out
    assert calls == [(str(tmp_path / "big.svg"), {"max_nodes": None})]


def product(n: int, names: str = "x") -> str:
    return "*".join(names[i % len(names)] for i in range(n))


@pytest.mark.parametrize("option, name", [("-o", "g.svg"), ("-o", "g.png"), ("--html", "g.html")])
def test_a_graph_too_costly_to_lay_out_is_refused_at_once(capsys, tmp_path, monkeypatch, option, name):
    # x*x*...*x, 125 factors: dot ran 0.9-2 s, 250 factors 4-7 s, 500 factors 32 s, 1,000 factors > 60 s at 1.6 GB.
    # The k-th product (rank k) reads x (rank 0): dot adds k-1 nodes on that edge, (n-2)(n-1)/2 = 7,626 in all
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    code, out, err = run_main(capsys, "graph", product(125), "--at", "x=1.01", option, name)
    assert time.perf_counter() - start < 2.0
    assert code == 2 and out == "" and list(tmp_path.iterdir()) == []
    assert one_line_error(err) == (
        f"tinygrad-bp: error: {option} {name}: this graph is too costly to lay out: its edges skip 7,626 columns "
        f"(a value used far from where it is made, such as x here), more than the limit of {cli.MAX_SKIPPED_COLUMNS:,} "
        "that keeps dot within seconds; draw a smaller expression, or write its DOT source with -o FILE.gv")
    assert cli.MAX_SKIPPED_COLUMNS == 1_500


def test_the_dot_source_of_a_costly_graph_is_written_and_the_limit_is_exact(capsys, tmp_path, monkeypatch):
    from tinygrad_bp import viz
    code, out, err = run_main(capsys, "graph", product(125), "--at", "x=1", "-o", str(tmp_path / "g.gv"))
    assert code == 0 and (tmp_path / "g.gv").read_text().startswith("digraph")  # no layout: no limit
    monkeypatch.setattr(viz, "render", lambda root, path, **kw: path)
    # 56 factors skip 54·55/2 = 1,485 columns, 57 factors 1,540
    assert run_main(capsys, "graph", product(56), "--at", "x=1", "-o", str(tmp_path / "g.svg"))[0] == 0
    assert run_main(capsys, "graph", product(57), "--at", "x=1", "-o", str(tmp_path / "g.svg"))[0] == 2


@pytest.mark.skipif(shutil.which("dot") is None, reason="system Graphviz is missing")
def test_the_costliest_graph_measured_below_the_limit_renders_within_seconds(capsys, tmp_path):
    # x*y*z*x*y*z*...: three long-edge fans, the slowest shape measured just below the limit (55 factors, 1,413
    # skipped columns: 0.1-2.1 s on a shared 2-core machine; 122 factors, 7,220 columns: 8.6-12 s)
    start = time.perf_counter()
    code, out, err = run_main(capsys, "graph", product(55, "xyz"), "--at", "x=1", "--at", "y=1", "--at", "z=1",
                              "-o", str(tmp_path / "g.svg"))
    assert code == 0, err
    assert time.perf_counter() - start < 20.0
    assert (tmp_path / "g.svg").read_text().count("<g id=\"node") == 54 + 3


def test_dividing_by_a_tiny_number_prints_the_apis_gradient(capsys):
    # was refused: the number 1e-200's own gradient -x/1e-200² overflows, a gradient nobody asks for (the API gives
    # x's 1e200, as PyTorch does)
    from tinygrad_bp import Value
    x = Value(1.0)
    (x / 1e-200).backward()
    code, out, err = run_main(capsys, "graph", "x/1e-200", "--at", "x=1")
    assert code == 0, err
    assert out.splitlines() == ["f = x/1e-200 = 1e+200", "∂f/∂x = 1e+200"] and x.grad == 1 / 1e-200


def test_version(capsys):
    import tinygrad_bp
    code, out, err = run_main(capsys, "--version")
    assert code == 0 and out.strip() == f"tinygrad-bp {tinygrad_bp.__version__}"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{tinygrad_bp.__version__}"' in pyproject


def test_mini_batches_cover_every_point_once_with_a_partial_last_batch():
    import random
    batches = cli._batches(10, 4, random.Random(0))
    assert [len(b) for b in batches] == [4, 4, 2]
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(10)) and flat != list(range(10))  # each point once, shuffled
    assert cli._batches(10, 0, random.Random(0)) == [list(range(10))] == cli._batches(10, 10, random.Random(0))


# --- graph files follow their extension (issue 14) -------------------------------------------------

import shutil  # noqa: E402  (the graph-file tests below were added at the end, with their imports)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("renderer", [
    pytest.param("dot", marks=pytest.mark.skipif(shutil.which("dot") is None, reason="system Graphviz is missing")),
    "graphviz-pure"])
@pytest.mark.parametrize("name, magic", [("g.png", PNG_SIGNATURE), ("g.pdf", b"%PDF-"), ("g.jpg", b"\xff\xd8\xff"),
                                         ("g.svg", b"<?xml")])
def test_graph_output_follows_the_extension(capsys, tmp_path, monkeypatch, renderer, name, magic):
    # -o g.png wrote SVG text into g.png (image viewers refuse it)
    from tinygrad_bp import viz
    real = viz.find_renderer(renderer)
    monkeypatch.setattr(viz, "find_renderer", lambda r=None: real)
    code, out, err = run_main(capsys, "graph", "x*x", "--at", "x=1", "-o", str(tmp_path / name))
    assert code == 0 and f"wrote {tmp_path / name}" in err
    assert (tmp_path / name).read_bytes().startswith(magic)


@pytest.mark.parametrize("option", ["--graph", "--svg"])
def test_worked_example_graph_option_and_its_former_name(capsys, tmp_path, option):
    code, out, err = run_main(capsys, "worked-example", "--rounds", "1", option, str(tmp_path / "w.pdf"))
    assert code == 0 and f"wrote {tmp_path / 'w.pdf'}" in err
    assert (tmp_path / "w.pdf").read_bytes().startswith(b"%PDF-")
    code, out, err = run_main(capsys, "worked-example", "--rounds", "1", option, str(tmp_path / "w.png"))
    assert code == 0 and (tmp_path / "w.png").read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.parametrize("argv, fragment", [
    (["graph", "x", "--at", "x=1", "-o", "g.gif"], "-o g.gif: unknown file extension '.gif' of 'g.gif'; the formats "
                                                   "are .svg, .png, .pdf"),
    (["graph", "x", "--at", "x=1", "-o", "graph"], "-o graph: 'graph' has no extension to tell the format by"),
    (["worked-example", "--graph", "w.bmp"], "--graph w.bmp: unknown file extension '.bmp'"),
    (["worked-example", "--svg", "w.tiff"], "--svg w.tiff: unknown file extension '.tiff'"),
    (["worked-example", "--svg", "a.svg", "--graph", "b.svg"], "--svg is the former name of --graph"),
])
def test_a_graph_file_of_no_known_format_is_refused_before_any_output(capsys, tmp_path, monkeypatch, argv, fragment):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(capsys, *argv)
    assert code == 2 and out == ""
    assert fragment in one_line_error(err)
    assert list(tmp_path.iterdir()) == []


def test_the_dot_source_needs_no_renderer(capsys, tmp_path, monkeypatch):
    from tinygrad_bp import viz
    monkeypatch.setenv("PATH", str(tmp_path))  # neither dot nor graphviz-pure
    monkeypatch.setattr(viz, "_script_dirs", lambda: [])
    code, out, err = run_main(capsys, "graph", "x*y", "--at", "x=2", "--at", "y=3", "-o", str(tmp_path / "g.gv"))
    assert code == 0 and (tmp_path / "g.gv").read_text().startswith("digraph G {")
    code, out, err = run_main(capsys, "graph", "x*y", "--at", "x=2", "--at", "y=3", "-o", str(tmp_path / "g.png"))
    assert code == 2 and "apt-get install graphviz" in one_line_error(err) and not (tmp_path / "g.png").exists()


def test_worked_example_run_takes_graph_and_its_former_name_svg(tmp_path):
    import io

    from tinygrad_bp.worked_example import run
    out = io.StringIO()
    assert run(1, tmp_path / "w.png", file=out) == pytest.approx(0.298371109, abs=5e-10)  # the derivation's E
    assert (tmp_path / "w.png").read_bytes().startswith(PNG_SIGNATURE)
    run(1, svg=tmp_path / "w.svg", file=out)
    assert "0.08217" in " ".join(svg_texts(tmp_path / "w.svg"))  # ∂E/∂w5 = 0.082167041 (the derivation), w5's grad
    with pytest.raises(ValueError, match="give graph= or its former name svg=, not both"):
        run(1, graph=tmp_path / "a.svg", svg=tmp_path / "b.svg", file=out)
    with pytest.raises(ValueError, match="unknown file extension '.bmp'"):
        run(1, graph=tmp_path / "w.bmp", file=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.png", "w.svg"]


def _first_epoch_hinge_loss() -> float:
    """By hand: the mean hinge loss max(0, 1 − y·s) of train's initial model on its default data (moons, seed 0)."""
    from tinygrad_bp.nn import MLP

    model = MLP(2, [16, 16, 1], activation="relu", output_activation="linear", seed=0)
    X, y = data.moons(seed=0)
    return sum(max(0.0, 1 - t * model(x).data) for x, t in zip(X, y)) / len(X)


def test_a_diverged_loss_is_said_not_only_accuracy_0_5(capsys):
    code, out, err = run_main(capsys, "train", "--lr", "1e6", "--optimizer", "sgd", "--no-progress")
    assert code == 0 and out == "accuracy: 0.500\n"
    first = _first_epoch_hinge_loss()
    assert first == pytest.approx(0.92703454, abs=5e-9)
    warning = one_line_error(err)
    assert warning.startswith(f"tinygrad-bp: warning: the loss diverged (from {first:.8f} in epoch 1 to ")
    assert "in epoch 100, at most " in warning and warning.endswith("try a smaller --lr")
    worst = float(warning.split("at most ")[1].split(")")[0])
    assert worst > 1e6 * first  # grew by orders of magnitude


def test_a_stalled_loss_is_said(capsys):
    code, out, err = run_main(capsys, "train", "--lr", "1e-9", "--optimizer", "sgd", "--epochs", "2",
                              "--no-progress")
    assert code == 0 and out == "accuracy: 0.500\n"
    warning = one_line_error(err)
    first = _first_epoch_hinge_loss()
    assert warning.startswith(f"tinygrad-bp: warning: the loss stalled: it fell by less than 0.1% (from {first:.8f}")
    assert cli.training_warnings([1.0, 0.5]) == [] and cli.training_warnings([1.0]) == []  # it learned; one epoch
    assert cli.training_warnings([1.0, 0.9995])[0].startswith("the loss stalled")
    assert cli.training_warnings([1.0, 2.0, 11.0])[0].startswith("the loss diverged (from 1 in epoch 1 to 11 ")


def test_graph_of_a_bare_name_names_its_result_f(capsys):
    code, out, err = run_main(capsys, "graph", "x", "--at", "x=1")
    assert code == 0, err
    assert out.splitlines() == ["f = x = 1", "∂f/∂x = 1"]  # not "x = x = 1"
    code, out, err = run_main(capsys, "graph", "f", "--at", "f=2.5")
    assert out.splitlines() == ["out = f = 2.5", "∂out/∂f = 1"]


def test_worked_example_names_biases_as_the_drawing_does(capsys, tmp_path):
    gv = tmp_path / "w.gv"
    code, out, err = run_main(capsys, "worked-example", "--rounds", "1", "--graph", str(gv))
    assert code == 0, err
    lines = out.splitlines()
    # Mazur: net_h1 = 0.15 * 0.05 + 0.2 * 0.1 + 0.35 * 1 = 0.3775; net_o1 = 1.105905967 (b2 = 0.6)
    assert lines[1] == "  net_h1 = w1*i1 + w2*i2 + b_h1*1 = 0.15 * 0.05 + 0.2 * 0.1 + 0.35 * 1 = 0.377500000"
    assert lines[3].startswith("  net_h2 = w3*i1 + w4*i2 + b_h2*1 = 0.25 * 0.05 + 0.3 * 0.1 + 0.35 * 1 = 0.392500000")
    assert lines[5] == ("  net_o1 = w5*out_h1 + w6*out_h2 + b_o1*1 = 0.4 * 0.593269992 + 0.45 * 0.596884378 + "
                        "0.6 * 1 = 1.105905967")
    assert "b_o2*1" in lines[7] and lines[7].endswith(" = 1.224921404")
    drawing = gv.read_text()
    for bias in ("b_h1", "b_h2", "b_o1", "b_o2"):
        assert bias in drawing, bias
    assert "  w7+ = 0.5 - 0.5 * (-0.022602540) = 0.511301270" in lines  # not "- 0.5 * -0.0226..."
    assert " b1" not in out and " b2" not in out and "seed" not in out


# --- predict -------------------------------------------------------------------------------------

def write_linear_model(path, w, b, output_activation="linear", trained_on=None):
    """A one-neuron model file written by hand: output = act(w·x + b)."""
    import json

    doc = {"format": "tinygrad-bp-model", "version": 1, "nin": 2, "nouts": [1], "activation": "relu",
           "output_activation": output_activation, "layers": [[{"w": w, "b": b}]]}
    if trained_on is not None:
        doc["trained_on"] = trained_on
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def test_predict_prints_one_line_per_row_with_the_label_training_counted(capsys, tmp_path):
    m = write_linear_model(tmp_path / "m.json", [2.0, -1.0], 0.5,
                           trained_on={"data": "moons", "loss": "hinge", "labels": "pm1"})
    code, out, err = run_main(capsys, "predict", "--model", m, "0.5", "-0.2", "-0.5", "1")
    assert code == 0 and err == ""
    # by hand: 2·0.5 − (−0.2) + 0.5 = 1.7 (> 0: +1); 2·(−0.5) − 1 + 0.5 = −1.5 (−1)
    assert out.splitlines() == ["0.5 -0.2 -> 1.7  label +1", "-0.5 1 -> -1.5  label -1"]


def test_predict_with_01_labels_thresholds_the_sigmoid_at_one_half(capsys, tmp_path):
    m = write_linear_model(tmp_path / "m.json", [2.0, -1.0], 0.5, "sigmoid",
                           trained_on={"data": "xor", "loss": "bce", "labels": "01"})
    code, out, err = run_main(capsys, "predict", "--model", m, "0.5", "-0.2", "0", "1")
    assert code == 0, err
    s1, s2 = 1 / (1 + math.exp(-1.7)), 1 / (1 + math.exp(0.5))  # by hand: 0.845534735, 0.377540669
    assert out.splitlines() == [f"0.5 -0.2 -> {s1:.9f}  label 1", f"0 1 -> {s2:.9f}  label 0"]


def test_predict_with_an_older_file_says_how_it_counts(capsys, tmp_path):
    m = write_linear_model(tmp_path / "m.json", [2.0, -1.0], 0.5)
    code, out, err = run_main(capsys, "predict", "--model", m, "0.5", "-0.2")
    assert code == 0 and out == "0.5 -0.2 -> 1.7  label +1\n"
    assert one_line_error(err) == ("tinygrad-bp: note: the model file does not say what it was trained on; an "
                                   "output > 0 counts as +1")


def test_predict_a_model_of_several_outputs_prints_them_all(capsys, tmp_path):
    from tinygrad_bp.worked_example import build

    path = tmp_path / "w.json"
    build().save(path)  # Mazur's 2-2-2 network
    code, out, err = run_main(capsys, "predict", "--model", str(path), "0.05", "0.10")
    assert code == 0, err
    assert out == "0.05 0.1 -> 0.75136507 0.772928465\n"  # Mazur: out_o1 = 0.75136507, out_o2 = 0.772928465


def test_predict_data_scores_the_data_set(capsys, tmp_path):
    m = write_linear_model(tmp_path / "m.json", [0.0, -1.0], 0.25,
                           trained_on={"data": "moons", "loss": "hinge", "labels": "pm1"})
    code, out, err = run_main(capsys, "predict", "--model", m, "--data", "moons", "--samples", "200", "--seed", "3")
    assert code == 0, err
    X, y = data.moons(n=200, seed=3)
    correct = sum((0.25 - x[1] > 0) == (t == 1.0) for x, t in zip(X, y))  # by hand: +1 below the line y = 0.25
    assert 100 < correct < 200
    assert out == f"accuracy: {correct / 200:.3f} ({correct} of 200 points of moons)\n"


def test_predict_data_gives_the_accuracy_train_printed(capsys, tmp_path):
    path = tmp_path / "m.json"
    code, out, err = run_main(capsys, "train", "--data", "circles", "--loss", "bce", "--hidden", "8",
                              "--epochs", "30", "--seed", "2", "--noise", "0.1", "--no-progress", "--save", str(path))
    assert code == 0, err
    trained = out.splitlines()[-1]
    assert load_model(path).trained_on == {"data": "circles", "loss": "bce", "labels": "01", "samples": 100,
                                           "noise": 0.1, "seed": 2}
    code, out, err = run_main(capsys, "predict", "--model", str(path), "--data", "circles", "--seed", "2",
                              "--noise", "0.1")
    assert code == 0 and err == ""
    assert out.split(" (")[0] == trained  # accuracy: 0.xyz, counted as training counted it


@pytest.mark.parametrize("argv, fragment", [
    (["0.5"], "1 input values: the model {m} takes 2 per row, so give a multiple of 2"),
    ([], "give input values (X ...) or --data NAME to score a data set"),
    (["--samples", "10", "1", "2"], "--samples applies only with --data"),
    (["--data", "moons", "1", "2"], "--data moons: give input values or --data, not both"),
    (["nan", "1"], "argument X: expected a finite number, got 'nan'"),
])
def test_predict_refuses_bad_input_with_exit_2(capsys, tmp_path, argv, fragment):
    m = write_linear_model(tmp_path / "m.json", [1.0, 1.0], 0.0)
    code, out, err = run_main(capsys, "predict", "--model", m, *argv)
    assert code == 2 and out == ""
    assert fragment.replace("{m}", m) in one_line_error(err)


def test_predict_data_with_a_model_of_other_shape_is_refused(capsys, tmp_path):
    from tinygrad_bp.worked_example import build

    path = tmp_path / "w.json"
    build().save(path)  # Mazur's 2-2-2 network
    code, out, err = run_main(capsys, "predict", "--model", str(path), "--data", "xor")
    assert code == 2 and one_line_error(err) == (f"tinygrad-bp: error: --data xor: the data sets have 2 inputs and "
                                                 f"one label, but the model {path} has 2 inputs and 2 outputs")
    code, out, err = run_main(capsys, "predict", "--model", str(tmp_path / "none.json"), "1", "2")
    assert code == 1 and "none.json: No such file or directory" in one_line_error(err)


# --- explain -------------------------------------------------------------------------------------

def explain_header(out: str) -> tuple[str, float, str, float]:
    """(output name, the gradient, the output's value, wrt's value) from explain's first line."""
    import re

    m = re.match(r"∂(\S+)/∂(\S+) = (\S+)   \((\S+) = (\S+) at (\S+) = (\S+);", out)
    assert m, out
    assert m.group(1) == m.group(4) and m.group(2) == m.group(6)
    return m.group(1), float(m.group(3)), m.group(2), float(m.group(5))


def test_explain_a_saved_worked_example_writes_explains_text_for_its_loss(capsys, tmp_path):
    from tinygrad_bp.explain import explain
    from tinygrad_bp.worked_example import build, forward

    path = tmp_path / "mazur.json"
    build().save(path)  # no trained_on: the loss is sse, the worked example's E
    E, nodes = forward(build())
    for wrt in ("w5", "w1", "out_h1", "b_o2"):
        code, out, err = run_main(capsys, "explain", "--model", str(path), "0.05", "0.1", "--target", "0.01", "0.99",
                                  "--wrt", wrt)
        assert code == 0 and err == ""
        assert out == explain(E, nodes[wrt]) + "\n"
    code, out, err = run_main(capsys, "explain", "--model", str(path), "0.05", "0.1", "--target", "0.01", "0.99",
                              "--wrt", "w5")
    # Mazur's figures, as printed in Jain's reproduction
    assert out.startswith("∂E/∂w5 = 0.082167041   (E = 0.298371109 at w5 = 0.4;")
    assert "       = 0.74136507 · 0.186815602 · 0.593269992\n" in out


def test_explain_a_model_output_by_hand(capsys, tmp_path):
    m = write_linear_model(tmp_path / "m.json", [2.0, -1.0], 0.5)  # out = 2·x1 − x2 + 0.5, no activation
    code, out, err = run_main(capsys, "explain", "--model", m, "0.5", "-0.2", "--wrt", "w1")
    assert code == 0 and err == ""
    assert explain_header(out) == ("net_o1", 0.5, "w1", 1.7)  # ∂out/∂w1 = x1 = 0.5; out = 1 + 0.2 + 0.5 = 1.7
    code, out, err = run_main(capsys, "explain", "--model", m, "0.5", "-0.2", "--wrt", "i2")
    assert explain_header(out) == ("net_o1", -1.0, "i2", 1.7)  # ∂out/∂x2 = w2


def test_explain_uses_the_loss_the_model_was_trained_with(capsys, tmp_path):
    hinge = write_linear_model(tmp_path / "h.json", [2.0, -1.0], 0.5,
                               trained_on={"data": "moons", "loss": "hinge", "labels": "pm1"})
    code, out, err = run_main(capsys, "explain", "--model", hinge, "0.5", "-0.2", "--target", "-1", "--wrt", "w1")
    assert code == 0, err
    # by hand: max(0, 1 − y·s) with y = −1, s = 1.7: 2.7; its derivative −y·x1 = 0.5
    assert explain_header(out) == ("hinge", 0.5, "w1", 2.7)
    bce = write_linear_model(tmp_path / "b.json", [2.0, -1.0], 0.5, "sigmoid",
                             trained_on={"data": "xor", "loss": "bce", "labels": "01"})
    code, out, err = run_main(capsys, "explain", "--model", bce, "0.5", "-0.2", "--target", "1", "--wrt", "w1")
    assert code == 0, err
    p = 1 / (1 + math.exp(-1.7))  # by hand: −ln p, and ∂/∂w1 = (p − 1)·x1
    name, grad, _, value = explain_header(out)
    assert name == "bce" and abs(value - -math.log(p)) < 1e-9 and abs(grad - (p - 1) * 0.5) < 1e-9


def test_explain_a_trained_model_against_central_differences(capsys, tmp_path):
    from tinygrad_bp.losses import hinge

    path = tmp_path / "m.json"
    code, out, err = run_main(capsys, "train", "--hidden", "4", "--epochs", "5", "--no-progress", "--save", str(path))
    assert code == 0, err
    row, target = [0.3, -0.4], -1.0
    grads = []
    for wrt in ("w3", "w8", "b_h2", "w11", "b_o1"):  # 2-4-1: w1..w8 and b_h1..b_h4, then w9..w12 and b_o1
        code, out, err = run_main(capsys, "explain", "--model", str(path), *map(str, row), "--target", "-1",
                                  "--wrt", wrt)
        assert code == 0, err
        name, grad, _, loss = explain_header(out)
        model = load_model(path)
        [p] = [q for q in model.parameters() if q.label == wrt]

        def loss_at(v, model=model, p=p):
            p.data = v
            return hinge([model(row)], [target]).data

        v0, h = p.data, 1e-6
        assert name == "hinge" and abs(loss - loss_at(v0)) < 1e-9
        assert abs(grad - (loss_at(v0 + h) - loss_at(v0 - h)) / (2 * h)) < 1e-6, wrt
        grads.append(grad)
    assert sum(g != 0 for g in grads) >= 3  # not a row where the units are dead


def test_explain_an_expression_is_graphs_explain(capsys):
    argv = ["tanh(x*w + b)", "--at", "x=0.5", "--at", "w=-1.5", "--at", "b=0.25"]
    code, out, err = run_main(capsys, "explain", *argv, "--wrt", "w")
    assert code == 0 and err == ""
    code, graph_out, err = run_main(capsys, "graph", *argv, "--explain", "w")
    assert graph_out.endswith("\n\n" + out)  # graph prints the value and gradients, then the same text
    t = math.tanh(0.5 * -1.5 + 0.25)
    name, grad, wrt, value = explain_header(out)
    assert (name, wrt) == ("f", "w") and abs(grad - 0.5 * (1 - t * t)) < 1e-9 and abs(value - t) < 1e-9  # by hand


def test_explain_max_lines_is_explains(capsys, tmp_path):
    from tinygrad_bp.explain import explain
    from tinygrad_bp.worked_example import build, forward

    path = tmp_path / "mazur.json"
    build().save(path)
    E, nodes = forward(build())
    code, out, err = run_main(capsys, "explain", "--model", str(path), "0.05", "0.1", "--target", "0.01", "0.99",
                              "--wrt", "w1", "--max-lines", "3")
    assert code == 0 and out == explain(E, nodes["w1"], max_lines=3) + "\n"
    assert "left out (max_lines=3)" in out and len(out) < len(explain(E, nodes["w1"]))


@pytest.mark.parametrize("argv, fragment", [
    (["--wrt", "x"], "give --model FILE and an input row, or one EXPR in quotes with its --at values"),
    (["--model", "{lin}", "0.5", "--wrt", "w1"], "1 input value: explain takes one row, and the model {lin} takes 2"),
    (["--model", "{lin}", "1", "2", "--wrt", "w9"], "--wrt w9: no node of the model's graph is labelled so"),
    (["--model", "{mazur}", "0.05", "0.1", "--wrt", "w1"], "has 2 outputs: give --target with 2 values"),
    (["--model", "{lin}", "1", "2", "--target", "1", "2", "--wrt", "w1"], "--target: 2 values for the 1 output"),
    (["--model", "{hinge}", "1", "2", "--target", "0.5", "--wrt", "w1"], "--target: hinge: labels must be -1 or +1"),
    (["--model", "{lin}", "1", "x", "--wrt", "w1"], "X 'x': with --model, give the input row as finite numbers"),
    (["--model", "{lin}", "1", "2", "--at", "x=1", "--wrt", "w1"], "--at x=1: --at gives the names of an EXPR"),
    (["x*y", "--at", "x=1", "--at", "y=2", "--wrt", "z"], "--wrt z: not a name of the expression (names: x, y)"),
    (["x", "--at", "x=1", "--target", "1", "--wrt", "x"], "--target applies only with --model"),
    (["x", "--at", "x=1"], "the following arguments are required: --wrt"),
])
def test_explain_refuses_bad_input_with_exit_2(capsys, tmp_path, argv, fragment):
    from tinygrad_bp.worked_example import build

    files = {"lin": write_linear_model(tmp_path / "m.json", [1.0, 1.0], 0.0),
             "hinge": write_linear_model(tmp_path / "h.json", [1.0, 1.0], 0.0,
                                         trained_on={"data": "moons", "loss": "hinge", "labels": "pm1"}),
             "mazur": str(tmp_path / "w.json")}
    build().save(files["mazur"])
    argv = [a.format(**files) for a in argv]
    code, out, err = run_main(capsys, "explain", *argv)
    assert code == 2 and out == ""
    assert fragment.format(**files) in one_line_error(err)
