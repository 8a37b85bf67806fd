"""Python source generated from the op table, and installed over the engine's reference versions at import.

Each op's rules are plain arithmetic (tinygrad_bp.ops).  Run on a `Sym`, a
symbolic number, a rule records its arithmetic as an expression tree, which is
printed as Python.  From those expressions this module writes backward()'s chain
rule with one inlined case per op, each op's node maker and Value's op methods
-- the same steps as engine.py's readable `chain_rule`, `make` and `node`, with
the op's own arithmetic written in -- and installs them.  The code that runs:
`python -m tinygrad_bp.generated`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

from tinygrad_bp import engine
from tinygrad_bp.engine import Value
from tinygrad_bp.ops import ADD, DIV, EXP, LOG, MUL, NEG, OPS, RELU, SIGMOID, SUB, TANH, Op, pow_const

__all__ = ["Sym", "Untraceable", "python", "forward_source", "chain_rule_source", "make_source", "GENERATED",
           "REFERENCE", "METHODS"]


class Untraceable(Exception):
    """A rule branched on a Sym that has no value: it cannot be written as one expression."""


class Sym:
    """A symbolic number: the expression tree of the arithmetic done on it (and its value, if known)."""

    __slots__ = ("tree", "val")
    __array_ufunc__ = None

    def __init__(self, tree: Any, val: float | None = None):
        self.tree, self.val = tree, val

    def _op(self, name: str, *args: Any) -> Sym:
        vals = [a.val if isinstance(a, Sym) else a for a in args]
        val = None if None in vals else _PY[name](*vals)
        tree = (name, *[a.tree if isinstance(a, Sym) else ("num", a) for a in args])
        return Sym(tree + (tuple(vals),) if name in _TESTS else tree, val)  # a test keeps its operands

    __add__ = lambda a, b: a._op("+", a, b)
    __radd__ = lambda a, b: a._op("+", b, a)
    __sub__ = lambda a, b: a._op("-", a, b)
    __rsub__ = lambda a, b: a._op("-", b, a)
    __mul__ = lambda a, b: a._op("*", a, b)
    __rmul__ = lambda a, b: a._op("*", b, a)
    __truediv__ = lambda a, b: a._op("/", a, b)
    __rtruediv__ = lambda a, b: a._op("/", b, a)
    __pow__ = lambda a, b: a._op("**", a, b)
    __rpow__ = lambda a, b: a._op("**", b, a)
    __neg__ = lambda a: a._op("neg", a)
    __le__ = lambda a, b: a._op("<=", a, b)
    __gt__ = lambda a, b: a._op(">", a, b)
    __lt__ = lambda a, b: a._op("<", a, b)
    __ge__ = lambda a, b: a._op(">=", a, b)
    __eq__ = lambda a, b: a._op("==", a, b)  # symbolic too: a branch on it is Untraceable, never silently False
    __hash__ = None  # type: ignore[assignment]

    def __float__(self) -> float:
        if self.val is None:
            raise Untraceable("a rule reads the value of a symbolic number")
        return float(self.val)

    def log(self) -> Sym:
        return self._op("ln", self)

    def where(self, a: Any, b: Any) -> Sym:
        return self._op("where", self, a, b)

    def __bool__(self) -> bool:
        if self.val is None:
            raise Untraceable("a rule branches on a symbolic number")
        return bool(self.val)


_PY: dict[str, Callable[..., Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow,
    "neg": operator.neg, "<=": operator.le, ">": operator.gt, "==": operator.eq, "<": operator.lt, ">=": operator.ge,
    "ln": math.log, "where": lambda c, a, b: a if c else b}


_TESTS = ("<=", ">", "==", "<", ">=")


_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "**": 4}


def python(tree: Any) -> tuple[str, int]:
    """Python source for a Sym's tree, with its precedence (parentheses only where the tree needs them)."""
    kind = tree[0]
    if kind == "name":
        return tree[1], 5
    if kind == "num":
        if not math.isfinite(tree[1]):
            raise Untraceable(f"no Python literal for {tree[1]!r}")
        return repr(float(tree[1])), 3 if tree[1] < 0 else 5
    args = [python(t) for t in tree[1:4 if kind == "where" else 3]]
    if kind == "where":
        return f"({args[1][0]} if {args[0][0]} else {args[2][0]})", 5
    if kind in _TESTS:
        return f"{args[0][0]} {kind} {args[1][0]}", 0
    if kind == "ln":
        return f"_ln({args[0][0]})", 5
    p = _PREC[kind]
    if kind == "neg":
        return "-" + (args[0][0] if args[0][1] >= p else f"({args[0][0]})"), p
    (a, pa), (b, pb) = args
    right = kind == "**"  # the one right-associative operator
    a = a if pa > p or (pa == p and not right) else f"({a})"
    b = b if pb > p or (pb == p and right) else f"({b})"
    return f"{a} {kind} {b}", p


def forward_source(f: Callable[..., Any], args: Sequence[str]) -> str | None:
    """A forward function (or a Fold's step) as one Python expression of the named arguments (None: it
    branches or calls out)."""
    try:
        out = f(*[Sym(("name", a)) for a in args])
        return python(out.tree)[0] if isinstance(out, Sym) else None
    except (Untraceable, TypeError):
        return None


def _add(target: str, p: Any) -> str:
    """`target.grad += g * p`, without multiplying by a constant ±1 (g * 1.0 is g, bit for bit)."""
    if not isinstance(p, Sym) and p in (1.0, -1.0):
        return f"{target}.grad {'+' if p > 0 else '-'}= g"
    return f"{target}.grad += {python(('*', ('name', 'g'), p.tree if isinstance(p, Sym) else ('num', p)))[0]}"


def _case(op: Op) -> list[str] | None:
    """The lines that add g·∂v/∂c to each input c of a node v made by op (None: no single expression)."""
    stars = op.layout.count("*")
    if not stars:  # one name per input: a, b = prev
        names = list(op.layout)
        unpack = [f"{', '.join(names)}{',' if len(names) == 1 else ''} = prev"]
    else:  # runs of equal length, looped over together as e0, e1, ...
        names = [f"e{i}" if kind == "*" else "prev[-1]" for i, kind in enumerate(op.layout)]
        unpack = []
    try:
        ps = op.local(*[Sym(("name", f"{name}.data")) for name in names], Sym(("name", "v.data")))
        adds = [_add(name, p) for name, p in zip(names, ps)]
    except Untraceable:
        return None
    if not stars:
        return unpack + adds
    lines = ["if not g:  # adds ±0 everywhere: no bit changes when every input is finite", "    s = 0.0",
             "    for c in prev:", "        s += c.data", "    if s - s == 0.0:", "        continue"]
    if stars == 1 and "?" not in op.layout:
        return lines + ["for e0 in prev:", "    " + adds[0]]
    spans = ["prev[:n]" if stars == 1 else "prev"] + [f"prev[{i}*n:{i + 1}*n]".replace("1*n", "n")
                                                      for i in range(1, stars)]  # zip stops after n
    lines += [f"n = len(prev) // {stars}", f"for {', '.join(names[:stars])} in zip({', '.join(spans)}):"]
    lines += ["    " + line for line in adds[:stars]]
    if "?" in op.layout:
        lines += [f"if len(prev) % {stars}:", "    " + adds[-1]]
    return lines


def chain_rule_source() -> str:
    """Source of `chain_rule(nodes)`: for each interior node, latest first, add g·∂v/∂c to each input c.

    Each `bounded` op whose rule is one expression gets its own inlined case (the
    zero-gradient skip is valid for those: finite inputs give finite partials); the
    others go through `checked(v)`, the engine's partials with its overflow check.
    """
    lines = ["def chain_rule(nodes):", "    for v in reversed(nodes):",
             "        op, g, prev = v._op, v.grad, v._prev"]
    for key, op in OPS.items():
        case = _case(op) if op.bounded and op.local else None
        if case:
            lines += [f"        {'elif' if len(lines) > 3 else 'if'} op is {key}:", *(f"            {c}" for c in case)]
    lines += ["        elif len(prev) == 1:  # another one-input op (x ** k): its rule, checked when not finite",
              "            x, = prev", "            try:", "                p, = op.local(x.data, v.data)",
              "            except OverflowError:", "                p = checked(v)[0]", "            if p - p:",
              "                p = checked(v)[0]", "            x.grad += g * p",
              "        else:", "            for c, p in zip(prev, checked(v)):", "                c.grad += g * p"]
    return "\n".join(lines) + "\n"


METHODS = {  # Python's name for each op method, the op, and its inputs in order
    "__add__": (ADD, "self, other"), "__radd__": (ADD, "other, self"), "__sub__": (SUB, "self, other"),
    "__rsub__": (SUB, "other, self"), "__mul__": (MUL, "self, other"), "__rmul__": (MUL, "other, self"),
    "__truediv__": (DIV, "self, other"), "__rtruediv__": (DIV, "other, self"), "__neg__": (NEG, "self"),
    "exp": (EXP, "self"), "log": (LOG, "self"), "tanh": (TANH, "self"), "sigmoid": (SIGMOID, "self"),
    "relu": (RELU, "self"),
}


def make_source(op: Op, head: list[str], names: list[str] | None = None, ref: str | None = None) -> list[str]:
    """`make` for one op as straight lines: its forward inlined where it is one expression.  With ref="op", for
    a family of ops (x ** k, one op per k), the code names the op by the maker's argument and calls its forward."""
    key, stars, fold = ref or op.key, op.layout.count("*"), op.forward
    if not stars:
        unpack = names is None
        names = list(op.layout) if unpack else names
        datas = ", ".join(f"{x}.data" for x in names)
        inline = None if ref else forward_source(fold, [f"{x}.data" for x in names])
        data = ([f"{', '.join(names)}{',' if len(names) == 1 else ''} = prev"] if unpack else []) + [
                f"data = {inline or (f'op.forward({datas})' if ref else f'{key}_forward({datas})')}"]
    else:
        es = [f"e{i}" for i in range(stars)]
        spans = ", ".join(["prev", "prev[n:2 * n]", "prev[2 * n:3 * n]"][:stars])  # zip stops after n
        data = ([f"n = len(prev) // {stars}"] if stars > 1 else []) + ["s = 0.0"]
        data += [f"for {', '.join(es)} in {spans if stars == 1 else f'zip({spans})'}:",
                 f"    s = {forward_source(fold.each, ['s', *[f'{e}.data' for e in es]])}"]
        if fold.last:
            data += [f"if len(prev) % {stars}:", f"    s = {forward_source(fold.last, ['s', 'prev[-1].data'])}"]
        data += ["data = s"]
    return head + [f"    {line}" for line in data + [
        "if data - data:", f"    _refuse_overflow({key}, prev, data)", "out = _new(Value)", "out.data = data",
        "out.grad = 0.0", "out._label = label", f"out._op = {key}", "out._prev = prev", "return out"]] + ["", ""]


def _method_source(name: str, op: Op, inputs: str) -> list[str]:
    lift = []
    if "other" in inputs:
        lift = ["    if type(other) is float:  # a constant leaf, made as _lift makes it", "        c = _new(Value)",
                "        c.data = other", "        c.grad = 0.0", '        c._label = ""', "        c._op = CONST",
                "        c._prev = ()", "        other = c", "    elif type(other) is not Value:",
                f"        other = _lift(other, {op.key})"]
    return make_source(op, [f"def {name}(self{', other' if lift else ''}):", *lift, f"    prev = ({inputs},)",
                             '    label = ""'], inputs.split(", "))
# backward()'s chain rule, `make` for each op and the op methods, compiled and installed over engine's
_MADE = [op for op in OPS.values() if op.forward]
GENERATED = "\n".join([chain_rule_source(), *(line for op in _MADE for line in make_source(
    op, [f"def make_{op.key}(prev, label, op=None):"])), *make_source(
    pow_const(2.0), ["def make_POW_CONST(prev, label, op):"], ref="op"), *(
    line for n, m in METHODS.items() for line in _method_source(n, *m))])
exec(compile(GENERATED, "<generated by tinygrad_bp.codegen>", "exec"), _namespace := {
    **OPS, **{f"{k}_forward": op.forward for k, op in OPS.items()}, "checked": engine.checked, "Value": Value,
    "_new": object.__new__, "_lift": engine._lift, "_refuse_overflow": engine._refuse_overflow})
REFERENCE = {"chain_rule": engine.chain_rule, **{name: getattr(Value, name) for name in METHODS}}  # engine.py's own
engine.chain_rule = _namespace["chain_rule"]
engine.BUILD.update({op.key: _namespace[f"make_{op.key}"] for op in _MADE}, POW_CONST=_namespace["make_POW_CONST"])
for _name in METHODS:
    setattr(Value, _name, _namespace[_name])
