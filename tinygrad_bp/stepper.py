"""Backpropagation step by step: one self-contained HTML page that walks through the backward pass.

`page(root)` (also `viz.to_html`) draws root's graph with `viz.to_svg` and adds a
small script: the page starts with the forward values and every gradient blank;
each step completes one node's gradient in the order `backward()` uses (reverse
topological order), shows how it is formed from its users' gradients with the
names and numbers of `explain`, writes it into the drawing and emphasises the
edges it came along.  With `collapse=True` a step is a whole neuron, in the
textbooks' δ form.  `backward_steps(root)` gives the same steps as data.

The numbers are adjoints computed here from `Value.local_grads()` in backward's
own order (the same products and sums: the last step equals what `backward()`
gives on zeroed gradients, bit for bit); the user's `.grad` values are never
changed (while the SVG is drawn each node holds its step's gradient, so that
the boxes are sized for it; what they held is put back, also on error).

Labels are user text: they reach the page only as escaped SVG text (viz) and as
JSON with `<`, `>` and `&` escaped, which the script writes with textContent;
a Content-Security-Policy allows no script but the page's own and no network.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tinygrad_bp.atomic import check_target, write_atomic
from tinygrad_bp.engine import Value, topological_order
from tinygrad_bp.explain import format_negated as _neg
from tinygrad_bp.explain import format_number as _num
from tinygrad_bp.explain import format_sum, formula
from tinygrad_bp.nn import unit_name
from tinygrad_bp.viz import draw_graph, is_constant, to_svg

__all__ = ["Step", "backward_steps", "page", "Stepper", "stepper"]

MAX_TERMS = 8  # a sum shows this many terms, then "… (k more terms)", as explain does
_OP_WORDS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow"}  # explain's names of unnamed nodes


def _block(head: str, rows: list[str]) -> list[str]:
    pad = " " * (len(head) + 1)
    return [f"{head} = {rows[0]}"] + [f"{pad}= {r}" for r in rows[1:]]


@dataclass
class Step:
    """One step of the backward pass: the gradients that become final, and how they are formed.

    `values` are the Values whose gradient this step completes (one node, or a
    neuron's members with collapse=True) and `grads` their ∂root/∂value; `lines`
    is the derivation shown in the panel; `unit` is the drawn node (its SVG title,
    "n3" or "u9"), `sources` the drawn nodes whose gradients it uses and `edges`
    the drawn edges ("n3->n7") that carried them.
    """

    title: str
    lines: list[str]
    values: list[Value]
    grads: list[float]
    unit: str
    sources: list[str] = field(default_factory=list)
    edges: list[str] = field(default_factory=list)


class _Neuron:
    """A net node, its activation (the single one-input op reading it) and its own weights and bias.

    The same rule as viz's drawing uses, so that collapse=True steps through the nodes it draws.
    """

    __slots__ = ("net", "act", "members")

    def __init__(self, net: Value, act: Value | None, members: list[Value]):
        self.net, self.act, self.members = net, act, members

    @property
    def out(self) -> Value:
        return self.act if self.act is not None else self.net


class _Graph:
    """Root's graph with every node's adjoint ∂root/∂node, computed as backward() does."""

    def __init__(self, root: Value):
        topo = topological_order(root)
        self.root, self.topo = root, topo
        self.index = {id(v): i for i, v in enumerate(topo)}
        counts: dict[str, int] = {}
        for v in topo:
            if v.label:
                counts[v.label] = counts.get(v.label, 0) + 1
        self.label_counts = counts
        # consumers[id(c)]: (user, ∂user/∂c summed over the places it reads c), users in topological order
        self.consumers: dict[int, list[tuple[Value, float]]] = {id(v): [] for v in topo}
        self.n_reads: dict[int, int] = dict.fromkeys(self.consumers, 0)  # with repeats, as viz counts them
        adj = dict.fromkeys(self.consumers, 0.0)
        adj[id(root)] = 1.0
        partials: dict[int, list[float]] = {}
        for v in reversed(topo):  # backward's order and products: c.grad += g * ∂v/∂c
            if not v.children:
                continue
            ps = v.local_grads()
            partials[id(v)] = ps
            g = adj[id(v)]
            for c, p in zip(v.children, ps):
                adj[id(c)] += g * p
        for v in topo:
            ps = partials.get(id(v), [])
            seen: dict[int, int] = {}
            for c, p in zip(v.children, ps):
                self.n_reads[id(c)] += 1
                users = self.consumers[id(c)]
                if id(c) in seen:
                    u, f = users[seen[id(c)]]
                    users[seen[id(c)]] = (u, f + p)
                else:
                    seen[id(c)] = len(users)
                    users.append((v, p))
        self.adj = adj

    def grad(self, v: Value) -> float:
        return self.adj[id(v)]

    def name(self, v: Value) -> str:
        """explain's name: the label; label#index when two nodes share it; else op#index."""
        i = self.index[id(v)]
        if v.label:
            return v.label if self.label_counts[v.label] == 1 else f"{v.label}#{i}"
        return f"{_OP_WORDS.get(v.op, v.op or 'leaf')}#{i}"

    def term(self, v: Value) -> str:
        """How v appears inside a formula: its name, or its number for an unnamed leaf (a constant)."""
        return _num(v.data) if not v.children and not v.label else self.name(v)

    def d(self, top: Value, v: Value) -> str:
        return f"∂{self.name(top)}/∂{self.name(v)}"

    def formula(self, top: Value, v: Value) -> str | None:
        """∂top/∂v in the nodes' names, as explain writes it (None where it writes only the number)."""
        terms = [self._formula_at(top, v, p) for p, c in enumerate(top.children) if c is v]
        if not terms or None in terms:
            return None
        return "".join(t if k == 0 else f" − {t[1:]}" if t.startswith("−") else f" + {t}"
                       for k, t in enumerate(terms))  # type: ignore[union-attr]

    def _formula_at(self, top: Value, v: Value, p: int) -> str | None:
        return formula(top, p, self.name, self.term)

    def factor_line(self, top: Value, v: Value, factor: float) -> str:
        """`∂top/∂v = formula = number   (op)`, as explain's "where" lines."""
        value = _num(factor)
        f = self.formula(top, v)
        if f is None or f == value:
            return f"{self.d(top, v)} = {value}   ({top.op})"
        return f"{self.d(top, v)} = {f} = {value}   ({top.op})"

    def pull(self, v: Value) -> list[str]:
        """How ∂root/∂v is formed from the gradients of v's users: explain's block, then its factors."""
        root, users = self.root, self.consumers[id(v)]
        head = self.d(root, v)
        if v is root:
            return [f"{head} = 1   (the backward pass starts here: the output with respect to itself)"]
        if len(users) == 1:
            (top, f), = users
            lines = _block(head, [f"{self.d(root, top)} · {self.d(top, v)}", f"{_num(self.grad(top))} · {_num(f)}",
                                  _num(self.grad(v))])
        else:
            shown, rest = users[:MAX_TERMS], users[MAX_TERMS:]
            syms = [f"{self.d(root, top)} · {self.d(top, v)}" for top, _ in shown]
            vals = [f"{_num(self.grad(top))} · {_num(f)}" for top, f in shown]
            prods = [_num(self.grad(top) * f) for top, f in shown]
            if rest:
                syms.append(f"… ({len(rest)} more terms)")
                vals.append("…")
                prods.append(f"{_num(sum(self.grad(t) * f for t, f in rest))} (the other {len(rest)} terms)")
            lines = _block(head, [" + ".join(syms), format_sum(vals), format_sum(prods), _num(self.grad(v))])
        lines += ["", "where"] + [f"  {self.factor_line(top, v, f)}" for top, f in users[:MAX_TERMS]]
        return lines

    def neurons(self) -> list[_Neuron]:
        """Every net node as a neuron, by viz's rule (act: the net's only user, a one-input op but ** and neg)."""
        found = []
        for v in self.topo:
            if v.op != "net":
                continue
            prev = v.children
            n = len(prev) // 2
            own = (*prev[:n], *((prev[2 * n],) if len(prev) % 2 else ()))
            users = self.consumers[id(v)]
            act = None
            if self.n_reads[id(v)] == 1:
                u = users[0][0]
                if len(u.children) == 1 and u.op not in ("**", "neg"):
                    act = u
            members: list[Value] = []
            for p in own:
                if not p.children and self.n_reads[id(p)] == 1 and not any(p is m for m in members):
                    members.append(p)
            members.append(v)
            if act is not None:
                members.append(act)
            found.append(_Neuron(v, act, members))
        return found


def _delta_name(g: _Graph, net: Value) -> str:
    if net.label.startswith("net_") and g.label_counts.get(net.label) == 1:
        return f"δ_{net.label[4:]}"
    return f"δ[{g.name(net)}]"


def _neuron_lines(g: _Graph, nr: _Neuron) -> tuple[str, list[str], list[Value]]:
    """The δ form of one neuron: (title, panel lines, the drawn nodes whose δ or gradient it uses)."""
    net, act, out = nr.net, nr.act, nr.out
    E = g.name(g.root)
    name = unit_name(act.label if act is not None and act.label else net.label) or g.name(net)
    dn = _delta_name(g, net)
    delta = -g.grad(net)
    users = [u for u, _ in g.consumers[id(out)]]
    hidden = bool(users) and all(u.op == "net" for u in users)
    fprime = "" if act is None else f" · {g.formula(act, net) or g.d(act, net)}"
    fval = "" if act is None else f" · {_num(g.consumers[id(net)][0][1])}"
    sigmoid = act is not None and act.op == "sigmoid"
    lines: list[str]
    if hidden:
        form = "(Σ_k δ_k·w_kj)·a_j(1 − a_j)" if sigmoid else "(Σ_k δ_k·w_kj)" + ("" if act is None else
                                                                                 "·f'(net_j)")
        title = f"neuron {name}, a hidden unit: {dn} = −∂{E}/∂{g.name(net)} = {form}"
        shown = g.consumers[id(out)][:MAX_TERMS]
        more = f" + … ({len(users) - MAX_TERMS} more)" if len(users) > MAX_TERMS else ""
        syms = " + ".join(f"{_delta_name(g, m)}·{g.formula(m, out) or _num(f)}" for m, f in shown)
        vals = format_sum([f"{_num(-g.grad(m))}·{_num(f)}" for m, f in shown])
        rows = [f"({syms}{more}){fprime}", f"({vals}{more}){fval}"]
        if act is not None:
            rows.append(f"{_num(-g.grad(out))}{fval}")
        lines = _block(dn, rows + [_num(delta)])
        sources = [m for m, _ in shown]
    else:
        s = users[0] if len(g.consumers[id(out)]) == 1 else None
        textbook = (s is not None and s.op == "-" and len(s.children) == 2 and s.children[1] is out
                    and s.children[0] is not out and -g.grad(out) == s.data)
        if textbook:  # E's derivative is −(t − a): the textbook's δ_k = (t_k − a_k)·f'(net_k)
            assert s is not None
            t = s.children[0]
            form = "(t − a)·a(1 − a)" if sigmoid else "(t − a)" + ("" if act is None else "·f'(net)")
            title = f"neuron {name}, an output unit: {dn} = −∂{E}/∂{g.name(net)} = {form}"
            lines = _block(dn, [f"({g.term(t)} − {g.name(out)}){fprime}",
                                f"({_num(t.data)} − {_num(out.data)}){fval}", f"{_num(s.data)}{fval}",
                                _num(delta)])
        else:
            title = f"neuron {name}, an output unit: {dn} = −∂{E}/∂{g.name(net)}"
            lines = g.pull(out) + [""]
            if act is None:
                lines += _block(dn, [f"−{g.d(g.root, out)}", _num(delta)])
            else:
                lines += _block(dn, [f"−{g.d(g.root, out)}{fprime}", f"{_neg(g.grad(out))}{fval}", _num(delta)])
        sources = [u for u, _ in g.consumers[id(out)][:MAX_TERMS]]
    own = [m for m in nr.members if m is not net and m is not act]
    if own:
        lines += ["", f"its own weights and bias (∂{E}/∂w_ji = −δ_j·a_i):"]
        for p in own:
            f = next(f for u, f in g.consumers[id(p)])
            partner = g.formula(net, p)
            sym = f"−{dn}" if partner == "1" else f"−{dn} · {partner or _num(f)}"
            val = _neg(delta) if partner == "1" else f"{_neg(delta)} · {_num(f)}"
            result = _num(g.grad(p))
            lines.append(f"  {g.d(g.root, p)} = {sym} = {val}" + ("" if val == result else f" = {result}"))
    shown_in_drawing = [f"grad net = {g.d(g.root, net)} = {_num(g.grad(net))}"]
    if act is not None:
        shown_in_drawing.insert(0, f"grad out = {g.d(g.root, act)} = {_num(g.grad(act))}")
    lines += ["", "in the drawing: " + ", ".join(shown_in_drawing)]
    return title, lines, sources


def _plan(root: Value, collapse: bool) -> tuple[_Graph, list[Step], dict[int, str]]:
    """The steps, and the drawn node (SVG title) of every Value, as viz names them."""
    g = _Graph(root)
    unit = {id(v): f"n{i}" for i, v in enumerate(g.topo)}
    of_neuron: dict[int, _Neuron] = {}
    if collapse:
        for nr in g.neurons():
            for m in nr.members:
                of_neuron[id(m)] = nr
        for nr in g.neurons():  # a later neuron's claim wins, as in viz
            for m in nr.members:
                unit[id(m)] = f"u{g.index[id(nr.net)]}"
    steps = []
    for v in reversed(g.topo):
        nr = of_neuron.get(id(v))
        if nr is not None:
            if v is not nr.net:
                continue  # the neuron is one step, when its δ is complete
            title, lines, srcs = _neuron_lines(g, nr)
            values, users = list(nr.members), g.consumers[id(nr.out)]
        else:
            title, lines = g.d(root, v), g.pull(v)
            values, users = [v], g.consumers[id(v)]
            srcs = [u for u, _ in users[:MAX_TERMS]]
        here = unit[id(v)]
        sources = list(dict.fromkeys(unit[id(s)] for s in srcs if unit[id(s)] != here))
        edges = list(dict.fromkeys(f"{here}->{unit[id(u)]}" for u, _ in users if unit[id(u)] != here))
        steps.append(Step(title, lines, values, [g.grad(x) for x in values], here, sources, edges))
    return g, steps, unit


def backward_steps(root: Value, *, collapse: bool = False) -> list[Step]:
    """The steps of the page for `root`: one per node (one per neuron with collapse=True), in backward's order.

    Nothing is drawn and no `.grad` is touched; the last step's gradients are backward()'s.
    """
    if not isinstance(root, Value):
        raise TypeError(f"backward_steps: root must be a Value, got {type(root).__name__}")
    return _plan(root, bool(collapse))[1]


# --- the page --------------------------------------------------------------------------

_SVG_NS = "{http://www.w3.org/2000/svg}"
_SVG_TAGS = {"svg", "g", "title", "polygon", "polyline", "path", "ellipse", "circle", "rect", "line", "text",
             "tspan", "defs", "desc", "linearGradient", "radialGradient", "stop"}


def _check_svg(svg: str, units: dict[str, list[tuple[str, str]]]) -> None:
    """The drawing has only plain shapes and text, and exactly the nodes and gradient rows the steps expect."""
    try:
        tree = ET.fromstring(svg)
    except ET.ParseError as e:
        raise RuntimeError(f"to_html: the renderer's SVG does not parse: {e}") from None
    titles: dict[str, list[str]] = {}
    for el in tree.iter():
        tag = el.tag[len(_SVG_NS):] if el.tag.startswith(_SVG_NS) else el.tag
        if tag not in _SVG_TAGS:
            raise RuntimeError(f"to_html: the renderer's SVG has a <{tag}> element; only shapes and text are inlined")
        for a in el.attrib:
            local = a.rsplit("}", 1)[-1].lower()
            if local.startswith("on") or local == "href":
                raise RuntimeError(f"to_html: the renderer's SVG has a {local} attribute on <{tag}>; refused")
        if tag == "g" and el.get("class") == "node":
            t = el.find(_SVG_NS + "title")
            texts = [(x.text or "").replace("\xa0", " ").strip() for x in el.iter(_SVG_NS + "text")]
            titles[(t.text or "") if t is not None else ""] = texts
    if set(titles) != set(units):
        extra, missing = sorted(set(titles) - set(units))[:3], sorted(set(units) - set(titles))[:3]
        raise RuntimeError(f"to_html: the drawing's nodes do not match the graph's (drawn but not stepped: {extra}, "
                           f"stepped but not drawn: {missing}); tinygrad_bp.viz changed how it names nodes")
    for u, rows in units.items():
        for _, final in rows:
            if final not in titles[u]:
                raise RuntimeError(f"to_html: drawn node {u} has no row {final!r} (rows {titles[u][:6]})")


def _json_for_script(data: Any) -> str:
    """JSON that cannot end its <script> element or start markup: <, > and & as \\u escapes, ASCII only."""
    text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _grad_rows(g: _Graph, values: Sequence[Value], collapse_unit: bool, act: Value | None, net: Value | None,
               digits: int) -> list[tuple[str, str]]:
    def fmt(x: float) -> str:  # viz's number format
        return f"{x:.{digits}g}"

    if collapse_unit:
        assert net is not None
        rows = [] if act is None else [("grad out", f"grad out {fmt(g.grad(act))}")]
        return rows + [("grad net", f"grad net {fmt(g.grad(net))}")]
    (v,) = values
    return [("grad", f"grad {fmt(g.grad(v))}")]


def page(root: Value, path: str | os.PathLike[str] | None = None, *, renderer: str | None = None,
         timeout: float | None = 60.0, **draw_graph_options: Any) -> str:
    """The step-by-step backpropagation page of `root` as HTML text (also written to `path`).

    `draw_graph_options` go to `viz.draw_graph` (edge_derivatives defaults to True here;
    show_grad must stay True); `renderer` and `timeout` to `viz.to_svg`.  A graph that
    draw_graph refuses (more than max_nodes drawn nodes) is refused the same way,
    before anything is computed or written.
    """
    if not isinstance(root, Value):
        raise TypeError(f"to_html: root must be a Value, got {type(root).__name__}")
    options = dict(draw_graph_options)
    if options.get("show_grad", True) is not True:
        raise ValueError(f"to_html: show_grad must be True (the page writes each gradient into the drawing), "
                         f"got {options['show_grad']!r}")
    options.setdefault("edge_derivatives", True)
    if path is not None:
        check_target(path)
    draw_graph(root, **options)  # checks every option and refuses a too-large graph, as to_svg would
    collapse = bool(options.get("collapse", False))
    digits = options.get("digits", 4)
    g, steps, unit = _plan(root, collapse)

    units: dict[str, list[tuple[str, str]]] = {}
    step_of: dict[str, int] = {}
    for k, s in enumerate(steps, start=1):
        nets = [v for v in s.values if v.op == "net"] if s.unit.startswith("u") else []
        net = nets[-1] if nets else None
        act = next((v for v in s.values if net is not None and len(v.children) == 1 and v.children[0] is net),
                   None)
        constant = len(s.values) == 1 and is_constant(s.values[0])  # drawn by value alone, without a grad row
        units[s.unit] = [] if constant else _grad_rows(g, s.values, s.unit.startswith("u"), act, net, digits)
        step_of[s.unit] = k

    saved = [v.grad for v in g.topo]
    try:
        for v in g.topo:  # each box sized for its final gradient; what the user had is put back below
            v.grad = g.grad(v)
        svg = to_svg(root, renderer=renderer, timeout=timeout, **options)
    finally:
        for v, old in zip(g.topo, saved):
            v.grad = old
    _check_svg(svg, units)
    svg = svg[svg.index("<svg"):]  # no XML prolog or doctype inside HTML

    data = {
        "root": g.name(root),
        "collapse": collapse,
        "units": {u: {"step": step_of[u], "rows": rows} for u, rows in units.items()},
        "steps": [{"title": s.title, "lines": s.lines, "unit": s.unit, "sources": s.sources, "edges": s.edges}
                  for s in steps],
    }
    script = _SCRIPT
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    parts = {"CSP_HASH": digest, "N": str(len(steps)), "SCRIPT": script, "DATA": _json_for_script(data), "SVG": svg}
    text = _PLACEHOLDER.sub(lambda m: parts[m.group(1)], _TEMPLATE)  # one pass: no label is read as a placeholder
    if path is not None:
        write_atomic(path, text)
    return text


class Stepper:
    """The stepper page of a graph; displays inline in Jupyter (`_repr_html_`: the page in a sandboxed iframe)."""

    def __init__(self, root: Value, *, height: int = 720, **options: Any):
        if isinstance(height, bool) or not isinstance(height, int) or not 100 <= height <= 10_000:
            raise ValueError(f"stepper: height must be an int of pixels in 100..10000, got {height!r}")
        self.html = page(root, **options)
        self.height = height

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the page to `path` (atomically)."""
        check_target(path)
        write_atomic(path, self.html)

    def _repr_html_(self) -> str:
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" sandbox="allow-scripts" '
                f'title="backpropagation step by step" '
                f'style="width:100%;height:{self.height}px;border:1px solid #ccc"></iframe>')


def stepper(root: Value, **options: Any) -> Stepper:
    """The stepper of `root` for a notebook: the last line of a cell `stepper(E)` shows it inline."""
    return Stepper(root, **options)


_PLACEHOLDER = re.compile(r"%(CSP_HASH|N|SCRIPT|DATA|SVG)%")
_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-%CSP_HASH%'; \
style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Backpropagation step by step</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; color: #222; }
header { position: sticky; top: 0; z-index: 2; background: #f7f7f7; border-bottom: 1px solid #ddd;
  padding: 6px 12px; }
h1 { font-size: 17px; margin: 2px 0 6px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
#controls { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
#controls button { font-size: 14px; padding: 3px 10px; }
#slider { width: 260px; }
#counter { font-variant-numeric: tabular-nums; min-width: 9em; font-weight: bold; }
main { display: flex; flex-wrap: wrap; gap: 12px; padding: 12px; align-items: flex-start; }
#drawing { flex: 1 1 560px; min-width: 300px; overflow: auto; max-height: calc(100vh - 110px);
  border: 1px solid #eee; }
#drawing.fit svg { width: 100%; height: auto; }
#panel { flex: 0 1 560px; min-width: 280px; max-height: calc(100vh - 110px); overflow: auto; }
#panel h2 { font-size: 15px; margin: 0 0 8px; overflow-wrap: anywhere; }
#derivation { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px;
  white-space: pre-wrap; overflow-wrap: anywhere; background: #fbfbf4; border: 1px solid #e4e4c8;
  padding: 8px; margin: 0; min-height: 4em; }
#note { font-size: 13px; color: #555; }
.hl-current { fill: none; stroke: #d62728; stroke-width: 4px; }
.hl-source { fill: none; stroke: #1f77b4; stroke-width: 3px; stroke-dasharray: 6 3; }
g.edge.carry path { stroke: #d62728; stroke-width: 3px; }
g.edge.carry polygon { fill: #d62728; stroke: #d62728; }
g.edge.carry text { fill: #d62728; font-weight: bold; }
text.grad-new { fill: #d62728; font-weight: bold; }
</style>
</head>
<body>
<header>
<h1 id="heading">Backpropagation step by step</h1>
<div id="controls">
<button type="button" id="reset" title="back to the forward pass (Home)">Reset</button>
<button type="button" id="back" title="one step back (←)">◀ Back</button>
<button type="button" id="play">▶ Play</button>
<button type="button" id="next" title="one step on (→)">Next ▶</button>
<input type="range" id="slider" min="0" max="%N%" value="0" step="1" aria-label="step">
<span id="counter" aria-live="polite">step 0 of %N%</span>
<label>speed <select id="speed">
<option value="1500">slow</option><option value="700" selected>normal</option>
<option value="250">fast</option><option value="40">fastest</option></select></label>
<button type="button" id="zoom">actual size</button>
</div>
</header>
<main>
<div id="drawing" class="fit">
%SVG%
</div>
<aside id="panel">
<h2 id="step-title"></h2>
<pre id="derivation"></pre>
<p id="note"></p>
</aside>
</main>
<script type="application/json" id="stepper-data">%DATA%</script>
<script>%SCRIPT%</script>
</body>
</html>
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("stepper-data").textContent);
  var N = data.steps.length;
  var SVGNS = "http://www.w3.org/2000/svg";
  var $ = function (id) { return document.getElementById(id); };
  var drawing = $("drawing"), slider = $("slider"), counter = $("counter"), playButton = $("play");
  var norm = function (s) { return s.replace(/\u00a0/g, " ").trim(); };
  var each = function (list, f) { Array.prototype.forEach.call(list, f); };

  var nodes = {}, edges = {};
  each(drawing.querySelectorAll("g.node"), function (g) {
    var t = g.querySelector("title");
    if (t) { nodes[norm(t.textContent)] = g; }
  });
  each(drawing.querySelectorAll("g.edge"), function (g) {
    var t = g.querySelector("title");
    if (!t) { return; }
    var key = norm(t.textContent);
    (edges[key] = edges[key] || []).push(g);
  });
  // each drawn node's gradient rows: the <text> that shows it, its blank and its final text
  var rows = [];
  Object.keys(data.units).forEach(function (id) {
    var unit = data.units[id], g = nodes[id];
    if (!g) { console.error("stepper: no drawn node " + id); return; }
    var texts = Array.prototype.slice.call(g.querySelectorAll("text")).reverse();
    unit.rows.forEach(function (r) {
      var el = texts.find(function (t) { return norm(t.textContent) === r[1]; });
      if (!el) { console.error("stepper: node " + id + " has no row " + r[1]); return; }
      rows.push({ el: el, step: unit.step, blank: r[0], full: r[1] });
    });
  });

  document.title = "Backpropagation step by step: " + data.root;
  $("heading").textContent = "Backpropagation step by step: the gradients of " + data.root + ", " + N +
    " steps" + (data.collapse ? ", neuron by neuron (δ form)" : ", node by node");

  function clip(text) {  // a heading stays short; the panel below has every name in full
    return text.length > 240 ? text.slice(0, 239) + "…" : text;
  }

  var marks = [];
  function mark(id, cls) {
    var g = nodes[id];
    if (!g) { return; }
    var b = g.getBBox(), pad = cls === "hl-current" ? 4 : 3;
    var r = document.createElementNS(SVGNS, "rect");
    r.setAttribute("x", b.x - pad); r.setAttribute("y", b.y - pad);
    r.setAttribute("width", b.width + 2 * pad); r.setAttribute("height", b.height + 2 * pad);
    r.setAttribute("rx", 4); r.setAttribute("class", cls);
    g.appendChild(r);
    marks.push(r);
    return g;
  }

  var step = 0, timer = null;
  function render(k) {
    step = Math.max(0, Math.min(N, k));
    rows.forEach(function (r) {  // only the rows that change: a large drawing stays quick to step
      var shown = step >= r.step, fresh = step === r.step;
      if (r.shown !== shown) { r.el.textContent = shown ? r.full : r.blank; r.shown = shown; }
      if (r.fresh !== fresh) { r.el.classList.toggle("grad-new", fresh); r.fresh = fresh; }
    });
    marks.forEach(function (m) { m.parentNode.removeChild(m); });
    marks = [];
    each(drawing.querySelectorAll("g.edge.carry"), function (g) { g.classList.remove("carry"); });
    var title = $("step-title"), panel = $("derivation"), note = $("note");
    if (step === 0) {
      title.textContent = "Forward pass done: every node shows its value (data); every gradient is blank";
      panel.textContent = "Press Next (or →) to start the backward pass at " + data.root + ".";
      note.textContent = "Each step completes the gradient of one " + (data.collapse ? "drawn node (a neuron " +
        "at once, in the textbooks' δ form)" : "node") + ", in the order backward() visits them: " +
        "reverse topological order, each node after every node that uses it.";
    } else {
      var s = data.steps[step - 1];
      s.sources.forEach(function (id) { mark(id, "hl-source"); });
      var current = mark(s.unit, "hl-current");
      s.edges.forEach(function (e) { (edges[e] || []).forEach(function (g) { g.classList.add("carry"); }); });
      title.textContent = "Step " + step + ": " + clip(s.title);
      panel.textContent = s.lines.join("\n");
      note.textContent = step === N ? "The backward pass is complete: every gradient in the drawing is the one " +
        "backward() computes." : (s.sources.length ? "Dashed blue: the nodes whose gradients this one is " +
        "formed from; red edges carried them." : "");
      if (current && current.scrollIntoView) { current.scrollIntoView({ block: "nearest", inline: "nearest" }); }
    }
    counter.textContent = "step " + step + " of " + N;
    slider.value = String(step);
    $("back").disabled = step === 0;
    $("reset").disabled = step === 0;
    $("next").disabled = step === N;
  }

  function pause() {
    if (timer !== null) { clearInterval(timer); timer = null; }
    playButton.textContent = "▶ Play";
  }
  function play() {
    if (step >= N) { render(0); }
    playButton.textContent = "❚❚ Pause";
    timer = setInterval(function () {
      if (step >= N) { pause(); } else { render(step + 1); if (step >= N) { pause(); } }
    }, Number($("speed").value));
  }
  $("next").addEventListener("click", function () { pause(); render(step + 1); });
  $("back").addEventListener("click", function () { pause(); render(step - 1); });
  $("reset").addEventListener("click", function () { pause(); render(0); });
  playButton.addEventListener("click", function () { if (timer !== null) { pause(); } else { play(); } });
  $("speed").addEventListener("change", function () { if (timer !== null) { pause(); play(); } });
  slider.addEventListener("input", function () { pause(); render(Number(slider.value)); });
  $("zoom").addEventListener("click", function () {
    var fit = drawing.classList.toggle("fit");
    $("zoom").textContent = fit ? "actual size" : "fit to width";
  });
  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey || e.target === slider || e.target.tagName === "SELECT") { return; }
    var to = { ArrowRight: step + 1, ArrowLeft: step - 1, Home: 0, End: N }[e.key];
    if (to === undefined) { return; }
    e.preventDefault();
    pause();
    render(to);
  });
  render(0);
})();
"""
