"""The op table: each op's forward value and local derivatives, written once.

An op's `local` rule is plain arithmetic on its inputs and output, so one rule
runs on floats (`backward()`), on Values (`grad(..., create_graph=True)`), and on
symbolic numbers (`tinygrad_bp.codegen.Sym`), from which the fast code that runs
is generated and explain writes each derivative as a formula.  Adding an op is
adding one line to the table below.

Inputs come in groups (`layout`): one name per input, or `*` for a run of
inputs of equal length (a net's weights w₁…wₙ, then its inputs x₁…xₙ) and `?`
for an optional last one (its bias).  A rule gets one argument per group and
returns one partial per group: for a `*` group, a sequence (one partial per
input) or a single number that holds for each.  A forward gets the same groups.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Op", "Fold", "ln", "where", "value", "split", "partials", "pow_const", "OPS", "LEAF", "CONST", "ADD",
           "SUB", "MUL", "DIV", "NEG", "POW", "EXP", "LOG", "TANH", "SIGMOID", "RELU", "SUM", "NET", "is_real",
           "is_whole", "to_float"]


class Op(str):
    """An op, equal to its symbol ('+', 'tanh', ...: what micrograd keeps in `_op`), with its rules.

    forward(*groups) -> float raises, naming the op and values, outside the domain;
    local(*groups, out) -> partials; bounded: the partials are finite whenever the
    inputs and output are (so backward needs no overflow check for this op); params: the
    numbers built into the op (x ** k: (k,)); key: its name in the table ('' for an op made elsewhere).
    """

    def __new__(cls, name: str, forward: Callable[..., float] | None = None, local: Callable[..., Any] | None = None,
                layout: str = "x", bounded: bool = False) -> Op:
        op = super().__new__(cls, name)
        op.forward, op.local, op.layout, op.bounded, op.params, op.key = forward, local, layout, bounded, (), ""
        return op

    def __repr__(self) -> str:
        return f"Op({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:  # pickled by name: unpickling gives back this very op
        key = getattr(self, "exponent", None)
        if key is None:
            if OPS.get(self.key) is not self:
                import pickle

                raise pickle.PicklingError(f"Op {str(self)!r} is not one of the engine's ops: "
                                           "it cannot be pickled by name")
            key = self.key
        return (_named, (key,))


def _named(key: str | float) -> Op:
    return OPS[key] if isinstance(key, str) else pow_const(key)


def is_real(x: Any) -> bool:
    """An int, a float or a numpy integer/float scalar: not a bool (numpy's either), str or anything else."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def is_whole(n: Any) -> bool:
    """An int or a numpy integer: not a bool (numpy's bool_ is not Integral), float or str."""
    return isinstance(n, numbers.Integral) and not isinstance(n, bool)


_BIG = 1 << 1000


def to_float(x: Any, what: str) -> float:
    """x as a float (ints, numpy scalars, anything with __float__); TypeError/OverflowError naming `what`."""
    if type(x) is float:
        return x
    if type(x) is int and -_BIG < x < _BIG:
        return float(x)
    if isinstance(x, (str, bytes, complex)) or x is None or not hasattr(type(x), "__float__"):
        raise TypeError(f"{what}: expected an int or float, got {type(x).__name__} {x!r:.60}")
    try:
        f = float(x)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what}: expected an int or float, got {type(x).__name__} ({e})") from None
    except OverflowError:
        raise OverflowError(f"{what}: the {type(x).__name__} is too large for a float (|x| > 1.8e308)") from None
    if f - f and f == f and not (x == f):  # inf from a finite Decimal('1e400') or numpy longdouble
        raise OverflowError(f"{what}: the {type(x).__name__} {x!r:.40} is too large for a float (|x| > 1.8e308)")
    return f


def _fmt(x: float) -> str:
    return repr(float(x))


def ln(x: Any) -> Any:
    """ln for a float, or for a Value or symbolic number (a rule that uses it can be differentiated again)."""
    return math.log(x) if isinstance(x, (int, float)) else x.log()


def where(cond: Any, a: Any, b: Any) -> Any:
    """`a if cond else b`, kept as one expression when cond is symbolic (tinygrad_bp.codegen.Sym)."""
    return cond.where(a, b) if hasattr(cond, "where") else a if cond else b


def value(x: Any) -> Any:
    """The number behind a Value, for rules that branch on it (a symbolic number stays symbolic)."""
    return x if hasattr(x, "tree") else getattr(x, "data", x)


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
        op.exponent, op.params, op.key = k, (k,), "POW_CONST"  # one maker for the family
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


