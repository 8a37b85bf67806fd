"""viz: every SVG is parsed with xml.etree; numbers are checked against Mazur's worked example (as printed
in Jain's reproduction) or by hand."""

from __future__ import annotations

import math
import os
import re
import shutil
import stat
import subprocess
import sysconfig
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinygrad_bp import viz
from tinygrad_bp.engine import Value
from tinygrad_bp.losses import sse
from tinygrad_bp.nn import MLP
from tinygrad_bp.viz import RendererNotFoundError, RenderError, RenderTimeoutError, draw_graph, to_svg

SVG = "{http://www.w3.org/2000/svg}"
# system Graphviz is optional (graphviz-pure renders without it): its tests skip where `dot` is missing,
# and CI, which installs it, fails on any skip
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="system Graphviz (dot) is not installed")
RENDERERS = [pytest.param("dot", marks=needs_dot), "graphviz-pure"]

# Mazur's worked example as printed in Jain's reproduction, forward and backward pass
MAZUR = {"net_h1": 0.3775, "net_h2": 0.3925, "out_h1": 0.593269992, "out_h2": 0.596884378,
        "net_o1": 1.105905967, "out_o1": 0.75136507, "out_o2": 0.772928465, "E_o1": 0.274811083,
        "E_o2": 0.023560026, "E": 0.298371109}
MAZUR_GRAD = {"w5": 0.082167041, "w1": 0.000438568, "out_h1": 0.036350306, "net_o1": 0.138498562,
             "out_o1": 0.74136507}
SIGMOID_PRIME_O1 = 0.186815602   # ∂out_o1/∂net_o1
SIGMOID_PRIME_H1 = 0.241300709   # ∂out_h1/∂net_h1
WEIGHTS = [[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]]


def g4(x: float) -> str:
    return f"{x:.4g}"


def worked_example() -> tuple[Value, MLP]:
    model = MLP(2, [2, 2], activation="sigmoid", output_activation="sigmoid")
    for i, layer in enumerate(model.layers):
        for j, neuron in enumerate(layer.neurons):
            for k, w in enumerate(neuron.w):
                w.data = WEIGHTS[i][j][k]
            neuron.b.data = [0.35, 0.60][i]
    E = sse(model([0.05, 0.10]), [0.01, 0.99])
    E.backward()
    return E, model


def worked_example_by_hand() -> Value:
    """Mazur's network written out with Value.net: one bias b1 shared by h1 and h2, b2 by o1 and o2."""
    i1, i2 = Value(0.05, "i1"), Value(0.10, "i2")
    w = [Value(x, f"w{k + 1}") for k, x in enumerate([0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55])]
    b1, b2 = Value(0.35, "b1"), Value(0.60, "b2")
    outs = []
    for name, ws in (("h1", w[0:2]), ("h2", w[2:4])):
        net = Value.net(ws, [i1, i2], b1)
        net.label = f"net_{name}"
        out = net.sigmoid()
        out.label = f"out_{name}"
        outs.append(out)
    final = []
    for name, ws in (("o1", w[4:6]), ("o2", w[6:8])):
        net = Value.net(ws, outs, b2)
        net.label = f"net_{name}"
        out = net.sigmoid()
        out.label = f"out_{name}"
        final.append(out)
    E = 0.5 * (0.01 - final[0]) ** 2 + 0.5 * (0.99 - final[1]) ** 2
    E.label = "E"
    E.backward()
    return E


# --- SVG helpers --------------------------------------------------------------------

ATTR_RULES = {
    "id": r"(node|edge|clust|graph)\d+", "class": r"graph|node|edge|cluster",
    "fill": r"#[0-9a-f]{6}|black|white|none|transparent", "stroke": r"#[0-9a-f]{6}|black|white|none|transparent",
    "points": r"[-\d., ]+", "d": r"[-\d., MCLZ]+", "x": r"-?[\d.]+", "y": r"-?[\d.]+",
    "width": r"[\d.]+pt", "height": r"[\d.]+pt", "viewBox": r"[-\d. ]+",
    "transform": r"scale\([\d. ]+\) rotate\(0\) translate\([-\d. ]+\)",
    "text-anchor": r"start|middle|end", "font-family": r"Arial", "font-weight": r"bold",
    "font-size": r"[\d.]+", "stroke-width": r"[\d.]+", "stroke-dasharray": r"[\d,]+",
    "{http://www.w3.org/XML/1998/namespace}space": r"preserve",
}
TAGS = {"svg", "g", "title", "polygon", "path", "text", "ellipse", "polyline"}
TITLE = re.compile(r"G|[nu]\d+|[nu]\d+->[nu]\d+|cluster_(L\d+|N\d+|inputs)")


def parse(svg: str) -> ET.Element:
    """Parse and check that no user text reached tags, attributes or titles."""
    root = ET.fromstring(svg)
    for e in root.iter():
        tag = e.tag.removeprefix(SVG)
        assert tag in TAGS, tag
        for k, v in e.attrib.items():
            if tag == "svg" and k in ("xmlns", "xmlns:xlink"):
                continue
            assert k in ATTR_RULES, (tag, k, v)
            assert re.fullmatch(ATTR_RULES[k], v), (tag, k, v)
        if tag == "title":
            assert TITLE.fullmatch(e.text or ""), e.text
    return root


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(SVG + "g") if g.get("class") == cls]


def texts(g: ET.Element) -> list[str]:
    return [(t.text or "").replace("\xa0", " ") for t in g.iter(SVG + "text")]


def title(g: ET.Element) -> str:
    return g.find(SVG + "title").text


def nodes_by_label(root: ET.Element) -> dict[str, ET.Element]:
    """Node groups by their bold label text (the op header is bold too; labels here never look like ops)."""
    out = {}
    for g in groups(root, "node"):
        for t in g.iter(SVG + "text"):
            if t.get("font-weight") == "bold" and t.text:
                out.setdefault(t.text, g)
    return out


def bbox(g: ET.Element) -> tuple[float, float, float, float]:
    nums = []
    for e in g:
        if e.tag in (SVG + "polygon", SVG + "path"):
            nums += [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", e.get("points") or e.get("d"))]
    xs, ys = nums[0::2], nums[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def inside(a: tuple, b: tuple) -> bool:
    return b[0] <= a[0] and b[1] <= a[1] and a[2] <= b[2] and a[3] <= b[3]


def fill(g: ET.Element) -> str:
    return next(p.get("fill") for p in g.iter(SVG + "polygon") if p.get("fill") not in ("none", "black"))


# --- the worked example ----------------------------------------------------------------

@pytest.mark.parametrize("renderer", RENDERERS)
def test_worked_example_nodes_data_grads(renderer):
    E, _ = worked_example()
    root = parse(to_svg(E, renderer=renderer))
    # by hand: 2 inputs, 8 weights, 4 biases, 4 net, 4 sigmoid; per output: target, −, **2, 0.5, ×; Σ
    assert len(groups(root, "node")) == 2 + 8 + 4 + 4 + 4 + 2 * 5 + 1
    by = nodes_by_label(root)
    assert {f"w{k}" for k in range(1, 9)} | {"i1", "i2", "E", "E_o1", "out_h1", "b_h1"} <= set(by)
    for name, x in MAZUR.items():
        assert f"data {g4(x)}" in texts(by[name]), name
    for name, gr in MAZUR_GRAD.items():
        assert f"grad {g4(gr)}" in texts(by[name]), name
    assert "σ" in texts(by["out_h1"]) and "Σ w·x + b" in texts(by["net_h1"]) and "×" in texts(by["E_o1"])
    # leaves, parameters and interior values look different
    assert len({fill(by["i1"]), fill(by["w1"]), fill(by["net_h1"])}) == 3
    assert fill(by["w1"]) == fill(by["b_o2"]) and fill(by["i1"]) == fill(by["target_o1"])


def cluster_boxes(root: ET.Element) -> dict[str, tuple[float, float, float, float]]:
    """Each cluster's box by its title ("h1 (hidden layer)": the title's texts joined)."""
    return {"".join(texts(c)[:2]) if len(texts(c)) > 1 else texts(c)[0]: bbox(c) for c in groups(root, "cluster")}


NEURONS = {"h1": ["w1", "w2", "b_h1", "net_h1", "out_h1"], "h2": ["w3", "w4", "b_h2", "net_h2", "out_h2"],
           "o1": ["w5", "w6", "b_o1", "net_o1", "out_o1"], "o2": ["w7", "w8", "b_o2", "net_o2", "out_o2"]}
LAYER = {"h1": "hidden layer", "h2": "hidden layer", "o1": "output layer", "o2": "output layer"}


@pytest.mark.parametrize("renderer", RENDERERS)
def test_worked_example_clusters(renderer):
    E, _ = worked_example()
    root = parse(to_svg(E, renderer=renderer))
    by = nodes_by_label(root)
    clusters = cluster_boxes(root)
    # one box a neuron, titled with its layer: its weights, bias, net and activation inside, nothing else
    assert set(clusters) == {f"{n} ({LAYER[n]})" for n in NEURONS}
    for neuron, labels in NEURONS.items():
        for lab in labels:
            assert inside(bbox(by[lab]), clusters[f"{neuron} ({LAYER[neuron]})"]), (lab, neuron)
            assert sum(inside(bbox(by[lab]), c) for c in clusters.values()) == 1
    for lab in ("i1", "i2", "E", "target_o1", "E_o2"):
        assert not any(inside(bbox(by[lab]), c) for c in clusters.values())
    # collapsed, a layer is a column of neuron nodes: boxed and titled, the inputs too
    root = parse(to_svg(E, renderer=renderer, collapse=True))
    assert set(cluster_boxes(root)) == {"inputs", "hidden layer", "output layer"}


def test_hand_built_network_shared_bias_sits_in_its_layer():
    E = worked_example_by_hand()
    assert f"{E.data:.9f}" == "0.298371109"
    root = parse(to_svg(E))
    by = nodes_by_label(root)
    clusters = cluster_boxes(root)
    # b1, shared by h1 and h2, is in no neuron's box but in the column of the hidden layer's weights
    for shared, weight in (("b1", "w1"), ("b2", "w5")):
        assert not any(inside(bbox(by[shared]), c) for c in clusters.values())
        (x0, _, x1, _), (u0, _, u1, _) = bbox(by[shared]), bbox(by[weight])
        assert x0 < u1 and u0 < x1, (shared, weight)
    assert inside(bbox(by["w5"]), clusters["o1 (output layer)"]) and f"grad {g4(MAZUR_GRAD['w5'])}" in texts(by["w5"])


@pytest.mark.parametrize("renderer", RENDERERS)
def test_edge_derivatives_worked_example(renderer):
    E, _ = worked_example()
    root = parse(to_svg(E, renderer=renderer, edge_derivatives=True))
    name = {title(g): lab for lab, g in nodes_by_label(root).items()}
    labels = {}
    for e in groups(root, "edge"):
        tail, head = title(e).split("->")
        labels[(name.get(tail, tail), name.get(head, head))] = texts(e)
    assert labels[("w5", "net_o1")] == [g4(MAZUR["out_h1"])]        # ∂net_o1/∂w5 = out_h1
    assert labels[("out_h1", "net_o1")] == [g4(0.40)]              # ∂net_o1/∂out_h1 = w5
    assert labels[("b_o1", "net_o1")] == ["1"]
    assert labels[("net_o1", "out_o1")] == [g4(SIGMOID_PRIME_O1)]  # σ'(net_o1)
    assert labels[("net_h1", "out_h1")] == [g4(SIGMOID_PRIME_H1)]
    assert labels[("i1", "net_h1")] == [g4(0.15)] and labels[("w1", "net_h1")] == [g4(0.05)]
    assert labels[("E_o1", "E")] == ["1"]
    # edges point forward: from every weight to its net node
    for k, n in enumerate(["h1", "h1", "h2", "h2", "o1", "o1", "o2", "o2"]):
        assert (f"w{k + 1}", f"net_{n}") in labels


def test_edge_derivatives_small_expression_by_hand():
    a, b = Value(2.0, "a"), Value(-3.0, "b")
    ab, b2 = a * b, b ** 2
    ab.label, b2.label = "ab", "b2"
    c = ab + b2
    c.label = "c"
    root = parse(to_svg(c, edge_derivatives=True, show_grad=False))
    by = nodes_by_label(root)
    name = {title(g): lab for lab, g in by.items()}
    got = sorted((name.get(title(e).split("->")[0], "?"), texts(e)[0]) for e in groups(root, "edge"))
    # a*b: ∂/∂a = b = -3, ∂/∂b = a = 2; b**2: ∂/∂b = 2b = -6; + : 1, 1
    assert got == [("a", "-3"), ("ab", "1"), ("b", "-6"), ("b", "2"), ("b2", "1")]
    assert not any(t.startswith("grad") for g in groups(root, "node") for t in texts(g))
    assert "data 3" in texts(by["c"]) and "x ** 2" in [t for g in groups(root, "node") for t in texts(g)]


# --- collapse and size limits -----------------------------------------------------------------

@pytest.mark.parametrize("renderer", RENDERERS)
def test_collapse_draws_each_neuron_as_one_node(renderer):
    E, _ = worked_example()
    root = parse(to_svg(E, renderer=renderer, collapse=True, edge_derivatives=True))
    assert len(groups(root, "node")) == 2 + 4 + 2 * 5 + 1
    by = nodes_by_label(root)
    assert {"h1", "h2", "o1", "o2"} <= set(by) and "w1" not in by and "net_h1" not in by
    assert {f"net {g4(MAZUR['net_h1'])}", f"out {g4(MAZUR['out_h1'])}", f"grad out {g4(MAZUR_GRAD['out_h1'])}"} \
        <= set(texts(by["h1"]))
    name = {title(g): lab for lab, g in by.items()}
    edge = {(name.get(title(e).split("->")[0]), name.get(title(e).split("->")[1])): texts(e) for e in
            groups(root, "edge")}
    # ∂out_h1/∂i1 = σ'(net_h1)·w1;  ∂out_o1/∂out_h1 = σ'(net_o1)·w5
    assert edge[("i1", "h1")] == [g4(SIGMOID_PRIME_H1 * 0.15)]
    assert edge[("h1", "o1")] == [g4(SIGMOID_PRIME_O1 * 0.40)]
    clusters = {texts(c)[0] for c in groups(root, "cluster")}
    assert clusters == {"inputs", "hidden layer", "output layer"}


def mlp_16_16_1() -> Value:
    model = MLP(2, [16, 16, 1], seed=0)
    return model([0.5, -1.0])


def test_max_nodes_refusal_names_size_and_suggests_collapse():
    out = mlp_16_16_1()
    # by hand: 2 inputs; 16 × (2 w + b + net + relu); 16 × (16 w + b + net + relu); 16 w + b + net (linear)
    full = 2 + 16 * 5 + 16 * 19 + 18
    collapsed = 2 + 16 + 16 + 1
    with pytest.raises(ValueError, match=rf"{full} nodes.*max_nodes=300.*collapse=True.*\({collapsed} nodes\)"):
        draw_graph(out, max_nodes=300)
    g = draw_graph(out, max_nodes=300, collapse=True)
    assert g.source.count("[label=<") == collapsed
    assert draw_graph(out, max_nodes=None).source.count("[label=<") == full


def test_max_nodes_without_neurons():
    v = Value(1.0, "x")
    for k in range(600):
        v = v + Value(float(k))
    with pytest.raises(ValueError, match=r"1201 nodes.*max_nodes=500.*collapse"):
        draw_graph(v)


@pytest.mark.parametrize("renderer", RENDERERS)
def test_large_graph_renders_with_layout_limits(renderer):
    out = mlp_16_16_1()
    out.backward()
    g = draw_graph(out, max_nodes=None)
    assert "mclimit=0.1" in g.source and "nslimit=1" in g.source and "nslimit1=1" in g.source
    assert "mclimit" not in draw_graph(worked_example()[0]).source
    root = parse(to_svg(out, renderer=renderer, max_nodes=None, edge_derivatives=True))
    assert len(groups(root, "node")) == 2 + 16 * 5 + 16 * 19 + 18


def test_long_chain_is_walked_without_recursion():
    v = Value(1.0, "x")
    for _ in range(99_999):
        v = -v
    g = draw_graph(v, max_nodes=None, edge_derivatives=True)
    assert g.source.count("[label=<") == 100_000 and g.source.count(" -> ") == 99_999


# --- hostile labels -----------------------------------------------------------------------------

HOSTILE = ["]", "]]", '"quoted" and \'single\'', "<b>bold</b>", "<<TABLE>>", "{a|b}<p> \\N \\G \\L",
           "a & b &amp; &nbsp; &#1;", "]]> -- <!-- x -->", "tab\there", "😀 é ∂ ∑", "\\",
           '<script>alert("x")</script>', "  two  spaces "]


@pytest.mark.parametrize("renderer", RENDERERS)
def test_hostile_labels_render_as_text(renderer):
    vs = [Value(float(k), label=lab) for k, lab in enumerate(HOSTILE)]
    long = Value(1.0, label="x" * 20_000)
    lines = Value(2.0, label="line one\nline two\r\nline three")
    ctrl = Value(3.0, label="a\x00b\x07c\x1b\x7fd")
    many = Value(4.0, label="\n" * 20_000)
    out = Value.sum([*vs, long, lines, ctrl, many])
    out.label = "<E>"
    root = parse(to_svg(out, renderer=renderer))
    shown = [t for g in groups(root, "node") for t in texts(g)]
    for lab in HOSTILE:
        assert lab.replace("\t", " ") in shown, lab
    assert "x" * (viz.LABEL_MAX_CHARS - 1) + "…" in shown
    assert "<E>" in shown and ["line one", "line two", "line three"] == [t for t in shown if t.startswith("line")]
    assert "a\ufffdb\ufffdc\ufffd\ufffdd" in shown
    assert len(groups(root, "node")) == len(HOSTILE) + 5


@pytest.mark.parametrize("renderer", RENDERERS)
def test_hostile_neuron_names_in_clusters(renderer):
    x = Value(1.0, "<i>")
    w = Value(0.5, "w & \\N")
    net = Value.net([w], [x])
    net.label = 'net_<a href="x">'
    out = net.tanh()
    out.label = 'out_<a href="x">'
    out.backward()
    root = parse(to_svg(out, renderer=renderer))
    assert '<a href="x">' in [texts(c)[0] for c in groups(root, "cluster")]
    root = parse(to_svg(out, renderer=renderer, collapse=True))
    assert '<a href="x">' in [t for g in groups(root, "node") for t in texts(g)]


@needs_dot
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(max_size=80), min_size=1, max_size=3))
def test_any_label_gives_well_formed_svg(labels):
    vs = [Value(float(k), label=lab) for k, lab in enumerate(labels)]
    root = parse(to_svg(Value.sum(vs), renderer="dot"))
    assert len(groups(root, "node")) == len(labels) + 1


@settings(max_examples=30, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cc", "Cs", "Cn", "Zl", "Zp")), min_size=1, max_size=50))
def test_printable_label_shown_verbatim(label):
    root = parse(to_svg(Value(1.0, label=label), renderer="graphviz-pure"))
    assert label.replace("\xa0", " ") in texts(groups(root, "node")[0])


# --- renderers ----------------------------------------------------------------------------------------

def real(name: str) -> str:
    exe = shutil.which(name, path=sysconfig.get_path("scripts")) or shutil.which(name)
    assert exe, f"{name} must be installed for these tests"
    return os.path.realpath(exe)


def path_with(tmp_path, monkeypatch, **programs: str) -> None:
    """PATH = a fresh directory holding only `programs` (name -> real executable or script text)."""
    d = tmp_path / "bin"
    d.mkdir()
    for name, target in programs.items():
        p = d / name.replace("_", "-")
        if target.startswith("#!"):
            p.write_text(target)
            p.chmod(0o755)
        else:
            p.symlink_to(target)
    monkeypatch.setenv("PATH", str(d))
    monkeypatch.setattr(viz, "_script_dirs", lambda: [])


def test_missing_renderer_error(tmp_path, monkeypatch):
    path_with(tmp_path, monkeypatch)
    E, _ = worked_example()
    with pytest.raises(RendererNotFoundError) as info:
        to_svg(E)
    assert isinstance(info.value, RuntimeError)
    msg = str(info.value)
    for word in ("Graphviz", "apt-get install graphviz", "brew", "conda", "tinygrad-bp[render]", "graphviz-pure"):
        assert word in msg
    with pytest.raises(RendererNotFoundError, match="graphviz-pure"):
        to_svg(E, renderer="graphviz-pure")
    assert draw_graph(E).source.count("[label=<") == 33  # DOT source needs no renderer


def test_falls_back_to_graphviz_pure_without_dot(tmp_path, monkeypatch):
    path_with(tmp_path, monkeypatch, graphviz_pure=real("graphviz-pure"))
    E, _ = worked_example()
    svg = to_svg(E)
    assert "graphviz-pure" in svg.split("<svg", 1)[0]  # the generator comment
    assert len(groups(parse(svg), "node")) == 33
    g = draw_graph(E)  # notebook display uses the same renderer choice
    assert len(groups(parse(g._repr_image_svg_xml()), "node")) == 33
    assert "image/svg+xml" in g._repr_mimebundle_()


@needs_dot
def test_prefers_dot(tmp_path, monkeypatch):
    path_with(tmp_path, monkeypatch, dot=real("dot"), graphviz_pure=real("graphviz-pure"))
    svg = to_svg(worked_example()[0])
    assert "graphviz-pure" not in svg.split("<svg", 1)[0] and "Generated by graphviz" in svg


def test_timeout_becomes_clear_error(tmp_path, monkeypatch):
    path_with(tmp_path, monkeypatch, dot=f"#!/bin/sh\nexec {shutil.which('sleep')} 30\n")
    with pytest.raises(RenderTimeoutError, match=r"within 0\.5 s.*collapse=True") as info:
        to_svg(Value(1.0), timeout=0.5)
    assert isinstance(info.value, RenderError) and isinstance(info.value, RuntimeError)


def test_renderer_failure_reports_stderr(tmp_path, monkeypatch):
    path_with(tmp_path, monkeypatch, dot="#!/bin/sh\necho 'syntax error in line 1' >&2\nexit 3\n")
    with pytest.raises(RenderError, match=r"exit status 3: syntax error in line 1"):
        to_svg(Value(1.0))


def test_to_svg_writes_path(tmp_path):
    E, _ = worked_example()
    p = tmp_path / "g.svg"
    svg = to_svg(E, p, collapse=True)
    assert p.read_text(encoding="utf-8") == svg and len(groups(parse(svg), "node")) == 17


def test_bad_arguments():
    with pytest.raises(TypeError, match="root must be a Value, got float"):
        draw_graph(3.0)
    with pytest.raises(ValueError, match="rankdir"):
        draw_graph(Value(1.0), rankdir="sideways")
    with pytest.raises(ValueError, match="max_nodes"):
        draw_graph(Value(1.0), max_nodes=0)
    with pytest.raises(ValueError, match="renderer must be one of"):
        to_svg(Value(1.0), renderer="neato")
    with pytest.raises(ValueError, match="timeout"):
        to_svg(Value(1.0), timeout=0)


def test_non_finite_values_are_drawn():
    x = Value(math.inf, "big")
    y = x * 0.0
    root = parse(to_svg(y, edge_derivatives=True))
    assert "data inf" in texts(nodes_by_label(root)["big"])
    assert "data nan" in [t for g in groups(root, "node") for t in texts(g)]


@pytest.mark.parametrize("timeout, error, fragment", [
    ("5", TypeError, "timeout must be a number of seconds or None, got str '5'"),
    (True, TypeError, "got bool True"),
    ([5], TypeError, "got list [5]"),
    (math.inf, ValueError, "timeout must be > 0 and at most 1e+06 seconds (None: no limit), got inf"),
    (math.nan, ValueError, "got nan"),
    (-1, ValueError, "got -1"),
    (0.0, ValueError, "got 0.0"),
    (2e6, ValueError, "got 2000000.0"),
])
def test_bad_timeout_is_refused_before_any_work(monkeypatch, timeout, error, fragment):
    monkeypatch.setattr(viz, "draw_graph", lambda *a, **k: pytest.fail("drew before checking timeout"))
    with pytest.raises(error) as info:
        to_svg(Value(1.0), timeout=timeout)
    assert str(info.value).startswith("to_svg: timeout must be") and fragment in str(info.value)


@pytest.mark.parametrize("timeout", [None, 1, 0.5, viz.MAX_TIMEOUT])
def test_good_timeouts_render(timeout):
    svg = to_svg(Value(1.0, label="one"), timeout=timeout)
    assert "one" in " ".join(texts(parse(svg)))


@pytest.mark.parametrize("path, error, fragment", [
    ("", ValueError, "empty file name"),
    ("/dev/null", OSError, "is not a regular file (a character device)"),
    ("{tmp}/nope/g.svg", FileNotFoundError, "folder {tmp}/nope does not exist"),
])
def test_bad_path_is_refused_before_rendering(tmp_path, monkeypatch, path, error, fragment):
    monkeypatch.setattr(viz, "_render", lambda *a, **k: pytest.fail("rendered before checking the path"))
    with pytest.raises(error) as info:
        to_svg(Value(1.0), path.format(tmp=tmp_path))
    assert fragment.format(tmp=tmp_path) in str(info.value)
    assert os.path.exists("/dev/null") and stat.S_ISCHR(os.stat("/dev/null").st_mode)


def cluster_titles(g) -> list[str]:
    """The layer titles of a collapsed drawing's clusters, or the layers named in each neuron box's title."""
    return re.findall(r"label=<<B>(.*?)</B>>", g.source) or re.findall(r"label=<<B>[^<]*</B> \((.*?)\)>", g.source)


def test_layer_titles_count_depth_so_a_batch_of_forward_passes_keeps_them():
    from tinygrad_bp.losses import mse
    m = MLP(2, [3, 3, 1], seed=1)
    L = mse([m([0.1, 0.2]), m([0.3, 0.4])], [1.0, 0.0])  # two copies of the network in one graph
    assert cluster_titles(draw_graph(L, collapse=True)) == ["inputs", *["hidden layer 1", "hidden layer 2",
                                                                         "output layer"] * 2]
    assert cluster_titles(draw_graph(L)) == [*["hidden layer 1"] * 3, *["hidden layer 2"] * 3, "output layer"] * 2


def test_nets_reading_the_same_constants_form_one_layer():
    # Mazur's network built by hand with Value.net: h1 and h2 each get their own leaves 0.05, 0.10
    w = [Value(v, label=f"w{k + 1}") for k, v in enumerate([v for layer in WEIGHTS for row in layer for v in row])]
    h = [Value.net(w[2 * j:2 * j + 2], [0.05, 0.10], 0.35).sigmoid() for j in range(2)]
    o = [Value.net(w[4 + 2 * k:6 + 2 * k], h, 0.60).sigmoid() for k in range(2)]
    assert cluster_titles(draw_graph(o[0] + o[1], collapse=True)) == ["inputs", "hidden layer", "output layer"]
    assert cluster_titles(draw_graph(o[0] + o[1])) == ["hidden layer"] * 2 + ["output layer"] * 2


def test_parameters_may_be_a_model_and_anything_else_is_named():
    model = MLP(2, [2, 1], seed=0)
    scale = Value(3.0, label="scale")  # a parameter outside any net: only parameters= marks it
    out = model([0.5, -0.5]) * scale

    def fill(g, label):
        node = next(line for line in g.source.splitlines() if f"<B>{label}</B>" in line)
        return re.search(r'BGCOLOR="(#\w+)"', node).group(1)
    plain = draw_graph(out)
    marked = draw_graph(out, parameters=[*model.parameters(), scale])
    assert fill(plain, "scale") != fill(marked, "scale") == fill(marked, "w1") == fill(plain, "w1")
    assert draw_graph(out, parameters=model).source == draw_graph(out, parameters=model.parameters()).source
    with pytest.raises(TypeError, match="draw_graph: parameters must be Values or a model, got int"):
        draw_graph(out, parameters=3)


def test_an_unknown_renderer_is_refused_before_drawing(monkeypatch):
    monkeypatch.setattr(viz, "draw_graph", lambda *a, **k: pytest.fail("drew before checking the renderer"))
    with pytest.raises(ValueError, match="Dot"):
        to_svg(Value(1.0), renderer="Dot")


def test_a_renderer_that_crashes_is_named_with_its_signal(tmp_path, monkeypatch):
    path_with(tmp_path, monkeypatch, dot="#!/bin/sh\nkill -SEGV $$\n")
    with pytest.raises(RenderError, match=r"dot crashed \(SIGSEGV\) laying out the graph; draw fewer nodes"):
        to_svg(Value(1.0))


def test_the_renderer_runs_with_a_large_stack(tmp_path, monkeypatch):
    # dot lays out deep graphs recursively: with the usual 8 MB stack it crashed on a 520-node sum x + x + ... + x
    seen = tmp_path / "stack.txt"
    path_with(tmp_path, monkeypatch, dot=f"#!/bin/sh\nulimit -s > {seen}\ncat > /dev/null\necho '<svg/>'\n")
    assert to_svg(Value(1.0)) == "<svg/>\n"
    limit = seen.read_text().strip()
    assert limit == "unlimited" or int(limit) * 1024 >= viz.RENDER_STACK_BYTES


def test_rankdir_and_the_roots_heavier_border():
    x = Value(2.0, label="x")
    y = (x * x).tanh()
    y.label = "y"
    g = draw_graph(y, rankdir="TB")
    assert "rankdir=TB" in g.source and "rankdir=LR" in draw_graph(y).source
    borders = {lab: re.search(r'BORDER="(\d)"', line).group(1) for line in g.source.splitlines()
               for lab in ("x", "y") if f"<B>{lab}</B>" in line}
    assert borders == {"y": "2", "x": "1"}  # the output drawn heavier than the other nodes


# --- render(): every format, either renderer -----------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def svg_size(svg: str) -> tuple[float, float]:
    m = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    return float(m.group(1)), float(m.group(2))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def pdf_objects(data: bytes) -> dict[int, bytes]:
    """A PDF's objects by number, read through its cross-reference table (which must point at each one)."""
    import zlib
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    start = int(re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", data).group(1))
    assert data[start:start + 4] == b"xref"
    lines = data[start:].split(b"\n")
    first, count = map(int, lines[1].split())
    objects = {}
    for k, line in enumerate(lines[2:2 + count]):
        offset, _, kind = line.split()[:3]
        if kind == b"n":
            n = first + k
            assert data[int(offset):].startswith(f"{n} 0 obj".encode()), n
            body = data[int(offset):data.index(b"endobj", int(offset))]
            if b"/FlateDecode" in body:
                body = zlib.decompress(body[body.index(b"stream\n") + 7:body.rindex(b"endstream")])
            objects[n] = body
    return objects


@pytest.mark.parametrize("renderer", RENDERERS)
def test_render_writes_the_format_of_the_extension(tmp_path, renderer):
    E, model = worked_example()
    svg = to_svg(E, renderer=renderer)
    width, height = svg_size(svg)
    for name in ("g.svg", "G.SVG"):
        path = viz.render(E, tmp_path / name, renderer=renderer)
        assert path == str(tmp_path / name) and (tmp_path / name).read_text(encoding="utf-8") == svg
    for name, dpi in (("g.png", None), ("g72.png", 72), ("g150.PNG", 150)):
        viz.render(E, tmp_path / name, renderer=renderer, dpi=dpi)
        # the SVG's size in points at dpi/72 pixels a point (96 dpi by default)
        w, h = png_size((tmp_path / name).read_bytes())
        k = (dpi or 96) / 72
        assert abs(w - width * k) <= 1 and abs(h - height * k) <= 1, (name, w, h)
    viz.render(E, tmp_path / "g.jpg", renderer=renderer)
    assert (tmp_path / "g.jpg").read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG's start-of-image marker
    viz.render(E, tmp_path / "g.pdf", renderer=renderer)
    pdf = (tmp_path / "g.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-1.") and pdf.rstrip().endswith(b"%%EOF")
    viz.render(E, tmp_path / "g.gv")
    assert (tmp_path / "g.gv").read_text(encoding="utf-8") == draw_graph(E).source
    viz.render(E, tmp_path / "picture", format="png", renderer=renderer)
    assert (tmp_path / "picture").read_bytes()[:8] == PNG_SIGNATURE


def test_graphviz_pure_pdf_draws_what_its_svg_draws(tmp_path):
    # graphviz-pure writes no PDF: its layout is drawn by tinygrad_bp.pdf; checked against its own SVG
    E, _ = worked_example()
    svg = to_svg(E, renderer="graphviz-pure", edge_derivatives=True)
    viz.render(E, tmp_path / "g.pdf", renderer="graphviz-pure", edge_derivatives=True)
    objects = pdf_objects((tmp_path / "g.pdf").read_bytes())
    page = next(b for b in objects.values() if b"/Type /Page " in b)
    box = [float(x) for x in re.search(rb"/MediaBox \[([^\]]*)\]", page).group(1).split()]
    width, height = svg_size(svg)
    assert box[:2] == [0, 0] and abs(box[2] - width) <= 1 and abs(box[3] - height) <= 1
    content = next(b for b in objects.values() if b" Tj" in b).decode("latin-1")
    shift = [float(x) for x in re.match(r"1 0 0 1 (\S+) (\S+) cm", content).groups()]
    drawn = {(s.replace("\\(", "(").replace("\\)", ")"), round(float(x) + shift[0]), round(float(y) + shift[1]))
             for x, y, s in re.findall(r"BT (\S+) (\S+) Td /F\d+ \S+ Tf \((.*?)\) Tj", content)}
    # every text of the SVG, at its place: SVG's y runs down from the top, the PDF's up from the bottom
    root = parse(svg)
    transform = next(g for g in root.iter(SVG + "g") if g.get("class") == "graph").get("transform")
    tx, ty = (float(v) for v in re.search(r"translate\(([-\d.]+) ([-\d.]+)\)", transform).groups())
    expected = set()
    for t in root.iter(SVG + "text"):
        if t.get("text-anchor") != "start" or not t.text.isascii():
            continue  # centred text (edge labels) is placed by its width, checked by its presence below
        expected.add((t.text, round(float(t.get("x")) + tx), round(height - (float(t.get("y")) + ty))))
    assert expected and {e for e in expected if not any(abs(e[1] - d[1]) <= 1 and abs(e[2] - d[2]) <= 1
                                                         and e[0] == d[0] for d in drawn)} == set()
    strings = {d[0] for d in drawn}
    assert {g4(0.15), g4(SIGMOID_PRIME_O1), "data 0.05", "grad 0.0004386"} <= strings
    # σ and Σ come from the Symbol font (as 's' and 'S'), the rest from Helvetica with WinAnsi encoding
    fonts = {b.split(b"/BaseFont /")[1].split()[0].decode() for b in objects.values() if b"/BaseFont" in b}
    assert fonts == {"Helvetica", "Helvetica-Bold", "Symbol"}


@pytest.mark.parametrize("name, fragment", [
    ("g.gif", "unknown file extension '.gif' of 'g.gif'; the formats are .svg, .png, .pdf"),
    ("graph", "'graph' has no extension to tell the format by"),
    ("g.svg.bak", "unknown file extension '.bak'"),
])
def test_an_unknown_extension_is_refused_before_any_work(tmp_path, monkeypatch, name, fragment):
    monkeypatch.setattr(viz, "draw_graph", lambda *a, **k: pytest.fail("drew before checking the format"))
    monkeypatch.setattr(viz, "_render_bytes", lambda *a, **k: pytest.fail("rendered before checking the format"))
    with pytest.raises(ValueError) as info:
        viz.render(Value(1.0), tmp_path / name)
    assert str(info.value).startswith("render: ") and fragment in str(info.value)
    with pytest.raises(ValueError, match=r"render: format must be one of 'svg', 'png', 'pdf'.*got 'gif'"):
        viz.render(Value(1.0), tmp_path / "g.svg", format="gif")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs, fragment", [
    ({"dpi": 0}, "dpi must be a number > 0 and at most 2400, or None, got 0"),
    ({"dpi": math.nan}, "got nan"), ({"dpi": "96"}, "got '96'"), ({"dpi": True}, "got True"),
    ({"timeout": -1}, "render: timeout must be > 0"),
])
def test_bad_render_options_are_refused_before_any_work(tmp_path, monkeypatch, kwargs, fragment):
    monkeypatch.setattr(viz, "draw_graph", lambda *a, **k: pytest.fail("drew before checking the options"))
    with pytest.raises(ValueError, match=re.escape(fragment)):
        viz.render(Value(1.0), tmp_path / "g.png", **kwargs)
    with pytest.raises(ValueError, match=r"dpi applies to \.png and \.jpg files, not to svg"):
        viz.render(Value(1.0), tmp_path / "g.svg", dpi=96)
    assert list(tmp_path.iterdir()) == []


def test_render_keeps_the_old_file_when_rendering_fails(tmp_path, monkeypatch):
    path = tmp_path / "g.png"
    path.write_bytes(b"old")
    path_with(tmp_path, monkeypatch, dot="#!/bin/sh\necho 'out of memory' >&2\nexit 1\n")
    with pytest.raises(RenderError, match="out of memory"):
        viz.render(Value(1.0), path)
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["bin", "g.png"]


def test_render_without_a_renderer_names_how_to_get_one_and_writes_nothing(tmp_path, monkeypatch):
    path_with(tmp_path, monkeypatch)
    with pytest.raises(RendererNotFoundError, match="apt-get install graphviz"):
        viz.render(Value(1.0), tmp_path / "g.png")
    viz.render(Value(1.0, "x"), tmp_path / "g.gv")  # the DOT source needs no renderer
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "g.gv"]


def test_the_drawing_renders_displays_and_pipes_with_graphviz_pure_alone(tmp_path, monkeypatch):
    # a graphviz.Digraph's own render()/pipe()/notebook display run `dot`: without it they raised
    # ExecutableNotFound although graphviz-pure (the render extra) was installed
    path_with(tmp_path, monkeypatch, graphviz_pure=real("graphviz-pure"))
    assert shutil.which("dot") is None
    E, _ = worked_example()
    g = draw_graph(E)
    svg = g.pipe(format="svg", encoding="utf-8")
    assert "graphviz-pure" in svg.split("<svg", 1)[0] and len(groups(parse(svg), "node")) == 33
    assert svg_size(g._repr_svg_()) == svg_size(svg) == svg_size(g._repr_image_svg_xml())
    width, height = svg_size(svg)
    for png in (g.pipe(format="png"), g._repr_png_(), g._repr_mimebundle_(include=["image/png"])["image/png"]):
        w, h = png_size(png)
        assert abs(w - width * 96 / 72) <= 1 and abs(h - height * 96 / 72) <= 1
    bundle = g._repr_mimebundle_(include=["image/svg+xml", "image/png", "image/jpeg"])
    assert set(bundle) == {"image/svg+xml", "image/png", "image/jpeg"} and bundle["image/jpeg"][:3] == b"\xff\xd8\xff"
    assert g.pipe(format="pdf")[:7] == b"%PDF-1." and g.pipe()[:7] == b"%PDF-1."  # graphviz's default format: pdf
    # render(): as graphviz does, the source beside the picture, and the picture's path returned
    out = g.render(directory=tmp_path / "out")
    assert out == str(tmp_path / "out" / "G.gv.pdf") and (tmp_path / "out" / "G.gv").read_text() == g.source
    assert (tmp_path / "out" / "G.gv.pdf").read_bytes()[:5] == b"%PDF-"
    out = g.render(outfile=tmp_path / "w.png", cleanup=True)
    assert out == str(tmp_path / "w.png") and (tmp_path / "w.png").read_bytes()[:8] == PNG_SIGNATURE
    assert not (tmp_path / "w.gv").exists()
    out = g.render(tmp_path / "src.gv", format="svg")
    assert out == str(tmp_path / "src.gv.svg") and len(groups(parse((tmp_path / out).read_text()), "node")) == 33
    import graphviz
    with pytest.raises(graphviz.ExecutableNotFound):  # another engine is system Graphviz's, as in graphviz
        g.pipe(format="svg", engine="neato")


@needs_dot
def test_the_drawing_prefers_dot_for_pipe_and_render(tmp_path, monkeypatch):
    path_with(tmp_path, monkeypatch, dot=real("dot"), graphviz_pure=real("graphviz-pure"))
    g = draw_graph(worked_example()[0])
    assert "graphviz-pure" not in g.pipe(format="svg", encoding="utf-8").split("<svg", 1)[0]
    assert g.pipe(format="pdf")[:8] == b"%PDF-1.5"  # cairo's, not tinygrad_bp.pdf's 1.4
    assert g.pipe(format="plain").startswith(b"graph ")


# --- micrograd's draw_dot on our Values ----------------------------------------------------------
# trace and draw_dot exactly as micrograd publishes them (karpathy/micrograd at c911406, trace_graph.ipynb,
# the cell defining them, copied byte for byte; the README's 2-D neuron example calls draw_dot the same way)

def draw_dot(root):
    """micrograd's draw_dot: its published text (tests/micrograd_trace_graph.txt, the notebook's cell as it is)
    run after `from graphviz import Digraph`, as the notebook does."""
    namespace: dict = {}
    text = (Path(__file__).parent / "micrograd_trace_graph.txt").read_text(encoding="utf-8")
    exec("from graphviz import Digraph\n" + text, namespace)
    return namespace["draw_dot"](root)


def drawn(dot) -> tuple[list[str], list[str], int]:
    """draw_dot's record labels (data | grad), its op labels and its number of edges, sorted."""
    records = sorted(re.findall(r'label="\{ (data \S+ \| grad \S+) \}"', dot.source))
    ops = sorted(re.findall(r'\[label="?([^"\]{]+?)"?\]', dot.source))
    return records, ops, dot.source.count("->")


def test_micrograds_draw_dot_runs_unchanged_on_our_values(tmp_path):
    micrograd = pytest.importorskip("micrograd.engine")
    # micrograd's notebook example, on both engines: the same drawing (micrograd names relu 'ReLU')
    x = Value(1.0)
    y = (x * 2 + 1).relu()
    y.backward()
    mx = micrograd.Value(1.0)
    my = (mx * 2 + 1).relu()
    my.backward()
    ours, theirs = drawn(draw_dot(y)), drawn(draw_dot(my))
    assert ours[0] == theirs[0] == sorted(["data 1.0000 | grad 2.0000", "data 2.0000 | grad 1.0000",
                                           "data 2.0000 | grad 1.0000", "data 1.0000 | grad 1.0000",
                                           "data 3.0000 | grad 1.0000", "data 3.0000 | grad 1.0000"])
    assert ours[1] == ["*", "+", "relu"] and theirs[1] == ["*", "+", "ReLU"] and ours[2] == theirs[2] == 8
    # the README's 2-D neuron, with our Neuron: relu(w1·x1 + w2·x2 + b), by hand
    from tinygrad_bp.nn import Neuron
    n = Neuron(2)
    (n.w[0].data, n.w[1].data), n.b.data = (0.5, -0.25), 0.1  # net = 0.5 + 0.5 + 0.1 = 1.1 > 0: relu passes
    xs = [Value(1.0), Value(-2.0)]
    out = n(xs)
    out.backward()
    records, ops, n_edges = drawn(draw_dot(out))
    assert out.data == pytest.approx(1.1)
    for v, grad in [(xs[0], 0.5), (xs[1], -0.25), (n.w[0], 1.0), (n.w[1], -2.0), (n.b, 1.0), (out, 1.0)]:
        assert f"data {v.data:.4f} | grad {grad:.4f}" in records
    assert ops == ["net", "relu"]  # one node per op: our neuron's weighted sum is one 'net' node
    assert n_edges == 5 + 1 + 2  # 5 inputs into net, net into relu; each op node into its value
    # its Digraph renders with either renderer through viz.render (graphviz itself needs system dot)
    for renderer in ("graphviz-pure",) + (("dot",) if shutil.which("dot") else ()):
        viz.render(draw_dot(out), tmp_path / "neuron.svg", renderer=renderer)
        svg = ET.parse(tmp_path / "neuron.svg").getroot()
        assert len([g for g in svg.iter(SVG + "g") if g.get("class") == "node"]) == 7 + 2  # values, ops
    # graphviz-pure's PDF of it, drawn by tinygrad_bp.pdf: micrograd's Times text, its op ellipses
    viz.render(draw_dot(out), tmp_path / "neuron.pdf", renderer="graphviz-pure")
    objects = pdf_objects((tmp_path / "neuron.pdf").read_bytes())
    content = next(b for b in objects.values() if b" Tj" in b).decode("latin-1")
    assert "(relu) Tj" in content and "(net) Tj" in content and "(data 1.1000) Tj" in content
    assert any(b"/BaseFont /Times-Roman" in b for b in objects.values())
    assert content.count(" c\n") >= 2 * 4  # two ellipses, four Bézier quarters each
    with pytest.raises(TypeError, match="render: collapse apply to drawing a Value; a Digraph is rendered as it is"):
        viz.render(draw_dot(out), tmp_path / "n.svg", collapse=True)


# --- the worked example's drawing, judged against the derivation's figure of the 2-2-2 network ---------

def bezier_points(d: str, n: int = 16) -> list[tuple[float, float]]:
    """Points along an SVG path of Graphviz's form "Mx,y C x,y x,y x,y ...", n per cubic piece."""
    nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", d)]
    pts = list(zip(nums[0::2], nums[1::2]))
    out = [pts[0]]
    for i in range(0, len(pts) - 3, 3):
        p0, p1, p2, p3 = pts[i:i + 4]
        for k in range(1, n + 1):
            t = k / n
            a, b, c, e = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t ** 3
            out.append((a * p0[0] + b * p1[0] + c * p2[0] + e * p3[0], a * p0[1] + b * p1[1] + c * p2[1] + e * p3[1]))
    return out


def distance(p: tuple[float, float], curve: list[tuple[float, float]]) -> float:
    return min(math.hypot(p[0] - x, p[1] - y) for x, y in curve)


@pytest.mark.parametrize("renderer", RENDERERS)
def test_the_worked_examples_drawing_reads_like_the_derivations_figure(renderer):
    # The figure: inputs i1 over i2 | hidden h1 over h2 | outputs o1 over o2, weights w1..w8 in that order.
    # Before: the layers stair-stepped, w2 stood above w1, edges to net_o2 crossed neuron o1, the input
    # edges' labels sat at their tails, the ½ of E were boxes "data 0.5 / grad 0.5496".
    E, model = worked_example()
    root = parse(to_svg(E, renderer=renderer, edge_derivatives=True, parameters=model.parameters()))
    by = nodes_by_label(root)
    clusters = cluster_boxes(root)
    box = {n: clusters[f"{n} ({LAYER[n]})"] for n in NEURONS}
    # columns, left to right: inputs | hidden layer | output layer | loss
    columns = [[bbox(by["i1"]), bbox(by["i2"])], [box["h1"], box["h2"]], [box["o1"], box["o2"]],
               [bbox(by[n]) for n in ("E_o1", "E_o2", "E")]]
    for a, b in zip(columns, columns[1:]):
        assert max(r[2] for r in a) < min(r[0] for r in b)
    # rows, not stairs: h1 beside o1, h2 beside o2, the inputs between the hidden neurons' tops and bottoms
    for h, o in (("h1", "o1"), ("h2", "o2")):
        assert box[h][1] < box[o][3] and box[o][1] < box[h][3], (h, o)
    assert box["h1"][1] < bbox(by["i1"])[1] and bbox(by["i2"])[3] < box["h2"][3]
    # top to bottom in the derivation's order (SVG's y grows downward)
    for column in (["i1", "i2"], ["w1", "w2", "b_h1"], ["w3", "w4", "b_h2"], ["w5", "w6", "b_o1"],
                   ["w7", "w8", "b_o2"], ["net_h1", "net_h2"], ["net_o1", "net_o2"]):
        tops = [bbox(by[n])[1] for n in column]
        assert tops == sorted(tops), column
    # no edge through the box of a neuron that is neither its tail's nor its head's
    owner = {title(by[lab]): n for n, labs in NEURONS.items() for lab in labs}
    edges = []
    for e in groups(root, "edge"):
        tail, head = title(e).split("->")
        curve = bezier_points(e.find(SVG + "path").get("d"))
        edges.append((tail, head, curve, e))
        for n, (x0, y0, x1, y1) in box.items():
            if n not in (owner.get(tail), owner.get(head)):
                assert not [p for p in curve if x0 + 1 < p[0] < x1 - 1 and y0 + 1 < p[1] < y1 - 1], (tail, head, n)
    # each label belongs visibly to its edge: nearer to it than to any other, or tied to it by a line
    n_decorated = 0
    for tail, head, curve, e in edges:
        for t in e.iter(SVG + "text"):
            line = e.find(SVG + "polyline")
            if line is not None:  # Graphviz's decorate: the label underlined, then a line to its edge
                pts = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
                assert distance(pts[-1], curve) < 4 and abs(pts[0][1] - float(t.get("y"))) < 5
                n_decorated += 1
                continue
            centre = (float(t.get("x")), float(t.get("y")) - 3)
            own = distance(centre, curve)
            assert all(own < distance(centre, other) for _, _, other, f in edges if f is not e), (tail, head)
    assert n_decorated == 8  # the inputs' edges into the four net nodes: the long ones, which cross
    # the constants ½ of E = ½ (t − a)²: their value, no data/grad box
    halves = [g for g in groups(root, "node") if texts(g) == ["0.5"]]
    assert len(halves) == 2 and not any(t.startswith("grad") for g in halves for t in texts(g))
    assert not any(g for g in groups(root, "node") if "data 0.5" in texts(g) and len(texts(g)) == 2)


# --- text fits its box in the viewers people use ---------------------------------------------------

def _only(svg: str, keep: str) -> str:
    """The SVG with edges and backgrounds removed and, of nodes and clusters, only the texts in black
    (keep="text") or only their boxes filled black (keep="box")."""
    import copy
    ET.register_namespace("", "http://www.w3.org/2000/svg")
    root = copy.deepcopy(ET.fromstring(svg))
    graph = next(g for g in root.iter(SVG + "g") if g.get("class") == "graph")
    for child in list(graph):
        if child.tag in (SVG + "polygon", SVG + "text", SVG + "path") or child.get("class") == "edge":
            graph.remove(child)
    for g in [g for g in graph if g.get("class") in ("node", "cluster")]:
        for child in list(g):
            tag = child.tag.removeprefix(SVG)
            if tag == "title":
                continue
            if keep == "text" and tag == "text":
                child.set("fill", "black")
            elif keep == "box" and tag in ("polygon", "path", "ellipse"):
                child.set("fill", "black")
                child.set("stroke", "black")
            else:
                g.remove(child)
    return ET.tostring(root, encoding="unicode")


def _raster(svg: str, viewer: str, tmp_path: Path, name: str):
    from PIL import Image
    path = tmp_path / f"{name}.svg"
    path.write_text(svg, encoding="utf-8")
    png = tmp_path / f"{name}.png"
    if viewer == "rsvg-convert":
        subprocess.run(["rsvg-convert", "-b", "white", str(path), "-o", str(png)], check=True, timeout=120)
    else:  # Debian's chromium, headless, one CSS pixel a device pixel (96 dpi: 4/3 pixels a point)
        w, h = (float(v) for v in re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups())
        subprocess.run([viewer, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--force-device-scale-factor=1", f"--window-size={int(w * 4 / 3) + 2},{int(h * 4 / 3) + 2}",
                        f"--screenshot={png}", path.as_uri()], check=True, capture_output=True, timeout=120)
    return Image.open(png).convert("L")


def spilled_pixels(svg: str, viewer: str, tmp_path: Path) -> list[tuple[int, int]]:
    """Pixels of node and cluster text that `viewer` draws outside every box: the SVG is drawn twice,
    once its texts alone, once its boxes alone, filled; a dark text pixel must fall on a box."""
    texts_ = _raster(_only(svg, "text"), viewer, tmp_path, "texts")
    boxes = _raster(_only(svg, "box"), viewer, tmp_path, "boxes")
    assert texts_.size == boxes.size
    t, b = texts_.load(), boxes.load()
    return [(x, y) for y in range(texts_.height) for x in range(texts_.width) if t[x, y] < 128 and b[x, y] > 250]


VIEWERS = [pytest.param(v, marks=pytest.mark.skipif(shutil.which(v) is None, reason=f"{v} is not installed"))
           for v in ("rsvg-convert", "chromium")]


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("renderer", RENDERERS)
def test_text_fits_its_box_in_librsvg_and_chromium(renderer, viewer, tmp_path):
    # graphviz-pure's SVG in librsvg had "grad 0.003804" out of i1's box and "data 0.2984" out of E's:
    # it named the font "Helvetica,sans-Serif", which fontconfig gives DejaVu Sans, 12% wider than the
    # Helvetica metrics the layout measured with
    pytest.importorskip("PIL")
    E, model = worked_example()
    svg = to_svg(E, renderer=renderer, edge_derivatives=True, parameters=model.parameters())
    assert spilled_pixels(svg, viewer, tmp_path) == []
    if viewer == "rsvg-convert":
        assert spilled_pixels(to_svg(E, renderer=renderer, collapse=True), viewer, tmp_path) == []
        # the check sees a spill: the same drawing with its boxes 10% narrower than the texts need
        narrow = re.sub(r'(<g id="node\d+" class="node">.*?</g>)', lambda m: m.group(1).replace(
            'font-size="11.00"', 'font-size="12.50"'), svg, flags=re.S)
        assert len(spilled_pixels(narrow, viewer, tmp_path)) > 100
