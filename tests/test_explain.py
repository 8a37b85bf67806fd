"""explain: Mazur's worked example digit for digit, hand-checked small graphs, deep and wide graphs."""

import math
import re

import pytest

from tinygrad_bp import Value, explain
from tinygrad_bp.explain import format_negated, format_number
from tinygrad_bp.losses import sse
from tinygrad_bp.nn import MLP

# Mazur's worked example: inputs, targets, w1..w8, biases
I1, I2, T1, T2 = 0.05, 0.10, 0.01, 0.99
W = [0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55]
B1, B2 = 0.35, 0.60


def worked_example():
    """Mazur's 2-2-2 sigmoid net through nn.MLP and losses.sse: E and its parameters by label."""
    model = MLP(2, [2, 2], activation="sigmoid", output_activation="sigmoid")
    k = 0
    for layer, b in zip(model.layers, (B1, B2)):
        for neuron in layer.neurons:
            neuron.b.data = b
            for w in neuron.w:
                w.data = W[k]
                k += 1
    E = sse(model([I1, I2]), [T1, T2])
    return E, {p.label: p for p in model.parameters()}


def hand_built_example():
    """The same net by hand with Value.net, a differently built E (½·sum of squares, no per-unit terms)."""
    i1, i2 = Value(I1, label="i1"), Value(I2, label="i2")
    w = {f"w{k + 1}": Value(v, label=f"w{k + 1}") for k, v in enumerate(W)}
    b = {n: Value(v, label=f"b_{n}") for n, v in (("h1", B1), ("h2", B1), ("o1", B2), ("o2", B2))}

    def unit(name, ws, xs):
        net = Value.net(ws, xs, b[name])
        net.label = f"net_{name}"
        out = net.sigmoid()
        out.label = f"out_{name}"
        return out

    h1 = unit("h1", [w["w1"], w["w2"]], [i1, i2])
    h2 = unit("h2", [w["w3"], w["w4"]], [i1, i2])
    o1 = unit("o1", [w["w5"], w["w6"]], [h1, h2])
    o2 = unit("o2", [w["w7"], w["w8"]], [h1, h2])
    E = ((T1 - o1) ** 2 + (T2 - o2) ** 2) * 0.5
    E.label = "E"
    return E, w


def block(text, head):
    """The lines of the derivation block that starts with `head =`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines[:-1])
                 if line.startswith(head + " = ") and lines[i + 1].lstrip().startswith("= "))
    out = [lines[start]]
    for line in lines[start + 1:]:
        if not line.lstrip().startswith("= "):
            break
        out.append(line)
    return out


@pytest.mark.parametrize("build", [worked_example, hand_built_example])
def test_w5_as_printed(build):
    E, w = build()
    text = explain(E, w["w5"])
    assert text.splitlines()[0].startswith("∂E/∂w5 = 0.082167041")
    assert block(text, "∂E/∂w5") == [
        "∂E/∂w5 = ∂E/∂out_o1 · ∂out_o1/∂net_o1 · ∂net_o1/∂w5",
        "       = 0.74136507 · 0.186815602 · 0.593269992",
        "       = 0.082167041",
    ]
    assert "∂E/∂out_o1 = 0.74136507 " in text
    assert "∂out_o1/∂net_o1 = out_o1·(1 − out_o1) = 0.186815602" in text
    assert "∂net_o1/∂w5 = out_h1 = 0.593269992" in text
    # δ form: δ_o1 = −∂E/∂out_o1 · ∂out_o1/∂net_o1 = −0.74136507 · 0.186815602, ∂E/∂w5 = −δ_o1 · out_h1
    assert "δ_o1 = −∂E/∂out_o1 · ∂out_o1/∂net_o1" in text
    assert "= −0.74136507 · 0.186815602" in text
    assert "∂E/∂w5 = −δ_o1 · out_h1" in text
    # −δ_o1 with δ_o1 = -0.138498562 is written 0.138498562, not −(-0.138498562); Mazur: 0.74136507 · 0.186815602
    assert block(text, "  ∂E/∂w5")[1:] == ["         = 0.138498562 · 0.593269992", "         = 0.082167041"]
    assert "−(-" not in text and "+ -" not in text


@pytest.mark.parametrize("build", [worked_example, hand_built_example])
def test_w1_as_printed(build):
    E, w = build()
    text = explain(E, w["w1"])
    assert text.splitlines()[0].startswith("∂E/∂w1 = 0.000438568")
    assert block(text, "∂E/∂w1") == [
        "∂E/∂w1 = ∂E/∂out_h1 · ∂out_h1/∂net_h1 · ∂net_h1/∂w1",
        "       = 0.036350306 · 0.241300709 · 0.05",
        "       = 0.000438568",
    ]
    syms, vals, prods, total = block(text, "∂E/∂out_h1")
    assert syms == "∂E/∂out_h1 = ∂E/∂net_o1 · ∂net_o1/∂out_h1 + ∂E/∂net_o2 · ∂net_o2/∂out_h1"
    # Mazur: ∂E_o1/∂net_o1 · w5 = 0.138498562 · 0.4, ∂E_o2/∂net_o2 · w7 = -0.038098237 · 0.5: a difference
    assert vals.split("= ")[1] == "0.138498562 · 0.4 − 0.038098237 · 0.5"
    assert prods.split("= ")[1] == "0.055399425 − 0.019049118"  # not 0.055399425 + -0.019049118
    first, second = (float(x) for x in prods.split("= ")[1].replace("− ", "-").split(" "))
    assert first == 0.055399425
    # the source prints -0.019049119; the exact value is -0.01904911826 (a last-digit rounding slip in the source)
    assert second == pytest.approx(-0.019049119, abs=1e-9)
    assert total.endswith("= 0.036350306")
    assert "∂out_h1/∂net_h1 = out_h1·(1 − out_h1) = 0.241300709" in text
    assert "∂net_h1/∂w1 = i1 = 0.05" in text
    assert "∂net_o1/∂out_h1 = w5 = 0.4" in text and "∂net_o2/∂out_h1 = w7 = 0.5" in text
    # δ form: δ_h1 = (δ_o1·w5 + δ_o2·w7)·out_h1(1 − out_h1) = −0.036350306 · 0.241300709 (the printed numbers)
    syms, vals, total = block(text, "  δ_h1")
    assert syms == "  δ_h1 = (δ_o1·w5 + δ_o2·w7) · ∂out_h1/∂net_h1"
    assert vals.split("= ")[1].startswith("(-0.138498562·0.4 + 0.0380982")
    assert float(total.split("= ")[1]) == pytest.approx(-0.036350306 * 0.241300709, abs=1e-9)
    assert "∂E/∂w1 = −δ_h1 · i1" in text


def test_hidden_input_sums_over_both_hidden_units():
    E, _ = worked_example()
    i1 = next(v for v in _nodes(E) if v.label == "i1")
    text = explain(E, i1)
    E.backward()
    assert float(text.split()[2]) == pytest.approx(i1.grad, abs=1e-9)
    assert block(text, "∂E/∂i1")[0] == "∂E/∂i1 = ∂E/∂net_h1 · ∂net_h1/∂i1 + ∂E/∂net_h2 · ∂net_h2/∂i1"
    assert "∂E/∂i1 = −(δ_h1·w1 + δ_h2·w3)" in text
    # each node's gradient is derived once, though two paths lead through net_o1
    assert sum(line.startswith("∂E/∂net_o1 = ") for line in text.splitlines()) == 1


def _nodes(root):
    seen, stack = [], [root]
    while stack:
        v = stack.pop()
        if all(v is not s for s in seen):
            seen.append(v)
            stack.extend(v.children)
    return seen


def test_unlabelled_inner_nodes_are_named_by_op_and_shown_by_hand():
    # c = tanh(a·b + b²) at a = 0.5, b = −0.4: ∂c/∂b = (1 − c²)(a + 2b), two contributions
    a, b = Value(0.5, label="a"), Value(-0.4, label="b")
    c = (a * b + b ** 2).tanh()
    text = explain(c, b)
    u = 0.5 * -0.4 + 0.16
    dc = 1 - math.tanh(u) ** 2
    assert float(text.split()[2]) == pytest.approx(dc * (0.5 - 0.8), abs=1e-9)
    top = re.match(r"∂(tanh#\d+)/∂b = ", text).group(1)
    syms = block(text, f"∂{top}/∂b")[0]
    assert re.fullmatch(r"∂(tanh#\d+)/∂b = ∂\1/∂(mul#\d+) · ∂\2/∂b \+ ∂\1/∂(pow#\d+) · ∂\3/∂b", syms)
    assert re.search(r"∂mul#\d+/∂b = a = 0\.5 ", text)
    assert re.search(r"∂pow#\d+/∂b = 2·b\^1 = -0\.8 ", text)
    assert re.search(r"∂tanh#\d+/∂add#\d+ = 1 − tanh#\d+² = " + re.escape(f"{dc:.9f}"), text)


def test_header_counts_the_nodes_that_depend_on_wrt():
    a, b = Value(0.5, label="a"), Value(-0.4, label="b")
    c = (a * b + b ** 2).tanh()
    assert "; 3 nodes depend on a)" in explain(c, a).splitlines()[0]  # a·b, a·b + b², tanh
    assert "; 1 node depends on a)" in explain(a * 3, a).splitlines()[0]
    assert "; no node depends on a)" in explain(a, a)
    E, w = worked_example()
    # w5: net_o1, out_o1, t − out_o1, its square, E_o1 (½·square), E
    assert "; 6 nodes depend on w5)" in explain(E, w["w5"]).splitlines()[0]
    # w1: net_h1, out_h1, then both output units (net, out, −, square, E_o) and E: 2 + 2·5 + 1
    assert "; 13 nodes depend on w1)" in explain(E, w["w1"]).splitlines()[0]


def test_duplicate_labels_get_an_index():
    x = Value(2.0, label="x")
    y = Value(3.0, label="x")
    text = explain(x * y, x)
    assert re.search(r"∂mul#\d+/∂x#\d+ = x#\d+ = 3", text)


def test_output_itself_and_errors():
    x = Value(2.0, label="x")
    assert explain(x, x).startswith("∂x/∂x = 1 ")
    with pytest.raises(ValueError, match="'z' .* is not in the graph of output 'y'"):
        y = x * 3
        y.label = "y"
        explain(y, Value(1.0, label="z"))
    with pytest.raises(TypeError, match="wrt must be a Value, got float"):
        explain(x * 2, 2.0)
    with pytest.raises(TypeError, match="output must be a Value"):
        explain(1.0, x)
    with pytest.raises(ValueError, match="max_lines must be an int >= 1"):
        explain(x * 2, x, max_lines=0)


def test_deep_graph_is_capped_and_says_what_was_left_out():
    x = Value(0.3, label="x")
    y = x
    for _ in range(20000):  # deeper than Python's recursion limit
        y = (y * 1.0001).tanh() + 0.01
    y.label = "y"
    text = explain(y, x, max_lines=30)
    y.backward()
    assert float(text.split()[2]) == pytest.approx(x.grad, rel=1e-8, abs=1e-300)
    assert "more derivation blocks left out (max_lines=30)" in text
    assert "more factors left out (max_lines=30)" in text
    assert len(text.splitlines()) < 100


@pytest.mark.parametrize("max_factors", [2, 3, 6, 7])
def test_a_product_has_at_most_max_factors_factors_and_still_multiplies_out(max_factors):
    x = Value(0.3, label="x")
    y = x
    for _ in range(20):
        y = y.tanh()
    text = explain(y, x, max_factors=max_factors, max_lines=1000)
    products = [line for line in text.splitlines() if line.lstrip().startswith("= ") and " · " in line]
    assert products and max(p.count(" · ") + 1 for p in products) == max_factors
    for line in products:  # each product's numbers multiply out to the block's result (9 digits shown)
        factors = [float(f) for f in line.split("=", 1)[1].split(" · ")]
        assert math.prod(factors) == pytest.approx(float(text.splitlines()[text.splitlines().index(line) + 1]
                                                         .split("=")[1]), rel=1e-8)
    with pytest.raises(ValueError, match="max_factors must be an int >= 2"):
        explain(y, x, max_factors=1)


def test_wide_graph_caps_the_sum():
    x = Value(0.5, label="x")
    terms = [(x * (k / 100)).sigmoid() for k in range(300)]
    s = Value.sum(terms)
    s.label = "s"
    text = explain(s, x, max_terms=5)
    s.backward()
    assert float(text.split()[2]) == pytest.approx(x.grad, rel=1e-9)
    head, vals, prods, total = block(text, "∂s/∂x")
    assert "… (295 more terms)" in head
    shown = [float(p) for p in prods.split("= ", 1)[1].split(" + ")[:5]]
    rest = float(re.search(r"\+ (\S+) \(the other 295 terms\)", prods).group(1))
    assert sum(shown) + rest == pytest.approx(x.grad, rel=1e-8)


def test_exponentially_many_paths_are_aggregated():
    # every level uses the previous one twice: 2**200 paths from x to y
    x = Value(0.2, label="x")
    y = x
    for _ in range(200):
        y = (y.tanh() + y * 0.5) * 0.9
    text = explain(y, x, max_lines=5000)
    y.backward()
    assert float(text.split()[2]) == pytest.approx(x.grad, rel=1e-8)
    # one sum of two contributions per level, each level derived once
    heads = [line for line in text.splitlines() if line.startswith("∂") and " + " in line]
    assert len(heads) == 200 == len(set(heads))
    assert all(line.count(" + ") == 1 for line in heads)


def test_fold_can_be_forced():
    E, w = worked_example()
    unfolded = explain(E, w["w5"], fold=False, max_lines=200)
    assert "∂E_o1/∂sub#" in unfolded or re.search(r"∂E_o1/∂pow#\d+", unfolded)
    assert float(unfolded.split()[2]) == 0.082167041


def test_an_input_used_twice_by_one_op_shows_the_sum_of_its_partials():
    # d(x·x)/dx = x + x; d(x/x)/dx = 1/x − (x/x)/x; d(x^x)/dx = x·x^(x−1) + x^x·ln x: by hand at x = 3
    x = Value(3.0, label="x")
    f, g, h = x * x, x / x, x ** x
    f.label, g.label, h.label = "f", "g", "h"
    assert explain(f, x) == "∂f/∂x = 6   (f = 9 at x = 3; 1 node depends on x)\n\nwhere\n  ∂f/∂x = x + x = 6   (*)"
    assert "∂g/∂x = 1/x − g/x = 0   (/)" in explain(g, x)
    by_hand = 3 * 3 ** 2 + 27 * math.log(3)
    assert f"∂h/∂x = x·x^(x − 1) + h·ln x = {by_hand:.9f}   (**)" in explain(h, x)


def test_delta_form_of_a_network_whose_output_is_a_net():
    # a linear output unit: the output is net_o1 itself, so δ_o1 = −∂net_o1/∂net_o1 = −1, written once
    model = MLP(2, [2, 1], activation="tanh", output_activation="linear")
    for p, v in zip(model.parameters(), [0.5, -1.0, 0.1, 0.25, 0.75, -0.2, 2.0, -3.0, 0.3]):
        p.data = v
    out = model([0.4, 0.6])
    text = explain(out, model.parameters()[0])  # w1 of h1
    assert text.endswith("  δ_o1 = −∂net_o1/∂net_o1\n       = -1")
    h1 = math.tanh(0.5 * 0.4 - 1.0 * 0.6 + 0.1)
    # by hand: ∂out/∂w1 = w_o1,h1 · (1 − h1²) · x1
    assert text.startswith(f"∂net_o1/∂w1 = {format_number(2.0 * (1 - h1 * h1) * 0.4)}   (net_o1 = ")


def test_format_negated_writes_minus_zero_as_zero():
    assert [format_negated(x) for x in (0.5, -0.5, 0.0, -0.0)] == ["−0.5", "0.5", "0", "0"]
