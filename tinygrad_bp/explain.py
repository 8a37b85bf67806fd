"""The chain-rule derivation of one gradient, every factor with its number.

`explain(E, w5)` writes ∂E/∂w5 the way Mazur's worked example does::

    ∂E/∂w5 = ∂E/∂out_o1 · ∂out_o1/∂net_o1 · ∂net_o1/∂w5
           = 0.74136507 · 0.186815602 · 0.593269992
           = 0.082167041

A node that feeds several others gets its gradient as the sum of its
contributions (∂E/∂out_h1 = ∂E/∂net_o1 · ∂net_o1/∂out_h1 + ...), derived once
and reused: gradients are aggregated at nodes (the δ form) instead of
enumerating paths, so deep and wide graphs cost one pass over the graph, and
the text is capped with a note of what was left out.  Networks (nodes of op
"net") also get the textbook's δ form, δ = −∂E/∂net.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from tinygrad_bp import codegen, ops
from tinygrad_bp.engine import Value, topological_order

__all__ = ["explain", "formula", "format_number", "format_sum", "format_negated"]

_OP_WORDS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow"}


def format_negated(x: float) -> str:
    """−x written out: −0.5, and 0.5 for x = -0.5 (not −(-0.5)); 0 for 0 (not −0)."""
    return _num(-x) if x < 0 else "0" if x == 0 else f"−{_num(x)}"


def format_sum(terms: list[str]) -> str:
    """Written terms as a sum: a + b, and a − b for a term -b (not a + -b)."""
    return "".join(t if k == 0 else f" − {t[1:]}" if t.startswith("-") else f" + {t}" for k, t in enumerate(terms))


def format_number(x: float) -> str:
    """9 decimals like Jain's printed figures (0.74136507, 0.000438568), 9 significant digits outside [1e-4, 1e9)."""
    if x == 0:
        return "0"
    if not math.isfinite(x):
        return repr(x)
    if 1e-4 <= abs(x) < 1e9:
        return f"{x:.9f}".rstrip("0").rstrip(".")
    return f"{x:.9g}"


_num = format_number


class _Edge:
    """∂upper/∂lower between two shown nodes, possibly through folded (unnamed, single-use) nodes."""

    __slots__ = ("factor", "folded", "ops", "via")

    def __init__(self) -> None:
        self.factor = 0.0
        self.folded = 0  # how many nodes were folded into this factor
        self.ops: list[str] = []  # their ops (the first few)
        self.via: Value | None = None  # set when a factor ∂E/∂via = 1 was absorbed


class _Graph:
    """Everything explain needs, computed in one pass over output's graph."""

    def __init__(self, output: Value, wrt: Value, fold: bool | None):
        topo = topological_order(output)
        self.output, self.wrt = output, wrt
        index = {v: i for i, v in enumerate(topo)}
        if wrt not in index:
            raise ValueError(
                f"explain: wrt {self._describe(wrt)} is not in the graph of output {self._describe(output)} "
                f"({len(topo)} nodes); pass a Value that output was computed from")
        counts: dict[str, int] = {}
        for v in topo:
            if v.label:
                counts[v.label] = counts.get(v.label, 0) + 1
        self.index, self.label_counts = index, counts
        # the nodes that depend on wrt, inputs first
        dep = {wrt}
        for v in topo[index[wrt] + 1:]:
            if any(c in dep for c in v._prev):
                dep.add(v)
        self.dep = dep
        order = [v for v in topo if v in dep]
        # adjoints ∂output/∂v, local partials summed per (node, input), consumers inside dep
        self.adj: dict[Value, float] = dict.fromkeys(order, 0.0)
        self.adj[output] = 1.0
        self.local: dict[tuple[Value, Value], float] = {}
        self.consumers: dict[Value, list[Value]] = {v: [] for v in order}
        for v in reversed(order):
            if not v._prev:
                continue
            partials = v.local_grads()  # an overflowing derivative is an OverflowError, as in backward
            g = self.adj[v]
            for c, p in zip(v._prev, partials):
                if c not in dep:
                    continue
                key = (v, c)
                if key not in self.local:
                    self.local[key] = 0.0
                    self.consumers[c].append(v)
                self.local[key] += p
                self.adj[c] += g * p
        for cs in self.consumers.values():
            cs.reverse()  # in topological order (o1 before o2)
        if fold is None:  # fold unnamed nodes when the graph names some of its inner nodes (as nn.MLP does)
            fold = any(v.label and v._prev and v is not output for v in order)
        self.fold = fold
        if fold:
            self.shown = {v for v in order if v is output or v is wrt or v.label or len(self.consumers[v]) > 1}
        else:
            self.shown = set(order)
        # each folded node has one consumer: its path up to the next shown node is unique
        self.owner: dict[Value, tuple[Value, float, int, list[str]]] = {}
        for v in reversed(order):
            if v in self.shown:
                continue
            c = self.consumers[v][0]
            p = self.local[(c, v)]
            if c in self.shown:
                self.owner[v] = (c, p, 1, [v.op])
            else:
                top, f, n, ops = self.owner[c]
                self.owner[v] = (top, f * p, n + 1, ([v.op] + ops)[:6])
        self._parents: dict[Value, dict[Value, _Edge]] = {}

    @staticmethod
    def _describe(v: object) -> str:
        if not isinstance(v, Value):
            return type(v).__name__
        return f"{v.label!r} (data={v.data!r}, op={v.op!r})" if v.label else f"(data={v.data!r}, op={v.op!r})"

    def name(self, v: Value) -> str:
        """The label; label#index when two nodes share it; else op#index (index in topological order)."""
        i = self.index[v]
        if v.label:
            return v.label if self.label_counts[v.label] == 1 else f"{v.label}#{i}"
        return f"{_OP_WORDS.get(v.op, v.op or 'leaf')}#{i}"

    def term(self, v: Value) -> str:
        """How v appears inside a formula: its name, or its number for an unnamed leaf (a constant)."""
        return _num(v.data) if not v._prev and not v.label else self.name(v)

    def d(self, top: Value, v: Value) -> str:
        return f"∂{self.name(top)}/∂{self.name(v)}"

    def parents(self, k: Value) -> dict[Value, _Edge]:
        """The shown nodes just above k, each with ∂parent/∂k (through folded nodes)."""
        got = self._parents.get(k)
        if got is not None:
            return got
        got = {}
        for c in self.consumers[k]:
            p = self.local[(c, k)]
            if c in self.shown:
                top, f, n, ops = c, p, 0, []
            else:
                top, f, n, ops = self.owner[c]
                f = f * p
            e = got.get(top)
            if e is None:
                e = got[top] = _Edge()
            e.factor += f
            e.folded += n
            e.ops = (e.ops + ops)[:6]
        self._parents[k] = got
        return got


def _local_formula(g: _Graph, top: Value, v: Value) -> str | None:
    """The local derivative ∂top/∂v as a formula in the nodes' names; a sum when top uses v more than once (x·x)."""
    terms = [_formula_at(g, top, v, p) for p, c in enumerate(top._prev) if c is v]
    if not terms or None in terms:
        return None
    return "".join(t if k == 0 else f" − {t[1:]}" if t.startswith("−") else f" + {t}" for k, t in enumerate(terms))


def _formula_at(g: _Graph, top: Value, v: Value, p: int) -> str | None:
    """The local derivative of top with respect to its input at position p (which is v), as a formula."""
    return formula(top, p, g.name, g.term)


def formula(top: Value, position: int, name: Callable[[Value], str], term: Callable[[Value], str]) -> str:
    """∂top/∂(its input at `position`) in the derivations' notation (1 − out², out·(1 − out)).

    It is the op's own rule (tinygrad_bp.ops) applied to symbolic numbers: `name(top)` for the output,
    `term(c)` for each input c.
    """
    inputs = [codegen.Sym(("name", term(c)), c.data) for c in top._prev]
    partial = ops.partials(top._op, inputs, codegen.Sym(("name", name(top)), top.data))[position]
    return _math(partial.tree if isinstance(partial, codegen.Sym) else ("num", partial))[0]


_MATH = {"+": " + ", "-": " − ", "*": "·", "/": "/", "**": "^"}


def _math(tree: tuple) -> tuple[str, int]:
    """A rule's expression in the derivations' notation (1 − out², out·(1 − out)), with its precedence."""
    kind = tree[0]
    if kind == "name":
        return tree[1], 5
    if kind == "num":
        return (f"−{_num(-tree[1])}", 3) if tree[1] < 0 else (_num(tree[1]), 5)
    if kind == "where":  # a piecewise derivative: the piece that holds, and why
        (test, x, y, (u, w)), a, b = tree[1:4]
        x, y = _math(x)[0], _math(y)[0]
        le = test == "<="
        if (u <= w) if le else (u > w):
            return f"{_math(a)[0]} ({x} {'≤' if le else '>'} {y})", 0
        if u == u and w == w:
            return f"{_math(b)[0]} ({x} {'>' if le else '≤'} {y})", 0
        return f"{_math(b)[0]} ({x} is NaN, as in PyTorch)", 0
    if kind == "ln":
        return f"ln {_math(tree[1])[0]}", 3
    if kind == "neg":
        a, pa = _math(tree[1])
        return "−" + (a if pa >= 3 else f"({a})"), 3
    p = {"+": 1, "-": 1, "*": 2, "/": 2, "**": 4}[kind]
    if kind == "*" and tree[1] == tree[2] and _math(tree[1])[1] == 5:
        return f"{_math(tree[1])[0]}²", 4
    (a, pa), (b, pb) = _math(tree[1]), _math(tree[2])
    a = a if pa > p or (pa == p and kind != "**") else f"({a})"
    b = b if pb > p and (kind != "**" or pb == 5) else f"({b})"
    return f"{a}{_MATH[kind]}{b}", p


def _describe_edge(g: _Graph, low: Value, top: Value, e: _Edge, symbol: str) -> str:
    value = _num(e.factor)
    folded = ""
    if e.folded:
        ops = ", ".join(e.ops) + (", …" if e.folded > len(e.ops) else "")
        folded = f"through {e.folded} unnamed node{'s' if e.folded > 1 else ''}: {ops}"
    if e.via is not None:
        note = f"= {g.d(e.via, low)}, since {g.d(top, e.via)} = 1" + (f"; {folded}" if folded else "")
        return f"{symbol} = {value}   ({note})"
    if folded:
        return f"{symbol} = {value}   ({folded})"
    formula = _local_formula(g, top, low)
    if formula is None or formula == value:
        return f"{symbol} = {value}   ({top.op})"
    return f"{symbol} = {formula} = {value}   ({top.op})"


class _Writer:
    """Lines under a budget; counts what did not fit."""

    def __init__(self, max_lines: int):
        self.lines: list[str] = []
        self.max_lines = max_lines
        self.left_out = 0

    def room(self) -> bool:
        return len(self.lines) < self.max_lines

    def block(self, lines: list[str]) -> None:
        if self.room():
            self.lines.extend(lines)
        else:
            self.left_out += 1


def _block(head: str, rows: list[str]) -> list[str]:
    pad = " " * (len(head) + 1)
    return [f"{head} = {rows[0]}"] + [f"{pad}= {r}" for r in rows[1:]]


def _derivation(g: _Graph, max_lines: int, max_terms: int, max_factors: int,
                edges: list[tuple[Value, Value, _Edge, str]]) -> tuple[list[str], int]:
    """One block per shown node whose gradient the derivation uses, from wrt upwards."""
    out = g.output
    w = _Writer(max_lines)
    seen = {g.wrt}
    queue = deque([g.wrt])
    edge_seen: set[tuple[Value, Value]] = set()

    def need(v: Value) -> None:
        if v is not out and v not in seen:
            seen.add(v)
            queue.append(v)

    def use(low: Value, top: Value, e: _Edge, symbol: str) -> None:
        if (low, top) not in edge_seen:
            edge_seen.add((low, top))
            edges.append((low, top, e, symbol))

    while queue:
        k = queue.popleft()
        parents = g.parents(k)
        head = g.d(out, k)
        render = w.room()
        if len(parents) > 1:  # k feeds several nodes: the sum of its contributions
            items = list(parents.items())
            shown, rest = items[:max_terms], items[max_terms:]
            syms, vals, prods = [], [], []
            for top, e in shown:
                if top is out:
                    sym = f"{g.d(out, k)} (direct)"
                    syms.append(sym)
                    vals.append(_num(e.factor))
                    prods.append(_num(e.factor))
                    if render:
                        use(k, top, e, sym)
                else:
                    syms.append(f"{g.d(out, top)} · {g.d(top, k)}")
                    vals.append(f"{_num(g.adj[top])} · {_num(e.factor)}")
                    prods.append(_num(g.adj[top] * e.factor))
                    need(top)
                    if render:
                        use(k, top, e, g.d(top, k))
            if rest:
                rest_sum = sum((g.adj[t] if t is not out else 1.0) * e.factor for t, e in rest)
                syms.append(f"… ({len(rest)} more terms)")
                vals.append("…")
                prods.append(f"{_num(rest_sum)} (the other {len(rest)} terms)")
            w.block(_block(head, [" + ".join(syms), format_sum(vals), format_sum(prods), _num(g.adj[k])]))
            continue
        # one node above k: follow the chain while it does not branch
        path = [k]
        chain: list[_Edge] = []
        cur = k
        while cur is not out:
            ps = g.parents(cur)
            if len(ps) != 1:
                break
            (nxt, e), = ps.items()
            if len(chain) + 1 + (nxt is not out) > max_factors:  # the factors so far, this one, ∂out/∂nxt
                break
            path.append(nxt)
            chain.append(e)
            cur = nxt
        top = path[-1]
        factors: list[tuple[str, float]] = []
        links = list(zip(path[:-1], path[1:], chain))
        if top is out and len(links) >= 2 and links[-1][2].factor == 1.0:
            # E = ... + E_o1 + ...: ∂E/∂E_o1 = 1, so ∂E/∂out_o1 is ∂E_o1/∂out_o1
            low, via, e = links[-2]
            merged = _Edge()
            merged.factor, merged.folded, merged.ops, merged.via = e.factor, e.folded, e.ops, via
            links = links[:-2]
            sym = g.d(out, low)
            factors.append((sym, merged.factor))
            if render:
                use(low, out, merged, sym)
        elif top is not out:
            factors.append((g.d(out, top), g.adj[top]))
            need(top)
        for low, up, e in reversed(links):
            sym = g.d(up, low)
            factors.append((sym, e.factor))
            if render:
                use(low, up, e, sym)
        if len(factors) == 1 and top is out:
            continue  # the single factor is described among the factors
        w.block(_block(head, [" · ".join(s for s, _ in factors), " · ".join(_num(v) for _, v in factors),
                              _num(g.adj[k])]))
    return w.lines, w.left_out


def _delta_name(g: _Graph, net: Value) -> str:
    if net.label.startswith("net_") and g.label_counts.get(net.label) == 1:
        return f"δ_{net.label[4:]}"
    return f"δ[{g.name(net)}]"


def _partner(g: _Graph, net: Value, v: Value) -> str:
    """The factor ∂net/∂v by name: the weight paired with an input, the input paired with a weight."""
    formula = _local_formula(g, net, v)
    return formula if formula is not None else _num(g.local[(net, v)])


def _delta_form(g: _Graph, max_lines: int, max_terms: int) -> tuple[list[str], int]:
    """The textbook δ form, when every node wrt feeds is a neuron's net input."""
    out, wrt = g.output, g.wrt
    nets = g.consumers[wrt]
    if not nets or any(n.op != "net" for n in nets):
        return [], 0
    E = g.name(out)
    delta = {n: -g.adj[n] for n in g.consumers}  # δ = −∂E/∂net, defined for every node that depends on wrt
    w = _Writer(max_lines)
    w.block([f"δ form (δ = −∂{E}/∂net; ∂{E}/∂w_ji = −δ_j·a_i, δ_j = (Σ_k δ_k·w_kj)·∂out_j/∂net_j):"])
    head = g.d(out, wrt)
    if len(nets) == 1:
        n = nets[0]
        w.block(_block(f"  {head}", [f"−{_delta_name(g, n)} · {_partner(g, n, wrt)}",
                                     f"{format_negated(delta[n])} · {_num(g.local[(n, wrt)])}", _num(g.adj[wrt])]))
    else:
        syms = " + ".join(f"{_delta_name(g, n)}·{_partner(g, n, wrt)}" for n in nets[:max_terms])
        vals = format_sum([f"{_num(delta[n])}·{_num(g.local[(n, wrt)])}" for n in nets[:max_terms]])
        more = f" + … ({len(nets) - max_terms} more)" if len(nets) > max_terms else ""
        w.block(_block(f"  {head}", [f"−({syms}{more})", f"−({vals}{more})", _num(g.adj[wrt])]))
    seen = set(nets)
    queue = deque(nets)
    while queue:
        n = queue.popleft()
        cs = g.consumers[n]
        act = cs[0] if len(cs) == 1 and len(cs[0]._prev) == 1 else n  # the neuron's activation node, if any
        fprime = "" if act is n else f" · {g.d(act, n)}"
        fval = "" if act is n else f" · {_num(g.local[(act, n)])}"
        name = _delta_name(g, n)
        down = g.consumers[act]
        if down and all(m.op == "net" for m in down):  # hidden unit: δ_j = (Σ_k δ_k·w_kj)·f'(net_j)
            syms = " + ".join(f"{_delta_name(g, m)}·{_partner(g, m, act)}" for m in down[:max_terms])
            vals = format_sum([f"{_num(delta[m])}·{_num(g.local[(m, act)])}" for m in down[:max_terms]])
            more = f" + … ({len(down) - max_terms} more)" if len(down) > max_terms else ""
            w.block(_block(f"  {name}", [f"({syms}{more}){fprime}", f"({vals}{more}){fval}", _num(delta[n])]))
            for m in down[:max_terms]:
                if m not in seen:
                    seen.add(m)
                    queue.append(m)
        else:  # output unit (or one that feeds more than nets): δ = −∂E/∂out · ∂out/∂net
            if act is out and act is n:  # the output is this net itself: δ = −∂E/∂E
                rows = [f"−{g.d(out, n)}", _num(delta[n])]
            elif act is out:
                rows = [f"−1{fprime}", f"−1{fval}", _num(delta[n])]
            else:
                rows = [f"−{g.d(out, act)}{fprime}", f"{format_negated(g.adj[act])}{fval}", _num(delta[n])]
            w.block(_block(f"  {name}", rows))
    return w.lines, w.left_out


def explain(output: Value, wrt: Value, *, max_lines: int = 40, max_terms: int = 8, max_factors: int = 6,
            fold: bool | None = None) -> str:
    """The chain-rule derivation of d output / d wrt, named by the node labels, each factor with its number.

    Nodes without a label are named op#index (index in topological order).  When
    the graph labels some of its inner nodes (as nn.MLP does), unnamed nodes used
    once are folded into the factor above them (``fold=None``: decide so; True or
    False to force).  Each section stops after `max_lines` lines, a sum after
    `max_terms` terms and a product after `max_factors` factors (≥ 2; a longer chain
    goes on in the next product), saying what was left out.  Raises ValueError when wrt is not in the graph of output.
    """
    if not isinstance(output, Value):
        raise TypeError(f"explain: output must be a Value, got {type(output).__name__}")
    if not isinstance(wrt, Value):
        raise TypeError(f"explain: wrt must be a Value, got {type(wrt).__name__}")
    for name, v, low in (("max_lines", max_lines, 1), ("max_terms", max_terms, 1), ("max_factors", max_factors, 2)):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"explain: {name} must be an int >= {low}, got {v!r}")
    g = _Graph(output, wrt, fold)
    n_dep = len(g.dep) - 1  # g.dep holds wrt itself
    depend = "no node depends" if n_dep == 0 else "1 node depends" if n_dep == 1 else f"{n_dep} nodes depend"
    header = (f"{g.d(output, wrt)} = {_num(g.adj[wrt])}   ({g.name(output)} = {_num(output.data)} at "
              f"{g.name(wrt)} = {_num(wrt.data)}; {depend} on {g.name(wrt)})")
    if wrt is output:
        return header
    edges: list[tuple[Value, Value, _Edge, str]] = []
    lines, left = _derivation(g, max_lines, max_terms, max_factors, edges)
    text = [header, *([""] if lines else []), *lines]
    if left:
        text.append(f"… {left} more derivation blocks left out (max_lines={max_lines})")
    factor_lines = [_describe_edge(g, low, top, e, sym) for low, top, e, sym in edges[:max_lines]]
    if factor_lines:
        text += ["", "where", *(f"  {line}" for line in factor_lines)]
        if len(edges) > max_lines:
            text.append(f"  … {len(edges) - max_lines} more factors left out (max_lines={max_lines})")
    delta_lines, left = _delta_form(g, max_lines, max_terms)
    if delta_lines:
        text += ["", *delta_lines]
        if left:
            text.append(f"  … {left} more δ left out (max_lines={max_lines})")
    return "\n".join(text)

