"""The step-by-step backpropagation page (tinygrad_bp.stepper, viz.to_html).

The steps' numbers are checked against backward() (bit for bit), the printed figures of Matt
Mazur's "A Step by Step Backpropagation Example", as reproduced in A. K. Jain's "Back Propagation in
Neural Networks"), the float-only delta rule (tinygrad_bp.delta) and explain's text.  The page itself
is opened from a file in Debian's chromium, driven by Selenium through /usr/bin/chromedriver (never a
downloaded browser); without them those tests skip (CI installs them and fails on any skip).
"""

from __future__ import annotations

import base64
import hashlib
import html
import html.parser
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tinygrad_bp import explain
from tinygrad_bp.delta import backprop
from tinygrad_bp.engine import Value, topological_order
from tinygrad_bp.stepper import Stepper, backward_steps, page, stepper
from tinygrad_bp.viz import RenderError, draw_graph, is_constant, to_html
from tinygrad_bp.worked_example import INPUTS, TARGETS, build, forward

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
HOSTILE = ['<img src=x onerror=alert(1)>', '</script><script>alert(2)</script>', '"quoted" \'single\' & %SVG% %DATA%',
           "L" * 10_000]

# the printed figures of the worked example's first backward pass: ∂E/∂x
MAZUR_GRADS = {"out_h1": "0.036350306", "w5": "0.082167041", "w6": "0.082667628", "w7": "-0.022602540",
              "w8": "-0.022740242", "w1": "0.000438568", "w2": "0.000877135", "w3": "0.000497713",
              "w4": "0.000995425", "out_o1": "0.74136507", "out_o2": "-0.217071535", "net_o1": "0.138498562"}


def near(x: float, printed: str) -> bool:
    """x rounds to `printed` (within half a unit of its last digit)."""
    decimals = len(printed.split(".")[1])
    return abs(x - float(printed)) <= 0.5 * 10.0 ** -decimals + 1e-15


def worked() -> tuple[Value, dict[str, Value], object]:
    model = build()
    E, nodes = forward(model)
    return E, nodes, model


def backward_grads(E: Value) -> dict[int, float]:
    """∂E/∂node for every node, by E.backward() on zeroed gradients (by topological index)."""
    topo = topological_order(E)
    for v in topo:
        v.grad = 0.0
    E.backward()
    return {i: v.grad for i, v in enumerate(topo)}


def every_op_graph() -> tuple[Value, list[Value]]:
    """One expression with every op, a node read twice (x·x) and a shared subexpression."""
    x, y, z = Value(0.7, label="x"), Value(-1.3, label="y"), Value(2.1, label="z")
    s = x * x + y
    t = (s.tanh() - y / z).exp() + (z ** y) + x ** 3 + (-y).relu() + z.log() * s.sigmoid()
    u = Value.sum([t, s, Value.net([x, y], [z, s], Value(0.25, label="c"))])
    return (u * 0.5 + s) ** 2, [x, y, z]


# --- the steps as data ---------------------------------------------------------------

@pytest.mark.parametrize("collapse", [False, True])
def test_last_step_is_backward_bit_for_bit(collapse):
    for E, _ in [worked()[:2], every_op_graph()]:
        steps = backward_steps(E, collapse=collapse)
        expected = backward_grads(E)
        index = {id(v): i for i, v in enumerate(topological_order(E))}
        seen = {}
        for s in steps:
            for v, g in zip(s.values, s.grads):
                assert id(v) not in seen
                seen[id(v)] = g
        assert len(seen) == len(expected)
        for vid, g in seen.items():
            assert g == expected[index[vid]] or (math.isnan(g) and math.isnan(expected[index[vid]]))


def test_steps_follow_backward_order():
    E, _ = every_op_graph()
    topo = topological_order(E)
    steps = backward_steps(E)
    assert [s.values[0] for s in steps] == list(reversed(topo))  # one node a step, reverse topological order
    done = set()
    for s in steps:  # a node's gradient is formed only after every node that reads it
        (v,) = s.values
        users = [u for u in topo if any(c is v for c in u.children)]
        assert all(id(u) in done for u in users)
        done.add(id(v))


def test_worked_example_steps_match_the_printed_figures_and_explain():
    E, n, _ = worked()
    steps = {s.title: s for s in backward_steps(E)}
    assert len(steps) == 33 and steps["∂E/∂E"].lines[0].startswith("∂E/∂E = 1")
    for label, printed in MAZUR_GRADS.items():
        s = steps[f"∂E/∂{label}"]
        assert near(s.grads[0], printed), (label, s.grads[0])
        assert s.lines[[i for i, line in enumerate(s.lines) if line.strip().startswith("=")][-1]].endswith(
            "= " + f"{s.grads[0]:.9f}".rstrip("0")), s.lines
    lines = steps["∂E/∂out_h1"].lines
    assert lines[0] == "∂E/∂out_h1 = ∂E/∂net_o1 · ∂net_o1/∂out_h1 + ∂E/∂net_o2 · ∂net_o2/∂out_h1"
    # Jain's 0.138498562 · 0.40 + -0.038098236 · 0.50 (its last digit rounded from the unrounded δ_o2)
    m = re.fullmatch(r"\s+= (\S+) · (\S+) − (\S+) · (\S+)", lines[1])  # a + -b written a − b, as explain does
    assert m and [near(float(a), b) for a, b in zip(m.groups(), ["0.138498562", "0.4", "0.038098236", "0.5"])]
    assert abs(float(m.group(3)) - 0.038098236) <= 1.5e-9
    assert lines[3].strip() == "= 0.036350306"
    # the same block, the same names and numbers as explain (nodes with several users: explain's sum block)
    for label in ("out_h1", "out_h2", "i1", "i2"):
        ex = explain(E, n[label], fold=False).splitlines()
        ours = steps[f"∂E/∂{label}"].lines
        start = ex.index(ours[0])
        assert ex[start:start + 4] == ours[:4], label
    # every local factor is described as explain describes it
    for s in steps.values():
        (v,) = s.values
        where = [line.strip() for line in s.lines[s.lines.index("where") + 1:]] if "where" in s.lines else []
        users = [u for u in topological_order(E) if any(c is v for c in u.children)]
        if not where or any(u is E or any(c is u for c in E.children) for u in users):
            continue  # explain writes ∂E/∂E_o1 = 1 into the factor below it ("since ∂E/∂E_o1 = 1")
        ex = {line.strip() for line in explain(E, v, fold=False).splitlines()}
        if getattr(users[0].op, "exponent", None) is None:  # x ** 2: explain reads the exponent off the op
            where = [w for w in where if not w.endswith("(**)")]
        assert set(where) <= ex, (s.title, set(where) - ex)


def test_collapsed_steps_give_the_textbooks_deltas():
    E, n, model = worked()
    steps = backward_steps(E, collapse=True)
    assert len(steps) == 17  # 4 neurons replace 4 × 5 nodes of 33 drawn: the drawing's 17 nodes
    ref = backprop(model, INPUTS, TARGETS)  # the delta rule in floats, an independent oracle
    delta = {"h1": ref.deltas[0][0], "h2": ref.deltas[0][1], "o1": ref.deltas[1][0], "o2": ref.deltas[1][1]}
    by_unit = {}
    for s in steps:
        m = re.match(r"neuron (\w+), an? (hidden|output) unit", s.title)
        if m:
            by_unit[m.group(1)] = (m.group(2), s)
    assert sorted(by_unit) == ["h1", "h2", "o1", "o2"]
    order = [m.group(1) for s in steps if (m := re.match(r"neuron (\w+)", s.title))]
    assert order.index("o1") < order.index("h1") and order.index("o2") < order.index("h2")
    for unit, (kind, s) in by_unit.items():
        assert kind == ("output" if unit.startswith("o") else "hidden")
        block = s.lines[: s.lines.index("")]
        assert block[0].startswith(f"δ_{unit} = ")
        assert abs(float(block[-1].split("= ")[-1]) - delta[unit]) <= 0.5e-9, (unit, block)
    o1 = by_unit["o1"][1].lines
    assert o1[0] == "δ_o1 = (target_o1 − out_o1) · out_o1·(1 − out_o1)"
    assert o1[1].strip() == "= (0.01 − 0.75136507) · 0.186815602"  # the printed out_o1 and out_o1(1 − out_o1)
    h1 = by_unit["h1"][1].lines
    assert h1[0] == "δ_h1 = (δ_o1·w5 + δ_o2·w7) · out_h1·(1 − out_h1)"
    assert h1[2].strip() == "= -0.036350306 · 0.241300709"  # −∂E/∂out_h1 · out_h1(1 − out_h1), the printed figures
    # the neuron's weights: ∂E/∂w = −δ·a_i, equal to the delta rule's gradients and the printed figures
    grads = dict(zip([p.label for p in model.parameters()], ref.grads))
    for unit, (_, s) in by_unit.items():
        for line in s.lines:
            m = re.match(r"\s+∂E/∂(\w+) = −δ_(\w+).* = (\S+)$", line)
            if m:
                w, u, value = m.groups()
                assert u == unit and abs(float(value) - grads[w]) <= 0.5e-9, line
                if w in MAZUR_GRADS:
                    assert near(float(value), MAZUR_GRADS[w]), line
    assert sum(bool(re.match(r"\s+∂E/∂w\d = ", line)) for _, s in by_unit.values() for line in s.lines) == 8
    # a bias's gradient is −δ itself: written once, not "−δ_h1 = 0.008771355 = 0.008771355"
    assert f"  ∂E/∂b_h1 = −δ_h1 = {-delta['h1']:.9f}" in h1


def test_names_as_explain_names_unnamed_and_shared_labels():
    a, b = Value(2.0, label="a"), Value(3.0, label="a")  # two nodes labelled "a"
    f = (a * b + 1.5).tanh()
    titles = [s.title for s in backward_steps(f)]
    topo = topological_order(f)
    ia, ib = next(i for i, v in enumerate(topo) if v is a), next(i for i, v in enumerate(topo) if v is b)
    assert f"∂tanh#{len(topo) - 1}/∂a#{ia}" in titles and f"∂tanh#{len(topo) - 1}/∂a#{ib}" in titles
    assert any(t.endswith("/∂leaf#" + str(next(i for i, v in enumerate(topo) if v.data == 1.5))) for t in titles)


def test_a_node_with_many_users_shows_eight_terms_and_the_rest():
    x = Value(0.5, label="x")
    f = Value.sum([x * float(k) for k in range(1, 13)])
    s = next(s for s in backward_steps(f) if s.values[0] is x)
    assert s.lines[0].endswith("+ … (4 more terms)")
    assert s.lines[2].endswith(f"+ {9 + 10 + 11 + 12} (the other 4 terms)")
    assert s.grads == [78.0] and s.lines[3].strip() == "= 78"


def test_steps_of_a_leaf_root():
    x = Value(1.5, label="x")
    (s,) = backward_steps(x)
    assert s.values == [x] and s.grads == [1.0] and s.lines[0].startswith("∂x/∂x = 1")


# --- the page as text --------------------------------------------------------------------

class _Tags(html.parser.HTMLParser):
    """Every start tag and its attributes, as a browser's tokenizer sees them (script contents are text)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.script_text.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.script_text[-1] += data


def hostile_graph() -> Value:
    a = Value(0.5, label=HOSTILE[0])
    b = Value(-2.0, label=HOSTILE[1])
    c = (a * b + Value(1.0, label=HOSTILE[2])).tanh()
    c.label = HOSTILE[3]
    return c


def test_hostile_labels_are_text(tmp_path):
    f = hostile_graph()
    text = page(f)
    parser = _Tags()
    parser.feed(text)
    tags = [t for t, _ in parser.tags]
    assert tags.count("script") == 2 and "img" not in tags and "iframe" not in tags
    assert tags.count("svg") == 1  # "%SVG%" in a label is not a placeholder
    assert not [a for _, attrs in parser.tags for a in attrs if a.startswith("on")]
    data = json.loads(parser.script_text[0])  # the JSON block, as the page's script reads it
    text_of_steps = "\n".join(line for s in data["steps"] for line in [s["title"], *s["lines"]])
    for label in HOSTILE:
        assert label in text_of_steps  # whole, as explain names it
    assert "<" not in parser.script_text[0] and ">" not in parser.script_text[0]


def test_csp_allows_exactly_the_page_script():
    text = page(worked()[0])
    parser = _Tags()
    parser.feed(text)
    csp = next(a["content"] for t, a in parser.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    digest = base64.b64encode(hashlib.sha256(parser.script_text[1].encode("utf-8")).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp
    assert "http://" not in text.replace("http://www.w3.org/", "") and "https://" not in text  # nothing fetched


def test_page_leaves_the_users_grads_alone(monkeypatch):
    E, n, _ = worked()
    topo = topological_order(E)
    for k, v in enumerate(topo):
        v.grad = 100.0 + k  # whatever the user had, e.g. from an earlier backward()
    page(E)
    assert [v.grad for v in topo] == [100.0 + k for k in range(len(topo))]
    # while drawing each node holds its step's gradient; a failed render puts the user's back too
    import tinygrad_bp.stepper as stepper_module

    seen = {}

    def failing_to_svg(root, **options):
        seen.update({id(v): v.grad for v in topo})
        raise RenderError("dot failed")

    monkeypatch.setattr(stepper_module, "to_svg", failing_to_svg)
    with pytest.raises(RenderError):
        page(E)
    assert [v.grad for v in topo] == [100.0 + k for k in range(len(topo))]
    assert near(seen[id(n["out_h1"])], "0.036350306") and seen[id(E)] == 1.0


def test_too_large_graph_is_refused_as_draw_graph_refuses_it(tmp_path):
    x = Value(0.1, label="x")
    y = x
    for _ in range(600):
        y = y * 1.0001
    with pytest.raises(ValueError) as drawn:
        draw_graph(y)
    out = tmp_path / "big.html"
    with pytest.raises(ValueError) as paged:
        to_html(y, out)
    assert str(paged.value) == str(drawn.value) and "max_nodes=500" in str(paged.value)
    assert not out.exists()
    small = tmp_path / "small.html"
    to_html(x * 2.0 + 1.0, small, max_nodes=5)
    assert "step 0 of 5" in small.read_text(encoding="utf-8")


def test_bad_arguments_are_named(tmp_path):
    E = worked()[0]
    with pytest.raises(TypeError, match="to_html: root must be a Value, got float"):
        to_html(1.0)
    with pytest.raises(ValueError, match="to_html: show_grad must be True"):
        to_html(E, show_grad=False)
    with pytest.raises(ValueError, match="draw_graph: digits must be an int"):
        to_html(E, digits=0)
    with pytest.raises(IsADirectoryError):
        to_html(E, tmp_path)
    with pytest.raises(ValueError, match="stepper: height"):
        Stepper(E, height=5)


def test_written_file_is_the_returned_text(tmp_path):
    E, _, model = worked()
    out = tmp_path / "p.html"
    text = to_html(E, out, parameters=model.parameters())
    assert out.read_text(encoding="utf-8") == text
    assert text.startswith("<!DOCTYPE html>") and "<?xml" not in text


def test_notebook_display_is_the_page_in_a_sandboxed_iframe():
    E = worked()[0]
    s = stepper(E, height=500)
    shown = s._repr_html_()
    m = re.fullmatch(r'<iframe srcdoc="([^"]*)" sandbox="allow-scripts" [^>]*height:500px[^>]*></iframe>', shown)
    assert m and html.unescape(m.group(1)) == s.html


def test_cli_html(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    out = tmp_path / "worked.html"
    res = subprocess.run([sys.executable, "-m", "tinygrad_bp.cli", "worked-example", "--rounds", "1", "--html",
                          str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"wrote {out}" in res.stderr and "step 0 of 33" in out.read_text(encoding="utf-8")
    out = tmp_path / "graph.html"
    res = subprocess.run([sys.executable, "-m", "tinygrad_bp.cli", "graph", "tanh(x*w + b)", "--at", "x=0.5",
                          "--at", "w=-1.5", "--at", "b=0.25", "--html", str(out)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    data = json.loads(re.search(r'<script type="application/json" id="stepper-data">(.*?)</script>',
                                out.read_text(encoding="utf-8")).group(1))
    w = next(s for s in data["steps"] if s["title"] == "∂f/∂w")
    assert near(float(w["lines"][2].split("= ")[-1]), f"{(1 - math.tanh(-0.5) ** 2) * 0.5:.9f}")  # (1 − tanh²)·x
    res = subprocess.run([sys.executable, "-m", "tinygrad_bp.cli", "graph", "x*2", "--at", "x=1", "--html",
                          str(tmp_path / "no" / "g.html")], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 2 and "--html" in res.stderr and res.stdout == ""


# --- in a real browser ---------------------------------------------------------------------

GRAD = re.compile(r"grad(?: (?:out|net))?(?: (\S+))?$")
STATE_JS = """
var nodes = {};
document.querySelectorAll('#drawing g.node').forEach(function (g) {
  nodes[g.querySelector('title').textContent] = Array.from(g.querySelectorAll('text')).map(function (t) {
    return t.textContent.replace(/\\u00a0/g, ' ').trim(); });
});
var titles = function (sel) { return Array.from(document.querySelectorAll(sel)).map(function (e) {
  return e.querySelector('title').textContent; }).sort(); };
return {nodes: nodes, counter: document.getElementById('counter').textContent,
        heading: document.getElementById('step-title').textContent,
        panel: document.getElementById('derivation').textContent,
        slider: document.getElementById('slider').value,
        current: Array.from(document.querySelectorAll('rect.hl-current')).map(function (r) {
          return r.parentNode.querySelector('title').textContent; }),
        sources: Array.from(document.querySelectorAll('rect.hl-source')).map(function (r) {
          return r.parentNode.querySelector('title').textContent; }).sort(),
        carry: titles('g.edge.carry'),
        images: document.images.length, scripts: document.scripts.length,
        fetched: performance.getEntriesByType('resource').length};
"""


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("Debian's chromium and chromium-driver are not installed (apt-get install chromium "
                    "chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="tinygrad-bp-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,900", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_page(driver, path: Path) -> dict:
    driver.get(path.resolve().as_uri())
    driver.get_log("browser")  # start each page with an empty console log
    return state(driver)


def state(driver) -> dict:
    return driver.execute_script(STATE_JS)


def click(driver, button: str, times: int = 1) -> dict:
    from selenium.webdriver.common.by import By

    el = driver.find_element(By.ID, button)
    for _ in range(times):
        el.click()
    return state(driver)


def press(driver, key: str, times: int = 1) -> dict:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    chain = ActionChains(driver)
    for _ in range(times):
        chain.send_keys(getattr(Keys, key))
    chain.perform()
    return state(driver)


def console_errors(driver) -> list:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def node_of(st: dict, label: str) -> tuple[str, list[str]]:
    """The drawn node whose bold label is `label` (found by its text, not by viz's ids)."""
    (hit,) = [(t, texts) for t, texts in st["nodes"].items() if label in texts]
    return hit


def grad_rows(texts: list[str]) -> list[str | None]:
    """The gradients a drawn node shows ('grad 0.03635' -> '0.03635', blank 'grad' -> None)."""
    return [m.group(1) for t in texts if (m := GRAD.fullmatch(t))]


@pytest.fixture(scope="module")
def worked_pages(tmp_path_factory):
    E, n, model = worked()
    d = tmp_path_factory.mktemp("stepper")
    to_html(E, d / "worked.html", parameters=model.parameters())
    to_html(E, d / "collapsed.html", parameters=model.parameters(), collapse=True)
    topo = topological_order(E)
    backward_grads(E)  # E.backward() on zeroed gradients: the reference
    return d, {v.label: v.grad for v in topo if v.label}, len(topo)


def test_browser_out_h1_step_shows_backwards_numbers(browser, worked_pages):
    d, grads, n_nodes = worked_pages
    st = open_page(browser, d / "worked.html")
    assert st["counter"] == f"step 0 of {n_nodes}" and st["images"] == 0 and st["fetched"] == 0
    order = topological_order(worked()[0])
    for title, texts in st["nodes"].items():  # every gradient blank; a constant (the ½) has none to show
        assert grad_rows(texts) == ([] if is_constant(order[int(title[1:])]) else [None]), title
    assert "data 0.5933" in node_of(st, "out_h1")[1]  # forward values shown
    for _ in range(n_nodes):
        st = click(browser, "next")
        if st["heading"].endswith("∂E/∂out_h1"):
            break
    k = int(st["counter"].split()[1])
    assert st["heading"] == f"Step {k}: ∂E/∂out_h1"
    panel = st["panel"].splitlines()
    assert panel[0] == "∂E/∂out_h1 = ∂E/∂net_o1 · ∂net_o1/∂out_h1 + ∂E/∂net_o2 · ∂net_o2/∂out_h1"
    vals = re.fullmatch(r"\s+= (\S+) · 0\.4 − (\S+) · 0\.5", panel[1]).groups()  # ∂E/∂net_o2 < 0: a − b
    assert float(vals[0]) == float(f"{grads['net_o1']:.9f}") and -float(vals[1]) == float(f"{grads['net_o2']:.9f}")
    assert panel[3].strip() == f"= {grads['out_h1']:.9f}" == "= 0.036350306"  # backward's, and the printed one
    title, texts = node_of(st, "out_h1")
    assert grad_rows(texts) == [f"{grads['out_h1']:.4g}"]
    assert st["current"] == [title]
    net_o1, net_o2 = node_of(st, "net_o1")[0], node_of(st, "net_o2")[0]
    assert st["sources"] == sorted([net_o1, net_o2]) and st["carry"] == sorted([f"{title}->{net_o1}",
                                                                               f"{title}->{net_o2}"])
    assert grad_rows(node_of(st, "net_o1")[1]) == [f"{grads['net_o1']:.4g}"]  # done before out_h1
    assert grad_rows(node_of(st, "w1")[1]) == [None]  # not yet: w1's gradient needs out_h1's
    assert console_errors(browser) == []


def test_browser_last_step_shows_every_gradient_of_backward(browser, worked_pages):
    d, grads, n_nodes = worked_pages
    open_page(browser, d / "worked.html")
    st = press(browser, "END")
    assert st["counter"] == f"step {n_nodes} of {n_nodes}" and st["slider"] == str(n_nodes)
    E, _, _ = worked()
    expected = backward_grads(E)
    order = topological_order(E)
    for title, texts in st["nodes"].items():
        k = int(title[1:])
        assert grad_rows(texts) == ([] if is_constant(order[k]) else [f"{expected[k]:.4g}"]), title
    for label, g in grads.items():  # found by label too, independently of the drawing's node ids
        assert grad_rows(node_of(st, label)[1]) == [f"{g:.4g}"], label
    for label, printed in MAZUR_GRADS.items():
        assert near(float(grad_rows(node_of(st, label)[1])[0]), f"{float(printed):.4g}")
    assert browser.find_element("id", "next").get_attribute("disabled") is not None
    assert console_errors(browser) == []


def test_browser_page_drawn_by_graphviz_pure(browser, tmp_path):
    from tinygrad_bp.viz import RendererNotFoundError

    E, _, model = worked()
    path = tmp_path / "pure.html"
    try:
        to_html(E, path, parameters=model.parameters(), collapse=True, renderer="graphviz-pure")
    except RendererNotFoundError:
        pytest.skip("graphviz-pure is not installed (the test extra has it)")
    open_page(browser, path)
    st = press(browser, "END")
    ref = backprop(model, INPUTS, TARGETS)
    h1 = node_of(st, "h1")[1]
    assert st["counter"] == "step 17 of 17" and grad_rows(h1)[1] == f"{-ref.deltas[0][0]:.4g}"  # ∂E/∂net = −δ
    assert console_errors(browser) == []


def test_browser_back_and_reset_undo_exactly(browser, worked_pages):
    d, _, n_nodes = worked_pages
    start = open_page(browser, d / "worked.html")
    at = click(browser, "next", 7)
    assert at["counter"] == f"step 7 of {n_nodes}"
    assert click(browser, "next", 3) != at
    assert click(browser, "back", 3) == at
    assert click(browser, "reset") == start
    # the slider moves to any step, and the same state comes back
    slider = browser.find_element("id", "slider")
    from selenium.webdriver.common.keys import Keys

    slider.send_keys(*([Keys.RIGHT] * 7))
    assert state(browser) == at
    assert console_errors(browser) == []


def test_browser_keyboard(browser, worked_pages):
    d, _, n_nodes = worked_pages
    start = open_page(browser, d / "worked.html")
    three = press(browser, "ARROW_RIGHT", 3)
    assert three["counter"] == f"step 3 of {n_nodes}"
    two = press(browser, "ARROW_LEFT")
    assert two["counter"] == f"step 2 of {n_nodes}"
    assert click(browser, "next") == three  # keys and buttons reach the same state
    assert press(browser, "ARROW_LEFT") == two  # also with the focus on a button
    assert press(browser, "END")["counter"] == f"step {n_nodes} of {n_nodes}"
    assert press(browser, "ARROW_RIGHT")["counter"] == f"step {n_nodes} of {n_nodes}"  # stays at the end
    assert press(browser, "HOME") == start
    assert press(browser, "ARROW_LEFT") == start
    assert console_errors(browser) == []


def test_browser_play_reaches_the_end(browser, worked_pages):
    from selenium.webdriver.support.ui import Select

    d, _, n_nodes = worked_pages
    open_page(browser, d / "worked.html")
    Select(browser.find_element("id", "speed")).select_by_visible_text("fastest")
    st = click(browser, "play")
    assert browser.find_element("id", "play").text == "❚❚ Pause"
    deadline = time.monotonic() + 60
    while st["counter"] != f"step {n_nodes} of {n_nodes}" and time.monotonic() < deadline:
        time.sleep(0.1)
        st = state(browser)
    assert st["counter"] == f"step {n_nodes} of {n_nodes}"
    time.sleep(0.3)
    assert browser.find_element("id", "play").text == "▶ Play" and state(browser) == st  # stopped there
    click(browser, "play")  # Play at the end starts over; Pause stops where it is
    st = click(browser, "play")
    time.sleep(0.3)
    assert state(browser) == st and int(st["counter"].split()[1]) < n_nodes
    assert console_errors(browser) == []


def test_browser_collapsed_steps_neuron_by_neuron(browser, worked_pages):
    d, grads, _ = worked_pages
    st = open_page(browser, d / "collapsed.html")
    assert st["counter"] == "step 0 of 17"
    for _ in range(17):
        st = click(browser, "next")
        if "neuron h1" in st["heading"]:
            break
    assert "a hidden unit: δ_h1 = −∂E/∂net_h1 = (Σ_k δ_k·w_kj)·a_j(1 − a_j)" in st["heading"]
    lines = st["panel"].splitlines()
    assert lines[0] == "δ_h1 = (δ_o1·w5 + δ_o2·w7) · out_h1·(1 − out_h1)"
    assert lines[3].strip() == f"= {-grads['net_h1']:.9f}"
    assert any(line.strip() == f"∂E/∂w1 = −δ_h1 · i1 = {grads['net_h1']:.9f} · 0.05 = 0.000438568"
               for line in lines)
    title, texts = node_of(st, "h1")
    assert title.startswith("u") and grad_rows(texts) == [f"{grads['out_h1']:.4g}", f"{grads['net_h1']:.4g}"]
    assert st["current"] == [title] and len(st["carry"]) == 2
    assert console_errors(browser) == []


def test_browser_hostile_labels_show_as_text_and_run_nothing(browser, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException

    f = hostile_graph()
    path = tmp_path / "hostile.html"
    to_html(f, path)
    st = open_page(browser, path)
    seen_panels = []
    for _ in range(len(topological_order(f))):
        st = click(browser, "next")
        seen_panels.append(st["heading"] + "\n" + st["panel"])
    text = "\n".join(seen_panels)
    for label in HOSTILE:
        assert label in text  # the whole label, as text
    drawn = [t for texts in st["nodes"].values() for t in texts]
    assert "<img src=x onerror=alert(1)>" in drawn and any(t.startswith("</script><script>alert(2)") for t in drawn)
    assert st["images"] == 0 and st["scripts"] == 2 and st["fetched"] == 0
    with pytest.raises(NoAlertPresentException):
        _ = browser.switch_to.alert.text
    assert console_errors(browser) == []


def test_browser_screenshot_of_a_midway_step_is_not_blank(browser, worked_pages):
    Image = pytest.importorskip("PIL.Image")  # pillow comes with matplotlib (test extra)

    d, _, _ = worked_pages
    open_page(browser, d / "worked.html")
    click(browser, "next", 12)
    shot = d / "midway.png"
    assert browser.save_screenshot(str(shot))
    img = Image.open(shot).convert("RGB")
    assert img.size[0] >= 1000 and img.size[1] >= 600
    colors = img.getcolors(maxcolors=1 << 20)
    assert len(colors) > 50  # text, boxes, fills: not an empty page
    red = sum(n for n, (r, g, b) in colors if r > 180 and g < 80 and b < 80)
    assert red > 100  # the current node's highlight and the edges that carried its gradient
    whites = sum(n for n, c in colors if c == (255, 255, 255))
    assert whites < 0.95 * img.size[0] * img.size[1]
    if os.environ.get("TINYGRAD_BP_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["TINYGRAD_BP_KEEP_SCREENSHOT"])


def test_browser_notebook_display(browser, tmp_path):
    E, _, model = worked()
    host = tmp_path / "notebook.html"
    host.write_text("<!DOCTYPE html><html><body><p>cell output:</p>" + stepper(E, height=600)._repr_html_()
                    + "</body></html>", encoding="utf-8")
    browser.get(host.as_uri())
    browser.get_log("browser")
    browser.switch_to.frame(browser.find_element("tag name", "iframe"))
    try:
        st = click(browser, "next", 2)
        assert st["counter"] == "step 2 of 33" and st["heading"].startswith("Step 2: ∂E/∂E_o2")
    finally:
        browser.switch_to.default_content()
    assert console_errors(browser) == []
