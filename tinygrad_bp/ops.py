"""The op table: each op's forward value and local derivatives, written once.

An op's `local` rule is plain arithmetic on its inputs and output, so one rule
runs on floats (`backward()`), on Values (`grad(..., create_graph=True)`), and on
a `Sym`, a symbolic number that records the arithmetic.  From Syms the engine's
fast backward is generated as Python source at import (`generated_chain_rule`)
and explain writes each derivative as a formula: nothing is copied by hand.
`python -m tinygrad_bp.ops --show` prints the generated source.

Inputs come in groups (`layout`): one name per input, or `*` for a run of
inputs of equal length (a net's weights w₁…wₙ, then its inputs x₁…xₙ) and `?`
for an optional last one (its bias).  A rule gets one argument per group and
returns one partial per group: for a `*` group, a sequence (one partial per
input) or a single number that holds for each.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Op", "Sym", "Untraceable", "ln", "where", "value", "split", "partials", "pow_const", "OPS",
           "LEAF", "CONST", "ADD", "SUB", "MUL", "DIV", "NEG", "POW", "EXP", "LOG", "TANH", "SIGMOID", "RELU",
           "SUM", "NET", "generated_chain_rule", "forward_source", "python", "Fold"]


class Op(str):
    """An op, equal to its symbol ('+', 'tanh', ...: what micrograd keeps in `_op`), with its rules.

    forward(*groups) -> float raises, naming the op and values, outside the domain;
    local(*groups, out) -> partials; bounded: the partials are finite whenever the
    inputs and output are (so backward needs no overflow check for this op); params: the
    numbers built into the op (x ** k: (k,)).
    """

    def __new__(cls, name: str, forward: Callable[..., float] | None = None, local: Callable[..., Any] | None = None,
                layout: str = "x", bounded: bool = False) -> Op:
        op = super().__new__(cls, name)
        op.forward, op.local, op.layout, op.bounded, op.params = forward, local, layout, bounded, ()
        return op

    def __repr__(self) -> str:
        return f"Op({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:  # pickled by name: unpickling gives back this very op
        key = getattr(self, "exponent", None)
        if key is None:
            if OPS.get(getattr(self, "key", None)) is not self:
                import pickle

                raise pickle.PicklingError(f"Op {str(self)!r} is not one of the engine's ops: "
                                           "it cannot be pickled by name")
            key = self.key
        return (_named, (key,))


def _named(key: str | float) -> Op:
    return OPS[key] if isinstance(key, str) else pow_const(key)


def _fmt(x: float) -> str:
    return repr(float(x))


# --- symbolic numbers ---------------------------------------------------------------

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

    def __bool__(self) -> bool:
        if self.val is None:
            raise Untraceable("a rule branches on a symbolic number")
        return bool(self.val)


_PY: dict[str, Callable[..., Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow,
    "neg": operator.neg, "<=": operator.le, ">": operator.gt, "==": operator.eq, "<": operator.lt, ">=": operator.ge,
    "ln": math.log, "where": lambda c, a, b: a if c else b}


_TESTS = ("<=", ">", "==", "<", ">=")


def ln(x: Any) -> Any:
    """ln for a float, a Value or a Sym (a rule that uses it can be differentiated again)."""
    return math.log(x) if isinstance(x, (int, float)) else x.log()


def where(cond: Any, a: Any, b: Any) -> Any:
    """`a if cond else b`, kept as one expression when cond is symbolic."""
    return cond._op("where", cond, a, b) if isinstance(cond, Sym) else a if cond else b


def value(x: Any) -> Any:
    """The number behind a Value, for rules that branch on it (a Sym stays symbolic: see `where`)."""
    return x if isinstance(x, Sym) else getattr(x, "data", x)


# --- the ops ------------------------------------------------------------------------

def _div(a: float, b: float) -> float:
    if b == 0:
        raise ZeroDivisionError(f"/: division by zero ({_fmt(a)} / {_fmt(b)})")
    return a / b


def _pow(a: float, b: float) -> float:
    if a < 0 and not float(b).is_integer():
        raise ValueError(f"**: negative base {_fmt(a)} to the fractional power {_fmt(b)} is not real")
    if a == 0 and b < 0:
        raise ZeroDivisionError(f"**: zero base to the negative power {_fmt(b)}")
    try:
        return float(a) ** b
    except OverflowError:
        raise OverflowError(f"**: {_fmt(a)} ** {_fmt(b)} overflows a float") from None


def _d_pow(a: Any, b: Any, out: Any) -> tuple[Any, Any]:
    if value(a) == 0 and value(b) > 0:  # out = 0, and out·ln a → 0 as a → 0+ (as PyTorch takes it)
        if value(b) < 1:
            raise ValueError(f"**: the derivative of x ** {_fmt(value(b))} is infinite at x = 0")
        return (b * a ** (b - 1), 0.0)
    if value(a) <= 0:
        raise ValueError(f"**: the base must be > 0 when the exponent is a Value (d/db a**b = a**b * ln a), "
                         f"got {_fmt(value(a))}")
    return (b * a ** (b - 1), out * ln(a))


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        raise OverflowError(f"exp: exp({_fmt(x)}) overflows a float (inputs above ~709.78)") from None


def _log(x: float) -> float:
    if x <= 0:
        raise ValueError(f"log: input must be > 0, got {_fmt(x)}")
    return math.log(x)


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)  # no overflow for very negative x
    return e / (1.0 + e)


class Fold:
    """A forward for runs of inputs: `each` folded over them from 0.0, then `last` with the optional input.

    net = Σ w_i·x_i + b is Fold(lambda s, w, x: s + w * x, lambda s, b: s + b).
    """

    def __init__(self, each: Callable[..., Any], last: Callable[[Any, Any], Any] | None = None):
        self.each, self.last = each, last

    def __call__(self, *groups: Any) -> Any:
        s = 0.0
        for items in zip(*(groups[:-1] if self.last else groups)):
            s = self.each(s, *items)
        return s if self.last is None or groups[-1] is None else self.last(s, groups[-1])


# The table, in the order backward tests for them (the most frequent in networks first).
LEAF = Op("")   # a Value made by the user
CONST = Op("")  # a number written in an expression (x * 2): a leaf nobody asks the gradient of
NET = Op("net", Fold(lambda s, w, x: s + w * x, lambda s, b: s + b), lambda ws, xs, b, out: (xs, ws, 1.0), "**?",
         bounded=True)  # a neuron's net input Σ w_i·x_i + b
MUL = Op("*", operator.mul, lambda a, b, out: (b, a), "ab", bounded=True)
ADD = Op("+", operator.add, lambda a, b, out: (1.0, 1.0), "ab", bounded=True)
TANH = Op("tanh", math.tanh, lambda x, out: (1.0 - out * out,), bounded=True)
# relu: NaN stays NaN and passes its gradient on (NaN <= 0 is false), as in PyTorch
RELU = Op("relu", lambda x: where(x <= 0, 0.0, x), lambda x, out: (where(value(x) <= 0, 0.0, 1.0),), bounded=True)
SIGMOID = Op("sigmoid", _sigmoid, lambda x, out: (out * (1.0 - out),), bounded=True)
SUB = Op("-", operator.sub, lambda a, b, out: (1.0, -1.0), "ab", bounded=True)
SUM = Op("sum", Fold(lambda s, x: s + x), lambda xs, out: (1.0,), "*", bounded=True)
NEG = Op("neg", operator.neg, lambda x, out: (-1.0,), bounded=True)
EXP = Op("exp", _exp, lambda x, out: (out,), bounded=True)
DIV = Op("/", _div, lambda a, b, out: (1.0 / b, -out / b), "ab")
LOG = Op("log", _log, lambda x, out: (1.0 / x,))
POW = Op("**", _pow, _d_pow, "ab")
OPS: dict[str, Op] = {}
for _key, _op in dict(globals()).items():
    if isinstance(_op, Op):
        _op.key = _key
        OPS[_key] = _op

_POW_CONST: dict[float, Op] = {}


def pow_const(k: float) -> Op:
    """x ** k for a constant k (d/dx = k·x^(k−1)), one op per k."""
    op = _POW_CONST.get(k)
    if op is None:
        def local(x: Any, out: Any) -> tuple[Any]:
            if k == 0 or k == 1:  # x ** 0 = 1 everywhere (also at 0); x ** 1 = x
                return (float(k),)
            if k < 1 and value(x) == 0:
                raise ValueError(f"**: the derivative of x ** {_fmt(k)} is infinite at x = 0")
            return (k * x ** (k - 1),)

        op = Op("**", lambda x: _pow(x, k), local)
        op.exponent, op.params = k, (k,)
        if k and k == k and len(_POW_CONST) < 256:  # not 0.0 (== -0.0, whose derivative has the other sign)
            _POW_CONST[k] = op
    return op


# --- groups of inputs, and the partials as floats ------------------------------------

def split(op: Op, inputs: Sequence[Any]) -> list[Any]:
    """The inputs of a node in op's groups (see the module docstring)."""
    stars = op.layout.count("*")
    if not stars:
        return list(inputs)
    n = len(inputs) // stars
    groups: list[Any] = [inputs[i * n:(i + 1) * n] for i in range(stars)]
    if "?" in op.layout:
        groups.append(inputs[-1] if len(inputs) % stars else None)
    return groups


def partials(op: Op, inputs: Sequence[Any], out: Any) -> list[Any]:
    """∂out/∂input for each input, in input order: op's rule applied group by group."""
    result: list[Any] = []
    for kind, group, p in zip(op.layout, split(op, inputs), op.local(*split(op, inputs), out)):
        if kind == "*":
            result.extend(p if isinstance(p, (list, tuple)) else [p] * len(group))
        elif group is not None or kind != "?":
            result.append(p)
    return result


# --- the backward pass, generated from the rules --------------------------------------

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
    spans = ["prev[:n]"] + [f"prev[{i}*n:{i + 1}*n]".replace("1*n", "n") for i in range(1, stars)]
    lines += [f"n = len(prev) // {stars}", f"for {', '.join(names[:stars])} in zip({', '.join(spans)}):"]
    lines += ["    " + line for line in adds[:stars]]
    if "?" in op.layout:
        lines += [f"if len(prev) % {stars}:", "    " + adds[-1]]
    return lines


def generated_chain_rule() -> str:
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
    lines += ["        else:", "            for c, p in zip(prev, checked(v)):", "                c.grad += g * p"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--show"]:
        sys.exit("usage: python -m tinygrad_bp.ops --show   (prints the generated backward pass)")
    print(generated_chain_rule(), end="")
