"""Value: a scalar that records the computation graph, and the chain rule over it.

Every operation is an `Op`: its forward value and its local derivatives
(∂out/∂input for each input) are written side by side, once.  The same local
rule serves the float pass of `Value.backward()` and the graph-building pass of
`grad(..., create_graph=True)`: rules use only arithmetic and the helpers
`_ln`, `_data`, so they work on floats and on Values alike.

Speed (see benchmarks/): nodes are built without `__init__` (`_node`) and
without storing a label (`label` reads '' until one is set); a net
node's value is read straight from its inputs (`_net_value`); backward orders
the graph without a set (a visited node's grad is this pass's `mark`) and
inlines the rules of net, *, +, tanh, relu, sigmoid, - and sum -- the same products in the
same order as the generic rule, so gradients are bit for bit those of
`grad()` (one exception, at rounding level: a Value that is a net's weight and,
at another position, its input).  A net whose gradient is ±0 is skipped when
that changes no bit (finite inputs; see 'Skipping a net'): a dead ReLU's whole
subnetwork costs one check per net.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = ["Value", "Op", "grad", "topological_order"]

Number = int | float


class Op:
    """One operation: `forward(*input_data) -> float` and `local(*inputs, out) -> partials`."""

    __slots__ = ("name", "forward", "local")

    def __init__(self, name: str, forward: Callable[..., float], local: Callable[..., Sequence[Any]]):
        self.name = name
        self.forward = forward
        self.local = local

    def __repr__(self) -> str:
        return f"Op({self.name!r})"

    def __reduce__(self) -> tuple[Any, ...]:  # pickled by name: unpickling gives back this very op
        if _OPS.get(self.name) is not self:
            import pickle

            raise pickle.PicklingError(f"Op {self.name!r} is not one of the engine's ops: it cannot be pickled "
                                       "by name (its functions may be lambdas)")
        return (_op_named, (self.name,))


def _data(x: Any) -> float:
    """The float behind a Value or a number (for rules that branch on a value)."""
    return x.data if isinstance(x, Value) else x


def _ln(x: Any) -> Any:
    """ln for a float or a Value (so that a local rule is differentiable again)."""
    return x.log() if isinstance(x, Value) else math.log(x)


def _fmt(x: float) -> str:
    return repr(float(x))


# --- the ops: forward value and local derivatives, side by side ------------------

# forward of +, -, *, neg: the operator module's a + b, a - b, a * b, -x (builtins: no Python call)
ADD = Op("+", operator.add, lambda a, b, out: (1.0, 1.0))

SUB = Op("-", operator.sub, lambda a, b, out: (1.0, -1.0))

MUL = Op("*", operator.mul, lambda a, b, out: (b, a))


def _div(a, b):
    if b == 0:
        raise ZeroDivisionError(f"/: division by zero ({_fmt(a)} / {_fmt(b)})")
    return a / b


DIV = Op("/", _div, lambda a, b, out: (1.0 / b, -out / b))

NEG = Op("neg", operator.neg, lambda x, out: (-1.0,))


def _pow(a, b):
    if a < 0 and not float(b).is_integer():
        raise ValueError(f"**: negative base {_fmt(a)} to the fractional power {_fmt(b)} is not real")
    if a == 0 and b < 0:
        raise ZeroDivisionError(f"**: zero base to the negative power {_fmt(b)}")
    try:
        return float(a) ** b
    except OverflowError:
        raise OverflowError(f"**: {_fmt(a)} ** {_fmt(b)} overflows a float") from None


def _d_pow(a, b, out):
    if _data(a) == 0 and _data(b) > 0:  # out = 0; out·ln a → 0 as a → 0+ (as PyTorch takes it)
        if _data(b) < 1:
            raise ValueError(f"**: the derivative of x ** {_fmt(_data(b))} is infinite at x = 0")
        return (b * a ** (b - 1), 0.0)
    if _data(a) <= 0:
        raise ValueError(
            f"**: the base must be > 0 when the exponent is a Value (d/db a**b = a**b * ln a), got {_fmt(_data(a))}"
        )
    return (b * a ** (b - 1), out * _ln(a))


POW = Op("**", _pow, _d_pow)


def _d_pow_const(k: float) -> Callable[..., tuple]:
    def local(x, out):
        if k == 1:
            return (1.0,)
        if k == 0:  # x ** 0 = 1 everywhere, also at x = 0
            return (0.0,)
        if k < 1 and _data(x) == 0:
            raise ValueError(f"**: the derivative of x ** {_fmt(k)} is infinite at x = 0")
        return (k * x ** (k - 1),)
    return local


class PowConst(Op):
    """x ** k for a constant exponent k: d/dx = k·x^(k−1)."""

    __slots__ = ("exponent",)

    def __init__(self, k: float):
        self.exponent = k
        super().__init__("**", lambda x: _pow(x, k), _d_pow_const(k))

    def __repr__(self) -> str:
        return f"PowConst({self.exponent!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_pow_const, (self.exponent,))


_POW_CONST: dict[float, PowConst] = {}


def _pow_const(k: float) -> PowConst:
    """The PowConst for exponent k, made once per k (a loss builds x ** 2 for every sample)."""
    op = _POW_CONST.get(k)
    if op is None:
        op = PowConst(k)
        if k and k == k and len(_POW_CONST) < 256:  # not 0.0 (== -0.0, whose derivative has the other sign)
            _POW_CONST[k] = op
    return op


def _exp(x):
    try:
        return math.exp(x)
    except OverflowError:
        raise OverflowError(f"exp: exp({_fmt(x)}) overflows a float (inputs above ~709.78)") from None


EXP = Op("exp", _exp, lambda x, out: (out,))


def _log(x):
    if x <= 0:
        raise ValueError(f"log: input must be > 0, got {_fmt(x)}")
    return math.log(x)


LOG = Op("log", _log, lambda x, out: (1.0 / x,))

TANH = Op("tanh", math.tanh, lambda x, out: (1.0 - out * out,))


def _sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)  # no overflow for very negative x
    return e / (1.0 + e)


SIGMOID = Op("sigmoid", _sigmoid, lambda x, out: (out * (1.0 - out),))

# relu: NaN stays NaN and passes its gradient on (NaN <= 0 is false), as in PyTorch
RELU = Op("relu", lambda x: 0.0 if x <= 0 else x, lambda x, out: (0.0 if _data(x) <= 0 else 1.0,))


def _sum(*xs):
    return sum(xs, 0.0)


SUM = Op("sum", _sum, lambda *inputs: (1.0,) * (len(inputs) - 1))


def _net(*inputs):
    # inputs = w_1..w_n, x_1..x_n[, b]
    n = len(inputs) // 2
    s = 0.0
    for w, x in zip(inputs[:n], inputs[n:2 * n]):
        s += w * x
    return s + inputs[-1] if len(inputs) % 2 else s


def _d_net(*inputs_out):
    # ∂net/∂w_i = x_i, ∂net/∂x_i = w_i, ∂net/∂b = 1
    inputs = inputs_out[:-1]
    n = len(inputs) // 2
    partials = list(inputs[n:2 * n]) + list(inputs[:n])
    if len(inputs) % 2:
        partials.append(1.0)
    return partials


def _net_value(ws, xs, b):
    # _net read straight from the Values' .data (the fast path of building a net node; same products,
    # same order): ws and xs are sequences of Values of the same length, b a Value or None
    s = 0.0
    for w, x in zip(ws, xs):
        s += w.data * x.data
    return s if b is None else s + b.data


NET = Op("net", _net, _d_net)

_OPS = {op.name: op for op in (ADD, SUB, MUL, DIV, NEG, POW, EXP, LOG, TANH, SIGMOID, RELU, SUM, NET)}


def _op_named(name: str) -> Op:
    return _OPS[name]


# --- Value ---------------------------------------------------------------------

def _check_number(x: Any, what: str) -> float:
    if type(x) is float:
        return x
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


def _is_real(x: Any) -> bool:
    """An int, a float or a numpy integer/float scalar: not a bool (numpy's either), str or anything else."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _is_whole(n: Any) -> bool:
    """An int or a numpy integer: not a bool (numpy's bool_ is not Integral), float or str."""
    return isinstance(n, numbers.Integral) and not isinstance(n, bool)


def _check_label(label: Any) -> str:
    if not isinstance(label, str):
        raise TypeError(f"Value: label must be a str, got {type(label).__name__} {label!r:.40}")
    return label


def _binary_method(op: Op) -> Callable[[Value, Any], Value]:
    """`self <op> other` for + and *, the hottest ops: the constant's leaf and the node built inline
    (what _lift and _node do, without their calls)."""
    forward = op.forward

    def method(self: Value, other: Value | Number) -> Value:
        if type(other) is float:
            c = _new(Value)
            c.data = other
            c.grad = 0.0
            c._op = None
            c._prev = ()
            other = c
        elif type(other) is not Value:
            other = _lift(other, op.name)
        d = forward(self.data, other.data)
        if d - d:  # inf or NaN
            _refuse_overflow(op, d, (self, other))
        out = _new(Value)
        out.data = d
        out.grad = 0.0
        out._op = op
        out._prev = (self, other)
        return out

    method.__name__ = {"+": "__add__", "*": "__mul__"}.get(op.name, "__binary__")
    method.__qualname__ = f"Value.{method.__name__}"
    method.__doc__ = f"self {op.name} other, as one node (a number becomes a constant leaf)."
    return method


class Value:
    """A scalar in a computation graph: `.data`, `.grad`, `.label`, `.op`."""

    __slots__ = ("data", "grad", "_label", "_op", "_prev", "__weakref__")
    __array_ufunc__ = None  # numpy scalars on the left defer to our reflected ops

    def __init__(self, data: Number, label: str = ""):
        self.data = _check_number(data, "Value")
        self.grad = 0.0
        self._label = label if type(label) is str else _check_label(label)
        self._op: Op | None = None
        self._prev: tuple[Value, ...] = ()

    @property
    def label(self) -> str:
        """The node's name in drawings and explanations ('' unless set; nodes are built without storing one)."""
        try:
            return self._label
        except AttributeError:
            return ""

    @label.setter
    def label(self, label: str) -> None:
        self._label = _check_label(label)

    @property
    def op(self) -> str:
        """'' for a leaf, else the op's name ('+', '*', 'tanh', ...)."""
        return "" if self._op is None else self._op.name

    @property
    def children(self) -> tuple[Value, ...]:
        """The inputs of the op that made this Value (empty for a leaf)."""
        return self._prev

    def local_grads(self) -> list[float]:
        """∂self/∂input for each input, as floats, evaluated at the current data (OverflowError as in backward)."""
        if self._op is None:
            return []
        return list(_local_floats(self))

    def __repr__(self) -> str:
        return f"Value(data={self.data!r}, grad={self.grad!r}, op={self.op!r}, label={self.label!r})"

    # --- building nodes ---
    @staticmethod
    def _apply(op: Op, *inputs: Value) -> Value:
        if len(inputs) == 1:
            data = op.forward(inputs[0].data)
        elif op is NET:
            n = len(inputs) // 2
            data = _net_value(inputs[:n], inputs[n:2 * n], inputs[-1] if len(inputs) % 2 else None)
        else:
            data = op.forward(*[v.data for v in inputs])
        return _node(op, data, inputs)

    __add__ = _binary_method(ADD)

    def __radd__(self, other: Number) -> Value:
        other = _lift(other, "+")
        return _node(ADD, ADD.forward(other.data, self.data), (other, self))

    def __sub__(self, other: Value | Number) -> Value:
        if type(other) is not Value:
            other = _lift(other, "-")
        return _node(SUB, SUB.forward(self.data, other.data), (self, other))

    def __rsub__(self, other: Number) -> Value:
        other = _lift(other, "-")
        return _node(SUB, SUB.forward(other.data, self.data), (other, self))

    __mul__ = _binary_method(MUL)

    def __rmul__(self, other: Number) -> Value:
        other = _lift(other, "*")
        return _node(MUL, MUL.forward(other.data, self.data), (other, self))

    def __truediv__(self, other: Value | Number) -> Value:
        return Value._apply(DIV, self, _lift(other, "/"))

    def __rtruediv__(self, other: Number) -> Value:
        return Value._apply(DIV, _lift(other, "/"), self)

    def __pow__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):
            return Value._apply(POW, self, other)
        return Value._apply(_pow_const(_check_number(other, "**")), self)

    def __rpow__(self, other: Number) -> Value:
        return Value._apply(POW, _lift(other, "**"), self)

    def __neg__(self) -> Value:
        return _node(NEG, NEG.forward(self.data), (self,))

    def __pos__(self) -> Value:
        return self

    def exp(self) -> Value:
        return _node(EXP, EXP.forward(self.data), (self,))

    def log(self) -> Value:
        return _node(LOG, LOG.forward(self.data), (self,))

    def tanh(self) -> Value:  # _node inlined
        out = _new(Value)
        out.data = TANH.forward(self.data)
        out.grad = 0.0
        out._op = TANH
        out._prev = (self,)
        return out

    def sigmoid(self) -> Value:
        return _node(SIGMOID, SIGMOID.forward(self.data), (self,))

    def relu(self) -> Value:
        return _node(RELU, RELU.forward(self.data), (self,))

    @staticmethod
    def sum(values: Iterable[Value | Number]) -> Value:
        """Σ values as ONE node with n inputs (∂/∂x_i = 1)."""
        inputs = tuple([v if type(v) is Value else _lift(v, "sum") for v in values])
        return _node(SUM, SUM.forward(*[v.data for v in inputs]), inputs)

    @staticmethod
    def net(weights: Sequence[Value], inputs: Sequence[Value | Number], bias: Value | Number | None = None) -> Value:
        """A neuron's net input Σ w_i·x_i + b as ONE node (∂/∂w_i = x_i, ∂/∂x_i = w_i, ∂/∂b = 1)."""
        if len(weights) != len(inputs):
            raise ValueError(f"net: {len(weights)} weights but {len(inputs)} inputs")
        ws = tuple(_lift(w, "net") for w in weights)
        xs = tuple(_lift(x, "net") for x in inputs)
        if bias is None:
            return Value._apply(NET, *ws, *xs)
        return Value._apply(NET, *ws, *xs, _lift(bias, "net"))

    # --- the chain rule ---
    def backward(self) -> None:
        """Set d self/d self = 1 and push gradients back in reverse topological order.

        Leaves ADD this pass's gradient to what they hold (as in PyTorch); interior
        nodes hold the gradient of this pass only.
        """
        if self._op is None:
            self.grad += 1.0
            return
        order, kept = _backward_order(self)
        self.grad = 1.0
        try:
            for v in reversed(order):
                op = v._op
                g = v.grad
                prev = v._prev
                # fast paths: the local rules of net, *, +, tanh, relu, sigmoid, - and sum, inlined
                # (same products, same order)
                if op is NET:
                    if not g:  # g = ±0: skipped if every partial is finite (see 'Skipping a net')
                        s = 0.0
                        for c in prev:  # (a loop reads slots faster than map(attrgetter))
                            s += c.data
                        if s - s == 0.0:
                            continue
                    n = len(prev) >> 1
                    for w, x in zip(prev[:n], prev[n:2 * n]):
                        w.grad += g * x.data
                        x.grad += g * w.data
                    if len(prev) & 1:
                        prev[-1].grad += g
                elif op is MUL:
                    a, b = prev
                    a.grad += g * b.data
                    b.grad += g * a.data
                elif op is ADD:
                    a, b = prev
                    a.grad += g
                    b.grad += g
                elif op is TANH:
                    o = v.data
                    prev[0].grad += g * (1.0 - o * o)
                elif op is RELU:
                    c = prev[0]
                    if c.data <= 0:
                        c.grad += g * 0.0
                    else:
                        c.grad += g
                elif op is SIGMOID:
                    o = v.data
                    prev[0].grad += g * (o * (1.0 - o))
                elif op is SUB:
                    a, b = prev
                    a.grad += g
                    b.grad -= g
                elif op is SUM:
                    for c in prev:
                        c.grad += g
                elif len(prev) == 1:  # exp, log, neg, x ** k: the rule, checked as _local_floats does
                    c = prev[0]
                    try:
                        p = op.local(c.data, v.data)[0]
                    except OverflowError:
                        p = math.inf
                    if p - p:  # inf or NaN: let _local_floats name an overflow (or pass the user's inf/NaN)
                        p = _local_floats(v)[0]
                    c.grad += g * p
                else:
                    for c, p in zip(prev, _local_floats(v)):
                        c.grad += g * p
        except BaseException:
            _restore_leaves(self, kept)  # a failed pass leaves the leaves' gradients as they were
            raise
        for v, old in kept:
            v.grad = old + v.grad


_new = object.__new__

# Skipping a net whose gradient is ±0: it would add g·x_i and g·w_i to its inputs'
# gradients, which is ±0.0 when every x_i, w_i is finite (the sum of their data is finite only then; an
# overflowing sum just means no skip), and x + ±0.0 == x bit for bit unless x is -0.0 -- which a gradient
# never is in a pass: it starts at +0.0 and only adds (or subtracts), and +0.0 + -0.0, x + -x are +0.0.
# With an inf or NaN input, 0·inf = NaN must reach the gradients, so there is no skip.


def _node(op: Op | None, data: float, prev: tuple[Value, ...], label: str = "") -> Value:
    """A new Value holding `data`, made by `op` from `prev` (no checks: the fast path for building nodes)."""
    if data - data and op is not None:  # inf or NaN (x - x is 0.0 exactly for every finite x)
        _refuse_overflow(op, data, prev)
    out = _new(Value)
    out.data = data
    out.grad = 0.0
    if label:
        out._label = label
    out._op = op
    out._prev = prev
    return out


def _refuse_overflow(op: Op, data: float, prev: tuple[Value, ...]) -> None:
    """An op that turns finite inputs into inf (a float overflow) is an error, never a silent inf/NaN.

    Inputs that are already inf or NaN (put there by the user) propagate as in IEEE arithmetic.
    """
    if all(math.isfinite(v.data) for v in prev) and math.isfinite(getattr(op, "exponent", 0.0)):
        shown = ", ".join(_fmt(v.data) for v in prev[:4]) + (", ..." if len(prev) > 4 else "")
        raise OverflowError(f"{op.name}: the result {_fmt(data)} overflows a float (inputs {shown})")


def _local_floats(v: Value) -> Sequence[float]:
    """∂v/∂input for each input of v, as floats; one that overflows from finite data is an OverflowError.

    (1/x at x = 1e-200 has the finite value -1e200 but the derivative -1e400: never a silent inf.)  The
    exception: the derivative with respect to a number written in the expression (x / 1e-200: a constant
    leaf, whose gradient only it holds and nobody asks for; PyTorch computes none) is left ±inf.
    """
    op, data = v._op, [c.data for c in v._prev]
    try:
        partials = op.local(*data, v.data)
    except OverflowError:
        partials = None
    if partials is None or not all(math.isfinite(p) or _is_constant(c) for p, c in zip(partials, v._prev)):
        if all(map(math.isfinite, data)) and math.isfinite(v.data) and math.isfinite(getattr(op, "exponent", 0.0)):
            shown = ", ".join(_fmt(x) for x in data[:4]) + (", ..." if len(data) > 4 else "")
            raise OverflowError(f"{op.name}: a local derivative overflows a float at inputs {shown} "
                                f"(output {_fmt(v.data)})") from None
    return partials


def _is_constant(v: Value) -> bool:
    """A leaf made from a number in an expression (`x * 2`): built without a label, unlike `Value(...)`."""
    return v._op is None and not hasattr(v, "_label")


def _lift(x: Any, op: str) -> Value:
    """x as a Value: Values pass through, numbers become unlabelled leaves (others: TypeError naming `op`)."""
    if type(x) is float:
        return _node(None, x, ())
    if isinstance(x, Value):
        return x
    return _node(None, _check_number(x, op), ())


def _backward_order(root: Value) -> tuple[list[Value], list[tuple[Value, float]]]:
    """Root's interior nodes, inputs before their users (as in topological_order), and the leaves to restore.

    Every node reached gets grad 0.0 for this pass.  Instead of a set of visited
    nodes, a visited node's grad is `mark`, a float object made for this pass: it
    equals 0.0, and no node can hold that very object from before.  Leaves are not
    in the order (backward has nothing to do at a leaf); a leaf that held a nonzero
    grad is returned with it, so that backward adds this pass's gradient to it.

    The depth-first search keeps one flat list as its stack -- a node, then None
    once it is expanded, then its unvisited inputs, last first -- so that it
    allocates no object per node (a 10^6-deep chain makes no work for the garbage
    collector).  A node is marked when it is expanded, and a node found marked
    when popped is skipped: the order is exactly topological_order's.
    """
    mark = float(0)  # a new object on each call (not the constant 0.0)
    order: list[Value] = []
    kept: list[tuple[Value, float]] = []
    stack: list[Value | None] = [root]
    push, pop = stack.append, stack.pop
    try:
        while stack:
            v = pop()
            if v is None:  # all of the node below's inputs are done
                order.append(pop())
            elif v.grad is not mark:
                v.grad = mark
                push(v)
                push(None)
                for c in reversed(v._prev):
                    if c.grad is not mark:
                        if c._op is None:
                            if c.grad:
                                kept.append((c, c.grad))
                            c.grad = mark
                        else:
                            push(c)
    except BaseException:  # interrupted (Ctrl-C) while ordering: the leaves get back what they held
        for c, old in kept:
            c.grad = old
        raise
    return order, kept


def _restore_leaves(root: Value, kept: list[tuple[Value, float]]) -> None:
    """Undo a failed backward pass on the leaves: 0 everywhere, then what they held before."""
    for v in topological_order(root):
        if v._op is None:
            v.grad = 0.0
    for v, old in kept:
        v.grad = old


def topological_order(root: Value) -> list[Value]:
    """Every node of root's graph, inputs before the nodes that use them (iterative)."""
    order: list[Value] = []
    seen = {root}
    stack = [(root, iter(root._prev))]
    while stack:
        node, it = stack[-1]
        for child in it:
            if child not in seen:
                seen.add(child)
                stack.append((child, iter(child._prev)))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def grad(output: Value, inputs: Sequence[Value], create_graph: bool = False) -> list[Value]:
    """d output / d input for each input, leaving every `.grad` untouched.

    With create_graph=True the results are Values in a new graph built from the
    same local rules, so they can be differentiated again.  An input that does
    not reach `output` gets 0.
    """
    if not isinstance(output, Value):
        raise TypeError(f"grad: output must be a Value, got {type(output).__name__}")
    inputs = list(inputs)  # read twice below (a generator would give [] the second time)
    for i, x in enumerate(inputs):
        if not isinstance(x, Value):
            raise TypeError(f"grad: inputs[{i}] must be a Value, got {type(x).__name__}")
    grads: dict[Value, Any] = {output: 1.0}
    for v in reversed(topological_order(output)):
        op = v._op
        g = grads.get(v)
        if op is None or g is None:
            continue
        prev = v._prev
        partials = op.local(*prev, v) if create_graph else _local_floats(v)
        for c, p in zip(prev, partials):
            contrib = g * p
            old = grads.get(c)
            grads[c] = contrib if old is None else old + contrib
    result = []
    for x in inputs:
        g = grads.get(x, 0.0)
        result.append(g if isinstance(g, Value) else Value(g))
    return result
