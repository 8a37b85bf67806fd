"""Properties on random expression graphs built from every op, with shared sub-expressions.

A graph is a program: instructions over earlier nodes (any node may be used many
times), replayed on Values and on PyTorch float64 tensors.  Arguments are moved
into each op's domain by extra instructions (x² + 0.5 before log, tanh before exp),
so every program is smooth enough for central differences.
"""

import functools
import math
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tinygrad_bp import Value, explain, grad, gradcheck, gradgradcheck
from tinygrad_bp.engine import topological_order

try:  # the PyTorch cross-check skips without torch; CI installs it and fails on any skip
    import torch
except ImportError:
    torch = None

SMOOTH = ["+", "-", "*", "/", "pow", "neg", "exp", "log", "tanh", "sigmoid", "powc",
          "radd", "rsub", "rmul", "rdiv", "rpow", "sum", "net"]
ALL = SMOOTH + ["relu"]


class ValueLib:
    sum = staticmethod(Value.sum)
    net = staticmethod(Value.net)


class TorchLib:
    @staticmethod
    def sum(xs):
        return torch.stack(list(xs)).sum()

    @staticmethod
    def net(ws, xs, b):
        s = functools.reduce(lambda acc, wx: acc + wx[0] * wx[1], zip(ws, xs), torch.zeros((), dtype=torch.float64))
        return s if b is None else s + b


def apply(ins, n, lib):
    op, args = ins[0], ins[1:]
    if op in ("+", "-", "*", "/", "pow"):
        a, b = n[args[0]], n[args[1]]
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        return a / b if op == "/" else a ** b
    if op in ("neg", "exp", "log", "tanh", "sigmoid", "relu"):
        x = n[args[0]]
        return -x if op == "neg" else getattr(x, op)()
    if op == "powc":
        return n[args[0]] ** args[1]
    if op in ("radd", "rsub", "rmul", "rdiv", "rpow", "addc"):
        x, c = n[args[0]], args[1]
        return {"radd": lambda: c + x, "rsub": lambda: c - x, "rmul": lambda: c * x, "rdiv": lambda: c / x,
                "rpow": lambda: c ** x, "addc": lambda: x + c}[op]()
    if op == "sum":
        return lib.sum([n[i] for i in args[0]])
    if op == "net":
        ws, xs, b = args
        return lib.net([n[i] for i in ws], [n[i] for i in xs], None if b is None else n[b])
    raise AssertionError(op)


def run(program, inputs, lib):
    """All nodes of the program on the given input nodes; the output is the last node."""
    nodes = list(inputs)
    for ins in program:
        nodes.append(apply(ins, nodes, lib))
    return nodes


@st.composite
def programs(draw, ops=ALL, max_ops=8):
    """(inputs, program): the program's last instruction sums every node nothing else uses."""
    xs = draw(st.lists(st.floats(-2.0, 2.0, allow_nan=False), min_size=1, max_size=3))
    nodes = [Value(x) for x in xs]
    program = []

    def emit(*ins):
        nodes.append(apply(ins, nodes, ValueLib))
        program.append(ins)
        return len(nodes) - 1

    def pick():
        return draw(st.integers(0, len(nodes) - 1))

    def positive(i, lo=0.3):  # x² + 0.5 when x is near or below 0
        if nodes[i].data >= lo:
            return i
        return emit("addc", emit("*", i, i), 0.5)

    def away_from_zero(i, lo=0.3):
        return i if abs(nodes[i].data) >= lo else positive(i)

    def moderate(i, bound=3.0):
        return i if abs(nodes[i].data) <= bound else emit("tanh", i)

    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(ops))
        if op in ("+", "-", "*"):
            emit(op, pick(), pick())
        elif op == "/":
            a = pick()
            emit("/", a, away_from_zero(pick()))
        elif op == "pow":
            a = positive(pick())
            emit("pow", a, moderate(pick(), 2.0))
        elif op in ("neg", "tanh", "sigmoid"):
            emit(op, pick())
        elif op == "exp":
            emit("exp", moderate(pick()))
        elif op == "log":
            emit("log", positive(pick()))
        elif op == "relu":
            a = pick()
            if abs(nodes[a].data) < 0.05:  # away from the kink
                a = emit("addc", a, 0.5)
            emit("relu", a)
        elif op == "powc":
            k = draw(st.sampled_from([2, 3, -1, 0.5, 1.5, -0.5, 2.5]))
            a = pick()
            a = moderate(a) if k in (2, 3) else positive(a)
            emit("powc", a, k)
        elif op in ("radd", "rsub", "rmul"):
            emit(op, pick(), draw(st.sampled_from([-1.5, 0.5, 2.0])))
        elif op == "rdiv":
            emit("rdiv", away_from_zero(pick()), draw(st.sampled_from([-1.5, 0.5, 2.0])))
        elif op == "rpow":
            emit("rpow", moderate(pick()), draw(st.sampled_from([0.5, 2.0, 3.0])))
        elif op == "sum":
            emit("sum", draw(st.lists(st.integers(0, len(nodes) - 1), min_size=1, max_size=4)))
        elif op == "net":
            k = draw(st.integers(1, 3))
            ws = draw(st.lists(st.integers(0, len(nodes) - 1), min_size=k, max_size=k))
            xs_ = draw(st.lists(st.integers(0, len(nodes) - 1), min_size=k, max_size=k))
            emit("net", ws, xs_, draw(st.none() | st.integers(0, len(nodes) - 1)))
        if abs(nodes[-1].data) > 20:
            emit("tanh", len(nodes) - 1)
    operands = set()
    for ins in program:
        for a in ins[1:]:
            if isinstance(a, list):
                operands.update(a)
        if ins[0] in ("+", "-", "*", "/", "pow"):
            operands.update(ins[1:3])
        elif ins[0] == "net":
            if ins[3] is not None:
                operands.add(ins[3])
        elif ins[0] != "sum":
            operands.add(ins[1])
    sinks = [i for i in range(len(xs), len(nodes)) if i not in operands]
    program.append(("sum", sinks))
    return xs, program


def f_of(program):
    return lambda *xs: run(program, xs, ValueLib)[-1]


def well_conditioned(xs, program):
    """Central differences with ε = 1e-6 stay on one side of relu kinks and inside every domain."""
    nodes = run(program, [Value(x) for x in xs], ValueLib)
    leaves = nodes[:len(xs)]
    for ins in program:
        if ins[0] == "relu":
            r = nodes[ins[1]]
            slope = sum(abs(g.data) for g in grad(r, leaves))
            if abs(r.data) <= 1e-3 * (1 + slope):
                return False
    return all(math.isfinite(g.data) and abs(g.data) < 1e4 for g in grad(nodes[-1], leaves))


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(programs())
def test_gradcheck_passes_on_random_graphs(case):
    xs, program = case
    assume(well_conditioned(xs, program))
    assert gradcheck(f_of(program), xs)


@pytest.mark.skipif(torch is None, reason="PyTorch is not installed (pip install 'tinygrad-bp[torch]')")
@SETTINGS
@given(programs())
def test_backward_agrees_with_pytorch_float64(case):
    xs, program = case
    leaves = [Value(x) for x in xs]
    out = run(program, leaves, ValueLib)[-1]
    out.backward()
    tx = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    tout = run(program, tx, TorchLib)[-1]
    assert out.data == pytest.approx(tout.item(), rel=1e-12, abs=1e-12)
    tout.backward()
    for v, t in zip(leaves, tx):
        expected = 0.0 if t.grad is None else t.grad.item()
        assert v.grad == pytest.approx(expected, rel=1e-9, abs=1e-11)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(ops=SMOOTH, max_ops=6))
def test_gradgradcheck_passes_on_smooth_random_graphs(case):
    xs, program = case
    assume(well_conditioned(xs, program))
    assert gradgradcheck(f_of(program), xs)


NUMBER = r"-?\d+(?:\.\d+)?(?:e[-+]\d+)?|-?inf|nan"


def rounding(s):
    """The largest error of a number as explain prints it (9 decimals or 9 significant digits)."""
    x = float(s)
    return 5e-9 * abs(x) if "e" in s else 5e-10


def product_bound(strings):
    xs = [abs(float(s)) + rounding(s) for s in strings]
    return sum(rounding(s) * math.prod(xs[:i] + xs[i + 1:]) for i, s in enumerate(strings))


def derivation_blocks(text):
    lines = text.splitlines()
    blocks = []
    for i, line in enumerate(lines[:-1]):
        if line.startswith("∂") and lines[i + 1].lstrip().startswith("= "):
            rows = [line.split(" = ", 1)[1]]
            for nxt in lines[i + 1:]:
                if not nxt.lstrip().startswith("= "):
                    break
                rows.append(nxt.split("= ", 1)[1])
            blocks.append(rows)
    return blocks


def signed_terms(row):
    """The terms of a printed sum with their signs: explain writes a + -b as a − b."""
    parts = re.split(r" ([+−]) ", row)
    return [(1.0, parts[0])] + [(-1.0 if sign == "−" else 1.0, t) for sign, t in zip(parts[1::2], parts[2::2])]


def check_block_arithmetic(rows):
    """Each printed product and sum of a derivation block holds within the printing's rounding."""
    if any("…" in r for r in rows):
        return
    total = rows[-1]
    if len(rows) == 3:  # chain: factors, their numbers, the product
        factors = rows[1].split(" · ")
        assert math.prod(float(s) for s in factors) == pytest.approx(
            float(total), abs=product_bound(factors) + rounding(total) + 1e-300)
    else:  # sum: terms, their numbers, the products, the sum
        terms = signed_terms(rows[1])
        products = signed_terms(rows[2])
        bound = rounding(total)
        acc = 0.0
        for (sign, term), (psign, printed) in zip(terms, products, strict=True):
            factors = term.split(" · ")
            value = sign * math.prod(float(s) for s in factors)
            assert value == pytest.approx(psign * float(printed),
                                          abs=product_bound(factors) + rounding(printed) + 1e-300)
            acc += psign * float(printed)
            bound += rounding(printed)
        assert acc == pytest.approx(float(total), abs=bound + 1e-12 * abs(acc))


@SETTINGS
@given(programs(), st.data())
def test_explain_product_equals_backward_gradient(case, data):
    xs, program = case
    nodes = run(program, [Value(x) for x in xs], ValueLib)
    out = nodes[-1]
    for k, v in enumerate(nodes):  # label some nodes so that both folding modes occur
        if data.draw(st.booleans()):
            v.label = f"n{k}"
    in_graph = topological_order(out)[:-1]  # inputs the program never uses are not in the graph
    assume(in_graph)
    wrt = data.draw(st.sampled_from(in_graph))
    out.backward()
    for fold in (None, False, True):
        text = explain(out, wrt, fold=fold, max_lines=500)
        head = re.match(rf"∂\S+/∂\S+ = ({NUMBER}) ", text)
        assert head, text
        assert float(head.group(1)) == pytest.approx(wrt.grad, rel=1e-8, abs=6e-10)
        blocks = derivation_blocks(text)
        for rows in blocks:
            check_block_arithmetic(rows)
        if blocks and wrt is not out:  # the first block derives wrt's gradient
            assert float(blocks[0][-1]) == pytest.approx(wrt.grad, rel=1e-8, abs=6e-10)


def test_generated_programs_use_every_op_and_share_nodes():
    seen, shared = set(), 0

    @settings(max_examples=300, deadline=None, database=None)
    @given(programs())
    def collect(case):
        nonlocal shared
        _, program = case
        seen.update(ins[0] for ins in program)
        refs = [i for ins in program for a in ins[1:] for i in (a if isinstance(a, list) else [a])
                if isinstance(i, int) and ins[0] not in ("powc", "radd", "rsub", "rmul", "rdiv", "rpow", "addc")]
        shared += len(refs) != len(set(refs))

    collect()
    assert set(ALL) <= seen
    assert shared > 10
