"""Draw a computation graph: `draw_graph` -> graphviz.Digraph, `to_svg` -> SVG text, `render` -> a file.

Every Value is one node (its op, label, data and grad); edges point the way of the
forward pass, and with `edge_derivatives=True` carry the local derivative
∂out/∂in that the backward pass multiplies along them.  Neurons (a "net" node
with its own weights and bias, and the activation that consumes it) and layers
(neurons whose net nodes read the same inputs) are found from the graph's
structure: each neuron is a box, each layer a column; `collapse=True` draws each
neuron as one node.

User text (labels) only ever reaches the picture as escaped text of an HTML-like
label: node names are ids ("n0", "n1", ...), no URL/tooltip/id/class is set.
Rendering runs the `dot` program of system Graphviz, else `graphviz-pure` (its PDF
is drawn from its layout by tinygrad_bp.pdf); `render` writes SVG, PNG, PDF, JPEG
or the DOT source by the file's extension. See docs/graphs.md.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import sysconfig
from collections.abc import Iterable
from typing import Any

from tinygrad_bp.atomic import check_target, write_atomic
from tinygrad_bp.engine import Value, topological_order
from tinygrad_bp.nn import unit_name

__all__ = ["draw_graph", "to_svg", "render", "to_html", "find_renderer", "output_format", "is_constant", "FORMATS",
           "RENDERERS", "RenderError", "RendererNotFoundError", "RenderTimeoutError"]

RENDERERS = ("dot", "graphviz-pure")
"""Renderer commands tried in this order."""

LABEL_MAX_CHARS = 60
LABEL_MAX_LINES = 4
LARGE_GRAPH = 150
"""From this many drawn nodes on, layout effort is limited (mclimit/nslimit): fan-in otherwise takes minutes."""
LARGE_GRAPH_ATTRS = {"mclimit": "0.1", "nslimit": "1", "nslimit1": "1"}

FONT = "Arial"
"""Helvetica's metrics under a name every SVG viewer maps to a metric-compatible font (Liberation Sans,
Arimo, Arial): "Helvetica" became "Helvetica,sans-Serif", which fontconfig gives DejaVu Sans, wider by
about 12%, so librsvg drew text out of its box."""

_COLORS = {
    "leaf": "#e6e6e6",       # inputs, targets
    "constant": "#f4f4f4",   # numbers written in the expression (the ½ of E = ½ (t − a)²)
    "param": "#fff1b8",      # weights and biases
    "interior": "#ffffff",   # results of ops
    "op": "#dbe7f7",         # the op's header cell
    "neuron": "#e3f2e1",     # a collapsed neuron
}

_OP_TEXT = {"*": "×", "/": "÷", "-": "−", "neg": "−x", "sigmoid": "σ", "sum": "Σ", "net": "Σ w·x + b"}


class RenderError(RuntimeError):
    """The renderer failed (bad exit status or timeout)."""


class RendererNotFoundError(RenderError):
    """Neither `dot` (system Graphviz) nor `graphviz-pure` could be found."""


class RenderTimeoutError(RenderError, TimeoutError):
    """The renderer did not finish within the timeout."""


# --- text ------------------------------------------------------------------------

def _xml_ok(ch: str) -> bool:
    c = ord(ch)
    if c < 0x20:
        return ch == "\n"
    return not (0x7F <= c <= 0x9F or 0xD800 <= c <= 0xDFFF or c in (0xFFFE, 0xFFFF))


# "]" as a character reference: dot's label lexer fails on a text that starts with "]" ("]", "]]")
_HTML_ESCAPES = str.maketrans({"\\": "\\\\", "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                               "]": "&#93;"})


def _html_text(text: Any, max_chars: int = LABEL_MAX_CHARS, max_lines: int = LABEL_MAX_LINES) -> str:
    """User text as the escaped content of an HTML-like label: truncated, control characters replaced."""
    s = str(text).replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    if len(s) > max_chars:
        s = s[: max_chars - 1] + "…"
    lines = s.split("\n")
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] += "…"
    out = []
    for line in lines:
        line = "".join(ch if _xml_ok(ch) else "\ufffd" for ch in line)
        # a backslash would start an escape (\N: node name, \G: graph name, ...): double it
        out.append(line.translate(_HTML_ESCAPES))
    return "<BR/>".join(out)


def _num(x: float, digits: int) -> str:
    return f"{x:.{digits}g}"


def _op_text(v: Value) -> str:
    name = v.op
    if name == "**":
        k = getattr(v._op, "exponent", None)
        return "x ** y" if k is None else f"x ** {_num(k, 6)}"
    return _OP_TEXT.get(name, name)


def _table(rows: list[str], fill: str, header: str | None = None, header_fill: str = _COLORS["op"],
           border: int = 1, ports: bool = False) -> str:
    """An HTML-like label: a header cell, then one cell a row; with `ports`, row k is port "p<k>"."""
    cells = [f'<TD BGCOLOR="{header_fill}"><B>{header}</B></TD>'] if header is not None else []
    cells += [f"<TD>{r}</TD>" for r in rows]
    if ports:
        cells = [c.replace("<TD", f'<TD PORT="p{k}"', 1) for k, c in enumerate(cells)]
    return (f'<<TABLE BORDER="{border}" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" BGCOLOR="{fill}">'
            + "".join(f"<TR>{c}</TR>" for c in cells) + "</TABLE>>")


def _port_rows(v: Value, n_rows: int) -> list[int | None]:
    """For each input of `v`, the row of v's box its edge ends at (None: the box as a whole).

    A net node's weight k and its bias go to rows spread top to bottom in their order,
    and so do the inputs of any other op with several: Graphviz then orders the inputs
    top to bottom as the formula writes them (w1 above w2, a above b in a * b).
    """
    prev = v._prev
    if v.op == "net":
        n = len(prev) // 2
        slots: list[int | None] = [*range(n), *([None] * n), *([n] if len(prev) % 2 else [])]
        count = n + len(prev) % 2
    elif len(prev) >= 2:
        slots, count = list(range(len(prev))), len(prev)
    else:
        return [None] * len(prev)
    last = n_rows - 1
    return [None if k is None else (0 if count == 1 else round(k * last / (count - 1))) for k in slots]


def is_constant(v: Value) -> bool:
    """Whether `v` is a number the expression was written with (the 2 of x * 2, the ½ of E): a leaf nobody
    asks the gradient of, drawn by its value alone, without data/grad rows and without edge derivatives."""
    const = _constant_op()
    return const is not None and v._op is const


def _constant_op() -> Any:
    """The op of the leaves made from numbers written in an expression (the 2 of x * 2), or None."""
    try:
        from tinygrad_bp.ops import CONST
    except ImportError:  # an engine without ops.CONST: no leaf is drawn as a constant
        return None
    return CONST


# --- structure: neurons and layers -------------------------------------------------

class _Neuron:
    __slots__ = ("net", "act", "members", "xs", "name", "layer")

    def __init__(self, net: Value, act: Value | None, members: list[Value], xs: tuple[Value, ...]):
        self.net = net
        self.act = act
        self.members = members  # drawn inside the neuron: own weights, own bias, net, act
        self.xs = xs
        self.name = ""
        self.layer = -1

    @property
    def out(self) -> Value:
        return self.act if self.act is not None else self.net


def _find_neurons(topo: list[Value], consumers: dict[int, list[Value]]) -> tuple[list[_Neuron], list[list[_Neuron]]]:
    """Neurons and layers, by structure: see the module docstring."""
    neurons = []
    for v in topo:
        if v.op != "net":
            continue
        prev = v._prev
        n = len(prev) // 2
        ws, xs = prev[:n], prev[n:2 * n]
        bias = prev[2 * n] if len(prev) % 2 else None
        cons = consumers.get(id(v), [])
        act = cons[0] if len(cons) == 1 and len(cons[0]._prev) == 1 and cons[0].op not in ("**", "neg") else None
        members = []
        for p in (*ws, *(() if bias is None else (bias,))):
            if p.op == "" and len(consumers.get(id(p), ())) == 1 and not any(p is m for m in members):
                members.append(p)
        members.append(v)
        if act is not None:
            members.append(act)
        neurons.append(_Neuron(v, act, members, xs))
    # layers: neurons whose net nodes read the same inputs (unlabelled constants: the same numbers), in forward order
    by_inputs: dict[tuple[Any, ...], list[_Neuron]] = {}
    for nr in neurons:
        key = tuple(id(x) if x.op or x.label else ("constant", x.data) for x in nr.xs)
        by_inputs.setdefault(key, []).append(nr)
    layers = list(by_inputs.values())
    for i, layer in enumerate(layers):
        for j, nr in enumerate(layer):
            nr.layer = i
            label = nr.act.label if nr.act is not None and nr.act.label else nr.net.label
            nr.name = unit_name(label) or label or f"neuron {i + 1}.{j + 1}"
    return neurons, layers


def _layer_titles(layers: list[list[_Neuron]], consumers: dict[int, list[Value]]) -> list[str]:
    """'hidden layer k' for layers that feed a later layer's net nodes, 'output layer' for the others.

    k counts layers from the inputs (a layer reading another's outputs is one deeper), so the
    copies of a network that a batch of forward passes makes get the same titles.
    """
    depth_of: dict[int, int] = {}  # id of a neuron's output -> its layer's depth
    depths, feeds = [], []
    for layer in layers:
        depth = 1 + max((depth_of.get(id(x), 0) for nr in layer for x in nr.xs), default=0)
        for nr in layer:
            depth_of[id(nr.out)] = depth
        depths.append(depth)
        feeds.append(any(c.op == "net" for nr in layer for c in consumers.get(id(nr.out), ())))
    hidden = sorted({d for d, f in zip(depths, feeds) if f})
    titles = []
    for d, f in zip(depths, feeds):
        if not f:
            titles.append("output layer" if len(layers) > 1 else "layer")
        else:
            titles.append("hidden layer" if len(hidden) == 1 else f"hidden layer {hidden.index(d) + 1}")
    return titles


# --- drawing -------------------------------------------------------------------------

_DIGRAPH_CLASS: Any = None


def _digraph_class() -> Any:
    """graphviz.Digraph whose pipe(), render() and notebook display choose the renderer as to_svg does."""
    global _DIGRAPH_CLASS
    if _DIGRAPH_CLASS is None:
        import graphviz

        class Digraph(graphviz.Digraph):
            """A graphviz.Digraph that renders with `dot` or, without system Graphviz, `graphviz-pure`.

            pipe(), render() and the notebook display (SVG, PNG) choose the renderer as
            to_svg does; a layout engine other than dot, or a renderer/formatter
            option, is handed to graphviz as usual (system Graphviz).
            """

            def _ours(self, fmt: str | None, renderer: Any, formatter: Any, neato_no_op: Any,
                      engine: str | None) -> bool:
                return (fmt in PIPE_FORMATS and renderer is None and formatter is None and not neato_no_op
                        and (engine or self.engine) == "dot")

            def pipe(self, format: str | None = None, renderer: str | None = None, formatter: str | None = None,
                     neato_no_op: bool | int | None = None, quiet: bool = False, *, engine: str | None = None,
                     encoding: str | None = None) -> bytes | str:
                fmt = (format or self.format).lower()
                if not self._ours(fmt, renderer, formatter, neato_no_op, engine):
                    return super().pipe(format, renderer=renderer, formatter=formatter, neato_no_op=neato_no_op,
                                        quiet=quiet, engine=engine, encoding=encoding)
                data = _render_bytes(self.source, _PIPE_ALIASES.get(fmt, fmt), None, DEFAULT_TIMEOUT)
                return data if encoding is None else data.decode(encoding)

            def render(self, filename: Any = None, directory: Any = None, view: bool = False, cleanup: bool = False,
                       format: str | None = None, renderer: str | None = None, formatter: str | None = None,
                       neato_no_op: bool | int | None = None, quiet: bool = False, quiet_view: bool = False, *,
                       outfile: Any = None, engine: str | None = None, raise_if_result_exists: bool = False,
                       overwrite_source: bool = False) -> str:
                if outfile is not None and format is None:
                    format = os.path.splitext(os.fspath(outfile))[1][1:] or None
                fmt = (format or self.format).lower()
                if not self._ours(fmt, renderer, formatter, neato_no_op, engine):
                    return super().render(filename, directory=directory, view=view, cleanup=cleanup, format=format,
                                          renderer=renderer, formatter=formatter, neato_no_op=neato_no_op,
                                          quiet=quiet, quiet_view=quiet_view, outfile=outfile, engine=engine,
                                          raise_if_result_exists=raise_if_result_exists,
                                          overwrite_source=overwrite_source)
                if outfile is not None:  # as graphviz does: beside the outfile, FILE.gv
                    outfile = os.fspath(outfile)
                    if directory is None:
                        outfile = os.path.join(self.directory, outfile)
                    if filename is None:
                        filename = os.path.splitext(os.path.basename(outfile))[0] + ".gv"
                        directory = os.path.dirname(outfile) or None
                if outfile is not None and raise_if_result_exists and os.path.exists(outfile):
                    raise graphviz.FileExistsError(f"output file exists: {outfile!r}")
                filepath = self.save(filename, directory=directory)
                rendered = outfile if outfile is not None else f"{filepath}.{fmt}"
                write_atomic(rendered, _render_bytes(self.source, _PIPE_ALIASES.get(fmt, fmt), None,
                                                     DEFAULT_TIMEOUT))
                if cleanup:
                    os.remove(filepath)
                if view or quiet_view:
                    self._view(rendered, format=fmt, quiet=quiet_view)
                return rendered

            def _repr_svg_(self) -> str:  # IPython's older display hooks, beside _repr_mimebundle_
                return self.pipe(format="svg", encoding="utf-8")

            def _repr_png_(self) -> bytes:
                return self.pipe(format="png")

        _DIGRAPH_CLASS = Digraph
    return _DIGRAPH_CLASS


_PIPE_ALIASES = {"jpg": "jpeg", "jpe": "jpeg"}


def draw_graph(root: Value, *, rankdir: str = "LR", show_grad: bool = True, edge_derivatives: bool = False,
               collapse: bool = False, max_nodes: int | None = 500, digits: int = 4,
               parameters: Iterable[Value] | None = None) -> Any:
    """The computation graph of `root` as a `graphviz.Digraph` (no renderer needed).

    Each Value is a node showing its op, label, data and (if `show_grad`) grad to
    `digits` significant digits; leaves, parameters (weights/biases of "net"
    nodes, and any Value in `parameters`) and interior values are filled
    differently; a number written in the expression (see `is_constant`) shows its
    value alone. Edges point forward; an op's inputs come in top to bottom in the
    order it takes them (with rankdir LR or RL).  `edge_derivatives` labels each
    edge with ∂out/∂in.  Each neuron (its weights, bias, net and activation) is a
    box titled with its layer; layers are columns, the network's inputs left of
    them in order; `collapse=True` draws each neuron as one node, each layer as a
    titled box.  More than `max_nodes` drawn nodes raise ValueError (None: no limit).
    """
    if not isinstance(root, Value):
        raise TypeError(f"draw_graph: root must be a Value, got {type(root).__name__}")
    if rankdir not in ("LR", "RL", "TB", "BT"):
        raise ValueError(f"draw_graph: rankdir must be one of 'LR', 'RL', 'TB', 'BT', got {rankdir!r}")
    if max_nodes is not None and (not isinstance(max_nodes, int) or isinstance(max_nodes, bool) or max_nodes < 1):
        raise ValueError(f"draw_graph: max_nodes must be a positive int or None, got {max_nodes!r}")
    if not isinstance(digits, int) or isinstance(digits, bool) or not 1 <= digits <= 17:
        raise ValueError(f"draw_graph: digits must be an int in 1..17, got {digits!r}")

    topo = topological_order(root)
    index = {id(v): i for i, v in enumerate(topo)}
    consumers: dict[int, list[Value]] = {}
    for v in topo:
        for c in v._prev:
            consumers.setdefault(id(c), []).append(v)
    neurons, layers = _find_neurons(topo, consumers)

    weights_biases = set()  # leaves in the weight or bias position of a net node
    for nr in neurons:
        n = len(nr.net._prev) // 2
        weights_biases.update(id(p) for p in nr.net._prev[:n] if p.op == "")
        if len(nr.net._prev) % 2 and nr.net._prev[-1].op == "":
            weights_biases.add(id(nr.net._prev[-1]))
    if parameters is not None and hasattr(parameters, "parameters"):  # a Module (MLP, Layer, Neuron)
        parameters = parameters.parameters()
    try:
        extra = {id(p) for p in parameters} if parameters is not None else set()
    except TypeError:
        raise TypeError(f"draw_graph: parameters must be Values or a model, got {type(parameters).__name__}") from None
    params = weights_biases | extra

    # which drawn node stands for each Value
    rep = {id(v): f"n{i}" for i, v in enumerate(topo)}
    neuron_of: dict[int, _Neuron] = {}
    for nr in neurons:
        for m in nr.members:
            neuron_of[id(m)] = nr
    if collapse:
        for nr in neurons:
            for m in nr.members:
                rep[id(m)] = f"u{index[id(nr.net)]}"
    n_drawn = len(set(rep.values()))
    if max_nodes is not None and n_drawn > max_nodes:
        hint = ""
        if not collapse and neurons:
            n_collapsed = n_drawn - sum(len(nr.members) - 1 for nr in neurons)
            hint = f"; collapse=True draws each neuron as one node ({n_collapsed} nodes)"
        elif not collapse:
            hint = "; collapse=True draws each neuron as one node (this graph has no neurons to collapse)"
        raise ValueError(
            f"draw_graph: the graph has {n_drawn} nodes, more than max_nodes={max_nodes}{hint}; "
            f"or raise max_nodes (None: no limit)")

    graph_attr = {"rankdir": rankdir}
    if n_drawn >= LARGE_GRAPH:
        graph_attr.update(LARGE_GRAPH_ATTRS)
    g = _digraph_class()(name="G", graph_attr=graph_attr,
                         node_attr={"shape": "plain", "fontname": FONT, "fontsize": "11"},
                         edge_attr={"fontname": FONT, "fontsize": "9", "arrowsize": "0.7"})
    const_op = _constant_op()
    constants = {id(v) for v in topo if const_op is not None and v._op is const_op and id(v) not in params}
    compass = {"LR": "w", "RL": "e"}.get(rankdir)  # ports order a node's inputs along its side (LR, RL only)

    def rows_of(v: Value) -> int:
        return 1 + bool(v.label) + 1 + show_grad  # op header, label, data, grad

    def value_node(v: Value) -> str:
        if id(v) in constants:  # by its value alone: its gradient is nobody's concern
            return _table([_num(v.data, digits)], _COLORS["constant"])
        rows = []
        if v.label:
            rows.append(f"<B>{_html_text(v.label)}</B>")
        rows.append(f"data {_num(v.data, digits)}")
        if show_grad:
            rows.append(f"grad {_num(v.grad, digits)}")
        if v.op:
            kind, header = "interior", _html_text(_op_text(v))
        else:
            kind, header = ("param" if id(v) in params else "leaf"), None
        return _table(rows, _COLORS[kind], header, border=2 if v is root else 1,
                      ports=compass is not None and len(v._prev) > 1)

    def neuron_node(nr: _Neuron) -> str:
        act = nr.act
        header = _html_text(f"{_op_text(act)}({_OP_TEXT['net']})" if act is not None else _OP_TEXT["net"])
        rows = [f"<B>{_html_text(nr.name)}</B>", f"net {_num(nr.net.data, digits)}"]
        if act is not None:
            rows.append(f"out {_num(act.data, digits)}")
        if show_grad:
            if act is not None:
                rows.append(f"grad out {_num(act.grad, digits)}")
            rows.append(f"grad net {_num(nr.net.grad, digits)}")
        return _table(rows, _COLORS["neuron"], header, border=2 if nr.out is root else 1)

    titles = _layer_titles(layers, consumers)
    cluster_style = {"style": "rounded,dashed", "color": "#7a7a7a", "fontname": FONT, "fontsize": "12"}
    # the network's inputs: leaves read only by net nodes, outside every neuron; in the order the first net reads them
    inputs: list[Value] = []
    for layer in layers:
        for x in layer[0].xs:
            if (x.op == "" and id(x) not in neuron_of and id(x) not in params
                    and all(c.op == "net" for c in consumers.get(id(x), ())) and not any(x is i for i in inputs)):
                inputs.append(x)
    drawn: set[int] = set()
    if collapse:
        # a neuron is one node, its inputs come straight in: layers are columns of such nodes, boxed and titled
        if inputs:
            with g.subgraph(name="cluster_inputs") as ic:
                ic.attr(label="<<B>inputs</B>>", **cluster_style)
                for x in inputs:
                    ic.node(rep[id(x)], label=value_node(x))
                    drawn.add(id(x))
        for i, layer in enumerate(layers):
            with g.subgraph(name=f"cluster_L{i}") as lc:
                lc.attr(label=f"<<B>{_html_text(titles[i])}</B>>", **cluster_style)
                for nr in layer:
                    lc.node(rep[id(nr.net)], label=neuron_node(nr))
                    drawn.update(id(m) for m in nr.members)
    else:
        # each neuron a box of its weights, bias, net and activation, titled with its layer. No box around a
        # layer: an edge from outside into a box runs outside every other box (Graphviz puts its bends
        # there), so a layer box would push the inputs of a layer above or below it (the drawing
        # stair-stepped). An input's edge into a neuron enters its box from above or below.
        for x in inputs:
            g.node(rep[id(x)], label=value_node(x))
            drawn.add(id(x))
        if len(inputs) > 1 and compass is not None:  # top to bottom in order (first above): a hard constraint
            with g.subgraph() as same:
                same.attr(rank="same")
                for x in inputs:
                    same.node(rep[id(x)])
            for a, b in zip(inputs, inputs[1:]):
                g.edge(rep[id(a)], rep[id(b)], style="invis")
        for i, layer in enumerate(layers):
            for nr in layer:
                with g.subgraph(name=f"cluster_N{index[id(nr.net)]}") as nc:
                    nc.attr(label=f"<<B>{_html_text(nr.name)}</B> ({_html_text(titles[i])})>", style="rounded,filled",
                            color="#9bbf96", fillcolor="#f3faf2", fontname=FONT, fontsize="11")
                    for m in nr.members:
                        nc.node(rep[id(m)], label=value_node(m))
                        drawn.add(id(m))
    for v in topo:
        if id(v) not in drawn:
            g.node(rep[id(v)], label=value_node(v))

    for v in topo:
        if not v._prev:
            continue
        head = rep[id(v)]
        locals_ = v.local_grads() if edge_derivatives else None
        scale = 1.0
        if collapse and edge_derivatives and id(v) in neuron_of:
            act = neuron_of[id(v)].act
            if v is neuron_of[id(v)].net and act is not None:
                scale = act.local_grads()[0]  # ∂act/∂net: the edge goes into the whole neuron
        port_rows = _port_rows(v, rows_of(v)) if compass is not None and not (collapse and id(v) in neuron_of) \
            else [None] * len(v._prev)
        n_terms = len(v._prev) // 2 if v.op == "net" else 0
        for k, c in enumerate(v._prev):
            tail = rep[id(c)]
            if tail == head:
                continue
            attrs = {}
            if port_rows[k] is not None:
                attrs["headport"] = f"p{port_rows[k]}:{compass}"
            is_input = not collapse and n_terms <= k < 2 * n_terms
            if is_input:
                attrs["minlen"] = "2"  # an input x: one column left of the weights, as in the derivation's figure
            if locals_ is not None and id(c) not in constants:
                d = float(locals_[k]) * scale
                attrs["label"] = _num(d, digits) if math.isfinite(d) else str(d)
                if is_input:
                    attrs["decorate"] = "true"  # a long edge that crosses others: its label tied to it by a line
            g.edge(tail, head, **attrs)
        if n_terms and not collapse and id(v) in neuron_of:
            # weight k multiplies input k: an invisible tie from x_k to w_k sorts the weights like the inputs
            for x, w in zip(v._prev[n_terms:2 * n_terms], v._prev[:n_terms]):
                if id(w) in neuron_of and rep[id(x)] != rep[id(w)]:
                    g.edge(rep[id(x)], rep[id(w)], style="invis", weight="0")
    return g


# --- rendering ---------------------------------------------------------------------

FORMATS = {"svg": "svg", "png": "png", "pdf": "pdf", "jpg": "jpeg", "jpeg": "jpeg", "gv": "gv", "dot": "gv"}
"""File extensions `render` knows (without the dot) and the format each gets; "gv": the DOT source itself."""

PIPE_FORMATS = ("svg", "png", "pdf", "jpeg", "jpg", "jpe", "json", "xdot", "plain", "dot", "canon")
"""Formats the Digraph that draw_graph returns can pipe and render with either renderer."""

MAX_DPI = 2400.0  # a 33-node graph at 2400 dpi is a ~46,000-pixel-wide PNG (about 6 GB of pixels)


def _script_dirs() -> list[str]:
    """Where pip puts console scripts for this interpreter (found even if not on PATH)."""
    d = sysconfig.get_path("scripts")
    return [d] if d else []


def find_renderer(renderer: str | None = None) -> str:
    """The path of the renderer's program: on PATH, else where pip puts this interpreter's console scripts.

    `renderer`: "dot" (system Graphviz), "graphviz-pure" or None (dot if found, else
    graphviz-pure). Raises RendererNotFoundError saying how to install one.
    """
    if renderer is not None and renderer not in RENDERERS:
        raise ValueError(f"renderer must be one of {RENDERERS} or None, got {renderer!r}")
    names = RENDERERS if renderer is None else (renderer,)
    dirs = _script_dirs()
    for name in names:
        for exe in (shutil.which(name), *(shutil.which(name, path=d) for d in dirs)):
            if exe:
                return exe
    wanted = "Graphviz's `dot` program" if renderer in (None, "dot") else "`graphviz-pure`"
    where = " and in ".join(["PATH", *dirs])
    raise RendererNotFoundError(
        f"cannot render the graph: {wanted} was not found (looked for {', '.join(names)} on {where}). Install "
        "Graphviz: `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS), "
        "`conda install graphviz`, or without root `pip install 'tinygrad-bp[render]'` (graphviz-pure). "
        "draw_graph() still gives the DOT source without a renderer.")


_find_renderer = find_renderer  # the name the CLI used before find_renderer was public


def output_format(path: str | os.PathLike[str], format: str | None = None) -> str:
    """The format `render` writes to `path`: `format` if given, else the one of the file's extension.

    Returns "svg", "png", "pdf", "jpeg" or "gv" (the DOT source); anything else is a
    ValueError naming the extension (or format) and the ones known.
    """
    known = ", ".join(f".{e}" for e in FORMATS)
    if format is not None:
        if not isinstance(format, str) or format.lower() not in FORMATS:
            raise ValueError(f"render: format must be one of {', '.join(map(repr, FORMATS))} or None (from the "
                             f"file's extension), got {format!r}")
        return FORMATS[format.lower()]
    name = os.path.basename(os.fsdecode(os.fspath(path)))
    ext = os.path.splitext(name)[1]
    if not ext:
        raise ValueError(f"render: {name!r} has no extension to tell the format by; name the file with one of "
                         f"{known}, or pass format=")
    if ext[1:].lower() not in FORMATS:
        raise ValueError(f"render: unknown file extension {ext!r} of {name!r}; the formats are {known} "
                         "(or pass format=)")
    return FORMATS[ext[1:].lower()]


RENDER_STACK_BYTES = 1 << 30  # dot recurses once per level: its default 8 MB stack crashes at ~500 levels


def _large_stack() -> None:  # pragma: no cover (runs in the renderer's process, before exec)
    """Raise the stack limit of the renderer's process to RENDER_STACK_BYTES (never above the hard limit)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    want = RENDER_STACK_BYTES if hard == resource.RLIM_INFINITY else min(RENDER_STACK_BYTES, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_STACK, (want, hard))


_EDGE_TITLE_PORTS = re.compile(rb"<title>([nu]\d+)(?::\w+)*&#45;&gt;([nu]\d+)(?::\w+)*</title>")


class _NoSuchFormat(RenderError):
    """The renderer does not write this format (graphviz-pure and PDF; a dot built without cairo)."""


def _run(exe: str, args: list[str], source: str, timeout: float | None) -> bytes:
    """The renderer's output for `source`, or a RenderError that says what went wrong."""
    name = os.path.basename(exe)
    try:
        proc = subprocess.run([exe, *args], input=source.encode("utf-8"), capture_output=True, timeout=timeout,
                              preexec_fn=_large_stack if os.name == "posix" else None)
    except subprocess.TimeoutExpired:
        raise RenderTimeoutError(
            f"{name} did not finish laying out the graph within {timeout} s; draw fewer nodes "
            "(collapse=True draws each neuron as one node) or pass a larger timeout (None: wait)") from None
    if proc.returncode < 0:
        try:
            sig = signal.Signals(-proc.returncode).name
        except ValueError:
            sig = f"signal {-proc.returncode}"
        raise RenderError(f"{name} crashed ({sig}) laying out the graph; draw fewer nodes (collapse=True draws each "
                          "neuron as one node) or try the other renderer")
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        if "not recognized. Use one of" in err:
            raise _NoSuchFormat(err)
        raise RenderError(f"{name} failed with exit status {proc.returncode}: {err[:1000]}")
    return proc.stdout


def _render_bytes(source: str, fmt: str, renderer: str | None, timeout: float | None, exe: str | None = None,
                  dpi: float | None = None) -> bytes:
    """`source` laid out and drawn in Graphviz's format `fmt` ("svg", "png", "pdf", ...).

    graphviz-pure has no PDF output: its layout (-Tjson) is drawn as a vector PDF by
    tinygrad_bp.pdf, with the same shapes and text positions.
    """
    exe = exe or find_renderer(renderer)
    args = [] if dpi is None else [f"-Gdpi={dpi:g}"]
    if fmt == "pdf" and os.path.basename(exe) != "graphviz-pure":
        try:
            return _run(exe, [*args, "-Tpdf"], source, timeout)
        except _NoSuchFormat:
            pass  # a dot without cairo: drawn from its layout below
    if fmt == "pdf":
        import json

        from tinygrad_bp.pdf import pdf_from_layout

        return pdf_from_layout(json.loads(_run(exe, ["-Tjson"], source, timeout)))
    try:
        out = _run(exe, [*args, f"-T{fmt}"], source, timeout)
    except _NoSuchFormat as e:
        raise RenderError(f"{os.path.basename(exe)} cannot write format {fmt!r}: {str(e)[:500]}") from None
    if fmt == "svg":  # an edge's title names its nodes ("n4->n9"), not the row it ends at ("n4->n9:w")
        out = _EDGE_TITLE_PORTS.sub(rb"<title>\1&#45;&gt;\2</title>", out)
    return out


def _render(source: str, renderer: str | None, timeout: float | None, exe: str | None = None) -> str:
    """`source` as SVG text."""
    return _render_bytes(source, "svg", renderer, timeout, exe).decode("utf-8")


MAX_TIMEOUT = 1e6  # seconds (11.6 days): subprocess cannot wait much longer (about 24.8 days)
DEFAULT_TIMEOUT = 60.0  # seconds: also what notebook display and Digraph.pipe()/.render() wait


def _check_timeout(timeout: Any, who: str) -> None:
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError(f"{who}: timeout must be a number of seconds or None, got {type(timeout).__name__} "
                            f"{timeout!r}")
        if not 0 < timeout <= MAX_TIMEOUT:  # also refuses NaN
            raise ValueError(f"{who}: timeout must be > 0 and at most {MAX_TIMEOUT:g} seconds (None: no limit), "
                             f"got {timeout!r}")


def _source(root: Any, options: dict[str, Any], who: str) -> str:
    """The DOT source to render: `root`'s drawing, or the source of a graphviz graph (micrograd's draw_dot)."""
    if isinstance(root, Value):
        return draw_graph(root, **options).source
    source = getattr(root, "source", None)
    if isinstance(source, str) and type(root).__module__.split(".")[0] == "graphviz":
        if options:
            raise TypeError(f"{who}: {', '.join(sorted(options))} apply to drawing a Value; a "
                            f"{type(root).__name__} is rendered as it is")
        return source
    raise TypeError(f"{who}: root must be a Value or a graphviz graph (Digraph, Graph, Source), "
                    f"got {type(root).__name__}")


def to_svg(root: Value, path: str | os.PathLike[str] | None = None, *, renderer: str | None = None,
           timeout: float | None = DEFAULT_TIMEOUT, **options: Any) -> str:
    """The graph of `root` as SVG text (also written to `path`); `options` go to `draw_graph`.

    `renderer`: "dot", "graphviz-pure" or None (dot if found, else graphviz-pure).
    A render taking longer than `timeout` seconds (at most MAX_TIMEOUT; None: no
    limit) raises RenderTimeoutError. Arguments and `path` are checked before any work.
    `root` may also be a graphviz graph, such as micrograd's draw_dot gives.
    """
    _check_timeout(timeout, "to_svg")
    if path is not None:
        check_target(path)
    exe = find_renderer(renderer)
    svg = _render(_source(root, options, "to_svg"), renderer, timeout, exe)
    if path is not None:
        write_atomic(path, svg)
    return svg


def render(root: Value, path: str | os.PathLike[str], format: str | None = None, *, renderer: str | None = None,
           timeout: float | None = DEFAULT_TIMEOUT, dpi: float | None = None, **options: Any) -> str:
    """Draw the graph of `root` into the file `path`, in the format its extension names; returns `path`.

    Formats: .svg, .png, .pdf, .jpg/.jpeg, and .gv/.dot (the DOT source, no renderer
    needed); `format` overrides the extension. `renderer` and `timeout` as in
    `to_svg`; `dpi`: the resolution of .png/.jpg (the renderer's default: 96).
    `options` go to `draw_graph`. Everything (format, path, renderer) is checked
    before any work, and the file is written atomically: all of it or nothing.
    `root` may also be a graphviz graph, such as micrograd's draw_dot gives.
    """
    fmt = output_format(path, format)
    _check_timeout(timeout, "render")
    if dpi is not None:
        if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not 0 < dpi <= MAX_DPI:
            raise ValueError(f"render: dpi must be a number > 0 and at most {MAX_DPI:g}, or None, got {dpi!r}")
        if fmt not in ("png", "jpeg"):
            raise ValueError(f"render: dpi applies to .png and .jpg files, not to {fmt} ({os.fspath(path)!r})")
    check_target(path)
    exe = None if fmt == "gv" else find_renderer(renderer)
    source = _source(root, options, "render")
    data = source.encode("utf-8") if fmt == "gv" else _render_bytes(source, fmt, renderer, timeout, exe, dpi)
    write_atomic(path, data)
    return os.fsdecode(os.fspath(path))


def to_html(root: Value, path: str | os.PathLike[str] | None = None, **draw_graph_options: Any) -> str:
    """The step-by-step backpropagation page of `root`: one self-contained HTML file (also written to `path`).

    It starts with the forward values and every gradient blank, then completes one
    gradient a step in backward()'s order (one neuron a step with collapse=True); see
    tinygrad_bp.stepper.page, which takes the same options plus `renderer` and `timeout`.
    """
    from tinygrad_bp.stepper import page

    return page(root, path, **draw_graph_options)
